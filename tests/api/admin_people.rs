//! The admin's people pages. In headless Chromium, an admin signs in through the emailed link,
//! finds a member of staff by their school's name, adds a person (a mistake first: named at
//! the top and beside the field, and no one is added), changes their school, staff group and
//! roles (audit-logged), downloads a member of staff's data (their bookings in it), and
//! erases them after a page that says what stays: their name is gone from the list and the
//! API, and the engagement report counts the same. Over plain HTTP: the form shows the API's
//! own 422 messages for the same input, the download is the API's export, and the pages are
//! for admins only, from cpd-hub's own pages only.

use std::time::Duration;

use cpd_hub::db::schema::audit_log;
use cpd_hub::domain::roles::Role;
use diesel::prelude::*;
use reqwest::Method;
use serde_json::{json, Value};

use crate::booking_support::{bk_book_ok, bk_count, bk_course, bk_person, bk_world};
use crate::browser::{keys, Browser};
use crate::email::{parse, spawn_with_sink};
use crate::helpers::{as_browser, location, page_text, visible_text, Backend, TestApp};
use crate::smtp_sink::SmtpSink;

const WAIT: Duration = Duration::from_secs(20);

/// How many audit entries of this action there are about this person.
async fn audited(app: &TestApp, action: &str, subject: &str) -> i64 {
    let (action, subject) = (action.to_string(), subject.to_string());
    app.with_db(move |c| {
        audit_log::table
            .filter(audit_log::action.eq(action))
            .filter(audit_log::subject_id.eq(subject))
            .count()
            .get_result(c)
            .unwrap()
    })
    .await
}

/// Sets a select's value as choosing an option does.
async fn choose(browser: &Browser, css: &str, value: &str) {
    let e = browser.find(css).await;
    browser
        .execute(
            "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('change'));",
            vec![e.to_arg(), Value::String(value.to_string())],
        )
        .await;
    assert_eq!(e.property("value").await, value, "{css} offers {value}");
}

/// The id in `/admin/people/{id}?...`.
fn person_id_in(url: &str) -> String {
    let rest = url.split("/admin/people/").nth(1).expect("a person's page");
    rest.split(['?', '/', '#']).next().unwrap().to_string()
}

async fn screenshot(browser: &Browser, name: &str, width: u32) {
    browser.set_window_size(width, 3000).await;
    browser.execute("window.scrollTo(0, 0);", vec![]).await;
    browser.save_screenshot(&format!("{name}-{width}")).await;
}

/// Looks at a page at desktop, tablet and phone widths: screenshots, no sideways scrolling at 320 px,
/// axe at both, and not over 3,000 px tall at desktop width.
async fn look_at(browser: &Browser, name: &str) {
    screenshot(browser, name, 1280).await;
    let height = browser
        .execute("return document.documentElement.scrollHeight;", vec![])
        .await;
    assert!(
        height.as_f64().unwrap() <= 3000.0,
        "{name} is {height} px tall"
    );
    screenshot(browser, name, 768).await;
    browser.assert_fits(&format!("{name} on a tablet")).await;
    screenshot(browser, name, 320).await;
    browser.assert_fits(&format!("{name} at 320 px")).await;
    browser
        .assert_accessible(&format!("{name} at 320 px"))
        .await;
    browser.set_window_size(1280, 1000).await;
}

/// The engagement report by school over the next three months, as the admin reads it.
async fn engagement(app: &TestApp) -> Value {
    let today = chrono::Utc::now().date_naive();
    let to = today + chrono::Days::new(90);
    let mut report = app
        .admin_get(&format!(
            "/api/v1/reports/engagement?from={today}&to={to}&group_by=school"
        ))
        .await;
    // When it was worked out is not a figure.
    if let Some(o) = report.as_object_mut() {
        o.remove("generated_at");
        o.remove("as_of");
    }
    report
}

