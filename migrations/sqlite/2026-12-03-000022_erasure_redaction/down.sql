DROP TRIGGER booking_history_no_update;
CREATE TRIGGER booking_history_no_update BEFORE UPDATE ON booking_history
BEGIN
    SELECT RAISE(ABORT, 'booking_history is append-only');
END;
DROP TRIGGER attendance_history_no_update;
CREATE TRIGGER attendance_history_no_update BEFORE UPDATE ON attendance_history
BEGIN
    SELECT RAISE(ABORT, 'attendance_history is append-only');
END;
