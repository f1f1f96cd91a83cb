//! Creating and changing courses (admins): the use cases behind `POST /api/v1/courses`,
//! `PATCH /api/v1/courses/{id}`, the session endpoints, publish and cancel, and the admin
//! pages under `/admin/courses`, which call the same functions. Each checks the policy, then
//! hands the change to `store::courses`, which checks the rules and writes it (with its audit
//! entries and emails) in one transaction.

use crate::app::policy::{require, Action};
use crate::app::state::AppState;
use crate::domain::booking::BookingStatus;
use crate::domain::caller::Caller;
use crate::domain::course::{CoursePlan, SessionPlan};
use crate::domain::paging::{Page, Paging};
use crate::error::{AppError, AppResult};
use crate::store::courses::{
    self as store, Course, CourseFilter, CourseLinks, CoursePatch, CourseSummary, Edited, Session,
    SessionEdit, SessionPatch,
};

fn actor(caller: &Caller) -> Option<String> {
    Some(caller.person_id.clone())
}

/// Creates a draft course with its sessions (admin); every rule is checked at once (422
/// naming each field).
pub async fn create_course(
    state: &AppState,
    caller: &Caller,
    plan: CoursePlan,
    links: CourseLinks,
) -> AppResult<Course> {
    require(caller, Action::WriteCourse)?;
    let actor = actor(caller);
    state
        .db(move |c| store::create_course(c, actor.as_deref(), plan, links))
        .await
}

/// Changes a course (admin): absent fields stay as they are.
pub async fn update_course(
    state: &AppState,
    caller: &Caller,
    id: &str,
    patch: CoursePatch,
) -> AppResult<Course> {
    require(caller, Action::WriteCourse)?;
    let (actor, id) = (actor(caller), id.to_string());
    let base = state.settings.public_base_url.clone();
    state
        .db(move |c| store::update_course(c, actor.as_deref(), &base, &id, patch))
        .await
}

/// Changes a course and makes its sessions `sessions`, all or nothing (admin; the course's
/// edit page). The people holding a place on a published course whose sessions changed are
/// sent one updated calendar entry each; [`Edited::told`] says how many.
pub async fn edit_course(
    state: &AppState,
    caller: &Caller,
    id: &str,
    patch: CoursePatch,
    sessions: Vec<SessionEdit>,
) -> AppResult<Edited> {
    require(caller, Action::WriteCourse)?;
    let (actor, id) = (actor(caller), id.to_string());
    let base = state.settings.public_base_url.clone();
    state
        .db(move |c| store::edit_course(c, actor.as_deref(), &base, &id, patch, sessions))
        .await
}

/// Publishes a draft (admin): it needs a session and every rule must hold.
pub async fn publish_course(state: &AppState, caller: &Caller, id: &str) -> AppResult<Course> {
    require(caller, Action::WriteCourse)?;
    let (actor, id) = (actor(caller), id.to_string());
    state
        .db(move |c| store::publish_course(c, actor.as_deref(), &id))
        .await
}

/// Cancels a course with a reason (admin): every active booking is cancelled and each person
/// booked is emailed.
pub async fn cancel_course(
    state: &AppState,
    caller: &Caller,
    id: &str,
    reason: String,
) -> AppResult<Course> {
    require(caller, Action::WriteCourse)?;
    let (actor, id) = (actor(caller), id.to_string());
    let base = state.settings.public_base_url.clone();
    state
        .db(move |c| store::cancel_course(c, actor.as_deref(), &base, &id, &reason))
        .await
}

/// Adds a session to a course (admin).
pub async fn add_session(
    state: &AppState,
    caller: &Caller,
    course_id: &str,
    plan: SessionPlan,
) -> AppResult<Session> {
    require(caller, Action::WriteCourse)?;
    let (actor, id) = (actor(caller), course_id.to_string());
    let base = state.settings.public_base_url.clone();
    state
        .db(move |c| store::add_session(c, actor.as_deref(), &base, &id, plan))
        .await
}

/// Changes a session (admin); the people booked on a published course are told.
pub async fn update_session(
    state: &AppState,
    caller: &Caller,
    session_id: &str,
    patch: SessionPatch,
) -> AppResult<Session> {
    require(caller, Action::WriteCourse)?;
    let (actor, id) = (actor(caller), session_id.to_string());
    let base = state.settings.public_base_url.clone();
    state
        .db(move |c| store::update_session(c, actor.as_deref(), &base, &id, patch))
        .await
}

/// Removes a session (admin).
pub async fn delete_session(state: &AppState, caller: &Caller, session_id: &str) -> AppResult<()> {
    require(caller, Action::WriteCourse)?;
    let (actor, id) = (actor(caller), session_id.to_string());
    let base = state.settings.public_base_url.clone();
    state
        .db(move |c| store::delete_session(c, actor.as_deref(), &base, &id))
        .await
}

// ---------------------------------------------------------------------------------------------
// What the admin pages read

/// A course in the admin's list, with its requests waiting for approval.
#[derive(Clone, Debug)]
pub struct AdminListed {
    /// The course, as the calendar lists it (places, confirmed, waiting list).
    pub course: CourseSummary,
    /// Bookings waiting for a school lead's approval.
    pub pending: i64,
}

