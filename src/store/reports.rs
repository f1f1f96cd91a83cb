//! The engagement and impact reports.
//!
//! The sums come from the report cells (`store::report_cells`), or straight from the bookings
//! for a school's own view: either way through the same per-booking sums
//! (`report_cells::facts_sql`), grouped in SQL by the grouping's keys. Groupings that belong to
//! the course (course, term, priority) are summed per course (or month) in SQL and rolled up
//! here, so a course under two priorities is added to both without counting a booking twice
//! in the totals. No booking is ever loaded one by one. The sums are additive
//! ([`EngagementCounts`], [`ImpactCounts`]); `reports::metrics` turns them into the contract's
//! rates.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamp};
use diesel::QueryResult;

use crate::db::schema::{bookings, clusters, priorities, schools, staff_groups};
use crate::db::DbConn;
use crate::domain::suppression::Threshold;
use crate::domain::term::Term;
use crate::reports::metrics::{
    visibility, visibility_alone, AllianceAverage, ColdSpot, EngagementCounts, EngagementGroup,
    EngagementReport, EngagementShown, EngagementTrend, GroupBy, ImpactCounts, ImpactGroup,
    ImpactReport, ImpactShown, NamedRef, ReportQuery, ReportScope, Shown, NONE_KEY,
};

use super::report_cells::{load, sum, Param};

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
struct CourseInfo {
    title: String,
    capacity: i64,
    first_start: NaiveDateTime,
    priorities: Vec<String>,
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
struct Courses {
    info: HashMap<String, CourseInfo>,
    by_period: [Vec<String>; 2],
}

fn load_courses(conn: &mut DbConn, q: &ReportQuery, with_priorities: bool) -> QueryResult<Courses> {
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
struct Labels {
    schools: HashMap<String, (String, Option<String>)>,
    clusters: HashMap<String, String>,
    staff_groups: HashMap<String, (i32, String)>,
    priorities: HashMap<String, (i32, String)>,
}

fn load_labels(conn: &mut DbConn, levels: &[GroupBy], need_schools: bool) -> QueryResult<Labels> {
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
fn describe(
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

// ---------------------------------------------------------------------------------------------
// Rolling up

/// The keys a row of sums (of a course, or of a month's cells) has at one level. A course
/// with several priorities has several keys; rows of the earlier window are keyed by the
/// matching term a year later, so the trend lines up with the current term.
fn level_keys(
    level: GroupBy,
    period: usize,
    course_id: Option<&str>,
    month: Option<i32>,
    person: Option<&Option<String>>,
    courses: &Courses,
) -> Vec<String> {
    let course = course_id.and_then(|id| courses.info.get(id));
    match level {
        GroupBy::Course => vec![course_id.unwrap_or(NONE_KEY).to_string()],
        GroupBy::Term => {
            let term = match (course, month) {
                (Some(c), _) => Some(Term::of(c.first_start)),
                (None, Some(m)) => {
                    chrono::NaiveDate::from_ymd_opt(m / 100, (m % 100) as u32, 1).map(Term::of_date)
                }
                (None, None) => None,
            };
            match term {
                Some(mut t) => {
                    t.year_start += period as i32;
                    vec![t.key()]
                }
                None => vec![NONE_KEY.to_string()],
            }
        }
        GroupBy::Priority => match course {
            Some(c) if !c.priorities.is_empty() => c.priorities.clone(),
            _ => vec![NONE_KEY.to_string()],
        },
        GroupBy::School | GroupBy::Cluster | GroupBy::StaffGroup => {
            vec![person
                .and_then(|p| p.clone())
                .unwrap_or_else(|| NONE_KEY.to_string())]
        }
    }
}

/// Sums per period (0 now, 1 a year earlier): totals, first-level groups, second-level groups.
struct Rollup<C> {
    totals: [C; 2],
    first: [BTreeMap<String, C>; 2],
    second: [BTreeMap<(String, String), C>; 2],
}

impl<C: Default + Copy + std::ops::AddAssign> Rollup<C> {
    fn new() -> Self {
        Rollup {
            totals: [C::default(), C::default()],
            first: [BTreeMap::new(), BTreeMap::new()],
            second: [BTreeMap::new(), BTreeMap::new()],
        }
    }

    /// Drops the groups whose sums `keep` refuses.
    fn prune(&mut self, keep: impl Fn(&C) -> bool) {
        for period in 0..2 {
            self.first[period].retain(|_, c| keep(c));
            self.second[period].retain(|_, c| keep(c));
        }
    }

    /// Adds one aggregate row: once to the totals, once to each distinct first-level key and
    /// once to each distinct pair of keys.
    fn add(
        &mut self,
        levels: &[GroupBy],
        courses: &Courses,
        period: usize,
        (course_id, month): (Option<&str>, Option<i32>),
        persons: [&Option<String>; 2],
        counts: C,
    ) {
        self.totals[period] += counts;
        let mut person = persons.into_iter();
        let mut keys: Vec<Vec<String>> = Vec::new();
        for level in levels {
            let p = if level.is_course_level() {
                None
            } else {
                person.next()
            };
            let mut k = level_keys(*level, period, course_id, month, p, courses);
            k.sort();
            k.dedup();
            keys.push(k);
        }
        for k1 in &keys[0] {
            *self.first[period].entry(k1.clone()).or_default() += counts;
            if let Some(k2s) = keys.get(1) {
                for k2 in k2s {
                    *self.second[period]
                        .entry((k1.clone(), k2.clone()))
                        .or_default() += counts;
                }
            }
        }
    }
}

/// Counts with figures drawn from evaluation answers, each from its own respondents.
trait Figures: Copy {
    /// Respondents behind each suppressible figure, in a fixed order.
    fn respondents(&self) -> Vec<i64>;
}

impl Figures for EngagementCounts {
    fn respondents(&self) -> Vec<i64> {
        vec![self.satisfaction_n, self.impact_n]
    }
}

impl Figures for ImpactCounts {
    fn respondents(&self) -> Vec<i64> {
        self.respondents().to_vec()
    }
}

/// Which figures show, per period, for the totals, each first-level group and each
/// second-level group: small-n suppression with complementary cells among siblings
/// (`suppression::suppress_group`), each level under the one above it.
struct Visibility {
    totals: [Vec<Shown>; 2],
    first: [BTreeMap<String, Vec<Shown>>; 2],
    second: [BTreeMap<(String, String), Vec<Shown>>; 2],
}

impl Visibility {
    /// `totals_shown` says what the totals show (they have no siblings, except in a
    /// school's own view, where the rest of the alliance is their sibling).
    fn of<C: Figures + Default + std::ops::AddAssign>(
        t: Threshold,
        rollup: &Rollup<C>,
        totals_shown: [Vec<Shown>; 2],
    ) -> Visibility {
        let mut first: [BTreeMap<String, Vec<Shown>>; 2] = Default::default();
        let mut second: [BTreeMap<(String, String), Vec<Shown>>; 2] = Default::default();
        for period in 0..2 {
            first[period] = siblings(t, &totals_shown[period], rollup.first[period].iter());
            for (k1, shown) in &first[period] {
                let children = rollup.second[period]
                    .range((k1.clone(), String::new())..)
                    .take_while(|((a, _), _)| a == k1);
                second[period].extend(siblings(t, shown, children));
            }
        }
        Visibility {
            totals: totals_shown,
            first,
            second,
        }
    }

    fn first(&self, period: usize, k: &str) -> Option<&Vec<Shown>> {
        self.first[period].get(k)
    }

    fn second(&self, period: usize, k1: &str, k2: &str) -> Option<&Vec<Shown>> {
        self.second[period].get(&(k1.to_string(), k2.to_string()))
    }
}

/// What each of a set of siblings shows, given what their parent shows.
fn siblings<'a, K: Ord + Clone + 'a, C: Figures + 'a>(
    t: Threshold,
    parent: &[Shown],
    entries: impl Iterator<Item = (&'a K, &'a C)>,
) -> BTreeMap<K, Vec<Shown>> {
    let entries: Vec<(&K, &C)> = entries.collect();
    let mut out: BTreeMap<K, Vec<Shown>> = entries
        .iter()
        .map(|(k, _)| ((*k).clone(), Vec::new()))
        .collect();
    for (j, parent_shown) in parent.iter().enumerate() {
        let counts: Vec<i64> = entries.iter().map(|(_, c)| c.respondents()[j]).collect();
        for ((k, _), shown) in entries
            .iter()
            .zip(visibility(t, parent_shown.is_shown(), &counts))
        {
            out.get_mut(*k).expect("every key listed").push(shown);
        }
    }
    out
}

/// What the totals of `c` show on their own.
fn alone<C: Figures>(t: Threshold, c: &C) -> Vec<Shown> {
    c.respondents()
        .into_iter()
        .map(|n| visibility_alone(t, n))
        .collect()
}

fn engagement_shown(v: Option<&Vec<Shown>>) -> EngagementShown {
    match v {
        Some(v) => EngagementShown {
            satisfaction: v[0],
            impact_rate: v[1],
        },
        None => EngagementShown::ALL,
    }
}

fn impact_shown(v: Option<&Vec<Shown>>) -> ImpactShown {
    let mut a = [Shown::Yes; 8];
    if let Some(v) = v {
        a.copy_from_slice(&v[..8]);
    }
    ImpactShown::from(a)
}

/// Capacity of the courses per period, for the totals and for each group whose levels all
/// belong to the course.
struct Places {
    totals: [i64; 2],
    first: [BTreeMap<String, i64>; 2],
    second: [BTreeMap<(String, String), i64>; 2],
}

fn places(levels: &[GroupBy], courses: &Courses) -> Places {
    let mut p = Places {
        totals: [0, 0],
        first: [BTreeMap::new(), BTreeMap::new()],
        second: [BTreeMap::new(), BTreeMap::new()],
    };
    for period in 0..2 {
        for id in &courses.by_period[period] {
            let c = &courses.info[id];
            p.totals[period] += c.capacity;
            if !levels[0].is_course_level() {
                continue;
            }
            let k1s = level_keys(levels[0], period, Some(id), None, None, courses);
            for k1 in &k1s {
                *p.first[period].entry(k1.clone()).or_default() += c.capacity;
                if let Some(l2) = levels.get(1).filter(|l| l.is_course_level()) {
                    for k2 in level_keys(*l2, period, Some(id), None, None, courses) {
                        *p.second[period].entry((k1.clone(), k2)).or_default() += c.capacity;
                    }
                }
            }
        }
    }
    p
}

// ---------------------------------------------------------------------------------------------
// Engagement

/// Settings for a report's transaction on PostgreSQL. A report groups a few hundred thousand
/// cells: with the default 4 MB of sort memory its hash tables spill to disk, parallel workers
/// cost more in gathering and merging than they save on two cores, and compiling the query
/// (JIT) takes longer than running it. Measured at national scale: 580 ms down to 150 ms for
/// a year by school.
fn tune(conn: &mut DbConn) -> QueryResult<()> {
    if let DbConn::Pg(c) = conn {
        c.batch_execute(
            "SET LOCAL work_mem = '64MB'; SET LOCAL max_parallel_workers_per_gather = 0; \
             SET LOCAL jit = off",
        )?;
    }
    Ok(())
}

/// The engagement report for the window and grouping of `q`: for the whole alliance, or, for
/// a school lead, their own school's bookings next to the alliance average.
#[tracing::instrument(skip_all, fields(group_by = %q.group_by_label()))]
pub fn engagement(
    conn: &mut DbConn,
    q: &ReportQuery,
    scope: ReportScope,
) -> QueryResult<EngagementReport> {
    engagement_by(conn, q, scope, Method::Cells)
}

/// The engagement report worked out by `method` (a school's own view is always worked out
/// from its bookings).
pub fn engagement_by(
    conn: &mut DbConn,
    q: &ReportQuery,
    scope: ReportScope,
    method: Method,
) -> QueryResult<EngagementReport> {
    let method = if scope == ReportScope::All {
        method
    } else {
        Method::Bookings
    };
    crate::db::snapshot_tx(conn, |conn| {
        tune(conn)?;
        engagement_in(conn, q, &scope, method)
    })
}

fn engagement_in(
    conn: &mut DbConn,
    q: &ReportQuery,
    scope: &ReportScope,
    method: Method,
) -> QueryResult<EngagementReport> {
    let t = Threshold::new(q.min_responses);
    let levels = q.levels();
    let all = *scope == ReportScope::All;
    let cold = all && q.group_by == GroupBy::School;
    let courses = load_courses(conn, q, levels.contains(&GroupBy::Priority))?;
    let labels = load_labels(conn, &levels, cold || !all)?;
    let mut rollup = Rollup::<EngagementCounts>::new();
    for (period, window) in [q.clone(), q.year_earlier()].iter().enumerate() {
        let rows = match method {
            Method::Cells => cell_rows(conn, window, &levels, Wanted::Engagement)?,
            Method::Bookings => booking_rows(conn, window, &levels, Wanted::Engagement, scope)?,
        };
        for r in rows {
            rollup.add(
                &levels,
                &courses,
                period,
                (r.course_id.as_deref(), r.month),
                [&r.p1, &r.p2],
                r.engagement(),
            );
        }
    }
    // Kept sums less a course's old figures can leave a group with nothing in it.
    rollup.prune(|c| c.bookings != 0);
    let places = places(&levels, &courses);

    // In a school's own view the alliance is the parent and the rest of the alliance the
    // school's one sibling: a figure of the school is hidden when the alliance's minus the
    // school's would give away fewer than the threshold.
    let alliance = match scope {
        ReportScope::All => None,
        ReportScope::School(_) => Some(alliance_totals(conn, q)?),
    };
    let totals_shown: [Vec<Shown>; 2] = std::array::from_fn(|p| match &alliance {
        None => alone(t, &rollup.totals[p]),
        Some(a) => {
            let own = rollup.totals[p].respondents();
            let whole = a[p].respondents();
            own.iter()
                .zip(&whole)
                .map(|(&own, &whole)| {
                    let parent = visibility_alone(t, whole).is_shown();
                    visibility(t, parent, &[own, whole - own])[0]
                })
                .collect()
        }
    });
    let vis = Visibility::of(t, &rollup, totals_shown);

    // Places are the alliance's; a school's own view has no share of them.
    let total_places = |period: usize| all.then_some(places.totals[period]);
    let first_places = |period: usize, k: &str| {
        (all && levels[0].is_course_level())
            .then(|| places.first[period].get(k).copied().unwrap_or(0))
    };
    let second_places = |period: usize, k1: &str, k2: &str| {
        (all && levels.iter().all(GroupBy::is_course_level)).then(|| {
            places.second[period]
                .get(&(k1.to_string(), k2.to_string()))
                .copied()
                .unwrap_or(0)
        })
    };

    // Course-level groups list every course of the window, booked or not.
    let mut first_keys: BTreeSet<String> = rollup.first[0].keys().cloned().collect();
    if first_places(0, "").is_some() {
        first_keys.extend(places.first[0].keys().cloned());
    }
    let mut groups = Vec::new();
    for k1 in &first_keys {
        let counts = rollup.first[0].get(k1).copied().unwrap_or_default();
        let previous = rollup.first[1].get(k1).map(|c| {
            Box::new(c.metrics(first_places(1, k1), t, engagement_shown(vis.first(1, k1))))
        });
        let subgroups = levels.get(1).map(|l2| {
            let mut k2s: BTreeSet<String> = rollup.second[0]
                .range((k1.clone(), String::new())..)
                .take_while(|((a, _), _)| a == k1)
                .map(|((_, b), _)| b.clone())
                .collect();
            if second_places(0, "", "").is_some() {
                k2s.extend(
                    places.second[0]
                        .range((k1.clone(), String::new())..)
                        .take_while(|((a, _), _)| a == k1)
                        .map(|((_, b), _)| b.clone()),
                );
            }
            let mut subs: Vec<(_, EngagementGroup)> = k2s
                .into_iter()
                .map(|k2| {
                    let pair = (k1.clone(), k2.clone());
                    let c = rollup.second[0].get(&pair).copied().unwrap_or_default();
                    let (order, label) = describe(*l2, &k2, &labels, &courses);
                    let group = EngagementGroup {
                        metrics: c.metrics(
                            second_places(0, k1, &k2),
                            t,
                            engagement_shown(vis.second(0, k1, &k2)),
                        ),
                        previous: rollup.second[1].get(&pair).map(|p| {
                            Box::new(p.metrics(
                                second_places(1, k1, &k2),
                                t,
                                engagement_shown(vis.second(1, k1, &k2)),
                            ))
                        }),
                        key: k2,
                        label,
                        subgroups: None,
                    };
                    (order, group)
                })
                .collect();
            subs.sort_by(|a, b| a.0.cmp(&b.0));
            subs.into_iter().map(|(_, g)| g).collect()
        });
        let (order, label) = describe(levels[0], k1, &labels, &courses);
        groups.push((
            order,
            EngagementGroup {
                key: k1.clone(),
                label,
                metrics: counts.metrics(first_places(0, k1), t, engagement_shown(vis.first(0, k1))),
                previous,
                subgroups,
            },
        ));
    }
    groups.sort_by(|a, b| a.0.cmp(&b.0));
    let groups: Vec<EngagementGroup> = groups.into_iter().map(|(_, g)| g).collect();

    let totals =
        rollup.totals[0].metrics(total_places(0), t, engagement_shown(Some(&vis.totals[0])));
    let earlier = q.year_earlier();
    let previous = EngagementTrend {
        from: earlier.from,
        to: earlier.to,
        totals: rollup.totals[1].metrics(
            total_places(1),
            t,
            engagement_shown(Some(&vis.totals[1])),
        ),
    };

    let cold_spots = if cold {
        Some(cold_spots(conn, &labels, &rollup.first[0])?)
    } else {
        None
    };
    let (school, alliance_average) = match (scope, alliance) {
        (ReportScope::School(id), Some(alliance)) => {
            let name = labels
                .schools
                .get(id)
                .map(|(n, _)| n.clone())
                .unwrap_or_default();
            let open = schools::table
                .filter(schools::is_open.eq(true))
                .count()
                .get_result::<i64>(conn)?;
            let whole = &alliance[0];
            let metrics = whole.metrics(
                Some(places.totals[0]),
                t,
                engagement_shown(Some(&alone(t, whole))),
            );
            (
                Some(NamedRef {
                    id: id.clone(),
                    name,
                }),
                Some(AllianceAverage::of(&metrics, open)),
            )
        }
        _ => (None, None),
    };
    Ok(EngagementReport {
        from: q.from,
        to: q.to,
        group_by: q.group_by_label(),
        scope: if all { "alliance" } else { "school" }.to_string(),
        school,
        min_responses: t.get(),
        groups,
        totals,
        previous,
        cold_spots,
        alliance_average,
    })
}

/// The alliance's engagement totals for both windows (for a school's own view).
fn alliance_totals(conn: &mut DbConn, q: &ReportQuery) -> QueryResult<[EngagementCounts; 2]> {
    let mut totals = [EngagementCounts::default(); 2];
    for (period, window) in [q.clone(), q.year_earlier()].iter().enumerate() {
        for r in cell_rows(conn, window, &[], Wanted::Engagement)? {
            totals[period] += r.engagement();
        }
    }
    Ok(totals)
}

/// Open schools with no booking in the window, by name, with when they last booked anything.
fn cold_spots(
    conn: &mut DbConn,
    labels: &Labels,
    booked: &BTreeMap<String, EngagementCounts>,
) -> QueryResult<Vec<ColdSpot>> {
    let open: Vec<String> = schools::table
        .filter(schools::is_open.eq(true))
        .select(schools::id)
        .load(conn)?;
    let cold: Vec<String> = open
        .into_iter()
        .filter(|id| !booked.contains_key(id))
        .collect();
    let mut last = HashMap::new();
    // Thousands at a time keeps within SQLite's limit on bound parameters (32,766).
    for chunk in cold.chunks(10_000) {
        let rows: Vec<(String, Option<NaiveDateTime>)> = bookings::table
            .filter(bookings::school_id.eq_any(chunk))
            .filter(bookings::status.ne("declined"))
            .group_by(bookings::school_id)
            .select((
                bookings::school_id.assume_not_null(),
                diesel::dsl::max(bookings::requested_at),
            ))
            .load(conn)?;
        last.extend(rows);
    }
    let mut spots: Vec<ColdSpot> = cold
        .into_iter()
        .map(|id| {
            let (name, cluster) = labels.schools.get(&id).cloned().unwrap_or_default();
            ColdSpot {
                cluster: cluster.map(|c| NamedRef {
                    name: labels.clusters.get(&c).cloned().unwrap_or_default(),
                    id: c,
                }),
                last_booked_at: last.get(&id).copied().flatten(),
                school: NamedRef { id, name },
            }
        })
        .collect();
    spots.sort_by(|a, b| {
        (a.school.name.to_lowercase(), &a.school.id)
            .cmp(&(b.school.name.to_lowercase(), &b.school.id))
    });
    Ok(spots)
}

// ---------------------------------------------------------------------------------------------
// Impact

/// The impact report for the window and grouping of `q`. Only the alliance view exists
/// today; `scope` narrows it to one school's bookings if ever asked.
#[tracing::instrument(skip_all, fields(group_by = %q.group_by_label()))]
pub fn impact(conn: &mut DbConn, q: &ReportQuery, scope: ReportScope) -> QueryResult<ImpactReport> {
    impact_by(conn, q, scope, Method::Cells)
}

/// The impact report worked out by `method` (a school's view always from its bookings).
pub fn impact_by(
    conn: &mut DbConn,
    q: &ReportQuery,
    scope: ReportScope,
    method: Method,
) -> QueryResult<ImpactReport> {
    let method = if scope == ReportScope::All {
        method
    } else {
        Method::Bookings
    };
    crate::db::snapshot_tx(conn, |conn| {
        tune(conn)?;
        impact_in(conn, q, &scope, method)
    })
}

fn impact_in(
    conn: &mut DbConn,
    q: &ReportQuery,
    scope: &ReportScope,
    method: Method,
) -> QueryResult<ImpactReport> {
    let levels = q.levels();
    let courses = load_courses(conn, q, levels.contains(&GroupBy::Priority))?;
    let labels = load_labels(conn, &levels, false)?;
    let rows = match method {
        Method::Cells => cell_rows(conn, q, &levels, Wanted::Impact)?,
        Method::Bookings => booking_rows(conn, q, &levels, Wanted::Impact, scope)?,
    };
    let mut rollup = Rollup::<ImpactCounts>::new();
    for r in rows {
        rollup.add(
            &levels,
            &courses,
            0,
            (r.course_id.as_deref(), r.month),
            [&r.p1, &r.p2],
            r.impact(),
        );
    }
    // Only groups with an evaluation are listed.
    rollup.prune(|c| c.evaluated != 0);
    let t = Threshold::new(q.min_responses);
    let vis = Visibility::of(
        t,
        &rollup,
        [alone(t, &rollup.totals[0]), alone(t, &rollup.totals[1])],
    );
    let mut groups = Vec::new();
    for (k1, counts) in &rollup.first[0] {
        let subgroups = levels.get(1).map(|l2| {
            let mut subs: Vec<(_, ImpactGroup)> = rollup.second[0]
                .range((k1.clone(), String::new())..)
                .take_while(|((a, _), _)| a == k1)
                .map(|((_, k2), c)| {
                    let (order, label) = describe(*l2, k2, &labels, &courses);
                    (
                        order,
                        ImpactGroup {
                            key: k2.clone(),
                            label,
                            metrics: c.metrics(t, impact_shown(vis.second(0, k1, k2))),
                            subgroups: None,
                        },
                    )
                })
                .collect();
            subs.sort_by(|a, b| a.0.cmp(&b.0));
            subs.into_iter().map(|(_, g)| g).collect()
        });
        let (order, label) = describe(levels[0], k1, &labels, &courses);
        groups.push((
            order,
            ImpactGroup {
                key: k1.clone(),
                label,
                metrics: counts.metrics(t, impact_shown(vis.first(0, k1))),
                subgroups,
            },
        ));
    }
    groups.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(ImpactReport {
        from: q.from,
        to: q.to,
        group_by: q.group_by_label(),
        min_responses: t.get(),
        groups: groups.into_iter().map(|(_, g)| g).collect(),
        totals: rollup.totals[0].metrics(t, impact_shown(Some(&vis.totals[0]))),
    })
}

// ---------------------------------------------------------------------------------------------
// Reading the report cells

/// How a report is worked out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// From the report cells (`store::report_cells`), with the courses marked since they were
    /// last summed (or whose held sessions have changed with time) worked out live. The
    /// alliance's reports use it.
    Cells,
    /// Straight from the bookings and their marks, invitations and answers, with the same
    /// per-booking sums the cells are made of: a school's own view (a few hundred bookings,
    /// found by the school's index), and the reference the kept sums are checked against.
    Bookings,
}

/// One row of sums read through the cells, with every column of
/// [`report_cells::COLUMNS`](super::report_cells::COLUMNS).
#[derive(QueryableByName)]
struct CellRow {
    #[diesel(sql_type = Nullable<Text>)]
    course_id: Option<String>,
    #[diesel(sql_type = Nullable<Integer>)]
    month: Option<i32>,
    #[diesel(sql_type = Nullable<Text>)]
    p1: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    p2: Option<String>,
    #[diesel(sql_type = BigInt)]
    bookings: i64,
    #[diesel(sql_type = BigInt)]
    confirmed: i64,
    #[diesel(sql_type = BigInt)]
    waitlisted: i64,
    #[diesel(sql_type = BigInt)]
    cancelled: i64,
    #[diesel(sql_type = BigInt)]
    late_cancellations: i64,
    #[diesel(sql_type = BigInt)]
    expected_attendances: i64,
    #[diesel(sql_type = BigInt)]
    attendances: i64,
    #[diesel(sql_type = BigInt)]
    completed: i64,
    #[diesel(sql_type = BigInt)]
    no_shows: i64,
    #[diesel(sql_type = BigInt)]
    evaluations_sent: i64,
    #[diesel(sql_type = BigInt)]
    evaluations_completed: i64,
    #[diesel(sql_type = BigInt)]
    satisfaction_sum: i64,
    #[diesel(sql_type = BigInt)]
    satisfaction_n: i64,
    #[diesel(sql_type = BigInt)]
    impact_positive: i64,
    #[diesel(sql_type = BigInt)]
    impact_n: i64,
    #[diesel(sql_type = BigInt)]
    no_show_cost_pence: i64,
    #[diesel(sql_type = BigInt)]
    late_cancellation_cost_pence: i64,
    #[diesel(sql_type = BigInt)]
    evaluated: i64,
    #[diesel(sql_type = BigInt)]
    post_sent: i64,
    #[diesel(sql_type = BigInt)]
    post_completed: i64,
    #[diesel(sql_type = BigInt)]
    follow_sent: i64,
    #[diesel(sql_type = BigInt)]
    follow_completed: i64,
    #[diesel(sql_type = BigInt)]
    confidence_shift_sum: i64,
    #[diesel(sql_type = BigInt)]
    confidence_pairs: i64,
    #[diesel(sql_type = BigInt)]
    confidence_n: i64,
    #[diesel(sql_type = BigInt)]
    g1: i64,
    #[diesel(sql_type = BigInt)]
    g2: i64,
    #[diesel(sql_type = BigInt)]
    g3: i64,
    #[diesel(sql_type = BigInt)]
    g4: i64,
    #[diesel(sql_type = BigInt)]
    g5: i64,
    #[diesel(sql_type = BigInt)]
    g1_n: i64,
    #[diesel(sql_type = BigInt)]
    g2_n: i64,
    #[diesel(sql_type = BigInt)]
    g3_n: i64,
    #[diesel(sql_type = BigInt)]
    g4_n: i64,
    #[diesel(sql_type = BigInt)]
    g5_n: i64,
}

impl CellRow {
    fn engagement(&self) -> EngagementCounts {
        EngagementCounts {
            bookings: self.bookings,
            confirmed: self.confirmed,
            waitlisted: self.waitlisted,
            cancelled: self.cancelled,
            late_cancellations: self.late_cancellations,
            expected_attendances: self.expected_attendances,
            attendances: self.attendances,
            completed: self.completed,
            no_shows: self.no_shows,
            evaluations_sent: self.evaluations_sent,
            evaluations_completed: self.evaluations_completed,
            satisfaction_sum: self.satisfaction_sum,
            satisfaction_n: self.satisfaction_n,
            impact_positive: self.impact_positive,
            impact_n: self.impact_n,
            no_show_cost_pence: self.no_show_cost_pence,
            late_cancellation_cost_pence: self.late_cancellation_cost_pence,
        }
    }

    fn impact(&self) -> ImpactCounts {
        ImpactCounts {
            evaluated: self.evaluated,
            post_sent: self.post_sent,
            post_completed: self.post_completed,
            follow_sent: self.follow_sent,
            follow_completed: self.follow_completed,
            satisfaction_sum: self.satisfaction_sum,
            satisfaction_n: self.satisfaction_n,
            confidence_shift_sum: self.confidence_shift_sum,
            confidence_pairs: self.confidence_pairs,
            confidence_n: self.confidence_n,
            impact_positive: self.impact_positive,
            impact_n: self.impact_n,
            guskey_answers: [self.g1, self.g2, self.g3, self.g4, self.g5],
            guskey_respondents: [self.g1_n, self.g2_n, self.g3_n, self.g4_n, self.g5_n],
        }
    }
}

/// Which report the sums are for: each needs about half of the columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wanted {
    Engagement,
    Impact,
}

impl Wanted {
    fn needs(self, column: &str) -> bool {
        let shared = matches!(
            column,
            "satisfaction_sum" | "satisfaction_n" | "impact_positive" | "impact_n"
        );
        let engagement = super::report_cells::COLUMNS
            .iter()
            .position(|c| *c == column)
            .is_some_and(|i| i < 17);
        match self {
            Wanted::Engagement => engagement,
            Wanted::Impact => shared || !engagement,
        }
    }
}

/// Which kept sums a grouping reads: the smallest that has its keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    /// `report_courses`: course, priority and term (and the totals alone).
    Courses,
    /// `report_school_years` and `report_school_cells`: the school, alone or with the cluster
    /// or the term.
    SchoolCells,
    /// `report_group_cells`: cluster and staff group, alone or with each other or the term.
    GroupCells,
    /// `report_facts`: every other pair (a course-level grouping with a person-level one).
    Facts,
}

