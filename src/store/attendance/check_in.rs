//! Attendees marking themselves present with the session's code.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::config::AttendanceSettings;
use crate::db::schema::{attendance, bookings, course_sessions};
use crate::db::{write_tx, DbConn};
use crate::domain::attendance::{self as rules, CheckIn, CheckInWindow, Source};
use crate::domain::booking::BookingStatus;
use crate::domain::course::{london_rfc3339, london_start_display, london_times};
use crate::error::{AppError, AppResult};
use crate::store::bookings::{self as bookings_store};

use super::register::{write_changes, Change};
use super::types::{load_course, load_session, parse_status, stamped, CheckedIn, SessionRow};

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
