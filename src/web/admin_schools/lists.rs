//! The short lists courses and people refer to, one page each on the API's own names:
//! `/admin/clusters`, `/admin/providers`, `/admin/priorities` and `/admin/staff-groups`.
//! Each lists its entries (paged), adds one from a form on the same page and renames one on
//! its own form (`.../{id}/edit`), through the use cases behind `POST` and `PATCH` of
//! `/api/v1/clusters` and the like (`app::reference`). One page per list rather than one page
//! of four sections: each stays short as it grows (paged on its own), its address says what
//! it holds, and a mistake in one add form never re-renders the other three.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use minijinja::context;
use serde::{Deserialize, Serialize};
use validator::Validate;

use crate::app::policy::{require, Action};
use crate::app::reference::{
    self as reference, ClusterPatch, NewCluster, NewPriority, NewProviderBody, NewStaffGroup,
    PriorityPatch, ProviderPatch, StaffGroupPatch,
};
use crate::app::state::AppState;
use crate::auth::MaybeCaller;
use crate::domain::caller::Caller;
use crate::domain::paging::{Page, Paging};
use crate::domain::provider::ProviderKind;
use crate::error::responses::CrossSite;
use crate::error::{AppError, AppResult};
use crate::web::{html_not_found, page, page_count, page_number, see_other, sign_in_first};

use super::{error_views, given, problem, refusal, Problems};

/// Entries on one page of a list: with the add form, under 3,000 px at desktop width even
/// when every entry has a line of detail (about 65 px a row).
const PAGE_SIZE: i64 = 20;

/// Which list a page is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Clusters of schools.
    Clusters,
    /// Who delivers courses.
    Providers,
    /// The alliance's strategy priorities.
    Priorities,
    /// Staff groups.
    StaffGroups,
}

impl Kind {
    fn path(self) -> &'static str {
        match self {
            Kind::Clusters => "/admin/clusters",
            Kind::Providers => "/admin/providers",
            Kind::Priorities => "/admin/priorities",
            Kind::StaffGroups => "/admin/staff-groups",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Kind::Clusters => "Clusters",
            Kind::Providers => "Providers",
            Kind::Priorities => "Strategy priorities",
            Kind::StaffGroups => "Staff groups",
        }
    }

    /// One entry, in a sentence ("Add a cluster").
    fn one(self) -> &'static str {
        match self {
            Kind::Clusters => "cluster",
            Kind::Providers => "provider",
            Kind::Priorities => "priority",
            Kind::StaffGroups => "staff group",
        }
    }

    /// Several entries ("9 clusters").
    fn many(self) -> &'static str {
        match self {
            Kind::Clusters => "clusters",
            Kind::Providers => "providers",
            Kind::Priorities => "priorities",
            Kind::StaffGroups => "staff groups",
        }
    }

    fn intro(self) -> &'static str {
        match self {
            Kind::Clusters => {
                "The groups of neighbouring schools that meet together. Each school belongs to \
                 one; reports compare them, and a course may be run for one."
            }
            Kind::Providers => "Who delivers courses: each course names its provider.",
            Kind::Priorities => {
                "The alliance's strategic priorities. Courses are tagged with them, and the \
                 reports group by them."
            }
            Kind::StaffGroups => {
                "The roles people have in school. Courses may be aimed at some of them, and the \
                 reports group bookings by them."
            }
        }
    }

    fn has_description(self) -> bool {
        matches!(self, Kind::Clusters | Kind::Priorities)
    }
}

fn kind_label(k: ProviderKind) -> &'static str {
    match k {
        ProviderKind::TeachingAlliance => "Teaching alliance or hub",
        ProviderKind::LocalAuthority => "Local authority",
        ProviderKind::School => "One of the alliance's schools",
        ProviderKind::External => "Someone else",
    }
}

/// A list's page and what was just done.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct ListParams {
    /// The page, from 1.
    pub page: Option<String>,
    /// `added` or `renamed`.
    pub done: Option<String>,
}

