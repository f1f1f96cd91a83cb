//! The evaluation figures of each group of a report, from the group's earliest responses in
//! whole steps of the threshold (`Threshold::released`), much as the course summary releases
//! them.
//!
//! A group's figures over all its responses would move with each new one, so two reads either
//! side of one more response would give it away. Here each group (the totals, each first-level
//! group, each pair of groups) takes its responses of each kind (post-course, follow-up) in the
//! order they arrived, by (submitted_at, id), and releases the first `n` rounded down to a whole
//! multiple of the threshold, `n` being all of them: one window per group and kind,
//! `row_number() over (partition by the group's keys and the kind)`. Each figure sums over the
//! released responses that answered it. One row per response (not one per figure answered)
//! keeps the sort to the window's responses, and what a response's answers add (confidence
//! shift and pairs, answers per Guskey level) is kept on the response, so the answers
//! themselves are not read. The counts of respondents, bookings and
//! invitations still come from the report cells; only the sums the figures are made of come
//! from here.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text};
use diesel::QueryResult;

use crate::db::{Backend, DbConn};
use crate::domain::suppression::Threshold;
use crate::domain::term::Term;
use crate::reports::metrics::{london_midnight_utc, GroupBy, ReportQuery, NONE_KEY};
use crate::store::report_cells::{load, sum, Param};

use super::cells::{Binder, Wanted};

/// How many figures a group has: satisfaction, impact rate, confidence shift and the answers
/// at each of Guskey's five levels.
pub(super) const FIGURES: usize = 8;

/// The released sums of one group, per figure (in the order of
/// `ImpactCounts::respondents`): satisfaction, impact rate, confidence shift, Guskey levels 1
/// to 5.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct ReleasedSums {
    /// The sum of the figure's values over the responses released: ratings, positive impact
    /// answers, the confidence shift, or answers at a Guskey level.
    pub(super) sum: [i64; FIGURES],
    /// The confidence shift's retrospective pairs over the responses released (0 elsewhere).
    pub(super) pairs: [i64; FIGURES],
    /// How many of the responses released answered the figure.
    pub(super) counted: [i64; FIGURES],
}

/// The released sums of every group of one window of a report. A group that is not listed
/// has nothing released (fewer responses of each kind than the threshold).
#[derive(Debug, Default)]
pub(super) struct Released {
    pub(super) totals: ReleasedSums,
    pub(super) first: HashMap<String, ReleasedSums>,
    pub(super) second: HashMap<(String, String), ReleasedSums>,
}

/// One group's released sums: `vN` is figure N's sum, `nN` how many released responses
/// answered it, `pairs` the confidence shift's pairs.
#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Integer)]
    lvl: i32,
    #[diesel(sql_type = Text)]
    k1: String,
    #[diesel(sql_type = Text)]
    k2: String,
    #[diesel(sql_type = BigInt)]
    v0: i64,
    #[diesel(sql_type = BigInt)]
    n0: i64,
    #[diesel(sql_type = BigInt)]
    v1: i64,
    #[diesel(sql_type = BigInt)]
    n1: i64,
    #[diesel(sql_type = BigInt)]
    v2: i64,
    #[diesel(sql_type = BigInt)]
    n2: i64,
    #[diesel(sql_type = BigInt)]
    v3: i64,
    #[diesel(sql_type = BigInt)]
    n3: i64,
    #[diesel(sql_type = BigInt)]
    v4: i64,
    #[diesel(sql_type = BigInt)]
    n4: i64,
    #[diesel(sql_type = BigInt)]
    v5: i64,
    #[diesel(sql_type = BigInt)]
    n5: i64,
    #[diesel(sql_type = BigInt)]
    v6: i64,
    #[diesel(sql_type = BigInt)]
    n6: i64,
    #[diesel(sql_type = BigInt)]
    v7: i64,
    #[diesel(sql_type = BigInt)]
    n7: i64,
    #[diesel(sql_type = BigInt)]
    pairs: i64,
}

