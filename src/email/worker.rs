//! The delivery worker: claims due messages from the outbox, checks they still hold, renders
//! and sends them outside any database transaction, then records the outcome. Failures are
//! retried with exponential backoff and jitter; after the last try a message is `failed` and
//! an admin can retry it. A claim left by a worker that died expires and another worker (or
//! this one after a restart) takes the message over, so nothing is lost; the stable
//! `Message-ID` lets a receiver recognise the rare email sent twice that way.
//!
//! Two things keep those duplicates few. A send is recorded the moment the server accepts
//! it, on connections of the worker's own (so it never queues behind the requests waiting for
//! the shared pool), in one transaction with the other sends that finished while the last
//! record was being written: only a message accepted in the few milliseconds before a crash
//! can go twice. And no SMTP exchange starts that could still be
//! running when its claim expires, so a worker that takes an expired claim over never sends
//! a message that a live worker is sending too.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use rand::Rng;
use tokio::sync::{mpsc, oneshot, watch, Notify};
use tokio::task::JoinHandle;

use super::Mailer;
use crate::config::OutboxSettings;
use crate::db::{DbConn, Pool};
use crate::domain::notification::{redact_addresses, retry_delay_ms, DeliveryStatus, Kind};
use crate::domain::time;
use crate::metrics::Metrics;
use crate::store::outbox::{self as store, Claimed, Holds, Outcome};

/// How often the course reminder scheduler looks for reminders that have come due.
const REMINDER_EVERY: Duration = Duration::from_secs(600);
/// How long the worker waits after a change wakes it before claiming, so the messages of
/// other changes made in the meantime come in the same claim: while bookings arrive by the
/// hundred a second, one claim and one commit serve many emails instead of one or two each.
/// Too short for anyone waiting for an email to notice.
const GATHER: Duration = Duration::from_millis(20);
/// How often an idle worker refreshes the queue depth and age on `/metrics`.
const STATS_EVERY: Duration = Duration::from_secs(1);

/// A running worker.
pub struct WorkerHandle {
    stop: watch::Sender<bool>,
    join: JoinHandle<()>,
}

impl WorkerHandle {
    /// Asks the worker to stop after the batch it is sending, and waits for it (at most
    /// `grace`; claims it leaves behind expire and are taken over later).
    pub async fn stop(self, grace: Duration) {
        let _ = self.stop.send(true);
        if tokio::time::timeout(grace, self.join).await.is_err() {
            tracing::warn!("the email worker did not stop in time; its claims will expire");
        }
    }
}

/// Everything the worker needs.
pub struct Worker {
    pool: Pool,
    settings: OutboxSettings,
    metrics: Arc<Metrics>,
    mailer: Arc<Mailer>,
    wake: Arc<Notify>,
    /// This worker's claim token: marks its claims apart from other workers'.
    token: String,
    /// Where outcomes are recorded: connections of the worker's own (see the module docs).
    record: Pool,
}

impl Worker {
    /// A worker over the given pool and mailer; `wake` is poked after a change queues email.
    pub fn new(
        pool: Pool,
        settings: OutboxSettings,
        metrics: Arc<Metrics>,
        mailer: Arc<Mailer>,
        wake: Arc<Notify>,
    ) -> Worker {
        Worker {
            record: pool.clone(),
            pool,
            settings,
            metrics,
            mailer,
            wake,
            token: uuid::Uuid::new_v4().to_string(),
        }
    }

    /// Records outcomes through `pool` instead of the shared one (see the module docs).
    pub fn recording_through(mut self, pool: Pool) -> Worker {
        self.record = pool;
        self
    }

    /// Starts the worker on the current tokio runtime.
    pub fn spawn(self) -> WorkerHandle {
        let (stop, stopped) = watch::channel(false);
        let join = tokio::spawn(Arc::new(self).run(stopped));
        WorkerHandle { stop, join }
    }

