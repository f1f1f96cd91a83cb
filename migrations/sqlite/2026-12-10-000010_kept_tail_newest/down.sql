ALTER TABLE report_school_group_tails DROP COLUMN newest;
ALTER TABLE report_school_tails DROP COLUMN newest;
