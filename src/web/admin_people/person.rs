//! One person for an admin (`/admin/people/{id}`): their details, newest bookings and CPD
//! record; the download of everything held about them (the same JSON as
//! `GET /api/v1/people/{id}/export`, audit-logged the same way); and erasing them after a
//! page that says plainly what is removed and what stays.

use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpResponse};
use minijinja::context;
use serde::Deserialize;

use crate::app::people::{self as people, PersonFile};
use crate::app::state::AppState;
use crate::auth::MaybeCaller;
use crate::domain::booking::BookingStatus;
use crate::domain::caller::Caller;
use crate::domain::course::london_start_display;
use crate::domain::time;
use crate::error::responses::CrossSite;
use crate::error::{AppError, AppResult};
use crate::web::{html_not_found, page, see_other, sign_in_first};

use super::{error_views, refusal, roles_text, Problems};

/// What the person's page says happened.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct DoneParams {
    /// `created` or `saved`.
    pub done: Option<String>,
}

fn done_text(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "created" => Some("Person added. They can sign in with their email address."),
        "saved" => Some("Changes saved."),
        _ => None,
    }
}

fn booking_status(status: BookingStatus) -> &'static str {
    match status {
        BookingStatus::PendingApproval => "Waiting for approval",
        BookingStatus::Confirmed => "Place confirmed",
        BookingStatus::Waitlisted => "Waiting list",
        BookingStatus::Cancelled => "Cancelled",
        BookingStatus::Declined => "Declined",
    }
}

fn plural(n: i64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// Hours as people read them: "1.5 hours", "1 hour".
fn hours(h: f64) -> String {
    if (h - 1.0).abs() < f64::EPSILON {
        "1 hour".to_string()
    } else {
        format!("{h} hours")
    }
}

/// The person's details and counts as the page and the erase confirmation show them.
fn person_view(f: &PersonFile) -> minijinja::Value {
    let p = &f.person;
    let bookings: Vec<_> = f
        .bookings
        .iter()
        .map(|b| {
            context! {
                id => b.id,
                course_id => b.course_id,
                course => b.course_title,
                status => booking_status(b.status),
                requested => london_start_display(b.requested_at),
                walk_in => b.walk_in,
            }
        })
        .collect();
    let t = &f.record.totals;
    context! {
        id => p.id,
        name => p.name,
        email => p.email,
        school => p.school.as_ref().map(|s| s.name.clone()),
        staff_group => p.staff_group.as_ref().map(|g| g.name.clone()),
        roles => roles_text(&p.roles),
        since => london_start_display(p.created_at),
        bookings,
        bookings_total => f.bookings_total,
        bookings_text => plural(f.bookings_total, "booking", "bookings"),
        record => context! {
            hours => hours(t.hours_attended),
            sessions => t.sessions_attended,
            courses => t.courses,
            completed => t.courses_completed,
        },
    }
}

/// A person's admin page: their details, newest bookings and CPD record, and what an admin
/// may do next (change, download their data, erase).
#[utoipa::path(tag = "web", params(("id" = String, Path, description = "The person"), DoneParams), responses(
    (status = 200, description = "The person's admin page", content_type = "text/html", body = String),
    (status = 303, description = "Not signed in: to sign-in"),
    (status = 403, description = "Not an admin", content_type = "text/html", body = String),
    (status = 404, description = "No such person, or erased", content_type = "text/html", body = String),
))]
#[get("/admin/people/{id}")]
pub async fn show(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    id: web::Path<String>,
    done: web::Query<DoneParams>,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    html_not_found(
        async {
            let file = people::person_file(&state, &caller, &id, time::now()).await?;
            page(
                StatusCode::OK,
                "admin_person.html",
                context! {
                    signed_in => true,
                    done => done_text(done.done.as_deref()),
                    person => person_view(&file),
                    recent => people::RECENT_BOOKINGS,
                },
            )
        }
        .await,
    )
}

/// Downloads everything cpd-hub holds about the person, as `GET /api/v1/people/{id}/export`
/// gives it (`app::people::export`, which records the export in the audit log).
#[utoipa::path(tag = "web", params(("id" = String, Path, description = "The person")), responses(
    (status = 200, description = "The person's data, as a JSON file to save", content_type = "application/json", body = String),
    (status = 303, description = "Not signed in: to sign-in"),
    (status = 403, description = "Not an admin", content_type = "text/html", body = String),
    (status = 404, description = "No such person", content_type = "text/html", body = String),
))]
#[get("/admin/people/{id}/export")]
pub async fn export(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    html_not_found(
        async {
            people::require_manage(&caller)?;
            let data = people::export(&state, &caller, &id).await?;
            // The store value's own serde shape is the API's JSON (`api::views::export`
            // mirrors it field for field).
            let body = serde_json::to_vec(&data).map_err(|e| AppError::Internal(e.into()))?;
            Ok(HttpResponse::Ok()
                .content_type("application/json")
                .insert_header((
                    header::CONTENT_DISPOSITION,
                    format!(
                        "attachment; filename=\"cpd-hub-person-{}.json\"",
                        data.person.id
                    ),
                ))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .body(body))
        }
        .await,
    )
}

async fn erase_page(
    state: &AppState,
    caller: &Caller,
    id: &str,
    problems: Problems,
) -> AppResult<HttpResponse> {
    let file = people::person_file(state, caller, id, time::now()).await?;
    let (summary, _) = error_views(&problems);
    page(
        if summary.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        },
        "admin_person_erase.html",
        context! {
            signed_in => true,
            errors => summary,
            person => person_view(&file),
        },
    )
}

/// The confirmation before erasing a person: what is removed, and what stays (anonymous
/// counts, so past reports do not change).
#[utoipa::path(tag = "web", params(("id" = String, Path, description = "The person")), responses(
    (status = 200, description = "The confirmation page", content_type = "text/html", body = String),
    (status = 303, description = "Not signed in: to sign-in"),
    (status = 403, description = "Not an admin", content_type = "text/html", body = String),
    (status = 404, description = "No such person, or erased already", content_type = "text/html", body = String),
))]
#[get("/admin/people/{id}/erase")]
pub async fn erase_form(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    html_not_found(erase_page(&state, &caller, &id, Problems::new()).await)
}

/// Erases the person (`app::people::erase`, as `DELETE /api/v1/people/{id}`, with the same
/// `person.erase` audit entry), then says it is done on the people list.
#[utoipa::path(tag = "web", params(("id" = String, Path, description = "The person")), responses(
    (status = 303, description = "Erased: to the people list, which says so"),
    (status = 403, description = "Not an admin", content_type = "text/html", body = String),
    (status = 404, description = "No such person, or erased already", content_type = "text/html", body = String),
    (status = 422, description = "The only admin: the confirmation page again, saying why", content_type = "text/html", body = String),
    CrossSite,
))]
#[post("/admin/people/{id}/erase")]
pub async fn erase(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    html_not_found(
        async {
            people::require_manage(&caller)?;
            match people::erase(&state, &caller, &id).await {
                Ok(()) => Ok(see_other("/admin/people?done=erased")),
                Err(e) => {
                    let problems = refusal(e)?;
                    erase_page(&state, &caller, &id, problems).await
                }
            }
        }
        .await,
    )
}

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(show)
        .service(export)
        .service(erase_form)
        .service(erase);
}
