use serde_json::json;

use crate::both_backends;

both_backends! {
    async fn clusters_crud(app: TestApp) {
        let c = app.admin_create("/api/v1/clusters", json!({"name": "Penistone", "description": "West"})).await;
        assert_eq!(c["name"], "Penistone");
        let id = c["id"].as_str().unwrap();
        let got = app.admin_get(&format!("/api/v1/clusters/{id}")).await;
        assert_eq!(got, c);
        let patched = expect_json(
            app.patch(&format!("/api/v1/clusters/{id}"), Some(&app.admin_token), &json!({"description": "Western villages"})).await,
            200,
        ).await;
        assert_eq!(patched["name"], "Penistone");
        assert_eq!(patched["description"], "Western villages");
        app.admin_create("/api/v1/clusters", json!({"name": "Dearne"})).await;
        let list = app.admin_get("/api/v1/clusters?limit=1").await;
        assert_eq!(list["total"], 2);
        assert_eq!(list["items"].as_array().unwrap().len(), 1);
        assert_eq!(list["items"][0]["name"], "Dearne");
        let found = app.admin_get("/api/v1/clusters?q=PENI").await;
        assert_eq!(found["total"], 1);
    }
}

both_backends! {
    async fn clusters_bad_input(app: TestApp) {
        let t = Some(app.admin_token.as_str());
        // Malformed JSON.
        let r = app.client.post(format!("{}/api/v1/clusters", app.address))
            .bearer_auth(&app.admin_token).header("content-type", "application/json")
            .body("{\"name\": ").send().await.unwrap();
        expect_problem(r, 400, None).await;
        // Wrong content type.
        let r = app.client.post(format!("{}/api/v1/clusters", app.address))
            .bearer_auth(&app.admin_token).header("content-type", "text/plain")
            .body("name=x").send().await.unwrap();
        expect_problem(r, 415, None).await;
        // Missing and invalid fields.
        expect_problem(app.post("/api/v1/clusters", t, &json!({})).await, 422, Some("name")).await;
        expect_problem(app.post("/api/v1/clusters", t, &json!({"name": ""})).await, 422, Some("name")).await;
        expect_problem(app.post("/api/v1/clusters", t, &json!({"name": 5})).await, 422, Some("name")).await;
        // Duplicate name, case-insensitively.
        app.admin_create("/api/v1/clusters", json!({"name": "CARM"})).await;
        let p = expect_problem(app.post("/api/v1/clusters", t, &json!({"name": "carm"})).await, 409, None).await;
        assert_eq!(p["code"], "duplicate_name");
        // Unknown id.
        expect_problem(app.get("/api/v1/clusters/nope", t).await, 404, None).await;
        expect_problem(app.patch("/api/v1/clusters/nope", t, &json!({"name": "x"})).await, 404, None).await;
        // Bad paging.
        expect_problem(app.get("/api/v1/clusters?limit=0", t).await, 422, Some("limit")).await;
        // No token, bad token.
        expect_problem(app.get("/api/v1/clusters", None).await, 401, None).await;
        expect_problem(app.get("/api/v1/clusters", Some("cpd_wrong")).await, 401, None).await;
        // Nothing was created by the failures.
        assert_eq!(app.admin_get("/api/v1/clusters").await["total"], 1);
    }
}

both_backends! {
    async fn list_queries_are_checked_field_by_field(app: TestApp) {
        let t = Some(app.admin_token.as_str());
        for path in ["/api/v1/clusters", "/api/v1/schools", "/api/v1/staff-groups", "/api/v1/priorities", "/api/v1/providers"] {
            let p = expect_problem(app.get(&format!("{path}?limit=x"), t).await, 422, Some("limit")).await;
            assert_eq!(p["errors"]["limit"][0], "must be a whole number", "{path}");
            expect_problem(app.get(&format!("{path}?offset=-1"), t).await, 422, Some("offset")).await;
            expect_problem(app.get(&format!("{path}?limit=1001"), t).await, 422, Some("limit")).await;
            // Unknown parameters are ignored.
            expect_json(app.get(&format!("{path}?limit=2&_=123"), t).await, 200).await;
        }
        let p = expect_problem(app.get("/api/v1/schools?is_open=maybe", t).await, 422, Some("is_open")).await;
        assert_eq!(p["errors"]["is_open"][0], "must be true or false");
        let p = expect_problem(app.get("/api/v1/schools?phase=castle", t).await, 422, Some("phase")).await;
        assert!(p["errors"]["phase"][0].as_str().unwrap().contains("primary"), "{p}");
        expect_problem(app.get("/api/v1/providers?kind=agency", t).await, 422, Some("kind")).await;
        let p = expect_problem(app.get("/api/v1/schools?limit=1&limit=2", t).await, 422, Some("limit")).await;
        assert_eq!(p["errors"]["limit"][0], "is given more than once");
    }
}

