//! iCalendar feeds, checked with an independent parser (Python's `icalendar` package:
//! `pip install icalendar`) as well as line by line against RFC 5545's framing rules.

use cpd_hub::domain::roles::Role;
use serde_json::{json, Value};

use crate::both_backends;
use crate::calendar_support::*;
use crate::helpers::TestApp;

/// Reads a calendar with Python's `icalendar` and prints what a calendar program would see.
const PARSER: &str = r#"
import json, sys
from icalendar import Calendar

raw = open(sys.argv[1], 'rb').read()
cal = Calendar.from_ical(raw)

def errors(component):
    found = [str(e) for e in (getattr(component, 'errors', None) or [])]
    for sub in component.subcomponents:
        found += errors(sub)
    return found

def text(component, name):
    value = component.get(name)
    return None if value is None else str(value)

events = []
for ev in cal.walk('VEVENT'):
    alarms = [{
        'action': text(a, 'action'),
        'trigger_seconds': a.decoded('trigger').total_seconds(),
        'description': text(a, 'description'),
    } for a in ev.walk('VALARM')]
    events.append({
        'uid': text(ev, 'uid'),
        'sequence': int(ev.get('sequence', 0)),
        'status': text(ev, 'status'),
        'summary': text(ev, 'summary'),
        'location': text(ev, 'location'),
        'url': text(ev, 'url'),
        'description': text(ev, 'description'),
        'start': ev.decoded('dtstart').isoformat(),
        'end': ev.decoded('dtend').isoformat(),
        'stamp': ev.decoded('dtstamp').isoformat(),
        'alarms': alarms,
    })
print(json.dumps({
    'version': text(cal, 'version'),
    'prodid': text(cal, 'prodid'),
    'calscale': text(cal, 'calscale'),
    'method': text(cal, 'method'),
    'name': text(cal, 'x-wr-calname'),
    'errors': errors(cal),
    'events': events,
}))
"#;

/// Parses iCalendar text with the independent parser.
fn parse_ics(text: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("calendar.ics");
    std::fs::write(&path, text).unwrap();
    let python = crate::tools::python_icalendar("calendar_ics").expect("checked by the test");
    let out = std::process::Command::new(python)
        .arg("-c")
        .arg(PARSER)
        .arg(&path)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "the iCalendar parser failed (install it with `pip install icalendar`): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(parsed["errors"], json!([]), "parser reported errors");
    assert_eq!(parsed["version"], "2.0");
    assert_eq!(parsed["method"], "PUBLISH");
    assert_eq!(parsed["calscale"], "GREGORIAN");
    assert_eq!(parsed["prodid"], "-//cpd-hub//CPD calendar//EN");
    parsed
}

/// RFC 5545 framing: CRLF line ends only, no line longer than 75 octets.
fn assert_framing(text: &str) {
    assert!(text.starts_with("BEGIN:VCALENDAR\r\n"));
    assert!(text.ends_with("END:VCALENDAR\r\n"));
    let bytes = text.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'\n' {
            assert!(i > 0 && bytes[i - 1] == b'\r', "bare LF at octet {i}");
        }
        if *b == b'\r' {
            assert_eq!(bytes.get(i + 1), Some(&b'\n'), "bare CR at octet {i}");
        }
    }
    for line in text.split("\r\n") {
        assert!(line.len() <= 75, "{} octets: {line:?}", line.len());
    }
}

/// GETs a calendar, expecting 200 and `text/calendar`.
async fn get_ics(app: &TestApp, path: &str, token: Option<&str>) -> String {
    let r = app.get(path, token).await;
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let text = r.text().await.unwrap();
    assert_eq!(status, 200, "{path}: {text}");
    assert_eq!(ct, "text/calendar; charset=utf-8");
    assert_framing(&text);
    text
}

