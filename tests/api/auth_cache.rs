//! Verified tokens and sessions are kept in the process for a while (`auth::cache`): what
//! ends or narrows a credential still holds from the very next request, and a kept answer
//! never outlives the credential's own end.

use chrono::{Duration, NaiveDateTime};
use cpd_hub::db::schema::{api_tokens, web_sessions};
use cpd_hub::domain::roles::Role;
use cpd_hub::domain::tokens;
use diesel::prelude::*;
use serde_json::json;

use crate::helpers::TestApp;

/// As `both_backends!`, with answers kept for a minute (the longest allowed), so a test that
/// passes is not passing because the entry ran out between two requests.
macro_rules! kept_a_minute {
    ($(#[$meta:meta])* async fn $name:ident($app:ident : TestApp) $body:block) => {
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
                    s.sign_in.auth_cache_seconds = 60;
                })
                .await
            }

            $crate::both_backends!(spawn, run);
        }
    };
}

/// The status of `GET path` with a bearer token.
async fn status_with_token(app: &TestApp, path: &str, token: &str) -> u16 {
    app.get(path, Some(token)).await.status().as_u16()
}

/// The status of `GET path` with a session cookie.
async fn status_with_cookie(app: &TestApp, path: &str, cookie: &str) -> u16 {
    app.client
        .get(format!("{}{}", app.address, path))
        .header("cookie", format!("cpd_session={cookie}"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A browser session for a person, as sign-in makes it: returns the cookie's secret.
fn session_for(
    app: &TestApp,
    person_id: &str,
    last_seen_at: NaiveDateTime,
    expires_at: NaiveDateTime,
) -> String {
    let secret = tokens::random_hex(32);
    diesel::insert_into(web_sessions::table)
        .values((
            web_sessions::id.eq(uuid::Uuid::now_v7().to_string()),
            web_sessions::person_id.eq(person_id),
            web_sessions::token_hash.eq(tokens::hash(&secret)),
            web_sessions::created_at.eq(last_seen_at),
            web_sessions::last_seen_at.eq(last_seen_at),
            web_sessions::expires_at.eq(expires_at),
        ))
        .execute(&mut app.db_conn())
        .unwrap();
    secret
}

kept_a_minute! {
    async fn a_revoked_token_is_refused_on_the_next_request(app: TestApp) {
        let (_, token) = app.person_with_roles(&[], None).await;
        let made = app.post("/api/v1/me/tokens", Some(&token), &json!({"name": "laptop"})).await;
        let made = crate::helpers::expect_json(made, 201).await;
        let laptop = made["token"].as_str().unwrap().to_string();
        // Used, and so kept as verified.
        assert_eq!(status_with_token(&app, "/api/v1/me", &laptop).await, 200);
        assert_eq!(status_with_token(&app, "/api/v1/me", &laptop).await, 200);
        let id = made["id"].as_str().unwrap();
        let r = app.delete(&format!("/api/v1/me/tokens/{id}"), Some(&laptop)).await;
        assert_eq!(r.status(), 204);
        assert_eq!(status_with_token(&app, "/api/v1/me", &laptop).await, 401);
        // Their other token still works.
        assert_eq!(status_with_token(&app, "/api/v1/me", &token).await, 200);
    }
}

kept_a_minute! {
    async fn a_signed_out_session_is_refused_on_the_next_request(app: TestApp) {
        let id = app.create_person("jo@school.test", "Jo Smith", None, &[]);
        let now = cpd_hub::domain::time::now();
        let cookie = session_for(&app, &id, now, now + Duration::days(30));
        assert_eq!(status_with_cookie(&app, "/api/v1/me", &cookie).await, 200);
        assert_eq!(status_with_cookie(&app, "/api/v1/me", &cookie).await, 200);
        let r = app
            .client
            .post(format!("{}/api/v1/auth/sign-out", app.address))
            .header("cookie", format!("cpd_session={cookie}"))
            .header("origin", &app.address)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        assert_eq!(status_with_cookie(&app, "/api/v1/me", &cookie).await, 401);
    }
}

kept_a_minute! {
    async fn a_role_taken_away_holds_on_the_next_request(app: TestApp) {
        let (id, token) = app.person_with_roles(&[Role::Admin], None).await;
        let now = cpd_hub::domain::time::now();
        let cookie = session_for(&app, &id, now, now + Duration::days(30));
        assert_eq!(status_with_token(&app, "/api/v1/admin/audit", &token).await, 200);
        assert_eq!(status_with_cookie(&app, "/api/v1/admin/audit", &cookie).await, 200);
        let r = app
            .patch(&format!("/api/v1/people/{id}"), Some(&app.admin_token), &json!({"roles": []}))
            .await;
        assert_eq!(r.status(), 200);
        assert_eq!(status_with_token(&app, "/api/v1/admin/audit", &token).await, 403);
        assert_eq!(status_with_cookie(&app, "/api/v1/admin/audit", &cookie).await, 403);
        // Still signed in as staff.
        assert_eq!(status_with_token(&app, "/api/v1/me", &token).await, 200);
    }
}

kept_a_minute! {
    async fn an_erased_person_is_refused_on_the_next_request(app: TestApp) {
        let (id, token) = app.person_with_roles(&[], None).await;
        let now = cpd_hub::domain::time::now();
        let cookie = session_for(&app, &id, now, now + Duration::days(30));
        assert_eq!(status_with_token(&app, "/api/v1/me", &token).await, 200);
        assert_eq!(status_with_cookie(&app, "/api/v1/me", &cookie).await, 200);
        let r = app.delete(&format!("/api/v1/people/{id}"), Some(&app.admin_token)).await;
        assert_eq!(r.status(), 204);
        assert_eq!(status_with_token(&app, "/api/v1/me", &token).await, 401);
        assert_eq!(status_with_cookie(&app, "/api/v1/me", &cookie).await, 401);
    }
}

kept_a_minute! {
    async fn a_kept_session_or_token_still_ends_at_its_end(app: TestApp) {
        let id = app.create_person("jo@school.test", "Jo Smith", None, &[]);
        // A moment a day ahead, fixed for the test: the session and the token both end then.
        let end = cpd_hub::domain::time::now() + Duration::days(1);
        let cookie = session_for(&app, &id, end - Duration::minutes(1), end);
        let token = {
            let mut c = app.db_conn();
            cpd_hub::store::tokens::create(&mut c, &id, "ends", Some(end)).unwrap().1
        };
        let session = |at: NaiveDateTime| {
            let (state, hash) = (app.state.clone(), tokens::hash(&cookie));
            async move { cpd_hub::auth::session_caller(&state, hash, at).await.unwrap() }
        };
        let bearer = |at: NaiveDateTime| {
            let (state, hash) = (app.state.clone(), tokens::hash(&token));
            async move { cpd_hub::auth::token_caller(&state, hash, at).await.unwrap() }
        };
        // Verified two seconds before the end, and so kept...
        assert_eq!(session(end - Duration::seconds(2)).await.unwrap().person_id, id);
        assert_eq!(bearer(end - Duration::seconds(2)).await.unwrap().person_id, id);
        assert_eq!(session(end - Duration::microseconds(1)).await.unwrap().person_id, id);
        assert_eq!(bearer(end - Duration::microseconds(1)).await.unwrap().person_id, id);
        // ...but not a moment past the end.
        assert!(session(end).await.is_none());
        assert!(bearer(end).await.is_none());
        // The database agrees, and nothing was written to extend either.
        let (expires, revoked): (NaiveDateTime, Option<NaiveDateTime>) = web_sessions::table
            .select((web_sessions::expires_at, web_sessions::revoked_at))
            .first(&mut app.db_conn())
            .unwrap();
        assert_eq!((expires, revoked), (end, None));
        let token_end: Option<NaiveDateTime> = api_tokens::table
            .filter(api_tokens::name.eq("ends"))
            .select(api_tokens::expires_at)
            .first(&mut app.db_conn())
            .unwrap();
        assert_eq!(token_end, Some(end));
    }
}
