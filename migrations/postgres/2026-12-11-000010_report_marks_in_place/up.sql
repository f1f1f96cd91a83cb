-- Every booking raises its course's version in report_dirty. Marked was `version >
-- summed_version`, the predicate of the partial index report_dirty_marked, so every raise
-- changed an indexed column: PostgreSQL wrote the new row version wherever there was room,
-- with a new entry in both of the table's indexes, and left the old ones for vacuum (100
-- courses booked 12,000 times grew the table to 400 kB). Marked is now a stored column the
-- index reads instead. A raise on a course already marked leaves it true, changes no indexed
-- column, and is written on the same page as a heap-only update, with no index entry, and
-- the page's dead versions are pruned as it fills; half of each page is kept free for them.
-- The index still changes when a course becomes marked and when the refresher sums it.
DROP INDEX report_dirty_marked;
ALTER TABLE report_dirty SET (fillfactor = 50);
ALTER TABLE report_dirty ADD COLUMN marked BOOLEAN GENERATED ALWAYS AS (version > summed_version) STORED;
CREATE INDEX report_dirty_marked ON report_dirty (course_id) WHERE marked;
