//! The released evaluation sums of a report's groups from the kept sums and each group's tail,
//! so that a report reads a few rows per group instead of every response of its window.
//!
//! A group's released responses of a kind are its earliest `n` rounded down to a whole
//! multiple of the threshold `k` (`super::released`). Those are all its responses less the
//! latest `n mod k`, its *tail* (fewer than `k`). The sums over all the responses and `n`
//! itself are in the report cells (worked out live for the courses out of date), so the
//! released sums are the cells' sums less the tail's. A tail is found through an index that
//! lists responses in the order they arrived:
//!
//! - of one course (`evaluation_responses_course_order`), in any window;
//! - of one school, one staff group or everyone in one academic year (the year of the
//!   course's first session, kept on the response as `course_year`), listing only the
//!   responses the reports count (kept on the response as `counted`).
//!
//! The schools' tails of an academic year are also kept ahead of time, per school, year and
//! kind (`report_cells::tails`): a whole year's report by school or by cluster reads them in
//! one range instead of one lookup per school (tens of thousands at national size), and looks
//! up only the schools marked since their rows were worked out, or whose rows do not reach
//! as deep as the threshold asks.
//!
//! A group made of several of those (a cluster of schools, a priority or term of courses, the
//! totals of a window that is not one academic year) takes the latest of its parts' tails:
//! a response among a group's latest `r` is among its own part's latest `r`; so does a pair
//! of a school or cluster with a staff group over one academic year, from each school's
//! staff groups' kept tails. Groupings with no such parts (other pairs of groupings; a
//! person-level grouping over a window that is not one academic year) are worked out by the window query instead, as the reference is
//! (`Method::Bookings`); [`from_tails`] says so by returning `None`.
//!
//! Here, each group's released sums by level ([`from_tails`]); in `kept`, the kept rows of
//! schools a report reads, and which of a cluster's can hold its tail; in `pairs`, a school
//! or cluster by staff group; in `probe`, the look-ups in the responses' indexes for what
//! the kept rows cannot answer.

use std::collections::{BTreeMap, HashMap};

use chrono::Datelike;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel::QueryResult;

use crate::db::{Backend, DbConn};
use crate::domain::suppression::Threshold;
use crate::reports::metrics::{GroupBy, ReportQuery, NONE_KEY};
use crate::store::report_cells::{load, unpack_into, EntryRef, KeptEntry, Param};

use super::cells::{Method, Wanted};
use super::reference::Courses;
use super::released::{released, FirstSums, Released, ReleasedSums};
use super::rollup::{level_keys, Figures, Rollup};

mod kept;
mod pairs;
mod probe;

use kept::{kept_school_tails, load_kept_schools};
use pairs::{pair_sums, Places};
use probe::probe;

/// The kinds of response, in the order of `responses` in the counts.
const KINDS: [&str; 2] = ["post_course", "follow_up"];

/// A kept row's kind selected as its index into `KINDS`: a number, not the kind's name, so
/// one string fewer to receive for each of tens of thousands of rows. (No other relation the
/// kept rows are read with has a column `kind`.)
const KIND_INDEX: &str = "CASE WHEN kind = 'post_course' THEN 0 ELSE 1 END AS kind";

/// A map for the keys of a year's kept rows (hundreds of thousands per report): the keys come
/// from the database, not from a request, and SipHash cost more than the rest of the work.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// A set of such keys.
type FastSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

/// What a probe looks a tail up by.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum By {
    /// Every response of the academic year.
    Year,
    School,
    StaffGroup,
    Course,
    /// One staff group of one school: the unit's key is `pair_key(school, staff group)`.
    SchoolGroup,
}

/// The key of a pair of keys, as one string.
fn pair_key(a: &str, b: &str) -> String {
    format!("{a}\u{1f}{b}")
}

/// The two keys of a pair key.
fn split_pair(k: &str) -> (&str, &str) {
    k.split_once('\u{1f}').unwrap_or((k, ""))
}

impl By {
    /// The response's column the unit's key matches (for a school's staff group, the school's;
    /// the staff group is matched besides).
    fn column(self) -> Option<&'static str> {
        match self {
            By::Year => None,
            By::School | By::SchoolGroup => Some("school_id"),
            By::StaffGroup => Some("staff_group_id"),
            By::Course => Some("course_id"),
        }
    }
}

/// One response of a tail, with what it adds to each figure.
#[derive(QueryableByName, Debug)]
struct TailRow {
    #[diesel(sql_type = Text)]
    unit: String,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(embed)]
    entry: KeptEntry,
}

