//! Who is calling, and what they may do.
//!
//! [`Caller`] is read from the request: an API token (`Authorization: Bearer`) or the session
//! cookie set by sign-in ([`session`]); the token wins when both are sent. [`csrf`] guards
//! cookie-borne state changes. [`cache`] keeps who a credential belongs to for a few seconds,
//! so most requests need no database round trip to say who they are. [`policy`] is the one place that decides what a caller may do:
//! handlers ask it and never look at roles themselves.

pub mod cache;
pub mod csrf;
pub mod oidc;
pub mod session;

pub use crate::app::policy;
pub use crate::domain::caller::Caller;
pub use crate::domain::tokens;

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};

use crate::app::state::AppState;
use crate::error::AppError;

tokio::task_local! {
    /// The caller the current request was identified as, for the page layout's menu.
    static SEEN: std::cell::RefCell<Option<Caller>>;
}

/// Runs a request's handling with room to remember its caller ([`seen_caller`]), so the page
/// layout can show the menu for the reader's roles without each page passing them.
pub async fn remembering_caller<F: Future>(fut: F) -> F::Output {
    SEEN.scope(std::cell::RefCell::new(None), fut).await
}

/// The caller identified for the request being handled, if any (see [`remembering_caller`]).
pub fn seen_caller() -> Option<Caller> {
    SEEN.try_with(|c| c.borrow().clone()).ok().flatten()
}

/// The caller if there is one: for endpoints that anyone may use but that show more to people
/// who are signed in.
pub struct MaybeCaller(pub Option<Caller>);

/// Reads the bearer token or, without one, the session cookie, and looks it up.
/// `Ok(None)`: no credentials, or a session cookie that has ended (a browser keeps those);
/// `Err(Unauthenticated)`: a bearer token that is not valid.
async fn identify(req: &HttpRequest) -> Result<Option<Caller>, AppError> {
    let known = req.extensions().get::<Caller>().cloned();
    if let Some(caller) = known {
        let _ = SEEN.try_with(|seen| *seen.borrow_mut() = Some(caller.clone()));
        return Ok(Some(caller));
    }
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("application state missing")))?
        .clone();
    let now = crate::domain::time::now();
    let caller = if let Some(header) = req.headers().get(actix_web::http::header::AUTHORIZATION) {
        let value = header.to_str().map_err(|_| AppError::Unauthenticated)?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AppError::Unauthenticated)?;
        let caller = token_caller(&state, tokens::hash(token), now).await?;
        Some(caller.ok_or(AppError::Unauthenticated)?)
    } else if let Some(cookie) = req.cookie(session::COOKIE) {
        session_caller(&state, tokens::hash(cookie.value()), now).await?
    } else {
        None
    };
    if let Some(c) = &caller {
        req.extensions_mut().insert(c.clone());
        // Outside a request's scope (a test calling this directly) there is nothing to note.
        let _ = SEEN.try_with(|seen| *seen.borrow_mut() = Some(c.clone()));
    }
    Ok(caller)
}

/// The person an API token (by its hash) belongs to at `now`, from [`cache`] or else the
/// database; `None` when the token is unknown, revoked or expired.
pub async fn token_caller(
    state: &AppState,
    hash: String,
    now: chrono::NaiveDateTime,
) -> Result<Option<Caller>, AppError> {
    if let Some(caller) = state.auth_cache.get(&hash, now) {
        return Ok(Some(caller));
    }
    let epoch = state.auth_cache.epoch();
    let key = hash.clone();
    let verified = state
        .db(move |conn| crate::store::tokens::authenticate(conn, &key, now))
        .await?;
    Ok(verified.map(|v| {
        state.auth_cache.put(&hash, &v, now, epoch);
        v.caller
    }))
}

/// The person a session cookie (by its hash) belongs to at `now`, from [`cache`] or else the
/// database; `None` when the session is unknown or has ended.
pub async fn session_caller(
    state: &AppState,
    hash: String,
    now: chrono::NaiveDateTime,
) -> Result<Option<Caller>, AppError> {
    if let Some(caller) = state.auth_cache.get(&hash, now) {
        return Ok(Some(caller));
    }
    let epoch = state.auth_cache.epoch();
    let idle = state.settings.sign_in.session_idle_minutes;
    let key = hash.clone();
    let verified = state
        .db(move |conn| crate::store::signin::authenticate_session(conn, &key, idle, now))
        .await?;
    Ok(verified.map(|v| {
        state.auth_cache.put(&hash, &v, now, epoch);
        v.caller
    }))
}

impl FromRequest for Caller {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { identify(&req).await?.ok_or(AppError::Unauthenticated) })
    }
}

impl FromRequest for MaybeCaller {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { identify(&req).await.map(MaybeCaller) })
    }
}
