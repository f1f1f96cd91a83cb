//! Courses for a demo alliance ([`seed_term`]: a realistic spring term). The benchmarks' bulk
//! courses (`cpd-hub-bench bench-seed`, in `cpd-hub-tools`) share [`VENUES`], [`london`],
//! [`provider_id`] and [`ids_by_key`] with it.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use diesel::prelude::*;

use crate::db::schema::{clusters, courses, priorities, providers, staff_groups};
use crate::db::DbConn;
use crate::domain::course::{CoursePlan, Format, SessionPlan, Venue};
use crate::domain::time::{self, LONDON};
use crate::store::courses::{self as store, CourseLinks};

/// What [`seed_term`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeedReport {
    /// Courses created now.
    pub created: usize,
    /// Courses that were there already (same title), left alone.
    pub existing: usize,
}

/// The provider demo and benchmark courses are given when the database has none.
const DEMO_PROVIDER: &str = "Barnsley Teaching Alliance";

/// The demo's venues: (name, address, postcode).
pub const VENUES: &[(&str, &str, &str)] = &[
    (
        "Barnsley Teaching Hub",
        "Church Street, Barnsley",
        "S70 2HZ",
    ),
    (
        "Dearne Valley Learning Centre",
        "Barnsley Road, Goldthorpe",
        "S63 9AB",
    ),
    (
        "Penistone Community Hall",
        "Market Street, Penistone",
        "S36 6BZ",
    ),
    ("Hoyland Civic Centre", "Hawshaw Lane, Hoyland", "S74 0HA"),
    (
        "Cudworth Learning Hub",
        "Barnsley Road, Cudworth",
        "S72 8SU",
    ),
];

/// When the demo's course runs, in Europe/London: (date, start, end).
type Slot = (&'static str, &'static str, &'static str);

/// What happens to a demo course after it is created.
#[derive(Clone, Copy)]
enum Fate {
    Publish,
    Draft,
    Cancel(&'static str),
}

struct Demo {
    title: &'static str,
    summary: &'static str,
    priorities: &'static [&'static str],
    groups: &'static [&'static str],
    phases: &'static [&'static str],
    format: Format,
    capacity: i32,
    per_school_cap: Option<i32>,
    price_pence: i32,
    approval: bool,
    completion: Option<i32>,
    cluster: bool,
    sessions: &'static [Slot],
    fate: Fate,
}

const DAY: (&str, &str) = ("09:00", "15:30");
const AM: (&str, &str) = ("09:00", "12:00");
const PM: (&str, &str) = ("13:00", "16:00");
const TWILIGHT: (&str, &str) = ("16:00", "17:30");
const EVENING: (&str, &str) = ("18:00", "19:30");

macro_rules! slots {
    ($(($date:expr, $time:expr)),* $(,)?) => {
        &[$(($date, $time.0, $time.1)),*]
    };
}

macro_rules! demo {
    ($title:expr, $summary:expr, prio $p:expr, groups $g:expr, phases $ph:expr, $format:expr,
     cap $cap:expr, $sessions:expr $(, $field:ident = $value:expr)* $(,)?) => {{
        #[allow(unused_mut)]
        let mut d = Demo {
            title: $title,
            summary: $summary,
            priorities: $p,
            groups: $g,
            phases: $ph,
            format: $format,
            capacity: $cap,
            per_school_cap: None,
            price_pence: 0,
            approval: false,
            completion: None,
            cluster: false,
            sessions: $sessions,
            fate: Fate::Publish,
        };
        $(d.$field = $value;)*
        d
    }};
}

