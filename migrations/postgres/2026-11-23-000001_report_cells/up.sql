-- Report cells: the sums of the engagement and impact reports kept ahead of time, so a
-- report adds up a few hundred thousand cells instead of millions of bookings and their marks,
-- invitations and answers. Every column after the keys is an additive sum (see
-- src/store/report_cells.rs for what each counts). A key of '' stands for "none" (a booking
-- without a school, staff group or cluster).

-- Courses whose figures may have changed since they were last summed. The triggers below add
-- a course (or raise its version) in the transaction that changes it; the refresher sums the
-- course again and removes the row only if the version is still the one it read.
CREATE TABLE report_dirty (
    course_id TEXT PRIMARY KEY NOT NULL,
    version   BIGINT NOT NULL
);

-- One row per published course with sessions, as last summed: its sums, the London month of
-- its first session (yyyymm), when it was summed, and the starts of its sessions either side
-- of that moment. Figures that depend on the sessions already held are right for any moment
-- at which the same sessions have started as at refreshed_at (no session starts in between);
-- reports work the rest out live, and the refresher sums a course again once its next
-- session has started.
CREATE TABLE report_courses (
    course_id                     TEXT PRIMARY KEY NOT NULL,
    month                         INTEGER NOT NULL,
    first_start                   TIMESTAMP NOT NULL,
    refreshed_at                  TIMESTAMP NOT NULL,
    prev_start                    TIMESTAMP,
    next_start                    TIMESTAMP,
    bookings                      BIGINT NOT NULL DEFAULT 0,
    confirmed                     BIGINT NOT NULL DEFAULT 0,
    waitlisted                    BIGINT NOT NULL DEFAULT 0,
    cancelled                     BIGINT NOT NULL DEFAULT 0,
    late_cancellations            BIGINT NOT NULL DEFAULT 0,
    expected_attendances          BIGINT NOT NULL DEFAULT 0,
    attendances                   BIGINT NOT NULL DEFAULT 0,
    completed                     BIGINT NOT NULL DEFAULT 0,
    no_shows                      BIGINT NOT NULL DEFAULT 0,
    evaluations_sent              BIGINT NOT NULL DEFAULT 0,
    evaluations_completed         BIGINT NOT NULL DEFAULT 0,
    satisfaction_sum              BIGINT NOT NULL DEFAULT 0,
    satisfaction_n                BIGINT NOT NULL DEFAULT 0,
    impact_positive               BIGINT NOT NULL DEFAULT 0,
    impact_n                      BIGINT NOT NULL DEFAULT 0,
    no_show_cost_pence            BIGINT NOT NULL DEFAULT 0,
    late_cancellation_cost_pence  BIGINT NOT NULL DEFAULT 0,
    evaluated                     BIGINT NOT NULL DEFAULT 0,
    post_sent                     BIGINT NOT NULL DEFAULT 0,
    post_completed                BIGINT NOT NULL DEFAULT 0,
    follow_sent                   BIGINT NOT NULL DEFAULT 0,
    follow_completed              BIGINT NOT NULL DEFAULT 0,
    confidence_shift_sum          BIGINT NOT NULL DEFAULT 0,
    confidence_pairs              BIGINT NOT NULL DEFAULT 0,
    confidence_n                  BIGINT NOT NULL DEFAULT 0,
    g1                            BIGINT NOT NULL DEFAULT 0,
    g2                            BIGINT NOT NULL DEFAULT 0,
    g3                            BIGINT NOT NULL DEFAULT 0,
    g4                            BIGINT NOT NULL DEFAULT 0,
    g5                            BIGINT NOT NULL DEFAULT 0,
    g1_n                          BIGINT NOT NULL DEFAULT 0,
    g2_n                          BIGINT NOT NULL DEFAULT 0,
    g3_n                          BIGINT NOT NULL DEFAULT 0,
    g4_n                          BIGINT NOT NULL DEFAULT 0,
    g5_n                          BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX report_courses_start ON report_courses(first_start);
CREATE INDEX report_courses_month ON report_courses(month);
CREATE INDEX report_courses_next ON report_courses(next_start);

-- A course's sums by the booking's school, staff group and the school's cluster when summed.
CREATE TABLE report_facts (
    course_id                     TEXT NOT NULL,
    school_key                    TEXT NOT NULL,
    staff_group_key               TEXT NOT NULL,
    cluster_key                   TEXT NOT NULL,
    bookings                      BIGINT NOT NULL DEFAULT 0,
    confirmed                     BIGINT NOT NULL DEFAULT 0,
    waitlisted                    BIGINT NOT NULL DEFAULT 0,
    cancelled                     BIGINT NOT NULL DEFAULT 0,
    late_cancellations            BIGINT NOT NULL DEFAULT 0,
    expected_attendances          BIGINT NOT NULL DEFAULT 0,
    attendances                   BIGINT NOT NULL DEFAULT 0,
    completed                     BIGINT NOT NULL DEFAULT 0,
    no_shows                      BIGINT NOT NULL DEFAULT 0,
    evaluations_sent              BIGINT NOT NULL DEFAULT 0,
    evaluations_completed         BIGINT NOT NULL DEFAULT 0,
    satisfaction_sum              BIGINT NOT NULL DEFAULT 0,
    satisfaction_n                BIGINT NOT NULL DEFAULT 0,
    impact_positive               BIGINT NOT NULL DEFAULT 0,
    impact_n                      BIGINT NOT NULL DEFAULT 0,
    no_show_cost_pence            BIGINT NOT NULL DEFAULT 0,
    late_cancellation_cost_pence  BIGINT NOT NULL DEFAULT 0,
    evaluated                     BIGINT NOT NULL DEFAULT 0,
    post_sent                     BIGINT NOT NULL DEFAULT 0,
    post_completed                BIGINT NOT NULL DEFAULT 0,
    follow_sent                   BIGINT NOT NULL DEFAULT 0,
    follow_completed              BIGINT NOT NULL DEFAULT 0,
    confidence_shift_sum          BIGINT NOT NULL DEFAULT 0,
    confidence_pairs              BIGINT NOT NULL DEFAULT 0,
    confidence_n                  BIGINT NOT NULL DEFAULT 0,
    g1                            BIGINT NOT NULL DEFAULT 0,
    g2                            BIGINT NOT NULL DEFAULT 0,
    g3                            BIGINT NOT NULL DEFAULT 0,
    g4                            BIGINT NOT NULL DEFAULT 0,
    g5                            BIGINT NOT NULL DEFAULT 0,
    g1_n                          BIGINT NOT NULL DEFAULT 0,
    g2_n                          BIGINT NOT NULL DEFAULT 0,
    g3_n                          BIGINT NOT NULL DEFAULT 0,
    g4_n                          BIGINT NOT NULL DEFAULT 0,
    g5_n                          BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (course_id, school_key, staff_group_key)
);
CREATE INDEX report_facts_school ON report_facts(school_key);

-- report_facts summed by (month, school): the school groupings.
CREATE TABLE report_school_cells (
    month                         INTEGER NOT NULL,
    school_key                    TEXT NOT NULL,
    bookings                      BIGINT NOT NULL DEFAULT 0,
    confirmed                     BIGINT NOT NULL DEFAULT 0,
    waitlisted                    BIGINT NOT NULL DEFAULT 0,
    cancelled                     BIGINT NOT NULL DEFAULT 0,
    late_cancellations            BIGINT NOT NULL DEFAULT 0,
    expected_attendances          BIGINT NOT NULL DEFAULT 0,
    attendances                   BIGINT NOT NULL DEFAULT 0,
    completed                     BIGINT NOT NULL DEFAULT 0,
    no_shows                      BIGINT NOT NULL DEFAULT 0,
    evaluations_sent              BIGINT NOT NULL DEFAULT 0,
    evaluations_completed         BIGINT NOT NULL DEFAULT 0,
    satisfaction_sum              BIGINT NOT NULL DEFAULT 0,
    satisfaction_n                BIGINT NOT NULL DEFAULT 0,
    impact_positive               BIGINT NOT NULL DEFAULT 0,
    impact_n                      BIGINT NOT NULL DEFAULT 0,
    no_show_cost_pence            BIGINT NOT NULL DEFAULT 0,
    late_cancellation_cost_pence  BIGINT NOT NULL DEFAULT 0,
    evaluated                     BIGINT NOT NULL DEFAULT 0,
    post_sent                     BIGINT NOT NULL DEFAULT 0,
    post_completed                BIGINT NOT NULL DEFAULT 0,
    follow_sent                   BIGINT NOT NULL DEFAULT 0,
    follow_completed              BIGINT NOT NULL DEFAULT 0,
    confidence_shift_sum          BIGINT NOT NULL DEFAULT 0,
    confidence_pairs              BIGINT NOT NULL DEFAULT 0,
    confidence_n                  BIGINT NOT NULL DEFAULT 0,
    g1                            BIGINT NOT NULL DEFAULT 0,
    g2                            BIGINT NOT NULL DEFAULT 0,
    g3                            BIGINT NOT NULL DEFAULT 0,
    g4                            BIGINT NOT NULL DEFAULT 0,
    g5                            BIGINT NOT NULL DEFAULT 0,
    g1_n                          BIGINT NOT NULL DEFAULT 0,
    g2_n                          BIGINT NOT NULL DEFAULT 0,
    g3_n                          BIGINT NOT NULL DEFAULT 0,
    g4_n                          BIGINT NOT NULL DEFAULT 0,
    g5_n                          BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (month, school_key)
);

-- report_facts summed by (academic year, school): whole academic years of the school groupings
-- (the dashboard's default window, and its trend a year earlier). `year` is the year the
-- academic year starts in (September).
CREATE TABLE report_school_years (
    year                          INTEGER NOT NULL,
    school_key                    TEXT NOT NULL,
    bookings                      BIGINT NOT NULL DEFAULT 0,
    confirmed                     BIGINT NOT NULL DEFAULT 0,
    waitlisted                    BIGINT NOT NULL DEFAULT 0,
    cancelled                     BIGINT NOT NULL DEFAULT 0,
    late_cancellations            BIGINT NOT NULL DEFAULT 0,
    expected_attendances          BIGINT NOT NULL DEFAULT 0,
    attendances                   BIGINT NOT NULL DEFAULT 0,
    completed                     BIGINT NOT NULL DEFAULT 0,
    no_shows                      BIGINT NOT NULL DEFAULT 0,
    evaluations_sent              BIGINT NOT NULL DEFAULT 0,
    evaluations_completed         BIGINT NOT NULL DEFAULT 0,
    satisfaction_sum              BIGINT NOT NULL DEFAULT 0,
    satisfaction_n                BIGINT NOT NULL DEFAULT 0,
    impact_positive               BIGINT NOT NULL DEFAULT 0,
    impact_n                      BIGINT NOT NULL DEFAULT 0,
    no_show_cost_pence            BIGINT NOT NULL DEFAULT 0,
    late_cancellation_cost_pence  BIGINT NOT NULL DEFAULT 0,
    evaluated                     BIGINT NOT NULL DEFAULT 0,
    post_sent                     BIGINT NOT NULL DEFAULT 0,
    post_completed                BIGINT NOT NULL DEFAULT 0,
    follow_sent                   BIGINT NOT NULL DEFAULT 0,
    follow_completed              BIGINT NOT NULL DEFAULT 0,
    confidence_shift_sum          BIGINT NOT NULL DEFAULT 0,
    confidence_pairs              BIGINT NOT NULL DEFAULT 0,
    confidence_n                  BIGINT NOT NULL DEFAULT 0,
    g1                            BIGINT NOT NULL DEFAULT 0,
    g2                            BIGINT NOT NULL DEFAULT 0,
    g3                            BIGINT NOT NULL DEFAULT 0,
    g4                            BIGINT NOT NULL DEFAULT 0,
    g5                            BIGINT NOT NULL DEFAULT 0,
    g1_n                          BIGINT NOT NULL DEFAULT 0,
    g2_n                          BIGINT NOT NULL DEFAULT 0,
    g3_n                          BIGINT NOT NULL DEFAULT 0,
    g4_n                          BIGINT NOT NULL DEFAULT 0,
    g5_n                          BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (year, school_key)
);

-- report_facts summed by (month, cluster, staff group): the cluster and staff group groupings.
CREATE TABLE report_group_cells (
    month                         INTEGER NOT NULL,
    cluster_key                   TEXT NOT NULL,
    staff_group_key               TEXT NOT NULL,
    bookings                      BIGINT NOT NULL DEFAULT 0,
    confirmed                     BIGINT NOT NULL DEFAULT 0,
    waitlisted                    BIGINT NOT NULL DEFAULT 0,
    cancelled                     BIGINT NOT NULL DEFAULT 0,
    late_cancellations            BIGINT NOT NULL DEFAULT 0,
    expected_attendances          BIGINT NOT NULL DEFAULT 0,
    attendances                   BIGINT NOT NULL DEFAULT 0,
    completed                     BIGINT NOT NULL DEFAULT 0,
    no_shows                      BIGINT NOT NULL DEFAULT 0,
    evaluations_sent              BIGINT NOT NULL DEFAULT 0,
    evaluations_completed         BIGINT NOT NULL DEFAULT 0,
    satisfaction_sum              BIGINT NOT NULL DEFAULT 0,
    satisfaction_n                BIGINT NOT NULL DEFAULT 0,
    impact_positive               BIGINT NOT NULL DEFAULT 0,
    impact_n                      BIGINT NOT NULL DEFAULT 0,
    no_show_cost_pence            BIGINT NOT NULL DEFAULT 0,
    late_cancellation_cost_pence  BIGINT NOT NULL DEFAULT 0,
    evaluated                     BIGINT NOT NULL DEFAULT 0,
    post_sent                     BIGINT NOT NULL DEFAULT 0,
    post_completed                BIGINT NOT NULL DEFAULT 0,
    follow_sent                   BIGINT NOT NULL DEFAULT 0,
    follow_completed              BIGINT NOT NULL DEFAULT 0,
    confidence_shift_sum          BIGINT NOT NULL DEFAULT 0,
    confidence_pairs              BIGINT NOT NULL DEFAULT 0,
    confidence_n                  BIGINT NOT NULL DEFAULT 0,
    g1                            BIGINT NOT NULL DEFAULT 0,
    g2                            BIGINT NOT NULL DEFAULT 0,
    g3                            BIGINT NOT NULL DEFAULT 0,
    g4                            BIGINT NOT NULL DEFAULT 0,
    g5                            BIGINT NOT NULL DEFAULT 0,
    g1_n                          BIGINT NOT NULL DEFAULT 0,
    g2_n                          BIGINT NOT NULL DEFAULT 0,
    g3_n                          BIGINT NOT NULL DEFAULT 0,
    g4_n                          BIGINT NOT NULL DEFAULT 0,
    g5_n                          BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (month, cluster_key, staff_group_key)
);
-- What marks a course: any change to its bookings, marks, invitations, responses, answers
-- or sessions, its status or first session, or the cluster of a school that booked it. The
-- triggers run once per statement over its changed rows, so bulk loads stay cheap; courses are
-- marked in id order, so two transactions never wait on each other's marks in a cycle.
CREATE FUNCTION report_mark_courses() RETURNS trigger AS $$
BEGIN
    INSERT INTO report_dirty (course_id, version)
        SELECT DISTINCT course_id, 1 FROM changed_rows ORDER BY 1
        ON CONFLICT (course_id) DO UPDATE SET version = report_dirty.version + 1;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE FUNCTION report_mark_answer_courses() RETURNS trigger AS $$
BEGIN
    INSERT INTO report_dirty (course_id, version)
        SELECT DISTINCT r.course_id, 1 FROM changed_rows a
          JOIN evaluation_responses r ON r.id = a.response_id ORDER BY 1
        ON CONFLICT (course_id) DO UPDATE SET version = report_dirty.version + 1;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE FUNCTION report_mark_course() RETURNS trigger AS $$
BEGIN
    INSERT INTO report_dirty (course_id, version) VALUES (NEW.id, 1) ON CONFLICT (course_id) DO UPDATE SET version = report_dirty.version + 1;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE FUNCTION report_mark_school_courses() RETURNS trigger AS $$
BEGIN
    INSERT INTO report_dirty (course_id, version)
        SELECT DISTINCT f.course_id, 1 FROM report_facts f WHERE f.school_key = NEW.id ORDER BY 1
        ON CONFLICT (course_id) DO UPDATE SET version = report_dirty.version + 1;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER report_bookings_insert AFTER INSERT ON bookings
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION report_mark_courses();
CREATE TRIGGER report_bookings_update AFTER UPDATE ON bookings
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION report_mark_courses();
CREATE TRIGGER report_bookings_delete AFTER DELETE ON bookings
    REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION report_mark_courses();
CREATE TRIGGER report_attendance_insert AFTER INSERT ON attendance
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION report_mark_courses();
CREATE TRIGGER report_attendance_update AFTER UPDATE ON attendance
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION report_mark_courses();
CREATE TRIGGER report_attendance_delete AFTER DELETE ON attendance
    REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION report_mark_courses();
CREATE TRIGGER report_evaluation_invitations_insert AFTER INSERT ON evaluation_invitations
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION report_mark_courses();
CREATE TRIGGER report_evaluation_invitations_update AFTER UPDATE ON evaluation_invitations
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION report_mark_courses();
CREATE TRIGGER report_evaluation_invitations_delete AFTER DELETE ON evaluation_invitations
    REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION report_mark_courses();
CREATE TRIGGER report_evaluation_responses_insert AFTER INSERT ON evaluation_responses
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION report_mark_courses();
CREATE TRIGGER report_evaluation_responses_update AFTER UPDATE ON evaluation_responses
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION report_mark_courses();
CREATE TRIGGER report_evaluation_responses_delete AFTER DELETE ON evaluation_responses
    REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION report_mark_courses();
CREATE TRIGGER report_course_sessions_insert AFTER INSERT ON course_sessions
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION report_mark_courses();
CREATE TRIGGER report_course_sessions_update AFTER UPDATE ON course_sessions
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION report_mark_courses();
CREATE TRIGGER report_course_sessions_delete AFTER DELETE ON course_sessions
    REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION report_mark_courses();
CREATE TRIGGER report_evaluation_answers_insert AFTER INSERT ON evaluation_answers
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION report_mark_answer_courses();
CREATE TRIGGER report_evaluation_answers_update AFTER UPDATE ON evaluation_answers
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION report_mark_answer_courses();
CREATE TRIGGER report_evaluation_answers_delete AFTER DELETE ON evaluation_answers
    REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION report_mark_answer_courses();
CREATE TRIGGER report_courses_update AFTER UPDATE OF status, first_session_start ON courses
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status
                       OR OLD.first_session_start IS DISTINCT FROM NEW.first_session_start)
    EXECUTE FUNCTION report_mark_course();
CREATE TRIGGER report_schools_cluster AFTER UPDATE OF cluster_id ON schools
    FOR EACH ROW WHEN (OLD.cluster_id IS DISTINCT FROM NEW.cluster_id)
    EXECUTE FUNCTION report_mark_school_courses();

-- Courses already there are summed by the refresher (or `cpd-hub reports-refresh`).
INSERT INTO report_dirty (course_id, version) SELECT id, 1 FROM courses;
