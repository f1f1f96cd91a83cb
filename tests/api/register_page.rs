//! The register page, self check-in, the sign-in sheet, certificates and "courses you lead",
//! driven as people use them: in headless Chromium on a phone-sized screen where the page is
//! the point, with plain HTTP for the permission rules.

use std::time::Duration;

use chrono::{Duration as Span, Utc};
use cpd_hub::db::schema::course_sessions;
use cpd_hub::domain::roles::Role;
use diesel::prelude::*;
use reqwest::Method;
use serde_json::{json, Value};

use crate::booking_support::{bk_book_ok, bk_course, bk_person, bk_world, session_in, Who, World};
use crate::browser::{keys, png_size, sign_in_browser, web_session_cookie, Browser};
use crate::helpers::{as_browser, expect_problem, location, TestApp};

/// A form body: (field, value) pairs.
type Form = Vec<(&'static str, String)>;

const WAIT: Duration = Duration::from_secs(15);

/// A published two-session course led by Cora, with five people booked (confirmed): Amy and
/// Ben of school A, Cara and Dan of school B, Eve of school C.
struct Setup {
    w: World,
    title: String,
    /// The course's two sessions, in order.
    sessions: Vec<String>,
    lead: Who,
    people: Vec<Who>,
    /// Booking ids, in the order of `people`.
    bookings: Vec<String>,
}

const NAMES: [&str; 5] = [
    "Amy Adams",
    "Ben Brown",
    "Cara Cole",
    "Dan Dyer",
    "Eve Evans",
];

async fn setup(app: &TestApp) -> Setup {
    let w = bk_world(app).await;
    let lead = bk_person(
        app,
        "Cora Lead",
        Some(&w.school_a),
        None,
        &[Role::CourseLead],
    )
    .await;
    let title = "Adaptive teaching for pupils with SEND".to_string();
    let lead_id = lead.id.clone();
    let course = bk_course(app, &w, &title, 30, |b| {
        b["lead_ids"] = json!([lead_id]);
        b["sessions"] = json!([session_in(30), session_in(37)]);
    })
    .await;
    let schools = [
        &w.school_a,
        &w.school_a,
        &w.school_b,
        &w.school_b,
        &w.school_c,
    ];
    let teacher = w.fx.group("teacher");
    let mut people = Vec::new();
    let mut bookings = Vec::new();
    for (name, school) in NAMES.iter().zip(schools) {
        let who = bk_person(app, name, Some(school), Some(&teacher), &[]).await;
        let b = bk_book_ok(app, &course, &who).await;
        assert_eq!(b["status"], "confirmed");
        bookings.push(b["id"].as_str().unwrap().to_string());
        people.push(who);
    }
    let c = app.admin_get(&format!("/api/v1/courses/{course}")).await;
    let sessions: Vec<String> = c["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    // Booked while it was ahead; the first session is now under way (started an hour ago),
    // so its register is open; the second is still a week ahead.
    set_session_time(app, &sessions[0], -60, 180).await;
    Setup {
        w,
        title,
        sessions,
        lead,
        people,
        bookings,
    }
}

/// Moves a session to start `start_minutes` from now (negative: in the past) and last
/// `minutes`.
async fn set_session_time(app: &TestApp, session_id: &str, start_minutes: i64, minutes: i64) {
    let start = Utc::now().naive_utc() + Span::minutes(start_minutes);
    set_session_at(app, session_id, start, minutes).await;
}

/// The register through the JSON API, as the admin.
async fn api_register(app: &TestApp, session_id: &str) -> Value {
    app.admin_get(&format!("/api/v1/sessions/{session_id}/register"))
        .await
}

/// Status by person name on the API's register (`null`: not marked).
fn statuses(register: &Value) -> Vec<(String, Value)> {
    let mut v: Vec<(String, Value)> = register["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["person"]["name"].as_str().unwrap().to_string(),
                i["status"].clone(),
            )
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn url(app: &TestApp, path: &str) -> String {
    format!("{}{path}", app.address)
}

/// The text of the row of a booking on the register page.
async fn row_text(browser: &Browser, booking_id: &str) -> String {
    browser.find(&format!("#b-{booking_id}")).await.text().await
}

/// Taps a status button in a person's row and waits for the page to come back.
async fn tap(browser: &Browser, booking_id: &str, status: &str) {
    let button = browser
        .find(&format!("#b-{booking_id} button[value={status}]"))
        .await;
    browser.click_and_wait(&button).await;
}

/// The numbers in the counts panel, by status key.
async fn counts(browser: &Browser) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for item in browser.find_all("#counts [data-status]").await {
        let key = item.attribute("data-status").await.unwrap();
        let n = item.find("dd").await.text().await.parse().unwrap();
        out.push((key, n));
    }
    out
}

crate::both_backends! {
    async fn a_course_lead_takes_the_register_on_a_phone(app: TestApp) {
        let s = setup(&app).await;
        let Some(browser) = Browser::start().await else { return };
        sign_in_browser(&app, &browser, &s.lead.id).await;
        let register = format!("/sessions/{}/register", s.sessions[0]);
        browser.set_window_size(320, 900).await;
        browser.goto(&url(&app, &register)).await;
        browser.assert_fits("register at 320 px").await;
        browser.assert_focus_visible("register at 320 px").await;
        browser.set_window_size(crate::browser::PHONE.0, crate::browser::PHONE.1).await;
        browser.goto(&url(&app, &register)).await;

        // The page says which course and session, in Europe/London time.
        assert_eq!(browser.find("h1").await.text().await, s.title);
        let api = api_register(&app, &s.sessions[0]).await;
        let when = browser.find(".register-when").await.text().await;
        assert!(!api["session"]["display"].as_str().unwrap().is_empty());
        assert!(when.contains(api["session"]["display"].as_str().unwrap()), "{when}");
        assert!(when.contains("Barnsley Teaching Hub"), "{when}");
        assert!(browser.find(".caption").await.text().await.contains("session 1 of 2"));

        // Everyone is listed, not yet marked, in words.
        for (b, name) in s.bookings.iter().zip(NAMES) {
            let text = row_text(&browser, b).await;
            assert!(text.contains(name) && text.contains("Not marked yet"), "{text}");
        }
        assert!(counts(&browser).await.contains(&("unmarked".into(), 5)));

        // One tap each: the page comes back at the person's row, showing the new status in
        // words and as the pressed button.
        tap(&browser, &s.bookings[0], "late").await;
        assert!(browser.current_url().await.ends_with(&format!("{register}#b-{}", s.bookings[0])));
        let text = row_text(&browser, &s.bookings[0]).await;
        assert!(text.contains("Marked: Late"), "{text}");
        let pressed = browser.find_all(&format!("#b-{} button[aria-pressed=true]", s.bookings[0])).await;
        assert_eq!(pressed.len(), 1);
        assert_eq!(pressed[0].attribute("value").await.as_deref(), Some("late"));
        tap(&browser, &s.bookings[1], "absent").await;
        tap(&browser, &s.bookings[2], "apologies").await;
        // A second tap changes the mark.
        tap(&browser, &s.bookings[1], "left_early").await;
        assert!(row_text(&browser, &s.bookings[1]).await.contains("Marked: Left early"));

        // Everyone not yet marked is present; the marks already made stay.
        let everyone = browser.find("#everyone-present").await;
        assert!(everyone.text().await.contains("(2)"));
        browser.click_and_wait(&everyone).await;
        assert!(browser.try_find("#everyone-present").await.is_none(), "nobody is left unmarked");

        // A walk-in: a mistake first (no name), kept on the page with what was typed.
        browser.find("#email").await.send_keys("walter.walk@school.test").await;
        let add = browser.find("form[action$='/walk-ins'] button").await;
        browser.click_and_wait(&add).await;
        let summary = browser.wait_for(".error-summary", WAIT).await.text().await;
        assert!(summary.contains("Enter their full name"), "{summary}");
        assert_eq!(browser.find("#email").await.property("value").await, "walter.walk@school.test");
        browser.find("#name").await.send_keys("Walter Walk").await;
        let school = browser.find(&format!("#school_id option[value='{}']", s.w.school_c)).await;
        school.click().await;
        let add = browser.find("form[action$='/walk-ins'] button").await;
        browser.click_and_wait(&add).await;
        let here = browser.current_url().await;
        let walk_in_booking = here.rsplit("#b-").next().unwrap().to_string();
        assert!(here.contains(&format!("{register}#b-")), "{here}");
        let text = row_text(&browser, &walk_in_booking).await;
        assert!(text.contains("Walter Walk") && text.contains("Marked: Present") && text.contains("walk-in"), "{text}");

        // The counts add up, and the API's register shows exactly those marks.
        let c = counts(&browser).await;
        for expected in [("present", 3), ("late", 1), ("left_early", 1), ("absent", 0), ("apologies", 1), ("unmarked", 0)] {
            assert!(c.contains(&(expected.0.to_string(), expected.1)), "{c:?}");
        }
        let api = api_register(&app, &s.sessions[0]).await;
        assert_eq!(
            statuses(&api),
            vec![
                ("Amy Adams".to_string(), json!("late")),
                ("Ben Brown".to_string(), json!("left_early")),
                ("Cara Cole".to_string(), json!("apologies")),
                ("Dan Dyer".to_string(), json!("present")),
                ("Eve Evans".to_string(), json!("present")),
                ("Walter Walk".to_string(), json!("present")),
            ]
        );
        // The other session is untouched.
        let other = api_register(&app, &s.sessions[1]).await;
        assert!(statuses(&other).iter().all(|(_, st)| st.is_null()));

        // The check-in code, in large type, and a QR code of the check-in address with it:
        // the same modules as an independent encoding of that address.
        let code = api["session"]["check_in_code"].as_str().unwrap();
        assert_eq!(browser.find("#check-in-code").await.text().await, code);
        let svg = browser.find("#check-in-qr svg").await;
        assert_eq!(svg.attribute("role").await.as_deref(), Some("img"));
        let d = svg.find("path").await.attribute("d").await.unwrap();
        let expected = qrcode::QrCode::new(format!("{}/check-in?code={code}", app.settings.public_base_url))
            .unwrap()
            .render::<qrcode::render::svg::Color>()
            .module_dimensions(1, 1)
            .build();
        assert!(expected.contains(&format!("d=\"{d}\"")), "the QR code encodes another text");
        let font_size = browser.find(".check-in__code").await.css("font-size").await;
        assert!(font_size.trim_end_matches("px").parse::<f64>().unwrap() >= 40.0, "{font_size}");

        // Links to the CSV and the sign-in sheet.
        let links: Vec<String> = {
            let mut v = Vec::new();
            for a in browser.find_all(".link-list a").await {
                v.push(a.attribute("href").await.unwrap_or_default());
            }
            v
        };
        assert!(links.contains(&format!("/api/v1/sessions/{}/register.csv", s.sessions[0])), "{links:?}");
        assert!(links.contains(&format!("/sessions/{}/sign-in-sheet", s.sessions[0])), "{links:?}");

        // Phone fit: nothing wider than the screen, every status button at least 44×44.
        let overflow = browser
            .execute("return document.documentElement.scrollWidth - window.innerWidth;", vec![])
            .await;
        assert!(overflow.as_i64().unwrap() <= 0, "the page scrolls sideways by {overflow}px");
        for b in browser.find_all(".status-button").await {
            let (_, _, w, h) = b.rect().await;
            assert!(w >= 44.0 && h >= 44.0, "a {w}×{h} button");
        }

        // Keyboard: tabbing reaches the status buttons and the focused one is outlined.
        browser.goto(&url(&app, &register)).await;
        let mut reached = false;
        for _ in 0..40 {
            browser.press(keys::TAB).await;
            let active = browser.active_element().await;
            if active.attribute("class").await.unwrap_or_default().contains("status-button") {
                let style = browser
                    .execute(
                        "const s = getComputedStyle(arguments[0]); \
                         return [s.outlineStyle, s.outlineWidth, s.outlineColor, arguments[0].matches(':focus-visible')];",
                        vec![active.to_arg()],
                    )
                    .await;
                assert_eq!(style, json!(["solid", "3px", "rgb(255, 221, 0)", true]));
                reached = true;
                break;
            }
        }
        assert!(reached, "Tab never reached a status button");

        // Text contrast meets WCAG AA (4.5:1) for the buttons, pressed or not, and the
        // greyed details.
        for css in [".status-button[aria-pressed=true]", ".status-button[aria-pressed=false]",
                    ".register-row__meta", ".counts__item dt", ".caption", ".link-list a"] {
            let ratio = browser.contrast(&browser.find(css).await).await;
            assert!(ratio >= 4.5, "{css}: contrast {ratio:.2}");
        }

        // Each person's buttons are a group named by the person.
        let legend = browser.find(&format!("#b-{} legend", s.bookings[3])).await;
        assert_eq!(legend.text().await, "Dan Dyer");

        // Nothing the page uses is blocked by the Content-Security-Policy, and nothing
        // failed to load apart from the walk-in form's 422 and the browser's favicon guess.
        let errors: Vec<String> = browser
            .console_errors()
            .await
            .into_iter()
            .filter(|e| !e.contains("/favicon.ico") && !e.contains("status of 422"))
            .collect();
        assert!(errors.is_empty(), "the console reports {errors:?}");

        let png = browser.keep_screenshot("register").await;
        let (w, h) = png_size(&png).expect("a PNG");
        assert_eq!(w, 412);
        assert!(h >= 800 && png.len() > 10_000, "{w}×{h}, {} bytes", png.len());
    }
}

crate::both_backends! {
    async fn attendees_check_in_inside_the_window_and_are_refused_outside_it(app: TestApp) {
        let s = setup(&app).await;
        let session = &s.sessions[0];
        let code = api_register(&app, session).await["session"]["check_in_code"]
            .as_str()
            .unwrap()
            .to_string();
        let Some(browser) = Browser::start().await else { return };

        // Not signed in: the page offers the sign-in form and keeps the code in view.
        browser.goto(&url(&app, &format!("/check-in?code={code}"))).await;
        assert!(browser.find("form[action='/auth/sign-in']").await.text().await.contains("Email me"));
        assert!(browser.find("main").await.text().await.contains(&code));

        // Starts in 10 minutes: check-in is open, and on time means present.
        set_session_time(&app, session, 10, 120).await;
        sign_in_browser(&app, &browser, &s.people[0].id).await;
        browser.goto(&url(&app, &format!("/check-in?code={code}"))).await;
        assert_eq!(browser.find("#code").await.property("value").await, json!(code));
        let button = browser.find("#check-in-button").await;
        browser.click_and_wait(&button).await;
        let result = browser.wait_for("#check-in-result", WAIT).await.text().await;
        let display = api_register(&app, session).await["session"]["display"].as_str().unwrap().to_string();
        assert!(result.contains(&format!("You're checked in as present for {}, {display}", s.title)), "{result}");

        // Started 20 minutes ago: past the grace period, so late. The code is typed by hand,
        // in lower case with a space.
        set_session_time(&app, session, -20, 120).await;
        browser.delete_cookies().await;
        sign_in_browser(&app, &browser, &s.people[1].id).await;
        browser.goto(&url(&app, "/check-in")).await;
        let typed = format!("{} {}", code[..3].to_lowercase(), &code[3..]);
        browser.find("#code").await.send_keys(&typed).await;
        let button = browser.find("#check-in-button").await;
        browser.click_and_wait(&button).await;
        let result = browser.wait_for("#check-in-result", WAIT).await.text().await;
        assert!(result.contains("You're checked in as late"), "{result}");

        // Starts in two hours: refused, saying when check-in opens.
        set_session_time(&app, session, 120, 120).await;
        browser.delete_cookies().await;
        sign_in_browser(&app, &browser, &s.people[2].id).await;
        browser.goto(&url(&app, &format!("/check-in?code={code}"))).await;
        let button = browser.find("#check-in-button").await;
        browser.click_and_wait(&button).await;
        let result = browser.wait_for("#check-in-result", WAIT).await.text().await;
        assert!(result.contains("Check-in is not open") && result.contains("opens at"), "{result}");

        // Ended an hour ago: refused too.
        set_session_time(&app, session, -180, 120).await;
        browser.goto(&url(&app, &format!("/check-in?code={code}"))).await;
        let button = browser.find("#check-in-button").await;
        browser.click_and_wait(&button).await;
        let result = browser.wait_for("#check-in-result", WAIT).await.text().await;
        assert!(result.contains("Check-in is not open") && result.contains("closed at"), "{result}");

        // Inside the window without a place: refused, saying so.
        set_session_time(&app, session, 5, 120).await;
        let stranger = bk_person(&app, "Zed Stranger", Some(&s.w.school_c), None, &[]).await;
        browser.delete_cookies().await;
        sign_in_browser(&app, &browser, &stranger.id).await;
        browser.goto(&url(&app, &format!("/check-in?code={code}"))).await;
        let button = browser.find("#check-in-button").await;
        browser.click_and_wait(&button).await;
        let result = browser.wait_for("#check-in-result", WAIT).await.text().await;
        assert!(result.contains("You're not booked on this course"), "{result}");

        // A code no session has: the form says so.
        browser.goto(&url(&app, "/check-in")).await;
        browser.find("#code").await.send_keys("ZZZZZZ").await;
        let button = browser.find("#check-in-button").await;
        browser.click_and_wait(&button).await;
        let summary = browser.wait_for(".error-summary", WAIT).await.text().await;
        assert!(summary.contains("No session has this code"), "{summary}");

        // The register shows the two check-ins, and nobody else.
        let api = api_register(&app, session).await;
        let marks = statuses(&api);
        assert_eq!(marks[0], ("Amy Adams".to_string(), json!("present")));
        assert_eq!(marks[1], ("Ben Brown".to_string(), json!("late")));
        assert!(marks[2..].iter().all(|(_, st)| st.is_null()), "{marks:?}");
        assert_eq!(api["items"].as_array().unwrap().len(), 5);
    }
}

crate::both_backends! {
    async fn the_sign_in_sheet_prints_the_names(app: TestApp) {
        let s = setup(&app).await;
        let cookie = web_session_cookie(&app, &s.lead.id).await;
        let sheet = format!("/sessions/{}/sign-in-sheet", s.sessions[0]);
        let r = as_browser(&app, Method::GET, &sheet, Some(&cookie)).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let html = r.text().await.unwrap();
        assert!(html.contains(&format!("Sign-in sheet: {}", s.title)));
        assert!(html.contains("Barnsley Teaching Hub"));
        for name in NAMES {
            assert!(html.contains(name), "{name} is missing");
        }
        assert!(html.contains("Hoyland Common Primary"));
        assert_eq!(html.matches("class=\"signature\"").count(), 1 + NAMES.len() + 5, "a box per person and five spare rows");

        // Printed: the site's header and footer and the screen-only note are left off.
        let Some(browser) = Browser::start_sized(800, 1100).await else { return };
        sign_in_browser(&app, &browser, &s.lead.id).await;
        browser.set_window_size(320, 900).await;
        browser.goto(&url(&app, &sheet)).await;
        browser.assert_fits("sign-in sheet at 320 px").await;
        browser.set_window_size(800, 1100).await;
        browser.goto(&url(&app, &sheet)).await;
        let rows = browser.find_all("#sheet tbody tr").await;
        assert_eq!(rows.len(), NAMES.len() + 5);
        assert_eq!(rows[0].find("td").await.text().await, "Amy Adams");
        browser.emulate_media("print").await;
        for hidden in [".site-header", ".site-footer", ".no-print"] {
            assert_eq!(browser.find(hidden).await.css("display").await, "none", "{hidden} prints");
        }
        assert_eq!(browser.find("#sheet").await.css("display").await, "table");
        let pdf = browser.print_pdf().await;
        assert!(pdf.starts_with(b"%PDF-"), "printing makes a PDF");
    }
}

crate::both_backends! {
    async fn certificates_for_completed_courses_only(app: TestApp) {
        let s = setup(&app).await;
        // Both sessions held: three hours, then two and a half.
        set_session_time(&app, &s.sessions[0], -60 * 24 * 3, 180).await;
        set_session_time(&app, &s.sessions[1], -60 * 24 * 2, 150).await;
        let cookie = web_session_cookie(&app, &s.lead.id).await;
        let mark = |session: &str, booking: &str, status: &str| {
            as_browser(&app, Method::POST, &format!("/sessions/{session}/register"), Some(&cookie))
                .form(&[("booking_id", booking), ("status", status)])
                .send()
        };
        // Amy: present, then late: complete. Ben: present, then absent: not complete.
        for (session, booking, status) in [
            (&s.sessions[0], &s.bookings[0], "present"),
            (&s.sessions[1], &s.bookings[0], "late"),
            (&s.sessions[0], &s.bookings[1], "present"),
            (&s.sessions[1], &s.bookings[1], "absent"),
        ] {
            let r = mark(session, booking, status).await.unwrap();
            assert_eq!(r.status(), 303);
        }

        // Ben's is refused, saying what is missing.
        let cookie_ben = web_session_cookie(&app, &s.people[1].id).await;
        let r = as_browser(&app, Method::GET, &format!("/certificates/{}", s.bookings[1]), Some(&cookie_ben))
            .send().await.unwrap();
        assert_eq!(r.status(), 409);
        let html = r.text().await.unwrap();
        assert!(html.contains("No certificate yet"), "{html}");
        assert!(html.contains("1 of 2 sessions held attended"), "{html}");
        assert!(!html.contains("Certificate of attendance<"), "{html}");

        // Who may see Amy's: she, her school's lead and admins; nobody else learns it exists.
        let cert = format!("/certificates/{}", s.bookings[0]);
        let get = |cookie: Option<String>| {
            let req = as_browser(&app, Method::GET, &cert, cookie.as_deref());
            async move { req.send().await.unwrap() }
        };
        let amy = get(Some(web_session_cookie(&app, &s.people[0].id).await)).await;
        assert_eq!(amy.status(), 200);
        let html = amy.text().await.unwrap();
        assert!(html.contains("Certificate of attendance") && html.contains("Amy Adams"), "{html}");
        assert_eq!(get(Some(web_session_cookie(&app, &s.w.lead_a.id).await)).await.status(), 200);
        assert_eq!(get(Some(web_session_cookie(&app, &app.admin_id()).await)).await.status(), 200);
        for other in [&s.people[1].id, &s.w.lead_b.id, &s.lead.id] {
            let r = get(Some(web_session_cookie(&app, other).await)).await;
            assert_eq!(r.status(), 404, "{other}");
            assert!(r.text().await.unwrap().contains("Page not found"));
        }
        let r = get(None).await;
        assert_eq!(r.status(), 303);
        assert_eq!(location(&r), crate::helpers::sign_in_location(&cert));
        let r = as_browser(&app, Method::GET, "/certificates/no-such-booking", Some(&cookie_ben)).send().await.unwrap();
        assert_eq!(r.status(), 404);

        // The certificate itself, in a browser (skipped with CPD_SKIP_BROWSER=1; the checks
        // above run either way).
        let Some(browser) = Browser::start_sized(320, 900).await else { return };
        sign_in_browser(&app, &browser, &s.people[0].id).await;
        browser.goto(&url(&app, &format!("/certificates/{}", s.bookings[0]))).await;
        browser.assert_fits("certificate at 320 px").await;
        browser.assert_focus_visible("certificate at 320 px").await;
        let cert = browser.find("#certificate").await.text().await;
        assert!(cert.contains("Certificate of attendance") && cert.contains("Amy Adams"), "{cert}");
        assert!(cert.contains(&s.title) && cert.contains("Barnsley Teaching Alliance"), "{cert}");
        assert!(cert.contains("Hoyland Common Primary"), "{cert}");
        assert_eq!(browser.find("#hours").await.text().await, "5.5");
        assert!(cert.contains("2 of 2"), "{cert}");
        browser.emulate_media("print").await;
        assert_eq!(browser.find(".site-header").await.css("display").await, "none");
        browser.emulate_media("").await;
    }
}

crate::both_backends! {
    async fn register_pages_answer_only_the_course_leads_and_admins(app: TestApp) {
        let s = setup(&app).await;
        let session = &s.sessions[0];
        let other_lead = bk_person(&app, "Olly Otherlead", Some(&s.w.school_b), None, &[Role::CourseLead]).await;
        let olly = other_lead.id.clone();
        bk_course(&app, &s.w, "Another course", 10, |b| b["lead_ids"] = json!([olly])).await;
        let group = bk_person(&app, "Gwen Group", Some(&s.w.school_c), None, &[Role::CpdGroup]).await;
        let admin = web_session_cookie(&app, &app.admin_id()).await;
        let lead = web_session_cookie(&app, &s.lead.id).await;
        let refused = [
            ("staff", web_session_cookie(&app, &s.people[0].id).await),
            ("another school's lead", web_session_cookie(&app, &s.w.lead_b.id).await),
            ("another course's lead", web_session_cookie(&app, &other_lead.id).await),
            ("CPD group", web_session_cookie(&app, &group.id).await),
        ];
        let register = format!("/sessions/{session}/register");
        let routes: Vec<(Method, String, Form)> = vec![
            (Method::GET, register.clone(), vec![]),
            (Method::GET, format!("/sessions/{session}/sign-in-sheet"), vec![]),
            (Method::POST, register.clone(), vec![("booking_id", s.bookings[0].clone()), ("status", "present".into())]),
            (Method::POST, format!("{register}/everyone-present"), vec![]),
            (
                Method::POST,
                format!("{register}/walk-ins"),
                vec![("name", "Wendy Walk".into()), ("email", "wendy@school.test".into())],
            ),
        ];
        for (method, path, form) in &routes {
            // Not signed in: to the sign-in page.
            let r = as_browser(&app, method.clone(), path, None).form(form).send().await.unwrap();
            let to_sign_in = if *method == Method::GET { crate::helpers::sign_in_location(path) } else { "/".to_string() };
            assert_eq!((r.status().as_u16(), location(&r)), (303, to_sign_in), "{method} {path}");
            for (who, cookie) in &refused {
                let r = as_browser(&app, method.clone(), path, Some(cookie)).form(form).send().await.unwrap();
                assert_eq!(r.status(), 404, "{method} {path} as {who}");
            }
        }
        // Nothing was written by the refused posts.
        assert!(statuses(&api_register(&app, session).await).iter().all(|(_, st)| st.is_null()));
        assert_eq!(api_register(&app, session).await["items"].as_array().unwrap().len(), 5);

        // The course's lead and an admin get in.
        for cookie in [&lead, &admin] {
            for (method, path, form) in &routes {
                let r = as_browser(&app, method.clone(), path, Some(cookie)).form(form).send().await.unwrap();
                let expect = if *method == Method::GET { 200 } else { 303 };
                assert_eq!(r.status(), expect, "{method} {path}");
            }
        }
        let marks = statuses(&api_register(&app, session).await);
        assert_eq!(marks.len(), 6, "Wendy was added once: {marks:?}");
        // The page's CSV link works with the lead's browser session.
        let r = as_browser(&app, Method::GET, &format!("/api/v1/sessions/{session}/register.csv"), Some(&lead))
            .send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.text().await.unwrap().contains("Wendy Walk"));
        assert!(marks.iter().all(|(_, st)| st == "present"), "{marks:?}");

        // Posts from another site, or that do not say where they come from, are refused.
        let evil = app.client.post(url(&app, &register))
            .header("cookie", format!("cpd_session={lead}"))
            .header("origin", "https://evil.example")
            .form(&[("booking_id", s.bookings[0].as_str()), ("status", "absent")])
            .send().await.unwrap();
        assert_eq!(evil.status(), 403);
        let bare = app.client.post(url(&app, &register))
            .header("cookie", format!("cpd_session={lead}"))
            .form(&[("booking_id", s.bookings[0].as_str()), ("status", "absent")])
            .send().await.unwrap();
        assert_eq!(bare.status(), 403);

        // Bad input is named, and changes nothing.
        let post = |form: Vec<(&'static str, String)>| {
            as_browser(&app, Method::POST, &register, Some(&lead)).form(&form).send()
        };
        expect_problem(post(vec![("booking_id", s.bookings[0].clone()), ("status", "here".into())]).await.unwrap(), 422, Some("status")).await;
        let elsewhere = bk_person(&app, "Fay Elsewhere", Some(&s.w.school_c), None, &[]).await;
        let olly_course = bk_course(&app, &s.w, "Third course", 10, |_| {}).await;
        let foreign = bk_book_ok(&app, &olly_course, &elsewhere).await;
        expect_problem(
            post(vec![("booking_id", foreign["id"].as_str().unwrap().to_string()), ("status", "absent".into())]).await.unwrap(),
            422,
            Some("booking_id"),
        ).await;
        assert!(statuses(&api_register(&app, session).await).iter().all(|(_, st)| st == "present"));

        // A walk-in form with mistakes comes back as the page, naming them.
        let r = as_browser(&app, Method::POST, &format!("{register}/walk-ins"), Some(&lead))
            .form(&[("name", ""), ("email", "not an address")])
            .send().await.unwrap();
        assert_eq!(r.status(), 422);
        let html = r.text().await.unwrap();
        assert!(html.contains("Enter their full name") && html.contains("Enter an email address in the right form"));
        assert!(html.contains("value=\"not an address\""));
    }
}

crate::both_backends! {
    async fn a_locked_register_is_for_admins_only(app: TestApp) {
        let s = setup(&app).await;
        let session = &s.sessions[0];
        let lead = web_session_cookie(&app, &s.lead.id).await;
        let admin = web_session_cookie(&app, &app.admin_id()).await;
        let register = format!("/sessions/{session}/register");
        let r = as_browser(&app, Method::POST, &register, Some(&lead))
            .form(&[("booking_id", s.bookings[0].as_str()), ("status", "present")])
            .send().await.unwrap();
        assert_eq!(r.status(), 303);
        // Held 20 days ago: past the 14-day lock.
        set_session_time(&app, session, -60 * 24 * 20, 180).await;

        let html = as_browser(&app, Method::GET, &register, Some(&lead)).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("This register is locked") && html.contains("Ask an admin"), "{html}");
        assert!(!html.contains("class=\"status-button\""), "no buttons on a locked register");
        assert!(!html.contains("everyone-present"));
        let r = as_browser(&app, Method::POST, &register, Some(&lead))
            .form(&[("booking_id", s.bookings[0].as_str()), ("status", "absent")])
            .send().await.unwrap();
        assert_eq!((r.status().as_u16(), location(&r)), (303, format!("{register}#locked")));
        assert_eq!(statuses(&api_register(&app, session).await)[0].1, "present");

        // An admin sees the notice and may still correct it.
        let html = as_browser(&app, Method::GET, &register, Some(&admin)).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("This register is locked") && html.contains("As an admin you can still change it"));
        assert!(html.contains("class=\"status-button\""));
        let r = as_browser(&app, Method::POST, &register, Some(&admin))
            .form(&[("booking_id", s.bookings[0].as_str()), ("status", "absent")])
            .send().await.unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(statuses(&api_register(&app, session).await)[0].1, "absent");
    }
}

