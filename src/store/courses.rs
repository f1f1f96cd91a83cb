//! Courses and their sessions: create, change, publish, cancel, list and the data calendars
//! are made from.
//!
//! Every write takes the course row's write lock first (`UPDATE courses SET version = version +
//! 1`), the same lock the bookings code takes, so a change to capacity or sessions never
//! interleaves with a booking decision. The denormalised columns (`first_session_start`,
//! `last_session_end`, `sessions_count`) are refreshed in the same transaction as any session
//! change; `confirmed_count` and `waitlist_count` belong to the bookings code, which keeps
//! them in the transaction that changes a booking, so the list shows places left and the
//! waiting list without counting bookings (a fixed number of queries per page).
//!
//! Hooks for bookings: [`active_booked_people`], [`cancel_active_bookings`],
//! [`places_may_have_freed`] and [`feed_course_ids`] are where `store::bookings` joins in.
//! Notifications about a course go through `store::bookings` too, so their payloads follow
//! the email templates' contract; the functions that send them take `base_url`
//! (`PUBLIC_BASE_URL`) for the links.

use std::collections::{BTreeSet, HashMap};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;

use super::{like_pattern, new_id};
use crate::db::schema::{
    calendar_generation, clusters, course_leads, course_phases, course_priorities, course_sessions,
    course_staff_groups, courses, people, priorities, providers, staff_groups,
};
use crate::db::{write_tx, DbConn};
use crate::domain::booking::BookingStatus;
use crate::domain::course::{
    self as rules, add_problem, CoursePlan, CourseScope, CourseStatus, Problems, SessionPlan, Venue,
};
use crate::domain::paging::{Page, Paging};
use crate::domain::school::Phase;
use crate::domain::time;
use crate::error::{AppError, AppResult};

// ---------------------------------------------------------------------------------------------
// What callers see

/// Another record, by id and name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Named {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
}

/// A strategy priority or staff group as a course shows it.
#[derive(Clone, Debug, PartialEq, Eq, Queryable, Serialize, utoipa::ToSchema)]
pub struct Tag {
    /// Its id.
    pub id: String,
    /// Its stable key, e.g. `send`.
    #[schema(example = "send")]
    pub key: String,
    /// Its name.
    #[schema(example = "SEND")]
    pub name: String,
}

/// A session of a course: times in UTC, and as shown in Europe/London.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(example = json!({
    "id": "0193f6d2-7c1e-7b1a-9d55-3c1c2a9e0b11",
    "course_id": "0193f6d2-7c1e-7b1a-9d55-3c1c2a9e0a01",
    "position": 1,
    "start": "2027-03-28T09:00:00Z",
    "end": "2027-03-28T11:00:00Z",
    "local_start": "2027-03-28T10:00:00+01:00",
    "local_end": "2027-03-28T12:00:00+01:00",
    "display": "Sun 28 Mar 2027, 10:00-12:00",
    "venue": {"name": "Barnsley Teaching Hub", "address": "Church Street, Barnsley", "postcode": "S70 2HZ"},
    "online_url": null,
    "note": "Bring a laptop"
}))]
pub struct Session {
    /// Opaque id.
    pub id: String,
    /// The course.
    pub course_id: String,
    /// 1-based order by start time.
    pub position: i32,
    /// Start, RFC 3339 UTC.
    #[serde(with = "crate::domain::time::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub start: NaiveDateTime,
    /// End, RFC 3339 UTC.
    #[serde(with = "crate::domain::time::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub end: NaiveDateTime,
    /// Start in Europe/London, with its offset.
    pub local_start: String,
    /// End in Europe/London, with its offset.
    pub local_end: String,
    /// For people: `Sun 28 Mar 2027, 10:00-12:00` (Europe/London).
    pub display: String,
    /// Where, for in-person and hybrid courses.
    pub venue: Option<Venue>,
    /// The joining link, for online and hybrid courses.
    pub online_url: Option<String>,
    /// A note for attendees.
    pub note: Option<String>,
}

/// A course with everything about it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({
    "id": "0193f6d2-7c1e-7b1a-9d55-3c1c2a9e0a01",
    "title": "Adaptive teaching for pupils with SEND",
    "summary": "Practical strategies for **adaptive teaching**.",
    "summary_html": "<p>Practical strategies for <strong>adaptive teaching</strong>.</p>\n",
    "status": "draft",
    "format": "in_person",
    "provider_id": "0193f6d2-7c1e-7b1a-9d55-3c1c2a9e0c01",
    "provider": {"id": "0193f6d2-7c1e-7b1a-9d55-3c1c2a9e0c01", "name": "Barnsley Teaching Alliance"},
    "cluster": null,
    "leads": [{"id": "0193f6d2-7c1e-7b1a-9d55-3c1c2a9e0d01", "name": "Sam Lead"}],
    "priorities": [{"id": "0193f6d2-7c1e-7b1a-9d55-3c1c2a9e0e01", "key": "send", "name": "SEND"}],
    "staff_groups": [],
    "phases": ["primary"],
    "capacity": 30,
    "per_school_cap": 2,
    "per_school_cap_until": null,
    "price_pence": 0,
    "booking_opens": null,
    "booking_closes": "2027-01-07T17:00:00Z",
    "cancellation_deadline": "2027-01-10T17:00:00Z",
    "requires_approval": false,
    "completion_min_sessions": null,
    "cancel_reason": null,
    "revision": 0,
    "places_left": 30,
    "confirmed_count": 0,
    "waitlist_length": 0,
    "sessions_count": 1,
    "first_session_start": "2027-01-14T09:00:00Z",
    "last_session_end": "2027-01-14T15:30:00Z",
    "sessions": [{
        "id": "0193f6d2-7c1e-7b1a-9d55-3c1c2a9e0b11", "course_id": "0193f6d2-7c1e-7b1a-9d55-3c1c2a9e0a01",
        "position": 1, "start": "2027-01-14T09:00:00Z", "end": "2027-01-14T15:30:00Z",
        "local_start": "2027-01-14T09:00:00+00:00", "local_end": "2027-01-14T15:30:00+00:00",
        "display": "Thu 14 Jan 2027, 09:00-15:30",
        "venue": {"name": "Barnsley Teaching Hub", "address": "Church Street, Barnsley", "postcode": "S70 2HZ"},
        "online_url": null, "note": null
    }],
    "created_at": "2026-11-02T10:00:00Z",
    "updated_at": "2026-11-02T10:00:00Z",
    "published_at": null,
    "cancelled_at": null
}))]
pub struct Course {
    /// Opaque id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Summary as written (Markdown).
    pub summary: String,
    /// The summary rendered to sanitised HTML, safe to put in a page.
    pub summary_html: String,
    /// `draft`, `published` or `cancelled`.
    #[schema(value_type = CourseStatus)]
    pub status: String,
    /// `in_person`, `online` or `hybrid`.
    #[schema(value_type = crate::domain::course::Format)]
    pub format: String,
    /// The provider's id.
    pub provider_id: String,
    /// Who provides it.
    pub provider: Named,
    /// The cluster it is run for (None: alliance-wide).
    pub cluster: Option<Named>,
    /// The course leads (they take the registers).
    pub leads: Vec<Named>,
    /// Strategy priorities it serves.
    pub priorities: Vec<Tag>,
    /// Staff groups it is for (empty: everyone).
    pub staff_groups: Vec<Tag>,
    /// Phases it is for (empty: every phase).
    pub phases: Vec<String>,
    /// Places.
    pub capacity: i32,
    /// Most confirmed places one school may hold while the cap applies.
    pub per_school_cap: Option<i32>,
    /// When the per-school cap lifts.
    #[serde(with = "crate::domain::time::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub per_school_cap_until: Option<NaiveDateTime>,
    /// Price of a place in pence (0: free).
    pub price_pence: i32,
    /// Booking opens (null: on publication).
    #[serde(with = "crate::domain::time::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub booking_opens: Option<NaiveDateTime>,
    /// Booking closes (null: when the first session starts).
    #[serde(with = "crate::domain::time::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub booking_closes: Option<NaiveDateTime>,
    /// Cancelling after this is a late cancellation.
    #[serde(with = "crate::domain::time::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub cancellation_deadline: Option<NaiveDateTime>,
    /// Whether requests need the school lead's approval.
    pub requires_approval: bool,
    /// Completion rule: attend at least this many sessions (null: all of them).
    pub completion_min_sessions: Option<i32>,
    /// Why it was cancelled.
    pub cancel_reason: Option<String>,
    /// Rises with each change that calendars show (the iCalendar SEQUENCE).
    pub revision: i32,
    /// Places not yet confirmed.
    pub places_left: i32,
    /// Places confirmed.
    pub confirmed_count: i32,
    /// People waiting for a place.
    pub waitlist_length: i32,
    /// How many sessions.
    pub sessions_count: i32,
    /// When the first session starts.
    #[serde(with = "crate::domain::time::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub first_session_start: Option<NaiveDateTime>,
    /// When the last session ends.
    #[serde(with = "crate::domain::time::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_session_end: Option<NaiveDateTime>,
    /// The sessions, in order.
    pub sessions: Vec<Session>,
    /// When it was created.
    #[serde(with = "crate::domain::time::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: NaiveDateTime,
    /// When it last changed.
    #[serde(with = "crate::domain::time::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: NaiveDateTime,
    /// When it was published.
    #[serde(with = "crate::domain::time::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub published_at: Option<NaiveDateTime>,
    /// When it was cancelled.
    #[serde(with = "crate::domain::time::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub cancelled_at: Option<NaiveDateTime>,
}

