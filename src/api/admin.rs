//! Administration: the audit log.

use actix_web::{get, web};
use serde::Deserialize;

use crate::api::views::admin::AuditEntry;
use crate::api::views::IntoView;
use crate::app::audit::{self, AuditFilterText};
use crate::app::state::AppState;
use crate::auth::Caller;
use crate::domain::paging::{Page, Paging};
use crate::error::responses::{Forbidden, Invalid, Unauthorized};
use crate::error::{AppError, AppResult};

/// Filters of the audit log.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this action, e.g. `role.grant`, `person.erase`, `schools.import`.
    pub action: Option<String>,
    /// Only entries by this person.
    pub actor_id: Option<String>,
    /// Only entries about this record.
    pub subject_id: Option<String>,
    /// From this time (RFC 3339) or date (`2026-11-01`, from its start), inclusive.
    pub from: Option<String>,
    /// To this time (RFC 3339, exclusive) or date (to its end, inclusive).
    pub to: Option<String>,
    /// Page size, 1 to 1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// Items to skip (default 0).
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

/// The audit log (admin): role changes, overrides, erasures, imports, cancellations, token
/// creation. Newest first.
#[utoipa::path(tag = "admin", params(AuditQuery), security(("bearer" = [])), responses(
    (status = 200, body = Page<AuditEntry>),
    Unauthorized,
    Forbidden,
    Invalid,
))]
#[get("/admin/audit")]
pub async fn list_audit(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<AuditQuery>,
) -> AppResult<web::Json<Page<AuditEntry>>> {
    let q = query.into_inner();
    let paging = Paging::new(q.limit, q.offset).map_err(|(f, m)| AppError::invalid(f, m))?;
    let filter = AuditFilterText {
        action: q.action,
        actor_id: q.actor_id,
        subject_id: q.subject_id,
        from: q.from,
        to: q.to,
    };
    let page = audit::list(&state, &caller, filter, paging).await?;
    Ok(web::Json(page.into_view()))
}

/// Registers the administration handlers.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_audit);
}
