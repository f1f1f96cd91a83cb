DROP INDEX outbox_due;
DROP INDEX outbox_claimed;
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_claimed ON outbox (status, claimed_until);
