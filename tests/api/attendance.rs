//! Registers through the API: taking a register, idempotent saves and their history, bad
//! entries named, the lock, walk-ins, self check-in and its window, completion and hours
//! across programmes, CPD records with term totals, the CSV in Python and LibreOffice, who
//! may do what, the moment a course's last register is recorded, and concurrent saves.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use cpd_hub::db::schema::{course_sessions, courses};
use cpd_hub::domain::roles::Role;
use diesel::prelude::*;
use serde_json::{json, Value};

use crate::booking_support::*;
use crate::both_backends;
use crate::calendar_support::{cal_course, cal_db, cal_publish_new};
use crate::helpers::{as_browser, expect_json, expect_problem, location, page_text, TestApp};

/// A published course led by `leads`, with one 3-hour session per day from 30 days ahead:
/// (course id, session ids in order).
async fn att_course(
    app: &TestApp,
    w: &World,
    title: &str,
    leads: &[&Who],
    sessions: usize,
    adjust: impl FnOnce(&mut Value),
) -> (String, Vec<String>) {
    let list = (0..sessions).map(|i| session_in(30 + i as i64)).collect();
    let mut body = cal_course(&w.fx, title, list);
    body["lead_ids"] = json!(leads.iter().map(|l| l.id.clone()).collect::<Vec<_>>());
    adjust(&mut body);
    let c = cal_publish_new(app, body).await;
    let ids = c["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    (c["id"].as_str().unwrap().to_string(), ids)
}

fn ts(t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc()
}

/// Moves a session to `start` for `minutes` (straight in the database, as time passing
/// would), keeping the course's first start and last end true.
pub(crate) async fn att_move(app: &TestApp, session_id: &str, start: DateTime<Utc>, minutes: i64) {
    let id = session_id.to_string();
    cal_db(app, move |conn| {
        let course: String = course_sessions::table
            .find(&id)
            .select(course_sessions::course_id)
            .first(conn)
            .unwrap();
        diesel::update(course_sessions::table.find(&id))
            .set((
                course_sessions::start_at.eq(ts(start)),
                course_sessions::end_at.eq(ts(start + Duration::minutes(minutes))),
            ))
            .execute(conn)
            .unwrap();
        let times: Vec<(NaiveDateTime, NaiveDateTime)> = course_sessions::table
            .filter(course_sessions::course_id.eq(&course))
            .select((course_sessions::start_at, course_sessions::end_at))
            .load(conn)
            .unwrap();
        diesel::update(courses::table.find(&course))
            .set((
                courses::first_session_start.eq(times.iter().map(|t| t.0).min()),
                courses::last_session_end.eq(times.iter().map(|t| t.1).max()),
            ))
            .execute(conn)
            .unwrap();
    })
    .await
}

fn register_path(session: &str) -> String {
    format!("/api/v1/sessions/{session}/register")
}

async fn att_register(app: &TestApp, session: &str, who: &Who) -> Value {
    expect_json(app.get(&register_path(session), who.t()).await, 200).await
}

async fn att_put(app: &TestApp, session: &str, who: &Who, body: Value) -> reqwest::Response {
    app.request(
        reqwest::Method::PUT,
        &format!("/api/v1/sessions/{session}/attendance"),
        who.t(),
        Some(&body),
    )
    .await
}

async fn att_put_ok(app: &TestApp, session: &str, who: &Who, body: Value) -> Value {
    expect_json(att_put(app, session, who, body).await, 200).await
}

async fn att_history(app: &TestApp, session: &str, who: &Who) -> Value {
    expect_json(
        app.get(
            &format!("/api/v1/sessions/{session}/attendance-history"),
            who.t(),
        )
        .await,
        200,
    )
    .await
}

/// The status of each item of a register, by person name.
fn statuses(register: &Value) -> Vec<(String, Value)> {
    register["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["person"]["name"].as_str().unwrap().to_string(),
                i["status"].clone(),
            )
        })
        .collect()
}

