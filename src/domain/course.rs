//! Courses and their sessions: formats and statuses, the rules a course must keep (checked all
//! at once, so a form can show every problem together), and how session times are shown in
//! Europe/London.

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveDateTime, SecondsFormat, TimeZone};
use serde::{Deserialize, Serialize};

use super::school::Phase;
use super::text::normalise_postcode;
use super::time::LONDON;

/// Field name -> messages: every problem found, for a 422.
pub type Problems = BTreeMap<String, Vec<String>>;

/// Longest title, in characters.
pub const TITLE_MAX: usize = 200;
/// Longest summary (Markdown), in characters.
pub const SUMMARY_MAX: usize = 20_000;
/// Longest venue name.
pub const VENUE_NAME_MAX: usize = 200;
/// Longest venue address.
pub const VENUE_ADDRESS_MAX: usize = 500;
/// Longest session note.
pub const NOTE_MAX: usize = 2_000;
/// Longest online link.
pub const URL_MAX: usize = 2_000;
/// Longest cancellation reason.
pub const REASON_MAX: usize = 2_000;
/// Most places on one course.
pub const CAPACITY_MAX: i32 = 10_000;
/// Highest price of a place, in pence (GBP 100,000).
pub const PRICE_MAX: i32 = 10_000_000;
/// Most sessions in one course.
pub const SESSIONS_MAX: usize = 100;

/// Adds a message to a field.
pub fn add_problem(problems: &mut Problems, field: impl Into<String>, message: impl Into<String>) {
    problems
        .entry(field.into())
        .or_default()
        .push(message.into());
}

/// How a course is delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// At a venue: every session needs a venue.
    InPerson,
    /// Online: every session needs a link.
    Online,
    /// At a venue and online at once: every session needs both.
    Hybrid,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 3] = [Format::InPerson, Format::Online, Format::Hybrid];

    /// The stored and exchanged name.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::InPerson => "in_person",
            Format::Online => "online",
            Format::Hybrid => "hybrid",
        }
    }

    /// Reads a stored name.
    pub fn parse(s: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// Whether its sessions need a venue.
    pub fn needs_venue(self) -> bool {
        matches!(self, Format::InPerson | Format::Hybrid)
    }

    /// Whether its sessions need an online link.
    pub fn needs_online_url(self) -> bool {
        matches!(self, Format::Online | Format::Hybrid)
    }
}

/// Where a course is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CourseStatus {
    /// Being prepared; seen only by admins and the course's leads.
    Draft,
    /// In the calendar, open to anyone's view (booking follows its window).
    Published,
    /// Called off; bookings were cancelled with it.
    Cancelled,
}

impl CourseStatus {
    /// Every status.
    pub const ALL: [CourseStatus; 3] = [
        CourseStatus::Draft,
        CourseStatus::Published,
        CourseStatus::Cancelled,
    ];

    /// The stored and exchanged name.
    pub fn as_str(self) -> &'static str {
        match self {
            CourseStatus::Draft => "draft",
            CourseStatus::Published => "published",
            CourseStatus::Cancelled => "cancelled",
        }
    }

    /// Reads a stored name.
    pub fn parse(s: &str) -> Option<CourseStatus> {
        CourseStatus::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

/// Which courses a caller may see in lists and feeds (decided by `auth::policy`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CourseScope {
    /// Every course, whatever its status.
    All,
    /// Published courses, and any course this person leads.
    PublishedOrLedBy(String),
    /// Published courses only.
    Published,
}

/// Where an in-person session happens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Venue {
    /// The venue's name.
    #[schema(example = "Barnsley Teaching Hub")]
    pub name: String,
    /// Street address.
    #[schema(example = "Church Street, Barnsley")]
    pub address: String,
    /// UK postcode, normalised (`S70 2HZ`); empty when not given.
    #[schema(example = "S70 2HZ")]
    pub postcode: String,
}

/// A session as planned: what the rules check.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionPlan {
    /// Start (UTC).
    pub start: NaiveDateTime,
    /// End (UTC).
    pub end: NaiveDateTime,
    /// The venue, for in-person and hybrid courses.
    pub venue: Option<Venue>,
    /// The joining link, for online and hybrid courses.
    pub online_url: Option<String>,
    /// A note for attendees ("bring a laptop").
    pub note: Option<String>,
}