crate::both_backends! {
    async fn course_leads_find_their_registers(app: TestApp) {
        let s = setup(&app).await;
        // Both sessions ahead, so the list shows them in order as coming.
        set_session_time(&app, &s.sessions[0], 30 * 24 * 60, 180).await;
        let Some(browser) = Browser::start().await else { return };
        sign_in_browser(&app, &browser, &s.lead.id).await;
        browser.goto(&url(&app, "/")).await;
        let link = browser.find("main a[href='/my/courses']").await;
        browser.click_and_wait(&link).await;
        assert_eq!(browser.find("h1").await.text().await, "Courses you lead");
        assert!(browser.find("main").await.text().await.contains(&s.title));
        let links = browser.find_all("a[href$='/register']").await;
        assert_eq!(links.len(), 2, "one register per session");
        browser.click_and_wait(&links[0]).await;
        assert!(browser.current_url().await.ends_with(&format!("/sessions/{}/register", s.sessions[0])));
        assert_eq!(browser.find("h1").await.text().await, s.title);

        // Someone who leads nothing is told so; someone not signed in is sent to sign in.
        let staff = web_session_cookie(&app, &s.people[0].id).await;
        let r = as_browser(&app, Method::GET, "/my/courses", Some(&staff)).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let html = r.text().await.unwrap();
        assert!(html.contains("You do not lead any courses") && !html.contains(&s.title));
        let r = as_browser(&app, Method::GET, "/my/courses", None).send().await.unwrap();
        assert_eq!((r.status().as_u16(), location(&r)), (303, crate::helpers::sign_in_location("/my/courses")));
        // Check-in: the form is for anyone; using it needs signing in.
        let r = as_browser(&app, Method::GET, "/check-in", None).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let r = as_browser(&app, Method::POST, "/check-in", None).form(&[("code", "ABCDEF")]).send().await.unwrap();
        assert_eq!((r.status().as_u16(), location(&r)), (303, "/".to_string()));
    }
}