fn booking_of(register: &Value, name: &str) -> String {
    register["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["person"]["name"] == name)
        .unwrap_or_else(|| panic!("{name} is not on the register: {register}"))["booking_id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn admin(app: &TestApp) -> Who {
    Who {
        id: app.admin_id(),
        token: app.admin_token.clone(),
    }
}

async fn session_recorded_at(app: &TestApp, session: &str) -> Option<NaiveDateTime> {
    let id = session.to_string();
    cal_db(app, move |conn| {
        course_sessions::table
            .find(&id)
            .select(course_sessions::register_recorded_at)
            .first(conn)
            .unwrap()
    })
    .await
}

async fn course_recorded_at(app: &TestApp, course: &str) -> Option<NaiveDateTime> {
    let id = course.to_string();
    cal_db(app, move |conn| {
        courses::table
            .find(&id)
            .select(courses::last_register_recorded_at)
            .first(conn)
            .unwrap()
    })
    .await
}

/// A lead, three people of two schools and staff groups booked on a one-session course.
struct Room {
    w: World,
    lead: Who,
    course: String,
    session: String,
    people: Vec<Who>,
}

async fn att_room(app: &TestApp, capacity: i64) -> Room {
    let w = bk_world(app).await;
    let lead = bk_person(app, "Cora Lead", None, None, &[Role::CourseLead]).await;
    let (course, sessions) = att_course(app, &w, "Adaptive teaching", &[&lead], 1, |b| {
        b["capacity"] = json!(capacity)
    })
    .await;
    let teacher = w.fx.group("teacher");
    let senco = w.fx.group("senco");
    let mut people = Vec::new();
    // Booked out of name order, and one name in lower case: the register sorts by name,
    // whatever the case.
    for (name, school, group) in [
        ("Zara Young", &w.school_a, &teacher),
        ("amir Khan", &w.school_b, &senco),
        ("Beth Jones", &w.school_a, &teacher),
    ] {
        let p = bk_person(app, name, Some(school), Some(group), &[]).await;
        bk_book_ok(app, &course, &p).await;
        people.push(p);
    }
    // The session starts in twenty minutes: its register is open (from half an hour before,
    // with check-in) and booking still is (until the start).
    att_move(app, &sessions[0], Utc::now() + Duration::minutes(20), 180).await;
    Room {
        w,
        lead,
        course,
        session: sessions[0].clone(),
        people,
    }
}

both_backends! {
    async fn a_course_lead_takes_a_register(app: TestApp) {
        let r = att_room(&app, 30).await;
        let reg = att_register(&app, &r.session, &r.lead).await;
        // The contract's shape, ordered by name, nothing recorded yet.
        assert_eq!(
            statuses(&reg),
            vec![
                ("amir Khan".to_string(), Value::Null),
                ("Beth Jones".to_string(), Value::Null),
                ("Zara Young".to_string(), Value::Null),
            ]
        );
        let amir = &reg["items"][0];
        assert_eq!(amir["person"]["id"], r.people[1].id.as_str());
        assert_eq!(amir["school"]["id"], r.w.school_b.as_str());
        assert_eq!(amir["school"]["name"], "Penistone St John's Primary");
        assert_eq!(amir["staff_group"]["id"], r.w.fx.group("senco").as_str());
        assert!(amir["staff_group"]["name"].as_str().unwrap().contains("SENCO"), "{amir}");
        assert_eq!(amir["walk_in"], false);
        assert!(amir["booking_id"].is_string());
        let session = &reg["session"];
        assert_eq!(session["id"], r.session.as_str());
        assert_eq!(session["course_id"], r.course.as_str());
        assert_eq!(session["course_title"], "Adaptive teaching");
        assert_eq!(session["locked"], false);
        assert_eq!(session["is_last"], true);
        assert_eq!(session["register_recorded_at"], Value::Null);
        let code = session["check_in_code"].as_str().unwrap().to_string();
        assert_eq!(code.len(), 6);
        assert!(code.bytes().all(|b| b"23456789ABCDEFGHJKMNPQRSTVWXYZ".contains(&b)), "{code}");
        assert_eq!(reg["counts"]["unrecorded"], 3);
        // The code stays the same from one read to the next.
        assert_eq!(att_register(&app, &r.session, &r.lead).await["session"]["check_in_code"], code.as_str());

        // One PUT takes the whole register.
        let (amir_b, beth_b, zara_b) = (booking_of(&reg, "amir Khan"), booking_of(&reg, "Beth Jones"), booking_of(&reg, "Zara Young"));
        let body = json!([
            {"booking_id": amir_b, "status": "present"},
            {"booking_id": beth_b, "status": "late", "note": "Train delayed"},
            {"booking_id": zara_b, "status": "apologies"},
        ]);
        let after = att_put_ok(&app, &r.session, &r.lead, body.clone()).await;
        assert_eq!(
            statuses(&after),
            vec![
                ("amir Khan".to_string(), json!("present")),
                ("Beth Jones".to_string(), json!("late")),
                ("Zara Young".to_string(), json!("apologies")),
            ]
        );
        assert_eq!(after["items"][1]["note"], "Train delayed");
        assert_eq!(after["items"][1]["source"], "register");
        assert!(after["items"][1]["recorded_at"].is_string());
        assert_eq!((after["counts"]["present"].as_i64(), after["counts"]["late"].as_i64(), after["counts"]["apologies"].as_i64(), after["counts"]["unrecorded"].as_i64()), (Some(1), Some(1), Some(1), Some(0)));
        let recorded = after["session"]["register_recorded_at"].clone();
        assert!(recorded.is_string());
        let history = att_history(&app, &r.session, &r.lead).await;
        assert_eq!(history["total"], 3);
        let h = &history["items"][0];
        assert_eq!((h["from"].clone(), h["source"].clone(), h["admin_override"].clone()), (Value::Null, json!("register"), json!(false)));
        assert_eq!(h["actor"]["id"], r.lead.id.as_str());
        assert_eq!(h["actor"]["name"], "Cora Lead");

        // The same body again changes nothing and writes no history.
        let again = att_put_ok(&app, &r.session, &r.lead, body).await;
        assert_eq!(statuses(&again), statuses(&after));
        assert_eq!(again["session"]["register_recorded_at"], recorded);
        assert_eq!(att_history(&app, &r.session, &r.lead).await["total"], 3);

        // A change to one person is one history row; leaving the note out keeps it, an
        // empty note clears it; the object form of the body works too.
        att_put_ok(&app, &r.session, &r.lead, json!({"items": [{"booking_id": beth_b, "status": "left_early"}]})).await;
        let h = att_history(&app, &r.session, &r.lead).await;
        assert_eq!(h["total"], 4);
        assert_eq!((h["items"][3]["from"].clone(), h["items"][3]["to"].clone(), h["items"][3]["note"].clone()), (json!("late"), json!("left_early"), json!("Train delayed")));
        assert_eq!(h["items"][3]["person"]["name"], "Beth Jones");
        let cleared = att_put_ok(&app, &r.session, &r.lead, json!([{"booking_id": beth_b, "status": "left_early", "note": ""}])).await;
        assert_eq!(cleared["items"][1]["note"], Value::Null);
        assert_eq!(att_history(&app, &r.session, &r.lead).await["total"], 5);

        // The admin sees the same register; the data export of the person shows their mark.
        let as_admin = att_register(&app, &r.session, &admin(&app)).await;
        assert_eq!(statuses(&as_admin), statuses(&cleared));
        let export = app.admin_get(&format!("/api/v1/people/{}/export", r.people[2].id)).await;
        assert_eq!(export["attendance"][0]["status"], "left_early");
        assert_eq!(export["attendance"][0]["session_id"], r.session.as_str());

        // A session with attendance is not deleted.
        let p = expect_problem(app.delete(&format!("/api/v1/sessions/{}", r.session), Some(&app.admin_token)).await, 409, None).await;
        assert_eq!(p["code"], "session_has_attendance");
    }
}

both_backends! {
    async fn bad_entries_are_named_and_nothing_is_written(app: TestApp) {
        let r = att_room(&app, 3).await;
        let reg = att_register(&app, &r.session, &r.lead).await;
        let good = booking_of(&reg, "amir Khan");
        // A booking on another course, and one on the waiting list of this course.
        let (other_course, _) = att_course(&app, &r.w, "Another course", &[&r.lead], 1, |_| {}).await;
        let elsewhere = bk_book_ok(&app, &other_course, &r.people[0]).await["id"].as_str().unwrap().to_string();
        let late_comer = bk_person(&app, "Wendy Wait", Some(&r.w.school_a), None, &[]).await;
        let waiting = bk_book_ok(&app, &r.course, &late_comer).await;
        assert_eq!(waiting["status"], "waitlisted");
        let waiting = waiting["id"].as_str().unwrap().to_string();
        let body = json!([
            {"booking_id": good, "status": "present"},
            {"booking_id": elsewhere, "status": "present"},
            {"booking_id": waiting, "status": "present"},
            {"booking_id": booking_of(&reg, "Zara Young"), "status": "here"},
            {"booking_id": good, "status": "absent"},
            {"booking_id": "no-such-booking", "status": "present"},
        ]);
        let p = expect_problem(att_put(&app, &r.session, &r.lead, body).await, 422, Some("items[1].booking_id")).await;
        let errors = p["errors"].as_object().unwrap();
        let mut keys: Vec<&str> = errors.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["items[1].booking_id", "items[2].booking_id", "items[3].status", "items[4].booking_id", "items[5].booking_id"]);
        assert!(errors["items[1].booking_id"][0].as_str().unwrap().contains("another course"), "{p}");
        assert!(errors["items[2].booking_id"][0].as_str().unwrap().contains("waitlisted"), "{p}");
        assert!(errors["items[3].status"][0].as_str().unwrap().contains("left_early"), "{p}");
        assert!(errors["items[4].booking_id"][0].as_str().unwrap().contains("more than once"), "{p}");
        // Nothing was written: not even the good entry.
        let reg = att_register(&app, &r.session, &r.lead).await;
        assert!(statuses(&reg).iter().all(|(_, s)| s.is_null()), "{reg}");
        assert_eq!(att_history(&app, &r.session, &r.lead).await["total"], 0);
        assert_eq!(session_recorded_at(&app, &r.session).await, None);
        assert_eq!(bk_count(&app, "SELECT COUNT(*) AS n FROM attendance").await, 0);

        // A missing status, a wrong type and a note too long are named too; a body that is
        // not JSON is 415.
        expect_problem(att_put(&app, &r.session, &r.lead, json!([{"booking_id": good}])).await, 422, Some("items[0].status")).await;
        expect_problem(att_put(&app, &r.session, &r.lead, json!([{"booking_id": good, "status": 3}])).await, 422, Some("items[0].status")).await;
        expect_problem(att_put(&app, &r.session, &r.lead, json!([{"booking_id": good, "status": "present", "note": "x".repeat(1001)}])).await, 422, Some("items[0].note")).await;
        expect_problem(app.send_body(reqwest::Method::PUT, &format!("/api/v1/sessions/{}/attendance", r.session), r.lead.t(), "text/plain", "present").await, 415, None).await;
        assert_eq!(bk_count(&app, "SELECT COUNT(*) AS n FROM attendance").await, 0);
        // An empty list is nothing to do.
        let reg = att_put_ok(&app, &r.session, &r.lead, json!([])).await;
        assert_eq!(reg["session"]["register_recorded_at"], Value::Null);
    }
}

both_backends! {
    async fn registers_lock_after_the_lock_days(app: TestApp) {
        let r = att_room(&app, 30).await;
        let lead = r.lead.clone();
        let reg = att_register(&app, &r.session, &lead).await;
        let amir = booking_of(&reg, "amir Khan");
        // Ended 13 days ago: still open to its lead.
        att_move(&app, &r.session, Utc::now() - Duration::days(13) - Duration::hours(3), 180).await;
        let reg = att_put_ok(&app, &r.session, &lead, json!([{"booking_id": amir, "status": "absent"}])).await;
        assert_eq!(reg["session"]["locked"], false);
        // Ended 15 days ago (default REGISTER_LOCK_DAYS 14): locked for its lead.
        att_move(&app, &r.session, Utc::now() - Duration::days(15) - Duration::hours(3), 180).await;
        let reg = att_register(&app, &r.session, &lead).await;
        assert_eq!(reg["session"]["locked"], true);
        let p = expect_problem(att_put(&app, &r.session, &lead, json!([{"booking_id": amir, "status": "present"}])).await, 409, None).await;
        assert_eq!(p["code"], "register_locked");
        assert!(p["detail"].as_str().unwrap().contains("only an admin"), "{p}");
        // Walk-ins are locked for leads too.
        let p = expect_problem(app.post(&format!("/api/v1/sessions/{}/walk-ins", r.session), lead.t(), &json!({"person_id": r.w.lead_a.id})).await, 409, None).await;
        assert_eq!(p["code"], "register_locked");
        assert_eq!(statuses(&att_register(&app, &r.session, &lead).await)[0].1, "absent");

        // An admin may still change it: the change is flagged in the history and audited.
        let a = admin(&app);
        let reg = att_put_ok(&app, &r.session, &a, json!([{"booking_id": amir, "status": "present", "note": "Signed the paper sheet"}])).await;
        assert_eq!(statuses(&reg)[0].1, "present");
        let h = att_history(&app, &r.session, &lead).await;
        assert_eq!(h["total"], 2);
        assert_eq!((h["items"][0]["admin_override"].clone(), h["items"][1]["admin_override"].clone()), (json!(false), json!(true)));
        assert_eq!((h["items"][1]["from"].clone(), h["items"][1]["to"].clone()), (json!("absent"), json!("present")));
        assert_eq!(h["items"][1]["actor"]["id"], a.id.as_str());
        let audit = app.admin_get(&format!("/api/v1/admin/audit?action=attendance.override&subject_id={}", r.session)).await;
        assert_eq!(audit["total"], 1);
        assert_eq!(audit["items"][0]["detail"]["changes"][0]["booking_id"], amir.as_str());
        assert_eq!(audit["items"][0]["detail"]["changes"][0]["to"], "present");

        // A shorter lock, from the setting.
        let short = crate::helpers::spawn_app_with(app.backend, |s| s.attendance.lock_days = 1).await.unwrap();
        let r2 = att_room(&short, 30).await;
        let reg = att_register(&short, &r2.session, &r2.lead).await;
        att_move(&short, &r2.session, Utc::now() - Duration::days(2), 60).await;
        let p = expect_problem(att_put(&short, &r2.session, &r2.lead, json!([{"booking_id": booking_of(&reg, "Beth Jones"), "status": "present"}])).await, 409, None).await;
        assert_eq!(p["code"], "register_locked");
    }
}

both_backends! {
    async fn walk_ins_get_a_place_even_on_a_full_course(app: TestApp) {
        let r = att_room(&app, 3).await;
        let lead = r.lead.clone();
        // The course is full and its session started an hour ago.
        att_move(&app, &r.session, Utc::now() - Duration::hours(1), 180).await;
        let c = bk_course_get(&app, &r.course).await;
        assert_eq!((c["capacity"].as_i64(), c["places_left"].as_i64()), (Some(3), Some(0)));
        let path = format!("/api/v1/sessions/{}/walk-ins", r.session);

        // Someone not on record: created, booked as a walk-in and marked present.
        let body = json!({"name": "Nia Newcomer", "email": "Nia.Newcomer@school.test", "school_id": r.w.school_a, "staff_group_id": r.w.fx.group("teacher")});
        let walk = expect_json(app.post(&path, lead.t(), &body).await, 201).await;
        assert_eq!((walk["booked"].as_bool(), walk["person_created"].as_bool()), (Some(true), Some(true)));
        let booking = &walk["booking"];
        assert_eq!((booking["status"].as_str(), booking["walk_in"].as_bool(), booking["admin_override"].as_bool()), (Some("confirmed"), Some(true), Some(true)));
        assert_eq!(booking["school_id"], r.w.school_a.as_str());
        let nia = walk["register"]["items"].as_array().unwrap().iter().find(|i| i["person"]["name"] == "Nia Newcomer").unwrap().clone();
        assert_eq!((nia["status"].as_str(), nia["source"].as_str(), nia["walk_in"].as_bool()), (Some("present"), Some("walk_in"), Some(true)));
        let c = bk_course_get(&app, &r.course).await;
        assert_eq!((c["capacity"].as_i64(), c["places_left"].as_i64()), (Some(4), Some(0)));
        let detail = bk_get(&app, booking["id"].as_str().unwrap()).await;
        assert_eq!(detail["history"][0]["reason"], "walk-in");
        assert_eq!(detail["history"][0]["actor_id"], lead.id.as_str());
        assert!(detail["history"][0]["note"].as_str().unwrap().starts_with("walk-in"), "{detail}");

        // The same email again finds the same person, already booked: just present (200).
        let again = expect_json(app.post(&path, lead.t(), &json!({"name": "N. Newcomer", "email": "nia.newcomer@school.test"})).await, 200).await;
        assert_eq!((again["booked"].as_bool(), again["person_created"].as_bool()), (Some(false), Some(false)));
        assert_eq!(again["booking"]["id"], booking["id"]);

        // Someone on record, by id.
        let walk = expect_json(app.post(&path, lead.t(), &json!({"person_id": r.w.lead_b.id})).await, 201).await;
        assert_eq!(walk["register"]["counts"]["total"], 5);
        assert_eq!(walk["register"]["counts"]["present"], 2);
        let c = bk_course_get(&app, &r.course).await;
        assert_eq!((c["capacity"].as_i64(), c["places_left"].as_i64()), (Some(5), Some(0)));
        // A booked person already marked absent is corrected to present by a walk-in.
        let zara = booking_of(&walk["register"], "Zara Young");
        att_put_ok(&app, &r.session, &lead, json!([{"booking_id": zara, "status": "absent"}])).await;
        let w2 = expect_json(app.post(&path, lead.t(), &json!({"person_id": r.people[0].id})).await, 200).await;
        assert_eq!(statuses(&w2["register"]).iter().find(|(n, _)| n == "Zara Young").unwrap().1, "present");

        // Bad input is named; someone waiting for a place is for their school lead to settle.
        expect_problem(app.post(&path, lead.t(), &json!({"name": "No Email"})).await, 422, Some("email")).await;
        expect_problem(app.post(&path, lead.t(), &json!({"name": "Bad", "email": "not-an-email"})).await, 422, Some("email")).await;
        expect_problem(app.post(&path, lead.t(), &json!({"name": "Z", "email": "z@school.test", "school_id": "nope"})).await, 422, Some("school_id")).await;
        expect_problem(app.post(&path, lead.t(), &json!({"person_id": "nope"})).await, 422, Some("person_id")).await;
        expect_problem(app.post(&path, lead.t(), &json!({})).await, 422, Some("person_id")).await;
        let (future_course, future_sessions) = att_course(&app, &r.w, "Later", &[&lead], 1, |b| b["capacity"] = json!(1)).await;
        let first = bk_person(&app, "First In", Some(&r.w.school_a), None, &[]).await;
        bk_book_ok(&app, &future_course, &first).await;
        let waiting = bk_person(&app, "Will Wait", Some(&r.w.school_a), None, &[]).await;
        assert_eq!(bk_book_ok(&app, &future_course, &waiting).await["status"], "waitlisted");
        att_move(&app, &future_sessions[0], Utc::now() - Duration::minutes(10), 120).await;
        let p = expect_problem(app.post(&format!("/api/v1/sessions/{}/walk-ins", future_sessions[0]), lead.t(), &json!({"person_id": waiting.id})).await, 409, None).await;
        assert_eq!(p["code"], "already_booked");
        // Staff cannot add walk-ins (404: they may not see the register).
        expect_problem(app.post(&path, r.people[0].t(), &json!({"person_id": r.w.lead_a.id})).await, 404, None).await;
        bk_check_invariants(&app, &[]).await;
    }
}

both_backends! {
    async fn check_in_works_inside_its_window_only(app: TestApp) {
        let r = att_room(&app, 30).await;
        let code = att_register(&app, &r.session, &r.lead).await["session"]["check_in_code"].as_str().unwrap().to_string();
        let path = format!("/api/v1/sessions/{}/check-in", r.session);
        let (zara, amir, beth) = (&r.people[0], &r.people[1], &r.people[2]);

        // Before the window (it opens 30 minutes before the start): refused, saying when.
        att_move(&app, &r.session, Utc::now() + Duration::minutes(45), 120).await;
        let p = expect_problem(app.post(&path, zara.t(), &json!({"code": code})).await, 409, None).await;
        assert_eq!(p["code"], "check_in_closed");
        assert!(p["detail"].as_str().unwrap().contains("opens at"), "{p}");

        // Inside the window, within the grace: present. Typed in lower case with a space.
        att_move(&app, &r.session, Utc::now() - Duration::minutes(5), 120).await;
        let typed = format!("{} {}", &code[..3].to_lowercase(), &code[3..]);
        let done = expect_json(app.post(&path, zara.t(), &json!({"code": typed})).await, 200).await;
        assert_eq!((done["status"].as_str(), done["recorded"].as_bool()), (Some("present"), Some(true)));
        assert_eq!(done["course_title"], "Adaptive teaching");
        // Again: nothing changes.
        let again = expect_json(app.post(&path, zara.t(), &json!({"code": code})).await, 200).await;
        assert_eq!((again["status"].as_str(), again["recorded"].as_bool()), (Some("present"), Some(false)));

        // After the grace (10 minutes): late. The code alone finds the session.
        att_move(&app, &r.session, Utc::now() - Duration::minutes(25), 120).await;
        let done = expect_json(app.post("/api/v1/check-in", amir.t(), &json!({"code": code})).await, 200).await;
        assert_eq!((done["status"].as_str(), done["session_id"].as_str()), (Some("late"), Some(r.session.as_str())));

        // A lead's mark is not overwritten.
        let reg = att_register(&app, &r.session, &r.lead).await;
        att_put_ok(&app, &r.session, &r.lead, json!([{"booking_id": booking_of(&reg, "Beth Jones"), "status": "apologies"}])).await;
        let kept = expect_json(app.post(&path, beth.t(), &json!({"code": code})).await, 200).await;
        assert_eq!((kept["status"].as_str(), kept["recorded"].as_bool()), (Some("apologies"), Some(false)));

        let reg = att_register(&app, &r.session, &r.lead).await;
        assert_eq!(statuses(&reg), vec![("amir Khan".into(), json!("late")), ("Beth Jones".into(), json!("apologies")), ("Zara Young".into(), json!("present"))]);
        assert_eq!(reg["items"][0]["source"], "check_in");
        let h = att_history(&app, &r.session, &r.lead).await;
        assert_eq!(h["total"], 3);
        assert_eq!(h["items"][0]["actor"]["id"], zara.id.as_str());
        assert_eq!(h["items"][0]["source"], "check_in");

        // Wrong codes are 422 on `code`; someone without a place is told so.
        expect_problem(app.post(&path, zara.t(), &json!({"code": "ZZZZZZ"})).await, 422, Some("code")).await;
        expect_problem(app.post(&path, zara.t(), &json!({"code": "0O1IL"})).await, 422, Some("code")).await;
        expect_problem(app.post("/api/v1/check-in", zara.t(), &json!({"code": "ZZZZZZ"})).await, 422, Some("code")).await;
        expect_problem(app.post(&path, zara.t(), &json!({})).await, 422, Some("code")).await;
        let stranger = bk_person(&app, "Stan Stranger", Some(&r.w.school_b), None, &[]).await;
        let p = expect_problem(app.post(&path, stranger.t(), &json!({"code": code})).await, 409, None).await;
        assert_eq!(p["code"], "not_booked");
        assert!(p["detail"].as_str().unwrap().contains("walk-in"), "{p}");
        expect_problem(app.post(&path, None, &json!({"code": code})).await, 401, None).await;
        expect_problem(app.post("/api/v1/sessions/no-such-session/check-in", zara.t(), &json!({"code": code})).await, 404, None).await;

        // After the end: refused.
        att_move(&app, &r.session, Utc::now() - Duration::minutes(130), 120).await;
        let p = expect_problem(app.post(&path, stranger.t(), &json!({"code": code})).await, 409, None).await;
        assert_eq!(p["code"], "check_in_closed");
        assert!(p["detail"].as_str().unwrap().contains("closed at"), "{p}");
    }
}

/// Marks `statuses` (one per session, None: nothing) for `who`'s booking.
async fn mark_all(
    app: &TestApp,
    lead: &Who,
    sessions: &[String],
    booking: &str,
    marks: &[Option<&str>],
) {
    for (s, m) in sessions.iter().zip(marks) {
        if let Some(status) = m {
            att_put_ok(
                app,
                s,
                lead,
                json!([{"booking_id": booking, "status": status}]),
            )
            .await;
        }
    }
}

fn course_in<'a>(record: &'a Value, course: &str) -> &'a Value {
    record["courses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["course_id"] == course)
        .unwrap_or_else(|| panic!("course not in the record: {record}"))
}

