-- Each school's tail kept ahead of time: per academic year and kind, the school's latest
-- counted responses (at most 4, a tail's longest at the smallest threshold, 5), with what each
-- adds to the figures, and how many counted responses the school has. A by-school or
-- by-cluster report over one academic year then reads these rows instead of looking up tens
-- of thousands of schools' tails in the responses' index.
--
-- Whenever a counted response is written or changed, or stops or starts being counted, or its
-- course moves to another year, a trigger marks its school and year in
-- `report_school_tail_marks` (in the same transaction); the report refresher works the
-- school's rows out again and takes the mark off, only if no change came since it read it.
-- Reports read a marked school's tail from the index, as before.
CREATE TABLE report_school_tails (
    course_year INTEGER NOT NULL,
    school_key  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    -- The school's counted responses of the year and kind.
    responses   BIGINT NOT NULL,
    -- The latest of them, newest first, separated by ';', each
    -- 'submitted_at in microseconds,id,satisfaction,impact,shift,pairs,g1,g2,g3,g4,g5'
    -- (satisfaction and impact empty when not answered): one row per school, year and kind,
    -- so a year's tails are a few tens of thousands of short rows.
    entries     TEXT NOT NULL,
    PRIMARY KEY (course_year, school_key, kind)
);

-- The same per staff group of each school, for reports of schools or clusters by staff
-- group over one academic year.
CREATE TABLE report_school_group_tails (
    course_year     INTEGER NOT NULL,
    school_key      TEXT NOT NULL,
    staff_group_key TEXT NOT NULL,
    kind            TEXT NOT NULL,
    responses       BIGINT NOT NULL,
    entries         TEXT NOT NULL,
    PRIMARY KEY (course_year, school_key, staff_group_key, kind)
);

CREATE TABLE report_school_tail_marks (
    course_year INTEGER NOT NULL,
    school_key  TEXT NOT NULL,
    version     BIGINT NOT NULL,
    PRIMARY KEY (course_year, school_key)
);

-- Every school's year with counted responses is marked, so the refresher works its rows
-- out (a few thousand a minute); until then reports look those schools' tails up in the
-- responses' index, as before.
INSERT INTO report_school_tail_marks (course_year, school_key, version)
SELECT DISTINCT course_year, COALESCE(school_id, ''), 1
  FROM evaluation_responses WHERE counted AND course_year IS NOT NULL;

-- Marks a school's year, after the response's course is marked (the report cells' triggers
-- are named to fire first), so every writer takes the two kinds of mark in the same order.
CREATE FUNCTION mark_school_tail(y INTEGER, school TEXT) RETURNS void AS $$
    INSERT INTO report_school_tail_marks (course_year, school_key, version)
    VALUES (y, COALESCE(school, ''), 1)
    ON CONFLICT (course_year, school_key)
    DO UPDATE SET version = report_school_tail_marks.version + 1
$$ LANGUAGE sql;

CREATE FUNCTION response_marks_school_tail() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.counted AND OLD.course_year IS NOT NULL
       AND (OLD.course_year IS DISTINCT FROM NEW.course_year
            OR OLD.school_id IS DISTINCT FROM NEW.school_id OR NOT NEW.counted) THEN
        PERFORM mark_school_tail(OLD.course_year, OLD.school_id);
    END IF;
    IF NEW.counted AND NEW.course_year IS NOT NULL THEN
        PERFORM mark_school_tail(NEW.course_year, NEW.school_id);
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER report_tails_evaluation_responses_insert AFTER INSERT ON evaluation_responses
    FOR EACH ROW WHEN (NEW.counted AND NEW.course_year IS NOT NULL)
    EXECUTE FUNCTION response_marks_school_tail();
CREATE TRIGGER report_tails_evaluation_responses_update AFTER UPDATE ON evaluation_responses
    FOR EACH ROW WHEN ((OLD.counted OR NEW.counted) AND OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION response_marks_school_tail();
