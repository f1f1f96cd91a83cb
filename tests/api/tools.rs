//! Programs beside the service that some checks read its output with, as independent readers:
//! Python (its csv module), Python's `icalendar` package, LibreOffice and headless Chromium.
//!
//! On a machine without one of them, the checks that need it are skipped, each saying so on
//! standard error and in the file named by `CPD_SKIP_LOG` (which `scripts/test` prints at the
//! end, with how to run everything). With `CPD_REQUIRE_TOOLS=1`, as CI sets, a missing program
//! fails the test instead, so nothing is skipped unnoticed there.
//!
//! `CPD_PYTHON` names the Python to use (`scripts/test` points it at a virtual environment
//! with `icalendar`); otherwise `python3` on the path.

use std::io::Write as _;
use std::process::Command;
use std::sync::OnceLock;

/// Whether a missing program fails the test (`CPD_REQUIRE_TOOLS=1`) rather than skipping.
pub fn required() -> bool {
    std::env::var("CPD_REQUIRE_TOOLS").is_ok_and(|v| v == "1")
}

/// Records that `what` was not checked because `needs` is missing; fails instead when every
/// program is required.
pub fn skip(what: &str, needs: &str) {
    let line = format!("SKIPPED {what}: needs {needs}");
    if required() {
        panic!("CPD_REQUIRE_TOOLS=1 and {line}");
    }
    eprintln!("{line}");
    if let Some(path) = std::env::var_os("CPD_SKIP_LOG") {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}

/// The Python interpreter to run (`CPD_PYTHON`, else `python3`).
fn interpreter() -> String {
    std::env::var("CPD_PYTHON")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "python3".to_string())
}

/// Whether `python -c code` runs and exits 0.
fn python_runs(code: &str) -> bool {
    Command::new(interpreter())
        .args(["-c", code])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The Python interpreter, if there is one; `None` (the skip recorded for `what`) if not.
pub fn python(what: &str) -> Option<String> {
    static HAS: OnceLock<bool> = OnceLock::new();
    if *HAS.get_or_init(|| python_runs("import csv, json")) {
        Some(interpreter())
    } else {
        skip(what, "python3 (Debian: apt-get install python3)");
        None
    }
}

/// A Python interpreter that has the `icalendar` package, if there is one; `None` (the skip
/// recorded for `what`) if not.
pub fn python_icalendar(what: &str) -> Option<String> {
    static HAS: OnceLock<bool> = OnceLock::new();
    if *HAS.get_or_init(|| python_runs("import icalendar")) {
        Some(interpreter())
    } else {
        skip(
            what,
            "Python's icalendar package (scripts/test installs it in a virtual environment; \
             or pip install icalendar, or Debian's python3-icalendar)",
        );
        None
    }
}

/// Whether LibreOffice (`soffice`) is installed; records the skip for `what` if not.
pub fn libreoffice(what: &str) -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    let has = *HAS.get_or_init(|| {
        Command::new("soffice")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if !has {
        skip(
            what,
            "LibreOffice (Debian: apt-get install libreoffice-calc-nogui)",
        );
    }
    has
}

/// Runs LibreOffice (`soffice`) with `args`, one run at a time across the test binary, and
/// returns its output; panics with that output when it fails.
///
/// On a machine where LibreOffice has never run, two first starts at once (a test's SQLite and
/// PostgreSQL halves sort side by side) have crashed in LibreOffice's own start-up
/// ("Unspecified Application Error") before reading any file, although each had its own
/// profile. So runs wait for each other, and a run that LibreOffice itself aborted (no
/// output file, killed by a signal or "Unspecified Application Error") is tried once more:
/// that says nothing about the file under test, and what the test then reads is unchanged.
pub fn soffice(args: &[&std::ffi::OsStr], output: &std::path::Path) -> String {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let run = || {
        let out = Command::new("soffice")
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("soffice {args:?}: {e}"));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status, text)
    };
    let (mut status, mut text) = run();
    let aborted = |status: &std::process::ExitStatus, text: &str| {
        !output.exists()
            && (std::os::unix::process::ExitStatusExt::signal(status).is_some()
                || text.contains("Unspecified Application Error"))
    };
    if !status.success() && aborted(&status, &text) {
        eprintln!("LibreOffice aborted at start ({status}); running it once more: {text}");
        (status, text) = run();
    }
    assert!(
        status.success(),
        "soffice {args:?} failed ({status}): {text}"
    );
    text
}