both_backends! {
    async fn openapi_lists_the_reference_routes(app: TestApp) {
        let doc = expect_json(app.get("/api/openapi.json", None).await, 200).await;
        let paths = doc["paths"].as_object().unwrap();
        for p in [
            "/api/v1/schools", "/api/v1/schools/{id}", "/api/v1/schools/import",
            "/api/v1/staff-groups", "/api/v1/staff-groups/{id}",
            "/api/v1/priorities", "/api/v1/priorities/{id}",
            "/api/v1/providers", "/api/v1/providers/{id}",
        ] {
            assert!(paths.contains_key(p), "{p} missing from OpenAPI");
        }
        assert!(paths["/api/v1/schools/{id}"]["patch"].is_object());
        let params: Vec<&str> = paths["/api/v1/schools"]["get"]["parameters"]
            .as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        for name in ["limit", "offset", "q", "cluster_id", "phase", "is_open"] {
            assert!(params.contains(&name), "{name} not documented: {params:?}");
        }
    }
}

/// A school body with everything set.
fn school(urn: i64, name: &str, cluster_id: Option<&str>) -> serde_json::Value {
    json!({
        "urn": urn, "name": name, "phase": "primary", "school_type": "Academy converter",
        "cluster_id": cluster_id, "local_authority": "Barnsley", "postcode": "s702hz",
    })
}

both_backends! {
    async fn schools_crud_with_cluster_names(app: TestApp) {
        let t = Some(app.admin_token.as_str());
        let dearne = app.admin_create("/api/v1/clusters", json!({"name": "Dearne"})).await;
        let dearne_id = dearne["id"].as_str().unwrap();
        let s = app.admin_create("/api/v1/schools", school(106600, "Goldthorpe Primary", Some(dearne_id))).await;
        assert_eq!(s["urn"], 106600);
        assert_eq!(s["name"], "Goldthorpe Primary");
        assert_eq!(s["phase"], "primary");
        assert_eq!(s["school_type"], "Academy converter");
        assert_eq!(s["local_authority"], "Barnsley");
        assert_eq!(s["postcode"], "S70 2HZ");
        assert_eq!(s["is_open"], true);
        assert_eq!(s["cluster"], json!({"id": dearne_id, "name": "Dearne"}));
        let id = s["id"].as_str().unwrap();
        assert_eq!(app.admin_get(&format!("/api/v1/schools/{id}")).await, s);

        // Defaults: no cluster, open, empty type and postcode.
        let other = app.admin_create("/api/v1/schools", json!({"urn": 106700, "name": "Oakwell Secondary", "phase": "secondary"})).await;
        assert_eq!(other["cluster"], serde_json::Value::Null);
        assert_eq!(other["postcode"], "");
        assert_eq!(other["is_open"], true);
        app.admin_create("/api/v1/schools", json!({"urn": 106800, "name": "Closed Infant", "phase": "primary", "is_open": false})).await;

        // The list carries cluster names, sorted by school name.
        let list = app.admin_get("/api/v1/schools").await;
        assert_eq!(list["total"], 3);
        let names: Vec<&str> = list["items"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["Closed Infant", "Goldthorpe Primary", "Oakwell Secondary"]);
        assert_eq!(list["items"][1]["cluster"]["name"], "Dearne");

        // Filters.
        let total = |v: serde_json::Value| v["total"].as_i64().unwrap();
        assert_eq!(total(app.admin_get(&format!("/api/v1/schools?cluster_id={dearne_id}")).await), 1);
        assert_eq!(total(app.admin_get("/api/v1/schools?phase=primary").await), 2);
        assert_eq!(total(app.admin_get("/api/v1/schools?phase=special").await), 0);
        assert_eq!(total(app.admin_get("/api/v1/schools?is_open=false").await), 1);
        assert_eq!(total(app.admin_get("/api/v1/schools?is_open=true&phase=primary").await), 1);
        assert_eq!(total(app.admin_get("/api/v1/schools?q=oak").await), 1);
        assert_eq!(total(app.admin_get("/api/v1/schools?q=106700").await), 1);
        let page = app.admin_get("/api/v1/schools?limit=1&offset=2").await;
        assert_eq!(page["total"], 3);
        assert_eq!(page["items"][0]["name"], "Oakwell Secondary");

        // Patch: other fields stay; null takes the school out of its cluster.
        let p = expect_json(app.patch(&format!("/api/v1/schools/{id}"), t,
            &json!({"name": "Goldthorpe Primary Academy", "cluster_id": null, "postcode": "s63 9ab", "is_open": false})).await, 200).await;
        assert_eq!(p["name"], "Goldthorpe Primary Academy");
        assert_eq!(p["cluster"], serde_json::Value::Null);
        assert_eq!(p["postcode"], "S63 9AB");
        assert_eq!(p["is_open"], false);
        assert_eq!(p["urn"], 106600);
        assert_eq!(p["school_type"], "Academy converter");
        let p = expect_json(app.patch(&format!("/api/v1/schools/{id}"), t,
            &json!({"cluster_id": dearne_id, "phase": "special", "urn": 106601})).await, 200).await;
        assert_eq!(p["cluster"]["name"], "Dearne");
        assert_eq!(p["phase"], "special");
        assert_eq!(p["urn"], 106601);
        assert_eq!(p["name"], "Goldthorpe Primary Academy");
        // A renamed cluster shows its new name on the school.
        expect_json(app.patch(&format!("/api/v1/clusters/{dearne_id}"), t, &json!({"name": "Dearne Valley"})).await, 200).await;
        assert_eq!(app.admin_get(&format!("/api/v1/schools/{id}")).await["cluster"]["name"], "Dearne Valley");
    }
}

