//! The school form (`/admin/schools/new`, `/admin/schools/{id}/edit`): the fields of
//! `POST /api/v1/schools`, saved through `app::schools`; a refusal shows the form again with
//! the API's messages beside the fields and everything typed kept.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use minijinja::context;
use serde::{Deserialize, Serialize};
use validator::Validate;

use crate::app::schools::{self as schools, NewSchool, SchoolPatch};
use crate::app::state::AppState;
use crate::auth::MaybeCaller;
use crate::domain::caller::Caller;
use crate::domain::school::Phase;
use crate::error::responses::CrossSite;
use crate::error::{AppError, AppResult};
use crate::store::schools::School;
use crate::web::{html_not_found, page, see_other, sign_in_first};

use super::list::{cluster_choices, phase_choices};
use super::{error_views, given, problem, refusal, Problems};

/// The form's fields, named as in `POST /api/v1/schools`.
#[derive(Debug, Default, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct SchoolFormFields {
    /// The DfE URN.
    pub urn: Option<String>,
    /// The school's name.
    pub name: Option<String>,
    /// The phase (`primary`...).
    pub phase: Option<String>,
    /// The type of establishment.
    pub school_type: Option<String>,
    /// The cluster's id, or empty for none.
    pub cluster_id: Option<String>,
    /// The local authority.
    pub local_authority: Option<String>,
    /// The postcode.
    pub postcode: Option<String>,
    /// `true` when the "open" box is ticked (absent: closed).
    pub is_open: Option<String>,
}

impl SchoolFormFields {
    fn of(s: &School) -> Self {
        SchoolFormFields {
            urn: Some(s.urn.to_string()),
            name: Some(s.name.clone()),
            phase: Some(s.phase.as_str().to_string()),
            school_type: Some(s.school_type.clone()),
            cluster_id: s.cluster.as_ref().map(|c| c.id.clone()),
            local_authority: Some(s.local_authority.clone()),
            postcode: Some(s.postcode.clone()),
            is_open: s.is_open.then(|| "true".to_string()),
        }
    }

    fn blank() -> Self {
        SchoolFormFields {
            is_open: Some("true".into()),
            ..SchoolFormFields::default()
        }
    }

    /// The values as the API would receive them; the text a JSON body could not carry (a URN
    /// that is not a number, an unknown phase) is a problem named as the API names it.
    fn read(&self) -> Result<NewSchool, Problems> {
        let mut p = Problems::new();
        let urn = match given(&self.urn) {
            None => {
                problem(&mut p, "urn", "is required");
                0
            }
            Some(u) => u.parse::<i64>().unwrap_or_else(|_| {
                problem(&mut p, "urn", "must be a whole number");
                0
            }),
        };
        let phase = match given(&self.phase) {
            None => {
                problem(&mut p, "phase", "is required");
                Phase::Other
            }
            Some(raw) => Phase::parse(&raw).unwrap_or_else(|| {
                problem(&mut p, "phase", "choose one from the list");
                Phase::Other
            }),
        };
        let new = NewSchool {
            // A stand-in where the URN cannot be read, so the other fields are still checked.
            urn: if p.contains_key("urn") { 1 } else { urn },
            // Untrimmed, so a name of spaces gets the API's "must not be blank".
            name: self.name.clone().unwrap_or_default(),
            phase,
            school_type: self.school_type.clone().unwrap_or_default(),
            cluster_id: given(&self.cluster_id),
            local_authority: self.local_authority.clone().unwrap_or_default(),
            postcode: self.postcode.clone().unwrap_or_default(),
            is_open: self.is_open.is_some(),
        };
        if p.is_empty() {
            return Ok(new);
        }
        // Every mistake at once: the API's checks of the fields that could be read too.
        if let Err(AppError::Validation(more)) = new.validate().map_err(AppError::from) {
            for (field, messages) in more {
                p.entry(field).or_insert(messages);
            }
        }
        Err(p)
    }
}

/// Every field of the form as a change, so the school becomes what the form shows.
fn patch_of(new: NewSchool) -> SchoolPatch {
    SchoolPatch {
        urn: Some(new.urn),
        name: Some(new.name),
        phase: Some(new.phase),
        school_type: Some(new.school_type),
        cluster_id: Some(new.cluster_id),
        local_authority: Some(new.local_authority),
        postcode: Some(new.postcode),
        is_open: Some(new.is_open),
    }
}

async fn render(
    state: &AppState,
    caller: &Caller,
    status: StatusCode,
    school: Option<&School>,
    form: &SchoolFormFields,
    problems: &Problems,
) -> AppResult<HttpResponse> {
    let (summary, field_errors) = error_views(problems);
    let clusters = cluster_choices(state, caller).await?;
    let action = match school {
        Some(s) => format!("/admin/schools/{}/edit", s.id),
        None => "/admin/schools/new".to_string(),
    };
    page(
        status,
        "admin_school_form.html",
        context! {
            signed_in => true,
            school => school.map(|s| context! { id => s.id, name => s.name, urn => s.urn }),
            action,
            form,
            errors => summary,
            field_errors,
            clusters,
            phases => phase_choices(),
        },
    )
}