impl Source {
    fn of(levels: &[GroupBy]) -> Source {
        let person: Vec<GroupBy> = levels
            .iter()
            .copied()
            .filter(|l| !l.is_course_level())
            .collect();
        let term_only = levels
            .iter()
            .filter(|l| l.is_course_level())
            .all(|l| *l == GroupBy::Term);
        if person.is_empty() {
            Source::Courses
        } else if term_only
            && person
                .iter()
                .all(|l| matches!(l, GroupBy::StaffGroup | GroupBy::Cluster))
        {
            Source::GroupCells
        } else if term_only
            && person
                .iter()
                .all(|l| matches!(l, GroupBy::School | GroupBy::Cluster))
        {
            Source::SchoolCells
        } else {
            Source::Facts
        }
    }
}

/// Bound parameters numbered as they are added.
#[derive(Default)]
struct Binder {
    params: Vec<Param>,
}

impl Binder {
    fn bind(&mut self, p: Param) -> String {
        self.params.push(p);
        format!("${}", self.params.len())
    }
}

fn month_key(d: chrono::NaiveDate) -> i64 {
    use chrono::Datelike;
    i64::from(d.year()) * 100 + i64::from(d.month())
}

/// How a window is read from kept sums: whole academic years, whole months, and the instants
/// left at its edges.
#[derive(Debug, Default, PartialEq, Eq)]
struct Split {
    /// The first and last academic year (by the year of its September), if any.
    years: Option<(i64, i64)>,
    /// Ranges of whole months (`yyyymm`, both included) outside those years.
    months: Vec<(i64, i64)>,
    /// `[start, end)` instants in no whole month.
    edges: Vec<(NaiveDateTime, NaiveDateTime)>,
}

