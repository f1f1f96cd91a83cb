//! Register load generator for `bench/register.sh`: how long taking a whole register takes.
//!
//! ```text
//! register_load setup DATABASE_URL OUT_DIR [PEOPLE]
//!     Makes a course lead with an API token, PEOPLE staff (default 30) and a published
//!     course with one session that they all hold a confirmed place on, straight into the
//!     database through the library; writes OUT_DIR/session.txt, OUT_DIR/token.txt and
//!     OUT_DIR/bookings.txt.
//! register_load run BASE_URL OUT_DIR REQUESTS
//!     As the course lead, sends REQUESTS `PUT /api/v1/sessions/{id}/attendance`, one after
//!     another, each marking every booking; the statuses alternate between two whole
//!     registers (everyone present / a mix of late, absent, left early and apologies), so
//!     every PUT really changes every mark. After 20 warm-up PUTs, prints one line: p50,
//!     p95, p99 and the longest, and the statuses.
//! ```

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use cpd_hub::db::{self, DbConn};
use cpd_hub::domain::course::{CoursePlan, SessionPlan, Venue};
use cpd_hub::domain::roles::Role;
use cpd_hub::domain::time;
use cpd_hub::store::bookings::{self, Ctx, NewBooking};
use cpd_hub::store::courses::{self, CourseLinks};
use cpd_hub::store::people::{self, NewPerson};
use diesel::prelude::*;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("setup") if args.len() >= 3 => setup(
            &args[1],
            &args[2],
            args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(30),
        ),
        Some("run") if args.len() == 4 => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(run(&args[1], &args[2], args[3].parse()?)),
        _ => {
            eprintln!(
                "usage: register_load setup DATABASE_URL OUT_DIR [PEOPLE]\n       \
                 register_load run BASE_URL OUT_DIR REQUESTS"
            );
            std::process::exit(2)
        }
    }
}

fn setup(url: &str, out: &str, n_people: usize) -> anyhow::Result<()> {
    let pool = db::build_pool(url, Some(1), Duration::from_secs(10))?;
    let mut conn = pool.get()?;
    db::migrate(&mut conn)?;
    let conn: &mut DbConn = &mut conn;
    let err = |e: cpd_hub::error::AppError| anyhow::anyhow!("{e:?}");
    let (school, _) = cpd_hub::store::seed::ensure_school(
        conn,
        &cpd_hub::store::seed::SchoolSeed {
            urn: 990_002,
            name: "Bench Primary",
            phase: "primary",
            school_type: "Academy",
            cluster_id: None,
            local_authority: "Barnsley",
            postcode: "S70 2HZ",
        },
    )?;
    let (provider, _) = cpd_hub::store::seed::ensure_provider(
        conn,
        "Bench Provider",
        "teaching_alliance",
        None,
        None,
    )?;
    let person = |name: String, email: String, roles: Vec<Role>| NewPerson {
        name,
        email,
        school_id: Some(school.clone()),
        staff_group_id: None,
        roles,
    };
    let lead = db::write_tx(conn, |c| {
        people::insert(
            c,
            &person(
                "Bench Lead".into(),
                "lead@bench.test".into(),
                vec![Role::CourseLead],
            ),
        )
    })?;
    let (_, token) = cpd_hub::store::tokens::create(conn, &lead, "bench", None)?;
    let start = NaiveDate::from_ymd_opt(2030, 3, 4)
        .unwrap()
        .and_hms_opt(9, 0, 0)
        .unwrap();
    let plan = CoursePlan {
        title: "Register bench".into(),
        summary: "A course for the register benchmark.".into(),
        format: "in_person".into(),
        capacity: n_people as i32,
        per_school_cap: None,
        per_school_cap_until: None,
        price_pence: 0,
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
        provider_id: provider,
        cluster_id: None,
        lead_ids: vec![lead.clone()],
        priority_ids: Vec::new(),
        staff_group_ids: Vec::new(),
    };
    let course = courses::create_course(conn, None, plan, links).map_err(err)?;
    courses::publish_course(conn, None, &course.id).map_err(err)?;
    let mut booking_ids = Vec::with_capacity(n_people);
    for i in 0..n_people {
        let id = db::write_tx(conn, |c| {
            people::insert(
                c,
                &person(
                    format!("Bench person {i:02}"),
                    format!("person{i}@bench.test"),
                    vec![],
                ),
            )
        })?;
        let ctx = Ctx {
            actor_id: Some(&id),
            now: time::now(),
            base_url: "http://127.0.0.1",
        };
        let b = bookings::book(
            conn,
            ctx,
            NewBooking {
                course_id: &course.id,
                person_id: &id,
                staff_group_id: None,
                override_rules: false,
                walk_in: false,
            },
        )
        .map_err(err)?;
        anyhow::ensure!(
            b.status == cpd_hub::domain::booking::BookingStatus::Confirmed,
            "booking {i} was not confirmed"
        );
        booking_ids.push(b.id);
    }
    // The benchmark sends no email: the confirmations are not part of it.
    diesel::delete(cpd_hub::db::schema::outbox::table).execute(conn)?;
    std::fs::create_dir_all(out)?;
    std::fs::write(format!("{out}/session.txt"), &course.sessions[0].id)?;
    std::fs::write(format!("{out}/token.txt"), token)?;
    std::fs::write(format!("{out}/bookings.txt"), booking_ids.join("\n") + "\n")?;
    Ok(())
}

async fn run(base: &str, dir: &str, requests: usize) -> anyhow::Result<()> {
    let read = |f: &str| std::fs::read_to_string(format!("{dir}/{f}"));
    let session = read("session.txt")?.trim().to_string();
    let token = read("token.txt")?.trim().to_string();
    let bookings: Vec<String> = read("bookings.txt")?
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let others = ["late", "absent", "left_early", "apologies"];
    let bodies: [serde_json::Value; 2] = [
        bookings
            .iter()
            .map(|b| serde_json::json!({"booking_id": b, "status": "present"}))
            .collect(),
        bookings
            .iter()
            .enumerate()
            .map(|(i, b)| serde_json::json!({"booking_id": b, "status": others[i % 4]}))
            .collect(),
    ];
    let client = reqwest::Client::new();
    let url = format!("{base}/api/v1/sessions/{session}/attendance");
    let mut lat = Vec::with_capacity(requests);
    let mut statuses = std::collections::BTreeMap::new();
    for n in 0..requests + 20 {
        let t = Instant::now();
        let r = client
            .put(&url)
            .bearer_auth(&token)
            .json(&bodies[n % 2])
            .send()
            .await?;
        let status = r.status().as_u16();
        let body = r.bytes().await?;
        let took = t.elapsed();
        if status != 200 {
            eprintln!("{status}: {}", String::from_utf8_lossy(&body));
        }
        if n >= 20 {
            lat.push(took);
            *statuses.entry(status).or_insert(0usize) += 1;
        }
    }
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{requests} PUTs of {} marks: p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms, statuses {statuses:?}",
        bookings.len(),
        ms(pct(0.50)),
        ms(pct(0.95)),
        ms(pct(0.99)),
        ms(*lat.last().unwrap()),
    );
    Ok(())
}
