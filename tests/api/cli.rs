//! The `cpd-hub` binary as a newcomer runs it: real processes against the test database.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use cpd_hub::db::schema::{clusters, people, person_roles, providers, schools, staff_groups};
use diesel::prelude::*;
use serde_json::json;

use crate::both_backends;
use crate::helpers::{expect_json, fresh_db, Backend, TestApp};

/// Runs `cpd-hub` with these arguments and environment, in an empty directory (so no `.env`
/// is read), giving up after a minute.
fn run_cli(args: &[&str], env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cpd-hub"));
    cmd.args(args)
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .env_remove("BIND")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("cpd-hub starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "cpd-hub {args:?} did not finish; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// [`run_cli`] off the async workers, against the test app's database.
async fn cli(app: &TestApp, args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let url = app.settings.database_url.clone();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_cli(&args, &[("DATABASE_URL", &url)])
    })
    .await
    .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        stdout(out),
        stderr(out)
    );
}

fn migrate_from_empty(backend: Backend) {
    let Some(db) = fresh_db(backend) else {
        eprintln!("TEST_POSTGRES_URL is not set: PostgreSQL half skipped");
        return;
    };
    let env = [("DATABASE_URL", db.url())];
    let first = run_cli(&["migrate"], &env);
    assert_ok(&first);
    let applied: usize = stdout(&first)
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a count of migrations: {}", stdout(&first)));
    assert!(applied >= 1, "{}", stdout(&first));
    let again = run_cli(&["migrate"], &env);
    assert_ok(&again);
    assert!(
        stdout(&again).contains("0 migrations applied"),
        "{}",
        stdout(&again)
    );
    // The schema is there, with the default staff groups, and nothing else.
    let pool = cpd_hub::db::build_pool(db.url(), Some(1), Duration::from_secs(10)).unwrap();
    let mut c = pool.get().unwrap();
    let groups: i64 = staff_groups::table.count().get_result(&mut c).unwrap();
    assert_eq!(
        groups as usize,
        cpd_hub::store::reference::DEFAULT_STAFF_GROUPS.len()
    );
    assert_eq!(people::table.count().get_result::<i64>(&mut c).unwrap(), 0);
}

#[test]
fn migrate_from_empty_sqlite() {
    migrate_from_empty(Backend::Sqlite);
}

#[test]
fn migrate_from_empty_postgres() {
    migrate_from_empty(Backend::Postgres);
}

both_backends! {
    async fn admin_create_prints_a_working_token_and_promotes_on_rerun(app: TestApp) {
        let out = cli(&app, &["admin", "create", "--email", "New.Admin@Example.org", "--name", "Nia Admin"]).await;
        assert_ok(&out);
        let text = stdout(&out);
        assert!(text.contains("Created admin"), "{text}");
        let token = text.lines().last().unwrap().trim().to_string();
        assert!(token.starts_with("cpd_"), "last line: {token}");
        let me = expect_json(app.get("/api/v1/me", Some(&token)).await, 200).await;
        assert_eq!(me["person"]["email"], "new.admin@example.org");
        assert_eq!(me["person"]["name"], "Nia Admin");
        assert_eq!(me["roles"], json!(["staff", "admin"]));
        // An admin-only action works with it.
        let r = app.post("/api/v1/clusters", Some(&token), &json!({"name": "Dearne"})).await;
        assert_eq!(r.status(), 201);

        // Again for the same email in another case: the same person, a second working token.
        let out = cli(&app, &["admin", "create", "--email", "NEW.ADMIN@example.org", "--name", "Someone Else"]).await;
        assert_ok(&out);
        assert!(stdout(&out).contains("is now an admin"), "{}", stdout(&out));
        let second = stdout(&out).lines().last().unwrap().trim().to_string();
        assert_ne!(second, token);
        let me2 = expect_json(app.get("/api/v1/me", Some(&second)).await, 200).await;
        assert_eq!(me2["person"]["id"], me["person"]["id"]);
        assert_eq!(me2["person"]["name"], "Nia Admin");
        assert_eq!(app.admin_get("/api/v1/people?q=new.admin").await["total"], 1);
        assert_eq!(app.get("/api/v1/me", Some(&token)).await.status(), 200);

        // Promoting someone who is on record already as staff.
        let (staff_id, staff_token) = app.person_with_roles(&[], None).await;
        let email = expect_json(app.get("/api/v1/me", Some(&staff_token)).await, 200).await["person"]["email"]
            .as_str().unwrap().to_uppercase();
        let out = cli(&app, &["admin", "create", "--email", &email, "--name", "X"]).await;
        assert_ok(&out);
        let me3 = expect_json(app.get("/api/v1/me", Some(&staff_token)).await, 200).await;
        assert_eq!(me3["person"]["id"], staff_id.as_str());
        assert_eq!(me3["roles"], json!(["staff", "admin"]));
        assert_eq!(app.admin_get("/api/v1/people").await["total"], 3);

        // A bad --email or empty --name fails, naming it, and creates no one.
        for (email, name, flag) in [("not-an-email", "N", "--email"), ("a@b", "N", "--email"), ("ok@school.example", " ", "--name")] {
            let out = cli(&app, &["admin", "create", "--email", email, "--name", name]).await;
            assert!(!out.status.success());
            assert!(stderr(&out).contains(flag), "{}", stderr(&out));
            assert!(!stdout(&out).contains("cpd_"));
        }
        let out = cli(&app, &["admin", "create", "--name", "No Email"]).await;
        assert!(!out.status.success());
        assert!(stderr(&out).contains("--email"), "{}", stderr(&out));
        assert_eq!(app.admin_get("/api/v1/people").await["total"], 3);
    }
}

