//! The evaluation figures of each group of a report, from the group's earliest responses in
//! whole steps of the threshold (`Threshold::released`), much as the course summary releases
//! them.
//!
//! A group's figures over all its responses would move with each new one, so two reads either
//! side of one more response would give it away. Here each group (the totals, each first-level
//! group, each pair of groups) takes its responses of each kind (post-course, follow-up) in the
//! order they arrived, by (submitted_at, id), and releases the first `n` rounded down to a whole
//! multiple of the threshold `k`, `n` being all of them: all its responses less the latest
//! `n mod k`. The window's responses are read once, in that order, each with its groups' keys
//! (one query, sorted once); each group keeps the sums over all its responses and its latest
//! `k - 1`, which hold whatever tail it ends with. What a response's answers add (confidence
//! shift and pairs, answers per Guskey level) is kept on the response, so the answers
//! themselves are not read. The counts of respondents, bookings and invitations still come
//! from the report cells; only the sums the figures are made of come from here.
//!
//! Sorting once and counting in the process replaced a window per level and kind in SQL
//! (`row_number() over (partition by the group's keys and the kind)`), which sorted the
//! window's responses again for each level.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::sql_types::{Integer, Nullable, Text};
use diesel::QueryResult;

use crate::db::{Backend, DbConn};
use crate::domain::suppression::Threshold;
use crate::domain::term::Term;
use crate::reports::metrics::{london_midnight_utc, GroupBy, ReportQuery, NONE_KEY};
use crate::store::report_cells::{for_each, Param};

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
    pub(super) first: FirstSums,
    pub(super) second: HashMap<(String, String), ReleasedSums>,
}

/// The released sums of a report's first-level groups.
#[derive(Debug)]
pub(super) enum FirstSums {
    /// By group key; a group not listed has nothing released.
    Keyed(HashMap<String, ReleasedSums>),
    /// One for each first-level group of the report's rollup, in the rollup's order (by
    /// key): a report by school has tens of thousands of groups, and this way their keys are
    /// neither copied nor looked up again.
    InOrder(Vec<ReleasedSums>),
}

impl Default for FirstSums {
    fn default() -> Self {
        FirstSums::Keyed(HashMap::new())
    }
}

