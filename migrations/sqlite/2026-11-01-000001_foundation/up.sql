-- Reference data, people and API tokens. Ids are application-made UUIDv7 strings; times are UTC.
CREATE TABLE clusters (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);

CREATE TABLE schools (
    id              TEXT PRIMARY KEY NOT NULL,
    urn             BIGINT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    phase           TEXT NOT NULL,
    school_type     TEXT NOT NULL DEFAULT '',
    cluster_id      TEXT REFERENCES clusters(id),
    local_authority TEXT NOT NULL DEFAULT '',
    postcode        TEXT NOT NULL DEFAULT '',
    is_open         BOOLEAN NOT NULL DEFAULT 1,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL
);
CREATE INDEX schools_cluster ON schools(cluster_id);
CREATE INDEX schools_name ON schools(name);

CREATE TABLE staff_groups (
    id         TEXT PRIMARY KEY NOT NULL,
    key        TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL UNIQUE,
    position   INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE priorities (
    id          TEXT PRIMARY KEY NOT NULL,
    key         TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    position    INTEGER NOT NULL DEFAULT 0,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);

CREATE TABLE providers (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL UNIQUE,
    kind       TEXT NOT NULL,
    email      TEXT,
    website    TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE people (
    id             TEXT PRIMARY KEY NOT NULL,
    name           TEXT NOT NULL,
    -- Stored trimmed and lower-cased, so uniqueness is case-insensitive on both backends.
    email          TEXT NOT NULL UNIQUE,
    school_id      TEXT REFERENCES schools(id),
    staff_group_id TEXT REFERENCES staff_groups(id),
    erased_at      TIMESTAMP,
    created_at     TIMESTAMP NOT NULL,
    updated_at     TIMESTAMP NOT NULL
);
CREATE INDEX people_school ON people(school_id);
CREATE INDEX people_name ON people(name);

CREATE TABLE person_roles (
    person_id TEXT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    role      TEXT NOT NULL,
    PRIMARY KEY (person_id, role)
);
CREATE INDEX person_roles_role ON person_roles(role);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY NOT NULL,
    person_id    TEXT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    -- SHA-256 of the token; the token itself is shown once and never stored.
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP,
    last_used_at TIMESTAMP,
    revoked_at   TIMESTAMP
);
CREATE INDEX api_tokens_person ON api_tokens(person_id);

-- Append-only record of sensitive actions (role changes, imports, erasures, overrides).
CREATE TABLE audit_log (
    id           TEXT PRIMARY KEY NOT NULL,
    at           TIMESTAMP NOT NULL,
    actor_id     TEXT,
    action       TEXT NOT NULL,
    subject_type TEXT NOT NULL,
    subject_id   TEXT,
    detail       TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log(at);

-- Transactional outbox: a state change that must notify someone inserts here in the same
-- transaction; the delivery worker sends, retries and records the outcome.
CREATE TABLE outbox (
    id                  TEXT PRIMARY KEY NOT NULL,
    kind                TEXT NOT NULL,
    recipient_email     TEXT NOT NULL,
    recipient_person_id TEXT,
    subject_id          TEXT,
    payload             TEXT NOT NULL DEFAULT '{}',
    status              TEXT NOT NULL DEFAULT 'pending',
    attempts            INTEGER NOT NULL DEFAULT 0,
    next_attempt_at     TIMESTAMP NOT NULL,
    claimed_until       TIMESTAMP,
    last_error          TEXT,
    message_id          TEXT NOT NULL,
    created_at          TIMESTAMP NOT NULL,
    sent_at             TIMESTAMP
);
CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
CREATE INDEX outbox_subject ON outbox(subject_id);
