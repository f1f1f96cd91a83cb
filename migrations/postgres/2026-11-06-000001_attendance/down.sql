DROP TABLE attendance_history;
DROP FUNCTION attendance_history_append_only();
DROP TABLE attendance;
ALTER TABLE courses DROP COLUMN last_register_recorded_at;
DROP INDEX course_sessions_check_in_code;
ALTER TABLE course_sessions DROP COLUMN register_recorded_at;
ALTER TABLE course_sessions DROP COLUMN check_in_code;
