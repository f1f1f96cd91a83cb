//! Bookings: book a place, see bookings, cancel, approve and decline (one or many at once).
//!
//! The state-changing endpoints honour `Idempotency-Key` through [`idempotent`], which also
//! reads their body (instead of `ValidJson`) so a refusal of a bad body is stored and replayed
//! like any other answer.

use crate::api::extract::{BodyBytes, PathId};
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use validator::Validate;

use crate::api::idempotency::idempotent;
use crate::api::views::bookings::{Booking, HistoryEntry};
use crate::api::views::IntoView;
use crate::app::bookings::{self as app, BookInput, Decision};
use crate::app::policy;
use crate::app::state::AppState;
use crate::auth::Caller;
use crate::domain::booking::BookingStatus;
use crate::domain::paging::{Page, Paging};
use crate::domain::time;
use crate::error::responses::{
    Conflict, Forbidden, Invalid, NotFound, Problem, Unauthorized, PROBLEM_JSON,
};
use crate::error::{AppError, AppResult};
use crate::store::bookings::{self as store, Filter};

/// A booking request.
#[derive(Debug, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BookRequest {
    /// Who gets the place (absent: the caller).
    #[validate(length(min = 1, max = 64))]
    #[schema(min_length = 1, max_length = 64)]
    pub person_id: Option<String>,
    /// The staff group to book as (absent: the person's own).
    #[validate(length(min = 1, max = 64))]
    #[schema(min_length = 1, max_length = 64)]
    pub staff_group_id: Option<String>,
    /// Admins only: book past the rules onto a closed, full or past course; a full course
    /// gets one more place.
    #[serde(default, rename = "override")]
    pub override_rules: bool,
    /// Admins only: record someone who came without a booking (implies `override`).
    #[serde(default)]
    pub walk_in: bool,
}

/// A cancellation.
#[derive(Debug, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    /// Why (optional; the person is told).
    #[validate(length(min = 1, max = 1000))]
    #[schema(min_length = 1, max_length = 1000)]
    pub reason: Option<String>,
}

/// An approval of one booking.
#[derive(Debug, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveRequest {
    /// Why (optional; kept in the booking's history, which says "approved" without one).
    #[validate(length(min = 1, max = 1000))]
    pub reason: Option<String>,
}

/// A decline of one booking.
#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclineRequest {
    /// Why (the person is told).
    #[validate(length(min = 1, max = 1000))]
    #[schema(min_length = 1, max_length = 1000)]
    pub reason: String,
}

/// Approving or declining several bookings at once: all or none.
#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    /// The bookings, 1 to 500.
    #[validate(length(min = 1, max = 500))]
    #[schema(min_items = 1, max_items = 500)]
    pub booking_ids: Vec<String>,
    /// Why: kept in each booking's history. Required to decline (the people are told it,
    /// as with one decline); optional to approve (the history says "approved" without one).
    #[validate(length(min = 1, max = 1000))]
    #[schema(min_length = 1, max_length = 1000)]
    pub reason: Option<String>,
}

/// A booking with its history.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BookingDetail {
    /// The booking.
    #[serde(flatten)]
    pub booking: Booking,
    /// Every status change, oldest first.
    pub history: Vec<HistoryEntry>,
}

/// Filters of the booking list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// On this course.
    pub course_id: Option<String>,
    /// Of this school (as when booked).
    pub school_id: Option<String>,
    /// Of this person.
    pub person_id: Option<String>,
    /// In this status: `pending_approval`, `confirmed`, `waitlisted`, `cancelled`, `declined`.
    pub status: Option<String>,
    /// Page size, 1 to 1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// Items to skip (default 0).
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

/// The overdue-approvals list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PendingQuery {
    /// Waiting at least this many days (default: the `APPROVAL_REMINDER_DAYS` setting, 5).
    pub older_than_days: Option<i64>,
    /// Page size, 1 to 1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// Items to skip (default 0).
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

/// Book a place on a course.
///
/// For oneself (no `person_id`), for a member of one's own school (school lead) or for
/// anyone (admin). Confirmed while places are left and the school is under the course's
/// per-school cap, otherwise waitlisted; `pending_approval` when the course needs the school
/// lead's approval. Refusals are 409 with a `code`: `course_not_published`,
/// `course_cancelled`, `booking_not_open`, `booking_closed`, `staff_group_not_targeted`,
/// `phase_not_targeted`, `already_booked`. Honours `Idempotency-Key`.
#[utoipa::path(tag = "bookings", params(("id" = String, Path, description = "The course"),
    ("Idempotency-Key" = Option<String>, Header, description = "1-200 printable characters; a retry with the same key returns the first answer")),
    request_body = BookRequest, security(("bearer" = [])), responses(
    (status = 201, body = Booking),
    Forbidden,
    NotFound,
    (status = 409, description = "Refused, with a code", body = Problem, content_type = PROBLEM_JSON),
    Invalid,
))]
#[post("/courses/{id}/bookings")]
pub async fn book(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: PathId,
    BodyBytes(bytes): BodyBytes,
) -> AppResult<HttpResponse> {
    let course_id = id.into_inner();
    idempotent(
        &state,
        &req,
        &caller,
        &bytes,
        move |st, who, input: BookRequest, answer| async move {
            let input = BookInput {
                person_id: input.person_id,
                staff_group_id: input.staff_group_id,
                override_rules: input.override_rules,
                walk_in: input.walk_in,
            };
            app::book_keyed(&st, &who, &course_id, input, answer).await
        },
        |b: &store::Booking| (StatusCode::CREATED, Booking::from(b.clone())),
    )
    .await
}

