//! A printable certificate of attendance for a completed course: who, what, when, how many
//! hours (from the sessions actually attended) and who provided it. The figures come from the
//! person's CPD record (`store::attendance::cpd_record`), so the certificate and the record
//! always agree.

use actix_web::http::StatusCode;
use actix_web::{get, web, HttpResponse};
use chrono::TimeZone as _;
use minijinja::context;

use crate::app::policy::{self, Action};
use crate::app::state::AppState;
use crate::auth::MaybeCaller;
use crate::domain::attendance::AttendanceStatus;
use crate::domain::time;
use crate::error::{AppError, AppResult};
use crate::store::attendance as store;

use super::{html_not_found, page, sign_in_first};

/// Hours as people write them: `6`, `6.5`, `6.25`.
pub fn hours_text(hours: f64) -> String {
    let text = format!("{hours:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The certificate of attendance for a booking: for the person, their school's lead and
/// admins (404 for everyone else). A booking whose course is not complete gets a page that
/// says so, with what has been attended so far.
#[utoipa::path(tag = "web",
    params(("booking_id" = String, Path, description = "The booking")),
    responses(
        (status = 200, description = "The certificate, with print styles", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to the sign-in page"),
        (status = 404, description = "No such confirmed booking, or not one the caller may see", content_type = "text/html", body = String),
        (status = 409, description = "The course is not complete (yet): the page says what has been attended", content_type = "text/html", body = String),
))]
#[get("/certificates/{booking_id}")]
pub async fn certificate(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    path: web::Path<String>,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    let booking_id = path.into_inner();
    let loaded = state
        .db(move |conn| {
            let booking = crate::store::bookings::get(conn, &booking_id)?;
            let record = store::cpd_record(conn, &booking.person_id, time::now())?;
            policy::require_visible(
                &caller,
                Action::ReadCpdRecord {
                    person_id: &booking.person_id,
                    school_id: record.school.as_ref().map(|s| s.id.as_str()),
                },
            )?;
            // Only confirmed places are in the record: anything else has no certificate.
            let course = record
                .courses
                .iter()
                .find(|c| c.booking_id == booking_id)
                .cloned()
                .ok_or(AppError::NotFound)?;
            let provider = crate::store::courses::get_course(conn, &course.course_id)?
                .provider
                .name;
            Ok((record, course, provider))
        })
        .await;
    let (record, course, provider) = match loaded {
        Ok(x) => x,
        Err(e) => return html_not_found(Err(e)),
    };
    let attended: Vec<_> = course
        .sessions
        .iter()
        .filter(|s| s.held)
        .map(|s| {
            context! {
                display => s.display,
                status => s.status.map(AttendanceStatus::label).unwrap_or("Not recorded"),
                attended => s.status.is_some_and(AttendanceStatus::attended),
            }
        })
        .collect();
    let first = course.sessions.first().map(|s| s.start);
    let last = course.sessions.last().map(|s| s.end);
    let dates = match (first, last) {
        (Some(a), Some(b)) => {
            let a = crate::domain::time::LONDON
                .from_utc_datetime(&a)
                .date_naive();
            let b = crate::domain::time::LONDON
                .from_utc_datetime(&b)
                .date_naive();
            if a == b {
                a.format("%-d %B %Y").to_string()
            } else {
                format!("{} to {}", a.format("%-d %B %Y"), b.format("%-d %B %Y"))
            }
        }
        _ => String::new(),
    };
    let status = if course.complete {
        StatusCode::OK
    } else {
        StatusCode::CONFLICT
    };
    page(
        status,
        "certificate.html",
        context! {
            signed_in => true,
            complete => course.complete,
            name => record.person.name,
            school => record.school.map(|s| s.name),
            course_title => course.title,
            provider,
            dates,
            sessions => attended,
            sessions_attended => course.sessions_attended,
            sessions_held => course.sessions_held,
            sessions_total => course.sessions_total,
            min_sessions => course.completion_min_sessions,
            hours => hours_text(course.hours_attended),
            issued => crate::domain::time::LONDON
                .from_utc_datetime(&time::now())
                .format("%-d %B %Y")
                .to_string(),
        },
    )
}

/// Registers the certificate page.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(certificate);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_read_as_people_write_them() {
        assert_eq!(hours_text(6.0), "6");
        assert_eq!(hours_text(6.5), "6.5");
        assert_eq!(hours_text(6.25), "6.25");
        assert_eq!(hours_text(0.0), "0");
        assert_eq!(hours_text(10.0), "10");
    }
}