    async fn run(self: Arc<Self>, mut stopped: watch::Receiver<bool>) {
        tracing::info!(transport = %self.mailer.transport.describe(), "email worker started");
        let mut last_stats: Option<Instant> = None;
        let mut last_reminders: Option<Instant> = None;
        loop {
            if *stopped.borrow() {
                break;
            }
            if last_reminders.is_none_or(|t| t.elapsed() >= REMINDER_EVERY) {
                last_reminders = Some(Instant::now());
                if let Err(e) = self.schedule_reminders().await {
                    tracing::error!(error = %e, "course reminders could not be scheduled");
                }
            }
            let outcome = self.deliver_batch().await;
            if last_stats.is_none_or(|t| t.elapsed() >= STATS_EVERY)
                || !matches!(outcome, Ok(n) if n > 0)
            {
                last_stats = Some(Instant::now());
                if let Err(e) = self.refresh_stats().await {
                    tracing::warn!(error = %e, "outbox figures could not be read");
                }
            }
            match outcome {
                // A full batch: more are likely due, so go straight on.
                Ok(n) if n as i64 >= self.settings.batch => continue,
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "the email worker could not reach the outbox")
                }
            }
            // A wake-up stored while the batch was sent (`notify_one` keeps one) returns at
            // once; otherwise this waits for the next change or the poll.
            let woken = tokio::select! {
                _ = self.wake.notified() => true,
                _ = tokio::time::sleep(self.settings.poll) => false,
                _ = stopped.changed() => false,
            };
            if woken {
                tokio::select! {
                    _ = tokio::time::sleep(GATHER) => {}
                    _ = stopped.changed() => {}
                }
            }
        }
        tracing::info!("email worker stopped");
    }

    /// Runs blocking database work off the async threads.
    async fn db<T, F>(&self, f: F) -> anyhow::Result<T>
    where
        F: FnOnce(&mut DbConn) -> diesel::QueryResult<T> + Send + 'static,
        T: Send + 'static,
    {
        Self::run_on(self.pool.clone(), f).await
    }

    /// Records an outcome on the worker's own connections.
    async fn record_db<T, F>(&self, f: F) -> anyhow::Result<T>
    where
        F: FnOnce(&mut DbConn) -> diesel::QueryResult<T> + Send + 'static,
        T: Send + 'static,
    {
        Self::run_on(self.record.clone(), f).await
    }

    async fn run_on<T, F>(pool: Pool, f: F) -> anyhow::Result<T>
    where
        F: FnOnce(&mut DbConn) -> diesel::QueryResult<T> + Send + 'static,
        T: Send + 'static,
    {
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get()?;
            Ok(f(&mut conn)?)
        })
        .await?
    }

    /// Claims one batch and delivers it. Returns how many messages were claimed.
    async fn deliver_batch(self: &Arc<Self>) -> anyhow::Result<usize> {
        let now = time::now();
        let until = now
            + chrono::Duration::from_std(self.settings.claim_for())
                .unwrap_or(chrono::Duration::minutes(5));
        let token = self.token.clone();
        let limit = self.settings.batch;
        let claimed = self
            .db(move |c| store::claim(c, now, until, &token, limit))
            .await?;
        let count = claimed.len();
        if count == 0 {
            return Ok(0);
        }
        // Give up on messages whose last try never finished, and skip those that no longer
        // hold, in one trip to the database.
        let token = self.token.clone();
        let max = self.settings.max_attempts;
        let (to_send, failed, skipped) = self
            .db(move |c| {
                let mut to_send = Vec::new();
                let (mut failed, mut skipped) = (0, 0);
                let (overdone, to_check): (Vec<Claimed>, Vec<Claimed>) =
                    claimed.into_iter().partition(|m| m.attempts > max);
                for m in overdone {
                    let why = format!("gave up after {max} tries (the last one did not finish)");
                    store::mark_done(c, &m, &token, DeliveryStatus::Failed, &why)?;
                    failed += 1;
                }
                let holds = store::still_holds_all(c, &to_check, time::now())?;
                for (m, holds) in to_check.into_iter().zip(holds) {
                    match holds {
                        Holds::Yes => to_send.push(m),
                        Holds::No(why) => {
                            store::mark_done(c, &m, &token, DeliveryStatus::Skipped, &why)?;
                            skipped += 1;
                        }
                    }
                }
                Ok((to_send, failed, skipped))
            })
            .await?;
        self.count("failed", failed);
        self.count("skipped", skipped);
        // Each finished try goes to the recorder at once; it writes whatever has finished
        // by the time it gets to the database in one transaction (see `record_finished`).
        // A send's slot is free only once its outcome is written, so no more than
        // `OUTBOX_CONCURRENCY` messages are ever sent and not yet recorded.
        let (finished, to_record) = mpsc::unbounded_channel();
        let sends = async move {
            futures_util::stream::iter(to_send)
                .map(move |m| {
                    let (me, finished) = (self.clone(), finished.clone());
                    async move {
                        if let Some((m, outcome)) = me.deliver(m, until).await {
                            let (written, recorded) = oneshot::channel();
                            if finished.send((m, outcome, written)).is_ok() {
                                let _ = recorded.await;
                            }
                        }
                    }
                })
                .buffer_unordered(self.settings.concurrency)
                .collect::<Vec<()>>()
                .await;
            // The stream, and with it the last sender, is gone: the recorder then stops.
        };
        tokio::join!(sends, self.record_finished(to_record));
        Ok(count)
    }

    /// Records tries as they finish: the first waiting outcome and every other one that has
    /// finished meanwhile, in one transaction on the worker's own connections. An idle queue
    /// records each message alone the moment its send is accepted, as before; a busy one
    /// shares a commit among the sends that finished during the last write, so a crash can
    /// make no more messages go twice than were accepted in those few milliseconds.
    async fn record_finished(&self, mut finished: mpsc::UnboundedReceiver<Finished>) {
        while let Some(first) = finished.recv().await {
            let mut waiting = vec![first];
            while let Ok(more) = finished.try_recv() {
                waiting.push(more);
            }
            let (done, written): (Vec<_>, Vec<_>) = waiting
                .into_iter()
                .map(|(m, outcome, written)| ((m, outcome), written))
                .unzip();
            let token = self.token.clone();
            let recorded = self
                .record_db(move |c| {
                    let held = store::record(c, &token, time::now(), &done)?;
                    Ok((done, held))
                })
                .await;
            match recorded {
                Ok((done, held)) => {
                    for ((m, outcome), held) in done.iter().zip(held) {
                        let label = label(outcome);
                        if held {
                            self.count(label, 1);
                        } else {
                            tracing::warn!(id = %m.id, outcome = label, "the claim on this email had expired; another worker records it");
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "the outcome of emails could not be recorded; their claims will expire and they will be tried again")
                }
            }
            for w in written {
                let _ = w.send(());
            }
        }
    }

    /// Renders and sends one message claimed until `until`, and says what became of it for
    /// the recorder; `None` when it was given back unsent.
    async fn deliver(
        &self,
        m: Claimed,
        until: chrono::NaiveDateTime,
    ) -> Option<(Claimed, Outcome)> {
        // An exchange started now could outlast the claim (the batch before it was slow):
        // give the message back rather than risk another worker sending it at the same time.
        let timeout = chrono::Duration::from_std(self.settings.smtp_timeout)
            .unwrap_or(chrono::Duration::seconds(15));
        if time::now() + timeout >= until {
            let (id, token) = (m.id.clone(), self.token.clone());
            if let Err(e) = self
                .record_db(move |c| store::unclaim(c, &id, &token))
                .await
            {
                tracing::error!(id = %m.id, error = %e, "an email could not be given back; its claim will expire");
            }
            return None;
        }
        let outcome = match self.prepare(&m) {
            Err(why) => Outcome::Failed(why),
            Ok(message) => match self
                .mailer
                .transport
                .send(&m.kind, &m.recipient_email, message)
                .await
            {
                Ok(()) => Outcome::Sent,
                Err(e) if e.permanent => Outcome::Failed(e.message),
                Err(e) if m.attempts >= self.settings.max_attempts => {
                    Outcome::Failed(format!("gave up after {} tries: {}", m.attempts, e.message))
                }
                Err(e) => {
                    let jitter = rand::thread_rng().gen_range(0.75..1.25);
                    let delay = retry_delay_ms(
                        m.attempts,
                        self.settings.retry_base.as_millis() as u64,
                        self.settings.retry_max.as_millis() as u64,
                        jitter,
                    );
                    let next = time::now() + chrono::Duration::milliseconds(delay as i64);
                    tracing::info!(kind = %m.kind, id = %m.id, attempts = m.attempts, retry_in_ms = delay, error = %redact_addresses(&e.message), "email will be retried");
                    Outcome::Retry {
                        next,
                        why: e.message,
                    }
                }
            },
        };
        if let Outcome::Failed(why) = &outcome {
            tracing::warn!(kind = %m.kind, id = %m.id, attempts = m.attempts, error = %redact_addresses(why), "email failed");
        }
        Some((m, outcome))
    }

    /// The message to send, or why it can never be sent.
    fn prepare(&self, m: &Claimed) -> Result<lettre::Message, String> {
        let payload: serde_json::Value = serde_json::from_str(&m.payload)
            .map_err(|e| format!("the payload is not JSON: {e}"))?;
        let rendered = self
            .mailer
            .templates
            .render(
                &m.kind,
                &payload,
                &self.mailer.base_url,
                &self.mailer.organizer,
            )
            .map_err(|e| e.to_string())?;
        super::message::build(
            &self.mailer.from,
            &m.recipient_email,
            &m.message_id,
            &rendered,
        )
    }

    fn count(&self, outcome: &str, n: usize) {
        if n > 0 {
            self.metrics
                .emails
                .with_label_values(&[outcome])
                .inc_by(n as u64);
        }
    }

    async fn refresh_stats(&self) -> anyhow::Result<()> {
        let (depth, oldest) = self.db(store::backlog).await?;
        self.metrics.outbox_depth.set(depth);
        let age = oldest.map_or(0, |t| (time::now() - t).num_seconds().max(0));
        self.metrics.outbox_oldest_age.set(age);
        Ok(())
    }

    /// Queues the course reminders that have come due.
    async fn schedule_reminders(&self) -> anyhow::Result<()> {
        let days = self.settings.reminder_days;
        let base_url = self.mailer.base_url.clone();
        let queued = self
            .db(move |c| store::run_reminders(c, time::now(), days, &base_url))
            .await?
            .queued;
        if queued > 0 {
            tracing::info!(count = queued, kind = %Kind::CourseReminder, "course reminders queued");
        }
        Ok(())
    }
}

/// A finished try on its way to the recorder, with the way to tell its send it is written.
type Finished = (Claimed, Outcome, oneshot::Sender<()>);

/// The metrics label of an outcome.
fn label(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Sent => "sent",
        Outcome::Failed(_) => "failed",
        Outcome::Retry { .. } => "retried",
    }
}
