-- Attendance: one row per confirmed booking per session (invariant 5), its append-only
-- history, and what registers and evaluation invitations need on sessions and courses.
-- Times are naive UTC.

-- The short code an attendee types to check themselves in (unique among sessions), and the
-- moment the session's register was first recorded.
ALTER TABLE course_sessions ADD COLUMN check_in_code TEXT;
ALTER TABLE course_sessions ADD COLUMN register_recorded_at TIMESTAMP;
CREATE UNIQUE INDEX course_sessions_check_in_code ON course_sessions(check_in_code);

-- When the register of the course's last session was first recorded: evaluation invitations
-- go from this moment.
ALTER TABLE courses ADD COLUMN last_register_recorded_at TIMESTAMP;

CREATE TABLE attendance (
    booking_id  TEXT NOT NULL REFERENCES bookings(id),
    session_id  TEXT NOT NULL REFERENCES course_sessions(id),
    -- The booking's course, kept here so reports read attendance by course without a join.
    course_id   TEXT NOT NULL REFERENCES courses(id),
    -- present | late | left_early | absent | apologies
    status      TEXT NOT NULL,
    note        TEXT,
    -- register | check_in | walk_in
    source      TEXT NOT NULL,
    recorded_by TEXT,
    recorded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (booking_id, session_id)
);
CREATE INDEX attendance_session ON attendance(session_id, booking_id);
CREATE INDEX attendance_course ON attendance(course_id, booking_id, status);

-- Every change to a register: who, when, from and to. Never updated or deleted.
CREATE TABLE attendance_history (
    id          TEXT PRIMARY KEY NOT NULL,
    booking_id  TEXT NOT NULL REFERENCES bookings(id),
    session_id  TEXT NOT NULL REFERENCES course_sessions(id),
    at          TIMESTAMP NOT NULL,
    actor_id    TEXT,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    note        TEXT,
    source      TEXT NOT NULL,
    -- True when an admin changed a locked register.
    admin_override BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX attendance_history_session ON attendance_history(session_id, at, id);
CREATE INDEX attendance_history_booking ON attendance_history(booking_id, at, id);
CREATE FUNCTION attendance_history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'attendance_history is append-only';
END;
$$;
CREATE TRIGGER attendance_history_no_change BEFORE UPDATE OR DELETE ON attendance_history
    FOR EACH ROW EXECUTE FUNCTION attendance_history_append_only();
