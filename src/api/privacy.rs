//! UK GDPR rights: a person's data export (subject access).

use crate::api::extract::PathId;
use actix_web::{get, web};

use crate::api::views::export::PersonExport;
use crate::api::views::IntoView;
use crate::app::state::AppState;
use crate::auth::Caller;
use crate::error::responses::{Problem, Unauthorized, PROBLEM_JSON};
use crate::error::AppResult;

/// Everything cpd-hub holds about a person, as JSON (self, their school's lead, admin).
/// The export is itself recorded in the audit log.
#[utoipa::path(tag = "people", params(("id" = String, Path)), security(("bearer" = [])), responses(
    (status = 200, body = PersonExport),
    Unauthorized,
    (status = 404, description = "No such person, or one the caller may not see", body = Problem, content_type = PROBLEM_JSON),
))]
#[get("/people/{id}/export")]
pub async fn export_person(
    state: web::Data<AppState>,
    caller: Caller,
    id: PathId,
) -> AppResult<web::Json<PersonExport>> {
    let data = crate::app::people::export(&state, &caller, &id).await?;
    Ok(web::Json(data.into_view()))
}

/// Registers the UK GDPR handlers.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(export_person);
}
