-- A course's responses stop (or start) being counted all at once when it is cancelled (or
-- published again), and move to another academic year all at once when its first session
-- does; each response's trigger marks its school's year for the kept tails. Two courses
-- changed at once whose responses share schools took those marks in the order of their
-- responses, so each could wait for a mark the other held, and PostgreSQL ended one of them
-- ("deadlock detected"). The course's schools are now marked first, in the order of the
-- marks' key (the order the refresher takes them in), so the responses' own marks find them
-- already held and no two writers take them in different orders. A school whose responses
-- turn out not to change is marked as well: the refresher works its rows out again, to the
-- same result.
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

CREATE OR REPLACE FUNCTION course_responses_year() RETURNS trigger AS $$
BEGIN
    -- The years the counted responses leave and the year they join, only when they move.
    INSERT INTO report_school_tail_marks (course_year, school_key, version)
    SELECT DISTINCT v.y, COALESCE(r.school_id, ''), 1
      FROM evaluation_responses r
     CROSS JOIN LATERAL (VALUES (r.course_year),
                                (academic_year_of(NEW.first_session_start))) v(y)
     WHERE r.course_id = NEW.id AND r.counted AND v.y IS NOT NULL
       AND r.course_year IS DISTINCT FROM academic_year_of(NEW.first_session_start)
     ORDER BY 1, 2
    ON CONFLICT (course_year, school_key)
    DO UPDATE SET version = report_school_tail_marks.version + 1;
    UPDATE evaluation_responses SET course_year = academic_year_of(NEW.first_session_start)
     WHERE course_id = NEW.id;
    RETURN NULL;
END $$ LANGUAGE plpgsql;
