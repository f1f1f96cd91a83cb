//! A course's bookings for the admin (`/admin/courses/{id}/bookings`). In headless Chromium an
//! admin signs in through the emailed link and sees the bookings counted, the confirmed places
//! and the waiting list in the order its places are offered; books a person onto the full
//! course past the rules (they get the confirmation email); cancels a booking with a reason
//! (the person is told, and the first person waiting gets the place and an email); and adds a
//! walk-in to a locked register, which the audit log keeps. Every page passes axe, fits a
//! desktop and a tablet without sideways scrolling, is under 3,000 px tall, and keeps the
//! list's first column in view as the table scrolls. Over plain HTTP: the pages are for
//! admins, another site cannot post to them, and mistakes change nothing. And the audit entry
//! of a walk-in on a locked register, through the API.

use std::time::Duration;

use chrono::Utc;
use cpd_hub::domain::roles::Role;
use diesel::prelude::*;
use reqwest::Method;
use serde_json::json;

use crate::booking_support::{
    bk_book_ok, bk_count, bk_course, bk_course_get, bk_get, bk_people, bk_person, bk_text,
    bk_world, Who,
};
use crate::browser::{keys, Browser};
use crate::calendar_support::cal_db;
use crate::email::{parse, spawn_with_sink};
use crate::helpers::{
    as_browser, expect_json, location, page_text, visible_text, Backend, TestApp,
};
use crate::smtp_sink::SmtpSink;

const WAIT: Duration = Duration::from_secs(20);

/// The longest an admin page may be by default (longer lists are paged).
const MAX_HEIGHT: u32 = 3000;

