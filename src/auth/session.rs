//! Browser sign-in: emailed links, the session cookie, sign-out. The JSON API and the HTML
//! pages both go through these functions, so the two cannot drift apart.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::HttpRequest;

use super::tokens;
use crate::app::state::AppState;
use crate::error::{AppError, AppResult};
use crate::store::signin::{self as store, LinkState};

/// The name of the session cookie.
pub const COOKIE: &str = "cpd_session";

/// Whether cookies must be marked `Secure` (the service is reached over https).
fn secure(state: &AppState) -> bool {
    state.settings.public_base_url.starts_with("https://")
}

/// The session cookie: `HttpOnly` (scripts cannot read it), `SameSite=Lax` (other sites'
/// forms and scripts cannot send it, links to cpd-hub still can), `Secure` over https.
/// It carries no `Max-Age`, so it ends with the browser (staff-room computers are shared);
/// the server also ends the session when idle or at its absolute expiry.
pub fn cookie(state: &AppState, secret: &str) -> Cookie<'static> {
    Cookie::build(COOKIE, secret.to_string())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure(state))
        .finish()
}

/// A cookie that tells the browser to forget the session cookie.
pub fn removal_cookie(state: &AppState) -> Cookie<'static> {
    let mut c = cookie(state, "");
    c.make_removal();
    c
}

/// The address a request came from, for rate limits. The TCP peer, unless the service is
/// told it sits behind a proxy (`TRUST_FORWARDED_FOR`): then the last `X-Forwarded-For`
/// entry, the one the proxy itself saw (earlier entries are whatever the client sent).
pub fn client_address(state: &AppState, req: &HttpRequest) -> String {
    if state.settings.sign_in.trust_forwarded_for {
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .last();
        if let Some(addr) = forwarded {
            return addr.chars().take(64).collect();
        }
    }
    req.peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".to_string())
}

/// Handles a request for a sign-in link (see [`store::request_link`]): 429 with the wait
/// when a rate limit refuses it, otherwise `Ok` whether or not the address is known.
pub async fn request_link(state: &AppState, req: &HttpRequest, email: String) -> AppResult<()> {
    let client = client_address(state, req);
    let base = state.settings.public_base_url.clone();
    let settings = state.settings.sign_in.clone();
    state
        .db(move |c| store::request_link(c, &email, &client, &base, &settings))
        .await?
        .map_err(|retry_after| AppError::TooManyRequests { retry_after })
}

/// Whether a sign-in link may be used, without using it.
pub async fn peek_link(state: &AppState, token: &str) -> AppResult<LinkState> {
    if token.is_empty() || token.len() > 256 {
        return Ok(LinkState::Unknown);
    }
    let hash = tokens::hash(token);
    state.db(move |c| store::link_state(c, &hash)).await
}

/// Uses a sign-in link. On success returns the new session's cookie; otherwise why the link
/// could not be used.
pub async fn use_link(
    state: &AppState,
    token: &str,
) -> AppResult<Result<Cookie<'static>, LinkState>> {
    if token.is_empty() || token.len() > 256 {
        return Ok(Err(LinkState::Unknown));
    }
    let hash = tokens::hash(token);
    let secret = tokens::random_hex(32);
    let session_hash = tokens::hash(&secret);
    let settings = state.settings.sign_in.clone();
    match state
        .db(move |c| store::consume_link(c, &hash, &session_hash, &settings))
        .await?
    {
        LinkState::Valid => Ok(Ok(cookie(state, &secret))),
        other => Ok(Err(other)),
    }
}

/// Ends the browser session the request carries, if any. Returns the cookie that clears it.
pub async fn sign_out(state: &AppState, req: &HttpRequest) -> AppResult<Cookie<'static>> {
    if let Some(c) = req.cookie(COOKIE) {
        let hash = tokens::hash(c.value());
        let key = hash.clone();
        state
            .db(move |conn| store::revoke_session(conn, &key).map_err(Into::into))
            .await?;
        // The session may be kept as verified; this copy refuses it from the next request.
        state.auth_cache.forget(&hash);
    }
    Ok(removal_cookie(state))
}
