-- The released evaluation figures of a report in whole steps of the threshold, from the kept
-- sums: a group's released responses are all of them less its latest `n mod threshold` of
-- each kind (its tail, at most threshold - 1). Two things make that cheap at national size.
--
-- 1. The cells count the responses of each kind (`n`), next to the sums they already keep.
--    Every course is marked, so the refresher sums it again with the new counts (reports stay
--    exact meanwhile: they work marked courses out live).
ALTER TABLE report_courses ADD COLUMN post_responses BIGINT NOT NULL DEFAULT 0;
ALTER TABLE report_courses ADD COLUMN follow_responses BIGINT NOT NULL DEFAULT 0;
ALTER TABLE report_facts ADD COLUMN post_responses BIGINT NOT NULL DEFAULT 0;
ALTER TABLE report_facts ADD COLUMN follow_responses BIGINT NOT NULL DEFAULT 0;
ALTER TABLE report_school_cells ADD COLUMN post_responses BIGINT NOT NULL DEFAULT 0;
ALTER TABLE report_school_cells ADD COLUMN follow_responses BIGINT NOT NULL DEFAULT 0;
ALTER TABLE report_school_years ADD COLUMN post_responses BIGINT NOT NULL DEFAULT 0;
ALTER TABLE report_school_years ADD COLUMN follow_responses BIGINT NOT NULL DEFAULT 0;
ALTER TABLE report_group_cells ADD COLUMN post_responses BIGINT NOT NULL DEFAULT 0;
ALTER TABLE report_group_cells ADD COLUMN follow_responses BIGINT NOT NULL DEFAULT 0;
INSERT INTO report_dirty (course_id, version) SELECT id, 1 FROM courses ORDER BY 1
    ON CONFLICT (course_id) DO UPDATE SET version = report_dirty.version + 1;

-- 2. A tail is found through an index in the order the responses arrived. A response keeps
--    the academic year of its course's first session (1 September in London, which is always
--    23:00 UTC the day before, in summer time), kept by triggers whoever writes the response
--    or moves the course; an academic year's tail per school, staff group or for everyone is
--    then the first few entries of an index.
ALTER TABLE evaluation_responses ADD COLUMN course_year INTEGER;

CREATE FUNCTION academic_year_of(t TIMESTAMP) RETURNS INTEGER AS $$
    SELECT CAST(EXTRACT(YEAR FROM t + INTERVAL '1 hour') AS INTEGER)
           - CASE WHEN EXTRACT(MONTH FROM t + INTERVAL '1 hour') < 9 THEN 1 ELSE 0 END
$$ LANGUAGE sql IMMUTABLE;

UPDATE evaluation_responses r SET course_year = academic_year_of(c.first_session_start)
  FROM courses c WHERE c.id = r.course_id;

CREATE FUNCTION response_course_year() RETURNS trigger AS $$
BEGIN
    NEW.course_year := (SELECT academic_year_of(c.first_session_start) FROM courses c
                         WHERE c.id = NEW.course_id);
    RETURN NEW;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER evaluation_responses_course_year BEFORE INSERT ON evaluation_responses
    FOR EACH ROW EXECUTE FUNCTION response_course_year();

CREATE FUNCTION course_responses_year() RETURNS trigger AS $$
BEGIN
    UPDATE evaluation_responses SET course_year = academic_year_of(NEW.first_session_start)
     WHERE course_id = NEW.id;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER courses_responses_year AFTER UPDATE OF first_session_start ON courses
    FOR EACH ROW WHEN (OLD.first_session_start IS DISTINCT FROM NEW.first_session_start)
    EXECUTE FUNCTION course_responses_year();

CREATE INDEX evaluation_responses_year_order
    ON evaluation_responses (course_year, kind, submitted_at, id COLLATE "C");
CREATE INDEX evaluation_responses_school_year_order
    ON evaluation_responses (school_id, course_year, kind, submitted_at, id COLLATE "C");
CREATE INDEX evaluation_responses_group_year_order
    ON evaluation_responses (staff_group_id, course_year, kind, submitted_at, id COLLATE "C");
-- A course's tail in any window: the order after the course and kind it was indexed by. Ids
-- are ordered as bytes, as the reports order responses that arrived at the same moment (and
-- as SQLite compares them).
CREATE INDEX evaluation_responses_course_order
    ON evaluation_responses (course_id, kind, submitted_at, id COLLATE "C");
DROP INDEX evaluation_responses_course;
