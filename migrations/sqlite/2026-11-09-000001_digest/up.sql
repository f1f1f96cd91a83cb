-- The termly digest of the reports: one row per term whose digest has gone, so running
-- `cpd-hub digest --term` twice, or several service copies on a schedule, sends it once.
-- Only the number of recipients is kept; the addresses are in the outbox like any email's.
CREATE TABLE digests_sent (
    term_key   TEXT PRIMARY KEY NOT NULL,
    sent_at    TIMESTAMP NOT NULL,
    recipients INTEGER NOT NULL
);
