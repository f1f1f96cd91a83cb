//! Email delivery through a real SMTP server (the sink in `smtp_sink.rs`): what arrives, when
//! the mail server is down, when the service is killed, and what admins see when it fails.
//! Messages are queued with `store::outbox::enqueue` inside a transaction on the test
//! database, as the bookings and calendar code do.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use cpd_hub::db::{self, DbConn};
use cpd_hub::domain::notification::Kind;
use cpd_hub::email::templates::sample;
use cpd_hub::store::outbox::{self, StoredMessage};
use diesel::prelude::*;
use mail_parser::{MessageParser, MimeHeaders};
use serde_json::{json, Value};

use crate::helpers::{self, expect_json, expect_problem, spawn_app_with, Backend, TestApp};
use crate::smtp_sink::{Received, SmtpSink};

pub(crate) const WAIT: Duration = Duration::from_secs(20);

/// The service with its worker sending to `sink`, polling and retrying quickly.
pub(crate) async fn spawn_with_sink(
    backend: Backend,
    sink: &SmtpSink,
    adjust: impl FnOnce(&mut cpd_hub::config::Settings),
) -> TestApp {
    let url = sink.url();
    spawn_app_with(backend, move |s| {
        s.smtp_url = Some(url);
        s.mail_from = "CPD team <cpd@alliance.test>".into();
        s.public_base_url = "https://cpd.alliance.test".into();
        s.outbox.poll = Duration::from_millis(50);
        s.outbox.retry_base = Duration::from_millis(100);
        s.outbox.retry_max = Duration::from_millis(400);
        s.outbox.smtp_timeout = Duration::from_secs(5);
        adjust(s);
    })
    .await
    .expect("backend available")
}

fn open(url: &str) -> DbConn {
    db::Manager::new(url).unwrap().open().unwrap()
}

/// Queues one message in its own committed transaction; returns the outbox id.
pub(crate) async fn enqueue(
    app: &TestApp,
    kind: Kind,
    to: &str,
    subject_id: Option<&str>,
    payload: Value,
) -> String {
    let to = to.to_string();
    let subject_id = subject_id.map(str::to_string);
    app.with_db(move |c| {
        db::write_tx(c, |c| {
            outbox::enqueue_stored(
                c,
                StoredMessage {
                    kind: kind.as_str(),
                    recipient_email: &to,
                    recipient_person_id: None,
                    subject_id: subject_id.as_deref(),
                    payload,
                },
            )
        })
        .unwrap()
    })
    .await
}

/// (status, attempts, message_id, last_error) of an outbox row.
async fn row(app: &TestApp, id: &str) -> (String, i32, String, Option<String>) {
    use cpd_hub::db::schema::outbox::dsl as o;
    let id = id.to_string();
    app.with_db(move |c| {
        o::outbox
            .filter(o::id.eq(&id))
            .select((o::status, o::attempts, o::message_id, o::last_error))
            .first(c)
            .unwrap()
    })
    .await
}

