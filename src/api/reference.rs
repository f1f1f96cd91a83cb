//! Reference data: clusters, schools, staff groups, strategy priorities, providers.
//! Read: anyone signed in. Write: admin.

use crate::api::extract::PathId;
use actix_web::{get, patch, post, web, HttpResponse};
use serde::{Deserialize, Deserializer};
use validator::{Validate, ValidationError};

use crate::api::extract::{ValidJson, ValidQuery};
use crate::api::views::reference::{Cluster, Priority, Provider, StaffGroup};
use crate::api::views::IntoView;
use crate::app::policy::{require, Action};
use crate::app::state::AppState;
use crate::auth::Caller;
use crate::domain::paging::{Page, Paging};
use crate::domain::provider::{is_web_address, ProviderKind};
use crate::domain::text::{is_email, normalise_email};
use crate::error::responses::{
    Conflict, Forbidden, Invalid, NotFound, Problem, Unauthorized, PROBLEM_JSON,
};
use crate::error::{AppError, AppResult};
use crate::store::reference::{self as store, ClusterFields, KeyedFields, ProviderChanges};

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

/// A name must say something: not empty, not only spaces.
pub fn not_blank(value: &str) -> Result<(), ValidationError> {
    if value.trim().is_empty() {
        let mut e = ValidationError::new("blank");
        e.message = Some("must not be blank".into());
        return Err(e);
    }
    Ok(())
}

/// For PATCH fields that may be cleared: absent -> `None` (leave as it is), `null` ->
/// `Some(None)` (clear), a value -> `Some(Some(value))`. Use with `#[serde(default)]`.
pub fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
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

/// A new cluster.
#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCluster {
    /// Unique name.
    #[validate(length(min = 1, max = 120), custom(function = "not_blank"))]
    #[schema(example = "Penistone")]
    pub name: String,
    /// Free description.
    #[validate(length(max = 2000))]
    #[schema(max_length = 2000)]
    #[serde(default)]
    pub description: String,
}

/// Changes to a cluster; absent fields stay as they are.
#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterPatch {
    /// New name.
    #[validate(length(min = 1, max = 120), custom(function = "not_blank"))]
    pub name: Option<String>,
    /// New description.
    #[validate(length(max = 2000))]
    #[schema(max_length = 2000)]
    pub description: Option<String>,
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
) -> AppResult<web::Json<Page<Cluster>>> {
    require(&caller, Action::ReadReference)?;
    let paging = query.paging()?;
    let q = query.into_inner().q;
    let page = state
        .db(move |c| store::list_clusters(c, q.as_deref(), paging))
        .await?;
    Ok(web::Json(page.into_view()))
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
    require(&caller, Action::WriteReference)?;
    let new = body.into_inner();
    let cluster = state
        .db(move |c| store::create_cluster(c, &new.name, &new.description))
        .await?;
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
    require(&caller, Action::ReadReference)?;
    let id = id.into_inner();
    Ok(web::Json(
        state
            .db(move |c| store::get_cluster(c, &id))
            .await?
            .into_view(),
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
            .await?
            .into_view(),
    ))
}

// ---------------------------------------------------------------------------------------------
// Staff groups and priorities: the same shape (a stable `key`, a unique `name`, a `position`),
// so one macro writes the four handlers of each.

/// A new staff group.
#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStaffGroup {
    /// Stable slug; made from the name when absent. Cannot be changed later.
    #[validate(length(min = 1, max = 60))]
    #[schema(min_length = 1, max_length = 60)]
    #[schema(example = "hlta")]
    pub key: Option<String>,
    /// Unique name.
    #[validate(length(min = 1, max = 120), custom(function = "not_blank"))]
    #[schema(example = "Higher level teaching assistant")]
    pub name: String,
    /// Order in lists (default: last).
    #[validate(range(min = 0, max = 10000))]
    #[schema(minimum = 0, maximum = 10000)]
    pub position: Option<i32>,
}

