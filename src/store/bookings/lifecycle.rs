//! The changes to an existing booking (cancel, approve, decline), each a transition the
//! booking rules allow, followed by a promotion when a place is freed.

use std::collections::{BTreeSet, HashMap};

use diesel::prelude::*;

use crate::db::schema::bookings;
use crate::db::{write_tx, DbConn};
use crate::domain::booking::{self as rules, BookingStatus, Refusal, Transition};
use crate::domain::notification::{Cancellation, Notification, WithReason};
use crate::error::{AppError, AppResult};
use crate::store::idempotency::Answer;

use super::locking::{
    adjust_counts, apply, confirmed_by_school, entering, leaving, load_course, load_person,
    load_row, lock_course, Change,
};
use super::notify::{notify_status, person_of, Mailer};
use super::promote::promote;
use super::read::{load_many, view};
use super::rows::{refusal, Row};
use super::types::{Booking, Ctx};

// ---------------------------------------------------------------------------------------------
// Cancel, approve, decline

/// The course of a booking (bookings never move between courses, so this may be read before
/// the course lock is taken).
fn course_of(conn: &mut DbConn, booking_id: &str) -> AppResult<String> {
    Ok(bookings::table
        .find(booking_id)
        .select(bookings::course_id)
        .first(conn)?)
}

/// Cancels a booking with an optional reason. Late (after the course's cancellation deadline)
/// when it held a place; the freed place goes to the first eligible waiting booking in the
/// same transaction. 409 `not_active` when it is already cancelled or declined. Under an
/// `Idempotency-Key`, `answer` is written in the same transaction.
pub fn cancel(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    booking_id: &str,
    reason: Option<&str>,
    answer: Option<&Answer<Booking>>,
) -> AppResult<Booking> {
    let course_id = course_of(conn, booking_id)?;
    write_tx(conn, |conn| {
        lock_course(conn, &course_id)?;
        let ctx = ctx.stamped();
        let course = load_course(conn, &course_id)?;
        let row = load_row(conn, booking_id)?;
        let from = row.status()?;
        rules::check_transition(from, Transition::Cancel).map_err(refusal)?;
        let late = rules::is_late(from, course.cancellation_deadline, ctx.now);
        apply(
            conn,
            &ctx,
            &row,
            Change {
                status: BookingStatus::Cancelled,
                reason: reason.unwrap_or("cancelled"),
                note: late.then_some("after the cancellation deadline"),
                cancel_reason: reason,
                decline_reason: None,
                late,
            },
        )?;
        let (dc, dw) = leaving(from);
        adjust_counts(conn, &course_id, dc, dw, 0)?;
        let person = person_of(conn, &row.person_id)?;
        let by_name = match ctx.actor_id {
            Some(a) if a != row.person_id => load_person(conn, a)?.map(|p| p.name),
            _ => None,
        };
        let mut mailer = Mailer::new(&course, ctx.base_url);
        mailer.send(conn, &row.id, &person, |course| {
            Notification::BookingCancelled(Cancellation {
                course,
                by_name,
                reason: reason.map(str::to_string),
            })
        })?;
        if from == BookingStatus::Confirmed {
            promote(conn, ctx, &course_id, "a place came free")?;
        }
        let row = load_row(conn, booking_id)?;
        let done = view(conn, row, Some(person.name), Some(course.title))?;
        answered(conn, done, answer)
    })
}

/// The courses of several bookings, sorted, so locks are always taken in the same order
/// (two bulk requests over the same courses cannot deadlock).
fn courses_of(conn: &mut DbConn, ids: &[String]) -> AppResult<Vec<(String, Vec<String>)>> {
    let found: Vec<(String, String)> = bookings::table
        .filter(bookings::id.eq_any(ids))
        .select((bookings::id, bookings::course_id))
        .load(conn)?;
    if found.len() != ids.iter().collect::<BTreeSet<_>>().len() {
        return Err(AppError::NotFound);
    }
    let mut by_course: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (id, course) in found {
        by_course.entry(course).or_default().push(id);
    }
    Ok(by_course.into_iter().collect())
}

