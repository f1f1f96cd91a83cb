//! Giving freed places to the waiting list, in queue order, before the freeing transaction
//! commits (invariant 3).

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{bookings, courses};
use crate::db::{write_tx, DbConn};
use crate::domain::booking::{self as rules, BookingStatus, Waiting};
use crate::domain::notification::Notification;
use crate::error::AppResult;

use super::locking::{adjust_counts, apply, confirmed_by_school, load_course, lock_course, Change};
use super::notify::{person_of, Mailer};
use super::rows::Row;
use super::types::Ctx;

// ---------------------------------------------------------------------------------------------
// Promote

/// Gives free places to the earliest eligible waiting bookings of a course (FIFO, skipping
/// schools at their cap while it applies), each told by a `booking_promoted` email. Call it
/// inside a transaction that holds the course lock ([`lock_course`]) after anything that may
/// free a place: a cancellation, a decline, capacity raised, the per-school cap raised or
/// lifted. Returns the promoted booking ids.
pub fn promote(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    course_id: &str,
    reason: &str,
) -> AppResult<Vec<String>> {
    let course = load_course(conn, course_id)?;
    if course.status != "published"
        || course.waitlist_count <= 0
        || course.confirmed_count >= course.capacity
    {
        return Ok(Vec::new());
    }
    let facts = course.facts(Vec::new(), Vec::new());
    let queue: Vec<Row> = bookings::table
        .filter(bookings::course_id.eq(course_id))
        .filter(bookings::status.eq(BookingStatus::Waitlisted.as_str()))
        .order((bookings::requested_at.asc(), bookings::id.asc()))
        .select(Row::as_select())
        .load(conn)?;
    let waiting: Vec<Waiting> = queue
        .iter()
        .map(|r| Waiting {
            booking_id: r.id.clone(),
            school_id: r.school_id.clone(),
        })
        .collect();
    let mut held = if facts.cap_at(ctx.now).is_some() {
        confirmed_by_school(conn, course_id)?
    } else {
        HashMap::new()
    };
    let chosen = rules::promotions(&facts, &waiting, &mut held, ctx.now);
    if chosen.is_empty() {
        return Ok(chosen);
    }
    let mut mailer = Mailer::new(&course, ctx.base_url);
    for id in &chosen {
        let row = queue
            .iter()
            .find(|r| &r.id == id)
            .expect("promotions come from the queue");
        apply(
            conn,
            &ctx,
            row,
            Change {
                status: BookingStatus::Confirmed,
                reason,
                note: None,
                cancel_reason: None,
                decline_reason: None,
                late: false,
            },
        )?;
        let person = person_of(conn, &row.person_id)?;
        mailer.send(conn, id, &person, Notification::BookingPromoted)?;
    }
    let n = chosen.len() as i32;
    adjust_counts(conn, course_id, n, -n, 0)?;
    Ok(chosen)
}

/// Promotes on every published course whose per-school cap has lifted by date and which has
/// both free places and people waiting: the background job's work. Each course is its own
/// locked transaction. Returns how many bookings were promoted.
pub fn promote_where_caps_lifted(
    conn: &mut DbConn,
    now: NaiveDateTime,
    base_url: &str,
) -> AppResult<usize> {
    let due: Vec<String> = courses::table
        .filter(courses::status.eq("published"))
        .filter(courses::waitlist_count.gt(0))
        .filter(courses::confirmed_count.lt(courses::capacity))
        .filter(courses::per_school_cap.is_not_null())
        .filter(courses::per_school_cap_until.le(now))
        .select(courses::id)
        .load(conn)?;
    let ctx = Ctx {
        actor_id: None,
        now,
        base_url,
    };
    let mut promoted = 0;
    for id in due {
        promoted += write_tx(conn, |conn| {
            lock_course(conn, &id)?;
            let ctx = ctx.stamped();
            promote(conn, ctx, &id, "per-school cap lifted").map(|v| v.len())
        })?;
    }
    Ok(promoted)
}