/// The text of the sign-in link emailed to the admin, once it has come.
async fn sign_in_mail(sink: &SmtpSink) -> String {
    let start = std::time::Instant::now();
    loop {
        let found = sink.messages().iter().find_map(|m| {
            if !m.rcpt_to.iter().any(|r| r == "admin@alliance.test") {
                return None;
            }
            let mail = parse(m);
            if !mail
                .subject()
                .is_some_and(|s| s.starts_with("Your sign-in link"))
            {
                return None;
            }
            mail.text_part(0)?.text_contents().map(str::to_string)
        });
        if let Some(text) = found {
            return text;
        }
        assert!(start.elapsed() < WAIT, "no sign-in link came");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

crate::each_backend!(
    an_admin_finds_adds_changes_exports_and_erases_people_in_a_browser,
    admin_manages_people
);

async fn admin_manages_people(backend: Backend) {
    let Some(browser) = Browser::start_sized(1280, 1000).await else {
        return;
    };
    let sink = SmtpSink::start().await;
    let app = spawn_with_sink(backend, &sink, |s| {
        s.public_base_url = format!("http://{}", s.bind)
    })
    .await;
    let w = bk_world(&app).await;
    let teacher = crate::people::staff_group(&app, "teacher").await;
    let senco = crate::people::staff_group(&app, "senco").await;
    let priya = bk_person(&app, "Priya Patel", Some(&w.school_a), Some(&teacher), &[]).await;
    bk_person(&app, "Omar Other", Some(&w.school_c), None, &[]).await;
    let course = bk_course(&app, &w, "Phonics for early readers", 10, |_| {}).await;
    bk_book_ok(&app, &course, &priya).await;
    let report_before = engagement(&app).await;

    // The admin signs in through the emailed link.
    browser.goto(&format!("{}/", app.address)).await;
    browser
        .find("#email")
        .await
        .type_text("admin@alliance.test")
        .await;
    browser.press(keys::ENTER).await;
    browser.wait_for("h1", WAIT).await;
    let text = sign_in_mail(&sink).await;
    let link = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(&format!("{}/auth/magic?token=", app.address)))
        .expect("a sign-in link")
        .to_string();
    browser.goto(&link).await;
    let sign_in = browser.find("main button[type=submit]").await;
    browser.click_and_wait(&sign_in).await;

    // "People" is in the admin's menu (under "Admin").
    browser.find(".site-nav__more summary").await.click().await;
    let menu = browser
        .find(".site-nav--wide a[href='/admin/people']")
        .await;
    browser.click_and_wait(&menu).await;
    assert_eq!(browser.find("h1").await.text().await, "People");
    browser.assert_accessible("people list").await;
    let tabbed = browser.assert_focus_visible("people list").await;
    assert!(tabbed > 10, "only {tabbed} stops on the people list");
    look_at(&browser, "admin-people").await;

    // Found by their school's name.
    browser.find("#filter-q").await.type_text("hoyland").await;
    let find = browser.find("#find-people").await;
    browser.click_and_wait(&find).await;
    let row = browser
        .find(&format!("#person-{}", priya.id))
        .await
        .text()
        .await;
    assert!(
        row.contains("Priya Patel") && row.contains("Hoyland Common Primary"),
        "{row}"
    );
    let rows = browser.find_all("#admin-people tbody tr").await.len();
    assert_eq!(rows, 2, "Priya and her school's lead");
    assert!(!browser.source().await.contains("Omar Other"));
    browser.assert_accessible("people list, searched").await;
    // At phone width the table scrolls in its box and the names stay in view.
    browser.set_window_size(320, 1000).await;
    let kept = browser
        .execute(
            "const box = document.querySelector('.table-scroll'); box.scrollLeft = 250; \
             const name = box.querySelector('tbody th[scope=row]'); \
             return [box.scrollLeft, name.getBoundingClientRect().left - box.getBoundingClientRect().left];",
            vec![],
        )
        .await;
    assert!(
        kept[0].as_f64().unwrap() > 100.0,
        "the table scrolls: {kept}"
    );
    assert!(
        kept[1].as_f64().unwrap().abs() < 1.0,
        "the names stay in view: {kept}"
    );
    browser.set_window_size(1280, 1000).await;

    // Adding a person, with a mistake first.
    let people_before = bk_count(&app, "SELECT COUNT(*) AS n FROM people").await;
    browser.goto(&format!("{}/admin/people", app.address)).await;
    let add = browser.find("#new-person").await;
    browser.click_and_wait(&add).await;
    browser.assert_accessible("new person form").await;
    browser.find("#name").await.type_text("Jo Bloggs").await;
    browser.find("#email").await.type_text("jo.bloggs").await;
    choose(&browser, "#school_id", &w.school_a).await;
    let save = browser.find("#save-person").await;
    browser.click_and_wait(&save).await;
    let summary = browser.find(".error-summary").await.text().await;
    assert!(
        summary.contains("Email address: must be an email address"),
        "{summary}"
    );
    assert!(browser
        .find("#email-error")
        .await
        .text()
        .await
        .contains("must be an email address"));
    assert_eq!(
        browser.find("#name").await.property("value").await,
        "Jo Bloggs"
    );
    assert_eq!(
        browser.find("#school_id").await.property("value").await,
        w.school_a.as_str(),
        "the school chosen is kept"
    );
    assert_eq!(
        bk_count(&app, "SELECT COUNT(*) AS n FROM people").await,
        people_before,
        "no one was added"
    );
    browser.assert_accessible("new person form, mistake").await;
    look_at(&browser, "admin-person-form-errors").await;
    browser.find("#email").await.clear().await;
    browser
        .find("#email")
        .await
        .type_text("Jo.Bloggs@Hoyland.example")
        .await;
    choose(&browser, "#staff_group_id", &teacher).await;
    browser.find("#role-course_lead").await.click().await;
    let save = browser.find("#save-person").await;
    browser.click_and_wait(&save).await;
    let url = browser.current_url().await;
    assert!(url.contains("done=created"), "{url}");
    let jo = person_id_in(&url);
    let api = app.admin_get(&format!("/api/v1/people/{jo}")).await;
    assert_eq!(api["email"], "jo.bloggs@hoyland.example");
    assert_eq!(api["roles"], json!(["staff", "course_lead"]));
    browser.assert_accessible("person page, new").await;

    // Changing their school, staff group and roles.
    let roles_audited = audited(&app, "person.roles", &jo).await;
    let edit = browser.find("#edit-person").await;
    browser.click_and_wait(&edit).await;
    browser.assert_accessible("person form").await;
    assert_eq!(
        browser
            .find("#role-course_lead")
            .await
            .property("checked")
            .await,
        true
    );
    choose(&browser, "#school_id", &w.school_b).await;
    choose(&browser, "#staff_group_id", &senco).await;
    browser.find("#role-school_lead").await.click().await;
    let save = browser.find("#save-person").await;
    browser.click_and_wait(&save).await;
    assert!(browser.current_url().await.contains("done=saved"));
    assert_eq!(
        browser.find("#person-school").await.text().await,
        "Penistone St John's Primary"
    );
    assert_eq!(
        browser.find("#person-roles").await.text().await,
        "School CPD lead, Course lead"
    );
    let api = app.admin_get(&format!("/api/v1/people/{jo}")).await;
    assert_eq!(api["school"]["id"], w.school_b.as_str());
    assert_eq!(api["staff_group"]["id"], senco.as_str());
    assert_eq!(api["roles"], json!(["staff", "school_lead", "course_lead"]));
    assert_eq!(
        audited(&app, "person.roles", &jo).await,
        roles_audited + 1,
        "the role change is in the audit log"
    );

    // Priya's page: her booking and record; her data downloaded.
    browser
        .goto(&format!("{}/admin/people/{}", app.address, priya.id))
        .await;
    let bookings = browser.find("#person-bookings").await.text().await;
    assert!(
        bookings.contains("Phonics for early readers") && bookings.contains("Place confirmed"),
        "{bookings}"
    );
    browser
        .assert_accessible("person page with a booking")
        .await;
    look_at(&browser, "admin-person").await;
    let link = browser.find("#export-person").await;
    assert!(link.attribute("download").await.is_some());
    let href = link.attribute("href").await.unwrap();
    let got = browser
        .execute(
            "const x = new XMLHttpRequest(); x.open('GET', arguments[0], false); x.send(); \
             return [x.status, x.getResponseHeader('Content-Disposition'), x.responseText];",
            vec![Value::String(href)],
        )
        .await;
    assert_eq!(got[0], 200);
    assert!(
        got[1].as_str().unwrap().starts_with("attachment;"),
        "{}",
        got[1]
    );
    let export: Value = serde_json::from_str(got[2].as_str().unwrap()).unwrap();
    assert_eq!(export["person"]["name"], "Priya Patel");
    assert_eq!(export["bookings"][0]["course_id"], course.as_str());
    assert_eq!(export["bookings"][0]["status"], "confirmed");
    assert_eq!(audited(&app, "person.export", &priya.id).await, 1);

    // Erasing her, after a page that says what goes and what stays.
    let erase = browser.find("#erase-person").await;
    browser.click_and_wait(&erase).await;
    let kept = browser.find("#erase-kept").await.text().await;
    assert!(
        kept.contains("1 booking") && kept.contains("anonymous counts"),
        "{kept}"
    );
    assert!(browser
        .find("#erase-removed")
        .await
        .text()
        .await
        .contains("Priya Patel"));
    browser.assert_accessible("erase confirmation").await;
    look_at(&browser, "admin-person-erase").await;
    let confirm = browser.find("#confirm-erase").await;
    browser.click_and_wait(&confirm).await;
    assert!(browser
        .current_url()
        .await
        .ends_with("/admin/people?done=erased"));
    let done = browser.find("#done").await.text().await;
    assert!(
        done.contains("erased") && done.contains("anonymous counts"),
        "{done}"
    );
    browser.assert_accessible("people list after erasing").await;
    assert!(!browser.source().await.contains("Priya Patel"));
    browser.find("#filter-q").await.type_text("priya").await;
    let find = browser.find("#find-people").await;
    browser.click_and_wait(&find).await;
    assert!(browser
        .find("#no-people")
        .await
        .text()
        .await
        .contains("No one matches"));
    let r = app
        .get(
            &format!("/api/v1/people/{}", priya.id),
            Some(&app.admin_token),
        )
        .await;
    assert_eq!(r.status(), 404);
    let listed = app.admin_get("/api/v1/people?q=priya").await;
    assert_eq!(listed["total"], 0);
    assert_eq!(audited(&app, "person.erase", &priya.id).await, 1);
    assert_eq!(
        engagement(&app).await,
        report_before,
        "the reports count the same"
    );
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

/// What the page says for each of the API's field errors: "Label: message", beside the field
/// and linked from the summary.
fn assert_shows_api_errors(html: &str, problem: &Value) {
    let text = visible_text(html);
    let errors = problem["errors"].as_object().expect("field errors");
    assert!(!errors.is_empty());
    for (field, messages) in errors {
        let label = match field.as_str() {
            "name" => "Name",
            "email" => "Email address",
            "school_id" => "School",
            "staff_group_id" => "Staff group",
            other => panic!("unexpected field {other}"),
        };
        for m in messages.as_array().unwrap() {
            let line = format!("{label}: {}", m.as_str().unwrap());
            assert!(text.contains(&line), "{line:?} not in {text}");
        }
        assert!(
            html.contains(&format!("href=\"#{field}\"")),
            "links to {field}"
        );
        assert!(
            html.contains(&format!("id=\"{field}-error\"")),
            "beside {field}"
        );
    }
}

crate::both_backends! {
    /// The same bad input gets the same field errors from the form as from the API's 422,
    /// and neither changes anything.
    async fn the_person_form_shows_the_apis_field_errors(app: TestApp) {
        let w = crate::booking_support::bk_world(&app).await;
        let admin = crate::browser::web_session_cookie(&app, &app.admin_id()).await;
        let count = || crate::booking_support::bk_count(&app, "SELECT COUNT(*) AS n FROM people");
        let before = count().await;
        let t = Some(app.admin_token.as_str());
        for (body, form) in [
            (
                json!({"name": "   ", "email": "nobody"}),
                vec![("name", "   ".to_string()), ("email", "nobody".to_string())],
            ),
            (
                json!({"name": "N".repeat(201), "email": "n@x.example"}),
                vec![("name", "N".repeat(201)), ("email", "n@x.example".to_string())],
            ),
            (
                json!({"name": "Nia", "email": "nia@x.example", "school_id": "no-such-school"}),
                vec![
                    ("name", "Nia".to_string()),
                    ("email", "nia@x.example".to_string()),
                    ("school_id", "no-such-school".to_string()),
                ],
            ),
        ] {
            let problem = crate::helpers::expect_problem(
                app.post("/api/v1/people", t, &body).await, 422, None,
            ).await;
            let r = post_form(&app, &admin, "/admin/people/new", &form).await;
            assert_eq!(r.status(), 422);
            let html = r.text().await.unwrap();
            assert!(html.contains("There is a problem"));
            assert!(html.contains("<title>Error: Add a person"));
            assert_shows_api_errors(&html, &problem);
            // What was typed is kept.
            let typed = &form[1].1;
            assert!(html.contains(&format!("value=\"{typed}\"")), "{typed} kept");
        }
        assert_eq!(count().await, before, "no one was added");

        // A taken email: the API's 409 sentence, beside the email field.
        let taken = crate::booking_support::bk_person(&app, "Tara Taken", Some(&w.school_a), None, &[]).await;
        let email = app.admin_get(&format!("/api/v1/people/{}", taken.id)).await["email"]
            .as_str().unwrap().to_string();
        let problem = crate::helpers::expect_problem(
            app.post("/api/v1/people", t, &json!({"name": "Tara Two", "email": email.to_uppercase()})).await,
            409, None,
        ).await;
        let r = post_form(&app, &admin, "/admin/people/new", &[
            ("name", "Tara Two".to_string()), ("email", email.to_uppercase()),
        ]).await;
        assert_eq!(r.status(), 422);
        let html = r.text().await.unwrap();
        let line = format!("Email address: {}", problem["detail"].as_str().unwrap());
        assert!(visible_text(&html).contains(&line), "{line}");
        assert!(html.contains("id=\"email-error\""));

        // Changing someone: the PATCH's 422 for the same input, and nothing changes.
        let path = format!("/api/v1/people/{}", taken.id);
        let problem = crate::helpers::expect_problem(
            app.patch(&path, t, &json!({"name": "", "email": "tara@"})).await, 422, None,
        ).await;
        let r = post_form(&app, &admin, &format!("/admin/people/{}/edit", taken.id), &[
            ("name", "".to_string()), ("email", "tara@".to_string()),
            ("school_id", w.school_a.clone()),
        ]).await;
        assert_eq!(r.status(), 422);
        let html = r.text().await.unwrap();
        assert_shows_api_errors(&html, &problem);
        let after = app.admin_get(&path).await;
        assert_eq!(after["name"], "Tara Taken");
        assert_eq!(after["email"], email.as_str());

        // The only admin cannot drop the role: the API's 409, on the roles.
        let admin_id = app.admin_id();
        let r = post_form(&app, &admin, &format!("/admin/people/{admin_id}/edit"), &[
            ("name", "Alliance Admin".to_string()), ("email", "admin@alliance.test".to_string()),
        ]).await;
        assert_eq!(r.status(), 422);
        let html = r.text().await.unwrap();
        assert!(visible_text(&html).contains("Roles: This is the only admin"), "{}", visible_text(&html));
        let me = app.admin_get(&format!("/api/v1/people/{admin_id}")).await;
        assert!(me["roles"].as_array().unwrap().contains(&json!("admin")));
    }
}

crate::both_backends! {
    /// The download is the API's export (bookings included) as a file, audit-logged as the
    /// API's is.
    async fn the_download_is_the_apis_export_with_bookings(app: TestApp) {
        let w = crate::booking_support::bk_world(&app).await;
        let who = bk_person(&app, "Dev Download", Some(&w.school_a), None, &[]).await;
        let course = bk_course(&app, &w, "Leading a team through change", 10, |_| {}).await;
        let booking = bk_book_ok(&app, &course, &who).await;
        let api = crate::helpers::expect_json(
            app.get(&format!("/api/v1/people/{}/export", who.id), Some(&app.admin_token)).await,
            200,
        ).await;
        let bookings = api["bookings"].as_array().expect("the export lists bookings");
        assert_eq!(bookings.len(), 1);
        assert_eq!(bookings[0]["id"], booking["id"]);
        assert_eq!(bookings[0]["course_title"], "Leading a team through change");

        let admin = crate::browser::web_session_cookie(&app, &app.admin_id()).await;
        let r = as_browser(&app, Method::GET, &format!("/admin/people/{}/export", who.id), Some(&admin))
            .send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/json");
        assert_eq!(
            r.headers()["content-disposition"],
            format!("attachment; filename=\"cpd-hub-person-{}.json\"", who.id).as_str()
        );
        let page: Value = r.json().await.unwrap();
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&page), keys(&api), "the same sections as the API's");
        assert_eq!(page["person"], api["person"]);
        assert_eq!(page["bookings"], api["bookings"]);
        assert_eq!(audited(&app, "person.export", &who.id).await, 2);
    }
}

