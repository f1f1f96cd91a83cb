//! schemathesis (a property-based API tester, from PyPI) against the running service's own
//! OpenAPI document, as the admin, on each backend: every check it has but one (excluded
//! below, with the reason), a fixed seed and a budget small enough for two cores, and no
//! server error or failed check. A failure prints
//! schemathesis's report, which gives the request that reproduces it (a curl command).
//!
//! `CPD_SCHEMATHESIS` names the program; otherwise the one beside `CPD_PYTHON` (the virtual
//! environment `scripts/test` makes under `target/test-python`), else `schemathesis` on the
//! path. Without it the test is skipped and listed, unless `CPD_REQUIRE_TOOLS=1`.

use std::process::Command;

use crate::each_backend;
use crate::helpers::{spawn_app, Backend};
use crate::tools::skip;

/// The seed: the same requests on every run, so a failure reproduces.
const SEED: &str = "20261203";

/// Examples per operation and phase: about 110 operations, run through schemathesis's
/// examples, coverage and fuzzing phases, stay near a minute per backend on two cores.
const MAX_EXAMPLES: &str = "6";

/// The program, if there is one that runs.
fn schemathesis() -> Option<String> {
    let candidates = [
        std::env::var("CPD_SCHEMATHESIS").ok(),
        std::env::var("CPD_PYTHON").ok().and_then(|p| {
            std::path::Path::new(&p)
                .parent()
                .map(|d| d.join("schemathesis").to_string_lossy().into_owned())
        }),
        Some(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("target/test-python/bin/schemathesis")
                .to_string_lossy()
                .into_owned(),
        ),
        Some("schemathesis".to_string()),
    ];
    candidates.into_iter().flatten().find(|p| {
        Command::new(p)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

async fn finds_nothing(backend: Backend) {
    let what = "the schemathesis run against the OpenAPI document";
    let Some(program) = schemathesis() else {
        skip(
            what,
            "schemathesis (scripts/test installs it in a virtual environment; or pip install \
             schemathesis)",
        );
        return;
    };
    let Some(app) = spawn_app(backend).await else {
        eprintln!("TEST_POSTGRES_URL is not set: PostgreSQL half skipped");
        return;
    };
    let address = app.address.clone();
    let token = app.admin_token.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(program)
            .args(["run", &format!("{address}/api/openapi.json")])
            .args(["--url", &address])
            .args(["--header", &format!("Authorization: Bearer {token}")])
            .args(["--checks", "all"])
            // Excluded, because JSON Schema cannot say what the service rightly refuses: rules
            // across fields (booking opens before it closes, before the first session), ids
            // that must name an existing record, an Idempotency-Key reused for another body,
            // and text without control characters (every string field would need a pattern).
            // The opposite check, that invalid data is refused, runs.
            .args(["--exclude-checks", "positive_data_acceptance"])
            // Signing out with the admin's token would end the run's own authentication:
            // every later request would be a 401, testing nothing.
            .args(["--exclude-path", "/api/v1/auth/sign-out"])
            // The pages (tag `web`) answer people with HTML and redirects through sign-in,
            // which the API token does not give; the API is what programs read.
            .args(["--exclude-tag", "web"])
            .args(["--seed", SEED])
            // No example database between runs: the same seed gives the same run.
            .args(["--generation-database", "none"])
            .args(["--max-examples", MAX_EXAMPLES])
            // One worker thread. Python 3.11 keeps the AST builder's recursion count in state
            // shared by all threads (CPython gh-106905, fixed in 3.12), so two threads making
            // values at once can stop schemathesis with an internal error ("AST constructor
            // recursion depth mismatch") that says nothing about the service.
            .args(["--workers", "1"])
            .args(["--request-timeout", "30"])
            .args(["--no-color", "--output-truncate", "false"])
            .env("SCHEMATHESIS_HOOKS", "")
            .current_dir(std::env::temp_dir())
            .output()
            .expect("schemathesis runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "schemathesis found problems (each with the curl command that reproduces it):\n\
         {stdout}\n{stderr}"
    );
    assert!(!stdout.contains("Server error"), "{stdout}");
}

each_backend!(schemathesis_finds_no_failures, finds_nothing);
