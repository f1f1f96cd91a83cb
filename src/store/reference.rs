//! Reference data: clusters, staff groups, strategy priorities (and the defaults every new
//! database starts with).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::{like_pattern, lower, new_id};
use crate::db::schema::{clusters, priorities, providers, reference_generation, staff_groups};
use crate::db::DbConn;
use crate::domain::paging::{Page, Paging};
use crate::domain::provider::ProviderKind;
use crate::domain::text::slug;
use crate::domain::time;
use crate::error::{AppError, AppResult};

/// The staff groups every alliance starts with (key, name).
pub const DEFAULT_STAFF_GROUPS: &[(&str, &str)] = &[
    ("teacher", "Teacher"),
    ("teaching_assistant", "Teaching assistant"),
    ("senco", "SENCO"),
    ("senior_leader", "Senior leader"),
    ("headteacher", "Headteacher"),
    ("middle_leader", "Subject or middle leader"),
    ("early_career_teacher", "Early career teacher"),
    ("early_years_practitioner", "Early years practitioner"),
    ("governor", "Governor"),
    ("support_staff", "Support staff"),
    ("dsl", "Designated safeguarding lead"),
];

/// The strategy priorities every alliance starts with (key, name, description).
pub const DEFAULT_PRIORITIES: &[(&str, &str, &str)] = &[
    (
        "send",
        "SEND",
        "Special educational needs and disabilities, inclusion",
    ),
    (
        "leadership",
        "Leadership",
        "Leadership at every level, succession and governance",
    ),
    (
        "curriculum",
        "Curriculum",
        "Curriculum design, subject knowledge, assessment",
    ),
    (
        "attendance_behaviour",
        "Attendance and behaviour",
        "Attendance, behaviour and exclusions",
    ),
    (
        "wellbeing",
        "Wellbeing",
        "Staff and pupil wellbeing and mental health",
    ),
    (
        "eal",
        "EAL",
        "Pupils with English as an additional language",
    ),
    (
        "early_years",
        "Early years",
        "Early years foundation stage, language and communication",
    ),
    (
        "disadvantage",
        "Disadvantage",
        "Closing gaps for disadvantaged pupils",
    ),
    (
        "reading",
        "Reading and oracy",
        "Early reading, phonics and oracy",
    ),
];

