//! Bad input, table-driven: NUL and other control characters in every kind of text field,
//! bodies far over the limit, deep nesting, bytes that are not UTF-8, integers that overflow,
//! malformed ids in paths and methods a path does not take. Each answer must be a 4xx
//! problem+json naming the field where there is one, never a 5xx, and SQLite and PostgreSQL
//! must give the same answers (PostgreSQL cannot store NUL; SQLite used to store it).

use reqwest::Method;
use serde_json::{json, Value};

use crate::booking_support::session_in;
use crate::calendar_support::{cal_course, cal_fixture};
use crate::helpers::{spawn_app, Backend, TestApp};

/// How a case sends its body.
enum Body {
    None,
    Json(Value),
    /// Raw bytes with a content type.
    Raw(&'static str, Vec<u8>),
}

/// One request of the table: who sends it, how, and what it must be answered.
struct Case {
    name: &'static str,
    admin: bool,
    method: Method,
    path: String,
    body: Body,
    status: u16,
    /// The field the 422 names, where there is one.
    field: Option<&'static str>,
}

/// What a case was answered, in the terms compared between the backends.
#[derive(Debug, PartialEq, Eq)]
struct Answer {
    name: &'static str,
    status: u16,
    problem_type: String,
    fields: Vec<String>,
}

/// A nested JSON array `depth` deep.
fn nested(depth: usize) -> Vec<u8> {
    let mut s = "[".repeat(depth);
    s.push_str(&"]".repeat(depth));
    s.into_bytes()
}

/// A JSON object `{"name": "aaaa..."}` of about `bytes` bytes.
fn big_name(bytes: usize) -> Vec<u8> {
    format!("{{\"name\": \"{}\"}}", "a".repeat(bytes)).into_bytes()
}

fn cases(course_id: &str, session_id: &str) -> Vec<Case> {
    let nul = "a\u{0}b";
    let no_such = "0190f000-0000-7000-8000-000000000000";
    let case = |name, admin, method, path: &str, body, status, field| Case {
        name,
        admin,
        method,
        path: path.to_string(),
        body,
        status,
        field,
    };
    use Body::{Json, Raw};
    vec![
        // Signed out.
        case(
            "list q NUL",
            false,
            Method::GET,
            "/api/v1/courses?q=%00",
            Body::None,
            422,
            Some("q"),
        ),
        case(
            "list q C1",
            false,
            Method::GET,
            "/api/v1/courses?q=a%C2%85b",
            Body::None,
            422,
            Some("q"),
        ),
        case(
            "list q bad UTF-8",
            false,
            Method::GET,
            "/api/v1/courses?q=%FF%FE",
            Body::None,
            200,
            None,
        ),
        case(
            "list limit overflow",
            false,
            Method::GET,
            "/api/v1/courses?limit=99999999999999999999",
            Body::None,
            422,
            Some("limit"),
        ),
        case(
            "list limit 0",
            false,
            Method::GET,
            "/api/v1/courses?limit=0",
            Body::None,
            422,
            Some("limit"),
        ),
        case(
            "course id NUL",
            false,
            Method::GET,
            "/api/v1/courses/a%00b",
            Body::None,
            404,
            None,
        ),
        case(
            "course id not a UUID",
            false,
            Method::GET,
            "/api/v1/courses/abc",
            Body::None,
            404,
            None,
        ),
        case(
            "course id bad UTF-8",
            false,
            Method::GET,
            "/api/v1/courses/%FF",
            Body::None,
            404,
            None,
        ),
        case(
            "calendar q NUL",
            false,
            Method::GET,
            "/calendar.ics?q=%00",
            Body::None,
            422,
            Some("q"),
        ),
        case(
            "course calendar id NUL",
            false,
            Method::GET,
            "/api/v1/courses/a%00/calendar.ics",
            Body::None,
            404,
            None,
        ),
        case(
            "calendar page q NUL",
            false,
            Method::GET,
            "/courses?q=%00",
            Body::None,
            422,
            Some("q"),
        ),
        case(
            "magic link email NUL",
            false,
            Method::POST,
            "/api/v1/auth/magic-link",
            Json(json!({"email": "a\u{0}@x.example"})),
            422,
            Some("email"),
        ),
        case(
            "magic link not UTF-8",
            false,
            Method::POST,
            "/api/v1/auth/magic-link",
            Raw("application/json", b"{\"email\": \"\xff\"}".to_vec()),
            422,
            Some("email"),
        ),
        case(
            "magic link not JSON",
            false,
            Method::POST,
            "/api/v1/auth/magic-link",
            Raw("application/json", b"\xff\xfe{".to_vec()),
            400,
            None,
        ),
        case(
            "trace",
            false,
            Method::TRACE,
            "/api/v1/courses",
            Body::None,
            405,
            None,
        ),
        case(
            "delete the calendar",
            false,
            Method::DELETE,
            "/api/v1/courses",
            Body::None,
            405,
            None,
        ),
        case(
            "no such path",
            false,
            Method::GET,
            "/api/v1/nothing-here",
            Body::None,
            404,
            None,
        ),
        // An admin's writes.
        case(
            "cluster name NUL",
            true,
            Method::POST,
            "/api/v1/clusters",
            Json(json!({"name": nul})),
            422,
            Some("name"),
        ),
        case(
            "cluster name newline",
            true,
            Method::POST,
            "/api/v1/clusters",
            Json(json!({"name": "a\nb"})),
            422,
            Some("name"),
        ),
        case(
            "cluster name escape",
            true,
            Method::POST,
            "/api/v1/clusters",
            Json(json!({"name": "a\u{1b}[31m"})),
            422,
            Some("name"),
        ),
        case(
            "cluster key NUL",
            true,
            Method::POST,
            "/api/v1/clusters",
            Json(json!({"name": "ok", "x\u{0}": 1})),
            422,
            Some("body"),
        ),
        case(
            "cluster 300 KB",
            true,
            Method::POST,
            "/api/v1/clusters",
            Raw("application/json", big_name(300 << 10)),
            422,
            Some("name"),
        ),
        case(
            "cluster 2 MB",
            true,
            Method::POST,
            "/api/v1/clusters",
            Raw("application/json", big_name(2 << 20)),
            413,
            None,
        ),
        case(
            "booking 300 KB",
            true,
            Method::POST,
            &format!("/api/v1/courses/{course_id}/bookings"),
            Raw("application/json", big_name(300 << 10)),
            422,
            None,
        ),
        case(
            "booking 2 MB",
            true,
            Method::POST,
            &format!("/api/v1/courses/{course_id}/bookings"),
            Raw("application/json", big_name(2 << 20)),
            413,
            None,
        ),
        case(
            "cluster 10 MB",
            true,
            Method::POST,
            "/api/v1/clusters",
            Raw("application/json", big_name(10 << 20)),
            413,
            None,
        ),
        case(
            "cluster deep nesting",
            true,
            Method::POST,
            "/api/v1/clusters",
            Raw("application/json", nested(100_000)),
            422,
            None,
        ),
        case(
            "answers deep nesting",
            false,
            Method::POST,
            "/api/v1/evaluations/0123abcd",
            Raw(
                "application/json",
                [
                    b"{\"answers\": {\"q\": ".to_vec(),
                    nested(100_000),
                    b"}}".to_vec(),
                ]
                .concat(),
            ),
            400,
            None,
        ),
        case(
            "cluster as text",
            true,
            Method::POST,
            "/api/v1/clusters",
            Raw("text/plain", b"name".to_vec()),
            415,
            None,
        ),
        case(
            "cluster id NUL",
            true,
            Method::PATCH,
            "/api/v1/clusters/a%00",
            Json(json!({"name": "x"})),
            404,
            None,
        ),
        case(
            "provider name C1",
            true,
            Method::POST,
            "/api/v1/providers",
            Json(json!({"name": "a\u{85}", "kind": "teaching_alliance"})),
            422,
            Some("name"),
        ),
        case(
            "person email NUL",
            true,
            Method::POST,
            "/api/v1/people",
            Json(json!({"name": "Nell", "email": "n\u{0}@x.example"})),
            422,
            Some("email"),
        ),
        case(
            "person name NUL",
            true,
            Method::POST,
            "/api/v1/people",
            Json(json!({"name": nul, "email": "nell@x.example"})),
            422,
            Some("name"),
        ),
        case(
            "person id NUL",
            true,
            Method::GET,
            "/api/v1/people/%00",
            Body::None,
            404,
            None,
        ),
        case(
            "course title NUL",
            true,
            Method::PATCH,
            &format!("/api/v1/courses/{course_id}"),
            Json(json!({"title": nul})),
            422,
            Some("title"),
        ),
        case(
            "course summary NUL",
            true,
            Method::PATCH,
            &format!("/api/v1/courses/{course_id}"),
            Json(json!({"summary": "line 1\nline 2\u{0}"})),
            422,
            Some("summary"),
        ),
        case(
            "course venue NUL",
            true,
            Method::POST,
            &format!("/api/v1/courses/{course_id}/sessions"),
            Json(
                json!({"start": "2027-01-14T09:00:00Z", "end": "2027-01-14T12:00:00Z", "venue": {"name": nul, "address": "x", "postcode": "S70 2HZ"}}),
            ),
            422,
            Some("venue.name"),
        ),
        case(
            "course capacity overflow",
            true,
            Method::PATCH,
            &format!("/api/v1/courses/{course_id}"),
            Json(json!({"capacity": 99999999999999999999u128 as f64})),
            422,
            Some("capacity"),
        ),
        case(
            "course capacity huge",
            true,
            Method::PATCH,
            &format!("/api/v1/courses/{course_id}"),
            Raw(
                "application/json",
                b"{\"capacity\": 99999999999999999999}".to_vec(),
            ),
            422,
            Some("capacity"),
        ),
        case(
            "booking person NUL",
            true,
            Method::POST,
            &format!("/api/v1/courses/{course_id}/bookings"),
            Json(json!({"person_id": nul})),
            422,
            Some("person_id"),
        ),
        case(
            "cancel reason NUL",
            true,
            Method::POST,
            &format!("/api/v1/bookings/{no_such}/cancel"),
            Json(json!({"reason": nul})),
            422,
            Some("reason"),
        ),
        case(
            "cancel booking id NUL",
            true,
            Method::POST,
            "/api/v1/bookings/%00/cancel",
            Json(json!({})),
            404,
            None,
        ),
        case(
            "bulk approve id NUL",
            true,
            Method::POST,
            "/api/v1/bookings/approve",
            Json(json!({"booking_ids": [nul]})),
            422,
            Some("booking_ids[0]"),
        ),
        case(
            "register note NUL",
            true,
            Method::PUT,
            &format!("/api/v1/sessions/{session_id}/attendance"),
            Json(json!([{"booking_id": no_such, "status": "present", "note": nul}])),
            422,
            Some("[0].note"),
        ),
        case(
            "register session id",
            true,
            Method::PUT,
            "/api/v1/sessions/x/attendance",
            Json(json!([])),
            404,
            None,
        ),
        case(
            "course cancel reason NUL",
            true,
            Method::POST,
            &format!("/api/v1/courses/{course_id}/cancel"),
            Json(json!({"reason": nul})),
            422,
            Some("reason"),
        ),
        case(
            "school import NUL",
            true,
            Method::POST,
            "/api/v1/schools/import",
            Raw("text/csv", b"URN,EstablishmentName\n1\x00,x\n".to_vec()),
            422,
            None,
        ),
    ]
}

/// Sends every case to one service and checks each answer on its own: the status, problem
/// JSON, the field named.
async fn run_cases(app: &TestApp) -> Vec<Answer> {
    let fx = cal_fixture(app).await;
    let course = app
        .admin_create(
            "/api/v1/courses",
            cal_course(&fx, "Robust input", vec![session_in(30)]),
        )
        .await;
    let course_id = course["id"].as_str().unwrap();
    let session_id = course["sessions"][0]["id"].as_str().unwrap();
    let mut answers = Vec::new();
    let mut failures = Vec::new();
    for case in cases(course_id, session_id) {
        let mut req = app
            .client
            .request(case.method.clone(), format!("{}{}", app.address, case.path));
        if case.admin {
            req = req.bearer_auth(&app.admin_token);
        }
        req = match case.body {
            Body::None => req,
            Body::Json(v) => req.json(&v),
            Body::Raw(ct, bytes) => req.header("content-type", ct).body(bytes),
        };
        let r = req.send().await.expect("request sent");
        let status = r.status().as_u16();
        let content_type = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let text = r.text().await.unwrap_or_default();
        let what = format!(
            "{} ({} {}): {status} {text}",
            case.name, case.method, case.path
        );
        let problem: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let fields: Vec<String> = problem["errors"]
            .as_object()
            .map(|e| e.keys().cloned().collect())
            .unwrap_or_default();
        // Every mismatch is listed at the end, not only the first.
        if status >= 500 {
            failures.push(format!("a server error for {what}"));
        } else if status != case.status {
            failures.push(format!("expected {}: {what}", case.status));
        } else if status != 200 && content_type != "application/problem+json" {
            failures.push(format!("not problem+json ({content_type}): {what}"));
        } else if status != 200 && problem["status"] != status {
            failures.push(format!("the problem's status differs: {what}"));
        } else if case
            .field
            .is_some_and(|field| !fields.iter().any(|f| f.ends_with(field)))
        {
            failures.push(format!("expected errors.{}: {what}", case.field.unwrap()));
        }
        answers.push(Answer {
            name: case.name,
            status,
            problem_type: problem["type"].as_str().unwrap_or_default().to_string(),
            fields,
        });
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    answers
}

/// Nothing was stored from the refused writes: no cluster, provider or person with a control
/// character in any backend.
async fn nothing_stored(app: &TestApp) {
    let clusters = app.admin_get("/api/v1/clusters?limit=1000").await;
    let people = app.admin_get("/api/v1/people?limit=1000").await;
    for item in clusters["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(people["items"].as_array().unwrap())
    {
        let text = item.to_string();
        assert!(!text.contains("\\u0000") && !text.contains("\\n"), "{text}");
    }
}

#[test]
fn bad_input_is_refused_alike_on_both_backends() {
    crate::helpers::run_test(async {
        let sqlite = spawn_app(Backend::Sqlite).await.expect("sqlite");
        let on_sqlite = run_cases(&sqlite).await;
        nothing_stored(&sqlite).await;
        let Some(postgres) = spawn_app(Backend::Postgres).await else {
            eprintln!("TEST_POSTGRES_URL is not set: PostgreSQL half skipped");
            return;
        };
        let on_postgres = run_cases(&postgres).await;
        nothing_stored(&postgres).await;
        assert_eq!(on_sqlite, on_postgres, "the backends answer differently");
    })
}

/// A connection whose thread panicked inside a transaction is dropped, not handed to the next
/// request still inside that transaction (the pool asks diesel whether it is broken).
fn a_connection_that_panicked_mid_transaction_is_not_reused(backend: Backend) {
    use cpd_hub::db::DbConn;
    use diesel::connection::TransactionManager;
    use diesel::r2d2::R2D2Connection;
    use diesel::Connection;
    let Some(db) = crate::helpers::fresh_db(backend) else {
        eprintln!("TEST_POSTGRES_URL is not set: PostgreSQL half skipped");
        return;
    };
    let pool =
        cpd_hub::db::build_pool(db.url(), Some(1), std::time::Duration::from_secs(10)).unwrap();
    let first = pool.clone();
    let panicked = std::thread::spawn(move || {
        let mut conn = first.get().unwrap();
        let _ = conn.transaction::<(), diesel::result::Error, _>(|_| panic!("mid-transaction"));
    })
    .join();
    assert!(panicked.is_err());
    // The pool's one connection: a new one, outside any transaction.
    let mut conn = pool.get().unwrap();
    assert!(
        !R2D2Connection::is_broken(&mut *conn),
        "handed out inside a transaction"
    );
    // And the manager's own answer for a connection left inside one.
    let manager = cpd_hub::db::Manager::new(db.url()).unwrap();
    let mut open = manager.open().unwrap();
    <DbConn as Connection>::TransactionManager::begin_transaction(&mut open).unwrap();
    assert!(diesel::r2d2::ManageConnection::has_broken(
        &manager, &mut open
    ));
    <DbConn as Connection>::TransactionManager::commit_transaction(&mut open).unwrap();
    assert!(!diesel::r2d2::ManageConnection::has_broken(
        &manager, &mut open
    ));
}

#[test]
fn broken_connections_are_dropped_on_both_backends() {
    a_connection_that_panicked_mid_transaction_is_not_reused(Backend::Sqlite);
    a_connection_that_panicked_mid_transaction_is_not_reused(Backend::Postgres);
}

/// The OpenAPI document says what the service does: query parameters are `in: query` (a
/// parameter `in: path` must be in the path's template, or Swagger and generated clients
/// cannot send it), the reports' 200 has JSON and CSV, the problem answers are declared, and
/// the paging limits are in the schema.
async fn the_document_is_true(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        eprintln!("TEST_POSTGRES_URL is not set: PostgreSQL half skipped");
        return;
    };
    let doc = crate::helpers::expect_json(app.get("/api/openapi.json", None).await, 200).await;
    let mut wrong = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for p in op["parameters"].as_array().into_iter().flatten() {
                let name = p["name"].as_str().unwrap();
                if p["in"] == "path" && !path.contains(&format!("{{{name}}}")) {
                    wrong.push(format!("{method} {path}: {name} is in: path"));
                }
            }
            let responses = op["responses"].as_object().unwrap();
            if !op["requestBody"].is_null() {
                for status in ["400", "413", "415", "422"] {
                    if !responses.contains_key(status) {
                        wrong.push(format!("{method} {path}: no {status}"));
                    }
                }
            }
            if !responses.contains_key("default") {
                wrong.push(format!("{method} {path}: no default problem"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    for report in ["/api/v1/reports/engagement", "/api/v1/reports/impact"] {
        let content = &doc["paths"][report]["get"]["responses"]["200"]["content"];
        assert!(
            content["application/json"].is_object() && content["text/csv"].is_object(),
            "{report}: {content}"
        );
    }
    let limit = doc["paths"]["/api/v1/courses"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .unwrap();
    assert_eq!(
        (
            limit["in"].as_str(),
            limit["schema"]["minimum"].as_i64(),
            limit["schema"]["maximum"].as_i64()
        ),
        (Some("query"), Some(1), Some(1000)),
        "{limit}"
    );
}

crate::each_backend!(the_openapi_document_is_true, the_document_is_true);
