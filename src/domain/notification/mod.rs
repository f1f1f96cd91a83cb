//! The notifications cpd-hub sends, as the outbox and the templates name them. Each kind is a
//! folder in `email-templates/`; its README lists the payload fields each kind expects, and
//! [`Notification`] (in `mail.rs` and `digest.rs`) types them.

mod digest;
mod mail;

pub use digest::{Digest, DigestCluster, DigestFigure, DigestImpact, DigestRated, DigestSchool};
pub use mail::{
    venue_line, ApprovalRequest, Cancellation, CourseChange, CourseMail, EvaluationMail, IcsBlock,
    Notification, Reminder, SessionLine, SignIn, Waitlisted, WithReason,
};

use std::fmt;
use std::str::FromStr;

/// A kind of notification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A place is confirmed (with the sessions as an `.ics`, METHOD:PUBLISH).
    BookingConfirmed,
    /// The course is full; the person is on the waiting list at `position`.
    BookingWaitlisted,
    /// A place came free and the waitlisted person now has it (with the `.ics`).
    BookingPromoted,
    /// A school lead is asked to approve a booking (with a link to approve).
    ApprovalRequested,
    /// The school lead approved the booking.
    BookingApproved,
    /// The school lead declined the booking (with the reason).
    BookingDeclined,
    /// The booking was cancelled (saying by whom, when it was not the person).
    BookingCancelled,
    /// The course was cancelled (with a cancelling `.ics`, METHOD:CANCEL).
    CourseCancelled,
    /// The course's times or venue changed (with an updated `.ics`, a higher SEQUENCE).
    CourseChanged,
    /// A reminder some days before the first session, to confirmed bookings only.
    CourseReminder,
    /// A sign-in link.
    SignInLink,
    /// An invitation to evaluate a course (post-course or impact follow-up), with its link.
    EvaluationInvitation,
    /// A reminder to evaluate a course, with a fresh link.
    EvaluationReminder,
    /// The termly digest of the reports, to the CPD Working Group and the Networking Group.
    TermlyDigest,
}

impl Kind {
    /// Every kind, in the order the README lists them.
    pub const ALL: [Kind; 14] = [
        Kind::BookingConfirmed,
        Kind::BookingWaitlisted,
        Kind::BookingPromoted,
        Kind::ApprovalRequested,
        Kind::BookingApproved,
        Kind::BookingDeclined,
        Kind::BookingCancelled,
        Kind::CourseCancelled,
        Kind::CourseChanged,
        Kind::CourseReminder,
        Kind::SignInLink,
        Kind::EvaluationInvitation,
        Kind::EvaluationReminder,
        Kind::TermlyDigest,
    ];

    /// The stored name, which is also the template folder's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::BookingConfirmed => "booking_confirmed",
            Kind::BookingWaitlisted => "booking_waitlisted",
            Kind::BookingPromoted => "booking_promoted",
            Kind::ApprovalRequested => "approval_requested",
            Kind::BookingApproved => "booking_approved",
            Kind::BookingDeclined => "booking_declined",
            Kind::BookingCancelled => "booking_cancelled",
            Kind::CourseCancelled => "course_cancelled",
            Kind::CourseChanged => "course_changed",
            Kind::CourseReminder => "course_reminder",
            Kind::SignInLink => "sign_in_link",
            Kind::EvaluationInvitation => "evaluation_invitation",
            Kind::EvaluationReminder => "evaluation_reminder",
            Kind::TermlyDigest => "termly_digest",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown notification kind {s:?}"))
    }
}

/// Where a message in the outbox stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for its next try.
    Pending,
    /// Claimed by a worker that is sending it.
    Sending,
    /// Handed to the mail server (or written to the log or a file).
    Sent,
    /// Given up after the last try, or refused for good; an admin may retry it.
    Failed,
    /// No longer true when it came due (a confirmation for a cancelled booking), so not sent.
    Skipped,
}

