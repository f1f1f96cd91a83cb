//! The evaluation page in a real browser: the link from the invitation email (delivered to a
//! real SMTP server) opened in headless Chromium on a phone-sized screen, the form sent empty
//! (errors next to each question), then filled in and sent; the course summary then counts
//! the answer. Also the page's answers to a used, an expired and a cross-site post, over
//! plain HTTP.

use std::time::Duration;

use cpd_hub::db::schema::evaluation_tokens;
use diesel::prelude::*;
use serde_json::{json, Value};

use crate::browser::Browser;
use crate::evaluation::{
    all_present, answer, answers, fixture, invitation_tokens, spawn_quiet, summary, token_of,
};
use crate::helpers::{expect_json, Backend};

fn question<'a>(kind: &'a Value, key: &str) -> &'a Value {
    kind["questions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["key"] == key)
        .unwrap()
}

async fn answered_in_a_browser_from_the_emailed_link(backend: Backend) {
    let sink = crate::smtp_sink::SmtpSink::start().await;
    let app = crate::email::spawn_with_sink(backend, &sink, |_| {}).await;
    let fx = fixture(&app, "Questioning and feedback", 5, 2).await;
    all_present(&app, &fx).await;

    // Five invitation emails arrive; each carries its own link.
    let got = sink
        .wait_for(5 + fx.bookings.len(), crate::email::WAIT)
        .await;
    let mut links = std::collections::HashMap::new();
    for m in &got {
        let parsed = crate::email::parse(m);
        if !parsed
            .subject()
            .is_some_and(|s| s.starts_with("How was Questioning and feedback?"))
        {
            continue;
        }
        let text = parsed.body_text(0).unwrap().to_string();
        let link = text
            .split_whitespace()
            .find(|w| w.contains("/evaluate/"))
            .unwrap()
            .to_string();
        links.insert(m.rcpt_to[0].clone(), link);
    }
    assert_eq!(links.len(), 5, "{:?}", links.keys());
    let mut tokens: Vec<String> = links.values().map(|l| token_of(l)).collect();
    tokens.sort();
    // Four answer through the API.
    for t in &tokens[..4] {
        expect_json(answer(&app, t, &answers(5, "no")).await, 201).await;
    }
    let mine = &tokens[4];

    // The fifth answers in a browser; without one (CPD_SKIP_BROWSER=1), with the same
    // answers posted as the form would post them, so the checks after it still run.
    let browser = Browser::start().await;
    if let Some(browser) = &browser {
        browser
            .goto(&format!("{}/evaluate/{mine}", app.address))
            .await;
        let h1 = browser
            .wait_for("h1", Duration::from_secs(10))
            .await
            .text()
            .await;
        assert_eq!(h1, "Tell us about the course");
        browser.assert_focus_visible("evaluation form").await;
        assert!(browser
            .find(".eval-caption")
            .await
            .text()
            .await
            .contains("Questioning and feedback"));
        assert_eq!(
            browser
                .find_all("form.evaluation > .question > fieldset > legend")
                .await
                .len(),
            7
        );
        assert!(
            !browser.source().await.contains("<script"),
            "no scripts on the page"
        );
        // Fits a phone: nothing wider than the screen.
        let fits = browser
            .execute(
                "return document.documentElement.scrollWidth <= window.innerWidth;",
                vec![],
            )
            .await;
        assert_eq!(fits, json!(true));

        // Sent with only some answers: the problems show next to their questions, with what was
        // entered kept.
        browser.find("label[for='q-overall-1']").await.click().await;
        browser
            .find("#q-action_plan")
            .await
            .type_text("Wait time after every question")
            .await;
        let send = browser.find("button[type=submit]").await;
        browser.click_and_wait(&send).await;
        assert!(browser.title().await.starts_with("Error:"));
        let summary_box = browser.find(".error-summary").await.text().await;
        assert!(
            summary_box
                .contains("How relevant was the course to your role?: Choose a rating from 1 to 5"),
            "{summary_box}"
        );
        let relevance = browser.find("#question-relevance fieldset").await;
        assert_eq!(
            relevance.attribute("aria-describedby").await.as_deref(),
            Some("error-relevance")
        );
        let error = browser.find("#error-relevance").await.text().await;
        assert!(error.ends_with("Choose a rating from 1 to 5"), "{error}");
        assert!(browser.try_find("#error-overall").await.is_none());
        assert_eq!(
            browser.find("#q-overall-1").await.property("checked").await,
            json!(true)
        );
        assert_eq!(
            browser.find("#q-action_plan").await.property("value").await,
            json!("Wait time after every question")
        );

        for sel in [
            "label[for='q-relevance-3']",
            "label[for='q-delivery-4']",
            "label[for='q-confidence-before-2']",
            "label[for='q-confidence-after-5']",
            "label[for='q-target_group-ks2']",
            "label[for='q-target_group-send']",
            "label[for='q-consent_follow_up-no']",
        ] {
            browser.find(sel).await.click().await;
        }
        let send = browser.find("button[type=submit]").await;
        browser.click_and_wait(&send).await;
        assert_eq!(browser.find("h1").await.text().await, "Thank you");
    } else {
        let r = app
            .client
            .post(format!("{}/evaluate/{mine}", app.address))
            .header("origin", &app.address)
            .form(&[
                ("q-overall", "1"),
                ("q-action_plan", "Wait time after every question"),
                ("q-relevance", "3"),
                ("q-delivery", "4"),
                ("q-confidence-before", "2"),
                ("q-confidence-after", "5"),
                ("q-target_group", "ks2"),
                ("q-target_group", "send"),
                ("q-consent_follow_up", "no"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert!(r.text().await.unwrap().contains("Thank you"));
    }

    // The summary counts the browser's answer with the other four.
    let s = expect_json(summary(&app, &fx.course, Some(&app.admin_token)).await, 200).await;
    let post = &s["post_course"];
    assert_eq!(post["responded"], 5);
    let overall = question(post, "overall");
    assert_eq!(
        overall["distribution"],
        json!({"1": 1, "2": 0, "3": 0, "4": 0, "5": 4})
    );
    assert_eq!(overall["mean"], 4.2);
    assert_eq!(question(post, "confidence")["mean_after"], 4.2);

    // The link again: already answered, not an error (over plain HTTP, and in the browser).
    let r = app.get(&format!("/evaluate/{mine}"), None).await;
    assert_eq!(r.status().as_u16(), 200);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("already answered, thank you"));
    if let Some(browser) = &browser {
        browser
            .goto(&format!("{}/evaluate/{mine}", app.address))
            .await;
        let h1 = browser
            .wait_for("h1", Duration::from_secs(10))
            .await
            .text()
            .await;
        assert_eq!(h1, "You've already answered, thank you");
    }
}
crate::each_backend!(
    answered_in_a_browser_from_the_emailed_link,
    answered_in_a_browser_from_the_emailed_link
);

async fn used_expired_and_cross_site_posts_get_clear_pages(backend: Backend) {
    let app = spawn_quiet(backend).await;
    let fx = fixture(&app, "Phonics refresher", 2, 1).await;
    all_present(&app, &fx).await;
    let tokens = invitation_tokens(&app).await;
    let (t0, t1) = (
        tokens[&fx.people[0].id].clone(),
        tokens[&fx.people[1].id].clone(),
    );
    let form = [
        ("q-overall", "4"),
        ("q-relevance", "4"),
        ("q-delivery", "4"),
        ("q-confidence-before", "1"),
        ("q-confidence-after", "3"),
        ("q-consent_follow_up", "yes"),
    ];
    let post = |t: &str, origin: Option<&str>| {
        let mut r = app
            .client
            .post(format!("{}/evaluate/{t}", app.address))
            .form(&form);
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        r.send()
    };
    // From another site: refused before anything is read.
    let r = post(&t0, Some("https://evil.example")).await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let r = post(&t0, None).await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    // From the page itself: saved, with the follow-up promised.
    let r = post(&t0, Some(&app.address)).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Thank you") && html.contains("we will email you in a few weeks"),
        "{html}"
    );
    // Sent again: a clear page.
    let r = post(&t0, Some(&app.address)).await.unwrap();
    assert_eq!(r.status().as_u16(), 409);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("already answered, thank you"));
    let r = app.get(&format!("/evaluate/{t0}"), None).await;
    assert_eq!(r.status().as_u16(), 200);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("already answered, thank you"));

    // A missing answer: the form again (422), the problem named next to its question.
    let r = app
        .client
        .post(format!("{}/evaluate/{t1}", app.address))
        .header("origin", &app.address)
        .form(&[("q-overall", "9"), ("q-action_plan", "Keep <this>")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains(r#"id="error-overall""#) && html.contains("Choose a rating from 1 to 5"));
    assert!(
        html.contains(r#"aria-describedby="error-consent_follow_up""#)
            || html.contains("hint-consent_follow_up error-consent_follow_up")
    );
    assert!(
        html.contains("Keep &lt;this&gt;</textarea>"),
        "kept and escaped"
    );

    // Expired: a clear page.
    let h = cpd_hub::auth::tokens::hash(&t1);
    app.with_db(move |c| {
        diesel::update(evaluation_tokens::table.find(h))
            .set(
                evaluation_tokens::expires_at
                    .eq(cpd_hub::domain::time::now() - chrono::Duration::seconds(1)),
            )
            .execute(c)
            .unwrap()
    })
    .await;
    let r = post(&t1, Some(&app.address)).await.unwrap();
    assert_eq!(r.status().as_u16(), 410);
    let html = r.text().await.unwrap();
    assert!(html.contains("This link has expired") && html.contains("28 days"));
    let r = app.get(&format!("/evaluate/{t1}"), None).await;
    assert_eq!(r.status().as_u16(), 410);
}
crate::each_backend!(
    used_expired_and_cross_site_posts_get_clear_pages,
    used_expired_and_cross_site_posts_get_clear_pages
);

crate::each_backend!(
    the_start_page_lists_evaluations_waiting_and_opens_them,
    start_page_lists_waiting_evaluations
);

/// Someone who lost the email still finds their evaluation: the start page lists it, and its
/// button opens the form with a new link; nobody else can open it, and once answered it goes.
async fn start_page_lists_waiting_evaluations(backend: Backend) {
    use crate::helpers::{as_browser, location, page_text, visible_text};
    let app = spawn_quiet(backend).await;
    let fx = fixture(&app, "Questioning and feedback", 2, 1).await;
    all_present(&app, &fx).await;
    let emailed = invitation_tokens(&app).await;
    assert_eq!(emailed.len(), 2);
    let (me, other) = (&fx.people[0], &fx.people[1]);
    let cookie = crate::browser::web_session_cookie(&app, &me.id).await;
    let other_cookie = crate::browser::web_session_cookie(&app, &other.id).await;

    let home = page_text(&app, "/", Some(&cookie)).await;
    let text = visible_text(&home);
    assert!(text.contains("Evaluations waiting for you"), "{text}");
    assert!(
        text.contains("Questioning and feedback How the course went."),
        "{text}"
    );
    let start = home
        .find("action=\"/my/evaluations/")
        .expect("an answer button")
        + 8;
    let action = home[start..start + home[start..].find('"').unwrap()].to_string();

    // Not someone else's to open.
    let r = as_browser(&app, reqwest::Method::POST, &action, Some(&other_cookie))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // The button opens the form with a link of its own, closing when the emailed one does.
    let r = as_browser(&app, reqwest::Method::POST, &action, Some(&cookie))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let form = location(&r);
    let token = form
        .strip_prefix("/evaluate/")
        .expect("to the form")
        .to_string();
    assert_ne!(Some(&token), emailed.get(&me.id));
    // The new link closes exactly when the emailed one for the same invitation does (the two
    // people's invitations may have been sent at different moments).
    let expiries: Vec<(String, chrono::NaiveDateTime)> = app
        .with_db(|c| {
            evaluation_tokens::table
                .select((
                    evaluation_tokens::invitation_id,
                    evaluation_tokens::expires_at,
                ))
                .order(evaluation_tokens::invitation_id.asc())
                .load(c)
                .unwrap()
        })
        .await;
    assert_eq!(expiries.len(), 3);
    let mut by_invitation: std::collections::HashMap<&str, Vec<chrono::NaiveDateTime>> =
        Default::default();
    for (invitation, expires) in &expiries {
        by_invitation.entry(invitation).or_default().push(*expires);
    }
    let mut sizes: Vec<usize> = by_invitation.values().map(Vec::len).collect();
    sizes.sort();
    assert_eq!(sizes, [1, 2], "{expiries:?}");
    assert!(
        by_invitation.values().all(|e| e.iter().all(|x| *x == e[0])),
        "{expiries:?}"
    );
    let page = page_text(&app, &form, Some(&cookie)).await;
    assert!(page.contains("Tell us about the course"), "{page}");

    // Answered: gone from the start page, and the button no longer opens anything.
    expect_json(answer(&app, &token, &answers(5, "no")).await, 201).await;
    let home = visible_text(&page_text(&app, "/", Some(&cookie)).await);
    assert!(!home.contains("Evaluations waiting for you"), "{home}");
    let r = as_browser(&app, reqwest::Method::POST, &action, Some(&cookie))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // The other person's is still waiting for them.
    let theirs = visible_text(&page_text(&app, "/", Some(&other_cookie)).await);
    assert!(theirs.contains("Evaluations waiting for you"), "{theirs}");
}
