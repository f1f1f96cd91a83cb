//! A national-scale alliance for the report benchmarks (`cpd-hub bench-seed --national`):
//! 24,000 schools in 150 clusters, 500,000 staff, 20,000 courses over three academic years,
//! 5,000,000 bookings, registers for the sessions held and evaluations with their answers, at
//! `--scale 1`. Smaller scales give the same shape in proportion (`--scale 0.001`: 24 schools,
//! 500 staff, 20 courses, 5,000 bookings), so tests run the very code the benchmark does.
//!
//! The data is consistent the way the service keeps it: bookings snapshot their person's
//! school, staff group and the course's price; each course's bookings are replayed in time
//! order (requests, approvals and declines, cancellations, promotions from the waiting list),
//! so confirmed places never exceed capacity and the courses' counters match their bookings;
//! attendance is recorded only for confirmed bookings at sessions held (and registered) before
//! the "as of" moment; post-course invitations go to everyone who attended a session once the
//! last session's register is in, impact follow-ups six weeks later; responses carry the
//! denormalised figures of their answers. About 5% of schools never book (cold spots) and 3%
//! booked only in the first year.
//!
//! It is fast because nothing goes through the per-row store code: rows are written as text,
//! a thousand to a multi-row `INSERT` (PostgreSQL `COPY` for the big tables), by one thread
//! while another generates the next batch; secondary indexes of the big tables are dropped for
//! the load and built again afterwards, and foreign keys are not checked row by row (SQLite
//! `foreign_keys=OFF`; PostgreSQL `session_replication_role=replica` when allowed), since the
//! rows are valid by construction. Deterministic: the same options give the same database.
//!
//! It expects a database without schools (just migrated): ids are derived from row numbers.

use std::collections::BTreeSet;
use std::fmt::{self, Write as _};
use std::sync::mpsc;
use std::time::Instant;

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Weekday};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::db::schema::{
    attendance, bookings, evaluation_answers, evaluation_forms, evaluation_invitations,
    evaluation_questions, evaluation_responses, people, person_roles, priorities, schools,
    staff_groups,
};
use crate::db::DbConn;
use crate::domain::school::Phase;
use crate::domain::time::LONDON;

// ---------------------------------------------------------------------------------------------
// Options and results

/// How big a national alliance to make, and how.
#[derive(Clone, Debug)]
pub struct NationalOptions {
    /// 1.0 is the full national size; 0.001 a tiny one for tests.
    pub scale: f64,
    /// The random seed: the same seed gives the same data.
    pub seed: u64,
    /// "Now" for the data: sessions before it were held, invitations due before it were sent.
    pub as_of: NaiveDateTime,
    /// The moment the report cells are summed as of, at the end of the load: the clock's
    /// reading for a bench database that the service then reads at the real time, or a fixed
    /// moment in a test.
    pub summed_at: NaiveDateTime,
    /// Drop the big tables' secondary indexes for the load and build them afterwards.
    pub drop_indexes: bool,
    /// On PostgreSQL, load the big tables with `COPY` rather than multi-row `INSERT`s.
    pub copy: bool,
    /// Show a progress bar and the phases' timings on standard error.
    pub progress: bool,
}

impl Default for NationalOptions {
    fn default() -> Self {
        NationalOptions {
            scale: 1.0,
            seed: 2026,
            as_of: default_as_of(),
            summed_at: default_as_of(),
            drop_indexes: true,
            copy: true,
            progress: false,
        }
    }
}

/// The default "now" of the national data: 20 November 2026, a third of the way through the
/// autumn term of its third academic year.
pub fn default_as_of() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 11, 20)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("a valid date")
}

/// How many of each thing a scale gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NationalSizes {
    /// Clusters of schools.
    pub clusters: usize,
    /// Schools.
    pub schools: usize,
    /// Staff (people with a school).
    pub staff: usize,
    /// Courses.
    pub courses: usize,
    /// Bookings aimed for (fewer when a small scale leaves too few eligible staff).
    pub bookings: usize,
    /// People who lead courses.
    pub course_leads: usize,
}

impl NationalSizes {
    /// The sizes at a scale (1.0: 150 clusters, 24,000 schools, 500,000 staff, 20,000
    /// courses, 5,000,000 bookings).
    pub fn at_scale(scale: f64) -> NationalSizes {
        let n = |base: f64, min: usize| ((base * scale).round() as usize).max(min);
        let schools = n(24_000.0, 20);
        NationalSizes {
            clusters: n(150.0, 2),
            schools,
            staff: n(500_000.0, schools * 10),
            courses: n(20_000.0, 10),
            bookings: n(5_000_000.0, 100),
            course_leads: n(800.0, 3),
        }
    }
}

/// What [`seed_national`] made, and how long it took.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NationalReport {
    /// Clusters.
    pub clusters: u64,
    /// Schools.
    pub schools: u64,
    /// Schools that never booked (cold spots).
    pub cold_schools: u64,
    /// Schools that booked only in the first academic year.
    pub lapsed_schools: u64,
    /// Staff.
    pub staff: u64,
    /// Courses (published, draft and cancelled).
    pub courses: u64,
    /// Sessions.
    pub sessions: u64,
    /// Bookings in any status.
    pub bookings: u64,
    /// Of which confirmed.
    pub confirmed: u64,
    /// Waitlisted.
    pub waitlisted: u64,
    /// Waiting for approval.
    pub pending: u64,
    /// Cancelled.
    pub cancelled: u64,
    /// Of the cancelled, late cancellations.
    pub late_cancellations: u64,
    /// Declined.
    pub declined: u64,
    /// Attendance rows.
    pub attendance: u64,
    /// Evaluation invitations (both kinds).
    pub invitations: u64,
    /// Evaluation responses (both kinds).
    pub responses: u64,
    /// Evaluation answers.
    pub answers: u64,
    /// Seconds spent generating and loading rows.
    pub load_seconds: f64,
    /// Seconds spent building indexes again.
    pub index_seconds: f64,
    /// Seconds spent refreshing planner statistics (and, on PostgreSQL, vacuuming).
    pub analyze_seconds: f64,
    /// Seconds spent summing the report cells.
    pub report_seconds: f64,
    /// Seconds in all.
    pub total_seconds: f64,
}

