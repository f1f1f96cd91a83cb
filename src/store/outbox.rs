//! The transactional outbox: notifications are written here inside the transaction that makes
//! the change, so an email exists exactly when the change does. The delivery worker in
//! `email/` renders, sends, retries and records the outcome.

use diesel::prelude::*;

use super::new_id;
use crate::db::schema::outbox;
use crate::db::DbConn;
use crate::domain::time;

/// One notification to queue.
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    /// The template to render, e.g. `booking_confirmed` (a folder in `email-templates/`).
    pub kind: &'a str,
    /// Where it goes.
    pub recipient_email: &'a str,
    /// The person it is for, if it is for a person on record.
    pub recipient_person_id: Option<&'a str>,
    /// The record it is about (a booking, a course): the worker re-checks it before sending,
    /// so a message that no longer holds is skipped.
    pub subject_id: Option<&'a str>,
    /// What the template needs, as JSON.
    pub payload: serde_json::Value,
}

/// Queues a message for delivery as soon as possible. Call it inside the transaction of the
/// change it reports.
pub fn enqueue(conn: &mut DbConn, msg: NewMessage<'_>) -> QueryResult<String> {
    let id = new_id();
    let now = time::now();
    diesel::insert_into(outbox::table)
        .values((
            outbox::id.eq(&id),
            outbox::kind.eq(msg.kind),
            outbox::recipient_email.eq(msg.recipient_email),
            outbox::recipient_person_id.eq(msg.recipient_person_id),
            outbox::subject_id.eq(msg.subject_id),
            outbox::payload.eq(msg.payload.to_string()),
            outbox::status.eq("pending"),
            outbox::attempts.eq(0),
            outbox::next_attempt_at.eq(now),
            // A stable Message-ID lets a resend after a crash be recognised as the same email.
            outbox::message_id.eq(format!("<{id}@cpd-hub>")),
            outbox::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(id)
}
