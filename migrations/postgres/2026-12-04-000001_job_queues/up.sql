-- Due-queues for the background jobs, so each run reads what has changed or come due since
-- the last one instead of every register, invitation and booking there is. Every row is
-- written by a trigger in the transaction of the change that makes something due, so a change
-- that committed is never missed (even across a crash), and the job removes a row in the
-- transaction that does its work. (The same as the SQLite migration; the triggers on bulk
-- tables run once per statement over its changed rows, in key order, as the report triggers
-- do.)

-- Courses the evaluation job has to look at once `due_at` (the end of their last session)
-- has passed: attendance marked on a course whose last register is recorded, the last
-- register itself, a consenting post-course answer, or a form chosen for the course.
-- `version` goes up with every new reason, so the job removes a row only if nothing came
-- after it looked.
CREATE TABLE evaluation_due (
    course_id TEXT PRIMARY KEY NOT NULL,
    due_at    TIMESTAMP NOT NULL,
    version   BIGINT NOT NULL
);
CREATE INDEX evaluation_due_at ON evaluation_due(due_at);

CREATE FUNCTION jobs_attendance_due() RETURNS trigger AS $$
BEGIN
    INSERT INTO evaluation_due (course_id, due_at, version)
        SELECT c.id, c.last_session_end, 1 FROM courses c
         WHERE c.id IN (SELECT course_id FROM changed_rows
                         WHERE status IN ('present', 'late', 'left_early'))
           AND c.last_register_recorded_at IS NOT NULL AND c.last_session_end IS NOT NULL
         ORDER BY c.id
        ON CONFLICT (course_id) DO UPDATE SET due_at = excluded.due_at, version = evaluation_due.version + 1;
    RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER jobs_attendance_insert AFTER INSERT ON attendance
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION jobs_attendance_due();
CREATE TRIGGER jobs_attendance_update AFTER UPDATE ON attendance
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION jobs_attendance_due();

CREATE FUNCTION jobs_course_due() RETURNS trigger AS $$
BEGIN
    INSERT INTO evaluation_due (course_id, due_at, version) VALUES (NEW.id, NEW.last_session_end, 1)
        ON CONFLICT (course_id) DO UPDATE SET due_at = excluded.due_at, version = evaluation_due.version + 1;
    RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER jobs_courses_register AFTER UPDATE OF last_register_recorded_at, last_session_end, status ON courses
    FOR EACH ROW
    WHEN (NEW.last_register_recorded_at IS NOT NULL AND NEW.last_session_end IS NOT NULL
          AND (OLD.last_register_recorded_at IS NULL
               OR OLD.last_session_end IS DISTINCT FROM NEW.last_session_end
               OR OLD.status IS DISTINCT FROM NEW.status))
    EXECUTE FUNCTION jobs_course_due();

CREATE FUNCTION jobs_course_of_row_due() RETURNS trigger AS $$
BEGIN
    INSERT INTO evaluation_due (course_id, due_at, version)
        SELECT c.id, c.last_session_end, 1 FROM courses c
         WHERE c.id = NEW.course_id AND c.last_session_end IS NOT NULL
        ON CONFLICT (course_id) DO UPDATE SET due_at = excluded.due_at, version = evaluation_due.version + 1;
    RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER jobs_evaluation_responses_consent AFTER INSERT ON evaluation_responses
    FOR EACH ROW WHEN (NEW.kind = 'post_course' AND NEW.consent_follow_up)
    EXECUTE FUNCTION jobs_course_of_row_due();
CREATE TRIGGER jobs_course_evaluation_forms_insert AFTER INSERT OR UPDATE ON course_evaluation_forms
    FOR EACH ROW EXECUTE FUNCTION jobs_course_of_row_due();

-- What is already due on an existing database: the courses the evaluation job's old safety
-- net would have found (attendees not invited, consenting answers without a follow-up).
INSERT INTO evaluation_due (course_id, due_at, version)
SELECT c.id, c.last_session_end, 1 FROM courses c
 WHERE c.last_session_end IS NOT NULL AND c.status <> 'cancelled'
   AND ((c.last_register_recorded_at IS NOT NULL AND EXISTS (
            SELECT 1 FROM attendance a
              JOIN bookings b ON b.id = a.booking_id
              JOIN people p ON p.id = b.person_id
             WHERE a.course_id = c.id AND a.status IN ('present', 'late', 'left_early')
               AND p.erased_at IS NULL
               AND NOT EXISTS (SELECT 1 FROM evaluation_invitations i
                                WHERE i.booking_id = a.booking_id AND i.kind = 'post_course')))
     OR EXISTS (
            SELECT 1 FROM evaluation_responses r
             WHERE r.course_id = c.id AND r.kind = 'post_course' AND r.consent_follow_up
               AND NOT EXISTS (SELECT 1 FROM evaluation_invitations i
                                WHERE i.booking_id = r.booking_id AND i.kind = 'follow_up')));

