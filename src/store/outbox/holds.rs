//! Whether a claimed message still says something true when it comes due: the check for each
//! kind, and the batch form the worker uses.

use chrono::NaiveDateTime;
use diesel::QueryResult;

use super::Claimed;
use crate::db::DbConn;
use crate::domain::notification::Kind;

/// Whether a message still says something true when it comes due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holds {
    /// Send it.
    Yes,
    /// Skip it, for this reason (stored on the row for admins).
    No(String),
}

/// A check that a due message still holds. One per kind, chosen by [`check_for`].
pub type HoldsCheck =
    fn(&mut DbConn, &Claimed, &serde_json::Value, NaiveDateTime) -> QueryResult<Holds>;

/// The check for a kind. Booking kinds ask whether their booking (the message's `subject_id`)
/// is still in the status the message reports; the course reminder also needs the course not
/// to be cancelled; a sign-in link must not have expired.
pub fn check_for(kind: Kind) -> HoldsCheck {
    match check_of(kind) {
        Check::LinkNotExpired => link_not_expired,
        Check::BookingStatus => booking_in_reported_status,
        Check::ReminderDue => reminder_still_due,
        Check::EvaluationOpen => evaluation_still_open,
        Check::Always => always_holds,
    }
}

/// Which check a kind's messages get (see [`check_for`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    LinkNotExpired,
    BookingStatus,
    ReminderDue,
    EvaluationOpen,
    Always,
}

fn check_of(kind: Kind) -> Check {
    match kind {
        Kind::SignInLink => Check::LinkNotExpired,
        Kind::BookingConfirmed
        | Kind::BookingPromoted
        | Kind::BookingApproved
        | Kind::BookingWaitlisted
        | Kind::ApprovalRequested
        | Kind::BookingDeclined
        | Kind::BookingCancelled
        | Kind::CourseChanged => Check::BookingStatus,
        Kind::CourseReminder => Check::ReminderDue,
        // A course cancellation stays true once made: courses are not un-cancelled.
        Kind::CourseCancelled => Check::Always,
        Kind::EvaluationInvitation | Kind::EvaluationReminder => Check::EvaluationOpen,
        // A digest reports a term that has ended: its figures stay worth sending.
        Kind::TermlyDigest => Check::Always,
    }
}

/// Whether a due message still holds (unknown kinds hold: rendering will fail them anyway).
pub fn still_holds(conn: &mut DbConn, msg: &Claimed, now: NaiveDateTime) -> QueryResult<Holds> {
    let Ok(kind) = msg.kind.parse::<Kind>() else {
        return Ok(Holds::Yes);
    };
    let payload: serde_json::Value = serde_json::from_str(&msg.payload).unwrap_or_default();
    check_for(kind)(conn, msg, &payload, now)
}

fn always_holds(
    _: &mut DbConn,
    _: &Claimed,
    _: &serde_json::Value,
    _: NaiveDateTime,
) -> QueryResult<Holds> {
    Ok(Holds::Yes)
}

fn link_not_expired(
    _: &mut DbConn,
    _: &Claimed,
    payload: &serde_json::Value,
    now: NaiveDateTime,
) -> QueryResult<Holds> {
    let expires = payload
        .get("expires_at")
        .and_then(|v| v.as_str())
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.naive_utc());
    Ok(match expires {
        Some(t) if t <= now => Holds::No("the sign-in link expired before it could be sent".into()),
        _ => Holds::Yes,
    })
}

/// The booking statuses in which a message of `kind` about that booking is still true.
pub fn reported_statuses(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::BookingConfirmed
        | Kind::BookingPromoted
        | Kind::BookingApproved
        | Kind::CourseChanged
        | Kind::CourseReminder => &["confirmed"],
        Kind::BookingWaitlisted => &["waitlisted"],
        Kind::ApprovalRequested => &["pending_approval"],
        Kind::BookingDeclined => &["declined"],
        Kind::BookingCancelled => &["cancelled"],
        Kind::CourseCancelled
        | Kind::SignInLink
        | Kind::EvaluationInvitation
        | Kind::EvaluationReminder
        | Kind::TermlyDigest => &[],
    }
}

