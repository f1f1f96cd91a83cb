//! Attendance rules: the statuses a register records (invariant 5), which of them count as
//! attending, when a booking is complete, the hours a person's CPD record counts, when self
//! check-in is open (and when it makes someone late), when a register locks, and the short
//! codes attendees type to check in. Pure functions over plain facts; `store::attendance`
//! gathers the facts and applies the decisions.

use chrono::{Duration, NaiveDateTime};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// A person's attendance at one session (invariant 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttendanceStatus {
    /// There for the session.
    Present,
    /// Arrived after the start (after the check-in grace period, for a self check-in).
    Late,
    /// Left before the end.
    LeftEarly,
    /// Did not come, without telling anyone.
    Absent,
    /// Did not come, and said so beforehand (not a no-show).
    Apologies,
}

impl AttendanceStatus {
    /// Every status, in the order a register offers them.
    pub const ALL: [AttendanceStatus; 5] = [
        AttendanceStatus::Present,
        AttendanceStatus::Late,
        AttendanceStatus::LeftEarly,
        AttendanceStatus::Absent,
        AttendanceStatus::Apologies,
    ];

    /// The stored and exchanged name.
    pub fn as_str(self) -> &'static str {
        match self {
            AttendanceStatus::Present => "present",
            AttendanceStatus::Late => "late",
            AttendanceStatus::LeftEarly => "left_early",
            AttendanceStatus::Absent => "absent",
            AttendanceStatus::Apologies => "apologies",
        }
    }

    /// Reads a stored or exchanged name.
    pub fn parse(s: &str) -> Option<AttendanceStatus> {
        AttendanceStatus::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// A label for people (registers, CSV exports, sign-in sheets).
    pub fn label(self) -> &'static str {
        match self {
            AttendanceStatus::Present => "Present",
            AttendanceStatus::Late => "Late",
            AttendanceStatus::LeftEarly => "Left early",
            AttendanceStatus::Absent => "Absent",
            AttendanceStatus::Apologies => "Apologies",
        }
    }

    /// Whether the person attended (present, late or left early): what completion, hours
    /// and the attendance rate count.
    pub fn attended(self) -> bool {
        matches!(
            self,
            AttendanceStatus::Present | AttendanceStatus::Late | AttendanceStatus::LeftEarly
        )
    }

    /// The message naming every status, for a 422.
    pub const EXPECTED: &'static str = "must be present, late, left_early, absent or apologies";
}

/// How an attendance mark was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// By a course lead or admin taking the register.
    Register,
    /// By the attendee, with the session's check-in code.
    CheckIn,
    /// With a walk-in booking made on the spot.
    WalkIn,
}

impl Source {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Register => "register",
            Source::CheckIn => "check_in",
            Source::WalkIn => "walk_in",
        }
    }

    /// Reads a stored name.
    pub fn parse(s: &str) -> Option<Source> {
        [Source::Register, Source::CheckIn, Source::WalkIn]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// Whether a session has been held: its start is in the past. Only held sessions count
/// towards completion, hours and the attendance rate.
pub fn is_held(start: NaiveDateTime, now: NaiveDateTime) -> bool {
    start <= now
}

/// Whether a booking is complete under the course's rule. `min_sessions` is the course's
/// `completion_min_sessions`: "attend at least N of the held sessions". Without one, the
/// default rule: attended every session held so far. Nothing held yet: not complete.
pub fn is_complete(min_sessions: Option<i32>, held: usize, attended: usize) -> bool {
    if held == 0 {
        return false;
    }
    match min_sessions {
        Some(n) => attended >= n.max(1) as usize,
        None => attended >= held,
    }
}

/// One session of a booking, with what the register says about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionMark {
    /// When the session starts (naive UTC).
    pub start: NaiveDateTime,
    /// When it ends.
    pub end: NaiveDateTime,
    /// What the register recorded (None: nothing yet).
    pub status: Option<AttendanceStatus>,
}

/// A booking's progress through its course.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Progress {
    /// Sessions the course has.
    pub sessions: usize,
    /// Sessions held so far.
    pub held: usize,
    /// Held sessions attended (present, late or left early).
    pub attended: usize,
    /// Minutes of the held sessions attended, from the sessions' times.
    pub minutes: i64,
    /// Complete under the course's rule.
    pub complete: bool,
}

/// Progress of one booking: sessions held and attended, minutes attended (a session counts
/// whole whether the person was present, late or left early, since the register does not
/// record arrival and leaving times) and completion under the course's rule.
pub fn progress(marks: &[SessionMark], min_sessions: Option<i32>, now: NaiveDateTime) -> Progress {
    let mut p = Progress {
        sessions: marks.len(),
        ..Progress::default()
    };
    for m in marks.iter().filter(|m| is_held(m.start, now)) {
        p.held += 1;
        if m.status.is_some_and(AttendanceStatus::attended) {
            p.attended += 1;
            p.minutes += session_minutes(m.start, m.end);
        }
    }
    p.complete = is_complete(min_sessions, p.held, p.attended);
    p
}

