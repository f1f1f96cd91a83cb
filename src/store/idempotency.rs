//! Idempotency keys (invariants 4 and 10): the first response to a request carrying an
//! `Idempotency-Key` is stored under (caller, key) and replayed for a retry of the same
//! request, so a retried booking creates nothing new.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::idempotency_keys;
use crate::db::{write_tx, DbConn};

/// How long a first attempt may run before a retry may take it over (it crashed, or the
/// process stopped before storing the response).
pub const TAKE_OVER_AFTER: chrono::Duration = chrono::Duration::seconds(60);

/// How long keys are kept (at least 24 hours).
pub const KEEP_FOR: chrono::Duration = chrono::Duration::hours(24);

/// What to do with a request carrying a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// First time (or a stale attempt taken over): run the request, then [`finish`].
    Run,
    /// Already answered: send this status and body again.
    Replay {
        /// The stored HTTP status.
        status: u16,
        /// The stored body.
        body: String,
    },
    /// The key was used for a different request.
    Mismatch,
    /// The first request with this key is still running.
    InProgress,
}

#[derive(Queryable)]
struct KeyRow {
    request_hash: String,
    state: String,
    response_status: Option<i32>,
    response_body: Option<String>,
    created_at: NaiveDateTime,
}

/// Claims the key for this request, or says how an earlier use of it answers. The claim is
/// its own small transaction, committed before the request runs, so a concurrent retry sees
/// it.
pub fn begin(
    conn: &mut DbConn,
    caller_id: &str,
    key: &str,
    request_hash: &str,
    now: NaiveDateTime,
) -> QueryResult<Begin> {
    write_tx(conn, |conn| {
        let found: Option<KeyRow> = idempotency_keys::table
            .find((caller_id, key))
            .select((
                idempotency_keys::request_hash,
                idempotency_keys::state,
                idempotency_keys::response_status,
                idempotency_keys::response_body,
                idempotency_keys::created_at,
            ))
            .first(conn)
            .optional()?;
        let Some(row) = found else {
            // On PostgreSQL two first attempts can both get here; the primary key lets one
            // insert and the other fails, and is answered as a retry by the caller.
            diesel::insert_into(idempotency_keys::table)
                .values((
                    idempotency_keys::caller_id.eq(caller_id),
                    idempotency_keys::key.eq(key),
                    idempotency_keys::request_hash.eq(request_hash),
                    idempotency_keys::state.eq("in_progress"),
                    idempotency_keys::created_at.eq(now),
                ))
                .execute(conn)?;
            return Ok(Begin::Run);
        };
        if row.request_hash != request_hash {
            return Ok(Begin::Mismatch);
        }
        match (row.state.as_str(), row.response_status, row.response_body) {
            ("done", Some(status), Some(body)) => Ok(Begin::Replay {
                status: status as u16,
                body,
            }),
            _ if now - row.created_at > TAKE_OVER_AFTER => {
                let n = diesel::update(
                    idempotency_keys::table
                        .find((caller_id, key))
                        .filter(idempotency_keys::state.eq("in_progress"))
                        .filter(idempotency_keys::created_at.eq(row.created_at)),
                )
                .set(idempotency_keys::created_at.eq(now))
                .execute(conn)?;
                Ok(if n == 1 {
                    Begin::Run
                } else {
                    Begin::InProgress
                })
            }
            _ => Ok(Begin::InProgress),
        }
    })
}

/// Stores the response of a request that claimed the key.
pub fn finish(
    conn: &mut DbConn,
    caller_id: &str,
    key: &str,
    status: u16,
    body: &str,
) -> QueryResult<()> {
    diesel::update(idempotency_keys::table.find((caller_id, key)))
        .set((
            idempotency_keys::state.eq("done"),
            idempotency_keys::response_status.eq(Some(i32::from(status))),
            idempotency_keys::response_body.eq(Some(body)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Gives the key up after a failure on our side (5xx), so the client's retry runs again
/// instead of being told about a fault that may have passed.
pub fn release(conn: &mut DbConn, caller_id: &str, key: &str) -> QueryResult<()> {
    diesel::delete(
        idempotency_keys::table
            .find((caller_id, key))
            .filter(idempotency_keys::state.eq("in_progress")),
    )
    .execute(conn)?;
    Ok(())
}

/// Removes keys older than [`KEEP_FOR`]; returns how many.
pub fn purge(conn: &mut DbConn, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(idempotency_keys::table.filter(idempotency_keys::created_at.lt(now - KEEP_FOR)))
        .execute(conn)
}
