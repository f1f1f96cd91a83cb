//! People, `/me` and API tokens.

use cpd_hub::db::schema::{api_tokens, audit_log, people, person_roles};
use cpd_hub::domain::roles::Role;
use diesel::prelude::*;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::TestApp;

/// A school, inserted through the library (the schools API is not needed for these tests).
pub async fn school(app: &TestApp, urn: i64, name: &str) -> String {
    let name = name.to_string();
    app.with_db(move |c| {
        let seed = cpd_hub::store::seed::SchoolSeed {
            urn,
            name: &name,
            phase: "primary",
            school_type: "Community school",
            cluster_id: None,
            local_authority: "Barnsley",
            postcode: "S70 2HZ",
        };
        cpd_hub::store::seed::ensure_school(c, &seed)
            .expect("school")
            .0
    })
    .await
}

/// The id of a default staff group.
pub async fn staff_group(app: &TestApp, key: &str) -> String {
    let key = key.to_string();
    app.with_db(move |c| {
        cpd_hub::store::seed::staff_group_id(c, &key)
            .unwrap()
            .expect("staff group")
    })
    .await
}

/// How many audit entries of this action there are about this subject.
async fn audited(app: &TestApp, action: &str, subject: &str) -> i64 {
    let (action, subject) = (action.to_string(), subject.to_string());
    app.with_db(move |c| {
        audit_log::table
            .filter(audit_log::action.eq(action))
            .filter(audit_log::subject_id.eq(subject))
            .count()
            .get_result(c)
            .unwrap()
    })
    .await
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_string()
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect()
}

