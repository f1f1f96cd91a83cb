//! Database queries, one module (or folder) per aggregate. Store functions own their
//! transactions and locking and return rows and domain values; they never see requests or
//! responses: the API's JSON shapes of these values are in `api::views`. Some store functions
//! still build their email content here: that is to move to `email/`.

pub mod attendance;
pub mod audit;
pub mod bookings;
pub mod calendar_feeds;
pub mod courses;
pub mod digests;
pub mod erasure;
pub mod evaluation;
pub mod export;
pub mod idempotency;
pub mod job_queues;
pub mod led_courses;
pub mod outbox;
pub mod people;
pub mod reference;
pub mod report_cells;
pub mod reports;
pub mod schools;
pub mod seed;
pub mod signin;
pub mod tokens;

/// A new opaque id: a UUIDv7, whose time-ordered prefix keeps index inserts local.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// `%word%` for a LIKE match on lower-cased text, with LIKE's wildcards escaped (`\`).
pub fn like_pattern(q: &str) -> String {
    let mut out = String::from("%");
    for c in q.trim().to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

diesel::define_sql_function! {
    /// SQL `lower(text)`, the same on both backends for the text cpd-hub matches.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// Makes a database ready for the service: applies pending migrations, then the idempotent
/// defaults (staff groups, priorities, the default evaluation forms). Returns the names of
/// the migrations applied. Safe to run from several copies at once on PostgreSQL.
pub fn prepare(conn: &mut crate::db::DbConn) -> anyhow::Result<Vec<String>> {
    let applied = crate::db::migrate(conn)?;
    reference::seed_defaults(conn)?;
    evaluation::seed_default_forms(conn)?;
    Ok(applied)
}