/// Everything the seed could have touched, to compare before and after a second run.
type Fingerprint = (
    Vec<(String, String, i64)>,
    Vec<(String, String, Option<String>)>,
    i64,
    i64,
    i64,
);

async fn fingerprint(app: &TestApp) -> Fingerprint {
    app.with_db(|c| {
        let schools: Vec<(String, String, i64)> = schools::table
            .order(schools::urn)
            .select((schools::id, schools::name, schools::urn))
            .load(c)
            .unwrap();
        let people: Vec<(String, String, Option<String>)> = people::table
            .order(people::email)
            .select((people::id, people::email, people::school_id))
            .load(c)
            .unwrap();
        let roles: i64 = person_roles::table.count().get_result(c).unwrap();
        let clusters: i64 = clusters::table.count().get_result(c).unwrap();
        let providers: i64 = providers::table.count().get_result(c).unwrap();
        (schools, people, roles, clusters, providers)
    })
    .await
}

/// The number before "(N added)" on the summary line that starts with `what`.
fn summary_count(text: &str, what: &str) -> (i64, i64) {
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with(what))
        .unwrap_or_else(|| panic!("no {what} line in {text}"));
    let mut words = line.split_whitespace().skip(1);
    let total = words.next().unwrap().parse().unwrap();
    let added = words
        .next()
        .unwrap()
        .trim_start_matches('(')
        .parse()
        .unwrap();
    (total, added)
}

