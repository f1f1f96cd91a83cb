//! Security headers on every response: a Content-Security-Policy without inline scripts or
//! styles, no framing, no sniffing, and referrers kept within cpd-hub.

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

/// Middleware: adds the headers unless a handler set its own.
pub async fn headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let docs = req.path().starts_with("/api/docs");
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
    ] {
        if !h.contains_key(&name) {
            h.insert(name, HeaderValue::from_static(value));
        }
    }
    Ok(res)
}
