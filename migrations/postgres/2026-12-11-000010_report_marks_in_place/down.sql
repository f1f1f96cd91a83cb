DROP INDEX report_dirty_marked;
ALTER TABLE report_dirty DROP COLUMN marked;
ALTER TABLE report_dirty RESET (fillfactor);
CREATE INDEX report_dirty_marked ON report_dirty (course_id) WHERE version > summed_version;
