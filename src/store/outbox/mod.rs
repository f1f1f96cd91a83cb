//! The transactional outbox: notifications are written here inside the transaction that makes
//! the change, so an email exists exactly when the change does. The delivery worker in
//! `email/` renders, sends, retries and records the outcome.

use diesel::prelude::*;

use super::new_id;
use crate::db::schema::outbox;
use crate::db::DbConn;
use crate::domain::time;

mod holds;
pub use holds::{
    booking_course_cancelled, booking_status, check_for, reported_statuses, still_holds,
    still_holds_all, Holds, HoldsCheck,
};

/// One notification to queue.
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    /// Where it goes.
    pub recipient_email: &'a str,
    /// The person it is for, if it is for a person on record.
    pub recipient_person_id: Option<&'a str>,
    /// The record it is about (a booking, a course): the worker re-checks it before sending,
    /// so a message that no longer holds is skipped.
    pub subject_id: Option<&'a str>,
    /// What it says: its kind and the data its templates read.
    pub notification: Notification,
}

/// Queues a message for delivery as soon as possible. Call it inside the transaction of the
/// change it reports. The stored kind and payload are the notification's serde form.
pub fn enqueue(conn: &mut DbConn, msg: NewMessage<'_>) -> QueryResult<String> {
    let (kind, payload) = msg.notification.to_stored();
    enqueue_stored(
        conn,
        StoredMessage {
            kind: &kind,
            recipient_email: msg.recipient_email,
            recipient_person_id: msg.recipient_person_id,
            subject_id: msg.subject_id,
            payload,
        },
    )
}

/// An outbox row made ready but not yet written, for a caller that writes it in one
/// statement with the change it reports (see `store::bookings`' PostgreSQL path). It holds
/// the same values [`enqueue`] writes: status `pending`, no attempts, due now.
#[derive(Debug, Clone)]
pub struct PreparedMessage {
    /// The row's id.
    pub id: String,
    /// The template kind.
    pub kind: String,
    /// Where it goes.
    pub recipient_email: String,
    /// The person it is for, if any.
    pub recipient_person_id: Option<String>,
    /// The payload, as JSON text.
    pub payload: String,
    /// When it was queued (and first due).
    pub now: NaiveDateTime,
    /// The stable `Message-ID`.
    pub message_id: String,
}

/// The row [`enqueue`] would write for `msg`, without writing it (its `subject_id` is left
/// to the caller's statement).
pub fn prepare(msg: NewMessage<'_>) -> PreparedMessage {
    let (kind, payload) = msg.notification.to_stored();
    let id = new_id();
    PreparedMessage {
        message_id: format!("<{id}@cpd-hub>"),
        id,
        kind,
        recipient_email: msg.recipient_email.to_string(),
        recipient_person_id: msg.recipient_person_id.map(str::to_string),
        payload: payload.to_string(),
        now: time::now(),
    }
}

/// A message in its stored form: a kind's name and a JSON payload, taken as they are.
#[derive(Debug, Clone)]
pub struct StoredMessage<'a> {
    /// The template to render, e.g. `booking_confirmed` (a folder in `email-templates/`).
    pub kind: &'a str,
    /// Where it goes.
    pub recipient_email: &'a str,
    /// The person it is for, if it is for a person on record.
    pub recipient_person_id: Option<&'a str>,
    /// The record it is about.
    pub subject_id: Option<&'a str>,
    /// What the template needs, as JSON.
    pub payload: serde_json::Value,
}

