//! Booking emails from end to end: bookings made and cancelled over HTTP, the messages they
//! queue delivered by the worker to a real SMTP server (the sink in `smtp_sink.rs`), and what
//! arrives read back with an independent MIME parser and an independent calendar parser.

use std::time::Duration;

use cpd_hub::db::schema::outbox;
use cpd_hub::store::outbox as store;
use diesel::prelude::*;
use mail_parser::MimeHeaders;
use serde_json::json;

use crate::booking_support::{
    bk_book_ok, bk_course, bk_person, bk_text, bk_world, session_in, Who,
};
use crate::calendar_support::cal_session;
use crate::email::{parse, read_ics, spawn_with_sink, WAIT};
use crate::helpers::{expect_json, Backend, TestApp};
use crate::smtp_sink::{Received, SmtpSink};

const TITLE: &str = "Phonics for early readers";
const START: &str = "2027-03-11T09:00:00Z";
const END: &str = "2027-03-11T15:30:00Z";

/// A published course of one known session with room for `capacity`: its id.
async fn course(app: &TestApp, capacity: i64) -> (crate::booking_support::World, String) {
    let w = bk_world(app).await;
    let id = bk_course(app, &w, TITLE, capacity, |b| {
        b["sessions"] = json!([cal_session(START, END)]);
    })
    .await;
    (w, id)
}

/// A member of staff at school A.
async fn staff(app: &TestApp, w: &crate::booking_support::World, name: &str) -> (Who, String) {
    let who = bk_person(
        app,
        name,
        Some(&w.school_a),
        None,
        &[cpd_hub::domain::roles::Role::Staff],
    )
    .await;
    let email = bk_text(
        app,
        &format!("SELECT email AS t FROM people WHERE id = '{}'", who.id),
    )
    .await;
    (who, email)
}

