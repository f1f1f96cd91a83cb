//! Attendance: session registers, their history, walk-ins, self check-in, and each person's
//! CPD record (courses, sessions attended, hours, completion).
//!
//! Every write is ONE write transaction whose first statements find the session and take its
//! course row's lock (`store::bookings::lock_course`), the lock the bookings code takes too.
//! So two course leads saving the same register at once are served one after the other, and
//! each sees the other's marks before deciding what changed: one history row per real change,
//! whatever the concurrency, on both backends. A booking cannot be cancelled half-way through
//! a register either.
//!
//! The functions here are what the JSON API (`api::attendance`) and the register pages
//! (`web`) both call; the permission checks stay with the callers ([`session_access`] gives
//! them what `auth::policy` needs).
//!
//! When the register of a course's LAST session is first recorded, the moment is kept in
//! `courses.last_register_recorded_at` (see [`record`]): evaluation invitations go from it.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;

use super::bookings::{self as bookings_store, Booking};
use super::courses::Named;
use super::new_id;
use crate::config::AttendanceSettings;
use crate::db::schema::{
    attendance, attendance_history, bookings, course_leads, course_sessions, courses, people,
    schools, staff_groups,
};
use crate::db::{read_tx, write_tx, DbConn};
use crate::domain::attendance::{
    self as rules, AttendanceStatus, CheckIn, CheckInWindow, SessionMark, Source,
};
use crate::domain::booking::BookingStatus;
use crate::domain::course::{london_rfc3339, london_start_display, london_times};
use crate::domain::term::{academic_year_label, Term};
use crate::error::{AppError, AppResult, FieldErrors};

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
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
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
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
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
    #[schema(value_type = Option<String>, format = DateTime)]
    pub recorded_at: Option<NaiveDateTime>,
}

/// How many people have each status.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
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
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
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
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct HistoryItem {
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
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
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
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
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
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct SessionRecord {
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
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Period {
    /// Stable key: `2026-27-autumn` for a term, `2026-27` for an academic year.
    pub key: String,
    /// For people: `Autumn 2026/27`, `2026/27`.
    pub label: String,
}

/// One course in a person's CPD record.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
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
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
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
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
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
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
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
#[derive(Clone, Debug, Queryable, Serialize, utoipa::ToSchema)]
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
    #[schema(value_type = String, format = DateTime)]
    pub recorded_at: NaiveDateTime,
}

// ---------------------------------------------------------------------------------------------
// Rows

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = course_sessions)]
struct SessionRow {
    id: String,
    course_id: String,
    start_at: NaiveDateTime,
    end_at: NaiveDateTime,
    venue_name: Option<String>,
    online_url: Option<String>,
    position: i32,
    check_in_code: Option<String>,
    register_recorded_at: Option<NaiveDateTime>,
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = courses)]
struct CourseRow {
    title: String,
    status: String,
    sessions_count: i32,
}

/// The attendance row of one booking at one session.
#[derive(Clone, Debug, Queryable)]
struct MarkRow {
    booking_id: String,
    status: String,
    note: Option<String>,
    source: String,
    recorded_at: NaiveDateTime,
}

fn parse_status(s: &str) -> AppResult<AttendanceStatus> {
    AttendanceStatus::parse(s).ok_or_else(|| {
        AppError::Internal(anyhow::anyhow!("an attendance row has the status {s:?}"))
    })
}

fn parse_source(s: &str) -> AppResult<Source> {
    Source::parse(s).ok_or_else(|| {
        AppError::Internal(anyhow::anyhow!("an attendance row has the source {s:?}"))
    })
}

/// The time of a change, read again once the course lock is held (never earlier than the
/// time given): the history is ordered by time, and a time taken before the lock could be
/// earlier than that of a change that got the lock first.
fn stamped(now: NaiveDateTime) -> NaiveDateTime {
    crate::domain::time::now().max(now)
}

fn load_session(conn: &mut DbConn, session_id: &str) -> AppResult<SessionRow> {
    Ok(course_sessions::table
        .find(session_id)
        .select(SessionRow::as_select())
        .first(conn)?)
}

fn load_course(conn: &mut DbConn, course_id: &str) -> AppResult<CourseRow> {
    Ok(courses::table
        .find(course_id)
        .select(CourseRow::as_select())
        .first(conn)?)
}

/// Whether the session is its course's last (latest start; the id breaks a tie).
fn is_last_session(conn: &mut DbConn, s: &SessionRow) -> QueryResult<bool> {
    let last: Option<String> = course_sessions::table
        .filter(course_sessions::course_id.eq(&s.course_id))
        .order((course_sessions::start_at.desc(), course_sessions::id.desc()))
        .select(course_sessions::id)
        .first(conn)
        .optional()?;
    Ok(last.as_deref() == Some(s.id.as_str()))
}

fn register_locked(s: &SessionRow, settings: &AttendanceSettings) -> AppError {
    AppError::conflict(
        "register_locked",
        format!(
            "This register locked on {} ({} days after the session); only an admin may change it now.",
            london_start_display(rules::locks_at(s.end_at, settings.lock_days)),
            settings.lock_days
        ),
    )
}

// ---------------------------------------------------------------------------------------------
// Reading a register

/// What the permission rules need about a session: its course, the course's status and
/// leads. `NotFound` when there is no such session.
pub fn session_access(conn: &mut DbConn, session_id: &str) -> AppResult<SessionAccess> {
    let (course_id, course_status): (String, String) = course_sessions::table
        .inner_join(courses::table)
        .filter(course_sessions::id.eq(session_id))
        .select((course_sessions::course_id, courses::status))
        .first(conn)?;
    let lead_ids = course_leads::table
        .filter(course_leads::course_id.eq(&course_id))
        .select(course_leads::person_id)
        .load(conn)?;
    Ok(SessionAccess {
        session_id: session_id.to_string(),
        course_id,
        course_status,
        lead_ids,
    })
}

