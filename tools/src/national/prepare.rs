//! Preparing the database and putting it back

use super::*;

#[derive(QueryableByName)]
pub(super) struct IndexDef {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub(super) name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub(super) sql: String,
}

/// Drops the secondary indexes of the big tables and returns the statements that make them
/// again. Primary keys and unique constraints stay (they cannot be dropped on their own).
pub(super) fn drop_indexes(conn: &mut DbConn) -> anyhow::Result<Vec<String>> {
    let list = BIG_TABLES
        .iter()
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(",");
    let query = match conn {
        DbConn::Pg(_) => format!(
            "SELECT i.indexname AS name, i.indexdef AS sql FROM pg_indexes i \
             WHERE i.schemaname = current_schema() AND i.tablename IN ({list}) \
             AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname) \
             ORDER BY i.indexname"
        ),
        DbConn::Sqlite(_) => format!(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL \
             AND tbl_name IN ({list}) ORDER BY name"
        ),
    };
    let defs: Vec<IndexDef> = diesel::sql_query(query).load(conn)?;
    for d in &defs {
        conn.batch_execute(&format!("DROP INDEX \"{}\"", d.name))?;
    }
    Ok(defs.into_iter().map(|d| d.sql).collect())
}

/// On SQLite, drops the triggers that mark courses for the report cells, fill the jobs'
/// due-queues and give each response its course's academic year (all done once after the
/// load instead) and returns the statements that make them
/// again (PostgreSQL's run once per statement, so they stay).
pub(super) fn drop_report_triggers(conn: &mut DbConn) -> anyhow::Result<Vec<String>> {
    if let DbConn::Pg(_) = conn {
        return Ok(Vec::new());
    }
    let defs: Vec<IndexDef> = diesel::sql_query(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND (name LIKE 'report_%' OR name LIKE 'jobs_%' OR name = 'evaluation_responses_course_year')",
    )
    .load(conn)?;
    for d in &defs {
        conn.batch_execute(&format!("DROP TRIGGER \"{}\"", d.name))?;
    }
    Ok(defs.into_iter().map(|d| d.sql).collect())
}

/// Makes a PostgreSQL-only or SQLite-only setting, reporting whether it took.
pub(super) fn try_execute(conn: &mut DbConn, sql: &str) -> bool {
    conn.batch_execute(sql).is_ok()
}