/// A session's length in whole minutes (never negative).
pub fn session_minutes(start: NaiveDateTime, end: NaiveDateTime) -> i64 {
    (end - start).num_minutes().max(0)
}

/// Minutes as hours, to the nearest quarter of an hour (how CPD hours are usually logged).
pub fn quarter_hours(minutes: i64) -> f64 {
    ((minutes as f64) / 15.0).round() / 4.0
}

/// When a register locks: `lock_days` days after the session ends. After that only admins
/// may change it.
pub fn locks_at(end: NaiveDateTime, lock_days: u32) -> NaiveDateTime {
    end + Duration::days(i64::from(lock_days))
}

/// Whether a session's register is locked at `now`.
pub fn is_locked(end: NaiveDateTime, lock_days: u32, now: NaiveDateTime) -> bool {
    now > locks_at(end, lock_days)
}

/// When self check-in for a session is open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckInWindow {
    /// Check-in opens (`CHECK_IN_OPENS_MINUTES` before the start).
    pub opens: NaiveDateTime,
    /// Checking in after this makes someone late (`CHECK_IN_LATE_MINUTES` after the start).
    pub late_after: NaiveDateTime,
    /// Check-in closes: the session's end.
    pub closes: NaiveDateTime,
}

/// What a check-in at a given moment means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckIn {
    /// Too early: check-in opens at this time.
    NotYetOpen(NaiveDateTime),
    /// Too late: check-in closed at this time (the session's end).
    Closed(NaiveDateTime),
    /// Open: the person is marked with this status (present, or late after the grace).
    Open(AttendanceStatus),
}

impl CheckInWindow {
    /// The window of a session, from the attendance settings.
    pub fn of(
        start: NaiveDateTime,
        end: NaiveDateTime,
        opens_minutes: u32,
        late_minutes: u32,
    ) -> CheckInWindow {
        CheckInWindow {
            opens: start - Duration::minutes(i64::from(opens_minutes)),
            late_after: start + Duration::minutes(i64::from(late_minutes)),
            closes: end,
        }
    }

    /// What checking in at `now` does: open from `opens` to `closes` inclusive; late strictly
    /// after `late_after`.
    pub fn at(&self, now: NaiveDateTime) -> CheckIn {
        if now < self.opens {
            CheckIn::NotYetOpen(self.opens)
        } else if now > self.closes {
            CheckIn::Closed(self.closes)
        } else if now > self.late_after {
            CheckIn::Open(AttendanceStatus::Late)
        } else {
            CheckIn::Open(AttendanceStatus::Present)
        }
    }
}

/// The characters of check-in codes: digits and capitals without the ones people confuse
/// (0/O, 1/I/L) or that spell words too easily (U).
pub const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTVWXYZ";

/// The length of a check-in code: 30^6 (about 729 million) codes, short enough to read off a
/// screen and type on a phone.
pub const CODE_LEN: usize = 6;

/// A new random check-in code.
pub fn new_check_in_code<R: Rng + ?Sized>(rng: &mut R) -> String {
    (0..CODE_LEN)
        .map(|_| CODE_ALPHABET[rng.gen_range(0..CODE_ALPHABET.len())] as char)
        .collect()
}

