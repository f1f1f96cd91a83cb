//! `cpd-hub seed-demo`: a demo alliance shaped like the one cpd-hub was first built for, so a
//! newcomer sees a living system: its 9 clusters with 92 schools (79 primary, 11 secondary,
//! 2 special, in each cluster's real mix), a few hundred staff across the staff groups, a
//! school lead per school, course leads, CPD group members and two providers.
//!
//! Every school and person is fictional. The data is planned first, by [`plan`], from a fixed
//! seed with no I/O, so it is the same on every run and every machine; [`run`] then inserts
//! whatever is missing, matching clusters and providers by name, schools by URN and people by
//! email. Running it twice changes nothing the second time.
//!
//! To extend the demo (courses, bookings, registers, evaluations), add a step function next to
//! [`seed_people`] that takes what the earlier steps return, call it from [`run`], and add
//! its counts to [`Summary`].

use std::collections::{HashMap, HashSet};
use std::fmt;

use crate::db::{self, DbConn};
use crate::domain::roles::Role;
use crate::domain::school::Phase;
use crate::domain::text::slug;
use crate::store::people::NewPerson;
use crate::store::seed::{self as store, SchoolSeed};

/// The local authority every demo school belongs to.
pub const LOCAL_AUTHORITY: &str = "Barnsley";

/// The clusters and their mix of schools, as in the alliance's 2022-25 strategy:
/// (name, primary, secondary, special, postcode districts).
pub const CLUSTERS: &[(&str, usize, usize, usize, &[&str])] = &[
    ("Penistone", 10, 1, 0, &["S36"]),
    ("Town Centre", 13, 2, 1, &["S70", "S75"]),
    ("Cudworth", 7, 1, 0, &["S72"]),
    ("Hoyland", 10, 1, 0, &["S74"]),
    ("Darton", 4, 1, 0, &["S75"]),
    ("Darfield and Wombwell", 8, 1, 0, &["S73"]),
    ("Dearne", 9, 1, 0, &["S73"]),
    ("CARM", 10, 2, 1, &["S71"]),
    ("Worsbrough and Stairfoot", 8, 1, 0, &["S70"]),
];

/// The demo providers: (name, kind, email, website).
pub const PROVIDERS: &[(&str, &str, Option<&str>, Option<&str>)] = &[
    (
        "Alliance Teaching School Hub",
        crate::domain::provider::ProviderKind::TeachingAlliance.as_str(),
        Some("cpd@alliance-hub.example"),
        Some("https://alliance-hub.example"),
    ),
    (
        "Local Authority School Improvement",
        "local_authority",
        Some("school.improvement@la-school-improvement.example"),
        None,
    ),
];

/// Demo URNs start above this. Real school URNs are six-digit numbers in the 100000s, so a
/// demo school can never collide with one imported later from GIAS.
const URN_BASE: i64 = 990_000;

/// The fixed seed of the demo data. Changing it (or the lists below) changes names and emails,
/// and a database seeded before would then get a second set of people.
const SEED: u64 = 0x00C0_FFEE_2022_0025;

// Parts of invented village names: combinations that are not real places, so no demo school
// shares its name with a real one.
const NAME_STARTS: &[&str] = &[
    "Brock", "Cress", "Foss", "Kell", "Mire", "Nab", "Pike", "Rook", "Sked", "Whin", "Tarn",
    "Gill", "Lund", "Quern", "Snod", "Thack", "Yarl", "Cragg", "Hask", "Owl", "Hebb", "Scaw",
    "Lyth", "Mossy",
];
const NAME_ENDS: &[&str] = &[
    "thwaite", "sike", "holt", "scar", "garth", "royd", "clough", "beck",
];

/// Name patterns and GIAS establishment types, by phase.
const PRIMARY_KINDS: &[(&str, &str)] = &[
    ("{} Primary School", "Community school"),
    ("{} Primary Academy", "Academy converter"),
    ("{} Junior and Infant School", "Community school"),
    (
        "{} Church of England Primary School",
        "Voluntary controlled school",
    ),
    ("{} Primary Academy", "Academy sponsor led"),
    ("{} Community Primary School", "Community school"),
    ("{} Primary School", "Academy converter"),
];
const SECONDARY_KINDS: &[(&str, &str)] = &[
    ("{} Academy", "Academy converter"),
    ("{} High School", "Academy sponsor led"),
    ("{} Community College", "Academy converter"),
];
const SPECIAL_KINDS: &[(&str, &str)] = &[
    ("{} School", "Community special school"),
    ("{} Specialist Academy", "Academy special converter"),
];

