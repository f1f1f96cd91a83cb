-- Whether the reports count a response: its course is published and its booking is not
-- declined, as the reports' window query decides by reading both. Kept on the response by
-- triggers, whoever writes the response, its booking or its course, so the latest counted
-- responses of a school, a staff group or everyone in an academic year (a group's tail) are
-- the first entries of a partial index, read without the response's course and booking.
ALTER TABLE evaluation_responses ADD COLUMN counted BOOLEAN NOT NULL DEFAULT TRUE;

-- Whether a response is counted changes no kept sum (those read the courses and bookings
-- themselves), so the trigger that marks its course is off for it.
ALTER TABLE evaluation_responses DISABLE TRIGGER report_evaluation_responses_update;
UPDATE evaluation_responses r SET counted = FALSE
 WHERE NOT EXISTS (SELECT 1 FROM courses c WHERE c.id = r.course_id AND c.status = 'published')
    OR EXISTS (SELECT 1 FROM bookings b WHERE b.id = r.booking_id AND b.status = 'declined');
ALTER TABLE evaluation_responses ENABLE TRIGGER report_evaluation_responses_update;

CREATE FUNCTION response_counted() RETURNS trigger AS $$
BEGIN
    NEW.counted := EXISTS (SELECT 1 FROM courses c
                            WHERE c.id = NEW.course_id AND c.status = 'published')
        AND NOT EXISTS (SELECT 1 FROM bookings b
                         WHERE b.id = NEW.booking_id AND b.status = 'declined');
    RETURN NEW;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER evaluation_responses_counted BEFORE INSERT ON evaluation_responses
    FOR EACH ROW EXECUTE FUNCTION response_counted();

-- A booking declined, or no longer declined. Its responses are of its course (found through
-- the course's index; bookings do not move between courses).
CREATE FUNCTION booking_responses_counted() RETURNS trigger AS $$
BEGIN
    UPDATE evaluation_responses r
       SET counted = NEW.status <> 'declined'
                     AND EXISTS (SELECT 1 FROM courses c
                                  WHERE c.id = r.course_id AND c.status = 'published')
     WHERE r.course_id = NEW.course_id AND r.booking_id = NEW.id;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER bookings_responses_counted AFTER UPDATE OF status ON bookings
    FOR EACH ROW WHEN ((OLD.status = 'declined') IS DISTINCT FROM (NEW.status = 'declined'))
    EXECUTE FUNCTION booking_responses_counted();

-- A course published again, or no longer published (cancelled).
CREATE FUNCTION course_responses_counted() RETURNS trigger AS $$
BEGIN
    UPDATE evaluation_responses r
       SET counted = NEW.status = 'published'
                     AND NOT EXISTS (SELECT 1 FROM bookings b
                                      WHERE b.id = r.booking_id AND b.status = 'declined')
     WHERE r.course_id = NEW.id;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER courses_responses_counted AFTER UPDATE OF status ON courses
    FOR EACH ROW WHEN ((OLD.status = 'published') IS DISTINCT FROM (NEW.status = 'published'))
    EXECUTE FUNCTION course_responses_counted();

-- The year indexes list counted responses only: a tail is then their first entries. The
-- schools' index also carries what each response adds to the figures, so the tails of tens
-- of thousands of schools are read from the index alone (the staff groups and the year are a
-- handful of lookups).
DROP INDEX evaluation_responses_year_order;
DROP INDEX evaluation_responses_school_year_order;
DROP INDEX evaluation_responses_group_year_order;
CREATE INDEX evaluation_responses_year_counted
    ON evaluation_responses (course_year, kind, submitted_at, id COLLATE "C") WHERE counted;
CREATE INDEX evaluation_responses_school_year_counted
    ON evaluation_responses (school_id, course_year, kind, submitted_at, id COLLATE "C")
    INCLUDE (satisfaction, impact, confidence_shift, confidence_pairs, guskey1_answers,
             guskey2_answers, guskey3_answers, guskey4_answers, guskey5_answers)
    WHERE counted;
CREATE INDEX evaluation_responses_group_year_counted
    ON evaluation_responses (staff_group_id, course_year, kind, submitted_at, id COLLATE "C")
    WHERE counted;
