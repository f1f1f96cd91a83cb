//! The admin's course pages. In headless Chromium, an admin signs in through the emailed link,
//! creates a three-session course with two leads on one form ("Add another session", "Find"
//! a lead), publishes it; a member of staff books it; the admin moves a session an hour later
//! and the person booked gets one updated calendar entry, then cancels the course after a page
//! that says how many people will be emailed, and each person booked gets one cancellation.
//! Over plain HTTP: a form with mistakes names each one and changes nothing, "Add another
//! session" keeps what was typed, and the pages are for admins only.

use std::time::Duration;

use cpd_hub::domain::roles::Role;
use mail_parser::MimeHeaders;
use reqwest::Method;
use serde_json::Value;

use crate::booking_support::{bk_book_ok, bk_course, bk_course_get, bk_person, bk_text, bk_world};
use crate::browser::{keys, Browser};
use crate::email::{parse, spawn_with_sink};
use crate::helpers::{as_browser, location, page_text, visible_text, Backend, TestApp};
use crate::smtp_sink::SmtpSink;

const WAIT: Duration = Duration::from_secs(20);

/// Messages to `to` whose subject starts with `subject`, as received so far.
fn mails_to(sink: &SmtpSink, to: &str, subject: &str) -> Vec<(String, Option<String>)> {
    sink.messages()
        .iter()
        .filter(|m| m.rcpt_to.iter().any(|r| r == to))
        .filter_map(|m| {
            let mail = parse(m);
            if !mail.subject().is_some_and(|s| s.starts_with(subject)) {
                return None;
            }
            let text = mail.text_part(0)?.text_contents()?.to_string();
            let ics = (0..mail.attachment_count() as u32)
                .filter_map(|i| mail.attachment(i))
                .find(|a| a.attachment_name().is_some_and(|n| n.ends_with(".ics")))
                .map(|a| String::from_utf8_lossy(a.contents()).to_string());
            Some((text, ics))
        })
        .collect()
}

