//! Demo evaluations for `seed-demo`: for each published course whose sessions are over, the
//! registers (when none were taken), the post-course invitations of those who came, and
//! answers with believable spreads: most people rate courses well, a few do not, confidence
//! rises by a point or two, some write an action plan, about half agree to the follow-up.
//! Follow-ups that have come due are sent and partly answered too. Response rates differ by
//! course, so some summaries show figures and small courses show them suppressed.
//!
//! Idempotent: a course that has evaluation invitations already is left alone. No email is
//! queued and no link is made: the demo's history did not happen.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::db::schema::{
    attendance, attendance_history, bookings, course_sessions, courses, evaluation_answers,
    evaluation_forms, evaluation_invitations, evaluation_questions, evaluation_responses, schools,
};
use crate::db::{write_tx, DbConn};
use crate::domain::evaluation::{FormKind, QuestionKind};
use crate::store::new_id;

/// What [`seed_evaluations`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeedEvaluationsReport {
    /// Past courses given registers and evaluations now.
    pub courses: usize,
    /// Past courses that had evaluations already, left alone.
    pub existing: usize,
    /// Attendance marks written (for courses that had no register).
    pub marks: usize,
    /// Invitations made (post-course and follow-up).
    pub invitations: usize,
    /// Responses made.
    pub responses: usize,
    /// Courses whose post-course answers stay under five, so their summaries are suppressed.
    pub suppressed_courses: usize,
}

const PLANS: &[&str] = &[
    "Use the questioning stems in every maths lesson this half term.",
    "Share the strategies with our teaching assistants at the next staff meeting.",
    "Try the retrieval starters with Year 4 and compare their quizzes.",
    "Rewrite our behaviour script with the whole team.",
    "Plan one adaptive task a week for pupils with SEND.",
    "Build more talk partners into reading lessons.",
    "Audit our early reading books against the phonics scheme.",
    "Observe a colleague using the approach and then try it myself.",
];

const EVIDENCE: &[&str] = &[
    "Pupils are explaining their reasoning in full sentences more often.",
    "Fewer low-level disruptions in the afternoons, from our behaviour log.",
    "Book looks show longer and better organised writing.",
    "Reading assessments for the target group rose this term.",
];

const NEXT: &[&str] = &[
    "Time to plan with colleagues from other schools.",
    "A follow-up session in the spring.",
    "Support from our senior leaders to roll it out.",
];

/// A rating 1-5 around a course's quality (higher `quality` shifts the spread up).
fn rating(rng: &mut StdRng, quality: f64) -> i32 {
    let x: f64 = rng.gen::<f64>() + quality;
    match x {
        x if x < 0.05 => 1,
        x if x < 0.15 => 2,
        x if x < 0.35 => 3,
        x if x < 0.75 => 4,
        _ => 5,
    }
}

/// A form version: its id and its questions `(id, key, kind, guskey_level)`, in order.
type Form = (String, Vec<(String, String, String, i32)>);

/// The current version of the default form of a kind.
fn default_form(conn: &mut DbConn, kind: FormKind) -> QueryResult<Option<Form>> {
    let Some(family): Option<String> = evaluation_forms::table
        .filter(evaluation_forms::kind.eq(kind.as_str()))
        .filter(evaluation_forms::is_default.eq(true))
        .select(evaluation_forms::family_id)
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let id: String = evaluation_forms::table
        .filter(evaluation_forms::family_id.eq(family))
        .order(evaluation_forms::version.desc())
        .select(evaluation_forms::id)
        .first(conn)?;
    let questions = evaluation_questions::table
        .filter(evaluation_questions::form_id.eq(&id))
        .order(evaluation_questions::position.asc())
        .select((
            evaluation_questions::id,
            evaluation_questions::key,
            evaluation_questions::kind,
            evaluation_questions::guskey_level,
        ))
        .load(conn)?;
    Ok(Some((id, questions)))
}

