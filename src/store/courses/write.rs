//! Creating and changing courses under the course lock, with the checks, the audit entries
//! and the bookings' consequences in the same transaction (their sessions: `sessions`).

use std::collections::BTreeSet;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::json;

use crate::db::schema::{
    clusters, course_leads, course_phases, course_priorities, course_staff_groups, courses, people,
    priorities, providers, staff_groups,
};
use crate::db::{write_tx, DbConn};
use crate::domain::course::{
    self as rules, add_problem, CoursePlan, CourseStatus, Problems, SessionPlan,
};
use crate::domain::time;
use crate::error::{AppError, AppResult};
use crate::store::new_id;

use super::hooks::{cancel_active_bookings, places_may_have_freed};
use super::read::{get_course, load_phases, load_row, load_sessions};
use super::sessions::{insert_session, refresh_sessions, replace_sessions};
use super::types::{Course, CourseLinks, CoursePatch, CourseRow, Edited, SessionEdit, SessionRow};

// ---------------------------------------------------------------------------------------------
// Writing

/// Takes the course row's write lock (the same one bookings take) and bumps its version;
/// `NotFound` when there is no such course.
pub(super) fn lock_course(conn: &mut DbConn, id: &str) -> AppResult<()> {
    let n = diesel::update(courses::table.find(id))
        .set(courses::version.eq(courses::version + 1))
        .execute(conn)?;
    if n == 0 {
        return Err(AppError::NotFound);
    }
    Ok(())
}

pub(super) fn ensure_changeable(row: &CourseRow) -> AppResult<()> {
    if row.status == CourseStatus::Cancelled.as_str() {
        return Err(AppError::conflict(
            "course_cancelled",
            "This course has been cancelled; it can no longer be changed.",
        ));
    }
    Ok(())
}

/// Title and summary, lower-cased here (not by the database) so `q` matches the same on both
/// backends, whatever the alphabet.
fn search_text(title: &str, summary: &str) -> String {
    format!("{title}\n{summary}").to_lowercase()
}

