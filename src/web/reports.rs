//! The reports as pages: the dashboard for the CPD Working Group, the Networking Group and
//! admins (`GET /reports`), and a school's own view next to the alliance average
//! (`GET /reports/school`) for its school lead.
//!
//! Every figure comes from `store::reports` (the same functions as the JSON API) and is
//! written by `reports::summary`, so the page, the CSV and the digest agree. Charts are
//! SVG drawn here on the server ([`super::charts`]); each has a table of the same figures next
//! to it. The pages print on A4 for a meeting (the print styles in `app.css` drop the header,
//! the filters and the links).

use actix_web::http::StatusCode;
use actix_web::{get, web, HttpRequest, HttpResponse};
use minijinja::{context, Value};
use serde::{Deserialize, Serialize};

use crate::auth::policy::{self, Action};
use crate::auth::{Caller, MaybeCaller};
use crate::domain::suppression::Cell;
use crate::domain::time;
use crate::error::{AppError, AppResult, FieldErrors};
use crate::reports::metrics::{
    EngagementGroup, EngagementMetrics, EngagementReport, GroupBy, ImpactGroup, ImpactMetrics,
    ImpactReport, ReportQuery, ReportScope,
};
use crate::reports::summary::{
    self as summary, cell_text, count, percent, rating, shift, Figure, NO_DATA,
};
use crate::state::AppState;
use crate::store::reports as store;

use super::charts::{self, Datum, Group, GroupedBarChart, LineChart, Scale};
use super::{page, see_other, sign_in_first};

/// The dashboard's filters (a GET form, so a filtered view can be bookmarked and shared).
#[derive(Debug, Default, Deserialize, Serialize, utoipa::IntoParams)]
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
const GROUPINGS: [(&str, &str); 6] = [
    ("school", "School"),
    ("cluster", "Cluster"),
    ("staff_group", "Staff group"),
    ("priority", "Strategic priority"),
    ("course", "Course"),
    ("term", "Term"),
];

/// A school sees its own bookings, so groupings by school or cluster say nothing more.
const SCHOOL_GROUPINGS: [&str; 4] = ["term", "staff_group", "priority", "course"];

/// How many courses the dashboard's best-rated and largest-impact tables list.
const TOP_COURSES: usize = 5;

// ---------------------------------------------------------------------------------------------
// The view model: everything the templates print, already written out.

/// A table as the templates lay it out: `<caption>`, `<th scope="col">` per column,
/// `<th scope="row">` per row.
#[derive(Debug, Serialize)]
struct Table {
    id: String,
    caption: String,
    /// The first column's heading (what the rows are).
    row_heading: String,
    columns: Vec<Column>,
    rows: Vec<Row>,
    /// A totals row, in `<tfoot>`.
    totals: Option<Row>,
}

#[derive(Debug, Serialize)]
struct Column {
    /// The metric's API name (`data-metric`), so a column can be matched with the JSON.
    key: String,
    label: String,
    /// Numbers are right-aligned.
    numeric: bool,
}

#[derive(Debug, Serialize)]
struct Row {
    key: String,
    label: String,
    /// A link on the row heading, if any.
    href: Option<String>,
    /// A subgroup of the row above (a cross-table's second level).
    sub: bool,
    /// The group a subgroup belongs to, read out before its label (it is shown indented).
    parent: Option<String>,
    cells: Vec<String>,
}

