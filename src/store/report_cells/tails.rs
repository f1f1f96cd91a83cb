//! Each school's tail kept ahead of time (`report_school_tails`, migration
//! `kept_school_tails`): per academic year and kind of response, the school's latest counted
//! responses, with what each adds to the figures and how many counted responses the school
//! has. The released sums of a by-school or by-cluster report over one academic year are the
//! cells' sums less each group's tail (`store::reports`); with the tails kept, that report
//! reads one range of this table instead of looking up every school's tail in the responses'
//! index (tens of thousands of lookups at national size).
//!
//! Triggers mark a school's year in `report_school_tail_marks` in the very transaction that
//! writes or changes one of its counted responses (or stops one being counted, or moves it to
//! another year). [`refresh_tails`] works the marked schools' rows out again a few schools per
//! short write transaction, each taking its mark off only if it is still at the version read,
//! so a change that comes later leaves the mark on. Reports look a marked school's tail up in
//! the responses' index, as they do for any school whose kept rows do not reach far enough.

use super::*;
use diesel::sql_types::Integer;

/// How many of a school's latest counted responses of each kind are kept per academic year:
/// the longest a tail can be at the smallest threshold allowed (`EVALUATION_MIN_RESPONSES`,
/// 5). With a larger threshold, the schools whose tails are longer are looked up in the
/// responses' index instead.
pub const KEPT_TAIL: usize = 4;

/// Marked school-years worked out again per write transaction: each is a handful of
/// statements over one school's responses of one year, and writes at most `2 * KEPT_TAIL`
/// rows, so a write stays within [`super::WRITE_BOUND`] on SQLite.
const TAILS_PER_WRITE: usize = 25;

/// A school's year marked for working its tail out again.
#[derive(QueryableByName, Debug, Clone)]
struct TailMark {
    #[diesel(sql_type = Integer)]
    course_year: i32,
    #[diesel(sql_type = Text)]
    school_key: String,
    #[diesel(sql_type = BigInt)]
    version: i64,
}

/// The `SELECT` of the rows `report_school_tails` keeps for the counted responses matching
/// `filter` (a condition on `evaluation_responses r`): per year, school and kind, the latest
/// [`KEPT_TAIL`] by (submitted_at, id), numbered from 1, each with the count of them all. Ids
/// order as bytes, as the reports' tails do.
pub(crate) fn kept_rows_sql(conn: &DbConn, filter: &str) -> String {
    let id_order = match conn.backend() {
        crate::db::Backend::Postgres => "r.id COLLATE \"C\" DESC",
        crate::db::Backend::Sqlite => "r.id DESC",
    };
    format!(
        "SELECT course_year, school_key, kind, place, responses, submitted_at, id, satisfaction,
                impact, shift, pairs, g1, g2, g3, g4, g5
           FROM (SELECT r.course_year, COALESCE(r.school_id, '') AS school_key, r.kind,
                        row_number() OVER (PARTITION BY r.course_year, r.school_id, r.kind
                                           ORDER BY r.submitted_at DESC, {id_order}) AS place,
                        count(*) OVER (PARTITION BY r.course_year, r.school_id, r.kind) AS responses,
                        r.submitted_at, r.id, r.satisfaction, r.impact, r.confidence_shift AS shift,
                        r.confidence_pairs AS pairs, r.guskey1_answers AS g1,
                        r.guskey2_answers AS g2, r.guskey3_answers AS g3,
                        r.guskey4_answers AS g4, r.guskey5_answers AS g5
                   FROM evaluation_responses r
                  WHERE r.counted AND r.course_year IS NOT NULL AND ({filter})) t
          WHERE place <= {KEPT_TAIL}"
    )
}

const KEPT_COLUMNS: &str = "course_year, school_key, kind, place, responses, submitted_at, id, \
                            satisfaction, impact, shift, pairs, g1, g2, g3, g4, g5";