both_backends! {
    async fn admin_creates_lists_reads_and_changes_people(app: TestApp) {
        let t = Some(app.admin_token.as_str());
        let s1 = school(&app, 100001, "Larkspur Primary").await;
        let s2 = school(&app, 100002, "Brackenholt Academy").await;
        let teacher = staff_group(&app, "teacher").await;
        let senco = staff_group(&app, "senco").await;

        let p = app.admin_create("/api/v1/people", json!({
            "name": "  Sam Taylor ", "email": " Sam.Taylor@Larkspur.Example ",
            "school_id": s1, "staff_group_id": teacher,
        })).await;
        assert_eq!(p["name"], "Sam Taylor");
        assert_eq!(p["email"], "sam.taylor@larkspur.example");
        assert_eq!(p["school"], json!({"id": s1, "name": "Larkspur Primary"}));
        assert_eq!(p["staff_group"], json!({"id": teacher, "name": "Teacher"}));
        assert_eq!(p["roles"], json!(["staff"]));
        assert!(p["created_at"].as_str().unwrap().ends_with('Z'));
        assert_eq!(p["created_at"], p["updated_at"]);
        let sam = id_of(&p);
        assert_eq!(app.admin_get(&format!("/api/v1/people/{sam}")).await, p);
        assert_eq!(audited(&app, "person.roles", &sam).await, 0);

        // An admin may give roles beyond staff; that is audit-logged.
        let lead = app.admin_create("/api/v1/people", json!({
            "name": "Lee Lead", "email": "lee@brackenholt.example", "school_id": s2,
            "staff_group_id": senco, "roles": ["school_lead", "staff", "school_lead"],
        })).await;
        assert_eq!(lead["roles"], json!(["staff", "school_lead"]));
        let lee = id_of(&lead);
        assert_eq!(audited(&app, "person.roles", &lee).await, 1);
        let nobody = app.admin_create("/api/v1/people", json!({"name": "Kim Nowhere", "email": "kim@hub.example"})).await;
        assert_eq!(nobody["school"], Value::Null);
        assert_eq!(nobody["staff_group"], Value::Null);

        // The list: the admin, Sam, Lee and Kim, by name, with filters.
        let all = app.admin_get("/api/v1/people").await;
        assert_eq!(all["total"], 4);
        let names: Vec<&str> = all["items"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["Ada Admin", "Kim Nowhere", "Lee Lead", "Sam Taylor"]);
        assert_eq!(all["items"][3], p);
        let page = app.admin_get("/api/v1/people?limit=2&offset=2").await;
        assert_eq!((page["total"].as_i64(), ids(&page)), (Some(4), vec![lee.clone(), sam.clone()]));
        assert_eq!(ids(&app.admin_get(&format!("/api/v1/people?school_id={s1}")).await), [sam.as_str()]);
        assert_eq!(ids(&app.admin_get(&format!("/api/v1/people?staff_group_id={senco}")).await), [lee.as_str()]);
        assert_eq!(ids(&app.admin_get("/api/v1/people?role=school_lead").await), [lee.as_str()]);
        assert_eq!(app.admin_get("/api/v1/people?role=admin").await["total"], 1);
        assert_eq!(app.admin_get("/api/v1/people?role=staff").await["total"], 4);
        assert_eq!(ids(&app.admin_get("/api/v1/people?q=TAYLOR").await), [sam.as_str()]);
        assert_eq!(ids(&app.admin_get("/api/v1/people?q=brackenholt.example").await), [lee.as_str()]);
        assert_eq!(app.admin_get("/api/v1/people?q=100%25").await["total"], 0);
        assert_eq!(app.admin_get(&format!("/api/v1/people?school_id={s1}&role=school_lead")).await["total"], 0);

        // Patch: absent fields stay, null clears, a new school and roles (admin).
        let r = app.patch(&format!("/api/v1/people/{sam}"), t, &json!({
            "name": "Samantha Taylor", "staff_group_id": null, "school_id": s2,
            "roles": ["course_lead"],
        })).await;
        let changed = crate::helpers::expect_json(r, 200).await;
        assert_eq!(changed["name"], "Samantha Taylor");
        assert_eq!(changed["email"], "sam.taylor@larkspur.example");
        assert_eq!(changed["staff_group"], Value::Null);
        assert_eq!(changed["school"]["id"], s2.as_str());
        assert_eq!(changed["roles"], json!(["staff", "course_lead"]));
        assert_eq!(audited(&app, "person.roles", &sam).await, 1);
        // Changing the email to its own value in another case is not a duplicate.
        let r = app.patch(&format!("/api/v1/people/{sam}"), t, &json!({"email": "SAM.TAYLOR@larkspur.example"})).await;
        assert_eq!(crate::helpers::expect_json(r, 200).await["email"], "sam.taylor@larkspur.example");
        // The same roles again change nothing and log nothing.
        let r = app.patch(&format!("/api/v1/people/{sam}"), t, &json!({"roles": ["course_lead", "staff"]})).await;
        crate::helpers::expect_json(r, 200).await;
        assert_eq!(audited(&app, "person.roles", &sam).await, 1);
    }
}

