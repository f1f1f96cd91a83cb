//! Evaluation: form templates and their versions, invitations with their single-use tokens,
//! answers, the course summary, and what erasure and the subject access export need.
//!
//! Invitations come from [`on_course_register_complete`], called in the attendance store's
//! transaction when the register of a course's last session is first recorded, and from
//! [`run_jobs`] (the evaluation job), which also catches any course the hook missed, emails
//! every invitation that has come due (with its own token) and sends the reminders. Every step is idempotent and
//! safe with several service copies on one database: rows are claimed with conditional
//! updates and inserted with `ON CONFLICT DO NOTHING`.

mod answering;
mod erasure;
mod forms;
mod invitations;
mod summary;

pub use answering::{
    form_questions, open, submit, Invitation, InvitationCourse, Opened, Submitted,
};
pub use erasure::{course_lead_ids, export_for, forget_person, AnswerRecord, EvaluationRecord};
pub use forms::{
    create_form, get_form, list_forms, seed_default_forms, set_course_forms, update_form,
    CourseForm, CourseForms, FormInput, FormView, QuestionView,
};
pub use invitations::{
    course_dates, invitation_open, on_course_register_complete, reopen_link, run_jobs, waiting_for,
    JobReport, WaitingEvaluation, ATTENDED,
};
pub use summary::{
    course_summary, ChoiceCount, EvaluationCourse, EvaluationSummary, Figures, KindResults,
    KindSummary, QuestionSummary,
};