impl TailRow {
    /// Where the row's kind goes in a unit's lists: post-course first, then follow-up.
    fn kind_index(&self) -> usize {
        usize::from(self.kind != KINDS[0])
    }
}

/// Each probed row's entry in its unit's lists, in the order found, under the key `key`
/// gives for the row's unit (none: the row is left out).
fn add_probed<'r, K: Eq + std::hash::Hash>(
    lists: &mut FastMap<K, [Vec<EntryRef<'r>>; 2]>,
    rows: &'r [TailRow],
    key: impl Fn(&'r str) -> Option<K>,
) {
    for row in rows {
        if let Some(k) = key(&row.unit) {
            lists.entry(k).or_default()[row.kind_index()].push(row.entry.as_ref());
        }
    }
}

/// Takes what response `e` (a post-course one when `post`, else a follow-up) adds to each
/// figure away from `s`, as `super::released` adds it: satisfaction from post-course
/// responses, the impact rate from follow-ups, the confidence shift and the Guskey answers
/// from either.
fn take_from(e: &EntryRef, post: bool, s: &mut ReleasedSums) {
    if post {
        if let Some(v) = e.satisfaction {
            s.sum[0] -= i64::from(v);
            s.counted[0] -= 1;
        }
    } else if let Some(v) = e.impact {
        s.sum[1] -= i64::from(v >= 4);
        s.counted[1] -= 1;
    }
    if e.pairs > 0 {
        s.counted[2] -= 1;
    }
    s.sum[2] -= i64::from(e.shift);
    s.pairs[2] -= i64::from(e.pairs);
    for (i, g) in e.guskey.into_iter().enumerate() {
        s.sum[3 + i] -= i64::from(g);
        if g > 0 {
            s.counted[3 + i] -= 1;
        }
    }
}

/// Takes a unit's latest `lens` responses of each kind (`lists`: post-course, follow-up,
/// each newest first) away from `s`.
fn take_latest(lists: &[Vec<EntryRef>; 2], lens: [usize; 2], s: &mut ReleasedSums) {
    for (i, list) in lists.iter().enumerate() {
        for e in list.iter().take(lens[i]) {
            take_from(e, i == 0, s);
        }
    }
}

/// [`take_latest`] for lists in the order found (a probe's rows): sorted newest first, then
/// taken.
fn take_newest(lists: &mut [Vec<EntryRef>; 2], lens: [usize; 2], s: &mut ReleasedSums) {
    for list in lists.iter_mut() {
        list.sort_unstable_by(EntryRef::newest_first);
    }
    take_latest(lists, lens, s);
}

/// The academic year (starting 1 September) a window is exactly, if it is one.
fn academic_year(q: &ReportQuery) -> Option<i32> {
    let y = q.from.year();
    let whole = q.from.month() == 9
        && q.from.day() == 1
        && q.to.year() == y + 1
        && q.to.month() == 8
        && q.to.day() == 31;
    whole.then_some(y)
}

/// A group's tail lengths per kind: `n mod k`.
fn tail_len(t: Threshold, responses: [i64; 2]) -> [usize; 2] {
    let k = i64::from(t.get());
    responses.map(|n| usize::try_from(n.rem_euclid(k)).unwrap_or(0))
}

/// Group key -> (tail lengths, units (probe keys) its responses are found by).
type Groups = BTreeMap<String, ([usize; 2], Vec<String>)>;

/// Units (probe keys), each with how deep its tail of each kind is wanted.
type Units<'a> = Vec<(&'a str, [usize; 2])>;

/// The groups of one level (or the totals) to release.
struct Level {
    by: By,
    groups: Groups,
}

/// The released sums of `period`'s groups of `rollup` (the report of window `q` by `levels`,
/// only `school`'s responses if given): from the cells' sums and each group's tail when
/// `method` read the cells and the grouping has tails, otherwise by the window query
/// (`super::released`), which is also how the reference worked from the bookings gets them.
#[allow(clippy::too_many_arguments)]
pub(super) fn released_sums<C: Figures + Default + Copy>(
    conn: &mut DbConn,
    q: &ReportQuery,
    period: usize,
    levels: &[GroupBy],
    wanted: Wanted,
    school: Option<&str>,
    method: Method,
    rollup: &Rollup<C>,
    courses: &Courses,
) -> QueryResult<Released> {
    let tails = match method {
        Method::Cells => from_tails(conn, q, period, levels, rollup, courses)?,
        Method::Bookings => None,
    };
    match tails {
        Some(r) => Ok(r),
        None => released(conn, q, period, levels, wanted, school),
    }
}

