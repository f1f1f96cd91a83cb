//! A course's bookings for an admin (`/admin/courses/{id}/bookings`): counted by status and
//! listed a page at a time, the waiting list numbered in the order its places are offered;
//! booking a person found by name or email, past the rules if the admin says so; cancelling a
//! booking on someone's behalf with a reason; and each session's register, where walk-ins are
//! added. Booking and cancelling call `app::bookings::book` and `app::bookings::cancel`, the
//! functions behind `POST /api/v1/courses/{id}/bookings` and `POST /api/v1/bookings/{id}/cancel`,
//! so the rules, the history, the audit entries and the emails are the API's.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use minijinja::context;
use serde::Deserialize;

use crate::app::bookings::course::{self as listing, Shown};
use crate::app::bookings::{self as bookings, BookInput};
use crate::app::courses;
use crate::app::state::AppState;
use crate::auth::MaybeCaller;
use crate::domain::booking::BookingStatus;
use crate::domain::caller::Caller;
use crate::domain::course::london_start_display;
use crate::domain::paging::Paging;
use crate::domain::time;
use crate::error::responses::CrossSite;
use crate::error::{AppError, AppResult};
use crate::store::bookings::{Booking, CourseBooking};
use crate::web::{html_not_found, page, page_count, page_number, see_other, sign_in_first};

use super::{problem, status_label, Problems};

/// Bookings on one page of the list: a full page stays under the admin pages' 3,000 px at
/// desktop and tablet widths (20 rows of long addresses reached 3,300 px at 768 px).
const PAGE_SIZE: i64 = 15;

/// People listed when a search finds several.
const MATCHES: i64 = 10;

/// The longest reason a cancellation takes (as `POST /api/v1/bookings/{id}/cancel`).
const REASON_MAX: usize = 1000;

/// The list's choice, page and search, and what the last change did.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct BookingsParams {
    /// `active` (the default: confirmed, pending approval and waiting), `confirmed`,
    /// `waitlisted`, `pending` or `ended` (cancelled or declined).
    pub show: Option<String>,
    /// The page, from 1.
    pub page: Option<String>,
    /// Words to find the person to book by (part of a name or an email address).
    pub q: Option<String>,
    /// `booked` or `cancelled` after a change.
    pub done: Option<String>,
    /// The booking the change made or cancelled.
    pub b: Option<String>,
}

/// The booking form's fields.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct BookFields {
    /// The person to book, as found by the search.
    #[serde(default)]
    pub person_id: String,
    /// The search that found them (shown again with any mistake).
    #[serde(default)]
    pub q: String,
    /// Present (`yes`) to book past the rules: a full, closed or past course, or a school
    /// over its limit.
    #[serde(default, rename = "override")]
    pub override_rules: Option<String>,
}

/// The cancellation form's field.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct CancelBookingFields {
    /// Why, 1 to 1,000 characters: the person is told.
    #[serde(default)]
    pub reason: String,
}

/// A booking's status in words, with its place in the queue.
fn status_text(status: BookingStatus, position: Option<i64>) -> String {
    match status {
        BookingStatus::Confirmed => "Confirmed".into(),
        BookingStatus::Waitlisted => match position {
            Some(n) => format!("Waiting: number {n}"),
            None => "Waiting".into(),
        },
        BookingStatus::PendingApproval => "Waiting for approval".into(),
        BookingStatus::Cancelled => "Cancelled".into(),
        BookingStatus::Declined => "Declined".into(),
    }
}

fn row(b: &CourseBooking) -> minijinja::Value {
    let mut notes = Vec::new();
    if b.walk_in {
        notes.push("walk-in");
    } else if b.admin_override {
        notes.push("booked past the rules");
    }
    if b.late_cancellation {
        notes.push("late cancellation");
    }
    context! {
        id => b.id,
        name => b.person_name,
        email => b.person_email,
        school => b.school_name,
        staff_group => b.staff_group_name,
        status => b.status.as_str(),
        status_text => status_text(b.status, b.waitlist_position),
        position => b.waitlist_position,
        booked_at => london_start_display(b.requested_at),
        cancelled_at => b.cancelled_at.map(london_start_display),
        reason => b.reason,
        notes => notes.join(", "),
        active => b.status.is_active(),
    }
}

