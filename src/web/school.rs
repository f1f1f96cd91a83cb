//! The school view (`/school`) for a school's CPD lead (and admins, choosing a school): the
//! booking requests waiting for approval, oldest first and overdue ones marked, decided one at
//! a time or many at once; the school's staff with their bookings to come, and a way to book
//! a colleague. Decisions go through the same use case as `POST /api/v1/bookings/approve` and
//! `/decline` (`app::bookings::decide`), all or none.

use std::collections::BTreeSet;

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use minijinja::context;
use serde::Deserialize;

use crate::app::bookings::{self as bookings, Decision};
use crate::app::school::{self, SchoolView};
use crate::app::state::AppState;
use crate::auth::MaybeCaller;
use crate::domain::booking::BookingStatus;
use crate::domain::caller::Caller;
use crate::domain::course::london_start_display;
use crate::domain::time;
use crate::error::{AppError, AppResult};

use super::{page, see_other, sign_in_first};

/// `/school`'s query: the school an admin chose (or words to find one), and what the last
/// form did.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SchoolQuery {
    /// An admin's chosen school.
    pub school: Option<String>,
    /// An admin looking for a school: words of its name, or its URN.
    pub q: Option<String>,
    /// `approved` or `declined` after deciding requests.
    pub done: Option<String>,
    /// How many requests were decided.
    pub n: Option<u32>,
}

/// A form's mistakes, each with the field it is about.
type Errors = Vec<(&'static str, String)>;

fn status_label(status: BookingStatus, position: Option<i64>) -> String {
    match status {
        BookingStatus::Confirmed => "Place confirmed".to_string(),
        BookingStatus::Waitlisted => format!("Waiting list, number {}", position.unwrap_or(1)),
        BookingStatus::PendingApproval => "Waiting for approval".to_string(),
        BookingStatus::Cancelled => "Cancelled".to_string(),
        BookingStatus::Declined => "Declined".to_string(),
    }
}

/// The school page: the view, with the bulk form's mistakes and choices when it is shown again.
fn render(
    status: StatusCode,
    view: SchoolView,
    admin: bool,
    done: Option<(&str, u32)>,
    errors: &Errors,
    chosen: &BTreeSet<String>,
    reason: &str,
) -> AppResult<HttpResponse> {
    let school_query = if admin {
        format!("?school={}", view.school.id)
    } else {
        String::new()
    };
    let waiting: Vec<_> = view
        .waiting
        .iter()
        .map(|w| {
            let b = &w.booking;
            context! {
                id => b.id,
                person => b.person_name,
                course_id => b.course_id,
                course_title => b.course_title,
                requested => london_start_display(b.requested_at),
                overdue => w.overdue,
                checked => chosen.contains(&b.id),
            }
        })
        .collect();
    let staff: Vec<_> = view
        .staff
        .iter()
        .map(|m| {
            context! {
                id => m.person.id,
                name => m.person.name,
                staff_group => m.person.staff_group.as_ref().map(|g| g.name.clone()),
                upcoming => m.upcoming.iter().map(|(b, start)| context! {
                    course_id => b.course_id,
                    course_title => b.course_title,
                    when => start.map(london_start_display),
                    status => status_label(b.status, b.waitlist_position),
                }).collect::<Vec<_>>(),
            }
        })
        .collect();
    let done = done.map(|(what, n)| {
        let requests = if n == 1 { "request" } else { "requests" };
        format!("You {what} {n} {requests}. The people asking have been told by email.")
    });
    page(
        status,
        "school.html",
        context! {
            signed_in => true,
            school => context! { id => view.school.id, name => view.school.name },
            admin,
            school_query,
            waiting,
            staff,
            done,
            errors => errors.iter().map(|(f, m)| context! { field => f, message => m }).collect::<Vec<_>>(),
            reason,
            report => if admin { "/reports".to_string() } else { "/reports/school".to_string() },
        },
    )
}

/// The page of the school the caller looks after, or (an admin who has not chosen) the
/// page for choosing one.
async fn school_page(
    state: &AppState,
    caller: &Caller,
    query: &SchoolQuery,
) -> AppResult<HttpResponse> {
    let chosen = query
        .school
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let Some(school_id) = school::school_of_caller(caller, chosen)? else {
        if !caller.is_admin() {
            // A school lead with no school on their record.
            return Err(AppError::NotFound);
        }
        let q = query.q.clone().unwrap_or_default();
        let found = if q.trim().is_empty() {
            Vec::new()
        } else {
            school::find_schools(state, caller, &q).await?
        };
        let schools: Vec<_> = found
            .into_iter()
            .map(|s| context! { id => s.id, name => s.name, urn => s.urn })
            .collect();
        return page(
            StatusCode::OK,
            "school_choose.html",
            context! { signed_in => true, q, searched => !query.q.clone().unwrap_or_default().trim().is_empty(), schools },
        );
    };
    let view = school::overview(state, caller, &school_id, time::now()).await?;
    let done = match (query.done.as_deref(), query.n) {
        (Some("approved"), Some(n)) => Some(("approved", n)),
        (Some("declined"), Some(n)) => Some(("declined", n)),
        _ => None,
    };
    render(
        StatusCode::OK,
        view,
        caller.is_admin(),
        done,
        &Vec::new(),
        &BTreeSet::new(),
        "",
    )
}

/// A school's requests waiting for approval and its staff's bookings, for its CPD lead (an
/// admin chooses the school).
#[utoipa::path(tag = "web", params(SchoolQuery), responses(
    (status = 200, description = "The school view", content_type = "text/html", body = String),
    (status = 303, description = "Not signed in: to sign-in"),
    (status = 403, description = "Not a school lead or admin", content_type = "text/html", body = String),
))]
#[get("/school")]
pub async fn school_view(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    query: web::Query<SchoolQuery>,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    school_page(&state, &caller, &query).await
}

