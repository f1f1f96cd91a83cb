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