/// What the list says the last change did.
async fn done_text(
    state: &AppState,
    caller: &Caller,
    course_id: &str,
    p: &BookingsParams,
) -> AppResult<Option<String>> {
    let (Some(done), Some(id)) = (p.done.as_deref(), p.b.as_deref()) else {
        return Ok(None);
    };
    let b = match listing::course_booking(state, caller, course_id, id).await {
        Ok(b) => b,
        Err(AppError::NotFound) => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(match done {
        "booked" => Some(match b.status {
            BookingStatus::Confirmed => format!(
                "{} has a confirmed place{}. They have been emailed.",
                b.person_name,
                if b.admin_override {
                    ", booked past the rules"
                } else {
                    ""
                }
            ),
            BookingStatus::Waitlisted => format!(
                "{} is on the waiting list at number {}. They have been emailed.",
                b.person_name,
                b.waitlist_position.unwrap_or(0)
            ),
            BookingStatus::PendingApproval => format!(
                "{}'s booking waits for their school lead's approval.",
                b.person_name
            ),
            _ => format!(
                "{}'s booking is {}.",
                b.person_name,
                status_text(b.status, None).to_lowercase()
            ),
        }),
        "cancelled" => Some(format!(
            "{}'s booking is cancelled and they have been emailed. A place it freed goes to \
             the first person waiting who can take it, who is emailed too.",
            b.person_name
        )),
        _ => None,
    })
}

/// What the booking form shows: the search, the people it found, and what was chosen.
#[derive(Default)]
struct BookForm {
    q: String,
    person_id: String,
    override_rules: bool,
}

#[allow(clippy::too_many_arguments)]
async fn bookings_page(
    state: &AppState,
    caller: &Caller,
    course_id: &str,
    p: &BookingsParams,
    form: BookForm,
    mut problems: Problems,
    done: Option<String>,
) -> AppResult<HttpResponse> {
    let shown = p.show.as_deref().and_then(Shown::parse).unwrap_or_default();
    let page_no = page_number(p.page.as_deref());
    let paging = Paging::new(Some(PAGE_SIZE), Some((page_no - 1) * PAGE_SIZE))
        .map_err(|(f, m)| AppError::invalid(f, m))?;
    let listed = listing::course_bookings(state, caller, course_id, shown, paging).await?;

    // The people the search finds: one is chosen at once; none is a problem on the search.
    let mut matches = Vec::new();
    let words = form.q.trim().to_string();
    if !words.is_empty() {
        matches = courses::find_people(state, caller, &words, MATCHES).await?;
        if matches.is_empty() {
            problem(
                &mut problems,
                "q",
                format!("No one's name or email address contains \u{201c}{words}\u{201d}"),
            );
        }
    }
    let chosen = if matches.len() == 1 {
        matches[0].id.clone()
    } else {
        form.person_id.clone()
    };
    let errors: Vec<_> = problems
        .iter()
        .flat_map(|(field, messages)| {
            messages.iter().map(move |m| {
                context! { href => format!("#{}", anchor(field)), text => m.clone() }
            })
        })
        .collect();
    let field_errors: std::collections::BTreeMap<String, String> = problems
        .iter()
        .filter_map(|(f, m)| m.first().map(|m| (anchor(f).to_string(), m.clone())))
        .collect();

    let course = &listed.course;
    let tabs: Vec<_> = Shown::ALL
        .iter()
        .map(|s| {
            context! {
                key => s.key(),
                label => match s {
                    Shown::Active => "Booked or waiting",
                    Shown::Confirmed => "Confirmed",
                    Shown::Waitlisted => "Waiting list",
                    Shown::Pending => "Waiting for approval",
                    Shown::Ended => "Cancelled or declined",
                },
                count => listed.count(*s),
                current => *s == shown,
            }
        })
        .collect();
    let sessions: Vec<_> = course
        .sessions
        .iter()
        .map(|s| context! { id => s.id, position => s.position, display => s.display })
        .collect();
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    page(
        status,
        "admin_course_bookings.html",
        context! {
            signed_in => true,
            errors,
            field_errors,
            done,
            course => context! {
                id => course.id,
                title => course.title,
                status => course.status,
                status_label => status_label(&course.status),
                capacity => course.capacity,
                per_school_cap => course.per_school_cap,
                sessions,
            },
            counts => context! {
                confirmed => listed.count(Shown::Confirmed),
                waiting => listed.count(Shown::Waitlisted),
                pending => listed.count(Shown::Pending),
                ended => listed.count(Shown::Ended),
            },
            tabs,
            shown => shown.key(),
            shown_label => tabs_label(shown),
            rows => listed.page.items.iter().map(row).collect::<Vec<_>>(),
            total => listed.page.total,
            page_no,
            pages => page_count(listed.page.total, PAGE_SIZE),
            q => form.q,
            matches => matches.iter().map(|m| context! {
                id => m.id, name => m.name, email => m.email, chosen => m.id == chosen,
            }).collect::<Vec<_>>(),
            searched => !words.is_empty(),
            override_rules => form.override_rules,
        },
    )
}

fn tabs_label(shown: Shown) -> &'static str {
    match shown {
        Shown::Active => "Booked or waiting",
        Shown::Confirmed => "Confirmed",
        Shown::Waitlisted => "Waiting list",
        Shown::Pending => "Waiting for approval",
        Shown::Ended => "Cancelled or declined",
    }
}

