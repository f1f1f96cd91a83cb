//! iCalendar (RFC 5545) feeds of the CPD calendar: the whole calendar (`/calendar.ics`, with
//! the list's filters), one course (`/api/v1/courses/{id}/calendar.ics`), and each person's
//! own feed at a URL carrying a secret token they can rotate or revoke.
//!
//! Each session is one event whose UID ([`ics::session_uid`], the same in the emails' `.ics`
//! attachments) never changes and whose SEQUENCE is the course's revision, so calendar
//! programs update the events they already have.

use crate::api::extract::PathId;
use actix_web::{delete, get, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;
use validator::Validate;

use crate::api::courses::CourseQuery;
use crate::api::extract::ValidQuery;
use crate::app::policy::{course_scope, require_visible_to, Action};
use crate::app::state::AppState;
use crate::auth::{Caller, MaybeCaller};
use crate::domain::course::{add_problem, CourseStatus, Problems};
use crate::domain::ics::{self, Calendar, Event};
use crate::domain::markdown::to_plain_text;
use crate::domain::paging::Paging;
use crate::domain::time;
use crate::error::responses::{Invalid, NotFound, Problem, Unauthorized, PROBLEM_JSON};
use crate::error::{AppError, AppResult};
use crate::store::calendar_feeds;
use crate::store::courses::{self as store, CalendarCourse};

/// The most courses one feed holds (the earliest first, from `from`).
pub const FEED_MAX_COURSES: i64 = 2000;
/// Without `from`, a feed starts this many days back, so subscribers see recent and coming
/// courses rather than the oldest ones.
pub const FEED_DEFAULT_DAYS_BACK: i64 = 90;
/// How often subscribers are asked to refresh, in minutes.
const REFRESH_MINUTES: u32 = 60;
/// The default reminder: a day before.
const DEFAULT_ALARM_MINUTES: u32 = 1440;
/// The longest reminder: four weeks before.
const MAX_ALARM_MINUTES: u32 = 40_320;

/// The reminder of each event.
#[derive(Debug, Default, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlarmQuery {
    /// Minutes before each session to remind (default 1440, a day; 0: no reminder; at most
    /// 40320, four weeks).
    #[param(value_type = Option<u32>, example = 60)]
    pub alarm_minutes: Option<String>,
}

impl AlarmQuery {
    fn minutes(&self) -> AppResult<Option<u32>> {
        let Some(raw) = self.alarm_minutes.as_deref().map(str::trim) else {
            return Ok(Some(DEFAULT_ALARM_MINUTES));
        };
        match raw.parse::<u32>() {
            Ok(0) => Ok(None),
            Ok(n) if n <= MAX_ALARM_MINUTES => Ok(Some(n)),
            _ => {
                let mut p = Problems::new();
                add_problem(
                    &mut p,
                    "alarm_minutes",
                    format!("must be a whole number from 0 to {MAX_ALARM_MINUTES}"),
                );
                Err(AppError::Validation(p))
            }
        }
    }
}

/// A feed's `limit` (default and most: [`FEED_MAX_COURSES`]) and `offset`, in courses.
fn feed_paging(query: &CourseQuery) -> AppResult<Paging> {
    let mut problems = Problems::new();
    let mut read = |field: &str, raw: &Option<String>, min: i64, max: i64, default: i64| match raw
        .as_deref()
        .map(str::trim)
    {
        None | Some("") => default,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => n,
            _ => {
                add_problem(
                    &mut problems,
                    field,
                    format!("must be a whole number from {min} to {max}"),
                );
                default
            }
        },
    };
    let limit = read("limit", &query.limit, 1, FEED_MAX_COURSES, FEED_MAX_COURSES);
    let offset = read("offset", &query.offset, 0, i64::MAX, 0);
    if problems.is_empty() {
        Ok(Paging { limit, offset })
    } else {
        Err(AppError::Validation(problems))
    }
}

/// The address of a course's page.
fn course_url(base: &str, id: &str) -> String {
    format!("{base}/courses/{id}")
}

