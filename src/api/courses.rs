//! The CPD calendar: courses and their sessions. Anyone may read published courses (no
//! sign-in needed); drafts and cancelled courses are for admins and the course's leads;
//! writes are for admins.

use crate::api::extract::PathId;
use actix_web::{delete, get, patch, post, web, HttpResponse};
use chrono::NaiveDateTime;
use serde::{Deserialize, Deserializer};
use validator::Validate;

use crate::api::extract::{ValidJson, ValidQuery};
use crate::api::views::courses::{Course, CourseSummary, Session};
use crate::api::views::IntoView;
use crate::app::state::AppState;
use crate::auth::{Caller, MaybeCaller};
use crate::domain::course::{CoursePlan, Format, SessionPlan, Venue};
use crate::domain::paging::Page;
use crate::error::responses::{
    Conflict, Forbidden, Invalid, NotFound, Problem, Unauthorized, PROBLEM_JSON,
};
use crate::error::AppResult;
use crate::store::courses::{CourseLinks, CoursePatch, SessionPatch};

// ---------------------------------------------------------------------------------------------
// Request bodies

/// Where an in-person or hybrid session happens.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VenueInput {
    /// The venue's name.
    #[schema(example = "Barnsley Teaching Hub")]
    pub name: String,
    /// Street address.
    #[serde(default)]
    #[schema(example = "Church Street, Barnsley")]
    pub address: String,
    /// UK postcode (normalised on save, e.g. `s702hz` -> `S70 2HZ`).
    #[serde(default)]
    #[schema(example = "S70 2HZ")]
    pub postcode: String,
}

impl From<VenueInput> for Venue {
    fn from(v: VenueInput) -> Venue {
        Venue {
            name: v.name,
            address: v.address,
            postcode: v.postcode,
        }
    }
}

/// A session: times are RFC 3339 with an offset (`Z` or `+01:00`); a time without one is
/// refused, since it could mean two different instants around a clock change.
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "start": "2027-01-14T09:00:00Z",
    "end": "2027-01-14T15:30:00Z",
    "venue": {"name": "Barnsley Teaching Hub", "address": "Church Street, Barnsley", "postcode": "S70 2HZ"},
    "online_url": null,
    "note": "Lunch is provided"
}))]
pub struct NewSession {
    /// Start, RFC 3339 with an offset.
    #[serde(with = "crate::domain::time::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub start: NaiveDateTime,
    /// End, RFC 3339 with an offset; after the start.
    #[serde(with = "crate::domain::time::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub end: NaiveDateTime,
    /// The venue: needed for `in_person` and `hybrid` courses.
    #[serde(default)]
    pub venue: Option<VenueInput>,
    /// The joining link (http or https): needed for `online` and `hybrid` courses.
    #[serde(default)]
    pub online_url: Option<String>,
    /// A note for attendees.
    #[serde(default)]
    pub note: Option<String>,
}

impl From<NewSession> for SessionPlan {
    fn from(s: NewSession) -> SessionPlan {
        SessionPlan {
            start: s.start,
            end: s.end,
            venue: s.venue.map(Venue::from),
            online_url: s.online_url,
            note: s.note,
        }
    }
}

