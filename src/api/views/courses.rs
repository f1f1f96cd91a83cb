//! Courses and their sessions.

use chrono::NaiveDateTime;
use serde::Serialize;

use super::view;
use crate::domain::course::{CourseStatus, Venue};

view! {
    /// Another record, by id and name.
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct Named from crate::store::courses::Named {
        /// Its id.
        pub id: String,
        /// Its name.
        pub name: String,
    }

    /// A strategy priority or staff group as a course shows it.
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct Tag from crate::store::courses::Tag {
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
    #[derive(Debug, Serialize, utoipa::ToSchema)]
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
    pub struct Session from crate::store::courses::Session {
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
    #[derive(Debug, Serialize, utoipa::ToSchema)]
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
    pub struct Course from crate::store::courses::Course {
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
    #[derive(Debug, Serialize, utoipa::ToSchema)]
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
    pub struct CourseSummary from crate::store::courses::CourseSummary {
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
}
