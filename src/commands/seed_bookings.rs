//! Demo bookings for `seed-demo`: a believable term of bookings across the alliance's
//! schools, made by replaying requests, approvals, declines and cancellations through the
//! booking rules (`domain::booking`) at the times they would have happened. So the demo has
//! full courses with waiting lists, promotions from the waiting list, late cancellations,
//! requests still waiting for approval, and a few schools with no bookings at all (the
//! engagement report's cold spots), while every booking invariant holds.
//!
//! Idempotent: a course that already has bookings is left alone, so running it again adds
//! nothing. No emails are queued: the demo's history did not happen.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::db::schema::{
    booking_history, bookings, course_phases, course_staff_groups, courses, people, person_roles,
    schools,
};
use crate::db::{write_tx, DbConn};
use crate::domain::booking::{self as rules, BookingStatus, CourseFacts, Waiting};
use crate::domain::roles::Role;
use crate::error::AppError;
use crate::store::{bookings::lock_course, new_id};

/// What [`seed_bookings`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeedBookingsReport {
    /// Published courses given bookings now (a course no one could book is not counted).
    pub courses: usize,
    /// Courses that had bookings already, left alone.
    pub existing: usize,
    /// Bookings made, in any status.
    pub bookings: usize,
    /// Of those, now confirmed.
    pub confirmed: usize,
    /// Now waiting for a place.
    pub waitlisted: usize,
    /// Still waiting for approval.
    pub pending: usize,
    /// Cancelled (by the person).
    pub cancelled: usize,
    /// Of those, cancelled late (a place given up after the cancellation deadline).
    pub late_cancellations: usize,
    /// Declined by the school lead.
    pub declined: usize,
    /// Promoted from the waiting list when a place came free.
    pub promoted: usize,
    /// Courses that ended full with people waiting.
    pub full_with_waiting_list: usize,
    /// Schools left without any booking on purpose (cold spots).
    pub schools_without_bookings: usize,
}

#[derive(Clone, Debug)]
struct Staff {
    id: String,
    school_id: String,
    staff_group_id: Option<String>,
    phase: String,
}

#[derive(Clone, Debug, Queryable)]
struct CourseRow {
    id: String,
    status: String,
    capacity: i32,
    per_school_cap: Option<i32>,
    per_school_cap_until: Option<NaiveDateTime>,
    booking_closes: Option<NaiveDateTime>,
    cancellation_deadline: Option<NaiveDateTime>,
    requires_approval: bool,
    first_session_start: Option<NaiveDateTime>,
    price_pence: i32,
}

/// One booking as the replay builds it.
#[derive(Clone, Debug)]
struct Sim {
    person: Staff,
    requested_at: NaiveDateTime,
    status: BookingStatus,
    confirmed_at: Option<NaiveDateTime>,
    cancelled_at: Option<NaiveDateTime>,
    late: bool,
    decline_reason: Option<String>,
    history: Vec<Step>,
}

#[derive(Clone, Debug)]
struct Step {
    at: NaiveDateTime,
    actor: Option<String>,
    from: Option<BookingStatus>,
    to: BookingStatus,
    reason: &'static str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Request(usize),
    Decide(usize),
    Cancel(usize),
}

const DECLINE_REASON: &str = "We have already sent colleagues on this course this year.";

