//! Sign-in: emailed single-use links and the browser sessions they start.
//!
//! Secrets (link tokens, session tokens) never reach the database: only their SHA-256 does, so
//! the functions here take and store hashes. Nothing here logs personal data.

use chrono::{Duration, NaiveDateTime};
use diesel::dsl::{count_star, min};
use diesel::prelude::*;
use serde::Serialize;

use super::new_id;
use crate::auth::cache::Verified;
use crate::config::SignInSettings;
use crate::db::schema::{magic_links, oidc_flows, people, web_sessions};
use crate::db::DbConn;
use crate::domain::caller::Caller;
use crate::domain::notification::{Notification, SignIn};
use crate::domain::signin::{self as rules, check_rate, window_start};
use crate::domain::text::normalise_email;
use crate::domain::time;
use crate::domain::tokens;
use crate::error::AppResult;

/// Records a request for a sign-in link and, when `email` belongs to a live person, queues
/// the email carrying the link, in one transaction.
///
/// Known and unknown addresses take the same path (a token is made, hashed and recorded
/// either way) so neither the answer nor the rate limits tell whether an address is on
/// record. `Ok(Err(seconds))`: a rate limit refused the request; nothing was recorded.
pub fn request_link(
    conn: &mut DbConn,
    email: &str,
    client: &str,
    public_base_url: &str,
    settings: &SignInSettings,
) -> AppResult<Result<(), u64>> {
    let email = normalise_email(email);
    let email_hash = tokens::hash(&email);
    let token = tokens::random_hex(32);
    let token_hash = tokens::hash(&token);
    crate::db::write_tx(conn, |conn| {
        let now = time::now();
        diesel::delete(magic_links::table.filter(
            magic_links::created_at.lt(now - Duration::hours(rules::LINK_RETENTION_HOURS)),
        ))
        .execute(conn)?;

        let since = window_start(now);
        let (by_email, oldest_email): (i64, Option<NaiveDateTime>) = magic_links::table
            .filter(magic_links::email_hash.eq(&email_hash))
            .filter(magic_links::created_at.gt(since))
            .select((count_star(), min(magic_links::created_at)))
            .first(conn)?;
        let (by_client, oldest_client): (i64, Option<NaiveDateTime>) = magic_links::table
            .filter(magic_links::requested_ip.eq(client))
            .filter(magic_links::created_at.gt(since))
            .select((count_star(), min(magic_links::created_at)))
            .first(conn)?;
        let refusals = [
            check_rate(by_email, settings.limit_per_email, oldest_email, now),
            check_rate(by_client, settings.limit_per_client, oldest_client, now),
        ];
        if let Some(wait) = refusals.iter().filter_map(|r| r.err()).max() {
            return Ok(Err(wait));
        }

        let person: Option<(String, String, String)> = people::table
            .filter(people::email.eq(&email))
            .filter(people::erased_at.is_null())
            .select((people::id, people::name, people::email))
            .first(conn)
            .optional()?;
        let id = new_id();
        let minutes = i64::from(settings.link_minutes);
        let expires_at = now + Duration::minutes(minutes);
        diesel::insert_into(magic_links::table)
            .values((
                magic_links::id.eq(&id),
                magic_links::person_id.eq(person.as_ref().map(|p| p.0.as_str())),
                magic_links::email_hash.eq(&email_hash),
                magic_links::token_hash.eq(&token_hash),
                magic_links::created_at.eq(now),
                magic_links::expires_at.eq(expires_at),
                magic_links::requested_ip.eq(client),
            ))
            .execute(conn)?;
        if let Some((person_id, name, address)) = &person {
            super::outbox::enqueue(
                conn,
                super::outbox::NewMessage {
                    recipient_email: address,
                    recipient_person_id: Some(person_id),
                    subject_id: Some(&id),
                    // The email says when the link stops working, and the worker skips an
                    // email that could only arrive with a dead link.
                    notification: Notification::SignInLink(SignIn::new(
                        name,
                        public_base_url,
                        &token,
                        expires_at,
                        minutes,
                    )),
                },
            )?;
        }
        Ok(Ok(()))
    })
}

