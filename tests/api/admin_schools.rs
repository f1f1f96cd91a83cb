//! The admin's school and list pages. In headless Chromium, an admin signs in through the
//! emailed link, sees which schools have booked this academic year, uploads a GIAS CSV with
//! one bad line and reads the report (created, updated, the bad line's number and reason),
//! moves a school to another cluster, and adds and renames a strategy priority; every page
//! passes axe and shows the keyboard focus. Over plain HTTP: the pages are for admins only,
//! refuse posts from other sites (the upload too), show the API's 422 field errors for the
//! same bad input, and answer an upload that is too large or not a CSV clearly, changing
//! nothing.

use std::time::Duration;

use cpd_hub::domain::roles::Role;
use reqwest::Method;
use serde_json::{json, Value};

use crate::booking_support::{bk_book_ok, bk_count, bk_course, bk_person, bk_world};
use crate::browser::{web_session_cookie, Browser};
use crate::email::spawn_with_sink;
use crate::helpers::{
    as_browser, expect_json, expect_problem, location, page_text, visible_text, Backend, TestApp,
};
use crate::smtp_sink::SmtpSink;

const WAIT: Duration = Duration::from_secs(20);

/// GIAS's header with the needed columns among others, in GIAS's own order, and a Cluster.
const GIAS_HEADER: &str = "URN,LA (code),LA (name),EstablishmentNumber,EstablishmentName,\
TypeOfEstablishment (name),EstablishmentStatus (name),PhaseOfEducation (code),\
PhaseOfEducation (name),Street,Town,Postcode,SchoolWebsite,Cluster";

/// One GIAS line: URN, name, phase, postcode, cluster.
fn gias_line(urn: &str, name: &str, phase: &str, postcode: &str, cluster: &str) -> String {
    format!(
        "{urn},370,Barnsley,2001,\"{name}\",Community school,Open,2,{phase},High Street,Barnsley,{postcode},,{cluster}"
    )
}

/// The boundary of the upload bodies the tests make.
const BOUNDARY: &str = "----cpdhubtestboundary7MA4YWxkTrZu0gW";

/// A `multipart/form-data` body as a browser sends the import form: the file (with its name;
/// an empty name and no bytes when none was chosen) and the tick box when ticked. Returns
/// the content type and the body.
pub fn upload_body(file_name: &str, bytes: &[u8], create_clusters: bool) -> (String, Vec<u8>) {
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
             Content-Type: {}\r\n\r\n",
            if file_name.is_empty() {
                "application/octet-stream"
            } else {
                "text/csv"
            }
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(b"\r\n");
    if create_clusters {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"create_clusters\"\r\n\r\ntrue\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={BOUNDARY}"), body)
}

