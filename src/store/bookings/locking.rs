//! The course lock every booking decision starts with, and the facts and counters read and
//! kept exact under it, so a decision never sees a place change before it is written.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{booking_history, bookings, courses, people, schools};
use crate::db::DbConn;
use crate::domain::booking::BookingStatus;
use crate::error::{AppError, AppResult};
use crate::store::new_id;

use super::rows::{CourseRow, PersonRow, Row};
use super::types::Ctx;

// ---------------------------------------------------------------------------------------------
// Locking, facts and counters

/// Takes the course row's write lock by bumping its version, as the first statement of a
/// transaction that changes bookings on the course (a cancellation, a register, a walk-in).
/// A new booking's decision takes the same lock as it reads the course
/// (`book::lock_and_load_many`: `SELECT ... FOR UPDATE` on PostgreSQL); either waits for the
/// other. `NotFound` when there is no such course.
pub fn lock_course(conn: &mut DbConn, course_id: &str) -> AppResult<()> {
    let n = diesel::update(courses::table.find(course_id))
        .set(courses::version.eq(courses::version + 1))
        .execute(conn)?;
    if n == 0 {
        return Err(AppError::NotFound);
    }
    Ok(())
}

pub(super) fn load_course(conn: &mut DbConn, course_id: &str) -> AppResult<CourseRow> {
    Ok(courses::table
        .find(course_id)
        .select(CourseRow::as_select())
        .first(conn)?)
}

/// Moves the course's counters (and capacity, for an override on a full course) by the
/// given amounts, in the transaction that holds the course lock.
pub(super) fn adjust_counts(
    conn: &mut DbConn,
    course_id: &str,
    confirmed: i32,
    waitlisted: i32,
    capacity: i32,
) -> QueryResult<()> {
    if confirmed == 0 && waitlisted == 0 && capacity == 0 {
        return Ok(());
    }
    diesel::update(courses::table.find(course_id))
        .set((
            courses::confirmed_count.eq(courses::confirmed_count + confirmed),
            courses::waitlist_count.eq(courses::waitlist_count + waitlisted),
            courses::capacity.eq(courses::capacity + capacity),
        ))
        .execute(conn)?;
    Ok(())
}

/// The counter movement for a booking leaving `status`.
pub(super) fn leaving(status: BookingStatus) -> (i32, i32) {
    match status {
        BookingStatus::Confirmed => (-1, 0),
        BookingStatus::Waitlisted => (0, -1),
        _ => (0, 0),
    }
}

/// The counter movement for a booking entering `status`.
pub(super) fn entering(status: BookingStatus) -> (i32, i32) {
    let (c, w) = leaving(status);
    (-c, -w)
}

/// Confirmed places per school on a course, counted as for the cap.
pub(super) fn confirmed_by_school(
    conn: &mut DbConn,
    course_id: &str,
) -> QueryResult<HashMap<String, i32>> {
    let rows: Vec<(Option<String>, i64)> = bookings::table
        .filter(bookings::course_id.eq(course_id))
        .filter(bookings::status.eq(BookingStatus::Confirmed.as_str()))
        .filter(bookings::admin_override.eq(false))
        .group_by(bookings::school_id)
        .select((bookings::school_id, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(s, n)| s.map(|s| (s, n as i32)))
        .collect())
}

/// The most confirmed places any one school holds on the course, counted as for the cap
/// (a per-school cap below it would be broken the moment it is set).
pub fn max_school_confirmed(conn: &mut DbConn, course_id: &str) -> QueryResult<i32> {
    Ok(confirmed_by_school(conn, course_id)?
        .values()
        .copied()
        .max()
        .unwrap_or(0))
}

/// 1-based place of a waitlisted booking in its course's queue.
pub(super) fn waitlist_position(
    conn: &mut DbConn,
    course_id: &str,
    requested_at: NaiveDateTime,
    id: &str,
) -> QueryResult<i64> {
    let ahead: i64 = bookings::table
        .filter(bookings::course_id.eq(course_id))
        .filter(bookings::status.eq(BookingStatus::Waitlisted.as_str()))
        .filter(
            bookings::requested_at
                .lt(requested_at)
                .or(bookings::requested_at
                    .eq(requested_at)
                    .and(bookings::id.lt(id))),
        )
        .count()
        .get_result(conn)?;
    Ok(ahead + 1)
}