/// Makes a sign-in link for the live person with `email`, as an operator does from the
/// command line (when email is down, or on a first local run): the same single-use, expiring
/// token as an emailed link, recorded in the audit log, with no email sent. Returns the
/// person's id and the token, or `None` when no live person has that address.
pub fn issue_link(
    conn: &mut DbConn,
    email: &str,
    now: NaiveDateTime,
    link_minutes: u32,
) -> AppResult<Option<(String, String)>> {
    let email = normalise_email(email);
    let token = tokens::random_hex(32);
    let token_hash = tokens::hash(&token);
    crate::db::write_tx(conn, |conn| {
        let person: Option<String> = people::table
            .filter(people::email.eq(&email))
            .filter(people::erased_at.is_null())
            .select(people::id)
            .first(conn)
            .optional()?;
        let Some(person_id) = person else {
            return Ok(None);
        };
        let id = new_id();
        diesel::insert_into(magic_links::table)
            .values((
                magic_links::id.eq(&id),
                magic_links::person_id.eq(&person_id),
                magic_links::email_hash.eq(tokens::hash(&email)),
                magic_links::token_hash.eq(&token_hash),
                magic_links::created_at.eq(now),
                magic_links::expires_at.eq(now + Duration::minutes(i64::from(link_minutes))),
                magic_links::requested_ip.eq("command line"),
            ))
            .execute(conn)?;
        super::audit::record(
            conn,
            None,
            "sign_in_link.issued",
            "person",
            Some(&person_id),
            serde_json::json!({ "by": "command line", "link_id": id }),
        )?;
        Ok(Some((person_id, token)))
    })
}

/// What a sign-in link is good for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// It may be used to sign in.
    Valid,
    /// No such link, or it was not for a live person.
    Unknown,
    /// It was used already (links work once).
    Used,
    /// It is past its expiry.
    Expired,
}

fn link_row(
    conn: &mut DbConn,
    token_hash: &str,
) -> QueryResult<(LinkState, Option<(String, String)>)> {
    let row: Option<(String, Option<String>, NaiveDateTime, Option<NaiveDateTime>)> =
        magic_links::table
            .filter(magic_links::token_hash.eq(token_hash))
            .select((
                magic_links::id,
                magic_links::person_id,
                magic_links::expires_at,
                magic_links::used_at,
            ))
            .first(conn)
            .optional()?;
    let Some((id, Some(person_id), expires_at, used_at)) = row else {
        return Ok((LinkState::Unknown, None));
    };
    let live: i64 = people::table
        .filter(people::id.eq(&person_id))
        .filter(people::erased_at.is_null())
        .count()
        .get_result(conn)?;
    let state = if live == 0 {
        LinkState::Unknown
    } else if used_at.is_some() {
        LinkState::Used
    } else if time::now() >= expires_at {
        LinkState::Expired
    } else {
        LinkState::Valid
    };
    Ok((state, Some((id, person_id))))
}

/// Looks at a link without using it (the confirm page: mail scanners follow links, so merely
/// opening one must not spend it).
pub fn link_state(conn: &mut DbConn, token_hash: &str) -> AppResult<LinkState> {
    Ok(link_row(conn, token_hash)?.0)
}

