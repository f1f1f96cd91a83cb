//! The JSON API under `/api/v1` and the operations endpoints. Each handler parses and
//! validates, asks `auth::policy`, calls one `store` function and shapes the response.

pub mod admin;
pub mod attendance;
pub mod auth;
pub mod bookings;
pub mod calendar;
pub mod courses;
pub mod csv;
pub mod evaluation;
pub mod extract;
pub mod idempotency;
pub mod ops;
pub mod outbox;
pub mod people;
pub mod privacy;
pub mod reference;
pub mod reports;
pub mod routes;
pub mod schools;
pub mod views;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The OpenAPI document's frame; the paths are collected from the handlers as they are
/// registered, so a route cannot be served without being documented.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "cpd-hub",
        description = "Continuing professional development for a schools' alliance: the CPD \
                       calendar, bookings, registers, evaluation and reports.\n\nErrors are \
                       `application/problem+json` (RFC 7807). Lists take `limit` and `offset` \
                       and return `{\"items\": [...], \"total\": n}`. Times are RFC 3339."
    ),
    components(schemas(crate::error::Problem)),
    modifiers(&BearerAuth),
    tags(
        (name = "operations", description = "Health, readiness, metrics"),
        (name = "reference", description = "Clusters, schools, staff groups, priorities, providers"),
        (name = "people", description = "Staff records and roles"),
        (name = "me", description = "The signed-in person and their API tokens"),
        (name = "bookings", description = "Places on courses, waiting lists, approvals and cancellations"),
        (name = "courses", description = "The CPD calendar: courses and their sessions"),
        (name = "calendar", description = "iCalendar (RFC 5545) feeds for calendar programs"),
        (name = "admin", description = "Running the service: the email outbox and the audit log"),
        (name = "auth", description = "Sign-in links and sign-out"),
        (name = "web", description = "HTML pages and their forms (for browsers)"),
        (name = "reports", description = "Engagement and impact reports"),
        (name = "attendance", description = "Registers, walk-ins, self check-in and CPD records"),
        (name = "evaluation", description = "Evaluation forms on Guskey's five levels, answering them, and course results"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API token from `cpd-hub admin create` or POST /api/v1/me/tokens",
                    ))
                    .build(),
            ),
        );
    }
}

/// Declares, once for every operation, the problem answers any of them can give that its own
/// `#[utoipa::path]` did not list: 400, 413 and 415 where it reads a body; 401 where it needs
/// a token; 404 where its path names a record; 422 where it takes parameters or a body; and a
/// `default` problem for the rest (405, 429, 503, 500), so that every answer the service can
/// give is in the document. Applied to the whole document once the handlers have added
/// their paths (`startup`), as the paths are not there when [`ApiDoc`]'s modifiers run.
pub struct ProblemResponses;

impl Modify for ProblemResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let problem = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    crate::error::responses::PROBLEM_JSON,
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build()
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let names_record = path.contains('{');
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                let has_body = op.request_body.is_some();
                let has_params = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
                // An operation that may be called without a token lists `{}` among its
                // security requirements (or has none at all).
                let needs_token = op.security.as_ref().is_some_and(|s| {
                    !s.is_empty()
                        && !s.iter().any(|r| {
                            serde_json::to_value(r)
                                .is_ok_and(|v| v.as_object().is_some_and(|o| o.is_empty()))
                        })
                });
                let mut add = |status: &str, description: &str| {
                    op.responses
                        .responses
                        .entry(status.to_string())
                        .or_insert_with(|| problem(description).into());
                };
                if has_body {
                    add("400", "The body could not be read (malformed JSON)");
                    add("413", "The body is larger than the endpoint reads");
                    add("415", "The body is not of the type the endpoint reads");
                }
                if needs_token {
                    add("401", "Not signed in: no valid API token or session");
                }
                if names_record {
                    add("404", "No such record, or one the caller may not see");
                }
                if has_body || has_params {
                    add("422", "Validation failed; `errors` names each field");
                }
                add(
                    "default",
                    "Any other error (405, 429, 503, 500), as a problem document",
                );
            }
        }
    }
}

/// Registers every `/api/v1` handler.
pub fn configure_v1(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    reference::configure(cfg);
    people::configure(cfg);
    bookings::configure(cfg);
    schools::configure(cfg);
    courses::configure(cfg);
    calendar::configure(cfg);
    outbox::configure(cfg);
    auth::configure(cfg);
    admin::configure(cfg);
    privacy::configure(cfg);
    reports::configure(cfg);
    attendance::configure(cfg);
    evaluation::configure(cfg);
}