both_backends! {
    async fn bad_people_input_is_refused_and_changes_nothing(app: TestApp) {
        let t = Some(app.admin_token.as_str());
        let s1 = school(&app, 100001, "Larkspur Primary").await;
        let ok = json!({"name": "Sam Taylor", "email": "sam@larkspur.example", "school_id": s1});
        let with = |k: &str, v: Value| { let mut b = ok.clone(); b[k] = v; b };
        // Malformed JSON, wrong content type.
        let r = app.client.post(format!("{}/api/v1/people", app.address))
            .bearer_auth(&app.admin_token).header("content-type", "application/json")
            .body("{\"name\": \"Sam\",").send().await.unwrap();
        expect_problem(r, 400, None).await;
        let r = app.client.post(format!("{}/api/v1/people", app.address))
            .bearer_auth(&app.admin_token).header("content-type", "text/plain")
            .body("name=Sam").send().await.unwrap();
        expect_problem(r, 415, None).await;
        // Missing and invalid fields, each named.
        expect_problem(app.post("/api/v1/people", t, &json!({"email": "a@b.example"})).await, 422, Some("name")).await;
        expect_problem(app.post("/api/v1/people", t, &json!({"name": "A"})).await, 422, Some("email")).await;
        expect_problem(app.post("/api/v1/people", t, &with("name", json!("   "))).await, 422, Some("name")).await;
        expect_problem(app.post("/api/v1/people", t, &with("name", json!(7))).await, 422, Some("name")).await;
        expect_problem(app.post("/api/v1/people", t, &with("name", json!("x".repeat(201)))).await, 422, Some("name")).await;
        for bad in ["nobody", "a@b", "a b@c.example", "@school.example", ""] {
            expect_problem(app.post("/api/v1/people", t, &with("email", json!(bad))).await, 422, Some("email")).await;
        }
        expect_problem(app.post("/api/v1/people", t, &with("school_id", json!("no-such-school"))).await, 422, Some("school_id")).await;
        expect_problem(app.post("/api/v1/people", t, &with("staff_group_id", json!("no-such-group"))).await, 422, Some("staff_group_id")).await;
        expect_problem(app.post("/api/v1/people", t, &with("roles", json!(["wizard"]))).await, 422, Some("roles[0]")).await;
        expect_problem(app.post("/api/v1/people", t, &with("nickname", json!("Sammy"))).await, 422, None).await;
        // No token, or one that is not valid.
        expect_problem(app.post("/api/v1/people", None, &ok).await, 401, None).await;
        expect_problem(app.get("/api/v1/people", None).await, 401, None).await;
        expect_problem(app.get("/api/v1/people", Some("cpd_not_a_token")).await, 401, None).await;
        // Bad list parameters.
        expect_problem(app.get("/api/v1/people?role=wizard", t).await, 422, Some("role")).await;
        expect_problem(app.get("/api/v1/people?limit=0", t).await, 422, Some("limit")).await;
        expect_problem(app.get("/api/v1/people?offset=-1", t).await, 422, Some("offset")).await;
        assert_eq!(app.admin_get("/api/v1/people").await["total"], 1, "nothing was created");

        // A duplicate email in another case.
        let sam = id_of(&app.admin_create("/api/v1/people", ok.clone()).await);
        let p = expect_problem(app.post("/api/v1/people", t, &with("email", json!(" SAM@Larkspur.EXAMPLE"))).await, 409, None).await;
        assert_eq!(p["code"], "duplicate_email");
        let other = id_of(&app.admin_create("/api/v1/people", with("email", json!("other@larkspur.example"))).await);
        let p = expect_problem(app.patch(&format!("/api/v1/people/{other}"), t, &json!({"email": "Sam@larkspur.example"})).await, 409, None).await;
        assert_eq!(p["code"], "duplicate_email");
        // Bad patches.
        let path = format!("/api/v1/people/{sam}");
        expect_problem(app.patch(&path, t, &json!({"email": "not an email"})).await, 422, Some("email")).await;
        expect_problem(app.patch(&path, t, &json!({"name": ""})).await, 422, Some("name")).await;
        expect_problem(app.patch(&path, t, &json!({"school_id": "nope"})).await, 422, Some("school_id")).await;
        expect_problem(app.patch(&path, t, &json!({"staff_group_id": "nope"})).await, 422, Some("staff_group_id")).await;
        expect_problem(app.patch(&path, t, &json!({"roles": "admin"})).await, 422, Some("roles")).await;
        let unchanged = app.admin_get(&path).await;
        assert_eq!((unchanged["name"].as_str(), unchanged["email"].as_str()), (Some("Sam Taylor"), Some("sam@larkspur.example")));
        assert_eq!(unchanged["school"]["id"], s1.as_str());
        // Unknown ids.
        expect_problem(app.get("/api/v1/people/nope", t).await, 404, None).await;
        expect_problem(app.patch("/api/v1/people/nope", t, &json!({"name": "X"})).await, 404, None).await;
        expect_problem(app.delete("/api/v1/people/nope", t).await, 404, None).await;
        assert_eq!(app.admin_get("/api/v1/people").await["total"], 3);
    }
}

