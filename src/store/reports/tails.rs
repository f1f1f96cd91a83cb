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
use super::released::{released, Released, ReleasedSums};
use super::rollup::{level_keys, Figures, Rollup};

/// The kinds of response, in the order of `responses` in the counts.
const KINDS: [&str; 2] = ["post_course", "follow_up"];

/// A map for the keys of a year's kept rows (hundreds of thousands per report): the keys come
/// from the database, not from a request, and SipHash cost more than the rest of the work.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

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
    /// Takes what this response (a post-course one when `post`, else a follow-up) adds to each
    /// figure away from `s`.
    fn take_from(&self, post: bool, s: &mut ReleasedSums) {
        take_from(&self.entry.as_ref(), post, s);
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

/// The groups of one level (or the totals) to release: per group, its tail lengths and the
/// units (probe keys) its responses are found by.
struct Level {
    by: By,
    /// Group key -> (tail lengths, units).
    groups: BTreeMap<String, ([usize; 2], Vec<String>)>,
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
    let mut depth: HashMap<(By, &str), [usize; 2]> = HashMap::new();
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
    // Each unit's latest responses of each kind, per kind of unit.
    let mut found: HashMap<By, HashMap<&str, [Vec<TailRow>; 2]>> = HashMap::new();
    for by in [By::Year, By::School, By::StaffGroup, By::Course] {
        let units: Vec<(&str, [usize; 2])> = depth
            .iter()
            .filter(|((b, _), _)| *b == by)
            .map(|((_, u), d)| (*u, *d))
            .collect();
        if units.is_empty() {
            continue;
        }
        // A year's school tails are kept ahead of time (`report_cells::tails`): only the
        // schools the kept rows cannot answer for are looked up.
        let (mut lists, units) = match (by, year) {
            (By::School, Some(y)) => {
                let own = match levels.first() {
                    Some(GroupBy::School) => Some(&rollup.first[period]),
                    _ => None,
                };
                // By cluster, the schools are the clusters' units.
                let clusters = match levels.first() {
                    Some(GroupBy::Cluster) => wanted.get(1).map(|w| &w.groups),
                    _ => None,
                };
                kept_school_tails(conn, y, units, t, own, clusters)?
            }
            _ => (HashMap::new(), units),
        };
        // The probed rows under the units' own keys.
        let probed: std::collections::HashSet<&str> = units.iter().map(|(u, _)| *u).collect();
        for row in probe(conn, by, year, &units, t)? {
            let i = usize::from(row.kind != KINDS[0]);
            if let Some(u) = probed.get(row.unit.as_str()) {
                lists.entry(*u).or_default()[i].push(row);
            }
        }
        found.insert(by, lists);
    }

    let mut out = Released::default();
    for (level, w) in wanted.iter().enumerate() {
        for (key, (lens, units)) in &w.groups {
            let counts = match level {
                0 => rollup.totals[period],
                _ => rollup.first[period].get(key).copied().unwrap_or_default(),
            };
            let mut sums = counts.all_sums();
            for (i, len) in lens.iter().enumerate() {
                // The group's latest `len` of this kind, from its units' latest.
                let of_by = found.get(&w.by);
                let mut tail: Vec<&TailRow> = units
                    .iter()
                    .filter_map(|u| of_by.and_then(|f| f.get(u.as_str())))
                    .flat_map(|lists| lists[i].iter())
                    .collect();
                tail.sort_by(|a, b| {
                    (b.entry.submitted_at, b.entry.id.as_bytes())
                        .cmp(&(a.entry.submitted_at, a.entry.id.as_bytes()))
                });
                for r in tail.iter().take(*len) {
                    r.take_from(i == 0, &mut sums);
                }
            }
            match level {
                0 => out.totals = sums,
                _ => {
                    out.first.insert(key.clone(), sums);
                }
            }
        }
        // Groups with no tail release all their responses.
        if level == 1 {
            for (key, c) in &rollup.first[period] {
                out.first.entry(key.clone()).or_insert_with(|| c.all_sums());
            }
        }
    }
    // The pairs: each pair's tail straight from its schools' staff groups' kept rows.
    if let (Some((place_first, place_level)), Some(y)) = (pair, year) {
        let places = Places::new(place_level, &clusters);
        out.second = pair_sums(conn, y, t, &rollup.second[period], place_first, &places)?;
    }
    Ok(Some(out))
}

/// A kept row of a school's tail (`report_school_tails`).
#[derive(QueryableByName)]
struct KeptRow {
    #[diesel(sql_type = Text)]
    school_key: String,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = BigInt)]
    responses: i64,
    #[diesel(sql_type = Text)]
    entries: String,
}