both_backends! {
    async fn schools_bad_input(app: TestApp) {
        let t = Some(app.admin_token.as_str());
        let existing = app.admin_create("/api/v1/schools", school(106600, "Goldthorpe Primary", None)).await;
        let id = existing["id"].as_str().unwrap();
        // Malformed JSON and wrong content type.
        let r = app.send_body(reqwest::Method::POST, "/api/v1/schools", t, "application/json", "{\"urn\": ").await;
        expect_problem(r, 400, None).await;
        let r = app.send_body(reqwest::Method::POST, "/api/v1/schools", t, "text/plain", "urn=1").await;
        expect_problem(r, 415, None).await;
        // Missing and invalid fields, each named.
        for (body, field) in [
            (json!({"name": "A", "phase": "primary"}), "urn"),
            (json!({"urn": 1, "phase": "primary"}), "name"),
            (json!({"urn": 1, "name": "A"}), "phase"),
            (json!({"urn": "abc", "name": "A", "phase": "primary"}), "urn"),
            (json!({"urn": 0, "name": "A", "phase": "primary"}), "urn"),
            (json!({"urn": 1, "name": "", "phase": "primary"}), "name"),
            (json!({"urn": 1, "name": "   ", "phase": "primary"}), "name"),
            (json!({"urn": 1, "name": "A", "phase": "castle"}), "phase"),
            (json!({"urn": 1, "name": "A", "phase": "primary", "postcode": "NOT A POSTCODE"}), "postcode"),
            (json!({"urn": 1, "name": "A", "phase": "primary", "is_open": "yes"}), "is_open"),
            (json!({"urn": 1, "name": "A", "phase": "primary", "cluster_id": "no-such-cluster"}), "cluster_id"),
        ] {
            expect_problem(app.post("/api/v1/schools", t, &body).await, 422, Some(field)).await;
        }
        // Duplicate URN, on create and on change.
        let p = expect_problem(app.post("/api/v1/schools", t, &school(106600, "Another", None)).await, 409, None).await;
        assert_eq!(p["code"], "duplicate_urn");
        let second = app.admin_create("/api/v1/schools", school(106601, "Second", None)).await;
        let p = expect_problem(app.patch(&format!("/api/v1/schools/{}", second["id"].as_str().unwrap()), t, &json!({"urn": 106600})).await, 409, None).await;
        assert_eq!(p["code"], "duplicate_urn");
        // Bad patches change nothing.
        for (body, field) in [
            (json!({"cluster_id": "no-such-cluster"}), "cluster_id"),
            (json!({"postcode": "XYZ"}), "postcode"),
            (json!({"name": ""}), "name"),
            (json!({"phase": 3}), "phase"),
        ] {
            expect_problem(app.patch(&format!("/api/v1/schools/{id}"), t, &body).await, 422, Some(field)).await;
        }
        assert_eq!(app.admin_get(&format!("/api/v1/schools/{id}")).await, existing);
        // Unknown ids.
        expect_problem(app.get("/api/v1/schools/nope", t).await, 404, None).await;
        expect_problem(app.patch("/api/v1/schools/nope", t, &json!({"name": "x"})).await, 404, None).await;
        // Nothing else was created.
        assert_eq!(app.admin_get("/api/v1/schools").await["total"], 2);
    }
}

