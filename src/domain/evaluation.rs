//! Evaluation forms and answers, as pure rules: the kinds of form and question, Guskey's five
//! levels, the checks a form definition must pass, and the validation of a submitted answer
//! set against the form version it answers (with the headline figures the reports read).
//!
//! Answers travel as JSON, the same for the API and the HTML form (which builds the JSON):
//!
//! | question kind | answer |
//! |---|---|
//! | `rating` | a whole number 1-5 |
//! | `single_choice` | one option `value` (a string) |
//! | `multiple_choice` | a list of option values |
//! | `free_text` | a string of at most [`FREE_TEXT_MAX`] characters |
//! | `retrospective` | `{"before": 1-5, "after": 1-5}` |
//!
//! A missing answer, `null`, an empty string or an empty list is "not answered", which only a
//! required question refuses.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The longest free-text answer, in characters.
pub const FREE_TEXT_MAX: usize = 4000;
/// The most questions a form may have.
pub const MAX_QUESTIONS: usize = 50;
/// The most options a choice question may have.
pub const MAX_OPTIONS: usize = 30;

/// When a form is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FormKind {
    /// Straight after the course (Guskey levels 1-2 by default).
    PostCourse,
    /// Some weeks later, to those who agreed (levels 3-5 by default).
    FollowUp,
}

impl FormKind {
    /// Both kinds, in the order they are sent.
    pub const ALL: [FormKind; 2] = [FormKind::PostCourse, FormKind::FollowUp];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            FormKind::PostCourse => "post_course",
            FormKind::FollowUp => "follow_up",
        }
    }

    /// Reads a stored or requested name.
    pub fn parse(s: &str) -> Option<FormKind> {
        FormKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// What kind of answer a question takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuestionKind {
    /// 1 to 5, with labelled ends.
    Rating,
    /// One of the options.
    SingleChoice,
    /// Any of the options.
    MultipleChoice,
    /// Words.
    FreeText,
    /// A before/after pair of ratings (1 to 5), answered after the course.
    Retrospective,
}

impl QuestionKind {
    /// Every kind.
    pub const ALL: [QuestionKind; 5] = [
        QuestionKind::Rating,
        QuestionKind::SingleChoice,
        QuestionKind::MultipleChoice,
        QuestionKind::FreeText,
        QuestionKind::Retrospective,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            QuestionKind::Rating => "rating",
            QuestionKind::SingleChoice => "single_choice",
            QuestionKind::MultipleChoice => "multiple_choice",
            QuestionKind::FreeText => "free_text",
            QuestionKind::Retrospective => "retrospective",
        }
    }

    /// Reads a stored or requested name.
    pub fn parse(s: &str) -> Option<QuestionKind> {
        QuestionKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether the question offers options.
    pub fn has_options(self) -> bool {
        matches!(
            self,
            QuestionKind::SingleChoice | QuestionKind::MultipleChoice
        )
    }

    /// Whether the question is rated 1 to 5 (and so may label its ends).
    pub fn is_scale(self) -> bool {
        matches!(self, QuestionKind::Rating | QuestionKind::Retrospective)
    }
}

/// The lowest and highest rating.
pub const RATING_MIN: i32 = 1;
/// The highest rating.
pub const RATING_MAX: i32 = 5;

/// Guskey's five levels of professional development evaluation, by number (1-5).
pub fn guskey_name(level: i32) -> Option<&'static str> {
    match level {
        1 => Some("Participants' reactions"),
        2 => Some("Participants' learning"),
        3 => Some("Organisational support and change"),
        4 => Some("Participants' use of new knowledge and skills"),
        5 => Some("Pupil learning outcomes"),
        _ => None,
    }
}

/// What the reports read from a question.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// The overall rating of a post-course form (a `rating`).
    Satisfaction,
    /// "I have used what I learned in my practice" on a follow-up (a `rating`).
    Impact,
    /// Confidence before and after (a `retrospective`).
    Confidence,
    /// Agreement to the impact follow-up (a `single_choice` with `yes` and `no`).
    Consent,
}

