//! What each notification says, typed: one variant of [`Notification`] per kind, holding the
//! fields its templates read (`email-templates/README.md` is the contract). The store queues a
//! `Notification`; the kind's name and the stored JSON are derived from it by serde, so no
//! producer writes a payload's keys by hand, and a template that prints a field the type lacks
//! fails the tests that render each kind's sample through these types.
//!
//! The presentation derived from the records (links, a venue on one line, times as RFC 3339,
//! the `.ics` block) is built here, by the constructors, so every producer writes it the same
//! way.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Kind;
use crate::domain::evaluation::FormKind;
use crate::domain::ics::Method;

/// A notification ready to queue: the variant fixes the kind (its serde name is the kind's
/// stored name) and its data the payload. Stored as the pair `(kind, payload)`; see
/// [`Notification::to_stored`] and [`Notification::from_stored`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "payload", rename_all = "snake_case")]
pub enum Notification {
    /// A place is confirmed (with the `.ics`, PUBLISH).
    BookingConfirmed(CourseMail),
    /// The person is on the waiting list.
    BookingWaitlisted(Waitlisted),
    /// A place came free and the person now has it (with the `.ics`, PUBLISH).
    BookingPromoted(CourseMail),
    /// A school lead is asked to approve a booking; `person_name` is the lead's.
    ApprovalRequested(ApprovalRequest),
    /// The school lead approved the booking (with the `.ics`, PUBLISH).
    BookingApproved(CourseMail),
    /// The school lead declined the booking.
    BookingDeclined(WithReason),
    /// The booking was cancelled.
    BookingCancelled(Cancellation),
    /// The course was cancelled (with the `.ics`, CANCEL).
    CourseCancelled(WithReason),
    /// The course's sessions changed (with the `.ics`, PUBLISH, at the new revision).
    CourseChanged(CourseChange),
    /// A reminder some days before the first session.
    CourseReminder(Reminder),
    /// A sign-in link.
    SignInLink(SignIn),
    /// An invitation to evaluate a course.
    EvaluationInvitation(EvaluationMail),
    /// A reminder to evaluate a course, with a fresh link.
    EvaluationReminder(EvaluationMail),
    /// The termly digest of the reports.
    TermlyDigest(super::digest::Digest),
}

impl Notification {
    /// The kind, as the outbox and the templates name it.
    pub fn kind(&self) -> Kind {
        match self {
            Notification::BookingConfirmed(_) => Kind::BookingConfirmed,
            Notification::BookingWaitlisted(_) => Kind::BookingWaitlisted,
            Notification::BookingPromoted(_) => Kind::BookingPromoted,
            Notification::ApprovalRequested(_) => Kind::ApprovalRequested,
            Notification::BookingApproved(_) => Kind::BookingApproved,
            Notification::BookingDeclined(_) => Kind::BookingDeclined,
            Notification::BookingCancelled(_) => Kind::BookingCancelled,
            Notification::CourseCancelled(_) => Kind::CourseCancelled,
            Notification::CourseChanged(_) => Kind::CourseChanged,
            Notification::CourseReminder(_) => Kind::CourseReminder,
            Notification::SignInLink(_) => Kind::SignInLink,
            Notification::EvaluationInvitation(_) => Kind::EvaluationInvitation,
            Notification::EvaluationReminder(_) => Kind::EvaluationReminder,
            Notification::TermlyDigest(_) => Kind::TermlyDigest,
        }
    }

    /// The stored form: the kind's name and the JSON payload, as serde writes them.
    pub fn to_stored(&self) -> (String, Value) {
        // Every field is a string-keyed struct, list or scalar, so serialising cannot fail.
        let Ok(Value::Object(mut pair)) = serde_json::to_value(self) else {
            unreachable!("a notification serialises to an object");
        };
        let kind = match pair.remove("kind") {
            Some(Value::String(k)) => k,
            _ => unreachable!("the tag is the kind's name"),
        };
        debug_assert_eq!(kind, self.kind().as_str());
        (kind, pair.remove("payload").unwrap_or(Value::Null))
    }

