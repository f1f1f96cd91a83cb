//! Many calendar courses at once, for the calendar and booking benchmarks
//! (`cpd-hub-bench bench-seed --courses N`): valid by construction, so they skip the checks a
//! single create goes through and are written 500 to a transaction.

use diesel::prelude::*;

use cpd_hub::commands::seed_courses::{ids_by_key, london, provider_id, VENUES};
use cpd_hub::db::schema::clusters;
use cpd_hub::db::{write_tx, DbConn};
use cpd_hub::domain::course::{CoursePlan, CourseStatus, Format, SessionPlan, Venue};
use cpd_hub::domain::school::Phase;
use cpd_hub::domain::time;
use cpd_hub::store::courses::{insert_unchecked, CourseLinks};

/// A course to load in bulk, already known to be valid.
#[derive(Clone, Debug)]
pub struct BulkCourse {
    /// The course and its sessions.
    pub plan: CoursePlan,
    /// What it refers to.
    pub links: CourseLinks,
    /// Its status.
    pub status: CourseStatus,
    /// Places confirmed, as the bookings code would keep them.
    pub confirmed_count: i32,
    /// People waiting.
    pub waitlist_count: i32,
}

/// Inserts many courses in one write transaction, without the per-course checks and
/// read-backs of `store::courses::create_course`. Returns how many were inserted.
pub fn bulk_insert(conn: &mut DbConn, batch: &[BulkCourse]) -> QueryResult<usize> {
    write_tx(conn, |conn| {
        let now = time::now();
        for c in batch {
            insert_unchecked(
                conn,
                &c.plan,
                &c.links,
                c.status,
                (c.confirmed_count, c.waitlist_count),
                now,
            )?;
        }
        Ok(batch.len())
    })
}

/// A small deterministic generator, so benchmark data is the same on every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const BULK_TOPICS: &[&str] = &[
    "adaptive teaching",
    "phonics and early reading",
    "behaviour and routines",
    "attendance and families",
    "staff wellbeing",
    "pupils new to English",
    "curriculum sequencing",
    "subject leadership",
    "formative assessment",
    "outdoor learning",
    "SEND support plans",
    "coaching and mentoring",
];

/// Inserts `n_courses` published courses (one in twenty a draft) of `sessions_per_course`
/// weekly sessions each, for benchmarks: titles `Bulk course N: topic`, first sessions spread
/// over September 2026 to July 2028, random priorities, staff groups, phases, formats and
/// capacities, and confirmed/waiting counts as if booked (so `has_places` has both answers).
/// Deterministic; batched 500 courses to a transaction. Returns how many were inserted.
pub fn seed_bulk(
    conn: &mut DbConn,
    n_courses: usize,
    sessions_per_course: usize,
) -> anyhow::Result<usize> {
    let provider = provider_id(conn)?;
    let (prios, groups) = ids_by_key(conn)?;
    let cluster_ids: Vec<String> = clusters::table.select(clusters::id).load(conn)?;
    let mut rng = Lcg(0x5eed_c0de);
    let base = london("2026-09-01", "09:00")?;
    let mut inserted = 0;
    let mut batch = Vec::with_capacity(500);
    for i in 0..n_courses {
        let topic = BULK_TOPICS[rng.below(BULK_TOPICS.len())];
        let format = Format::ALL[rng.below(Format::ALL.len())];
        let first = base
            + chrono::Duration::days(rng.below(700) as i64)
            + chrono::Duration::minutes(30 * rng.below(16) as i64);
        let length = chrono::Duration::minutes(90 + 30 * rng.below(8) as i64);
        let venue = VENUES[rng.below(VENUES.len())];
        let sessions: Vec<SessionPlan> = (0..sessions_per_course)
            .map(|w| {
                let start = first + chrono::Duration::weeks(w as i64);
                SessionPlan {
                    start,
                    end: start + length,
                    venue: format.needs_venue().then(|| Venue {
                        name: venue.0.into(),
                        address: venue.1.into(),
                        postcode: venue.2.into(),
                    }),
                    online_url: format
                        .needs_online_url()
                        .then(|| format!("https://meet.example.org/cpd/bulk-{i}")),
                    note: None,
                }
            })
            .collect();
        let capacity = 10 + rng.below(51) as i32;
        let confirmed = rng.below(capacity as usize + 1) as i32;
        let waiting = if confirmed == capacity {
            rng.below(6) as i32
        } else {
            0
        };
        let mut priority_ids = Vec::new();
        for _ in 0..1 + rng.below(2) {
            if let Some((_, id)) = prios.get(rng.below(prios.len())) {
                if !priority_ids.contains(id) {
                    priority_ids.push(id.clone());
                }
            }
        }
        let mut staff_group_ids = Vec::new();
        for _ in 0..rng.below(3) {
            if let Some((_, id)) = groups.get(rng.below(groups.len())) {
                if !staff_group_ids.contains(id) {
                    staff_group_ids.push(id.clone());
                }
            }
        }
        let mut phases: Vec<String> = Vec::new();
        for _ in 0..rng.below(3) {
            let p = Phase::ALL[rng.below(4)].as_str().to_string();
            if !phases.contains(&p) {
                phases.push(p);
            }
        }
        let cluster_id = (!cluster_ids.is_empty() && rng.below(5) == 0)
            .then(|| cluster_ids[rng.below(cluster_ids.len())].clone());
        batch.push(BulkCourse {
            plan: CoursePlan {
                title: format!("Bulk course {}: {topic}", i + 1),
                summary: format!(
                    "A generated course about {topic}, for load testing the calendar. Number {}.",
                    i + 1
                ),
                format: format.as_str().into(),
                capacity,
                per_school_cap: None,
                per_school_cap_until: None,
                price_pence: 0,
                booking_opens: None,
                booking_closes: None,
                cancellation_deadline: None,
                requires_approval: rng.below(4) == 0,
                completion_min_sessions: None,
                phases,
                sessions,
            },
            links: CourseLinks {
                provider_id: provider.clone(),
                cluster_id,
                lead_ids: Vec::new(),
                priority_ids,
                staff_group_ids,
            },
            status: if i % 20 == 19 {
                CourseStatus::Draft
            } else {
                CourseStatus::Published
            },
            confirmed_count: confirmed,
            waitlist_count: waiting,
        });
        if batch.len() == 500 {
            inserted += bulk_insert(conn, &batch)?;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        inserted += bulk_insert(conn, &batch)?;
    }
    Ok(inserted)
}
