//! Registers and attendance: a session's register (JSON or CSV), saving many marks at once,
//! the register's history, walk-ins, self check-in with a session's code, and each person's
//! CPD record.
//!
//! Registers are for the course's leads and admins; anyone else gets 404, as for a record
//! they may not see. Check-in is for anyone signed in (their booking is what counts). A CPD
//! record is for the person, their school's lead and admins.

use crate::api::extract::{BodyBytes, PathId};
use actix_web::http::header;
use actix_web::{get, post, put, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use validator::Validate;

use crate::api::extract::{has_json_body, is_json_media, media_essence, parse_json, ValidJson};
use crate::api::views::attendance::{CheckedIn, CpdRecord, HistoryItem, Register, WalkIn};
use crate::api::views::IntoView;
use crate::app::policy::{require_visible, Action};
use crate::app::state::AppState;
use crate::auth::Caller;
use crate::domain::time;
use crate::error::responses::{Conflict, Invalid, NotFound, Problem, Unauthorized, PROBLEM_JSON};
use crate::error::{AppError, AppResult};
use crate::store::attendance::{self as store, Actor, Mark, WalkInPerson};

/// One mark on a register.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkInput {
    /// A confirmed booking of the session's course.
    pub booking_id: String,
    /// `present`, `late`, `left_early`, `absent` or `apologies`.
    #[schema(example = "present")]
    pub status: String,
    /// A note (at most 1000 characters). Absent or null keeps the note as it is; an empty
    /// string clears it.
    #[serde(default)]
    pub note: Option<String>,
}

/// The marks of a register save, read from a bare JSON array or from `{"items": [...]}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Marks {
    items: Vec<MarkInput>,
}

/// A walk-in: someone on record (`person_id`), or someone found by email or created
/// (`name`, `email`, and optionally `school_id`, `staff_group_id`).
#[derive(Debug, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WalkInRequest {
    /// Someone on record.
    #[validate(length(min = 1, max = 64))]
    #[schema(min_length = 1, max_length = 64)]
    pub person_id: Option<String>,
    /// A new person's name.
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    /// Their email address (an existing person with it is used as they are).
    #[validate(length(min = 3, max = 254))]
    #[schema(min_length = 3, max_length = 254)]
    pub email: Option<String>,
    /// A new person's school.
    #[validate(length(min = 1, max = 64))]
    #[schema(min_length = 1, max_length = 64)]
    pub school_id: Option<String>,
    /// A new person's staff group.
    #[validate(length(min = 1, max = 64))]
    #[schema(min_length = 1, max_length = 64)]
    pub staff_group_id: Option<String>,
}

/// A check-in.
#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckInRequest {
    /// The session's check-in code, as shown by the course lead (case, spaces and hyphens
    /// do not matter).
    #[validate(length(min = 1, max = 40))]
    #[schema(min_length = 1, max_length = 40)]
    #[schema(example = "K7M9QX")]
    pub code: String,
}

fn now() -> chrono::NaiveDateTime {
    time::now()
}

/// Checks that the caller may see and take the session's register (404 otherwise, also for
/// a session that does not exist).
fn allow_register(c: &mut crate::db::DbConn, caller: &Caller, session_id: &str) -> AppResult<()> {
    let access = store::session_access(c, session_id)?;
    require_visible(
        caller,
        Action::TakeRegister {
            lead_ids: &access.lead_ids,
        },
    )
}

fn actor(caller: &Caller) -> Actor<'_> {
    Actor {
        person_id: &caller.person_id,
        is_admin: caller.is_admin(),
    }
}

/// Whether the client asked for CSV rather than JSON (`Accept: text/csv` before any JSON).
fn wants_csv(req: &HttpRequest) -> bool {
    let Some(accept) = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    for part in accept.split(',') {
        let essence = media_essence(part);
        if essence == "text/csv" {
            return true;
        }
        if is_json_media(&essence) {
            return false;
        }
    }
    false
}

async fn load_register(
    state: &web::Data<AppState>,
    caller: Caller,
    session_id: String,
) -> AppResult<store::Register> {
    let settings = state.settings.attendance.clone();
    state
        .db(move |c| {
            allow_register(c, &caller, &session_id)?;
            store::register(c, &settings, &session_id, now())
        })
        .await
}

