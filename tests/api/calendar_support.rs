//! Fixtures for the calendar tests: a provider, the default priorities and staff groups, people
//! with roles and tokens, and course bodies. Made through the library, straight into the
//! test's database.

use std::collections::HashMap;

use cpd_hub::db::schema::{courses, priorities, staff_groups};
use cpd_hub::db::DbConn;
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
    app.with_db(f).await
}

/// Creates a provider (through the API) and reads the default priorities and staff groups.
pub async fn cal_fixture(app: &TestApp) -> CalFixture {
    let provider = app
        .admin_create(
            "/api/v1/providers",
            json!({"name": "Barnsley Teaching Alliance", "kind": "teaching_alliance"}),
        )
        .await;
    let provider_id = provider["id"].as_str().unwrap().to_string();
    cal_db(app, move |conn| {
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

/// A person with this name, the given roles and an API token: (id, token).
pub async fn cal_person(app: &TestApp, name: &str, roles: &[Role]) -> (String, String) {
    let new = cpd_hub::store::people::NewPerson {
        name: name.to_string(),
        email: format!("{}@school.test", name.to_lowercase().replace(' ', ".")),
        school_id: None,
        staff_group_id: None,
        roles: roles.to_vec(),
    };
    cal_db(app, move |conn| {
        let id = cpd_hub::db::write_tx(conn, |c| cpd_hub::store::people::insert(c, &new)).unwrap();
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
