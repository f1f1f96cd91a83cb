//! The report cells: sums of the engagement and impact reports kept ahead of time.
//!
//! A report over a national alliance would otherwise read millions of bookings with their
//! marks, invitations and answers. Instead:
//!
//! - `report_facts` holds each course's sums by (school, staff group, cluster) and
//!   `report_courses` its totals, with the London month of its first session;
//! - `report_school_cells` and `report_group_cells` hold `report_facts` summed by (month,
//!   school) and by (month, cluster, staff group).
//!
//! Triggers (see the migration) mark a course in `report_dirty` in the very transaction that
//! changes anything it is summed from. [`refresh`] sums marked courses again (outside the
//! write lock, into scratch tables) and moves the cells by the difference a few courses per
//! short write transaction (a large course a range of its schools per write, staying marked
//! until the last), and unmarks a course (keeping its row with the version summed, so
//! versions only rise) only if no change came after it read the course. Reports
//! (`store::reports`) read the cells, take out the courses that are marked (or whose held
//! sessions have changed with time since they were summed) and
//! add those courses' figures worked out live, so a report is exact whenever it is read,
//! however far behind the refresher is.
//!
//! The refresher also keeps each school's latest few counted responses per academic year
//! (`tails`), which the reports' evaluation figures need, marked by triggers in the same way
//! per school and year.

use chrono::{Datelike, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text, Timestamp};
use diesel::QueryResult;

use crate::db::DbConn;

mod refresh;
mod tails;

pub use refresh::{
    marked, refresh, refresh_all, refresh_batch, refresh_batch_with, refresh_batch_within, Pass,
    Refreshed, ROWS_PER_WRITE, WRITE_BOUND,
};
pub use tails::{fill_school_tails, marked_tails, KEPT_TAIL};
pub(crate) use tails::{mark_tails_of_bookings, unpack_into, EntryRef, KeptEntry};

type Backend = <DbConn as diesel::Connection>::Backend;

/// The condition on a `report_dirty` row that the course is marked for summing again: its
/// generated column `marked`, a version above the one last summed (a summed mark is kept with
/// the version summed, so versions only rise). Written exactly as the predicate of the
/// partial index `report_dirty_marked`, so either backend can find the marked courses through
/// it. A column of its own so that raising the version of a course already marked changes no
/// indexed column: PostgreSQL then writes it in place, with no new index entry.
pub(crate) const MARKED: &str = "marked";

/// The additive sums every cell holds, in the migration's column order: the engagement
/// report's first (the first 17), then the impact report's.
///
/// Engagement: `bookings` (not declined), `confirmed`, `waitlisted`, `cancelled`,
/// `late_cancellations`, `expected_attendances` (confirmed x sessions held),
/// `attendances`, `completed`, `no_shows`, `evaluations_sent`/`_completed` (both kinds),
/// `satisfaction_sum`/`_n`, `impact_positive`/`_n`, and the cost of no-shows and late
/// cancellations in pence. Impact: `evaluated` (bookings with any invitation or response: the
/// impact report lists a group only when it has one), invitations sent and answered per kind,
/// the retrospective confidence shift (sum, pairs, respondents), and per Guskey level the
/// answers and respondents. Both: the evaluation responses of each kind (post-course,
/// follow-up), which the released figures step by (`store::reports::released`).
pub const COLUMNS: [&str; 37] = [
    "bookings",
    "confirmed",
    "waitlisted",
    "cancelled",
    "late_cancellations",
    "expected_attendances",
    "attendances",
    "completed",
    "no_shows",
    "evaluations_sent",
    "evaluations_completed",
    "satisfaction_sum",
    "satisfaction_n",
    "impact_positive",
    "impact_n",
    "no_show_cost_pence",
    "late_cancellation_cost_pence",
    "evaluated",
    "post_sent",
    "post_completed",
    "follow_sent",
    "follow_completed",
    "confidence_shift_sum",
    "confidence_pairs",
    "confidence_n",
    "g1",
    "g2",
    "g3",
    "g4",
    "g5",
    "g1_n",
    "g2_n",
    "g3_n",
    "g4_n",
    "g5_n",
    "post_responses",
    "follow_responses",
];

/// A bound parameter of a hand-written query.
#[derive(Clone, Debug)]
pub(crate) enum Param {
    Ts(NaiveDateTime),
    OptTs(Option<NaiveDateTime>),
    Text(String),
    Int(i64),
    OptInt(Option<i64>),
}