    /// The JSON payload, as stored in the outbox and rendered by the templates.
    pub fn payload(&self) -> Value {
        self.to_stored().1
    }

    /// Reads a stored payload of `kind` back into its type: an error names a field the type
    /// needs and the payload lacks (or has in the wrong shape). Fields the type does not know
    /// are dropped.
    pub fn from_stored(kind: Kind, payload: Value) -> Result<Notification, serde_json::Error> {
        serde_json::from_value(serde_json::json!({ "kind": kind.as_str(), "payload": payload }))
    }

    /// The shared course fields of a booking or course email, if this is one.
    pub fn course_mut(&mut self) -> Option<&mut CourseMail> {
        match self {
            Notification::BookingConfirmed(c)
            | Notification::BookingPromoted(c)
            | Notification::BookingApproved(c) => Some(c),
            Notification::BookingWaitlisted(w) => Some(&mut w.course),
            Notification::ApprovalRequested(a) => Some(&mut a.course),
            Notification::BookingDeclined(r) | Notification::CourseCancelled(r) => {
                Some(&mut r.course)
            }
            Notification::BookingCancelled(c) => Some(&mut c.course),
            Notification::CourseChanged(c) => Some(&mut c.course),
            Notification::CourseReminder(r) => Some(&mut r.course),
            Notification::SignInLink(_)
            | Notification::EvaluationInvitation(_)
            | Notification::EvaluationReminder(_)
            | Notification::TermlyDigest(_) => None,
        }
    }

    /// The same notification with the `.ics` block its kind carries (see
    /// [`Kind::calendar_method`]) for the course at `revision`, the SEQUENCE the calendar
    /// feeds carry; other kinds are returned as they are.
    pub fn with_calendar(mut self, revision: i32) -> Notification {
        if let Some(method) = self.kind().calendar_method() {
            if let Some(course) = self.course_mut() {
                course.ics = Some(IcsBlock::new(&course.course_id, revision, method));
            }
        }
        self
    }
}

impl Kind {
    /// The calendar attachment a kind carries about its course: PUBLISH for a place held or
    /// changed times, CANCEL for a cancelled course, none for the others.
    pub fn calendar_method(self) -> Option<Method> {
        match self {
            Kind::BookingConfirmed
            | Kind::BookingPromoted
            | Kind::BookingApproved
            | Kind::CourseChanged => Some(Method::Publish),
            Kind::CourseCancelled => Some(Method::Cancel),
            _ => None,
        }
    }
}

/// The fields every booking and course email shares.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CourseMail {
    /// The recipient's name, as in "Dear ...".
    pub person_name: String,
    /// The course's title.
    pub course_title: String,
    /// The absolute link to the course page.
    pub course_url: String,
    /// The course's sessions, in order.
    pub sessions: Vec<SessionLine>,
    /// The course.
    pub course_id: String,
    /// The booking the email is about.
    pub booking_id: String,
    /// The `.ics` attachment, for the kinds that carry one (see
    /// [`Notification::with_calendar`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ics: Option<IcsBlock>,
}

impl CourseMail {
    /// The shared fields of an email to `person_name` about `booking_id` on a course, with
    /// its link made from `base_url` (`PUBLIC_BASE_URL`); no `.ics` yet.
    pub fn new(
        base_url: &str,
        course_id: &str,
        course_title: &str,
        sessions: Vec<SessionLine>,
        booking_id: &str,
        person_name: &str,
    ) -> CourseMail {
        CourseMail {
            person_name: person_name.to_string(),
            course_title: course_title.to_string(),
            course_url: format!("{base_url}/courses/{course_id}"),
            sessions,
            course_id: course_id.to_string(),
            booking_id: booking_id.to_string(),
            ics: None,
        }
    }
}

