//! The email outbox, for admins: what is queued, sent, skipped or failed, and a retry for
//! failed messages.

use crate::api::extract::PathId;
use actix_web::{get, post, web};
use serde::Deserialize;

use crate::api::views::admin::OutboxEntry;
use crate::api::views::IntoView;
use crate::app::outbox;
use crate::app::state::AppState;
use crate::auth::Caller;
use crate::domain::notification::DeliveryStatus;
use crate::domain::paging::{Page, Paging};
use crate::error::responses::{Forbidden, Invalid, NotFound, Problem, Unauthorized, PROBLEM_JSON};
use crate::error::{AppError, AppResult};
use crate::store::outbox::OutboxFilter;

/// `status`, `limit`, `offset`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OutboxQuery {
    /// Only messages in this status: `pending`, `sending`, `sent`, `failed` or `skipped`.
    pub status: Option<String>,
    /// Page size, 1 to 1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// Items to skip (default 0).
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

/// List queued and delivered email, newest first (admin). The payload is not shown.
#[utoipa::path(tag = "admin", params(OutboxQuery), security(("bearer" = [])), responses(
    (status = 200, body = Page<OutboxEntry>),
    Unauthorized,
    Forbidden,
    Invalid,
))]
#[get("/admin/outbox")]
pub async fn list_outbox(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<OutboxQuery>,
) -> AppResult<web::Json<Page<OutboxEntry>>> {
    let paging =
        Paging::new(query.limit, query.offset).map_err(|(f, m)| AppError::invalid(f, m))?;
    let status = match query.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(DeliveryStatus::parse(s).ok_or_else(|| {
            AppError::invalid(
                "status",
                "must be one of pending, sending, sent, failed, skipped",
            )
        })?),
    };
    let filter = OutboxFilter {
        statuses: status.into_iter().collect(),
        sent_since: None,
    };
    let page = outbox::list(&state, &caller, filter, paging).await?;
    Ok(web::Json(page.into_view()))
}

/// Queue a failed message again for a fresh round of tries (admin).
#[utoipa::path(tag = "admin", params(("id" = String, Path)), security(("bearer" = [])), responses(
    (status = 200, description = "Queued again", body = OutboxEntry),
    Forbidden,
    NotFound,
    (status = 409, description = "The message has not failed (`not_failed`), or is a sign-in email whose link was removed (`link_removed`)", body = Problem,
     content_type = PROBLEM_JSON),
))]
#[post("/admin/outbox/{id}/retry")]
pub async fn retry_outbox(
    state: web::Data<AppState>,
    caller: Caller,
    id: PathId,
) -> AppResult<web::Json<OutboxEntry>> {
    let entry = outbox::retry(&state, &caller, &id).await?;
    Ok(web::Json(entry.into_view()))
}

/// Registers the outbox endpoints.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_outbox).service(retry_outbox);
}
