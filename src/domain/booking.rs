//! Booking rules: who may book, whether a request gets a place, waits, or waits for approval,
//! and who is promoted when places free. Pure functions over plain facts; `store::bookings`
//! gathers the facts inside one locked transaction and applies the decisions.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

/// A booking's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BookingStatus {
    /// Waiting for the school lead's approval; holds no place.
    PendingApproval,
    /// Holds a place.
    Confirmed,
    /// Waiting for a place, first come first served.
    Waitlisted,
    /// Cancelled by the person, their lead, an admin, or with the course.
    Cancelled,
    /// Declined by the school lead or an admin.
    Declined,
}

impl BookingStatus {
    /// Every status.
    pub const ALL: [BookingStatus; 5] = [
        BookingStatus::PendingApproval,
        BookingStatus::Confirmed,
        BookingStatus::Waitlisted,
        BookingStatus::Cancelled,
        BookingStatus::Declined,
    ];

    /// The stored and exchanged name.
    pub fn as_str(self) -> &'static str {
        match self {
            BookingStatus::PendingApproval => "pending_approval",
            BookingStatus::Confirmed => "confirmed",
            BookingStatus::Waitlisted => "waitlisted",
            BookingStatus::Cancelled => "cancelled",
            BookingStatus::Declined => "declined",
        }
    }

    /// Reads a stored name.
    pub fn parse(s: &str) -> Option<BookingStatus> {
        BookingStatus::ALL.into_iter().find(|b| b.as_str() == s)
    }

    /// Whether the booking still counts as the person's booking on the course (invariant 2:
    /// at most one such booking per person and course).
    pub fn is_active(self) -> bool {
        matches!(
            self,
            BookingStatus::PendingApproval | BookingStatus::Confirmed | BookingStatus::Waitlisted
        )
    }
}

/// The facts about a course that booking decisions need.
#[derive(Clone, Debug)]
pub struct CourseFacts {
    /// `draft`, `published` or `cancelled`.
    pub status: String,
    /// Places in all.
    pub capacity: i32,
    /// Places confirmed now.
    pub confirmed: i32,
    /// The most confirmed places one school may hold while the cap applies.
    pub per_school_cap: Option<i32>,
    /// When the cap lifts (None: it applies until lifted by hand).
    pub per_school_cap_until: Option<NaiveDateTime>,
    /// Booking opens (None: on publication).
    pub booking_opens: Option<NaiveDateTime>,
    /// Booking closes (None: when the first session starts).
    pub booking_closes: Option<NaiveDateTime>,
    /// When the first session starts (None: no sessions yet).
    pub first_session_start: Option<NaiveDateTime>,
    /// Whether requests need the school lead's approval.
    pub requires_approval: bool,
    /// Staff group ids the course is for (empty: everyone).
    pub staff_group_ids: Vec<String>,
    /// Phases the course is for (empty: every phase).
    pub phases: Vec<String>,
}

impl CourseFacts {
    /// The per-school cap if it applies at `now`.
    pub fn cap_at(&self, now: NaiveDateTime) -> Option<i32> {
        match self.per_school_cap_until {
            Some(until) if now >= until => None,
            _ => self.per_school_cap,
        }
    }

    /// Places left now.
    pub fn places_left(&self) -> i32 {
        (self.capacity - self.confirmed).max(0)
    }
}

/// Why a booking request is refused (409 with this code and sentence).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// Stable, machine-readable reason.
    pub code: &'static str,
    /// A plain sentence.
    pub message: String,
}

fn refuse(code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        code,
        message: message.into(),
    }
}