both_backends! {
    async fn reading_needs_a_caller_and_writing_needs_an_admin(app: TestApp) {
        let cluster = app.admin_create("/api/v1/clusters", json!({"name": "Hoyland"})).await;
        let school = app.admin_create("/api/v1/schools", school(106600, "Hoyland Common", Some(cluster["id"].as_str().unwrap()))).await;
        let group = app.admin_get("/api/v1/staff-groups").await["items"][0].clone();
        let priority = app.admin_get("/api/v1/priorities").await["items"][0].clone();
        let provider = app.admin_create("/api/v1/providers", json!({"name": "Alliance", "kind": "teaching_alliance"})).await;
        let items = [
            ("/api/v1/clusters", &cluster, json!({"name": "New cluster"})),
            ("/api/v1/schools", &school, json!({"urn": 200000, "name": "New", "phase": "primary"})),
            ("/api/v1/staff-groups", &group, json!({"name": "New group"})),
            ("/api/v1/priorities", &priority, json!({"name": "New priority"})),
            ("/api/v1/providers", &provider, json!({"name": "New provider", "kind": "external"})),
        ];
        use cpd_hub::domain::roles::Role;
        let staff = app.person_with_roles(&[], None).await.1;
        let lead = app.person_with_roles(&[Role::SchoolLead, Role::CourseLead, Role::CpdGroup], Some(school["id"].as_str().unwrap())).await.1;
        for (path, item, new) in &items {
            let item_path = format!("{path}/{}", item["id"].as_str().unwrap());
            // No token, or a bad one.
            expect_problem(app.get(path, None).await, 401, None).await;
            expect_problem(app.get(&item_path, None).await, 401, None).await;
            expect_problem(app.get(path, Some("cpd_not_a_token")).await, 401, None).await;
            expect_problem(app.post(path, None, new).await, 401, None).await;
            // Anyone signed in reads.
            for token in [&staff, &lead] {
                let list = expect_json(app.get(path, Some(token)).await, 200).await;
                assert!(list["total"].as_i64().unwrap() >= 1, "{path}");
                assert_eq!(&expect_json(app.get(&item_path, Some(token)).await, 200).await, *item);
                // Only an admin writes.
                expect_problem(app.post(path, Some(token), new).await, 403, None).await;
                expect_problem(app.patch(&item_path, Some(token), &json!({"name": "Renamed"})).await, 403, None).await;
            }
        }
        // Nothing was written by the refused requests.
        assert_eq!(app.admin_get("/api/v1/clusters").await["total"], 1);
        assert_eq!(app.admin_get("/api/v1/schools").await["total"], 1);
        assert_eq!(app.admin_get("/api/v1/providers").await["total"], 1);
        assert_eq!(app.admin_get(&format!("/api/v1/staff-groups/{}", group["id"].as_str().unwrap())).await, group);
    }
}

