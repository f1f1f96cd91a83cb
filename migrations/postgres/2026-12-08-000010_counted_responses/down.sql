DROP INDEX evaluation_responses_group_year_counted;
DROP INDEX evaluation_responses_school_year_counted;
DROP INDEX evaluation_responses_year_counted;
CREATE INDEX evaluation_responses_year_order
    ON evaluation_responses (course_year, kind, submitted_at, id COLLATE "C");
CREATE INDEX evaluation_responses_school_year_order
    ON evaluation_responses (school_id, course_year, kind, submitted_at, id COLLATE "C");
CREATE INDEX evaluation_responses_group_year_order
    ON evaluation_responses (staff_group_id, course_year, kind, submitted_at, id COLLATE "C");
DROP TRIGGER courses_responses_counted ON courses;
DROP FUNCTION course_responses_counted();
DROP TRIGGER bookings_responses_counted ON bookings;
DROP FUNCTION booking_responses_counted();
DROP TRIGGER evaluation_responses_counted ON evaluation_responses;
DROP FUNCTION response_counted();
ALTER TABLE evaluation_responses DROP COLUMN counted;
