//! One course's bookings as its admin page lists them: who, from which school and staff
//! group (as snapshotted when they booked), in what status, with the waiting list numbered in
//! the order its places are offered; and the course's bookings counted by status.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{bookings, people, schools, staff_groups};
use crate::db::DbConn;
use crate::domain::booking::BookingStatus;
use crate::domain::paging::{Page, Paging};
use crate::error::{AppError, AppResult};

/// One booking of a course, with the names its list shows.
#[derive(Clone, Debug)]
pub struct CourseBooking {
    /// The booking.
    pub id: String,
    /// The person booked.
    pub person_id: String,
    /// Their name.
    pub person_name: String,
    /// Their email address.
    pub person_email: String,
    /// Their school's name when they booked (None: no school).
    pub school_name: Option<String>,
    /// The staff group they booked as (None: not known).
    pub staff_group_name: Option<String>,
    /// Its status.
    pub status: BookingStatus,
    /// 1-based place in the waiting list (the order places are offered in); None unless
    /// waitlisted.
    pub waitlist_position: Option<i64>,
    /// When it was asked for.
    pub requested_at: NaiveDateTime,
    /// When it was cancelled.
    pub cancelled_at: Option<NaiveDateTime>,
    /// Why it was cancelled or declined.
    pub reason: Option<String>,
    /// Booked by an admin past the rules.
    pub admin_override: bool,
    /// Recorded as a walk-in.
    pub walk_in: bool,
    /// Given up after the course's cancellation deadline.
    pub late_cancellation: bool,
}

type Raw = (
    (String, String, String, NaiveDateTime, Option<NaiveDateTime>),
    (Option<String>, Option<String>, bool, bool, bool),
    (String, String, Option<String>, Option<String>),
);

/// The bookings of `course_id` in any of `statuses`, a page at a time: by status (confirmed,
/// then pending approval, then waitlisted; cancelled before declined), then in request order,
/// which within the waiting list is the order its places are offered in
/// (`store::bookings::promote`). Waiting-list positions count the whole queue, not the page.
pub fn course_bookings(
    conn: &mut DbConn,
    course_id: &str,
    statuses: &[BookingStatus],
    paging: Paging,
) -> AppResult<Page<CourseBooking>> {
    let statuses: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
    crate::db::read_tx(conn, |conn| {
        let total: i64 = bookings::table
            .filter(bookings::course_id.eq(course_id))
            .filter(bookings::status.eq_any(&statuses))
            .count()
            .get_result(conn)?;
        // The status names sort in the order the list wants them ("confirmed" <
        // "pending_approval" < "waitlisted"; "cancelled" < "declined"), each a different
        // first letter or "ca" / "co", so every collation sorts them alike.
        let rows: Vec<Raw> = bookings::table
            .inner_join(people::table)
            .left_join(schools::table.on(bookings::school_id.eq(schools::id.nullable())))
            .left_join(
                staff_groups::table.on(bookings::staff_group_id.eq(staff_groups::id.nullable())),
            )
            .filter(bookings::course_id.eq(course_id))
            .filter(bookings::status.eq_any(&statuses))
            .order((
                bookings::status.asc(),
                bookings::requested_at.asc(),
                bookings::id.asc(),
            ))
            .limit(paging.limit)
            .offset(paging.offset)
            .select((
                (
                    bookings::id,
                    bookings::person_id,
                    bookings::status,
                    bookings::requested_at,
                    bookings::cancelled_at,
                ),
                (
                    bookings::cancel_reason,
                    bookings::decline_reason,
                    bookings::admin_override,
                    bookings::walk_in,
                    bookings::late_cancellation,
                ),
                (
                    people::name,
                    people::email,
                    schools::name.nullable(),
                    staff_groups::name.nullable(),
                ),
            ))
            .load(conn)?;
        let positions = if rows
            .iter()
            .any(|r| r.0 .2 == BookingStatus::Waitlisted.as_str())
        {
            queue_positions(conn, course_id)?
        } else {
            HashMap::new()
        };
        let items = rows
            .into_iter()
            .map(|(a, b, c)| {
                let (id, person_id, status, requested_at, cancelled_at) = a;
                let (cancel_reason, decline_reason, admin_override, walk_in, late) = b;
                let (person_name, person_email, school_name, staff_group_name) = c;
                let status = BookingStatus::parse(&status).ok_or_else(|| {
                    AppError::Internal(anyhow::anyhow!("unknown booking status {status:?}"))
                })?;
                Ok(CourseBooking {
                    waitlist_position: positions.get(&id).copied(),
                    id,
                    person_id,
                    person_name,
                    person_email,
                    school_name,
                    staff_group_name,
                    status,
                    requested_at,
                    cancelled_at,
                    reason: cancel_reason.or(decline_reason),
                    admin_override,
                    walk_in,
                    late_cancellation: late,
                })
            })
            .collect::<AppResult<Vec<_>>>()?;
        Ok(Page { items, total })
    })
}

/// Each waitlisted booking's 1-based place in the course's queue, in the order
/// `store::bookings::promote` offers freed places (request time, then id).
fn queue_positions(conn: &mut DbConn, course_id: &str) -> QueryResult<HashMap<String, i64>> {
    let queue: Vec<String> = bookings::table
        .filter(bookings::course_id.eq(course_id))
        .filter(bookings::status.eq(BookingStatus::Waitlisted.as_str()))
        .order((bookings::requested_at.asc(), bookings::id.asc()))
        .select(bookings::id)
        .load(conn)?;
    Ok(queue.into_iter().zip(1..).collect())
}

/// How many bookings of `course_id` are in each status (statuses with none left out).
pub fn course_status_counts(
    conn: &mut DbConn,
    course_id: &str,
) -> AppResult<HashMap<BookingStatus, i64>> {
    let rows: Vec<(String, i64)> = bookings::table
        .filter(bookings::course_id.eq(course_id))
        .group_by(bookings::status)
        .select((bookings::status, diesel::dsl::count_star()))
        .load(conn)?;
    rows.into_iter()
        .map(|(s, n)| {
            BookingStatus::parse(&s)
                .map(|s| (s, n))
                .ok_or_else(|| AppError::Internal(anyhow::anyhow!("unknown booking status {s:?}")))
        })
        .collect()
}
