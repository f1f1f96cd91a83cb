//! The admin's email pages (`/admin/emails`): the outbox by state (failed, queued, sent in the
//! last day), paged; one message with its error and tries (never its payload, which may hold
//! a sign-in link: the page shows what the API shows); retrying one failed message, and every
//! failed message at once. Each calls the use cases behind the API (`app::outbox`).

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use chrono::NaiveDateTime;
use minijinja::context;
use serde::Deserialize;

use crate::app::outbox;
use crate::app::state::AppState;
use crate::auth::MaybeCaller;
use crate::domain::caller::Caller;
use crate::domain::course::london_start_display;
use crate::domain::notification::DeliveryStatus;
use crate::domain::paging::Paging;
use crate::domain::time;
use crate::error::responses::CrossSite;
use crate::error::{AppError, AppResult};
use crate::store::outbox::{OutboxEntry, OutboxFilter};
use crate::web::{html_not_found, page, page_count, page_number, see_other, sign_in_first};

/// Messages on one page of the list: few enough that a page of long rows stays under the admin
/// pages' 3,000 px at tablet width (25 sent emails measured 3,520 px at 768 px).
const PAGE_SIZE: i64 = 15;

/// The states the list shows, as (key, tab label, heading words).
const STATES: [(&str, &str); 3] = [
    ("failed", "Failed"),
    ("queued", "Queued"),
    ("sent", "Sent in the last day"),
];

/// The list's state, page, and what a retry of every failed message did.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EmailListParams {
    /// `failed` (the default), `queued` (waiting or being sent) or `sent` (in the last day).
    pub state: Option<String>,
    /// The page, from 1.
    pub page: Option<String>,
    /// `retried` after retrying every failed message.
    pub done: Option<String>,
    /// Messages queued again by that retry.
    pub queued: Option<u32>,
    /// Failed messages it left, their link removed.
    pub kept: Option<u32>,
}

/// What a message's page says happened.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EmailDoneParams {
    /// `retried` after retrying it.
    pub done: Option<String>,
}

/// `booking_confirmed` as "Booking confirmed".
fn kind_label(kind: &str) -> String {
    let words = kind.replace('_', " ");
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => words,
    }
}

fn status_label(status: &str) -> &'static str {
    match DeliveryStatus::parse(status) {
        Some(DeliveryStatus::Pending) => "Queued",
        Some(DeliveryStatus::Sending) => "Sending",
        Some(DeliveryStatus::Sent) => "Sent",
        Some(DeliveryStatus::Failed) => "Failed",
        Some(DeliveryStatus::Skipped) => "Skipped",
        None => "Unknown",
    }
}

fn when(t: NaiveDateTime) -> String {
    london_start_display(t)
}

fn plural(n: u32, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

fn row(m: &OutboxEntry) -> minijinja::Value {
    context! {
        id => m.id,
        kind => kind_label(&m.kind),
        to => m.recipient_email,
        status => m.status,
        status_label => status_label(&m.status),
        attempts => m.attempts,
        queued_at => when(m.created_at),
        next_attempt => when(m.next_attempt_at),
        sent_at => m.sent_at.map(when),
        error => m.last_error,
    }
}

/// The outbox by state (admins): failed, queued, or sent in the last day; newest first, paged.
#[utoipa::path(tag = "web", params(EmailListParams), responses(
    (status = 200, description = "The admin's list of emails", content_type = "text/html", body = String),
    (status = 303, description = "Not signed in: to sign-in"),
    (status = 403, description = "Not an admin", content_type = "text/html", body = String),
    (status = 422, description = "An unknown state: the list, saying so", content_type = "text/html", body = String),
))]
#[get("/admin/emails")]
pub async fn index(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    params: web::Query<EmailListParams>,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    let p = params.into_inner();
    let chosen = p
        .state
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("failed")
        .to_string();
    let page_no = page_number(p.page.as_deref());
    let filter = match chosen.as_str() {
        "failed" => Some(OutboxFilter {
            statuses: vec![DeliveryStatus::Failed],
            sent_since: None,
        }),
        "queued" => Some(OutboxFilter {
            statuses: vec![DeliveryStatus::Pending, DeliveryStatus::Sending],
            sent_since: None,
        }),
        "sent" => Some(OutboxFilter {
            statuses: vec![DeliveryStatus::Sent],
            sent_since: Some(time::now() - chrono::Duration::days(1)),
        }),
        _ => None,
    };
    let paging = Paging::new(Some(PAGE_SIZE), Some((page_no - 1) * PAGE_SIZE))
        .map_err(|(f, m)| AppError::invalid(f, m))?;
    let (messages, total, error) = match filter {
        Some(filter) => {
            let found = outbox::list(&state, &caller, filter, paging).await?;
            (found.items.iter().map(row).collect(), found.total, None)
        }
        None => {
            // The policy first: someone else learns nothing from a bad state.
            outbox::list(&state, &caller, OutboxFilter::default(), paging).await?;
            (Vec::new(), 0, Some("State: choose failed, queued or sent"))
        }
    };
    let done = match p.done.as_deref() {
        Some("retried") => {
            let queued = p.queued.unwrap_or(0);
            let kept = p.kept.unwrap_or(0);
            let mut text = if queued == 0 {
                "No failed emails could be sent again.".to_string()
            } else {
                format!(
                    "{} queued to send again.",
                    plural(queued, "failed email", "failed emails")
                )
            };
            if kept > 0 {
                text.push_str(&format!(
                    " {} left as failed: {} link was removed when {} failed, so the person \
                     needs a new one.",
                    plural(kept, "email was", "emails were"),
                    if kept == 1 { "its" } else { "their" },
                    if kept == 1 { "it" } else { "they" },
                ));
            }
            Some(text)
        }
        _ => None,
    };
    let pages = page_count(total, PAGE_SIZE);
    let label = STATES
        .iter()
        .find(|(k, _)| *k == chosen)
        .map(|(_, l)| *l)
        .unwrap_or("Emails");
    page(
        if error.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        },
        "admin_emails.html",
        context! {
            signed_in => true,
            states => STATES.iter().map(|(k, l)| context! { key => k, label => l }).collect::<Vec<_>>(),
            chosen,
            label,
            messages,
            total,
            page_no,
            pages,
            done,
            error,
        },
    )
}

