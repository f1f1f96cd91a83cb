//! People: staff records, roles, and the signed-in caller's own view and API tokens.
//!
//! Who may do what is decided in `auth::policy`: the person themselves, their school's lead
//! and admins reach a record (the CPD group reads every record); records the caller may not
//! see answer 404, so ids cannot be probed.

use crate::api::extract::PathId;
use actix_web::{delete, get, patch, post, web, HttpResponse};
use chrono::NaiveDateTime;
use serde::{Deserialize, Deserializer, Serialize};
use validator::{Validate, ValidationError, ValidationErrors};

use crate::api::extract::ValidJson;
use crate::api::views::people::{NewToken, Person, Ref, TokenInfo};
use crate::api::views::IntoView;
pub use crate::app::people::PeopleQuery;
use crate::app::people::{self as people, NewPersonInput, PersonEdit};
use crate::app::state::AppState;
use crate::auth::Caller;
use crate::domain::paging::{Page, Paging};
use crate::domain::roles::Role;
use crate::domain::time;
use crate::error::responses::{Forbidden, Invalid, NotFound, Problem, Unauthorized, PROBLEM_JSON};
use crate::error::{AppError, AppResult};
use crate::store::people as store;

/// A new person.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPersonBody {
    /// Full name (at most 200 characters).
    #[schema(example = "Sam Taylor")]
    pub name: String,
    /// Email address, unique whatever its case.
    #[schema(example = "sam.taylor@school.example")]
    pub email: String,
    /// Their school. A school lead may only add people to their own school.
    #[serde(default)]
    pub school_id: Option<String>,
    /// Their staff group.
    #[serde(default)]
    pub staff_group_id: Option<String>,
    /// Roles; everyone holds `staff`. Only an admin may give other roles.
    #[serde(default)]
    pub roles: Vec<Role>,
}

impl From<NewPersonBody> for NewPersonInput {
    fn from(b: NewPersonBody) -> Self {
        NewPersonInput {
            name: b.name,
            email: b.email,
            school_id: b.school_id,
            staff_group_id: b.staff_group_id,
            roles: b.roles,
        }
    }
}

// The rules are the use case's (`app::people`), checked as the body is read so a bad body
// is refused before anything else, as every JSON body is.
impl Validate for NewPersonBody {
    fn validate(&self) -> Result<(), ValidationErrors> {
        NewPersonInput {
            name: self.name.clone(),
            email: self.email.clone(),
            ..NewPersonInput::default()
        }
        .validate()
    }
}

/// Changes to a person; absent fields stay as they are, `null` clears a school or staff group.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonPatch {
    /// New name (at most 200 characters).
    pub name: Option<String>,
    /// New email address.
    pub email: Option<String>,
    /// New school, or `null` for none (admin only).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub school_id: Option<Option<String>>,
    /// New staff group, or `null` for none.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub staff_group_id: Option<Option<String>>,
    /// The full new set of roles (admin only; `staff` is always kept).
    pub roles: Option<Vec<Role>>,
}

impl From<PersonPatch> for PersonEdit {
    fn from(p: PersonPatch) -> Self {
        PersonEdit {
            name: p.name,
            email: p.email,
            school_id: p.school_id,
            staff_group_id: p.staff_group_id,
            roles: p.roles,
        }
    }
}

impl Validate for PersonPatch {
    fn validate(&self) -> Result<(), ValidationErrors> {
        PersonEdit {
            name: self.name.clone(),
            email: self.email.clone(),
            ..PersonEdit::default()
        }
        .validate()
    }
}

/// Tells a field sent as `null` (`Some(None)`) from one left out (`None`, via `default`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

fn not_blank(value: &str) -> Result<(), ValidationError> {
    if value.trim().is_empty() {
        return Err(ValidationError::new("required").with_message("must not be empty".into()));
    }
    Ok(())
}

