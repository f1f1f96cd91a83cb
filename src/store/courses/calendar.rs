//! The calendar's lists of courses: the filtered, paged list, the courses of a calendar view
//! and of a personal feed, and the generation number that tells a feed when to refresh.

use std::collections::{BTreeSet, HashMap};

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{
    calendar_generation, course_leads, course_phases, course_priorities, course_sessions,
    course_staff_groups, courses, priorities, providers, staff_groups,
};
use crate::db::DbConn;
use crate::domain::course::{self as rules, CourseScope, CourseStatus};
use crate::domain::paging::{Page, Paging};
use crate::error::AppResult;
use crate::store::like_pattern;

use super::hooks::feed_course_ids;
use super::read::sort_phases;
use super::types::{CourseFilter, CourseSummary, Named, Session, SessionRow, SummaryRow, Tag};

// ---------------------------------------------------------------------------------------------
// The calendar list

/// Applies the filter and the caller's scope to a boxed query on `courses`. A macro rather
/// than a function so the count and the page share it without naming diesel's boxed types.
macro_rules! filtered_courses {
    ($filter:expr, $scope:expr) => {{
        let filter: &CourseFilter = $filter;
        let scope: &CourseScope = $scope;
        let mut q = courses::table.into_boxed();
        // Published courses are visible to everyone, so a published-only filter needs no scope.
        let published_only = filter.statuses == [CourseStatus::Published];
        match scope {
            _ if published_only => {}
            CourseScope::All => {}
            CourseScope::Published => {
                q = q.filter(courses::status.eq(CourseStatus::Published.as_str()));
            }
            CourseScope::PublishedOrLedBy(person_id) => {
                q = q.filter(
                    courses::status
                        .eq(CourseStatus::Published.as_str())
                        .or(courses::id.eq_any(
                            course_leads::table
                                .filter(course_leads::person_id.eq(person_id.clone()))
                                .select(course_leads::course_id),
                        )),
                );
            }
        }
        if !filter.statuses.is_empty() {
            let statuses: Vec<&'static str> = filter.statuses.iter().map(|s| s.as_str()).collect();
            q = q.filter(courses::status.eq_any(statuses));
        }
        if let Some(from) = filter.from {
            q = q.filter(courses::first_session_start.ge(from));
        }
        if let Some(to) = filter.to {
            q = q.filter(courses::first_session_start.le(to));
        }
        if !filter.priorities.is_empty() {
            q = q.filter(
                courses::id.eq_any(
                    course_priorities::table
                        .inner_join(priorities::table)
                        .filter(
                            priorities::id
                                .eq_any(filter.priorities.clone())
                                .or(priorities::key.eq_any(filter.priorities.clone())),
                        )
                        .select(course_priorities::course_id),
                ),
            );
        }
        if !filter.staff_groups.is_empty() {
            q = q.filter(
                courses::id
                    .eq_any(
                        course_staff_groups::table
                            .inner_join(staff_groups::table)
                            .filter(
                                staff_groups::id
                                    .eq_any(filter.staff_groups.clone())
                                    .or(staff_groups::key.eq_any(filter.staff_groups.clone())),
                            )
                            .select(course_staff_groups::course_id),
                    )
                    .or(diesel::dsl::not(diesel::dsl::exists(
                        course_staff_groups::table
                            .filter(course_staff_groups::course_id.eq(courses::id)),
                    ))),
            );
        }
        if !filter.phases.is_empty() {
            q = q.filter(
                courses::id
                    .eq_any(
                        course_phases::table
                            .filter(course_phases::phase.eq_any(filter.phases.clone()))
                            .select(course_phases::course_id),
                    )
                    .or(diesel::dsl::not(diesel::dsl::exists(
                        course_phases::table.filter(course_phases::course_id.eq(courses::id)),
                    ))),
            );
        }
        if let Some(cluster) = &filter.cluster_id {
            q = q.filter(courses::cluster_id.eq(cluster.clone()));
        }
        if !filter.formats.is_empty() {
            q = q.filter(courses::format.eq_any(filter.formats.clone()));
        }
        if !filter.provider_ids.is_empty() {
            q = q.filter(courses::provider_id.eq_any(filter.provider_ids.clone()));
        }
        for word in &filter.words {
            q = q.filter(courses::search_text.like(like_pattern(word)).escape('\\'));
        }
        match filter.has_places {
            Some(true) => q = q.filter(courses::confirmed_count.lt(courses::capacity)),
            Some(false) => q = q.filter(courses::confirmed_count.ge(courses::capacity)),
            None => {}
        }
        q
    }};
}