impl fmt::Display for NationalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} clusters, {} schools ({} never booked, {} only in the first year), {} staff",
            self.clusters, self.schools, self.cold_schools, self.lapsed_schools, self.staff
        )?;
        writeln!(f, "{} courses, {} sessions", self.courses, self.sessions)?;
        writeln!(
            f,
            "{} bookings: {} confirmed, {} waitlisted, {} pending approval, {} cancelled ({} late), {} declined",
            self.bookings,
            self.confirmed,
            self.waitlisted,
            self.pending,
            self.cancelled,
            self.late_cancellations,
            self.declined
        )?;
        writeln!(
            f,
            "{} attendance records, {} evaluation invitations, {} responses, {} answers",
            self.attendance, self.invitations, self.responses, self.answers
        )?;
        write!(
            f,
            "seeded in {:.1} s (rows {:.1} s, indexes {:.1} s, statistics {:.1} s, report cells {:.1} s)",
            self.total_seconds,
            self.load_seconds,
            self.index_seconds,
            self.analyze_seconds,
            self.report_seconds
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Ids: derived from a kind tag and a row number, so the data is the same on every run. They
// have the shape of a UUID (version nibble 4), and cannot equal the service's own UUIDv7 ids.

const T_CLUSTER: u8 = 0x01;
const T_SCHOOL: u8 = 0x02;
const T_PERSON: u8 = 0x03;
const T_PROVIDER: u8 = 0x04;
const T_COURSE: u8 = 0x05;
const T_SESSION: u8 = 0x06;
const T_BOOKING: u8 = 0x07;
const T_INVITATION: u8 = 0x08;
const T_RESPONSE: u8 = 0x09;
const T_FORM: u8 = 0x0a;
const T_QUESTION: u8 = 0x0b;

fn push_id(buf: &mut String, tag: u8, n: u64) {
    let _ = write!(buf, "{tag:02x}000000-0000-4000-8000-{n:012x}");
}

fn id(tag: u8, n: u64) -> String {
    let mut s = String::with_capacity(36);
    push_id(&mut s, tag, n);
    s
}

// ---------------------------------------------------------------------------------------------
// Fixed vocabulary

const TOWNS: &[&str] = &[
    "Barnsley",
    "Bradford",
    "Bolton",
    "Carlisle",
    "Chester",
    "Coventry",
    "Derby",
    "Doncaster",
    "Durham",
    "Exeter",
    "Gateshead",
    "Gloucester",
    "Grimsby",
    "Halifax",
    "Hull",
    "Ipswich",
    "Kendal",
    "Lancaster",
    "Leeds",
    "Leicester",
    "Lincoln",
    "Luton",
    "Norwich",
    "Nottingham",
    "Oldham",
    "Oxford",
    "Peterborough",
    "Plymouth",
    "Preston",
    "Reading",
    "Rochdale",
    "Rotherham",
    "Salford",
    "Sheffield",
    "Shrewsbury",
    "Slough",
    "Stockport",
    "Sunderland",
    "Swindon",
    "Taunton",
    "Telford",
    "Wakefield",
    "Walsall",
    "Warrington",
    "Wigan",
    "Wolverhampton",
    "Worcester",
    "York",
    "Truro",
    "Dover",
];
const AREAS: &[&str] = &["Central", "North", "South", "East", "West"];
const SCHOOL_WORDS: &[&str] = &[
    "Oakwood",
    "Riverside",
    "Hillside",
    "St Mary's",
    "St John's",
    "Holy Trinity",
    "Meadow",
    "Parkside",
    "Greenfield",
    "Westfield",
    "Ashgrove",
    "Beechwood",
    "Brookside",
    "Castle",
    "Elmwood",
    "Fairfield",
    "Highfield",
    "Kingsway",
    "Larchwood",
    "Millbrook",
    "Northgate",
    "Orchard",
    "Queensbury",
    "Redhill",
    "Southfield",
    "Thornhill",
    "Valley",
    "Willow",
];
const FIRST_NAMES: &[&str] = &[
    "Amelia", "Aisha", "Ben", "Chloe", "Daniel", "Ella", "Fatima", "George", "Hannah", "Imran",
    "Jack", "Jess", "Kiran", "Laura", "Liam", "Maya", "Mohammed", "Nadia", "Oliver", "Priya",
    "Rachel", "Sam", "Sophie", "Tom", "Zara", "Grace", "Harry", "Isla", "James", "Ruth",
];
const LAST_NAMES: &[&str] = &[
    "Ahmed", "Baker", "Begum", "Clarke", "Davies", "Evans", "Green", "Hall", "Hughes", "Iqbal",
    "Jones", "Khan", "Lewis", "Martin", "Nowak", "Patel", "Roberts", "Shaw", "Smith", "Taylor",
    "Turner", "Walker", "Ward", "Watson", "White", "Wilson", "Wood", "Wright", "Young", "Hussain",
];
const PROVIDER_NAMES: &[&str] = &[
    "National Teaching School Hub North",
    "National Teaching School Hub Midlands",
    "National Teaching School Hub South",
    "County Council School Improvement",
    "Metropolitan Borough Learning Services",
    "Maths Hub Network",
    "English Hub Network",
    "Behaviour Hub Network",
    "Early Years Stronger Practice Hub",
    "Regional SEND Partnership",
    "University School of Education",
    "Wellbeing in Schools Trust",
];
const VENUES: &[(&str, &str)] = &[
    ("Teaching School Hub", "Church Street"),
    ("Civic Centre", "Market Place"),
    ("Learning Centre", "Station Road"),
    ("Professional Development Centre", "High Street"),
    ("Community Hall", "Park Lane"),
];

/// A course subject: (title, priority keys, staff group keys, phases).
type Topic = (
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
    &'static [Phase],
);

const TOPICS: &[Topic] = &[
    (
        "Adaptive teaching for pupils with SEND",
        &["send"],
        &["teacher", "teaching_assistant"],
        &[],
    ),
    ("SENCO network", &["send"], &["senco"], &[]),
    (
        "Autism awareness",
        &["send"],
        &["teaching_assistant", "support_staff"],
        &[],
    ),
    (
        "Understanding EHCP annual reviews",
        &["send"],
        &["senco", "senior_leader"],
        &[],
    ),
    (
        "Designated safeguarding lead refresher",
        &["leadership", "wellbeing"],
        &["dsl"],
        &[],
    ),
    (
        "Early career teachers: behaviour that works",
        &["attendance_behaviour"],
        &["early_career_teacher"],
        &[],
    ),
    (
        "Phonics and early reading",
        &["reading", "early_years"],
        &["teacher", "teaching_assistant", "early_years_practitioner"],
        &[Phase::Nursery, Phase::Primary],
    ),
    (
        "Middle leaders programme",
        &["leadership", "curriculum"],
        &["middle_leader"],
        &[],
    ),
    (
        "Headteachers' briefing",
        &["leadership"],
        &["headteacher"],
        &[],
    ),
    (
        "Governor training: holding leaders to account",
        &["leadership"],
        &["governor"],
        &[],
    ),
    (
        "Curriculum sequencing in the foundation subjects",
        &["curriculum"],
        &["teacher", "middle_leader"],
        &[Phase::Primary],
    ),
    (
        "Secondary maths: teaching for mastery",
        &["curriculum"],
        &["teacher", "middle_leader"],
        &[Phase::Secondary, Phase::AllThrough],
    ),
    (
        "Assessment that helps learning",
        &["curriculum"],
        &["teacher"],
        &[],
    ),
    (
        "Attendance: working with families",
        &["attendance_behaviour"],
        &["senior_leader", "support_staff"],
        &[],
    ),
    (
        "Trauma-informed behaviour support",
        &["attendance_behaviour", "wellbeing"],
        &[],
        &[],
    ),
    (
        "Staff wellbeing: managing workload",
        &["wellbeing"],
        &[],
        &[],
    ),
    ("Mental health first aid", &["wellbeing"], &[], &[]),
    (
        "Supporting new arrivals with EAL",
        &["eal"],
        &["teacher", "teaching_assistant"],
        &[],
    ),
    (
        "Communication and language in the EYFS",
        &["early_years", "reading"],
        &["early_years_practitioner", "teaching_assistant"],
        &[Phase::Nursery, Phase::Primary],
    ),
    (
        "Disadvantaged pupils: closing the gap",
        &["disadvantage", "leadership"],
        &["senior_leader"],
        &[],
    ),
    (
        "Oracy across the curriculum",
        &["reading", "curriculum"],
        &["teacher"],
        &[],
    ),
    (
        "Coaching conversations for leaders",
        &["leadership", "wellbeing"],
        &["senior_leader", "middle_leader"],
        &[],
    ),
    (
        "Reducing suspensions: alternatives that work",
        &["attendance_behaviour"],
        &["senior_leader", "middle_leader"],
        &[Phase::Secondary, Phase::AlternativeProvision],
    ),
    (
        "Primary science: working scientifically",
        &["curriculum"],
        &["teacher"],
        &[Phase::Primary],
    ),
    (
        "De-escalation skills for support staff",
        &["attendance_behaviour"],
        &["teaching_assistant", "support_staff"],
        &[],
    ),
    (
        "Pupil premium: spending it well",
        &["disadvantage"],
        &["headteacher", "senior_leader", "governor"],
        &[],
    ),
];

/// Staff groups by weight within a school (after its headteacher, SENCO and DSL).
const GROUP_WEIGHTS: &[(&str, u32)] = &[
    ("teacher", 38),
    ("teaching_assistant", 25),
    ("support_staff", 10),
    ("middle_leader", 7),
    ("senior_leader", 4),
    ("early_career_teacher", 5),
    ("early_years_practitioner", 4),
    ("governor", 4),
];

/// School phases by share in a thousand, with their relative staff sizes.
const PHASE_MIX: &[(Phase, u32, f64)] = &[
    (Phase::Primary, 720, 1.0),
    (Phase::Secondary, 140, 4.0),
    (Phase::Special, 40, 1.5),
    (Phase::AllThrough, 20, 4.5),
    (Phase::Nursery, 20, 0.6),
    (Phase::Middle, 10, 2.0),
    (Phase::Post16, 10, 2.0),
    (Phase::AlternativeProvision, 30, 0.8),
    (Phase::Other, 10, 1.0),
];

const CANCEL_REASONS: &[&str] = &[
    "Cover could not be arranged.",
    "Illness.",
    "A clash with a school event.",
    "Booked the wrong date.",
];
const DECLINE_REASON: &str = "We have already sent colleagues on this course this year.";
const COURSE_CANCEL_REASON: &str =
    "The trainer is unavailable; the course will run again next term.";
const LEARNED: &[&str] = &[
    "Practical strategies I can use straight away.",
    "Time to talk with colleagues from other schools.",
    "A clearer idea of what good looks like.",
];
const CHANGED: &[&str] = &[
    "We changed how we start lessons.",
    "Pupils are more confident to talk about their learning.",
    "Our team now plans this together.",
];

// ---------------------------------------------------------------------------------------------
// The plan: schools, staff and courses, in memory (the big rows are generated while loading).

#[derive(Clone, Copy, PartialEq, Eq)]
enum SchoolClass {
    Active,
    /// Booked only in the first academic year.
    Lapsed,
    /// Never books.
    Cold,
}

struct School {
    cluster: u32,
    phase: usize,
    class: SchoolClass,
    /// How keen its staff are: 1 to 3 (a person appears this many times in the draw).
    keen: u8,
}

struct Person {
    school: u32,
    group: u8,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    Published,
    Draft,
    Cancelled,
}

struct Course {
    topic: usize,
    format: crate::domain::course::Format,
    capacity: i32,
    price: i32,
    approval: bool,
    status: Status,
    cluster: Option<u32>,
    provider: u32,
    leads: Vec<u32>,
    groups: Vec<u8>,
    phases: Vec<usize>,
    priorities: Vec<u8>,
    sessions: Vec<(NaiveDateTime, NaiveDateTime)>,
    venue: usize,
    year: usize,
    created_at: NaiveDateTime,
    cancelled_at: Option<NaiveDateTime>,
    /// -1 (poor) to 1 (excellent): moves ratings and impact.
    quality: f64,
    /// How likely people are to not turn up, relative to the average.
    no_show: f64,
    /// Share of invitations answered.
    response: f64,
    demand: f64,
    bookings: usize,
}

impl Course {
    fn first(&self) -> NaiveDateTime {
        self.sessions[0].0
    }
    fn booking_opens(&self) -> NaiveDateTime {
        self.first() - Duration::days(70)
    }
    fn booking_closes(&self) -> NaiveDateTime {
        self.first() - Duration::days(3)
    }
    fn cancellation_deadline(&self) -> NaiveDateTime {
        self.first() - Duration::days(7)
    }
    /// The last moment a booking can be requested, as of `as_of`.
    fn requests_until(&self, as_of: NaiveDateTime) -> NaiveDateTime {
        let mut end = self.booking_closes().min(as_of);
        if let Some(c) = self.cancelled_at {
            end = end.min(c);
        }
        end
    }
}

/// Staff grouped by (staff group, phase, lapsed school) for drawing bookers; each person
/// appears as often as their school is keen.
struct Pools {
    buckets: Vec<Vec<u32>>,
    distinct: Vec<usize>,
    n_phases: usize,
}

impl Pools {
    fn index(&self, group: usize, phase: usize, lapsed: bool) -> usize {
        (group * self.n_phases + phase) * 2 + lapsed as usize
    }

    /// The buckets a course draws from, as (bucket, cumulative weight), and how many distinct
    /// people they hold.
    fn for_course(&self, c: &Course, n_groups: usize) -> (Vec<(usize, usize)>, usize) {
        let mut out = Vec::new();
        let mut total = 0;
        let mut distinct = 0;
        for g in 0..n_groups {
            if !c.groups.is_empty() && !c.groups.contains(&(g as u8)) {
                continue;
            }
            for p in 0..self.n_phases {
                if !c.phases.is_empty() && !c.phases.contains(&p) {
                    continue;
                }
                for lapsed in [false, true] {
                    if lapsed && c.year != 0 {
                        continue;
                    }
                    let b = self.index(g, p, lapsed);
                    if self.buckets[b].is_empty() {
                        continue;
                    }
                    total += self.buckets[b].len();
                    distinct += self.distinct[b];
                    out.push((b, total));
                }
            }
        }
        (out, distinct)
    }
}

/// What the generator needs from the database: reference data and evaluation forms.
struct Refs {
    groups: Vec<String>,
    group_keys: Vec<String>,
    priorities: Vec<String>,
    priority_keys: Vec<String>,
    post: Form,
    follow_up: Form,
}

#[derive(Clone)]
struct Form {
    id: String,
    questions: Vec<Question>,
}

#[derive(Clone)]
struct Question {
    id: String,
    kind: String,
    level: i32,
    metric: Option<String>,
    options: Vec<String>,
}

struct Plan {
    sizes: NationalSizes,
    as_of: NaiveDateTime,
    seed: u64,
    schools: Vec<School>,
    people: Vec<Person>,
    /// First person of each school (its headteacher, and its school lead).
    school_first: Vec<u32>,
    lead_people: Vec<u32>,
    courses: Vec<Course>,
    pools: Pools,
}

fn london(d: NaiveDate, hm: (u32, u32)) -> NaiveDateTime {
    let t = NaiveTime::from_hms_opt(hm.0, hm.1, 0).expect("a valid time");
    LONDON
        .from_local_datetime(&d.and_time(t))
        .earliest()
        .map(|t| t.naive_utc())
        .unwrap_or_else(|| d.and_time(t))
}

fn weighted<T: Copy>(rng: &mut StdRng, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut r = rng.gen_range(0..total.max(1));
    for (item, w) in items {
        if r < *w {
            return *item;
        }
        r -= w;
    }
    items[items.len() - 1].0
}

fn plan(opts: &NationalOptions, refs: &Refs) -> Plan {
    let sizes = NationalSizes::at_scale(opts.scale);
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let n_phases = Phase::ALL.len();
    let phase_idx = |p: Phase| Phase::ALL.iter().position(|x| *x == p).unwrap_or(0);
    let group_idx = |key: &str| refs.group_keys.iter().position(|k| k == key);

    // Schools: phases by the national mix, clusters of uneven size (every cluster gets one).
    let cluster_weights: Vec<(u32, u32)> = (0..sizes.clusters as u32)
        .map(|c| (c, rng.gen_range(50..150)))
        .collect();
    let mut schools: Vec<School> = (0..sizes.schools)
        .map(|i| {
            let phase = weighted(
                &mut rng,
                &PHASE_MIX
                    .iter()
                    .map(|(p, w, _)| (*p, *w))
                    .collect::<Vec<_>>(),
            );
            School {
                cluster: if i < sizes.clusters {
                    i as u32
                } else {
                    weighted(&mut rng, &cluster_weights)
                },
                phase: phase_idx(phase),
                class: SchoolClass::Active,
                keen: weighted(&mut rng, &[(1, 50), (2, 35), (3, 15)]),
            }
        })
        .collect();
    let mut order: Vec<usize> = (0..schools.len()).collect();
    for i in 0..order.len() {
        let j = rng.gen_range(i..order.len());
        order.swap(i, j);
    }
    let n_cold = ((schools.len() as f64 * 0.05).round() as usize).max(1);
    let n_lapsed = ((schools.len() as f64 * 0.03).round() as usize).max(1);
    for &s in &order[..n_cold] {
        schools[s].class = SchoolClass::Cold;
    }
    for &s in &order[n_cold..n_cold + n_lapsed] {
        schools[s].class = SchoolClass::Lapsed;
    }

    // Staff: shared out by the schools' sizes; each school has a headteacher, a SENCO and a
    // designated safeguarding lead, then the other groups by weight.
    let weights: Vec<f64> = schools
        .iter()
        .map(|s| {
            let base = PHASE_MIX
                .iter()
                .find(|(p, _, _)| phase_idx(*p) == s.phase)
                .map(|(_, _, w)| *w)
                .unwrap_or(1.0);
            base * rng.gen_range(0.6..1.4)
        })
        .collect();
    let total_w: f64 = weights.iter().sum();
    let mut per_school: Vec<usize> = weights
        .iter()
        .map(|w| ((w / total_w * sizes.staff as f64) as usize).max(3))
        .collect();
    let mut assigned: usize = per_school.iter().sum();
    let n_schools = per_school.len();
    let mut k = 0;
    while assigned < sizes.staff {
        per_school[k % n_schools] += 1;
        assigned += 1;
        k += 1;
    }
    while assigned > sizes.staff {
        let i = k % n_schools;
        if per_school[i] > 3 {
            per_school[i] -= 1;
            assigned -= 1;
        }
        k += 1;
    }
    let early_years_ok = [Phase::Nursery, Phase::Primary, Phase::AllThrough].map(phase_idx);
    let fixed: Vec<Option<usize>> = ["headteacher", "senco", "dsl"]
        .iter()
        .map(|k| group_idx(k))
        .collect();
    let weights_for = |eyfs: bool| -> Vec<(u8, u32)> {
        GROUP_WEIGHTS
            .iter()
            .filter_map(|(k, w)| {
                let g = group_idx(k)?;
                if *k == "early_years_practitioner" && !eyfs {
                    return None;
                }
                Some((g as u8, *w))
            })
            .collect()
    };
    let (w_eyfs, w_other) = (weights_for(true), weights_for(false));
    let mut people = Vec::with_capacity(sizes.staff);
    let mut school_first = Vec::with_capacity(schools.len());
    for (s, school) in schools.iter().enumerate() {
        school_first.push(people.len() as u32);
        let w = if early_years_ok.contains(&school.phase) {
            &w_eyfs
        } else {
            &w_other
        };
        for k in 0..per_school[s] {
            let group = match fixed.get(k) {
                Some(Some(g)) => *g as u8,
                _ => weighted(&mut rng, w),
            };
            people.push(Person {
                school: s as u32,
                group,
            });
        }
    }

    // Drawing pools.
    let n_groups = refs.groups.len();
    let mut pools = Pools {
        buckets: vec![Vec::new(); n_groups * n_phases * 2],
        distinct: vec![0; n_groups * n_phases * 2],
        n_phases,
    };
    for (i, p) in people.iter().enumerate() {
        let school = &schools[p.school as usize];
        if school.class == SchoolClass::Cold {
            continue;
        }
        let b = pools.index(
            p.group as usize,
            school.phase,
            school.class == SchoolClass::Lapsed,
        );
        for _ in 0..school.keen {
            pools.buckets[b].push(i as u32);
        }
        pools.distinct[b] += 1;
    }

    // Course leads: staff of schools that take part.
    let mut lead_people = Vec::with_capacity(sizes.course_leads);
    let mut guard = 0;
    while lead_people.len() < sizes.course_leads && guard < sizes.course_leads * 100 {
        guard += 1;
        let p = rng.gen_range(0..people.len()) as u32;
        if schools[people[p as usize].school as usize].class == SchoolClass::Active
            && !lead_people.contains(&p)
        {
            lead_people.push(p);
        }
    }

    // Courses over three academic years ending with the one `as_of` falls in.
    let last_year = crate::domain::term::academic_year_of(opts.as_of.date());
    let years = [last_year - 2, last_year - 1, last_year];
    let priority_idx = |key: &str| refs.priority_keys.iter().position(|k| k == key);
    let mut courses: Vec<Course> = (0..sizes.courses)
        .map(|_| {
            make_course(
                &mut rng,
                &years,
                opts.as_of,
                sizes.clusters,
                &lead_people,
                &group_idx,
                &priority_idx,
                &phase_idx,
            )
        })
        .collect();
    courses.sort_by_key(|c| c.first());

    // Bookings shared out by capacity and demand, over the part of each booking window that
    // has passed; no course takes more than half of the distinct people who may book it.
    let mut caps = Vec::with_capacity(courses.len());
    let mut weights = Vec::with_capacity(courses.len());
    for c in &courses {
        let (_, distinct) = pools.for_course(c, n_groups);
        caps.push(distinct / 2);
        let open = c.booking_opens();
        let until = c.requests_until(opts.as_of);
        let w = if c.status == Status::Draft || until <= open {
            0.0
        } else {
            let window = (c.booking_closes() - open).num_seconds().max(1) as f64;
            let passed = (until - open).num_seconds() as f64 / window;
            c.capacity as f64 * c.demand * passed.clamp(0.0, 1.0)
        };
        weights.push(w);
    }
    let total: f64 = weights.iter().sum();
    let mut given = 0usize;
    let mut fractions = Vec::with_capacity(courses.len());
    for (i, c) in courses.iter_mut().enumerate() {
        let exact = if total > 0.0 {
            weights[i] / total * sizes.bookings as f64
        } else {
            0.0
        };
        c.bookings = (exact.floor() as usize).min(caps[i]);
        given += c.bookings;
        fractions.push((exact - exact.floor(), i));
    }
    fractions.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut round = 0;
    while given < sizes.bookings && round < 4 {
        let before = given;
        for &(_, i) in &fractions {
            if given >= sizes.bookings {
                break;
            }
            if weights[i] > 0.0 && courses[i].bookings < caps[i] {
                courses[i].bookings += 1;
                given += 1;
            }
        }
        if given == before {
            break;
        }
        round += 1;
    }

    Plan {
        sizes,
        as_of: opts.as_of,
        seed: opts.seed,
        schools,
        people,
        school_first,
        lead_people,
        courses,
        pools,
    }
}

#[allow(clippy::too_many_arguments)]
fn make_course(
    rng: &mut StdRng,
    years: &[i32; 3],
    as_of: NaiveDateTime,
    n_clusters: usize,
    leads: &[u32],
    group_idx: &dyn Fn(&str) -> Option<usize>,
    priority_idx: &dyn Fn(&str) -> Option<usize>,
    phase_idx: &dyn Fn(Phase) -> usize,
) -> Course {
    use crate::domain::course::Format;
    let topic = rng.gen_range(0..TOPICS.len());
    let (_, prios, groups, phases) = TOPICS[topic];
    let year = rng.gen_range(0..3usize);
    let y = years[year];
    // Autumn 38%, spring 34%, summer 28%, on school days.
    let (from, to) = match weighted(rng, &[(0u8, 38), (1, 34), (2, 28)]) {
        0 => ((y, 9, 8), (y, 12, 16)),
        1 => ((y + 1, 1, 6), (y + 1, 3, 27)),
        _ => ((y + 1, 4, 20), (y + 1, 7, 17)),
    };
    let from = NaiveDate::from_ymd_opt(from.0, from.1, from.2).expect("a valid date");
    let to = NaiveDate::from_ymd_opt(to.0, to.1, to.2).expect("a valid date");
    let mut day = from + Duration::days(rng.gen_range(0..(to - from).num_days().max(1)));
    match day.weekday() {
        Weekday::Sat => day += Duration::days(2),
        Weekday::Sun => day += Duration::days(1),
        _ => {}
    }
    // Format and size: small workshops, larger in-person days, webinars, hybrid, conferences.
    let (format, capacity, slot) =
        match weighted(rng, &[(0u8, 33), (1, 22), (2, 30), (3, 8), (4, 7)]) {
            0 => (
                Format::InPerson,
                rng.gen_range(12..=40),
                weighted(rng, &[(0u8, 40), (1, 35), (2, 25)]),
            ),
            1 => (
                Format::InPerson,
                rng.gen_range(40..=150),
                weighted(rng, &[(0u8, 60), (1, 40)]),
            ),
            2 => (
                Format::Online,
                rng.gen_range(100..=800),
                weighted(rng, &[(3u8, 80), (1, 20)]),
            ),
            3 => (
                Format::Hybrid,
                rng.gen_range(50..=300),
                weighted(rng, &[(0u8, 30), (3, 70)]),
            ),
            _ => (Format::InPerson, rng.gen_range(200..=800), 0),
        };
    let (start, end) = match slot {
        0 => ((9, 0), (15, 30)),
        1 => ((9, 0), (12, 0)),
        2 => ((13, 0), (16, 0)),
        _ => ((16, 0), (17, 30)),
    };
    let n_sessions = if capacity > 400 {
        1
    } else {
        weighted(rng, &[(1usize, 60), (2, 25), (3, 15)])
    };
    let mut sessions = Vec::with_capacity(n_sessions);
    let mut d = day;
    for _ in 0..n_sessions {
        sessions.push((london(d, start), london(d, end)));
        d += Duration::days(7 * rng.gen_range(1..=4));
    }
    let first = sessions[0].0;
    let price = if format == Format::Online {
        weighted(rng, &[(0, 75), (2_500, 15), (4_500, 10)])
    } else {
        weighted(
            rng,
            &[
                (0, 50),
                (4_500, 12),
                (7_500, 10),
                (9_500, 8),
                (12_000, 8),
                (15_000, 6),
                (25_000, 4),
                (35_000, 2),
            ],
        )
    };
    let approval = rng.gen_bool(if price > 0 { 0.6 } else { 0.15 });
    let status = if first > as_of + Duration::days(60) && rng.gen_bool(0.10) {
        Status::Draft
    } else if rng.gen_bool(0.015) {
        Status::Cancelled
    } else {
        Status::Published
    };
    let created_at = first - Duration::days(120);
    let cancelled_at = (status == Status::Cancelled)
        .then(|| first - Duration::days(rng.gen_range(5..30)))
        .filter(|c| *c > created_at);
    let status = if status == Status::Cancelled && cancelled_at.is_none() {
        Status::Published
    } else {
        status
    };
    let mut course_leads = Vec::new();
    if !leads.is_empty() {
        course_leads.push(leads[rng.gen_range(0..leads.len())]);
        if rng.gen_bool(0.2) {
            let l = leads[rng.gen_range(0..leads.len())];
            if !course_leads.contains(&l) {
                course_leads.push(l);
            }
        }
    }
    Course {
        topic,
        format,
        capacity,
        price,
        approval,
        status,
        cluster: (rng.gen_bool(0.2)).then(|| rng.gen_range(0..n_clusters as u32)),
        provider: rng.gen_range(0..PROVIDER_NAMES.len() as u32),
        leads: course_leads,
        groups: groups
            .iter()
            .filter_map(|k| group_idx(k))
            .map(|g| g as u8)
            .collect(),
        phases: phases.iter().map(|p| phase_idx(*p)).collect(),
        priorities: prios
            .iter()
            .filter_map(|k| priority_idx(k))
            .map(|p| p as u8)
            .collect(),
        sessions,
        venue: rng.gen_range(0..VENUES.len()),
        year,
        created_at,
        cancelled_at,
        quality: rng.gen_range(-1.0..1.0),
        no_show: rng.gen_range(0.3..2.0),
        response: rng.gen_range(0.35..0.75),
        demand: rng.gen_range(0.5..1.7),
        bookings: 0,
    }
}

// ---------------------------------------------------------------------------------------------
// Writing rows: text buffers per table, flushed as a multi-row INSERT or a COPY.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tbl {
    Clusters,
    Schools,
    Providers,
    People,
    PersonRoles,
    Courses,
    Sessions,
    CoursePriorities,
    CourseStaffGroups,
    CoursePhases,
    CourseLeads,
    Bookings,
    Attendance,
    Invitations,
    Responses,
    Answers,
}