crate::both_backends! {
    async fn everyone_present_never_overwrites_a_check_in_made_at_the_same_moment(app: TestApp) {
        // Twenty people check themselves in late while the lead taps "everyone present": a
        // check-in that lands first must stay late, whatever the order the two arrive in.
        let s = setup(&app).await;
        let session = s.sessions[0].clone();
        set_session_time(&app, &session, -20, 120).await;
        let course = api_register(&app, &session).await["session"]["course_id"]
            .as_str()
            .unwrap()
            .to_string();
        let teacher = s.w.fx.group("teacher");
        let mut people = Vec::new();
        for n in 0..20 {
            let who = bk_person(&app, &format!("Racer {n}"), Some(&s.w.school_a), Some(&teacher), &[]).await;
            bk_book_ok(&app, &course, &who).await;
            people.push(who);
        }
        let code = api_register(&app, &session).await["session"]["check_in_code"]
            .as_str()
            .unwrap()
            .to_string();
        let lead_cookie = web_session_cookie(&app, &s.lead.id).await;
        for round in 0..2 {
            // Round 0 races the first ten check-ins, round 1 the other ten (the first tap
            // marked them present already, so their check-ins change nothing).
            let batch = &people[round * 10..round * 10 + 10];
            let check_ins = batch.iter().map(|who| {
                app.client
                    .post(url(&app, "/api/v1/check-in"))
                    .bearer_auth(&who.token)
                    .json(&json!({"code": code}))
                    .send()
            });
            let tap = as_browser(
                &app,
                Method::POST,
                &format!("/sessions/{session}/register/everyone-present"),
                Some(&lead_cookie),
            )
            .send();
            let (tapped, checked) =
                tokio::join!(tap, futures_util::future::join_all(check_ins));
            assert_eq!(tapped.unwrap().status(), 303);
            for r in checked {
                let r = r.unwrap();
                let status = r.status().as_u16();
                assert!(status == 200 || status == 409, "check-in answered {status}");
            }
        }
        let history = app
            .admin_get(&format!("/api/v1/sessions/{session}/attendance-history"))
            .await;
        let items = history["items"].as_array().expect("history items");
        assert!(!items.is_empty());
        let overwritten: Vec<&Value> = items
            .iter()
            .filter(|h| h["from"] == "late" && h["to"] == "present")
            .collect();
        assert!(overwritten.is_empty(), "check-ins overwritten by everyone-present: {overwritten:?}");
        // Everyone on the register now has a mark: present or late, nobody left out.
        let register = api_register(&app, &session).await;
        let marks = statuses(&register);
        assert_eq!(marks.len(), 25);
        for (name, status) in &marks {
            assert!(status == "present" || status == "late", "{name}: {status}");
        }
    }
}