fn demo_courses() -> Vec<Demo> {
    use Format::{Hybrid, InPerson, Online};
    vec![
        // Autumn 2026: already run.
        demo!("Designated safeguarding lead refresher",
            "The two-yearly refresher for **designated safeguarding leads**: recent changes to *Keeping Children Safe in Education*, local referral routes and case studies.",
            prio &["leadership", "wellbeing"], groups &["dsl"], phases &[], InPerson, cap 40,
            slots![("2026-10-07", DAY)], approval = true),
        demo!("Early career teachers: behaviour that works",
            "Routines, consistency and relationships: a twilight for early career teachers and their mentors.",
            prio &["attendance_behaviour"], groups &["early_career_teacher"], phases &[], Online, cap 80,
            slots![("2026-10-14", TWILIGHT)]),
        demo!("Phonics for new Reception staff",
            "Getting started with the school's validated phonics programme: sounds, blending and keeping up, not catching up.",
            prio &["early_years", "reading"], groups &["early_years_practitioner", "teaching_assistant"], phases &["nursery", "primary"], InPerson, cap 24,
            slots![("2026-11-04", AM)], per_school_cap = Some(2)),
        demo!("SENCO network: autumn",
            "The termly network for SENCOs: local authority updates, funding, and a school sharing its graduated approach.",
            prio &["send"], groups &["senco"], phases &[], InPerson, cap 60,
            slots![("2026-11-11", PM)]),
        demo!("Attendance: working with families",
            "Building trust with families of persistently absent pupils, with the local authority's attendance team.",
            prio &["attendance_behaviour"], groups &["senior_leader", "support_staff"], phases &[], Online, cap 100,
            slots![("2026-11-18", TWILIGHT)]),
        // Spring 2027: SEND.
        demo!("Adaptive teaching for pupils with SEND",
            "Practical strategies for **adaptive teaching** in mainstream classrooms: scaffolds that fade, and checking for understanding.",
            prio &["send"], groups &["teacher", "teaching_assistant"], phases &["primary"], InPerson, cap 30,
            slots![("2027-01-14", DAY)]),
        demo!("Autism awareness for teaching assistants",
            "Understanding autistic pupils' experience of school, sensory needs, and communication that helps.",
            prio &["send"], groups &["teaching_assistant"], phases &[], InPerson, cap 30,
            slots![("2027-01-21", AM)], per_school_cap = Some(2)),
        demo!("National Award for SEN Coordination: preparation programme",
            "Four sessions for new SENCOs preparing for the National Award: law and guidance, leading provision, working with families, and evaluating impact.\n\nAttend at least three of the four sessions to complete the programme.",
            prio &["send", "leadership"], groups &["senco"], phases &[], InPerson, cap 16,
            slots![("2027-01-12", DAY), ("2027-02-09", DAY), ("2027-03-09", DAY), ("2027-03-23", DAY)],
            approval = true, completion = Some(3), price_pence = 15_000),
        demo!("SENCO network: spring",
            "The termly network for SENCOs, online this term.",
            prio &["send"], groups &["senco"], phases &[], Online, cap 80,
            slots![("2027-02-24", PM)]),
        demo!("Understanding EHCP annual reviews",
            "Person-centred annual reviews that lead to better plans: preparation, the meeting, and writing outcomes.",
            prio &["send"], groups &["senco", "senior_leader"], phases &[], InPerson, cap 25,
            slots![("2027-03-03", PM)]),
        demo!("Supporting pupils with ADHD in the classroom",
            "What ADHD is and is not, and classroom adjustments that help every pupil.",
            prio &["send", "attendance_behaviour"], groups &[], phases &[], Hybrid, cap 50,
            slots![("2027-03-10", TWILIGHT)]),
        // Leadership.
        demo!("Middle leaders programme",
            "Five sessions for subject and phase leaders: leading a curriculum, leading people, monitoring that helps, and managing change.\n\nAttend at least four of the five sessions to complete the programme.",
            prio &["leadership", "curriculum"], groups &["middle_leader"], phases &[], InPerson, cap 24,
            slots![("2027-01-19", PM), ("2027-02-02", PM), ("2027-02-23", PM), ("2027-03-09", PM), ("2027-03-23", PM)],
            approval = true, completion = Some(4), per_school_cap = Some(2)),
        demo!("Aspiring headteachers: leading a school community",
            "Three days for deputies and assistant heads thinking about headship: vision, finance and governance, and leading through others.",
            prio &["leadership"], groups &["senior_leader"], phases &[], InPerson, cap 18,
            slots![("2027-01-29", DAY), ("2027-02-26", DAY), ("2027-03-19", DAY)],
            approval = true, completion = Some(3), price_pence = 25_000),
        demo!("Governor training: holding leaders to account",
            "Asking good questions about data, the curriculum and the budget. For governors and trustees.",
            prio &["leadership"], groups &["governor"], phases &[], Online, cap 100,
            slots![("2027-01-26", EVENING)]),
        demo!("Coaching conversations for leaders",
            "A practical introduction to coaching: listening, questioning and agreeing next steps.",
            prio &["leadership", "wellbeing"], groups &["senior_leader", "middle_leader"], phases &[], InPerson, cap 20,
            slots![("2027-02-04", DAY)]),
        demo!("Headteachers' briefing: spring",
            "The local authority's termly briefing for headteachers, in the room or online.",
            prio &["leadership"], groups &["headteacher"], phases &[], Hybrid, cap 120,
            slots![("2027-01-08", AM)]),
        // Curriculum.
        demo!("Curriculum sequencing in the foundation subjects",
            "Building knowledge over time in history, geography and art: what to teach, in what order, and why.",
            prio &["curriculum"], groups &["teacher", "middle_leader"], phases &["primary"], InPerson, cap 30,
            slots![("2027-01-27", PM)]),
        demo!("Assessment that helps learning",
            "Formative assessment that changes what happens next, without adding to workload.",
            prio &["curriculum"], groups &["teacher"], phases &[], Online, cap 100,
            slots![("2027-02-10", TWILIGHT)]),
        demo!("Primary science: working scientifically",
            "Planning enquiries that teach the substantive and disciplinary knowledge of science.",
            prio &["curriculum"], groups &["teacher"], phases &["primary"], InPerson, cap 30,
            slots![("2027-03-04", DAY)]),
        demo!("Secondary maths: teaching for mastery",
            "Three sessions with the maths hub on small steps, variation and fluency at key stage 3.",
            prio &["curriculum"], groups &["teacher", "middle_leader"], phases &["secondary", "all_through"], InPerson, cap 24,
            slots![("2027-01-18", PM), ("2027-02-22", PM), ("2027-03-15", PM)], completion = Some(2)),
        demo!("Subject leadership in small primary schools",
            "Leading several subjects at once: priorities, monitoring and support. Run for the cluster's schools.",
            prio &["curriculum", "leadership"], groups &["middle_leader"], phases &["primary"], InPerson, cap 20,
            slots![("2027-02-25", PM)], cluster = true),
        demo!("Early reading: phonics catch-up in key stage 2",
            "Keeping older pupils who cannot yet read fluently on track, with daily catch-up that works.",
            prio &["reading", "curriculum"], groups &["teacher", "teaching_assistant"], phases &["primary"], InPerson, cap 30,
            slots![("2027-02-17", AM)]),
        // Attendance and behaviour.
        demo!("Attendance matters: a whole-school approach",
            "Using attendance data well, early help, and the new national framework.",
            prio &["attendance_behaviour"], groups &["senior_leader"], phases &[], InPerson, cap 40,
            slots![("2027-01-20", AM)]),
        demo!("Trauma-informed behaviour support",
            "How adversity shows in behaviour, and responses that keep pupils in the classroom.",
            prio &["attendance_behaviour", "wellbeing"], groups &[], phases &[], InPerson, cap 36,
            slots![("2027-02-03", DAY)], per_school_cap = Some(3)),
        demo!("Reducing suspensions: alternatives that work",
            "Internal alternatives, reintegration and working with alternative provision.",
            prio &["attendance_behaviour"], groups &["senior_leader", "middle_leader"], phases &["secondary", "alternative_provision"], InPerson, cap 30,
            slots![("2027-03-02", PM)]),
        demo!("Attendance officers' network",
            "Termly network for attendance officers: casework, legal routes and sharing what works.",
            prio &["attendance_behaviour"], groups &["support_staff"], phases &[], Online, cap 60,
            slots![("2027-03-17", PM)], cluster = true),
        demo!("De-escalation skills for support staff",
            "Recognising the signs, staying calm, and keeping everyone safe.",
            prio &["attendance_behaviour"], groups &["teaching_assistant", "support_staff"], phases &[], InPerson, cap 24,
            slots![("2027-02-11", AM)]),
        // Wellbeing.
        demo!("Staff wellbeing: managing workload",
            "Practical steps for leaders and staff to reduce unnecessary workload.",
            prio &["wellbeing"], groups &[], phases &[], Online, cap 150,
            slots![("2027-01-13", TWILIGHT)]),
        demo!("Mental health first aid (two days)",
            "The accredited two-day Mental Health First Aid course. Both days are needed for the certificate.",
            prio &["wellbeing"], groups &[], phases &[], InPerson, cap 16,
            slots![("2027-02-15", DAY), ("2027-02-16", DAY)],
            approval = true, per_school_cap = Some(2), price_pence = 9_500),
        demo!("Pupil wellbeing: emotional literacy support",
            "Helping pupils name and manage their feelings: an introduction for teaching assistants.",
            prio &["wellbeing", "send"], groups &["teaching_assistant"], phases &["primary"], InPerson, cap 24,
            slots![("2027-03-16", AM)]),
        demo!("Mindful leadership: looking after your team",
            "Leading with care in a demanding year.",
            prio &["wellbeing", "leadership"], groups &["headteacher", "senior_leader"], phases &[], Online, cap 60,
            slots![("2027-03-24", TWILIGHT)]),
        // EAL.
        demo!("Supporting new arrivals with EAL",
            "The first weeks in school for pupils new to English: induction, assessment and classroom strategies.",
            prio &["eal"], groups &["teacher", "teaching_assistant"], phases &[], InPerson, cap 30,
            slots![("2027-01-28", PM)]),
        demo!("EAL in the early years",
            "Supporting children learning English as an additional language in nursery and Reception, and valuing home languages.",
            prio &["eal", "early_years"], groups &["early_years_practitioner"], phases &["nursery", "primary"], InPerson, cap 24,
            slots![("2027-02-09", AM)]),
        demo!("Assessing pupils with EAL",
            "Telling language needs from learning needs, and tracking progress in English.",
            prio &["eal", "send"], groups &["senco", "teacher"], phases &[], Online, cap 80,
            slots![("2027-03-11", TWILIGHT)]),
        // Early years.
        demo!("Communication and language in the EYFS",
            "Two mornings on talk-rich environments, interactions that extend language, and spotting children who need more help.",
            prio &["early_years", "reading"], groups &["early_years_practitioner", "teaching_assistant"], phases &["nursery", "primary"], InPerson, cap 30,
            slots![("2027-01-25", AM), ("2027-02-08", AM)]),
        demo!("Early years outdoor learning",
            "Planning the outdoor area for learning in every area of the EYFS, in all weathers.",
            prio &["early_years"], groups &["early_years_practitioner"], phases &["nursery", "primary"], InPerson, cap 20,
            slots![("2027-03-18", PM)]),
        demo!("Early years network: spring",
            "The cluster's early years network: moderation and sharing practice.",
            prio &["early_years"], groups &["early_years_practitioner"], phases &["nursery", "primary"], Online, cap 40,
            slots![("2027-02-01", TWILIGHT)], cluster = true),
        demo!("Disadvantaged pupils: closing the gap",
            "What the evidence says about spending pupil premium well, and how to tell if it works.",
            prio &["disadvantage", "leadership"], groups &["senior_leader"], phases &[], InPerson, cap 40,
            slots![("2027-03-01", AM)]),
        // One cancelled, two in preparation for the summer term.
        demo!("Makerspace for primary science",
            "Hands-on design and technology in science lessons.",
            prio &["curriculum"], groups &["teacher"], phases &["primary"], InPerson, cap 20,
            slots![("2027-02-18", PM)],
            fate = Fate::Cancel("The trainer is unavailable; we will run it again in the summer term.")),
        demo!("SENCO network: summer",
            "The termly network for SENCOs.",
            prio &["send"], groups &["senco"], phases &[], InPerson, cap 60,
            slots![("2027-06-09", PM)], fate = Fate::Draft),
        demo!("Transition to secondary: supporting vulnerable pupils",
            "Planning transition for pupils with SEND and those at risk of low attendance, with primary and secondary colleagues together.",
            prio &["send", "attendance_behaviour"], groups &["senco", "senior_leader"], phases &["primary", "secondary"], InPerson, cap 40,
            slots![("2027-06-23", DAY)], fate = Fate::Draft),
    ]
}

