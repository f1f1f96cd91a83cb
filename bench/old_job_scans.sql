-- The scans the background jobs made on every run before their due-queues (SQLite), for
-- timing against a seeded database: `sqlite3 DB < bench/old_job_scans.sql`. The moment is the
-- national seed's "now" (2026-11-20 12:00), reminders on day 5, course reminders 2 days ahead.
.timer on
-- Evaluation job, safety net: courses with attendees not yet invited.
SELECT COUNT(*) FROM (SELECT DISTINCT a.course_id FROM attendance a
  JOIN courses c ON c.id = a.course_id JOIN bookings b ON b.id = a.booking_id
  JOIN people p ON p.id = b.person_id
 WHERE c.last_register_recorded_at IS NOT NULL AND c.last_session_end <= '2026-11-20 12:00:00'
   AND c.status <> 'cancelled' AND a.status IN ('present', 'late', 'left_early')
   AND p.erased_at IS NULL
   AND NOT EXISTS (SELECT 1 FROM evaluation_invitations i
                    WHERE i.booking_id = a.booking_id AND i.kind = 'post_course'));
-- Evaluation job: consenting answers without a follow-up.
SELECT COUNT(*) FROM evaluation_responses r
 WHERE r.kind = 'post_course' AND r.consent_follow_up = 1
   AND NOT EXISTS (SELECT 1 FROM evaluation_invitations i
                    WHERE i.booking_id = r.booking_id AND i.kind = 'follow_up');
-- Evaluation job, reminders: every invitation sent, unanswered, with reminders to come ...
SELECT COUNT(*) FROM evaluation_invitations
 WHERE sent_at IS NOT NULL AND answered_at IS NULL AND reminders_sent < 1;
-- ... of which those past their reminder day each took a write transaction (a token check)
-- on every run, their links having expired.
SELECT COUNT(*) FROM evaluation_invitations
 WHERE sent_at IS NOT NULL AND answered_at IS NULL AND reminders_sent < 1
   AND sent_at <= '2026-11-15 12:00:00';
-- Course reminders: confirmed bookings on courses starting within two days, not reminded.
SELECT COUNT(*) FROM bookings b JOIN courses c ON c.id = b.course_id JOIN people p ON p.id = b.person_id
 WHERE b.status = 'confirmed' AND c.status = 'published'
   AND c.first_session_start > '2026-11-20 12:00:00' AND c.first_session_start <= '2026-11-22 12:00:00'
   AND p.erased_at IS NULL
   AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.kind = 'course_reminder' AND o.subject_id = b.id);
