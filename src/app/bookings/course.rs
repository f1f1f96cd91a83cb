//! One course's bookings for the admin's pages: listed by status with the waiting list in
//! the order its places are offered, and counted by status. Booking someone and cancelling
//! on someone's behalf go through [`super::book`] and [`super::cancel`], as the API does.

use std::collections::HashMap;

use crate::app::policy::{require, Action};
use crate::app::state::AppState;
use crate::domain::booking::BookingStatus;
use crate::domain::caller::Caller;
use crate::domain::paging::{Page, Paging};
use crate::error::{AppError, AppResult};
use crate::store::bookings::{self as store, Booking, CourseBooking};
use crate::store::courses::Course;

/// Which of a course's bookings a list shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Shown {
    /// Everyone holding or waiting for a place: confirmed, pending approval, waitlisted.
    #[default]
    Active,
    /// Holding a place.
    Confirmed,
    /// On the waiting list.
    Waitlisted,
    /// Waiting for their school lead's approval.
    Pending,
    /// Cancelled or declined.
    Ended,
}

impl Shown {
    /// Every list, in the order the page offers them.
    pub const ALL: [Shown; 5] = [
        Shown::Active,
        Shown::Confirmed,
        Shown::Waitlisted,
        Shown::Pending,
        Shown::Ended,
    ];

    /// The name in the page's address (`?show=`).
    pub fn key(self) -> &'static str {
        match self {
            Shown::Active => "active",
            Shown::Confirmed => "confirmed",
            Shown::Waitlisted => "waitlisted",
            Shown::Pending => "pending",
            Shown::Ended => "ended",
        }
    }

    /// Reads a name from the page's address; None for one it does not know.
    pub fn parse(key: &str) -> Option<Shown> {
        Shown::ALL.into_iter().find(|s| s.key() == key)
    }

    /// The statuses the list holds.
    pub fn statuses(self) -> &'static [BookingStatus] {
        match self {
            Shown::Active => &[
                BookingStatus::Confirmed,
                BookingStatus::PendingApproval,
                BookingStatus::Waitlisted,
            ],
            Shown::Confirmed => &[BookingStatus::Confirmed],
            Shown::Waitlisted => &[BookingStatus::Waitlisted],
            Shown::Pending => &[BookingStatus::PendingApproval],
            Shown::Ended => &[BookingStatus::Cancelled, BookingStatus::Declined],
        }
    }
}

/// A course with one page of its bookings and every status counted.
#[derive(Debug)]
pub struct CourseBookings {
    /// The course.
    pub course: Course,
    /// Its bookings in each status (statuses with none left out).
    pub counts: HashMap<BookingStatus, i64>,
    /// The page of bookings asked for.
    pub page: Page<CourseBooking>,
}

impl CourseBookings {
    /// How many bookings a list holds in all.
    pub fn count(&self, shown: Shown) -> i64 {
        shown
            .statuses()
            .iter()
            .map(|s| self.counts.get(s).copied().unwrap_or(0))
            .sum()
    }
}

/// A course (any status) and one page of its bookings in the list `shown` (admin; 404 when
/// there is no such course). One read transaction per part, a fixed number of queries.
pub async fn course_bookings(
    state: &AppState,
    caller: &Caller,
    course_id: &str,
    shown: Shown,
    paging: Paging,
) -> AppResult<CourseBookings> {
    require(caller, Action::WriteCourse)?;
    let id = course_id.to_string();
    state
        .db(move |c| {
            let course = crate::store::courses::get_course(c, &id)?;
            let counts = store::course_status_counts(c, &id)?;
            let page = store::course_bookings(c, &id, shown.statuses(), paging)?;
            Ok(CourseBookings {
                course,
                counts,
                page,
            })
        })
        .await
}

/// One booking of `course_id` (admin), as [`super::detail`] reads it; 404 when it is not a
/// booking of that course, so an address cannot mix one course's page with another's booking.
pub async fn course_booking(
    state: &AppState,
    caller: &Caller,
    course_id: &str,
    booking_id: &str,
) -> AppResult<Booking> {
    require(caller, Action::WriteCourse)?;
    let (booking, _) = super::detail(state, caller, booking_id).await?;
    if booking.course_id != course_id {
        return Err(AppError::NotFound);
    }
    Ok(booking)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_list_reads_back_from_its_key_and_the_active_one_holds_every_place() {
        for s in Shown::ALL {
            assert_eq!(Shown::parse(s.key()), Some(s));
        }
        assert_eq!(Shown::parse("everything"), None);
        // Every status is in exactly one of the narrow lists.
        for status in BookingStatus::ALL {
            let holding: Vec<_> = Shown::ALL[1..]
                .iter()
                .filter(|s| s.statuses().contains(&status))
                .collect();
            assert_eq!(holding.len(), 1, "{status:?}");
        }
        assert!(!Shown::Active
            .statuses()
            .iter()
            .any(|s| matches!(s, BookingStatus::Cancelled | BookingStatus::Declined)));
    }
}
