//! Sign-in by email from end to end: the link is asked for over HTTP, delivered by the worker
//! to a real SMTP server (the sink in `smtp_sink.rs`), read from the message that arrived, and
//! used as a browser would. And the outbox keeps no usable link once a sign-in email is settled.

use std::time::Duration;

use cpd_hub::db::schema::{magic_links, outbox};
use cpd_hub::db::DbConn;
use cpd_hub::store::outbox::{self as store, Claimed, StoredMessage};
use diesel::prelude::*;
use serde_json::{json, Value};

use crate::email::{parse, spawn_with_sink, wait_status, WAIT};
use crate::helpers::{expect_json, expect_problem, spawn_app_with, Backend, TestApp};
use crate::smtp_sink::SmtpSink;

/// The outbox rows of sign-in emails: (id, recipient, status, payload), oldest first.
async fn sign_in_rows(app: &TestApp) -> Vec<(String, String, String, Value)> {
    let rows: Vec<(String, String, String, String)> = app
        .with_db(|c| {
            outbox::table
                .filter(outbox::kind.eq("sign_in_link"))
                .order((outbox::created_at.asc(), outbox::id.asc()))
                .select((
                    outbox::id,
                    outbox::recipient_email,
                    outbox::status,
                    outbox::payload,
                ))
                .load(c)
                .unwrap()
        })
        .await;
    rows.into_iter()
        .map(|(id, to, status, p)| (id, to, status, serde_json::from_str(&p).unwrap()))
        .collect()
}