/// The add and rename forms' fields, named as in the API's bodies; each list uses those it
/// has (`description` for clusters and priorities; `kind`, `email` and `website` for
/// providers).
#[derive(Debug, Default, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct ListFormFields {
    /// The name.
    pub name: Option<String>,
    /// What it covers (clusters, priorities).
    pub description: Option<String>,
    /// A provider's kind (`teaching_alliance`, `local_authority`, `school`, `external`).
    pub kind: Option<String>,
    /// A provider's email address.
    pub email: Option<String>,
    /// A provider's website.
    pub website: Option<String>,
}

/// An entry as a list shows it.
#[derive(Serialize)]
struct Item {
    id: String,
    name: String,
    /// A line under the name: a description, or a provider's kind and addresses.
    detail: String,
}

fn provider_detail(p: &crate::store::reference::Provider) -> String {
    let mut parts = vec![kind_label(p.kind).to_string()];
    parts.extend(p.email.clone());
    parts.extend(p.website.clone());
    parts.join(" · ")
}

async fn items(
    state: &AppState,
    caller: &Caller,
    kind: Kind,
    paging: Paging,
) -> AppResult<Page<Item>> {
    let item = |id: String, name: String, detail: String| Item { id, name, detail };
    Ok(match kind {
        Kind::Clusters => {
            let p = reference::list_clusters(state, caller, None, paging).await?;
            Page {
                total: p.total,
                items: p
                    .items
                    .into_iter()
                    .map(|c| item(c.id, c.name, c.description))
                    .collect(),
            }
        }
        Kind::Providers => {
            let p = reference::list_providers(state, caller, None, None, paging).await?;
            Page {
                total: p.total,
                items: p
                    .items
                    .into_iter()
                    .map(|x| {
                        let detail = provider_detail(&x);
                        item(x.id, x.name, detail)
                    })
                    .collect(),
            }
        }
        Kind::Priorities => {
            let p = reference::list_priorities(state, caller, None, paging).await?;
            Page {
                total: p.total,
                items: p
                    .items
                    .into_iter()
                    .map(|x| item(x.id, x.name, x.description))
                    .collect(),
            }
        }
        Kind::StaffGroups => {
            let p = reference::list_staff_groups(state, caller, None, paging).await?;
            Page {
                total: p.total,
                items: p
                    .items
                    .into_iter()
                    .map(|x| item(x.id, x.name, String::new()))
                    .collect(),
            }
        }
    })
}

/// One entry and its fields as the rename form shows them.
async fn entry(
    state: &AppState,
    caller: &Caller,
    kind: Kind,
    id: &str,
) -> AppResult<(String, ListFormFields)> {
    Ok(match kind {
        Kind::Clusters => {
            let c = reference::get_cluster(state, caller, id).await?;
            let form = ListFormFields {
                name: Some(c.name.clone()),
                description: Some(c.description),
                ..ListFormFields::default()
            };
            (c.name, form)
        }
        Kind::Providers => {
            let p = reference::get_provider(state, caller, id).await?;
            let form = ListFormFields {
                name: Some(p.name.clone()),
                kind: Some(p.kind.as_str().to_string()),
                email: p.email,
                website: p.website,
                ..ListFormFields::default()
            };
            (p.name, form)
        }
        Kind::Priorities => {
            let p = reference::get_priority(state, caller, id).await?;
            let form = ListFormFields {
                name: Some(p.name.clone()),
                description: Some(p.description),
                ..ListFormFields::default()
            };
            (p.name, form)
        }
        Kind::StaffGroups => {
            let g = reference::get_staff_group(state, caller, id).await?;
            let form = ListFormFields {
                name: Some(g.name.clone()),
                ..ListFormFields::default()
            };
            (g.name, form)
        }
    })
}

/// A provider's kind from the form: a problem named `kind` when missing or unknown.
fn provider_kind(form: &ListFormFields, p: &mut Problems) -> ProviderKind {
    match given(&form.kind).as_deref().map(ProviderKind::parse) {
        Some(Some(k)) => k,
        Some(None) => {
            problem(p, "kind", "choose one from the list");
            ProviderKind::External
        }
        None => {
            problem(p, "kind", "is required");
            ProviderKind::External
        }
    }
}

/// The API's checks of a body whose other fields could not be read, added to `p`, so every
/// mistake shows at once.
fn also_check(body: &impl Validate, p: &mut Problems) {
    if let Err(AppError::Validation(more)) = body.validate().map_err(AppError::from) {
        for (field, messages) in more {
            p.entry(field).or_insert(messages);
        }
    }
}

