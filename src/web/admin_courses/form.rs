//! The course form (`/admin/courses/new`, `/admin/courses/{id}/edit`): every field of
//! `POST /api/v1/courses` and any number of sessions, in Europe/London time. Its buttons
//! ("Add another session", "Remove", "Find" a lead) post the whole form and show it again
//! with everything typed kept; saving goes through `app::courses`.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use minijinja::context;
use serde::Deserialize;

use crate::app::courses::{self as courses, Candidate, Choices};
use crate::app::state::AppState;
use crate::auth::MaybeCaller;
use crate::domain::caller::Caller;
use crate::domain::course::CourseStatus;
use crate::domain::school::Phase;
use crate::error::responses::CrossSite;
use crate::error::AppResult;
use crate::store::courses::Course;
use crate::web::{html_not_found, page, see_other, sign_in_first};

use super::fields::{
    changes, keep_session_times, parse, read_form, CourseForm, Intent, SessionForm,
};
use super::{error_views, phase_label, problem, refusal, Problems};

/// People listed when a search for a lead finds several.
const LEAD_MATCHES: i64 = 10;

/// The form's fields, as documented (the form is read by hand: sessions repeat).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CourseFormFields {
    /// The fields of `POST /api/v1/courses`, named as there; `lead_ids`, `priority_ids`,
    /// `staff_group_ids` and `phases` repeat; times are Europe/London (`2027-01-14T09:00`).
    pub title: String,
    /// Sessions as `sessions[0].date` (`2027-01-14`), `sessions[0].start` and
    /// `sessions[0].end` (`09:00`), `sessions[0].venue.name`, `sessions[0].online_url`...;
    /// `sessions[0].id` for a session the course has.
    #[serde(rename = "sessions[0].date")]
    pub session_date: Option<String>,
    /// Words to find a person to lead the course by (name or email).
    pub lead_search: Option<String>,
    /// `save` (the default), `add_session`, `remove-N` (the Nth session, from 0) or
    /// `find_lead`.
    pub action: Option<String>,
}

/// What the form page shows besides the form itself.
struct FormPage<'a> {
    /// The course being edited; none for a new one.
    course: Option<&'a Course>,
    choices: &'a Choices,
    leads: Vec<Candidate>,
    found: Vec<Candidate>,
    searched: bool,
    problems: Problems,
    /// Where the last button asked the page to go on (the new session, the leads...).
    notice: Option<String>,
}

fn render_form(status: StatusCode, form: &CourseForm, fp: FormPage<'_>) -> AppResult<HttpResponse> {
    let (summary, field_errors) = error_views(&fp.problems);
    let action = match fp.course {
        Some(c) => format!("/admin/courses/{}/edit", c.id),
        None => "/admin/courses/new".to_string(),
    };
    let chosen = |v: &Vec<String>, id: &str| v.iter().any(|x| x == id);
    let tick = |items: &[(String, String)], ticked: &Vec<String>| {
        items
            .iter()
            .map(|(id, name)| context! { id => id, name => name, checked => chosen(ticked, id) })
            .collect::<Vec<_>>()
    };
    let phases: Vec<_> = Phase::ALL
        .iter()
        .map(|p| {
            context! {
                id => p.as_str(),
                name => phase_label(*p),
                checked => chosen(&form.phases, p.as_str()),
            }
        })
        .collect();
    let leads: Vec<_> = fp
        .leads
        .iter()
        .map(|c| context! { id => c.id, name => c.name, email => c.email })
        .collect();
    let found: Vec<_> = fp
        .found
        .iter()
        .filter(|c| !form.lead_ids.contains(&c.id))
        .map(|c| context! { id => c.id, name => c.name, email => c.email })
        .collect();
    let booked_notice = fp.course.and_then(|c| {
        (c.status == CourseStatus::Published.as_str() && c.confirmed_count > 0)
            .then_some(c.confirmed_count)
    });
    page(
        status,
        "admin_course_form.html",
        context! {
            signed_in => true,
            course => fp.course.map(|c| context! { id => c.id, title => c.title, status => c.status }),
            action,
            form,
            errors => summary,
            field_errors,
            providers => fp.choices.providers,
            clusters => fp.choices.clusters,
            priorities => tick(&fp.choices.priorities, &form.priority_ids),
            staff_groups => tick(&fp.choices.staff_groups, &form.staff_group_ids),
            phases,
            leads,
            found,
            searched => fp.searched,
            notice => fp.notice,
            booked => booked_notice,
            next_session => form.sessions.len(),
        },
    )
}