/// Binds `params`, in order, to a boxed SQL query of any backend.
macro_rules! bind_params {
    ($query:expr, $params:expr) => {{
        let mut query = $query;
        for p in $params {
            query = match p {
                Param::Ts(t) => query.bind::<Timestamp, _>(*t),
                Param::OptTs(t) => query.bind::<diesel::sql_types::Nullable<Timestamp>, _>(*t),
                Param::Text(s) => query.bind::<Text, _>(s.clone()),
                Param::Int(n) => query.bind::<BigInt, _>(*n),
                Param::OptInt(n) => query.bind::<diesel::sql_types::Nullable<BigInt>, _>(*n),
            };
        }
        query
    }};
}

fn bound<'a>(
    conn: &DbConn,
    sql: &str,
    params: &[Param],
) -> diesel::query_builder::BoxedSqlQuery<'a, Backend, diesel::query_builder::SqlQuery> {
    bind_params!(
        diesel::sql_query(crate::db::numbered(conn, sql)).into_boxed::<Backend>(),
        params
    )
}

/// Runs a query written with `$n` placeholders and loads its rows.
pub(crate) fn load<R>(conn: &mut DbConn, sql: &str, params: &[Param]) -> QueryResult<Vec<R>>
where
    R: diesel::QueryableByName<Backend> + 'static,
{
    bound(conn, sql, params).load(conn)
}

/// Runs a query written with `$n` placeholders and hands its rows to `f` one at a time, as
/// they are read, so a query of many rows is never held whole in memory: SQLite steps
/// through it, and PostgreSQL sends it a row at a time (libpq's single-row mode) instead of
/// the client keeping the whole result.
pub(crate) fn for_each<R>(
    conn: &mut DbConn,
    sql: &str,
    params: &[Param],
    mut f: impl FnMut(R),
) -> QueryResult<()>
where
    R: diesel::QueryableByName<diesel::pg::Pg>
        + diesel::QueryableByName<diesel::sqlite::Sqlite>
        + 'static,
{
    let sql = crate::db::numbered(conn, sql);
    match conn {
        DbConn::Pg(c) => {
            let query = bind_params!(
                diesel::sql_query(sql).into_boxed::<diesel::pg::Pg>(),
                params
            );
            for row in query.load_iter::<R, diesel::pg::PgRowByRowLoadingMode>(c)? {
                f(row?);
            }
        }
        DbConn::Sqlite(c) => {
            let query = bind_params!(
                diesel::sql_query(sql).into_boxed::<diesel::sqlite::Sqlite>(),
                params
            );
            for row in query.load_iter::<R, diesel::connection::DefaultLoadingMode>(c)? {
                f(row?);
            }
        }
    }
    Ok(())
}

/// Runs a statement written with `$n` placeholders; returns the rows it changed.
pub(crate) fn exec(conn: &mut DbConn, sql: &str, params: &[Param]) -> QueryResult<usize> {
    bound(conn, sql, params).execute(conn)
}

/// Runs a query whose one row is a count, `n`.
pub(crate) fn count(conn: &mut DbConn, sql: &str) -> QueryResult<i64> {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let rows: Vec<N> = load(conn, sql, &[])?;
    Ok(rows.first().map_or(0, |r| r.n))
}

/// `$from, $from+1, ...` for `n` parameters.
pub(crate) fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `CAST(COALESCE(SUM(expr), 0) AS BIGINT)`: PostgreSQL sums bigints into numerics and both
/// backends sum no rows into NULL.
pub(crate) fn sum(expr: &str) -> String {
    format!("CAST(COALESCE(SUM({expr}), 0) AS BIGINT)")
}

/// The London month (`yyyymm`) of a moment in naive UTC.
pub fn month_of(t: NaiveDateTime) -> i64 {
    let d = crate::reports::metrics::london_date(t);
    i64::from(d.year()) * 100 + i64::from(d.month())
}

