//! The pages for the people who book: the CPD calendar (`/courses`), one course and its call
//! to action (`/courses/{id}`), booking from that page, and one's own bookings
//! (`/my/bookings`) with cancelling. Every change goes through the same use cases as the JSON
//! API (`app::bookings`), so a booking made here takes the API's path: its policy, the
//! booking queue, the outbox and the history.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use minijinja::context;
use serde::{Deserialize, Serialize};

use crate::app::bookings::{self as bookings, BookInput};
use crate::app::courses::{self as courses, CourseQuery};
use crate::app::state::AppState;
use crate::auth::MaybeCaller;
use crate::domain::booking::{is_late_cancellation, BookingStatus, CallToAction};
use crate::domain::course::london_start_display;
use crate::domain::time;
use crate::error::responses::CrossSite;
use crate::error::{AppError, AppResult};
use crate::store::bookings::Booking;

use super::{html_not_found, page, page_count, page_number, see_other, sign_in_first};

/// How many courses one calendar page lists.
const PAGE_SIZE: i64 = 20;

/// A course in the calendar list, as the page shows it.
#[derive(Serialize)]
struct ListedCourse<'a> {
    id: &'a str,
    title: &'a str,
    when: &'a str,
    sessions: i32,
    format: &'static str,
    provider: &'a str,
    priorities: Vec<&'a str>,
    availability: String,
    full: bool,
    requires_approval: bool,
}

fn format_label(format: &str) -> &'static str {
    match format {
        "online" => "Online",
        "hybrid" => "In person or online",
        _ => "In person",
    }
}

fn places_text(places_left: i32, waiting: i32) -> String {
    match (places_left, waiting) {
        (0, 0) => "Full: join the waiting list".to_string(),
        (0, n) => format!("Full: {n} on the waiting list"),
        (1, _) => "1 place left".to_string(),
        (n, _) => format!("{n} places left"),
    }
}

/// The calendar's filters as the form shows them back.
#[derive(Serialize, Default)]
struct Filters {
    q: String,
    from: String,
    to: String,
    priority: String,
    staff_group: String,
    format: String,
    phase: String,
    cluster: String,
    has_places: bool,
}

/// The query string of a calendar page, filters and page number.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CalendarParams {
    /// Words that must all appear in the title or summary.
    pub q: Option<String>,
    /// First session on or after this date.
    pub from: Option<String>,
    /// First session on or before this date.
    pub to: Option<String>,
    /// A strategy priority's key.
    pub priority: Option<String>,
    /// A staff group's key.
    pub staff_group: Option<String>,
    /// `in_person`, `online` or `hybrid`.
    pub format: Option<String>,
    /// A school phase (`primary`, `secondary`...): courses for it and for every phase.
    pub phase: Option<String>,
    /// A cluster's id: courses run for that cluster.
    pub cluster: Option<String>,
    /// `true`: only courses with places left.
    pub has_places: Option<String>,
    /// The page, from 1.
    pub page: Option<String>,
    /// A school lead choosing a course for a colleague: the colleague's id.
    #[serde(rename = "for")]
    #[param(rename = "for")]
    pub for_person: Option<String>,
}

/// The colleague a school lead is choosing or booking a course for, as pages name them.
#[derive(Serialize)]
struct ForPerson {
    id: String,
    name: String,
}

/// `?for=`: the colleague the page is for, when it is someone other than the reader (404 when
/// the reader may not book for them).
async fn for_person(
    state: &AppState,
    caller: Option<&crate::domain::caller::Caller>,
    for_id: Option<&str>,
) -> AppResult<Option<ForPerson>> {
    let (Some(caller), Some(id)) = (caller, for_id.map(str::trim).filter(|i| !i.is_empty())) else {
        return Ok(None);
    };
    if id == caller.person_id {
        return Ok(None);
    }
    let person = crate::app::school::colleague(state, caller, id).await?;
    Ok(Some(ForPerson {
        id: person.id,
        name: person.name,
    }))
}