/// A new course. It is created as a draft; `POST /api/v1/courses/{id}/publish` puts it in the
/// calendar. Every rule is checked at once and each problem named in a 422.
#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "title": "Adaptive teaching for pupils with SEND",
    "summary": "Practical strategies for **adaptive teaching** in mainstream classrooms.",
    "provider_id": "0193f6d2-7c1e-7b1a-9d55-3c1c2a9e0c01",
    "lead_ids": ["0193f6d2-7c1e-7b1a-9d55-3c1c2a9e0d01"],
    "priority_ids": ["0193f6d2-7c1e-7b1a-9d55-3c1c2a9e0e01"],
    "staff_group_ids": [],
    "phases": ["primary"],
    "format": "in_person",
    "capacity": 30,
    "per_school_cap": null,
    "price_pence": 0,
    "booking_opens": null,
    "booking_closes": null,
    "cancellation_deadline": null,
    "requires_approval": false,
    "sessions": [{"start": "2027-01-14T09:00:00Z", "end": "2027-01-14T15:30:00Z",
                  "venue": {"name": "Barnsley Teaching Hub", "address": "Church Street, Barnsley", "postcode": "S70 2HZ"},
                  "online_url": null}]
}))]
pub struct NewCourse {
    /// Title, 1 to 200 characters.
    #[schema(required = true, value_type = String)]
    #[serde(default)]
    pub title: Option<String>,
    /// Summary in Markdown (up to 20,000 characters); shown as sanitised HTML.
    #[serde(default)]
    pub summary: String,
    /// Who provides it.
    #[schema(required = true, value_type = String)]
    #[serde(default)]
    pub provider_id: Option<String>,
    /// The cluster it is run for (null: alliance-wide).
    #[serde(default)]
    pub cluster_id: Option<String>,
    /// Course leads (people): they take the registers and see the course while it is a draft.
    #[serde(default)]
    pub lead_ids: Vec<String>,
    /// Strategy priorities it serves.
    #[serde(default)]
    pub priority_ids: Vec<String>,
    /// Staff groups it is for (empty: everyone).
    #[serde(default)]
    pub staff_group_ids: Vec<String>,
    /// Phases it is for (empty: every phase): `nursery`, `primary`, `middle`, `secondary`,
    /// `all_through`, `post_16`, `special`, `alternative_provision`, `other`.
    #[serde(default)]
    pub phases: Vec<String>,
    /// `in_person`, `online` or `hybrid`.
    #[schema(required = true, value_type = Format)]
    #[serde(default)]
    pub format: Option<String>,
    /// Places, 1 to 10,000.
    #[schema(required = true, value_type = i32, example = 30)]
    #[serde(default)]
    pub capacity: Option<i32>,
    /// Most confirmed places one school may hold (1 to capacity; null: no cap).
    #[serde(default)]
    pub per_school_cap: Option<i32>,
    /// When the per-school cap lifts (null: it holds until removed).
    #[serde(default, with = "crate::domain::time::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub per_school_cap_until: Option<NaiveDateTime>,
    /// Price of a place in pence (0: free).
    #[serde(default)]
    pub price_pence: i32,
    /// Booking opens (null: on publication).
    #[serde(default, with = "crate::domain::time::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub booking_opens: Option<NaiveDateTime>,
    /// Booking closes (null: when the first session starts); no later than the first session.
    #[serde(default, with = "crate::domain::time::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub booking_closes: Option<NaiveDateTime>,
    /// Cancelling after this is a late cancellation; no later than the first session.
    #[serde(default, with = "crate::domain::time::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub cancellation_deadline: Option<NaiveDateTime>,
    /// Whether requests need the school lead's approval.
    #[serde(default)]
    pub requires_approval: bool,
    /// Completion rule for programmes: attend at least this many sessions (null: all).
    #[serde(default)]
    pub completion_min_sessions: Option<i32>,
    /// The sessions (a draft may have none yet; publishing needs one).
    #[serde(default)]
    pub sessions: Vec<NewSession>,
}

fn nullable<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

fn nullable_time<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<NaiveDateTime>>, D::Error> {
    crate::domain::time::rfc3339::option::deserialize(d).map(Some)
}

