//! Settings read from environment variables (and a `.env` file when present).
//!
//! Every setting is optional: the defaults make `cpd-hub serve` work on a fresh machine with
//! nothing else installed (an SQLite file next to the working directory, HTTP on localhost,
//! emails written to the log). A bad value stops start-up with a message naming the variable.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

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

impl Default for AttendanceSettings {
    fn default() -> Self {
        AttendanceSettings {
            lock_days: 14,
            check_in_opens_minutes: 30,
            check_in_late_minutes: 10,
        }
    }
}

impl AttendanceSettings {
    fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let d = AttendanceSettings::default();
        Ok(AttendanceSettings {
            lock_days: number(get, "REGISTER_LOCK_DAYS", 0, 3650, d.lock_days as u64)? as u32,
            check_in_opens_minutes: number(
                get,
                "CHECK_IN_OPENS_MINUTES",
                0,
                24 * 60,
                d.check_in_opens_minutes as u64,
            )? as u32,
            check_in_late_minutes: number(
                get,
                "CHECK_IN_LATE_MINUTES",
                0,
                24 * 60,
                d.check_in_late_minutes as u64,
            )? as u32,
        })
    }
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

impl Default for EvaluationSettings {
    fn default() -> Self {
        EvaluationSettings {
            token_days: 28,
            reminder_days: vec![5],
            follow_up_weeks: 6,
            min_responses: 5,
            jobs_interval: Duration::from_secs(60),
        }
    }
}

impl EvaluationSettings {
    fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let d = EvaluationSettings::default();
        let reminder_days = match get("EVALUATION_REMINDER_DAYS") {
            None => d.reminder_days.clone(),
            Some(v) if v.eq_ignore_ascii_case("none") => Vec::new(),
            Some(v) => {
                let mut days = Vec::new();
                for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    match part.parse::<u32>() {
                        Ok(n) if (1..=365).contains(&n) => days.push(n),
                        _ => {
                            return Err(SettingsError {
                                variable: "EVALUATION_REMINDER_DAYS",
                                problem: format!(
                                    "expected days from 1 to 365 separated by commas, got {v:?}"
                                ),
                            })
                        }
                    }
                }
                days.sort_unstable();
                days.dedup();
                days
            }
        };
        Ok(EvaluationSettings {
            token_days: number(get, "EVALUATION_TOKEN_DAYS", 1, 365, d.token_days as u64)? as u32,
            reminder_days,
            follow_up_weeks: number(
                get,
                "IMPACT_FOLLOW_UP_WEEKS",
                1,
                104,
                d.follow_up_weeks as u64,
            )? as u32,
            min_responses: number(
                get,
                "EVALUATION_MIN_RESPONSES",
                5,
                1000,
                d.min_responses as u64,
            )? as u32,
            jobs_interval: Duration::from_secs(number(
                get,
                "EVALUATION_JOBS_SECONDS",
                1,
                86_400,
                d.jobs_interval.as_secs(),
            )?),
        })
    }
}

/// When the termly digest goes and to whom.
#[derive(Clone, Debug, Default)]
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
}

impl ReportSettings {
    fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let digest_termly = match get("DIGEST_SCHEDULE")
            .map(|v| v.to_ascii_lowercase())
            .as_deref()
        {
            None | Some("off") => false,
            Some("termly") => true,
            Some(other) => {
                return Err(SettingsError {
                    variable: "DIGEST_SCHEDULE",
                    problem: format!("expected off or termly, got {other:?}"),
                })
            }
        };
        let mut digest_recipients = Vec::new();
        if let Some(v) = get("DIGEST_RECIPIENTS") {
            for addr in v.split(',').map(str::trim).filter(|a| !a.is_empty()) {
                if addr.parse::<lettre::Address>().is_err() {
                    return Err(SettingsError {
                        variable: "DIGEST_RECIPIENTS",
                        problem: format!("{addr:?} is not an email address"),
                    });
                }
                digest_recipients.push(addr.to_string());
            }
        }
        let refresh_every = match get("REPORT_REFRESH_SECONDS") {
            None => Some(Duration::from_secs(5)),
            Some(v) => match v.parse::<u64>() {
                Ok(0) => None,
                Ok(n) if n <= 86_400 => Some(Duration::from_secs(n)),
                _ => {
                    return Err(SettingsError {
                        variable: "REPORT_REFRESH_SECONDS",
                        problem: format!("expected a whole number from 0 to 86400, got {v:?}"),
                    })
                }
            },
        };
        Ok(ReportSettings {
            digest_termly,
            digest_recipients,
            refresh_every,
        })
    }
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
    /// (default 300). A worker that dies mid-send leaves its claim; once it expires another
    /// worker takes the message over.
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