fn blank_to_none(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// A school phase as pages name it: `Primary`, `All through`, `Post-16`.
pub(crate) fn phase_label(p: crate::domain::school::Phase) -> String {
    let words = p.as_str().replace('_', " ");
    match words.as_str() {
        "post 16" => "Post-16".to_string(),
        w => w[..1].to_uppercase() + &w[1..],
    }
}

/// The CPD calendar: published courses by first session, with the API's filters as a form
/// (kept in the query string, so a filtered view can be bookmarked and shared) and paging.
#[utoipa::path(tag = "web", params(CalendarParams), responses(
    (status = 200, description = "The calendar page", content_type = "text/html", body = String),
))]
#[get("/courses")]
pub async fn calendar(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    params: web::Query<CalendarParams>,
) -> AppResult<HttpResponse> {
    let p = params.into_inner();
    let for_person = for_person(&state, caller.0.as_ref(), p.for_person.as_deref()).await?;
    let page_no = page_number(p.page.as_deref());
    let has_places = blank_to_none(&p.has_places).is_some_and(|v| v == "true");
    // A booking calendar starts at today unless the reader asks for another start.
    let today = crate::reports::metrics::london_date(time::now());
    let from = blank_to_none(&p.from).unwrap_or_else(|| today.to_string());
    let query = CourseQuery {
        limit: Some(PAGE_SIZE.to_string()),
        offset: Some(((page_no - 1) * PAGE_SIZE).to_string()),
        from: Some(from.clone()),
        to: blank_to_none(&p.to),
        priority: blank_to_none(&p.priority),
        staff_group: blank_to_none(&p.staff_group),
        format: blank_to_none(&p.format),
        phase: blank_to_none(&p.phase),
        cluster: blank_to_none(&p.cluster),
        q: blank_to_none(&p.q),
        has_places: has_places.then(|| "true".to_string()),
        ..CourseQuery::default()
    };
    let filters = Filters {
        q: p.q.clone().unwrap_or_default(),
        from: p
            .from
            .clone()
            .filter(|f| !f.trim().is_empty())
            .unwrap_or(from),
        to: p.to.clone().unwrap_or_default(),
        priority: p.priority.clone().unwrap_or_default(),
        staff_group: p.staff_group.clone().unwrap_or_default(),
        format: p.format.clone().unwrap_or_default(),
        phase: p.phase.clone().unwrap_or_default(),
        cluster: p.cluster.clone().unwrap_or_default(),
        has_places,
    };
    // The list and the form's choices, both kept under the calendar generation.
    let (found, choices) = courses::calendar_page(&state, caller.0.as_ref(), &query).await?;
    let clusters: Vec<(&str, &str)> = choices
        .clusters
        .iter()
        .map(|c| (c.id.as_str(), c.name.as_str()))
        .collect();
    let phases: Vec<(&str, String)> = crate::domain::school::Phase::ALL
        .iter()
        .filter(|p| **p != crate::domain::school::Phase::Other)
        .map(|p| (p.as_str(), phase_label(*p)))
        .collect();
    let priorities: Vec<(&str, &str)> = choices
        .priorities
        .iter()
        .map(|p| (p.key.as_str(), p.name.as_str()))
        .collect();
    let staff_groups: Vec<(&str, &str)> = choices
        .staff_groups
        .iter()
        .map(|g| (g.key.as_str(), g.name.as_str()))
        .collect();

    let (list, errors) = match found {
        Ok(list) => (Some(list), Vec::new()),
        // A filter that cannot be read is shown beside the form, as the field's error.
        Err(AppError::Validation(problems)) => {
            let errors: Vec<(String, String)> = problems
                .into_iter()
                .flat_map(|(field, ms)| ms.into_iter().map(move |m| (field.clone(), m)))
                .collect();
            (None, errors)
        }
        Err(e) => return Err(e),
    };
    let total = list.as_ref().map_or(0, |l| l.page.total);
    let listed: Vec<ListedCourse> = list
        .iter()
        .flat_map(|l| l.page.items.iter())
        .map(|c| ListedCourse {
            when: c.first_session_display.as_deref().unwrap_or_default(),
            sessions: c.sessions_count,
            format: format_label(&c.format),
            provider: &c.provider.name,
            priorities: c.priorities.iter().map(|t| t.name.as_str()).collect(),
            availability: places_text(c.places_left, c.waitlist_length),
            full: c.places_left == 0,
            requires_approval: c.requires_approval,
            id: &c.id,
            title: &c.title,
        })
        .collect();
    let pages = page_count(total, PAGE_SIZE);
    // The same filters, for the paging links and the calendar subscriptions.
    let mut kept: Vec<(&str, String)> = Vec::new();
    // The start the reader chose, if any: the feed keeps following "from today".
    let chosen_from = p.from.clone().unwrap_or_default();
    for (k, v) in [
        ("q", &filters.q),
        ("from", &chosen_from),
        ("to", &filters.to),
        ("priority", &filters.priority),
        ("staff_group", &filters.staff_group),
        ("format", &filters.format),
        ("phase", &filters.phase),
        ("cluster", &filters.cluster),
    ] {
        if !v.trim().is_empty() {
            kept.push((k, v.trim().to_string()));
        }
    }
    if has_places {
        kept.push(("has_places", "true".to_string()));
    }
    let feed_query = serde_urlencoded::to_string(&kept).unwrap_or_default();
    let base = state.settings.public_base_url.trim_end_matches('/');
    let feed = if feed_query.is_empty() {
        format!("{base}/calendar.ics")
    } else {
        format!("{base}/calendar.ics?{feed_query}")
    };
    // Paging keeps the colleague being booked for; the feed is the calendar's alone.
    if let Some(f) = &for_person {
        kept.push(("for", f.id.clone()));
    }
    let filter_query = serde_urlencoded::to_string(&kept).unwrap_or_default();
    let webcal = feed
        .replacen("https://", "webcal://", 1)
        .replacen("http://", "webcal://", 1);
    page(
        StatusCode::OK,
        "courses.html",
        context! {
            signed_in => caller.0.is_some(),
            courses => listed,
            total,
            page_no,
            pages,
            filters,
            filter_query,
            errors,
            priorities,
            staff_groups,
            phases,
            clusters,
            feed,
            webcal,
            for_person,
        },
    )
}

