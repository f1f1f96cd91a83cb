//! Who an API token or session cookie belongs to, kept in the process for a few seconds so
//! that a reader's requests do not each cost a database round trip to say who they are.
//!
//! Keyed by the credential's SHA-256 (what the database keys on too: the secret itself is
//! hashed as the request is read and never kept). An entry is used only until the earliest
//! of: its lifetime (`AUTH_CACHE_SECONDS`, default 5) after it was read from the database;
//! the moment the database itself would stop accepting the credential (a token's
//! `expires_at`; a session's absolute end or idle end); and the moment the database would
//! record the use again (`last_used_at`, `last_seen_at`), so a kept entry never lets a
//! session live longer, nor end sooner, than it did before there was a cache.
//!
//! This process forgets entries itself when it revokes a token, signs a session out, or
//! changes a person's roles or school or erases them ([`AuthCache::forget`],
//! [`AuthCache::forget_person`]). Another copy of the service, or the command line, cannot
//! reach this memory: such a change takes effect here within the lifetime.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{Duration, NaiveDateTime};

use crate::domain::caller::Caller;

/// Entries kept at most. Each is under half a kilobyte, so the cache stays within a few
/// megabytes however many credentials are in use.
pub const MAX_ENTRIES: usize = 10_000;

/// What the database answered for a credential, and until when the same answer holds unless
/// someone changes it (see the module's documentation).
#[derive(Clone, Debug)]
pub struct Verified {
    /// The signed-in person.
    pub caller: Caller,
    /// The earliest moment the database's answer would change by the passing of time alone:
    /// the credential's end, or its next recorded use.
    pub holds_until: NaiveDateTime,
}

struct Entry {
    caller: Caller,
    use_until: NaiveDateTime,
}

struct Inner {
    entries: HashMap<String, Entry>,
    /// Raised by every forgetting, so an answer read from the database before a revocation
    /// cannot be kept after it ([`AuthCache::epoch`]).
    epoch: u64,
}

/// Verified credentials by hash, each for a short while (see the module's documentation).
pub struct AuthCache {
    inner: Mutex<Inner>,
    lifetime: Duration,
    max_entries: usize,
}