/// Works every school's kept tail out from scratch and takes every mark off: for loads that
/// write responses with the triggers off (the national seed), after
/// [`super::fill_response_report_columns`]. Returns the rows kept.
pub fn fill_school_tails(conn: &mut DbConn) -> QueryResult<usize> {
    exec(conn, "DELETE FROM report_school_tail_marks", &[])?;
    exec(conn, "DELETE FROM report_school_tails", &[])?;
    let select = kept_rows_sql(conn, "TRUE");
    exec(
        conn,
        &format!("INSERT INTO report_school_tails ({KEPT_COLUMNS}) {select}"),
        &[],
    )
}

/// School-years marked for working their kept tails out again.
pub fn marked_tails(conn: &mut DbConn) -> QueryResult<i64> {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let rows: Vec<N> = load(
        conn,
        "SELECT COUNT(*) AS n FROM report_school_tail_marks",
        &[],
    )?;
    Ok(rows.first().map_or(0, |r| r.n))
}

/// What [`refresh_tails`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct TailsRefreshed {
    /// School-years whose kept tails were worked out again (and unmarked).
    pub(super) kept: usize,
    /// Whether another refresher held PostgreSQL's refresh lock, so nothing was done.
    pub(super) locked: bool,
}

/// Works out again the kept tails of up to `limit` marked school-years, [`TAILS_PER_WRITE`]
/// per write transaction, calling `write` around each (the refresher's timing and
/// checkpoints). Each school-year's mark goes, and its rows are replaced by those its counted
/// responses give now, in one transaction, only if the mark is still at the version read: a
/// change since (a higher version, or a new mark after another refresher took it off) keeps
/// it marked for next time.
pub(super) fn refresh_tails(
    conn: &mut DbConn,
    limit: usize,
    mut write: impl FnMut(
        &mut DbConn,
        &mut dyn FnMut(&mut DbConn) -> QueryResult<bool>,
    ) -> QueryResult<Option<bool>>,
) -> QueryResult<TailsRefreshed> {
    let mut done = TailsRefreshed::default();
    let marks: Vec<TailMark> = load(
        conn,
        &format!(
            "SELECT course_year, school_key, version FROM report_school_tail_marks
              ORDER BY course_year, school_key LIMIT {limit}"
        ),
        &[],
    )?;
    for chunk in marks.chunks(TAILS_PER_WRITE) {
        let mut kept = 0;
        let outcome = write(conn, &mut |c: &mut DbConn| {
            kept = 0;
            for m in chunk {
                if keep_tail(c, m)? {
                    kept += 1;
                }
            }
            Ok(true)
        })?;
        match outcome {
            Some(true) => done.kept += kept,
            Some(false) => {
                done.locked = true;
                return Ok(done);
            }
            // Out of this run's writes.
            None => return Ok(done),
        }
    }
    Ok(done)
}

/// In the caller's write transaction: takes `m`'s mark off if it is still at the version
/// read, and then replaces the school-year's kept rows. Returns whether it did.
fn keep_tail(c: &mut DbConn, m: &TailMark) -> QueryResult<bool> {
    let key = [
        Param::Int(i64::from(m.course_year)),
        Param::Text(m.school_key.clone()),
    ];
    let mut with_version = key.to_vec();
    with_version.push(Param::Int(m.version));
    let unmarked = exec(
        c,
        "DELETE FROM report_school_tail_marks
          WHERE course_year = $1 AND school_key = $2 AND version = $3",
        &with_version,
    )?;
    if unmarked == 0 {
        return Ok(false);
    }
    exec(
        c,
        "DELETE FROM report_school_tails WHERE course_year = $1 AND school_key = $2",
        &key,
    )?;
    // Responses without a school are kept under the empty key; the others are found by the
    // school's index of counted responses.
    let school = if m.school_key.is_empty() {
        "r.school_id IS NULL"
    } else {
        "r.school_id = $2"
    };
    let select = kept_rows_sql(c, &format!("r.course_year = $1 AND {school}"));
    let params: &[Param] = if m.school_key.is_empty() {
        &key[..1]
    } else {
        &key
    };
    exec(
        c,
        &format!("INSERT INTO report_school_tails ({KEPT_COLUMNS}) {select}"),
        params,
    )?;
    Ok(true)
}
