//! The evaluation form page: `GET /evaluate/{token}` shows the form behind an emailed link,
//! `POST /evaluate/{token}` saves the answers. The token in the URL is the credential (no
//! sign-in); the POST is still checked as coming from cpd-hub's own page by the cross-site
//! check every form outside `/api/` gets (`auth::csrf`).
//!
//! The page works without JavaScript: one fieldset per question with its legend, radio
//! buttons for ratings with the ends labelled, checkboxes for multiple choice, a textarea for
//! free text; errors next to their question (and tied to it with `aria-describedby`) with a
//! summary at the top, and every answer kept when the form comes back with errors.

use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use minijinja::context;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::app::state::AppState;
use crate::domain::evaluation::{FormKind, QuestionKind, RATING_MAX, RATING_MIN};
use crate::domain::time;
use crate::domain::tokens;
use crate::error::responses::CrossSite;
use crate::error::{AppError, AppResult};
use crate::store::evaluation::{self as store, Invitation, Opened, QuestionView, Submitted};

use super::page;

/// One question as the template shows it, with what was entered and what is wrong.
#[derive(Debug, Serialize)]
struct QuestionPage {
    key: String,
    kind: String,
    prompt: String,
    help: Option<String>,
    required: bool,
    low_label: Option<String>,
    high_label: Option<String>,
    options: Vec<crate::domain::evaluation::ChoiceOption>,
    /// The chosen rating or option (as text).
    value: String,
    before: String,
    after: String,
    chosen: Vec<String>,
    text: String,
    error: Option<String>,
    /// The id of the first control, for the error summary's link.
    anchor: String,
}

/// What was posted: every `(name, value)` pair, in order (checkboxes repeat their name).
type Posted = Vec<(String, String)>;

fn field<'a>(posted: &'a Posted, name: &str) -> Option<&'a str> {
    posted
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.trim().is_empty())
}

fn number_or_text(v: Option<&str>) -> Value {
    match v {
        None => Value::Null,
        Some(s) => s
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(s.to_string())),
    }
}

/// The answers as the API takes them, built from the posted fields of each question (other
/// fields are ignored).
fn answers_from(questions: &[QuestionView], posted: &Posted) -> Map<String, Value> {
    let mut out = Map::new();
    for q in questions {
        let name = format!("q-{}", q.key);
        let value = match QuestionKind::parse(&q.kind) {
            Some(QuestionKind::Rating) => number_or_text(field(posted, &name)),
            Some(QuestionKind::Retrospective) => {
                let before = number_or_text(field(posted, &format!("{name}-before")));
                let after = number_or_text(field(posted, &format!("{name}-after")));
                serde_json::json!({"before": before, "after": after})
            }
            Some(QuestionKind::MultipleChoice) => Value::Array(
                posted
                    .iter()
                    .filter(|(k, _)| *k == name)
                    .map(|(_, v)| Value::String(v.clone()))
                    .collect(),
            ),
            Some(QuestionKind::SingleChoice) | Some(QuestionKind::FreeText) | None => {
                field(posted, &name)
                    .map(|s| Value::String(s.to_string()))
                    .unwrap_or(Value::Null)
            }
        };
        out.insert(q.key.clone(), value);
    }
    out
}

fn questions_page(
    questions: &[QuestionView],
    posted: &Posted,
    errors: &crate::domain::evaluation::AnswerErrors,
) -> Vec<QuestionPage> {
    questions
        .iter()
        .map(|q| {
            let name = format!("q-{}", q.key);
            let get = |n: &str| field(posted, n).unwrap_or_default().to_string();
            let anchor = match QuestionKind::parse(&q.kind) {
                Some(QuestionKind::Rating) => format!("{name}-{RATING_MIN}"),
                Some(QuestionKind::Retrospective) => format!("{name}-before-{RATING_MIN}"),
                Some(QuestionKind::SingleChoice | QuestionKind::MultipleChoice) => q
                    .options
                    .first()
                    .map(|o| format!("{name}-{}", o.value))
                    .unwrap_or_else(|| name.clone()),
                _ => name.clone(),
            };
            QuestionPage {
                key: q.key.clone(),
                kind: q.kind.clone(),
                prompt: q.prompt.clone(),
                help: q.help.clone(),
                required: q.required,
                low_label: q.low_label.clone(),
                high_label: q.high_label.clone(),
                options: q.options.clone(),
                value: get(&name),
                before: get(&format!("{name}-before")),
                after: get(&format!("{name}-after")),
                chosen: posted
                    .iter()
                    .filter(|(k, _)| *k == name)
                    .map(|(_, v)| v.clone())
                    .collect(),
                text: posted
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default(),
                error: errors.get(&q.key).cloned(),
                anchor,
            }
        })
        .collect()
}

