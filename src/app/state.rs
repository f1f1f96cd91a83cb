//! What every request handler shares: settings, the database pool and the metrics registry.

use std::sync::Arc;

use crate::config::Settings;
use crate::db::{DbConn, Pool};
use crate::error::{AppError, AppResult};
use crate::metrics::Metrics;

/// Shared state, cheap to clone (everything inside is reference-counted).
#[derive(Clone)]
pub struct AppState {
    /// The settings the service started with.
    pub settings: Arc<Settings>,
    /// The database connection pool.
    pub pool: Pool,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Wakes this copy's email worker. Call `notify_one()` after committing a change that
    /// queued email, so it goes out at once rather than at the next poll.
    pub outbox_wake: Arc<tokio::sync::Notify>,
    /// Booking requests, batched per course and across courses in lanes.
    pub bookings: crate::app::bookings::queue::BookingQueue,
    /// Wakes this copy's evaluation job. Call `notify_one()` after committing a register
    /// that may have created evaluation invitations, so they are emailed at once.
    pub evaluation_wake: Arc<tokio::sync::Notify>,
    /// The calendar's lists and choices, kept under the calendar generation.
    pub caches: Arc<crate::app::cache::Caches>,
    /// Who API tokens and session cookies belong to, for a few seconds (`auth::cache`).
    /// Forget a person's entries after changing what their credentials may do.
    pub auth_cache: Arc<crate::auth::cache::AuthCache>,
    /// When this process started (UTC). An `Idempotency-Key` claimed before then belongs to
    /// a process that has gone, so a retry under it runs at once.
    pub started_at: chrono::NaiveDateTime,
    /// The single sign-on providers (`OIDC_PROVIDERS`), discovered in the background.
    pub oidc: Arc<crate::auth::oidc::Providers>,
}

impl AppState {
    /// Runs blocking database work on actix's blocking pool, so the async workers never wait
    /// on a database round trip. A pool that stays exhausted answers 503, not a hang.
    pub async fn db<T, F>(&self, f: F) -> AppResult<T>
    where
        F: FnOnce(&mut DbConn) -> AppResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        actix_web::web::block(move || {
            let mut conn = pool.get().map_err(AppError::from)?;
            f(&mut conn)
        })
        .await?
    }

    /// [`AppState::db`] for work that can use a second connection (a report's two periods,
    /// `store::reports::engagement_with_helper`): gives `f` one besides, on PostgreSQL, when
    /// the pool has one idle that no other request is waiting for. It never waits for one:
    /// under load the pool's connections serve other requests, and `f` works on one alone.
    pub async fn db_with_helper<T, F>(&self, f: F) -> AppResult<T>
    where
        F: FnOnce(&mut DbConn, Option<&mut DbConn>) -> AppResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        actix_web::web::block(move || {
            let mut conn = pool.get().map_err(AppError::from)?;
            // One idle connection is left for whichever request comes next.
            let mut helper = match &*conn {
                DbConn::Pg(_) if pool.state().idle_connections > 1 => pool.try_get(),
                _ => None,
            };
            f(&mut conn, helper.as_deref_mut())
        })
        .await?
    }
}
