//! Booking load generator for `bench/bookings.sh`.
//!
//! ```text
//! book_load setup DATABASE_URL PEOPLE COURSES CAPACITY OUT_DIR
//!     Makes PEOPLE staff with API tokens and COURSES published courses of CAPACITY places,
//!     straight into the database through the library; writes OUT_DIR/tokens.txt and
//!     OUT_DIR/courses.txt (one per line).
//! book_load run BASE_URL OUT_DIR CONCURRENCY REQUESTS [spread|one] [FIRST]
//!     Sends REQUESTS booking requests, CONCURRENCY at a time, each a different
//!     (person, course) pair, starting from pair FIRST (default 0; give later runs on the
//!     same database later pairs): `spread` walks the courses so concurrent requests mostly
//!     hit different courses; `one` books everyone onto the first course. Prints one line:
//!     wall time, bookings/s, p50/p99 latency, statuses.
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use cpd_hub::db::{self, DbConn};
use cpd_hub::domain::course::{CoursePlan, SessionPlan, Venue};
use cpd_hub::domain::time;
use cpd_hub::store::courses::{self, CourseLinks};
use diesel::prelude::*;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("setup") if args.len() == 6 => setup(
            &args[1],
            args[2].parse()?,
            args[3].parse()?,
            args[4].parse()?,
            &args[5],
        ),
        Some("run") if args.len() >= 5 => {
            let mode = args.get(5).map(String::as_str).unwrap_or("spread");
            let first = args.get(6).map(|s| s.parse()).transpose()?.unwrap_or(0);
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(run(
                    &args[1],
                    &args[2],
                    args[3].parse()?,
                    args[4].parse()?,
                    mode,
                    first,
                ))
        }
        _ => {
            eprintln!(
                "usage: book_load setup DATABASE_URL PEOPLE COURSES CAPACITY OUT_DIR\n       \
                 book_load run BASE_URL OUT_DIR CONCURRENCY REQUESTS [spread|one]"
            );
            std::process::exit(2)
        }
    }
}

fn setup(
    url: &str,
    people: usize,
    n_courses: usize,
    capacity: i32,
    out: &str,
) -> anyhow::Result<()> {
    let pool = db::build_pool(url, Some(1), Duration::from_secs(10))?;
    let mut conn = pool.get()?;
    db::migrate(&mut conn)?;
    let conn: &mut DbConn = &mut conn;
    let tokens = db::write_tx(conn, |conn| -> anyhow::Result<Vec<String>> {
        use cpd_hub::db::schema::{people as p, providers, schools};
        let now = time::now();
        let school = cpd_hub::store::new_id();
        diesel::insert_into(schools::table)
            .values((
                schools::id.eq(&school),
                schools::urn.eq(990_001i64),
                schools::name.eq("Bench Primary"),
                schools::phase.eq("primary"),
                schools::created_at.eq(now),
                schools::updated_at.eq(now),
            ))
            .execute(conn)?;
        diesel::insert_into(providers::table)
            .values((
                providers::id.eq(cpd_hub::store::new_id()),
                providers::name.eq("Bench Provider"),
                providers::kind.eq("teaching_alliance"),
                providers::created_at.eq(now),
                providers::updated_at.eq(now),
            ))
            .execute(conn)?;
        let mut tokens = Vec::with_capacity(people);
        for i in 0..people {
            let id = cpd_hub::store::new_id();
            diesel::insert_into(p::table)
                .values((
                    p::id.eq(&id),
                    p::name.eq(format!("Bench person {i}")),
                    p::email.eq(format!("bench{i}@bench.test")),
                    p::school_id.eq(Some(&school)),
                    p::created_at.eq(now),
                    p::updated_at.eq(now),
                ))
                .execute(conn)?;
            let (_, token) = cpd_hub::store::tokens::create(conn, &id, "bench", None)?;
            tokens.push(token);
        }
        Ok(tokens)
    })?;
    use cpd_hub::db::schema::providers;
    let provider: String = providers::table
        .filter(providers::name.eq("Bench Provider"))
        .select(providers::id)
        .first(conn)?;
    let start = NaiveDate::from_ymd_opt(2030, 3, 4)
        .unwrap()
        .and_hms_opt(9, 0, 0)
        .unwrap();
    let mut ids = Vec::with_capacity(n_courses);
    for i in 0..n_courses {
        let plan = CoursePlan {
            title: format!("Bench course {i}"),
            summary: "A course for the booking benchmark.".into(),
            format: "in_person".into(),
            capacity,
            per_school_cap: None,
            per_school_cap_until: None,
            price_pence: 2500,
            booking_opens: None,
            booking_closes: None,
            cancellation_deadline: None,
            requires_approval: false,
            completion_min_sessions: None,
            phases: Vec::new(),
            sessions: vec![SessionPlan {
                start,
                end: start + chrono::Duration::hours(3),
                venue: Some(Venue {
                    name: "Barnsley Teaching Hub".into(),
                    address: "Church Street, Barnsley".into(),
                    postcode: "S70 2HZ".into(),
                }),
                online_url: None,
                note: None,
            }],
        };
        let links = CourseLinks {
            provider_id: provider.clone(),
            cluster_id: None,
            lead_ids: Vec::new(),
            priority_ids: Vec::new(),
            staff_group_ids: Vec::new(),
        };
        let c = courses::create_course(conn, None, plan, links)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        courses::publish_course(conn, None, &c.id).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        ids.push(c.id);
    }
    std::fs::create_dir_all(out)?;
    std::fs::write(format!("{out}/tokens.txt"), tokens.join("\n") + "\n")?;
    std::fs::write(format!("{out}/courses.txt"), ids.join("\n") + "\n")?;
    Ok(())
}