/// Gives the published courses whose last session ended before `now`, and that have no
/// evaluation invitations yet, registers (when missing), invitations and answers. The same
/// `seed` makes the same choices for the same courses and bookings.
pub fn seed_evaluations(
    conn: &mut DbConn,
    now: NaiveDateTime,
    seed: u64,
    follow_up_weeks: u32,
) -> anyhow::Result<SeedEvaluationsReport> {
    let mut report = SeedEvaluationsReport::default();
    let Some(post) = default_form(conn, FormKind::PostCourse)? else {
        return Ok(report);
    };
    let follow = default_form(conn, FormKind::FollowUp)?;
    let past: Vec<(String, NaiveDateTime)> = courses::table
        .filter(courses::status.eq("published"))
        .filter(courses::last_session_end.lt(now))
        .order((courses::first_session_start.asc(), courses::title.asc()))
        .select((courses::id, courses::last_session_end.assume_not_null()))
        .load(conn)?;
    for (n, (course_id, last_end)) in past.into_iter().enumerate() {
        let invited: i64 = evaluation_invitations::table
            .filter(evaluation_invitations::course_id.eq(&course_id))
            .count()
            .get_result(conn)?;
        if invited > 0 {
            report.existing += 1;
            continue;
        }
        // One generator per course, so adding a course does not change the others.
        let mut rng = StdRng::seed_from_u64(seed ^ (n as u64).wrapping_mul(0x9E37_79B9));
        let r = write_tx(conn, |conn| {
            // Every third course is answered by few, so its summary shows suppression.
            let few = n % 3 == 1;
            seed_course(
                conn,
                &mut rng,
                &course_id,
                last_end,
                now,
                &post,
                follow.as_ref(),
                follow_up_weeks,
                few,
            )
        })?;
        report.courses += 1;
        report.marks += r.marks;
        report.invitations += r.invitations;
        report.responses += r.responses;
        if r.post_responses < 5 {
            report.suppressed_courses += 1;
        }
    }
    Ok(report)
}

#[derive(Default)]
struct CourseReport {
    marks: usize,
    invitations: usize,
    responses: usize,
    post_responses: usize,
}