/// Reads a code as someone typed it: case, spaces and hyphens do not matter. None when it
/// cannot be a check-in code (wrong length or a character codes never use).
pub fn normalise_code(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let valid = code.len() == CODE_LEN && code.bytes().all(|b| CODE_ALPHABET.contains(&b));
    valid.then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn t(h: u32, m: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2027, 1, 14)
            .unwrap()
            .and_hms_opt(h, m, 0)
            .unwrap()
    }

    #[test]
    fn statuses_round_trip_and_three_count_as_attending() {
        for s in AttendanceStatus::ALL {
            assert_eq!(AttendanceStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(AttendanceStatus::parse("here"), None);
        assert_eq!(AttendanceStatus::parse("Present"), None);
        let attended: Vec<_> = AttendanceStatus::ALL
            .into_iter()
            .filter(|s| s.attended())
            .collect();
        assert_eq!(
            attended,
            [
                AttendanceStatus::Present,
                AttendanceStatus::Late,
                AttendanceStatus::LeftEarly
            ]
        );
        assert_eq!(AttendanceStatus::LeftEarly.label(), "Left early");
        for s in [Source::Register, Source::CheckIn, Source::WalkIn] {
            assert_eq!(Source::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn default_rule_needs_every_held_session() {
        assert!(!is_complete(None, 0, 0));
        assert!(is_complete(None, 1, 1));
        assert!(!is_complete(None, 3, 2));
        assert!(is_complete(None, 3, 3));
    }

    #[test]
    fn minimum_rule_needs_n_held_sessions_attended() {
        assert!(!is_complete(Some(2), 1, 1));
        assert!(is_complete(Some(2), 2, 2));
        assert!(is_complete(Some(2), 3, 2));
        assert!(!is_complete(Some(2), 3, 1));
        assert!(!is_complete(Some(2), 0, 0));
    }

    #[test]
    fn progress_counts_held_sessions_and_attended_minutes() {
        use AttendanceStatus::*;
        let marks = [
            // 09:00-12:00, attended late: 180 minutes.
            SessionMark {
                start: t(9, 0),
                end: t(12, 0),
                status: Some(Late),
            },
            // 13:00-14:30, apologies: not attended.
            SessionMark {
                start: t(13, 0),
                end: t(14, 30),
                status: Some(Apologies),
            },
            // 15:00-15:45, left early: counts whole.
            SessionMark {
                start: t(15, 0),
                end: t(15, 45),
                status: Some(LeftEarly),
            },
            // 16:00-17:00, not held yet at 15:50, marked present in advance: not counted.
            SessionMark {
                start: t(16, 0),
                end: t(17, 0),
                status: Some(Present),
            },
        ];
        let p = progress(&marks, None, t(15, 50));
        assert_eq!(
            p,
            Progress {
                sessions: 4,
                held: 3,
                attended: 2,
                minutes: 225,
                complete: false
            }
        );
        assert!(progress(&marks, Some(2), t(15, 50)).complete);
        assert!(!progress(&marks, Some(3), t(15, 50)).complete);
        assert_eq!(progress(&marks, Some(3), t(18, 0)).attended, 3);
        assert!(progress(&marks, Some(3), t(18, 0)).complete);
        // Nothing recorded: held but not attended.
        let bare = [SessionMark {
            start: t(9, 0),
            end: t(10, 0),
            status: None,
        }];
        assert_eq!(progress(&bare, None, t(11, 0)).attended, 0);
        assert!(!progress(&bare, None, t(11, 0)).complete);
    }

    #[test]
    fn hours_round_to_the_quarter() {
        assert_eq!(quarter_hours(225), 3.75);
        assert_eq!(quarter_hours(180), 3.0);
        assert_eq!(quarter_hours(7), 0.0);
        assert_eq!(quarter_hours(8), 0.25);
        assert_eq!(quarter_hours(100), 1.75);
        assert_eq!(session_minutes(t(12, 0), t(9, 0)), 0);
    }

    #[test]
    fn check_in_opens_before_the_start_and_closes_at_the_end() {
        let w = CheckInWindow::of(t(9, 0), t(12, 0), 30, 10);
        assert_eq!(w.at(t(8, 29)), CheckIn::NotYetOpen(t(8, 30)));
        assert_eq!(w.at(t(8, 30)), CheckIn::Open(AttendanceStatus::Present));
        assert_eq!(w.at(t(9, 10)), CheckIn::Open(AttendanceStatus::Present));
        assert_eq!(w.at(t(9, 11)), CheckIn::Open(AttendanceStatus::Late));
        assert_eq!(w.at(t(12, 0)), CheckIn::Open(AttendanceStatus::Late));
        assert_eq!(w.at(t(12, 1)), CheckIn::Closed(t(12, 0)));
        let no_grace = CheckInWindow::of(t(9, 0), t(12, 0), 0, 0);
        assert_eq!(no_grace.at(t(8, 59)), CheckIn::NotYetOpen(t(9, 0)));
        assert_eq!(
            no_grace.at(t(9, 0)),
            CheckIn::Open(AttendanceStatus::Present)
        );
        assert_eq!(no_grace.at(t(9, 1)), CheckIn::Open(AttendanceStatus::Late));
    }

    #[test]
    fn registers_lock_after_the_lock_days() {
        let end = t(12, 0);
        assert!(!is_locked(end, 14, end + Duration::days(14)));
        assert!(is_locked(
            end,
            14,
            end + Duration::days(14) + Duration::seconds(1)
        ));
        assert!(is_locked(end, 0, end + Duration::seconds(1)));
        assert!(!is_locked(end, 0, end));
    }

    #[test]
    fn codes_are_short_unambiguous_and_forgiving_to_type() {
        let mut rng = rand::thread_rng();
        for _ in 0..200 {
            let code = new_check_in_code(&mut rng);
            assert_eq!(code.len(), CODE_LEN);
            assert!(code.bytes().all(|b| CODE_ALPHABET.contains(&b)));
            assert_eq!(normalise_code(&code.to_lowercase()), Some(code.clone()));
        }
        for confusing in [b'0', b'O', b'1', b'I', b'L', b'U'] {
            assert!(!CODE_ALPHABET.contains(&confusing));
        }
        assert_eq!(normalise_code(" k7m-9qx "), Some("K7M9QX".into()));
        assert_eq!(normalise_code("K7M9Q"), None);
        assert_eq!(normalise_code("K7M9QO"), None);
        assert_eq!(normalise_code(""), None);
    }
}