both_backends! {
    async fn staff_groups_and_priorities(app: TestApp) {
        let t = Some(app.admin_token.as_str());
        // A fresh database has the defaults, in order.
        let groups = app.admin_get("/api/v1/staff-groups").await;
        assert_eq!(groups["total"], 11);
        assert_eq!(groups["items"][0]["key"], "teacher");
        assert_eq!(groups["items"][1]["key"], "teaching_assistant");
        let priorities = app.admin_get("/api/v1/priorities").await;
        assert_eq!(priorities["total"], 9);
        assert_eq!(priorities["items"][0]["key"], "send");
        assert!(priorities["items"][0]["description"].as_str().unwrap().contains("Special educational"));

        // Create: the key comes from the name when absent; new entries go last.
        let g = app.admin_create("/api/v1/staff-groups", json!({"name": "Higher-level teaching assistant"})).await;
        assert_eq!(g["key"], "higher_level_teaching_assistant");
        assert_eq!(g["position"], 11);
        let groups = app.admin_get("/api/v1/staff-groups?limit=100").await;
        assert_eq!(groups["items"][11]["id"], g["id"]);
        let first = app.admin_create("/api/v1/staff-groups", json!({"key": "Trainee Teacher", "name": "Trainee", "position": 0})).await;
        assert_eq!(first["key"], "trainee_teacher");
        let p = app.admin_create("/api/v1/priorities", json!({"name": "Maths mastery", "description": "Teaching for mastery"})).await;
        assert_eq!(p["key"], "maths_mastery");
        assert_eq!(p["description"], "Teaching for mastery");
        assert_eq!(app.admin_get(&format!("/api/v1/priorities/{}", p["id"].as_str().unwrap())).await, p);

        // Search by name or key.
        assert_eq!(app.admin_get("/api/v1/staff-groups?q=higher").await["total"], 1);
        assert_eq!(app.admin_get("/api/v1/priorities?q=maths_m").await["total"], 1);

        // Patch: name, position, description; the key stays.
        let gid = g["id"].as_str().unwrap();
        let changed = expect_json(app.patch(&format!("/api/v1/staff-groups/{gid}"), t, &json!({"name": "HLTA", "position": 3})).await, 200).await;
        assert_eq!(changed["name"], "HLTA");
        assert_eq!(changed["position"], 3);
        assert_eq!(changed["key"], "higher_level_teaching_assistant");
        let pid = p["id"].as_str().unwrap();
        let changed = expect_json(app.patch(&format!("/api/v1/priorities/{pid}"), t, &json!({"description": "Maths"})).await, 200).await;
        assert_eq!(changed["description"], "Maths");
        assert_eq!(changed["name"], "Maths mastery");

        // Duplicates.
        for (path, body, code) in [
            ("/api/v1/staff-groups", json!({"name": "teacher"}), "duplicate_key"),
            ("/api/v1/staff-groups", json!({"key": "class_teacher", "name": "TEACHER"}), "duplicate_name"),
            ("/api/v1/priorities", json!({"name": "Send"}), "duplicate_key"),
            ("/api/v1/priorities", json!({"key": "inclusion", "name": "send"}), "duplicate_name"),
        ] {
            let problem = expect_problem(app.post(path, t, &body).await, 409, None).await;
            assert_eq!(problem["code"], code, "{path} {body}");
        }
        let problem = expect_problem(app.patch(&format!("/api/v1/staff-groups/{gid}"), t, &json!({"name": "Governor"})).await, 409, None).await;
        assert_eq!(problem["code"], "duplicate_name");

        // Bad input.
        for (path, body, field) in [
            ("/api/v1/staff-groups", json!({}), "name"),
            ("/api/v1/staff-groups", json!({"name": ""}), "name"),
            ("/api/v1/staff-groups", json!({"name": "!!!"}), "key"),
            ("/api/v1/staff-groups", json!({"name": "X", "position": -1}), "position"),
            ("/api/v1/staff-groups", json!({"name": "X", "position": "first"}), "position"),
            ("/api/v1/priorities", json!({"name": "X", "description": 5}), "description"),
        ] {
            expect_problem(app.post(path, t, &body).await, 422, Some(field)).await;
        }
        // Unknown fields are refused, including a key change.
        let problem = expect_problem(app.patch(&format!("/api/v1/staff-groups/{gid}"), t, &json!({"key": "hlta"})).await, 422, None).await;
        assert!(problem["detail"].is_string());
        let r = app.send_body(reqwest::Method::POST, "/api/v1/priorities", t, "application/json", "{").await;
        expect_problem(r, 400, None).await;
        expect_problem(app.get("/api/v1/staff-groups/nope", t).await, 404, None).await;
        expect_problem(app.patch("/api/v1/priorities/nope", t, &json!({"name": "x"})).await, 404, None).await;
        assert_eq!(app.admin_get("/api/v1/staff-groups").await["total"], 13);
        assert_eq!(app.admin_get("/api/v1/priorities").await["total"], 10);
    }
}