fn dedupe(ids: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(ids.len());
    for id in ids {
        let id = id.trim().to_string();
        if !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

fn report_missing(
    found: &BTreeSet<String>,
    ids: &[String],
    field: &str,
    what: &str,
    problems: &mut Problems,
) {
    for (i, id) in ids.iter().enumerate() {
        if !found.contains(id) {
            add_problem(
                problems,
                format!("{field}[{i}]"),
                format!("there is no {what} {id:?}"),
            );
        }
    }
}

/// Which of the referenced records exist; a `None` list is not being changed.
struct LinkCheck<'a> {
    provider_id: Option<&'a str>,
    cluster_id: Option<&'a str>,
    lead_ids: Option<&'a [String]>,
    priority_ids: Option<&'a [String]>,
    staff_group_ids: Option<&'a [String]>,
}

fn check_links(
    conn: &mut DbConn,
    links: LinkCheck<'_>,
    problems: &mut Problems,
) -> QueryResult<()> {
    if links.provider_id == Some("") {
        add_problem(problems, "provider_id", "is required");
    } else if let Some(pid) = links.provider_id {
        let n: i64 = providers::table
            .filter(providers::id.eq(pid))
            .count()
            .get_result(conn)?;
        if n == 0 {
            add_problem(
                problems,
                "provider_id",
                format!("there is no provider {pid:?}"),
            );
        }
    }
    if let Some(cid) = links.cluster_id {
        let n: i64 = clusters::table
            .filter(clusters::id.eq(cid))
            .count()
            .get_result(conn)?;
        if n == 0 {
            add_problem(
                problems,
                "cluster_id",
                format!("there is no cluster {cid:?}"),
            );
        }
    }
    if let Some(ids) = links.lead_ids.filter(|l| !l.is_empty()) {
        let found: BTreeSet<String> = people::table
            .filter(people::id.eq_any(ids))
            .filter(people::erased_at.is_null())
            .select(people::id)
            .load::<String>(conn)?
            .into_iter()
            .collect();
        report_missing(&found, ids, "lead_ids", "person", problems);
    }
    if let Some(ids) = links.priority_ids.filter(|l| !l.is_empty()) {
        let found: BTreeSet<String> = priorities::table
            .filter(priorities::id.eq_any(ids))
            .select(priorities::id)
            .load::<String>(conn)?
            .into_iter()
            .collect();
        report_missing(&found, ids, "priority_ids", "priority", problems);
    }
    if let Some(ids) = links.staff_group_ids.filter(|l| !l.is_empty()) {
        let found: BTreeSet<String> = staff_groups::table
            .filter(staff_groups::id.eq_any(ids))
            .select(staff_groups::id)
            .load::<String>(conn)?
            .into_iter()
            .collect();
        report_missing(&found, ids, "staff_group_ids", "staff group", problems);
    }
    Ok(())
}

/// Writes one course as given, with its sessions and links, in the caller's transaction:
/// none of the checks, locks, audit entries or read-backs of [`create_course`], and the
/// bookings' counters (`confirmed_count`, `waitlist_count`) taken as they are. Only for
/// generated data that is valid by construction (the bulk loaders of `cpd-hub-tools`); the
/// denormalised columns (search text, summary HTML, session span and count) are made here,
/// as every write of a course makes them. Returns the new course's id.
pub fn insert_unchecked(
    conn: &mut DbConn,
    plan: &CoursePlan,
    links: &CourseLinks,
    status: CourseStatus,
    (confirmed_count, waitlist_count): (i32, i32),
    now: NaiveDateTime,
) -> QueryResult<String> {
    let id = new_id();
    diesel::insert_into(courses::table)
        .values((
            courses::id.eq(&id),
            courses::title.eq(&plan.title),
            courses::summary.eq(&plan.summary),
            courses::summary_html.eq(crate::domain::markdown::to_safe_html(&plan.summary)),
            courses::search_text.eq(search_text(&plan.title, &plan.summary)),
            courses::provider_id.eq(&links.provider_id),
            courses::cluster_id.eq(&links.cluster_id),
            courses::format.eq(&plan.format),
            courses::capacity.eq(plan.capacity),
            courses::per_school_cap.eq(plan.per_school_cap),
            courses::per_school_cap_until.eq(plan.per_school_cap_until),
            courses::price_pence.eq(plan.price_pence),
            courses::booking_opens.eq(plan.booking_opens),
            courses::booking_closes.eq(plan.booking_closes),
            courses::cancellation_deadline.eq(plan.cancellation_deadline),
            courses::requires_approval.eq(plan.requires_approval),
            courses::completion_min_sessions.eq(plan.completion_min_sessions),
            courses::status.eq(status.as_str()),
            courses::confirmed_count.eq(confirmed_count),
            courses::waitlist_count.eq(waitlist_count),
            courses::sessions_count.eq(plan.sessions.len() as i32),
            courses::first_session_start.eq(plan.first_start()),
            courses::last_session_end.eq(plan.last_end()),
            courses::created_at.eq(now),
            courses::updated_at.eq(now),
            courses::published_at.eq((status != CourseStatus::Draft).then_some(now)),
            courses::cancelled_at.eq((status == CourseStatus::Cancelled).then_some(now)),
        ))
        .execute(conn)?;
    let mut sessions: Vec<&SessionPlan> = plan.sessions.iter().collect();
    sessions.sort_by_key(|s| s.start);
    for (i, s) in sessions.into_iter().enumerate() {
        insert_session(conn, &id, s, i as i32 + 1, now)?;
    }
    replace_links(
        conn,
        &id,
        Some(&links.lead_ids),
        Some(&links.priority_ids),
        Some(&links.staff_group_ids),
        Some(&plan.phases),
    )?;
    Ok(id)
}

fn replace_links(
    conn: &mut DbConn,
    course_id: &str,
    lead_ids: Option<&[String]>,
    priority_ids: Option<&[String]>,
    staff_group_ids: Option<&[String]>,
    phases: Option<&[String]>,
) -> QueryResult<()> {
    // Each link table is replaced whole when its list is given, and left alone otherwise.
    macro_rules! replace {
        ($list:expr, $table:ident, $column:ident) => {
            if let Some(values) = $list {
                diesel::delete($table::table.filter($table::course_id.eq(course_id)))
                    .execute(conn)?;
                for value in values {
                    diesel::insert_into($table::table)
                        .values(($table::course_id.eq(course_id), $table::$column.eq(value)))
                        .execute(conn)?;
                }
            }
        };
    }
    replace!(lead_ids, course_leads, person_id);
    replace!(priority_ids, course_priorities, priority_id);
    replace!(staff_group_ids, course_staff_groups, staff_group_id);
    replace!(phases, course_phases, phase);
    Ok(())
}

pub(super) fn plan_of(row: &CourseRow, sessions: &[SessionRow], phases: Vec<String>) -> CoursePlan {
    CoursePlan {
        title: row.title.clone(),
        summary: row.summary.clone(),
        format: row.format.clone(),
        capacity: row.capacity,
        per_school_cap: row.per_school_cap,
        per_school_cap_until: row.per_school_cap_until,
        price_pence: row.price_pence,
        booking_opens: row.booking_opens,
        booking_closes: row.booking_closes,
        cancellation_deadline: row.cancellation_deadline,
        requires_approval: row.requires_approval,
        completion_min_sessions: row.completion_min_sessions,
        phases,
        sessions: sessions.iter().map(SessionRow::plan).collect(),
    }
}

pub(super) fn fail_if(problems: Problems) -> AppResult<()> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(AppError::Validation(problems))
    }
}

