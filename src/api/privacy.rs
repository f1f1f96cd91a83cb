//! UK GDPR rights: a person's data export (subject access).

use crate::api::extract::PathId;
use actix_web::{get, web};

use crate::api::views::export::PersonExport;
use crate::api::views::IntoView;
use crate::app::policy::{require_visible, Action};
use crate::app::state::AppState;
use crate::auth::Caller;
use crate::error::responses::{Problem, Unauthorized, PROBLEM_JSON};
use crate::error::AppResult;
use crate::store::export;

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
    let id = id.into_inner();
    let person_id = id.clone();
    let school_id = state.db(move |c| export::school_of(c, &person_id)).await?;
    require_visible(
        &caller,
        Action::ExportPerson {
            person_id: &id,
            school_id: school_id.as_deref(),
        },
    )?;
    let actor = caller.person_id;
    let data = state
        .db(move |c| {
            crate::db::write_tx(c, |c| {
                crate::store::audit::record(
                    c,
                    Some(&actor),
                    "person.export",
                    "person",
                    Some(&id),
                    serde_json::json!({}),
                )?;
                export::person_export(c, &id)
            })
        })
        .await?;
    Ok(web::Json(data.into_view()))
}

/// Registers the UK GDPR handlers.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(export_person);
}
