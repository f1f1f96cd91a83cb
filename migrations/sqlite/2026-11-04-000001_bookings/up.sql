-- Bookings: a person's place (or request, or wait) on a course, its append-only history, and
-- the idempotency keys that make booking requests safe to retry. Times are naive UTC.
CREATE TABLE bookings (
    id                TEXT PRIMARY KEY NOT NULL,
    course_id         TEXT NOT NULL REFERENCES courses(id),
    person_id         TEXT NOT NULL REFERENCES people(id),
    -- The person's school and staff group when they booked: a later move between schools
    -- does not rewrite who the place counted for.
    school_id         TEXT REFERENCES schools(id),
    staff_group_id    TEXT REFERENCES staff_groups(id),
    status            TEXT NOT NULL,
    -- Queue order: the waiting list is served by requested_at, then id.
    requested_at      TIMESTAMP NOT NULL,
    confirmed_at      TIMESTAMP,
    cancelled_at      TIMESTAMP,
    late_cancellation BOOLEAN NOT NULL DEFAULT 0,
    cancel_reason     TEXT,
    decline_reason    TEXT,
    admin_override    BOOLEAN NOT NULL DEFAULT 0,
    walk_in           BOOLEAN NOT NULL DEFAULT 0,
    -- The course's price per place when booked, for cost reports.
    price_pence       INTEGER NOT NULL DEFAULT 0,
    created_by        TEXT REFERENCES people(id),
    created_at        TIMESTAMP NOT NULL,
    updated_at        TIMESTAMP NOT NULL
);
-- Invariant 2: at most one active booking per person and course.
CREATE UNIQUE INDEX bookings_one_active ON bookings(course_id, person_id)
    WHERE status IN ('pending_approval','confirmed','waitlisted');
CREATE INDEX bookings_course_status ON bookings(course_id, status, requested_at, id);
CREATE INDEX bookings_school_status ON bookings(school_id, status, requested_at);
CREATE INDEX bookings_person ON bookings(person_id, requested_at);
CREATE INDEX bookings_status_requested ON bookings(status, requested_at);

-- Every status change of a booking (invariant 9). Append-only: the triggers refuse any
-- update or delete, whatever the code path.
CREATE TABLE booking_history (
    id          TEXT PRIMARY KEY NOT NULL,
    booking_id  TEXT NOT NULL REFERENCES bookings(id),
    at          TIMESTAMP NOT NULL,
    actor_id    TEXT,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    reason      TEXT,
    note        TEXT
);
CREATE INDEX booking_history_booking ON booking_history(booking_id, at, id);
CREATE TRIGGER booking_history_no_update BEFORE UPDATE ON booking_history
BEGIN
    SELECT RAISE(ABORT, 'booking_history is append-only');
END;
CREATE TRIGGER booking_history_no_delete BEFORE DELETE ON booking_history
BEGIN
    SELECT RAISE(ABORT, 'booking_history is append-only');
END;

-- Idempotency-Key records (invariants 4 and 10), per caller, kept at least 24 hours.
CREATE TABLE idempotency_keys (
    caller_id       TEXT NOT NULL,
    key             TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    -- 'in_progress' while the first request runs, then 'done' with the stored response.
    state           TEXT NOT NULL,
    response_status INTEGER,
    response_body   TEXT,
    -- When the current attempt began (a stale attempt may be taken over).
    created_at      TIMESTAMP NOT NULL,
    PRIMARY KEY (caller_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);