/// The tails of the schools of `units` in academic year `year` as far as the kept rows
/// (`report_cells::tails`) answer for them, per school and kind, and the units left to look
/// up in the responses' index: the schools marked since their rows were worked out, and
/// those whose kept rows do not reach as deep as asked (a threshold above the smallest) or
/// cannot be read. With `own` (the report is by school, and each unit asks for its own
/// tail), only the rows of schools with a tail are read, and a school whose kept count of
/// responses is not the cells' is looked up too.
#[allow(clippy::type_complexity)]
fn kept_school_tails<'a, C: Figures>(
    conn: &mut DbConn,
    year: i32,
    units: Vec<(&'a str, [usize; 2])>,
    t: Threshold,
    own: Option<&BTreeMap<String, C>>,
    clusters: Option<&BTreeMap<String, ([usize; 2], Vec<String>)>>,
) -> QueryResult<(
    HashMap<&'a str, [Vec<TailRow>; 2]>,
    Vec<(&'a str, [usize; 2])>,
)> {
    let params = [Param::Int(i64::from(year)), Param::Int(i64::from(t.get()))];
    let marked = marked_schools(conn, year)?;
    let rows: Vec<KeptRow> = match clusters {
        Some(groups) => newest_school_rows(conn, year, groups, &marked)?,
        None => load(
            conn,
            &format!(
                "SELECT school_key, kind, responses, entries FROM report_school_tails
                  WHERE course_year = $1{}",
                if own.is_some() {
                    " AND responses % $2 > 0"
                } else {
                    ""
                }
            ),
            if own.is_some() { &params } else { &params[..1] },
        )?,
    };
    // The kept rows by school: the count and entries of each kind.
    let mut kept: HashMap<String, [Option<(i64, String)>; 2]> = HashMap::with_capacity(units.len());
    for r in rows {
        let key = if r.school_key.is_empty() {
            NONE_KEY.to_string()
        } else {
            r.school_key
        };
        let i = usize::from(r.kind != KINDS[0]);
        kept.entry(key).or_default()[i] = Some((r.responses, r.entries));
    }
    let mut lists: HashMap<&str, [Vec<TailRow>; 2]> = HashMap::with_capacity(units.len());
    let mut left = Vec::new();
    for (u, d) in units {
        let key = if u == NONE_KEY { "" } else { u };
        if marked.contains(key) {
            left.push((u, d));
            continue;
        }
        let rows = match kept.remove(u) {
            Some(rows) => rows,
            // By cluster, a school whose rows were not read cannot hold its cluster's tail.
            None if clusters.is_some() => continue,
            None => Default::default(),
        };
        // The kept count is the cells' for a school nothing has marked since; a difference
        // would mean rows out of date, which the index answers for.
        let cells = own.and_then(|o| o.get(u)).map(|c| c.responses());
        match unit_tails(&rows, d, cells) {
            Some(unit_lists) => {
                lists.insert(u, unit_lists);
            }
            None => left.push((u, d)),
        }
    }
    Ok((lists, left))
}

/// A kept row of one staff group of one school (`report_school_group_tails`).
#[derive(QueryableByName)]
struct KeptGroupRow {
    #[diesel(sql_type = Text)]
    school_key: String,
    #[diesel(sql_type = Text)]
    staff_group_key: String,
    /// 0 for post-course responses, 1 for follow-ups (the index into `KINDS`).
    #[diesel(sql_type = diesel::sql_types::Integer)]
    kind: i32,
    #[diesel(sql_type = BigInt)]
    responses: i64,
    #[diesel(sql_type = Text)]
    entries: String,
}

/// A kept tail's entries as tail rows.
fn tail_rows(entries: Vec<KeptEntry>) -> Vec<TailRow> {
    entries
        .into_iter()
        .map(|entry| TailRow {
            unit: String::new(),
            kind: String::new(),
            entry,
        })
        .collect()
}

/// Where a school's responses fall in a pair's place: the school itself, or its cluster.
struct Places<'c> {
    /// Each school's cluster, when the place is a cluster.
    cluster_of: Option<FastMap<&'c str, &'c str>>,
}

