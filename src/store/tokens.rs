//! API tokens: created for a person, looked up by hash on every authenticated request.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::auth::cache::Verified;
use crate::db::schema::{api_tokens, people, person_roles};
use crate::db::DbConn;
use crate::domain::caller::Caller;
use crate::domain::paging::{Page, Paging};
use crate::domain::roles::Role;
use crate::domain::time;
use crate::error::{AppError, AppResult};

/// How long `last_used_at` stands before a use writes it again.
const TOUCH_EVERY: chrono::Duration = chrono::Duration::hours(1);

/// Finds the signed-in person for a token hash at `now`: the token must exist, be neither
/// revoked nor expired, and belong to a person who has not been erased. The answer says until
/// when it holds by time alone (the token's expiry, or its next `last_used_at` write), for
/// [`crate::auth::cache`].
pub fn authenticate(
    conn: &mut DbConn,
    token_hash: &str,
    now: NaiveDateTime,
) -> AppResult<Option<Verified>> {
    /// Token id, last used, expiry, person id, school id.
    type Row = (
        String,
        Option<NaiveDateTime>,
        Option<NaiveDateTime>,
        String,
        Option<String>,
    );
    let found: Option<Row> = api_tokens::table
        .inner_join(people::table)
        .filter(api_tokens::token_hash.eq(token_hash))
        .filter(api_tokens::revoked_at.is_null())
        .filter(
            api_tokens::expires_at
                .is_null()
                .or(api_tokens::expires_at.gt(now)),
        )
        .filter(people::erased_at.is_null())
        .select((
            api_tokens::id,
            api_tokens::last_used_at,
            api_tokens::expires_at,
            people::id,
            people::school_id,
        ))
        .first(conn)
        .optional()?;
    let Some((token_id, last_used, expires_at, person_id, school_id)) = found else {
        return Ok(None);
    };
    // Touch `last_used_at` at most hourly: a write on every request would serialise reads
    // behind SQLite's single writer for a figure nobody needs to the second.
    let last_used = match last_used {
        Some(t) if now - t <= TOUCH_EVERY => t,
        _ => {
            diesel::update(api_tokens::table.find(&token_id))
                .set(api_tokens::last_used_at.eq(now))
                .execute(conn)?;
            now
        }
    };
    let next_touch = last_used + TOUCH_EVERY + chrono::Duration::microseconds(1);
    let roles = roles_of(conn, &person_id)?;
    Ok(Some(Verified {
        caller: Caller {
            person_id,
            school_id,
            roles,
        },
        holds_until: expires_at.map_or(next_touch, |e| e.min(next_touch)),
    }))
}

/// The roles a person holds, always including `staff`.
pub fn roles_of(conn: &mut DbConn, person_id: &str) -> QueryResult<Vec<Role>> {
    let names: Vec<String> = person_roles::table
        .filter(person_roles::person_id.eq(person_id))
        .select(person_roles::role)
        .load(conn)?;
    let mut roles: Vec<Role> = names.iter().filter_map(|n| Role::parse(n)).collect();
    if !roles.contains(&Role::Staff) {
        roles.push(Role::Staff);
    }
    roles.sort();
    Ok(roles)
}

/// A token as listed (never with its secret).
#[derive(Debug, Queryable, serde::Serialize)]
pub struct TokenInfo {
    /// The token's id.
    pub id: String,
    /// A name to recognise it by.
    pub name: String,
    /// When it was made.
    #[serde(with = "crate::domain::time::rfc3339")]
    pub created_at: NaiveDateTime,
    /// When it stops working, if ever.
    #[serde(with = "crate::domain::time::rfc3339::option")]
    pub expires_at: Option<NaiveDateTime>,
    /// When it was last used (to the hour).
    #[serde(with = "crate::domain::time::rfc3339::option")]
    pub last_used_at: Option<NaiveDateTime>,
}

