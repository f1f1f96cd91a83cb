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

mod answers;
mod defaults;
mod form_check;
mod kinds;

pub use answers::{
    headline, validate_answers, Answer, AnswerErrors, AnswerSet, ChoiceOption, Headline, Question,
};
pub use defaults::{default_forms, DefaultForm};
pub use form_check::{validate_form, FormErrors};
pub use kinds::{
    guskey_name, FormKind, Metric, QuestionKind, CONSENT_NO, CONSENT_YES, FREE_TEXT_MAX,
    MAX_OPTIONS, MAX_QUESTIONS, RATING_MAX, RATING_MIN,
};
