//! Reference data: clusters, staff groups, strategy priorities (and the defaults every new
//! database starts with).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::{like_pattern, lower, new_id};
use crate::db::schema::{clusters, priorities, staff_groups};
use crate::db::DbConn;
use crate::domain::paging::{Page, Paging};
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
        let have: Vec<String> = staff_groups::table.select(staff_groups::key).load(conn)?;
        for (i, (key, name)) in DEFAULT_STAFF_GROUPS.iter().enumerate() {
            if !have.iter().any(|k| k == key) {
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
        let have: Vec<String> = priorities::table.select(priorities::key).load(conn)?;
        for (i, (key, name, description)) in DEFAULT_PRIORITIES.iter().enumerate() {
            if !have.iter().any(|k| k == key) {
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
#[derive(Debug, Clone, Queryable, Selectable, Serialize, utoipa::ToSchema)]
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
    #[schema(value_type = String, format = DateTime)]
    pub created_at: NaiveDateTime,
    /// When it was last changed.
    #[serde(with = "crate::domain::time::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
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
