//! `Idempotency-Key` for state-changing requests (invariants 4 and 10), implemented once:
//! a handler that honours it (book, cancel, approve, decline) hands [`idempotent`] its
//! request, body, the work to do and how to shape its result, and gets the response to send.
//!
//! The key is scoped to the caller and kept at least 24 hours. The request is identified by a
//! hash of its method, path (with query) and body bytes. The first request claims the key in
//! a small transaction of its own, then runs; a success's answer is written by the use case
//! in the same transaction as the change it reports (`store::idempotency::Answer`), so a
//! crash between the commit and the response cannot lose it; any other answer is stored
//! once known. A retry with the same key and request gets exactly that response again
//! (errors included) with `Idempotency-Replayed: true` and changes nothing. The same key with
//! a different request is 422; a retry while the first request still runs is 409
//! `idempotency_in_progress`. A claim does not outlive its process: after a restart, a key
//! whose request never committed is free at once (a claim made before this process started
//! is taken over); a claim of a live process is taken over after 60 seconds. A failure on
//! our side (5xx) gives the key up, so a retry runs again.

use std::future::Future;
use std::sync::Arc;

use actix_web::http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};
use validator::Validate;

use crate::api::extract::{has_json_body, parse_json};

use crate::app::state::AppState;
use crate::auth::Caller;
use crate::domain::time;
use crate::error::{AppError, AppResult};
use crate::store::idempotency::{self as store, Answer, Begin, Claim, Render};

/// The request header.
pub const HEADER: &str = "Idempotency-Key";
/// The header on a replayed response.
pub const REPLAYED: &str = "Idempotency-Replayed";
/// The longest key accepted.
pub const MAX_KEY_LEN: usize = 200;

/// The request's key: `None` when there is none; 422 naming the header when it is empty,
/// longer than 200 characters, or not printable ASCII.
pub fn key_of(req: &HttpRequest) -> AppResult<Option<String>> {
    let Some(value) = req.headers().get(HEADER) else {
        return Ok(None);
    };
    let bad = || {
        AppError::invalid(
            HEADER,
            format!("must be 1 to {MAX_KEY_LEN} printable characters"),
        )
    };
    let bytes = value.as_bytes();
    if bytes.is_empty()
        || bytes.len() > MAX_KEY_LEN
        || !bytes.iter().all(|b| (0x20..0x7f).contains(b))
    {
        return Err(bad());
    }
    let key = std::str::from_utf8(bytes).map_err(|_| bad())?;
    if key.trim().is_empty() {
        return Err(bad());
    }
    Ok(Some(key.to_string()))
}

/// SHA-256 of method, path with query, and body.
pub fn request_hash(req: &HttpRequest, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(req.method().as_str().as_bytes());
    h.update(b"\n");
    h.update(
        req.uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("")
            .as_bytes(),
    );
    h.update(b"\n");
    h.update(body);
    hex::encode(h.finalize())
}

/// Runs a state-changing JSON handler under the request's `Idempotency-Key`, if it has one
/// (see the module docs): reads the body as `T` (an empty body is `{}`), runs `op` with the
/// state, the caller, the body and, under a key, the [`Answer`] its transaction must record,
/// and answers with `shape` of `op`'s value as JSON, or its error. The body is read inside,
/// so a refusal of a bad body is stored and replayed like any other answer. Without a key it
/// simply runs.
pub async fn idempotent<T, V, R, F, Fut, S>(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    caller: &Caller,
    bytes: &web::Bytes,
    op: F,
    shape: S,
) -> AppResult<HttpResponse>
where
    T: DeserializeOwned + Validate + 'static,
    V: 'static,
    R: Serialize,
    F: FnOnce(web::Data<AppState>, Caller, T, Option<Answer<V>>) -> Fut + 'static,
    Fut: Future<Output = AppResult<V>> + 'static,
    S: Fn(&V) -> (StatusCode, R) + Send + Sync + 'static,
{
    let render: Arc<Render<V>> = Arc::new(move |value: &V| {
        let (status, body) = shape(value);
        Ok((status.as_u16(), serde_json::to_string(&body)?))
    });
    let (st, who, r, b) = (state.clone(), caller.clone(), req.clone(), bytes.clone());
    under_key(state, req, caller, bytes, move |claim| async move {
        let input: T = json_body(&r, &b)?;
        let answer = claim.map(|c| Answer::new(c, render.clone()));
        // A use case handed an answer writes it with the change it makes, or fails.
        let answered = answer.is_some();
        let value = op(st, who, input, answer).await?;
        // The same text the transaction stored, so a replay is byte for byte the answer.
        let (status, body) = render(&value).map_err(AppError::Internal)?;
        let response = HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::OK))
            .content_type("application/json")
            .body(body);
        Ok((response, answered))
    })
    .await
}

