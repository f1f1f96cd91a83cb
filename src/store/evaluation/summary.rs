//! A course's evaluation results as the course lead sees them, with small groups suppressed
//! before any figure leaves the store.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::{
    evaluation_answers, evaluation_forms, evaluation_invitations, evaluation_questions,
    evaluation_responses,
};
use crate::db::DbConn;
use crate::domain::evaluation::{ChoiceOption, FormKind, QuestionKind, RATING_MAX, RATING_MIN};
use crate::domain::suppression::{cell, Cell, Threshold};
use crate::domain::time::{self};
use crate::error::{AppError, AppResult};

use super::invitations::course_facts;

// ---------------------------------------------------------------------------------------------
// The course summary

/// One course's evaluation results.
#[derive(Debug, Clone, Serialize)]
pub struct EvaluationSummary {
    /// The course.
    pub course: EvaluationCourse,
    /// The fewest respondents any figure is shown for.
    pub min_responses: u32,
    /// The post-course form's results.
    pub post_course: KindSummary,
    /// The impact follow-up's results.
    pub follow_up: KindSummary,
}

/// The course a summary is about.
#[derive(Debug, Clone, Serialize)]
pub struct EvaluationCourse {
    /// Its id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// When its first session started.
    #[serde(with = "time::rfc3339::option")]
    pub first_session_start: Option<NaiveDateTime>,
    /// When its last session ended.
    #[serde(with = "time::rfc3339::option")]
    pub last_session_end: Option<NaiveDateTime>,
}

/// One kind's results: the counts, and the figures (or `suppressed` and `reason` in their
/// place when fewer than `min_responses` answered).
#[derive(Debug, Clone, Serialize)]
pub struct KindSummary {
    /// Invitations sent.
    pub invited: u64,
    /// Invitations scheduled but not yet sent (follow-ups wait some weeks).
    pub scheduled: u64,
    /// Invitations answered.
    pub responded: u64,
    /// responded / invited, or null when no one was invited.
    pub response_rate: Option<f64>,
    /// `questions`, or `suppressed` and `reason`.
    #[serde(flatten)]
    pub results: Cell<KindResults>,
}

/// The figures of one kind.
#[derive(Debug, Clone, Serialize)]
pub struct KindResults {
    /// Per question, in the order of the newest form version answered.
    pub questions: Vec<QuestionSummary>,
}

/// One question's results. A question answered by fewer than `min_responses` shows
/// `suppressed` and `reason` instead of its figures.
#[derive(Debug, Clone, Serialize)]
pub struct QuestionSummary {
    /// The question's key.
    pub key: String,
    /// Its kind.
    pub kind: String,
    /// The question as asked (in the newest version answered).
    pub prompt: String,
    /// Its Guskey level.
    pub guskey_level: i32,
    /// What the reports read from it.
    pub metric: Option<String>,
    /// How many answered it.
    pub answered: u64,
    /// How many of those answers the figures use: the earliest, in the largest whole multiple
    /// of the threshold (so 10 of 13 at a threshold of 5). Figures change only when another
    /// whole step of answers has arrived, so no single answer can be read off a change.
    pub counted: u64,
    /// The figures, or the suppression marker.
    #[serde(flatten)]
    pub figures: Cell<Figures>,
}

/// Figures per kind of question.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Figures {
    /// A rating.
    Rating {
        /// The label of 1.
        low_label: Option<String>,
        /// The label of 5.
        high_label: Option<String>,
        /// The mean, to two decimal places.
        mean: f64,
        /// How many gave each rating, "1" to "5".
        distribution: BTreeMap<String, u64>,
    },
    /// A before/after pair.
    Retrospective {
        /// The label of 1.
        low_label: Option<String>,
        /// The label of 5.
        high_label: Option<String>,
        /// The mean before.
        mean_before: f64,
        /// The mean after.
        mean_after: f64,
        /// mean_after - mean_before.
        shift: f64,
        /// How many gave each rating before.
        distribution_before: BTreeMap<String, u64>,
        /// And after.
        distribution_after: BTreeMap<String, u64>,
    },
    /// A choice question.
    Choices {
        /// Each option (of every version answered) with how many chose it.
        counts: Vec<ChoiceCount>,
    },
    /// Free text.
    Text {
        /// The answers, sorted so their order says nothing about who wrote them; absent
        /// for callers who may not read them.
        #[serde(skip_serializing_if = "Option::is_none")]
        answers: Option<Vec<String>>,
    },
}

