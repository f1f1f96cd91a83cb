//! Evaluation: form templates (admin), a course's choice of forms (admin), answering an
//! evaluation with the token from the emailed link, and a course's evaluation summary.

use crate::api::extract::PathId;
use actix_web::http::header;
use actix_web::{get, post, put, web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use validator::Validate;

use crate::api::extract::{ValidJson, ValidQuery};
use crate::api::views::evaluation::{CourseForms, EvaluationSummary, FormView, Invitation};
use crate::api::views::IntoView;
use crate::app::policy::{self, require, require_visible, Action};
use crate::app::state::AppState;
use crate::auth::{tokens, Caller};
use crate::domain::evaluation::{
    validate_form, AnswerErrors, ChoiceOption, FormKind, Metric, Question, QuestionKind,
};
use crate::domain::paging::Page;
use crate::domain::suppression::Threshold;
use crate::domain::time;
use crate::error::responses::{
    Conflict, Forbidden, Invalid, NotFound, Problem, Unauthorized, PROBLEM_JSON,
};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::store::evaluation::{self as store, FormInput, Opened, Submitted};

/// A question of a form being created or changed.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuestionRequest {
    /// Stable within the form's family across versions: lower-case letters, digits and `_`.
    pub key: String,
    /// `rating`, `single_choice`, `multiple_choice`, `free_text` or `retrospective`.
    pub kind: String,
    /// The question as asked.
    pub prompt: String,
    /// A hint shown under it.
    #[serde(default)]
    pub help: Option<String>,
    /// Whether it must be answered (default false).
    #[serde(default)]
    pub required: bool,
    /// Guskey level 1-5.
    pub guskey_level: i32,
    /// The label of rating 1 (rating and retrospective questions).
    #[serde(default)]
    pub low_label: Option<String>,
    /// The label of rating 5.
    #[serde(default)]
    pub high_label: Option<String>,
    /// The options of a choice question.
    #[serde(default)]
    pub options: Vec<ChoiceOption>,
    /// `satisfaction`, `impact`, `confidence` or `consent`, when the reports read it.
    #[serde(default)]
    pub metric: Option<String>,
}

/// A form to create, or the new content of one.
#[derive(Debug, Clone, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FormRequest {
    /// `post_course` or `follow_up` (cannot change once made).
    pub kind: String,
    /// The form's name.
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// What it is for.
    #[serde(default)]
    #[validate(length(max = 2000))]
    #[schema(max_length = 2000)]
    pub description: String,
    /// True to make this family the default of its kind.
    #[serde(default)]
    pub is_default: Option<bool>,
    /// The questions, in order (1 to 50).
    pub questions: Vec<QuestionRequest>,
}

impl FormRequest {
    /// The form as the store takes it, or 422 naming every field at fault.
    fn into_input(self) -> AppResult<FormInput> {
        let mut errors = FieldErrors::new();
        let kind = FormKind::parse(&self.kind);
        if kind.is_none() {
            errors.insert(
                "kind".into(),
                vec!["must be post_course or follow_up".into()],
            );
        }
        let mut questions = Vec::new();
        for (i, q) in self.questions.into_iter().enumerate() {
            let qkind = QuestionKind::parse(&q.kind);
            if qkind.is_none() {
                errors.insert(
                    format!("questions[{i}].kind"),
                    vec!["must be rating, single_choice, multiple_choice, free_text or retrospective"
                        .into()],
                );
            }
            let metric = match q.metric.as_deref() {
                None => None,
                Some(m) => match Metric::parse(m) {
                    Some(m) => Some(m),
                    None => {
                        errors.insert(
                            format!("questions[{i}].metric"),
                            vec!["must be satisfaction, impact, confidence or consent".into()],
                        );
                        None
                    }
                },
            };
            let blank = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
            questions.push(Question {
                key: q.key,
                kind: qkind.unwrap_or(QuestionKind::FreeText),
                prompt: q.prompt,
                help: blank(q.help),
                required: q.required,
                guskey_level: q.guskey_level,
                low_label: q.low_label,
                high_label: q.high_label,
                options: q.options,
                metric,
            });
        }
        if errors.is_empty() {
            if let Err(e) = validate_form(&questions) {
                errors.extend(e);
            }
        }
        if !errors.is_empty() {
            return Err(AppError::Validation(errors));
        }
        Ok(FormInput {
            kind: kind.expect("checked above"),
            name: self.name,
            description: self.description,
            is_default: self.is_default,
            questions,
        })
    }
}

