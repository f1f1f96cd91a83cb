-- A number that rises whenever a reference list the API serves (schools with their
-- clusters, clusters, providers, priorities, staff groups) may change, so a copy of the
-- service can keep those lists' encoded responses and know, with one single-row read,
-- whether they still hold, whoever made the change (another copy, a command, an import).
-- Apart from the calendar's generation, which changes with every booking.
CREATE TABLE reference_generation (
    id INTEGER PRIMARY KEY NOT NULL,
    n  BIGINT NOT NULL
);
INSERT INTO reference_generation (id, n) VALUES (1, 0);

CREATE TRIGGER schools_reference_generation_insert AFTER INSERT ON schools
BEGIN UPDATE reference_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER schools_reference_generation_update AFTER UPDATE ON schools
BEGIN UPDATE reference_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER schools_reference_generation_delete AFTER DELETE ON schools
BEGIN UPDATE reference_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER clusters_reference_generation_insert AFTER INSERT ON clusters
BEGIN UPDATE reference_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER clusters_reference_generation_update AFTER UPDATE ON clusters
BEGIN UPDATE reference_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER clusters_reference_generation_delete AFTER DELETE ON clusters
BEGIN UPDATE reference_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER providers_reference_generation_insert AFTER INSERT ON providers
BEGIN UPDATE reference_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER providers_reference_generation_update AFTER UPDATE ON providers
BEGIN UPDATE reference_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER providers_reference_generation_delete AFTER DELETE ON providers
BEGIN UPDATE reference_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER priorities_reference_generation_insert AFTER INSERT ON priorities
BEGIN UPDATE reference_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER priorities_reference_generation_update AFTER UPDATE ON priorities
BEGIN UPDATE reference_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER priorities_reference_generation_delete AFTER DELETE ON priorities
BEGIN UPDATE reference_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER staff_groups_reference_generation_insert AFTER INSERT ON staff_groups
BEGIN UPDATE reference_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER staff_groups_reference_generation_update AFTER UPDATE ON staff_groups
BEGIN UPDATE reference_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER staff_groups_reference_generation_delete AFTER DELETE ON staff_groups
BEGIN UPDATE reference_generation SET n = n + 1 WHERE id = 1; END;
