//! People: staff records, roles, and the signed-in caller's own view.

/// Registers the people handlers.
pub fn configure(_cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {}
