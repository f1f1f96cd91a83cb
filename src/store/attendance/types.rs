//! What callers hand in and get back (registers, marks, walk-ins, CPD records), and the rows
//! the store reads attendance into.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::config::AttendanceSettings;
use crate::db::schema::{course_sessions, courses};
use crate::db::DbConn;
use crate::domain::attendance::{self as rules, AttendanceStatus, Source};
use crate::domain::course::london_start_display;
use crate::error::{AppError, AppResult};
use crate::store::bookings::Booking;
use crate::store::courses::Named;

/// The longest note a register keeps per person and session.
pub const NOTE_MAX: usize = 1000;

/// The most marks one register save takes.
pub const MARKS_MAX: usize = 2000;

// ---------------------------------------------------------------------------------------------
// Types

/// Who is changing a register, as the permission check found them.
#[derive(Clone, Copy, Debug)]
pub struct Actor<'a> {
    /// Their person id (kept in the history as who made the change).
    pub person_id: &'a str,
    /// Whether they are an admin: admins may change a locked register, and such changes are
    /// flagged `admin_override` in the history and written to the audit log.
    pub is_admin: bool,
}

/// What the permission rules need to know about a session.
#[derive(Clone, Debug)]
pub struct SessionAccess {
    /// The session.
    pub session_id: String,
    /// Its course.
    pub course_id: String,
    /// The course's status (`draft`, `published`, `cancelled`).
    pub course_status: String,
    /// The course's leads (they take its registers).
    pub lead_ids: Vec<String>,
}

/// The session a register is for.
#[derive(Clone, Debug, Serialize)]
pub struct RegisterSession {
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
    pub start: NaiveDateTime,
    /// End (RFC 3339, UTC).
    #[serde(with = "crate::domain::time::rfc3339")]
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
    pub check_in_opens_at: NaiveDateTime,
    /// Checking in after this marks someone late.
    #[serde(with = "crate::domain::time::rfc3339")]
    pub check_in_late_after: NaiveDateTime,
    /// Self check-in closes (the session's end).
    #[serde(with = "crate::domain::time::rfc3339")]
    pub check_in_closes_at: NaiveDateTime,
    /// Whether the register is locked: only admins may change it now.
    pub locked: bool,
    /// When the register locks (`REGISTER_LOCK_DAYS` after the session ends).
    #[serde(with = "crate::domain::time::rfc3339")]
    pub locks_at: NaiveDateTime,
    /// When the register was first saved (null: not yet).
    #[serde(with = "crate::domain::time::rfc3339::option")]
    pub register_recorded_at: Option<NaiveDateTime>,
}

/// One person on a register.
#[derive(Clone, Debug, Serialize)]
pub struct RegisterItem {
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
    pub recorded_at: Option<NaiveDateTime>,
}

/// How many people have each status.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RegisterCounts {
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
#[derive(Clone, Debug, Serialize)]
pub struct Register {
    /// The session.
    pub session: RegisterSession,
    /// The people, by name.
    pub items: Vec<RegisterItem>,
    /// Totals per status.
    pub counts: RegisterCounts,
}

/// One mark to save on a register, as received (the status is checked here, so a bad one
/// is reported against its entry).
#[derive(Clone, Debug)]
pub struct Mark {
    /// The booking.
    pub booking_id: String,
    /// `present`, `late`, `left_early`, `absent` or `apologies`.
    pub status: String,
    /// None: keep the note as it is; `Some("")`: clear it; otherwise the new note.
    pub note: Option<String>,
}

