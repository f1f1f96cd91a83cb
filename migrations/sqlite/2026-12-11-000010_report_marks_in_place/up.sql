-- Marked is a column of its own, as on PostgreSQL (where a raise of the version of a course
-- already marked then changes no indexed column and is written in place), so that both
-- backends find marked courses with the same condition, `marked`. SQLite computes it when
-- read (a virtual column) and keeps it in the partial index.
DROP INDEX report_dirty_marked;
ALTER TABLE report_dirty ADD COLUMN marked BOOLEAN GENERATED ALWAYS AS (version > summed_version) VIRTUAL;
CREATE INDEX report_dirty_marked ON report_dirty (course_id) WHERE marked;