/// Filters of the form list.
#[derive(Debug, Deserialize, Validate, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FormsQuery {
    /// Only forms of this kind: `post_course` or `follow_up`.
    pub kind: Option<String>,
    /// Every version of this family, newest first (instead of the current version of each).
    pub family: Option<String>,
}

/// List forms: the current version of each family, defaults first; with `family`, that
/// family's versions, newest first (admin).
#[utoipa::path(tag = "evaluation", params(FormsQuery), security(("bearer" = [])), responses(
    (status = 200, body = Page<FormView>),
    Unauthorized,
    Forbidden,
    Invalid,
))]
#[get("/evaluation-forms")]
pub async fn list_forms(
    state: web::Data<AppState>,
    caller: Caller,
    query: ValidQuery<FormsQuery>,
) -> AppResult<web::Json<Page<FormView>>> {
    require(&caller, Action::ManageEvaluationForms)?;
    let q = query.into_inner();
    let kind = match q.kind.as_deref() {
        None | Some("") => None,
        Some(k) => Some(
            FormKind::parse(k)
                .ok_or_else(|| AppError::invalid("kind", "must be post_course or follow_up"))?,
        ),
    };
    let family = q.family.filter(|f| !f.is_empty());
    let page = state
        .db(move |c| store::list_forms(c, kind, family.as_deref()))
        .await?;
    Ok(web::Json(page.into_view()))
}

/// Create a form: version 1 of a new family (admin).
#[utoipa::path(tag = "evaluation", request_body = FormRequest, security(("bearer" = [])), responses(
    (status = 201, body = FormView),
    Forbidden,
    Invalid,
))]
#[post("/evaluation-forms")]
pub async fn create_form(
    state: web::Data<AppState>,
    caller: Caller,
    body: ValidJson<FormRequest>,
) -> AppResult<HttpResponse> {
    require(&caller, Action::ManageEvaluationForms)?;
    let input = body.into_inner().into_input()?;
    let actor = caller.person_id.clone();
    let form = state
        .db(move |c| store::create_form(c, &actor, &input))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/evaluation-forms/{}", form.id),
        ))
        .json(FormView::from(form)))
}

/// One version of a form, with its questions (admin).
#[utoipa::path(tag = "evaluation", params(("id" = String, Path)), security(("bearer" = [])), responses(
    (status = 200, body = FormView),
    Forbidden,
    NotFound,
))]
#[get("/evaluation-forms/{id}")]
pub async fn get_form(
    state: web::Data<AppState>,
    caller: Caller,
    id: PathId,
) -> AppResult<web::Json<FormView>> {
    require(&caller, Action::ManageEvaluationForms)?;
    let id = id.into_inner();
    Ok(web::Json(
        state
            .db(move |c| store::get_form(c, &id))
            .await?
            .into_view(),
    ))
}

