//! People: listing, adding, changing, exporting (UK GDPR subject access) and erasing staff
//! records. The JSON handlers (`api::people`, `api::privacy`) and the admin's people pages
//! (`web::admin_people`) call these, so the policy, the field rules, the transaction and the
//! audit entries are the same whichever door a change comes through.
//!
//! Who may do what is decided in `app::policy`: the person themselves, their school's lead and
//! admins reach a record (the CPD group reads every record); records the caller may not see
//! answer 404, so ids cannot be probed. The admin's pages are for admins only
//! ([`Action::ManagePeople`]).

use chrono::NaiveDateTime;
use serde::Deserialize;
use validator::{Validate, ValidationError};

use crate::app::policy::{person_scope, require, require_visible, Action, PersonScope};
use crate::app::state::AppState;
use crate::domain::booking::BookingScope;
use crate::domain::caller::Caller;
use crate::domain::paging::{Page, Paging};
use crate::domain::roles::Role;
use crate::domain::text::is_email;
use crate::error::{AppError, AppResult};
use crate::store::attendance::CpdRecord;
use crate::store::bookings::Booking;
use crate::store::export::{self, PersonExport};
use crate::store::people::{self as store, NewPerson, PeopleFilter, Person, PersonChanges, Scope};

// ---------------------------------------------------------------------------------------------
// The field rules, written once

fn not_blank(value: &str) -> Result<(), ValidationError> {
    if value.trim().is_empty() {
        return Err(ValidationError::new("required").with_message("must not be empty".into()));
    }
    Ok(())
}

fn email_address(value: &str) -> Result<(), ValidationError> {
    if !is_email(value) {
        return Err(ValidationError::new("email").with_message("must be an email address".into()));
    }
    Ok(())
}

/// A new person, as a form or a JSON body gives it. [`create`] checks the rules (a 422 naming
/// each field), so every door refuses the same input with the same words.
#[derive(Debug, Clone, Default, Validate)]
pub struct NewPersonInput {
    /// Full name: not blank, at most 200 characters.
    #[validate(length(max = 200), custom(function = "not_blank"))]
    pub name: String,
    /// Email address, unique whatever its case.
    #[validate(custom(function = "email_address"))]
    pub email: String,
    /// Their school. A school lead may only add people to their own school.
    pub school_id: Option<String>,
    /// Their staff group.
    pub staff_group_id: Option<String>,
    /// Roles; everyone holds `staff`. Only an admin may give other roles.
    pub roles: Vec<Role>,
}

/// Changes to a person; `None` leaves a field as it is, `Some(None)` clears a school or staff
/// group. [`update`] checks the rules.
#[derive(Debug, Clone, Default, Validate)]
pub struct PersonEdit {
    /// New name.
    #[validate(length(max = 200), custom(function = "not_blank"))]
    pub name: Option<String>,
    /// New email address.
    #[validate(custom(function = "email_address"))]
    pub email: Option<String>,
    /// New school, or none (admin only).
    pub school_id: Option<Option<String>>,
    /// New staff group, or none.
    pub staff_group_id: Option<Option<String>>,
    /// The full new set of roles (admin only; `staff` is always kept).
    pub roles: Option<Vec<Role>>,
}

/// Filters and paging of the people list, as text from a query string.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PeopleQuery {
    /// Page size, 1 to 1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// Items to skip (default 0).
    #[param(minimum = 0)]
    pub offset: Option<i64>,
    /// Only this school's people.
    pub school_id: Option<String>,
    /// Only this staff group.
    pub staff_group_id: Option<String>,
    /// Only holders of this role: `staff`, `school_lead`, `course_lead`, `cpd_group` or `admin`.
    pub role: Option<String>,
    /// Words to find in the name or email (case-insensitive).
    pub q: Option<String>,
}

/// A role named in a filter or form, or a 422 on `field` listing the roles there are.
pub fn parse_role(field: &str, text: &str) -> AppResult<Role> {
    Role::parse(text.trim()).ok_or_else(|| {
        AppError::invalid(
            field,
            "must be one of staff, school_lead, course_lead, cpd_group, admin",
        )
    })
}

impl PeopleQuery {
    /// The checked paging (a 422 naming `limit` or `offset`).
    pub fn paging(&self) -> AppResult<Paging> {
        Paging::new(self.limit, self.offset).map_err(|(f, m)| AppError::invalid(f, m))
    }

    /// The checked filters: blank values are no filter; an unknown role is a 422.
    pub fn filter(self) -> AppResult<PeopleFilter> {
        let role = match self
            .role
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
        {
            None => None,
            Some(r) => Some(parse_role("role", r)?),
        };
        Ok(PeopleFilter {
            school_id: nonempty(self.school_id),
            staff_group_id: nonempty(self.staff_group_id),
            role,
            q: nonempty(self.q),
            ..PeopleFilter::default()
        })
    }
}

