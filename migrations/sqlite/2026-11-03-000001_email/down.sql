DROP INDEX outbox_status_created;
DROP INDEX outbox_claimed;
ALTER TABLE outbox DROP COLUMN claim_token;
