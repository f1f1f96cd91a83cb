//! Cross-site request forgery defence, in one place for the whole service.
//!
//! A browser sends the session cookie with any request to cpd-hub, whichever site starts it.
//! So a state-changing request (not GET/HEAD/OPTIONS) that relies on the cookie, or that goes
//! to a browser form (anything outside `/api/`, such as `POST /auth/magic`), must show that it
//! comes from cpd-hub's own pages: its `Origin` (or, failing that, `Referer`) must be
//! `PUBLIC_BASE_URL`'s origin or the origin of the host it was sent to. Requests with an
//! `Authorization` header need no such check: another site cannot make a browser add one.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpRequest};

use crate::app::state::AppState;
use crate::error::AppError;

/// Middleware: refuses cross-site state changes with a 403 problem.
pub async fn same_origin(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    if needs_check(req.request()) {
        let public = req
            .app_data::<web::Data<AppState>>()
            .map(|s| s.settings.public_base_url.clone())
            .unwrap_or_default();
        if let Err(e) = check(req.request(), &public) {
            return Ok(req.error_response(e).map_into_right_body());
        }
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

/// Whether the request could have been started by another site riding on the browser's cookie.
fn needs_check(req: &HttpRequest) -> bool {
    let safe = matches!(
        *req.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    );
    if safe || req.headers().contains_key(header::AUTHORIZATION) {
        return false;
    }
    req.cookie(crate::auth::session::COOKIE).is_some() || !req.path().starts_with("/api/")
}

/// Checks that the request says it comes from cpd-hub itself.
fn check(req: &HttpRequest, public_base_url: &str) -> Result<(), AppError> {
    let refuse = |why: &str| {
        AppError::Forbidden(format!(
            "{why} To protect your session, a signed-in browser may change things only from \
             cpd-hub's own pages; scripts should send an API token instead."
        ))
    };
    let header_value = |name| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            // Browsers send `Origin: null` from privacy-sensitive contexts; it proves nothing.
            .filter(|v| !v.is_empty() && *v != "null")
    };
    let Some(source) = header_value(header::ORIGIN).or_else(|| header_value(header::REFERER))
    else {
        return Err(refuse(
            "The request did not say which page it came from (no Origin or Referer header).",
        ));
    };
    let Ok(source) = url::Url::parse(source) else {
        return Err(refuse("The request's Origin could not be read."));
    };
    let origin = source.origin();
    let public = url::Url::parse(public_base_url).ok();
    if public.as_ref().is_some_and(|u| u.origin() == origin) {
        return Ok(());
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()));
    // The origin the request was sent to is the scheme it arrived by (as the proxy in front
    // says, when there is one) with its host; the scheme is part of the origin, so
    // `http://host` is not `https://host`. A request to the public address's own host is
    // held to that address alone, whatever a proxy forgot to say about the scheme.
    let public_host = public
        .as_ref()
        .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?)));
    let to_public_host = host.as_ref().is_some_and(|h| {
        url::Url::parse(&format!(
            "{}://{h}",
            public.as_ref().map_or("http", |u| u.scheme())
        ))
        .ok()
        .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?)))
            == public_host
    });
    let scheme = req.connection_info().scheme().to_string();
    let same_host = !to_public_host
        && host
            .and_then(|h| url::Url::parse(&format!("{scheme}://{h}")).ok())
            .is_some_and(|u| u.origin() == origin);
    if same_host {
        Ok(())
    } else {
        Err(refuse("The request came from another site."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn post() -> TestRequest {
        TestRequest::post()
            .uri("/api/v1/clusters")
            .insert_header((header::HOST, "cpd.example.org"))
            .cookie(actix_web::cookie::Cookie::new("cpd_session", "x"))
    }

    const PUBLIC: &str = "https://cpd.example.org";

    #[test]
    fn safe_methods_bearer_requests_and_cookieless_api_calls_are_not_checked() {
        assert!(!needs_check(&TestRequest::get().to_http_request()));
        assert!(!needs_check(
            &post()
                .insert_header((header::AUTHORIZATION, "Bearer x"))
                .to_http_request()
        ));
        assert!(!needs_check(
            &TestRequest::post()
                .uri("/api/v1/clusters")
                .to_http_request()
        ));
        assert!(needs_check(&post().to_http_request()));
        assert!(needs_check(
            &TestRequest::post().uri("/auth/magic").to_http_request()
        ));
    }

    #[test]
    fn origins_must_match_the_public_address_or_the_host() {
        let ok = |r: TestRequest| check(&r.to_http_request(), PUBLIC).is_ok();
        assert!(ok(post().insert_header((header::ORIGIN, PUBLIC))));
        assert!(ok(post().insert_header((
            header::REFERER,
            "https://cpd.example.org/auth/magic?x=1"
        ))));
        assert!(ok(TestRequest::post()
            .insert_header((header::HOST, "127.0.0.1:8080"))
            .insert_header((header::ORIGIN, "http://127.0.0.1:8080"))));
        assert!(!ok(post()));
        assert!(!ok(post().insert_header((header::ORIGIN, "null"))));
        assert!(!ok(
            post().insert_header((header::ORIGIN, "https://evil.example"))
        ));
        assert!(!ok(post().insert_header((
            header::ORIGIN,
            "https://cpd.example.org.evil.example"
        ))));
        // The scheme is part of the origin.
        assert!(!ok(TestRequest::post()
            .insert_header((header::HOST, "other.example"))
            .insert_header((header::ORIGIN, "http://cpd.example.org"))));
        // An origin that differs from the public address only in its scheme is another site,
        // also when the request came to the public host by plain HTTP from a proxy.
        assert!(!ok(
            post().insert_header((header::ORIGIN, "http://cpd.example.org"))
        ));
        assert!(!ok(TestRequest::post()
            .insert_header((header::HOST, "other.example"))
            .insert_header((header::ORIGIN, "https://other.example"))));
        assert!(ok(TestRequest::post()
            .insert_header((header::HOST, "other.example"))
            .insert_header((header::ORIGIN, "http://other.example"))));
    }
}