/// Reads a JSON body that may be empty (then it is `{}`): 415 for another content type,
/// 400 for malformed JSON, 422 naming the field.
fn json_body<T: DeserializeOwned + Validate>(req: &HttpRequest, bytes: &[u8]) -> AppResult<T> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        if !has_json_body(req) {
            return Err(AppError::UnsupportedMedia("application/json"));
        }
        bytes
    };
    crate::api::extract::require_object(bytes)?;
    let value: T = parse_json(bytes)?;
    value.validate()?;
    Ok(value)
}

/// Runs `op` under the request's `Idempotency-Key`, if it has one: claims the key (and hands
/// `op` the claim), or answers with the stored response, a mismatch (422) or a request still
/// running (409). `op` answers with the response and whether it stored it already (in the
/// transaction of its change); otherwise the response is stored here.
async fn under_key<F, Fut>(
    state: &AppState,
    req: &HttpRequest,
    caller: &Caller,
    body: &[u8],
    op: F,
) -> AppResult<HttpResponse>
where
    F: FnOnce(Option<Claim>) -> Fut + 'static,
    Fut: Future<Output = AppResult<(HttpResponse, bool)>> + 'static,
{
    let Some(key) = key_of(req)? else {
        return Ok(op(None).await?.0);
    };
    let hash = request_hash(req, body);
    let caller_id = caller.person_id.clone();
    let alive_since = state.started_at;
    let begin = {
        state
            .db(move |c| {
                let now = time::now();
                match store::begin(c, &caller_id, &key, &hash, now, alive_since) {
                    // Two first attempts at once on PostgreSQL: the loser reads the winner's
                    // claim.
                    Err(diesel::result::Error::DatabaseError(
                        diesel::result::DatabaseErrorKind::UniqueViolation,
                        _,
                    )) => Ok(store::begin(c, &caller_id, &key, &hash, now, alive_since)?),
                    other => Ok(other?),
                }
            })
            .await?
    };
    match begin {
        Begin::Replay { status, body } => Ok(replay(status, body)),
        Begin::Mismatch => Err(AppError::invalid(
            HEADER,
            "was already used for a different request; use a new key for a new request",
        )),
        Begin::InProgress => Err(store::in_progress()),
        Begin::Run(claim) => {
            // Run to the end in a task of its own, so the answer is stored even when the
            // client goes away before it comes.
            let state = state.clone();
            let task = actix_web::rt::spawn(async move {
                let (response, answered) = match op(Some(claim.clone())).await {
                    Ok(done) => done,
                    Err(e) => (e.error_response(), false),
                };
                let status = response.status();
                let headers = response.headers().clone();
                let bytes = actix_web::body::to_bytes(response.into_body())
                    .await
                    .map_err(|e| AppError::Internal(anyhow::anyhow!("reading a response: {e}")))?;
                let text = String::from_utf8_lossy(&bytes).into_owned();
                let stored = text.clone();
                if !answered {
                    state
                        .db(move |c| {
                            if status.is_server_error() {
                                store::release(c, &claim)?;
                            } else {
                                store::finish(c, &claim, status.as_u16(), &stored)?;
                            }
                            Ok(())
                        })
                        .await?;
                }
                let mut out = HttpResponse::build(status);
                for (name, value) in headers.iter() {
                    out.insert_header((name.clone(), value.clone()));
                }
                Ok::<_, AppError>(out.body(text))
            });
            task.await
                .map_err(|e| AppError::Internal(anyhow::anyhow!("the request task failed: {e}")))?
        }
    }
}

/// The stored answer again, marked as a replay.
fn replay(status: u16, body: String) -> HttpResponse {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let content_type = if status.is_client_error() || status.is_server_error() {
        "application/problem+json"
    } else {
        "application/json"
    };
    HttpResponse::build(status)
        .insert_header((CONTENT_TYPE, HeaderValue::from_static(content_type)))
        .insert_header((
            HeaderName::from_static("idempotency-replayed"),
            HeaderValue::from_static("true"),
        ))
        .body(body)
}