/// Checks that a person may book the course now. `overriding`: an admin booking for the
/// record (walk-ins, courses entered after the event) skips the window and target checks, but
/// never books onto a draft or a cancelled course.
pub fn check_eligible(
    course: &CourseFacts,
    staff_group_id: Option<&str>,
    school_phase: Option<&str>,
    now: NaiveDateTime,
    overriding: bool,
) -> Result<(), Refusal> {
    match course.status.as_str() {
        "published" => {}
        "cancelled" => {
            return Err(refuse(
                "course_cancelled",
                "This course has been cancelled.",
            ))
        }
        _ => {
            return Err(refuse(
                "course_not_published",
                "This course is not open for booking yet.",
            ))
        }
    }
    if overriding {
        return Ok(());
    }
    if let Some(opens) = course.booking_opens {
        if now < opens {
            return Err(refuse(
                "booking_not_open",
                "Booking for this course has not opened yet.",
            ));
        }
    }
    let closes = course.booking_closes.or(course.first_session_start);
    if let Some(closes) = closes {
        if now >= closes {
            return Err(refuse(
                "booking_closed",
                "Booking for this course has closed.",
            ));
        }
    }
    if !course.staff_group_ids.is_empty()
        && !staff_group_id.is_some_and(|g| course.staff_group_ids.iter().any(|c| c == g))
    {
        return Err(refuse(
            "staff_group_not_targeted",
            "This course is for other staff groups.",
        ));
    }
    if !course.phases.is_empty()
        && !school_phase.is_some_and(|p| course.phases.iter().any(|c| c == p))
    {
        return Err(refuse(
            "phase_not_targeted",
            "This course is for schools of another phase.",
        ));
    }
    Ok(())
}

/// Where a new (or newly approved) request goes.
pub fn place_request(
    course: &CourseFacts,
    school_confirmed: i32,
    needs_approval: bool,
    now: NaiveDateTime,
) -> BookingStatus {
    if needs_approval {
        return BookingStatus::PendingApproval;
    }
    let school_full = course
        .cap_at(now)
        .is_some_and(|cap| school_confirmed >= cap);
    if course.places_left() > 0 && !school_full {
        BookingStatus::Confirmed
    } else {
        BookingStatus::Waitlisted
    }
}

/// A waiting booking, in queue order.
#[derive(Clone, Debug)]
pub struct Waiting {
    /// The booking id.
    pub booking_id: String,
    /// The school it counts against (None: no school, never capped).
    pub school_id: Option<String>,
}

/// Which waiting bookings to confirm, first come first served: the earliest ones whose
/// school is under the cap, until the places run out. `school_confirmed` is updated.
pub fn promotions(
    course: &CourseFacts,
    queue: &[Waiting],
    school_confirmed: &mut HashMap<String, i32>,
    now: NaiveDateTime,
) -> Vec<String> {
    let cap = course.cap_at(now);
    let mut free = course.places_left();
    let mut out = Vec::new();
    for w in queue {
        if free <= 0 {
            break;
        }
        if let (Some(cap), Some(school)) = (cap, &w.school_id) {
            let held = school_confirmed.get(school).copied().unwrap_or(0);
            if held >= cap {
                continue;
            }
        }
        if let Some(school) = &w.school_id {
            *school_confirmed.entry(school.clone()).or_insert(0) += 1;
        }
        free -= 1;
        out.push(w.booking_id.clone());
    }
    out
}

/// Whether a cancellation at `now` is late (after the course's cancellation deadline).
pub fn is_late_cancellation(deadline: Option<NaiveDateTime>, now: NaiveDateTime) -> bool {
    deadline.is_some_and(|d| now > d)
}

/// Which bookings a caller may list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BookingScope {
    /// All of them (cpd_group, admin).
    All,
    /// Their own, plus those of their school and of the courses they lead where those apply.
    Limited {
        /// Their own bookings.
        person_id: String,
        /// Every booking of this school (a school lead's own school).
        school_id: Option<String>,
        /// Every booking on a course this person leads.
        course_lead_id: Option<String>,
    },
}

/// What a lifecycle request does to a booking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// Cancel (by the person, their school lead or an admin).
    Cancel,
    /// Approve a request that waits for approval.
    Approve,
    /// Decline (a request, or a place or wait the school lead withdraws).
    Decline,
}

/// Checks that a booking in `status` may go through `transition`: cancel and decline need
/// an active booking (`not_active` otherwise), approve a pending one (`not_pending`).
pub fn check_transition(status: BookingStatus, transition: Transition) -> Result<(), Refusal> {
    match transition {
        Transition::Cancel | Transition::Decline if !status.is_active() => Err(refuse(
            "not_active",
            format!(
                "This booking is already {}, so it cannot be {}.",
                status.as_str(),
                match transition {
                    Transition::Cancel => "cancelled",
                    _ => "declined",
                }
            ),
        )),
        Transition::Approve if status != BookingStatus::PendingApproval => Err(refuse(
            "not_pending",
            format!(
                "This booking is {}, not waiting for approval.",
                status.as_str().replace('_', " ")
            ),
        )),
        _ => Ok(()),
    }
}