crate::both_backends! {
    /// The people pages are for admins: someone signed out is sent to sign in, everyone
    /// else (a school lead for their own school's people too) is refused and nothing
    /// changes; another site cannot make an admin's browser erase anyone.
    async fn only_admins_manage_people(app: TestApp) {
        let w = crate::booking_support::bk_world(&app).await;
        let staff = bk_person(&app, "Sam Staff", Some(&w.school_a), None, &[]).await;
        let r = as_browser(&app, Method::GET, "/admin/people", None)
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(location(&r), crate::helpers::sign_in_location("/admin/people"));
        for roles in [vec![], vec![Role::SchoolLead], vec![Role::CourseLead], vec![Role::CpdGroup]] {
            let who = bk_person(&app, "Not Admin", Some(&w.school_a), None, &roles).await;
            let cookie = crate::browser::web_session_cookie(&app, &who.id).await;
            for path in [
                "/admin/people".to_string(),
                "/admin/people/new".to_string(),
                format!("/admin/people/{}", staff.id),
                format!("/admin/people/{}/edit", staff.id),
                format!("/admin/people/{}/export", staff.id),
                format!("/admin/people/{}/erase", staff.id),
            ] {
                let r = as_browser(&app, Method::GET, &path, Some(&cookie))
                    .header("accept", "text/html")
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 403, "GET {path} as {roles:?}");
                assert!(r.text().await.unwrap().contains("You cannot do this"));
            }
            let r = post_form(&app, &cookie, &format!("/admin/people/{}/erase", staff.id), &[]).await;
            assert_eq!(r.status(), 403, "erase as {roles:?}");
            let r = post_form(&app, &cookie, &format!("/admin/people/{}/edit", staff.id), &[
                ("name", "Renamed".to_string()), ("email", "renamed@x.example".to_string()),
                ("school_id", w.school_a.clone()),
            ]).await;
            assert_eq!(r.status(), 403, "edit as {roles:?}");
            let r = post_form(&app, &cookie, "/admin/people/new", &[
                ("name", "Added".to_string()), ("email", "added@x.example".to_string()),
                ("school_id", w.school_a.clone()),
            ]).await;
            assert_eq!(r.status(), 403, "add as {roles:?}");
            let home = page_text(&app, "/my/bookings", Some(&cookie)).await;
            assert!(!home.contains("/admin/people"), "no menu link for {roles:?}");
        }
        assert_eq!(audited(&app, "person.export", &staff.id).await, 0);
        let admin = crate::browser::web_session_cookie(&app, &app.admin_id()).await;
        // Another site cannot make an admin's browser erase someone.
        let r = app
            .client
            .post(format!("{}/admin/people/{}/erase", app.address, staff.id))
            .header("cookie", format!("cpd_session={admin}"))
            .header("origin", "https://elsewhere.example")
            .form(&[("confirm", "yes")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        let still = app.admin_get(&format!("/api/v1/people/{}", staff.id)).await;
        assert_eq!(still["name"], "Sam Staff");
        assert_eq!(
            crate::booking_support::bk_count(&app, "SELECT COUNT(*) AS n FROM people WHERE name = 'Added'").await,
            0
        );
        let list = page_text(&app, "/admin/people", Some(&admin)).await;
        assert!(list.contains("href=\"/admin/people\">People"));
        assert!(list.contains("Sam Staff"));
    }
}

crate::both_backends! {
    /// The list finds people by school name (the API's `q` does not), filters by role and
    /// cluster, and pages 25 at a time keeping the filters; a role it does not know is named.
    async fn the_people_list_searches_filters_and_pages(app: TestApp) {
        let w = crate::booking_support::bk_world(&app).await;
        let cluster = app.admin_create("/api/v1/clusters", json!({"name": "Dearne"})).await;
        let cluster_id = cluster["id"].as_str().unwrap().to_string();
        let dearne = {
            let cluster_id = cluster_id.clone();
            app.with_db(move |c| {
                cpd_hub::store::seed::ensure_school(c, &cpd_hub::store::seed::SchoolSeed {
                    urn: 300001,
                    name: "Dearne Valley Academy",
                    phase: "secondary",
                    school_type: "Academy converter",
                    cluster_id: Some(&cluster_id),
                    local_authority: "Barnsley",
                    postcode: "S63 7EW",
                })
                .unwrap()
                .0
            })
            .await
        };
        let far = bk_person(&app, "Farah Far", Some(&dearne), None, &[]).await;
        for n in 0..30 {
            bk_person(&app, &format!("Pager Person {n:02}"), Some(&w.school_a), None, &[]).await;
        }
        let admin = crate::browser::web_session_cookie(&app, &app.admin_id()).await;

        // By school name on the page; the API's words look at names and emails only.
        let html = page_text(&app, "/admin/people?q=dearne+valley", Some(&admin)).await;
        assert!(visible_text(&html).contains("1 person"), "{}", visible_text(&html));
        assert!(html.contains(&format!("id=\"person-{}\"", far.id)));
        assert_eq!(app.admin_get("/api/v1/people?q=dearne").await["total"], 0);

        // By cluster, and by role.
        let html = page_text(&app, &format!("/admin/people?cluster={cluster_id}"), Some(&admin)).await;
        assert!(html.contains("Farah Far") && !html.contains("Pager Person"));
        let html = page_text(&app, "/admin/people?role=school_lead", Some(&admin)).await;
        let text = visible_text(&html);
        assert!(text.contains("2 people") && text.contains("Lena Lead") && text.contains("Bob Lead"), "{text}");

        // 25 a page; the second keeps the words.
        let html = page_text(&app, "/admin/people?q=pager", Some(&admin)).await;
        assert_eq!(html.matches("<tr id=\"person-").count(), 25);
        assert!(visible_text(&html).contains("30 people"));
        assert!(html.contains("Page 1 of 2"));
        assert!(html.contains("href=\"/admin/people?q=pager&amp;page=2\""), "the pager keeps the words");
        let html = page_text(&app, "/admin/people?q=pager&page=2", Some(&admin)).await;
        assert_eq!(html.matches("<tr id=\"person-").count(), 5);
        assert!(html.contains("Pager Person 29") && !html.contains("Pager Person 00"));

        // A role the list does not offer is named, not ignored.
        let r = as_browser(&app, Method::GET, "/admin/people?role=headteacher", Some(&admin))
            .send().await.unwrap();
        assert_eq!(r.status(), 422);
        let text = visible_text(&r.text().await.unwrap());
        assert!(text.contains("Role: choose one from the list"), "{text}");
    }
}