const ALL_TBL: [Tbl; 16] = [
    Tbl::Clusters,
    Tbl::Schools,
    Tbl::Providers,
    Tbl::People,
    Tbl::PersonRoles,
    Tbl::Courses,
    Tbl::Sessions,
    Tbl::CoursePriorities,
    Tbl::CourseStaffGroups,
    Tbl::CoursePhases,
    Tbl::CourseLeads,
    Tbl::Bookings,
    Tbl::Attendance,
    Tbl::Invitations,
    Tbl::Responses,
    Tbl::Answers,
];

/// The big tables: loaded with COPY on PostgreSQL, their secondary indexes dropped for the load.
const BIG_TABLES: &[&str] = &[
    "people",
    "person_roles",
    "bookings",
    "attendance",
    "evaluation_invitations",
    "evaluation_responses",
    "evaluation_answers",
];

impl Tbl {
    fn name(self) -> &'static str {
        match self {
            Tbl::Clusters => "clusters",
            Tbl::Schools => "schools",
            Tbl::Providers => "providers",
            Tbl::People => "people",
            Tbl::PersonRoles => "person_roles",
            Tbl::Courses => "courses",
            Tbl::Sessions => "course_sessions",
            Tbl::CoursePriorities => "course_priorities",
            Tbl::CourseStaffGroups => "course_staff_groups",
            Tbl::CoursePhases => "course_phases",
            Tbl::CourseLeads => "course_leads",
            Tbl::Bookings => "bookings",
            Tbl::Attendance => "attendance",
            Tbl::Invitations => "evaluation_invitations",
            Tbl::Responses => "evaluation_responses",
            Tbl::Answers => "evaluation_answers",
        }
    }

    /// The columns written, in order. For the COPY tables this order must match
    /// [`copy_chunk`]'s column lists.
    fn columns(self) -> &'static str {
        match self {
            Tbl::Clusters => "id, name, description, created_at, updated_at",
            Tbl::Schools => "id, urn, name, phase, school_type, cluster_id, local_authority, postcode, is_open, created_at, updated_at",
            Tbl::Providers => "id, name, kind, email, website, created_at, updated_at",
            Tbl::People => "id, name, email, school_id, staff_group_id, erased_at, created_at, updated_at",
            Tbl::PersonRoles => "person_id, role",
            Tbl::Courses => "id, title, summary, summary_html, search_text, provider_id, cluster_id, format, capacity, per_school_cap, per_school_cap_until, price_pence, booking_opens, booking_closes, cancellation_deadline, requires_approval, completion_min_sessions, status, cancel_reason, revision, version, confirmed_count, waitlist_count, sessions_count, first_session_start, last_session_end, created_at, updated_at, published_at, cancelled_at, last_register_recorded_at",
            Tbl::Sessions => "id, course_id, start_at, end_at, venue_name, venue_address, venue_postcode, online_url, note, position, created_at, updated_at, check_in_code, register_recorded_at",
            Tbl::CoursePriorities => "course_id, priority_id",
            Tbl::CourseStaffGroups => "course_id, staff_group_id",
            Tbl::CoursePhases => "course_id, phase",
            Tbl::CourseLeads => "course_id, person_id",
            Tbl::Bookings => "id, course_id, person_id, school_id, staff_group_id, status, requested_at, confirmed_at, cancelled_at, late_cancellation, cancel_reason, decline_reason, admin_override, walk_in, price_pence, created_by, created_at, updated_at",
            Tbl::Attendance => "booking_id, session_id, course_id, status, note, source, recorded_by, recorded_at",
            Tbl::Invitations => "id, course_id, booking_id, form_id, kind, created_at, send_at, sent_at, reminders_sent, last_reminded_at, answered_at",
            Tbl::Responses => "id, invitation_id, course_id, booking_id, form_id, kind, school_id, cluster_id, staff_group_id, submitted_at, satisfaction, impact, confidence_before, confidence_after, consent_follow_up",
            Tbl::Answers => "response_id, question_id, guskey_level, rating, before_rating, after_rating, choices, text",
        }
    }

    /// Tables whose rows these rows refer to: flushed first, so foreign keys hold even when
    /// they are checked.
    fn parents(self) -> &'static [Tbl] {
        match self {
            Tbl::Schools => &[Tbl::Clusters],
            Tbl::People => &[Tbl::Schools],
            Tbl::PersonRoles => &[Tbl::People],
            Tbl::Courses => &[Tbl::Providers, Tbl::Clusters],
            Tbl::Sessions
            | Tbl::CoursePriorities
            | Tbl::CourseStaffGroups
            | Tbl::CoursePhases
            | Tbl::CourseLeads => &[Tbl::Courses],
            Tbl::Bookings => &[Tbl::Courses, Tbl::People],
            Tbl::Attendance => &[Tbl::Bookings, Tbl::Sessions],
            Tbl::Invitations => &[Tbl::Bookings],
            Tbl::Responses => &[Tbl::Invitations],
            Tbl::Answers => &[Tbl::Responses],
            Tbl::Clusters | Tbl::Providers => &[],
        }
    }

    fn copyable(self) -> bool {
        BIG_TABLES.contains(&self.name())
    }
}