fn uids(cal: &Value) -> Vec<String> {
    cal["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["uid"].as_str().unwrap().to_string())
        .collect()
}

fn uid_of(course: &Value, i: usize) -> String {
    format!("{}@cpd-hub", course["sessions"][i]["id"].as_str().unwrap())
}

both_backends! {
    async fn a_course_calendar_reads_back_exactly(app: TestApp) {
        if crate::tools::python_icalendar("calendar_ics::a_course_calendar_reads_back_exactly").is_none() {
            return;
        }
        let fx = cal_fixture(&app).await;
        let title = "SEND, EAL; and \\ wellbeing: supporting pupils with special educational needs – “every” teacher’s job";
        let mut body = cal_course(&fx, title, vec![
            cal_session("2027-03-28T10:00:00+01:00", "2027-03-28T12:00:00+01:00"),
            cal_session("2027-10-31T10:00:00+00:00", "2027-10-31T12:30:00+00:00"),
        ]);
        body["summary"] = json!("## Aims\n\nÉtude of **adaptive** teaching, with ümlauts and emoji 🎓 repeated: ".to_string() + &"çé🎓".repeat(40));
        body["sessions"][1]["note"] = json!("Bring a laptop; lunch provided, vegetarian options");
        let c = cal_publish_new(&app, body).await;
        let id = c["id"].as_str().unwrap();
        let path = format!("/api/v1/courses/{id}/calendar.ics");
        let text = get_ics(&app, &path, None).await;
        assert!(text.contains("DTSTART:20270328T090000Z\r\n"), "UTC times: {text}");
        let cal = parse_ics(&text);
        // The parser hands non-standard properties back still escaped (RFC 5545 TEXT).
        let name = cal["name"].as_str().unwrap();
        assert_eq!(name.replace("\\\\", "\u{0}").replace("\\,", ",").replace("\\;", ";").replace('\u{0}', "\\"), title);
        let events = cal["events"].as_array().unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(uids(&cal), vec![uid_of(&c, 0), uid_of(&c, 1)]);
        let (spring, autumn) = (&events[0], &events[1]);
        // 10:00 in London on each side of both clock changes.
        assert_eq!(spring["start"], "2027-03-28T09:00:00+00:00");
        assert_eq!(spring["end"], "2027-03-28T11:00:00+00:00");
        assert_eq!(autumn["start"], "2027-10-31T10:00:00+00:00");
        assert_eq!(autumn["end"], "2027-10-31T12:30:00+00:00");
        assert_eq!(spring["summary"], format!("{title} (session 1 of 2)"));
        assert_eq!(spring["status"], "CONFIRMED");
        assert_eq!(spring["sequence"], 0);
        assert_eq!(spring["location"], "Barnsley Teaching Hub, Church Street, Barnsley, S70 2HZ");
        assert_eq!(spring["url"], format!("{}/courses/{id}", app.settings.public_base_url));
        let description = autumn["description"].as_str().unwrap();
        assert!(description.contains(&"çé🎓".repeat(40)), "{description}");
        assert!(description.contains("Bring a laptop; lunch provided, vegetarian options"));
        assert!(description.contains(&format!("/courses/{id}")));
        // A reminder a day before, by default.
        for e in events {
            assert_eq!(e["alarms"].as_array().unwrap().len(), 1);
            assert_eq!(e["alarms"][0]["action"], "DISPLAY");
            assert_eq!(e["alarms"][0]["trigger_seconds"], -86400.0);
        }
        // Other reminders, or none.
        let cal = parse_ics(&get_ics(&app, &format!("{path}?alarm_minutes=30"), None).await);
        assert_eq!(cal["events"][0]["alarms"][0]["trigger_seconds"], -1800.0);
        let cal = parse_ics(&get_ics(&app, &format!("{path}?alarm_minutes=2880"), None).await);
        assert_eq!(cal["events"][0]["alarms"][0]["trigger_seconds"], -172800.0);
        let cal = parse_ics(&get_ics(&app, &format!("{path}?alarm_minutes=0"), None).await);
        assert_eq!(cal["events"][0]["alarms"], json!([]));
        for bad in ["-1", "abc", "40321"] {
            expect_problem(app.get(&format!("{path}?alarm_minutes={bad}"), None).await, 422, Some("alarm_minutes")).await;
        }
        // Moving a session raises the sequence; the UID stays.
        let t = Some(app.admin_token.as_str());
        let sid = c["sessions"][0]["id"].as_str().unwrap();
        expect_json(app.patch(&format!("/api/v1/sessions/{sid}"), t,
            &json!({"start": "2027-03-28T13:00:00+01:00", "end": "2027-03-28T15:00:00+01:00"})).await, 200).await;
        let cal = parse_ics(&get_ics(&app, &path, None).await);
        assert_eq!(cal["events"][0]["uid"], uid_of(&c, 0));
        assert_eq!(cal["events"][0]["sequence"], 1);
        assert_eq!(cal["events"][0]["start"], "2027-03-28T12:00:00+00:00");
        // Cancelled: the events stay, cancelled, with a higher sequence and no reminder.
        expect_json(app.post(&format!("/api/v1/courses/{id}/cancel"), t, &json!({"reason": "Venue flooded"})).await, 200).await;
        expect_problem(app.get(&path, None).await, 404, None).await;
        let cal = parse_ics(&get_ics(&app, &path, t).await);
        for e in cal["events"].as_array().unwrap() {
            assert_eq!(e["status"], "CANCELLED");
            assert_eq!(e["sequence"], 2);
            assert!(e["summary"].as_str().unwrap().starts_with("Cancelled: "));
            assert!(e["description"].as_str().unwrap().contains("Venue flooded"));
            assert_eq!(e["alarms"], json!([]));
        }
        expect_problem(app.get("/api/v1/courses/nope/calendar.ics", None).await, 404, None).await;
    }
}

both_backends! {
    async fn drafts_are_not_in_calendars_but_leads_see_theirs(app: TestApp) {
        if crate::tools::python_icalendar("calendar_ics::drafts_are_not_in_calendars_but_leads_see_theirs").is_none() {
            return;
        }
        let fx = cal_fixture(&app).await;
        let (lead, lead_token) = cal_person(&app, "Lee Lead", &[Role::CourseLead]).await;
        let mut body = cal_course(&fx, "Draft", vec![cal_session("2027-02-01T09:00:00Z", "2027-02-01T12:00:00Z")]);
        body["lead_ids"] = json!([lead]);
        let c = cal_create(&app, body).await;
        let path = format!("/api/v1/courses/{}/calendar.ics", c["id"].as_str().unwrap());
        expect_problem(app.get(&path, None).await, 404, None).await;
        let cal = parse_ics(&get_ics(&app, &path, Some(&lead_token)).await);
        assert_eq!(uids(&cal), vec![uid_of(&c, 0)]);
        let cal = parse_ics(&get_ics(&app, "/calendar.ics?from=2027-01-01", None).await);
        assert_eq!(cal["events"], json!([]));
    }
}

both_backends! {
    async fn the_public_feed_takes_the_list_filters(app: TestApp) {
        if crate::tools::python_icalendar("calendar_ics::the_public_feed_takes_the_list_filters").is_none() {
            return;
        }
        let fx = cal_fixture(&app).await;
        let t = Some(app.admin_token.as_str());
        let mut send = cal_course(&fx, "SEND programme", vec![
            cal_session("2027-01-14T09:00:00Z", "2027-01-14T12:00:00Z"),
            cal_session("2027-01-21T09:00:00Z", "2027-01-21T12:00:00Z"),
            cal_session("2027-01-28T09:00:00Z", "2027-01-28T12:00:00Z"),
        ]);
        send["priority_ids"] = json!([fx.priority("send")]);
        let send = cal_publish_new(&app, send).await;
        let mut online = cal_course(&fx, "Online leadership", vec![json!({
            "start": "2027-02-03T16:00:00Z", "end": "2027-02-03T17:30:00Z",
            "online_url": "https://meet.example.org/lead"
        })]);
        online["format"] = json!("online");
        online["priority_ids"] = json!([fx.priority("leadership")]);
        let online = cal_publish_new(&app, online).await;
        // A draft, a cancelled course and a long-past one.
        cal_create(&app, cal_course(&fx, "Draft", vec![cal_session("2027-01-15T09:00:00Z", "2027-01-15T12:00:00Z")])).await;
        let gone = cal_publish_new(&app, cal_course(&fx, "Gone", vec![cal_session("2027-01-16T09:00:00Z", "2027-01-16T12:00:00Z")])).await;
        expect_json(app.post(&format!("/api/v1/courses/{}/cancel", gone["id"].as_str().unwrap()), t, &json!({"reason": "No"})).await, 200).await;
        let old = cal_publish_new(&app, cal_course(&fx, "Long ago", vec![cal_session("2024-01-16T09:00:00Z", "2024-01-16T12:00:00Z")])).await;

        let cal = parse_ics(&get_ics(&app, "/calendar.ics", None).await);
        assert_eq!(cal["name"], "CPD calendar");
        assert_eq!(uids(&cal), vec![uid_of(&send, 0), uid_of(&send, 1), uid_of(&send, 2), uid_of(&online, 0)]);
        assert_eq!(cal["events"][1]["summary"], "SEND programme (session 2 of 3)");
        assert_eq!(cal["events"][3]["location"], "https://meet.example.org/lead");
        assert!(cal["events"][3]["description"].as_str().unwrap().contains("Join online: https://meet.example.org/lead"));
        let cal = parse_ics(&get_ics(&app, "/calendar.ics?priority=send", None).await);
        assert_eq!(uids(&cal).len(), 3);
        let cal = parse_ics(&get_ics(&app, "/calendar.ics?format=online&alarm_minutes=0", None).await);
        assert_eq!(uids(&cal), vec![uid_of(&online, 0)]);
        assert_eq!(cal["events"][0]["alarms"], json!([]));
        let cal = parse_ics(&get_ics(&app, "/calendar.ics?q=programme&to=2027-01-20", None).await);
        assert_eq!(uids(&cal).len(), 3, "the window is on the first session");
        // Old courses come back when asked for.
        let cal = parse_ics(&get_ics(&app, "/calendar.ics?from=2024-01-01&to=2024-12-31", None).await);
        assert_eq!(uids(&cal), vec![uid_of(&old, 0)]);
        expect_problem(app.get("/calendar.ics?phase=college", None).await, 422, Some("phase")).await;
        // Paging counts courses.
        let cal = parse_ics(&get_ics(&app, "/calendar.ics?limit=1&offset=1", None).await);
        assert_eq!(uids(&cal), vec![uid_of(&online, 0)]);
        expect_problem(app.get("/calendar.ics?limit=2001", None).await, 422, Some("limit")).await;
    }
}

both_backends! {
    async fn a_personal_feed_behind_its_own_token(app: TestApp) {
        if crate::tools::python_icalendar("calendar_ics::a_personal_feed_behind_its_own_token").is_none() {
            return;
        }
        let fx = cal_fixture(&app).await;
        let t = Some(app.admin_token.as_str());
        let (lead, lead_token) = cal_person(&app, "Lee Lead", &[Role::CourseLead]).await;
        let (other, _) = cal_person(&app, "Olly Other", &[Role::CourseLead]).await;
        let led = |title: &str, start: &str, person: &str| {
            let mut b = cal_course(&fx, title, vec![cal_session(start, &start.replace("T09:", "T12:"))]);
            b["lead_ids"] = json!([person]);
            b
        };
        let mine = cal_publish_new(&app, led("Mine", "2027-02-01T09:00:00Z", &lead)).await;
        let cancelled = cal_publish_new(&app, led("Mine, cancelled", "2027-02-02T09:00:00Z", &lead)).await;
        expect_json(app.post(&format!("/api/v1/courses/{}/cancel", cancelled["id"].as_str().unwrap()), t, &json!({"reason": "Ill"})).await, 200).await;
        cal_create(&app, led("My draft", "2027-02-03T09:00:00Z", &lead)).await;
        cal_publish_new(&app, led("Not mine", "2027-02-04T09:00:00Z", &other)).await;

        expect_problem(app.post("/api/v1/me/calendar-feed", None, &json!({})).await, 401, None).await;
        let feed = expect_json(app.post("/api/v1/me/calendar-feed", Some(&lead_token), &json!({})).await, 201).await;
        let url = feed["url"].as_str().unwrap();
        let base = &app.settings.public_base_url;
        let path = url.strip_prefix(base.as_str()).expect("the URL is under PUBLIC_BASE_URL").to_string();
        assert!(path.starts_with("/calendar/") && path.ends_with(".ics"), "{path}");
        let token = path.trim_start_matches("/calendar/").trim_end_matches(".ics").to_string();
        let secret = token.trim_start_matches("cal_");
        assert!(secret.len() >= 32 && secret.chars().all(|c| c.is_ascii_hexdigit()), "at least 128 random bits: {token}");
        assert_eq!(feed["webcal_url"], url.replacen("http://", "webcal://", 1));
        // Only the hash is stored.
        let stored: Vec<String> = cal_db(&app, |conn| {
            use cpd_hub::db::schema::calendar_feeds;
            use diesel::prelude::*;
            calendar_feeds::table.select(calendar_feeds::token_hash).load(conn).unwrap()
        }).await;
        assert_eq!(stored.len(), 1);
        assert!(!stored[0].contains(secret));

        let cal = parse_ics(&get_ics(&app, &path, None).await);
        assert_eq!(cal["name"], "My CPD");
        assert_eq!(uids(&cal), vec![uid_of(&mine, 0), uid_of(&cancelled, 0)]);
        assert_eq!(cal["events"][0]["status"], "CONFIRMED");
        assert_eq!(cal["events"][1]["status"], "CANCELLED");
        let cal = parse_ics(&get_ics(&app, &format!("{path}?alarm_minutes=15"), None).await);
        assert_eq!(cal["events"][0]["alarms"][0]["trigger_seconds"], -900.0);

        // Rotating replaces the address; revoking ends it.
        let again = expect_json(app.post("/api/v1/me/calendar-feed", Some(&lead_token), &json!({})).await, 201).await;
        let new_path = again["url"].as_str().unwrap().strip_prefix(base.as_str()).unwrap().to_string();
        assert_ne!(new_path, path);
        expect_problem(app.get(&path, None).await, 404, None).await;
        get_ics(&app, &new_path, None).await;
        let r = app.delete("/api/v1/me/calendar-feed", Some(&lead_token)).await;
        assert_eq!(r.status(), 204);
        expect_problem(app.get(&new_path, None).await, 404, None).await;
        expect_problem(app.get("/calendar/cal_0000.ics", None).await, 404, None).await;
        expect_problem(app.delete("/api/v1/me/calendar-feed", None).await, 401, None).await;
    }
}

both_backends! {
    async fn an_emailed_calendar_updates_the_events_of_the_feed(app: TestApp) {
        if crate::tools::python_icalendar("calendar_ics::an_emailed_calendar_updates_the_events_of_the_feed").is_none() {
            return;
        }
        let fx = cal_fixture(&app).await;
        let c = cal_publish_new(&app, cal_course(&fx, "Phonics for early readers", vec![
            cal_session("2027-02-04T09:00:00Z", "2027-02-04T12:00:00Z"),
            cal_session("2027-02-11T09:00:00Z", "2027-02-11T12:00:00Z"),
        ])).await;
        let id = c["id"].as_str().unwrap();
        let feed = parse_ics(&get_ics(&app, &format!("/api/v1/courses/{id}/calendar.ics"), None).await);

        // The change email's attachment, as the worker renders it, for the same sessions.
        let sessions: Vec<Value> = c["sessions"].as_array().unwrap().iter().map(|s| json!({
            "id": s["id"], "start": s["start"], "end": s["end"], "venue": "Barnsley Teaching Hub",
        })).collect();
        let payload = json!({
            "person_name": "Jo Smith",
            "course_title": c["title"],
            "course_url": format!("{}/courses/{id}", app.settings.public_base_url),
            "sessions": sessions,
            "changes": [],
            "cancelled_sessions": [],
            "ics": {"sequence": c["revision"], "method": "PUBLISH"},
        });
        let templates = cpd_hub::email::templates::Templates::load(None).unwrap();
        let organizer = cpd_hub::email::templates::Organizer {
            name: "CPD team".into(),
            email: "cpd@alliance.test".into(),
        };
        let render = |kind: &str, payload: &Value| {
            templates.render(kind, payload, &app.settings.public_base_url, &organizer)
                .unwrap().ics.unwrap().content
        };
        let text = render("course_changed", &payload);
        assert_framing(&text);
        let emailed = parse_ics(&text);
        assert_eq!(uids(&emailed), uids(&feed), "one UID per session in both");
        assert_eq!(uids(&emailed), vec![uid_of(&c, 0), uid_of(&c, 1)]);
        for (e, f) in emailed["events"].as_array().unwrap().iter().zip(feed["events"].as_array().unwrap()) {
            assert_eq!(e["sequence"], f["sequence"]);
            assert_eq!(e["start"], f["start"]);
        }

        // A cancellation by email names the same events.
        let mut cancel = payload.clone();
        cancel["reason"] = json!("Venue flooded");
        cancel["ics"] = json!({"sequence": c["revision"].as_i64().unwrap() + 1, "method": "CANCEL"});
        let text = render("course_cancelled", &cancel);
        assert_framing(&text);
        let unfolded = text.replace("\r\n ", "");
        assert!(unfolded.contains("METHOD:CANCEL\r\n"));
        for uid in uids(&feed) {
            assert!(unfolded.contains(&format!("UID:{uid}\r\n")), "{uid}: {text}");
        }
        assert_eq!(unfolded.matches("STATUS:CANCELLED\r\n").count(), 2);
    }
}
