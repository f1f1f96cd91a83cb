//! When a register may be taken, and when the post-course evaluation goes: a register opens
//! with check-in (not a week ahead: a lead's "everyone present" on a future session once
//! sent every attendee the evaluation that day), and invitations go only once the course's
//! last session has ended.

use chrono::{Duration, NaiveDateTime, Utc};
use cpd_hub::db::schema::{course_sessions, courses, evaluation_invitations};
use cpd_hub::domain::course::london_start_display;
use diesel::prelude::*;
use reqwest::Method;
use serde_json::{json, Value};

use crate::both_backends;
use crate::browser::web_session_cookie;
use crate::evaluation::{fixture, messages, run_jobs};
use crate::helpers::{
    as_browser, expect_json, expect_problem, location, page_text, visible_text, TestApp,
};

/// Moves a session to `start` for `minutes`, and the course's first start and last end with
/// it (one-session courses), as time passing would.
async fn move_session(app: &TestApp, session: &str, start: NaiveDateTime, minutes: i64) {
    let id = session.to_string();
    app.with_db(move |conn| {
        let end = start + Duration::minutes(minutes);
        let course: String = course_sessions::table
            .find(&id)
            .select(course_sessions::course_id)
            .first(conn)
            .unwrap();
        diesel::update(course_sessions::table.find(&id))
            .set((
                course_sessions::start_at.eq(start),
                course_sessions::end_at.eq(end),
            ))
            .execute(conn)
            .unwrap();
        diesel::update(courses::table.find(&course))
            .set((
                courses::first_session_start.eq(Some(start)),
                courses::last_session_end.eq(Some(end)),
            ))
            .execute(conn)
            .unwrap();
    })
    .await
}

async fn invitations(app: &TestApp) -> i64 {
    app.with_db(|conn| {
        evaluation_invitations::table
            .count()
            .get_result::<i64>(conn)
            .unwrap()
    })
    .await
}

fn now() -> NaiveDateTime {
    Utc::now().naive_utc()
}

both_backends! {
    async fn a_register_opens_with_check_in_and_the_evaluation_waits_for_the_end(app: TestApp) {
        let fx = fixture(&app, "Phonics in practice", 5, 1).await;
        let session = fx.sessions[0].clone();
        let attendance = format!("/api/v1/sessions/{session}/attendance");
        let everyone: Vec<Value> = fx
            .bookings
            .iter()
            .map(|b| json!({"booking_id": b, "status": "present"}))
            .collect();
        let everyone = json!(everyone);

        // A week ahead: refused (an admin too), saying when it opens; nothing is recorded and
        // nobody is invited.
        let start = now() + Duration::days(7);
        move_session(&app, &session, start, 180).await;
        let opens_minutes = i64::from(app.settings.attendance.check_in_opens_minutes);
        let opens = london_start_display(start - Duration::minutes(opens_minutes));
        let r = app
            .request(Method::PUT, &attendance, Some(&app.admin_token), Some(&everyone))
            .await;
        let problem = expect_problem(r, 409, None).await;
        assert_eq!(problem["code"], "register_not_open", "{problem}");
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains(&format!("opens on {opens}")), "{detail}");
        let register = app
            .admin_get(&format!("/api/v1/sessions/{session}/register"))
            .await;
        assert_eq!(register["counts"]["unrecorded"], 5, "{register}");
        assert_eq!(register["session"]["register_recorded_at"], Value::Null);
        let job = run_jobs(&app, None).await;
        assert_eq!((job.created, job.invitations_sent), (0, 0));
        assert_eq!(invitations(&app).await, 0);

        // The lead's page says so, offers no buttons, and a posted "everyone present" comes
        // back to the notice with nothing recorded.
        let cookie = web_session_cookie(&app, &fx.lead.id).await;
        let page_path = format!("/sessions/{session}/register");
        let html = page_text(&app, &page_path, Some(&cookie)).await;
        let text = visible_text(&html);
        assert!(text.contains("This register is not open yet"), "{text}");
        assert!(text.contains(&format!("It opens on {opens}")), "{text}");
        assert!(!html.contains("everyone-present\""), "no everyone-present form: {html}");
        let r = as_browser(&app, Method::POST, &format!("{page_path}/everyone-present"), Some(&cookie))
            .form(&[("back", "1")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(location(&r), format!("{page_path}#not-open"));
        assert_eq!(invitations(&app).await, 0);

        // Under way (started an hour ago, ends in two): the register is taken, but the course
        // is not over, so nobody is invited yet, however often the job runs.
        let start = now() - Duration::hours(1);
        move_session(&app, &session, start, 180).await;
        let r = app
            .request(Method::PUT, &attendance, Some(&app.admin_token), Some(&everyone))
            .await;
        let register = expect_json(r, 200).await;
        assert_eq!(register["counts"]["present"], 5, "{register}");
        let job = run_jobs(&app, None).await;
        assert_eq!((job.created, job.invitations_sent), (0, 0));
        assert_eq!(invitations(&app).await, 0);
        assert!(messages(&app, "evaluation_invitation").await.is_empty());

        // Once the session has ended, the job invites each attendee, once.
        let after = start + Duration::minutes(181);
        let job = run_jobs(&app, Some(after)).await;
        assert_eq!((job.created, job.invitations_sent), (5, 5));
        assert_eq!(messages(&app, "evaluation_invitation").await.len(), 5);
        let again = run_jobs(&app, Some(after + Duration::minutes(1))).await;
        assert_eq!((again.created, again.invitations_sent), (0, 0));
    }
}

both_backends! {
    async fn the_lead_sees_when_a_register_opens_on_a_phone_and_a_desktop(app: TestApp) {
        let fx = fixture(&app, "Phonics in practice", 2, 1).await;
        let session = fx.sessions[0].clone();
        let start = now() + Duration::days(2);
        move_session(&app, &session, start, 180).await;
        let Some(browser) = crate::browser::Browser::start().await else { return };
        crate::browser::sign_in_browser(&app, &browser, &fx.lead.id).await;
        let page = format!("{}/sessions/{session}/register", app.address);
        for (width, height) in [(1280, 900), (320, 900)] {
            browser.set_window_size(width, height).await;
            browser.goto(&page).await;
            let notice = browser.find("#not-open").await.text().await;
            assert!(notice.contains("This register is not open yet"), "{notice}");
            assert!(browser.try_find("#everyone-present").await.is_none());
            browser.assert_accessible(&format!("register not open at {width} px")).await;
            browser.assert_fits(&format!("register not open at {width} px")).await;
            browser
                .save_screenshot(&format!("register-not-open-{width}"))
                .await;
        }
    }
}