/// Waits until the outbox row reaches `status`.
pub(crate) async fn wait_status(
    app: &TestApp,
    id: &str,
    status: &str,
) -> (String, i32, String, Option<String>) {
    let start = std::time::Instant::now();
    loop {
        let r = row(app, id).await;
        if r.0 == status {
            return r;
        }
        assert!(
            start.elapsed() < WAIT,
            "outbox {id} stayed {} (wanted {status}): {:?}",
            r.0,
            r.3
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

pub(crate) fn parse(m: &Received) -> mail_parser::Message<'_> {
    MessageParser::default()
        .parse(&m.data)
        .expect("a readable MIME message")
}

fn message_id(m: &Received) -> String {
    format!("<{}>", parse(m).message_id().expect("a Message-ID"))
}

/// The `.ics` read by Python's `icalendar`, an independent parser.
pub(crate) fn read_ics(ics: &str) -> Value {
    const SCRIPT: &str = r#"
import json, sys
from icalendar import Calendar
cal = Calendar.from_ical(sys.stdin.buffer.read())
events = []
for e in cal.walk("VEVENT"):
    events.append({
        "uid": str(e.get("UID")),
        "start": e.decoded("DTSTART").isoformat(),
        "end": e.decoded("DTEND").isoformat(),
        "summary": str(e.get("SUMMARY")),
        "location": str(e.get("LOCATION")) if e.get("LOCATION") else None,
        "sequence": int(e.get("SEQUENCE")),
        "status": str(e.get("STATUS")),
        "organizer": str(e.get("ORGANIZER")),
    })
print(json.dumps({"method": str(cal.get("METHOD")), "version": str(cal.get("VERSION")), "events": events}))
"#;
    let python = crate::tools::python_icalendar("email::read_ics").expect("checked by the test");
    let mut child = Command::new(python)
        .arg("-c")
        .arg(SCRIPT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(ics.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "icalendar could not read the attachment (is `pip install icalendar` done?): {}\n{ics}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The metric line's value, or 0.
async fn metric(app: &TestApp, line_start: &str) -> i64 {
    let text = app
        .get("/metrics", Some(&app.admin_token))
        .await
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0, |v| v as i64)
}

/// Waits until a metric shows `value` (the worker refreshes the backlog figures about once a
/// second).
async fn wait_metric(app: &TestApp, name: &str, value: i64) {
    let start = std::time::Instant::now();
    loop {
        let got = metric(app, &format!("{name} ")).await;
        if got == value {
            return;
        }
        assert!(
            start.elapsed() < WAIT,
            "{name} stayed {got}, wanted {value}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn one_message_is_one_email(backend: Backend) {
    if crate::tools::python_icalendar("email::one_message_is_one_email").is_none() {
        return;
    }
    let sink = SmtpSink::start().await;
    let app = spawn_with_sink(backend, &sink, |_| {}).await;
    assert_eq!(app.backend, backend);
    assert_eq!(app.address, format!("http://127.0.0.1:{}", app.port));
    let id = enqueue(
        &app,
        Kind::BookingConfirmed,
        "jane.oneill@penistone.sch.uk",
        Some("booking-1"),
        sample(Kind::BookingConfirmed),
    )
    .await;

    let got = sink.wait_for(1, WAIT).await;
    let (status, attempts, stored_id, _) = wait_status(&app, &id, "sent").await;
    assert_eq!(attempts, 1);
    let m = &got[0];
    assert_eq!(m.rcpt_to, vec!["jane.oneill@penistone.sch.uk".to_string()]);
    assert_eq!(m.mail_from, "cpd@alliance.test");
    let mail = parse(m);
    assert_eq!(
        mail.subject(),
        Some("Your place is confirmed: Adaptive teaching for pupils with SEND")
    );
    let from = mail.from().and_then(|a| a.first()).unwrap();
    assert_eq!(from.name(), Some("CPD team"));
    assert_eq!(from.address(), Some("cpd@alliance.test"));
    assert_eq!(
        mail.to().and_then(|a| a.first()).and_then(|a| a.address()),
        Some("jane.oneill@penistone.sch.uk")
    );
    // The stable Message-ID stored with the message, so a resend can be recognised.
    assert_eq!(message_id(m), stored_id);
    assert_eq!(
        m.header("Auto-Submitted").as_deref(),
        Some("auto-generated")
    );
    assert_eq!(status, "sent");

    // Both parts, in this order: text then HTML.
    assert_eq!(mail.text_body_count(), 1);
    assert_eq!(mail.html_body_count(), 1);
    let text = mail.text_part(0).unwrap();
    assert_eq!(
        text.content_type().map(|c| c.subtype().unwrap_or_default()),
        Some("plain")
    );
    let text = text.text_contents().unwrap();
    assert!(text.starts_with("Dear Jane O'Neill,"), "{text}");
    assert!(text.contains("Thursday 14 January 2027, 9am to 3:30pm"));
    assert!(text.contains("Barnsley Civic, Hanson Street, Barnsley S70 2HZ"));
    let html = mail.html_part(0).unwrap().text_contents().unwrap();
    assert!(
        html.contains("<p style=\"margin:0 0 16px 0;\">Dear Jane O&#x27;Neill,</p>"),
        "{html}"
    );
    assert!(html
        .contains("href=\"https://cpd.example.org/courses/0192f0c4-0000-7000-8000-000000000001\""));

    // The sessions as an .ics attachment that another parser reads.
    assert_eq!(mail.attachment_count(), 1);
    let att = mail.attachment(0).unwrap();
    assert_eq!(att.attachment_name(), Some("course.ics"));
    let ct = att.content_type().unwrap();
    assert_eq!((ct.ctype(), ct.subtype()), ("text", Some("calendar")));
    assert_eq!(ct.attribute("method"), Some("PUBLISH"));
    let ics = read_ics(std::str::from_utf8(att.contents()).unwrap());
    assert_eq!(ics["method"], "PUBLISH");
    assert_eq!(ics["version"], "2.0");
    let events = ics["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["start"], "2027-01-14T09:00:00+00:00");
    assert_eq!(events[0]["end"], "2027-01-14T15:30:00+00:00");
    assert_eq!(events[1]["start"], "2027-06-10T15:45:00+00:00");
    assert_eq!(
        events[0]["summary"],
        "Adaptive teaching for pupils with SEND"
    );
    assert_eq!(
        events[0]["location"],
        "Barnsley Civic, Hanson Street, Barnsley S70 2HZ"
    );
    assert_eq!(events[1]["location"], "Online");
    assert_eq!(events[0]["sequence"], 0);
    assert_eq!(events[0]["status"], "CONFIRMED");
    assert_eq!(events[0]["organizer"], "mailto:cpd@alliance.test");
    // The UID the calendar feeds give this session, so the two update the same event.
    assert_eq!(
        events[0]["uid"],
        "0192f0c4-0000-7000-8000-0000000000a1@cpd-hub"
    );
    assert_eq!(
        events[1]["uid"],
        cpd_hub::domain::ics::session_uid("0192f0c4-0000-7000-8000-0000000000a2")
    );

    // Exactly one, and the figures say so.
    sink.expect_no_more_than(1, Duration::from_millis(400))
        .await;
    assert_eq!(
        metric(&app, "cpd_hub_emails_total{outcome=\"sent\"}").await,
        1
    );
}
crate::each_backend!(
    one_message_is_one_email_with_both_parts_and_the_ics,
    one_message_is_one_email
);

async fn every_kind_arrives(backend: Backend) {
    if crate::tools::python_icalendar("email::every_kind_arrives").is_none() {
        return;
    }
    let sink = SmtpSink::start().await;
    let app = spawn_with_sink(backend, &sink, |_| {}).await;
    let mut ids = HashMap::new();
    for kind in Kind::ALL {
        let to = format!("{}@school.test", kind.as_str().replace('_', "."));
        let id = enqueue(&app, kind, &to, None, sample(kind)).await;
        ids.insert(to, (kind, id));
    }
    let got = sink.wait_for(Kind::ALL.len(), WAIT).await;
    sink.expect_no_more_than(Kind::ALL.len(), Duration::from_millis(300))
        .await;
    let mut seen = HashSet::new();
    for m in &got {
        let to = m.rcpt_to[0].clone();
        let (kind, id) = ids[&to].clone();
        assert!(seen.insert(kind), "{kind} arrived twice");
        wait_status(&app, &id, "sent").await;
        let mail = parse(m);
        let subject = mail.subject().unwrap().to_string();
        assert_eq!(mail.text_body_count(), 1, "{kind}");
        assert_eq!(mail.html_body_count(), 1, "{kind}");
        let text = mail
            .text_part(0)
            .unwrap()
            .text_contents()
            .unwrap()
            .to_string();
        let html = mail
            .html_part(0)
            .unwrap()
            .text_contents()
            .unwrap()
            .to_string();
        assert!(html.contains("<html lang=\"en-GB\">"), "{kind}");
        let ics = (mail.attachment_count() == 1).then(|| {
            read_ics(std::str::from_utf8(mail.attachment(0).unwrap().contents()).unwrap())
        });
        match kind {
            Kind::BookingConfirmed | Kind::BookingPromoted | Kind::BookingApproved => {
                assert_eq!(ics.as_ref().unwrap()["method"], "PUBLISH", "{kind}");
            }
            Kind::BookingWaitlisted => {
                assert!(subject.starts_with("You're on the waiting list"));
                assert!(text.contains("You are number 3 on the list."));
            }
            Kind::ApprovalRequested => {
                assert!(
                    subject.contains("Jane O'Neill has asked to book"),
                    "{subject}"
                );
                assert!(text.contains(
                    "https://cpd.example.org/bookings/0192f0c4-0000-7000-8000-0000000000b1/approve"
                ));
            }
            Kind::BookingDeclined => {
                assert!(text.contains("We have already sent two colleagues this term."))
            }
            Kind::BookingCancelled => assert!(text.contains("Sam Lead has cancelled your booking")),
            Kind::CourseCancelled => {
                let ics = ics.as_ref().unwrap();
                assert_eq!(ics["method"], "CANCEL");
                assert_eq!(
                    mail.attachment(0).unwrap().attachment_name(),
                    Some("cancel.ics")
                );
                for e in ics["events"].as_array().unwrap() {
                    assert_eq!(e["status"], "CANCELLED");
                    assert_eq!(e["sequence"], 2);
                }
                assert!(text.contains("The trainer is unwell."));
            }
            Kind::CourseChanged => {
                let ics = ics.as_ref().unwrap();
                assert_eq!(ics["method"], "PUBLISH");
                assert_eq!(ics["events"][0]["sequence"], 1);
                // The same events as the confirmation, so calendars update them in place.
                assert_eq!(
                    ics["events"][0]["uid"],
                    "0192f0c4-0000-7000-8000-0000000000a1@cpd-hub"
                );
                assert!(text.contains("The first session now starts at 9:30am."));
            }
            Kind::CourseReminder => assert!(subject.ends_with("starts in 2 days"), "{subject}"),
            Kind::SignInLink => {
                assert!(text.contains("https://cpd.example.org/auth/magic?token=abc123"));
                assert!(html.contains("href=\"https://cpd.example.org/auth/magic?token=abc123\""));
            }
            Kind::EvaluationInvitation => {
                assert!(
                    subject.starts_with("How was Adaptive teaching"),
                    "{subject}"
                );
                assert!(text.contains("https://cpd.example.org/evaluate/3f9c2a7d"));
            }
            Kind::EvaluationReminder => {
                assert!(subject.starts_with("Reminder: your views on"), "{subject}");
                assert!(text.contains("https://cpd.example.org/evaluate/8b1e4d7a"));
            }
            Kind::TermlyDigest => {
                assert_eq!(subject, "CPD engagement and impact: Autumn 2026/27 digest");
                assert!(text.contains("- Fill rate: 78.4%"));
                assert!(text.contains("- Wombwell Park Street Primary: never booked"));
                assert!(html.contains(
                    "href=\"https://cpd.example.org/reports?from=2026-09-01&amp;to=2026-12-31\""
                ));
            }
        }
        let wants_ics = matches!(
            kind,
            Kind::BookingConfirmed
                | Kind::BookingPromoted
                | Kind::BookingApproved
                | Kind::CourseCancelled
                | Kind::CourseChanged
        );
        assert_eq!(ics.is_some(), wants_ics, "{kind}: attachment");
    }
    assert_eq!(seen.len(), Kind::ALL.len());
}
crate::each_backend!(every_kind_of_notification_arrives, every_kind_arrives);

async fn smtp_down_loses_nothing(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn_with_sink(backend, &sink, |_| {}).await;
    sink.stop().await;
    let mut ids = Vec::new();
    for i in 0..20 {
        let mut p = sample(Kind::BookingWaitlisted);
        p["position"] = json!(i + 1);
        ids.push(
            enqueue(
                &app,
                Kind::BookingWaitlisted,
                &format!("person{i}@school.test"),
                None,
                p,
            )
            .await,
        );
    }
    // Tries fail while the server is down; the messages wait for another try.
    let start = std::time::Instant::now();
    loop {
        let (status, attempts, _, error) = row(&app, &ids[0]).await;
        if attempts >= 2 {
            assert!(matches!(status.as_str(), "pending" | "sending"), "{status}");
            if status == "pending" {
                assert!(error.unwrap_or_default().contains("SMTP"));
            }
            break;
        }
        assert!(start.elapsed() < WAIT, "no retry happened");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // Every one of the 20 fails at least once while the server is down: each message's own
    // row shows a failed try and waits for the next (a count of retries over all of them
    // could be one message tried twice and another not yet).
    let start = std::time::Instant::now();
    for id in &ids {
        loop {
            let (status, attempts, _, _) = row(&app, id).await;
            if attempts >= 1 && status == "pending" {
                break;
            }
            assert!(
                start.elapsed() < WAIT,
                "not every message was tried and put back"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    assert!(metric(&app, "cpd_hub_emails_total{outcome=\"retried\"}").await >= 20);
    assert_eq!(sink.count(), 0);
    wait_metric(&app, "cpd_hub_outbox_pending", 20).await;

    sink.restart().await;
    sink.wait_for(20, WAIT).await;
    let got = sink
        .expect_no_more_than(20, Duration::from_millis(500))
        .await;
    let to: HashSet<_> = got.iter().map(|m| m.rcpt_to[0].clone()).collect();
    assert_eq!(to.len(), 20, "every message exactly once");
    let mut expected_ids = HashSet::new();
    for id in &ids {
        let (_, attempts, mid, _) = wait_status(&app, id, "sent").await;
        assert!(attempts >= 2);
        expected_ids.insert(mid);
    }
    let got_ids: HashSet<_> = got.iter().map(message_id).collect();
    assert_eq!(got_ids, expected_ids);
    assert_eq!(
        metric(&app, "cpd_hub_emails_total{outcome=\"sent\"}").await,
        20
    );
    // The backlog figures come back to zero once everything is out.
    wait_metric(&app, "cpd_hub_outbox_pending", 0).await;
    wait_metric(&app, "cpd_hub_outbox_oldest_pending_age_seconds", 0).await;
}
crate::each_backend!(
    smtp_down_while_messages_are_queued_loses_nothing,
    smtp_down_loses_nothing
);

async fn rolled_back_sends_nothing(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn_with_sink(backend, &sink, |_| {}).await;
    app.with_db(|c| {
        let result: Result<(), diesel::result::Error> = db::write_tx(c, |c| {
            outbox::enqueue_stored(
                c,
                StoredMessage {
                    kind: "booking_confirmed",
                    recipient_email: "rolled.back@school.test",
                    recipient_person_id: None,
                    subject_id: None,
                    payload: sample(Kind::BookingConfirmed),
                },
            )?;
            // The change that queued the email fails after it: the whole transaction goes.
            Err(diesel::result::Error::RollbackTransaction)
        });
        assert!(result.is_err());
    })
    .await;
    let marker = enqueue(
        &app,
        Kind::BookingConfirmed,
        "committed@school.test",
        None,
        sample(Kind::BookingConfirmed),
    )
    .await;
    wait_status(&app, &marker, "sent").await;
    let got = sink
        .expect_no_more_than(1, Duration::from_millis(500))
        .await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].rcpt_to, vec!["committed@school.test".to_string()]);
    let listed = app.admin_get("/api/v1/admin/outbox").await;
    assert_eq!(listed["total"], 1, "{listed}");
}
crate::each_backend!(
    a_rolled_back_change_sends_nothing,
    rolled_back_sends_nothing
);

async fn expired_claims_are_reclaimed(backend: Backend) {
    let sink = SmtpSink::start().await;
    // The worker starts after the rows are set up, so it cannot claim them first.
    let app = spawn_with_sink(backend, &sink, |s| s.outbox.enabled = false).await;
    let dead = enqueue(
        &app,
        Kind::BookingConfirmed,
        "dead.worker@school.test",
        None,
        sample(Kind::BookingConfirmed),
    )
    .await;
    let live = enqueue(
        &app,
        Kind::BookingConfirmed,
        "live.worker@school.test",
        None,
        sample(Kind::BookingConfirmed),
    )
    .await;
    {
        use cpd_hub::db::schema::outbox::dsl as o;
        let (dead, live) = (dead.clone(), live.clone());
        app.with_db(move |c| {
            let now = cpd_hub::domain::time::now();
            // A worker that died mid-send a while ago, and one that is still sending.
            for (id, until) in [
                (&dead, now - chrono::Duration::seconds(5)),
                (&live, now + chrono::Duration::hours(1)),
            ] {
                diesel::update(o::outbox.filter(o::id.eq(id)))
                    .set((
                        o::status.eq("sending"),
                        o::claimed_until.eq(Some(until)),
                        o::claim_token.eq(Some("another-worker")),
                        o::attempts.eq(1),
                    ))
                    .execute(c)
                    .unwrap();
            }
        })
        .await;
    }
    let second = cpd_hub::startup::Application::build({
        let mut s = app.settings.clone();
        s.outbox.enabled = true;
        s.bind = "127.0.0.1:0".into();
        s
    })
    .await
    .unwrap();
    tokio::spawn(second.run_until_stopped());
    let (_, attempts, _, _) = wait_status(&app, &dead, "sent").await;
    assert_eq!(attempts, 2, "the expired claim counts as a try");
    let got = sink
        .expect_no_more_than(1, Duration::from_millis(500))
        .await;
    assert_eq!(got[0].rcpt_to, vec!["dead.worker@school.test".to_string()]);
    assert_eq!(
        row(&app, &live).await.0,
        "sending",
        "a live claim is left alone"
    );
}
crate::each_backend!(expired_claims_are_taken_over, expired_claims_are_reclaimed);

/// A claim takes the messages whose earlier claim expired first, then the pending ones in the
/// order they fall due, up to its limit across both; what is left waits for the next claim.
async fn claims_in_order(backend: Backend) {
    tokio::task::spawn_blocking(move || {
        use cpd_hub::db::schema::outbox::dsl as o;
        let Some((_db, mut c)) = helpers::migrated_db(backend) else {
            eprintln!("TEST_POSTGRES_URL is not set: PostgreSQL half skipped");
            return;
        };
        let c = &mut c;
        let now = chrono::NaiveDate::from_ymd_opt(2027, 3, 31)
            .and_then(|d| d.and_hms_opt(23, 30, 0))
            .unwrap();
        let queue = |c: &mut DbConn, to: &str, due_minutes_ago: i64| -> String {
            let id = db::write_tx(c, |c| {
                outbox::enqueue_stored(
                    c,
                    StoredMessage {
                        kind: "booking_confirmed",
                        recipient_email: to,
                        recipient_person_id: None,
                        subject_id: None,
                        payload: sample(Kind::BookingConfirmed),
                    },
                )
            })
            .unwrap();
            diesel::update(o::outbox.filter(o::id.eq(&id)))
                .set(o::next_attempt_at.eq(now - chrono::Duration::minutes(due_minutes_ago)))
                .execute(c)
                .unwrap();
            id
        };
        let later = queue(c, "later@school.test", 1);
        let earlier = queue(c, "earlier@school.test", 3);
        let earliest = queue(c, "earliest@school.test", 5);
        let not_yet = queue(c, "not.yet@school.test", -10);
        // Fell due after the pending ones, but its claim expired: it goes first all the same.
        let taken_over = queue(c, "dead.worker@school.test", 0);
        let still_held = queue(c, "live.worker@school.test", 60);
        for (id, until) in [
            (&taken_over, now - chrono::Duration::seconds(1)),
            (&still_held, now + chrono::Duration::minutes(5)),
        ] {
            diesel::update(o::outbox.filter(o::id.eq(id)))
                .set((
                    o::status.eq("sending"),
                    o::claimed_until.eq(Some(until)),
                    o::claim_token.eq(Some("another-worker")),
                ))
                .execute(c)
                .unwrap();
        }
        let until = now + chrono::Duration::minutes(5);
        let ids = |claimed: Vec<outbox::Claimed>| -> HashSet<String> {
            claimed.into_iter().map(|m| m.id).collect()
        };
        let first = ids(outbox::claim(c, now, until, "me", 3).unwrap());
        assert_eq!(
            first,
            HashSet::from([taken_over.clone(), earliest.clone(), earlier.clone()]),
            "the expired claim, then the two pending that fell due first"
        );
        let second = ids(outbox::claim(c, now, until, "me", 3).unwrap());
        assert_eq!(second, HashSet::from([later.clone()]));
        assert!(outbox::claim(c, now, until, "me", 3).unwrap().is_empty());
        let status = |c: &mut DbConn, id: &str| -> (String, Option<String>) {
            o::outbox
                .find(id)
                .select((o::status, o::claim_token))
                .first(c)
                .unwrap()
        };
        assert_eq!(status(c, &not_yet), ("pending".into(), None));
        assert_eq!(
            status(c, &still_held),
            ("sending".into(), Some("another-worker".into()))
        );
        assert_eq!(
            status(c, &taken_over),
            ("sending".into(), Some("me".into()))
        );
    })
    .await
    .unwrap();
}
crate::each_backend!(
    a_claim_takes_expired_claims_first_then_pending_in_due_order,
    claims_in_order
);

async fn failed_then_retried(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn_with_sink(backend, &sink, |s| s.outbox.max_attempts = 2).await;
    // Refused for good by the server: failed at once, not retried for a day.
    sink.refuse("left.school@school.test", "550 5.1.1 no such mailbox");
    let refused = enqueue(
        &app,
        Kind::BookingApproved,
        "left.school@school.test",
        None,
        sample(Kind::BookingApproved),
    )
    .await;
    let (_, attempts, _, error) = wait_status(&app, &refused, "failed").await;
    assert_eq!(attempts, 1);
    assert!(error.unwrap().contains("550"));

    // Down for longer than the tries allowed: failed after the last one.
    sink.stop().await;
    let gave_up = enqueue(
        &app,
        Kind::BookingApproved,
        "patient@school.test",
        None,
        sample(Kind::BookingApproved),
    )
    .await;
    let (_, attempts, _, error) = wait_status(&app, &gave_up, "failed").await;
    assert_eq!(attempts, 2);
    assert!(error.unwrap().starts_with("gave up after 2 tries"));
    // A payload the template cannot use fails too, with the reason.
    let broken = enqueue(
        &app,
        Kind::BookingWaitlisted,
        "broken@school.test",
        None,
        json!({"person_name": "X"}),
    )
    .await;
    let (_, _, _, error) = wait_status(&app, &broken, "failed").await;
    assert!(error.unwrap().contains("booking_waitlisted"));
    assert!(metric(&app, "cpd_hub_emails_total{outcome=\"failed\"}").await >= 3);

    let listed = app.admin_get("/api/v1/admin/outbox?status=failed").await;
    assert_eq!(listed["total"], 3, "{listed}");
    let items = listed["items"].as_array().unwrap();
    let ids: HashSet<_> = items
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        ids,
        HashSet::from([refused.clone(), gave_up.clone(), broken.clone()])
    );
    let item = items.iter().find(|i| i["id"] == refused.as_str()).unwrap();
    assert_eq!(item["kind"], "booking_approved");
    assert_eq!(item["recipient_email"], "left.school@school.test");
    assert_eq!(item["status"], "failed");
    assert!(item["message_id"].as_str().unwrap().starts_with('<'));
    assert!(
        item.get("payload").is_none(),
        "payloads may hold sign-in links"
    );

    // Only admins; a bad filter names the field; an unknown id is 404.
    expect_problem(
        app.get("/api/v1/admin/outbox?status=failed", None).await,
        401,
        None,
    )
    .await;
    let r = app
        .get("/api/v1/admin/outbox?status=lost", Some(&app.admin_token))
        .await;
    expect_problem(r, 422, Some("status")).await;
    let r = app
        .post(
            "/api/v1/admin/outbox/nope/retry",
            Some(&app.admin_token),
            &json!({}),
        )
        .await;
    expect_problem(r, 404, None).await;

    // The server is back and the mailbox exists again: retry both.
    sink.restart().await;
    sink.accept_all();
    for id in [&refused, &gave_up] {
        let r = app
            .post(
                &format!("/api/v1/admin/outbox/{id}/retry"),
                Some(&app.admin_token),
                &json!({}),
            )
            .await;
        let entry = expect_json(r, 200).await;
        assert_eq!(entry["attempts"], 0);
        assert!(
            matches!(
                entry["status"].as_str(),
                Some("pending" | "sending" | "sent")
            ),
            "{entry}"
        );
    }
    let got = sink.wait_for(2, WAIT).await;
    let to: HashSet<_> = got.iter().map(|m| m.rcpt_to[0].clone()).collect();
    assert_eq!(
        to,
        HashSet::from([
            "left.school@school.test".to_string(),
            "patient@school.test".to_string()
        ])
    );
    wait_status(&app, &refused, "sent").await;
    let listed = app.admin_get("/api/v1/admin/outbox?status=failed").await;
    assert_eq!(listed["total"], 1);
    // Messages are kept, never deleted through the API.
    let r = app
        .delete(
            &format!("/api/v1/admin/outbox/{refused}"),
            Some(&app.admin_token),
        )
        .await;
    assert!(matches!(r.status().as_u16(), 404 | 405), "{}", r.status());
    assert_eq!(row(&app, &refused).await.0, "sent");
    // A sent message cannot be retried.
    let r = app
        .post(
            &format!("/api/v1/admin/outbox/{refused}/retry"),
            Some(&app.admin_token),
            &json!({}),
        )
        .await;
    let p = expect_problem(r, 409, None).await;
    assert_eq!(p["code"], "not_failed");
    sink.expect_no_more_than(2, Duration::from_millis(300))
        .await;
}
crate::each_backend!(
    failed_messages_are_listed_and_can_be_retried,
    failed_then_retried
);

async fn no_longer_holds(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn_with_sink(backend, &sink, |_| {}).await;
    let mut expired = sample(Kind::SignInLink);
    expired["expires_at"] = json!("2020-01-01T00:00:00Z");
    let stale = enqueue(&app, Kind::SignInLink, "late@school.test", None, expired).await;
    let mut fresh = sample(Kind::SignInLink);
    fresh["expires_at"] = json!("2099-01-01T00:00:00Z");
    let ok = enqueue(&app, Kind::SignInLink, "prompt@school.test", None, fresh).await;
    let (_, _, _, why) = wait_status(&app, &stale, "skipped").await;
    assert!(why.unwrap().contains("expired"));
    wait_status(&app, &ok, "sent").await;
    let got = sink
        .expect_no_more_than(1, Duration::from_millis(300))
        .await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].rcpt_to, vec!["prompt@school.test".to_string()]);
    assert_eq!(
        metric(&app, "cpd_hub_emails_total{outcome=\"skipped\"}").await,
        1
    );
}
crate::each_backend!(a_message_that_no_longer_holds_is_skipped, no_longer_holds);

async fn two_services_share_the_queue(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn_with_sink(backend, &sink, |s| s.outbox.batch = 5).await;
    let second = cpd_hub::startup::Application::build({
        let mut s = app.settings.clone();
        s.bind = "127.0.0.1:0".into();
        s
    })
    .await
    .unwrap();
    tokio::spawn(second.run_until_stopped());
    let mut ids = Vec::new();
    for i in 0..60 {
        ids.push(
            enqueue(
                &app,
                Kind::CourseReminder,
                &format!("r{i}@school.test"),
                None,
                {
                    let mut p = sample(Kind::CourseReminder);
                    p["sessions"][0]["start"] = json!("2099-01-14T09:00:00Z");
                    p["sessions"][0]["end"] = json!("2099-01-14T15:30:00Z");
                    p
                },
            )
            .await,
        );
    }
    sink.wait_for(60, WAIT).await;
    let got = sink
        .expect_no_more_than(60, Duration::from_millis(500))
        .await;
    let ids_seen: HashSet<_> = got.iter().map(message_id).collect();
    assert_eq!(
        ids_seen.len(),
        60,
        "each message exactly once between two workers"
    );
    for id in &ids {
        let (_, attempts, _, _) = wait_status(&app, id, "sent").await;
        assert_eq!(attempts, 1);
    }
}
crate::each_backend!(
    two_services_share_one_queue_without_sending_twice,
    two_services_share_the_queue
);

async fn killed_service_loses_nothing(backend: Backend) {
    let Some(test_db) = helpers::fresh_db(backend) else {
        return;
    };
    let url = test_db.url().to_string();
    let total = 60;
    let ids: Vec<String> = {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            let mut c = open(&url);
            cpd_hub::store::prepare(&mut c).unwrap();
            (0..total)
                .map(|i| {
                    db::write_tx(&mut c, |c| {
                        outbox::enqueue_stored(
                            c,
                            StoredMessage {
                                kind: "booking_confirmed",
                                recipient_email: &format!("k{i}@school.test"),
                                recipient_person_id: None,
                                subject_id: None,
                                payload: sample(Kind::BookingConfirmed),
                            },
                        )
                    })
                    .unwrap()
                })
                .collect()
        })
        .await
        .unwrap()
    };
    let sink = SmtpSink::start().await;
    // Slow enough that the service is killed with messages claimed and in flight.
    sink.set_data_delay(Duration::from_millis(40));
    let serve = || {
        Command::new(env!("CARGO_BIN_EXE_cpd-hub"))
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &url)
            .env("BIND", "127.0.0.1:0")
            .env("SMTP_URL", sink.url())
            .env("OUTBOX_CLAIM_SECS", "2")
            // A claim lasts at least twice the SMTP timeout: 2 seconds here too.
            .env("SMTP_TIMEOUT_SECS", "1")
            .env("OUTBOX_POLL_MS", "50")
            .env("OUTBOX_BATCH", "10")
            .env("OUTBOX_CONCURRENCY", "4")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cpd-hub serve starts")
    };
    let mut first = serve();
    sink.wait_for(8, WAIT).await;
    first.kill().expect("SIGKILL");
    first.wait().unwrap();
    let sent_before = sink.count();
    let states: Vec<String> = {
        use cpd_hub::db::schema::outbox::dsl as o;
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            o::outbox.select(o::status).load(&mut open(&url)).unwrap()
        })
        .await
        .unwrap()
    };
    let unfinished = states.iter().filter(|s| *s != "sent").count();
    assert!(
        unfinished > 0 && sent_before < total,
        "the kill came too late to test anything"
    );
    assert!(
        states.iter().any(|s| s == "sending"),
        "claims were left behind: {states:?}"
    );

    sink.set_data_delay(Duration::ZERO);
    let mut second = serve();
    let start = std::time::Instant::now();
    let expected: HashSet<String> = {
        use cpd_hub::db::schema::outbox::dsl as o;
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            o::outbox
                .select(o::message_id)
                .load::<String>(&mut open(&url))
                .unwrap()
        })
        .await
        .unwrap()
        .into_iter()
        .collect()
    };
    assert_eq!(expected.len(), ids.len());
    let arrived = loop {
        let arrived: HashSet<String> = sink.messages().iter().map(message_id).collect();
        if arrived == expected {
            break arrived;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{} of {total} arrived after the restart",
            arrived.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Wait for the outcomes to be recorded, then stop the service. One connection for the
    // whole wait: on PostgreSQL each new one is a server process of its own.
    let left: i64 = tokio::task::spawn_blocking(move || {
        use cpd_hub::db::schema::outbox::dsl as o;
        let mut conn = open(&url);
        loop {
            let left: i64 = o::outbox
                .filter(o::status.ne("sent"))
                .count()
                .get_result(&mut conn)
                .unwrap();
            if left == 0 || start.elapsed() >= Duration::from_secs(30) {
                return left;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap();
    assert_eq!(left, 0, "{left} messages not marked sent");
    second.kill().unwrap();
    second.wait().unwrap();
    // None lost. A message handed to the server just before the kill but not yet marked sent
    // goes again, with the same Message-ID: at most one per send in flight.
    assert_eq!(arrived.len(), total);
    let received = sink.count();
    assert!(received - total <= 4, "{} duplicates", received - total);
    drop(test_db);
}
crate::each_backend!(a_killed_service_loses_nothing, killed_service_loses_nothing);

#[tokio::test]
async fn a_bad_smtp_url_stops_start_up_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cpd-hub"))
        .arg("serve")
        .env_clear()
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.path().join("x.db").display()),
        )
        .env("BIND", "127.0.0.1:0")
        .env("SMTP_URL", "smtp://relay.example?tls=sometimes")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("SMTP_URL"), "{err}");
    for bad in ["smtp//relay.example", "imap://relay.example", "file:///"] {
        let out = Command::new(env!("CARGO_BIN_EXE_cpd-hub"))
            .arg("serve")
            .env_clear()
            .env(
                "DATABASE_URL",
                format!("sqlite://{}", dir.path().join("x.db").display()),
            )
            .env("SMTP_URL", bad)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{bad} accepted");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("SMTP_URL"),
            "{bad}"
        );
    }
    assert!(!dir.path().join("x.db").exists(), "nothing was started");
}