/// One change to a register.
#[derive(Clone, Debug, Serialize)]
pub struct HistoryItem {
    /// The entry's id.
    pub id: String,
    /// The booking.
    pub booking_id: String,
    /// The person booked.
    pub person: Named,
    /// When.
    #[serde(with = "crate::domain::time::rfc3339")]
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

/// Who a walk-in is.
#[derive(Clone, Debug)]
pub enum WalkInPerson {
    /// Someone on record.
    Existing(String),
    /// Someone found by email, or created when the email is not on record.
    New {
        /// Their name.
        name: String,
        /// Their email address (already checked to look like one).
        email: String,
        /// Their school.
        school_id: Option<String>,
        /// Their staff group.
        staff_group_id: Option<String>,
    },
}

/// What a walk-in did.
#[derive(Clone, Debug, Serialize)]
pub struct WalkIn {
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
#[derive(Clone, Debug, Serialize)]
pub struct CheckedIn {
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
#[derive(Clone, Debug, Serialize)]
pub struct SessionRecord {
    /// The session.
    pub session_id: String,
    /// 1-based place in the course.
    pub position: i32,
    /// Start (RFC 3339, UTC).
    #[serde(with = "crate::domain::time::rfc3339")]
    pub start: NaiveDateTime,
    /// End.
    #[serde(with = "crate::domain::time::rfc3339")]
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
#[derive(Clone, Debug, Serialize)]
pub struct Period {
    /// Stable key: `2026-27-autumn` for a term, `2026-27` for an academic year.
    pub key: String,
    /// For people: `Autumn 2026/27`, `2026/27`.
    pub label: String,
}

/// One course in a person's CPD record.
#[derive(Clone, Debug, Serialize)]
pub struct CourseRecord {
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
#[derive(Clone, Debug, Serialize)]
pub struct PeriodTotals {
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
#[derive(Clone, Debug, Serialize)]
pub struct RecordTotals {
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
#[derive(Clone, Debug, Serialize)]
pub struct CpdRecord {
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
#[derive(Clone, Debug, Queryable, Serialize)]
pub struct AttendanceExport {
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
    pub recorded_at: NaiveDateTime,
}

// ---------------------------------------------------------------------------------------------
// Rows

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = course_sessions)]
pub(super) struct SessionRow {
    pub(super) id: String,
    pub(super) course_id: String,
    pub(super) start_at: NaiveDateTime,
    pub(super) end_at: NaiveDateTime,
    pub(super) venue_name: Option<String>,
    pub(super) online_url: Option<String>,
    pub(super) position: i32,
    pub(super) check_in_code: Option<String>,
    pub(super) register_recorded_at: Option<NaiveDateTime>,
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = courses)]
pub(super) struct CourseRow {
    pub(super) title: String,
    pub(super) status: String,
    pub(super) sessions_count: i32,
}

/// The attendance row of one booking at one session.
#[derive(Clone, Debug, Queryable)]
pub(super) struct MarkRow {
    pub(super) booking_id: String,
    pub(super) status: String,
    pub(super) note: Option<String>,
    pub(super) source: String,
    pub(super) recorded_at: NaiveDateTime,
}

pub(super) fn parse_status(s: &str) -> AppResult<AttendanceStatus> {
    AttendanceStatus::parse(s).ok_or_else(|| {
        AppError::Internal(anyhow::anyhow!("an attendance row has the status {s:?}"))
    })
}

pub(super) fn parse_source(s: &str) -> AppResult<Source> {
    Source::parse(s).ok_or_else(|| {
        AppError::Internal(anyhow::anyhow!("an attendance row has the source {s:?}"))
    })
}

/// The time of a change, read again once the course lock is held (never earlier than the
/// time given): the history is ordered by time, and a time taken before the lock could be
/// earlier than that of a change that got the lock first.
pub(super) fn stamped(now: NaiveDateTime) -> NaiveDateTime {
    crate::domain::time::now().max(now)
}

pub(super) fn load_session(conn: &mut DbConn, session_id: &str) -> AppResult<SessionRow> {
    Ok(course_sessions::table
        .find(session_id)
        .select(SessionRow::as_select())
        .first(conn)?)
}

pub(super) fn load_course(conn: &mut DbConn, course_id: &str) -> AppResult<CourseRow> {
    Ok(courses::table
        .find(course_id)
        .select(CourseRow::as_select())
        .first(conn)?)
}

/// Whether the session is its course's last (latest start; the id breaks a tie).
pub(super) fn is_last_session(conn: &mut DbConn, s: &SessionRow) -> QueryResult<bool> {
    let last: Option<String> = course_sessions::table
        .filter(course_sessions::course_id.eq(&s.course_id))
        .order((course_sessions::start_at.desc(), course_sessions::id.desc()))
        .select(course_sessions::id)
        .first(conn)
        .optional()?;
    Ok(last.as_deref() == Some(s.id.as_str()))
}

/// The 409 for a register saved before it opens: a register records who came, so it opens
/// when check-in does (`CHECK_IN_OPENS_MINUTES` before the session starts), for admins too.
pub(super) fn register_not_open(s: &SessionRow, settings: &AttendanceSettings) -> AppError {
    AppError::conflict(
        "register_not_open",
        format!(
            "This register opens on {}, when check-in opens ({} minutes before the session \
             starts): attendance cannot be recorded for a session that has not happened.",
            london_start_display(register_opens_at(s, settings)),
            settings.check_in_opens_minutes
        ),
    )
}

/// When a session's register opens: when its check-in does.
pub(super) fn register_opens_at(s: &SessionRow, settings: &AttendanceSettings) -> NaiveDateTime {
    rules::CheckInWindow::of(
        s.start_at,
        s.end_at,
        settings.check_in_opens_minutes,
        settings.check_in_late_minutes,
    )
    .opens
}

pub(super) fn register_locked(s: &SessionRow, settings: &AttendanceSettings) -> AppError {
    AppError::conflict(
        "register_locked",
        format!(
            "This register locked on {} ({} days after the session); only an admin may change it now.",
            london_start_display(rules::locks_at(s.end_at, settings.lock_days)),
            settings.lock_days
        ),
    )
}
