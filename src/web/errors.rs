//! Answers for people: a browser that asks for a page and gets an error (no such page, not
//! allowed, an expired link, a fault) sees a page in the layout with a way on, while API
//! clients keep their problem+json; and `HEAD` is answered wherever `GET` is.

use actix_web::body::{to_bytes, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse};
use minijinja::context;

/// Middleware (outermost): a `HEAD` request is routed as the `GET` it mirrors. The server
/// remembers that the request was `HEAD` and sends the headers without the body.
pub async fn head_as_get(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    if req.method() == Method::HEAD {
        req.head_mut().method = Method::GET;
    }
    next.call(req).await
}

/// Whether the request is a person's browser asking for a page: not under `/api/`, and
/// `text/html` accepted.
fn wants_page(req: &ServiceRequest) -> bool {
    !req.path().starts_with("/api/")
        && req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"))
}

/// The page's heading and the way on, by status.
fn wording(status: StatusCode) -> (&'static str, &'static str) {
    match status.as_u16() {
        401 => (
            "Sign in to continue",
            "This page is for people who are signed in.",
        ),
        403 => (
            "You cannot do this",
            "Your account does not allow this. If you think it should, ask your school's CPD \
             lead or the alliance's CPD team.",
        ),
        404 => (
            "Page not found",
            "There is no such page, or it is not one you can see. If you typed the address, \
             check it.",
        ),
        405 => (
            "Page not found",
            "This address does not take that kind of request.",
        ),
        409 => (
            "That could not be done",
            "Something changed since the page was shown. Go back and look again.",
        ),
        410 => (
            "This link has expired",
            "Ask for a new one, or sign in and find the page from the start.",
        ),
        429 => (
            "Too many requests",
            "Please wait a few minutes and try again.",
        ),
        400..=499 => ("That request could not be read", "Go back and try again."),
        _ => (
            "Sorry, something went wrong",
            "Nothing you did caused this. Please try again in a few minutes; if it keeps \
             happening, tell the alliance's CPD team.",
        ),
    }
}

/// Middleware: an error a page route answered as problem+json goes to a browser as a page of
/// the same status, with the problem's own sentence where it has one.
pub async fn html_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let page_wanted = wants_page(&req);
    let signed_in = req.cookie(crate::auth::session::COOKIE).is_some();
    let res = next.call(req).await?.map_into_boxed_body();
    let status = res.status();
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/problem+json"));
    if !(page_wanted && is_problem && (status.is_client_error() || status.is_server_error())) {
        return Ok(res);
    }
    let retry_after = res.headers().get(header::RETRY_AFTER).cloned();
    let (req, res) = res.into_parts();
    // The problem's sentence (a refusal's reason, a field's error): problem documents are
    // small; an unreadable one just leaves the page's own words.
    let detail = to_bytes(res.into_body())
        .await
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["detail"].as_str().map(str::to_string))
        // A 404's sentence says no more than the page does; a fault's is not for people.
        .filter(|d| !d.is_empty() && status != StatusCode::NOT_FOUND && !status.is_server_error());
    let (title, advice) = wording(status);
    let page = super::page(
        status,
        "error.html",
        context! { signed_in, title, advice, detail, status => status.as_u16() },
    )
    .unwrap_or_else(|_| HttpResponse::build(status).body(title));
    let mut page = page;
    if let Some(v) = retry_after {
        page.headers_mut().insert(header::RETRY_AFTER, v);
    }
    Ok(ServiceResponse::new(req, page))
}

/// Middleware: a page that sent the reader to sign in ([`super::sign_in_first`]) puts itself
/// in the sign-in address, `/?next=<the page>`, for a `GET`; the sign-in form carries it on.
pub async fn return_to(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let asked = (req.method() == Method::GET)
        .then(|| req.uri().path_and_query().map(|p| p.as_str().to_string()))
        .flatten();
    let mut res = next.call(req).await?;
    let h = res.headers_mut();
    if h.remove(super::SIGN_IN_FIRST).next().is_some() {
        if let Some(page) = asked.as_deref().and_then(super::signin::safe_next) {
            let to = format!(
                "/?{}",
                serde_urlencoded::to_string([("next", page)]).unwrap_or_default()
            );
            if let Ok(v) = header::HeaderValue::from_str(&to) {
                h.insert(header::LOCATION, v);
            }
        }
    }
    Ok(res)
}
