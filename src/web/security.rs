//! Security headers on every response: a Content-Security-Policy without inline scripts or
//! styles, no framing, no sniffing, referrers kept within cpd-hub, no powerful browser
//! features, and API answers kept out of caches.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::Error;

/// The policy for cpd-hub's own pages: scripts, styles and images only from cpd-hub itself,
/// never inline; forms post only to cpd-hub; no page may be framed (clickjacking).
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
                       frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The Swagger UI at `/api/docs/` loads its scripts from files but sets inline styles and
/// uses `data:` images; this relaxation applies to that path only.
pub const DOCS_CSP: &str = "default-src 'self'; script-src 'self'; \
                            style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                            frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The features no page of cpd-hub uses, turned off for the page and anything it embeds.
pub const PERMISSIONS_POLICY: &str = "camera=(), microphone=(), geolocation=(), payment=(), usb=()";

/// Middleware: adds the headers unless a handler set its own, and `Cache-Control: no-store`
/// to every `/api/v1` answer that set none.
pub async fn headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let docs = req.path().starts_with("/api/docs");
    let api = req.path().starts_with("/api/v1/");
    // Errors are answered further out (they are rare here: handlers and the cross-site
    // check turn theirs into responses, which get the headers).
    let mut res = next.call(req).await?.map_into_boxed_body();
    let csp = if docs { DOCS_CSP } else { CSP };
    let h = res.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, csp),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        // `same-origin`, not `no-referrer`: with no-referrer browsers send `Origin: null` on
        // form posts, which the cross-site request check must refuse.
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_FRAME_OPTIONS, "DENY"),
        // No page uses the camera, microphone, location or payment: a script that got in
        // could not either.
        (
            header::HeaderName::from_static("permissions-policy"),
            PERMISSIONS_POLICY,
        ),
    ] {
        if !h.contains_key(&name) {
            h.insert(name, HeaderValue::from_static(value));
        }
    }
    // API answers carry names, email addresses, bookings and reports: no cache on the way
    // (a proxy, the browser's disk) may keep them, unless the handler said otherwise.
    if api && !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(res)
}