/// Gives the session a check-in code if it has none yet (sessions get theirs when their
/// register is first read), and returns its code. Each try runs in its own transaction, or
/// savepoint inside the caller's, so the rare clash with another session's code (the column
/// is unique) is simply tried again with a new code.
pub fn ensure_check_in_code(conn: &mut DbConn, session_id: &str) -> AppResult<String> {
    for _ in 0..8 {
        let current: Option<String> = course_sessions::table
            .find(session_id)
            .select(course_sessions::check_in_code)
            .first(conn)?;
        if let Some(code) = current {
            return Ok(code);
        }
        let code = rules::new_check_in_code(&mut rand::thread_rng());
        let tried = conn.transaction(|c| {
            diesel::update(
                course_sessions::table
                    .find(session_id)
                    .filter(course_sessions::check_in_code.is_null()),
            )
            .set(course_sessions::check_in_code.eq(&code))
            .execute(c)
        });
        match tried {
            Ok(_) => continue,
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            )) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(AppError::Internal(anyhow::anyhow!(
        "no free check-in code found after 8 tries"
    )))
}

/// A session's register: every confirmed booking of its course, ordered by name, with the
/// session's marks, the check-in code (made on first read) and whether the register is
/// locked at `now`. `NotFound` when there is no such session.
pub fn register(
    conn: &mut DbConn,
    settings: &AttendanceSettings,
    session_id: &str,
    now: NaiveDateTime,
) -> AppResult<Register> {
    ensure_check_in_code(conn, session_id)?;
    read_tx(conn, |conn| load_register(conn, settings, session_id, now))
}

/// Reads the register inside the caller's transaction (the check-in code exists already,
/// or is made in a savepoint).
fn load_register(
    conn: &mut DbConn,
    settings: &AttendanceSettings,
    session_id: &str,
    now: NaiveDateTime,
) -> AppResult<Register> {
    let mut s = load_session(conn, session_id)?;
    if s.check_in_code.is_none() {
        s.check_in_code = Some(ensure_check_in_code(conn, session_id)?);
    }
    let course = load_course(conn, &s.course_id)?;
    let is_last = is_last_session(conn, &s)?;
    let items = register_items(conn, &s.course_id, session_id)?;
    let mut counts = RegisterCounts {
        total: items.len(),
        ..RegisterCounts::default()
    };
    for i in &items {
        match i.status {
            None => counts.unrecorded += 1,
            Some(AttendanceStatus::Present) => counts.present += 1,
            Some(AttendanceStatus::Late) => counts.late += 1,
            Some(AttendanceStatus::LeftEarly) => counts.left_early += 1,
            Some(AttendanceStatus::Absent) => counts.absent += 1,
            Some(AttendanceStatus::Apologies) => counts.apologies += 1,
        }
    }
    let local = london_times(s.start_at, s.end_at);
    let window = CheckInWindow::of(
        s.start_at,
        s.end_at,
        settings.check_in_opens_minutes,
        settings.check_in_late_minutes,
    );
    Ok(Register {
        session: RegisterSession {
            id: s.id,
            course_id: s.course_id,
            course_title: course.title,
            position: s.position,
            sessions_count: course.sessions_count,
            is_last,
            start: s.start_at,
            end: s.end_at,
            local_start: local.start,
            local_end: local.end,
            display: local.display,
            venue_name: s.venue_name,
            online_url: s.online_url,
            check_in_code: s.check_in_code.unwrap_or_default(),
            check_in_opens_at: window.opens,
            check_in_late_after: window.late_after,
            check_in_closes_at: window.closes,
            locked: rules::is_locked(s.end_at, settings.lock_days, now),
            locks_at: rules::locks_at(s.end_at, settings.lock_days),
            register_recorded_at: s.register_recorded_at,
        },
        items,
        counts,
    })
}

type BookingLine = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    bool,
);

/// The confirmed bookings of a course with their marks at one session, ordered by name
/// (case-insensitively, the same on both backends) and then by booking.
fn register_items(
    conn: &mut DbConn,
    course_id: &str,
    session_id: &str,
) -> AppResult<Vec<RegisterItem>> {
    let lines: Vec<BookingLine> = bookings::table
        .inner_join(people::table)
        .left_join(schools::table)
        .left_join(staff_groups::table)
        .filter(bookings::course_id.eq(course_id))
        .filter(bookings::status.eq(BookingStatus::Confirmed.as_str()))
        .select((
            bookings::id,
            bookings::person_id,
            people::name,
            bookings::school_id,
            schools::name.nullable(),
            bookings::staff_group_id,
            staff_groups::name.nullable(),
            bookings::walk_in,
        ))
        .load(conn)?;
    let marks: HashMap<String, MarkRow> = session_marks(conn, session_id)?
        .into_iter()
        .map(|m| (m.booking_id.clone(), m))
        .collect();
    let mut items = Vec::with_capacity(lines.len());
    for (booking_id, person_id, name, school_id, school_name, group_id, group_name, walk_in) in
        lines
    {
        let mark = marks.get(&booking_id);
        items.push(RegisterItem {
            person: Named {
                id: person_id,
                name,
            },
            school: school_id.map(|id| Named {
                id,
                name: school_name.unwrap_or_default(),
            }),
            staff_group: group_id.map(|id| Named {
                id,
                name: group_name.unwrap_or_default(),
            }),
            status: mark.map(|m| parse_status(&m.status)).transpose()?,
            note: mark.and_then(|m| m.note.clone()),
            walk_in,
            source: mark.map(|m| parse_source(&m.source)).transpose()?,
            recorded_at: mark.map(|m| m.recorded_at),
            booking_id,
        });
    }
    items.sort_by(|a, b| {
        a.person
            .name
            .to_lowercase()
            .cmp(&b.person.name.to_lowercase())
            .then_with(|| a.booking_id.cmp(&b.booking_id))
    });
    Ok(items)
}

