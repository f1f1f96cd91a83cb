//! A session's register: reading it, saving marks in one transaction with their history,
//! reading that history back, and whether a session has any marks at all. Kept together
//! because they share the register's rows and its lock rule.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::json;

use crate::config::AttendanceSettings;
use crate::db::schema::{
    attendance, attendance_history, bookings, course_leads, course_sessions, courses, people,
    schools, staff_groups,
};
use crate::db::{read_tx, write_tx, DbConn};
use crate::domain::attendance::{self as rules, AttendanceStatus, CheckInWindow, Source};
use crate::domain::booking::BookingStatus;
use crate::domain::course::london_times;
use crate::error::{AppError, AppResult, FieldErrors};
use crate::store::bookings::{self as bookings_store};
use crate::store::courses::Named;
use crate::store::new_id;

use super::types::{
    is_last_session, load_course, load_session, parse_source, parse_status, register_locked,
    register_not_open, register_opens_at, stamped, Actor, HistoryItem, Mark, MarkRow, Register,
    RegisterCounts, RegisterItem, RegisterSession, SessionAccess, SessionRow, MARKS_MAX, NOTE_MAX,
};

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
pub(super) fn load_register(
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

pub(super) fn session_marks(conn: &mut DbConn, session_id: &str) -> QueryResult<Vec<MarkRow>> {
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
pub(super) struct Change {
    pub(super) booking_id: String,
    pub(super) from: Option<AttendanceStatus>,
    pub(super) to: AttendanceStatus,
    pub(super) note: Option<String>,
    pub(super) exists: bool,
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
        if now < register_opens_at(&s, settings) {
            return Err(register_not_open(&s, settings));
        }
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
            crate::store::audit::record(
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
pub(super) fn write_changes(
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
        crate::on_backend!(conn, |c| insert.execute(c)?);
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
    crate::on_backend!(conn, |c| insert.execute(c)?);
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
        crate::store::evaluation::on_course_register_complete(conn, &s.course_id, now)?;
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
