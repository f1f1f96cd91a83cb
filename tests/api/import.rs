//! Schools import: `POST /api/v1/schools/import` and `cpd-hub import-schools`.

use reqwest::Method;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::TestApp;

/// GIAS's header with the needed columns among others, in GIAS's own order.
const GIAS_HEADER: &str = "URN,LA (code),LA (name),EstablishmentNumber,EstablishmentName,\
TypeOfEstablishment (name),EstablishmentStatus (name),PhaseOfEducation (code),\
PhaseOfEducation (name),Street,Town,Postcode,SchoolWebsite";

/// One GIAS line: URN, name, type, status, phase, postcode.
fn gias_line(
    urn: &str,
    name: &str,
    kind: &str,
    status: &str,
    phase: &str,
    postcode: &str,
) -> String {
    format!("{urn},370,Barnsley,2001,\"{name}\",{kind},{status},2,{phase},High Street,Barnsley,{postcode},")
}

fn gias_file(lines: &[String]) -> String {
    let mut s = String::from(GIAS_HEADER);
    for l in lines {
        s.push_str("\r\n");
        s.push_str(l);
    }
    s.push_str("\r\n");
    s
}

impl TestApp {
    async fn import(&self, query: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.send_body(
            Method::POST,
            &format!("/api/v1/schools/import{query}"),
            Some(&self.admin_token),
            "text/csv",
            body,
        )
        .await
    }

    /// The school with this URN, as the API shows it.
    async fn school_by_urn(&self, urn: i64) -> Value {
        let found = self.admin_get(&format!("/api/v1/schools?q={urn}")).await;
        let items = found["items"].as_array().unwrap();
        items
            .iter()
            .find(|s| s["urn"] == urn)
            .cloned()
            .unwrap_or_else(|| panic!("no school with URN {urn}: {found}"))
    }
}

fn counts(report: &Value) -> (i64, i64, i64, usize) {
    (
        report["created"].as_i64().unwrap(),
        report["updated"].as_i64().unwrap(),
        report["unchanged"].as_i64().unwrap(),
        report["rejected"].as_array().unwrap().len(),
    )
}

both_backends! {
    async fn imports_a_utf8_file_with_clusters(app: TestApp) {
        // An existing cluster, named in another case in the file.
        let dearne = app.admin_create("/api/v1/clusters", json!({"name": "Dearne"})).await;
        let header = format!("{GIAS_HEADER},Cluster");
        let file = format!(
            "\u{feff}{header}\r\n{},DEARNE\r\n{},Hoyland\r\n{},\r\n{},hoyland\r\n",
            gias_line("106600", "Goldthorpe Primary", "Academy converter", "Open", "Primary", "s63 9ab"),
            gias_line("106601", "Hoyland Common Primary", "Community school", "Open", "Primary", "S74 9AB"),
            gias_line("106602", "Greenacre School", "Community special school", "Open", "Not applicable", "S75 2EW"),
            gias_line("106603", "Old Mill Secondary", "Foundation school", "Closed", "Secondary", ""),
        );
        let report = expect_json(app.import("", file).await, 200).await;
        assert_eq!(counts(&report), (4, 0, 0, 0), "{report}");
        assert_eq!(report["clusters_created"], json!(["Hoyland"]));

        let s = app.school_by_urn(106600).await;
        assert_eq!(s["name"], "Goldthorpe Primary");
        assert_eq!(s["phase"], "primary");
        assert_eq!(s["school_type"], "Academy converter");
        assert_eq!(s["local_authority"], "Barnsley");
        assert_eq!(s["postcode"], "S63 9AB");
        assert_eq!(s["is_open"], true);
        assert_eq!(s["cluster"]["id"], dearne["id"]);
        assert_eq!(s["cluster"]["name"], "Dearne");
        let hoyland = app.school_by_urn(106601).await["cluster"].clone();
        assert_eq!(hoyland["name"], "Hoyland");
        assert_eq!(app.school_by_urn(106603).await["cluster"], hoyland);
        let special = app.school_by_urn(106602).await;
        assert_eq!(special["phase"], "special");
        assert_eq!(special["cluster"], Value::Null);
        let closed = app.school_by_urn(106603).await;
        assert_eq!(closed["is_open"], false);
        assert_eq!(closed["postcode"], "");
        assert_eq!(app.admin_get("/api/v1/clusters").await["total"], 2);

        // The import is in the audit log, with its counts and who did it.
        let audit: Vec<(Option<String>, String)> = app.with_db(|c| {
            use cpd_hub::db::schema::audit_log;
            use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
            audit_log::table
                .filter(audit_log::action.eq("schools.import"))
                .select((audit_log::actor_id, audit_log::detail))
                .load(c)
                .unwrap()
        }).await;
        assert_eq!(audit.len(), 1);
        assert!(audit[0].0.is_some(), "the admin is recorded");
        let detail: Value = serde_json::from_str(&audit[0].1).unwrap();
        assert_eq!(detail["created"], 4);
        assert_eq!(detail["source"], "api");
    }
}

