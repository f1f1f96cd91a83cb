//! The reference data a report is labelled with (the names and sort positions of its groups'
//! keys) and the courses of its two windows, which the rollup looks up by key to place each
//! course under its term, priority and window.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Integer, Text, Timestamp};
use diesel::QueryResult;

use crate::db::schema::{clusters, priorities, schools, staff_groups};
use crate::db::DbConn;
use crate::domain::term::Term;
use crate::reports::metrics::{GroupBy, ReportQuery, NONE_KEY};

use crate::store::report_cells::{load, Param};

/// The windows as parameters `$1..$4`: current start and end, earlier start and end.
fn window_params(q: &ReportQuery) -> Vec<Param> {
    let (lo, hi) = q.window_utc();
    let (plo, phi) = q.year_earlier().window_utc();
    vec![Param::Ts(lo), Param::Ts(hi), Param::Ts(plo), Param::Ts(phi)]
}

/// The courses of both windows, with the window they are in (0 the current one, 1 the year
/// before; a course in both is listed twice). Only published courses count: a draft was never
/// offered and a cancelled course's bookings were not the bookers' doing.
const WINDOWS_CTE: &str = "\
w AS (
    SELECT c.id, 0 AS period FROM courses c
     WHERE c.status = 'published' AND c.first_session_start >= $1 AND c.first_session_start < $2
    UNION ALL
    SELECT c.id, 1 AS period FROM courses c
     WHERE c.status = 'published' AND c.first_session_start >= $3 AND c.first_session_start < $4
),
wc AS (SELECT DISTINCT id FROM w)";

// ---------------------------------------------------------------------------------------------
// Reference data: labels, courses of the windows

/// A course of one of the windows.
pub(super) struct CourseInfo {
    title: String,
    pub(super) capacity: i64,
    pub(super) first_start: NaiveDateTime,
    pub(super) priorities: Vec<String>,
}

#[derive(QueryableByName)]
struct CourseRow {
    #[diesel(sql_type = Integer)]
    period: i32,
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    title: String,
    #[diesel(sql_type = Integer)]
    capacity: i32,
    #[diesel(sql_type = Timestamp)]
    first_session_start: NaiveDateTime,
}

#[derive(QueryableByName)]
struct PriorityLink {
    #[diesel(sql_type = Text)]
    course_id: String,
    #[diesel(sql_type = Text)]
    priority_id: String,
}

/// The courses of both windows: their details, and which are in which window.
pub(super) struct Courses {
    pub(super) info: HashMap<String, CourseInfo>,
    pub(super) by_period: [Vec<String>; 2],
}

pub(super) fn load_courses(
    conn: &mut DbConn,
    q: &ReportQuery,
    with_priorities: bool,
) -> QueryResult<Courses> {
    let params = window_params(q);
    let rows: Vec<CourseRow> = load(
        conn,
        &format!(
            "WITH {WINDOWS_CTE}
             SELECT w.period AS period, c.id AS id, c.title AS title, c.capacity AS capacity,
                    c.first_session_start AS first_session_start
               FROM w JOIN courses c ON c.id = w.id"
        ),
        &params,
    )?;
    let mut info = HashMap::new();
    let mut by_period: [Vec<String>; 2] = [Vec::new(), Vec::new()];
    for r in rows {
        by_period[r.period as usize].push(r.id.clone());
        info.entry(r.id).or_insert(CourseInfo {
            title: r.title,
            capacity: i64::from(r.capacity),
            first_start: r.first_session_start,
            priorities: Vec::new(),
        });
    }
    if with_priorities {
        let links: Vec<PriorityLink> = load(
            conn,
            &format!(
                "WITH {WINDOWS_CTE}
                 SELECT cp.course_id AS course_id, cp.priority_id AS priority_id
                   FROM course_priorities cp WHERE cp.course_id IN (SELECT id FROM wc)"
            ),
            &params,
        )?;
        for l in links {
            if let Some(c) = info.get_mut(&l.course_id) {
                c.priorities.push(l.priority_id);
            }
        }
    }
    Ok(Courses { info, by_period })
}

/// Names and sort positions of the groups' keys.
#[derive(Default)]
pub(super) struct Labels {
    pub(super) schools: HashMap<String, (String, Option<String>)>,
    pub(super) clusters: HashMap<String, String>,
    staff_groups: HashMap<String, (i32, String)>,
    priorities: HashMap<String, (i32, String)>,
}

pub(super) fn load_labels(
    conn: &mut DbConn,
    levels: &[GroupBy],
    need_schools: bool,
) -> QueryResult<Labels> {
    let mut labels = Labels::default();
    if need_schools || levels.contains(&GroupBy::School) {
        labels.schools = schools::table
            .select((schools::id, schools::name, schools::cluster_id))
            .load::<(String, String, Option<String>)>(conn)?
            .into_iter()
            .map(|(id, name, cluster)| (id, (name, cluster)))
            .collect();
    }
    labels.clusters = clusters::table
        .select((clusters::id, clusters::name))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    if levels.contains(&GroupBy::StaffGroup) {
        labels.staff_groups = staff_groups::table
            .select((staff_groups::id, staff_groups::position, staff_groups::name))
            .load::<(String, i32, String)>(conn)?
            .into_iter()
            .map(|(id, p, n)| (id, (p, n)))
            .collect();
    }
    if levels.contains(&GroupBy::Priority) {
        labels.priorities = priorities::table
            .select((priorities::id, priorities::position, priorities::name))
            .load::<(String, i32, String)>(conn)?
            .into_iter()
            .map(|(id, p, n)| (id, (p, n)))
            .collect();
    }
    Ok(labels)
}

/// Sort position (unknowns last) and label of a key.
pub(super) fn describe(
    level: GroupBy,
    key: &str,
    labels: &Labels,
    courses: &Courses,
) -> ((u8, String), String) {
    if key == NONE_KEY {
        return ((1, String::new()), level.none_label().to_string());
    }
    let named = |name: Option<&String>| {
        let label = name.cloned().unwrap_or_else(|| key.to_string());
        ((0, format!("{}\u{0}{key}", label.to_lowercase())), label)
    };
    match level {
        GroupBy::School => named(labels.schools.get(key).map(|(n, _)| n)),
        GroupBy::Cluster => named(labels.clusters.get(key)),
        GroupBy::StaffGroup | GroupBy::Priority => {
            let map = if level == GroupBy::StaffGroup {
                &labels.staff_groups
            } else {
                &labels.priorities
            };
            match map.get(key) {
                Some((pos, name)) => ((0, format!("{pos:010}\u{0}{key}")), name.clone()),
                None => named(None),
            }
        }
        GroupBy::Course => match courses.info.get(key) {
            Some(c) => {
                let date = crate::reports::metrics::london_date(c.first_start);
                (
                    (0, format!("{}\u{0}{key}", c.first_start)),
                    format!("{} ({})", c.title, date.format("%-d %B %Y")),
                )
            }
            None => named(None),
        },
        GroupBy::Term => {
            let label = term_from_key(key).map(|t| t.label()).unwrap_or_default();
            ((0, key.to_string()), label)
        }
    }
}

fn term_from_key(key: &str) -> Option<Term> {
    let year: i32 = key.get(..4)?.parse().ok()?;
    let season = key.rsplit('-').next()?;
    let first = match season {
        "autumn" => chrono::NaiveDate::from_ymd_opt(year, 9, 1),
        "spring" => chrono::NaiveDate::from_ymd_opt(year + 1, 1, 1),
        "summer" => chrono::NaiveDate::from_ymd_opt(year + 1, 4, 1),
        _ => None,
    }?;
    Some(Term::of_date(first))
}