/// The SQL key of `level` for a response `r` joined to its course `c`, its school `sc` and
/// (for priorities) `cp`. A response keeps its booking's school and staff group, written with
/// it (a booking's school and staff group never change), so the bookings are not read. Terms
/// are worked out from the course's first session against the window's term boundaries; rows
/// of the earlier window (`period` 1) are keyed by the matching term a year later, as the
/// rollup keys them.
fn key_sql(level: GroupBy, q: &ReportQuery, period: usize, b: &mut Binder) -> String {
    match level {
        GroupBy::School => "COALESCE(r.school_id, '')".to_string(),
        GroupBy::Cluster => "COALESCE(sc.cluster_id, '')".to_string(),
        GroupBy::StaffGroup => "COALESCE(r.staff_group_id, '')".to_string(),
        GroupBy::Priority => "COALESCE(cp.priority_id, '')".to_string(),
        GroupBy::Course => "c.id".to_string(),
        GroupBy::Term => {
            let key = |t: Term, b: &mut Binder| {
                let mut t = t;
                t.year_start += period as i32;
                b.bind(Param::Text(t.key()))
            };
            let mut term = Term::of_date(q.from);
            let mut arms = Vec::new();
            loop {
                let next_day = term.last_day().succ_opt().unwrap_or(term.last_day());
                if next_day > q.to {
                    break;
                }
                let boundary = b.bind(Param::Ts(london_midnight_utc(next_day)));
                let k = key(term, b);
                arms.push(format!("WHEN c.first_session_start < {boundary} THEN {k}"));
                term = Term::of_date(next_day);
            }
            let last = key(term, b);
            if arms.is_empty() {
                // A window within one term.
                format!("CAST({last} AS TEXT)")
            } else {
                format!("CAST(CASE {} ELSE {last} END AS TEXT)", arms.join(" "))
            }
        }
    }
}