const FIRST_NAMES: &[&str] = &[
    "Aisha", "Alex", "Amelia", "Amir", "Beth", "Callum", "Chloe", "Daniel", "Deepa", "Eleanor",
    "Ellis", "Fatima", "Finley", "Grace", "Hannah", "Harry", "Imran", "Isla", "Jack", "Jade",
    "James", "Jasmine", "Joel", "Kate", "Kieran", "Laura", "Leah", "Liam", "Lucy", "Maya", "Megan",
    "Michael", "Nadia", "Nathan", "Niamh", "Oliver", "Olivia", "Owen", "Priya", "Rachel",
    "Rebecca", "Ryan", "Saima", "Samuel", "Sarah", "Sophie", "Tariq", "Thomas", "Tom", "Yasmin",
    "Zoe", "Gareth", "Helen", "Joanne", "Karen", "Lee", "Mark", "Nicola", "Paul", "Stuart",
];
const LAST_NAMES: &[&str] = &[
    "Ahmed", "Ashby", "Atkinson", "Bailey", "Barker", "Bell", "Brook", "Carter", "Chapman",
    "Clarke", "Dawson", "Dixon", "Ellis", "Fletcher", "Foster", "Gibson", "Haigh", "Hall",
    "Hussain", "Jackson", "Kaur", "Kelly", "Lambert", "Lockwood", "Marsden", "Mellor", "Mills",
    "Moss", "Nolan", "O'Brien", "Parkin", "Patel", "Pearson", "Quinn", "Ramsden", "Rhodes",
    "Riley", "Robinson", "Shaw", "Singh", "Stead", "Sykes", "Taylor", "Thorpe", "Turner", "Walsh",
    "Ward", "Webster", "Whitaker", "Wilson", "Wood", "Wright", "Yates", "Young", "Hirst", "Exley",
    "Booth", "Crowther", "Firth", "Senior",
];

/// A small deterministic generator (SplitMix64). Written out here rather than taken from a
/// crate so the demo data stays the same across dependency upgrades: re-running the seed must
/// find the people it made before by their emails.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0; the tiny modulo bias does not matter for demo data).
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// A number in `lo..=hi`.
    fn between(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

/// A school of the demo plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedSchool {
    /// Fictional URN, stable across runs.
    pub urn: i64,
    /// Fictional name.
    pub name: String,
    /// Phase.
    pub phase: Phase,
    /// GIAS establishment type.
    pub school_type: &'static str,
    /// Cluster name.
    pub cluster: &'static str,
    /// Postcode in the cluster's district.
    pub postcode: String,
    /// The email domain of its staff, `<school-slug>.sch.example`.
    pub email_domain: String,
}

/// A person of the demo plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedPerson {
    /// Fictional name.
    pub name: String,
    /// Email, unique in the plan.
    pub email: String,
    /// Their school's URN, if they work in a school.
    pub school_urn: Option<i64>,
    /// Staff group key.
    pub staff_group: Option<&'static str>,
    /// Roles beyond `staff`.
    pub roles: Vec<Role>,
}

/// Everything the demo consists of, before it touches a database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// 92 schools in cluster order.
    pub schools: Vec<PlannedSchool>,
    /// School staff first, then people of the providers.
    pub people: Vec<PlannedPerson>,
}

