//! The admin's course pages (`/admin/courses`): every course whatever its status, filtered
//! and paged, with its places and bookings counted; one form to create or edit a course with
//! all its sessions (adding and removing sessions re-renders the form, so no script is
//! needed); publishing; and cancelling with a reason after a page that says how many people
//! will be emailed. Every change goes through the same use cases as the JSON API
//! (`app::courses`), so the policy, the rules, the transaction, the audit entries and the
//! emails are the API's.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use chrono::{NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use minijinja::context;
use serde::{Deserialize, Serialize};

use crate::app::courses::{self as courses, Candidate, Choices, CourseQuery};
use crate::app::state::AppState;
use crate::auth::MaybeCaller;
use crate::domain::caller::Caller;
use crate::domain::course::{CoursePlan, CourseStatus, SessionPlan, Venue};
use crate::domain::school::Phase;
use crate::domain::term::Term;
use crate::domain::time;
use crate::error::responses::CrossSite;
use crate::error::{AppError, AppResult};
use crate::store::courses::{Course, CourseLinks, CoursePatch, SessionEdit};

use super::{html_not_found, page, see_other, sign_in_first};

/// Courses on one page of the list: about 2,000 px of table at desktop width.
const PAGE_SIZE: i64 = 20;
/// People listed when a search for a lead finds several.
const LEAD_MATCHES: i64 = 10;

// ---------------------------------------------------------------------------------------------
// The list

/// The list's filters and page, as its GET form sends them.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct AdminListParams {
    /// `draft`, `published`, `cancelled`, or empty for every status.
    pub status: Option<String>,
    /// A term's key (`2026-27-autumn`): courses whose first session is in it.
    pub term: Option<String>,
    /// A provider's id.
    pub provider: Option<String>,
    /// A strategy priority's id.
    pub priority: Option<String>,
    /// Words that must all appear in the title or summary.
    pub q: Option<String>,
    /// The page, from 1.
    pub page: Option<String>,
}

/// The list's filters as the form shows them back.
#[derive(Serialize, Default)]
struct ListFilters {
    status: String,
    term: String,
    provider: String,
    priority: String,
    q: String,
}

fn trimmed(v: &Option<String>) -> String {
    v.as_deref().unwrap_or("").trim().to_string()
}

fn status_label(status: &str) -> &'static str {
    match CourseStatus::parse(status) {
        Some(CourseStatus::Draft) => "Draft",
        Some(CourseStatus::Published) => "Published",
        Some(CourseStatus::Cancelled) => "Cancelled",
        None => "Unknown",
    }
}

/// The terms the list offers: from a year back to a year ahead of the current one.
fn term_choices() -> Vec<(String, String)> {
    let now = Term::of(time::now());
    let mut t = now;
    for _ in 0..3 {
        t = t.previous();
    }
    let first = t;
    // Walk forward by finding the term after each: the term of the day after its last day.
    let mut out = Vec::new();
    let mut t = first;
    for _ in 0..7 {
        out.push((t.key(), t.label()));
        t = Term::of_date(t.last_day().succ_opt().unwrap_or(t.last_day()));
    }
    out.reverse();
    out
}

