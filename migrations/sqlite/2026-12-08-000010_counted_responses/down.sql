DROP INDEX evaluation_responses_group_year_counted;
DROP INDEX evaluation_responses_school_year_counted;
DROP INDEX evaluation_responses_year_counted;
CREATE INDEX evaluation_responses_year_order
    ON evaluation_responses (course_year, kind, submitted_at, id);
CREATE INDEX evaluation_responses_school_year_order
    ON evaluation_responses (school_id, course_year, kind, submitted_at, id);
CREATE INDEX evaluation_responses_group_year_order
    ON evaluation_responses (staff_group_id, course_year, kind, submitted_at, id);
DROP TRIGGER courses_responses_counted;
DROP TRIGGER bookings_responses_counted;
DROP TRIGGER evaluation_responses_course_year;
CREATE TRIGGER evaluation_responses_course_year AFTER INSERT ON evaluation_responses
WHEN NEW.course_year IS NULL
BEGIN
    UPDATE evaluation_responses SET course_year = (
        SELECT CAST(strftime('%Y', c.first_session_start, '+1 hour') AS INTEGER) - CASE WHEN CAST(strftime('%m', c.first_session_start, '+1 hour') AS INTEGER) < 9 THEN 1 ELSE 0 END FROM courses c WHERE c.id = NEW.course_id)
     WHERE id = NEW.id;
END;
ALTER TABLE evaluation_responses DROP COLUMN counted;
