//! People: staff records, their roles, erasure (UK GDPR), and the admin bootstrap.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::{like_pattern, lower, new_id};
use crate::db::schema::{api_tokens, outbox, people, person_roles, schools, staff_groups};
use crate::db::DbConn;
use crate::domain::paging::{Page, Paging};
use crate::domain::roles::Role;
use crate::domain::text::normalise_email;
use crate::domain::time;
use crate::error::{AppError, AppResult};

/// The name an erased person's record keeps.
pub const ERASED_NAME: &str = "Erased person";

/// A related record as a response shows it: its id and name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ref {
    /// Opaque id.
    pub id: String,
    /// Display name.
    pub name: String,
}

impl Ref {
    fn from_parts(id: Option<String>, name: Option<String>) -> Option<Ref> {
        Some(Ref {
            id: id?,
            name: name?,
        })
    }
}

/// A person as read, with their school, staff group and roles.
#[derive(Debug, Clone, Serialize)]
pub struct Person {
    /// Opaque id.
    pub id: String,
    /// Full name.
    pub name: String,
    /// Email address (stored trimmed and lower-cased; unique).
    pub email: String,
    /// Their school, if they belong to one.
    pub school: Option<Ref>,
    /// Their staff group, if known.
    pub staff_group: Option<Ref>,
    /// Their roles; always includes `staff`.
    pub roles: Vec<Role>,
    /// When the record was created.
    #[serde(with = "crate::domain::time::rfc3339")]
    pub created_at: NaiveDateTime,
    /// When the record last changed.
    #[serde(with = "crate::domain::time::rfc3339")]
    pub updated_at: NaiveDateTime,
}

impl Person {
    /// The school's id, for permission checks.
    pub fn school_id(&self) -> Option<&str> {
        self.school.as_ref().map(|s| s.id.as_str())
    }
}

/// One row of the people/schools/staff-groups join, before roles are added.
type Row = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    NaiveDateTime,
    NaiveDateTime,
);

fn into_person(row: Row, roles: Vec<Role>) -> Person {
    let (id, name, email, school_id, school_name, group_id, group_name, created_at, updated_at) =
        row;
    Person {
        id,
        name,
        email,
        school: Ref::from_parts(school_id, school_name),
        staff_group: Ref::from_parts(group_id, group_name),
        roles,
        created_at,
        updated_at,
    }
}

/// Who may be listed: everyone, one school's people, or one person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every live person.
    All,
    /// The people of one school.
    School(String),
    /// One person.
    Only(String),
}

/// Filters of the people list; all optional and combined with AND.
#[derive(Debug, Clone, Default)]
pub struct PeopleFilter {
    /// Only this school's people.
    pub school_id: Option<String>,
    /// Only this staff group.
    pub staff_group_id: Option<String>,
    /// Only holders of this role (everyone holds `staff`).
    pub role: Option<Role>,
    /// Words to find in the name or email (case-insensitive).
    pub q: Option<String>,
    /// Whether `q` also finds people by their school's name (the admin's people search).
    pub q_school: bool,
    /// Only people of this cluster's schools.
    pub cluster_id: Option<String>,
}

macro_rules! person_columns {
    () => {
        (
            people::id,
            people::name,
            people::email,
            schools::id.nullable(),
            schools::name.nullable(),
            staff_groups::id.nullable(),
            staff_groups::name.nullable(),
            people::created_at,
            people::updated_at,
        )
    };
}

