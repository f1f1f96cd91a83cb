//! The background jobs' due-queues (see the `job_queues` migration): `evaluation_due` for the
//! evaluation job's courses, `evaluation_invitations.next_reminder_at` for its reminders and
//! `course_reminder_due` for the course reminders. Triggers fill them in the transaction of
//! each change; [`backfill`] fills them for rows loaded with the triggers off (a bulk load),
//! as the migration does for an existing database.

use chrono::NaiveDateTime;
use diesel::QueryResult;

use crate::db::DbConn;
use crate::store::report_cells::{exec, Param};

/// Puts on the queues what is due on a database filled without the triggers: courses with
/// attendees not invited or consenting answers without a follow-up, open invitations with a
/// live link (looked at once by the next run), and confirmed bookings of courses starting after
/// `now` not reminded yet. Idempotent.
pub fn backfill(conn: &mut DbConn, now: NaiveDateTime) -> QueryResult<()> {
    let consent = match conn {
        DbConn::Pg(_) => "r.consent_follow_up",
        DbConn::Sqlite(_) => "r.consent_follow_up = 1",
    };
    exec(
        conn,
        &format!(
            "INSERT INTO evaluation_due (course_id, due_at, version)
             SELECT c.id, c.last_session_end, 1 FROM courses c
              WHERE c.last_session_end IS NOT NULL AND c.status <> 'cancelled'
                AND ((c.last_register_recorded_at IS NOT NULL AND EXISTS (
                         SELECT 1 FROM attendance a
                           JOIN bookings b ON b.id = a.booking_id
                           JOIN people p ON p.id = b.person_id
                          WHERE a.course_id = c.id AND a.status IN ('present', 'late', 'left_early')
                            AND p.erased_at IS NULL
                            AND NOT EXISTS (SELECT 1 FROM evaluation_invitations i
                                             WHERE i.booking_id = a.booking_id AND i.kind = 'post_course')))
                  OR EXISTS (
                         SELECT 1 FROM evaluation_responses r
                          WHERE r.course_id = c.id AND r.kind = 'post_course' AND {consent}
                            AND NOT EXISTS (SELECT 1 FROM evaluation_invitations i
                                             WHERE i.booking_id = r.booking_id AND i.kind = 'follow_up')))
             ON CONFLICT (course_id) DO NOTHING"
        ),
        &[],
    )?;
    exec(
        conn,
        "UPDATE evaluation_invitations SET next_reminder_at = sent_at
          WHERE sent_at IS NOT NULL AND answered_at IS NULL AND next_reminder_at IS NULL
            AND EXISTS (SELECT 1 FROM evaluation_tokens t
                         WHERE t.invitation_id = evaluation_invitations.id AND t.expires_at > $1)",
        &[Param::Ts(now)],
    )?;
    exec(
        conn,
        "INSERT INTO course_reminder_due (booking_id, starts_at)
         SELECT b.id, c.first_session_start FROM bookings b JOIN courses c ON c.id = b.course_id
          WHERE b.status = 'confirmed' AND c.first_session_start > $1
            AND NOT EXISTS (SELECT 1 FROM outbox o
                             WHERE o.kind = 'course_reminder' AND o.subject_id = b.id)
         ON CONFLICT (booking_id) DO NOTHING",
        &[Param::Ts(now)],
    )?;
    Ok(())
}