/// Changes to a course: absent fields stay as they are; `null` clears a field that may be
/// empty (e.g. `"per_school_cap": null` lifts the cap). Lists replace the old list.
#[derive(Debug, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"capacity": 40, "per_school_cap": null, "booking_closes": "2027-01-10T17:00:00Z"}))]
pub struct CourseChanges {
    /// New title.
    pub title: Option<String>,
    /// New summary (Markdown).
    pub summary: Option<String>,
    /// New provider.
    pub provider_id: Option<String>,
    /// New cluster (null: alliance-wide).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, nullable)]
    pub cluster_id: Option<Option<String>>,
    /// New leads.
    pub lead_ids: Option<Vec<String>>,
    /// New priorities.
    pub priority_ids: Option<Vec<String>>,
    /// New staff groups.
    pub staff_group_ids: Option<Vec<String>>,
    /// New phases.
    pub phases: Option<Vec<String>>,
    /// New format.
    #[schema(value_type = Option<Format>)]
    pub format: Option<String>,
    /// New capacity: not below the places already confirmed (409).
    pub capacity: Option<i32>,
    /// New per-school cap (null: lift it).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i32>, nullable)]
    pub per_school_cap: Option<Option<i32>>,
    /// When the per-school cap lifts (null: never by itself).
    #[serde(default, deserialize_with = "nullable_time")]
    #[schema(value_type = Option<String>, format = DateTime, nullable)]
    pub per_school_cap_until: Option<Option<NaiveDateTime>>,
    /// New price in pence.
    pub price_pence: Option<i32>,
    /// Booking opens (null: on publication).
    #[serde(default, deserialize_with = "nullable_time")]
    #[schema(value_type = Option<String>, format = DateTime, nullable)]
    pub booking_opens: Option<Option<NaiveDateTime>>,
    /// Booking closes (null: when the first session starts).
    #[serde(default, deserialize_with = "nullable_time")]
    #[schema(value_type = Option<String>, format = DateTime, nullable)]
    pub booking_closes: Option<Option<NaiveDateTime>>,
    /// Cancellation deadline (null: none).
    #[serde(default, deserialize_with = "nullable_time")]
    #[schema(value_type = Option<String>, format = DateTime, nullable)]
    pub cancellation_deadline: Option<Option<NaiveDateTime>>,
    /// Whether requests need approval.
    pub requires_approval: Option<bool>,
    /// Completion rule (null: all sessions).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i32>, nullable)]
    pub completion_min_sessions: Option<Option<i32>>,
}

/// Changes to a session: absent fields stay as they are; `null` clears venue, link or note.
#[derive(Debug, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"start": "2027-03-28T10:00:00+01:00", "end": "2027-03-28T12:00:00+01:00"}))]
pub struct SessionChanges {
    /// New start, RFC 3339 with an offset.
    #[serde(default, with = "crate::domain::time::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub start: Option<NaiveDateTime>,
    /// New end, RFC 3339 with an offset.
    #[serde(default, with = "crate::domain::time::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub end: Option<NaiveDateTime>,
    /// New venue (null: none).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<VenueInput>, nullable)]
    pub venue: Option<Option<VenueInput>>,
    /// New joining link (null: none).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, nullable)]
    pub online_url: Option<Option<String>>,
    /// New note (null: none).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, nullable)]
    pub note: Option<Option<String>>,
}

/// Why a course is cancelled; sent to everyone booked.
#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "The trainer is ill; we will run it again in the summer term."}))]
pub struct CancelCourse {
    /// The reason, 1 to 2,000 characters.
    #[serde(default)]
    #[schema(required = true)]
    pub reason: String,
}

pub use crate::app::courses::CourseQuery;

// ---------------------------------------------------------------------------------------------
// Handlers

/// The CPD calendar: courses ordered by first session, with places left and waiting-list
/// length. Anyone may list published courses, signed in or not.
#[utoipa::path(tag = "courses", params(CourseQuery), security((), ("bearer" = [])), responses(
    (status = 200, body = Page<CourseSummary>),
    (status = 401, description = "A token was sent but is not valid", body = Problem, content_type = PROBLEM_JSON),
    (status = 422, description = "A filter could not be read; each is named", body = Problem, content_type = PROBLEM_JSON),
))]
#[get("/courses")]
pub async fn list_courses(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    query: ValidQuery<CourseQuery>,
) -> AppResult<HttpResponse> {
    // Published lists are kept under the calendar generation (`app::courses::calendar`),
    // their JSON with them.
    let list = crate::app::courses::calendar(&state, caller.0.as_ref(), &query).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(list.json()?))
}