/// Splits the window of `q` into whole academic years (when `years`), whole London months
/// and the part-months at its edges.
fn split_window(q: &ReportQuery, years: bool) -> Split {
    use crate::reports::metrics::london_midnight_utc;
    use chrono::{Datelike, NaiveDate};
    let (lo, hi) = q.window_utc();
    let first_of = |d: NaiveDate| d.with_day(1).expect("every month has a first day");
    let next_month = |d: NaiveDate| {
        first_of(d)
            .checked_add_months(chrono::Months::new(1))
            .unwrap_or(d)
    };
    // The first day of the first whole month, and the first day after the last one.
    let start = if q.from.day() == 1 {
        q.from
    } else {
        next_month(q.from)
    };
    let after = q.to.succ_opt().unwrap_or(q.to);
    let end = if after.day() == 1 {
        after
    } else {
        first_of(q.to)
    };
    let mut split = Split::default();
    if start >= end {
        split.edges.push((lo, hi));
        return split;
    }
    let a = london_midnight_utc(start);
    if lo < a {
        split.edges.push((lo, a));
    }
    let b = london_midnight_utc(end);
    if b < hi {
        split.edges.push((b, hi));
    }
    let mut month_range = |from: NaiveDate, until: NaiveDate| {
        if from < until {
            let last = until.pred_opt().unwrap_or(until);
            split.months.push((month_key(from), month_key(last)));
        }
    };
    // The first 1 September on or after the start, and the last on or before the end.
    let september = |y: i32| NaiveDate::from_ymd_opt(y, 9, 1).expect("1 September");
    let year_start = if start.month() <= 9 {
        september(start.year())
    } else {
        september(start.year() + 1)
    };
    let year_end = if end.month() >= 9 {
        september(end.year())
    } else {
        september(end.year() - 1)
    };
    if years && year_start < year_end {
        month_range(start, year_start);
        month_range(year_end, end);
        split.years = Some((i64::from(year_start.year()), i64::from(year_end.year()) - 1));
    } else {
        month_range(start, end);
    }
    split
}

