//! One course for an admin (`/admin/courses/{id}`): its details, sessions and bookings
//! counted; publishing; and cancelling with a reason after a page that says how many people
//! will be emailed.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use chrono::NaiveDateTime;
use minijinja::context;
use serde::Deserialize;

use crate::app::courses;
use crate::app::state::AppState;
use crate::auth::MaybeCaller;
use crate::domain::caller::Caller;
use crate::domain::course::CourseStatus;
use crate::domain::school::Phase;
use crate::error::responses::CrossSite;
use crate::error::AppResult;
use crate::web::{html_not_found, page, see_other, sign_in_first};

use super::{error_views, phase_label, refusal, status_label, Problems};

/// What the course's admin page says happened.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DoneParams {
    /// `created`, `saved`, `published` or `cancelled`.
    pub done: Option<String>,
    /// People sent an updated calendar entry by the save.
    pub told: Option<u32>,
}

fn plural(n: i64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

fn done_text(done: &DoneParams) -> Option<String> {
    let told = i64::from(done.told.unwrap_or(0));
    Some(match done.done.as_deref()? {
        "created" => "Course created as a draft. Publish it to put it in the calendar.".into(),
        "saved" if told > 0 => format!(
            "Changes saved. {} sent an updated calendar entry by email.",
            plural(told, "person holding a place was", "people holding a place were")
        ),
        "saved" => "Changes saved.".into(),
        "published" => "Course published: it is in the calendar and open for booking.".into(),
        "cancelled" => {
            "Course cancelled. Everyone booked on it has been emailed, and their bookings cancelled."
                .into()
        }
        _ => return None,
    })
}

async fn course_page(
    state: &AppState,
    caller: &Caller,
    id: &str,
    done: Option<String>,
    problems: Problems,
) -> AppResult<HttpResponse> {
    let (course, pending) = courses::admin_course(state, caller, id).await?;
    let (summary, _) = error_views(&problems);
    let leads: Vec<String> = course.leads.iter().map(|l| l.name.clone()).collect();
    let sessions: Vec<_> = course
        .sessions
        .iter()
        .map(|s| {
            context! {
                id => s.id,
                position => s.position,
                display => s.display,
                venue => s.venue.as_ref().map(|v| {
                    [v.name.as_str(), v.address.as_str(), v.postcode.as_str()]
                        .into_iter()
                        .filter(|p| !p.is_empty())
                        .collect::<Vec<_>>()
                        .join(", ")
                }),
                online_url => s.online_url,
                note => s.note,
            }
        })
        .collect();
    let when = |t: Option<NaiveDateTime>| t.map(crate::domain::course::london_start_display);
    page(
        if summary.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        },
        "admin_course.html",
        context! {
            signed_in => true,
            errors => summary,
            done,
            course => context! {
                id => course.id,
                title => course.title,
                status => course.status,
                status_label => status_label(&course.status),
                summary_html => course.summary_html,
                provider => course.provider.name,
                cluster => course.cluster.as_ref().map(|c| c.name.clone()),
                leads,
                priorities => course.priorities.iter().map(|t| t.name.clone()).collect::<Vec<_>>(),
                staff_groups => course.staff_groups.iter().map(|t| t.name.clone()).collect::<Vec<_>>(),
                phases => course.phases.iter().filter_map(|p| Phase::parse(p)).map(phase_label).collect::<Vec<_>>(),
                format => course.format,
                capacity => course.capacity,
                confirmed => course.confirmed_count,
                waiting => course.waitlist_length,
                pending,
                per_school_cap => course.per_school_cap,
                price_pence => course.price_pence,
                booking_opens => when(course.booking_opens),
                booking_closes => when(course.booking_closes),
                cancellation_deadline => when(course.cancellation_deadline),
                requires_approval => course.requires_approval,
                cancel_reason => course.cancel_reason,
                sessions,
            },
        },
    )
}

