CREATE OR REPLACE FUNCTION booking_history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'booking_history is append-only';
END;
$$;
CREATE OR REPLACE FUNCTION attendance_history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'attendance_history is append-only';
END;
$$;