/// Every course whatever its status (admins), with filters (status, term, provider, priority,
/// words) kept in the query string, counts of places and bookings, and paging.
#[utoipa::path(tag = "web", params(AdminListParams), responses(
    (status = 200, description = "The admin's list of courses", content_type = "text/html", body = String),
    (status = 303, description = "Not signed in: to sign-in"),
    (status = 403, description = "Not an admin", content_type = "text/html", body = String),
))]
#[get("/admin/courses")]
pub async fn index(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    params: web::Query<AdminListParams>,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    let choices = courses::choices(&state, &caller).await?;
    let p = params.into_inner();
    let filters = ListFilters {
        status: trimmed(&p.status),
        term: trimmed(&p.term),
        provider: trimmed(&p.provider),
        priority: trimmed(&p.priority),
        q: trimmed(&p.q),
    };
    let page_no = p
        .page
        .as_deref()
        .and_then(|n| n.trim().parse::<i64>().ok())
        .filter(|n| *n >= 1)
        .unwrap_or(1);
    let mut errors: Vec<(String, String)> = Vec::new();
    let term = if filters.term.is_empty() {
        None
    } else {
        match filters.term.parse::<Term>() {
            Ok(t) => Some(t),
            Err(_) => {
                errors.push(("term".into(), "Term: choose one from the list".into()));
                None
            }
        }
    };
    let none_if_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let query = CourseQuery {
        limit: Some(PAGE_SIZE.to_string()),
        offset: Some(((page_no - 1) * PAGE_SIZE).to_string()),
        from: term.map(|t| t.first_day().to_string()),
        to: term.map(|t| t.last_day().to_string()),
        priority: none_if_empty(&filters.priority),
        q: none_if_empty(&filters.q),
        status: Some(none_if_empty(&filters.status).unwrap_or_else(|| "all".to_string())),
        ..CourseQuery::default()
    };
    let (listed, total) = match query.filter_and_paging() {
        Ok((mut filter, paging)) if errors.is_empty() => {
            if !filters.provider.is_empty() {
                filter.provider_ids = vec![filters.provider.clone()];
            }
            let found = courses::admin_courses(&state, &caller, filter, paging).await?;
            let rows: Vec<_> = found
                .items
                .into_iter()
                .map(|l| {
                    let c = l.course;
                    context! {
                        id => c.id,
                        title => c.title,
                        status => c.status,
                        status_label => status_label(&c.status),
                        when => c.first_session_display.unwrap_or_else(|| "No sessions yet".into()),
                        sessions => c.sessions_count,
                        provider => c.provider.name,
                        places => c.capacity,
                        confirmed => c.capacity - c.places_left,
                        waiting => c.waitlist_length,
                        pending => l.pending,
                    }
                })
                .collect();
            (rows, found.total)
        }
        Ok(_) => (Vec::new(), 0),
        Err(AppError::Validation(problems)) => {
            for (field, ms) in problems {
                for m in ms {
                    errors.push((field.clone(), format!("{field}: {m}")));
                }
            }
            (Vec::new(), 0)
        }
        Err(e) => return Err(e),
    };
    let pages = (total + PAGE_SIZE - 1) / PAGE_SIZE;
    let kept: Vec<(&str, &str)> = [
        ("status", filters.status.as_str()),
        ("term", filters.term.as_str()),
        ("provider", filters.provider.as_str()),
        ("priority", filters.priority.as_str()),
        ("q", filters.q.as_str()),
    ]
    .into_iter()
    .filter(|(_, v)| !v.is_empty())
    .collect();
    let filter_query = serde_urlencoded::to_string(&kept).unwrap_or_default();
    page(
        if errors.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        },
        "admin_courses.html",
        context! {
            signed_in => true,
            courses => listed,
            total,
            page_no,
            pages,
            filters,
            filter_query,
            errors => errors.iter().map(|(f, m)| context! { field => f, message => m }).collect::<Vec<_>>(),
            terms => term_choices(),
            providers => choices.providers,
            priorities => choices.priorities,
        },
    )
}

// ---------------------------------------------------------------------------------------------
// The form: every field as typed, so that it can be shown back whatever it holds

/// One session as the form holds it: Europe/London date and times.
#[derive(Clone, Debug, Default, Serialize)]
struct SessionForm {
    id: String,
    date: String,
    start: String,
    end: String,
    venue_name: String,
    venue_address: String,
    venue_postcode: String,
    online_url: String,
    note: String,
}

/// The course form as typed. Field names are the API's (`sessions[0].venue.name`), so its
/// 422 problems name the form's fields.
#[derive(Clone, Debug, Default, Serialize)]
struct CourseForm {
    title: String,
    summary: String,
    provider_id: String,
    cluster_id: String,
    lead_ids: Vec<String>,
    priority_ids: Vec<String>,
    staff_group_ids: Vec<String>,
    phases: Vec<String>,
    format: String,
    capacity: String,
    per_school_cap: String,
    per_school_cap_until: String,
    price_pence: String,
    booking_opens: String,
    booking_closes: String,
    cancellation_deadline: String,
    requires_approval: bool,
    completion_min_sessions: String,
    sessions: Vec<SessionForm>,
    lead_search: String,
}

/// What the button pressed asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Intent {
    Save,
    AddSession,
    RemoveSession(usize),
    FindLead,
}

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