impl Metric {
    /// Every metric.
    pub const ALL: [Metric; 4] = [
        Metric::Satisfaction,
        Metric::Impact,
        Metric::Confidence,
        Metric::Consent,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Satisfaction => "satisfaction",
            Metric::Impact => "impact",
            Metric::Confidence => "confidence",
            Metric::Consent => "consent",
        }
    }

    /// Reads a stored or requested name.
    pub fn parse(s: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The question kind this metric is read from.
    pub fn question_kind(self) -> QuestionKind {
        match self {
            Metric::Satisfaction | Metric::Impact => QuestionKind::Rating,
            Metric::Confidence => QuestionKind::Retrospective,
            Metric::Consent => QuestionKind::SingleChoice,
        }
    }
}

/// The option value of a consent question that means "yes".
pub const CONSENT_YES: &str = "yes";
/// The option value of a consent question that means "no".
pub const CONSENT_NO: &str = "no";

/// One option of a choice question.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChoiceOption {
    /// What is stored and counted, e.g. `ks2`.
    pub value: String,
    /// What people read, e.g. `Key stage 2`.
    pub label: String,
}

/// One question of a form version, as the rules need it.
#[derive(Clone, Debug, PartialEq)]
pub struct Question {
    /// Stable within a form family, e.g. `overall`.
    pub key: String,
    /// What kind of answer it takes.
    pub kind: QuestionKind,
    /// The question as asked.
    pub prompt: String,
    /// A hint shown under the question.
    pub help: Option<String>,
    /// Whether it must be answered.
    pub required: bool,
    /// Guskey level, 1 to 5.
    pub guskey_level: i32,
    /// The label of rating 1 (scales only).
    pub low_label: Option<String>,
    /// The label of rating 5 (scales only).
    pub high_label: Option<String>,
    /// The options (choice questions only).
    pub options: Vec<ChoiceOption>,
    /// What the reports read from it.
    pub metric: Option<Metric>,
}

/// One accepted answer.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    /// A rating, 1 to 5.
    Rating(i32),
    /// The chosen option values (one for a single choice), in the form's option order.
    Choices(Vec<String>),
    /// Free text, trimmed.
    Text(String),
    /// Before and after, 1 to 5 each.
    Retrospective {
        /// Before the course.
        before: i32,
        /// Now.
        after: i32,
    },
}

/// A validated answer set: the answer (if any) to each question, in form order.
#[derive(Clone, Debug, PartialEq)]
pub struct AnswerSet {
    /// `(question key, answer)` for every question answered.
    pub answers: Vec<(String, Answer)>,
    /// The headline figures the reports read.
    pub headline: Headline,
}

/// The figures kept on a response row so reports need not read every answer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Headline {
    /// The `satisfaction` rating.
    pub satisfaction: Option<i32>,
    /// The `impact` rating.
    pub impact: Option<i32>,
    /// The mean "before" over the `confidence` pairs.
    pub confidence_before: Option<f64>,
    /// The mean "after" over the `confidence` pairs.
    pub confidence_after: Option<f64>,
    /// The `consent` answer: yes is true, no is false.
    pub consent_follow_up: Option<bool>,
}

/// Question key -> what is wrong with its answer (one sentence each), in key order.
pub type AnswerErrors = BTreeMap<String, String>;

fn rating_of(v: &Value) -> Result<i32, ()> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .filter(|n| (RATING_MIN as i64..=RATING_MAX as i64).contains(n))
            .map(|n| n as i32)
            .ok_or(()),
        _ => Err(()),
    }
}

fn is_blank(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.values().all(Value::is_null),
        _ => false,
    }
}