/// The released sums of `period`'s groups of `rollup` (the report of window `q` by
/// `levels`, with the courses of `courses`), from the cells' sums and each group's tail; `None`
/// where the grouping or window has no tails to read (see the module's note).
fn from_tails<C: Figures + Default + Copy>(
    conn: &mut DbConn,
    q: &ReportQuery,
    period: usize,
    levels: &[GroupBy],
    rollup: &Rollup<C>,
    courses: &Courses,
) -> QueryResult<Option<Released>> {
    let t = Threshold::new(q.min_responses);
    let year = academic_year(q);
    if let (Some(y), [GroupBy::School]) = (year, levels) {
        return by_school(conn, q, period, y, rollup, courses).map(Some);
    }
    // Pairs read tails when they are schools or clusters by staff group (either way round)
    // over one academic year: their units are a school's staff groups, kept ahead of time.
    let place = |l: &GroupBy| matches!(l, GroupBy::School | GroupBy::Cluster);
    let pair = match levels {
        [a, GroupBy::StaffGroup] if place(a) && year.is_some() => Some((true, *a)),
        [GroupBy::StaffGroup, b] if place(b) && year.is_some() => Some((false, *b)),
        _ => None,
    };
    if levels.len() > 1 && pair.is_none() {
        return Ok(None);
    }
    let course_level = levels.iter().all(GroupBy::is_course_level);
    if year.is_none() && !course_level {
        return Ok(None);
    }
    let the_courses = &courses.by_period[period];
    let totals_tail = tail_len(t, rollup.totals[period].responses());
    // The totals: one probe of the academic year, or the latest of every course's tail.
    let totals = match year {
        Some(_) => Level {
            by: By::Year,
            groups: BTreeMap::from([(String::new(), (totals_tail, vec![String::new()]))]),
        },
        None => Level {
            by: By::Course,
            groups: BTreeMap::from([(String::new(), (totals_tail, the_courses.clone()))]),
        },
    };
    // Every school with its cluster, read once for the levels that need it.
    let clusters = if levels.contains(&GroupBy::Cluster) {
        schools_by_cluster(conn)?
    } else {
        Vec::new()
    };
    let mut wanted = vec![totals];
    if let Some(level) = levels.first() {
        let first = &rollup.first[period];
        let tails = |k: &String| -> Option<[usize; 2]> {
            first
                .get(k)
                .map(|c| tail_len(t, c.responses()))
                .filter(|l| l.iter().any(|&n| n > 0))
        };
        let mut groups: BTreeMap<String, ([usize; 2], Vec<String>)> = BTreeMap::new();
        let by = match level {
            GroupBy::School | GroupBy::StaffGroup | GroupBy::Course => {
                for k in first.keys() {
                    if let Some(l) = tails(k) {
                        groups.insert(k.clone(), (l, vec![k.clone()]));
                    }
                }
                match level {
                    GroupBy::School => By::School,
                    GroupBy::StaffGroup => By::StaffGroup,
                    _ => By::Course,
                }
            }
            GroupBy::Cluster => {
                for (school, cluster) in &clusters {
                    if let Some(l) = tails(cluster) {
                        groups
                            .entry(cluster.clone())
                            .or_insert((l, Vec::new()))
                            .1
                            .push(school.clone());
                    }
                }
                // Responses without a school are in the group of no cluster.
                if let Some(l) = tails(&NONE_KEY.to_string()) {
                    groups
                        .entry(NONE_KEY.to_string())
                        .or_insert((l, Vec::new()))
                        .1
                        .push(NONE_KEY.to_string());
                }
                By::School
            }
            GroupBy::Priority | GroupBy::Term => {
                for id in the_courses {
                    for k in level_keys(*level, period, Some(id), None, None, courses) {
                        if let Some(l) = tails(&k) {
                            groups
                                .entry(k)
                                .or_insert((l, Vec::new()))
                                .1
                                .push(id.clone());
                        }
                    }
                }
                By::Course
            }
        };
        wanted.push(Level { by, groups });
    }

    // Each unit is probed once per kind, as deep as the deepest group it is in needs.
    let mut depth: FastMap<(By, &str), [usize; 2]> = FastMap::default();
    for w in &wanted {
        for (lens, units) in w.groups.values() {
            for u in units {
                let d = depth.entry((w.by, u.as_str())).or_default();
                for i in 0..2 {
                    d[i] = d[i].max(lens[i]);
                }
            }
        }
    }
    // A year's school tails are kept ahead of time (`report_cells::tails`): read once, then
    // only the schools the kept rows cannot answer for are looked up.
    let own = match levels.first() {
        Some(GroupBy::School) => Some(&rollup.first[period]),
        _ => None,
    };
    // By cluster, the schools are the clusters' units.
    let cluster_groups = match levels.first() {
        Some(GroupBy::Cluster) => wanted.get(1).map(|w| &w.groups),
        _ => None,
    };
    let kept = match year {
        Some(y) if depth.keys().any(|(b, _)| *b == By::School) => Some(load_kept_schools(
            conn,
            y,
            t,
            own.is_some(),
            cluster_groups,
        )?),
        _ => None,
    };
    // Each unit's latest responses of each kind, per kind of unit, newest first: borrowed
    // from the kept rows, or from the rows the probes found.
    let mut found: HashMap<By, FastMap<&str, [Vec<EntryRef>; 2]>> = HashMap::new();
    let mut probed: Vec<(By, Units, Vec<TailRow>)> = Vec::new();
    for by in [By::Year, By::School, By::StaffGroup, By::Course] {
        let units: Vec<(&str, [usize; 2])> = depth
            .iter()
            .filter(|((b, _), _)| *b == by)
            .map(|((_, u), d)| (*u, *d))
            .collect();
        if units.is_empty() {
            continue;
        }
        let (lists, units) = match (by, &kept) {
            (By::School, Some(kept)) => {
                kept_school_tails(kept, units, own, cluster_groups.is_some())
            }
            _ => (FastMap::default(), units),
        };
        let rows = probe(conn, by, year, &units, t)?;
        probed.push((by, units, rows));
        found.insert(by, lists);
    }
    // The probed rows under the units' own keys.
    for (by, units, rows) in &probed {
        let units: std::collections::HashSet<&str> = units.iter().map(|(u, _)| *u).collect();
        add_probed(found.entry(*by).or_default(), rows, |u| {
            units.get(u).copied()
        });
    }

    let mut out = Released::default();
    let mut tail: Vec<&EntryRef> = Vec::new();
    for (level, w) in wanted.iter().enumerate() {
        let of_by = found.get(&w.by);
        // The first level's groups with a tail, in key order, as the rollup lists them.
        let mut with_tail: Vec<(&String, ReleasedSums)> = Vec::new();
        for (key, (lens, units)) in &w.groups {
            let counts = match level {
                0 => rollup.totals[period],
                _ => rollup.first[period].get(key).copied().unwrap_or_default(),
            };
            let mut sums = counts.all_sums();
            for (i, len) in lens.iter().enumerate() {
                // The group's latest `len` of this kind, from its units' latest.
                tail.clear();
                tail.extend(
                    units
                        .iter()
                        .filter_map(|u| of_by.and_then(|f| f.get(u.as_str())))
                        .flat_map(|lists| lists[i].iter()),
                );
                tail.sort_by(|a, b| EntryRef::newest_first(a, b));
                for e in tail.iter().take(*len) {
                    take_from(e, i == 0, &mut sums);
                }
            }
            match level {
                0 => out.totals = sums,
                _ => with_tail.push((key, sums)),
            }
        }
        // Every first-level group in the rollup's order: those with no tail release all
        // their responses. (A group with a tail is one of the rollup's.)
        if level == 1 {
            let mut with_tail = with_tail.into_iter().peekable();
            let in_order = rollup.first[period]
                .iter()
                .map(|(key, c)| match with_tail.next_if(|(k, _)| *k == key) {
                    Some((_, sums)) => sums,
                    None => c.all_sums(),
                })
                .collect();
            out.first = FirstSums::InOrder(in_order);
        }
    }
    // The pairs: each pair's tail straight from its schools' staff groups' kept rows.
    if let (Some((place_first, place_level)), Some(y)) = (pair, year) {
        let places = Places::new(place_level, &clusters);
        out.second = pair_sums(conn, y, t, &rollup.second[period], place_first, &places)?;
    }
    Ok(Some(out))
}

