//! The person form (`/admin/people/new`, `/admin/people/{id}/edit`): name, email, school,
//! staff group and roles, as `POST /api/v1/people` and `PATCH /api/v1/people/{id}` take them.
//! Saving goes through `app::people`; its 422 and 409 answers come back as the form again
//! with an error summary, each message beside its field and everything typed kept.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use minijinja::context;
use serde::{Deserialize, Serialize};

use crate::app::people::{self as people, Choices, NewPersonInput, PersonEdit};
use crate::app::state::AppState;
use crate::auth::MaybeCaller;
use crate::domain::caller::Caller;
use crate::domain::roles::Role;
use crate::error::responses::CrossSite;
use crate::error::AppResult;
use crate::store::people::Person;
use crate::web::{html_not_found, page, see_other, sign_in_first};

use super::{error_views, refusal, role_label, Problems, GIVEN_ROLES};

/// The form's fields, as documented (the form is read by hand: `roles` repeats).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PersonFormFields {
    /// Full name.
    pub name: String,
    /// Email address.
    pub email: String,
    /// A school's id, or empty for none.
    pub school_id: Option<String>,
    /// A staff group's id, or empty for none.
    pub staff_group_id: Option<String>,
    /// Roles beyond `staff`, repeated: `school_lead`, `course_lead`, `cpd_group`, `admin`.
    pub roles: Option<String>,
}

/// The form as typed, every field kept as text so it can be shown back whatever it holds.
#[derive(Clone, Debug, Default, Serialize)]
struct PersonForm {
    name: String,
    email: String,
    school_id: String,
    staff_group_id: String,
    roles: Vec<String>,
}

impl PersonForm {
    fn of(p: &Person) -> Self {
        PersonForm {
            name: p.name.clone(),
            email: p.email.clone(),
            school_id: p.school.as_ref().map(|s| s.id.clone()).unwrap_or_default(),
            staff_group_id: p
                .staff_group
                .as_ref()
                .map(|g| g.id.clone())
                .unwrap_or_default(),
            roles: p.roles.iter().map(|r| r.as_str().to_string()).collect(),
        }
    }

    fn read(body: &[u8]) -> Self {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
        let mut f = PersonForm::default();
        for (k, v) in pairs {
            match k.as_str() {
                "name" => f.name = v,
                "email" => f.email = v,
                "school_id" => f.school_id = v,
                "staff_group_id" => f.staff_group_id = v,
                "roles" => f.roles.push(v),
                _ => {}
            }
        }
        f
    }

    /// The ticked roles; one the form never offers is a problem on `roles`, in the API's words.
    fn roles(&self) -> Result<Vec<Role>, Problems> {
        let mut out = Vec::new();
        for r in &self.roles {
            match people::parse_role("roles", r) {
                Ok(role) => out.push(role),
                Err(e) => return Err(refusal(e).unwrap_or_default()),
            }
        }
        Ok(out)
    }
}

fn optional(v: &str) -> Option<String> {
    people::nonempty(Some(v.to_string()))
}

fn render(
    status: StatusCode,
    form: &PersonForm,
    person: Option<&Person>,
    choices: &Choices,
    problems: &Problems,
) -> AppResult<HttpResponse> {
    let (summary, field_errors) = error_views(problems);
    let roles: Vec<_> = GIVEN_ROLES
        .iter()
        .map(|r| {
            context! {
                id => r.as_str(),
                name => role_label(*r),
                checked => form.roles.iter().any(|x| x == r.as_str()),
            }
        })
        .collect();
    // The list holds the first 1,000 schools by name: the person's own school is always
    // offered, so saving the form never moves them out of it unasked.
    let mut schools = choices.schools.clone();
    if let Some(own) = person.and_then(|p| p.school.as_ref()) {
        if !schools.iter().any(|(id, _)| *id == own.id) {
            schools.insert(0, (own.id.clone(), own.name.clone()));
        }
    }
    page(
        status,
        "admin_person_form.html",
        context! {
            signed_in => true,
            person => person.map(|p| context! { id => p.id, name => p.name }),
            action => match person {
                Some(p) => format!("/admin/people/{}/edit", p.id),
                None => "/admin/people/new".to_string(),
            },
            form,
            errors => summary,
            field_errors,
            roles,
            schools,
            staff_groups => choices.staff_groups,
        },
    )
}

