//! Administration: the audit log.

use actix_web::{get, web};
use chrono::{NaiveDate, NaiveDateTime};
use serde::Deserialize;

use crate::api::views::admin::AuditEntry;
use crate::api::views::IntoView;
use crate::app::policy::{require, Action};
use crate::app::state::AppState;
use crate::auth::Caller;
use crate::domain::paging::{Page, Paging};
use crate::error::responses::{Forbidden, Invalid, Unauthorized};
use crate::error::{AppError, AppResult};
use crate::store::audit::{self, AuditFilter};

/// Filters of the audit log.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
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
    pub limit: Option<i64>,
    /// Items to skip (default 0).
    pub offset: Option<i64>,
}

/// Reads `from`/`to`: an RFC 3339 time, or a date meaning its start (`end_of_day` false) or
/// the start of the next day (true), in UTC.
fn parse_bound(field: &str, value: &str, end_of_day: bool) -> AppResult<NaiveDateTime> {
    let value = value.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(value) {
        return Ok(t.with_timezone(&chrono::Utc).naive_utc());
    }
    if let Ok(d) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        let day = if end_of_day { d.succ_opt() } else { Some(d) };
        if let Some(t) = day.and_then(|d| d.and_hms_opt(0, 0, 0)) {
            return Ok(t);
        }
    }
    Err(AppError::invalid(
        field,
        "must be a date such as 2026-11-01 or an RFC 3339 time such as 2026-11-01T09:00:00Z",
    ))
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
    require(&caller, Action::ReadAudit)?;
    let q = query.into_inner();
    let paging = Paging::new(q.limit, q.offset).map_err(|(f, m)| AppError::invalid(f, m))?;
    let nonempty = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let filter = AuditFilter {
        action: nonempty(q.action),
        actor_id: nonempty(q.actor_id),
        subject_id: nonempty(q.subject_id),
        from: q
            .from
            .as_deref()
            .map(|v| parse_bound("from", v, false))
            .transpose()?,
        until: q
            .to
            .as_deref()
            .map(|v| parse_bound("to", v, true))
            .transpose()?,
    };
    if let (Some(from), Some(until)) = (filter.from, filter.until) {
        if until <= from {
            return Err(AppError::invalid("to", "must be after from"));
        }
    }
    let page = state
        .db(move |c| audit::list(c, &filter, paging).map_err(Into::into))
        .await?;
    Ok(web::Json(page.into_view()))
}

/// Registers the administration handlers.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_audit);
}
