//! The termly digest from end to end: `cpd-hub digest --term` run as a real process against
//! the test database, the emails it queues delivered by the service's worker to a real SMTP
//! server (the sink), read back with a MIME parser and compared with the JSON reports; once
//! per term; to the CPD group or the configured list; and on the `serve` schedule.

use std::collections::BTreeSet;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use cpd_hub::domain::roles::Role;
use cpd_hub::domain::term::Term;
use diesel::prelude::*;
use serde_json::Value;

use crate::booking_support::bk_person;
use crate::email::{parse, spawn_with_sink};
use crate::helpers::{expect_json, Backend, TestApp};
use crate::report_support::{
    build, cell_text, days_until, pct, rate_text, rating_text, whole, RwAlliance,
};
use crate::smtp_sink::{Received, SmtpSink};

const WAIT: Duration = Duration::from_secs(20);

/// `cpd-hub` with these arguments against the app's database, in an empty directory (no
/// `.env`), with `PUBLIC_BASE_URL` as the service has it and `extra` variables.
pub(crate) async fn cli(app: &TestApp, args: &[&str], extra: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cpd-hub"));
    let dir = tempfile::tempdir().unwrap();
    cmd.args(args)
        .current_dir(dir.path())
        .env("DATABASE_URL", &app.settings.database_url)
        .env("PUBLIC_BASE_URL", &app.settings.public_base_url)
        .env_remove("DIGEST_RECIPIENTS")
        .env_remove("BIND")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in extra {
        cmd.env(k, v);
    }
    tokio::task::spawn_blocking(move || {
        let mut child = cmd.spawn().expect("cpd-hub starts");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if child.try_wait().unwrap().is_some() {
                let out = child.wait_with_output().unwrap();
                drop(dir);
                return out;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("cpd-hub digest did not finish");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    })
    .await
    .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "failed: {}\n{}", stdout(o), stderr(o));
    stdout(o)
}

/// The term that ended last, and the alliance built with its courses inside it (K3 too).
async fn alliance_in_last_term(app: &TestApp) -> (Term, RwAlliance) {
    let today = cpd_hub::reports::metrics::london_date(Utc::now().naive_utc());
    let term = Term::of_date(today).previous();
    let w = build(app, days_until(term.first_day()) + 10).await;
    (term, w)
}

/// The digests that arrived so far (the booking confirmations of the set-up arrive too).
fn digests(sink: &SmtpSink) -> Vec<Received> {
    sink.messages()
        .into_iter()
        .filter(|m| {
            parse(m)
                .subject()
                .is_some_and(|s| s.starts_with("CPD engagement and impact:"))
        })
        .collect()
}

