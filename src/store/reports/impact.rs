//! The impact report, built from the same sums and rollup as engagement.

use diesel::QueryResult;

use crate::db::DbConn;
use crate::domain::suppression::Threshold;
use crate::reports::metrics::{
    GroupBy, ImpactCounts, ImpactGroup, ImpactReport, ReportQuery, ReportScope,
};

use super::cells::{Method, Wanted};
use super::engagement::tune;
use super::read::{booking_rows, cell_rows};
use super::reference::{describe, load_courses, load_labels};
use super::rollup::{alone, impact_shown, Rollup, Visibility};
use super::tails::released_sums;

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
    let school = match scope {
        ReportScope::All => None,
        ReportScope::School(id) => Some(id.as_str()),
    };
    let r = released_sums(
        conn,
        q,
        0,
        &levels,
        Wanted::Impact,
        school,
        method,
        &rollup,
        &courses,
    )?;
    rollup.release(0, &r);
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