fn form_page(
    state: &AppState,
    status: StatusCode,
    token: &str,
    invitation: &Invitation,
    posted: &Posted,
    errors: &crate::domain::evaluation::AnswerErrors,
) -> AppResult<HttpResponse> {
    let questions = questions_page(&invitation.form.questions, posted, errors);
    let summary: Vec<Value> = questions
        .iter()
        .filter_map(|q| {
            q.error
                .as_ref()
                .map(|e| serde_json::json!({"anchor": q.anchor, "prompt": q.prompt, "message": e}))
        })
        .collect();
    let follow_up = invitation.kind == FormKind::FollowUp.as_str();
    page(
        status,
        "evaluate_form.html",
        context! {
            token,
            follow_up,
            course => &invitation.course,
            form_name => &invitation.form.name,
            questions,
            errors => summary,
            scale => (RATING_MIN..=RATING_MAX).collect::<Vec<_>>(),
            min_responses => state.settings.evaluation.min_responses.max(5),
        },
    )
}

/// The page for a link that cannot be used (or has been), never an error trace.
fn closed_page(state: &AppState, opened: &Opened, posting: bool) -> AppResult<HttpResponse> {
    let days = state.settings.evaluation.token_days;
    match opened {
        Opened::Answered => page(
            // Opening the link again is fine; sending the form again is a conflict.
            if posting {
                StatusCode::CONFLICT
            } else {
                StatusCode::OK
            },
            "evaluate_done.html",
            context! { already => true },
        ),
        Opened::Expired => page(
            StatusCode::GONE,
            "evaluate_closed.html",
            context! { reason => "expired", token_days => days },
        ),
        Opened::Unknown | Opened::Open(_) => page(
            StatusCode::NOT_FOUND,
            "evaluate_closed.html",
            context! { reason => "unknown", token_days => days },
        ),
    }
}

async fn open(state: &AppState, token: &str) -> AppResult<Opened> {
    let hash = tokens::hash(token.trim());
    state
        .db(move |c| Ok(store::open(c, &hash, time::now())?))
        .await
}

/// The evaluation form behind an emailed link. Opening it changes nothing (mail scanners
/// open links); a used link says so, and so does an expired or unknown one.
#[utoipa::path(tag = "web", params(("token" = String, Path, description = "The token from the emailed link")),
    responses(
    (status = 200, description = "The form, or \"You've already answered\"", content_type = "text/html", body = String),
    (status = 404, description = "Unknown link", content_type = "text/html", body = String),
    (status = 410, description = "Expired link", content_type = "text/html", body = String),
))]
#[get("/evaluate/{token}")]
pub async fn evaluate_page(
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> AppResult<HttpResponse> {
    let token = token.into_inner();
    match open(&state, &token).await? {
        Opened::Open(inv) => form_page(
            &state,
            StatusCode::OK,
            &token,
            &inv,
            &Vec::new(),
            &Default::default(),
        ),
        other => closed_page(&state, &other, false),
    }
}

/// Send the evaluation form. Saved: a thank-you page. Answers that cannot be accepted: the
/// form again (422) with each problem next to its question and everything entered kept.
/// Sent again: "You've already answered" (409).
#[utoipa::path(tag = "web", params(("token" = String, Path, description = "The token from the emailed link")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "`q-<key>` per question (repeated for checkboxes); `q-<key>-before` and `q-<key>-after` for before/after pairs"),
    responses(
    (status = 200, description = "Saved: thank you", content_type = "text/html", body = String),
    CrossSite,
    (status = 404, description = "Unknown link", content_type = "text/html", body = String),
    (status = 409, description = "Already answered", content_type = "text/html", body = String),
    (status = 410, description = "Expired link", content_type = "text/html", body = String),
    (status = 422, description = "The form with the problems shown", content_type = "text/html", body = String),
))]
#[post("/evaluate/{token}")]
pub async fn evaluate_submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
    body: web::Bytes,
) -> AppResult<HttpResponse> {
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(AppError::UnsupportedMedia(
            "application/x-www-form-urlencoded",
        ));
    }
    if body.len() > 256 * 1024 {
        return Err(AppError::Malformed(
            "the form is larger than 256 KiB".into(),
        ));
    }
    let posted: Posted = url::form_urlencoded::parse(&body).into_owned().collect();
    let token = token.into_inner();
    let invitation = match open(&state, &token).await? {
        Opened::Open(inv) => inv,
        other => return closed_page(&state, &other, true),
    };
    let answers = answers_from(&invitation.form.questions, &posted);
    let hash = tokens::hash(token.trim());
    let settings = state.settings.clone();
    let outcome = state
        .db(move |c| store::submit(c, &hash, &answers, time::now(), &settings))
        .await?;
    match outcome {
        Submitted::Saved {
            follow_up_scheduled,
        } => page(
            StatusCode::OK,
            "evaluate_done.html",
            context! { already => false, follow_up_scheduled },
        ),
        Submitted::Invalid(errors) => form_page(
            &state,
            StatusCode::UNPROCESSABLE_ENTITY,
            &token,
            &invitation,
            &posted,
            &errors,
        ),
        Submitted::Answered => closed_page(&state, &Opened::Answered, true),
        Submitted::Expired => closed_page(&state, &Opened::Expired, true),
        Submitted::Unknown => closed_page(&state, &Opened::Unknown, true),
    }
}

