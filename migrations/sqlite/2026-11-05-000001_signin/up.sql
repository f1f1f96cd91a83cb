-- Sign-in links and browser sessions. Both keep only the SHA-256 of their secret: a copy of
-- the database is no key to anyone's account.
CREATE TABLE magic_links (
    id           TEXT PRIMARY KEY NOT NULL,
    -- NULL when the address asked for is not a live person. Such requests are recorded too,
    -- so the rate limits treat known and unknown addresses alike (no account enumeration).
    person_id    TEXT REFERENCES people(id) ON DELETE CASCADE,
    -- SHA-256 of the normalised address asked for: the per-address rate limit counts by it.
    email_hash   TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NOT NULL,
    used_at      TIMESTAMP,
    -- The client address of the request, for the per-client rate limit. Rows are pruned a day
    -- after they are made.
    requested_ip TEXT NOT NULL
);
CREATE INDEX magic_links_email ON magic_links(email_hash, created_at);
CREATE INDEX magic_links_ip ON magic_links(requested_ip, created_at);
CREATE INDEX magic_links_person ON magic_links(person_id);
CREATE INDEX magic_links_created ON magic_links(created_at);

-- A signed-in browser: the cookie carries the secret, this row its hash and lifetimes.
CREATE TABLE web_sessions (
    id           TEXT PRIMARY KEY NOT NULL,
    person_id    TEXT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   TIMESTAMP NOT NULL,
    -- Refreshed at most every few minutes; the idle expiry counts from here.
    last_seen_at TIMESTAMP NOT NULL,
    -- The absolute end, however active the session is.
    expires_at   TIMESTAMP NOT NULL,
    revoked_at   TIMESTAMP
);
CREATE INDEX web_sessions_person ON web_sessions(person_id);
CREATE INDEX web_sessions_expires ON web_sessions(expires_at);

-- The audit log is read by action, actor and subject over a time range.
CREATE INDEX audit_log_action ON audit_log(action, at);
CREATE INDEX audit_log_actor ON audit_log(actor_id, at);
CREATE INDEX audit_log_subject ON audit_log(subject_id, at);
