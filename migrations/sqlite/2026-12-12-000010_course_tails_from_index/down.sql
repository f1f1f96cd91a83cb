DROP INDEX evaluation_responses_course_order;
CREATE INDEX evaluation_responses_course_order
    ON evaluation_responses (course_id, kind, submitted_at, id);