/// A course as the calendar list shows it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({
    "id": "0193f6d2-7c1e-7b1a-9d55-3c1c2a9e0a01",
    "title": "Adaptive teaching for pupils with SEND",
    "status": "published",
    "format": "in_person",
    "provider": {"id": "0193f6d2-7c1e-7b1a-9d55-3c1c2a9e0c01", "name": "Barnsley Teaching Alliance"},
    "cluster_id": null,
    "priorities": [{"id": "0193f6d2-7c1e-7b1a-9d55-3c1c2a9e0e01", "key": "send", "name": "SEND"}],
    "staff_groups": [],
    "phases": ["primary"],
    "capacity": 30,
    "places_left": 12,
    "waitlist_length": 0,
    "per_school_cap": 2,
    "price_pence": 0,
    "requires_approval": false,
    "booking_opens": null,
    "booking_closes": "2027-01-07T17:00:00Z",
    "first_session_start": "2027-01-14T09:00:00Z",
    "first_session_display": "Thu 14 Jan 2027, 09:00",
    "last_session_end": "2027-01-14T15:30:00Z",
    "sessions_count": 1,
    "revision": 0
}))]
pub struct CourseSummary {
    /// Opaque id.
    pub id: String,
    /// Title.
    pub title: String,
    /// `draft`, `published` or `cancelled`.
    #[schema(value_type = CourseStatus)]
    pub status: String,
    /// `in_person`, `online` or `hybrid`.
    #[schema(value_type = crate::domain::course::Format)]
    pub format: String,
    /// Who provides it.
    pub provider: Named,
    /// The cluster it is run for (None: alliance-wide).
    pub cluster_id: Option<String>,
    /// Strategy priorities it serves.
    pub priorities: Vec<Tag>,
    /// Staff groups it is for (empty: everyone).
    pub staff_groups: Vec<Tag>,
    /// Phases it is for (empty: every phase).
    pub phases: Vec<String>,
    /// Places.
    pub capacity: i32,
    /// Places not yet confirmed.
    pub places_left: i32,
    /// People waiting for a place.
    pub waitlist_length: i32,
    /// Most confirmed places one school may hold.
    pub per_school_cap: Option<i32>,
    /// Price of a place in pence.
    pub price_pence: i32,
    /// Whether requests need the school lead's approval.
    pub requires_approval: bool,
    /// Booking opens (null: on publication).
    #[serde(with = "crate::domain::time::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub booking_opens: Option<NaiveDateTime>,
    /// Booking closes (null: when the first session starts).
    #[serde(with = "crate::domain::time::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub booking_closes: Option<NaiveDateTime>,
    /// When the first session starts.
    #[serde(with = "crate::domain::time::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub first_session_start: Option<NaiveDateTime>,
    /// The first session's start for people, in Europe/London.
    pub first_session_display: Option<String>,
    /// When the last session ends.
    #[serde(with = "crate::domain::time::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_session_end: Option<NaiveDateTime>,
    /// How many sessions.
    pub sessions_count: i32,
    /// Rises with each change that calendars show.
    pub revision: i32,
}

// ---------------------------------------------------------------------------------------------
// Rows

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = courses)]
struct CourseRow {
    id: String,
    title: String,
    summary: String,
    summary_html: String,
    provider_id: String,
    cluster_id: Option<String>,
    format: String,
    capacity: i32,
    per_school_cap: Option<i32>,
    per_school_cap_until: Option<NaiveDateTime>,
    price_pence: i32,
    booking_opens: Option<NaiveDateTime>,
    booking_closes: Option<NaiveDateTime>,
    cancellation_deadline: Option<NaiveDateTime>,
    requires_approval: bool,
    completion_min_sessions: Option<i32>,
    status: String,
    cancel_reason: Option<String>,
    revision: i32,
    confirmed_count: i32,
    waitlist_count: i32,
    sessions_count: i32,
    first_session_start: Option<NaiveDateTime>,
    last_session_end: Option<NaiveDateTime>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    published_at: Option<NaiveDateTime>,
    cancelled_at: Option<NaiveDateTime>,
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = courses)]
struct SummaryRow {
    id: String,
    title: String,
    status: String,
    format: String,
    provider_id: String,
    cluster_id: Option<String>,
    capacity: i32,
    confirmed_count: i32,
    waitlist_count: i32,
    per_school_cap: Option<i32>,
    price_pence: i32,
    requires_approval: bool,
    booking_opens: Option<NaiveDateTime>,
    booking_closes: Option<NaiveDateTime>,
    first_session_start: Option<NaiveDateTime>,
    last_session_end: Option<NaiveDateTime>,
    sessions_count: i32,
    revision: i32,
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = course_sessions)]
struct SessionRow {
    id: String,
    course_id: String,
    start_at: NaiveDateTime,
    end_at: NaiveDateTime,
    venue_name: Option<String>,
    venue_address: Option<String>,
    venue_postcode: Option<String>,
    online_url: Option<String>,
    note: Option<String>,
    position: i32,
}

impl SessionRow {
    fn venue(&self) -> Option<Venue> {
        self.venue_name.as_ref().map(|name| Venue {
            name: name.clone(),
            address: self.venue_address.clone().unwrap_or_default(),
            postcode: self.venue_postcode.clone().unwrap_or_default(),
        })
    }

    fn plan(&self) -> SessionPlan {
        SessionPlan {
            start: self.start_at,
            end: self.end_at,
            venue: self.venue(),
            online_url: self.online_url.clone(),
            note: self.note.clone(),
        }
    }

