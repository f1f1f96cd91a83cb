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

use crate::db::{placeholders, DbConn};

mod refresh;
mod tails;

pub use refresh::{
    marked, refresh, refresh_all, refresh_all_with, refresh_batch, refresh_batch_with,
    refresh_batch_within, Pass, Refreshed, ROWS_PER_WRITE, WRITE_BOUND,
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

/// [`exec`] or [`exec_kept`].
pub(crate) type Exec = fn(&mut DbConn, &str, &[Param]) -> QueryResult<usize>;

/// As [`exec`], for a statement whose text is one of a fixed few (never one carrying a list
/// of placeholders as long as its values, which [`exec`] is for): the connection keeps it
/// prepared ([`Prepared`](crate::db::prepared::Prepared)), so it is parsed once per
/// connection rather than at every run. The refresher's writes are such statements, and on
/// SQLite parsing them (the cells' upserts name every column three times) took longer than
/// running them, inside the write lock.
pub(crate) fn exec_kept(conn: &mut DbConn, sql: &str, params: &[Param]) -> QueryResult<usize> {
    use crate::db::prepared::{Bind, Prepared};
    params
        .iter()
        .fold(Prepared::new(sql), |q, p| {
            q.bind(match p {
                Param::Ts(t) => Bind::Ts(*t),
                Param::OptTs(t) => Bind::OptTs(*t),
                Param::Text(s) => Bind::Text(s),
                Param::Int(n) => Bind::BigInt(*n),
                Param::OptInt(n) => Bind::OptBigInt(*n),
            })
        })
        .execute(conn)
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

/// The longest list of values a statement kept prepared carries (see [`kept_list`]).
const KEPT_LIST: usize = 64;

/// `values` as a list of placeholders from `$1`, with the values to bind, for a statement
/// kept prepared when the third item is true. Up to [`KEPT_LIST`] values, the list is padded
/// to 1, 8 or 64 values by repeating the last one, so the statements that carry it have one
/// of three texts and are kept ([`exec_kept`]); `IN` against the list means the same with the
/// repeats. A longer list is as long as `values`, and its statements are parsed each time
/// ([`exec`]), so no connection keeps a statement per length. Three lengths, not one per
/// power of two, because each kept upsert of the cells costs SQLite about 50 KB per
/// connection (docs/performance.md).
pub(crate) fn kept_list(values: &[Param]) -> (String, Vec<Param>, bool) {
    let n = values.len();
    if n == 0 || n > KEPT_LIST {
        return (placeholders(1, n), values.to_vec(), false);
    }
    let length = [1, 8, KEPT_LIST]
        .into_iter()
        .find(|&l| l >= n)
        .unwrap_or(KEPT_LIST);
    let mut padded = values.to_vec();
    padded.resize(length, values[n - 1].clone());
    (placeholders(1, padded.len()), padded, true)
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

/// How [`facts_sql`] gives its rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FactsForm {
    /// One row per course, school, staff group and cluster, with their sums: the kept facts.
    Summed,
    /// One row per booking, with its own figures, for a caller that sums them by its own keys
    /// (a report's groups) at once: a second `GROUP BY` over the bookings cost about as much
    /// as working out their figures.
    PerBooking,
}

/// Which courses [`facts_sql`] sums the bookings of (always only the published ones with
/// sessions).
#[derive(Clone, Copy)]
pub(crate) enum Courses<'a> {
    /// The courses matching a condition on `courses c`: each table's rows are found through
    /// the courses it picks.
    Where(&'a str),
    /// The courses among a short list of ids (SQL: placeholders, which may be repeated), as
    /// the refresher sums a batch: each table's rows are also found by its course index for
    /// the listed ids. PostgreSQL cannot see through `IN (SELECT id FROM f_courses)` which
    /// few courses it reads, and at a small alliance's size it read every booking, mark,
    /// invitation and answer of the alliance for each of the refresher's batches (23 ms for
    /// a batch of seven courses, against 8 ms by the index).
    Among(&'a str),
}

/// The common table expressions and the final `SELECT` that sum the bookings of the
/// published courses matching `courses` (a condition on `courses c`) by course, school, staff
/// group and the school's current cluster, with every column of [`COLUMNS`] (or one row per
/// booking, as `form` says). Sessions count as held when they started before the placeholder
/// `now` gives (asked for only when the registers are read: SQLite refuses a bound parameter
/// the statement does not use). With `school` (a placeholder), only that school's bookings,
/// and the marks, invitations and responses are read through the school's bookings rather
/// than the whole alliance's. The CTE names start with `f_`, so the caller can put its own
/// next to them.
///
/// Columns `wanted` rejects read 0, and the marks, invitations or answers no wanted column
/// reads are not read at all: an impact report reads no register, an engagement report no
/// answer's Guskey levels or confidence (a fifth to a quarter of the statement's time).
///
/// The marks are read through their courses: `CROSS JOIN` keeps SQLite from starting at the
/// sessions held before `now` (every session in the alliance's history, the course matched
/// on each of their marks). It chose that from the `start_at` range at the first alliance's
/// size (summing three courses took three times as long), though not on a national seed;
/// the join's order now does not depend on the planner's guess. PostgreSQL orders the join
/// itself either way.
pub(crate) fn facts_sql(
    courses: Courses<'_>,
    now: &mut dyn FnMut() -> String,
    school: Option<&str>,
    wanted: &dyn Fn(&str) -> bool,
    form: FactsForm,
) -> (String, String) {
    let narrow = |on: &str| match school {
        Some(s) => format!(" JOIN bookings bx ON bx.id = {on} AND bx.school_id = {s}"),
        None => String::new(),
    };
    let only_school = school.map_or(String::new(), |s| format!(" AND b.school_id = {s}"));
    let confirmed = "b.status = 'confirmed'";
    let held = "COALESCE(h.n, 0)";
    let no_show = format!("{confirmed} AND {held} > 0 AND COALESCE(a.absent, 0) = {held}");
    let late = "b.status = 'cancelled' AND b.late_cancellation";
    // Each column's figure for one booking, in the order of COLUMNS, reading the booking
    // (`b`), its course's held sessions (`h`), its marks (`a`), invitations (`i`) and
    // answers (`r`).
    let mut figures = vec![
        "1".to_string(),
        format!("CASE WHEN {confirmed} THEN 1 ELSE 0 END"),
        "CASE WHEN b.status = 'waitlisted' THEN 1 ELSE 0 END".to_string(),
        "CASE WHEN b.status = 'cancelled' THEN 1 ELSE 0 END".to_string(),
        format!("CASE WHEN {late} THEN 1 ELSE 0 END"),
        format!("CASE WHEN {confirmed} THEN {held} ELSE 0 END"),
        format!("CASE WHEN {confirmed} THEN COALESCE(a.attended, 0) ELSE 0 END"),
        format!(
            "CASE WHEN {confirmed} AND {held} > 0 AND COALESCE(a.attended, 0) = {held} \
             THEN 1 ELSE 0 END"
        ),
        format!("CASE WHEN {no_show} THEN 1 ELSE 0 END"),
        "i.sent".to_string(),
        "i.answered".to_string(),
        "r.sat_sum".to_string(),
        "r.sat_n".to_string(),
        "r.imp_pos".to_string(),
        "r.imp_n".to_string(),
        format!("CASE WHEN {no_show} THEN b.price_pence ELSE 0 END"),
        format!("CASE WHEN {late} THEN b.price_pence ELSE 0 END"),
        "CASE WHEN i.booking_id IS NOT NULL OR r.booking_id IS NOT NULL THEN 1 ELSE 0 END"
            .to_string(),
        "i.post_sent".to_string(),
        "i.post_done".to_string(),
        "i.follow_sent".to_string(),
        "i.follow_done".to_string(),
        "r.shift".to_string(),
        "r.pairs".to_string(),
        "r.conf_n".to_string(),
    ];
    figures.extend((1..=5).map(|n| format!("r.g{n}")));
    figures.extend((1..=5).map(|n| format!("r.g{n}_n")));
    figures.push("r.post_n".to_string());
    figures.push("r.follow_n".to_string());
    let read: Vec<&str> = figures
        .iter()
        .zip(COLUMNS)
        .filter(|(_, c)| wanted(c))
        .map(|(f, _)| f.as_str())
        .collect();
    // Whether a wanted figure reads `alias.name` (`name` alone, not as the start of a longer
    // name: `r.g1` is not read by `r.g1_n`).
    let reads = |alias: &str, name: &str| {
        let needle = format!("{alias}.{name}");
        read.iter().any(|f| {
            f.match_indices(&needle).any(|(at, _)| {
                let before = f[..at].chars().next_back();
                let after = f[at + needle.len()..].chars().next();
                !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
                    && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
            })
        })
    };
    let reads_any = |alias: &str, names: &[&str]| names.iter().any(|n| reads(alias, n));
    // A table's sums per booking, keeping those a wanted figure reads.
    let per_booking = |alias: &str, sums: &[(String, String)]| -> Vec<String> {
        sums.iter()
            .filter(|(name, _)| reads(alias, name))
            .map(|(name, expr)| format!("{expr} AS {name}"))
            .collect()
    };
    let inv_sums: Vec<(String, String)> = [
        ("sent", "i.sent_at IS NOT NULL"),
        (
            "answered",
            "i.sent_at IS NOT NULL AND i.answered_at IS NOT NULL",
        ),
        (
            "post_sent",
            "i.kind = 'post_course' AND i.sent_at IS NOT NULL",
        ),
        (
            "post_done",
            "i.kind = 'post_course' AND i.sent_at IS NOT NULL AND i.answered_at IS NOT NULL",
        ),
        (
            "follow_sent",
            "i.kind = 'follow_up' AND i.sent_at IS NOT NULL",
        ),
        (
            "follow_done",
            "i.kind = 'follow_up' AND i.sent_at IS NOT NULL AND i.answered_at IS NOT NULL",
        ),
    ]
    .iter()
    .map(|(n, when)| {
        (
            n.to_string(),
            format!("SUM(CASE WHEN {when} THEN 1 ELSE 0 END)"),
        )
    })
    .collect();
    let mut resp_sums: Vec<(String, String)> = [
        (
            "sat_sum",
            "SUM(CASE WHEN r.kind = 'post_course' THEN r.satisfaction ELSE 0 END)",
        ),
        (
            "sat_n",
            "SUM(CASE WHEN r.kind = 'post_course' AND r.satisfaction IS NOT NULL THEN 1 ELSE 0 END)",
        ),
        (
            "imp_pos",
            "SUM(CASE WHEN r.kind = 'follow_up' AND r.impact >= 4 THEN 1 ELSE 0 END)",
        ),
        (
            "imp_n",
            "SUM(CASE WHEN r.kind = 'follow_up' AND r.impact IS NOT NULL THEN 1 ELSE 0 END)",
        ),
        ("shift", "SUM(r.confidence_shift)"),
        ("pairs", "SUM(r.confidence_pairs)"),
        (
            "conf_n",
            "SUM(CASE WHEN r.confidence_pairs > 0 THEN 1 ELSE 0 END)",
        ),
        ("post_n", "SUM(CASE WHEN r.kind = 'post_course' THEN 1 ELSE 0 END)"),
        ("follow_n", "SUM(CASE WHEN r.kind = 'follow_up' THEN 1 ELSE 0 END)"),
    ]
    .iter()
    .map(|(n, e)| (n.to_string(), e.to_string()))
    .collect();
    for n in 1..=5 {
        resp_sums.push((format!("g{n}"), format!("SUM(r.guskey{n}_answers)")));
        resp_sums.push((
            format!("g{n}_n"),
            format!("SUM(CASE WHEN r.guskey{n}_answers > 0 THEN 1 ELSE 0 END)"),
        ));
    }
    let with_held = reads("h", "n");
    let with_att = reads_any("a", &["attended", "absent"]);
    let with_inv = reads("i", "booking_id") || inv_sums.iter().any(|(n, _)| reads("i", n));
    let with_resp = reads("r", "booking_id") || resp_sums.iter().any(|(n, _)| reads("r", n));
    let condition = match courses {
        Courses::Where(condition) => condition.to_string(),
        Courses::Among(list) => format!("c.id IN ({list})"),
    };
    let mut ctes = vec![format!(
        "f_courses AS (
    SELECT c.id FROM courses c
     WHERE c.status = 'published' AND c.first_session_start IS NOT NULL AND ({condition})
)"
    )];
    // A table's rows of the courses: through `f_courses`, or by the listed ids (rows of a
    // listed course that is not published are read, and dropped by the bookings' own test).
    let of_courses = |column: &str| match courses {
        Courses::Where(_) => format!("{column} IN (SELECT id FROM f_courses)"),
        Courses::Among(list) => format!("{column} IN ({list})"),
    };
    let mut joins = String::new();
    let now = if with_held || with_att {
        now()
    } else {
        String::new()
    };
    if with_held {
        ctes.push(format!(
            "f_held AS (
    SELECT s.course_id, COUNT(*) AS n FROM course_sessions s
     WHERE {held_of} AND s.start_at < {now}
     GROUP BY s.course_id
)",
            held_of = of_courses("s.course_id"),
        ));
        joins.push_str("\n  LEFT JOIN f_held h ON h.course_id = b.course_id");
    }
    if with_att {
        ctes.push(format!(
            "f_att AS (
    SELECT x.booking_id,
           SUM(CASE WHEN x.status IN ('present', 'late', 'left_early') THEN 1 ELSE 0 END) AS attended,
           SUM(CASE WHEN x.status = 'absent' THEN 1 ELSE 0 END) AS absent
      FROM attendance x
     CROSS JOIN course_sessions s{att_narrow}
     WHERE s.id = x.session_id AND s.start_at < {now} AND {att_of}
     GROUP BY x.booking_id
)",
            att_narrow = narrow("x.booking_id"),
            att_of = of_courses("x.course_id"),
        ));
        joins.push_str("\n  LEFT JOIN f_att a ON a.booking_id = b.id");
    }
    let mut table = |name: &str, alias: &str, table: &str, sums: &[(String, String)]| {
        let cols: Vec<String> = std::iter::once(format!("{alias}.booking_id"))
            .chain(per_booking(alias, sums))
            .collect();
        ctes.push(format!(
            "{name} AS (
    SELECT {cols}
      FROM {table} {alias}{narrow}
     WHERE {of}
     GROUP BY {alias}.booking_id
)",
            of = of_courses(&format!("{alias}.course_id")),
            cols = cols.join(",\n           "),
            narrow = narrow(&format!("{alias}.booking_id")),
        ));
        joins.push_str(&format!(
            "\n  LEFT JOIN {name} {alias} ON {alias}.booking_id = b.id"
        ));
    };
    if with_inv {
        table("f_inv", "i", "evaluation_invitations", &inv_sums);
    }
    if with_resp {
        table("f_resp", "r", "evaluation_responses", &resp_sums);
    }
    let select_figures = figures
        .iter()
        .zip(COLUMNS)
        .map(|(f, c)| match form {
            _ if !wanted(c) => format!("CAST(0 AS BIGINT) AS {c}"),
            FactsForm::Summed if f == "1" => format!("COUNT(*) AS {c}"),
            FactsForm::Summed => format!("{} AS {c}", sum(f)),
            FactsForm::PerBooking => format!("{f} AS {c}"),
        })
        .collect::<Vec<_>>()
        .join(",\n       ");
    let group_by = match form {
        FactsForm::Summed => {
            "\n GROUP BY b.course_id, COALESCE(b.school_id, ''), \
             COALESCE(b.staff_group_id, ''), COALESCE(sc.cluster_id, '')"
        }
        FactsForm::PerBooking => "",
    };
    // The bookings are found through their courses (`IN`): SQLite then searches each
    // course's bookings by index, where a join with `f_courses` scanned every booking.
    let bookings_of = match courses {
        Courses::Where(_) => of_courses("b.course_id"),
        Courses::Among(_) => format!(
            "{} AND b.course_id IN (SELECT id FROM f_courses)",
            of_courses("b.course_id")
        ),
    };
    let select = format!(
        "SELECT b.course_id AS course_id, COALESCE(b.school_id, '') AS school_key,
       COALESCE(b.staff_group_id, '') AS staff_group_key, COALESCE(sc.cluster_id, '') AS cluster_key,
       {select_figures}
  FROM bookings b
  LEFT JOIN schools sc ON sc.id = b.school_id{joins}
 WHERE {bookings_of} AND b.status <> 'declined'{only_school}{group_by}"
    );
    (ctes.join(",\n"), select)
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
/// month their course row holds. `run` is [`exec_kept`] when `facts` is one of a fixed few
/// conditions, [`exec`] when it lists a placeholder per course.
fn move_cells(
    conn: &mut DbConn,
    facts: &str,
    params: &[Param],
    sign: &str,
    run: Exec,
) -> QueryResult<()> {
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
        run(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_list_has_one_of_three_lengths_and_a_longer_one_is_not_kept() {
        let ids =
            |n: usize| -> Vec<Param> { (0..n).map(|i| Param::Text(format!("c{i}"))).collect() };
        let texts = |p: &[Param]| -> Vec<String> {
            p.iter()
                .map(|p| match p {
                    Param::Text(t) => t.clone(),
                    other => panic!("text expected, got {other:?}"),
                })
                .collect()
        };
        let (list, values, kept) = kept_list(&ids(3));
        assert!(kept);
        assert_eq!(list, "$1, $2, $3, $4, $5, $6, $7, $8");
        assert_eq!(
            texts(&values),
            ["c0", "c1", "c2", "c2", "c2", "c2", "c2", "c2"]
        );
        let lengths: std::collections::BTreeSet<usize> = (1..=KEPT_LIST)
            .map(|n| {
                let (list, values, kept) = kept_list(&ids(n));
                assert!(kept && values.len() >= n && list.matches('$').count() == values.len());
                assert_eq!(
                    texts(&values[..n]),
                    texts(&ids(n)),
                    "the values first, in order"
                );
                values.len()
            })
            .collect();
        assert_eq!(lengths.into_iter().collect::<Vec<_>>(), [1, 8, 64]);
        let (list, values, kept) = kept_list(&ids(KEPT_LIST + 1));
        assert!(!kept);
        assert_eq!(values.len(), KEPT_LIST + 1);
        assert_eq!(list.matches('$').count(), KEPT_LIST + 1);
    }

    /// `facts_sql` for the courses `c.id = $1` and the columns `wanted`, in `form`, as one
    /// statement; and whether it asked for `now`.
    fn statement(wanted: &dyn Fn(&str) -> bool, form: FactsForm) -> (String, bool) {
        let mut asked = false;
        let (ctes, select) = facts_sql(
            Courses::Where("c.id = $1"),
            &mut || {
                asked = true;
                "$2".to_string()
            },
            None,
            wanted,
            form,
        );
        (format!("WITH {ctes}\n{select}"), asked)
    }

    #[test]
    fn a_report_reads_only_the_tables_its_columns_need() {
        // The refresher: every table, summed by its keys, as of `now`.
        let (all, asked) = statement(&|_| true, FactsForm::Summed);
        for part in ["f_held", "f_att", "f_inv", "f_resp", "GROUP BY b.course_id"] {
            assert!(all.contains(part), "the refresher's sums have {part}");
        }
        assert!(asked);

        // Answers alone: no register or held session (so no `now` to bind), no invitation.
        let (answers, asked) = statement(
            &|c| c.starts_with("satisfaction") || c == "g1_n",
            FactsForm::PerBooking,
        );
        assert!(answers.contains("f_resp"));
        for part in ["f_held", "f_att", "f_inv", "GROUP BY b.course_id"] {
            assert!(!answers.contains(part), "answers alone read {part}");
        }
        assert!(!asked, "`now` asked for without a register to read");
        // `r.g1_n` is its own figure: reading it does not read `r.g1`.
        assert!(answers.contains("THEN 1 ELSE 0 END) AS g1_n"));
        assert!(!answers.contains("SUM(r.guskey1_answers) AS g1"));
        // Every column is still there, those not wanted as 0.
        for c in COLUMNS {
            assert!(answers.contains(&format!(" AS {c}")), "{c} is in the row");
        }
        assert!(answers.contains("CAST(0 AS BIGINT) AS no_shows"));

        // A no-show is read from the registers and the sessions held by `now`.
        let (no_shows, asked) = statement(&|c| c == "no_shows", FactsForm::PerBooking);
        assert!(no_shows.contains("f_att") && no_shows.contains("f_held") && asked);
        assert!(!no_shows.contains("f_inv") && !no_shows.contains("f_resp"));

        // Who was sent an evaluation or answered one reads both, for their booking ids only.
        let (evaluated, _) = statement(&|c| c == "evaluated", FactsForm::PerBooking);
        assert!(evaluated.contains("f_inv") && evaluated.contains("f_resp"));
        assert!(!evaluated.contains("AS sent") && !evaluated.contains("AS sat_sum"));
    }

    #[test]
    fn listed_courses_are_read_by_each_table_s_course_index() {
        let (ctes, select) = facts_sql(
            Courses::Among("$1, $2"),
            &mut || "$3".to_string(),
            None,
            &|_| true,
            FactsForm::Summed,
        );
        let sql = format!("WITH {ctes}\n{select}");
        for column in [
            "s.course_id",
            "x.course_id",
            "i.course_id",
            "r.course_id",
            "b.course_id",
        ] {
            assert!(
                sql.contains(&format!("{column} IN ($1, $2)")),
                "{column} is read by the list"
            );
        }
        // The courses' own test (published, with sessions) still picks the bookings.
        assert!(sql.contains("c.id IN ($1, $2)"));
        assert!(sql.contains("AND b.course_id IN (SELECT id FROM f_courses)"));
        assert_eq!(sql.matches("IN (SELECT id FROM f_courses)").count(), 1);

        // A condition reads every table through `f_courses`.
        let (sql, _) = statement(&|_| true, FactsForm::Summed);
        assert_eq!(sql.matches("IN (SELECT id FROM f_courses)").count(), 5);
    }
}