/// Uses a link: marks it used and starts a browser session whose cookie secret hashes to
/// `session_hash`. Returns the link's state; a session exists only when it was `Valid`.
/// Two requests racing with one link start one session: the update that marks it used only
/// matches while it is unused.
pub fn consume_link(
    conn: &mut DbConn,
    token_hash: &str,
    session_hash: &str,
    settings: &SignInSettings,
) -> AppResult<LinkState> {
    crate::db::write_tx(conn, |conn| {
        let (state, row) = link_row(conn, token_hash)?;
        let (LinkState::Valid, Some((link_id, person_id))) = (state, row) else {
            return Ok(state);
        };
        let now = time::now();
        let marked = diesel::update(
            magic_links::table
                .filter(magic_links::id.eq(&link_id))
                .filter(magic_links::used_at.is_null()),
        )
        .set(magic_links::used_at.eq(now))
        .execute(conn)?;
        if marked != 1 {
            return Ok(LinkState::Used);
        }
        start_session(conn, &person_id, session_hash, settings, now)?;
        Ok(LinkState::Valid)
    })
}

/// Starts a browser session for `person_id` whose cookie secret hashes to `session_hash`
/// (inside the caller's transaction), clearing sessions long ended. Every way of signing in
/// (the emailed link, single sign-on) makes the same session.
fn start_session(
    conn: &mut DbConn,
    person_id: &str,
    session_hash: &str,
    settings: &SignInSettings,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let ended_before = now - Duration::days(rules::SESSION_RETENTION_DAYS);
    diesel::delete(
        web_sessions::table.filter(
            web_sessions::expires_at
                .lt(ended_before)
                .or(web_sessions::revoked_at.lt(ended_before)),
        ),
    )
    .execute(conn)?;
    diesel::insert_into(web_sessions::table)
        .values((
            web_sessions::id.eq(new_id()),
            web_sessions::person_id.eq(person_id),
            web_sessions::token_hash.eq(session_hash),
            web_sessions::created_at.eq(now),
            web_sessions::last_seen_at.eq(now),
            web_sessions::expires_at.eq(now + Duration::days(i64::from(settings.session_max_days))),
        ))
        .execute(conn)?;
    Ok(())
}

/// A single sign-on that went to the provider and has not come back yet (`oidc_flows`).
#[derive(Clone, Debug)]
pub struct OidcFlow {
    /// The provider's id (`OIDC_PROVIDERS`).
    pub provider: String,
    /// The nonce the ID token must carry.
    pub nonce: String,
    /// The PKCE code verifier, sent with the code.
    pub pkce_verifier: String,
    /// The page to return to once signed in.
    pub next: Option<String>,
}

/// Records a single sign-on going to its provider, for `minutes`, under the hash of its
/// `state`; clears those that never came back.
pub fn begin_oidc_flow(
    conn: &mut DbConn,
    state_hash: &str,
    flow: &OidcFlow,
    now: NaiveDateTime,
    minutes: i64,
) -> AppResult<()> {
    crate::db::write_tx(conn, |conn| {
        diesel::delete(oidc_flows::table.filter(oidc_flows::expires_at.lt(now))).execute(conn)?;
        diesel::insert_into(oidc_flows::table)
            .values((
                oidc_flows::id.eq(new_id()),
                oidc_flows::state_hash.eq(state_hash),
                oidc_flows::provider.eq(&flow.provider),
                oidc_flows::nonce.eq(&flow.nonce),
                oidc_flows::pkce_verifier.eq(&flow.pkce_verifier),
                oidc_flows::next.eq(flow.next.as_deref()),
                oidc_flows::created_at.eq(now),
                oidc_flows::expires_at.eq(now + Duration::minutes(minutes)),
            ))
            .execute(conn)?;
        Ok(())
    })
}

