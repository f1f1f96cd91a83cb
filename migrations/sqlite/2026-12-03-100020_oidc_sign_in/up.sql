-- Single sign-on (OpenID Connect) that has been started and not yet finished: the browser
-- went to the provider and has not come back. Kept here, not in the copy's memory, so the
-- callback may reach any copy of the service. Each row is used once (deleted when the browser
-- comes back) and lives minutes; the secrets are hashed or single-use.
CREATE TABLE oidc_flows (
    id            TEXT PRIMARY KEY NOT NULL,
    -- SHA-256 of the `state` sent to the provider (the browser holds the state in a cookie).
    state_hash    TEXT NOT NULL UNIQUE,
    provider      TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    -- The page to return to once signed in.
    next          TEXT,
    created_at    TIMESTAMP NOT NULL,
    expires_at    TIMESTAMP NOT NULL
);
CREATE INDEX oidc_flows_expires ON oidc_flows(expires_at);
