//! Courses and their sessions: create, change, publish, cancel, list and the data calendars
//! are made from.
//!
//! Every write takes the course row's write lock first (`UPDATE courses SET version = version +
//! 1`), the same lock the bookings code takes, so a change to capacity or sessions never
//! interleaves with a booking decision. The denormalised columns (`first_session_start`,
//! `last_session_end`, `sessions_count`) are refreshed in the same transaction as any session
//! change; `confirmed_count` and `waitlist_count` belong to the bookings code, which keeps
//! them in the transaction that changes a booking, so the list shows places left and the
//! waiting list without counting bookings (a fixed number of queries per page).
//!
//! Hooks for bookings: [`active_booked_people`], [`cancel_active_bookings`],
//! [`places_may_have_freed`] and [`feed_course_ids`] are where `store::bookings` joins in.
//! Notifications about a course go through `store::bookings` too, so their payloads follow
//! the email templates' contract; the functions that send them take `base_url`
//! (`PUBLIC_BASE_URL`) for the links.

mod calendar;
mod hooks;
mod read;
mod sessions;
mod types;
mod write;

pub use calendar::{
    calendar_courses, calendar_generation, calendar_list, feed_courses, list_courses,
    CalendarCourse,
};
pub use hooks::{
    active_booked_people, cancel_active_bookings, feed_course_ids, places_may_have_freed,
};
pub use read::{course_id_of_session, get_course, visibility_facts};
pub use sessions::{add_session, delete_session, update_session};
pub use types::{
    BookedPerson, Course, CourseFilter, CourseLinks, CoursePatch, CourseSummary, Edited, Named,
    Session, SessionEdit, SessionPatch, Tag,
};
pub use write::{
    cancel_course, create_course, edit_course, insert_unchecked, publish_course, update_course,
};

/// A course's times that matter to a booking on it: (cancellation deadline, first session
/// start, last session end).
pub type BookingTimes = (
    Option<chrono::NaiveDateTime>,
    Option<chrono::NaiveDateTime>,
    Option<chrono::NaiveDateTime>,
);

/// The [`BookingTimes`] of each course, by course id.
pub fn booking_times(
    conn: &mut crate::db::DbConn,
    course_ids: &[String],
) -> diesel::QueryResult<std::collections::HashMap<String, BookingTimes>> {
    use crate::db::schema::courses;
    use diesel::prelude::*;
    let rows: Vec<(String, BookingTimes)> = courses::table
        .filter(courses::id.eq_any(course_ids))
        .select((
            courses::id,
            (
                courses::cancellation_deadline,
                courses::first_session_start,
                courses::last_session_end,
            ),
        ))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}