/// Plans the demo alliance. Pure and deterministic: the same plan on every call.
pub fn plan() -> Plan {
    let mut rng = Rng(SEED);
    let mut villages: Vec<String> = NAME_STARTS
        .iter()
        .flat_map(|s| NAME_ENDS.iter().map(move |e| format!("{s}{e}")))
        .collect();
    rng.shuffle(&mut villages);
    let mut villages = villages.into_iter();

    let mut schools = Vec::new();
    for (name, primary, secondary, special, districts) in CLUSTERS {
        let phases = std::iter::repeat_n(Phase::Primary, *primary)
            .chain(std::iter::repeat_n(Phase::Secondary, *secondary))
            .chain(std::iter::repeat_n(Phase::Special, *special));
        for phase in phases {
            let village = villages
                .next()
                .expect("enough village names for 92 schools");
            let kinds = match phase {
                Phase::Secondary => SECONDARY_KINDS,
                Phase::Special => SPECIAL_KINDS,
                _ => PRIMARY_KINDS,
            };
            let (pattern, school_type) = *rng.pick(kinds);
            let school_name = pattern.replace("{}", &village);
            let domain_slug = slug(&school_name).replace('_', "-");
            let domain_slug = domain_slug.strip_suffix("-school").unwrap_or(&domain_slug);
            // Clusters that span two districts alternate between them.
            let district = districts[schools.len() % districts.len()];
            schools.push(PlannedSchool {
                urn: URN_BASE + schools.len() as i64 + 1,
                email_domain: format!("{domain_slug}.sch.example"),
                name: school_name,
                phase,
                school_type,
                cluster: name,
                postcode: postcode(&mut rng, district),
            });
        }
    }

    let mut people = Vec::new();
    let mut emails = HashSet::new();
    let mut person = |rng: &mut Rng,
                      domain: &str,
                      urn: Option<i64>,
                      group: Option<&'static str>,
                      roles: Vec<Role>| {
        let first = *rng.pick(FIRST_NAMES);
        let last = *rng.pick(LAST_NAMES);
        let local = format!("{}.{}", first, last.replace('\'', "")).to_lowercase();
        let mut email = format!("{local}@{domain}");
        let mut n = 2;
        while !emails.insert(email.clone()) {
            email = format!("{local}{n}@{domain}");
            n += 1;
        }
        people.push(PlannedPerson {
            name: format!("{first} {last}"),
            email,
            school_urn: urn,
            staff_group: group,
            roles,
        });
    };

    // The CPD Working Group draws on headteachers across the clusters.
    let cpd_group_schools: Vec<i64> = [0usize, 3, 6]
        .iter()
        .filter_map(|&c| {
            schools
                .iter()
                .find(|s| s.cluster == CLUSTERS[c].0)
                .map(|s| s.urn)
        })
        .collect();
    for school in &schools {
        let urn = Some(school.urn);
        let domain = school.email_domain.as_str();
        let head_roles = if cpd_group_schools.contains(&school.urn) {
            vec![Role::CpdGroup]
        } else {
            vec![]
        };
        person(&mut rng, domain, urn, Some("headteacher"), head_roles);
        person(
            &mut rng,
            domain,
            urn,
            Some("senior_leader"),
            vec![Role::SchoolLead],
        );
        person(&mut rng, domain, urn, Some("senco"), vec![]);
        let (extra, groups): (usize, &[&'static str]) = match school.phase {
            Phase::Secondary => (
                rng.between(6, 9),
                &[
                    "teacher",
                    "teacher",
                    "teacher",
                    "middle_leader",
                    "middle_leader",
                    "teaching_assistant",
                    "early_career_teacher",
                    "support_staff",
                    "dsl",
                ],
            ),
            Phase::Special => (
                rng.between(3, 4),
                &[
                    "teacher",
                    "teaching_assistant",
                    "teaching_assistant",
                    "support_staff",
                ],
            ),
            _ => (
                rng.between(1, 3),
                &[
                    "teacher",
                    "teacher",
                    "teacher",
                    "teaching_assistant",
                    "teaching_assistant",
                    "early_years_practitioner",
                    "early_career_teacher",
                    "governor",
                ],
            ),
        };
        for _ in 0..extra {
            let group = *rng.pick(groups);
            person(&mut rng, domain, urn, Some(group), vec![]);
        }
    }
    for _ in 0..4 {
        person(
            &mut rng,
            "alliance-hub.example",
            None,
            None,
            vec![Role::CourseLead],
        );
    }
    for _ in 0..2 {
        person(
            &mut rng,
            "la-school-improvement.example",
            None,
            None,
            vec![Role::CourseLead, Role::CpdGroup],
        );
    }
    Plan { schools, people }
}

/// A postcode in a district: `S70 4QD`. Inward codes never use C, I, K, M, O or V.
fn postcode(rng: &mut Rng, district: &str) -> String {
    const LETTERS: &[u8] = b"ABDEFGHJLNPQRSTUWXYZ";
    let digit = rng.between(1, 9);
    let a = *rng.pick(LETTERS) as char;
    let b = *rng.pick(LETTERS) as char;
    format!("{district} {digit}{a}{b}")
}

/// How many of one kind of record the demo has, and how many this run added.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Count {
    /// In the demo.
    pub total: usize,
    /// Added by this run (the rest were there already).
    pub added: usize,
}