/// Lists live people by name, within `scope`. Three queries whatever the page size: the
/// count, the page (joined with schools and staff groups), and the roles of the whole page.
pub fn list(
    conn: &mut DbConn,
    scope: &Scope,
    filter: &PeopleFilter,
    paging: Paging,
) -> AppResult<Page<Person>> {
    let filtered = || {
        let mut query = people::table
            .left_join(schools::table)
            .left_join(staff_groups::table)
            .filter(people::erased_at.is_null())
            .into_boxed();
        match scope {
            Scope::All => {}
            Scope::School(s) => query = query.filter(people::school_id.eq(s.clone())),
            Scope::Only(p) => query = query.filter(people::id.eq(p.clone())),
        }
        if let Some(s) = &filter.school_id {
            query = query.filter(people::school_id.eq(s.clone()));
        }
        if let Some(g) = &filter.staff_group_id {
            query = query.filter(people::staff_group_id.eq(g.clone()));
        }
        // Everyone acts as staff, so `role=staff` narrows nothing.
        if let Some(role) = filter.role.filter(|r| *r != Role::Staff) {
            query = query.filter(
                people::id.eq_any(
                    person_roles::table
                        .filter(person_roles::role.eq(role.as_str()))
                        .select(person_roles::person_id),
                ),
            );
        }
        if let Some(c) = &filter.cluster_id {
            // Schools are joined (left), so a person without one matches no cluster.
            query = query.filter(schools::cluster_id.eq(c.clone()));
        }
        if let Some(q) = filter.q.as_deref().filter(|q| !q.trim().is_empty()) {
            let pattern = like_pattern(q);
            let by_person = lower(people::name)
                .like(pattern.clone())
                .escape('\\')
                .or(people::email.like(pattern.clone()).escape('\\'));
            if filter.q_school {
                query = query.filter(by_person.or(lower(schools::name).like(pattern).escape('\\')));
            } else {
                query = query.filter(by_person);
            }
        }
        query
    };
    crate::db::read_tx(conn, |conn| {
        let total = filtered().count().get_result(conn)?;
        let rows: Vec<Row> = filtered()
            .order((people::name.asc(), people::id.asc()))
            .limit(paging.limit)
            .offset(paging.offset)
            .select(person_columns!())
            .load(conn)?;
        let ids: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
        let mut roles = roles_of_many(conn, &ids)?;
        let items = rows
            .into_iter()
            .map(|row| {
                let r = roles.remove(&row.0).unwrap_or_default();
                into_person(row, with_staff(r))
            })
            .collect();
        Ok(Page { items, total })
    })
}

/// One live person; 404 when there is none or they were erased.
pub fn get(conn: &mut DbConn, id: &str) -> AppResult<Person> {
    let row: Row = people::table
        .left_join(schools::table)
        .left_join(staff_groups::table)
        .filter(people::id.eq(id))
        .filter(people::erased_at.is_null())
        .select(person_columns!())
        .first(conn)?;
    let roles = super::tokens::roles_of(conn, id)?;
    Ok(into_person(row, roles))
}

/// The stored roles of several people at once, by person id.
fn roles_of_many(conn: &mut DbConn, ids: &[&str]) -> QueryResult<HashMap<String, Vec<Role>>> {
    let mut out: HashMap<String, Vec<Role>> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let pairs: Vec<(String, String)> = person_roles::table
        .filter(person_roles::person_id.eq_any(ids))
        .select((person_roles::person_id, person_roles::role))
        .load(conn)?;
    for (person_id, role) in pairs {
        if let Some(role) = Role::parse(&role) {
            out.entry(person_id).or_default().push(role);
        }
    }
    Ok(out)
}

/// A role list as shown: sorted, without repeats, always with `staff`.
pub fn with_staff(mut roles: Vec<Role>) -> Vec<Role> {
    roles.push(Role::Staff);
    roles.sort();
    roles.dedup();
    roles
}

/// The fields of a new person. The email is normalised here; the name is trimmed.
#[derive(Debug, Clone)]
pub struct NewPerson {
    /// Full name.
    pub name: String,
    /// Email address.
    pub email: String,
    /// Their school, if any.
    pub school_id: Option<String>,
    /// Their staff group, if known.
    pub staff_group_id: Option<String>,
    /// Roles beyond `staff` (which everyone holds).
    pub roles: Vec<Role>,
}

fn duplicate_email() -> AppError {
    AppError::conflict(
        "duplicate_email",
        "Someone with this email address is already on record.",
    )
}