/// The bulk decision form, read by hand: one `booking_id` per ticked request.
#[derive(Debug, Default)]
struct DecisionForm {
    booking_ids: Vec<String>,
    decision: String,
    reason: String,
    school: String,
}

fn read_form(body: &[u8]) -> DecisionForm {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let mut form = DecisionForm::default();
    for (k, v) in pairs {
        match k.as_str() {
            "booking_id" => form.booking_ids.push(v),
            "decision" => form.decision = v,
            "reason" => form.reason = v,
            "school" => form.school = v,
            _ => {}
        }
    }
    form
}

/// The bulk decision form's fields, as documented.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct DecisionFields {
    /// One per request decided (repeat the field).
    pub booking_id: Vec<String>,
    /// `approve` or `decline`.
    pub decision: String,
    /// Why, when declining (1 to 1000 characters); the people asking are told it.
    pub reason: Option<String>,
    /// An admin's chosen school.
    pub school: Option<String>,
}

/// Approves or declines the ticked requests, all or none, then shows the school page saying
/// how many (post/redirect/get); mistakes show the page again with an error summary.
#[utoipa::path(tag = "web",
    request_body(content = DecisionFields, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "To the school page, which says what was decided"),
        (status = 422, description = "Nothing ticked, or a decline without a reason", content_type = "text/html", body = String),
        crate::error::responses::CrossSite,
))]
#[post("/school/decisions")]
pub async fn decide(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    body: web::Bytes,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    let form = read_form(&body);
    let chosen = Some(form.school.trim()).filter(|s| !s.is_empty());
    let Some(school_id) = school::school_of_caller(&caller, chosen)? else {
        return Ok(see_other("/school"));
    };
    let reason = form.reason.trim().to_string();
    let mut errors: Errors = Vec::new();
    let ids: Vec<String> = form
        .booking_ids
        .iter()
        .map(|i| i.trim().to_string())
        .filter(|i| !i.is_empty())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if ids.is_empty() {
        errors.push((
            "requests",
            "Tick at least one request to approve or decline".to_string(),
        ));
    }
    let decision = match form.decision.as_str() {
        "approve" => Some(Decision::Approve(None)),
        "decline" if reason.is_empty() => {
            errors.push((
                "reason",
                "Say why you are declining: the people asking are told".to_string(),
            ));
            None
        }
        "decline" if reason.chars().count() > 1000 => {
            errors.push((
                "reason",
                "The reason must be 1000 characters or fewer".to_string(),
            ));
            None
        }
        "decline" => Some(Decision::Decline(Some(reason.clone()))),
        _ => {
            errors.push(("decision", "Choose approve or decline".to_string()));
            None
        }
    };
    let back = |done: &str, n: usize| {
        let school = if caller.is_admin() {
            format!("&school={school_id}")
        } else {
            String::new()
        };
        see_other(&format!("/school?done={done}&n={n}{school}#decided"))
    };
    if let (Some(decision), true) = (decision.clone(), errors.is_empty()) {
        let what = if matches!(decision, Decision::Approve(_)) {
            "approved"
        } else {
            "declined"
        };
        match bookings::decide(&state, &caller, ids.clone(), decision, time::now()).await {
            Ok(done) => return Ok(back(what, done.len())),
            // Someone decided one of them first (or it was withdrawn): nothing was changed.
            Err(AppError::Conflict { .. }) => errors.push((
                "requests",
                "One of the ticked requests has been decided or withdrawn since this page was \
                 loaded, so none was changed. Check the list and try again."
                    .to_string(),
            )),
            Err(e) => return Err(e),
        }
    }
    let view = school::overview(&state, &caller, &school_id, time::now()).await?;
    let ticked: BTreeSet<String> = ids.into_iter().collect();
    render(
        StatusCode::UNPROCESSABLE_ENTITY,
        view,
        caller.is_admin(),
        None,
        &errors,
        &ticked,
        &reason,
    )
}

/// Registers the school pages.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(school_view).service(decide);
}
