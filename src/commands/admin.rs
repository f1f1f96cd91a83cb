//! `cpd-hub admin create`: the first admin of a new installation.

use crate::config::Settings;
use crate::domain::text::{is_email, normalise_email};

/// Creates or promotes an admin and returns a new API token for them.
pub fn create(settings: &Settings, email: &str, name: &str) -> anyhow::Result<(bool, String)> {
    if !is_email(email) {
        anyhow::bail!("--email: {email:?} is not an email address");
    }
    if name.trim().is_empty() {
        anyhow::bail!("--name: must not be empty");
    }
    let mut conn = super::open_migrated(settings)?;
    let email = normalise_email(email);
    let (person_id, created) =
        crate::store::people::create_or_promote_admin(&mut conn, &email, name)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    let token = crate::store::tokens::issue(&mut conn, None, &person_id, "admin create", None)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((created, token.token))
}
