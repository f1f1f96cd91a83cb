//! The plan: schools, staff and courses, in memory (the big rows are generated while loading).

use super::*;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum SchoolClass {
    Active,
    /// Booked only in the first academic year.
    Lapsed,
    /// Never books.
    Cold,
}

pub(super) struct School {
    pub(super) cluster: u32,
    pub(super) phase: usize,
    pub(super) class: SchoolClass,
    /// How keen its staff are: 1 to 3 (a person appears this many times in the draw).
    pub(super) keen: u8,
}

pub(super) struct Person {
    pub(super) school: u32,
    pub(super) group: u8,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Status {
    Published,
    Draft,
    Cancelled,
}

pub(super) struct Course {
    pub(super) topic: usize,
    pub(super) format: cpd_hub::domain::course::Format,
    pub(super) capacity: i32,
    pub(super) price: i32,
    pub(super) approval: bool,
    pub(super) status: Status,
    pub(super) cluster: Option<u32>,
    pub(super) provider: u32,
    pub(super) leads: Vec<u32>,
    pub(super) groups: Vec<u8>,
    pub(super) phases: Vec<usize>,
    pub(super) priorities: Vec<u8>,
    pub(super) sessions: Vec<(NaiveDateTime, NaiveDateTime)>,
    pub(super) venue: usize,
    pub(super) year: usize,
    pub(super) created_at: NaiveDateTime,
    pub(super) cancelled_at: Option<NaiveDateTime>,
    /// -1 (poor) to 1 (excellent): moves ratings and impact.
    pub(super) quality: f64,
    /// How likely people are to not turn up, relative to the average.
    pub(super) no_show: f64,
    /// Share of invitations answered.
    pub(super) response: f64,
    pub(super) demand: f64,
    pub(super) bookings: usize,
}

impl Course {
    pub(super) fn first(&self) -> NaiveDateTime {
        self.sessions[0].0
    }
    pub(super) fn booking_opens(&self) -> NaiveDateTime {
        self.first() - Duration::days(70)
    }
    pub(super) fn booking_closes(&self) -> NaiveDateTime {
        self.first() - Duration::days(3)
    }
    pub(super) fn cancellation_deadline(&self) -> NaiveDateTime {
        self.first() - Duration::days(7)
    }
    /// The last moment a booking can be requested, as of `as_of`.
    pub(super) fn requests_until(&self, as_of: NaiveDateTime) -> NaiveDateTime {
        let mut end = self.booking_closes().min(as_of);
        if let Some(c) = self.cancelled_at {
            end = end.min(c);
        }
        end
    }
}

/// Staff grouped by (staff group, phase, lapsed school) for drawing bookers; each person
/// appears as often as their school is keen.
pub(super) struct Pools {
    pub(super) buckets: Vec<Vec<u32>>,
    pub(super) distinct: Vec<usize>,
    pub(super) n_phases: usize,
}

impl Pools {
    pub(super) fn index(&self, group: usize, phase: usize, lapsed: bool) -> usize {
        (group * self.n_phases + phase) * 2 + lapsed as usize
    }

    /// The buckets a course draws from, as (bucket, cumulative weight), and how many distinct
    /// people they hold.
    pub(super) fn for_course(&self, c: &Course, n_groups: usize) -> (Vec<(usize, usize)>, usize) {
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
pub(super) struct Refs {
    pub(super) groups: Vec<String>,
    pub(super) group_keys: Vec<String>,
    pub(super) priorities: Vec<String>,
    pub(super) priority_keys: Vec<String>,
    pub(super) post: Form,
    pub(super) follow_up: Form,
}

#[derive(Clone)]
pub(super) struct Form {
    pub(super) id: String,
    pub(super) questions: Vec<Question>,
}

#[derive(Clone)]
pub(super) struct Question {
    pub(super) id: String,
    pub(super) kind: String,
    pub(super) level: i32,
    pub(super) metric: Option<String>,
    pub(super) options: Vec<String>,
}

pub(super) struct Plan {
    pub(super) sizes: NationalSizes,
    pub(super) as_of: NaiveDateTime,
    pub(super) seed: u64,
    pub(super) schools: Vec<School>,
    pub(super) people: Vec<Person>,
    /// First person of each school (its headteacher, and its school lead).
    pub(super) school_first: Vec<u32>,
    pub(super) lead_people: Vec<u32>,
    pub(super) courses: Vec<Course>,
    pub(super) pools: Pools,
}

pub(super) fn london(d: NaiveDate, hm: (u32, u32)) -> NaiveDateTime {
    let t = NaiveTime::from_hms_opt(hm.0, hm.1, 0).expect("a valid time");
    LONDON
        .from_local_datetime(&d.and_time(t))
        .earliest()
        .map(|t| t.naive_utc())
        .unwrap_or_else(|| d.and_time(t))
}

pub(super) fn weighted<T: Copy>(rng: &mut StdRng, items: &[(T, u32)]) -> T {
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

pub(super) fn plan(opts: &NationalOptions, refs: &Refs) -> Plan {
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
    let last_year = cpd_hub::domain::term::academic_year_of(opts.as_of.date());
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
pub(super) fn make_course(
    rng: &mut StdRng,
    years: &[i32; 3],
    as_of: NaiveDateTime,
    n_clusters: usize,
    leads: &[u32],
    group_idx: &dyn Fn(&str) -> Option<usize>,
    priority_idx: &dyn Fn(&str) -> Option<usize>,
    phase_idx: &dyn Fn(Phase) -> usize,
) -> Course {
    use cpd_hub::domain::course::Format;
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
