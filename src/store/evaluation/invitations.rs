//! Inviting attendees to evaluate a course: the invitation when a register is complete, the
//! follow-up later, and the job that sends what is due.

use chrono::{Datelike, Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::config::Settings;
use crate::db::schema::{
    attendance, bookings, courses, evaluation_due, evaluation_invitations, evaluation_responses,
    evaluation_tokens, people,
};
use crate::db::DbConn;
use crate::domain::evaluation::FormKind;
use crate::domain::notification::{EvaluationMail, Notification};
use crate::domain::time::{self, LONDON};
use crate::domain::tokens;
use crate::store::new_id;
use crate::store::outbox::{self, NewMessage};

use super::forms::current_form_id;

/// The attendance statuses that earn an evaluation invitation.
pub const ATTENDED: [&str; 3] = ["present", "late", "left_early"];

// ---------------------------------------------------------------------------------------------
// Invitations

#[derive(Debug, Clone, Queryable)]
pub(super) struct CourseFacts {
    pub(super) id: String,
    pub(super) title: String,
    status: String,
    pub(super) first_session_start: Option<NaiveDateTime>,
    pub(super) last_session_end: Option<NaiveDateTime>,
}

pub(super) fn course_facts(conn: &mut DbConn, course_id: &str) -> QueryResult<Option<CourseFacts>> {
    courses::table
        .find(course_id)
        .select((
            courses::id,
            courses::title,
            courses::status,
            courses::first_session_start,
            courses::last_session_end,
        ))
        .first(conn)
        .optional()
}

/// `Thursday 14 January 2027`, or `14 January to 23 March 2027` for a course over several
/// days, in Europe/London.
pub fn course_dates(first: Option<NaiveDateTime>, last: Option<NaiveDateTime>) -> String {
    let local = |t: NaiveDateTime| time::to_utc(t).with_timezone(&LONDON).date_naive();
    match (first.map(local), last.map(local)) {
        (Some(a), Some(b)) if a != b => {
            if a.year() == b.year() {
                format!("{} to {}", a.format("%-d %B"), b.format("%-d %B %Y"))
            } else {
                format!("{} to {}", a.format("%-d %B %Y"), b.format("%-d %B %Y"))
            }
        }
        (Some(a), _) | (None, Some(a)) => a.format("%A %-d %B %Y").to_string(),
        (None, None) => String::new(),
    }
}

/// A new token for an invitation, valid until `expires_at`; returns the token itself (only
/// its SHA-256 is stored).
fn issue_token(
    conn: &mut DbConn,
    invitation_id: &str,
    now: NaiveDateTime,
    expires_at: NaiveDateTime,
) -> QueryResult<String> {
    // 192 bits from the operating system's random source.
    let token = tokens::random_hex(24);
    diesel::insert_into(evaluation_tokens::table)
        .values((
            evaluation_tokens::token_hash.eq(tokens::hash(&token)),
            evaluation_tokens::invitation_id.eq(invitation_id),
            evaluation_tokens::created_at.eq(now),
            evaluation_tokens::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(token)
}

fn token_lifetime(settings: &Settings) -> Duration {
    Duration::days(i64::from(settings.evaluation.token_days))
}

/// Who an invitation goes to: `(person id, name, email)`, or `None` when they were erased.
fn recipient(conn: &mut DbConn, booking_id: &str) -> QueryResult<Option<(String, String, String)>> {
    bookings::table
        .inner_join(people::table)
        .filter(bookings::id.eq(booking_id))
        .filter(people::erased_at.is_null())
        .select((people::id, people::name, people::email))
        .first(conn)
        .optional()
}

/// Queues the invitation or reminder email for an invitation, with a fresh token.
#[allow(clippy::too_many_arguments)]
fn send_email(
    conn: &mut DbConn,
    kind: fn(EvaluationMail) -> Notification,
    invitation_id: &str,
    booking_id: &str,
    form_kind: FormKind,
    course: &CourseFacts,
    now: NaiveDateTime,
    settings: &Settings,
) -> QueryResult<bool> {
    let Some((person_id, name, email)) = recipient(conn, booking_id)? else {
        return Ok(false);
    };
    let expires_at = now + token_lifetime(settings);
    let token = issue_token(conn, invitation_id, now, expires_at)?;
    let mail = EvaluationMail::new(
        &name,
        &course.title,
        course_dates(course.first_session_start, course.last_session_end),
        form_kind,
        &settings.public_base_url,
        &token,
        expires_at,
    );
    outbox::enqueue(
        conn,
        NewMessage {
            recipient_email: &email,
            recipient_person_id: Some(&person_id),
            subject_id: Some(invitation_id),
            notification: kind(mail),
        },
    )?;
    Ok(true)
}

/// Inserts an invitation unless the booking has one of this kind already (on either
/// backend, without an error that would abort the caller's transaction). Returns whether it
/// was inserted.
#[allow(clippy::too_many_arguments)]
fn insert_invitation(
    conn: &mut DbConn,
    id: &str,
    course_id: &str,
    booking_id: &str,
    form_id: &str,
    kind: FormKind,
    now: NaiveDateTime,
    send_at: NaiveDateTime,
    sent_at: Option<NaiveDateTime>,
) -> QueryResult<bool> {
    let values = (
        evaluation_invitations::id.eq(id),
        evaluation_invitations::course_id.eq(course_id),
        evaluation_invitations::booking_id.eq(booking_id),
        evaluation_invitations::form_id.eq(form_id),
        evaluation_invitations::kind.eq(kind.as_str()),
        evaluation_invitations::created_at.eq(now),
        evaluation_invitations::send_at.eq(send_at),
        evaluation_invitations::sent_at.eq(sent_at),
        evaluation_invitations::reminders_sent.eq(0),
    );
    let n = crate::on_backend!(conn, |c| diesel::insert_into(evaluation_invitations::table)
        .values(values)
        .on_conflict_do_nothing()
        .execute(c)?);
    Ok(n == 1)
}

/// Creates, in the caller's transaction, a post-course invitation for every booking of the
/// course marked present, late or left early at any session (people not erased), due at
/// once; nothing while the course's last session has not ended at `now`. The attendance store calls it in the transaction that first records the register of
/// the course's last session, so the register and the invitations commit together; the
/// evaluation job ([`run_jobs`], woken by that save) then emails each invitation with its own
/// token. (The register's transaction knows nothing of links and mail settings, and an email
/// queued there would wait for the same job tick anyway.) Bookings invited already are left
/// alone, so calling it again, or from the job as well, invites nobody twice. Does nothing
/// for a cancelled course or when there is no post-course form. Returns how many invitations
/// it created.
pub fn on_course_register_complete(
    conn: &mut DbConn,
    course_id: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    let Some(course) = course_facts(conn, course_id)? else {
        return Ok(0);
    };
    if course.status == "cancelled" {
        return Ok(0);
    }
    // The course is not over until its last session has ended (its register opens before
    // that, with check-in): the evaluation job invites them once it has.
    if course.last_session_end.is_none_or(|end| end > now) {
        return Ok(0);
    }
    let Some(form_id) = current_form_id(conn, course_id, FormKind::PostCourse)? else {
        tracing::warn!(course_id, "no post-course evaluation form: no invitations");
        return Ok(0);
    };
    let invited = evaluation_invitations::table
        .filter(evaluation_invitations::booking_id.eq(attendance::booking_id))
        .filter(evaluation_invitations::kind.eq(FormKind::PostCourse.as_str()));
    let booking_ids: Vec<String> = attendance::table
        .inner_join(bookings::table.inner_join(people::table))
        .filter(attendance::course_id.eq(course_id))
        .filter(attendance::status.eq_any(ATTENDED))
        .filter(people::erased_at.is_null())
        .filter(diesel::dsl::not(diesel::dsl::exists(invited)))
        .select(attendance::booking_id)
        .distinct()
        .order(attendance::booking_id.asc())
        .load(conn)?;
    let mut count = 0;
    for booking_id in booking_ids {
        let kind = FormKind::PostCourse;
        if insert_invitation(
            conn,
            &new_id(),
            course_id,
            &booking_id,
            &form_id,
            kind,
            now,
            now,
            None,
        )? {
            count += 1;
        }
    }
    if count > 0 {
        tracing::info!(
            course_id,
            invited = count,
            "post-course evaluation invitations"
        );
    }
    Ok(count)
}

/// Schedules the impact follow-up of one booking, due `follow_up_weeks` after the course's
/// last session (at once if that has passed). Returns whether it was scheduled (false when
/// it was already, or there is no follow-up form).
pub(super) fn schedule_follow_up(
    conn: &mut DbConn,
    course_id: &str,
    booking_id: &str,
    now: NaiveDateTime,
    settings: &Settings,
) -> QueryResult<bool> {
    let Some(course) = course_facts(conn, course_id)? else {
        return Ok(false);
    };
    let Some(form_id) = current_form_id(conn, course_id, FormKind::FollowUp)? else {
        return Ok(false);
    };
    let weeks = Duration::weeks(i64::from(settings.evaluation.follow_up_weeks));
    let send_at = course.last_session_end.unwrap_or(now) + weeks;
    insert_invitation(
        conn,
        &new_id(),
        course_id,
        booking_id,
        &form_id,
        FormKind::FollowUp,
        now,
        send_at,
        None,
    )
}

/// What one run of the evaluation job did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobReport {
    /// Rows the run read to find its work: due courses, due invitations and due reminders.
    /// Nothing changed and nothing come due since the last run reads none.
    pub examined: usize,
    /// Post-course invitations created by the job (for courses the hook missed).
    pub created: usize,
    /// Follow-ups scheduled for consenting answers that had none.
    pub follow_ups_scheduled: usize,
    /// Post-course invitations emailed.
    pub invitations_sent: usize,
    /// Follow-up invitations emailed because they came due.
    pub follow_ups_sent: usize,
    /// Reminders queued.
    pub reminders: usize,
}

impl JobReport {
    /// Whether anything was queued (so the email worker should be woken).
    pub fn queued_email(&self) -> bool {
        self.invitations_sent + self.follow_ups_sent + self.reminders > 0
    }
}

/// The first of the reminder `days` (counted from `sent_at`), from the `from`th on, that is
/// still to come at `now`; `None` when there is none.
fn next_reminder(
    days: &[u32],
    from: usize,
    sent_at: NaiveDateTime,
    now: NaiveDateTime,
) -> Option<NaiveDateTime> {
    days.iter()
        .skip(from)
        .map(|d| sent_at + Duration::days(i64::from(*d)))
        .find(|t| *t > now)
}

/// Looks at one course of the evaluation due-queue in one transaction: invites its attendees
/// not yet invited (once its last register is recorded), schedules follow-ups for its
/// consenting answers without one, and takes the course off the queue unless a new reason
/// came after `version` was read. Returns (invitations created, follow-ups scheduled).
fn work_due_course(
    conn: &mut DbConn,
    course_id: &str,
    version: i64,
    now: NaiveDateTime,
    settings: &Settings,
) -> QueryResult<(usize, usize)> {
    crate::db::write_tx(conn, |c| {
        // The queue row first: a register being saved locks the course's queue row (its
        // attendance triggers) before its report mark, so this transaction, whose invitations
        // mark the course for the report cells, takes them in the same order. Taken the other
        // way round, the two could each wait for the other (PostgreSQL's deadlock detector then
        // failed the register's save). The row goes when this transaction commits, as before.
        diesel::delete(
            evaluation_due::table
                .filter(evaluation_due::course_id.eq(course_id))
                .filter(evaluation_due::version.eq(version)),
        )
        .execute(c)?;
        let recorded: Option<Option<NaiveDateTime>> = courses::table
            .find(course_id)
            .select(courses::last_register_recorded_at)
            .first(c)
            .optional()?;
        let created = match recorded {
            Some(Some(_)) => on_course_register_complete(c, course_id, now)?,
            _ => 0,
        };
        let followed = evaluation_invitations::table
            .filter(evaluation_invitations::booking_id.eq(evaluation_responses::booking_id))
            .filter(evaluation_invitations::kind.eq(FormKind::FollowUp.as_str()));
        let consenting: Vec<String> = evaluation_responses::table
            .filter(evaluation_responses::course_id.eq(course_id))
            .filter(evaluation_responses::kind.eq(FormKind::PostCourse.as_str()))
            .filter(evaluation_responses::consent_follow_up.eq(true))
            .filter(diesel::dsl::not(diesel::dsl::exists(followed)))
            .select(evaluation_responses::booking_id)
            .load(c)?;
        let mut scheduled = 0;
        for booking_id in consenting {
            if schedule_follow_up(c, course_id, &booking_id, now, settings)? {
                scheduled += 1;
            }
        }
        Ok((created, scheduled))
    })
}

/// One run of the evaluation job, as of `now`. It reads only what has changed or come due:
///
/// 1. the courses on the `evaluation_due` queue whose last session has ended (triggers put a
///    course there in the transaction that marks an attendee, records the last register,
///    saves a consenting answer or chooses a form): attendees not yet invited are invited (a
///    safety net behind the attendance hook) and consenting answers without a follow-up get
///    one;
/// 2. every invitation that has come due (post-course ones at once, follow-ups
///    `follow_up_weeks` after the last session), emailed with its own token, through the
///    index on (`sent_at`, `send_at`);
/// 3. the invitations whose `next_reminder_at` has come: a reminder on each of
///    `settings.evaluation.reminder_days` to invitations still unanswered and unexpired, each
///    once and with a fresh token, and the next reminder's time worked out.
///
/// Each item is its own short transaction, claimed with a conditional update, so several
/// copies of the service can run the job at once, and a crash loses nothing: a queue row or a
/// due time goes only in the transaction that does its work.
pub fn run_jobs(
    conn: &mut DbConn,
    now: NaiveDateTime,
    settings: &Settings,
) -> QueryResult<JobReport> {
    let mut report = JobReport::default();

    // 1. Courses on the due-queue.
    let due_courses: Vec<(String, i64)> = evaluation_due::table
        .filter(evaluation_due::due_at.le(now))
        .order(evaluation_due::due_at.asc())
        .select((evaluation_due::course_id, evaluation_due::version))
        .load(conn)?;
    report.examined += due_courses.len();
    for (course_id, version) in due_courses {
        let (created, scheduled) = work_due_course(conn, &course_id, version, now, settings)?;
        report.created += created;
        report.follow_ups_scheduled += scheduled;
    }

    // 2. Invitations that have come due.
    let days = &settings.evaluation.reminder_days;
    let due: Vec<(String, String, String, String)> = evaluation_invitations::table
        .inner_join(courses::table.on(courses::id.eq(evaluation_invitations::course_id)))
        .filter(evaluation_invitations::sent_at.is_null())
        .filter(evaluation_invitations::answered_at.is_null())
        .filter(evaluation_invitations::send_at.le(now))
        // Never about a course still running (an invitation made early waits for its end).
        .filter(courses::last_session_end.le(now))
        .filter(courses::status.ne("cancelled"))
        .order(evaluation_invitations::send_at.asc())
        .select((
            evaluation_invitations::id,
            evaluation_invitations::course_id,
            evaluation_invitations::booking_id,
            evaluation_invitations::kind,
        ))
        .load(conn)?;
    report.examined += due.len();
    for (id, course_id, booking_id, kind) in due {
        let kind = FormKind::parse(&kind).unwrap_or(FormKind::PostCourse);
        let sent = crate::db::write_tx(conn, |c| -> QueryResult<bool> {
            // Claim it: another copy of the service may be sending it too.
            let claimed = diesel::update(
                evaluation_invitations::table
                    .find(&id)
                    .filter(evaluation_invitations::sent_at.is_null()),
            )
            .set((
                evaluation_invitations::sent_at.eq(Some(now)),
                evaluation_invitations::next_reminder_at.eq(next_reminder(days, 0, now, now)),
            ))
            .execute(c)?;
            if claimed == 0 {
                return Ok(false);
            }
            let Some(course) = course_facts(c, &course_id)? else {
                return Ok(false);
            };
            send_email(
                c,
                Notification::EvaluationInvitation,
                &id,
                &booking_id,
                kind,
                &course,
                now,
                settings,
            )
        })?;
        match (sent, kind) {
            (false, _) => {}
            (true, FormKind::PostCourse) => report.invitations_sent += 1,
            (true, FormKind::FollowUp) => report.follow_ups_sent += 1,
        }
    }

    // 3. Reminders that have come due.
    type Open = (
        String,
        String,
        String,
        String,
        Option<NaiveDateTime>,
        Option<NaiveDateTime>,
        i32,
        NaiveDateTime,
    );
    let open: Vec<Open> = evaluation_invitations::table
        .filter(evaluation_invitations::next_reminder_at.le(now))
        .order(evaluation_invitations::next_reminder_at.asc())
        .select((
            evaluation_invitations::id,
            evaluation_invitations::course_id,
            evaluation_invitations::booking_id,
            evaluation_invitations::kind,
            evaluation_invitations::sent_at,
            evaluation_invitations::answered_at,
            evaluation_invitations::reminders_sent,
            evaluation_invitations::next_reminder_at.assume_not_null(),
        ))
        .load(conn)?;
    report.examined += open.len();
    for (id, course_id, booking_id, kind, sent_at, answered_at, reminders_sent, next_at) in open {
        // Moves the next reminder on, unless another copy of the service got there first.
        let reschedule = |c: &mut DbConn, next: Option<NaiveDateTime>| {
            diesel::update(
                evaluation_invitations::table
                    .find(&id)
                    .filter(evaluation_invitations::reminders_sent.eq(reminders_sent))
                    .filter(evaluation_invitations::next_reminder_at.eq(next_at)),
            )
            .set(evaluation_invitations::next_reminder_at.eq(next))
            .execute(c)
        };
        let Some(sent_at) = sent_at.filter(|_| answered_at.is_none()) else {
            // Answered (or never sent): no reminders to come.
            reschedule(conn, None)?;
            continue;
        };
        // The latest reminder day that has come; earlier ones missed (the service was
        // down) are not sent late on top of it.
        let due = days
            .iter()
            .rposition(|d| sent_at + Duration::days(i64::from(*d)) <= now)
            .filter(|due| *due as i32 >= reminders_sent);
        let Some(due) = due else {
            let next = next_reminder(days, reminders_sent.max(0) as usize, sent_at, now);
            reschedule(conn, next)?;
            continue;
        };
        let kind = FormKind::parse(&kind).unwrap_or(FormKind::PostCourse);
        let sent = crate::db::write_tx(conn, |c| -> QueryResult<bool> {
            let live: i64 = evaluation_tokens::table
                .filter(evaluation_tokens::invitation_id.eq(&id))
                .filter(evaluation_tokens::expires_at.gt(now))
                .count()
                .get_result(c)?;
            if live == 0 {
                // Every link has expired and none can be issued again: no more reminders.
                reschedule(c, None)?;
                return Ok(false);
            }
            let claimed = diesel::update(
                evaluation_invitations::table
                    .find(&id)
                    .filter(evaluation_invitations::reminders_sent.eq(reminders_sent))
                    .filter(evaluation_invitations::answered_at.is_null()),
            )
            .set((
                evaluation_invitations::reminders_sent.eq(due as i32 + 1),
                evaluation_invitations::last_reminded_at.eq(Some(now)),
                evaluation_invitations::next_reminder_at.eq(next_reminder(
                    days,
                    due + 1,
                    sent_at,
                    now,
                )),
            ))
            .execute(c)?;
            if claimed == 0 {
                return Ok(false);
            }
            let Some(course) = course_facts(c, &course_id)? else {
                return Ok(false);
            };
            if course.status == "cancelled" {
                return Ok(false);
            }
            send_email(
                c,
                Notification::EvaluationReminder,
                &id,
                &booking_id,
                kind,
                &course,
                now,
                settings,
            )
        })?;
        if sent {
            report.reminders += 1;
        }
    }
    Ok(report)
}

/// Whether an evaluation email about an invitation still holds: not once the invitation has
/// been answered. (Invitations are never deleted; an unknown one's messages hold, as an
/// unknown booking's do.)
pub fn invitation_open(conn: &mut DbConn, invitation_id: &str) -> QueryResult<bool> {
    let answered: Option<Option<NaiveDateTime>> = evaluation_invitations::table
        .find(invitation_id)
        .select(evaluation_invitations::answered_at)
        .first(conn)
        .optional()?;
    Ok(!matches!(answered, Some(Some(_))))
}

/// An evaluation waiting for its person: sent, not answered, its link still live.
#[derive(Clone, Debug)]
pub struct WaitingEvaluation {
    /// The invitation.
    pub invitation_id: String,
    /// The course.
    pub course_id: String,
    /// Its title.
    pub course_title: String,
    /// After the course, or the follow-up on impact.
    pub form_kind: FormKind,
    /// When the latest live link stops working.
    pub closes_at: NaiveDateTime,
}

/// The evaluations waiting for `person_id` at `now`, the soonest to close first.
pub fn waiting_for(
    conn: &mut DbConn,
    person_id: &str,
    now: NaiveDateTime,
) -> QueryResult<Vec<WaitingEvaluation>> {
    // One row per live link; the latest link of each invitation says when it closes.
    let rows: Vec<(String, String, String, String, NaiveDateTime)> = evaluation_invitations::table
        .inner_join(bookings::table.on(bookings::id.eq(evaluation_invitations::booking_id)))
        .inner_join(courses::table.on(courses::id.eq(evaluation_invitations::course_id)))
        .inner_join(
            evaluation_tokens::table
                .on(evaluation_tokens::invitation_id.eq(evaluation_invitations::id)),
        )
        .filter(bookings::person_id.eq(person_id))
        .filter(evaluation_invitations::sent_at.is_not_null())
        .filter(evaluation_invitations::answered_at.is_null())
        .filter(evaluation_tokens::expires_at.gt(now))
        .filter(courses::status.ne("cancelled"))
        .select((
            evaluation_invitations::id,
            courses::id,
            courses::title,
            evaluation_invitations::kind,
            evaluation_tokens::expires_at,
        ))
        .load(conn)?;
    let mut by_invitation: std::collections::BTreeMap<String, WaitingEvaluation> =
        std::collections::BTreeMap::new();
    for (invitation_id, course_id, course_title, kind, closes_at) in rows {
        let entry = by_invitation
            .entry(invitation_id.clone())
            .or_insert_with(|| WaitingEvaluation {
                invitation_id,
                course_id,
                course_title,
                form_kind: FormKind::parse(&kind).unwrap_or(FormKind::PostCourse),
                closes_at,
            });
        entry.closes_at = entry.closes_at.max(closes_at);
    }
    let mut waiting: Vec<WaitingEvaluation> = by_invitation.into_values().collect();
    waiting.sort_by(|a, b| (a.closes_at, &a.invitation_id).cmp(&(b.closes_at, &b.invitation_id)));
    Ok(waiting)
}

/// A fresh link token for `person_id`'s own waiting invitation, open until the latest live
/// link closes (a new link never lengthens the time to answer). `None` when the invitation
/// is not theirs, is answered, or has no live link.
pub fn reopen_link(
    conn: &mut DbConn,
    person_id: &str,
    invitation_id: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<String>> {
    crate::db::write_tx(conn, |conn| {
        let found = waiting_for(conn, person_id, now)?
            .into_iter()
            .find(|w| w.invitation_id == invitation_id);
        match found {
            Some(w) => issue_token(conn, invitation_id, now, w.closes_at).map(Some),
            None => Ok(None),
        }
    })
}