/// Where an admin override (invariant 11) puts a booking: always a confirmed place, and
/// when the course is full, one more place so confirmed bookings never exceed capacity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OverridePlacement {
    /// Raise the capacity by one first (the course is full).
    pub raise_capacity: bool,
}

/// Places an admin override: confirmed, raising capacity by one when no place is left.
/// Overrides ignore approval and the per-school cap (they are for the record: walk-ins,
/// courses entered after the event), and do not count towards the school's cap.
pub fn place_override(course: &CourseFacts) -> OverridePlacement {
    OverridePlacement {
        raise_capacity: course.places_left() == 0,
    }
}

/// Whether a cancellation is recorded as late: only a booking that held a place (confirmed)
/// can be cancelled late, and only after the course's cancellation deadline. Leaving a
/// waiting list or withdrawing a request wastes no place.
pub fn is_late(status: BookingStatus, deadline: Option<NaiveDateTime>, now: NaiveDateTime) -> bool {
    status == BookingStatus::Confirmed && is_late_cancellation(deadline, now)
}

/// What a course's page offers the person reading it: the one next step, said plainly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallToAction {
    /// Not signed in: sign in to book.
    SignIn,
    /// The course was cancelled.
    Cancelled,
    /// The reader already holds a booking in this (active) status; `position` on the
    /// waiting list when waitlisted.
    Booked {
        /// The booking's status.
        status: BookingStatus,
        /// 1 = next in line.
        position: Option<i64>,
    },
    /// Booking has not opened yet.
    OpensOn(NaiveDateTime),
    /// Booking has closed (or the course has begun).
    Closed,
    /// The school lead approves requests for this course.
    Request,
    /// A place is free.
    Book,
    /// Full: joining the waiting list, at this position.
    Waitlist(i64),
}

/// What the reader of a course page may do next, at `now`. `mine` is the reader's active
/// booking on the course (status and waiting-list position), if any. The booking itself
/// decides what really happens (the per-school cap can still put a request on the waiting
/// list); this only chooses the words on the button.
pub fn call_to_action(
    course: &CourseFacts,
    waitlist_length: i64,
    signed_in: bool,
    mine: Option<(BookingStatus, Option<i64>)>,
    now: NaiveDateTime,
) -> CallToAction {
    if course.status == "cancelled" {
        return CallToAction::Cancelled;
    }
    if let Some((status, position)) = mine.filter(|(s, _)| s.is_active()) {
        return CallToAction::Booked { status, position };
    }
    // Only the booking window here: whether the course is for the reader's staff group and
    // phase is the booking's to decide (and a school lead may book a colleague it suits).
    let window_only = CourseFacts {
        staff_group_ids: Vec::new(),
        phases: Vec::new(),
        ..course.clone()
    };
    if let Err(refusal) = check_eligible(&window_only, None, None, now, false) {
        return match (refusal.code, course.booking_opens) {
            ("booking_not_open", Some(opens)) => CallToAction::OpensOn(opens),
            _ => CallToAction::Closed,
        };
    }
    if !signed_in {
        CallToAction::SignIn
    } else if course.requires_approval {
        CallToAction::Request
    } else if course.places_left() > 0 {
        CallToAction::Book
    } else {
        CallToAction::Waitlist(waitlist_length + 1)
    }
}

#[cfg(test)]
mod tests {
    fn facts_for_page() -> CourseFacts {
        let t = |d: u32| {
            chrono::NaiveDate::from_ymd_opt(2027, 1, d)
                .unwrap()
                .and_hms_opt(9, 0, 0)
                .unwrap()
        };
        CourseFacts {
            status: "published".into(),
            capacity: 2,
            confirmed: 1,
            per_school_cap: None,
            per_school_cap_until: None,
            booking_opens: Some(t(4)),
            booking_closes: None,
            first_session_start: Some(t(20)),
            requires_approval: false,
            staff_group_ids: vec![],
            phases: vec![],
        }
    }

