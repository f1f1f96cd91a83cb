//! Bookings and their history.

use chrono::NaiveDateTime;
use serde::Serialize;

use super::view;
use crate::domain::booking::BookingStatus;

view! {
    /// A booking as the API shows it.
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct Booking from crate::store::bookings::Booking {
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
        #[schema(value_type = String, format = DateTime)]
        pub requested_at: NaiveDateTime,
        /// When it got its place.
        #[serde(with = "crate::domain::time::rfc3339::option")]
        #[schema(value_type = Option<String>, format = DateTime)]
        pub confirmed_at: Option<NaiveDateTime>,
        /// When it was cancelled.
        #[serde(with = "crate::domain::time::rfc3339::option")]
        #[schema(value_type = Option<String>, format = DateTime)]
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
        #[schema(value_type = String, format = DateTime)]
        pub updated_at: NaiveDateTime,
    }

    /// One entry of a booking's history.
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct HistoryEntry from crate::store::bookings::HistoryEntry {
        /// When it happened.
        #[serde(with = "crate::domain::time::rfc3339")]
        #[schema(value_type = String, format = DateTime)]
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
}
