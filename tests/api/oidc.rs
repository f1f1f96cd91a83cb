//! Single sign-on against a real OpenID provider: the certified `oidc-provider` package run
//! with Node.js (`tests/oidc/provider.mjs`) on 127.0.0.1, with cpd-hub registered as its
//! client. The whole flow in headless Chromium (button, the provider's login and consent
//! pages, back signed in), and each refusal with its page: a wrong state, a replayed
//! callback, a replayed code, an unverified address, an unknown address (nothing created),
//! an address outside the provider's domains, and an ID token that is expired, wrongly
//! signed, unsigned, for another client, from another issuer or with another nonce (the
//! provider's test-only control spoils the next one it sends). Across a key rotation by the
//! provider, sign-in keeps working without a restart, and tokens under a key never published
//! are refused while the provider's keys are read again at most once a minute; eight sign-ins
//! arriving at once just after a rotation all succeed with one read of the keys.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::*;

const CLIENT_ID: &str = "cpd-hub-tests";
const CLIENT_SECRET: &str = "a-client-secret-for-tests-only";
const PROVIDER: &str = "school";

/// The provider's process; stopped when dropped.
struct Idp {
    child: Child,
    issuer: String,
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The test accounts at the provider: login name -> claims.
fn accounts() -> Value {
    json!({
        "jo": {"email": "Jo.Smith@Oak.sch.uk", "email_verified": true, "name": "Jo Smith"},
        "unverified": {"email": "sam@oak.sch.uk", "email_verified": false},
        "stranger": {"email": "new.teacher@oak.sch.uk", "email_verified": true},
        "elsewhere": {"email": "jo@gmail.com", "email_verified": true},
    })
}

/// Starts the provider with cpd-hub at `base` as its client, or `None` (skip recorded).
fn start_provider(what: &str, base: &str) -> Option<Idp> {
    let (node, module) = crate::tools::oidc_provider(what)?;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc/provider.mjs");
    let clients = json!([{
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [format!("{base}/sign-in/oidc/{PROVIDER}/callback")],
    }]);
    let mut child = Command::new(node)
        .arg(script)
        .env("OIDC_PROVIDER_MODULE", module)
        .env("OIDC_CLIENTS", clients.to_string())
        .env("OIDC_ACCOUNTS", accounts().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node starts");
    // Its standard error is kept, to say why if it does not start (an oidc-provider too new
    // for this Node.js, say); both pipes are read to the end, as a full pipe would stop it.
    let errors = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let mut err = child.stderr.take().unwrap();
    let kept = errors.clone();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut text);
        *kept.lock().unwrap() = text;
    });
    let mut line = String::new();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let _ = out.read_line(&mut line);
    let Some(issuer) = serde_json::from_str::<Value>(&line)
        .ok()
        .and_then(|v| v["issuer"].as_str().map(str::to_string))
    else {
        let _ = child.kill();
        let _ = child.wait();
        let _ = reader.join();
        panic!(
            "the provider did not start (first line {line:?}); it said:\n{}",
            errors.lock().unwrap()
        );
    };
    // Whatever else it prints is read and dropped: a closed pipe would end it at its next
    // line (the development login pages log to standard output).
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    Some(Idp { child, issuer })
}