both_backends! {
    async fn reads_windows_1252_files(app: TestApp) {
        let text = gias_file(&[
            gias_line("106610", "St Mary\u{2019}s Catholic Primary", "Voluntary aided school", "Open", "Primary", "S70 6AA"),
            gias_line("106611", "Brontë Academy", "Academy sponsor led", "Open", "Secondary", "S71 1AA"),
        ]);
        let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(&text);
        assert!(!unmappable);
        let bytes = bytes.into_owned();
        // Really Windows-1252: 0x92 for the apostrophe, 0xEB for ë, and not valid UTF-8.
        assert!(bytes.contains(&0x92) && bytes.contains(&0xEB));
        assert!(std::str::from_utf8(&bytes).is_err());
        let report = expect_json(app.import("", bytes).await, 200).await;
        assert_eq!(counts(&report), (2, 0, 0, 0), "{report}");
        assert_eq!(app.school_by_urn(106610).await["name"], "St Mary\u{2019}s Catholic Primary");
        assert_eq!(app.school_by_urn(106611).await["name"], "Brontë Academy");
        // Search finds the decoded name.
        assert_eq!(app.admin_get("/api/v1/schools?q=bront%C3%AB").await["total"], 1);
    }
}

both_backends! {
    async fn bad_lines_are_reported_and_good_lines_imported(app: TestApp) {
        let file = gias_file(&[
            gias_line("106620", "Good One", "Community school", "Open", "Primary", "S70 1AA"),
            gias_line("", "No URN", "Community school", "Open", "Primary", "S70 1AA"),
            gias_line("10662x", "Letters in URN", "Community school", "Open", "Primary", "S70 1AA"),
            gias_line("106621", "", "Community school", "Open", "Primary", "S70 1AA"),
            gias_line("106622", "Bad Postcode", "Community school", "Open", "Primary", "NOWHERE"),
            gias_line("106623", "Good Two", "Community school", "Open", "Primary", "S70 1AB"),
            gias_line("106620", "Good One Again", "Community school", "Open", "Primary", "S70 1AA"),
        ]);
        let report = expect_json(app.import("", file).await, 200).await;
        assert_eq!(counts(&report), (2, 0, 0, 5), "{report}");
        let rejected = report["rejected"].as_array().unwrap();
        let lines: Vec<(i64, Value)> = rejected.iter().map(|r| (r["line"].as_i64().unwrap(), r["urn"].clone())).collect();
        assert_eq!(lines, vec![
            (3, Value::Null),
            (4, json!("10662x")),
            (5, json!("106621")),
            (6, json!("106622")),
            (8, json!("106620")),
        ]);
        let reasons: Vec<&str> = rejected.iter().map(|r| r["reason"].as_str().unwrap()).collect();
        assert!(reasons[0].contains("URN is missing"), "{reasons:?}");
        assert!(reasons[1].contains("not a number"), "{reasons:?}");
        assert!(reasons[2].contains("name is empty"), "{reasons:?}");
        assert!(reasons[3].contains("postcode") && reasons[3].contains("NOWHERE"), "{reasons:?}");
        assert!(reasons[4].contains("already on line 2"), "{reasons:?}");
        let schools = app.admin_get("/api/v1/schools").await;
        assert_eq!(schools["total"], 2);
        assert_eq!(schools["items"][0]["name"], "Good One");
        assert_eq!(schools["items"][1]["name"], "Good Two");
    }
}

