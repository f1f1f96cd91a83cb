//! Schools: list, get, create, change, and the bulk import of a DfE "Get Information about
//! Schools" (GIAS) CSV. Read: anyone signed in. Write and import: admin.

use crate::api::extract::PathId;
use actix_web::{get, patch, post, web, HttpResponse};
use serde::Deserialize;
use validator::Validate;

use crate::api::extract::{CsvBody, ValidJson, ValidQuery};
use crate::api::reference::paging;
use crate::api::views::reference::{ImportReport, School};
use crate::api::views::IntoView;
use crate::app::schools::{self as app, ImportSource};
pub use crate::app::schools::{NewSchool, SchoolPatch};
use crate::app::state::AppState;
use crate::auth::Caller;
use crate::domain::paging::Page;
use crate::domain::school::Phase;
use crate::error::responses::{
    Conflict, Forbidden, Invalid, NotFound, Problem, Unauthorized, PROBLEM_JSON,
};
use crate::error::AppResult;
use crate::store::schools::SchoolFilter;

/// School filters.
#[derive(Debug, Deserialize, Validate, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SchoolQuery {
    /// Page size, 1 to 1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// Items to skip (default 0).
    #[param(minimum = 0)]
    pub offset: Option<i64>,
    /// Words to match in the name (case-insensitive), a URN, or the start of a postcode
    /// (`S70`, `s70 2hz`).
    #[validate(length(max = 200))]
    #[param(max_length = 200)]
    pub q: Option<String>,
    /// Only schools in this cluster.
    pub cluster_id: Option<String>,
    /// Only schools of this phase.
    pub phase: Option<Phase>,
    /// Only open (`true`) or closed (`false`) schools.
    pub is_open: Option<bool>,
}

/// Import options.
#[derive(Debug, Deserialize, Validate, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// Create clusters named in a `Cluster` column that do not exist yet (default true);
    /// when false, such lines are rejected.
    pub create_clusters: Option<bool>,
}

/// List schools, with their clusters.
#[utoipa::path(tag = "reference", params(SchoolQuery), security(("bearer" = [])), responses(
    (status = 200, body = Page<School>),
    Unauthorized,
    Invalid,
))]
#[get("/schools")]
pub async fn list_schools(
    state: web::Data<AppState>,
    caller: Caller,
    query: ValidQuery<SchoolQuery>,
) -> AppResult<HttpResponse> {
    let paging = paging(query.limit, query.offset)?;
    let query = query.into_inner();
    let filter = SchoolFilter {
        q: query.q,
        cluster_id: query.cluster_id,
        phase: query.phase,
        is_open: query.is_open,
    };
    let encode =
        |page: Page<_>| crate::app::reference::json_bytes(&page.into_view() as &Page<School>);
    let body = app::list_schools_json(&state, &caller, filter, paging, encode).await?;
    Ok(crate::api::reference::json_response(body))
}

/// Create a school (admin).
#[utoipa::path(tag = "reference", request_body = NewSchool, security(("bearer" = [])), responses(
    (status = 201, body = School),
    Forbidden,
    (status = 409, description = "URN taken (`duplicate_urn`)", body = Problem,
     content_type = PROBLEM_JSON),
    (status = 422, description = "Invalid field, or unknown `cluster_id`", body = Problem,
     content_type = PROBLEM_JSON),
))]
#[post("/schools")]
pub async fn create_school(
    state: web::Data<AppState>,
    caller: Caller,
    body: ValidJson<NewSchool>,
) -> AppResult<HttpResponse> {
    let school = app::create_school(&state, &caller, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(School::from(school)))
}

/// One school.
#[utoipa::path(tag = "reference", params(("id" = String, Path)), security(("bearer" = [])), responses(
    (status = 200, body = School),
    NotFound,
))]
#[get("/schools/{id}")]
pub async fn get_school(
    state: web::Data<AppState>,
    caller: Caller,
    id: PathId,
) -> AppResult<web::Json<School>> {
    Ok(web::Json(
        app::get_school(&state, &caller, &id).await?.into_view(),
    ))
}

/// Change a school (admin).
#[utoipa::path(tag = "reference", params(("id" = String, Path)), request_body = SchoolPatch,
    security(("bearer" = [])), responses(
    (status = 200, body = School),
    NotFound,
    Conflict,
    Invalid,
))]
#[patch("/schools/{id}")]
pub async fn patch_school(
    state: web::Data<AppState>,
    caller: Caller,
    id: PathId,
    body: ValidJson<SchoolPatch>,
) -> AppResult<web::Json<School>> {
    Ok(web::Json(
        app::update_school(&state, &caller, &id, body.into_inner())
            .await?
            .into_view(),
    ))
}

/// Import schools from a DfE "Get Information about Schools" establishment CSV (admin).
///
/// Upserts by URN. Reads the columns `URN`, `EstablishmentName`, `TypeOfEstablishment (name)`,
/// `EstablishmentStatus (name)`, `PhaseOfEducation (name)`, `LA (name)`, `Postcode` and an
/// optional `Cluster` (clusters are matched by name, case-insensitively); other columns are
/// ignored. UTF-8 or Windows-1252 (as GIAS downloads are). Bad lines are listed in `rejected`
/// with their line number and reason; the other lines are imported.
#[utoipa::path(tag = "reference", params(ImportQuery),
    request_body(content = String, content_type = "text/csv", description = "A GIAS establishment CSV"),
    security(("bearer" = [])), responses(
    (status = 200, body = ImportReport),
    Forbidden,
    (status = 415, description = "Not text/csv", body = Problem, content_type = PROBLEM_JSON),
    (status = 422, description = "The file as a whole cannot be used (`errors.file`)", body = Problem,
     content_type = PROBLEM_JSON),
))]
#[post("/schools/import")]
pub async fn import_schools(
    state: web::Data<AppState>,
    caller: Caller,
    query: ValidQuery<ImportQuery>,
    body: CsvBody,
) -> AppResult<web::Json<ImportReport>> {
    let create_clusters = query.create_clusters.unwrap_or(true);
    let report =
        app::import_schools(&state, &caller, body.0, create_clusters, ImportSource::Api).await?;
    Ok(web::Json(report.into_view()))
}

/// Registers the school handlers.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_schools)
        .service(create_school)
        .service(import_schools)
        .service(get_school)
        .service(patch_school);
}