both_backends! {
    async fn providers_crud(app: TestApp) {
        let t = Some(app.admin_token.as_str());
        let p = app.admin_create("/api/v1/providers", json!({
            "name": "Barnsley Teaching Alliance", "kind": "teaching_alliance",
            "email": " CPD@Alliance.example.ORG ", "website": "https://alliance.example.org/cpd",
        })).await;
        assert_eq!(p["kind"], "teaching_alliance");
        assert_eq!(p["email"], "cpd@alliance.example.org");
        assert_eq!(p["website"], "https://alliance.example.org/cpd");
        let id = p["id"].as_str().unwrap();
        assert_eq!(app.admin_get(&format!("/api/v1/providers/{id}")).await, p);
        let la = app.admin_create("/api/v1/providers", json!({"name": "Barnsley Council", "kind": "local_authority"})).await;
        assert_eq!(la["email"], serde_json::Value::Null);
        assert_eq!(la["website"], serde_json::Value::Null);

        assert_eq!(app.admin_get("/api/v1/providers").await["total"], 2);
        assert_eq!(app.admin_get("/api/v1/providers?kind=local_authority").await["items"][0]["name"], "Barnsley Council");
        assert_eq!(app.admin_get("/api/v1/providers?q=alliance").await["total"], 1);

        // Patch; null clears an optional field, absence keeps it.
        let changed = expect_json(app.patch(&format!("/api/v1/providers/{id}"), t, &json!({"email": null, "kind": "external"})).await, 200).await;
        assert_eq!(changed["email"], serde_json::Value::Null);
        assert_eq!(changed["kind"], "external");
        assert_eq!(changed["website"], "https://alliance.example.org/cpd");
        assert_eq!(changed["name"], "Barnsley Teaching Alliance");

        // Duplicates and bad input.
        let problem = expect_problem(app.post("/api/v1/providers", t, &json!({"name": "barnsley council", "kind": "external"})).await, 409, None).await;
        assert_eq!(problem["code"], "duplicate_name");
        let problem = expect_problem(app.patch(&format!("/api/v1/providers/{id}"), t, &json!({"name": "BARNSLEY COUNCIL"})).await, 409, None).await;
        assert_eq!(problem["code"], "duplicate_name");
        for (body, field) in [
            (json!({"kind": "external"}), "name"),
            (json!({"name": "X"}), "kind"),
            (json!({"name": "X", "kind": "agency"}), "kind"),
            (json!({"name": "X", "kind": "external", "email": "nobody"}), "email"),
            (json!({"name": "X", "kind": "external", "website": "alliance.example.org"}), "website"),
            (json!({"name": "X", "kind": "external", "website": "ftp://alliance.example.org"}), "website"),
        ] {
            expect_problem(app.post("/api/v1/providers", t, &body).await, 422, Some(field)).await;
        }
        for (body, field) in [
            (json!({"email": "not-an-email"}), "email"),
            (json!({"website": "javascript:alert(1)"}), "website"),
            (json!({"kind": "agency"}), "kind"),
        ] {
            expect_problem(app.patch(&format!("/api/v1/providers/{id}"), t, &body).await, 422, Some(field)).await;
        }
        assert_eq!(app.admin_get(&format!("/api/v1/providers/{id}")).await, changed);
        expect_problem(app.get("/api/v1/providers/nope", t).await, 404, None).await;
        expect_problem(app.patch("/api/v1/providers/nope", t, &json!({"name": "x"})).await, 404, None).await;
        assert_eq!(app.admin_get("/api/v1/providers").await["total"], 2);
    }
}

