//! Reading one course whole (sessions, phases, links), and the small facts other stores
//! ask of a course.

use diesel::prelude::*;

use crate::db::schema::{
    clusters, course_leads, course_phases, course_priorities, course_sessions, course_staff_groups,
    courses, people, priorities, providers, staff_groups,
};
use crate::db::DbConn;
use crate::domain::school::Phase;
use crate::error::AppResult;

use super::types::{Course, CourseRow, Named, SessionRow, Tag};

// ---------------------------------------------------------------------------------------------
// Reading

pub(super) fn load_row(conn: &mut DbConn, id: &str) -> AppResult<CourseRow> {
    Ok(courses::table
        .find(id)
        .select(CourseRow::as_select())
        .first(conn)?)
}

pub(super) fn load_sessions(conn: &mut DbConn, course_id: &str) -> QueryResult<Vec<SessionRow>> {
    course_sessions::table
        .filter(course_sessions::course_id.eq(course_id))
        .order((course_sessions::start_at.asc(), course_sessions::id.asc()))
        .select(SessionRow::as_select())
        .load(conn)
}

pub(super) fn load_phases(conn: &mut DbConn, course_id: &str) -> QueryResult<Vec<String>> {
    let mut phases: Vec<String> = course_phases::table
        .filter(course_phases::course_id.eq(course_id))
        .select(course_phases::phase)
        .load(conn)?;
    sort_phases(&mut phases);
    Ok(phases)
}

pub(super) fn sort_phases(phases: &mut [String]) {
    let rank = |p: &String| {
        Phase::ALL
            .iter()
            .position(|x| x.as_str() == p)
            .unwrap_or(usize::MAX)
    };
    phases.sort_by_key(rank);
}

/// One course with everything about it. `NotFound` when there is none (visibility is the
/// caller's business: see `auth::policy`). Six queries: the course with its provider's and
/// cluster's names, then its sessions, leads, priorities, staff groups and phases.
pub fn get_course(conn: &mut DbConn, id: &str) -> AppResult<Course> {
    let (row, provider_name, cluster): (CourseRow, String, Option<(String, String)>) =
        courses::table
            .inner_join(providers::table)
            .left_join(clusters::table)
            .filter(courses::id.eq(id))
            .select((
                CourseRow::as_select(),
                providers::name,
                (clusters::id, clusters::name).nullable(),
            ))
            .first(conn)?;
    let cluster = cluster.map(|(id, name)| Named { id, name });
    assemble(conn, row, provider_name, cluster)
}

fn assemble(
    conn: &mut DbConn,
    row: CourseRow,
    provider_name: String,
    cluster: Option<Named>,
) -> AppResult<Course> {
    let sessions = load_sessions(conn, &row.id)?;
    let leads = course_leads::table
        .inner_join(people::table)
        .filter(course_leads::course_id.eq(&row.id))
        .order((people::name.asc(), people::id.asc()))
        .select((people::id, people::name))
        .load::<(String, String)>(conn)?
        .into_iter()
        .map(|(id, name)| Named { id, name })
        .collect();
    let priorities = course_priorities::table
        .inner_join(priorities::table)
        .filter(course_priorities::course_id.eq(&row.id))
        .order((priorities::position.asc(), priorities::name.asc()))
        .select((priorities::id, priorities::key, priorities::name))
        .load::<Tag>(conn)?;
    let staff_groups = course_staff_groups::table
        .inner_join(staff_groups::table)
        .filter(course_staff_groups::course_id.eq(&row.id))
        .order((staff_groups::position.asc(), staff_groups::name.asc()))
        .select((staff_groups::id, staff_groups::key, staff_groups::name))
        .load::<Tag>(conn)?;
    let phases = load_phases(conn, &row.id)?;
    Ok(Course {
        provider: Named {
            id: row.provider_id.clone(),
            name: provider_name,
        },
        cluster,
        leads,
        priorities,
        staff_groups,
        phases,
        places_left: (row.capacity - row.confirmed_count).max(0),
        waitlist_length: row.waitlist_count,
        sessions: sessions.iter().map(SessionRow::to_session).collect(),
        id: row.id,
        title: row.title,
        summary: row.summary,
        summary_html: row.summary_html,
        status: row.status,
        format: row.format,
        provider_id: row.provider_id,
        capacity: row.capacity,
        per_school_cap: row.per_school_cap,
        per_school_cap_until: row.per_school_cap_until,
        price_pence: row.price_pence,
        booking_opens: row.booking_opens,
        booking_closes: row.booking_closes,
        cancellation_deadline: row.cancellation_deadline,
        requires_approval: row.requires_approval,
        completion_min_sessions: row.completion_min_sessions,
        cancel_reason: row.cancel_reason,
        revision: row.revision,
        confirmed_count: row.confirmed_count,
        sessions_count: row.sessions_count,
        first_session_start: row.first_session_start,
        last_session_end: row.last_session_end,
        created_at: row.created_at,
        updated_at: row.updated_at,
        published_at: row.published_at,
        cancelled_at: row.cancelled_at,
    })
}

/// What visibility rules need to know about a course: its status and its leads.
pub fn visibility_facts(conn: &mut DbConn, id: &str) -> AppResult<(String, Vec<String>)> {
    let status: String = courses::table
        .find(id)
        .select(courses::status)
        .first(conn)?;
    let leads = course_leads::table
        .filter(course_leads::course_id.eq(id))
        .select(course_leads::person_id)
        .load(conn)?;
    Ok((status, leads))
}

/// The course a session belongs to.
pub fn course_id_of_session(conn: &mut DbConn, session_id: &str) -> AppResult<String> {
    Ok(course_sessions::table
        .find(session_id)
        .select(course_sessions::course_id)
        .first(conn)?)
}