impl Default for OutboxSettings {
    fn default() -> Self {
        OutboxSettings {
            enabled: true,
            poll: Duration::from_millis(1000),
            max_attempts: 30,
            retry_base: Duration::from_millis(30_000),
            retry_max: Duration::from_millis(3_600_000),
            claim: Duration::from_secs(300),
            batch: 64,
            concurrency: 16,
            smtp_timeout: Duration::from_secs(15),
            reminder_days: 2,
        }
    }
}

impl OutboxSettings {
    /// Reads the `OUTBOX_*`, `SMTP_TIMEOUT_SECS` and `EMAIL_REMINDER_DAYS` variables.
    fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let d = OutboxSettings::default();
        let enabled = match get("OUTBOX_WORKER")
            .map(|v| v.to_ascii_lowercase())
            .as_deref()
        {
            None | Some("on" | "true" | "1" | "yes") => true,
            Some("off" | "false" | "0" | "no") => false,
            Some(other) => {
                return Err(SettingsError {
                    variable: "OUTBOX_WORKER",
                    problem: format!("expected on or off, got {other:?}"),
                })
            }
        };
        let poll = number(get, "OUTBOX_POLL_MS", 10, 60_000, d.poll.as_millis() as u64)?;
        let max_attempts = number(get, "OUTBOX_MAX_ATTEMPTS", 1, 1000, d.max_attempts as u64)?;
        let retry_base = number(
            get,
            "OUTBOX_RETRY_BASE_MS",
            1,
            86_400_000,
            d.retry_base.as_millis() as u64,
        )?;
        let retry_max = number(
            get,
            "OUTBOX_RETRY_MAX_MS",
            1,
            86_400_000,
            d.retry_max.as_millis() as u64,
        )?;
        if retry_max < retry_base {
            return Err(SettingsError {
                variable: "OUTBOX_RETRY_MAX_MS",
                problem: format!(
                    "must be at least OUTBOX_RETRY_BASE_MS ({retry_base}), got {retry_max}"
                ),
            });
        }
        let claim = number(get, "OUTBOX_CLAIM_SECS", 1, 86_400, d.claim.as_secs())?;
        let batch = number(get, "OUTBOX_BATCH", 1, 1000, d.batch as u64)?;
        let concurrency = number(get, "OUTBOX_CONCURRENCY", 1, 64, d.concurrency as u64)?;
        let smtp_timeout = number(get, "SMTP_TIMEOUT_SECS", 1, 600, d.smtp_timeout.as_secs())?;
        let reminder_days = number(get, "EMAIL_REMINDER_DAYS", 1, 60, d.reminder_days as u64)?;
        Ok(OutboxSettings {
            enabled,
            poll: Duration::from_millis(poll),
            max_attempts: max_attempts as i32,
            retry_base: Duration::from_millis(retry_base),
            retry_max: Duration::from_millis(retry_max),
            claim: Duration::from_secs(claim),
            batch: batch as i64,
            concurrency: concurrency as usize,
            smtp_timeout: Duration::from_secs(smtp_timeout),
            reminder_days: reminder_days as u32,
        })
    }
}

/// A whole number setting within `min..=max`, or its default when unset.
fn number(
    get: &dyn Fn(&str) -> Option<String>,
    variable: &'static str,
    min: u64,
    max: u64,
    default: u64,
) -> Result<u64, SettingsError> {
    match get(variable) {
        None => Ok(default),
        Some(v) => match v.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(SettingsError {
                variable,
                problem: format!("expected a whole number from {min} to {max}, got {v:?}"),
            }),
        },
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
}

