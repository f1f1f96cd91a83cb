//! The engagement and impact reports, as JSON or as CSV (`Accept: text/csv` or `format=csv`).
//!
//! CSV answers are written for Excel: UTF-8 with a byte-order mark (without it Excel reads
//! UTF-8 as Windows-1252 and mangles names such as "Brontë"), CRLF line ends, one row per
//! group. The body is streamed: rows are encoded as the response is sent, never as one
//! string.

use actix_web::http::header;
use actix_web::{get, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use validator::Validate;

use crate::api::extract::ValidQuery;
use crate::app::policy::{self, require, Action};
use crate::app::state::AppState;
use crate::auth::Caller;
use crate::domain::time;
use crate::error::responses::{Forbidden, Invalid, Unauthorized};
use crate::error::{AppError, AppResult};
use crate::reports::metrics::{
    engagement_csv_header, impact_csv_header, CsvCursor, EngagementReport, ImpactReport,
    ReportQuery, ReportScope,
};
use crate::store::reports as store;

/// The window, grouping and format of a report.
#[derive(Debug, Deserialize, Validate, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportParams {
    /// First day of the window, `YYYY-MM-DD` (London date). Default: 1 September of the
    /// current academic year.
    #[validate(length(max = 10))]
    #[param(max_length = 10)]
    pub from: Option<String>,
    /// Last day of the window, included. Default: 31 August of the current academic year.
    #[validate(length(max = 10))]
    #[param(max_length = 10)]
    pub to: Option<String>,
    /// `school` (default), `cluster`, `staff_group`, `priority`, `course` or `term`; or two
    /// of them separated by a comma (`cluster,staff_group`) for groups with `subgroups`.
    #[validate(length(max = 40))]
    #[param(max_length = 40)]
    pub group_by: Option<String>,
    /// `json` (default) or `csv`; `Accept: text/csv` also asks for CSV.
    #[validate(length(max = 10))]
    #[param(max_length = 10)]
    pub format: Option<String>,
}

impl ReportParams {
    fn query(&self, state: &AppState) -> AppResult<ReportQuery> {
        ReportQuery::parse(
            self.from.as_deref(),
            self.to.as_deref(),
            self.group_by.as_deref(),
            time::now(),
            state.settings.evaluation.min_responses,
        )
        .map_err(AppError::Validation)
    }

    /// Whether the caller asked for CSV: `format` decides; without it, an `Accept` header
    /// that names `text/csv`.
    fn wants_csv(&self, req: &HttpRequest) -> AppResult<bool> {
        match self.format.as_deref().map(str::trim) {
            Some("csv") => Ok(true),
            Some("json") => Ok(false),
            Some("") | None => Ok(req
                .headers()
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|accept| {
                    accept
                        .split(',')
                        .any(|part| super::extract::media_essence(part) == "text/csv")
                })),
            Some(_) => Err(AppError::invalid("format", "must be json or csv")),
        }
    }
}

