//! A person's CPD record: the courses they attended and the hours, by term and year.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{attendance, bookings, course_sessions, courses, people, schools};
use crate::db::{read_tx, DbConn};
use crate::domain::attendance::{self as rules, AttendanceStatus, SessionMark};
use crate::domain::booking::BookingStatus;
use crate::domain::course::london_times;
use crate::domain::term::{academic_year_label, Term};
use crate::error::{AppError, AppResult};
use crate::store::courses::Named;

use super::types::{
    parse_status, AttendanceExport, CourseRecord, CpdRecord, Period, PeriodTotals, RecordTotals,
    SessionRecord,
};

// ---------------------------------------------------------------------------------------------
// CPD record

/// A person's CPD record at `now`: every course they hold a confirmed place on (newest
/// first) with its sessions, what they attended, hours (from the times of the held sessions
/// attended) and completion under the course's rule; totals per term and academic year
/// (by session date) and overall. `NotFound` for an unknown or erased person.
pub fn cpd_record(conn: &mut DbConn, person_id: &str, now: NaiveDateTime) -> AppResult<CpdRecord> {
    read_tx(conn, |conn| {
        let (name, school_id, school_name, erased): (
            String,
            Option<String>,
            Option<String>,
            Option<NaiveDateTime>,
        ) = people::table
            .left_join(schools::table)
            .filter(people::id.eq(person_id))
            .select((
                people::name,
                people::school_id,
                schools::name.nullable(),
                people::erased_at,
            ))
            .first(conn)?;
        if erased.is_some() {
            return Err(AppError::NotFound);
        }
        let booked: Vec<(String, String, String, Option<i32>, bool)> = bookings::table
            .inner_join(courses::table)
            .filter(bookings::person_id.eq(person_id))
            .filter(bookings::status.eq(BookingStatus::Confirmed.as_str()))
            .select((
                bookings::id,
                courses::id,
                courses::title,
                courses::completion_min_sessions,
                bookings::walk_in,
            ))
            .load(conn)?;
        let course_ids: Vec<&str> = booked.iter().map(|b| b.1.as_str()).collect();
        let booking_ids: Vec<&str> = booked.iter().map(|b| b.0.as_str()).collect();
        let mut sessions: HashMap<String, Vec<(String, i32, NaiveDateTime, NaiveDateTime)>> =
            HashMap::new();
        for (id, course_id, position, start, end) in course_sessions::table
            .filter(course_sessions::course_id.eq_any(&course_ids))
            .order((course_sessions::start_at.asc(), course_sessions::id.asc()))
            .select((
                course_sessions::id,
                course_sessions::course_id,
                course_sessions::position,
                course_sessions::start_at,
                course_sessions::end_at,
            ))
            .load::<(String, String, i32, NaiveDateTime, NaiveDateTime)>(conn)?
        {
            sessions
                .entry(course_id)
                .or_default()
                .push((id, position, start, end));
        }
        let marks: HashMap<(String, String), AttendanceStatus> = attendance::table
            .filter(attendance::booking_id.eq_any(&booking_ids))
            .select((
                attendance::booking_id,
                attendance::session_id,
                attendance::status,
            ))
            .load::<(String, String, String)>(conn)?
            .into_iter()
            .map(|(b, s, st)| Ok(((b, s), parse_status(&st)?)))
            .collect::<AppResult<_>>()?;

        let mut courses_out = Vec::with_capacity(booked.len());
        for (booking_id, course_id, title, min_sessions, walk_in) in booked {
            let list = sessions.remove(&course_id).unwrap_or_default();
            let session_marks: Vec<SessionMark> = list
                .iter()
                .map(|(sid, _, start, end)| SessionMark {
                    start: *start,
                    end: *end,
                    status: marks.get(&(booking_id.clone(), sid.clone())).copied(),
                })
                .collect();
            let p = rules::progress(&session_marks, min_sessions, now);
            let records: Vec<SessionRecord> = list
                .iter()
                .zip(&session_marks)
                .map(|((sid, position, start, end), m)| {
                    let held = rules::is_held(*start, now);
                    let attended = held && m.status.is_some_and(AttendanceStatus::attended);
                    SessionRecord {
                        session_id: sid.clone(),
                        position: *position,
                        start: *start,
                        end: *end,
                        display: london_times(*start, *end).display,
                        held,
                        status: m.status,
                        minutes: if attended {
                            rules::session_minutes(*start, *end)
                        } else {
                            0
                        },
                    }
                })
                .collect();
            courses_out.push(CourseRecord {
                term: records.first().map(|s| term_period(Term::of(s.start))),
                course_id,
                title,
                booking_id,
                walk_in,
                completion_min_sessions: min_sessions,
                sessions_total: p.sessions,
                sessions_held: p.held,
                sessions_attended: p.attended,
                minutes_attended: p.minutes,
                hours_attended: rules::quarter_hours(p.minutes),
                complete: p.complete,
                finished: p.held == p.sessions && p.sessions > 0,
                sessions: records,
            });
        }
        // Newest first: by first session, courses without sessions last.
        courses_out.sort_by(|a, b| {
            let first = |c: &CourseRecord| c.sessions.first().map(|s| s.start);
            first(b)
                .cmp(&first(a))
                .then_with(|| a.course_id.cmp(&b.course_id))
        });
        let (terms, academic_years, totals) = totals_of(&courses_out);
        Ok(CpdRecord {
            person: Named {
                id: person_id.to_string(),
                name,
            },
            school: school_id.map(|id| Named {
                id,
                name: school_name.unwrap_or_default(),
            }),
            courses: courses_out,
            terms,
            academic_years,
            totals,
        })
    })
}