/// One session as the templates read it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionLine {
    /// The session's id: its calendar event's UID is made from it.
    pub id: String,
    /// When it starts (written as RFC 3339, UTC).
    #[serde(with = "crate::domain::time::rfc3339")]
    pub start: NaiveDateTime,
    /// When it ends.
    #[serde(with = "crate::domain::time::rfc3339")]
    pub end: NaiveDateTime,
    /// The venue on one line, or null for an online session.
    pub venue: Option<String>,
    /// The joining link of an online or hybrid session.
    pub online_url: Option<String>,
}

impl SessionLine {
    /// A session from its stored columns; the venue's name, address and postcode make one
    /// line (see [`venue_line`]).
    pub fn new(
        id: String,
        start: NaiveDateTime,
        end: NaiveDateTime,
        venue_name: Option<String>,
        venue_address: Option<String>,
        venue_postcode: Option<String>,
        online_url: Option<String>,
    ) -> SessionLine {
        SessionLine {
            id,
            start,
            end,
            venue: venue_line(venue_name, venue_address, venue_postcode),
            online_url,
        }
    }
}

/// `Barnsley Civic, Hanson Street, Barnsley S70 2HZ`, or `None` for a session without a
/// venue name (an online one).
pub fn venue_line(
    name: Option<String>,
    address: Option<String>,
    postcode: Option<String>,
) -> Option<String> {
    let name = name.filter(|n| !n.trim().is_empty())?;
    let mut line = name;
    if let Some(a) = address.filter(|a| !a.trim().is_empty()) {
        line.push_str(", ");
        line.push_str(a.trim());
    }
    if let Some(p) = postcode.filter(|p| !p.trim().is_empty()) {
        line.push(' ');
        line.push_str(p.trim());
    }
    Some(line)
}

/// The `.ics` block of a payload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IcsBlock {
    /// `course-<id>`. The renderer ignores it (a UID comes from each session, as in the
    /// feeds); it is still written so stored payloads keep the keys they always had.
    pub uid_base: String,
    /// The course's revision: the SEQUENCE, so calendars keep the newest copy.
    pub sequence: i32,
    /// `PUBLISH` or `CANCEL`.
    pub method: String,
}

impl IcsBlock {
    /// The block for a course at `revision`.
    pub fn new(course_id: &str, revision: i32, method: Method) -> IcsBlock {
        IcsBlock {
            uid_base: format!("course-{course_id}"),
            sequence: revision,
            method: method.as_str().to_string(),
        }
    }
}

/// `booking_waitlisted`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Waitlisted {
    /// The shared fields.
    #[serde(flatten)]
    pub course: CourseMail,
    /// The place in the queue, 1 = next.
    pub position: i64,
}

/// `approval_requested`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRequest {
    /// The shared fields, addressed to the school lead.
    #[serde(flatten)]
    pub course: CourseMail,
    /// Who asked for the place.
    pub requester_name: String,
    /// Their school, if they have one.
    pub school_name: Option<String>,
    /// The approval page.
    pub link: String,
}

impl ApprovalRequest {
    /// The request about `course`'s booking, with the approval page's link made from
    /// `base_url`.
    pub fn new(
        course: CourseMail,
        requester_name: &str,
        school_name: Option<String>,
        base_url: &str,
    ) -> ApprovalRequest {
        let link = format!("{base_url}/bookings/{}/approve", course.booking_id);
        ApprovalRequest {
            course,
            requester_name: requester_name.to_string(),
            school_name,
            link,
        }
    }
}

/// `booking_declined` and `course_cancelled`: the shared fields and the reason given.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WithReason {
    /// The shared fields.
    #[serde(flatten)]
    pub course: CourseMail,
    /// Why, if a reason was given.
    pub reason: Option<String>,
}

/// `booking_cancelled`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cancellation {
    /// The shared fields.
    #[serde(flatten)]
    pub course: CourseMail,
    /// Who cancelled it, or `None` when the person cancelled it themselves.
    pub by_name: Option<String>,
    /// Why, if a reason was given.
    pub reason: Option<String>,
}