/// Queues a message in its stored form, unchecked. The application queues typed
/// notifications with [`enqueue`]; this is for what that cannot write on purpose: the tests
/// and tools that queue rows as an older version stored them, or broken ones, to see how
/// the worker treats them.
pub fn enqueue_stored(conn: &mut DbConn, msg: StoredMessage<'_>) -> QueryResult<String> {
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

use chrono::NaiveDateTime;
use serde::Serialize;

use diesel::dsl::case_when;
use diesel::sql_types::Text;

use crate::domain::notification::{
    carries_secret_link, secret_removed, settled_payload, DeliveryStatus, Kind, Notification,
    Reminder,
};
use crate::domain::paging::{Page, Paging};
use crate::error::{AppError, AppResult};

/// A message a worker has claimed and must now send (or skip, or fail).
#[derive(Debug, Clone, Queryable)]
pub struct Claimed {
    /// The outbox row.
    pub id: String,
    /// The template kind.
    pub kind: String,
    /// Where it goes.
    pub recipient_email: String,
    /// The record it is about.
    pub subject_id: Option<String>,
    /// The template payload (JSON text).
    pub payload: String,
    /// Tries so far, this one included.
    pub attempts: i32,
    /// The stable `Message-ID`.
    pub message_id: String,
    /// When it was queued.
    pub created_at: NaiveDateTime,
}

/// Claims up to `limit` due messages for the worker holding `token`, until `claim_until`:
/// those pending whose next try has come, and those whose earlier claim expired (a worker
/// died mid-send), those first. Each claim counts as a try. Safe with several workers on one database:
/// PostgreSQL skips rows another worker has locked (`FOR UPDATE SKIP LOCKED`); SQLite has one
/// writer at a time (`BEGIN IMMEDIATE`).
pub fn claim(
    conn: &mut DbConn,
    now: NaiveDateTime,
    claim_until: NaiveDateTime,
    token: &str,
    limit: i64,
) -> QueryResult<Vec<Claimed>> {
    let pending = DeliveryStatus::Pending.as_str();
    let sending = DeliveryStatus::Sending.as_str();
    crate::db::write_tx(conn, |conn| {
        // Two index ranges, not one query with an OR: a claim taken over (rare) and then the
        // pending messages in the order they fall due. Each walks its own index in order and
        // stops at the limit; one query with an OR reads both ranges whole into a bitmap,
        // every entry a message claimed or sent since the table was last vacuumed included.
        let expired = outbox::status
            .eq(sending)
            .and(outbox::claimed_until.lt(now));
        let pending_due = outbox::status
            .eq(pending)
            .and(outbox::next_attempt_at.le(now));
        // The ids of up to `$n` rows matching `$due`, in `$order`; on PostgreSQL locked, and
        // those another worker has locked skipped.
        macro_rules! due_ids {
            ($due:expr, $order:expr, $n:expr) => {{
                let q = outbox::table
                    .select(outbox::id)
                    .filter($due)
                    .order($order)
                    .limit($n);
                match &mut *conn {
                    DbConn::Pg(c) => q.for_update().skip_locked().load::<String>(c)?,
                    DbConn::Sqlite(c) => q.load::<String>(c)?,
                }
            }};
        }
        let mut ids = due_ids!(expired, outbox::claimed_until, limit);
        let room = limit - ids.len() as i64;
        if room > 0 {
            ids.extend(due_ids!(pending_due, outbox::next_attempt_at, room));
        }
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        diesel::update(outbox::table.filter(outbox::id.eq_any(&ids)))
            .set((
                outbox::status.eq(sending),
                outbox::claimed_until.eq(claim_until),
                outbox::claim_token.eq(token),
                outbox::attempts.eq(outbox::attempts + 1),
            ))
            .execute(conn)?;
        outbox::table
            .filter(outbox::id.eq_any(&ids))
            .order(outbox::next_attempt_at)
            .select((
                outbox::id,
                outbox::kind,
                outbox::recipient_email,
                outbox::subject_id,
                outbox::payload,
                outbox::attempts,
                outbox::message_id,
                outbox::created_at,
            ))
            .load(conn)
    })
}

/// The condition that the worker holding `token` still holds a row's claim.
macro_rules! held_by {
    ($token:expr) => {
        outbox::claim_token
            .eq($token)
            .and(outbox::status.eq(DeliveryStatus::Sending.as_str()))
    };
}

/// The row, if the worker holding `token` still holds its claim.
macro_rules! held {
    ($id:expr, $token:expr) => {
        outbox::table.filter(outbox::id.eq($id).and(held_by!($token)))
    };
}

/// The columns a recorded send sets, sent at `now` (its payload settled apart).
macro_rules! sent_columns {
    ($now:expr) => {
        (
            outbox::status.eq(DeliveryStatus::Sent.as_str()),
            outbox::sent_at.eq(Some($now)),
            outbox::claimed_until.eq(None::<NaiveDateTime>),
            outbox::claim_token.eq(None::<String>),
        )
    };
}

/// Records a successful send. `false` when the claim was lost (it expired and another worker
/// took the message over), in which case that worker records the outcome. A sign-in email
/// loses its link in the same update ([`settled_payload`]). One statement, so its own tiny
/// transaction: the worker runs it the moment the server has accepted the message, as the
/// window in which a crash makes the message go twice lasts until it commits.
pub fn mark_sent(
    conn: &mut DbConn,
    msg: &Claimed,
    token: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let n = diesel::update(held!(&msg.id, token))
        .set((sent_columns!(now), settle_payload(msg)))
        .execute(conn)?;
    Ok(n == 1)
}

/// What became of a claimed message's try, to be recorded by [`record`].
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The server accepted it.
    Sent,
    /// It can never be sent, for this reason.
    Failed(String),
    /// Try again at `next`; `why` the try failed.
    Retry {
        /// When the next try is due.
        next: NaiveDateTime,
        /// Why this try failed.
        why: String,
    },
}