/// The words of a call to action, for the page.
#[derive(Serialize)]
struct Action {
    kind: &'static str,
    button: Option<String>,
    text: String,
}

fn action_view(action: &CallToAction, late_if_cancelled: bool) -> Action {
    let (kind, button, text) = match action {
        CallToAction::SignIn => ("sign_in", None, "Sign in to book a place.".to_string()),
        CallToAction::Cancelled => (
            "cancelled",
            None,
            "This course has been cancelled.".to_string(),
        ),
        CallToAction::Booked { status, position } => match status {
            BookingStatus::Confirmed => (
                "booked",
                Some("Cancel your place".to_string()),
                if late_if_cancelled {
                    "You have a place. The cancellation deadline has passed: cancelling now \
                     counts as a late cancellation."
                        .to_string()
                } else {
                    "You have a place.".to_string()
                },
            ),
            BookingStatus::Waitlisted => (
                "booked",
                Some("Leave the waiting list".to_string()),
                format!(
                    "You are number {} on the waiting list. We will email you if a place \
                     comes free.",
                    position.unwrap_or(1)
                ),
            ),
            _ => (
                "booked",
                Some("Withdraw your request".to_string()),
                "Your request is waiting for your school lead's approval.".to_string(),
            ),
        },
        CallToAction::OpensOn(t) => (
            "closed",
            None,
            format!("Booking opens on {}.", london_start_display(*t)),
        ),
        CallToAction::Closed => ("closed", None, "Booking has closed.".to_string()),
        CallToAction::Request => (
            "book",
            Some("Request a place".to_string()),
            "Your school lead approves requests for this course; we will email you their \
             answer."
                .to_string(),
        ),
        CallToAction::Book => (
            "book",
            Some("Book a place".to_string()),
            "A place is free. Booking confirms it at once.".to_string(),
        ),
        CallToAction::Waitlist(n) => (
            "book",
            Some(format!("Join the waiting list (position {n})")),
            "The course is full. If a place comes free, the first person waiting gets it and \
             is emailed."
                .to_string(),
        ),
    };
    Action { kind, button, text }
}

/// `?done=`: what the last form did, for the notice at the top of the course page.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DoneQuery {
    /// `booked`, `already` or `cancelled`.
    pub done: Option<String>,
    /// Why a booking was refused: the API's refusal code.
    pub refused: Option<String>,
    /// A school lead booking for a colleague: the colleague's id.
    #[serde(rename = "for")]
    #[param(rename = "for")]
    pub for_person: Option<String>,
}

