//! Times one run of each background job on an existing database (a national seed from
//! `cpd-hub-bench bench-seed --national`): the evaluation job, the course reminder scheduler
//! and the report refresher. The first run of each does whatever is due; the runs after it
//! find nothing changed, which is what the service does every minute.
//!
//!     jobs_once DATABASE_URL [NOW, default 2026-11-20T12:00:00] [RUNS, default 5]
//!
//! Prints, per job, the first run and the min / median / max of the runs after it, in ms.
//! `STATEMENT_TIMES=1` also prints the refresher's slowest statements in its run with work;
//! `ROWS_PER_WRITE=N` runs it with another bound on the facts rows one write moves.

use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use cpd_hub::config::Settings;
use cpd_hub::db;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(url) = args.first() else {
        eprintln!("usage: jobs_once DATABASE_URL [NOW] [RUNS]");
        std::process::exit(2)
    };
    let now: NaiveDateTime = args
        .get(1)
        .map_or("2026-11-20T12:00:00", String::as_str)
        .parse()?;
    let runs: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(5);
    let settings = Settings::for_database(url);
    let pool = db::build_pool(url, Some(1), Duration::from_secs(10))?;
    let mut conn = pool.get()?;
    let t = Instant::now();
    let applied = db::migrate(&mut conn)?;
    if !applied.is_empty() {
        println!(
            "migrations {applied:?} applied in {:.0} ms",
            t.elapsed().as_secs_f64() * 1e3
        );
    }

    let mut time = |name: &str, f: &mut dyn FnMut(&mut db::DbConn) -> anyhow::Result<String>| {
        let mut times = Vec::new();
        for i in 0..=runs {
            let t = Instant::now();
            let what = f(&mut conn)?;
            let ms = t.elapsed().as_secs_f64() * 1e3;
            if i == 0 {
                println!("{name}: first run {ms:.1} ms ({what})");
            } else {
                times.push((ms, what));
            }
        }
        times.sort_by(|a, b| a.0.total_cmp(&b.0));
        if let (Some(min), Some(max)) = (times.first(), times.last()) {
            println!(
                "{name}: then min {:.2} / median {:.2} / max {:.2} ms ({})",
                min.0,
                times[times.len() / 2].0,
                max.0,
                max.1
            );
        }
        anyhow::Ok(())
    };

    time("evaluation job", &mut |c| {
        let r = cpd_hub::store::evaluation::run_jobs(c, now, &settings)?;
        Ok(format!("{r:?}"))
    })?;
    let days = settings.outbox.reminder_days;
    let base_url = settings.public_base_url.clone();
    time("course reminders", &mut |c| {
        let run = cpd_hub::store::outbox::run_reminders(c, now, days, &base_url)?;
        Ok(format!("{run:?}"))
    })?;
    time("report refresher", &mut |c| {
        let r = cpd_hub::store::report_cells::refresh_batch(c, now, 100)?;
        Ok(format!("{r:?}"))
    })?;
    // The refresher with work to do: the 100 courses with the most bookings marked, as after
    // a busy minute; how long each write transaction held the lock.
    use diesel::connection::SimpleConnection;
    conn.batch_execute(
        "INSERT INTO report_dirty (course_id, version)
         SELECT course_id, 1 FROM report_courses ORDER BY bookings DESC, course_id LIMIT 100
         ON CONFLICT (course_id) DO UPDATE SET version = report_dirty.version + 1",
    )?;
    let statements = std::env::var_os("STATEMENT_TIMES").is_some().then(|| {
        let times = StatementTimes::default();
        diesel::Connection::set_instrumentation(&mut *conn, times.clone());
        times
    });
    let t = Instant::now();
    // ROWS_PER_WRITE=N tries another bound on the facts rows a write moves.
    let rows_per_write = match std::env::var("ROWS_PER_WRITE") {
        Ok(n) => n.parse()?,
        Err(_) => cpd_hub::store::report_cells::ROWS_PER_WRITE,
    };
    let r = cpd_hub::store::report_cells::refresh_batch_with(&mut conn, now, 100, rows_per_write)?;
    println!(
        "report refresher, 100 of the largest courses marked: {:.0} ms in all, {r:?}",
        t.elapsed().as_secs_f64() * 1e3
    );
    if let Some(r) = r {
        // The figure the refresher's bound is about: how long bookings could wait behind it.
        println!(
            "report refresher: longest write transaction {:.1} ms ({} writes, {} over {} ms, {} courses, at most {} facts rows a write; longest checkpoint after a write, no lock held, {:.1} ms)",
            r.longest_write.as_secs_f64() * 1e3,
            r.writes,
            r.slow_writes,
            cpd_hub::store::report_cells::WRITE_BOUND.as_millis(),
            r.summed,
            rows_per_write,
            r.longest_checkpoint.as_secs_f64() * 1e3
        );
    }
    if let Some(times) = statements {
        times.print(15);
    }
    Ok(())
}

/// With `STATEMENT_TIMES=1`, the refresher's statements during the run with work to do: for
/// each statement text (its first 100 characters), how often it ran, its longest and its total
/// time, the longest first. Tells which statement makes a write transaction long.
#[derive(Clone, Default)]
struct StatementTimes {
    inner: std::sync::Arc<std::sync::Mutex<TimesInner>>,
}

#[derive(Default)]
struct TimesInner {
    started: Option<Instant>,
    by_text: std::collections::HashMap<String, (u32, Duration, Duration)>,
}

impl diesel::connection::Instrumentation for StatementTimes {
    fn on_connection_event(&mut self, event: diesel::connection::InstrumentationEvent<'_>) {
        use diesel::connection::InstrumentationEvent as E;
        let mut inner = self.inner.lock().unwrap();
        match event {
            E::StartQuery { .. } => inner.started = Some(Instant::now()),
            E::FinishQuery { query, .. } => {
                let Some(started) = inner.started.take() else {
                    return;
                };
                let took = started.elapsed();
                let text: String = query
                    .to_string()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .chars()
                    .take(100)
                    .collect();
                let entry = inner.by_text.entry(text).or_default();
                entry.0 += 1;
                entry.1 = entry.1.max(took);
                entry.2 += took;
            }
            _ => {}
        }
    }
}

impl StatementTimes {
    fn print(&self, top: usize) {
        let inner = self.inner.lock().unwrap();
        let mut rows: Vec<_> = inner.by_text.iter().collect();
        rows.sort_by_key(|(_, (_, longest, _))| std::cmp::Reverse(*longest));
        println!("statements by longest run (count, longest ms, total ms, text):");
        for (text, (n, longest, total)) in rows.into_iter().take(top) {
            println!(
                "  {n:>6} {:>9.1} {:>9.1}  {text}",
                longest.as_secs_f64() * 1e3,
                total.as_secs_f64() * 1e3
            );
        }
    }
}