/// A number that rises with every change the calendar list can show (database triggers keep
/// it, whoever writes). A list response made after reading generation `n` holds for as long as
/// the generation is still `n`.
pub fn calendar_generation(conn: &mut DbConn) -> QueryResult<i64> {
    calendar_generation::table
        .find(1)
        .select(calendar_generation::n)
        .first(conn)
}

/// Whether every course the filter and scope can return is published, so none lacks a first
/// session and the list can be ordered straight off the `(status, first_session_start)` index.
fn only_published(filter: &CourseFilter, scope: &CourseScope) -> bool {
    filter.statuses == [CourseStatus::Published]
        || (matches!(scope, CourseScope::Published)
            && (filter.statuses.is_empty() || filter.statuses.contains(&CourseStatus::Published)))
}

/// Loads the courses on one page, in calendar order: by first session, courses
/// without sessions last (the same on both backends).
fn page_rows(
    conn: &mut DbConn,
    filter: &CourseFilter,
    scope: &CourseScope,
    limit: i64,
    offset: i64,
) -> QueryResult<Vec<SummaryRow>> {
    let q = filtered_courses!(filter, scope);
    let q = if only_published(filter, scope) {
        q.order((courses::first_session_start.asc(), courses::id.asc()))
    } else {
        q.order((
            courses::first_session_start.is_null().asc(),
            courses::first_session_start.asc(),
            courses::id.asc(),
        ))
    };
    q.limit(limit)
        .offset(offset)
        .select(SummaryRow::as_select())
        .load(conn)
}

/// The calendar: courses matching the filter that the scope lets the caller see, ordered by
/// first session. A fixed number of queries whatever the page size: the count, the page, and
/// one each for the page's providers, priorities, staff groups and phases.
pub fn list_courses(
    conn: &mut DbConn,
    filter: &CourseFilter,
    scope: &CourseScope,
    paging: Paging,
) -> AppResult<Page<CourseSummary>> {
    crate::db::read_tx(conn, |conn| {
        let total: i64 = filtered_courses!(filter, scope).count().get_result(conn)?;
        let rows = if total > paging.offset {
            page_rows(conn, filter, scope, paging.limit, paging.offset)?
        } else {
            Vec::new()
        };
        let items = summarise(conn, rows)?;
        Ok(Page { items, total })
    })
}

