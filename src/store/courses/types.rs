//! The shapes of a course on both sides of the store: what callers see, the rows it is read
//! into, and the input a create or update brings, kept together because each follows the others.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::{course_sessions, courses};
use crate::domain::course::{self as rules, CourseStatus, SessionPlan, Venue};

// ---------------------------------------------------------------------------------------------
// What callers see

/// Another record, by id and name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Named {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
}

/// A strategy priority or staff group as a course shows it.
#[derive(Clone, Debug, PartialEq, Eq, Queryable, Serialize)]
pub struct Tag {
    /// Its id.
    pub id: String,
    /// Its stable key, e.g. `send`.
    pub key: String,
    /// Its name.
    pub name: String,
}

/// A session of a course: times in UTC, and as shown in Europe/London.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Session {
    /// Opaque id.
    pub id: String,
    /// The course.
    pub course_id: String,
    /// 1-based order by start time.
    pub position: i32,
    /// Start, RFC 3339 UTC.
    #[serde(with = "crate::domain::time::rfc3339")]
    pub start: NaiveDateTime,
    /// End, RFC 3339 UTC.
    #[serde(with = "crate::domain::time::rfc3339")]
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
#[derive(Clone, Debug, Serialize)]
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
    pub status: String,
    /// `in_person`, `online` or `hybrid`.
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
    pub per_school_cap_until: Option<NaiveDateTime>,
    /// Price of a place in pence (0: free).
    pub price_pence: i32,
    /// Booking opens (null: on publication).
    #[serde(with = "crate::domain::time::rfc3339::option")]
    pub booking_opens: Option<NaiveDateTime>,
    /// Booking closes (null: when the first session starts).
    #[serde(with = "crate::domain::time::rfc3339::option")]
    pub booking_closes: Option<NaiveDateTime>,
    /// Cancelling after this is a late cancellation.
    #[serde(with = "crate::domain::time::rfc3339::option")]
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
    pub first_session_start: Option<NaiveDateTime>,
    /// When the last session ends.
    #[serde(with = "crate::domain::time::rfc3339::option")]
    pub last_session_end: Option<NaiveDateTime>,
    /// The sessions, in order.
    pub sessions: Vec<Session>,
    /// When it was created.
    #[serde(with = "crate::domain::time::rfc3339")]
    pub created_at: NaiveDateTime,
    /// When it last changed.
    #[serde(with = "crate::domain::time::rfc3339")]
    pub updated_at: NaiveDateTime,
    /// When it was published.
    #[serde(with = "crate::domain::time::rfc3339::option")]
    pub published_at: Option<NaiveDateTime>,
    /// When it was cancelled.
    #[serde(with = "crate::domain::time::rfc3339::option")]
    pub cancelled_at: Option<NaiveDateTime>,
}

/// A course as the calendar list shows it.
#[derive(Clone, Debug, Serialize)]
pub struct CourseSummary {
    /// Opaque id.
    pub id: String,
    /// Title.
    pub title: String,
    /// `draft`, `published` or `cancelled`.
    pub status: String,
    /// `in_person`, `online` or `hybrid`.
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
    pub booking_opens: Option<NaiveDateTime>,
    /// Booking closes (null: when the first session starts).
    #[serde(with = "crate::domain::time::rfc3339::option")]
    pub booking_closes: Option<NaiveDateTime>,
    /// When the first session starts.
    #[serde(with = "crate::domain::time::rfc3339::option")]
    pub first_session_start: Option<NaiveDateTime>,
    /// The first session's start for people, in Europe/London.
    pub first_session_display: Option<String>,
    /// When the last session ends.
    #[serde(with = "crate::domain::time::rfc3339::option")]
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
pub(super) struct CourseRow {
    pub(super) id: String,
    pub(super) title: String,
    pub(super) summary: String,
    pub(super) summary_html: String,
    pub(super) provider_id: String,
    pub(super) cluster_id: Option<String>,
    pub(super) format: String,
    pub(super) capacity: i32,
    pub(super) per_school_cap: Option<i32>,
    pub(super) per_school_cap_until: Option<NaiveDateTime>,
    pub(super) price_pence: i32,
    pub(super) booking_opens: Option<NaiveDateTime>,
    pub(super) booking_closes: Option<NaiveDateTime>,
    pub(super) cancellation_deadline: Option<NaiveDateTime>,
    pub(super) requires_approval: bool,
    pub(super) completion_min_sessions: Option<i32>,
    pub(super) status: String,
    pub(super) cancel_reason: Option<String>,
    pub(super) revision: i32,
    pub(super) confirmed_count: i32,
    pub(super) waitlist_count: i32,
    pub(super) sessions_count: i32,
    pub(super) first_session_start: Option<NaiveDateTime>,
    pub(super) last_session_end: Option<NaiveDateTime>,
    pub(super) created_at: NaiveDateTime,
    pub(super) updated_at: NaiveDateTime,
    pub(super) published_at: Option<NaiveDateTime>,
    pub(super) cancelled_at: Option<NaiveDateTime>,
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = courses)]
pub(super) struct SummaryRow {
    pub(super) id: String,
    pub(super) title: String,
    pub(super) status: String,
    pub(super) format: String,
    pub(super) provider_id: String,
    pub(super) cluster_id: Option<String>,
    pub(super) capacity: i32,
    pub(super) confirmed_count: i32,
    pub(super) waitlist_count: i32,
    pub(super) per_school_cap: Option<i32>,
    pub(super) price_pence: i32,
    pub(super) requires_approval: bool,
    pub(super) booking_opens: Option<NaiveDateTime>,
    pub(super) booking_closes: Option<NaiveDateTime>,
    pub(super) first_session_start: Option<NaiveDateTime>,
    pub(super) last_session_end: Option<NaiveDateTime>,
    pub(super) sessions_count: i32,
    pub(super) revision: i32,
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = course_sessions)]
pub(super) struct SessionRow {
    pub(super) id: String,
    pub(super) course_id: String,
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

    pub(super) fn plan(&self) -> SessionPlan {
        SessionPlan {
            start: self.start_at,
            end: self.end_at,
            venue: self.venue(),
            online_url: self.online_url.clone(),
            note: self.note.clone(),
        }
    }

    pub(super) fn to_session(&self) -> Session {
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

/// A session as a course's edit page saves it: one of the course's sessions (by id) as it
/// should now be, or a new one.
#[derive(Clone, Debug)]
pub struct SessionEdit {
    /// The existing session's id; `None` for a new session.
    pub id: Option<String>,
    /// The session as it should be.
    pub plan: SessionPlan,
}

/// A course saved from its edit page, and how many people holding a place were sent an
/// updated calendar entry.
#[derive(Clone, Debug)]
pub struct Edited {
    /// The course as saved.
    pub course: Course,
    /// People sent an updated calendar entry.
    pub told: usize,
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
    /// From any of these providers (ids).
    pub provider_ids: Vec<String>,
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
