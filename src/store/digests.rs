//! The termly digest's recipients, and sending it once per term: the `digests_sent` row and
//! the queued emails are written in one transaction, so a term's digest is queued exactly
//! when it is recorded as sent, however many times or copies run it.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{digests_sent, people, person_roles};
use crate::db::DbConn;
use crate::domain::notification::{Digest, Notification};
use crate::domain::roles::Role;
use crate::store::outbox::{self, NewMessage};

/// Someone the digest goes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipient {
    /// Their address.
    pub email: String,
    /// The person, when the address belongs to someone on record.
    pub person_id: Option<String>,
    /// Their name, when on record.
    pub name: Option<String>,
}

/// The digest's recipients: the configured addresses (`DIGEST_RECIPIENTS`) when there are
/// any, named where they belong to someone on record; otherwise everyone with the
/// `cpd_group` role who has not been erased. Ordered by address, each address once.
pub fn recipients(conn: &mut DbConn, configured: &[String]) -> QueryResult<Vec<Recipient>> {
    let mut out: Vec<Recipient> = if configured.is_empty() {
        people::table
            .inner_join(person_roles::table)
            .filter(person_roles::role.eq(Role::CpdGroup.as_str()))
            .filter(people::erased_at.is_null())
            .select((people::id, people::name, people::email))
            .load::<(String, String, String)>(conn)?
            .into_iter()
            .map(|(id, name, email)| Recipient {
                email,
                person_id: Some(id),
                name: Some(name),
            })
            .collect()
    } else {
        let lower: Vec<String> = configured.iter().map(|e| e.to_lowercase()).collect();
        let known: Vec<(String, String, String)> = people::table
            .filter(crate::store::lower(people::email).eq_any(&lower))
            .filter(people::erased_at.is_null())
            .select((people::id, people::name, people::email))
            .load(conn)?;
        configured
            .iter()
            .map(|email| {
                let person = known.iter().find(|(_, _, e)| e.eq_ignore_ascii_case(email));
                Recipient {
                    email: email.clone(),
                    person_id: person.map(|p| p.0.clone()),
                    name: person.map(|p| p.1.clone()),
                }
            })
            .collect()
    };
    out.sort_by_key(|r| r.email.to_lowercase());
    out.dedup_by(|a, b| a.email.eq_ignore_ascii_case(&b.email));
    Ok(out)
}

/// When a term's digest went, if it has.
pub fn sent_at(conn: &mut DbConn, term_key: &str) -> QueryResult<Option<NaiveDateTime>> {
    digests_sent::table
        .find(term_key)
        .select(digests_sent::sent_at)
        .first(conn)
        .optional()
}

/// What [`send`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sent {
    /// Queued for this many recipients and recorded.
    Queued(usize),
    /// Already sent at this time; nothing queued.
    AlreadySent(NaiveDateTime),
    /// Nobody to send it to; nothing queued or recorded, so it goes once there is someone.
    NoRecipients,
}

/// Queues the digest of `term_key` for each recipient (`payload_for` addresses the payload)
/// and records the term as sent, in one transaction. A term already recorded is left alone
/// unless `force`, which sends again and moves its `sent_at`. Concurrent runs send once: the
/// second finds the row (SQLite takes the write lock first) or fails on its key (PostgreSQL)
/// and rolls back its messages.
pub fn send(
    conn: &mut DbConn,
    term_key: &str,
    recipients: &[Recipient],
    payload_for: impl Fn(&Recipient) -> Digest,
    force: bool,
    now: NaiveDateTime,
) -> QueryResult<Sent> {
    let result = crate::db::write_tx(conn, |conn| {
        let before = sent_at(conn, term_key)?;
        if let (Some(at), false) = (before, force) {
            return Ok(Sent::AlreadySent(at));
        }
        if recipients.is_empty() {
            return Ok(Sent::NoRecipients);
        }
        if before.is_some() {
            diesel::update(digests_sent::table.find(term_key))
                .set((
                    digests_sent::sent_at.eq(now),
                    digests_sent::recipients.eq(recipients.len() as i32),
                ))
                .execute(conn)?;
        } else {
            diesel::insert_into(digests_sent::table)
                .values((
                    digests_sent::term_key.eq(term_key),
                    digests_sent::sent_at.eq(now),
                    digests_sent::recipients.eq(recipients.len() as i32),
                ))
                .execute(conn)?;
        }
        for r in recipients {
            outbox::enqueue(
                conn,
                NewMessage {
                    recipient_email: &r.email,
                    recipient_person_id: r.person_id.as_deref(),
                    subject_id: None,
                    notification: Notification::TermlyDigest(payload_for(r)),
                },
            )?;
        }
        crate::store::audit::record(
            conn,
            None,
            "digest.sent",
            "term",
            Some(term_key),
            serde_json::json!({ "recipients": recipients.len(), "forced": before.is_some() }),
        )?;
        Ok(Sent::Queued(recipients.len()))
    });
    match result {
        // Another run recorded the term between our read and our insert.
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) if !force => Ok(Sent::AlreadySent(sent_at(conn, term_key)?.unwrap_or(now))),
        other => other,
    }
}
