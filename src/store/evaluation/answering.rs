//! Opening an invitation and submitting its answers, checked against the form version the
//! invitation was issued for.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use serde_json::Value;

use crate::config::Settings;
use crate::db::schema::{
    bookings, evaluation_answers, evaluation_invitations, evaluation_responses, evaluation_tokens,
    schools,
};
use crate::db::DbConn;
use crate::domain::evaluation::{Answer, AnswerErrors, FormKind, Question};
use crate::domain::time::{self};
use crate::error::AppResult;
use crate::store::new_id;

use super::forms::{form_row, question_rows, view, FormView, QuestionRow};
use super::invitations::{course_dates, course_facts, schedule_follow_up};

// ---------------------------------------------------------------------------------------------
// Answering

/// An open invitation as its form page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Invitation {
    /// `post_course` or `follow_up`.
    pub kind: String,
    /// The course.
    pub course: InvitationCourse,
    /// The form version to answer, with its questions.
    pub form: FormView,
    /// When this link stops working.
    #[serde(with = "time::rfc3339")]
    pub expires_at: NaiveDateTime,
    #[serde(skip)]
    invitation_id: String,
}

/// The course an invitation is about.
#[derive(Debug, Clone, Serialize)]
pub struct InvitationCourse {
    /// The course's id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Its dates as people read them, e.g. `Thursday 14 January 2027`.
    pub dates: String,
    /// When its first session started.
    #[serde(with = "time::rfc3339::option")]
    pub first_session_start: Option<NaiveDateTime>,
    /// When its last session ended.
    #[serde(with = "time::rfc3339::option")]
    pub last_session_end: Option<NaiveDateTime>,
}

/// What a token opens.
#[derive(Debug, Clone)]
pub enum Opened {
    /// No such token.
    Unknown,
    /// The token's time is up.
    Expired,
    /// The invitation has been answered (with this token or another of its own).
    Answered,
    /// A form to answer.
    Open(Box<Invitation>),
}

/// Looks a token up (by its SHA-256) as of `now`.
pub fn open(conn: &mut DbConn, token_hash: &str, now: NaiveDateTime) -> QueryResult<Opened> {
    let found: Option<(
        String,
        NaiveDateTime,
        String,
        String,
        String,
        Option<NaiveDateTime>,
    )> = evaluation_tokens::table
        .inner_join(evaluation_invitations::table)
        .filter(evaluation_tokens::token_hash.eq(token_hash))
        .select((
            evaluation_invitations::id,
            evaluation_tokens::expires_at,
            evaluation_invitations::kind,
            evaluation_invitations::course_id,
            evaluation_invitations::form_id,
            evaluation_invitations::answered_at,
        ))
        .first(conn)
        .optional()?;
    let Some((invitation_id, expires_at, kind, course_id, form_id, answered_at)) = found else {
        return Ok(Opened::Unknown);
    };
    if answered_at.is_some() {
        return Ok(Opened::Answered);
    }
    if expires_at <= now {
        return Ok(Opened::Expired);
    }
    let (Some(course), Some(form)) = (course_facts(conn, &course_id)?, form_row(conn, &form_id)?)
    else {
        return Ok(Opened::Unknown);
    };
    Ok(Opened::Open(Box::new(Invitation {
        kind,
        course: InvitationCourse {
            dates: course_dates(course.first_session_start, course.last_session_end),
            id: course.id,
            title: course.title,
            first_session_start: course.first_session_start,
            last_session_end: course.last_session_end,
        },
        form: view(conn, form)?,
        expires_at,
        invitation_id,
    })))
}

/// The questions of a form version as the rules need them.
pub fn form_questions(conn: &mut DbConn, form_id: &str) -> QueryResult<Vec<Question>> {
    Ok(question_rows(conn, form_id)?
        .iter()
        .map(QuestionRow::question)
        .collect())
}

/// The outcome of a submission.
#[derive(Debug, Clone)]
pub enum Submitted {
    /// No such token.
    Unknown,
    /// The token's time is up.
    Expired,
    /// Answered already: nothing changed.
    Answered,
    /// Some answers are not acceptable (question key -> message): nothing changed.
    Invalid(AnswerErrors),
    /// Saved.
    Saved {
        /// Whether an impact follow-up was scheduled (the person agreed to one).
        follow_up_scheduled: bool,
    },
}

