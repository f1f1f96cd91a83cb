//! Operations endpoints: liveness, readiness, Prometheus metrics, the OpenAPI redirect.

use actix_web::{get, web, HttpResponse};

use crate::app::state::AppState;
use crate::error::responses::{Forbidden, Problem, Unauthorized, PROBLEM_JSON};

/// Liveness: the process is up and answering.
#[utoipa::path(tag = "operations", responses((status = 200, description = "Alive", body = String, example = "ok")))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// Readiness: the database answers. 503 when it does not, so a load balancer stops sending
/// traffic to this copy.
#[utoipa::path(tag = "operations", responses(
    (status = 200, description = "Ready", body = String, example = "ready"),
    (status = 503, description = "The database cannot be reached", body = Problem,
     content_type = PROBLEM_JSON)
))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, crate::error::AppError> {
    state
        .db(|conn| crate::db::ping(conn).map_err(Into::into))
        .await
        .map_err(|e| match e {
            crate::error::AppError::Unavailable(_) => e,
            other => crate::error::AppError::Unavailable(other.to_string()),
        })?;
    Ok(HttpResponse::Ok().content_type("text/plain").body("ready"))
}

/// Prometheus metrics: requests by route and status, latency, pool and email figures.
///
/// For operators: a scraper sends `Authorization: Bearer` with the `METRICS_TOKEN` setting;
/// an admin may also read it with their own token or session.
#[utoipa::path(tag = "operations", security(("bearer" = [])), responses(
    (status = 200, description = "Prometheus text format", body = String),
    Unauthorized,
    Forbidden,
))]
#[get("/metrics")]
pub async fn metrics(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
) -> Result<HttpResponse, crate::error::AppError> {
    if !is_scraper(&state, &req) {
        use actix_web::FromRequest;
        let caller = crate::auth::Caller::extract(&req).await?;
        crate::app::policy::require(&caller, crate::app::policy::Action::ReadMetrics)?;
    }
    let pool = state.pool.state();
    let m = &state.metrics;
    m.pool
        .with_label_values(&["in_use"])
        .set(i64::from(pool.connections - pool.idle_connections));
    m.pool
        .with_label_values(&["idle"])
        .set(i64::from(pool.idle_connections));
    m.pool_max.set(i64::from(state.pool.max_size()));
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(m.render()))
}

/// Whether the request carries the configured scraper token. Hashes are compared, so the
/// time taken says nothing about how much of a guess was right.
fn is_scraper(state: &AppState, req: &actix_web::HttpRequest) -> bool {
    let Some(expected) = state.settings.metrics_token.as_deref() else {
        return false;
    };
    let given = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    given.is_some_and(|g| crate::domain::tokens::hash(g) == crate::domain::tokens::hash(expected))
}

/// `/api/docs` without the trailing slash leads to the browsable documentation.
#[utoipa::path(tag = "operations", responses((status = 308, description = "To /api/docs/")))]
#[get("/api/docs")]
pub async fn docs_redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header(("Location", "/api/docs/"))
        .finish()
}

/// Registers the operations endpoints.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(healthz)
        .service(readyz)
        .service(metrics)
        .service(docs_redirect);
}
