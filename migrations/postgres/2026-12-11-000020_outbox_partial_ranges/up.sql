-- The worker's two ranges of the outbox (pending messages by when they fall due, claims by
-- when they expire) were indexes of every message, whatever its status: each message took
-- an entry in both as it was queued, again as it was claimed and again as it was sent, and the
-- entries of the sent (nearly all of the outbox, and it only grows) stayed there for good.
-- Each index now holds the messages of its own status only: a message sent leaves both, and a
-- message takes two index entries fewer as it is queued, claimed and sent. The claim names each
-- status in its SQL, so the planner can see that the index applies.
DROP INDEX outbox_due;
DROP INDEX outbox_claimed;
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX outbox_claimed ON outbox (claimed_until) WHERE status = 'sending';
