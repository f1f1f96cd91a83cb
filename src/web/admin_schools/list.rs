//! `/admin/schools`: the alliance's schools with their cluster, phase and whether their staff
//! have booked this academic year; searched by name, URN or postcode and filtered by cluster
//! and phase (kept in the query string), paged.

use actix_web::http::StatusCode;
use actix_web::{get, web, HttpResponse};
use minijinja::context;
use serde::{Deserialize, Serialize};

use crate::app::reference;
use crate::app::schools;
use crate::app::state::AppState;
use crate::auth::MaybeCaller;
use crate::domain::paging::Paging;
use crate::domain::school::Phase;
use crate::domain::term::{academic_year_label, academic_year_of};
use crate::domain::time;
use crate::error::{AppError, AppResult};
use crate::store::schools::SchoolFilter;
use crate::web::courses::phase_label;
use crate::web::{filter_query, page, page_count, page_number, sign_in_first, trimmed};

/// Schools on one page of the list: about 1,800 px of table at desktop width.
const PAGE_SIZE: i64 = 25;

/// The list's filters and page, as its GET form sends them, and what was just done.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct SchoolListParams {
    /// Words in the name, a URN, or the start of a postcode.
    pub q: Option<String>,
    /// A cluster's id.
    pub cluster: Option<String>,
    /// A phase (`primary`, `secondary`...).
    pub phase: Option<String>,
    /// The page, from 1.
    pub page: Option<String>,
    /// `created` or `saved` after the school form.
    pub done: Option<String>,
}

/// The list's filters as the form shows them back.
#[derive(Serialize, Default)]
struct ListFilters {
    q: String,
    cluster: String,
    phase: String,
}

/// The phases as the filter and the form offer them: (value, label).
pub(super) fn phase_choices() -> Vec<(&'static str, String)> {
    Phase::ALL
        .iter()
        .map(|p| (p.as_str(), phase_label(*p)))
        .collect()
}

/// The clusters as the filter and the form offer them, by name: (id, name). An alliance has
/// a handful; 200 is far more than any has.
pub(super) async fn cluster_choices(
    state: &AppState,
    caller: &crate::domain::caller::Caller,
) -> AppResult<Vec<(String, String)>> {
    let all = Paging::new(Some(200), None).map_err(|(f, m)| AppError::invalid(f, m))?;
    Ok(reference::list_clusters(state, caller, None, all)
        .await?
        .items
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect())
}

/// The alliance's schools (admins): name, URN, cluster, phase and bookings this academic
/// year, with search, filters and paging kept in the query string.
#[utoipa::path(tag = "web", params(SchoolListParams), responses(
    (status = 200, description = "The admin's list of schools", content_type = "text/html", body = String),
    (status = 303, description = "Not signed in: to sign-in"),
    (status = 403, description = "Not an admin", content_type = "text/html", body = String),
    (status = 422, description = "An unknown phase: the list, saying so", content_type = "text/html", body = String),
))]
#[get("/admin/schools")]
pub async fn index(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    params: web::Query<SchoolListParams>,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    let p = params.into_inner();
    let filters = ListFilters {
        q: trimmed(&p.q),
        cluster: trimmed(&p.cluster),
        phase: trimmed(&p.phase),
    };
    let page_no = page_number(p.page.as_deref());
    let mut errors: Vec<minijinja::Value> = Vec::new();
    let phase = match filters.phase.as_str() {
        "" => None,
        raw => {
            match Phase::parse(raw) {
                Some(phase) => Some(phase),
                None => {
                    errors.push(context! { href => "#filter-phase", text => "Phase: choose one from the list" });
                    None
                }
            }
        }
    };
    let filter = SchoolFilter {
        q: (!filters.q.is_empty()).then(|| filters.q.clone()),
        cluster_id: (!filters.cluster.is_empty()).then(|| filters.cluster.clone()),
        phase,
        is_open: None,
    };
    let paging = Paging::new(Some(PAGE_SIZE), Some((page_no - 1) * PAGE_SIZE))
        .map_err(|(f, m)| AppError::invalid(f, m))?;
    let now = time::now();
    // The policy first, whatever the filters: someone else learns nothing from a bad one.
    let found = schools::admin_schools(&state, &caller, filter, paging, now).await?;
    let (rows, total) = if errors.is_empty() {
        let rows: Vec<_> = found
            .items
            .into_iter()
            .map(|a| {
                let s = a.school;
                context! {
                    id => s.id,
                    name => s.name,
                    urn => s.urn,
                    cluster => s.cluster.map(|c| c.name),
                    phase => phase_label(s.phase),
                    is_open => s.is_open,
                    bookings => a.bookings_this_year,
                }
            })
            .collect();
        (rows, found.total)
    } else {
        (Vec::new(), 0)
    };
    let clusters = cluster_choices(&state, &caller).await?;
    let pages = page_count(total, PAGE_SIZE);
    let filter_query = filter_query(&[
        ("q", filters.q.as_str()),
        ("cluster", filters.cluster.as_str()),
        ("phase", filters.phase.as_str()),
    ]);
    let done = match p.done.as_deref() {
        Some("created") => Some("School added."),
        Some("saved") => Some("School saved."),
        _ => None,
    };
    let year = academic_year_label(academic_year_of(time::london_local(now).date()));
    page(
        if errors.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        },
        "admin_schools.html",
        context! {
            signed_in => true,
            schools => rows,
            total,
            page_no,
            pages,
            filters,
            filter_query,
            errors,
            done,
            year,
            clusters,
            phases => phase_choices(),
        },
    )
}

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(index);
}