/// List people. Admins and the CPD group see everyone, a school lead their own school's
/// people, anyone else only themselves. Erased people are never listed.
#[utoipa::path(tag = "people", params(PeopleQuery), security(("bearer" = [])), responses(
    (status = 200, body = Page<Person>),
    Unauthorized,
    Invalid,
))]
#[get("/people")]
pub async fn list_people(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<PeopleQuery>,
) -> AppResult<web::Json<Page<Person>>> {
    let query = query.into_inner();
    let paging = query.paging()?;
    let filter = query.filter()?;
    let page = people::list(&state, &caller, filter, paging).await?;
    Ok(web::Json(page.into_view()))
}

/// Add a person (admin, or a school lead for their own school).
#[utoipa::path(tag = "people", request_body = NewPersonBody, security(("bearer" = [])), responses(
    (status = 201, body = Person),
    Unauthorized,
    (status = 403, description = "Not allowed for this school, or roles beyond staff by a non-admin",
     body = Problem, content_type = PROBLEM_JSON),
    (status = 409, description = "`duplicate_email`: the email is on record",
     body = Problem, content_type = PROBLEM_JSON),
    (status = 422, description = "A missing or invalid field, or an unknown school or staff group",
     body = Problem, content_type = PROBLEM_JSON),
))]
#[post("/people")]
pub async fn create_person(
    state: web::Data<AppState>,
    caller: Caller,
    body: ValidJson<NewPersonBody>,
) -> AppResult<HttpResponse> {
    let person = people::create(&state, &caller, body.into_inner().into()).await?;
    Ok(HttpResponse::Created().json(Person::from(person)))
}

/// One person (themselves, their school's lead, the CPD group, admins; 404 for anyone else).
#[utoipa::path(tag = "people", params(("id" = String, Path)), security(("bearer" = [])), responses(
    (status = 200, body = Person),
    Unauthorized,
    NotFound,
))]
#[get("/people/{id}")]
pub async fn get_person(
    state: web::Data<AppState>,
    caller: Caller,
    id: PathId,
) -> AppResult<web::Json<Person>> {
    Ok(web::Json(
        people::get(&state, &caller, &id).await?.into_view(),
    ))
}

/// Change a person (themselves, their school's lead, admins). Moving a person to another
/// school and changing roles are for admins; role changes are audit-logged.
#[utoipa::path(tag = "people", params(("id" = String, Path)), request_body = PersonPatch,
    security(("bearer" = [])), responses(
    (status = 200, body = Person),
    Unauthorized,
    Forbidden,
    NotFound,
    (status = 409, description = "`duplicate_email`, or `last_admin` when the only admin would lose the role",
     body = Problem, content_type = PROBLEM_JSON),
    Invalid,
))]
#[patch("/people/{id}")]
pub async fn patch_person(
    state: web::Data<AppState>,
    caller: Caller,
    id: PathId,
    body: ValidJson<PersonPatch>,
) -> AppResult<web::Json<Person>> {
    Ok(web::Json(
        people::update(&state, &caller, &id, body.into_inner().into())
            .await?
            .into_view(),
    ))
}

/// Erase a person (UK GDPR; admin). Their name and email are removed, their tokens revoked
/// and roles dropped; the record stays, anonymous, so past counts do not change.
#[utoipa::path(tag = "people", params(("id" = String, Path)), security(("bearer" = [])), responses(
    (status = 204, description = "Erased"),
    Unauthorized,
    Forbidden,
    NotFound,
    (status = 409, description = "`last_admin`: the only admin cannot be erased",
     body = Problem, content_type = PROBLEM_JSON),
))]
#[delete("/people/{id}")]
pub async fn erase_person(
    state: web::Data<AppState>,
    caller: Caller,
    id: PathId,
) -> AppResult<HttpResponse> {
    people::erase(&state, &caller, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The signed-in person.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    /// Their record.
    pub person: Person,
    /// Their school, if any.
    pub school: Option<Ref>,
    /// Their roles; always includes `staff`.
    pub roles: Vec<Role>,
}

/// Who am I: the signed-in person, their school and roles.
#[utoipa::path(tag = "me", security(("bearer" = [])), responses(
    (status = 200, body = Me),
    Unauthorized,
))]
#[get("/me")]
pub async fn me(state: web::Data<AppState>, caller: Caller) -> AppResult<web::Json<Me>> {
    let id = caller.person_id.clone();
    let person = state.db(move |c| store::get(c, &id)).await?;
    Ok(web::Json(Me {
        school: person.school.clone().into_view(),
        roles: person.roles.clone(),
        person: person.into(),
    }))
}

