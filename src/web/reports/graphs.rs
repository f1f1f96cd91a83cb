//! The charts drawn beside the tables, built from the same reports so a chart never shows a
//! figure its table hides.

use crate::reports::metrics::{EngagementGroup, EngagementMetrics, EngagementReport};
use crate::reports::summary::NO_DATA;

use crate::web::charts::{self, Datum, Group, GroupedBarChart, LineChart, Scale};

use super::view::{col, num, rate, ChartView, Row, Table};

// ---------------------------------------------------------------------------------------------
// Charts.

pub(super) fn attendance_by_cluster(report: &EngagementReport) -> ChartView {
    let svg = charts::bar_chart(&charts::BarChart {
        id: "chart-attendance-by-cluster".into(),
        title: "Attendance rate by cluster".into(),
        description: format!(
            "A bar for each of {} clusters with bookings: the share of places taken up at the \
             sessions held. The table after the chart gives the same figures.",
            report.groups.len()
        ),
        bars: report
            .groups
            .iter()
            .map(|g| Datum::new(g.label.clone(), g.metrics.attendance_rate))
            .collect(),
    });
    ChartView {
        id: "attendance-by-cluster".into(),
        heading: "Attendance rate by cluster".into(),
        svg,
        table: Table {
            id: "table-attendance-by-cluster".into(),
            caption: "Attendance by cluster (the figures of the chart)".into(),
            row_heading: "Cluster".into(),
            pager: None,
            empty: None,
            columns: vec![
                col("bookings", "Bookings", true),
                col("confirmed", "Confirmed", true),
                col("attendance_rate", "Attendance rate", true),
                col("completed", "Completed", true),
                col("no_shows", "No-shows", true),
            ],
            rows: report
                .groups
                .iter()
                .map(|g| {
                    Row::plain(
                        g.key.clone(),
                        g.label.clone(),
                        vec![
                            num(g.metrics.bookings),
                            num(g.metrics.confirmed),
                            rate(g.metrics.attendance_rate),
                            num(g.metrics.completed),
                            num(g.metrics.no_shows),
                        ],
                    )
                })
                .collect(),
            totals: None,
        },
    }
}

pub(super) fn fill_and_attendance_by_term(report: &EngagementReport) -> ChartView {
    let svg = charts::grouped_bar_chart(&GroupedBarChart {
        id: "chart-rates-by-term".into(),
        title: "Fill and attendance rates by term".into(),
        description: format!(
            "For each of {} terms, two bars: the fill rate (places taken) and the attendance \
             rate. The table after the chart gives the same figures.",
            report.groups.len()
        ),
        series: vec!["Fill rate".into(), "Attendance rate".into()],
        groups: report
            .groups
            .iter()
            .map(|g| Group {
                label: g.label.clone(),
                values: vec![g.metrics.fill_rate, g.metrics.attendance_rate],
            })
            .collect(),
    });
    ChartView {
        id: "rates-by-term".into(),
        heading: "Fill and attendance rates by term".into(),
        svg,
        table: Table {
            id: "table-rates-by-term".into(),
            caption: "Fill and attendance by term (the figures of the chart)".into(),
            row_heading: "Term".into(),
            pager: None,
            empty: None,
            columns: vec![
                col("places", "Places", true),
                col("confirmed", "Confirmed", true),
                col("fill_rate", "Fill rate", true),
                col("attendance_rate", "Attendance rate", true),
            ],
            rows: report
                .groups
                .iter()
                .map(|g| {
                    Row::plain(
                        g.key.clone(),
                        g.label.clone(),
                        vec![
                            g.metrics.places.map(num).unwrap_or_else(|| "n/a".into()),
                            num(g.metrics.confirmed),
                            rate(g.metrics.fill_rate),
                            rate(g.metrics.attendance_rate),
                        ],
                    )
                })
                .collect(),
            totals: None,
        },
    }
}

/// What the trend line follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Trend {
    AttendanceRate,
    Bookings,
}

impl Trend {
    pub(super) fn parse(s: Option<&str>) -> Trend {
        match s {
            Some("bookings") => Trend::Bookings,
            _ => Trend::AttendanceRate,
        }
    }

    pub(super) fn key(self) -> &'static str {
        match self {
            Trend::AttendanceRate => "attendance_rate",
            Trend::Bookings => "bookings",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Trend::AttendanceRate => "Attendance rate",
            Trend::Bookings => "Bookings",
        }
    }
}

pub(super) fn term_trend(groups: &[EngagementGroup], trend: Trend, whose: &str) -> ChartView {
    let value = |m: &EngagementMetrics| match trend {
        Trend::AttendanceRate => m.attendance_rate,
        Trend::Bookings => Some(m.bookings as f64),
    };
    let scale = match trend {
        Trend::AttendanceRate => Scale::Rate,
        Trend::Bookings => Scale::Count,
    };
    let heading = format!("{} by term{whose}", trend.label());
    let svg = charts::line_chart(&LineChart {
        id: "chart-term-trend".into(),
        title: heading.clone(),
        description: format!(
            "A line through {} terms in date order. The table after the chart gives the same \
             figures, with the same term a year earlier.",
            groups.len()
        ),
        value_name: trend.label().into(),
        scale,
        points: groups
            .iter()
            .map(|g| Datum::new(g.label.clone(), value(&g.metrics)))
            .collect(),
    });
    let write = |v: Option<f64>| match v {
        None => NO_DATA.to_string(),
        Some(v) => scale.format(v),
    };
    ChartView {
        id: "term-trend".into(),
        heading: heading.clone(),
        svg,
        table: Table {
            id: "table-term-trend".into(),
            caption: format!("{heading} (the figures of the chart)"),
            row_heading: "Term".into(),
            pager: None,
            empty: None,
            columns: vec![
                col(trend.key(), trend.label(), true),
                col(
                    &format!("previous.{}", trend.key()),
                    "The same term a year earlier",
                    true,
                ),
            ],
            rows: groups
                .iter()
                .map(|g| {
                    Row::plain(
                        g.key.clone(),
                        g.label.clone(),
                        vec![
                            write(value(&g.metrics)),
                            g.previous
                                .as_deref()
                                .map(|p| write(value(p)))
                                .unwrap_or_else(|| NO_DATA.into()),
                        ],
                    )
                })
                .collect(),
            totals: None,
        },
    }
}