/// A batch of rows for the writer.
enum Chunk {
    /// A multi-row INSERT statement.
    Sql { rows: usize, sql: String },
    /// Rows in COPY text format for one table.
    Copy { tbl: Tbl, rows: usize, data: String },
}

/// Rows per INSERT statement.
const INSERT_ROWS: usize = 1_000;
/// Bytes per COPY.
const COPY_BYTES: usize = 4 << 20;

struct Buf {
    copy: bool,
    text: String,
    rows: usize,
    first_value: bool,
}

/// The generator's side: per-table buffers, sent to the writer thread when full.
struct Sink {
    bufs: Vec<Buf>,
    tx: mpsc::SyncSender<Chunk>,
    counts: [u64; 16],
}

/// One row being written.
struct Row<'a> {
    b: &'a mut Buf,
}

impl Row<'_> {
    fn sep(&mut self) {
        if self.b.first_value {
            self.b.first_value = false;
        } else {
            self.b.text.push(if self.b.copy { '\t' } else { ',' });
        }
    }

    fn id(&mut self, tag: u8, n: u64) -> &mut Self {
        self.sep();
        if self.b.copy {
            push_id(&mut self.b.text, tag, n);
        } else {
            self.b.text.push('\'');
            push_id(&mut self.b.text, tag, n);
            self.b.text.push('\'');
        }
        self
    }

    fn opt_id(&mut self, v: Option<(u8, u64)>) -> &mut Self {
        match v {
            Some((tag, n)) => self.id(tag, n),
            None => self.null(),
        }
    }

    fn s(&mut self, v: &str) -> &mut Self {
        self.sep();
        let t = &mut self.b.text;
        if self.b.copy {
            for c in v.chars() {
                match c {
                    '\\' => t.push_str("\\\\"),
                    '\t' => t.push_str("\\t"),
                    '\n' => t.push_str("\\n"),
                    '\r' => t.push_str("\\r"),
                    c => t.push(c),
                }
            }
        } else {
            t.push('\'');
            for c in v.chars() {
                if c == '\'' {
                    t.push('\'');
                }
                t.push(c);
            }
            t.push('\'');
        }
        self
    }

    fn opt_s(&mut self, v: Option<&str>) -> &mut Self {
        match v {
            Some(v) => self.s(v),
            None => self.null(),
        }
    }

    fn i(&mut self, v: i64) -> &mut Self {
        self.sep();
        let _ = write!(self.b.text, "{v}");
        self
    }

    fn opt_i(&mut self, v: Option<i64>) -> &mut Self {
        match v {
            Some(v) => self.i(v),
            None => self.null(),
        }
    }

    fn f(&mut self, v: f64) -> &mut Self {
        self.sep();
        let _ = write!(self.b.text, "{v}");
        self
    }

    fn opt_f(&mut self, v: Option<f64>) -> &mut Self {
        match v {
            Some(v) => self.f(v),
            None => self.null(),
        }
    }

    fn b(&mut self, v: bool) -> &mut Self {
        self.sep();
        self.b.text.push_str(match (self.b.copy, v) {
            (true, true) => "t",
            (true, false) => "f",
            (false, true) => "TRUE",
            (false, false) => "FALSE",
        });
        self
    }

    fn opt_b(&mut self, v: Option<bool>) -> &mut Self {
        match v {
            Some(v) => self.b(v),
            None => self.null(),
        }
    }

    /// A UTC timestamp as diesel stores it on SQLite (and PostgreSQL reads it).
    fn ts(&mut self, v: NaiveDateTime) -> &mut Self {
        self.sep();
        let q = if self.b.copy { "" } else { "'" };
        let _ = write!(
            self.b.text,
            "{q}{:04}-{:02}-{:02} {:02}:{:02}:{:02}{q}",
            v.year(),
            v.month(),
            v.day(),
            chrono::Timelike::hour(&v),
            chrono::Timelike::minute(&v),
            chrono::Timelike::second(&v)
        );
        self
    }

    fn opt_ts(&mut self, v: Option<NaiveDateTime>) -> &mut Self {
        match v {
            Some(v) => self.ts(v),
            None => self.null(),
        }
    }

    fn null(&mut self) -> &mut Self {
        self.sep();
        self.b
            .text
            .push_str(if self.b.copy { "\\N" } else { "NULL" });
        self
    }
}

/// The writer thread has stopped (its error is reported by the writer itself).
#[derive(Debug)]
struct WriterGone;

impl Sink {
    fn new(tx: mpsc::SyncSender<Chunk>, copy: bool) -> Sink {
        Sink {
            bufs: ALL_TBL
                .iter()
                .map(|&tbl| Buf {
                    copy: copy && tbl.copyable(),
                    text: String::new(),
                    rows: 0,
                    first_value: true,
                })
                .collect(),
            tx,
            counts: [0; 16],
        }
    }

    /// Starts a row of `tbl`; finish it with [`Sink::done`].
    fn row(&mut self, tbl: Tbl) -> Row<'_> {
        let b = &mut self.bufs[tbl as usize];
        if !b.copy {
            if b.rows == 0 {
                let _ = write!(
                    b.text,
                    "INSERT INTO {} ({}) VALUES (",
                    tbl.name(),
                    tbl.columns()
                );
            } else {
                b.text.push_str(",(");
            }
        }
        b.first_value = true;
        Row { b }
    }

    fn done(&mut self, tbl: Tbl) -> Result<(), WriterGone> {
        let b = &mut self.bufs[tbl as usize];
        b.text.push(if b.copy { '\n' } else { ')' });
        b.rows += 1;
        self.counts[tbl as usize] += 1;
        let full = if b.copy {
            b.text.len() >= COPY_BYTES
        } else {
            b.rows >= INSERT_ROWS
        };
        if full {
            self.flush(tbl)?;
        }
        Ok(())
    }

    fn flush(&mut self, tbl: Tbl) -> Result<(), WriterGone> {
        for &p in tbl.parents() {
            if self.bufs[p as usize].rows > 0 {
                self.flush(p)?;
            }
        }
        let b = &mut self.bufs[tbl as usize];
        if b.rows == 0 {
            return Ok(());
        }
        let rows = std::mem::take(&mut b.rows);
        let cap = b.text.capacity();
        let text = std::mem::replace(&mut b.text, String::with_capacity(cap));
        let chunk = if b.copy {
            Chunk::Copy {
                tbl,
                rows,
                data: text,
            }
        } else {
            Chunk::Sql { rows, sql: text }
        };
        self.tx.send(chunk).map_err(|_| WriterGone)
    }

    fn flush_all(&mut self) -> Result<(), WriterGone> {
        for tbl in ALL_TBL {
            self.flush(tbl)?;
        }
        Ok(())
    }

    fn count(&self, tbl: Tbl) -> u64 {
        self.counts[tbl as usize]
    }
}

