-- The evaluation job asks every minute for the invitations come due: not sent, not answered,
-- send_at passed. At national size some 100,000 follow-ups wait unsent for their day among
-- nearly 5 million invitations, and PostgreSQL read all of them through the (answered_at,
-- sent_at) index to find none due (its statistics of send_at cover every invitation, most
-- sent long ago, so it took most of the waiting ones to be due): about 40 ms a run with
-- nothing changed. This index holds only the waiting ones, by their day, so the job reads
-- just those come due.
CREATE INDEX evaluation_invitations_unsent ON evaluation_invitations(send_at)
    WHERE sent_at IS NULL AND answered_at IS NULL;