/// Creates a token for a person and returns its id and the secret (shown once). Runs inside
/// the caller's transaction; [`issue`] is the audited whole.
pub fn create(
    conn: &mut DbConn,
    person_id: &str,
    name: &str,
    expires_at: Option<NaiveDateTime>,
) -> QueryResult<(String, String)> {
    let secret = crate::domain::tokens::new_api_token();
    let id = super::new_id();
    diesel::insert_into(api_tokens::table)
        .values((
            api_tokens::id.eq(&id),
            api_tokens::person_id.eq(person_id),
            api_tokens::name.eq(name),
            api_tokens::token_hash.eq(crate::domain::tokens::hash(&secret)),
            api_tokens::created_at.eq(time::now()),
            api_tokens::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok((id, secret))
}

/// A token just made, with its secret: the only time the secret is shown.
#[derive(Debug, serde::Serialize)]
pub struct NewToken {
    /// The token's id (for listing and revoking).
    pub id: String,
    /// A name to recognise it by.
    pub name: String,
    /// The secret, to send as `Authorization: Bearer <token>`. It is not stored and cannot
    /// be shown again.
    pub token: String,
    /// When it was made.
    #[serde(with = "crate::domain::time::rfc3339")]
    pub created_at: NaiveDateTime,
    /// When it stops working, if ever.
    #[serde(with = "crate::domain::time::rfc3339::option")]
    pub expires_at: Option<NaiveDateTime>,
}

/// Issues a token for a person and records it in the audit log (`actor_id` `None`: the
/// command line).
pub fn issue(
    conn: &mut DbConn,
    actor_id: Option<&str>,
    person_id: &str,
    name: &str,
    expires_at: Option<NaiveDateTime>,
) -> AppResult<NewToken> {
    crate::db::write_tx(conn, |conn| {
        let (id, token) = create(conn, person_id, name, expires_at)?;
        let created_at: NaiveDateTime = api_tokens::table
            .find(&id)
            .select(api_tokens::created_at)
            .first(conn)?;
        super::audit::record(
            conn,
            actor_id,
            "token.create",
            "api_token",
            Some(&id),
            serde_json::json!({"person_id": person_id, "name": name, "expires_at": expires_at.map(time::to_utc)}),
        )?;
        Ok(NewToken {
            id,
            name: name.to_string(),
            token,
            created_at,
            expires_at,
        })
    })
}

/// A person's tokens that have not been revoked (expired ones included, so their owner sees
/// why they stopped working), newest first.
pub fn list(conn: &mut DbConn, person_id: &str, paging: Paging) -> AppResult<Page<TokenInfo>> {
    let filtered = || {
        api_tokens::table
            .filter(api_tokens::person_id.eq(person_id.to_string()))
            .filter(api_tokens::revoked_at.is_null())
            .into_boxed()
    };
    let total = filtered().count().get_result(conn)?;
    let items = filtered()
        .order((api_tokens::created_at.desc(), api_tokens::id.desc()))
        .limit(paging.limit)
        .offset(paging.offset)
        .select((
            api_tokens::id,
            api_tokens::name,
            api_tokens::created_at,
            api_tokens::expires_at,
            api_tokens::last_used_at,
        ))
        .load(conn)?;
    Ok(Page { items, total })
}

/// Revokes one of a person's tokens and records it; 404 when they have no such live token.
pub fn revoke(conn: &mut DbConn, person_id: &str, token_id: &str) -> AppResult<()> {
    crate::db::write_tx(conn, |conn| {
        let n = diesel::update(
            api_tokens::table
                .filter(api_tokens::id.eq(token_id))
                .filter(api_tokens::person_id.eq(person_id))
                .filter(api_tokens::revoked_at.is_null()),
        )
        .set(api_tokens::revoked_at.eq(time::now()))
        .execute(conn)?;
        if n == 0 {
            return Err(AppError::NotFound);
        }
        super::audit::record(
            conn,
            Some(person_id),
            "token.revoke",
            "api_token",
            Some(token_id),
            serde_json::json!({"person_id": person_id}),
        )?;
        Ok(())
    })
}