/// How many chose one option.
#[derive(Debug, Clone, Serialize)]
pub struct ChoiceCount {
    /// The option's value.
    pub value: String,
    /// Its label.
    pub label: String,
    /// How many chose it.
    pub count: u64,
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn distribution(values: &[i32]) -> BTreeMap<String, u64> {
    (RATING_MIN..=RATING_MAX)
        .map(|r| {
            (
                r.to_string(),
                values.iter().filter(|v| **v == r).count() as u64,
            )
        })
        .collect()
}

fn mean(values: &[i32]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    round2(values.iter().map(|v| f64::from(*v)).sum::<f64>() / values.len() as f64)
}

#[derive(Debug, Clone, Queryable)]
struct AnswerRow {
    form_version: i32,
    position: i32,
    key: String,
    kind: String,
    prompt: String,
    guskey_level: i32,
    low_label: Option<String>,
    high_label: Option<String>,
    options: Option<String>,
    metric: Option<String>,
    rating: Option<i32>,
    before: Option<i32>,
    after: Option<i32>,
    choices: Option<String>,
    text: Option<String>,
    /// When the response arrived, and its id: the order answers are released in.
    submitted_at: NaiveDateTime,
    response_id: String,
}

/// The evaluation summary of a course; 404 when there is no such course. Free-text answers
/// are included only `with_text`. Every figure follows the suppression rules of
/// `domain::suppression`: a kind answered by fewer than the threshold shows no figures, and
/// a question answered by fewer shows none either. No id, name or order of submission is
/// in it.
pub fn course_summary(
    conn: &mut DbConn,
    course_id: &str,
    threshold: Threshold,
    with_text: bool,
) -> AppResult<EvaluationSummary> {
    crate::db::read_tx(conn, |conn| {
        let course = course_facts(conn, course_id)?.ok_or(AppError::NotFound)?;
        let mut kinds = Vec::new();
        for kind in FormKind::ALL {
            kinds.push(kind_summary(conn, course_id, kind, threshold, with_text)?);
        }
        let follow_up = kinds.pop().expect("two kinds");
        let post_course = kinds.pop().expect("two kinds");
        Ok(EvaluationSummary {
            course: EvaluationCourse {
                id: course.id,
                title: course.title,
                first_session_start: course.first_session_start,
                last_session_end: course.last_session_end,
            },
            min_responses: threshold.get(),
            post_course,
            follow_up,
        })
    })
}

fn kind_summary(
    conn: &mut DbConn,
    course_id: &str,
    kind: FormKind,
    threshold: Threshold,
    with_text: bool,
) -> QueryResult<KindSummary> {
    let of_kind = evaluation_invitations::course_id
        .eq(course_id)
        .and(evaluation_invitations::kind.eq(kind.as_str()));
    let invited: i64 = evaluation_invitations::table
        .filter(of_kind)
        .filter(evaluation_invitations::sent_at.is_not_null())
        .count()
        .get_result(conn)?;
    let scheduled: i64 = evaluation_invitations::table
        .filter(of_kind)
        .filter(evaluation_invitations::sent_at.is_null())
        .count()
        .get_result(conn)?;
    let responded: i64 = evaluation_responses::table
        .filter(evaluation_responses::course_id.eq(course_id))
        .filter(evaluation_responses::kind.eq(kind.as_str()))
        .count()
        .get_result(conn)?;
    let (invited, scheduled, responded) = (invited as u64, scheduled as u64, responded as u64);
    let results = if threshold.allows(responded) {
        Cell::Shown(KindResults {
            questions: question_summaries(conn, course_id, kind, threshold, with_text)?,
        })
    } else {
        Cell::Suppressed(threshold.suppressed())
    };
    Ok(KindSummary {
        invited,
        scheduled,
        responded,
        response_rate: (invited > 0).then(|| round2(responded as f64 / invited as f64)),
        results,
    })
}

fn question_summaries(
    conn: &mut DbConn,
    course_id: &str,
    kind: FormKind,
    threshold: Threshold,
    with_text: bool,
) -> QueryResult<Vec<QuestionSummary>> {
    let rows: Vec<AnswerRow> = evaluation_answers::table
        .inner_join(evaluation_responses::table)
        .inner_join(evaluation_questions::table.inner_join(evaluation_forms::table))
        .filter(evaluation_responses::course_id.eq(course_id))
        .filter(evaluation_responses::kind.eq(kind.as_str()))
        .select((
            evaluation_forms::version,
            evaluation_questions::position,
            evaluation_questions::key,
            evaluation_questions::kind,
            evaluation_questions::prompt,
            evaluation_questions::guskey_level,
            evaluation_questions::low_label,
            evaluation_questions::high_label,
            evaluation_questions::options,
            evaluation_questions::metric,
            evaluation_answers::rating,
            evaluation_answers::before_rating,
            evaluation_answers::after_rating,
            evaluation_answers::choices,
            evaluation_answers::text,
            evaluation_responses::submitted_at,
            evaluation_responses::id,
        ))
        .load(conn)?;
    // Group by (key, kind): a key keeps its meaning across a family's versions unless its
    // kind changed. The newest version answered gives the prompt, the labels and the order.
    let mut groups: Vec<((String, String), Vec<AnswerRow>)> = Vec::new();
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    for r in rows {
        let k = (r.key.clone(), r.kind.clone());
        match index.get(&k) {
            Some(&i) => groups[i].1.push(r),
            None => {
                index.insert(k.clone(), groups.len());
                groups.push((k, vec![r]));
            }
        }
    }
    let newest = |rows: &[AnswerRow]| {
        rows.iter()
            .max_by_key(|r| r.form_version)
            .cloned()
            .expect("a group has rows")
    };
    groups.sort_by_key(|(_, rows)| {
        let n = newest(rows);
        (-n.form_version, n.position)
    });
    let mut out = Vec::new();
    for ((key, qkind), rows) in groups {
        let top = newest(&rows);
        let qk = QuestionKind::parse(&qkind).unwrap_or(QuestionKind::FreeText);
        let has_answer = |r: &AnswerRow| match qk {
            QuestionKind::Rating => r.rating.is_some(),
            QuestionKind::Retrospective => r.before.is_some() && r.after.is_some(),
            QuestionKind::SingleChoice | QuestionKind::MultipleChoice => r.choices.is_some(),
            QuestionKind::FreeText => r.text.as_ref().is_some_and(|t| !t.trim().is_empty()),
        };
        let mut answers: Vec<AnswerRow> = rows.iter().filter(|r| has_answer(r)).cloned().collect();
        let answered = answers.len() as u64;
        // The figures use the earliest answers in whole steps of the threshold, so a summary
        // read before and after one more answer cannot be differenced to reveal it.
        answers.sort_by(|a, b| {
            (a.submitted_at, &a.response_id).cmp(&(b.submitted_at, &b.response_id))
        });
        let counted = threshold.released(answered);
        answers.truncate(counted as usize);
        let rows = answers;
        let texts: Vec<String> = rows.iter().filter_map(|r| r.text.clone()).collect();
        let figures = cell(threshold, answered, || match qk {
            QuestionKind::Rating => {
                let values: Vec<i32> = rows.iter().filter_map(|r| r.rating).collect();
                Figures::Rating {
                    low_label: top.low_label.clone(),
                    high_label: top.high_label.clone(),
                    mean: mean(&values),
                    distribution: distribution(&values),
                }
            }
            QuestionKind::Retrospective => {
                let pairs: Vec<(i32, i32)> = rows
                    .iter()
                    .filter_map(|r| Some((r.before?, r.after?)))
                    .collect();
                let before: Vec<i32> = pairs.iter().map(|p| p.0).collect();
                let after: Vec<i32> = pairs.iter().map(|p| p.1).collect();
                let (mb, ma) = (mean(&before), mean(&after));
                Figures::Retrospective {
                    low_label: top.low_label.clone(),
                    high_label: top.high_label.clone(),
                    mean_before: mb,
                    mean_after: ma,
                    shift: round2(ma - mb),
                    distribution_before: distribution(&before),
                    distribution_after: distribution(&after),
                }
            }
            QuestionKind::SingleChoice | QuestionKind::MultipleChoice => {
                // Options in the newest version's order, then any only older versions had.
                let mut options: Vec<ChoiceOption> = Vec::new();
                let mut by_version = rows.clone();
                by_version.sort_by_key(|r| -r.form_version);
                for r in &by_version {
                    let opts: Vec<ChoiceOption> = r
                        .options
                        .as_deref()
                        .and_then(|o| serde_json::from_str(o).ok())
                        .unwrap_or_default();
                    for o in opts {
                        if !options.iter().any(|x| x.value == o.value) {
                            options.push(o);
                        }
                    }
                }
                let mut counts: Vec<ChoiceCount> = options
                    .into_iter()
                    .map(|o| ChoiceCount {
                        value: o.value,
                        label: o.label,
                        count: 0,
                    })
                    .collect();
                for r in &rows {
                    let chosen: Vec<String> = r
                        .choices
                        .as_deref()
                        .and_then(|c| serde_json::from_str(c).ok())
                        .unwrap_or_default();
                    for c in chosen {
                        if let Some(x) = counts.iter_mut().find(|x| x.value == c) {
                            x.count += 1;
                        }
                    }
                }
                Figures::Choices { counts }
            }
            QuestionKind::FreeText => Figures::Text {
                answers: with_text.then(|| {
                    let mut t: Vec<String> = texts.iter().map(|s| s.trim().to_string()).collect();
                    t.sort_by_key(|s| s.to_lowercase());
                    t
                }),
            },
        });
        out.push(QuestionSummary {
            key,
            kind: qkind,
            prompt: top.prompt.clone(),
            guskey_level: top.guskey_level,
            metric: top.metric.clone(),
            answered,
            counted,
            figures,
        });
    }
    Ok(out)
}
