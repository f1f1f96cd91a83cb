-- The calendar page keeps the choices of its filter form (priorities, staff groups,
-- clusters) under the calendar's generation, so every change to those lists raises it, not
-- only renaming a priority or staff group: adding or removing one, and any change to a
-- cluster. (Providers' names, which lists show, already raise it when they change.)
CREATE TRIGGER priorities_generation_insert AFTER INSERT ON priorities
BEGIN UPDATE calendar_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER priorities_generation_delete AFTER DELETE ON priorities
BEGIN UPDATE calendar_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER staff_groups_generation_insert AFTER INSERT ON staff_groups
BEGIN UPDATE calendar_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER staff_groups_generation_delete AFTER DELETE ON staff_groups
BEGIN UPDATE calendar_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER clusters_generation_insert AFTER INSERT ON clusters
BEGIN UPDATE calendar_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER clusters_generation_update AFTER UPDATE ON clusters
BEGIN UPDATE calendar_generation SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER clusters_generation_delete AFTER DELETE ON clusters
BEGIN UPDATE calendar_generation SET n = n + 1 WHERE id = 1; END;