both_backends! {
    async fn reimport_counts_unchanged_and_updated(app: TestApp) {
        let lines = vec![
            gias_line("106630", "Alpha Primary", "Community school", "Open", "Primary", "S70 1AA"),
            gias_line("106631", "Beta Primary", "Community school", "Open", "Primary", "S70 1AB"),
            gias_line("106632", "Gamma Secondary", "Academy converter", "Open", "Secondary", "S70 1AC"),
        ];
        let report = expect_json(app.import("", gias_file(&lines)).await, 200).await;
        assert_eq!(counts(&report), (3, 0, 0, 0));
        // An admin puts a school in a cluster; a file without clusters leaves it there.
        let cluster = app.admin_create("/api/v1/clusters", json!({"name": "Penistone"})).await;
        let beta = app.school_by_urn(106631).await;
        expect_json(app.patch(&format!("/api/v1/schools/{}", beta["id"].as_str().unwrap()), Some(&app.admin_token),
            &json!({"cluster_id": cluster["id"]})).await, 200).await;

        let report = expect_json(app.import("", gias_file(&lines)).await, 200).await;
        assert_eq!(counts(&report), (0, 0, 3, 0), "{report}");

        let changed = vec![
            gias_line("106630", "Alpha Primary Academy", "Academy converter", "Open", "Primary", "S70 1AA"),
            lines[1].clone(),
            gias_line("106632", "Gamma Secondary", "Academy converter", "Closed", "Secondary", "S70 1AC"),
            gias_line("106633", "Delta Infant", "Community school", "Open", "Primary", "S70 1AD"),
        ];
        let report = expect_json(app.import("", gias_file(&changed)).await, 200).await;
        assert_eq!(counts(&report), (1, 2, 1, 0), "{report}");
        let alpha = app.school_by_urn(106630).await;
        assert_eq!(alpha["name"], "Alpha Primary Academy");
        assert_eq!(alpha["school_type"], "Academy converter");
        assert_eq!(app.school_by_urn(106632).await["is_open"], false);
        assert_eq!(app.school_by_urn(106631).await["cluster"]["name"], "Penistone");
        assert_eq!(app.admin_get("/api/v1/schools").await["total"], 4);
    }
}

both_backends! {
    async fn import_refuses_bad_requests(app: TestApp) {
        let file = gias_file(&[gias_line("106640", "A School", "Community school", "Open", "Primary", "S70 1AA")]);
        // Wrong content types.
        for ct in ["text/plain", "application/json", "multipart/form-data; boundary=x"] {
            let r = app.send_body(Method::POST, "/api/v1/schools/import", Some(&app.admin_token), ct, file.clone()).await;
            expect_problem(r, 415, None).await;
        }
        // text/csv with a charset parameter is fine (the bytes decide the encoding).
        let r = app.send_body(Method::POST, "/api/v1/schools/import", Some(&app.admin_token), "text/csv; charset=windows-1252", file.clone()).await;
        assert_eq!(counts(&expect_json(r, 200).await), (1, 0, 0, 0));
        // No token; a signed-in non-admin.
        let r = app.send_body(Method::POST, "/api/v1/schools/import", None, "text/csv", file.clone()).await;
        expect_problem(r, 401, None).await;
        let staff = app.person_with_roles(&[cpd_hub::domain::roles::Role::SchoolLead], None).await.1;
        let r = app.send_body(Method::POST, "/api/v1/schools/import", Some(&staff), "text/csv", file.clone()).await;
        expect_problem(r, 403, None).await;
        // A file that is not a GIAS file at all.
        let p = expect_problem(app.import("", "URN,Name\n1,A\n").await, 422, Some("file")).await;
        assert!(p["errors"]["file"][0].as_str().unwrap().contains("EstablishmentName"), "{p}");
        expect_problem(app.import("", "").await, 422, Some("file")).await;
        // A bad option.
        expect_problem(app.import("?create_clusters=maybe", file.clone()).await, 422, Some("create_clusters")).await;
        // Nothing but the one good import happened.
        assert_eq!(app.admin_get("/api/v1/schools").await["total"], 1);
    }
}

both_backends! {
    async fn unknown_clusters_can_be_refused(app: TestApp) {
        app.admin_create("/api/v1/clusters", json!({"name": "CARM"})).await;
        let file = format!(
            "{GIAS_HEADER},Cluster\n{},carm\n{},Nowhere\n",
            gias_line("106650", "Known Cluster School", "Community school", "Open", "Primary", "S70 1AA"),
            gias_line("106651", "Unknown Cluster School", "Community school", "Open", "Primary", "S70 1AB"),
        );
        let report = expect_json(app.import("?create_clusters=false", file).await, 200).await;
        assert_eq!(counts(&report), (1, 0, 0, 1), "{report}");
        assert_eq!(report["rejected"][0]["line"], 3);
        assert!(report["rejected"][0]["reason"].as_str().unwrap().contains("Nowhere"));
        assert_eq!(report["clusters_created"], json!([]));
        assert_eq!(app.admin_get("/api/v1/clusters").await["total"], 1);
        assert_eq!(app.school_by_urn(106650).await["cluster"]["name"], "CARM");
    }
}