/// The file the environment variable `var` names, else `package_file` in the npm packages
/// `scripts/test` installs under `target/test-node`.
fn test_node_file(var: &str, package_file: &str) -> std::path::PathBuf {
    std::env::var(var)
        .ok()
        .filter(|p| !p.is_empty())
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("target/test-node/node_modules")
                .join(package_file)
        })
}

/// axe-core's script (`CPD_AXE`, else the copy `scripts/test` installs under
/// `target/test-node`), if there is one; `None` (the skip recorded for `what`) if not.
pub fn axe(what: &str) -> Option<&'static str> {
    let source = axe_source();
    if source.is_none() {
        skip(
            what,
            "axe-core (scripts/test installs it with npm; Debian: apt-get install npm)",
        );
    }
    source
}

/// axe-core's script as [`axe`] finds it, without recording a skip when it is missing.
pub fn axe_source() -> Option<&'static str> {
    static SOURCE: OnceLock<Option<String>> = OnceLock::new();
    SOURCE
        .get_or_init(|| {
            std::fs::read_to_string(test_node_file("CPD_AXE", "axe-core/axe.min.js")).ok()
        })
        .as_deref()
}

/// Node.js and the `oidc-provider` package (`CPD_OIDC_PROVIDER` names its `lib/index.js`,
/// else the copy `scripts/test` installs under `target/test-node`), for the single sign-on
/// tests' real OpenID provider: `(node, module path)`, or `None` (the skip recorded for
/// `what`, saying what is missing or which versions do not go together).
pub fn oidc_provider(what: &str) -> Option<(String, String)> {
    static FOUND: OnceLock<Result<(String, String), String>> = OnceLock::new();
    let found = FOUND.get_or_init(|| {
        let node = Command::new("node")
            .arg("--version")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
        let module = test_node_file("CPD_OIDC_PROVIDER", "oidc-provider/lib/index.js");
        let (Some(node), true) = (node, module.is_file()) else {
            return Err(
                "Node.js and the oidc-provider package (scripts/test installs it with \
                        npm; Debian: apt-get install nodejs npm)"
                    .to_string(),
            );
        };
        let package = module
            .parent()
            .and_then(|lib| lib.parent())
            .map(|dir| dir.join("package.json"))
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .and_then(|json| json["version"].as_str().map(str::to_string))
            .unwrap_or_default();
        oidc_versions_fit(&node, &package)?;
        Ok(("node".to_string(), module.display().to_string()))
    });
    match found {
        Ok(found) => Some(found.clone()),
        Err(needs) => {
            skip(what, needs);
            None
        }
    }
}

/// Whether oidc-provider `package` (such as "9.13.3") runs on Node.js `node` (such as
/// "v20.20.2"): version 9 needs 20.19+, 22.12+ or 23+, version 8 needs 18+. `Err` says what
/// is needed.
fn oidc_versions_fit(node: &str, package: &str) -> Result<(), String> {
    let numbers = |v: &str| -> Vec<u32> {
        v.trim_start_matches('v')
            .split('.')
            .map(|n| n.parse().unwrap_or(0))
            .collect()
    };
    let (n, p) = (numbers(node), numbers(package));
    let (major, minor) = (n[0], n.get(1).copied().unwrap_or(0));
    let fits = match p[0] {
        9 => (major == 20 && minor >= 19) || (major == 22 && minor >= 12) || major >= 23,
        8 => major >= 18,
        _ => false,
    };
    if fits {
        return Ok(());
    }
    Err(format!(
        "oidc-provider 8 (on Node.js 18 or later) or 9 (on Node.js 20.19+, 22.12+ or 23+); \
         found oidc-provider {} on Node.js {node}: scripts/test installs the version that \
         fits the Node.js it finds",
        if package.is_empty() {
            "of unknown version"
        } else {
            package
        }
    ))
}

#[test]
fn oidc_provider_versions_are_matched_to_node() {
    for (node, package) in [
        ("v18.19.0", "8.8.1"),
        ("v20.20.2", "8.8.1"),
        ("v20.19.0", "9.13.3"),
        ("v22.12.0", "9.0.0"),
        ("v24.1.0", "9.13.3"),
    ] {
        assert_eq!(oidc_versions_fit(node, package), Ok(()), "{node} {package}");
    }
    for (node, package) in [
        ("v18.19.0", "9.13.3"),
        ("v20.18.1", "9.13.3"),
        ("v22.11.0", "9.13.3"),
        ("v16.20.2", "8.8.1"),
        ("v20.20.2", ""),
    ] {
        let needs = oidc_versions_fit(node, package).unwrap_err();
        assert!(needs.contains(node), "{needs}");
        assert!(
            needs.contains("scripts/test installs the version"),
            "{needs}"
        );
    }
}
