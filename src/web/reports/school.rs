//! A school's own view (`GET /reports/school`): its figures next to the alliance average,
//! never another school's, with the dashboard's filters (read by [`super::handlers`]).

use actix_web::http::StatusCode;
use actix_web::{get, web, HttpResponse};
use minijinja::{context, Value};
use serde::Serialize;

use crate::app::policy::{self, Action};
use crate::app::state::AppState;
use crate::auth::{Caller, MaybeCaller};
use crate::error::{AppError, AppResult};
use crate::reports::metrics::{EngagementMetrics, GroupBy, ReportQuery, ReportScope};
use crate::reports::summary::{self as summary, cell_text, percent, rating, NO_DATA};
use crate::store::reports as store;
use crate::web::charts::{self, Group, GroupedBarChart};
use crate::web::{page, see_other, sign_in_first};

use super::graphs::{term_trend, Trend};
use super::handlers::{csv_links, error_list, filters, parse_query, refusal, window_label};
use super::tables::engagement_table;
use super::view::{
    grouping_label, grouping_noun, num, per_school, rate, DashboardParams, Paging, SCHOOL_GROUPINGS,
};

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
        .db_with_helper(move |c, mut helper| {
            let scope = ReportScope::School(id);
            let selected =
                store::engagement_with_helper(c, helper.as_deref_mut(), &query, scope.clone())?;
            let by_term = if query.group_by == GroupBy::Term && query.then_by.is_none() {
                selected.clone()
            } else {
                let q = ReportQuery {
                    group_by: GroupBy::Term,
                    then_by: None,
                    ..query.clone()
                };
                store::engagement_with_helper(c, helper, &q, scope)?
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
    )
    .named(p.find.as_deref().unwrap_or(""))
    .paged(&Paging {
        asked: p.page("engagement_page"),
        rows: state.settings.reports.table_rows,
        noun: grouping_noun(q.group_by),
        name: "the engagement table",
        link: &|n| p.with_page("/reports/school", "engagement_page", n),
    });
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
