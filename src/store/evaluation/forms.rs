//! Evaluation forms and their versions: a form is never changed once answered, so an edit
//! writes a new version, and each course names the forms it sends.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;

use crate::db::schema::{
    course_evaluation_forms, courses, evaluation_forms, evaluation_invitations,
    evaluation_questions, evaluation_responses,
};
use crate::db::DbConn;
use crate::domain::evaluation::{
    default_forms, guskey_name, ChoiceOption, FormKind, Metric, Question, QuestionKind,
};
use crate::domain::paging::Page;
use crate::domain::time::{self};
use crate::error::{AppError, AppResult};
use crate::store::new_id;

// ---------------------------------------------------------------------------------------------
// Forms

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = evaluation_forms)]
pub(super) struct FormRow {
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
pub(super) struct QuestionRow {
    pub(super) id: String,
    #[allow(dead_code)]
    form_id: String,
    #[allow(dead_code)]
    position: i32,
    pub(super) key: String,
    kind: String,
    prompt: String,
    help: Option<String>,
    required: bool,
    pub(super) guskey_level: i32,
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

    pub(super) fn question(&self) -> Question {
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

/// A question of a form, as read.
#[derive(Debug, Clone, Serialize)]
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
#[derive(Debug, Clone, Serialize)]
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

pub(super) fn form_row(conn: &mut DbConn, id: &str) -> QueryResult<Option<FormRow>> {
    evaluation_forms::table
        .find(id)
        .select(FormRow::as_select())
        .first(conn)
        .optional()
}

pub(super) fn question_rows(conn: &mut DbConn, form_id: &str) -> QueryResult<Vec<QuestionRow>> {
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

pub(super) fn view(conn: &mut DbConn, row: FormRow) -> QueryResult<FormView> {
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
        crate::store::audit::record(
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
        crate::store::audit::record(
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
            diesel::sql_query(format!(
                "SELECT pg_advisory_xact_lock({})",
                crate::db::locks::DEFAULT_FORMS
            ))
            .execute(c)?;
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
pub(super) fn current_form_id(
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
#[derive(Debug, Clone, Serialize)]
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
#[derive(Debug, Clone, Serialize)]
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
        crate::store::audit::record(
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
