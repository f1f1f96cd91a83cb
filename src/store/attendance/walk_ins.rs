//! Adding someone who came without a booking, booked and marked in the same transaction.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::json;

use crate::config::AttendanceSettings;
use crate::db::schema::{attendance, bookings, people};
use crate::db::{write_tx, DbConn};
use crate::domain::attendance::{self as rules, AttendanceStatus, Source};
use crate::domain::booking::BookingStatus;
use crate::error::{AppError, AppResult};
use crate::store::bookings::{self as bookings_store};

use super::register::{ensure_check_in_code, load_register, write_changes, Change};
use super::types::{
    load_session, parse_status, register_locked, register_not_open, register_opens_at, stamped,
    Actor, MarkRow, WalkIn, WalkInPerson,
};

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
        if now < register_opens_at(&s, settings) {
            return Err(register_not_open(&s, settings));
        }
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
            } => match crate::store::people::find_id_by_email(conn, &email)? {
                Some(id) => (id, false),
                None => {
                    crate::store::people::check_refs(
                        conn,
                        school_id.as_deref(),
                        staff_group_id.as_deref(),
                    )?;
                    let id = crate::store::people::insert(
                        conn,
                        &crate::store::people::NewPerson {
                            name,
                            email,
                            school_id,
                            staff_group_id,
                            roles: vec![],
                        },
                    )?;
                    crate::store::audit::record(
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
                    answer: None,
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
            let admin_override = locked && actor.is_admin;
            write_changes(
                conn,
                &s,
                std::slice::from_ref(&change),
                Source::WalkIn,
                Some(actor.person_id),
                admin_override,
                now,
            )?;
            // A change to a locked register is an override like any other (see
            // `register::record`): the audit log keeps it, whichever door it came through.
            if admin_override {
                crate::store::audit::record(
                    conn,
                    Some(actor.person_id),
                    "attendance.override",
                    "session",
                    Some(session_id),
                    json!({
                        "course_id": s.course_id,
                        "walk_in": true,
                        "changes": [{
                            "booking_id": change.booking_id,
                            "from": change.from.map(AttendanceStatus::as_str),
                            "to": change.to.as_str(),
                        }],
                    }),
                )?;
            }
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
