//! Evaluation from end to end: registers recorded through the attendance API create
//! invitations; the evaluation job emails them (to a real SMTP server in the mail test);
//! answers go in by the token from the link; the course summary shows them, suppressed below
//! five respondents. Also: token reuse and expiry, reminders, follow-ups, form versions,
//! validation, the roles, erasure and the export.

use std::time::Duration;

use cpd_hub::db::schema::{
    attendance, courses, evaluation_answers, evaluation_forms, evaluation_invitations,
    evaluation_responses, evaluation_tokens, outbox,
};
use cpd_hub::domain::roles::Role;
use diesel::prelude::*;
use serde_json::{json, Value};

use crate::booking_support::{bk_book_ok, bk_course, bk_person, bk_text, bk_world, Who, World};
use crate::helpers::{expect_json, expect_problem, spawn_app_with, Backend, TestApp};

/// The service with its email worker off, so queued messages (and their links) stay in the
/// outbox to be read.
pub async fn spawn_quiet(backend: Backend) -> TestApp {
    spawn_app_with(backend, |s| {
        s.outbox.enabled = false;
        s.public_base_url = "https://cpd.alliance.test".into();
    })
    .await
    .expect("backend available")
}

/// A published course led by `lead`, `people` staff booked on it (confirmed), its sessions.
pub struct Fx {
    pub w: World,
    pub course: String,
    pub sessions: Vec<String>,
    pub lead: Who,
    pub people: Vec<Who>,
    pub bookings: Vec<String>,
}

pub async fn fixture(app: &TestApp, title: &str, people: usize, sessions: usize) -> Fx {
    let w = bk_world(app).await;
    let lead = bk_person(app, "Carla Lead", None, None, &[Role::CourseLead]).await;
    let lead_id = lead.id.clone();
    let course = bk_course(app, &w, title, 40, |b| {
        b["lead_ids"] = json!([lead_id]);
        b["sessions"] = json!((0..sessions)
            .map(|i| crate::booking_support::session_in(30 + 7 * i as i64))
            .collect::<Vec<_>>());
    })
    .await;
    let c = app.admin_get(&format!("/api/v1/courses/{course}")).await;
    let sessions: Vec<String> = c["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    let mut who = Vec::new();
    let mut bookings = Vec::new();
    for i in 0..people {
        let school = if i % 2 == 0 { &w.school_a } else { &w.school_b };
        let p = bk_person(
            app,
            &format!("Attendee {i}"),
            Some(school),
            None,
            &[Role::Staff],
        )
        .await;
        let b = bk_book_ok(app, &course, &p).await;
        bookings.push(b["id"].as_str().unwrap().to_string());
        who.push(p);
    }
    // Booked while the course was ahead; now it has been held (each session three hours,
    // four hours apart, the last ended an hour ago), so its registers are open and the
    // evaluation goes as soon as the last one is taken.
    hold_sessions(app, &course, &sessions).await;
    Fx {
        w,
        course,
        sessions,
        lead,
        people: who,
        bookings,
    }
}

/// Moves a course's sessions (in order) into the last hours, as time passing would: each
/// lasts three hours, four hours after the one before, the last ended an hour ago.
pub async fn hold_sessions(app: &TestApp, course: &str, sessions: &[String]) {
    use cpd_hub::db::schema::course_sessions;
    let course = course.to_string();
    let sessions = sessions.to_vec();
    app.with_db(move |conn| {
        let now = cpd_hub::domain::time::now();
        let n = sessions.len() as i64;
        let mut first = None;
        let mut last = None;
        for (i, id) in sessions.iter().enumerate() {
            let start = now - chrono::Duration::hours(4 * (n - i as i64));
            let end = start + chrono::Duration::hours(3);
            diesel::update(course_sessions::table.find(id))
                .set((
                    course_sessions::start_at.eq(start),
                    course_sessions::end_at.eq(end),
                ))
                .execute(conn)
                .unwrap();
            first = first.or(Some(start));
            last = Some(end);
        }
        diesel::update(courses::table.find(&course))
            .set((
                courses::first_session_start.eq(first),
                courses::last_session_end.eq(last),
            ))
            .execute(conn)
            .unwrap();
    })
    .await
}

/// Takes a session's register as the admin: `(booking, status)` pairs.
pub async fn register(app: &TestApp, session: &str, marks: &[(&str, &str)]) {
    let items: Vec<Value> = marks
        .iter()
        .map(|(b, s)| json!({"booking_id": b, "status": s}))
        .collect();
    let r = app
        .request(
            reqwest::Method::PUT,
            &format!("/api/v1/sessions/{session}/attendance"),
            Some(&app.admin_token),
            Some(&json!(items)),
        )
        .await;
    expect_json(r, 200).await;
}

/// Marks every booking of the fixture present at every session (the last one last).
pub async fn all_present(app: &TestApp, fx: &Fx) {
    for s in &fx.sessions {
        let marks: Vec<(&str, &str)> = fx
            .bookings
            .iter()
            .map(|b| (b.as_str(), "present"))
            .collect();
        register(app, s, &marks).await;
    }
}

/// Runs the evaluation job now, as of `now` (default: the real now).
pub async fn run_jobs(
    app: &TestApp,
    now: Option<chrono::NaiveDateTime>,
) -> cpd_hub::store::evaluation::JobReport {
    let settings = app.settings.clone();
    app.with_db(move |c| {
        cpd_hub::store::evaluation::run_jobs(
            c,
            now.unwrap_or_else(cpd_hub::domain::time::now),
            &settings,
        )
        .unwrap()
    })
    .await
}

/// The outbox messages of a kind: (recipient person, subject, payload), oldest first.
pub async fn messages(app: &TestApp, kind: &str) -> Vec<(String, String, Value)> {
    let kind = kind.to_string();
    app.with_db(move |c| {
        outbox::table
            .filter(outbox::kind.eq(kind))
            .order((outbox::created_at.asc(), outbox::id.asc()))
            .select((
                outbox::recipient_person_id,
                outbox::subject_id,
                outbox::payload,
            ))
            .load::<(Option<String>, Option<String>, String)>(c)
            .unwrap()
            .into_iter()
            .map(|(p, s, body)| {
                (
                    p.unwrap_or_default(),
                    s.unwrap_or_default(),
                    serde_json::from_str(&body).unwrap(),
                )
            })
            .collect()
    })
    .await
}

/// The token of a link `.../evaluate/<token>`.
pub fn token_of(link: &str) -> String {
    link.rsplit('/').next().unwrap().to_string()
}

/// Runs the job until every due invitation is emailed, then returns each invited person's
/// token (person id -> token) from the invitation emails.
pub async fn invitation_tokens(app: &TestApp) -> std::collections::HashMap<String, String> {
    run_jobs(app, None).await;
    messages(app, "evaluation_invitation")
        .await
        .into_iter()
        .map(|(p, _, payload)| (p, token_of(payload["link"].as_str().unwrap())))
        .collect()
}

pub fn answers(overall: i64, consent: &str) -> Value {
    json!({"answers": {
        "overall": overall,
        "relevance": 4,
        "delivery": 5,
        "confidence": {"before": 2, "after": 4},
        "consent_follow_up": consent
    }})
}

pub async fn answer(app: &TestApp, token: &str, body: &Value) -> reqwest::Response {
    app.post(&format!("/api/v1/evaluations/{token}"), None, body)
        .await
}

pub async fn summary(app: &TestApp, course: &str, token: Option<&str>) -> reqwest::Response {
    app.get(
        &format!("/api/v1/courses/{course}/evaluation-summary"),
        token,
    )
    .await
}

fn question<'a>(kind: &'a Value, key: &str) -> &'a Value {
    kind["questions"]
        .as_array()
        .unwrap_or_else(|| panic!("no questions in {kind}"))
        .iter()
        .find(|q| q["key"] == key)
        .unwrap_or_else(|| panic!("no question {key} in {kind}"))
}

