//! `/admin/courses`: every course whatever its status, with filters (status, term, provider,
//! priority, words) kept in the query string, counts of places and bookings, and paging.

use actix_web::http::StatusCode;
use actix_web::{get, web, HttpResponse};
use minijinja::context;
use serde::{Deserialize, Serialize};

use crate::app::courses::{self as courses, CourseQuery};
use crate::app::state::AppState;
use crate::auth::MaybeCaller;
use crate::domain::term::Term;
use crate::domain::time;
use crate::error::{AppError, AppResult};
use crate::web::{filter_query, page, page_count, page_number, sign_in_first, trimmed};

use super::status_label;

/// Courses on one page of the list: a full page stays under the admin pages' 3,000 px at
/// desktop and tablet widths (20 measured 3,407 px at 768 px).
const PAGE_SIZE: i64 = 15;

/// The list's filters and page, as its GET form sends them.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AdminListParams {
    /// `draft`, `published`, `cancelled`, or empty for every status.
    pub status: Option<String>,
    /// A term's key (`2026-27-autumn`): courses whose first session is in it.
    pub term: Option<String>,
    /// A provider's id.
    pub provider: Option<String>,
    /// A strategy priority's id.
    pub priority: Option<String>,
    /// Words that must all appear in the title or summary.
    pub q: Option<String>,
    /// The page, from 1.
    pub page: Option<String>,
}

/// The list's filters as the form shows them back.
#[derive(Serialize, Default)]
struct ListFilters {
    status: String,
    term: String,
    provider: String,
    priority: String,
    q: String,
}

/// The terms the list offers: from a year back to a year ahead of the current one.
fn term_choices() -> Vec<(String, String)> {
    let now = Term::of(time::now());
    let mut t = now;
    for _ in 0..3 {
        t = t.previous();
    }
    let first = t;
    // Walk forward by finding the term after each: the term of the day after its last day.
    let mut out = Vec::new();
    let mut t = first;
    for _ in 0..7 {
        out.push((t.key(), t.label()));
        t = Term::of_date(t.last_day().succ_opt().unwrap_or(t.last_day()));
    }
    out.reverse();
    out
}

/// Every course whatever its status (admins), with filters (status, term, provider, priority,
/// words) kept in the query string, counts of places and bookings, and paging.
#[utoipa::path(tag = "web", params(AdminListParams), responses(
    (status = 200, description = "The admin's list of courses", content_type = "text/html", body = String),
    (status = 303, description = "Not signed in: to sign-in"),
    (status = 403, description = "Not an admin", content_type = "text/html", body = String),
))]
#[get("/admin/courses")]
pub async fn index(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    params: web::Query<AdminListParams>,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    let choices = courses::choices(&state, &caller).await?;
    let p = params.into_inner();
    let filters = ListFilters {
        status: trimmed(&p.status),
        term: trimmed(&p.term),
        provider: trimmed(&p.provider),
        priority: trimmed(&p.priority),
        q: trimmed(&p.q),
    };
    let page_no = page_number(p.page.as_deref());
    let mut errors: Vec<(String, String)> = Vec::new();
    let term = if filters.term.is_empty() {
        None
    } else {
        match filters.term.parse::<Term>() {
            Ok(t) => Some(t),
            Err(_) => {
                errors.push(("term".into(), "Term: choose one from the list".into()));
                None
            }
        }
    };
    let none_if_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let query = CourseQuery {
        limit: Some(PAGE_SIZE.to_string()),
        offset: Some(((page_no - 1) * PAGE_SIZE).to_string()),
        from: term.map(|t| t.first_day().to_string()),
        to: term.map(|t| t.last_day().to_string()),
        priority: none_if_empty(&filters.priority),
        q: none_if_empty(&filters.q),
        status: Some(none_if_empty(&filters.status).unwrap_or_else(|| "all".to_string())),
        ..CourseQuery::default()
    };
    let (listed, total) = match query.filter_and_paging() {
        Ok((mut filter, paging)) if errors.is_empty() => {
            if !filters.provider.is_empty() {
                filter.provider_ids = vec![filters.provider.clone()];
            }
            let found = courses::admin_courses(&state, &caller, filter, paging).await?;
            let rows: Vec<_> = found
                .items
                .into_iter()
                .map(|l| {
                    let c = l.course;
                    context! {
                        id => c.id,
                        title => c.title,
                        status => c.status,
                        status_label => status_label(&c.status),
                        when => c.first_session_display.unwrap_or_else(|| "No sessions yet".into()),
                        sessions => c.sessions_count,
                        provider => c.provider.name,
                        places => c.capacity,
                        confirmed => c.capacity - c.places_left,
                        waiting => c.waitlist_length,
                        pending => l.pending,
                    }
                })
                .collect();
            (rows, found.total)
        }
        Ok(_) => (Vec::new(), 0),
        Err(AppError::Validation(problems)) => {
            for (field, ms) in problems {
                for m in ms {
                    errors.push((field.clone(), format!("{field}: {m}")));
                }
            }
            (Vec::new(), 0)
        }
        Err(e) => return Err(e),
    };
    let pages = page_count(total, PAGE_SIZE);
    let filter_query = filter_query(&[
        ("status", filters.status.as_str()),
        ("term", filters.term.as_str()),
        ("provider", filters.provider.as_str()),
        ("priority", filters.priority.as_str()),
        ("q", filters.q.as_str()),
    ]);
    page(
        if errors.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        },
        "admin_courses.html",
        context! {
            signed_in => true,
            courses => listed,
            total,
            page_no,
            pages,
            filters,
            filter_query,
            errors => errors.iter().map(|(f, m)| context! { field => f, message => m }).collect::<Vec<_>>(),
            terms => term_choices(),
            providers => choices.providers,
            priorities => choices.priorities,
        },
    )
}

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(index);
}
