//! Self check-in: a signed-in attendee types the code the course lead shows in the room (or
//! scans its QR code, which opens this page with the code filled in) and is marked present,
//! or late after the grace period, through `store::attendance::check_in`.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use minijinja::context;
use serde::Deserialize;

use crate::app::policy::{self, Action};
use crate::app::state::AppState;
use crate::auth::MaybeCaller;
use crate::domain::attendance::normalise_code;
use crate::domain::time;
use crate::error::responses::CrossSite;
use crate::error::{AppError, AppResult};
use crate::store::attendance as store;

use super::{page, sign_in_first};

/// `?code=`: the code from the QR code.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CodeQuery {
    /// The session's check-in code.
    pub code: Option<String>,
}

/// The check-in form.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CodeForm {
    /// The session's check-in code, as typed (case, spaces and hyphens do not matter).
    #[serde(default)]
    pub code: String,
}

/// The longest code kept to show back on the page (a code is six characters).
const CODE_ECHO_MAX: usize = 20;

fn check_in_page(state: &AppState) -> String {
    format!(
        "{}/check-in",
        state.settings.public_base_url.trim_end_matches('/')
    )
}

/// The check-in page: the code form for someone signed in, otherwise the sign-in form.
#[utoipa::path(tag = "web", params(CodeQuery), responses(
    (status = 200, description = "The check-in form, or the sign-in form when not signed in", content_type = "text/html", body = String),
))]
#[get("/check-in")]
pub async fn check_in_form(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    query: web::Query<CodeQuery>,
) -> AppResult<HttpResponse> {
    let code: Option<String> = query
        .into_inner()
        .code
        .map(|c| c.trim().chars().take(CODE_ECHO_MAX).collect());
    page(
        StatusCode::OK,
        "check_in.html",
        context! {
            signed_in => caller.0.is_some(),
            code,
            check_in_page => check_in_page(&state),
            link_minutes => state.settings.sign_in.link_minutes,
            sso => state.oidc.buttons(),
        },
    )
}

/// Checks the caller in with a code: the page says how they are now marked, or why not
/// (check-in not open yet or closed, no place on the course, an unknown code).
#[utoipa::path(tag = "web",
    request_body(content = CodeForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Checked in (or already on the register): the page says as what", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to the sign-in page"),
        CrossSite,
        (status = 409, description = "Refused (outside the check-in window, no place, course cancelled): the page says why", content_type = "text/html", body = String),
        (status = 422, description = "Not a check-in code, or no session has it", content_type = "text/html", body = String),
))]
#[post("/check-in")]
pub async fn check_in(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    form: web::Form<CodeForm>,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    policy::require(&caller, Action::CheckIn)?;
    let typed = form.into_inner().code;
    let settings = state.settings.attendance.clone();
    let code = typed.clone();
    let result = state
        .db(move |conn| {
            store::check_in(conn, &settings, &caller.person_id, None, &code, time::now())
        })
        .await;
    let echo: String = typed.trim().chars().take(CODE_ECHO_MAX).collect();
    match result {
        Ok(done) => page(
            StatusCode::OK,
            "check_in.html",
            context! {
                signed_in => true,
                checked_in => true,
                recorded => done.recorded,
                status => done.status.as_str(),
                status_label => done.status.label(),
                course_title => done.course_title,
                session_display => done.session_display,
            },
        ),
        // The store names the code; the page says it in words for the person holding it.
        Err(AppError::Validation(_)) => {
            let error = if typed.trim().is_empty() {
                "Enter the check-in code"
            } else if normalise_code(&typed).is_none() {
                "Enter the code shown in the room: six letters and numbers"
            } else {
                "No session has this code: check it and try again"
            };
            page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "check_in.html",
                context! { signed_in => true, code => echo, error },
            )
        }
        Err(AppError::Conflict { code, detail }) => {
            let title = match code {
                "check_in_closed" => "Check-in is not open",
                "not_booked" => "You're not booked on this course",
                "not_confirmed" => "You do not have a place on this course yet",
                "course_cancelled" => "This course has been cancelled",
                _ => "You cannot check in",
            };
            page(
                StatusCode::CONFLICT,
                "check_in.html",
                context! {
                    signed_in => true,
                    refusal_title => title,
                    refusal => detail,
                    refusal_code => code,
                },
            )
        }
        Err(e) => Err(e),
    }
}

/// Registers the check-in pages.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(check_in_form).service(check_in);
}
