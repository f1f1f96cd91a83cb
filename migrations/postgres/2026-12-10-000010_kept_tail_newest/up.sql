-- Each kept row's newest time: its newest entry's `submitted_at` in microseconds, the first
-- field of `entries` (NULL where that cannot be read). A report by cluster (alone, or by staff
-- group) needs only the rows whose newest time is among their cluster's few newest: it reads
-- every row's newest time from the primary key's index alone (the key INCLUDEs it), not
-- every row's entries from the table, and then the few rows it needs in full.
ALTER TABLE report_school_tails ADD COLUMN newest BIGINT;
ALTER TABLE report_school_group_tails ADD COLUMN newest BIGINT;

UPDATE report_school_tails
   SET newest = CAST(split_part(entries, ',', 1) AS BIGINT)
 WHERE split_part(entries, ',', 1) ~ '^-?[0-9]{1,18}$';
UPDATE report_school_group_tails
   SET newest = CAST(split_part(entries, ',', 1) AS BIGINT)
 WHERE split_part(entries, ',', 1) ~ '^-?[0-9]{1,18}$';

ALTER TABLE report_school_tails
    DROP CONSTRAINT report_school_tails_pkey,
    ADD PRIMARY KEY (course_year, school_key, kind) INCLUDE (newest);
ALTER TABLE report_school_group_tails
    DROP CONSTRAINT report_school_group_tails_pkey,
    ADD PRIMARY KEY (course_year, school_key, staff_group_key, kind) INCLUDE (newest);