/// The common table expressions and the final `SELECT` that sum the bookings of the
/// published courses matching `courses` (a condition on `courses c`) by course, school, staff
/// group and the school's current cluster, with every column of [`COLUMNS`]. Sessions count
/// as held when they started before the placeholder `now`. With `school` (a placeholder),
/// only that school's bookings, and the marks, invitations and responses are read through the
/// school's bookings rather than the whole alliance's. The CTE names start with `f_`, so the
/// caller can put its own next to them.
///
/// The marks are read through their courses: `CROSS JOIN` keeps SQLite from starting at the
/// sessions held before `now` (every session in the alliance's history, the course matched
/// on each of their marks). It chose that from the `start_at` range at the first alliance's
/// size (summing three courses took three times as long), though not on a national seed;
/// the join's order now does not depend on the planner's guess. PostgreSQL orders the join
/// itself either way.
pub(crate) fn facts_sql(courses: &str, now: &str, school: Option<&str>) -> (String, String) {
    let narrow = |on: &str| match school {
        Some(s) => format!(" JOIN bookings bx ON bx.id = {on} AND bx.school_id = {s}"),
        None => String::new(),
    };
    let only_school = school.map_or(String::new(), |s| format!(" AND b.school_id = {s}"));
    let confirmed = "b.status = 'confirmed'";
    let held = "COALESCE(h.n, 0)";
    let no_show = format!("{confirmed} AND {held} > 0 AND COALESCE(a.absent, 0) = {held}");
    let late = "b.status = 'cancelled' AND b.late_cancellation";
    let per_booking: Vec<String> = (1..=5)
        .map(|n| {
            format!(
                "SUM(r.guskey{n}_answers) AS g{n}, \
                 SUM(CASE WHEN r.guskey{n}_answers > 0 THEN 1 ELSE 0 END) AS g{n}_n"
            )
        })
        .collect();
    let ctes = format!(
        "f_courses AS (
    SELECT c.id FROM courses c
     WHERE c.status = 'published' AND c.first_session_start IS NOT NULL AND ({courses})
),
f_held AS (
    SELECT s.course_id, COUNT(*) AS n FROM course_sessions s
     WHERE s.course_id IN (SELECT id FROM f_courses) AND s.start_at < {now}
     GROUP BY s.course_id
),
f_att AS (
    SELECT x.booking_id,
           SUM(CASE WHEN x.status IN ('present', 'late', 'left_early') THEN 1 ELSE 0 END) AS attended,
           SUM(CASE WHEN x.status = 'absent' THEN 1 ELSE 0 END) AS absent
      FROM attendance x
     CROSS JOIN course_sessions s{att_narrow}
     WHERE s.id = x.session_id AND s.start_at < {now} AND x.course_id IN (SELECT id FROM f_courses)
     GROUP BY x.booking_id
),
f_inv AS (
    SELECT i.booking_id,
           SUM(CASE WHEN i.sent_at IS NOT NULL THEN 1 ELSE 0 END) AS sent,
           SUM(CASE WHEN i.sent_at IS NOT NULL AND i.answered_at IS NOT NULL THEN 1 ELSE 0 END) AS answered,
           SUM(CASE WHEN i.kind = 'post_course' AND i.sent_at IS NOT NULL THEN 1 ELSE 0 END) AS post_sent,
           SUM(CASE WHEN i.kind = 'post_course' AND i.sent_at IS NOT NULL AND i.answered_at IS NOT NULL THEN 1 ELSE 0 END) AS post_done,
           SUM(CASE WHEN i.kind = 'follow_up' AND i.sent_at IS NOT NULL THEN 1 ELSE 0 END) AS follow_sent,
           SUM(CASE WHEN i.kind = 'follow_up' AND i.sent_at IS NOT NULL AND i.answered_at IS NOT NULL THEN 1 ELSE 0 END) AS follow_done
      FROM evaluation_invitations i{inv_narrow}
     WHERE i.course_id IN (SELECT id FROM f_courses)
     GROUP BY i.booking_id
),
f_resp AS (
    SELECT r.booking_id,
           SUM(CASE WHEN r.kind = 'post_course' THEN r.satisfaction ELSE 0 END) AS sat_sum,
           SUM(CASE WHEN r.kind = 'post_course' AND r.satisfaction IS NOT NULL THEN 1 ELSE 0 END) AS sat_n,
           SUM(CASE WHEN r.kind = 'follow_up' AND r.impact >= 4 THEN 1 ELSE 0 END) AS imp_pos,
           SUM(CASE WHEN r.kind = 'follow_up' AND r.impact IS NOT NULL THEN 1 ELSE 0 END) AS imp_n,
           SUM(r.confidence_shift) AS shift,
           SUM(r.confidence_pairs) AS pairs,
           SUM(CASE WHEN r.confidence_pairs > 0 THEN 1 ELSE 0 END) AS conf_n,
           SUM(CASE WHEN r.kind = 'post_course' THEN 1 ELSE 0 END) AS post_n,
           SUM(CASE WHEN r.kind = 'follow_up' THEN 1 ELSE 0 END) AS follow_n,
           {per_booking}
      FROM evaluation_responses r{resp_narrow}
     WHERE r.course_id IN (SELECT id FROM f_courses)
     GROUP BY r.booking_id
)",
        per_booking = per_booking.join(",\n           "),
        att_narrow = narrow("x.booking_id"),
        inv_narrow = narrow("i.booking_id"),
        resp_narrow = narrow("r.booking_id"),
    );
    let mut sums = vec![
        "COUNT(*)".to_string(),
        sum(&format!("CASE WHEN {confirmed} THEN 1 ELSE 0 END")),
        sum("CASE WHEN b.status = 'waitlisted' THEN 1 ELSE 0 END"),
        sum("CASE WHEN b.status = 'cancelled' THEN 1 ELSE 0 END"),
        sum(&format!("CASE WHEN {late} THEN 1 ELSE 0 END")),
        sum(&format!("CASE WHEN {confirmed} THEN {held} ELSE 0 END")),
        sum(&format!(
            "CASE WHEN {confirmed} THEN COALESCE(a.attended, 0) ELSE 0 END"
        )),
        sum(&format!(
            "CASE WHEN {confirmed} AND {held} > 0 AND COALESCE(a.attended, 0) = {held} \
             THEN 1 ELSE 0 END"
        )),
        sum(&format!("CASE WHEN {no_show} THEN 1 ELSE 0 END")),
        sum("i.sent"),
        sum("i.answered"),
        sum("r.sat_sum"),
        sum("r.sat_n"),
        sum("r.imp_pos"),
        sum("r.imp_n"),
        sum(&format!(
            "CASE WHEN {no_show} THEN b.price_pence ELSE 0 END"
        )),
        sum(&format!("CASE WHEN {late} THEN b.price_pence ELSE 0 END")),
        sum("CASE WHEN i.booking_id IS NOT NULL OR r.booking_id IS NOT NULL THEN 1 ELSE 0 END"),
        sum("i.post_sent"),
        sum("i.post_done"),
        sum("i.follow_sent"),
        sum("i.follow_done"),
        sum("r.shift"),
        sum("r.pairs"),
        sum("r.conf_n"),
    ];
    sums.extend((1..=5).map(|n| sum(&format!("r.g{n}"))));
    sums.extend((1..=5).map(|n| sum(&format!("r.g{n}_n"))));
    sums.push(sum("r.post_n"));
    sums.push(sum("r.follow_n"));
    let select_sums = sums
        .iter()
        .zip(COLUMNS)
        .map(|(s, c)| format!("{s} AS {c}"))
        .collect::<Vec<_>>()
        .join(",\n       ");
    // The bookings are found through their courses (`IN`): SQLite then searches each
    // course's bookings by index, where a join with `f_courses` scanned every booking.
    let select = format!(
        "SELECT b.course_id AS course_id, COALESCE(b.school_id, '') AS school_key,
       COALESCE(b.staff_group_id, '') AS staff_group_key, COALESCE(sc.cluster_id, '') AS cluster_key,
       {select_sums}
  FROM bookings b
  LEFT JOIN schools sc ON sc.id = b.school_id
  LEFT JOIN f_held h ON h.course_id = b.course_id
  LEFT JOIN f_att a ON a.booking_id = b.id
  LEFT JOIN f_inv i ON i.booking_id = b.id
  LEFT JOIN f_resp r ON r.booking_id = b.id
 WHERE b.course_id IN (SELECT id FROM f_courses) AND b.status <> 'declined'{only_school}
 GROUP BY b.course_id, COALESCE(b.school_id, ''), COALESCE(b.staff_group_id, ''), COALESCE(sc.cluster_id, '')"
    );
    (ctes, select)
}