/// Every course matching `filter` whatever its status (admin), by first session (courses
/// without sessions last), with the counts the admin's list shows. A fixed number of queries.
pub async fn admin_courses(
    state: &AppState,
    caller: &Caller,
    filter: CourseFilter,
    paging: Paging,
) -> AppResult<Page<AdminListed>> {
    require(caller, Action::WriteCourse)?;
    let scope = crate::app::policy::course_scope(Some(caller));
    state
        .db(move |c| {
            let page = store::list_courses(c, &filter, &scope, paging)?;
            let ids: Vec<String> = page.items.iter().map(|s| s.id.clone()).collect();
            let mut pending =
                crate::store::bookings::count_by_course(c, &ids, BookingStatus::PendingApproval)?;
            Ok(Page {
                total: page.total,
                items: page
                    .items
                    .into_iter()
                    .map(|course| AdminListed {
                        pending: pending.remove(&course.id).unwrap_or(0),
                        course,
                    })
                    .collect(),
            })
        })
        .await
}

/// One course, whatever its status, for the admin's pages, with its bookings waiting for
/// approval (admin; 404 when there is none).
pub async fn admin_course(state: &AppState, caller: &Caller, id: &str) -> AppResult<(Course, i64)> {
    require(caller, Action::WriteCourse)?;
    let id = id.to_string();
    state
        .db(move |c| {
            let course = store::get_course(c, &id)?;
            let pending = crate::store::bookings::count_by_course(
                c,
                std::slice::from_ref(&course.id),
                BookingStatus::PendingApproval,
            )?
            .remove(&course.id)
            .unwrap_or(0);
            Ok((course, pending))
        })
        .await
}

/// A course about to be cancelled and how many people cancelling it would email: everyone
/// holding a place, waiting for one or waiting for approval (admin).
pub async fn cancellation_preview(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> AppResult<(Course, usize)> {
    require(caller, Action::WriteCourse)?;
    let id = id.to_string();
    state
        .db(move |c| {
            let course = store::get_course(c, &id)?;
            let told = crate::store::bookings::holders(
                c,
                &id,
                &[
                    BookingStatus::PendingApproval,
                    BookingStatus::Confirmed,
                    BookingStatus::Waitlisted,
                ],
            )?
            .len();
            Ok((course, told))
        })
        .await
}

/// A person who could lead a course, as the admin's course form finds them.
#[derive(Clone, Debug)]
pub struct Candidate {
    /// Their id.
    pub id: String,
    /// Their name.
    pub name: String,
    /// Their email address.
    pub email: String,
}

/// People whose name or email contains `words` (admin), by name, up to `limit`: the admin's
/// course form finds leads with it.
pub async fn find_people(
    state: &AppState,
    caller: &Caller,
    words: &str,
    limit: i64,
) -> AppResult<Vec<Candidate>> {
    require(caller, Action::WriteCourse)?;
    let filter = crate::store::people::PeopleFilter {
        q: Some(words.trim().to_lowercase()),
        ..Default::default()
    };
    let paging = Paging::new(Some(limit), None).map_err(|(f, m)| AppError::invalid(f, m))?;
    let found = state
        .db(move |c| {
            crate::store::people::list(c, &crate::store::people::Scope::All, &filter, paging)
        })
        .await?;
    Ok(found
        .items
        .into_iter()
        .map(|p| Candidate {
            id: p.id,
            name: p.name,
            email: p.email,
        })
        .collect())
}

/// The people with these ids (admin), as [`Candidate`]s, in the order given; unknown or
/// erased ids are left out.
pub async fn people_named(
    state: &AppState,
    caller: &Caller,
    ids: Vec<String>,
) -> AppResult<Vec<Candidate>> {
    require(caller, Action::WriteCourse)?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    state
        .db(move |c| {
            let mut out = Vec::new();
            for id in &ids {
                match crate::store::people::get(c, id) {
                    Ok(p) => out.push(Candidate {
                        id: p.id,
                        name: p.name,
                        email: p.email,
                    }),
                    Err(AppError::NotFound) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(out)
        })
        .await
}

/// What the admin's course form offers to choose from, each as (id, name) in the order the
/// alliance keeps them.
#[derive(Clone, Debug, Default)]
pub struct Choices {
    /// Providers, by name.
    pub providers: Vec<(String, String)>,
    /// Clusters, by name.
    pub clusters: Vec<(String, String)>,
    /// Strategy priorities.
    pub priorities: Vec<(String, String)>,
    /// Staff groups.
    pub staff_groups: Vec<(String, String)>,
}

/// The choices of the admin's course form and list filters (admin).
pub async fn choices(state: &AppState, caller: &Caller) -> AppResult<Choices> {
    require(caller, Action::WriteCourse)?;
    state
        .db(|c| {
            let all = Paging::new(Some(1000), None).map_err(|(f, m)| AppError::invalid(f, m))?;
            Ok(Choices {
                providers: crate::store::reference::list_providers(c, None, None, all)?
                    .items
                    .into_iter()
                    .map(|p| (p.id, p.name))
                    .collect(),
                clusters: crate::store::reference::list_clusters(c, None, all)?
                    .items
                    .into_iter()
                    .map(|p| (p.id, p.name))
                    .collect(),
                priorities: crate::store::reference::list_priorities(c, None, all)?
                    .items
                    .into_iter()
                    .map(|p| (p.id, p.name))
                    .collect(),
                staff_groups: crate::store::reference::list_staff_groups(c, None, all)?
                    .items
                    .into_iter()
                    .map(|p| (p.id, p.name))
                    .collect(),
            })
        })
        .await
}