/// Finds the person the lead search names: an exact email address or the only match adds
/// them; several matches are listed to tick; none is a problem on the search field.
async fn search_leads(
    state: &AppState,
    caller: &Caller,
    form: &mut CourseForm,
    problems: &mut Problems,
) -> AppResult<(Vec<Candidate>, Option<String>)> {
    let words = form.lead_search.trim().to_string();
    if words.is_empty() {
        problem(
            problems,
            "lead_search",
            "enter a name or email address to find someone",
        );
        return Ok((Vec::new(), None));
    }
    let found = courses::find_people(state, caller, &words, LEAD_MATCHES + 1).await?;
    let exact = found
        .iter()
        .find(|c| c.email.eq_ignore_ascii_case(&words))
        .cloned();
    let one = match (exact, found.len()) {
        (Some(c), _) => Some(c),
        (None, 1) => found.first().cloned(),
        _ => None,
    };
    if let Some(c) = one {
        if !form.lead_ids.contains(&c.id) {
            form.lead_ids.push(c.id.clone());
        }
        form.lead_search.clear();
        return Ok((
            Vec::new(),
            Some(format!("{} is now a lead of this course.", c.name)),
        ));
    }
    if found.is_empty() {
        problem(
            problems,
            "lead_search",
            format!("no one on cpd-hub matches {words:?}"),
        );
    }
    let mut found = found;
    if found.len() > LEAD_MATCHES as usize {
        found.truncate(LEAD_MATCHES as usize);
        problem(
            problems,
            "lead_search",
            format!(
                "more than {LEAD_MATCHES} people match {words:?}: type more of their name, or their email address"
            ),
        );
    }
    Ok((found, None))
}

/// Handles a post of the course form (new course or edit): the buttons that change the form
/// re-render it keeping everything typed; saving goes through the use case, and shows the
/// form again with every problem when the use case refuses.
async fn post_form(
    state: &AppState,
    caller: &Caller,
    course: Option<&Course>,
    body: &[u8],
) -> AppResult<HttpResponse> {
    let choices = courses::choices(state, caller).await?;
    let (mut form, intent) = read_form(body);
    let mut problems = Problems::new();
    let mut found = Vec::new();
    let mut notice = None;
    let mut searched = false;
    match intent {
        Intent::AddSession => {
            // The new session starts as a copy of the last one's place, which is usually
            // where a course's sessions are.
            let last = form.sessions.last().cloned().unwrap_or_default();
            form.sessions.push(SessionForm {
                venue_name: last.venue_name,
                venue_address: last.venue_address,
                venue_postcode: last.venue_postcode,
                online_url: last.online_url,
                ..SessionForm::default()
            });
            notice = Some(format!(
                "Session {} added below. It is saved when you save the course.",
                form.sessions.len()
            ));
        }
        Intent::RemoveSession(n) if n < form.sessions.len() => {
            form.sessions.remove(n);
            notice = Some(format!(
                "Session {} removed. It is removed for good when you save the course.",
                n + 1
            ));
        }
        Intent::RemoveSession(_) => {}
        Intent::FindLead => {
            searched = true;
            let (f, n) = search_leads(state, caller, &mut form, &mut problems).await?;
            found = f;
            notice = n;
        }
        Intent::Save => {
            // A search typed but not run is run first, so no one typed in is lost.
            if !form.lead_search.trim().is_empty() {
                searched = true;
                let (f, n) = search_leads(state, caller, &mut form, &mut problems).await?;
                if !f.is_empty() {
                    problem(
                        &mut problems,
                        "lead_search",
                        "several people match: tick the one you mean",
                    );
                }
                found = f;
                notice = n;
            }
            if problems.is_empty() {
                match save(state, caller, course, &form).await? {
                    Ok(to) => return Ok(see_other(&to)),
                    Err(p) => problems = p,
                }
            }
        }
    }
    let leads = courses::people_named(state, caller, form.lead_ids.clone()).await?;
    let status = if problems.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    render_form(
        status,
        &form,
        FormPage {
            course,
            choices: &choices,
            leads,
            found,
            searched,
            problems,
            notice,
        },
    )
}

