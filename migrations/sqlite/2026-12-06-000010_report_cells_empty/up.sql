-- The cells a move of the report refresher leaves with no bookings (so holding nothing) are
-- removed in the same write transaction, found by month (or year). Without these indexes
-- that delete read every cell of the month, a few thousand rows for each write at national
-- size, with the write lock held; with them it reads only the empty cells, which are few and
-- short-lived.
CREATE INDEX report_school_cells_empty ON report_school_cells(month) WHERE bookings = 0;
CREATE INDEX report_school_years_empty ON report_school_years(year) WHERE bookings = 0;
CREATE INDEX report_group_cells_empty ON report_group_cells(month) WHERE bookings = 0;
