//! The service killed (SIGKILL) in the middle of a booking rush and started again: 64
//! clients book several courses with `Idempotency-Key`s and retry each request until it is
//! answered, across the kill. Every acknowledged booking must still be there with the status
//! it was acknowledged with, every retry must get the first answer again, places and waiting
//! lists must be exact, and every booking's email must arrive (the duplicates the kill caused
//! are counted and printed).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use serde_json::{json, Value};

use crate::booking_support::{bk_check_invariants, bk_course, bk_people, bk_world, Who};
use crate::calendar_support::cal_db;
use crate::helpers::{spawn_app_with, Backend};
use crate::smtp_sink::{Received, SmtpSink};

/// Concurrent clients, each one person booking themselves.
const CLIENTS: usize = 64;
/// Courses each client books, one after another.
const COURSES: usize = 4;
/// Places on each course: the rest of the clients wait.
const CAPACITY: i64 = 40;
/// Messages the worker sends at once: at most this many can be in flight at the kill.
const IN_FLIGHT: usize = 16;
/// How long one request may go unanswered, the kill and the restart included.
const ANSWER_WITHIN: Duration = Duration::from_secs(45);

/// The first answer a client got for one request.
#[derive(Clone, Debug)]
struct Answer {
    status: u16,
    body: String,
    /// Received before the kill: the service acknowledged it.
    before_kill: bool,
}

/// One request a client made: the course, the key and the first answer.
type Asked = (String, String, Answer);