/// cpd-hub with the provider configured (`school`, for oak.sch.uk), once its button shows;
/// the provider runs as long as the returned `Idp` lives.
async fn app_with_provider(backend: Backend, what: &str) -> Option<(TestApp, Idp)> {
    if backend == Backend::Postgres && postgres_url().is_none() {
        return None;
    }
    // The provider must know cpd-hub's callback address before cpd-hub starts, so the port
    // is chosen first.
    let port = reserved_port();
    let base = format!("http://127.0.0.1:{port}");
    let idp = start_provider(what, &base)?;
    let issuer = idp.issuer.clone();
    let app = spawn_app_with(backend, |s| {
        s.bind = format!("127.0.0.1:{port}");
        s.public_base_url = base.clone();
        s.oidc = vec![cpd_hub::config::OidcProviderSettings {
            id: PROVIDER.into(),
            issuer,
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            label: "Sign in with your school account".into(),
            domains: vec!["oak.sch.uk".into()],
            email_verified_optional: false,
        }];
    })
    .await?;
    // Discovery runs in the background after start.
    for _ in 0..100 {
        if page_text(&app, "/", None)
            .await
            .contains("/sign-in/oidc/school")
        {
            return Some((app, idp));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the provider's button never showed");
}

/// A client like a browser: keeps cookies, does not follow redirects (the test does).
fn browser_client() -> reqwest::Client {
    crate::helpers::http_client()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Follows redirects from `url` through the provider's development login (as `login`) and
/// consent pages, and returns the first address on cpd-hub it sends the browser to (the
/// callback, not followed).
async fn through_provider(
    client: &reqwest::Client,
    app: &TestApp,
    idp: &Idp,
    url: &str,
    login: &str,
) -> String {
    let absolute = |u: &str| {
        if u.starts_with('/') {
            format!("{}{u}", idp.issuer)
        } else {
            u.to_string()
        }
    };
    let mut url = absolute(url);
    for _ in 0..20 {
        if url.starts_with(&app.address) {
            return url;
        }
        let r = client.get(&url).send().await.unwrap();
        let r = if r.status() == 200 {
            let html = r.text().await.unwrap();
            let action = html
                .split("action=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .unwrap_or_else(|| panic!("a form on the provider's page: {html}"))
                .replace("&#x2F;", "/")
                .replace("&#47;", "/");
            let form: Vec<(&str, &str)> = if html.contains("name=\"login\"") {
                vec![("prompt", "login"), ("login", login), ("password", "any")]
            } else {
                vec![("prompt", "consent")]
            };
            client
                .post(absolute(&action))
                .form(&form)
                .send()
                .await
                .unwrap()
        } else {
            r
        };
        assert!(r.status().is_redirection(), "{url}: {}", r.status());
        url = absolute(&location(&r));
    }
    panic!("the provider never sent the browser back");
}

/// Starts a sign-in at cpd-hub's button and returns the callback address the provider sends
/// the browser back to, with its code and state.
async fn callback_for(client: &reqwest::Client, app: &TestApp, idp: &Idp, login: &str) -> String {
    let r = client
        .get(format!(
            "{}/sign-in/oidc/{PROVIDER}?next=/my/bookings",
            app.address
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let to = location(&r);
    assert!(to.starts_with(&idp.issuer), "{to}");
    for part in [
        "code_challenge_method=S256",
        "state=",
        "nonce=",
        "scope=openid",
    ] {
        assert!(to.contains(part), "{part} in {to}");
    }
    through_provider(client, app, idp, &to, login).await
}

fn people_count(app: &TestApp) -> i64 {
    use cpd_hub::db::schema::people;
    use diesel::prelude::*;
    people::table
        .count()
        .get_result(&mut app.db_conn())
        .unwrap()
}

fn audit_entries(app: &TestApp, action: &str) -> Vec<(Option<String>, Option<String>, String)> {
    use cpd_hub::db::schema::audit_log;
    use diesel::prelude::*;
    audit_log::table
        .filter(audit_log::action.eq(action))
        .select((
            audit_log::actor_id,
            audit_log::subject_id,
            audit_log::detail,
        ))
        .load(&mut app.db_conn())
        .unwrap()
}

/// Whether a response sets the session cookie (any of its `Set-Cookie` headers).
fn sets_session(r: &reqwest::Response) -> bool {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .any(|c| c.to_str().unwrap().starts_with("cpd_session="))
}

async fn refusal_page(client: &reqwest::Client, url: &str, status: u16) -> String {
    let r = client.get(url).send().await.unwrap();
    assert_eq!(r.status(), status, "{url}");
    assert!(!sets_session(&r), "{url}");
    visible_text(&r.text().await.unwrap())
}

async fn sign_in_in_the_browser(backend: Backend) {
    use crate::browser::*;
    let what = "single sign-on in the browser";
    let Some((app, _idp)) = app_with_provider(backend, what).await else {
        return;
    };
    let Some(browser) = Browser::start_sized(1280, 900).await else {
        return;
    };
    let jo = app.create_person("jo.smith@oak.sch.uk", "Jo Smith", None, &[]);

    // A page that needs signing in sends the reader to the sign-in page, which offers the
    // school account above the emailed link.
    browser.goto(&format!("{}/my/bookings", app.address)).await;
    let button = browser.find("a[href^='/sign-in/oidc/school']").await;
    assert_eq!(button.text().await, "Sign in with your school account");
    browser
        .assert_accessible("sign-in page with single sign-on")
        .await;
    browser.save_screenshot("oidc-sign-in-1280").await;
    browser.click_and_wait(&button).await;

    // The provider's own login page, then its consent page.
    let login = browser
        .wait_for("input[name=login]", Duration::from_secs(10))
        .await;
    assert!(browser.current_url().await.starts_with(&_idp.issuer));
    login.send_keys("jo").await;
    browser
        .find("input[name=password]")
        .await
        .send_keys("any")
        .await;
    let submit = browser.find("button[type=submit]").await;
    browser.click_and_wait(&submit).await;
    let consent = browser
        .wait_for(
            "form input[name=prompt][value=consent]",
            Duration::from_secs(10),
        )
        .await;
    let _ = consent;
    let submit = browser.find("button[type=submit]").await;
    browser.click_and_wait(&submit).await;

    // Back at the page that asked, signed in.
    let h1 = browser.wait_for("h1", Duration::from_secs(10)).await;
    assert_eq!(
        browser.current_url().await,
        format!("{}/my/bookings", app.address)
    );
    assert_eq!(h1.text().await, "Your bookings");
    let entries = audit_entries(&app, "sign_in.oidc");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].0.as_deref(), Some(jo.as_str()));
    assert_eq!(entries[0].1.as_deref(), Some(jo.as_str()));
    assert!(
        entries[0].2.contains("\"provider\":\"school\""),
        "{}",
        entries[0].2
    );

    // The refusal page, as a browser shows it, is accessible too.
    browser
        .goto(&format!(
            "{}/sign-in/oidc/school/callback?code=x&state=forged",
            app.address
        ))
        .await;
    assert_eq!(
        browser.find("h1").await.text().await,
        "The sign-in could not be finished"
    );
    browser
        .assert_accessible("single sign-on refusal page")
        .await;
    browser.save_screenshot("oidc-refused-1280").await;
    browser.set_window_size(320, 800).await;
    browser.goto(&format!("{}/", app.address)).await;
    browser
        .goto(&format!("{}/auth/magic?token=x", app.address))
        .await;
    browser
        .assert_fits("link refusal page with single sign-on at 320px")
        .await;
    browser.save_screenshot("oidc-link-invalid-320").await;
}
crate::each_backend!(
    sign_in_through_the_provider_in_the_browser,
    sign_in_in_the_browser
);

async fn refusals(backend: Backend) {
    let what = "single sign-on refusals";
    let Some((app, idp)) = app_with_provider(backend, what).await else {
        return;
    };
    let jo = app.create_person("jo.smith@oak.sch.uk", "Jo Smith", None, &[]);
    app.create_person("sam@oak.sch.uk", "Sam Unverified", None, &[]);

    // A good sign-in, over plain HTTP: the callback signs in and goes to the page that asked.
    let client = browser_client();
    let callback = callback_for(&client, &app, &idp, "jo").await;
    let r = client.get(&callback).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/my/bookings");
    let session = r
        .cookies()
        .find(|c| c.name() == "cpd_session")
        .expect("a session cookie")
        .value()
        .to_string();
    let me = app
        .client
        .get(format!("{}/api/v1/me", app.address))
        .header("cookie", format!("cpd_session={session}"))
        .send()
        .await
        .unwrap();
    let me = expect_json(me, 200).await;
    assert_eq!(me["person"]["id"], jo.as_str());
    assert_eq!(me["person"]["email"], "jo.smith@oak.sch.uk");

    // The same callback again (a replay): the state is spent.
    let text = refusal_page(&client, &callback, 400).await;
    assert!(text.contains("already used"), "{text}");

    // The used code with a fresh state from a new start: the provider refuses the code.
    let fresh = callback_for(&client, &app, &idp, "jo").await;
    let fresh_state = url::Url::parse(&fresh)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .to_string();
    let old_code = url::Url::parse(&callback)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .to_string();
    let replayed = format!(
        "{}/sign-in/oidc/{PROVIDER}/callback?code={old_code}&state={fresh_state}",
        app.address
    );
    let text = refusal_page(&client, &replayed, 400).await;
    assert!(text.contains("did not confirm this sign-in"), "{text}");

    // A wrong state: another browser's callback (without this browser's state cookie), and a
    // state that is not the one this browser was given.
    let theirs = callback_for(&browser_client(), &app, &idp, "jo").await;
    let text = refusal_page(&client, &theirs, 400).await;
    assert!(text.contains("started in another browser"), "{text}");
    let mine = callback_for(&client, &app, &idp, "jo").await;
    let forged = mine.replace("state=", "state=x");
    refusal_page(&client, &forged, 400).await;

    // Each account below signs in from a browser of its own (the provider remembers who
    // signed in to it in a browser and would not ask again).

    // An address the provider has not verified.
    let before = people_count(&app);
    let other = browser_client();
    let cb = callback_for(&other, &app, &idp, "unverified").await;
    let text = refusal_page(&other, &cb, 403).await;
    assert!(text.contains("email address is not confirmed"), "{text}");

    // An address nobody on record has: the page says who to ask; nothing is created.
    let other = browser_client();
    let cb = callback_for(&other, &app, &idp, "stranger").await;
    let text = refusal_page(&other, &cb, 403).await;
    assert!(
        text.contains("We do not have a record for new.teacher@oak.sch.uk"),
        "{text}"
    );
    assert!(
        text.contains("Ask your school's CPD lead to add you"),
        "{text}"
    );

    // An address outside the provider's domains.
    let other = browser_client();
    let cb = callback_for(&other, &app, &idp, "elsewhere").await;
    let text = refusal_page(&other, &cb, 403).await;
    assert!(
        text.contains("jo@gmail.com is not from one of the schools"),
        "{text}"
    );
    assert_eq!(people_count(&app), before, "no one was created");

    // The person cancelled at the provider.
    let r = client
        .get(format!("{}/sign-in/oidc/{PROVIDER}", app.address))
        .send()
        .await
        .unwrap();
    let state = url::Url::parse(&location(&r))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .to_string();
    let denied = format!(
        "{}/sign-in/oidc/{PROVIDER}/callback?error=access_denied&state={state}",
        app.address
    );
    let text = refusal_page(&client, &denied, 403).await;
    assert!(text.contains("Sign-in was cancelled"), "{text}");

    // An unknown provider.
    refusal_page(
        &client,
        &format!("{}/sign-in/oidc/nowhere", app.address),
        404,
    )
    .await;

    // One audit entry: the one sign-in that worked.
    assert_eq!(audit_entries(&app, "sign_in.oidc").len(), 1);
}
crate::each_backend!(single_sign_on_refusals, refusals);

/// Asks the provider to spoil the ID token of its next token response (its test-only
/// control; `mode` as in tests/oidc/provider.mjs).
async fn spoil_next_id_token(idp: &Idp, mode: &str) {
    let r = reqwest::Client::new()
        .post(format!("{}/__test/next-id-token", idp.issuer))
        .body(mode.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204, "the provider takes mode {mode}");
}

fn web_sessions_count(app: &TestApp) -> i64 {
    use cpd_hub::db::schema::web_sessions;
    use diesel::prelude::*;
    web_sessions::table
        .count()
        .get_result(&mut app.db_conn())
        .unwrap()
}

async fn spoiled_id_tokens(backend: Backend) {
    let what = "single sign-on with a spoiled ID token";
    let Some((app, idp)) = app_with_provider(backend, what).await else {
        return;
    };
    // Jo is on record, so each of these would sign in if the token were let through.
    let jo = app.create_person("jo.smith@oak.sch.uk", "Jo Smith", None, &[]);
    let people = people_count(&app);

    // Each from a fresh browser: the person signs in at the provider as usual, then the
    // provider's answer to cpd-hub's code exchange carries a spoiled ID token.
    let mut wrong = Vec::new();
    for mode in [
        "expired",
        "signature",
        "audience",
        "issuer",
        "nonce",
        "unsigned",
    ] {
        let client = browser_client();
        let callback = callback_for(&client, &app, &idp, "jo").await;
        spoil_next_id_token(&idp, mode).await;
        let r = client.get(&callback).send().await.unwrap();
        let status = r.status();
        let session = sets_session(&r);
        let text = visible_text(&r.text().await.unwrap());
        if status != 400 || session {
            wrong.push(format!("{mode}: {status}, session cookie set: {session}"));
            continue;
        }
        let missing: Vec<&str> = [
            "Your school's sign-in could not be checked",
            "did not pass cpd-hub's security checks, so you have not been signed in",
            "This is not something you did wrong, and nothing on cpd-hub has changed",
            "Start again from this page",
            "tell your school's CPD lead the time it happened",
            "Email me a sign-in link",
        ]
        .into_iter()
        .filter(|words| !text.contains(words))
        .collect();
        if !missing.is_empty() {
            wrong.push(format!("{mode}: no {missing:?} in {text}"));
        }
        // The browser holds no session: cpd-hub does not know it.
        let me = client
            .get(format!("{}/api/v1/me", app.address))
            .send()
            .await
            .unwrap();
        if me.status() != 401 {
            wrong.push(format!("{mode}: /api/v1/me answered {}", me.status()));
        }
    }
    assert!(
        wrong.is_empty(),
        "not refused as they should be:\n{}",
        wrong.join("\n")
    );
    assert_eq!(people_count(&app), people, "no one was created");
    assert_eq!(web_sessions_count(&app), 0, "no session was started");
    assert!(audit_entries(&app, "sign_in.oidc").is_empty());

    // The control spoils one answer only: a normal sign-in still works.
    let client = browser_client();
    let callback = callback_for(&client, &app, &idp, "jo").await;
    let r = client.get(&callback).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/my/bookings");
    assert!(sets_session(&r));
    let me = expect_json(
        client
            .get(format!("{}/api/v1/me", app.address))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(me["person"]["id"], jo.as_str());
    let entries = audit_entries(&app, "sign_in.oidc");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].1.as_deref(), Some(jo.as_str()));
}
crate::each_backend!(
    a_spoiled_id_token_from_the_provider_is_refused,
    spoiled_id_tokens
);

/// Asks the provider to rotate its signing key (its test-only control) and returns the new
/// key's id.
async fn rotate_key(idp: &Idp) -> String {
    let r = reqwest::Client::new()
        .post(format!("{}/__test/rotate-key", idp.issuer))
        .send()
        .await
        .unwrap();
    let body = expect_json(r, 200).await;
    body["kid"].as_str().unwrap().to_string()
}

/// How many times the provider has served its keys (JWKS) so far (its test-only control).
async fn jwks_requests(idp: &Idp) -> i64 {
    let r = reqwest::get(format!("{}/__test/jwks-requests", idp.issuer))
        .await
        .unwrap();
    expect_json(r, 200).await["count"].as_i64().unwrap()
}

/// Signs in as `login` from a fresh browser and returns the callback's answer.
async fn sign_in_once(
    app: &TestApp,
    idp: &Idp,
    login: &str,
) -> (reqwest::Client, reqwest::Response) {
    let client = browser_client();
    let callback = callback_for(&client, app, idp, login).await;
    let r = client.get(&callback).send().await.unwrap();
    (client, r)
}

async fn key_rotation(backend: Backend) {
    let what = "single sign-on across the provider's key rotation";
    let Some((app, idp)) = app_with_provider(backend, what).await else {
        return;
    };
    let jo = app.create_person("jo.smith@oak.sch.uk", "Jo Smith", None, &[]);
    assert_eq!(
        jwks_requests(&idp).await,
        1,
        "cpd-hub read the keys at start"
    );

    // Before the rotation: signed in with the key read at start.
    let (_, r) = sign_in_once(&app, &idp, "jo").await;
    assert_eq!(r.status(), 303);
    assert!(sets_session(&r));
    assert_eq!(jwks_requests(&idp).await, 1);

    // The provider moves to a new key, which cpd-hub has never seen, and signs with it.
    let kid = rotate_key(&idp).await;
    let published = reqwest::get(format!("{}/jwks", idp.issuer))
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(published["keys"][0]["kid"], kid.as_str());

    // Jo signs in again, cpd-hub still running: it reads the keys once more and lets Jo in.
    let (client, r) = sign_in_once(&app, &idp, "jo").await;
    let status = r.status();
    let session = sets_session(&r);
    let text = visible_text(&r.text().await.unwrap());
    assert_eq!((status.as_u16(), session), (303, true), "{text}");
    let me = expect_json(
        client
            .get(format!("{}/api/v1/me", app.address))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(me["person"]["id"], jo.as_str());
    // One read of the keys at start, one by this test above, and one by cpd-hub for the new key.
    assert_eq!(jwks_requests(&idp).await, 3);

    // And again: the new key is held now, nothing more is read.
    let (_, r) = sign_in_once(&app, &idp, "jo").await;
    assert_eq!(r.status(), 303);
    assert_eq!(jwks_requests(&idp).await, 3);

    // The audit shows each sign-in, before and after the rotation.
    let entries = audit_entries(&app, "sign_in.oidc");
    assert_eq!(entries.len(), 3);
    assert!(entries
        .iter()
        .all(|e| e.1.as_deref() == Some(jo.as_str()) && e.2.contains("\"provider\":\"school\"")));
}
crate::each_backend!(
    single_sign_on_works_after_the_provider_rotates_its_key,
    key_rotation
);

async fn unknown_key(backend: Backend) {
    let what = "single sign-on with an ID token under a key never published";
    let Some((app, idp)) = app_with_provider(backend, what).await else {
        return;
    };
    let jo = app.create_person("jo.smith@oak.sch.uk", "Jo Smith", None, &[]);
    assert_eq!(
        jwks_requests(&idp).await,
        1,
        "cpd-hub read the keys at start"
    );

    // Three ID tokens in a row signed under a key id the provider never published: each is
    // refused with the page that says the sign-in could not be checked; the keys are read
    // again for the first only (once a minute at most).
    let mut reads = Vec::new();
    for _ in 0..3 {
        let client = browser_client();
        let callback = callback_for(&client, &app, &idp, "jo").await;
        spoil_next_id_token(&idp, "unknown-kid").await;
        let text = refusal_page(&client, &callback, 400).await;
        assert!(
            text.contains("Your school's sign-in could not be checked"),
            "{text}"
        );
        assert!(
            text.contains("did not pass cpd-hub's security checks"),
            "{text}"
        );
        reads.push(jwks_requests(&idp).await);
    }
    assert_eq!(
        reads,
        [2, 2, 2],
        "reads of the provider's keys after each token"
    );
    assert_eq!(web_sessions_count(&app), 0, "no session was started");
    assert!(audit_entries(&app, "sign_in.oidc").is_empty());

    // A good token still signs in, with no further read.
    let (_, r) = sign_in_once(&app, &idp, "jo").await;
    assert_eq!(r.status(), 303);
    assert!(sets_session(&r));
    assert_eq!(jwks_requests(&idp).await, 2);
    let entries = audit_entries(&app, "sign_in.oidc");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].1.as_deref(), Some(jo.as_str()));
}
crate::each_backend!(
    id_tokens_under_an_unknown_key_are_refused_and_read_the_keys_once_a_minute,
    unknown_key
);

async fn provider_down(backend: Backend) {
    // A provider that cannot be reached: its button stays hidden, the emailed link still works.
    let Some(app) = spawn_app_with(backend, |s| {
        s.oidc = vec![cpd_hub::config::OidcProviderSettings {
            id: "down".into(),
            issuer: "http://127.0.0.1:9".into(),
            client_id: "x".into(),
            client_secret: "y".into(),
            label: "Sign in with Nowhere".into(),
            domains: vec!["oak.sch.uk".into()],
            email_verified_optional: false,
        }];
    })
    .await
    else {
        return;
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let home = page_text(&app, "/", None).await;
    assert!(!home.contains("Sign in with Nowhere"));
    assert!(home.contains("Email me a sign-in link"));
    let r = app
        .client
        .get(format!("{}/sign-in/oidc/down", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(visible_text(&r.text().await.unwrap()).contains("not available"));
}
crate::each_backend!(an_unreachable_provider_hides_its_button, provider_down);

async fn concurrent_rotation(backend: Backend) {
    let what = "single sign-on by several people at once just after a key rotation";
    let Some((app, idp)) = app_with_provider(backend, what).await else {
        return;
    };
    app.create_person("jo.smith@oak.sch.uk", "Jo Smith", None, &[]);
    assert_eq!(
        jwks_requests(&idp).await,
        1,
        "cpd-hub read the keys at start"
    );

    // The provider moves to a new key; eight people have signed in at the provider since
    // and their browsers come back to cpd-hub at the same moment, each ID token under the
    // new key.
    rotate_key(&idp).await;
    let mut browsers = Vec::new();
    for _ in 0..8 {
        let client = browser_client();
        let callback = callback_for(&client, &app, &idp, "jo").await;
        browsers.push((client, callback));
    }
    let answers =
        futures_util::future::join_all(browsers.iter().map(|(client, callback)| async move {
            let r = client.get(callback).send().await.unwrap();
            let status = r.status().as_u16();
            let session = sets_session(&r);
            let text = visible_text(&r.text().await.unwrap());
            (status, session, text)
        }))
        .await;

    // Every one of them is signed in, and the keys were read once more for all of them.
    for (status, session, text) in &answers {
        assert_eq!((*status, *session), (303, true), "{text}");
    }
    assert_eq!(jwks_requests(&idp).await, 2);
    assert_eq!(audit_entries(&app, "sign_in.oidc").len(), 8);
}
crate::each_backend!(
    single_sign_on_by_several_at_once_after_a_key_rotation_reads_the_keys_once,
    concurrent_rotation
);