/// One event per session of each course.
fn events(courses: &[CalendarCourse], base: &str, alarm: Option<u32>) -> Vec<Event> {
    let stamp = time::now();
    let mut out = Vec::new();
    for c in courses {
        let cancelled = c.status == CourseStatus::Cancelled.as_str();
        let url = course_url(base, &c.id);
        let summary_text = to_plain_text(&c.summary);
        let n = c.sessions.len();
        for (i, s) in c.sessions.iter().enumerate() {
            let mut title = if n > 1 {
                format!("{} (session {} of {n})", c.title, i + 1)
            } else {
                c.title.clone()
            };
            if cancelled {
                title = format!("Cancelled: {title}");
            }
            let location = match &s.venue {
                Some(v) => Some(
                    [v.name.as_str(), v.address.as_str(), v.postcode.as_str()]
                        .iter()
                        .filter(|p| !p.is_empty())
                        .copied()
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
                None => s.online_url.clone(),
            };
            let mut description = Vec::new();
            if cancelled {
                description.push(match &c.cancel_reason {
                    Some(r) => format!("This course has been cancelled: {r}"),
                    None => "This course has been cancelled.".to_string(),
                });
            }
            if !summary_text.is_empty() {
                description.push(summary_text.clone());
            }
            if let Some(note) = &s.note {
                description.push(note.clone());
            }
            if let Some(link) = &s.online_url {
                description.push(format!("Join online: {link}"));
            }
            description.push(format!("Details: {url}"));
            out.push(Event {
                uid: ics::session_uid(&s.id),
                sequence: c.revision,
                stamp,
                created: Some(c.created_at),
                last_modified: Some(c.updated_at),
                start: s.start,
                end: s.end,
                cancelled,
                summary: title,
                location,
                url: Some(url.clone()),
                description: Some(description.join("\n\n")),
                alarm_minutes: alarm,
            });
        }
    }
    out
}

fn calendar_response(name: &str, filename: &str, events: Vec<Event>) -> HttpResponse {
    let body = ics::render(&Calendar {
        method: ics::Method::Publish,
        name: Some(name.to_string()),
        refresh_minutes: Some(REFRESH_MINUTES),
        organizer: None,
        events,
    });
    HttpResponse::Ok()
        .content_type("text/calendar; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("inline; filename=\"{filename}\""),
        ))
        // Personal and draft content must not sit in shared caches.
        .insert_header(("Cache-Control", "private, max-age=300"))
        .body(body)
}

/// The CPD calendar as iCalendar, with the same filters as `GET /api/v1/courses` (published
/// courses unless an admin or lead asks for others). Without `from` it starts 90 days back;
/// `limit` counts courses (default and most 2,000). Subscribe to it from Outlook or Google
/// Calendar.
#[utoipa::path(tag = "calendar", params(CourseQuery, AlarmQuery), security((), ("bearer" = [])),
    responses(
    (status = 200, description = "RFC 5545 calendar, one event per session", content_type = "text/calendar", body = String),
    Invalid,
))]
#[get("/calendar.ics")]
pub async fn calendar_ics(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    query: ValidQuery<CourseQuery>,
    alarm: ValidQuery<AlarmQuery>,
) -> AppResult<HttpResponse> {
    let mut filter = query.filter()?;
    let paging = feed_paging(&query)?;
    let alarm = alarm.minutes()?;
    if filter.from.is_none() {
        filter.from = Some(time::now() - chrono::Duration::days(FEED_DEFAULT_DAYS_BACK));
    }
    let scope = course_scope(caller.0.as_ref());
    let courses = state
        .db(move |c| store::calendar_list(c, &filter, &scope, paging))
        .await?;
    let base = state.settings.public_base_url.clone();
    Ok(calendar_response(
        "CPD calendar",
        "cpd-calendar.ics",
        events(&courses, &base, alarm),
    ))
}

