//! The admin's email pages. Over plain HTTP with an admin's browser session: an email fails
//! while the mail server is down, the failed list and the email's page show it with its error
//! (and never its contents); the server comes back, the admin presses retry, the email is
//! delivered and listed as sent, and the retry is in the audit log; retrying every failed
//! email queues those that can be sent and leaves a sign-in email whose link was removed. In
//! headless Chromium: the same failure and retry through the menu, both email pages and the
//! audit log checked with axe, at 320 px, and for a visible focus.

use std::collections::HashSet;
use std::time::Duration;

use cpd_hub::domain::notification::Kind;
use cpd_hub::email::templates::sample;
use reqwest::Method;
use serde_json::json;

use crate::browser::{keys, web_session_cookie, Browser};
use crate::email::{enqueue, parse, spawn_with_sink, wait_status, WAIT};
use crate::helpers::{as_browser, location, page_text, visible_text, Backend, TestApp};
use crate::smtp_sink::SmtpSink;

/// A sign-in email that failed for good and lost its link as it did (as the worker leaves
/// one), so it cannot be sent again.
async fn failed_sign_in_without_link(app: &TestApp, to: &str) -> String {
    let to = to.to_string();
    app.with_db(move |conn| {
        cpd_hub::db::write_tx(conn, |conn| -> diesel::QueryResult<String> {
            use cpd_hub::db::schema::outbox;
            use diesel::prelude::*;
            let id = cpd_hub::store::outbox::enqueue_stored(
                conn,
                cpd_hub::store::outbox::StoredMessage {
                    kind: "sign_in_link",
                    recipient_email: &to,
                    recipient_person_id: None,
                    subject_id: None,
                    payload: json!({"person_name": "N", "expires_minutes": 15}),
                },
            )?;
            diesel::update(outbox::table.find(&id))
                .set((
                    outbox::status.eq("failed"),
                    outbox::attempts.eq(8),
                    outbox::last_error.eq("gave up after 8 tries"),
                ))
                .execute(conn)?;
            Ok(id)
        })
        .unwrap()
    })
    .await
}

async fn post(app: &TestApp, cookie: &str, path: &str) -> reqwest::Response {
    as_browser(app, Method::POST, path, Some(cookie))
        .form(&[("x", "")])
        .send()
        .await
        .unwrap()
}

crate::each_backend!(
    a_failed_email_is_shown_and_retried_from_the_pages,
    failed_email_retried
);

