//! Single sign-on pages: the button's address, which sends the browser to the provider, and
//! the callback the provider sends it back to. The rules are in `auth::oidc`; these only turn
//! its answers into redirects and pages.

use actix_web::http::{header, StatusCode};
use actix_web::{get, web, HttpRequest, HttpResponse};
use minijinja::context;

use super::page;
use super::signin::{safe_next, NextQuery};
use crate::app::state::AppState;
use crate::auth::oidc::{self, Callback, Refusal};
use crate::error::AppResult;

/// The page that says why a single sign-on was refused, with what to do next.
fn refused(state: &AppState, refusal: &Refusal) -> AppResult<HttpResponse> {
    let status = match refusal {
        Refusal::UnknownProvider => StatusCode::NOT_FOUND,
        Refusal::BadState | Refusal::CodeRefused | Refusal::BadToken => StatusCode::BAD_REQUEST,
        Refusal::ProviderDenied
        | Refusal::NoEmail
        | Refusal::EmailUnverified
        | Refusal::DomainNotAllowed { .. }
        | Refusal::UnknownPerson { .. } => StatusCode::FORBIDDEN,
    };
    let email = match refusal {
        Refusal::DomainNotAllowed { email } | Refusal::UnknownPerson { email } => {
            Some(email.clone())
        }
        _ => None,
    };
    let mut res = page(
        status,
        "oidc_refused.html",
        context! {
            reason => refusal.code(),
            email,
            sso => state.oidc.buttons(),
            link_minutes => state.settings.sign_in.link_minutes,
        },
    )?;
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(res)
}

/// A sign-in button: sends the browser to the provider's sign-in page (authorisation code
/// flow with PKCE, `state` and `nonce`), with the `state` in a short-lived cookie.
#[utoipa::path(tag = "web", params(("provider" = String, Path, description = "The provider's id in OIDC_PROVIDERS"), NextQuery), responses(
    (status = 303, description = "To the provider's sign-in page"),
    (status = 404, description = "No such provider, or it is not available", content_type = "text/html", body = String),
))]
#[get("/sign-in/oidc/{provider}")]
pub async fn start(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<NextQuery>,
) -> AppResult<HttpResponse> {
    let next = query.into_inner().next.as_deref().and_then(safe_next);
    let now = crate::domain::time::now();
    match oidc::start(&state, &path.into_inner(), next, now).await? {
        Ok((url, state_value)) => Ok(HttpResponse::SeeOther()
            .insert_header((header::LOCATION, url))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .cookie(oidc::state_cookie(&state, &state_value, oidc::FLOW_MINUTES))
            .finish()),
        Err(refusal) => refused(&state, &refusal),
    }
}

/// Where the provider sends the browser back: signs in the person on record with the verified
/// address and goes to the page that asked, or says why not.
#[utoipa::path(tag = "web", params(("provider" = String, Path, description = "The provider's id in OIDC_PROVIDERS"), Callback), responses(
    (status = 303, description = "Signed in; back to the page that asked for it, or home, with the session cookie"),
    (status = 400, description = "Wrong or used state, refused code, or an ID token that failed its checks", content_type = "text/html", body = String),
    (status = 403, description = "Unverified or unknown address, or a domain the provider may not sign in", content_type = "text/html", body = String),
    (status = 404, description = "No such provider", content_type = "text/html", body = String),
))]
#[get("/sign-in/oidc/{provider}/callback")]
pub async fn callback(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<Callback>,
) -> AppResult<HttpResponse> {
    let cookie = req.cookie(oidc::STATE_COOKIE);
    let now = chrono::Utc::now();
    let outcome = oidc::finish(
        &state,
        &path.into_inner(),
        cookie.as_ref().map(|c| c.value()),
        query.into_inner(),
        now,
    )
    .await?;
    let mut res = match outcome {
        Ok(signed_in) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, signed_in.next))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .cookie(signed_in.cookie)
            .finish(),
        Err(refusal) => refused(&state, &refusal)?,
    };
    // The state is spent either way.
    res.add_cookie(&oidc::state_cookie(&state, "", 0))
        .map_err(|e| crate::error::AppError::Internal(e.into()))?;
    Ok(res)
}

/// Registers the single sign-on pages.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(callback).service(start);
}