impl SessionPlan {
    /// Trims text, normalises a valid postcode, and turns blank optional text into `None`.
    pub fn normalise(&mut self) {
        if let Some(v) = &mut self.venue {
            v.name = v.name.trim().to_string();
            v.address = v.address.trim().to_string();
            let pc = v.postcode.trim();
            v.postcode = normalise_postcode(pc).unwrap_or_else(|| pc.to_string());
        }
        self.online_url = blank_to_none(self.online_url.take());
        self.note = blank_to_none(self.note.take());
    }
}

fn blank_to_none(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// A whole course as planned: everything the rules check, apart from whether the ids it
/// refers to exist (the store checks those).
#[derive(Clone, Debug, PartialEq)]
pub struct CoursePlan {
    /// Title.
    pub title: String,
    /// Summary, Markdown.
    pub summary: String,
    /// `in_person`, `online` or `hybrid` (checked here, so a bad value is reported with the rest).
    pub format: String,
    /// Places.
    pub capacity: i32,
    /// Most confirmed places one school may hold.
    pub per_school_cap: Option<i32>,
    /// When the per-school cap lifts.
    pub per_school_cap_until: Option<NaiveDateTime>,
    /// Price of a place in pence (0: free).
    pub price_pence: i32,
    /// Booking opens (None: on publication).
    pub booking_opens: Option<NaiveDateTime>,
    /// Booking closes (None: when the first session starts).
    pub booking_closes: Option<NaiveDateTime>,
    /// Cancelling after this is a late cancellation.
    pub cancellation_deadline: Option<NaiveDateTime>,
    /// Whether requests need the school lead's approval.
    pub requires_approval: bool,
    /// Completion rule: attend at least this many sessions.
    pub completion_min_sessions: Option<i32>,
    /// Target phases (empty: every phase).
    pub phases: Vec<String>,
    /// The sessions.
    pub sessions: Vec<SessionPlan>,
}

impl CoursePlan {
    /// When the first session starts.
    pub fn first_start(&self) -> Option<NaiveDateTime> {
        self.sessions.iter().map(|s| s.start).min()
    }

    /// When the last session ends.
    pub fn last_end(&self) -> Option<NaiveDateTime> {
        self.sessions.iter().map(|s| s.end).max()
    }

    /// Trims text, drops repeated phases and normalises the sessions.
    pub fn normalise(&mut self) {
        self.title = self.title.trim().to_string();
        let mut seen = Vec::new();
        for p in self.phases.drain(..) {
            let p = p.trim().to_string();
            if !seen.contains(&p) {
                seen.push(p);
            }
        }
        self.phases = seen;
        for s in &mut self.sessions {
            s.normalise();
        }
    }
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

fn describe(t: NaiveDateTime) -> String {
    london_rfc3339(t)
}

/// Checks every rule of a course and its sessions, naming session fields `sessions[i].field`.
pub fn check_course(plan: &CoursePlan) -> Problems {
    check_course_named(plan, &|i| format!("sessions[{i}]."))
}

/// As [`check_course`], with the prefix of each session's field names given by `prefix`
/// (the session endpoints name the session being edited without one).
pub fn check_course_named(plan: &CoursePlan, prefix: &dyn Fn(usize) -> String) -> Problems {
    let mut p = Problems::new();
    let title = plan.title.trim();
    if title.is_empty() {
        add_problem(&mut p, "title", "must not be empty");
    } else if chars(title) > TITLE_MAX {
        add_problem(
            &mut p,
            "title",
            format!("must be at most {TITLE_MAX} characters long"),
        );
    }
    if chars(&plan.summary) > SUMMARY_MAX {
        add_problem(
            &mut p,
            "summary",
            format!("must be at most {SUMMARY_MAX} characters long"),
        );
    }
    let format = Format::parse(&plan.format);
    if format.is_none() {
        add_problem(&mut p, "format", "must be one of in_person, online, hybrid");
    }
    if !(1..=CAPACITY_MAX).contains(&plan.capacity) {
        add_problem(
            &mut p,
            "capacity",
            format!("must be from 1 to {CAPACITY_MAX}"),
        );
    }
    if let Some(cap) = plan.per_school_cap {
        if cap < 1 || cap > plan.capacity.max(1) {
            add_problem(
                &mut p,
                "per_school_cap",
                format!("must be from 1 to the capacity ({})", plan.capacity),
            );
        }
    } else if plan.per_school_cap_until.is_some() {
        add_problem(
            &mut p,
            "per_school_cap_until",
            "there is no per_school_cap to lift",
        );
    }
    if !(0..=PRICE_MAX).contains(&plan.price_pence) {
        add_problem(
            &mut p,
            "price_pence",
            format!("must be from 0 to {PRICE_MAX}"),
        );
    }
    if let Some(n) = plan.completion_min_sessions {
        if n < 1 {
            add_problem(&mut p, "completion_min_sessions", "must be at least 1");
        } else if !plan.sessions.is_empty() && n as usize > plan.sessions.len() {
            add_problem(
                &mut p,
                "completion_min_sessions",
                format!(
                    "must be at most the number of sessions ({})",
                    plan.sessions.len()
                ),
            );
        }
    }
    for (i, phase) in plan.phases.iter().enumerate() {
        if Phase::parse(phase).is_none() {
            let all: Vec<&str> = Phase::ALL.iter().map(|p| p.as_str()).collect();
            add_problem(
                &mut p,
                format!("phases[{i}]"),
                format!("{phase:?} is not a phase; use one of {}", all.join(", ")),
            );
        }
    }

    if let (Some(opens), Some(closes)) = (plan.booking_opens, plan.booking_closes) {
        if opens >= closes {
            add_problem(&mut p, "booking_opens", "must be before booking_closes");
            add_problem(&mut p, "booking_closes", "must be after booking_opens");
        }
    }
    if let Some(first) = plan.first_start() {
        if let Some(closes) = plan.booking_closes {
            if closes > first {
                add_problem(
                    &mut p,
                    "booking_closes",
                    format!(
                        "must be no later than the start of the first session ({})",
                        describe(first)
                    ),
                );
            }
        }
        if let Some(opens) = plan.booking_opens {
            if opens >= first {
                add_problem(
                    &mut p,
                    "booking_opens",
                    format!(
                        "must be before the start of the first session ({})",
                        describe(first)
                    ),
                );
            }
        }
        if let Some(deadline) = plan.cancellation_deadline {
            if deadline > first {
                add_problem(
                    &mut p,
                    "cancellation_deadline",
                    format!(
                        "must be no later than the start of the first session ({})",
                        describe(first)
                    ),
                );
            }
        }
    }

    if plan.sessions.len() > SESSIONS_MAX {
        add_problem(
            &mut p,
            "sessions",
            format!("a course has at most {SESSIONS_MAX} sessions"),
        );
    }
    for (i, s) in plan.sessions.iter().enumerate() {
        check_session_into(format, s, &prefix(i), &mut p);
    }
    p
}

/// Checks a course that is about to be published: every rule, and at least one session.
pub fn check_publishable(plan: &CoursePlan) -> Problems {
    let mut p = check_course(plan);
    if plan.sessions.is_empty() {
        add_problem(
            &mut p,
            "sessions",
            "a course needs at least one session before it can be published; add one with POST /api/v1/courses/{id}/sessions",
        );
    }
    p
}

/// Checks one session for a course of the given format (None: the format is itself invalid,
/// so venue and link rules are not applied), naming fields with `prefix`.
pub fn check_session(format: Option<Format>, s: &SessionPlan, prefix: &str) -> Problems {
    let mut p = Problems::new();
    check_session_into(format, s, prefix, &mut p);
    p
}

fn check_session_into(format: Option<Format>, s: &SessionPlan, prefix: &str, p: &mut Problems) {
    let f = |name: &str| format!("{prefix}{name}");
    if s.end <= s.start {
        add_problem(p, f("end"), "must be after the start");
    }
    if let Some(v) = &s.venue {
        if v.name.trim().is_empty() {
            add_problem(p, f("venue.name"), "must not be empty");
        } else if chars(&v.name) > VENUE_NAME_MAX {
            add_problem(
                p,
                f("venue.name"),
                format!("must be at most {VENUE_NAME_MAX} characters long"),
            );
        }
        if chars(&v.address) > VENUE_ADDRESS_MAX {
            add_problem(
                p,
                f("venue.address"),
                format!("must be at most {VENUE_ADDRESS_MAX} characters long"),
            );
        }
        if !v.postcode.trim().is_empty() && normalise_postcode(&v.postcode).is_none() {
            add_problem(
                p,
                f("venue.postcode"),
                "must be a UK postcode such as S70 2HZ",
            );
        }
    }
    if let Some(url) = &s.online_url {
        if chars(url) > URL_MAX {
            add_problem(
                p,
                f("online_url"),
                format!("must be at most {URL_MAX} characters long"),
            );
        } else if !is_web_link(url) {
            add_problem(p, f("online_url"), "must be an http or https link");
        }
    }
    if let Some(note) = &s.note {
        if chars(note) > NOTE_MAX {
            add_problem(
                p,
                f("note"),
                format!("must be at most {NOTE_MAX} characters long"),
            );
        }
    }
    match format {
        Some(fmt) if fmt.needs_venue() && s.venue.is_none() => {
            add_problem(
                p,
                f("venue"),
                format!("a session of an {} course needs a venue", fmt.as_str()),
            );
        }
        _ => {}
    }
    match format {
        Some(fmt) if fmt.needs_online_url() && s.online_url.is_none() => {
            add_problem(
                p,
                f("online_url"),
                format!(
                    "a session of an {} course needs an online link",
                    fmt.as_str()
                ),
            );
        }
        _ => {}
    }
}

/// Whether a link is an absolute http(s) URL with a host.
fn is_web_link(s: &str) -> bool {
    match url::Url::parse(s.trim()) {
        Ok(u) => {
            matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty())
        }
        Err(_) => false,
    }
}

/// Checks a cancellation reason.
pub fn check_reason(reason: &str) -> Problems {
    let mut p = Problems::new();
    if reason.trim().is_empty() {
        add_problem(
            &mut p,
            "reason",
            "must not be empty: it is sent to everyone booked",
        );
    } else if chars(reason) > REASON_MAX {
        add_problem(
            &mut p,
            "reason",
            format!("must be at most {REASON_MAX} characters long"),
        );
    }
    p
}

/// A stored UTC time shown in Europe/London as RFC 3339 with its offset, e.g.
/// `2027-03-28T10:00:00+01:00`.
pub fn london_rfc3339(t: NaiveDateTime) -> String {
    LONDON
        .from_utc_datetime(&t)
        .to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

/// A session's times as people in the alliance read them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalTimes {
    /// Start in Europe/London, RFC 3339 with the offset.
    pub start: String,
    /// End in Europe/London, RFC 3339 with the offset.
    pub end: String,
    /// E.g. `Sun 28 Mar 2027, 10:00-12:00`, or both dates when it runs past midnight.
    pub display: String,
}

/// Shows a session's UTC times in Europe/London, whatever the clock changes between them.
pub fn london_times(start: NaiveDateTime, end: NaiveDateTime) -> LocalTimes {
    let s = LONDON.from_utc_datetime(&start);
    let e = LONDON.from_utc_datetime(&end);
    let display = if s.date_naive() == e.date_naive() {
        format!(
            "{}, {}-{}",
            s.format("%a %-d %b %Y"),
            s.format("%H:%M"),
            e.format("%H:%M")
        )
    } else {
        format!(
            "{} to {}",
            s.format("%a %-d %b %Y, %H:%M"),
            e.format("%a %-d %b %Y, %H:%M")
        )
    };
    LocalTimes {
        start: london_rfc3339(start),
        end: london_rfc3339(end),
        display,
    }
}

/// A start time for people, in Europe/London: `Thu 14 Jan 2027, 09:00`.
pub fn london_start_display(t: NaiveDateTime) -> String {
    LONDON
        .from_utc_datetime(&t)
        .format("%a %-d %b %Y, %H:%M")
        .to_string()
}

/// The UTC instant at which a Europe/London calendar day begins.
pub fn london_day_start(day: NaiveDate) -> NaiveDateTime {
    let midnight = day.and_hms_opt(0, 0, 0).expect("midnight exists");
    // London's clocks change at 01:00 and 02:00, never at midnight, so midnight is unambiguous;
    // `earliest` still gives an answer if that ever changed.
    LONDON
        .from_local_datetime(&midnight)
        .earliest()
        .map(|t| t.naive_utc())
        .unwrap_or(midnight)
}

/// Reads a list bound: an RFC 3339 time with an offset, or a date (`2027-01-14`) meaning the
/// start of that day in Europe/London (`end_of_day`: the last microsecond of that day).
pub fn parse_bound(s: &str, end_of_day: bool) -> Result<NaiveDateTime, String> {
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.naive_utc());
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(if end_of_day {
            let next = d.succ_opt().unwrap_or(d);
            london_day_start(next) - chrono::Duration::microseconds(1)
        } else {
            london_day_start(d)
        });
    }
    Err(format!(
        "{s:?} is neither a date such as 2027-01-14 nor an RFC 3339 time with an offset, such as 2027-01-14T09:00:00Z"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        chrono::DateTime::parse_from_rfc3339(s).unwrap().naive_utc()
    }

    fn session(start: &str, end: &str) -> SessionPlan {
        SessionPlan {
            start: at(start),
            end: at(end),
            venue: Some(Venue {
                name: "Hub".into(),
                address: "Church St".into(),
                postcode: "s702hz".into(),
            }),
            online_url: None,
            note: None,
        }
    }

    fn plan() -> CoursePlan {
        CoursePlan {
            title: "Phonics".into(),
            summary: String::new(),
            format: "in_person".into(),
            capacity: 30,
            per_school_cap: None,
            per_school_cap_until: None,
            price_pence: 0,
            booking_opens: None,
            booking_closes: None,
            cancellation_deadline: None,
            requires_approval: false,
            completion_min_sessions: None,
            phases: vec![],
            sessions: vec![session("2027-01-14T09:00:00Z", "2027-01-14T15:30:00Z")],
        }
    }

    fn fields(p: &Problems) -> Vec<&str> {
        p.keys().map(String::as_str).collect()
    }

    #[test]
    fn a_good_course_passes() {
        let mut c = plan();
        c.normalise();
        assert_eq!(c.sessions[0].venue.as_ref().unwrap().postcode, "S70 2HZ");
        assert!(check_course(&c).is_empty());
        assert!(check_publishable(&c).is_empty());
    }

    #[test]
    fn every_problem_is_named_at_once() {
        let mut c = plan();
        c.title = " ".into();
        c.capacity = 0;
        c.per_school_cap = Some(5);
        c.price_pence = -1;
        c.phases = vec!["primary".into(), "college".into()];
        c.sessions[0].end = c.sessions[0].start;
        c.booking_closes = Some(at("2027-01-15T00:00:00Z"));
        c.cancellation_deadline = Some(at("2027-01-14T09:00:01Z"));
        let p = check_course(&c);
        assert_eq!(
            fields(&p),
            vec![
                "booking_closes",
                "cancellation_deadline",
                "capacity",
                "per_school_cap",
                "phases[1]",
                "price_pence",
                "sessions[0].end",
                "title"
            ]
        );
    }

    #[test]
    fn per_school_cap_is_within_capacity() {
        let mut c = plan();
        c.per_school_cap = Some(30);
        assert!(check_course(&c).is_empty());
        c.per_school_cap = Some(31);
        assert_eq!(fields(&check_course(&c)), vec!["per_school_cap"]);
        c.per_school_cap = Some(0);
        assert_eq!(fields(&check_course(&c)), vec!["per_school_cap"]);
        c.per_school_cap = None;
        c.per_school_cap_until = Some(at("2027-01-01T00:00:00Z"));
        assert_eq!(fields(&check_course(&c)), vec!["per_school_cap_until"]);
    }

    #[test]
    fn booking_window() {
        let mut c = plan();
        c.booking_opens = Some(at("2027-01-10T00:00:00Z"));
        c.booking_closes = Some(at("2027-01-09T00:00:00Z"));
        assert_eq!(
            fields(&check_course(&c)),
            vec!["booking_closes", "booking_opens"]
        );
        // Closing exactly when the first session starts is allowed.
        c.booking_opens = None;
        c.booking_closes = Some(at("2027-01-14T09:00:00Z"));
        assert!(check_course(&c).is_empty());
        // Opening after the first session started can never open.
        c.booking_closes = None;
        c.booking_opens = Some(at("2027-01-14T09:00:00Z"));
        assert_eq!(fields(&check_course(&c)), vec!["booking_opens"]);
        // Without sessions the window is only checked against itself.
        c.sessions.clear();
        assert!(check_course(&c).is_empty());
    }

    #[test]
    fn format_decides_venue_and_link() {
        let mut c = plan();
        c.format = "online".into();
        assert_eq!(fields(&check_course(&c)), vec!["sessions[0].online_url"]);
        c.sessions[0].online_url = Some("https://meet.example.org/x".into());
        assert!(check_course(&c).is_empty());
        c.format = "hybrid".into();
        c.sessions[0].venue = None;
        assert_eq!(fields(&check_course(&c)), vec!["sessions[0].venue"]);
        c.format = "webinar".into();
        assert_eq!(fields(&check_course(&c)), vec!["format"]);
        c.format = "online".into();
        c.sessions[0].online_url = Some("javascript:alert(1)".into());
        assert_eq!(fields(&check_course(&c)), vec!["sessions[0].online_url"]);
    }

    #[test]
    fn lengths_and_postcodes() {
        let mut c = plan();
        c.title = "x".repeat(TITLE_MAX + 1);
        c.summary = "x".repeat(SUMMARY_MAX + 1);
        c.sessions[0].note = Some("x".repeat(NOTE_MAX + 1));
        c.sessions[0].venue.as_mut().unwrap().postcode = "nowhere".into();
        assert_eq!(
            fields(&check_course(&c)),
            vec![
                "sessions[0].note",
                "sessions[0].venue.postcode",
                "summary",
                "title"
            ]
        );
        // Characters, not bytes.
        c = plan();
        c.title = "é".repeat(TITLE_MAX);
        assert!(check_course(&c).is_empty());
    }

    #[test]
    fn completion_rule_fits_the_sessions() {
        let mut c = plan();
        c.completion_min_sessions = Some(2);
        assert_eq!(fields(&check_course(&c)), vec!["completion_min_sessions"]);
        c.sessions
            .push(session("2027-01-21T09:00:00Z", "2027-01-21T12:00:00Z"));
        assert!(check_course(&c).is_empty());
        c.completion_min_sessions = Some(0);
        assert_eq!(fields(&check_course(&c)), vec!["completion_min_sessions"]);
    }

    #[test]
    fn publishing_needs_a_session() {
        let mut c = plan();
        c.sessions.clear();
        assert!(check_course(&c).is_empty());
        assert_eq!(fields(&check_publishable(&c)), vec!["sessions"]);
    }

    #[test]
    fn session_fields_can_be_named_without_prefix() {
        let s = session("2027-01-14T09:00:00Z", "2027-01-14T08:00:00Z");
        assert_eq!(
            fields(&check_session(Some(Format::InPerson), &s, "")),
            vec!["end"]
        );
    }

    #[test]
    fn london_times_across_both_clock_changes() {
        // Spring forward: 28 March 2027, 01:00 UTC.
        let t = london_times(at("2027-03-28T09:00:00Z"), at("2027-03-28T11:00:00Z"));
        assert_eq!(t.start, "2027-03-28T10:00:00+01:00");
        assert_eq!(t.display, "Sun 28 Mar 2027, 10:00-12:00");
        let t = london_times(at("2027-03-28T00:30:00Z"), at("2027-03-28T01:30:00Z"));
        assert_eq!(t.display, "Sun 28 Mar 2027, 00:30-02:30");
        // Fall back: 31 October 2027, 01:00 UTC.
        let t = london_times(at("2027-10-30T09:00:00Z"), at("2027-10-30T11:00:00Z"));
        assert_eq!(t.start, "2027-10-30T10:00:00+01:00");
        let t = london_times(at("2027-10-31T10:00:00Z"), at("2027-10-31T12:00:00Z"));
        assert_eq!(t.start, "2027-10-31T10:00:00+00:00");
        assert_eq!(t.end, "2027-10-31T12:00:00+00:00");
        assert_eq!(t.display, "Sun 31 Oct 2027, 10:00-12:00");
        let t = london_times(at("2027-01-14T20:00:00Z"), at("2027-01-15T09:00:00Z"));
        assert_eq!(
            t.display,
            "Thu 14 Jan 2027, 20:00 to Fri 15 Jan 2027, 09:00"
        );
    }

    #[test]
    fn bounds() {
        assert_eq!(
            parse_bound("2027-07-01", false).unwrap(),
            at("2027-06-30T23:00:00Z")
        );
        assert_eq!(
            parse_bound("2027-01-14", true).unwrap(),
            at("2027-01-14T23:59:59.999999Z")
        );
        assert_eq!(
            parse_bound("2027-01-14T09:00:00+01:00", false).unwrap(),
            at("2027-01-14T08:00:00Z")
        );
        assert!(parse_bound("2027-01-14T09:00:00", false)
            .unwrap_err()
            .contains("offset"));
    }
}
