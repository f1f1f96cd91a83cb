-- The attempt that holds an in-progress key: a random token. The answer is written in the
-- transaction that makes the change, and only while the token still matches, so an attempt
-- whose key was taken over (its process died, or so it seemed) cannot write a second answer.
ALTER TABLE idempotency_keys ADD COLUMN claim TEXT;
