DROP TRIGGER report_answer_sums_insert ON evaluation_answers;
DROP TRIGGER report_answer_sums_delete ON evaluation_answers;
DROP TRIGGER report_answer_sums_update ON evaluation_answers;
DROP FUNCTION report_answer_sums_changed();
DROP FUNCTION report_answer_sums_updated();
ALTER TABLE evaluation_responses
    DROP COLUMN confidence_shift,
    DROP COLUMN confidence_pairs,
    DROP COLUMN guskey1_answers,
    DROP COLUMN guskey2_answers,
    DROP COLUMN guskey3_answers,
    DROP COLUMN guskey4_answers,
    DROP COLUMN guskey5_answers;
