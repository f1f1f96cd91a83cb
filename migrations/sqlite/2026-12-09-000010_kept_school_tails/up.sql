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
) WITHOUT ROWID;

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
) WITHOUT ROWID;

CREATE TABLE report_school_tail_marks (
    course_year INTEGER NOT NULL,
    school_key  TEXT NOT NULL,
    version     BIGINT NOT NULL,
    PRIMARY KEY (course_year, school_key)
) WITHOUT ROWID;

-- Every school's year with counted responses is marked, so the refresher works its rows
-- out (a few thousand a minute); until then reports look those schools' tails up in the
-- responses' index, as before.
INSERT INTO report_school_tail_marks (course_year, school_key, version)
SELECT DISTINCT course_year, COALESCE(school_id, ''), 1
  FROM evaluation_responses WHERE counted AND course_year IS NOT NULL;

-- A response's school and year marked whenever it is written counted or changed while
-- counted (its year is set by an update just after it is written); and the year it leaves,
-- when it moves to another or stops being counted.
CREATE TRIGGER report_tails_evaluation_responses_insert AFTER INSERT ON evaluation_responses
WHEN NEW.counted AND NEW.course_year IS NOT NULL
BEGIN
    INSERT INTO report_school_tail_marks (course_year, school_key, version)
    VALUES (NEW.course_year, COALESCE(NEW.school_id, ''), 1)
    ON CONFLICT (course_year, school_key) DO UPDATE SET version = report_school_tail_marks.version + 1;
END;
CREATE TRIGGER report_tails_evaluation_responses_update AFTER UPDATE ON evaluation_responses
WHEN NEW.counted AND NEW.course_year IS NOT NULL
BEGIN
    INSERT INTO report_school_tail_marks (course_year, school_key, version)
    VALUES (NEW.course_year, COALESCE(NEW.school_id, ''), 1)
    ON CONFLICT (course_year, school_key) DO UPDATE SET version = report_school_tail_marks.version + 1;
END;
CREATE TRIGGER report_tails_evaluation_responses_leave AFTER UPDATE ON evaluation_responses
WHEN OLD.counted AND OLD.course_year IS NOT NULL
     AND (OLD.course_year IS NOT NEW.course_year OR OLD.school_id IS NOT NEW.school_id
          OR NOT NEW.counted)
BEGIN
    INSERT INTO report_school_tail_marks (course_year, school_key, version)
    VALUES (OLD.course_year, COALESCE(OLD.school_id, ''), 1)
    ON CONFLICT (course_year, school_key) DO UPDATE SET version = report_school_tail_marks.version + 1;
END;