/// The text of the messages to `to` whose subject starts with `subject`, waiting for `n`.
async fn wait_mails(sink: &SmtpSink, to: &str, subject: &str, n: usize) -> Vec<String> {
    let start = std::time::Instant::now();
    loop {
        let found: Vec<String> = sink
            .messages()
            .iter()
            .filter(|m| m.rcpt_to.iter().any(|r| r == to))
            .filter_map(|m| {
                let mail = parse(m);
                if !mail.subject().is_some_and(|s| s.starts_with(subject)) {
                    return None;
                }
                Some(mail.body_text(0)?.to_string())
            })
            .collect();
        if found.len() >= n {
            return found;
        }
        assert!(
            start.elapsed() < WAIT,
            "{} emails to {to} starting {subject:?}, wanted {n}",
            found.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn email_of(app: &TestApp, id: &str) -> String {
    bk_text(
        app,
        &format!("SELECT email AS t FROM people WHERE id = '{id}'"),
    )
    .await
}

/// Moves every session of a course to have ended `days` ago (as time passing would), keeping
/// the course's first start and last end true: its registers lock after 14 days.
async fn end_course_days_ago(app: &TestApp, course_id: &str, days: i64) {
    use cpd_hub::db::schema::{course_sessions, courses};
    let id = course_id.to_string();
    cal_db(app, move |conn| {
        let start =
            (Utc::now() - chrono::Duration::days(days) - chrono::Duration::hours(3)).naive_utc();
        let end = start + chrono::Duration::hours(3);
        diesel::update(course_sessions::table.filter(course_sessions::course_id.eq(&id)))
            .set((
                course_sessions::start_at.eq(start),
                course_sessions::end_at.eq(end),
            ))
            .execute(conn)
            .unwrap();
        diesel::update(courses::table.find(&id))
            .set((
                courses::first_session_start.eq(Some(start)),
                courses::last_session_end.eq(Some(end)),
            ))
            .execute(conn)
            .unwrap();
    })
    .await
}

/// The audit entries with this action about this record: their details.
async fn audit_details(app: &TestApp, action: &str, subject_id: &str) -> Vec<serde_json::Value> {
    let (action, id) = (action.to_string(), subject_id.to_string());
    cal_db(app, move |conn| {
        use cpd_hub::db::schema::audit_log;
        audit_log::table
            .filter(audit_log::action.eq(action))
            .filter(audit_log::subject_id.eq(id))
            .select(audit_log::detail)
            .load::<String>(conn)
            .unwrap()
            .iter()
            .map(|d| serde_json::from_str(d).unwrap())
            .collect()
    })
    .await
}

/// The rows of the bookings table as (name, status words).
async fn rows(browser: &Browser) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for tr in browser.find_all("#admin-bookings tbody tr").await {
        let who = tr.find("th").await.text().await;
        let name = who.lines().next().unwrap_or_default().trim().to_string();
        let status = tr.find(".booking-status").await.text().await;
        out.push((name, status));
    }
    out
}

async fn screenshot(browser: &Browser, name: &str, width: u32) {
    browser.set_window_size(width, 3000).await;
    browser.execute("window.scrollTo(0, 0);", vec![]).await;
    browser.save_screenshot(&format!("{name}-{width}")).await;
}

/// Axe, the layout rules, and screenshots at desktop and phone widths; back at 1280 px.
async fn check_page(browser: &Browser, name: &str) {
    browser.assert_accessible(name).await;
    browser.assert_page_fits(name, MAX_HEIGHT).await;
    let slug = name.replace([' ', ','], "-");
    screenshot(browser, &slug, 1280).await;
    screenshot(browser, &slug, 320).await;
    browser.assert_fits(&format!("{name} at 320 px")).await;
    browser.set_window_size(1280, 1000).await;
}

crate::each_backend!(
    an_admin_books_cancels_and_adds_a_walk_in_on_a_course_s_bookings_page,
    admin_manages_bookings
);

async fn admin_manages_bookings(backend: Backend) {
    let Some(browser) = Browser::start_sized(1280, 1000).await else {
        return;
    };
    let sink = SmtpSink::start().await;
    let app = spawn_with_sink(backend, &sink, |s| {
        s.public_base_url = format!("http://{}", s.bind)
    })
    .await;
    let w = bk_world(&app).await;
    let course = bk_course(
        &app,
        &w,
        "Adaptive teaching for pupils with SEND",
        2,
        |_| {},
    )
    .await;
    let teacher = w.fx.group("teacher");
    // Two places taken, then three waiting, in this order.
    let mut people = Vec::new();
    for (name, school) in [
        ("Ann Placed", &w.school_a),
        ("Ben Placed", &w.school_b),
        ("Cat Waiting", &w.school_a),
        ("Dan Waiting", &w.school_b),
        ("Eve Waiting", &w.school_a),
    ] {
        let p = bk_person(&app, name, Some(school), Some(&teacher), &[]).await;
        let b = bk_book_ok(&app, &course, &p).await;
        people.push((p, b["id"].as_str().unwrap().to_string()));
    }
    let fay = bk_person(&app, "Fay Override", Some(&w.school_b), None, &[]).await;
    let fay_email = email_of(&app, &fay.id).await;
    let ben_email = email_of(&app, &people[1].0.id).await;
    let cat_email = email_of(&app, &people[2].0.id).await;

    // The admin signs in through the emailed link.
    browser.goto(&format!("{}/", app.address)).await;
    browser
        .find("#email")
        .await
        .type_text("admin@alliance.test")
        .await;
    browser.press(keys::ENTER).await;
    browser.wait_for("h1", WAIT).await;
    let text = wait_mails(&sink, "admin@alliance.test", "Your sign-in link", 1).await[0].clone();
    let link = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(&format!("{}/auth/magic?token=", app.address)))
        .expect("a sign-in link")
        .to_string();
    browser.goto(&link).await;
    let sign_in = browser.find("main button[type=submit]").await;
    browser.click_and_wait(&sign_in).await;

    // The course's page: the header's menu is one row at desktop width, the admin's pages
    // grouped under "Admin".
    browser
        .goto(&format!("{}/admin/courses/{course}", app.address))
        .await;
    assert_eq!(
        browser.menu_rows().await,
        1,
        "the menu is one row at 1280 px"
    );
    let header = browser.find(".site-header").await.rect().await;
    assert!(header.3 < 130.0, "the header is {} px tall", header.3);
    browser.find(".site-nav__more summary").await.click().await;
    let admin_menu = browser.find(".site-nav__more").await.text().await;
    for page in ["Manage courses", "Emails", "Audit log"] {
        assert!(admin_menu.contains(page), "{admin_menu}");
    }
    browser
        .assert_accessible("course admin page, admin menu open")
        .await;
    check_page(&browser, "course admin page").await;

    // The bookings: counted, the places and then the waiting list in the order it is served.
    let manage = browser.find("#manage-bookings").await;
    browser.click_and_wait(&manage).await;
    assert_eq!(
        browser.find("h1").await.text().await,
        "Bookings: Adaptive teaching for pupils with SEND"
    );
    assert_eq!(browser.find("#count-confirmed").await.text().await, "2");
    assert_eq!(browser.find("#count-waiting").await.text().await, "3");
    let want = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    assert_eq!(
        rows(&browser).await,
        want(&[
            ("Ann Placed", "Confirmed"),
            ("Ben Placed", "Confirmed"),
            ("Cat Waiting", "Waiting: number 1"),
            ("Dan Waiting", "Waiting: number 2"),
            ("Eve Waiting", "Waiting: number 3"),
        ])
    );
    let ann_row = browser
        .find(&format!("#booking-{}", people[0].1))
        .await
        .text()
        .await;
    assert!(
        ann_row.contains("Hoyland Common Primary") && ann_row.contains("Teacher"),
        "{ann_row}"
    );
    check_page(&browser, "course bookings").await;
    browser.assert_focus_visible("course bookings").await;
    browser.set_window_size(320, 900).await;
    browser
        .assert_sticky_first_column(".table-scroll--sticky")
        .await;
    browser.set_window_size(1280, 1000).await;

    // The waiting list on its own.
    let waiting = browser.find("#show-waitlisted").await;
    browser.click_and_wait(&waiting).await;
    assert_eq!(
        rows(&browser).await,
        want(&[
            ("Cat Waiting", "Waiting: number 1"),
            ("Dan Waiting", "Waiting: number 2"),
            ("Eve Waiting", "Waiting: number 3"),
        ])
    );
    browser.assert_accessible("waiting list").await;

    // Booking Ann again is refused by the rules, said next to the choice; nothing changes.
    browser.find("#q").await.type_text("Ann Placed").await;
    let find = browser.find("#find-person").await;
    browser.click_and_wait(&find).await;
    let book = browser.find("#book-person").await;
    browser.click_and_wait(&book).await;
    let summary = browser.find(".error-summary").await.text().await;
    assert!(summary.contains("already"), "{summary}");
    assert!(browser
        .find("#person-error")
        .await
        .text()
        .await
        .contains("already"));
    browser.assert_accessible("booking refused").await;
    assert_eq!(bk_course_get(&app, &course).await["confirmed_count"], 2);

    // Fay, found by name, is booked onto the full course past the rules.
    browser.find("#q").await.clear().await;
    browser.find("#q").await.type_text("fay over").await;
    let find = browser.find("#find-person").await;
    browser.click_and_wait(&find).await;
    assert!(browser.current_url().await.ends_with("#book"));
    let chosen = browser.find(&format!("#person-{}", fay.id)).await;
    assert_eq!(
        chosen.property("checked").await,
        json!(true),
        "the one found is chosen"
    );
    assert_eq!(
        browser.find("#override").await.property("checked").await,
        json!(true)
    );
    browser.assert_accessible("person found").await;
    let book = browser.find("#book-person").await;
    browser.click_and_wait(&book).await;
    let done = browser.find("#done").await.text().await;
    assert!(
        done.contains("Fay Override has a confirmed place, booked past the rules"),
        "{done}"
    );
    assert_eq!(browser.find("#count-confirmed").await.text().await, "3");
    assert_eq!(browser.find("#count-places").await.text().await, "3");
    let mail = wait_mails(&sink, &fay_email, "Your place is confirmed", 1).await;
    assert!(mail[0].contains("Adaptive teaching"), "{}", mail[0]);
    let fay_booking: String = bk_text(
        &app,
        &format!(
            "SELECT id AS t FROM bookings WHERE person_id = '{}'",
            fay.id
        ),
    )
    .await;
    let audit = audit_details(&app, "booking.override", &fay_booking).await;
    assert_eq!(audit.len(), 1, "the override is audited as the API's is");
    assert_eq!(audit[0]["capacity_raised"], true);

    // Ben's place is cancelled with a reason; Cat, first waiting, gets it.
    let cancel = browser.find(&format!("#cancel-{}", people[1].1)).await;
    browser.click_and_wait(&cancel).await;
    assert_eq!(
        browser.find("h1").await.text().await,
        "Cancel Ben Placed's booking"
    );
    browser.assert_accessible("cancel a booking").await;
    let confirm = browser.find("#confirm-cancel").await;
    browser.click_and_wait(&confirm).await;
    let summary = browser.find(".error-summary").await.text().await;
    assert!(
        summary.contains("Enter why the booking is cancelled"),
        "{summary}"
    );
    assert_eq!(bk_get(&app, &people[1].1).await["status"], "confirmed");
    browser
        .assert_accessible("cancel a booking, no reason")
        .await;
    browser
        .find("#reason")
        .await
        .type_text("Ben is needed in school that day.")
        .await;
    let confirm = browser.find("#confirm-cancel").await;
    browser.click_and_wait(&confirm).await;
    let done = browser.find("#done").await.text().await;
    assert!(done.contains("Ben Placed's booking is cancelled"), "{done}");
    assert_eq!(
        rows(&browser).await,
        want(&[
            ("Ann Placed", "Confirmed"),
            ("Cat Waiting", "Confirmed"),
            ("Fay Override", "Confirmed"),
            ("Dan Waiting", "Waiting: number 1"),
            ("Eve Waiting", "Waiting: number 2"),
        ])
    );
    let told = wait_mails(&sink, &ben_email, "Your booking is cancelled", 1).await;
    assert!(
        told[0].contains("Ben is needed in school that day."),
        "{}",
        told[0]
    );
    let promoted = wait_mails(&sink, &cat_email, "You now have a place", 1).await;
    assert!(promoted[0].contains("Adaptive teaching"), "{}", promoted[0]);
    let ended = browser.find("#show-ended").await;
    browser.click_and_wait(&ended).await;
    let row = browser
        .find(&format!("#booking-{}", people[1].1))
        .await
        .text()
        .await;
    assert!(
        row.contains("Cancelled") && row.contains("Ben is needed in school that day."),
        "{row}"
    );
    browser.assert_accessible("cancelled bookings").await;

    // A walk-in on the register, which locked 14 days after the session.
    end_course_days_ago(&app, &course, 20).await;
    browser
        .goto(&format!("{}/admin/courses/{course}/bookings", app.address))
        .await;
    let session = bk_course_get(&app, &course).await["sessions"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let register = browser.find(&format!("#register-{session}")).await;
    browser.click_and_wait(&register).await;
    assert!(browser
        .find("#locked")
        .await
        .text()
        .await
        .contains("locked"));
    browser.find("#name").await.type_text("Walt Walker").await;
    browser
        .find("#email")
        .await
        .type_text("walt.walker@school.test")
        .await;
    let add = browser.find("#walk-in button[type=submit]").await;
    browser.click_and_wait(&add).await;
    let walt = browser.find(".register-row:target").await.text().await;
    assert!(
        walt.contains("Walt Walker") && walt.contains("walk-in"),
        "{walt}"
    );
    let audit = audit_details(&app, "attendance.override", &session).await;
    assert_eq!(audit.len(), 1, "the locked register's change is audited");
    assert_eq!(audit[0]["walk_in"], true);
    assert_eq!(audit[0]["changes"][0]["to"], "present");
    // The admin sees it in the audit log.
    browser
        .goto(&format!(
            "{}/admin/audit?action=attendance.override",
            app.address
        ))
        .await;
    let log = browser.find("#admin-audit").await.text().await;
    assert!(log.contains("attendance.override"), "{log}");
    check_page(&browser, "audit log").await;
    browser.set_window_size(320, 900).await;
    browser
        .assert_sticky_first_column(".table-scroll--sticky")
        .await;
    browser.set_window_size(1280, 1000).await;

    // A long list is paged, each page under the height limit with a full page of rows.
    let popular = bk_course(&app, &w, "Questioning in maths", 20, |_| {}).await;
    let crowd = bk_people(&app, 30, "Crowd", &[&w.school_a, &w.school_b]).await;
    for p in &crowd {
        bk_book_ok(&app, &popular, p).await;
    }
    browser
        .goto(&format!("{}/admin/courses/{popular}/bookings", app.address))
        .await;
    assert_eq!(browser.find_all("#admin-bookings tbody tr").await.len(), 15);
    let pager = browser.find(".pagination").await.text().await;
    assert!(pager.contains("Page 1 of 2"), "{pager}");
    check_page(&browser, "course bookings, a full page").await;
    let next = browser.find(".pagination a[rel=next]").await;
    browser.click_and_wait(&next).await;
    assert_eq!(
        rows(&browser).await.last().map(|r| r.1.clone()).as_deref(),
        Some("Waiting: number 10")
    );

    // A full page of the audit log keeps to the height limit too.
    cal_db(&app, |conn| {
        for n in 0..30 {
            cpd_hub::store::audit::record(
                conn,
                None,
                "attendance.override",
                "session",
                Some(&format!("session-{n}")),
                json!({"course_id": "c0ffee", "walk_in": true, "changes": [
                    {"booking_id": format!("booking-{n}"), "from": "absent", "to": "present"}]}),
            )
            .unwrap();
        }
    })
    .await;
    browser.goto(&format!("{}/admin/audit", app.address)).await;
    check_page(&browser, "audit log, a full page").await;

    // The other admin pages keep the same rules: the course list with a full page of
    // courses, the course form, the emails sent.
    for n in 0..20 {
        bk_course(
            &app,
            &w,
            &format!("Subject leadership, cohort {n}"),
            12,
            |_| {},
        )
        .await;
    }
    // The course form with its one session keeps to the same height as the lists: the rules
    // most courses leave alone are folded away.
    for (path, max) in [
        ("/admin/courses", MAX_HEIGHT),
        ("/admin/courses/new", MAX_HEIGHT),
        ("/admin/emails?state=sent", MAX_HEIGHT),
    ] {
        browser.goto(&format!("{}{path}", app.address)).await;
        browser.assert_accessible(path).await;
        browser.assert_page_fits(path, max).await;
        assert_eq!(browser.menu_rows().await, 1, "{path}: one row of menu");
    }
    browser
        .goto(&format!("{}/admin/courses", app.address))
        .await;
    browser.set_window_size(320, 900).await;
    browser
        .assert_sticky_first_column(".table-scroll--sticky")
        .await;
    // On a phone the menu is one button, the admin's pages in it under their heading.
    let menu = browser.find(".site-menu summary").await;
    menu.click().await;
    let links = browser.find(".site-menu").await.text().await;
    assert!(
        links.contains("Admin") && links.contains("Audit log") && links.contains("Your bookings"),
        "{links}"
    );
    browser.assert_accessible("phone menu, open").await;
    browser.assert_fits("phone menu, open").await;
}

async fn post_form(
    app: &TestApp,
    cookie: &str,
    path: &str,
    form: &[(&str, String)],
) -> reqwest::Response {
    as_browser(app, Method::POST, path, Some(cookie))
        .form(form)
        .send()
        .await
        .unwrap()
}

crate::both_backends! {
    /// The bookings pages are for admins; another site cannot make an admin's browser book
    /// or cancel; mistakes are named and change nothing.
    async fn only_admins_manage_a_course_s_bookings(app: TestApp) {
        let w = bk_world(&app).await;
        let course = bk_course(&app, &w, "Phonics for early readers", 1, |_| {}).await;
        let other = bk_course(&app, &w, "Leading a team", 5, |_| {}).await;
        let ann = bk_person(&app, "Ann Placed", Some(&w.school_a), None, &[]).await;
        let ben = bk_person(&app, "Ben Waiting", Some(&w.school_a), None, &[]).await;
        let fay = bk_person(&app, "Fay Later", Some(&w.school_b), None, &[]).await;
        let ann_booking = bk_book_ok(&app, &course, &ann).await["id"].as_str().unwrap().to_string();
        let ben_booking = bk_book_ok(&app, &course, &ben).await;
        assert_eq!(ben_booking["status"], "waitlisted");
        let other_booking = bk_book_ok(&app, &other, &fay).await["id"].as_str().unwrap().to_string();
        let bookings = || bk_count(&app, "SELECT COUNT(*) AS n FROM bookings WHERE status <> 'cancelled'");
        let before = bookings().await;

        let list = format!("/admin/courses/{course}/bookings");
        let cancel = format!("{list}/{ann_booking}/cancel");
        // Signed out: to sign in.
        let r = as_browser(&app, Method::GET, &list, None).send().await.unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(location(&r), crate::helpers::sign_in_location(&list));
        for roles in [vec![], vec![Role::SchoolLead], vec![Role::CourseLead], vec![Role::CpdGroup]] {
            let who = bk_person(&app, "Not Admin", Some(&w.school_a), None, &roles).await;
            let cookie = crate::browser::web_session_cookie(&app, &who.id).await;
            for path in [&list, &cancel] {
                let r = as_browser(&app, Method::GET, path, Some(&cookie))
                    .header("accept", "text/html")
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 403, "GET {path} as {roles:?}");
                assert!(r.text().await.unwrap().contains("You cannot do this"));
            }
            let r = post_form(&app, &cookie, &list, &[("person_id", fay.id.clone()), ("override", "yes".into())]).await;
            assert_eq!(r.status(), 403, "book as {roles:?}");
            let r = post_form(&app, &cookie, &cancel, &[("reason", "Not mine".into())]).await;
            assert_eq!(r.status(), 403, "cancel as {roles:?}");
        }
        assert_eq!(bookings().await, before, "nothing was booked or cancelled");

        let admin = crate::browser::web_session_cookie(&app, &app.admin_id()).await;
        // Another site cannot make the admin's browser book or cancel.
        for (path, form) in [
            (&list, vec![("person_id", fay.id.clone()), ("override", "yes".to_string())]),
            (&cancel, vec![("reason", "Forged".to_string())]),
        ] {
            let r = app
                .client
                .post(format!("{}{path}", app.address))
                .header("cookie", format!("cpd_session={admin}"))
                .header("origin", "https://elsewhere.example")
                .form(&form)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 403, "POST {path} from another site");
        }
        assert_eq!(bookings().await, before);
        assert_eq!(bk_get(&app, &ann_booking).await["status"], "confirmed");

        // The page lists and counts them.
        let html = page_text(&app, &list, Some(&admin)).await;
        let text = visible_text(&html);
        assert!(text.contains("Ann Placed") && text.contains("Waiting: number 1"), "{text}");
        let session = bk_course_get(&app, &course).await["sessions"][0]["id"].as_str().unwrap().to_string();
        assert!(html.contains(&format!("/sessions/{session}/register#walk-in")), "links to the register");

        // Nothing chosen, no one found, a booking of another course, no reason: each named,
        // nothing changed.
        let r = post_form(&app, &admin, &list, &[("q", String::new())]).await;
        assert_eq!(r.status(), 422);
        let html = r.text().await.unwrap();
        assert!(visible_text(&html).contains("Enter a name or email address"), "{html}");
        assert!(html.contains("href=\"#q\""));
        let r = as_browser(&app, Method::GET, &format!("{list}?q=nobody-at-all"), Some(&admin)).send().await.unwrap();
        assert_eq!(r.status(), 422);
        assert!(visible_text(&r.text().await.unwrap()).contains("No one's name or email address contains"));
        let r = post_form(&app, &admin, &list, &[("q", "Ann".into()), ("person_id", ann.id.clone())]).await;
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("id=\"person-error\""));
        let r = as_browser(&app, Method::GET, &format!("{list}/{other_booking}/cancel"), Some(&admin)).send().await.unwrap();
        assert_eq!(r.status(), 404, "a booking of another course");
        let r = post_form(&app, &admin, &format!("{list}/{other_booking}/cancel"), &[("reason", "Wrong course".into())]).await;
        assert_eq!(r.status(), 404);
        let r = post_form(&app, &admin, &cancel, &[("reason", "   ".into())]).await;
        assert_eq!(r.status(), 422);
        assert!(visible_text(&r.text().await.unwrap()).contains("Enter why the booking is cancelled"));
        let r = post_form(&app, &admin, &cancel, &[("reason", "x".repeat(1001))]).await;
        assert_eq!(r.status(), 422);
        assert_eq!(bookings().await, before);
        assert_eq!(bk_get(&app, &other_booking).await["status"], "confirmed");

        // Without "past the rules" the course's rules apply: Fay waits.
        let r = post_form(&app, &admin, &list, &[("q", "Fay".into()), ("person_id", fay.id.clone())]).await;
        assert_eq!(r.status(), 303);
        let to = location(&r);
        assert!(to.starts_with(&format!("{list}?done=booked&b=")), "{to}");
        let text = visible_text(&page_text(&app, &to, Some(&admin)).await);
        assert!(text.contains("Fay Later is on the waiting list at number 2"), "{text}");
    }
}