/// Records the outcomes of several tries (sent at `now`) in one write transaction: the worker
/// gathers those that finish at about the same moment, so a busy queue pays one commit for
/// many messages instead of one each. Each row's update is the one [`mark_sent`],
/// [`mark_done`] or [`mark_retry`] makes alone; the answer says, in order, whether each claim
/// was still held (`false`: another worker took it over and records it).
pub fn record(
    conn: &mut DbConn,
    token: &str,
    now: NaiveDateTime,
    outcomes: &[(Claimed, Outcome)],
) -> QueryResult<Vec<bool>> {
    // Sends with no secret to drop from their payload (all but sign-in links) are recorded by
    // one update for the lot: the columns `mark_sent` sets (`sent_columns!`).
    let plain: Vec<&str> = outcomes
        .iter()
        .filter(|(msg, outcome)| {
            matches!(outcome, Outcome::Sent) && !carries_secret_link(&msg.kind)
        })
        .map(|(msg, _)| msg.id.as_str())
        .collect();
    crate::db::write_tx(conn, |c| {
        let held: std::collections::HashSet<String> = if plain.is_empty() {
            Default::default()
        } else {
            let still_held = outbox::id.eq_any(&plain).and(held_by!(token));
            let sent = sent_columns!(now);
            let held: Vec<String> = match c {
                // The update says which rows it changed.
                DbConn::Pg(c) => diesel::update(outbox::table.filter(still_held))
                    .set(sent)
                    .returning(outbox::id)
                    .get_results(c)?,
                // One writer at a time: nothing changes between the read and the update.
                DbConn::Sqlite(c) => {
                    let held: Vec<String> = outbox::table
                        .select(outbox::id)
                        .filter(still_held)
                        .load(c)?;
                    diesel::update(outbox::table.filter(outbox::id.eq_any(&held)))
                        .set(sent)
                        .execute(c)?;
                    held
                }
            };
            held.into_iter().collect()
        };
        outcomes
            .iter()
            .map(|(msg, outcome)| match outcome {
                Outcome::Sent if !carries_secret_link(&msg.kind) => Ok(held.contains(&msg.id)),
                Outcome::Sent => mark_sent(c, msg, token, now),
                Outcome::Failed(why) => mark_done(c, msg, token, DeliveryStatus::Failed, why),
                Outcome::Retry { next, why } => mark_retry(c, &msg.id, token, *next, why),
            })
            .collect()
    })
}

/// `CASE WHEN payload = <claimed> THEN <settled> ELSE payload END`.
type SettledPayload = diesel::dsl::Otherwise<
    diesel::dsl::case_when<diesel::dsl::Eq<outbox::payload, String>, String, Text>,
    outbox::payload,
>;

/// The payload column's new value once `msg` is settled, if it has a secret to drop. The
/// stored payload is only replaced while it is still the one claimed: an erasure that blanked
/// it meanwhile must not be undone by writing the claimed copy back.
fn settle_payload(msg: &Claimed) -> Option<diesel::dsl::Eq<outbox::payload, SettledPayload>> {
    let kept = settled_payload(&msg.kind, &msg.payload)?;
    Some(
        outbox::payload.eq(
            case_when::<_, _, Text>(outbox::payload.eq(msg.payload.clone()), kept)
                .otherwise(outbox::payload),
        ),
    )
}

