//! Sign-in for browsers and people: ask for an emailed link, sign out. (The link itself is
//! used through the HTML pages in `web::signin`.)

use actix_web::{post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use validator::Validate;

use crate::api::extract::ValidJson;
use crate::app::state::AppState;
use crate::auth::session;
use crate::domain::text::is_email;
use crate::error::responses::{Invalid, Problem, PROBLEM_JSON};
use crate::error::{AppError, AppResult};

/// A request for a sign-in link.
#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MagicLinkRequest {
    /// The address to send the link to.
    #[validate(length(min = 3, max = 254))]
    #[schema(min_length = 3, max_length = 254)]
    #[schema(example = "jo.smith@school.sch.uk")]
    pub email: String,
}

/// The answer to every well-formed link request, known address or not.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MagicLinkAccepted {
    /// What happens next.
    pub detail: String,
}

/// Email a sign-in link. Always 202 with the same body, whether or not the address is on
/// record; only people on record get an email. The link works once, for
/// `MAGIC_LINK_MINUTES` (default 15). Rate-limited per address and per client (429 with
/// `Retry-After`).
#[utoipa::path(tag = "auth", request_body = MagicLinkRequest, responses(
    (status = 202, body = MagicLinkAccepted),
    Invalid,
    (status = 429, description = "Too many requests; see Retry-After", body = Problem, content_type = PROBLEM_JSON),
))]
#[post("/auth/magic-link")]
pub async fn magic_link(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: ValidJson<MagicLinkRequest>,
) -> AppResult<HttpResponse> {
    let email = body.into_inner().email;
    if !is_email(&email) {
        return Err(AppError::invalid("email", "must be an email address"));
    }
    session::request_link(&state, &req, email).await?;
    Ok(HttpResponse::Accepted().json(MagicLinkAccepted {
        detail: "If the address belongs to someone on record, a sign-in link is on its way.".into(),
    }))
}

/// Sign out: ends the browser session the request carries and clears its cookie. API tokens
/// are not affected (revoke them under /api/v1/me/tokens).
#[utoipa::path(tag = "auth", responses(
    (status = 204, description = "Signed out"),
    (status = 403, description = "Cookie-authenticated request from another site", body = Problem, content_type = PROBLEM_JSON),
))]
#[post("/auth/sign-out")]
pub async fn sign_out(state: web::Data<AppState>, req: HttpRequest) -> AppResult<HttpResponse> {
    let cookie = session::sign_out(&state, &req).await?;
    Ok(HttpResponse::NoContent().cookie(cookie).finish())
}

/// Registers the sign-in handlers.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(magic_link).service(sign_out);
}