async fn failed_email_retried(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn_with_sink(backend, &sink, |s| s.outbox.max_attempts = 2).await;
    let admin = web_session_cookie(&app, &app.admin_id()).await;

    // The mail server is down for longer than the tries allowed.
    sink.stop().await;
    let id = enqueue(
        &app,
        Kind::BookingApproved,
        "patient@school.test",
        None,
        sample(Kind::BookingApproved),
    )
    .await;
    let (_, attempts, _, error) = wait_status(&app, &id, "failed").await;
    assert_eq!(attempts, 2);
    let error = error.unwrap();
    assert!(error.starts_with("gave up after 2 tries"), "{error}");

    // Failed is the list's first state; the row links to the email's page, with its error.
    let list = page_text(&app, "/admin/emails", Some(&admin)).await;
    assert!(list.contains(&format!("id=\"email-{id}\"")), "{list}");
    assert!(list.contains(&format!("href=\"/admin/emails/{id}\"")));
    let words = visible_text(&list);
    assert!(words.contains("Failed: 1 email"), "{words}");
    assert!(words.contains("Booking approved"), "{words}");
    assert!(words.contains("To patient@school.test"), "{words}");
    assert!(words.contains("gave up after 2 tries"), "{words}");
    assert!(list.contains("id=\"retry-failed\""));
    let queued = page_text(&app, "/admin/emails?state=queued", Some(&admin)).await;
    assert!(!queued.contains(&format!("email-{id}")));
    // The page shows what the API shows, and no more.
    let api = app.admin_get("/api/v1/admin/outbox?status=failed").await;
    assert_eq!(api["total"], 1);
    let detail = page_text(&app, &format!("/admin/emails/{id}"), Some(&admin)).await;
    let words = visible_text(&detail);
    assert!(words.contains("Why it failed"), "{words}");
    assert!(words.contains(&error), "{words}");
    assert!(words.contains("Tries 2"), "{words}");
    assert!(words.contains(api["items"][0]["message_id"].as_str().unwrap()));
    let payload = sample(Kind::BookingApproved);
    for value in payload
        .as_object()
        .unwrap()
        .values()
        .filter_map(|v| v.as_str())
    {
        if value.len() > 12 {
            assert!(
                !detail.contains(value),
                "the page shows the payload's {value:?}"
            );
        }
    }
    let r = as_browser(&app, Method::GET, "/admin/emails/nope", Some(&admin))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = as_browser(&app, Method::GET, "/admin/emails?state=lost", Some(&admin))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);

    // The server is back: the admin presses retry, and it is delivered.
    sink.restart().await;
    let r = post(&app, &admin, &format!("/admin/emails/{id}/retry")).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), format!("/admin/emails/{id}?done=retried"));
    let done = page_text(&app, &location(&r), Some(&admin)).await;
    assert!(done.contains("Queued to send again"), "{done}");
    let got = sink.wait_for(1, WAIT).await;
    assert_eq!(got[0].rcpt_to, vec!["patient@school.test".to_string()]);
    assert!(parse(&got[0]).subject().is_some());
    wait_status(&app, &id, "sent").await;
    let sent = page_text(&app, "/admin/emails?state=sent", Some(&admin)).await;
    assert!(sent.contains(&format!("id=\"email-{id}\"")), "{sent}");
    let failed = page_text(&app, "/admin/emails?state=failed", Some(&admin)).await;
    assert!(failed.contains("No emails have failed"), "{failed}");
    let detail = visible_text(&page_text(&app, &format!("/admin/emails/{id}"), Some(&admin)).await);
    assert!(detail.contains("Sent"), "{detail}");
    assert!(!detail.contains("Retry this email"));
    // As the API's retry does, it is in the audit log, with who asked.
    let audit = app
        .admin_get(&format!(
            "/api/v1/admin/audit?action=outbox.retry&subject_id={id}"
        ))
        .await;
    assert_eq!(audit["total"], 1, "{audit}");
    assert_eq!(audit["items"][0]["actor_id"], app.admin_id());
    // A sent email is not sent again: the page says why.
    let r = post(&app, &admin, &format!("/admin/emails/{id}/retry")).await;
    assert_eq!(r.status(), 409);
    let text = visible_text(&r.text().await.unwrap());
    assert!(
        text.contains("Only a failed message can be retried"),
        "{text}"
    );

    // Two more fail; a sign-in email has failed and lost its link.
    sink.stop().await;
    let mut again = Vec::new();
    for to in ["one@school.test", "two@school.test"] {
        again.push(
            enqueue(
                &app,
                Kind::BookingApproved,
                to,
                None,
                sample(Kind::BookingApproved),
            )
            .await,
        );
    }
    for m in &again {
        wait_status(&app, m, "failed").await;
    }
    let no_link = failed_sign_in_without_link(&app, "linkless@school.test").await;
    sink.restart().await;
    let r = post(&app, &admin, "/admin/emails/retry-failed").await;
    assert_eq!(r.status(), 303);
    let to = location(&r);
    assert_eq!(
        to,
        "/admin/emails?state=failed&done=retried&queued=2&kept=1"
    );
    let words = visible_text(&page_text(&app, &to, Some(&admin)).await);
    assert!(
        words.contains("2 failed emails queued to send again."),
        "{words}"
    );
    assert!(words.contains("1 email was left as failed"), "{words}");
    let got = sink.wait_for(3, WAIT).await;
    let to: HashSet<_> = got[1..].iter().map(|m| m.rcpt_to[0].clone()).collect();
    assert_eq!(
        to,
        HashSet::from(["one@school.test".to_string(), "two@school.test".to_string()])
    );
    for m in &again {
        wait_status(&app, m, "sent").await;
    }
    wait_status(&app, &no_link, "failed").await;
    let audit = app
        .admin_get("/api/v1/admin/audit?action=outbox.retry")
        .await;
    assert_eq!(audit["total"], 3, "{audit}");
    sink.expect_no_more_than(3, Duration::from_millis(300))
        .await;

    // Someone else signed in is refused; another site cannot make the admin's browser retry.
    let staff = app.create_person("staff@school.test", "Sam Staff", None, &[]);
    let staff = web_session_cookie(&app, &staff).await;
    for path in [
        "/admin/emails",
        &format!("/admin/emails/{no_link}"),
        "/admin/audit",
    ] {
        let r = as_browser(&app, Method::GET, path, Some(&staff))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "GET {path}");
    }
    let r = post(&app, &staff, "/admin/emails/retry-failed").await;
    assert_eq!(r.status(), 403);
    let menu = page_text(&app, "/my/bookings", Some(&staff)).await;
    assert!(!menu.contains("/admin/emails"));
    let r = app
        .client
        .post(format!("{}/admin/emails/retry-failed", app.address))
        .header("cookie", format!("cpd_session={admin}"))
        .header("origin", "https://elsewhere.example")
        .form(&[("x", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

/// Checks the page at 320 px (it fits) and back at desktop width.
async fn fits_narrow(browser: &Browser, page: &str) {
    browser.set_window_size(320, 1000).await;
    browser.assert_fits(&format!("{page} at 320 px")).await;
    browser
        .assert_accessible(&format!("{page} at 320 px"))
        .await;
    browser.set_window_size(1280, 1000).await;
}

crate::each_backend!(
    the_email_and_audit_pages_in_a_browser,
    email_pages_in_a_browser
);

async fn email_pages_in_a_browser(backend: Backend) {
    let Some(browser) = Browser::start_sized(1280, 1000).await else {
        return;
    };
    let sink = SmtpSink::start().await;
    let app = spawn_with_sink(backend, &sink, |s| {
        s.public_base_url = format!("http://{}", s.bind);
        s.outbox.max_attempts = 2;
    })
    .await;

    // The admin signs in through the emailed link.
    browser.goto(&format!("{}/", app.address)).await;
    browser
        .find("#email")
        .await
        .type_text("admin@alliance.test")
        .await;
    browser.press(keys::ENTER).await;
    browser.wait_for("h1", WAIT).await;
    let mail = sink.wait_for(1, WAIT).await;
    let text = parse(&mail[0]).body_text(0).unwrap().to_string();
    let link = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(&format!("{}/auth/magic?token=", app.address)))
        .expect("a sign-in link")
        .to_string();
    browser.goto(&link).await;
    let sign_in = browser.find("main button[type=submit]").await;
    browser.click_and_wait(&sign_in).await;

    // An email fails while the mail server is down.
    sink.stop().await;
    let id = enqueue(
        &app,
        Kind::BookingApproved,
        "patient@school.test",
        None,
        sample(Kind::BookingApproved),
    )
    .await;
    wait_status(&app, &id, "failed").await;

    browser.find(".site-nav__more summary").await.click().await;
    let emails = browser
        .find(".site-nav--wide a[href='/admin/emails']")
        .await;
    browser.click_and_wait(&emails).await;
    assert_eq!(browser.find("h1").await.text().await, "Emails");
    let current = browser.find("#state-failed").await;
    assert_eq!(
        current.attribute("aria-current").await.as_deref(),
        Some("page")
    );
    let row = browser.find(&format!("#email-{id}")).await.text().await;
    assert!(row.contains("gave up after 2 tries"), "{row}");
    browser.assert_accessible("failed emails").await;
    browser.assert_focus_visible("failed emails").await;
    fits_narrow(&browser, "failed emails").await;

    let open = browser.find(&format!("#email-{id} a")).await;
    browser.click_and_wait(&open).await;
    let error = browser.find("#email-error").await.text().await;
    assert!(error.starts_with("gave up after 2 tries"), "{error}");
    browser.assert_accessible("a failed email").await;
    browser.assert_focus_visible("a failed email").await;
    fits_narrow(&browser, "a failed email").await;

    // The server is back: retry, and it is sent.
    sink.restart().await;
    let retry = browser.find("#retry").await;
    browser.click_and_wait(&retry).await;
    let done = browser.find("#done").await.text().await;
    assert!(done.starts_with("Queued to send again"), "{done}");
    browser.assert_accessible("a retried email").await;
    sink.wait_for(1, WAIT).await;
    wait_status(&app, &id, "sent").await;
    browser
        .goto(&format!("{}/admin/emails/{id}", app.address))
        .await;
    assert_eq!(browser.find("#email-status").await.text().await, "Sent");
    browser.goto(&format!("{}/admin/emails", app.address)).await;
    let sent_tab = browser.find("#state-sent").await;
    browser.click_and_wait(&sent_tab).await;
    browser.find(&format!("#email-{id}")).await;
    browser.assert_accessible("sent emails").await;
    fits_narrow(&browser, "sent emails").await;

    // The audit log has the retry; filtering by its action keeps it.
    browser.find(".site-nav__more summary").await.click().await;
    let audit = browser.find(".site-nav--wide a[href='/admin/audit']").await;
    browser.click_and_wait(&audit).await;
    assert_eq!(browser.find("h1").await.text().await, "Audit log");
    browser.assert_accessible("audit log").await;
    browser.assert_focus_visible("audit log").await;
    fits_narrow(&browser, "audit log").await;
    browser
        .find("#filter-action")
        .await
        .type_text("outbox.retry")
        .await;
    let find = browser.find("#find-entries").await;
    browser.click_and_wait(&find).await;
    assert_eq!(browser.find("#audit-heading").await.text().await, "1 entry");
    let rows = browser.find_all("#admin-audit tbody tr").await;
    assert_eq!(rows.len(), 1);
    assert!(rows[0].text().await.contains(&id));
    browser.assert_accessible("audit log, filtered").await;
    fits_narrow(&browser, "audit log, filtered").await;
}