fn read_form(body: &[u8]) -> (CourseForm, Intent) {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let mut f = CourseForm::default();
    let mut sessions: BTreeMap<usize, SessionForm> = BTreeMap::new();
    let mut intent = Intent::Save;
    for (k, v) in pairs {
        // Browsers send a textarea's line breaks as CRLF; stored text has LF.
        let v = v.replace("\r\n", "\n");
        if let Some(rest) = k.strip_prefix("sessions[") {
            let Some((n, field)) = rest.split_once("].") else {
                continue;
            };
            let Ok(n) = n.parse::<usize>() else { continue };
            if n >= 200 {
                continue;
            }
            let s = sessions.entry(n).or_default();
            match field {
                "id" => s.id = v,
                "date" => s.date = v,
                "start" => s.start = v,
                "end" => s.end = v,
                "venue.name" => s.venue_name = v,
                "venue.address" => s.venue_address = v,
                "venue.postcode" => s.venue_postcode = v,
                "online_url" => s.online_url = v,
                "note" => s.note = v,
                _ => {}
            }
            continue;
        }
        match k.as_str() {
            "title" => f.title = v,
            "summary" => f.summary = v,
            "provider_id" => f.provider_id = v,
            "cluster_id" => f.cluster_id = v,
            "lead_ids" => f.lead_ids.push(v),
            "priority_ids" => f.priority_ids.push(v),
            "staff_group_ids" => f.staff_group_ids.push(v),
            "phases" => f.phases.push(v),
            "format" => f.format = v,
            "capacity" => f.capacity = v,
            "per_school_cap" => f.per_school_cap = v,
            "per_school_cap_until" => f.per_school_cap_until = v,
            "price_pence" => f.price_pence = v,
            "booking_opens" => f.booking_opens = v,
            "booking_closes" => f.booking_closes = v,
            "cancellation_deadline" => f.cancellation_deadline = v,
            "requires_approval" => f.requires_approval = v == "true",
            "completion_min_sessions" => f.completion_min_sessions = v,
            "lead_search" => f.lead_search = v,
            "action" => {
                intent = match v.as_str() {
                    "add_session" => Intent::AddSession,
                    "find_lead" => Intent::FindLead,
                    other => match other.strip_prefix("remove-").map(str::parse::<usize>) {
                        Some(Ok(n)) => Intent::RemoveSession(n),
                        _ => Intent::Save,
                    },
                }
            }
            _ => {}
        }
    }
    f.sessions = sessions.into_values().collect();
    for list in [
        &mut f.lead_ids,
        &mut f.priority_ids,
        &mut f.staff_group_ids,
        &mut f.phases,
    ] {
        let mut seen = Vec::new();
        for v in list.drain(..) {
            let v = v.trim().to_string();
            if !v.is_empty() && !seen.contains(&v) {
                seen.push(v);
            }
        }
        *list = seen;
    }
    (f, intent)
}

/// A local date and time for a `datetime-local` field.
fn local_input(t: Option<NaiveDateTime>) -> String {
    t.map(|t| time::london_local(t).format("%Y-%m-%dT%H:%M").to_string())
        .unwrap_or_default()
}

impl CourseForm {
    /// A new course's form: one empty session, in person.
    fn blank() -> CourseForm {
        CourseForm {
            format: "in_person".into(),
            price_pence: "0".into(),
            sessions: vec![SessionForm::default()],
            ..CourseForm::default()
        }
    }

