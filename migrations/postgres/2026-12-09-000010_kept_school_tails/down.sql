DROP TRIGGER report_tails_evaluation_responses_update ON evaluation_responses;
DROP TRIGGER report_tails_evaluation_responses_insert ON evaluation_responses;
DROP FUNCTION response_marks_school_tail();
DROP FUNCTION mark_school_tail(INTEGER, TEXT);
DROP TABLE report_school_tail_marks;
DROP TABLE report_school_group_tails;
DROP TABLE report_school_tails;
