//! Personal calendar feed tokens: a person asks for a feed URL carrying a secret token, adds
//! it to their calendar program, and can rotate or revoke it. Only the token's hash is kept.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::new_id;
use crate::db::schema::{calendar_feeds, people};
use crate::db::{write_tx, DbConn};
use crate::domain::time;
use crate::domain::tokens::{hash, random_hex};

/// A new feed token: `cal_` and 64 hex digits (256 bits), safe in a URL path.
fn new_feed_token() -> String {
    format!("cal_{}", random_hex(32))
}

/// Creates a feed token for the person, revoking any earlier one (so a leaked URL stops
/// working), and returns the token. It is shown once; only its hash is stored.
pub fn rotate(conn: &mut DbConn, person_id: &str) -> QueryResult<String> {
    write_tx(conn, |conn| {
        let now = time::now();
        diesel::update(
            calendar_feeds::table
                .filter(calendar_feeds::person_id.eq(person_id))
                .filter(calendar_feeds::revoked_at.is_null()),
        )
        .set(calendar_feeds::revoked_at.eq(now))
        .execute(conn)?;
        let token = new_feed_token();
        diesel::insert_into(calendar_feeds::table)
            .values((
                calendar_feeds::id.eq(new_id()),
                calendar_feeds::person_id.eq(person_id),
                calendar_feeds::token_hash.eq(hash(&token)),
                calendar_feeds::created_at.eq(now),
            ))
            .execute(conn)?;
        Ok(token)
    })
}

/// Revokes the person's feed token; returns how many were live (0 or 1).
pub fn revoke(conn: &mut DbConn, person_id: &str) -> QueryResult<usize> {
    write_tx(conn, |conn| {
        diesel::update(
            calendar_feeds::table
                .filter(calendar_feeds::person_id.eq(person_id))
                .filter(calendar_feeds::revoked_at.is_null()),
        )
        .set(calendar_feeds::revoked_at.eq(time::now()))
        .execute(conn)
    })
}

/// The person a live feed token belongs to (None: unknown, revoked, or the person was erased).
pub fn person_for_token(conn: &mut DbConn, token: &str) -> QueryResult<Option<String>> {
    calendar_feeds::table
        .inner_join(people::table)
        .filter(calendar_feeds::token_hash.eq(hash(token)))
        .filter(calendar_feeds::revoked_at.is_null())
        .filter(people::erased_at.is_null())
        .select(people::id)
        .first(conn)
        .optional()
}

/// When the person's live feed token was made (None: they have none).
pub fn live_since(conn: &mut DbConn, person_id: &str) -> QueryResult<Option<NaiveDateTime>> {
    calendar_feeds::table
        .filter(calendar_feeds::person_id.eq(person_id))
        .filter(calendar_feeds::revoked_at.is_null())
        .select(calendar_feeds::created_at)
        .order(calendar_feeds::created_at.desc())
        .first(conn)
        .optional()
}
