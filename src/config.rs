//! Settings read from environment variables (and a `.env` file when present).
//!
//! Every setting is optional: the defaults make `cpd-hub serve` work on a fresh machine with
//! nothing else installed (an SQLite file next to the working directory, HTTP on localhost,
//! emails written to the log). A bad value stops start-up with a message naming the variable.
//!
//! clap reads the variables (its `env` support) into one flat list, `Vars`, with each
//! variable's default and a parser that says what it expected; [`Settings::from_map`] runs the
//! same parser on a map instead of the environment. What depends on more than one variable
//! (the default `PUBLIC_BASE_URL`, the retry bounds) is settled after parsing.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use clap::{ArgAction, CommandFactory, FromArgMatches};

mod oidc;

use oidc::oidc_providers;
pub use oidc::OidcProviderSettings;

/// Typed settings for one running service. Built once at start and passed explicitly: nothing
/// in cpd-hub reads the environment after start-up, so tests can run many services side by side.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `DATABASE_URL`: `sqlite://path`, `sqlite::memory:` or `postgres://...`.
    /// Default `sqlite://cpd-hub.db`.
    pub database_url: String,
    /// `DATABASE_POOL_SIZE`: connections in the pool. Default 10 (PostgreSQL) or 8 (SQLite).
    pub database_pool_size: Option<u32>,
    /// `BIND`: the address the HTTP server listens on. Default `127.0.0.1:8080`; port 0 picks a
    /// free port (the tests use it).
    pub bind: String,
    /// `PUBLIC_BASE_URL`: the address people use to reach the service, for links in emails.
    /// Default `http://` + `BIND`.
    pub public_base_url: String,
    /// `SMTP_URL`: `smtp://host:port`, `smtps://user:pass@host`, `file:///dir` (writes `.eml`
    /// files) or unset (emails are written to the log).
    pub smtp_url: Option<String>,
    /// `MAIL_FROM`: the sender of every email. Default `cpd-hub <cpd-hub@localhost>`.
    pub mail_from: String,
    /// `EMAIL_TEMPLATES_DIR`: a folder whose templates override the built-in ones.
    pub email_templates_dir: Option<String>,
    /// `LOG_FORMAT`: `text` (default) or `json`.
    pub log_format: LogFormat,
    /// `WORKERS`: HTTP worker threads. Default: one per core.
    pub workers: Option<usize>,
    /// The email delivery worker's settings (`OUTBOX_*`, `SMTP_TIMEOUT_SECS`,
    /// `EMAIL_REMINDER_DAYS`).
    pub outbox: OutboxSettings,
    /// Sign-in links, sessions and their rate limits.
    pub sign_in: SignInSettings,
    /// `APPROVAL_REMINDER_DAYS`: a booking request waiting this many days for approval is
    /// listed as overdue for its school lead. Default 5.
    pub approval_reminder_days: u32,
    /// `BOOKING_JOBS_SECONDS`: how often the booking jobs run (promotion where a per-school
    /// cap has lifted by date, purging old idempotency keys). Default 60.
    pub booking_jobs_interval: Duration,
    /// `METRICS_TOKEN`: a bearer token that lets a Prometheus scraper read `/metrics`
    /// without an account (at least 16 characters). Unset: only admins may read it.
    pub metrics_token: Option<String>,
    /// Registers, self check-in and their lock.
    pub attendance: AttendanceSettings,
    /// Evaluation invitations, reminders, follow-ups and small-n suppression.
    pub evaluation: EvaluationSettings,
    /// The termly digest of the reports.
    pub reports: ReportSettings,
    /// `OIDC_PROVIDERS` and each provider's `OIDC_<ID>_*` variables: single sign-on with a
    /// school's Microsoft 365 or Google account, beside the emailed link. Empty by default.
    pub oidc: Vec<OidcProviderSettings>,
}

/// How registers and self check-in behave.
#[derive(Clone, Debug)]
pub struct AttendanceSettings {
    /// `REGISTER_LOCK_DAYS`: a session's register can be changed by its course leads until this
    /// many days after the session ends; after that only admins may change it. Default 14.
    pub lock_days: u32,
    /// `CHECK_IN_OPENS_MINUTES`: self check-in opens this many minutes before a session starts
    /// (and closes when it ends). Default 30.
    pub check_in_opens_minutes: u32,
    /// `CHECK_IN_LATE_MINUTES`: an attendee who checks in more than this many minutes after the
    /// start is marked `late`. Default 10.
    pub check_in_late_minutes: u32,
}