/// The element a booking problem belongs to.
fn anchor(field: &str) -> &'static str {
    match field {
        "q" => "q",
        "person_id" => "person",
        "override" => "override",
        _ => "book",
    }
}

/// A course's bookings: counts by status, the list (the waiting list in the order its places
/// are offered), a form to book someone, and links to each session's register for walk-ins.
#[utoipa::path(tag = "web", params(("id" = String, Path, description = "The course"), BookingsParams), responses(
    (status = 200, description = "The course's bookings", content_type = "text/html", body = String),
    (status = 303, description = "Not signed in: to sign-in"),
    (status = 403, description = "Not an admin", content_type = "text/html", body = String),
    (status = 404, description = "No such course", content_type = "text/html", body = String),
    (status = 422, description = "The search found no one: the page says so", content_type = "text/html", body = String),
))]
#[get("/admin/courses/{id}/bookings")]
pub async fn show(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    id: web::Path<String>,
    params: web::Query<BookingsParams>,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    html_not_found(
        async {
            let done = done_text(&state, &caller, &id, &params).await?;
            let form = BookForm {
                q: params.q.clone().unwrap_or_default(),
                person_id: String::new(),
                override_rules: true,
            };
            bookings_page(&state, &caller, &id, &params, form, Problems::new(), done).await
        }
        .await,
    )
}

/// Books the chosen person onto the course (`app::bookings::book`, past the rules when
/// `override` is ticked, as `POST /api/v1/courses/{id}/bookings` with `"override": true`).
#[utoipa::path(tag = "web", params(("id" = String, Path, description = "The course")),
    request_body(content = BookFields, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Booked: to the course's bookings, saying how"),
        (status = 403, description = "Not an admin", content_type = "text/html", body = String),
        (status = 404, description = "No such course", content_type = "text/html", body = String),
        (status = 422, description = "No one chosen, or the booking was refused: the page says why", content_type = "text/html", body = String),
        CrossSite,
))]
#[post("/admin/courses/{id}/bookings")]
pub async fn book(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    id: web::Path<String>,
    form: web::Form<BookFields>,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    let form = form.into_inner();
    let override_rules = form.override_rules.is_some();
    html_not_found(
        async {
            // Only an admin reaches the rest (404 for a course that is not there).
            listing::course_bookings(
                &state,
                &caller,
                &id,
                Shown::Confirmed,
                Paging::new(Some(1), None).map_err(|(f, m)| AppError::invalid(f, m))?,
            )
            .await?;
            let person_id = form.person_id.trim().to_string();
            let mut problems = Problems::new();
            if person_id.is_empty() {
                let (field, text) = if form.q.trim().is_empty() {
                    (
                        "q",
                        "Enter a name or email address to find the person to book",
                    )
                } else {
                    ("person_id", "Choose the person to book")
                };
                problem(&mut problems, field, text);
            } else {
                let input = BookInput {
                    person_id: Some(person_id.clone()),
                    staff_group_id: None,
                    override_rules,
                    walk_in: false,
                };
                match bookings::book(&state, &caller, &id, input).await {
                    Ok(b) => {
                        return Ok(see_other(&format!(
                            "/admin/courses/{id}/bookings?done=booked&b={}",
                            b.id
                        )))
                    }
                    Err(AppError::Validation(p)) => problems.extend(p),
                    Err(AppError::NotFound) => problem(
                        &mut problems,
                        "person_id",
                        "No such person: find them again",
                    ),
                    Err(AppError::Conflict { code, detail }) => {
                        let field = match code {
                            "already_booked" => "person_id",
                            "course_cancelled" => "book",
                            _ if override_rules => "book",
                            // Refused by a rule an admin may set aside.
                            _ => "override",
                        };
                        problem(&mut problems, field, detail);
                    }
                    Err(e) => return Err(e),
                }
            }
            let params = BookingsParams::default();
            let shown = BookForm {
                q: form.q.clone(),
                person_id,
                override_rules,
            };
            bookings_page(&state, &caller, &id, &params, shown, problems, None).await
        }
        .await,
    )
}