both_backends! {
    async fn people_see_only_what_they_may(app: TestApp) {
        let a = school(&app, 100001, "Larkspur Primary").await;
        let b = school(&app, 100002, "Brackenholt Academy").await;
        let (lead_a, lead_a_t) = app.person_with_roles(&[Role::SchoolLead], Some(&a)).await;
        let (_lead_b, lead_b_t) = app.person_with_roles(&[Role::SchoolLead], Some(&b)).await;
        let (staff_a, staff_a_t) = app.person_with_roles(&[], Some(&a)).await;
        let (staff_b, staff_b_t) = app.person_with_roles(&[Role::Staff], Some(&b)).await;
        let (_group, group_t) = app.person_with_roles(&[Role::CpdGroup], None).await;
        let get = |id: &str, token: &str| {
            let (id, token) = (id.to_string(), token.to_string());
            let app = &app;
            async move { app.get(&format!("/api/v1/people/{id}"), Some(&token)).await.status().as_u16() }
        };

        // Staff see themselves only; other records are 404, not 403.
        assert_eq!(get(&staff_a, &staff_a_t).await, 200);
        let p = expect_problem(app.get(&format!("/api/v1/people/{staff_b}"), Some(&staff_a_t)).await, 404, None).await;
        assert!(p["code"].is_null());
        assert_eq!(get(&lead_a, &staff_a_t).await, 404);
        let mine = expect_json(app.get("/api/v1/people", Some(&staff_a_t)).await, 200).await;
        assert_eq!((mine["total"].as_i64(), ids(&mine)), (Some(1), vec![staff_a.clone()]));
        // A school lead sees their own school, and another school's people are 404.
        assert_eq!(get(&staff_a, &lead_a_t).await, 200);
        assert_eq!(get(&staff_b, &lead_a_t).await, 404);
        assert_eq!(get(&staff_b, &lead_b_t).await, 200);
        let school_a = expect_json(app.get("/api/v1/people", Some(&lead_a_t)).await, 200).await;
        assert_eq!(school_a["total"], 2);
        assert!(ids(&school_a).contains(&staff_a) && ids(&school_a).contains(&lead_a));
        let none = expect_json(app.get(&format!("/api/v1/people?school_id={b}"), Some(&lead_a_t)).await, 200).await;
        assert_eq!(none["total"], 0);
        // The CPD group reads everyone, but changes no one.
        assert_eq!(get(&staff_b, &group_t).await, 200);
        assert_eq!(expect_json(app.get("/api/v1/people", Some(&group_t)).await, 200).await["total"], 6);
        expect_problem(app.patch(&format!("/api/v1/people/{staff_b}"), Some(&group_t), &json!({"name": "X"})).await, 403, None).await;

        // A school lead adds people to their own school only, and only as staff.
        let new = |school: &str, email: &str| json!({"name": "New Person", "email": email, "school_id": school});
        let created = expect_json(app.post("/api/v1/people", Some(&lead_a_t), &new(&a, "new@larkspur.example")).await, 201).await;
        assert_eq!(created["school"]["id"], a.as_str());
        assert_eq!(created["roles"], json!(["staff"]));
        let ok_staff = json!({"name": "Staff Role", "email": "staffrole@larkspur.example", "school_id": a, "roles": ["staff"]});
        expect_json(app.post("/api/v1/people", Some(&lead_a_t), &ok_staff).await, 201).await;
        expect_problem(app.post("/api/v1/people", Some(&lead_a_t), &new(&b, "x1@larkspur.example")).await, 403, None).await;
        expect_problem(app.post("/api/v1/people", Some(&lead_a_t), &json!({"name": "N", "email": "x2@larkspur.example"})).await, 403, None).await;
        let mut with_role = new(&a, "x3@larkspur.example");
        with_role["roles"] = json!(["school_lead"]);
        expect_problem(app.post("/api/v1/people", Some(&lead_a_t), &with_role).await, 403, None).await;
        expect_problem(app.post("/api/v1/people", Some(&staff_a_t), &new(&a, "x4@larkspur.example")).await, 403, None).await;
        let found = app.admin_get("/api/v1/people?q=x").await;
        assert!(found["items"].as_array().unwrap().iter().all(|p| !p["email"].as_str().unwrap().starts_with('x')), "{found}");

        // Changes: self and own school's lead may edit; roles, school moves and erasure are for admins.
        let staff_a_path = format!("/api/v1/people/{staff_a}");
        let r = app.patch(&staff_a_path, Some(&staff_a_t), &json!({"name": "Renamed Myself"})).await;
        assert_eq!(expect_json(r, 200).await["name"], "Renamed Myself");
        let ta = staff_group(&app, "teaching_assistant").await;
        let r = app.patch(&staff_a_path, Some(&lead_a_t), &json!({"staff_group_id": ta})).await;
        assert_eq!(expect_json(r, 200).await["staff_group"]["id"], ta.as_str());
        expect_problem(app.patch(&staff_a_path, Some(&staff_a_t), &json!({"roles": ["admin"]})).await, 403, None).await;
        expect_problem(app.patch(&staff_a_path, Some(&lead_a_t), &json!({"roles": ["school_lead"]})).await, 403, None).await;
        expect_problem(app.patch(&staff_a_path, Some(&lead_a_t), &json!({"school_id": b})).await, 403, None).await;
        expect_problem(app.patch(&format!("/api/v1/people/{lead_a}"), Some(&lead_a_t), &json!({"school_id": b})).await, 403, None).await;
        expect_problem(app.patch(&staff_a_path, Some(&staff_b_t), &json!({"name": "X"})).await, 404, None).await;
        expect_problem(app.patch(&staff_a_path, Some(&lead_b_t), &json!({"name": "X"})).await, 404, None).await;
        // Sending the roles and school they already have is not a change.
        let r = app.patch(&staff_a_path, Some(&lead_a_t), &json!({"roles": ["staff"], "school_id": a})).await;
        expect_json(r, 200).await;
        expect_problem(app.delete(&staff_a_path, Some(&lead_a_t)).await, 403, None).await;
        expect_problem(app.delete(&staff_a_path, Some(&staff_a_t)).await, 403, None).await;
        expect_problem(app.delete(&staff_a_path, Some(&staff_b_t)).await, 404, None).await;
        let still = app.admin_get(&staff_a_path).await;
        assert_eq!((still["name"].as_str(), still["roles"].clone()), (Some("Renamed Myself"), json!(["staff"])));
        assert_eq!(still["school"]["id"], a.as_str());
    }
}

