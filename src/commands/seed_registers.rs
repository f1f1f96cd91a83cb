//! Demo registers for `seed-demo`: every held session of a published course gets its
//! register, taken a few minutes after the start by the course's lead, with a believable
//! spread of statuses (about 85% present, 5% late, 3% left early, 4% apologies, 3% absent)
//! from a fixed seed, so the demo is the same from run to run. A course whose last session
//! has been held gets its `last_register_recorded_at`, as when a lead takes that register.
//!
//! Idempotent: a session whose register was recorded already is left alone. Everything
//! happens in one write transaction, so it stays quick.

use std::collections::HashMap;

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::db::schema::{bookings, course_leads, course_sessions, courses};
use crate::db::{write_tx, DbConn};
use crate::domain::attendance::AttendanceStatus;
use crate::domain::booking::BookingStatus;
use crate::error::AppError;
use crate::store::attendance::seed_register;

/// What [`seed_registers`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeedRegistersReport {
    /// Session registers written now.
    pub sessions: usize,
    /// Attendance marks written.
    pub marks: usize,
    /// Courses of those sessions whose last register is recorded (the course is over).
    pub courses_finished: usize,
}

/// The spread of statuses, in percent.
const SPREAD: [(AttendanceStatus, u32); 5] = [
    (AttendanceStatus::Present, 85),
    (AttendanceStatus::Late, 5),
    (AttendanceStatus::LeftEarly, 3),
    (AttendanceStatus::Apologies, 4),
    (AttendanceStatus::Absent, 3),
];

fn pick(rng: &mut StdRng) -> AttendanceStatus {
    let mut roll = rng.gen_range(0..100);
    for (status, share) in SPREAD {
        if roll < share {
            return status;
        }
        roll -= share;
    }
    AttendanceStatus::Present
}

/// Takes the registers of the sessions of published courses that started before `now` and
/// have none yet. The same `seed` gives the same marks for the same bookings.
pub fn seed_registers(
    conn: &mut DbConn,
    now: NaiveDateTime,
    seed: u64,
) -> anyhow::Result<SeedRegistersReport> {
    let mut rng = StdRng::seed_from_u64(seed);
    write_tx(conn, |conn| {
        let mut report = SeedRegistersReport::default();
        let sessions: Vec<(String, String, NaiveDateTime)> = course_sessions::table
            .inner_join(courses::table)
            .filter(courses::status.eq("published"))
            .filter(course_sessions::start_at.le(now))
            .filter(course_sessions::register_recorded_at.is_null())
            .order((course_sessions::start_at.asc(), course_sessions::id.asc()))
            .select((
                course_sessions::id,
                course_sessions::course_id,
                course_sessions::start_at,
            ))
            .load(conn)?;
        let course_ids: Vec<&str> = sessions.iter().map(|s| s.1.as_str()).collect();
        let mut booked: HashMap<String, Vec<String>> = HashMap::new();
        for (id, course) in bookings::table
            .filter(bookings::course_id.eq_any(&course_ids))
            .filter(bookings::status.eq(BookingStatus::Confirmed.as_str()))
            .order(bookings::id.asc())
            .select((bookings::id, bookings::course_id))
            .load::<(String, String)>(conn)?
        {
            booked.entry(course).or_default().push(id);
        }
        let mut leads: HashMap<String, String> = HashMap::new();
        for (course, person) in course_leads::table
            .filter(course_leads::course_id.eq_any(&course_ids))
            .order(course_leads::person_id.asc())
            .select((course_leads::course_id, course_leads::person_id))
            .load::<(String, String)>(conn)?
        {
            leads.entry(course).or_insert(person);
        }
        for (session_id, course_id, start) in &sessions {
            let Some(list) = booked.get(course_id) else {
                continue;
            };
            let marks: Vec<(String, AttendanceStatus)> =
                list.iter().map(|b| (b.clone(), pick(&mut rng))).collect();
            let at = (*start + Duration::minutes(rng.gen_range(5..40))).min(now);
            if seed_register(
                conn,
                session_id,
                &marks,
                leads.get(course_id).map(String::as_str),
                at,
            )? {
                report.sessions += 1;
                report.marks += marks.len();
            }
        }
        report.courses_finished = courses::table
            .filter(courses::last_register_recorded_at.is_not_null())
            .filter(courses::id.eq_any(&course_ids))
            .count()
            .get_result::<i64>(conn)? as usize;
        Ok::<_, AppError>(report)
    })
    .map_err(|e| anyhow::anyhow!("seeding registers: {e:?}"))
}
