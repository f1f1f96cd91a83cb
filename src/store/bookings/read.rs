//! Reading bookings for the API: one booking, its history, the access facts, and the lists,
//! with waiting-list positions worked out in one pass.

use std::collections::{BTreeSet, HashMap};

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{booking_history, bookings, course_leads, courses, people};
use crate::db::DbConn;
use crate::domain::booking::{BookingScope as Scope, BookingStatus};
use crate::domain::paging::{Page, Paging};
use crate::error::{AppError, AppResult};

use super::locking::{load_row, waitlist_position};
use super::rows::Row;
use super::types::{Access, Booking, Filter, HistoryEntry};

// ---------------------------------------------------------------------------------------------
// Reading

pub(super) fn view(
    conn: &mut DbConn,
    row: Row,
    person_name: Option<String>,
    course_title: Option<String>,
) -> AppResult<Booking> {
    let person_name = match person_name {
        Some(n) => n,
        None => people::table
            .find(&row.person_id)
            .select(people::name)
            .first(conn)?,
    };
    let course_title = match course_title {
        Some(t) => t,
        None => courses::table
            .find(&row.course_id)
            .select(courses::title)
            .first(conn)?,
    };
    let position = if row.status == BookingStatus::Waitlisted.as_str() {
        Some(waitlist_position(
            conn,
            &row.course_id,
            row.requested_at,
            &row.id,
        )?)
    } else {
        None
    };
    row.into_booking(person_name, course_title, position)
}

/// Loads bookings by id with their names and waiting-list positions, in the given order.
pub(super) fn load_many(conn: &mut DbConn, ids: &[String]) -> AppResult<Vec<Booking>> {
    let rows: Vec<(Row, String, String)> = bookings::table
        .inner_join(people::table)
        .inner_join(courses::table)
        .filter(bookings::id.eq_any(ids))
        .select((Row::as_select(), people::name, courses::title))
        .load(conn)?;
    let mut shaped = with_positions(conn, rows)?;
    let order: HashMap<&String, usize> = ids.iter().enumerate().map(|(i, id)| (id, i)).collect();
    shaped.sort_by_key(|b| order.get(&b.id).copied().unwrap_or(usize::MAX));
    shaped.dedup_by(|a, b| a.id == b.id);
    Ok(shaped)
}

/// Shapes rows, working out the waiting-list positions of the waitlisted ones with one
/// query over their courses' queues.
fn with_positions(conn: &mut DbConn, rows: Vec<(Row, String, String)>) -> AppResult<Vec<Booking>> {
    let waiting_courses: BTreeSet<&String> = rows
        .iter()
        .filter(|(r, _, _)| r.status == BookingStatus::Waitlisted.as_str())
        .map(|(r, _, _)| &r.course_id)
        .collect();
    let mut positions: HashMap<String, i64> = HashMap::new();
    if !waiting_courses.is_empty() {
        let queue: Vec<(String, String)> = bookings::table
            .filter(bookings::course_id.eq_any(waiting_courses.into_iter().cloned()))
            .filter(bookings::status.eq(BookingStatus::Waitlisted.as_str()))
            .order((
                bookings::course_id.asc(),
                bookings::requested_at.asc(),
                bookings::id.asc(),
            ))
            .select((bookings::id, bookings::course_id))
            .load(conn)?;
        let mut last_course = String::new();
        let mut n = 0;
        for (id, course) in queue {
            if course != last_course {
                last_course = course;
                n = 0;
            }
            n += 1;
            positions.insert(id, n);
        }
    }
    rows.into_iter()
        .map(|(row, name, title)| {
            let pos = positions.get(&row.id).copied();
            row.into_booking(name, title, pos)
        })
        .collect()
}

/// One booking.
pub fn get(conn: &mut DbConn, id: &str) -> AppResult<Booking> {
    crate::db::read_tx(conn, |conn| {
        let row = load_row(conn, id)?;
        view(conn, row, None, None)
    })
}