/// Waits until no message is pending or being sent.
async fn wait_until_idle(app: &TestApp) {
    let start = std::time::Instant::now();
    loop {
        let (waiting, _) = app.with_db(|c| store::backlog(c).unwrap()).await;
        if waiting == 0 {
            return;
        }
        assert!(
            start.elapsed() < WAIT,
            "{waiting} messages still waiting to be sent"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// What a sign-in page's markup makes of a link: `& < > " '` escaped, `/` left alone.
fn html_escaped(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
}

async fn sign_in_through_a_real_mail_server(backend: Backend) {
    let sink = SmtpSink::start().await;
    // Links point at this service (its bound port), so the test can follow them.
    let app = spawn_with_sink(backend, &sink, |s| {
        s.public_base_url = format!("http://{}", s.bind)
    })
    .await;
    assert_eq!(app.settings.public_base_url, app.address);
    let jo = app.create_person("jo.oneill@school.test", "Jo O'Neill", None, &[]);

    // Asking for a link (the address as the person typed it) ...
    let r = app
        .post(
            "/api/v1/auth/magic-link",
            None,
            &json!({"email": " Jo.ONeill@School.test "}),
        )
        .await;
    let accepted = expect_json(r, 202).await;

    // ... sends exactly one email, to the address on record.
    let got = sink.wait_for(1, WAIT).await;
    let m = &got[0];
    assert_eq!(m.rcpt_to, vec!["jo.oneill@school.test".to_string()]);
    let mail = parse(m);
    assert_eq!(mail.subject(), Some("Your sign-in link for CPD bookings"));
    assert_eq!(mail.text_body_count(), 1);
    assert_eq!(mail.html_body_count(), 1);
    assert_eq!(mail.attachment_count(), 0);
    let text = mail
        .text_part(0)
        .unwrap()
        .text_contents()
        .unwrap()
        .to_string();
    assert!(text.starts_with("Dear Jo O'Neill,"), "{text}");
    assert!(
        text.contains("The link works once and expires at "),
        "{text}"
    );
    let prefix = format!("{}/auth/magic?token=", app.address);
    let links: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with(&prefix))
        .collect();
    assert_eq!(links.len(), 1, "one link in the text: {text}");
    let link = links[0].to_string();
    let token = link[prefix.len()..].to_string();
    assert!(
        token.len() >= 32 && token.chars().all(|c| c.is_ascii_hexdigit()),
        "{token}"
    );

    // The HTML part carries the same link, as the button and as text to copy, escaped the way
    // HTML needs and no further (so the source stays readable), and the name escaped.
    let html = mail
        .html_part(0)
        .unwrap()
        .text_contents()
        .unwrap()
        .to_string();
    let escaped = html_escaped(&link);
    assert!(
        html.contains(&format!("<a href=\"{escaped}\"")),
        "the button: {html}"
    );
    assert!(
        html.contains(&format!(
            "copy this address into your browser: {escaped}</p>"
        )),
        "{html}"
    );
    assert_eq!(
        html.matches("/auth/magic?token=").count(),
        2,
        "no other link: {html}"
    );
    assert!(!html.contains("&#x2f;"), "slashes are not escaped: {html}");
    assert!(html.contains("Dear Jo O&#x27;Neill,"), "{html}");
    assert!(!html.contains("O'Neill"), "{html}");

    // Once sent, the outbox keeps the email's other details but not the link.
    let rows = sign_in_rows(&app).await;
    assert_eq!(rows.len(), 1);
    let (message, _, _, _) = &rows[0];
    wait_status(&app, message, "sent").await;
    let (_, to, status, payload) = sign_in_rows(&app).await.remove(0);
    assert_eq!(
        (to.as_str(), status.as_str()),
        ("jo.oneill@school.test", "sent")
    );
    assert!(payload.get("link").is_none(), "{payload}");
    assert_eq!(payload["person_name"], "Jo O'Neill");
    assert!(payload["expires_at"].is_string());
    assert!(!payload.to_string().contains(&token));

    // Opening the link shows the confirm page and spends nothing (mail scanners open links).
    let r = app.client.get(&link).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(
        page.contains(&format!(r#"name="token" value="{token}""#)),
        "{page}"
    );
    let used: Vec<Option<chrono::NaiveDateTime>> = app
        .with_db(|c| {
            magic_links::table
                .select(magic_links::used_at)
                .load(c)
                .unwrap()
        })
        .await;
    assert_eq!(used, vec![None]);

    // The page's button posts the token from cpd-hub's own origin, which signs in.
    let r = app
        .client
        .post(format!("{}/auth/magic", app.address))
        .header("origin", &app.address)
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("cpd_session="))
        .map(|v| v.split(';').next().unwrap().to_string())
        .expect("a session cookie");

    // The cookie now says who is signed in.
    let r = app
        .client
        .get(format!("{}/api/v1/me", app.address))
        .header("cookie", format!("cpd_session={cookie}"))
        .send()
        .await
        .unwrap();
    let me = expect_json(r, 200).await;
    assert_eq!(me["person"]["id"], jo);
    assert_eq!(me["person"]["email"], "jo.oneill@school.test");
    assert_eq!(me["person"]["name"], "Jo O'Neill");
    assert_eq!(me["roles"], json!(["staff"]));
    expect_problem(app.get("/api/v1/me", None).await, 401, None).await;
    // The link worked once.
    let r = app.client.get(&link).send().await.unwrap();
    assert_eq!(r.status(), 410);

    // An address not on record gets the same answer, and no email.
    let r = app
        .post(
            "/api/v1/auth/magic-link",
            None,
            &json!({"email": "nobody@school.test"}),
        )
        .await;
    assert_eq!(expect_json(r, 202).await, accepted);
    wait_until_idle(&app).await;
    assert_eq!(sign_in_rows(&app).await.len(), 1, "nothing was queued");
    // A later request for a known address arrives alone: nothing was queued ahead of it.
    let r = app
        .post(
            "/api/v1/auth/magic-link",
            None,
            &json!({"email": "jo.oneill@school.test"}),
        )
        .await;
    assert_eq!(r.status(), 202);
    sink.wait_for(2, WAIT).await;
    wait_until_idle(&app).await;
    let got = sink
        .expect_no_more_than(2, Duration::from_millis(300))
        .await;
    let to: Vec<_> = got.iter().map(|m| m.rcpt_to.clone()).collect();
    assert_eq!(
        to,
        vec![vec!["jo.oneill@school.test".to_string()]; 2],
        "only the known address got email"
    );
}

crate::each_backend!(
    a_person_signs_in_from_the_email_they_receive,
    sign_in_through_a_real_mail_server
);

/// Queues a message and claims it for `token`, as the worker does.
fn queue_and_claim(c: &mut DbConn, kind: &str, payload: Value, token: &str) -> Claimed {
    let id = cpd_hub::db::write_tx(c, |c| {
        store::enqueue_stored(
            c,
            StoredMessage {
                kind,
                recipient_email: "jo@school.test",
                recipient_person_id: None,
                subject_id: None,
                payload,
            },
        )
    })
    .unwrap();
    let now = cpd_hub::domain::time::now();
    let claimed = store::claim(c, now, now + chrono::Duration::minutes(5), token, 100).unwrap();
    claimed
        .into_iter()
        .find(|m| m.id == id)
        .expect("the message is claimed")
}

fn stored_payload(c: &mut DbConn, id: &str) -> Value {
    let p: String = outbox::table
        .find(id)
        .select(outbox::payload)
        .first(c)
        .unwrap();
    serde_json::from_str(&p).unwrap()
}

fn sign_in_payload() -> Value {
    json!({
        "person_name": "Jo Smith",
        "link": "https://cpd.example.org/auth/magic?token=0123456789abcdef0123456789abcdef",
        "expires_at": "2099-01-14T09:15:00Z",
        "expires_minutes": 15,
    })
}

async fn settle_sign_in_emails(backend: Backend) {
    use cpd_hub::domain::notification::DeliveryStatus;

    // No worker: the test plays it, through the library.
    let Some(app) = spawn_app_with(backend, |s| s.outbox.enabled = false).await else {
        eprintln!("TEST_POSTGRES_URL is not set: PostgreSQL half skipped");
        return;
    };
    let admin = app.admin_id();
    let c = &mut app.db_conn();
    let w = "worker-1";
    let without_link = json!({
        "person_name": "Jo Smith",
        "expires_at": "2099-01-14T09:15:00Z",
        "expires_minutes": 15,
    });

    // Sent: the update that records it also drops the link.
    let m = queue_and_claim(c, "sign_in_link", sign_in_payload(), w);
    assert_eq!(
        stored_payload(c, &m.id),
        sign_in_payload(),
        "kept until sent"
    );
    let now = cpd_hub::domain::time::now();
    assert!(store::mark_sent(c, &m, w, now).unwrap());
    assert_eq!(stored_payload(c, &m.id), without_link);
    assert_eq!(store::get(c, &m.id).unwrap().status, "sent");

    // A try that failed for now keeps it: the next try needs it.
    let m = queue_and_claim(c, "sign_in_link", sign_in_payload(), w);
    let later = now + chrono::Duration::seconds(30);
    assert!(store::mark_retry(c, &m.id, w, later, "SMTP: timed out").unwrap());
    assert_eq!(stored_payload(c, &m.id), sign_in_payload());

    // Skipped or failed for good: dropped too.
    let m = queue_and_claim(c, "sign_in_link", sign_in_payload(), w);
    assert!(store::mark_done(c, &m, w, DeliveryStatus::Skipped, "expired").unwrap());
    assert_eq!(stored_payload(c, &m.id), without_link);
    let failed = queue_and_claim(c, "sign_in_link", sign_in_payload(), w);
    assert!(store::mark_done(c, &failed, w, DeliveryStatus::Failed, "550 no such user").unwrap());
    assert_eq!(stored_payload(c, &failed.id), without_link);
    // With the link gone it cannot be sent again; the person asks for a new one.
    let e = store::retry(c, &failed.id, &admin).unwrap_err();
    assert!(
        matches!(&e, cpd_hub::error::AppError::Conflict { code, .. } if *code == "link_removed"),
        "{e:?}"
    );
    assert_eq!(store::get(c, &failed.id).unwrap().status, "failed");

    // A worker whose claim was lost records nothing, and leaves the link to the new holder.
    let m = queue_and_claim(c, "sign_in_link", sign_in_payload(), w);
    assert!(!store::mark_sent(c, &m, "another-worker", now).unwrap());
    assert_eq!(stored_payload(c, &m.id), sign_in_payload());
    assert!(store::mark_sent(c, &m, w, now).unwrap());

    // An erasure while the email was being sent is not undone by recording the send.
    let m = queue_and_claim(c, "sign_in_link", sign_in_payload(), w);
    diesel::update(outbox::table.find(&m.id))
        .set(outbox::payload.eq("{}"))
        .execute(c)
        .unwrap();
    assert!(store::mark_sent(c, &m, w, now).unwrap());
    assert_eq!(stored_payload(c, &m.id), json!({}));

    // Other kinds keep their payload as queued.
    let booking =
        cpd_hub::email::templates::sample(cpd_hub::domain::notification::Kind::BookingWaitlisted);
    let m = queue_and_claim(c, "booking_waitlisted", booking.clone(), w);
    assert!(store::mark_sent(c, &m, w, now).unwrap());
    assert_eq!(stored_payload(c, &m.id), booking);

    // Outcomes recorded together, as a busy worker records those that finish at once: each
    // row ends as its own update would leave it.
    use store::Outcome;
    let sent = queue_and_claim(c, "booking_waitlisted", booking.clone(), w);
    let lost = queue_and_claim(c, "booking_waitlisted", booking.clone(), w);
    diesel::update(outbox::table.find(&lost.id))
        .set(outbox::claim_token.eq("another-worker"))
        .execute(c)
        .unwrap();
    let link = queue_and_claim(c, "sign_in_link", sign_in_payload(), w);
    let refused = queue_and_claim(c, "booking_waitlisted", booking.clone(), w);
    let deferred = queue_and_claim(c, "booking_waitlisted", booking.clone(), w);
    let held = store::record(
        c,
        w,
        now,
        &[
            (sent.clone(), Outcome::Sent),
            (lost.clone(), Outcome::Sent),
            (link.clone(), Outcome::Sent),
            (refused.clone(), Outcome::Failed("550 no such user".into())),
            (
                deferred.clone(),
                Outcome::Retry {
                    next: later,
                    why: "SMTP: timed out".into(),
                },
            ),
        ],
    )
    .unwrap();
    assert_eq!(held, vec![true, false, true, true, true]);
    let row = |c: &mut DbConn, id: &str| -> (String, Option<String>, bool) {
        let (status, token, sent_at): (String, Option<String>, Option<chrono::NaiveDateTime>) =
            outbox::table
                .find(id)
                .select((outbox::status, outbox::claim_token, outbox::sent_at))
                .first(c)
                .unwrap();
        (status, token, sent_at.is_some())
    };
    assert_eq!(row(c, &sent.id), ("sent".into(), None, true));
    assert_eq!(stored_payload(c, &sent.id), booking);
    assert_eq!(
        row(c, &lost.id),
        ("sending".into(), Some("another-worker".into()), false),
        "a lost claim is left to its new holder"
    );
    assert_eq!(row(c, &link.id), ("sent".into(), None, true));
    assert_eq!(stored_payload(c, &link.id), without_link);
    assert_eq!(row(c, &refused.id), ("failed".into(), None, false));
    assert_eq!(
        store::get(c, &refused.id).unwrap().last_error.as_deref(),
        Some("550 no such user")
    );
    assert_eq!(row(c, &deferred.id), ("pending".into(), None, false));
}

crate::each_backend!(settled_sign_in_emails_keep_no_link, settle_sign_in_emails);