    fn to_session(&self) -> Session {
        let local = rules::london_times(self.start_at, self.end_at);
        Session {
            id: self.id.clone(),
            course_id: self.course_id.clone(),
            position: self.position,
            start: self.start_at,
            end: self.end_at,
            local_start: local.start,
            local_end: local.end,
            display: local.display,
            venue: self.venue(),
            online_url: self.online_url.clone(),
            note: self.note.clone(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Input

/// The records a course refers to, by id.
#[derive(Clone, Debug, Default)]
pub struct CourseLinks {
    /// Who provides it.
    pub provider_id: String,
    /// The cluster it is run for.
    pub cluster_id: Option<String>,
    /// Its leads (people).
    pub lead_ids: Vec<String>,
    /// Strategy priorities.
    pub priority_ids: Vec<String>,
    /// Target staff groups.
    pub staff_group_ids: Vec<String>,
}

/// Changes to a course; `None` leaves a field as it is, `Some(None)` clears a nullable one.
#[derive(Clone, Debug, Default)]
pub struct CoursePatch {
    /// New title.
    pub title: Option<String>,
    /// New summary.
    pub summary: Option<String>,
    /// New provider.
    pub provider_id: Option<String>,
    /// New cluster, or none.
    pub cluster_id: Option<Option<String>>,
    /// New leads (replacing the old).
    pub lead_ids: Option<Vec<String>>,
    /// New priorities (replacing the old).
    pub priority_ids: Option<Vec<String>>,
    /// New staff groups (replacing the old).
    pub staff_group_ids: Option<Vec<String>>,
    /// New phases (replacing the old).
    pub phases: Option<Vec<String>>,
    /// New format.
    pub format: Option<String>,
    /// New capacity.
    pub capacity: Option<i32>,
    /// New per-school cap, or none (lifts it).
    pub per_school_cap: Option<Option<i32>>,
    /// When the cap lifts, or never.
    pub per_school_cap_until: Option<Option<NaiveDateTime>>,
    /// New price.
    pub price_pence: Option<i32>,
    /// Booking opens.
    pub booking_opens: Option<Option<NaiveDateTime>>,
    /// Booking closes.
    pub booking_closes: Option<Option<NaiveDateTime>>,
    /// Cancellation deadline.
    pub cancellation_deadline: Option<Option<NaiveDateTime>>,
    /// Whether requests need approval.
    pub requires_approval: Option<bool>,
    /// Completion rule.
    pub completion_min_sessions: Option<Option<i32>>,
}

/// Changes to a session; `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Clone, Debug, Default)]
pub struct SessionPatch {
    /// New start.
    pub start: Option<NaiveDateTime>,
    /// New end.
    pub end: Option<NaiveDateTime>,
    /// New venue, or none.
    pub venue: Option<Option<Venue>>,
    /// New link, or none.
    pub online_url: Option<Option<String>>,
    /// New note, or none.
    pub note: Option<Option<String>>,
}

/// What the calendar list is narrowed to. Empty lists and `None` mean "any".
#[derive(Clone, Debug, Default)]
pub struct CourseFilter {
    /// First session starts at or after.
    pub from: Option<NaiveDateTime>,
    /// First session starts at or before.
    pub to: Option<NaiveDateTime>,
    /// Serves any of these priorities (ids or keys).
    pub priorities: Vec<String>,
    /// Open to any of these staff groups (ids or keys): courses for them, and courses for
    /// everyone.
    pub staff_groups: Vec<String>,
    /// Open to any of these phases: courses for them, and courses for every phase.
    pub phases: Vec<String>,
    /// Run for this cluster.
    pub cluster_id: Option<String>,
    /// In any of these formats.
    pub formats: Vec<String>,
    /// Every word appears in the title or summary (case-insensitive).
    pub words: Vec<String>,
    /// In any of these statuses.
    pub statuses: Vec<CourseStatus>,
    /// With places left (true) or full (false).
    pub has_places: Option<bool>,
}

/// A person holding an active booking on a course, for notifications.
#[derive(Clone, Debug)]
pub struct BookedPerson {
    /// The booking.
    pub booking_id: String,
    /// The person.
    pub person_id: String,
    /// Where notifications go.
    pub email: String,
}

// ---------------------------------------------------------------------------------------------
// Hooks for bookings

/// The people holding a confirmed place on the course, who are told about changes to it.
pub fn active_booked_people(conn: &mut DbConn, course_id: &str) -> QueryResult<Vec<BookedPerson>> {
    Ok(
        super::bookings::holders(conn, course_id, &[BookingStatus::Confirmed])?
            .into_iter()
            .map(|h| BookedPerson {
                booking_id: h.booking_id,
                person_id: h.person_id,
                email: h.email,
            })
            .collect(),
    )
}

/// Cancels every active booking of a course being cancelled, inside the course's
/// cancellation transaction (which already holds the course row's lock), recording each in
/// the booking history and resetting the course's counters; returns whose bookings were
/// cancelled so the caller can tell them.
pub fn cancel_active_bookings(
    conn: &mut DbConn,
    course_id: &str,
    actor_id: Option<&str>,
    reason: &str,
) -> AppResult<Vec<super::bookings::Holder>> {
    let ctx = super::bookings::Ctx {
        actor_id,
        now: time::now(),
        base_url: "",
    };
    super::bookings::cancel_all_on_course(conn, ctx, course_id, reason)
}

/// Called, with the course row locked, after a change that may free places: capacity
/// raised, per-school cap raised or lifted. Waiting bookings are promoted here, in the same
/// transaction (invariant 3).
pub fn places_may_have_freed(
    conn: &mut DbConn,
    actor_id: Option<&str>,
    base_url: &str,
    course_id: &str,
) -> AppResult<()> {
    let ctx = super::bookings::Ctx {
        actor_id,
        now: time::now(),
        base_url,
    };
    super::bookings::promote(conn, ctx, course_id, "places freed on the course")?;
    Ok(())
}

/// The courses whose sessions appear in a person's personal calendar feed: the courses they
/// lead and those they hold a confirmed place on.
pub fn feed_course_ids(conn: &mut DbConn, person_id: &str) -> QueryResult<Vec<String>> {
    course_leads::table
        .inner_join(courses::table)
        .filter(course_leads::person_id.eq(person_id))
        .filter(courses::status.ne(CourseStatus::Draft.as_str()))
        .select(course_leads::course_id)
        .load(conn)
        .and_then(|mut ids: Vec<String>| {
            ids.extend(super::bookings::confirmed_course_ids(conn, person_id)?);
            ids.sort();
            ids.dedup();
            Ok(ids)
        })
}

// ---------------------------------------------------------------------------------------------
// Reading

fn load_row(conn: &mut DbConn, id: &str) -> AppResult<CourseRow> {
    Ok(courses::table
        .find(id)
        .select(CourseRow::as_select())
        .first(conn)?)
}

fn load_sessions(conn: &mut DbConn, course_id: &str) -> QueryResult<Vec<SessionRow>> {
    course_sessions::table
        .filter(course_sessions::course_id.eq(course_id))
        .order((course_sessions::start_at.asc(), course_sessions::id.asc()))
        .select(SessionRow::as_select())
        .load(conn)
}

fn load_phases(conn: &mut DbConn, course_id: &str) -> QueryResult<Vec<String>> {
    let mut phases: Vec<String> = course_phases::table
        .filter(course_phases::course_id.eq(course_id))
        .select(course_phases::phase)
        .load(conn)?;
    sort_phases(&mut phases);
    Ok(phases)
}

fn sort_phases(phases: &mut [String]) {
    let rank = |p: &String| {
        Phase::ALL
            .iter()
            .position(|x| x.as_str() == p)
            .unwrap_or(usize::MAX)
    };
    phases.sort_by_key(rank);
}

/// One course with everything about it. `NotFound` when there is none (visibility is the
/// caller's business: see `auth::policy`).
pub fn get_course(conn: &mut DbConn, id: &str) -> AppResult<Course> {
    let row = load_row(conn, id)?;
    assemble(conn, row)
}

fn assemble(conn: &mut DbConn, row: CourseRow) -> AppResult<Course> {
    let provider_name: String = providers::table
        .find(&row.provider_id)
        .select(providers::name)
        .first(conn)?;
    let cluster = match &row.cluster_id {
        Some(cid) => clusters::table
            .find(cid)
            .select((clusters::id, clusters::name))
            .first::<(String, String)>(conn)
            .optional()?
            .map(|(id, name)| Named { id, name }),
        None => None,
    };
    let sessions = load_sessions(conn, &row.id)?;
    let leads = course_leads::table
        .inner_join(people::table)
        .filter(course_leads::course_id.eq(&row.id))
        .order((people::name.asc(), people::id.asc()))
        .select((people::id, people::name))
        .load::<(String, String)>(conn)?
        .into_iter()
        .map(|(id, name)| Named { id, name })
        .collect();
    let priorities = course_priorities::table
        .inner_join(priorities::table)
        .filter(course_priorities::course_id.eq(&row.id))
        .order((priorities::position.asc(), priorities::name.asc()))
        .select((priorities::id, priorities::key, priorities::name))
        .load::<Tag>(conn)?;
    let staff_groups = course_staff_groups::table
        .inner_join(staff_groups::table)
        .filter(course_staff_groups::course_id.eq(&row.id))
        .order((staff_groups::position.asc(), staff_groups::name.asc()))
        .select((staff_groups::id, staff_groups::key, staff_groups::name))
        .load::<Tag>(conn)?;
    let phases = load_phases(conn, &row.id)?;
    Ok(Course {
        provider: Named {
            id: row.provider_id.clone(),
            name: provider_name,
        },
        cluster,
        leads,
        priorities,
        staff_groups,
        phases,
        places_left: (row.capacity - row.confirmed_count).max(0),
        waitlist_length: row.waitlist_count,
        sessions: sessions.iter().map(SessionRow::to_session).collect(),
        id: row.id,
        title: row.title,
        summary: row.summary,
        summary_html: row.summary_html,
        status: row.status,
        format: row.format,
        provider_id: row.provider_id,
        capacity: row.capacity,
        per_school_cap: row.per_school_cap,
        per_school_cap_until: row.per_school_cap_until,
        price_pence: row.price_pence,
        booking_opens: row.booking_opens,
        booking_closes: row.booking_closes,
        cancellation_deadline: row.cancellation_deadline,
        requires_approval: row.requires_approval,
        completion_min_sessions: row.completion_min_sessions,
        cancel_reason: row.cancel_reason,
        revision: row.revision,
        confirmed_count: row.confirmed_count,
        sessions_count: row.sessions_count,
        first_session_start: row.first_session_start,
        last_session_end: row.last_session_end,
        created_at: row.created_at,
        updated_at: row.updated_at,
        published_at: row.published_at,
        cancelled_at: row.cancelled_at,
    })
}

/// What visibility rules need to know about a course: its status and its leads.
pub fn visibility_facts(conn: &mut DbConn, id: &str) -> AppResult<(String, Vec<String>)> {
    let status: String = courses::table
        .find(id)
        .select(courses::status)
        .first(conn)?;
    let leads = course_leads::table
        .filter(course_leads::course_id.eq(id))
        .select(course_leads::person_id)
        .load(conn)?;
    Ok((status, leads))
}

/// The course a session belongs to.
pub fn course_id_of_session(conn: &mut DbConn, session_id: &str) -> AppResult<String> {
    Ok(course_sessions::table
        .find(session_id)
        .select(course_sessions::course_id)
        .first(conn)?)
}

// ---------------------------------------------------------------------------------------------
// The calendar list

/// Applies the filter and the caller's scope to a boxed query on `courses`. A macro rather
/// than a function so the count and the page share it without naming diesel's boxed types.
macro_rules! filtered_courses {
    ($filter:expr, $scope:expr) => {{
        let filter: &CourseFilter = $filter;
        let scope: &CourseScope = $scope;
        let mut q = courses::table.into_boxed();
        // Published courses are visible to everyone, so a published-only filter needs no scope.
        let published_only = filter.statuses == [CourseStatus::Published];
        match scope {
            _ if published_only => {}
            CourseScope::All => {}
            CourseScope::Published => {
                q = q.filter(courses::status.eq(CourseStatus::Published.as_str()));
            }
            CourseScope::PublishedOrLedBy(person_id) => {
                q = q.filter(
                    courses::status
                        .eq(CourseStatus::Published.as_str())
                        .or(courses::id.eq_any(
                            course_leads::table
                                .filter(course_leads::person_id.eq(person_id.clone()))
                                .select(course_leads::course_id),
                        )),
                );
            }
        }
        if !filter.statuses.is_empty() {
            let statuses: Vec<&'static str> = filter.statuses.iter().map(|s| s.as_str()).collect();
            q = q.filter(courses::status.eq_any(statuses));
        }
        if let Some(from) = filter.from {
            q = q.filter(courses::first_session_start.ge(from));
        }
        if let Some(to) = filter.to {
            q = q.filter(courses::first_session_start.le(to));
        }
        if !filter.priorities.is_empty() {
            q = q.filter(
                courses::id.eq_any(
                    course_priorities::table
                        .inner_join(priorities::table)
                        .filter(
                            priorities::id
                                .eq_any(filter.priorities.clone())
                                .or(priorities::key.eq_any(filter.priorities.clone())),
                        )
                        .select(course_priorities::course_id),
                ),
            );
        }
        if !filter.staff_groups.is_empty() {
            q = q.filter(
                courses::id
                    .eq_any(
                        course_staff_groups::table
                            .inner_join(staff_groups::table)
                            .filter(
                                staff_groups::id
                                    .eq_any(filter.staff_groups.clone())
                                    .or(staff_groups::key.eq_any(filter.staff_groups.clone())),
                            )
                            .select(course_staff_groups::course_id),
                    )
                    .or(diesel::dsl::not(diesel::dsl::exists(
                        course_staff_groups::table
                            .filter(course_staff_groups::course_id.eq(courses::id)),
                    ))),
            );
        }
        if !filter.phases.is_empty() {
            q = q.filter(
                courses::id
                    .eq_any(
                        course_phases::table
                            .filter(course_phases::phase.eq_any(filter.phases.clone()))
                            .select(course_phases::course_id),
                    )
                    .or(diesel::dsl::not(diesel::dsl::exists(
                        course_phases::table.filter(course_phases::course_id.eq(courses::id)),
                    ))),
            );
        }
        if let Some(cluster) = &filter.cluster_id {
            q = q.filter(courses::cluster_id.eq(cluster.clone()));
        }
        if !filter.formats.is_empty() {
            q = q.filter(courses::format.eq_any(filter.formats.clone()));
        }
        for word in &filter.words {
            q = q.filter(courses::search_text.like(like_pattern(word)).escape('\\'));
        }
        match filter.has_places {
            Some(true) => q = q.filter(courses::confirmed_count.lt(courses::capacity)),
            Some(false) => q = q.filter(courses::confirmed_count.ge(courses::capacity)),
            None => {}
        }
        q
    }};
}

/// A number that rises with every change the calendar list can show (database triggers keep
/// it, whoever writes). A list response made after reading generation `n` holds for as long as
/// the generation is still `n`.
pub fn calendar_generation(conn: &mut DbConn) -> QueryResult<i64> {
    calendar_generation::table
        .find(1)
        .select(calendar_generation::n)
        .first(conn)
}

/// Whether every course the filter and scope can return is published, so none lacks a first
/// session and the list can be ordered straight off the `(status, first_session_start)` index.
fn only_published(filter: &CourseFilter, scope: &CourseScope) -> bool {
    filter.statuses == [CourseStatus::Published]
        || (matches!(scope, CourseScope::Published)
            && (filter.statuses.is_empty() || filter.statuses.contains(&CourseStatus::Published)))
}

/// Loads the courses on one page, in calendar order: by first session, courses
/// without sessions last (the same on both backends).
fn page_rows(
    conn: &mut DbConn,
    filter: &CourseFilter,
    scope: &CourseScope,
    limit: i64,
    offset: i64,
) -> QueryResult<Vec<SummaryRow>> {
    let q = filtered_courses!(filter, scope);
    let q = if only_published(filter, scope) {
        q.order((courses::first_session_start.asc(), courses::id.asc()))
    } else {
        q.order((
            courses::first_session_start.is_null().asc(),
            courses::first_session_start.asc(),
            courses::id.asc(),
        ))
    };
    q.limit(limit)
        .offset(offset)
        .select(SummaryRow::as_select())
        .load(conn)
}

/// The calendar: courses matching the filter that the scope lets the caller see, ordered by
/// first session. A fixed number of queries whatever the page size: the count, the page, and
/// one each for the page's providers, priorities, staff groups and phases.
pub fn list_courses(
    conn: &mut DbConn,
    filter: &CourseFilter,
    scope: &CourseScope,
    paging: Paging,
) -> AppResult<Page<CourseSummary>> {
    crate::db::read_tx(conn, |conn| {
        let total: i64 = filtered_courses!(filter, scope).count().get_result(conn)?;
        let rows = if total > paging.offset {
            page_rows(conn, filter, scope, paging.limit, paging.offset)?
        } else {
            Vec::new()
        };
        let items = summarise(conn, rows)?;
        Ok(Page { items, total })
    })
}

fn summarise(conn: &mut DbConn, rows: Vec<SummaryRow>) -> AppResult<Vec<CourseSummary>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let provider_ids: Vec<String> = rows
        .iter()
        .map(|r| r.provider_id.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let provider_names: HashMap<String, String> = providers::table
        .filter(providers::id.eq_any(&provider_ids))
        .select((providers::id, providers::name))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    let mut prios = by_course(
        course_priorities::table
            .inner_join(priorities::table)
            .filter(course_priorities::course_id.eq_any(&ids))
            .order((priorities::position.asc(), priorities::name.asc()))
            .select((
                course_priorities::course_id,
                (priorities::id, priorities::key, priorities::name),
            ))
            .load::<(String, Tag)>(conn)?,
    );
    let mut groups = by_course(
        course_staff_groups::table
            .inner_join(staff_groups::table)
            .filter(course_staff_groups::course_id.eq_any(&ids))
            .order((staff_groups::position.asc(), staff_groups::name.asc()))
            .select((
                course_staff_groups::course_id,
                (staff_groups::id, staff_groups::key, staff_groups::name),
            ))
            .load::<(String, Tag)>(conn)?,
    );
    let mut phases = by_course(
        course_phases::table
            .filter(course_phases::course_id.eq_any(&ids))
            .select((course_phases::course_id, course_phases::phase))
            .load::<(String, String)>(conn)?,
    );
    Ok(rows
        .into_iter()
        .map(|r| {
            let mut course_phases = phases.remove(&r.id).unwrap_or_default();
            sort_phases(&mut course_phases);
            CourseSummary {
                provider: Named {
                    name: provider_names
                        .get(&r.provider_id)
                        .cloned()
                        .unwrap_or_default(),
                    id: r.provider_id,
                },
                priorities: prios.remove(&r.id).unwrap_or_default(),
                staff_groups: groups.remove(&r.id).unwrap_or_default(),
                phases: course_phases,
                places_left: (r.capacity - r.confirmed_count).max(0),
                waitlist_length: r.waitlist_count,
                first_session_display: r.first_session_start.map(rules::london_start_display),
                id: r.id,
                title: r.title,
                status: r.status,
                format: r.format,
                cluster_id: r.cluster_id,
                capacity: r.capacity,
                per_school_cap: r.per_school_cap,
                price_pence: r.price_pence,
                requires_approval: r.requires_approval,
                booking_opens: r.booking_opens,
                booking_closes: r.booking_closes,
                first_session_start: r.first_session_start,
                last_session_end: r.last_session_end,
                sessions_count: r.sessions_count,
                revision: r.revision,
            }
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Calendars

/// A course as calendars show it: enough for one event per session.
#[derive(Clone, Debug)]
pub struct CalendarCourse {
    /// Opaque id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Summary (Markdown).
    pub summary: String,
    /// `draft`, `published` or `cancelled`.
    pub status: String,
    /// `in_person`, `online` or `hybrid`.
    pub format: String,
    /// The iCalendar SEQUENCE.
    pub revision: i32,
    /// Why it was cancelled.
    pub cancel_reason: Option<String>,
    /// When it was created.
    pub created_at: NaiveDateTime,
    /// When it last changed.
    pub updated_at: NaiveDateTime,
    /// Its sessions, in order.
    pub sessions: Vec<Session>,
}

/// The courses for a calendar feed: as the list would show them (same filter, scope, order
/// and paging), with their sessions. Three queries whatever the size.
pub fn calendar_list(
    conn: &mut DbConn,
    filter: &CourseFilter,
    scope: &CourseScope,
    paging: Paging,
) -> AppResult<Vec<CalendarCourse>> {
    crate::db::read_tx(conn, |conn| {
        let ids: Vec<String> = page_rows(conn, filter, scope, paging.limit, paging.offset)?
            .into_iter()
            .map(|r| r.id)
            .collect();
        calendar_courses(conn, &ids)
    })
}

/// The given courses with their sessions, in the order of `ids` (missing ones are skipped).
pub fn calendar_courses(conn: &mut DbConn, ids: &[String]) -> AppResult<Vec<CalendarCourse>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    type Row = (
        String,
        String,
        String,
        String,
        String,
        i32,
        Option<String>,
        NaiveDateTime,
        NaiveDateTime,
    );
    let rows: Vec<Row> = courses::table
        .filter(courses::id.eq_any(ids))
        .select((
            courses::id,
            courses::title,
            courses::summary,
            courses::status,
            courses::format,
            courses::revision,
            courses::cancel_reason,
            courses::created_at,
            courses::updated_at,
        ))
        .load(conn)?;
    let mut sessions: HashMap<String, Vec<Session>> = HashMap::new();
    for s in course_sessions::table
        .filter(course_sessions::course_id.eq_any(ids))
        .order((course_sessions::start_at.asc(), course_sessions::id.asc()))
        .select(SessionRow::as_select())
        .load(conn)?
    {
        sessions
            .entry(s.course_id.clone())
            .or_default()
            .push(s.to_session());
    }
    let mut by_id: HashMap<String, CalendarCourse> = rows
        .into_iter()
        .map(|r| {
            let course = CalendarCourse {
                sessions: sessions.remove(&r.0).unwrap_or_default(),
                id: r.0,
                title: r.1,
                summary: r.2,
                status: r.3,
                format: r.4,
                revision: r.5,
                cancel_reason: r.6,
                created_at: r.7,
                updated_at: r.8,
            };
            (course.id.clone(), course)
        })
        .collect();
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

/// The courses in a person's personal calendar feed, by first session.
pub fn feed_courses(conn: &mut DbConn, person_id: &str) -> AppResult<Vec<CalendarCourse>> {
    crate::db::read_tx(conn, |conn| {
        let ids = feed_course_ids(conn, person_id)?;
        let mut courses = calendar_courses(conn, &ids)?;
        courses.sort_by_key(|c| (c.sessions.first().map(|s| s.start), c.id.clone()));
        Ok(courses)
    })
}

// ---------------------------------------------------------------------------------------------
// Writing

/// Takes the course row's write lock (the same one bookings take) and bumps its version;
/// `NotFound` when there is no such course.
fn lock_course(conn: &mut DbConn, id: &str) -> AppResult<()> {
    let n = diesel::update(courses::table.find(id))
        .set(courses::version.eq(courses::version + 1))
        .execute(conn)?;
    if n == 0 {
        return Err(AppError::NotFound);
    }
    Ok(())
}

fn ensure_changeable(row: &CourseRow) -> AppResult<()> {
    if row.status == CourseStatus::Cancelled.as_str() {
        return Err(AppError::conflict(
            "course_cancelled",
            "This course has been cancelled; it can no longer be changed.",
        ));
    }
    Ok(())
}

/// Title and summary, lower-cased here (not by the database) so `q` matches the same on both
/// backends, whatever the alphabet.
fn search_text(title: &str, summary: &str) -> String {
    format!("{title}\n{summary}").to_lowercase()
}

fn dedupe(ids: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(ids.len());
    for id in ids {
        let id = id.trim().to_string();
        if !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

fn report_missing(
    found: &BTreeSet<String>,
    ids: &[String],
    field: &str,
    what: &str,
    problems: &mut Problems,
) {
    for (i, id) in ids.iter().enumerate() {
        if !found.contains(id) {
            add_problem(
                problems,
                format!("{field}[{i}]"),
                format!("there is no {what} {id:?}"),
            );
        }
    }
}

/// Which of the referenced records exist; a `None` list is not being changed.
struct LinkCheck<'a> {
    provider_id: Option<&'a str>,
    cluster_id: Option<&'a str>,
    lead_ids: Option<&'a [String]>,
    priority_ids: Option<&'a [String]>,
    staff_group_ids: Option<&'a [String]>,
}

fn check_links(
    conn: &mut DbConn,
    links: LinkCheck<'_>,
    problems: &mut Problems,
) -> QueryResult<()> {
    if links.provider_id == Some("") {
        add_problem(problems, "provider_id", "is required");
    } else if let Some(pid) = links.provider_id {
        let n: i64 = providers::table
            .filter(providers::id.eq(pid))
            .count()
            .get_result(conn)?;
        if n == 0 {
            add_problem(
                problems,
                "provider_id",
                format!("there is no provider {pid:?}"),
            );
        }
    }
    if let Some(cid) = links.cluster_id {
        let n: i64 = clusters::table
            .filter(clusters::id.eq(cid))
            .count()
            .get_result(conn)?;
        if n == 0 {
            add_problem(
                problems,
                "cluster_id",
                format!("there is no cluster {cid:?}"),
            );
        }
    }
    if let Some(ids) = links.lead_ids.filter(|l| !l.is_empty()) {
        let found: BTreeSet<String> = people::table
            .filter(people::id.eq_any(ids))
            .filter(people::erased_at.is_null())
            .select(people::id)
            .load::<String>(conn)?
            .into_iter()
            .collect();
        report_missing(&found, ids, "lead_ids", "person", problems);
    }
    if let Some(ids) = links.priority_ids.filter(|l| !l.is_empty()) {
        let found: BTreeSet<String> = priorities::table
            .filter(priorities::id.eq_any(ids))
            .select(priorities::id)
            .load::<String>(conn)?
            .into_iter()
            .collect();
        report_missing(&found, ids, "priority_ids", "priority", problems);
    }
    if let Some(ids) = links.staff_group_ids.filter(|l| !l.is_empty()) {
        let found: BTreeSet<String> = staff_groups::table
            .filter(staff_groups::id.eq_any(ids))
            .select(staff_groups::id)
            .load::<String>(conn)?
            .into_iter()
            .collect();
        report_missing(&found, ids, "staff_group_ids", "staff group", problems);
    }
    Ok(())
}

fn insert_session(
    conn: &mut DbConn,
    course_id: &str,
    s: &SessionPlan,
    position: i32,
    now: NaiveDateTime,
) -> QueryResult<String> {
    let id = new_id();
    diesel::insert_into(course_sessions::table)
        .values((
            course_sessions::id.eq(&id),
            course_sessions::course_id.eq(course_id),
            course_sessions::start_at.eq(s.start),
            course_sessions::end_at.eq(s.end),
            course_sessions::venue_name.eq(s.venue.as_ref().map(|v| v.name.clone())),
            course_sessions::venue_address.eq(s.venue.as_ref().map(|v| v.address.clone())),
            course_sessions::venue_postcode.eq(s.venue.as_ref().map(|v| v.postcode.clone())),
            course_sessions::online_url.eq(&s.online_url),
            course_sessions::note.eq(&s.note),
            course_sessions::position.eq(position),
            course_sessions::created_at.eq(now),
            course_sessions::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(id)
}

/// Renumbers a course's sessions by start time and brings the course's session columns
/// (first start, last end, count) up to date.
fn refresh_sessions(conn: &mut DbConn, course_id: &str) -> QueryResult<()> {
    let rows: Vec<(String, i32, NaiveDateTime, NaiveDateTime)> = course_sessions::table
        .filter(course_sessions::course_id.eq(course_id))
        .order((course_sessions::start_at.asc(), course_sessions::id.asc()))
        .select((
            course_sessions::id,
            course_sessions::position,
            course_sessions::start_at,
            course_sessions::end_at,
        ))
        .load(conn)?;
    for (i, (id, position, _, _)) in rows.iter().enumerate() {
        let want = i as i32 + 1;
        if *position != want {
            diesel::update(course_sessions::table.find(id))
                .set(course_sessions::position.eq(want))
                .execute(conn)?;
        }
    }
    let first = rows.iter().map(|r| r.2).min();
    let last = rows.iter().map(|r| r.3).max();
    diesel::update(courses::table.find(course_id))
        .set((
            courses::first_session_start.eq(first),
            courses::last_session_end.eq(last),
            courses::sessions_count.eq(rows.len() as i32),
        ))
        .execute(conn)?;
    Ok(())
}

fn replace_links(
    conn: &mut DbConn,
    course_id: &str,
    lead_ids: Option<&[String]>,
    priority_ids: Option<&[String]>,
    staff_group_ids: Option<&[String]>,
    phases: Option<&[String]>,
) -> QueryResult<()> {
    // Each link table is replaced whole when its list is given, and left alone otherwise.
    macro_rules! replace {
        ($list:expr, $table:ident, $column:ident) => {
            if let Some(values) = $list {
                diesel::delete($table::table.filter($table::course_id.eq(course_id)))
                    .execute(conn)?;
                for value in values {
                    diesel::insert_into($table::table)
                        .values(($table::course_id.eq(course_id), $table::$column.eq(value)))
                        .execute(conn)?;
                }
            }
        };
    }
    replace!(lead_ids, course_leads, person_id);
    replace!(priority_ids, course_priorities, priority_id);
    replace!(staff_group_ids, course_staff_groups, staff_group_id);
    replace!(phases, course_phases, phase);
    Ok(())
}

fn plan_of(row: &CourseRow, sessions: &[SessionRow], phases: Vec<String>) -> CoursePlan {
    CoursePlan {
        title: row.title.clone(),
        summary: row.summary.clone(),
        format: row.format.clone(),
        capacity: row.capacity,
        per_school_cap: row.per_school_cap,
        per_school_cap_until: row.per_school_cap_until,
        price_pence: row.price_pence,
        booking_opens: row.booking_opens,
        booking_closes: row.booking_closes,
        cancellation_deadline: row.cancellation_deadline,
        requires_approval: row.requires_approval,
        completion_min_sessions: row.completion_min_sessions,
        phases,
        sessions: sessions.iter().map(SessionRow::plan).collect(),
    }
}

fn fail_if(problems: Problems) -> AppResult<()> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(AppError::Validation(problems))
    }
}

/// Creates a draft course with its sessions. Every rule is checked at once (422 naming each
/// field), including that the provider, cluster, leads, priorities and staff groups exist.
pub fn create_course(
    conn: &mut DbConn,
    actor_id: Option<&str>,
    mut plan: CoursePlan,
    links: CourseLinks,
) -> AppResult<Course> {
    plan.normalise();
    let links = CourseLinks {
        provider_id: links.provider_id.trim().to_string(),
        cluster_id: links.cluster_id.map(|c| c.trim().to_string()),
        lead_ids: dedupe(links.lead_ids),
        priority_ids: dedupe(links.priority_ids),
        staff_group_ids: dedupe(links.staff_group_ids),
    };
    write_tx(conn, |conn| {
        let mut problems = rules::check_course(&plan);
        check_links(
            conn,
            LinkCheck {
                provider_id: Some(&links.provider_id),
                cluster_id: links.cluster_id.as_deref(),
                lead_ids: Some(&links.lead_ids),
                priority_ids: Some(&links.priority_ids),
                staff_group_ids: Some(&links.staff_group_ids),
            },
            &mut problems,
        )?;
        fail_if(problems)?;
        let id = new_id();
        let now = time::now();
        diesel::insert_into(courses::table)
            .values((
                courses::id.eq(&id),
                courses::title.eq(&plan.title),
                courses::summary.eq(&plan.summary),
                courses::summary_html.eq(crate::domain::markdown::to_safe_html(&plan.summary)),
                courses::search_text.eq(search_text(&plan.title, &plan.summary)),
                courses::provider_id.eq(&links.provider_id),
                courses::cluster_id.eq(&links.cluster_id),
                courses::format.eq(&plan.format),
                courses::capacity.eq(plan.capacity),
                courses::per_school_cap.eq(plan.per_school_cap),
                courses::per_school_cap_until.eq(plan.per_school_cap_until),
                courses::price_pence.eq(plan.price_pence),
                courses::booking_opens.eq(plan.booking_opens),
                courses::booking_closes.eq(plan.booking_closes),
                courses::cancellation_deadline.eq(plan.cancellation_deadline),
                courses::requires_approval.eq(plan.requires_approval),
                courses::completion_min_sessions.eq(plan.completion_min_sessions),
                courses::status.eq(CourseStatus::Draft.as_str()),
                courses::revision.eq(0),
                courses::version.eq(0),
                courses::confirmed_count.eq(0),
                courses::waitlist_count.eq(0),
                courses::sessions_count.eq(0),
                courses::created_at.eq(now),
                courses::updated_at.eq(now),
            ))
            .execute(conn)?;
        for s in &plan.sessions {
            insert_session(conn, &id, s, 0, now)?;
        }
        refresh_sessions(conn, &id)?;
        replace_links(
            conn,
            &id,
            Some(&links.lead_ids),
            Some(&links.priority_ids),
            Some(&links.staff_group_ids),
            Some(&plan.phases),
        )?;
        super::audit::record(
            conn,
            actor_id,
            "course.create",
            "course",
            Some(&id),
            json!({"sessions": plan.sessions.len()}),
        )?;
        get_course(conn, &id)
    })
}

/// Changes a course. The merged result is checked as a whole (422 naming each field); a
/// capacity below the places already confirmed is a 409 that says how many are confirmed.
/// A changed title or summary raises the revision, so calendars replace their copy.
pub fn update_course(
    conn: &mut DbConn,
    actor_id: Option<&str>,
    base_url: &str,
    id: &str,
    patch: CoursePatch,
) -> AppResult<Course> {
    write_tx(conn, |conn| {
        lock_course(conn, id)?;
        let row = load_row(conn, id)?;
        ensure_changeable(&row)?;
        let sessions = load_sessions(conn, id)?;
        let phases = load_phases(conn, id)?;
        let before = plan_of(&row, &sessions, phases);
        let mut plan = before.clone();
        let mut changed: Vec<&str> = Vec::new();
        macro_rules! set {
            ($field:ident) => {
                if let Some(v) = patch.$field.clone() {
                    plan.$field = v;
                    changed.push(stringify!($field));
                }
            };
        }
        set!(title);
        set!(summary);
        set!(format);
        set!(capacity);
        set!(per_school_cap);
        set!(per_school_cap_until);
        set!(price_pence);
        set!(booking_opens);
        set!(booking_closes);
        set!(cancellation_deadline);
        set!(requires_approval);
        set!(completion_min_sessions);
        set!(phases);
        plan.normalise();
        let provider_id = patch.provider_id.as_ref().map(|p| p.trim().to_string());
        let cluster_id = patch
            .cluster_id
            .clone()
            .map(|c| c.map(|c| c.trim().to_string()));
        let lead_ids = patch.lead_ids.clone().map(dedupe);
        let priority_ids = patch.priority_ids.clone().map(dedupe);
        let staff_group_ids = patch.staff_group_ids.clone().map(dedupe);
        for (name, given) in [
            ("provider_id", provider_id.is_some()),
            ("cluster_id", cluster_id.is_some()),
            ("lead_ids", lead_ids.is_some()),
            ("priority_ids", priority_ids.is_some()),
            ("staff_group_ids", staff_group_ids.is_some()),
        ] {
            if given {
                changed.push(name);
            }
        }

        let mut problems = rules::check_course(&plan);
        check_links(
            conn,
            LinkCheck {
                provider_id: provider_id.as_deref(),
                cluster_id: cluster_id.as_ref().and_then(|c| c.as_deref()),
                lead_ids: lead_ids.as_deref(),
                priority_ids: priority_ids.as_deref(),
                staff_group_ids: staff_group_ids.as_deref(),
            },
            &mut problems,
        )?;
        fail_if(problems)?;
        if plan.capacity < row.confirmed_count {
            return Err(AppError::conflict(
                "capacity_below_confirmed",
                format!(
                    "{n} place{s} already confirmed on this course, so the capacity cannot go below {n}.",
                    n = row.confirmed_count,
                    s = if row.confirmed_count == 1 { " is" } else { "s are" },
                ),
            ));
        }

        if let Some(cap) = plan.per_school_cap {
            let applies = plan
                .per_school_cap_until
                .is_none_or(|until| until > time::now());
            let held = super::bookings::max_school_confirmed(conn, id)?;
            if applies && cap < held {
                return Err(AppError::conflict(
                    "cap_below_school_confirmed",
                    format!(
                        "A school already holds {held} confirmed places on this course, so the per-school cap cannot go below {held}."
                    ),
                ));
            }
        }

        let calendar_changed = plan.title != before.title || plan.summary != before.summary;
        let now = time::now();
        diesel::update(courses::table.find(id))
            .set((
                courses::title.eq(&plan.title),
                courses::summary.eq(&plan.summary),
                courses::summary_html.eq(crate::domain::markdown::to_safe_html(&plan.summary)),
                courses::search_text.eq(search_text(&plan.title, &plan.summary)),
                courses::provider_id.eq(provider_id.as_ref().unwrap_or(&row.provider_id)),
                courses::cluster_id.eq(cluster_id.clone().unwrap_or(row.cluster_id.clone())),
                courses::format.eq(&plan.format),
                courses::capacity.eq(plan.capacity),
                courses::per_school_cap.eq(plan.per_school_cap),
                courses::per_school_cap_until.eq(plan.per_school_cap_until),
                courses::price_pence.eq(plan.price_pence),
                courses::booking_opens.eq(plan.booking_opens),
                courses::booking_closes.eq(plan.booking_closes),
                courses::cancellation_deadline.eq(plan.cancellation_deadline),
                courses::requires_approval.eq(plan.requires_approval),
                courses::completion_min_sessions.eq(plan.completion_min_sessions),
                courses::revision.eq(row.revision + i32::from(calendar_changed)),
                courses::updated_at.eq(now),
            ))
            .execute(conn)?;
        replace_links(
            conn,
            id,
            lead_ids.as_deref(),
            priority_ids.as_deref(),
            staff_group_ids.as_deref(),
            patch.phases.as_ref().map(|_| plan.phases.as_slice()),
        )?;
        let cap_eased = plan.per_school_cap != before.per_school_cap
            || plan.per_school_cap_until != before.per_school_cap_until;
        if plan.capacity > before.capacity || cap_eased {
            places_may_have_freed(conn, actor_id, base_url, id)?;
        }
        super::audit::record(
            conn,
            actor_id,
            "course.update",
            "course",
            Some(id),
            json!({"fields": changed}),
        )?;
        get_course(conn, id)
    })
}

/// Publishes a draft: every rule must hold and it needs at least one session (422 saying
/// so); 409 when it is already published or was cancelled.
pub fn publish_course(conn: &mut DbConn, actor_id: Option<&str>, id: &str) -> AppResult<Course> {
    write_tx(conn, |conn| {
        lock_course(conn, id)?;
        let row = load_row(conn, id)?;
        match CourseStatus::parse(&row.status) {
            Some(CourseStatus::Published) => {
                return Err(AppError::conflict(
                    "already_published",
                    "This course is already published.",
                ))
            }
            Some(CourseStatus::Cancelled) => {
                return Err(AppError::conflict(
                    "course_cancelled",
                    "This course has been cancelled; it cannot be published.",
                ))
            }
            _ => {}
        }
        let sessions = load_sessions(conn, id)?;
        let phases = load_phases(conn, id)?;
        fail_if(rules::check_publishable(&plan_of(&row, &sessions, phases)))?;
        let now = time::now();
        diesel::update(courses::table.find(id))
            .set((
                courses::status.eq(CourseStatus::Published.as_str()),
                courses::published_at.eq(now),
                courses::updated_at.eq(now),
            ))
            .execute(conn)?;
        super::audit::record(
            conn,
            actor_id,
            "course.publish",
            "course",
            Some(id),
            json!({}),
        )?;
        get_course(conn, id)
    })
}

/// Cancels a course with a reason, in one transaction: the course becomes `cancelled` (its
/// revision rises, so calendars show the events cancelled), every active booking is
/// cancelled ([`cancel_active_bookings`]) and each person whose booking was cancelled gets
/// one `course_cancelled` message in the outbox. 409 when it is already cancelled.
pub fn cancel_course(
    conn: &mut DbConn,
    actor_id: Option<&str>,
    base_url: &str,
    id: &str,
    reason: &str,
) -> AppResult<Course> {
    fail_if(rules::check_reason(reason))?;
    let reason = reason.trim();
    write_tx(conn, |conn| {
        lock_course(conn, id)?;
        let row = load_row(conn, id)?;
        if row.status == CourseStatus::Cancelled.as_str() {
            return Err(AppError::conflict(
                "already_cancelled",
                "This course is already cancelled.",
            ));
        }
        let now = time::now();
        diesel::update(courses::table.find(id))
            .set((
                courses::status.eq(CourseStatus::Cancelled.as_str()),
                courses::cancel_reason.eq(reason),
                courses::cancelled_at.eq(now),
                courses::revision.eq(courses::revision + 1),
                courses::updated_at.eq(now),
            ))
            .execute(conn)?;
        let cancelled = cancel_active_bookings(conn, id, actor_id, reason)?;
        super::bookings::notify_course_cancelled(
            conn,
            super::bookings::Ctx {
                actor_id,
                now,
                base_url,
            },
            id,
            reason,
            &cancelled,
        )?;
        super::audit::record(
            conn,
            actor_id,
            "course.cancel",
            "course",
            Some(id),
            json!({
                "reason": reason,
                "previous_status": row.status,
                "bookings_cancelled": cancelled.len(),
            }),
        )?;
        get_course(conn, id)
    })
}

/// After a change to a course's sessions: renumber, refresh the course's session columns,
/// raise the revision, and tell booked people when the course is published.
fn sessions_changed(
    conn: &mut DbConn,
    actor_id: Option<&str>,
    base_url: &str,
    row: &CourseRow,
    cancelled_sessions: serde_json::Value,
) -> AppResult<()> {
    refresh_sessions(conn, &row.id)?;
    diesel::update(courses::table.find(&row.id))
        .set((
            courses::revision.eq(courses::revision + 1),
            courses::updated_at.eq(time::now()),
        ))
        .execute(conn)?;
    if row.status == CourseStatus::Published.as_str() {
        let ctx = super::bookings::Ctx {
            actor_id,
            now: time::now(),
            base_url,
        };
        super::bookings::notify_course_changed(conn, ctx, &row.id, cancelled_sessions)?;
    }
    Ok(())
}

fn session_prefix(edited: usize) -> impl Fn(usize) -> String {
    move |i| {
        if i == edited {
            String::new()
        } else {
            format!("sessions[{i}].")
        }
    }
}

fn load_session(conn: &mut DbConn, id: &str) -> AppResult<Session> {
    Ok(course_sessions::table
        .find(id)
        .select(SessionRow::as_select())
        .first(conn)?
        .to_session())
}

/// Adds a session to a course (not a cancelled one). The session's own fields are named
/// without a prefix in a 422; rules about the whole course (the booking window must close
/// before the first session) name the course's fields.
pub fn add_session(
    conn: &mut DbConn,
    actor_id: Option<&str>,
    base_url: &str,
    course_id: &str,
    mut session: SessionPlan,
) -> AppResult<Session> {
    session.normalise();
    write_tx(conn, |conn| {
        lock_course(conn, course_id)?;
        let row = load_row(conn, course_id)?;
        ensure_changeable(&row)?;
        let sessions = load_sessions(conn, course_id)?;
        let mut plan = plan_of(&row, &sessions, load_phases(conn, course_id)?);
        let edited = plan.sessions.len();
        plan.sessions.push(session.clone());
        fail_if(rules::check_course_named(&plan, &session_prefix(edited)))?;
        let sid = insert_session(conn, course_id, &session, 0, time::now())?;
        sessions_changed(conn, actor_id, base_url, &row, serde_json::json!([]))?;
        super::audit::record(
            conn,
            actor_id,
            "session.create",
            "course",
            Some(course_id),
            json!({"session_id": sid}),
        )?;
        load_session(conn, &sid)
    })
}

/// Changes a session; checked with its course as for [`add_session`].
pub fn update_session(
    conn: &mut DbConn,
    actor_id: Option<&str>,
    base_url: &str,
    session_id: &str,
    patch: SessionPatch,
) -> AppResult<Session> {
    write_tx(conn, |conn| {
        let course_id = course_id_of_session(conn, session_id)?;
        lock_course(conn, &course_id)?;
        let row = load_row(conn, &course_id)?;
        ensure_changeable(&row)?;
        let sessions = load_sessions(conn, &course_id)?;
        let edited = sessions
            .iter()
            .position(|s| s.id == session_id)
            .ok_or(AppError::NotFound)?;
        let mut plan = plan_of(&row, &sessions, load_phases(conn, &course_id)?);
        let before = plan.sessions[edited].clone();
        let s = &mut plan.sessions[edited];
        if let Some(v) = patch.start {
            s.start = v;
        }
        if let Some(v) = patch.end {
            s.end = v;
        }
        if let Some(v) = patch.venue {
            s.venue = v;
        }
        if let Some(v) = patch.online_url {
            s.online_url = v;
        }
        if let Some(v) = patch.note {
            s.note = v;
        }
        s.normalise();
        let after = s.clone();
        fail_if(rules::check_course_named(&plan, &session_prefix(edited)))?;
        if after == before {
            return load_session(conn, session_id);
        }
        diesel::update(course_sessions::table.find(session_id))
            .set((
                course_sessions::start_at.eq(after.start),
                course_sessions::end_at.eq(after.end),
                course_sessions::venue_name.eq(after.venue.as_ref().map(|v| v.name.clone())),
                course_sessions::venue_address.eq(after.venue.as_ref().map(|v| v.address.clone())),
                course_sessions::venue_postcode
                    .eq(after.venue.as_ref().map(|v| v.postcode.clone())),
                course_sessions::online_url.eq(&after.online_url),
                course_sessions::note.eq(&after.note),
                course_sessions::updated_at.eq(time::now()),
            ))
            .execute(conn)?;
        sessions_changed(conn, actor_id, base_url, &row, serde_json::json!([]))?;
        super::audit::record(
            conn,
            actor_id,
            "session.update",
            "course",
            Some(&course_id),
            json!({"session_id": session_id}),
        )?;
        load_session(conn, session_id)
    })
}

/// Removes a session. A published course keeps at least one (409: cancel the course
/// instead); the rest of the course must still hold (e.g. the completion rule); a session
/// with attendance recorded stays (409 `session_has_attendance`).
pub fn delete_session(
    conn: &mut DbConn,
    actor_id: Option<&str>,
    base_url: &str,
    session_id: &str,
) -> AppResult<()> {
    write_tx(conn, |conn| {
        let course_id = course_id_of_session(conn, session_id)?;
        lock_course(conn, &course_id)?;
        let row = load_row(conn, &course_id)?;
        ensure_changeable(&row)?;
        if super::attendance::session_has_attendance(conn, session_id)? {
            return Err(AppError::conflict(
                "session_has_attendance",
                "Attendance has been recorded for this session, so it cannot be deleted: its \
                 register is part of people's CPD records. Change its times instead.",
            ));
        }
        let sessions = load_sessions(conn, &course_id)?;
        if row.status == CourseStatus::Published.as_str() && sessions.len() <= 1 {
            return Err(AppError::conflict(
                "last_session",
                "A published course needs at least one session; cancel the course instead.",
            ));
        }
        let remaining: Vec<SessionRow> = sessions
            .into_iter()
            .filter(|s| s.id != session_id)
            .collect();
        fail_if(rules::check_course(&plan_of(
            &row,
            &remaining,
            load_phases(conn, &course_id)?,
        )))?;
        let removed = super::bookings::sessions_json(conn, &course_id, Some(session_id))?;
        diesel::delete(course_sessions::table.find(session_id)).execute(conn)?;
        sessions_changed(conn, actor_id, base_url, &row, removed)?;
        super::audit::record(
            conn,
            actor_id,
            "session.delete",
            "course",
            Some(&course_id),
            json!({"session_id": session_id}),
        )?;
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// Bulk loading (benchmarks, demo data)

/// A course to load in bulk, already known to be valid.
#[derive(Clone, Debug)]
pub struct BulkCourse {
    /// The course and its sessions.
    pub plan: CoursePlan,
    /// What it refers to.
    pub links: CourseLinks,
    /// Its status.
    pub status: CourseStatus,
    /// Places confirmed and people waiting, as the bookings code would keep them.
    pub confirmed_count: i32,
    /// People waiting.
    pub waitlist_count: i32,
}

/// Inserts many courses in one write transaction, without the per-course checks and
/// read-backs of [`create_course`]: for benchmark and demo data that is valid by
/// construction. Returns how many were inserted.
pub fn bulk_insert(conn: &mut DbConn, batch: &[BulkCourse]) -> AppResult<usize> {
    write_tx(conn, |conn| {
        let now = time::now();
        for c in batch {
            let id = new_id();
            let plan = &c.plan;
            diesel::insert_into(courses::table)
                .values((
                    courses::id.eq(&id),
                    courses::title.eq(&plan.title),
                    courses::summary.eq(&plan.summary),
                    courses::summary_html.eq(crate::domain::markdown::to_safe_html(&plan.summary)),
                    courses::search_text.eq(search_text(&plan.title, &plan.summary)),
                    courses::provider_id.eq(&c.links.provider_id),
                    courses::cluster_id.eq(&c.links.cluster_id),
                    courses::format.eq(&plan.format),
                    courses::capacity.eq(plan.capacity),
                    courses::per_school_cap.eq(plan.per_school_cap),
                    courses::per_school_cap_until.eq(plan.per_school_cap_until),
                    courses::price_pence.eq(plan.price_pence),
                    courses::booking_opens.eq(plan.booking_opens),
                    courses::booking_closes.eq(plan.booking_closes),
                    courses::cancellation_deadline.eq(plan.cancellation_deadline),
                    courses::requires_approval.eq(plan.requires_approval),
                    courses::completion_min_sessions.eq(plan.completion_min_sessions),
                    courses::status.eq(c.status.as_str()),
                    courses::confirmed_count.eq(c.confirmed_count),
                    courses::waitlist_count.eq(c.waitlist_count),
                    courses::sessions_count.eq(plan.sessions.len() as i32),
                    courses::first_session_start.eq(plan.first_start()),
                    courses::last_session_end.eq(plan.last_end()),
                    courses::created_at.eq(now),
                    courses::updated_at.eq(now),
                    courses::published_at.eq((c.status != CourseStatus::Draft).then_some(now)),
                    courses::cancelled_at.eq((c.status == CourseStatus::Cancelled).then_some(now)),
                ))
                .execute(conn)?;
            let mut sessions: Vec<&SessionPlan> = plan.sessions.iter().collect();
            sessions.sort_by_key(|s| s.start);
            for (i, s) in sessions.into_iter().enumerate() {
                insert_session(conn, &id, s, i as i32 + 1, now)?;
            }
            replace_links(
                conn,
                &id,
                Some(&c.links.lead_ids),
                Some(&c.links.priority_ids),
                Some(&c.links.staff_group_ids),
                Some(&plan.phases),
            )?;
        }
        Ok(batch.len())
    })
}

/// Groups `(course id, value)` rows by course, keeping the rows' order within each course.
fn by_course<T>(rows: Vec<(String, T)>) -> HashMap<String, Vec<T>> {
    let mut out: HashMap<String, Vec<T>> = HashMap::new();
    for (course_id, value) in rows {
        out.entry(course_id).or_default().push(value);
    }
    out
}