pub(super) fn load_row(conn: &mut DbConn, id: &str) -> AppResult<Row> {
    Ok(bookings::table
        .find(id)
        .select(Row::as_select())
        .first(conn)?)
}

/// A person's columns as the booking reads them: id, name, email, school, staff group, the
/// school's phase and when they were erased.
type PersonColumns = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<NaiveDateTime>,
);

fn person_row(
    (id, name, email, school_id, staff_group_id, phase, erased_at): PersonColumns,
) -> PersonRow {
    PersonRow {
        id,
        name,
        email,
        school_id,
        staff_group_id,
        phase,
        erased: erased_at.is_some(),
    }
}

macro_rules! person_query {
    () => {
        people::table.left_join(schools::table).select((
            people::id,
            people::name,
            people::email,
            people::school_id,
            people::staff_group_id,
            schools::phase.nullable(),
            people::erased_at,
        ))
    };
}

pub(super) fn load_person(conn: &mut DbConn, id: &str) -> QueryResult<Option<PersonRow>> {
    let row: Option<PersonColumns> = person_query!()
        .filter(people::id.eq(id))
        .first(conn)
        .optional()?;
    Ok(row.map(person_row))
}

/// The people of `ids` that exist (erased ones too, marked so), in no particular order: one
/// statement for a batch's people.
pub(super) fn load_people(conn: &mut DbConn, ids: &[&str]) -> QueryResult<Vec<PersonRow>> {
    let rows: Vec<PersonColumns> = person_query!().filter(people::id.eq_any(ids)).load(conn)?;
    Ok(rows.into_iter().map(person_row).collect())
}

/// Appends one history row (invariant 9). The only write this module makes to the table:
/// rows are never updated or deleted (the database refuses it too).
pub(super) fn append_history(
    conn: &mut DbConn,
    ctx: &Ctx<'_>,
    booking_id: &str,
    from: Option<BookingStatus>,
    to: BookingStatus,
    reason: &str,
    note: Option<&str>,
) -> QueryResult<()> {
    diesel::insert_into(booking_history::table)
        .values((
            booking_history::id.eq(new_id()),
            booking_history::booking_id.eq(booking_id),
            booking_history::at.eq(ctx.now),
            booking_history::actor_id.eq(ctx.actor_id),
            booking_history::from_status.eq(from.map(BookingStatus::as_str)),
            booking_history::to_status.eq(to.as_str()),
            booking_history::reason.eq(reason),
            booking_history::note.eq(note),
        ))
        .execute(conn)?;
    Ok(())
}

/// Sets a booking's status (and the fields that go with it) and appends the history row.
pub(super) struct Change<'r> {
    pub(super) status: BookingStatus,
    pub(super) reason: &'r str,
    pub(super) note: Option<&'r str>,
    pub(super) cancel_reason: Option<&'r str>,
    pub(super) decline_reason: Option<&'r str>,
    pub(super) late: bool,
}

pub(super) fn apply(
    conn: &mut DbConn,
    ctx: &Ctx<'_>,
    row: &Row,
    change: Change<'_>,
) -> AppResult<()> {
    let from = row.status()?;
    let to = change.status;
    let confirmed_at = if to == BookingStatus::Confirmed {
        Some(ctx.now)
    } else {
        row.confirmed_at
    };
    let cancelled_at = if to == BookingStatus::Cancelled {
        Some(ctx.now)
    } else {
        row.cancelled_at
    };
    diesel::update(bookings::table.find(&row.id))
        .set((
            bookings::status.eq(to.as_str()),
            bookings::confirmed_at.eq(confirmed_at),
            bookings::cancelled_at.eq(cancelled_at),
            bookings::late_cancellation.eq(row.late_cancellation || change.late),
            bookings::cancel_reason.eq(change.cancel_reason.or(row.cancel_reason.as_deref())),
            bookings::decline_reason.eq(change.decline_reason.or(row.decline_reason.as_deref())),
            bookings::updated_at.eq(ctx.now),
        ))
        .execute(conn)?;
    append_history(
        conn,
        ctx,
        &row.id,
        Some(from),
        to,
        change.reason,
        change.note,
    )?;
    Ok(())
}
