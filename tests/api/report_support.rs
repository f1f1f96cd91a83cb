//! A small alliance with bookings, registers and evaluations, for the dashboard and digest
//! tests: three clusters, six schools (two that book nothing in the window), staff, a school
//! lead, CPD group members and four courses around an anchor day.
//!
//! | course | sessions (days from the anchor) | places | price | bookings and marks |
//! |---|---|---|---|---|
//! | K1 Adaptive teaching | 0, 7 | 8 | £50 | a1 P P, a2 P A, b1 A A (no-show), c1 L P, e1 Ap A; b2 cancelled late |
//! | K2 Phonics refresher | 20 | 6 | £25 | a3 P, b1 P, b2 P, c2 A (no-show), e1 P, a2 P |
//! | K3 Future leaders | 70 | 4 | £10 | a1, c1 |
//! | K0 Reading for pleasure | -365 | 10 | £15 | f1 (Fir Lane's only booking) |
//!
//! Schools: Dearne (Ash Primary A, Birch Academy B), Penistone (Cedar High C, Damson Infants D:
//! never booked), Central (Elm Primary E, Fir Lane School F: booked only a year earlier).
//! Evaluations: K2's five who attended rate it 4, 5, 4, 3, 5 and answer the follow-up 5, 4, 4,
//! 2, 5; K1's post-course forms went to a1 and c1, unanswered.
//!
//! The tests compare what pages and emails show with what the JSON API says, so the exact
//! figures are the report's business (`tests/api/reports.rs` checks those by hand).

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate, SecondsFormat, Utc};
use cpd_hub::domain::roles::Role;
use diesel::prelude::*;
use serde_json::{json, Value};

use crate::booking_support::{bk_person, Who};
use crate::calendar_support::{cal_course, cal_db, cal_fixture, cal_publish_new};
use crate::helpers::{expect_json, TestApp};

/// The alliance as built.
pub struct RwAlliance {
    /// School ids by letter.
    pub schools: BTreeMap<&'static str, String>,
    /// People by short name (staff).
    pub people: BTreeMap<&'static str, Who>,
    /// The school lead of Ash Primary (A).
    pub lead_a: Who,
    /// The school lead of Cedar High (C).
    pub lead_c: Who,
    /// Two members of the CPD group, with their addresses.
    pub group: Vec<(Who, String)>,
    /// Course ids by short name.
    pub courses: BTreeMap<&'static str, String>,
}

/// The schools: letter, name, cluster.
pub const SCHOOLS: [(&str, &str, &str); 6] = [
    ("A", "Ash Primary", "Dearne"),
    ("B", "Birch Academy", "Dearne"),
    ("C", "Cedar High", "Penistone"),
    ("D", "Damson Infants", "Penistone"),
    ("E", "Elm Primary", "Central"),
    ("F", "Fir Lane School", "Central"),
];

/// A morning session `days` from now, at 09:00 UTC (so it stays on its London day).
fn session_on(days: i64) -> Value {
    let day = Utc::now().date_naive() + Duration::days(days);
    let start = day.and_hms_opt(9, 0, 0).unwrap().and_utc();
    let end = start + Duration::hours(3);
    json!({
        "start": start.to_rfc3339_opts(SecondsFormat::Secs, true),
        "end": end.to_rfc3339_opts(SecondsFormat::Secs, true),
        "venue": {"name": "Barnsley Teaching Hub", "address": "Church Street, Barnsley", "postcode": "S70 2HZ"},
        "online_url": null
    })
}

/// Days from today (UTC) to `d`.
pub fn days_until(d: NaiveDate) -> i64 {
    (d - Utc::now().date_naive()).num_days()
}

async fn admin_post_ok(app: &TestApp, path: &str, body: Value) -> Value {
    let r = app.post(path, Some(&app.admin_token), &body).await;
    expect_json(r, 200).await
}

