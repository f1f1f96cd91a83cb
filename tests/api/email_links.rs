//! Every link in every email opens a page. Each kind of email in `email-templates/` is made
//! with real data the way the service makes it (a booking, a decision, a change, a job's run,
//! a sign-in request, the termly digest), goes through the outbox to the SMTP sink, and every
//! link to cpd-hub in its text and HTML parts is opened in Chromium, signed in as the person
//! it was sent to: each answers an HTML page in the layout (no 404, no JSON), which axe-core
//! finds no fault with. Signed out, each answers a page or sends the reader to sign in and
//! back.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use cpd_hub::domain::roles::Role;
use reqwest::Method;
use serde_json::json;

use crate::booking_support::{
    bk_book_ok, bk_course, bk_course_get, bk_person, bk_text, session_in,
};
use crate::browser::{web_session_cookie, Browser};
use crate::email::{parse, spawn_with_sink};
use crate::evaluation::{all_present, fixture, run_jobs};
use crate::helpers::{as_browser, expect_json, location, Backend, TestApp};
use crate::smtp_sink::{Received, SmtpSink};

/// Every kind of email the service sends: a folder of `email-templates/`.
fn kinds() -> BTreeSet<String> {
    std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/email-templates"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// The links to cpd-hub in a message's text and HTML parts.
fn links(m: &Received, base: &str) -> BTreeSet<String> {
    let mail = parse(m);
    let mut found = BTreeSet::new();
    let text = mail.body_text(0).map(|t| t.to_string()).unwrap_or_default();
    let html = mail.body_html(0).map(|t| t.to_string()).unwrap_or_default();
    for word in text.split_whitespace() {
        let word = word.trim_matches(|c: char| "<>()[],.;\"'".contains(c));
        if word.starts_with(base) {
            found.insert(word.to_string());
        }
    }
    for part in html.split("href=\"").skip(1) {
        let href = part[..part.find('"').unwrap()].replace("&amp;", "&");
        if href.starts_with(base) {
            found.insert(href);
        }
    }
    found
}

/// Waits until the outbox has sent everything queued, so that each message goes out before a
/// later step makes it moot (an approval request is not sent once it has been decided).
async fn settle(app: &TestApp) {
    let start = std::time::Instant::now();
    loop {
        let (waiting, _) = app
            .with_db(|c| cpd_hub::store::outbox::backlog(c).unwrap())
            .await;
        if waiting == 0 {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{waiting} messages still waiting"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The outbox's messages that were sent (not skipped as moot): (kind, recipient).
async fn sent_rows(app: &TestApp) -> Vec<String> {
    app.with_db(|c| {
        use cpd_hub::db::schema::outbox;
        use diesel::prelude::*;
        outbox::table
            .filter(outbox::status.eq("sent"))
            .select(outbox::kind)
            .load::<String>(c)
            .unwrap()
    })
    .await
}

crate::each_backend!(every_link_in_every_email_opens_a_page, every_email_link);

async fn every_email_link(backend: Backend) {
    let Some(browser) = Browser::start_sized(320, 900).await else {
        return;
    };
    let sink = SmtpSink::start().await;
    let app = spawn_with_sink(backend, &sink, |s| {
        s.public_base_url = format!("http://{}", s.bind);
    })
    .await;
    let base = app.settings.public_base_url.clone();

    // Evaluations: a course held and its register taken: the invitation, then the reminder.
    let fx = fixture(&app, "Questioning and feedback", 1, 1).await;
    all_present(&app, &fx).await;
    run_jobs(&app, None).await;
    let now = cpd_hub::domain::time::now();
    run_jobs(
        &app,
        Some(now + chrono::Duration::days(5) + chrono::Duration::minutes(1)),
    )
    .await;
    let w = &fx.w;
    settle(&app).await;

    // Approval: a request (to the school lead), one approved, one declined.
    let approval = bk_course(&app, w, "Leading SEND provision", 10, |b| {
        b["requires_approval"] = json!(true);
    })
    .await;
    let ann = bk_person(&app, "Ann Asker", Some(&w.school_a), None, &[]).await;
    let ben = bk_person(&app, "Ben Asker", Some(&w.school_a), None, &[]).await;
    let ann_b = bk_book_ok(&app, &approval, &ann).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ben_b = bk_book_ok(&app, &approval, &ben).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    settle(&app).await;
    let lead = w.lead_a.t();
    expect_json(
        app.post(
            &format!("/api/v1/bookings/{ann_b}/approve"),
            lead,
            &json!({}),
        )
        .await,
        200,
    )
    .await;
    expect_json(
        app.post(
            &format!("/api/v1/bookings/{ben_b}/decline"),
            lead,
            &json!({"reason": "Not this term."}),
        )
        .await,
        200,
    )
    .await;

    // A full course: confirmed, waitlisted, cancelled, promoted; then moved, reminded.
    let small = bk_course(&app, w, "Questioning in maths", 1, |_| {}).await;
    let cat = bk_person(&app, "Cat Place", Some(&w.school_b), None, &[]).await;
    let dan = bk_person(&app, "Dan Wait", Some(&w.school_b), None, &[]).await;
    let cat_b = bk_book_ok(&app, &small, &cat).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    bk_book_ok(&app, &small, &dan).await;
    settle(&app).await;
    expect_json(
        app.post(
            &format!("/api/v1/bookings/{cat_b}/cancel"),
            cat.t(),
            &json!({}),
        )
        .await,
        200,
    )
    .await;
    settle(&app).await;
    let session = bk_course_get(&app, &small).await["sessions"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let moved = session_in(31);
    let admin = Some(app.admin_token.as_str());
    expect_json(
        app.patch(
            &format!("/api/v1/sessions/{session}"),
            admin,
            &json!({"start": moved["start"], "end": moved["end"]}),
        )
        .await,
        200,
    )
    .await;
    let reminder_base = base.clone();
    let day_before = now + chrono::Duration::days(30);
    app.with_db(move |c| {
        let due = cpd_hub::store::outbox::due_reminders(c, day_before, 2, &reminder_base).unwrap();
        cpd_hub::store::outbox::enqueue_reminders(c, &due).unwrap()
    })
    .await;

    // The approved course is cancelled: Ann is told.
    expect_json(
        app.post(
            &format!("/api/v1/courses/{approval}/cancel"),
            admin,
            &json!({"reason": "Trainer ill"}),
        )
        .await,
        200,
    )
    .await;

    // A sign-in link, asked for on the home page.
    let ann_email = bk_text(
        &app,
        &format!("SELECT email AS t FROM people WHERE id = '{}'", ann.id),
    )
    .await;
    let r = as_browser(&app, Method::POST, "/auth/sign-in", None)
        .form(&[("email", ann_email.as_str())])
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_success() || r.status().is_redirection(),
        "{}",
        r.status()
    );

    // The termly digest, to the CPD group.
    bk_person(&app, "Grace Group", None, None, &[Role::CpdGroup]).await;
    let out = crate::digest::cli(&app, &["digest", "--term"], &[]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Every kind was made and sent.
    settle(&app).await;
    let sent = sent_rows(&app).await;
    let sent_kinds: BTreeSet<String> = sent.iter().cloned().collect();
    assert_eq!(sent_kinds, kinds(), "every kind of email is sent");
    let got = sink.wait_for(sent.len(), Duration::from_secs(30)).await;

    // Each link, opened as its recipient.
    let mut by_recipient: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut kinds_with_links = BTreeSet::new();
    for m in &got {
        let found = links(m, &base);
        let subject = parse(m).subject().unwrap_or_default().to_string();
        if !found.is_empty() {
            kinds_with_links.insert(subject);
        }
        by_recipient
            .entry(m.rcpt_to[0].clone())
            .or_default()
            .extend(found);
    }
    assert!(kinds_with_links.len() >= 10, "{kinds_with_links:?}");
    let mut opened = 0;
    for (email, urls) in &by_recipient {
        let person = bk_text(
            &app,
            &format!("SELECT id AS t FROM people WHERE email = '{email}'"),
        )
        .await;
        let cookie = web_session_cookie(&app, &person).await;
        browser.delete_cookies().await;
        browser.goto(&format!("{base}/static/app.css")).await;
        browser.set_cookie("cpd_session", &cookie).await;
        for url in urls {
            let path = &url[base.len()..];
            // Signed in: a page. Signed out: a page, or sign-in that comes back here.
            let r = as_browser(&app, Method::GET, path, Some(&cookie))
                .header("accept", "text/html")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{url} for {email}");
            assert!(
                r.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("text/html"),
                "{url}"
            );
            let anon = as_browser(&app, Method::GET, path, None)
                .header("accept", "text/html")
                .send()
                .await
                .unwrap();
            let ok = anon.status() == 200
                || (anon.status() == 303 && location(&anon).starts_with("/?next="));
            assert!(
                ok,
                "{url} signed out: {} {}",
                anon.status(),
                location(&anon)
            );
            browser.goto(url).await;
            let title = browser.title().await;
            assert!(title.ends_with("– cpd-hub"), "{url}: {title}");
            assert!(!title.contains("not found"), "{url}: {title}");
            let violations = browser.axe(url).await;
            assert!(violations.is_empty(), "{url}: {violations:#?}");
            opened += 1;
        }
    }
    assert!(opened >= 12, "opened {opened} links");
}
