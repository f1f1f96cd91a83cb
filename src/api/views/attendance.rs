//! Registers, walk-ins, check-ins, CPD records and attendance exports.

use chrono::NaiveDateTime;
use serde::Serialize;

use super::bookings::Booking;
use super::courses::Named;
use super::view;
use crate::domain::attendance::{AttendanceStatus, Source};

view! {
    /// The session a register is for.
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct RegisterSession from crate::store::attendance::RegisterSession {
        /// The session's id.
        pub id: String,
        /// Its course.
        pub course_id: String,
        /// The course's title.
        pub course_title: String,
        /// 1-based place among the course's sessions, by start time.
        pub position: i32,
        /// How many sessions the course has.
        pub sessions_count: i32,
        /// Whether this is the course's last session (its register completes the course).
        pub is_last: bool,
        /// Start (RFC 3339, UTC).
        #[serde(with = "crate::domain::time::rfc3339")]
        #[schema(value_type = String, format = DateTime)]
        pub start: NaiveDateTime,
        /// End (RFC 3339, UTC).
        #[serde(with = "crate::domain::time::rfc3339")]
        #[schema(value_type = String, format = DateTime)]
        pub end: NaiveDateTime,
        /// Start in Europe/London, with the offset.
        pub local_start: String,
        /// End in Europe/London, with the offset.
        pub local_end: String,
        /// E.g. `Thu 14 Jan 2027, 09:00-12:00` (Europe/London).
        pub display: String,
        /// The venue's name, for an in-person session.
        pub venue_name: Option<String>,
        /// The joining link, for an online session.
        pub online_url: Option<String>,
        /// The code attendees type to check themselves in (six characters).
        pub check_in_code: String,
        /// Self check-in opens (RFC 3339, UTC).
        #[serde(with = "crate::domain::time::rfc3339")]
        #[schema(value_type = String, format = DateTime)]
        pub check_in_opens_at: NaiveDateTime,
        /// Checking in after this marks someone late.
        #[serde(with = "crate::domain::time::rfc3339")]
        #[schema(value_type = String, format = DateTime)]
        pub check_in_late_after: NaiveDateTime,
        /// Self check-in closes (the session's end).
        #[serde(with = "crate::domain::time::rfc3339")]
        #[schema(value_type = String, format = DateTime)]
        pub check_in_closes_at: NaiveDateTime,
        /// Whether the register is locked: only admins may change it now.
        pub locked: bool,
        /// When the register locks (`REGISTER_LOCK_DAYS` after the session ends).
        #[serde(with = "crate::domain::time::rfc3339")]
        #[schema(value_type = String, format = DateTime)]
        pub locks_at: NaiveDateTime,
        /// When the register was first saved (null: not yet).
        #[serde(with = "crate::domain::time::rfc3339::option")]
        #[schema(value_type = Option<String>, format = DateTime)]
        pub register_recorded_at: Option<NaiveDateTime>,
    }

    /// One person on a register.
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct RegisterItem from crate::store::attendance::RegisterItem {
        /// Their booking.
        pub booking_id: String,
        /// The person.
        pub person: Named,
        /// Their school when they booked.
        pub school: Option<Named>,
        /// The staff group they booked as.
        pub staff_group: Option<Named>,
        /// What the register says (null: nothing recorded yet).
        pub status: Option<AttendanceStatus>,
        /// The lead's note, if any.
        pub note: Option<String>,
        /// Whether they came as a walk-in.
        pub walk_in: bool,
        /// How the mark was made: `register`, `check_in` or `walk_in` (null: no mark).
        pub source: Option<Source>,
        /// When the mark was made.
        #[serde(with = "crate::domain::time::rfc3339::option")]
        #[schema(value_type = Option<String>, format = DateTime)]
        pub recorded_at: Option<NaiveDateTime>,
    }

    /// How many people have each status.
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct RegisterCounts from crate::store::attendance::RegisterCounts {
        /// People on the register.
        pub total: usize,
        /// Present.
        pub present: usize,
        /// Late.
        pub late: usize,
        /// Left early.
        pub left_early: usize,
        /// Absent.
        pub absent: usize,
        /// Apologies.
        pub apologies: usize,
        /// Nothing recorded yet.
        pub unrecorded: usize,
    }

    /// A session's register: its confirmed bookings, ordered by name, with their marks.
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct Register from crate::store::attendance::Register {
        /// The session.
        pub session: RegisterSession,
        /// The people, by name.
        pub items: Vec<RegisterItem>,
        /// Totals per status.
        pub counts: RegisterCounts,
    }

    /// One change to a register.
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct HistoryItem from crate::store::attendance::HistoryItem {
        /// The entry's id.
        pub id: String,
        /// The booking.
        pub booking_id: String,
        /// The person booked.
        pub person: Named,
        /// When.
        #[serde(with = "crate::domain::time::rfc3339")]
        #[schema(value_type = String, format = DateTime)]
        pub at: NaiveDateTime,
        /// Who made the change (null: the system).
        pub actor: Option<Named>,
        /// The status before (null: nothing recorded).
        pub from: Option<AttendanceStatus>,
        /// The status after.
        pub to: AttendanceStatus,
        /// The note as of this change.
        pub note: Option<String>,
        /// `register`, `check_in` or `walk_in`.
        pub source: Source,
        /// An admin changed a locked register.
        pub admin_override: bool,
    }

    /// What a walk-in did.
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct WalkIn from crate::store::attendance::WalkIn {
        /// The booking: a new walk-in booking, or the confirmed one the person already held.
        pub booking: Booking,
        /// Whether a new booking was made (false: they were booked already).
        pub booked: bool,
        /// Whether a new person record was made for them.
        pub person_created: bool,
        /// The register after the walk-in was marked present.
        pub register: Register,
    }

    /// What a self check-in did.
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct CheckedIn from crate::store::attendance::CheckedIn {
        /// The session.
        pub session_id: String,
        /// Its course.
        pub course_id: String,
        /// The course's title.
        pub course_title: String,
        /// E.g. `Thu 14 Jan 2027, 09:00-12:00`.
        pub session_display: String,
        /// The person's booking.
        pub booking_id: String,
        /// Their status on the register now.
        pub status: AttendanceStatus,
        /// True when this check-in recorded it; false when the register already had a mark
        /// (a check-in never overwrites what a course lead recorded).
        pub recorded: bool,
    }

    /// One session in a person's CPD record.
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct SessionRecord from crate::store::attendance::SessionRecord {
        /// The session.
        pub session_id: String,
        /// 1-based place in the course.
        pub position: i32,
        /// Start (RFC 3339, UTC).
        #[serde(with = "crate::domain::time::rfc3339")]
        #[schema(value_type = String, format = DateTime)]
        pub start: NaiveDateTime,
        /// End.
        #[serde(with = "crate::domain::time::rfc3339")]
        #[schema(value_type = String, format = DateTime)]
        pub end: NaiveDateTime,
        /// E.g. `Thu 14 Jan 2027, 09:00-12:00` (Europe/London).
        pub display: String,
        /// Whether it has been held (started).
        pub held: bool,
        /// What the register says.
        pub status: Option<AttendanceStatus>,
        /// Minutes counted for it (its length when attended and held, else 0).
        pub minutes: i64,
    }

    /// A term or academic year, as a record groups by.
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct Period from crate::store::attendance::Period {
        /// Stable key: `2026-27-autumn` for a term, `2026-27` for an academic year.
        pub key: String,
        /// For people: `Autumn 2026/27`, `2026/27`.
        pub label: String,
    }

    /// One course in a person's CPD record.
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct CourseRecord from crate::store::attendance::CourseRecord {
        /// The course.
        pub course_id: String,
        /// Its title.
        pub title: String,
        /// The person's booking.
        pub booking_id: String,
        /// Whether they came as a walk-in.
        pub walk_in: bool,
        /// The completion rule: attend at least this many held sessions (null: every one).
        pub completion_min_sessions: Option<i32>,
        /// The course's sessions, in order.
        pub sessions: Vec<SessionRecord>,
        /// Sessions the course has.
        pub sessions_total: usize,
        /// Sessions held so far.
        pub sessions_held: usize,
        /// Held sessions attended (present, late or left early).
        pub sessions_attended: usize,
        /// Minutes of the attended sessions (from their times).
        pub minutes_attended: i64,
        /// The same in hours, to the nearest quarter.
        pub hours_attended: f64,
        /// Complete under the course's rule.
        pub complete: bool,
        /// Every session has been held (so completion will not change by itself).
        pub finished: bool,
        /// The term of the course's first session.
        pub term: Option<Period>,
    }

    /// Totals for one term or academic year, counted by session date: each attended session in
    /// the period it was held in; a completed course in the period of its last held session.
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct PeriodTotals from crate::store::attendance::PeriodTotals {
        /// The term or year.
        #[serde(flatten)]
        pub period: Period,
        /// Courses with a session attended in the period.
        pub courses: usize,
        /// Courses completed (their last held session in the period).
        pub courses_completed: usize,
        /// Sessions attended.
        pub sessions_attended: usize,
        /// Minutes attended.
        pub minutes_attended: i64,
        /// Hours attended, to the nearest quarter.
        pub hours_attended: f64,
    }

    /// Totals over the whole record.
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct RecordTotals from crate::store::attendance::RecordTotals {
        /// Courses on the record.
        pub courses: usize,
        /// Courses completed.
        pub courses_completed: usize,
        /// Sessions attended.
        pub sessions_attended: usize,
        /// Minutes attended.
        pub minutes_attended: i64,
        /// Hours attended, to the nearest quarter.
        pub hours_attended: f64,
    }

    /// A person's CPD record: the courses they hold a confirmed place on, what they attended,
    /// hours and completion, with term and academic-year totals.
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct CpdRecord from crate::store::attendance::CpdRecord {
        /// The person.
        pub person: Named,
        /// Their school now.
        pub school: Option<Named>,
        /// Their courses, newest first.
        pub courses: Vec<CourseRecord>,
        /// Totals per term, oldest first.
        pub terms: Vec<PeriodTotals>,
        /// Totals per academic year, oldest first.
        pub academic_years: Vec<PeriodTotals>,
        /// Totals over everything.
        pub totals: RecordTotals,
    }

    /// An attendance mark as a person's data export shows it.
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct AttendanceExport from crate::store::attendance::AttendanceExport {
        /// The booking.
        pub booking_id: String,
        /// The session.
        pub session_id: String,
        /// The course.
        pub course_id: String,
        /// `present`, `late`, `left_early`, `absent` or `apologies`.
        pub status: String,
        /// The lead's note.
        pub note: Option<String>,
        /// `register`, `check_in` or `walk_in`.
        pub source: String,
        /// When it was recorded.
        #[serde(with = "crate::domain::time::rfc3339")]
        #[schema(value_type = String, format = DateTime)]
        pub recorded_at: NaiveDateTime,
    }
}
