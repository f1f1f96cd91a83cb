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
    /// `APPROVAL_REMINDER_DAYS`: a booking request waiting this many days for approval is
    /// listed as overdue for its school lead. Default 5.
    pub approval_reminder_days: u32,
    /// `BOOKING_JOBS_SECONDS`: how often the booking jobs run (promotion where a per-school
    /// cap has lifted by date, purging old idempotency keys). Default 60.
    pub booking_jobs_interval: Duration,
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
            approval_reminder_days,
            booking_jobs_interval,
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
            Ok(())
        }
        "file" => Ok(()),
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
            ("APPROVAL_REMINDER_DAYS", "-1"),
            ("BOOKING_JOBS_SECONDS", "0"),
        ] {
            let e = with(&[(k, v)]).unwrap_err();
            assert_eq!(e.variable, k, "{k}={v} should be refused");
            assert!(e.to_string().starts_with(k));
        }
    }
}