/// A session's register.
///
/// The course's confirmed bookings, ordered by name, each with person, school, staff group
/// and the status recorded at this session (null: none yet), its note, how it was recorded
/// and when. The session carries its check-in code (made on first read), the check-in
/// window, and whether the register is locked. For the course's leads and admins (404 for
/// anyone else). With `Accept: text/csv`, the same as `register.csv`.
#[utoipa::path(tag = "attendance", params(("id" = String, Path, description = "The session")),
    security(("bearer" = [])), responses(
    (status = 200, body = Register),
    Unauthorized,
    NotFound,
))]
#[get("/sessions/{id}/register")]
pub async fn get_register(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: PathId,
) -> AppResult<HttpResponse> {
    let register = load_register(&state, caller, id.into_inner()).await?;
    if wants_csv(&req) {
        return Ok(csv_response(&register));
    }
    Ok(HttpResponse::Ok().json(Register::from(register)))
}

/// A session's register as CSV, for Excel.
///
/// UTF-8 with a byte-order mark and CRLF line ends, so Excel opens it with the right
/// characters; a header row and the columns `Name`, `School`, `Staff group`, `Status`,
/// `Note`, `Session start` (ISO 8601, `2027-01-14 09:00`, Europe/London) and `Course`.
/// For the course's leads and admins (404 for anyone else).
#[utoipa::path(tag = "attendance", params(("id" = String, Path, description = "The session")),
    security(("bearer" = [])), responses(
    (status = 200, description = "The register", content_type = "text/csv", body = String),
    Unauthorized,
    NotFound,
))]
#[get("/sessions/{id}/register.csv")]
pub async fn get_register_csv(
    state: web::Data<AppState>,
    caller: Caller,
    id: PathId,
) -> AppResult<HttpResponse> {
    let register = load_register(&state, caller, id.into_inner()).await?;
    Ok(csv_response(&register))
}

fn csv_response(register: &store::Register) -> HttpResponse {
    let date = time::to_utc(register.session.start)
        .with_timezone(&time::LONDON)
        .format("%Y-%m-%d");
    let slug: String = register
        .session
        .course_title
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect::<String>()
        .split('-')
        .filter(|s| !s.is_empty())
        .take(8)
        .collect::<Vec<_>>()
        .join("-");
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"register-{slug}-{date}.csv\""),
        ))
        .body(register_csv(register))
}

/// The register as CSV: UTF-8 with a byte-order mark, CRLF line ends, a header row.
pub fn register_csv(register: &store::Register) -> Vec<u8> {
    use super::csv::{record, BOM};
    let start = time::to_utc(register.session.start)
        .with_timezone(&time::LONDON)
        .format("%Y-%m-%d %H:%M")
        .to_string();
    let mut out = BOM.to_vec();
    out.extend(record([
        "Name",
        "School",
        "Staff group",
        "Status",
        "Note",
        "Session start",
        "Course",
    ]));
    for i in &register.items {
        out.extend(record([
            i.person.name.as_str(),
            i.school.as_ref().map(|s| s.name.as_str()).unwrap_or(""),
            i.staff_group
                .as_ref()
                .map(|g| g.name.as_str())
                .unwrap_or(""),
            i.status.map(|s| s.label()).unwrap_or(""),
            i.note.as_deref().unwrap_or(""),
            start.as_str(),
            register.session.course_title.as_str(),
        ]));
    }
    out
}

/// Reads a register save: a JSON array of marks, or `{"items": [...]}`; problems in an
/// entry are named `items[3].status` either way.
fn read_marks(req: &HttpRequest, bytes: &[u8]) -> AppResult<Vec<Mark>> {
    if !has_json_body(req) {
        return Err(AppError::UnsupportedMedia("application/json"));
    }
    let value: serde_json::Value = parse_json(bytes)?;
    let wrapped = match value {
        serde_json::Value::Array(items) => serde_json::json!({ "items": items }),
        other => other,
    };
    let text = serde_json::to_vec(&wrapped).map_err(anyhow::Error::from)?;
    let marks: Marks = parse_json(&text)?;
    Ok(marks
        .items
        .into_iter()
        .map(|m| Mark {
            booking_id: m.booking_id,
            status: m.status,
            note: m.note,
        })
        .collect())
}