/// Saves the form through the use case: where to go next, or the problems to show.
async fn save(
    state: &AppState,
    caller: &Caller,
    person: Option<&Person>,
    form: &PersonForm,
) -> AppResult<Result<String, Problems>> {
    let roles = match form.roles() {
        Ok(r) => r,
        Err(p) => return Ok(Err(p)),
    };
    let result = match person {
        None => people::create(
            state,
            caller,
            NewPersonInput {
                name: form.name.clone(),
                email: form.email.clone(),
                school_id: optional(&form.school_id),
                staff_group_id: optional(&form.staff_group_id),
                roles,
            },
        )
        .await
        .map(|p| format!("/admin/people/{}?done=created", p.id)),
        Some(person) => people::update(
            state,
            caller,
            &person.id,
            PersonEdit {
                name: Some(form.name.clone()),
                email: Some(form.email.clone()),
                school_id: Some(optional(&form.school_id)),
                staff_group_id: Some(optional(&form.staff_group_id)),
                roles: Some(roles),
            },
        )
        .await
        .map(|p| format!("/admin/people/{}?done=saved", p.id)),
    };
    match result {
        Ok(to) => Ok(Ok(to)),
        Err(e) => refusal(e).map(Err),
    }
}

async fn post_form(
    state: &AppState,
    caller: &Caller,
    person: Option<&Person>,
    body: &[u8],
) -> AppResult<HttpResponse> {
    let choices = people::choices(state, caller).await?;
    let form = PersonForm::read(body);
    match save(state, caller, person, &form).await? {
        Ok(to) => Ok(see_other(&to)),
        Err(problems) => render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &form,
            person,
            &choices,
            &problems,
        ),
    }
}

/// The form for adding a person.
#[utoipa::path(tag = "web", responses(
    (status = 200, description = "The new person form", content_type = "text/html", body = String),
    (status = 303, description = "Not signed in: to sign-in"),
    (status = 403, description = "Not an admin", content_type = "text/html", body = String),
))]
#[get("/admin/people/new")]
pub async fn new_form(state: web::Data<AppState>, caller: MaybeCaller) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    let choices = people::choices(&state, &caller).await?;
    render(
        StatusCode::OK,
        &PersonForm::default(),
        None,
        &choices,
        &Problems::new(),
    )
}

/// Adds the person (`app::people::create`, as `POST /api/v1/people`), then shows their page;
/// or the form again with every problem, keeping what was typed.
#[utoipa::path(tag = "web",
    request_body(content = PersonFormFields, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Added: to the person's admin page"),
        (status = 403, description = "Not an admin", content_type = "text/html", body = String),
        (status = 422, description = "The form again, with every problem", content_type = "text/html", body = String),
        CrossSite,
))]
#[post("/admin/people/new")]
pub async fn create(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    body: web::Bytes,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    post_form(&state, &caller, None, &body).await
}

/// The person as the edit pages read them (admin; 404 when there is none).
async fn managed(state: &AppState, caller: &Caller, id: &str) -> AppResult<Person> {
    people::require_manage(caller)?;
    people::get(state, caller, id).await
}

/// The form for changing a person's name, email, school, staff group and roles.
#[utoipa::path(tag = "web", params(("id" = String, Path, description = "The person")), responses(
    (status = 200, description = "The person form", content_type = "text/html", body = String),
    (status = 303, description = "Not signed in: to sign-in"),
    (status = 403, description = "Not an admin", content_type = "text/html", body = String),
    (status = 404, description = "No such person", content_type = "text/html", body = String),
))]
#[get("/admin/people/{id}/edit")]
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
            let person = managed(&state, &caller, &id).await?;
            let choices = people::choices(&state, &caller).await?;
            render(
                StatusCode::OK,
                &PersonForm::of(&person),
                Some(&person),
                &choices,
                &Problems::new(),
            )
        }
        .await,
    )
}

/// Saves the changes (`app::people::update`, as `PATCH /api/v1/people/{id}`; a change of
/// roles is audit-logged), then shows the person's page; or the form again with every
/// problem.
#[utoipa::path(tag = "web", params(("id" = String, Path, description = "The person")),
    request_body(content = PersonFormFields, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Saved: to the person's admin page"),
        (status = 403, description = "Not an admin", content_type = "text/html", body = String),
        (status = 404, description = "No such person", content_type = "text/html", body = String),
        (status = 422, description = "The form again, with every problem", content_type = "text/html", body = String),
        CrossSite,
))]
#[post("/admin/people/{id}/edit")]
pub async fn update(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    id: web::Path<String>,
    body: web::Bytes,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    html_not_found(
        async {
            let person = managed(&state, &caller, &id).await?;
            post_form(&state, &caller, Some(&person), &body).await
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
