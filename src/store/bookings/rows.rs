//! The database rows the store reads bookings, courses and people into, kept apart from
//! the public types so a column change stays inside the store.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{bookings, courses};
use crate::domain::booking::{BookingStatus, CourseFacts, Refusal};
use crate::error::{AppError, AppResult};

use super::types::Booking;

// ---------------------------------------------------------------------------------------------
// Rows

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = bookings)]
pub(super) struct Row {
    pub(super) id: String,
    pub(super) course_id: String,
    pub(super) person_id: String,
    pub(super) school_id: Option<String>,
    pub(super) staff_group_id: Option<String>,
    pub(super) status: String,
    pub(super) requested_at: NaiveDateTime,
    pub(super) confirmed_at: Option<NaiveDateTime>,
    pub(super) cancelled_at: Option<NaiveDateTime>,
    pub(super) late_cancellation: bool,
    pub(super) cancel_reason: Option<String>,
    pub(super) decline_reason: Option<String>,
    pub(super) admin_override: bool,
    pub(super) walk_in: bool,
    pub(super) price_pence: i32,
    pub(super) created_by: Option<String>,
    pub(super) updated_at: NaiveDateTime,
}

impl Row {
    pub(super) fn status(&self) -> AppResult<BookingStatus> {
        BookingStatus::parse(&self.status).ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!(
                "booking {} has an unknown status {:?}",
                self.id,
                self.status
            ))
        })
    }

    pub(super) fn into_booking(
        self,
        person_name: String,
        course_title: String,
        waitlist_position: Option<i64>,
    ) -> AppResult<Booking> {
        let status = self.status()?;
        Ok(Booking {
            id: self.id,
            course_id: self.course_id,
            course_title,
            person_id: self.person_id,
            person_name,
            school_id: self.school_id,
            staff_group_id: self.staff_group_id,
            status,
            waitlist_position: if status == BookingStatus::Waitlisted {
                waitlist_position
            } else {
                None
            },
            requested_at: self.requested_at,
            confirmed_at: self.confirmed_at,
            cancelled_at: self.cancelled_at,
            late_cancellation: self.late_cancellation,
            cancel_reason: self.cancel_reason,
            decline_reason: self.decline_reason,
            admin_override: self.admin_override,
            walk_in: self.walk_in,
            price_pence: self.price_pence,
            created_by: self.created_by,
            updated_at: self.updated_at,
        })
    }
}

#[derive(Clone, Debug, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = courses)]
pub(super) struct CourseRow {
    pub(super) id: String,
    pub(super) title: String,
    pub(super) status: String,
    pub(super) capacity: i32,
    pub(super) confirmed_count: i32,
    pub(super) waitlist_count: i32,
    per_school_cap: Option<i32>,
    per_school_cap_until: Option<NaiveDateTime>,
    booking_opens: Option<NaiveDateTime>,
    booking_closes: Option<NaiveDateTime>,
    pub(super) cancellation_deadline: Option<NaiveDateTime>,
    requires_approval: bool,
    first_session_start: Option<NaiveDateTime>,
    pub(super) price_pence: i32,
    pub(super) revision: i32,
}

impl CourseRow {
    /// The facts the rules need; the targets are loaded only for new requests.
    pub(super) fn facts(&self, staff_group_ids: Vec<String>, phases: Vec<String>) -> CourseFacts {
        CourseFacts {
            status: self.status.clone(),
            capacity: self.capacity,
            confirmed: self.confirmed_count,
            per_school_cap: self.per_school_cap,
            per_school_cap_until: self.per_school_cap_until,
            booking_opens: self.booking_opens,
            booking_closes: self.booking_closes,
            first_session_start: self.first_session_start,
            requires_approval: self.requires_approval,
            staff_group_ids,
            phases,
        }
    }
}

#[derive(Clone, Debug)]
pub(super) struct PersonRow {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) email: String,
    pub(super) school_id: Option<String>,
    pub(super) staff_group_id: Option<String>,
    /// Their school's phase.
    pub(super) phase: Option<String>,
    pub(super) erased: bool,
}

pub(super) fn refusal(r: Refusal) -> AppError {
    AppError::conflict(r.code, r.message)
}
