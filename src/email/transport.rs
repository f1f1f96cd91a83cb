//! Where emails go: an SMTP server (pooled, rustls), `.eml` files, or the log.

use std::path::PathBuf;

use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::Settings;
use crate::domain::notification::mask_email;

/// The configured way of delivering email.
#[derive(Clone)]
pub enum Transport {
    /// `SMTP_URL` unset: each email is written to the log (recipient masked) and counts as
    /// sent, so a first run needs no mail server.
    Log,
    /// `smtp://`, `smtps://`: a pooled connection to a mail server.
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// `file:///dir`: one `.eml` file per email.
    File(AsyncFileTransport<Tokio1Executor>, PathBuf),
}

/// Why a send did not go through.
#[derive(Debug)]
pub struct SendError {
    /// The server refused for good (a 5xx answer): retrying the same message cannot help.
    pub permanent: bool,
    /// What happened, for the outbox row and the log (no addresses).
    pub message: String,
}

impl Transport {
    /// Builds the transport from `SMTP_URL`. Errors name the variable.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Transport> {
        let Some(url) = settings.smtp_url.as_deref() else {
            return Ok(Transport::Log);
        };
        if let Some(rest) = url.strip_prefix("file://") {
            let dir = PathBuf::from(rest);
            std::fs::create_dir_all(&dir).map_err(|e| {
                anyhow::anyhow!("SMTP_URL: cannot create the folder {}: {e}", dir.display())
            })?;
            return Ok(Transport::File(AsyncFileTransport::new(&dir), dir));
        }
        let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| anyhow::anyhow!("SMTP_URL: not usable: {e}"))?;
        let concurrency = settings.outbox.concurrency as u32;
        Ok(Transport::Smtp(
            builder
                .timeout(Some(settings.outbox.smtp_timeout))
                .pool_config(PoolConfig::new().max_size(concurrency.max(1)))
                .build(),
        ))
    }

    /// A short description for the start-up log, without credentials.
    pub fn describe(&self) -> String {
        match self {
            Transport::Log => "the log (SMTP_URL is not set)".into(),
            Transport::Smtp(_) => "SMTP".into(),
            Transport::File(_, dir) => format!(".eml files in {}", dir.display()),
        }
    }

    /// Sends one message.
    pub async fn send(&self, kind: &str, to: &str, message: Message) -> Result<(), SendError> {
        match self {
            Transport::Log => {
                let message_id = message
                    .headers()
                    .get_raw("Message-ID")
                    .unwrap_or_default()
                    .to_string();
                let subject = message
                    .headers()
                    .get_raw("Subject")
                    .unwrap_or_default()
                    .to_string();
                // The body is not logged: a sign-in email's link is a secret.
                tracing::info!(
                    kind,
                    to = %mask_email(to),
                    message_id,
                    subject,
                    "email (no SMTP_URL set, so written to the log instead of sent)"
                );
                Ok(())
            }
            Transport::Smtp(smtp) => smtp.send(message).await.map(|_| ()).map_err(|e| SendError {
                permanent: e.is_permanent(),
                message: format!("SMTP: {e}"),
            }),
            Transport::File(file, _) => {
                file.send(message).await.map(|_| ()).map_err(|e| SendError {
                    permanent: false,
                    message: format!("writing the .eml file: {e}"),
                })
            }
        }
    }
}
