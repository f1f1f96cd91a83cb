//! Generating rows

use super::*;

/// Booking states in the replay.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum St {
    Pending,
    Confirmed,
    Waitlisted,
    Cancelled,
    Declined,
}

impl St {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            St::Pending => "pending_approval",
            St::Confirmed => "confirmed",
            St::Waitlisted => "waitlisted",
            St::Cancelled => "cancelled",
            St::Declined => "declined",
        }
    }
    pub(super) fn active(self) -> bool {
        matches!(self, St::Pending | St::Confirmed | St::Waitlisted)
    }
}

pub(super) struct Bk {
    pub(super) person: u32,
    pub(super) requested_at: NaiveDateTime,
    pub(super) status: St,
    pub(super) confirmed_at: Option<NaiveDateTime>,
    pub(super) cancelled_at: Option<NaiveDateTime>,
    pub(super) late: bool,
    pub(super) cancel_reason: Option<&'static str>,
    pub(super) declined: bool,
    pub(super) updated_at: NaiveDateTime,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Ev {
    Request,
    Decide,
    Cancel,
}

/// Draws a course's bookers and replays their requests, decisions and cancellations in time
/// order: places go first come, first served, a freed place goes to the earliest on the
/// waiting list, and nothing happens after the course starts (or after `as_of`).
pub(super) fn replay(c: &Course, plan: &Plan, n_groups: usize, rng: &mut StdRng) -> Vec<Bk> {
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
pub(super) fn rating(rng: &mut StdRng, mean: f64) -> i64 {
    let noise: f64 = (0..3).map(|_| rng.gen_range(-0.5..0.5)).sum::<f64>() * 1.2;
    (mean + noise).round().clamp(1.0, 5.0) as i64
}

pub(super) struct Ids {
    pub(super) booking: u64,
    pub(super) session: u64,
    pub(super) invitation: u64,
    pub(super) response: u64,
}

/// What a response's answers add up to, for its denormalised columns.
#[derive(Default)]
pub(super) struct Headline {
    pub(super) satisfaction: Option<i64>,
    pub(super) impact: Option<i64>,
    pub(super) before: Vec<i64>,
    pub(super) after: Vec<i64>,
    pub(super) consent: Option<bool>,
}

/// Generates every row and sends it to the writer.
pub(super) fn generate(
    plan: &Plan,
    refs: &Refs,
    sink: &mut Sink,
    pb: &ProgressBar,
) -> Result<(), WriterGone> {
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
pub(super) fn course_rows(
    plan: &Plan,
    refs: &Refs,
    sink: &mut Sink,
    ci: usize,
    c: &Course,
    bks: &[Bk],
    ids: &mut Ids,
    rng: &mut StdRng,
) -> Result<(), WriterGone> {
    use cpd_hub::domain::course::Format;
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
        .s(&cpd_hub::domain::markdown::to_safe_html(&summary))
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
pub(super) fn invitation_rows(
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
    // What the answers add to the impact figures, as the service's triggers keep them: the
    // confidence shift over every retrospective pair, and the answers at each Guskey level.
    let (mut shift, mut pairs, mut guskey) = (0i64, 0i64, [0i64; 5]);
    for (qi, _, pair, _, _) in &answers {
        if let Some((before, after)) = pair {
            shift += after - before;
            pairs += 1;
        }
        if let Some(n) = (form.questions[*qi].level as usize)
            .checked_sub(1)
            .and_then(|i| guskey.get_mut(i))
        {
            *n += 1;
        }
    }
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
        .opt_b(h.consent)
        .i(shift)
        .i(pairs)
        .i(guskey[0])
        .i(guskey[1])
        .i(guskey[2])
        .i(guskey[3])
        .i(guskey[4]);
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

/// An answer before it is written: question index, rating, before/after pair, choices, text.
pub(super) type AnswerRow<'a> = (
    usize,
    Option<i64>,
    Option<(i64, i64)>,
    Option<String>,
    Option<&'a str>,
);
