-- The released evaluation figures of a report in whole steps of the threshold, from the kept
-- sums: a group's released responses are all of them less its latest `n mod threshold` of
-- each kind (its tail, at most threshold - 1). Two things make that cheap at national size.
--
-- 1. The cells count the responses of each kind (`n`), next to the sums they already keep.
--    They are counted here from what is there, as the refresher counts them: each facts row
--    (a course's bookings of one school, staff group and cluster, as last summed) from the
--    responses of its bookings not declined, then each course row and cell as the sum of its
--    facts, which is what they are. A course changed since it was summed is marked already;
--    the refresher moves the difference between its facts and its new sums into the cells, so
--    they stay the sums of their facts.
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

UPDATE report_facts f SET post_responses = x.post, follow_responses = x.follow
  FROM (SELECT b.course_id AS course_id, COALESCE(b.school_id, '') AS school_key,
               COALESCE(b.staff_group_id, '') AS staff_group_key,
               COALESCE(sc.cluster_id, '') AS cluster_key,
               SUM(CASE WHEN r.kind = 'post_course' THEN 1 ELSE 0 END) AS post,
               SUM(CASE WHEN r.kind = 'follow_up' THEN 1 ELSE 0 END) AS follow
          FROM evaluation_responses r
          JOIN bookings b ON b.id = r.booking_id
          LEFT JOIN schools sc ON sc.id = b.school_id
         WHERE b.status <> 'declined'
         GROUP BY b.course_id, COALESCE(b.school_id, ''), COALESCE(b.staff_group_id, ''),
                  COALESCE(sc.cluster_id, '')) x
 WHERE f.course_id = x.course_id AND f.school_key = x.school_key
   AND f.staff_group_key = x.staff_group_key AND f.cluster_key = x.cluster_key;

UPDATE report_courses rc SET post_responses = x.post, follow_responses = x.follow
  FROM (SELECT course_id, SUM(post_responses) AS post, SUM(follow_responses) AS follow
          FROM report_facts GROUP BY course_id) x
 WHERE rc.course_id = x.course_id;

UPDATE report_school_cells s SET post_responses = x.post, follow_responses = x.follow
  FROM (SELECT rc.month AS month, f.school_key AS school_key,
               SUM(f.post_responses) AS post, SUM(f.follow_responses) AS follow
          FROM report_facts f JOIN report_courses rc ON rc.course_id = f.course_id
         GROUP BY rc.month, f.school_key) x
 WHERE s.month = x.month AND s.school_key = x.school_key;

UPDATE report_school_years y SET post_responses = x.post, follow_responses = x.follow
  FROM (SELECT CASE WHEN rc.month % 100 >= 9 THEN rc.month / 100 ELSE rc.month / 100 - 1 END AS year,
               f.school_key AS school_key,
               SUM(f.post_responses) AS post, SUM(f.follow_responses) AS follow
          FROM report_facts f JOIN report_courses rc ON rc.course_id = f.course_id
         GROUP BY CASE WHEN rc.month % 100 >= 9 THEN rc.month / 100 ELSE rc.month / 100 - 1 END,
                  f.school_key) x
 WHERE y.year = x.year AND y.school_key = x.school_key;

UPDATE report_group_cells g SET post_responses = x.post, follow_responses = x.follow
  FROM (SELECT rc.month AS month, f.cluster_key AS cluster_key, f.staff_group_key AS staff_group_key,
               SUM(f.post_responses) AS post, SUM(f.follow_responses) AS follow
          FROM report_facts f JOIN report_courses rc ON rc.course_id = f.course_id
         GROUP BY rc.month, f.cluster_key, f.staff_group_key) x
 WHERE g.month = x.month AND g.cluster_key = x.cluster_key
   AND g.staff_group_key = x.staff_group_key;

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

-- A response's year changes no figure, so the trigger that marks its course is off for it.
ALTER TABLE evaluation_responses DISABLE TRIGGER report_evaluation_responses_update;
UPDATE evaluation_responses r SET course_year = academic_year_of(c.first_session_start)
  FROM courses c WHERE c.id = r.course_id;
ALTER TABLE evaluation_responses ENABLE TRIGGER report_evaluation_responses_update;

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
