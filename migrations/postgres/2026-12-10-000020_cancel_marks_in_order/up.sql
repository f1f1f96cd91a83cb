-- A course's responses stop (or start) being counted all at once when it is cancelled (or
-- published again), and each response's trigger marks its school's year for the kept tails.
-- Two courses cancelled at once whose responses share schools took those marks in the order
-- of their responses, so each could wait for a mark the other held, and PostgreSQL ended one
-- of them ("deadlock detected"). The course's schools are now marked first, in the order of
-- the marks' key (the order the refresher takes them in), so the responses' own marks find
-- them already held and no two writers take them in different orders. A school whose
-- responses turn out not to change is marked as well: the refresher works its rows out again,
-- to the same result.
CREATE OR REPLACE FUNCTION course_responses_counted() RETURNS trigger AS $$
BEGIN
    INSERT INTO report_school_tail_marks (course_year, school_key, version)
    SELECT DISTINCT r.course_year, COALESCE(r.school_id, ''), 1
      FROM evaluation_responses r
     WHERE r.course_id = NEW.id AND r.course_year IS NOT NULL
     ORDER BY 1, 2
    ON CONFLICT (course_year, school_key)
    DO UPDATE SET version = report_school_tail_marks.version + 1;
    UPDATE evaluation_responses r
       SET counted = NEW.status = 'published'
                     AND NOT EXISTS (SELECT 1 FROM bookings b
                                      WHERE b.id = r.booking_id AND b.status = 'declined')
     WHERE r.course_id = NEW.id;
    RETURN NULL;
END $$ LANGUAGE plpgsql;