/// The sums of the window of `q` by the levels' keys, read through the cells: one row per
/// key (and per course or month where a level needs it). Exact at the moment of the
/// snapshot whatever the refresher has done: courses marked since they were summed, and those
/// whose held sessions differ between when they were summed and `q.now`, are taken out of
/// the kept sums and worked out live.
fn cell_rows(
    conn: &mut DbConn,
    q: &ReportQuery,
    levels: &[GroupBy],
    wanted: Wanted,
) -> QueryResult<Vec<CellRow>> {
    use super::report_cells::{column_list, COLUMNS};
    let (lo, hi) = q.window_utc();
    // Parameters are bound where they are written, so the query binds only what it uses.
    let valid = |b: &mut Binder| super::report_cells::holds_at(&b.bind(Param::Ts(q.now)));
    let window = |b: &mut Binder, column: &str| {
        let (from, to) = (b.bind(Param::Ts(lo)), b.bind(Param::Ts(hi)));
        format!("{column} >= {from} AND {column} < {to}")
    };
    // Courses whose kept sums are out of date (marked, or summed when other sessions had
    // started): taken out of the cells...
    let stale_sql = |b: &mut Binder| {
        format!(
            "SELECT rc.course_id AS id FROM report_courses rc
              WHERE {} AND (rc.course_id IN (SELECT course_id FROM report_dirty) OR NOT {})",
            window(b, "rc.first_start"),
            valid(b),
        )
    };
    // ...and the window's courses worked out live: those, and any not summed at all.
    let live_sql = |b: &mut Binder| {
        format!(
            "SELECT c.id AS id FROM courses c
              WHERE c.status = 'published' AND {}
                AND (c.id IN (SELECT course_id FROM report_dirty)
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
    let mut ctes = String::new();
    if !live.is_empty() {
        let courses = live.condition("c.id", &mut b);
        ctes = live_part(&mut b, &mut parts, &courses, q.now, None);
    }
    grouped(conn, b, &ctes, &parts, levels, wanted)
}

/// Adds to `parts` the sums of the bookings of the published courses matching `courses`,
/// worked out live as of `now` (only `school`'s bookings, if given); returns the `WITH`
/// clause they need.
fn live_part(
    b: &mut Binder,
    parts: &mut Vec<String>,
    courses: &str,
    now: NaiveDateTime,
    school: Option<&str>,
) -> String {
    use super::report_cells::{column_list, facts_sql};
    let now = b.bind(Param::Ts(now));
    let school = school.map(|id| b.bind(Param::Text(id.to_string())));
    let (ctes, select) = facts_sql(courses, &now, school.as_deref());
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
/// column) by the levels' keys.
fn grouped(
    conn: &mut DbConn,
    b: Binder,
    ctes: &str,
    parts: &[String],
    levels: &[GroupBy],
    wanted: Wanted,
) -> QueryResult<Vec<CellRow>> {
    use super::report_cells::COLUMNS;
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
    // Only the report's own columns are summed; the others read 0.
    let sums = COLUMNS
        .iter()
        .map(|c| {
            if wanted.needs(c) {
                format!("{} AS {c}", sum(&format!("x.{c}")))
            } else {
                format!("CAST(0 AS BIGINT) AS {c}")
            }
        })
        .collect::<Vec<_>>()
        .join(",\n       ");
    let group_by = if group.is_empty() {
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
fn booking_rows(
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
    let ctes = live_part(&mut b, &mut parts, &courses, q.now, school);
    grouped(conn, b, &ctes, &parts, levels, wanted)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::metrics::london_midnight_utc;
    use chrono::NaiveDate;

    fn window(from: (i32, u32, u32), to: (i32, u32, u32)) -> ReportQuery {
        let d = |(y, m, day): (i32, u32, u32)| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        ReportQuery {
            from: d(from),
            to: d(to),
            group_by: GroupBy::School,
            then_by: None,
            now: d((2026, 11, 23)).and_hms_opt(0, 0, 0).unwrap(),
            min_responses: 5,
        }
    }

    fn midnight(y: i32, m: u32, d: u32) -> NaiveDateTime {
        london_midnight_utc(NaiveDate::from_ymd_opt(y, m, d).unwrap())
    }

    #[test]
    fn an_academic_year_is_read_as_one() {
        let q = window((2025, 9, 1), (2026, 8, 31));
        let split = split_window(&q, true);
        assert_eq!(split.years, Some((2025, 2025)));
        assert!(
            split.months.is_empty() && split.edges.is_empty(),
            "{split:?}"
        );
        // Without years (a term grouping): the twelve months.
        let split = split_window(&q, false);
        assert_eq!((split.years, split.months), (None, vec![(202509, 202608)]));
    }

    #[test]
    fn years_then_months_then_days() {
        let split = split_window(&window((2024, 8, 20), (2026, 11, 10)), true);
        assert_eq!(split.years, Some((2024, 2025)));
        assert_eq!(split.months, vec![(202609, 202610)]);
        assert_eq!(
            split.edges,
            vec![
                (midnight(2024, 8, 20), midnight(2024, 9, 1)),
                (midnight(2026, 11, 1), midnight(2026, 11, 11)),
            ]
        );
    }

    #[test]
    fn months_either_side_of_no_whole_year() {
        let split = split_window(&window((2025, 10, 15), (2026, 11, 30)), true);
        assert_eq!(split.years, None);
        assert_eq!(split.months, vec![(202511, 202611)]);
        assert_eq!(
            split.edges,
            vec![(midnight(2025, 10, 15), midnight(2025, 11, 1))]
        );
        // Inside one month: days only.
        let q = window((2026, 1, 7), (2026, 1, 27));
        let split = split_window(&q, true);
        assert_eq!(split.edges, vec![q.window_utc()]);
        assert!(split.years.is_none() && split.months.is_empty());
    }
}
