//! `cpd-hub admin create`: the first admin of a new installation; `cpd-hub admin
//! sign-in-link`: a one-time sign-in link for a person on record.

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

/// A one-time sign-in link for the person with `email` (see `store::signin::issue_link`).
pub fn sign_in_link(settings: &Settings, email: &str) -> anyhow::Result<String> {
    if !is_email(email) {
        anyhow::bail!("--email: {email:?} is not an email address");
    }
    let mut conn = super::open_migrated(settings)?;
    let issued = crate::store::signin::issue_link(
        &mut conn,
        email,
        crate::domain::time::now(),
        settings.sign_in.link_minutes,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    match issued {
        Some((_, token)) => Ok(format!(
            "{}/auth/magic?token={token}",
            settings.public_base_url.trim_end_matches('/')
        )),
        None => anyhow::bail!("--email: nobody on record has the address {email:?}"),
    }
}
