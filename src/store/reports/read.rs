//! Reading the sums in SQL, either through the report cells (with stale courses worked out
//! live) or straight from the bookings, both through the same per-booking SQL.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel::QueryResult;

use crate::db::DbConn;
use crate::reports::metrics::{GroupBy, ReportQuery, ReportScope};

use crate::store::report_cells::{load, sum, Courses, Param, MARKED};

use super::cells::{Binder, CellRow, Source, Wanted};
use super::window::split_window;

/// The sums of the window of `q` by the levels' keys, read through the cells: one row per
/// key (and per course or month where a level needs it). Exact at the moment of the
/// snapshot whatever the refresher has done: courses marked since they were summed, and those
/// whose held sessions differ between when they were summed and `q.now`, are taken out of
/// the kept sums and worked out live.
pub(super) fn cell_rows(
    conn: &mut DbConn,
    q: &ReportQuery,
    levels: &[GroupBy],
    wanted: Wanted,
) -> QueryResult<Vec<CellRow>> {
    use crate::store::report_cells::{column_list, COLUMNS};
    let (lo, hi) = q.window_utc();
    // Parameters are bound where they are written, so the query binds only what it uses.
    let valid = |b: &mut Binder| crate::store::report_cells::holds_at(&b.bind(Param::Ts(q.now)));
    let window = |b: &mut Binder, column: &str| {
        let (from, to) = (b.bind(Param::Ts(lo)), b.bind(Param::Ts(hi)));
        format!("{column} >= {from} AND {column} < {to}")
    };
    // Courses whose kept sums are out of date (marked, or summed when other sessions had
    // started): taken out of the cells...
    let stale_sql = |b: &mut Binder| {
        format!(
            "SELECT rc.course_id AS id FROM report_courses rc
              WHERE {} AND (rc.course_id IN (SELECT course_id FROM report_dirty WHERE {MARKED})
                            OR NOT {})",
            window(b, "rc.first_start"),
            valid(b),
        )
    };
    // ...and the window's courses worked out live: those, and any not summed at all.
    let live_sql = |b: &mut Binder| {
        format!(
            "SELECT c.id AS id FROM courses c
              WHERE c.status = 'published' AND {}
                AND (c.id IN (SELECT course_id FROM report_dirty WHERE {MARKED})
                     OR NOT EXISTS (SELECT 1 FROM report_courses rc WHERE rc.course_id = c.id AND {}))",
            window(b, "c.first_session_start"),
            valid(b),
        )
    };
    // Both are usually a handful, and are listed in the query: PostgreSQL plans a query
    // with a subquery it cannot see into for the worst case, reading every mark and answer.
    let stale = CourseSet::load(conn, &stale_sql)?;
    let live = CourseSet::load(conn, &live_sql)?;
    let mut b = Binder::default();
    let in_stale = stale.condition("rc.course_id", &mut b);
    let negated = COLUMNS
        .iter()
        .map(|c| format!("-f.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let facts_part = |cond: &str| {
        format!(
            "SELECT f.course_id AS course_id, rc.month AS month, f.school_key AS school_key,
                    f.cluster_key AS cluster_key, f.staff_group_key AS staff_group_key, {cols}
               FROM report_facts f JOIN report_courses rc ON rc.course_id = f.course_id
              WHERE ({cond}) AND NOT {in_stale}",
            cols = column_list("f."),
        )
    };
    let range = |b: &mut Binder, from: NaiveDateTime, to: NaiveDateTime| {
        let f = b.bind(Param::Ts(from));
        let t = b.bind(Param::Ts(to));
        format!("rc.first_start >= {f} AND rc.first_start < {t}")
    };

    let mut parts = Vec::new();
    let source = Source::of(levels);
    match source {
        Source::Courses => parts.push(format!(
            "SELECT rc.course_id AS course_id, rc.month AS month, '' AS school_key,
                    '' AS cluster_key, '' AS staff_group_key, {cols}
               FROM report_courses rc
              WHERE {span} AND NOT {in_stale}",
            span = window(&mut b, "rc.first_start"),
            cols = column_list("rc."),
        )),
        Source::Facts => {
            let span = window(&mut b, "rc.first_start");
            parts.push(facts_part(&span));
        }
        Source::SchoolCells | Source::GroupCells => {
            let school = source == Source::SchoolCells;
            // Academic-year cells cannot say which term a booking was in.
            let split = split_window(q, school && !levels.contains(&GroupBy::Term));
            let (keys, outer_keys, join) = if school {
                (
                    "school_key",
                    "y.school_key AS school_key, COALESCE(sc.cluster_id, '') AS cluster_key, \
                     '' AS staff_group_key",
                    // The school cells take the school's cluster as it is now.
                    "LEFT JOIN schools sc ON sc.id = y.school_key",
                )
            } else {
                (
                    "cluster_key, staff_group_key",
                    "'' AS school_key, y.cluster_key AS cluster_key, \
                     y.staff_group_key AS staff_group_key",
                    "",
                )
            };
            let fkeys = keys
                .split(", ")
                .map(|k| format!("f.{k}"))
                .collect::<Vec<_>>()
                .join(", ");
            // The kept sums of one span of a cells table, less the courses out of date in it
            // (found by the months of the span).
            let mut cells = |b: &mut Binder,
                             table: &str,
                             span: &str,
                             lo: i64,
                             hi: i64,
                             m: (i64, i64)| {
                let (lo, hi) = (b.bind(Param::Int(lo)), b.bind(Param::Int(hi)));
                let (m_lo, m_hi) = (b.bind(Param::Int(m.0)), b.bind(Param::Int(m.1)));
                let month = if span == "month" {
                    "y.month"
                } else {
                    "CAST(NULL AS INTEGER)"
                };
                parts.push(format!(
                    "SELECT CAST(NULL AS TEXT) AS course_id, {month} AS month, {outer_keys}, {ycols}
                       FROM (SELECT {span} AS month, {keys}, {cols} FROM {table}
                              WHERE {span} >= {lo} AND {span} <= {hi}
                             UNION ALL
                             SELECT rc.month, {fkeys}, {negated}
                               FROM report_facts f JOIN report_courses rc ON rc.course_id = f.course_id
                              WHERE rc.month >= {m_lo} AND rc.month <= {m_hi}
                                AND {in_stale}) y
                       {join}",
                    ycols = column_list("y."),
                    cols = column_list(""),
                ));
            };
            let month_table = if school {
                "report_school_cells"
            } else {
                "report_group_cells"
            };
            if let Some((first, last)) = split.years {
                let months = (first * 100 + 9, (last + 1) * 100 + 8);
                cells(&mut b, "report_school_years", "year", first, last, months);
            }
            for (first, last) in split.months {
                cells(&mut b, month_table, "month", first, last, (first, last));
            }
            for (from, to) in split.edges {
                let cond = range(&mut b, from, to);
                parts.push(facts_part(&cond));
            }
        }
    }
    // One academic year by school with nothing out of date is one row per school of
    // `report_school_years` (its key): read as it is, without summing 22,000 groups of one.
    let one_row_each = source == Source::SchoolCells
        && levels == [GroupBy::School]
        && stale.is_empty()
        && live.is_empty()
        && {
            let split = split_window(q, true);
            matches!(split.years, Some((first, last)) if first == last)
                && split.months.is_empty()
                && split.edges.is_empty()
        };
    let mut ctes = String::new();
    if !live.is_empty() {
        let courses = live.condition("c.id", &mut b);
        ctes = live_part(
            &mut b,
            &mut parts,
            Courses::Where(&courses),
            q.now,
            None,
            wanted,
        );
    }
    grouped(conn, b, &ctes, &parts, levels, wanted, one_row_each)
}

/// Adds to `parts` the figures of the bookings of the published courses matching `courses`,
/// worked out live as of `now` (only `school`'s bookings, if given), a row per booking with
/// the columns `wanted` needs (the others 0) for [`grouped`] to sum; returns the `WITH`
/// clause they need.
fn live_part(
    b: &mut Binder,
    parts: &mut Vec<String>,
    courses: Courses<'_>,
    now: NaiveDateTime,
    school: Option<&str>,
    wanted: Wanted,
) -> String {
    use crate::store::report_cells::{column_list, facts_sql, FactsForm};
    let school = school.map(|id| b.bind(Param::Text(id.to_string())));
    let (ctes, select) = facts_sql(
        courses,
        &mut || b.bind(Param::Ts(now)),
        school.as_deref(),
        &|c| wanted.needs(c),
        FactsForm::PerBooking,
    );
    parts.push(format!(
        "SELECT l.course_id AS course_id, CAST(NULL AS INTEGER) AS month,
                l.school_key AS school_key, l.cluster_key AS cluster_key,
                l.staff_group_key AS staff_group_key, {cols}
           FROM ({select}) l",
        cols = column_list("l."),
    ));
    format!("WITH {ctes}\n")
}

/// Sums the rows of `parts` (each with a course, a month, the person-level keys and every
/// column) by the levels' keys; with `one_row_each` (no two rows of the parts share the
/// levels' keys), reads them as they are.
fn grouped(
    conn: &mut DbConn,
    b: Binder,
    ctes: &str,
    parts: &[String],
    levels: &[GroupBy],
    wanted: Wanted,
    one_row_each: bool,
) -> QueryResult<Vec<CellRow>> {
    use crate::store::report_cells::COLUMNS;
    if parts.is_empty() {
        return Ok(Vec::new());
    }
    let person = |level: GroupBy| match level {
        GroupBy::School => "x.school_key",
        GroupBy::Cluster => "x.cluster_key",
        _ => "x.staff_group_key",
    };
    let mut select = Vec::new();
    let mut group = Vec::new();
    if levels.iter().any(GroupBy::is_course_level) {
        select.push("x.course_id AS course_id".to_string());
        group.push("x.course_id".to_string());
    } else {
        select.push("CAST(NULL AS TEXT) AS course_id".to_string());
    }
    if levels.contains(&GroupBy::Term) {
        select.push("x.month AS month".to_string());
        group.push("x.month".to_string());
    } else {
        select.push("CAST(NULL AS INTEGER) AS month".to_string());
    }
    let persons: Vec<GroupBy> = levels
        .iter()
        .copied()
        .filter(|l| !l.is_course_level())
        .collect();
    for i in 0..2 {
        match persons.get(i) {
            Some(level) => {
                select.push(format!("{} AS p{}", person(*level), i + 1));
                group.push(person(*level).to_string());
            }
            None => select.push(format!("CAST(NULL AS TEXT) AS p{}", i + 1)),
        }
    }
    // Only the report's own columns are summed and sent; the others read 0 (`CellRow`).
    let sums = COLUMNS
        .iter()
        .filter(|c| wanted.needs(c))
        .map(|c| {
            if one_row_each {
                format!("x.{c} AS {c}")
            } else {
                format!("{} AS {c}", sum(&format!("x.{c}")))
            }
        })
        .collect::<Vec<_>>()
        .join(",\n       ");
    let group_by = if group.is_empty() || one_row_each {
        String::new()
    } else {
        format!(" GROUP BY {}", group.join(", "))
    };
    let sql = format!(
        "{ctes}SELECT {select},
       {sums}
  FROM ({parts}) x{group_by}",
        select = select.join(", "),
        parts = parts.join("\n UNION ALL\n"),
    );
    let mut rows: Vec<CellRow> = load(conn, &sql, &b.params)?;
    // '' is the cells' key for "none".
    for r in &mut rows {
        r.p1 = r.p1.take().filter(|k| !k.is_empty());
        r.p2 = r.p2.take().filter(|k| !k.is_empty());
    }
    Ok(rows)
}

/// The sums of the window of `q` by the levels' keys, straight from the bookings (only the
/// school's, for a school's own view).
pub(super) fn booking_rows(
    conn: &mut DbConn,
    q: &ReportQuery,
    levels: &[GroupBy],
    wanted: Wanted,
    scope: &ReportScope,
) -> QueryResult<Vec<CellRow>> {
    let (lo, hi) = q.window_utc();
    let mut b = Binder::default();
    let courses = format!(
        "c.first_session_start >= {} AND c.first_session_start < {}",
        b.bind(Param::Ts(lo)),
        b.bind(Param::Ts(hi))
    );
    let school = match scope {
        ReportScope::All => None,
        ReportScope::School(id) => Some(id.as_str()),
    };
    let mut parts = Vec::new();
    let ctes = live_part(
        &mut b,
        &mut parts,
        Courses::Where(&courses),
        q.now,
        school,
        wanted,
    );
    grouped(conn, b, &ctes, &parts, levels, wanted, false)
}

/// A set of course ids for a report query: listed when small, or as the query that finds
/// them when there are too many to bind (after a migration, before the first refresh).
enum CourseSet<F> {
    Ids(Vec<String>),
    Query(F),
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = Text)]
    id: String,
}

