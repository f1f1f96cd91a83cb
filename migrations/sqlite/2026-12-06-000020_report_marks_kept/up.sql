-- A course's mark is kept once it is summed, with the version summed, instead of being
-- deleted. The version then only ever rises, so a refresher that read a mark can tell whether
-- the course changed since, even when another refresher summed it in between: a deleted mark
-- made again started at version 1 and could pass for the one read. Marked = version above
-- the version summed; the partial index keeps finding them proportional to the marked.
ALTER TABLE report_dirty ADD COLUMN summed_version BIGINT NOT NULL DEFAULT 0;
CREATE INDEX report_dirty_marked ON report_dirty (course_id) WHERE version > summed_version;
