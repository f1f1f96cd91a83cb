//! People: staff records, their roles, and the admin bootstrap.

use diesel::prelude::*;

use super::new_id;
use crate::db::schema::{people, person_roles};
use crate::db::DbConn;
use crate::domain::roles::Role;
use crate::domain::text::normalise_email;
use crate::domain::time;
use crate::error::AppResult;

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
                let id = new_id();
                let now = time::now();
                diesel::insert_into(people::table)
                    .values((
                        people::id.eq(&id),
                        people::name.eq(name.trim()),
                        people::email.eq(normalise_email(email)),
                        people::created_at.eq(now),
                        people::updated_at.eq(now),
                    ))
                    .execute(conn)?;
                grant_role(conn, &id, Role::Staff)?;
                (id, true)
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
