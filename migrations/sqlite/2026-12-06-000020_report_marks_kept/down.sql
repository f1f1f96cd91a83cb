DELETE FROM report_dirty WHERE version <= summed_version;
DROP INDEX report_dirty_marked;
ALTER TABLE report_dirty DROP COLUMN summed_version;