both_backends! {
    async fn erasing_a_person_removes_their_data_but_keeps_the_row(app: TestApp) {
        let t = Some(app.admin_token.as_str());
        let a = school(&app, 100001, "Larkspur Primary").await;
        let teacher = staff_group(&app, "teacher").await;
        let p = app.admin_create("/api/v1/people", json!({
            "name": "Erin Erase", "email": "Erin.Erase@Larkspur.example", "school_id": a,
            "staff_group_id": teacher, "roles": ["course_lead"],
        })).await;
        let erin = id_of(&p);
        let erin_token = app.with_db({
            let erin = erin.clone();
            move |c| cpd_hub::store::tokens::create(c, &erin, "phone", None).unwrap().1
        }).await;
        assert_eq!(app.get("/api/v1/me", Some(&erin_token)).await.status(), 200);

        let r = app.delete(&format!("/api/v1/people/{erin}"), t).await;
        assert_eq!(r.status(), 204);
        assert!(r.text().await.unwrap().is_empty());
        expect_problem(app.get(&format!("/api/v1/people/{erin}"), t).await, 404, None).await;
        expect_problem(app.patch(&format!("/api/v1/people/{erin}"), t, &json!({"name": "Back"})).await, 404, None).await;
        expect_problem(app.delete(&format!("/api/v1/people/{erin}"), t).await, 404, None).await;
        let list = app.admin_get("/api/v1/people").await;
        assert_eq!(list["total"], 1);
        assert!(!ids(&list).contains(&erin));
        expect_problem(app.get("/api/v1/me", Some(&erin_token)).await, 401, None).await;

        // The row stays for anonymous counts, without the name, email, roles or live tokens.
        let id = erin.clone();
        let (row, with_old_email, roles, live_tokens) = app.with_db(move |c| {
            let row: (String, String, Option<String>, Option<String>, bool) = people::table
                .find(&id)
                .select((people::name, people::email, people::school_id, people::staff_group_id, people::erased_at.is_not_null()))
                .first(c).unwrap();
            let with_old_email: i64 = people::table
                .filter(people::email.like("%erin%"))
                .count().get_result(c).unwrap();
            let roles: i64 = person_roles::table.filter(person_roles::person_id.eq(&id)).count().get_result(c).unwrap();
            let live: i64 = api_tokens::table
                .filter(api_tokens::person_id.eq(&id)).filter(api_tokens::revoked_at.is_null())
                .count().get_result(c).unwrap();
            (row, with_old_email, roles, live)
        }).await;
        assert_eq!(row.0, "Erased person");
        assert_eq!(row.1, format!("erased-{erin}@erased.invalid"));
        assert_eq!((row.2.as_deref(), row.3.as_deref(), row.4), (Some(a.as_str()), Some(teacher.as_str()), true));
        assert_eq!((with_old_email, roles, live_tokens), (0, 0, 0));
        assert_eq!(audited(&app, "person.erase", &erin).await, 1);
        // The address is free again.
        app.admin_create("/api/v1/people", json!({"name": "Erin Again", "email": "erin.erase@larkspur.example"})).await;

        // The only admin can neither be erased nor lose the role.
        let me = expect_json(app.get("/api/v1/me", t).await, 200).await;
        let admin_id = me["person"]["id"].as_str().unwrap().to_string();
        let p = expect_problem(app.delete(&format!("/api/v1/people/{admin_id}"), t).await, 409, None).await;
        assert_eq!(p["code"], "last_admin");
        let p = expect_problem(app.patch(&format!("/api/v1/people/{admin_id}"), t, &json!({"roles": ["staff"]})).await, 409, None).await;
        assert_eq!(p["code"], "last_admin");
        assert_eq!(app.get("/api/v1/me", t).await.status(), 200);
        // With a second admin, the first may step down.
        let (_, other_admin) = app.person_with_roles(&[Role::Admin], None).await;
        let r = app.patch(&format!("/api/v1/people/{admin_id}"), Some(&other_admin), &json!({"roles": ["staff"]})).await;
        assert_eq!(expect_json(r, 200).await["roles"], json!(["staff"]));
    }
}