/// Whether any row (erased or not) holds this normalised email, other than `except`.
fn email_taken(conn: &mut DbConn, email: &str, except: Option<&str>) -> QueryResult<bool> {
    let found: Option<String> = people::table
        .filter(people::email.eq(email))
        .select(people::id)
        .first(conn)
        .optional()?;
    Ok(found.is_some_and(|id| Some(id.as_str()) != except))
}

/// 422 naming the field when a school or staff group id does not exist.
pub(crate) fn check_refs(
    conn: &mut DbConn,
    school_id: Option<&str>,
    staff_group_id: Option<&str>,
) -> AppResult<()> {
    if let Some(s) = school_id {
        let n: i64 = schools::table
            .filter(schools::id.eq(s))
            .count()
            .get_result(conn)?;
        if n == 0 {
            return Err(AppError::invalid(
                "school_id",
                "there is no school with this id",
            ));
        }
    }
    if let Some(g) = staff_group_id {
        let n: i64 = staff_groups::table
            .filter(staff_groups::id.eq(g))
            .count()
            .get_result(conn)?;
        if n == 0 {
            return Err(AppError::invalid(
                "staff_group_id",
                "there is no staff group with this id",
            ));
        }
    }
    Ok(())
}

/// Inserts a person and their roles inside the caller's transaction, without checks; returns
/// the new id. [`create`] and the demo seed build on it.
pub fn insert(conn: &mut DbConn, new: &NewPerson) -> QueryResult<String> {
    let id = new_id();
    let now = time::now();
    diesel::insert_into(people::table)
        .values((
            people::id.eq(&id),
            people::name.eq(new.name.trim()),
            people::email.eq(normalise_email(&new.email)),
            people::school_id.eq(new.school_id.as_deref()),
            people::staff_group_id.eq(new.staff_group_id.as_deref()),
            people::created_at.eq(now),
            people::updated_at.eq(now),
        ))
        .execute(conn)?;
    for role in with_staff(new.roles.clone()) {
        grant_role(conn, &id, role)?;
    }
    Ok(id)
}

/// Creates a person: 422 for an unknown school or staff group, 409 `duplicate_email` when
/// the email is on record in any case. Roles beyond `staff` are audit-logged.
pub fn create(conn: &mut DbConn, actor_id: &str, new: NewPerson) -> AppResult<Person> {
    let email = normalise_email(&new.email);
    crate::db::write_tx(conn, |conn| {
        check_refs(
            conn,
            new.school_id.as_deref(),
            new.staff_group_id.as_deref(),
        )?;
        if email_taken(conn, &email, None)? {
            return Err(duplicate_email());
        }
        let id = insert(conn, &new).map_err(unique_as_duplicate_email)?;
        let roles = with_staff(new.roles.clone());
        if roles != [Role::Staff] {
            super::audit::record(
                conn,
                Some(actor_id),
                "person.roles",
                "person",
                Some(&id),
                serde_json::json!({"from": [], "to": roles}),
            )?;
        }
        get(conn, &id)
    })
}

/// On PostgreSQL a concurrent insert can pass the check and fail on the unique index; it is
/// still the same duplicate email.
fn unique_as_duplicate_email(e: diesel::result::Error) -> AppError {
    use diesel::result::{DatabaseErrorKind, Error};
    match e {
        Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => duplicate_email(),
        other => other.into(),
    }
}

/// Changes to a person; `None` leaves a field as it is. For the nullable links,
/// `Some(None)` clears them.
#[derive(Debug, Clone, Default)]
pub struct PersonChanges {
    /// New name.
    pub name: Option<String>,
    /// New email.
    pub email: Option<String>,
    /// New school, or none.
    pub school_id: Option<Option<String>>,
    /// New staff group, or none.
    pub staff_group_id: Option<Option<String>>,
    /// The full new set of roles (`staff` is always kept).
    pub roles: Option<Vec<Role>>,
}

