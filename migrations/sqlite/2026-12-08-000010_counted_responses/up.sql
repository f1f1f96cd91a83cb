-- Whether the reports count a response: its course is published and its booking is not
-- declined, as the reports' window query decides by reading both. Kept on the response by
-- triggers, whoever writes the response, its booking or its course, so the latest counted
-- responses of a school, a staff group or everyone in an academic year (a group's tail) are
-- the first entries of a partial index, read without the response's course and booking.
ALTER TABLE evaluation_responses ADD COLUMN counted BOOLEAN NOT NULL DEFAULT 1;

-- Whether a response is counted changes no kept sum (those read the courses and bookings
-- themselves), so the trigger that marks its course is off for it (made again as it was).
DROP TRIGGER report_evaluation_responses_update;
UPDATE evaluation_responses SET counted = 0
 WHERE NOT EXISTS (SELECT 1 FROM courses c
                    WHERE c.id = evaluation_responses.course_id AND c.status = 'published')
    OR EXISTS (SELECT 1 FROM bookings b
                WHERE b.id = evaluation_responses.booking_id AND b.status = 'declined');
CREATE TRIGGER report_evaluation_responses_update AFTER UPDATE ON evaluation_responses BEGIN
    INSERT INTO report_dirty (course_id, version) VALUES (NEW.course_id, 1) ON CONFLICT (course_id) DO UPDATE SET version = report_dirty.version + 1;
END;

-- A new response's year and whether it is counted, in one update.
DROP TRIGGER evaluation_responses_course_year;
CREATE TRIGGER evaluation_responses_course_year AFTER INSERT ON evaluation_responses
BEGIN
    UPDATE evaluation_responses SET course_year = (
        SELECT CAST(strftime('%Y', c.first_session_start, '+1 hour') AS INTEGER) - CASE WHEN CAST(strftime('%m', c.first_session_start, '+1 hour') AS INTEGER) < 9 THEN 1 ELSE 0 END FROM courses c WHERE c.id = NEW.course_id),
           counted = EXISTS (SELECT 1 FROM courses c
                              WHERE c.id = NEW.course_id AND c.status = 'published')
                     AND NOT EXISTS (SELECT 1 FROM bookings b
                                      WHERE b.id = NEW.booking_id AND b.status = 'declined')
     WHERE id = NEW.id;
END;

-- A booking declined, or no longer declined. Its responses are of its course (found through
-- the course's index; bookings do not move between courses).
CREATE TRIGGER bookings_responses_counted AFTER UPDATE OF status ON bookings
WHEN (OLD.status = 'declined') IS NOT (NEW.status = 'declined')
BEGIN
    UPDATE evaluation_responses
       SET counted = NEW.status <> 'declined'
                     AND EXISTS (SELECT 1 FROM courses c
                                  WHERE c.id = evaluation_responses.course_id AND c.status = 'published')
     WHERE course_id = NEW.course_id AND booking_id = NEW.id;
END;

-- A course published again, or no longer published (cancelled).
CREATE TRIGGER courses_responses_counted AFTER UPDATE OF status ON courses
WHEN (OLD.status = 'published') IS NOT (NEW.status = 'published')
BEGIN
    UPDATE evaluation_responses
       SET counted = NEW.status = 'published'
                     AND NOT EXISTS (SELECT 1 FROM bookings b
                                      WHERE b.id = evaluation_responses.booking_id AND b.status = 'declined')
     WHERE course_id = NEW.id;
END;

-- The year indexes list counted responses only: a tail is then their first entries.
DROP INDEX evaluation_responses_year_order;
DROP INDEX evaluation_responses_school_year_order;
DROP INDEX evaluation_responses_group_year_order;
CREATE INDEX evaluation_responses_year_counted
    ON evaluation_responses (course_year, kind, submitted_at, id) WHERE counted;
CREATE INDEX evaluation_responses_school_year_counted
    ON evaluation_responses (school_id, course_year, kind, submitted_at, id) WHERE counted;
CREATE INDEX evaluation_responses_group_year_counted
    ON evaluation_responses (staff_group_id, course_year, kind, submitted_at, id) WHERE counted;