/// How evaluation invitations, reminders and results behave.
#[derive(Clone, Debug)]
pub struct EvaluationSettings {
    /// `EVALUATION_TOKEN_DAYS`: an invitation's link works for this many days. Default 28.
    pub token_days: u32,
    /// `EVALUATION_REMINDER_DAYS`: days after the invitation on which a reminder goes to those
    /// who have not answered, comma-separated; empty for none. Default `5`.
    pub reminder_days: Vec<u32>,
    /// `IMPACT_FOLLOW_UP_WEEKS`: the impact follow-up goes this many weeks after the course's
    /// last session. Default 6.
    pub follow_up_weeks: u32,
    /// `EVALUATION_MIN_RESPONSES`: breakdowns with fewer respondents show no figures. Default 5;
    /// values below 5 are refused, so no setting can identify an individual.
    pub min_responses: u32,
    /// `EVALUATION_JOBS_SECONDS`: how often due follow-ups and reminders are looked for.
    /// Default 60.
    pub jobs_interval: Duration,
}

/// When the termly digest goes and to whom.
#[derive(Clone, Debug)]
pub struct ReportSettings {
    /// `DIGEST_SCHEDULE`: `off` (default), or `termly` to email the digest once, the first
    /// time the service runs after each term ends.
    pub digest_termly: bool,
    /// `DIGEST_RECIPIENTS`: comma-separated addresses; unset, the digest goes to everyone with
    /// the `cpd_group` role.
    pub digest_recipients: Vec<String>,
    /// `REPORT_REFRESH_SECONDS`: how often the report cells are brought up to date with the
    /// courses changed since, 1 to 86400 (default 5), or 0 for never in this copy (another
    /// copy, or `cpd-hub reports-refresh`, does it). Reports are exact either way; the cells
    /// only make them fast.
    pub refresh_every: Option<Duration>,
    /// `REPORT_TABLE_ROWS`: how many rows a table of the report pages shows at a time, 10 to
    /// 1000 (default 100); a longer table is split into pages, and its CSV has every row. A
    /// national copy's table by school would otherwise be tens of thousands of rows.
    pub table_rows: usize,
    /// `REPORT_WARMUP`: `on` (default) or `off`. With `on`, the dashboard's first report
    /// (this academic year by school) is worked out once in the background at start-up and
    /// thrown away, so the first person to open the reports after a restart waits no longer
    /// than the next (`jobs::ReportWarmup`).
    pub warmup: bool,
}

/// How the email delivery worker runs. The defaults suit one or a few service copies sending a
/// school alliance's notifications; the tests shorten the waits.
#[derive(Clone, Debug)]
pub struct OutboxSettings {
    /// `OUTBOX_WORKER`: `on` (default) or `off`. With `off` this copy only queues messages and
    /// another copy delivers them (or none does, for a read-only replica).
    pub enabled: bool,
    /// `OUTBOX_POLL_MS`: how often an idle worker looks for due messages, 10 to 60000
    /// (default 1000). A change made through this copy's API wakes it at once anyway; polling
    /// finds messages queued by other copies and retries that have come due.
    pub poll: Duration,
    /// `OUTBOX_MAX_ATTEMPTS`: tries before a message is marked failed, 1 to 1000 (default 30:
    /// with the default backoff that is about a day of trying).
    pub max_attempts: i32,
    /// `OUTBOX_RETRY_BASE_MS`: the wait after the first failed try, doubled after each further
    /// failure (with jitter), 1 to 86400000 (default 30000).
    pub retry_base: Duration,
    /// `OUTBOX_RETRY_MAX_MS`: the longest wait between tries, at least the base, at most
    /// 86400000 (default 3600000, one hour).
    pub retry_max: Duration,
    /// `OUTBOX_CLAIM_SECS`: how long a worker holds a message it is sending, 1 to 86400
    /// (default 300), and never less than twice `SMTP_TIMEOUT_SECS` ([`Self::claim_for`]). A
    /// worker that dies mid-send leaves its claim; once it expires another worker takes the
    /// message over. A worker starts no SMTP exchange that could outlast its claim, so an
    /// expired claim is never one a live worker is still sending.
    pub claim: Duration,
    /// `OUTBOX_BATCH`: messages claimed at once, 1 to 1000 (default 64).
    pub batch: i64,
    /// `OUTBOX_CONCURRENCY`: messages sent at the same time (and SMTP connections kept open),
    /// 1 to 64 (default 16). One SMTP connection carries only about 25 messages a second:
    /// lettre writes the end-of-data marker separately from the message, and that small write
    /// waits for the server's delayed ACK (about 40 ms on Linux). Throughput grows with the
    /// connections; lower this if the relay limits connections per client.
    pub concurrency: usize,
    /// `SMTP_TIMEOUT_SECS`: how long one SMTP exchange may take, 1 to 600 (default 15).
    pub smtp_timeout: Duration,
    /// `EMAIL_REMINDER_DAYS`: the course reminder goes this many days before the first
    /// session, 1 to 60 (default 2).
    pub reminder_days: u32,
}

impl OutboxSettings {
    /// How long a claim lasts: `OUTBOX_CLAIM_SECS`, but at least twice the SMTP timeout, so a
    /// claimed batch has time to start its sends (none starts within the SMTP timeout of the
    /// claim's end).
    pub fn claim_for(&self) -> Duration {
        self.claim.max(self.smtp_timeout * 2)
    }
}

