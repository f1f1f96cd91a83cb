DROP TRIGGER priorities_generation_insert_delete ON priorities;
DROP TRIGGER staff_groups_generation_insert_delete ON staff_groups;
DROP TRIGGER clusters_generation ON clusters;
