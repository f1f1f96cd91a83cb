-- A booking no longer raises the calendar's generation: its place counters
-- (confirmed_count, waitlist_count) are left out of the columns that do. Every booking used to
-- update the one generation row and hold its lock until commit, so all bookings on all
-- courses queued behind each other there. Kept calendar lists now expire after a few seconds
-- instead (app::cache), which bounds how stale the places they show can be; the course page
-- and the booking itself read the course row and are exact.
DROP TRIGGER courses_generation_update ON courses;
CREATE TRIGGER courses_generation_update AFTER UPDATE OF
    title, status, format, provider_id, cluster_id, capacity, per_school_cap, price_pence,
    requires_approval, booking_opens, booking_closes,
    sessions_count, first_session_start, last_session_end, revision, search_text
    ON courses
    FOR EACH STATEMENT EXECUTE FUNCTION bump_calendar_generation();

-- A new booking marks its course for the report cells and queues its reminder with a row
-- trigger that reads NEW directly: a statement trigger with a transition table builds a
-- tuplestore and runs a DISTINCT/ORDER BY query for what is, on the booking path, always one
-- row. (Bookings are inserted one row per statement, so marks are still taken one course at a
-- time.)
DROP TRIGGER report_bookings_insert ON bookings;
CREATE FUNCTION report_mark_booking_course() RETURNS trigger AS $$
BEGIN
    INSERT INTO report_dirty (course_id, version) VALUES (NEW.course_id, 1)
        ON CONFLICT (course_id) DO UPDATE SET version = report_dirty.version + 1;
    RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER report_bookings_insert AFTER INSERT ON bookings
    FOR EACH ROW EXECUTE FUNCTION report_mark_booking_course();

DROP TRIGGER jobs_bookings_confirmed_insert ON bookings;
CREATE TRIGGER jobs_bookings_confirmed_insert AFTER INSERT ON bookings
    FOR EACH ROW WHEN (NEW.status = 'confirmed')
    EXECUTE FUNCTION jobs_booking_confirmed();
