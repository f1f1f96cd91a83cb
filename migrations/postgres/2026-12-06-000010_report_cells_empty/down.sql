DROP INDEX report_group_cells_empty;
DROP INDEX report_school_years_empty;
DROP INDEX report_school_cells_empty;
