//! Reference data: clusters, staff groups, strategy priorities and providers (schools are in
//! [`super::schools`]). Reading is for anyone signed in, writing for admins. The JSON handlers
//! (`api::reference`) and the admin's list pages (`web::admin_lists`) both call these, so a
//! name added on a page passes the same policy, checks and transaction as one added through
//! the API. Each writing use case checks its input again (`validate`), so every front door
//! gives the same 422s.

use actix_web::web::Bytes;
use serde::{Deserialize, Deserializer, Serialize};
use validator::{Validate, ValidationError};

use crate::app::policy::{require, Action};
use crate::app::state::AppState;
use crate::domain::caller::Caller;
use crate::domain::paging::{Page, Paging};
use crate::domain::provider::{is_web_address, ProviderKind};
use crate::domain::text::{is_email, normalise_email};
use crate::error::{AppError, AppResult};
use crate::store::reference::{
    self as store, Cluster, ClusterFields, KeyedFields, Priority, Provider, ProviderChanges,
    StaffGroup,
};

/// The largest encoded list kept: a bigger page (up to 1,000 schools) is made per request.
const KEEP_MAX_BYTES: usize = 128 * 1024;

/// A reference list's response body: the JSON `encode` makes of what `read` returns, kept in
/// the process by `key` (the list and its normalised query) under the reference generation,
/// so a repeated read costs one single-row read and a copy of the bytes. The generation is
/// read before the list, so a kept body is never older than the generation it is kept under,
/// and a change made by any copy of the service shows on the next request. Every reader may
/// see every reference list in full, so one body serves all callers; the caller's permission
/// is still checked on every request.
pub async fn kept_list<T, R, E>(
    state: &AppState,
    caller: &Caller,
    key: String,
    read: R,
    encode: E,
) -> AppResult<Bytes>
where
    R: FnOnce(&mut crate::db::DbConn) -> AppResult<T> + Send + 'static,
    E: FnOnce(T) -> Bytes + Send + 'static,
{
    require(caller, Action::ReadReference)?;
    let caches = state.caches.clone();
    state
        .db(move |c| {
            let generation = store::reference_generation(c)?;
            caches.reference.get_or_make(
                &key,
                generation,
                // Reference lists have no maximum age: the generation alone decides.
                std::time::Instant::now(),
                |body| body.len() <= KEEP_MAX_BYTES,
                || read(c).map(encode),
            )
        })
        .await
}

/// `value` as JSON bytes, for [`kept_list`]'s `encode`.
pub fn json_bytes<T: Serialize>(value: &T) -> Bytes {
    // A view of plain strings, numbers and dates always encodes.
    Bytes::from(serde_json::to_vec(value).unwrap_or_default())
}

/// The clusters' list response for `q` and `paging` ([`kept_list`]).
pub async fn list_clusters_json(
    state: &AppState,
    caller: &Caller,
    q: Option<String>,
    paging: Paging,
    encode: impl FnOnce(Page<Cluster>) -> Bytes + Send + 'static,
) -> AppResult<Bytes> {
    let key = format!("clusters {q:?} {} {}", paging.limit, paging.offset);
    let read = move |c: &mut crate::db::DbConn| store::list_clusters(c, q.as_deref(), paging);
    kept_list(state, caller, key, read, encode).await
}

/// The staff groups' list response for `q` and `paging` ([`kept_list`]).
pub async fn list_staff_groups_json(
    state: &AppState,
    caller: &Caller,
    q: Option<String>,
    paging: Paging,
    encode: impl FnOnce(Page<StaffGroup>) -> Bytes + Send + 'static,
) -> AppResult<Bytes> {
    let key = format!("staff_groups {q:?} {} {}", paging.limit, paging.offset);
    let read = move |c: &mut crate::db::DbConn| store::list_staff_groups(c, q.as_deref(), paging);
    kept_list(state, caller, key, read, encode).await
}

/// The strategy priorities' list response for `q` and `paging` ([`kept_list`]).
pub async fn list_priorities_json(
    state: &AppState,
    caller: &Caller,
    q: Option<String>,
    paging: Paging,
    encode: impl FnOnce(Page<Priority>) -> Bytes + Send + 'static,
) -> AppResult<Bytes> {
    let key = format!("priorities {q:?} {} {}", paging.limit, paging.offset);
    let read = move |c: &mut crate::db::DbConn| store::list_priorities(c, q.as_deref(), paging);
    kept_list(state, caller, key, read, encode).await
}

