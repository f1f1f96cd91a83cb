//! The append-only audit log of sensitive actions.

use diesel::prelude::*;

use crate::db::schema::audit_log;
use crate::db::DbConn;

/// Appends one entry. Call inside the transaction that makes the change, so the entry exists
/// exactly when the change does.
pub fn record(
    conn: &mut DbConn,
    actor_id: Option<&str>,
    action: &str,
    subject_type: &str,
    subject_id: Option<&str>,
    detail: serde_json::Value,
) -> QueryResult<()> {
    diesel::insert_into(audit_log::table)
        .values((
            audit_log::id.eq(super::new_id()),
            audit_log::at.eq(crate::domain::time::now()),
            audit_log::actor_id.eq(actor_id),
            audit_log::action.eq(action),
            audit_log::subject_type.eq(subject_type),
            audit_log::subject_id.eq(subject_id),
            audit_log::detail.eq(detail.to_string()),
        ))
        .execute(conn)?;
    Ok(())
}
