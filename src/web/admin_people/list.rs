//! `/admin/people`: everyone on record, found by words in their name, email or school's
//! name, filtered by role, school, cluster and staff group (kept in the query string), by
//! name, a page at a time.

use actix_web::http::StatusCode;
use actix_web::{get, web, HttpResponse};
use minijinja::context;
use serde::{Deserialize, Serialize};

use crate::app::people::{self as people, nonempty, parse_role};
use crate::app::state::AppState;
use crate::auth::MaybeCaller;
use crate::domain::paging::Paging;
use crate::error::{AppError, AppResult};
use crate::store::people::PeopleFilter;
use crate::web::{filter_query, page, page_count, page_number, sign_in_first, trimmed};

use super::{role_label, roles_text, GIVEN_ROLES};

/// People on one page of the list: about 1,500 px of table at desktop width.
const PAGE_SIZE: i64 = 25;

/// The list's filters and page, as its GET form sends them.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct PeopleListParams {
    /// Words to find in the name, the email address or the school's name.
    pub q: Option<String>,
    /// Only holders of this role (`school_lead`, `course_lead`, `cpd_group`, `admin`).
    pub role: Option<String>,
    /// A school's id.
    pub school: Option<String>,
    /// A cluster's id: the people of its schools.
    pub cluster: Option<String>,
    /// A staff group's id.
    pub staff_group: Option<String>,
    /// The page, from 1.
    pub page: Option<String>,
    /// `erased` after erasing someone.
    pub done: Option<String>,
}

/// The list's filters as the form shows them back.
#[derive(Serialize, Default)]
struct ListFilters {
    q: String,
    role: String,
    school: String,
    cluster: String,
    staff_group: String,
}

/// Everyone on record (admins), found by name, email or school, with filters kept in the
/// query string, a page at a time.
#[utoipa::path(tag = "web", params(PeopleListParams), responses(
    (status = 200, description = "The admin's list of people", content_type = "text/html", body = String),
    (status = 303, description = "Not signed in: to sign-in"),
    (status = 403, description = "Not an admin", content_type = "text/html", body = String),
    (status = 422, description = "A filter that cannot be read, named", content_type = "text/html", body = String),
))]
#[get("/admin/people")]
pub async fn index(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    params: web::Query<PeopleListParams>,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    let choices = people::choices(&state, &caller).await?;
    let p = params.into_inner();
    let filters = ListFilters {
        q: trimmed(&p.q),
        role: trimmed(&p.role),
        school: trimmed(&p.school),
        cluster: trimmed(&p.cluster),
        staff_group: trimmed(&p.staff_group),
    };
    let page_no = page_number(p.page.as_deref());
    let mut errors: Vec<(String, String)> = Vec::new();
    let role = match nonempty(Some(filters.role.clone())) {
        None => None,
        Some(r) => match parse_role("role", &r) {
            Ok(role) => Some(role),
            Err(_) => {
                errors.push(("role".into(), "Role: choose one from the list".into()));
                None
            }
        },
    };
    let (rows, total) = if errors.is_empty() {
        let filter = PeopleFilter {
            q: nonempty(Some(filters.q.clone())),
            q_school: true,
            role,
            school_id: nonempty(Some(filters.school.clone())),
            cluster_id: nonempty(Some(filters.cluster.clone())),
            staff_group_id: nonempty(Some(filters.staff_group.clone())),
        };
        let paging = Paging::new(Some(PAGE_SIZE), Some((page_no - 1) * PAGE_SIZE))
            .map_err(|(f, m)| AppError::invalid(f, m))?;
        let found = people::list(&state, &caller, filter, paging).await?;
        let rows: Vec<_> = found
            .items
            .into_iter()
            .map(|p| {
                context! {
                    id => p.id,
                    name => p.name,
                    email => p.email,
                    school => p.school.map(|s| s.name),
                    staff_group => p.staff_group.map(|g| g.name),
                    roles => roles_text(&p.roles),
                }
            })
            .collect();
        (rows, found.total)
    } else {
        (Vec::new(), 0)
    };
    let pages = page_count(total, PAGE_SIZE);
    let filter_query = filter_query(&[
        ("q", filters.q.as_str()),
        ("role", filters.role.as_str()),
        ("school", filters.school.as_str()),
        ("cluster", filters.cluster.as_str()),
        ("staff_group", filters.staff_group.as_str()),
    ]);
    let roles: Vec<_> = GIVEN_ROLES
        .iter()
        .map(|r| (r.as_str(), role_label(*r)))
        .collect();
    page(
        if errors.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        },
        "admin_people.html",
        context! {
            signed_in => true,
            people => rows,
            total,
            page_no,
            pages,
            filters,
            filter_query,
            erased => p.done.as_deref() == Some("erased"),
            errors => errors.iter().map(|(f, m)| context! { field => f, message => m }).collect::<Vec<_>>(),
            roles,
            schools => choices.schools,
            clusters => choices.clusters,
            staff_groups => choices.staff_groups,
        },
    )
}

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(index);
}