crate::both_backends! {
    /// The status buttons hold their longest label, "✓ Apologies" when chosen, at a phone's
    /// width and a desktop's, and under WCAG 1.4.12's text-spacing override.
    async fn status_buttons_fit_their_labels_with_text_spacing(app: TestApp) {
        let s = setup(&app).await;
        let Some(browser) = Browser::start().await else { return };
        sign_in_browser(&app, &browser, &s.lead.id).await;
        let register = format!("/sessions/{}/register", s.sessions[0]);
        browser.goto(&url(&app, &register)).await;
        tap(&browser, &s.bookings[0], "apologies").await;
        let spacing = "const s = document.createElement('style'); s.textContent = \
            '* { letter-spacing: 0.12em !important; word-spacing: 0.16em !important; \
            line-height: 1.5 !important; } p { margin-bottom: 2em !important; }'; \
            document.head.appendChild(s); return true;";
        let overflowing = "return [...document.querySelectorAll('.status-button')] \
            .filter(b => b.scrollWidth > b.clientWidth + 0.5 || b.scrollHeight > b.clientHeight + 0.5) \
            .map(b => b.textContent.trim() + ' ' + b.scrollWidth + '>' + b.clientWidth);";
        for width in [320, 1280] {
            browser.set_window_size(width, 900).await;
            browser.goto(&url(&app, &register)).await;
            let chosen = browser.find(&format!("#b-{} button[aria-pressed=true]", s.bookings[0])).await;
            assert_eq!(chosen.attribute("value").await.as_deref(), Some("apologies"));
            for spaced in [false, true] {
                if spaced {
                    browser.execute(spacing, vec![]).await;
                }
                let out = browser.execute(overflowing, vec![]).await;
                assert_eq!(out, serde_json::json!([]), "at {width} px, text spacing {spaced}");
            }
        }
    }
}

