//! The free text about a person that erasing them (UK GDPR) clears beyond their own record:
//! the cancellation and decline reasons on their bookings, the notes on their registers, and
//! the same text in the append-only booking and attendance histories.
//!
//! Free text can name a person or say something about their health ("off sick", "hospital
//! appointment"), so it goes; the facts stay (which course, which status when, who acted,
//! which mark), so anonymous counts and past reports do not change (invariant 8). The
//! histories stay append-only: the one change their triggers allow (migration
//! `2026-12-03-000022_erasure_redaction`) is replacing the text with [`ERASED_TEXT`] on the
//! bookings of an erased person, every other column unchanged.

use diesel::prelude::*;

use crate::db::schema::{attendance, attendance_history, booking_history, bookings};
use crate::db::DbConn;

/// What stands in the histories for text cleared by an erasure (the only value their
/// triggers let an update write).
pub const ERASED_TEXT: &str = "[erased]";

/// The reasons the service itself writes into a booking's history: what happened, never
/// anything about the person. They are kept; any other reason was typed by someone (a
/// cancellation, a decision, a course's cancellation) and is cleared. A new service reason
/// missing here is cleared too, which loses nothing personal.
pub const SERVICE_REASONS: &[&str] = &[
    "booked",
    "requested; waits for approval",
    "booked; no place free, so waitlisted",
    "walk-in",
    "admin override",
    "cancelled",
    "approved",
    "declined",
    "a place came free",
    "places freed on the course",
    "per-school cap lifted",
];

/// Clears the free text on the bookings of `person_id` and in their histories. Run inside
/// the erasure's transaction, after the person is marked erased (the history triggers allow
/// the change only then).
pub fn forget_free_text(conn: &mut DbConn, person_id: &str) -> QueryResult<()> {
    let theirs = || {
        bookings::table
            .filter(bookings::person_id.eq(person_id))
            .select(bookings::id)
    };
    diesel::update(
        bookings::table
            .filter(bookings::person_id.eq(person_id))
            .filter(
                bookings::cancel_reason
                    .is_not_null()
                    .or(bookings::decline_reason.is_not_null()),
            ),
    )
    .set((
        bookings::cancel_reason.eq(None::<String>),
        bookings::decline_reason.eq(None::<String>),
    ))
    .execute(conn)?;
    diesel::update(
        attendance::table
            .filter(attendance::booking_id.eq_any(theirs()))
            .filter(attendance::note.is_not_null()),
    )
    .set(attendance::note.eq(None::<String>))
    .execute(conn)?;
    diesel::update(
        booking_history::table
            .filter(booking_history::booking_id.eq_any(theirs()))
            .filter(booking_history::reason.is_not_null())
            .filter(booking_history::reason.ne(ERASED_TEXT))
            .filter(booking_history::reason.ne_all(SERVICE_REASONS)),
    )
    .set(booking_history::reason.eq(ERASED_TEXT))
    .execute(conn)?;
    diesel::update(
        attendance_history::table
            .filter(attendance_history::booking_id.eq_any(theirs()))
            .filter(attendance_history::note.is_not_null())
            .filter(attendance_history::note.ne(ERASED_TEXT)),
    )
    .set(attendance_history::note.eq(ERASED_TEXT))
    .execute(conn)?;
    Ok(())
}
