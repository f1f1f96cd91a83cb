DROP TRIGGER courses_generation_update;
CREATE TRIGGER courses_generation_update AFTER UPDATE OF
    title, status, format, provider_id, cluster_id, capacity, per_school_cap, price_pence,
    requires_approval, booking_opens, booking_closes, confirmed_count, waitlist_count,
    sessions_count, first_session_start, last_session_end, revision, search_text
    ON courses
BEGIN UPDATE calendar_generation SET n = n + 1 WHERE id = 1; END;