/// Create a course as a draft (admin).
#[utoipa::path(tag = "courses", request_body = NewCourse, security(("bearer" = [])), responses(
    (status = 201, description = "Created, as a draft", body = Course),
    Unauthorized,
    Forbidden,
    (status = 422, description = "Every problem, each field named", body = Problem, content_type = PROBLEM_JSON),
))]
#[post("/courses")]
pub async fn create_course(
    state: web::Data<AppState>,
    caller: Caller,
    body: ValidJson<NewCourse>,
) -> AppResult<HttpResponse> {
    let b = body.into_inner();
    let plan = CoursePlan {
        title: b.title.unwrap_or_default(),
        summary: b.summary,
        format: b.format.unwrap_or_default(),
        capacity: b.capacity.unwrap_or(0),
        per_school_cap: b.per_school_cap,
        per_school_cap_until: b.per_school_cap_until,
        price_pence: b.price_pence,
        booking_opens: b.booking_opens,
        booking_closes: b.booking_closes,
        cancellation_deadline: b.cancellation_deadline,
        requires_approval: b.requires_approval,
        completion_min_sessions: b.completion_min_sessions,
        phases: b.phases,
        sessions: b.sessions.into_iter().map(SessionPlan::from).collect(),
    };
    let links = CourseLinks {
        provider_id: b.provider_id.unwrap_or_default(),
        cluster_id: b.cluster_id,
        lead_ids: b.lead_ids,
        priority_ids: b.priority_ids,
        staff_group_ids: b.staff_group_ids,
    };
    let course = crate::app::courses::create_course(&state, &caller, plan, links).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/courses/{}", course.id)))
        .json(Course::from(course)))
}

/// One course with its sessions. Published courses are public; drafts and cancelled courses
/// are 404 except to admins and the course's leads.
#[utoipa::path(tag = "courses", params(("id" = String, Path, description = "The course")),
    security((), ("bearer" = [])), responses(
    (status = 200, body = Course),
    NotFound,
))]
#[get("/courses/{id}")]
pub async fn get_course(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    id: PathId,
) -> AppResult<web::Json<Course>> {
    let course = crate::app::courses::course(&state, caller.0.as_ref(), &id).await?;
    Ok(web::Json(course.into_view()))
}

/// Change a course (admin). A changed title or summary raises the revision; a capacity
/// below the places already confirmed is a 409.
#[utoipa::path(tag = "courses", params(("id" = String, Path)), request_body = CourseChanges,
    security(("bearer" = [])), responses(
    (status = 200, body = Course),
    Forbidden,
    NotFound,
    (status = 409, description = "Cancelled course, or capacity below the confirmed places", body = Problem, content_type = PROBLEM_JSON),
    Invalid,
))]
#[patch("/courses/{id}")]
pub async fn patch_course(
    state: web::Data<AppState>,
    caller: Caller,
    id: PathId,
    body: ValidJson<CourseChanges>,
) -> AppResult<web::Json<Course>> {
    let b = body.into_inner();
    let patch = CoursePatch {
        title: b.title,
        summary: b.summary,
        provider_id: b.provider_id,
        cluster_id: b.cluster_id,
        lead_ids: b.lead_ids,
        priority_ids: b.priority_ids,
        staff_group_ids: b.staff_group_ids,
        phases: b.phases,
        format: b.format,
        capacity: b.capacity,
        per_school_cap: b.per_school_cap,
        per_school_cap_until: b.per_school_cap_until,
        price_pence: b.price_pence,
        booking_opens: b.booking_opens,
        booking_closes: b.booking_closes,
        cancellation_deadline: b.cancellation_deadline,
        requires_approval: b.requires_approval,
        completion_min_sessions: b.completion_min_sessions,
    };
    Ok(web::Json(
        crate::app::courses::update_course(&state, &caller, &id, patch)
            .await?
            .into_view(),
    ))
}