/// Waits until `n` digests have arrived.
async fn wait_digests(sink: &SmtpSink, n: usize) -> Vec<Received> {
    let start = Instant::now();
    loop {
        let got = digests(sink);
        if got.len() >= n {
            return got;
        }
        assert!(
            start.elapsed() < WAIT,
            "expected {n} digests, got {}",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Waits `quiet`, then checks that exactly `n` digests arrived in all.
async fn no_more_digests(sink: &SmtpSink, n: usize, quiet: Duration) {
    tokio::time::sleep(quiet).await;
    assert_eq!(digests(sink).len(), n);
}

/// The plain-text part, with its line ends as `\n`.
fn text_of(m: &Received) -> String {
    parse(m)
        .text_part(0)
        .unwrap()
        .text_contents()
        .unwrap()
        .replace("\r\n", "\n")
}

fn html_of(m: &Received) -> String {
    parse(m)
        .html_part(0)
        .unwrap()
        .text_contents()
        .unwrap()
        .to_string()
}

async fn digest_rows(app: &TestApp) -> (i64, Vec<(String, i32)>) {
    app.with_db(|c| {
        use cpd_hub::db::schema::{digests_sent, outbox};
        let queued = outbox::table
            .filter(outbox::kind.eq("termly_digest"))
            .count()
            .get_result::<i64>(c)
            .unwrap();
        let sent = digests_sent::table
            .select((digests_sent::term_key, digests_sent::recipients))
            .load(c)
            .unwrap();
        (queued, sent)
    })
    .await
}

/// The lines the digest must carry for the term's engagement report (grouped by school).
fn expected_lines(report: &Value) -> Vec<String> {
    let t = &report["totals"];
    let cost_detail = format!(
        "{} {}, {} {}",
        whole(t["no_shows"].as_i64().unwrap()),
        if t["no_shows"] == 1 {
            "no-show"
        } else {
            "no-shows"
        },
        whole(t["late_cancellations"].as_i64().unwrap()),
        if t["late_cancellations"] == 1 {
            "late cancellation"
        } else {
            "late cancellations"
        },
    );
    vec![
        format!("- Bookings: {}", whole(t["bookings"].as_i64().unwrap())),
        format!("- Fill rate: {}", rate_text(&t["fill_rate"])),
        format!("- Attendance rate: {}", rate_text(&t["attendance_rate"])),
        format!(
            "- Completed: {} (of {} confirmed)",
            whole(t["completed"].as_i64().unwrap()),
            whole(t["confirmed"].as_i64().unwrap())
        ),
        format!(
            "- Evaluation response rate: {}",
            rate_text(&t["response_rate"])
        ),
        format!(
            "- Satisfaction: {}",
            cell_text(&t["satisfaction"], rating_text)
        ),
        format!("- Impact rate: {}", cell_text(&t["impact_rate"], pct)),
        format!(
            "- Cost of no-shows and late cancellations: {} ({cost_detail})",
            t["cost"]["total"]["formatted"].as_str().unwrap()
        ),
    ]
}

async fn the_digest_goes_once_to_the_cpd_group(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn_with_sink(backend, &sink, |_| {}).await;
    let (term, w) = alliance_in_last_term(&app).await;
    // Neither an erased member of the group nor an admin gets it.
    let gone = bk_person(&app, "Ernie Erased", None, None, &[Role::CpdGroup]).await;
    let r = app
        .delete(
            &format!("/api/v1/people/{}", gone.id),
            Some(&app.admin_token),
        )
        .await;
    assert_eq!(r.status(), 204);

    // A dry run shows the email and sends and records nothing.
    let dry = ok(&cli(&app, &["digest", "--term", "--dry-run"], &[]).await);
    assert!(
        dry.contains("Dry run: nothing is sent or recorded."),
        "{dry}"
    );
    assert!(
        dry.contains(&format!("Term: {} ({})", term.label(), term.key())),
        "{dry}"
    );
    assert!(dry.contains("Recipients: 2"), "{dry}");
    assert!(dry.contains("- Bookings: 14"), "{dry}");
    assert_eq!(digest_rows(&app).await, (0, vec![]));

    let out = ok(&cli(&app, &["digest", "--term"], &[]).await);
    assert!(
        out.contains(&format!(
            "The digest for {} is queued for 2 recipients",
            term.label()
        )),
        "{out}"
    );
    let got = wait_digests(&sink, 2).await;
    let to: BTreeSet<String> = got.iter().flat_map(|m| m.rcpt_to.clone()).collect();
    let group: BTreeSet<String> = w.group.iter().map(|(_, e)| e.clone()).collect();
    assert_eq!(to, group, "exactly the CPD group members");

    let q = format!("from={}&to={}", term.first_day(), term.last_day());
    let report = expect_json(
        app.get(
            &format!("/api/v1/reports/engagement?{q}&group_by=school"),
            Some(&app.admin_token),
        )
        .await,
        200,
    )
    .await;
    let impact = expect_json(
        app.get(
            &format!("/api/v1/reports/impact?{q}&group_by=course"),
            Some(&app.admin_token),
        )
        .await,
        200,
    )
    .await;
    let link = format!("https://cpd.alliance.test/reports?{q}");
    for m in &got {
        let mail = parse(m);
        assert_eq!(
            mail.subject().unwrap(),
            format!("CPD engagement and impact: {} digest", term.label())
        );
        let text = text_of(m);
        // The members were made in this order, with these names.
        let name = if m.rcpt_to[0] == w.group[0].1 {
            "Gwen Group"
        } else {
            "Nia Network"
        };
        assert!(text.starts_with(&format!("Dear {name},")), "{text}");
        for line in expected_lines(&report) {
            assert!(text.contains(&line), "missing {line:?} in:\n{text}");
        }
        // The figures are the built ones, not only the same as the API's.
        assert!(text.contains("- Bookings: 14\n"), "{text}");
        assert!(text.contains("- Satisfaction: 4.2 out of 5\n"), "{text}");
        // Cold spots, under their clusters.
        let spots = report["cold_spots"].as_array().unwrap();
        assert_eq!(spots.len(), 2);
        assert!(
            text.contains(&format!(
                "{} schools booked nothing this term:",
                spots.len()
            )),
            "{text}"
        );
        for s in spots {
            let cluster = s["cluster"]["name"].as_str().unwrap();
            let school = s["school"]["name"].as_str().unwrap();
            let line = if s["last_booked_at"].is_null() {
                format!("- {school}: never booked")
            } else {
                let at =
                    chrono::DateTime::parse_from_rfc3339(s["last_booked_at"].as_str().unwrap())
                        .unwrap();
                let day = cpd_hub::reports::metrics::london_date(at.naive_utc());
                format!("- {school}: last booked {}", day.format("%-d %B %Y"))
            };
            let under = &text[text
                .find(&format!("\n{cluster}\n"))
                .unwrap_or_else(|| panic!("{cluster} in {text}"))..];
            let next_cluster = under[1..]
                .find("\n\n")
                .map(|i| i + 1)
                .unwrap_or(under.len());
            assert!(
                under[..next_cluster].contains(&line),
                "{line:?} under {cluster}:\n{text}"
            );
        }
        assert!(text.contains("- Damson Infants: never booked"), "{text}");
        // Best rated and largest impact: the one course with five responses.
        let k2 = impact["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["key"] == w.courses["K2"].as_str())
            .unwrap();
        let title = k2["label"].as_str().unwrap();
        assert!(
            text.contains(&format!("1. {title}: 4.2 out of 5 (5 responses)")),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "1. {title}: impact rate 80%, confidence shift no data"
            )),
            "{text}"
        );
        assert!(
            !text.contains("2. "),
            "only one course had enough responses:\n{text}"
        );
        // The link to the dashboard on the term, in both parts.
        assert!(text.contains(&link), "{text}");
        let html = html_of(m);
        assert!(
            html.contains(&format!("href=\"{}\"", link.replace('&', "&amp;"))),
            "{html}"
        );
        assert!(html.contains("<html lang=\"en-GB\">"));
    }
    let (queued, sent) = digest_rows(&app).await;
    assert_eq!((queued, sent), (2, vec![(term.key(), 2)]));

    // Again: nothing more is sent.
    let again = ok(&cli(&app, &["digest", "--term"], &[]).await);
    assert!(
        again.contains(&format!("The digest for {} was sent on", term.label())),
        "{again}"
    );
    assert!(again.contains("nothing sent"), "{again}");
    no_more_digests(&sink, 2, Duration::from_millis(1500)).await;
    assert_eq!(digest_rows(&app).await.0, 2);

    // Unless forced.
    let forced = ok(&cli(&app, &["digest", "--term", "--force"], &[]).await);
    assert!(forced.contains("queued for 2 recipients"), "{forced}");
    wait_digests(&sink, 4).await;
    no_more_digests(&sink, 4, Duration::from_millis(500)).await;
}

crate::each_backend!(
    digest_goes_once_to_the_cpd_group,
    the_digest_goes_once_to_the_cpd_group
);

async fn the_digest_goes_to_the_configured_list(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn_with_sink(backend, &sink, |_| {}).await;
    let (term, w) = alliance_in_last_term(&app).await;
    let earlier = term.previous();
    let gwen = w.group[0].1.to_uppercase();
    let list = format!("networking-chair@alliance.test, {gwen}");
    let env = [("DIGEST_RECIPIENTS", list.as_str())];

    // A term that has not ended, or a key that is not a term: refused, nothing queued.
    let today = cpd_hub::reports::metrics::london_date(Utc::now().naive_utc());
    let current = Term::of_date(today).key();
    let out = cli(&app, &["digest", "--term", "--term-key", &current], &env).await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("has not ended yet"),
        "{}",
        stderr(&out)
    );
    let out = cli(
        &app,
        &["digest", "--term", "--term-key", "2026-autumn"],
        &env,
    )
    .await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--term-key"), "{}", stderr(&out));
    let out = cli(&app, &["digest"], &env).await;
    assert!(!out.status.success(), "--term is required");
    assert_eq!(digest_rows(&app).await, (0, vec![]));

    // The term before last, to the list: its two addresses and no one else.
    let out = ok(&cli(
        &app,
        &["digest", "--term", "--term-key", &earlier.key()],
        &env,
    )
    .await);
    assert!(
        out.contains(&format!(
            "The digest for {} is queued for 2 recipients",
            earlier.label()
        )),
        "{out}"
    );
    let got = wait_digests(&sink, 2).await;
    let to: BTreeSet<String> = got.iter().flat_map(|m| m.rcpt_to.clone()).collect();
    assert_eq!(
        to,
        BTreeSet::from(["networking-chair@alliance.test".to_string(), gwen.clone()])
    );
    for m in &got {
        let text = text_of(m);
        assert!(text.contains(&format!("for {}", earlier.label())), "{text}");
        if m.rcpt_to[0] == gwen {
            assert!(
                text.starts_with("Dear Gwen Group,"),
                "a listed member of staff is named: {text}"
            );
        } else {
            assert!(text.starts_with("Hello,"), "{text}");
        }
        let q = format!("from={}&to={}", earlier.first_day(), earlier.last_day());
        let report = expect_json(
            app.get(
                &format!("/api/v1/reports/engagement?{q}&group_by=school"),
                Some(&app.admin_token),
            )
            .await,
            200,
        )
        .await;
        for line in expected_lines(&report) {
            assert!(text.contains(&line), "missing {line:?} in:\n{text}");
        }
        // That term had no bookings: every open school is a cold spot.
        assert!(
            text.contains("6 schools booked nothing this term:"),
            "{text}"
        );
        assert!(
            text.contains(&format!("https://cpd.alliance.test/reports?{q}")),
            "{text}"
        );
        assert!(
            parse(m).from().unwrap().first().unwrap().address().unwrap() == "cpd@alliance.test"
        );
    }
    // The last term's digest is its own: it still goes, once.
    ok(&cli(&app, &["digest", "--term"], &env).await);
    wait_digests(&sink, 4).await;
    ok(&cli(
        &app,
        &["digest", "--term", "--term-key", &earlier.key()],
        &env,
    )
    .await);
    no_more_digests(&sink, 4, Duration::from_millis(1500)).await;
    let (_, sent) = digest_rows(&app).await;
    let keys: BTreeSet<String> = sent.into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, BTreeSet::from([term.key(), earlier.key()]));
}

