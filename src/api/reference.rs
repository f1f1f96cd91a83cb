//! Reference data: clusters, schools, staff groups, strategy priorities, providers.
//! Read: anyone signed in. Write: admin.

use crate::api::extract::PathId;
use actix_web::{get, patch, post, web, HttpResponse};
use serde::Deserialize;
use validator::Validate;

use crate::api::extract::{ValidJson, ValidQuery};
use crate::api::views::reference::{Cluster, Priority, Provider, StaffGroup};
use crate::api::views::IntoView;
use crate::app::reference as app;
pub use crate::app::reference::{
    not_blank, nullable, ClusterPatch, NewCluster, NewPriority, NewProviderBody, NewStaffGroup,
    PriorityPatch, ProviderPatch, StaffGroupPatch,
};
use crate::app::state::AppState;
use crate::auth::Caller;
use crate::domain::paging::{Page, Paging};
use crate::domain::provider::ProviderKind;
use crate::error::responses::{
    Conflict, Forbidden, Invalid, NotFound, Problem, Unauthorized, PROBLEM_JSON,
};
use crate::error::{AppError, AppResult};

/// `limit`, `offset` and a text filter `q`.
#[derive(Debug, Deserialize, Validate, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size, 1 to 1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// Items to skip (default 0).
    #[param(minimum = 0)]
    pub offset: Option<i64>,
    /// Words to match in the name (case-insensitive).
    #[validate(length(max = 200))]
    #[param(max_length = 200)]
    pub q: Option<String>,
}

impl ListQuery {
    /// The checked paging, or a 422 naming the field.
    pub fn paging(&self) -> AppResult<Paging> {
        paging(self.limit, self.offset)
    }
}

/// Checks `limit` and `offset` from a query string; a 422 names the field.
pub fn paging(limit: Option<i64>, offset: Option<i64>) -> AppResult<Paging> {
    Paging::new(limit, offset).map_err(|(f, m)| AppError::invalid(f, m))
}

/// List clusters.
#[utoipa::path(tag = "reference", params(ListQuery), security(("bearer" = [])), responses(
    (status = 200, body = Page<Cluster>),
    Unauthorized,
    Invalid,
))]
#[get("/clusters")]
pub async fn list_clusters(
    state: web::Data<AppState>,
    caller: Caller,
    query: ValidQuery<ListQuery>,
) -> AppResult<HttpResponse> {
    let paging = query.paging()?;
    let q = query.into_inner().q;
    let encode = |page: Page<_>| app::json_bytes(&page.into_view() as &Page<Cluster>);
    let body = app::list_clusters_json(&state, &caller, q, paging, encode).await?;
    Ok(json_response(body))
}

/// A kept JSON body as a 200 response, as `web::Json` would have sent it.
pub fn json_response(body: web::Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(actix_web::http::header::ContentType::json())
        .body(body)
}

/// Create a cluster (admin).
#[utoipa::path(tag = "reference", request_body = NewCluster, security(("bearer" = [])), responses(
    (status = 201, body = Cluster),
    Forbidden,
    (status = 409, description = "Name taken", body = Problem, content_type = PROBLEM_JSON),
    Invalid,
))]
#[post("/clusters")]
pub async fn create_cluster(
    state: web::Data<AppState>,
    caller: Caller,
    body: ValidJson<NewCluster>,
) -> AppResult<HttpResponse> {
    let cluster = app::create_cluster(&state, &caller, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(Cluster::from(cluster)))
}

/// One cluster.
#[utoipa::path(tag = "reference", params(("id" = String, Path)), security(("bearer" = [])), responses(
    (status = 200, body = Cluster),
    NotFound,
))]
#[get("/clusters/{id}")]
pub async fn get_cluster(
    state: web::Data<AppState>,
    caller: Caller,
    id: PathId,
) -> AppResult<web::Json<Cluster>> {
    Ok(web::Json(
        app::get_cluster(&state, &caller, &id).await?.into_view(),
    ))
}