/// Approves requests waiting for approval, all or none: each is placed as of its ORIGINAL
/// request time, earliest first: confirmed when a place is free and the school is under its
/// cap, otherwise waitlisted at its place in the queue by request time. 409 `not_pending`
/// (naming the booking) when one of them is not waiting for approval. The history row of each
/// keeps `reason` ("approved" without one). Under an `Idempotency-Key`, `answer` is written in
/// the same transaction.
pub fn approve(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    ids: &[String],
    reason: Option<&str>,
    answer: Option<&Answer<Vec<Booking>>>,
) -> AppResult<Vec<Booking>> {
    let groups = courses_of(conn, ids)?;
    write_tx(conn, |conn| {
        for (course_id, _) in &groups {
            lock_course(conn, course_id)?;
        }
        let ctx = ctx.stamped();
        for (course_id, booking_ids) in &groups {
            let course = load_course(conn, course_id)?;
            let mut facts = course.facts(Vec::new(), Vec::new());
            let mut rows: Vec<Row> = bookings::table
                .filter(bookings::id.eq_any(booking_ids))
                .select(Row::as_select())
                .load(conn)?;
            rows.sort_by(|a, b| (a.requested_at, &a.id).cmp(&(b.requested_at, &b.id)));
            let mut held = if facts.cap_at(ctx.now).is_some() {
                confirmed_by_school(conn, course_id)?
            } else {
                HashMap::new()
            };
            let mut placed = Vec::new();
            for row in &rows {
                rules::check_transition(row.status()?, Transition::Approve)
                    .map_err(|r| refusal(name_booking(r, &row.id)))?;
                let school_held = row
                    .school_id
                    .as_ref()
                    .and_then(|s| held.get(s).copied())
                    .unwrap_or(0);
                let status = rules::place_request(&facts, school_held, false, ctx.now);
                apply(
                    conn,
                    &ctx,
                    row,
                    Change {
                        status,
                        reason: reason.unwrap_or("approved"),
                        note: (status == BookingStatus::Waitlisted)
                            .then_some("no place free for the school, so waitlisted"),
                        cancel_reason: None,
                        decline_reason: None,
                        late: false,
                    },
                )?;
                if status == BookingStatus::Confirmed {
                    facts.confirmed += 1;
                    if let Some(s) = &row.school_id {
                        *held.entry(s.clone()).or_insert(0) += 1;
                    }
                }
                let (dc, dw) = entering(status);
                adjust_counts(conn, course_id, dc, dw, 0)?;
                placed.push((row.clone(), status));
            }
            // Tell each person once every position in the queue is final.
            let mut mailer = Mailer::new(&course, ctx.base_url);
            for (row, status) in placed {
                let person = person_of(conn, &row.person_id)?;
                let mut moved = row.clone();
                moved.status = status.as_str().to_string();
                notify_status(
                    conn,
                    &mut mailer,
                    &moved,
                    &person,
                    status,
                    Notification::BookingApproved,
                )?;
            }
        }
        let done = load_many(conn, ids)?;
        answered(conn, done, answer)
    })
}

/// Declines bookings, all or none, with an optional reason: requests waiting for approval, or a place
/// or wait the school lead withdraws. A declined place goes to the first eligible waiting
/// booking in the same transaction. 409 `not_active` (naming the booking) when one is
/// already cancelled or declined. Under an `Idempotency-Key`, `answer` is written in the
/// same transaction.
pub fn decline(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    ids: &[String],
    reason: Option<&str>,
    answer: Option<&Answer<Vec<Booking>>>,
) -> AppResult<Vec<Booking>> {
    let groups = courses_of(conn, ids)?;
    write_tx(conn, |conn| {
        for (course_id, _) in &groups {
            lock_course(conn, course_id)?;
        }
        // Declined bookings' responses stop counting, each marking its school's kept tail:
        // all those marks first, in one order, so two bulk declines cannot deadlock.
        crate::store::report_cells::mark_tails_of_bookings(conn, &groups)?;
        let ctx = ctx.stamped();
        for (course_id, booking_ids) in &groups {
            let course = load_course(conn, course_id)?;
            let rows: Vec<Row> = bookings::table
                .filter(bookings::id.eq_any(booking_ids))
                .order((bookings::requested_at.asc(), bookings::id.asc()))
                .select(Row::as_select())
                .load(conn)?;
            let mut mailer = Mailer::new(&course, ctx.base_url);
            let mut freed = false;
            for row in &rows {
                let from = row.status()?;
                rules::check_transition(from, Transition::Decline)
                    .map_err(|r| refusal(name_booking(r, &row.id)))?;
                apply(
                    conn,
                    &ctx,
                    row,
                    Change {
                        status: BookingStatus::Declined,
                        reason: reason.unwrap_or("declined"),
                        note: None,
                        cancel_reason: None,
                        decline_reason: reason,
                        late: false,
                    },
                )?;
                let (dc, dw) = leaving(from);
                adjust_counts(conn, course_id, dc, dw, 0)?;
                freed |= from == BookingStatus::Confirmed;
                let person = person_of(conn, &row.person_id)?;
                mailer.send(conn, &row.id, &person, |course| {
                    Notification::BookingDeclined(WithReason {
                        course,
                        reason: reason.map(str::to_string),
                    })
                })?;
            }
            if freed {
                promote(conn, ctx, course_id, "a place came free")?;
            }
        }
        let done = load_many(conn, ids)?;
        answered(conn, done, answer)
    })
}

/// `done`, after writing it as the answer under an `Idempotency-Key` (if any).
fn answered<T>(conn: &mut DbConn, done: T, answer: Option<&Answer<T>>) -> AppResult<T> {
    if let Some(answer) = answer {
        answer.record(conn, &done)?;
    }
    Ok(done)
}

fn name_booking(r: Refusal, id: &str) -> Refusal {
    Refusal {
        code: r.code,
        message: format!("Booking {id}: {}", r.message),
    }
}
