//! Adding, changing and removing a course's sessions under the course lock: each change is
//! checked with the whole course, renumbers the sessions, raises the revision and tells the
//! people holding a place on a published course, in one transaction.

use std::collections::BTreeSet;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::json;

use crate::db::schema::{course_sessions, courses};
use crate::db::{write_tx, DbConn};
use crate::domain::course::{self as rules, CourseStatus, SessionPlan};
use crate::domain::time;
use crate::error::{AppError, AppResult};
use crate::store::new_id;

use super::read::{course_id_of_session, load_phases, load_row, load_sessions};
use super::types::{CourseRow, Session, SessionPatch, SessionRow};
use super::write::{ensure_changeable, fail_if, lock_course, plan_of};

pub(super) fn insert_session(
    conn: &mut DbConn,
    course_id: &str,
    s: &SessionPlan,
    position: i32,
    now: NaiveDateTime,
) -> QueryResult<String> {
    let id = new_id();
    diesel::insert_into(course_sessions::table)
        .values((
            course_sessions::id.eq(&id),
            course_sessions::course_id.eq(course_id),
            course_sessions::start_at.eq(s.start),
            course_sessions::end_at.eq(s.end),
            course_sessions::venue_name.eq(s.venue.as_ref().map(|v| v.name.clone())),
            course_sessions::venue_address.eq(s.venue.as_ref().map(|v| v.address.clone())),
            course_sessions::venue_postcode.eq(s.venue.as_ref().map(|v| v.postcode.clone())),
            course_sessions::online_url.eq(&s.online_url),
            course_sessions::note.eq(&s.note),
            course_sessions::position.eq(position),
            course_sessions::created_at.eq(now),
            course_sessions::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(id)
}

/// Writes a session's times, place, link and note as planned.
fn write_session(
    conn: &mut DbConn,
    id: &str,
    s: &SessionPlan,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(course_sessions::table.find(id))
        .set((
            course_sessions::start_at.eq(s.start),
            course_sessions::end_at.eq(s.end),
            course_sessions::venue_name.eq(s.venue.as_ref().map(|v| v.name.clone())),
            course_sessions::venue_address.eq(s.venue.as_ref().map(|v| v.address.clone())),
            course_sessions::venue_postcode.eq(s.venue.as_ref().map(|v| v.postcode.clone())),
            course_sessions::online_url.eq(&s.online_url),
            course_sessions::note.eq(&s.note),
            course_sessions::updated_at.eq(now),
        ))
        .execute(conn)
}

/// Renumbers a course's sessions by start time and brings the course's session columns
/// (first start, last end, count) up to date.
pub(super) fn refresh_sessions(conn: &mut DbConn, course_id: &str) -> QueryResult<()> {
    let rows: Vec<(String, i32, NaiveDateTime, NaiveDateTime)> = course_sessions::table
        .filter(course_sessions::course_id.eq(course_id))
        .order((course_sessions::start_at.asc(), course_sessions::id.asc()))
        .select((
            course_sessions::id,
            course_sessions::position,
            course_sessions::start_at,
            course_sessions::end_at,
        ))
        .load(conn)?;
    for (i, (id, position, _, _)) in rows.iter().enumerate() {
        let want = i as i32 + 1;
        if *position != want {
            diesel::update(course_sessions::table.find(id))
                .set(course_sessions::position.eq(want))
                .execute(conn)?;
        }
    }
    let first = rows.iter().map(|r| r.2).min();
    let last = rows.iter().map(|r| r.3).max();
    diesel::update(courses::table.find(course_id))
        .set((
            courses::first_session_start.eq(first),
            courses::last_session_end.eq(last),
            courses::sessions_count.eq(rows.len() as i32),
        ))
        .execute(conn)?;
    Ok(())
}

/// After a change to a course's sessions: renumber, refresh the course's session columns,
/// raise the revision, and tell booked people when the course is published.
fn sessions_changed(
    conn: &mut DbConn,
    actor_id: Option<&str>,
    base_url: &str,
    row: &CourseRow,
    cancelled_sessions: Vec<crate::domain::notification::SessionLine>,
) -> AppResult<usize> {
    refresh_sessions(conn, &row.id)?;
    diesel::update(courses::table.find(&row.id))
        .set((
            courses::revision.eq(courses::revision + 1),
            courses::updated_at.eq(time::now()),
        ))
        .execute(conn)?;
    if row.status == CourseStatus::Published.as_str() {
        let ctx = crate::store::bookings::Ctx {
            actor_id,
            now: time::now(),
            base_url,
        };
        return crate::store::bookings::notify_course_changed(
            conn,
            ctx,
            &row.id,
            cancelled_sessions,
        );
    }
    Ok(0)
}

/// Makes a course's sessions the `wanted` ones (an id: that existing session, changed if
/// need be; none: a new one), removing the others, in the caller's transaction with the
/// course locked and the whole plan already checked. One audit entry per session added,
/// changed or removed; the people booked are told once. Returns how many were told.
pub(super) fn replace_sessions(
    conn: &mut DbConn,
    actor_id: Option<&str>,
    base_url: &str,
    row: &CourseRow,
    existing: &[SessionRow],
    wanted: Vec<(Option<String>, SessionPlan)>,
) -> AppResult<usize> {
    let kept: BTreeSet<&str> = wanted.iter().filter_map(|(id, _)| id.as_deref()).collect();
    for id in &kept {
        if !existing.iter().any(|s| s.id == *id) {
            return Err(AppError::conflict(
                "session_gone",
                "One of these sessions has been removed since the page was loaded, so nothing \
                 was changed. Open the course again and make the changes there.",
            ));
        }
    }
    let now = time::now();
    let mut audit: Vec<(&str, String)> = Vec::new();
    let mut removed: Vec<crate::domain::notification::SessionLine> = Vec::new();
    for s in existing.iter().filter(|s| !kept.contains(s.id.as_str())) {
        if crate::store::attendance::session_has_attendance(conn, &s.id)? {
            return Err(AppError::conflict(
                "session_has_attendance",
                "Attendance has been recorded for this session, so it cannot be deleted: its \
                 register is part of people's CPD records. Change its times instead.",
            ));
        }
        removed.extend(crate::store::bookings::session_lines(
            conn,
            &row.id,
            Some(&s.id),
        )?);
        diesel::delete(course_sessions::table.find(&s.id)).execute(conn)?;
        audit.push(("session.delete", s.id.clone()));
    }
    for (id, plan) in wanted {
        match id {
            Some(id) => {
                let before = existing
                    .iter()
                    .find(|s| s.id == id)
                    .map(SessionRow::plan)
                    .ok_or(AppError::NotFound)?;
                if before == plan {
                    continue;
                }
                write_session(conn, &id, &plan, now)?;
                audit.push(("session.update", id));
            }
            None => {
                let id = insert_session(conn, &row.id, &plan, 0, now)?;
                audit.push(("session.create", id));
            }
        }
    }
    if audit.is_empty() {
        return Ok(0);
    }
    let told = sessions_changed(conn, actor_id, base_url, row, removed)?;
    for (action, session_id) in audit {
        crate::store::audit::record(
            conn,
            actor_id,
            action,
            "course",
            Some(&row.id),
            json!({ "session_id": session_id }),
        )?;
    }
    Ok(told)
}

fn session_prefix(edited: usize) -> impl Fn(usize) -> String {
    move |i| {
        if i == edited {
            String::new()
        } else {
            format!("sessions[{i}].")
        }
    }
}

fn load_session(conn: &mut DbConn, id: &str) -> AppResult<Session> {
    Ok(course_sessions::table
        .find(id)
        .select(SessionRow::as_select())
        .first(conn)?
        .to_session())
}

/// Adds a session to a course (not a cancelled one). The session's own fields are named
/// without a prefix in a 422; rules about the whole course (the booking window must close
/// before the first session) name the course's fields.
pub fn add_session(
    conn: &mut DbConn,
    actor_id: Option<&str>,
    base_url: &str,
    course_id: &str,
    mut session: SessionPlan,
) -> AppResult<Session> {
    session.normalise();
    write_tx(conn, |conn| {
        lock_course(conn, course_id)?;
        let row = load_row(conn, course_id)?;
        ensure_changeable(&row)?;
        let sessions = load_sessions(conn, course_id)?;
        let mut plan = plan_of(&row, &sessions, load_phases(conn, course_id)?);
        let edited = plan.sessions.len();
        plan.sessions.push(session.clone());
        fail_if(rules::check_course_named(&plan, &session_prefix(edited)))?;
        let sid = insert_session(conn, course_id, &session, 0, time::now())?;
        sessions_changed(conn, actor_id, base_url, &row, Vec::new())?;
        crate::store::audit::record(
            conn,
            actor_id,
            "session.create",
            "course",
            Some(course_id),
            json!({"session_id": sid}),
        )?;
        load_session(conn, &sid)
    })
}

/// Changes a session; checked with its course as for [`add_session`].
pub fn update_session(
    conn: &mut DbConn,
    actor_id: Option<&str>,
    base_url: &str,
    session_id: &str,
    patch: SessionPatch,
) -> AppResult<Session> {
    write_tx(conn, |conn| {
        let course_id = course_id_of_session(conn, session_id)?;
        lock_course(conn, &course_id)?;
        let row = load_row(conn, &course_id)?;
        ensure_changeable(&row)?;
        let sessions = load_sessions(conn, &course_id)?;
        let edited = sessions
            .iter()
            .position(|s| s.id == session_id)
            .ok_or(AppError::NotFound)?;
        let mut plan = plan_of(&row, &sessions, load_phases(conn, &course_id)?);
        let before = plan.sessions[edited].clone();
        let s = &mut plan.sessions[edited];
        if let Some(v) = patch.start {
            s.start = v;
        }
        if let Some(v) = patch.end {
            s.end = v;
        }
        if let Some(v) = patch.venue {
            s.venue = v;
        }
        if let Some(v) = patch.online_url {
            s.online_url = v;
        }
        if let Some(v) = patch.note {
            s.note = v;
        }
        s.normalise();
        let after = s.clone();
        fail_if(rules::check_course_named(&plan, &session_prefix(edited)))?;
        if after == before {
            return load_session(conn, session_id);
        }
        write_session(conn, session_id, &after, time::now())?;
        sessions_changed(conn, actor_id, base_url, &row, Vec::new())?;
        crate::store::audit::record(
            conn,
            actor_id,
            "session.update",
            "course",
            Some(&course_id),
            json!({"session_id": session_id}),
        )?;
        load_session(conn, session_id)
    })
}

/// Removes a session. A published course keeps at least one (409: cancel the course
/// instead); the rest of the course must still hold (e.g. the completion rule); a session
/// with attendance recorded stays (409 `session_has_attendance`).
pub fn delete_session(
    conn: &mut DbConn,
    actor_id: Option<&str>,
    base_url: &str,
    session_id: &str,
) -> AppResult<()> {
    write_tx(conn, |conn| {
        let course_id = course_id_of_session(conn, session_id)?;
        lock_course(conn, &course_id)?;
        let row = load_row(conn, &course_id)?;
        ensure_changeable(&row)?;
        if crate::store::attendance::session_has_attendance(conn, session_id)? {
            return Err(AppError::conflict(
                "session_has_attendance",
                "Attendance has been recorded for this session, so it cannot be deleted: its \
                 register is part of people's CPD records. Change its times instead.",
            ));
        }
        let sessions = load_sessions(conn, &course_id)?;
        if row.status == CourseStatus::Published.as_str() && sessions.len() <= 1 {
            return Err(AppError::conflict(
                "last_session",
                "A published course needs at least one session; cancel the course instead.",
            ));
        }
        let remaining: Vec<SessionRow> = sessions
            .into_iter()
            .filter(|s| s.id != session_id)
            .collect();
        fail_if(rules::check_course(&plan_of(
            &row,
            &remaining,
            load_phases(conn, &course_id)?,
        )))?;
        let removed = crate::store::bookings::session_lines(conn, &course_id, Some(session_id))?;
        diesel::delete(course_sessions::table.find(session_id)).execute(conn)?;
        sessions_changed(conn, actor_id, base_url, &row, removed)?;
        crate::store::audit::record(
            conn,
            actor_id,
            "session.delete",
            "course",
            Some(&course_id),
            json!({"session_id": session_id}),
        )?;
        Ok(())
    })
}