/// The released sums of a report by school over academic year `year` (`from_tails` for that
/// grouping): each school is its own group and its own unit, so its tail is read straight
/// from its kept rows, newest first, school after school in the rollup's order, without the
/// maps of groups and units the other groupings need (tens of thousands of schools at
/// national size). The schools the kept rows cannot answer for are looked up in the
/// responses' index; the totals are the year's, as for any grouping.
fn by_school<C: Figures + Default + Copy>(
    conn: &mut DbConn,
    q: &ReportQuery,
    period: usize,
    year: i32,
    rollup: &Rollup<C>,
    courses: &Courses,
) -> QueryResult<Released> {
    let t = Threshold::new(q.min_responses);
    let mut out = from_tails(conn, q, period, &[], rollup, courses)?.unwrap_or_default();
    let first = &rollup.first[period];
    let kept = load_kept_schools(conn, year, t, true, None)?;
    let mut sums: Vec<ReleasedSums> = Vec::with_capacity(first.len());
    // The schools left for the index: their place in `sums`, key and tail lengths.
    let mut left: Vec<(usize, &str, [usize; 2])> = Vec::new();
    let mut lists: [Vec<EntryRef>; 2] = Default::default();
    for (place, (school, c)) in first.iter().enumerate() {
        let mut s = c.all_sums();
        let lens = tail_len(t, c.responses());
        if lens.iter().any(|&n| n > 0) {
            if kept.school_tail(school, lens, c.responses(), &mut lists) {
                take_latest(&lists, lens, &mut s);
            } else {
                left.push((place, school.as_str(), lens));
            }
        }
        sums.push(s);
    }
    if !left.is_empty() {
        let units: Units = left.iter().map(|&(_, u, d)| (u, d)).collect();
        let rows = probe(conn, By::School, Some(year), &units, t)?;
        let mut of_unit: FastMap<&str, [Vec<EntryRef>; 2]> = FastMap::default();
        add_probed(&mut of_unit, &rows, Some);
        for (place, school, lens) in left {
            if let Some(found) = of_unit.get_mut(school) {
                take_newest(found, lens, &mut sums[place]);
            }
        }
    }
    out.first = FirstSums::InOrder(sums);
    Ok(out)
}

