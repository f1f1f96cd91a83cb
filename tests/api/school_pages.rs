//! The school view and one's CPD record pages over plain HTTP, as a browser sends them: a
//! school lead decides requests one by one or many at once (mistakes named, nothing changed),
//! books a colleague through the course page, and nobody else sees the school; a member of
//! staff makes, uses and stops their calendar feed; the menu follows the reader's roles.

use chrono::{Duration, Utc};
use cpd_hub::db::schema::bookings;
use cpd_hub::domain::roles::Role;
use diesel::prelude::*;
use reqwest::Method;
use serde_json::Value;

use crate::booking_support::{
    bk_book_ok, bk_check_invariants, bk_course, bk_get, bk_messages_about, bk_person, bk_world, Who,
};
use crate::browser::web_session_cookie;
use crate::calendar_support::cal_db;
use crate::helpers::{as_browser, location, page_text, visible_text, Backend, TestApp};

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

/// Posts the school page's decision form.
async fn decide(
    app: &TestApp,
    cookie: &str,
    ids: &[&str],
    decision: &str,
    reason: &str,
) -> reqwest::Response {
    let mut form: Vec<(&str, &str)> = ids.iter().map(|id| ("booking_id", *id)).collect();
    form.push(("decision", decision));
    form.push(("reason", reason));
    as_browser(app, Method::POST, "/school/decisions", Some(cookie))
        .form(&form)
        .send()
        .await
        .unwrap()
}

crate::each_backend!(
    a_school_lead_decides_requests_from_the_school_page,
    lead_decides_from_the_school_page
);

