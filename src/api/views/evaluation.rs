//! Evaluation forms, invitations, course results and a person's answers.

use chrono::NaiveDateTime;
use serde::Serialize;

use super::view;
use crate::domain::evaluation::ChoiceOption;
use crate::domain::suppression::Cell;
use crate::store::evaluation::KindResults;

view! {
    /// An open invitation as its form page shows it.
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct Invitation from crate::store::evaluation::Invitation {
        /// `post_course` or `follow_up`.
        pub kind: String,
        /// The course.
        pub course: InvitationCourse,
        /// The form version to answer, with its questions.
        pub form: FormView,
        /// When this link stops working.
        #[serde(with = "crate::domain::time::rfc3339")]
        #[schema(value_type = String, format = DateTime)]
        pub expires_at: NaiveDateTime,
    }

    /// The course an invitation is about.
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct InvitationCourse from crate::store::evaluation::InvitationCourse {
        /// The course's id.
        pub id: String,
        /// Its title.
        pub title: String,
        /// Its dates as people read them, e.g. `Thursday 14 January 2027`.
        pub dates: String,
        /// When its first session started.
        #[serde(with = "crate::domain::time::rfc3339::option")]
        #[schema(value_type = Option<String>, format = DateTime)]
        pub first_session_start: Option<NaiveDateTime>,
        /// When its last session ended.
        #[serde(with = "crate::domain::time::rfc3339::option")]
        #[schema(value_type = Option<String>, format = DateTime)]
        pub last_session_end: Option<NaiveDateTime>,
    }

    /// One evaluation invitation of a person, with their own answers, for their export.
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct EvaluationRecord from crate::store::evaluation::EvaluationRecord {
        /// The course.
        pub course_id: String,
        /// Its title.
        pub course_title: String,
        /// `post_course` or `follow_up`.
        pub kind: String,
        /// When the invitation was made.
        #[serde(with = "crate::domain::time::rfc3339")]
        #[schema(value_type = String, format = DateTime)]
        pub created_at: NaiveDateTime,
        /// When it was emailed.
        #[serde(with = "crate::domain::time::rfc3339::option")]
        #[schema(value_type = Option<String>, format = DateTime)]
        pub sent_at: Option<NaiveDateTime>,
        /// Reminders sent.
        pub reminders_sent: i32,
        /// When it was answered.
        #[serde(with = "crate::domain::time::rfc3339::option")]
        #[schema(value_type = Option<String>, format = DateTime)]
        pub answered_at: Option<NaiveDateTime>,
        /// Their answers, question by question.
        pub answers: Vec<AnswerRecord>,
    }

    /// One of a person's answers.
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct AnswerRecord from crate::store::evaluation::AnswerRecord {
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

    /// A question as the API shows it.
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct QuestionView from crate::store::evaluation::QuestionView {
        /// Stable within the form's family, e.g. `overall`: answers are sent under this key.
        pub key: String,
        /// `rating`, `single_choice`, `multiple_choice`, `free_text` or `retrospective`.
        pub kind: String,
        /// The question as asked.
        pub prompt: String,
        /// A hint shown under the question.
        pub help: Option<String>,
        /// Whether it must be answered.
        pub required: bool,
        /// Guskey level: 1 reactions, 2 learning, 3 organisational support, 4 use of new
        /// knowledge and skills, 5 pupil outcomes.
        pub guskey_level: i32,
        /// The level's name.
        pub guskey_name: String,
        /// The label of rating 1 (rating and retrospective questions).
        pub low_label: Option<String>,
        /// The label of rating 5.
        pub high_label: Option<String>,
        /// The options of a choice question (empty otherwise).
        pub options: Vec<ChoiceOption>,
        /// What the reports read from it: `satisfaction`, `impact`, `confidence`, `consent`.
        pub metric: Option<String>,
    }

    /// A version of a form.
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct FormView from crate::store::evaluation::FormView {
        /// This version's id (invitations and answers refer to it).
        pub id: String,
        /// The family: every version of one form shares it.
        pub family_id: String,
        /// `post_course` or `follow_up`.
        pub kind: String,
        /// The form's name.
        pub name: String,
        /// What it is for.
        pub description: String,
        /// 1 for the first version; each edit of a form in use adds one.
        pub version: i32,
        /// Whether courses that choose no form of this kind use this family.
        pub is_default: bool,
        /// Whether this is the family's newest version (the one new invitations use).
        pub current: bool,
        /// Whether invitations or answers refer to this version (an edit then makes a new one).
        pub in_use: bool,
        /// When this version was made.
        #[serde(with = "crate::domain::time::rfc3339")]
        #[schema(value_type = String, format = DateTime)]
        pub created_at: NaiveDateTime,
        /// The questions, in order.
        pub questions: Vec<QuestionView>,
    }

    /// The form a course uses for one kind.
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct CourseForm from crate::store::evaluation::CourseForm {
        /// The family.
        pub family_id: String,
        /// Its current version, which new invitations use.
        pub form_id: String,
        /// Its name.
        pub name: String,
        /// The current version's number.
        pub version: i32,
        /// True when the course chose it; false when it is the kind's default.
        pub chosen: bool,
    }

    /// The forms a course uses.
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct CourseForms from crate::store::evaluation::CourseForms {
        /// The post-course form.
        pub post_course: Option<CourseForm>,
        /// The impact follow-up.
        pub follow_up: Option<CourseForm>,
    }

    /// One course's evaluation results.
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct EvaluationSummary from crate::store::evaluation::EvaluationSummary {
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
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct EvaluationCourse from crate::store::evaluation::EvaluationCourse {
        /// Its id.
        pub id: String,
        /// Its title.
        pub title: String,
        /// When its first session started.
        #[serde(with = "crate::domain::time::rfc3339::option")]
        #[schema(value_type = Option<String>, format = DateTime)]
        pub first_session_start: Option<NaiveDateTime>,
        /// When its last session ended.
        #[serde(with = "crate::domain::time::rfc3339::option")]
        #[schema(value_type = Option<String>, format = DateTime)]
        pub last_session_end: Option<NaiveDateTime>,
    }

    /// One kind's results: the counts, and the figures (or `suppressed` and `reason` in their
    /// place when fewer than `min_responses` answered).
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct KindSummary from crate::store::evaluation::KindSummary {
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
        #[schema(value_type = Object)]
        pub results: Cell<KindResults>,
    }
}