fn session_marks(conn: &mut DbConn, session_id: &str) -> QueryResult<Vec<MarkRow>> {
    attendance::table
        .filter(attendance::session_id.eq(session_id))
        .select((
            attendance::booking_id,
            attendance::status,
            attendance::note,
            attendance::source,
            attendance::recorded_at,
        ))
        .load(conn)
}

// ---------------------------------------------------------------------------------------------
// Saving a register

/// One change about to be written.
struct Change {
    booking_id: String,
    from: Option<AttendanceStatus>,
    to: AttendanceStatus,
    note: Option<String>,
    exists: bool,
}

/// Saves many marks on a session's register at once and returns the register as it is now.
///
/// All or nothing: a 422 names each bad entry by its index (`items[3].booking_id` for a
/// booking that is not a confirmed booking of this course or appears twice,
/// `items[3].status` for an unknown status, `items[3].note` for a note over
/// [`NOTE_MAX`] characters) and writes nothing. Idempotent: a mark equal to what the
/// register holds changes nothing and adds no history. Every real change appends one
/// `attendance_history` row (who, when, from, to, note, source `register`).
///
/// After `REGISTER_LOCK_DAYS` past the session's end, 409 `register_locked` unless the actor
/// is an admin; an admin's changes to a locked register are flagged `admin_override` in the
/// history and written to the audit log.
///
/// The first save sets the session's `register_recorded_at`; the first save of the course's
/// last session also sets the course's `last_register_recorded_at`, in the same transaction.
pub fn record(
    conn: &mut DbConn,
    settings: &AttendanceSettings,
    session_id: &str,
    actor: Actor<'_>,
    marks: &[Mark],
    now: NaiveDateTime,
) -> AppResult<Register> {
    if marks.len() > MARKS_MAX {
        return Err(AppError::invalid(
            "items",
            format!("at most {MARKS_MAX} entries at once"),
        ));
    }
    record_marks(conn, settings, session_id, actor, Some(marks), now)
}

/// "Everyone present": marks present every confirmed booking that has no mark at this session
/// yet, under the same rules as [`record`]. Who is unmarked is read inside the transaction,
/// after the course's lock, so a check-in or another tap landing at the same moment is never
/// overwritten: marks already made stay as they are.
pub fn record_everyone_present(
    conn: &mut DbConn,
    settings: &AttendanceSettings,
    session_id: &str,
    actor: Actor<'_>,
    now: NaiveDateTime,
) -> AppResult<Register> {
    record_marks(conn, settings, session_id, actor, None, now)
}

/// Confirmed bookings of the course with no mark at the session, as "present" marks.
fn unmarked_as_present(conn: &mut DbConn, s: &SessionRow) -> QueryResult<Vec<Mark>> {
    let marked: HashSet<String> = session_marks(conn, &s.id)?
        .into_iter()
        .map(|m| m.booking_id)
        .collect();
    let confirmed: Vec<String> = bookings::table
        .filter(bookings::course_id.eq(&s.course_id))
        .filter(bookings::status.eq(BookingStatus::Confirmed.as_str()))
        .select(bookings::id)
        .order(bookings::id)
        .load(conn)?;
    Ok(confirmed
        .into_iter()
        .filter(|id| !marked.contains(id))
        .map(|booking_id| Mark {
            booking_id,
            status: AttendanceStatus::Present.as_str().to_string(),
            note: None,
        })
        .collect())
}

/// Saves the given marks, or (with `None`) everyone unmarked as present; see [`record`].
fn record_marks(
    conn: &mut DbConn,
    settings: &AttendanceSettings,
    session_id: &str,
    actor: Actor<'_>,
    marks: Option<&[Mark]>,
    now: NaiveDateTime,
) -> AppResult<Register> {
    write_tx(conn, |conn| {
        let s = load_session(conn, session_id)?;
        bookings_store::lock_course(conn, &s.course_id)?;
        let now = stamped(now);
        let locked = rules::is_locked(s.end_at, settings.lock_days, now);
        if locked && !actor.is_admin {
            return Err(register_locked(&s, settings));
        }
        let unmarked;
        let marks = match marks {
            Some(m) => m,
            None => {
                unmarked = unmarked_as_present(conn, &s)?;
                &unmarked[..]
            }
        };
        let statuses = check_marks(conn, &s.course_id, marks)?;
        if marks.is_empty() {
            return load_register(conn, settings, session_id, now);
        }

        let existing: HashMap<String, MarkRow> = session_marks(conn, session_id)?
            .into_iter()
            .map(|m| (m.booking_id.clone(), m))
            .collect();
        let mut changes = Vec::new();
        for (m, to) in marks.iter().zip(statuses) {
            let before = existing.get(&m.booking_id);
            let note = match &m.note {
                None => before.and_then(|b| b.note.clone()),
                Some(n) if n.trim().is_empty() => None,
                Some(n) => Some(n.trim().to_string()),
            };
            let from = before.map(|b| parse_status(&b.status)).transpose()?;
            if from == Some(to) && before.and_then(|b| b.note.as_ref()) == note.as_ref() {
                continue;
            }
            changes.push(Change {
                booking_id: m.booking_id.clone(),
                from,
                to,
                note,
                exists: before.is_some(),
            });
        }
        let admin_override = locked && actor.is_admin;
        write_changes(
            conn,
            &s,
            &changes,
            Source::Register,
            Some(actor.person_id),
            admin_override,
            now,
        )?;
        if admin_override && !changes.is_empty() {
            super::audit::record(
                conn,
                Some(actor.person_id),
                "attendance.override",
                "session",
                Some(session_id),
                json!({
                    "course_id": s.course_id,
                    "changes": changes.iter().map(|c| json!({
                        "booking_id": c.booking_id,
                        "from": c.from.map(AttendanceStatus::as_str),
                        "to": c.to.as_str(),
                    })).collect::<Vec<_>>(),
                }),
            )?;
        }
        if s.register_recorded_at.is_none() {
            register_first_recorded(conn, &s, now)?;
        }
        load_register(conn, settings, session_id, now)
    })
}