/// Registers the evaluation pages.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(evaluate_page)
        .service(evaluate_submit)
        .service(answer_waiting);
}

/// Opens one of the signed-in person's waiting evaluations (from their start page): a new
/// link to the form, open no longer than the emailed one.
#[utoipa::path(tag = "web", params(("id" = String, Path, description = "The invitation")), responses(
    (status = 303, description = "To the evaluation form (or to sign-in)"),
    crate::error::responses::CrossSite,
    (status = 404, description = "Not the reader's, answered, or closed", content_type = "text/html", body = String),
))]
#[post("/my/evaluations/{id}")]
pub async fn answer_waiting(
    state: web::Data<AppState>,
    caller: crate::auth::MaybeCaller,
    id: web::Path<String>,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(super::sign_in_first());
    };
    let path = crate::app::evaluation::answer_path(&state, &caller, &id, time::now()).await?;
    Ok(super::see_other(&path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn questions() -> Vec<QuestionView> {
        crate::domain::evaluation::default_forms()
            .remove(0)
            .questions
            .iter()
            .map(QuestionView::from)
            .collect()
    }

    #[test]
    fn posted_fields_become_api_answers() {
        let posted: Posted = [
            ("q-overall", "4"),
            ("q-relevance", "five"),
            ("q-confidence-before", "2"),
            ("q-confidence-after", "5"),
            ("q-target_group", "ks1"),
            ("q-target_group", "send"),
            ("q-action_plan", "  Try it  "),
            ("q-consent_follow_up", "no"),
            ("other", "ignored"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let a = answers_from(&questions(), &posted);
        assert_eq!(a["overall"], serde_json::json!(4));
        assert_eq!(a["relevance"], serde_json::json!("five"));
        assert_eq!(a["delivery"], Value::Null);
        assert_eq!(
            a["confidence"],
            serde_json::json!({"before": 2, "after": 5})
        );
        assert_eq!(a["target_group"], serde_json::json!(["ks1", "send"]));
        assert_eq!(a["action_plan"], serde_json::json!("  Try it  "));
        assert!(!a.contains_key("other"));
        let errs = crate::domain::evaluation::validate_answers(
            &crate::domain::evaluation::default_forms()
                .remove(0)
                .questions,
            &a,
        )
        .unwrap_err();
        assert_eq!(errs.keys().collect::<Vec<_>>(), ["delivery", "relevance"]);
    }

    #[test]
    fn the_form_page_keeps_values_and_ties_errors_to_questions() {
        let posted: Posted = vec![
            ("q-overall".into(), "4".into()),
            ("q-target_group".into(), "ks1".into()),
            ("q-action_plan".into(), "<b>bold</b>".into()),
        ];
        let mut errors = crate::domain::evaluation::AnswerErrors::new();
        errors.insert("relevance".into(), "Choose a rating from 1 to 5".into());
        let qs = questions_page(&questions(), &posted, &errors);
        let html = super::super::templates()
            .get_template("evaluate_form.html")
            .unwrap()
            .render(context! {
                token => "tok",
                course => context!{ title => "Phonics", dates => "Thursday 14 January 2027" },
                form_name => "Post-course evaluation",
                questions => qs,
                errors => vec![serde_json::json!({"anchor": "q-relevance-1", "prompt": "How relevant", "message": "Choose a rating from 1 to 5"})],
                scale => vec![1, 2, 3, 4, 5],
                min_responses => 5,
            })
            .unwrap();
        assert!(
            html.contains(r#"id="q-overall-4" name="q-overall" value="4" checked"#),
            "{html}"
        );
        assert!(html.contains(r#"value="ks1" checked"#));
        assert!(
            html.contains("&lt;b&gt;bold&lt;&#x2f;b&gt;</textarea>"),
            "{html}"
        );
        assert!(
            html.contains(r#"aria-describedby="error-relevance""#),
            "{html}"
        );
        assert!(html.contains(r##"href="#q-relevance-1""##));
        assert!(html.contains("<legend"));
        assert!(!html.contains("<script"));
        assert!(html.contains("Poor"));
    }
}
