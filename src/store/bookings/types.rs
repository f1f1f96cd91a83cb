//! What callers hand in and get back: the acting context, a new booking, a booking as
//! shown, its history, and the access and filter facts the API checks against.

use chrono::NaiveDateTime;
use serde::Serialize;

use crate::domain::booking::BookingStatus;

// ---------------------------------------------------------------------------------------------
// Types

/// Who acts, when, and where links in notifications point.
#[derive(Clone, Copy, Debug)]
pub struct Ctx<'a> {
    /// The person making the change (None: the system, e.g. the background job).
    pub actor_id: Option<&'a str>,
    /// The time of the change (stored as naive UTC). Operations read the clock again once
    /// they hold the course lock ([`Ctx::stamped`]), so request times follow the order in
    /// which the lock was granted: that order is the waiting list's.
    pub now: NaiveDateTime,
    /// `PUBLIC_BASE_URL`, for the links in emails.
    pub base_url: &'a str,
}

impl Ctx<'_> {
    /// The same context at the current time (never earlier than the time it had). Call it
    /// right after taking the course lock: a time taken before the lock may be earlier than
    /// that of a request that got the lock first, which would put the queue out of order.
    pub fn stamped(self) -> Self {
        Ctx {
            now: crate::domain::time::now().max(self.now),
            ..self
        }
    }
}

/// A booking request, checked by the caller's permissions already.
#[derive(Clone, Debug)]
pub struct NewBooking<'a> {
    /// The course.
    pub course_id: &'a str,
    /// Who gets the place.
    pub person_id: &'a str,
    /// The staff group to book as (None: the person's own).
    pub staff_group_id: Option<&'a str>,
    /// An admin booking for the record, past the rules (invariant 11).
    pub override_rules: bool,
    /// Someone who turned up without a booking (implies `override_rules`).
    pub walk_in: bool,
}

/// A booking as read, with its course's title and the person's name.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct Booking {
    /// Opaque id.
    pub id: String,
    /// The course.
    pub course_id: String,
    /// The course's title.
    pub course_title: String,
    /// The person booked.
    pub person_id: String,
    /// The person's name.
    pub person_name: String,
    /// The person's school when they booked.
    pub school_id: Option<String>,
    /// The staff group they booked as.
    pub staff_group_id: Option<String>,
    /// `pending_approval`, `confirmed`, `waitlisted`, `cancelled` or `declined`.
    pub status: BookingStatus,
    /// 1-based place in the waiting list; null unless waitlisted.
    pub waitlist_position: Option<i64>,
    /// When the booking was asked for (the waiting list's order).
    #[serde(with = "crate::domain::time::rfc3339")]
    pub requested_at: NaiveDateTime,
    /// When it got its place.
    #[serde(with = "crate::domain::time::rfc3339::option")]
    pub confirmed_at: Option<NaiveDateTime>,
    /// When it was cancelled.
    #[serde(with = "crate::domain::time::rfc3339::option")]
    pub cancelled_at: Option<NaiveDateTime>,
    /// Cancelled after the course's cancellation deadline while holding a place.
    pub late_cancellation: bool,
    /// Why it was cancelled, if a reason was given.
    pub cancel_reason: Option<String>,
    /// Why it was declined.
    pub decline_reason: Option<String>,
    /// Booked by an admin past the rules (full, closed or past course).
    pub admin_override: bool,
    /// Recorded as a walk-in.
    pub walk_in: bool,
    /// The course's price per place when booked.
    pub price_pence: i32,
    /// Who made the booking.
    pub created_by: Option<String>,
    /// When it last changed.
    #[serde(with = "crate::domain::time::rfc3339")]
    pub updated_at: NaiveDateTime,
}

/// One entry of a booking's history.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct HistoryEntry {
    /// When it happened.
    #[serde(with = "crate::domain::time::rfc3339")]
    pub at: NaiveDateTime,
    /// Who did it (null: the system).
    pub actor_id: Option<String>,
    /// The status before (null: the booking was made).
    pub from: Option<BookingStatus>,
    /// The status after.
    pub to: BookingStatus,
    /// Why.
    pub reason: Option<String>,
    /// Anything else worth keeping (e.g. a capacity raised by an override).
    pub note: Option<String>,
}

/// What the permission rules need to know about a booking.
#[derive(Clone, Debug)]
pub struct Access {
    /// The person booked.
    pub person_id: String,
    /// Their school when they booked.
    pub school_id: Option<String>,
    /// The course.
    pub course_id: String,
    /// The course's leads.
    pub course_lead_ids: Vec<String>,
}

/// Filters of the booking list.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// On this course.
    pub course_id: Option<String>,
    /// Of this school (as snapshotted).
    pub school_id: Option<String>,
    /// Of this person.
    pub person_id: Option<String>,
    /// In this status.
    pub status: Option<BookingStatus>,
}

/// A person holding a booking, for notifications about the course.
#[derive(Clone, Debug)]
pub struct Holder {
    /// The booking.
    pub booking_id: String,
    /// The person.
    pub person_id: String,
    /// Their name.
    pub name: String,
    /// Where notifications go.
    pub email: String,
}
