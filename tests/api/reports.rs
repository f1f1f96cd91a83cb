//! Engagement and impact reports, checked number by number against a small alliance built by
//! hand: two clusters, four schools (one that booked only long ago, one that never booked),
//! two staff groups, courses in and out of the window, a course with no held sessions, a
//! two-session course, `apologies` against `absent`, a late cancellation, a waiting list never
//! promoted, a declined booking, an erased person and evaluation answers.
//!
//! The alliance (A = Ash Primary, B = Birch Academy, both North; C = Cedar High and D = Damson
//! Infants, South; t = teacher, ta = teaching assistant):
//!
//! | course | sessions | cap | price | priorities | bookings |
//! |---|---|---|---|---|---|
//! | K1 Adaptive teaching | -40d, -33d | 6 | £50 | SEND, leadership | a1 t P+L, a2 ta P+A, b1 t A+A, e1 t P+LE (erased), b2 ta Ap+A, b3 t cancelled late |
//! | K2 Phonics refresher | -20d | 6 | £25 | curriculum | a3 t A, b1 t P, b4 t P, b5 t P, b6 ta P, a2 declined |
//! | K3 Future leaders | +30d | 1 | £10 | leadership | b2 confirmed, a1 waitlisted, b3 cancelled from the list |
//! | K4 Reading for pleasure | -400d (a year earlier) | 10 | £15 | SEND | c1 t P, a1 A |
//! | K5 Next year's conference | +400d (outside) | 10 | free | - | c1 (C's last booking) |
//! | K6 Draft | +10d, never published | 20 | - | - | - |
//!
//! Evaluations: post-course answered by a1 (5, confidence 2->4), a2 (3, 3->3), e1 (4, 1->4),
//! b1 (2, 2->3), b4 (4, 2->4), b5 (3, 3->4); b6's not yet sent. Follow-ups answered by a1 (4,
//! and a level-3 answer), e1 (2, and a level-5 answer), b1 (5), b4 (4), b5 (1); a2's sent and
//! unanswered.

use std::collections::BTreeMap;
use std::io::Write;
use std::ops::Add;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use cpd_hub::domain::roles::Role;
use cpd_hub::reports::metrics::{london_date, year_before};
use diesel::prelude::*;
use serde_json::{json, Value};

use crate::booking_support::{bk_person, session_in, Who};
use crate::calendar_support::{cal_course, cal_create, cal_db, cal_fixture, cal_publish_new};
use crate::helpers::{expect_json, expect_problem, TestApp};
use crate::{both_backends, helpers};

// ---------------------------------------------------------------------------------------------
// The alliance

struct Alliance {
    /// School ids by letter.
    schools: BTreeMap<&'static str, String>,
    /// Cluster ids by name.
    clusters: BTreeMap<&'static str, String>,
    /// Staff group ids by key; priority ids by key.
    staff_groups: BTreeMap<String, String>,
    priorities: BTreeMap<String, String>,
    /// People by short name.
    people: BTreeMap<&'static str, Who>,
    /// Course ids and first session starts by short name.
    courses: BTreeMap<&'static str, (String, NaiveDateTime)>,
    /// Booking ids by (course, person).
    bookings: BTreeMap<(&'static str, &'static str), String>,
    /// The report window.
    from: NaiveDate,
    to: NaiveDate,
    /// When C last booked (K5), as the API wrote it.
    c_last_booked: String,
    /// School leads of A and B.
    lead_a: Who,
    lead_b: Who,
}

impl Alliance {
    fn window(&self) -> String {
        format!("from={}&to={}", self.from, self.to)
    }

    fn course(&self, k: &str) -> &str {
        &self.courses[k].0
    }

    fn course_label(&self, k: &str, title: &str) -> String {
        let start = self.courses[k].1;
        format!("{title} ({})", london_date(start).format("%-d %B %Y"))
    }
}

fn parse_time(s: &str) -> NaiveDateTime {
    DateTime::parse_from_rfc3339(s)
        .unwrap()
        .with_timezone(&Utc)
        .naive_utc()
}

/// A course made and (unless `draft`) published through the API.
#[allow(clippy::too_many_arguments)]
async fn course(
    app: &TestApp,
    fx: &crate::calendar_support::CalFixture,
    title: &str,
    days: &[i64],
    capacity: i64,
    price: i64,
    priorities: &[&str],
    deadline_days: Option<i64>,
    draft: bool,
) -> Value {
    let mut body = cal_course(fx, title, days.iter().map(|d| session_in(*d)).collect());
    body["capacity"] = json!(capacity);
    body["price_pence"] = json!(price);
    body["priority_ids"] = json!(priorities
        .iter()
        .map(|k| fx.priority(k))
        .collect::<Vec<_>>());
    if let Some(d) = deadline_days {
        body["cancellation_deadline"] = json!(crate::booking_support::days_from_now(d));
    }
    if draft {
        cal_create(app, body).await
    } else {
        cal_publish_new(app, body).await
    }
}

/// Books `who` onto a course as the admin (past the rules when `force`): the booking.
async fn book(app: &TestApp, course_id: &str, who: &Who, force: bool) -> Value {
    let r = app
        .post(
            &format!("/api/v1/courses/{course_id}/bookings"),
            Some(&app.admin_token),
            &json!({"person_id": who.id, "override": force}),
        )
        .await;
    expect_json(r, 201).await
}

async fn admin_post(app: &TestApp, path: &str, body: Value) -> Value {
    let r = app.post(path, Some(&app.admin_token), &body).await;
    expect_json(r, 200).await
}

struct Answer {
    satisfaction: Option<i32>,
    impact: Option<i32>,
    confidence: Option<(i32, i32)>,
    /// Other rating answers: (Guskey level, rating).
    extra: Vec<(i32, i32)>,
}

fn answer(satisfaction: i32, before: i32, after: i32) -> Option<Answer> {
    Some(Answer {
        satisfaction: Some(satisfaction),
        impact: None,
        confidence: Some((before, after)),
        extra: Vec::new(),
    })
}

fn follow(impact: i32, extra: &[(i32, i32)]) -> Option<Answer> {
    Some(Answer {
        satisfaction: None,
        impact: Some(impact),
        confidence: None,
        extra: extra.to_vec(),
    })
}