/// Waits until no message is pending or being sent.
async fn wait_until_idle(app: &TestApp) {
    let start = std::time::Instant::now();
    loop {
        let (waiting, _) = app.with_db(|c| store::backlog(c).unwrap()).await;
        if waiting == 0 {
            return;
        }
        assert!(
            start.elapsed() < WAIT,
            "{waiting} messages still waiting to be sent"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The outbox rows of one kind about one booking: (status, last_error).
async fn rows_of(app: &TestApp, kind: &str, booking_id: &str) -> Vec<(String, Option<String>)> {
    let (kind, booking_id) = (kind.to_string(), booking_id.to_string());
    app.with_db(move |c| {
        outbox::table
            .filter(outbox::kind.eq(kind))
            .filter(outbox::subject_id.eq(booking_id))
            .select((outbox::status, outbox::last_error))
            .load(c)
            .unwrap()
    })
    .await
}

/// The emails that arrived for `to` whose subject starts with `subject_start`.
fn arrived<'a>(got: &'a [Received], to: &str, subject_start: &str) -> Vec<&'a Received> {
    got.iter()
        .filter(|m| m.rcpt_to == vec![to.to_string()])
        .filter(|m| {
            parse(m)
                .subject()
                .is_some_and(|s| s.starts_with(subject_start))
        })
        .collect()
}

fn text_of(m: &Received) -> String {
    parse(m)
        .text_part(0)
        .unwrap()
        .text_contents()
        .unwrap()
        .to_string()
}

async fn cancel(app: &TestApp, booking_id: &str, who: &Who) {
    let r = app
        .post(
            &format!("/api/v1/bookings/{booking_id}/cancel"),
            who.t(),
            &json!({}),
        )
        .await;
    let b = expect_json(r, 200).await;
    assert_eq!(b["status"], "cancelled");
}

async fn booking_is_one_email_with_the_sessions(backend: Backend) {
    if crate::tools::python_icalendar("booking_mail::booking_is_one_email_with_the_sessions")
        .is_none()
    {
        return;
    }
    let sink = SmtpSink::start().await;
    let app = spawn_with_sink(backend, &sink, |_| {}).await;
    let (w, course_id) = course(&app, 10).await;
    let (jo, jo_email) = staff(&app, &w, "Jo Reader").await;

    let b = bk_book_ok(&app, &course_id, &jo).await;
    assert_eq!(b["status"], "confirmed");

    sink.wait_for(1, WAIT).await;
    wait_until_idle(&app).await;
    let got = sink
        .expect_no_more_than(1, Duration::from_millis(300))
        .await;
    assert_eq!(got.len(), 1, "exactly one email for one booking");
    let m = &got[0];
    assert_eq!(m.rcpt_to, vec![jo_email.clone()]);
    let mail = parse(m);
    assert_eq!(
        mail.subject().map(str::to_string),
        Some(format!("Your place is confirmed: {TITLE}"))
    );
    assert_eq!(
        mail.to().and_then(|a| a.first()).and_then(|a| a.address()),
        Some(jo_email.as_str())
    );
    assert_eq!(mail.text_body_count(), 1);
    assert_eq!(mail.html_body_count(), 1);
    let text = text_of(m);
    assert!(text.starts_with("Dear Jo Reader,"), "{text}");
    assert!(text.contains(TITLE), "{text}");
    let html = mail.html_part(0).unwrap().text_contents().unwrap();
    assert!(html.contains(TITLE), "{html}");
    assert!(
        html.contains(&format!("/courses/{course_id}")),
        "the HTML links to the course: {html}"
    );

    assert_eq!(mail.attachment_count(), 1);
    let att = mail.attachment(0).unwrap();
    assert_eq!(att.attachment_name(), Some("course.ics"));
    let ics = read_ics(std::str::from_utf8(att.contents()).unwrap());
    assert_eq!(ics["method"], "PUBLISH");
    let events = ics["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["start"], "2027-03-11T09:00:00+00:00");
    assert_eq!(events[0]["end"], "2027-03-11T15:30:00+00:00");
    assert_eq!(events[0]["summary"], TITLE);
    assert_eq!(events[0]["status"], "CONFIRMED");
    let session_id = bk_text(
        &app,
        &format!("SELECT id AS t FROM course_sessions WHERE course_id = '{course_id}'"),
    )
    .await;
    assert_eq!(events[0]["uid"], format!("{session_id}@cpd-hub"));
}
crate::each_backend!(
    booking_sends_one_confirmation,
    booking_is_one_email_with_the_sessions
);

async fn promotion_is_told_once(backend: Backend) {
    if crate::tools::python_icalendar("booking_mail::promotion_is_told_once").is_none() {
        return;
    }
    let sink = SmtpSink::start().await;
    let app = spawn_with_sink(backend, &sink, |_| {}).await;
    let (w, course_id) = course(&app, 1).await;
    let (ann, ann_email) = staff(&app, &w, "Ann First").await;
    let (ben, ben_email) = staff(&app, &w, "Ben Second").await;

    let a = bk_book_ok(&app, &course_id, &ann).await;
    assert_eq!(a["status"], "confirmed");
    let b = bk_book_ok(&app, &course_id, &ben).await;
    assert_eq!(
        (b["status"].as_str(), b["waitlist_position"].as_i64()),
        (Some("waitlisted"), Some(1))
    );

    let got = sink.wait_for(2, WAIT).await;
    let waiting = arrived(&got, &ben_email, "You're on the waiting list: ");
    assert_eq!(waiting.len(), 1, "Ben is told he is waiting");
    let text = text_of(waiting[0]);
    assert!(text.contains("You are number 1 on the list."), "{text}");
    assert_eq!(parse(waiting[0]).attachment_count(), 0);

    cancel(&app, a["id"].as_str().unwrap(), &ann).await;
    // Ann's cancellation and Ben's place.
    sink.wait_for(4, WAIT).await;
    wait_until_idle(&app).await;
    let got = sink
        .expect_no_more_than(4, Duration::from_millis(500))
        .await;

    let promoted = arrived(&got, &ben_email, "You now have a place: ");
    assert_eq!(promoted.len(), 1, "Ben is told exactly once");
    let mail = parse(promoted[0]);
    assert_eq!(
        mail.subject().map(str::to_string),
        Some(format!("You now have a place: {TITLE}"))
    );
    assert_eq!((mail.text_body_count(), mail.html_body_count()), (1, 1));
    let ics = read_ics(std::str::from_utf8(mail.attachment(0).unwrap().contents()).unwrap());
    assert_eq!(ics["method"], "PUBLISH");
    assert_eq!(ics["events"][0]["start"], "2027-03-11T09:00:00+00:00");
    assert_eq!(
        rows_of(&app, "booking_promoted", b["id"].as_str().unwrap())
            .await
            .len(),
        1,
        "one promotion message queued"
    );
    assert_eq!(
        arrived(&got, &ann_email, "Your booking is cancelled: ").len(),
        1
    );
    assert_eq!(
        arrived(&got, &ann_email, "Your place is confirmed: ").len(),
        1
    );
}
crate::each_backend!(promoted_person_is_told_once, promotion_is_told_once);

async fn superseded_confirmation_is_skipped(backend: Backend) {
    let sink = SmtpSink::start().await;
    // No worker yet: the booking and its cancellation are both made before anything is sent.
    let app = spawn_with_sink(backend, &sink, |s| s.outbox.enabled = false).await;
    let (w, course_id) = course(&app, 10).await;
    let (jo, jo_email) = staff(&app, &w, "Jo Changed-Mind").await;
    let b = bk_book_ok(&app, &course_id, &jo).await;
    let booking_id = b["id"].as_str().unwrap().to_string();
    cancel(&app, &booking_id, &jo).await;
    // A confirmation that still holds, checked in the same claim as the one that does not.
    let (sam, sam_email) = staff(&app, &w, "Sam Stays").await;
    let kept = bk_book_ok(&app, &course_id, &sam).await;
    let kept_id = kept["id"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sink.count(), 0, "nothing is sent while the worker is off");

    // Now a copy of the service with its worker on delivers the backlog.
    let worker = cpd_hub::startup::Application::build({
        let mut s = app.settings.clone();
        s.outbox.enabled = true;
        s.bind = "127.0.0.1:0".into();
        s
    })
    .await
    .unwrap();
    tokio::spawn(worker.run_until_stopped());

    sink.wait_for(2, WAIT).await;
    wait_until_idle(&app).await;
    let got = sink
        .expect_no_more_than(2, Duration::from_millis(500))
        .await;
    assert_eq!(got.len(), 2);
    let to_jo: Vec<_> = got
        .iter()
        .filter(|m| m.rcpt_to == [jo_email.clone()])
        .collect();
    assert_eq!(to_jo.len(), 1);
    assert_eq!(
        parse(to_jo[0]).subject().map(str::to_string),
        Some(format!("Your booking is cancelled: {TITLE}"))
    );
    assert!(arrived(&got, &jo_email, "Your place is confirmed: ").is_empty());
    assert_eq!(
        arrived(&got, &sam_email, "Your place is confirmed: ").len(),
        1
    );
    assert_eq!(
        rows_of(&app, "booking_confirmed", &kept_id).await,
        vec![("sent".to_string(), None)]
    );

    let confirmed = rows_of(&app, "booking_confirmed", &booking_id).await;
    assert_eq!(confirmed.len(), 1);
    assert_eq!(confirmed[0].0, "skipped");
    assert_eq!(
        confirmed[0].1.as_deref(),
        Some("the booking is now cancelled")
    );
    let cancelled = rows_of(&app, "booking_cancelled", &booking_id).await;
    assert_eq!(cancelled, vec![("sent".to_string(), None)]);
}
crate::each_backend!(
    superseded_confirmation_is_not_sent,
    superseded_confirmation_is_skipped
);

async fn reminders_are_due_once(backend: Backend) {
    // No worker: its scheduler would queue the reminders itself.
    let Some(app) = crate::helpers::spawn_app_with(backend, |s| s.outbox.enabled = false).await
    else {
        eprintln!("TEST_POSTGRES_URL is not set: PostgreSQL half skipped");
        return;
    };
    let w = bk_world(&app).await;
    let soon = bk_course(&app, &w, TITLE, 2, |b| {
        b["sessions"] = json!([session_in(1)]);
    })
    .await;
    let later = bk_course(&app, &w, "Later course", 2, |b| {
        b["sessions"] = json!([session_in(5)]);
    })
    .await;
    let (ann, ann_email) = staff(&app, &w, "Ann First").await;
    let (ben, ben_email) = staff(&app, &w, "Ben Second").await;
    let (cat, _) = staff(&app, &w, "Cat Third").await;
    let a = bk_book_ok(&app, &soon, &ann).await;
    let b = bk_book_ok(&app, &soon, &ben).await;
    let c = bk_book_ok(&app, &soon, &cat).await;
    assert_eq!(c["status"], "waitlisted");
    // Confirmed, but its course starts after the reminder window.
    assert_eq!(bk_book_ok(&app, &later, &ann).await["status"], "confirmed");

    let base = app.settings.public_base_url.clone();
    let (due, queued) = app
        .with_db(move |conn| {
            let due = store::due_reminders(conn, cpd_hub::domain::time::now(), 2, &base).unwrap();
            let queued = store::enqueue_reminders(conn, &due).unwrap();
            (due, queued)
        })
        .await;
    assert_eq!(queued, 2);
    let mut got: Vec<(String, String)> = due
        .iter()
        .map(|r| (r.booking_id.clone(), r.email.clone()))
        .collect();
    got.sort();
    let mut want = vec![
        (a["id"].as_str().unwrap().to_string(), ann_email),
        (b["id"].as_str().unwrap().to_string(), ben_email),
    ];
    want.sort();
    assert_eq!(got, want, "the two confirmed bookings, not the waiting one");
    let first = due.iter().find(|r| r.person_id == ann.id).unwrap();
    let payload = first.payload();
    assert_eq!(payload["person_name"], "Ann First");
    assert_eq!(payload["course_title"], TITLE);
    assert_eq!(payload["days_before"], 2);
    assert_eq!(
        payload["course_url"],
        format!("{}/courses/{soon}", app.settings.public_base_url)
    );
    let session_id = bk_text(
        &app,
        &format!("SELECT id AS t FROM course_sessions WHERE course_id = '{soon}'"),
    )
    .await;
    assert_eq!(payload["sessions"][0]["id"], session_id);
    assert!(payload.get("ics").is_none(), "a reminder has no .ics");
    // The payload renders with the real templates.
    cpd_hub::email::templates::Templates::load(None)
        .unwrap()
        .render(
            "course_reminder",
            &payload,
            &app.settings.public_base_url,
            &cpd_hub::email::templates::Organizer {
                name: "CPD team".into(),
                email: "cpd@alliance.test".into(),
            },
        )
        .expect("the reminder renders");

    let queued_rows = rows_of(&app, "course_reminder", a["id"].as_str().unwrap()).await;
    assert_eq!(queued_rows.len(), 1);

    let base = app.settings.public_base_url.clone();
    let (again, queued) = app
        .with_db(move |conn| {
            let due = store::due_reminders(conn, cpd_hub::domain::time::now(), 2, &base).unwrap();
            let queued = store::enqueue_reminders(conn, &due).unwrap();
            (due.len(), queued)
        })
        .await;
    assert_eq!((again, queued), (0, 0), "no second reminder");
}
crate::each_backend!(reminders_queued_once, reminders_are_due_once);