/// Gives the published courses that have no bookings yet a term's worth of bookings, as of
/// `now`, from staff of every school except a few left out on purpose. The same `seed` gives
/// the same choices for the same courses and people.
pub fn seed_bookings(
    conn: &mut DbConn,
    now: NaiveDateTime,
    seed: u64,
) -> anyhow::Result<SeedBookingsReport> {
    let mut report = SeedBookingsReport::default();
    let mut rng = StdRng::seed_from_u64(seed);

    // Every 23rd school (by URN) books nothing: about four cold spots in 92 schools.
    let all_schools: Vec<(String, String)> = schools::table
        .order(schools::urn.asc())
        .select((schools::id, schools::phase))
        .load(conn)?;
    let left_out: HashSet<String> = all_schools
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 23 == 22)
        .map(|(_, (id, _))| id.clone())
        .collect();
    report.schools_without_bookings = left_out.len();
    let phase_of: HashMap<String, String> = all_schools.into_iter().collect();
    let staff: Vec<Staff> = people::table
        .filter(people::erased_at.is_null())
        .filter(people::school_id.is_not_null())
        .order(people::email.asc())
        .select((people::id, people::school_id, people::staff_group_id))
        .load::<(String, Option<String>, Option<String>)>(conn)?
        .into_iter()
        .filter_map(|(id, school, group)| {
            let school = school?;
            if left_out.contains(&school) {
                return None;
            }
            Some(Staff {
                phase: phase_of.get(&school).cloned().unwrap_or_default(),
                id,
                school_id: school,
                staff_group_id: group,
            })
        })
        .collect();
    let leads: HashMap<String, String> = people::table
        .inner_join(person_roles::table)
        .filter(person_roles::role.eq(Role::SchoolLead.as_str()))
        .filter(people::school_id.is_not_null())
        .order(people::email.asc())
        .select((people::school_id.assume_not_null(), people::id))
        .load::<(String, String)>(conn)?
        .into_iter()
        .rev()
        .collect();

    let list: Vec<CourseRow> = courses::table
        .filter(courses::status.eq("published"))
        .filter(courses::first_session_start.is_not_null())
        .order((courses::first_session_start.asc(), courses::title.asc()))
        .select((
            courses::id,
            courses::status,
            courses::capacity,
            courses::per_school_cap,
            courses::per_school_cap_until,
            courses::booking_closes,
            courses::cancellation_deadline,
            courses::requires_approval,
            courses::first_session_start,
            courses::price_pence,
        ))
        .load(conn)?;
    for course in list {
        let done = write_tx(conn, |conn| {
            lock_course(conn, &course.id)?;
            let existing: i64 = bookings::table
                .filter(bookings::course_id.eq(&course.id))
                .count()
                .get_result(conn)?;
            if existing > 0 {
                return Ok::<_, AppError>(None);
            }
            let groups: Vec<String> = course_staff_groups::table
                .filter(course_staff_groups::course_id.eq(&course.id))
                .select(course_staff_groups::staff_group_id)
                .load(conn)?;
            let phases: Vec<String> = course_phases::table
                .filter(course_phases::course_id.eq(&course.id))
                .select(course_phases::phase)
                .load(conn)?;
            let eligible: Vec<&Staff> = staff
                .iter()
                .filter(|s| {
                    (groups.is_empty()
                        || s.staff_group_id
                            .as_ref()
                            .is_some_and(|g| groups.contains(g)))
                        && (phases.is_empty() || phases.contains(&s.phase))
                })
                .collect();
            let sims = replay(&course, &eligible, &leads, now, &mut rng);
            write(conn, &course, &sims)?;
            Ok(Some(sims))
        })
        .map_err(|e| anyhow::anyhow!("seeding bookings: {e:?}"))?;
        let Some(sims) = done else {
            report.existing += 1;
            continue;
        };
        if sims.is_empty() {
            // No one could book it (no staff it is for, or its booking window is ahead).
            continue;
        }
        report.courses += 1;
        report.bookings += sims.len();
        let count = |st: BookingStatus| sims.iter().filter(|s| s.status == st).count();
        report.confirmed += count(BookingStatus::Confirmed);
        report.waitlisted += count(BookingStatus::Waitlisted);
        report.pending += count(BookingStatus::PendingApproval);
        report.cancelled += count(BookingStatus::Cancelled);
        report.declined += count(BookingStatus::Declined);
        report.late_cancellations += sims.iter().filter(|s| s.late).count();
        report.promoted += sims
            .iter()
            .flat_map(|s| &s.history)
            .filter(|h| {
                h.from == Some(BookingStatus::Waitlisted) && h.to == BookingStatus::Confirmed
            })
            .count();
        if count(BookingStatus::Confirmed) as i32 >= course.capacity
            && count(BookingStatus::Waitlisted) > 0
        {
            report.full_with_waiting_list += 1;
        }
    }
    Ok(report)
}