impl Count {
    fn tally(&mut self, created: bool) {
        self.total += 1;
        if created {
            self.added += 1;
        }
    }
}

/// What a run of the seed found and added.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Clusters.
    pub clusters: Count,
    /// Schools.
    pub schools: Count,
    /// Schools by phase (primary, secondary, special).
    pub phases: (usize, usize, usize),
    /// Providers.
    pub providers: Count,
    /// People.
    pub people: Count,
    /// School leads, course leads and CPD group members among them.
    pub leads: (usize, usize, usize),
    /// Courses of the demo term.
    pub courses: Count,
    /// Bookings made by this run (0 when every course had its bookings already).
    pub bookings: usize,
    /// Session registers taken by this run (0 when every held session had its register).
    pub registers: usize,
    /// Evaluation responses made by this run, and the past courses they came from.
    pub evaluations: (usize, usize),
    /// One demo person per role, to sign in as: (role, name, email).
    pub examples: Vec<(&'static str, String, String)>,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = |f: &mut fmt::Formatter<'_>, what: &str, c: Count, more: String| {
            writeln!(f, "  {what:<10} {:>4} ({} added){more}", c.total, c.added)
        };
        writeln!(f, "Demo alliance ready (fictional schools and people):")?;
        line(f, "clusters", self.clusters, String::new())?;
        let (p, s, sp) = self.phases;
        line(
            f,
            "schools",
            self.schools,
            format!(": {p} primary, {s} secondary, {sp} special"),
        )?;
        line(f, "providers", self.providers, String::new())?;
        let (sl, cl, cg) = self.leads;
        line(
            f,
            "people",
            self.people,
            format!(": {sl} school leads, {cl} course leads, {cg} in the CPD group"),
        )?;
        line(f, "courses", self.courses, String::new())?;
        writeln!(f, "  {:<10} {:>4} added", "bookings", self.bookings)?;
        writeln!(f, "  {:<10} {:>4} added", "registers", self.registers)?;
        writeln!(
            f,
            "  {:<10} {:>4} added (answers to {} past courses)",
            "evaluated", self.evaluations.0, self.evaluations.1
        )?;
        writeln!(f, "Running seed-demo again adds only what is missing.")?;
        writeln!(f)?;
        writeln!(f, "Demo people to sign in as, one per role:")?;
        for (role, name, email) in &self.examples {
            writeln!(f, "  {role:<18} {name} <{email}>")?;
        }
        writeln!(
            f,
            "For a sign-in link (no email needed), run: cpd-hub admin sign-in-link --email ADDRESS"
        )?;
        write!(
            f,
            "An admin is made with: cpd-hub admin create --email ADDRESS --name \"NAME\""
        )
    }
}