/// Take the register: save many marks at once.
///
/// The body is `[{booking_id, status, note?}]` (or `{"items": [...]}`). All or nothing: 422
/// names each bad entry (`items[3].booking_id` for a booking that is not a confirmed booking
/// of this course or is listed twice, `items[3].status` for an unknown status) and nothing is
/// written. Idempotent: sending the same marks again changes nothing and adds no history.
/// After `REGISTER_LOCK_DAYS` past the session, 409 `register_locked` for course leads;
/// admins may still change it (recorded as an override). Answers with the register as it
/// is now.
#[utoipa::path(tag = "attendance", params(("id" = String, Path, description = "The session")),
    request_body = Vec<MarkInput>, security(("bearer" = [])), responses(
    (status = 200, body = Register),
    Unauthorized,
    NotFound,
    (status = 409, description = "`register_locked`", body = Problem, content_type = PROBLEM_JSON),
    (status = 415, body = Problem, content_type = PROBLEM_JSON),
    Invalid,
))]
#[put("/sessions/{id}/attendance")]
pub async fn put_attendance(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: PathId,
    BodyBytes(bytes): BodyBytes,
) -> AppResult<web::Json<Register>> {
    let session_id = id.into_inner();
    let settings = state.settings.attendance.clone();
    let st = state.clone();
    // The permission check comes before the body is judged, so a caller who may not see
    // the register learns nothing from the answer.
    let (who, sid) = (caller.clone(), session_id.clone());
    st.db(move |c| allow_register(c, &who, &sid)).await?;
    let marks = read_marks(&req, &bytes)?;
    let register = state
        .db(move |c| store::record(c, &settings, &session_id, actor(&caller), &marks, now()))
        .await?;
    state.evaluation_wake.notify_one();
    Ok(web::Json(register.into_view()))
}

/// A register's history.
///
/// Every change to the session's register, oldest first: who, when, from and to, the note,
/// how (`register`, `check_in`, `walk_in`) and whether an admin changed a locked register.
/// For the course's leads and admins (404 for anyone else).
#[utoipa::path(tag = "attendance", params(("id" = String, Path, description = "The session")),
    security(("bearer" = [])), responses(
    (status = 200, body = crate::domain::paging::Page<HistoryItem>),
    Unauthorized,
    NotFound,
))]
#[get("/sessions/{id}/attendance-history")]
pub async fn get_history(
    state: web::Data<AppState>,
    caller: Caller,
    id: PathId,
) -> AppResult<web::Json<crate::domain::paging::Page<HistoryItem>>> {
    let session_id = id.into_inner();
    let items = state
        .db(move |c| {
            allow_register(c, &caller, &session_id)?;
            store::history(c, &session_id)
        })
        .await?;
    let total = items.len() as i64;
    Ok(web::Json(
        crate::domain::paging::Page { items, total }.into_view(),
    ))
}

/// Add a walk-in.
///
/// Someone who came without a place gets an admin-override booking recorded as a walk-in
/// (even on a full, closed or past course; a full course gets one more place) and is marked
/// present at this session. Give `person_id`, or `name` and `email` (and optionally
/// `school_id`, `staff_group_id`): a person with that email is used, otherwise one is
/// created. Someone who already holds a place is just marked present (200). By the course's
/// leads and admins (404 for anyone else). 409 `already_booked` when the person's booking is
/// waiting for a place or approval; `register_locked` after the lock for course leads.
#[utoipa::path(tag = "attendance", params(("id" = String, Path, description = "The session")),
    request_body = WalkInRequest, security(("bearer" = [])), responses(
    (status = 201, description = "Booked and marked present", body = WalkIn),
    (status = 200, description = "Already booked: marked present", body = WalkIn),
    Unauthorized,
    NotFound,
    Conflict,
    Invalid,
))]
#[post("/sessions/{id}/walk-ins")]
pub async fn post_walk_in(
    state: web::Data<AppState>,
    caller: Caller,
    id: PathId,
    body: ValidJson<WalkInRequest>,
) -> AppResult<HttpResponse> {
    let session_id = id.into_inner();
    let b = body.into_inner();
    let who = match (b.person_id, b.name, b.email) {
        (Some(id), None, None) if b.school_id.is_none() && b.staff_group_id.is_none() => {
            WalkInPerson::Existing(id)
        }
        (Some(_), _, _) => {
            return Err(AppError::invalid(
                "person_id",
                "give either person_id, or name and email, not both",
            ))
        }
        (None, Some(name), Some(email)) => {
            let name = name.trim().to_string();
            if name.is_empty() {
                return Err(AppError::invalid("name", "must not be blank"));
            }
            if !crate::domain::text::is_email(&email) {
                return Err(AppError::invalid("email", "must be an email address"));
            }
            WalkInPerson::New {
                name,
                email,
                school_id: b.school_id,
                staff_group_id: b.staff_group_id,
            }
        }
        (None, None, _) => {
            return Err(AppError::invalid(
                "person_id",
                "is required, unless name and email are given",
            ))
        }
        (None, Some(_), None) => return Err(AppError::invalid("email", "is required")),
    };
    let settings = state.settings.attendance.clone();
    let base = state.settings.public_base_url.clone();
    let walk_in = state
        .db(move |c| {
            allow_register(c, &caller, &session_id)?;
            store::add_walk_in(c, &settings, &base, &session_id, actor(&caller), who, now())
        })
        .await?;
    if walk_in.booked {
        // The booking confirmation was queued with the booking.
        state.outbox_wake.notify_one();
        Ok(HttpResponse::Created().json(WalkIn::from(walk_in)))
    } else {
        Ok(HttpResponse::Ok().json(WalkIn::from(walk_in)))
    }
}