/// Gives a claimed message back unsent, due at once and without counting the try (its turn
/// came too late in the claim to start an SMTP exchange). `false` when the claim was lost.
pub fn unclaim(conn: &mut DbConn, id: &str, token: &str) -> QueryResult<bool> {
    let n = diesel::update(held!(id, token))
        .set((
            outbox::status.eq(DeliveryStatus::Pending.as_str()),
            outbox::attempts.eq(outbox::attempts - 1),
            outbox::claimed_until.eq(None::<NaiveDateTime>),
            outbox::claim_token.eq(None::<String>),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// Puts a message back in the queue for another try at `next_attempt_at`.
pub fn mark_retry(
    conn: &mut DbConn,
    id: &str,
    token: &str,
    next_attempt_at: NaiveDateTime,
    error: &str,
) -> QueryResult<bool> {
    let n = diesel::update(held!(id, token))
        .set((
            outbox::status.eq(DeliveryStatus::Pending.as_str()),
            outbox::next_attempt_at.eq(next_attempt_at),
            outbox::last_error.eq(Some(error)),
            outbox::claimed_until.eq(None::<NaiveDateTime>),
            outbox::claim_token.eq(None::<String>),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// Gives up on a message (`failed`) or records that it no longer holds (`skipped`). Either
/// way it will not be sent (unless an admin retries a failed one), so a sign-in email loses
/// its link in the same update.
pub fn mark_done(
    conn: &mut DbConn,
    msg: &Claimed,
    token: &str,
    status: DeliveryStatus,
    reason: &str,
) -> QueryResult<bool> {
    debug_assert!(matches!(
        status,
        DeliveryStatus::Failed | DeliveryStatus::Skipped
    ));
    let n = diesel::update(held!(&msg.id, token))
        .set((
            outbox::status.eq(status.as_str()),
            outbox::last_error.eq(Some(reason)),
            outbox::claimed_until.eq(None::<NaiveDateTime>),
            outbox::claim_token.eq(None::<String>),
            settle_payload(msg),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// How many messages wait to be sent, and when the oldest of them was queued.
pub fn backlog(conn: &mut DbConn) -> QueryResult<(i64, Option<NaiveDateTime>)> {
    let waiting = outbox::status.eq_any([
        DeliveryStatus::Pending.as_str(),
        DeliveryStatus::Sending.as_str(),
    ]);
    let count: i64 = outbox::table
        .filter(waiting.clone())
        .count()
        .get_result(conn)?;
    let oldest: Option<NaiveDateTime> = outbox::table
        .filter(waiting)
        .select(diesel::dsl::min(outbox::created_at))
        .first(conn)?;
    Ok((count, oldest))
}

/// A message as an admin sees it. The payload is left out: it may hold a sign-in link.
#[derive(Debug, Clone, Serialize, Queryable, Selectable)]
#[diesel(table_name = outbox)]
pub struct OutboxEntry {
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
    #[serde(with = "time::rfc3339")]
    pub next_attempt_at: NaiveDateTime,
    /// Why the last try failed, or why the message was skipped.
    pub last_error: Option<String>,
    /// The `Message-ID` header, the same on every try.
    pub message_id: String,
    /// When it was queued.
    #[serde(with = "time::rfc3339")]
    pub created_at: NaiveDateTime,
    /// When it was handed to the mail server.
    #[serde(with = "time::rfc3339::option")]
    pub sent_at: Option<NaiveDateTime>,
}

/// Which messages to list; empty or `None` matches any.
#[derive(Debug, Clone, Default)]
pub struct OutboxFilter {
    /// Only messages in one of these statuses.
    pub statuses: Vec<DeliveryStatus>,
    /// Only messages handed to the mail server at or after this time.
    pub sent_since: Option<NaiveDateTime>,
}

/// Messages, newest first, narrowed by `filter`.
pub fn list(
    conn: &mut DbConn,
    filter: &OutboxFilter,
    paging: Paging,
) -> QueryResult<Page<OutboxEntry>> {
    let statuses: Vec<&str> = filter.statuses.iter().map(|s| s.as_str()).collect();
    let query = || {
        let mut q = outbox::table.into_boxed();
        if !statuses.is_empty() {
            q = q.filter(outbox::status.eq_any(statuses.clone()));
        }
        if let Some(t) = filter.sent_since {
            q = q.filter(outbox::sent_at.ge(t));
        }
        q
    };
    crate::db::read_tx(conn, |conn| {
        let total = query().count().get_result(conn)?;
        let items = query()
            .select(OutboxEntry::as_select())
            .order((outbox::created_at.desc(), outbox::id.desc()))
            .limit(paging.limit)
            .offset(paging.offset)
            .load(conn)?;
        Ok(Page { items, total })
    })
}

/// One message.
pub fn get(conn: &mut DbConn, id: &str) -> AppResult<OutboxEntry> {
    outbox::table
        .filter(outbox::id.eq(id))
        .select(OutboxEntry::as_select())
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound)
}

/// Queues a failed message again for a fresh round of tries, recording who asked. 409 when it
/// is not failed, or when it is a sign-in email whose link was removed as it failed.
pub fn retry(conn: &mut DbConn, id: &str, actor_id: &str) -> AppResult<OutboxEntry> {
    crate::db::write_tx(conn, |conn| {
        let entry = get(conn, id)?;
        if entry.status != DeliveryStatus::Failed.as_str() {
            return Err(AppError::conflict(
                "not_failed",
                format!(
                    "Only a failed message can be retried; this one is {}.",
                    entry.status
                ),
            ));
        }
        let payload: String = outbox::table.find(id).select(outbox::payload).first(conn)?;
        if secret_removed(&entry.kind, &payload) {
            return Err(AppError::conflict(
                "link_removed",
                if entry.kind == Kind::SignInLink.as_str() {
                    "This sign-in email's link was removed when it failed, so it cannot be sent \
                     again; the person can ask for a new link."
                } else {
                    "This email's link was removed when it failed, so it cannot be sent again; \
                     the next reminder carries a new link."
                },
            ));
        }
        requeue(conn, id, &entry.kind, entry.attempts, actor_id)?;
        get(conn, id)
    })
}

/// Puts a failed message back in the queue with its tries reset, and records who asked.
fn requeue(
    conn: &mut DbConn,
    id: &str,
    kind: &str,
    attempts: i32,
    actor_id: &str,
) -> QueryResult<()> {
    diesel::update(
        outbox::table
            .filter(outbox::id.eq(id))
            .filter(outbox::status.eq(DeliveryStatus::Failed.as_str())),
    )
    .set((
        outbox::status.eq(DeliveryStatus::Pending.as_str()),
        outbox::attempts.eq(0),
        outbox::next_attempt_at.eq(time::now()),
        outbox::claimed_until.eq(None::<NaiveDateTime>),
        outbox::claim_token.eq(None::<String>),
    ))
    .execute(conn)?;
    super::audit::record(
        conn,
        Some(actor_id),
        "outbox.retry",
        "outbox",
        Some(id),
        serde_json::json!({"kind": kind, "attempts": attempts}),
    )
}

/// What retrying every failed message did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RetriedAll {
    /// Messages queued again.
    pub queued: usize,
    /// Failed messages left as they are: their link was removed as they failed, so they
    /// cannot be sent again.
    pub kept: usize,
}

/// Queues every failed message again in one transaction, each as [`retry`] does (an audit
/// entry per message), leaving those whose link was removed.
pub fn retry_failed(conn: &mut DbConn, actor_id: &str) -> AppResult<RetriedAll> {
    crate::db::write_tx(conn, |conn| {
        let failed: Vec<(String, String, String, i32)> = outbox::table
            .filter(outbox::status.eq(DeliveryStatus::Failed.as_str()))
            .order((outbox::created_at, outbox::id))
            .select((outbox::id, outbox::kind, outbox::payload, outbox::attempts))
            .load(conn)?;
        let mut done = RetriedAll::default();
        for (id, kind, payload, attempts) in failed {
            if secret_removed(&kind, &payload) {
                done.kept += 1;
            } else {
                requeue(conn, &id, &kind, attempts, actor_id)?;
                done.queued += 1;
            }
        }
        Ok(done)
    })
}

/// A course reminder that has come due for one confirmed booking.
#[derive(Debug, Clone)]
pub struct ReminderDue {
    /// The booking (the reminder's subject).
    pub booking_id: String,
    /// The booked person.
    pub person_id: String,
    /// Their address.
    pub email: String,
    /// What the reminder says.
    pub reminder: Reminder,
}

impl ReminderDue {
    /// The `course_reminder` payload as it is stored (see `email-templates/README.md`).
    pub fn payload(&self) -> serde_json::Value {
        Notification::CourseReminder(self.reminder.clone()).payload()
    }
}

/// The bookings on the reminder due-queue that are due a course reminder at `now`: confirmed,
/// on a published course whose first session starts after `now` and within `days` days of
/// it, for people not erased, not reminded yet; each with its `course_reminder` payload
/// (links made from `base_url`). The bookings store owns the query and the payload, as it
/// does for every other booking email.
pub fn due_reminders(
    conn: &mut DbConn,
    now: NaiveDateTime,
    days: u32,
    base_url: &str,
) -> QueryResult<Vec<ReminderDue>> {
    let queued = super::bookings::queued_reminders(conn, now, days, i64::MAX)?;
    let ids: Vec<String> = queued.into_iter().map(|(id, _)| id).collect();
    super::bookings::due_reminders(conn, &ids, now, days, base_url)
}

/// What one run of the course reminder scheduler did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReminderRun {
    /// Rows of the due-queue it read (each is then done with and removed).
    pub examined: usize,
    /// Reminders queued.
    pub queued: usize,
}

/// Bookings read from the reminder due-queue per transaction.
const REMINDER_BATCH: i64 = 500;

/// One run of the course reminder scheduler as of `now`: reads the bookings on the due-queue
/// whose course starts within `days` days (or has started), queues a reminder for those due
/// one, and takes every row it read off the queue in the same transaction (a row whose
/// course moved in the meantime stays, with its new start). A booking that becomes due again
/// (confirmed from the waiting list, its course moved or published) is queued again by the
/// triggers, and is still reminded at most once.
pub fn run_reminders(
    conn: &mut DbConn,
    now: NaiveDateTime,
    days: u32,
    base_url: &str,
) -> QueryResult<ReminderRun> {
    use crate::db::schema::course_reminder_due as due_q;
    let mut run = ReminderRun::default();
    loop {
        let rows = super::bookings::queued_reminders(conn, now, days, REMINDER_BATCH)?;
        run.examined += rows.len();
        if rows.is_empty() {
            return Ok(run);
        }
        let ids: Vec<String> = rows.iter().map(|(id, _)| id.clone()).collect();
        let due = super::bookings::due_reminders(conn, &ids, now, days, base_url)?;
        run.queued += crate::db::write_tx(conn, |c| {
            let queued = enqueue_reminders_in_tx(c, &due)?;
            for (booking_id, starts_at) in &rows {
                diesel::delete(
                    due_q::table
                        .filter(due_q::booking_id.eq(booking_id))
                        .filter(due_q::starts_at.eq(starts_at)),
                )
                .execute(c)?;
            }
            Ok::<_, diesel::result::Error>(queued)
        })?;
        if (rows.len() as i64) < REMINDER_BATCH {
            return Ok(run);
        }
    }
}

/// Queues a `course_reminder` for each due booking that has not had one yet; returns how many
/// were queued. One transaction, so a reminder is queued at most once even with several
/// workers running the scheduler.
pub fn enqueue_reminders(conn: &mut DbConn, due: &[ReminderDue]) -> QueryResult<usize> {
    if due.is_empty() {
        return Ok(0);
    }
    crate::db::write_tx(conn, |conn| enqueue_reminders_in_tx(conn, due))
}

/// [`enqueue_reminders`] inside the caller's write transaction.
fn enqueue_reminders_in_tx(conn: &mut DbConn, due: &[ReminderDue]) -> QueryResult<usize> {
    use crate::db::schema::course_reminder_due as due_q;
    // Two schedulers on one PostgreSQL would otherwise both see "not queued yet".
    if let DbConn::Pg(c) = conn {
        diesel::sql_query(format!(
            "SELECT pg_advisory_xact_lock({})",
            crate::db::locks::REMINDERS
        ))
        .execute(c)?;
    }
    let mut queued = 0;
    for r in due {
        let already: i64 = outbox::table
            .filter(outbox::kind.eq(Kind::CourseReminder.as_str()))
            .filter(outbox::subject_id.eq(&r.booking_id))
            .count()
            .get_result(conn)?;
        if already == 0 {
            enqueue(
                conn,
                NewMessage {
                    recipient_email: &r.email,
                    recipient_person_id: Some(&r.person_id),
                    subject_id: Some(&r.booking_id),
                    notification: Notification::CourseReminder(r.reminder.clone()),
                },
            )?;
            queued += 1;
        }
        // Reminded (now or before): off the due-queue.
        diesel::delete(due_q::table.filter(due_q::booking_id.eq(&r.booking_id))).execute(conn)?;
    }
    Ok(queued)
}
