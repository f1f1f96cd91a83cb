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

CREATE FUNCTION bump_reference_generation() RETURNS trigger AS $$
BEGIN
    UPDATE reference_generation SET n = n + 1 WHERE id = 1;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER schools_reference_generation AFTER INSERT OR UPDATE OR DELETE ON schools
    FOR EACH STATEMENT EXECUTE FUNCTION bump_reference_generation();
CREATE TRIGGER clusters_reference_generation AFTER INSERT OR UPDATE OR DELETE ON clusters
    FOR EACH STATEMENT EXECUTE FUNCTION bump_reference_generation();
CREATE TRIGGER providers_reference_generation AFTER INSERT OR UPDATE OR DELETE ON providers
    FOR EACH STATEMENT EXECUTE FUNCTION bump_reference_generation();
CREATE TRIGGER priorities_reference_generation AFTER INSERT OR UPDATE OR DELETE ON priorities
    FOR EACH STATEMENT EXECUTE FUNCTION bump_reference_generation();
CREATE TRIGGER staff_groups_reference_generation AFTER INSERT OR UPDATE OR DELETE ON staff_groups
    FOR EACH STATEMENT EXECUTE FUNCTION bump_reference_generation();