/// Saves an answer set for the invitation of a token, in one write transaction: the
/// response (with the booking's school, cluster and staff group, and the headline figures),
/// its answers, the invitation marked answered, and the follow-up scheduled when the person
/// agreed to one. Claiming the invitation (`answered_at` set only while unset) makes a
/// second submission, however concurrent, find it answered.
pub fn submit(
    conn: &mut DbConn,
    token_hash: &str,
    submitted: &serde_json::Map<String, Value>,
    now: NaiveDateTime,
    settings: &Settings,
) -> AppResult<Submitted> {
    crate::db::write_tx(conn, |conn| {
        let invitation = match open(conn, token_hash, now)? {
            Opened::Unknown => return Ok(Submitted::Unknown),
            Opened::Expired => return Ok(Submitted::Expired),
            Opened::Answered => return Ok(Submitted::Answered),
            Opened::Open(i) => i,
        };
        let questions = question_rows(conn, &invitation.form.id)?;
        let rules: Vec<Question> = questions.iter().map(QuestionRow::question).collect();
        let set = match crate::domain::evaluation::validate_answers(&rules, submitted) {
            Ok(set) => set,
            Err(errors) => return Ok(Submitted::Invalid(errors)),
        };
        let claimed = diesel::update(
            evaluation_invitations::table
                .find(&invitation.invitation_id)
                .filter(evaluation_invitations::answered_at.is_null()),
        )
        .set(evaluation_invitations::answered_at.eq(Some(now)))
        .execute(conn)?;
        if claimed == 0 {
            return Ok(Submitted::Answered);
        }
        let (booking_id, school_id, staff_group_id): (String, Option<String>, Option<String>) =
            evaluation_invitations::table
                .inner_join(bookings::table)
                .filter(evaluation_invitations::id.eq(&invitation.invitation_id))
                .select((bookings::id, bookings::school_id, bookings::staff_group_id))
                .first(conn)?;
        let cluster_id: Option<String> = match &school_id {
            Some(s) => schools::table
                .find(s)
                .select(schools::cluster_id)
                .first::<Option<String>>(conn)
                .optional()?
                .flatten(),
            None => None,
        };
        let response_id = new_id();
        let h = &set.headline;
        diesel::insert_into(evaluation_responses::table)
            .values((
                evaluation_responses::id.eq(&response_id),
                evaluation_responses::invitation_id.eq(&invitation.invitation_id),
                evaluation_responses::course_id.eq(&invitation.course.id),
                evaluation_responses::booking_id.eq(&booking_id),
                evaluation_responses::form_id.eq(&invitation.form.id),
                evaluation_responses::kind.eq(&invitation.kind),
                evaluation_responses::school_id.eq(&school_id),
                evaluation_responses::cluster_id.eq(&cluster_id),
                evaluation_responses::staff_group_id.eq(&staff_group_id),
                evaluation_responses::submitted_at.eq(now),
                evaluation_responses::satisfaction.eq(h.satisfaction),
                evaluation_responses::impact.eq(h.impact),
                evaluation_responses::confidence_before.eq(h.confidence_before),
                evaluation_responses::confidence_after.eq(h.confidence_after),
                evaluation_responses::consent_follow_up.eq(h.consent_follow_up),
            ))
            .execute(conn)?;
        for (key, answer) in &set.answers {
            let Some(q) = questions.iter().find(|q| &q.key == key) else {
                continue;
            };
            let (mut rating, mut before, mut after, mut choices, mut text) =
                (None, None, None, None, None);
            match answer {
                Answer::Rating(r) => rating = Some(*r),
                Answer::Retrospective {
                    before: b,
                    after: a,
                } => {
                    before = Some(*b);
                    after = Some(*a);
                }
                Answer::Choices(c) => choices = Some(serde_json::to_string(c).unwrap_or_default()),
                Answer::Text(t) => text = Some(t.clone()),
            }
            diesel::insert_into(evaluation_answers::table)
                .values((
                    evaluation_answers::response_id.eq(&response_id),
                    evaluation_answers::question_id.eq(&q.id),
                    evaluation_answers::guskey_level.eq(q.guskey_level),
                    evaluation_answers::rating.eq(rating),
                    evaluation_answers::before_rating.eq(before),
                    evaluation_answers::after_rating.eq(after),
                    evaluation_answers::choices.eq(choices),
                    evaluation_answers::text.eq(text),
                ))
                .execute(conn)?;
        }
        let follow_up_scheduled = invitation.kind == FormKind::PostCourse.as_str()
            && h.consent_follow_up == Some(true)
            && schedule_follow_up(conn, &invitation.course.id, &booking_id, now, settings)?;
        Ok(Submitted::Saved {
            follow_up_scheduled,
        })
    })
}