/// Plays one course's requests, decisions and cancellations in time order through the
/// booking rules.
fn replay(
    course: &CourseRow,
    eligible: &[&Staff],
    leads: &HashMap<String, String>,
    now: NaiveDateTime,
    rng: &mut StdRng,
) -> Vec<Sim> {
    let Some(first) = course.first_session_start else {
        return Vec::new();
    };
    let end = course.booking_closes.unwrap_or(first).min(first).min(now);
    let start = end - Duration::days(42);
    if eligible.is_empty() || end <= start {
        return Vec::new();
    }
    // Small courses are oversubscribed (a waiting list); large ones fill in part.
    let demand = if course.capacity <= 30 {
        course.capacity as usize + rng.gen_range(2..8)
    } else {
        (course.capacity as usize * rng.gen_range(35..75)) / 100
    }
    .min(eligible.len());
    let mut chosen: Vec<&Staff> = eligible.to_vec();
    for i in 0..chosen.len() {
        let j = rng.gen_range(i..chosen.len());
        chosen.swap(i, j);
    }
    chosen.truncate(demand);
    let span = (end - start).num_seconds().max(1);
    let mut sims: Vec<Sim> = chosen
        .into_iter()
        .map(|p| Sim {
            person: p.clone(),
            requested_at: start + Duration::seconds(rng.gen_range(0..span)),
            status: BookingStatus::PendingApproval,
            confirmed_at: None,
            cancelled_at: None,
            late: false,
            decline_reason: None,
            history: Vec::new(),
        })
        .collect();
    sims.sort_by_key(|s| s.requested_at);

    let mut events: BTreeMap<(NaiveDateTime, Event), ()> = BTreeMap::new();
    let last = first.min(now);
    for (i, s) in sims.iter().enumerate() {
        events.insert((s.requested_at, Event::Request(i)), ());
        if course.requires_approval {
            let decide = s.requested_at + Duration::hours(rng.gen_range(6..96));
            if decide < last {
                events.insert((decide, Event::Decide(i)), ());
            }
        }
        if rng.gen_range(0..100) < 12 {
            let room = (last - s.requested_at).num_seconds();
            if room > 3600 {
                let at = s.requested_at + Duration::seconds(rng.gen_range(3600..room));
                events.insert((at, Event::Cancel(i)), ());
            }
        }
    }

    let mut facts = CourseFacts {
        status: course.status.clone(),
        capacity: course.capacity,
        confirmed: 0,
        per_school_cap: course.per_school_cap,
        per_school_cap_until: course.per_school_cap_until,
        booking_opens: None,
        booking_closes: None,
        first_session_start: None,
        requires_approval: course.requires_approval,
        staff_group_ids: Vec::new(),
        phases: Vec::new(),
    };
    for (&(at, event), _) in events.iter() {
        let mut freed = false;
        match event {
            Event::Request(i) => {
                let held = school_held(&sims, &sims[i].person.school_id);
                let status = rules::place_request(&facts, held, course.requires_approval, at);
                let me = sims[i].person.id.clone();
                set(&mut sims[i], at, Some(me), status, "booked", &mut facts);
            }
            Event::Decide(i) if sims[i].status == BookingStatus::PendingApproval => {
                let lead = leads.get(&sims[i].person.school_id).cloned();
                if rng.gen_range(0..100) < 15 {
                    sims[i].decline_reason = Some(DECLINE_REASON.to_string());
                    set(
                        &mut sims[i],
                        at,
                        lead,
                        BookingStatus::Declined,
                        "declined",
                        &mut facts,
                    );
                } else {
                    let held = school_held(&sims, &sims[i].person.school_id);
                    let status = rules::place_request(&facts, held, false, at);
                    set(&mut sims[i], at, lead, status, "approved", &mut facts);
                }
            }
            Event::Cancel(i) if sims[i].status.is_active() => {
                let was = sims[i].status;
                sims[i].late = rules::is_late(was, course.cancellation_deadline, at);
                let me = sims[i].person.id.clone();
                set(
                    &mut sims[i],
                    at,
                    Some(me),
                    BookingStatus::Cancelled,
                    "cancelled",
                    &mut facts,
                );
                sims[i].cancelled_at = Some(at);
                freed = was == BookingStatus::Confirmed;
            }
            _ => {}
        }
        if freed {
            promote(&mut sims, &mut facts, at, "a place came free");
        }
    }
    // As the background job would: a cap that has lifted by now lets people in.
    promote(
        &mut sims,
        &mut facts,
        now.max(last),
        "per-school cap lifted",
    );
    sims
}