/// Waits for the `n`th message to `to` whose subject starts with `subject`; all of them.
async fn wait_mails(
    sink: &SmtpSink,
    to: &str,
    subject: &str,
    n: usize,
) -> Vec<(String, Option<String>)> {
    let start = std::time::Instant::now();
    loop {
        let found = mails_to(sink, to, subject);
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

/// The SEQUENCE of the first event of an iCalendar text.
fn sequence(ics: &str) -> i64 {
    ics.lines()
        .find_map(|l| l.trim().strip_prefix("SEQUENCE:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no SEQUENCE in {ics}"))
}

/// Sets a field's value as a date or time picker would (typing into them depends on the
/// browser's locale).
async fn set_value(browser: &Browser, css: &str, value: &str) {
    let e = browser.find(css).await;
    browser
        .execute(
            "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('change'));",
            vec![e.to_arg(), Value::String(value.to_string())],
        )
        .await;
}

/// The id in `/admin/courses/{id}?...`.
fn course_id_in(url: &str) -> String {
    let rest = url.split("/admin/courses/").nth(1).expect("a course page");
    rest.split(['?', '/', '#']).next().unwrap().to_string()
}

/// A date `days` from today, as the form's date fields take it.
fn day_in(days: i64) -> String {
    (chrono::Utc::now().date_naive() + chrono::Duration::days(days)).to_string()
}

async fn screenshot(browser: &Browser, name: &str, width: u32) {
    browser.set_window_size(width, 3000).await;
    browser.execute("window.scrollTo(0, 0);", vec![]).await;
    browser.save_screenshot(&format!("{name}-{width}")).await;
}

crate::each_backend!(
    an_admin_creates_publishes_changes_and_cancels_a_course_in_a_browser,
    admin_runs_a_course
);

async fn admin_runs_a_course(backend: Backend) {
    let Some(browser) = Browser::start_sized(1280, 1000).await else {
        return;
    };
    let sink = SmtpSink::start().await;
    let app = spawn_with_sink(backend, &sink, |s| {
        s.public_base_url = format!("http://{}", s.bind)
    })
    .await;
    let w = bk_world(&app).await;
    // Other courses, so the list has rows of each kind.
    bk_course(&app, &w, "Leading a team through change", 20, |_| {}).await;
    let lead_one = bk_person(&app, "Lou Trainer", None, None, &[Role::CourseLead]).await;
    let lead_two = bk_person(&app, "Max Trainer", None, None, &[Role::CourseLead]).await;
    let email_of = |id: String| {
        let app = &app;
        async move {
            bk_text(
                app,
                &format!("SELECT email AS t FROM people WHERE id = '{id}'"),
            )
            .await
        }
    };
    let lead_two_email = email_of(lead_two.id.clone()).await;
    let staff = bk_person(&app, "Sam Staff", Some(&w.school_a), None, &[]).await;
    let staff_email = email_of(staff.id.clone()).await;

    // The admin signs in through the emailed link.
    browser.goto(&format!("{}/", app.address)).await;
    browser
        .find("#email")
        .await
        .type_text("admin@alliance.test")
        .await;
    browser.press(keys::ENTER).await;
    browser.wait_for("h1", WAIT).await;
    let text = wait_mails(&sink, "admin@alliance.test", "Your sign-in link", 1).await[0]
        .0
        .clone();
    let link = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(&format!("{}/auth/magic?token=", app.address)))
        .expect("a sign-in link")
        .to_string();
    browser.goto(&link).await;
    let sign_in = browser.find("main button[type=submit]").await;
    browser.click_and_wait(&sign_in).await;

    // The menu has the admin's course pages, under "Admin"; the list shows every course.
    browser.find(".site-nav__more summary").await.click().await;
    let menu = browser.find(".site-nav--wide").await.text().await;
    assert!(menu.contains("Manage courses"), "{menu}");
    let manage = browser
        .find(".site-nav--wide a[href='/admin/courses']")
        .await;
    browser.click_and_wait(&manage).await;
    assert_eq!(browser.find("h1").await.text().await, "Manage courses");
    browser.assert_accessible("admin course list").await;
    let add = browser.find("#new-course").await;
    browser.click_and_wait(&add).await;
    browser.assert_accessible("new course form").await;

    // The course, with its first session.
    browser
        .find("#title")
        .await
        .type_text("Adaptive teaching for pupils with SEND")
        .await;
    browser
        .find("#summary")
        .await
        .type_text("Practical strategies for mainstream classrooms.")
        .await;
    set_value(&browser, "#provider_id", &w.fx.provider_id).await;
    browser
        .find(&format!("#priority-{}", w.fx.priorities["send"]))
        .await
        .click()
        .await;
    browser.find("#capacity").await.type_text("12").await;
    let dates = [day_in(40), day_in(47), day_in(54)];
    set_value(&browser, "#sessions-0-date", &dates[0]).await;
    set_value(&browser, "#sessions-0-start", "09:00").await;
    set_value(&browser, "#sessions-0-end", "12:00").await;
    browser
        .find("#sessions-0-venue-name")
        .await
        .type_text("Barnsley Teaching Hub")
        .await;
    browser
        .find("#sessions-0-venue-postcode")
        .await
        .type_text("s702hz")
        .await;

    // Two more sessions: each "Add another session" keeps everything typed.
    for i in 1..3 {
        let add = browser.find("#add-session").await;
        browser.click_and_wait(&add).await;
        assert_eq!(
            browser.find("#title").await.property("value").await,
            "Adaptive teaching for pupils with SEND",
            "the form keeps what was typed"
        );
        assert_eq!(
            browser
                .find("#sessions-0-date")
                .await
                .property("value")
                .await,
            dates[0].as_str()
        );
        // The new session starts at the same venue.
        assert_eq!(
            browser
                .find(&format!("#sessions-{i}-venue-name"))
                .await
                .property("value")
                .await,
            "Barnsley Teaching Hub"
        );
        assert!(browser
            .current_url()
            .await
            .ends_with(&format!("#session-{i}")));
        set_value(&browser, &format!("#sessions-{i}-date"), &dates[i]).await;
        set_value(&browser, &format!("#sessions-{i}-start"), "09:00").await;
        set_value(&browser, &format!("#sessions-{i}-end"), "12:00").await;
    }
    browser
        .assert_accessible("new course form, three sessions")
        .await;
    screenshot(&browser, "admin-course-form", 1280).await;
    screenshot(&browser, "admin-course-form", 320).await;
    browser.assert_fits("new course form at 320 px").await;
    browser.set_window_size(1280, 1000).await;

    // Two leads, found by name and by email address.
    browser
        .find("#lead_search")
        .await
        .type_text("Lou Trainer")
        .await;
    let find = browser.find("#find-lead").await;
    browser.click_and_wait(&find).await;
    let notice = browser.find("#form-notice").await.text().await;
    assert!(notice.contains("Lou Trainer is now a lead"), "{notice}");
    browser
        .find("#lead_search")
        .await
        .type_text(&lead_two_email)
        .await;
    let find = browser.find("#find-lead").await;
    browser.click_and_wait(&find).await;
    let chosen = browser.find("#chosen-leads").await.text().await;
    assert!(
        chosen.contains("Lou Trainer") && chosen.contains("Max Trainer"),
        "{chosen}"
    );
    browser
        .assert_accessible("new course form, leads chosen")
        .await;

    let save = browser.find("#save-course").await;
    browser.click_and_wait(&save).await;
    let url = browser.current_url().await;
    assert!(url.contains("done=created"), "{url}");
    let id = course_id_in(&url);
    browser.assert_accessible("course admin page, draft").await;
    let course = bk_course_get(&app, &id).await;
    assert_eq!(course["status"], "draft");
    assert_eq!(course["sessions"].as_array().unwrap().len(), 3);
    assert_eq!(course["capacity"], 12);
    assert_eq!(course["sessions"][0]["venue"]["postcode"], "S70 2HZ");
    let mut leads: Vec<&str> = course["leads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    leads.sort();
    let mut want = vec![lead_one.id.as_str(), lead_two.id.as_str()];
    want.sort();
    assert_eq!(leads, want);
    // Times were entered in London time.
    let first_start = course["sessions"][0]["local_start"].as_str().unwrap();
    assert!(
        first_start.starts_with(&format!("{}T09:00:00", dates[0])),
        "{first_start}"
    );

    // Publish.
    let publish = browser.find("#publish").await;
    browser.click_and_wait(&publish).await;
    assert!(browser.current_url().await.contains("done=published"));
    assert_eq!(bk_course_get(&app, &id).await["status"], "published");
    browser
        .assert_accessible("course admin page, published")
        .await;
    screenshot(&browser, "admin-course-page", 1280).await;
    screenshot(&browser, "admin-course-page", 320).await;
    browser.assert_fits("course admin page at 320 px").await;
    browser.set_window_size(1280, 1000).await;

    // A member of staff books it; their confirmation carries the calendar entry.
    let booking = bk_book_ok(&app, &id, &staff).await;
    assert_eq!(booking["status"], "confirmed");
    let confirmed = wait_mails(&sink, &staff_email, "Your place is confirmed", 1).await;
    let first_sequence = sequence(confirmed[0].1.as_deref().expect("an .ics"));

    // The list counts the booking.
    browser
        .goto(&format!("{}/admin/courses?q=adaptive", app.address))
        .await;
    let row = browser.find(&format!("#course-{id}")).await.text().await;
    assert!(row.contains("Published") && row.contains("12"), "{row}");
    let cells: Vec<String> = {
        let mut v = Vec::new();
        for c in browser.find_all(&format!("#course-{id} td.num")).await {
            v.push(c.text().await);
        }
        v
    };
    assert_eq!(
        cells,
        ["12", "1", "0", "0"],
        "places, confirmed, waiting, pending"
    );
    browser
        .assert_accessible("admin course list, filtered")
        .await;

    // The admin moves the second session an hour later on the edit page.
    browser
        .goto(&format!("{}/admin/courses/{id}/edit", app.address))
        .await;
    let notice = browser.find("#booked-notice").await.text().await;
    assert!(
        notice.contains("1 person holds a place") && notice.contains("updated calendar entry"),
        "{notice}"
    );
    browser
        .assert_accessible("edit form, published and booked")
        .await;
    // A mistake first: named at the top and beside the field, and nothing changes.
    browser.find("#capacity").await.clear().await;
    browser.find("#capacity").await.type_text("0").await;
    set_value(&browser, "#sessions-2-end", "08:00").await;
    let save = browser.find("#save-course").await;
    browser.click_and_wait(&save).await;
    let summary = browser.find(".error-summary").await.text().await;
    assert!(
        summary.contains("Places: must be from 1 to")
            && summary.contains("Session 3, end time: must be after the start"),
        "{summary}"
    );
    assert!(browser
        .find("#capacity-error")
        .await
        .text()
        .await
        .contains("Places"));
    browser.assert_accessible("edit form with mistakes").await;
    screenshot(&browser, "admin-course-form-errors", 1280).await;
    screenshot(&browser, "admin-course-form-errors", 320).await;
    browser
        .assert_fits("edit form with mistakes at 320 px")
        .await;
    browser.set_window_size(1280, 1000).await;
    assert_eq!(bk_course_get(&app, &id).await["capacity"], 12);
    browser
        .goto(&format!("{}/admin/courses/{id}/edit", app.address))
        .await;
    set_value(&browser, "#sessions-1-start", "10:00").await;
    set_value(&browser, "#sessions-1-end", "13:00").await;
    let save = browser.find("#save-course").await;
    browser.click_and_wait(&save).await;
    assert!(browser.current_url().await.contains("done=saved"));
    let done = browser.find("#done").await.text().await;
    assert!(
        done.contains("1 person holding a place was sent an updated calendar entry"),
        "{done}"
    );
    let course = bk_course_get(&app, &id).await;
    assert!(course["sessions"][1]["local_start"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{}T10:00:00", dates[1])));
    let changed = wait_mails(&sink, &staff_email, "Course changed", 1).await;
    let new_sequence = sequence(changed[0].1.as_deref().expect("an updated .ics"));
    assert!(
        new_sequence > first_sequence,
        "SEQUENCE {new_sequence} after {first_sequence}"
    );

    // Cancelling: the page says how many people will be emailed first.
    let cancel = browser.find("#cancel-course").await;
    browser.click_and_wait(&cancel).await;
    let count = browser.find("#cancel-count").await.text().await;
    assert!(count.contains("1 person will be emailed"), "{count}");
    browser.assert_accessible("cancel confirmation").await;
    // No reason: the page says so and nothing is cancelled.
    let confirm = browser.find("#confirm-cancel").await;
    browser.click_and_wait(&confirm).await;
    let summary = browser.find(".error-summary").await.text().await;
    assert!(summary.contains("must not be empty"), "{summary}");
    assert_eq!(bk_course_get(&app, &id).await["status"], "published");
    browser
        .assert_accessible("cancel confirmation, no reason")
        .await;
    browser
        .find("#reason")
        .await
        .type_text("The trainer is ill; we will run it again in the summer term.")
        .await;
    let confirm = browser.find("#confirm-cancel").await;
    browser.click_and_wait(&confirm).await;
    assert!(browser.current_url().await.contains("done=cancelled"));
    assert_eq!(bk_course_get(&app, &id).await["status"], "cancelled");
    let cancelled = wait_mails(&sink, &staff_email, "Course cancelled", 1).await;
    assert!(
        cancelled[0].0.contains("The trainer is ill"),
        "{}",
        cancelled[0].0
    );
    browser
        .assert_accessible("course admin page, cancelled")
        .await;

    // The list at desktop and phone widths.
    browser
        .goto(&format!("{}/admin/courses", app.address))
        .await;
    screenshot(&browser, "admin-courses", 1280).await;
    screenshot(&browser, "admin-courses", 320).await;
    browser.assert_fits("admin course list at 320 px").await;
    browser
        .assert_accessible("admin course list at 320 px")
        .await;

    // Exactly one of each email: the page saved the course in one go.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(mails_to(&sink, &staff_email, "Course changed").len(), 1);
    assert_eq!(mails_to(&sink, &staff_email, "Course cancelled").len(), 1);
}

/// The audit entries of a course: (action, detail).
async fn audit_of(app: &TestApp, course_id: &str) -> Vec<String> {
    let id = course_id.to_string();
    crate::calendar_support::cal_db(app, move |conn| {
        use cpd_hub::db::schema::audit_log;
        use diesel::prelude::*;
        audit_log::table
            .filter(audit_log::subject_id.eq(id))
            .select(audit_log::action)
            .load::<String>(conn)
            .unwrap()
    })
    .await
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
    /// Mistakes are named at the top (linking to each field) and beside each field, with
    /// what was typed kept, and nothing is saved; the buttons that change the form keep
    /// everything; non-admins cannot use the pages.
    async fn the_course_form_names_mistakes_and_changes_nothing(app: TestApp) {
        let w = bk_world(&app).await;
        let admin = crate::browser::web_session_cookie(&app, &app.admin_id()).await;
        let courses_before = bk_text(&app, "SELECT CAST(COUNT(*) AS TEXT) AS t FROM courses").await;

        // A new course with several mistakes.
        let day = day_in(30);
        let form = vec![
            ("title", "   ".to_string()),
            ("provider_id", w.fx.provider_id.clone()),
            ("format", "in_person".into()),
            ("capacity", "twelve".into()),
            ("sessions[0].date", day.clone()),
            ("sessions[0].start", "14:00".into()),
            ("sessions[0].end", "13:00".into()),
            ("sessions[0].venue.name", "Hub".into()),
            ("action", "save".into()),
        ];
        let r = post_form(&app, &admin, "/admin/courses/new", &form).await;
        assert_eq!(r.status(), 422);
        let html = r.text().await.unwrap();
        let text = visible_text(&html);
        assert!(text.contains("There is a problem"), "{text}");
        assert!(html.contains("href=\"#capacity\""), "the summary links to the field");
        assert!(text.contains("Places: must be a whole number"), "{text}");
        assert!(html.contains("id=\"capacity-error\""));
        assert!(html.contains("value=\"twelve\""), "what was typed is kept");
        // With the number put right, the rules speak: the title and the session's end.
        let mut form = form;
        form[3].1 = "12".into();
        let r = post_form(&app, &admin, "/admin/courses/new", &form).await;
        assert_eq!(r.status(), 422);
        let html = r.text().await.unwrap();
        let text = visible_text(&html);
        assert!(text.contains("Title: must not be empty"), "{text}");
        assert!(text.contains("Session 1, end time: must be after the start"), "{text}");
        assert!(html.contains("href=\"#sessions-0-end\""));
        assert!(html.contains("href=\"#title\""));
        assert!(html.contains("<title>Error: Add a course"));
        let courses_after = bk_text(&app, "SELECT CAST(COUNT(*) AS TEXT) AS t FROM courses").await;
        assert_eq!(courses_before, courses_after, "nothing was created");

        // "Add another session" keeps everything and adds an empty session.
        form[8].1 = "add_session".into();
        let r = post_form(&app, &admin, "/admin/courses/new", &form).await;
        assert_eq!(r.status(), 200);
        let html = r.text().await.unwrap();
        assert!(html.contains("name=\"sessions[1].date\""));
        assert!(html.contains(&format!("value=\"{day}\"")));
        assert!(!html.contains("There is a problem"), "adding a session checks nothing yet");
        // "Remove" takes one away.
        form[8].1 = "remove-0".into();
        let html = post_form(&app, &admin, "/admin/courses/new", &form).await.text().await.unwrap();
        assert!(!html.contains("name=\"sessions[0].date\""));

        // An edit with a mistake changes nothing on a published, booked course.
        // Its session starts at a time with seconds, as the API may set one.
        let course = bk_course(&app, &w, "Phonics for early readers", 10, |b| {
            b["sessions"] = serde_json::json!([crate::calendar_support::cal_session(
                &format!("{day}T09:00:27Z"),
                &format!("{day}T12:00:27Z"),
            )]);
        })
        .await;
        let staff = bk_person(&app, "Sam Staff", Some(&w.school_a), None, &[]).await;
        bk_book_ok(&app, &course, &staff).await;
        let before = bk_course_get(&app, &course).await;
        let audit_before = audit_of(&app, &course).await;
        let edit = page_text(&app, &format!("/admin/courses/{course}/edit"), Some(&admin)).await;
        assert!(edit.contains("1 person holds"), "the page warns of the emails");
        let session = before["sessions"][0]["id"].as_str().unwrap().to_string();
        let local = before["sessions"][0]["local_start"].as_str().unwrap();
        let form = vec![
            ("title", "Phonics for early readers".to_string()),
            ("provider_id", w.fx.provider_id.clone()),
            ("format", "in_person".into()),
            ("capacity", "0".into()),
            ("sessions[0].id", session.clone()),
            ("sessions[0].date", local[..10].to_string()),
            ("sessions[0].start", "10:00".into()),
            ("sessions[0].end", "12:00".into()),
            ("sessions[0].venue.name", "Hub".into()),
        ];
        let r = post_form(&app, &admin, &format!("/admin/courses/{course}/edit"), &form).await;
        assert_eq!(r.status(), 422);
        let text = visible_text(&r.text().await.unwrap());
        assert!(text.contains("Places: must be from 1 to"), "{text}");
        let after = bk_course_get(&app, &course).await;
        assert_eq!(before["sessions"], after["sessions"]);
        assert_eq!(before["revision"], after["revision"]);
        assert_eq!(audit_before, audit_of(&app, &course).await, "no audit entry");
        let changed = bk_text(
            &app,
            "SELECT CAST(COUNT(*) AS TEXT) AS t FROM outbox WHERE kind = 'course_changed'",
        )
        .await;
        assert_eq!(changed, "0", "no one was emailed");

        // Saved as it was, nothing changes and no one is emailed.
        let mut form = form;
        form[3].1 = "10".into();
        let start = chrono::DateTime::parse_from_rfc3339(local).unwrap();
        form[6].1 = start.format("%H:%M").to_string();
        let end = chrono::DateTime::parse_from_rfc3339(
            before["sessions"][0]["local_end"].as_str().unwrap(),
        )
        .unwrap();
        form[7].1 = end.format("%H:%M").to_string();
        form[8].1 = before["sessions"][0]["venue"]["name"].as_str().unwrap().to_string();
        form.push(("sessions[0].venue.address", before["sessions"][0]["venue"]["address"].as_str().unwrap().to_string()));
        form.push(("sessions[0].venue.postcode", before["sessions"][0]["venue"]["postcode"].as_str().unwrap().to_string()));
        form.push(("summary", before["summary"].as_str().unwrap().to_string()));
        for p in before["priorities"].as_array().unwrap() {
            form.push(("priority_ids", p["id"].as_str().unwrap().to_string()));
        }
        let r = post_form(&app, &admin, &format!("/admin/courses/{course}/edit"), &form).await;
        assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
        assert_eq!(location(&r), format!("/admin/courses/{course}?done=saved&told=0"));
        let after = bk_course_get(&app, &course).await;
        assert_eq!(before["sessions"], after["sessions"]);
        assert_eq!(before["revision"], after["revision"]);

        // Publishing a course without sessions names what is missing.
        let r = post_form(&app, &admin, "/admin/courses/new", &[
            ("title", "No sessions yet".to_string()),
            ("provider_id", w.fx.provider_id.clone()),
            ("format", "in_person".into()),
            ("capacity", "5".into()),
        ]).await;
        assert_eq!(r.status(), 303);
        let draft = location(&r).split('/').nth(3).unwrap().split('?').next().unwrap().to_string();
        let r = post_form(&app, &admin, &format!("/admin/courses/{draft}/publish"), &[]).await;
        assert_eq!(r.status(), 422);
        let text = visible_text(&r.text().await.unwrap());
        assert!(text.contains("Sessions: a course needs at least one session"), "{text}");
    }
}

crate::both_backends! {
    /// The admin's course pages are for admins: someone signed out is sent to sign in,
    /// everyone else is refused, and the menu offers them to admins only.
    async fn only_admins_manage_courses(app: TestApp) {
        let w = bk_world(&app).await;
        let course = bk_course(&app, &w, "Phonics for early readers", 10, |_| {}).await;
        let r = as_browser(&app, Method::GET, "/admin/courses", None)
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(location(&r), crate::helpers::sign_in_location("/admin/courses"));
        for roles in [vec![], vec![Role::SchoolLead], vec![Role::CourseLead], vec![Role::CpdGroup]] {
            let who = bk_person(&app, "Not Admin", Some(&w.school_a), None, &roles).await;
            let cookie = crate::browser::web_session_cookie(&app, &who.id).await;
            for path in [
                "/admin/courses".to_string(),
                "/admin/courses/new".to_string(),
                format!("/admin/courses/{course}"),
                format!("/admin/courses/{course}/edit"),
                format!("/admin/courses/{course}/cancel"),
            ] {
                let r = as_browser(&app, Method::GET, &path, Some(&cookie))
                    .header("accept", "text/html")
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 403, "GET {path} as {roles:?}");
                assert!(r.text().await.unwrap().contains("You cannot do this"));
            }
            let r = post_form(&app, &cookie, &format!("/admin/courses/{course}/cancel"), &[
                ("reason", "Not mine to cancel".to_string()),
            ]).await;
            assert_eq!(r.status(), 403);
            let home = page_text(&app, "/my/bookings", Some(&cookie)).await;
            assert!(!home.contains("/admin/courses"), "no menu link for {roles:?}");
        }
        assert_eq!(bk_course_get(&app, &course).await["status"], "published");
        let admin = crate::browser::web_session_cookie(&app, &app.admin_id()).await;
        // Another site cannot make an admin's browser cancel a course.
        let r = app
            .client
            .post(format!("{}/admin/courses/{course}/cancel", app.address))
            .header("cookie", format!("cpd_session={admin}"))
            .header("origin", "https://elsewhere.example")
            .form(&[("reason", "Forged")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        assert_eq!(bk_course_get(&app, &course).await["status"], "published");
        let list = page_text(&app, "/admin/courses", Some(&admin)).await;
        assert!(list.contains("href=\"/admin/courses\">Manage courses"));
        assert!(list.contains("Phonics for early readers"));
    }
}

crate::both_backends! {
    /// A session that runs past midnight: the form takes the day it ends, and shows it again.
    async fn a_session_may_end_after_midnight(app: TestApp) {
        let w = bk_world(&app).await;
        let admin = crate::browser::web_session_cookie(&app, &app.admin_id()).await;
        let day = day_in(40);
        let next_day = day_in(41);
        let mut form = vec![
            ("title", "Stargazing for science leads".to_string()),
            ("provider_id", w.fx.provider_id.clone()),
            ("format", "in_person".into()),
            ("capacity", "12".into()),
            ("sessions[0].date", day.clone()),
            ("sessions[0].start", "22:00".into()),
            ("sessions[0].end", "01:30".into()),
            ("sessions[0].venue.name", "Observatory".into()),
            ("action", "save".into()),
        ];
        // Without the end date, the end is before the start, and the page says so.
        let r = post_form(&app, &admin, "/admin/courses/new", &form).await;
        assert_eq!(r.status(), 422);
        let text = visible_text(&r.text().await.unwrap());
        assert!(text.contains("Session 1, end time: must be after the start"), "{text}");
        form.push(("sessions[0].end_date", "the next day".into()));
        let r = post_form(&app, &admin, "/admin/courses/new", &form).await;
        assert_eq!(r.status(), 422);
        let html = r.text().await.unwrap();
        assert!(visible_text(&html).contains("Session 1, end date: must be a date"), "{html}");
        assert!(html.contains("href=\"#sessions-0-end_date\""));
        form.last_mut().unwrap().1 = next_day.clone();
        let r = post_form(&app, &admin, "/admin/courses/new", &form).await;
        assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
        let id = location(&r).split('/').nth(3).unwrap().split('?').next().unwrap().to_string();
        let course = bk_course_get(&app, &id).await;
        let session = &course["sessions"][0];
        assert!(session["local_start"].as_str().unwrap().starts_with(&format!("{day}T22:00:00")), "{session}");
        assert!(session["local_end"].as_str().unwrap().starts_with(&format!("{next_day}T01:30:00")), "{session}");
        let edit = page_text(&app, &format!("/admin/courses/{id}/edit"), Some(&admin)).await;
        assert!(edit.contains(&format!("name=\"sessions[0].end_date\" type=\"date\" value=\"{next_day}\"")), "the edit form shows the end date");
    }
}