/// The schools whose year `year` is marked for its kept tails to be worked out again: their
/// kept rows may be out of date.
fn marked_schools(conn: &mut DbConn, year: i32) -> QueryResult<FastSet<String>> {
    let rows: Vec<Unit> = load(
        conn,
        "SELECT school_key AS unit FROM report_school_tail_marks WHERE course_year = $1",
        &[Param::Int(i64::from(year))],
    )?;
    Ok(rows.into_iter().map(|u| u.unit).collect())
}

/// Whether `read` entries of a kept row answer for a tail `asked` deep: as deep as asked, or
/// every counted response the unit has (`responses`, the row's count).
fn deep_enough(read: usize, asked: usize, responses: i64) -> bool {
    read >= asked || read as i64 == responses
}

/// The rows of a JSON array bound as `$1`, each row's elements as `u.value->>0`, `->>1`, ...
/// once the source is named `u`.
fn json_elements(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "json_array_elements(CAST($1 AS json))",
        Backend::Sqlite => "json_each($1)",
    }
}

#[derive(QueryableByName)]
struct Unit {
    #[diesel(sql_type = Text)]
    unit: String,
}

#[derive(QueryableByName)]
struct SchoolCluster {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    cluster: String,
}

/// Every school with its cluster as it is now (the cells' cluster of a school's responses),
/// `NONE_KEY` for none.
fn schools_by_cluster(conn: &mut DbConn) -> QueryResult<Vec<(String, String)>> {
    let rows: Vec<SchoolCluster> = load(
        conn,
        "SELECT id, COALESCE(cluster_id, '') AS cluster FROM schools",
        &[],
    )?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let cluster = if r.cluster.is_empty() {
                NONE_KEY.to_string()
            } else {
                r.cluster
            };
            (r.id, cluster)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn window(from: (i32, u32, u32), to: (i32, u32, u32)) -> ReportQuery {
        let d = |(y, m, d): (i32, u32, u32)| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        ReportQuery {
            from: d(from),
            to: d(to),
            group_by: GroupBy::School,
            then_by: None,
            now: d((2026, 12, 2)).and_hms_opt(9, 0, 0).unwrap(),
            min_responses: 5,
        }
    }

    #[test]
    fn only_a_whole_academic_year_reads_the_year_tails() {
        assert_eq!(
            academic_year(&window((2025, 9, 1), (2026, 8, 31))),
            Some(2025)
        );
        assert_eq!(academic_year(&window((2025, 9, 1), (2026, 8, 30))), None);
        assert_eq!(academic_year(&window((2025, 9, 2), (2026, 8, 31))), None);
        assert_eq!(academic_year(&window((2024, 9, 1), (2026, 8, 31))), None);
        assert_eq!(academic_year(&window((2025, 1, 1), (2025, 12, 31))), None);
    }

    #[test]
    fn a_tail_is_what_is_left_after_the_whole_steps() {
        let t = Threshold::new(5);
        assert_eq!(tail_len(t, [0, 4]), [0, 4]);
        assert_eq!(tail_len(t, [5, 13]), [0, 3]);
        assert_eq!(tail_len(Threshold::new(7), [20, 21]), [6, 0]);
    }
}