both_backends! {
    async fn completion_and_hours_across_programmes(app: TestApp) {
        let w = bk_world(&app).await;
        let lead = bk_person(&app, "Cora Lead", None, None, &[Role::CourseLead]).await;
        let (at_least_two, s2) = att_course(&app, &w, "Middle leaders programme", &[&lead], 3, |b| b["completion_min_sessions"] = json!(2)).await;
        let (every, s3) = att_course(&app, &w, "Early career programme", &[&lead], 3, |_| {}).await;
        let names = ["Ann Able", "Bob Bright", "Cat Cole"];
        let mut people = Vec::new();
        for n in names {
            let p = bk_person(&app, n, Some(&w.school_a), None, &[]).await;
            let b2 = bk_book_ok(&app, &at_least_two, &p).await["id"].as_str().unwrap().to_string();
            let b3 = bk_book_ok(&app, &every, &p).await["id"].as_str().unwrap().to_string();
            people.push((p, b2, b3));
        }
        // Three sessions in the past (3 h, 2 h, 1 h 30), on both courses.
        let base = Utc::now() - Duration::days(10);
        for sessions in [&s2, &s3] {
            att_move(&app, &sessions[0], base, 180).await;
            att_move(&app, &sessions[1], base + Duration::days(2), 120).await;
            att_move(&app, &sessions[2], base + Duration::days(4), 90).await;
        }
        let plans: [[Option<&str>; 3]; 3] = [
            [Some("present"), Some("late"), Some("left_early")],
            [Some("present"), Some("apologies"), Some("left_early")],
            [Some("present"), Some("absent"), None],
        ];
        for ((_, b2, b3), plan) in people.iter().zip(&plans) {
            mark_all(&app, &lead, &s2, b2, plan).await;
            mark_all(&app, &lead, &s3, b3, plan).await;
        }
        // (complete at least 2, complete every, sessions attended, minutes, hours)
        let want = [(true, true, 3, 390, 6.5), (true, false, 2, 270, 4.5), (false, false, 1, 180, 3.0)];
        for ((p, _, _), (two, all, attended, minutes, hours)) in people.iter().zip(want) {
            let record = expect_json(app.get(&format!("/api/v1/people/{}/cpd-record", p.id), p.t()).await, 200).await;
            for (course, complete, rule) in [(&at_least_two, two, json!(2)), (&every, all, Value::Null)] {
                let c = course_in(&record, course);
                assert_eq!(c["complete"], complete, "{}: {c}", p.id);
                assert_eq!(c["completion_min_sessions"], rule);
                assert_eq!((c["sessions_total"].as_i64(), c["sessions_held"].as_i64(), c["sessions_attended"].as_i64()), (Some(3), Some(3), Some(attended)));
                assert_eq!(c["minutes_attended"], minutes);
                assert_eq!(c["hours_attended"].as_f64(), Some(hours));
                assert_eq!(c["finished"], true);
            }
            assert_eq!(record["totals"]["minutes_attended"], 2 * minutes);
            assert_eq!(record["totals"]["courses"], 2);
            assert_eq!(record["totals"]["courses_completed"], two as i64 + all as i64);
        }
        let ann = expect_json(app.get(&format!("/api/v1/people/{}/cpd-record", people[0].0.id), people[0].0.t()).await, 200).await;
        let c = course_in(&ann, &every);
        let by_session: Vec<(Value, Value, Value)> = c["sessions"].as_array().unwrap().iter().map(|s| (s["status"].clone(), s["minutes"].clone(), s["held"].clone())).collect();
        assert_eq!(by_session, vec![(json!("present"), json!(180), json!(true)), (json!("late"), json!(120), json!(true)), (json!("left_early"), json!(90), json!(true))]);

        // While the last session is still ahead, the default rule counts the held ones, and
        // a mark made in advance counts for nothing yet.
        att_move(&app, &s3[2], Utc::now() + Duration::days(1), 90).await;
        let record = expect_json(app.get(&format!("/api/v1/people/{}/cpd-record", people[1].0.id), people[1].0.t()).await, 200).await;
        let c = course_in(&record, &every);
        assert_eq!((c["sessions_held"].as_i64(), c["sessions_attended"].as_i64(), c["minutes_attended"].as_i64()), (Some(2), Some(1), Some(180)));
        assert_eq!((c["complete"].as_bool(), c["finished"].as_bool()), (Some(false), Some(false)));
        let record = expect_json(app.get(&format!("/api/v1/people/{}/cpd-record", people[0].0.id), people[0].0.t()).await, 200).await;
        let c = course_in(&record, &every);
        assert_eq!((c["sessions_held"].as_i64(), c["sessions_attended"].as_i64(), c["hours_attended"].as_f64()), (Some(2), Some(2), Some(5.0)));
        assert_eq!((c["complete"].as_bool(), c["finished"].as_bool()), (Some(true), Some(false)));
    }
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

both_backends! {
    async fn cpd_records_total_by_term_and_year_for_whom_may_see_them(app: TestApp) {
        let w = bk_world(&app).await;
        let lead = bk_person(&app, "Cora Lead", None, None, &[Role::CourseLead]).await;
        let (a, sa) = att_course(&app, &w, "Phonics across the year", &[&lead], 2, |_| {}).await;
        let (b, sb) = att_course(&app, &w, "Summer maths", &[&lead], 1, |_| {}).await;
        let (c, sc) = att_course(&app, &w, "Next term", &[&lead], 1, |_| {}).await;
        let me = bk_person(&app, "Tia Teacher", Some(&w.school_a), None, &[]).await;
        let mut bookings = Vec::new();
        for course in [&a, &b, &c] {
            bookings.push(bk_book_ok(&app, course, &me).await["id"].as_str().unwrap().to_string());
        }
        // Autumn 2025 (2 h) and spring 2026 (1 h 45); summer 2025 of the year before (3 h);
        // one session not held yet.
        att_move(&app, &sa[0], at("2025-10-08T13:00:00Z"), 120).await;
        att_move(&app, &sa[1], at("2026-02-04T13:00:00Z"), 105).await;
        att_move(&app, &sb[0], at("2025-07-01T08:30:00Z"), 180).await;
        att_move(&app, &sc[0], Utc::now() + Duration::days(3), 60).await;
        let a_dmin = admin(&app);
        mark_all(&app, &a_dmin, &sa, &bookings[0], &[Some("present"), Some("late")]).await;
        mark_all(&app, &a_dmin, &sb, &bookings[1], &[Some("present")]).await;
        let path = format!("/api/v1/people/{}/cpd-record", me.id);
        let record = expect_json(app.get(&path, me.t()).await, 200).await;
        assert_eq!(record["person"]["name"], "Tia Teacher");
        assert_eq!(record["school"]["id"], w.school_a.as_str());
        // Newest first.
        let titles: Vec<&str> = record["courses"].as_array().unwrap().iter().map(|c| c["title"].as_str().unwrap()).collect();
        assert_eq!(titles, ["Next term", "Phonics across the year", "Summer maths"]);
        assert_eq!(course_in(&record, &a)["term"]["key"], "2025-26-autumn");
        let terms: Vec<(String, i64, i64, f64, i64)> = record["terms"].as_array().unwrap().iter().map(|t| (
            t["key"].as_str().unwrap().to_string(), t["sessions_attended"].as_i64().unwrap(), t["minutes_attended"].as_i64().unwrap(), t["hours_attended"].as_f64().unwrap(), t["courses_completed"].as_i64().unwrap(),
        )).collect();
        assert_eq!(terms, vec![
            ("2024-25-summer".to_string(), 1, 180, 3.0, 1),
            ("2025-26-autumn".to_string(), 1, 120, 2.0, 0),
            ("2025-26-spring".to_string(), 1, 105, 1.75, 1),
        ]);
        assert_eq!(record["terms"][1]["label"], "Autumn 2025/26");
        let years: Vec<(String, String, i64, i64, i64)> = record["academic_years"].as_array().unwrap().iter().map(|t| (
            t["key"].as_str().unwrap().to_string(), t["label"].as_str().unwrap().to_string(), t["courses"].as_i64().unwrap(), t["minutes_attended"].as_i64().unwrap(), t["courses_completed"].as_i64().unwrap(),
        )).collect();
        assert_eq!(years, vec![
            ("2024-25".to_string(), "2024/25".to_string(), 1, 180, 1),
            ("2025-26".to_string(), "2025/26".to_string(), 1, 225, 1),
        ]);
        assert_eq!((record["totals"]["courses"].as_i64(), record["totals"]["courses_completed"].as_i64(), record["totals"]["sessions_attended"].as_i64(), record["totals"]["hours_attended"].as_f64()), (Some(3), Some(2), Some(3), Some(6.75)));
        let next = course_in(&record, &c);
        assert_eq!((next["sessions_held"].as_i64(), next["complete"].as_bool()), (Some(0), Some(false)));

        // Who may see it: the person, their school's lead, admins; 404 for everyone else.
        let colleague = bk_person(&app, "Col League", Some(&w.school_a), None, &[]).await;
        let group = bk_person(&app, "Grace Group", Some(&w.school_b), None, &[Role::CpdGroup]).await;
        for (who, status) in [(&w.lead_a, 200), (&a_dmin, 200), (&w.lead_b, 404), (&colleague, 404), (&group, 404), (&lead, 404)] {
            let r = app.get(&path, who.t()).await;
            assert_eq!(r.status().as_u16(), status, "{}", who.id);
        }
        expect_problem(app.get(&path, None).await, 401, None).await;
        expect_problem(app.get("/api/v1/people/nobody/cpd-record", a_dmin.t()).await, 404, None).await;

        // The same record on Tia's page: the totals, each course's hours and where it stands,
        // the term and year rows newest first, and the certificate of a completed course.
        let cookie = crate::browser::web_session_cookie(&app, &me.id).await;
        let html = page_text(&app, "/my/record", Some(&cookie)).await;
        assert!(html.contains("href=\"/my/record?view=print\""), "{html}");
        let text = crate::helpers::visible_text(&html);
        for words in [
            "6.75 hours attended", "3 sessions attended", "3 courses", "2 completed",
            "Summer 2024/25 1 of 1 held 3 hours Complete",
            "0 of 0 held (1 in all) 0 hours In progress",
            "Autumn 2025/26 1 0 1 2 hours", "2025/26 1 1 2 3.75 hours",
        ] {
            assert!(text.contains(words), "{words:?} in {text}");
        }
        // The term rows come after the courses (whose terms are named too), newest first.
        assert!(text.find("Spring 2025/26").unwrap() < text.rfind("Autumn 2025/26").unwrap(), "{text}");
        assert!(html.contains(&format!("href=\"/certificates/{}\"", bookings[1])), "{html}");
        assert!(!html.contains(&format!("href=\"/certificates/{}\"", bookings[2])), "{html}");
        let print = crate::helpers::visible_text(&page_text(&app, "/my/record?view=print", Some(&cookie)).await);
        assert!(print.contains("CPD record: Tia Teacher"), "{print}");
        assert!(print.contains("6.75 hours attended"), "{print}");
        // Tia's bookings page: the courses done, each complete one with its certificate; the
        // one to come with its cancel form.
        let mine = page_text(&app, "/my/bookings", Some(&cookie)).await;
        let past = &mine[mine.find("id=\"past\"").expect("courses done")..];
        let upcoming = &mine[mine.find("id=\"upcoming\"").expect("courses to come")..mine.find("id=\"past\"").unwrap()];
        for done in [&bookings[0], &bookings[1]] {
            assert!(past.contains(&format!("href=\"/certificates/{done}\"")), "{past}");
        }
        assert!(upcoming.contains(&format!("action=\"/my/bookings/{}/cancel\"", bookings[2])), "{upcoming}");
        assert!(!mine.contains(&format!("href=\"/certificates/{}\"", bookings[2])), "{mine}");
        // Signed out, the page sends people to sign in and back.
        let r = as_browser(&app, reqwest::Method::GET, "/my/record", None).send().await.unwrap();
        assert_eq!((r.status().as_u16(), location(&r)), (303, "/?next=%2Fmy%2Frecord".to_string()));
    }
}

/// Runs a command, panicking with its output when it fails.
fn run_cmd(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Reads a CSV file with Python's csv module (BOM dropped): its rows.
fn python_rows(path: &std::path::Path) -> Vec<Vec<String>> {
    let script = "import csv, json, sys\n\
                  with open(sys.argv[1], newline='', encoding='utf-8-sig') as f:\n\
                  \x20   print(json.dumps(list(csv.reader(f))))";
    let python = crate::tools::python("attendance::python_rows").expect("checked by the test");
    let out = run_cmd(
        std::process::Command::new(python)
            .arg("-c")
            .arg(script)
            .arg(path),
    );
    serde_json::from_str(&out).unwrap()
}

both_backends! {
    async fn the_csv_register_opens_in_python_and_libreoffice(app: TestApp) {
        if crate::tools::python("attendance::the_csv_register_opens_in_python_and_libreoffice").is_none() {
            return;
        }
        let w = bk_world(&app).await;
        let lead = bk_person(&app, "Cora Lead", None, None, &[Role::CourseLead]).await;
        let (course, sessions) = att_course(&app, &w, "Phonics, early reading & \"spelling\"", &[&lead], 1, |_| {}).await;
        let school = bk_school(&app, "St Mary's, Barnsley", "primary").await;
        let people = [("Zoë Ødegård", Some("Needed a hearing loop, \"front row\"")), ("=HYPERLINK(\"x\")", None), ("Siân O'Neil", None)];
        for (name, _) in &people {
            let p = bk_person(&app, name, Some(&school), Some(&w.fx.group("teacher")), &[]).await;
            bk_book_ok(&app, &course, &p).await;
        }
        // Taken while the session is on (a register opens with check-in)...
        att_move(&app, &sessions[0], Utc::now() - Duration::hours(1), 180).await;
        let reg = att_register(&app, &sessions[0], &lead).await;
        att_put_ok(&app, &sessions[0], &lead, json!([
            {"booking_id": booking_of(&reg, "Zoë Ødegård"), "status": "left_early", "note": people[0].1},
            {"booking_id": booking_of(&reg, "Siân O'Neil"), "status": "present"},
        ])).await;
        // ...and read for a session at 09:00 in London in summer time (08:00 UTC).
        att_move(&app, &sessions[0], at("2027-06-14T08:00:00Z"), 180).await;

        let r = app.get(&format!("/api/v1/sessions/{}/register.csv", sessions[0]), lead.t()).await;
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
        let disposition = r.headers()["content-disposition"].to_str().unwrap().to_string();
        assert!(disposition.starts_with("attachment; filename=\"register-phonics-early-reading-spelling-2027-06-14.csv"), "{disposition}");
        let bytes = r.bytes().await.unwrap().to_vec();
        assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "no byte-order mark");
        let text = std::str::from_utf8(&bytes[3..]).unwrap();
        assert_eq!(text.matches("\r\n").count(), 4, "CRLF after the header and each row: {text:?}");
        assert!(!text.replace("\r\n", "").contains('\n'), "a bare line feed: {text:?}");
        // The same through `Accept: text/csv` on the JSON route.
        let same = app.client.get(format!("{}{}", app.address, register_path(&sessions[0]))).bearer_auth(&lead.token).header("accept", "text/csv").send().await.unwrap();
        assert_eq!(same.bytes().await.unwrap().to_vec(), bytes);

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("register.csv");
        std::fs::write(&file, &bytes).unwrap();
        let header = ["Name", "School", "Staff group", "Status", "Note", "Session start", "Course"];
        let title = "Phonics, early reading & \"spelling\"";
        let teacher = bk_text(&app, "SELECT name AS t FROM staff_groups WHERE key = 'teacher'").await;
        let expected = |start: &str| vec![
            header.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            vec!["'=HYPERLINK(\"x\")".into(), "St Mary's, Barnsley".into(), teacher.clone(), "".into(), "".into(), start.into(), title.into()],
            vec!["Siân O'Neil".into(), "St Mary's, Barnsley".into(), teacher.clone(), "Present".into(), "".into(), start.into(), title.into()],
            vec!["Zoë Ødegård".into(), "St Mary's, Barnsley".into(), teacher.clone(), "Left early".into(), "Needed a hearing loop, \"front row\"".into(), start.into(), title.into()],
        ];
        let got = python_rows(&file);
        assert_eq!(got, expected("2027-06-14 09:00"));

        if !crate::tools::libreoffice("attendance::the_csv_register_opens_in_python_and_libreoffice (LibreOffice part)") {
            return;
        }
        // LibreOffice: CSV (UTF-8, as Excel reads a file with a BOM) to xlsx, and back to CSV.
        let profile = format!("-env:UserInstallation=file://{}", dir.path().join("lo-profile").display());
        let out = dir.path().join("out");
        let (f, p, o) = (file.clone(), profile.clone(), out.clone());
        tokio::task::spawn_blocking(move || {
            let os = |s: &'static str| std::ffi::OsStr::new(s);
            let back = o.join("back");
            let xlsx = o.join("register.xlsx");
            crate::tools::soffice(&[os("--headless"), p.as_ref(), os("--infilter=CSV:44,34,76,1,,1033,false,true"), os("--convert-to"), os("xlsx"), os("--outdir"), o.as_os_str(), f.as_os_str()], &xlsx);
            crate::tools::soffice(&[os("--headless"), p.as_ref(), os("--convert-to"), os("csv:Text - txt - csv (StarCalc):44,34,76,1"), os("--outdir"), back.as_os_str(), xlsx.as_os_str()], &back.join("register.csv"));
        }).await.unwrap();
        assert!(out.join("register.xlsx").metadata().unwrap().len() > 1000);
        // The session start came through as a date and time, not as text.
        let back = python_rows(&out.join("back").join("register.csv"));
        assert_eq!(back, expected("2027-06-14 09:00:00"));
    }
}

both_backends! {
    async fn who_may_use_registers_and_check_in(app: TestApp) {
        let r = att_room(&app, 30).await;
        let other_course_lead = bk_person(&app, "Otto Other", None, None, &[Role::CourseLead]).await;
        att_course(&app, &r.w, "Otto's course", &[&other_course_lead], 1, |_| {}).await;
        let group = bk_person(&app, "Grace Group", Some(&r.w.school_a), None, &[Role::CpdGroup]).await;
        let reg = att_register(&app, &r.session, &r.lead).await;
        let booking = booking_of(&reg, "amir Khan");
        let nobody = Who { id: String::new(), token: String::new() };
        // Course lead and admin: allowed; the booked person, their school's lead, another
        // school's lead, the lead of another course and the CPD group: 404; nobody: 401.
        let callers: Vec<(&str, Who, u16)> = vec![
            ("course lead", r.lead.clone(), 200),
            ("admin", admin(&app), 200),
            ("staff on the register", r.people[1].clone(), 404),
            ("their school's lead", r.w.lead_b.clone(), 404),
            ("another school's lead", r.w.lead_a.clone(), 404),
            ("another course's lead", other_course_lead.clone(), 404),
            ("cpd group", group.clone(), 404),
            ("nobody", nobody, 401),
        ];
        for (what, who, want) in &callers {
            let token = (!who.token.is_empty()).then_some(who.token.as_str());
            let routes = [
                (reqwest::Method::GET, format!("/api/v1/sessions/{}/register", r.session), None),
                (reqwest::Method::GET, format!("/api/v1/sessions/{}/register.csv", r.session), None),
                (reqwest::Method::GET, format!("/api/v1/sessions/{}/attendance-history", r.session), None),
                (reqwest::Method::PUT, format!("/api/v1/sessions/{}/attendance", r.session), Some(json!([{"booking_id": booking, "status": "present"}]))),
                (reqwest::Method::POST, format!("/api/v1/sessions/{}/walk-ins", r.session), Some(json!({"person_id": r.people[1].id}))),
            ];
            for (method, path, body) in routes {
                let got = app.request(method.clone(), &path, token, body.as_ref()).await.status().as_u16();
                assert_eq!(got, *want, "{what}: {method} {path}");
            }
        }
        // A session that does not exist is 404 for the admin too.
        expect_problem(app.get("/api/v1/sessions/no-such-session/register", Some(&app.admin_token)).await, 404, None).await;
        // Check-in: signed-in people only.
        expect_problem(app.post("/api/v1/check-in", None, &json!({"code": "ABCDEF"})).await, 401, None).await;
        expect_problem(app.post("/api/v1/check-in", group.t(), &json!({"code": "ABCDEF"})).await, 422, Some("code")).await;
    }
}

both_backends! {
    async fn the_last_register_is_recorded_once(app: TestApp) {
        let w = bk_world(&app).await;
        let lead = bk_person(&app, "Cora Lead", None, None, &[Role::CourseLead]).await;
        let (course, s) = att_course(&app, &w, "Three-part programme", &[&lead], 3, |_| {}).await;
        let p = bk_person(&app, "Pat Person", Some(&w.school_a), None, &[]).await;
        let b = bk_book_ok(&app, &course, &p).await["id"].as_str().unwrap().to_string();
        let mark = |status: &str| json!([{"booking_id": b, "status": status}]);
        // The programme has been held: three sessions on the last three days.
        for (i, session) in s.iter().enumerate() {
            att_move(&app, session, Utc::now() - Duration::days(3 - i as i64), 120).await;
        }

        let first = att_put_ok(&app, &s[0], &lead, mark("present")).await;
        assert_eq!(first["session"]["is_last"], false);
        assert!(session_recorded_at(&app, &s[0]).await.is_some());
        assert_eq!(course_recorded_at(&app, &course).await, None);

        let last = att_put_ok(&app, &s[2], &lead, mark("absent")).await;
        assert_eq!(last["session"]["is_last"], true);
        let when = course_recorded_at(&app, &course).await.expect("set by the last session's register");
        assert_eq!(session_recorded_at(&app, &s[2]).await, Some(when));
        // Saved again (a change, and the same body), and the middle session saved after it:
        // the moments stay.
        att_put_ok(&app, &s[2], &lead, mark("present")).await;
        att_put_ok(&app, &s[2], &lead, mark("present")).await;
        att_put_ok(&app, &s[1], &lead, mark("present")).await;
        assert_eq!(course_recorded_at(&app, &course).await, Some(when));
        assert_eq!(session_recorded_at(&app, &s[2]).await, Some(when));
        let s0 = session_recorded_at(&app, &s[0]).await;
        att_put_ok(&app, &s[0], &lead, mark("late")).await;
        assert_eq!(session_recorded_at(&app, &s[0]).await, s0);
    }
}

both_backends! {
    async fn concurrent_saves_from_two_leads_stay_consistent(app: TestApp) {
        let w = bk_world(&app).await;
        let lead1 = bk_person(&app, "Cora Lead", None, None, &[Role::CourseLead]).await;
        let lead2 = bk_person(&app, "Dev Lead", None, None, &[Role::CourseLead]).await;
        let (course, s) = att_course(&app, &w, "Busy register", &[&lead1, &lead2], 1, |_| {}).await;
        let people = bk_people(&app, 12, "Staff", &[&w.school_a, &w.school_b]).await;
        for p in &people {
            bk_book_ok(&app, &course, p).await;
        }
        att_move(&app, &s[0], Utc::now() - Duration::hours(1), 180).await;
        let reg = att_register(&app, &s[0], &lead1).await;
        let ids: Vec<String> = reg["items"].as_array().unwrap().iter().map(|i| i["booking_id"].as_str().unwrap().to_string()).collect();
        // Twenty saves at once, from both leads: all present, all absent, or half and half.
        let bodies: Vec<Value> = (0..20).map(|n| {
            json!(ids.iter().enumerate().map(|(i, b)| {
                let status = match n % 3 { 0 => "present", 1 => "absent", _ => if i % 2 == 0 { "late" } else { "present" } };
                json!({"booking_id": b, "status": status})
            }).collect::<Vec<_>>())
        }).collect();
        let sends = bodies.iter().enumerate().map(|(n, body)| {
            let who = if n % 2 == 0 { &lead1 } else { &lead2 };
            att_put(&app, &s[0], who, body.clone())
        });
        let answers = futures_util::future::join_all(sends).await;
        for a in answers {
            assert_eq!(a.status().as_u16(), 200, "{}", a.text().await.unwrap());
        }
        // The register equals one of the bodies, entirely.
        let reg = att_register(&app, &s[0], &lead1).await;
        let now: Vec<(String, String)> = reg["items"].as_array().unwrap().iter().map(|i| (i["booking_id"].as_str().unwrap().to_string(), i["status"].as_str().unwrap().to_string())).collect();
        assert!(bodies.iter().any(|b| {
            b.as_array().unwrap().iter().all(|m| now.contains(&(m["booking_id"].as_str().unwrap().to_string(), m["status"].as_str().unwrap().to_string())))
        }), "the register is a mix of saves: {now:?}");
        // Each booking's history is a chain of real changes ending at its status.
        let history = att_history(&app, &s[0], &lead1).await;
        let items = history["items"].as_array().unwrap();
        for (booking, status) in &now {
            let chain: Vec<&Value> = items.iter().filter(|h| h["booking_id"] == booking.as_str()).collect();
            assert!(!chain.is_empty() && chain.len() <= 20);
            assert_eq!(chain[0]["from"], Value::Null);
            for pair in chain.windows(2) {
                assert_eq!(pair[1]["from"], pair[0]["to"], "history out of order for {booking}");
            }
            for h in &chain {
                assert_ne!(h["from"], h["to"], "a history row without a change");
            }
            assert_eq!(chain.last().unwrap()["to"], status.as_str());
        }
        assert_eq!(bk_count(&app, "SELECT COUNT(*) AS n FROM attendance").await, ids.len() as i64);
    }
}

both_backends! {
    async fn seed_demo_takes_the_registers_of_past_sessions(app: TestApp) {
        let report = app.with_db(|c| cpd_hub::commands::seed::run(c).unwrap()).await;
        assert!(report.registers > 0, "{report}");
        assert!(report.to_string().contains("registers"), "{report}");
        // Marks only for held sessions, one per confirmed booking, each with its history.
        assert_eq!(bk_count(&app, "SELECT COUNT(*) AS n FROM attendance a JOIN course_sessions s ON s.id = a.session_id WHERE s.start_at > CURRENT_TIMESTAMP").await, 0);
        assert_eq!(bk_count(&app, "SELECT COUNT(*) AS n FROM attendance a JOIN bookings b ON b.id = a.booking_id WHERE b.status <> 'confirmed'").await, 0);
        let marks = bk_count(&app, "SELECT COUNT(*) AS n FROM attendance").await;
        assert!(marks >= 50, "{marks} marks");
        assert_eq!(bk_count(&app, "SELECT COUNT(*) AS n FROM attendance_history").await, marks);
        // A realistic spread: mostly present, some of the rest.
        let present = bk_count(&app, "SELECT COUNT(*) AS n FROM attendance WHERE status = 'present'").await;
        let share = present as f64 / marks as f64;
        assert!((0.75..0.95).contains(&share), "{present} of {marks} present");
        let kinds = bk_count(&app, "SELECT COUNT(DISTINCT status) AS n FROM attendance").await;
        assert!(kinds >= 4, "only {kinds} statuses");
        // Every past published course with places taken is over: its last register recorded.
        let over = "SELECT COUNT(*) AS n FROM courses c WHERE c.status = 'published' AND c.last_session_end < CURRENT_TIMESTAMP \
                    AND EXISTS (SELECT 1 FROM bookings b WHERE b.course_id = c.id AND b.status = 'confirmed')";
        let past = bk_count(&app, over).await;
        assert!(past >= 2, "{past} past courses");
        assert_eq!(bk_count(&app, &format!("{over} AND c.last_register_recorded_at IS NOT NULL")).await, past);
        assert_eq!(bk_count(&app, "SELECT COUNT(*) AS n FROM courses WHERE last_register_recorded_at IS NOT NULL AND last_session_end > CURRENT_TIMESTAMP").await, 0);
        // Nothing is queued for people by the demo's past.
        assert_eq!(bk_count(&app, "SELECT COUNT(*) AS n FROM outbox").await, 0);
        // Running it again adds no register, and still queues nothing.
        let again = app.with_db(|c| cpd_hub::commands::seed::run(c).unwrap()).await;
        assert_eq!(again.registers, 0);
        assert_eq!(bk_count(&app, "SELECT COUNT(*) AS n FROM attendance").await, marks);
        assert_eq!(bk_count(&app, "SELECT COUNT(*) AS n FROM outbox").await, 0);
    }
}

both_backends! {
    async fn attendance_history_cannot_be_rewritten(app: TestApp) {
        let r = att_room(&app, 30).await;
        let reg = att_register(&app, &r.session, &r.lead).await;
        let beth = booking_of(&reg, "Beth Jones");
        att_put_ok(&app, &r.session, &r.lead, json!([{"booking_id": beth, "status": "late", "note": "Train delayed"}])).await;
        // Whatever the code path, the database refuses to change or remove a history row.
        let (update, delete) = cal_db(&app, |conn| {
            let u = diesel::sql_query("UPDATE attendance_history SET to_status = 'present'").execute(conn);
            let d = diesel::sql_query("DELETE FROM attendance_history").execute(conn);
            (u.map_err(|e| e.to_string()), d.map_err(|e| e.to_string()))
        }).await;
        assert!(update.unwrap_err().contains("append-only"));
        assert!(delete.unwrap_err().contains("append-only"));
        assert_eq!(bk_count(&app, "SELECT COUNT(*) AS n FROM attendance_history").await, 1);
        let history = att_history(&app, &r.session, &r.lead).await;
        let items = history["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{history}");
        assert_eq!(items[0]["to"], "late", "{history}");
    }
}