/// Change a form (admin). While no invitation or answer refers to this version it is changed
/// in place (200); otherwise a new version of the family is made (201, with its new id),
/// and the answers already given keep the version they answered. Only the family's current
/// version can be changed (409 `not_current_version`).
#[utoipa::path(tag = "evaluation", params(("id" = String, Path)), request_body = FormRequest,
    security(("bearer" = [])), responses(
    (status = 200, description = "Changed in place", body = FormView),
    (status = 201, description = "A new version was made", body = FormView),
    Forbidden,
    NotFound,
    Conflict,
    Invalid,
))]
#[put("/evaluation-forms/{id}")]
pub async fn update_form(
    state: web::Data<AppState>,
    caller: Caller,
    id: PathId,
    body: ValidJson<FormRequest>,
) -> AppResult<HttpResponse> {
    require(&caller, Action::ManageEvaluationForms)?;
    let input = body.into_inner().into_input()?;
    let (id, actor) = (id.into_inner(), caller.person_id.clone());
    let (form, new_version) = state
        .db(move |c| store::update_form(c, &actor, &id, &input))
        .await?;
    if new_version {
        Ok(HttpResponse::Created()
            .insert_header((
                header::LOCATION,
                format!("/api/v1/evaluation-forms/{}", form.id),
            ))
            .json(FormView::from(form)))
    } else {
        Ok(HttpResponse::Ok().json(FormView::from(form)))
    }
}

/// A course's choice of forms: a form family id per kind, or null for the kind's default.
#[derive(Debug, Default, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CourseFormsRequest {
    /// The post-course form family, or null for the default.
    #[serde(default)]
    pub post_course: Option<String>,
    /// The impact follow-up family, or null for the default.
    #[serde(default)]
    pub follow_up: Option<String>,
}

/// Choose a course's evaluation forms (admin). Invitations already sent keep their form.
#[utoipa::path(tag = "evaluation", params(("id" = String, Path, description = "The course")),
    request_body = CourseFormsRequest, security(("bearer" = [])), responses(
    (status = 200, body = CourseForms),
    Forbidden,
    NotFound,
    Invalid,
))]
#[put("/courses/{id}/evaluation-forms")]
pub async fn set_course_forms(
    state: web::Data<AppState>,
    caller: Caller,
    id: PathId,
    body: ValidJson<CourseFormsRequest>,
) -> AppResult<web::Json<CourseForms>> {
    require(&caller, Action::ManageEvaluationForms)?;
    let b = body.into_inner();
    let (id, actor) = (id.into_inner(), caller.person_id.clone());
    let forms = state
        .db(move |c| {
            store::set_course_forms(
                c,
                &actor,
                &id,
                b.post_course.as_deref(),
                b.follow_up.as_deref(),
            )
        })
        .await?;
    Ok(web::Json(forms.into_view()))
}

/// The problem for a token that cannot be used.
pub fn token_problem(opened: &Opened, token_days: u32) -> Option<AppError> {
    match opened {
        Opened::Unknown => Some(AppError::NotFound),
        Opened::Expired => Some(AppError::Gone {
            code: "expired",
            detail: format!(
                "This evaluation link has expired: links work for {token_days} days after they \
                 are sent."
            ),
        }),
        Opened::Answered => Some(already_answered()),
        Opened::Open(_) => None,
    }
}

fn already_answered() -> AppError {
    AppError::conflict(
        "already_answered",
        "This evaluation has already been answered. Thank you.",
    )
}

/// The form behind an evaluation link, with the course it is about. 404 for an unknown
/// token, 410 (`expired`) for an expired one, 409 (`already_answered`) once answered.
#[utoipa::path(tag = "evaluation", params(("token" = String, Path, description = "The token from the emailed link")),
    responses(
    (status = 200, body = Invitation),
    NotFound,
    Conflict,
    (status = 410, body = Problem, content_type = PROBLEM_JSON),
))]
#[get("/evaluations/{token}")]
pub async fn get_evaluation(
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> AppResult<web::Json<Invitation>> {
    let hash = tokens::hash(token.trim());
    let opened = state
        .db(move |c| Ok(store::open(c, &hash, time::now())?))
        .await?;
    if let Some(e) = token_problem(&opened, state.settings.evaluation.token_days) {
        return Err(e);
    }
    match opened {
        Opened::Open(i) => Ok(web::Json((*i).into_view())),
        _ => Err(AppError::NotFound),
    }
}

/// Answers to an evaluation.
#[derive(Debug, Deserialize, Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswersRequest {
    /// Question key -> answer: a rating 1-5; an option value; a list of option values; text;
    /// or `{"before": 1-5, "after": 1-5}`.
    #[schema(value_type = Object)]
    pub answers: serde_json::Map<String, Value>,
}

