//! The sign-in pages: the home page (with the email form), the emailed link's confirm page,
//! using the link, and signing out.

use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use minijinja::context;
use serde::Deserialize;

use crate::app::state::AppState;
use crate::auth::session;
use crate::auth::MaybeCaller;
use crate::domain::booking::BookingStatus;
use crate::domain::roles::Role;
use crate::domain::text::is_email;
use crate::error::responses::CrossSite;
use crate::error::{AppError, AppResult};
use crate::store::signin::LinkState;

use super::page;

/// The sign-in form.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct EmailForm {
    /// The address to send the link to.
    #[serde(default)]
    pub email: String,
    /// The page to return to once signed in (a path of cpd-hub's own).
    #[serde(default)]
    pub next: String,
}

/// `?next=`: the page that sent the reader to sign in.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NextQuery {
    /// A path of cpd-hub's own, such as `/courses/{id}`.
    pub next: Option<String>,
}

/// The cookie that carries the page to return to from the sign-in form to the emailed link
/// (opened in the same browser).
const NEXT_COOKIE: &str = "cpd_next";

/// `next` if it is a page of cpd-hub's own to return to: a path (not another site's address,
/// not `//host`), not a sign-in page, of a sensible length.
pub fn safe_next(next: &str) -> Option<String> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.starts_with("/auth/")
        && next.len() <= 500
        && next != "/"
        && !next.chars().any(|c| c.is_control() || c == '\\');
    ok.then(|| next.to_string())
}

fn next_cookie(value: &str, max_age_minutes: i64) -> actix_web::cookie::Cookie<'static> {
    actix_web::cookie::Cookie::build(NEXT_COOKIE, value.to_string())
        .path("/")
        .http_only(true)
        .same_site(actix_web::cookie::SameSite::Lax)
        .max_age(actix_web::cookie::time::Duration::minutes(max_age_minutes))
        .finish()
}

/// The confirm page's form.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct TokenForm {
    /// The token from the emailed link.
    #[serde(default)]
    pub token: String,
}

/// `?token=` of the emailed link.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TokenQuery {
    /// The token from the emailed link.
    pub token: Option<String>,
}

fn link_minutes(state: &AppState) -> u32 {
    state.settings.sign_in.link_minutes
}

/// The home page: a greeting when signed in, otherwise the sign-in form.
#[utoipa::path(tag = "web", params(NextQuery), responses((status = 200, description = "HTML page", content_type = "text/html", body = String)))]
#[get("/")]
pub async fn home(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    query: web::Query<NextQuery>,
) -> AppResult<HttpResponse> {
    let next = query.into_inner().next.as_deref().and_then(safe_next);
    let Some(caller) = caller.0 else {
        return page(
            StatusCode::OK,
            "home.html",
            context! { signed_in => false, next, link_minutes => link_minutes(&state), sso => state.oidc.buttons() },
        );
    };
    let id = caller.person_id.clone();
    let name = state
        .db(move |conn| crate::store::signin::person_name(conn, &id).map_err(Into::into))
        .await?;
    // What the person holds now, soonest course first: the places with their next session,
    // and the requests and waits with where they stand.
    let now = crate::domain::time::now();
    let mut held = Vec::new();
    for b in crate::app::courses::my_bookings(&state, &caller)
        .await?
        .into_iter()
        .filter(|b| b.status.is_active())
    {
        let course = match crate::app::courses::course(&state, Some(&caller), &b.course_id).await {
            Ok(c) => c,
            // A course the person may no longer see (cancelled since): nothing to come.
            Err(AppError::NotFound) => continue,
            Err(e) => return Err(e),
        };
        let next_session = course.sessions.iter().find(|s| s.end > now);
        let Some(session) = next_session else {
            continue;
        };
        let status = match b.status {
            BookingStatus::Confirmed => "You have a place".to_string(),
            BookingStatus::Waitlisted => format!(
                "Number {} on the waiting list",
                b.waitlist_position.unwrap_or(1)
            ),
            _ => "Waiting for your school lead's approval".to_string(),
        };
        held.push((
            session.start,
            b.course_id,
            b.course_title,
            session.display.clone(),
            status,
        ));
    }
    held.sort();
    let evaluations: Vec<_> = crate::app::evaluation::waiting(&state, &caller, now)
        .await?
        .into_iter()
        .map(|e| {
            context! {
                id => e.invitation_id,
                course_title => e.course_title,
                follow_up => e.form_kind == crate::domain::evaluation::FormKind::FollowUp,
                closes => crate::domain::course::london_start_display(e.closes_at),
            }
        })
        .collect();
    let held: Vec<_> = held
        .into_iter()
        .map(|(_, id, title, when, status)| context! { id, title, when, status })
        .collect();
    page(
        StatusCode::OK,
        "home.html",
        context! {
            signed_in => true,
            name,
            held,
            evaluations,
            leads_courses => caller.has(Role::CourseLead) || caller.is_admin(),
            leads_school => caller.has(Role::SchoolLead) || caller.is_admin(),
            reads_reports => caller.has(Role::CpdGroup) || caller.has(Role::SchoolLead) || caller.is_admin(),
            link_minutes => link_minutes(&state),
        },
    )
}

