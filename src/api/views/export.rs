//! A person's data export.

use chrono::NaiveDateTime;
use serde::Serialize;

use super::admin::AuditEntry;
use super::attendance::AttendanceExport;
use super::bookings::Booking;
use super::evaluation::EvaluationRecord;
use super::view;
use crate::domain::roles::Role;

view! {
    /// A person's record as held.
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct PersonRecord from crate::store::export::PersonRecord {
        /// Opaque id.
        pub id: String,
        /// Name.
        pub name: String,
        /// Email address.
        pub email: String,
        /// Their school.
        pub school_id: Option<String>,
        /// Their staff group.
        pub staff_group_id: Option<String>,
        /// When their personal data was erased, if it was.
        #[serde(with = "crate::domain::time::rfc3339::option")]
        #[schema(value_type = Option<String>, format = DateTime)]
        pub erased_at: Option<NaiveDateTime>,
        /// When the record was made.
        #[serde(with = "crate::domain::time::rfc3339")]
        #[schema(value_type = String, format = DateTime)]
        pub created_at: NaiveDateTime,
        /// When it was last changed.
        #[serde(with = "crate::domain::time::rfc3339")]
        #[schema(value_type = String, format = DateTime)]
        pub updated_at: NaiveDateTime,
    }

    /// An API token as exported: everything but the secret (which is never stored anyway).
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct TokenRecord from crate::store::export::TokenRecord {
        /// The token's id.
        pub id: String,
        /// Its name.
        pub name: String,
        /// When it was made.
        #[serde(with = "crate::domain::time::rfc3339")]
        #[schema(value_type = String, format = DateTime)]
        pub created_at: NaiveDateTime,
        /// When it stops working, if ever.
        #[serde(with = "crate::domain::time::rfc3339::option")]
        #[schema(value_type = Option<String>, format = DateTime)]
        pub expires_at: Option<NaiveDateTime>,
        /// When it was last used (to the hour).
        #[serde(with = "crate::domain::time::rfc3339::option")]
        #[schema(value_type = Option<String>, format = DateTime)]
        pub last_used_at: Option<NaiveDateTime>,
        /// When it was revoked.
        #[serde(with = "crate::domain::time::rfc3339::option")]
        #[schema(value_type = Option<String>, format = DateTime)]
        pub revoked_at: Option<NaiveDateTime>,
    }

    /// An email to the person, as exported: what and when, not the content (which may hold a
    /// sign-in link still usable by whoever reads the export).
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct EmailRecord from crate::store::export::EmailRecord {
        /// The message's id.
        pub id: String,
        /// What kind of email, e.g. `sign_in_link`, `booking_confirmed`.
        pub kind: String,
        /// The address it went to.
        pub recipient_email: String,
        /// `pending`, `sent` or `failed`.
        pub status: String,
        /// When it was queued.
        #[serde(with = "crate::domain::time::rfc3339")]
        #[schema(value_type = String, format = DateTime)]
        pub created_at: NaiveDateTime,
        /// When it was sent.
        #[serde(with = "crate::domain::time::rfc3339::option")]
        #[schema(value_type = Option<String>, format = DateTime)]
        pub sent_at: Option<NaiveDateTime>,
    }

    /// Everything held about one person. Each aggregate that keeps data about people adds its
    /// section here (and to [`person_export`]).
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct PersonExport from crate::store::export::PersonExport {
        /// When the export was made.
        #[serde(with = "crate::domain::time::rfc3339")]
        #[schema(value_type = String, format = DateTime)]
        pub exported_at: NaiveDateTime,
        /// The person's record.
        pub person: PersonRecord,
        /// Their roles.
        pub roles: Vec<Role>,
        /// Their API tokens, live and revoked, without secrets.
        pub api_tokens: Vec<TokenRecord>,
        /// Their browser sessions (kept for 30 days after they end).
        pub sessions: Vec<SessionRecord>,
        /// Their sign-in link requests (kept for a day).
        pub sign_in_links: Vec<LinkRecord>,
        /// Emails sent or queued to them.
        pub emails: Vec<EmailRecord>,
        /// Their evaluation invitations, with their own answers.
        pub evaluations: Vec<EvaluationRecord>,
        /// Audit log entries about them or by them.
        pub audit: Vec<AuditEntry>,
        /// Their attendance at sessions, as the registers recorded it.
        pub attendance: Vec<AttendanceExport>,
        /// Their bookings, whatever their status, in the order they were asked for.
        pub bookings: Vec<Booking>,
    }

    /// A browser session as a person's data export shows it (never its secret).
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct SessionRecord from crate::store::signin::SessionRecord {
        /// The session's id.
        pub id: String,
        /// When it began (the sign-in).
        #[serde(with = "crate::domain::time::rfc3339")]
        #[schema(value_type = String, format = DateTime)]
        pub created_at: NaiveDateTime,
        /// When it was last used (to a few minutes).
        #[serde(with = "crate::domain::time::rfc3339")]
        #[schema(value_type = String, format = DateTime)]
        pub last_seen_at: NaiveDateTime,
        /// Its absolute end.
        #[serde(with = "crate::domain::time::rfc3339")]
        #[schema(value_type = String, format = DateTime)]
        pub expires_at: NaiveDateTime,
        /// When it was ended by signing out.
        #[serde(with = "crate::domain::time::rfc3339::option")]
        #[schema(value_type = Option<String>, format = DateTime)]
        pub revoked_at: Option<NaiveDateTime>,
    }

    /// A sign-in link request as a person's data export shows it (never its secret).
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct LinkRecord from crate::store::signin::LinkRecord {
        /// The request's id.
        pub id: String,
        /// When it was asked for.
        #[serde(with = "crate::domain::time::rfc3339")]
        #[schema(value_type = String, format = DateTime)]
        pub created_at: NaiveDateTime,
        /// When the link stopped (or stops) working.
        #[serde(with = "crate::domain::time::rfc3339")]
        #[schema(value_type = String, format = DateTime)]
        pub expires_at: NaiveDateTime,
        /// When it was used to sign in.
        #[serde(with = "crate::domain::time::rfc3339::option")]
        #[schema(value_type = Option<String>, format = DateTime)]
        pub used_at: Option<NaiveDateTime>,
        /// The client address it was asked from.
        pub requested_ip: String,
    }
}