    /// The form filled in from a course.
    fn of(course: &Course) -> CourseForm {
        let opt = |v: Option<i32>| v.map(|n| n.to_string()).unwrap_or_default();
        CourseForm {
            title: course.title.clone(),
            summary: course.summary.clone(),
            provider_id: course.provider_id.clone(),
            cluster_id: course
                .cluster
                .as_ref()
                .map(|c| c.id.clone())
                .unwrap_or_default(),
            lead_ids: course.leads.iter().map(|l| l.id.clone()).collect(),
            priority_ids: course.priorities.iter().map(|t| t.id.clone()).collect(),
            staff_group_ids: course.staff_groups.iter().map(|t| t.id.clone()).collect(),
            phases: course.phases.clone(),
            format: course.format.clone(),
            capacity: course.capacity.to_string(),
            per_school_cap: opt(course.per_school_cap),
            per_school_cap_until: local_input(course.per_school_cap_until),
            price_pence: course.price_pence.to_string(),
            booking_opens: local_input(course.booking_opens),
            booking_closes: local_input(course.booking_closes),
            cancellation_deadline: local_input(course.cancellation_deadline),
            requires_approval: course.requires_approval,
            completion_min_sessions: opt(course.completion_min_sessions),
            sessions: course
                .sessions
                .iter()
                .map(|s| {
                    let start = time::london_local(s.start);
                    let end = time::london_local(s.end);
                    SessionForm {
                        id: s.id.clone(),
                        date: start.format("%Y-%m-%d").to_string(),
                        start: start.format("%H:%M").to_string(),
                        end: end.format("%H:%M").to_string(),
                        venue_name: s.venue.as_ref().map(|v| v.name.clone()).unwrap_or_default(),
                        venue_address: s
                            .venue
                            .as_ref()
                            .map(|v| v.address.clone())
                            .unwrap_or_default(),
                        venue_postcode: s
                            .venue
                            .as_ref()
                            .map(|v| v.postcode.clone())
                            .unwrap_or_default(),
                        online_url: s.online_url.clone().unwrap_or_default(),
                        note: s.note.clone().unwrap_or_default(),
                    }
                })
                .collect(),
            lead_search: String::new(),
        }
    }
}

/// Problems with the form, by the API's field names.
type Problems = BTreeMap<String, Vec<String>>;

fn problem(p: &mut Problems, field: impl Into<String>, message: impl Into<String>) {
    p.entry(field.into()).or_default().push(message.into());
}

fn whole_number(p: &mut Problems, field: &str, v: &str) -> Option<i32> {
    let v = v.trim();
    if v.is_empty() {
        return None;
    }
    match v.parse::<i32>() {
        Ok(n) => Some(n),
        Err(_) => {
            problem(p, field, "must be a whole number");
            None
        }
    }
}

/// A `datetime-local` value in Europe/London as UTC.
fn date_time(p: &mut Problems, field: &str, v: &str) -> Option<NaiveDateTime> {
    let v = v.trim();
    if v.is_empty() {
        return None;
    }
    let local = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(v, f).ok());
    match local.map(time::london_to_utc) {
        Some(Ok(t)) => Some(t),
        Some(Err(m)) => {
            problem(p, field, m);
            None
        }
        None => {
            problem(p, field, "must be a date and time such as 2027-01-14T09:00");
            None
        }
    }
}

fn clock(p: &mut Problems, field: &str, v: &str) -> Option<NaiveTime> {
    let v = v.trim();
    if v.is_empty() {
        problem(p, field, "must not be empty: enter a time such as 09:30");
        return None;
    }
    match NaiveTime::parse_from_str(v, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(v, "%H:%M:%S"))
        .or_else(|_| NaiveTime::parse_from_str(v, "%H.%M"))
    {
        Ok(t) => Some(t),
        Err(_) => {
            problem(p, field, "must be a time such as 09:30 (24-hour clock)");
            None
        }
    }
}