/// List bookings.
///
/// Each caller sees only what they may: their own; their school's (school lead); those on
/// the courses they lead; all (cpd_group, admin). In queue order (request time).
#[utoipa::path(tag = "bookings", params(ListQuery), security(("bearer" = [])), responses(
    (status = 200, body = Page<Booking>),
    Unauthorized,
    Invalid,
))]
#[get("/bookings")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ListQuery>,
) -> AppResult<web::Json<Page<Booking>>> {
    let q = query.into_inner();
    let paging = Paging::new(q.limit, q.offset).map_err(|(f, m)| AppError::invalid(f, m))?;
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(BookingStatus::parse(s).ok_or_else(|| {
            AppError::invalid(
                "status",
                "must be pending_approval, confirmed, waitlisted, cancelled or declined",
            )
        })?),
    };
    let filter = Filter {
        course_id: q.course_id,
        school_id: q.school_id,
        person_id: q.person_id,
        status,
    };
    let scope = policy::booking_scope(&caller);
    let page = state
        .db(move |c| store::list(c, &scope, &filter, paging))
        .await?;
    Ok(web::Json(page.into_view()))
}

/// Requests waiting too long for approval.
///
/// A school lead's requests from their own school (an admin's: every school's) that have
/// waited at least `older_than_days` days, oldest first.
#[utoipa::path(tag = "bookings", params(PendingQuery), security(("bearer" = [])), responses(
    (status = 200, body = Page<Booking>),
    Forbidden,
    Invalid,
))]
#[get("/bookings/pending")]
pub async fn pending(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<PendingQuery>,
) -> AppResult<web::Json<Page<Booking>>> {
    let q = query.into_inner();
    let paging = Paging::new(q.limit, q.offset).map_err(|(f, m)| AppError::invalid(f, m))?;
    let days = q
        .older_than_days
        .unwrap_or(i64::from(state.settings.approval_reminder_days));
    if !(0..=3650).contains(&days) {
        return Err(AppError::invalid(
            "older_than_days",
            "must be from 0 to 3650",
        ));
    }
    let school = policy::pending_scope(&caller)?;
    let older_than = time::now() - chrono::Duration::days(days);
    let page = state
        .db(move |c| store::pending(c, school.as_deref(), older_than, paging))
        .await?;
    Ok(web::Json(page.into_view()))
}

/// One booking, with its history.
#[utoipa::path(tag = "bookings", params(("id" = String, Path)), security(("bearer" = [])), responses(
    (status = 200, body = BookingDetail),
    NotFound,
))]
#[get("/bookings/{id}")]
pub async fn get_one(
    state: web::Data<AppState>,
    caller: Caller,
    id: PathId,
) -> AppResult<web::Json<BookingDetail>> {
    let (booking, history) = app::detail(&state, &caller, &id).await?;
    let detail = BookingDetail {
        booking: booking.into(),
        history: history.into_view(),
    };
    Ok(web::Json(detail))
}

/// Cancel a booking.
///
/// By the person, their school lead or an admin. Flagged late when a place is given up
/// after the course's cancellation deadline; the freed place goes to the first eligible
/// person waiting, in the same transaction. 409 `not_active` when it is already cancelled or
/// declined. Honours `Idempotency-Key`.
#[utoipa::path(tag = "bookings", params(("id" = String, Path),
    ("Idempotency-Key" = Option<String>, Header, description = "1-200 printable characters")),
    request_body = CancelRequest, security(("bearer" = [])), responses(
    (status = 200, body = Booking),
    Forbidden,
    NotFound,
    Conflict,
))]
#[post("/bookings/{id}/cancel")]
pub async fn cancel(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: PathId,
    BodyBytes(bytes): BodyBytes,
) -> AppResult<HttpResponse> {
    let id = id.into_inner();
    idempotent(
        &state,
        &req,
        &caller,
        &bytes,
        move |st, who, input: CancelRequest, answer| async move {
            app::cancel_keyed(&st, &who, &id, input.reason, time::now(), answer).await
        },
        |b: &store::Booking| (StatusCode::OK, Booking::from(b.clone())),
    )
    .await
}