/// Change a cluster (admin).
#[utoipa::path(tag = "reference", params(("id" = String, Path)), request_body = ClusterPatch,
    security(("bearer" = [])), responses(
    (status = 200, body = Cluster),
    NotFound,
    Conflict,
    Invalid,
))]
#[patch("/clusters/{id}")]
pub async fn patch_cluster(
    state: web::Data<AppState>,
    caller: Caller,
    id: PathId,
    body: ValidJson<ClusterPatch>,
) -> AppResult<web::Json<Cluster>> {
    Ok(web::Json(
        app::update_cluster(&state, &caller, &id, body.into_inner())
            .await?
            .into_view(),
    ))
}

// ---------------------------------------------------------------------------------------------
// Staff groups and priorities: the same shape (a stable `key`, a unique `name`, a `position`),
// so one macro writes the four handlers of each.

macro_rules! keyed_handlers {
    (
        row: $Row:ident, new: $New:ident, patch: $Patch:ident,
        list: ($list:ident, $list_path:tt, $list_doc:tt, $app_list:ident),
        list_json: $app_list_json:ident,
        create: ($create:ident, $create_doc:tt, $app_create:ident),
        get: ($get:ident, $item_path:tt, $get_doc:tt, $app_get:ident),
        update: ($update:ident, $update_doc:tt, $app_update:ident) $(,)?
    ) => {
        #[doc = $list_doc]
        #[utoipa::path(tag = "reference", params(ListQuery), security(("bearer" = [])), responses(
            (status = 200, body = Page<$Row>),
            Unauthorized,
            Invalid,
        ))]
        #[get($list_path)]
        pub async fn $list(
            state: web::Data<AppState>,
            caller: Caller,
            query: ValidQuery<ListQuery>,
        ) -> AppResult<HttpResponse> {
            let paging = query.paging()?;
            let q = query.into_inner().q;
            let encode = |page: Page<_>| app::json_bytes(&page.into_view() as &Page<$Row>);
            let body = app::$app_list_json(&state, &caller, q, paging, encode).await?;
            Ok(json_response(body))
        }

        #[doc = $create_doc]
        #[utoipa::path(tag = "reference", request_body = $New, security(("bearer" = [])), responses(
            (status = 201, body = $Row),
            Forbidden,
            (status = 409, description = "Key or name taken (`duplicate_key`, `duplicate_name`)",
             body = Problem, content_type = PROBLEM_JSON),
            Invalid,
        ))]
        #[post($list_path)]
        pub async fn $create(
            state: web::Data<AppState>,
            caller: Caller,
            body: ValidJson<$New>,
        ) -> AppResult<HttpResponse> {
            let row = app::$app_create(&state, &caller, body.into_inner()).await?;
            Ok(HttpResponse::Created().json($Row::from(row)))
        }

        #[doc = $get_doc]
        #[utoipa::path(tag = "reference", params(("id" = String, Path)), security(("bearer" = [])), responses(
            (status = 200, body = $Row),
            NotFound,
        ))]
        #[get($item_path)]
        pub async fn $get(
            state: web::Data<AppState>,
            caller: Caller,
            id: PathId,
        ) -> AppResult<web::Json<$Row>> {
            Ok(web::Json(app::$app_get(&state, &caller, &id).await?.into_view()))
        }

        #[doc = $update_doc]
        #[utoipa::path(tag = "reference", params(("id" = String, Path)), request_body = $Patch,
            security(("bearer" = [])), responses(
            (status = 200, body = $Row),
            NotFound,
            Conflict,
            Invalid,
        ))]
        #[patch($item_path)]
        pub async fn $update(
            state: web::Data<AppState>,
            caller: Caller,
            id: PathId,
            body: ValidJson<$Patch>,
        ) -> AppResult<web::Json<$Row>> {
            let patch = body.into_inner();
            Ok(web::Json(app::$app_update(&state, &caller, &id, patch).await?.into_view()))
        }
    };
}

keyed_handlers! {
    row: StaffGroup, new: NewStaffGroup, patch: StaffGroupPatch,
    list: (list_staff_groups, "/staff-groups", "List staff groups, in order.", list_staff_groups),
    list_json: list_staff_groups_json,
    create: (create_staff_group, "Create a staff group (admin).", create_staff_group),
    get: (get_staff_group, "/staff-groups/{id}", "One staff group.", get_staff_group),
    update: (patch_staff_group, "Change a staff group (admin).", update_staff_group),
}