impl Default for SignInSettings {
    fn default() -> Self {
        SignInSettings {
            link_minutes: 15,
            session_idle_minutes: 8 * 60,
            session_max_days: 30,
            limit_per_email: 5,
            limit_per_client: 50,
            trust_forwarded_for: false,
        }
    }
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
    pub variable: &'static str,
    /// What was wrong and what was expected.
    pub problem: String,
}

impl Settings {
    /// Reads the process environment (after loading `.env` if one exists).
    pub fn from_env() -> Result<Self, SettingsError> {
        // A missing .env is the normal case; a malformed one is reported by name.
        if let Err(e) = dotenvy::dotenv() {
            if !e.not_found() {
                return Err(SettingsError {
                    variable: ".env",
                    problem: format!("could not be read: {e}"),
                });
            }
        }
        let vars: HashMap<String, String> = std::env::vars().collect();
        Self::from_map(&vars)
    }

    /// Builds settings from a map of variables; `from_env` and the tests share it.
    pub fn from_map(vars: &HashMap<String, String>) -> Result<Self, SettingsError> {
        let get = |k: &str| {
            vars.get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };

        let database_url = get("DATABASE_URL").unwrap_or_else(|| "sqlite://cpd-hub.db".into());
        crate::db::Backend::from_url(&database_url).map_err(|problem| SettingsError {
            variable: "DATABASE_URL",
            problem,
        })?;

        let database_pool_size = match get("DATABASE_POOL_SIZE") {
            None => None,
            Some(v) => match v.parse::<u32>() {
                Ok(n) if (1..=512).contains(&n) => Some(n),
                _ => {
                    return Err(SettingsError {
                        variable: "DATABASE_POOL_SIZE",
                        problem: format!("expected a whole number from 1 to 512, got {v:?}"),
                    })
                }
            },
        };

        let bind = get("BIND").unwrap_or_else(|| "127.0.0.1:8080".into());
        if bind.parse::<SocketAddr>().is_err() {
            return Err(SettingsError {
                variable: "BIND",
                problem: format!(
                    "expected an address and port such as 127.0.0.1:8080, got {bind:?}"
                ),
            });
        }

        let public_base_url = match get("PUBLIC_BASE_URL") {
            Some(u) => {
                let parsed = url::Url::parse(&u).map_err(|e| SettingsError {
                    variable: "PUBLIC_BASE_URL",
                    problem: format!("expected an absolute http(s) URL, got {u:?} ({e})"),
                })?;
                if !matches!(parsed.scheme(), "http" | "https") {
                    return Err(SettingsError {
                        variable: "PUBLIC_BASE_URL",
                        problem: format!("expected an http or https URL, got {u:?}"),
                    });
                }
                u.trim_end_matches('/').to_string()
            }
            None => format!("http://{bind}"),
        };

        let smtp_url = get("SMTP_URL");
        if let Some(u) = &smtp_url {
            check_smtp_url(u).map_err(|problem| SettingsError {
                variable: "SMTP_URL",
                problem,
            })?;
        }

        let mail_from = get("MAIL_FROM").unwrap_or_else(|| "cpd-hub <cpd-hub@localhost>".into());
        if mail_from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(SettingsError {
                variable: "MAIL_FROM",
                problem: format!(
                    "expected an address such as \"CPD team <cpd@example.org>\", got {mail_from:?}"
                ),
            });
        }

