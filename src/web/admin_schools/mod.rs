//! The admin's reference-data pages: schools (`/admin/schools`: a list with filters and each
//! school's bookings this academic year, `list`; a form to add or change one, `form`; a GIAS
//! CSV upload with the import's report, `import`), and the four short lists that courses and
//! people refer to: clusters, providers, strategy priorities and staff groups (`lists`: each
//! at `/admin/{clusters,providers,priorities,staff-groups}`, listed, added to and renamed).
//! Every change goes through the same use cases as the JSON API (`app::schools`,
//! `app::reference`), so the policy, the checks, the transaction, the audit entry and the
//! 422 field errors are the API's: a page shows the API's messages beside its fields.

mod form;
mod import;
mod list;
mod lists;

use std::collections::BTreeMap;

use minijinja::context;

use crate::error::AppError;

pub use form::{create, edit_form, new_form, update, SchoolFormFields};
pub use import::{import_form, import_upload, ImportFormFields, UPLOAD_LIMIT};
pub use list::{index, SchoolListParams};
pub use lists::{Kind, ListFormFields, ListParams};

/// Problems with a form, by the API's field names.
pub(super) type Problems = BTreeMap<String, Vec<String>>;

pub(super) fn problem(p: &mut Problems, field: impl Into<String>, message: impl Into<String>) {
    p.entry(field.into()).or_default().push(message.into());
}

/// The label of one of these pages' fields in error messages.
pub(super) fn label(field: &str) -> &'static str {
    match field {
        "urn" => "URN",
        "name" => "Name",
        "phase" => "Phase",
        "school_type" => "Type of establishment",
        "cluster_id" => "Cluster",
        "local_authority" => "Local authority",
        "postcode" => "Postcode",
        "is_open" => "Open",
        "description" => "Description",
        "kind" => "Kind",
        "email" => "Email address",
        "website" => "Website",
        "key" => "Key",
        "position" => "Position",
        "file" => "CSV file",
        _ => "This form",
    }
}

/// The fields of these pages' forms in the order they come (the school form, then the lists'
/// and the upload's).
const FORM_ORDER: [&str; 16] = [
    "form",
    "urn",
    "name",
    "phase",
    "cluster_id",
    "school_type",
    "local_authority",
    "postcode",
    "is_open",
    "key",
    "description",
    "kind",
    "email",
    "website",
    "position",
    "file",
];

/// The error summary's entries and each field's messages, by field: each entry reads
/// "Label: the API's message" and links to its field (`form` problems to the page's main).
pub(super) fn error_views(
    problems: &Problems,
) -> (Vec<minijinja::Value>, BTreeMap<String, Vec<String>>) {
    let mut summary = Vec::new();
    let mut by_field: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // The summary lists the mistakes in the order the fields come on the page.
    let mut in_order: Vec<_> = problems.iter().collect();
    in_order.sort_by_key(|(field, _)| {
        FORM_ORDER
            .iter()
            .position(|f| f == field)
            .unwrap_or(FORM_ORDER.len())
    });
    for (field, messages) in in_order {
        let id = if field == "form" { "main" } else { field };
        for m in messages {
            let text = format!("{}: {m}", label(field));
            summary.push(context! { href => format!("#{id}"), text => text.clone() });
            by_field.entry(id.to_string()).or_default().push(text);
        }
    }
    (summary, by_field)
}

/// The problems a use case's refusal names, for the form: a 422's fields as the API names
/// them, or a 409 put on the field it is about (a URN or a name already taken).
pub(super) fn refusal(e: AppError) -> Result<Problems, AppError> {
    let mut p = Problems::new();
    match e {
        AppError::Validation(problems) => return Ok(problems.into_iter().collect()),
        AppError::Conflict { code, detail } => {
            let field = match code {
                "duplicate_urn" => "urn",
                "duplicate_name" => "name",
                // The pages make the key from the name.
                "duplicate_key" => "name",
                _ => "form",
            };
            problem(&mut p, field, detail);
        }
        other => return Err(other),
    }
    Ok(p)
}

/// A form's text field: `None` when absent or only spaces.
pub(super) fn given(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Registers the admin's school and list pages (`/admin/schools/new` and `.../import` before
/// `/admin/schools/{id}/...`).
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    list::configure(cfg);
    import::configure(cfg);
    form::configure(cfg);
    lists::configure(cfg);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_as_label_and_message_and_link_to_their_fields() {
        let mut p = Problems::new();
        problem(&mut p, "urn", "must be from 1 to 99999999");
        problem(&mut p, "form", "Something changed.");
        let (summary, by_field) = error_views(&p);
        assert_eq!(summary.len(), 2);
        assert_eq!(
            by_field["urn"],
            vec!["URN: must be from 1 to 99999999".to_string()]
        );
        assert_eq!(
            by_field["main"],
            vec!["This form: Something changed.".to_string()]
        );
        // In the form's order, not the alphabet's.
        let mut p = Problems::new();
        problem(&mut p, "website", "w");
        problem(&mut p, "kind", "k");
        problem(&mut p, "email", "e");
        let (summary, _) = error_views(&p);
        let hrefs: Vec<String> = summary
            .iter()
            .map(|e| e.get_attr("href").unwrap().to_string())
            .collect();
        assert_eq!(hrefs, ["#kind", "#email", "#website"]);
        let conflict = refusal(AppError::conflict("duplicate_urn", "taken")).unwrap();
        assert_eq!(conflict["urn"], vec!["taken".to_string()]);
        assert!(refusal(AppError::NotFound).is_err());
    }
}
