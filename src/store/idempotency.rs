//! Idempotency keys (invariants 4 and 10): the first response to a request carrying an
//! `Idempotency-Key` is stored under (caller, key) and replayed for a retry of the same
//! request, so a retried booking creates nothing new.
//!
//! A request first claims its key ([`begin`]), in a small transaction of its own, so that a
//! concurrent retry sees it running. A claim is an attempt's random token. A success's
//! answer is written by [`Answer::record`] inside the transaction that makes the change, so
//! the change and its answer commit together: a crash after the commit cannot leave a
//! booking whose answer is lost. Answers that change nothing (refusals, bad input) are
//! stored afterwards by [`finish`]. Both write only while the attempt's token still holds
//! the key. A claim does not outlive its process: one made before this process started
//! belongs to a process that has gone (or to another copy, which then loses it safely,
//! because its answer no longer matches the token), so a retry after a restart runs at once.

use std::sync::Arc;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::idempotency_keys;
use crate::db::{write_tx, DbConn};
use crate::error::{AppError, AppResult};

/// How long a first attempt may run before a retry may take it over (it crashed, or the
/// process stopped before storing the response) when the claim may belong to a live
/// process (this one, or another copy started before it was made).
pub const TAKE_OVER_AFTER: chrono::Duration = chrono::Duration::seconds(60);

/// How long keys are kept (at least 24 hours).
pub const KEEP_FOR: chrono::Duration = chrono::Duration::hours(24);

/// One attempt's hold on a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The caller the key belongs to.
    pub caller_id: String,
    /// The key.
    pub key: String,
    /// This attempt's token.
    pub token: String,
}

/// What to do with a request carrying a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// First time (or an attempt that has gone, taken over): run the request under this
    /// claim, then [`finish`] (or [`release`] after a failure on our side).
    Run(Claim),
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
/// it. An unanswered claim is taken over when it was made before `alive_since` (when this
/// process started: the process that made it is gone) or more than [`TAKE_OVER_AFTER`] ago.
pub fn begin(
    conn: &mut DbConn,
    caller_id: &str,
    key: &str,
    request_hash: &str,
    now: NaiveDateTime,
    alive_since: NaiveDateTime,
) -> QueryResult<Begin> {
    let claim = Claim {
        caller_id: caller_id.to_string(),
        key: key.to_string(),
        token: uuid::Uuid::new_v4().to_string(),
    };
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
                    idempotency_keys::claim.eq(Some(&claim.token)),
                ))
                .execute(conn)?;
            return Ok(Begin::Run(claim));
        };
        if row.request_hash != request_hash {
            return Ok(Begin::Mismatch);
        }
        match (row.state.as_str(), row.response_status, row.response_body) {
            ("done", Some(status), Some(body)) => Ok(Begin::Replay {
                status: status as u16,
                body,
            }),
            _ if row.created_at < alive_since || now - row.created_at > TAKE_OVER_AFTER => {
                let n = diesel::update(
                    idempotency_keys::table
                        .find((caller_id, key))
                        .filter(idempotency_keys::state.eq("in_progress"))
                        .filter(idempotency_keys::created_at.eq(row.created_at)),
                )
                .set((
                    idempotency_keys::created_at.eq(now),
                    idempotency_keys::claim.eq(Some(&claim.token)),
                ))
                .execute(conn)?;
                Ok(if n == 1 {
                    Begin::Run(claim)
                } else {
                    Begin::InProgress
                })
            }
            _ => Ok(Begin::InProgress),
        }
    })
}

/// The key's row while `claim` still holds it unanswered.
macro_rules! held {
    ($claim:expr) => {
        idempotency_keys::table
            .find((&$claim.caller_id, &$claim.key))
            .filter(idempotency_keys::state.eq("in_progress"))
            .filter(idempotency_keys::claim.eq(&$claim.token))
    };
}

/// Writes the answer under `claim`: `false` when the claim no longer holds the key (it was
/// answered already, or taken over).
fn write_answer(conn: &mut DbConn, claim: &Claim, status: u16, body: &str) -> QueryResult<bool> {
    let n = diesel::update(held!(claim))
        .set((
            idempotency_keys::state.eq("done"),
            idempotency_keys::response_status.eq(Some(i32::from(status))),
            idempotency_keys::response_body.eq(Some(body)),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// Stores the response of a request that claimed the key, unless its answer was stored with
/// its change already ([`Answer::record`]) or the claim was lost.
pub fn finish(conn: &mut DbConn, claim: &Claim, status: u16, body: &str) -> QueryResult<()> {
    write_answer(conn, claim, status, body)?;
    Ok(())
}

/// Gives the key up after a failure on our side (5xx), so the client's retry runs again
/// instead of being told about a fault that may have passed. Only while `claim` still holds
/// it unanswered.
pub fn release(conn: &mut DbConn, claim: &Claim) -> QueryResult<()> {
    diesel::delete(held!(claim)).execute(conn)?;
    Ok(())
}

/// Turns the value a use case returns into the answer to store: its HTTP status and body.
pub type Render<T> = dyn Fn(&T) -> anyhow::Result<(u16, String)> + Send + Sync;

/// A claimed key and how to answer a success: handed to the use case, whose transaction
/// writes the answer with the change ([`Answer::record`]). The store never sees the shape of
/// the answer, only the text `render` makes of its value.
pub struct Answer<T> {
    claim: Claim,
    render: Arc<Render<T>>,
}

impl<T> Clone for Answer<T> {
    fn clone(&self) -> Self {
        Answer {
            claim: self.claim.clone(),
            render: self.render.clone(),
        }
    }
}

impl<T> std::fmt::Debug for Answer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answer")
            .field("claim", &self.claim)
            .finish()
    }
}

impl<T> Answer<T> {
    /// The answer to write under `claim`, rendered by `render`.
    pub fn new(claim: Claim, render: Arc<Render<T>>) -> Self {
        Answer { claim, render }
    }

    /// The claim it answers under.
    pub fn claim(&self) -> &Claim {
        &self.claim
    }

    /// Renders `value` as the answer (status, body), as the caller will send it.
    pub fn render(&self, value: &T) -> AppResult<(u16, String)> {
        (self.render)(value).map_err(AppError::Internal)
    }

    /// Writes the answer for `value` in the caller's open transaction, so it commits (or
    /// rolls back) with the change. 409 `idempotency_in_progress` when the claim has been
    /// taken over meanwhile: the transaction must then roll back, and the attempt that holds
    /// the key answers the client's retry.
    pub fn record(&self, conn: &mut DbConn, value: &T) -> AppResult<()> {
        let (status, body) = self.render(value)?;
        if write_answer(conn, &self.claim, status, &body)? {
            Ok(())
        } else {
            Err(in_progress())
        }
    }
}

/// The answer (409) to a request whose key another attempt holds.
pub fn in_progress() -> AppError {
    AppError::conflict(
        "idempotency_in_progress",
        "A request with this Idempotency-Key is still being processed; try again shortly.",
    )
}

/// Removes keys older than [`KEEP_FOR`]; returns how many.
pub fn purge(conn: &mut DbConn, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(idempotency_keys::table.filter(idempotency_keys::created_at.lt(now - KEEP_FOR)))
        .execute(conn)
}
