//! Insert-if-missing for the demo data of `cpd-hub seed-demo`: each record is matched by its
//! natural key (a cluster or provider by name, a school by URN, a person by email), so running
//! the seed again adds only what is missing and never changes what is there.
//!
//! These run inside the caller's transaction (`commands::seed` opens one per step).

use diesel::prelude::*;

use super::{lower, new_id};
use crate::db::schema::{clusters, people, providers, schools, staff_groups};
use crate::db::DbConn;
use crate::domain::time;

/// Returns the id of the cluster with this name (case-insensitive), creating it if missing;
/// `true` when it was created.
pub fn ensure_cluster(
    conn: &mut DbConn,
    name: &str,
    description: &str,
) -> QueryResult<(String, bool)> {
    let found: Option<String> = clusters::table
        .filter(lower(clusters::name).eq(name.to_lowercase()))
        .select(clusters::id)
        .first(conn)
        .optional()?;
    if let Some(id) = found {
        return Ok((id, false));
    }
    let id = new_id();
    let now = time::now();
    diesel::insert_into(clusters::table)
        .values((
            clusters::id.eq(&id),
            clusters::name.eq(name),
            clusters::description.eq(description),
            clusters::created_at.eq(now),
            clusters::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok((id, true))
}

/// A school to ensure.
#[derive(Debug, Clone)]
pub struct SchoolSeed<'a> {
    /// DfE unique reference number: the key.
    pub urn: i64,
    /// Name.
    pub name: &'a str,
    /// Stored phase name (`domain::school::Phase::as_str`).
    pub phase: &'a str,
    /// GIAS establishment type, e.g. "Academy converter".
    pub school_type: &'a str,
    /// Its cluster.
    pub cluster_id: Option<&'a str>,
    /// Local authority name.
    pub local_authority: &'a str,
    /// Postcode, normalised.
    pub postcode: &'a str,
}

/// Returns the id of the school with this URN, creating it if missing; `true` when created.
pub fn ensure_school(conn: &mut DbConn, school: &SchoolSeed<'_>) -> QueryResult<(String, bool)> {
    let found: Option<String> = schools::table
        .filter(schools::urn.eq(school.urn))
        .select(schools::id)
        .first(conn)
        .optional()?;
    if let Some(id) = found {
        return Ok((id, false));
    }
    let id = new_id();
    let now = time::now();
    diesel::insert_into(schools::table)
        .values((
            schools::id.eq(&id),
            schools::urn.eq(school.urn),
            schools::name.eq(school.name),
            schools::phase.eq(school.phase),
            schools::school_type.eq(school.school_type),
            schools::cluster_id.eq(school.cluster_id),
            schools::local_authority.eq(school.local_authority),
            schools::postcode.eq(school.postcode),
            schools::is_open.eq(true),
            schools::created_at.eq(now),
            schools::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok((id, true))
}

/// Returns the id of the provider with this name (case-insensitive), creating it if missing;
/// `true` when created.
pub fn ensure_provider(
    conn: &mut DbConn,
    name: &str,
    kind: &str,
    email: Option<&str>,
    website: Option<&str>,
) -> QueryResult<(String, bool)> {
    let found: Option<String> = providers::table
        .filter(lower(providers::name).eq(name.to_lowercase()))
        .select(providers::id)
        .first(conn)
        .optional()?;
    if let Some(id) = found {
        return Ok((id, false));
    }
    let id = new_id();
    let now = time::now();
    diesel::insert_into(providers::table)
        .values((
            providers::id.eq(&id),
            providers::name.eq(name),
            providers::kind.eq(kind),
            providers::email.eq(email),
            providers::website.eq(website),
            providers::created_at.eq(now),
            providers::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok((id, true))
}

/// Returns the id of the person with this email (any case, erased or not), creating them with
/// their roles if missing; `true` when created. An existing person is left exactly as they are.
pub fn ensure_person(
    conn: &mut DbConn,
    new: &super::people::NewPerson,
) -> QueryResult<(String, bool)> {
    let email = crate::domain::text::normalise_email(&new.email);
    let found: Option<String> = people::table
        .filter(people::email.eq(&email))
        .select(people::id)
        .first(conn)
        .optional()?;
    if let Some(id) = found {
        return Ok((id, false));
    }
    Ok((super::people::insert(conn, new)?, true))
}

/// The id of the staff group with this key, if there is one.
pub fn staff_group_id(conn: &mut DbConn, key: &str) -> QueryResult<Option<String>> {
    staff_groups::table
        .filter(staff_groups::key.eq(key))
        .select(staff_groups::id)
        .first(conn)
        .optional()
}
