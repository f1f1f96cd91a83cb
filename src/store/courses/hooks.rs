//! Where the course store reaches into bookings (the people booked, cancelling and promoting
//! when a course changes, the courses of a person's feed), kept in one place so the seam
//! between the two stores stays narrow.

use diesel::prelude::*;

use crate::db::schema::{course_leads, courses};
use crate::db::DbConn;
use crate::domain::booking::BookingStatus;
use crate::domain::course::CourseStatus;
use crate::domain::time;
use crate::error::AppResult;

use super::types::BookedPerson;

// ---------------------------------------------------------------------------------------------
// Hooks for bookings

/// The people holding a confirmed place on the course, who are told about changes to it.
pub fn active_booked_people(conn: &mut DbConn, course_id: &str) -> QueryResult<Vec<BookedPerson>> {
    Ok(
        crate::store::bookings::holders(conn, course_id, &[BookingStatus::Confirmed])?
            .into_iter()
            .map(|h| BookedPerson {
                booking_id: h.booking_id,
                person_id: h.person_id,
                email: h.email,
            })
            .collect(),
    )
}

/// Cancels every active booking of a course being cancelled, inside the course's
/// cancellation transaction (which already holds the course row's lock), recording each in
/// the booking history and resetting the course's counters; returns whose bookings were
/// cancelled so the caller can tell them.
pub fn cancel_active_bookings(
    conn: &mut DbConn,
    course_id: &str,
    actor_id: Option<&str>,
    reason: &str,
) -> AppResult<Vec<crate::store::bookings::Holder>> {
    let ctx = crate::store::bookings::Ctx {
        actor_id,
        now: time::now(),
        base_url: "",
    };
    crate::store::bookings::cancel_all_on_course(conn, ctx, course_id, reason)
}

/// Called, with the course row locked, after a change that may free places: capacity
/// raised, per-school cap raised or lifted. Waiting bookings are promoted here, in the same
/// transaction (invariant 3).
pub fn places_may_have_freed(
    conn: &mut DbConn,
    actor_id: Option<&str>,
    base_url: &str,
    course_id: &str,
) -> AppResult<()> {
    let ctx = crate::store::bookings::Ctx {
        actor_id,
        now: time::now(),
        base_url,
    };
    crate::store::bookings::promote(conn, ctx, course_id, "places freed on the course")?;
    Ok(())
}

/// The courses whose sessions appear in a person's personal calendar feed: the courses they
/// lead and those they hold a confirmed place on.
pub fn feed_course_ids(conn: &mut DbConn, person_id: &str) -> QueryResult<Vec<String>> {
    course_leads::table
        .inner_join(courses::table)
        .filter(course_leads::person_id.eq(person_id))
        .filter(courses::status.ne(CourseStatus::Draft.as_str()))
        .select(course_leads::course_id)
        .load(conn)
        .and_then(|mut ids: Vec<String>| {
            ids.extend(crate::store::bookings::confirmed_course_ids(
                conn, person_id,
            )?);
            ids.sort();
            ids.dedup();
            Ok(ids)
        })
}