/// A text field trimmed, or `None` when blank.
pub fn nonempty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

fn store_scope(scope: PersonScope) -> Scope {
    match scope {
        PersonScope::All => Scope::All,
        PersonScope::School(s) => Scope::School(s),
        PersonScope::Own(p) => Scope::Only(p),
    }
}

/// Whether a set of roles goes beyond `staff`, which anyone may be given.
fn beyond_staff(roles: &[Role]) -> bool {
    roles.iter().any(|r| *r != Role::Staff)
}

// ---------------------------------------------------------------------------------------------
// The use cases

/// Live people matching `filter`, by name. Admins and the CPD group see everyone, a school lead
/// their own school's people, anyone else only themselves. Erased people are never listed.
pub async fn list(
    state: &AppState,
    caller: &Caller,
    filter: PeopleFilter,
    paging: Paging,
) -> AppResult<Page<Person>> {
    require(caller, Action::ListPeople)?;
    let scope = store_scope(person_scope(caller));
    state
        .db(move |c| store::list(c, &scope, &filter, paging))
        .await
}

/// Adds a person (admin, or a school lead for their own school; roles beyond `staff` need an
/// admin): 422 for a broken rule or an unknown school or staff group, 409 `duplicate_email`.
/// Roles beyond `staff` are audit-logged.
pub async fn create(state: &AppState, caller: &Caller, input: NewPersonInput) -> AppResult<Person> {
    input.validate()?;
    require(
        caller,
        Action::CreatePerson {
            school_id: input.school_id.as_deref(),
        },
    )?;
    if beyond_staff(&input.roles) {
        require(caller, Action::AssignRoles)?;
    }
    let new = NewPerson {
        name: input.name,
        email: input.email,
        school_id: input.school_id,
        staff_group_id: input.staff_group_id,
        roles: input.roles,
    };
    let actor = caller.person_id.clone();
    state.db(move |c| store::create(c, &actor, new)).await
}

/// One live person the caller may see (themselves, their school's lead, the CPD group,
/// admins), or 404 as if there were none.
pub async fn get(state: &AppState, caller: &Caller, id: &str) -> AppResult<Person> {
    let id = id.to_string();
    let person = state.db(move |c| store::get(c, &id)).await?;
    require_visible(
        caller,
        Action::ReadPerson {
            person_id: &person.id,
            school_id: person.school_id(),
        },
    )?;
    Ok(person)
}

/// Changes a person (themselves, their school's lead, admins). Moving a person to another
/// school and changing roles are for admins; role changes are audit-logged. 409
/// `duplicate_email`, or `last_admin` when the only admin would lose the role.
pub async fn update(
    state: &AppState,
    caller: &Caller,
    id: &str,
    edit: PersonEdit,
) -> AppResult<Person> {
    edit.validate()?;
    let current = get(state, caller, id).await?;
    require(
        caller,
        Action::EditPerson {
            person_id: &current.id,
            school_id: current.school_id(),
        },
    )?;
    if let Some(school_id) = &edit.school_id {
        if school_id.as_deref() != current.school_id() {
            require(caller, Action::ChangeSchool)?;
        }
    }
    if let Some(roles) = &edit.roles {
        if store::with_staff(roles.clone()) != current.roles {
            require(caller, Action::AssignRoles)?;
        }
    }
    let changes = PersonChanges {
        name: edit.name,
        email: edit.email,
        school_id: edit.school_id,
        staff_group_id: edit.staff_group_id,
        roles: edit.roles,
    };
    let actor = caller.person_id.clone();
    let id = current.id;
    let person_id = id.clone();
    let updated = state
        .db(move |c| store::update(c, &actor, &id, changes))
        .await?;
    // Their roles or school may have changed: their credentials are verified afresh, so
    // the change holds from their next request.
    state.auth_cache.forget_person(&person_id);
    Ok(updated)
}

/// Erases a person (UK GDPR; admin): their name and email are removed, their tokens revoked
/// and roles dropped; the record stays, anonymous, so past counts do not change. The erasure
/// is audit-logged (`person.erase`). 403 for others who may see them, 404 for the rest; 409
/// `last_admin` for the only admin.
pub async fn erase(state: &AppState, caller: &Caller, id: &str) -> AppResult<()> {
    let person = get(state, caller, id).await?;
    require(caller, Action::ErasePerson)?;
    let actor = caller.person_id.clone();
    let person_id = person.id.clone();
    state
        .db(move |c| store::erase(c, &actor, &person.id))
        .await?;
    // Their tokens are revoked and sessions deleted: refused from their next request.
    state.auth_cache.forget_person(&person_id);
    Ok(())
}