/// How sign-in behaves. Every value has a default that suits one alliance.
#[derive(Clone, Debug)]
pub struct SignInSettings {
    /// `MAGIC_LINK_MINUTES`: how long an emailed sign-in link works. Default 15.
    pub link_minutes: u32,
    /// `SESSION_IDLE_MINUTES`: a browser session ends after this long without a request.
    /// Default 480 (a working day).
    pub session_idle_minutes: u32,
    /// `SESSION_MAX_DAYS`: a browser session ends this long after sign-in, however active.
    /// Default 30.
    pub session_max_days: u32,
    /// `SIGN_IN_LIMIT_PER_EMAIL`: link requests for one address per 15 minutes. Default 5.
    pub limit_per_email: u32,
    /// `SIGN_IN_LIMIT_PER_CLIENT`: link requests from one client address per 15 minutes.
    /// Default 50: a school's staff often share one public address.
    pub limit_per_client: u32,
    /// `TRUST_FORWARDED_FOR`: `true` when a proxy in front sets `X-Forwarded-For`; the client
    /// address is then its last entry (the one the proxy saw) rather than the TCP peer.
    /// Default `false`, because a client can send any `X-Forwarded-For` it likes.
    pub trust_forwarded_for: bool,
    /// `AUTH_CACHE_SECONDS`: how long this copy trusts what the database said about an API
    /// token or session cookie before asking again (0 to ask on every request). Revoking,
    /// signing out or changing a person's roles takes effect at once in the copy that did it
    /// and within this long in any other copy. Default 5.
    pub auth_cache_seconds: u32,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// A setting that could not be used, naming the variable and what was expected.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct SettingsError {
    /// The environment variable at fault.
    pub variable: String,
    /// What was wrong and what was expected.
    pub problem: String,
}

/// The defaults of each part of the settings: those of an empty environment.
macro_rules! default_from_settings {
    ($($part:ident: $ty:ty),* $(,)?) => {$(
        impl Default for $ty {
            fn default() -> Self {
                Settings::defaults().$part
            }
        }
    )*};
}
default_from_settings!(
    attendance: AttendanceSettings,
    evaluation: EvaluationSettings,
    reports: ReportSettings,
    outbox: OutboxSettings,
    sign_in: SignInSettings,
);

/// The variables as clap reads them: each argument's long name is its variable, so a value
/// comes from the environment (clap's `env`) or, for [`Settings::from_map`], from
/// `--VARIABLE=value`. Every parser trims the value and says what it expected; blank values
/// count as unset. The documentation of each setting is on [`Settings`] and its parts.
#[derive(clap::Parser)]
#[command(name = "settings", no_binary_name = true)]
struct Vars {
    #[arg(long = "DATABASE_URL", env = "DATABASE_URL", value_parser = database_url, default_value = "sqlite://cpd-hub.db")]
    database_url: String,
    #[arg(long = "DATABASE_POOL_SIZE", env = "DATABASE_POOL_SIZE", value_parser = whole::<u32>(1, 512))]
    database_pool_size: Option<u32>,
    #[arg(long = "BIND", env = "BIND", value_parser = socket_address, default_value = "127.0.0.1:8080")]
    bind: String,
    #[arg(long = "PUBLIC_BASE_URL", env = "PUBLIC_BASE_URL", value_parser = public_base_url)]
    public_base_url: Option<String>,
    #[arg(long = "SMTP_URL", env = "SMTP_URL", value_parser = smtp_url)]
    smtp_url: Option<String>,
    #[arg(long = "MAIL_FROM", env = "MAIL_FROM", value_parser = mailbox, default_value = "cpd-hub <cpd-hub@localhost>")]
    mail_from: String,
    #[arg(long = "EMAIL_TEMPLATES_DIR", env = "EMAIL_TEMPLATES_DIR", value_parser = text)]
    email_templates_dir: Option<String>,
    #[arg(long = "LOG_FORMAT", env = "LOG_FORMAT", value_parser = log_format, default_value = "text")]
    log_format: LogFormat,
    #[arg(long = "WORKERS", env = "WORKERS", value_parser = whole::<usize>(1, 256))]
    workers: Option<usize>,