/// Creates a draft course with its sessions. Every rule is checked at once (422 naming each
/// field), including that the provider, cluster, leads, priorities and staff groups exist.
pub fn create_course(
    conn: &mut DbConn,
    actor_id: Option<&str>,
    mut plan: CoursePlan,
    links: CourseLinks,
) -> AppResult<Course> {
    plan.normalise();
    let links = CourseLinks {
        provider_id: links.provider_id.trim().to_string(),
        cluster_id: links.cluster_id.map(|c| c.trim().to_string()),
        lead_ids: dedupe(links.lead_ids),
        priority_ids: dedupe(links.priority_ids),
        staff_group_ids: dedupe(links.staff_group_ids),
    };
    write_tx(conn, |conn| {
        let mut problems = rules::check_course(&plan);
        check_links(
            conn,
            LinkCheck {
                provider_id: Some(&links.provider_id),
                cluster_id: links.cluster_id.as_deref(),
                lead_ids: Some(&links.lead_ids),
                priority_ids: Some(&links.priority_ids),
                staff_group_ids: Some(&links.staff_group_ids),
            },
            &mut problems,
        )?;
        fail_if(problems)?;
        let id = new_id();
        let now = time::now();
        diesel::insert_into(courses::table)
            .values((
                courses::id.eq(&id),
                courses::title.eq(&plan.title),
                courses::summary.eq(&plan.summary),
                courses::summary_html.eq(crate::domain::markdown::to_safe_html(&plan.summary)),
                courses::search_text.eq(search_text(&plan.title, &plan.summary)),
                courses::provider_id.eq(&links.provider_id),
                courses::cluster_id.eq(&links.cluster_id),
                courses::format.eq(&plan.format),
                courses::capacity.eq(plan.capacity),
                courses::per_school_cap.eq(plan.per_school_cap),
                courses::per_school_cap_until.eq(plan.per_school_cap_until),
                courses::price_pence.eq(plan.price_pence),
                courses::booking_opens.eq(plan.booking_opens),
                courses::booking_closes.eq(plan.booking_closes),
                courses::cancellation_deadline.eq(plan.cancellation_deadline),
                courses::requires_approval.eq(plan.requires_approval),
                courses::completion_min_sessions.eq(plan.completion_min_sessions),
                courses::status.eq(CourseStatus::Draft.as_str()),
                courses::revision.eq(0),
                courses::version.eq(0),
                courses::confirmed_count.eq(0),
                courses::waitlist_count.eq(0),
                courses::sessions_count.eq(0),
                courses::created_at.eq(now),
                courses::updated_at.eq(now),
            ))
            .execute(conn)?;
        for s in &plan.sessions {
            insert_session(conn, &id, s, 0, now)?;
        }
        refresh_sessions(conn, &id)?;
        replace_links(
            conn,
            &id,
            Some(&links.lead_ids),
            Some(&links.priority_ids),
            Some(&links.staff_group_ids),
            Some(&plan.phases),
        )?;
        crate::store::audit::record(
            conn,
            actor_id,
            "course.create",
            "course",
            Some(&id),
            json!({"sessions": plan.sessions.len()}),
        )?;
        get_course(conn, &id)
    })
}

