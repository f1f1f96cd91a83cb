//! The reports as CSV, written one row at a time through a cursor so the API can stream a
//! large report instead of building it whole.

use crate::domain::suppression::Cell;

use super::engagement::{EngagementMetrics, EngagementReport};
use super::impact::{ImpactMetrics, ImpactReport};

// ---------------------------------------------------------------------------------------------
// CSV: one row per group (with two levels, each group's row is followed by its subgroups'),
// then a `total` row. Suppressed cells are empty and named in the `suppressed` column.

pub(super) fn num(v: Option<f64>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

fn int(v: Option<i64>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

/// A suppressible figure's CSV cell: the figure, or empty.
fn cell_text<T: ToString>(c: &Option<Cell<T>>) -> String {
    c.as_ref()
        .and_then(Cell::shown)
        .map(ToString::to_string)
        .unwrap_or_default()
}

/// The `suppressed` column: the names of the suppressed figures, separated by spaces.
fn suppressed_names<'a>(cells: impl IntoIterator<Item = (&'a str, bool)>) -> String {
    cells
        .into_iter()
        .filter(|(_, hidden)| *hidden)
        .map(|(name, _)| name)
        .collect::<Vec<_>>()
        .join(" ")
}

fn is_hidden<T>(c: &Option<Cell<T>>) -> bool {
    c.as_ref().is_some_and(Cell::is_suppressed)
}

/// The leading columns of every report CSV.
const CSV_KEY_COLUMNS: [&str; 5] = ["level", "key", "label", "subgroup_key", "subgroup_label"];

/// The engagement CSV's header.
pub const ENGAGEMENT_CSV_COLUMNS: [&str; 22] = [
    "places",
    "bookings",
    "confirmed",
    "waitlisted",
    "cancelled",
    "late_cancellations",
    "fill_rate",
    "attendance_rate",
    "completed",
    "no_shows",
    "evaluations_sent",
    "evaluations_completed",
    "response_rate",
    "satisfaction",
    "satisfaction_respondents",
    "impact_rate",
    "impact_respondents",
    "no_show_cost_pence",
    "late_cancellation_cost_pence",
    "cost_pence",
    "previous_bookings",
    "suppressed",
];

/// The whole header row of the engagement CSV.
pub fn engagement_csv_header() -> Vec<&'static str> {
    CSV_KEY_COLUMNS
        .iter()
        .chain(ENGAGEMENT_CSV_COLUMNS.iter())
        .copied()
        .collect()
}

fn engagement_cells(m: &EngagementMetrics, previous: Option<&EngagementMetrics>) -> Vec<String> {
    vec![
        int(m.places),
        m.bookings.to_string(),
        m.confirmed.to_string(),
        m.waitlisted.to_string(),
        m.cancelled.to_string(),
        m.late_cancellations.to_string(),
        num(m.fill_rate),
        num(m.attendance_rate),
        m.completed.to_string(),
        m.no_shows.to_string(),
        m.evaluations_sent.to_string(),
        m.evaluations_completed.to_string(),
        num(m.response_rate),
        cell_text(&m.satisfaction),
        m.satisfaction_respondents.to_string(),
        cell_text(&m.impact_rate),
        m.impact_respondents.to_string(),
        m.cost.no_shows.pence.to_string(),
        m.cost.late_cancellations.pence.to_string(),
        m.cost.total.pence.to_string(),
        int(previous.map(|p| p.bookings)),
        suppressed_names([
            ("satisfaction", is_hidden(&m.satisfaction)),
            ("impact_rate", is_hidden(&m.impact_rate)),
        ]),
    ]
}

/// Where a CSV writer is in a report: the group, the subgroup within it (after the group's own
/// row), and whether the totals row has been written.
#[derive(Clone, Copy, Debug, Default)]
pub struct CsvCursor {
    group: usize,
    sub: Option<usize>,
    finished: bool,
}

/// The next CSV record of `groups` (then the totals) after `cur`, moving `cur` on.
fn next_record<G>(
    cur: &mut CsvCursor,
    groups: &[G],
    parts: impl Fn(&G) -> (&str, &str, Option<&[G]>),
    cells: impl Fn(&G) -> Vec<String>,
    total: impl FnOnce() -> Vec<String>,
) -> Option<Vec<String>> {
    if cur.finished {
        return None;
    }
    let Some(g) = groups.get(cur.group) else {
        cur.finished = true;
        return Some(total_row(total()));
    };
    let (key, label, subs) = parts(g);
    let subs = subs.unwrap_or(&[]);
    let advance = |cur: &mut CsvCursor, next: usize| {
        if next < subs.len() {
            cur.sub = Some(next);
        } else {
            cur.group += 1;
            cur.sub = None;
        }
    };
    match cur.sub {
        None => {
            let mut row = vec![
                "1".to_string(),
                key.to_string(),
                label.to_string(),
                String::new(),
                String::new(),
            ];
            row.extend(cells(g));
            advance(cur, 0);
            Some(row)
        }
        Some(j) => {
            let s = &subs[j];
            let (sk, sl, _) = parts(s);
            let mut row = vec![
                "2".to_string(),
                key.to_string(),
                label.to_string(),
                sk.to_string(),
                sl.to_string(),
            ];
            row.extend(cells(s));
            advance(cur, j + 1);
            Some(row)
        }
    }
}

fn total_row(cells: Vec<String>) -> Vec<String> {
    let mut row = vec![
        "0".to_string(),
        "total".to_string(),
        "Total".to_string(),
        String::new(),
        String::new(),
    ];
    row.extend(cells);
    row
}

