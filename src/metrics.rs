//! Prometheus metrics and the request middleware that records them (and logs each request
//! under a request id, without personal data: the route pattern, never the query string).

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, Error};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use tracing::Instrument;

/// The service's metrics.
pub struct Metrics {
    registry: Registry,
    /// Requests by method, route pattern and status.
    pub requests: IntCounterVec,
    /// Request latency by method and route pattern.
    pub latency: HistogramVec,
    /// Database pool connections by state (`in_use`, `idle`).
    pub pool: IntGaugeVec,
    /// Pool size.
    pub pool_max: IntGauge,
    /// Emails by outcome (`sent`, `failed`, `retried`, `skipped`).
    pub emails: IntCounterVec,
    /// Emails waiting to be sent.
    pub outbox_depth: IntGauge,
    /// Age in seconds of the oldest email waiting to be sent.
    pub outbox_oldest_age: IntGauge,
    /// The reports' warm-up at start-up by outcome (`done`, `failed`).
    pub report_warmups: IntCounterVec,
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("cpd_hub".into()), None).expect("valid prefix");
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by method, route and status",
            ),
            &["method", "route", "status"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency").buckets(
                vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                ],
            ),
            &["method", "route"],
        )
        .expect("valid metric");
        let pool = IntGaugeVec::new(
            Opts::new("db_pool_connections", "Database pool connections by state"),
            &["state"],
        )
        .expect("valid metric");
        let pool_max =
            IntGauge::new("db_pool_max_connections", "Database pool size").expect("valid metric");
        let emails =
            IntCounterVec::new(Opts::new("emails_total", "Emails by outcome"), &["outcome"])
                .expect("valid metric");
        let outbox_depth =
            IntGauge::new("outbox_pending", "Emails waiting to be sent").expect("valid metric");
        let outbox_oldest_age = IntGauge::new(
            "outbox_oldest_pending_age_seconds",
            "Age of the oldest email waiting to be sent",
        )
        .expect("valid metric");
        let report_warmups = IntCounterVec::new(
            Opts::new(
                "report_warmups_total",
                "The reports' warm-up at start-up by outcome",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(pool.clone()),
            Box::new(pool_max.clone()),
            Box::new(emails.clone()),
            Box::new(outbox_depth.clone()),
            Box::new(outbox_oldest_age.clone()),
            Box::new(report_warmups.clone()),
        ] {
            registry.register(c).expect("metric registered once");
        }
        Metrics {
            registry,
            requests,
            latency,
            pool,
            pool_max,
            emails,
            outbox_depth,
            outbox_oldest_age,
            report_warmups,
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding cannot fail");
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Middleware: a request id (taken from `X-Request-Id` if the proxy set one), a tracing span,
/// a log line per request and the request metrics.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 64 && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let method = req.method().to_string();
    // The route pattern (`/api/v1/people/{id}`), so ids and query strings stay out of logs
    // and metrics have a bounded number of labels.
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_string());
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let span = tracing::info_span!("request", %request_id, %method, %route);
    let started = Instant::now();
    let result = next.call(req).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = match &result {
        Ok(res) => res.status().as_u16(),
        Err(e) => e.as_response_error().status_code().as_u16(),
    };
    if let Some(m) = metrics {
        m.requests
            .with_label_values(&[&method, &route, &status.to_string()])
            .inc();
        m.latency
            .with_label_values(&[&method, &route])
            .observe(elapsed.as_secs_f64());
    }
    span.in_scope(|| {
        tracing::info!(status, ms = elapsed.as_secs_f64() * 1000.0, "request");
    });
    result.map(|mut res| {
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            res.headers_mut()
                .insert(HeaderName::from_static("x-request-id"), v);
        }
        res
    })
}
