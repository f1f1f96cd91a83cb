//! The page a school CPD lead reaches from the "approve or decline" link in an approval
//! request email (`/bookings/{id}/approve`): who asked for which course, and the two
//! decisions, each through the same use case as the API (`app::bookings::decide`).

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use minijinja::context;
use serde::Deserialize;

use crate::app::bookings::{self as bookings, Decision};
use crate::app::policy::{allows, Action};
use crate::app::AppState;
use crate::auth::MaybeCaller;
use crate::domain::booking::BookingStatus;
use crate::domain::course::london_start_display;
use crate::domain::time;
use crate::error::responses::{Problem, PROBLEM_JSON};
use crate::error::{AppError, AppResult};

use super::{html_not_found, page, see_other, sign_in_first};

/// `?done=`: the decision just made.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DecidedQuery {
    /// `approved` or `declined`.
    pub done: Option<String>,
}

/// A booking request and the school lead's two decisions.
#[utoipa::path(tag = "web", params(("id" = String, Path, description = "The booking"), DecidedQuery), responses(
    (status = 200, description = "The request", content_type = "text/html", body = String),
    (status = 303, description = "Not signed in: to sign-in"),
    (status = 404, description = "No such booking, or not one the reader may see", content_type = "text/html", body = String),
))]
#[get("/bookings/{id}/approve")]
pub async fn request_page(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    id: web::Path<String>,
    done: web::Query<DecidedQuery>,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    let result = async {
        let (b, _) = bookings::detail(&state, &caller, &id).await?;
        let may_decide = allows(
            &caller,
            &Action::DecideBooking {
                school_id: b.school_id.as_deref(),
            },
        );
        request_page_for(StatusCode::OK, b, may_decide, done.done.as_deref(), None)
    }
    .await;
    html_not_found(result)
}

/// The request's page: who asked for which course and where it stands, with the decisions
/// when the reader may make them, the decision just made, or the decline form's error.
fn request_page_for(
    status: StatusCode,
    b: crate::store::bookings::Booking,
    may_decide: bool,
    done: Option<&str>,
    error: Option<&str>,
) -> AppResult<HttpResponse> {
    page(
        status,
        "approve.html",
        context! {
            signed_in => true,
            booking_id => b.id,
            person => b.person_name,
            course_id => b.course_id,
            course_title => b.course_title,
            requested => london_start_display(b.requested_at),
            pending => b.status == BookingStatus::PendingApproval,
            status => b.status.as_str().replace('_', " "),
            may_decide,
            done,
            error,
        },
    )
}

/// The decline form: the reason the person is told.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct DeclineForm {
    /// Why (1 to 1,000 characters).
    #[serde(default)]
    pub reason: String,
}

/// Approves the request (post/redirect/get back to its page).
#[utoipa::path(tag = "web", params(("id" = String, Path, description = "The booking")), responses(
    (status = 303, description = "Back to the request, which says what was decided"),
    (status = 403, description = "Not the person's school lead, or posted from another site", body = Problem, content_type = PROBLEM_JSON),
    (status = 404, description = "No such booking", content_type = "text/html", body = String),
))]
#[post("/bookings/{id}/approve")]
pub async fn approve(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    decide(&state, caller, &id, Decision::Approve(None), "approved").await
}

/// Declines the request with a reason (an empty reason shows the form again with the error).
#[utoipa::path(tag = "web", params(("id" = String, Path, description = "The booking")),
    request_body(content = DeclineForm, content_type = "application/x-www-form-urlencoded"),
    responses(
    (status = 303, description = "Back to the request, which says what was decided"),
    (status = 403, description = "Not the person's school lead, or posted from another site", body = Problem, content_type = PROBLEM_JSON),
    (status = 404, description = "No such booking", content_type = "text/html", body = String),
    (status = 422, description = "No reason given: the form again, with the error", content_type = "text/html", body = String),
))]
#[post("/bookings/{id}/decline")]
pub async fn decline(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    id: web::Path<String>,
    form: web::Form<DeclineForm>,
) -> AppResult<HttpResponse> {
    let reason = form.into_inner().reason.trim().to_string();
    if reason.is_empty() || reason.chars().count() > 1000 {
        let Some(caller) = caller.0 else {
            return Ok(sign_in_first());
        };
        let b = match bookings::detail(&state, &caller, &id).await {
            Ok((b, _)) => b,
            Err(e) => return html_not_found(Err(e)),
        };
        let error = if reason.is_empty() {
            "Enter the reason for declining: the person is told it"
        } else {
            "The reason must be 1,000 characters or fewer"
        };
        return request_page_for(StatusCode::UNPROCESSABLE_ENTITY, b, true, None, Some(error));
    }
    decide(
        &state,
        caller,
        &id,
        Decision::Decline(Some(reason)),
        "declined",
    )
    .await
}

async fn decide(
    state: &AppState,
    caller: MaybeCaller,
    id: &str,
    decision: Decision,
    done: &str,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    let back = format!("/bookings/{id}/approve");
    match bookings::decide(state, &caller, vec![id.to_string()], decision, time::now()).await {
        Ok(_) => Ok(see_other(&format!("{back}?done={done}"))),
        // Decided already (the form posted twice, or by another lead): the page says how.
        Err(AppError::Conflict { .. }) => Ok(see_other(&back)),
        Err(e) => html_not_found(Err(e)),
    }
}

/// Registers the approval pages.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(request_page).service(approve).service(decline);
}
