DROP TABLE idempotency_keys;
DROP TABLE booking_history;
DROP TABLE bookings;