/// Ask for a sign-in link from the home page's form. The answer is the same whether or not
/// the address is on record.
#[utoipa::path(tag = "web",
    request_body(content = EmailForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Check your email", content_type = "text/html", body = String),
        (status = 422, description = "Not an email address", content_type = "text/html", body = String),
        (status = 429, description = "Too many requests; see Retry-After", content_type = "text/html", body = String),
))]
#[post("/auth/sign-in")]
pub async fn sign_in(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<EmailForm>,
) -> AppResult<HttpResponse> {
    let form = form.into_inner();
    let next = safe_next(&form.next);
    let email = form.email.trim().to_string();
    let minutes = link_minutes(&state);
    if !is_email(&email) {
        let error = if email.is_empty() {
            "Enter your email address"
        } else {
            "Enter an email address in the right form, like name@school.sch.uk"
        };
        return page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "home.html",
            context! { email, error, next, link_minutes => minutes, sso => state.oidc.buttons() },
        );
    }
    match session::request_link(&state, &req, email.clone()).await {
        Ok(()) => {
            let mut res = page(
                StatusCode::OK,
                "check_email.html",
                context! { email, link_minutes => minutes },
            )?;
            // Kept as long as the link works, for the link to bring the reader back.
            if let Some(next) = next {
                res.add_cookie(&next_cookie(&next, i64::from(minutes)))
                    .map_err(|e| AppError::Internal(e.into()))?;
            }
            Ok(res)
        }
        Err(AppError::TooManyRequests { retry_after }) => {
            let mut res = page(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited.html",
                context! { minutes => retry_after.div_ceil(60) },
            )?;
            res.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(retry_after));
            Ok(res)
        }
        Err(e) => Err(e),
    }
}

fn invalid_link(state: &AppState, reason: LinkState) -> AppResult<HttpResponse> {
    let (status, reason) = match reason {
        LinkState::Used => (StatusCode::GONE, "used"),
        LinkState::Expired => (StatusCode::GONE, "expired"),
        LinkState::Unknown | LinkState::Valid => (StatusCode::NOT_FOUND, "unknown"),
    };
    page(
        status,
        "link_invalid.html",
        context! { reason, link_minutes => link_minutes(state), sso => state.oidc.buttons() },
    )
}

/// The emailed link's page: one button that signs in. Opening it does not use the link
/// (mail scanners open links); a link that cannot be used says why and offers a new one.
#[utoipa::path(tag = "web", params(TokenQuery), responses(
    (status = 200, description = "Confirm page", content_type = "text/html", body = String),
    (status = 404, description = "Unknown link", content_type = "text/html", body = String),
    (status = 410, description = "Used or expired link", content_type = "text/html", body = String),
))]
#[get("/auth/magic")]
pub async fn confirm(
    state: web::Data<AppState>,
    query: web::Query<TokenQuery>,
) -> AppResult<HttpResponse> {
    let token = query.into_inner().token.unwrap_or_default();
    match session::peek_link(&state, &token).await? {
        LinkState::Valid => page(
            StatusCode::OK,
            "magic_confirm.html",
            context! { token, link_minutes => link_minutes(&state) },
        ),
        other => invalid_link(&state, other),
    }
}

/// Use the emailed link: starts a browser session (the `cpd_session` cookie) and goes back to
/// the page that sent the reader to sign in (in this browser), or to the home page.
#[utoipa::path(tag = "web",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed in; back to the page that asked for it, or home, with the session cookie"),
        CrossSite,
        (status = 404, description = "Unknown link", content_type = "text/html", body = String),
        (status = 410, description = "Used or expired link", content_type = "text/html", body = String),
))]
#[post("/auth/magic")]
pub async fn use_link(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<TokenForm>,
) -> AppResult<HttpResponse> {
    let token = form.into_inner().token;
    let next = req
        .cookie(NEXT_COOKIE)
        .and_then(|c| safe_next(c.value()))
        .unwrap_or_else(|| "/".to_string());
    match session::use_link(&state, token.trim()).await? {
        Ok(cookie) => Ok(HttpResponse::SeeOther()
            .insert_header((header::LOCATION, next))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .cookie(cookie)
            .cookie(next_cookie("", 0))
            .finish()),
        Err(reason) => invalid_link(&state, reason),
    }
}

/// Sign out: ends the browser session and clears its cookie, then goes to the home page.
#[utoipa::path(tag = "web", responses(
    (status = 303, description = "Signed out; to the home page"),
    CrossSite,
))]
#[post("/auth/sign-out")]
pub async fn sign_out(state: web::Data<AppState>, req: HttpRequest) -> AppResult<HttpResponse> {
    let cookie = session::sign_out(&state, &req).await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/"))
        .cookie(cookie)
        .finish())
}

/// Registers the sign-in pages.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(home)
        .service(sign_in)
        .service(confirm)
        .service(use_link)
        .service(sign_out);
    super::signin_oidc::configure(cfg);
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_pages_of_cpd_hub_are_returned_to() {
        assert_eq!(safe_next("/courses/abc"), Some("/courses/abc".into()));
        assert_eq!(
            safe_next("/courses?q=phonics&page=2"),
            Some("/courses?q=phonics&page=2".into())
        );
        for bad in [
            "",
            "/",
            "https://elsewhere.example/",
            "//elsewhere.example/",
            "/\\elsewhere.example",
            "/auth/magic?token=x",
            "courses",
            "/courses\nSet-Cookie: x",
        ] {
            assert_eq!(safe_next(bad), None, "{bad:?}");
        }
        assert_eq!(safe_next(&format!("/{}", "a".repeat(600))), None);
    }
}
