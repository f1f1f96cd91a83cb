DROP TABLE evaluation_answers;
DROP TABLE evaluation_responses;
DROP TABLE evaluation_tokens;
DROP TABLE evaluation_invitations;
DROP TABLE course_evaluation_forms;
DROP TABLE evaluation_questions;
DROP TABLE evaluation_forms;