/// Adds an entry through the use case: `Err` with the problems to show.
async fn add_entry(
    state: &AppState,
    caller: &Caller,
    kind: Kind,
    form: &ListFormFields,
) -> AppResult<Result<(), Problems>> {
    // Untrimmed, so a name of spaces gets the API's "must not be blank".
    let name = form.name.clone().unwrap_or_default();
    let description = form.description.clone().unwrap_or_default();
    let result = match kind {
        Kind::Clusters => {
            let new = NewCluster { name, description };
            reference::create_cluster(state, caller, new)
                .await
                .map(drop)
        }
        Kind::Priorities => {
            let new = NewPriority {
                key: None,
                name,
                description: Some(description),
                position: None,
            };
            reference::create_priority(state, caller, new)
                .await
                .map(drop)
        }
        Kind::StaffGroups => {
            let new = NewStaffGroup {
                key: None,
                name,
                position: None,
            };
            reference::create_staff_group(state, caller, new)
                .await
                .map(drop)
        }
        Kind::Providers => {
            let mut p = Problems::new();
            let new = NewProviderBody {
                kind: provider_kind(form, &mut p),
                name,
                email: given(&form.email),
                website: given(&form.website),
            };
            if !p.is_empty() {
                require(caller, Action::WriteReference)?;
                also_check(&new, &mut p);
                return Ok(Err(p));
            }
            reference::create_provider(state, caller, new)
                .await
                .map(drop)
        }
    };
    match result {
        Ok(()) => Ok(Ok(())),
        Err(e) => refusal(e).map(Err),
    }
}

/// Renames (and changes) an entry through the use case: `Err` with the problems to show.
async fn rename_entry(
    state: &AppState,
    caller: &Caller,
    kind: Kind,
    id: &str,
    form: &ListFormFields,
) -> AppResult<Result<(), Problems>> {
    let name = Some(form.name.clone().unwrap_or_default());
    let description = Some(form.description.clone().unwrap_or_default());
    let result = match kind {
        Kind::Clusters => {
            let patch = ClusterPatch { name, description };
            reference::update_cluster(state, caller, id, patch)
                .await
                .map(drop)
        }
        Kind::Priorities => {
            let patch = PriorityPatch {
                name,
                description,
                position: None,
            };
            reference::update_priority(state, caller, id, patch)
                .await
                .map(drop)
        }
        Kind::StaffGroups => {
            let patch = StaffGroupPatch {
                name,
                position: None,
            };
            reference::update_staff_group(state, caller, id, patch)
                .await
                .map(drop)
        }
        Kind::Providers => {
            let mut p = Problems::new();
            let patch = ProviderPatch {
                name,
                kind: Some(provider_kind(form, &mut p)),
                email: Some(given(&form.email)),
                website: Some(given(&form.website)),
            };
            if !p.is_empty() {
                require(caller, Action::WriteReference)?;
                also_check(&patch, &mut p);
                return Ok(Err(p));
            }
            reference::update_provider(state, caller, id, patch)
                .await
                .map(drop)
        }
    };
    match result {
        Ok(()) => Ok(Ok(())),
        Err(e) => refusal(e).map(Err),
    }
}

fn provider_kinds() -> Vec<(&'static str, &'static str)> {
    ProviderKind::ALL
        .iter()
        .map(|k| (k.as_str(), kind_label(*k)))
        .collect()
}

fn kind_view(kind: Kind) -> minijinja::Value {
    context! {
        path => kind.path(),
        title => kind.title(),
        one => kind.one(),
        many => kind.many(),
        intro => kind.intro(),
        has_description => kind.has_description(),
        is_provider => kind == Kind::Providers,
    }
}