    #[arg(long = "OUTBOX_WORKER", env = "OUTBOX_WORKER", value_parser = on_off, default_value = "on", action = ArgAction::Set)]
    outbox_worker: bool,
    #[arg(long = "OUTBOX_POLL_MS", env = "OUTBOX_POLL_MS", value_parser = whole::<u64>(10, 60_000), default_value = "1000")]
    outbox_poll_ms: u64,
    #[arg(long = "OUTBOX_MAX_ATTEMPTS", env = "OUTBOX_MAX_ATTEMPTS", value_parser = whole::<i32>(1, 1000), default_value = "30")]
    outbox_max_attempts: i32,
    #[arg(long = "OUTBOX_RETRY_BASE_MS", env = "OUTBOX_RETRY_BASE_MS", value_parser = whole::<u64>(1, 86_400_000), default_value = "30000")]
    outbox_retry_base_ms: u64,
    #[arg(long = "OUTBOX_RETRY_MAX_MS", env = "OUTBOX_RETRY_MAX_MS", value_parser = whole::<u64>(1, 86_400_000), default_value = "3600000")]
    outbox_retry_max_ms: u64,
    #[arg(long = "OUTBOX_CLAIM_SECS", env = "OUTBOX_CLAIM_SECS", value_parser = whole::<u64>(1, 86_400), default_value = "300")]
    outbox_claim_secs: u64,
    #[arg(long = "OUTBOX_BATCH", env = "OUTBOX_BATCH", value_parser = whole::<i64>(1, 1000), default_value = "64")]
    outbox_batch: i64,
    #[arg(long = "OUTBOX_CONCURRENCY", env = "OUTBOX_CONCURRENCY", value_parser = whole::<usize>(1, 64), default_value = "16")]
    outbox_concurrency: usize,
    #[arg(long = "SMTP_TIMEOUT_SECS", env = "SMTP_TIMEOUT_SECS", value_parser = whole::<u64>(1, 600), default_value = "15")]
    smtp_timeout_secs: u64,
    #[arg(long = "EMAIL_REMINDER_DAYS", env = "EMAIL_REMINDER_DAYS", value_parser = whole::<u32>(1, 60), default_value = "2")]
    email_reminder_days: u32,

    #[arg(long = "MAGIC_LINK_MINUTES", env = "MAGIC_LINK_MINUTES", value_parser = whole::<u32>(1, 24 * 60), default_value = "15")]
    magic_link_minutes: u32,
    #[arg(long = "SESSION_IDLE_MINUTES", env = "SESSION_IDLE_MINUTES", value_parser = whole::<u32>(1, 30 * 24 * 60), default_value = "480")]
    session_idle_minutes: u32,
    #[arg(long = "SESSION_MAX_DAYS", env = "SESSION_MAX_DAYS", value_parser = whole::<u32>(1, 365), default_value = "30")]
    session_max_days: u32,
    #[arg(long = "SIGN_IN_LIMIT_PER_EMAIL", env = "SIGN_IN_LIMIT_PER_EMAIL", value_parser = whole::<u32>(1, 1000), default_value = "5")]
    sign_in_limit_per_email: u32,
    #[arg(long = "SIGN_IN_LIMIT_PER_CLIENT", env = "SIGN_IN_LIMIT_PER_CLIENT", value_parser = whole::<u32>(1, 100_000), default_value = "50")]
    sign_in_limit_per_client: u32,
    #[arg(long = "TRUST_FORWARDED_FOR", env = "TRUST_FORWARDED_FOR", value_parser = true_false, default_value = "false", action = ArgAction::Set)]
    trust_forwarded_for: bool,
    #[arg(long = "AUTH_CACHE_SECONDS", env = "AUTH_CACHE_SECONDS", value_parser = whole::<u32>(0, 60), default_value = "5")]
    auth_cache_seconds: u32,

    #[arg(long = "APPROVAL_REMINDER_DAYS", env = "APPROVAL_REMINDER_DAYS", value_parser = whole::<u32>(0, 365), default_value = "5")]
    approval_reminder_days: u32,
    #[arg(long = "BOOKING_JOBS_SECONDS", env = "BOOKING_JOBS_SECONDS", value_parser = whole::<u64>(1, 86_400), default_value = "60")]
    booking_jobs_seconds: u64,
    #[arg(long = "METRICS_TOKEN", env = "METRICS_TOKEN", value_parser = metrics_token)]
    metrics_token: Option<String>,

    #[arg(long = "REGISTER_LOCK_DAYS", env = "REGISTER_LOCK_DAYS", value_parser = whole::<u32>(0, 3650), default_value = "14")]
    register_lock_days: u32,
    #[arg(long = "CHECK_IN_OPENS_MINUTES", env = "CHECK_IN_OPENS_MINUTES", value_parser = whole::<u32>(0, 24 * 60), default_value = "30")]
    check_in_opens_minutes: u32,
    #[arg(long = "CHECK_IN_LATE_MINUTES", env = "CHECK_IN_LATE_MINUTES", value_parser = whole::<u32>(0, 24 * 60), default_value = "10")]
    check_in_late_minutes: u32,

    #[arg(long = "EVALUATION_TOKEN_DAYS", env = "EVALUATION_TOKEN_DAYS", value_parser = whole::<u32>(1, 365), default_value = "28")]
    evaluation_token_days: u32,
    #[arg(long = "EVALUATION_REMINDER_DAYS", env = "EVALUATION_REMINDER_DAYS", value_parser = reminder_days, default_value = "5")]
    evaluation_reminder_days: List<u32>,
    #[arg(long = "IMPACT_FOLLOW_UP_WEEKS", env = "IMPACT_FOLLOW_UP_WEEKS", value_parser = whole::<u32>(1, 104), default_value = "6")]
    impact_follow_up_weeks: u32,
    #[arg(long = "EVALUATION_MIN_RESPONSES", env = "EVALUATION_MIN_RESPONSES", value_parser = whole::<u32>(5, 1000), default_value = "5")]
    evaluation_min_responses: u32,
    #[arg(long = "EVALUATION_JOBS_SECONDS", env = "EVALUATION_JOBS_SECONDS", value_parser = whole::<u64>(1, 86_400), default_value = "60")]
    evaluation_jobs_seconds: u64,