both_backends! {
    async fn seed_demo_builds_the_alliance_once(app: TestApp) {
        let out = cli(&app, &["seed-demo"]).await;
        assert_ok(&out);
        let text = stdout(&out);
        assert_eq!(summary_count(&text, "clusters"), (9, 9), "{:?}: {text}", app.backend);
        assert_eq!(summary_count(&text, "schools"), (92, 92), "{text}");
        assert_eq!(summary_count(&text, "providers"), (2, 2), "{text}");
        let (courses_total, courses_added) = summary_count(&text, "courses");
        assert_eq!(courses_total, courses_added, "{text}");
        assert!(courses_total >= 30, "{text}");
        // The term's published courses are in the public calendar, with their leads.
        let calendar = expect_json(app.get("/api/v1/courses?limit=100", None).await, 200).await;
        assert!(calendar["total"].as_i64().unwrap() >= 25, "{calendar}");
        // Bookings across the schools, with full courses, waiting lists and late cancellations,
        // and a few schools with none at all.
        let bookings_line = |text: &str| -> i64 {
            let line = text.lines().find(|l| l.trim_start().starts_with("bookings")).unwrap();
            line.split_whitespace().nth(1).unwrap().parse().unwrap()
        };
        assert!(bookings_line(&text) >= 500, "{text}");
        for status in ["confirmed", "waitlisted", "cancelled"] {
            let page = app.admin_get(&format!("/api/v1/bookings?status={status}&limit=1")).await;
            assert!(page["total"].as_i64().unwrap() > 0, "no {status} bookings");
        }
        let booked_schools = app.with_db(|c| {
            use cpd_hub::db::schema::bookings;
            let ids: Vec<Option<String>> = bookings::table.select(bookings::school_id).distinct().load(c).unwrap();
            ids.into_iter().flatten().count()
        }).await;
        assert!((80..92).contains(&booked_schools), "{booked_schools} schools booked");
        let (people_total, added) = summary_count(&text, "people");
        assert_eq!(people_total, added);
        assert!((400..=600).contains(&people_total), "{people_total} people");

        // The API shows the seeded people (and the test's admin).
        let page = app.admin_get("/api/v1/people?limit=1").await;
        assert_eq!(page["total"].as_i64(), Some(people_total + 1));
        assert_eq!(page["items"].as_array().unwrap().len(), 1);
        let leads = app.admin_get("/api/v1/people?role=school_lead&limit=1").await;
        assert_eq!(leads["total"], 92);
        assert!(app.admin_get("/api/v1/people?role=course_lead").await["total"].as_i64().unwrap() >= 3);
        assert!(app.admin_get("/api/v1/people?role=cpd_group").await["total"].as_i64().unwrap() >= 3);
        let clusters_page = app.admin_get("/api/v1/clusters?limit=100").await;
        assert_eq!(clusters_page["total"], 9);
        let mut names: Vec<&str> = clusters_page["items"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
        names.sort();
        assert_eq!(names, ["CARM", "Cudworth", "Darfield and Wombwell", "Darton", "Dearne", "Hoyland", "Penistone", "Town Centre", "Worsbrough and Stairfoot"]);

        // 92 schools in 9 clusters, 79/11/2, each cluster with the strategy's mix.
        let by_cluster: Vec<(Option<String>, String)> = app.with_db(|c| {
            schools::table
                .left_join(clusters::table)
                .select((clusters::name.nullable(), schools::phase))
                .load(c)
                .unwrap()
        }).await;
        assert_eq!(by_cluster.len(), 92);
        let count = |cluster: Option<&str>, phase: &str| by_cluster
            .iter()
            .filter(|(c, p)| cluster.is_none_or(|n| c.as_deref() == Some(n)) && p == phase)
            .count();
        assert_eq!((count(None, "primary"), count(None, "secondary"), count(None, "special")), (79, 11, 2));
        assert!(by_cluster.iter().all(|(c, _)| c.is_some()));
        let mix = |n| (count(Some(n), "primary"), count(Some(n), "secondary"), count(Some(n), "special"));
        assert_eq!(mix("Town Centre"), (13, 2, 1));
        assert_eq!(mix("CARM"), (10, 2, 1));
        assert_eq!(mix("Darton"), (4, 1, 0));
        assert_eq!(mix("Penistone"), (10, 1, 0));
        // Through the API: GET /api/v1/schools?limit=100 shows the 92 schools in 9 clusters,
        // and the providers read back with their kinds.
        let schools_page = app.admin_get("/api/v1/schools?limit=100").await;
        assert_eq!(schools_page["total"], 92);
        let items = schools_page["items"].as_array().unwrap();
        assert_eq!(items.len(), 92);
        let mut cluster_names: Vec<&str> = items.iter().map(|s| s["cluster"]["name"].as_str().unwrap()).collect();
        cluster_names.sort();
        cluster_names.dedup();
        assert_eq!(cluster_names.len(), 9);
        let providers = app.admin_get("/api/v1/providers").await;
        let mut kinds: Vec<&str> = providers["items"].as_array().unwrap().iter().map(|p| p["kind"].as_str().unwrap()).collect();
        kinds.sort();
        assert_eq!(kinds, ["local_authority", "teaching_alliance"]);
        // Every school has its lead, and staff emails use the school's demo domain.
        let sample = app.admin_get("/api/v1/people?role=school_lead&limit=5").await;
        for p in sample["items"].as_array().unwrap() {
            assert!(p["email"].as_str().unwrap().ends_with(".sch.example"), "{p}");
            assert!(p["school"]["id"].is_string() && p["staff_group"]["id"].is_string(), "{p}");
        }

        // A second run adds nothing and changes nothing.
        let before = fingerprint(&app).await;
        let out = cli(&app, &["seed-demo"]).await;
        assert_ok(&out);
        let text = stdout(&out);
        for what in ["clusters", "schools", "providers", "people", "courses"] {
            assert_eq!(summary_count(&text, what).1, 0, "{what}: {text}");
        }
        assert_eq!(summary_count(&text, "people").0, people_total);
        assert_eq!(bookings_line(&text), 0, "{text}");
        assert_eq!(fingerprint(&app).await, before);
        assert_eq!(app.admin_get("/api/v1/people?limit=1").await["total"].as_i64(), Some(people_total + 1));
    }
}

/// Runs `serve` (or another command) with a broken setting and expects it to stop at once,
/// naming the variable.
fn refuses_to_start(args: &[&str], env: &[(&str, &str)], variable: &str) {
    let out = run_cli(args, env);
    assert!(!out.status.success(), "{args:?} with {env:?} should fail");
    let err = stderr(&out);
    assert!(
        err.contains(variable),
        "{args:?} with {env:?}: the message should name {variable}: {err}"
    );
}

both_backends! {
    async fn a_second_copy_on_a_taken_port_names_bind(app: TestApp) {
        // The database is fine (the running service uses it); the address is not free.
        let bind = format!("127.0.0.1:{}", app.port);
        let url = app.settings.database_url.clone();
        tokio::task::spawn_blocking(move || {
            refuses_to_start(&["serve"], &[("BIND", &bind), ("DATABASE_URL", &url)], "BIND")
        })
        .await
        .unwrap();
        assert_eq!(app.get("/healthz", None).await.status(), 200);
    }
}

#[test]
fn bad_settings_stop_start_up_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("x.db").display());
    refuses_to_start(
        &["serve"],
        &[("BIND", "localhost"), ("DATABASE_URL", &db)],
        "BIND",
    );
    refuses_to_start(
        &["serve"],
        &[("BIND", "127.0.0.1:99999"), ("DATABASE_URL", &db)],
        "BIND",
    );
    refuses_to_start(
        &["serve"],
        &[("DATABASE_URL", "mysql://localhost/cpd")],
        "DATABASE_URL",
    );
    refuses_to_start(
        &["migrate"],
        &[("DATABASE_URL", "cpd-hub.db")],
        "DATABASE_URL",
    );
    refuses_to_start(
        &["seed-demo"],
        &[("DATABASE_URL", "mysql://localhost/cpd")],
        "DATABASE_URL",
    );
    // A database that cannot be reached (nothing listens on port 1).
    refuses_to_start(
        &["migrate"],
        &[("DATABASE_URL", "postgres://postgres@127.0.0.1:1/cpd")],
        "DATABASE_URL",
    );
    refuses_to_start(
        &["serve"],
        &[
            ("DATABASE_URL", "postgres://postgres@127.0.0.1:1/cpd"),
            ("BIND", "127.0.0.1:0"),
        ],
        "DATABASE_URL",
    );
}

