DROP TABLE idempotency_keys;
DROP TABLE booking_history;
DROP FUNCTION booking_history_append_only();
DROP TABLE bookings;