    #[arg(long = "DIGEST_SCHEDULE", env = "DIGEST_SCHEDULE", value_parser = digest_schedule, default_value = "off", action = ArgAction::Set)]
    digest_schedule: bool,
    #[arg(long = "DIGEST_RECIPIENTS", env = "DIGEST_RECIPIENTS", value_parser = addresses, default_value = "")]
    digest_recipients: List<String>,
    #[arg(long = "REPORT_REFRESH_SECONDS", env = "REPORT_REFRESH_SECONDS", value_parser = whole::<u64>(0, 86_400), default_value = "5")]
    report_refresh_seconds: u64,
    #[arg(long = "REPORT_TABLE_ROWS", env = "REPORT_TABLE_ROWS", value_parser = whole::<usize>(10, 1000), default_value = "100")]
    report_table_rows: usize,
    #[arg(long = "REPORT_WARMUP", env = "REPORT_WARMUP", value_parser = on_off, default_value = "on", action = ArgAction::Set)]
    report_warmup: bool,
}

/// A comma-separated list, as one value (a `Vec` field would make clap expect many).
#[derive(Clone, Debug)]
struct List<T>(Vec<T>);

/// A whole number setting within `min..=max`.
fn whole<T: TryFrom<u64>>(min: u64, max: u64) -> impl Fn(&str) -> Result<T, String> + Clone {
    move |v| {
        let v = v.trim();
        v.parse::<u64>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .and_then(|n| T::try_from(n).ok())
            .ok_or_else(|| format!("expected a whole number from {min} to {max}, got {v:?}"))
    }
}

fn text(v: &str) -> Result<String, String> {
    Ok(v.trim().to_string())
}

fn database_url(v: &str) -> Result<String, String> {
    crate::db::Backend::from_url(v.trim())?;
    Ok(v.trim().to_string())
}

fn socket_address(v: &str) -> Result<String, String> {
    let v = v.trim();
    v.parse::<SocketAddr>()
        .map(|_| v.to_string())
        .map_err(|_| format!("expected an address and port such as 127.0.0.1:8080, got {v:?}"))
}

fn public_base_url(u: &str) -> Result<String, String> {
    let u = u.trim();
    let parsed = url::Url::parse(u)
        .map_err(|e| format!("expected an absolute http(s) URL, got {u:?} ({e})"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("expected an http or https URL, got {u:?}"));
    }
    Ok(u.trim_end_matches('/').to_string())
}

fn smtp_url(u: &str) -> Result<String, String> {
    check_smtp_url(u.trim()).map(|()| u.trim().to_string())
}

fn mailbox(v: &str) -> Result<String, String> {
    let v = v.trim();
    v.parse::<lettre::message::Mailbox>()
        .map(|_| v.to_string())
        .map_err(|_| {
            format!("expected an address such as \"CPD team <cpd@example.org>\", got {v:?}")
        })
}

fn log_format(v: &str) -> Result<LogFormat, String> {
    match v.trim() {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        other => Err(format!("expected text or json, got {other:?}")),
    }
}

fn on_off(v: &str) -> Result<bool, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "1" | "yes" => Ok(true),
        "off" | "false" | "0" | "no" => Ok(false),
        other => Err(format!("expected on or off, got {other:?}")),
    }
}

fn true_false(v: &str) -> Result<bool, String> {
    match v.trim() {
        "false" | "0" => Ok(false),
        "true" | "1" => Ok(true),
        other => Err(format!("expected true or false, got {other:?}")),
    }
}

fn metrics_token(v: &str) -> Result<String, String> {
    let v = v.trim();
    if v.len() < 16 {
        return Err("must be at least 16 characters long".into());
    }
    Ok(v.to_string())
}

fn reminder_days(v: &str) -> Result<List<u32>, String> {
    let v = v.trim();
    if v.eq_ignore_ascii_case("none") {
        return Ok(List(Vec::new()));
    }
    let mut days = Vec::new();
    for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.parse::<u32>() {
            Ok(n) if (1..=365).contains(&n) => days.push(n),
            _ => {
                return Err(format!(
                    "expected days from 1 to 365 separated by commas, got {v:?}"
                ))
            }
        }
    }
    days.sort_unstable();
    days.dedup();
    Ok(List(days))
}

fn digest_schedule(v: &str) -> Result<bool, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "off" => Ok(false),
        "termly" => Ok(true),
        other => Err(format!("expected off or termly, got {other:?}")),
    }
}

