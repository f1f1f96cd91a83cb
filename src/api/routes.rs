//! The routes cpd-hub serves, read from its OpenAPI document, so that a request for a known
//! address with a method it does not take (`TRACE /api/v1/courses`) is answered 405 with an
//! `Allow` header rather than 404: every route is in the document (`api::ApiDoc`), so the
//! document is the list.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::error::{AppError, Problem};

/// One part of a route's path: literal text, or a parameter with optional literal text
/// before and after it (`{token}.ics`).
#[derive(Debug, Clone)]
enum Part {
    Literal(String),
    Param { prefix: String, suffix: String },
}

impl Part {
    fn matches(&self, segment: &str) -> bool {
        match self {
            Part::Literal(text) => text == segment,
            Part::Param { prefix, suffix } => {
                segment.len() > prefix.len() + suffix.len()
                    && segment.starts_with(prefix.as_str())
                    && segment.ends_with(suffix.as_str())
            }
        }
    }
}

/// Every documented path with the methods it takes.
#[derive(Debug, Clone, Default)]
pub struct KnownRoutes {
    routes: Vec<(Vec<Part>, Vec<String>)>,
}

impl KnownRoutes {
    /// The routes of an OpenAPI document.
    pub fn from_openapi(doc: &utoipa::openapi::OpenApi) -> KnownRoutes {
        let routes = doc
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let parts = path.trim_matches('/').split('/').map(part).collect();
                let mut methods: Vec<String> = [
                    ("GET", &item.get),
                    ("PUT", &item.put),
                    ("POST", &item.post),
                    ("DELETE", &item.delete),
                    ("OPTIONS", &item.options),
                    ("HEAD", &item.head),
                    ("PATCH", &item.patch),
                    ("TRACE", &item.trace),
                ]
                .into_iter()
                .filter(|(_, op)| op.is_some())
                .map(|(m, _)| m.to_string())
                .collect();
                // HEAD is answered wherever GET is (web::errors::head_as_get).
                if methods.iter().any(|m| m == "GET") {
                    methods.push("HEAD".into());
                }
                (parts, methods)
            })
            .collect();
        KnownRoutes { routes }
    }

    /// The methods a path takes, in a stable order; empty when no route has this path.
    pub fn allowed(&self, path: &str) -> Vec<String> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let matching: Vec<&(Vec<Part>, Vec<String>)> = self
            .routes
            .iter()
            .filter(|(parts, _)| {
                parts.len() == segments.len()
                    && parts.iter().zip(&segments).all(|(p, s)| p.matches(s))
            })
            .collect();
        // `/bookings/approve` is its own route, not `/bookings/{id}` with the id "approve":
        // only the routes with the most literal parts count.
        let literal = |parts: &[Part]| {
            parts
                .iter()
                .filter(|p| matches!(p, Part::Literal(_)))
                .count()
        };
        let most = matching
            .iter()
            .map(|(parts, _)| literal(parts))
            .max()
            .unwrap_or(0);
        let mut allowed: Vec<String> = matching
            .into_iter()
            .filter(|(parts, _)| literal(parts) == most)
            .flat_map(|(_, methods)| methods.iter().cloned())
            .collect();
        allowed.sort();
        allowed.dedup();
        allowed
    }
}

fn part(segment: &str) -> Part {
    match (segment.find('{'), segment.find('}')) {
        (Some(open), Some(close)) if open < close => Part::Param {
            prefix: segment[..open].to_string(),
            suffix: segment[close + 1..].to_string(),
        },
        _ => Part::Literal(segment.to_string()),
    }
}

/// The answer for a request no route took: 405 with `Allow` when the path is known and the
/// method is not one it takes, else 404.
pub async fn unrouted(
    req: HttpRequest,
    routes: Option<web::Data<KnownRoutes>>,
) -> Result<HttpResponse, AppError> {
    let allowed = routes.map(|r| r.allowed(req.path())).unwrap_or_default();
    if allowed.is_empty() || allowed.iter().any(|m| m == req.method().as_str()) {
        return Err(AppError::NotFound);
    }
    let allow = allowed.join(", ");
    let problem = Problem {
        kind: "https://cpd-hub.invalid/problems/method-not-allowed".into(),
        title: "Method not allowed".into(),
        status: 405,
        detail: format!("This address takes {allow}."),
        code: None,
        errors: None,
    };
    Ok(HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, allow))
        .content_type("application/problem+json")
        .body(serde_json::to_string(&problem).unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_paths_list_their_methods() {
        let doc: utoipa::openapi::OpenApi = serde_json::from_value(serde_json::json!({
            "openapi": "3.1.0",
            "info": {"title": "t", "version": "1"},
            "paths": {
                "/api/v1/courses": {"get": {"responses": {}}, "post": {"responses": {}}},
                "/api/v1/courses/{id}": {"get": {"responses": {}}, "patch": {"responses": {}}},
                "/calendar/{token}.ics": {"get": {"responses": {}}},
                "/api/v1/courses/import": {"post": {"responses": {}}},
            }
        }))
        .unwrap();
        let routes = KnownRoutes::from_openapi(&doc);
        assert_eq!(routes.allowed("/api/v1/courses"), ["GET", "HEAD", "POST"]);
        assert_eq!(
            routes.allowed("/api/v1/courses/x"),
            ["GET", "HEAD", "PATCH"]
        );
        assert_eq!(routes.allowed("/calendar/abc.ics"), ["GET", "HEAD"]);
        assert_eq!(routes.allowed("/api/v1/courses/import"), ["POST"]);
        assert!(routes.allowed("/calendar/abc").is_empty());
        assert!(routes.allowed("/api/v1/nothing").is_empty());
        assert!(routes.allowed("/api/v1/courses/x/y").is_empty());
    }
}
