//! Email: the templates (from `email-templates/`, with `.ics` attachments written by
//! `domain::ics`), the transports (SMTP, `.eml` files, the log) and the delivery worker that
//! empties the transactional outbox (`store::outbox`).

pub mod message;
pub mod templates;
pub mod transport;
pub mod worker;

use std::path::Path;

use lettre::message::Mailbox;

use crate::config::Settings;
use templates::{Organizer, Templates};
use transport::Transport;

/// What the worker needs to turn an outbox row into a delivered email.
pub struct Mailer {
    /// The loaded templates.
    pub templates: Templates,
    /// Where emails go.
    pub transport: Transport,
    /// `MAIL_FROM`.
    pub from: Mailbox,
    /// The organiser written into `.ics` attachments (the sender).
    pub organizer: Organizer,
    /// `PUBLIC_BASE_URL`, for links.
    pub base_url: String,
}

impl Mailer {
    /// Builds the mailer from the settings; a bad `SMTP_URL`, `MAIL_FROM` or
    /// `EMAIL_TEMPLATES_DIR` is an error naming the variable.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Mailer> {
        let templates = Templates::load(settings.email_templates_dir.as_deref().map(Path::new))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let transport = Transport::from_settings(settings)?;
        let from: Mailbox = settings
            .mail_from
            .parse()
            .map_err(|e| anyhow::anyhow!("MAIL_FROM: not an address: {e}"))?;
        let organizer = Organizer {
            name: from.name.clone().unwrap_or_else(|| "CPD programme".into()),
            email: from.email.to_string(),
        };
        Ok(Mailer {
            templates,
            transport,
            from,
            organizer,
            base_url: settings.public_base_url.clone(),
        })
    }
}
