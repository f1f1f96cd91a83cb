//! Correctness under load: many real concurrent HTTP requests against the running service on
//! both backends, ending with the invariants checked in SQL.

use futures_util::future::join_all;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::booking_support::*;
use crate::both_backends;
use crate::helpers::TestApp;

/// Sends one POST with an optional Idempotency-Key: (status, body).
async fn post(
    client: reqwest::Client,
    url: String,
    token: String,
    key: Option<String>,
    body: Value,
) -> (u16, Value) {
    let mut req = client.post(url).bearer_auth(token).json(&body);
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    let r = req.send().await.expect("request sent");
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Sends one PATCH as the admin: the status.
async fn patch(client: reqwest::Client, url: String, token: String, body: Value) -> (u16, Value) {
    let r = client
        .patch(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("request sent");
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn assert_no_server_errors(results: &[(u16, Value)]) {
    for (status, body) in results {
        assert!(*status < 500, "a server error under load: {status} {body}");
        assert!(!body.to_string().contains("database is locked"), "{body}");
    }
}

both_backends! {
    async fn three_hundred_people_for_thirty_places(app: TestApp) {
        let w = bk_world(&app).await;
        let course = bk_course(&app, &w, "Oversubscribed", 30, |_| {}).await;
        let schools = [&w.school_a, &w.school_b, &w.school_c];
        let people = bk_people(&app, 300, "Staff", &schools).await;
        let url = format!("http://127.0.0.1:{}/api/v1/courses/{course}/bookings", app.port);
        let results = join_all(people.iter().map(|p| {
            tokio::spawn(post(app.client.clone(), url.clone(), p.token.clone(), None, json!({})))
        }))
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect::<Vec<_>>();
        assert_no_server_errors(&results);
        assert!(results.iter().all(|(s, _)| *s == 201), "every request is answered 201");
        let confirmed = results.iter().filter(|(_, b)| b["status"] == "confirmed").count();
        let mut positions: Vec<i64> = results
            .iter()
            .filter(|(_, b)| b["status"] == "waitlisted")
            .map(|(_, b)| b["waitlist_position"].as_i64().unwrap())
            .collect();
        positions.sort();
        assert_eq!(confirmed, 30);
        assert_eq!(positions, (1..=270).collect::<Vec<i64>>());
        let c = bk_course_get(&app, &course).await;
        assert_eq!((c["places_left"].as_i64(), c["waitlist_length"].as_i64()), (Some(0), Some(270)));
        assert_eq!(bk_count(&app, "SELECT COUNT(*) AS n FROM outbox").await, 300);
        bk_check_invariants(&app, &[course]).await;
    }
}

both_backends! {
    async fn fifty_identical_requests_make_one_booking(app: TestApp) {
        let w = bk_world(&app).await;
        let course = bk_course(&app, &w, "Retried", 10, |_| {}).await;
        let p = bk_people(&app, 2, "Staff", &[&w.school_a]).await;
        let url = format!("{}/api/v1/courses/{course}/bookings", app.address);

        // Without a key: one booking, the rest "already booked".
        let results: Vec<(u16, Value)> = join_all((0..50).map(|_| {
            tokio::spawn(post(app.client.clone(), url.clone(), p[0].token.clone(), None, json!({})))
        }))
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
        assert_no_server_errors(&results);
        assert_eq!(results.iter().filter(|(s, _)| *s == 201).count(), 1);
        assert!(results.iter().filter(|(s, _)| *s != 201).all(|(s, b)| *s == 409 && b["code"] == "already_booked"));

        // With the same key: one booking; the others are replays of it or "in progress".
        let results: Vec<(u16, Value)> = join_all((0..50).map(|_| {
            tokio::spawn(post(app.client.clone(), url.clone(), p[1].token.clone(), Some("same-key".into()), json!({})))
        }))
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
        assert_no_server_errors(&results);
        let created: Vec<&Value> = results.iter().filter(|(s, _)| *s == 201).map(|(_, b)| b).collect();
        assert!(!created.is_empty());
        assert!(created.iter().all(|b| *b == created[0]), "every 201 is the same booking");
        assert!(results.iter().filter(|(s, _)| *s != 201).all(|(s, b)| *s == 409 && b["code"] == "idempotency_in_progress"));
        assert_eq!(bk_count(&app, &format!("SELECT COUNT(*) AS n FROM bookings WHERE person_id = '{}'", p[1].id)).await, 1);
        assert_eq!(bk_count(&app, "SELECT COUNT(*) AS n FROM bookings").await, 2);
        bk_check_invariants(&app, &[course]).await;
    }
}

/// A seeded, randomised mix of concurrent books, cancels, capacity changes, cap changes and
/// lifts, approvals and declines over five courses, in waves; then every invariant in SQL.
async fn random_mix(app: &TestApp, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let w = bk_world(app).await;
    let schools = [&w.school_a, &w.school_b, &w.school_c];
    // Two courses never have a cap, so their queues must be strictly first come, first served.
    let plain = bk_course(app, &w, "Plain", 4, |_| {}).await;
    let plain2 = bk_course(app, &w, "Plain two", 6, |_| {}).await;
    let capped = bk_course(app, &w, "Capped", 5, |b| b["per_school_cap"] = json!(1)).await;
    let capped2 = bk_course(app, &w, "Capped two", 6, |b| b["per_school_cap"] = json!(2)).await;
    let approval = bk_course(app, &w, "Approval", 3, |b| {
        b["requires_approval"] = json!(true)
    })
    .await;
    let courses = [
        plain.clone(),
        plain2.clone(),
        capped.clone(),
        capped2.clone(),
        approval.clone(),
    ];
    let people = bk_people(app, 40, "Staff", &schools).await;
    let lead_of = |school: &str| {
        if school == w.school_a {
            Some(&w.lead_a)
        } else if school == w.school_b {
            Some(&w.lead_b)
        } else {
            None
        }
    };
    let base = app.address.clone();
    let admin = app.admin_token.clone();

    let mut statuses: Vec<u16> = Vec::new();
    for wave in 0..12 {
        // What exists now, to pick cancels and decisions from.
        let all = app.admin_get("/api/v1/bookings?limit=1000").await;
        let items = all["items"].as_array().unwrap().clone();
        let active: Vec<&Value> = items
            .iter()
            .filter(|b| {
                ["confirmed", "waitlisted", "pending_approval"]
                    .contains(&b["status"].as_str().unwrap())
            })
            .collect();
        let pending: Vec<&Value> = items
            .iter()
            .filter(|b| b["status"] == "pending_approval")
            .collect();
        let mut tasks = Vec::new();
        for _ in 0..30 {
            let client = app.client.clone();
            let roll: u32 = rng.gen_range(0..100);
            let task = if roll < 50 || active.is_empty() {
                let i = rng.gen_range(0..people.len());
                let course = &courses[rng.gen_range(0..courses.len())];
                let key = rng
                    .gen_bool(0.3)
                    .then(|| format!("w{wave}-{}", rng.gen::<u32>() % 8));
                tokio::spawn(post(
                    client,
                    format!("{base}/api/v1/courses/{course}/bookings"),
                    people[i].token.clone(),
                    key,
                    json!({}),
                ))
            } else if roll < 72 {
                let b = active[rng.gen_range(0..active.len())];
                let who = people
                    .iter()
                    .find(|p| b["person_id"] == p.id.as_str())
                    .unwrap();
                let token = if rng.gen_bool(0.5) {
                    who.token.clone()
                } else {
                    admin.clone()
                };
                tokio::spawn(post(
                    client,
                    format!(
                        "{base}/api/v1/bookings/{}/cancel",
                        b["id"].as_str().unwrap()
                    ),
                    token,
                    None,
                    json!({}),
                ))
            } else if roll < 82 {
                let course = &courses[rng.gen_range(0..courses.len())];
                let capacity = rng.gen_range(2..9);
                tokio::spawn(patch(
                    client,
                    format!("{base}/api/v1/courses/{course}"),
                    admin.clone(),
                    json!({"capacity": capacity}),
                ))
            } else if roll < 88 {
                let course = if rng.gen_bool(0.5) { &capped } else { &capped2 };
                let cap = match rng.gen_range(0..3) {
                    0 => Value::Null,
                    n => json!(n),
                };
                tokio::spawn(patch(
                    client,
                    format!("{base}/api/v1/courses/{course}"),
                    admin.clone(),
                    json!({"per_school_cap": cap}),
                ))
            } else if !pending.is_empty() {
                let take = rng.gen_range(1..=pending.len().min(3));
                let chosen: Vec<&Value> = (0..take)
                    .map(|_| pending[rng.gen_range(0..pending.len())])
                    .collect();
                let ids: Vec<&str> = chosen.iter().map(|b| b["id"].as_str().unwrap()).collect();
                let school = chosen[0]["school_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let token = match lead_of(&school) {
                    Some(l) if chosen.iter().all(|b| b["school_id"] == school.as_str()) => {
                        l.token.clone()
                    }
                    _ => admin.clone(),
                };
                let (path, body) = if rng.gen_bool(0.7) {
                    ("approve", json!({"booking_ids": ids}))
                } else {
                    (
                        "decline",
                        json!({"booking_ids": ids, "reason": "Not this term"}),
                    )
                };
                tokio::spawn(post(
                    client,
                    format!("{base}/api/v1/bookings/{path}"),
                    token,
                    None,
                    body,
                ))
            } else {
                let i = rng.gen_range(0..people.len());
                tokio::spawn(post(
                    client,
                    format!("{base}/api/v1/courses/{approval}/bookings"),
                    people[i].token.clone(),
                    None,
                    json!({}),
                ))
            };
            tasks.push(task);
        }
        let results: Vec<(u16, Value)> = join_all(tasks)
            .await
            .into_iter()
            .map(|r| r.unwrap())
            .collect();
        assert_no_server_errors(&results);
        statuses.extend(results.iter().map(|(s, _)| *s));
        bk_check_invariants(app, &[plain.clone(), plain2.clone()]).await;
    }
    // The mix did real work: bookings made, refused, cancelled and approved.
    assert!(
        statuses.iter().filter(|s| **s == 201).count() > 50,
        "{statuses:?}"
    );
    assert!(statuses.contains(&409));
    assert!(
        bk_count(
            app,
            "SELECT COUNT(*) AS n FROM bookings WHERE status = 'cancelled'"
        )
        .await
            > 0
    );
    assert!(
        bk_count(
            app,
            "SELECT COUNT(*) AS n FROM booking_history WHERE reason = 'approved'"
        )
        .await
            > 0
    );
    assert!(bk_count(app, "SELECT COUNT(*) AS n FROM booking_history WHERE from_status = 'waitlisted' AND to_status = 'confirmed'").await > 0);
}

both_backends! {
    async fn randomised_concurrent_mix_keeps_every_invariant(app: TestApp) {
        random_mix(&app, 20261104).await;
    }
}