/// Checks every mark against the course's bookings; the statuses in order, or a 422 naming
/// each bad entry.
fn check_marks(
    conn: &mut DbConn,
    course_id: &str,
    marks: &[Mark],
) -> AppResult<Vec<AttendanceStatus>> {
    let ids: Vec<&str> = marks.iter().map(|m| m.booking_id.as_str()).collect();
    let found: HashMap<String, (String, String)> = bookings::table
        .filter(bookings::id.eq_any(&ids))
        .select((bookings::id, bookings::course_id, bookings::status))
        .load::<(String, String, String)>(conn)?
        .into_iter()
        .map(|(id, c, st)| (id, (c, st)))
        .collect();
    let mut errors = FieldErrors::new();
    let mut seen = HashSet::new();
    let mut statuses = Vec::with_capacity(marks.len());
    for (i, m) in marks.iter().enumerate() {
        let mut fail = |field: &str, message: String| {
            errors
                .entry(format!("items[{i}].{field}"))
                .or_default()
                .push(message);
        };
        match found.get(&m.booking_id) {
            Some((c, _)) if c != course_id => {
                fail("booking_id", "is a booking on another course".into())
            }
            None => fail("booking_id", "is not a booking on this course".into()),
            Some((_, st)) if st != BookingStatus::Confirmed.as_str() => fail(
                "booking_id",
                format!(
                    "is {}, not confirmed: only confirmed bookings are on the register",
                    st.replace('_', " ")
                ),
            ),
            Some(_) => {}
        }
        if !seen.insert(m.booking_id.as_str()) {
            fail("booking_id", "appears more than once".into());
        }
        match AttendanceStatus::parse(m.status.trim()) {
            Some(s) => statuses.push(s),
            None => fail("status", AttendanceStatus::EXPECTED.into()),
        }
        if m.note
            .as_ref()
            .is_some_and(|n| n.chars().count() > NOTE_MAX)
        {
            fail(
                "note",
                format!("must be at most {NOTE_MAX} characters long"),
            );
        }
    }
    if errors.is_empty() {
        Ok(statuses)
    } else {
        Err(AppError::Validation(errors))
    }
}

/// Writes the changes: the attendance rows and one history row each.
fn write_changes(
    conn: &mut DbConn,
    s: &SessionRow,
    changes: &[Change],
    source: Source,
    actor_id: Option<&str>,
    admin_override: bool,
    now: NaiveDateTime,
) -> QueryResult<()> {
    if changes.is_empty() {
        return Ok(());
    }
    for c in changes {
        if c.exists {
            diesel::update(attendance::table.find((&c.booking_id, &s.id)))
                .set((
                    attendance::status.eq(c.to.as_str()),
                    attendance::note.eq(&c.note),
                    attendance::source.eq(source.as_str()),
                    attendance::recorded_by.eq(actor_id),
                    attendance::recorded_at.eq(now),
                ))
                .execute(conn)?;
        }
    }
    let new_rows: Vec<_> = changes
        .iter()
        .filter(|c| !c.exists)
        .map(|c| {
            (
                attendance::booking_id.eq(c.booking_id.as_str()),
                attendance::session_id.eq(s.id.as_str()),
                attendance::course_id.eq(s.course_id.as_str()),
                attendance::status.eq(c.to.as_str()),
                attendance::note.eq(c.note.as_deref()),
                attendance::source.eq(source.as_str()),
                attendance::recorded_by.eq(actor_id),
                attendance::recorded_at.eq(now),
            )
        })
        .collect();
    if !new_rows.is_empty() {
        // One multi-row INSERT per table (diesel's MultiConnection has no batch insert, so
        // each backend runs its own): a 30-person register is three statements, not sixty.
        let insert = diesel::insert_into(attendance::table).values(new_rows);
        match conn {
            DbConn::Pg(c) => insert.execute(c)?,
            DbConn::Sqlite(c) => insert.execute(c)?,
        };
    }
    let history: Vec<_> = changes
        .iter()
        .map(|c| {
            (
                attendance_history::id.eq(new_id()),
                attendance_history::booking_id.eq(c.booking_id.as_str()),
                attendance_history::session_id.eq(s.id.as_str()),
                attendance_history::at.eq(now),
                attendance_history::actor_id.eq(actor_id),
                attendance_history::from_status.eq(c.from.map(AttendanceStatus::as_str)),
                attendance_history::to_status.eq(c.to.as_str()),
                attendance_history::note.eq(c.note.as_deref()),
                attendance_history::source.eq(source.as_str()),
                attendance_history::admin_override.eq(admin_override),
            )
        })
        .collect();
    let insert = diesel::insert_into(attendance_history::table).values(history);
    match conn {
        DbConn::Pg(c) => insert.execute(c)?,
        DbConn::Sqlite(c) => insert.execute(c)?,
    };
    Ok(())
}

