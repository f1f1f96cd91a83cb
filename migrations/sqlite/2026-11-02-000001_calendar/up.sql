-- The CPD calendar: courses, their sessions, who leads them, what they are for, and the
-- personal calendar feed tokens. Times are naive UTC.
CREATE TABLE courses (
    id                      TEXT PRIMARY KEY NOT NULL,
    title                   TEXT NOT NULL,
    -- Markdown as written, and its sanitised HTML (rendered on write, so lists never render).
    summary                 TEXT NOT NULL DEFAULT '',
    summary_html            TEXT NOT NULL DEFAULT '',
    -- Title and summary lower-cased by the application, so `q` matches the same words on both
    -- backends (SQLite's lower() folds ASCII only).
    search_text             TEXT NOT NULL DEFAULT '',
    provider_id             TEXT NOT NULL REFERENCES providers(id),
    -- The cluster a course is run for, if it is not alliance-wide.
    cluster_id              TEXT REFERENCES clusters(id),
    format                  TEXT NOT NULL,
    capacity                INTEGER NOT NULL,
    per_school_cap          INTEGER,
    -- When the per-school cap lifts (NULL: it holds until it is removed by hand).
    per_school_cap_until    TIMESTAMP,
    price_pence             INTEGER NOT NULL DEFAULT 0,
    booking_opens           TIMESTAMP,
    booking_closes          TIMESTAMP,
    cancellation_deadline   TIMESTAMP,
    requires_approval       BOOLEAN NOT NULL DEFAULT 0,
    completion_min_sessions INTEGER,
    status                  TEXT NOT NULL DEFAULT 'draft',
    cancel_reason           TEXT,
    -- Rises with every change that calendars show (iCalendar SEQUENCE).
    revision                INTEGER NOT NULL DEFAULT 0,
    -- Rises with every write; bookings take the row's write lock by bumping it.
    version                 INTEGER NOT NULL DEFAULT 0,
    -- Counters kept by the bookings code in the transaction that holds the row lock, so the
    -- calendar list shows places left and waiting-list length without counting bookings.
    confirmed_count         INTEGER NOT NULL DEFAULT 0,
    waitlist_count          INTEGER NOT NULL DEFAULT 0,
    -- Kept in step with course_sessions by the store, for ordering and filtering the list.
    sessions_count          INTEGER NOT NULL DEFAULT 0,
    first_session_start     TIMESTAMP,
    last_session_end        TIMESTAMP,
    created_at              TIMESTAMP NOT NULL,
    updated_at              TIMESTAMP NOT NULL,
    published_at            TIMESTAMP,
    cancelled_at            TIMESTAMP
);
CREATE INDEX courses_status_start ON courses(status, first_session_start, id);
CREATE INDEX courses_start ON courses(first_session_start, id);
CREATE INDEX courses_cluster ON courses(cluster_id, first_session_start);
CREATE INDEX courses_provider ON courses(provider_id);

CREATE TABLE course_sessions (
    id             TEXT PRIMARY KEY NOT NULL,
    course_id      TEXT NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
    start_at       TIMESTAMP NOT NULL,
    end_at         TIMESTAMP NOT NULL,
    -- NULL venue_name: no venue (an online session).
    venue_name     TEXT,
    venue_address  TEXT,
    venue_postcode TEXT,
    online_url     TEXT,
    note           TEXT,
    -- 1-based order by start time, renumbered when sessions change.
    position       INTEGER NOT NULL,
    created_at     TIMESTAMP NOT NULL,
    updated_at     TIMESTAMP NOT NULL
);
CREATE INDEX course_sessions_course ON course_sessions(course_id, start_at);
CREATE INDEX course_sessions_start ON course_sessions(start_at);

CREATE TABLE course_leads (
    course_id TEXT NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
    person_id TEXT NOT NULL REFERENCES people(id),
    PRIMARY KEY (course_id, person_id)
);
CREATE INDEX course_leads_person ON course_leads(person_id, course_id);

CREATE TABLE course_priorities (
    course_id   TEXT NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
    priority_id TEXT NOT NULL REFERENCES priorities(id),
    PRIMARY KEY (course_id, priority_id)
);
CREATE INDEX course_priorities_priority ON course_priorities(priority_id, course_id);

CREATE TABLE course_staff_groups (
    course_id      TEXT NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
    staff_group_id TEXT NOT NULL REFERENCES staff_groups(id),
    PRIMARY KEY (course_id, staff_group_id)
);
CREATE INDEX course_staff_groups_group ON course_staff_groups(staff_group_id, course_id);

CREATE TABLE course_phases (
    course_id TEXT NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
    phase     TEXT NOT NULL,
    PRIMARY KEY (course_id, phase)
);
CREATE INDEX course_phases_phase ON course_phases(phase, course_id);

-- Personal calendar feeds: one live token per person; the URL carries the token, the
-- database keeps only its SHA-256.
CREATE TABLE calendar_feeds (
    id         TEXT PRIMARY KEY NOT NULL,
    person_id  TEXT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
CREATE INDEX calendar_feeds_person ON calendar_feeds(person_id);

-- A number that rises whenever anything the calendar list shows changes, so a copy of the
-- service can keep list responses and know, with one read, whether they still hold. The
-- triggers keep it, so writers (bookings' place counters too) cannot forget to.
CREATE TABLE calendar_generation (
    id INTEGER PRIMARY KEY NOT NULL,
    n  BIGINT NOT NULL
);
INSERT INTO calendar_generation (id, n) VALUES (1, 0);

CREATE TRIGGER courses_generation_insert AFTER INSERT ON courses
BEGIN UPDATE calendar_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER courses_generation_delete AFTER DELETE ON courses
BEGIN UPDATE calendar_generation SET n = n + 1 WHERE id = 1; END;
-- Not on `version` alone: taking the row lock changes nothing that is shown.
CREATE TRIGGER courses_generation_update AFTER UPDATE OF
    title, status, format, provider_id, cluster_id, capacity, per_school_cap, price_pence,
    requires_approval, booking_opens, booking_closes, confirmed_count, waitlist_count,
    sessions_count, first_session_start, last_session_end, revision, search_text
    ON courses
BEGIN UPDATE calendar_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER course_priorities_generation_insert AFTER INSERT ON course_priorities
BEGIN UPDATE calendar_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER course_priorities_generation_delete AFTER DELETE ON course_priorities
BEGIN UPDATE calendar_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER course_staff_groups_generation_insert AFTER INSERT ON course_staff_groups
BEGIN UPDATE calendar_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER course_staff_groups_generation_delete AFTER DELETE ON course_staff_groups
BEGIN UPDATE calendar_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER course_phases_generation_insert AFTER INSERT ON course_phases
BEGIN UPDATE calendar_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER course_phases_generation_delete AFTER DELETE ON course_phases
BEGIN UPDATE calendar_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER providers_generation_update AFTER UPDATE ON providers
BEGIN UPDATE calendar_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER priorities_generation_update AFTER UPDATE ON priorities
BEGIN UPDATE calendar_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER staff_groups_generation_update AFTER UPDATE ON staff_groups
BEGIN UPDATE calendar_generation SET n = n + 1 WHERE id = 1; END;