/// A published course led by the setup's lead, with `sessions` sessions a week apart from a
/// week ahead.
async fn led_course(app: &TestApp, s: &Setup, title: &str, sessions: i64) -> String {
    let lead_id = s.lead.id.clone();
    bk_course(app, &s.w, title, 10, |b| {
        b["lead_ids"] = json!([lead_id]);
        b["sessions"] = json!((1..=sessions)
            .map(|n| session_in(7 * n))
            .collect::<Vec<_>>());
    })
    .await
}

/// The id of a course's first session.
async fn first_session(app: &TestApp, course: &str) -> String {
    let c = app.admin_get(&format!("/api/v1/courses/{course}")).await;
    c["sessions"][0]["id"].as_str().unwrap().to_string()
}

/// Moves a session to an absolute time (UTC).
async fn set_session_at(
    app: &TestApp,
    session_id: &str,
    start: chrono::NaiveDateTime,
    minutes: i64,
) {
    let id = session_id.to_string();
    app.with_db(move |conn| {
        diesel::update(course_sessions::table.find(&id))
            .set((
                course_sessions::start_at.eq(start),
                course_sessions::end_at.eq(start + Span::minutes(minutes)),
            ))
            .execute(conn)
            .unwrap();
    })
    .await;
}

crate::both_backends! {
    /// A lead of three courses sees today's session first (whatever the hour, it is on
    /// today's date in London), with how many are booked and whether its register is taken;
    /// then the courses to come by their next session; the course held folded away.
    async fn a_lead_sees_today_first_and_the_held_folded_away(app: TestApp) {
        let s = setup(&app).await; // "Adaptive teaching…": sessions in 30 and 37 days, 5 booked
        set_session_time(&app, &s.sessions[0], 30 * 24 * 60, 180).await;
        let today_course = led_course(&app, &s, "Early reading: phonics catch-up", 2).await;
        let held_course = led_course(&app, &s, "Behaviour in the first weeks", 1).await;
        let today_session = first_session(&app, &today_course).await;
        let held_session = first_session(&app, &held_course).await;
        let teacher = s.w.fx.group("teacher");
        let reader = bk_person(&app, "Rhea Reader", Some(&s.w.school_b), Some(&teacher), &[]).await;
        let booking = bk_book_ok(&app, &today_course, &reader).await["id"].as_str().unwrap().to_string();
        let other = bk_person(&app, "Otto Other", Some(&s.w.school_b), Some(&teacher), &[]).await;
        bk_book_ok(&app, &today_course, &other).await;

        // Today's session at noon London time; the held one forty days ago.
        let london_today = cpd_hub::domain::time::london_local(Utc::now().naive_utc()).date();
        let noon = cpd_hub::domain::time::london_to_utc(london_today.and_hms_opt(12, 0, 0).unwrap()).unwrap();
        set_session_at(&app, &today_session, noon, 90).await;
        set_session_at(&app, &held_session, noon - Span::days(40), 90).await;
        // One person marked on today's register.
        let (b, sid, cid) = (booking.clone(), today_session.clone(), today_course.clone());
        app.with_db(move |conn| {
            use cpd_hub::db::schema::attendance;
            diesel::insert_into(attendance::table)
                .values((
                    attendance::booking_id.eq(b),
                    attendance::session_id.eq(sid),
                    attendance::course_id.eq(cid),
                    attendance::status.eq("present"),
                    attendance::source.eq("register"),
                    attendance::recorded_at.eq(Utc::now().naive_utc()),
                ))
                .execute(conn)
                .unwrap();
        })
        .await;

        let cookie = web_session_cookie(&app, &s.lead.id).await;
        let html = crate::helpers::page_text(&app, "/my/courses", Some(&cookie)).await;
        let today_at = html.find("id=\"today-heading\"").expect("a Today section");
        let coming_at = html.find("id=\"coming-heading\"").expect("a section of courses to come");
        let held_at = html.find("Courses held (1)").expect("the held course folded away");
        assert!(today_at < coming_at && coming_at < held_at);
        let today_part = &html[today_at..coming_at];
        assert!(today_part.contains("Early reading: phonics catch-up"), "{today_part}");
        assert!(today_part.contains("2 booked"), "{today_part}");
        assert!(today_part.contains("Register taken</strong> (1 marked)"), "{today_part}");
        assert!(today_part.contains(&format!("/sessions/{today_session}/register")));
        // To come, by next session: today's course (today, or in a week once today's
        // session is over) before the course in 30 days.
        let coming = &html[coming_at..held_at];
        let (a, b) = (coming.find("Early reading").unwrap(), coming.find(&s.title).unwrap());
        assert!(a < b, "today's course comes first: {coming}");
        assert!(coming.contains("5 booked"), "{coming}");
        let held = &html[held_at..];
        assert!(held.contains("Behaviour in the first weeks") && held.contains("Register not taken"), "{held}");
        assert!(held.contains(&format!("/sessions/{held_session}/register")));

        // In a browser: the held courses start folded, and the page passes axe at 320 px.
        let Some(browser) = Browser::start_sized(320, 900).await else { return };
        sign_in_browser(&app, &browser, &s.lead.id).await;
        browser.goto(&url(&app, "/my/courses")).await;
        browser.assert_fits("my courses at 320 px").await;
        browser.save_screenshot("my-courses-320").await;
        assert_eq!(browser.find("details.held-courses").await.attribute("open").await, None);
        browser.assert_accessible("my courses").await;
    }
}