both_backends! {
    async fn imports_a_full_size_file(app: TestApp) {
        // GIAS lists about 25,000 open establishments in England.
        let lines: Vec<String> = (0..25_000)
            .map(|i| gias_line(&(100_000 + i).to_string(), &format!("School {i}"), "Community school", "Open", "Primary", "S70 2HZ"))
            .collect();
        let file = gias_file(&lines);
        let started = std::time::Instant::now();
        let report = expect_json(app.import("", file.clone()).await, 200).await;
        eprintln!("25,000 lines imported in {:?}", started.elapsed());
        assert_eq!(counts(&report), (25_000, 0, 0, 0));
        assert_eq!(app.admin_get("/api/v1/schools?limit=1").await["total"], 25_000);
        let report = expect_json(app.import("", file).await, 200).await;
        assert_eq!(counts(&report), (0, 0, 25_000, 0));
    }
}

/// Runs `cpd-hub` with the test database and returns (success, stdout, stderr).
async fn run_cli(app: &TestApp, args: Vec<String>) -> (bool, String, String) {
    let url = app.db.url().to_string();
    tokio::task::spawn_blocking(move || {
        // A working directory of its own, so no .env file is picked up.
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_cpd-hub"))
            .args(&args)
            .current_dir(dir.path())
            .env("DATABASE_URL", url)
            .env_remove("BIND")
            .env("RUST_LOG", "warn")
            .output()
            .expect("cpd-hub runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

both_backends! {
    async fn command_line_import_with_a_cluster_mapping(app: TestApp) {
        let dir = tempfile::tempdir().unwrap();
        let gias = dir.path().join("edubasealldata.csv");
        let text = gias_file(&[
            gias_line("106660", "Penistone Grammar", "Academy converter", "Open", "Secondary", "S36 7BX"),
            gias_line("106661", "Thurlstone Primary", "Community school", "Open", "Primary", "S36 9QY"),
            gias_line("106662", "Worsbrough Bank End", "Community school", "Open", "Primary", "S70 4AZ"),
            gias_line("abc", "Broken Line", "Community school", "Open", "Primary", "S70 4AZ"),
        ]);
        std::fs::write(&gias, encoding_rs::WINDOWS_1252.encode(&text).0).unwrap();
        let map = dir.path().join("clusters.csv");
        std::fs::write(&map, "URN,cluster\n106660,Penistone\n106661,penistone\n106662,Worsbrough and Stairfoot\n").unwrap();

        let args = vec![
            "import-schools".to_string(),
            gias.display().to_string(),
            "--clusters".to_string(),
            map.display().to_string(),
        ];
        let (ok, stdout, stderr) = run_cli(&app, args.clone()).await;
        assert!(ok, "stdout: {stdout}\nstderr: {stderr}");
        assert!(stdout.contains("3 created, 0 updated, 0 unchanged, 1 rejected."), "{stdout}");
        assert!(stdout.contains("Clusters created: Penistone, Worsbrough and Stairfoot."), "{stdout}");
        assert!(stdout.contains("line 5 (URN abc):"), "{stdout}");
        assert_eq!(app.school_by_urn(106660).await["cluster"]["name"], "Penistone");
        assert_eq!(app.school_by_urn(106661).await["cluster"]["name"], "Penistone");
        assert_eq!(app.school_by_urn(106662).await["cluster"]["name"], "Worsbrough and Stairfoot");
        assert_eq!(app.admin_get("/api/v1/clusters").await["total"], 2);

        // Again: nothing changes.
        let (ok, stdout, _) = run_cli(&app, args).await;
        assert!(ok);
        assert!(stdout.contains("0 created, 0 updated, 3 unchanged, 1 rejected."), "{stdout}");

        // A file that cannot be used, and a bad mapping, fail with a message naming the file.
        let bad = dir.path().join("not-gias.csv");
        std::fs::write(&bad, "URN,Name\n1,A\n").unwrap();
        let (ok, _, stderr) = run_cli(&app, vec!["import-schools".into(), bad.display().to_string()]).await;
        assert!(!ok);
        assert!(stderr.contains("not-gias.csv") && stderr.contains("EstablishmentName"), "{stderr}");
        let bad_map = dir.path().join("bad-map.csv");
        std::fs::write(&bad_map, "106660,Penistone\nxyz,Dearne\n").unwrap();
        let (ok, _, stderr) = run_cli(&app, vec![
            "import-schools".into(), gias.display().to_string(), "--clusters".into(), bad_map.display().to_string(),
        ]).await;
        assert!(!ok);
        assert!(stderr.contains("bad-map.csv") && stderr.contains("line 2"), "{stderr}");
        let (ok, _, stderr) = run_cli(&app, vec!["import-schools".into(), "/no/such/file.csv".into()]).await;
        assert!(!ok);
        assert!(stderr.contains("/no/such/file.csv"), "{stderr}");
        assert_eq!(app.admin_get("/api/v1/schools").await["total"], 3);
    }
}
