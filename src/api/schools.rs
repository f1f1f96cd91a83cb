//! Schools: list, get, create, change, and the bulk import of a DfE "Get Information about
//! Schools" (GIAS) CSV. Read: anyone signed in. Write and import: admin.

use crate::api::extract::PathId;
use actix_web::{get, patch, post, web, HttpResponse};
use serde::Deserialize;
use validator::Validate;

use crate::api::extract::{CsvBody, ValidJson, ValidQuery};
use crate::api::reference::{not_blank, nullable, paging};
use crate::api::views::reference::{ImportReport, School};
use crate::api::views::IntoView;
use crate::app::policy::{require, Action};
use crate::app::state::AppState;
use crate::auth::Caller;
use crate::domain::paging::Page;
use crate::domain::school::Phase;
use crate::domain::text::normalise_postcode;
use crate::error::responses::{
    Conflict, Forbidden, Invalid, NotFound, Problem, Unauthorized, PROBLEM_JSON,
};
use crate::error::{AppError, AppResult};
use crate::store::schools::{
    self as store, ImportOptions, SchoolChanges, SchoolData, SchoolFilter,
};

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
    /// Words to match in the name (case-insensitive), or a URN.
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

/// Checks a postcode and returns it normalised (`s702hz` -> `S70 2HZ`); empty stays empty.
fn postcode(raw: &str) -> AppResult<String> {
    if raw.trim().is_empty() {
        return Ok(String::new());
    }
    normalise_postcode(raw)
        .ok_or_else(|| AppError::invalid("postcode", "must be a UK postcode, such as S70 2HZ"))
}

/// A new school.
#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSchool {
    /// The DfE unique reference number (unique here too).
    #[validate(range(min = 1, max = 99_999_999))]
    #[schema(minimum = 1, maximum = 99999999)]
    #[schema(example = 106600)]
    pub urn: i64,
    /// The school's name.
    #[validate(length(min = 1, max = 200), custom(function = "not_blank"))]
    #[schema(example = "Hoyland Common Primary School")]
    pub name: String,
    /// The phase.
    pub phase: Phase,
    /// The type of establishment, as GIAS names it.
    #[validate(length(max = 120))]
    #[schema(max_length = 120)]
    #[serde(default)]
    #[schema(example = "Community school")]
    pub school_type: String,
    /// The cluster it belongs to.
    pub cluster_id: Option<String>,
    /// The local authority.
    #[validate(length(max = 120))]
    #[schema(max_length = 120)]
    #[serde(default)]
    #[schema(example = "Barnsley")]
    pub local_authority: String,
    /// A UK postcode; stored normalised.
    #[validate(length(max = 16))]
    #[schema(max_length = 16)]
    #[serde(default)]
    #[schema(example = "S74 9AB")]
    pub postcode: String,
    /// Whether it is open (default true).
    #[serde(default = "open")]
    pub is_open: bool,
}

fn open() -> bool {
    true
}

/// Changes to a school; absent fields stay as they are, `"cluster_id": null` takes the school
/// out of its cluster.
#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SchoolPatch {
    /// New URN.
    #[validate(range(min = 1, max = 99_999_999))]
    #[schema(minimum = 1, maximum = 99999999)]
    pub urn: Option<i64>,
    /// New name.
    #[validate(length(min = 1, max = 200), custom(function = "not_blank"))]
    pub name: Option<String>,
    /// New phase.
    pub phase: Option<Phase>,
    /// New type of establishment.
    #[validate(length(max = 120))]
    #[schema(max_length = 120)]
    pub school_type: Option<String>,
    /// New cluster, or null for none.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub cluster_id: Option<Option<String>>,
    /// New local authority.
    #[validate(length(max = 120))]
    #[schema(max_length = 120)]
    pub local_authority: Option<String>,
    /// New postcode (empty for none).
    #[validate(length(max = 16))]
    #[schema(max_length = 16)]
    pub postcode: Option<String>,
    /// Open or closed.
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
) -> AppResult<web::Json<Page<School>>> {
    require(&caller, Action::ReadReference)?;
    let paging = paging(query.limit, query.offset)?;
    let query = query.into_inner();
    let filter = SchoolFilter {
        q: query.q,
        cluster_id: query.cluster_id,
        phase: query.phase,
        is_open: query.is_open,
    };
    Ok(web::Json(
        state
            .db(move |c| store::list_schools(c, &filter, paging))
            .await?
            .into_view(),
    ))
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
    require(&caller, Action::WriteReference)?;
    let new = body.into_inner();
    let data = SchoolData {
        urn: new.urn,
        name: new.name,
        phase: new.phase,
        school_type: new.school_type.trim().to_string(),
        cluster_id: new.cluster_id,
        local_authority: new.local_authority.trim().to_string(),
        postcode: postcode(&new.postcode)?,
        is_open: new.is_open,
    };
    let school = state.db(move |c| store::create_school(c, data)).await?;
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
    require(&caller, Action::ReadReference)?;
    let id = id.into_inner();
    Ok(web::Json(
        state
            .db(move |c| store::get_school(c, &id))
            .await?
            .into_view(),
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
    require(&caller, Action::WriteReference)?;
    let patch = body.into_inner();
    let changes = SchoolChanges {
        urn: patch.urn,
        name: patch.name,
        phase: patch.phase,
        school_type: patch.school_type.map(|t| t.trim().to_string()),
        cluster_id: patch.cluster_id,
        local_authority: patch.local_authority.map(|l| l.trim().to_string()),
        postcode: patch.postcode.as_deref().map(postcode).transpose()?,
        is_open: patch.is_open,
    };
    let id = id.into_inner();
    Ok(web::Json(
        state
            .db(move |c| store::update_school(c, &id, changes))
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
    require(&caller, Action::WriteReference)?;
    let options = ImportOptions {
        create_clusters: query.create_clusters.unwrap_or(true),
        actor_id: Some(caller.person_id.clone()),
        source: "api",
    };
    let bytes = body.0;
    let report = state
        .db(move |c| store::import_gias(c, &bytes, None, &options, &mut |_, _| {}))
        .await?;
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
