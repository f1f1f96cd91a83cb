//! What the calendar calls inside its own transactions, with the course lock already held,
//! so a course change and its bookings' consequences commit together.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{bookings, courses, people};
use crate::db::DbConn;
use crate::domain::booking::BookingStatus;
use crate::domain::notification::{CourseChange, Notification, Reminder, SessionLine, WithReason};
use crate::error::AppResult;
use crate::store::outbox::{self};

use super::book::ACTIVE;
use super::locking::{apply, load_course, load_person, Change};
use super::notify::{person_of, Mailer};
use super::rows::{CourseRow, PersonRow, Row};
use super::types::{Ctx, Holder};

// ---------------------------------------------------------------------------------------------
// Hooks for the calendar (called inside its transactions, with the course lock held)

/// Cancels every active booking of a course that is being cancelled, with history, and
/// resets the course's counters. Never late: the person did not cancel. Returns whose
/// bookings were cancelled, for the caller's `course_cancelled` messages.
pub fn cancel_all_on_course(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    course_id: &str,
    reason: &str,
) -> AppResult<Vec<Holder>> {
    let rows: Vec<Row> = bookings::table
        .filter(bookings::course_id.eq(course_id))
        .filter(bookings::status.eq_any(ACTIVE))
        .order((bookings::requested_at.asc(), bookings::id.asc()))
        .select(Row::as_select())
        .load(conn)?;
    let history_reason = format!("course cancelled: {reason}");
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        apply(
            conn,
            &ctx,
            row,
            Change {
                status: BookingStatus::Cancelled,
                reason: &history_reason,
                note: None,
                cancel_reason: Some(reason),
                decline_reason: None,
                late: false,
            },
        )?;
        let person = person_of(conn, &row.person_id)?;
        if !person.erased {
            out.push(Holder {
                booking_id: row.id.clone(),
                person_id: person.id,
                name: person.name,
                email: person.email,
            });
        }
    }
    diesel::update(courses::table.find(course_id))
        .set((
            courses::confirmed_count.eq(0),
            courses::waitlist_count.eq(0),
        ))
        .execute(conn)?;
    Ok(out)
}

/// Tells the people holding a confirmed place on a published course that its sessions
/// changed (times, venue, link, a session added or removed): one `course_changed` message
/// each, with the updated `.ics`, in the transaction of the change. `cancelled_sessions`
/// lists sessions that were removed (see [`session_lines`](super::session_lines)). Returns
/// how many were told.
pub fn notify_course_changed(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    course_id: &str,
    cancelled_sessions: Vec<SessionLine>,
) -> AppResult<usize> {
    let confirmed = holders(conn, course_id, &[BookingStatus::Confirmed])?;
    if confirmed.is_empty() {
        return Ok(0);
    }
    let course = load_course(conn, course_id)?;
    let mut mailer = Mailer::new(&course, ctx.base_url);
    for h in &confirmed {
        mailer.send(conn, &h.booking_id, &h.as_person(), |course| {
            Notification::CourseChanged(CourseChange {
                course,
                changes: Vec::new(),
                cancelled_sessions: cancelled_sessions.clone(),
            })
        })?;
    }
    Ok(confirmed.len())
}

/// Tells each person whose booking was cancelled with the course: one `course_cancelled`
/// message each, with a cancelling `.ics`.
pub fn notify_course_cancelled(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    course_id: &str,
    reason: &str,
    cancelled: &[Holder],
) -> AppResult<()> {
    if cancelled.is_empty() {
        return Ok(());
    }
    let course = load_course(conn, course_id)?;
    let mut mailer = Mailer::new(&course, ctx.base_url);
    for h in cancelled {
        mailer.send(conn, &h.booking_id, &h.as_person(), |course| {
            Notification::CourseCancelled(WithReason {
                course,
                reason: Some(reason.to_string()),
            })
        })?;
    }
    Ok(())
}

impl Holder {
    fn as_person(&self) -> PersonRow {
        PersonRow {
            id: self.person_id.clone(),
            name: self.name.clone(),
            email: self.email.clone(),
            school_id: None,
            staff_group_id: None,
            phase: None,
            erased: false,
        }
    }
}

/// The people holding a booking in one of `statuses` on a course (erased people left out),
/// in queue order: e.g. the confirmed people to tell about changed times.
pub fn holders(
    conn: &mut DbConn,
    course_id: &str,
    statuses: &[BookingStatus],
) -> QueryResult<Vec<Holder>> {
    let names: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
    let rows: Vec<(String, String, String, String)> = bookings::table
        .inner_join(people::table)
        .filter(bookings::course_id.eq(course_id))
        .filter(bookings::status.eq_any(names))
        .filter(people::erased_at.is_null())
        .order((bookings::requested_at.asc(), bookings::id.asc()))
        .select((bookings::id, people::id, people::name, people::email))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(booking_id, person_id, name, email)| Holder {
            booking_id,
            person_id,
            name,
            email,
        })
        .collect())
}