crate::both_backends! {
    /// Issue 22 item 4: a walk-in an admin adds to a locked register is written to the audit
    /// log, like the admin's other changes to a locked register: for someone new and for
    /// someone already holding a place, through the API (the register page calls the same
    /// store function).
    async fn walk_ins_on_a_locked_register_are_audited(app: TestApp) {
        let w = bk_world(&app).await;
        let course = bk_course(&app, &w, "Attendance matters", 5, |_| {}).await;
        let ann = bk_person(&app, "Ann Placed", Some(&w.school_a), None, &[]).await;
        let ann_booking = bk_book_ok(&app, &course, &ann).await["id"].as_str().unwrap().to_string();
        let session = bk_course_get(&app, &course).await["sessions"][0]["id"].as_str().unwrap().to_string();
        end_course_days_ago(&app, &course, 20).await;
        let admin = Who { id: app.admin_id(), token: app.admin_token.clone() };
        let path = format!("/api/v1/sessions/{session}/walk-ins");

        // Someone new: booked past the rules and marked present.
        let walk = expect_json(
            app.post(&path, admin.t(), &json!({"name": "Nia Newcomer", "email": "nia@school.test"})).await,
            201,
        )
        .await;
        assert_eq!(walk["register"]["session"]["locked"], true);
        let nia_booking = walk["booking"]["id"].as_str().unwrap().to_string();
        let audit = audit_details(&app, "attendance.override", &session).await;
        assert_eq!(audit.len(), 1, "{audit:?}");
        assert_eq!(audit[0]["walk_in"], true);
        assert_eq!(audit[0]["changes"][0]["booking_id"], nia_booking.as_str());
        assert_eq!(audit[0]["changes"][0]["from"], serde_json::Value::Null);
        assert_eq!(audit[0]["changes"][0]["to"], "present");

        // Someone holding a place, not yet marked: marked present, audited too.
        let walk = expect_json(app.post(&path, admin.t(), &json!({"person_id": ann.id})).await, 200).await;
        assert_eq!(walk["booked"], false);
        let audit = audit_details(&app, "attendance.override", &session).await;
        assert_eq!(audit.len(), 2, "{audit:?}");
        assert!(audit.iter().any(|a| a["changes"][0]["booking_id"] == ann_booking.as_str()), "{audit:?}");

        // Nothing changes the second time: nothing more is audited.
        expect_json(app.post(&path, admin.t(), &json!({"person_id": ann.id})).await, 200).await;
        assert_eq!(audit_details(&app, "attendance.override", &session).await.len(), 2);
    }
}
