-- A report by course, priority or term looks up each course's latest counted responses (its
-- tail) in this index: about 13,000 look-ups per window at national size. Without what each
-- response adds to the figures, each entry found cost a read of the table, most of them from
-- disk (400 ms a window). Carrying whether the response is counted and its figures lets the
-- look-ups read the index alone. The index stays over every response, counted or not: the
-- triggers that keep `counted` find a course's responses through it.
DROP INDEX evaluation_responses_course_order;
CREATE INDEX evaluation_responses_course_order
    ON evaluation_responses (course_id, kind, submitted_at, id COLLATE "C")
    INCLUDE (counted, satisfaction, impact, confidence_shift, confidence_pairs, guskey1_answers,
             guskey2_answers, guskey3_answers, guskey4_answers, guskey5_answers);