/// Saves the form through the use case: where to go next, or the problems to show.
async fn save(
    state: &AppState,
    caller: &Caller,
    school: Option<&School>,
    form: &SchoolFormFields,
) -> AppResult<Result<String, Problems>> {
    let new = match form.read() {
        Ok(new) => new,
        Err(p) => return Ok(Err(p)),
    };
    let result = match school {
        None => schools::create_school(state, caller, new)
            .await
            .map(|s| ("created", s)),
        Some(s) => schools::update_school(state, caller, &s.id, patch_of(new))
            .await
            .map(|s| ("saved", s)),
    };
    match result {
        // Back to the list, found by its URN, so the row shows what was saved.
        Ok((done, s)) => Ok(Ok(format!("/admin/schools?q={}&done={done}", s.urn))),
        Err(e) => refusal(e).map(Err),
    }
}

async fn post_form(
    state: &AppState,
    caller: &Caller,
    school: Option<&School>,
    form: SchoolFormFields,
) -> AppResult<HttpResponse> {
    match save(state, caller, school, &form).await? {
        Ok(to) => Ok(see_other(&to)),
        Err(problems) => {
            render(
                state,
                caller,
                StatusCode::UNPROCESSABLE_ENTITY,
                school,
                &form,
                &problems,
            )
            .await
        }
    }
}

/// The form for a new school (admins).
#[utoipa::path(tag = "web", responses(
    (status = 200, description = "The new school form", content_type = "text/html", body = String),
    (status = 303, description = "Not signed in: to sign-in"),
    (status = 403, description = "Not an admin", content_type = "text/html", body = String),
))]
#[get("/admin/schools/new")]
pub async fn new_form(state: web::Data<AppState>, caller: MaybeCaller) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    // The policy first: the form is for those who may save it.
    crate::app::policy::require(&caller, crate::app::policy::Action::WriteReference)?;
    render(
        &state,
        &caller,
        StatusCode::OK,
        None,
        &SchoolFormFields::blank(),
        &Problems::new(),
    )
    .await
}

/// Adds a school (`app::schools::create_school`, as `POST /api/v1/schools`), then shows it in
/// the list; or the form again with the API's field errors.
#[utoipa::path(tag = "web",
    request_body(content = SchoolFormFields, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Added: to the list, showing the school"),
        (status = 403, description = "Not an admin", content_type = "text/html", body = String),
        (status = 422, description = "The form again, with every problem", content_type = "text/html", body = String),
        CrossSite,
))]
#[post("/admin/schools/new")]
pub async fn create(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    form: web::Form<SchoolFormFields>,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    post_form(&state, &caller, None, form.into_inner()).await
}

/// The form for changing a school (admins).
#[utoipa::path(tag = "web", params(("id" = String, Path, description = "The school")), responses(
    (status = 200, description = "The school form", content_type = "text/html", body = String),
    (status = 303, description = "Not signed in: to sign-in"),
    (status = 403, description = "Not an admin", content_type = "text/html", body = String),
    (status = 404, description = "No such school", content_type = "text/html", body = String),
))]
#[get("/admin/schools/{id}/edit")]
pub async fn edit_form(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    html_not_found(
        async {
            let school = schools::admin_school(&state, &caller, &id).await?;
            let form = SchoolFormFields::of(&school);
            render(
                &state,
                &caller,
                StatusCode::OK,
                Some(&school),
                &form,
                &Problems::new(),
            )
            .await
        }
        .await,
    )
}

/// Saves a school (`app::schools::update_school`, as `PATCH /api/v1/schools/{id}` with every
/// field), then shows it in the list; or the form again with the API's field errors.
#[utoipa::path(tag = "web", params(("id" = String, Path, description = "The school")),
    request_body(content = SchoolFormFields, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Saved: to the list, showing the school"),
        (status = 403, description = "Not an admin", content_type = "text/html", body = String),
        (status = 404, description = "No such school", content_type = "text/html", body = String),
        (status = 422, description = "The form again, with every problem", content_type = "text/html", body = String),
        CrossSite,
))]
#[post("/admin/schools/{id}/edit")]
pub async fn update(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    id: web::Path<String>,
    form: web::Form<SchoolFormFields>,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    html_not_found(
        async {
            let school = schools::admin_school(&state, &caller, &id).await?;
            post_form(&state, &caller, Some(&school), form.into_inner()).await
        }
        .await,
    )
}

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(new_form)
        .service(create)
        .service(edit_form)
        .service(update);
}
