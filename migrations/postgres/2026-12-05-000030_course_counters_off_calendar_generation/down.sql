DROP TRIGGER jobs_bookings_confirmed_insert ON bookings;
CREATE TRIGGER jobs_bookings_confirmed_insert AFTER INSERT ON bookings
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION jobs_bookings_confirmed();

DROP TRIGGER report_bookings_insert ON bookings;
DROP FUNCTION report_mark_booking_course();
CREATE TRIGGER report_bookings_insert AFTER INSERT ON bookings
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION report_mark_courses();

DROP TRIGGER courses_generation_update ON courses;
CREATE TRIGGER courses_generation_update AFTER UPDATE OF
    title, status, format, provider_id, cluster_id, capacity, per_school_cap, price_pence,
    requires_approval, booking_opens, booking_closes, confirmed_count, waitlist_count,
    sessions_count, first_session_start, last_session_end, revision, search_text
    ON courses
    FOR EACH STATEMENT EXECUTE FUNCTION bump_calendar_generation();
