//! The engagement report: its sums read by the report's levels, rolled up, with the earlier
//! year, the alliance average and the cold spots beside them.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::QueryResult;

use crate::db::schema::{bookings, schools};
use crate::db::DbConn;
use crate::domain::suppression::Threshold;
use crate::reports::metrics::{
    visibility, visibility_alone, AllianceAverage, ColdSpot, EngagementCounts, EngagementGroup,
    EngagementReport, EngagementTrend, GroupBy, NamedRef, ReportQuery, ReportScope, Shown,
};

use super::cells::{Method, Wanted};
use super::read::{booking_rows, cell_rows};
use super::reference::{describe, load_courses, load_labels, Courses, Labels};
use super::rollup::{alone, engagement_shown, places, Figures, Rollup, Visibility};
use super::tails::released_sums;

// ---------------------------------------------------------------------------------------------
// Engagement

/// Settings for a report's transaction on PostgreSQL. A report groups a few hundred thousand
/// cells: with the default 4 MB of sort memory its hash tables spill to disk, parallel workers
/// cost more in gathering and merging than they save on two cores, and compiling the query
/// (JIT) takes longer than running it. Measured at national scale: 580 ms down to 150 ms for
/// a year by school. The released sums sort a window's responses (a million at national
/// size, about 170 MB): at 64 MB that sort went to disk and took twice as long.
pub(super) fn tune(conn: &mut DbConn) -> QueryResult<()> {
    if let DbConn::Pg(c) = conn {
        c.batch_execute(
            "SET LOCAL work_mem = '256MB'; SET LOCAL max_parallel_workers_per_gather = 0; \
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
    engagement_by(conn, None, q, scope, Method::Cells)
}

/// [`engagement`] with a second connection (`helper`), where there is one to spare: on
/// PostgreSQL the year earlier is then worked out on it, in the same snapshot, while this
/// window is worked out on `conn`, so a report takes both of a machine's cores.
#[tracing::instrument(skip_all, fields(group_by = %q.group_by_label()))]
pub fn engagement_with_helper(
    conn: &mut DbConn,
    helper: Option<&mut DbConn>,
    q: &ReportQuery,
    scope: ReportScope,
) -> QueryResult<EngagementReport> {
    engagement_by(conn, helper, q, scope, Method::Cells)
}

/// The engagement report worked out by `method` (a school's own view is always worked out
/// from its bookings), with `helper` as in [`engagement_with_helper`].
pub fn engagement_by(
    conn: &mut DbConn,
    helper: Option<&mut DbConn>,
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
        engagement_in(conn, helper, q, &scope, method)
    })
}

/// Runs `f` for both periods of a report (0, the window; 1, a year earlier) and gives back
/// both results: at once on `conn` and `helper`, in one snapshot, where a helper is given
/// and the backend can share a snapshot (`db::with_shared_snapshot`); otherwise one after the
/// other on `conn`. Either way `f` sees the same state of the database for both. The helper
/// only lends a hand: if it fails (its connection lost, say), the year earlier is worked out
/// on `conn`, in the same snapshot, and the report goes on.
pub(super) fn both_periods<T: Send>(
    conn: &mut DbConn,
    helper: Option<&mut DbConn>,
    f: impl Fn(&mut DbConn, usize) -> QueryResult<T> + Sync,
) -> QueryResult<[T; 2]> {
    if let Some(helper) = helper {
        // In the shared snapshot, the first connection sees what the helper saw: if the helper
        // fails, `side_by_side` works the year earlier out again on the first.
        let shared = crate::db::with_shared_snapshot(conn, helper, |conn, helper| {
            crate::db::side_by_side(
                conn,
                Some(helper),
                |conn| f(conn, 0),
                |c| {
                    tune(c)?;
                    f(c, 1)
                },
            )
        })?;
        if let Some((now, earlier)) = shared {
            return Ok([now, earlier]);
        }
    }
    Ok([f(conn, 0)?, f(conn, 1)?])
}

fn engagement_in(
    conn: &mut DbConn,
    helper: Option<&mut DbConn>,
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
    let school = match scope {
        ReportScope::All => None,
        ReportScope::School(id) => Some(id.as_str()),
    };
    // Each period's sums, rolled up and released, on its own.
    let one_period = |conn: &mut DbConn, period: usize| {
        let window = match period {
            0 => q.clone(),
            _ => q.year_earlier(),
        };
        let mut rollup = Rollup::<EngagementCounts>::new();
        let rows = match method {
            Method::Cells => cell_rows(conn, &window, &levels, Wanted::Engagement)?,
            Method::Bookings => booking_rows(conn, &window, &levels, Wanted::Engagement, scope)?,
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
        // Kept sums less a course's old figures can leave a group with nothing in it.
        rollup.prune(|c| c.bookings != 0);
        let r = released_sums(
            conn,
            &window,
            period,
            &levels,
            Wanted::Engagement,
            school,
            method,
            &rollup,
            &courses,
        )?;
        rollup.release(period, &r);
        Ok(rollup)
    };
    let [mut rollup, earlier] = both_periods(conn, helper, one_period)?;
    rollup.adopt(1, earlier);
    let places = places(&levels, &courses);

    // In a school's own view the alliance is the parent and the rest of the alliance the
    // school's one sibling: a figure of the school is hidden when the alliance's minus the
    // school's would give away fewer than the threshold.
    let alliance = match scope {
        ReportScope::All => None,
        ReportScope::School(_) => Some(alliance_totals(conn, q, &courses)?),
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
    // Borrowed, not copied: tens of thousands of schools in a report by school.
    let mut first_keys: BTreeSet<&String> = rollup.first[0].keys().collect();
    if first_places(0, "").is_some() {
        first_keys.extend(places.first[0].keys());
    }
    let mut groups = Vec::new();
    for &k1 in &first_keys {
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
fn alliance_totals(
    conn: &mut DbConn,
    q: &ReportQuery,
    courses: &Courses,
) -> QueryResult<[EngagementCounts; 2]> {
    let mut rollup = Rollup::<EngagementCounts>::new();
    for (period, window) in [q.clone(), q.year_earlier()].iter().enumerate() {
        for r in cell_rows(conn, window, &[], Wanted::Engagement)? {
            rollup.totals[period] += r.engagement();
        }
        let released = released_sums(
            conn,
            window,
            period,
            &[],
            Wanted::Engagement,
            None,
            Method::Cells,
            &rollup,
            courses,
        )?;
        rollup.totals[period].release(&released.totals);
    }
    Ok(rollup.totals)
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