/// Approve a booking request.
///
/// By the person's school lead or an admin. The request is placed as of when it was made:
/// confirmed when a place is free and the school is under its cap, otherwise waitlisted at
/// its place in the queue. 409 `not_pending` when it is not waiting for approval. Honours
/// `Idempotency-Key`.
#[utoipa::path(tag = "bookings", params(("id" = String, Path),
    ("Idempotency-Key" = Option<String>, Header, description = "1-200 printable characters")),
    request_body = ApproveRequest, security(("bearer" = [])), responses(
    (status = 200, body = Booking),
    Forbidden,
    NotFound,
    Conflict,
))]
#[post("/bookings/{id}/approve")]
pub async fn approve_one(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: PathId,
    BodyBytes(bytes): BodyBytes,
) -> AppResult<HttpResponse> {
    let ids = vec![id.into_inner()];
    idempotent(
        &state,
        &req,
        &caller,
        &bytes,
        move |st, who, input: ApproveRequest, answer| async move {
            let decision = Decision::Approve(input.reason);
            app::decide_keyed(&st, &who, ids, decision, time::now(), answer).await
        },
        |done: &Vec<store::Booking>| only_one(done),
    )
    .await
}

/// Decline a booking.
///
/// By the person's school lead or an admin, with a reason the person is told. A request
/// waiting for approval, or a place or a wait the lead withdraws (a freed place goes to the
/// first eligible person waiting). 409 `not_active` when it is already cancelled or declined.
/// Honours `Idempotency-Key`.
#[utoipa::path(tag = "bookings", params(("id" = String, Path),
    ("Idempotency-Key" = Option<String>, Header, description = "1-200 printable characters")),
    request_body = DeclineRequest, security(("bearer" = [])), responses(
    (status = 200, body = Booking),
    Forbidden,
    NotFound,
    Conflict,
    Invalid,
))]
#[post("/bookings/{id}/decline")]
pub async fn decline_one(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: PathId,
    BodyBytes(bytes): BodyBytes,
) -> AppResult<HttpResponse> {
    let ids = vec![id.into_inner()];
    idempotent(
        &state,
        &req,
        &caller,
        &bytes,
        move |st, who, input: DeclineRequest, answer| async move {
            let decision = Decision::Decline(Some(input.reason));
            app::decide_keyed(&st, &who, ids, decision, time::now(), answer).await
        },
        |done: &Vec<store::Booking>| only_one(done),
    )
    .await
}

/// Approve several booking requests at once (all or none).
///
/// Each is placed as when approved alone; a `reason` is kept in each booking's history.
#[utoipa::path(tag = "bookings", params(
    ("Idempotency-Key" = Option<String>, Header, description = "1-200 printable characters")),
    request_body = BulkRequest, security(("bearer" = [])), responses(
    (status = 200, body = Page<Booking>),
    Forbidden,
    NotFound,
    Conflict,
    Invalid,
))]
#[post("/bookings/approve")]
pub async fn approve_many(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    BodyBytes(bytes): BodyBytes,
) -> AppResult<HttpResponse> {
    idempotent(
        &state,
        &req,
        &caller,
        &bytes,
        move |st, who, input: BulkRequest, answer| async move {
            let decision = Decision::Approve(input.reason);
            let ids = input.booking_ids;
            app::decide_keyed(&st, &who, ids, decision, time::now(), answer).await
        },
        |done: &Vec<store::Booking>| all_of(done),
    )
    .await
}

/// Decline several bookings at once (all or none).
///
/// With a reason, as when declining one: each person is told it (422 on `reason` without one,
/// and nothing is declined).
#[utoipa::path(tag = "bookings", params(
    ("Idempotency-Key" = Option<String>, Header, description = "1-200 printable characters")),
    request_body = BulkRequest, security(("bearer" = [])), responses(
    (status = 200, body = Page<Booking>),
    Forbidden,
    NotFound,
    Conflict,
    Invalid,
))]
#[post("/bookings/decline")]
pub async fn decline_many(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    BodyBytes(bytes): BodyBytes,
) -> AppResult<HttpResponse> {
    idempotent(
        &state,
        &req,
        &caller,
        &bytes,
        move |st, who, input: BulkRequest, answer| async move {
            let (ids, decision) = (input.booking_ids, Decision::Decline(input.reason));
            app::decide_keyed(&st, &who, ids, decision, time::now(), answer).await
        },
        |done: &Vec<store::Booking>| all_of(done),
    )
    .await
}

/// The answer to a decision on one booking: that booking.
fn only_one(done: &[store::Booking]) -> (StatusCode, Booking) {
    // A decision on one id decides exactly that booking (or fails as a whole).
    (StatusCode::OK, Booking::from(done[0].clone()))
}

/// The answer to a decision on several bookings: all of them, as a page.
fn all_of(done: &[store::Booking]) -> (StatusCode, Page<Booking>) {
    let total = done.len() as i64;
    let page: Page<Booking> = Page {
        items: done.to_vec(),
        total,
    }
    .into_view();
    (StatusCode::OK, page)
}

/// Registers the booking handlers (the fixed paths before `/bookings/{id}`).
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(book)
        .service(list)
        .service(pending)
        .service(approve_many)
        .service(decline_many)
        .service(get_one)
        .service(cancel)
        .service(approve_one)
        .service(decline_one);
}
