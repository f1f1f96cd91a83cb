//! Evaluation: form templates and their versions, invitations with their single-use tokens,
//! answers, the course summary, and what erasure and the subject access export need.
//!
//! Invitations come from [`on_course_register_complete`], called in the attendance store's
//! transaction when the register of a course's last session is first recorded, and from
//! [`run_jobs`] (the evaluation job), which also catches any course the hook missed, emails
//! every invitation that has come due (with its own token) and sends the reminders. Every step is idempotent and
//! safe with several service copies on one database: rows are claimed with conditional
//! updates and inserted with `ON CONFLICT DO NOTHING`.

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, Duration, NaiveDateTime};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::{json, Value};

use super::new_id;
use super::outbox::{self, NewMessage};
use crate::auth::tokens;
use crate::config::Settings;
use crate::db::schema::{
    attendance, bookings, course_evaluation_forms, courses, evaluation_answers, evaluation_forms,
    evaluation_invitations, evaluation_questions, evaluation_responses, evaluation_tokens, people,
    schools,
};
use crate::db::DbConn;
use crate::domain::evaluation::{
    default_forms, guskey_name, Answer, AnswerErrors, ChoiceOption, FormKind, Metric, Question,
    QuestionKind, RATING_MAX, RATING_MIN,
};
use crate::domain::notification::Kind;
use crate::domain::paging::Page;
use crate::domain::suppression::{cell, Cell, Threshold};
use crate::domain::time::{self, LONDON};
use crate::error::{AppError, AppResult};

/// The attendance statuses that earn an evaluation invitation.
pub const ATTENDED: [&str; 3] = ["present", "late", "left_early"];

// ---------------------------------------------------------------------------------------------
// Forms

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = evaluation_forms)]
struct FormRow {
    id: String,
    family_id: String,
    kind: String,
    name: String,
    description: String,
    version: i32,
    is_default: bool,
    #[allow(dead_code)]
    created_by: Option<String>,
    created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = evaluation_questions)]
struct QuestionRow {
    id: String,
    #[allow(dead_code)]
    form_id: String,
    #[allow(dead_code)]
    position: i32,
    key: String,
    kind: String,
    prompt: String,
    help: Option<String>,
    required: bool,
    guskey_level: i32,
    low_label: Option<String>,
    high_label: Option<String>,
    options: Option<String>,
    metric: Option<String>,
}

impl QuestionRow {
    fn options(&self) -> Vec<ChoiceOption> {
        self.options
            .as_deref()
            .and_then(|o| serde_json::from_str(o).ok())
            .unwrap_or_default()
    }

    fn question(&self) -> Question {
        Question {
            key: self.key.clone(),
            kind: QuestionKind::parse(&self.kind).unwrap_or(QuestionKind::FreeText),
            prompt: self.prompt.clone(),
            help: self.help.clone(),
            required: self.required,
            guskey_level: self.guskey_level,
            low_label: self.low_label.clone(),
            high_label: self.high_label.clone(),
            options: self.options(),
            metric: self.metric.as_deref().and_then(Metric::parse),
        }
    }
}

/// A question as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct QuestionView {
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

impl From<&Question> for QuestionView {
    fn from(q: &Question) -> Self {
        QuestionView {
            key: q.key.clone(),
            kind: q.kind.as_str().into(),
            prompt: q.prompt.clone(),
            help: q.help.clone(),
            required: q.required,
            guskey_level: q.guskey_level,
            guskey_name: guskey_name(q.guskey_level).unwrap_or_default().into(),
            low_label: q.low_label.clone(),
            high_label: q.high_label.clone(),
            options: q.options.clone(),
            metric: q.metric.map(|m| m.as_str().into()),
        }
    }
}

/// A version of a form.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FormView {
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
    #[serde(with = "time::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: NaiveDateTime,
    /// The questions, in order.
    pub questions: Vec<QuestionView>,
}

/// A form to create, or the new content of one (already checked with
/// `domain::evaluation::validate_form`).
#[derive(Debug, Clone)]
pub struct FormInput {
    /// Its kind (fixed for a family).
    pub kind: FormKind,
    /// Its name.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// `Some(true)` makes the family its kind's default; `None` leaves that as it is.
    pub is_default: Option<bool>,
    /// The questions, in order.
    pub questions: Vec<Question>,
}

fn form_row(conn: &mut DbConn, id: &str) -> QueryResult<Option<FormRow>> {
    evaluation_forms::table
        .find(id)
        .select(FormRow::as_select())
        .first(conn)
        .optional()
}

fn question_rows(conn: &mut DbConn, form_id: &str) -> QueryResult<Vec<QuestionRow>> {
    evaluation_questions::table
        .filter(evaluation_questions::form_id.eq(form_id))
        .order(evaluation_questions::position.asc())
        .select(QuestionRow::as_select())
        .load(conn)
}

fn latest_version(conn: &mut DbConn, family_id: &str) -> QueryResult<i32> {
    Ok(evaluation_forms::table
        .filter(evaluation_forms::family_id.eq(family_id))
        .select(diesel::dsl::max(evaluation_forms::version))
        .first::<Option<i32>>(conn)?
        .unwrap_or(0))
}

fn form_in_use(conn: &mut DbConn, form_id: &str) -> QueryResult<bool> {
    let invited: i64 = evaluation_invitations::table
        .filter(evaluation_invitations::form_id.eq(form_id))
        .count()
        .get_result(conn)?;
    if invited > 0 {
        return Ok(true);
    }
    let answered: i64 = evaluation_responses::table
        .filter(evaluation_responses::form_id.eq(form_id))
        .count()
        .get_result(conn)?;
    Ok(answered > 0)
}

fn view(conn: &mut DbConn, row: FormRow) -> QueryResult<FormView> {
    let questions = question_rows(conn, &row.id)?
        .iter()
        .map(|q| QuestionView::from(&q.question()))
        .collect();
    let current = latest_version(conn, &row.family_id)? == row.version;
    let in_use = form_in_use(conn, &row.id)?;
    Ok(FormView {
        id: row.id,
        family_id: row.family_id,
        kind: row.kind,
        name: row.name,
        description: row.description,
        version: row.version,
        is_default: row.is_default,
        current,
        in_use,
        created_at: row.created_at,
        questions,
    })
}

/// One version of a form; 404 when there is none.
pub fn get_form(conn: &mut DbConn, id: &str) -> AppResult<FormView> {
    let row = form_row(conn, id)?.ok_or(AppError::NotFound)?;
    Ok(view(conn, row)?)
}

/// The current version of each form family (optionally of one kind), defaults first then by
/// name; or, with `family`, every version of that family, newest first.
pub fn list_forms(
    conn: &mut DbConn,
    kind: Option<FormKind>,
    family: Option<&str>,
) -> AppResult<Page<FormView>> {
    let mut q = evaluation_forms::table
        .select(FormRow::as_select())
        .into_boxed();
    if let Some(k) = kind {
        q = q.filter(evaluation_forms::kind.eq(k.as_str()));
    }
    if let Some(f) = family {
        q = q.filter(evaluation_forms::family_id.eq(f.to_string()));
    }
    let rows: Vec<FormRow> = q.load(conn)?;
    let picked: Vec<FormRow> = if family.is_some() {
        let mut rows = rows;
        rows.sort_by_key(|r| std::cmp::Reverse(r.version));
        rows
    } else {
        let mut newest: BTreeMap<String, FormRow> = BTreeMap::new();
        for r in rows {
            match newest.get(&r.family_id) {
                Some(n) if n.version >= r.version => {}
                _ => {
                    newest.insert(r.family_id.clone(), r);
                }
            }
        }
        let mut rows: Vec<FormRow> = newest.into_values().collect();
        rows.sort_by(|a, b| {
            (a.kind.as_str(), !a.is_default, a.name.to_lowercase()).cmp(&(
                b.kind.as_str(),
                !b.is_default,
                b.name.to_lowercase(),
            ))
        });
        rows
    };
    let items = picked
        .into_iter()
        .map(|r| view(conn, r))
        .collect::<QueryResult<Vec<_>>>()?;
    Ok(Page {
        total: items.len() as i64,
        items,
    })
}

