-- Every booking raises its course's version in report_dirty. Marked was `version >
-- summed_version`, the predicate of the partial index report_dirty_marked, so every raise
-- changed an indexed column: PostgreSQL wrote a new row version elsewhere and a new entry in
-- both of the table's indexes, and left the old ones for vacuum, which a busy course outruns
-- (its key in the primary key index then led through one dead entry per booking since the
-- last vacuum). Marked is now a stored column the index reads instead. A raise on a course
-- already marked leaves it true, changes no indexed column, and is written in place on the
-- same page (a heap-only update) with no index entry; the space half of each page keeps free
-- is where those updates go. The mark still changes, and the index with it, when a course
-- becomes marked and when the refresher sums it.
DROP INDEX report_dirty_marked;
ALTER TABLE report_dirty SET (fillfactor = 50);
ALTER TABLE report_dirty ADD COLUMN marked BOOLEAN GENERATED ALWAYS AS (version > summed_version) STORED;
CREATE INDEX report_dirty_marked ON report_dirty (course_id) WHERE marked;
