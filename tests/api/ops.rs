use serde_json::json;

use crate::both_backends;

both_backends! {
    async fn health_and_readiness(app: TestApp) {
        let r = app.get("/healthz", None).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.unwrap(), "ok");
        let r = app.get("/readyz", None).await;
        assert_eq!(r.status(), 200);
    }
}

both_backends! {
    async fn openapi_lists_every_route(app: TestApp) {
        let doc = expect_json(app.get("/api/openapi.json", None).await, 200).await;
        let paths = doc["paths"].as_object().unwrap();
        for p in ["/healthz", "/readyz", "/metrics", "/api/v1/clusters", "/api/v1/clusters/{id}"] {
            assert!(paths.contains_key(p), "{p} missing from OpenAPI");
        }
        let docs = app.get("/api/docs/", None).await;
        assert_eq!(docs.status(), 200);
        assert!(docs.text().await.unwrap().contains("swagger"));
        let r = app.get("/api/docs", None).await;
        assert_eq!(r.status(), 308);
    }
}

both_backends! {
    async fn metrics_count_requests_by_route(app: TestApp) {
        app.get("/api/v1/clusters", Some(&app.admin_token)).await;
        app.get("/api/v1/clusters", None).await;
        let text = app.get("/metrics", Some(&app.admin_token)).await.text().await.unwrap();
        assert!(text.contains(r#"cpd_hub_http_requests_total{method="GET",route="/api/v1/clusters",status="200"} 1"#), "{text}");
        assert!(text.contains(r#"route="/api/v1/clusters",status="401"} 1"#));
        assert!(text.contains("cpd_hub_http_request_duration_seconds_bucket"));
        assert!(text.contains("cpd_hub_db_pool_connections"));
    }
}

both_backends! {
    async fn unknown_routes_are_problem_404s(app: TestApp) {
        expect_problem(app.get("/api/v1/nothing-here", None).await, 404, None).await;
        let _ = json!({});
    }
}

/// `/metrics` is for operators: an admin, or a scraper holding `METRICS_TOKEN`.
async fn metrics_for_operators(backend: crate::helpers::Backend) {
    let Some(app) = crate::helpers::spawn_app_with(backend, |s| {
        s.metrics_token = Some("scraper-secret-0123456789".into())
    })
    .await
    else {
        eprintln!("TEST_POSTGRES_URL is not set: PostgreSQL half skipped");
        return;
    };
    crate::helpers::expect_problem(app.get("/metrics", None).await, 401, None).await;
    let staff = app.create_person("ops.staff@example.test", "Staff", None, &[]);
    let staff_token = app.token_for(&staff);
    crate::helpers::expect_problem(app.get("/metrics", Some(&staff_token)).await, 403, None).await;
    crate::helpers::expect_problem(
        app.get("/metrics", Some("not-the-scraper-token")).await,
        401,
        None,
    )
    .await;
    for token in ["scraper-secret-0123456789", app.admin_token.as_str()] {
        let r = app.get("/metrics", Some(token)).await;
        assert_eq!(r.status(), 200);
        assert!(r
            .text()
            .await
            .unwrap()
            .contains("cpd_hub_db_pool_connections"));
    }
}

mod metrics_are_for_operators {
    #[tokio::test]
    async fn sqlite() {
        super::metrics_for_operators(crate::helpers::Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn postgres() {
        super::metrics_for_operators(crate::helpers::Backend::Postgres).await;
    }
}