/// Changes to a staff group; absent fields stay as they are.
#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffGroupPatch {
    /// New name.
    #[validate(length(min = 1, max = 120), custom(function = "not_blank"))]
    pub name: Option<String>,
    /// New order in lists.
    #[validate(range(min = 0, max = 10000))]
    #[schema(minimum = 0, maximum = 10000)]
    pub position: Option<i32>,
}

/// A new strategy priority.
#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPriority {
    /// Stable slug; made from the name when absent. Cannot be changed later.
    #[validate(length(min = 1, max = 60))]
    #[schema(min_length = 1, max_length = 60)]
    #[schema(example = "maths")]
    pub key: Option<String>,
    /// Unique name.
    #[validate(length(min = 1, max = 120), custom(function = "not_blank"))]
    #[schema(example = "Maths mastery")]
    pub name: String,
    /// What the priority covers.
    #[validate(length(max = 2000))]
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    /// Order in lists (default: last).
    #[validate(range(min = 0, max = 10000))]
    #[schema(minimum = 0, maximum = 10000)]
    pub position: Option<i32>,
}

/// Changes to a priority; absent fields stay as they are.
#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriorityPatch {
    /// New name.
    #[validate(length(min = 1, max = 120), custom(function = "not_blank"))]
    pub name: Option<String>,
    /// New description.
    #[validate(length(max = 2000))]
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    /// New order in lists.
    #[validate(range(min = 0, max = 10000))]
    #[schema(minimum = 0, maximum = 10000)]
    pub position: Option<i32>,
}

impl From<NewStaffGroup> for KeyedFields {
    fn from(n: NewStaffGroup) -> Self {
        KeyedFields {
            key: n.key,
            name: Some(n.name),
            position: n.position,
            description: None,
        }
    }
}

impl From<StaffGroupPatch> for KeyedFields {
    fn from(p: StaffGroupPatch) -> Self {
        KeyedFields {
            name: p.name,
            position: p.position,
            ..KeyedFields::default()
        }
    }
}

impl From<NewPriority> for KeyedFields {
    fn from(n: NewPriority) -> Self {
        KeyedFields {
            key: n.key,
            name: Some(n.name),
            position: n.position,
            description: n.description,
        }
    }
}

impl From<PriorityPatch> for KeyedFields {
    fn from(p: PriorityPatch) -> Self {
        KeyedFields {
            key: None,
            name: p.name,
            position: p.position,
            description: p.description,
        }
    }
}

macro_rules! keyed_handlers {
    (
        row: $Row:ident, new: $New:ident, patch: $Patch:ident,
        list: ($list:ident, $list_path:tt, $list_doc:tt, $store_list:ident),
        create: ($create:ident, $create_doc:tt, $store_create:ident),
        get: ($get:ident, $item_path:tt, $get_doc:tt, $store_get:ident),
        update: ($update:ident, $update_doc:tt, $store_update:ident) $(,)?
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
        ) -> AppResult<web::Json<Page<$Row>>> {
            require(&caller, Action::ReadReference)?;
            let paging = query.paging()?;
            let q = query.into_inner().q;
            Ok(web::Json(
                state.db(move |c| store::$store_list(c, q.as_deref(), paging)).await?
            .into_view(),
            ))
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
            require(&caller, Action::WriteReference)?;
            let fields = KeyedFields::from(body.into_inner());
            let row = state.db(move |c| store::$store_create(c, fields)).await?;
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
            require(&caller, Action::ReadReference)?;
            let id = id.into_inner();
            Ok(web::Json(state.db(move |c| store::$store_get(c, &id)).await?.into_view()))
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
            require(&caller, Action::WriteReference)?;
            let id = id.into_inner();
            let fields = KeyedFields::from(body.into_inner());
            Ok(web::Json(state.db(move |c| store::$store_update(c, &id, fields)).await?.into_view()))
        }
    };
}

