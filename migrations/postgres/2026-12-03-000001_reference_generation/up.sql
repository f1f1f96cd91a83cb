-- The calendar page keeps the choices of its filter form (priorities, staff groups,
-- clusters) under the calendar's generation, so every change to those lists raises it, not
-- only renaming a priority or staff group: adding or removing one, and any change to a
-- cluster. (Providers' names, which lists show, already raise it when they change.)
CREATE TRIGGER priorities_generation_insert_delete AFTER INSERT OR DELETE ON priorities
    FOR EACH STATEMENT EXECUTE FUNCTION bump_calendar_generation();
CREATE TRIGGER staff_groups_generation_insert_delete AFTER INSERT OR DELETE ON staff_groups
    FOR EACH STATEMENT EXECUTE FUNCTION bump_calendar_generation();
CREATE TRIGGER clusters_generation AFTER INSERT OR UPDATE OR DELETE ON clusters
    FOR EACH STATEMENT EXECUTE FUNCTION bump_calendar_generation();