/// The courses a person holds a confirmed place on (for their calendar feed).
pub fn confirmed_course_ids(conn: &mut DbConn, person_id: &str) -> QueryResult<Vec<String>> {
    bookings::table
        .filter(bookings::person_id.eq(person_id))
        .filter(bookings::status.eq(BookingStatus::Confirmed.as_str()))
        .select(bookings::course_id)
        .load(conn)
}

/// The bookings on the reminder due-queue (`course_reminder_due`) whose course starts by
/// `now` + `days`, soonest first, at most `limit`: `(booking id, start as queued)`. Triggers
/// put a confirmed booking there in the transaction that confirms it (or moves or publishes
/// its course), so this reads only what changed or came into the window since the last run.
pub fn queued_reminders(
    conn: &mut DbConn,
    now: NaiveDateTime,
    days: u32,
    limit: i64,
) -> QueryResult<Vec<(String, NaiveDateTime)>> {
    use crate::db::schema::course_reminder_due as due;
    let until = now + chrono::Duration::days(i64::from(days));
    due::table
        .filter(due::starts_at.le(until))
        .order((due::starts_at.asc(), due::booking_id.asc()))
        .select((due::booking_id, due::starts_at))
        .limit(limit)
        .load(conn)
}

/// Of the bookings `ids` (from [`queued_reminders`]), those due a course reminder at `now`,
/// each with its `course_reminder` payload: confirmed, on published courses whose first
/// session starts after `now` and within `days` days of it, for people not erased, and not
/// reminded already (a reminder queued once is never queued again, whatever became of it).
/// `base_url` makes the course links.
pub fn due_reminders(
    conn: &mut DbConn,
    ids: &[String],
    now: NaiveDateTime,
    days: u32,
    base_url: &str,
) -> QueryResult<Vec<outbox::ReminderDue>> {
    use crate::db::schema::outbox as queued;
    use crate::domain::notification::Kind;
    let until = now + chrono::Duration::days(i64::from(days));
    let reminded = queued::table
        .filter(queued::kind.eq(Kind::CourseReminder.as_str()))
        .filter(queued::subject_id.eq(bookings::id.nullable()));
    let rows: Vec<(String, String, String)> = bookings::table
        .inner_join(courses::table)
        .inner_join(people::table)
        .filter(bookings::id.eq_any(ids))
        .filter(bookings::status.eq(BookingStatus::Confirmed.as_str()))
        .filter(courses::status.eq("published"))
        .filter(courses::first_session_start.gt(now))
        .filter(courses::first_session_start.le(until))
        .filter(people::erased_at.is_null())
        .filter(diesel::dsl::not(diesel::dsl::exists(reminded)))
        .order((
            bookings::course_id.asc(),
            bookings::requested_at.asc(),
            bookings::id.asc(),
        ))
        .select((bookings::id, bookings::course_id, bookings::person_id))
        .load(conn)?;
    // One mailer per course, so each course's sessions are read once.
    let mut mailers: HashMap<String, Mailer<'_>> = HashMap::new();
    let mut due = Vec::with_capacity(rows.len());
    for (booking_id, course_id, person_id) in rows {
        let Some(person) = load_person(conn, &person_id)? else {
            continue;
        };
        if !mailers.contains_key(&course_id) {
            let course: CourseRow = courses::table
                .find(&course_id)
                .select(CourseRow::as_select())
                .first(conn)?;
            mailers.insert(course_id.clone(), Mailer::new(&course, base_url));
        }
        let mailer = mailers.get_mut(&course_id).expect("inserted above");
        let reminder = Reminder {
            course: mailer.course_mail(conn, &booking_id, &person)?,
            days_before: days,
        };
        due.push(outbox::ReminderDue {
            booking_id,
            person_id: person.id,
            email: person.email,
            reminder,
        });
    }
    Ok(due)
}

/// Whether the course of a booking is cancelled (the email worker skips reminders then).
pub fn course_cancelled_for(conn: &mut DbConn, booking_id: &str) -> QueryResult<bool> {
    let status: Option<String> = bookings::table
        .inner_join(courses::table)
        .filter(bookings::id.eq(booking_id))
        .select(courses::status)
        .first(conn)
        .optional()?;
    Ok(status.as_deref() == Some("cancelled"))
}

/// A booking's current status, if it exists (the email worker re-checks it before sending).
pub fn status_of(conn: &mut DbConn, booking_id: &str) -> QueryResult<Option<String>> {
    bookings::table
        .find(booking_id)
        .select(bookings::status)
        .first(conn)
        .optional()
}

/// The current statuses of the bookings `ids` (those that exist), in one query.
pub fn statuses_of(conn: &mut DbConn, ids: &[&str]) -> QueryResult<Vec<(String, String)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    bookings::table
        .filter(bookings::id.eq_any(ids))
        .select((bookings::id, bookings::status))
        .load(conn)
}