/// The session's register was saved for the first time: keep the moment, and when it is
/// the course's last session, the course's too.
fn register_first_recorded(conn: &mut DbConn, s: &SessionRow, now: NaiveDateTime) -> AppResult<()> {
    diesel::update(
        course_sessions::table
            .find(&s.id)
            .filter(course_sessions::register_recorded_at.is_null()),
    )
    .set(course_sessions::register_recorded_at.eq(now))
    .execute(conn)?;
    if is_last_session(conn, s)? && course_register_complete(conn, &s.course_id, now)? {
        // Evaluation invitations go from this moment, in this transaction, to everyone marked
        // present, late or left early at any session of the course.
        super::evaluation::on_course_register_complete(conn, &s.course_id, now)?;
    }
    Ok(())
}

/// The register of the course's last session has been saved for the first time: the course
/// is over and its attendance known. Sets `courses.last_register_recorded_at` once (never
/// moved afterwards), inside the register's transaction.
/// Returns true the first time only, when the evaluation invitations are made.
fn course_register_complete(
    conn: &mut DbConn,
    course_id: &str,
    now: NaiveDateTime,
) -> AppResult<bool> {
    let first = diesel::update(
        courses::table
            .find(course_id)
            .filter(courses::last_register_recorded_at.is_null()),
    )
    .set(courses::last_register_recorded_at.eq(now))
    .execute(conn)?
        == 1;
    Ok(first)
}

/// Writes a register as it was taken at `at`, for demo data: one mark per booking (source
/// `register`, by `actor_id`), a history row each, the session's `register_recorded_at` and,
/// for the course's last session, the course's `last_register_recorded_at`. Call inside a
/// write transaction. A session whose register was recorded already is left alone (returns
/// false). Unlike [`record`] it does not run the evaluation hook: the demo's past did not
/// happen, so no invitations and no emails come of it.
pub fn seed_register(
    conn: &mut DbConn,
    session_id: &str,
    marks: &[(String, AttendanceStatus)],
    actor_id: Option<&str>,
    at: NaiveDateTime,
) -> AppResult<bool> {
    let s = load_session(conn, session_id)?;
    if s.register_recorded_at.is_some() || session_has_attendance(conn, session_id)? {
        return Ok(false);
    }
    let changes: Vec<Change> = marks
        .iter()
        .map(|(booking_id, status)| Change {
            booking_id: booking_id.clone(),
            from: None,
            to: *status,
            note: None,
            exists: false,
        })
        .collect();
    write_changes(conn, &s, &changes, Source::Register, actor_id, false, at)?;
    diesel::update(course_sessions::table.find(session_id))
        .set(course_sessions::register_recorded_at.eq(at))
        .execute(conn)?;
    if is_last_session(conn, &s)? {
        course_register_complete(conn, &s.course_id, at)?;
    }
    Ok(true)
}

// ---------------------------------------------------------------------------------------------
// History

/// Every change to a session's register, oldest first. `NotFound` when there is no such
/// session.
pub fn history(conn: &mut DbConn, session_id: &str) -> AppResult<Vec<HistoryItem>> {
    read_tx(conn, |conn| {
        load_session(conn, session_id)?;
        type Line = (
            String,
            String,
            NaiveDateTime,
            Option<String>,
            Option<String>,
            String,
            Option<String>,
            String,
            bool,
            String,
            String,
        );
        let lines: Vec<Line> = attendance_history::table
            .inner_join(bookings::table.inner_join(people::table))
            .filter(attendance_history::session_id.eq(session_id))
            .order((attendance_history::at.asc(), attendance_history::id.asc()))
            .select((
                attendance_history::id,
                attendance_history::booking_id,
                attendance_history::at,
                attendance_history::actor_id,
                attendance_history::from_status,
                attendance_history::to_status,
                attendance_history::note,
                attendance_history::source,
                attendance_history::admin_override,
                people::id,
                people::name,
            ))
            .load(conn)?;
        let actor_ids: Vec<&str> = lines.iter().filter_map(|l| l.3.as_deref()).collect();
        let actors: HashMap<String, String> = people::table
            .filter(people::id.eq_any(&actor_ids))
            .select((people::id, people::name))
            .load::<(String, String)>(conn)?
            .into_iter()
            .collect();
        lines
            .into_iter()
            .map(
                |(
                    id,
                    booking_id,
                    at,
                    actor_id,
                    from,
                    to,
                    note,
                    source,
                    admin_override,
                    pid,
                    pname,
                )| {
                    Ok(HistoryItem {
                        id,
                        booking_id,
                        person: Named {
                            id: pid,
                            name: pname,
                        },
                        at,
                        actor: actor_id.map(|a| Named {
                            name: actors.get(&a).cloned().unwrap_or_default(),
                            id: a,
                        }),
                        from: from.as_deref().map(parse_status).transpose()?,
                        to: parse_status(&to)?,
                        note,
                        source: parse_source(&source)?,
                        admin_override,
                    })
                },
            )
            .collect()
    })
}

// ---------------------------------------------------------------------------------------------
// Walk-ins