impl<'c> Places<'c> {
    fn new(place_level: GroupBy, clusters: &'c [(String, String)]) -> Self {
        let cluster_of = (place_level == GroupBy::Cluster).then(|| {
            clusters
                .iter()
                .map(|(school, cluster)| (school.as_str(), cluster.as_str()))
                .collect()
        });
        Places { cluster_of }
    }

    /// The place of `school` (a kept key: '' or `NONE_KEY` for none); `None` for a school
    /// the alliance no longer lists, which is in no cluster's pairs.
    fn of<'s>(&self, school: &'s str) -> Option<&'s str>
    where
        'c: 's,
    {
        if school.is_empty() || school == NONE_KEY {
            // Responses without a school are in the group of no school, or of no cluster.
            return Some(NONE_KEY);
        }
        match &self.cluster_of {
            Some(map) => map.get(school).copied(),
            None => Some(school),
        }
    }

    /// The pair a kept staff-group row of `school` and `group` (kept keys: '' for none) goes
    /// to, as `pair_sums` keys its pairs: the school's place and the staff group (`NONE_KEY`
    /// for none); `None` for a school the alliance no longer lists.
    fn pair<'s>(&self, school: &'s str, group: &'s str) -> Option<(&'s str, &'s str)>
    where
        'c: 's,
    {
        let group = if group.is_empty() { NONE_KEY } else { group };
        Some((self.of(school)?, group))
    }
}

