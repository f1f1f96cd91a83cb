//! The courses a person leads, for their list of registers.

use diesel::prelude::*;

use crate::db::schema::{course_leads, courses};
use crate::db::DbConn;

/// The ids of the courses a person leads, by title.
pub fn led_course_ids(conn: &mut DbConn, person_id: &str) -> QueryResult<Vec<String>> {
    course_leads::table
        .inner_join(courses::table)
        .filter(course_leads::person_id.eq(person_id))
        .order((courses::title.asc(), courses::id.asc()))
        .select(courses::id)
        .load(conn)
}

/// Confirmed bookings per course, for the given courses (absent: none).
pub fn confirmed_counts(
    conn: &mut DbConn,
    course_ids: &[String],
) -> QueryResult<std::collections::HashMap<String, i64>> {
    use crate::db::schema::bookings;
    if course_ids.is_empty() {
        return Ok(Default::default());
    }
    let rows: Vec<(String, i64)> = bookings::table
        .filter(bookings::course_id.eq_any(course_ids))
        .filter(bookings::status.eq("confirmed"))
        .group_by(bookings::course_id)
        .select((bookings::course_id, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

/// Register entries per session, for the sessions of the given courses (absent: the
/// register has not been taken).
pub fn marked_counts(
    conn: &mut DbConn,
    course_ids: &[String],
) -> QueryResult<std::collections::HashMap<String, i64>> {
    use crate::db::schema::attendance;
    if course_ids.is_empty() {
        return Ok(Default::default());
    }
    let rows: Vec<(String, i64)> = attendance::table
        .filter(attendance::course_id.eq_any(course_ids))
        .group_by(attendance::session_id)
        .select((attendance::session_id, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}
