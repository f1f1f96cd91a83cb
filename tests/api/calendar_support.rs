//! Fixtures for the calendar tests: a provider, the default priorities and staff groups, people
//! with roles and tokens, and course bodies. Made through the library, straight into the
//! test's database.

use std::collections::HashMap;

use cpd_hub::db::schema::{courses, people, priorities, providers, staff_groups};
use cpd_hub::db::{DbConn, Manager};
use cpd_hub::domain::roles::Role;
use diesel::prelude::*;
use serde_json::{json, Value};

use crate::helpers::{expect_json, TestApp};

/// Ids the calendar tests need.
pub struct CalFixture {
    pub provider_id: String,
    /// Priority ids by key (`send`, `leadership`, ...).
    pub priorities: HashMap<String, String>,
    /// Staff group ids by key (`teacher`, `senco`, ...).
    pub staff_groups: HashMap<String, String>,
}

impl CalFixture {
    pub fn priority(&self, key: &str) -> String {
        self.priorities[key].clone()
    }

    pub fn group(&self, key: &str) -> String {
        self.staff_groups[key].clone()
    }
}

/// Runs database work for a test off the async runtime.
pub async fn cal_db<T: Send + 'static>(
    app: &TestApp,
    f: impl FnOnce(&mut DbConn) -> T + Send + 'static,
) -> T {
    let url = app.db.url().to_string();
    tokio::task::spawn_blocking(move || {
        let mut conn = Manager::new(&url).unwrap().open().unwrap();
        f(&mut conn)
    })
    .await
    .unwrap()
}

/// Inserts a provider and reads the default priorities and staff groups.
pub async fn cal_fixture(app: &TestApp) -> CalFixture {
    cal_db(app, |conn| {
        let provider_id = uuid::Uuid::now_v7().to_string();
        let now = chrono::Utc::now().naive_utc();
        diesel::insert_into(providers::table)
            .values((
                providers::id.eq(&provider_id),
                providers::name.eq("Barnsley Teaching Alliance"),
                providers::kind.eq("teaching_alliance"),
                providers::created_at.eq(now),
                providers::updated_at.eq(now),
            ))
            .execute(conn)
            .unwrap();
        let priorities: HashMap<String, String> = priorities::table
            .select((priorities::key, priorities::id))
            .load::<(String, String)>(conn)
            .unwrap()
            .into_iter()
            .collect();
        let staff_groups: HashMap<String, String> = staff_groups::table
            .select((staff_groups::key, staff_groups::id))
            .load::<(String, String)>(conn)
            .unwrap()
            .into_iter()
            .collect();
        CalFixture {
            provider_id,
            priorities,
            staff_groups,
        }
    })
    .await
}

/// A person with the given roles and an API token: (id, token).
pub async fn cal_person(app: &TestApp, name: &str, roles: &[Role]) -> (String, String) {
    let name = name.to_string();
    let roles = roles.to_vec();
    cal_db(app, move |conn| {
        let id = uuid::Uuid::now_v7().to_string();
        let now = chrono::Utc::now().naive_utc();
        let email = format!("{}@school.test", name.to_lowercase().replace(' ', "."));
        diesel::insert_into(people::table)
            .values((
                people::id.eq(&id),
                people::name.eq(&name),
                people::email.eq(&email),
                people::created_at.eq(now),
                people::updated_at.eq(now),
            ))
            .execute(conn)
            .unwrap();
        for role in roles {
            cpd_hub::store::people::grant_role(conn, &id, role).unwrap();
        }
        let (_, token) = cpd_hub::store::tokens::create(conn, &id, "test", None).unwrap();
        (id, token)
    })
    .await
}

/// A cluster: its id.
pub async fn cal_cluster(app: &TestApp, name: &str) -> String {
    let c = app
        .admin_create("/api/v1/clusters", json!({ "name": name }))
        .await;
    c["id"].as_str().unwrap().to_string()
}

/// Sets a course's confirmed places and waiting list directly, as the bookings code will.
pub async fn cal_set_counts(app: &TestApp, course_id: &str, confirmed: i32, waiting: i32) {
    let id = course_id.to_string();
    cal_db(app, move |conn| {
        diesel::update(courses::table.find(&id))
            .set((
                courses::confirmed_count.eq(confirmed),
                courses::waitlist_count.eq(waiting),
            ))
            .execute(conn)
            .unwrap();
    })
    .await
}

/// An in-person session.
pub fn cal_session(start: &str, end: &str) -> Value {
    json!({
        "start": start,
        "end": end,
        "venue": {"name": "Barnsley Teaching Hub", "address": "Church Street, Barnsley", "postcode": "s702hz"},
        "online_url": null
    })
}

/// A valid in-person course body with the given title and sessions.
pub fn cal_course(fx: &CalFixture, title: &str, sessions: Vec<Value>) -> Value {
    json!({
        "title": title,
        "summary": "A practical day.",
        "provider_id": fx.provider_id,
        "lead_ids": [],
        "priority_ids": [],
        "staff_group_ids": [],
        "phases": [],
        "format": "in_person",
        "capacity": 30,
        "per_school_cap": null,
        "price_pence": 0,
        "booking_opens": null,
        "booking_closes": null,
        "cancellation_deadline": null,
        "requires_approval": false,
        "sessions": sessions
    })
}

/// Creates a course as the admin (expecting 201) and returns it.
pub async fn cal_create(app: &TestApp, body: Value) -> Value {
    app.admin_create("/api/v1/courses", body).await
}

/// Creates and publishes a course; returns it as published.
pub async fn cal_publish_new(app: &TestApp, body: Value) -> Value {
    let c = cal_create(app, body).await;
    cal_publish(app, c["id"].as_str().unwrap()).await
}

/// Publishes a course as the admin (expecting 200).
pub async fn cal_publish(app: &TestApp, id: &str) -> Value {
    let r = app
        .post(
            &format!("/api/v1/courses/{id}/publish"),
            Some(&app.admin_token),
            &json!({}),
        )
        .await;
    expect_json(r, 200).await
}

/// The titles of a list response, in order.
pub fn cal_titles(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["title"].as_str().unwrap().to_string())
        .collect()
}