async fn check_in(
    state: web::Data<AppState>,
    caller: Caller,
    session_id: Option<String>,
    code: String,
) -> AppResult<web::Json<CheckedIn>> {
    crate::app::policy::require(&caller, Action::CheckIn)?;
    let settings = state.settings.attendance.clone();
    let done = state
        .db(move |c| {
            store::check_in(
                c,
                &settings,
                &caller.person_id,
                session_id.as_deref(),
                &code,
                now(),
            )
        })
        .await?;
    Ok(web::Json(done.into_view()))
}

/// Check in to a session with its code.
///
/// For anyone signed in who holds a confirmed place on the session's course, from
/// `CHECK_IN_OPENS_MINUTES` before the start until the end: marked present, or late after
/// `CHECK_IN_LATE_MINUTES`. A mark already on the register is kept (`recorded` false).
/// 422 on `code` when it is not the session's code; 409 `check_in_closed` outside the
/// window (the detail says when it opens), `not_booked` or `not_confirmed` without a place.
#[utoipa::path(tag = "attendance", params(("id" = String, Path, description = "The session")),
    request_body = CheckInRequest, security(("bearer" = [])), responses(
    (status = 200, body = CheckedIn),
    Unauthorized,
    NotFound,
    Conflict,
    Invalid,
))]
#[post("/sessions/{id}/check-in")]
pub async fn post_session_check_in(
    state: web::Data<AppState>,
    caller: Caller,
    id: PathId,
    body: ValidJson<CheckInRequest>,
) -> AppResult<web::Json<CheckedIn>> {
    check_in(state, caller, Some(id.into_inner()), body.into_inner().code).await
}

/// Check in with a code alone.
///
/// As checking in to a session, the code finding the session: 422 on `code` when no session
/// has it.
#[utoipa::path(tag = "attendance", request_body = CheckInRequest, security(("bearer" = [])),
    responses(
    (status = 200, body = CheckedIn),
    Unauthorized,
    Conflict,
    Invalid,
))]
#[post("/check-in")]
pub async fn post_check_in(
    state: web::Data<AppState>,
    caller: Caller,
    body: ValidJson<CheckInRequest>,
) -> AppResult<web::Json<CheckedIn>> {
    check_in(state, caller, None, body.into_inner().code).await
}

/// A person's CPD record.
///
/// The courses they hold a confirmed place on, newest first, each with its sessions, the
/// sessions held and attended, hours attended (from the times of the held sessions marked
/// present, late or left early; also in minutes) and completion under the course's rule
/// (`completion_min_sessions`, or every held session); totals per term and academic year,
/// and overall. For the person, their school's lead and admins (404 for anyone else).
#[utoipa::path(tag = "attendance", params(("id" = String, Path, description = "The person")),
    security(("bearer" = [])), responses(
    (status = 200, body = CpdRecord),
    Unauthorized,
    NotFound,
))]
#[get("/people/{id}/cpd-record")]
pub async fn get_cpd_record(
    state: web::Data<AppState>,
    caller: Caller,
    id: PathId,
) -> AppResult<web::Json<CpdRecord>> {
    let record = crate::app::record::cpd_record(&state, &caller, &id, now()).await?;
    Ok(web::Json(record.into_view()))
}

/// Registers the attendance handlers.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(get_register_csv)
        .service(get_register)
        .service(put_attendance)
        .service(get_history)
        .service(post_walk_in)
        .service(post_session_check_in)
        .service(post_check_in)
        .service(get_cpd_record);
}
