DROP TRIGGER schools_reference_generation ON schools;
DROP TRIGGER clusters_reference_generation ON clusters;
DROP TRIGGER providers_reference_generation ON providers;
DROP TRIGGER priorities_reference_generation ON priorities;
DROP TRIGGER staff_groups_reference_generation ON staff_groups;
DROP FUNCTION bump_reference_generation();
DROP TABLE reference_generation;