/// Takes (and deletes) the single sign-on whose `state` hashes to `state_hash`: `None` when
/// there is none, it has expired, or it was taken already (a replayed callback), so each
/// state is good for one return from the provider.
pub fn take_oidc_flow(
    conn: &mut DbConn,
    state_hash: &str,
    now: NaiveDateTime,
) -> AppResult<Option<OidcFlow>> {
    crate::db::write_tx(conn, |conn| {
        type Row = (
            String,
            String,
            String,
            String,
            Option<String>,
            NaiveDateTime,
        );
        let row: Option<Row> = oidc_flows::table
            .filter(oidc_flows::state_hash.eq(state_hash))
            .select((
                oidc_flows::id,
                oidc_flows::provider,
                oidc_flows::nonce,
                oidc_flows::pkce_verifier,
                oidc_flows::next,
                oidc_flows::expires_at,
            ))
            .first(conn)
            .optional()?;
        let Some((id, provider, nonce, pkce_verifier, next, expires_at)) = row else {
            return Ok(None);
        };
        // Only the request that deletes the row goes on: two racing callbacks get one flow.
        let deleted = diesel::delete(oidc_flows::table.find(&id)).execute(conn)?;
        if deleted != 1 || now >= expires_at {
            return Ok(None);
        }
        Ok(Some(OidcFlow {
            provider,
            nonce,
            pkce_verifier,
            next,
        }))
    })
}

/// Signs in the live person whose address is `email` (compared case-insensitively) after the
/// provider `provider` vouched for it: starts a session whose cookie secret hashes to
/// `session_hash` and records `sign_in.oidc` with the provider in the audit log, in one
/// transaction. `None` when no live person has that address: nothing is created.
pub fn oidc_sign_in(
    conn: &mut DbConn,
    email: &str,
    provider: &str,
    session_hash: &str,
    settings: &SignInSettings,
    now: NaiveDateTime,
) -> AppResult<Option<String>> {
    let email = normalise_email(email);
    crate::db::write_tx(conn, |conn| {
        let person: Option<String> = people::table
            .filter(people::email.eq(&email))
            .filter(people::erased_at.is_null())
            .select(people::id)
            .first(conn)
            .optional()?;
        let Some(person_id) = person else {
            return Ok(None);
        };
        start_session(conn, &person_id, session_hash, settings, now)?;
        super::audit::record(
            conn,
            Some(&person_id),
            "sign_in.oidc",
            "person",
            Some(&person_id),
            serde_json::json!({ "provider": provider }),
        )?;
        Ok(Some(person_id))
    })
}

/// Finds the signed-in person behind a session cookie's hash: the session must be live (see
/// [`rules::session_live`] at `now`) and the person not erased. Refreshes `last_seen_at` now
/// and then. The answer says until when it holds by time alone (the session's absolute or idle
/// end, or its next `last_seen_at` write), for [`crate::auth::cache`].
pub fn authenticate_session(
    conn: &mut DbConn,
    session_hash: &str,
    idle_minutes: u32,
    now: NaiveDateTime,
) -> AppResult<Option<Verified>> {
    type Row = (
        String,
        NaiveDateTime,
        NaiveDateTime,
        Option<NaiveDateTime>,
        String,
        Option<String>,
    );
    let found: Option<Row> = web_sessions::table
        .inner_join(people::table)
        .filter(web_sessions::token_hash.eq(session_hash))
        .filter(people::erased_at.is_null())
        .select((
            web_sessions::id,
            web_sessions::last_seen_at,
            web_sessions::expires_at,
            web_sessions::revoked_at,
            people::id,
            people::school_id,
        ))
        .first(conn)
        .optional()?;
    let Some((session_id, last_seen, expires_at, revoked_at, person_id, school_id)) = found else {
        return Ok(None);
    };
    if !rules::session_live(
        last_seen,
        expires_at,
        revoked_at.is_some(),
        idle_minutes,
        now,
    ) {
        return Ok(None);
    }
    let last_seen = if rules::session_needs_touch(last_seen, now) {
        diesel::update(web_sessions::table.find(&session_id))
            .set(web_sessions::last_seen_at.eq(now))
            .execute(conn)?;
        now
    } else {
        last_seen
    };
    let roles = super::tokens::roles_of(conn, &person_id)?;
    Ok(Some(Verified {
        caller: Caller {
            person_id,
            school_id,
            roles,
        },
        holds_until: rules::session_holds_until(last_seen, expires_at, idle_minutes),
    }))
}