async fn run(
    base: &str,
    dir: &str,
    concurrency: usize,
    requests: usize,
    mode: &str,
    first: usize,
) -> anyhow::Result<()> {
    let read = |f: &str| -> anyhow::Result<Vec<String>> {
        Ok(std::fs::read_to_string(format!("{dir}/{f}"))?
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect())
    };
    let tokens = Arc::new(read("tokens.txt")?);
    let courses = Arc::new(read("courses.txt")?);
    let pairs = if mode == "one" {
        tokens.len()
    } else {
        tokens.len() * courses.len()
    };
    anyhow::ensure!(
        first + requests <= pairs,
        "only {pairs} distinct (person, course) pairs"
    );
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, tokens, courses, next) = (
            client.clone(),
            tokens.clone(),
            courses.clone(),
            next.clone(),
        );
        let base = base.to_string();
        let one = mode == "one";
        workers.push(tokio::spawn(async move {
            let mut out: Vec<(u16, Duration)> = Vec::new();
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= requests {
                    break;
                }
                let i = first + n;
                let (person, course) = if one {
                    (i, 0)
                } else {
                    (i / courses.len() % tokens.len(), i % courses.len())
                };
                let t = Instant::now();
                let status = match client
                    .post(format!(
                        "{base}/api/v1/courses/{}/bookings",
                        courses[course]
                    ))
                    .bearer_auth(&tokens[person])
                    .json(&serde_json::json!({}))
                    .send()
                    .await
                {
                    Ok(r) => {
                        let s = r.status().as_u16();
                        let _ = r.bytes().await;
                        s
                    }
                    Err(_) => 0,
                };
                out.push((status, t.elapsed()));
            }
            out
        }));
    }
    let mut all = Vec::with_capacity(requests);
    for w in workers {
        all.extend(w.await?);
    }
    let wall = started.elapsed();
    let mut lat: Vec<Duration> = all.iter().map(|(_, d)| *d).collect();
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1];
    let mut by_status = std::collections::BTreeMap::new();
    for (s, _) in &all {
        *by_status.entry(*s).or_insert(0usize) += 1;
    }
    let ok = by_status.get(&201).copied().unwrap_or(0);
    println!(
        "{requests} requests, {concurrency} concurrent: wall {:.3} s, {:.0} bookings/s, p50 {:.1} ms, p99 {:.1} ms, statuses {:?}, errors {}",
        wall.as_secs_f64(),
        ok as f64 / wall.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0,
        by_status,
        requests - ok,
    );
    Ok(())
}
