//! The report tables: the columns of each report and its rows, as the view model's tables.

use crate::reports::metrics::{
    EngagementGroup, EngagementMetrics, EngagementReport, ImpactGroup, ImpactMetrics, ImpactReport,
    ReportQuery,
};
use crate::reports::summary::{cell_text, percent, rating, shift};

use super::view::{cell_count, col, grouping_label, num, rate, Column, Row, Table};

// ---------------------------------------------------------------------------------------------
// Tables.

const ENGAGEMENT_COLUMNS: [(&str, &str); 15] = [
    ("places", "Places"),
    ("bookings", "Bookings"),
    ("confirmed", "Confirmed"),
    ("waitlisted", "Waitlisted"),
    ("cancelled", "Cancelled"),
    ("late_cancellations", "Late cancellations"),
    ("fill_rate", "Fill rate"),
    ("attendance_rate", "Attendance rate"),
    ("completed", "Completed"),
    ("no_shows", "No-shows"),
    ("evaluations_sent", "Evaluations sent"),
    ("evaluations_completed", "Evaluations answered"),
    ("response_rate", "Response rate"),
    ("satisfaction", "Satisfaction"),
    ("impact_rate", "Impact rate"),
];

fn engagement_cells(m: &EngagementMetrics) -> Vec<String> {
    vec![
        m.places.map(num).unwrap_or_else(|| "n/a".into()),
        num(m.bookings),
        num(m.confirmed),
        num(m.waitlisted),
        num(m.cancelled),
        num(m.late_cancellations),
        rate(m.fill_rate),
        rate(m.attendance_rate),
        num(m.completed),
        num(m.no_shows),
        num(m.evaluations_sent),
        num(m.evaluations_completed),
        rate(m.response_rate),
        cell_text(&m.satisfaction, rating).0,
        cell_text(&m.impact_rate, percent).0,
        m.cost.total.formatted.clone(),
    ]
}

fn engagement_columns() -> Vec<Column> {
    let mut c: Vec<Column> = ENGAGEMENT_COLUMNS
        .iter()
        .map(|(k, l)| col(k, l, true))
        .collect();
    c.push(col("cost", "Cost of unused places", true));
    c
}

fn engagement_rows(
    groups: &[EngagementGroup],
    href: &dyn Fn(&EngagementGroup) -> Option<String>,
) -> Vec<Row> {
    let mut rows = Vec::new();
    for g in groups {
        rows.push(Row {
            key: g.key.clone(),
            label: g.label.clone(),
            href: href(g),
            sub: false,
            parent: None,
            cells: engagement_cells(&g.metrics),
        });
        for s in g.subgroups.iter().flatten() {
            rows.push(Row {
                key: format!("{}/{}", g.key, s.key),
                label: s.label.clone(),
                href: None,
                sub: true,
                parent: Some(g.label.clone()),
                cells: engagement_cells(&s.metrics),
            });
        }
    }
    rows
}

pub(super) fn engagement_table(
    id: &str,
    caption: String,
    report: &EngagementReport,
    q: &ReportQuery,
    href: &dyn Fn(&EngagementGroup) -> Option<String>,
) -> Table {
    let row_heading = match q.then_by {
        Some(t) => format!(
            "{} and {}",
            grouping_label(q.group_by),
            grouping_label(t).to_lowercase()
        ),
        None => grouping_label(q.group_by).to_string(),
    };
    Table {
        id: id.into(),
        caption,
        row_heading,
        pager: None,
        empty: None,
        columns: engagement_columns(),
        rows: engagement_rows(&report.groups, href),
        totals: Some(Row::plain(
            "total".into(),
            "All".into(),
            engagement_cells(&report.totals),
        )),
    }
}

fn impact_cells(m: &ImpactMetrics) -> Vec<String> {
    let mut cells = vec![
        num(m.post_course.sent),
        num(m.post_course.completed),
        rate(m.post_course.response_rate),
        num(m.follow_up.sent),
        num(m.follow_up.completed),
        rate(m.follow_up.response_rate),
        cell_text(&m.satisfaction, rating).0,
        cell_text(&m.confidence_shift, shift).0,
        cell_text(&m.impact_rate, percent).0,
    ];
    cells.extend(m.guskey_levels.iter().map(|l| cell_count(&l.answers)));
    cells
}

pub(super) fn impact_table(
    id: &str,
    caption: String,
    report: &ImpactReport,
    q: &ReportQuery,
) -> Table {
    let mut columns = vec![
        col("post_course.sent", "Post-course forms sent", true),
        col("post_course.completed", "Post-course forms answered", true),
        col(
            "post_course.response_rate",
            "Post-course response rate",
            true,
        ),
        col("follow_up.sent", "Follow-ups sent", true),
        col("follow_up.completed", "Follow-ups answered", true),
        col("follow_up.response_rate", "Follow-up response rate", true),
        col("satisfaction", "Satisfaction", true),
        col("confidence_shift", "Confidence shift", true),
        col("impact_rate", "Impact rate", true),
    ];
    for (i, name) in [
        "reactions",
        "learning",
        "organisational support",
        "use of new knowledge and skills",
        "pupil outcomes",
    ]
    .iter()
    .enumerate()
    {
        columns.push(col(
            &format!("guskey_levels.{}", i + 1),
            &format!("Answers at level {} ({name})", i + 1),
            true,
        ));
    }
    let mut rows = Vec::new();
    let mut push = |g: &ImpactGroup, key: String, parent: Option<&ImpactGroup>| {
        rows.push(Row {
            key,
            label: g.label.clone(),
            href: None,
            sub: parent.is_some(),
            parent: parent.map(|p| p.label.clone()),
            cells: impact_cells(&g.metrics),
        })
    };
    for g in &report.groups {
        push(g, g.key.clone(), None);
        for s in g.subgroups.iter().flatten() {
            push(s, format!("{}/{}", g.key, s.key), Some(g));
        }
    }
    Table {
        id: id.into(),
        caption,
        row_heading: grouping_label(q.group_by).to_string(),
        pager: None,
        empty: None,
        columns,
        rows,
        totals: Some(Row::plain(
            "total".into(),
            "All".into(),
            impact_cells(&report.totals),
        )),
    }
}
