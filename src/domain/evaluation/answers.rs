//! Checking a submitted answer set against its form version, and the headline figures kept
//! with an accepted one.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::kinds::{
    Metric, QuestionKind, CONSENT_NO, CONSENT_YES, FREE_TEXT_MAX, RATING_MAX, RATING_MIN,
};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::evaluation::defaults::default_forms;
    use crate::domain::evaluation::kinds::FormKind;
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
}
