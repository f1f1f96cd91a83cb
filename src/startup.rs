//! Builds and runs the service from [`Settings`]: the pool, migrations, the HTTP server and
//! the background workers. The binary and the integration tests both start it from here.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{middleware, web, App, HttpServer};
use utoipa::OpenApi;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

use crate::app::state::AppState;
use crate::config::Settings;
use crate::db;
use crate::email::worker::{Worker, WorkerHandle};
use crate::email::Mailer;
use crate::metrics::Metrics;

/// How long an idle HTTP/1.1 connection stays open after its last response (actix-web's own
/// default, made explicit). Short, because a graceful stop waits for open connections, idle
/// ones included. A client (or a proxy in front) that keeps idle connections must drop them
/// sooner than this: a request sent on a connection just as the service closes it gets no
/// answer at all, and a client cannot safely send a POST again.
pub const KEEP_ALIVE: Duration = Duration::from_secs(5);

/// A service that is built (migrated, bound) and ready to run.
pub struct Application {
    port: u16,
    server: Server,
    state: AppState,
    worker: Option<WorkerHandle>,
    booking_jobs: crate::jobs::BookingJobs,
    evaluation_jobs: crate::jobs::EvaluationJobs,
}

impl Application {
    /// Opens the pool, applies migrations and binds the listener. Fails with a clear message
    /// when the database cannot be reached or the address cannot be bound.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let settings = Arc::new(settings);
        // Templates and the mail transport first: a bad SMTP_URL or template override stops
        // start-up before anything else happens.
        let mailer = Arc::new(Mailer::from_settings(&settings)?);
        let pool = db::build_pool(
            &settings.database_url,
            settings.database_pool_size,
            settings.pool_timeout(),
        )?;
        // The URL named a backend, or the pool above would have said it did not.
        let backend = db::Backend::from_url(&settings.database_url).map_err(anyhow::Error::msg)?;
        let migrate_pool = pool.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let mut conn = migrate_pool
                .get()
                .map_err(|e| anyhow::anyhow!("cannot reach the database (DATABASE_URL): {e}"))?;
            let applied = crate::store::prepare(&mut conn)?;
            if !applied.is_empty() {
                tracing::info!(count = applied.len(), "migrations applied");
            }
            Ok(())
        })
        .await??;

        let listener = TcpListener::bind(&settings.bind)
            .map_err(|e| anyhow::anyhow!("cannot listen on {} (BIND): {e}", settings.bind))?;
        let port = listener.local_addr()?.port();
        // Port 0 means "any free port": the default PUBLIC_BASE_URL (http:// + BIND) then
        // names the port actually bound, so links in emails work.
        let mut settings = settings;
        if settings.bind.ends_with(":0")
            && settings.public_base_url == format!("http://{}", settings.bind)
        {
            let mut s = (*settings).clone();
            s.public_base_url = format!("http://{}", listener.local_addr()?);
            settings = Arc::new(s);
        }
        let state = AppState {
            settings: settings.clone(),
            bookings: crate::app::bookings::queue::BookingQueue::new(
                pool.clone(),
                backend,
                &settings.public_base_url,
            ),
            pool,
            metrics: Arc::new(Metrics::new()),
            outbox_wake: Arc::new(tokio::sync::Notify::new()),
            evaluation_wake: Arc::new(tokio::sync::Notify::new()),
            caches: Arc::new(crate::app::cache::Caches::default()),
            auth_cache: Arc::new(crate::auth::cache::AuthCache::new(
                chrono::Duration::seconds(i64::from(settings.sign_in.auth_cache_seconds)),
                crate::auth::cache::MAX_ENTRIES,
            )),
            started_at: crate::domain::time::now(),
            oidc: Arc::new(crate::auth::oidc::Providers::new(&settings.oidc)),
        };
        // A provider that cannot be reached is logged and retried; it stops nothing.
        state.oidc.spawn_discovery();
        let worker = if settings.outbox.enabled {
            // Sends are recorded on connections of the worker's own, so a rush of requests
            // holding the shared pool cannot delay them (see `email::worker`).
            let record = db::own_pool(
                &settings.database_url,
                settings.outbox.concurrency.min(4) as u32,
                settings.pool_timeout(),
                &state.pool,
            )?;
            Some(
                Worker::new(
                    state.pool.clone(),
                    settings.outbox.clone(),
                    state.metrics.clone(),
                    mailer,
                    state.outbox_wake.clone(),
                )
                .recording_through(record)
                .spawn(),
            )
        } else {
            tracing::info!("OUTBOX_WORKER=off: this copy queues email but does not send it");
            None
        };
        let data = web::Data::new(state.clone());
        // The request middleware records into the metrics without knowing the whole state.
        let metrics = web::Data::from(state.metrics.clone());
        let mut server = HttpServer::new(move || {
            let (app, mut openapi) = App::new()
                .into_utoipa_app()
                .openapi(crate::api::ApiDoc::openapi())
                .app_data(data.clone())
                .app_data(metrics.clone())
                .app_data(
                    web::QueryConfig::default().error_handler(crate::api::extract::query_error),
                )
                .app_data(web::PathConfig::default().error_handler(crate::api::extract::path_error))
                .configure(crate::api::ops::configure)
                .configure(crate::api::calendar::configure_root)
                .service(utoipa_actix_web::scope("/api/v1").configure(crate::api::configure_v1))
                .configure(crate::web::configure)
                .split_for_parts();
            utoipa::Modify::modify(&crate::api::ProblemResponses, &mut openapi);
            let routes = web::Data::new(crate::api::routes::KnownRoutes::from_openapi(&openapi));
            app.app_data(routes)
                .wrap(middleware::from_fn(crate::web::nav::remember_caller))
                .wrap(middleware::from_fn(
                    crate::api::extract::refuse_control_characters,
                ))
                .wrap(middleware::from_fn(crate::auth::csrf::same_origin))
                .wrap(middleware::from_fn(crate::web::errors::return_to))
                .wrap(middleware::from_fn(crate::web::errors::html_errors))
                .wrap(middleware::from_fn(crate::web::security::headers))
                .wrap(middleware::from_fn(crate::metrics::observe))
                .wrap(middleware::Compress::default())
                .wrap(middleware::from_fn(crate::web::errors::head_as_get))
                .service(SwaggerUi::new("/api/docs/{_:.*}").url("/api/openapi.json", openapi))
                .default_service(web::to(crate::api::routes::unrouted))
        })
        .listen(listener)?
        .keep_alive(KEEP_ALIVE)
        .shutdown_timeout(10);
        if let Some(n) = settings.workers {
            server = server.workers(n);
        }
        let booking_jobs = crate::jobs::BookingJobs::spawn(state.clone());
        let evaluation_jobs = crate::jobs::EvaluationJobs::spawn(state.clone());
        if let Some(every) = settings.reports.refresh_every {
            crate::jobs::ReportRefresher::spawn(state.clone(), every);
        }
        if settings.reports.digest_termly {
            crate::jobs::DigestSchedule::spawn(state.clone());
        }
        if settings.reports.warmup {
            crate::jobs::ReportWarmup::spawn(state.clone());
        }
        Ok(Application {
            port,
            server: server.run(),
            state,
            worker,
            booking_jobs,
            evaluation_jobs,
        })
    }

    /// The port the server listens on (useful when `BIND` asked for port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The shared state (pool, settings, metrics).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The booking jobs (promotion where a per-school cap lifted by date, key purging); `wake`
    /// runs them now.
    pub fn booking_jobs(&self) -> &crate::jobs::BookingJobs {
        &self.booking_jobs
    }

    /// The evaluation job (invitations behind the attendance hook, follow-ups, reminders);
    /// `wake` runs it now.
    pub fn evaluation_jobs(&self) -> &crate::jobs::EvaluationJobs {
        &self.evaluation_jobs
    }

    /// Serves until the process is asked to stop (SIGINT/SIGTERM), then drains requests and
    /// lets the email worker finish the batch it is sending.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        if let Some(worker) = self.worker {
            worker.stop(std::time::Duration::from_secs(10)).await;
        }
        result
    }
}