/// `course_changed`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CourseChange {
    /// The shared fields, with the sessions as they now are.
    #[serde(flatten)]
    pub course: CourseMail,
    /// What changed, as sentences (may be empty).
    pub changes: Vec<String>,
    /// Sessions removed from the course: the `.ics` marks them cancelled.
    pub cancelled_sessions: Vec<SessionLine>,
}

/// `course_reminder`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reminder {
    /// The shared fields.
    #[serde(flatten)]
    pub course: CourseMail,
    /// How many days before the first session the reminder goes.
    pub days_before: u32,
}

/// `sign_in_link`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SignIn {
    /// The person's name.
    pub person_name: Option<String>,
    /// The link itself: a credential, removed from the stored payload once the email settles
    /// (see [`super::settled_payload`]).
    pub link: String,
    /// When the link stops working.
    #[serde(with = "rfc3339_secs")]
    pub expires_at: NaiveDateTime,
    /// How long the link works, in minutes.
    pub expires_minutes: i64,
}

impl SignIn {
    /// The email carrying `token`, a link made from `base_url` that works until `expires_at`
    /// (`minutes` after it was made).
    pub fn new(
        person_name: &str,
        base_url: &str,
        token: &str,
        expires_at: NaiveDateTime,
        minutes: i64,
    ) -> SignIn {
        SignIn {
            person_name: Some(person_name.to_string()),
            link: format!("{base_url}/auth/magic?token={token}"),
            expires_at,
            expires_minutes: minutes,
        }
    }
}

/// `evaluation_invitation` and `evaluation_reminder`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvaluationMail {
    /// The person's name.
    pub person_name: String,
    /// The course's title.
    pub course_title: String,
    /// `Thursday 14 January 2027`, or `14 January to 23 March 2027`.
    pub course_dates: String,
    /// Which form: post-course or follow-up.
    pub form_kind: FormKind,
    /// The evaluation page with its token: a credential, like a sign-in link.
    pub link: String,
    /// When the link stops working.
    #[serde(with = "rfc3339_secs")]
    pub expires_at: NaiveDateTime,
}

impl EvaluationMail {
    /// The email carrying `token`, a link made from `base_url`.
    pub fn new(
        person_name: &str,
        course_title: &str,
        course_dates: String,
        form_kind: FormKind,
        base_url: &str,
        token: &str,
        expires_at: NaiveDateTime,
    ) -> EvaluationMail {
        EvaluationMail {
            person_name: person_name.to_string(),
            course_title: course_title.to_string(),
            course_dates,
            form_kind,
            link: format!("{base_url}/evaluate/{token}"),
            expires_at,
        }
    }
}

