//! Fixed vocabulary

use super::*;

pub(super) const TOWNS: &[&str] = &[
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
pub(super) const AREAS: &[&str] = &["Central", "North", "South", "East", "West"];
pub(super) const SCHOOL_WORDS: &[&str] = &[
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
pub(super) const FIRST_NAMES: &[&str] = &[
    "Amelia", "Aisha", "Ben", "Chloe", "Daniel", "Ella", "Fatima", "George", "Hannah", "Imran",
    "Jack", "Jess", "Kiran", "Laura", "Liam", "Maya", "Mohammed", "Nadia", "Oliver", "Priya",
    "Rachel", "Sam", "Sophie", "Tom", "Zara", "Grace", "Harry", "Isla", "James", "Ruth",
];
pub(super) const LAST_NAMES: &[&str] = &[
    "Ahmed", "Baker", "Begum", "Clarke", "Davies", "Evans", "Green", "Hall", "Hughes", "Iqbal",
    "Jones", "Khan", "Lewis", "Martin", "Nowak", "Patel", "Roberts", "Shaw", "Smith", "Taylor",
    "Turner", "Walker", "Ward", "Watson", "White", "Wilson", "Wood", "Wright", "Young", "Hussain",
];
pub(super) const PROVIDER_NAMES: &[&str] = &[
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
pub(super) const VENUES: &[(&str, &str)] = &[
    ("Teaching School Hub", "Church Street"),
    ("Civic Centre", "Market Place"),
    ("Learning Centre", "Station Road"),
    ("Professional Development Centre", "High Street"),
    ("Community Hall", "Park Lane"),
];

/// A course subject: (title, priority keys, staff group keys, phases).
pub(super) type Topic = (
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
    &'static [Phase],
);

pub(super) const TOPICS: &[Topic] = &[
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
pub(super) const GROUP_WEIGHTS: &[(&str, u32)] = &[
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
pub(super) const PHASE_MIX: &[(Phase, u32, f64)] = &[
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

pub(super) const CANCEL_REASONS: &[&str] = &[
    "Cover could not be arranged.",
    "Illness.",
    "A clash with a school event.",
    "Booked the wrong date.",
];
pub(super) const DECLINE_REASON: &str = "We have already sent colleagues on this course this year.";
pub(super) const COURSE_CANCEL_REASON: &str =
    "The trainer is unavailable; the course will run again next term.";
pub(super) const LEARNED: &[&str] = &[
    "Practical strategies I can use straight away.",
    "Time to talk with colleagues from other schools.",
    "A clearer idea of what good looks like.",
];
pub(super) const CHANGED: &[&str] = &[
    "We changed how we start lessons.",
    "Pupils are more confident to talk about their learning.",
    "Our team now plans this together.",
];