impl AuthCache {
    /// An empty cache whose entries last at most `lifetime` (zero: nothing is kept) and that
    /// keeps at most `max_entries`.
    pub fn new(lifetime: Duration, max_entries: usize) -> Self {
        AuthCache {
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                epoch: 0,
            }),
            lifetime,
            max_entries,
        }
    }

    /// The caller kept for a credential hash, if it may still be used at `now`.
    pub fn get(&self, hash: &str, now: NaiveDateTime) -> Option<Caller> {
        let mut inner = self.inner.lock().ok()?;
        match inner.entries.get(hash) {
            Some(e) if now < e.use_until => Some(e.caller.clone()),
            Some(_) => {
                inner.entries.remove(hash);
                None
            }
            None => None,
        }
    }

    /// The count of forgettings so far. Read it before asking the database and pass it to
    /// [`put`](Self::put): an answer is not kept when something was forgotten in between,
    /// since it may be the very credential that was revoked.
    pub fn epoch(&self) -> u64 {
        self.inner.lock().map(|i| i.epoch).unwrap_or(u64::MAX)
    }

    /// Keeps what the database answered at `now` (asked when the epoch was `epoch`). When
    /// full, entries past their time go; if none has, the cache starts again.
    pub fn put(&self, hash: &str, verified: &Verified, now: NaiveDateTime, epoch: u64) {
        let use_until = verified.holds_until.min(now + self.lifetime);
        if use_until <= now || self.max_entries == 0 {
            return;
        }
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        if inner.epoch != epoch {
            return;
        }
        if inner.entries.len() >= self.max_entries && !inner.entries.contains_key(hash) {
            inner.entries.retain(|_, e| now < e.use_until);
            if inner.entries.len() >= self.max_entries {
                inner.entries.clear();
            }
        }
        inner.entries.insert(
            hash.to_string(),
            Entry {
                caller: verified.caller.clone(),
                use_until,
            },
        );
    }

    /// Forgets one credential (a session signed out).
    pub fn forget(&self, hash: &str) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.epoch += 1;
            inner.entries.remove(hash);
        }
    }

    /// Forgets every credential of a person: a token revoked (the store names tokens by id,
    /// not hash), their roles or school changed, or their erasure.
    pub fn forget_person(&self, person_id: &str) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.epoch += 1;
            inner.entries.retain(|_, e| e.caller.person_id != person_id);
        }
    }

    /// Entries held, expired ones included until they are next looked at or swept.
    pub fn len(&self) -> usize {
        self.inner.lock().map(|i| i.entries.len()).unwrap_or(0)
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::roles::Role;

    fn t(secs: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000, 0)
            .unwrap()
            .naive_utc()
            + Duration::seconds(secs)
    }

    fn verified(person: &str, holds_until: NaiveDateTime) -> Verified {
        Verified {
            caller: Caller {
                person_id: person.to_string(),
                school_id: None,
                roles: vec![Role::Staff],
            },
            holds_until,
        }
    }

    fn cache() -> AuthCache {
        AuthCache::new(Duration::seconds(5), 3)
    }

    #[test]
    fn an_entry_lasts_its_lifetime_and_no_longer() {
        let c = cache();
        c.put("h", &verified("p", t(3600)), t(0), c.epoch());
        assert_eq!(c.get("h", t(4)).unwrap().person_id, "p");
        assert!(c.get("h", t(5)).is_none());
        // Looked at after its time, it is dropped.
        assert_eq!(c.len(), 0);
    }

    #[test]
    fn an_entry_never_outlives_the_credential() {
        let c = cache();
        // The session ends 2 s after it was read: the entry ends with it, not 5 s later.
        c.put("h", &verified("p", t(2)), t(0), c.epoch());
        assert!(c.get("h", t(1)).is_some());
        assert!(c.get("h", t(2)).is_none());
        // Already at its end: not kept at all.
        c.put("g", &verified("p", t(0)), t(0), c.epoch());
        assert!(c.is_empty());
    }

    #[test]
    fn forgetting_takes_effect_at_once() {
        let c = cache();
        c.put("a", &verified("p", t(60)), t(0), c.epoch());
        c.put("b", &verified("p", t(60)), t(0), c.epoch());
        c.put("c", &verified("q", t(60)), t(0), c.epoch());
        c.forget("c");
        assert!(c.get("c", t(1)).is_none());
        assert!(c.get("a", t(1)).is_some());
        c.forget_person("p");
        assert!(c.get("a", t(1)).is_none());
        assert!(c.get("b", t(1)).is_none());
    }

    #[test]
    fn an_answer_read_before_a_forgetting_is_not_kept() {
        let c = cache();
        let epoch = c.epoch();
        // The token is revoked while its lookup is on its way back from the database.
        c.forget_person("p");
        c.put("a", &verified("p", t(60)), t(0), epoch);
        assert!(c.get("a", t(1)).is_none());
    }

    #[test]
    fn the_cache_keeps_to_its_cap() {
        let c = cache();
        c.put("a", &verified("p", t(1)), t(0), c.epoch());
        c.put("b", &verified("p", t(60)), t(0), c.epoch());
        c.put("c", &verified("p", t(60)), t(0), c.epoch());
        // Full: the expired entry goes to make room.
        c.put("d", &verified("p", t(60)), t(2), c.epoch());
        assert_eq!(c.len(), 3);
        assert!(c.get("b", t(3)).is_some());
        assert!(c.get("d", t(3)).is_some());
        // Full of live entries: it starts again rather than grow.
        c.put("e", &verified("p", t(60)), t(3), c.epoch());
        assert_eq!(c.len(), 1);
        assert!(c.get("e", t(4)).is_some());
    }

    #[test]
    fn a_zero_lifetime_keeps_nothing() {
        let c = AuthCache::new(Duration::zero(), 3);
        c.put("a", &verified("p", t(60)), t(0), c.epoch());
        assert!(c.is_empty());
    }
}
