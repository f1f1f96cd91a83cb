//! Email delivery throughput: a backlog of 10,000 queued messages (booking confirmations with
//! their `.ics`) delivered by the worker to a local SMTP sink, on SQLite and (when
//! `TEST_POSTGRES_URL` is set) PostgreSQL. Then the cost of the worker to the writers: queueing
//! transactions per second with the worker delivering at the same time, against with it off.
//!
//! ```text
//! TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test cargo bench -p cpd-hub-tools --bench email_delivery
//! ```
//!
//! `BENCH_MESSAGES` changes the backlog size (default 10000); `OUTBOX_CONCURRENCY` and
//! `OUTBOX_BATCH` override the worker's defaults for the run.

#[path = "../../tests/api/smtp_sink.rs"]
mod smtp_sink;

use std::time::{Duration, Instant};

use cpd_hub::config::Settings;
use cpd_hub::db::{self, DbConn};
use cpd_hub::domain::notification::Kind;
use cpd_hub::email::templates::sample;
use cpd_hub::startup::Application;
use cpd_hub::store::outbox::{self, StoredMessage};
use diesel::prelude::*;
use smtp_sink::SmtpSink;

/// A database made for one run and removed after it.
struct BenchDb {
    url: String,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl Drop for BenchDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.pg {
            if let Ok(mut c) = PgConnection::establish(admin) {
                let _ =
                    diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .execute(&mut c);
            }
        }
    }
}

fn fresh(backend: &str) -> Option<BenchDb> {
    if backend == "sqlite" {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        return Some(BenchDb {
            url,
            _dir: Some(dir),
            pg: None,
        });
    }
    let admin = std::env::var("TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())?;
    let name = format!("cpd_bench_{}", uuid::Uuid::new_v4().simple());
    let mut c = PgConnection::establish(&admin).expect("TEST_POSTGRES_URL reachable");
    diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
        .execute(&mut c)
        .unwrap();
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_path(&name);
    Some(BenchDb {
        url: url.to_string(),
        _dir: None,
        pg: Some((admin, name)),
    })
}

fn open(url: &str) -> DbConn {
    db::Manager::new(url).unwrap().open().unwrap()
}

fn queue(conn: &mut DbConn, i: usize) {
    db::write_tx(conn, |c| {
        outbox::enqueue_stored(
            c,
            StoredMessage {
                kind: Kind::BookingConfirmed.as_str(),
                recipient_email: &format!("staff{i}@school.test"),
                recipient_person_id: None,
                subject_id: None,
                payload: sample(Kind::BookingConfirmed),
            },
        )
        .map(|_| ())
    })
    .unwrap();
}

fn settings(url: &str, sink: &SmtpSink, worker: bool) -> Settings {
    let mut s = Settings::for_database(url);
    s.smtp_url = Some(sink.url());
    s.outbox.enabled = worker;
    s.outbox.poll = Duration::from_millis(100);
    s.workers = Some(1);
    if let Some(c) = std::env::var("OUTBOX_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        s.outbox.concurrency = c;
    }
    if let Some(b) = std::env::var("OUTBOX_BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        s.outbox.batch = b;
    }
    s
}

fn sent(url: &str) -> i64 {
    use cpd_hub::db::schema::outbox::dsl as o;
    o::outbox
        .filter(o::status.eq("sent"))
        .count()
        .get_result(&mut open(url))
        .unwrap()
}

/// Delivers a backlog of `n`; returns (messages/s at the sink, messages/s recorded as sent).
async fn backlog(backend: &str, n: usize) -> Option<(f64, f64)> {
    let bench_db = fresh(backend)?;
    let url = bench_db.url.clone();
    let fill = Instant::now();
    {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            let mut c = open(&url);
            db::migrate(&mut c).unwrap();
            // Batches of 500 per transaction: only the filling is batched, not the delivery.
            for chunk in 0..n.div_ceil(500) {
                db::write_tx(&mut c, |c| {
                    for i in chunk * 500..((chunk + 1) * 500).min(n) {
                        outbox::enqueue_stored(
                            c,
                            StoredMessage {
                                kind: Kind::BookingConfirmed.as_str(),
                                recipient_email: &format!("staff{i}@school.test"),
                                recipient_person_id: None,
                                subject_id: None,
                                payload: sample(Kind::BookingConfirmed),
                            },
                        )?;
                    }
                    Ok::<_, diesel::result::Error>(())
                })
                .unwrap();
            }
        })
        .await
        .unwrap();
    }
    eprintln!(
        "{backend}: {n} messages queued in {:.1} s",
        fill.elapsed().as_secs_f64()
    );
    let sink = SmtpSink::start().await;
    let started = Instant::now();
    let app = Application::build(settings(&url, &sink, true))
        .await
        .unwrap();
    tokio::spawn(app.run_until_stopped());
    sink.wait_for(n, Duration::from_secs(600)).await;
    let at_sink = started.elapsed().as_secs_f64();
    loop {
        let u = url.clone();
        if tokio::task::spawn_blocking(move || sent(&u)).await.unwrap() >= n as i64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let recorded = started.elapsed().as_secs_f64();
    assert_eq!(sink.count(), n, "every message exactly once");
    Some((n as f64 / at_sink, n as f64 / recorded))
}

/// Queueing transactions per second from 4 writer threads, with the worker on or off.
async fn writers(backend: &str, worker: bool, per_thread: usize) -> Option<f64> {
    let bench_db = fresh(backend)?;
    let url = bench_db.url.clone();
    let sink = SmtpSink::start().await;
    let app = Application::build(settings(&url, &sink, worker))
        .await
        .unwrap();
    let wake = app.state().outbox_wake.clone();
    tokio::spawn(app.run_until_stopped());
    let started = Instant::now();
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let url = url.clone();
            let wake = wake.clone();
            std::thread::spawn(move || {
                let mut c = open(&url);
                for i in 0..per_thread {
                    queue(&mut c, t * per_thread + i);
                    wake.notify_one();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let rate = (4 * per_thread) as f64 / started.elapsed().as_secs_f64();
    if worker {
        sink.wait_for(4 * per_thread, Duration::from_secs(600))
            .await;
    }
    Some(rate)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::var("BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    println!("Email delivery: a backlog of {n} booking confirmations (text + HTML + .ics) to a local SMTP sink");
    let defaults = settings("sqlite://unused.db", &SmtpSink::start().await, true).outbox;
    println!(
        "(worker settings: OUTBOX_BATCH={}, OUTBOX_CONCURRENCY={}; both may be set for the run)",
        defaults.batch, defaults.concurrency
    );
    println!();
    println!("| backend | delivered to the sink | recorded as sent |");
    println!("|---|---|---|");
    for backend in ["sqlite", "postgres"] {
        match backlog(backend, n).await {
            Some((sink, recorded)) => {
                println!("| {backend} | {sink:.0} messages/s | {recorded:.0} messages/s |")
            }
            None => println!("| {backend} | skipped (TEST_POSTGRES_URL not set) | |"),
        }
    }
    println!();
    println!("Queueing transactions (one outbox row each, 4 writer threads, 500 each):");
    println!();
    println!("| backend | worker off | worker on | ratio |");
    println!("|---|---|---|---|");
    for backend in ["sqlite", "postgres"] {
        let (Some(off), Some(on)) = (
            writers(backend, false, 500).await,
            writers(backend, true, 500).await,
        ) else {
            println!("| {backend} | skipped | | |");
            continue;
        };
        println!(
            "| {backend} | {off:.0} tx/s | {on:.0} tx/s | {:.2} |",
            on / off
        );
    }
}