/// Changes a course. The merged result is checked as a whole (422 naming each field); a
/// capacity below the places already confirmed is a 409 that says how many are confirmed.
/// A changed title or summary raises the revision, so calendars replace their copy.
pub fn update_course(
    conn: &mut DbConn,
    actor_id: Option<&str>,
    base_url: &str,
    id: &str,
    patch: CoursePatch,
) -> AppResult<Course> {
    write_tx(conn, |conn| {
        change_course(conn, actor_id, base_url, id, patch, None)?;
        get_course(conn, id)
    })
}

/// Changes a course and replaces its sessions with `sessions`, all in one transaction, as
/// the course's edit page saves it: the whole result is checked at once (422 naming each
/// field, sessions as `sessions[i].field` in the order given), sessions missing from the
/// list are removed, changed ones updated and new ones added, each with its audit entry as
/// the session endpoints write them; people holding a place on a published course get one
/// updated calendar entry however many sessions changed.
pub fn edit_course(
    conn: &mut DbConn,
    actor_id: Option<&str>,
    base_url: &str,
    id: &str,
    patch: CoursePatch,
    sessions: Vec<SessionEdit>,
) -> AppResult<Edited> {
    write_tx(conn, |conn| {
        let told = change_course(conn, actor_id, base_url, id, patch, Some(sessions))?;
        Ok(Edited {
            course: get_course(conn, id)?,
            told,
        })
    })
}