/// Gives every response without one the academic year of its course's first session
/// (`evaluation_responses.course_year`), and marks the responses the reports do not count
/// (`counted`: of a course not published or a declined booking), as the triggers of
/// migrations `released_tails` and `counted_responses` do for each response written; the
/// reports find tails by both. For loads that write responses with the triggers off. Returns
/// how many responses it gave a year.
pub fn fill_response_report_columns(conn: &mut DbConn) -> QueryResult<usize> {
    exec(
        conn,
        "UPDATE evaluation_responses SET counted = FALSE
          WHERE NOT EXISTS (SELECT 1 FROM courses c
                             WHERE c.id = evaluation_responses.course_id AND c.status = 'published')
             OR EXISTS (SELECT 1 FROM bookings b
                         WHERE b.id = evaluation_responses.booking_id AND b.status = 'declined')",
        &[],
    )?;
    let sql = match conn.backend() {
        crate::db::Backend::Postgres => {
            "UPDATE evaluation_responses r SET course_year = academic_year_of(c.first_session_start)
               FROM courses c WHERE c.id = r.course_id AND r.course_year IS NULL"
        }
        crate::db::Backend::Sqlite => {
            "UPDATE evaluation_responses SET course_year = (
                SELECT CAST(strftime('%Y', c.first_session_start, '+1 hour') AS INTEGER)
                       - CASE WHEN CAST(strftime('%m', c.first_session_start, '+1 hour') AS INTEGER) < 9
                              THEN 1 ELSE 0 END
                  FROM courses c WHERE c.id = evaluation_responses.course_id)
              WHERE course_year IS NULL"
        }
    };
    exec(conn, sql, &[])
}