async fn upload(app: &TestApp, cookie: &str, file_name: &str, bytes: &[u8]) -> reqwest::Response {
    let (content_type, body) = upload_body(file_name, bytes, true);
    as_browser(app, Method::POST, "/admin/schools/import", Some(cookie))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn post_form(
    app: &TestApp,
    cookie: &str,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    as_browser(app, Method::POST, path, Some(cookie))
        .form(form)
        .send()
        .await
        .unwrap()
}

async fn school_count(app: &TestApp) -> i64 {
    bk_count(app, "SELECT COUNT(*) AS n FROM schools").await
}

async fn import_audits(app: &TestApp) -> Vec<Value> {
    app.with_db(|c| {
        use cpd_hub::db::schema::audit_log;
        use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
        audit_log::table
            .filter(audit_log::action.eq("schools.import"))
            .select(audit_log::detail)
            .load::<String>(c)
            .unwrap()
    })
    .await
    .iter()
    .map(|d| serde_json::from_str(d).unwrap())
    .collect()
}

/// The school with this URN, as the API shows it.
async fn school_by_urn(app: &TestApp, urn: i64) -> Value {
    let found = app.admin_get(&format!("/api/v1/schools?q={urn}")).await;
    found["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["urn"] == urn)
        .cloned()
        .unwrap_or_else(|| panic!("no school with URN {urn}: {found}"))
}

/// Each of the API's field errors, as the page must show it: "Label: message" with a link to
/// the field from the summary and the message beside it.
fn assert_page_shows(html: &str, api: &Value, labels: &[(&str, &str)]) {
    let text = visible_text(html);
    let errors = api["errors"].as_object().expect("the API names fields");
    assert!(!errors.is_empty());
    for (field, messages) in errors {
        let label = labels
            .iter()
            .find(|(f, _)| f == field)
            .unwrap_or_else(|| panic!("no label for {field}"))
            .1;
        for m in messages.as_array().unwrap() {
            let shown = format!("{label}: {}", m.as_str().unwrap());
            assert!(
                text.matches(&shown).count() >= 2,
                "{shown:?} in the summary and beside the field: {text}"
            );
        }
        assert!(html.contains(&format!("href=\"#{field}\"")), "{field}");
        assert!(html.contains(&format!("id=\"{field}-error\"")), "{field}");
    }
}

/// Text with its runs of white space (line breaks between blocks, tabs between cells) as
/// single spaces.
fn words(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

async fn screenshot(browser: &Browser, name: &str, width: u32) {
    browser.set_window_size(width, 3000).await;
    browser.execute("window.scrollTo(0, 0);", vec![]).await;
    browser.save_screenshot(&format!("{name}-{width}")).await;
}

/// At 1280 and 320 px: a screenshot, no sideways scrolling at 320 and axe at both; back to
/// 1280 after.
async fn look_at(browser: &Browser, name: &str) {
    screenshot(browser, name, 1280).await;
    let height = browser
        .execute("return document.documentElement.scrollHeight;", vec![])
        .await;
    assert!(
        height.as_f64().unwrap() <= 3000.0,
        "{name} is {height} px tall at 1280 px"
    );
    screenshot(browser, name, 320).await;
    browser.assert_fits(&format!("{name} at 320 px")).await;
    browser
        .assert_accessible(&format!("{name} at 320 px"))
        .await;
    browser.set_window_size(1280, 1000).await;
}

crate::each_backend!(
    an_admin_imports_a_gias_file_and_keeps_the_lists_in_a_browser,
    admin_keeps_schools_and_lists
);

async fn admin_keeps_schools_and_lists(backend: Backend) {
    let Some(browser) = Browser::start_sized(1280, 1000).await else {
        return;
    };
    let sink = SmtpSink::start().await;
    let app = spawn_with_sink(backend, &sink, |s| {
        s.public_base_url = format!("http://{}", s.bind)
    })
    .await;
    let w = bk_world(&app).await;
    // A member of staff of one school books a course: their school has booked this year.
    let course = bk_course(&app, &w, "Phonics for early readers", 10, |_| {}).await;
    let staff = bk_person(&app, "Sam Staff", Some(&w.school_a), None, &[]).await;
    bk_book_ok(&app, &course, &staff).await;
    // A school the file will update, and a cluster it will name in another case.
    let penistone = app
        .admin_create("/api/v1/clusters", json!({"name": "Penistone"}))
        .await;
    app.admin_create(
        "/api/v1/schools",
        json!({"urn": 106601, "name": "Old Mill Primary", "phase": "primary"}),
    )
    .await;

    // The admin signs in through the emailed link.
    browser.goto(&format!("{}/", app.address)).await;
    browser
        .find("#email")
        .await
        .type_text("admin@alliance.test")
        .await;
    browser.press(crate::browser::keys::ENTER).await;
    browser.wait_for("h1", WAIT).await;
    let link = {
        let start = std::time::Instant::now();
        loop {
            let found = sink.messages().iter().find_map(|m| {
                let mail = crate::email::parse(m);
                let text = mail.body_text(0)?.to_string();
                text.lines()
                    .map(str::trim)
                    .find(|l| l.starts_with(&format!("{}/auth/magic?token=", app.address)))
                    .map(str::to_string)
            });
            if let Some(link) = found {
                break link;
            }
            assert!(start.elapsed() < WAIT, "no sign-in link emailed");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    browser.goto(&link).await;
    let sign_in = browser.find("main button[type=submit]").await;
    browser.click_and_wait(&sign_in).await;

    // The menu (under "Admin") leads to the schools; the school whose staff booked says so.
    browser.find(".site-nav__more summary").await.click().await;
    let schools = browser
        .find(".site-nav--wide a[href='/admin/schools']")
        .await;
    browser.click_and_wait(&schools).await;
    assert_eq!(browser.find("h1").await.text().await, "Schools");
    let booked = browser
        .find(&format!("#school-{} .admin-schools__booked", w.school_a))
        .await
        .text()
        .await;
    assert_eq!(booked, "Yes, 1 booking");
    let not_booked = browser
        .find(&format!("#school-{} .admin-schools__booked", w.school_b))
        .await
        .text()
        .await;
    assert_eq!(not_booked, "No");
    browser.assert_accessible("school list").await;
    browser.assert_focus_visible("school list").await;
    look_at(&browser, "admin-schools").await;
    // On a phone the table scrolls in its box and the schools' names stay in view.
    browser.set_window_size(320, 1000).await;
    let kept = browser
        .execute(
            "const box = document.querySelector('#admin-schools').closest('.table-scroll'); \
             box.scrollLeft = 200; \
             const name = document.querySelector('#admin-schools tbody th').getBoundingClientRect(); \
             const urn = document.querySelector('#admin-schools tbody td').getBoundingClientRect(); \
             return [box.scrollLeft, name.left - box.getBoundingClientRect().left, urn.left - name.right];",
            vec![],
        )
        .await;
    assert!(kept[0].as_f64().unwrap() > 0.0, "the table scrolls: {kept}");
    assert!(
        kept[1].as_f64().unwrap().abs() < 1.0,
        "the name column stays at the box's edge: {kept}"
    );
    assert!(
        kept[2].as_f64().unwrap() < 0.0,
        "the URN slides under it: {kept}"
    );
    browser.set_window_size(1280, 1000).await;

    // The upload: two new schools, one changed, and a line whose URN is not a number.
    let file = format!(
        "{GIAS_HEADER}\r\n{}\r\n{}\r\n{}\r\n{}\r\n",
        gias_line(
            "106600",
            "Goldthorpe Primary",
            "Primary",
            "s63 9ab",
            "Dearne"
        ),
        gias_line(
            "106601",
            "Old Mill Primary Academy",
            "Primary",
            "S75 1AA",
            "PENISTONE"
        ),
        gias_line("10660X", "Nowhere School", "Primary", "S70 2HZ", ""),
        gias_line("106603", "Kexborough Primary", "Primary", "S75 5EF", ""),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("edubasealldata.csv");
    std::fs::write(&path, &file).unwrap();
    let import = browser.find("#import-schools").await;
    browser.click_and_wait(&import).await;
    assert_eq!(browser.find("h1").await.text().await, "Import schools");
    browser.assert_accessible("import form").await;
    browser.assert_focus_visible("import form").await;
    browser
        .find("#file")
        .await
        .send_keys(path.to_str().unwrap())
        .await;
    let go = browser.find("#upload").await;
    browser.click_and_wait(&go).await;
    assert_eq!(browser.find("h1").await.text().await, "Import report");
    let counts = |id: &'static str| {
        let browser = &browser;
        async move { words(&browser.find(id).await.text().await) }
    };
    assert_eq!(counts("#count-created").await, "2 created");
    assert_eq!(counts("#count-updated").await, "1 updated");
    assert_eq!(counts("#count-unchanged").await, "0 unchanged");
    assert_eq!(counts("#count-rejected").await, "1 rejected");
    let bad = words(&browser.find("#rejected-4").await.text().await);
    assert!(
        bad.starts_with("4 10660X") && bad.contains("the URN \"10660X\" is not a number"),
        "{bad}"
    );
    assert!(browser
        .find("#clusters-created")
        .await
        .text()
        .await
        .contains("Dearne"));
    browser.assert_accessible("import report").await;
    look_at(&browser, "admin-schools-import-report").await;
    // What the page imported is what the API shows, and the audit log has one entry.
    let goldthorpe = school_by_urn(&app, 106600).await;
    assert_eq!(goldthorpe["postcode"], "S63 9AB");
    assert_eq!(goldthorpe["cluster"]["name"], "Dearne");
    let old_mill = school_by_urn(&app, 106601).await;
    assert_eq!(old_mill["name"], "Old Mill Primary Academy");
    assert_eq!(old_mill["cluster"]["id"], penistone["id"]);
    let audits = import_audits(&app).await;
    assert_eq!(audits.len(), 1);
    assert_eq!(
        (
            &audits[0]["created"],
            &audits[0]["updated"],
            &audits[0]["rejected"],
            &audits[0]["source"]
        ),
        (&json!(2), &json!(1), &json!(1), &json!("page"))
    );

    // Goldthorpe moves to the Penistone cluster on its edit page.
    browser
        .goto(&format!("{}/admin/schools?q=106600", app.address))
        .await;
    let id = goldthorpe["id"].as_str().unwrap();
    let edit = browser
        .find(&format!("#school-{id} a[href$='/edit']"))
        .await;
    browser.click_and_wait(&edit).await;
    assert_eq!(
        browser.find("h1").await.text().await,
        "Edit Goldthorpe Primary"
    );
    browser.assert_accessible("school form").await;
    browser.assert_focus_visible("school form").await;
    let choose = browser
        .find(&format!(
            "#cluster_id option[value='{}']",
            penistone["id"].as_str().unwrap()
        ))
        .await;
    choose.click().await;
    let save = browser.find("#save-school").await;
    browser.click_and_wait(&save).await;
    assert!(browser.current_url().await.contains("done=saved"));
    let row = browser.find(&format!("#school-{id}")).await.text().await;
    assert!(row.contains("Penistone"), "{row}");
    assert_eq!(
        school_by_urn(&app, 106600).await["cluster"]["name"],
        "Penistone"
    );
    look_at(&browser, "admin-school-form-saved").await;

    // A priority is added and renamed.
    browser
        .goto(&format!("{}/admin/priorities", app.address))
        .await;
    assert_eq!(browser.find("h1").await.text().await, "Strategy priorities");
    assert_eq!(
        browser.find("#list-heading").await.text().await,
        "9 priorities"
    );
    browser.assert_accessible("priorities").await;
    browser.assert_focus_visible("priorities").await;
    browser
        .find("#name")
        .await
        .type_text("Reading for pleasure")
        .await;
    browser
        .find("#description")
        .await
        .type_text("Whole-school reading cultures.")
        .await;
    let add = browser.find("#add").await;
    browser.click_and_wait(&add).await;
    assert!(browser.current_url().await.contains("done=added"));
    let listed = browser.find("#admin-list").await.text().await;
    assert!(listed.contains("Reading for pleasure"), "{listed}");
    let priorities = app.admin_get("/api/v1/priorities?q=pleasure").await;
    assert_eq!(priorities["total"], 1, "{priorities}");
    let pid = priorities["items"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(priorities["items"][0]["key"], "reading_for_pleasure");
    let rename = browser.find(&format!("#rename-{pid}")).await;
    browser.click_and_wait(&rename).await;
    browser.assert_accessible("rename a priority").await;
    // A blank name first: named at the top and beside the field.
    browser.find("#name").await.clear().await;
    browser.find("#name").await.type_text("  ").await;
    let save = browser.find("#save").await;
    browser.click_and_wait(&save).await;
    let summary = browser.find(".error-summary").await.text().await;
    assert!(summary.contains("Name: must not be blank"), "{summary}");
    browser.assert_accessible("rename with a mistake").await;
    look_at(&browser, "admin-priority-rename-error").await;
    browser.find("#name").await.clear().await;
    browser
        .find("#name")
        .await
        .type_text("Reading for pleasure and fluency")
        .await;
    let save = browser.find("#save").await;
    browser.click_and_wait(&save).await;
    assert!(browser.current_url().await.contains("done=renamed"));
    let listed = browser.find("#admin-list").await.text().await;
    assert!(
        listed.contains("Reading for pleasure and fluency"),
        "{listed}"
    );
    let renamed = expect_json(
        app.get(&format!("/api/v1/priorities/{pid}"), Some(&app.admin_token))
            .await,
        200,
    )
    .await;
    assert_eq!(renamed["name"], "Reading for pleasure and fluency");
    assert_eq!(renamed["key"], "reading_for_pleasure", "the key stays");
    look_at(&browser, "admin-priorities").await;

    // The other pages, blank and with mistakes, pass axe too.
    for (path, what) in [
        ("/admin/clusters", "clusters"),
        ("/admin/staff-groups", "staff groups"),
        ("/admin/schools/new", "new school form"),
    ] {
        browser.goto(&format!("{}{path}", app.address)).await;
        browser.assert_accessible(what).await;
    }
    let add = browser.find("#save-school").await;
    browser.click_and_wait(&add).await;
    let summary = words(&browser.find(".error-summary").await.text().await);
    assert!(
        summary.contains("URN: is required") && summary.contains("Phase: is required"),
        "{summary}"
    );
    browser
        .assert_accessible("new school form with mistakes")
        .await;
    look_at(&browser, "admin-school-form-errors").await;
    browser
        .goto(&format!("{}/admin/providers", app.address))
        .await;
    browser.assert_accessible("providers").await;
    browser.find("#name").await.type_text("Reading Hub").await;
    browser
        .find("#email")
        .await
        .type_text("hub at school")
        .await;
    let add = browser.find("#add").await;
    browser.click_and_wait(&add).await;
    let summary = words(&browser.find(".error-summary").await.text().await);
    assert!(
        summary.contains("Kind: is required")
            && summary.contains("Email address: must be an email address"),
        "{summary}"
    );
    assert_eq!(
        browser.find("#email").await.property("value").await,
        "hub at school",
        "what was typed is kept"
    );
    browser.assert_accessible("providers with mistakes").await;
    look_at(&browser, "admin-providers-errors").await;

    // A larger file: the report lists the first 30 bad lines and counts the rest, and the
    // school list pages rather than grow past 3,000 px (look_at measures both).
    let mut big = format!("{GIAS_HEADER}\r\n");
    for n in 0..70 {
        let line = gias_line(
            &(107_000 + n).to_string(),
            &format!("Dodworth School {n:02}"),
            "Primary",
            "S75 3RF",
            "",
        );
        big.push_str(&format!("{line}\r\n"));
    }
    for n in 0..40 {
        let line = gias_line("", &format!("No URN {n}"), "Primary", "S75 3RF", "");
        big.push_str(&format!("{line}\r\n"));
    }
    std::fs::write(&path, &big).unwrap();
    browser
        .goto(&format!("{}/admin/schools/import", app.address))
        .await;
    browser
        .find("#file")
        .await
        .send_keys(path.to_str().unwrap())
        .await;
    let go = browser.find("#upload").await;
    browser.click_and_wait(&go).await;
    assert_eq!(counts("#count-created").await, "70 created");
    assert_eq!(counts("#count-rejected").await, "40 rejected");
    assert_eq!(browser.find_all("#rejected-lines tbody tr").await.len(), 30);
    assert_eq!(
        words(&browser.find("#more-rejected").await.text().await),
        "And 10 more lines not shown: put these right first."
    );
    look_at(&browser, "admin-schools-import-long-report").await;
    browser
        .goto(&format!("{}/admin/schools", app.address))
        .await;
    assert_eq!(
        browser.find("#schools-heading").await.text().await,
        "76 schools"
    );
    assert_eq!(browser.find_all("#admin-schools tbody tr").await.len(), 25);
    look_at(&browser, "admin-schools-page-1").await;
    let next = browser.find(".pagination a[rel=next]").await;
    browser.click_and_wait(&next).await;
    assert!(browser
        .current_url()
        .await
        .ends_with("/admin/schools?page=2"));
    assert!(browser
        .find(".pagination")
        .await
        .text()
        .await
        .contains("Page 2 of 4"));
    browser.assert_accessible("school list, page 2").await;
}

crate::both_backends! {
    /// The pages are for admins: someone signed out is sent to sign in, everyone else is
    /// refused whatever they post (an upload included) and nothing changes; another site
    /// cannot make an admin's browser post; the menu offers the pages to admins only.
    async fn only_admins_keep_schools_and_lists(app: TestApp) {
        let w = bk_world(&app).await;
        let r = as_browser(&app, Method::GET, "/admin/schools", None)
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(location(&r), crate::helpers::sign_in_location("/admin/schools"));
        let schools_before = school_count(&app).await;
        let priorities_before = app.admin_get("/api/v1/priorities").await["total"].clone();
        let file = format!("{GIAS_HEADER}\r\n{}\r\n", gias_line("106600", "Goldthorpe Primary", "Primary", "S63 9AB", ""));
        let cluster = app.admin_create("/api/v1/clusters", json!({"name": "Dearne"})).await;
        let cluster = cluster["id"].as_str().unwrap().to_string();
        for roles in [vec![], vec![Role::SchoolLead], vec![Role::CpdGroup], vec![Role::CourseLead]] {
            let who = bk_person(&app, "Not Admin", Some(&w.school_a), None, &roles).await;
            let cookie = web_session_cookie(&app, &who.id).await;
            for path in [
                "/admin/schools".to_string(),
                "/admin/schools/new".to_string(),
                format!("/admin/schools/{}/edit", w.school_a),
                "/admin/schools/import".to_string(),
                "/admin/clusters".to_string(),
                "/admin/providers".to_string(),
                "/admin/priorities".to_string(),
                "/admin/staff-groups".to_string(),
                format!("/admin/clusters/{cluster}/edit"),
            ] {
                let r = as_browser(&app, Method::GET, &path, Some(&cookie))
                    .header("accept", "text/html")
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 403, "GET {path} as {roles:?}");
                assert!(r.text().await.unwrap().contains("You cannot do this"));
            }
            let r = upload(&app, &cookie, "schools.csv", file.as_bytes()).await;
            assert_eq!(r.status(), 403, "upload as {roles:?}");
            let r = post_form(&app, &cookie, "/admin/schools/new", &[
                ("urn", "106609"), ("name", "Sneaky Primary"), ("phase", "primary"),
            ]).await;
            assert_eq!(r.status(), 403);
            // A bad form from someone else is refused, not checked.
            let r = post_form(&app, &cookie, "/admin/priorities", &[("name", "  ")]).await;
            assert_eq!(r.status(), 403);
            let r = post_form(&app, &cookie, "/admin/providers", &[("name", "X")]).await;
            assert_eq!(r.status(), 403);
            let home = page_text(&app, "/my/bookings", Some(&cookie)).await;
            assert!(!home.contains("/admin/schools"), "no menu link for {roles:?}");
        }
        assert_eq!(school_count(&app).await, schools_before);
        assert!(import_audits(&app).await.is_empty());

        // Another site cannot make an admin's browser import or add anything.
        let admin = web_session_cookie(&app, &app.admin_id()).await;
        for origin in [Some("https://elsewhere.example"), None] {
            let (content_type, body) = upload_body("schools.csv", file.as_bytes(), true);
            let mut req = app
                .client
                .post(format!("{}/admin/schools/import", app.address))
                .header("cookie", format!("cpd_session={admin}"))
                .header("content-type", content_type)
                .body(body);
            if let Some(o) = origin {
                req = req.header("origin", o);
            }
            assert_eq!(req.send().await.unwrap().status(), 403, "upload from {origin:?}");
            let mut req = app
                .client
                .post(format!("{}/admin/priorities", app.address))
                .header("cookie", format!("cpd_session={admin}"))
                .form(&[("name", "Forged priority")]);
            if let Some(o) = origin {
                req = req.header("origin", o);
            }
            assert_eq!(req.send().await.unwrap().status(), 403, "add from {origin:?}");
        }
        assert_eq!(school_count(&app).await, schools_before);
        assert!(import_audits(&app).await.is_empty());
        assert_eq!(app.admin_get("/api/v1/priorities").await["total"], priorities_before);
        let list = page_text(&app, "/admin/schools", Some(&admin)).await;
        assert!(list.contains("href=\"/admin/schools\">Schools"), "the admin's menu");
        assert!(list.contains("Hoyland Common Primary"));
    }
}

crate::both_backends! {
    /// The same bad input gets the same 422 field errors from the page as from the API, shown
    /// beside the fields with what was typed kept, and nothing is saved; a 409 (a URN or a
    /// name taken) is put on its field.
    async fn the_pages_show_the_apis_field_errors(app: TestApp) {
        let admin = web_session_cookie(&app, &app.admin_id()).await;
        let labels = [("urn", "URN"), ("name", "Name"), ("postcode", "Postcode"),
            ("email", "Email address"), ("website", "Website"), ("cluster_id", "Cluster")];
        let before = school_count(&app).await;

        // A new school: a URN out of range and a blank name.
        let api = expect_problem(
            app.post("/api/v1/schools", Some(&app.admin_token),
                &json!({"urn": 0, "name": "   ", "phase": "primary"})).await,
            422, Some("urn"),
        ).await;
        assert!(api["errors"]["name"].is_array(), "{api}");
        let r = post_form(&app, &admin, "/admin/schools/new",
            &[("urn", "0"), ("name", "   "), ("phase", "primary"), ("is_open", "true")]).await;
        assert_eq!(r.status(), 422);
        let html = r.text().await.unwrap();
        assert_page_shows(&html, &api, &labels);
        assert!(html.contains("value=\"0\""), "what was typed is kept");
        assert!(html.contains("<title>Error: Add a school"));

        // A postcode that is not one (checked once the fields are sound).
        let api = expect_problem(
            app.post("/api/v1/schools", Some(&app.admin_token),
                &json!({"urn": 106650, "name": "Wombwell Park Street", "phase": "primary", "postcode": "nowhere"})).await,
            422, Some("postcode"),
        ).await;
        let r = post_form(&app, &admin, "/admin/schools/new", &[("urn", "106650"),
            ("name", "Wombwell Park Street"), ("phase", "primary"), ("postcode", "nowhere")]).await;
        assert_eq!(r.status(), 422);
        let html = r.text().await.unwrap();
        assert_page_shows(&html, &api, &labels);
        assert!(html.contains("value=\"Wombwell Park Street\""));
        // A URN the page cannot read is named too, with the other mistakes.
        let r = post_form(&app, &admin, "/admin/schools/new",
            &[("urn", "twelve"), ("name", " "), ("phase", "primary")]).await;
        let text = visible_text(&r.text().await.unwrap());
        assert!(text.contains("URN: must be a whole number"), "{text}");
        assert!(text.contains("Name: must not be blank"), "{text}");
        assert_eq!(school_count(&app).await, before, "nothing was created");

        // Editing a school into another's URN: the API's 409, on the URN field.
        let one = app.admin_create("/api/v1/schools",
            json!({"urn": 106660, "name": "Athersley North", "phase": "primary"})).await;
        app.admin_create("/api/v1/schools",
            json!({"urn": 106661, "name": "Athersley South", "phase": "primary"})).await;
        let id = one["id"].as_str().unwrap();
        let api = expect_problem(
            app.patch(&format!("/api/v1/schools/{id}"), Some(&app.admin_token), &json!({"urn": 106661})).await,
            409, None,
        ).await;
        let r = post_form(&app, &admin, &format!("/admin/schools/{id}/edit"),
            &[("urn", "106661"), ("name", "Athersley North"), ("phase", "primary"), ("is_open", "true")]).await;
        assert_eq!(r.status(), 422);
        let text = visible_text(&r.text().await.unwrap());
        assert!(text.contains(&format!("URN: {}", api["detail"].as_str().unwrap())), "{text}");
        assert_eq!(school_by_urn(&app, 106660).await["name"], "Athersley North");

        // A provider with a bad email address and website.
        let body = json!({"name": "Reading Hub", "kind": "school", "email": "not an address", "website": "ftp://hub.example"});
        let api = expect_problem(app.post("/api/v1/providers", Some(&app.admin_token), &body).await, 422, Some("email")).await;
        assert!(api["errors"]["website"].is_array(), "{api}");
        let r = post_form(&app, &admin, "/admin/providers", &[("name", "Reading Hub"), ("kind", "school"),
            ("email", "not an address"), ("website", "ftp://hub.example")]).await;
        assert_eq!(r.status(), 422);
        let html = r.text().await.unwrap();
        assert_page_shows(&html, &api, &labels);
        assert!(html.contains("value=\"not an address\""));
        assert_eq!(app.admin_get("/api/v1/providers?q=reading").await["total"], 0);

        // A priority whose name is taken: the API's 409, on the name field.
        app.admin_create("/api/v1/priorities", json!({"name": "Philosophy for children"})).await;
        let api = expect_problem(app.post("/api/v1/priorities", Some(&app.admin_token), &json!({"name": "PHILOSOPHY FOR CHILDREN"})).await, 409, None).await;
        let r = post_form(&app, &admin, "/admin/priorities", &[("name", "PHILOSOPHY FOR CHILDREN")]).await;
        assert_eq!(r.status(), 422);
        let html = r.text().await.unwrap();
        let text = visible_text(&html);
        assert!(text.contains(&format!("Name: {}", api["detail"].as_str().unwrap())), "{text}");
        assert!(html.contains("href=\"#name\""));
        assert_eq!(app.admin_get("/api/v1/priorities?q=philosophy").await["total"], 1);

        // A cluster's rename keeps to the same rules; a good one is saved.
        let cluster = app.admin_create("/api/v1/clusters", json!({"name": "Dearne"})).await;
        let cid = cluster["id"].as_str().unwrap();
        let api = expect_problem(app.patch(&format!("/api/v1/clusters/{cid}"), Some(&app.admin_token), &json!({"name": ""})).await, 422, Some("name")).await;
        let r = post_form(&app, &admin, &format!("/admin/clusters/{cid}/edit"), &[("name", ""), ("description", "")]).await;
        assert_eq!(r.status(), 422);
        assert_page_shows(&r.text().await.unwrap(), &api, &labels);
        let r = post_form(&app, &admin, &format!("/admin/clusters/{cid}/edit"), &[("name", "Dearne Valley"), ("description", "")]).await;
        assert_eq!(r.status(), 303);
        assert_eq!(location(&r), "/admin/clusters?done=renamed");
        let got = app.admin_get(&format!("/api/v1/clusters/{cid}")).await;
        assert_eq!(got["name"], "Dearne Valley");

        // The list searches by the start of a postcode too, as the API does.
        app.admin_create("/api/v1/schools",
            json!({"urn": 106670, "name": "Cawthorne Primary", "phase": "primary", "postcode": "S75 4HB"})).await;
        let list = page_text(&app, "/admin/schools?q=s75+4h", Some(&admin)).await;
        assert!(list.contains("Cawthorne Primary") && list.contains("1 school"), "{}", visible_text(&list));
        assert_eq!(app.admin_get("/api/v1/schools?q=S754HB").await["total"], 1);
        let r = as_browser(&app, Method::GET, "/admin/schools?phase=castle", Some(&admin)).send().await.unwrap();
        assert_eq!(r.status(), 422);
        assert!(visible_text(&r.text().await.unwrap()).contains("Phase: choose one from the list"));
    }
}

crate::both_backends! {
    /// An upload that is too large, a spreadsheet rather than a CSV, no file at all or a CSV
    /// without GIAS's columns is named beside the file field, and nothing is imported.
    async fn bad_uploads_are_answered_clearly_and_change_nothing(app: TestApp) {
        let admin = web_session_cookie(&app, &app.admin_id()).await;
        let before = school_count(&app).await;

        // Too large: the page says how large a file it takes, and where larger ones go.
        let mut big = format!("{GIAS_HEADER}\r\n").into_bytes();
        let line = format!("{}\r\n", gias_line("106600", "Goldthorpe Primary", "Primary", "S63 9AB", ""));
        while big.len() <= cpd_hub::web::admin_schools::UPLOAD_LIMIT {
            big.extend_from_slice(line.as_bytes());
        }
        let r = upload(&app, &admin, "edubasealldata.csv", &big).await;
        assert_eq!(r.status(), 413);
        let text = visible_text(&r.text().await.unwrap());
        assert!(text.contains("CSV file: must be smaller than 16 MB"), "{text}");
        assert!(text.contains("cpd-hub import-schools"), "{text}");

        // A spreadsheet saved in Excel's own format.
        let r = upload(&app, &admin, "schools.xlsx", b"PK\x03\x04\x14\x00\x06\x00rest of a zip").await;
        assert_eq!(r.status(), 422);
        let html = r.text().await.unwrap();
        let text = visible_text(&html);
        assert!(text.contains("CSV file: must be a CSV file: this is a spreadsheet"), "{text}");
        assert!(html.contains("href=\"#file\"") && html.contains("id=\"file-error\""));

        // No file chosen: the browser sends an empty part without a name.
        let r = upload(&app, &admin, "", b"").await;
        assert_eq!(r.status(), 422);
        assert!(visible_text(&r.text().await.unwrap()).contains("CSV file: choose a CSV file to upload"));

        // A CSV that is not a GIAS file: the API's own message about the file.
        let other = b"Name,Town\r\nGoldthorpe Primary,Barnsley\r\n";
        let api = expect_problem(
            app.send_body(Method::POST, "/api/v1/schools/import", Some(&app.admin_token), "text/csv", other.to_vec()).await,
            422, Some("file"),
        ).await;
        let r = upload(&app, &admin, "schools.csv", other).await;
        assert_eq!(r.status(), 422);
        let text = visible_text(&r.text().await.unwrap());
        let message = api["errors"]["file"][0].as_str().unwrap();
        assert!(text.contains(&format!("CSV file: {message}")), "{text}");

        assert_eq!(school_count(&app).await, before, "nothing was imported");
        assert!(import_audits(&app).await.is_empty(), "no import was recorded");

        // And a good file after all that is imported.
        let good = format!("{GIAS_HEADER}\r\n{line}");
        let r = upload(&app, &admin, "schools.csv", good.as_bytes()).await;
        assert_eq!(r.status(), 200);
        let text = visible_text(&r.text().await.unwrap());
        assert!(text.contains("1 created") && text.contains("Every line was used"), "{text}");
        assert_eq!(school_count(&app).await, before + 1);
    }
}
