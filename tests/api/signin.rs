//! Sign-in by emailed link, browser sessions, the cross-site request check, security headers,
//! the audit log endpoint, data exports, and no personal data in the log.

use cpd_hub::db::schema::{audit_log, magic_links, outbox, web_sessions};
use cpd_hub::domain::roles::Role;
use diesel::prelude::*;
use reqwest::Response;
use serde_json::{json, Value};

use crate::helpers::TestApp;

const PAGE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
                        frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// As `both_backends!`, with the email worker off: these tests read each sign-in link from its
/// queued message, and a running worker would deliver the message and drop the link from it.
/// `sign_in_mail.rs` follows a link through a real SMTP server instead.
/// `worker_off! { settings: |s| ..., async fn ... }` adjusts the settings further.
macro_rules! worker_off {
    ($(#[$meta:meta])* async fn $name:ident($app:ident : TestApp) $body:block) => {
        worker_off! { settings: |_| {}, $(#[$meta])* async fn $name($app: TestApp) $body }
    };
    (settings: $adjust:expr, $(#[$meta:meta])* async fn $name:ident($app:ident : TestApp) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[allow(unused_imports)]
            use $crate::helpers::*;

            async fn run($app: TestApp) $body

            async fn spawn(backend: Backend) -> Option<TestApp> {
                spawn_app_with(backend, |s| {
                    s.outbox.enabled = false;
                    #[allow(clippy::redundant_closure_call)]
                    ($adjust)(s);
                })
                .await
            }

            $crate::both_backends!(spawn, run);
        }
    };
}

/// The sign-in emails queued so far: (recipient, payload), oldest first.
fn sign_in_emails(app: &TestApp) -> Vec<(String, Value)> {
    let rows: Vec<(String, String)> = outbox::table
        .filter(outbox::kind.eq("sign_in_link"))
        .order(outbox::created_at.asc())
        .select((outbox::recipient_email, outbox::payload))
        .load(&mut app.db_conn())
        .unwrap();
    rows.into_iter()
        .map(|(to, p)| (to, serde_json::from_str(&p).unwrap()))
        .collect()
}

/// The token in a sign-in link.
fn token_of(link: &str) -> String {
    let url = url::Url::parse(link).expect("the link is a URL");
    assert_eq!(url.path(), "/auth/magic");
    url.query_pairs()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .expect("the link carries a token")
}

async fn ask_for_link(app: &TestApp, email: &str) -> Response {
    app.post("/api/v1/auth/magic-link", None, &json!({ "email": email }))
        .await
}

/// Asks for a link for a person on record and returns the token from the queued email.
async fn link_token(app: &TestApp, email: &str) -> String {
    assert_eq!(ask_for_link(app, email).await.status(), 202);
    let (to, payload) = sign_in_emails(app).pop().expect("a sign-in email");
    assert_eq!(to, email);
    token_of(payload["link"].as_str().unwrap())
}

/// Posts the confirm page's form, as a browser on cpd-hub's own page does.
async fn use_link(app: &TestApp, token: &str, origin: Option<&str>) -> Response {
    let mut req = app
        .client
        .post(format!("{}/auth/magic", app.address))
        .form(&[("token", token)]);
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    req.send().await.unwrap()
}

/// The value of the `cpd_session` cookie a response sets, and the whole header.
fn session_cookie(r: &Response) -> (String, String) {
    let header = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with("cpd_session="))
        .expect("a cpd_session cookie is set");
    let value = header["cpd_session=".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_string();
    (value, header)
}

/// Signs in by link and returns the session cookie's value.
async fn sign_in(app: &TestApp, email: &str) -> String {
    let token = link_token(app, email).await;
    let r = use_link(app, &token, Some(&app.address)).await;
    assert_eq!(r.status(), 303);
    session_cookie(&r).0
}

/// A request carrying the session cookie (and optionally an Origin).
fn with_cookie(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    cookie: &str,
    origin: Option<&str>,
) -> reqwest::RequestBuilder {
    let mut req = app
        .client
        .request(method, format!("{}{}", app.address, path))
        .header("cookie", format!("cpd_session={cookie}"));
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    req
}

fn header(r: &Response, name: &str) -> String {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

worker_off! {
    async fn known_and_unknown_addresses_get_the_same_answer(app: TestApp) {
        app.create_person("jo.smith@school.test", "Jo Smith", None, &[]);
        let known = ask_for_link(&app, "Jo.Smith@School.test").await;
        let unknown = ask_for_link(&app, "nobody@school.test").await;
        assert_eq!(known.status(), 202);
        assert_eq!(unknown.status(), 202);
        assert_eq!(header(&known, "content-type"), header(&unknown, "content-type"));
        let known = known.text().await.unwrap();
        assert_eq!(known, unknown.text().await.unwrap());
        assert!(known.contains("sign-in link"), "{known}");

        // Exactly one email, to the person on record, with a working link.
        let emails = sign_in_emails(&app);
        assert_eq!(emails.len(), 1, "{emails:?}");
        let (to, payload) = &emails[0];
        assert_eq!(to, "jo.smith@school.test");
        assert_eq!(payload["person_name"], "Jo Smith");
        assert_eq!(payload["expires_minutes"], 15);
        // The email says when the link stops working: 15 minutes from now.
        let expires = chrono::DateTime::parse_from_rfc3339(payload["expires_at"].as_str().unwrap())
            .unwrap()
            .naive_utc();
        let left = expires - cpd_hub::domain::time::now();
        assert!((14..=15).contains(&left.num_minutes()), "{left}");
        let link = payload["link"].as_str().unwrap();
        assert!(link.starts_with(&format!("{}/auth/magic?token=", app.address)), "{link}");
        let token = token_of(link);
        assert!(token.len() >= 32, "at least 128 bits of randomness");

        // Both requests were recorded alike (for the rate limits); neither holds the token.
        let rows: Vec<(Option<String>, String)> = magic_links::table
            .select((magic_links::person_id, magic_links::token_hash))
            .load(&mut app.db_conn())
            .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows.iter().filter(|r| r.0.is_some()).count(), 1);
        assert!(rows.iter().all(|r| r.1 != token && r.1.len() == 64));

        // Malformed requests are told so, naming the field.
        expect_problem(ask_for_link(&app, "not an email").await, 422, Some("email")).await;
        expect_problem(app.post("/api/v1/auth/magic-link", None, &json!({})).await, 422, Some("email")).await;
        assert_eq!(sign_in_emails(&app).len(), 1);
    }
}

worker_off! {
    async fn a_link_signs_in_once(app: TestApp) {
        app.create_person("jo@school.test", "Jo Smith", None, &[]);
        let token = link_token(&app, "jo@school.test").await;
        let confirm = format!("/auth/magic?token={token}");

        // Opening the link shows one button and does not use the link (mail scanners open it).
        for _ in 0..2 {
            let r = app.get(&confirm, None).await;
            assert_eq!(r.status(), 200);
            assert!(header(&r, "content-type").starts_with("text/html"));
            assert_eq!(header(&r, "cache-control"), "no-store");
            let html = r.text().await.unwrap();
            assert!(html.contains(r#"<form method="post" action="/auth/magic">"#), "{html}");
            assert!(html.contains(&format!(r#"name="token" value="{token}""#)));
            assert!(html.contains(r#"<button type="submit" class="button">Sign in</button>"#));
        }
        let used: Option<chrono::NaiveDateTime> = magic_links::table
            .filter(magic_links::person_id.is_not_null())
            .select(magic_links::used_at)
            .first(&mut app.db_conn())
            .unwrap();
        assert!(used.is_none(), "opening the link must not use it");

        // Posting it from another site, or without saying where from, is refused.
        expect_problem(use_link(&app, &token, None).await, 403, None).await;
        expect_problem(use_link(&app, &token, Some("https://evil.example")).await, 403, None).await;

        // Posting it from the confirm page signs in.
        let r = use_link(&app, &token, Some(&app.address)).await;
        assert_eq!(r.status(), 303);
        assert_eq!(header(&r, "location"), "/");
        let (cookie, set_cookie) = session_cookie(&r);
        assert!(cookie.len() >= 32);
        for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
            assert!(set_cookie.contains(attribute), "{attribute} missing: {set_cookie}");
        }
        assert!(!set_cookie.contains("Secure"), "plain http: {set_cookie}");

        // The cookie signs the browser in, for the API and the pages.
        let r = with_cookie(&app, reqwest::Method::GET, "/api/v1/clusters", &cookie, None)
            .send().await.unwrap();
        assert_eq!(r.status(), 200);
        let r = with_cookie(&app, reqwest::Method::GET, "/", &cookie, None).send().await.unwrap();
        let html = r.text().await.unwrap();
        assert!(html.contains("Welcome, Jo Smith"), "{html}");
        assert!(html.contains(r#"action="/auth/sign-out""#));
        // Only the hash of the cookie is stored.
        let hashes: Vec<String> = web_sessions::table.select(web_sessions::token_hash)
            .load(&mut app.db_conn()).unwrap();
        assert_eq!(hashes.len(), 1);
        assert_ne!(hashes[0], cookie);

        // The link works once: a second use, or a second look, says so clearly.
        let r = use_link(&app, &token, Some(&app.address)).await;
        assert_eq!(r.status(), 410);
        assert!(r.headers().get("set-cookie").is_none());
        let html = r.text().await.unwrap();
        assert!(html.contains("has been used already"), "{html}");
        assert!(html.contains(r#"action="/auth/sign-in""#), "offers a new link: {html}");
        let r = app.get(&confirm, None).await;
        assert_eq!(r.status(), 410);
        assert!(r.text().await.unwrap().contains("has been used already"));
        assert_eq!(web_sessions::table.count().get_result::<i64>(&mut app.db_conn()).unwrap(), 1);
    }
}

worker_off! {
    async fn expired_and_unknown_links_show_a_clear_page(app: TestApp) {
        app.create_person("jo@school.test", "Jo Smith", None, &[]);
        let token = link_token(&app, "jo@school.test").await;
        let past = cpd_hub::domain::time::now() - chrono::Duration::minutes(1);
        diesel::update(magic_links::table)
            .set(magic_links::expires_at.eq(past))
            .execute(&mut app.db_conn())
            .unwrap();
        let r = app.get(&format!("/auth/magic?token={token}"), None).await;
        assert_eq!(r.status(), 410);
        let html = r.text().await.unwrap();
        assert!(html.contains("This link has expired"), "{html}");
        assert!(html.contains(r#"action="/auth/sign-in""#));
        let r = use_link(&app, &token, Some(&app.address)).await;
        assert_eq!(r.status(), 410);
        assert!(r.headers().get("set-cookie").is_none());
        assert!(r.text().await.unwrap().contains("This link has expired"));

        for path in ["/auth/magic?token=nonsense", "/auth/magic"] {
            let r = app.get(path, None).await;
            assert_eq!(r.status(), 404);
            assert!(header(&r, "content-type").starts_with("text/html"));
            assert!(r.text().await.unwrap().contains("We do not recognise this link"));
        }
        let r = use_link(&app, "nonsense", Some(&app.address)).await;
        assert_eq!(r.status(), 404);
        assert_eq!(web_sessions::table.count().get_result::<i64>(&mut app.db_conn()).unwrap(), 0);

        // The page's form asks for a new link.
        let r = app.client.post(format!("{}/auth/sign-in", app.address))
            .header("origin", &app.address)
            .form(&[("email", "jo@school.test")])
            .send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.text().await.unwrap().contains("Check your email"));
        assert_eq!(sign_in_emails(&app).len(), 2);
        let r = app.client.post(format!("{}/auth/sign-in", app.address))
            .header("origin", &app.address)
            .form(&[("email", "jo at school")])
            .send().await.unwrap();
        assert_eq!(r.status(), 422);
        let html = r.text().await.unwrap();
        assert!(html.contains(r#"aria-invalid="true""#), "{html}");
        assert!(html.contains("Enter an email address in the right form"));
    }
}

worker_off! {
    async fn link_requests_are_rate_limited(app: TestApp) {
        app.create_person("jo@school.test", "Jo Smith", None, &[]);
        // Per address, and alike for unknown addresses (or a 429 would tell them apart).
        for email in ["jo@school.test", "nobody@school.test"] {
            for _ in 0..5 {
                assert_eq!(ask_for_link(&app, email).await.status(), 202);
            }
            let r = ask_for_link(&app, email).await;
            let retry: u64 = header(&r, "retry-after").parse().expect("Retry-After in seconds");
            assert!((1..=15 * 60).contains(&retry), "{retry}");
            expect_problem(r, 429, None).await;
        }
        assert_eq!(sign_in_emails(&app).len(), 5);

        // The form says so too, in a page.
        let r = app.client.post(format!("{}/auth/sign-in", app.address))
            .header("origin", &app.address)
            .form(&[("email", "jo@school.test")])
            .send().await.unwrap();
        assert_eq!(r.status(), 429);
        assert!(!header(&r, "retry-after").is_empty());
        assert!(r.text().await.unwrap().contains("Too many sign-in requests"));

        // The window moves on: once the requests are older than 15 minutes, links flow again.
        let earlier = cpd_hub::domain::time::now() - chrono::Duration::minutes(16);
        diesel::update(magic_links::table)
            .set(magic_links::created_at.eq(earlier))
            .execute(&mut app.db_conn())
            .unwrap();
        assert_eq!(ask_for_link(&app, "jo@school.test").await.status(), 202);
        assert_eq!(sign_in_emails(&app).len(), 6);
    }
}

mod rate_limit_per_client {
    use super::*;
    use crate::helpers::{expect_problem, spawn_app_with, Backend};

    async fn run(backend: Backend) {
        let Some(app) = spawn_app_with(backend, |s| s.sign_in.limit_per_client = 8).await else {
            eprintln!("TEST_POSTGRES_URL is not set: PostgreSQL half skipped");
            return;
        };
        for i in 0..8 {
            let r = ask_for_link(&app, &format!("person{i}@school.test")).await;
            assert_eq!(r.status(), 202);
        }
        let r = ask_for_link(&app, "someone.else@school.test").await;
        assert!(!header(&r, "retry-after").is_empty());
        expect_problem(r, 429, None).await;
    }

    crate::each_backend!(run);
}

mod secure_cookie_over_https {
    use super::*;
    use crate::helpers::{spawn_app_with, Backend};

    async fn run(backend: Backend) {
        let public = "https://cpd.example.test";
        let Some(app) = spawn_app_with(backend, |s| {
            s.public_base_url = public.into();
            s.outbox.enabled = false;
        })
        .await
        else {
            eprintln!("TEST_POSTGRES_URL is not set: PostgreSQL half skipped");
            return;
        };
        app.create_person("jo@school.test", "Jo Smith", None, &[]);
        assert_eq!(ask_for_link(&app, "jo@school.test").await.status(), 202);
        let (_, payload) = sign_in_emails(&app).pop().unwrap();
        let link = payload["link"].as_str().unwrap();
        assert!(
            link.starts_with("https://cpd.example.test/auth/magic?token="),
            "{link}"
        );
        // The public origin counts as cpd-hub's own, whatever host the request reached.
        let r = use_link(&app, &token_of(link), Some(public)).await;
        assert_eq!(r.status(), 303);
        let (_, set_cookie) = session_cookie(&r);
        assert!(set_cookie.contains("; Secure"), "{set_cookie}");
        assert!(set_cookie.contains("HttpOnly"));
    }

    crate::each_backend!(run);
}

worker_off! {
    async fn signing_out_ends_the_session(app: TestApp) {
        app.create_person("jo@school.test", "Jo Smith", None, &[]);
        // Through the API.
        let cookie = sign_in(&app, "jo@school.test").await;
        let clusters = |c: String| {
            let app = &app;
            async move {
                with_cookie(app, reqwest::Method::GET, "/api/v1/clusters", &c, None)
                    .send().await.unwrap().status().as_u16()
            }
        };
        assert_eq!(clusters(cookie.clone()).await, 200);
        // A cookie-borne sign-out from another site is refused (and changes nothing).
        let r = with_cookie(&app, reqwest::Method::POST, "/api/v1/auth/sign-out", &cookie, Some("https://evil.example"))
            .send().await.unwrap();
        expect_problem(r, 403, None).await;
        assert_eq!(clusters(cookie.clone()).await, 200);
        let r = with_cookie(&app, reqwest::Method::POST, "/api/v1/auth/sign-out", &cookie, Some(&app.address))
            .send().await.unwrap();
        assert_eq!(r.status(), 204);
        let (value, set_cookie) = session_cookie(&r);
        assert_eq!(value, "");
        assert!(set_cookie.contains("Max-Age=0"), "{set_cookie}");
        assert_eq!(clusters(cookie.clone()).await, 401);
        let revoked: Vec<Option<chrono::NaiveDateTime>> = web_sessions::table
            .select(web_sessions::revoked_at).load(&mut app.db_conn()).unwrap();
        assert!(revoked.iter().all(Option::is_some));

        // Through the page's button.
        let cookie = sign_in(&app, "jo@school.test").await;
        assert_eq!(clusters(cookie.clone()).await, 200);
        let r = with_cookie(&app, reqwest::Method::POST, "/auth/sign-out", &cookie, Some(&app.address))
            .send().await.unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(header(&r, "location"), "/");
        assert_eq!(session_cookie(&r).0, "");
        assert_eq!(clusters(cookie.clone()).await, 401);
        // A signed-out browser sees the sign-in form again.
        let html = with_cookie(&app, reqwest::Method::GET, "/", &cookie, None)
            .send().await.unwrap().text().await.unwrap();
        assert!(html.contains("Sign in to cpd-hub"), "{html}");
    }
}

worker_off! {
    // The sessions' times are moved in the database behind the service's back, as another
    // copy or the passing of hours would: with no answers kept, each request reads them.
    // (`auth_cache.rs` has the kept answers' own tests.)
    settings: |s: &mut cpd_hub::config::Settings| s.sign_in.auth_cache_seconds = 0,
    async fn sessions_end_when_idle_or_at_their_absolute_end(app: TestApp) {
        app.create_person("jo@school.test", "Jo Smith", None, &[]);
        let get = |c: String| {
            let app = &app;
            async move {
                with_cookie(app, reqwest::Method::GET, "/api/v1/clusters", &c, None)
                    .send().await.unwrap().status().as_u16()
            }
        };
        let now = cpd_hub::domain::time::now();
        let cookie = sign_in(&app, "jo@school.test").await;
        // Used 7 hours ago: still live, and the use is recorded.
        diesel::update(web_sessions::table)
            .set(web_sessions::last_seen_at.eq(now - chrono::Duration::hours(7)))
            .execute(&mut app.db_conn()).unwrap();
        assert_eq!(get(cookie.clone()).await, 200);
        let seen: chrono::NaiveDateTime = web_sessions::table.select(web_sessions::last_seen_at)
            .first(&mut app.db_conn()).unwrap();
        assert!(seen >= now, "last_seen_at refreshed");
        // Idle for 8 hours and more: ended.
        diesel::update(web_sessions::table)
            .set(web_sessions::last_seen_at.eq(now - chrono::Duration::hours(9)))
            .execute(&mut app.db_conn()).unwrap();
        assert_eq!(get(cookie.clone()).await, 401);

        let cookie = sign_in(&app, "jo@school.test").await;
        assert_eq!(get(cookie.clone()).await, 200);
        diesel::update(web_sessions::table)
            .set(web_sessions::expires_at.eq(now - chrono::Duration::seconds(1)))
            .execute(&mut app.db_conn()).unwrap();
        assert_eq!(get(cookie).await, 401);
        // A bearer token still wins over a dead cookie.
        let r = with_cookie(&app, reqwest::Method::GET, "/api/v1/clusters", "dead", None)
            .bearer_auth(&app.admin_token).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
}

worker_off! {
    async fn cookie_state_changes_must_come_from_cpd_hub(app: TestApp) {
        let cookie = sign_in(&app, "admin@alliance.test").await;
        let create = |origin: Option<String>, referer: Option<String>, name: &'static str| {
            let app = &app;
            let cookie = cookie.clone();
            async move {
                let mut req = with_cookie(app, reqwest::Method::POST, "/api/v1/clusters", &cookie, origin.as_deref())
                    .json(&json!({ "name": name }));
                if let Some(r) = referer {
                    req = req.header("referer", r);
                }
                req.send().await.unwrap()
            }
        };
        let p = expect_problem(create(None, None, "Dearne").await, 403, None).await;
        assert!(p["detail"].as_str().unwrap().contains("Origin"), "{p}");
        expect_problem(create(Some("https://evil.example".into()), None, "Dearne").await, 403, None).await;
        expect_problem(create(Some("null".into()), None, "Dearne").await, 403, None).await;
        expect_problem(create(None, Some("https://evil.example/page".into()), "Dearne").await, 403, None).await;
        assert_eq!(app.admin_get("/api/v1/clusters").await["total"], 0);

        expect_json(create(Some(app.address.clone()), None, "Dearne").await, 201).await;
        expect_json(create(None, Some(format!("{}/some/page", app.address)), "Penistone").await, 201).await;
        // Reads need no Origin; bearer requests need none for anything.
        let r = with_cookie(&app, reqwest::Method::GET, "/api/v1/clusters", &cookie, None).send().await.unwrap();
        assert_eq!(expect_json(r, 200).await["total"], 2);
        app.admin_create("/api/v1/clusters", json!({"name": "Carlton"})).await;
        assert_eq!(app.admin_get("/api/v1/clusters").await["total"], 3);
    }
}

worker_off! {
    async fn pages_carry_security_headers(app: TestApp) {
        app.create_person("jo@school.test", "Jo Smith", None, &[]);
        let token = link_token(&app, "jo@school.test").await;
        for path in ["/".to_string(), format!("/auth/magic?token={token}"), "/auth/magic?token=x".into()] {
            let r = app.get(&path, None).await;
            assert!(header(&r, "content-type").starts_with("text/html"), "{path}");
            assert_eq!(header(&r, "content-security-policy"), PAGE_CSP, "{path}");
            assert_eq!(header(&r, "x-content-type-options"), "nosniff");
            assert_eq!(header(&r, "x-frame-options"), "DENY");
            assert_eq!(header(&r, "referrer-policy"), "same-origin");
            let html = r.text().await.unwrap();
            // The policy forbids inline scripts and styles, so the pages must not need them.
            assert!(!html.contains("<script"), "{path}");
            assert!(!html.contains("style="), "{path}");
            assert!(html.contains(r#"<link rel="stylesheet" href="/static/app.css">"#));
            assert!(html.contains(r#"<html lang="en-GB">"#));
        }
        let r = app.get("/static/app.css", None).await;
        assert_eq!(r.status(), 200);
        assert!(header(&r, "content-type").starts_with("text/css"));
        assert!(r.text().await.unwrap().contains(":focus-visible"));

        // The API documentation keeps working: its scripts are files, its styles inline.
        let r = app.get("/api/docs/", None).await;
        assert_eq!(r.status(), 200);
        let csp = header(&r, "content-security-policy");
        assert!(csp.contains("script-src 'self';"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        let html = r.text().await.unwrap();
        assert!(html.contains(r#"<script src="./swagger-initializer.js""#), "{html}");
        assert_eq!(app.get("/api/docs/swagger-initializer.js", None).await.status(), 200);

        // Problems carry the headers too.
        let r = app.get("/api/v1/clusters", None).await;
        assert_eq!(header(&r, "x-content-type-options"), "nosniff");
    }
}

worker_off! {
    async fn the_audit_log_is_for_admins_with_filters(app: TestApp) {
        let admin = app.admin_id();
        let staff = app.create_person("jo@school.test", "Jo Smith", None, &[]);
        let staff_token = app.token_for(&staff);
        let lead = app.create_person("lee@school.test", "Lee Lead", None, &[Role::SchoolLead, Role::CpdGroup]);
        let lead_token = app.token_for(&lead);
        {
            let mut c = app.db_conn();
            cpd_hub::store::audit::record(&mut c, Some(&admin), "role.grant", "person", Some(&lead),
                json!({"role": "school_lead"})).unwrap();
            cpd_hub::store::audit::record(&mut c, Some(&admin), "person.erase", "person", Some(&staff),
                json!({})).unwrap();
            cpd_hub::store::audit::record(&mut c, Some(&lead), "course.cancel", "course", Some("c1"),
                json!({"reason": "snow"})).unwrap();
            // One old entry, for the time filters.
            cpd_hub::store::audit::record(&mut c, None, "schools.import", "schools", None, json!({"rows": 92})).unwrap();
            diesel::update(audit_log::table.filter(audit_log::action.eq("schools.import")))
                .set(audit_log::at.eq(chrono::NaiveDate::from_ymd_opt(2026, 9, 1).unwrap().and_hms_opt(8, 0, 0).unwrap()))
                .execute(&mut c).unwrap();
        }
        // Signing in leaves nothing in the audit log.
        sign_in(&app, "jo@school.test").await;

        let all = app.admin_get("/api/v1/admin/audit").await;
        // The admin made at start-up (role and token), and the four above.
        assert_eq!(all["total"], 6, "{all}");
        let items = all["items"].as_array().unwrap();
        assert_eq!(items[0]["action"], "course.cancel", "newest first: {all}");
        assert_eq!(items[0]["detail"]["reason"], "snow");
        assert_eq!(items[5]["action"], "schools.import");
        assert_eq!(items[5]["at"], "2026-09-01T08:00:00Z");

        let got = app.admin_get("/api/v1/admin/audit?action=role.grant").await;
        assert_eq!(got["total"], 2);
        let got = app.admin_get(&format!("/api/v1/admin/audit?action=role.grant&subject_id={lead}")).await;
        assert_eq!(got["total"], 1);
        assert_eq!(got["items"][0]["detail"]["role"], "school_lead");
        let got = app.admin_get(&format!("/api/v1/admin/audit?actor_id={admin}")).await;
        assert_eq!(got["total"], 2);
        let got = app.admin_get("/api/v1/admin/audit?to=2026-09-01").await;
        assert_eq!(got["total"], 1);
        assert_eq!(got["items"][0]["action"], "schools.import");
        let got = app.admin_get("/api/v1/admin/audit?from=2026-09-01T08:00:01Z").await;
        assert_eq!(got["total"], 5);
        let got = app.admin_get("/api/v1/admin/audit?limit=2&offset=3").await;
        assert_eq!(got["total"], 6);
        assert_eq!(got["items"].as_array().unwrap().len(), 2);

        let t = Some(app.admin_token.as_str());
        expect_problem(app.get("/api/v1/admin/audit?from=yesterday", t).await, 422, Some("from")).await;
        expect_problem(app.get("/api/v1/admin/audit?from=2026-10-02&to=2026-10-01", t).await, 422, Some("to")).await;
        expect_problem(app.get("/api/v1/admin/audit?limit=0", t).await, 422, Some("limit")).await;
        expect_problem(app.get("/api/v1/admin/audit", None).await, 401, None).await;
        expect_problem(app.get("/api/v1/admin/audit", Some(&staff_token)).await, 403, None).await;
        expect_problem(app.get("/api/v1/admin/audit", Some(&lead_token)).await, 403, None).await;
    }
}

worker_off! {
    async fn a_person_can_export_what_is_held_about_them(app: TestApp) {
        let school = crate::people::school(&app, 100001, "Hoyland Common Primary").await;
        let other_school = crate::people::school(&app, 100002, "Kexborough Primary").await;
        let jo = app.create_person("jo@school.test", "Jo Smith", Some(&school), &[]);
        let jo_token = app.token_for(&jo);
        let sam = app.create_person("sam@school.test", "Sam Jones", Some(&school), &[]);
        let sam_token = app.token_for(&sam);
        let lead = app.create_person("lee@school.test", "Lee Lead", Some(&school), &[Role::SchoolLead]);
        let lead_token = app.token_for(&lead);
        let far_lead = app.create_person("fay@other.test", "Fay Far", Some(&other_school), &[Role::SchoolLead]);
        let far_token = app.token_for(&far_lead);
        cpd_hub::store::audit::record(&mut app.db_conn(), Some(&app.admin_id()), "role.grant", "person",
            Some(&jo), json!({"role": "course_lead"})).unwrap();
        sign_in(&app, "jo@school.test").await;

        let path = format!("/api/v1/people/{jo}/export");
        let r = app.get(&path, Some(&jo_token)).await;
        let text = r.text().await.unwrap();
        let export: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(export["person"]["id"], jo);
        assert_eq!(export["person"]["email"], "jo@school.test");
        assert_eq!(export["person"]["name"], "Jo Smith");
        assert_eq!(export["person"]["school_id"], school);
        assert_eq!(export["roles"], json!(["staff"]));
        assert_eq!(export["api_tokens"].as_array().unwrap().len(), 1);
        assert_eq!(export["api_tokens"][0]["name"], "test");
        assert_eq!(export["sessions"].as_array().unwrap().len(), 1);
        assert_eq!(export["sign_in_links"].as_array().unwrap().len(), 1);
        assert_eq!(export["sign_in_links"][0]["requested_ip"], "127.0.0.1");
        assert_eq!(export["emails"][0]["kind"], "sign_in_link");
        let actions: Vec<&str> = export["audit"].as_array().unwrap().iter()
            .map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["role.grant", "person.export"]);
        // No secrets: neither the token, nor any stored hash, nor the emailed link.
        assert!(!text.contains(&jo_token));
        assert!(!text.contains("token_hash") && !text.contains("payload"), "{text}");
        let hashes: Vec<String> = web_sessions::table.select(web_sessions::token_hash)
            .load(&mut app.db_conn()).unwrap();
        assert!(hashes.iter().all(|h| !text.contains(h.as_str())));

        // Their school's lead and an admin may; other staff and other schools' leads see no such person.
        expect_json(app.get(&path, Some(&lead_token)).await, 200).await;
        expect_json(app.get(&path, Some(&app.admin_token)).await, 200).await;
        expect_problem(app.get(&path, Some(&sam_token)).await, 404, None).await;
        expect_problem(app.get(&path, Some(&far_token)).await, 404, None).await;
        expect_problem(app.get(&path, None).await, 401, None).await;
        expect_problem(app.get("/api/v1/people/nobody/export", Some(&app.admin_token)).await, 404, None).await;
        // Each export is audited, by whom.
        let audit = app.admin_get(&format!("/api/v1/admin/audit?action=person.export&subject_id={jo}")).await;
        assert_eq!(audit["total"], 3);
    }
}

/// The service as a separate process with debug logging, and a sign-in round trip: the log
/// must hold no email address, name, link, token or session cookie.
mod no_personal_data_in_the_log {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::helpers::{fresh_db, Backend};

    const EMAIL: &str = "wilhelmina.logcheck@school.test";
    const NAME: &str = "Wilhelmina Logcheck";
    const UNKNOWN: &str = "unknown.logcheck@school.test";

    async fn run(backend: Backend) {
        let Some(db) = tokio::task::spawn_blocking(move || fresh_db(backend))
            .await
            .unwrap()
        else {
            eprintln!("TEST_POSTGRES_URL is not set: PostgreSQL half skipped");
            return;
        };
        let mail_dir = tempfile::tempdir().unwrap();
        let bin = env!("CARGO_BIN_EXE_cpd-hub");
        let envs = [
            ("DATABASE_URL", db.url().to_string()),
            ("BIND", "127.0.0.1:0".to_string()),
            ("RUST_LOG", "debug".to_string()),
            ("LOG_FORMAT", "text".to_string()),
            // Emails go to files, not to the log.
            ("SMTP_URL", format!("file://{}", mail_dir.path().display())),
        ];
        let out = Command::new(bin)
            .args(["admin", "create", "--email", EMAIL, "--name", NAME])
            .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .expect("cpd-hub admin create runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let api_token = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .last()
            .unwrap()
            .to_string();

        let mut child = Command::new(bin)
            .arg("serve")
            .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cpd-hub serve starts");
        let log = Arc::new(Mutex::new(Vec::<String>::new()));
        let (address_tx, address_rx) = std::sync::mpsc::channel();
        let reader = {
            let log = log.clone();
            let stderr = child.stderr.take().unwrap();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Some(rest) = line.split("serving on ").nth(1) {
                        let _ =
                            address_tx.send(rest.split_whitespace().next().unwrap().to_string());
                    }
                    log.lock().unwrap().push(line);
                }
            })
        };
        let address = address_rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("the service did not start: {:?}", log.lock().unwrap()));

        let client = crate::helpers::http_client()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        for email in [EMAIL, UNKNOWN] {
            let r = client
                .post(format!("{address}/api/v1/auth/magic-link"))
                .json(&json!({ "email": email }))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 202);
        }
        // The link, from the email the file transport wrote.
        let link = sign_in_link_from_eml(mail_dir.path()).await;
        assert!(
            link.starts_with(&format!("{address}/auth/magic?token=")),
            "{link}"
        );
        let token = token_of(&link);
        assert_eq!(client.get(&link).send().await.unwrap().status(), 200);
        let r = client
            .post(format!("{address}/auth/magic"))
            .header("origin", &address)
            .form(&[("token", token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        let cookie = session_cookie(&r).0;
        let with_cookie = |method, path: &str| {
            client
                .request(method, format!("{address}{path}"))
                .header("cookie", format!("cpd_session={cookie}"))
                .header("origin", &address)
        };
        assert_eq!(
            with_cookie(reqwest::Method::GET, "/api/v1/clusters")
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        let home = with_cookie(reqwest::Method::GET, "/")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(home.contains(NAME));
        assert_eq!(
            with_cookie(reqwest::Method::POST, "/api/v1/auth/sign-out")
                .send()
                .await
                .unwrap()
                .status(),
            204
        );
        let r = client
            .get(format!("{address}/api/v1/clusters"))
            .bearer_auth(&api_token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        // A used link, and a wrong one.
        assert_eq!(client.get(&link).send().await.unwrap().status(), 410);
        assert_eq!(
            client
                .get(format!("{address}/api/v1/clusters"))
                .bearer_auth("cpd_wrong")
                .send()
                .await
                .unwrap()
                .status(),
            401
        );

        // Let the last log lines out, then stop the process this test started.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        child.kill().expect("the service stops");
        child.wait().unwrap();
        reader.join().unwrap();

        let log = strip_colours(&log.lock().unwrap().join("\n"));
        // The log was captured (so the checks below can fail) ...
        for route in [
            "route=/auth/magic}",
            "route=/api/v1/auth/magic-link}",
            "route=/}",
        ] {
            assert!(log.contains(route), "{route} expected in:\n{log}");
        }
        // ... and holds nothing personal or secret.
        let lower = log.to_lowercase();
        let local_part = |e: &str| e.split('@').next().unwrap().to_string();
        for secret in [
            EMAIL.to_string(),
            UNKNOWN.to_string(),
            local_part(EMAIL),
            local_part(UNKNOWN),
            "wilhelmina".to_string(),
            "logcheck".to_string(),
            token.clone(),
            cpd_hub::auth::tokens::hash(&token),
            cookie.clone(),
            cpd_hub::auth::tokens::hash(&cookie),
            api_token.to_lowercase(),
        ] {
            assert!(
                !lower.contains(&secret.to_lowercase()),
                "{secret:?} appears in the log:\n{log}"
            );
        }
    }

    /// Waits for the one `.eml` file in `dir` and returns the sign-in link in its text part.
    async fn sign_in_link_from_eml(dir: &std::path::Path) -> String {
        let start = std::time::Instant::now();
        loop {
            let emails: Vec<_> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "eml"))
                .collect();
            assert!(emails.len() < 2, "one email expected: {emails:?}");
            // The file may still be being written: read it again until the link is there.
            let link = emails.first().and_then(|eml| {
                let raw = std::fs::read(eml).ok()?;
                let mail = mail_parser::MessageParser::default().parse(&raw)?;
                let text = mail.body_text(0)?;
                text.lines()
                    .find(|l| l.contains("/auth/magic?token="))
                    .map(|l| l.trim().to_string())
            });
            if let Some(link) = link {
                return link;
            }
            assert!(
                start.elapsed() < std::time::Duration::from_secs(30),
                "no email was written to {}",
                dir.display()
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// The log without its terminal colour codes (`ESC [ ... m`).
    fn strip_colours(s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    crate::each_backend!(run);
}

worker_off! {
    async fn erasure_ends_sessions_and_forgets_sign_in_requests(app: TestApp) {
        let jo = app.create_person("jo@school.test", "Jo Smith", None, &[]);
        let cookie = sign_in(&app, "jo@school.test").await;
        let pending = link_token(&app, "jo@school.test").await;
        let r = app.delete(&format!("/api/v1/people/{jo}"), Some(&app.admin_token)).await;
        assert_eq!(r.status(), 204);

        let r = with_cookie(&app, reqwest::Method::GET, "/api/v1/clusters", &cookie, None)
            .send().await.unwrap();
        assert_eq!(r.status(), 401);
        let r = app.get(&format!("/auth/magic?token={pending}"), None).await;
        assert_eq!(r.status(), 404);
        let mut c = app.db_conn();
        let links: i64 = magic_links::table.filter(magic_links::person_id.eq(&jo)).count().get_result(&mut c).unwrap();
        let sessions: i64 = web_sessions::table.filter(web_sessions::person_id.eq(&jo)).count().get_result(&mut c).unwrap();
        assert_eq!((links, sessions), (0, 0));
        // The old address is now unknown: the same answer, and no email.
        let emails = sign_in_emails(&app).len();
        assert_eq!(ask_for_link(&app, "jo@school.test").await.status(), 202);
        assert_eq!(sign_in_emails(&app).len(), emails);
    }
}
