//! Background jobs of `serve` that need no request to trigger them. The booking jobs promote
//! waiting bookings on courses whose per-school cap has lifted by date and purge idempotency
//! keys past their 24 hours (at start, then every `BOOKING_JOBS_SECONDS`, default 60, and
//! whenever [`BookingJobs::wake`] is called). The evaluation job ([`EvaluationJobs`]) sends
//! evaluation invitations, follow-ups and reminders. With `DIGEST_SCHEDULE=termly`, the
//! termly digest of the reports goes once per term ([`DigestSchedule`]). The report refresher
//! ([`ReportRefresher`]) keeps the report cells up to date. Each runs on
//! [`spawn_periodic`]'s loop.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::MissedTickBehavior;

use crate::app::state::AppState;
use crate::domain::time;
use crate::error::AppResult;

/// Starts a periodic job on the current runtime: `run` runs at once, then every `every`, and
/// also whenever `wake` (when given) is notified. Runs never overlap; one that takes longer
/// than `every` pushes the next tick back instead of being followed by a burst of missed ones
/// ([`MissedTickBehavior::Delay`]). A failed run is logged as a warning with `on_failure` and
/// the job carries on at the next tick.
pub fn spawn_periodic<T, Fut>(
    state: AppState,
    every: Duration,
    wake: Option<Arc<Notify>>,
    on_failure: &'static str,
    run: impl Fn(AppState) -> Fut + Send + 'static,
) where
    Fut: Future<Output = AppResult<T>> + Send + 'static,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            match &wake {
                Some(wake) => tokio::select! {
                    _ = tick.tick() => {}
                    _ = wake.notified() => {}
                },
                None => {
                    tick.tick().await;
                }
            }
            if let Err(e) = run(state.clone()).await {
                tracing::warn!(error = ?e, "{on_failure}");
            }
        }
    });
}

/// A handle on the running booking jobs.
#[derive(Clone)]
pub struct BookingJobs {
    wake: Arc<Notify>,
}

impl BookingJobs {
    /// Starts the jobs on the current runtime.
    pub fn spawn(state: AppState) -> BookingJobs {
        let wake = Arc::new(Notify::new());
        let handle = BookingJobs { wake: wake.clone() };
        let every = state.settings.booking_jobs_interval;
        spawn_periodic(
            state,
            every,
            Some(wake),
            "booking jobs failed; they run again at the next tick",
            |state| async move { run_once(&state).await },
        );
        handle
    }

    /// Runs the jobs now (without waiting for the next tick).
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// One run of every booking job. Returns how many bookings were promoted.
pub async fn run_once(state: &AppState) -> AppResult<usize> {
    let base_url = state.settings.public_base_url.clone();
    state
        .db(move |c| {
            let now = time::now();
            let promoted = crate::store::bookings::promote_where_caps_lifted(c, now, &base_url)?;
            let purged = crate::store::idempotency::purge(c, now)?;
            if promoted > 0 || purged > 0 {
                tracing::info!(promoted, purged, "booking jobs");
            }
            Ok(promoted)
        })
        .await
}

/// A handle on the running evaluation job: invitations for courses whose last register is
/// recorded (behind the attendance hook, as a safety net), impact follow-ups that have come
/// due, and reminders, each read from a due-queue or an indexed due time so that a run reads
/// only what changed or came due since the last ([`crate::store::evaluation::run_jobs`]). It runs at start, then every `EVALUATION_JOBS_SECONDS` (default 60),
/// and whenever [`EvaluationJobs::wake`] is called.
#[derive(Clone)]
pub struct EvaluationJobs {
    wake: Arc<Notify>,
}

impl EvaluationJobs {
    /// Starts the job on the current runtime.
    pub fn spawn(state: AppState) -> EvaluationJobs {
        // The attendance API wakes it through the state when a course's last register is
        // saved, so invitations go at once rather than at the next tick.
        let wake = state.evaluation_wake.clone();
        let handle = EvaluationJobs { wake: wake.clone() };
        let every = state.settings.evaluation.jobs_interval;
        spawn_periodic(
            state,
            every,
            Some(wake),
            "evaluation job failed; it runs again at the next tick",
            |state| async move { run_evaluation_once(&state).await },
        );
        handle
    }

    /// Runs the job now (without waiting for the next tick).
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// One run of the evaluation job as of now; wakes the email worker when it queued email.
pub async fn run_evaluation_once(
    state: &AppState,
) -> AppResult<crate::store::evaluation::JobReport> {
    let settings = state.settings.clone();
    let report = state
        .db(move |c| {
            crate::store::evaluation::run_jobs(c, time::now(), &settings).map_err(Into::into)
        })
        .await?;
    if report.queued_email() {
        tracing::info!(
            invitations = report.invitations_sent,
            follow_ups = report.follow_ups_sent,
            reminders = report.reminders,
            "evaluation emails queued"
        );
        state.outbox_wake.notify_one();
    }
    Ok(report)
}
/// The termly digest's schedule (`DIGEST_SCHEDULE=termly`): at start and then every hour,
/// sends the digest of the term that ended last unless it has gone already. Several service
/// copies may run it: the `digests_sent` row makes the digest go once.
pub struct DigestSchedule;

impl DigestSchedule {
    /// How often the schedule looks whether a term has ended.
    pub const EVERY: Duration = Duration::from_secs(3600);

