//! The dashboard's parameters and the view model the templates print, with every figure
//! already written out as text so the templates hold no arithmetic.

use minijinja::Value;
use serde::{Deserialize, Serialize};

use crate::domain::suppression::Cell;
use crate::reports::metrics::{EngagementMetrics, GroupBy};
use crate::reports::summary::{self as summary, count, percent, Figure, NO_DATA};

/// The dashboard's filters (a GET form, so a filtered view can be bookmarked and shared).
#[derive(Debug, Default, Deserialize, Serialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DashboardParams {
    /// First day of the window, `YYYY-MM-DD`. Default: 1 September of this academic year.
    pub from: Option<String>,
    /// Last day of the window, included. Default: 31 August of this academic year.
    pub to: Option<String>,
    /// The grouping of the tables: `school` (default on the dashboard; `term` on a school's
    /// view), `cluster`, `staff_group`, `priority`, `course` or `term`.
    pub group_by: Option<String>,
    /// An optional second grouping, for a cross-table (e.g. `staff_group` within clusters).
    pub then_by: Option<String>,
    /// What the term trend line shows: `attendance_rate` (default) or `bookings`.
    pub trend: Option<String>,
    /// School view only, for the CPD group and admins: which school.
    pub school: Option<String>,
}

/// The groupings as the filter offers them.
pub(super) const GROUPINGS: [(&str, &str); 6] = [
    ("school", "School"),
    ("cluster", "Cluster"),
    ("staff_group", "Staff group"),
    ("priority", "Strategic priority"),
    ("course", "Course"),
    ("term", "Term"),
];

/// A school sees its own bookings, so groupings by school or cluster say nothing more.
pub(super) const SCHOOL_GROUPINGS: [&str; 4] = ["term", "staff_group", "priority", "course"];

/// How many courses the dashboard's best-rated and largest-impact tables list.
pub(super) const TOP_COURSES: usize = 5;

// ---------------------------------------------------------------------------------------------
// The view model: everything the templates print, already written out.

/// A table as the templates lay it out: `<caption>`, `<th scope="col">` per column,
/// `<th scope="row">` per row.
#[derive(Debug, Serialize)]
pub(super) struct Table {
    pub(super) id: String,
    pub(super) caption: String,
    /// The first column's heading (what the rows are).
    pub(super) row_heading: String,
    pub(super) columns: Vec<Column>,
    pub(super) rows: Vec<Row>,
    /// A totals row, in `<tfoot>`.
    pub(super) totals: Option<Row>,
}

#[derive(Debug, Serialize)]
pub(super) struct Column {
    /// The metric's API name (`data-metric`), so a column can be matched with the JSON.
    key: String,
    label: String,
    /// Numbers are right-aligned.
    numeric: bool,
}

#[derive(Debug, Serialize)]
pub(super) struct Row {
    pub(super) key: String,
    pub(super) label: String,
    /// A link on the row heading, if any.
    pub(super) href: Option<String>,
    /// A subgroup of the row above (a cross-table's second level).
    pub(super) sub: bool,
    /// The group a subgroup belongs to, read out before its label (it is shown indented).
    pub(super) parent: Option<String>,
    pub(super) cells: Vec<String>,
}

impl Row {
    /// A row of its own: no link, not a subgroup.
    pub(super) fn plain(key: String, label: String, cells: Vec<String>) -> Row {
        Row {
            key,
            label,
            href: None,
            sub: false,
            parent: None,
            cells,
        }
    }
}

pub(super) fn col(key: &str, label: &str, numeric: bool) -> Column {
    Column {
        key: key.into(),
        label: label.into(),
        numeric,
    }
}

/// A chart with the table of its figures.
#[derive(Debug, Serialize)]
pub(super) struct ChartView {
    pub(super) id: String,
    pub(super) heading: String,
    /// The SVG (rendered as is: it is built by `charts`, which escapes every label).
    #[serde(skip)]
    pub(super) svg: String,
    pub(super) table: Table,
}

impl ChartView {
    pub(super) fn to_value(&self) -> Value {
        Value::from(
            [
                ("id", Value::from(self.id.clone())),
                ("heading", Value::from(self.heading.clone())),
                ("svg", Value::from_safe_string(self.svg.clone())),
                ("table", Value::from_serialize(&self.table)),
            ]
            .into_iter()
            .collect::<std::collections::BTreeMap<_, _>>(),
        )
    }
}

#[derive(Debug, Serialize)]
pub(super) struct FigureView {
    key: &'static str,
    label: &'static str,
    value: String,
    detail: Option<String>,
    missing: bool,
    /// The same figure for the same window a year earlier.
    previous: Option<String>,
}

pub(super) fn figures(now: &EngagementMetrics, before: &EngagementMetrics) -> Vec<FigureView> {
    let earlier = summary::headline(before);
    summary::headline(now)
        .into_iter()
        .zip(earlier)
        .map(|(f, e): (Figure, Figure)| FigureView {
            key: f.key,
            label: f.label,
            value: f.value,
            detail: f.detail,
            missing: f.missing,
            previous: Some(e.value),
        })
        .collect()
}

/// The form's current values and choices.
#[derive(Debug, Serialize)]
pub(super) struct Filters {
    pub(super) from: String,
    pub(super) to: String,
    pub(super) group_by: String,
    pub(super) then_by: String,
    pub(super) trend: String,
    pub(super) groupings: Vec<(String, String)>,
    pub(super) school: Option<String>,
}

#[derive(Debug, Serialize)]
pub(super) struct Link {
    pub(super) label: String,
    pub(super) href: String,
}

// ---------------------------------------------------------------------------------------------
// Writing figures.

pub(super) fn rate(v: Option<f64>) -> String {
    v.map(percent).unwrap_or_else(|| NO_DATA.into())
}

pub(super) fn num(n: i64) -> String {
    count(n as f64)
}

pub(super) fn per_school(v: Option<f64>) -> String {
    match v {
        None => NO_DATA.into(),
        Some(v) => {
            let r = (v * 10.0).round() / 10.0;
            if r.fract() == 0.0 {
                count(r)
            } else {
                format!(
                    "{}.{}",
                    count(r.trunc()),
                    ((r.fract() * 10.0).round() as i64).abs()
                )
            }
        }
    }
}

pub(super) fn cell_count(c: &Cell<i64>) -> String {
    match c {
        Cell::Shown(n) => num(*n),
        Cell::Suppressed(s) => s.reason.clone(),
    }
}

pub(super) fn query_string(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(
        pairs
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .collect::<Vec<_>>(),
    )
    .unwrap_or_default()
}

pub(super) fn grouping_label(g: GroupBy) -> &'static str {
    GROUPINGS
        .iter()
        .find(|(k, _)| *k == g.as_str())
        .map(|(_, l)| *l)
        .unwrap_or("Group")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_per_school_read_with_one_decimal() {
        assert_eq!(per_school(Some(2.25)), "2.3");
        assert_eq!(per_school(Some(3.0)), "3");
        assert_eq!(per_school(Some(1234.5)), "1,234.5");
        assert_eq!(per_school(None), "no data");
    }
}