impl EngagementReport {
    /// The next CSV record (the header excluded) after `cur`: each group, followed by its
    /// subgroups, then the totals.
    pub fn csv_next(&self, cur: &mut CsvCursor) -> Option<Vec<String>> {
        next_record(
            cur,
            &self.groups,
            |g| (g.key.as_str(), g.label.as_str(), g.subgroups.as_deref()),
            |g| engagement_cells(&g.metrics, g.previous.as_deref()),
            || engagement_cells(&self.totals, Some(&self.previous.totals)),
        )
    }
}

/// The impact CSV's columns after the key columns.
pub const IMPACT_CSV_COLUMNS: [&str; 23] = [
    "post_course_sent",
    "post_course_completed",
    "post_course_response_rate",
    "follow_up_sent",
    "follow_up_completed",
    "follow_up_response_rate",
    "satisfaction",
    "satisfaction_respondents",
    "confidence_shift",
    "confidence_respondents",
    "impact_rate",
    "impact_respondents",
    "guskey_level_1_answers",
    "guskey_level_1_respondents",
    "guskey_level_2_answers",
    "guskey_level_2_respondents",
    "guskey_level_3_answers",
    "guskey_level_3_respondents",
    "guskey_level_4_answers",
    "guskey_level_4_respondents",
    "guskey_level_5_answers",
    "guskey_level_5_respondents",
    "suppressed",
];

/// The whole header row of the impact CSV.
pub fn impact_csv_header() -> Vec<&'static str> {
    CSV_KEY_COLUMNS
        .iter()
        .chain(IMPACT_CSV_COLUMNS.iter())
        .copied()
        .collect()
}

fn impact_cells(m: &ImpactMetrics) -> Vec<String> {
    let mut cells = vec![
        m.post_course.sent.to_string(),
        m.post_course.completed.to_string(),
        num(m.post_course.response_rate),
        m.follow_up.sent.to_string(),
        m.follow_up.completed.to_string(),
        num(m.follow_up.response_rate),
        cell_text(&m.satisfaction),
        m.satisfaction_respondents.to_string(),
        cell_text(&m.confidence_shift),
        m.confidence_respondents.to_string(),
        cell_text(&m.impact_rate),
        m.impact_respondents.to_string(),
    ];
    let names = [
        "guskey_level_1",
        "guskey_level_2",
        "guskey_level_3",
        "guskey_level_4",
        "guskey_level_5",
    ];
    let mut hidden = vec![
        ("satisfaction", is_hidden(&m.satisfaction)),
        ("confidence_shift", is_hidden(&m.confidence_shift)),
        ("impact_rate", is_hidden(&m.impact_rate)),
    ];
    for (level, name) in m.guskey_levels.iter().zip(names) {
        cells.push(cell_text(&Some(level.answers.clone())));
        cells.push(level.respondents.to_string());
        hidden.push((name, level.answers.is_suppressed()));
    }
    cells.push(suppressed_names(hidden));
    cells
}

impl ImpactReport {
    /// The next CSV record (the header excluded) after `cur`, as for the engagement report.
    pub fn csv_next(&self, cur: &mut CsvCursor) -> Option<Vec<String>> {
        next_record(
            cur,
            &self.groups,
            |g| (g.key.as_str(), g.label.as_str(), g.subgroups.as_deref()),
            |g| impact_cells(&g.metrics),
            || impact_cells(&self.totals),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::suppression::Threshold;
    use crate::reports::metrics::engagement::{
        EngagementCounts, EngagementGroup, EngagementShown, EngagementTrend,
    };
    use chrono::NaiveDate;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn csv_rows_follow_groups_subgroups_and_totals() {
        let t = Threshold::new(5);
        let metrics = |n: i64| {
            EngagementCounts {
                bookings: n,
                ..Default::default()
            }
            .metrics(None, t, EngagementShown::ALL)
        };
        let g = |key: &str, n: i64, subs: Option<Vec<EngagementGroup>>| EngagementGroup {
            key: key.into(),
            label: key.to_uppercase(),
            metrics: metrics(n),
            previous: None,
            subgroups: subs,
        };
        let report = EngagementReport {
            from: d(2026, 9, 1),
            to: d(2027, 8, 31),
            group_by: "cluster,school".into(),
            scope: "alliance".into(),
            school: None,
            min_responses: 5,
            groups: vec![
                g("n", 3, Some(vec![g("a", 1, None), g("b", 2, None)])),
                g("s", 0, Some(vec![])),
            ],
            totals: metrics(3),
            previous: EngagementTrend {
                from: d(2025, 9, 1),
                to: d(2026, 8, 31),
                totals: metrics(7),
            },
            cold_spots: None,
            alliance_average: None,
        };
        let mut cur = CsvCursor::default();
        let mut rows = Vec::new();
        while let Some(r) = report.csv_next(&mut cur) {
            assert_eq!(r.len(), engagement_csv_header().len());
            rows.push((r[0].clone(), r[1].clone(), r[3].clone(), r[6].clone()));
        }
        let s = |a: &str, b: &str, c: &str, n: &str| {
            (a.to_string(), b.to_string(), c.to_string(), n.to_string())
        };
        assert_eq!(
            rows,
            [
                s("1", "n", "", "3"),
                s("2", "n", "a", "1"),
                s("2", "n", "b", "2"),
                s("1", "s", "", "0"),
                s("0", "total", "", "3"),
            ]
        );
        assert_eq!(report.csv_next(&mut cur), None);
    }
}
