use std::collections::BTreeSet;

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

/// The routes the handlers in `src/api` and `src/web` declare (`#[get("/path")]` and the
/// like), as (METHOD, path as served): `src/api` is served under `/api/v1` except the
/// operations routes (`ops.rs`) and the calendar feeds calendar programs subscribe to. The
/// reference-data handlers, written once by a macro for each kind, declare no literal path
/// and are left to the document's side of the comparison.
fn declared_routes() -> BTreeSet<(String, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut dirs = vec![root.join("api"), root.join("web")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let feeds = ["/calendar.ics", "/calendar/{token}.ics"];
    let mut routes = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let under_v1 = file.starts_with(root.join("api")) && !file.ends_with("api/ops.rs");
        for line in text.lines().map(str::trim) {
            for method in ["get", "post", "put", "patch", "delete"] {
                let Some(rest) = line.strip_prefix(&format!("#[{method}(\"")) else {
                    continue;
                };
                let path = rest.split('"').next().unwrap();
                let served = if under_v1 && !feeds.contains(&path) {
                    format!("/api/v1{path}")
                } else {
                    path.to_string()
                };
                routes.insert((method.to_uppercase(), served));
            }
        }
    }
    routes
}

both_backends! {
    async fn openapi_lists_every_route(app: TestApp) {
        let doc = expect_json(app.get("/api/openapi.json", None).await, 200).await;
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                if matches!(method.as_str(), "get" | "post" | "put" | "patch" | "delete") {
                    documented.insert((method.to_uppercase(), path.clone()));
                }
            }
        }
        // Every handler the code declares is in the document, with its method...
        let declared = declared_routes();
        assert!(declared.len() > 100, "only {} handlers found", declared.len());
        let undocumented: Vec<_> = declared.difference(&documented).collect();
        assert!(undocumented.is_empty(), "handlers missing from the OpenAPI document: {undocumented:?}");
        // ...and every documented route is one the service routes, under that very pattern:
        // a request to each (ids made up) is counted in the metrics under the documented path,
        // not as unmatched.
        for (method, path) in &documented {
            let concrete: String = path
                .split('/')
                .map(|part| match (part.find('{'), part.find('}')) {
                    (Some(a), Some(b)) => format!("{}x{}", &part[..a], &part[b + 1..]),
                    _ => part.to_string(),
                })
                .collect::<Vec<_>>()
                .join("/");
            let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            app.client.request(method, format!("{}{concrete}", app.address)).send().await.unwrap();
        }
        let metrics = app.get("/metrics", Some(&app.admin_token)).await.text().await.unwrap();
        let routed: BTreeSet<(String, String)> = metrics
            .lines()
            .filter(|l| l.starts_with("cpd_hub_http_requests_total{"))
            .filter_map(|l| {
                let label = |name: &str| {
                    let start = l.find(&format!("{name}=\""))? + name.len() + 2;
                    Some(l[start..].split('"').next()?.to_string())
                };
                Some((label("method")?, label("route")?))
            })
            .collect();
        let unrouted: Vec<_> = documented.iter().filter(|(_, p)| !routed.iter().any(|(_, r)| r == p)).collect();
        assert!(unrouted.is_empty(), "documented routes the service does not route: {unrouted:?}");
        let docs = app.get("/api/docs/", None).await;
        assert_eq!(docs.status(), 200);
        assert!(docs.text().await.unwrap().contains("swagger"));
        let r = app.get("/api/docs", None).await;
        assert_eq!(r.status(), 308);
    }
}

both_backends! {
    /// The API documentation page gets every script, style sheet and icon it names, with the
    /// right type, and the page starts Swagger UI on the service's own OpenAPI document; the
    /// parts of Swagger UI no page loads (source maps, other bundles) are not in the binary.
    async fn api_docs_page_loads_its_files(app: TestApp) {
        let r = app.get("/api/docs/", None).await;
        assert_eq!(r.status(), 200);
        let html = r.text().await.unwrap();
        // Every `src="..."` and `href="..."` of the page, relative to /api/docs/.
        let mut files = Vec::new();
        for attribute in ["src=\"", "href=\""] {
            for (at, _) in html.match_indices(attribute) {
                let value = html[at + attribute.len()..].split('"').next().unwrap();
                files.push(value.trim_start_matches("./").to_string());
            }
        }
        files.sort();
        assert_eq!(
            files,
            [
                "favicon-16x16.png",
                "favicon-32x32.png",
                "index.css",
                "swagger-initializer.js",
                "swagger-ui-bundle.js",
                "swagger-ui-standalone-preset.js",
                "swagger-ui.css",
            ],
            "{html}"
        );
        for file in &files {
            let r = app.get(&format!("/api/docs/{file}"), None).await;
            assert_eq!(r.status(), 200, "{file}");
            let kind = r.headers()["content-type"].to_str().unwrap().to_string();
            let expected = match file.rsplit('.').next().unwrap() {
                "js" => "text/javascript",
                "css" => "text/css",
                _ => "image/png",
            };
            assert!(kind.starts_with(expected), "{file}: {kind}");
            let body = r.bytes().await.unwrap();
            assert!(!body.is_empty(), "{file}");
            if file == "swagger-ui-bundle.js" {
                assert!(body.len() > 1_000_000, "{file}: {} bytes", body.len());
            }
            if file == "swagger-initializer.js" {
                let script = String::from_utf8(body.to_vec()).unwrap();
                assert!(script.contains("\"/api/openapi.json\""), "{script}");
            }
        }
        // The sign-in page an OAuth flow in Swagger UI returns to is kept.
        assert_eq!(app.get("/api/docs/oauth2-redirect.html", None).await.status(), 200);
        for unused in [
            "swagger-ui-bundle.js.map",
            "swagger-ui.css.map",
            "swagger-ui-es-bundle.js",
            "swagger-ui-es-bundle-core.js",
            "swagger-ui.js",
        ] {
            assert_eq!(app.get(&format!("/api/docs/{unused}"), None).await.status(), 404, "{unused}");
        }
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

crate::each_backend!(metrics_are_for_operators, metrics_for_operators);

/// With `REPORT_WARMUP=on` the service works out the dashboard's first report once at
/// start-up, in the background, and counts it in its metrics; with it off (as the tests' own
/// services run) it does not.
async fn reports_warm_up(backend: crate::helpers::Backend) {
    let app = crate::helpers::spawn_app_with(backend, |s| s.reports.warmup = true)
        .await
        .expect("each_backend! runs only on a configured backend");
    let mut text = String::new();
    for _ in 0..200 {
        text = metrics(&app).await;
        if text.contains("cpd_hub_report_warmups_total{") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        text.contains("cpd_hub_report_warmups_total{outcome=\"done\"} 1"),
        "{text}"
    );
    assert!(!text.contains("outcome=\"failed\""), "{text}");

    let off = crate::helpers::spawn_app(backend)
        .await
        .expect("each_backend! runs only on a configured backend");
    // The report pages still work with no warm-up; and none ran.
    assert_eq!(
        off.get("/api/v1/reports/engagement", Some(&off.admin_token))
            .await
            .status(),
        200
    );
    assert!(!metrics(&off)
        .await
        .contains("cpd_hub_report_warmups_total{"));
}

async fn metrics(app: &crate::helpers::TestApp) -> String {
    let r = app.get("/metrics", Some(&app.admin_token)).await;
    r.text().await.unwrap()
}

crate::each_backend!(reports_warm_up_at_start, reports_warm_up);
