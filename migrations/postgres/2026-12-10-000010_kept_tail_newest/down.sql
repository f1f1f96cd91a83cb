ALTER TABLE report_school_group_tails
    DROP CONSTRAINT report_school_group_tails_pkey,
    ADD PRIMARY KEY (course_year, school_key, staff_group_key, kind);
ALTER TABLE report_school_tails
    DROP CONSTRAINT report_school_tails_pkey,
    ADD PRIMARY KEY (course_year, school_key, kind);
ALTER TABLE report_school_group_tails DROP COLUMN newest;
ALTER TABLE report_school_tails DROP COLUMN newest;