/// Adds someone who came without a place: an admin-override confirmed booking recorded as a
/// walk-in (even on a full, closed or past course: invariant 11; a full course gets one more
/// place, as for any override), marked present at this session, all in one transaction. A
/// person who already holds a confirmed place is just marked present. `WalkInPerson::New`
/// finds the person by email, or creates them (422 `school_id` / `staff_group_id` for
/// unknown ones). 409 `already_booked` when they are waiting (waiting list or approval):
/// that booking is for the school lead to settle; 409 `register_locked` for a non-admin
/// after the lock; the booking rules' 409s (`course_cancelled`, `course_not_published`).
/// The booking confirmation email is queued in the same transaction (wake the email worker
/// after this returns).
pub fn add_walk_in(
    conn: &mut DbConn,
    settings: &AttendanceSettings,
    base_url: &str,
    session_id: &str,
    actor: Actor<'_>,
    who: WalkInPerson,
    now: NaiveDateTime,
) -> AppResult<WalkIn> {
    ensure_check_in_code(conn, session_id)?;
    write_tx(conn, |conn| {
        let s = load_session(conn, session_id)?;
        bookings_store::lock_course(conn, &s.course_id)?;
        let now = stamped(now);
        let locked = rules::is_locked(s.end_at, settings.lock_days, now);
        if locked && !actor.is_admin {
            return Err(register_locked(&s, settings));
        }
        let (person_id, person_created) = match who {
            WalkInPerson::Existing(id) => {
                let known: i64 = people::table
                    .filter(people::id.eq(&id))
                    .filter(people::erased_at.is_null())
                    .count()
                    .get_result(conn)?;
                if known == 0 {
                    return Err(AppError::invalid("person_id", "no such person"));
                }
                (id, false)
            }
            WalkInPerson::New {
                name,
                email,
                school_id,
                staff_group_id,
            } => match super::people::find_id_by_email(conn, &email)? {
                Some(id) => (id, false),
                None => {
                    super::people::check_refs(
                        conn,
                        school_id.as_deref(),
                        staff_group_id.as_deref(),
                    )?;
                    let id = super::people::insert(
                        conn,
                        &super::people::NewPerson {
                            name,
                            email,
                            school_id,
                            staff_group_id,
                            roles: vec![],
                        },
                    )?;
                    super::audit::record(
                        conn,
                        Some(actor.person_id),
                        "person.create",
                        "person",
                        Some(&id),
                        json!({"walk_in_session_id": session_id}),
                    )?;
                    (id, true)
                }
            },
        };

        let held: Option<(String, String)> = bookings::table
            .filter(bookings::course_id.eq(&s.course_id))
            .filter(bookings::person_id.eq(&person_id))
            .filter(bookings::status.eq_any([
                BookingStatus::Confirmed.as_str(),
                BookingStatus::Waitlisted.as_str(),
                BookingStatus::PendingApproval.as_str(),
            ]))
            .select((bookings::id, bookings::status))
            .first(conn)
            .optional()?;
        let (booking, booked) = match held {
            Some((id, status)) if status == BookingStatus::Confirmed.as_str() => {
                (bookings_store::get(conn, &id)?, false)
            }
            Some((_, status)) => {
                return Err(AppError::conflict(
                    "already_booked",
                    format!(
                        "This person's booking on this course is {} and holds no place; \
                         their school lead (or an admin) can settle it first.",
                        if status == BookingStatus::Waitlisted.as_str() {
                            "on the waiting list"
                        } else {
                            "waiting for approval"
                        }
                    ),
                ))
            }
            None => {
                let request = bookings_store::Request {
                    target: bookings_store::target(conn, &person_id)?,
                    actor_id: Some(actor.person_id.to_string()),
                    staff_group_id: None,
                    override_rules: true,
                    walk_in: true,
                };
                (
                    bookings_store::book_in_tx(conn, base_url, &s.course_id, request)?,
                    true,
                )
            }
        };

        let before: Option<MarkRow> = attendance::table
            .find((&booking.id, session_id))
            .select((
                attendance::booking_id,
                attendance::status,
                attendance::note,
                attendance::source,
                attendance::recorded_at,
            ))
            .first(conn)
            .optional()?;
        let from = before
            .as_ref()
            .map(|b| parse_status(&b.status))
            .transpose()?;
        if from != Some(AttendanceStatus::Present) {
            let change = Change {
                booking_id: booking.id.clone(),
                from,
                to: AttendanceStatus::Present,
                note: before.and_then(|b| b.note),
                exists: from.is_some(),
            };
            write_changes(
                conn,
                &s,
                std::slice::from_ref(&change),
                Source::WalkIn,
                Some(actor.person_id),
                locked && actor.is_admin,
                now,
            )?;
        }
        let register = load_register(conn, settings, session_id, now)?;
        Ok(WalkIn {
            booking,
            booked,
            person_created,
            register,
        })
    })
}

// ---------------------------------------------------------------------------------------------
// Self check-in