/// A course and its one call to action.
#[utoipa::path(tag = "web", params(("id" = String, Path, description = "The course"), DoneQuery), responses(
    (status = 200, description = "The course page", content_type = "text/html", body = String),
    (status = 404, description = "No such course, or not one the reader may see", content_type = "text/html", body = String),
))]
#[get("/courses/{id}")]
pub async fn course(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    id: web::Path<String>,
    done: web::Query<DoneQuery>,
) -> AppResult<HttpResponse> {
    let now = time::now();
    let signed_in = caller.0.is_some();
    let result = async {
        let for_person = for_person(&state, caller.0.as_ref(), done.for_person.as_deref()).await?;
        let person = for_person.as_ref().map(|f| f.id.as_str());
        let view = courses::course_page(&state, caller.0.as_ref(), &id, person, now).await?;
        let late = is_late_cancellation(view.course.cancellation_deadline, now);
        let action = action_view(&view.action, late);
        let whose = for_person.as_ref().map(|f| f.name.as_str());
        let notice = match (done.done.as_deref(), view.mine.as_ref()) {
            (Some("booked" | "already"), Some(b)) => Some(booking_notice(b, whose)),
            (Some("cancelled"), _) => Some(match whose {
                Some(name) => format!("{name}'s booking is cancelled."),
                None => "Your booking is cancelled.".to_string(),
            }),
            _ => None,
        };
        let c = &view.course;
        let sessions: Vec<_> = c
            .sessions
            .iter()
            .map(|s| {
                context! {
                    display => s.display,
                    venue => s.venue.as_ref().map(|v| {
                        [v.name.as_str(), v.address.as_str(), v.postcode.as_str()]
                            .iter()
                            .filter(|p| !p.is_empty())
                            .copied()
                            .collect::<Vec<_>>()
                            .join(", ")
                    }),
                    // The joining link only to people with a place.
                    online_url => s.online_url.as_ref().filter(|_| {
                        view.mine.as_ref().is_some_and(|b| b.status == BookingStatus::Confirmed)
                    }),
                    online => s.online_url.is_some(),
                }
            })
            .collect();
        page(
            StatusCode::OK,
            "course.html",
            context! {
                signed_in,
                course => context! {
                    id => c.id,
                    title => c.title,
                    summary_html => c.summary_html,
                    status => c.status,
                    format => format_label(&c.format),
                    provider => c.provider.name,
                    leads => c.leads.iter().map(|l| l.name.clone()).collect::<Vec<_>>(),
                    priorities => c.priorities.iter().map(|t| t.name.clone()).collect::<Vec<_>>(),
                    staff_groups => c.staff_groups.iter().map(|t| t.name.clone()).collect::<Vec<_>>(),
                    phases => c.phases,
                    capacity => c.capacity,
                    availability => places_text(c.places_left, c.waitlist_length),
                    price => if c.price_pence == 0 { "Free".to_string() } else {
                        format!("£{}.{:02} a place", c.price_pence / 100, c.price_pence % 100)
                    },
                    cancellation_deadline => c.cancellation_deadline.map(london_start_display),
                    cancel_reason => c.cancel_reason,
                },
                sessions,
                action,
                booking_id => view.mine.as_ref().map(|b| b.id.clone()),
                notice,
                refused => done.refused.as_deref().map(refusal_text),
                for_person,
                ics => format!("/api/v1/courses/{}/calendar.ics", c.id),
            },
        )
    }
    .await;
    match result {
        // Signed out, a course one may not see (a draft, or a cancelled course one was booked
        // on) may be one's own to see after signing in: the emailed links lead here.
        Err(AppError::NotFound) if !signed_in => Ok(sign_in_first()),
        other => html_not_found(other),
    }
}

/// A booking refusal's code (as the API answers it) in plain words. Only known codes are
/// shown, so a link cannot put words of its own on the page.
fn refusal_text(code: &str) -> &'static str {
    match code {
        "course_cancelled" => "This course has been cancelled.",
        "course_not_published" => "This course is not open for booking yet.",
        "booking_not_open" => "Booking for this course has not opened yet.",
        "booking_closed" => "Booking for this course has closed.",
        "staff_group_not_targeted" => {
            "This course is for other staff groups. Your school lead can book you if it suits you."
        }
        "phase_not_targeted" => "This course is for schools of another phase.",
        _ => "The booking could not be made. Please try again, or ask your school's CPD lead.",
    }
}