/// The first planned person of each role, for the summary (someone holding no other role
/// stands for staff).
fn examples(plan: &Plan) -> Vec<(&'static str, String, String)> {
    let first = |label: &'static str, wanted: &dyn Fn(&PlannedPerson) -> bool| {
        plan.people
            .iter()
            .find(|p| wanted(p))
            .map(|p| (label, p.name.clone(), p.email.clone()))
    };
    [
        first("member of staff", &|p| {
            p.roles.is_empty() && p.school_urn.is_some()
        }),
        first("school CPD lead", &|p| p.roles.contains(&Role::SchoolLead)),
        first("course lead", &|p| p.roles == [Role::CourseLead]),
        first("CPD Working Group", &|p| p.roles.contains(&Role::CpdGroup)),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Seeds the demo alliance into a migrated database, adding only what is missing.
pub fn run(conn: &mut DbConn) -> anyhow::Result<Summary> {
    let plan = plan();
    let mut summary = Summary {
        examples: examples(&plan),
        ..Summary::default()
    };
    let school_ids = seed_reference(conn, &plan, &mut summary)?;
    seed_people(conn, &plan, &school_ids, &mut summary)?;
    let lead_ids = crate::store::people::ids_with_role(conn, Role::CourseLead)?;
    let term = super::seed_courses::seed_term(conn, &lead_ids)?;
    summary.courses = Count {
        total: term.created + term.existing,
        added: term.created,
    };
    // Bookings as of now, through the booking rules; a fixed seed keeps the demo the same
    // from run to run.
    let bookings = super::seed_bookings::seed_bookings(conn, crate::domain::time::now(), 2027)?;
    summary.bookings = bookings.bookings;
    // Registers of the sessions already held, with a fixed seed too.
    let registers = super::seed_registers::seed_registers(conn, crate::domain::time::now(), 2027)?;
    summary.registers = registers.sessions;
    // Evaluations of the courses already over (and their registers, where none were taken).
    let evaluations = super::seed_evaluations::seed_evaluations(
        conn,
        crate::domain::time::now(),
        2027,
        crate::config::EvaluationSettings::default().follow_up_weeks,
    )?;
    summary.evaluations = (evaluations.responses, evaluations.courses);
    // Later steps go here, each in its own transaction and taking the ids the steps before
    // it return.
    Ok(summary)
}

/// Clusters, schools and providers. Returns school ids by URN.
pub fn seed_reference(
    conn: &mut DbConn,
    plan: &Plan,
    summary: &mut Summary,
) -> anyhow::Result<HashMap<i64, String>> {
    db::write_tx(conn, |conn| {
        let mut cluster_ids = HashMap::new();
        for (name, primary, secondary, special, _) in CLUSTERS {
            let description = format!(
                "{primary} primary, {secondary} secondary and {special} special schools (demo data)"
            );
            let (id, created) = store::ensure_cluster(conn, name, &description)?;
            summary.clusters.tally(created);
            cluster_ids.insert(*name, id);
        }
        let mut school_ids = HashMap::new();
        for s in &plan.schools {
            let (id, created) = store::ensure_school(
                conn,
                &SchoolSeed {
                    urn: s.urn,
                    name: &s.name,
                    phase: s.phase.as_str(),
                    school_type: s.school_type,
                    cluster_id: cluster_ids.get(s.cluster).map(String::as_str),
                    local_authority: LOCAL_AUTHORITY,
                    postcode: &s.postcode,
                },
            )?;
            summary.schools.tally(created);
            match s.phase {
                Phase::Primary => summary.phases.0 += 1,
                Phase::Secondary => summary.phases.1 += 1,
                _ => summary.phases.2 += 1,
            }
            school_ids.insert(s.urn, id);
        }
        for (name, kind, email, website) in PROVIDERS {
            let (_, created) = store::ensure_provider(conn, name, kind, *email, *website)?;
            summary.providers.tally(created);
        }
        Ok::<_, diesel::result::Error>(school_ids)
    })
    .map_err(|e| anyhow::anyhow!("seeding clusters, schools and providers: {e}"))
}

/// Staff of every school, with a school lead each, and the providers' course leads.
pub fn seed_people(
    conn: &mut DbConn,
    plan: &Plan,
    school_ids: &HashMap<i64, String>,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    db::write_tx(conn, |conn| {
        let mut groups: HashMap<&str, Option<String>> = HashMap::new();
        for p in &plan.people {
            let staff_group_id = match p.staff_group {
                None => None,
                Some(key) => match groups.get(key) {
                    Some(id) => id.clone(),
                    None => {
                        let id = store::staff_group_id(conn, key)?;
                        groups.insert(key, id.clone());
                        id
                    }
                },
            };
            let new = NewPerson {
                name: p.name.clone(),
                email: p.email.clone(),
                school_id: p.school_urn.and_then(|u| school_ids.get(&u).cloned()),
                staff_group_id,
                roles: p.roles.clone(),
            };
            let (_, created) = store::ensure_person(conn, &new)?;
            summary.people.tally(created);
            summary.leads.0 += usize::from(p.roles.contains(&Role::SchoolLead));
            summary.leads.1 += usize::from(p.roles.contains(&Role::CourseLead));
            summary.leads.2 += usize::from(p.roles.contains(&Role::CpdGroup));
        }
        Ok::<_, diesel::result::Error>(())
    })
    .map_err(|e| anyhow::anyhow!("seeding people: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::text::{is_email, normalise_postcode};

    #[test]
    fn the_plan_is_the_same_every_time() {
        assert_eq!(plan(), plan());
    }

    #[test]
    fn schools_follow_the_strategy_mix() {
        let plan = plan();
        assert_eq!(plan.schools.len(), 92);
        let count = |ph: Phase| plan.schools.iter().filter(|s| s.phase == ph).count();
        assert_eq!(
            (
                count(Phase::Primary),
                count(Phase::Secondary),
                count(Phase::Special)
            ),
            (79, 11, 2)
        );
        for (name, primary, secondary, special, _) in CLUSTERS {
            let of = |ph: Phase| {
                plan.schools
                    .iter()
                    .filter(|s| s.cluster == *name && s.phase == ph)
                    .count()
            };
            assert_eq!(
                (of(Phase::Primary), of(Phase::Secondary), of(Phase::Special)),
                (*primary, *secondary, *special),
                "{name}"
            );
        }
        let town = |ph| {
            plan.schools
                .iter()
                .filter(|s| s.cluster == "Town Centre" && s.phase == ph)
                .count()
        };
        assert_eq!(
            (
                town(Phase::Primary),
                town(Phase::Secondary),
                town(Phase::Special)
            ),
            (13, 2, 1)
        );
        assert_eq!(CLUSTERS.len(), 9);
    }

    #[test]
    fn schools_are_distinct_and_well_formed() {
        let plan = plan();
        let urns: HashSet<i64> = plan.schools.iter().map(|s| s.urn).collect();
        let names: HashSet<&str> = plan.schools.iter().map(|s| s.name.as_str()).collect();
        let domains: HashSet<&str> = plan
            .schools
            .iter()
            .map(|s| s.email_domain.as_str())
            .collect();
        assert_eq!((urns.len(), names.len(), domains.len()), (92, 92, 92));
        for s in &plan.schools {
            assert!((100_000..=999_999).contains(&s.urn));
            assert_eq!(
                normalise_postcode(&s.postcode).as_deref(),
                Some(s.postcode.as_str())
            );
            let district = s.postcode.split(' ').next().unwrap();
            assert!(
                ["S36", "S70", "S71", "S72", "S73", "S74", "S75"].contains(&district),
                "{}",
                s.postcode
            );
            assert!(s.email_domain.ends_with(".sch.example") && !s.email_domain.contains('_'));
        }
    }

    #[test]
    fn people_are_a_few_hundred_with_unique_emails_and_a_lead_per_school() {
        let plan = plan();
        let n = plan.people.len();
        assert!((400..=600).contains(&n), "{n} people");
        let emails: HashSet<&str> = plan.people.iter().map(|p| p.email.as_str()).collect();
        assert_eq!(emails.len(), n);
        assert!(plan
            .people
            .iter()
            .all(|p| is_email(&p.email) && p.email == p.email.to_lowercase()));
        for s in &plan.schools {
            let leads = plan
                .people
                .iter()
                .filter(|p| p.school_urn == Some(s.urn) && p.roles.contains(&Role::SchoolLead))
                .count();
            assert_eq!(leads, 1, "{}", s.name);
            let own = plan.people.iter().filter(|p| p.school_urn == Some(s.urn));
            assert!(own
                .clone()
                .all(|p| p.email.ends_with(&format!("@{}", s.email_domain))));
        }
        let with = |r| plan.people.iter().filter(|p| p.roles.contains(&r)).count();
        assert!(with(Role::CourseLead) >= 3 && with(Role::CpdGroup) >= 3);
        assert_eq!(with(Role::Admin), 0);
        let groups: HashSet<&str> = plan.people.iter().filter_map(|p| p.staff_group).collect();
        assert!(groups.len() >= 8, "{groups:?}");
        for g in groups {
            assert!(
                crate::store::reference::DEFAULT_STAFF_GROUPS
                    .iter()
                    .any(|(k, _)| *k == g),
                "{g}"
            );
        }
    }
}