/// The list page: its entries, and the add form (blank, or as posted with its problems).
async fn list_page(
    state: &AppState,
    caller: &Caller,
    kind: Kind,
    params: &ListParams,
    status: StatusCode,
    form: &ListFormFields,
    problems: &Problems,
) -> AppResult<HttpResponse> {
    require(caller, Action::WriteReference)?;
    let page_no = page_number(params.page.as_deref());
    let paging = Paging::new(Some(PAGE_SIZE), Some((page_no - 1) * PAGE_SIZE))
        .map_err(|(f, m)| AppError::invalid(f, m))?;
    let found = items(state, caller, kind, paging).await?;
    let (summary, field_errors) = error_views(problems);
    let done = match params.done.as_deref() {
        Some("added") => Some(format!("The {} was added.", kind.one())),
        Some("renamed") => Some(format!("The {} was saved.", kind.one())),
        _ => None,
    };
    page(
        status,
        "admin_list.html",
        context! {
            signed_in => true,
            kind => kind_view(kind),
            items => found.items,
            total => found.total,
            page_no,
            pages => page_count(found.total, PAGE_SIZE),
            form,
            errors => summary,
            field_errors,
            done,
            provider_kinds => provider_kinds(),
        },
    )
}

async fn rename_page(
    status: StatusCode,
    kind: Kind,
    id: &str,
    name: &str,
    form: &ListFormFields,
    problems: &Problems,
) -> AppResult<HttpResponse> {
    let (summary, field_errors) = error_views(problems);
    page(
        status,
        "admin_list_item.html",
        context! {
            signed_in => true,
            kind => kind_view(kind),
            id,
            name,
            form,
            errors => summary,
            field_errors,
            provider_kinds => provider_kinds(),
        },
    )
}

/// A list page (admins).
pub async fn list(
    state: &AppState,
    caller: MaybeCaller,
    kind: Kind,
    params: ListParams,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    list_page(
        state,
        &caller,
        kind,
        &params,
        StatusCode::OK,
        &ListFormFields::default(),
        &Problems::new(),
    )
    .await
}

/// Adds an entry from the list page's form; back to the list, or the list again with the
/// API's field errors beside the form's fields.
pub async fn add(
    state: &AppState,
    caller: MaybeCaller,
    kind: Kind,
    form: ListFormFields,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    match add_entry(state, &caller, kind, &form).await? {
        Ok(()) => Ok(see_other(&format!("{}?done=added", kind.path()))),
        Err(problems) => {
            list_page(
                state,
                &caller,
                kind,
                &ListParams::default(),
                StatusCode::UNPROCESSABLE_ENTITY,
                &form,
                &problems,
            )
            .await
        }
    }
}

/// The rename form of one entry (admins).
pub async fn rename_form(
    state: &AppState,
    caller: MaybeCaller,
    kind: Kind,
    id: &str,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    html_not_found(
        async {
            require(&caller, Action::WriteReference)?;
            let (name, form) = entry(state, &caller, kind, id).await?;
            rename_page(StatusCode::OK, kind, id, &name, &form, &Problems::new()).await
        }
        .await,
    )
}

/// Saves the rename form; back to the list, or the form again with the API's field errors.
pub async fn rename(
    state: &AppState,
    caller: MaybeCaller,
    kind: Kind,
    id: &str,
    form: ListFormFields,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    html_not_found(
        async {
            require(&caller, Action::WriteReference)?;
            let (name, _) = entry(state, &caller, kind, id).await?;
            match rename_entry(state, &caller, kind, id, &form).await? {
                Ok(()) => Ok(see_other(&format!("{}?done=renamed", kind.path()))),
                Err(problems) => {
                    rename_page(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        kind,
                        id,
                        &name,
                        &form,
                        &problems,
                    )
                    .await
                }
            }
        }
        .await,
    )
}