#[test]
fn every_command_explains_itself() {
    let help = |args: &[&str]| {
        let out = run_cli(args, &[]);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        stdout(&out)
    };
    let top = help(&["--help"]);
    for cmd in [
        "serve",
        "migrate",
        "admin",
        "seed-demo",
        "DATABASE_URL",
        "BIND",
        "admin create --email",
    ] {
        assert!(top.contains(cmd), "--help should mention {cmd}: {top}");
    }
    let serve = help(&["serve", "--help"]);
    assert!(
        serve.contains("BIND") && serve.contains("/api/docs"),
        "{serve}"
    );
    assert!(help(&["migrate", "--help"]).contains("migrations"));
    assert!(help(&["admin", "--help"]).contains("create"));
    let create = help(&["admin", "create", "--help"]);
    for word in [
        "--email <EMAIL>",
        "--name <NAME>",
        "token",
        "last line",
        "Authorization: Bearer",
    ] {
        assert!(
            create.contains(word),
            "admin create --help should mention {word}: {create}"
        );
    }
    let seed = help(&["seed-demo", "--help"]);
    for word in ["92", "9 clusters", "fictional", "again"] {
        assert!(
            seed.contains(word),
            "seed-demo --help should mention {word}: {seed}"
        );
    }
}

both_backends! {
    async fn reports_refresh_sums_every_marked_course(app: TestApp) {
        assert_ok(&cli(&app, &["seed-demo"]).await);
        let out = cli(&app, &["reports-refresh"]).await;
        assert_ok(&out);
        assert!(stdout(&out).contains(" courses summed and "), "{}", stdout(&out));
        let (marked, tails, kept, published) = app
            .with_db(|c| {
                #[derive(diesel::QueryableByName)]
                struct N {
                    #[diesel(sql_type = diesel::sql_types::BigInt)]
                    n: i64,
                }
                let mut count = |sql: &str| {
                    diesel::RunQueryDsl::get_result::<N>(diesel::sql_query(sql), c).unwrap().n
                };
                let kept = count("SELECT COUNT(*) AS n FROM report_courses");
                let published = count(
                    "SELECT COUNT(*) AS n FROM courses WHERE status = 'published' \
                     AND first_session_start IS NOT NULL",
                );
                (
                    cpd_hub::store::report_cells::marked(c).unwrap(),
                    cpd_hub::store::report_cells::marked_tails(c).unwrap(),
                    kept,
                    published,
                )
            })
            .await;
        // Every published course of the demo is summed, every school's evaluation tail is
        // kept, and nothing waits.
        assert_eq!(marked, 0);
        assert_eq!(tails, 0);
        assert_eq!(kept, published);
        assert!(kept >= 25, "{kept}");
        let again = cli(&app, &["reports-refresh"]).await;
        assert_ok(&again);
        assert!(
            stdout(&again).starts_with("0 courses summed and 0 schools' years"),
            "{}",
            stdout(&again)
        );
    }
}