/// Builds the alliance of the module comment.
async fn build(app: &TestApp) -> Alliance {
    let fx = cal_fixture(app).await;
    let mut clusters = BTreeMap::new();
    for name in ["North", "South"] {
        let c = app
            .admin_create("/api/v1/clusters", json!({ "name": name }))
            .await;
        clusters.insert(name, c["id"].as_str().unwrap().to_string());
    }
    let mut schools = BTreeMap::new();
    for (letter, urn, name, cluster) in [
        ("A", 110001, "Ash Primary", "North"),
        ("B", 110002, "Birch Academy", "North"),
        ("C", 110003, "Cedar High", "South"),
        ("D", 110004, "Damson Infants", "South"),
    ] {
        let s = app
            .admin_create(
                "/api/v1/schools",
                json!({"urn": urn, "name": name, "phase": "primary", "cluster_id": clusters[cluster]}),
            )
            .await;
        schools.insert(letter, s["id"].as_str().unwrap().to_string());
    }
    let teacher = fx.group("teacher");
    let ta = fx.group("teaching_assistant");
    let mut people = BTreeMap::new();
    for (who, school, group) in [
        ("a1", "A", &teacher),
        ("a2", "A", &ta),
        ("a3", "A", &teacher),
        ("e1", "A", &teacher),
        ("b1", "B", &teacher),
        ("b2", "B", &ta),
        ("b3", "B", &teacher),
        ("b4", "B", &teacher),
        ("b5", "B", &teacher),
        ("b6", "B", &ta),
        ("c1", "C", &teacher),
    ] {
        let p = bk_person(
            app,
            &format!("Person {who}"),
            Some(&schools[school]),
            Some(group),
            &[Role::Staff],
        )
        .await;
        people.insert(who, p);
    }
    let lead_a = bk_person(
        app,
        "Lead A",
        Some(&schools["A"]),
        None,
        &[Role::SchoolLead],
    )
    .await;
    let lead_b = bk_person(
        app,
        "Lead B",
        Some(&schools["B"]),
        None,
        &[Role::SchoolLead],
    )
    .await;

    let k1 = course(
        app,
        &fx,
        "Adaptive teaching",
        &[-40, -33],
        6,
        5000,
        &["send", "leadership"],
        Some(-47),
        false,
    )
    .await;
    let k2 = course(
        app,
        &fx,
        "Phonics refresher",
        &[-20],
        6,
        2500,
        &["curriculum"],
        None,
        false,
    )
    .await;
    let k3 = course(
        app,
        &fx,
        "Future leaders",
        &[30],
        1,
        1000,
        &["leadership"],
        None,
        false,
    )
    .await;
    let k4 = course(
        app,
        &fx,
        "Reading for pleasure",
        &[-400],
        10,
        1500,
        &["send"],
        None,
        false,
    )
    .await;
    let k5 = course(
        app,
        &fx,
        "Next year's conference",
        &[400],
        10,
        0,
        &[],
        None,
        false,
    )
    .await;
    let k6 = course(app, &fx, "Draft", &[10], 20, 0, &[], None, true).await;
    let mut courses = BTreeMap::new();
    for (k, c) in [
        ("K1", &k1),
        ("K2", &k2),
        ("K3", &k3),
        ("K4", &k4),
        ("K5", &k5),
        ("K6", &k6),
    ] {
        courses.insert(
            k,
            (
                c["id"].as_str().unwrap().to_string(),
                parse_time(c["sessions"][0]["start"].as_str().unwrap()),
            ),
        );
    }

    let mut bookings = BTreeMap::new();
    // K1: b3's place is given up after the deadline, before the others book.
    let b3 = book(app, &courses["K1"].0, &people["b3"], true).await;
    let cancelled = admin_post(
        app,
        &format!("/api/v1/bookings/{}/cancel", b3["id"].as_str().unwrap()),
        json!({}),
    )
    .await;
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["late_cancellation"], true);
    bookings.insert(("K1", "b3"), b3["id"].as_str().unwrap().to_string());
    for who in ["a1", "a2", "b1", "e1", "b2"] {
        let b = book(app, &courses["K1"].0, &people[who], true).await;
        assert_eq!(b["status"], "confirmed");
        bookings.insert(("K1", who), b["id"].as_str().unwrap().to_string());
    }
    // K2: a2's place is withdrawn (declined) first.
    let a2 = book(app, &courses["K2"].0, &people["a2"], true).await;
    let declined = admin_post(
        app,
        &format!("/api/v1/bookings/{}/decline", a2["id"].as_str().unwrap()),
        json!({"reason": "Needed in class that day"}),
    )
    .await;
    assert_eq!(declined["status"], "declined");
    for who in ["a3", "b1", "b4", "b5", "b6"] {
        let b = book(app, &courses["K2"].0, &people[who], true).await;
        assert_eq!(b["status"], "confirmed");
        bookings.insert(("K2", who), b["id"].as_str().unwrap().to_string());
    }
    // K3: one place; a1 waits for ever, b3 leaves the waiting list.
    for (who, status) in [
        ("b2", "confirmed"),
        ("a1", "waitlisted"),
        ("b3", "waitlisted"),
    ] {
        let b = book(app, &courses["K3"].0, &people[who], false).await;
        assert_eq!(b["status"], status);
        bookings.insert(("K3", who), b["id"].as_str().unwrap().to_string());
    }
    let left = admin_post(
        app,
        &format!("/api/v1/bookings/{}/cancel", bookings[&("K3", "b3")]),
        json!({}),
    )
    .await;
    assert_eq!(left["late_cancellation"], false);
    for who in ["c1", "a1"] {
        let b = book(app, &courses["K4"].0, &people[who], true).await;
        bookings.insert(("K4", who), b["id"].as_str().unwrap().to_string());
    }
    let c5 = book(app, &courses["K5"].0, &people["c1"], false).await;
    let c_last_booked = c5["requested_at"].as_str().unwrap().to_string();

    // Registers (the attendance table as the register writes it).
    let sessions: BTreeMap<&str, Vec<String>> = [("K1", &k1), ("K2", &k2), ("K4", &k4)]
        .into_iter()
        .map(|(k, c)| {
            (
                k,
                c["sessions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s["id"].as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect();
    let mut marks: Vec<(String, String, String, &str)> = Vec::new();
    for (k, who, statuses) in [
        ("K1", "a1", vec!["present", "late"]),
        ("K1", "a2", vec!["present", "absent"]),
        ("K1", "b1", vec!["absent", "absent"]),
        ("K1", "e1", vec!["present", "left_early"]),
        ("K1", "b2", vec!["apologies", "absent"]),
        ("K2", "a3", vec!["absent"]),
        ("K2", "b1", vec!["present"]),
        ("K2", "b4", vec!["present"]),
        ("K2", "b5", vec!["present"]),
        ("K2", "b6", vec!["present"]),
        ("K4", "c1", vec!["present"]),
        ("K4", "a1", vec!["absent"]),
    ] {
        for (session, status) in sessions[k].iter().zip(statuses) {
            marks.push((
                bookings[&(k, who)].clone(),
                session.clone(),
                courses[k].0.clone(),
                status,
            ));
        }
    }
    let marks: Vec<(String, String, String, String)> = marks
        .into_iter()
        .map(|(a, b, c, d)| (a, b, c, d.to_string()))
        .collect();
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
    })
    .await;

    // Evaluations.
    let mut evaluations: Vec<(&str, &str, &str, bool, Option<Answer>)> = vec![
        ("K1", "a1", "post_course", true, answer(5, 2, 4)),
        ("K1", "a2", "post_course", true, answer(3, 3, 3)),
        ("K1", "e1", "post_course", true, answer(4, 1, 4)),
        ("K2", "b1", "post_course", true, answer(2, 2, 3)),
        ("K2", "b4", "post_course", true, answer(4, 2, 4)),
        ("K2", "b5", "post_course", true, answer(3, 3, 4)),
        ("K2", "b6", "post_course", false, None),
        ("K1", "a1", "follow_up", true, follow(4, &[(3, 4)])),
        ("K1", "e1", "follow_up", true, follow(2, &[(5, 3)])),
        ("K1", "a2", "follow_up", true, None),
        ("K2", "b1", "follow_up", true, follow(5, &[])),
        ("K2", "b4", "follow_up", true, follow(4, &[])),
        ("K2", "b5", "follow_up", true, follow(1, &[])),
    ];
    let rows: Vec<_> = evaluations
        .drain(..)
        .map(|(k, who, kind, sent, ans)| {
            let school = match &who[..1] {
                "a" | "e" => "A",
                "b" => "B",
                _ => "C",
            };
            let group = if ["a2", "b2", "b6"].contains(&who) {
                ta.clone()
            } else {
                teacher.clone()
            };
            (
                courses[k].0.clone(),
                bookings[&(k, who)].clone(),
                kind.to_string(),
                sent,
                ans,
                schools[school].clone(),
                clusters[if school == "C" { "South" } else { "North" }].clone(),
                group,
            )
        })
        .collect();
    cal_db(app, move |conn| write_evaluations(conn, rows)).await;

    Alliance {
        schools,
        clusters,
        staff_groups: fx.staff_groups.clone().into_iter().collect(),
        priorities: fx.priorities.clone().into_iter().collect(),
        people,
        courses,
        bookings,
        from: london_date(Utc::now().naive_utc()) - chrono::Duration::days(120),
        to: london_date(Utc::now().naive_utc()) + chrono::Duration::days(120),
        c_last_booked,
        lead_a,
        lead_b,
    }
}

type EvaluationRow = (
    String,
    String,
    String,
    bool,
    Option<Answer>,
    String,
    String,
    String,
);

/// Writes forms, invitations, responses and answers as the evaluation pages store them.
fn write_evaluations(conn: &mut cpd_hub::db::DbConn, rows: Vec<EvaluationRow>) {
    use cpd_hub::db::schema::{
        evaluation_answers as ea, evaluation_forms as ef, evaluation_invitations as ei,
        evaluation_questions as eq, evaluation_responses as er,
    };
    let now = Utc::now().naive_utc();
    let id = || uuid::Uuid::now_v7().to_string();
    let mut forms = BTreeMap::new();
    let mut questions: BTreeMap<(String, i32, &str), String> = BTreeMap::new();
    for kind in ["post_course", "follow_up"] {
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
        for (pos, (level, key, qkind, metric)) in [
            (1, "overall", "rating", Some("satisfaction")),
            (2, "confidence", "retrospective", Some("confidence")),
            (3, "support", "rating", None),
            (4, "used", "rating", Some("impact")),
            (5, "pupils", "rating", None),
        ]
        .into_iter()
        .enumerate()
        {
            let q = id();
            diesel::insert_into(eq::table)
                .values((
                    eq::id.eq(&q),
                    eq::form_id.eq(&form),
                    eq::position.eq(pos as i32),
                    eq::key.eq(key),
                    eq::kind.eq(qkind),
                    eq::prompt.eq(key),
                    eq::required.eq(false),
                    eq::guskey_level.eq(level),
                    eq::metric.eq(metric),
                ))
                .execute(conn)
                .unwrap();
            questions.insert((form.clone(), level, key), q);
        }
        forms.insert(kind, form);
    }
    for (course, booking, kind, sent, ans, school, cluster, group) in rows {
        let form = forms[kind.as_str()].clone();
        let invitation = id();
        diesel::insert_into(ei::table)
            .values((
                ei::id.eq(&invitation),
                ei::course_id.eq(&course),
                ei::booking_id.eq(&booking),
                ei::form_id.eq(&form),
                ei::kind.eq(&kind),
                ei::created_at.eq(now),
                ei::send_at.eq(now),
                ei::sent_at.eq(sent.then_some(now)),
                ei::reminders_sent.eq(0),
                ei::answered_at.eq(ans.as_ref().map(|_| now)),
            ))
            .execute(conn)
            .unwrap();
        let Some(ans) = ans else { continue };
        let response = id();
        diesel::insert_into(er::table)
            .values((
                er::id.eq(&response),
                er::invitation_id.eq(&invitation),
                er::course_id.eq(&course),
                er::booking_id.eq(&booking),
                er::form_id.eq(&form),
                er::kind.eq(&kind),
                er::school_id.eq(Some(&school)),
                er::cluster_id.eq(Some(&cluster)),
                er::staff_group_id.eq(Some(&group)),
                er::submitted_at.eq(now),
                er::satisfaction.eq(ans.satisfaction),
                er::impact.eq(ans.impact),
                er::confidence_before.eq(ans.confidence.map(|c| f64::from(c.0))),
                er::confidence_after.eq(ans.confidence.map(|c| f64::from(c.1))),
            ))
            .execute(conn)
            .unwrap();
        let mut answers: Vec<AnswerRow> = Vec::new();
        if let Some(s) = ans.satisfaction {
            answers.push((1, "overall", Some(s), None));
        }
        if let Some(c) = ans.confidence {
            answers.push((2, "confidence", None, Some(c)));
        }
        if let Some(i) = ans.impact {
            answers.push((4, "used", Some(i), None));
        }
        for (level, rating) in &ans.extra {
            let key = if *level == 3 { "support" } else { "pupils" };
            answers.push((*level, key, Some(*rating), None));
        }
        for (level, key, rating, pair) in answers {
            diesel::insert_into(ea::table)
                .values((
                    ea::response_id.eq(&response),
                    ea::question_id.eq(&questions[&(form.clone(), level, key)]),
                    ea::guskey_level.eq(level),
                    ea::rating.eq(rating),
                    ea::before_rating.eq(pair.map(|p| p.0)),
                    ea::after_rating.eq(pair.map(|p| p.1)),
                ))
                .execute(conn)
                .unwrap();
        }
    }
}

/// One answer to insert: Guskey level, question key, rating and before/after pair.
type AnswerRow = (i32, &'static str, Option<i32>, Option<(i32, i32)>);

// ---------------------------------------------------------------------------------------------
// The expected figures

/// Additive engagement sums of a group, written out by hand in the tests.
#[derive(Clone, Copy, Debug, Default)]
struct M {
    places: Option<i64>,
    bookings: i64,
    confirmed: i64,
    waitlisted: i64,
    cancelled: i64,
    late: i64,
    /// Confirmed bookings x held sessions.
    expected: i64,
    /// Attendances at held sessions.
    attended: i64,
    completed: i64,
    no_shows: i64,
    sent: i64,
    answered: i64,
    sat_sum: i64,
    sat_n: i64,
    imp_pos: i64,
    imp_n: i64,
    no_show_pence: i64,
    late_pence: i64,
    /// The satisfaction sum and count the figure uses when the group has more ratings than
    /// it releases (the earliest in whole steps of 5); `None` when it uses them all.
    sat_released: Option<(i64, i64)>,
}

impl Add for M {
    type Output = M;
    fn add(self, o: M) -> M {
        M {
            places: match (self.places, o.places) {
                (None, None) => None,
                (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
            },
            bookings: self.bookings + o.bookings,
            confirmed: self.confirmed + o.confirmed,
            waitlisted: self.waitlisted + o.waitlisted,
            cancelled: self.cancelled + o.cancelled,
            late: self.late + o.late,
            expected: self.expected + o.expected,
            attended: self.attended + o.attended,
            completed: self.completed + o.completed,
            no_shows: self.no_shows + o.no_shows,
            sent: self.sent + o.sent,
            answered: self.answered + o.answered,
            sat_sum: self.sat_sum + o.sat_sum,
            sat_n: self.sat_n + o.sat_n,
            imp_pos: self.imp_pos + o.imp_pos,
            imp_n: self.imp_n + o.imp_n,
            no_show_pence: self.no_show_pence + o.no_show_pence,
            late_pence: self.late_pence + o.late_pence,
            sat_released: None,
        }
    }
}

impl M {
    /// The group's satisfaction figure uses only `sum` over its earliest `n` ratings.
    fn released_sat(self, sum: i64, n: i64) -> M {
        M {
            sat_released: Some((sum, n)),
            ..self
        }
    }

    fn no_places(self) -> M {
        M {
            places: None,
            ..self
        }
    }
}

/// How a suppressible figure shows.
#[derive(Clone, Copy, Debug, PartialEq)]
enum F {
    Show,
    Few,
    Comp,
}

const TOO_FEW: &str = "fewer than 5 responses";
const COMPLEMENTARY: &str = "hidden so that a group of fewer than 5 responses cannot be worked out";

fn ratio(a: i64, b: i64) -> Value {
    if b == 0 {
        Value::Null
    } else {
        json!(a as f64 / b as f64)
    }
}

fn fig(n: i64, f: F, value: Value) -> Value {
    if n == 0 {
        return Value::Null;
    }
    match f {
        F::Show => value,
        F::Few => json!({"suppressed": true, "reason": TOO_FEW}),
        F::Comp => json!({"suppressed": true, "reason": COMPLEMENTARY}),
    }
}

fn money(pence: i64) -> Value {
    json!({"pence": pence, "formatted": format!("£{}.{:02}", pence / 100, pence % 100)})
}

fn engagement_json(m: &M, sat: F, imp: F) -> Value {
    json!({
        "places": m.places,
        "bookings": m.bookings,
        "confirmed": m.confirmed,
        "waitlisted": m.waitlisted,
        "cancelled": m.cancelled,
        "late_cancellations": m.late,
        "fill_rate": m.places.map_or(Value::Null, |p| ratio(m.confirmed, p)),
        "attendance_rate": ratio(m.attended, m.expected),
        "completed": m.completed,
        "no_shows": m.no_shows,
        "evaluations_sent": m.sent,
        "evaluations_completed": m.answered,
        "response_rate": ratio(m.answered, m.sent),
        "satisfaction": fig(m.sat_n, sat, {
            let (sum, n) = m.sat_released.unwrap_or((m.sat_sum, m.sat_n));
            ratio(sum, n)
        }),
        "satisfaction_respondents": m.sat_n,
        "impact_rate": fig(m.imp_n, imp, ratio(m.imp_pos, m.imp_n)),
        "impact_respondents": m.imp_n,
        "cost": {
            "no_shows": money(m.no_show_pence),
            "late_cancellations": money(m.late_pence),
            "total": money(m.no_show_pence + m.late_pence),
        },
    })
}

/// An expected group: key, label, metrics and the year-earlier metrics (all shown: the
/// earlier window has no evaluation answers).
/// The school term (key, label) of a moment's London date, `years_on` academic years later,
/// worked out here rather than with `domain::term`: autumn September to December, spring
/// January to March, summer April to August.
fn term_by_hand(t: NaiveDateTime, years_on: i32) -> (String, String) {
    use chrono::Datelike;
    let d = t
        .and_utc()
        .with_timezone(&chrono_tz::Europe::London)
        .date_naive();
    let (year, key, name) = match d.month() {
        9..=12 => (d.year(), "autumn", "Autumn"),
        1..=3 => (d.year() - 1, "spring", "Spring"),
        _ => (d.year() - 1, "summer", "Summer"),
    };
    let year = year + years_on;
    let next = (year + 1) % 100;
    (
        format!("{year}-{next:02}-{key}"),
        format!("{name} {year}/{next:02}"),
    )
}

fn group(key: &str, label: &str, m: M, sat: F, imp: F, previous: Option<M>) -> Value {
    let mut g = engagement_json(&m, sat, imp);
    g["key"] = json!(key);
    g["label"] = json!(label);
    g["previous"] = previous.map_or(Value::Null, |p| engagement_json(&p, F::Show, F::Show));
    g
}

/// The groups of a report without their subgroups, for comparison.
fn top(groups: &Value) -> Vec<Value> {
    groups
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let mut g = g.clone();
            g.as_object_mut().unwrap().remove("subgroups");
            g
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn m(
    places: Option<i64>,
    [bookings, confirmed, waitlisted, cancelled, late]: [i64; 5],
    [expected, attended, completed, no_shows]: [i64; 4],
    [sent, answered]: [i64; 2],
    [sat_sum, sat_n, imp_pos, imp_n]: [i64; 4],
    [no_show_pence, late_pence]: [i64; 2],
) -> M {
    M {
        places,
        bookings,
        confirmed,
        waitlisted,
        cancelled,
        late,
        expected,
        attended,
        completed,
        no_shows,
        sent,
        answered,
        sat_sum,
        sat_n,
        imp_pos,
        imp_n,
        no_show_pence,
        late_pence,
        sat_released: None,
    }
}

/// The courses' own figures.
fn k1() -> M {
    m(
        Some(6),
        [6, 5, 0, 1, 1],
        [10, 5, 2, 1],
        [6, 5],
        [12, 3, 1, 2],
        [5000, 5000],
    )
}
fn k2() -> M {
    m(
        Some(6),
        [5, 5, 0, 0, 0],
        [5, 4, 4, 1],
        [6, 6],
        [9, 3, 2, 3],
        [2500, 0],
    )
}
fn k3() -> M {
    m(
        Some(1),
        [3, 1, 1, 1, 0],
        [0, 0, 0, 0],
        [0, 0],
        [0, 0, 0, 0],
        [0, 0],
    )
}
fn k4() -> M {
    m(
        Some(10),
        [2, 2, 0, 0, 0],
        [2, 1, 1, 1],
        [0, 0],
        [0, 0, 0, 0],
        [1500, 0],
    )
}
/// School A, B; the staff groups; A's bookings a year earlier (a1 on K4).
fn school_a() -> M {
    m(
        None,
        [5, 4, 1, 0, 0],
        [7, 5, 2, 1],
        [6, 5],
        [12, 3, 1, 2],
        [2500, 0],
    )
}
fn school_b() -> M {
    m(
        None,
        [9, 7, 0, 2, 1],
        [8, 4, 4, 1],
        [6, 6],
        [9, 3, 2, 3],
        [5000, 5000],
    )
}
fn a_before() -> M {
    m(
        None,
        [1, 1, 0, 0, 0],
        [1, 0, 0, 1],
        [0, 0],
        [0, 0, 0, 0],
        [1500, 0],
    )
}
fn teachers() -> M {
    m(
        None,
        [10, 7, 1, 2, 1],
        [10, 7, 5, 2],
        [10, 10],
        [18, 5, 3, 5],
        [7500, 5000],
    )
}
fn assistants() -> M {
    m(
        None,
        [4, 4, 0, 0, 0],
        [5, 2, 1, 0],
        [2, 1],
        [3, 1, 0, 0],
        [0, 0],
    )
}
fn teachers_before() -> M {
    m(
        None,
        [2, 2, 0, 0, 0],
        [2, 1, 1, 1],
        [0, 0],
        [0, 0, 0, 0],
        [1500, 0],
    )
}

async fn report(app: &TestApp, token: &str, path: &str) -> Value {
    expect_json(app.get(path, Some(token)).await, 200).await
}

async fn engagement(app: &TestApp, w: &Alliance, group_by: &str) -> Value {
    report(
        app,
        &app.admin_token,
        &format!(
            "/api/v1/reports/engagement?{}&group_by={group_by}",
            w.window()
        ),
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Engagement, every number

both_backends! {
    async fn engagement_figures_match_the_hand_built_alliance(app: TestApp) {
        let w = build(&app).await;
        // e1 is erased first: every figure below still counts their booking.
        let r = app
            .delete(&format!("/api/v1/people/{}", w.people["e1"].id), Some(&app.admin_token))
            .await;
        assert_eq!(r.status(), 204);

        // Six ratings, 5 3 4 2 4 3 in the order they arrived (a1, a2, e1, b1, b4, b5): the
        // figure uses the earliest five, 18 / 5 = 3.6 (over all six it would be 3.5). The five
        // impact answers are all used.
        let totals = (k1() + k2() + k3()).released_sat(18, 5);
        let earlier = k4();
        // The headline figures, written out.
        let by_school = engagement(&app, &w, "school").await;
        let t = &by_school["totals"];
        assert_eq!(t["places"], 13);
        assert_eq!(t["bookings"], 14);
        assert_eq!(t["confirmed"], 11);
        assert_eq!(t["fill_rate"], json!(11.0 / 13.0));
        assert_eq!(t["attendance_rate"], json!(0.6));
        assert_eq!(t["completed"], 6);
        assert_eq!(t["no_shows"], 2);
        assert_eq!(t["response_rate"], json!(11.0 / 12.0));
        assert_eq!(t["satisfaction"], json!(3.6));
        assert_eq!(t["impact_rate"], json!(0.6));
        assert_eq!(t["cost"]["total"]["formatted"], "£125.00");
        assert_eq!(by_school["previous"]["totals"]["fill_rate"], json!(0.2));
        assert_eq!(by_school["previous"]["from"], year_before(w.from).to_string());
        assert_eq!(by_school["previous"]["to"], year_before(w.to).to_string());
        assert_eq!(by_school["from"], w.from.to_string());
        assert_eq!(by_school["group_by"], "school");
        assert_eq!(by_school["scope"], "alliance");
        assert_eq!(by_school["min_responses"], 5);
        assert!(by_school["alliance_average"].is_null());

        // Totals and the trend are the same whatever the grouping.
        for g in ["school", "cluster", "staff_group", "priority", "course", "term", "cluster,staff_group"] {
            let r = engagement(&app, &w, g).await;
            assert_eq!(r["totals"], engagement_json(&totals, F::Show, F::Show), "totals by {g}");
            assert_eq!(
                r["previous"]["totals"],
                engagement_json(&earlier, F::Show, F::Show),
                "previous totals by {g}"
            );
            assert_eq!(r["cold_spots"].is_array(), g == "school", "cold spots by {g}");
        }

        // By school: satisfaction 3 + 3 and impact 2 + 3 respondents, each too few.
        assert_eq!(
            top(&by_school["groups"]),
            vec![
                group(&w.schools["A"], "Ash Primary", school_a(), F::Few, F::Few, Some(a_before())),
                group(&w.schools["B"], "Birch Academy", school_b(), F::Few, F::Few, None),
            ]
        );
        assert_eq!(
            by_school["cold_spots"],
            json!([
                {"school": {"id": w.schools["C"], "name": "Cedar High"},
                 "cluster": {"id": w.clusters["South"], "name": "South"},
                 "last_booked_at": w.c_last_booked},
                {"school": {"id": w.schools["D"], "name": "Damson Infants"},
                 "cluster": {"id": w.clusters["South"], "name": "South"},
                 "last_booked_at": null},
            ])
        );
        // Cost of no-shows and late cancellations by school, in pence and pounds.
        assert_eq!(by_school["groups"][0]["cost"]["no_shows"], json!({"pence": 2500, "formatted": "£25.00"}));
        assert_eq!(by_school["groups"][1]["cost"]["total"], json!({"pence": 10000, "formatted": "£100.00"}));

        // By cluster: South booked nothing in the window; North is everything, shown.
        let by_cluster = engagement(&app, &w, "cluster").await;
        assert_eq!(
            top(&by_cluster["groups"]),
            vec![group(&w.clusters["North"], "North", totals.no_places(), F::Show, F::Show, Some(a_before()))]
        );

        // By staff group: one assistant rated the course, so the teachers' 5 are hidden too.
        let teacher = &w.staff_groups["teacher"];
        let ta = &w.staff_groups["teaching_assistant"];
        let by_group = engagement(&app, &w, "staff_group").await;
        assert_eq!(
            top(&by_group["groups"]),
            vec![
                group(teacher, "Teacher", teachers(), F::Comp, F::Show, Some(teachers_before())),
                group(ta, "Teaching assistant", assistants(), F::Few, F::Show, None),
            ]
        );
        assert_eq!(by_group["groups"][0]["impact_rate"], json!(0.6));

        // By priority: K1 counts under SEND and leadership, the totals once.
        let by_priority = engagement(&app, &w, "priority").await;
        assert_eq!(
            top(&by_priority["groups"]),
            vec![
                group(&w.priorities["send"], "SEND", k1(), F::Few, F::Few, Some(k4())),
                group(&w.priorities["leadership"], "Leadership", k1() + k3(), F::Few, F::Few, None),
                group(&w.priorities["curriculum"], "Curriculum", k2(), F::Few, F::Few, None),
            ]
        );
        assert_eq!(by_priority["groups"][1]["places"], 7);
        assert_eq!(by_priority["totals"]["bookings"], 14);

        // By course: in date order; the draft and the courses outside the window are not there;
        // K3 has no held session, so no attendance rate.
        let by_course = engagement(&app, &w, "course").await;
        assert_eq!(
            top(&by_course["groups"]),
            vec![
                group(w.course("K1"), &w.course_label("K1", "Adaptive teaching"), k1(), F::Few, F::Few, None),
                group(w.course("K2"), &w.course_label("K2", "Phonics refresher"), k2(), F::Few, F::Few, None),
                group(w.course("K3"), &w.course_label("K3", "Future leaders"), k3(), F::Show, F::Show, None),
            ]
        );
        assert!(by_course["groups"][2]["attendance_rate"].is_null());

        // By term: whichever terms today's dates fall in, each is the sum of its courses, and
        // the year-earlier course lines up with the same term a year on. K1 (-40 days), K2
        // (-20) and K3 (+30) span 70 days, less than any term, so they fall in one term or
        // two, split after K1 or after K2; each case worked out here.
        let by_term = engagement(&app, &w, "term").await;
        let term_of = |k: &str| term_by_hand(w.courses[k].1, 0);
        let k4_term = term_by_hand(w.courses["K4"].1, 1);
        let previous = |t: &(String, String)| (t.0 == k4_term.0).then(k4);
        let (t1, t2, t3) = (term_of("K1"), term_of("K2"), term_of("K3"));
        let expected = if t1 == t3 {
            // One term: 6 satisfaction and 5 impact respondents, shown.
            // The earliest five ratings, as in the totals: 18 / 5.
            vec![group(&t1.0, &t1.1, (k1() + k2() + k3()).released_sat(18, 5), F::Show, F::Show, previous(&t1))]
        } else if t1 == t2 {
            // K1 and K2 (6 and 5 respondents) shown; K3's term has none (null figures).
            vec![
                // The earliest five of the six ratings: 18 / 5.
                group(&t1.0, &t1.1, (k1() + k2()).released_sat(18, 5), F::Show, F::Show, previous(&t1)),
                group(&t3.0, &t3.1, k3(), F::Few, F::Few, previous(&t3)),
            ]
        } else {
            // K1 alone (3 and 2 respondents), K2 with K3 (3 and 3): all too few.
            assert_eq!(t2, t3);
            vec![
                group(&t1.0, &t1.1, k1(), F::Few, F::Few, previous(&t1)),
                group(&t2.0, &t2.1, k2() + k3(), F::Few, F::Few, previous(&t2)),
            ]
        };
        assert_eq!(top(&by_term["groups"]), expected);

        // Two levels: cluster, then staff group.
        let cross = engagement(&app, &w, "cluster,staff_group").await;
        assert_eq!(cross["group_by"], "cluster,staff_group");
        assert_eq!(
            top(&cross["groups"]),
            vec![group(&w.clusters["North"], "North", totals.no_places(), F::Show, F::Show, Some(a_before()))]
        );
        assert_eq!(
            cross["groups"][0]["subgroups"],
            json!([
                group(teacher, "Teacher", teachers(), F::Comp, F::Show, Some(a_before())),
                group(ta, "Teaching assistant", assistants(), F::Few, F::Show, None),
            ])
        );

        // Two levels: course, then school (places only at the course level).
        let by_course_school = engagement(&app, &w, "course,school").await;
        let a = &w.schools["A"];
        let b = &w.schools["B"];
        let subgroups: Vec<Value> = by_course_school["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["subgroups"].clone())
            .collect();
        let ab = |ma: M, sa: F, ia: F, mb: M, sb: F, ib: F| {
            json!([
                group(a, "Ash Primary", ma, sa, ia, None),
                group(b, "Birch Academy", mb, sb, ib, None),
            ])
        };
        assert_eq!(
            subgroups,
            vec![
                ab(
                    m(None, [3, 3, 0, 0, 0], [6, 5, 2, 0], [6, 5], [12, 3, 1, 2], [0, 0]),
                    F::Few, F::Few,
                    m(None, [3, 2, 0, 1, 1], [4, 0, 0, 1], [0, 0], [0, 0, 0, 0], [5000, 5000]),
                    F::Show, F::Show,
                ),
                ab(
                    m(None, [1, 1, 0, 0, 0], [1, 0, 0, 1], [0, 0], [0, 0, 0, 0], [2500, 0]),
                    F::Show, F::Show,
                    m(None, [4, 4, 0, 0, 0], [4, 4, 4, 0], [6, 6], [9, 3, 2, 3], [0, 0]),
                    F::Few, F::Few,
                ),
                ab(
                    m(None, [1, 0, 1, 0, 0], [0, 0, 0, 0], [0, 0], [0, 0, 0, 0], [0, 0]),
                    F::Show, F::Show,
                    m(None, [2, 1, 0, 1, 0], [0, 0, 0, 0], [0, 0], [0, 0, 0, 0], [0, 0]),
                    F::Show, F::Show,
                ),
            ]
        );
        assert_eq!(by_course_school["groups"][0]["places"], 6);
    }
}

// ---------------------------------------------------------------------------------------------
// A school's own view

both_backends! {
    async fn a_school_lead_sees_their_school_and_the_alliance_average_only(app: TestApp) {
        let w = build(&app).await;
        let path = format!("/api/v1/reports/engagement?{}&group_by=school", w.window());
        let own = report(&app, &w.lead_b.token, &path).await;
        assert_eq!(own["scope"], "school");
        assert_eq!(own["school"], json!({"id": w.schools["B"], "name": "Birch Academy"}));
        // B's satisfaction (3 respondents) is too few; the alliance's 6 are shown.
        let b = group(&w.schools["B"], "Birch Academy", school_b(), F::Few, F::Few, None);
        assert_eq!(top(&own["groups"]), vec![b]);
        assert_eq!(own["totals"], engagement_json(&school_b(), F::Few, F::Few));
        assert_eq!(own["previous"]["totals"], engagement_json(&M::default(), F::Show, F::Show));
        assert!(own["cold_spots"].is_null());
        // Averages over the four open schools; rates are the alliance's own.
        assert_eq!(
            own["alliance_average"],
            json!({
                "schools": 4,
                "bookings": 3.5,
                "confirmed": 2.75,
                "waitlisted": 0.25,
                "cancelled": 0.5,
                "late_cancellations": 0.25,
                "fill_rate": 11.0 / 13.0,
                "attendance_rate": 0.6,
                "completed": 1.5,
                "no_shows": 0.5,
                "evaluations_sent": 3.0,
                "evaluations_completed": 2.75,
                "response_rate": 11.0 / 12.0,
                // The alliance's earliest five of six ratings: 18 / 5.
                "satisfaction": 3.6,
                "impact_rate": 0.6,
                "cost_pence": 3125,
            })
        );
        let text = own.to_string();
        for other in [&w.schools["A"], &w.schools["C"], &w.schools["D"]] {
            assert!(!text.contains(other.as_str()), "another school's id in a lead's report");
        }
        assert!(!text.contains("Ash Primary") && !text.contains("Cedar High"));

        // By staff group, only B's bookings: teachers b1, b3, b4, b5; assistants b2, b6.
        let by_group = report(
            &app,
            &w.lead_b.token,
            &format!("/api/v1/reports/engagement?{}&group_by=staff_group", w.window()),
        )
        .await;
        let counts: Vec<(Value, Value)> = by_group["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| (g["bookings"].clone(), g["places"].clone()))
            .collect();
        assert_eq!(counts, vec![(json!(6), Value::Null), (json!(3), Value::Null)]);

        // Another school's lead sees their own school, never B's.
        let a = report(&app, &w.lead_a.token, &path).await;
        assert_eq!(top(&a["groups"])[0]["key"], json!(w.schools["A"]));
        assert_eq!(a["groups"].as_array().unwrap().len(), 1);
        assert_eq!(a["totals"]["bookings"], 5);
    }
}

// ---------------------------------------------------------------------------------------------
// Impact

#[derive(Clone, Copy, Default)]
struct I {
    post: [i64; 2],
    follow: [i64; 2],
    sat: [i64; 2],
    /// Sum of shifts, pairs, respondents.
    conf: [i64; 3],
    imp: [i64; 2],
    guskey: [i64; 5],
    /// The satisfaction sum and count, and the confidence shift sum and pairs, the figures
    /// use when the group releases only its earliest answers in whole steps of 5.
    sat_released: Option<[i64; 2]>,
    conf_released: Option<[i64; 2]>,
}

/// The expected impact figures; `f` gives satisfaction, confidence, impact and the five
/// Guskey levels in that order.
fn impact_json(i: &I, f: [F; 8]) -> Value {
    let levels: Vec<Value> = (0..5)
        .map(|l| {
            // One answer per respondent at each level here: the earliest in whole steps of 5
            // are counted.
            let n = i.guskey[l];
            let answers = if n == 0 {
                json!(0)
            } else {
                fig(n, f[3 + l], json!(n / 5 * 5))
            };
            json!({"level": l + 1, "answers": answers, "respondents": n})
        })
        .collect();
    json!({
        "post_course": {"sent": i.post[0], "completed": i.post[1], "response_rate": ratio(i.post[1], i.post[0])},
        "follow_up": {"sent": i.follow[0], "completed": i.follow[1], "response_rate": ratio(i.follow[1], i.follow[0])},
        "satisfaction": fig(i.sat[1], f[0], {
            let [sum, n] = i.sat_released.unwrap_or(i.sat);
            ratio(sum, n)
        }),
        "satisfaction_respondents": i.sat[1],
        "confidence_shift": fig(i.conf[2], f[1], {
            let [sum, pairs] = i.conf_released.unwrap_or([i.conf[0], i.conf[1]]);
            ratio(sum, pairs)
        }),
        "confidence_respondents": i.conf[2],
        "impact_rate": fig(i.imp[1], f[2], ratio(i.imp[0], i.imp[1])),
        "impact_respondents": i.imp[1],
        "guskey_levels": levels,
    })
}

fn impact_group(key: &str, label: &str, i: I, f: [F; 8]) -> Value {
    let mut g = impact_json(&i, f);
    g["key"] = json!(key);
    g["label"] = json!(label);
    g
}

both_backends! {
    async fn impact_figures_match_and_small_groups_are_suppressed(app: TestApp) {
        let w = build(&app).await;
        use F::{Comp, Few, Show};
        let all = I {
            post: [6, 6],
            follow: [6, 5],
            sat: [21, 6],
            conf: [9, 6, 6],
            imp: [3, 5],
            guskey: [6, 6, 1, 5, 1],
            // Of the six post-course responses (a1, a2, e1, b1, b4, b5 in the order they
            // arrived) the earliest five are used: ratings 5 3 4 2 4 = 18, shifts 2 0 3 1 2 = 8
            // over 5 pairs, and 5 answers at levels 1 and 2.
            sat_released: Some([18, 5]),
            conf_released: Some([8, 5]),
        };
        let path = |g: &str| format!("/api/v1/reports/impact?{}&group_by={g}", w.window());
        let by_school = report(&app, &app.admin_token, &path("school")).await;
        // Level 3 and level 5 had one respondent each.
        let totals_shown = [Show, Show, Show, Show, Show, Few, Show, Few];
        assert_eq!(by_school["totals"], impact_json(&all, totals_shown));
        assert_eq!(by_school["totals"]["confidence_shift"], json!(1.6));
        assert_eq!(by_school["totals"]["follow_up"]["response_rate"], json!(5.0 / 6.0));
        let a = I {
            post: [3, 3],
            follow: [3, 2],
            sat: [12, 3],
            conf: [5, 3, 3],
            imp: [1, 2],
            guskey: [3, 3, 1, 2, 1],
            ..Default::default()
        };
        let b = I {
            post: [3, 3],
            follow: [3, 3],
            sat: [9, 3],
            conf: [4, 3, 3],
            imp: [2, 3],
            guskey: [3, 3, 0, 3, 0],
            ..Default::default()
        };
        assert_eq!(
            by_school["groups"],
            json!([
                impact_group(&w.schools["A"], "Ash Primary", a, [Few; 8]),
                impact_group(&w.schools["B"], "Birch Academy", b, [Few; 8]),
            ])
        );

        // By staff group: one assistant's answers would be the teachers' subtracted from the
        // totals, so the teachers' go too, except where no assistant answered.
        let teacher = I {
            post: [5, 5],
            follow: [5, 5],
            sat: [18, 5],
            conf: [9, 5, 5],
            imp: [3, 5],
            guskey: [5, 5, 1, 5, 1],
            ..Default::default()
        };
        let assistant = I {
            post: [1, 1],
            follow: [1, 0],
            sat: [3, 1],
            conf: [0, 1, 1],
            imp: [0, 0],
            guskey: [1, 1, 0, 0, 0],
            ..Default::default()
        };
        let by_group = report(&app, &app.admin_token, &path("staff_group")).await;
        assert_eq!(
            by_group["groups"],
            json!([
                impact_group(&w.staff_groups["teacher"], "Teacher", teacher,
                    [Comp, Comp, Show, Comp, Comp, Few, Show, Few]),
                impact_group(&w.staff_groups["teaching_assistant"], "Teaching assistant", assistant,
                    [Few, Few, Show, Few, Few, Show, Show, Show]),
            ])
        );
        assert_eq!(by_group["groups"][0]["impact_rate"], json!(0.6));

        // By cluster: North is everyone; the level-3 and level-5 answers stay hidden.
        let by_cluster = report(&app, &app.admin_token, &path("cluster")).await;
        assert_eq!(
            by_cluster["groups"],
            json!([impact_group(&w.clusters["North"], "North", all, totals_shown)])
        );

        // Only the CPD group and admins read impact.
        let r = app.get(&path("school"), Some(&w.lead_a.token)).await;
        expect_problem(r, 403, None).await;
    }
}

both_backends! {
    async fn every_summed_column_has_a_figure_worked_by_hand(app: TestApp) {
        // The alliance's answers give one answer per Guskey level per respondent and one
        // confidence pair per respondent, so answers and respondents (and pairs and
        // respondents) are the same numbers there, and a sum that took one for the other would
        // pass. Here a1 also answers a second level-1 question and a second before/after
        // question (1 -> 5) on the post-course form.
        let w = build(&app).await;
        let response = w.bookings[&("K1", "a1")].clone();
        cal_db(&app, move |conn| {
            use cpd_hub::db::schema::{evaluation_answers as ea, evaluation_questions as eq, evaluation_responses as er};
            let (response, form): (String, String) = er::table
                .filter(er::booking_id.eq(&response))
                .filter(er::kind.eq("post_course"))
                .select((er::id, er::form_id))
                .first(conn)
                .unwrap();
            for (pos, level, key, kind, rating, pair) in [
                (10, 1, "enjoyed", "rating", Some(4), None),
                (11, 2, "confidence_again", "retrospective", None, Some((1, 5))),
            ] {
                let q = uuid::Uuid::now_v7().to_string();
                diesel::insert_into(eq::table)
                    .values((
                        eq::id.eq(&q),
                        eq::form_id.eq(&form),
                        eq::position.eq(pos),
                        eq::key.eq(key),
                        eq::kind.eq(kind),
                        eq::prompt.eq(key),
                        eq::required.eq(false),
                        eq::guskey_level.eq(level),
                    ))
                    .execute(conn)
                    .unwrap();
                diesel::insert_into(ea::table)
                    .values((
                        ea::response_id.eq(&response),
                        ea::question_id.eq(&q),
                        ea::guskey_level.eq(level),
                        ea::rating.eq(rating),
                        ea::before_rating.eq(pair.map(|p: (i32, i32)| p.0)),
                        ea::after_rating.eq(pair.map(|p: (i32, i32)| p.1)),
                    ))
                    .execute(conn)
                    .unwrap();
            }
        })
        .await;
        let path = |g: &str| format!("/api/v1/reports/impact?{}&group_by={g}", w.window());
        let t = report(&app, &app.admin_token, &path("school")).await["totals"].clone();
        // Levels 1 and 2: 7 answers from 6 respondents, of which the earliest 5 respondents
        // (a1 first, with 2 answers) count: 6 answers. Levels 3 and 5 one respondent each.
        let few = json!({"suppressed": true, "reason": TOO_FEW});
        assert_eq!(
            t["guskey_levels"],
            json!([
                {"level": 1, "answers": 6, "respondents": 6},
                {"level": 2, "answers": 6, "respondents": 6},
                {"level": 3, "answers": few, "respondents": 1},
                {"level": 4, "answers": 5, "respondents": 5},
                {"level": 5, "answers": few, "respondents": 1},
            ])
        );
        // Shifts 2 (and now 4), 0, 3, 1, 2, 1 from 6 respondents in the order they arrived; the
        // earliest 5 respondents count: 12 over their 6 pairs (over the 5 respondents it would
        // be 2.4, over all 7 pairs 13 / 7).
        assert_eq!(t["confidence_shift"], json!(2.0));
        assert_eq!(t["confidence_respondents"], 6);
        // Satisfaction is the overall question's alone: unchanged, the earliest five ratings
        // 5 3 4 2 4.
        assert_eq!(t["satisfaction"], json!(3.6));
        assert_eq!(t["satisfaction_respondents"], 6);
        // A course is in the impact report only with an evaluated booking: K3 has bookings but
        // no invitation or answer.
        let by_course = report(&app, &app.admin_token, &path("course")).await;
        let keys: Vec<&str> = by_course["groups"].as_array().unwrap().iter().map(|g| g["key"].as_str().unwrap()).collect();
        assert_eq!(keys, vec![w.course("K1"), w.course("K2")]);
    }
}

// ---------------------------------------------------------------------------------------------
// Erasure, CSV, permissions, bad input, both backends alike

/// Every report the alliance can ask for, as JSON text.
async fn every_report(app: &TestApp, w: &Alliance) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for g in [
        "school",
        "cluster",
        "staff_group",
        "priority",
        "course",
        "term",
        "cluster,staff_group",
        "course,school",
    ] {
        for (kind, token) in [
            ("engagement", app.admin_token.as_str()),
            ("impact", app.admin_token.as_str()),
            ("engagement", w.lead_a.token.as_str()),
        ] {
            let path = format!("/api/v1/reports/{kind}?{}&group_by={g}", w.window());
            let body = report(app, token, &path).await;
            out.push((path, body.to_string()));
        }
    }
    out
}

both_backends! {
    async fn erasure_changes_no_report(app: TestApp) {
        let w = build(&app).await;
        let before = every_report(&app, &w).await;
        let r = app
            .delete(&format!("/api/v1/people/{}", w.people["e1"].id), Some(&app.admin_token))
            .await;
        assert_eq!(r.status(), 204);
        let id = w.people["e1"].id.clone();
        let name: String = cal_db(&app, move |conn| {
            use cpd_hub::db::schema::people;
            people::table.find(id).select(people::name).first(conn).unwrap()
        })
        .await;
        assert_ne!(name, "Person e1", "the person was erased");
        let after = every_report(&app, &w).await;
        for ((path, b), (_, a)) in before.iter().zip(&after) {
            assert_eq!(a, b, "{path} changed when a person was erased");
        }
    }
}

both_backends! {
    async fn reports_asked_at_once_are_the_reports_asked_one_at_a_time(app: TestApp) {
        // Each report may take a second connection from the pool (on PostgreSQL, for the
        // year earlier) but never waits for one: many asked at once, more than the pool
        // holds, all answer, each as it does alone.
        let w = build(&app).await;
        let mut alone = Vec::new();
        for g in ["school", "cluster", "priority", "term", "cluster,staff_group"] {
            for (kind, token) in [
                ("engagement", app.admin_token.as_str()),
                ("impact", app.admin_token.as_str()),
                ("engagement", w.lead_a.token.as_str()),
            ] {
                let path = format!("/api/v1/reports/{kind}?{}&group_by={g}", w.window());
                let body = report(&app, token, &path).await;
                alone.push((path, token, body));
            }
        }
        let asked = alone.iter().cycle().take(alone.len() * 4).map(|(path, token, body)| {
            let app = &app;
            async move {
                let r = app.get(path, Some(token)).await;
                (path, body, r.status().as_u16(), r.text().await.unwrap_or_default())
            }
        });
        let answers = futures_util::future::join_all(asked).await;
        assert_eq!(answers.len(), 60);
        for (path, body, status, text) in answers {
            assert_eq!(status, 200, "{path}: {text}");
            let got: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(&got, body, "{path} asked at once");
        }
    }
}

/// Parses CSV with Python's csv module, checking the byte-order mark and CRLF line ends.
fn python_csv(bytes: &[u8]) -> Vec<Vec<String>> {
    let script = "import csv, io, json, sys\n\
data = sys.stdin.buffer.read()\n\
assert data.startswith(b'\\xef\\xbb\\xbf'), 'no BOM'\n\
text = data.decode('utf-8-sig')\n\
assert text.endswith('\\r\\n') and '\\n' not in text.replace('\\r\\n', ''), 'not CRLF'\n\
print(json.dumps(list(csv.reader(io.StringIO(text, newline='')))))\n";
    let python = crate::tools::python("reports::python_csv").expect("checked by the test");
    let mut child = std::process::Command::new(python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "Python could not read the CSV");
    serde_json::from_slice(&out.stdout).unwrap()
}

both_backends! {
    async fn reports_as_csv_open_in_excel(app: TestApp) {
        if crate::tools::python("reports::reports_as_csv_open_in_excel").is_none() {
            return;
        }
        let w = build(&app).await;
        let path = format!("/api/v1/reports/engagement?{}&group_by=school&format=csv", w.window());
        let r = app.get(&path, Some(&app.admin_token)).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
        assert!(r.headers()["content-disposition"].to_str().unwrap().starts_with("attachment;"));
        let rows = python_csv(&r.bytes().await.unwrap());
        let header: Vec<&str> = rows[0].iter().map(String::as_str).collect();
        assert_eq!(
            header,
            [
                "level", "key", "label", "subgroup_key", "subgroup_label", "places", "bookings",
                "confirmed", "waitlisted", "cancelled", "late_cancellations", "fill_rate",
                "attendance_rate", "completed", "no_shows", "evaluations_sent",
                "evaluations_completed", "response_rate", "satisfaction",
                "satisfaction_respondents", "impact_rate", "impact_respondents",
                "no_show_cost_pence", "late_cancellation_cost_pence", "cost_pence",
                "previous_bookings", "suppressed",
            ]
        );
        let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
        assert_eq!(rows.len(), 4, "a row per school and the totals");
        let a = &rows[1];
        assert_eq!((a[col("key")].as_str(), a[col("label")].as_str()), (w.schools["A"].as_str(), "Ash Primary"));
        assert_eq!(a[col("bookings")], "5");
        assert_eq!(a[col("places")], "", "no places by school");
        assert_eq!(a[col("attendance_rate")], (5.0f64 / 7.0).to_string());
        assert_eq!(a[col("satisfaction")], "", "a suppressed cell is empty");
        assert_eq!(a[col("suppressed")], "satisfaction impact_rate");
        assert_eq!(a[col("previous_bookings")], "1");
        let total = &rows[3];
        assert_eq!((total[col("level")].as_str(), total[col("key")].as_str()), ("0", "total"));
        assert_eq!(total[col("bookings")], "14");
        // The earliest five of six ratings: 18 / 5.
        assert_eq!(total[col("satisfaction")], "3.6");
        assert_eq!(total[col("cost_pence")], "12500");
        assert_eq!(total[col("suppressed")], "");

        // Accept: text/csv asks for the same; two levels give each subgroup a row.
        let r = app
            .client
            .get(format!(
                "{}/api/v1/reports/engagement?{}&group_by=cluster,staff_group",
                app.address,
                w.window()
            ))
            .bearer_auth(&app.admin_token)
            .header("accept", "text/csv")
            .send()
            .await
            .unwrap();
        let rows = python_csv(&r.bytes().await.unwrap());
        let levels: Vec<(&str, &str)> = rows[1..]
            .iter()
            .map(|r| (r[0].as_str(), r[4].as_str()))
            .collect();
        assert_eq!(
            levels,
            [("1", ""), ("2", "Teacher"), ("2", "Teaching assistant"), ("0", "")]
        );

        let r = app
            .get(&format!("/api/v1/reports/impact?{}&group_by=staff_group&format=csv", w.window()), Some(&app.admin_token))
            .await;
        let rows = python_csv(&r.bytes().await.unwrap());
        assert_eq!(rows[0].len(), 5 + 23);
        assert_eq!(rows[0][5], "post_course_sent");
        assert_eq!(rows[0].last().unwrap(), "suppressed");
        assert_eq!(
            rows[1].last().unwrap(),
            "satisfaction confidence_shift guskey_level_1 guskey_level_2 guskey_level_3 guskey_level_5"
        );
    }
}

both_backends! {
    async fn reports_are_for_the_cpd_group_admins_and_school_leads(app: TestApp) {
        let w = build(&app).await;
        let engagement = format!("/api/v1/reports/engagement?{}", w.window());
        let impact = format!("/api/v1/reports/impact?{}", w.window());
        let (_, staff) = app.person_with_roles(&[Role::Staff], Some(&w.schools["A"])).await;
        let (_, course_lead) = app.person_with_roles(&[Role::CourseLead], Some(&w.schools["A"])).await;
        let (_, homeless_lead) = app.person_with_roles(&[Role::SchoolLead], None).await;
        let (_, group) = app.person_with_roles(&[Role::CpdGroup], Some(&w.schools["A"])).await;
        for path in [&engagement, &impact] {
            expect_problem(app.get(path, None).await, 401, None).await;
            for token in [&staff, &course_lead, &homeless_lead] {
                expect_problem(app.get(path, Some(token)).await, 403, None).await;
            }
            for token in [&group, &app.admin_token] {
                let r = report(&app, token, path).await;
                assert_eq!(r["totals"]["bookings"], if path == &engagement { json!(14) } else { Value::Null });
            }
        }
        // The CPD group sees the whole alliance, cold spots included.
        let r = report(&app, &group, &engagement).await;
        assert_eq!(r["scope"], "alliance");
        assert_eq!(r["cold_spots"].as_array().unwrap().len(), 2);
        assert_eq!(report(&app, &w.lead_a.token, &engagement).await["scope"], "school");
        expect_problem(app.get(&impact, Some(&w.lead_b.token)).await, 403, None).await;
    }
}

both_backends! {
    async fn bad_report_requests_name_the_field(app: TestApp) {
        for (query, field) in [
            ("from=2026-13-01", "from"),
            ("to=yesterday", "to"),
            ("from=2027-01-02&to=2027-01-01", "to"),
            ("from=2000-01-01&to=2027-01-01", "to"),
            ("group_by=region", "group_by"),
            ("group_by=school,school", "group_by"),
            ("group_by=school,cluster,term", "group_by"),
            ("format=xml", "format"),
        ] {
            for kind in ["engagement", "impact"] {
                let r = app
                    .get(&format!("/api/v1/reports/{kind}?{query}"), Some(&app.admin_token))
                    .await;
                expect_problem(r, 422, Some(field)).await;
            }
        }
        // Without a window, the current academic year, by school.
        let r = report(&app, &app.admin_token, "/api/v1/reports/engagement").await;
        let today = london_date(Utc::now().naive_utc());
        // The academic year starts on 1 September.
        let year = {
            use chrono::Datelike;
            if today.month() >= 9 { today.year() } else { today.year() - 1 }
        };
        assert_eq!(r["from"], format!("{year}-09-01"));
        assert_eq!(r["to"], format!("{}-08-31", year + 1));
        assert_eq!(r["group_by"], "school");
        assert_eq!(r["totals"]["bookings"], 0);
        assert!(r["totals"]["attendance_rate"].is_null());
    }
}

/// Replaces every id of the alliance with a name, so two databases' reports compare.
fn normalise(text: &str, w: &Alliance) -> String {
    let mut out = text.to_string();
    let mut names: Vec<(String, String)> = Vec::new();
    for (k, v) in &w.schools {
        names.push((v.clone(), format!("school:{k}")));
    }
    for (k, v) in &w.clusters {
        names.push((v.clone(), format!("cluster:{k}")));
    }
    for (k, v) in w.staff_groups.iter().chain(&w.priorities) {
        names.push((v.clone(), format!("ref:{k}")));
    }
    for (k, (v, _)) in &w.courses {
        names.push((v.clone(), format!("course:{k}")));
    }
    names.push((w.c_last_booked.clone(), "c-last-booked".into()));
    for (id, name) in names {
        out = out.replace(&id, &name);
    }
    out
}

#[test]
fn sqlite_and_postgres_reports_are_identical() {
    crate::helpers::run_test(async {
        let Some(pg) = helpers::spawn_app(helpers::Backend::Postgres).await else {
            eprintln!("TEST_POSTGRES_URL is not set: nothing to compare");
            return;
        };
        let lite = helpers::spawn_app(helpers::Backend::Sqlite).await.unwrap();
        let (wl, wp) = (build(&lite).await, build(&pg).await);
        let (rl, rp) = (every_report(&lite, &wl).await, every_report(&pg, &wp).await);
        assert_eq!(rl.len(), rp.len());
        for ((path, l), (_, p)) in rl.iter().zip(&rp) {
            let (l, p) = (normalise(l, &wl), normalise(p, &wp));
            let path = normalise(path, &wl);
            assert_eq!(l, p, "{path} differs between SQLite and PostgreSQL");
        }
        // The bookings were really there.
        assert!(rl[0].1.contains("\"bookings\":14"));
        let _ = (&wl.bookings, &wp.bookings);
    })
}

// ---------------------------------------------------------------------------------------------
// Figures released in whole steps of the threshold

/// One course two years back, alone in its window and its term, with ten teachers of one
/// school (in one cluster, under one priority) booked on it, and the answers written in
/// steps: every group of every grouping holds the same answers as the totals.
struct Steps {
    course: String,
    start: NaiveDateTime,
    school: String,
    cluster: String,
    group: String,
    bookings: Vec<String>,
    window: String,
}

async fn steps_alliance(app: &TestApp) -> Steps {
    let fx = cal_fixture(app).await;
    let cluster = app
        .admin_create("/api/v1/clusters", json!({"name": "Dove Valley"}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let school = app
        .admin_create(
            "/api/v1/schools",
            json!({"urn": 130001, "name": "Hazel Primary", "phase": "primary", "cluster_id": cluster}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let group = fx.group("teacher");
    let c = course(
        app,
        &fx,
        "Questioning",
        &[-800],
        12,
        2000,
        &["send"],
        None,
        false,
    )
    .await;
    let course_id = c["id"].as_str().unwrap().to_string();
    let start = parse_time(c["sessions"][0]["start"].as_str().unwrap());
    let mut bookings = Vec::new();
    for i in 0..10 {
        let who = bk_person(
            app,
            &format!("Teacher {i}"),
            Some(&school),
            Some(&group),
            &[Role::Staff],
        )
        .await;
        let b = book(app, &course_id, &who, true).await;
        bookings.push(b["id"].as_str().unwrap().to_string());
    }
    let day = london_date(start);
    let window = format!(
        "from={}&to={}",
        day - chrono::Duration::days(3),
        day + chrono::Duration::days(3)
    );
    Steps {
        course: course_id,
        start,
        school,
        cluster,
        group,
        bookings,
        window,
    }
}

impl Steps {
    /// Both evaluations of the bookings `range`, answered high (rating 5, confidence 1 -> 5,
    /// used 5) or low (rating 1, confidence 3 -> 3, used 1), after every answer so far.
    async fn answer(&self, app: &TestApp, range: std::ops::Range<usize>, high: bool) {
        let mut rows = Vec::new();
        for b in &self.bookings[range] {
            let (post, used) = if high {
                (answer(5, 1, 5), follow(5, &[]))
            } else {
                (answer(1, 3, 3), follow(1, &[]))
            };
            for (kind, ans) in [("post_course", post), ("follow_up", used)] {
                rows.push((
                    self.course.clone(),
                    b.clone(),
                    kind.to_string(),
                    true,
                    ans,
                    self.school.clone(),
                    self.cluster.clone(),
                    self.group.clone(),
                ));
            }
        }
        cal_db(app, move |conn| write_evaluations(conn, rows)).await;
        // Answers of a later step arrive later.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// The groupings the reports are read by: each alone, and each second to another.
const STEP_GROUPINGS: [&str; 10] = [
    "school",
    "cluster",
    "staff_group",
    "priority",
    "course",
    "term",
    "cluster,staff_group",
    "course,school",
    "school,priority",
    "staff_group,term",
];

/// Every evaluation figure of a report (totals, groups and subgroups), as (where, figure,
/// value), and checks each group has the figures.
fn evaluation_figures(report: &Value, impact: bool) -> Vec<(String, String, Value)> {
    fn walk(g: &Value, at: String, impact: bool, out: &mut Vec<(String, String, Value)>) {
        let names: &[&str] = if impact {
            &["satisfaction", "confidence_shift", "impact_rate"]
        } else {
            &["satisfaction", "impact_rate"]
        };
        for n in names {
            out.push((at.clone(), n.to_string(), g[n].clone()));
        }
        if impact {
            for l in g["guskey_levels"].as_array().unwrap() {
                out.push((
                    at.clone(),
                    format!("guskey_{}", l["level"]),
                    l["answers"].clone(),
                ));
            }
        }
        for s in g["subgroups"].as_array().into_iter().flatten() {
            walk(
                s,
                format!("{at}/{}", s["key"].as_str().unwrap()),
                impact,
                out,
            );
        }
    }
    let mut out = Vec::new();
    walk(&report["totals"], "totals".into(), impact, &mut out);
    let groups = report["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "one group: {report}");
    for g in groups {
        walk(g, g["key"].as_str().unwrap().to_string(), impact, &mut out);
    }
    out
}

/// Every figure read as `expected` gives it (by figure name).
fn assert_figures(figures: &[(String, String, Value)], expected: &[(&str, Value)], what: &str) {
    for (at, name, value) in figures {
        let want = &expected.iter().find(|(n, _)| n == name).unwrap().1;
        assert_eq!(value, want, "{what}: {name} of {at}");
    }
}

async fn step_reports(app: &TestApp, s: &Steps) -> Vec<(String, Vec<(String, String, Value)>)> {
    let mut out = Vec::new();
    for report_kind in ["engagement", "impact"] {
        for g in STEP_GROUPINGS {
            let r = report(
                app,
                &app.admin_token,
                &format!("/api/v1/reports/{report_kind}?{}&group_by={g}", s.window),
            )
            .await;
            out.push((
                format!("{report_kind} by {g}"),
                evaluation_figures(&r, report_kind == "impact"),
            ));
        }
    }
    out
}

both_backends! {
    async fn one_more_answer_moves_no_figure_of_any_grouping(app: TestApp) {
        let s = steps_alliance(&app).await;
        // 7 answers: five high, then two low. The figures use the earliest 5 (all high).
        s.answer(&app, 0..5, true).await;
        s.answer(&app, 5..7, false).await;
        let five_high = [
            ("satisfaction", json!(5.0)),
            ("impact_rate", json!(1.0)),
            ("confidence_shift", json!(4.0)),
            ("guskey_1", json!(5)),
            ("guskey_2", json!(5)),
            ("guskey_3", json!(0)),
            ("guskey_4", json!(5)),
            ("guskey_5", json!(0)),
        ];
        let seven = step_reports(&app, &s).await;
        for (what, figures) in &seven {
            assert_figures(figures, &five_high, what);
        }
        // An 8th answer (low): over all 8 the satisfaction would go from 27/7 to 28/8; the
        // figures are those of the earliest 5 still, every one unmoved.
        s.answer(&app, 7..8, false).await;
        let eight = step_reports(&app, &s).await;
        assert_eq!(seven, eight);
        // Up to 10: the next whole step. Worked by hand over the 10 (five high, five low):
        // satisfaction (5x5 + 5x1) / 10 = 3.0, impact 5 positive of 10 = 0.5, confidence
        // shifts (5x4 + 5x0) / 10 pairs = 2.0, and 10 answers at levels 1, 2 and 4.
        s.answer(&app, 8..10, false).await;
        let ten = step_reports(&app, &s).await;
        let ten_figures = [
            ("satisfaction", json!(3.0)),
            ("impact_rate", json!(0.5)),
            ("confidence_shift", json!(2.0)),
            ("guskey_1", json!(10)),
            ("guskey_2", json!(10)),
            ("guskey_3", json!(0)),
            ("guskey_4", json!(10)),
            ("guskey_5", json!(0)),
        ];
        for (what, figures) in &ten {
            assert_figures(figures, &ten_figures, what);
        }
        // The first booking is withdrawn (declined) after it was answered: its answers leave
        // every figure. Nine are left, four high then five low, and the earliest five are
        // four high and one low: satisfaction (4x5 + 1) / 5 = 4.2, impact 4 of 5 = 0.8,
        // confidence shifts (4x4 + 0) / 5 = 3.2, and 5 answers at levels 1, 2 and 4.
        let declined = admin_post(
            &app,
            &format!("/api/v1/bookings/{}/decline", s.bookings[0]),
            json!({"reason": "Booked in error"}),
        )
        .await;
        assert_eq!(declined["status"], "declined");
        let nine_figures = [
            ("satisfaction", json!(4.2)),
            ("impact_rate", json!(0.8)),
            ("confidence_shift", json!(3.2)),
            ("guskey_1", json!(5)),
            ("guskey_2", json!(5)),
            ("guskey_3", json!(0)),
            ("guskey_4", json!(5)),
            ("guskey_5", json!(0)),
        ];
        for (what, figures) in &step_reports(&app, &s).await {
            assert_figures(figures, &nine_figures, what);
        }
    }
}

/// The mean ratings (`4.2 out of 5`), rates (`75%`) and shifts (`+1.2`) a page or email
/// shows, in order.
fn shown_figures(text: &str) -> Vec<String> {
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == '<' || c == '>' || c == '(' || c == ')')
        .filter(|w| !w.is_empty())
        .collect();
    let mut out = Vec::new();
    for (i, w) in words.iter().enumerate() {
        let number = |s: &str| s.chars().all(|c| c.is_ascii_digit() || c == '.') && s.contains('.');
        if number(w) && words.get(i + 1) == Some(&"out") && words.get(i + 2) == Some(&"of") {
            out.push(format!("{w} out of 5"));
        } else if w.starts_with('+') && number(&w[1..]) {
            out.push(w.to_string());
        }
    }
    out
}

/// The dashboard as a CPD group member (signed in with `cookie`) sees it for the window.
async fn dashboard(app: &TestApp, s: &Steps, cookie: &str) -> String {
    let r = app
        .client
        .get(format!("{}/reports?{}", app.address, s.window))
        .header(
            "cookie",
            format!("{}={cookie}", cpd_hub::auth::session::COOKIE),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

/// The term's digest as a dry run prints it.
async fn digest(app: &TestApp, term_key: &str) -> String {
    let out = crate::digest::cli(
        app,
        &["digest", "--term", "--term-key", term_key, "--dry-run"],
        &[],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

both_backends! {
    async fn the_dashboard_and_the_digest_move_only_in_whole_steps(app: TestApp) {
        let s = steps_alliance(&app).await;
        let member = bk_person(&app, "Gwen Group", None, None, &[Role::CpdGroup]).await;
        let cookie = crate::browser::web_session_cookie(&app, &member.id).await;
        let (term_key, _) = term_by_hand(s.start, 0);
        s.answer(&app, 0..5, true).await;
        s.answer(&app, 5..7, false).await;
        let (page7, mail7) = (dashboard(&app, &s, &cookie).await, digest(&app, &term_key).await);
        // The earliest five: all rated 5, confidence +4.0.
        assert!(shown_figures(&page7).contains(&"5.0 out of 5".to_string()), "{page7}");
        assert!(mail7.contains("- Satisfaction: 5.0 out of 5"), "{mail7}");
        assert!(mail7.contains("- Impact rate: 100%"), "{mail7}");
        assert!(shown_figures(&mail7).contains(&"+4.0".to_string()), "{mail7}");

        s.answer(&app, 7..8, false).await;
        let (page8, mail8) = (dashboard(&app, &s, &cookie).await, digest(&app, &term_key).await);
        assert_eq!(shown_figures(&page7), shown_figures(&page8));
        assert_eq!(shown_figures(&mail7), shown_figures(&mail8));
        assert!(mail8.contains("- Satisfaction: 5.0 out of 5"), "{mail8}");
        assert!(mail8.contains("- Impact rate: 100%"), "{mail8}");

        // Ten answers, five high and five low: 3.0 out of 5, 50%, +2.0 (worked by hand as in
        // the reports' test).
        s.answer(&app, 8..10, false).await;
        let (page10, mail10) = (dashboard(&app, &s, &cookie).await, digest(&app, &term_key).await);
        assert!(shown_figures(&page10).contains(&"3.0 out of 5".to_string()), "{page10}");
        assert!(!shown_figures(&page10).contains(&"5.0 out of 5".to_string()), "{page10}");
        assert!(mail10.contains("- Satisfaction: 3.0 out of 5"), "{mail10}");
        assert!(mail10.contains("- Impact rate: 50%"), "{mail10}");
        assert!(shown_figures(&mail10).contains(&"+2.0".to_string()), "{mail10}");
    }
}
