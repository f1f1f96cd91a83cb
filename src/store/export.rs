//! Everything cpd-hub holds about one person, gathered for a subject access request
//! (UK GDPR article 15) by [`person_export`].

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::audit::AuditEntry;
use super::signin::{LinkRecord, SessionRecord};
use crate::db::schema::{api_tokens, outbox, people};
use crate::db::DbConn;
use crate::domain::roles::Role;
use crate::error::AppResult;

/// A person's record as held.
#[derive(Debug, Queryable, Serialize)]
pub struct PersonRecord {
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
    pub erased_at: Option<NaiveDateTime>,
    /// When the record was made.
    #[serde(with = "crate::domain::time::rfc3339")]
    pub created_at: NaiveDateTime,
    /// When it was last changed.
    #[serde(with = "crate::domain::time::rfc3339")]
    pub updated_at: NaiveDateTime,
}

/// An API token as exported: everything but the secret (which is never stored anyway).
#[derive(Debug, Queryable, Serialize)]
pub struct TokenRecord {
    /// The token's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// When it was made.
    #[serde(with = "crate::domain::time::rfc3339")]
    pub created_at: NaiveDateTime,
    /// When it stops working, if ever.
    #[serde(with = "crate::domain::time::rfc3339::option")]
    pub expires_at: Option<NaiveDateTime>,
    /// When it was last used (to the hour).
    #[serde(with = "crate::domain::time::rfc3339::option")]
    pub last_used_at: Option<NaiveDateTime>,
    /// When it was revoked.
    #[serde(with = "crate::domain::time::rfc3339::option")]
    pub revoked_at: Option<NaiveDateTime>,
}

/// An email to the person, as exported: what and when, not the content (which may hold a
/// sign-in link still usable by whoever reads the export).
#[derive(Debug, Queryable, Serialize)]
pub struct EmailRecord {
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
    pub created_at: NaiveDateTime,
    /// When it was sent.
    #[serde(with = "crate::domain::time::rfc3339::option")]
    pub sent_at: Option<NaiveDateTime>,
}

/// Everything held about one person. Each aggregate that keeps data about people adds its
/// section here (and to [`person_export`]).
#[derive(Debug, Serialize)]
pub struct PersonExport {
    /// When the export was made.
    #[serde(with = "crate::domain::time::rfc3339")]
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
    pub evaluations: Vec<super::evaluation::EvaluationRecord>,
    /// Audit log entries about them or by them.
    pub audit: Vec<AuditEntry>,
    /// Their attendance at sessions, as the registers recorded it.
    pub attendance: Vec<super::attendance::AttendanceExport>,
    /// Their bookings, whatever their status, in the order they were asked for.
    pub bookings: Vec<super::bookings::Booking>,
}

/// Gathers everything held about a person, in one consistent read; 404 when there is no such
/// person.
///
/// Every aggregate that stores data about people (bookings, attendance, evaluation answers,
/// ...) must add a section to [`PersonExport`] and fill it here, so an export stays complete.
pub fn person_export(conn: &mut DbConn, person_id: &str) -> AppResult<PersonExport> {
    crate::db::read_tx(conn, |conn| {
        let person = people::table
            .find(person_id)
            .select((
                people::id,
                people::name,
                people::email,
                people::school_id,
                people::staff_group_id,
                people::erased_at,
                people::created_at,
                people::updated_at,
            ))
            .first::<PersonRecord>(conn)?;
        let api_tokens = api_tokens::table
            .filter(api_tokens::person_id.eq(person_id))
            .order(api_tokens::created_at.asc())
            .select((
                api_tokens::id,
                api_tokens::name,
                api_tokens::created_at,
                api_tokens::expires_at,
                api_tokens::last_used_at,
                api_tokens::revoked_at,
            ))
            .load(conn)?;
        let emails = outbox::table
            .filter(outbox::recipient_person_id.eq(person_id))
            .order(outbox::created_at.asc())
            .select((
                outbox::id,
                outbox::kind,
                outbox::recipient_email,
                outbox::status,
                outbox::created_at,
                outbox::sent_at,
            ))
            .load(conn)?;
        Ok(PersonExport {
            exported_at: crate::domain::time::now(),
            person,
            roles: super::tokens::roles_of(conn, person_id)?,
            api_tokens,
            sessions: super::signin::sessions_of(conn, person_id)?,
            sign_in_links: super::signin::links_of(conn, person_id)?,
            emails,
            evaluations: super::evaluation::export_for(conn, person_id)?,
            audit: super::audit::involving(conn, person_id)?,
            attendance: super::attendance::person_marks(conn, person_id)?,
            bookings: bookings_of(conn, person_id)?,
        })
    })
}

/// The school of a person (for the permission check before an export); 404 when there is no
/// such person.
pub fn school_of(conn: &mut DbConn, person_id: &str) -> AppResult<Option<String>> {
    Ok(people::table
        .find(person_id)
        .select(people::school_id)
        .first(conn)?)
}

/// Every booking of a person, a page of the bookings list at a time (an export is complete
/// however many there are).
fn bookings_of(conn: &mut DbConn, person_id: &str) -> AppResult<Vec<super::bookings::Booking>> {
    let filter = super::bookings::Filter {
        person_id: Some(person_id.to_string()),
        ..Default::default()
    };
    let mut out = Vec::new();
    loop {
        let paging = crate::domain::paging::Paging::new(Some(1000), Some(out.len() as i64))
            .map_err(|(f, m)| crate::error::AppError::invalid(f, m))?;
        let page = super::bookings::list(
            conn,
            &crate::domain::booking::BookingScope::All,
            &filter,
            paging,
        )?;
        let done = page.items.is_empty() || out.len() + page.items.len() >= page.total as usize;
        out.extend(page.items);
        if done {
            return Ok(out);
        }
    }
}