#[allow(clippy::too_many_arguments)]
fn seed_course(
    conn: &mut DbConn,
    rng: &mut StdRng,
    course_id: &str,
    last_end: NaiveDateTime,
    now: NaiveDateTime,
    post: &Form,
    follow: Option<&Form>,
    follow_up_weeks: u32,
    few: bool,
) -> QueryResult<CourseReport> {
    let mut report = CourseReport::default();
    let booked: Vec<(String, Option<String>, Option<String>)> = bookings::table
        .filter(bookings::course_id.eq(course_id))
        .filter(bookings::status.eq("confirmed"))
        .order(bookings::id.asc())
        .select((bookings::id, bookings::school_id, bookings::staff_group_id))
        .load(conn)?;
    let sessions: Vec<(String, NaiveDateTime)> = course_sessions::table
        .filter(course_sessions::course_id.eq(course_id))
        .order(course_sessions::start_at.asc())
        .select((course_sessions::id, course_sessions::end_at))
        .load(conn)?;
    let marked: i64 = attendance::table
        .filter(attendance::course_id.eq(course_id))
        .count()
        .get_result(conn)?;
    let recorded = last_end + Duration::hours(1);
    if marked == 0 {
        for (session_id, end) in &sessions {
            let at = *end + Duration::minutes(30);
            for (booking_id, _, _) in &booked {
                let status = match rng.gen_range(0..100) {
                    0..=83 => "present",
                    84..=88 => "late",
                    89..=90 => "left_early",
                    91..=96 => "absent",
                    _ => "apologies",
                };
                diesel::insert_into(attendance::table)
                    .values((
                        attendance::booking_id.eq(booking_id),
                        attendance::session_id.eq(session_id),
                        attendance::course_id.eq(course_id),
                        attendance::status.eq(status),
                        attendance::source.eq("register"),
                        attendance::recorded_at.eq(at),
                    ))
                    .execute(conn)?;
                diesel::insert_into(attendance_history::table)
                    .values((
                        attendance_history::id.eq(new_id()),
                        attendance_history::booking_id.eq(booking_id),
                        attendance_history::session_id.eq(session_id),
                        attendance_history::at.eq(at),
                        attendance_history::to_status.eq(status),
                        attendance_history::source.eq("register"),
                        attendance_history::admin_override.eq(false),
                    ))
                    .execute(conn)?;
                report.marks += 1;
            }
            diesel::update(course_sessions::table.find(session_id))
                .set(course_sessions::register_recorded_at.eq(Some(at)))
                .execute(conn)?;
        }
        diesel::update(courses::table.find(course_id))
            .set(courses::last_register_recorded_at.eq(Some(recorded)))
            .execute(conn)?;
    }
    let attended: Vec<String> = attendance::table
        .filter(attendance::course_id.eq(course_id))
        .filter(attendance::status.eq_any(crate::store::evaluation::ATTENDED))
        .select(attendance::booking_id)
        .distinct()
        .order(attendance::booking_id.asc())
        .load(conn)?;
    // Courses differ: how good people found them, and how many answered.
    let quality: f64 = rng.gen_range(-0.1..0.2);
    let rate: f64 = if few {
        rng.gen_range(0.08..0.15)
    } else {
        rng.gen_range(0.45..0.9)
    };
    let follow_due = last_end + Duration::weeks(i64::from(follow_up_weeks));
    for booking_id in attended {
        let Some((_, school_id, staff_group_id)) = booked.iter().find(|b| b.0 == booking_id) else {
            continue;
        };
        let invitation = new_id();
        let answered = rng.gen_bool(rate);
        let answered_at = answered.then(|| recorded + Duration::hours(rng.gen_range(2..24 * 9)));
        let reminded = !answered || answered_at.is_some_and(|t| t > recorded + Duration::days(5));
        insert_invitation(
            conn,
            &invitation,
            course_id,
            &booking_id,
            &post.0,
            FormKind::PostCourse,
            recorded,
            Some(recorded),
            i32::from(reminded && recorded + Duration::days(5) < now),
            answered_at.filter(|t| *t < now),
        )?;
        report.invitations += 1;
        let Some(at) = answered_at.filter(|t| *t < now) else {
            continue;
        };
        let consent = rng.gen_bool(0.55);
        respond(
            conn,
            rng,
            &invitation,
            course_id,
            &booking_id,
            school_id.as_deref(),
            staff_group_id.as_deref(),
            post,
            FormKind::PostCourse,
            at,
            quality,
            consent,
        )?;
        report.responses += 1;
        report.post_responses += 1;
        let Some(follow) = follow.filter(|_| consent) else {
            continue;
        };
        let sent = (follow_due <= now).then_some(follow_due);
        let follow_answered = sent
            .filter(|_| rng.gen_bool(0.5))
            .map(|s| s + Duration::hours(rng.gen_range(2..24 * 4)))
            .filter(|t| *t < now);
        let fid = new_id();
        insert_invitation(
            conn,
            &fid,
            course_id,
            &booking_id,
            &follow.0,
            FormKind::FollowUp,
            follow_due,
            sent,
            0,
            follow_answered,
        )?;
        report.invitations += 1;
        if let Some(at) = follow_answered {
            respond(
                conn,
                rng,
                &fid,
                course_id,
                &booking_id,
                school_id.as_deref(),
                staff_group_id.as_deref(),
                follow,
                FormKind::FollowUp,
                at,
                quality - 0.1,
                false,
            )?;
            report.responses += 1;
        }
    }
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
fn insert_invitation(
    conn: &mut DbConn,
    id: &str,
    course_id: &str,
    booking_id: &str,
    form_id: &str,
    kind: FormKind,
    send_at: NaiveDateTime,
    sent_at: Option<NaiveDateTime>,
    reminders_sent: i32,
    answered_at: Option<NaiveDateTime>,
) -> QueryResult<usize> {
    diesel::insert_into(evaluation_invitations::table)
        .values((
            evaluation_invitations::id.eq(id),
            evaluation_invitations::course_id.eq(course_id),
            evaluation_invitations::booking_id.eq(booking_id),
            evaluation_invitations::form_id.eq(form_id),
            evaluation_invitations::kind.eq(kind.as_str()),
            evaluation_invitations::created_at.eq(send_at),
            evaluation_invitations::send_at.eq(send_at),
            evaluation_invitations::sent_at.eq(sent_at),
            evaluation_invitations::reminders_sent.eq(reminders_sent),
            evaluation_invitations::answered_at.eq(answered_at),
        ))
        .execute(conn)
}

#[allow(clippy::too_many_arguments)]
fn respond(
    conn: &mut DbConn,
    rng: &mut StdRng,
    invitation_id: &str,
    course_id: &str,
    booking_id: &str,
    school_id: Option<&str>,
    staff_group_id: Option<&str>,
    form: &Form,
    kind: FormKind,
    at: NaiveDateTime,
    quality: f64,
    consent: bool,
) -> QueryResult<()> {
    let cluster_id: Option<String> = match school_id {
        Some(s) => schools::table
            .find(s)
            .select(schools::cluster_id)
            .first::<Option<String>>(conn)
            .optional()?
            .flatten(),
        None => None,
    };
    let response_id = new_id();
    let mut rows = Vec::new();
    let (mut satisfaction, mut impact, mut before_after) = (None, None, None);
    for (qid, key, qkind, level) in &form.1 {
        let (mut r, mut b, mut a, mut choices, mut text) = (None, None, None, None, None);
        match QuestionKind::parse(qkind) {
            Some(QuestionKind::Rating) => {
                let v = rating(rng, quality);
                if key == "overall" {
                    satisfaction = Some(v);
                }
                if key == "used_in_practice" {
                    impact = Some(v);
                }
                r = Some(v);
            }
            Some(QuestionKind::Retrospective) => {
                let before = rng.gen_range(1..=3);
                let after = (before + rng.gen_range(0..=2) + i32::from(quality > 0.0)).min(5);
                before_after = Some((before, after));
                (b, a) = (Some(before), Some(after));
            }
            Some(QuestionKind::SingleChoice) if key == "consent_follow_up" => {
                choices = Some(format!("[\"{}\"]", if consent { "yes" } else { "no" }));
            }
            Some(QuestionKind::MultipleChoice) if rng.gen_bool(0.7) => {
                let all = ["ks1", "ks2", "send", "disadvantaged", "early_years", "all"];
                let first = all[rng.gen_range(0..all.len())];
                let second = all[rng.gen_range(0..all.len())];
                let mut picked = vec![first];
                if second != first && rng.gen_bool(0.4) {
                    picked.push(second);
                }
                choices = Some(serde_json::to_string(&picked).unwrap_or_default());
            }
            Some(QuestionKind::FreeText) => {
                let pool = match key.as_str() {
                    "action_plan" => PLANS,
                    "evidence" => EVIDENCE,
                    _ => NEXT,
                };
                if rng.gen_bool(0.4) {
                    text = Some(pool[rng.gen_range(0..pool.len())].to_string());
                }
            }
            _ => {}
        }
        if r.is_some() || b.is_some() || choices.is_some() || text.is_some() {
            rows.push((qid.clone(), *level, r, b, a, choices, text));
        }
    }
    diesel::insert_into(evaluation_responses::table)
        .values((
            evaluation_responses::id.eq(&response_id),
            evaluation_responses::invitation_id.eq(invitation_id),
            evaluation_responses::course_id.eq(course_id),
            evaluation_responses::booking_id.eq(booking_id),
            evaluation_responses::form_id.eq(&form.0),
            evaluation_responses::kind.eq(kind.as_str()),
            evaluation_responses::school_id.eq(school_id),
            evaluation_responses::cluster_id.eq(cluster_id),
            evaluation_responses::staff_group_id.eq(staff_group_id),
            evaluation_responses::submitted_at.eq(at),
            evaluation_responses::satisfaction.eq(satisfaction),
            evaluation_responses::impact.eq(impact),
            evaluation_responses::confidence_before.eq(before_after.map(|p| f64::from(p.0))),
            evaluation_responses::confidence_after.eq(before_after.map(|p| f64::from(p.1))),
            evaluation_responses::consent_follow_up
                .eq((kind == FormKind::PostCourse).then_some(consent)),
        ))
        .execute(conn)?;
    for (qid, level, r, b, a, choices, text) in rows {
        diesel::insert_into(evaluation_answers::table)
            .values((
                evaluation_answers::response_id.eq(&response_id),
                evaluation_answers::question_id.eq(qid),
                evaluation_answers::guskey_level.eq(level),
                evaluation_answers::rating.eq(r),
                evaluation_answers::before_rating.eq(b),
                evaluation_answers::after_rating.eq(a),
                evaluation_answers::choices.eq(choices),
                evaluation_answers::text.eq(text),
            ))
            .execute(conn)?;
    }
    Ok(())
}