/// Sends one COPY to PostgreSQL. The column lists are those of [`Tbl::columns`].
fn copy_chunk(conn: &mut PgConnection, tbl: Tbl, data: &str) -> QueryResult<usize> {
    macro_rules! copy {
        ($table:ident, ($($col:ident),+ $(,)?)) => {
            diesel::copy_from($table::table)
                .from_raw_data(($($table::$col,)+), |w| {
                    w.write_all(data.as_bytes()).map_err(|e| {
                        diesel::result::Error::SerializationError(Box::new(e))
                    })
                })
                .execute(conn)
        };
    }
    match tbl {
        Tbl::People => copy!(
            people,
            (
                id,
                name,
                email,
                school_id,
                staff_group_id,
                erased_at,
                created_at,
                updated_at
            )
        ),
        Tbl::PersonRoles => copy!(person_roles, (person_id, role)),
        Tbl::Bookings => copy!(
            bookings,
            (
                id,
                course_id,
                person_id,
                school_id,
                staff_group_id,
                status,
                requested_at,
                confirmed_at,
                cancelled_at,
                late_cancellation,
                cancel_reason,
                decline_reason,
                admin_override,
                walk_in,
                price_pence,
                created_by,
                created_at,
                updated_at
            )
        ),
        Tbl::Attendance => copy!(
            attendance,
            (
                booking_id,
                session_id,
                course_id,
                status,
                note,
                source,
                recorded_by,
                recorded_at
            )
        ),
        Tbl::Invitations => copy!(
            evaluation_invitations,
            (
                id,
                course_id,
                booking_id,
                form_id,
                kind,
                created_at,
                send_at,
                sent_at,
                reminders_sent,
                last_reminded_at,
                answered_at
            )
        ),
        Tbl::Responses => copy!(
            evaluation_responses,
            (
                id,
                invitation_id,
                course_id,
                booking_id,
                form_id,
                kind,
                school_id,
                cluster_id,
                staff_group_id,
                submitted_at,
                satisfaction,
                impact,
                confidence_before,
                confidence_after,
                consent_follow_up
            )
        ),
        Tbl::Answers => copy!(
            evaluation_answers,
            (
                response_id,
                question_id,
                guskey_level,
                rating,
                before_rating,
                after_rating,
                choices,
                text
            )
        ),
        other => Err(diesel::result::Error::QueryBuilderError(
            format!("{} is not loaded with COPY", other.name()).into(),
        )),
    }
}

/// Rows between commits, so a failure loses little and SQLite's journal stays small.
const COMMIT_ROWS: usize = 500_000;

/// Runs every chunk the generator sends, in order, committing now and then.
fn write_chunks(conn: &mut DbConn, rx: mpsc::Receiver<Chunk>) -> anyhow::Result<()> {
    conn.batch_execute("BEGIN")?;
    let mut since_commit = 0;
    for chunk in rx {
        let rows = match chunk {
            Chunk::Sql { rows, sql } => {
                conn.batch_execute(&sql)?;
                rows
            }
            Chunk::Copy { tbl, rows, data } => {
                let DbConn::Pg(pg) = conn else {
                    anyhow::bail!("COPY is for PostgreSQL only");
                };
                copy_chunk(pg, tbl, &data)
                    .map_err(|e| anyhow::anyhow!("loading {}: {e}", tbl.name()))?;
                rows
            }
        };
        since_commit += rows;
        if since_commit >= COMMIT_ROWS {
            conn.batch_execute("COMMIT; BEGIN")?;
            since_commit = 0;
        }
    }
    conn.batch_execute("COMMIT")?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Generating rows

/// Booking states in the replay.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum St {
    Pending,
    Confirmed,
    Waitlisted,
    Cancelled,
    Declined,
}

impl St {
    fn as_str(self) -> &'static str {
        match self {
            St::Pending => "pending_approval",
            St::Confirmed => "confirmed",
            St::Waitlisted => "waitlisted",
            St::Cancelled => "cancelled",
            St::Declined => "declined",
        }
    }
    fn active(self) -> bool {
        matches!(self, St::Pending | St::Confirmed | St::Waitlisted)
    }
}

struct Bk {
    person: u32,
    requested_at: NaiveDateTime,
    status: St,
    confirmed_at: Option<NaiveDateTime>,
    cancelled_at: Option<NaiveDateTime>,
    late: bool,
    cancel_reason: Option<&'static str>,
    declined: bool,
    updated_at: NaiveDateTime,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Request,
    Decide,
    Cancel,
}

/// Draws a course's bookers and replays their requests, decisions and cancellations in time
/// order: places go first come, first served, a freed place goes to the earliest on the
/// waiting list, and nothing happens after the course starts (or after `as_of`).
fn replay(c: &Course, plan: &Plan, n_groups: usize, rng: &mut StdRng) -> Vec<Bk> {
    let n = c.bookings;
    if n == 0 {
        return Vec::new();
    }
    let (buckets, _) = plan.pools.for_course(c, n_groups);
    let Some(&(_, total)) = buckets.last() else {
        return Vec::new();
    };
    let mut chosen = std::collections::HashSet::with_capacity(n * 2);
    let mut people = Vec::with_capacity(n);
    let mut tries = 0;
    while people.len() < n && tries < n * 30 {
        tries += 1;
        let r = rng.gen_range(0..total);
        let k = buckets.partition_point(|&(_, cum)| cum <= r);
        let (b, cum) = buckets[k];
        let bucket = &plan.pools.buckets[b];
        let p = bucket[r - (cum - bucket.len())];
        if chosen.insert(p) {
            people.push(p);
        }
    }

    let open = c.booking_opens();
    let until = c.requests_until(plan.as_of);
    let span = (until - open).num_seconds().max(1);
    let deadline = c.cancellation_deadline();
    let first = c.first();
    let horizon = first.min(plan.as_of);
    let mut bks: Vec<Bk> = people
        .into_iter()
        .map(|person| {
            let requested_at = open + Duration::seconds(rng.gen_range(0..span));
            Bk {
                person,
                requested_at,
                status: St::Pending,
                confirmed_at: None,
                cancelled_at: None,
                late: false,
                cancel_reason: None,
                declined: false,
                updated_at: requested_at,
            }
        })
        .collect();
    bks.sort_by_key(|b| b.requested_at);

    let mut events: Vec<(NaiveDateTime, Ev, u32)> = Vec::with_capacity(n * 2);
    for (i, b) in bks.iter_mut().enumerate() {
        events.push((b.requested_at, Ev::Request, i as u32));
        if c.approval {
            let at = b.requested_at + Duration::minutes(rng.gen_range(360..5_760));
            b.declined = rng.gen_bool(0.10);
            events.push((at, Ev::Decide, i as u32));
        }
        if rng.gen_bool(0.11) {
            // A third of cancellations come in the last week, after the deadline.
            let from = b.requested_at + Duration::hours(1);
            let (lo, hi) = if rng.gen_bool(0.35) {
                (deadline.max(from), first - Duration::hours(1))
            } else {
                (from, deadline)
            };
            if hi > lo {
                let at = lo + Duration::seconds(rng.gen_range(0..(hi - lo).num_seconds()));
                events.push((at, Ev::Cancel, i as u32));
            }
        }
    }
    events.sort_unstable();

    let cap = c.capacity as usize;
    let mut confirmed = 0usize;
    let mut waiting: BTreeSet<(NaiveDateTime, u32)> = BTreeSet::new();
    let place = |b: &mut Bk, i: u32, at, confirmed: &mut usize, waiting: &mut BTreeSet<_>| {
        if *confirmed < cap {
            b.status = St::Confirmed;
            b.confirmed_at = Some(at);
            *confirmed += 1;
        } else {
            b.status = St::Waitlisted;
            waiting.insert((b.requested_at, i));
        }
        b.updated_at = at;
    };
    for (at, ev, i) in events {
        if at >= horizon || c.cancelled_at.is_some_and(|x| at >= x) {
            break;
        }
        let b = &mut bks[i as usize];
        match ev {
            Ev::Request if !c.approval => {
                place(b, i, at, &mut confirmed, &mut waiting);
            }
            Ev::Request => {}
            Ev::Decide if b.status == St::Pending => {
                if b.declined {
                    b.status = St::Declined;
                    b.updated_at = at;
                } else {
                    place(b, i, at, &mut confirmed, &mut waiting);
                }
            }
            Ev::Cancel if b.status.active() => {
                let was = b.status;
                b.status = St::Cancelled;
                b.cancelled_at = Some(at);
                b.late = was == St::Confirmed && at > deadline;
                b.cancel_reason = Some(CANCEL_REASONS[i as usize % CANCEL_REASONS.len()]);
                b.updated_at = at;
                if was == St::Waitlisted {
                    waiting.remove(&(b.requested_at, i));
                }
                if was == St::Confirmed {
                    confirmed -= 1;
                    while confirmed < cap {
                        let Some((_, j)) = waiting.pop_first() else {
                            break;
                        };
                        let w = &mut bks[j as usize];
                        w.status = St::Confirmed;
                        w.confirmed_at = Some(at);
                        w.updated_at = at;
                        confirmed += 1;
                    }
                }
            }
            _ => {}
        }
    }
    // A cancelled course cancels every booking still active.
    if let Some(at) = c.cancelled_at.filter(|at| *at <= plan.as_of) {
        for b in bks.iter_mut().filter(|b| b.status.active()) {
            b.status = St::Cancelled;
            b.cancelled_at = Some(at);
            b.late = false;
            b.cancel_reason = Some(COURSE_CANCEL_REASON);
            b.updated_at = at;
        }
    }
    bks
}

/// A rating from 1 to 5 around `mean`.
fn rating(rng: &mut StdRng, mean: f64) -> i64 {
    let noise: f64 = (0..3).map(|_| rng.gen_range(-0.5..0.5)).sum::<f64>() * 1.2;
    (mean + noise).round().clamp(1.0, 5.0) as i64
}

struct Ids {
    booking: u64,
    session: u64,
    invitation: u64,
    response: u64,
}

/// What a response's answers add up to, for its denormalised columns.
#[derive(Default)]
struct Headline {
    satisfaction: Option<i64>,
    impact: Option<i64>,
    before: Vec<i64>,
    after: Vec<i64>,
    consent: Option<bool>,
}