/// Publish a draft (admin): it needs at least one session and every rule must hold (422
/// naming what to fix); 409 when already published or cancelled.
#[utoipa::path(tag = "courses", params(("id" = String, Path)), security(("bearer" = [])), responses(
    (status = 200, description = "Published", body = Course),
    Forbidden,
    NotFound,
    Conflict,
    (status = 422, description = "Not ready: e.g. no session yet", body = Problem, content_type = PROBLEM_JSON),
))]
#[post("/courses/{id}/publish")]
pub async fn publish_course(
    state: web::Data<AppState>,
    caller: Caller,
    id: PathId,
) -> AppResult<web::Json<Course>> {
    Ok(web::Json(
        crate::app::courses::publish_course(&state, &caller, &id)
            .await?
            .into_view(),
    ))
}

/// Cancel a course with a reason (admin): every active booking is cancelled and each person
/// booked is emailed; calendars show its events cancelled.
#[utoipa::path(tag = "courses", params(("id" = String, Path)), request_body = CancelCourse,
    security(("bearer" = [])), responses(
    (status = 200, description = "Cancelled", body = Course),
    Forbidden,
    NotFound,
    (status = 409, description = "Already cancelled", body = Problem, content_type = PROBLEM_JSON),
    Invalid,
))]
#[post("/courses/{id}/cancel")]
pub async fn cancel_course(
    state: web::Data<AppState>,
    caller: Caller,
    id: PathId,
    body: ValidJson<CancelCourse>,
) -> AppResult<web::Json<Course>> {
    let reason = body.into_inner().reason;
    Ok(web::Json(
        crate::app::courses::cancel_course(&state, &caller, &id, reason)
            .await?
            .into_view(),
    ))
}

/// Add a session to a course (admin). Its own problems are named by field (`start`, `venue`);
/// rules of the whole course by the course's fields (`booking_closes`).
#[utoipa::path(tag = "courses", params(("id" = String, Path, description = "The course")),
    request_body = NewSession, security(("bearer" = [])), responses(
    (status = 201, body = Session),
    Forbidden,
    NotFound,
    (status = 409, description = "The course is cancelled", body = Problem, content_type = PROBLEM_JSON),
    Invalid,
))]
#[post("/courses/{id}/sessions")]
pub async fn add_session(
    state: web::Data<AppState>,
    caller: Caller,
    id: PathId,
    body: ValidJson<NewSession>,
) -> AppResult<HttpResponse> {
    let plan = SessionPlan::from(body.into_inner());
    let session = crate::app::courses::add_session(&state, &caller, &id, plan).await?;
    Ok(HttpResponse::Created().json(Session::from(session)))
}

/// Change a session (admin). Moving a published course's session raises its revision and
/// tells the people booked.
#[utoipa::path(tag = "courses", params(("id" = String, Path, description = "The session")),
    request_body = SessionChanges, security(("bearer" = [])), responses(
    (status = 200, body = Session),
    Forbidden,
    NotFound,
    Conflict,
    Invalid,
))]
#[patch("/sessions/{id}")]
pub async fn patch_session(
    state: web::Data<AppState>,
    caller: Caller,
    id: PathId,
    body: ValidJson<SessionChanges>,
) -> AppResult<web::Json<Session>> {
    let b = body.into_inner();
    let patch = SessionPatch {
        start: b.start,
        end: b.end,
        venue: b.venue.map(|v| v.map(Venue::from)),
        online_url: b.online_url,
        note: b.note,
    };
    Ok(web::Json(
        crate::app::courses::update_session(&state, &caller, &id, patch)
            .await?
            .into_view(),
    ))
}

/// Remove a session (admin). A published course keeps at least one (409: cancel it instead).
#[utoipa::path(tag = "courses", params(("id" = String, Path, description = "The session")),
    security(("bearer" = [])), responses(
    (status = 204, description = "Removed"),
    Forbidden,
    NotFound,
    Conflict,
    Invalid,
))]
#[delete("/sessions/{id}")]
pub async fn delete_session(
    state: web::Data<AppState>,
    caller: Caller,
    id: PathId,
) -> AppResult<HttpResponse> {
    crate::app::courses::delete_session(&state, &caller, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Registers the course handlers under `/api/v1`.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_courses)
        .service(create_course)
        .service(get_course)
        .service(patch_course)
        .service(publish_course)
        .service(cancel_course)
        .service(add_session)
        .service(patch_session)
        .service(delete_session);
}