/// An evaluation invitation or reminder (subject: the invitation) holds while the invitation
/// is unanswered and its link has not expired.
fn evaluation_still_open(
    conn: &mut DbConn,
    msg: &Claimed,
    payload: &serde_json::Value,
    now: NaiveDateTime,
) -> QueryResult<Holds> {
    if let Some(id) = msg.subject_id.as_deref() {
        if !crate::store::evaluation::invitation_open(conn, id)? {
            return Ok(Holds::No("the evaluation has been answered".into()));
        }
    }
    match link_not_expired(conn, msg, payload, now)? {
        Holds::Yes => Ok(Holds::Yes),
        Holds::No(_) => Ok(Holds::No(
            "the evaluation link expired before it could be sent".into(),
        )),
    }
}

fn booking_in_reported_status(
    conn: &mut DbConn,
    msg: &Claimed,
    _: &serde_json::Value,
    _: NaiveDateTime,
) -> QueryResult<Holds> {
    let (Ok(kind), Some(booking_id)) = (msg.kind.parse::<Kind>(), msg.subject_id.as_deref()) else {
        return Ok(Holds::Yes);
    };
    Ok(holds_in_status(
        kind,
        booking_status(conn, booking_id)?.as_deref(),
    ))
}

/// Whether a message of `kind` about a booking now in `status` still holds (an unknown
/// booking's messages hold).
fn holds_in_status(kind: Kind, status: Option<&str>) -> Holds {
    match status {
        Some(status) if !reported_statuses(kind).contains(&status) => {
            Holds::No(format!("the booking is now {status}"))
        }
        _ => Holds::Yes,
    }
}

/// [`still_holds`] for each of `msgs`, in order, with the bookings of the messages that only
/// ask after their booking's status (confirmations and the like, most of a busy queue) read
/// in one query instead of one each.
pub fn still_holds_all(
    conn: &mut DbConn,
    msgs: &[Claimed],
    now: NaiveDateTime,
) -> QueryResult<Vec<Holds>> {
    fn by_status(m: &Claimed) -> Option<(Kind, &str)> {
        let kind = m.kind.parse::<Kind>().ok()?;
        (check_of(kind) == Check::BookingStatus).then_some(())?;
        Some((kind, m.subject_id.as_deref()?))
    }
    let ids: Vec<&str> = msgs
        .iter()
        .filter_map(|m| by_status(m).map(|(_, id)| id))
        .collect();
    let statuses: std::collections::HashMap<String, String> =
        crate::store::bookings::statuses_of(conn, &ids)?
            .into_iter()
            .collect();
    msgs.iter()
        .map(|m| match by_status(m) {
            Some((kind, id)) => Ok(holds_in_status(kind, statuses.get(id).map(String::as_str))),
            None => still_holds(conn, m, now),
        })
        .collect()
}

fn reminder_still_due(
    conn: &mut DbConn,
    msg: &Claimed,
    payload: &serde_json::Value,
    now: NaiveDateTime,
) -> QueryResult<Holds> {
    if let Some(booking_id) = msg.subject_id.as_deref() {
        if booking_course_cancelled(conn, booking_id)? {
            return Ok(Holds::No("the course is cancelled".into()));
        }
    }
    // A reminder held back past the course's start (SMTP down for days) says nothing useful.
    let first_start = payload
        .get("sessions")
        .and_then(|s| s.get(0))
        .and_then(|s| s.get("start"))
        .and_then(|v| v.as_str())
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.naive_utc());
    if first_start.is_some_and(|t| t <= now) {
        return Ok(Holds::No("the course has already started".into()));
    }
    booking_in_reported_status(conn, msg, payload, now)
}

/// The current status of a booking, or `None` when there is no such booking (an unknown
/// booking's messages hold: they are sent).
pub fn booking_status(conn: &mut DbConn, booking_id: &str) -> QueryResult<Option<String>> {
    crate::store::bookings::status_of(conn, booking_id)
}

/// Whether the course of a booking is cancelled.
pub fn booking_course_cancelled(conn: &mut DbConn, booking_id: &str) -> QueryResult<bool> {
    crate::store::bookings::course_cancelled_for(conn, booking_id)
}