both_backends! {
    /// A newcomer's first run: seed-demo names a demo person per role, and
    /// `admin sign-in-link` gives a link that signs that person in (once), with no email.
    async fn a_newcomer_signs_in_as_a_demo_person(app: TestApp) {
        let out = cli(&app, &["seed-demo"]).await;
        assert_ok(&out);
        let text = stdout(&out);
        let demo: Vec<(String, String)> = text
            .lines()
            .skip_while(|l| !l.starts_with("Demo people to sign in as"))
            .skip(1)
            .take_while(|l| l.starts_with("  "))
            .map(|l| {
                let role = l[2..20].trim().to_string();
                let email = l[l.rfind('<').unwrap() + 1..l.rfind('>').unwrap()].to_string();
                (role, email)
            })
            .collect();
        let roles: Vec<&str> = demo.iter().map(|(r, _)| r.as_str()).collect();
        assert_eq!(
            roles,
            ["member of staff", "school CPD lead", "course lead", "CPD Working Group"],
            "{text}"
        );
        assert!(text.contains("cpd-hub admin sign-in-link --email ADDRESS"), "{text}");

        let (_, staff) = &demo[0];
        let out = cli(&app, &["admin", "sign-in-link", "--email", &staff.to_uppercase()]).await;
        assert_ok(&out);
        let link = stdout(&out).lines().last().unwrap().to_string();
        let token = link
            .split("/auth/magic?token=")
            .nth(1)
            .unwrap_or_else(|| panic!("a sign-in link: {link}"))
            .to_string();
        // The link's page confirms, and its button signs in as that person.
        let r = app.client.get(format!("{}/auth/magic?token={token}", app.address)).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let r = app
            .client
            .post(format!("{}/auth/magic", app.address))
            .header("origin", &app.address)
            .form(&[("token", token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        let cookie = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .find(|c| c.starts_with("cpd_session="))
            .expect("a session cookie");
        let session = cookie.split(';').next().unwrap().to_string();
        let me = app
            .client
            .get(format!("{}/api/v1/me", app.address))
            .header("cookie", &session)
            .send()
            .await
            .unwrap();
        let me: serde_json::Value = me.json().await.unwrap();
        assert_eq!(me["person"]["email"], staff.as_str(), "{me}");
        // Once only.
        let again = app
            .client
            .post(format!("{}/auth/magic", app.address))
            .header("origin", &app.address)
            .form(&[("token", token.as_str())])
            .send()
            .await
            .unwrap();
        assert_ne!(again.status(), 303);
        // Recorded in the audit log; nothing emailed.
        let audit = app.admin_get("/api/v1/admin/audit?action=sign_in_link.issued").await;
        assert_eq!(audit["total"], 1, "{audit}");
        let queued = crate::booking_support::bk_count(
            &app,
            "SELECT COUNT(*) AS n FROM outbox WHERE kind = 'sign_in_link'",
        )
        .await;
        assert_eq!(queued, 0);
        // Nobody on record: a clear refusal naming the option.
        let out = cli(&app, &["admin", "sign-in-link", "--email", "nobody@nowhere.test"]).await;
        assert!(!out.status.success());
        assert!(stderr(&out).contains("--email"), "{}", stderr(&out));
    }
}