impl<F: Fn(&mut Binder) -> String> CourseSet<F> {
    /// Beyond this many ids the set stays a subquery.
    const MAX_LISTED: usize = 5_000;

    /// Runs `sql` (written with its parameters bound by the function) for the ids.
    fn load(conn: &mut DbConn, sql: F) -> QueryResult<CourseSet<F>> {
        let mut b = Binder::default();
        let text = sql(&mut b);
        let ids: Vec<Id> = load(conn, &text, &b.params)?;
        Ok(if ids.len() > Self::MAX_LISTED {
            CourseSet::Query(sql)
        } else {
            CourseSet::Ids(ids.into_iter().map(|i| i.id).collect())
        })
    }

    fn is_empty(&self) -> bool {
        matches!(self, CourseSet::Ids(ids) if ids.is_empty())
    }

    /// `column IN (the set)`, as SQL.
    fn condition(&self, column: &str, b: &mut Binder) -> String {
        match self {
            CourseSet::Ids(ids) if ids.is_empty() => "(1 = 0)".to_string(),
            CourseSet::Ids(ids) => {
                let list: Vec<String> = ids
                    .iter()
                    .map(|id| b.bind(Param::Text(id.clone())))
                    .collect();
                format!("({column} IN ({}))", list.join(", "))
            }
            CourseSet::Query(sql) => format!("({column} IN ({}))", sql(b)),
        }
    }
}