/// One response of the window with its groups' keys (one row per priority of its course when
/// a level is the priority). `kind` is 0 for post-course, 1 for follow-up; `id` is read only
/// when a response can have several rows.
#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Integer)]
    kind: i32,
    #[diesel(sql_type = Nullable<Integer>)]
    satisfaction: Option<i32>,
    #[diesel(sql_type = Nullable<Integer>)]
    impact: Option<i32>,
    #[diesel(sql_type = Integer)]
    shift: i32,
    #[diesel(sql_type = Integer)]
    pairs: i32,
    #[diesel(sql_type = Integer)]
    g1: i32,
    #[diesel(sql_type = Integer)]
    g2: i32,
    #[diesel(sql_type = Integer)]
    g3: i32,
    #[diesel(sql_type = Integer)]
    g4: i32,
    #[diesel(sql_type = Integer)]
    g5: i32,
    #[diesel(sql_type = Text)]
    k1: String,
    #[diesel(sql_type = Text)]
    k2: String,
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
    let key = |i: usize| keys.get(i).cloned().unwrap_or_else(|| "''".to_string());
    let with_priorities = levels.contains(&GroupBy::Priority);
    let priorities = if with_priorities {
        " LEFT JOIN course_priorities cp ON cp.course_id = c.id"
    } else {
        ""
    };
    // Per response: the confidence shift and pairs, and the answers at each Guskey level, as
    // kept on the response from its answers (migration `response_answer_sums`); an
    // engagement report's figures need none of them.
    let answer_cols = if wanted == Wanted::Impact {
        "r.confidence_shift AS shift, r.confidence_pairs AS pairs, r.guskey1_answers AS g1, \
         r.guskey2_answers AS g2, r.guskey3_answers AS g3, r.guskey4_answers AS g4, \
         r.guskey5_answers AS g5"
    } else {
        "0 AS shift, 0 AS pairs, 0 AS g1, 0 AS g2, 0 AS g3, 0 AS g4, 0 AS g5"
    };
    // The responses in the order they arrived, by (submitted_at, id). On PostgreSQL text
    // sorts by the database's collation (through `strcoll` for `C.UTF-8` before version 17),
    // several times slower than comparing bytes; ids are wanted only in a stable order, so
    // they compare as bytes, as on SQLite.
    let bytes = match conn.backend() {
        Backend::Postgres => " COLLATE \"C\"",
        Backend::Sqlite => "",
    };
    // A course under two priorities lists its responses once for each: its rows are next to
    // each other in this order, told apart by the id (only read then).
    let id = if with_priorities { "r.id" } else { "''" };
    // Responses of declined bookings are left out. On PostgreSQL the window's declined
    // bookings are found first through the courses' index (a few per course), then left out
    // by a hashed anti-join; looking each response's booking up, or hashing every booking,
    // costs seconds at national size. SQLite looks each booking up by its key.
    let (declined_cte, not_declined) = match conn.backend() {
        Backend::Postgres => (
            format!(
                "WITH wd AS (
    SELECT b.id FROM courses c
      JOIN bookings b ON b.course_id = c.id AND b.status = 'declined'
     WHERE c.status = 'published' AND c.first_session_start >= {lo}
       AND c.first_session_start < {hi}
)
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
    let sql = format!(
        "{declined_cte}SELECT CAST({id} AS TEXT) AS id,
       CASE r.kind WHEN 'post_course' THEN 0 WHEN 'follow_up' THEN 1 ELSE 2 END AS kind,
       r.satisfaction, r.impact, {answer_cols},
       CAST({k1} AS TEXT) AS k1, CAST({k2} AS TEXT) AS k2
  FROM evaluation_responses r
  JOIN courses c ON c.id = r.course_id
  LEFT JOIN schools sc ON sc.id = r.school_id{priorities}
 WHERE c.status = 'published' AND c.first_session_start >= {lo}
   AND c.first_session_start < {hi} AND {not_declined}{only_school}
 ORDER BY r.submitted_at, r.id{bytes}",
        k1 = key(0),
        k2 = key(1),
    );
    // Each group (the totals, each first-level group, each pair) and kind releases its
    // earliest responses in whole steps of the threshold: all of them less the latest
    // `n mod k`. The responses are read once, in order; each group keeps the sums over all
    // of its responses and its latest `k - 1`, which hold any tail.
    let k = t.get() as usize;
    let mut totals = Group::new(k);
    let mut first: HashMap<String, Group> = HashMap::new();
    let mut second: HashMap<(String, String), Group> = HashMap::new();
    // The rows of the response being read (one per priority of its course).
    let mut current: Vec<Row> = Vec::new();
    // Adds one response (its rows) to its groups.
    let mut add = |rows: &mut [Row]| {
        let Some(r) = rows.first() else {
            return;
        };
        // Responses are of two kinds (`FormKind`); no figure comes from another.
        let Some(kind) = usize::try_from(r.kind).ok().filter(|k| *k < 2) else {
            return;
        };
        let answer = Answer::of(r);
        totals.add(kind, answer);
        if levels.is_empty() {
            return;
        }
        // Each group once, however many of the course's priorities it is reached through.
        rows.sort_by(|a, b| (&a.k1, &a.k2).cmp(&(&b.k1, &b.k2)));
        for (i, r) in rows.iter().enumerate() {
            let previous = i.checked_sub(1).map(|j| &rows[j]);
            if previous.is_none_or(|p| p.k1 != r.k1) {
                group_of(&mut first, &r.k1, k).add(kind, answer);
            }
            if levels.len() > 1 && previous.is_none_or(|p| p.k1 != r.k1 || p.k2 != r.k2) {
                let key = (r.k1.clone(), r.k2.clone());
                second
                    .entry(key)
                    .or_insert_with(|| Group::new(k))
                    .add(kind, answer);
            }
        }
    };
    for_each::<Row>(conn, &sql, &b.params, |row| {
        if current
            .first()
            .is_some_and(|c| c.id != row.id || row.id.is_empty())
        {
            add(&mut current);
            current.clear();
        }
        current.push(row);
    })?;
    add(&mut current);
    let none = |k: String| {
        if k.is_empty() {
            NONE_KEY.to_string()
        } else {
            k
        }
    };
    Ok(Released {
        totals: totals.released(),
        first: FirstSums::Keyed(
            first
                .into_iter()
                .map(|(k1, g)| (none(k1), g.released()))
                .collect(),
        ),
        second: second
            .into_iter()
            .map(|((k1, k2), g)| ((none(k1), none(k2)), g.released()))
            .collect(),
    })
}

/// The group of `key` in `groups`, made empty if it is not there yet.
fn group_of<'a>(groups: &'a mut HashMap<String, Group>, key: &str, k: usize) -> &'a mut Group {
    if !groups.contains_key(key) {
        groups.insert(key.to_string(), Group::new(k));
    }
    groups.get_mut(key).expect("just inserted")
}

