-- The delivery worker's claim: which worker holds a message while it is being sent. Marking a
-- message sent or failed checks the token, so a worker whose claim expired (and was taken over)
-- cannot overwrite the outcome recorded by the worker that took it over.
ALTER TABLE outbox ADD COLUMN claim_token TEXT;
-- Claims that have expired are looked up by (status, claimed_until).
CREATE INDEX outbox_claimed ON outbox(status, claimed_until);
-- The admin list of failed messages, newest first.
CREATE INDEX outbox_status_created ON outbox(status, created_at);