/// The released sums of the pairs of `second` (a place by staff group, the place first when
/// `place_first`, over academic year `year`): each pair's sums less its tail, the latest
/// `n mod k` of its responses of each kind. A pair's latest responses are the latest among
/// its schools' staff group's, so one pass over the year's kept staff-group rows finds them:
/// each row goes to the one pair its school's place and its staff group make, and only as
/// many entries as that pair's tail are read from it, in place. Rows that cannot answer (a
/// school marked since it was kept, or a row not as deep as a threshold above the smallest
/// asks) are looked up in the responses' index instead, as a unit of one school's staff group.
fn pair_sums<C: Figures>(
    conn: &mut DbConn,
    year: i32,
    t: Threshold,
    second: &BTreeMap<(String, String), C>,
    place_first: bool,
    places: &Places,
) -> QueryResult<HashMap<(String, String), ReleasedSums>> {
    let mut out: HashMap<(String, String), ReleasedSums> = second
        .iter()
        .map(|(key, c)| (key.clone(), c.all_sums()))
        .collect();
    // The pairs with a tail, by place and staff group: the pair's key, its tail lengths, and
    // (filled below) its latest entries of each kind.
    // Each pair is numbered, for `pair_rows`.
    type Pair<'r, 'e> = (
        &'r (String, String),
        [usize; 2],
        [Vec<EntryRef<'e>>; 2],
        usize,
    );
    let mut pairs: FastMap<(&str, &str), Pair> = FastMap::default();
    for (key, c) in second {
        let lens = tail_len(t, c.responses());
        if lens.iter().all(|&n| n == 0) {
            continue;
        }
        let (place, group) = if place_first {
            (&key.0, &key.1)
        } else {
            (&key.1, &key.0)
        };
        let number = pairs.len();
        pairs.insert(
            (place.as_str(), group.as_str()),
            (key, lens, Default::default(), number),
        );
    }
    if pairs.is_empty() {
        return Ok(out);
    }
    let marked = marked_schools(conn, year)?;
    // The units to look up (a school's staff group, keyed as `probe` takes them), with
    // how deep, per kind.
    let mut left: HashMap<String, [usize; 2]> = HashMap::new();
    let unit = |school: &str, group: &str| {
        let school = if school.is_empty() { NONE_KEY } else { school };
        pair_key(school, group)
    };
    // A marked school's every staff group with a tail is looked up.
    if !marked.is_empty() {
        let mut by_place: HashMap<&str, Vec<(&str, [usize; 2])>> = HashMap::new();
        for (&(place, group), (_, lens, _, _)) in &pairs {
            by_place.entry(place).or_default().push((group, *lens));
        }
        for school in &marked {
            let Some(place) = places.of(school) else {
                continue;
            };
            for (group, lens) in by_place.get(place).map_or(&[][..], Vec::as_slice) {
                left.insert(unit(school, group), *lens);
            }
        }
    }
    let rows = pair_rows(conn, year, places, &marked, pairs.len(), |place, group| {
        pairs.get(&(place, group)).map(|p| (p.3, p.1))
    })?;
    for r in &rows {
        if marked.contains(&r.school_key) {
            continue;
        }
        let Some(pair) = places.pair(&r.school_key, &r.staff_group_key) else {
            continue;
        };
        let group = pair.1;
        let Some((_, lens, latest, _)) = pairs.get_mut(&pair) else {
            continue;
        };
        let i = usize::from(r.kind != 0);
        let d = lens[i];
        if d == 0 {
            continue;
        }
        let list = &mut latest[i];
        let before = list.len();
        match unpack_into(&r.entries, d, list) {
            Some(n) if deep_enough(n, d, r.responses) => {}
            _ => {
                list.truncate(before);
                left.entry(unit(&r.school_key, group)).or_default()[i] = d;
            }
        }
    }
    let units: Vec<(&str, [usize; 2])> = left.iter().map(|(u, d)| (u.as_str(), *d)).collect();
    let probed = if units.is_empty() {
        Vec::new()
    } else {
        probe(conn, By::SchoolGroup, Some(year), &units, t)?
    };
    for row in &probed {
        let (school, group) = split_pair(&row.unit);
        let Some(place) = places.of(school) else {
            continue;
        };
        if let Some((_, _, latest, _)) = pairs.get_mut(&(place, group)) {
            latest[usize::from(row.kind != KINDS[0])].push(row.entry.as_ref());
        }
    }
    // Each pair's sums less its latest, as many as its tail.
    for (key, lens, mut latest, _) in pairs.into_values() {
        let Some(sums) = out.get_mut(key) else {
            continue;
        };
        for (i, list) in latest.iter_mut().enumerate() {
            list.sort_unstable_by(EntryRef::newest_first);
            for e in list.iter().take(lens[i]) {
                take_from(e, i == 0, sums);
            }
        }
    }
    Ok(out)
}

/// The year's kept staff-group rows that can hold some pair's tail (`lens` gives a pair's
/// number, below `n_pairs`, and tail lengths by place and staff group; `None` for a pair
/// without a tail).
///
/// When the place is a school, a pair is one row, and every row is read. When it is a
/// cluster, a pair has a row per school of the cluster (about 160 at national size) and only
/// its newest few can hold its tail. So every row's newest time is read first (`newest`, which
/// PostgreSQL reads from the key's index alone), and then in full only the rows whose newest
/// time is among their pair's `d` newest of that kind, ties kept. A row left out has at least
/// `d` rows whose newest entry is newer than every entry it holds, so none of its entries is
/// among the pair's latest `d`, however deep it is. A row whose newest time is not known is
/// read in full (and looked up in the index if that fails too). Marked schools' rows are left
/// out: they are looked up in the index. Both reads are in the report's one snapshot.
fn pair_rows(
    conn: &mut DbConn,
    year: i32,
    places: &Places,
    marked: &std::collections::HashSet<String>,
    n_pairs: usize,
    lens: impl Fn(&str, &str) -> Option<(usize, [usize; 2])>,
) -> QueryResult<Vec<KeptGroupRow>> {
    let year_param = Param::Int(i64::from(year));
    if places.cluster_of.is_none() {
        return load(
            conn,
            "SELECT school_key, staff_group_key,
                    CASE WHEN kind = 'post_course' THEN 0 ELSE 1 END AS kind, responses, entries
               FROM report_school_group_tails WHERE course_year = $1",
            &[year_param],
        );
    }
    // On PostgreSQL from the key's index alone (it includes `newest`).
    let heads: Vec<KeptGroupHead> = load(
        conn,
        "SELECT school_key, staff_group_key,
                CASE WHEN kind = 'post_course' THEN 0 ELSE 1 END AS kind, newest
           FROM report_school_group_tails WHERE course_year = $1",
        std::slice::from_ref(&year_param),
    )?;
    let mut candidates: Vec<Candidate> = Vec::new();
    for (row, h) in heads.iter().enumerate() {
        if marked.contains(&h.school_key) {
            continue;
        }
        let Some((place, group)) = places.pair(&h.school_key, &h.staff_group_key) else {
            continue;
        };
        let Some((number, d)) = lens(place, group) else {
            continue;
        };
        let i = usize::from(h.kind != 0);
        if d[i] > 0 {
            candidates.push(Candidate {
                row,
                tail: 2 * number + i,
                d: d[i],
                newest: h.newest,
            });
        }
    }
    let wanted: Vec<serde_json::Value> = newest_rows(&candidates, 2 * n_pairs)
        .map(|c| {
            let h = &heads[c.row];
            serde_json::json!([h.school_key, h.staff_group_key, KINDS[c.tail % 2]])
        })
        .collect();
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let json = Param::Text(serde_json::Value::Array(wanted).to_string());
    // One look-up by primary key per row wanted.
    let sql = format!(
        "SELECT t.school_key, t.staff_group_key,
                CASE WHEN t.kind = 'post_course' THEN 0 ELSE 1 END AS kind, t.responses, t.entries
           FROM {elements} u
           JOIN report_school_group_tails t
             ON t.course_year = $2 AND t.school_key = u.value->>0
            AND t.staff_group_key = u.value->>1 AND t.kind = u.value->>2",
        elements = json_elements(conn.backend()),
    );
    load(conn, &sql, &[json, year_param])
}

/// The kept school rows of academic year `year` that can hold their cluster's tail (`groups`:
/// each cluster's tail lengths and schools, `NONE_KEY` for responses without a school), read
/// as `pair_rows` reads a cluster's pairs: every row's newest time first (on PostgreSQL from
/// the key's index alone), then in full only the schools with a row among their cluster's
/// `d` newest of its kind, ties kept, or whose newest time is not known. A school left out
/// holds nothing among its cluster's latest; marked schools are left out here and looked up.
fn newest_school_rows(
    conn: &mut DbConn,
    year: i32,
    groups: &BTreeMap<String, ([usize; 2], Vec<String>)>,
    marked: &std::collections::HashSet<String>,
) -> QueryResult<Vec<KeptRow>> {
    let year_param = Param::Int(i64::from(year));
    let heads: Vec<KeptSchoolHead> = load(
        conn,
        "SELECT school_key, CASE WHEN kind = 'post_course' THEN 0 ELSE 1 END AS kind, newest
           FROM report_school_tails WHERE course_year = $1",
        std::slice::from_ref(&year_param),
    )?;
    // Each school's cluster, by number, and the cluster's tail lengths (schools as kept: ''
    // for none).
    let mut cluster_of: FastMap<&str, (usize, [usize; 2])> = FastMap::default();
    for (number, (lens, schools)) in groups.values().enumerate() {
        for school in schools {
            let key = if school == NONE_KEY {
                ""
            } else {
                school.as_str()
            };
            cluster_of.insert(key, (number, *lens));
        }
    }
    let mut candidates: Vec<Candidate> = Vec::new();
    for (row, h) in heads.iter().enumerate() {
        if marked.contains(&h.school_key) {
            continue;
        }
        let Some(&(number, lens)) = cluster_of.get(h.school_key.as_str()) else {
            continue;
        };
        let i = usize::from(h.kind != 0);
        if lens[i] > 0 {
            candidates.push(Candidate {
                row,
                tail: 2 * number + i,
                d: lens[i],
                newest: h.newest,
            });
        }
    }
    let mut wanted: Vec<&str> = newest_rows(&candidates, 2 * groups.len())
        .map(|c| heads[c.row].school_key.as_str())
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    // Each school as `[key]`, as `json_elements` lists them.
    let wanted: Vec<[&str; 1]> = wanted.into_iter().map(|w| [w]).collect();
    let json = Param::Text(serde_json::to_string(&wanted).unwrap_or_default());
    // Both kinds of each school wanted, by primary key.
    let sql = format!(
        "SELECT t.school_key, t.kind, t.responses, t.entries
           FROM {elements} u
           JOIN report_school_tails t ON t.course_year = $2 AND t.school_key = u.value->>0",
        elements = json_elements(conn.backend()),
    );
    load(conn, &sql, &[json, year_param])
}

/// The head of a kept row of one school: which it is, and its newest entry's time.
#[derive(QueryableByName)]
struct KeptSchoolHead {
    #[diesel(sql_type = Text)]
    school_key: String,
    /// The index into `KINDS`.
    #[diesel(sql_type = diesel::sql_types::Integer)]
    kind: i32,
    /// In microseconds; `None` where it was not known when the row was kept.
    #[diesel(sql_type = diesel::sql_types::Nullable<BigInt>)]
    newest: Option<i64>,
}

/// A kept row that may hold its tail: the row (its place in the heads read), its tail (a
/// cluster's or a pair's number and kind, as `2 * number + kind`), the tail's length `d` and
/// the row's newest time (`None`: not known).
struct Candidate {
    row: usize,
    tail: usize,
    d: usize,
    newest: Option<i64>,
}

/// The candidates that can hold their tail (each below `tails`): the rows whose newest time
/// is among the `d` newest of their tail's rows, ties kept, and every row whose newest time
/// is not known.
fn newest_rows(candidates: &[Candidate], tails: usize) -> impl Iterator<Item = &Candidate> {
    // Per tail, its `d` newest rows' newest times, newest first.
    let mut tops: Vec<Vec<i64>> = vec![Vec::new(); tails];
    for c in candidates {
        let Some(m) = c.newest else { continue };
        let top = &mut tops[c.tail];
        if top.len() < c.d || top.last().is_some_and(|&last| m > last) {
            let at = top.partition_point(|&t| t >= m);
            top.insert(at, m);
            top.truncate(c.d);
        }
    }
    candidates.iter().filter(move |c| match c.newest {
        None => true,
        Some(m) => {
            let top = &tops[c.tail];
            top.len() < c.d || top.last().is_some_and(|&last| m >= last)
        }
    })
}

/// The rows of a JSON array bound as `$1`, each row's elements as `u.value->>0`, `->>1`, ...
/// once the source is named `u`.
fn json_elements(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "json_array_elements(CAST($1 AS json))",
        Backend::Sqlite => "json_each($1)",
    }
}

