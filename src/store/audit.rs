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

/// One audit log entry as read back.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditEntry {
    /// The entry's id.
    pub id: String,
    /// When it happened.
    #[serde(with = "crate::domain::time::rfc3339")]
    pub at: chrono::NaiveDateTime,
    /// Who did it (a person's id); null for the command line or the system.
    pub actor_id: Option<String>,
    /// What was done, e.g. `role.grant`, `person.erase`, `schools.import`.
    pub action: String,
    /// The kind of record it was done to, e.g. `person`, `course`.
    pub subject_type: String,
    /// The record's id.
    pub subject_id: Option<String>,
    /// Particulars, as recorded.
    pub detail: serde_json::Value,
}

type AuditRow = (
    String,
    chrono::NaiveDateTime,
    Option<String>,
    String,
    String,
    Option<String>,
    String,
);

/// The columns an [`AuditRow`] is read from.
const COLUMNS: (
    audit_log::id,
    audit_log::at,
    audit_log::actor_id,
    audit_log::action,
    audit_log::subject_type,
    audit_log::subject_id,
    audit_log::detail,
) = (
    audit_log::id,
    audit_log::at,
    audit_log::actor_id,
    audit_log::action,
    audit_log::subject_type,
    audit_log::subject_id,
    audit_log::detail,
);

fn entry(row: AuditRow) -> AuditEntry {
    let (id, at, actor_id, action, subject_type, subject_id, detail) = row;
    AuditEntry {
        id,
        at,
        actor_id,
        action,
        subject_type,
        subject_id,
        // Written by `record` from a JSON value, so it parses; keep the text if it ever does not.
        detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::String(detail)),
    }
}

/// Which entries to list; `None` matches anything.
#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    /// Exactly this action.
    pub action: Option<String>,
    /// Done by this person.
    pub actor_id: Option<String>,
    /// Done to this record.
    pub subject_id: Option<String>,
    /// At or after this time.
    pub from: Option<chrono::NaiveDateTime>,
    /// Before this time.
    pub until: Option<chrono::NaiveDateTime>,
}

/// Lists entries, newest first.
pub fn list(
    conn: &mut DbConn,
    filter: &AuditFilter,
    paging: crate::domain::paging::Paging,
) -> QueryResult<crate::domain::paging::Page<AuditEntry>> {
    let query = || {
        let mut q = audit_log::table.into_boxed();
        if let Some(a) = &filter.action {
            q = q.filter(audit_log::action.eq(a.clone()));
        }
        if let Some(a) = &filter.actor_id {
            q = q.filter(audit_log::actor_id.eq(a.clone()));
        }
        if let Some(s) = &filter.subject_id {
            q = q.filter(audit_log::subject_id.eq(s.clone()));
        }
        if let Some(t) = filter.from {
            q = q.filter(audit_log::at.ge(t));
        }
        if let Some(t) = filter.until {
            q = q.filter(audit_log::at.lt(t));
        }
        q
    };
    crate::db::read_tx(conn, |conn| {
        let total = query().count().get_result(conn)?;
        let rows: Vec<AuditRow> = query()
            .order((audit_log::at.desc(), audit_log::id.desc()))
            .limit(paging.limit)
            .offset(paging.offset)
            .select(COLUMNS)
            .load(conn)?;
        Ok(crate::domain::paging::Page {
            items: rows.into_iter().map(entry).collect(),
            total,
        })
    })
}

/// Every entry done by or to a person, oldest first (for their data export).
pub fn involving(conn: &mut DbConn, person_id: &str) -> QueryResult<Vec<AuditEntry>> {
    let rows: Vec<AuditRow> = audit_log::table
        .filter(
            audit_log::actor_id
                .eq(person_id)
                .or(audit_log::subject_id.eq(person_id)),
        )
        .order((audit_log::at.asc(), audit_log::id.asc()))
        .select(COLUMNS)
        .load(conn)?;
    Ok(rows.into_iter().map(entry).collect())
}