/// Saves the form through the use case: where to go next, or the problems to show.
async fn save(
    state: &AppState,
    caller: &Caller,
    course: Option<&Course>,
    form: &CourseForm,
) -> AppResult<Result<String, Problems>> {
    let (plan, links, mut sessions) = match parse(form) {
        Ok(parsed) => parsed,
        Err(p) => return Ok(Err(p)),
    };
    let result = match course {
        None => courses::create_course(state, caller, plan, links)
            .await
            .map(|c| format!("/admin/courses/{}?done=created", c.id)),
        Some(course) => {
            keep_session_times(course, &mut sessions);
            let patch = changes(course, &plan, &links);
            courses::edit_course(state, caller, &course.id, patch, sessions)
                .await
                .map(|e| format!("/admin/courses/{}?done=saved&told={}", e.course.id, e.told))
        }
    };
    match result {
        Ok(to) => Ok(Ok(to)),
        Err(e) => refusal(e).map(Err),
    }
}

/// The form for a new course: every field of `POST /api/v1/courses`, with one session.
#[utoipa::path(tag = "web", responses(
    (status = 200, description = "The new course form", content_type = "text/html", body = String),
    (status = 303, description = "Not signed in: to sign-in"),
    (status = 403, description = "Not an admin", content_type = "text/html", body = String),
))]
#[get("/admin/courses/new")]
pub async fn new_form(state: web::Data<AppState>, caller: MaybeCaller) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    let choices = courses::choices(&state, &caller).await?;
    render_form(
        StatusCode::OK,
        &CourseForm::blank(),
        FormPage {
            course: None,
            choices: &choices,
            leads: Vec::new(),
            found: Vec::new(),
            searched: false,
            problems: Problems::new(),
            notice: None,
        },
    )
}

/// Creates the course as a draft (`app::courses::create_course`), then shows its page; or
/// re-renders the form for "Add another session", "Remove" and "Find" (a lead), keeping
/// everything typed, and for mistakes, with an error summary.
#[utoipa::path(tag = "web",
    request_body(content = CourseFormFields, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Created: to the course's admin page"),
        (status = 200, description = "The form again, changed as a button asked", content_type = "text/html", body = String),
        (status = 422, description = "The form again, with every problem", content_type = "text/html", body = String),
        CrossSite,
))]
#[post("/admin/courses/new")]
pub async fn create(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    body: web::Bytes,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    post_form(&state, &caller, None, &body).await
}

/// The form for changing a course and its sessions.
#[utoipa::path(tag = "web", params(("id" = String, Path, description = "The course")), responses(
    (status = 200, description = "The course form", content_type = "text/html", body = String),
    (status = 303, description = "Not signed in: to sign-in"),
    (status = 403, description = "Not an admin", content_type = "text/html", body = String),
    (status = 404, description = "No such course", content_type = "text/html", body = String),
))]
#[get("/admin/courses/{id}/edit")]
pub async fn edit_form(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    html_not_found(
        async {
            let (course, _) = courses::admin_course(&state, &caller, &id).await?;
            if course.status == CourseStatus::Cancelled.as_str() {
                return Ok(see_other(&format!("/admin/courses/{}", course.id)));
            }
            let choices = courses::choices(&state, &caller).await?;
            let form = CourseForm::of(&course);
            let leads = courses::people_named(&state, &caller, form.lead_ids.clone()).await?;
            render_form(
                StatusCode::OK,
                &form,
                FormPage {
                    course: Some(&course),
                    choices: &choices,
                    leads,
                    found: Vec::new(),
                    searched: false,
                    problems: Problems::new(),
                    notice: None,
                },
            )
        }
        .await,
    )
}

/// Saves a course and its sessions at once (`app::courses::edit_course`): sessions left out
/// are removed, people holding a place on a published course are sent one updated calendar
/// entry; or re-renders the form as [`create`] does.
#[utoipa::path(tag = "web", params(("id" = String, Path, description = "The course")),
    request_body(content = CourseFormFields, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Saved: to the course's admin page"),
        (status = 200, description = "The form again, changed as a button asked", content_type = "text/html", body = String),
        (status = 404, description = "No such course", content_type = "text/html", body = String),
        (status = 422, description = "The form again, with every problem", content_type = "text/html", body = String),
        CrossSite,
))]
#[post("/admin/courses/{id}/edit")]
pub async fn update(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    id: web::Path<String>,
    body: web::Bytes,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    html_not_found(
        async {
            let (course, _) = courses::admin_course(&state, &caller, &id).await?;
            post_form(&state, &caller, Some(&course), &body).await
        }
        .await,
    )
}

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(new_form)
        .service(create)
        .service(edit_form)
        .service(update);
}