/// The providers' list response for `q`, `kind` and `paging` ([`kept_list`]).
pub async fn list_providers_json(
    state: &AppState,
    caller: &Caller,
    q: Option<String>,
    kind: Option<ProviderKind>,
    paging: Paging,
    encode: impl FnOnce(Page<Provider>) -> Bytes + Send + 'static,
) -> AppResult<Bytes> {
    let key = format!(
        "providers {q:?} {kind:?} {} {}",
        paging.limit, paging.offset
    );
    let read =
        move |c: &mut crate::db::DbConn| store::list_providers(c, q.as_deref(), kind, paging);
    kept_list(state, caller, key, read, encode).await
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

// ---------------------------------------------------------------------------------------------
// Clusters

/// A new cluster.
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCluster {
    /// Unique name.
    #[validate(length(min = 1, max = 120), custom(function = "not_blank"))]
    #[schema(example = "Penistone")]
    pub name: String,
    /// Free description.
    #[validate(length(max = 2000))]
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub description: String,
}

/// Changes to a cluster; absent fields stay as they are.
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
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

// ---------------------------------------------------------------------------------------------
// Staff groups and priorities

/// A new staff group.
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStaffGroup {
    /// Stable slug; made from the name when absent. Cannot be changed later.
    #[validate(length(min = 1, max = 60))]
    #[schema(example = "hlta")]
    #[schema(min_length = 1, max_length = 60)]
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
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
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
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPriority {
    /// Stable slug; made from the name when absent. Cannot be changed later.
    #[validate(length(min = 1, max = 60))]
    #[schema(example = "maths")]
    #[schema(min_length = 1, max_length = 60)]
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
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
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

// ---------------------------------------------------------------------------------------------
// Providers

/// An email address, or the API's message for one that is not.
pub fn email_address(value: &str) -> Result<(), ValidationError> {
    if is_email(value) {
        return Ok(());
    }
    let mut e = ValidationError::new("email");
    e.message = Some("must be an email address".into());
    Err(e)
}

/// An http(s) address, or the API's message for one that is not.
pub fn web_address(value: &str) -> Result<(), ValidationError> {
    if is_web_address(value) {
        return Ok(());
    }
    let mut e = ValidationError::new("url");
    e.message = Some("must be an http:// or https:// address".into());
    Err(e)
}

/// A new provider.
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
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
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
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
    /// Checks the values that may be cleared.
    pub fn check(&self) -> AppResult<()> {
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

// ---------------------------------------------------------------------------------------------
// The use cases

/// Clusters by name, matching `q` in the name (anyone signed in).
pub async fn list_clusters(
    state: &AppState,
    caller: &Caller,
    q: Option<String>,
    paging: Paging,
) -> AppResult<Page<Cluster>> {
    require(caller, Action::ReadReference)?;
    state
        .db(move |c| store::list_clusters(c, q.as_deref(), paging))
        .await
}

/// One cluster (anyone signed in; 404 when there is none).
pub async fn get_cluster(state: &AppState, caller: &Caller, id: &str) -> AppResult<Cluster> {
    require(caller, Action::ReadReference)?;
    let id = id.to_string();
    state.db(move |c| store::get_cluster(c, &id)).await
}

/// Creates a cluster (admin); 409 `duplicate_name` when the name is taken.
pub async fn create_cluster(
    state: &AppState,
    caller: &Caller,
    new: NewCluster,
) -> AppResult<Cluster> {
    require(caller, Action::WriteReference)?;
    new.validate()?;
    state
        .db(move |c| store::create_cluster(c, &new.name, &new.description))
        .await
}

/// Changes a cluster (admin): absent fields stay as they are; 404, 409 `duplicate_name`.
pub async fn update_cluster(
    state: &AppState,
    caller: &Caller,
    id: &str,
    patch: ClusterPatch,
) -> AppResult<Cluster> {
    require(caller, Action::WriteReference)?;
    patch.validate()?;
    let id = id.to_string();
    let fields = ClusterFields {
        name: patch.name,
        description: patch.description,
    };
    state
        .db(move |c| store::update_cluster(c, &id, fields))
        .await
}

/// Staff groups in order, matching `q` in the name or key (anyone signed in).
pub async fn list_staff_groups(
    state: &AppState,
    caller: &Caller,
    q: Option<String>,
    paging: Paging,
) -> AppResult<Page<StaffGroup>> {
    require(caller, Action::ReadReference)?;
    state
        .db(move |c| store::list_staff_groups(c, q.as_deref(), paging))
        .await
}

/// One staff group (anyone signed in; 404 when there is none).
pub async fn get_staff_group(state: &AppState, caller: &Caller, id: &str) -> AppResult<StaffGroup> {
    require(caller, Action::ReadReference)?;
    let id = id.to_string();
    state.db(move |c| store::get_staff_group(c, &id)).await
}

/// Creates a staff group (admin); its key is made from the name when absent; 409
/// `duplicate_key` or `duplicate_name`.
pub async fn create_staff_group(
    state: &AppState,
    caller: &Caller,
    new: NewStaffGroup,
) -> AppResult<StaffGroup> {
    require(caller, Action::WriteReference)?;
    new.validate()?;
    let fields = KeyedFields::from(new);
    state
        .db(move |c| store::create_staff_group(c, fields))
        .await
}

/// Changes a staff group (admin); 404, 409 `duplicate_name`.
pub async fn update_staff_group(
    state: &AppState,
    caller: &Caller,
    id: &str,
    patch: StaffGroupPatch,
) -> AppResult<StaffGroup> {
    require(caller, Action::WriteReference)?;
    patch.validate()?;
    let (id, fields) = (id.to_string(), KeyedFields::from(patch));
    state
        .db(move |c| store::update_staff_group(c, &id, fields))
        .await
}

/// Strategy priorities in order, matching `q` in the name or key (anyone signed in).
pub async fn list_priorities(
    state: &AppState,
    caller: &Caller,
    q: Option<String>,
    paging: Paging,
) -> AppResult<Page<Priority>> {
    require(caller, Action::ReadReference)?;
    state
        .db(move |c| store::list_priorities(c, q.as_deref(), paging))
        .await
}

/// One strategy priority (anyone signed in; 404 when there is none).
pub async fn get_priority(state: &AppState, caller: &Caller, id: &str) -> AppResult<Priority> {
    require(caller, Action::ReadReference)?;
    let id = id.to_string();
    state.db(move |c| store::get_priority(c, &id)).await
}

/// Creates a strategy priority (admin); its key is made from the name when absent; 409
/// `duplicate_key` or `duplicate_name`.
pub async fn create_priority(
    state: &AppState,
    caller: &Caller,
    new: NewPriority,
) -> AppResult<Priority> {
    require(caller, Action::WriteReference)?;
    new.validate()?;
    let fields = KeyedFields::from(new);
    state.db(move |c| store::create_priority(c, fields)).await
}

/// Changes a strategy priority (admin); 404, 409 `duplicate_name`.
pub async fn update_priority(
    state: &AppState,
    caller: &Caller,
    id: &str,
    patch: PriorityPatch,
) -> AppResult<Priority> {
    require(caller, Action::WriteReference)?;
    patch.validate()?;
    let (id, fields) = (id.to_string(), KeyedFields::from(patch));
    state
        .db(move |c| store::update_priority(c, &id, fields))
        .await
}

/// Providers by name, matching `q` in the name, of one `kind` if given (anyone signed in).
pub async fn list_providers(
    state: &AppState,
    caller: &Caller,
    q: Option<String>,
    kind: Option<ProviderKind>,
    paging: Paging,
) -> AppResult<Page<Provider>> {
    require(caller, Action::ReadReference)?;
    state
        .db(move |c| store::list_providers(c, q.as_deref(), kind, paging))
        .await
}

/// One provider (anyone signed in; 404 when there is none).
pub async fn get_provider(state: &AppState, caller: &Caller, id: &str) -> AppResult<Provider> {
    require(caller, Action::ReadReference)?;
    let id = id.to_string();
    state.db(move |c| store::get_provider(c, &id)).await
}

/// Creates a provider (admin), its email address normalised; 409 `duplicate_name`.
pub async fn create_provider(
    state: &AppState,
    caller: &Caller,
    new: NewProviderBody,
) -> AppResult<Provider> {
    require(caller, Action::WriteReference)?;
    new.validate()?;
    let new = store::NewProvider {
        name: new.name,
        kind: new.kind,
        email: new.email.as_deref().map(normalise_email),
        website: new.website.map(|w| w.trim().to_string()),
    };
    state.db(move |c| store::create_provider(c, new)).await
}

/// Changes a provider (admin): absent fields stay as they are, `Some(None)` clears the email
/// or website; 404, 409 `duplicate_name`.
pub async fn update_provider(
    state: &AppState,
    caller: &Caller,
    id: &str,
    patch: ProviderPatch,
) -> AppResult<Provider> {
    require(caller, Action::WriteReference)?;
    patch.validate()?;
    patch.check()?;
    let id = id.to_string();
    let changes = ProviderChanges {
        name: patch.name,
        kind: patch.kind,
        email: patch.email.map(|e| e.as_deref().map(normalise_email)),
        website: patch.website.map(|w| w.map(|w| w.trim().to_string())),
    };
    state
        .db(move |c| store::update_provider(c, &id, changes))
        .await
}