async fn cancel_page(
    state: &AppState,
    caller: &Caller,
    course_id: &str,
    booking: &Booking,
    reason: &str,
    error: Option<(String, String)>,
    status: StatusCode,
) -> AppResult<HttpResponse> {
    let (course, _) = courses::admin_course(state, caller, course_id).await?;
    let errors: Vec<_> = error
        .iter()
        .map(|(href, text)| context! { href, text })
        .collect();
    page(
        status,
        "admin_booking_cancel.html",
        context! {
            signed_in => true,
            errors,
            reason_error => error.as_ref().filter(|(h, _)| h == "#reason").map(|(_, t)| t.clone()),
            course => context! { id => course.id, title => course.title },
            booking => context! {
                id => booking.id,
                name => booking.person_name,
                status => booking.status.as_str(),
                status_text => status_text(booking.status, booking.waitlist_position),
                active => booking.status.is_active(),
                holds_place => booking.status == BookingStatus::Confirmed,
            },
            reason,
        },
    )
}

/// The confirmation before cancelling a booking on someone's behalf: who, and the reason to
/// send them.
#[utoipa::path(tag = "web", params(
        ("id" = String, Path, description = "The course"),
        ("booking_id" = String, Path, description = "A booking of the course")),
    responses(
        (status = 200, description = "The confirmation page", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to sign-in"),
        (status = 403, description = "Not an admin", content_type = "text/html", body = String),
        (status = 404, description = "No such course, or no such booking of it", content_type = "text/html", body = String),
))]
#[get("/admin/courses/{id}/bookings/{booking_id}/cancel")]
pub async fn cancel_form(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    path: web::Path<(String, String)>,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    let (course_id, booking_id) = path.into_inner();
    html_not_found(
        async {
            let b = listing::course_booking(&state, &caller, &course_id, &booking_id).await?;
            cancel_page(&state, &caller, &course_id, &b, "", None, StatusCode::OK).await
        }
        .await,
    )
}

/// Cancels the booking with the reason (`app::bookings::cancel`, as
/// `POST /api/v1/bookings/{id}/cancel`): the person is emailed, and a place it frees goes to
/// the first person waiting who can take it, in the same transaction.
#[utoipa::path(tag = "web", params(
        ("id" = String, Path, description = "The course"),
        ("booking_id" = String, Path, description = "A booking of the course")),
    request_body(content = CancelBookingFields, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Cancelled: to the course's bookings"),
        (status = 403, description = "Not an admin", content_type = "text/html", body = String),
        (status = 404, description = "No such course, or no such booking of it", content_type = "text/html", body = String),
        (status = 409, description = "Already cancelled or declined: the page says so", content_type = "text/html", body = String),
        (status = 422, description = "No reason, or one too long: the page says so", content_type = "text/html", body = String),
        CrossSite,
))]
#[post("/admin/courses/{id}/bookings/{booking_id}/cancel")]
pub async fn cancel(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    path: web::Path<(String, String)>,
    form: web::Form<CancelBookingFields>,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    let (course_id, booking_id) = path.into_inner();
    let reason = form.into_inner().reason;
    html_not_found(
        async {
            let b = listing::course_booking(&state, &caller, &course_id, &booking_id).await?;
            let trimmed = reason.trim();
            let problem_text = if trimmed.is_empty() {
                Some("Enter why the booking is cancelled: the person is told".to_string())
            } else if trimmed.chars().count() > REASON_MAX {
                Some(format!("Enter a reason of at most {REASON_MAX} characters"))
            } else {
                None
            };
            if let Some(text) = problem_text {
                let error = Some(("#reason".to_string(), text));
                return cancel_page(
                    &state,
                    &caller,
                    &course_id,
                    &b,
                    &reason,
                    error,
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await;
            }
            match bookings::cancel(
                &state,
                &caller,
                &booking_id,
                Some(trimmed.to_string()),
                time::now(),
            )
            .await
            {
                Ok(_) => Ok(see_other(&format!(
                    "/admin/courses/{course_id}/bookings?done=cancelled&b={booking_id}"
                ))),
                Err(AppError::Conflict { detail, .. }) => {
                    let b =
                        listing::course_booking(&state, &caller, &course_id, &booking_id).await?;
                    let error = Some(("#main".to_string(), detail));
                    cancel_page(
                        &state,
                        &caller,
                        &course_id,
                        &b,
                        &reason,
                        error,
                        StatusCode::CONFLICT,
                    )
                    .await
                }
                Err(e) => Err(e),
            }
        }
        .await,
    )
}

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(show)
        .service(book)
        .service(cancel_form)
        .service(cancel);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_waiting_list_says_each_place_in_the_queue() {
        assert_eq!(
            status_text(BookingStatus::Waitlisted, Some(2)),
            "Waiting: number 2"
        );
        assert_eq!(status_text(BookingStatus::Confirmed, None), "Confirmed");
        assert_eq!(
            status_text(BookingStatus::PendingApproval, None),
            "Waiting for approval"
        );
    }
}