/// Builds the alliance with K1's first session `anchor` days from now.
pub async fn build(app: &TestApp, anchor: i64) -> RwAlliance {
    let fx = cal_fixture(app).await;
    let mut clusters = BTreeMap::new();
    for name in ["Dearne", "Penistone", "Central"] {
        let c = app
            .admin_create("/api/v1/clusters", json!({ "name": name }))
            .await;
        clusters.insert(name, c["id"].as_str().unwrap().to_string());
    }
    let mut schools = BTreeMap::new();
    for (i, (letter, name, cluster)) in SCHOOLS.iter().enumerate() {
        let s = app
            .admin_create(
                "/api/v1/schools",
                json!({"urn": 120001 + i as i64, "name": name, "phase": "primary", "cluster_id": clusters[cluster]}),
            )
            .await;
        schools.insert(*letter, s["id"].as_str().unwrap().to_string());
    }
    let teacher = fx.group("teacher");
    let mut people = BTreeMap::new();
    for who in ["a1", "a2", "a3", "b1", "b2", "c1", "c2", "e1", "f1"] {
        let letter = &who[..1].to_uppercase();
        let p = bk_person(
            app,
            &format!("Staff {who}"),
            Some(&schools[letter.as_str()]),
            Some(&teacher),
            &[Role::Staff],
        )
        .await;
        people.insert(who, p);
    }
    let lead_a = bk_person(
        app,
        "Lead Ash",
        Some(&schools["A"]),
        None,
        &[Role::SchoolLead],
    )
    .await;
    let lead_c = bk_person(
        app,
        "Lead Cedar",
        Some(&schools["C"]),
        None,
        &[Role::SchoolLead],
    )
    .await;
    let mut group = Vec::new();
    for name in ["Gwen Group", "Nia Network"] {
        let who = bk_person(app, name, None, None, &[Role::CpdGroup]).await;
        let id = who.id.clone();
        let email = cal_db(app, move |c| {
            use cpd_hub::db::schema::people;
            people::table
                .find(id)
                .select(people::email)
                .first::<String>(c)
                .unwrap()
        })
        .await;
        group.push((who, email));
    }

    let course =
        |title: &'static str, days: Vec<i64>, capacity: i64, price: i64, deadline: Option<i64>| {
            let mut body = cal_course(&fx, title, days.into_iter().map(session_on).collect());
            body["capacity"] = json!(capacity);
            body["price_pence"] = json!(price);
            body["priority_ids"] = json!([fx.priority("send")]);
            if let Some(d) = deadline {
                body["cancellation_deadline"] = session_on(d)["start"].clone();
            }
            body
        };
    let mut courses = BTreeMap::new();
    let mut sessions: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (k, body) in [
        (
            "K1",
            course(
                "Adaptive teaching",
                vec![anchor, anchor + 7],
                8,
                5000,
                Some(anchor - 7),
            ),
        ),
        (
            "K2",
            course("Phonics refresher", vec![anchor + 20], 6, 2500, None),
        ),
        (
            "K3",
            course("Future leaders", vec![anchor + 70], 4, 1000, None),
        ),
        (
            "K0",
            course("Reading for pleasure", vec![anchor - 365], 10, 1500, None),
        ),
    ] {
        let c = cal_publish_new(app, body).await;
        courses.insert(k, c["id"].as_str().unwrap().to_string());
        sessions.insert(
            k,
            c["sessions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["id"].as_str().unwrap().to_string())
                .collect(),
        );
    }

    let mut bookings: BTreeMap<(&str, &str), String> = BTreeMap::new();
    let book = |k: &'static str, who: &'static str| {
        let (course, person) = (courses[k].clone(), people[who].id.clone());
        async move {
            let r = app
                .post(
                    &format!("/api/v1/courses/{course}/bookings"),
                    Some(&app.admin_token),
                    &json!({"person_id": person, "override": true}),
                )
                .await;
            let b = expect_json(r, 201).await;
            assert_eq!(b["status"], "confirmed");
            ((k, who), b["id"].as_str().unwrap().to_string())
        }
    };
    for (k, who) in [
        ("K1", "b2"),
        ("K1", "a1"),
        ("K1", "a2"),
        ("K1", "b1"),
        ("K1", "c1"),
        ("K1", "e1"),
        ("K2", "a3"),
        ("K2", "b1"),
        ("K2", "b2"),
        ("K2", "c2"),
        ("K2", "e1"),
        ("K2", "a2"),
        ("K3", "a1"),
        ("K3", "c1"),
        ("K0", "f1"),
    ] {
        let (key, id) = book(k, who).await;
        bookings.insert(key, id);
    }
    let cancelled = admin_post_ok(
        app,
        &format!("/api/v1/bookings/{}/cancel", bookings[&("K1", "b2")]),
        json!({}),
    )
    .await;
    assert_eq!(cancelled["status"], "cancelled");

    let mut marks: Vec<(String, String, String, String)> = Vec::new();
    for (k, who, statuses) in [
        ("K1", "a1", vec!["present", "present"]),
        ("K1", "a2", vec!["present", "absent"]),
        ("K1", "b1", vec!["absent", "absent"]),
        ("K1", "c1", vec!["late", "present"]),
        ("K1", "e1", vec!["apologies", "absent"]),
        ("K2", "a3", vec!["present"]),
        ("K2", "b1", vec!["present"]),
        ("K2", "b2", vec!["present"]),
        ("K2", "c2", vec!["absent"]),
        ("K2", "e1", vec!["present"]),
        ("K2", "a2", vec!["present"]),
        ("K0", "f1", vec!["present"]),
    ] {
        for (session, status) in sessions[k].iter().zip(statuses) {
            marks.push((
                bookings[&(k, who)].clone(),
                session.clone(),
                courses[k].clone(),
                status.to_string(),
            ));
        }
    }
    let mut evaluations = Vec::new();
    for (who, rating, used) in [
        ("a3", 4, 5),
        ("b1", 5, 4),
        ("b2", 4, 4),
        ("e1", 3, 2),
        ("a2", 5, 5),
    ] {
        evaluations.push((
            courses["K2"].clone(),
            bookings[&("K2", who)].clone(),
            Some((rating, used)),
        ));
    }
    for who in ["a1", "c1"] {
        evaluations.push((courses["K1"].clone(), bookings[&("K1", who)].clone(), None));
    }
    cal_db(app, move |conn| {
        use cpd_hub::db::schema::attendance;
        let now = Utc::now().naive_utc();
        for (booking, session, course, status) in marks {
            diesel::insert_into(attendance::table)
                .values((
                    attendance::booking_id.eq(booking),
                    attendance::session_id.eq(session),
                    attendance::course_id.eq(course),
                    attendance::status.eq(status),
                    attendance::source.eq("register"),
                    attendance::recorded_at.eq(now),
                ))
                .execute(conn)
                .unwrap();
        }
        write_evaluations(conn, evaluations);
    })
    .await;

    RwAlliance {
        schools,
        people,
        lead_a,
        lead_c,
        group,
        courses,
    }
}

