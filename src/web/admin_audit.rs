//! The admin's audit log page (`/admin/audit`): the log newest first, paged, narrowed by the
//! API's filters (action, who did it, the record, from and to) in a GET form. It reads the
//! filters and the log through the same use case as `GET /api/v1/admin/audit` (`app::audit`),
//! so the page and the API list the same entries.

use actix_web::http::StatusCode;
use actix_web::{get, web, HttpResponse};
use minijinja::context;
use serde::{Deserialize, Serialize};

use crate::app::audit::{self, AuditFilterText};
use crate::app::state::AppState;
use crate::auth::MaybeCaller;
use crate::domain::course::london_start_display;
use crate::domain::paging::Paging;
use crate::error::{AppError, AppResult};
use crate::web::{filter_query, page, page_count, page_number, sign_in_first, trimmed};

/// Entries on one page of the log: few enough that a page of long rows stays under the admin
/// pages' 3,000 px at tablet width (15 entries with their details measured 3,573 px at 768 px).
const PAGE_SIZE: i64 = 10;

/// The log's filters and page, as its GET form sends them (the API's names).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditPageParams {
    /// Only this action, e.g. `role.grant`, `outbox.retry`.
    pub action: Option<String>,
    /// Only entries by this person (their id).
    pub actor_id: Option<String>,
    /// Only entries about this record (its id).
    pub subject_id: Option<String>,
    /// From this date (`2026-11-01`, UTC) or RFC 3339 time, inclusive.
    pub from: Option<String>,
    /// To this date (to its end, UTC) or RFC 3339 time (exclusive).
    pub to: Option<String>,
    /// The page, from 1.
    pub page: Option<String>,
}

/// The filters as the form shows them back.
#[derive(Serialize, Default)]
struct Filters {
    action: String,
    actor_id: String,
    subject_id: String,
    from: String,
    to: String,
}

/// The audit log (admins), newest first, with the API's filters.
#[utoipa::path(tag = "web", params(AuditPageParams), responses(
    (status = 200, description = "The audit log", content_type = "text/html", body = String),
    (status = 303, description = "Not signed in: to sign-in"),
    (status = 403, description = "Not an admin", content_type = "text/html", body = String),
    (status = 422, description = "A filter that cannot be read: the form, saying which", content_type = "text/html", body = String),
))]
#[get("/admin/audit")]
pub async fn index(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    params: web::Query<AuditPageParams>,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    let p = params.into_inner();
    let filters = Filters {
        action: trimmed(&p.action),
        actor_id: trimmed(&p.actor_id),
        subject_id: trimmed(&p.subject_id),
        from: trimmed(&p.from),
        to: trimmed(&p.to),
    };
    let page_no = page_number(p.page.as_deref());
    let paging = Paging::new(Some(PAGE_SIZE), Some((page_no - 1) * PAGE_SIZE))
        .map_err(|(f, m)| AppError::invalid(f, m))?;
    let filter = AuditFilterText {
        action: p.action,
        actor_id: p.actor_id,
        subject_id: p.subject_id,
        from: p.from,
        to: p.to,
    };
    let mut errors: Vec<minijinja::Value> = Vec::new();
    let (entries, total) = match audit::list(&state, &caller, filter, paging).await {
        Ok(found) => {
            let rows: Vec<_> = found
                .items
                .into_iter()
                .map(|e| {
                    context! {
                        id => e.id,
                        at => london_start_display(e.at),
                        at_utc => crate::domain::time::to_utc(e.at).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        actor_id => e.actor_id,
                        action => e.action,
                        subject_type => e.subject_type,
                        subject_id => e.subject_id,
                        detail => e.detail.to_string(),
                    }
                })
                .collect();
            (rows, found.total)
        }
        Err(AppError::Validation(problems)) => {
            for (field, ms) in problems {
                let label = if field == "from" { "From" } else { "To" };
                for m in ms {
                    errors.push(context! {
                        field => field.clone(),
                        message => format!("{label}: {m}"),
                    });
                }
            }
            (Vec::new(), 0)
        }
        Err(e) => return Err(e),
    };
    let pages = page_count(total, PAGE_SIZE);
    let filter_query = filter_query(&[
        ("action", filters.action.as_str()),
        ("actor_id", filters.actor_id.as_str()),
        ("subject_id", filters.subject_id.as_str()),
        ("from", filters.from.as_str()),
        ("to", filters.to.as_str()),
    ]);
    page(
        if errors.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        },
        "admin_audit.html",
        context! {
            signed_in => true,
            entries,
            total,
            page_no,
            pages,
            filters,
            filter_query,
            errors,
        },
    )
}

/// Registers the audit log page.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(index);
}