/// What a booking came to, for the notice at the top of the course page; `whose` names the
/// colleague a school lead booked for.
fn booking_notice(b: &Booking, whose: Option<&str>) -> String {
    let position = b.waitlist_position.unwrap_or(1);
    match (b.status, whose) {
        (BookingStatus::Confirmed, None) => "Your place is booked. We have emailed you the \
                                             details and a calendar entry."
            .to_string(),
        (BookingStatus::Confirmed, Some(name)) => {
            format!("{name} has a place. We have emailed them the details and a calendar entry.")
        }
        (BookingStatus::Waitlisted, None) => {
            format!("The course is full: you are number {position} on the waiting list.")
        }
        (BookingStatus::Waitlisted, Some(name)) => {
            format!("The course is full: {name} is number {position} on the waiting list.")
        }
        (BookingStatus::PendingApproval, None) => {
            "Your request is with your school lead for approval.".to_string()
        }
        (BookingStatus::PendingApproval, Some(name)) => {
            format!("{name}'s request is waiting for approval.")
        }
        _ => String::new(),
    }
}

/// The booking form: empty when booking for oneself.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct BookForm {
    /// A school lead booking for a colleague: the colleague's id.
    #[serde(default)]
    pub person_id: String,
}

/// Books the signed-in person (or, for a school lead, the colleague named in the form) a place,
/// through the same use case as `POST /api/v1/courses/{id}/bookings`, then shows the course
/// page saying what happened (post/redirect/get). Posting the form twice never books twice:
/// the second post finds the booking the first made.
#[utoipa::path(tag = "web", params(("id" = String, Path, description = "The course")),
    request_body(content = BookForm, content_type = "application/x-www-form-urlencoded"),
    responses(
    (status = 303, description = "To the course page, which says what happened (or to sign-in)"),
    CrossSite,
))]
#[post("/courses/{id}/book")]
pub async fn book(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    id: web::Path<String>,
    form: Option<web::Form<BookForm>>,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    let id = id.into_inner();
    let person_id = form
        .map(|f| f.into_inner().person_id.trim().to_string())
        .filter(|p| !p.is_empty() && *p != caller.person_id);
    // The course page again, for the colleague when booking for one.
    let back = match &person_id {
        Some(p) => format!(
            "/courses/{id}?{}&",
            serde_urlencoded::to_string([("for", p)]).unwrap_or_default()
        ),
        None => format!("/courses/{id}?"),
    };
    let input = BookInput {
        person_id,
        ..BookInput::default()
    };
    match bookings::book(&state, &caller, &id, input).await {
        Ok(_) => Ok(see_other(&format!("{back}done=booked"))),
        Err(AppError::Conflict {
            code: "already_booked",
            ..
        }) => Ok(see_other(&format!("{back}done=already"))),
        Err(AppError::Conflict { code, .. }) => Ok(see_other(&format!("{back}refused={code}"))),
        Err(e) => html_not_found(Err(e)),
    }
}

/// A booking as one's own list shows it.
#[derive(Serialize)]
struct MyBookingRow {
    id: String,
    course_id: String,
    course_title: String,
    when: Option<String>,
    status: &'static str,
    status_label: String,
    active: bool,
    cancel_label: &'static str,
    /// Cancelling now gives up a place after the course's deadline.
    late: bool,
    /// The cancellation deadline, while it is still ahead.
    cancel_by: Option<String>,
    certificate: Option<String>,
    evaluation: Option<String>,
}

