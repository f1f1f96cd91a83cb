//! Loading many courses at once for benchmarks and demo data, outside the checks a single
//! create goes through.

use std::collections::HashMap;

use diesel::prelude::*;

use crate::db::schema::courses;
use crate::db::{write_tx, DbConn};
use crate::domain::course::{CoursePlan, CourseStatus, SessionPlan};
use crate::domain::time;
use crate::error::AppResult;
use crate::store::new_id;

use super::types::CourseLinks;
use super::write::{insert_session, replace_links, search_text};

// ---------------------------------------------------------------------------------------------
// Bulk loading (benchmarks, demo data)

/// A course to load in bulk, already known to be valid.
#[derive(Clone, Debug)]
pub struct BulkCourse {
    /// The course and its sessions.
    pub plan: CoursePlan,
    /// What it refers to.
    pub links: CourseLinks,
    /// Its status.
    pub status: CourseStatus,
    /// Places confirmed and people waiting, as the bookings code would keep them.
    pub confirmed_count: i32,
    /// People waiting.
    pub waitlist_count: i32,
}

/// Inserts many courses in one write transaction, without the per-course checks and
/// read-backs of [`create_course`]: for benchmark and demo data that is valid by
/// construction. Returns how many were inserted.
pub fn bulk_insert(conn: &mut DbConn, batch: &[BulkCourse]) -> AppResult<usize> {
    write_tx(conn, |conn| {
        let now = time::now();
        for c in batch {
            let id = new_id();
            let plan = &c.plan;
            diesel::insert_into(courses::table)
                .values((
                    courses::id.eq(&id),
                    courses::title.eq(&plan.title),
                    courses::summary.eq(&plan.summary),
                    courses::summary_html.eq(crate::domain::markdown::to_safe_html(&plan.summary)),
                    courses::search_text.eq(search_text(&plan.title, &plan.summary)),
                    courses::provider_id.eq(&c.links.provider_id),
                    courses::cluster_id.eq(&c.links.cluster_id),
                    courses::format.eq(&plan.format),
                    courses::capacity.eq(plan.capacity),
                    courses::per_school_cap.eq(plan.per_school_cap),
                    courses::per_school_cap_until.eq(plan.per_school_cap_until),
                    courses::price_pence.eq(plan.price_pence),
                    courses::booking_opens.eq(plan.booking_opens),
                    courses::booking_closes.eq(plan.booking_closes),
                    courses::cancellation_deadline.eq(plan.cancellation_deadline),
                    courses::requires_approval.eq(plan.requires_approval),
                    courses::completion_min_sessions.eq(plan.completion_min_sessions),
                    courses::status.eq(c.status.as_str()),
                    courses::confirmed_count.eq(c.confirmed_count),
                    courses::waitlist_count.eq(c.waitlist_count),
                    courses::sessions_count.eq(plan.sessions.len() as i32),
                    courses::first_session_start.eq(plan.first_start()),
                    courses::last_session_end.eq(plan.last_end()),
                    courses::created_at.eq(now),
                    courses::updated_at.eq(now),
                    courses::published_at.eq((c.status != CourseStatus::Draft).then_some(now)),
                    courses::cancelled_at.eq((c.status == CourseStatus::Cancelled).then_some(now)),
                ))
                .execute(conn)?;
            let mut sessions: Vec<&SessionPlan> = plan.sessions.iter().collect();
            sessions.sort_by_key(|s| s.start);
            for (i, s) in sessions.into_iter().enumerate() {
                insert_session(conn, &id, s, i as i32 + 1, now)?;
            }
            replace_links(
                conn,
                &id,
                Some(&c.links.lead_ids),
                Some(&c.links.priority_ids),
                Some(&c.links.staff_group_ids),
                Some(&plan.phases),
            )?;
        }
        Ok(batch.len())
    })
}

/// Groups `(course id, value)` rows by course, keeping the rows' order within each course.
pub(super) fn by_course<T>(rows: Vec<(String, T)>) -> HashMap<String, Vec<T>> {
    let mut out: HashMap<String, Vec<T>> = HashMap::new();
    for (course_id, value) in rows {
        out.entry(course_id).or_default().push(value);
    }
    out
}
