//! One's own CPD: the record (`/my/record`, with a printable view) and the personal calendar
//! feed (create, copy, replace, stop). The same use cases as `GET /api/v1/people/{id}/cpd-record`
//! and `POST`/`DELETE /api/v1/me/calendar-feed` (`app::record`).

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use minijinja::context;
use serde::Deserialize;

use crate::app::record::{self, FeedAddress};
use crate::app::state::AppState;
use crate::auth::MaybeCaller;
use crate::domain::caller::Caller;
use crate::domain::course::london_start_display;
use crate::domain::time;
use crate::error::AppResult;
use crate::store::attendance::{CpdRecord, PeriodTotals};

use super::{page, see_other, sign_in_first};

/// `?view=print` for the printable record; `?done=` what the last form did.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecordQuery {
    /// `print`: the record alone, laid out for paper.
    pub view: Option<String>,
    /// `feed_stopped` after stopping the calendar feed.
    pub done: Option<String>,
}

/// Hours as people read them: "1.5 hours", "1 hour".
fn hours(h: f64) -> String {
    if (h - 1.0).abs() < f64::EPSILON {
        "1 hour".to_string()
    } else {
        format!("{h} hours")
    }
}

fn period_rows(periods: &[PeriodTotals]) -> Vec<minijinja::Value> {
    periods
        .iter()
        .rev()
        .map(|p| {
            context! {
                label => p.period.label,
                courses => p.courses,
                completed => p.courses_completed,
                sessions => p.sessions_attended,
                hours => hours(p.hours_attended),
            }
        })
        .collect()
}

async fn render(
    state: &AppState,
    caller: &Caller,
    print: bool,
    new_feed: Option<FeedAddress>,
    feed_stopped: bool,
) -> AppResult<HttpResponse> {
    let now = time::now();
    let r: CpdRecord = record::cpd_record(state, caller, &caller.person_id, now).await?;
    let feed_since = record::calendar_feed_since(state, caller).await?;
    let courses: Vec<_> = r
        .courses
        .iter()
        .map(|c| {
            context! {
                id => c.course_id,
                title => c.title,
                term => c.term.as_ref().map(|t| t.label.clone()),
                first => c.sessions.first().map(|s| s.display.clone()),
                attended => c.sessions_attended,
                held => c.sessions_held,
                total => c.sessions_total,
                hours => hours(c.hours_attended),
                complete => c.complete,
                finished => c.finished,
                walk_in => c.walk_in,
                status => if c.complete { "Complete" } else if c.finished { "Not completed" } else { "In progress" },
                certificate => c.complete.then(|| format!("/certificates/{}", c.booking_id)),
            }
        })
        .collect();
    page(
        StatusCode::OK,
        if print {
            "record_print.html"
        } else {
            "record.html"
        },
        context! {
            signed_in => true,
            name => r.person.name,
            school => r.school.as_ref().map(|s| s.name.clone()),
            totals => context! {
                courses => r.totals.courses,
                completed => r.totals.courses_completed,
                sessions => r.totals.sessions_attended,
                hours => hours(r.totals.hours_attended),
            },
            courses,
            terms => period_rows(&r.terms),
            years => period_rows(&r.academic_years),
            printed_on => london_start_display(now),
            feed_since => feed_since.map(london_start_display),
            new_feed => new_feed.map(|f| context! { url => f.url, webcal_url => f.webcal_url }),
            feed_stopped,
        },
    )
}

/// The signed-in person's CPD record: hours, completion, term and academic-year totals, and
/// their personal calendar feed. `?view=print` gives the record alone, for paper or a PDF.
#[utoipa::path(tag = "web", params(RecordQuery), responses(
    (status = 200, description = "One's CPD record", content_type = "text/html", body = String),
    (status = 303, description = "Not signed in: to sign-in"),
))]
#[get("/my/record")]
pub async fn my_record(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    query: web::Query<RecordQuery>,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    let print = query.view.as_deref() == Some("print");
    let stopped = query.done.as_deref() == Some("feed_stopped");
    render(&state, &caller, print, None, stopped).await
}

/// Makes (or replaces) the signed-in person's calendar feed and shows its address, this once:
/// only a hash of it is kept.
#[utoipa::path(tag = "web", responses(
    (status = 200, description = "The record page with the new feed's address", content_type = "text/html", body = String),
    (status = 303, description = "Not signed in: to sign-in"),
    crate::error::responses::CrossSite,
))]
#[post("/my/calendar-feed")]
pub async fn create_feed(
    state: web::Data<AppState>,
    caller: MaybeCaller,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    let made = record::create_calendar_feed(&state, &caller).await?;
    render(&state, &caller, false, Some(made), false).await
}

/// Stops the signed-in person's calendar feed: its address stops working.
#[utoipa::path(tag = "web", responses(
    (status = 303, description = "To the record page, which says the feed has stopped"),
    crate::error::responses::CrossSite,
))]
#[post("/my/calendar-feed/stop")]
pub async fn stop_feed(state: web::Data<AppState>, caller: MaybeCaller) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    record::revoke_calendar_feed(&state, &caller).await?;
    Ok(see_other("/my/record?done=feed_stopped#calendar-feed"))
}

/// Registers the record pages.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(my_record)
        .service(create_feed)
        .service(stop_feed);
}