/// The form read into what the use cases take, or the problems found reading it (dates and
/// numbers that cannot be read); the rules themselves are the use case's to check.
fn parse(form: &CourseForm) -> Result<(CoursePlan, CourseLinks, Vec<SessionEdit>), Problems> {
    let mut p = Problems::new();
    let capacity = whole_number(&mut p, "capacity", &form.capacity).unwrap_or(0);
    let per_school_cap = whole_number(&mut p, "per_school_cap", &form.per_school_cap);
    let price_pence = whole_number(&mut p, "price_pence", &form.price_pence).unwrap_or(0);
    let completion_min_sessions = whole_number(
        &mut p,
        "completion_min_sessions",
        &form.completion_min_sessions,
    );
    let per_school_cap_until =
        date_time(&mut p, "per_school_cap_until", &form.per_school_cap_until);
    let booking_opens = date_time(&mut p, "booking_opens", &form.booking_opens);
    let booking_closes = date_time(&mut p, "booking_closes", &form.booking_closes);
    let cancellation_deadline =
        date_time(&mut p, "cancellation_deadline", &form.cancellation_deadline);
    let mut sessions = Vec::new();
    for (i, s) in form.sessions.iter().enumerate() {
        let field = |name: &str| format!("sessions[{i}].{name}");
        let day = match s.date.trim() {
            "" => {
                problem(
                    &mut p,
                    field("date"),
                    "must not be empty: enter a date such as 2027-01-14",
                );
                None
            }
            d => match NaiveDate::parse_from_str(d, "%Y-%m-%d") {
                Ok(d) => Some(d),
                Err(_) => {
                    problem(&mut p, field("date"), "must be a date such as 2027-01-14");
                    None
                }
            },
        };
        let start = clock(&mut p, &field("start"), &s.start);
        let end = clock(&mut p, &field("end"), &s.end);
        let (Some(day), Some(start), Some(end)) = (day, start, end) else {
            continue;
        };
        let at = |t: NaiveTime, name: &str, p: &mut Problems| {
            time::london_to_utc(day.and_time(t)).map_err(|m| problem(p, field(name), m))
        };
        let (Ok(start), Ok(end)) = (at(start, "start", &mut p), at(end, "end", &mut p)) else {
            continue;
        };
        let has_venue = [&s.venue_name, &s.venue_address, &s.venue_postcode]
            .iter()
            .any(|v| !v.trim().is_empty());
        sessions.push(SessionEdit {
            id: Some(s.id.trim().to_string()).filter(|id| !id.is_empty()),
            plan: SessionPlan {
                start,
                end,
                venue: has_venue.then(|| Venue {
                    name: s.venue_name.clone(),
                    address: s.venue_address.clone(),
                    postcode: s.venue_postcode.clone(),
                }),
                online_url: Some(s.online_url.clone()),
                note: Some(s.note.clone()),
            },
        });
    }
    if !p.is_empty() {
        return Err(p);
    }
    let plan = CoursePlan {
        title: form.title.trim().to_string(),
        summary: form.summary.clone(),
        format: form.format.clone(),
        capacity,
        per_school_cap,
        per_school_cap_until,
        price_pence,
        booking_opens,
        booking_closes,
        cancellation_deadline,
        requires_approval: form.requires_approval,
        completion_min_sessions,
        phases: form.phases.clone(),
        sessions: sessions.iter().map(|s| s.plan.clone()).collect(),
    };
    let links = CourseLinks {
        provider_id: form.provider_id.trim().to_string(),
        cluster_id: Some(form.cluster_id.trim().to_string()).filter(|c| !c.is_empty()),
        lead_ids: form.lead_ids.clone(),
        priority_ids: form.priority_ids.clone(),
        staff_group_ids: form.staff_group_ids.clone(),
    };
    Ok((plan, links, sessions))
}

/// A time typed to the minute stands for a stored time with seconds in the same minute, so
/// saving a form nobody changed changes nothing (and emails nobody).
fn same_minute(typed: NaiveDateTime, stored: NaiveDateTime) -> bool {
    let minute = |t: NaiveDateTime| t.with_second(0).and_then(|t| t.with_nanosecond(0));
    minute(typed) == minute(stored)
}

fn keep_time(typed: Option<NaiveDateTime>, stored: Option<NaiveDateTime>) -> Option<NaiveDateTime> {
    match (typed, stored) {
        (Some(t), Some(s)) if same_minute(t, s) => Some(s),
        _ => typed,
    }
}

/// The changes the edit form makes to a course: only the fields that differ, so the audit
/// entry names what changed.
fn changes(course: &Course, plan: &CoursePlan, links: &CourseLinks) -> CoursePatch {
    fn differs<T: PartialEq + Clone>(new: &T, old: &T) -> Option<T> {
        (new != old).then(|| new.clone())
    }
    let sorted = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort();
        v
    };
    let ids = |v: &[crate::store::courses::Tag]| v.iter().map(|t| t.id.clone()).collect::<Vec<_>>();
    let lead_ids: Vec<String> = course.leads.iter().map(|l| l.id.clone()).collect();
    let time = |typed, stored| differs(&keep_time(typed, stored), &stored);
    CoursePatch {
        title: differs(&plan.title, &course.title),
        summary: differs(&plan.summary, &course.summary),
        provider_id: differs(&links.provider_id, &course.provider_id),
        cluster_id: differs(
            &links.cluster_id,
            &course.cluster.as_ref().map(|c| c.id.clone()),
        ),
        lead_ids: (links.lead_ids != lead_ids).then(|| links.lead_ids.clone()),
        priority_ids: (sorted(&links.priority_ids) != sorted(&ids(&course.priorities)))
            .then(|| links.priority_ids.clone()),
        staff_group_ids: (sorted(&links.staff_group_ids) != sorted(&ids(&course.staff_groups)))
            .then(|| links.staff_group_ids.clone()),
        phases: (sorted(&plan.phases) != sorted(&course.phases)).then(|| plan.phases.clone()),
        format: differs(&plan.format, &course.format),
        capacity: differs(&plan.capacity, &course.capacity),
        per_school_cap: differs(&plan.per_school_cap, &course.per_school_cap),
        per_school_cap_until: time(plan.per_school_cap_until, course.per_school_cap_until),
        price_pence: differs(&plan.price_pence, &course.price_pence),
        booking_opens: time(plan.booking_opens, course.booking_opens),
        booking_closes: time(plan.booking_closes, course.booking_closes),
        cancellation_deadline: time(plan.cancellation_deadline, course.cancellation_deadline),
        requires_approval: differs(&plan.requires_approval, &course.requires_approval),
        completion_min_sessions: differs(
            &plan.completion_min_sessions,
            &course.completion_min_sessions,
        ),
    }
}