fn school_held(sims: &[Sim], school: &str) -> i32 {
    sims.iter()
        .filter(|s| s.status == BookingStatus::Confirmed && s.person.school_id == school)
        .count() as i32
}

fn set(
    sim: &mut Sim,
    at: NaiveDateTime,
    actor: Option<String>,
    to: BookingStatus,
    reason: &'static str,
    facts: &mut CourseFacts,
) {
    let from = sim.history.last().map(|h| h.to);
    if from == Some(BookingStatus::Confirmed) {
        facts.confirmed -= 1;
    }
    if to == BookingStatus::Confirmed {
        facts.confirmed += 1;
        sim.confirmed_at = Some(at);
    }
    sim.status = to;
    sim.history.push(Step {
        at,
        actor,
        from,
        to,
        reason,
    });
}

fn promote(sims: &mut [Sim], facts: &mut CourseFacts, at: NaiveDateTime, reason: &'static str) {
    let mut queue: Vec<(NaiveDateTime, usize)> = sims
        .iter()
        .enumerate()
        .filter(|(_, s)| s.status == BookingStatus::Waitlisted)
        .map(|(i, s)| (s.requested_at, i))
        .collect();
    queue.sort();
    let waiting: Vec<Waiting> = queue
        .iter()
        .map(|(_, i)| Waiting {
            booking_id: i.to_string(),
            school_id: Some(sims[*i].person.school_id.clone()),
        })
        .collect();
    let mut held: HashMap<String, i32> = HashMap::new();
    for s in sims.iter().filter(|s| s.status == BookingStatus::Confirmed) {
        *held.entry(s.person.school_id.clone()).or_insert(0) += 1;
    }
    for id in rules::promotions(facts, &waiting, &mut held, at) {
        let i: usize = id.parse().expect("index");
        set(
            &mut sims[i],
            at,
            None,
            BookingStatus::Confirmed,
            reason,
            facts,
        );
    }
}

/// Writes one course's replayed bookings with their history, and sets its counters.
fn write(conn: &mut DbConn, course: &CourseRow, sims: &[Sim]) -> QueryResult<()> {
    for s in sims {
        let id = new_id();
        let last_at = s.history.last().map(|h| h.at).unwrap_or(s.requested_at);
        diesel::insert_into(bookings::table)
            .values((
                bookings::id.eq(&id),
                bookings::course_id.eq(&course.id),
                bookings::person_id.eq(&s.person.id),
                bookings::school_id.eq(Some(&s.person.school_id)),
                bookings::staff_group_id.eq(&s.person.staff_group_id),
                bookings::status.eq(s.status.as_str()),
                bookings::requested_at.eq(s.requested_at),
                bookings::confirmed_at.eq(s.confirmed_at),
                bookings::cancelled_at.eq(s.cancelled_at),
                bookings::late_cancellation.eq(s.late),
                bookings::decline_reason.eq(&s.decline_reason),
                bookings::admin_override.eq(false),
                bookings::walk_in.eq(false),
                bookings::price_pence.eq(course.price_pence),
                bookings::created_by.eq(Some(&s.person.id)),
                bookings::created_at.eq(s.requested_at),
                bookings::updated_at.eq(last_at),
            ))
            .execute(conn)?;
        for h in &s.history {
            diesel::insert_into(booking_history::table)
                .values((
                    booking_history::id.eq(new_id()),
                    booking_history::booking_id.eq(&id),
                    booking_history::at.eq(h.at),
                    booking_history::actor_id.eq(&h.actor),
                    booking_history::from_status.eq(h.from.map(BookingStatus::as_str)),
                    booking_history::to_status.eq(h.to.as_str()),
                    booking_history::reason.eq(h.reason),
                    booking_history::note.eq((h.to == BookingStatus::Cancelled && s.late)
                        .then_some("after the cancellation deadline")),
                ))
                .execute(conn)?;
        }
    }
    let count = |st: BookingStatus| sims.iter().filter(|s| s.status == st).count() as i32;
    diesel::update(courses::table.find(&course.id))
        .set((
            courses::confirmed_count.eq(count(BookingStatus::Confirmed)),
            courses::waitlist_count.eq(count(BookingStatus::Waitlisted)),
        ))
        .execute(conn)?;
    Ok(())
}