    #[test]
    fn a_course_page_offers_one_next_step() {
        let at = |d: u32| {
            chrono::NaiveDate::from_ymd_opt(2027, 1, d)
                .unwrap()
                .and_hms_opt(12, 0, 0)
                .unwrap()
        };
        let mut c = facts_for_page();
        assert_eq!(
            call_to_action(&c, 0, true, None, at(2)),
            CallToAction::OpensOn(c.booking_opens.unwrap())
        );
        assert_eq!(call_to_action(&c, 0, true, None, at(5)), CallToAction::Book);
        assert_eq!(
            call_to_action(&c, 0, false, None, at(5)),
            CallToAction::SignIn
        );
        // Booking closes when the first session starts.
        assert_eq!(
            call_to_action(&c, 0, true, None, at(20)),
            CallToAction::Closed
        );
        let waiting = Some((BookingStatus::Waitlisted, Some(3)));
        assert_eq!(
            call_to_action(&c, 3, true, waiting, at(5)),
            CallToAction::Booked {
                status: BookingStatus::Waitlisted,
                position: Some(3)
            }
        );
        // A cancelled booking is no booking: the reader may book again.
        let gone = Some((BookingStatus::Cancelled, None));
        assert_eq!(call_to_action(&c, 0, true, gone, at(5)), CallToAction::Book);
        c.confirmed = 2;
        assert_eq!(
            call_to_action(&c, 4, true, None, at(5)),
            CallToAction::Waitlist(5)
        );
        c.requires_approval = true;
        assert_eq!(
            call_to_action(&c, 4, true, None, at(5)),
            CallToAction::Request
        );
        c.status = "cancelled".into();
        assert_eq!(
            call_to_action(&c, 4, true, waiting, at(5)),
            CallToAction::Cancelled
        );
    }

    use super::*;
    use chrono::NaiveDate;