/// Inserts the default staff groups and priorities that are missing (by key). Idempotent:
/// runs after every migration, and leaves renamed or added entries alone.
pub fn seed_defaults(conn: &mut DbConn) -> QueryResult<()> {
    crate::db::write_tx(conn, |conn| {
        let now = time::now();
        // A default is skipped when its key or its name is taken: an admin may have created
        // the same group under another key before a later version added it as a default.
        let have: Vec<(String, String)> = staff_groups::table
            .select((staff_groups::key, lower(staff_groups::name)))
            .load(conn)?;
        for (i, (key, name)) in DEFAULT_STAFF_GROUPS.iter().enumerate() {
            if !have
                .iter()
                .any(|(k, n)| k == key || *n == name.to_lowercase())
            {
                diesel::insert_into(staff_groups::table)
                    .values((
                        staff_groups::id.eq(new_id()),
                        staff_groups::key.eq(key),
                        staff_groups::name.eq(name),
                        staff_groups::position.eq(i as i32),
                        staff_groups::created_at.eq(now),
                        staff_groups::updated_at.eq(now),
                    ))
                    .execute(conn)?;
            }
        }
        let have: Vec<(String, String)> = priorities::table
            .select((priorities::key, lower(priorities::name)))
            .load(conn)?;
        for (i, (key, name, description)) in DEFAULT_PRIORITIES.iter().enumerate() {
            if !have
                .iter()
                .any(|(k, n)| k == key || *n == name.to_lowercase())
            {
                diesel::insert_into(priorities::table)
                    .values((
                        priorities::id.eq(new_id()),
                        priorities::key.eq(key),
                        priorities::name.eq(name),
                        priorities::description.eq(description),
                        priorities::position.eq(i as i32),
                        priorities::created_at.eq(now),
                        priorities::updated_at.eq(now),
                    ))
                    .execute(conn)?;
            }
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// Clusters

/// A geographic cluster of schools.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = clusters)]
pub struct Cluster {
    /// Opaque id.
    pub id: String,
    /// Unique name, e.g. "Penistone".
    pub name: String,
    /// Free description.
    pub description: String,
    /// When it was created.
    #[serde(with = "crate::domain::time::rfc3339")]
    pub created_at: NaiveDateTime,
    /// When it was last changed.
    #[serde(with = "crate::domain::time::rfc3339")]
    pub updated_at: NaiveDateTime,
}

/// Fields of a cluster to set; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct ClusterFields {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
}

/// Lists clusters by name, optionally matching `q` in the name.
pub fn list_clusters(
    conn: &mut DbConn,
    q: Option<&str>,
    paging: Paging,
) -> AppResult<Page<Cluster>> {
    let filtered = || {
        let mut query = clusters::table.into_boxed();
        if let Some(q) = q.filter(|q| !q.trim().is_empty()) {
            query = query.filter(lower(clusters::name).like(like_pattern(q)).escape('\\'));
        }
        query
    };
    let total = filtered().count().get_result(conn)?;
    let items = filtered()
        .order(clusters::name.asc())
        .limit(paging.limit)
        .offset(paging.offset)
        .select(Cluster::as_select())
        .load(conn)?;
    Ok(Page { items, total })
}

/// One cluster.
pub fn get_cluster(conn: &mut DbConn, id: &str) -> AppResult<Cluster> {
    Ok(clusters::table
        .find(id)
        .select(Cluster::as_select())
        .first(conn)?)
}

/// Finds a cluster by exact name (case-insensitive).
pub fn find_cluster_by_name(conn: &mut DbConn, name: &str) -> QueryResult<Option<Cluster>> {
    clusters::table
        .filter(lower(clusters::name).eq(name.trim().to_lowercase()))
        .select(Cluster::as_select())
        .first(conn)
        .optional()
}

fn cluster_name_taken(conn: &mut DbConn, name: &str, except: Option<&str>) -> QueryResult<bool> {
    Ok(find_cluster_by_name(conn, name)?.is_some_and(|c| Some(c.id.as_str()) != except))
}

/// Creates a cluster; 409 when the name is taken.
pub fn create_cluster(conn: &mut DbConn, name: &str, description: &str) -> AppResult<Cluster> {
    crate::db::write_tx(conn, |conn| {
        if cluster_name_taken(conn, name, None)? {
            return Err(AppError::conflict(
                "duplicate_name",
                format!("A cluster named {name:?} already exists."),
            ));
        }
        let now = time::now();
        let id = new_id();
        diesel::insert_into(clusters::table)
            .values((
                clusters::id.eq(&id),
                clusters::name.eq(name.trim()),
                clusters::description.eq(description),
                clusters::created_at.eq(now),
                clusters::updated_at.eq(now),
            ))
            .execute(conn)?;
        get_cluster(conn, &id)
    })
}

/// Changes a cluster; 404 when there is none, 409 when the new name is taken.
pub fn update_cluster(conn: &mut DbConn, id: &str, fields: ClusterFields) -> AppResult<Cluster> {
    crate::db::write_tx(conn, |conn| {
        let current = get_cluster(conn, id)?;
        let name = fields
            .name
            .map(|n| n.trim().to_string())
            .unwrap_or(current.name);
        if cluster_name_taken(conn, &name, Some(id))? {
            return Err(AppError::conflict(
                "duplicate_name",
                format!("A cluster named {name:?} already exists."),
            ));
        }
        diesel::update(clusters::table.find(id))
            .set((
                clusters::name.eq(&name),
                clusters::description.eq(fields.description.unwrap_or(current.description)),
                clusters::updated_at.eq(time::now()),
            ))
            .execute(conn)?;
        get_cluster(conn, id)
    })
}

/// The key to store for a new staff group or priority: the given one, or a slug of the name.
pub fn key_for(key: Option<&str>, name: &str) -> String {
    match key {
        Some(k) if !k.trim().is_empty() => slug(k),
        _ => slug(name),
    }
}

// ---------------------------------------------------------------------------------------------
// Staff groups and strategy priorities: both are a keyed, ordered list with a unique slug `key`
// and a unique `name`, so one macro writes the list/get/create/update of each.

/// A staff group: who a course is for, and how bookings are counted in reports.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = staff_groups)]
pub struct StaffGroup {
    /// Opaque id.
    pub id: String,
    /// Unique, stable slug, e.g. `teaching_assistant` (fixed once created).
    pub key: String,
    /// Unique display name.
    pub name: String,
    /// Order in lists (lowest first).
    pub position: i32,
    /// When it was created.
    #[serde(with = "crate::domain::time::rfc3339")]
    pub created_at: NaiveDateTime,
    /// When it was last changed.
    #[serde(with = "crate::domain::time::rfc3339")]
    pub updated_at: NaiveDateTime,
}

/// A strategy priority of the alliance, which courses are tagged with.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = priorities)]
pub struct Priority {
    /// Opaque id.
    pub id: String,
    /// Unique, stable slug, e.g. `send` (fixed once created).
    pub key: String,
    /// Unique display name.
    pub name: String,
    /// What the priority covers.
    pub description: String,
    /// Order in lists (lowest first).
    pub position: i32,
    /// When it was created.
    #[serde(with = "crate::domain::time::rfc3339")]
    pub created_at: NaiveDateTime,
    /// When it was last changed.
    #[serde(with = "crate::domain::time::rfc3339")]
    pub updated_at: NaiveDateTime,
}

/// Fields of a staff group or priority to write. On create, `name` is required, a missing `key`
/// is made from the name and a missing `position` puts the entry last; on update, `None`
/// leaves a field as it is and `key` is ignored (keys are stable: reports and the default
/// seeding refer to them). `description` is used by priorities only.
#[derive(Debug, Default)]
pub struct KeyedFields {
    /// The slug (create only).
    pub key: Option<String>,
    /// The display name.
    pub name: Option<String>,
    /// The order in lists.
    pub position: Option<i32>,
    /// The description (priorities only).
    pub description: Option<String>,
}

macro_rules! keyed_store {
    (
        table: $table:ident,
        row: $Row:ident,
        noun: $noun:literal,
        list: $list:ident,
        get: $get:ident,
        create: $create:ident,
        update: $update:ident,
        extra: [$($extra:ident),*] $(,)?
    ) => {
        #[doc = concat!("Lists ", $noun, "s in order, optionally matching `q` in the name or key.")]
        pub fn $list(conn: &mut DbConn, q: Option<&str>, paging: Paging) -> AppResult<Page<$Row>> {
            let filtered = || {
                let mut query = $table::table.into_boxed();
                if let Some(q) = q.filter(|q| !q.trim().is_empty()) {
                    let pattern = like_pattern(q);
                    query = query.filter(
                        lower($table::name)
                            .like(pattern.clone())
                            .escape('\\')
                            .or($table::key.like(pattern).escape('\\')),
                    );
                }
                query
            };
            let total = filtered().count().get_result(conn)?;
            let items = filtered()
                .order(($table::position.asc(), $table::name.asc()))
                .limit(paging.limit)
                .offset(paging.offset)
                .select($Row::as_select())
                .load(conn)?;
            Ok(Page { items, total })
        }

        #[doc = concat!("One ", $noun, ".")]
        pub fn $get(conn: &mut DbConn, id: &str) -> AppResult<$Row> {
            Ok($table::table.find(id).select($Row::as_select()).first(conn)?)
        }

        #[doc = concat!("Creates a ", $noun, "; 409 `duplicate_key` or `duplicate_name` when taken.")]
        pub fn $create(conn: &mut DbConn, fields: KeyedFields) -> AppResult<$Row> {
            let name = fields.name.as_deref().unwrap_or_default().trim().to_string();
            let key = key_for(fields.key.as_deref(), &name);
            if key.is_empty() {
                return Err(AppError::invalid("key", "must contain a letter or a digit"));
            }
            crate::db::write_tx(conn, |conn| {
                let key_taken = $table::table
                    .filter($table::key.eq(&key))
                    .count()
                    .get_result::<i64>(conn)?
                    > 0;
                if key_taken {
                    return Err(AppError::conflict(
                        "duplicate_key",
                        format!(concat!("A ", $noun, " with the key {:?} already exists."), key),
                    ));
                }
                check_name(conn, &name, None)?;
                let position = match fields.position {
                    Some(p) => p,
                    None => $table::table
                        .select(diesel::dsl::max($table::position))
                        .first::<Option<i32>>(conn)?
                        .map_or(0, |p| p + 1),
                };
                let now = time::now();
                let id = new_id();
                diesel::insert_into($table::table)
                    .values((
                        $table::id.eq(&id),
                        $table::key.eq(&key),
                        $table::name.eq(&name),
                        $table::position.eq(position),
                        $($table::$extra.eq(fields.$extra.clone().unwrap_or_default()),)*
                        $table::created_at.eq(now),
                        $table::updated_at.eq(now),
                    ))
                    .execute(conn)?;
                $get(conn, &id)
            })
        }

        #[doc = concat!("Changes a ", $noun, "; 404 when there is none, 409 `duplicate_name` when the new name is taken.")]
        pub fn $update(conn: &mut DbConn, id: &str, fields: KeyedFields) -> AppResult<$Row> {
            crate::db::write_tx(conn, |conn| {
                let current = $get(conn, id)?;
                let name = fields.name.map(|n| n.trim().to_string()).unwrap_or(current.name);
                check_name(conn, &name, Some(id))?;
                diesel::update($table::table.find(id))
                    .set((
                        $table::name.eq(&name),
                        $table::position.eq(fields.position.unwrap_or(current.position)),
                        $($table::$extra.eq(fields.$extra.unwrap_or(current.$extra)),)*
                        $table::updated_at.eq(time::now()),
                    ))
                    .execute(conn)?;
                $get(conn, id)
            })
        }

        /// 409 when another entry has this name (case-insensitively).
        fn check_name(conn: &mut DbConn, name: &str, except: Option<&str>) -> AppResult<()> {
            let other: Option<String> = $table::table
                .filter(lower($table::name).eq(name.to_lowercase()))
                .select($table::id)
                .first(conn)
                .optional()?;
            match other {
                Some(other) if Some(other.as_str()) != except => Err(AppError::conflict(
                    "duplicate_name",
                    format!(concat!("A ", $noun, " named {:?} already exists."), name),
                )),
                _ => Ok(()),
            }
        }
    };
}

/// Staff groups.
pub mod staff_group_store {
    use super::*;

    keyed_store! {
        table: staff_groups,
        row: StaffGroup,
        noun: "staff group",
        list: list_staff_groups,
        get: get_staff_group,
        create: create_staff_group,
        update: update_staff_group,
        extra: [],
    }
}

/// Strategy priorities.
pub mod priority_store {
    use super::*;

    keyed_store! {
        table: priorities,
        row: Priority,
        noun: "priority",
        list: list_priorities,
        get: get_priority,
        create: create_priority,
        update: update_priority,
        extra: [description],
    }
}

pub use priority_store::{create_priority, get_priority, list_priorities, update_priority};
pub use staff_group_store::{
    create_staff_group, get_staff_group, list_staff_groups, update_staff_group,
};

/// A number that rises with every change to the reference lists the API serves (schools,
/// clusters, providers, priorities, staff groups; database triggers keep it, whoever writes).
/// A list response made after reading generation `n` holds for as long as it is still `n`.
pub fn reference_generation(conn: &mut DbConn) -> QueryResult<i64> {
    reference_generation::table
        .find(1)
        .select(reference_generation::n)
        .first(conn)
}

// ---------------------------------------------------------------------------------------------
// Providers

#[derive(Queryable, Selectable)]
#[diesel(table_name = providers)]
struct ProviderRow {
    id: String,
    name: String,
    kind: String,
    email: Option<String>,
    website: Option<String>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

/// Who delivers courses.
#[derive(Debug, Clone, Serialize)]
pub struct Provider {
    /// Opaque id.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// What kind of organisation it is.
    pub kind: ProviderKind,
    /// Where to write to them.
    pub email: Option<String>,
    /// Their website.
    pub website: Option<String>,
    /// When it was created.
    #[serde(with = "crate::domain::time::rfc3339")]
    pub created_at: NaiveDateTime,
    /// When it was last changed.
    #[serde(with = "crate::domain::time::rfc3339")]
    pub updated_at: NaiveDateTime,
}

impl From<ProviderRow> for Provider {
    fn from(r: ProviderRow) -> Self {
        Provider {
            id: r.id,
            name: r.name,
            // Only this module writes the column, always from a ProviderKind.
            kind: ProviderKind::parse(&r.kind).unwrap_or(ProviderKind::External),
            email: r.email,
            website: r.website,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A new provider, already checked and normalised.
#[derive(Debug)]
pub struct NewProvider {
    /// Unique name.
    pub name: String,
    /// Kind of organisation.
    pub kind: ProviderKind,
    /// Email address (normalised).
    pub email: Option<String>,
    /// Website.
    pub website: Option<String>,
}

/// Changes to a provider: `None` leaves a field as it is; `Some(None)` clears an optional one.
#[derive(Debug, Default)]
pub struct ProviderChanges {
    /// New name.
    pub name: Option<String>,
    /// New kind.
    pub kind: Option<ProviderKind>,
    /// New email, or none.
    pub email: Option<Option<String>>,
    /// New website, or none.
    pub website: Option<Option<String>>,
}

/// Lists providers by name, optionally matching `q` in the name and of one kind.
pub fn list_providers(
    conn: &mut DbConn,
    q: Option<&str>,
    kind: Option<ProviderKind>,
    paging: Paging,
) -> AppResult<Page<Provider>> {
    let filtered = || {
        let mut query = providers::table.into_boxed();
        if let Some(q) = q.filter(|q| !q.trim().is_empty()) {
            query = query.filter(lower(providers::name).like(like_pattern(q)).escape('\\'));
        }
        if let Some(kind) = kind {
            query = query.filter(providers::kind.eq(kind.as_str()));
        }
        query
    };
    let total = filtered().count().get_result(conn)?;
    let items = filtered()
        .order(providers::name.asc())
        .limit(paging.limit)
        .offset(paging.offset)
        .select(ProviderRow::as_select())
        .load(conn)?;
    Ok(Page {
        items: items.into_iter().map(Provider::from).collect(),
        total,
    })
}

/// One provider.
pub fn get_provider(conn: &mut DbConn, id: &str) -> AppResult<Provider> {
    Ok(providers::table
        .find(id)
        .select(ProviderRow::as_select())
        .first(conn)?
        .into())
}

fn check_provider_name(conn: &mut DbConn, name: &str, except: Option<&str>) -> AppResult<()> {
    let other: Option<String> = providers::table
        .filter(lower(providers::name).eq(name.to_lowercase()))
        .select(providers::id)
        .first(conn)
        .optional()?;
    match other {
        Some(other) if Some(other.as_str()) != except => Err(AppError::conflict(
            "duplicate_name",
            format!("A provider named {name:?} already exists."),
        )),
        _ => Ok(()),
    }
}

/// Creates a provider; 409 `duplicate_name` when the name is taken.
pub fn create_provider(conn: &mut DbConn, new: NewProvider) -> AppResult<Provider> {
    crate::db::write_tx(conn, |conn| {
        let name = new.name.trim();
        check_provider_name(conn, name, None)?;
        let now = time::now();
        let id = new_id();
        diesel::insert_into(providers::table)
            .values((
                providers::id.eq(&id),
                providers::name.eq(name),
                providers::kind.eq(new.kind.as_str()),
                providers::email.eq(&new.email),
                providers::website.eq(&new.website),
                providers::created_at.eq(now),
                providers::updated_at.eq(now),
            ))
            .execute(conn)?;
        get_provider(conn, &id)
    })
}

/// Changes a provider; 404 when there is none, 409 `duplicate_name` when the new name is taken.
pub fn update_provider(
    conn: &mut DbConn,
    id: &str,
    changes: ProviderChanges,
) -> AppResult<Provider> {
    crate::db::write_tx(conn, |conn| {
        let current = get_provider(conn, id)?;
        let name = changes
            .name
            .map(|n| n.trim().to_string())
            .unwrap_or(current.name);
        check_provider_name(conn, &name, Some(id))?;
        diesel::update(providers::table.find(id))
            .set((
                providers::name.eq(&name),
                providers::kind.eq(changes.kind.unwrap_or(current.kind).as_str()),
                providers::email.eq(changes.email.unwrap_or(current.email)),
                providers::website.eq(changes.website.unwrap_or(current.website)),
                providers::updated_at.eq(time::now()),
            ))
            .execute(conn)?;
        get_provider(conn, id)
    })
}