/// Applies changes to a live person: 404 when they are gone, 422 for unknown references,
/// 409 `duplicate_email`, 409 `last_admin` when the change would leave no admin. A change of
/// roles is audit-logged with the old and new sets.
pub fn update(
    conn: &mut DbConn,
    actor_id: &str,
    id: &str,
    changes: PersonChanges,
) -> AppResult<Person> {
    crate::db::write_tx(conn, |conn| {
        let current = get(conn, id)?;
        let school_id = match changes.school_id {
            Some(s) => s,
            None => current.school.as_ref().map(|s| s.id.clone()),
        };
        let staff_group_id = match changes.staff_group_id {
            Some(g) => g,
            None => current.staff_group.as_ref().map(|g| g.id.clone()),
        };
        check_refs(conn, school_id.as_deref(), staff_group_id.as_deref())?;
        let email = changes
            .email
            .as_deref()
            .map(normalise_email)
            .unwrap_or_else(|| current.email.clone());
        if email != current.email && email_taken(conn, &email, Some(id))? {
            return Err(duplicate_email());
        }
        let name = changes
            .name
            .as_deref()
            .map(|n| n.trim().to_string())
            .unwrap_or_else(|| current.name.clone());
        diesel::update(people::table.find(id))
            .set((
                people::name.eq(&name),
                people::email.eq(&email),
                people::school_id.eq(school_id.as_deref()),
                people::staff_group_id.eq(staff_group_id.as_deref()),
                people::updated_at.eq(time::now()),
            ))
            .execute(conn)
            .map_err(unique_as_duplicate_email)?;
        if let Some(roles) = changes.roles {
            let roles = with_staff(roles);
            if roles != current.roles {
                if current.roles.contains(&Role::Admin) && !roles.contains(&Role::Admin) {
                    refuse_if_last_admin(conn, id)?;
                }
                set_roles(conn, id, &roles)?;
                super::audit::record(
                    conn,
                    Some(actor_id),
                    "person.roles",
                    "person",
                    Some(id),
                    serde_json::json!({"from": current.roles, "to": roles}),
                )?;
            }
        }
        get(conn, id)
    })
}

/// 409 when `id` is the only live admin: taking that away would lock everyone out of the
/// admin-only functions, with no way back short of the command line.
fn refuse_if_last_admin(conn: &mut DbConn, id: &str) -> AppResult<()> {
    let others: i64 = person_roles::table
        .inner_join(people::table)
        .filter(person_roles::role.eq(Role::Admin.as_str()))
        .filter(people::erased_at.is_null())
        .filter(people::id.ne(id))
        .count()
        .get_result(conn)?;
    if others == 0 {
        return Err(AppError::conflict(
            "last_admin",
            "This is the only admin; make someone else an admin first.",
        ));
    }
    Ok(())
}