both_backends! {
    async fn me_and_api_tokens_round_trip(app: TestApp) {
        let t = Some(app.admin_token.as_str());
        let a = school(&app, 100001, "Larkspur Primary").await;
        let me = expect_json(app.get("/api/v1/me", t).await, 200).await;
        assert_eq!(me["person"]["email"], "admin@alliance.test");
        assert_eq!(me["roles"], json!(["staff", "admin"]));
        assert_eq!(me["school"], Value::Null);
        let (staff, staff_t) = app.person_with_roles(&[], Some(&a)).await;
        let me = expect_json(app.get("/api/v1/me", Some(&staff_t)).await, 200).await;
        assert_eq!(me["person"]["id"], staff.as_str());
        assert_eq!(me["school"], json!({"id": a, "name": "Larkspur Primary"}));
        assert_eq!(me["roles"], json!(["staff"]));
        expect_problem(app.get("/api/v1/me", None).await, 401, None).await;

        // A new token is shown once, works as Bearer, and is listed without its secret.
        let created = expect_json(app.post("/api/v1/me/tokens", Some(&staff_t), &json!({"name": "timetable sync"})).await, 201).await;
        let secret = created["token"].as_str().unwrap().to_string();
        assert!(secret.starts_with("cpd_") && secret.len() >= 4 + 64);
        assert_eq!(created["name"], "timetable sync");
        assert_eq!(created["expires_at"], Value::Null);
        let token_id = id_of(&created);
        assert_eq!(audited(&app, "token.create", &token_id).await, 1);
        let me = expect_json(app.get("/api/v1/me", Some(&secret)).await, 200).await;
        assert_eq!(me["person"]["id"], staff.as_str());
        let list = expect_json(app.get("/api/v1/me/tokens", Some(&staff_t)).await, 200).await;
        assert_eq!(list["total"], 2);
        assert_eq!(list["items"][0]["id"], token_id.as_str());
        let text = list.to_string();
        assert!(!text.contains(&secret) && !text.contains("token_hash") && list["items"][0].get("token").is_none());
        // Someone else's tokens are neither listed nor revocable.
        assert_eq!(expect_json(app.get("/api/v1/me/tokens", t).await, 200).await["total"], 1);
        expect_problem(app.delete(&format!("/api/v1/me/tokens/{token_id}"), t).await, 404, None).await;
        assert_eq!(app.get("/api/v1/me", Some(&secret)).await.status(), 200);

        // With an expiry in the future it works; revoked, it does not.
        let later = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
        let dated = expect_json(app.post("/api/v1/me/tokens", Some(&staff_t), &json!({"name": "dated", "expires_at": later})).await, 201).await;
        assert!(dated["expires_at"].as_str().unwrap().ends_with('Z'));
        assert_eq!(app.get("/api/v1/me", Some(dated["token"].as_str().unwrap())).await.status(), 200);
        let r = app.delete(&format!("/api/v1/me/tokens/{token_id}"), Some(&staff_t)).await;
        assert_eq!(r.status(), 204);
        assert_eq!(audited(&app, "token.revoke", &token_id).await, 1);
        expect_problem(app.get("/api/v1/me", Some(&secret)).await, 401, None).await;
        expect_problem(app.get("/api/v1/people", Some(&secret)).await, 401, None).await;
        expect_problem(app.delete(&format!("/api/v1/me/tokens/{token_id}"), Some(&staff_t)).await, 404, None).await;
        assert_eq!(expect_json(app.get("/api/v1/me/tokens", Some(&staff_t)).await, 200).await["total"], 2);

        // An expired token is refused (made through the library: the API refuses past expiries).
        let expired = app.with_db({
            let staff = staff.clone();
            move |c| {
                let past = cpd_hub::domain::time::now() - chrono::Duration::minutes(1);
                cpd_hub::store::tokens::create(c, &staff, "old", Some(past)).unwrap().1
            }
        }).await;
        expect_problem(app.get("/api/v1/me", Some(&expired)).await, 401, None).await;

        // Bad token requests.
        let s = Some(staff_t.as_str());
        expect_problem(app.post("/api/v1/me/tokens", s, &json!({})).await, 422, Some("name")).await;
        expect_problem(app.post("/api/v1/me/tokens", s, &json!({"name": "  "})).await, 422, Some("name")).await;
        let yesterday = (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339();
        expect_problem(app.post("/api/v1/me/tokens", s, &json!({"name": "x", "expires_at": yesterday})).await, 422, Some("expires_at")).await;
        expect_problem(app.post("/api/v1/me/tokens", s, &json!({"name": "x", "expires_at": "tomorrow"})).await, 422, Some("expires_at")).await;
        expect_problem(app.post("/api/v1/me/tokens", None, &json!({"name": "x"})).await, 401, None).await;
        assert_eq!(expect_json(app.get("/api/v1/me/tokens", s).await, 200).await["total"], 3);
    }
}

both_backends! {
    async fn openapi_lists_the_people_routes(app: TestApp) {
        let doc = app.admin_get("/api/openapi.json").await;
        let paths = doc["paths"].as_object().unwrap();
        for p in ["/api/v1/people", "/api/v1/people/{id}", "/api/v1/me", "/api/v1/me/tokens", "/api/v1/me/tokens/{id}"] {
            assert!(paths.contains_key(p), "{p} missing from OpenAPI");
        }
        for m in ["get", "patch", "delete"] {
            assert!(paths["/api/v1/people/{id}"].get(m).is_some(), "{m}");
        }
    }
}