/// The outcome of answering.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Answered {
    /// Always `answered`.
    pub status: &'static str,
    /// Whether an impact follow-up was scheduled (the person agreed to one).
    pub follow_up_scheduled: bool,
}

/// 422 naming each question at fault as `answers.<key>`.
pub fn answer_errors(errors: AnswerErrors) -> AppError {
    AppError::Validation(
        errors
            .into_iter()
            .map(|(k, m)| (format!("answers.{k}"), vec![m]))
            .collect(),
    )
}

/// Answer an evaluation (once). 201 when saved; 422 naming each question at fault
/// (`answers.<key>`), changing nothing; 409 `already_answered` for a second answer, however
/// close together the two are sent; 404 for an unknown token; 410 `expired`.
#[utoipa::path(tag = "evaluation", params(("token" = String, Path, description = "The token from the emailed link")),
    request_body = AnswersRequest, responses(
    (status = 201, body = Answered),
    NotFound,
    Conflict,
    (status = 410, body = Problem, content_type = PROBLEM_JSON),
    Invalid,
))]
#[post("/evaluations/{token}")]
pub async fn answer_evaluation(
    state: web::Data<AppState>,
    token: web::Path<String>,
    body: ValidJson<AnswersRequest>,
) -> AppResult<HttpResponse> {
    let hash = tokens::hash(token.trim());
    let answers = body.into_inner().answers;
    let settings = state.settings.clone();
    let outcome = state
        .db(move |c| store::submit(c, &hash, &answers, time::now(), &settings))
        .await?;
    match outcome {
        Submitted::Saved {
            follow_up_scheduled,
        } => Ok(HttpResponse::Created().json(Answered {
            status: "answered",
            follow_up_scheduled,
        })),
        Submitted::Invalid(errors) => Err(answer_errors(errors)),
        Submitted::Answered => Err(already_answered()),
        Submitted::Expired => Err(token_problem(
            &Opened::Expired,
            state.settings.evaluation.token_days,
        )
        .unwrap_or(AppError::NotFound)),
        Submitted::Unknown => Err(AppError::NotFound),
    }
}

/// A course's evaluation results, for its leads, the CPD group and admins (404 for anyone
/// else). Per form kind: invitations, responses and the response rate; per rating question
/// the mean and the distribution; per before/after pair the means and the shift; per choice
/// question the counts; free-text answers for the CPD group and admins only (sorted, without
/// names). Any figure from fewer than `EVALUATION_MIN_RESPONSES` (at least 5) respondents is
/// replaced by `{"suppressed": true, "reason": "fewer than 5 responses"}`.
#[utoipa::path(tag = "evaluation", params(("id" = String, Path, description = "The course")),
    security(("bearer" = [])), responses(
    (status = 200, body = EvaluationSummary),
    Unauthorized,
    NotFound,
))]
#[get("/courses/{id}/evaluation-summary")]
pub async fn course_summary(
    state: web::Data<AppState>,
    caller: Caller,
    id: PathId,
) -> AppResult<web::Json<EvaluationSummary>> {
    let id = id.into_inner();
    let threshold = Threshold::new(state.settings.evaluation.min_responses);
    let summary = state
        .db(move |c| {
            let leads = store::course_lead_ids(c, &id)?;
            require_visible(&caller, Action::ReadEvaluationSummary { lead_ids: &leads })?;
            let with_text = policy::allows(&caller, &Action::ReadEvaluationText);
            store::course_summary(c, &id, threshold, with_text)
        })
        .await?;
    Ok(web::Json(summary.into_view()))
}

/// Registers the evaluation endpoints.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_forms)
        .service(create_form)
        .service(get_form)
        .service(update_form)
        .service(set_course_forms)
        .service(get_evaluation)
        .service(answer_evaluation)
        .service(course_summary);
}