async fn lead_decides_from_the_school_page(backend: Backend) {
    let Some(app) = crate::helpers::spawn_app_with(backend, |s| s.approval_reminder_days = 3).await
    else {
        return;
    };
    let w = bk_world(&app).await;
    let course = bk_course(&app, &w, "Leading SEND provision", 10, |b| {
        b["requires_approval"] = serde_json::json!(true);
    })
    .await;
    let ann = bk_person(&app, "Ann Asker", Some(&w.school_a), None, &[]).await;
    let ben = bk_person(&app, "Ben Asker", Some(&w.school_a), None, &[]).await;
    let cat = bk_person(&app, "Cat Asker", Some(&w.school_a), None, &[]).await;
    let dee = bk_person(&app, "Dee Elsewhere", Some(&w.school_b), None, &[]).await;
    let mut ids = Vec::new();
    for who in [&ann, &ben, &cat, &dee] {
        let b = bk_book_ok(&app, &course, who).await;
        assert_eq!(b["status"], "pending_approval");
        ids.push(b["id"].as_str().unwrap().to_string());
    }
    // Ann asked ten days ago: past the three days the alliance allows.
    let ann_id = ids[0].clone();
    let ten_days_ago = (Utc::now() - Duration::days(10)).naive_utc();
    cal_db(&app, move |c| {
        diesel::update(bookings::table.find(ann_id))
            .set(bookings::requested_at.eq(ten_days_ago))
            .execute(c)
            .unwrap()
    })
    .await;
    let lead = web_session_cookie(&app, &w.lead_a.id).await;

    let html = page_text(&app, "/school", Some(&lead)).await;
    let text = visible_text(&html);
    assert!(text.contains("Hoyland Common Primary"), "{text}");
    // Oldest first, only this school's, the old one marked overdue.
    let (a, b, c) = (
        text.find("Ann Asker Leading SEND provision")
            .expect("Ann's request"),
        text.find("Ben Asker Leading SEND provision")
            .expect("Ben's request"),
        text.find("Cat Asker Leading SEND provision")
            .expect("Cat's request"),
    );
    assert!(a < b && b < c, "{text}");
    assert!(!text.contains("Dee Elsewhere"), "{text}");
    let ann_row = &text[a..b];
    assert!(ann_row.contains("Overdue"), "{ann_row}");
    assert!(!text[b..c].contains("Overdue"), "{text}");
    assert!(html.contains(&format!("href=\"/bookings/{}/approve\"", ids[1])));
    // The staff list says where each stands.
    assert!(text.contains("Ben Asker Leading SEND provision"), "{text}");
    assert!(text.contains("Waiting for approval"), "{text}");

    // Declining without a reason, or deciding nothing: the page again, the mistake named,
    // the ticks kept, nothing changed.
    let r = decide(&app, &lead, &[&ids[1], &ids[2]], "decline", " ").await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("There is a problem"), "{html}");
    assert!(html.contains("href=\"#reason\""), "{html}");
    assert!(html.contains("Say why you are declining"), "{html}");
    assert!(
        html.contains(&format!(
            "value=\"{}\" id=\"tick-{}\" checked",
            ids[1], ids[1]
        )),
        "{html}"
    );
    let r = decide(&app, &lead, &[], "approve", "").await;
    assert_eq!(r.status(), 422);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Tick at least one request"));
    for id in &ids {
        assert_eq!(bk_get(&app, id).await["status"], "pending_approval");
    }
    // Another school's request among the ticked ones: not found, and none is decided.
    let r = decide(&app, &lead, &[&ids[1], &ids[3]], "approve", "").await;
    assert_eq!(r.status(), 404);
    assert_eq!(bk_get(&app, &ids[1]).await["status"], "pending_approval");

    // Approving two at once: both placed, both told, by the lead.
    let r = decide(&app, &lead, &[&ids[1], &ids[2]], "approve", "").await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/school?done=approved&n=2#decided");
    let text = visible_text(&page_text(&app, "/school?done=approved&n=2", Some(&lead)).await);
    assert!(text.contains("You approved 2 requests."), "{text}");
    assert!(text.contains("Place confirmed"), "{text}");
    for id in [&ids[1], &ids[2]] {
        let detail = bk_get(&app, id).await;
        assert_eq!(detail["status"], "confirmed", "{detail}");
        let history = detail["history"].as_array().unwrap();
        assert_eq!(history.last().unwrap()["actor_id"], w.lead_a.id.as_str());
        assert_eq!(
            bk_messages_about(&app, id).await,
            ["approval_requested", "booking_approved"]
        );
    }
    // Declining with a reason: Ann is told it.
    let r = decide(&app, &lead, &[&ids[0]], "decline", "Not this term, sorry.").await;
    assert_eq!(location(&r), "/school?done=declined&n=1#decided");
    let detail = bk_get(&app, &ids[0]).await;
    assert_eq!(detail["status"], "declined");
    assert_eq!(detail["decline_reason"], "Not this term, sorry.");
    // The same form posted again: already decided, so nothing changes and the page says so.
    let r = decide(&app, &lead, &[&ids[0]], "approve", "").await;
    assert_eq!(r.status(), 422);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("decided or withdrawn since"));
    assert_eq!(bk_get(&app, &ids[0]).await["status"], "declined");

    // Who sees the school: another school's lead is told it is not found, staff are refused,
    // an admin chooses the school by name.
    let other = web_session_cookie(&app, &w.lead_b.id).await;
    let path = format!("/school?school={}", w.school_a);
    let r = as_browser(&app, Method::GET, &path, Some(&other))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let staff = web_session_cookie(&app, &ann.id).await;
    let r = as_browser(&app, Method::GET, "/school", Some(&staff))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("<html"));
    let admin = bk_person(&app, "Ada Admin", None, None, &[Role::Admin]).await;
    let admin = web_session_cookie(&app, &admin.id).await;
    let choose = visible_text(&page_text(&app, "/school", Some(&admin)).await);
    assert!(choose.contains("Choose a school"), "{choose}");
    let found = page_text(&app, "/school?q=hoyland", Some(&admin)).await;
    assert!(
        found.contains(&format!("href=\"/school?school={}\"", w.school_a)),
        "{found}"
    );
    let text = visible_text(&page_text(&app, &path, Some(&admin)).await);
    assert!(text.contains("Hoyland Common Primary"), "{text}");
    assert!(text.contains("No requests are waiting."), "{text}");
    bk_check_invariants(&app, std::slice::from_ref(&course)).await;
}

crate::each_backend!(
    a_school_lead_books_a_colleague_as_they_would,
    lead_books_a_colleague
);

