//! What a person's evaluations become when they are forgotten or ask for their data.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::{
    bookings, courses, evaluation_answers, evaluation_invitations, evaluation_questions,
    evaluation_responses, evaluation_tokens,
};
use crate::db::DbConn;
use crate::domain::time::{self};
use crate::error::AppResult;

// ---------------------------------------------------------------------------------------------
// Erasure and export

/// Forgets what evaluation keeps about a person being erased, inside the erasure's
/// transaction: the free text of their answers is cleared (ratings and choices stay, so
/// reports do not change) and their links stop working.
pub fn forget_person(conn: &mut DbConn, person_id: &str) -> QueryResult<()> {
    let their_bookings = bookings::table
        .filter(bookings::person_id.eq(person_id))
        .select(bookings::id);
    let their_responses = evaluation_responses::table
        .filter(evaluation_responses::booking_id.eq_any(their_bookings))
        .select(evaluation_responses::id);
    diesel::update(
        evaluation_answers::table.filter(evaluation_answers::response_id.eq_any(their_responses)),
    )
    .set(evaluation_answers::text.eq(None::<String>))
    .execute(conn)?;
    let their_bookings = bookings::table
        .filter(bookings::person_id.eq(person_id))
        .select(bookings::id);
    let their_invitations = evaluation_invitations::table
        .filter(evaluation_invitations::booking_id.eq_any(their_bookings))
        .select(evaluation_invitations::id);
    diesel::delete(
        evaluation_tokens::table.filter(evaluation_tokens::invitation_id.eq_any(their_invitations)),
    )
    .execute(conn)?;
    Ok(())
}

/// One evaluation invitation of a person, with their own answers, for their export.
#[derive(Debug, Clone, Serialize)]
pub struct EvaluationRecord {
    /// The course.
    pub course_id: String,
    /// Its title.
    pub course_title: String,
    /// `post_course` or `follow_up`.
    pub kind: String,
    /// When the invitation was made.
    #[serde(with = "time::rfc3339")]
    pub created_at: NaiveDateTime,
    /// When it was emailed.
    #[serde(with = "time::rfc3339::option")]
    pub sent_at: Option<NaiveDateTime>,
    /// Reminders sent.
    pub reminders_sent: i32,
    /// When it was answered.
    #[serde(with = "time::rfc3339::option")]
    pub answered_at: Option<NaiveDateTime>,
    /// Their answers, question by question.
    pub answers: Vec<AnswerRecord>,
}

/// One of a person's answers.
#[derive(Debug, Clone, Serialize)]
pub struct AnswerRecord {
    /// The question as asked.
    pub question: String,
    /// A rating.
    pub rating: Option<i32>,
    /// The "before" of a before/after pair.
    pub before: Option<i32>,
    /// The "after".
    pub after: Option<i32>,
    /// The options chosen.
    pub choices: Option<Vec<String>>,
    /// Free text (cleared on erasure).
    pub text: Option<String>,
}

/// A person's evaluation invitations and their own answers (nobody else's), oldest first.
pub fn export_for(conn: &mut DbConn, person_id: &str) -> QueryResult<Vec<EvaluationRecord>> {
    #[allow(clippy::type_complexity)]
    let rows: Vec<(
        String,
        String,
        String,
        String,
        NaiveDateTime,
        Option<NaiveDateTime>,
        i32,
        Option<NaiveDateTime>,
    )> = evaluation_invitations::table
        .inner_join(bookings::table)
        .inner_join(courses::table.on(courses::id.eq(evaluation_invitations::course_id)))
        .filter(bookings::person_id.eq(person_id))
        .order((
            evaluation_invitations::created_at.asc(),
            evaluation_invitations::id.asc(),
        ))
        .select((
            evaluation_invitations::id,
            evaluation_invitations::course_id,
            courses::title,
            evaluation_invitations::kind,
            evaluation_invitations::created_at,
            evaluation_invitations::sent_at,
            evaluation_invitations::reminders_sent,
            evaluation_invitations::answered_at,
        ))
        .load(conn)?;
    let mut out = Vec::new();
    for (id, course_id, course_title, kind, created_at, sent_at, reminders_sent, answered_at) in
        rows
    {
        #[allow(clippy::type_complexity)]
        let answers: Vec<(
            String,
            Option<i32>,
            Option<i32>,
            Option<i32>,
            Option<String>,
            Option<String>,
        )> = evaluation_answers::table
            .inner_join(evaluation_responses::table)
            .inner_join(evaluation_questions::table)
            .filter(evaluation_responses::invitation_id.eq(&id))
            .order(evaluation_questions::position.asc())
            .select((
                evaluation_questions::prompt,
                evaluation_answers::rating,
                evaluation_answers::before_rating,
                evaluation_answers::after_rating,
                evaluation_answers::choices,
                evaluation_answers::text,
            ))
            .load(conn)?;
        out.push(EvaluationRecord {
            course_id,
            course_title,
            kind,
            created_at,
            sent_at,
            reminders_sent,
            answered_at,
            answers: answers
                .into_iter()
                .map(
                    |(question, rating, before, after, choices, text)| AnswerRecord {
                        question,
                        rating,
                        before,
                        after,
                        choices: choices.and_then(|c| serde_json::from_str(&c).ok()),
                        text,
                    },
                )
                .collect(),
        });
    }
    Ok(out)
}

/// What the permission rules need to know about a course for its summary: its leads; 404
/// when there is no such course.
pub fn course_lead_ids(conn: &mut DbConn, course_id: &str) -> AppResult<Vec<String>> {
    let (_, leads) = crate::store::courses::visibility_facts(conn, course_id)?;
    Ok(leads)
}