/// Generates every row and sends it to the writer.
fn generate(plan: &Plan, refs: &Refs, sink: &mut Sink, pb: &ProgressBar) -> Result<(), WriterGone> {
    let as_of = plan.as_of;
    let created = as_of - Duration::days(3 * 365);
    let n_groups = refs.groups.len();

    pb.set_message("schools and staff");
    for c in 0..plan.sizes.clusters {
        let name = if c < TOWNS.len() * AREAS.len() {
            format!("{} {}", TOWNS[c % TOWNS.len()], AREAS[c / TOWNS.len()])
        } else {
            format!("Cluster {}", c + 1)
        };
        sink.row(Tbl::Clusters)
            .id(T_CLUSTER, c as u64)
            .s(&name)
            .s("")
            .ts(created)
            .ts(created);
        sink.done(Tbl::Clusters)?;
    }
    for (i, name) in PROVIDER_NAMES.iter().enumerate() {
        let kind = match i {
            3 | 4 => "local_authority",
            0..=2 => "teaching_alliance",
            _ => "other",
        };
        sink.row(Tbl::Providers)
            .id(T_PROVIDER, i as u64)
            .s(name)
            .s(kind)
            .null()
            .null()
            .ts(created)
            .ts(created);
        sink.done(Tbl::Providers)?;
    }
    let mut rng = StdRng::seed_from_u64(plan.seed ^ 0x5c40_0150);
    for (i, s) in plan.schools.iter().enumerate() {
        let phase = Phase::ALL[s.phase];
        let town = TOWNS[s.cluster as usize % TOWNS.len()];
        let word = SCHOOL_WORDS[rng.gen_range(0..SCHOOL_WORDS.len())];
        let kind = match phase {
            Phase::Nursery => "Nursery School",
            Phase::Primary => "Primary School",
            Phase::Middle => "Middle School",
            Phase::Secondary => "Academy",
            Phase::AllThrough => "All-through School",
            Phase::Post16 => "Sixth Form College",
            Phase::Special => "Special School",
            Phase::AlternativeProvision => "Pupil Referral Unit",
            Phase::Other => "Learning Centre",
        };
        let postcode = format!(
            "{}{} {}{}{}",
            (b'A' + (s.cluster % 26) as u8) as char,
            1 + s.cluster % 98,
            rng.gen_range(1..10),
            (b'A' + rng.gen_range(0..26u8)) as char,
            (b'A' + rng.gen_range(0..26u8)) as char
        );
        sink.row(Tbl::Schools)
            .id(T_SCHOOL, i as u64)
            .i(400_000 + i as i64)
            .s(&format!("{town} {word} {kind}"))
            .s(phase.as_str())
            .s(if phase == Phase::Secondary {
                "Academy converter"
            } else {
                "Community school"
            })
            .id(T_CLUSTER, s.cluster as u64)
            .s(town)
            .s(&postcode)
            .b(true)
            .ts(created)
            .ts(created);
        sink.done(Tbl::Schools)?;
    }
    let mut email = String::with_capacity(64);
    let mut name = String::with_capacity(32);
    for (i, p) in plan.people.iter().enumerate() {
        let first = FIRST_NAMES[i % FIRST_NAMES.len()];
        let last = LAST_NAMES[(i / FIRST_NAMES.len() + i * 7) % LAST_NAMES.len()];
        name.clear();
        let _ = write!(name, "{first} {last}");
        email.clear();
        let _ = write!(
            email,
            "{}.{}.{i}@school{}.example",
            first.to_lowercase(),
            last.to_lowercase(),
            400_000 + p.school
        );
        sink.row(Tbl::People)
            .id(T_PERSON, i as u64)
            .s(&name)
            .s(&email)
            .id(T_SCHOOL, p.school as u64)
            .s(&refs.groups[p.group as usize])
            .null()
            .ts(created)
            .ts(created);
        sink.done(Tbl::People)?;
        sink.row(Tbl::PersonRoles).id(T_PERSON, i as u64).s("staff");
        sink.done(Tbl::PersonRoles)?;
    }
    for &p in &plan.school_first {
        sink.row(Tbl::PersonRoles)
            .id(T_PERSON, p as u64)
            .s("school_lead");
        sink.done(Tbl::PersonRoles)?;
    }
    for &p in &plan.lead_people {
        sink.row(Tbl::PersonRoles)
            .id(T_PERSON, p as u64)
            .s("course_lead");
        sink.done(Tbl::PersonRoles)?;
    }

    pb.set_message("courses, bookings, registers, evaluations");
    let mut ids = Ids {
        booking: 0,
        session: 0,
        invitation: 0,
        response: 0,
    };
    for (ci, c) in plan.courses.iter().enumerate() {
        let mut rng =
            StdRng::seed_from_u64(plan.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ ci as u64);
        let bks = replay(c, plan, n_groups, &mut rng);
        course_rows(plan, refs, sink, ci, c, &bks, &mut ids, &mut rng)?;
        pb.inc(bks.len() as u64);
    }
    sink.flush_all()
}

/// One course with its sessions, links, bookings, attendance and evaluations.
#[allow(clippy::too_many_arguments)]
fn course_rows(
    plan: &Plan,
    refs: &Refs,
    sink: &mut Sink,
    ci: usize,
    c: &Course,
    bks: &[Bk],
    ids: &mut Ids,
    rng: &mut StdRng,
) -> Result<(), WriterGone> {
    use crate::domain::course::Format;
    let as_of = plan.as_of;
    let course = ci as u64;
    let published = c.status != Status::Draft;
    let held_course = c.status == Status::Published;

    // Registers: taken within two hours of the end of most sessions held before `as_of`.
    let recorded: Vec<Option<NaiveDateTime>> = c
        .sessions
        .iter()
        .map(|&(_, end)| {
            let at = end + Duration::minutes(rng.gen_range(5..120));
            (held_course && at < as_of && rng.gen_bool(0.97)).then_some(at)
        })
        .collect();
    let last_recorded = *recorded.last().expect("every course has a session");

    let confirmed = bks.iter().filter(|b| b.status == St::Confirmed).count();
    let waitlisted = bks.iter().filter(|b| b.status == St::Waitlisted).count();
    let (title, _, _, _) = TOPICS[c.topic];
    let summary = format!(
        "{title}: a {} course for the alliance's schools, with time to plan how to use it back in school.",
        match c.format {
            Format::InPerson => "face-to-face",
            Format::Online => "live online",
            Format::Hybrid => "hybrid",
        }
    );
    let completion = (c.sessions.len() == 3).then_some(2);
    sink.row(Tbl::Courses)
        .id(T_COURSE, course)
        .s(title)
        .s(&summary)
        .s(&crate::domain::markdown::to_safe_html(&summary))
        .s(&format!("{title}\n{summary}").to_lowercase())
        .id(T_PROVIDER, c.provider as u64)
        .opt_id(c.cluster.map(|k| (T_CLUSTER, k as u64)))
        .s(c.format.as_str())
        .i(c.capacity as i64)
        .null()
        .null()
        .i(c.price as i64)
        .ts(c.booking_opens())
        .ts(c.booking_closes())
        .ts(c.cancellation_deadline())
        .b(c.approval)
        .opt_i(completion)
        .s(match c.status {
            Status::Published => "published",
            Status::Draft => "draft",
            Status::Cancelled => "cancelled",
        })
        .opt_s((c.status == Status::Cancelled).then_some(COURSE_CANCEL_REASON))
        .i(0)
        .i(0)
        .i(confirmed as i64)
        .i(waitlisted as i64)
        .i(c.sessions.len() as i64)
        .ts(c.first())
        .ts(c.sessions.last().expect("a session").1)
        .ts(c.created_at)
        .ts(c.cancelled_at.unwrap_or(c.created_at))
        .opt_ts(published.then(|| c.created_at + Duration::days(1)))
        .opt_ts(c.cancelled_at)
        .opt_ts(last_recorded);
    sink.done(Tbl::Courses)?;

    let first_session = ids.session;
    let (venue, street) = VENUES[c.venue];
    let town = TOWNS[(ci * 7) % TOWNS.len()];
    for (k, &(start, end)) in c.sessions.iter().enumerate() {
        let in_room = c.format.needs_venue();
        sink.row(Tbl::Sessions)
            .id(T_SESSION, ids.session)
            .id(T_COURSE, course)
            .ts(start)
            .ts(end)
            .opt_s(in_room.then(|| format!("{town} {venue}")).as_deref())
            .opt_s(in_room.then(|| format!("{street}, {town}")).as_deref())
            .opt_s(in_room.then_some("AB1 2CD"))
            .opt_s(
                c.format
                    .needs_online_url()
                    .then(|| format!("https://meet.example.org/cpd/national-{ci}"))
                    .as_deref(),
            )
            .null()
            .i(k as i64 + 1)
            .ts(c.created_at)
            .ts(recorded[k].unwrap_or(c.created_at))
            .null()
            .opt_ts(recorded[k]);
        sink.done(Tbl::Sessions)?;
        ids.session += 1;
    }
    for &p in &c.priorities {
        sink.row(Tbl::CoursePriorities)
            .id(T_COURSE, course)
            .s(&refs.priorities[p as usize]);
        sink.done(Tbl::CoursePriorities)?;
    }
    for &g in &c.groups {
        sink.row(Tbl::CourseStaffGroups)
            .id(T_COURSE, course)
            .s(&refs.groups[g as usize]);
        sink.done(Tbl::CourseStaffGroups)?;
    }
    for &p in &c.phases {
        sink.row(Tbl::CoursePhases)
            .id(T_COURSE, course)
            .s(Phase::ALL[p].as_str());
        sink.done(Tbl::CoursePhases)?;
    }
    for &l in &c.leads {
        sink.row(Tbl::CourseLeads)
            .id(T_COURSE, course)
            .id(T_PERSON, l as u64);
        sink.done(Tbl::CourseLeads)?;
    }
    let recorder = c.leads.first().map(|&l| (T_PERSON, l as u64));

    for b in bks {
        let booking = ids.booking;
        ids.booking += 1;
        let person = &plan.people[b.person as usize];
        sink.row(Tbl::Bookings)
            .id(T_BOOKING, booking)
            .id(T_COURSE, course)
            .id(T_PERSON, b.person as u64)
            .id(T_SCHOOL, person.school as u64)
            .s(&refs.groups[person.group as usize])
            .s(b.status.as_str())
            .ts(b.requested_at)
            .opt_ts(b.confirmed_at)
            .opt_ts(b.cancelled_at)
            .b(b.late)
            .opt_s(b.cancel_reason)
            .opt_s((b.status == St::Declined).then_some(DECLINE_REASON))
            .b(false)
            .b(false)
            .i(c.price as i64)
            .id(T_PERSON, b.person as u64)
            .ts(b.requested_at)
            .ts(b.updated_at);
        sink.done(Tbl::Bookings)?;
        if b.status != St::Confirmed {
            continue;
        }

        // Registers: most attend throughout; some never come (absent), some send apologies,
        // and on longer courses some miss a session.
        let r: f64 = rng.gen();
        let no_show = 0.06 * c.no_show;
        let profile = if r < no_show {
            1
        } else if r < no_show + 0.045 {
            2
        } else if r < no_show + 0.10 && c.sessions.len() > 1 {
            3
        } else {
            0
        };
        let missed = rng.gen_range(0..c.sessions.len());
        let mut attended_any = false;
        for (k, rec) in recorded.iter().enumerate() {
            let Some(at) = rec else { continue };
            let status = match profile {
                1 => "absent",
                2 => "apologies",
                3 if k == missed => {
                    if rng.gen_bool(0.5) {
                        "absent"
                    } else {
                        "apologies"
                    }
                }
                _ => weighted(rng, &[("present", 90), ("late", 6), ("left_early", 4)]),
            };
            attended_any |= matches!(status, "present" | "late" | "left_early");
            let check_in = rng.gen_bool(0.05) && status != "absent" && status != "apologies";
            sink.row(Tbl::Attendance)
                .id(T_BOOKING, booking)
                .id(T_SESSION, first_session + k as u64)
                .id(T_COURSE, course)
                .s(status)
                .null()
                .s(if check_in { "check_in" } else { "register" })
                .opt_id(if check_in {
                    Some((T_PERSON, b.person as u64))
                } else {
                    recorder
                })
                .ts(if check_in {
                    c.sessions[k].0 - Duration::minutes(5)
                } else {
                    *at
                });
            sink.done(Tbl::Attendance)?;
        }

        // Evaluations: a post-course invitation for everyone who attended once the last
        // register is in; an impact follow-up six weeks on, unless they said no.
        let Some(lrr) = last_recorded.filter(|_| attended_any) else {
            continue;
        };
        let sent = lrr + Duration::seconds(rng.gen_range(1..600));
        let answered = Some(sent + Duration::minutes(rng.gen_range(10..14_400)))
            .filter(|at| *at <= as_of && rng.gen_bool(c.response));
        let headline = invitation_rows(
            plan,
            refs,
            sink,
            ids,
            c,
            course,
            booking,
            person,
            true,
            lrr,
            lrr,
            Some(sent),
            answered,
            rng,
        )?;
        if headline.consent == Some(false) {
            continue;
        }
        let send_at = lrr + Duration::weeks(6);
        let sent = Some(send_at + Duration::seconds(rng.gen_range(1..600))).filter(|s| *s <= as_of);
        let answered = sent
            .map(|s| s + Duration::minutes(rng.gen_range(10..20_160)))
            .filter(|at| *at <= as_of && rng.gen_bool(c.response * 0.75));
        invitation_rows(
            plan, refs, sink, ids, c, course, booking, person, false, lrr, send_at, sent, answered,
            rng,
        )?;
    }
    Ok(())
}

