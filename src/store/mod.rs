//! Database queries, one module per aggregate. Store functions own their transactions and
//! locking and return plain values; they never see HTTP types.

pub mod attendance;
pub mod audit;
pub mod bookings;
pub mod calendar_feeds;
pub mod courses;
pub mod digests;
pub mod evaluation;
pub mod export;
pub mod idempotency;
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