impl Row {
    /// A row of its own: no link, not a subgroup.
    fn plain(key: String, label: String, cells: Vec<String>) -> Row {
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

fn col(key: &str, label: &str, numeric: bool) -> Column {
    Column {
        key: key.into(),
        label: label.into(),
        numeric,
    }
}

/// A chart with the table of its figures.
#[derive(Debug, Serialize)]
struct ChartView {
    id: String,
    heading: String,
    /// The SVG (rendered as is: it is built by `charts`, which escapes every label).
    #[serde(skip)]
    svg: String,
    table: Table,
}

impl ChartView {
    fn to_value(&self) -> Value {
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
struct FigureView {
    key: &'static str,
    label: &'static str,
    value: String,
    detail: Option<String>,
    missing: bool,
    /// The same figure for the same window a year earlier.
    previous: Option<String>,
}

fn figures(now: &EngagementMetrics, before: &EngagementMetrics) -> Vec<FigureView> {
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
struct Filters {
    from: String,
    to: String,
    group_by: String,
    then_by: String,
    trend: String,
    groupings: Vec<(String, String)>,
    school: Option<String>,
}

#[derive(Debug, Serialize)]
struct Link {
    label: String,
    href: String,
}

// ---------------------------------------------------------------------------------------------
// Writing figures.

fn rate(v: Option<f64>) -> String {
    v.map(percent).unwrap_or_else(|| NO_DATA.into())
}

fn num(n: i64) -> String {
    count(n as f64)
}

fn per_school(v: Option<f64>) -> String {
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

fn cell_count(c: &Cell<i64>) -> String {
    match c {
        Cell::Shown(n) => num(*n),
        Cell::Suppressed(s) => s.reason.clone(),
    }
}

fn query_string(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(
        pairs
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .collect::<Vec<_>>(),
    )
    .unwrap_or_default()
}

fn grouping_label(g: GroupBy) -> &'static str {
    GROUPINGS
        .iter()
        .find(|(k, _)| *k == g.as_str())
        .map(|(_, l)| *l)
        .unwrap_or("Group")
}

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

fn engagement_table(
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

fn impact_table(id: &str, caption: String, report: &ImpactReport, q: &ReportQuery) -> Table {
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
        columns,
        rows,
        totals: Some(Row::plain(
            "total".into(),
            "All".into(),
            impact_cells(&report.totals),
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// Charts.

fn attendance_by_cluster(report: &EngagementReport) -> ChartView {
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

fn fill_and_attendance_by_term(report: &EngagementReport) -> ChartView {
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
enum Trend {
    AttendanceRate,
    Bookings,
}

impl Trend {
    fn parse(s: Option<&str>) -> Trend {
        match s {
            Some("bookings") => Trend::Bookings,
            _ => Trend::AttendanceRate,
        }
    }

    fn key(self) -> &'static str {
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

fn term_trend(groups: &[EngagementGroup], trend: Trend, whose: &str) -> ChartView {
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

// ---------------------------------------------------------------------------------------------
// Handlers.

/// Refusals as pages for people: 403 when the caller may not read reports at all, 404 for a
/// school that is not theirs (or does not exist); other errors pass through.
fn refusal(result: AppResult<HttpResponse>) -> AppResult<HttpResponse> {
    match result {
        Err(AppError::Forbidden(_)) => page(
            StatusCode::FORBIDDEN,
            "report_refused.html",
            context! { signed_in => true, status => 403 },
        ),
        Err(AppError::NotFound) => page(
            StatusCode::NOT_FOUND,
            "report_refused.html",
            context! { signed_in => true, status => 404 },
        ),
        other => other,
    }
}

fn parse_query(
    p: &DashboardParams,
    default_group: &str,
    allowed: &[&str],
    min_responses: u32,
) -> Result<ReportQuery, FieldErrors> {
    let group = p
        .group_by
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(default_group);
    let then = p
        .then_by
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let mut errors = FieldErrors::new();
    for (field, value) in [("group_by", Some(group)), ("then_by", then)] {
        if let Some(v) = value {
            if !allowed.contains(&v) {
                errors.entry(field.into()).or_default().push(format!(
                    "Choose one of the groupings listed ({v:?} is not one)"
                ));
            }
        }
    }
    if then == Some(group) {
        errors
            .entry("then_by".into())
            .or_default()
            .push("Choose a second grouping different from the first, or none".into());
    }
    // A grouping already refused is not refused twice over.
    let combined = match then {
        _ if !errors.is_empty() => default_group.to_string(),
        Some(t) => format!("{group},{t}"),
        None => group.to_string(),
    };
    let parsed = ReportQuery::parse(
        p.from.as_deref(),
        p.to.as_deref(),
        Some(&combined),
        time::now(),
        min_responses,
    );
    match parsed {
        Ok(q) if errors.is_empty() => Ok(q),
        Ok(_) => Err(errors),
        Err(mut e) => {
            for (k, v) in errors {
                e.entry(k).or_default().extend(v);
            }
            Err(e)
        }
    }
}

/// Error messages as the page's error summary lists them, each linking to its field.
fn error_list(errors: &FieldErrors) -> Vec<(String, String)> {
    errors
        .iter()
        .flat_map(|(field, messages)| {
            messages.iter().map(move |m| {
                let label = match field.as_str() {
                    "from" => "From",
                    "to" => "To",
                    "group_by" => "Group by",
                    "then_by" => "Then by",
                    _ => "",
                };
                (field.clone(), format!("{label}: {m}"))
            })
        })
        .collect()
}

fn filters(
    p: &DashboardParams,
    q: Option<&ReportQuery>,
    groupings: &[&str],
    default_group: &str,
) -> Filters {
    Filters {
        from: q
            .map(|q| q.from.to_string())
            .or_else(|| p.from.clone())
            .unwrap_or_default(),
        to: q
            .map(|q| q.to.to_string())
            .or_else(|| p.to.clone())
            .unwrap_or_default(),
        group_by: q
            .map(|q| q.group_by.as_str().to_string())
            .or_else(|| p.group_by.clone())
            .unwrap_or_else(|| default_group.into()),
        then_by: q
            .and_then(|q| q.then_by.map(|t| t.as_str().to_string()))
            .or_else(|| p.then_by.clone())
            .unwrap_or_default(),
        trend: Trend::parse(p.trend.as_deref()).key().into(),
        groupings: GROUPINGS
            .iter()
            .filter(|(k, _)| groupings.contains(k))
            .map(|(k, l)| (k.to_string(), l.to_string()))
            .collect(),
        school: p.school.clone(),
    }
}

/// The reports of the dashboard, read on one connection.
struct Dashboard {
    selected: EngagementReport,
    selected_impact: ImpactReport,
    by_cluster: EngagementReport,
    by_term: EngagementReport,
    by_school: EngagementReport,
    by_course: ImpactReport,
}

fn load_dashboard(conn: &mut crate::db::DbConn, q: &ReportQuery) -> AppResult<Dashboard> {
    let with = |g: GroupBy| ReportQuery {
        group_by: g,
        then_by: None,
        ..q.clone()
    };
    let single = q.then_by.is_none();
    let engagement = |g: GroupBy, conn: &mut crate::db::DbConn| -> AppResult<EngagementReport> {
        Ok(store::engagement(conn, &with(g), ReportScope::All)?)
    };
    let selected = store::engagement(conn, q, ReportScope::All)?;
    let reuse = |g: GroupBy| single && q.group_by == g;
    let by_cluster = if reuse(GroupBy::Cluster) {
        selected.clone()
    } else {
        engagement(GroupBy::Cluster, conn)?
    };
    let by_term = if reuse(GroupBy::Term) {
        selected.clone()
    } else {
        engagement(GroupBy::Term, conn)?
    };
    let by_school = if reuse(GroupBy::School) {
        selected.clone()
    } else {
        engagement(GroupBy::School, conn)?
    };
    let selected_impact = store::impact(conn, q, ReportScope::All)?;
    let by_course = if single && q.group_by == GroupBy::Course {
        selected_impact.clone()
    } else {
        store::impact(conn, &with(GroupBy::Course), ReportScope::All)?
    };
    Ok(Dashboard {
        selected,
        selected_impact,
        by_cluster,
        by_term,
        by_school,
        by_course,
    })
}

fn window_label(q: &ReportQuery) -> String {
    format!(
        "{} to {}",
        summary::long_date(q.from),
        summary::long_date(q.to)
    )
}

fn csv_links(q: &ReportQuery, with_impact: bool) -> Vec<Link> {
    let (from, to) = (q.from.to_string(), q.to.to_string());
    let group = q.group_by_label();
    let mut links = vec![Link {
        label: format!(
            "Engagement by {} (CSV)",
            group.replace(',', " and ").replace('_', " ")
        ),
        href: format!(
            "/api/v1/reports/engagement?{}",
            query_string(&[
                ("from", &from),
                ("to", &to),
                ("group_by", &group),
                ("format", "csv")
            ])
        ),
    }];
    if with_impact {
        links.push(Link {
            label: format!(
                "Impact by {} (CSV)",
                group.replace(',', " and ").replace('_', " ")
            ),
            href: format!(
                "/api/v1/reports/impact?{}",
                query_string(&[
                    ("from", &from),
                    ("to", &to),
                    ("group_by", &group),
                    ("format", "csv")
                ])
            ),
        });
        if group != "school" {
            links.push(Link {
                label: "Engagement by school, with the cold spots (CSV)".into(),
                href: format!(
                    "/api/v1/reports/engagement?{}",
                    query_string(&[
                        ("from", &from),
                        ("to", &to),
                        ("group_by", "school"),
                        ("format", "csv")
                    ])
                ),
            });
        }
    }
    links
}

/// The reports dashboard for the CPD Working Group, the Networking Group and admins.
///
/// Filters (a GET form): the window `from`-`to` (default: this academic year), the grouping of
/// the tables and an optional second one, and what the term trend shows. Shows the headline
/// figures, attendance by cluster, fill and attendance by term, the term trend, a table per
/// grouping (engagement and impact), the cold spots, the cost of no-shows and late
/// cancellations by school, and the best-rated courses and largest impact, with links to the
/// CSV downloads. A school lead is sent on to their school's view; anyone else is refused.
#[utoipa::path(tag = "web", params(DashboardParams), responses(
    (status = 200, description = "The dashboard", content_type = "text/html", body = String),
    (status = 303, description = "Not signed in: to the sign-in page; a school lead: to their school's view"),
    (status = 403, description = "Not a member of the CPD group or an admin", content_type = "text/html", body = String),
    (status = 422, description = "Bad filters: the form with the errors", content_type = "text/html", body = String),
))]
#[get("/reports")]
pub async fn dashboard(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    req: HttpRequest,
    params: web::Query<DashboardParams>,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    refusal(dashboard_for(&state, &caller, &req, params.into_inner()).await)
}

async fn dashboard_for(
    state: &AppState,
    caller: &Caller,
    req: &HttpRequest,
    p: DashboardParams,
) -> AppResult<HttpResponse> {
    if let ReportScope::School(_) = policy::engagement_scope(caller)? {
        let qs = req.query_string();
        let to = if qs.is_empty() {
            "/reports/school".to_string()
        } else {
            format!("/reports/school?{qs}")
        };
        return Ok(see_other(&to));
    }
    let all: Vec<&str> = GROUPINGS.iter().map(|(k, _)| *k).collect();
    let q = match parse_query(&p, "school", &all, state.settings.evaluation.min_responses) {
        Ok(q) => q,
        Err(errors) => {
            return page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "reports.html",
                context! {
                    signed_in => true,
                    filters => Value::from_serialize(filters(&p, None, &all, "school")),
                    errors => error_list(&errors),
                },
            )
        }
    };
    let trend = Trend::parse(p.trend.as_deref());
    let query = q.clone();
    let d = state.db(move |c| load_dashboard(c, &query)).await?;

    let window = window_label(&q);
    let school_href = |g: &EngagementGroup| {
        (q.group_by == GroupBy::School && g.key != crate::reports::metrics::NONE_KEY).then(|| {
            format!(
                "/reports/school?{}",
                query_string(&[
                    ("school", &g.key),
                    ("from", &q.from.to_string()),
                    ("to", &q.to.to_string())
                ])
            )
        })
    };
    let grouping = match q.then_by {
        Some(t) => format!(
            "{} and {}",
            grouping_label(q.group_by).to_lowercase(),
            grouping_label(t).to_lowercase()
        ),
        None => grouping_label(q.group_by).to_lowercase(),
    };
    let engagement = engagement_table(
        "table-engagement",
        format!("Engagement by {grouping}, {window}"),
        &d.selected,
        &q,
        &school_href,
    );
    let impact = impact_table(
        "table-impact",
        format!("Impact by {grouping}, {window}"),
        &d.selected_impact,
        &q,
    );
    let charts = [
        attendance_by_cluster(&d.by_cluster),
        fill_and_attendance_by_term(&d.by_term),
        term_trend(&d.by_term.groups, trend, ""),
    ];

    let cold = summary::cold_spots_by_cluster(d.by_school.cold_spots.as_deref().unwrap_or(&[]));
    let cold_count: usize = cold.iter().map(|c| c.schools.len()).sum();
    let cold_table = Table {
        id: "table-cold-spots".into(),
        caption: format!("Schools with no bookings, {window}"),
        row_heading: "School".into(),
        columns: vec![
            col("cluster", "Cluster", false),
            col("last_booked_at", "Last booked", false),
        ],
        rows: cold
            .iter()
            .flat_map(|c| {
                c.schools.iter().map(|s| {
                    Row::plain(
                        s.id.clone(),
                        s.name.clone(),
                        vec![
                            c.cluster.clone(),
                            s.last_booked.clone().unwrap_or_else(|| "Never".into()),
                        ],
                    )
                })
            })
            .collect(),
        totals: None,
    };
    let costs = summary::costs_by_school(&d.by_school.groups);
    let cost_table = Table {
        id: "table-costs".into(),
        caption: format!("Cost of no-shows and late cancellations by school, {window}"),
        row_heading: "School".into(),
        columns: vec![
            col("no_shows", "No-shows", true),
            col("cost.no_shows", "Their cost", true),
            col("late_cancellations", "Late cancellations", true),
            col("cost.late_cancellations", "Their cost", true),
            col("cost.total", "Total", true),
        ],
        rows: costs
            .iter()
            .map(|c| {
                Row::plain(
                    c.school.clone(),
                    c.school.clone(),
                    vec![
                        num(c.no_shows),
                        c.no_show_cost.clone(),
                        num(c.late_cancellations),
                        c.late_cancellation_cost.clone(),
                        c.total.clone(),
                    ],
                )
            })
            .collect(),
        totals: Some(Row::plain(
            "total".into(),
            "All schools".into(),
            vec![
                num(d.by_school.totals.no_shows),
                d.by_school.totals.cost.no_shows.formatted.clone(),
                num(d.by_school.totals.late_cancellations),
                d.by_school.totals.cost.late_cancellations.formatted.clone(),
                d.by_school.totals.cost.total.formatted.clone(),
            ],
        )),
    };
    let best = summary::best_rated(&d.by_course.groups, TOP_COURSES);
    let best_table = Table {
        id: "table-best-rated".into(),
        caption: "Best-rated courses (mean post-course rating)".into(),
        row_heading: "Course".into(),
        columns: vec![
            col("satisfaction", "Satisfaction", true),
            col("satisfaction_respondents", "Responses", true),
        ],
        rows: best
            .iter()
            .map(|c| {
                Row::plain(
                    c.key.clone(),
                    c.title.clone(),
                    vec![c.satisfaction_text.clone(), num(c.respondents)],
                )
            })
            .collect(),
        totals: None,
    };
    let largest = summary::largest_impact(&d.by_course.groups, TOP_COURSES);
    let impact_top = Table {
        id: "table-largest-impact".into(),
        caption: "Largest impact (follow-up answers and confidence)".into(),
        row_heading: "Course".into(),
        columns: vec![
            col("impact_rate", "Impact rate", true),
            col("impact_respondents", "Responses", true),
            col("confidence_shift", "Confidence shift", true),
            col("confidence_respondents", "Responses", true),
        ],
        rows: largest
            .iter()
            .map(|c| {
                Row::plain(
                    c.key.clone(),
                    c.title.clone(),
                    vec![
                        c.impact_rate_text.clone(),
                        num(c.impact_respondents),
                        c.confidence_shift_text.clone(),
                        num(c.confidence_respondents),
                    ],
                )
            })
            .collect(),
        totals: None,
    };

    page(
        StatusCode::OK,
        "reports.html",
        context! {
            signed_in => true,
            filters => Value::from_serialize(filters(&p, Some(&q), &all, "school")),
            window => window,
            previous_window => window_label(&q.year_earlier()),
            min_responses => d.selected.min_responses,
            headline => Value::from_serialize(figures(&d.selected.totals, &d.selected.previous.totals)),
            charts => charts.iter().map(ChartView::to_value).collect::<Vec<_>>(),
            engagement => Value::from_serialize(&engagement),
            impact => Value::from_serialize(&impact),
            cold_spots => Value::from_serialize(&cold_table),
            cold_count => cold_count,
            cold_clusters => cold.len(),
            costs => Value::from_serialize(&cost_table),
            best_rated => Value::from_serialize(&best_table),
            largest_impact => Value::from_serialize(&impact_top),
            csv_links => Value::from_serialize(csv_links(&q, true)),
        },
    )
}

/// A row of the school view's comparison: the school's figure next to the alliance average.
#[derive(Debug, Serialize)]
struct Comparison {
    key: &'static str,
    label: &'static str,
    school: String,
    alliance: String,
}

fn comparison(
    m: &EngagementMetrics,
    a: &crate::reports::metrics::AllianceAverage,
) -> Vec<Comparison> {
    let row = |key, label, school: String, alliance: String| Comparison {
        key,
        label,
        school,
        alliance,
    };
    vec![
        row(
            "bookings",
            "Bookings",
            num(m.bookings),
            per_school(a.bookings),
        ),
        row(
            "confirmed",
            "Confirmed places",
            num(m.confirmed),
            per_school(a.confirmed),
        ),
        row(
            "cancelled",
            "Cancelled",
            num(m.cancelled),
            per_school(a.cancelled),
        ),
        row(
            "late_cancellations",
            "Late cancellations",
            num(m.late_cancellations),
            per_school(a.late_cancellations),
        ),
        row(
            "attendance_rate",
            "Attendance rate",
            rate(m.attendance_rate),
            rate(a.attendance_rate),
        ),
        row(
            "completed",
            "Completed",
            num(m.completed),
            per_school(a.completed),
        ),
        row(
            "no_shows",
            "No-shows",
            num(m.no_shows),
            per_school(a.no_shows),
        ),
        row(
            "response_rate",
            "Evaluation response rate",
            rate(m.response_rate),
            rate(a.response_rate),
        ),
        row(
            "satisfaction",
            "Satisfaction",
            cell_text(&m.satisfaction, rating).0,
            cell_text(&a.satisfaction, rating).0,
        ),
        row(
            "impact_rate",
            "Impact rate",
            cell_text(&m.impact_rate, percent).0,
            cell_text(&a.impact_rate, percent).0,
        ),
        row(
            "cost",
            "Cost of no-shows and late cancellations",
            m.cost.total.formatted.clone(),
            a.cost_pence
                .map(crate::reports::metrics::format_pence)
                .unwrap_or_else(|| NO_DATA.into()),
        ),
    ]
}

/// A school's own view: its figures next to the alliance average, never another school's.
///
/// For a school lead, their own school (another school's `school` answers 404). The CPD
/// group and admins may open any school's view with `school` (the dashboard's table by school
/// links to it). Filters as the dashboard, grouped by term, staff group, priority or course.
#[utoipa::path(tag = "web", params(DashboardParams), responses(
    (status = 200, description = "The school's view", content_type = "text/html", body = String),
    (status = 303, description = "Not signed in: to the sign-in page"),
    (status = 403, description = "Not a school lead, a member of the CPD group or an admin", content_type = "text/html", body = String),
    (status = 404, description = "Another school's view (for a school lead), or no such school", content_type = "text/html", body = String),
    (status = 422, description = "Bad filters: the form with the errors", content_type = "text/html", body = String),
))]
#[get("/reports/school")]
pub async fn school_view(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    params: web::Query<DashboardParams>,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    refusal(school_view_for(&state, &caller, params.into_inner()).await)
}

async fn school_view_for(
    state: &AppState,
    caller: &Caller,
    p: DashboardParams,
) -> AppResult<HttpResponse> {
    let alliance = policy::allows(caller, &Action::ReadAllianceReports);
    let requested = p
        .school
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let school_id = match (requested, alliance) {
        (Some(id), true) => id,
        (Some(id), false) => {
            policy::require_visible(
                caller,
                Action::ReadSchoolReport {
                    school_id: Some(&id),
                },
            )?;
            id
        }
        (None, _) => {
            if !alliance {
                policy::require(
                    caller,
                    Action::ReadSchoolReport {
                        school_id: caller.school_id.as_deref(),
                    },
                )?;
            }
            match caller.school_id.clone() {
                Some(id) => id,
                // The CPD group and admins pick a school from the dashboard's table.
                None => return Ok(see_other("/reports?group_by=school#table-engagement")),
            }
        }
    };
    let lookup = school_id.clone();
    let school = state
        .db(move |c| crate::store::schools::get_school(c, &lookup))
        .await?;

    let p = DashboardParams {
        school: (alliance && caller.school_id.as_deref() != Some(&school_id))
            .then(|| school_id.clone()),
        ..p
    };
    let q = match parse_query(
        &p,
        "term",
        &SCHOOL_GROUPINGS,
        state.settings.evaluation.min_responses,
    ) {
        Ok(q) => q,
        Err(errors) => {
            return page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "reports_school.html",
                context! {
                    signed_in => true,
                    school_name => school.name,
                    filters => Value::from_serialize(filters(&p, None, &SCHOOL_GROUPINGS, "term")),
                    errors => error_list(&errors),
                },
            )
        }
    };
    let trend = Trend::parse(p.trend.as_deref());
    let (query, id) = (q.clone(), school_id.clone());
    let (selected, by_term) = state
        .db(move |c| {
            let scope = ReportScope::School(id);
            let selected = store::engagement(c, &query, scope.clone())?;
            let by_term = if query.group_by == GroupBy::Term && query.then_by.is_none() {
                selected.clone()
            } else {
                let q = ReportQuery {
                    group_by: GroupBy::Term,
                    then_by: None,
                    ..query.clone()
                };
                store::engagement(c, &q, scope)?
            };
            Ok((selected, by_term))
        })
        .await?;
    let average = selected.alliance_average.clone().ok_or_else(|| {
        AppError::Internal(anyhow::anyhow!(
            "a school's report came without the alliance average"
        ))
    })?;
    let rows = comparison(&selected.totals, &average);
    let school_name = school.name.clone();
    let chart_series = vec![school_name.clone(), "Alliance average".to_string()];
    let pairs: [(&str, Option<f64>, Option<f64>); 3] = [
        (
            "Attendance rate",
            selected.totals.attendance_rate,
            average.attendance_rate,
        ),
        (
            "Evaluation response rate",
            selected.totals.response_rate,
            average.response_rate,
        ),
        (
            "Impact rate",
            summary::shown(&selected.totals.impact_rate),
            summary::shown(&average.impact_rate),
        ),
    ];
    let compare_svg = charts::grouped_bar_chart(&GroupedBarChart {
        id: "chart-school-compared".into(),
        title: format!("{school_name} compared with the alliance average"),
        description: "For three rates, a bar for the school and a bar for the alliance as a \
                      whole. The table after the chart gives these and more figures."
            .into(),
        series: chart_series,
        groups: pairs
            .iter()
            .map(|(label, s, a)| Group {
                label: label.to_string(),
                values: vec![*s, *a],
            })
            .collect(),
    });
    let window = window_label(&q);
    let grouping = grouping_label(q.group_by).to_lowercase();
    let table = engagement_table(
        "table-engagement",
        format!("{school_name}: engagement by {grouping}, {window}"),
        &selected,
        &q,
        &|_| None,
    );
    let trend_chart = term_trend(&by_term.groups, trend, &format!(" at {school_name}"));
    page(
        StatusCode::OK,
        "reports_school.html",
        context! {
            signed_in => true,
            school_name => school_name,
            filters => Value::from_serialize(filters(&p, Some(&q), &SCHOOL_GROUPINGS, "term")),
            window => window,
            min_responses => selected.min_responses,
            open_schools => average.schools,
            comparison => Value::from_serialize(&rows),
            compare_svg => Value::from_safe_string(compare_svg),
            trend => trend_chart.to_value(),
            engagement => Value::from_serialize(&table),
            // The API gives a school lead their own school: the download matches the page.
            csv_links => Value::from_serialize(if alliance { Vec::new() } else { csv_links(&q, false) }),
        },
    )
}

/// Registers the report pages.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(dashboard).service(school_view);
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

    #[test]
    fn filters_name_the_field_that_is_wrong() {
        let p = DashboardParams {
            from: Some("2026-13-01".into()),
            group_by: Some("galaxy".into()),
            ..Default::default()
        };
        let all: Vec<&str> = GROUPINGS.iter().map(|(k, _)| *k).collect();
        let e = parse_query(&p, "school", &all, 5).unwrap_err();
        assert!(
            e.contains_key("from") && e.contains_key("group_by"),
            "{e:?}"
        );
        let p = DashboardParams {
            group_by: Some("cluster".into()),
            then_by: Some("cluster".into()),
            ..Default::default()
        };
        assert!(parse_query(&p, "school", &all, 5)
            .unwrap_err()
            .contains_key("then_by"));
        let p = DashboardParams {
            group_by: Some("school".into()),
            ..Default::default()
        };
        assert!(parse_query(&p, "term", &SCHOOL_GROUPINGS, 5)
            .unwrap_err()
            .contains_key("group_by"));
        let ok = parse_query(
            &DashboardParams {
                from: Some("2026-09-01".into()),
                to: Some("2026-12-31".into()),
                group_by: Some("cluster".into()),
                then_by: Some("staff_group".into()),
                ..Default::default()
            },
            "school",
            &all,
            5,
        )
        .unwrap();
        assert_eq!(ok.group_by_label(), "cluster,staff_group");
    }
}