keyed_handlers! {
    row: Priority, new: NewPriority, patch: PriorityPatch,
    list: (list_priorities, "/priorities", "List strategy priorities, in order.", list_priorities),
    list_json: list_priorities_json,
    create: (create_priority, "Create a strategy priority (admin).", create_priority),
    get: (get_priority, "/priorities/{id}", "One strategy priority.", get_priority),
    update: (patch_priority, "Change a strategy priority (admin).", update_priority),
}

// ---------------------------------------------------------------------------------------------
// Providers

/// Provider filters.
#[derive(Debug, Deserialize, Validate, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProviderQuery {
    /// Page size, 1 to 1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// Items to skip (default 0).
    #[param(minimum = 0)]
    pub offset: Option<i64>,
    /// Words to match in the name (case-insensitive).
    #[validate(length(max = 200))]
    #[param(max_length = 200)]
    pub q: Option<String>,
    /// Only providers of this kind.
    pub kind: Option<ProviderKind>,
}

/// List providers.
#[utoipa::path(tag = "reference", params(ProviderQuery), security(("bearer" = [])), responses(
    (status = 200, body = Page<Provider>),
    Unauthorized,
    Invalid,
))]
#[get("/providers")]
pub async fn list_providers(
    state: web::Data<AppState>,
    caller: Caller,
    query: ValidQuery<ProviderQuery>,
) -> AppResult<HttpResponse> {
    let paging = paging(query.limit, query.offset)?;
    let query = query.into_inner();
    let encode = |page: Page<_>| app::json_bytes(&page.into_view() as &Page<Provider>);
    let body =
        app::list_providers_json(&state, &caller, query.q, query.kind, paging, encode).await?;
    Ok(json_response(body))
}

/// Create a provider (admin).
#[utoipa::path(tag = "reference", request_body = NewProviderBody, security(("bearer" = [])), responses(
    (status = 201, body = Provider),
    Forbidden,
    (status = 409, description = "Name taken (`duplicate_name`)", body = Problem,
     content_type = PROBLEM_JSON),
    Invalid,
))]
#[post("/providers")]
pub async fn create_provider(
    state: web::Data<AppState>,
    caller: Caller,
    body: ValidJson<NewProviderBody>,
) -> AppResult<HttpResponse> {
    let provider = app::create_provider(&state, &caller, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(Provider::from(provider)))
}

/// One provider.
#[utoipa::path(tag = "reference", params(("id" = String, Path)), security(("bearer" = [])), responses(
    (status = 200, body = Provider),
    NotFound,
))]
#[get("/providers/{id}")]
pub async fn get_provider(
    state: web::Data<AppState>,
    caller: Caller,
    id: PathId,
) -> AppResult<web::Json<Provider>> {
    Ok(web::Json(
        app::get_provider(&state, &caller, &id).await?.into_view(),
    ))
}

/// Change a provider (admin).
#[utoipa::path(tag = "reference", params(("id" = String, Path)), request_body = ProviderPatch,
    security(("bearer" = [])), responses(
    (status = 200, body = Provider),
    NotFound,
    Conflict,
    Invalid,
))]
#[patch("/providers/{id}")]
pub async fn patch_provider(
    state: web::Data<AppState>,
    caller: Caller,
    id: PathId,
    body: ValidJson<ProviderPatch>,
) -> AppResult<web::Json<Provider>> {
    Ok(web::Json(
        app::update_provider(&state, &caller, &id, body.into_inner())
            .await?
            .into_view(),
    ))
}

/// Registers the reference-data handlers (schools are in [`super::schools`]).
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_clusters)
        .service(create_cluster)
        .service(get_cluster)
        .service(patch_cluster)
        .service(list_staff_groups)
        .service(create_staff_group)
        .service(get_staff_group)
        .service(patch_staff_group)
        .service(list_priorities)
        .service(create_priority)
        .service(get_priority)
        .service(patch_priority)
        .service(list_providers)
        .service(create_provider)
        .service(get_provider)
        .service(patch_provider);
}