/// A booking's evaluations: (course id, booking id, answers as (rating, used in practice)).
type Evaluated = (String, String, Option<(i32, i32)>);

/// Writes a post-course form (an overall rating, Guskey level 1) and a follow-up form ("I
/// have used what I learned", level 4), and for each booking both invitations, sent; with
/// `Some((rating, used))` both answered, as the evaluation pages store answers.
fn write_evaluations(conn: &mut cpd_hub::db::DbConn, rows: Vec<Evaluated>) {
    use cpd_hub::db::schema::{
        bookings as bk, evaluation_answers as ea, evaluation_forms as ef,
        evaluation_invitations as ei, evaluation_questions as eq, evaluation_responses as er,
        schools,
    };
    let now = Utc::now().naive_utc();
    let id = || uuid::Uuid::now_v7().to_string();
    let mut forms = BTreeMap::new();
    for (kind, key, metric, level) in [
        ("post_course", "overall", "satisfaction", 1),
        ("follow_up", "used", "impact", 4),
    ] {
        let form = id();
        diesel::insert_into(ef::table)
            .values((
                ef::id.eq(&form),
                ef::family_id.eq(id()),
                ef::kind.eq(kind),
                ef::name.eq(kind),
                ef::description.eq(""),
                ef::version.eq(1),
                ef::is_default.eq(false),
                ef::created_at.eq(now),
            ))
            .execute(conn)
            .unwrap();
        let question = id();
        diesel::insert_into(eq::table)
            .values((
                eq::id.eq(&question),
                eq::form_id.eq(&form),
                eq::position.eq(1),
                eq::key.eq(key),
                eq::kind.eq("rating"),
                eq::prompt.eq(key),
                eq::required.eq(false),
                eq::guskey_level.eq(level),
                eq::metric.eq(Some(metric)),
            ))
            .execute(conn)
            .unwrap();
        forms.insert(kind, (form, question, level));
    }
    for (course, booking, answers) in rows {
        let (school, group): (Option<String>, Option<String>) = bk::table
            .find(&booking)
            .select((bk::school_id, bk::staff_group_id))
            .first(conn)
            .unwrap();
        let cluster: Option<String> = match &school {
            Some(s) => schools::table
                .find(s)
                .select(schools::cluster_id)
                .first(conn)
                .unwrap(),
            None => None,
        };
        for kind in ["post_course", "follow_up"] {
            let (form, question, level) = forms[kind].clone();
            let invitation = id();
            diesel::insert_into(ei::table)
                .values((
                    ei::id.eq(&invitation),
                    ei::course_id.eq(&course),
                    ei::booking_id.eq(&booking),
                    ei::form_id.eq(&form),
                    ei::kind.eq(kind),
                    ei::created_at.eq(now),
                    ei::send_at.eq(now),
                    ei::sent_at.eq(Some(now)),
                    ei::reminders_sent.eq(0),
                    ei::answered_at.eq(answers.map(|_| now)),
                ))
                .execute(conn)
                .unwrap();
            let Some((rating, used)) = answers else {
                continue;
            };
            let value = if kind == "post_course" { rating } else { used };
            let response = id();
            diesel::insert_into(er::table)
                .values((
                    er::id.eq(&response),
                    er::invitation_id.eq(&invitation),
                    er::course_id.eq(&course),
                    er::booking_id.eq(&booking),
                    er::form_id.eq(&form),
                    er::kind.eq(kind),
                    er::school_id.eq(&school),
                    er::cluster_id.eq(&cluster),
                    er::staff_group_id.eq(&group),
                    er::submitted_at.eq(now),
                    er::satisfaction.eq((kind == "post_course").then_some(value)),
                    er::impact.eq((kind == "follow_up").then_some(value)),
                ))
                .execute(conn)
                .unwrap();
            diesel::insert_into(ea::table)
                .values((
                    ea::response_id.eq(&response),
                    ea::question_id.eq(&question),
                    ea::guskey_level.eq(level),
                    ea::rating.eq(Some(value)),
                ))
                .execute(conn)
                .unwrap();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reading figures as the pages and emails write them (written here again, independently of
// the code under test).

/// A rate as a percentage with at most one decimal: 0.75 -> `75%`, 2/3 -> `66.7%`.
pub fn pct(v: f64) -> String {
    let tenths = (v * 1000.0).round() as i64;
    if tenths % 10 == 0 {
        format!("{}%", tenths / 10)
    } else {
        format!("{}.{}%", tenths / 10, tenths % 10)
    }
}

/// A whole number with thousands separators.
pub fn whole(v: i64) -> String {
    let s = v.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A JSON rate as shown: the percentage, or `no data` for null.
pub fn rate_text(v: &Value) -> String {
    v.as_f64().map(pct).unwrap_or_else(|| "no data".into())
}

/// A JSON suppressible figure as shown, with `format` for a value.
pub fn cell_text(v: &Value, format: fn(f64) -> String) -> String {
    if v.is_null() {
        "no data".into()
    } else if let Some(f) = v.as_f64() {
        format(f)
    } else {
        v["reason"]
            .as_str()
            .expect("a suppression marker")
            .to_string()
    }
}

/// A mean rating as shown: `4.2 out of 5`.
pub fn rating_text(v: f64) -> String {
    format!("{:.1} out of 5", (v * 10.0).round() / 10.0)
}