    /// Starts the schedule on the current runtime.
    pub fn spawn(state: AppState) {
        spawn_periodic(
            state,
            Self::EVERY,
            None,
            "termly digest failed; it is tried again within the hour",
            |state| async move { Self::run_once(&state).await },
        );
    }

    /// Sends the last ended term's digest if it has not gone; returns what happened.
    pub async fn run_once(state: &AppState) -> AppResult<crate::store::digests::Sent> {
        let settings = state.settings.clone();
        let sent = state
            .db(move |c| {
                let now = time::now();
                let term = crate::domain::term::Term::of(now).previous();
                let sent = crate::commands::digest::send_term(c, &settings, &term, false, now)?;
                match &sent {
                    crate::store::digests::Sent::Queued(n) => {
                        tracing::info!(term = %term.key(), recipients = n, "termly digest queued")
                    }
                    crate::store::digests::Sent::NoRecipients => tracing::warn!(
                        term = %term.key(),
                        "termly digest not sent: nobody has the cpd_group role and DIGEST_RECIPIENTS is not set"
                    ),
                    crate::store::digests::Sent::AlreadySent(_) => {}
                }
                Ok(sent)
            })
            .await?;
        if matches!(sent, crate::store::digests::Sent::Queued(_)) {
            state.outbox_wake.notify_one();
        }
        Ok(sent)
    }
}

/// The reports' warm-up (`REPORT_WARMUP`, on by default): soon after start-up, the
/// dashboard's first report (this academic year by school, the whole alliance) is worked out
/// once in the background and thrown away. Without it the first report after a restart pays
/// for what every later one finds ready: the service's memory growing to a report's size
/// (at national size, about a third of that request's time went on the kernel handing out
/// fresh pages), and PostgreSQL's connections and caches. It reads in one snapshot like any
/// report and changes nothing; if it fails, the first report does that work instead.
pub struct ReportWarmup;

impl ReportWarmup {
    /// Starts the warm-up on the current runtime; it runs once.
    pub fn spawn(state: AppState) {
        tokio::spawn(async move {
            let outcome = match warm_reports(&state).await {
                Ok(took) => {
                    tracing::info!(ms = took.as_millis() as u64, "reports warmed");
                    "done"
                }
                Err(e) => {
                    tracing::warn!(error = ?e, "report warm-up failed; the first report does its work");
                    "failed"
                }
            };
            state
                .metrics
                .report_warmups
                .with_label_values(&[outcome])
                .inc();
        });
    }
}

/// Works out the dashboard's first report (this academic year by school) as of now and
/// throws it away; returns how long it took.
pub async fn warm_reports(state: &AppState) -> AppResult<Duration> {
    let min_responses = state.settings.evaluation.min_responses;
    let started = std::time::Instant::now();
    state
        .db_with_helper(move |c, helper| {
            let q = crate::reports::metrics::ReportQuery::parse(
                None,
                None,
                None,
                time::now(),
                min_responses,
            )
            .map_err(crate::error::AppError::Validation)?;
            crate::store::reports::engagement_with_helper(
                c,
                helper,
                &q,
                crate::reports::metrics::ReportScope::All,
            )?;
            Ok(())
        })
        .await?;
    Ok(started.elapsed())
}

/// Brings the report cells up to date with the courses changed since (every
/// `REPORT_REFRESH_SECONDS`): the sums are worked out without the write lock and moved into
/// the cells a few courses per short write transaction, so bookings never wait long behind it
/// ([`crate::store::report_cells::refresh_batch`]). With nothing changed a run reads an empty
/// range of `report_dirty`'s index of marked courses and one index range.
pub struct ReportRefresher;

impl ReportRefresher {
    /// Courses summed per transaction.
    pub const BATCH: usize = 100;

    /// Starts the refresher on the current runtime.
    pub fn spawn(state: AppState, every: Duration) {
        spawn_periodic(
            state,
            every,
            None,
            "report refresh failed; it runs again at the next tick",
            |state| async move { Self::run_once(&state).await },
        );
    }

    /// Sums every course marked now, a batch at a time, in one pass
    /// ([`crate::store::report_cells::Pass`]): a course marked again during the pass waits
    /// for the next run, so under a stream of bookings the refresher sums each changed course
    /// about once a run instead of summing the busiest ones over and over. Returns how many
    /// it summed.
    pub async fn run_once(state: &AppState) -> AppResult<usize> {
        let mut pass = crate::store::report_cells::Pass::new();
        loop {
            pass = state
                .db(move |c| {
                    pass.next(c, time::now(), Self::BATCH)?;
                    Ok(pass)
                })
                .await?;
            if pass.ended() {
                return Ok(pass.summed);
            }
        }
    }
}