/// Link expiry times in whole seconds (`2027-01-14T09:15:00Z`), as these payloads have always
/// written them (session times use `time::rfc3339`, which keeps any fraction).
mod rfc3339_secs {
    use chrono::{NaiveDateTime, SecondsFormat};
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::domain::time::to_utc(*t).to_rfc3339_opts(SecondsFormat::Secs, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDateTime, D::Error> {
        crate::domain::time::rfc3339::deserialize(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    fn course() -> CourseMail {
        let sessions = vec![
            SessionLine::new(
                "s1".into(),
                at("2027-01-14 09:00"),
                at("2027-01-14 15:30"),
                Some("Barnsley Civic".into()),
                Some(" Hanson Street, Barnsley ".into()),
                Some("S70 2HZ".into()),
                None,
            ),
            SessionLine::new(
                "s2".into(),
                at("2027-06-10 15:45"),
                at("2027-06-10 17:15"),
                Some("  ".into()),
                None,
                None,
                Some("https://meet.test/x".into()),
            ),
        ];
        CourseMail::new("https://cpd.test", "c1", "Phonics", sessions, "b1", "Jo")
    }

    #[test]
    fn a_booking_mail_stores_the_keys_it_always_had() {
        let n = Notification::BookingConfirmed(course()).with_calendar(4);
        let (kind, payload) = n.to_stored();
        assert_eq!(kind, "booking_confirmed");
        assert_eq!(
            payload,
            json!({
                "person_name": "Jo",
                "course_title": "Phonics",
                "course_url": "https://cpd.test/courses/c1",
                "sessions": [
                    {"id": "s1", "start": "2027-01-14T09:00:00Z", "end": "2027-01-14T15:30:00Z",
                     "venue": "Barnsley Civic, Hanson Street, Barnsley S70 2HZ", "online_url": null},
                    {"id": "s2", "start": "2027-06-10T15:45:00Z", "end": "2027-06-10T17:15:00Z",
                     "venue": null, "online_url": "https://meet.test/x"},
                ],
                "course_id": "c1",
                "booking_id": "b1",
                "ics": {"uid_base": "course-c1", "sequence": 4, "method": "PUBLISH"},
            })
        );
        assert_eq!(
            Notification::from_stored(Kind::BookingConfirmed, payload).unwrap(),
            n
        );
    }

    #[test]
    fn only_the_calendar_kinds_carry_an_ics_block() {
        let cancelled = Notification::CourseCancelled(WithReason {
            course: course(),
            reason: Some("Unwell".into()),
        })
        .with_calendar(2)
        .payload();
        assert_eq!(cancelled["ics"]["method"], "CANCEL");
        assert_eq!(cancelled["ics"]["sequence"], 2);
        assert_eq!(cancelled["reason"], "Unwell");
        let waiting = Notification::BookingWaitlisted(Waitlisted {
            course: course(),
            position: 3,
        })
        .with_calendar(2)
        .payload();
        assert!(waiting.get("ics").is_none());
        assert_eq!(waiting["position"], 3);
        let cancelled = Notification::BookingCancelled(Cancellation {
            course: course(),
            by_name: None,
            reason: None,
        })
        .payload();
        // Optional fields are written as null, as before, not left out.
        assert_eq!(cancelled["by_name"], json!(null));
        assert_eq!(cancelled["reason"], json!(null));
    }

    #[test]
    fn links_are_made_in_one_place() {
        let a = ApprovalRequest::new(course(), "Jane", None, "https://cpd.test");
        assert_eq!(a.link, "https://cpd.test/bookings/b1/approve");
        let s = Notification::SignInLink(SignIn::new(
            "Jo",
            "https://cpd.test",
            "abc",
            at("2027-01-14 09:15"),
            15,
        ))
        .payload();
        assert_eq!(
            s,
            json!({"person_name": "Jo", "link": "https://cpd.test/auth/magic?token=abc",
                   "expires_at": "2027-01-14T09:15:00Z", "expires_minutes": 15})
        );
        let e = Notification::EvaluationReminder(EvaluationMail::new(
            "Jo",
            "Phonics",
            "Thursday 14 January 2027".into(),
            FormKind::FollowUp,
            "https://cpd.test",
            "t0k",
            at("2027-02-11 15:30"),
        ));
        let (kind, p) = e.to_stored();
        assert_eq!(kind, "evaluation_reminder");
        assert_eq!(p["link"], "https://cpd.test/evaluate/t0k");
        assert_eq!(p["form_kind"], "follow_up");
        assert_eq!(p["expires_at"], "2027-02-11T15:30:00Z");
    }

    #[test]
    fn a_stored_payload_missing_a_field_does_not_fit_its_type() {
        let mut p = Notification::BookingWaitlisted(Waitlisted {
            course: course(),
            position: 1,
        })
        .payload();
        p.as_object_mut().unwrap().remove("position");
        let e = Notification::from_stored(Kind::BookingWaitlisted, p).unwrap_err();
        assert!(e.to_string().contains("position"), "{e}");
    }
}