/// Sessions typed to the minute keep their stored seconds (see [`same_minute`]).
fn keep_session_times(course: &Course, sessions: &mut [SessionEdit]) {
    for s in sessions.iter_mut() {
        let Some(stored) =
            s.id.as_deref()
                .and_then(|id| course.sessions.iter().find(|c| c.id == id))
        else {
            continue;
        };
        if same_minute(s.plan.start, stored.start) {
            s.plan.start = stored.start;
        }
        if same_minute(s.plan.end, stored.end) {
            s.plan.end = stored.end;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Showing the form

/// The label of a field in error messages.
fn label(field: &str) -> String {
    if let Some(rest) = field.strip_prefix("sessions[") {
        if let Some((n, name)) = rest.split_once("].") {
            let n = n.parse::<usize>().map(|n| n + 1).unwrap_or(0);
            let what = match name {
                "date" => "date",
                "start" => "start time",
                "end" => "end time",
                "venue" => "venue",
                "venue.name" => "venue name",
                "venue.address" => "address",
                "venue.postcode" => "postcode",
                "online_url" => "online link",
                "note" => "note",
                other => other,
            };
            return format!("Session {n}, {what}");
        }
    }
    let base = field.split('[').next().unwrap_or(field);
    match base {
        "title" => "Title",
        "summary" => "Summary",
        "provider_id" => "Provider",
        "cluster_id" => "Cluster",
        "lead_ids" | "lead_search" => "Course leads",
        "priority_ids" => "Priorities",
        "staff_group_ids" => "Staff groups",
        "phases" => "Phases",
        "format" => "Format",
        "capacity" => "Places",
        "per_school_cap" => "Most places for one school",
        "per_school_cap_until" => "School limit lifts",
        "price_pence" => "Price",
        "booking_opens" => "Booking opens",
        "booking_closes" => "Booking closes",
        "cancellation_deadline" => "Cancellation deadline",
        "completion_min_sessions" => "Sessions to attend",
        "sessions" => "Sessions",
        "requires_approval" => "Approval",
        "reason" => "Why it is cancelled",
        _ => "This course",
    }
    .to_string()
}

/// The id of the element a field's error belongs to: lists by the list, a venue by its name.
fn anchor(field: &str) -> String {
    for list in ["lead_ids", "priority_ids", "staff_group_ids", "phases"] {
        if field.strip_prefix(list).is_some_and(|r| r.starts_with('[')) {
            return list.to_string();
        }
    }
    match field {
        "lead_search" => return "lead_search".to_string(),
        // A refusal about the whole course: the page's main content.
        "form" => return "main".to_string(),
        _ => {}
    }
    let field = if field.ends_with(".venue") {
        format!("{field}.name")
    } else {
        field.to_string()
    };
    field
        .replace("].", "-")
        .replace(['[', '.'], "-")
        .replace(']', "")
}

/// The error summary's entries and each field's messages, by element id.
fn error_views(problems: &Problems) -> (Vec<minijinja::Value>, BTreeMap<String, Vec<String>>) {
    let mut summary = Vec::new();
    let mut by_field: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (field, messages) in problems {
        let id = anchor(field);
        for m in messages {
            let text = format!("{}: {m}", label(field));
            summary.push(context! { href => format!("#{id}"), text => text.clone() });
            by_field.entry(id.clone()).or_default().push(text);
        }
    }
    (summary, by_field)
}

/// The problems a use case's refusal names, for the form: a 422's fields, or a 409 put on the
/// field it is about.
fn refusal(e: AppError) -> Result<Problems, AppError> {
    let mut p = Problems::new();
    match e {
        AppError::Validation(problems) => return Ok(problems.into_iter().collect()),
        AppError::Conflict { code, detail } => {
            let field = match code {
                "capacity_below_confirmed" => "capacity",
                "cap_below_school_confirmed" => "per_school_cap",
                "session_has_attendance" | "session_gone" | "last_session" => "sessions",
                _ => "form",
            };
            problem(&mut p, field, detail);
        }
        other => return Err(other),
    }
    Ok(p)
}

fn phase_label(p: Phase) -> String {
    let words = p.as_str().replace('_', " ");
    match words.as_str() {
        "post 16" => "Post-16".to_string(),
        w => w[..1].to_uppercase() + &w[1..],
    }
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

// ---------------------------------------------------------------------------------------------
// One course: its admin page, publishing, cancelling

/// What the course's admin page says happened.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
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

/// Registers the admin's course pages.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    // `/admin/courses/new` before `/admin/courses/{id}`, which would take it.
    cfg.service(index)
        .service(new_form)
        .service(create)
        .service(edit_form)
        .service(update)
        .service(show)
        .service(publish)
        .service(cancel_form)
        .service(cancel);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_reads_repeated_fields_sessions_and_the_button() {
        let body = "title=Phonics&lead_ids=a&lead_ids=b&lead_ids=a&sessions%5B1%5D.date=2027-01-21\
                    &sessions%5B0%5D.date=2027-01-14&sessions%5B0%5D.venue.name=Hub\
                    &action=remove-1";
        let (form, intent) = read_form(body.as_bytes());
        assert_eq!(form.title, "Phonics");
        assert_eq!(form.lead_ids, ["a", "b"]);
        assert_eq!(form.sessions.len(), 2);
        assert_eq!(form.sessions[0].date, "2027-01-14");
        assert_eq!(form.sessions[0].venue_name, "Hub");
        assert_eq!(form.sessions[1].date, "2027-01-21");
        assert_eq!(intent, Intent::RemoveSession(1));
    }

    #[test]
    fn sessions_are_read_in_london_time() {
        let mut form = CourseForm::blank();
        form.capacity = "20".into();
        form.sessions[0] = SessionForm {
            date: "2027-06-14".into(),
            start: "09:00".into(),
            end: "12:30".into(),
            venue_name: "Hub".into(),
            ..SessionForm::default()
        };
        let (plan, _, sessions) = parse(&form).unwrap();
        assert_eq!(plan.capacity, 20);
        // British Summer Time: 09:00 in London is 08:00 UTC.
        assert_eq!(sessions[0].plan.start.to_string(), "2027-06-14 08:00:00");
        assert_eq!(sessions[0].plan.end.to_string(), "2027-06-14 11:30:00");
        assert_eq!(sessions[0].id, None);
    }

    #[test]
    fn unreadable_dates_and_numbers_are_named_by_field() {
        let mut form = CourseForm::blank();
        form.capacity = "twenty".into();
        form.booking_opens = "next week".into();
        form.sessions[0].date = "14/01/2027".into();
        form.sessions[0].start = "9am".into();
        let p = parse(&form).unwrap_err();
        let fields: Vec<&str> = p.keys().map(String::as_str).collect();
        assert_eq!(
            fields,
            [
                "booking_opens",
                "capacity",
                "sessions[0].date",
                "sessions[0].end",
                "sessions[0].start"
            ]
        );
    }

    #[test]
    fn errors_link_to_their_fields() {
        assert_eq!(anchor("title"), "title");
        assert_eq!(anchor("lead_ids[1]"), "lead_ids");
        assert_eq!(anchor("phases[0]"), "phases");
        assert_eq!(
            anchor("sessions[2].venue.postcode"),
            "sessions-2-venue-postcode"
        );
        assert_eq!(anchor("sessions[0].venue"), "sessions-0-venue-name");
        assert_eq!(label("sessions[2].end"), "Session 3, end time");
    }
}