/// A course's admin page: its details, sessions and bookings counted, and what an admin may
/// do with it next (edit, publish, cancel).
#[utoipa::path(tag = "web", params(("id" = String, Path, description = "The course"), DoneParams), responses(
    (status = 200, description = "The course's admin page", content_type = "text/html", body = String),
    (status = 303, description = "Not signed in: to sign-in"),
    (status = 403, description = "Not an admin", content_type = "text/html", body = String),
    (status = 404, description = "No such course", content_type = "text/html", body = String),
))]
#[get("/admin/courses/{id}")]
pub async fn show(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    id: web::Path<String>,
    done: web::Query<DoneParams>,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    html_not_found(course_page(&state, &caller, &id, done_text(&done), Problems::new()).await)
}

/// Publishes a draft (`app::courses::publish_course`); what stops it is shown on the course's
/// admin page.
#[utoipa::path(tag = "web", params(("id" = String, Path, description = "The course")), responses(
    (status = 303, description = "Published: to the course's admin page"),
    (status = 404, description = "No such course", content_type = "text/html", body = String),
    (status = 422, description = "Not ready or not a draft: the course's page, saying why", content_type = "text/html", body = String),
    CrossSite,
))]
#[post("/admin/courses/{id}/publish")]
pub async fn publish(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    html_not_found(
        async {
            match courses::publish_course(&state, &caller, &id).await {
                Ok(c) => Ok(see_other(&format!(
                    "/admin/courses/{}?done=published",
                    c.id
                ))),
                Err(e) => {
                    let problems = refusal(e)?;
                    course_page(&state, &caller, &id, None, problems).await
                }
            }
        }
        .await,
    )
}

async fn cancel_page(
    state: &AppState,
    caller: &Caller,
    id: &str,
    reason: &str,
    problems: Problems,
) -> AppResult<HttpResponse> {
    let (course, told) = courses::cancellation_preview(state, caller, id).await?;
    if course.status == CourseStatus::Cancelled.as_str() {
        return Ok(see_other(&format!("/admin/courses/{}", course.id)));
    }
    let (summary, field_errors) = error_views(&problems);
    page(
        if summary.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        },
        "admin_course_cancel.html",
        context! {
            signed_in => true,
            errors => summary,
            field_errors,
            course => context! { id => course.id, title => course.title },
            told,
            told_text => plural(told as i64, "person", "people"),
            reason,
        },
    )
}

/// The confirmation before cancelling a course: how many people will be emailed, and the
/// reason to send them.
#[utoipa::path(tag = "web", params(("id" = String, Path, description = "The course")), responses(
    (status = 200, description = "The confirmation page", content_type = "text/html", body = String),
    (status = 303, description = "Not signed in: to sign-in; already cancelled: to the course's admin page"),
    (status = 403, description = "Not an admin", content_type = "text/html", body = String),
    (status = 404, description = "No such course", content_type = "text/html", body = String),
))]
#[get("/admin/courses/{id}/cancel")]
pub async fn cancel_form(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    html_not_found(cancel_page(&state, &caller, &id, "", Problems::new()).await)
}

/// The cancellation form's field.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CancelFields {
    /// Why, 1 to 2,000 characters: it is sent to everyone booked.
    #[serde(default)]
    pub reason: String,
}

/// Cancels the course with the reason (`app::courses::cancel_course`): every booking on it
/// is cancelled and each person emailed.
#[utoipa::path(tag = "web", params(("id" = String, Path, description = "The course")),
    request_body(content = CancelFields, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Cancelled: to the course's admin page"),
        (status = 404, description = "No such course", content_type = "text/html", body = String),
        (status = 422, description = "No reason: the confirmation page again, saying so", content_type = "text/html", body = String),
        CrossSite,
))]
#[post("/admin/courses/{id}/cancel")]
pub async fn cancel(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    id: web::Path<String>,
    form: web::Form<CancelFields>,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    let reason = form.into_inner().reason;
    html_not_found(
        async {
            match courses::cancel_course(&state, &caller, &id, reason.clone()).await {
                Ok(c) => Ok(see_other(&format!(
                    "/admin/courses/{}?done=cancelled",
                    c.id
                ))),
                Err(e) => {
                    let problems = refusal(e)?;
                    cancel_page(&state, &caller, &id, &reason, problems).await
                }
            }
        }
        .await,
    )
}

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(show)
        .service(publish)
        .service(cancel_form)
        .service(cancel);
}