fn summarise(conn: &mut DbConn, rows: Vec<SummaryRow>) -> AppResult<Vec<CourseSummary>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let provider_ids: Vec<String> = rows
        .iter()
        .map(|r| r.provider_id.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let provider_names: HashMap<String, String> = providers::table
        .filter(providers::id.eq_any(&provider_ids))
        .select((providers::id, providers::name))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    let mut prios = by_course(
        course_priorities::table
            .inner_join(priorities::table)
            .filter(course_priorities::course_id.eq_any(&ids))
            .order((priorities::position.asc(), priorities::name.asc()))
            .select((
                course_priorities::course_id,
                (priorities::id, priorities::key, priorities::name),
            ))
            .load::<(String, Tag)>(conn)?,
    );
    let mut groups = by_course(
        course_staff_groups::table
            .inner_join(staff_groups::table)
            .filter(course_staff_groups::course_id.eq_any(&ids))
            .order((staff_groups::position.asc(), staff_groups::name.asc()))
            .select((
                course_staff_groups::course_id,
                (staff_groups::id, staff_groups::key, staff_groups::name),
            ))
            .load::<(String, Tag)>(conn)?,
    );
    let mut phases = by_course(
        course_phases::table
            .filter(course_phases::course_id.eq_any(&ids))
            .select((course_phases::course_id, course_phases::phase))
            .load::<(String, String)>(conn)?,
    );
    Ok(rows
        .into_iter()
        .map(|r| {
            let mut course_phases = phases.remove(&r.id).unwrap_or_default();
            sort_phases(&mut course_phases);
            CourseSummary {
                provider: Named {
                    name: provider_names
                        .get(&r.provider_id)
                        .cloned()
                        .unwrap_or_default(),
                    id: r.provider_id,
                },
                priorities: prios.remove(&r.id).unwrap_or_default(),
                staff_groups: groups.remove(&r.id).unwrap_or_default(),
                phases: course_phases,
                places_left: (r.capacity - r.confirmed_count).max(0),
                waitlist_length: r.waitlist_count,
                first_session_display: r.first_session_start.map(rules::london_start_display),
                id: r.id,
                title: r.title,
                status: r.status,
                format: r.format,
                cluster_id: r.cluster_id,
                capacity: r.capacity,
                per_school_cap: r.per_school_cap,
                price_pence: r.price_pence,
                requires_approval: r.requires_approval,
                booking_opens: r.booking_opens,
                booking_closes: r.booking_closes,
                first_session_start: r.first_session_start,
                last_session_end: r.last_session_end,
                sessions_count: r.sessions_count,
                revision: r.revision,
            }
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Calendars

/// A course as calendars show it: enough for one event per session.
#[derive(Clone, Debug)]
pub struct CalendarCourse {
    /// Opaque id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Summary (Markdown).
    pub summary: String,
    /// `draft`, `published` or `cancelled`.
    pub status: String,
    /// `in_person`, `online` or `hybrid`.
    pub format: String,
    /// The iCalendar SEQUENCE.
    pub revision: i32,
    /// Why it was cancelled.
    pub cancel_reason: Option<String>,
    /// When it was created.
    pub created_at: NaiveDateTime,
    /// When it last changed.
    pub updated_at: NaiveDateTime,
    /// Its sessions, in order.
    pub sessions: Vec<Session>,
}

/// The courses for a calendar feed: as the list would show them (same filter, scope, order
/// and paging), with their sessions. Three queries whatever the size.
pub fn calendar_list(
    conn: &mut DbConn,
    filter: &CourseFilter,
    scope: &CourseScope,
    paging: Paging,
) -> AppResult<Vec<CalendarCourse>> {
    crate::db::read_tx(conn, |conn| {
        let ids: Vec<String> = page_rows(conn, filter, scope, paging.limit, paging.offset)?
            .into_iter()
            .map(|r| r.id)
            .collect();
        calendar_courses(conn, &ids)
    })
}

/// The given courses with their sessions, in the order of `ids` (missing ones are skipped).
pub fn calendar_courses(conn: &mut DbConn, ids: &[String]) -> AppResult<Vec<CalendarCourse>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    type Row = (
        String,
        String,
        String,
        String,
        String,
        i32,
        Option<String>,
        NaiveDateTime,
        NaiveDateTime,
    );
    let rows: Vec<Row> = courses::table
        .filter(courses::id.eq_any(ids))
        .select((
            courses::id,
            courses::title,
            courses::summary,
            courses::status,
            courses::format,
            courses::revision,
            courses::cancel_reason,
            courses::created_at,
            courses::updated_at,
        ))
        .load(conn)?;
    let mut sessions: HashMap<String, Vec<Session>> = HashMap::new();
    for s in course_sessions::table
        .filter(course_sessions::course_id.eq_any(ids))
        .order((course_sessions::start_at.asc(), course_sessions::id.asc()))
        .select(SessionRow::as_select())
        .load(conn)?
    {
        sessions
            .entry(s.course_id.clone())
            .or_default()
            .push(s.to_session());
    }
    let mut by_id: HashMap<String, CalendarCourse> = rows
        .into_iter()
        .map(|r| {
            let course = CalendarCourse {
                sessions: sessions.remove(&r.0).unwrap_or_default(),
                id: r.0,
                title: r.1,
                summary: r.2,
                status: r.3,
                format: r.4,
                revision: r.5,
                cancel_reason: r.6,
                created_at: r.7,
                updated_at: r.8,
            };
            (course.id.clone(), course)
        })
        .collect();
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

/// The courses in a person's personal calendar feed, by first session.
pub fn feed_courses(conn: &mut DbConn, person_id: &str) -> AppResult<Vec<CalendarCourse>> {
    crate::db::read_tx(conn, |conn| {
        let ids = feed_course_ids(conn, person_id)?;
        let mut courses = calendar_courses(conn, &ids)?;
        courses.sort_by_key(|c| (c.sessions.first().map(|s| s.start), c.id.clone()));
        Ok(courses)
    })
}

/// Groups `(course id, value)` rows by course, keeping the rows' order within each course.
fn by_course<T>(rows: Vec<(String, T)>) -> HashMap<String, Vec<T>> {
    let mut out: HashMap<String, Vec<T>> = HashMap::new();
    for (course_id, value) in rows {
        out.entry(course_id).or_default().push(value);
    }
    out
}