    fn at(day: u32, hour: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2027, 1, day)
            .unwrap()
            .and_hms_opt(hour, 0, 0)
            .unwrap()
    }

    fn course() -> CourseFacts {
        CourseFacts {
            status: "published".into(),
            capacity: 3,
            confirmed: 0,
            per_school_cap: None,
            per_school_cap_until: None,
            booking_opens: Some(at(1, 9)),
            booking_closes: Some(at(10, 9)),
            first_session_start: Some(at(14, 9)),
            requires_approval: false,
            staff_group_ids: vec![],
            phases: vec![],
        }
    }

    #[test]
    fn eligibility_codes() {
        let c = course();
        assert_eq!(check_eligible(&c, None, None, at(5, 9), false), Ok(()));
        assert_eq!(
            check_eligible(&c, None, None, at(1, 8), false)
                .unwrap_err()
                .code,
            "booking_not_open"
        );
        assert_eq!(
            check_eligible(&c, None, None, at(10, 9), false)
                .unwrap_err()
                .code,
            "booking_closed"
        );
        assert_eq!(check_eligible(&c, None, None, at(20, 9), true), Ok(()));
        let mut d = course();
        d.status = "draft".into();
        assert_eq!(
            check_eligible(&d, None, None, at(5, 9), true)
                .unwrap_err()
                .code,
            "course_not_published"
        );
        d.status = "cancelled".into();
        assert_eq!(
            check_eligible(&d, None, None, at(5, 9), true)
                .unwrap_err()
                .code,
            "course_cancelled"
        );
        let mut t = course();
        t.staff_group_ids = vec!["senco".into()];
        t.phases = vec!["primary".into()];
        assert_eq!(
            check_eligible(&t, Some("teacher"), Some("primary"), at(5, 9), false)
                .unwrap_err()
                .code,
            "staff_group_not_targeted"
        );
        assert_eq!(
            check_eligible(&t, Some("senco"), Some("secondary"), at(5, 9), false)
                .unwrap_err()
                .code,
            "phase_not_targeted"
        );
        assert_eq!(
            check_eligible(&t, Some("senco"), Some("primary"), at(5, 9), false),
            Ok(())
        );
    }

    #[test]
    fn closing_defaults_to_the_first_session() {
        let mut c = course();
        c.booking_closes = None;
        assert_eq!(check_eligible(&c, None, None, at(13, 9), false), Ok(()));
        assert_eq!(
            check_eligible(&c, None, None, at(14, 9), false)
                .unwrap_err()
                .code,
            "booking_closed"
        );
    }

    #[test]
    fn places_caps_and_approval() {
        let mut c = course();
        assert_eq!(
            place_request(&c, 0, false, at(5, 9)),
            BookingStatus::Confirmed
        );
        assert_eq!(
            place_request(&c, 0, true, at(5, 9)),
            BookingStatus::PendingApproval
        );
        c.confirmed = 3;
        assert_eq!(
            place_request(&c, 0, false, at(5, 9)),
            BookingStatus::Waitlisted
        );
        c.confirmed = 1;
        c.per_school_cap = Some(1);
        assert_eq!(
            place_request(&c, 1, false, at(5, 9)),
            BookingStatus::Waitlisted
        );
        assert_eq!(
            place_request(&c, 0, false, at(5, 9)),
            BookingStatus::Confirmed
        );
        c.per_school_cap_until = Some(at(6, 0));
        assert_eq!(
            place_request(&c, 1, false, at(6, 0)),
            BookingStatus::Confirmed
        );
    }

    #[test]
    fn promotion_is_fifo_and_skips_capped_schools() {
        let mut c = course();
        c.capacity = 3;
        c.confirmed = 1;
        c.per_school_cap = Some(1);
        let q = |id: &str, s: &str| Waiting {
            booking_id: id.into(),
            school_id: Some(s.into()),
        };
        let queue = vec![q("b1", "A"), q("b2", "B"), q("b3", "B"), q("b4", "C")];
        let mut held = HashMap::from([("A".to_string(), 1)]);
        assert_eq!(
            promotions(&c, &queue, &mut held, at(5, 9)),
            vec!["b2", "b4"]
        );
        assert_eq!(held["B"], 1);
        // Once the cap lifts, the queue is served strictly in order.
        c.per_school_cap_until = Some(at(5, 0));
        let mut held = HashMap::from([("A".to_string(), 1)]);
        assert_eq!(
            promotions(&c, &queue, &mut held, at(5, 9)),
            vec!["b1", "b2"]
        );
    }

    #[test]
    fn late_cancellation() {
        assert!(!is_late_cancellation(None, at(5, 9)));
        assert!(!is_late_cancellation(Some(at(5, 9)), at(5, 9)));
        assert!(is_late_cancellation(Some(at(5, 9)), at(5, 10)));
    }

    #[test]
    fn transitions() {
        use BookingStatus::*;
        for s in [PendingApproval, Confirmed, Waitlisted] {
            assert_eq!(check_transition(s, Transition::Cancel), Ok(()));
            assert_eq!(check_transition(s, Transition::Decline), Ok(()));
        }
        for s in [Cancelled, Declined] {
            assert_eq!(
                check_transition(s, Transition::Cancel).unwrap_err().code,
                "not_active"
            );
            assert_eq!(
                check_transition(s, Transition::Decline).unwrap_err().code,
                "not_active"
            );
        }
        assert_eq!(
            check_transition(PendingApproval, Transition::Approve),
            Ok(())
        );
        for s in [Confirmed, Waitlisted, Cancelled, Declined] {
            assert_eq!(
                check_transition(s, Transition::Approve).unwrap_err().code,
                "not_pending"
            );
        }
    }

    #[test]
    fn override_raises_capacity_only_when_full() {
        let mut c = course();
        c.confirmed = 2;
        assert!(!place_override(&c).raise_capacity);
        c.confirmed = 3;
        assert!(place_override(&c).raise_capacity);
    }

    #[test]
    fn only_places_are_cancelled_late() {
        let deadline = Some(at(5, 9));
        assert!(is_late(BookingStatus::Confirmed, deadline, at(6, 9)));
        assert!(!is_late(BookingStatus::Confirmed, deadline, at(4, 9)));
        assert!(!is_late(BookingStatus::Waitlisted, deadline, at(6, 9)));
        assert!(!is_late(BookingStatus::PendingApproval, deadline, at(6, 9)));
    }
}