/// The work of [`update_course`] and [`edit_course`] in the caller's transaction; with
/// `sessions`, the course's sessions become those. Returns how many people were sent an
/// updated calendar entry.
fn change_course(
    conn: &mut DbConn,
    actor_id: Option<&str>,
    base_url: &str,
    id: &str,
    patch: CoursePatch,
    sessions: Option<Vec<SessionEdit>>,
) -> AppResult<usize> {
    let sessions_given = sessions.is_some();
    lock_course(conn, id)?;
    let row = load_row(conn, id)?;
    ensure_changeable(&row)?;
    let sessions_before = load_sessions(conn, id)?;
    let phases = load_phases(conn, id)?;
    let before = plan_of(&row, &sessions_before, phases);
    let mut plan = before.clone();
    let mut changed: Vec<&str> = Vec::new();
    macro_rules! set {
        ($field:ident) => {
            if let Some(v) = patch.$field.clone() {
                plan.$field = v;
                changed.push(stringify!($field));
            }
        };
    }
    set!(title);
    set!(summary);
    set!(format);
    set!(capacity);
    set!(per_school_cap);
    set!(per_school_cap_until);
    set!(price_pence);
    set!(booking_opens);
    set!(booking_closes);
    set!(cancellation_deadline);
    set!(requires_approval);
    set!(completion_min_sessions);
    set!(phases);
    if let Some(edits) = &sessions {
        plan.sessions = edits.iter().map(|e| e.plan.clone()).collect();
    }
    plan.normalise();
    let provider_id = patch.provider_id.as_ref().map(|p| p.trim().to_string());
    let cluster_id = patch
        .cluster_id
        .clone()
        .map(|c| c.map(|c| c.trim().to_string()));
    let lead_ids = patch.lead_ids.clone().map(dedupe);
    let priority_ids = patch.priority_ids.clone().map(dedupe);
    let staff_group_ids = patch.staff_group_ids.clone().map(dedupe);
    for (name, given) in [
        ("provider_id", provider_id.is_some()),
        ("cluster_id", cluster_id.is_some()),
        ("lead_ids", lead_ids.is_some()),
        ("priority_ids", priority_ids.is_some()),
        ("staff_group_ids", staff_group_ids.is_some()),
    ] {
        if given {
            changed.push(name);
        }
    }

    let mut problems = rules::check_course(&plan);
    if sessions.is_some()
        && plan.sessions.is_empty()
        && row.status == CourseStatus::Published.as_str()
    {
        add_problem(
            &mut problems,
            "sessions",
            "a published course needs at least one session; cancel the course instead",
        );
    }
    check_links(
        conn,
        LinkCheck {
            provider_id: provider_id.as_deref(),
            cluster_id: cluster_id.as_ref().and_then(|c| c.as_deref()),
            lead_ids: lead_ids.as_deref(),
            priority_ids: priority_ids.as_deref(),
            staff_group_ids: staff_group_ids.as_deref(),
        },
        &mut problems,
    )?;
    fail_if(problems)?;
    if plan.capacity < row.confirmed_count {
        return Err(AppError::conflict(
            "capacity_below_confirmed",
            format!(
                "{n} place{s} already confirmed on this course, so the capacity cannot go below {n}.",
                n = row.confirmed_count,
                s = if row.confirmed_count == 1 { " is" } else { "s are" },
            ),
        ));
    }

    if let Some(cap) = plan.per_school_cap {
        let applies = plan
            .per_school_cap_until
            .is_none_or(|until| until > time::now());
        let held = crate::store::bookings::max_school_confirmed(conn, id)?;
        if applies && cap < held {
            return Err(AppError::conflict(
                "cap_below_school_confirmed",
                format!(
                    "A school already holds {held} confirmed places on this course, so the per-school cap cannot go below {held}."
                ),
            ));
        }
    }

    let calendar_changed = plan.title != before.title || plan.summary != before.summary;
    let now = time::now();
    diesel::update(courses::table.find(id))
        .set((
            courses::title.eq(&plan.title),
            courses::summary.eq(&plan.summary),
            courses::summary_html.eq(crate::domain::markdown::to_safe_html(&plan.summary)),
            courses::search_text.eq(search_text(&plan.title, &plan.summary)),
            courses::provider_id.eq(provider_id.as_ref().unwrap_or(&row.provider_id)),
            courses::cluster_id.eq(cluster_id.clone().unwrap_or(row.cluster_id.clone())),
            courses::format.eq(&plan.format),
            courses::capacity.eq(plan.capacity),
            courses::per_school_cap.eq(plan.per_school_cap),
            courses::per_school_cap_until.eq(plan.per_school_cap_until),
            courses::price_pence.eq(plan.price_pence),
            courses::booking_opens.eq(plan.booking_opens),
            courses::booking_closes.eq(plan.booking_closes),
            courses::cancellation_deadline.eq(plan.cancellation_deadline),
            courses::requires_approval.eq(plan.requires_approval),
            courses::completion_min_sessions.eq(plan.completion_min_sessions),
            courses::revision.eq(row.revision + i32::from(calendar_changed)),
            courses::updated_at.eq(now),
        ))
        .execute(conn)?;
    replace_links(
        conn,
        id,
        lead_ids.as_deref(),
        priority_ids.as_deref(),
        staff_group_ids.as_deref(),
        patch.phases.as_ref().map(|_| plan.phases.as_slice()),
    )?;
    let told = match sessions {
        Some(edits) => {
            let wanted: Vec<(Option<String>, SessionPlan)> = edits
                .into_iter()
                .zip(plan.sessions.iter().cloned())
                .map(|(e, s)| (e.id, s))
                .collect();
            replace_sessions(conn, actor_id, base_url, &row, &sessions_before, wanted)?
        }
        None => 0,
    };
    let cap_eased = plan.per_school_cap != before.per_school_cap
        || plan.per_school_cap_until != before.per_school_cap_until;
    if plan.capacity > before.capacity || cap_eased {
        places_may_have_freed(conn, actor_id, base_url, id)?;
    }
    // The edit page sends only what changed; when that is nothing but sessions, their own
    // entries say what happened.
    if !(sessions_given && changed.is_empty()) {
        crate::store::audit::record(
            conn,
            actor_id,
            "course.update",
            "course",
            Some(id),
            json!({"fields": changed}),
        )?;
    }
    Ok(told)
}