// ---------------------------------------------------------------------------------------------

async fn attendees_are_invited_once_with_their_own_links(backend: Backend) {
    let app = spawn_quiet(backend).await;
    let fx = fixture(&app, "Phonics for early readers", 4, 2).await;
    let b = &fx.bookings;
    // A comes to both, B late to the first only, C to neither, D sends apologies.
    register(
        &app,
        &fx.sessions[0],
        &[
            (&b[0], "present"),
            (&b[1], "late"),
            (&b[2], "absent"),
            (&b[3], "apologies"),
        ],
    )
    .await;
    assert_eq!(
        run_jobs(&app, None).await.invitations_sent,
        0,
        "nothing before the last register"
    );
    register(
        &app,
        &fx.sessions[1],
        &[
            (&b[0], "left_early"),
            (&b[1], "absent"),
            (&b[2], "absent"),
            (&b[3], "absent"),
        ],
    )
    .await;
    let tokens = invitation_tokens(&app).await;
    let mut invited: Vec<&String> = tokens.keys().collect();
    invited.sort();
    let mut expected = vec![&fx.people[0].id, &fx.people[1].id];
    expected.sort();
    assert_eq!(invited, expected);
    let t0 = &tokens[&fx.people[0].id];
    assert!(t0.len() >= 32, "at least 128 bits: {t0}");
    assert_ne!(t0, &tokens[&fx.people[1].id]);
    let msgs = messages(&app, "evaluation_invitation").await;
    let p = &msgs[0].2;
    assert_eq!(p["course_title"], "Phonics for early readers");
    assert_eq!(p["form_kind"], "post_course");
    assert!(p["link"]
        .as_str()
        .unwrap()
        .starts_with("https://cpd.alliance.test/evaluate/"));
    // Only the hash is stored.
    let t = t0.clone();
    let stored: Vec<String> = app
        .with_db(|c| {
            evaluation_tokens::table
                .select(evaluation_tokens::token_hash)
                .load(c)
                .unwrap()
        })
        .await;
    assert!(!stored.contains(&t));
    assert!(stored.contains(&cpd_hub::auth::tokens::hash(&t)));

    // Correcting the last register and running the job again invites nobody twice.
    register(&app, &fx.sessions[1], &[(&b[0], "present")]).await;
    let again = run_jobs(&app, None).await;
    assert_eq!((again.created, again.invitations_sent), (0, 0));
    assert_eq!(messages(&app, "evaluation_invitation").await.len(), 2);

    // The link opens the form with the course.
    let form = app.admin_get(&format!("/api/v1/evaluations/{t0}")).await;
    assert_eq!(form["kind"], "post_course");
    assert_eq!(form["course"]["title"], "Phonics for early readers");
    let keys: Vec<&str> = form["form"]["questions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "overall",
            "relevance",
            "delivery",
            "confidence",
            "action_plan",
            "target_group",
            "consent_follow_up"
        ]
    );
    assert_eq!(form["form"]["questions"][0]["low_label"], "Poor");
    assert_eq!(form["form"]["questions"][0]["metric"], "satisfaction");
    assert_eq!(form["form"]["questions"][3]["kind"], "retrospective");
}
crate::each_backend!(
    attendees_are_invited_once_with_their_own_links,
    attendees_are_invited_once_with_their_own_links
);

async fn the_job_invites_when_the_hook_did_not(backend: Backend) {
    let app = spawn_quiet(backend).await;
    let fx = fixture(&app, "Behaviour that works", 3, 1).await;
    // Attendance written straight into the tables, as an import or an older copy of the
    // service would leave it: no hook ran.
    let (course, session, bookings) = (
        fx.course.clone(),
        fx.sessions[0].clone(),
        fx.bookings.clone(),
    );
    app.with_db(move |c| {
        let now = cpd_hub::domain::time::now();
        for (i, b) in bookings.iter().enumerate() {
            diesel::insert_into(attendance::table)
                .values((
                    attendance::booking_id.eq(b),
                    attendance::session_id.eq(&session),
                    attendance::course_id.eq(&course),
                    attendance::status.eq(if i == 2 { "absent" } else { "present" }),
                    attendance::source.eq("register"),
                    attendance::recorded_at.eq(now),
                ))
                .execute(c)
                .unwrap();
        }
        diesel::update(courses::table.find(&course))
            .set(courses::last_register_recorded_at.eq(Some(now)))
            .execute(c)
            .unwrap();
    })
    .await;
    let report = run_jobs(&app, None).await;
    assert_eq!((report.created, report.invitations_sent), (2, 2));
    let report = run_jobs(&app, None).await;
    assert_eq!((report.created, report.invitations_sent), (0, 0));
    assert_eq!(messages(&app, "evaluation_invitation").await.len(), 2);
}
crate::each_backend!(
    the_job_invites_when_the_hook_did_not,
    the_job_invites_when_the_hook_did_not
);