/// The real binary serving `url` on `port`, sending email to `sink`.
fn serve(url: &str, port: u16, sink: &SmtpSink) -> Child {
    Command::new(env!("CARGO_BIN_EXE_cpd-hub"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", url)
        .env("BIND", format!("127.0.0.1:{port}"))
        .env("SMTP_URL", sink.url())
        .env("OUTBOX_POLL_MS", "50")
        .env("OUTBOX_CLAIM_SECS", "2")
        .env("SMTP_TIMEOUT_SECS", "1")
        .env("OUTBOX_CONCURRENCY", IN_FLIGHT.to_string())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cpd-hub serve starts")
}

async fn wait_healthy(client: &reqwest::Client, base: &str) {
    let start = Instant::now();
    loop {
        if let Ok(r) = client.get(format!("{base}/healthz")).send().await {
            if r.status() == 200 {
                return;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the service did not start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends one booking request under `key` until it is answered: through refused connections
/// while the service is down, and through `409 idempotency_in_progress` and 5xx (which give
/// the key up) while it comes back.
async fn answer_of(
    client: &reqwest::Client,
    url: &str,
    who: &Who,
    key: &str,
    killed: &AtomicBool,
) -> Answer {
    let start = Instant::now();
    let mut last = String::from("no answer");
    loop {
        assert!(
            start.elapsed() < ANSWER_WITHIN,
            "{key}: not answered within {ANSWER_WITHIN:?} (last: {last})"
        );
        let sent = client
            .post(url)
            .bearer_auth(&who.token)
            .header("Idempotency-Key", key)
            .json(&json!({}))
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => {
                last = e.to_string();
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let status = response.status().as_u16();
        let Ok(body) = response.text().await else {
            last = format!("{status} with a body cut off");
            continue;
        };
        // Read after the answer: an answer read before the flag is set came before the kill.
        let before_kill = !killed.load(Ordering::SeqCst);
        let in_progress = status == 409 && body.contains("idempotency_in_progress");
        if in_progress || status >= 500 {
            last = format!("{status} {body}");
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        return Answer {
            status,
            body,
            before_kill,
        };
    }
}

fn message_id(m: &Received) -> String {
    m.header("Message-ID")
        .expect("a Message-ID")
        .trim()
        .to_string()
}

async fn crash_mid_rush(backend: Backend) {
    let sink = SmtpSink::start().await;
    // The set-up service sends no email: the binary started below sends it all.
    let Some(app) = spawn_app_with(backend, |s| s.outbox.enabled = false).await else {
        return;
    };
    let w = bk_world(&app).await;
    let mut courses = Vec::new();
    for c in 0..COURSES {
        courses.push(bk_course(&app, &w, &format!("Rush {c}"), CAPACITY, |_| {}).await);
    }
    let people = bk_people(&app, CLIENTS, "Rusher", &[&w.school_a, &w.school_b]).await;

    // A port of its own, so the service comes back on the same one after the kill.
    let port = crate::helpers::reserved_port();
    let base = format!("http://127.0.0.1:{port}");
    let url = app.db.url().to_string();
    let client = crate::helpers::http_client()
        .pool_max_idle_per_host(CLIENTS)
        .build()
        .unwrap();
    let mut first = serve(&url, port, &sink);
    wait_healthy(&client, &base).await;

    let killed = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let total = CLIENTS * COURSES;
    let mut clients = Vec::new();
    for (i, who) in people.iter().enumerate() {
        let (client, base, who) = (client.clone(), base.clone(), who.clone());
        let (killed, answered, courses) = (killed.clone(), answered.clone(), courses.clone());
        clients.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            // Each client starts on a different course, so every course is booked at once.
            for n in 0..COURSES {
                let course = &courses[(i + n) % COURSES];
                let key = format!("rush-{i}-{course}");
                let url = format!("{base}/api/v1/courses/{course}/bookings");
                let a = answer_of(&client, &url, &who, &key, &killed).await;
                answered.fetch_add(1, Ordering::SeqCst);
                answers.push((course.clone(), key, a));
            }
            (who, answers)
        }));
    }

    // The kill: a third of the way through.
    let start = Instant::now();
    while answered.load(Ordering::SeqCst) < total / 3 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the rush stalled"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    killed.store(true, Ordering::SeqCst);
    first.kill().expect("SIGKILL");
    first.wait().unwrap();
    let answered_at_kill = answered.load(Ordering::SeqCst);
    let emails_at_kill = sink.count();
    let restart = Instant::now();
    let mut second = serve(&url, port, &sink);

    let mut results: Vec<(Who, Vec<Asked>)> = Vec::new();
    for c in clients {
        results.push(c.await.expect("a client failed"));
    }
    let all_answered_after = restart.elapsed();

    // Every request got a 201: none was refused as a duplicate of itself.
    let answers: Vec<(&Who, &String, &String, &Answer)> = results
        .iter()
        .flat_map(|(who, list)| list.iter().map(move |(c, k, a)| (who, c, k, a)))
        .collect();
    assert_eq!(answers.len(), total);
    for (_, _, key, a) in &answers {
        assert_eq!(a.status, 201, "{key} was answered {} {}", a.status, a.body);
    }
    let acknowledged = answers.iter().filter(|(_, _, _, a)| a.before_kill).count();
    assert!(
        acknowledged > 0 && acknowledged < total,
        "the kill did not come mid-run ({acknowledged} of {total} answered)"
    );

    // Every answered booking is in the database, for that person and course, with the
    // status it was answered with (nothing has changed any booking since).
    let stored: HashMap<String, (String, String, String)> = cal_db(&app, |conn| {
        use cpd_hub::db::schema::bookings as b;
        b::table
            .select((b::id, b::course_id, b::person_id, b::status))
            .load::<(String, String, String, String)>(conn)
            .unwrap()
            .into_iter()
            .map(|(id, c, p, s)| (id, (c, p, s)))
            .collect()
    })
    .await;
    assert_eq!(
        stored.len(),
        total,
        "one booking per request, none lost, none twice"
    );
    let mut positions: BTreeMap<&String, Vec<i64>> = BTreeMap::new();
    for (who, course, key, a) in &answers {
        let v: Value = serde_json::from_str(&a.body).unwrap();
        let id = v["id"].as_str().unwrap();
        let (c, p, s) = stored
            .get(id)
            .unwrap_or_else(|| panic!("{key}: booking {id} was answered but is not stored"));
        assert_eq!((c, p), (*course, &who.id), "{key}");
        assert_eq!(v["status"].as_str(), Some(s.as_str()), "{key}");
        if let Some(n) = v["waitlist_position"].as_i64() {
            positions.entry(*course).or_default().push(n);
        }
    }

    // Places exact, and each waiting list numbered 1..n in the answers and as listed now.
    let waiting = CLIENTS as i64 - CAPACITY;
    for course in &courses {
        let confirmed = stored
            .values()
            .filter(|(c, _, s)| c == course && s == "confirmed")
            .count() as i64;
        assert_eq!(confirmed, CAPACITY, "places on {course}");
        let mut told = positions.get(course).cloned().unwrap_or_default();
        told.sort();
        assert_eq!(
            told,
            (1..=waiting).collect::<Vec<_>>(),
            "waiting list of {course}"
        );
        let listed = app
            .admin_get(&format!(
                "/api/v1/bookings?course_id={course}&status=waitlisted&limit=1000"
            ))
            .await;
        let mut listed: Vec<i64> = listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["waitlist_position"].as_i64().unwrap())
            .collect();
        listed.sort();
        assert_eq!(
            listed,
            (1..=waiting).collect::<Vec<_>>(),
            "listed waiting list of {course}"
        );
    }
    bk_check_invariants(&app, &courses).await;

    // Every retry gets the first answer again, byte for byte.
    for (who, course, key, a) in &answers {
        let r = client
            .post(format!("{base}/api/v1/courses/{course}/bookings"))
            .bearer_auth(&who.token)
            .header("Idempotency-Key", key.as_str())
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), a.status, "{key}");
        assert_eq!(
            r.headers()
                .get("Idempotency-Replayed")
                .map(|v| v.to_str().unwrap()),
            Some("true"),
            "{key}"
        );
        assert_eq!(
            r.text().await.unwrap(),
            a.body,
            "{key}: the retry's answer differs"
        );
    }

    // Each booking's email arrives; the kill may send a few twice (same Message-ID).
    let expected: HashMap<String, String> = {
        let start = Instant::now();
        loop {
            let rows: Vec<(Option<String>, String, String)> = cal_db(&app, |conn| {
                use cpd_hub::db::schema::outbox as o;
                o::table
                    .select((o::subject_id, o::status, o::message_id))
                    .load(conn)
                    .unwrap()
            })
            .await;
            if rows.iter().all(|(_, s, _)| s == "sent") {
                break rows
                    .into_iter()
                    .map(|(b, _, m)| (m, b.expect("a booking's message")))
                    .collect();
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "messages not sent: {:?}",
                rows.iter().filter(|(_, s, _)| s != "sent").count()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let booked: HashSet<&String> = expected.values().collect();
    assert_eq!(expected.len(), total, "one message per booking");
    assert_eq!(booked.len(), total, "one message per booking");
    let arrived = {
        let start = Instant::now();
        loop {
            let got = sink.messages();
            let ids: HashSet<String> = got.iter().map(message_id).collect();
            if expected.keys().all(|m| ids.contains(m)) {
                break got;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{} of {total} booking emails arrived",
                expected.keys().filter(|m| ids.contains(*m)).count()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    second.kill().unwrap();
    second.wait().unwrap();
    let mut times: BTreeMap<String, usize> = BTreeMap::new();
    for m in &arrived {
        *times.entry(message_id(m)).or_default() += 1;
    }
    let twice: Vec<(&String, &usize)> = times.iter().filter(|(_, n)| **n > 1).collect();
    let duplicates: usize = twice.iter().map(|(_, n)| **n - 1).sum();
    assert_eq!(times.len(), total, "only the bookings' emails arrive");
    eprintln!(
        "crash test ({backend:?}): {answered_at_kill} of {total} answered at the kill \
         ({acknowledged} acknowledged before it), {emails_at_kill} emails sent by then; \
         all answered {all_answered_after:?} after the restart; {duplicates} duplicate emails{}",
        if twice.is_empty() {
            String::new()
        } else {
            format!(
                ": {}",
                twice
                    .iter()
                    .map(|(id, n)| format!("{id} x{n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    assert!(
        duplicates <= IN_FLIGHT,
        "{duplicates} duplicates: more than the {IN_FLIGHT} messages that can be in flight"
    );
    drop(app);
}
crate::each_backend!(a_crash_mid_rush_loses_no_answer, crash_mid_rush);

/// The hash the service gives a booking request with an empty JSON body.
fn book_hash(path: &str) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(format!("POST\n{path}\n{{}}").as_bytes());
    hex::encode(h.finalize())
}

async fn claims_die_with_their_process(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |s| s.outbox.enabled = false).await else {
        return;
    };
    let w = bk_world(&app).await;
    let course = bk_course(&app, &w, "After a restart", 5, |_| {}).await;
    let p = bk_people(&app, 1, "Staff", &[&w.school_a]).await;
    let path = format!("/api/v1/courses/{course}/bookings");
    let send = |base: String| {
        let (client, url, token) = (
            app.client.clone(),
            format!("{base}{path}"),
            p[0].token.clone(),
        );
        async move {
            client
                .post(url)
                .bearer_auth(token)
                .header("Idempotency-Key", "left-behind")
                .json(&json!({}))
                .send()
                .await
                .unwrap()
        }
    };
    // A request claimed its key in this service and has not answered (it is still running,
    // or its process died before the booking committed).
    let (who, hash) = (p[0].id.clone(), book_hash(&path));
    cal_db(&app, move |conn| {
        let now = chrono::Utc::now().naive_utc();
        cpd_hub::store::idempotency::begin(conn, &who, "left-behind", &hash, now, now).unwrap()
    })
    .await;
    let r = send(app.address.clone()).await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "idempotency_in_progress", "{body}");

    // The service started again on the same database: the claim is older than the process,
    // so the retry runs at once instead of waiting a minute.
    let second = cpd_hub::startup::Application::build({
        let mut s = app.settings.clone();
        s.bind = "127.0.0.1:0".into();
        s
    })
    .await
    .unwrap();
    let restarted = format!("http://127.0.0.1:{}", second.port());
    tokio::spawn(second.run_until_stopped());
    let r = send(restarted.clone()).await;
    assert_eq!(r.status(), 201);
    assert!(r.headers().get("Idempotency-Replayed").is_none());
    let first = r.text().await.unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&first).unwrap()["status"],
        "confirmed"
    );
    // From then on every retry, on either copy, is that answer.
    for base in [restarted, app.address.clone()] {
        let r = send(base).await;
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers().get("Idempotency-Replayed").unwrap(), "true");
        assert_eq!(r.text().await.unwrap(), first);
    }
    let n = cal_db(&app, |conn| {
        use cpd_hub::db::schema::bookings as b;
        b::table.count().get_result::<i64>(conn).unwrap()
    })
    .await;
    assert_eq!(n, 1, "one booking");
}
crate::each_backend!(
    a_key_left_by_a_dead_process_is_free_after_a_restart,
    claims_die_with_their_process
);