/// One course's sessions as iCalendar, to add to a calendar program. Visible as the course
/// is: published ones to anyone; a cancelled course's events (to its leads and admins) carry
/// `STATUS:CANCELLED`.
#[utoipa::path(tag = "calendar", params(("id" = String, Path, description = "The course"), AlarmQuery),
    security((), ("bearer" = [])), responses(
    (status = 200, description = "RFC 5545 calendar", content_type = "text/calendar", body = String),
    NotFound,
    Invalid,
))]
#[get("/courses/{id}/calendar.ics")]
pub async fn course_ics(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    id: PathId,
    alarm: ValidQuery<AlarmQuery>,
) -> AppResult<HttpResponse> {
    let alarm = alarm.minutes()?;
    let id = id.into_inner();
    let lookup = id.clone();
    let (status, lead_ids) = state
        .db(move |c| store::visibility_facts(c, &lookup))
        .await?;
    require_visible_to(
        caller.0.as_ref(),
        Action::ReadCourse {
            status: &status,
            lead_ids: &lead_ids,
        },
    )?;
    let courses = state
        .db(move |c| store::calendar_courses(c, std::slice::from_ref(&id)))
        .await?;
    let course = courses.first().ok_or(AppError::NotFound)?;
    let base = state.settings.public_base_url.clone();
    let name = course.title.clone();
    Ok(calendar_response(
        &name,
        &format!("course-{}.ics", course.id),
        events(&courses, &base, alarm),
    ))
}

/// A person's own calendar: the sessions of the courses they lead (and, with bookings, the
/// ones they are confirmed on). The token in the URL is the only credential: calendar
/// programs cannot sign in.
#[utoipa::path(tag = "calendar", params(("token" = String, Path, description = "The feed token from POST /api/v1/me/calendar-feed"), AlarmQuery),
    security(()), responses(
    (status = 200, description = "RFC 5545 calendar", content_type = "text/calendar", body = String),
    (status = 404, description = "Unknown or revoked token", body = Problem, content_type = PROBLEM_JSON),
))]
#[get("/calendar/{token}.ics")]
pub async fn personal_ics(
    state: web::Data<AppState>,
    token: web::Path<String>,
    alarm: ValidQuery<AlarmQuery>,
) -> AppResult<HttpResponse> {
    let alarm = alarm.minutes()?;
    let token = token.into_inner();
    let courses = state
        .db(move |c| {
            let person = calendar_feeds::person_for_token(c, &token)?.ok_or(AppError::NotFound)?;
            store::feed_courses(c, &person)
        })
        .await?;
    let base = state.settings.public_base_url.clone();
    Ok(calendar_response(
        "My CPD",
        "my-cpd.ics",
        events(&courses, &base, alarm),
    ))
}

/// A personal calendar feed's address (shown once: it carries the secret token).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({
    "url": "https://cpd.example.org/calendar/cal_3f1c0a9e5b7d4c2e8f6a1b3d5c7e9f0a2b4c6d8e0f1a3b5c7d9e1f3a5b7c9d1e.ics",
    "webcal_url": "webcal://cpd.example.org/calendar/cal_3f1c0a9e5b7d4c2e8f6a1b3d5c7e9f0a2b4c6d8e0f1a3b5c7d9e1f3a5b7c9d1e.ics"
}))]
pub struct CalendarFeed {
    /// Subscribe to this in a calendar program.
    pub url: String,
    /// The same as a `webcal://` link, which opens the calendar program directly.
    pub webcal_url: String,
}

/// Create your personal calendar feed, or replace it (the old address stops working).
#[utoipa::path(tag = "me", security(("bearer" = [])), responses(
    (status = 201, body = CalendarFeed),
    Unauthorized,
))]
#[post("/me/calendar-feed")]
pub async fn create_feed(state: web::Data<AppState>, caller: Caller) -> AppResult<HttpResponse> {
    let made = crate::app::record::create_calendar_feed(&state, &caller).await?;
    Ok(HttpResponse::Created().json(CalendarFeed {
        url: made.url,
        webcal_url: made.webcal_url,
    }))
}

/// Revoke your personal calendar feed: its address stops working.
#[utoipa::path(tag = "me", security(("bearer" = [])), responses(
    (status = 204, description = "Revoked (or there was none)"),
    Unauthorized,
))]
#[delete("/me/calendar-feed")]
pub async fn revoke_feed(state: web::Data<AppState>, caller: Caller) -> AppResult<HttpResponse> {
    crate::app::record::revoke_calendar_feed(&state, &caller).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Registers the handlers under `/api/v1`.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(course_ics)
        .service(create_feed)
        .service(revoke_feed);
}

/// Registers the feeds served outside `/api/v1` (calendar programs subscribe to them).
pub fn configure_root(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(calendar_ics).service(personal_ics);
}
