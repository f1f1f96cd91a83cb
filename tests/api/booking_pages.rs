//! Booking through the pages, over plain HTTP as a browser sends it (session cookie, a form
//! post from cpd-hub's own origin): the calendar finds the course, the course page books it,
//! one's bookings page cancels it, and every step takes the same path as the JSON API: the
//! same history, the same outbox messages, the same waiting list and promotion.

use reqwest::Method;
use serde_json::{json, Value};

use crate::booking_support::{
    bk_book_ok, bk_check_invariants, bk_course, bk_get, bk_messages_about, bk_person, bk_world, Who,
};
use crate::browser::web_session_cookie;
use crate::helpers::{as_browser, location, page_text};
use crate::helpers::{Backend, TestApp};

/// The bookings of `who` on the course, as the API lists them.
async fn api_bookings(app: &TestApp, course: &str, who: &Who) -> Vec<Value> {
    let r = app
        .get(
            &format!("/api/v1/bookings?course_id={course}&person_id={}", who.id),
            Some(&app.admin_token),
        )
        .await;
    let v: Value = r.json().await.unwrap();
    v["items"].as_array().unwrap().clone()
}

crate::each_backend!(
    a_page_booking_takes_the_api_path,
    page_booking_takes_the_api_path
);

async fn page_booking_takes_the_api_path(backend: Backend) {
    let Some(app) = crate::helpers::spawn_app(backend).await else {
        return;
    };
    let w = bk_world(&app).await;
    let course = bk_course(&app, &w, "Phonics for early readers", 1, |_| {}).await;
    let ann = bk_person(&app, "Ann Api", Some(&w.school_a), None, &[]).await;
    let pat = bk_person(&app, "Pat Page", Some(&w.school_b), None, &[]).await;
    let pat_cookie = web_session_cookie(&app, &pat.id).await;
    let ann_cookie = web_session_cookie(&app, &ann.id).await;

    // The calendar, signed out, finds the course by its words and not by others.
    let found = page_text(&app, "/courses?q=phonics+readers", None).await;
    assert!(found.contains("Phonics for early readers"), "{found}");
    assert!(found.contains(&format!("href=\"/courses/{course}\"")));
    assert!(found.contains("1 place left"));
    let none = page_text(&app, "/courses?q=trigonometry", None).await;
    assert!(none.contains("No courses match these filters"), "{none}");
    // A filter that cannot be read is named on the page, not answered with JSON.
    let bad = page_text(&app, "/courses?from=next+tuesday", None).await;
    assert!(bad.contains("There is a problem"), "{bad}");
    assert!(bad.contains("href=\"#filter-from\""), "{bad}");
    // Signed out, the course page offers sign-in.
    let anon = page_text(&app, &format!("/courses/{course}"), None).await;
    assert!(anon.contains("Sign in to book a place."), "{anon}");

    // Ann books through the API and takes the only place.
    let first = bk_book_ok(&app, &course, &ann).await;
    assert_eq!(first["status"], "confirmed");

    // Pat's page now offers the waiting list, and the form books through the same path.
    let before = page_text(&app, &format!("/courses/{course}"), Some(&pat_cookie)).await;
    assert!(
        before.contains("Join the waiting list (position 1)"),
        "{before}"
    );
    let book = format!("/courses/{course}/book");
    let r = as_browser(&app, Method::POST, &book, Some(&pat_cookie))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), format!("/courses/{course}?done=booked"));
    let after = page_text(&app, &location(&r), Some(&pat_cookie)).await;
    assert!(
        after.contains("The course is full: you are number 1 on the waiting list."),
        "{after}"
    );
    // The form posted again (a double click) books nothing more.
    let again = as_browser(&app, Method::POST, &book, Some(&pat_cookie))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 303);
    assert_eq!(location(&again), format!("/courses/{course}?done=already"));
    let pats = api_bookings(&app, &course, &pat).await;
    assert_eq!(pats.len(), 1, "one booking for Pat: {pats:?}");
    assert_eq!(pats[0]["status"], "waitlisted");
    assert_eq!(pats[0]["waitlist_position"], 1);
    let pat_booking = pats[0]["id"].as_str().unwrap().to_string();

    // The same history and messages as a booking through the API: made by the person
    // themselves, one status change, one email queued.
    let ann_booking = first["id"].as_str().unwrap().to_string();
    for (id, who, status, message) in [
        (&ann_booking, &ann, "confirmed", "booking_confirmed"),
        (&pat_booking, &pat, "waitlisted", "booking_waitlisted"),
    ] {
        let detail = bk_get(&app, id).await;
        let history = detail["history"].as_array().unwrap();
        assert_eq!(history.len(), 1, "{detail}");
        assert_eq!(history[0]["to"], status, "{detail}");
        assert_eq!(history[0]["actor_id"], who.id.as_str(), "{detail}");
        assert_eq!(bk_messages_about(&app, id).await, [message]);
    }

    // Ann cancels from her bookings page: the place goes to Pat, who is told.
    let mine = page_text(&app, "/my/bookings", Some(&ann_cookie)).await;
    assert!(mine.contains("Place confirmed"), "{mine}");
    let cancel = format!("/my/bookings/{ann_booking}/cancel");
    let r = as_browser(&app, Method::POST, &cancel, Some(&ann_cookie))
        .form(&[("reason", "Parents' evening moved")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/my/bookings?done=cancelled");
    let ann_after = bk_get(&app, &ann_booking).await;
    assert_eq!(ann_after["status"], "cancelled");
    assert_eq!(ann_after["cancel_reason"], "Parents' evening moved");
    assert_eq!(
        bk_messages_about(&app, &ann_booking).await,
        ["booking_confirmed", "booking_cancelled"]
    );
    assert_eq!(bk_get(&app, &pat_booking).await["status"], "confirmed");
    assert_eq!(
        bk_messages_about(&app, &pat_booking).await,
        ["booking_waitlisted", "booking_promoted"]
    );
    let pat_page = page_text(&app, &format!("/courses/{course}"), Some(&pat_cookie)).await;
    assert!(pat_page.contains("You have a place."), "{pat_page}");
    let pat_list = page_text(&app, "/my/bookings", Some(&pat_cookie)).await;
    assert!(pat_list.contains("Place confirmed"), "{pat_list}");

    // Someone else's booking cannot be cancelled from the page (not even seen).
    let theirs = format!("/my/bookings/{pat_booking}/cancel");
    let r = as_browser(&app, Method::POST, &theirs, Some(&ann_cookie))
        .form(&[("reason", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(bk_get(&app, &pat_booking).await["status"], "confirmed");

    // Signed out, the pages send people to sign in; a post from another site is refused.
    let r = as_browser(&app, Method::POST, &book, None)
        .send()
        .await
        .unwrap();
    assert_eq!((r.status().as_u16(), location(&r)), (303, "/".to_string()));
    let r = app
        .client
        .post(format!("{}{book}", app.address))
        .header("origin", "https://elsewhere.example")
        .header("cookie", format!("cpd_session={ann_cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    bk_check_invariants(&app, std::slice::from_ref(&course)).await;
}

crate::each_backend!(
    a_school_lead_decides_from_the_emailed_link,
    lead_decides_from_the_emailed_link
);

/// A request for a course that needs approval, made on the course page; the school lead
/// opens the link in the approval email, declines one request without a reason (told to give
/// one), then approves it; the person is told.
async fn lead_decides_from_the_emailed_link(backend: Backend) {
    let Some(app) = crate::helpers::spawn_app(backend).await else {
        return;
    };
    let w = bk_world(&app).await;
    let course = bk_course(&app, &w, "Leading SEND provision", 10, |b| {
        b["requires_approval"] = serde_json::json!(true);
    })
    .await;
    let pat = bk_person(&app, "Pat Page", Some(&w.school_a), None, &[]).await;
    let pat_cookie = web_session_cookie(&app, &pat.id).await;
    let lead_cookie = web_session_cookie(&app, &w.lead_a.id).await;
    let other_lead_cookie = web_session_cookie(&app, &w.lead_b.id).await;

    let page = page_text(&app, &format!("/courses/{course}"), Some(&pat_cookie)).await;
    assert!(page.contains(">Request a place<"), "{page}");
    let r = as_browser(
        &app,
        Method::POST,
        &format!("/courses/{course}/book"),
        Some(&pat_cookie),
    )
    .send()
    .await
    .unwrap();
    let page = page_text(&app, &location(&r), Some(&pat_cookie)).await;
    assert!(
        page.contains("Your request is with your school lead for approval."),
        "{page}"
    );
    let booking = api_bookings(&app, &course, &pat).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();

    // The approval email's link is the page the lead decides on.
    let outbox = crate::booking_support::bk_outbox(&app).await;
    let (_, to, _, payload) = outbox
        .iter()
        .find(|(k, _, s, _)| k == "approval_requested" && s.as_deref() == Some(&booking))
        .expect("an approval request email");
    assert_eq!(to.as_deref(), Some(w.lead_a.id.as_str()));
    let link = payload["link"].as_str().unwrap();
    let path = &link[link.find("/bookings/").unwrap()..];
    assert_eq!(path, format!("/bookings/{booking}/approve"));
    let page = page_text(&app, path, Some(&lead_cookie)).await;
    assert!(
        page.contains("Pat Page asked to book Leading SEND provision"),
        "{page}"
    );
    assert!(page.contains("Waiting for your decision"), "{page}");
    // Another school's lead may not see it; signed out, the link leads to sign-in.
    let r = as_browser(&app, Method::GET, path, Some(&other_lead_cookie))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains("<html"));
    let r = as_browser(&app, Method::GET, path, None)
        .send()
        .await
        .unwrap();
    assert_eq!(
        (r.status().as_u16(), location(&r)),
        (303, crate::helpers::sign_in_location(path))
    );

    // A decline needs a reason: the form comes back naming the field, and nothing changes.
    let decline = format!("/bookings/{booking}/decline");
    let r = as_browser(&app, Method::POST, &decline, Some(&lead_cookie))
        .form(&[("reason", "  ")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let page = r.text().await.unwrap();
    assert!(page.contains("There is a problem"), "{page}");
    assert!(page.contains("href=\"#reason\""), "{page}");
    assert_eq!(bk_get(&app, &booking).await["status"], "pending_approval");

    // Approving places the request and tells the person.
    let r = as_browser(&app, Method::POST, path, Some(&lead_cookie))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), format!("{path}?done=approved"));
    let page = page_text(&app, &location(&r), Some(&lead_cookie)).await;
    assert!(page.contains("You approved the request."), "{page}");
    let detail = bk_get(&app, &booking).await;
    assert_eq!(detail["status"], "confirmed");
    let last = detail["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["actor_id"], w.lead_a.id.as_str(), "{detail}");
    assert_eq!(
        bk_messages_about(&app, &booking).await,
        ["approval_requested", "booking_approved"]
    );
    // Posting again (a second click) changes nothing more.
    let r = as_browser(&app, Method::POST, path, Some(&lead_cookie))
        .send()
        .await
        .unwrap();
    assert_eq!((r.status().as_u16(), location(&r)), (303, path.to_string()));
    assert_eq!(bk_messages_about(&app, &booking).await.len(), 2);
}

crate::both_backends! {
    /// A browser that asks for a page and meets an error gets a page, with a way on; API
    /// clients keep problem+json. HEAD is answered wherever GET is, without a body.
    async fn errors_are_pages_for_browsers_and_head_works(app: TestApp) {
        let html = "text/html,application/xhtml+xml,application/xhtml+xml;q=0.9,*/*;q=0.8";
        let get = |path: &str, accept: Option<&str>| {
            let mut r = app.client.get(format!("{}{path}", app.address));
            if let Some(a) = accept {
                r = r.header("accept", a);
            }
            r.send()
        };
        let r = get("/no/such/page", Some(html)).await.unwrap();
        assert_eq!(r.status(), 404);
        assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
        assert!(r.headers().contains_key("content-security-policy"));
        let body = r.text().await.unwrap();
        assert!(body.contains("<html lang=\"en-GB\">"), "{body}");
        assert!(body.contains("<title>Page not found – cpd-hub</title>"), "{body}");
        assert!(body.contains("href=\"/courses\""), "{body}");
        for (path, accept) in [("/no/such/page", None), ("/api/v1/no/such/thing", Some(html))] {
            let r = get(path, accept).await.unwrap();
            assert_eq!(r.status(), 404);
            assert_eq!(r.headers()["content-type"], "application/problem+json", "{path}");
        }
        // A form posted from another site: refused, and a browser is told in a page.
        let r = app
            .client
            .post(format!("{}/courses/anything/book", app.address))
            .header("origin", "https://elsewhere.example")
            .header("accept", html)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        assert!(r.text().await.unwrap().contains("<h1>You cannot do this</h1>"));

        for (path, kind) in [
            ("/healthz", "text/plain"),
            ("/", "text/html; charset=utf-8"),
            ("/courses", "text/html; charset=utf-8"),
            ("/calendar.ics", "text/calendar; charset=utf-8"),
        ] {
            let r = app.client.head(format!("{}{path}", app.address)).send().await.unwrap();
            assert_eq!(r.status(), 200, "HEAD {path}");
            assert_eq!(r.headers()["content-type"], kind, "HEAD {path}");
            assert!(r.bytes().await.unwrap().is_empty(), "HEAD {path} has no body");
        }
        let r = app.client.head(format!("{}/no/such/page", app.address)).send().await.unwrap();
        assert_eq!(r.status(), 404);
    }
}

crate::both_backends!(
    /// The calendar page and the JSON list keep what they show between requests; every change
    /// shows on the very next request: a course published, edited, booked or cancelled, and
    /// the filter form's priorities, staff groups and clusters added or renamed.
    async fn the_calendar_shows_each_change_at_once(app: TestApp) {
        let w = bk_world(&app).await;
        let page = "/courses?q=lighthouse";
        let json = "/api/v1/courses?q=lighthouse";
        let count = |v: &Value| v["total"].as_i64().unwrap();
        // Kept before any change: nothing matches.
        for _ in 0..2 {
            let empty = page_text(&app, page, None).await;
            assert!(empty.contains("No courses match these filters"), "{empty}");
            assert_eq!(count(&app.admin_get(json).await), 0);
        }

        // Published: listed at once, on the page and in the JSON.
        let course = bk_course(&app, &w, "Lighthouse keeping for leaders", 2, |_| {}).await;
        let shown = page_text(&app, page, None).await;
        assert!(shown.contains("Lighthouse keeping for leaders"), "{shown}");
        assert!(shown.contains("2 places left"), "{shown}");
        assert_eq!(count(&app.admin_get(json).await), 1);

        // Edited: the new title at once.
        let r = app
            .patch(
                &format!("/api/v1/courses/{course}"),
                Some(&app.admin_token),
                &json!({"title": "Lighthouse keeping for new leaders"}),
            )
            .await;
        expect_json(r, 200).await;
        let edited = page_text(&app, page, None).await;
        assert!(
            edited.contains("Lighthouse keeping for new leaders"),
            "{edited}"
        );
        let listed = app.admin_get(json).await;
        assert_eq!(
            listed["items"][0]["title"],
            "Lighthouse keeping for new leaders"
        );

        // Booked: one place fewer at once on the course's page; a kept list catches up
        // within PLACES_MAX_AGE (bookings do not raise the calendar's generation).
        let ann = bk_person(&app, "Ann Lighthouse", Some(&w.school_a), None, &[]).await;
        bk_book_ok(&app, &course, &ann).await;
        let course_page = page_text(&app, &format!("/courses/{course}"), None).await;
        assert!(course_page.contains("1 place left"), "{course_page}");
        tokio::time::sleep(cpd_hub::app::cache::PLACES_MAX_AGE).await;
        let booked = page_text(&app, page, None).await;
        assert!(booked.contains("1 place left"), "{booked}");
        assert_eq!(app.admin_get(json).await["items"][0]["places_left"], 1);

        // The filter form's choices: added and renamed ones show at once.
        let before = page_text(&app, "/courses", None).await;
        assert!(!before.contains("Coastal safety"), "{before}");
        app.admin_create("/api/v1/priorities", json!({"name": "Coastal safety"}))
            .await;
        app.admin_create("/api/v1/staff-groups", json!({"name": "Harbour masters"}))
            .await;
        let cluster = app
            .admin_create("/api/v1/clusters", json!({"name": "Seaside schools"}))
            .await;
        let added = page_text(&app, "/courses", None).await;
        for name in ["Coastal safety", "Harbour masters", "Seaside schools"] {
            assert!(added.contains(name), "{name}: {added}");
        }
        let r = app
            .patch(
                &format!("/api/v1/clusters/{}", cluster["id"].as_str().unwrap()),
                Some(&app.admin_token),
                &json!({"name": "Coastal schools"}),
            )
            .await;
        expect_json(r, 200).await;
        let renamed = page_text(&app, "/courses", None).await;
        assert!(renamed.contains("Coastal schools"), "{renamed}");
        assert!(!renamed.contains("Seaside schools"), "{renamed}");

        // Cancelled: gone from the calendar at once.
        let r = app
            .post(
                &format!("/api/v1/courses/{course}/cancel"),
                Some(&app.admin_token),
                &json!({"reason": "The lighthouse is being painted."}),
            )
            .await;
        expect_json(r, 200).await;
        let gone = page_text(&app, page, None).await;
        assert!(gone.contains("No courses match these filters"), "{gone}");
        assert_eq!(count(&app.admin_get(json).await), 0);
    }
);
