//! Checking a form definition before it is saved, so every form a course sends can be
//! answered and read by the reports.

use std::collections::{BTreeMap, BTreeSet};

use super::answers::Question;
use super::kinds::{guskey_name, Metric, CONSENT_NO, CONSENT_YES, MAX_OPTIONS, MAX_QUESTIONS};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::evaluation::answers::ChoiceOption;
    use crate::domain::evaluation::defaults::default_forms;
    use crate::domain::evaluation::kinds::FormKind;

    fn post_course() -> Vec<Question> {
        default_forms()
            .into_iter()
            .find(|f| f.kind == FormKind::PostCourse)
            .unwrap()
            .questions
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
}