/// The head of a kept row of one staff group of one school: which it is, and its newest
/// entry's time.
#[derive(QueryableByName)]
struct KeptGroupHead {
    #[diesel(sql_type = Text)]
    school_key: String,
    #[diesel(sql_type = Text)]
    staff_group_key: String,
    /// The index into `KINDS`.
    #[diesel(sql_type = diesel::sql_types::Integer)]
    kind: i32,
    /// In microseconds; `None` where it was not known when the row was kept.
    #[diesel(sql_type = diesel::sql_types::Nullable<BigInt>)]
    newest: Option<i64>,
}

/// The schools whose year `year` is marked for its kept tails to be worked out again: their
/// kept rows may be out of date.
fn marked_schools(conn: &mut DbConn, year: i32) -> QueryResult<std::collections::HashSet<String>> {
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

/// A unit's tail of each kind, as deep as `d` asks, from its kept rows (per kind, the count
/// of counted responses and the packed entries; none kept: none counted); `None` where they
/// cannot answer for it: unreadable, not as deep as asked while the unit has more responses,
/// or a count that is not the cells' (`cells`, when known).
fn unit_tails(
    rows: &[Option<(i64, String)>; 2],
    d: [usize; 2],
    cells: Option<[i64; 2]>,
) -> Option<[Vec<TailRow>; 2]> {
    let mut lists: [Vec<TailRow>; 2] = Default::default();
    for i in 0..2 {
        if d[i] == 0 {
            continue;
        }
        let (responses, entries) = match &rows[i] {
            Some((n, e)) => (*n, e.as_str()),
            None => (0, ""),
        };
        let entries = crate::store::report_cells::unpack(entries, d[i])?;
        if !deep_enough(entries.len(), d[i], responses) || cells.is_some_and(|n| n[i] != responses)
        {
            return None;
        }
        lists[i] = tail_rows(entries);
    }
    Some(lists)
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

/// The latest responses of each unit (as many of each kind as `units` asks, at most
/// `threshold - 1`) that the reports count (`counted`: of published courses, of bookings not
/// declined, kept on the response by triggers), in academic year `year` when given. Within a
/// year they are the first entries of a partial index of counted responses alone. A unit
/// `NONE_KEY` stands for responses with no school or staff group.
fn probe(
    conn: &mut DbConn,
    by: By,
    year: Option<i32>,
    units: &[(&str, [usize; 2])],
    t: Threshold,
) -> QueryResult<Vec<TailRow>> {
    let mut out = Vec::new();
    let (none, keyed): (Vec<_>, Vec<_>) = units.iter().partition(|(u, _)| match by {
        By::Year => false,
        By::SchoolGroup => split_pair(u).0 == NONE_KEY,
        _ => *u == NONE_KEY,
    });
    for (list, is_none) in [(keyed, false), (none, true)] {
        if list.is_empty() {
            continue;
        }
        // [key, kind, how many] per unit and kind with a tail.
        let mut json = Vec::new();
        for (u, d) in &list {
            for (i, kind) in KINDS.iter().enumerate() {
                if d[i] > 0 {
                    // A school's staff group also gives the school and the staff group ('' for
                    // none) apart.
                    let (school, group) = split_pair(u);
                    let group = if group == NONE_KEY { "" } else { group };
                    json.push(serde_json::json!([u, kind, d[i], school, group]));
                }
            }
        }
        if json.is_empty() {
            continue;
        }
        let json = serde_json::Value::Array(json).to_string();
        out.extend(probe_sql(conn, by, year, is_none, &json, t)?);
    }
    Ok(out)
}

fn probe_sql(
    conn: &mut DbConn,
    by: By,
    year: Option<i32>,
    is_none: bool,
    json: &str,
    t: Threshold,
) -> QueryResult<Vec<TailRow>> {
    let mut params = vec![Param::Text(json.to_string())];
    let unit = |r: &str| match (by, by.column()) {
        (_, None) => String::new(),
        // Found through the school's index, the staff group matched besides.
        (By::SchoolGroup, Some(col)) => {
            let school = if is_none {
                format!("{r}.{col} IS NULL")
            } else {
                format!("{r}.{col} = u.value->>3")
            };
            format!(
                "{school} AND ({r}.staff_group_id = u.value->>4 \
                 OR (u.value->>4 = '' AND {r}.staff_group_id IS NULL)) AND "
            )
        }
        (_, Some(col)) if is_none => format!("{r}.{col} IS NULL AND "),
        (_, Some(col)) => format!("{r}.{col} = u.value->>0 AND "),
    };
    let in_year = |r: &str, params: &mut Vec<Param>| match (by, year) {
        (By::Course, _) | (_, None) => String::new(),
        (_, Some(y)) => {
            params.push(Param::Int(i64::from(y)));
            format!(" AND {r}.course_year = ${}", params.len())
        }
    };
    let cols = |r: &str| {
        format!(
            "{r}.submitted_at AS submitted_at, {r}.id AS id, {r}.satisfaction AS satisfaction, \
             {r}.impact AS impact, {r}.confidence_shift AS shift, {r}.confidence_pairs AS pairs, \
             {r}.guskey1_answers AS g1, {r}.guskey2_answers AS g2, {r}.guskey3_answers AS g3, \
             {r}.guskey4_answers AS g4, {r}.guskey5_answers AS g5"
        )
    };
    let elements = json_elements(conn.backend());
    let sql = match conn.backend() {
        // One index scan per unit and kind, as deep as the unit needs. Ids order as bytes, as
        // the indexes keep them (`COLLATE "C"`) and as SQLite compares them.
        Backend::Postgres => {
            let year = in_year("r", &mut params);
            format!(
                "SELECT CAST(u.value->>0 AS TEXT) AS unit, CAST(u.value->>1 AS TEXT) AS kind, t.*
                   FROM {elements} u
                  CROSS JOIN LATERAL (
                        SELECT {cols}
                          FROM evaluation_responses r
                         WHERE {unit}r.kind = u.value->>1{year} AND r.counted
                         ORDER BY r.submitted_at DESC, r.id COLLATE \"C\" DESC
                         LIMIT CAST(u.value->>2 AS INTEGER)) t",
                cols = cols("r"),
                unit = unit("r"),
            )
        }
        // SQLite has no lateral join; a correlated list of each unit's latest ids does the
        // same, one index scan per unit (its limit must be a constant: the deepest tail).
        Backend::Sqlite => {
            let year = in_year("r2", &mut params);
            format!(
                "SELECT u.value->>0 AS unit, u.value->>1 AS kind, {cols}
                   FROM {elements} u
                   JOIN evaluation_responses r ON r.id IN (
                        SELECT r2.id FROM evaluation_responses r2
                         WHERE {unit}r2.kind = u.value->>1{year} AND r2.counted
                         ORDER BY r2.submitted_at DESC, r2.id DESC
                         LIMIT {limit})",
                cols = cols("r"),
                unit = unit("r2"),
                limit = t.get().saturating_sub(1).max(1),
            )
        }
    };
    let mut rows: Vec<TailRow> = load(conn, &sql, &params)?;
    if is_none && by != By::SchoolGroup {
        for r in &mut rows {
            r.unit = NONE_KEY.to_string();
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn a_pairs_newest_rows_are_read_and_the_rest_left() {
        let rows = |list: &[(char, usize, Option<i64>)]| {
            let candidates: Vec<Candidate> = list
                .iter()
                .enumerate()
                .map(|(row, &(c, d, newest))| Candidate {
                    row,
                    tail: usize::from(c == 'b'),
                    d,
                    newest,
                })
                .collect();
            let kept: Vec<usize> = newest_rows(&candidates, 2).map(|c| c.row).collect();
            (0..list.len())
                .map(|r| kept.contains(&r))
                .collect::<Vec<_>>()
        };
        // Two deep: the two newest rows, and a row as new as the second.
        assert_eq!(
            rows(&[
                ('a', 2, Some(10)),
                ('a', 2, Some(30)),
                ('a', 2, Some(20)),
                ('a', 2, Some(30))
            ]),
            [false, true, false, true]
        );
        assert_eq!(
            rows(&[
                ('a', 2, Some(30)),
                ('a', 2, Some(20)),
                ('a', 2, Some(20)),
                ('a', 2, Some(10))
            ]),
            [true, true, true, false]
        );
        // Fewer rows than the tail is long: all of them.
        assert_eq!(rows(&[('a', 3, Some(5)), ('a', 3, Some(6))]), [true, true]);
        // A row whose newest time is not known is read, and does not push another out.
        assert_eq!(
            rows(&[('a', 1, None), ('a', 1, Some(5)), ('a', 1, Some(7))]),
            [true, false, true]
        );
        // Each tail on its own.
        assert_eq!(
            rows(&[
                ('a', 1, Some(5)),
                ('b', 1, Some(3)),
                ('a', 1, Some(4)),
                ('b', 1, Some(2))
            ]),
            [true, true, false, false]
        );
        // Negative times (before 1970) order as times.
        assert_eq!(
            rows(&[('a', 1, Some(-5)), ('a', 1, Some(-7))]),
            [true, false]
        );
    }

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