/// The released sums of every group of the report of `q` (its own window: pass
/// `q.year_earlier()` with `period` 1 for the trend) by `levels` (none for the totals alone),
/// over the answers of the published courses whose first session is in the window, only
/// `school`'s bookings if given.
pub(super) fn released(
    conn: &mut DbConn,
    q: &ReportQuery,
    period: usize,
    levels: &[GroupBy],
    wanted: Wanted,
    school: Option<&str>,
) -> QueryResult<Released> {
    let t = Threshold::new(q.min_responses);
    let (lo, hi) = q.window_utc();
    let mut b = Binder::default();
    let (lo, hi) = (b.bind(Param::Ts(lo)), b.bind(Param::Ts(hi)));
    let only_school = match school {
        Some(id) => format!(" AND r.school_id = {}", b.bind(Param::Text(id.to_string()))),
        None => String::new(),
    };
    let keys: Vec<String> = levels
        .iter()
        .map(|l| key_sql(*l, q, period, &mut b))
        .collect();
    let k = b.bind(Param::Int(i64::from(t.get())));
    let key = |i: usize| keys.get(i).cloned().unwrap_or_else(|| "''".to_string());
    let with_priorities = levels.contains(&GroupBy::Priority);
    let priorities = if with_priorities {
        " LEFT JOIN course_priorities cp ON cp.course_id = c.id"
    } else {
        ""
    };
    let impact = wanted == Wanted::Impact;
    // Per response: the confidence shift and pairs, and the answers at each Guskey level, as
    // kept on the response from its answers (migration `response_answer_sums`).
    let answer_cols = if impact {
        ", r.confidence_shift AS shift, r.confidence_pairs AS pairs, \
         r.guskey1_answers AS g1, r.guskey2_answers AS g2, r.guskey3_answers AS g3, \
         r.guskey4_answers AS g4, r.guskey5_answers AS g5"
    } else {
        ""
    };
    // Per released response: each figure's value and whether the response answered it.
    let mut figures = vec![
        (
            "CASE WHEN kind = 'post_course' THEN COALESCE(satisfaction, 0) ELSE 0 END",
            "kind = 'post_course' AND satisfaction IS NOT NULL",
        ),
        (
            "CASE WHEN kind = 'follow_up' AND impact >= 4 THEN 1 ELSE 0 END",
            "kind = 'follow_up' AND impact IS NOT NULL",
        ),
    ];
    let guskey = ["g1", "g2", "g3", "g4", "g5"];
    let guskey_answered = ["g1 > 0", "g2 > 0", "g3 > 0", "g4 > 0", "g5 > 0"];
    if impact {
        figures.push(("shift", "pairs > 0"));
        figures.extend(guskey.iter().copied().zip(guskey_answered.iter().copied()));
    }
    let mut cols = Vec::new();
    for i in 0..FIGURES {
        let (v, answered) = figures.get(i).copied().unwrap_or(("0", "1 = 0"));
        cols.push(format!(
            "{} AS v{i}, {} AS n{i}",
            sum(&format!("({v}) * sign")),
            sum(&format!("CASE WHEN {answered} THEN sign ELSE 0 END")),
        ));
    }
    let pairs = if impact {
        sum("pairs * sign")
    } else {
        sum("0")
    };
    let value_cols = if impact {
        ", shift, pairs, g1, g2, g3, g4, g5"
    } else {
        ""
    };
    // The windows sort every response of the window by its group's keys, kind and id. On
    // PostgreSQL text sorts by the database's collation (through `strcoll` for `C.UTF-8`
    // before version 17), several times slower than comparing bytes; these are ids and fixed
    // words, wanted only grouped and in a stable order, so they compare as bytes, as on SQLite.
    let bytes = match conn.backend() {
        Backend::Postgres => " COLLATE \"C\"",
        Backend::Sqlite => "",
    };
    let empty = format!("CAST('' AS TEXT){bytes}");
    // Each level's groups: the totals, the first level's, the pairs'. A course under two
    // priorities gives its responses to both, but once to a level above the priority. A
    // group's released responses of a kind are its earliest `threshold.released(n)` of that
    // kind, n being all of them: one window per group and kind, except for the totals.
    //
    // The totals are one group of every response, so their window would sort the whole
    // window's responses once more. Instead they are all the responses (`sign` 1) less the
    // latest `n mod k` of each kind (`sign` -1), which are among the latest `k` and are found
    // without sorting the rest.
    let distinct = if with_priorities { "DISTINCT " } else { "" };
    // Each response once, for the totals: a course under two priorities is in `rr` twice.
    let r0 = if with_priorities { "r0" } else { "rr" };
    let each = format!("kind, submitted_at, id, satisfaction, impact{value_cols}");
    let latest = |kind: &str| {
        format!(
            "SELECT * FROM (SELECT {each} FROM {r0} WHERE kind = '{kind}'
                              ORDER BY submitted_at DESC, id DESC LIMIT {k}) l_{kind}"
        )
    };
    let mut parts = vec![format!(
        "SELECT 0 AS lvl, {empty} AS k1, {empty} AS k2, kind, satisfaction,
                impact{value_cols}, 0 AS rn, 0 AS total, 1 AS sign
           FROM {r0}
         UNION ALL
         SELECT 0, {empty}, {empty}, kind, satisfaction, impact{value_cols}, 0, 0, -1
           FROM (SELECT t.*,
                        ROW_NUMBER() OVER (PARTITION BY kind ORDER BY submitted_at DESC, id DESC) AS rd
                   FROM ({post} UNION ALL {follow}) t) tl
           JOIN (SELECT kind AS n_kind, COUNT(*) AS n FROM {r0} GROUP BY kind) n0
             ON n0.n_kind = tl.kind
          WHERE tl.rd <= n0.n % {k}",
        post = latest("post_course"),
        follow = latest("follow_up"),
    )];
    for lvl in 1..=levels.len() {
        let (k2, partition) = match lvl {
            1 => (empty.as_str(), "k1, kind"),
            _ => ("k2", "k1, k2, kind"),
        };
        parts.push(format!(
            "SELECT {lvl} AS lvl, k1, k2, kind, satisfaction, impact{value_cols},
                    ROW_NUMBER() OVER (PARTITION BY {partition} ORDER BY submitted_at, id) AS rn,
                    COUNT(*) OVER (PARTITION BY {partition}) AS total, 1 AS sign
               FROM (SELECT {distinct}k1, {k2} AS k2, kind, submitted_at, id,
                            satisfaction, impact{value_cols}
                       FROM rr) f{lvl}"
        ));
    }
    // Responses of declined bookings are left out. On PostgreSQL the window's declined
    // bookings are found first through the courses' index (a few per course), then left out
    // by a hashed anti-join; looking each response's booking up, or hashing every booking,
    // costs seconds at national size. SQLite looks each booking up by its key.
    let (declined_cte, not_declined) = match conn.backend() {
        Backend::Postgres => (
            format!(
                "wd AS (
    SELECT b.id FROM courses c
      JOIN bookings b ON b.course_id = c.id AND b.status = 'declined'
     WHERE c.status = 'published' AND c.first_session_start >= {lo}
       AND c.first_session_start < {hi}
),
"
            ),
            "NOT EXISTS (SELECT 1 FROM wd WHERE wd.id = r.booking_id)",
        ),
        Backend::Sqlite => (
            String::new(),
            "NOT EXISTS (SELECT 1 FROM bookings b \
             WHERE b.id = r.booking_id AND b.status = 'declined')",
        ),
    };
    // `rr` is read five times (the totals, their two tails and count, the groups): kept once
    // (`MATERIALIZED`), where SQLite would otherwise work the join out again for each.
    let sql = format!(
        "WITH {declined_cte}rr AS MATERIALIZED (
    SELECT r.id{bytes} AS id, r.submitted_at, r.kind{bytes} AS kind, r.satisfaction,
           r.impact{answer_cols},
           CAST({k1} AS TEXT){bytes} AS k1, CAST({k2} AS TEXT){bytes} AS k2
      FROM evaluation_responses r
      JOIN courses c ON c.id = r.course_id
      LEFT JOIN schools sc ON sc.id = r.school_id{priorities}
     WHERE c.status = 'published' AND c.first_session_start >= {lo}
       AND c.first_session_start < {hi} AND {not_declined}{only_school}
){also}
SELECT CAST(lvl AS INTEGER) AS lvl, k1, k2, {cols}, {pairs} AS pairs
  FROM ({parts}) x
 WHERE rn <= (total / {k}) * {k}
 GROUP BY lvl, k1, k2",
        k1 = key(0),
        k2 = key(1),
        also = if with_priorities {
            format!(",\nr0 AS MATERIALIZED (SELECT DISTINCT {each} FROM rr)")
        } else {
            String::new()
        },
        cols = cols.join(",\n       "),
        parts = parts.join("\n UNION ALL\n"),
    );
    let rows: Vec<Row> = load(conn, &sql, &b.params)?;
    let none = |k: String| {
        if k.is_empty() {
            NONE_KEY.to_string()
        } else {
            k
        }
    };
    let mut out = Released::default();
    for r in rows {
        let sums = match r.lvl {
            0 => &mut out.totals,
            1 => out.first.entry(none(r.k1)).or_default(),
            _ => out.second.entry((none(r.k1), none(r.k2))).or_default(),
        };
        let v = [r.v0, r.v1, r.v2, r.v3, r.v4, r.v5, r.v6, r.v7];
        let n = [r.n0, r.n1, r.n2, r.n3, r.n4, r.n5, r.n6, r.n7];
        sums.sum = v;
        sums.counted = n;
        sums.pairs = [0, 0, r.pairs, 0, 0, 0, 0, 0];
    }
    Ok(out)
}
