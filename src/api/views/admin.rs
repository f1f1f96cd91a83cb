//! The admin's views: the email outbox and the audit log.

use chrono::NaiveDateTime;
use serde::Serialize;

use super::view;

view! {
    /// One audit log entry as read back.
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct AuditEntry from crate::store::audit::AuditEntry {
        /// The entry's id.
        pub id: String,
        /// When it happened.
        #[serde(with = "crate::domain::time::rfc3339")]
        #[schema(value_type = String, format = DateTime)]
        pub at: NaiveDateTime,
        /// Who did it (a person's id); null for the command line or the system.
        pub actor_id: Option<String>,
        /// What was done, e.g. `role.grant`, `person.erase`, `schools.import`.
        pub action: String,
        /// The kind of record it was done to, e.g. `person`, `course`.
        pub subject_type: String,
        /// The record's id.
        pub subject_id: Option<String>,
        /// Particulars, as recorded.
        #[schema(value_type = Object)]
        pub detail: serde_json::Value,
    }

    /// A message as an admin sees it. The payload is left out: it may hold a sign-in link.
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct OutboxEntry from crate::store::outbox::OutboxEntry {
        /// The message's id.
        pub id: String,
        /// The notification kind, such as `booking_confirmed`.
        pub kind: String,
        /// Where it goes.
        pub recipient_email: String,
        /// The person it is for, if on record.
        pub recipient_person_id: Option<String>,
        /// The record it is about (a booking, a course).
        pub subject_id: Option<String>,
        /// `pending`, `sending`, `sent`, `failed` or `skipped`.
        pub status: String,
        /// Tries so far.
        pub attempts: i32,
        /// When the next try is due (for `pending`).
        #[serde(with = "crate::domain::time::rfc3339")]
        #[schema(value_type = String, format = DateTime)]
        pub next_attempt_at: NaiveDateTime,
        /// Why the last try failed, or why the message was skipped.
        pub last_error: Option<String>,
        /// The `Message-ID` header, the same on every try.
        pub message_id: String,
        /// When it was queued.
        #[serde(with = "crate::domain::time::rfc3339")]
        #[schema(value_type = String, format = DateTime)]
        pub created_at: NaiveDateTime,
        /// When it was handed to the mail server.
        #[serde(with = "crate::domain::time::rfc3339::option")]
        #[schema(value_type = Option<String>, format = DateTime)]
        pub sent_at: Option<NaiveDateTime>,
    }
}