both_backends! {
    /// The reference lists are kept in the service between requests (under a generation the
    /// database raises on every change): a change made anywhere, even straight in the
    /// database as another copy of the service or a command would, shows on the next read,
    /// and who may read is still checked on every request.
    async fn kept_reference_lists_show_every_change_at_once(app: TestApp) {
        let cluster = app.admin_create("/api/v1/clusters", json!({"name": "Penistone"})).await;
        let cluster_id = cluster["id"].as_str().unwrap().to_string();
        app.admin_create("/api/v1/schools",
            json!({"urn": 106670, "name": "Oxspring Primary", "phase": "primary", "cluster_id": cluster_id})).await;
        app.admin_create("/api/v1/priorities", json!({"name": "Early reading"})).await;
        app.admin_create("/api/v1/staff-groups", json!({"name": "Teaching assistants"})).await;
        let lists = ["/api/v1/clusters", "/api/v1/schools?limit=10", "/api/v1/priorities",
                     "/api/v1/staff-groups", "/api/v1/providers"];
        let mut before = Vec::new();
        for path in lists {
            // Twice: the second answer is the kept one, and the same.
            let first = app.admin_get(path).await;
            assert_eq!(app.admin_get(path).await, first, "{path}");
            before.push(first);
        }
        assert_eq!(before[1]["items"][0]["cluster"]["name"], "Penistone");

        // Renamed behind the service's back: the cluster list and the schools' clusters show
        // the new name at once.
        let id = cluster_id.clone();
        app.with_db(move |c| {
            use cpd_hub::db::schema::clusters;
            use diesel::prelude::*;
            diesel::update(clusters::table.find(id))
                .set(clusters::name.eq("Penistone and Oxspring"))
                .execute(c)
                .unwrap();
        }).await;
        assert_eq!(app.admin_get("/api/v1/clusters").await["items"][0]["name"], "Penistone and Oxspring");
        let schools = app.admin_get("/api/v1/schools?limit=10").await;
        assert_eq!(schools["items"][0]["cluster"]["name"], "Penistone and Oxspring");
        // And a school added the same way shows in the list and its total.
        app.with_db(move |c| {
            use diesel::connection::SimpleConnection;
            c.batch_execute(
                "INSERT INTO schools (id, urn, name, phase, school_type, local_authority, postcode, is_open, created_at, updated_at)
                 SELECT 'school-added-directly', 106671, 'Thurgoland Primary', phase, school_type,
                        local_authority, postcode, is_open, created_at, updated_at
                   FROM schools WHERE urn = 106670",
            ).unwrap();
        }).await;
        let schools = app.admin_get("/api/v1/schools?limit=10").await;
        assert_eq!(schools["total"], 2);
        assert_eq!(schools["items"][1]["name"], "Thurgoland Primary");
        // Through the API too: a new priority, a renamed staff group, a new provider.
        app.admin_create("/api/v1/priorities", json!({"name": "Oracy"})).await;
        let priorities_before = before[2]["total"].as_i64().unwrap();
        assert_eq!(app.admin_get("/api/v1/priorities").await["total"], priorities_before + 1);
        let group_id = before[3]["items"][0]["id"].as_str().unwrap().to_string();
        expect_json(app.patch(&format!("/api/v1/staff-groups/{group_id}"), Some(&app.admin_token),
            &json!({"name": "Teachers in every phase"})).await, 200).await;
        assert_eq!(app.admin_get("/api/v1/staff-groups").await["items"][0]["name"], "Teachers in every phase");
        let providers_before = before[4]["total"].as_i64().unwrap();
        app.admin_create("/api/v1/providers", json!({"name": "Northern Maths Hub", "kind": "external"})).await;
        assert_eq!(app.admin_get("/api/v1/providers").await["total"], providers_before + 1);

        // Who may read is checked on every request, kept list or not.
        for path in lists {
            expect_problem(app.get(path, None).await, 401, None).await;
            expect_problem(app.get(path, Some("cpd_wrong")).await, 401, None).await;
        }
        let (_, staff) = app.person_with_roles(&[], None).await;
        let as_staff = expect_json(app.get("/api/v1/schools?limit=10", Some(&staff)).await, 200).await;
        assert_eq!(as_staff, schools);
        // Reading is for anyone signed in; changing still is not.
        expect_problem(app.post("/api/v1/clusters", Some(&staff), &json!({"name": "Dodworth"})).await, 403, None).await;
        assert_eq!(app.admin_get("/api/v1/clusters").await["total"], 1);
        // Bad paging is still refused, before anything kept is looked at.
        expect_problem(app.get("/api/v1/schools?limit=0", Some(&staff)).await, 422, Some("limit")).await;
    }
}