/// Checks a submitted answer set (`question key -> value`) against a form version's
/// questions. Every problem is reported, each under its question's key; keys that are not
/// questions of the form are refused too, so a client's typo does not vanish silently.
pub fn validate_answers(
    questions: &[Question],
    submitted: &serde_json::Map<String, Value>,
) -> Result<AnswerSet, AnswerErrors> {
    let mut errors = AnswerErrors::new();
    for key in submitted.keys() {
        if !questions.iter().any(|q| &q.key == key) {
            errors.insert(key.clone(), "is not a question on this form".into());
        }
    }
    let mut answers = Vec::new();
    for q in questions {
        let value = submitted.get(&q.key).unwrap_or(&Value::Null);
        if is_blank(value) {
            if q.required {
                errors.insert(q.key.clone(), required_message(q).into());
            }
            continue;
        }
        match check_one(q, value) {
            Ok(a) => answers.push((q.key.clone(), a)),
            Err(message) => {
                errors.insert(q.key.clone(), message);
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let headline = headline(questions, &answers);
    Ok(AnswerSet { answers, headline })
}

fn required_message(q: &Question) -> &'static str {
    match q.kind {
        QuestionKind::Rating => "Choose a rating from 1 to 5",
        QuestionKind::Retrospective => "Choose a rating from 1 to 5 for before and for now",
        QuestionKind::SingleChoice => "Choose an answer",
        QuestionKind::MultipleChoice => "Choose at least one answer",
        QuestionKind::FreeText => "Enter an answer",
    }
}

fn check_one(q: &Question, value: &Value) -> Result<Answer, String> {
    let known = |v: &str| q.options.iter().any(|o| o.value == v);
    match q.kind {
        QuestionKind::Rating => rating_of(value)
            .map(Answer::Rating)
            .map_err(|_| "Choose a rating from 1 to 5".to_string()),
        QuestionKind::Retrospective => {
            let Value::Object(pair) = value else {
                return Err("Give a rating from 1 to 5 for before and for now".into());
            };
            for k in pair.keys() {
                if k != "before" && k != "after" {
                    return Err(format!(
                        "{k:?} is not part of this answer: use before and after"
                    ));
                }
            }
            let before = pair.get("before").unwrap_or(&Value::Null);
            let after = pair.get("after").unwrap_or(&Value::Null);
            match (rating_of(before), rating_of(after)) {
                (Ok(before), Ok(after)) => Ok(Answer::Retrospective { before, after }),
                (Err(_), Ok(_)) => Err("Choose a rating from 1 to 5 for before the course".into()),
                (Ok(_), Err(_)) => Err("Choose a rating from 1 to 5 for now".into()),
                (Err(_), Err(_)) => {
                    Err("Choose a rating from 1 to 5 for before and for now".into())
                }
            }
        }
        QuestionKind::SingleChoice => match value {
            Value::String(s) if known(s) => Ok(Answer::Choices(vec![s.clone()])),
            Value::String(_) => Err("Choose one of the answers listed".into()),
            _ => Err("Choose one answer".into()),
        },
        QuestionKind::MultipleChoice => {
            let Value::Array(items) = value else {
                return Err("Give the chosen answers as a list".into());
            };
            let mut chosen = BTreeSet::new();
            for item in items {
                match item {
                    Value::String(s) if known(s) => {
                        chosen.insert(s.clone());
                    }
                    _ => return Err("Choose only answers that are listed".into()),
                }
            }
            // In the form's order, each once.
            Ok(Answer::Choices(
                q.options
                    .iter()
                    .filter(|o| chosen.contains(&o.value))
                    .map(|o| o.value.clone())
                    .collect(),
            ))
        }
        QuestionKind::FreeText => match value {
            Value::String(s) => {
                let text = s.trim();
                if text.chars().count() > FREE_TEXT_MAX {
                    Err(format!(
                        "Keep your answer to {FREE_TEXT_MAX} characters or fewer"
                    ))
                } else {
                    Ok(Answer::Text(text.to_string()))
                }
            }
            _ => Err("Enter your answer as text".into()),
        },
    }
}

/// The headline figures of an accepted answer set.
pub fn headline(questions: &[Question], answers: &[(String, Answer)]) -> Headline {
    let mut h = Headline::default();
    let (mut before, mut after, mut pairs) = (0.0, 0.0, 0u32);
    for (key, answer) in answers {
        let Some(metric) = questions
            .iter()
            .find(|q| &q.key == key)
            .and_then(|q| q.metric)
        else {
            continue;
        };
        match (metric, answer) {
            (Metric::Satisfaction, Answer::Rating(r)) => h.satisfaction = Some(*r),
            (Metric::Impact, Answer::Rating(r)) => h.impact = Some(*r),
            (
                Metric::Confidence,
                Answer::Retrospective {
                    before: b,
                    after: a,
                },
            ) => {
                before += f64::from(*b);
                after += f64::from(*a);
                pairs += 1;
            }
            (Metric::Consent, Answer::Choices(c)) => {
                h.consent_follow_up = match c.first().map(String::as_str) {
                    Some(CONSENT_YES) => Some(true),
                    Some(CONSENT_NO) => Some(false),
                    _ => None,
                }
            }
            _ => {}
        }
    }
    if pairs > 0 {
        h.confidence_before = Some(before / f64::from(pairs));
        h.confidence_after = Some(after / f64::from(pairs));
    }
    h
}

/// Field -> messages, for a form definition that does not pass the checks.
pub type FormErrors = BTreeMap<String, Vec<String>>;

/// Checks a form definition: 1 to [`MAX_QUESTIONS`] questions with unique keys of lower-case
/// letters, digits and `_`; a prompt; a Guskey level 1-5; options (2 to [`MAX_OPTIONS`],
/// unique values) exactly on choice questions; end labels only on scales; each metric on the
/// kind of question it is read from, at most once per form, and a consent question offering
/// `yes` and `no`. Errors are named `questions[i].field`.
pub fn validate_form(questions: &[Question]) -> Result<(), FormErrors> {
    let mut errors = FormErrors::new();
    let mut add = |field: String, message: &str| {
        errors.entry(field).or_default().push(message.to_string());
    };
    if questions.is_empty() || questions.len() > MAX_QUESTIONS {
        add(
            "questions".into(),
            &format!("must have 1 to {MAX_QUESTIONS} questions"),
        );
    }
    let mut keys = BTreeSet::new();
    let mut metrics = BTreeSet::new();
    for (i, q) in questions.iter().enumerate() {
        let f = |name: &str| format!("questions[{i}].{name}");
        let key_ok = !q.key.is_empty()
            && q.key.len() <= 40
            && q.key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && q.key.starts_with(|c: char| c.is_ascii_lowercase());
        if !key_ok {
            add(
                f("key"),
                "must be 1 to 40 lower-case letters, digits or _, starting with a letter",
            );
        } else if !keys.insert(q.key.clone()) {
            add(f("key"), "is used by another question of this form");
        }
        let prompt = q.prompt.trim().chars().count();
        if prompt == 0 || prompt > 500 {
            add(f("prompt"), "must be 1 to 500 characters long");
        }
        if q.help.as_ref().is_some_and(|h| h.chars().count() > 1000) {
            add(f("help"), "must be at most 1000 characters long");
        }
        if guskey_name(q.guskey_level).is_none() {
            add(f("guskey_level"), "must be from 1 to 5");
        }
        for (name, label) in [("low_label", &q.low_label), ("high_label", &q.high_label)] {
            if let Some(l) = label {
                if !q.kind.is_scale() {
                    add(f(name), "is only for rating and retrospective questions");
                } else if l.trim().is_empty() || l.chars().count() > 100 {
                    add(f(name), "must be 1 to 100 characters long");
                }
            }
        }
        if q.kind.has_options() {
            if q.options.len() < 2 || q.options.len() > MAX_OPTIONS {
                add(
                    f("options"),
                    &format!("must list 2 to {MAX_OPTIONS} options"),
                );
            }
            let mut values = BTreeSet::new();
            for (j, o) in q.options.iter().enumerate() {
                let value_ok = !o.value.is_empty()
                    && o.value.len() <= 40
                    && o.value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                if !value_ok {
                    add(
                        format!("questions[{i}].options[{j}].value"),
                        "must be 1 to 40 letters, digits, _ or -",
                    );
                } else if !values.insert(o.value.clone()) {
                    add(
                        format!("questions[{i}].options[{j}].value"),
                        "is used by another option of this question",
                    );
                }
                let label = o.label.trim().chars().count();
                if label == 0 || label > 200 {
                    add(
                        format!("questions[{i}].options[{j}].label"),
                        "must be 1 to 200 characters long",
                    );
                }
            }
        } else if !q.options.is_empty() {
            add(f("options"), "are only for choice questions");
        }
        if let Some(m) = q.metric {
            if m.question_kind() != q.kind {
                add(
                    f("metric"),
                    &format!(
                        "{} is read from a {} question",
                        m.as_str(),
                        m.question_kind().as_str()
                    ),
                );
            } else if !metrics.insert(m.as_str()) {
                add(
                    f("metric"),
                    "is already given to another question of this form",
                );
            } else if m == Metric::Consent {
                let has = |v: &str| q.options.iter().any(|o| o.value == v);
                if !(has(CONSENT_YES) && has(CONSENT_NO)) {
                    add(f("options"), "a consent question must offer yes and no");
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// A question of a default form.
struct DefaultQuestion {
    key: &'static str,
    kind: QuestionKind,
    prompt: &'static str,
    help: Option<&'static str>,
    required: bool,
    level: i32,
    ends: Option<(&'static str, &'static str)>,
    options: &'static [(&'static str, &'static str)],
    metric: Option<Metric>,
}

/// A default form, seeded into every database.
pub struct DefaultForm {
    /// Its fixed family id (so seeding twice adds nothing).
    pub family_id: &'static str,
    /// Its kind.
    pub kind: FormKind,
    /// Its name.
    pub name: &'static str,
    /// What it is for.
    pub description: &'static str,
    /// Its questions, in order.
    pub questions: Vec<Question>,
}

const AGREE: (&str, &str) = ("Strongly disagree", "Strongly agree");

const PUPILS: &[(&str, &str)] = &[
    ("early_years", "Early years"),
    ("ks1", "Key stage 1"),
    ("ks2", "Key stage 2"),
    ("ks3", "Key stage 3"),
    ("ks4", "Key stage 4"),
    ("post16", "Post-16"),
    ("send", "Pupils with SEND"),
    ("disadvantaged", "Disadvantaged pupils"),
    ("eal", "Pupils with English as an additional language"),
    ("all", "All pupils"),
];

fn build(qs: Vec<DefaultQuestion>) -> Vec<Question> {
    qs.into_iter()
        .map(|d| Question {
            key: d.key.into(),
            kind: d.kind,
            prompt: d.prompt.into(),
            help: d.help.map(str::to_string),
            required: d.required,
            guskey_level: d.level,
            low_label: d.ends.map(|e| e.0.into()),
            high_label: d.ends.map(|e| e.1.into()),
            options: d
                .options
                .iter()
                .map(|(v, l)| ChoiceOption {
                    value: (*v).into(),
                    label: (*l).into(),
                })
                .collect(),
            metric: d.metric,
        })
        .collect()
}

/// The two default forms: the post-course form (Guskey levels 1-2) and the impact follow-up
/// (levels 3-5).
pub fn default_forms() -> Vec<DefaultForm> {
    use QuestionKind::*;
    let q = |key, kind, prompt, level, required| DefaultQuestion {
        key,
        kind,
        prompt,
        help: None,
        required,
        level,
        ends: None,
        options: &[],
        metric: None,
    };
    vec![
        DefaultForm {
            family_id: "default-post-course",
            kind: FormKind::PostCourse,
            name: "Post-course evaluation",
            description: "Sent when the register of a course's last session is taken: \
                          reactions and learning (Guskey levels 1 and 2).",
            questions: build(vec![
                DefaultQuestion {
                    ends: Some(("Poor", "Excellent")),
                    metric: Some(Metric::Satisfaction),
                    ..q(
                        "overall",
                        Rating,
                        "Overall, how would you rate this course?",
                        1,
                        true,
                    )
                },
                DefaultQuestion {
                    ends: Some(("Not relevant", "Highly relevant")),
                    ..q(
                        "relevance",
                        Rating,
                        "How relevant was the course to your role?",
                        1,
                        true,
                    )
                },
                DefaultQuestion {
                    ends: Some(("Poor", "Excellent")),
                    ..q(
                        "delivery",
                        Rating,
                        "How would you rate the quality of the delivery?",
                        1,
                        true,
                    )
                },
                DefaultQuestion {
                    help: Some(
                        "Think about the course's aims. Rate how confident you were before the \
                         course, and how confident you are now.",
                    ),
                    ends: Some(("Not at all confident", "Very confident")),
                    metric: Some(Metric::Confidence),
                    ..q(
                        "confidence",
                        Retrospective,
                        "How confident do you feel about the course's aims?",
                        2,
                        true,
                    )
                },
                DefaultQuestion {
                    help: Some("Your action plan: one or two things you will try first."),
                    ..q(
                        "action_plan",
                        FreeText,
                        "What will you do differently as a result of this course?",
                        2,
                        false,
                    )
                },
                DefaultQuestion {
                    help: Some("Choose all that apply."),
                    options: PUPILS,
                    ..q(
                        "target_group",
                        MultipleChoice,
                        "Which pupils will this help?",
                        2,
                        false,
                    )
                },
                DefaultQuestion {
                    help: Some(
                        "We would send you a short form about the difference the course has \
                         made to your practice and your pupils.",
                    ),
                    options: &[("yes", "Yes, you may contact me"), ("no", "No, thank you")],
                    metric: Some(Metric::Consent),
                    ..q(
                        "consent_follow_up",
                        SingleChoice,
                        "May we contact you in a few weeks to ask about the impact?",
                        1,
                        true,
                    )
                },
            ]),
        },
        DefaultForm {
            family_id: "default-follow-up",
            kind: FormKind::FollowUp,
            name: "Impact follow-up",
            description: "Sent some weeks after the course to those who agreed: support, use \
                          in practice and pupil outcomes (Guskey levels 3 to 5).",
            questions: build(vec![
                DefaultQuestion {
                    ends: Some(AGREE),
                    metric: Some(Metric::Impact),
                    ..q(
                        "used_in_practice",
                        Rating,
                        "I have used what I learned in my practice",
                        4,
                        true,
                    )
                },
                DefaultQuestion {
                    ends: Some(AGREE),
                    ..q(
                        "school_support",
                        Rating,
                        "My school has supported me to apply what I learned",
                        3,
                        true,
                    )
                },
                DefaultQuestion {
                    ends: Some(AGREE),
                    ..q(
                        "pupil_changes",
                        Rating,
                        "I have seen changes in pupils' learning or behaviour",
                        5,
                        true,
                    )
                },
                DefaultQuestion {
                    help: Some(
                        "For example pupils' work, assessment information or what you have \
                         observed.",
                    ),
                    ..q(
                        "evidence",
                        FreeText,
                        "What evidence of impact have you seen?",
                        5,
                        false,
                    )
                },
                q(
                    "next_steps",
                    FreeText,
                    "What would help you take this further?",
                    3,
                    false,
                ),
            ]),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn post_course() -> Vec<Question> {
        default_forms()
            .into_iter()
            .find(|f| f.kind == FormKind::PostCourse)
            .unwrap()
            .questions
    }

    fn answers(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn complete() -> Value {
        json!({
            "overall": 4,
            "relevance": 5,
            "delivery": 3,
            "confidence": {"before": 2, "after": 4},
            "action_plan": "  Use retrieval practice starters.  ",
            "target_group": ["ks2", "send"],
            "consent_follow_up": "yes"
        })
    }

    #[test]
    fn the_default_forms_pass_their_own_checks() {
        for f in default_forms() {
            validate_form(&f.questions).unwrap_or_else(|e| panic!("{}: {e:?}", f.name));
        }
        let post = post_course();
        assert!(post.iter().all(|q| q.guskey_level <= 2));
        let follow = default_forms().remove(1).questions;
        assert!(follow.iter().all(|q| q.guskey_level >= 3));
        assert_eq!(follow[0].metric, Some(Metric::Impact));
    }

    #[test]
    fn a_complete_answer_set_is_accepted_with_its_headline() {
        let set = validate_answers(&post_course(), &answers(complete())).unwrap();
        assert_eq!(set.answers.len(), 7);
        assert_eq!(set.headline.satisfaction, Some(4));
        assert_eq!(set.headline.confidence_before, Some(2.0));
        assert_eq!(set.headline.confidence_after, Some(4.0));
        assert_eq!(set.headline.consent_follow_up, Some(true));
        assert_eq!(set.headline.impact, None);
        let text = set
            .answers
            .iter()
            .find(|(k, _)| k == "action_plan")
            .unwrap();
        assert_eq!(
            text.1,
            Answer::Text("Use retrieval practice starters.".into())
        );
        // Choices come back in the form's order, whatever order they were sent in.
        let mut v = complete();
        v["target_group"] = json!(["send", "ks2", "ks2"]);
        let set = validate_answers(&post_course(), &answers(v)).unwrap();
        let chosen = set
            .answers
            .iter()
            .find(|(k, _)| k == "target_group")
            .unwrap();
        assert_eq!(chosen.1, Answer::Choices(vec!["ks2".into(), "send".into()]));
    }

    #[test]
    fn optional_questions_may_be_left_out_and_required_ones_may_not() {
        let mut v = complete();
        let o = v.as_object_mut().unwrap();
        o.remove("action_plan");
        o.insert("target_group".into(), json!([]));
        assert!(validate_answers(&post_course(), &answers(v.clone())).is_ok());
        let o = v.as_object_mut().unwrap();
        o.remove("overall");
        o.insert("consent_follow_up".into(), Value::Null);
        let e = validate_answers(&post_course(), &answers(v)).unwrap_err();
        assert_eq!(
            e.keys().collect::<Vec<_>>(),
            ["consent_follow_up", "overall"]
        );
        assert_eq!(e["overall"], "Choose a rating from 1 to 5");
    }

    #[test]
    fn every_bad_answer_is_named() {
        let v = json!({
            "overall": 6,
            "relevance": 0,
            "delivery": "3",
            "confidence": {"before": 2},
            "action_plan": "x".repeat(FREE_TEXT_MAX + 1),
            "target_group": ["ks2", "year_13"],
            "consent_follow_up": "maybe",
            "colour": "blue"
        });
        let e = validate_answers(&post_course(), &answers(v)).unwrap_err();
        assert_eq!(
            e.keys().map(String::as_str).collect::<Vec<_>>(),
            [
                "action_plan",
                "colour",
                "confidence",
                "consent_follow_up",
                "delivery",
                "overall",
                "relevance",
                "target_group"
            ]
        );
        assert_eq!(e["confidence"], "Choose a rating from 1 to 5 for now");
        assert!(e["action_plan"].contains("4000"));
        assert_eq!(e["colour"], "is not a question on this form");
    }

    #[test]
    fn retrospective_needs_both_ends_in_range() {
        let qs = post_course();
        for (bad, field) in [
            (json!({"before": 0, "after": 3}), "before the course"),
            (json!({"before": 3, "after": 9}), "for now"),
            (json!({"before": 3, "after": 3, "during": 2}), "not part"),
            (json!(4), "before and for now"),
        ] {
            let mut v = complete();
            v["confidence"] = bad;
            let e = validate_answers(&qs, &answers(v)).unwrap_err();
            assert!(e["confidence"].contains(field), "{}", e["confidence"]);
        }
        let mut v = complete();
        v["confidence"] = json!({"before": 5, "after": 1});
        let set = validate_answers(&qs, &answers(v)).unwrap();
        assert_eq!(set.headline.confidence_before, Some(5.0));
    }

    #[test]
    fn free_text_at_the_cap_is_accepted() {
        let mut v = complete();
        v["action_plan"] = json!("é".repeat(FREE_TEXT_MAX));
        assert!(validate_answers(&post_course(), &answers(v)).is_ok());
    }

    #[test]
    fn consent_no_is_false() {
        let mut v = complete();
        v["consent_follow_up"] = json!("no");
        let set = validate_answers(&post_course(), &answers(v)).unwrap();
        assert_eq!(set.headline.consent_follow_up, Some(false));
    }

    #[test]
    fn form_definitions_are_checked() {
        let mut qs = post_course();
        qs[1].key = "overall".into();
        qs[2].guskey_level = 6;
        qs[3].metric = Some(Metric::Satisfaction);
        qs[4].low_label = Some("Low".into());
        qs[5].options.truncate(1);
        qs[6].options.retain(|o| o.value != "no");
        qs[6].options.push(ChoiceOption {
            value: "never".into(),
            label: "Never".into(),
        });
        let e = validate_form(&qs).unwrap_err();
        for field in [
            "questions[1].key",
            "questions[2].guskey_level",
            "questions[3].metric",
            "questions[4].low_label",
            "questions[5].options",
            "questions[6].options",
        ] {
            assert!(e.contains_key(field), "{field}: {e:?}");
        }
        assert!(validate_form(&[]).unwrap_err().contains_key("questions"));
        let mut twice = post_course();
        twice[1].metric = Some(Metric::Satisfaction);
        assert!(validate_form(&twice)
            .unwrap_err()
            .contains_key("questions[1].metric"));
        let mut bad_key = post_course();
        bad_key[0].key = "Overall rating".into();
        assert!(validate_form(&bad_key)
            .unwrap_err()
            .contains_key("questions[0].key"));
    }

    #[test]
    fn names_round_trip() {
        for k in FormKind::ALL {
            assert_eq!(FormKind::parse(k.as_str()), Some(k));
        }
        for k in QuestionKind::ALL {
            assert_eq!(QuestionKind::parse(k.as_str()), Some(k));
        }
        for m in Metric::ALL {
            assert_eq!(Metric::parse(m.as_str()), Some(m));
        }
        assert_eq!(
            guskey_name(4),
            Some("Participants' use of new knowledge and skills")
        );
        assert_eq!(guskey_name(0), None);
    }
}