-- When an invitation's next reminder is due (NULL: none to come). Set when the invitation is
-- sent and after each reminder; the job reads the rows that have come due through the index.
ALTER TABLE evaluation_invitations ADD COLUMN next_reminder_at TIMESTAMP;
CREATE INDEX evaluation_invitations_remind ON evaluation_invitations(next_reminder_at)
    WHERE next_reminder_at IS NOT NULL;
-- Invitations still open on an existing database: the job looks at each once and works out
-- its next reminder from the settings.
UPDATE evaluation_invitations SET next_reminder_at = sent_at
 WHERE sent_at IS NOT NULL AND answered_at IS NULL
   AND EXISTS (SELECT 1 FROM evaluation_tokens t
                WHERE t.invitation_id = evaluation_invitations.id
                  AND t.expires_at > (now() AT TIME ZONE 'UTC'));

-- Confirmed bookings that may be due a course reminder, with their course's first session
-- start: the scheduler reads those whose reminder window has opened and removes each row once
-- it has queued the reminder or found none is due.
CREATE TABLE course_reminder_due (
    booking_id TEXT PRIMARY KEY NOT NULL,
    starts_at  TIMESTAMP NOT NULL
);
CREATE INDEX course_reminder_due_starts ON course_reminder_due(starts_at);

CREATE FUNCTION jobs_bookings_confirmed() RETURNS trigger AS $$
BEGIN
    INSERT INTO course_reminder_due (booking_id, starts_at)
        SELECT n.id, c.first_session_start FROM changed_rows n JOIN courses c ON c.id = n.course_id
         WHERE n.status = 'confirmed' AND c.first_session_start IS NOT NULL
         ORDER BY n.id
        ON CONFLICT (booking_id) DO UPDATE SET starts_at = excluded.starts_at;
    RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER jobs_bookings_confirmed_insert AFTER INSERT ON bookings
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION jobs_bookings_confirmed();

CREATE FUNCTION jobs_booking_confirmed() RETURNS trigger AS $$
BEGIN
    INSERT INTO course_reminder_due (booking_id, starts_at)
        SELECT NEW.id, c.first_session_start FROM courses c
         WHERE c.id = NEW.course_id AND c.first_session_start IS NOT NULL
        ON CONFLICT (booking_id) DO UPDATE SET starts_at = excluded.starts_at;
    RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER jobs_bookings_confirmed_update AFTER UPDATE OF status ON bookings
    FOR EACH ROW WHEN (NEW.status = 'confirmed' AND OLD.status IS DISTINCT FROM 'confirmed')
    EXECUTE FUNCTION jobs_booking_confirmed();

CREATE FUNCTION jobs_course_start() RETURNS trigger AS $$
BEGIN
    INSERT INTO course_reminder_due (booking_id, starts_at)
        SELECT b.id, NEW.first_session_start FROM bookings b
         WHERE b.course_id = NEW.id AND b.status = 'confirmed'
         ORDER BY b.id
        ON CONFLICT (booking_id) DO UPDATE SET starts_at = excluded.starts_at;
    RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER jobs_courses_start AFTER UPDATE OF first_session_start, status ON courses
    FOR EACH ROW
    WHEN (NEW.first_session_start IS NOT NULL
          AND (OLD.first_session_start IS DISTINCT FROM NEW.first_session_start
               OR OLD.status IS DISTINCT FROM NEW.status))
    EXECUTE FUNCTION jobs_course_start();

-- Bookings of courses still to start that have had no reminder.
INSERT INTO course_reminder_due (booking_id, starts_at)
SELECT b.id, c.first_session_start FROM bookings b JOIN courses c ON c.id = b.course_id
 WHERE b.status = 'confirmed' AND c.first_session_start > (now() AT TIME ZONE 'UTC')
   AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.kind = 'course_reminder' AND o.subject_id = b.id);