/// Checks a person in with a session's code: marked present, or late after the grace period
/// (`CHECK_IN_LATE_MINUTES`), when they hold a confirmed place on the course and it is
/// within the session's check-in window. With `session_id`, the code must be that
/// session's; without, the code alone finds the session.
///
/// 422 on `code` for a code that is not a check-in code, or not this (or any) session's;
/// 409 `check_in_closed` outside the window (the detail says when it opens or when it
/// closed); 409 `not_booked` without a booking, `not_confirmed` for a booking without a
/// place, `course_cancelled` for a cancelled course. A mark already on the register (a lead's,
/// or an earlier check-in) is left as it is: `recorded` is then false.
pub fn check_in(
    conn: &mut DbConn,
    settings: &AttendanceSettings,
    person_id: &str,
    session_id: Option<&str>,
    code: &str,
    now: NaiveDateTime,
) -> AppResult<CheckedIn> {
    let Some(code) = rules::normalise_code(code) else {
        return Err(AppError::invalid(
            "code",
            format!(
                "is not a check-in code: codes are {} letters and digits",
                rules::CODE_LEN
            ),
        ));
    };
    write_tx(conn, |conn| {
        let s = match session_id {
            Some(id) => {
                let s = load_session(conn, id)?;
                if s.check_in_code.as_deref() != Some(code.as_str()) {
                    return Err(AppError::invalid(
                        "code",
                        "is not this session's check-in code",
                    ));
                }
                s
            }
            None => course_sessions::table
                .filter(course_sessions::check_in_code.eq(&code))
                .select(SessionRow::as_select())
                .first(conn)
                .optional()?
                .ok_or_else(|| AppError::invalid("code", "no session has this check-in code"))?,
        };
        let course = load_course(conn, &s.course_id)?;
        if course.status == crate::domain::course::CourseStatus::Cancelled.as_str() {
            return Err(AppError::conflict(
                "course_cancelled",
                "This course has been cancelled.",
            ));
        }
        let window = CheckInWindow::of(
            s.start_at,
            s.end_at,
            settings.check_in_opens_minutes,
            settings.check_in_late_minutes,
        );
        let status = match window.at(now) {
            CheckIn::NotYetOpen(opens) => {
                return Err(AppError::conflict(
                    "check_in_closed",
                    format!(
                        "Check-in for this session opens at {} ({}).",
                        london_start_display(opens),
                        london_rfc3339(opens)
                    ),
                ))
            }
            CheckIn::Closed(closed) => {
                return Err(AppError::conflict(
                    "check_in_closed",
                    format!(
                        "Check-in for this session closed at {} ({}), when it ended; ask the \
                         course lead to mark you on the register.",
                        london_start_display(closed),
                        london_rfc3339(closed)
                    ),
                ))
            }
            CheckIn::Open(status) => status,
        };
        bookings_store::lock_course(conn, &s.course_id)?;
        let now = stamped(now);
        let held: Option<(String, String)> = bookings::table
            .filter(bookings::course_id.eq(&s.course_id))
            .filter(bookings::person_id.eq(person_id))
            .filter(bookings::status.eq_any([
                BookingStatus::Confirmed.as_str(),
                BookingStatus::Waitlisted.as_str(),
                BookingStatus::PendingApproval.as_str(),
            ]))
            .select((bookings::id, bookings::status))
            .first(conn)
            .optional()?;
        let booking_id = match held {
            Some((id, st)) if st == BookingStatus::Confirmed.as_str() => id,
            Some(_) => {
                return Err(AppError::conflict(
                    "not_confirmed",
                    "Your booking on this course has no place (it is waiting), so you are not \
                     on the register; ask the course lead to add you as a walk-in.",
                ))
            }
            None => {
                return Err(AppError::conflict(
                    "not_booked",
                    "You have no place on this course, so you are not on the register; ask \
                     the course lead to add you as a walk-in.",
                ))
            }
        };
        let before: Option<String> = attendance::table
            .find((&booking_id, &s.id))
            .select(attendance::status)
            .first(conn)
            .optional()?;
        let local = london_times(s.start_at, s.end_at);
        let (status, recorded) = match before {
            Some(st) => (parse_status(&st)?, false),
            None => {
                let change = Change {
                    booking_id: booking_id.clone(),
                    from: None,
                    to: status,
                    note: None,
                    exists: false,
                };
                write_changes(
                    conn,
                    &s,
                    std::slice::from_ref(&change),
                    Source::CheckIn,
                    Some(person_id),
                    false,
                    now,
                )?;
                (status, true)
            }
        };
        Ok(CheckedIn {
            session_id: s.id,
            course_id: s.course_id,
            course_title: course.title,
            session_display: local.display,
            booking_id,
            status,
            recorded,
        })
    })
}

// ---------------------------------------------------------------------------------------------
// Sessions with attendance

