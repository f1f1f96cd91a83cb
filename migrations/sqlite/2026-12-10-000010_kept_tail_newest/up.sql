-- Each kept row's newest time: its newest entry's `submitted_at` in microseconds, the first
-- field of `entries` (NULL where that cannot be read). A report by cluster (alone, or by staff
-- group) needs only the rows whose newest time is among their cluster's few newest; it reads
-- every row's newest time, and then the few rows it needs in full. (PostgreSQL keeps it in
-- the key's index as well; here a second index would cost every write of the refresher,
-- which holds the one write lock, for reports SQLite serves at alliance size.)
ALTER TABLE report_school_tails ADD COLUMN newest BIGINT;
ALTER TABLE report_school_group_tails ADD COLUMN newest BIGINT;

UPDATE report_school_tails
   SET newest = CAST(substr(entries, 1, instr(entries, ',') - 1) AS INTEGER)
 WHERE instr(entries, ',') BETWEEN 2 AND 20
   AND substr(entries, 2, instr(entries, ',') - 2) NOT GLOB '*[^0-9]*'
   AND substr(entries, 1, 1) GLOB '[-0-9]';
UPDATE report_school_group_tails
   SET newest = CAST(substr(entries, 1, instr(entries, ',') - 1) AS INTEGER)
 WHERE instr(entries, ',') BETWEEN 2 AND 20
   AND substr(entries, 2, instr(entries, ',') - 2) NOT GLOB '*[^0-9]*'
   AND substr(entries, 1, 1) GLOB '[-0-9]';