/// A booking's history, oldest first.
pub fn history(conn: &mut DbConn, id: &str) -> AppResult<Vec<HistoryEntry>> {
    #[allow(clippy::type_complexity)]
    let rows: Vec<(
        NaiveDateTime,
        Option<String>,
        Option<String>,
        String,
        Option<String>,
        Option<String>,
    )> = booking_history::table
        .filter(booking_history::booking_id.eq(id))
        .order((booking_history::at.asc(), booking_history::id.asc()))
        .select((
            booking_history::at,
            booking_history::actor_id,
            booking_history::from_status,
            booking_history::to_status,
            booking_history::reason,
            booking_history::note,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(|(at, actor_id, from, to, reason, note)| {
            let parse = |s: &str| {
                BookingStatus::parse(s).ok_or_else(|| {
                    AppError::Internal(anyhow::anyhow!("unknown status {s:?} in history"))
                })
            };
            Ok(HistoryEntry {
                at,
                actor_id,
                from: from.as_deref().map(parse).transpose()?,
                to: parse(&to)?,
                reason,
                note,
            })
        })
        .collect()
}

/// What the permission rules need about one booking; `NotFound` when there is none.
pub fn access(conn: &mut DbConn, id: &str) -> AppResult<Access> {
    let (person_id, school_id, course_id): (String, Option<String>, String) = bookings::table
        .find(id)
        .select((
            bookings::person_id,
            bookings::school_id,
            bookings::course_id,
        ))
        .first(conn)?;
    let course_lead_ids = course_leads::table
        .filter(course_leads::course_id.eq(&course_id))
        .select(course_leads::person_id)
        .load(conn)?;
    Ok(Access {
        person_id,
        school_id,
        course_id,
        course_lead_ids,
    })
}

/// What the permission rules need about several bookings (for bulk approve and decline);
/// `NotFound` when one does not exist.
pub fn access_many(conn: &mut DbConn, ids: &[String]) -> AppResult<Vec<(String, Access)>> {
    ids.iter()
        .map(|id| access(conn, id).map(|a| (id.clone(), a)))
        .collect()
}

/// Bookings the caller may see, filtered, in queue order (request time, then id).
pub fn list(
    conn: &mut DbConn,
    scope: &Scope,
    filter: &Filter,
    paging: Paging,
) -> AppResult<Page<Booking>> {
    macro_rules! filtered {
        ($led:expr) => {{
            let mut q = bookings::table
                .inner_join(people::table)
                .inner_join(courses::table)
                .into_boxed();
            if let Scope::Limited {
                person_id,
                school_id,
                course_lead_id,
            } = scope
            {
                let _ = course_lead_id;
                let led: Vec<String> = $led.clone();
                let mine = bookings::person_id.eq(person_id.clone());
                q = match school_id {
                    Some(school) => q.filter(
                        mine.or(bookings::school_id.eq(school.clone()))
                            .or(bookings::course_id.eq_any(led)),
                    ),
                    None => q.filter(mine.or(bookings::course_id.eq_any(led))),
                };
            }
            if let Some(c) = &filter.course_id {
                q = q.filter(bookings::course_id.eq(c.clone()));
            }
            if let Some(s) = &filter.school_id {
                q = q.filter(bookings::school_id.eq(s.clone()));
            }
            if let Some(p) = &filter.person_id {
                q = q.filter(bookings::person_id.eq(p.clone()));
            }
            if let Some(s) = filter.status {
                q = q.filter(bookings::status.eq(s.as_str()));
            }
            q
        }};
    }
    crate::db::read_tx(conn, |conn| {
        let led: Vec<String> = match scope {
            Scope::Limited {
                course_lead_id: Some(p),
                ..
            } => course_leads::table
                .filter(course_leads::person_id.eq(p))
                .select(course_leads::course_id)
                .load(conn)?,
            _ => Vec::new(),
        };
        let total: i64 = filtered!(led).count().get_result(conn)?;
        let rows: Vec<(Row, String, String)> = filtered!(led)
            .order((bookings::requested_at.asc(), bookings::id.asc()))
            .limit(paging.limit)
            .offset(paging.offset)
            .select((Row::as_select(), people::name, courses::title))
            .load(conn)?;
        Ok(Page {
            items: with_positions(conn, rows)?,
            total,
        })
    })
}

/// Requests waiting for approval since before `older_than`, oldest first: of one school, or
/// of every school (`None`).
pub fn pending(
    conn: &mut DbConn,
    school_id: Option<&str>,
    older_than: NaiveDateTime,
    paging: Paging,
) -> AppResult<Page<Booking>> {
    macro_rules! filtered {
        () => {{
            let mut q = bookings::table
                .inner_join(people::table)
                .inner_join(courses::table)
                .filter(bookings::status.eq(BookingStatus::PendingApproval.as_str()))
                .filter(bookings::requested_at.le(older_than))
                .into_boxed();
            if let Some(s) = school_id {
                q = q.filter(bookings::school_id.eq(s.to_string()));
            }
            q
        }};
    }
    crate::db::read_tx(conn, |conn| {
        let total: i64 = filtered!().count().get_result(conn)?;
        let rows: Vec<(Row, String, String)> = filtered!()
            .order((bookings::requested_at.asc(), bookings::id.asc()))
            .limit(paging.limit)
            .offset(paging.offset)
            .select((Row::as_select(), people::name, courses::title))
            .load(conn)?;
        Ok(Page {
            items: with_positions(conn, rows)?,
            total,
        })
    })
}

/// The active bookings (pending approval, confirmed, waitlisted) of a school's people on
/// courses not yet over at `now`, soonest first, each with its course's first session start.
/// For the school lead's view of their staff; at most `limit`.
pub fn upcoming_for_school(
    conn: &mut DbConn,
    school_id: &str,
    now: NaiveDateTime,
    limit: i64,
) -> AppResult<Vec<(Booking, Option<NaiveDateTime>)>> {
    crate::db::read_tx(conn, |conn| {
        let rows: Vec<(Row, String, String, Option<NaiveDateTime>)> = bookings::table
            .inner_join(people::table)
            .inner_join(courses::table)
            .filter(people::school_id.eq(school_id))
            .filter(people::erased_at.is_null())
            .filter(bookings::status.eq_any(super::book::ACTIVE))
            .filter(courses::last_session_end.ge(now))
            .order((courses::first_session_start.asc(), bookings::id.asc()))
            .limit(limit)
            .select((
                Row::as_select(),
                people::name,
                courses::title,
                courses::first_session_start,
            ))
            .load(conn)?;
        let starts: HashMap<String, Option<NaiveDateTime>> =
            rows.iter().map(|r| (r.0.id.clone(), r.3)).collect();
        let shaped = with_positions(
            conn,
            rows.into_iter().map(|(r, n, t, _)| (r, n, t)).collect(),
        )?;
        Ok(shaped
            .into_iter()
            .map(|b| {
                let start = starts.get(&b.id).copied().flatten();
                (b, start)
            })
            .collect())
    })
}

/// How many bookings in `status` each of the courses has (courses with none are left out):
/// e.g. the requests waiting for approval, for the admin's list of courses. One query.
pub fn count_by_course(
    conn: &mut DbConn,
    course_ids: &[String],
    status: BookingStatus,
) -> QueryResult<HashMap<String, i64>> {
    if course_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, i64)> = bookings::table
        .filter(bookings::course_id.eq_any(course_ids))
        .filter(bookings::status.eq(status.as_str()))
        .group_by(bookings::course_id)
        .select((bookings::course_id, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}