/// Everything cpd-hub holds about a person (themselves, their school's lead, admins; 404 for
/// anyone else). The export is itself audit-logged (`person.export`), in the same
/// transaction as the reading.
pub async fn export(state: &AppState, caller: &Caller, id: &str) -> AppResult<PersonExport> {
    let id = id.to_string();
    let person_id = id.clone();
    let school_id = state.db(move |c| export::school_of(c, &person_id)).await?;
    require_visible(
        caller,
        Action::ExportPerson {
            person_id: &id,
            school_id: school_id.as_deref(),
        },
    )?;
    let actor = caller.person_id.clone();
    state
        .db(move |c| {
            crate::db::write_tx(c, |c| {
                crate::store::audit::record(
                    c,
                    Some(&actor),
                    "person.export",
                    "person",
                    Some(&id),
                    serde_json::json!({}),
                )?;
                export::person_export(c, &id)
            })
        })
        .await
}

// ---------------------------------------------------------------------------------------------
// What the admin's people pages read

/// Refuses (403) anyone but an admin: the admin's people pages are for admins.
pub fn require_manage(caller: &Caller) -> AppResult<()> {
    require(caller, Action::ManagePeople)
}

/// What the admin's people forms and filters offer, each as (id, name) by name.
#[derive(Clone, Debug, Default)]
pub struct Choices {
    /// Schools (up to 1,000).
    pub schools: Vec<(String, String)>,
    /// Staff groups.
    pub staff_groups: Vec<(String, String)>,
    /// Clusters.
    pub clusters: Vec<(String, String)>,
}

/// The choices of the admin's people forms and filters (admin).
pub async fn choices(state: &AppState, caller: &Caller) -> AppResult<Choices> {
    require_manage(caller)?;
    state
        .db(|c| {
            let all = Paging::new(Some(1000), None).map_err(|(f, m)| AppError::invalid(f, m))?;
            Ok(Choices {
                schools: crate::store::schools::list_schools(c, &Default::default(), all)?
                    .items
                    .into_iter()
                    .map(|s| (s.id, s.name))
                    .collect(),
                staff_groups: crate::store::reference::list_staff_groups(c, None, all)?
                    .items
                    .into_iter()
                    .map(|g| (g.id, g.name))
                    .collect(),
                clusters: crate::store::reference::list_clusters(c, None, all)?
                    .items
                    .into_iter()
                    .map(|g| (g.id, g.name))
                    .collect(),
            })
        })
        .await
}

/// Bookings the admin's person page lists: the newest this many.
pub const RECENT_BOOKINGS: i64 = 20;

/// One person as the admin's page shows them: their record, their newest bookings (and how
/// many they have in all), and their CPD record at `now`.
pub struct PersonFile {
    /// The person.
    pub person: Person,
    /// Their newest bookings (up to [`RECENT_BOOKINGS`]), newest first.
    pub bookings: Vec<Booking>,
    /// How many bookings they have in all, whatever their status.
    pub bookings_total: i64,
    /// Their CPD record: courses, sessions attended, hours.
    pub record: CpdRecord,
}

/// A live person's file for the admin's pages (admin; 404 when there is none or they were
/// erased).
pub async fn person_file(
    state: &AppState,
    caller: &Caller,
    id: &str,
    now: NaiveDateTime,
) -> AppResult<PersonFile> {
    require_manage(caller)?;
    let id = id.to_string();
    state
        .db(move |c| {
            crate::db::read_tx(c, |c| {
                let person = store::get(c, &id)?;
                let filter = crate::store::bookings::Filter {
                    person_id: Some(id.clone()),
                    ..Default::default()
                };
                let bookings_from = |c: &mut crate::db::DbConn, offset: i64| {
                    let paging = Paging::new(Some(RECENT_BOOKINGS), Some(offset))
                        .map_err(|(f, m)| AppError::invalid(f, m))?;
                    crate::store::bookings::list(c, &BookingScope::All, &filter, paging)
                };
                // The list is oldest first: the newest are its last page.
                let mut page = bookings_from(c, 0)?;
                if page.total > RECENT_BOOKINGS {
                    page = bookings_from(c, page.total - RECENT_BOOKINGS)?;
                }
                let mut bookings = page.items;
                bookings.reverse();
                let record = crate::store::attendance::cpd_record(c, &id, now)?;
                Ok(PersonFile {
                    person,
                    bookings,
                    bookings_total: page.total,
                    record,
                })
            })
        })
        .await
}