async fn log_and_file_transports(backend: Backend) {
    // No SMTP_URL: written to the log and marked sent, so a first run just works.
    let app = spawn_app_with(backend, |s| s.outbox.poll = Duration::from_millis(50))
        .await
        .expect("backend");
    assert!(app.settings.smtp_url.is_none());
    let mut expired = sample(Kind::SignInLink);
    expired["expires_at"] = json!("2020-01-01T00:00:00Z");
    let id = enqueue(&app, Kind::SignInLink, "jane@school.test", None, expired).await;
    let mut fresh = sample(Kind::SignInLink);
    fresh["expires_at"] = json!("2099-01-01T00:00:00Z");
    let id2 = enqueue(&app, Kind::SignInLink, "jane@school.test", None, fresh).await;
    wait_status(&app, &id, "skipped").await;
    wait_status(&app, &id2, "sent").await;

    // SMTP_URL=file:///dir: one .eml file per email.
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().join("mail").display());
    let app = spawn_app_with(backend, move |s| {
        s.smtp_url = Some(url);
        s.outbox.poll = Duration::from_millis(50);
    })
    .await
    .unwrap();
    let id = enqueue(
        &app,
        Kind::BookingPromoted,
        "promoted@school.test",
        None,
        sample(Kind::BookingPromoted),
    )
    .await;
    let (_, _, message_id, _) = wait_status(&app, &id, "sent").await;
    let files: Vec<_> = std::fs::read_dir(dir.path().join("mail"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let eml: Vec<_> = files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    assert_eq!(eml.len(), 1, "{files:?}");
    let raw = std::fs::read(eml[0]).unwrap();
    let mail = MessageParser::default().parse(&raw).unwrap();
    assert_eq!(
        mail.subject(),
        Some("You now have a place: Adaptive teaching for pupils with SEND")
    );
    assert_eq!(format!("<{}>", mail.message_id().unwrap()), message_id);
    assert_eq!(mail.attachment_count(), 1);
}
crate::each_backend!(
    without_smtp_emails_go_to_the_log_or_to_files,
    log_and_file_transports
);

async fn reminders_queue_once(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn_with_sink(backend, &sink, |_| {}).await;
    let url = app.db.url().to_string();
    let mut payload = sample(Kind::CourseReminder);
    payload["sessions"][0]["start"] = json!("2099-01-14T09:00:00Z");
    payload["sessions"][0]["end"] = json!("2099-01-14T15:30:00Z");
    let due = outbox::ReminderDue {
        booking_id: "booking-7".into(),
        person_id: "person-7".into(),
        email: "reminded@school.test".into(),
        reminder: serde_json::from_value(payload).unwrap(),
    };
    let queued = tokio::task::spawn_blocking(move || {
        let mut c = open(&url);
        let first = outbox::enqueue_reminders(&mut c, &[due.clone(), due.clone()]).unwrap();
        let again = outbox::enqueue_reminders(&mut c, &[due]).unwrap();
        (first, again)
    })
    .await
    .unwrap();
    assert_eq!(
        queued,
        (1, 0),
        "one reminder per booking, however often the scheduler runs"
    );
    let got = sink.wait_for(1, WAIT).await;
    let mail = parse(&got[0]);
    assert_eq!(
        mail.subject(),
        Some("Reminder: Adaptive teaching for pupils with SEND starts in 2 days")
    );
    sink.expect_no_more_than(1, Duration::from_millis(300))
        .await;

    // A reminder held back until after the course started is skipped, not sent.
    let late = enqueue(
        &app,
        Kind::CourseReminder,
        "too.late@school.test",
        Some("booking-8"),
        {
            let mut p = sample(Kind::CourseReminder);
            p["sessions"][0]["start"] = json!("2021-01-14T09:00:00Z");
            p
        },
    )
    .await;
    let (_, _, _, why) = wait_status(&app, &late, "skipped").await;
    assert!(why.unwrap().contains("already started"));

    let doc = expect_json(app.get("/api/openapi.json", None).await, 200).await;
    for p in ["/api/v1/admin/outbox", "/api/v1/admin/outbox/{id}/retry"] {
        assert!(doc["paths"].get(p).is_some(), "{p} missing from OpenAPI");
    }
}
crate::each_backend!(
    course_reminders_are_queued_once_and_skipped_when_late,
    reminders_queue_once
);

async fn no_send_outlasts_its_claim(backend: Backend) {
    let sink = SmtpSink::start().await;
    // Each message takes 0.7 s at the server; a claim lasts 2 s (twice the SMTP timeout, as
    // OUTBOX_CLAIM_SECS=1 is shorter); one message at a time, three to a batch: the third
    // of a batch would start 1.4 s into the claim, too late to be sure to end within it.
    sink.set_data_delay(Duration::from_millis(700));
    let slow = |s: &mut cpd_hub::config::Settings| {
        s.outbox.claim = Duration::from_secs(1);
        s.outbox.smtp_timeout = Duration::from_secs(1);
        s.outbox.batch = 3;
        s.outbox.concurrency = 1;
    };
    let app = spawn_with_sink(backend, &sink, |s| {
        s.outbox.enabled = false;
        slow(s);
    })
    .await;
    let mut ids = Vec::new();
    for i in 0..6 {
        let to = format!("slow{i}@school.test");
        let payload = sample(Kind::BookingConfirmed);
        ids.push(enqueue(&app, Kind::BookingConfirmed, &to, None, payload).await);
    }
    // Two workers share the queue: one takes a claim over as soon as it expires.
    for _ in 0..2 {
        let service = cpd_hub::startup::Application::build({
            let mut s = app.settings.clone();
            s.outbox.enabled = true;
            s.bind = "127.0.0.1:0".into();
            s
        })
        .await
        .unwrap();
        tokio::spawn(service.run_until_stopped());
    }
    for id in &ids {
        let (_, attempts, _, error) = wait_status(&app, id, "sent").await;
        // Once: not taken over while it was being sent, nor charged a try when given back.
        assert_eq!(attempts, 1, "tries of {id}: {error:?}");
    }
    let got = sink
        .expect_no_more_than(6, Duration::from_millis(1500))
        .await;
    let seen: HashSet<_> = got.iter().map(message_id).collect();
    assert_eq!(seen.len(), 6, "each message exactly once");
}
crate::each_backend!(
    no_send_starts_that_could_outlast_its_claim,
    no_send_outlasts_its_claim
);