/// Publishes a draft: every rule must hold and it needs at least one session (422 saying
/// so); 409 when it is already published or was cancelled.
pub fn publish_course(conn: &mut DbConn, actor_id: Option<&str>, id: &str) -> AppResult<Course> {
    write_tx(conn, |conn| {
        lock_course(conn, id)?;
        let row = load_row(conn, id)?;
        match CourseStatus::parse(&row.status) {
            Some(CourseStatus::Published) => {
                return Err(AppError::conflict(
                    "already_published",
                    "This course is already published.",
                ))
            }
            Some(CourseStatus::Cancelled) => {
                return Err(AppError::conflict(
                    "course_cancelled",
                    "This course has been cancelled; it cannot be published.",
                ))
            }
            _ => {}
        }
        let sessions = load_sessions(conn, id)?;
        let phases = load_phases(conn, id)?;
        fail_if(rules::check_publishable(&plan_of(&row, &sessions, phases)))?;
        let now = time::now();
        diesel::update(courses::table.find(id))
            .set((
                courses::status.eq(CourseStatus::Published.as_str()),
                courses::published_at.eq(now),
                courses::updated_at.eq(now),
            ))
            .execute(conn)?;
        crate::store::audit::record(
            conn,
            actor_id,
            "course.publish",
            "course",
            Some(id),
            json!({}),
        )?;
        get_course(conn, id)
    })
}

/// Cancels a course with a reason, in one transaction: the course becomes `cancelled` (its
/// revision rises, so calendars show the events cancelled), every active booking is
/// cancelled ([`cancel_active_bookings`]) and each person whose booking was cancelled gets
/// one `course_cancelled` message in the outbox. 409 when it is already cancelled.
pub fn cancel_course(
    conn: &mut DbConn,
    actor_id: Option<&str>,
    base_url: &str,
    id: &str,
    reason: &str,
) -> AppResult<Course> {
    fail_if(rules::check_reason(reason))?;
    let reason = reason.trim();
    write_tx(conn, |conn| {
        lock_course(conn, id)?;
        let row = load_row(conn, id)?;
        if row.status == CourseStatus::Cancelled.as_str() {
            return Err(AppError::conflict(
                "already_cancelled",
                "This course is already cancelled.",
            ));
        }
        let now = time::now();
        diesel::update(courses::table.find(id))
            .set((
                courses::status.eq(CourseStatus::Cancelled.as_str()),
                courses::cancel_reason.eq(reason),
                courses::cancelled_at.eq(now),
                courses::revision.eq(courses::revision + 1),
                courses::updated_at.eq(now),
            ))
            .execute(conn)?;
        let cancelled = cancel_active_bookings(conn, id, actor_id, reason)?;
        crate::store::bookings::notify_course_cancelled(
            conn,
            crate::store::bookings::Ctx {
                actor_id,
                now,
                base_url,
            },
            id,
            reason,
            &cancelled,
        )?;
        crate::store::audit::record(
            conn,
            actor_id,
            "course.cancel",
            "course",
            Some(id),
            json!({
                "reason": reason,
                "previous_status": row.status,
                "bookings_cancelled": cancelled.len(),
            }),
        )?;
        get_course(conn, id)
    })
}