/// The four routes of one list, each documented.
macro_rules! list_pages {
    (
        kind: $kind:expr, module: $module:ident,
        list: ($list_path:tt, $list_doc:tt),
        add: $add_doc:tt,
        item: ($item_path:tt, $form_doc:tt, $save_doc:tt) $(,)?
    ) => {
        mod $module {
            use super::*;

            #[doc = $list_doc]
            #[utoipa::path(tag = "web", params(ListParams), responses(
                (status = 200, description = "The list and its add form", content_type = "text/html", body = String),
                (status = 303, description = "Not signed in: to sign-in"),
                (status = 403, description = "Not an admin", content_type = "text/html", body = String),
            ))]
            #[get($list_path)]
            pub async fn show(
                state: web::Data<AppState>,
                caller: MaybeCaller,
                params: web::Query<ListParams>,
            ) -> AppResult<HttpResponse> {
                list(&state, caller, $kind, params.into_inner()).await
            }

            #[doc = $add_doc]
            #[utoipa::path(tag = "web",
                request_body(content = ListFormFields, content_type = "application/x-www-form-urlencoded"),
                responses(
                    (status = 303, description = "Added: to the list"),
                    (status = 403, description = "Not an admin", content_type = "text/html", body = String),
                    (status = 422, description = "The list again, with the form's problems", content_type = "text/html", body = String),
                    CrossSite,
            ))]
            #[post($list_path)]
            pub async fn create(
                state: web::Data<AppState>,
                caller: MaybeCaller,
                form: web::Form<ListFormFields>,
            ) -> AppResult<HttpResponse> {
                add(&state, caller, $kind, form.into_inner()).await
            }

            #[doc = $form_doc]
            #[utoipa::path(tag = "web", params(("id" = String, Path)), responses(
                (status = 200, description = "The rename form", content_type = "text/html", body = String),
                (status = 303, description = "Not signed in: to sign-in"),
                (status = 403, description = "Not an admin", content_type = "text/html", body = String),
                (status = 404, description = "No such entry", content_type = "text/html", body = String),
            ))]
            #[get($item_path)]
            pub async fn edit(
                state: web::Data<AppState>,
                caller: MaybeCaller,
                id: web::Path<String>,
            ) -> AppResult<HttpResponse> {
                rename_form(&state, caller, $kind, &id).await
            }

            #[doc = $save_doc]
            #[utoipa::path(tag = "web", params(("id" = String, Path)),
                request_body(content = ListFormFields, content_type = "application/x-www-form-urlencoded"),
                responses(
                    (status = 303, description = "Saved: to the list"),
                    (status = 403, description = "Not an admin", content_type = "text/html", body = String),
                    (status = 404, description = "No such entry", content_type = "text/html", body = String),
                    (status = 422, description = "The form again, with every problem", content_type = "text/html", body = String),
                    CrossSite,
            ))]
            #[post($item_path)]
            pub async fn save(
                state: web::Data<AppState>,
                caller: MaybeCaller,
                id: web::Path<String>,
                form: web::Form<ListFormFields>,
            ) -> AppResult<HttpResponse> {
                rename(&state, caller, $kind, &id, form.into_inner()).await
            }

            pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
                cfg.service(show).service(create).service(edit).service(save);
            }
        }
    };
}

list_pages! {
    kind: Kind::Clusters, module: clusters,
    list: ("/admin/clusters", "The clusters, with a form to add one (admins)."),
    add: "Adds a cluster (`app::reference::create_cluster`, as `POST /api/v1/clusters`).",
    item: ("/admin/clusters/{id}/edit", "A cluster's rename form (admins).",
        "Renames a cluster (`app::reference::update_cluster`, as `PATCH /api/v1/clusters/{id}`)."),
}

list_pages! {
    kind: Kind::Providers, module: providers,
    list: ("/admin/providers", "The providers, with a form to add one (admins)."),
    add: "Adds a provider (`app::reference::create_provider`, as `POST /api/v1/providers`).",
    item: ("/admin/providers/{id}/edit", "A provider's form (admins).",
        "Renames or changes a provider (`app::reference::update_provider`, as `PATCH /api/v1/providers/{id}`)."),
}

list_pages! {
    kind: Kind::Priorities, module: priorities,
    list: ("/admin/priorities", "The strategy priorities, with a form to add one (admins)."),
    add: "Adds a priority (`app::reference::create_priority`, as `POST /api/v1/priorities`).",
    item: ("/admin/priorities/{id}/edit", "A priority's rename form (admins).",
        "Renames a priority (`app::reference::update_priority`, as `PATCH /api/v1/priorities/{id}`)."),
}

list_pages! {
    kind: Kind::StaffGroups, module: staff_groups,
    list: ("/admin/staff-groups", "The staff groups, with a form to add one (admins)."),
    add: "Adds a staff group (`app::reference::create_staff_group`, as `POST /api/v1/staff-groups`).",
    item: ("/admin/staff-groups/{id}/edit", "A staff group's rename form (admins).",
        "Renames a staff group (`app::reference::update_staff_group`, as `PATCH /api/v1/staff-groups/{id}`)."),
}

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    clusters::configure(cfg);
    providers::configure(cfg);
    priorities::configure(cfg);
    staff_groups::configure(cfg);
}
