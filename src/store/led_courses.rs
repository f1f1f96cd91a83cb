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