keyed_handlers! {
    row: StaffGroup, new: NewStaffGroup, patch: StaffGroupPatch,
    list: (list_staff_groups, "/staff-groups", "List staff groups, in order.", list_staff_groups),
    create: (create_staff_group, "Create a staff group (admin).", create_staff_group),
    get: (get_staff_group, "/staff-groups/{id}", "One staff group.", get_staff_group),
    update: (patch_staff_group, "Change a staff group (admin).", update_staff_group),
}

keyed_handlers! {
    row: Priority, new: NewPriority, patch: PriorityPatch,
    list: (list_priorities, "/priorities", "List strategy priorities, in order.", list_priorities),
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

fn email_address(value: &str) -> Result<(), ValidationError> {
    if is_email(value) {
        return Ok(());
    }
    let mut e = ValidationError::new("email");
    e.message = Some("must be an email address".into());
    Err(e)
}

fn web_address(value: &str) -> Result<(), ValidationError> {
    if is_web_address(value) {
        return Ok(());
    }
    let mut e = ValidationError::new("url");
    e.message = Some("must be an http:// or https:// address".into());
    Err(e)
}

/// A new provider.
#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProviderBody {
    /// Unique name.
    #[validate(length(min = 1, max = 200), custom(function = "not_blank"))]
    #[schema(example = "Barnsley Teaching Alliance")]
    pub name: String,
    /// What kind of organisation it is.
    pub kind: ProviderKind,
    /// Where to write to them.
    #[validate(length(max = 254), custom(function = "email_address"))]
    pub email: Option<String>,
    /// Their website (http or https).
    #[validate(length(max = 500), custom(function = "web_address"))]
    pub website: Option<String>,
}

/// Changes to a provider; absent fields stay as they are, `null` clears `email` or `website`.
#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderPatch {
    /// New name.
    #[validate(length(min = 1, max = 200), custom(function = "not_blank"))]
    pub name: Option<String>,
    /// New kind.
    pub kind: Option<ProviderKind>,
    /// New email, or null for none.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    /// New website, or null for none.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub website: Option<Option<String>>,
}

impl ProviderPatch {
    // validator does not see through `Option<Option<_>>`, so the optional values are
    // checked here, with the same messages.
    fn check(&self) -> AppResult<()> {
        if let Some(Some(email)) = &self.email {
            email_address(email)
                .map_err(|_| AppError::invalid("email", "must be an email address"))?;
        }
        if let Some(Some(website)) = &self.website {
            if website.len() > 500 {
                return Err(AppError::invalid(
                    "website",
                    "must be at most 500 characters long",
                ));
            }
            web_address(website).map_err(|_| {
                AppError::invalid("website", "must be an http:// or https:// address")
            })?;
        }
        Ok(())
    }
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
) -> AppResult<web::Json<Page<Provider>>> {
    require(&caller, Action::ReadReference)?;
    let paging = paging(query.limit, query.offset)?;
    let query = query.into_inner();
    Ok(web::Json(
        state
            .db(move |c| store::list_providers(c, query.q.as_deref(), query.kind, paging))
            .await?
            .into_view(),
    ))
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
    require(&caller, Action::WriteReference)?;
    let body = body.into_inner();
    let new = store::NewProvider {
        name: body.name,
        kind: body.kind,
        email: body.email.as_deref().map(normalise_email),
        website: body.website.map(|w| w.trim().to_string()),
    };
    let provider = state.db(move |c| store::create_provider(c, new)).await?;
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
    require(&caller, Action::ReadReference)?;
    let id = id.into_inner();
    Ok(web::Json(
        state
            .db(move |c| store::get_provider(c, &id))
            .await?
            .into_view(),
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
    require(&caller, Action::WriteReference)?;
    let patch = body.into_inner();
    patch.check()?;
    let id = id.into_inner();
    let changes = ProviderChanges {
        name: patch.name,
        kind: patch.kind,
        email: patch.email.map(|e| e.as_deref().map(normalise_email)),
        website: patch.website.map(|w| w.map(|w| w.trim().to_string())),
    };
    Ok(web::Json(
        state
            .db(move |c| store::update_provider(c, &id, changes))
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