/// One invitation, and its response and answers when answered.
#[allow(clippy::too_many_arguments)]
fn invitation_rows(
    plan: &Plan,
    refs: &Refs,
    sink: &mut Sink,
    ids: &mut Ids,
    c: &Course,
    course: u64,
    booking: u64,
    person: &Person,
    post: bool,
    created_at: NaiveDateTime,
    send_at: NaiveDateTime,
    sent_at: Option<NaiveDateTime>,
    answered_at: Option<NaiveDateTime>,
    rng: &mut StdRng,
) -> Result<Headline, WriterGone> {
    let form = if post { &refs.post } else { &refs.follow_up };
    let kind = if post { "post_course" } else { "follow_up" };
    let invitation = ids.invitation;
    ids.invitation += 1;
    // Reminders go a week apart to those who have not answered.
    let reminders = sent_at.map_or(0, |s| {
        let until = answered_at.unwrap_or(plan.as_of);
        ((until - s).num_days() / 7).clamp(0, 2)
    });
    let last_reminded = sent_at
        .filter(|_| reminders > 0)
        .map(|s| s + Duration::weeks(reminders));
    sink.row(Tbl::Invitations)
        .id(T_INVITATION, invitation)
        .id(T_COURSE, course)
        .id(T_BOOKING, booking)
        .s(&form.id)
        .s(kind)
        .ts(created_at)
        .ts(send_at)
        .opt_ts(sent_at)
        .i(reminders)
        .opt_ts(last_reminded)
        .opt_ts(answered_at);
    sink.done(Tbl::Invitations)?;
    let Some(submitted) = answered_at else {
        return Ok(Headline::default());
    };

    let response = ids.response;
    ids.response += 1;
    let mut h = Headline::default();
    // Answers first in memory: the response row carries their headline figures.
    let mut answers: Vec<AnswerRow<'_>> = Vec::new();
    for (qi, q) in form.questions.iter().enumerate() {
        match q.kind.as_str() {
            "rating" => {
                let mean = match q.metric.as_deref() {
                    Some("impact") => 3.7 + 0.7 * c.quality,
                    _ if q.level >= 3 => 3.5 + 0.6 * c.quality,
                    _ => 4.2 + 0.6 * c.quality,
                };
                let v = rating(rng, mean);
                match q.metric.as_deref() {
                    Some("satisfaction") => h.satisfaction = Some(v),
                    Some("impact") => h.impact = Some(v),
                    _ => {}
                }
                answers.push((qi, Some(v), None, None, None));
            }
            "retrospective" => {
                let before = rating(rng, 2.6);
                let after = rating(rng, before as f64 + 1.0 + 0.4 * c.quality).max(before);
                if q.metric.as_deref() == Some("confidence") {
                    h.before.push(before);
                    h.after.push(after);
                }
                answers.push((qi, None, Some((before, after)), None, None));
            }
            "single_choice" | "multiple_choice" if !q.options.is_empty() => {
                let pick = if q.metric.as_deref() == Some("consent") {
                    let yes = rng.gen_bool(0.8);
                    h.consent = Some(yes);
                    let want = if yes { "yes" } else { "no" };
                    q.options
                        .iter()
                        .find(|o| o.as_str() == want)
                        .cloned()
                        .unwrap_or_else(|| {
                            if yes {
                                q.options[0].clone()
                            } else {
                                q.options[q.options.len() - 1].clone()
                            }
                        })
                } else {
                    q.options[rng.gen_range(0..q.options.len())].clone()
                };
                let json = serde_json::to_string(&[pick]).unwrap_or_else(|_| "[]".into());
                answers.push((qi, None, None, Some(json), None));
            }
            "free_text" if rng.gen_bool(0.15) => {
                let text = if post {
                    LEARNED[rng.gen_range(0..LEARNED.len())]
                } else {
                    CHANGED[rng.gen_range(0..CHANGED.len())]
                };
                answers.push((qi, None, None, None, Some(text)));
            }
            _ => {}
        }
    }
    let mean = |v: &[i64]| (!v.is_empty()).then(|| v.iter().sum::<i64>() as f64 / v.len() as f64);
    sink.row(Tbl::Responses)
        .id(T_RESPONSE, response)
        .id(T_INVITATION, invitation)
        .id(T_COURSE, course)
        .id(T_BOOKING, booking)
        .s(&form.id)
        .s(kind)
        .id(T_SCHOOL, person.school as u64)
        .id(
            T_CLUSTER,
            plan.schools[person.school as usize].cluster as u64,
        )
        .s(&refs.groups[person.group as usize])
        .ts(submitted)
        .opt_i(h.satisfaction)
        .opt_i(h.impact)
        .opt_f(mean(&h.before))
        .opt_f(mean(&h.after))
        .opt_b(h.consent);
    sink.done(Tbl::Responses)?;
    for (qi, rating, pair, choices, text) in answers {
        let q = &form.questions[qi];
        sink.row(Tbl::Answers)
            .id(T_RESPONSE, response)
            .s(&q.id)
            .i(q.level as i64)
            .opt_i(rating)
            .opt_i(pair.map(|p| p.0))
            .opt_i(pair.map(|p| p.1))
            .opt_s(choices.as_deref())
            .opt_s(text);
        sink.done(Tbl::Answers)?;
    }
    Ok(h)
}

// ---------------------------------------------------------------------------------------------
// Reference data and evaluation forms

fn load_refs(conn: &mut DbConn) -> anyhow::Result<Refs> {
    let (group_keys, groups): (Vec<String>, Vec<String>) = staff_groups::table
        .order(staff_groups::position.asc())
        .select((staff_groups::key, staff_groups::id))
        .load::<(String, String)>(conn)?
        .into_iter()
        .unzip();
    let (priority_keys, priorities): (Vec<String>, Vec<String>) = priorities::table
        .order(priorities::position.asc())
        .select((priorities::key, priorities::id))
        .load::<(String, String)>(conn)?
        .into_iter()
        .unzip();
    if groups.is_empty() || priorities.is_empty() {
        anyhow::bail!(
            "the database has no staff groups or priorities; run `cpd-hub migrate` first"
        );
    }
    let post = form(conn, "post_course")?;
    let follow_up = form(conn, "follow_up")?;
    Ok(Refs {
        groups,
        group_keys,
        priorities,
        priority_keys,
        post,
        follow_up,
    })
}

/// The default form of a kind with its questions, made when the database has none.
fn form(conn: &mut DbConn, kind: &str) -> anyhow::Result<Form> {
    let found: Option<String> = evaluation_forms::table
        .filter(evaluation_forms::kind.eq(kind))
        .filter(evaluation_forms::is_default.eq(true))
        .order(evaluation_forms::version.desc())
        .select(evaluation_forms::id)
        .first(conn)
        .optional()?;
    let form_id = match found {
        Some(id) => id,
        None => create_form(conn, kind)?,
    };
    let rows: Vec<QuestionRow> = evaluation_questions::table
        .filter(evaluation_questions::form_id.eq(&form_id))
        .order(evaluation_questions::position.asc())
        .select((
            evaluation_questions::id,
            evaluation_questions::kind,
            evaluation_questions::guskey_level,
            evaluation_questions::metric,
            evaluation_questions::options,
        ))
        .load(conn)?;
    let questions = rows
        .into_iter()
        .map(|(id, kind, level, metric, options)| Question {
            id,
            kind,
            level,
            metric,
            options: options
                .and_then(|o| serde_json::from_str::<Vec<serde_json::Value>>(&o).ok())
                .unwrap_or_default()
                .iter()
                .filter_map(|o| {
                    o.get("value")
                        .and_then(|v| v.as_str())
                        .or_else(|| o.as_str())
                        .map(str::to_string)
                })
                .collect(),
        })
        .collect();
    Ok(Form {
        id: form_id,
        questions,
    })
}

/// (key, kind, Guskey level, prompt, metric, options JSON).
type QuestionSeed = (
    &'static str,
    &'static str,
    i32,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
);

const YES_NO: &str = r#"[{"value":"yes","label":"Yes"},{"value":"no","label":"No"}]"#;

const POST_QUESTIONS: &[QuestionSeed] = &[
    ("overall", "rating", 1, "Overall, how would you rate this course?", Some("satisfaction"), None),
    ("relevance", "rating", 1, "How relevant was it to your role?", None, None),
    ("confidence", "retrospective", 2, "How confident did you feel about this before the course, and how confident do you feel now?", Some("confidence"), None),
    ("learned", "free_text", 2, "What is the most useful thing you learned?", None, None),
    ("consent", "single_choice", 1, "May we ask you in a few weeks how you have used it?", Some("consent"), Some(YES_NO)),
];

const FOLLOW_UP_QUESTIONS: &[QuestionSeed] = &[
    (
        "support",
        "rating",
        3,
        "My school has supported me to use what I learned.",
        None,
        None,
    ),
    (
        "used",
        "rating",
        4,
        "I have used what I learned in my practice.",
        Some("impact"),
        None,
    ),
    (
        "pupils",
        "rating",
        5,
        "It has made a difference to pupils' learning or wellbeing.",
        None,
        None,
    ),
    (
        "example",
        "free_text",
        5,
        "Tell us about one change it has made.",
        None,
        None,
    ),
];

fn create_form(conn: &mut DbConn, kind: &str) -> anyhow::Result<String> {
    let post = kind == "post_course";
    let n: u64 = if post { 1 } else { 2 };
    let form_id = id(T_FORM, n);
    let now = crate::domain::time::now();
    diesel::insert_into(evaluation_forms::table)
        .values((
            evaluation_forms::id.eq(&form_id),
            evaluation_forms::family_id.eq(&form_id),
            evaluation_forms::kind.eq(kind),
            evaluation_forms::name.eq(if post {
                "After the course"
            } else {
                "Impact follow-up"
            }),
            evaluation_forms::description.eq(""),
            evaluation_forms::version.eq(1),
            evaluation_forms::is_default.eq(true),
            evaluation_forms::created_at.eq(now),
        ))
        .execute(conn)?;
    let questions = if post {
        POST_QUESTIONS
    } else {
        FOLLOW_UP_QUESTIONS
    };
    for (i, (key, qkind, level, prompt, metric, options)) in questions.iter().enumerate() {
        diesel::insert_into(evaluation_questions::table)
            .values((
                evaluation_questions::id.eq(id(T_QUESTION, n * 100 + i as u64)),
                evaluation_questions::form_id.eq(&form_id),
                evaluation_questions::position.eq(i as i32 + 1),
                evaluation_questions::key.eq(key),
                evaluation_questions::kind.eq(qkind),
                evaluation_questions::prompt.eq(prompt),
                evaluation_questions::required.eq(*qkind != "free_text"),
                evaluation_questions::guskey_level.eq(level),
                evaluation_questions::low_label.eq((*qkind == "rating").then_some("Not at all")),
                evaluation_questions::high_label.eq((*qkind == "rating").then_some("Very much")),
                evaluation_questions::options.eq(options),
                evaluation_questions::metric.eq(metric),
            ))
            .execute(conn)?;
    }
    Ok(form_id)
}