        let log_format = match get("LOG_FORMAT").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(SettingsError {
                    variable: "LOG_FORMAT",
                    problem: format!("expected text or json, got {other:?}"),
                })
            }
        };

        let workers = match get("WORKERS") {
            None => None,
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=256).contains(&n) => Some(n),
                _ => {
                    return Err(SettingsError {
                        variable: "WORKERS",
                        problem: format!("expected a whole number from 1 to 256, got {v:?}"),
                    })
                }
            },
        };

        let outbox = OutboxSettings::from_lookup(&get)?;
        let defaults = SignInSettings::default();
        let number = |variable: &'static str, max: u32, default: u32| match get(variable) {
            None => Ok(default),
            Some(v) => match v.parse::<u32>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                _ => Err(SettingsError {
                    variable,
                    problem: format!("expected a whole number from 1 to {max}, got {v:?}"),
                }),
            },
        };
        let sign_in = SignInSettings {
            link_minutes: number("MAGIC_LINK_MINUTES", 24 * 60, defaults.link_minutes)?,
            session_idle_minutes: number(
                "SESSION_IDLE_MINUTES",
                30 * 24 * 60,
                defaults.session_idle_minutes,
            )?,
            session_max_days: number("SESSION_MAX_DAYS", 365, defaults.session_max_days)?,
            limit_per_email: number("SIGN_IN_LIMIT_PER_EMAIL", 1000, defaults.limit_per_email)?,
            limit_per_client: number(
                "SIGN_IN_LIMIT_PER_CLIENT",
                100_000,
                defaults.limit_per_client,
            )?,
            trust_forwarded_for: match get("TRUST_FORWARDED_FOR").as_deref() {
                None | Some("false") | Some("0") => false,
                Some("true") | Some("1") => true,
                Some(other) => {
                    return Err(SettingsError {
                        variable: "TRUST_FORWARDED_FOR",
                        problem: format!("expected true or false, got {other:?}"),
                    })
                }
            },
        };

        let approval_reminder_days = match get("APPROVAL_REMINDER_DAYS") {
            None => 5,
            Some(v) => match v.parse::<u32>() {
                Ok(n) if n <= 365 => n,
                _ => {
                    return Err(SettingsError {
                        variable: "APPROVAL_REMINDER_DAYS",
                        problem: format!("expected a whole number from 0 to 365, got {v:?}"),
                    })
                }
            },
        };

        let booking_jobs_interval = match get("BOOKING_JOBS_SECONDS") {
            None => Duration::from_secs(60),
            Some(v) => match v.parse::<u64>() {
                Ok(n) if (1..=86_400).contains(&n) => Duration::from_secs(n),
                _ => {
                    return Err(SettingsError {
                        variable: "BOOKING_JOBS_SECONDS",
                        problem: format!("expected a whole number from 1 to 86400, got {v:?}"),
                    })
                }
            },
        };

        let metrics_token = get("METRICS_TOKEN");
        if metrics_token.as_ref().is_some_and(|t| t.len() < 16) {
            return Err(SettingsError {
                variable: "METRICS_TOKEN",
                problem: "must be at least 16 characters long".into(),
            });
        }
        let lookup = |k: &str| get(k);
        let attendance = AttendanceSettings::from_lookup(&lookup)?;
        let evaluation = EvaluationSettings::from_lookup(&lookup)?;
        let reports = ReportSettings::from_lookup(&lookup)?;

        Ok(Settings {
            database_url,
            database_pool_size,
            bind,
            public_base_url,
            smtp_url,
            mail_from,
            email_templates_dir: get("EMAIL_TEMPLATES_DIR"),
            log_format,
            workers,
            outbox,
            sign_in,
            approval_reminder_days,
            booking_jobs_interval,
            metrics_token,
            attendance,
            evaluation,
            reports,
        })
    }

    /// Settings for a test or a tool: the given database, a free port, no SMTP.
    pub fn for_database(database_url: &str) -> Self {
        let mut vars = HashMap::new();
        vars.insert("DATABASE_URL".to_string(), database_url.to_string());
        vars.insert("BIND".to_string(), "127.0.0.1:0".to_string());
        Self::from_map(&vars).expect("test settings are valid")
    }

    /// How long a request waits for a free database connection before answering 503.
    pub fn pool_timeout(&self) -> Duration {
        Duration::from_secs(5)
    }
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
        ] {
            let e = with(&[(k, v)]).unwrap_err();
            assert_eq!(e.variable, k, "{k}={v} should be refused");
            assert!(e.to_string().starts_with(k));
        }
    }
}