/// A streamed CSV response: a byte-order mark, the header, then each record as it is encoded.
fn csv_response<I>(filename: &str, header_row: Vec<&'static str>, records: I) -> HttpResponse
where
    I: Iterator<Item = Vec<String>> + 'static,
{
    fn encode<T: AsRef<str>>(fields: impl IntoIterator<Item = T>) -> web::Bytes {
        web::Bytes::from(super::csv::record(fields))
    }
    let mut first = super::csv::BOM.to_vec();
    first.extend_from_slice(&encode(header_row));
    let head = std::iter::once(web::Bytes::from(first));
    let body = head.chain(records.map(encode));
    let stream = futures_util::stream::iter(body.map(Ok::<web::Bytes, std::convert::Infallible>));
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .streaming(stream)
}

/// A report's CSV records, one at a time, from a report the stream owns.
struct Records<R> {
    report: R,
    cursor: CsvCursor,
    next: fn(&R, &mut CsvCursor) -> Option<Vec<String>>,
}

impl<R> Iterator for Records<R> {
    type Item = Vec<String>;

    fn next(&mut self) -> Option<Vec<String>> {
        (self.next)(&self.report, &mut self.cursor)
    }
}

fn filename(kind: &str, q: &ReportQuery) -> String {
    format!(
        "{kind}-{}-{}-by-{}.csv",
        q.from,
        q.to,
        q.group_by_label().replace(',', "-")
    )
}

/// Engagement with the CPD programme.
///
/// Per group and in total, every metric of the contract: places (course-level groupings
/// only), bookings, confirmed, waitlisted, cancelled, late_cancellations, fill_rate,
/// attendance_rate, completed, no_shows, evaluations_sent, evaluations_completed,
/// response_rate, satisfaction and impact_rate (null, with the reason in `suppressed`, for
/// fewer respondents than `min_responses`), the cost of no-shows and late cancellations, and
/// `previous`: the same figures a year earlier. A course belongs to the window when its first
/// session starts in it. Grouped by school, `cold_spots` lists the open schools with no
/// bookings in the window. A school lead sees their own school's bookings only, with
/// `alliance_average`. CSV with `Accept: text/csv` or `format=csv`.
#[utoipa::path(tag = "reports", params(ReportParams), security(("bearer" = [])), responses(
    // One 200 with both media types: two 200 entries would replace each other.
    (status = 200, description = "The report as JSON, or with `Accept: text/csv` or `format=csv` one row per group, for Excel",
        content((EngagementReport = "application/json"), (String = "text/csv"))),
    Unauthorized,
    Forbidden,
    Invalid,
))]
#[get("/reports/engagement")]
pub async fn engagement(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    params: ValidQuery<ReportParams>,
) -> AppResult<HttpResponse> {
    let scope = policy::engagement_scope(&caller)?;
    let q = params.query(&state)?;
    let csv = params.wants_csv(&req)?;
    let query = q.clone();
    let report = state
        .db_with_helper(move |c, helper| {
            Ok(store::engagement_with_helper(c, helper, &query, scope)?)
        })
        .await?;
    if csv {
        let records = Records {
            report,
            cursor: CsvCursor::default(),
            next: EngagementReport::csv_next,
        };
        Ok(csv_response(
            &filename("engagement", &q),
            engagement_csv_header(),
            records,
        ))
    } else {
        Ok(HttpResponse::Ok().json(report))
    }
}

/// Impact of the CPD programme, from the evaluations.
///
/// Per group and in total: post-course and follow-up invitations sent, answered and their
/// response rate, satisfaction, the retrospective confidence shift (mean of after - before),
/// impact_rate and the answers at each of Guskey's five levels. Every figure drawn from
/// answers is suppressed (null, with the reason in `suppressed`) for fewer respondents than
/// `min_responses`, and a second figure among siblings when one alone would be. CSV with
/// `Accept: text/csv` or `format=csv`.
#[utoipa::path(tag = "reports", params(ReportParams), security(("bearer" = [])), responses(
    // One 200 with both media types: two 200 entries would replace each other.
    (status = 200, description = "The report as JSON, or with `Accept: text/csv` or `format=csv` one row per group, for Excel",
        content((ImpactReport = "application/json"), (String = "text/csv"))),
    Unauthorized,
    Forbidden,
    Invalid,
))]
#[get("/reports/impact")]
pub async fn impact(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    params: ValidQuery<ReportParams>,
) -> AppResult<HttpResponse> {
    require(&caller, Action::ReadAllianceReports)?;
    let q = params.query(&state)?;
    let csv = params.wants_csv(&req)?;
    let query = q.clone();
    let report = state
        .db(move |c| Ok(store::impact(c, &query, ReportScope::All)?))
        .await?;
    if csv {
        let records = Records {
            report,
            cursor: CsvCursor::default(),
            next: ImpactReport::csv_next,
        };
        Ok(csv_response(
            &filename("impact", &q),
            impact_csv_header(),
            records,
        ))
    } else {
        Ok(HttpResponse::Ok().json(report))
    }
}

/// Registers the report handlers.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(engagement).service(impact);
}
