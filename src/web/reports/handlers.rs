//! The dashboard's routes: reading the filters, loading the reports the caller may see, and
//! the pages and CSV downloads made from them. A school's own view is in [`super::school`],
//! with the filters read here.

use actix_web::http::StatusCode;
use actix_web::{get, web, HttpRequest, HttpResponse};
use minijinja::{context, Value};

use crate::app::policy;
use crate::app::state::AppState;
use crate::auth::{Caller, MaybeCaller};
use crate::domain::time;
use crate::error::{AppError, AppResult, FieldErrors};
use crate::reports::metrics::{
    EngagementGroup, EngagementReport, GroupBy, ImpactReport, ReportQuery, ReportScope,
};
use crate::reports::summary;
use crate::store::reports as store;

use crate::web::{filter_query, page, see_other, sign_in_first};

use super::school::school_view;

use super::graphs::{attendance_by_cluster, fill_and_attendance_by_term, term_trend, Trend};
use super::tables::{engagement_table, impact_table};
use super::view::{
    col, figures, grouping_label, grouping_noun, num, ChartView, DashboardParams, Filters, Link,
    Paging, Row, Table, FIND_MAX, GROUPINGS, TOP_COURSES,
};

// ---------------------------------------------------------------------------------------------
// Handlers.

/// Refusals as pages for people: 403 when the caller may not read reports at all, 404 for a
/// school that is not theirs (or does not exist); other errors pass through.
pub(super) fn refusal(result: AppResult<HttpResponse>) -> AppResult<HttpResponse> {
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

pub(super) fn parse_query(
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
    if p.find.as_deref().unwrap_or("").trim().chars().count() > FIND_MAX {
        errors
            .entry("find".into())
            .or_default()
            .push(format!("Use {FIND_MAX} characters or fewer"));
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
pub(super) fn error_list(errors: &FieldErrors) -> Vec<(String, String)> {
    errors
        .iter()
        .flat_map(|(field, messages)| {
            messages.iter().map(move |m| {
                let label = match field.as_str() {
                    "from" => "From",
                    "to" => "To",
                    "group_by" => "Group by",
                    "then_by" => "Then by",
                    "find" => "Only names containing",
                    _ => "",
                };
                (field.clone(), format!("{label}: {m}"))
            })
        })
        .collect()
}

pub(super) fn filters(
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
        find: p.find.clone().unwrap_or_default(),
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

fn load_dashboard(
    conn: &mut crate::db::DbConn,
    mut helper: Option<&mut crate::db::DbConn>,
    q: &ReportQuery,
) -> AppResult<Dashboard> {
    let with = |g: GroupBy| ReportQuery {
        group_by: g,
        then_by: None,
        ..q.clone()
    };
    let single = q.then_by.is_none();
    // Each report on its own snapshot, as before, with the helper lent to each in turn.
    let mut engagement = |q: &ReportQuery, conn: &mut crate::db::DbConn| {
        store::engagement_with_helper(conn, helper.as_deref_mut(), q, ReportScope::All)
    };
    let selected = engagement(q, conn)?;
    let reuse = |g: GroupBy| single && q.group_by == g;
    let by_cluster = if reuse(GroupBy::Cluster) {
        selected.clone()
    } else {
        engagement(&with(GroupBy::Cluster), conn)?
    };
    let by_term = if reuse(GroupBy::Term) {
        selected.clone()
    } else {
        engagement(&with(GroupBy::Term), conn)?
    };
    let by_school = if reuse(GroupBy::School) {
        selected.clone()
    } else {
        engagement(&with(GroupBy::School), conn)?
    };
    let course_q = with(GroupBy::Course);
    let (selected_impact, by_course) = if single && q.group_by == GroupBy::Course {
        let selected = store::impact(conn, q, ReportScope::All)?;
        (selected.clone(), selected)
    } else {
        // Each impact report is one window on one connection: the two side by side, each in
        // its own snapshot as before, where the pool lent a second connection.
        crate::db::side_by_side(
            conn,
            helper,
            |conn| store::impact(conn, q, ReportScope::All),
            |conn| store::impact(conn, &course_q, ReportScope::All),
        )?
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

pub(super) fn window_label(q: &ReportQuery) -> String {
    format!(
        "{} to {}",
        summary::long_date(q.from),
        summary::long_date(q.to)
    )
}

pub(super) fn csv_links(q: &ReportQuery, with_impact: bool) -> Vec<Link> {
    let (from, to) = (q.from.to_string(), q.to.to_string());
    let group = q.group_by_label();
    let mut links = vec![Link {
        label: format!(
            "Engagement by {} (CSV)",
            group.replace(',', " and ").replace('_', " ")
        ),
        href: format!(
            "/api/v1/reports/engagement?{}",
            filter_query(&[
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
                filter_query(&[
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
                    filter_query(&[
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
    let d = state
        .db_with_helper(move |c, helper| load_dashboard(c, helper, &query))
        .await?;

    let window = window_label(&q);
    let school_href = |g: &EngagementGroup| {
        (q.group_by == GroupBy::School && g.key != crate::reports::metrics::NONE_KEY).then(|| {
            format!(
                "/reports/school?{}",
                filter_query(&[
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
    // Long tables (a national copy has tens of thousands of schools) are shown a page at a
    // time, only the names asked for; the CSV downloads have every row.
    let paged = |table: Table, param: &str, noun: (&str, &str), name: &str| {
        table.named(p.find.as_deref().unwrap_or("")).paged(&Paging {
            asked: p.page(param),
            rows: state.settings.reports.table_rows,
            noun,
            name,
            link: &|n| p.with_page("/reports", param, n),
        })
    };
    let noun = grouping_noun(q.group_by);
    let schools = ("school", "schools");
    let engagement = engagement_table(
        "table-engagement",
        format!("Engagement by {grouping}, {window}"),
        &d.selected,
        &q,
        &school_href,
    );
    let engagement = paged(engagement, "engagement_page", noun, "the engagement table");
    let impact = impact_table(
        "table-impact",
        format!("Impact by {grouping}, {window}"),
        &d.selected_impact,
        &q,
    );
    let impact = paged(impact, "impact_page", noun, "the impact table");
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
        pager: None,
        empty: None,
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
    let cold_table = paged(cold_table, "cold_page", schools, "the cold spots");
    let costs = summary::costs_by_school(&d.by_school.groups);
    let cost_table = Table {
        id: "table-costs".into(),
        caption: format!("Cost of no-shows and late cancellations by school, {window}"),
        row_heading: "School".into(),
        pager: None,
        empty: None,
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
    let cost_table = paged(cost_table, "costs_page", schools, "the costs by school");
    let best = summary::best_rated(&d.by_course.groups, TOP_COURSES);
    let best_table = Table {
        id: "table-best-rated".into(),
        caption: "Best-rated courses (mean post-course rating)".into(),
        row_heading: "Course".into(),
        pager: None,
        empty: None,
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
        pager: None,
        empty: None,
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

/// Registers the report pages.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(dashboard).service(school_view);
}

#[cfg(test)]
mod tests {
    use super::super::view::SCHOOL_GROUPINGS;
    use super::*;

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