/// The columns joined with `, `, each prefixed by `prefix`.
pub(crate) fn column_list(prefix: &str) -> String {
    COLUMNS
        .iter()
        .map(|c| format!("{prefix}{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(QueryableByName)]
struct Marked {
    #[diesel(sql_type = Text)]
    course_id: String,
    #[diesel(sql_type = BigInt)]
    version: i64,
}

#[derive(QueryableByName)]
struct Span {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Timestamp)]
    first_start: NaiveDateTime,
    #[diesel(sql_type = diesel::sql_types::Nullable<Timestamp>)]
    prev_start: Option<NaiveDateTime>,
    #[diesel(sql_type = diesel::sql_types::Nullable<Timestamp>)]
    next_start: Option<NaiveDateTime>,
}

/// SQL that is true when the kept sums of `report_courses rc` hold at the moment `now` (a
/// placeholder): the same sessions have started by then as when the course was summed.
pub(crate) fn holds_at(now: &str) -> String {
    format!(
        "((rc.refreshed_at <= {now} AND (rc.next_start IS NULL OR rc.next_start >= {now})) \
          OR (rc.refreshed_at > {now} AND (rc.prev_start IS NULL OR rc.prev_start < {now})))"
    )
}

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

#[derive(QueryableByName)]
struct Month {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    month: i32,
}

/// `{month}`'s academic year (the year of its September), then `{rest}`, as SQL.
fn academic_year_of_month(month: &str, rest: &str) -> String {
    format!("CASE WHEN {month} % 100 >= 9 THEN {month} / 100 ELSE {month} / 100 - 1 END, {rest}")
}

/// Adds (`sign` "") or takes out (`sign` "-") the facts rows matching `facts` (a condition on
/// `report_facts f`, its placeholders bound to `params`) to or from every kind of cell, by the
/// month their course row holds.
fn move_cells(conn: &mut DbConn, facts: &str, params: &[Param], sign: &str) -> QueryResult<()> {
    let year_keys = academic_year_of_month("rc.month", "f.school_key");
    for (table, keys, key_exprs) in [
        (
            "report_school_cells",
            "month, school_key",
            "rc.month, f.school_key",
        ),
        (
            "report_school_years",
            "year, school_key",
            year_keys.as_str(),
        ),
        (
            "report_group_cells",
            "month, cluster_key, staff_group_key",
            "rc.month, f.cluster_key, f.staff_group_key",
        ),
    ] {
        let sums = COLUMNS
            .iter()
            .map(|c| format!("{sign}{}", sum(&format!("f.{c}"))))
            .collect::<Vec<_>>()
            .join(", ");
        let updates = COLUMNS
            .iter()
            .map(|c| format!("{c} = {table}.{c} + excluded.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        // The WHERE clause is what lets SQLite tell the upsert's ON from a join's.
        exec(
            conn,
            &format!(
                "INSERT INTO {table} ({keys}, {cols})
                 SELECT {key_exprs}, {sums}
                   FROM report_facts f JOIN report_courses rc ON rc.course_id = f.course_id
                  WHERE {facts}
                  GROUP BY {key_exprs}
                 ON CONFLICT ({keys}) DO UPDATE SET {updates}",
                cols = column_list(""),
            ),
            params,
        )?;
    }
    Ok(())
}