/// A Europe/London wall-clock time as stored UTC.
pub fn london(date: &str, hm: &str) -> anyhow::Result<NaiveDateTime> {
    let d = NaiveDate::parse_from_str(date, "%Y-%m-%d")?;
    let t = NaiveTime::parse_from_str(hm, "%H:%M")?;
    LONDON
        .from_local_datetime(&d.and_time(t))
        .earliest()
        .map(|t| t.naive_utc())
        .ok_or_else(|| anyhow::anyhow!("{date} {hm} does not exist in Europe/London"))
}

fn online_url(title: &str) -> String {
    format!(
        "https://meet.example.org/cpd/{}",
        crate::domain::text::slug(title).replace('_', "-")
    )
}

/// The first provider by name, or a new one when there is none.
pub fn provider_id(conn: &mut DbConn) -> anyhow::Result<String> {
    let found: Option<String> = providers::table
        .order(providers::name.asc())
        .select(providers::id)
        .first(conn)
        .optional()?;
    if let Some(id) = found {
        return Ok(id);
    }
    let id = crate::store::new_id();
    let now = time::now();
    diesel::insert_into(providers::table)
        .values((
            providers::id.eq(&id),
            providers::name.eq(DEMO_PROVIDER),
            providers::kind.eq("teaching_alliance"),
            providers::created_at.eq(now),
            providers::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(id)
}

/// (key, id) pairs, in the alliance's order.
pub type KeyedIds = Vec<(String, String)>;

/// The priorities and staff groups by key.
pub fn ids_by_key(conn: &mut DbConn) -> anyhow::Result<(KeyedIds, KeyedIds)> {
    let prios = priorities::table
        .order(priorities::position.asc())
        .select((priorities::key, priorities::id))
        .load(conn)?;
    let groups = staff_groups::table
        .order(staff_groups::position.asc())
        .select((staff_groups::key, staff_groups::id))
        .load(conn)?;
    Ok((prios, groups))
}

fn pick(keys: &[&str], known: &[(String, String)]) -> Vec<String> {
    keys.iter()
        .filter_map(|k| {
            known
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, id)| id.clone())
        })
        .collect()
}