crate::each_backend!(
    digest_goes_to_the_configured_list,
    the_digest_goes_to_the_configured_list
);

async fn serve_sends_the_digest_after_the_term_ends(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn_with_sink(backend, &sink, |_| {}).await;
    let (term, w) = alliance_in_last_term(&app).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(digests(&sink).is_empty(), "the schedule is off by default");

    // Two more copies of the service with DIGEST_SCHEDULE=termly on the same database: the
    // last term's digest goes once, whichever copy gets there first.
    for _ in 0..2 {
        let mut settings = app.settings.clone();
        settings.bind = "127.0.0.1:0".into();
        settings.reports.digest_termly = true;
        let copy = cpd_hub::startup::Application::build(settings)
            .await
            .expect("a copy starts");
        tokio::spawn(copy.run_until_stopped());
    }
    let got = wait_digests(&sink, 2).await;
    let to: BTreeSet<String> = got.iter().flat_map(|m| m.rcpt_to.clone()).collect();
    let group: BTreeSet<String> = w.group.iter().map(|(_, e)| e.clone()).collect();
    assert_eq!(to, group);
    assert!(text_of(&got[0]).contains(&format!("for {}", term.label())));
    no_more_digests(&sink, 2, Duration::from_secs(2)).await;
    assert_eq!(digest_rows(&app).await, (2, vec![(term.key(), 2)]));
}

crate::each_backend!(
    serve_sends_the_digest_once,
    serve_sends_the_digest_after_the_term_ends
);
