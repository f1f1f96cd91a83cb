//! Background jobs of `serve` that keep bookings moving without a request to trigger them:
//! promoting waiting bookings on courses whose per-school cap has lifted by date, and purging
//! idempotency keys past their 24 hours. They run at start, then every
//! `BOOKING_JOBS_SECONDS` (default 60), and whenever [`BookingJobs::wake`] is called.

use std::sync::Arc;

use tokio::sync::Notify;

use crate::domain::time;
use crate::error::AppResult;
use crate::state::AppState;

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
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = wake.notified() => {}
                }
                if let Err(e) = run_once(&state).await {
                    tracing::warn!(error = ?e, "booking jobs failed; they run again at the next tick");
                }
            }
        });
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