/// The signed-in person's bookings: courses to come, then courses done, then the cancelled
/// and declined; with the late-cancellation warning, certificates and evaluations waiting.
#[utoipa::path(tag = "web", responses(
    (status = 200, description = "One's bookings", content_type = "text/html", body = String),
    (status = 303, description = "Not signed in: to sign-in"),
))]
#[get("/my/bookings")]
pub async fn my_bookings(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    done: web::Query<DoneQuery>,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    let now = time::now();
    let mine = courses::my_bookings_with_times(&state, &caller).await?;
    let record = crate::app::record::cpd_record(&state, &caller, &caller.person_id, now).await?;
    let complete: std::collections::HashSet<String> = record
        .courses
        .into_iter()
        .filter(|c| c.complete)
        .map(|c| c.booking_id)
        .collect();
    let waiting: std::collections::HashMap<String, String> =
        crate::app::evaluation::waiting(&state, &caller, now)
            .await?
            .into_iter()
            .map(|e| (e.course_id, e.invitation_id))
            .collect();
    let (mut upcoming, mut past, mut rest) = (Vec::new(), Vec::new(), Vec::new());
    for m in mine {
        let b = m.booking;
        let status_label = match b.status {
            BookingStatus::Waitlisted => {
                format!("Waiting list, number {}", b.waitlist_position.unwrap_or(1))
            }
            BookingStatus::PendingApproval => "Waiting for approval".to_string(),
            BookingStatus::Confirmed => "Place confirmed".to_string(),
            BookingStatus::Cancelled => "Cancelled".to_string(),
            BookingStatus::Declined => "Declined".to_string(),
        };
        let over = m.last_end.is_some_and(|end| end <= now);
        // A wait or a request on a course that is over never came to a place.
        let status_label = if over && b.status.is_active() && b.status != BookingStatus::Confirmed {
            "No place came free".to_string()
        } else {
            status_label
        };
        let confirmed = b.status == BookingStatus::Confirmed;
        let row = MyBookingRow {
            active: b.status.is_active() && !over,
            cancel_label: match b.status {
                BookingStatus::Waitlisted => "Leave the waiting list",
                BookingStatus::PendingApproval => "Withdraw the request",
                _ => "Cancel",
            },
            late: confirmed && is_late_cancellation(m.cancellation_deadline, now),
            cancel_by: m
                .cancellation_deadline
                .filter(|d| confirmed && *d > now)
                .map(london_start_display),
            certificate: complete
                .contains(&b.id)
                .then(|| format!("/certificates/{}", b.id)),
            evaluation: waiting.get(&b.course_id).cloned(),
            when: m.first_start.map(london_start_display),
            status: b.status.as_str(),
            status_label,
            id: b.id,
            course_id: b.course_id,
            course_title: b.course_title,
        };
        if row.active {
            upcoming.push((m.first_start, row));
        } else if b.status == BookingStatus::Confirmed {
            past.push(row);
        } else {
            rest.push(row);
        }
    }
    // Soonest first; the API's order (newest course first) suits the past.
    upcoming.sort_by_key(|(start, _)| *start);
    let upcoming: Vec<MyBookingRow> = upcoming.into_iter().map(|(_, r)| r).collect();
    page(
        StatusCode::OK,
        "my_bookings.html",
        context! {
            signed_in => true,
            active => upcoming,
            past,
            rest,
            cancelled => done.done.as_deref() == Some("cancelled"),
        },
    )
}

/// The cancellation form.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct CancelForm {
    /// Why (optional).
    #[serde(default)]
    pub reason: String,
    /// Where to go afterwards: `course` for the course's page, otherwise one's bookings.
    #[serde(default)]
    pub back: String,
    /// Back to the course page as this colleague sees it (a school lead cancelling for them).
    #[serde(default, rename = "for")]
    pub for_person: String,
}

/// Cancels one of one's bookings through the same use case as
/// `POST /api/v1/bookings/{id}/cancel` (the freed place goes to the first person waiting).
#[utoipa::path(tag = "web", params(("id" = String, Path, description = "The booking")),
    request_body(content = CancelForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "To one's bookings (or the course page)"),
        CrossSite,
        (status = 404, description = "No such booking, or not the reader's to cancel", content_type = "text/html", body = String),
))]
#[post("/my/bookings/{id}/cancel")]
pub async fn cancel(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    id: web::Path<String>,
    form: web::Form<CancelForm>,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    let form = form.into_inner();
    let reason = Some(form.reason.trim().to_string()).filter(|r| !r.is_empty());
    if reason.as_ref().is_some_and(|r| r.chars().count() > 1000) {
        return Err(AppError::invalid(
            "reason",
            "must be at most 1000 characters",
        ));
    }
    let result = bookings::cancel(&state, &caller, &id, reason, time::now()).await;
    match result {
        Ok(b) if form.back == "course" && !form.for_person.trim().is_empty() => {
            Ok(see_other(&format!(
                "/courses/{}?{}&done=cancelled",
                b.course_id,
                serde_urlencoded::to_string([("for", form.for_person.trim())]).unwrap_or_default()
            )))
        }
        Ok(b) if form.back == "course" => Ok(see_other(&format!(
            "/courses/{}?done=cancelled",
            b.course_id
        ))),
        Ok(_) => Ok(see_other("/my/bookings?done=cancelled")),
        // Already cancelled (a second post of the same form): nothing more to do.
        Err(AppError::Conflict {
            code: "not_active", ..
        }) => Ok(see_other("/my/bookings?done=cancelled")),
        Err(e) => html_not_found(Err(e)),
    }
}

/// Registers the calendar, course and booking pages.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(calendar)
        .service(course)
        .service(book)
        .service(my_bookings)
        .service(cancel);
}
