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