// ---------------------------------------------------------------------------------------------
// Preparing the database and putting it back

#[derive(QueryableByName)]
struct IndexDef {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    sql: String,
}

/// Drops the secondary indexes of the big tables and returns the statements that make them
/// again. Primary keys and unique constraints stay (they cannot be dropped on their own).
fn drop_indexes(conn: &mut DbConn) -> anyhow::Result<Vec<String>> {
    let list = BIG_TABLES
        .iter()
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(",");
    let query = match conn {
        DbConn::Pg(_) => format!(
            "SELECT i.indexname AS name, i.indexdef AS sql FROM pg_indexes i \
             WHERE i.schemaname = current_schema() AND i.tablename IN ({list}) \
             AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname) \
             ORDER BY i.indexname"
        ),
        DbConn::Sqlite(_) => format!(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL \
             AND tbl_name IN ({list}) ORDER BY name"
        ),
    };
    let defs: Vec<IndexDef> = diesel::sql_query(query).load(conn)?;
    for d in &defs {
        conn.batch_execute(&format!("DROP INDEX \"{}\"", d.name))?;
    }
    Ok(defs.into_iter().map(|d| d.sql).collect())
}

/// On SQLite, drops the triggers that mark courses for the report cells and returns the
/// statements that make them again (PostgreSQL's run once per statement, so they stay).
fn drop_report_triggers(conn: &mut DbConn) -> anyhow::Result<Vec<String>> {
    if let DbConn::Pg(_) = conn {
        return Ok(Vec::new());
    }
    let defs: Vec<IndexDef> = diesel::sql_query(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'report_%'",
    )
    .load(conn)?;
    for d in &defs {
        conn.batch_execute(&format!("DROP TRIGGER \"{}\"", d.name))?;
    }
    Ok(defs.into_iter().map(|d| d.sql).collect())
}

/// Makes a PostgreSQL-only or SQLite-only setting, reporting whether it took.
fn try_execute(conn: &mut DbConn, sql: &str) -> bool {
    conn.batch_execute(sql).is_ok()
}

/// Fills an empty database (migrated, no schools) with a national-scale alliance.
pub fn seed_national(conn: &mut DbConn, opts: &NationalOptions) -> anyhow::Result<NationalReport> {
    if !(opts.scale > 0.0 && opts.scale <= 10.0) {
        anyhow::bail!(
            "--scale: must be more than 0 and at most 10, got {}",
            opts.scale
        );
    }
    let existing: i64 = schools::table.count().get_result(conn)?;
    if existing > 0 {
        anyhow::bail!(
            "the database already has {existing} schools: the national seed needs a new, empty database"
        );
    }
    let started = Instant::now();
    let refs = load_refs(conn)?;
    let plan = plan(opts, &refs);
    let note = |msg: String| {
        if opts.progress {
            eprintln!("{msg}");
        }
    };
    note(format!(
        "planned {} schools, {} staff, {} courses and {} bookings in {:.1} s",
        plan.schools.len(),
        plan.people.len(),
        plan.courses.len(),
        plan.courses.iter().map(|c| c.bookings).sum::<usize>(),
        started.elapsed().as_secs_f64()
    ));

    let backend = conn.backend();
    let copy = opts.copy && backend == crate::db::Backend::Postgres;
    let fk_checked = match backend {
        crate::db::Backend::Postgres => {
            conn.batch_execute(
                "SET synchronous_commit = off; SET maintenance_work_mem = '512MB'; \
                 SET max_parallel_maintenance_workers = 2",
            )?;
            // Rows are valid by construction; skipping the per-row foreign key triggers needs a
            // superuser, so without one the keys are checked (and the load is slower).
            !try_execute(conn, "SET session_replication_role = replica")
        }
        crate::db::Backend::Sqlite => {
            conn.batch_execute(
                "PRAGMA foreign_keys = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -262144;",
            )?;
            // Needs no other connection to be open; when it is not possible the load still
            // works, in WAL mode.
            let _ = try_execute(conn, "PRAGMA journal_mode = OFF");
            false
        }
    };
    if fk_checked {
        note("foreign keys are checked during the load (not a superuser)".into());
    }
    let index_sql = if opts.drop_indexes {
        drop_indexes(conn)?
    } else {
        Vec::new()
    };
    // The report triggers would mark a course once per row on SQLite; every course is summed
    // after the load anyway.
    let trigger_sql = drop_report_triggers(conn)?;

    let pb = if opts.progress {
        let total = plan.courses.iter().map(|c| c.bookings as u64).sum();
        let pb = ProgressBar::new(total);
        pb.set_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{bar:40}] {human_pos}/{human_len} bookings ({per_sec}, eta {eta}) {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        pb
    } else {
        ProgressBar::hidden()
    };

    let load_started = Instant::now();
    let (tx, rx) = mpsc::sync_channel::<Chunk>(8);
    let (generated, written) = std::thread::scope(|scope| {
        let plan = &plan;
        let refs = &refs;
        let pb = &pb;
        let generator = scope.spawn(move || {
            let mut sink = Sink::new(tx, copy);
            let result = generate(plan, refs, &mut sink, pb);
            let counts = ALL_TBL.map(|t| sink.count(t));
            (result, counts)
        });
        let written = write_chunks(conn, rx);
        (generator.join(), written)
    });
    let (generated, counts) = generated.map_err(|_| anyhow::anyhow!("the generator panicked"))?;
    written?;
    generated.map_err(|_| anyhow::anyhow!("the writer stopped early"))?;
    pb.finish_and_clear();
    let load_seconds = load_started.elapsed().as_secs_f64();
    note(format!("rows loaded in {load_seconds:.1} s"));

    let index_started = Instant::now();
    for sql in &index_sql {
        let t = Instant::now();
        conn.batch_execute(sql)?;
        note(format!("  {:.1} s  {sql}", t.elapsed().as_secs_f64()));
    }
    let index_seconds = index_started.elapsed().as_secs_f64();
    if !index_sql.is_empty() {
        note(format!("indexes built in {index_seconds:.1} s"));
    }
    for sql in &trigger_sql {
        conn.batch_execute(sql)?;
    }
    conn.batch_execute("UPDATE calendar_generation SET n = n + 1 WHERE id = 1")?;

    let analyze_started = Instant::now();
    match backend {
        crate::db::Backend::Postgres => {
            if !fk_checked {
                conn.batch_execute("SET session_replication_role = DEFAULT")?;
            }
            // VACUUM sets the visibility map, so index-only scans can skip the table.
            conn.batch_execute("VACUUM (ANALYZE)")?;
        }
        crate::db::Backend::Sqlite => {
            conn.batch_execute("PRAGMA analysis_limit = 1000; ANALYZE;")?;
            let _ = try_execute(conn, "PRAGMA journal_mode = WAL");
            conn.batch_execute("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")?;
        }
    }
    let analyze_seconds = analyze_started.elapsed().as_secs_f64();
    note(format!("statistics refreshed in {analyze_seconds:.1} s"));

    // Sum every course into the report cells, as the service's refresher would.
    let report_started = Instant::now();
    conn.batch_execute(
        "DELETE FROM report_dirty; INSERT INTO report_dirty (course_id, version) SELECT id, 1 FROM courses",
    )?;
    let n_courses = plan.courses.len();
    crate::store::report_cells::refresh_all(conn, opts.summed_at, 1000, |done| {
        note(format!(
            "  report cells: {done} of {n_courses} courses summed"
        ));
    })?;
    if backend == crate::db::Backend::Postgres {
        conn.batch_execute(
            "ANALYZE report_courses; ANALYZE report_facts; ANALYZE report_school_cells; \
             ANALYZE report_school_years; ANALYZE report_group_cells",
        )?;
    } else {
        conn.batch_execute("PRAGMA analysis_limit = 1000; ANALYZE;")?;
    }
    let report_seconds = report_started.elapsed().as_secs_f64();
    note(format!("report cells summed in {report_seconds:.1} s"));

    let mut report = NationalReport {
        clusters: counts[Tbl::Clusters as usize],
        schools: counts[Tbl::Schools as usize],
        cold_schools: plan
            .schools
            .iter()
            .filter(|s| s.class == SchoolClass::Cold)
            .count() as u64,
        lapsed_schools: plan
            .schools
            .iter()
            .filter(|s| s.class == SchoolClass::Lapsed)
            .count() as u64,
        staff: counts[Tbl::People as usize],
        courses: counts[Tbl::Courses as usize],
        sessions: counts[Tbl::Sessions as usize],
        bookings: counts[Tbl::Bookings as usize],
        attendance: counts[Tbl::Attendance as usize],
        invitations: counts[Tbl::Invitations as usize],
        responses: counts[Tbl::Responses as usize],
        answers: counts[Tbl::Answers as usize],
        load_seconds,
        index_seconds,
        analyze_seconds,
        report_seconds,
        ..Default::default()
    };
    let by_status: Vec<(String, i64)> = bookings::table
        .group_by(bookings::status)
        .select((bookings::status, diesel::dsl::count_star()))
        .load(conn)?;
    for (status, n) in by_status {
        let n = n as u64;
        match status.as_str() {
            "confirmed" => report.confirmed = n,
            "waitlisted" => report.waitlisted = n,
            "pending_approval" => report.pending = n,
            "cancelled" => report.cancelled = n,
            "declined" => report.declined = n,
            _ => {}
        }
    }
    report.late_cancellations = bookings::table
        .filter(bookings::late_cancellation.eq(true))
        .count()
        .get_result::<i64>(conn)? as u64;
    report.total_seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Makes (or finds) a benchmark person holding `role` and returns a new API token for them:
/// `bench.<role>@national.example`.
pub fn bench_token(conn: &mut DbConn, role: crate::domain::roles::Role) -> anyhow::Result<String> {
    let email = format!("bench.{}@national.example", role.as_str().replace('_', "-"));
    let found = crate::store::people::find_id_by_email(conn, &email)?;
    let person_id = match found {
        Some(id) => id,
        None => crate::db::write_tx(conn, |c| {
            crate::store::people::insert(
                c,
                &crate::store::people::NewPerson {
                    name: format!("Benchmark {}", role.as_str().replace('_', " ")),
                    email: email.clone(),
                    school_id: None,
                    staff_group_id: None,
                    roles: vec![role],
                },
            )
        })?,
    };
    let (_, token) = crate::store::tokens::create(conn, &person_id, "benchmark", None)?;
    Ok(token)
}

/// An answer before it is written: question index, rating, before/after pair, choices, text.
type AnswerRow<'a> = (
    usize,
    Option<i64>,
    Option<(i64, i64)>,
    Option<String>,
    Option<&'a str>,
);

/// A question as the seeder reads it: id, kind, level, metric, options.
type QuestionRow = (String, String, i32, Option<String>, Option<String>);