async fn answers_are_checked_then_saved_once(backend: Backend) {
    let app = spawn_quiet(backend).await;
    let fx = fixture(&app, "Maths mastery", 1, 1).await;
    all_present(&app, &fx).await;
    let tokens = invitation_tokens(&app).await;
    let t = &tokens[&fx.people[0].id];

    let bad = json!({"answers": {
        "overall": 6,
        "delivery": "good",
        "confidence": {"before": 2},
        "target_group": ["ks2", "year_13"],
        "action_plan": "x".repeat(4001),
        "colour": "blue"
    }});
    let p = expect_problem(answer(&app, t, &bad).await, 422, Some("answers.overall")).await;
    for k in [
        "relevance",
        "delivery",
        "confidence",
        "target_group",
        "action_plan",
        "colour",
        "consent_follow_up",
    ] {
        assert!(p["errors"][format!("answers.{k}")].is_array(), "{k}: {p}");
    }
    assert_eq!(
        p["errors"]["answers.relevance"][0],
        "Choose a rating from 1 to 5"
    );
    let stored: i64 = app
        .with_db(|c| evaluation_responses::table.count().get_result(c).unwrap())
        .await;
    assert_eq!(stored, 0, "a refused answer changes nothing");

    let mut body = answers(4, "no");
    body["answers"]["action_plan"] = json!("Retrieval practice every lesson");
    body["answers"]["target_group"] = json!(["send", "ks2"]);
    let ok = expect_json(answer(&app, t, &body).await, 201).await;
    assert_eq!(
        ok,
        json!({"status": "answered", "follow_up_scheduled": false})
    );
    let again = expect_problem(answer(&app, t, &body).await, 409, None).await;
    assert_eq!(again["code"], "already_answered");
    let get = expect_problem(
        app.get(&format!("/api/v1/evaluations/{t}"), None).await,
        409,
        None,
    )
    .await;
    assert_eq!(get["code"], "already_answered");

    // What was stored: the booking's school snapshotted, the headline figures, every answer.
    #[allow(clippy::type_complexity)]
    let (school, satisfaction, before, after, consent): (
        Option<String>,
        Option<i32>,
        Option<f64>,
        Option<f64>,
        Option<bool>,
    ) = app
        .with_db(|c| {
            evaluation_responses::table
                .select((
                    evaluation_responses::school_id,
                    evaluation_responses::satisfaction,
                    evaluation_responses::confidence_before,
                    evaluation_responses::confidence_after,
                    evaluation_responses::consent_follow_up,
                ))
                .first(c)
                .unwrap()
        })
        .await;
    assert_eq!(school.as_deref(), Some(fx.w.school_a.as_str()));
    assert_eq!(
        (satisfaction, before, after, consent),
        (Some(4), Some(2.0), Some(4.0), Some(false))
    );
    let answers_stored: i64 = app
        .with_db(|c| evaluation_answers::table.count().get_result(c).unwrap())
        .await;
    assert_eq!(answers_stored, 7);
    let choices = bk_text(&app, "SELECT choices AS t FROM evaluation_answers WHERE choices IS NOT NULL AND choices LIKE '%send%'").await;
    assert_eq!(choices, r#"["ks2","send"]"#, "in the form's order");
}
crate::each_backend!(
    answers_are_checked_then_saved_once,
    answers_are_checked_then_saved_once
);

async fn ten_answers_at_once_save_one(backend: Backend) {
    let app = spawn_quiet(backend).await;
    let fx = fixture(&app, "Early reading", 1, 1).await;
    all_present(&app, &fx).await;
    let t = invitation_tokens(&app).await[&fx.people[0].id].clone();
    let mut tasks = Vec::new();
    for i in 0..10 {
        let (client, url) = (
            app.client.clone(),
            format!("{}/api/v1/evaluations/{t}", app.address),
        );
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .json(&answers(1 + i % 5, "no"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses.sort();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        9,
        "{statuses:?}"
    );
    let (responses, answered): (i64, i64) = app
        .with_db(|c| {
            (
                evaluation_responses::table.count().get_result(c).unwrap(),
                evaluation_answers::table.count().get_result(c).unwrap(),
            )
        })
        .await;
    assert_eq!((responses, answered), (1, 5));
}
crate::each_backend!(ten_answers_at_once_save_one, ten_answers_at_once_save_one);

async fn expired_and_unknown_links_say_so(backend: Backend) {
    let app = spawn_quiet(backend).await;
    let fx = fixture(&app, "Oracy across the curriculum", 1, 1).await;
    all_present(&app, &fx).await;
    let t = invitation_tokens(&app).await[&fx.people[0].id].clone();
    app.with_db(|c| {
        diesel::update(evaluation_tokens::table)
            .set(
                evaluation_tokens::expires_at
                    .eq(cpd_hub::domain::time::now() - chrono::Duration::minutes(1)),
            )
            .execute(c)
            .unwrap()
    })
    .await;
    let p = expect_problem(
        app.get(&format!("/api/v1/evaluations/{t}"), None).await,
        410,
        None,
    )
    .await;
    assert_eq!(p["code"], "expired");
    assert!(p["detail"].as_str().unwrap().contains("28 days"), "{p}");
    let p = expect_problem(answer(&app, &t, &answers(5, "no")).await, 410, None).await;
    assert_eq!(p["code"], "expired");
    let page = app.get(&format!("/evaluate/{t}"), None).await;
    assert_eq!(page.status().as_u16(), 410);
    let html = page.text().await.unwrap();
    assert!(html.contains("This link has expired"), "{html}");
    assert!(!html.contains("Internal error"));

    expect_problem(
        app.get("/api/v1/evaluations/not-a-token", None).await,
        404,
        None,
    )
    .await;
    expect_problem(
        answer(&app, "not-a-token", &answers(5, "no")).await,
        404,
        None,
    )
    .await;
    let page = app.get("/evaluate/not-a-token", None).await;
    assert_eq!(page.status().as_u16(), 404);
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("We do not recognise this link"));
}
crate::each_backend!(
    expired_and_unknown_links_say_so,
    expired_and_unknown_links_say_so
);

async fn reminders_go_once_to_those_who_have_not_answered(backend: Backend) {
    let app = spawn_quiet(backend).await;
    let fx = fixture(&app, "SEND in the mainstream classroom", 3, 1).await;
    all_present(&app, &fx).await;
    let tokens = invitation_tokens(&app).await;
    let (answered, open, lapsed) = (&fx.people[0].id, &fx.people[1].id, &fx.people[2].id);
    expect_json(
        answer(&app, &tokens[answered], &answers(5, "no")).await,
        201,
    )
    .await;
    // The third person's link has run out.
    let lapsed_token = cpd_hub::auth::tokens::hash(&tokens[lapsed]);
    app.with_db(move |c| {
        diesel::update(evaluation_tokens::table.find(lapsed_token))
            .set(
                evaluation_tokens::expires_at
                    .eq(cpd_hub::domain::time::now() - chrono::Duration::hours(1)),
            )
            .execute(c)
            .unwrap()
    })
    .await;
    let now = cpd_hub::domain::time::now();
    // Not yet: the reminder goes 5 days after the invitation.
    assert_eq!(
        run_jobs(&app, Some(now + chrono::Duration::days(4)))
            .await
            .reminders,
        0
    );
    assert_eq!(
        run_jobs(
            &app,
            Some(now + chrono::Duration::days(5) + chrono::Duration::minutes(1))
        )
        .await
        .reminders,
        1
    );
    assert_eq!(
        run_jobs(&app, Some(now + chrono::Duration::days(6)))
            .await
            .reminders,
        0,
        "once only"
    );
    let reminders = messages(&app, "evaluation_reminder").await;
    assert_eq!(reminders.len(), 1);
    assert_eq!(&reminders[0].0, open);
    // The reminder's link is a new one; the first link still works too.
    let fresh = token_of(reminders[0].2["link"].as_str().unwrap());
    assert_ne!(fresh, tokens[open]);
    let form = app.admin_get(&format!("/api/v1/evaluations/{fresh}")).await;
    assert_eq!(form["course"]["title"], "SEND in the mainstream classroom");
    app.admin_get(&format!("/api/v1/evaluations/{}", tokens[open]))
        .await;
    // Answering with the reminder's link closes the first one.
    expect_json(answer(&app, &fresh, &answers(3, "no")).await, 201).await;
    let p = expect_problem(
        app.get(&format!("/api/v1/evaluations/{}", tokens[open]), None)
            .await,
        409,
        None,
    )
    .await;
    assert_eq!(p["code"], "already_answered");

    // A message about an invitation answered before the worker reached it is skipped.
    let (_, subject, payload) = reminders[0].clone();
    let held = app
        .with_db(move |c| {
            let claimed = cpd_hub::store::outbox::Claimed {
                id: "x".into(),
                kind: "evaluation_reminder".into(),
                recipient_email: "x@school.test".into(),
                subject_id: Some(subject),
                payload: payload.to_string(),
                attempts: 1,
                message_id: "<x@cpd-hub>".into(),
                created_at: cpd_hub::domain::time::now(),
            };
            cpd_hub::store::outbox::still_holds(c, &claimed, cpd_hub::domain::time::now()).unwrap()
        })
        .await;
    assert_eq!(
        held,
        cpd_hub::store::outbox::Holds::No("the evaluation has been answered".into())
    );
}
crate::each_backend!(
    reminders_go_once_to_those_who_have_not_answered,
    reminders_go_once_to_those_who_have_not_answered
);

async fn follow_ups_go_to_those_who_agreed_when_due(backend: Backend) {
    let app = spawn_quiet(backend).await;
    let fx = fixture(&app, "Leading curriculum change", 2, 1).await;
    all_present(&app, &fx).await;
    let tokens = invitation_tokens(&app).await;
    let (yes, no) = (&fx.people[0].id, &fx.people[1].id);
    let r = expect_json(answer(&app, &tokens[yes], &answers(5, "yes")).await, 201).await;
    assert_eq!(r["follow_up_scheduled"], true);
    let r = expect_json(answer(&app, &tokens[no], &answers(4, "no")).await, 201).await;
    assert_eq!(r["follow_up_scheduled"], false);
    let s = expect_json(summary(&app, &fx.course, Some(&app.admin_token)).await, 200).await;
    assert_eq!(
        (
            s["follow_up"]["scheduled"].as_u64(),
            s["follow_up"]["invited"].as_u64()
        ),
        (Some(1), Some(0))
    );

    // Scheduled six weeks after the last session; not sent before.
    let send_at: chrono::NaiveDateTime = app
        .with_db(|c| {
            evaluation_invitations::table
                .filter(evaluation_invitations::kind.eq("follow_up"))
                .select(evaluation_invitations::send_at)
                .first(c)
                .unwrap()
        })
        .await;
    let last_end: chrono::NaiveDateTime = {
        let course = fx.course.clone();
        app.with_db(move |c| {
            courses::table
                .find(course)
                .select(courses::last_session_end.assume_not_null())
                .first(c)
                .unwrap()
        })
        .await
    };
    assert_eq!(send_at, last_end + chrono::Duration::weeks(6));
    assert_eq!(run_jobs(&app, None).await.follow_ups_sent, 0);
    assert!(messages(&app, "evaluation_invitation")
        .await
        .iter()
        .all(|m| m.2["form_kind"] == "post_course"));

    // Time moves on: the follow-up comes due.
    app.with_db(|c| {
        diesel::update(
            evaluation_invitations::table.filter(evaluation_invitations::kind.eq("follow_up")),
        )
        .set(
            evaluation_invitations::send_at
                .eq(cpd_hub::domain::time::now() - chrono::Duration::minutes(1)),
        )
        .execute(c)
        .unwrap()
    })
    .await;
    assert_eq!(run_jobs(&app, None).await.follow_ups_sent, 1);
    assert_eq!(run_jobs(&app, None).await.follow_ups_sent, 0, "once only");
    let follow: Vec<_> = messages(&app, "evaluation_invitation")
        .await
        .into_iter()
        .filter(|m| m.2["form_kind"] == "follow_up")
        .collect();
    assert_eq!(follow.len(), 1);
    assert_eq!(&follow[0].0, yes);
    let t = token_of(follow[0].2["link"].as_str().unwrap());
    let form = app.admin_get(&format!("/api/v1/evaluations/{t}")).await;
    assert_eq!(form["kind"], "follow_up");
    assert_eq!(
        form["form"]["questions"][0]["prompt"],
        "I have used what I learned in my practice"
    );
    let levels: Vec<i64> = form["form"]["questions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["guskey_level"].as_i64().unwrap())
        .collect();
    assert!(levels.iter().all(|l| (3..=5).contains(l)), "{levels:?}");
    let body = json!({"answers": {"used_in_practice": 4, "school_support": 3, "pupil_changes": 4, "evidence": "Book looks show longer writing."}});
    expect_json(answer(&app, &t, &body).await, 201).await;
    let impact: Option<i32> = app
        .with_db(|c| {
            evaluation_responses::table
                .filter(evaluation_responses::kind.eq("follow_up"))
                .select(evaluation_responses::impact)
                .first(c)
                .unwrap()
        })
        .await;
    assert_eq!(impact, Some(4));
}
crate::each_backend!(
    follow_ups_go_to_those_who_agreed_when_due,
    follow_ups_go_to_those_who_agreed_when_due
);

async fn four_answers_are_suppressed_and_five_are_shown(backend: Backend) {
    let app = spawn_quiet(backend).await;
    let fx = fixture(&app, "Adaptive teaching", 6, 1).await;
    all_present(&app, &fx).await;
    let tokens = invitation_tokens(&app).await;
    let group = bk_person(&app, "Gita Group", None, None, &[Role::CpdGroup]).await;
    let ratings = [5, 4, 4, 2, 5];
    for (i, r) in ratings.iter().enumerate().take(4) {
        let mut body = answers(*r, "no");
        if i < 2 {
            body["answers"]["action_plan"] =
                json!(format!("Plan {}", ["zebra crossings", "Apple tasting"][i]));
        }
        expect_json(answer(&app, &tokens[&fx.people[i].id], &body).await, 201).await;
    }
    let s = expect_json(summary(&app, &fx.course, Some(&app.admin_token)).await, 200).await;
    let post = &s["post_course"];
    assert_eq!(
        (post["invited"].as_u64(), post["responded"].as_u64()),
        (Some(6), Some(4))
    );
    assert_eq!(post["suppressed"], true);
    assert_eq!(post["reason"], "fewer than 5 responses");
    assert!(post.get("questions").is_none(), "{post}");
    assert!(
        !s.to_string().contains("Plan "),
        "no free text while suppressed"
    );

    let mut body = answers(ratings[4], "no");
    body["answers"]["target_group"] = json!(["ks1"]);
    expect_json(answer(&app, &tokens[&fx.people[4].id], &body).await, 201).await;
    let s = expect_json(summary(&app, &fx.course, Some(&group.token)).await, 200).await;
    let post = &s["post_course"];
    assert_eq!(post["responded"], 5);
    assert_eq!(post["response_rate"], 0.83);
    assert!(post.get("suppressed").is_none(), "{post}");
    let overall = question(post, "overall");
    assert_eq!(overall["mean"], 4.0);
    assert_eq!(overall["answered"], 5);
    assert_eq!(
        overall["distribution"],
        json!({"1": 0, "2": 1, "3": 0, "4": 2, "5": 2})
    );
    assert_eq!(overall["low_label"], "Poor");
    let conf = question(post, "confidence");
    assert_eq!(
        (
            conf["mean_before"].as_f64(),
            conf["mean_after"].as_f64(),
            conf["shift"].as_f64()
        ),
        (Some(2.0), Some(4.0), Some(2.0))
    );
    let consent = question(post, "consent_follow_up");
    let no = consent["counts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["value"] == "no")
        .unwrap();
    assert_eq!(no["count"], 5);
    // Answered by fewer than five: no figures, whoever asks.
    for key in ["action_plan", "target_group"] {
        let q = question(post, key);
        assert_eq!(q["suppressed"], true, "{q}");
        assert!(q.get("answers").is_none() && q.get("counts").is_none());
    }
    assert_eq!(s["follow_up"]["suppressed"], true);
    // Nothing says who answered.
    for p in &fx.people {
        assert!(!s.to_string().contains(&p.id));
    }
    assert!(!s.to_string().contains("Attendee"));

    // A sixth answer is counted but moves no figure: comparing the summary before and after
    // it must not reveal the sixth person's answers.
    expect_json(
        answer(&app, &tokens[&fx.people[5].id], &answers(1, "yes")).await,
        201,
    )
    .await;
    let after = expect_json(summary(&app, &fx.course, Some(&group.token)).await, 200).await;
    let post_after = &after["post_course"];
    assert_eq!(post_after["responded"], 6);
    let overall = question(post_after, "overall");
    assert_eq!(
        (overall["answered"].as_u64(), overall["counted"].as_u64()),
        (Some(6), Some(5))
    );
    assert_eq!(overall["mean"], 4.0);
    assert_eq!(
        overall["distribution"],
        json!({"1": 0, "2": 1, "3": 0, "4": 2, "5": 2})
    );
    let consent = question(post_after, "consent_follow_up");
    assert_eq!(
        consent["counts"],
        question(post, "consent_follow_up")["counts"]
    );
    assert_eq!(question(post_after, "confidence")["shift"], 2.0);
}
crate::each_backend!(
    four_answers_are_suppressed_and_five_are_shown,
    four_answers_are_suppressed_and_five_are_shown
);

async fn free_text_is_for_the_cpd_group_and_admins_only(backend: Backend) {
    let app = spawn_quiet(backend).await;
    let fx = fixture(&app, "Writing in key stage 2", 5, 1).await;
    all_present(&app, &fx).await;
    let tokens = invitation_tokens(&app).await;
    let plans = [
        "Modelled writing",
        "conferencing",
        "Shared planning",
        "Editing stations",
        "Anchor charts",
    ];
    for (i, p) in fx.people.iter().enumerate() {
        let mut body = answers(4, "no");
        body["answers"]["action_plan"] = json!(plans[i]);
        expect_json(answer(&app, &tokens[&p.id], &body).await, 201).await;
    }
    let group = bk_person(&app, "Gita Group", None, None, &[Role::CpdGroup]).await;
    for token in [&app.admin_token, &group.token] {
        let s = expect_json(summary(&app, &fx.course, Some(token)).await, 200).await;
        let q = question(&s["post_course"], "action_plan");
        // Sorted, so the order says nothing about who wrote what or when.
        assert_eq!(
            q["answers"],
            json!([
                "Anchor charts",
                "conferencing",
                "Editing stations",
                "Modelled writing",
                "Shared planning"
            ])
        );
    }
    let s = expect_json(summary(&app, &fx.course, Some(&fx.lead.token)).await, 200).await;
    let q = question(&s["post_course"], "action_plan");
    assert_eq!(q["answered"], 5);
    assert!(q.get("answers").is_none(), "{q}");
    assert!(!s.to_string().contains("Anchor charts"));
    assert_eq!(question(&s["post_course"], "overall")["mean"], 4.0);
}
crate::each_backend!(
    free_text_is_for_the_cpd_group_and_admins_only,
    free_text_is_for_the_cpd_group_and_admins_only
);

async fn the_summary_is_for_leads_the_cpd_group_and_admins(backend: Backend) {
    let app = spawn_quiet(backend).await;
    let fx = fixture(&app, "Attendance matters", 1, 1).await;
    let other_lead = bk_person(&app, "Other Lead", None, None, &[Role::CourseLead]).await;
    let school_lead = fx.w.lead_a.clone();
    let staff = &fx.people[0];
    let group = bk_person(&app, "Gita Group", None, None, &[Role::CpdGroup]).await;
    expect_problem(summary(&app, &fx.course, None).await, 401, None).await;
    for who in [staff, &other_lead, &school_lead] {
        expect_problem(summary(&app, &fx.course, who.t()).await, 404, None).await;
    }
    for token in [&fx.lead.token, &group.token, &app.admin_token] {
        let s = expect_json(summary(&app, &fx.course, Some(token)).await, 200).await;
        assert_eq!(s["course"]["title"], "Attendance matters");
        assert_eq!(s["min_responses"], 5);
    }
    expect_problem(
        summary(&app, "no-such-course", Some(&app.admin_token)).await,
        404,
        None,
    )
    .await;

    // Forms are for admins.
    for (path, method) in [("/api/v1/evaluation-forms", reqwest::Method::GET)] {
        expect_problem(
            app.request(method.clone(), path, None, None).await,
            401,
            None,
        )
        .await;
        for who in [staff, &fx.lead, &group, &school_lead] {
            expect_problem(
                app.request(method.clone(), path, who.t(), None).await,
                403,
                None,
            )
            .await;
        }
    }
    let forms = app.admin_get("/api/v1/evaluation-forms").await;
    let form_id = forms["items"][0]["id"].as_str().unwrap().to_string();
    let body = json!({"kind": "post_course", "name": "X", "questions": [{"key": "a", "kind": "free_text", "prompt": "A?", "guskey_level": 1}]});
    for who in [staff, &fx.lead, &group] {
        expect_problem(
            app.get(&format!("/api/v1/evaluation-forms/{form_id}"), who.t())
                .await,
            403,
            None,
        )
        .await;
        expect_problem(
            app.post("/api/v1/evaluation-forms", who.t(), &body).await,
            403,
            None,
        )
        .await;
        expect_problem(
            app.request(
                reqwest::Method::PUT,
                &format!("/api/v1/evaluation-forms/{form_id}"),
                who.t(),
                Some(&body),
            )
            .await,
            403,
            None,
        )
        .await;
        expect_problem(
            app.request(
                reqwest::Method::PUT,
                &format!("/api/v1/courses/{}/evaluation-forms", fx.course),
                who.t(),
                Some(&json!({})),
            )
            .await,
            403,
            None,
        )
        .await;
    }
    expect_problem(
        app.post("/api/v1/evaluation-forms", None, &body).await,
        401,
        None,
    )
    .await;
}
crate::each_backend!(
    the_summary_is_for_leads_the_cpd_group_and_admins,
    the_summary_is_for_leads_the_cpd_group_and_admins
);

async fn the_default_forms_are_seeded_once(backend: Backend) {
    let app = spawn_quiet(backend).await;
    let url = app.db.url().to_string();
    tokio::task::spawn_blocking(move || {
        let mut conn = cpd_hub::db::Manager::new(&url).unwrap().open().unwrap();
        cpd_hub::store::prepare(&mut conn).unwrap();
        cpd_hub::store::prepare(&mut conn).unwrap();
    })
    .await
    .unwrap();
    let forms = app.admin_get("/api/v1/evaluation-forms").await;
    assert_eq!(forms["total"], 2, "{forms}");
    let post = &forms["items"][1];
    let follow = &forms["items"][0];
    assert_eq!(
        (follow["kind"].as_str(), post["kind"].as_str()),
        (Some("follow_up"), Some("post_course"))
    );
    assert!(post["is_default"] == true && follow["is_default"] == true);
    assert_eq!(post["questions"].as_array().unwrap().len(), 7);
    let consent = &post["questions"][6];
    assert_eq!(consent["metric"], "consent");
    assert_eq!(consent["kind"], "single_choice");
    assert_eq!(consent["options"].as_array().unwrap().len(), 2);
    assert_eq!(follow["questions"][0]["metric"], "impact");
    let total: i64 = app
        .with_db(|c| evaluation_forms::table.count().get_result(c).unwrap())
        .await;
    assert_eq!(total, 2);
}
crate::each_backend!(
    the_default_forms_are_seeded_once,
    the_default_forms_are_seeded_once
);

fn custom_form(prompt: &str) -> Value {
    json!({
        "kind": "post_course",
        "name": "Short reaction form",
        "description": "Two questions for twilight sessions.",
        "questions": [
            {"key": "overall", "kind": "rating", "prompt": prompt, "required": true,
             "guskey_level": 1, "low_label": "Poor", "high_label": "Excellent", "metric": "satisfaction"},
            {"key": "takeaway", "kind": "free_text", "prompt": "One thing you will try", "guskey_level": 2}
        ]
    })
}

async fn editing_a_form_in_use_makes_a_new_version(backend: Backend) {
    let app = spawn_quiet(backend).await;
    let fx = fixture(&app, "Twilight: questioning", 1, 1).await;
    let admin = Some(app.admin_token.as_str());
    // Refused definitions name their fields.
    let mut bad = custom_form("Overall?");
    bad["questions"][0]["kind"] = json!("stars");
    expect_problem(
        app.post("/api/v1/evaluation-forms", admin, &bad).await,
        422,
        Some("questions[0].kind"),
    )
    .await;
    let mut bad = custom_form("Overall?");
    bad["questions"][1]["key"] = json!("overall");
    bad["questions"][0]["guskey_level"] = json!(7);
    let p = expect_problem(
        app.post("/api/v1/evaluation-forms", admin, &bad).await,
        422,
        Some("questions[1].key"),
    )
    .await;
    assert!(p["errors"]["questions[0].guskey_level"].is_array());

    let created = expect_json(
        app.post(
            "/api/v1/evaluation-forms",
            admin,
            &custom_form("How was it?"),
        )
        .await,
        201,
    )
    .await;
    let (v1, family) = (
        created["id"].as_str().unwrap().to_string(),
        created["family_id"].as_str().unwrap().to_string(),
    );
    assert_eq!(
        (created["version"].as_i64(), created["in_use"].as_bool()),
        (Some(1), Some(false))
    );
    // Not in use: changed in place.
    let edited = expect_json(
        app.request(
            reqwest::Method::PUT,
            &format!("/api/v1/evaluation-forms/{v1}"),
            admin,
            Some(&custom_form("How was the session?")),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        (edited["id"].as_str(), edited["version"].as_i64()),
        (Some(v1.as_str()), Some(1))
    );
    // The course chooses it.
    let chosen = expect_json(
        app.request(
            reqwest::Method::PUT,
            &format!("/api/v1/courses/{}/evaluation-forms", fx.course),
            admin,
            Some(&json!({"post_course": family})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(chosen["post_course"]["form_id"], v1.as_str());
    assert_eq!(chosen["post_course"]["chosen"], true);
    assert_eq!(chosen["follow_up"]["chosen"], false);
    let p = expect_problem(
        app.request(
            reqwest::Method::PUT,
            &format!("/api/v1/courses/{}/evaluation-forms", fx.course),
            admin,
            Some(&json!({"follow_up": family})),
        )
        .await,
        422,
        Some("follow_up"),
    )
    .await;
    assert!(p["errors"]["follow_up"][0]
        .as_str()
        .unwrap()
        .contains("post_course"));

    all_present(&app, &fx).await;
    let t = invitation_tokens(&app).await[&fx.people[0].id].clone();
    // In use now: an edit makes version 2; the invitation keeps version 1.
    let r = app
        .request(
            reqwest::Method::PUT,
            &format!("/api/v1/evaluation-forms/{v1}"),
            admin,
            Some(&custom_form("Overall, how useful was the session?")),
        )
        .await;
    let v2 = expect_json(r, 201).await;
    assert_eq!(
        (v2["version"].as_i64(), v2["family_id"].as_str()),
        (Some(2), Some(family.as_str()))
    );
    assert_ne!(v2["id"], v1.as_str());
    let old = app
        .admin_get(&format!("/api/v1/evaluation-forms/{v1}"))
        .await;
    assert_eq!(
        (old["current"].as_bool(), old["in_use"].as_bool()),
        (Some(false), Some(true))
    );
    assert_eq!(old["questions"][0]["prompt"], "How was the session?");
    let list = app
        .admin_get("/api/v1/evaluation-forms?kind=post_course")
        .await;
    let mine: Vec<&Value> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["family_id"] == family.as_str())
        .collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["version"], 2);
    let history = app
        .admin_get(&format!("/api/v1/evaluation-forms?family={family}"))
        .await;
    let versions: Vec<i64> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [2, 1]);
    let p = expect_problem(
        app.request(
            reqwest::Method::PUT,
            &format!("/api/v1/evaluation-forms/{v1}"),
            admin,
            Some(&custom_form("Again")),
        )
        .await,
        409,
        None,
    )
    .await;
    assert_eq!(p["code"], "not_current_version");

    let form = app.admin_get(&format!("/api/v1/evaluations/{t}")).await;
    assert_eq!(form["form"]["id"], v1.as_str());
    assert_eq!(
        form["form"]["questions"][0]["prompt"],
        "How was the session?"
    );
    expect_json(
        answer(
            &app,
            &t,
            &json!({"answers": {"overall": 5, "takeaway": "Wait time"}}),
        )
        .await,
        201,
    )
    .await;
    let answered_form: String = app
        .with_db(|c| {
            evaluation_responses::table
                .select(evaluation_responses::form_id)
                .first(c)
                .unwrap()
        })
        .await;
    assert_eq!(answered_form, v1);
}
crate::each_backend!(
    editing_a_form_in_use_makes_a_new_version,
    editing_a_form_in_use_makes_a_new_version
);

async fn erasure_clears_free_text_and_the_export_lists_own_answers(backend: Backend) {
    let app = spawn_quiet(backend).await;
    let fx = fixture(&app, "Wellbeing for staff", 2, 1).await;
    all_present(&app, &fx).await;
    let tokens = invitation_tokens(&app).await;
    let (me, other) = (&fx.people[0], &fx.people[1]);
    let mut body = answers(5, "no");
    body["answers"]["action_plan"] = json!("Protect planning time");
    expect_json(answer(&app, &tokens[&me.id], &body).await, 201).await;
    let mut body = answers(2, "no");
    body["answers"]["action_plan"] = json!("Someone else's words");
    expect_json(answer(&app, &tokens[&other.id], &body).await, 201).await;

    let export = expect_json(
        app.get(&format!("/api/v1/people/{}/export", me.id), me.t())
            .await,
        200,
    )
    .await;
    let evals = export["evaluations"].as_array().unwrap();
    assert_eq!(evals.len(), 1);
    assert_eq!(evals[0]["course_title"], "Wellbeing for staff");
    assert!(evals[0]["answered_at"].is_string());
    let text = export["evaluations"].to_string();
    assert!(text.contains("Protect planning time"));
    assert!(!text.contains("Someone else's words"));

    let r = app
        .delete(&format!("/api/v1/people/{}", me.id), Some(&app.admin_token))
        .await;
    assert!(r.status().is_success(), "{}", r.status());
    let texts: Vec<Option<String>> = app
        .with_db(|c| {
            evaluation_answers::table
                .filter(evaluation_answers::text.is_not_null())
                .select(evaluation_answers::text)
                .load(c)
                .unwrap()
        })
        .await;
    assert_eq!(texts, vec![Some("Someone else's words".to_string())]);
    let (answers_kept, satisfied): (i64, i64) = app
        .with_db(|c| {
            (
                evaluation_answers::table.count().get_result(c).unwrap(),
                evaluation_responses::table
                    .filter(evaluation_responses::satisfaction.eq(5))
                    .count()
                    .get_result(c)
                    .unwrap(),
            )
        })
        .await;
    assert_eq!(
        answers_kept, 12,
        "every answer row stays, only the text is cleared"
    );
    assert_eq!(
        satisfied, 1,
        "the erased person's rating stays for the reports"
    );
    // Their link no longer opens anything.
    expect_problem(
        app.get(&format!("/api/v1/evaluations/{}", tokens[&me.id]), None)
            .await,
        404,
        None,
    )
    .await;
}
crate::each_backend!(
    erasure_clears_free_text_and_the_export_lists_own_answers,
    erasure_clears_free_text_and_the_export_lists_own_answers
);

/// The invitation email through a real SMTP server: what arrives, and that the outbox keeps
/// no usable link once it is sent.
async fn the_invitation_email_arrives_with_a_working_link(backend: Backend) {
    let sink = crate::smtp_sink::SmtpSink::start().await;
    let app = crate::email::spawn_with_sink(backend, &sink, |_| {}).await;
    let fx = fixture(&app, "Retrieval practice", 1, 1).await;
    let email = bk_text(
        &app,
        &format!(
            "SELECT email AS t FROM people WHERE id = '{}'",
            fx.people[0].id
        ),
    )
    .await;
    all_present(&app, &fx).await;
    // The register's save wakes the evaluation job, which queues the email; the worker sends it.
    let start = std::time::Instant::now();
    let mail = loop {
        let got: Vec<_> = sink
            .messages()
            .into_iter()
            .filter(|m| m.rcpt_to == vec![email.clone()])
            .collect();
        let evals: Vec<_> = got
            .into_iter()
            .filter(|m| {
                crate::email::parse(m)
                    .subject()
                    .is_some_and(|s| s.starts_with("How was Retrieval practice?"))
            })
            .collect();
        if let Some(m) = evals.into_iter().next() {
            break m;
        }
        assert!(
            start.elapsed() < crate::email::WAIT,
            "no invitation email arrived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let parsed = crate::email::parse(&mail);
    let text = parsed.body_text(0).unwrap().to_string();
    assert!(text.starts_with("Dear Attendee 0,"), "{text}");
    assert!(text.contains("five or more people"));
    let link = text
        .split_whitespace()
        .find(|w| w.starts_with("https://cpd.alliance.test/evaluate/"))
        .expect("a link in the text")
        .to_string();
    let token = token_of(&link);
    let form = expect_json(
        app.get(&format!("/api/v1/evaluations/{token}"), None).await,
        200,
    )
    .await;
    assert_eq!(form["course"]["title"], "Retrieval practice");
    // Once sent, the outbox no longer holds the link.
    let start = std::time::Instant::now();
    loop {
        let stored: Vec<(String, String)> = app
            .with_db(|c| {
                outbox::table
                    .filter(outbox::kind.eq("evaluation_invitation"))
                    .select((outbox::status, outbox::payload))
                    .load(c)
                    .unwrap()
            })
            .await;
        if stored.iter().all(|(s, _)| s == "sent") {
            assert!(
                stored
                    .iter()
                    .all(|(_, p)| !p.contains(&token) && !p.contains("/evaluate/")),
                "{stored:?}"
            );
            break;
        }
        assert!(start.elapsed() < crate::email::WAIT);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
crate::each_backend!(
    the_invitation_email_arrives_with_a_working_link,
    the_invitation_email_arrives_with_a_working_link
);

async fn the_demo_has_evaluations_some_suppressed(backend: Backend) {
    let app = spawn_quiet(backend).await;
    let summary1 = app
        .with_db(|c| cpd_hub::commands::seed::run(c).unwrap())
        .await;
    let (responses, courses_evaluated) = summary1.evaluations;
    assert!(courses_evaluated >= 3, "{summary1:?}");
    assert!(responses >= 30, "{summary1:?}");
    let past: Vec<String> = app
        .with_db(|c| {
            courses::table
                .filter(courses::last_register_recorded_at.is_not_null())
                .select(courses::id)
                .load(c)
                .unwrap()
        })
        .await;
    assert_eq!(past.len(), courses_evaluated);
    let (mut shown, mut suppressed) = (0, 0);
    for id in &past {
        let s = expect_json(summary(&app, id, Some(&app.admin_token)).await, 200).await;
        let post = &s["post_course"];
        assert!(post["invited"].as_u64().unwrap() >= post["responded"].as_u64().unwrap());
        if post["suppressed"] == true {
            assert!(post["responded"].as_u64().unwrap() < 5);
            suppressed += 1;
        } else {
            let overall = question(post, "overall");
            let total: u64 = overall["distribution"]
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_u64().unwrap())
                .sum();
            // The figures use the earliest answers in whole steps of five.
            let answered = overall["answered"].as_u64().unwrap();
            assert_eq!(total, answered / 5 * 5);
            assert_eq!(overall["counted"].as_u64().unwrap(), total);
            let mean = overall["mean"].as_f64().unwrap();
            assert!((3.0..=5.0).contains(&mean), "a believable mean: {mean}");
            assert!(question(post, "confidence")["shift"].as_f64().unwrap() > 0.0);
            shown += 1;
        }
    }
    assert!(
        shown >= 2 && suppressed >= 1,
        "{shown} shown, {suppressed} suppressed"
    );
    // Again: nothing more.
    let summary2 = app
        .with_db(|c| cpd_hub::commands::seed::run(c).unwrap())
        .await;
    assert_eq!(summary2.evaluations, (0, 0));
    // The job finds nothing to send for the demo's history.
    let report = run_jobs(&app, None).await;
    assert_eq!(
        (report.created, report.invitations_sent, report.reminders),
        (0, 0, 0)
    );
}
crate::each_backend!(
    the_demo_has_evaluations_some_suppressed,
    the_demo_has_evaluations_some_suppressed
);
