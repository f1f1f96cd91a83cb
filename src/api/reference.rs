//! Reference data: clusters, schools, staff groups, strategy priorities, providers.
//! Read: anyone signed in. Write: admin.

use actix_web::{get, patch, post, web, HttpResponse};
use serde::Deserialize;
use validator::Validate;

use crate::api::extract::ValidJson;
use crate::auth::policy::{require, Action};
use crate::auth::Caller;
use crate::domain::paging::{Page, Paging};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::reference::{self as store, Cluster, ClusterFields};

/// `limit`, `offset` and a text filter `q`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// Page size, 1 to 1000 (default 50).
    pub limit: Option<i64>,
    /// Items to skip (default 0).
    pub offset: Option<i64>,
    /// Words to match in the name (case-insensitive).
    pub q: Option<String>,
}

impl ListQuery {
    /// The checked paging, or a 422 naming the field.
    pub fn paging(&self) -> AppResult<Paging> {
        Paging::new(self.limit, self.offset).map_err(|(f, m)| AppError::invalid(f, m))
    }
}

/// A new cluster.
#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCluster {
    /// Unique name.
    #[validate(length(min = 1, max = 120))]
    #[schema(example = "Penistone")]
    pub name: String,
    /// Free description.
    #[validate(length(max = 2000))]
    #[serde(default)]
    pub description: String,
}

/// Changes to a cluster; absent fields stay as they are.
#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterPatch {
    /// New name.
    #[validate(length(min = 1, max = 120))]
    pub name: Option<String>,
    /// New description.
    #[validate(length(max = 2000))]
    pub description: Option<String>,
}

/// List clusters.
#[utoipa::path(tag = "reference", params(ListQuery), security(("bearer" = [])), responses(
    (status = 200, body = Page<Cluster>),
    (status = 401, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[get("/clusters")]
pub async fn list_clusters(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ListQuery>,
) -> AppResult<web::Json<Page<Cluster>>> {
    require(&caller, Action::ReadReference)?;
    let paging = query.paging()?;
    let q = query.into_inner().q;
    let page = state
        .db(move |c| store::list_clusters(c, q.as_deref(), paging))
        .await?;
    Ok(web::Json(page))
}

/// Create a cluster (admin).
#[utoipa::path(tag = "reference", request_body = NewCluster, security(("bearer" = [])), responses(
    (status = 201, body = Cluster),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 409, description = "Name taken", body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/clusters")]
pub async fn create_cluster(
    state: web::Data<AppState>,
    caller: Caller,
    body: ValidJson<NewCluster>,
) -> AppResult<HttpResponse> {
    require(&caller, Action::WriteReference)?;
    let new = body.into_inner();
    let cluster = state
        .db(move |c| store::create_cluster(c, &new.name, &new.description))
        .await?;
    Ok(HttpResponse::Created().json(cluster))
}

/// One cluster.
#[utoipa::path(tag = "reference", params(("id" = String, Path)), security(("bearer" = [])), responses(
    (status = 200, body = Cluster),
    (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[get("/clusters/{id}")]
pub async fn get_cluster(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> AppResult<web::Json<Cluster>> {
    require(&caller, Action::ReadReference)?;
    let id = id.into_inner();
    Ok(web::Json(
        state.db(move |c| store::get_cluster(c, &id)).await?,
    ))
}

/// Change a cluster (admin).
#[utoipa::path(tag = "reference", params(("id" = String, Path)), request_body = ClusterPatch,
    security(("bearer" = [])), responses(
    (status = 200, body = Cluster),
    (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[patch("/clusters/{id}")]
pub async fn patch_cluster(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: ValidJson<ClusterPatch>,
) -> AppResult<web::Json<Cluster>> {
    require(&caller, Action::WriteReference)?;
    let id = id.into_inner();
    let patch = body.into_inner();
    let fields = ClusterFields {
        name: patch.name,
        description: patch.description,
    };
    Ok(web::Json(
        state
            .db(move |c| store::update_cluster(c, &id, fields))
            .await?,
    ))
}

/// Registers the reference-data handlers.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_clusters)
        .service(create_cluster)
        .service(get_cluster)
        .service(patch_cluster);
}
