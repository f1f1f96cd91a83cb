//! The forms every database starts with.

use super::answers::{ChoiceOption, Question};
use super::kinds::{FormKind, Metric, QuestionKind};

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
    use crate::domain::evaluation::form_check::validate_form;

    fn post_course() -> Vec<Question> {
        default_forms()
            .into_iter()
            .find(|f| f.kind == FormKind::PostCourse)
            .unwrap()
            .questions
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
}