/// Whether any attendance is recorded for the session (such a session is not deleted: its
/// marks are part of people's CPD records).
pub fn session_has_attendance(conn: &mut DbConn, session_id: &str) -> QueryResult<bool> {
    let n: i64 = attendance::table
        .filter(attendance::session_id.eq(session_id))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

// ---------------------------------------------------------------------------------------------
// CPD record

/// A person's CPD record at `now`: every course they hold a confirmed place on (newest
/// first) with its sessions, what they attended, hours (from the times of the held sessions
/// attended) and completion under the course's rule; totals per term and academic year
/// (by session date) and overall. `NotFound` for an unknown or erased person.
pub fn cpd_record(conn: &mut DbConn, person_id: &str, now: NaiveDateTime) -> AppResult<CpdRecord> {
    read_tx(conn, |conn| {
        let (name, school_id, school_name, erased): (
            String,
            Option<String>,
            Option<String>,
            Option<NaiveDateTime>,
        ) = people::table
            .left_join(schools::table)
            .filter(people::id.eq(person_id))
            .select((
                people::name,
                people::school_id,
                schools::name.nullable(),
                people::erased_at,
            ))
            .first(conn)?;
        if erased.is_some() {
            return Err(AppError::NotFound);
        }
        let booked: Vec<(String, String, String, Option<i32>, bool)> = bookings::table
            .inner_join(courses::table)
            .filter(bookings::person_id.eq(person_id))
            .filter(bookings::status.eq(BookingStatus::Confirmed.as_str()))
            .select((
                bookings::id,
                courses::id,
                courses::title,
                courses::completion_min_sessions,
                bookings::walk_in,
            ))
            .load(conn)?;
        let course_ids: Vec<&str> = booked.iter().map(|b| b.1.as_str()).collect();
        let booking_ids: Vec<&str> = booked.iter().map(|b| b.0.as_str()).collect();
        let mut sessions: HashMap<String, Vec<(String, i32, NaiveDateTime, NaiveDateTime)>> =
            HashMap::new();
        for (id, course_id, position, start, end) in course_sessions::table
            .filter(course_sessions::course_id.eq_any(&course_ids))
            .order((course_sessions::start_at.asc(), course_sessions::id.asc()))
            .select((
                course_sessions::id,
                course_sessions::course_id,
                course_sessions::position,
                course_sessions::start_at,
                course_sessions::end_at,
            ))
            .load::<(String, String, i32, NaiveDateTime, NaiveDateTime)>(conn)?
        {
            sessions
                .entry(course_id)
                .or_default()
                .push((id, position, start, end));
        }
        let marks: HashMap<(String, String), AttendanceStatus> = attendance::table
            .filter(attendance::booking_id.eq_any(&booking_ids))
            .select((
                attendance::booking_id,
                attendance::session_id,
                attendance::status,
            ))
            .load::<(String, String, String)>(conn)?
            .into_iter()
            .map(|(b, s, st)| Ok(((b, s), parse_status(&st)?)))
            .collect::<AppResult<_>>()?;

        let mut courses_out = Vec::with_capacity(booked.len());
        for (booking_id, course_id, title, min_sessions, walk_in) in booked {
            let list = sessions.remove(&course_id).unwrap_or_default();
            let session_marks: Vec<SessionMark> = list
                .iter()
                .map(|(sid, _, start, end)| SessionMark {
                    start: *start,
                    end: *end,
                    status: marks.get(&(booking_id.clone(), sid.clone())).copied(),
                })
                .collect();
            let p = rules::progress(&session_marks, min_sessions, now);
            let records: Vec<SessionRecord> = list
                .iter()
                .zip(&session_marks)
                .map(|((sid, position, start, end), m)| {
                    let held = rules::is_held(*start, now);
                    let attended = held && m.status.is_some_and(AttendanceStatus::attended);
                    SessionRecord {
                        session_id: sid.clone(),
                        position: *position,
                        start: *start,
                        end: *end,
                        display: london_times(*start, *end).display,
                        held,
                        status: m.status,
                        minutes: if attended {
                            rules::session_minutes(*start, *end)
                        } else {
                            0
                        },
                    }
                })
                .collect();
            courses_out.push(CourseRecord {
                term: records.first().map(|s| term_period(Term::of(s.start))),
                course_id,
                title,
                booking_id,
                walk_in,
                completion_min_sessions: min_sessions,
                sessions_total: p.sessions,
                sessions_held: p.held,
                sessions_attended: p.attended,
                minutes_attended: p.minutes,
                hours_attended: rules::quarter_hours(p.minutes),
                complete: p.complete,
                finished: p.held == p.sessions && p.sessions > 0,
                sessions: records,
            });
        }
        // Newest first: by first session, courses without sessions last.
        courses_out.sort_by(|a, b| {
            let first = |c: &CourseRecord| c.sessions.first().map(|s| s.start);
            first(b)
                .cmp(&first(a))
                .then_with(|| a.course_id.cmp(&b.course_id))
        });
        let (terms, academic_years, totals) = totals_of(&courses_out);
        Ok(CpdRecord {
            person: Named {
                id: person_id.to_string(),
                name,
            },
            school: school_id.map(|id| Named {
                id,
                name: school_name.unwrap_or_default(),
            }),
            courses: courses_out,
            terms,
            academic_years,
            totals,
        })
    })
}

fn term_period(t: Term) -> Period {
    Period {
        key: t.key(),
        label: t.label(),
    }
}

fn year_period(year_start: i32) -> Period {
    Period {
        key: format!("{year_start}-{:02}", (year_start + 1) % 100),
        label: academic_year_label(year_start),
    }
}

#[derive(Default)]
struct Acc {
    courses: HashSet<String>,
    completed: usize,
    sessions: usize,
    minutes: i64,
}

impl Acc {
    fn totals(self, period: Period) -> PeriodTotals {
        PeriodTotals {
            period,
            courses: self.courses.len(),
            courses_completed: self.completed,
            sessions_attended: self.sessions,
            minutes_attended: self.minutes,
            hours_attended: rules::quarter_hours(self.minutes),
        }
    }
}

/// Term, academic-year and overall totals. Each attended session counts in the term it was
/// held in; a completed course in the term of its last held session.
fn totals_of(courses: &[CourseRecord]) -> (Vec<PeriodTotals>, Vec<PeriodTotals>, RecordTotals) {
    let mut terms: BTreeMap<Term, Acc> = BTreeMap::new();
    let mut years: BTreeMap<i32, Acc> = BTreeMap::new();
    for c in courses {
        for s in c
            .sessions
            .iter()
            .filter(|s| s.held && s.status.is_some_and(AttendanceStatus::attended))
        {
            let term = Term::of(s.start);
            for acc in [
                terms.entry(term).or_default(),
                years.entry(term.year_start).or_default(),
            ] {
                acc.courses.insert(c.course_id.clone());
                acc.sessions += 1;
                acc.minutes += s.minutes;
            }
        }
        if c.complete {
            if let Some(last) = c.sessions.iter().rfind(|s| s.held) {
                let term = Term::of(last.start);
                terms.entry(term).or_default().completed += 1;
                years.entry(term.year_start).or_default().completed += 1;
            }
        }
    }
    let minutes: i64 = courses.iter().map(|c| c.minutes_attended).sum();
    let totals = RecordTotals {
        courses: courses.len(),
        courses_completed: courses.iter().filter(|c| c.complete).count(),
        sessions_attended: courses.iter().map(|c| c.sessions_attended).sum(),
        minutes_attended: minutes,
        hours_attended: rules::quarter_hours(minutes),
    };
    (
        terms
            .into_iter()
            .map(|(t, acc)| acc.totals(term_period(t)))
            .collect(),
        years
            .into_iter()
            .map(|(y, acc)| acc.totals(year_period(y)))
            .collect(),
        totals,
    )
}

/// Every attendance mark on a person's bookings, for their data export (oldest first).
pub fn person_marks(conn: &mut DbConn, person_id: &str) -> QueryResult<Vec<AttendanceExport>> {
    attendance::table
        .inner_join(bookings::table)
        .filter(bookings::person_id.eq(person_id))
        .order((attendance::recorded_at.asc(), attendance::session_id.asc()))
        .select((
            attendance::booking_id,
            attendance::session_id,
            attendance::course_id,
            attendance::status,
            attendance::note,
            attendance::source,
            attendance::recorded_at,
        ))
        .load(conn)
}
