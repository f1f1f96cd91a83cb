//! The names the rules are written in: kinds of form and question, Guskey's levels, the
//! metrics reports read, and the limits a form keeps to.

use serde::{Deserialize, Serialize};

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

#[cfg(test)]
mod tests {
    use super::*;

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