fn addresses(v: &str) -> Result<List<String>, String> {
    let mut out = Vec::new();
    for addr in v.split(',').map(str::trim).filter(|a| !a.is_empty()) {
        if addr.parse::<lettre::Address>().is_err() {
            return Err(format!("{addr:?} is not an email address"));
        }
        out.push(addr.to_string());
    }
    Ok(List(out))
}

impl Settings {
    /// Reads the process environment (after loading `.env` if one exists).
    pub fn from_env() -> Result<Self, SettingsError> {
        // A missing .env is the normal case; a malformed one is reported by name.
        if let Err(e) = dotenvy::dotenv() {
            if !e.not_found() {
                return Err(SettingsError {
                    variable: ".env".into(),
                    problem: format!("could not be read: {e}"),
                });
            }
        }
        // A variable set to blanks counts as unset, as in `from_map`.
        let command = Vars::command().mut_args(|a| {
            let blank = a
                .get_env()
                .and_then(std::env::var_os)
                .is_some_and(|v| v.to_string_lossy().trim().is_empty());
            if blank {
                a.env(None::<&str>)
            } else {
                a
            }
        });
        let oidc = oidc_providers(&|k| std::env::var(k).ok())?;
        Self::parse(command, Vec::new(), oidc)
    }

    /// Builds settings from a map of variables, ignoring the process environment: the tests
    /// and [`Settings::for_database`] use it. The same parser as `from_env`.
    pub fn from_map(vars: &HashMap<String, String>) -> Result<Self, SettingsError> {
        let command = Vars::command().mut_args(|a| a.env(None::<&str>));
        let args = command
            .get_arguments()
            .filter_map(|a| a.get_long())
            .filter_map(|name| {
                let value = vars.get(name)?.trim();
                (!value.is_empty()).then(|| format!("--{name}={value}"))
            })
            .collect();
        let oidc = oidc_providers(&|k| vars.get(k).cloned())?;
        Self::parse(command, args, oidc)
    }

    /// Settings with every variable unset.
    fn defaults() -> Self {
        Self::from_map(&HashMap::new()).expect("the defaults are valid")
    }

    fn parse(
        mut command: clap::Command,
        args: Vec<String>,
        oidc: Vec<OidcProviderSettings>,
    ) -> Result<Self, SettingsError> {
        let matches = command
            .try_get_matches_from_mut(args)
            .map_err(settings_error)?;
        let v = Vars::from_arg_matches(&matches).map_err(settings_error)?;
        if v.outbox_retry_max_ms < v.outbox_retry_base_ms {
            return Err(SettingsError {
                variable: "OUTBOX_RETRY_MAX_MS".into(),
                problem: format!(
                    "must be at least OUTBOX_RETRY_BASE_MS ({}), got {}",
                    v.outbox_retry_base_ms, v.outbox_retry_max_ms
                ),
            });
        }
        Ok(Settings {
            public_base_url: v
                .public_base_url
                .unwrap_or_else(|| format!("http://{}", v.bind)),
            database_url: v.database_url,
            database_pool_size: v.database_pool_size,
            bind: v.bind,
            smtp_url: v.smtp_url,
            mail_from: v.mail_from,
            email_templates_dir: v.email_templates_dir,
            log_format: v.log_format,
            workers: v.workers,
            outbox: OutboxSettings {
                enabled: v.outbox_worker,
                poll: Duration::from_millis(v.outbox_poll_ms),
                max_attempts: v.outbox_max_attempts,
                retry_base: Duration::from_millis(v.outbox_retry_base_ms),
                retry_max: Duration::from_millis(v.outbox_retry_max_ms),
                claim: Duration::from_secs(v.outbox_claim_secs),
                batch: v.outbox_batch,
                concurrency: v.outbox_concurrency,
                smtp_timeout: Duration::from_secs(v.smtp_timeout_secs),
                reminder_days: v.email_reminder_days,
            },
            sign_in: SignInSettings {
                link_minutes: v.magic_link_minutes,
                session_idle_minutes: v.session_idle_minutes,
                session_max_days: v.session_max_days,
                limit_per_email: v.sign_in_limit_per_email,
                limit_per_client: v.sign_in_limit_per_client,
                trust_forwarded_for: v.trust_forwarded_for,
                auth_cache_seconds: v.auth_cache_seconds,
            },
            approval_reminder_days: v.approval_reminder_days,
            booking_jobs_interval: Duration::from_secs(v.booking_jobs_seconds),
            metrics_token: v.metrics_token,
            attendance: AttendanceSettings {
                lock_days: v.register_lock_days,
                check_in_opens_minutes: v.check_in_opens_minutes,
                check_in_late_minutes: v.check_in_late_minutes,
            },
            evaluation: EvaluationSettings {
                token_days: v.evaluation_token_days,
                reminder_days: v.evaluation_reminder_days.0,
                follow_up_weeks: v.impact_follow_up_weeks,
                min_responses: v.evaluation_min_responses,
                jobs_interval: Duration::from_secs(v.evaluation_jobs_seconds),
            },
            reports: ReportSettings {
                digest_termly: v.digest_schedule,
                digest_recipients: v.digest_recipients.0,
                refresh_every: (v.report_refresh_seconds > 0)
                    .then(|| Duration::from_secs(v.report_refresh_seconds)),
                table_rows: v.report_table_rows,
                warmup: v.report_warmup,
            },
            oidc,
        })
    }