/// Ends the session whose cookie secret hashes to `session_hash`; false when there was no
/// such live session.
pub fn revoke_session(conn: &mut DbConn, session_hash: &str) -> QueryResult<bool> {
    let n = diesel::update(
        web_sessions::table
            .filter(web_sessions::token_hash.eq(session_hash))
            .filter(web_sessions::revoked_at.is_null()),
    )
    .set(web_sessions::revoked_at.eq(time::now()))
    .execute(conn)?;
    Ok(n == 1)
}

/// A person's display name, for the pages that greet them.
pub fn person_name(conn: &mut DbConn, person_id: &str) -> QueryResult<Option<String>> {
    people::table
        .find(person_id)
        .filter(people::erased_at.is_null())
        .select(people::name)
        .first(conn)
        .optional()
}

/// Deletes a person's sign-in links and sessions (and with them the client addresses they
/// were requested from). Erasure calls it inside its transaction.
pub fn forget_person(conn: &mut DbConn, person_id: &str) -> QueryResult<()> {
    diesel::delete(magic_links::table.filter(magic_links::person_id.eq(person_id)))
        .execute(conn)?;
    diesel::delete(web_sessions::table.filter(web_sessions::person_id.eq(person_id)))
        .execute(conn)?;
    Ok(())
}

/// A browser session as a person's data export shows it (never its secret).
#[derive(Debug, Queryable, Serialize)]
pub struct SessionRecord {
    /// The session's id.
    pub id: String,
    /// When it began (the sign-in).
    #[serde(with = "crate::domain::time::rfc3339")]
    pub created_at: NaiveDateTime,
    /// When it was last used (to a few minutes).
    #[serde(with = "crate::domain::time::rfc3339")]
    pub last_seen_at: NaiveDateTime,
    /// Its absolute end.
    #[serde(with = "crate::domain::time::rfc3339")]
    pub expires_at: NaiveDateTime,
    /// When it was ended by signing out.
    #[serde(with = "crate::domain::time::rfc3339::option")]
    pub revoked_at: Option<NaiveDateTime>,
}

/// A person's recent browser sessions, newest first.
pub fn sessions_of(conn: &mut DbConn, person_id: &str) -> QueryResult<Vec<SessionRecord>> {
    web_sessions::table
        .filter(web_sessions::person_id.eq(person_id))
        .order(web_sessions::created_at.desc())
        .select((
            web_sessions::id,
            web_sessions::created_at,
            web_sessions::last_seen_at,
            web_sessions::expires_at,
            web_sessions::revoked_at,
        ))
        .load(conn)
}

/// A sign-in link request as a person's data export shows it (never its secret).
#[derive(Debug, Queryable, Serialize)]
pub struct LinkRecord {
    /// The request's id.
    pub id: String,
    /// When it was asked for.
    #[serde(with = "crate::domain::time::rfc3339")]
    pub created_at: NaiveDateTime,
    /// When the link stopped (or stops) working.
    #[serde(with = "crate::domain::time::rfc3339")]
    pub expires_at: NaiveDateTime,
    /// When it was used to sign in.
    #[serde(with = "crate::domain::time::rfc3339::option")]
    pub used_at: Option<NaiveDateTime>,
    /// The client address it was asked from.
    pub requested_ip: String,
}

/// A person's sign-in link requests still kept (a day's worth), newest first.
pub fn links_of(conn: &mut DbConn, person_id: &str) -> QueryResult<Vec<LinkRecord>> {
    magic_links::table
        .filter(magic_links::person_id.eq(person_id))
        .order(magic_links::created_at.desc())
        .select((
            magic_links::id,
            magic_links::created_at,
            magic_links::expires_at,
            magic_links::used_at,
            magic_links::requested_ip,
        ))
        .load(conn)
}