async fn message_page(
    state: &AppState,
    caller: &Caller,
    id: &str,
    status: StatusCode,
    done: Option<&str>,
    error: Option<String>,
) -> AppResult<HttpResponse> {
    let m = outbox::message(state, caller, id).await?;
    page(
        status,
        "admin_email.html",
        context! {
            signed_in => true,
            done,
            error,
            message => context! {
                message_id => m.message_id,
                person => m.recipient_person_id,
                subject => m.subject_id,
                ..row(&m)
            },
        },
    )
}

/// One email (admins): where it goes, its state, tries and last error; never its contents.
#[utoipa::path(tag = "web", params(("id" = String, Path, description = "The message"), EmailDoneParams), responses(
    (status = 200, description = "The email's admin page", content_type = "text/html", body = String),
    (status = 303, description = "Not signed in: to sign-in"),
    (status = 403, description = "Not an admin", content_type = "text/html", body = String),
    (status = 404, description = "No such message", content_type = "text/html", body = String),
))]
#[get("/admin/emails/{id}")]
pub async fn show(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    id: web::Path<String>,
    done: web::Query<EmailDoneParams>,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    let done = match done.done.as_deref() {
        Some("retried") => {
            Some("Queued to send again. It goes out within a minute if the mail server takes it.")
        }
        _ => None,
    };
    html_not_found(message_page(&state, &caller, &id, StatusCode::OK, done, None).await)
}

/// Queues a failed email again (`app::outbox::retry`); when it cannot be, its page says why.
#[utoipa::path(tag = "web", params(("id" = String, Path, description = "The message")), responses(
    (status = 303, description = "Queued again: to the email's page"),
    (status = 404, description = "No such message", content_type = "text/html", body = String),
    (status = 409, description = "Not failed, or its link was removed: the email's page, saying why", content_type = "text/html", body = String),
    CrossSite,
))]
#[post("/admin/emails/{id}/retry")]
pub async fn retry(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    html_not_found(
        async {
            match outbox::retry(&state, &caller, &id).await {
                Ok(m) => Ok(see_other(&format!("/admin/emails/{}?done=retried", m.id))),
                Err(AppError::Conflict { detail, .. }) => {
                    message_page(
                        &state,
                        &caller,
                        &id,
                        StatusCode::CONFLICT,
                        None,
                        Some(detail),
                    )
                    .await
                }
                Err(e) => Err(e),
            }
        }
        .await,
    )
}

/// Queues every failed email again (`app::outbox::retry_failed`), then the failed list says
/// how many.
#[utoipa::path(tag = "web", responses(
    (status = 303, description = "Done: to the list, saying how many were queued"),
    CrossSite,
))]
#[post("/admin/emails/retry-failed")]
pub async fn retry_failed(
    state: web::Data<AppState>,
    caller: MaybeCaller,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    let done = outbox::retry_failed(&state, &caller).await?;
    Ok(see_other(&format!(
        "/admin/emails?state=failed&done=retried&queued={}&kept={}",
        done.queued, done.kept
    )))
}

/// Registers the admin's email pages (`retry-failed` before `{id}`).
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(index)
        .service(retry_failed)
        .service(show)
        .service(retry);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_read_as_words() {
        assert_eq!(kind_label("booking_confirmed"), "Booking confirmed");
        assert_eq!(kind_label("sign_in_link"), "Sign in link");
        assert_eq!(kind_label(""), "");
    }
}