/// A new API token.
#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenBody {
    /// A name to recognise it by, e.g. where it is used.
    #[validate(length(max = 100), custom(function = "not_blank"))]
    #[schema(example = "timetable sync")]
    pub name: String,
    /// When it stops working (RFC 3339, in the future); `null` or absent: never.
    #[serde(default, with = "crate::domain::time::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime, example = "2027-08-31T23:59:59Z")]
    pub expires_at: Option<NaiveDateTime>,
}

/// Make a new API token for yourself. The secret is in this response only.
#[utoipa::path(tag = "me", request_body = NewTokenBody, security(("bearer" = [])), responses(
    (status = 201, body = NewToken),
    Unauthorized,
    Invalid,
))]
#[post("/me/tokens")]
pub async fn create_token(
    state: web::Data<AppState>,
    caller: Caller,
    body: ValidJson<NewTokenBody>,
) -> AppResult<HttpResponse> {
    let body = body.into_inner();
    if body.expires_at.is_some_and(|t| t <= time::now()) {
        return Err(AppError::invalid("expires_at", "must be in the future"));
    }
    let person_id = caller.person_id.clone();
    let name = body.name.trim().to_string();
    let token = state
        .db(move |c| {
            crate::store::tokens::issue(c, Some(&person_id), &person_id, &name, body.expires_at)
        })
        .await?;
    Ok(HttpResponse::Created().json(NewToken::from(token)))
}

/// `limit` and `offset`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1 to 1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// Items to skip (default 0).
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

/// Your API tokens that have not been revoked, newest first (never with their secrets).
#[utoipa::path(tag = "me", params(PageQuery), security(("bearer" = [])), responses(
    (status = 200, body = Page<TokenInfo>),
    Unauthorized,
))]
#[get("/me/tokens")]
pub async fn list_tokens(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<PageQuery>,
) -> AppResult<web::Json<Page<TokenInfo>>> {
    let paging =
        Paging::new(query.limit, query.offset).map_err(|(f, m)| AppError::invalid(f, m))?;
    let person_id = caller.person_id.clone();
    Ok(web::Json(
        state
            .db(move |c| crate::store::tokens::list(c, &person_id, paging))
            .await?
            .into_view(),
    ))
}

/// Revoke one of your API tokens.
#[utoipa::path(tag = "me", params(("id" = String, Path)), security(("bearer" = [])), responses(
    (status = 204, description = "Revoked"),
    Unauthorized,
    NotFound,
))]
#[delete("/me/tokens/{id}")]
pub async fn revoke_token(
    state: web::Data<AppState>,
    caller: Caller,
    id: PathId,
) -> AppResult<HttpResponse> {
    let person_id = caller.person_id.clone();
    let id = id.into_inner();
    state
        .db(move |c| crate::store::tokens::revoke(c, &person_id, &id))
        .await?;
    // The token may be kept as verified; this copy stops accepting it at once.
    state.auth_cache.forget_person(&caller.person_id);
    Ok(HttpResponse::NoContent().finish())
}

/// Registers the people handlers.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_people)
        .service(create_person)
        .service(get_person)
        .service(patch_person)
        .service(erase_person)
        .service(me)
        .service(create_token)
        .service(list_tokens)
        .service(revoke_token);
}