async fn lead_books_a_colleague(backend: Backend) {
    let Some(app) = crate::helpers::spawn_app(backend).await else {
        return;
    };
    let w = bk_world(&app).await;
    let course = bk_course(&app, &w, "Questioning in maths", 5, |_| {}).await;
    let ed = bk_person(&app, "Ed Colleague", Some(&w.school_a), None, &[]).await;
    let lead = web_session_cookie(&app, &w.lead_a.id).await;

    // From the staff list to the calendar, choosing for Ed.
    let school = page_text(&app, "/school", Some(&lead)).await;
    let for_ed = format!("/courses?for={}", ed.id);
    assert!(school.contains(&format!("href=\"{for_ed}\"")), "{school}");
    let calendar = page_text(&app, &for_ed, Some(&lead)).await;
    assert!(
        visible_text(&calendar).contains("Choosing a course for Ed Colleague"),
        "{calendar}"
    );
    let course_path = format!("/courses/{course}?for={}", ed.id);
    assert!(
        calendar.contains(&format!("href=\"{course_path}\"")),
        "{calendar}"
    );
    // The course page as Ed would see it, and the button books Ed.
    let page = page_text(&app, &course_path, Some(&lead)).await;
    assert!(page.contains(">Book a place for Ed Colleague<"), "{page}");
    assert!(
        page.contains(&format!("name=\"person_id\" value=\"{}\"", ed.id)),
        "{page}"
    );
    let book = format!("/courses/{course}/book");
    let r = as_browser(&app, Method::POST, &book, Some(&lead))
        .form(&[("person_id", ed.id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        location(&r),
        format!("/courses/{course}?for={}&done=booked", ed.id)
    );
    let text = visible_text(&page_text(&app, &location(&r), Some(&lead)).await);
    assert!(text.contains("Ed Colleague has a place."), "{text}");
    assert!(text.contains("You have a place."), "{text}");
    let eds = api_bookings(&app, &course, &ed).await;
    assert_eq!(eds.len(), 1, "{eds:?}");
    assert_eq!(eds[0]["status"], "confirmed");
    assert_eq!(eds[0]["created_by"], w.lead_a.id.as_str());
    let id = eds[0]["id"].as_str().unwrap().to_string();
    assert_eq!(bk_messages_about(&app, &id).await, ["booking_confirmed"]);
    // Posting again books nothing more; the lead has no booking of their own.
    let r = as_browser(&app, Method::POST, &book, Some(&lead))
        .form(&[("person_id", ed.id.as_str())])
        .send()
        .await
        .unwrap();
    assert!(location(&r).ends_with("done=already"), "{}", location(&r));
    assert_eq!(api_bookings(&app, &course, &ed).await.len(), 1);
    assert!(api_bookings(&app, &course, &w.lead_a).await.is_empty());
    let school = visible_text(&page_text(&app, "/school", Some(&lead)).await);
    assert!(
        school.contains("Questioning in maths"),
        "Ed's booking in the staff list: {school}"
    );

    // Another school's lead can neither see Ed's page nor book Ed.
    let other = web_session_cookie(&app, &w.lead_b.id).await;
    let r = as_browser(&app, Method::GET, &course_path, Some(&other))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let fay = bk_person(&app, "Fay Colleague", Some(&w.school_a), None, &[]).await;
    let r = as_browser(&app, Method::POST, &book, Some(&other))
        .form(&[("person_id", fay.id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(api_bookings(&app, &course, &fay).await.is_empty());
    bk_check_invariants(&app, std::slice::from_ref(&course)).await;
}

crate::each_backend!(
    the_record_page_makes_uses_and_stops_a_calendar_feed,
    record_page_calendar_feed
);

async fn record_page_calendar_feed(backend: Backend) {
    let Some(app) = crate::helpers::spawn_app(backend).await else {
        return;
    };
    let w = bk_world(&app).await;
    let course = bk_course(&app, &w, "Feedback that moves learning on", 5, |_| {}).await;
    let tia = bk_person(&app, "Tia Teacher", Some(&w.school_a), None, &[]).await;
    bk_book_ok(&app, &course, &tia).await;
    let cookie = web_session_cookie(&app, &tia.id).await;

    let page = page_text(&app, "/my/record", Some(&cookie)).await;
    assert!(
        visible_text(&page).contains("You have no calendar feed."),
        "{page}"
    );
    // The menu: one's own pages, and no school or reports for a member of staff.
    assert!(page.contains("href=\"/my/record\""), "{page}");
    assert!(!page.contains("href=\"/school\""), "{page}");
    let lead = web_session_cookie(&app, &w.lead_a.id).await;
    assert!(page_text(&app, "/my/record", Some(&lead))
        .await
        .contains("href=\"/school\""));

    let r = as_browser(&app, Method::POST, "/my/calendar-feed", Some(&cookie))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let made = r.text().await.unwrap().replace("&#x2f;", "/");
    let start = made
        .find("id=\"feed-url\" type=\"text\" readonly value=\"")
        .unwrap();
    let rest = &made[start + "id=\"feed-url\" type=\"text\" readonly value=\"".len()..];
    let url = &rest[..rest.find('"').unwrap()];
    assert!(
        url.starts_with("http://") && url.contains("/calendar/cal_"),
        "{url}"
    );
    assert!(made.contains(&format!(
        "href=\"{}\"",
        url.replacen("http://", "webcal://", 1)
    )));
    let feed = app.client.get(url).send().await.unwrap();
    assert_eq!(feed.status(), 200);
    assert!(feed
        .text()
        .await
        .unwrap()
        .contains("Feedback that moves learning on"));
    let page = visible_text(&page_text(&app, "/my/record", Some(&cookie)).await);
    assert!(page.contains("You have a calendar feed, made on"), "{page}");

    let r = as_browser(&app, Method::POST, "/my/calendar-feed/stop", Some(&cookie))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (r.status().as_u16(), location(&r)),
        (
            303,
            "/my/record?done=feed_stopped#calendar-feed".to_string()
        )
    );
    let page = visible_text(&page_text(&app, "/my/record?done=feed_stopped", Some(&cookie)).await);
    assert!(page.contains("Your calendar feed has stopped"), "{page}");
    assert!(page.contains("You have no calendar feed."), "{page}");
    assert_eq!(app.client.get(url).send().await.unwrap().status(), 404);
}

crate::each_backend!(
    ones_bookings_warn_before_a_late_cancellation,
    bookings_warn_before_late_cancellation
);

/// One's bookings page gives the date to cancel by while it is ahead, and warns, in the
/// cancel form itself, once cancelling would count as late.
async fn bookings_warn_before_late_cancellation(backend: Backend) {
    let Some(app) = crate::helpers::spawn_app(backend).await else {
        return;
    };
    let w = bk_world(&app).await;
    let days = crate::booking_support::days_from_now;
    let late = bk_course(&app, &w, "Deadline gone", 5, |b| {
        b["cancellation_deadline"] = serde_json::json!(days(-1));
    })
    .await;
    let early = bk_course(&app, &w, "Deadline ahead", 5, |b| {
        b["cancellation_deadline"] = serde_json::json!(days(10));
    })
    .await;
    let tia = bk_person(&app, "Tia Teacher", Some(&w.school_a), None, &[]).await;
    let late_id = bk_book_ok(&app, &late, &tia).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let early_id = bk_book_ok(&app, &early, &tia).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let cookie = web_session_cookie(&app, &tia.id).await;

    let html = page_text(&app, "/my/bookings", Some(&cookie)).await;
    let card = |id: &str| {
        let start = html.find(&format!("id=\"booking-{id}\"")).unwrap();
        let end = html[start..].find("</li>").unwrap();
        visible_text(&html[start..start + end])
    };
    let late_card = card(&late_id);
    assert!(
        late_card.contains(
            "The cancellation deadline has passed: cancelling now counts as a late cancellation"
        ),
        "{late_card}"
    );
    assert!(!late_card.contains("Cancel by"), "{late_card}");
    let early_card = card(&early_id);
    assert!(early_card.contains("Cancel by "), "{early_card}");
    assert!(!early_card.contains("deadline has passed"), "{early_card}");

    // Cancelling anyway is flagged late, as the API would.
    let r = as_browser(
        &app,
        Method::POST,
        &format!("/my/bookings/{late_id}/cancel"),
        Some(&cookie),
    )
    .form(&[("reason", "")])
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 303);
    let b = bk_get(&app, &late_id).await;
    assert_eq!(
        (b["status"].as_str(), b["late_cancellation"].as_bool()),
        (Some("cancelled"), Some(true))
    );
}

crate::each_backend!(
    the_calendar_filters_by_phase_and_keeps_it_in_links,
    calendar_filters_by_phase
);

/// The calendar's phase filter: courses for that phase and for every phase, and the choice
/// kept in the paging and feed links.
async fn calendar_filters_by_phase(backend: Backend) {
    let Some(app) = crate::helpers::spawn_app(backend).await else {
        return;
    };
    let w = bk_world(&app).await;
    bk_course(&app, &w, "Secondary science practicals", 5, |b| {
        b["phases"] = serde_json::json!(["secondary"]);
    })
    .await;
    bk_course(&app, &w, "Early reading for all", 5, |_| {}).await;
    let primary = visible_text(&page_text(&app, "/courses?phase=primary", None).await);
    assert!(primary.contains("Early reading for all"), "{primary}");
    assert!(
        !primary.contains("Secondary science practicals"),
        "{primary}"
    );
    let html = page_text(&app, "/courses?phase=secondary", None).await;
    let secondary = visible_text(&html);
    assert!(
        secondary.contains("Secondary science practicals"),
        "{secondary}"
    );
    assert!(secondary.contains("Early reading for all"), "{secondary}");
    assert!(
        html.contains("<option value=\"secondary\" selected>Secondary</option>"),
        "{html}"
    );
    assert!(html.contains("calendar.ics?phase=secondary"), "{html}");
}
