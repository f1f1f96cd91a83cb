-- A report by course, priority or term looks up each course's latest counted responses (its
-- tail) in this index. With whether the response is counted in the index, the look-up skips
-- the responses not counted without reading the table; only the few it keeps are read.
DROP INDEX evaluation_responses_course_order;
CREATE INDEX evaluation_responses_course_order
    ON evaluation_responses (course_id, kind, submitted_at, id, counted);