/// What one response gives the figures: its rating, impact answer, confidence shift and
/// pairs, and its answers at each Guskey level (those of an engagement report read 0).
#[derive(Clone, Copy, Debug, Default)]
struct Answer {
    post: bool,
    satisfaction: Option<i32>,
    impact: Option<i32>,
    shift: i64,
    pairs: i64,
    guskey: [i64; 5],
}

impl Answer {
    fn of(r: &Row) -> Answer {
        Answer {
            post: r.kind == 0,
            satisfaction: r.satisfaction,
            impact: r.impact,
            shift: i64::from(r.shift),
            pairs: i64::from(r.pairs),
            guskey: [r.g1, r.g2, r.g3, r.g4, r.g5].map(i64::from),
        }
    }

    /// Adds the response's values to `sums`, `sign` 1 or -1: each figure's value, and 1 to
    /// the figure's count where the response answered it.
    fn add_to(&self, sums: &mut ReleasedSums, sign: i64) {
        let mut figure = |i: usize, value: i64, answered: bool| {
            sums.sum[i] += sign * value;
            sums.counted[i] += sign * i64::from(answered);
        };
        if self.post {
            figure(
                0,
                i64::from(self.satisfaction.unwrap_or(0)),
                self.satisfaction.is_some(),
            );
        } else {
            figure(
                1,
                i64::from(self.impact.is_some_and(|i| i >= 4)),
                self.impact.is_some(),
            );
        }
        figure(2, self.shift, self.pairs > 0);
        for (level, answers) in self.guskey.iter().enumerate() {
            figure(3 + level, *answers, *answers > 0);
        }
        sums.pairs[2] += sign * self.pairs;
    }
}

/// One group's responses of each kind as they are read: the sums over all of them, how many,
/// and the latest `k - 1` (the longest a tail can be).
struct Group {
    k: usize,
    kinds: [Kind; 2],
}

#[derive(Default)]
struct Kind {
    all: ReleasedSums,
    n: usize,
    latest: std::collections::VecDeque<Answer>,
}

impl Group {
    fn new(k: usize) -> Group {
        Group {
            k: k.max(1),
            kinds: [Kind::default(), Kind::default()],
        }
    }

    fn add(&mut self, kind: usize, answer: Answer) {
        let keep = self.k - 1;
        let kind = &mut self.kinds[kind];
        answer.add_to(&mut kind.all, 1);
        kind.n += 1;
        if keep > 0 {
            if kind.latest.len() == keep {
                kind.latest.pop_front();
            }
            kind.latest.push_back(answer);
        }
    }

    /// The sums over the released responses: of each kind, all but the latest `n mod k`.
    fn released(&self) -> ReleasedSums {
        let mut out = ReleasedSums::default();
        for kind in &self.kinds {
            for i in 0..FIGURES {
                out.sum[i] += kind.all.sum[i];
                out.counted[i] += kind.all.counted[i];
                out.pairs[i] += kind.all.pairs[i];
            }
            let tail = kind.n % self.k;
            for answer in kind.latest.iter().rev().take(tail) {
                answer.add_to(&mut out, -1);
            }
        }
        out
    }
}
