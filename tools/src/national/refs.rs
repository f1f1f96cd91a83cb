//! Reference data and evaluation forms

use super::*;

pub(super) fn load_refs(conn: &mut DbConn) -> anyhow::Result<Refs> {
    let (group_keys, groups): (Vec<String>, Vec<String>) = staff_groups::table
        .order(staff_groups::position.asc())
        .select((staff_groups::key, staff_groups::id))
        .load::<(String, String)>(conn)?
        .into_iter()
        .unzip();
    let (priority_keys, priorities): (Vec<String>, Vec<String>) = priorities::table
        .order(priorities::position.asc())
        .select((priorities::key, priorities::id))
        .load::<(String, String)>(conn)?
        .into_iter()
        .unzip();
    if groups.is_empty() || priorities.is_empty() {
        anyhow::bail!(
            "the database has no staff groups or priorities; run `cpd-hub migrate` first"
        );
    }
    let post = form(conn, "post_course")?;
    let follow_up = form(conn, "follow_up")?;
    Ok(Refs {
        groups,
        group_keys,
        priorities,
        priority_keys,
        post,
        follow_up,
    })
}

/// The default form of a kind with its questions, made when the database has none.
pub(super) fn form(conn: &mut DbConn, kind: &str) -> anyhow::Result<Form> {
    let found: Option<String> = evaluation_forms::table
        .filter(evaluation_forms::kind.eq(kind))
        .filter(evaluation_forms::is_default.eq(true))
        .order(evaluation_forms::version.desc())
        .select(evaluation_forms::id)
        .first(conn)
        .optional()?;
    let form_id = match found {
        Some(id) => id,
        None => create_form(conn, kind)?,
    };
    let rows: Vec<QuestionRow> = evaluation_questions::table
        .filter(evaluation_questions::form_id.eq(&form_id))
        .order(evaluation_questions::position.asc())
        .select((
            evaluation_questions::id,
            evaluation_questions::kind,
            evaluation_questions::guskey_level,
            evaluation_questions::metric,
            evaluation_questions::options,
        ))
        .load(conn)?;
    let questions = rows
        .into_iter()
        .map(|(id, kind, level, metric, options)| Question {
            id,
            kind,
            level,
            metric,
            options: options
                .and_then(|o| serde_json::from_str::<Vec<serde_json::Value>>(&o).ok())
                .unwrap_or_default()
                .iter()
                .filter_map(|o| {
                    o.get("value")
                        .and_then(|v| v.as_str())
                        .or_else(|| o.as_str())
                        .map(str::to_string)
                })
                .collect(),
        })
        .collect();
    Ok(Form {
        id: form_id,
        questions,
    })
}

/// (key, kind, Guskey level, prompt, metric, options JSON).
pub(super) type QuestionSeed = (
    &'static str,
    &'static str,
    i32,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
);

pub(super) const YES_NO: &str = r#"[{"value":"yes","label":"Yes"},{"value":"no","label":"No"}]"#;

pub(super) const POST_QUESTIONS: &[QuestionSeed] = &[
    ("overall", "rating", 1, "Overall, how would you rate this course?", Some("satisfaction"), None),
    ("relevance", "rating", 1, "How relevant was it to your role?", None, None),
    ("confidence", "retrospective", 2, "How confident did you feel about this before the course, and how confident do you feel now?", Some("confidence"), None),
    ("learned", "free_text", 2, "What is the most useful thing you learned?", None, None),
    ("consent", "single_choice", 1, "May we ask you in a few weeks how you have used it?", Some("consent"), Some(YES_NO)),
];

pub(super) const FOLLOW_UP_QUESTIONS: &[QuestionSeed] = &[
    (
        "support",
        "rating",
        3,
        "My school has supported me to use what I learned.",
        None,
        None,
    ),
    (
        "used",
        "rating",
        4,
        "I have used what I learned in my practice.",
        Some("impact"),
        None,
    ),
    (
        "pupils",
        "rating",
        5,
        "It has made a difference to pupils' learning or wellbeing.",
        None,
        None,
    ),
    (
        "example",
        "free_text",
        5,
        "Tell us about one change it has made.",
        None,
        None,
    ),
];

pub(super) fn create_form(conn: &mut DbConn, kind: &str) -> anyhow::Result<String> {
    let post = kind == "post_course";
    let n: u64 = if post { 1 } else { 2 };
    let form_id = id(T_FORM, n);
    let now = cpd_hub::domain::time::now();
    diesel::insert_into(evaluation_forms::table)
        .values((
            evaluation_forms::id.eq(&form_id),
            evaluation_forms::family_id.eq(&form_id),
            evaluation_forms::kind.eq(kind),
            evaluation_forms::name.eq(if post {
                "After the course"
            } else {
                "Impact follow-up"
            }),
            evaluation_forms::description.eq(""),
            evaluation_forms::version.eq(1),
            evaluation_forms::is_default.eq(true),
            evaluation_forms::created_at.eq(now),
        ))
        .execute(conn)?;
    let questions = if post {
        POST_QUESTIONS
    } else {
        FOLLOW_UP_QUESTIONS
    };
    for (i, (key, qkind, level, prompt, metric, options)) in questions.iter().enumerate() {
        diesel::insert_into(evaluation_questions::table)
            .values((
                evaluation_questions::id.eq(id(T_QUESTION, n * 100 + i as u64)),
                evaluation_questions::form_id.eq(&form_id),
                evaluation_questions::position.eq(i as i32 + 1),
                evaluation_questions::key.eq(key),
                evaluation_questions::kind.eq(qkind),
                evaluation_questions::prompt.eq(prompt),
                evaluation_questions::required.eq(*qkind != "free_text"),
                evaluation_questions::guskey_level.eq(level),
                evaluation_questions::low_label.eq((*qkind == "rating").then_some("Not at all")),
                evaluation_questions::high_label.eq((*qkind == "rating").then_some("Very much")),
                evaluation_questions::options.eq(options),
                evaluation_questions::metric.eq(metric),
            ))
            .execute(conn)?;
    }
    Ok(form_id)
}

/// A question as the seeder reads it: id, kind, level, metric, options.
pub(super) type QuestionRow = (String, String, i32, Option<String>, Option<String>);