/// Creates a realistic term of CPD: about forty courses of spring 2027 across the alliance's
/// priorities (SEND, leadership, curriculum, attendance and behaviour, wellbeing, EAL, early
/// years), with multi-session programmes, courses that need approval, online and hybrid ones,
/// per-school caps, a few already run in autumn 2026, one cancelled and two drafts for the
/// summer. Uses the existing provider (or creates one), priorities, staff groups and clusters
/// (cluster-run courses go to the clusters in turn); `lead_ids` (people) are given the
/// courses in turn as leads. Idempotent by title: a course whose title exists is left alone.
pub fn seed_term(conn: &mut DbConn, lead_ids: &[String]) -> anyhow::Result<SeedReport> {
    let provider = provider_id(conn)?;
    let (prios, groups) = ids_by_key(conn)?;
    let cluster_ids: Vec<String> = clusters::table
        .order(clusters::name.asc())
        .select(clusters::id)
        .load(conn)?;
    let existing: Vec<String> = courses::table.select(courses::title).load(conn)?;
    let mut report = SeedReport::default();
    let mut next_cluster = 0;
    for (i, demo) in demo_courses().into_iter().enumerate() {
        if existing.iter().any(|t| t == demo.title) {
            report.existing += 1;
            continue;
        }
        let venue = VENUES[i % VENUES.len()];
        let mut sessions = Vec::new();
        for (date, start, end) in demo.sessions {
            sessions.push(SessionPlan {
                start: london(date, start)?,
                end: london(date, end)?,
                venue: demo.format.needs_venue().then(|| Venue {
                    name: venue.0.into(),
                    address: venue.1.into(),
                    postcode: venue.2.into(),
                }),
                online_url: demo
                    .format
                    .needs_online_url()
                    .then(|| online_url(demo.title)),
                note: None,
            });
        }
        let first = sessions.iter().map(|s| s.start).min();
        let plan = CoursePlan {
            title: demo.title.into(),
            summary: demo.summary.into(),
            format: demo.format.as_str().into(),
            capacity: demo.capacity,
            per_school_cap: demo.per_school_cap,
            // Caps lift a fortnight before the course, so late places are not wasted.
            per_school_cap_until: demo
                .per_school_cap
                .and(first.map(|f| f - chrono::Duration::days(14))),
            price_pence: demo.price_pence,
            booking_opens: None,
            booking_closes: first.map(|f| f - chrono::Duration::days(3)),
            cancellation_deadline: first.map(|f| f - chrono::Duration::days(7)),
            requires_approval: demo.approval,
            completion_min_sessions: demo.completion,
            phases: demo.phases.iter().map(|p| p.to_string()).collect(),
            sessions,
        };
        let cluster_id = if demo.cluster && !cluster_ids.is_empty() {
            next_cluster += 1;
            Some(cluster_ids[(next_cluster - 1) % cluster_ids.len()].clone())
        } else {
            None
        };
        let links = CourseLinks {
            provider_id: provider.clone(),
            cluster_id,
            lead_ids: if lead_ids.is_empty() {
                Vec::new()
            } else {
                vec![lead_ids[i % lead_ids.len()].clone()]
            },
            priority_ids: pick(demo.priorities, &prios),
            staff_group_ids: pick(demo.groups, &groups),
        };
        let course = store::create_course(conn, None, plan, links)
            .map_err(|e| anyhow::anyhow!("demo course {:?}: {e:?}", demo.title))?;
        match demo.fate {
            Fate::Draft => {}
            Fate::Publish => {
                store::publish_course(conn, None, &course.id)
                    .map_err(|e| anyhow::anyhow!("publishing {:?}: {e:?}", demo.title))?;
            }
            Fate::Cancel(reason) => {
                store::publish_course(conn, None, &course.id)
                    .map_err(|e| anyhow::anyhow!("publishing {:?}: {e:?}", demo.title))?;
                store::cancel_course(conn, None, "", &course.id, reason)
                    .map_err(|e| anyhow::anyhow!("cancelling {:?}: {e:?}", demo.title))?;
            }
        }
        report.created += 1;
    }
    Ok(report)
}
