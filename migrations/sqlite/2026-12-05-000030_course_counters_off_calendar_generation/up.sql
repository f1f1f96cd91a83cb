-- A booking no longer raises the calendar's generation: its place counters
-- (confirmed_count, waitlist_count) are left out of the columns that do (the same as the
-- PostgreSQL migration). Kept calendar lists expire after a few seconds instead (app::cache),
-- which bounds how stale the places they show can be; the course page and the booking itself
-- read the course row and are exact.
DROP TRIGGER courses_generation_update;
CREATE TRIGGER courses_generation_update AFTER UPDATE OF
    title, status, format, provider_id, cluster_id, capacity, per_school_cap, price_pence,
    requires_approval, booking_opens, booking_closes,
    sessions_count, first_session_start, last_session_end, revision, search_text
    ON courses
BEGIN UPDATE calendar_generation SET n = n + 1 WHERE id = 1; END;