fn term_period(t: Term) -> Period {
    Period {
        key: t.key(),
        label: t.label(),
    }
}

fn year_period(year_start: i32) -> Period {
    Period {
        key: format!("{year_start}-{:02}", (year_start + 1) % 100),
        label: academic_year_label(year_start),
    }
}

#[derive(Default)]
struct Acc {
    courses: HashSet<String>,
    completed: usize,
    sessions: usize,
    minutes: i64,
}

impl Acc {
    fn totals(self, period: Period) -> PeriodTotals {
        PeriodTotals {
            period,
            courses: self.courses.len(),
            courses_completed: self.completed,
            sessions_attended: self.sessions,
            minutes_attended: self.minutes,
            hours_attended: rules::quarter_hours(self.minutes),
        }
    }
}

/// Term, academic-year and overall totals. Each attended session counts in the term it was
/// held in; a completed course in the term of its last held session.
fn totals_of(courses: &[CourseRecord]) -> (Vec<PeriodTotals>, Vec<PeriodTotals>, RecordTotals) {
    let mut terms: BTreeMap<Term, Acc> = BTreeMap::new();
    let mut years: BTreeMap<i32, Acc> = BTreeMap::new();
    for c in courses {
        for s in c
            .sessions
            .iter()
            .filter(|s| s.held && s.status.is_some_and(AttendanceStatus::attended))
        {
            let term = Term::of(s.start);
            for acc in [
                terms.entry(term).or_default(),
                years.entry(term.year_start).or_default(),
            ] {
                acc.courses.insert(c.course_id.clone());
                acc.sessions += 1;
                acc.minutes += s.minutes;
            }
        }
        if c.complete {
            if let Some(last) = c.sessions.iter().rfind(|s| s.held) {
                let term = Term::of(last.start);
                terms.entry(term).or_default().completed += 1;
                years.entry(term.year_start).or_default().completed += 1;
            }
        }
    }
    let minutes: i64 = courses.iter().map(|c| c.minutes_attended).sum();
    let totals = RecordTotals {
        courses: courses.len(),
        courses_completed: courses.iter().filter(|c| c.complete).count(),
        sessions_attended: courses.iter().map(|c| c.sessions_attended).sum(),
        minutes_attended: minutes,
        hours_attended: rules::quarter_hours(minutes),
    };
    (
        terms
            .into_iter()
            .map(|(t, acc)| acc.totals(term_period(t)))
            .collect(),
        years
            .into_iter()
            .map(|(y, acc)| acc.totals(year_period(y)))
            .collect(),
        totals,
    )
}

/// Every attendance mark on a person's bookings, for their data export (oldest first).
pub fn person_marks(conn: &mut DbConn, person_id: &str) -> QueryResult<Vec<AttendanceExport>> {
    attendance::table
        .inner_join(bookings::table)
        .filter(bookings::person_id.eq(person_id))
        .order((attendance::recorded_at.asc(), attendance::session_id.asc()))
        .select((
            attendance::booking_id,
            attendance::session_id,
            attendance::course_id,
            attendance::status,
            attendance::note,
            attendance::source,
            attendance::recorded_at,
        ))
        .load(conn)
}