    /// Settings for a test or a tool: the given database, a free port, no SMTP.
    pub fn for_database(database_url: &str) -> Self {
        let mut vars = HashMap::new();
        vars.insert("DATABASE_URL".to_string(), database_url.to_string());
        vars.insert("BIND".to_string(), "127.0.0.1:0".to_string());
        // A test's service works out only the reports the test asks for.
        vars.insert("REPORT_WARMUP".to_string(), "off".to_string());
        Self::from_map(&vars).expect("test settings are valid")
    }

    /// How long a request waits for a free database connection before answering 503.
    pub fn pool_timeout(&self) -> Duration {
        Duration::from_secs(5)
    }
}

/// The variable a clap error is about (each argument's long name is its variable) and the
/// parser's own words for what was wrong.
fn settings_error(e: clap::Error) -> SettingsError {
    use clap::error::{ContextKind, ContextValue};
    let variable = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(arg)) => arg
            .trim_start_matches('-')
            .split([' ', '='])
            .next()
            .unwrap_or_default()
            .to_string(),
        _ => "settings".to_string(),
    };
    let problem = match std::error::Error::source(&e) {
        Some(source) => source.to_string(),
        None => e.kind().to_string(),
    };
    SettingsError { variable, problem }
}

/// Checks an `SMTP_URL` early so a typo stops start-up rather than every email.
fn check_smtp_url(u: &str) -> Result<(), String> {
    let parsed = url::Url::parse(u).map_err(|e| {
        format!("expected smtp://host:port, smtps://user:pass@host or file:///dir, got an unreadable URL ({e})")
    })?;
    match parsed.scheme() {
        "smtp" | "smtps" => {
            if parsed.host_str().is_none_or(str::is_empty) {
                return Err("the URL names no host; expected smtp://host:port".into());
            }
            // lettre reads the same URL (TLS mode from `?tls=required|opportunistic`,
            // credentials, port); asking it now turns its complaints into a start-up error.
            lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(u)
                .map(|_| ())
                .map_err(|e| {
                    format!(
                        "not usable ({e}); expected smtp://host:port, smtp://user:pass@host:587?tls=required \
                         or smtps://user:pass@host"
                    )
                })
        }
        "file" => {
            if parsed.path().is_empty() || parsed.path() == "/" {
                return Err("the file URL names no folder; expected file:///path/to/folder".into());
            }
            Ok(())
        }
        other => Err(format!(
            "unknown scheme {other:?}; expected smtp, smtps or file"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let vars = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_map(&vars)
    }

    #[test]
    fn defaults_work_with_nothing_set() {
        let s = with(&[]).unwrap();
        assert_eq!(s.database_url, "sqlite://cpd-hub.db");
        assert_eq!(s.bind, "127.0.0.1:8080");
        assert_eq!(s.public_base_url, "http://127.0.0.1:8080");
        assert!(s.smtp_url.is_none());
        assert!(s.outbox.enabled);
        assert_eq!(s.outbox.max_attempts, 30);
        assert_eq!(s.outbox.reminder_days, 2);
    }

    #[test]
    fn smtp_urls_that_lettre_reads_are_accepted() {
        for u in [
            "smtp://127.0.0.1:2525",
            "smtp://user:secret@relay.example:587?tls=required",
            "smtps://user:secret@relay.example",
            "file:///tmp/cpd-hub-mail",
        ] {
            let s = with(&[("SMTP_URL", u)]).unwrap_or_else(|e| panic!("{u}: {e}"));
            assert_eq!(s.smtp_url.as_deref(), Some(u));
        }
    }

    #[test]
    fn a_claim_outlasts_two_smtp_timeouts() {
        let s = with(&[]).unwrap();
        assert_eq!(s.outbox.claim_for(), Duration::from_secs(300));
        let s = with(&[("OUTBOX_CLAIM_SECS", "2"), ("SMTP_TIMEOUT_SECS", "15")]).unwrap();
        assert_eq!(s.outbox.claim_for(), Duration::from_secs(30));
        let s = with(&[("OUTBOX_CLAIM_SECS", "2"), ("SMTP_TIMEOUT_SECS", "1")]).unwrap();
        assert_eq!(s.outbox.claim_for(), Duration::from_secs(2));
    }

    #[test]
    fn retry_max_below_base_is_refused() {
        let e = with(&[
            ("OUTBOX_RETRY_BASE_MS", "5000"),
            ("OUTBOX_RETRY_MAX_MS", "1000"),
        ])
        .unwrap_err();
        assert_eq!(e.variable, "OUTBOX_RETRY_MAX_MS");
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (k, v) in [
            ("BIND", "localhost"),
            ("DATABASE_URL", "mysql://x"),
            ("SMTP_URL", "http://x"),
            ("PUBLIC_BASE_URL", "not a url"),
            ("DATABASE_POOL_SIZE", "0"),
            ("LOG_FORMAT", "xml"),
            ("MAIL_FROM", "nobody"),
            ("SMTP_URL", "smtp://relay.example?tls=sometimes"),
            ("SMTP_URL", "file:///"),
            ("OUTBOX_WORKER", "maybe"),
            ("OUTBOX_POLL_MS", "0"),
            ("OUTBOX_MAX_ATTEMPTS", "many"),
            ("OUTBOX_RETRY_BASE_MS", "-5"),
            ("OUTBOX_CLAIM_SECS", "0"),
            ("OUTBOX_BATCH", "5000"),
            ("OUTBOX_CONCURRENCY", "0"),
            ("SMTP_TIMEOUT_SECS", "x"),
            ("EMAIL_REMINDER_DAYS", "0"),
            ("MAGIC_LINK_MINUTES", "0"),
            ("SESSION_IDLE_MINUTES", "soon"),
            ("SESSION_MAX_DAYS", "1000"),
            ("SIGN_IN_LIMIT_PER_EMAIL", "-1"),
            ("TRUST_FORWARDED_FOR", "maybe"),
            ("APPROVAL_REMINDER_DAYS", "-1"),
            ("BOOKING_JOBS_SECONDS", "0"),
            ("EVALUATION_TOKEN_DAYS", "0"),
            ("EVALUATION_REMINDER_DAYS", "5,zero"),
            ("IMPACT_FOLLOW_UP_WEEKS", "0"),
            ("EVALUATION_MIN_RESPONSES", "4"),
            ("EVALUATION_JOBS_SECONDS", "0"),
            ("REPORT_REFRESH_SECONDS", "-1"),
            ("REPORT_REFRESH_SECONDS", "86401"),
            ("REPORT_TABLE_ROWS", "9"),
            ("REPORT_TABLE_ROWS", "1001"),
            ("REPORT_WARMUP", "sometimes"),
        ] {
            let e = with(&[(k, v)]).unwrap_err();
            assert_eq!(e.variable, k, "{k}={v} should be refused");
            assert!(e.to_string().starts_with(k));
        }
    }

    #[test]
    fn oidc_providers_are_read_per_id() {
        let s = with(&[
            ("OIDC_PROVIDERS", "microsoft, google"),
            (
                "OIDC_MICROSOFT_ISSUER",
                "https://login.microsoftonline.com/0000-tenant/v2.0",
            ),
            ("OIDC_MICROSOFT_CLIENT_ID", "ms-client"),
            ("OIDC_MICROSOFT_CLIENT_SECRET", "ms-secret"),
            ("OIDC_MICROSOFT_LABEL", "Sign in with Microsoft"),
            ("OIDC_MICROSOFT_DOMAINS", "Oak.sch.uk, @elm.sch.uk"),
            ("OIDC_GOOGLE_ISSUER", "https://accounts.google.com"),
            ("OIDC_GOOGLE_CLIENT_ID", "g-client"),
            ("OIDC_GOOGLE_CLIENT_SECRET", "g-secret"),
            ("OIDC_GOOGLE_DOMAINS", "ash.sch.uk"),
        ])
        .unwrap();
        assert_eq!(s.oidc.len(), 2);
        assert_eq!(s.oidc[0].id, "microsoft");
        assert_eq!(s.oidc[0].label, "Sign in with Microsoft");
        assert_eq!(s.oidc[0].domains, ["oak.sch.uk", "elm.sch.uk"]);
        assert_eq!(s.oidc[1].label, "Sign in with google");
        assert!(with(&[]).unwrap().oidc.is_empty());
    }

    #[test]
    fn bad_oidc_settings_name_the_variable() {
        let base = [
            ("OIDC_PROVIDERS", "ms"),
            ("OIDC_MS_ISSUER", "https://login.microsoftonline.com/t/v2.0"),
            ("OIDC_MS_CLIENT_ID", "c"),
            ("OIDC_MS_CLIENT_SECRET", "s"),
            ("OIDC_MS_DOMAINS", "oak.sch.uk"),
        ];
        for (k, v) in [
            ("OIDC_PROVIDERS", "ms,ms"),
            ("OIDC_PROVIDERS", "m s"),
            ("OIDC_MS_ISSUER", "http://login.example/"),
            (
                "OIDC_MS_ISSUER",
                "https://login.microsoftonline.com/common/v2.0",
            ),
            ("OIDC_MS_CLIENT_ID", ""),
            ("OIDC_MS_DOMAINS", "oak"),
            ("OIDC_MS_EMAIL_VERIFIED", "sometimes"),
        ] {
            let mut pairs: Vec<_> = base.iter().filter(|(b, _)| *b != k).copied().collect();
            pairs.push((k, v));
            let e = with(&pairs).unwrap_err();
            assert_eq!(e.variable, k, "{k}={v} should be refused");
        }
    }
}