fn set_roles(conn: &mut DbConn, id: &str, roles: &[Role]) -> QueryResult<()> {
    diesel::delete(person_roles::table.filter(person_roles::person_id.eq(id))).execute(conn)?;
    for role in roles {
        diesel::insert_into(person_roles::table)
            .values((
                person_roles::person_id.eq(id),
                person_roles::role.eq(role.as_str()),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Erases a person (UK GDPR): their name and email are replaced, their tokens revoked, their
/// sign-in links and sessions deleted and their roles dropped, and messages queued for them
/// lose the address and content. The row stays, with its school and staff group, so
/// anonymous counts in past reports do not change. 404 when there is no such live person;
/// 409 `last_admin` for the only admin.
pub fn erase(conn: &mut DbConn, actor_id: &str, id: &str) -> AppResult<()> {
    crate::db::write_tx(conn, |conn| {
        let current = get(conn, id)?;
        if current.roles.contains(&Role::Admin) {
            refuse_if_last_admin(conn, id)?;
        }
        let now = time::now();
        let erased_email = erased_email(id);
        diesel::update(people::table.find(id))
            .set((
                people::name.eq(ERASED_NAME),
                people::email.eq(&erased_email),
                people::erased_at.eq(Some(now)),
                people::updated_at.eq(now),
            ))
            .execute(conn)?;
        diesel::update(
            api_tokens::table
                .filter(api_tokens::person_id.eq(id))
                .filter(api_tokens::revoked_at.is_null()),
        )
        .set(api_tokens::revoked_at.eq(Some(now)))
        .execute(conn)?;
        // Sign-in links and browser sessions go too, with the client addresses they record.
        super::signin::forget_person(conn, id)?;
        // Their evaluation free text goes (ratings stay, so reports do not change), and so do
        // their evaluation links.
        super::evaluation::forget_person(conn, id)?;
        // Free text about them on their bookings and registers goes, histories included.
        super::erasure::forget_free_text(conn, id)?;
        diesel::delete(person_roles::table.filter(person_roles::person_id.eq(id))).execute(conn)?;
        // Queued and sent emails held the address and, in the payload, the name. Messages not
        // yet sent are cancelled: there is no one left to send them to.
        diesel::update(
            outbox::table
                .filter(outbox::recipient_person_id.eq(id))
                .filter(outbox::status.eq("pending")),
        )
        .set((
            outbox::status.eq("cancelled"),
            outbox::last_error.eq(Some("the recipient was erased")),
        ))
        .execute(conn)?;
        diesel::update(outbox::table.filter(outbox::recipient_person_id.eq(id)))
            .set((
                outbox::recipient_email.eq(&erased_email),
                outbox::payload.eq("{}"),
            ))
            .execute(conn)?;
        super::audit::record(
            conn,
            Some(actor_id),
            "person.erase",
            "person",
            Some(id),
            serde_json::json!({}),
        )?;
        Ok(())
    })
}

/// The address an erased person's row keeps: unique, and undeliverable by design (`.invalid`).
pub fn erased_email(id: &str) -> String {
    format!("erased-{id}@erased.invalid")
}

/// Finds a live (not erased) person's id by email, case-insensitively.
pub fn find_id_by_email(conn: &mut DbConn, email: &str) -> QueryResult<Option<String>> {
    people::table
        .filter(people::email.eq(normalise_email(email)))
        .filter(people::erased_at.is_null())
        .select(people::id)
        .first(conn)
        .optional()
}

/// Gives a person a role if they do not hold it yet.
pub fn grant_role(conn: &mut DbConn, person_id: &str, role: Role) -> QueryResult<()> {
    let held = person_roles::table
        .filter(person_roles::person_id.eq(person_id))
        .filter(person_roles::role.eq(role.as_str()))
        .count()
        .get_result::<i64>(conn)?;
    if held == 0 {
        diesel::insert_into(person_roles::table)
            .values((
                person_roles::person_id.eq(person_id),
                person_roles::role.eq(role.as_str()),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Creates an admin, or promotes the person with this email; returns their id and whether
/// they were created.
pub fn create_or_promote_admin(
    conn: &mut DbConn,
    email: &str,
    name: &str,
) -> AppResult<(String, bool)> {
    crate::db::write_tx(conn, |conn| {
        let (id, created) = match find_id_by_email(conn, email)? {
            Some(id) => (id, false),
            None => {
                let new = NewPerson {
                    name: name.to_string(),
                    email: email.to_string(),
                    school_id: None,
                    staff_group_id: None,
                    roles: vec![],
                };
                (insert(conn, &new)?, true)
            }
        };
        grant_role(conn, &id, Role::Admin)?;
        super::audit::record(
            conn,
            None,
            "role.grant",
            "person",
            Some(&id),
            serde_json::json!({"role": "admin", "via": "command line"}),
        )?;
        Ok((id, created))
    })
}

/// The ids of live people holding a role, in a stable order (by email).
pub fn ids_with_role(conn: &mut DbConn, role: Role) -> QueryResult<Vec<String>> {
    people::table
        .inner_join(person_roles::table)
        .filter(person_roles::role.eq(role.as_str()))
        .filter(people::erased_at.is_null())
        .order(people::email.asc())
        .select(people::id)
        .load(conn)
}