fn insert_version(
    conn: &mut DbConn,
    family_id: &str,
    version: i32,
    is_default: bool,
    input: &FormInput,
    actor_id: Option<&str>,
) -> QueryResult<String> {
    let id = new_id();
    diesel::insert_into(evaluation_forms::table)
        .values((
            evaluation_forms::id.eq(&id),
            evaluation_forms::family_id.eq(family_id),
            evaluation_forms::kind.eq(input.kind.as_str()),
            evaluation_forms::name.eq(input.name.trim()),
            evaluation_forms::description.eq(input.description.trim()),
            evaluation_forms::version.eq(version),
            evaluation_forms::is_default.eq(is_default),
            evaluation_forms::created_by.eq(actor_id),
            evaluation_forms::created_at.eq(time::now()),
        ))
        .execute(conn)?;
    insert_questions(conn, &id, &input.questions)?;
    Ok(id)
}

fn insert_questions(conn: &mut DbConn, form_id: &str, questions: &[Question]) -> QueryResult<()> {
    for (i, q) in questions.iter().enumerate() {
        let options = q
            .kind
            .has_options()
            .then(|| serde_json::to_string(&q.options).unwrap_or_else(|_| "[]".into()));
        diesel::insert_into(evaluation_questions::table)
            .values((
                evaluation_questions::id.eq(new_id()),
                evaluation_questions::form_id.eq(form_id),
                evaluation_questions::position.eq(i as i32),
                evaluation_questions::key.eq(&q.key),
                evaluation_questions::kind.eq(q.kind.as_str()),
                evaluation_questions::prompt.eq(q.prompt.trim()),
                evaluation_questions::help.eq(q.help.as_deref().map(str::trim)),
                evaluation_questions::required.eq(q.required),
                evaluation_questions::guskey_level.eq(q.guskey_level),
                evaluation_questions::low_label.eq(q.low_label.as_deref()),
                evaluation_questions::high_label.eq(q.high_label.as_deref()),
                evaluation_questions::options.eq(options),
                evaluation_questions::metric.eq(q.metric.map(|m| m.as_str())),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Makes `family_id` the only default family of its kind.
fn make_default(conn: &mut DbConn, kind: FormKind, family_id: &str) -> QueryResult<()> {
    diesel::update(
        evaluation_forms::table
            .filter(evaluation_forms::kind.eq(kind.as_str()))
            .filter(evaluation_forms::family_id.ne(family_id)),
    )
    .set(evaluation_forms::is_default.eq(false))
    .execute(conn)?;
    diesel::update(evaluation_forms::table.filter(evaluation_forms::family_id.eq(family_id)))
        .set(evaluation_forms::is_default.eq(true))
        .execute(conn)?;
    Ok(())
}

/// Creates a form (version 1 of a new family).
pub fn create_form(conn: &mut DbConn, actor_id: &str, input: &FormInput) -> AppResult<FormView> {
    crate::db::write_tx(conn, |conn| {
        let family_id = new_id();
        let default = input.is_default == Some(true);
        let id = insert_version(conn, &family_id, 1, default, input, Some(actor_id))?;
        if default {
            make_default(conn, input.kind, &family_id)?;
        }
        super::audit::record(
            conn,
            Some(actor_id),
            "evaluation_form.create",
            "evaluation_form",
            Some(&id),
            json!({"family_id": family_id, "version": 1}),
        )?;
        get_form(conn, &id)
    })
}

/// Changes a form: in place while no invitation or answer refers to it, otherwise as a new
/// version of its family (the old version stays as it was, for the answers given to it).
/// Only a family's current version can be changed (409 `not_current_version`); its kind
/// cannot (422 `kind`); a default cannot stop being the default except by making another
/// family the default (422 `is_default`). Returns the form and whether it is a new version.
pub fn update_form(
    conn: &mut DbConn,
    actor_id: &str,
    id: &str,
    input: &FormInput,
) -> AppResult<(FormView, bool)> {
    crate::db::write_tx(conn, |conn| {
        let row = form_row(conn, id)?.ok_or(AppError::NotFound)?;
        let latest = latest_version(conn, &row.family_id)?;
        if row.version != latest {
            return Err(AppError::conflict(
                "not_current_version",
                format!(
                    "This is version {} of the form; only the current version ({latest}) can be \
                     changed.",
                    row.version
                ),
            ));
        }
        if row.kind != input.kind.as_str() {
            return Err(AppError::invalid(
                "kind",
                format!("cannot change: this form family is {}", row.kind),
            ));
        }
        if row.is_default && input.is_default == Some(false) {
            return Err(AppError::invalid(
                "is_default",
                "each kind needs a default form: make another form the default instead",
            ));
        }
        let default = input.is_default.unwrap_or(row.is_default);
        let (new_id, new_version) = if form_in_use(conn, &row.id)? {
            let v = latest + 1;
            let nid = insert_version(conn, &row.family_id, v, default, input, Some(actor_id))?;
            (nid, true)
        } else {
            diesel::update(evaluation_forms::table.find(&row.id))
                .set((
                    evaluation_forms::name.eq(input.name.trim()),
                    evaluation_forms::description.eq(input.description.trim()),
                    evaluation_forms::is_default.eq(default),
                ))
                .execute(conn)?;
            diesel::delete(
                evaluation_questions::table.filter(evaluation_questions::form_id.eq(&row.id)),
            )
            .execute(conn)?;
            insert_questions(conn, &row.id, &input.questions)?;
            (row.id.clone(), false)
        };
        if default {
            make_default(conn, input.kind, &row.family_id)?;
        }
        super::audit::record(
            conn,
            Some(actor_id),
            if new_version {
                "evaluation_form.new_version"
            } else {
                "evaluation_form.update"
            },
            "evaluation_form",
            Some(&new_id),
            json!({"family_id": row.family_id, "from_version": row.version}),
        )?;
        Ok((get_form(conn, &new_id)?, new_version))
    })
}

/// Seeds the default post-course and follow-up forms when their families are missing.
/// Idempotent (the families have fixed ids); a default is only made the default of its kind
/// when its kind has none, so an admin's choice of another default survives.
pub fn seed_default_forms(conn: &mut DbConn) -> QueryResult<()> {
    crate::db::write_tx(conn, |conn| {
        if let DbConn::Pg(c) = conn {
            // Two copies migrating at once would both see the families missing.
            diesel::sql_query("SELECT pg_advisory_xact_lock(7291606)").execute(c)?;
        }
        for form in default_forms() {
            let have: i64 = evaluation_forms::table
                .filter(evaluation_forms::family_id.eq(form.family_id))
                .count()
                .get_result(conn)?;
            if have > 0 {
                continue;
            }
            let defaults: i64 = evaluation_forms::table
                .filter(evaluation_forms::kind.eq(form.kind.as_str()))
                .filter(evaluation_forms::is_default.eq(true))
                .count()
                .get_result(conn)?;
            let input = FormInput {
                kind: form.kind,
                name: form.name.into(),
                description: form.description.into(),
                is_default: None,
                questions: form.questions,
            };
            insert_version(conn, form.family_id, 1, defaults == 0, &input, None)?;
        }
        Ok(())
    })
}

/// The family a course uses for a kind: its own choice, or the kind's default.
fn family_for(conn: &mut DbConn, course_id: &str, kind: FormKind) -> QueryResult<Option<String>> {
    let chosen: Option<String> = course_evaluation_forms::table
        .filter(course_evaluation_forms::course_id.eq(course_id))
        .filter(course_evaluation_forms::kind.eq(kind.as_str()))
        .select(course_evaluation_forms::family_id)
        .first(conn)
        .optional()?;
    if chosen.is_some() {
        return Ok(chosen);
    }
    evaluation_forms::table
        .filter(evaluation_forms::kind.eq(kind.as_str()))
        .filter(evaluation_forms::is_default.eq(true))
        .order(evaluation_forms::created_at.asc())
        .select(evaluation_forms::family_id)
        .first(conn)
        .optional()
}

/// The current version of the form a course uses for a kind, if there is one.
fn current_form_id(
    conn: &mut DbConn,
    course_id: &str,
    kind: FormKind,
) -> QueryResult<Option<String>> {
    let Some(family) = family_for(conn, course_id, kind)? else {
        return Ok(None);
    };
    evaluation_forms::table
        .filter(evaluation_forms::family_id.eq(&family))
        .order(evaluation_forms::version.desc())
        .select(evaluation_forms::id)
        .first(conn)
        .optional()
}

/// The form a course uses for one kind.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CourseForm {
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
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CourseForms {
    /// The post-course form.
    pub post_course: Option<CourseForm>,
    /// The impact follow-up.
    pub follow_up: Option<CourseForm>,
}

fn course_form(
    conn: &mut DbConn,
    course_id: &str,
    kind: FormKind,
) -> QueryResult<Option<CourseForm>> {
    let chosen: i64 = course_evaluation_forms::table
        .filter(course_evaluation_forms::course_id.eq(course_id))
        .filter(course_evaluation_forms::kind.eq(kind.as_str()))
        .count()
        .get_result(conn)?;
    let Some(id) = current_form_id(conn, course_id, kind)? else {
        return Ok(None);
    };
    let Some(row) = form_row(conn, &id)? else {
        return Ok(None);
    };
    Ok(Some(CourseForm {
        family_id: row.family_id,
        form_id: row.id,
        name: row.name,
        version: row.version,
        chosen: chosen > 0,
    }))
}

/// Chooses a course's forms: a family id per kind, or `None` for the kind's default. 404 for
/// an unknown course; 422 naming the field for a family that does not exist or is of the
/// other kind.
pub fn set_course_forms(
    conn: &mut DbConn,
    actor_id: &str,
    course_id: &str,
    post_course: Option<&str>,
    follow_up: Option<&str>,
) -> AppResult<CourseForms> {
    crate::db::write_tx(conn, |conn| {
        let exists: i64 = courses::table.find(course_id).count().get_result(conn)?;
        if exists == 0 {
            return Err(AppError::NotFound);
        }
        let mut errors = crate::error::FieldErrors::new();
        for (field, kind, family) in [
            ("post_course", FormKind::PostCourse, post_course),
            ("follow_up", FormKind::FollowUp, follow_up),
        ] {
            if let Some(f) = family {
                let kinds: Vec<String> = evaluation_forms::table
                    .filter(evaluation_forms::family_id.eq(f))
                    .select(evaluation_forms::kind)
                    .load(conn)?;
                match kinds.first() {
                    None => {
                        errors.insert(field.into(), vec!["is not a form family".into()]);
                    }
                    Some(k) if k != kind.as_str() => {
                        errors.insert(
                            field.into(),
                            vec![format!("is a {k} form, not a {} form", kind.as_str())],
                        );
                    }
                    Some(_) => {}
                }
            }
        }
        if !errors.is_empty() {
            return Err(AppError::Validation(errors));
        }
        for (kind, family) in [
            (FormKind::PostCourse, post_course),
            (FormKind::FollowUp, follow_up),
        ] {
            diesel::delete(
                course_evaluation_forms::table
                    .filter(course_evaluation_forms::course_id.eq(course_id))
                    .filter(course_evaluation_forms::kind.eq(kind.as_str())),
            )
            .execute(conn)?;
            if let Some(f) = family {
                diesel::insert_into(course_evaluation_forms::table)
                    .values((
                        course_evaluation_forms::course_id.eq(course_id),
                        course_evaluation_forms::kind.eq(kind.as_str()),
                        course_evaluation_forms::family_id.eq(f),
                    ))
                    .execute(conn)?;
            }
        }
        super::audit::record(
            conn,
            Some(actor_id),
            "course.evaluation_forms",
            "course",
            Some(course_id),
            json!({"post_course": post_course, "follow_up": follow_up}),
        )?;
        Ok(CourseForms {
            post_course: course_form(conn, course_id, FormKind::PostCourse)?,
            follow_up: course_form(conn, course_id, FormKind::FollowUp)?,
        })
    })
}

// ---------------------------------------------------------------------------------------------
// Invitations

#[derive(Debug, Clone, Queryable)]
struct CourseFacts {
    id: String,
    title: String,
    status: String,
    first_session_start: Option<NaiveDateTime>,
    last_session_end: Option<NaiveDateTime>,
}

fn course_facts(conn: &mut DbConn, course_id: &str) -> QueryResult<Option<CourseFacts>> {
    courses::table
        .find(course_id)
        .select((
            courses::id,
            courses::title,
            courses::status,
            courses::first_session_start,
            courses::last_session_end,
        ))
        .first(conn)
        .optional()
}

/// `Thursday 14 January 2027`, or `14 January to 23 March 2027` for a course over several
/// days, in Europe/London.
pub fn course_dates(first: Option<NaiveDateTime>, last: Option<NaiveDateTime>) -> String {
    let local = |t: NaiveDateTime| time::to_utc(t).with_timezone(&LONDON).date_naive();
    match (first.map(local), last.map(local)) {
        (Some(a), Some(b)) if a != b => {
            if a.year() == b.year() {
                format!("{} to {}", a.format("%-d %B"), b.format("%-d %B %Y"))
            } else {
                format!("{} to {}", a.format("%-d %B %Y"), b.format("%-d %B %Y"))
            }
        }
        (Some(a), _) | (None, Some(a)) => a.format("%A %-d %B %Y").to_string(),
        (None, None) => String::new(),
    }
}

/// A new token for an invitation, valid until `expires_at`; returns the token itself (only
/// its SHA-256 is stored).
fn issue_token(
    conn: &mut DbConn,
    invitation_id: &str,
    now: NaiveDateTime,
    expires_at: NaiveDateTime,
) -> QueryResult<String> {
    // 192 bits from the operating system's random source.
    let token = tokens::random_hex(24);
    diesel::insert_into(evaluation_tokens::table)
        .values((
            evaluation_tokens::token_hash.eq(tokens::hash(&token)),
            evaluation_tokens::invitation_id.eq(invitation_id),
            evaluation_tokens::created_at.eq(now),
            evaluation_tokens::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(token)
}

fn token_lifetime(settings: &Settings) -> Duration {
    Duration::days(i64::from(settings.evaluation.token_days))
}

/// Who an invitation goes to: `(person id, name, email)`, or `None` when they were erased.
fn recipient(conn: &mut DbConn, booking_id: &str) -> QueryResult<Option<(String, String, String)>> {
    bookings::table
        .inner_join(people::table)
        .filter(bookings::id.eq(booking_id))
        .filter(people::erased_at.is_null())
        .select((people::id, people::name, people::email))
        .first(conn)
        .optional()
}

/// Queues the invitation or reminder email for an invitation, with a fresh token.
#[allow(clippy::too_many_arguments)]
fn send_email(
    conn: &mut DbConn,
    kind: Kind,
    invitation_id: &str,
    booking_id: &str,
    form_kind: FormKind,
    course: &CourseFacts,
    now: NaiveDateTime,
    settings: &Settings,
) -> QueryResult<bool> {
    let Some((person_id, name, email)) = recipient(conn, booking_id)? else {
        return Ok(false);
    };
    let expires_at = now + token_lifetime(settings);
    let token = issue_token(conn, invitation_id, now, expires_at)?;
    let payload = json!({
        "person_name": name,
        "course_title": course.title,
        "course_dates": course_dates(course.first_session_start, course.last_session_end),
        "form_kind": form_kind.as_str(),
        "link": format!("{}/evaluate/{token}", settings.public_base_url),
        "expires_at": rfc3339(expires_at),
    });
    outbox::enqueue(
        conn,
        NewMessage {
            kind: kind.as_str(),
            recipient_email: &email,
            recipient_person_id: Some(&person_id),
            subject_id: Some(invitation_id),
            payload,
        },
    )?;
    Ok(true)
}

fn rfc3339(t: NaiveDateTime) -> String {
    time::to_utc(t).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Inserts an invitation unless the booking has one of this kind already (on either
/// backend, without an error that would abort the caller's transaction). Returns whether it
/// was inserted.
#[allow(clippy::too_many_arguments)]
fn insert_invitation(
    conn: &mut DbConn,
    id: &str,
    course_id: &str,
    booking_id: &str,
    form_id: &str,
    kind: FormKind,
    now: NaiveDateTime,
    send_at: NaiveDateTime,
    sent_at: Option<NaiveDateTime>,
) -> QueryResult<bool> {
    let values = (
        evaluation_invitations::id.eq(id),
        evaluation_invitations::course_id.eq(course_id),
        evaluation_invitations::booking_id.eq(booking_id),
        evaluation_invitations::form_id.eq(form_id),
        evaluation_invitations::kind.eq(kind.as_str()),
        evaluation_invitations::created_at.eq(now),
        evaluation_invitations::send_at.eq(send_at),
        evaluation_invitations::sent_at.eq(sent_at),
        evaluation_invitations::reminders_sent.eq(0),
    );
    let n = match conn {
        DbConn::Pg(c) => diesel::insert_into(evaluation_invitations::table)
            .values(values)
            .on_conflict_do_nothing()
            .execute(c)?,
        DbConn::Sqlite(c) => diesel::insert_into(evaluation_invitations::table)
            .values(values)
            .on_conflict_do_nothing()
            .execute(c)?,
    };
    Ok(n == 1)
}

/// Creates, in the caller's transaction, a post-course invitation for every booking of the
/// course marked present, late or left early at any session (people not erased), due at
/// once. The attendance store calls it in the transaction that first records the register of
/// the course's last session, so the register and the invitations commit together; the
/// evaluation job ([`run_jobs`], woken by that save) then emails each invitation with its own
/// token. (The register's transaction knows nothing of links and mail settings, and an email
/// queued there would wait for the same job tick anyway.) Bookings invited already are left
/// alone, so calling it again, or from the job as well, invites nobody twice. Does nothing
/// for a cancelled course or when there is no post-course form. Returns how many invitations
/// it created.
pub fn on_course_register_complete(
    conn: &mut DbConn,
    course_id: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    let Some(course) = course_facts(conn, course_id)? else {
        return Ok(0);
    };
    if course.status == "cancelled" {
        return Ok(0);
    }
    let Some(form_id) = current_form_id(conn, course_id, FormKind::PostCourse)? else {
        tracing::warn!(course_id, "no post-course evaluation form: no invitations");
        return Ok(0);
    };
    let invited = evaluation_invitations::table
        .filter(evaluation_invitations::booking_id.eq(attendance::booking_id))
        .filter(evaluation_invitations::kind.eq(FormKind::PostCourse.as_str()));
    let booking_ids: Vec<String> = attendance::table
        .inner_join(bookings::table.inner_join(people::table))
        .filter(attendance::course_id.eq(course_id))
        .filter(attendance::status.eq_any(ATTENDED))
        .filter(people::erased_at.is_null())
        .filter(diesel::dsl::not(diesel::dsl::exists(invited)))
        .select(attendance::booking_id)
        .distinct()
        .order(attendance::booking_id.asc())
        .load(conn)?;
    let mut count = 0;
    for booking_id in booking_ids {
        let kind = FormKind::PostCourse;
        if insert_invitation(
            conn,
            &new_id(),
            course_id,
            &booking_id,
            &form_id,
            kind,
            now,
            now,
            None,
        )? {
            count += 1;
        }
    }
    if count > 0 {
        tracing::info!(
            course_id,
            invited = count,
            "post-course evaluation invitations"
        );
    }
    Ok(count)
}

/// Schedules the impact follow-up of one booking, due `follow_up_weeks` after the course's
/// last session (at once if that has passed). Returns whether it was scheduled (false when
/// it was already, or there is no follow-up form).
fn schedule_follow_up(
    conn: &mut DbConn,
    course_id: &str,
    booking_id: &str,
    now: NaiveDateTime,
    settings: &Settings,
) -> QueryResult<bool> {
    let Some(course) = course_facts(conn, course_id)? else {
        return Ok(false);
    };
    let Some(form_id) = current_form_id(conn, course_id, FormKind::FollowUp)? else {
        return Ok(false);
    };
    let weeks = Duration::weeks(i64::from(settings.evaluation.follow_up_weeks));
    let send_at = course.last_session_end.unwrap_or(now) + weeks;
    insert_invitation(
        conn,
        &new_id(),
        course_id,
        booking_id,
        &form_id,
        FormKind::FollowUp,
        now,
        send_at,
        None,
    )
}

/// What one run of the evaluation job did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobReport {
    /// Post-course invitations created by the job (for courses the hook missed).
    pub created: usize,
    /// Follow-ups scheduled for consenting answers that had none.
    pub follow_ups_scheduled: usize,
    /// Post-course invitations emailed.
    pub invitations_sent: usize,
    /// Follow-up invitations emailed because they came due.
    pub follow_ups_sent: usize,
    /// Reminders queued.
    pub reminders: usize,
}

impl JobReport {
    /// Whether anything was queued (so the email worker should be woken).
    pub fn queued_email(&self) -> bool {
        self.invitations_sent + self.follow_ups_sent + self.reminders > 0
    }
}

/// One run of the evaluation job, as of `now`: invitations for courses whose last register
/// is recorded but who have attendees not yet invited (a safety net behind the attendance
/// hook); follow-ups for consenting answers without one; every invitation that has come due
/// (post-course ones at once, follow-ups `follow_up_weeks` after the last session) emailed
/// with its own token; reminders on each of `settings.evaluation.reminder_days` to
/// invitations still unanswered and unexpired, each once and with a fresh token. Each item is
/// its own short transaction, claimed with a conditional update, so several copies of the
/// service can run the job at once.
pub fn run_jobs(
    conn: &mut DbConn,
    now: NaiveDateTime,
    settings: &Settings,
) -> QueryResult<JobReport> {
    let mut report = JobReport::default();

    // 1. Courses with attendees not yet invited.
    let invited = evaluation_invitations::table
        .filter(evaluation_invitations::booking_id.eq(attendance::booking_id))
        .filter(evaluation_invitations::kind.eq(FormKind::PostCourse.as_str()));
    let course_ids: Vec<String> = attendance::table
        .inner_join(courses::table)
        .inner_join(bookings::table.inner_join(people::table))
        .filter(courses::last_register_recorded_at.is_not_null())
        .filter(courses::status.ne("cancelled"))
        .filter(attendance::status.eq_any(ATTENDED))
        .filter(people::erased_at.is_null())
        .filter(diesel::dsl::not(diesel::dsl::exists(invited)))
        .select(attendance::course_id)
        .distinct()
        .load(conn)?;
    for course_id in course_ids {
        report.created +=
            crate::db::write_tx(conn, |c| on_course_register_complete(c, &course_id, now))?;
    }

    // 2. Consenting post-course answers without a follow-up.
    let followed = evaluation_invitations::table
        .filter(evaluation_invitations::booking_id.eq(evaluation_responses::booking_id))
        .filter(evaluation_invitations::kind.eq(FormKind::FollowUp.as_str()));
    let consenting: Vec<(String, String)> = evaluation_responses::table
        .filter(evaluation_responses::kind.eq(FormKind::PostCourse.as_str()))
        .filter(evaluation_responses::consent_follow_up.eq(true))
        .filter(diesel::dsl::not(diesel::dsl::exists(followed)))
        .select((
            evaluation_responses::course_id,
            evaluation_responses::booking_id,
        ))
        .load(conn)?;
    for (course_id, booking_id) in consenting {
        if crate::db::write_tx(conn, |c| {
            schedule_follow_up(c, &course_id, &booking_id, now, settings)
        })? {
            report.follow_ups_scheduled += 1;
        }
    }

    // 3. Invitations that have come due.
    let due: Vec<(String, String, String, String)> = evaluation_invitations::table
        .inner_join(courses::table.on(courses::id.eq(evaluation_invitations::course_id)))
        .filter(evaluation_invitations::sent_at.is_null())
        .filter(evaluation_invitations::answered_at.is_null())
        .filter(evaluation_invitations::send_at.le(now))
        .filter(courses::status.ne("cancelled"))
        .order(evaluation_invitations::send_at.asc())
        .select((
            evaluation_invitations::id,
            evaluation_invitations::course_id,
            evaluation_invitations::booking_id,
            evaluation_invitations::kind,
        ))
        .load(conn)?;
    for (id, course_id, booking_id, kind) in due {
        let kind = FormKind::parse(&kind).unwrap_or(FormKind::PostCourse);
        let sent = crate::db::write_tx(conn, |c| -> QueryResult<bool> {
            // Claim it: another copy of the service may be sending it too.
            let claimed = diesel::update(
                evaluation_invitations::table
                    .find(&id)
                    .filter(evaluation_invitations::sent_at.is_null()),
            )
            .set(evaluation_invitations::sent_at.eq(Some(now)))
            .execute(c)?;
            if claimed == 0 {
                return Ok(false);
            }
            let Some(course) = course_facts(c, &course_id)? else {
                return Ok(false);
            };
            send_email(
                c,
                Kind::EvaluationInvitation,
                &id,
                &booking_id,
                kind,
                &course,
                now,
                settings,
            )
        })?;
        match (sent, kind) {
            (false, _) => {}
            (true, FormKind::PostCourse) => report.invitations_sent += 1,
            (true, FormKind::FollowUp) => report.follow_ups_sent += 1,
        }
    }

    // 4. Reminders.
    let days = &settings.evaluation.reminder_days;
    if !days.is_empty() {
        let open: Vec<(String, String, String, String, NaiveDateTime, i32)> =
            evaluation_invitations::table
                .filter(evaluation_invitations::sent_at.is_not_null())
                .filter(evaluation_invitations::answered_at.is_null())
                .filter(evaluation_invitations::reminders_sent.lt(days.len() as i32))
                .select((
                    evaluation_invitations::id,
                    evaluation_invitations::course_id,
                    evaluation_invitations::booking_id,
                    evaluation_invitations::kind,
                    evaluation_invitations::sent_at.assume_not_null(),
                    evaluation_invitations::reminders_sent,
                ))
                .load(conn)?;
        for (id, course_id, booking_id, kind, sent_at, reminders_sent) in open {
            // The latest reminder day that has come; earlier ones missed (the service was
            // down) are not sent late on top of it.
            let Some(due) = days
                .iter()
                .rposition(|d| sent_at + Duration::days(i64::from(*d)) <= now)
            else {
                continue;
            };
            if (due as i32) < reminders_sent {
                continue;
            }
            let kind = FormKind::parse(&kind).unwrap_or(FormKind::PostCourse);
            let sent = crate::db::write_tx(conn, |c| -> QueryResult<bool> {
                let live: i64 = evaluation_tokens::table
                    .filter(evaluation_tokens::invitation_id.eq(&id))
                    .filter(evaluation_tokens::expires_at.gt(now))
                    .count()
                    .get_result(c)?;
                if live == 0 {
                    return Ok(false);
                }
                let claimed = diesel::update(
                    evaluation_invitations::table
                        .find(&id)
                        .filter(evaluation_invitations::reminders_sent.eq(reminders_sent))
                        .filter(evaluation_invitations::answered_at.is_null()),
                )
                .set((
                    evaluation_invitations::reminders_sent.eq(due as i32 + 1),
                    evaluation_invitations::last_reminded_at.eq(Some(now)),
                ))
                .execute(c)?;
                if claimed == 0 {
                    return Ok(false);
                }
                let Some(course) = course_facts(c, &course_id)? else {
                    return Ok(false);
                };
                if course.status == "cancelled" {
                    return Ok(false);
                }
                send_email(
                    c,
                    Kind::EvaluationReminder,
                    &id,
                    &booking_id,
                    kind,
                    &course,
                    now,
                    settings,
                )
            })?;
            if sent {
                report.reminders += 1;
            }
        }
    }
    Ok(report)
}

/// Whether an evaluation email about an invitation still holds: not once the invitation has
/// been answered. (Invitations are never deleted; an unknown one's messages hold, as an
/// unknown booking's do.)
pub fn invitation_open(conn: &mut DbConn, invitation_id: &str) -> QueryResult<bool> {
    let answered: Option<Option<NaiveDateTime>> = evaluation_invitations::table
        .find(invitation_id)
        .select(evaluation_invitations::answered_at)
        .first(conn)
        .optional()?;
    Ok(!matches!(answered, Some(Some(_))))
}

// ---------------------------------------------------------------------------------------------
// Answering

/// An open invitation as its form page shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Invitation {
    /// `post_course` or `follow_up`.
    pub kind: String,
    /// The course.
    pub course: InvitationCourse,
    /// The form version to answer, with its questions.
    pub form: FormView,
    /// When this link stops working.
    #[serde(with = "time::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: NaiveDateTime,
    #[serde(skip)]
    invitation_id: String,
}

/// The course an invitation is about.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InvitationCourse {
    /// The course's id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Its dates as people read them, e.g. `Thursday 14 January 2027`.
    pub dates: String,
    /// When its first session started.
    #[serde(with = "time::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub first_session_start: Option<NaiveDateTime>,
    /// When its last session ended.
    #[serde(with = "time::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_session_end: Option<NaiveDateTime>,
}

/// What a token opens.
#[derive(Debug, Clone)]
pub enum Opened {
    /// No such token.
    Unknown,
    /// The token's time is up.
    Expired,
    /// The invitation has been answered (with this token or another of its own).
    Answered,
    /// A form to answer.
    Open(Box<Invitation>),
}

/// Looks a token up (by its SHA-256) as of `now`.
pub fn open(conn: &mut DbConn, token_hash: &str, now: NaiveDateTime) -> QueryResult<Opened> {
    let found: Option<(
        String,
        NaiveDateTime,
        String,
        String,
        String,
        Option<NaiveDateTime>,
    )> = evaluation_tokens::table
        .inner_join(evaluation_invitations::table)
        .filter(evaluation_tokens::token_hash.eq(token_hash))
        .select((
            evaluation_invitations::id,
            evaluation_tokens::expires_at,
            evaluation_invitations::kind,
            evaluation_invitations::course_id,
            evaluation_invitations::form_id,
            evaluation_invitations::answered_at,
        ))
        .first(conn)
        .optional()?;
    let Some((invitation_id, expires_at, kind, course_id, form_id, answered_at)) = found else {
        return Ok(Opened::Unknown);
    };
    if answered_at.is_some() {
        return Ok(Opened::Answered);
    }
    if expires_at <= now {
        return Ok(Opened::Expired);
    }
    let (Some(course), Some(form)) = (course_facts(conn, &course_id)?, form_row(conn, &form_id)?)
    else {
        return Ok(Opened::Unknown);
    };
    Ok(Opened::Open(Box::new(Invitation {
        kind,
        course: InvitationCourse {
            dates: course_dates(course.first_session_start, course.last_session_end),
            id: course.id,
            title: course.title,
            first_session_start: course.first_session_start,
            last_session_end: course.last_session_end,
        },
        form: view(conn, form)?,
        expires_at,
        invitation_id,
    })))
}

/// The questions of a form version as the rules need them.
pub fn form_questions(conn: &mut DbConn, form_id: &str) -> QueryResult<Vec<Question>> {
    Ok(question_rows(conn, form_id)?
        .iter()
        .map(QuestionRow::question)
        .collect())
}

/// The outcome of a submission.
#[derive(Debug, Clone)]
pub enum Submitted {
    /// No such token.
    Unknown,
    /// The token's time is up.
    Expired,
    /// Answered already: nothing changed.
    Answered,
    /// Some answers are not acceptable (question key -> message): nothing changed.
    Invalid(AnswerErrors),
    /// Saved.
    Saved {
        /// Whether an impact follow-up was scheduled (the person agreed to one).
        follow_up_scheduled: bool,
    },
}

/// Saves an answer set for the invitation of a token, in one write transaction: the
/// response (with the booking's school, cluster and staff group, and the headline figures),
/// its answers, the invitation marked answered, and the follow-up scheduled when the person
/// agreed to one. Claiming the invitation (`answered_at` set only while unset) makes a
/// second submission, however concurrent, find it answered.
pub fn submit(
    conn: &mut DbConn,
    token_hash: &str,
    submitted: &serde_json::Map<String, Value>,
    now: NaiveDateTime,
    settings: &Settings,
) -> AppResult<Submitted> {
    crate::db::write_tx(conn, |conn| {
        let invitation = match open(conn, token_hash, now)? {
            Opened::Unknown => return Ok(Submitted::Unknown),
            Opened::Expired => return Ok(Submitted::Expired),
            Opened::Answered => return Ok(Submitted::Answered),
            Opened::Open(i) => i,
        };
        let questions = question_rows(conn, &invitation.form.id)?;
        let rules: Vec<Question> = questions.iter().map(QuestionRow::question).collect();
        let set = match crate::domain::evaluation::validate_answers(&rules, submitted) {
            Ok(set) => set,
            Err(errors) => return Ok(Submitted::Invalid(errors)),
        };
        let claimed = diesel::update(
            evaluation_invitations::table
                .find(&invitation.invitation_id)
                .filter(evaluation_invitations::answered_at.is_null()),
        )
        .set(evaluation_invitations::answered_at.eq(Some(now)))
        .execute(conn)?;
        if claimed == 0 {
            return Ok(Submitted::Answered);
        }
        let (booking_id, school_id, staff_group_id): (String, Option<String>, Option<String>) =
            evaluation_invitations::table
                .inner_join(bookings::table)
                .filter(evaluation_invitations::id.eq(&invitation.invitation_id))
                .select((bookings::id, bookings::school_id, bookings::staff_group_id))
                .first(conn)?;
        let cluster_id: Option<String> = match &school_id {
            Some(s) => schools::table
                .find(s)
                .select(schools::cluster_id)
                .first::<Option<String>>(conn)
                .optional()?
                .flatten(),
            None => None,
        };
        let response_id = new_id();
        let h = &set.headline;
        diesel::insert_into(evaluation_responses::table)
            .values((
                evaluation_responses::id.eq(&response_id),
                evaluation_responses::invitation_id.eq(&invitation.invitation_id),
                evaluation_responses::course_id.eq(&invitation.course.id),
                evaluation_responses::booking_id.eq(&booking_id),
                evaluation_responses::form_id.eq(&invitation.form.id),
                evaluation_responses::kind.eq(&invitation.kind),
                evaluation_responses::school_id.eq(&school_id),
                evaluation_responses::cluster_id.eq(&cluster_id),
                evaluation_responses::staff_group_id.eq(&staff_group_id),
                evaluation_responses::submitted_at.eq(now),
                evaluation_responses::satisfaction.eq(h.satisfaction),
                evaluation_responses::impact.eq(h.impact),
                evaluation_responses::confidence_before.eq(h.confidence_before),
                evaluation_responses::confidence_after.eq(h.confidence_after),
                evaluation_responses::consent_follow_up.eq(h.consent_follow_up),
            ))
            .execute(conn)?;
        for (key, answer) in &set.answers {
            let Some(q) = questions.iter().find(|q| &q.key == key) else {
                continue;
            };
            let (mut rating, mut before, mut after, mut choices, mut text) =
                (None, None, None, None, None);
            match answer {
                Answer::Rating(r) => rating = Some(*r),
                Answer::Retrospective {
                    before: b,
                    after: a,
                } => {
                    before = Some(*b);
                    after = Some(*a);
                }
                Answer::Choices(c) => choices = Some(serde_json::to_string(c).unwrap_or_default()),
                Answer::Text(t) => text = Some(t.clone()),
            }
            diesel::insert_into(evaluation_answers::table)
                .values((
                    evaluation_answers::response_id.eq(&response_id),
                    evaluation_answers::question_id.eq(&q.id),
                    evaluation_answers::guskey_level.eq(q.guskey_level),
                    evaluation_answers::rating.eq(rating),
                    evaluation_answers::before_rating.eq(before),
                    evaluation_answers::after_rating.eq(after),
                    evaluation_answers::choices.eq(choices),
                    evaluation_answers::text.eq(text),
                ))
                .execute(conn)?;
        }
        let follow_up_scheduled = invitation.kind == FormKind::PostCourse.as_str()
            && h.consent_follow_up == Some(true)
            && schedule_follow_up(conn, &invitation.course.id, &booking_id, now, settings)?;
        Ok(Submitted::Saved {
            follow_up_scheduled,
        })
    })
}

// ---------------------------------------------------------------------------------------------
// The course summary

/// One course's evaluation results.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EvaluationSummary {
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
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EvaluationCourse {
    /// Its id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// When its first session started.
    #[serde(with = "time::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub first_session_start: Option<NaiveDateTime>,
    /// When its last session ended.
    #[serde(with = "time::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_session_end: Option<NaiveDateTime>,
}

/// One kind's results: the counts, and the figures (or `suppressed` and `reason` in their
/// place when fewer than `min_responses` answered).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct KindSummary {
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

/// The figures of one kind.
#[derive(Debug, Clone, Serialize)]
pub struct KindResults {
    /// Per question, in the order of the newest form version answered.
    pub questions: Vec<QuestionSummary>,
}

/// One question's results. A question answered by fewer than `min_responses` shows
/// `suppressed` and `reason` instead of its figures.
#[derive(Debug, Clone, Serialize)]
pub struct QuestionSummary {
    /// The question's key.
    pub key: String,
    /// Its kind.
    pub kind: String,
    /// The question as asked (in the newest version answered).
    pub prompt: String,
    /// Its Guskey level.
    pub guskey_level: i32,
    /// What the reports read from it.
    pub metric: Option<String>,
    /// How many answered it.
    pub answered: u64,
    /// How many of those answers the figures use: the earliest, in the largest whole multiple
    /// of the threshold (so 10 of 13 at a threshold of 5). Figures change only when another
    /// whole step of answers has arrived, so no single answer can be read off a change.
    pub counted: u64,
    /// The figures, or the suppression marker.
    #[serde(flatten)]
    pub figures: Cell<Figures>,
}

/// Figures per kind of question.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Figures {
    /// A rating.
    Rating {
        /// The label of 1.
        low_label: Option<String>,
        /// The label of 5.
        high_label: Option<String>,
        /// The mean, to two decimal places.
        mean: f64,
        /// How many gave each rating, "1" to "5".
        distribution: BTreeMap<String, u64>,
    },
    /// A before/after pair.
    Retrospective {
        /// The label of 1.
        low_label: Option<String>,
        /// The label of 5.
        high_label: Option<String>,
        /// The mean before.
        mean_before: f64,
        /// The mean after.
        mean_after: f64,
        /// mean_after - mean_before.
        shift: f64,
        /// How many gave each rating before.
        distribution_before: BTreeMap<String, u64>,
        /// And after.
        distribution_after: BTreeMap<String, u64>,
    },
    /// A choice question.
    Choices {
        /// Each option (of every version answered) with how many chose it.
        counts: Vec<ChoiceCount>,
    },
    /// Free text.
    Text {
        /// The answers, sorted so their order says nothing about who wrote them; absent
        /// for callers who may not read them.
        #[serde(skip_serializing_if = "Option::is_none")]
        answers: Option<Vec<String>>,
    },
}

/// How many chose one option.
#[derive(Debug, Clone, Serialize)]
pub struct ChoiceCount {
    /// The option's value.
    pub value: String,
    /// Its label.
    pub label: String,
    /// How many chose it.
    pub count: u64,
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn distribution(values: &[i32]) -> BTreeMap<String, u64> {
    (RATING_MIN..=RATING_MAX)
        .map(|r| {
            (
                r.to_string(),
                values.iter().filter(|v| **v == r).count() as u64,
            )
        })
        .collect()
}

fn mean(values: &[i32]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    round2(values.iter().map(|v| f64::from(*v)).sum::<f64>() / values.len() as f64)
}

#[derive(Debug, Clone, Queryable)]
struct AnswerRow {
    form_version: i32,
    position: i32,
    key: String,
    kind: String,
    prompt: String,
    guskey_level: i32,
    low_label: Option<String>,
    high_label: Option<String>,
    options: Option<String>,
    metric: Option<String>,
    rating: Option<i32>,
    before: Option<i32>,
    after: Option<i32>,
    choices: Option<String>,
    text: Option<String>,
    /// When the response arrived, and its id: the order answers are released in.
    submitted_at: NaiveDateTime,
    response_id: String,
}

/// The evaluation summary of a course; 404 when there is no such course. Free-text answers
/// are included only `with_text`. Every figure follows the suppression rules of
/// `domain::suppression`: a kind answered by fewer than the threshold shows no figures, and
/// a question answered by fewer shows none either. No id, name or order of submission is
/// in it.
pub fn course_summary(
    conn: &mut DbConn,
    course_id: &str,
    threshold: Threshold,
    with_text: bool,
) -> AppResult<EvaluationSummary> {
    crate::db::read_tx(conn, |conn| {
        let course = course_facts(conn, course_id)?.ok_or(AppError::NotFound)?;
        let mut kinds = Vec::new();
        for kind in FormKind::ALL {
            kinds.push(kind_summary(conn, course_id, kind, threshold, with_text)?);
        }
        let follow_up = kinds.pop().expect("two kinds");
        let post_course = kinds.pop().expect("two kinds");
        Ok(EvaluationSummary {
            course: EvaluationCourse {
                id: course.id,
                title: course.title,
                first_session_start: course.first_session_start,
                last_session_end: course.last_session_end,
            },
            min_responses: threshold.get(),
            post_course,
            follow_up,
        })
    })
}

fn kind_summary(
    conn: &mut DbConn,
    course_id: &str,
    kind: FormKind,
    threshold: Threshold,
    with_text: bool,
) -> QueryResult<KindSummary> {
    let of_kind = evaluation_invitations::course_id
        .eq(course_id)
        .and(evaluation_invitations::kind.eq(kind.as_str()));
    let invited: i64 = evaluation_invitations::table
        .filter(of_kind)
        .filter(evaluation_invitations::sent_at.is_not_null())
        .count()
        .get_result(conn)?;
    let scheduled: i64 = evaluation_invitations::table
        .filter(of_kind)
        .filter(evaluation_invitations::sent_at.is_null())
        .count()
        .get_result(conn)?;
    let responded: i64 = evaluation_responses::table
        .filter(evaluation_responses::course_id.eq(course_id))
        .filter(evaluation_responses::kind.eq(kind.as_str()))
        .count()
        .get_result(conn)?;
    let (invited, scheduled, responded) = (invited as u64, scheduled as u64, responded as u64);
    let results = if threshold.allows(responded) {
        Cell::Shown(KindResults {
            questions: question_summaries(conn, course_id, kind, threshold, with_text)?,
        })
    } else {
        Cell::Suppressed(threshold.suppressed())
    };
    Ok(KindSummary {
        invited,
        scheduled,
        responded,
        response_rate: (invited > 0).then(|| round2(responded as f64 / invited as f64)),
        results,
    })
}

fn question_summaries(
    conn: &mut DbConn,
    course_id: &str,
    kind: FormKind,
    threshold: Threshold,
    with_text: bool,
) -> QueryResult<Vec<QuestionSummary>> {
    let rows: Vec<AnswerRow> = evaluation_answers::table
        .inner_join(evaluation_responses::table)
        .inner_join(evaluation_questions::table.inner_join(evaluation_forms::table))
        .filter(evaluation_responses::course_id.eq(course_id))
        .filter(evaluation_responses::kind.eq(kind.as_str()))
        .select((
            evaluation_forms::version,
            evaluation_questions::position,
            evaluation_questions::key,
            evaluation_questions::kind,
            evaluation_questions::prompt,
            evaluation_questions::guskey_level,
            evaluation_questions::low_label,
            evaluation_questions::high_label,
            evaluation_questions::options,
            evaluation_questions::metric,
            evaluation_answers::rating,
            evaluation_answers::before_rating,
            evaluation_answers::after_rating,
            evaluation_answers::choices,
            evaluation_answers::text,
            evaluation_responses::submitted_at,
            evaluation_responses::id,
        ))
        .load(conn)?;
    // Group by (key, kind): a key keeps its meaning across a family's versions unless its
    // kind changed. The newest version answered gives the prompt, the labels and the order.
    let mut groups: Vec<((String, String), Vec<AnswerRow>)> = Vec::new();
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    for r in rows {
        let k = (r.key.clone(), r.kind.clone());
        match index.get(&k) {
            Some(&i) => groups[i].1.push(r),
            None => {
                index.insert(k.clone(), groups.len());
                groups.push((k, vec![r]));
            }
        }
    }
    let newest = |rows: &[AnswerRow]| {
        rows.iter()
            .max_by_key(|r| r.form_version)
            .cloned()
            .expect("a group has rows")
    };
    groups.sort_by_key(|(_, rows)| {
        let n = newest(rows);
        (-n.form_version, n.position)
    });
    let mut out = Vec::new();
    for ((key, qkind), rows) in groups {
        let top = newest(&rows);
        let qk = QuestionKind::parse(&qkind).unwrap_or(QuestionKind::FreeText);
        let has_answer = |r: &AnswerRow| match qk {
            QuestionKind::Rating => r.rating.is_some(),
            QuestionKind::Retrospective => r.before.is_some() && r.after.is_some(),
            QuestionKind::SingleChoice | QuestionKind::MultipleChoice => r.choices.is_some(),
            QuestionKind::FreeText => r.text.as_ref().is_some_and(|t| !t.trim().is_empty()),
        };
        let mut answers: Vec<AnswerRow> = rows.iter().filter(|r| has_answer(r)).cloned().collect();
        let answered = answers.len() as u64;
        // The figures use the earliest answers in whole steps of the threshold, so a summary
        // read before and after one more answer cannot be differenced to reveal it.
        answers.sort_by(|a, b| {
            (a.submitted_at, &a.response_id).cmp(&(b.submitted_at, &b.response_id))
        });
        let counted = threshold.released(answered);
        answers.truncate(counted as usize);
        let rows = answers;
        let texts: Vec<String> = rows.iter().filter_map(|r| r.text.clone()).collect();
        let figures = cell(threshold, answered, || match qk {
            QuestionKind::Rating => {
                let values: Vec<i32> = rows.iter().filter_map(|r| r.rating).collect();
                Figures::Rating {
                    low_label: top.low_label.clone(),
                    high_label: top.high_label.clone(),
                    mean: mean(&values),
                    distribution: distribution(&values),
                }
            }
            QuestionKind::Retrospective => {
                let pairs: Vec<(i32, i32)> = rows
                    .iter()
                    .filter_map(|r| Some((r.before?, r.after?)))
                    .collect();
                let before: Vec<i32> = pairs.iter().map(|p| p.0).collect();
                let after: Vec<i32> = pairs.iter().map(|p| p.1).collect();
                let (mb, ma) = (mean(&before), mean(&after));
                Figures::Retrospective {
                    low_label: top.low_label.clone(),
                    high_label: top.high_label.clone(),
                    mean_before: mb,
                    mean_after: ma,
                    shift: round2(ma - mb),
                    distribution_before: distribution(&before),
                    distribution_after: distribution(&after),
                }
            }
            QuestionKind::SingleChoice | QuestionKind::MultipleChoice => {
                // Options in the newest version's order, then any only older versions had.
                let mut options: Vec<ChoiceOption> = Vec::new();
                let mut by_version = rows.clone();
                by_version.sort_by_key(|r| -r.form_version);
                for r in &by_version {
                    let opts: Vec<ChoiceOption> = r
                        .options
                        .as_deref()
                        .and_then(|o| serde_json::from_str(o).ok())
                        .unwrap_or_default();
                    for o in opts {
                        if !options.iter().any(|x| x.value == o.value) {
                            options.push(o);
                        }
                    }
                }
                let mut counts: Vec<ChoiceCount> = options
                    .into_iter()
                    .map(|o| ChoiceCount {
                        value: o.value,
                        label: o.label,
                        count: 0,
                    })
                    .collect();
                for r in &rows {
                    let chosen: Vec<String> = r
                        .choices
                        .as_deref()
                        .and_then(|c| serde_json::from_str(c).ok())
                        .unwrap_or_default();
                    for c in chosen {
                        if let Some(x) = counts.iter_mut().find(|x| x.value == c) {
                            x.count += 1;
                        }
                    }
                }
                Figures::Choices { counts }
            }
            QuestionKind::FreeText => Figures::Text {
                answers: with_text.then(|| {
                    let mut t: Vec<String> = texts.iter().map(|s| s.trim().to_string()).collect();
                    t.sort_by_key(|s| s.to_lowercase());
                    t
                }),
            },
        });
        out.push(QuestionSummary {
            key,
            kind: qkind,
            prompt: top.prompt.clone(),
            guskey_level: top.guskey_level,
            metric: top.metric.clone(),
            answered,
            counted,
            figures,
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Erasure and export

/// Forgets what evaluation keeps about a person being erased, inside the erasure's
/// transaction: the free text of their answers is cleared (ratings and choices stay, so
/// reports do not change) and their links stop working.
pub fn forget_person(conn: &mut DbConn, person_id: &str) -> QueryResult<()> {
    let their_bookings = bookings::table
        .filter(bookings::person_id.eq(person_id))
        .select(bookings::id);
    let their_responses = evaluation_responses::table
        .filter(evaluation_responses::booking_id.eq_any(their_bookings))
        .select(evaluation_responses::id);
    diesel::update(
        evaluation_answers::table.filter(evaluation_answers::response_id.eq_any(their_responses)),
    )
    .set(evaluation_answers::text.eq(None::<String>))
    .execute(conn)?;
    let their_bookings = bookings::table
        .filter(bookings::person_id.eq(person_id))
        .select(bookings::id);
    let their_invitations = evaluation_invitations::table
        .filter(evaluation_invitations::booking_id.eq_any(their_bookings))
        .select(evaluation_invitations::id);
    diesel::delete(
        evaluation_tokens::table.filter(evaluation_tokens::invitation_id.eq_any(their_invitations)),
    )
    .execute(conn)?;
    Ok(())
}

/// One evaluation invitation of a person, with their own answers, for their export.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EvaluationRecord {
    /// The course.
    pub course_id: String,
    /// Its title.
    pub course_title: String,
    /// `post_course` or `follow_up`.
    pub kind: String,
    /// When the invitation was made.
    #[serde(with = "time::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: NaiveDateTime,
    /// When it was emailed.
    #[serde(with = "time::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub sent_at: Option<NaiveDateTime>,
    /// Reminders sent.
    pub reminders_sent: i32,
    /// When it was answered.
    #[serde(with = "time::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub answered_at: Option<NaiveDateTime>,
    /// Their answers, question by question.
    pub answers: Vec<AnswerRecord>,
}

/// One of a person's answers.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AnswerRecord {
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

/// A person's evaluation invitations and their own answers (nobody else's), oldest first.
pub fn export_for(conn: &mut DbConn, person_id: &str) -> QueryResult<Vec<EvaluationRecord>> {
    #[allow(clippy::type_complexity)]
    let rows: Vec<(
        String,
        String,
        String,
        String,
        NaiveDateTime,
        Option<NaiveDateTime>,
        i32,
        Option<NaiveDateTime>,
    )> = evaluation_invitations::table
        .inner_join(bookings::table)
        .inner_join(courses::table.on(courses::id.eq(evaluation_invitations::course_id)))
        .filter(bookings::person_id.eq(person_id))
        .order((
            evaluation_invitations::created_at.asc(),
            evaluation_invitations::id.asc(),
        ))
        .select((
            evaluation_invitations::id,
            evaluation_invitations::course_id,
            courses::title,
            evaluation_invitations::kind,
            evaluation_invitations::created_at,
            evaluation_invitations::sent_at,
            evaluation_invitations::reminders_sent,
            evaluation_invitations::answered_at,
        ))
        .load(conn)?;
    let mut out = Vec::new();
    for (id, course_id, course_title, kind, created_at, sent_at, reminders_sent, answered_at) in
        rows
    {
        #[allow(clippy::type_complexity)]
        let answers: Vec<(
            String,
            Option<i32>,
            Option<i32>,
            Option<i32>,
            Option<String>,
            Option<String>,
        )> = evaluation_answers::table
            .inner_join(evaluation_responses::table)
            .inner_join(evaluation_questions::table)
            .filter(evaluation_responses::invitation_id.eq(&id))
            .order(evaluation_questions::position.asc())
            .select((
                evaluation_questions::prompt,
                evaluation_answers::rating,
                evaluation_answers::before_rating,
                evaluation_answers::after_rating,
                evaluation_answers::choices,
                evaluation_answers::text,
            ))
            .load(conn)?;
        out.push(EvaluationRecord {
            course_id,
            course_title,
            kind,
            created_at,
            sent_at,
            reminders_sent,
            answered_at,
            answers: answers
                .into_iter()
                .map(
                    |(question, rating, before, after, choices, text)| AnswerRecord {
                        question,
                        rating,
                        before,
                        after,
                        choices: choices.and_then(|c| serde_json::from_str(&c).ok()),
                        text,
                    },
                )
                .collect(),
        });
    }
    Ok(out)
}

/// What the permission rules need to know about a course for its summary: its leads; 404
/// when there is no such course.
pub fn course_lead_ids(conn: &mut DbConn, course_id: &str) -> AppResult<Vec<String>> {
    let (_, leads) = super::courses::visibility_facts(conn, course_id)?;
    Ok(leads)
}