impl DeliveryStatus {
    /// Every status.
    pub const ALL: [DeliveryStatus; 5] = [
        DeliveryStatus::Pending,
        DeliveryStatus::Sending,
        DeliveryStatus::Sent,
        DeliveryStatus::Failed,
        DeliveryStatus::Skipped,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Sending => "sending",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Skipped => "skipped",
        }
    }

    /// Reads a stored or requested name.
    pub fn parse(s: &str) -> Option<DeliveryStatus> {
        DeliveryStatus::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// The wait before try number `attempt + 1`, after `attempt` failed tries (1 or more):
/// `base * 2^(attempt-1)`, capped at `max`, then scaled by `jitter` (a factor the caller draws
/// from 0.75 to 1.25) so that messages that failed together do not all retry together.
pub fn retry_delay_ms(attempt: i32, base_ms: u64, max_ms: u64, jitter: f64) -> u64 {
    let exp = attempt.saturating_sub(1).clamp(0, 40) as u32;
    let raw = base_ms.saturating_mul(1u64 << exp.min(40)).min(max_ms);
    ((raw as f64) * jitter.clamp(0.5, 1.5)).round().max(1.0) as u64
}

/// The payload field of a `sign_in_link` message that is a credential: the link itself.
pub const SIGN_IN_SECRET_FIELD: &str = "link";

/// Whether a kind's payload carries a credential in its `link` field: a sign-in link, or an
/// evaluation link (which answers the evaluation as its recipient).
pub fn carries_secret_link(kind: &str) -> bool {
    kind == Kind::SignInLink.as_str()
        || kind == Kind::EvaluationInvitation.as_str()
        || kind == Kind::EvaluationReminder.as_str()
}

/// The payload to store once a message is settled (sent, skipped, or failed for good), or
/// `None` to keep it as queued. A sign-in email's link signs its holder in until it is used or
/// expires (and an evaluation email's link answers as its recipient), so once the email has
/// gone (or never will) the outbox keeps the payload without it; anyone who can read the
/// database then cannot use it. A payload that is not a JSON object becomes `{}`.
pub fn settled_payload(kind: &str, payload: &str) -> Option<String> {
    if !carries_secret_link(kind) {
        return None;
    }
    let kept = match serde_json::from_str::<serde_json::Value>(payload) {
        Ok(serde_json::Value::Object(mut fields)) => {
            fields.remove(SIGN_IN_SECRET_FIELD);
            serde_json::Value::Object(fields)
        }
        _ => serde_json::json!({}),
    };
    Some(kept.to_string())
}

/// Whether a settled message's payload had its secret removed (see [`settled_payload`]), so
/// sending it again is impossible.
pub fn secret_removed(kind: &str, payload: &str) -> bool {
    carries_secret_link(kind)
        && !serde_json::from_str::<serde_json::Value>(payload)
            .is_ok_and(|v| v.get(SIGN_IN_SECRET_FIELD).is_some_and(|l| l.is_string()))
}

/// `j***@school.org`: enough for an operator to tell messages apart in the log, without
/// writing a person's address there.
pub fn mask_email(email: &str) -> String {
    match email.trim().split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_string(),
    }
}

/// A mail server's message with any address in it masked (servers often quote the recipient:
/// `550 <jane@school.org>: Recipient address rejected`), so it can go to the log.
pub fn redact_addresses(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if word.contains('@') {
            let trimmed = word.trim_matches(|c: char| !c.is_alphanumeric());
            out.push_str(&word.replace(trimmed, &mask_email(trimmed)));
        } else {
            out.push_str(word);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for k in Kind::ALL {
            assert_eq!(k.as_str().parse::<Kind>().unwrap(), k);
        }
        assert!("booking_exploded".parse::<Kind>().is_err());
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        assert_eq!(retry_delay_ms(1, 30_000, 3_600_000, 1.0), 30_000);
        assert_eq!(retry_delay_ms(2, 30_000, 3_600_000, 1.0), 60_000);
        assert_eq!(retry_delay_ms(8, 30_000, 3_600_000, 1.0), 3_600_000);
        assert_eq!(retry_delay_ms(500, 30_000, 3_600_000, 1.0), 3_600_000);
        assert_eq!(retry_delay_ms(1, 30_000, 3_600_000, 0.75), 22_500);
    }

    #[test]
    fn default_retries_last_about_a_day() {
        // 30 tries: 29 waits between them with the default base and cap.
        let total: u64 = (1..30)
            .map(|a| retry_delay_ms(a, 30_000, 3_600_000, 1.0))
            .sum();
        let hours = total as f64 / 3_600_000.0;
        assert!((20.0..=26.0).contains(&hours), "{hours} hours");
    }

    #[test]
    fn only_a_sign_in_link_loses_its_link_when_settled() {
        let queued = r#"{"person_name":"Jo","link":"https://x/auth/magic?token=abc","expires_at":"2027-01-14T09:15:00Z"}"#;
        let kept: serde_json::Value =
            serde_json::from_str(&settled_payload("sign_in_link", queued).unwrap()).unwrap();
        assert_eq!(
            kept,
            serde_json::json!({"person_name": "Jo", "expires_at": "2027-01-14T09:15:00Z"})
        );
        assert!(!secret_removed("sign_in_link", queued));
        assert!(secret_removed("sign_in_link", &kept.to_string()));
        assert_eq!(
            settled_payload("sign_in_link", "not json").as_deref(),
            Some("{}")
        );
        assert_eq!(settled_payload("booking_confirmed", queued), None);
        assert!(!secret_removed("booking_confirmed", "{}"));
    }

    #[test]
    fn masks_addresses() {
        assert_eq!(mask_email("jane.doe@school.org"), "j***@school.org");
        assert_eq!(mask_email("nonsense"), "***");
        assert_eq!(
            redact_addresses("SMTP: permanent error (550): <jane.doe@school.org>: rejected"),
            "SMTP: permanent error (550): <j***@school.org>: rejected"
        );
    }
}
