//! Fixtures for the booking tests: schools, people with tokens (one at a time or hundreds in
//! one transaction, through the library), published courses made through the API, and the
//! check of every booking invariant in SQL.

use chrono::{Duration, SecondsFormat, Utc};
use cpd_hub::db::schema::{people, schools};
use cpd_hub::db::DbConn;
use cpd_hub::domain::roles::Role;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use serde_json::{json, Value};

use crate::calendar_support::{cal_course, cal_db, cal_fixture, cal_publish_new, CalFixture};
use crate::helpers::{expect_json, TestApp};

/// A person with an API token.
#[derive(Clone, Debug)]
pub struct Who {
    pub id: String,
    pub token: String,
}

impl Who {
    pub fn t(&self) -> Option<&str> {
        Some(&self.token)
    }
}

/// The world most booking tests start from: two primary schools and a secondary school, a
/// school lead for each of the first two, and the calendar fixture.
pub struct World {
    pub fx: CalFixture,
    pub school_a: String,
    pub school_b: String,
    pub school_c: String,
    pub lead_a: Who,
    pub lead_b: Who,
}

/// RFC 3339 for now plus `days` (may be negative).
pub fn days_from_now(days: i64) -> String {
    (Utc::now() + Duration::days(days)).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A session of one morning, `days` from now.
pub fn session_in(days: i64) -> Value {
    let start = Utc::now() + Duration::days(days);
    let end = start + Duration::hours(3);
    json!({
        "start": start.to_rfc3339_opts(SecondsFormat::Secs, true),
        "end": end.to_rfc3339_opts(SecondsFormat::Secs, true),
        "venue": {"name": "Barnsley Teaching Hub", "address": "Church Street, Barnsley", "postcode": "S70 2HZ"},
        "online_url": null
    })
}

/// A school (straight into the database): its id.
pub async fn bk_school(app: &TestApp, name: &str, phase: &str) -> String {
    let (name, phase) = (name.to_string(), phase.to_string());
    cal_db(app, move |conn| insert_school(conn, &name, &phase)).await
}

/// `n` primary schools with URNs 200000, 200001, ... (so their order is known): their ids.
pub async fn bk_schools(app: &TestApp, n: usize) -> Vec<String> {
    cal_db(app, move |conn| {
        (0..n)
            .map(|i| insert_school_urn(conn, &format!("School {i}"), "primary", 200_000 + i as i64))
            .collect()
    })
    .await
}

fn insert_school(conn: &mut DbConn, name: &str, phase: &str) -> String {
    // A counter, not a random number: two schools of one test must never share a URN.
    static NEXT_URN: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(500_000);
    let urn = NEXT_URN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    insert_school_urn(conn, name, phase, urn)
}

fn insert_school_urn(conn: &mut DbConn, name: &str, phase: &str, urn: i64) -> String {
    let id = uuid::Uuid::now_v7().to_string();
    let now = Utc::now().naive_utc();
    diesel::insert_into(schools::table)
        .values((
            schools::id.eq(&id),
            schools::urn.eq(urn),
            schools::name.eq(name),
            schools::phase.eq(phase),
            schools::school_type.eq("Academy"),
            schools::is_open.eq(true),
            schools::created_at.eq(now),
            schools::updated_at.eq(now),
        ))
        .execute(conn)
        .unwrap();
    id
}

fn insert_person(
    conn: &mut DbConn,
    name: &str,
    school_id: Option<&str>,
    staff_group_id: Option<&str>,
    roles: &[Role],
) -> Who {
    let id = uuid::Uuid::now_v7().to_string();
    let now = Utc::now().naive_utc();
    let email = format!(
        "{}.{}@school.test",
        name.to_lowercase().replace(' ', "."),
        &id[24..]
    );
    diesel::insert_into(people::table)
        .values((
            people::id.eq(&id),
            people::name.eq(name),
            people::email.eq(&email),
            people::school_id.eq(school_id),
            people::staff_group_id.eq(staff_group_id),
            people::created_at.eq(now),
            people::updated_at.eq(now),
        ))
        .execute(conn)
        .unwrap();
    for role in roles {
        cpd_hub::store::people::grant_role(conn, &id, *role).unwrap();
    }
    let (_, token) = cpd_hub::store::tokens::create(conn, &id, "test", None).unwrap();
    Who { id, token }
}

/// A person of a school (and staff group) with roles and a token.
pub async fn bk_person(
    app: &TestApp,
    name: &str,
    school_id: Option<&str>,
    staff_group_id: Option<&str>,
    roles: &[Role],
) -> Who {
    let name = name.to_string();
    let school = school_id.map(str::to_string);
    let group = staff_group_id.map(str::to_string);
    let roles = roles.to_vec();
    cal_db(app, move |conn| {
        insert_person(conn, &name, school.as_deref(), group.as_deref(), &roles)
    })
    .await
}

/// `n` staff with tokens in one transaction, spread round-robin over `schools`.
pub async fn bk_people(app: &TestApp, n: usize, prefix: &str, schools: &[&String]) -> Vec<Who> {
    let prefix = prefix.to_string();
    let schools: Vec<String> = schools.iter().map(|s| s.to_string()).collect();
    cal_db(app, move |conn| {
        conn.transaction::<_, diesel::result::Error, _>(|conn| {
            Ok((0..n)
                .map(|i| {
                    let school = (!schools.is_empty()).then(|| schools[i % schools.len()].as_str());
                    insert_person(conn, &format!("{prefix} {i}"), school, None, &[Role::Staff])
                })
                .collect())
        })
        .unwrap()
    })
    .await
}

/// Two primary schools and a secondary, a lead for each primary, the calendar fixture.
pub async fn bk_world(app: &TestApp) -> World {
    let fx = cal_fixture(app).await;
    let school_a = bk_school(app, "Hoyland Common Primary", "primary").await;
    let school_b = bk_school(app, "Penistone St John's Primary", "primary").await;
    let school_c = bk_school(app, "Penistone Grammar School", "secondary").await;
    let lead_a = bk_person(app, "Lena Lead", Some(&school_a), None, &[Role::SchoolLead]).await;
    let lead_b = bk_person(app, "Bob Lead", Some(&school_b), None, &[Role::SchoolLead]).await;
    World {
        fx,
        school_a,
        school_b,
        school_c,
        lead_a,
        lead_b,
    }
}

/// Creates and publishes a course (first session in 30 days) after `adjust` changes the
/// body: its id.
pub async fn bk_course(
    app: &TestApp,
    w: &World,
    title: &str,
    capacity: i64,
    adjust: impl FnOnce(&mut Value),
) -> String {
    let mut body = cal_course(&w.fx, title, vec![session_in(30)]);
    body["capacity"] = json!(capacity);
    adjust(&mut body);
    let c = cal_publish_new(app, body).await;
    c["id"].as_str().unwrap().to_string()
}

/// Books as `who` (`body` may name someone else); the response.
pub async fn bk_book(app: &TestApp, course_id: &str, who: &Who, body: Value) -> reqwest::Response {
    app.post(
        &format!("/api/v1/courses/{course_id}/bookings"),
        who.t(),
        &body,
    )
    .await
}

/// Books oneself, expecting 201: the booking.
pub async fn bk_book_ok(app: &TestApp, course_id: &str, who: &Who) -> Value {
    expect_json(bk_book(app, course_id, who, json!({})).await, 201).await
}

/// A booking as the admin sees it (with history).
pub async fn bk_get(app: &TestApp, booking_id: &str) -> Value {
    app.admin_get(&format!("/api/v1/bookings/{booking_id}"))
        .await
}

/// A course as the admin sees it.
pub async fn bk_course_get(app: &TestApp, course_id: &str) -> Value {
    app.admin_get(&format!("/api/v1/courses/{course_id}")).await
}

/// Outbox rows: (kind, recipient_person_id, subject_id, payload), oldest first.
pub async fn bk_outbox(app: &TestApp) -> Vec<(String, Option<String>, Option<String>, Value)> {
    cal_db(app, |conn| {
        use cpd_hub::db::schema::outbox;
        outbox::table
            .order((outbox::created_at.asc(), outbox::id.asc()))
            .select((
                outbox::kind,
                outbox::recipient_person_id,
                outbox::subject_id,
                outbox::payload,
            ))
            .load::<(String, Option<String>, Option<String>, String)>(conn)
            .unwrap()
            .into_iter()
            .map(|(k, p, s, body)| (k, p, s, serde_json::from_str(&body).unwrap()))
            .collect()
    })
    .await
}

/// The kinds of the outbox messages about one booking.
pub async fn bk_messages_about(app: &TestApp, booking_id: &str) -> Vec<String> {
    bk_outbox(app)
        .await
        .into_iter()
        .filter(|(_, _, s, _)| s.as_deref() == Some(booking_id))
        .map(|(k, _, _, _)| k)
        .collect()
}

/// Counts rows of a query returning one `n` column.
fn count(conn: &mut DbConn, sql: &str) -> i64 {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    diesel::sql_query(sql)
        .get_result::<N>(conn)
        .unwrap_or_else(|e| panic!("{e}: {sql}"))
        .n
}

/// Checks every booking invariant in SQL and panics naming the first that fails:
/// no course over capacity; no school over a cap that applies; no person with two active
/// bookings on a course; no eligible booking waiting while a place is free; on the courses in
/// `fifo_courses` (which never had a cap), no place given to a later request while an earlier
/// one still waits (leaving out requests that went through approval, which are placed as of
/// their original time); the course counters equal the real counts; each booking's history
/// chains from its first status to its current one.
pub async fn bk_check_invariants(app: &TestApp, fifo_courses: &[String]) {
    let fifo = fifo_courses.to_vec();
    let sqlite = app.backend == crate::helpers::Backend::Sqlite;
    cal_db(app, move |conn| {
        let now = "CURRENT_TIMESTAMP";
        let cap_applies =
            format!("c.per_school_cap IS NOT NULL AND (c.per_school_cap_until IS NULL OR c.per_school_cap_until > {now})");
        let checks: Vec<(&str, String)> = vec![
            (
                "a course is over capacity",
                "SELECT COUNT(*) AS n FROM courses c WHERE \
                 (SELECT COUNT(*) FROM bookings b WHERE b.course_id = c.id AND b.status = 'confirmed') > c.capacity"
                    .to_string(),
            ),
            (
                "a school is over the per-school cap",
                format!(
                    "SELECT COUNT(*) AS n FROM courses c WHERE {cap_applies} AND EXISTS ( \
                     SELECT 1 FROM bookings b WHERE b.course_id = c.id AND b.status = 'confirmed' \
                     AND b.admin_override = FALSE AND b.school_id IS NOT NULL \
                     GROUP BY b.school_id HAVING COUNT(*) > c.per_school_cap)"
                ),
            ),
            (
                "a person holds two active bookings on a course",
                "SELECT COUNT(*) AS n FROM (SELECT course_id, person_id FROM bookings \
                 WHERE status IN ('pending_approval','confirmed','waitlisted') \
                 GROUP BY course_id, person_id HAVING COUNT(*) > 1) x"
                    .to_string(),
            ),
            (
                "an eligible booking waits while a place is free",
                format!(
                    "SELECT COUNT(*) AS n FROM bookings w JOIN courses c ON c.id = w.course_id \
                     WHERE w.status = 'waitlisted' AND c.status = 'published' \
                     AND (SELECT COUNT(*) FROM bookings b WHERE b.course_id = c.id AND b.status = 'confirmed') < c.capacity \
                     AND NOT ({cap_applies} AND w.school_id IS NOT NULL AND \
                       (SELECT COUNT(*) FROM bookings s WHERE s.course_id = c.id AND s.status = 'confirmed' \
                        AND s.admin_override = FALSE AND s.school_id = w.school_id) >= c.per_school_cap)"
                ),
            ),
            (
                "a course's counters differ from the real counts",
                "SELECT COUNT(*) AS n FROM courses c WHERE \
                 c.confirmed_count <> (SELECT COUNT(*) FROM bookings b WHERE b.course_id = c.id AND b.status = 'confirmed') \
                 OR c.waitlist_count <> (SELECT COUNT(*) FROM bookings b WHERE b.course_id = c.id AND b.status = 'waitlisted')"
                    .to_string(),
            ),
            (
                "a booking's last history row is not its status",
                "SELECT COUNT(*) AS n FROM bookings b WHERE b.status <> ( \
                 SELECT h.to_status FROM booking_history h WHERE h.booking_id = b.id \
                 ORDER BY h.at DESC, h.id DESC LIMIT 1)"
                    .to_string(),
            ),
            (
                "a booking has no history",
                "SELECT COUNT(*) AS n FROM bookings b WHERE NOT EXISTS \
                 (SELECT 1 FROM booking_history h WHERE h.booking_id = b.id)"
                    .to_string(),
            ),
            (
                "a history row does not follow from the one before",
                "SELECT COUNT(*) AS n FROM booking_history h WHERE h.from_status IS DISTINCT FROM ( \
                 SELECT p.to_status FROM booking_history p WHERE p.booking_id = h.booking_id \
                 AND (p.at < h.at OR (p.at = h.at AND p.id < h.id)) ORDER BY p.at DESC, p.id DESC LIMIT 1)"
                    .to_string(),
            ),
        ];
        for (what, sql) in checks {
            let sql = if sqlite {
                sql.replace("IS DISTINCT FROM", "IS NOT")
                    .replace("= FALSE", "= 0")
                    .replace("CURRENT_TIMESTAMP", "strftime('%Y-%m-%d %H:%M:%f', 'now')")
            } else {
                sql.replace("CURRENT_TIMESTAMP", "(now() AT TIME ZONE 'UTC')")
            };
            assert_eq!(count(conn, &sql), 0, "invariant broken: {what}");
        }
        for course in fifo {
            let sql = format!(
                "SELECT COUNT(*) AS n FROM bookings c JOIN bookings w ON w.course_id = c.course_id \
                 WHERE c.course_id = '{course}' AND c.status = 'confirmed' AND w.status = 'waitlisted' \
                 AND c.admin_override = FALSE \
                 AND (c.requested_at > w.requested_at OR (c.requested_at = w.requested_at AND c.id > w.id)) \
                 AND NOT EXISTS (SELECT 1 FROM booking_history h WHERE h.booking_id = c.id AND h.to_status = 'pending_approval') \
                 AND NOT EXISTS (SELECT 1 FROM booking_history h WHERE h.booking_id = w.id AND h.to_status = 'pending_approval')"
            );
            assert_eq!(count(conn, &sql), 0, "invariant broken: the waiting list of {course} is not first come, first served");
        }
    })
    .await
}

/// Reads one text column of one row, for assertions.
pub async fn bk_text(app: &TestApp, sql: &str) -> String {
    #[derive(QueryableByName)]
    struct T {
        #[diesel(sql_type = Text)]
        t: String,
    }
    let sql = sql.to_string();
    cal_db(app, move |conn| {
        diesel::sql_query(&sql).get_result::<T>(conn).unwrap().t
    })
    .await
}

/// Runs `n` as a count query (one `n` column).
pub async fn bk_count(app: &TestApp, sql: &str) -> i64 {
    let sql = sql.to_string();
    cal_db(app, move |conn| count(conn, &sql)).await
}
