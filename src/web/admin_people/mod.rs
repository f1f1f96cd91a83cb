//! The admin's people pages (`/admin/people`): find anyone by name, email or school, with
//! filters and paging (`list`); add a person and change their school, staff group and roles
//! on one form (`form`); one person's page with their bookings and CPD record, the download
//! of everything held about them (the UK GDPR export), and erasing them after a page that
//! says what goes and what stays (`person`). Every change and the export go through the same
//! use cases as the JSON API (`app::people`), so the policy, the field rules, the transaction
//! and the audit entries are the API's; the pages are for admins only.

mod form;
mod list;
mod person;

use std::collections::BTreeMap;

use minijinja::context;

use crate::domain::roles::Role;
use crate::error::AppError;

pub use form::{create, edit_form, new_form, update, PersonFormFields};
pub use list::{index, PeopleListParams};
pub use person::{erase, erase_form, export, show, DoneParams};

/// The roles the form offers to tick, in order; everyone holds `staff` besides.
pub(super) const GIVEN_ROLES: [Role; 4] = [
    Role::SchoolLead,
    Role::CourseLead,
    Role::CpdGroup,
    Role::Admin,
];

/// A role as people read it.
pub(super) fn role_label(role: Role) -> &'static str {
    match role {
        Role::Staff => "Staff",
        Role::SchoolLead => "School CPD lead",
        Role::CourseLead => "Course lead",
        Role::CpdGroup => "CPD Working Group",
        Role::Admin => "Admin",
    }
}

/// A person's roles as a list shows them: the ones beyond `staff`, or "Staff" alone.
pub(super) fn roles_text(roles: &[Role]) -> String {
    let given: Vec<&str> = roles
        .iter()
        .filter(|r| **r != Role::Staff)
        .map(|r| role_label(*r))
        .collect();
    if given.is_empty() {
        "Staff".to_string()
    } else {
        given.join(", ")
    }
}

/// Problems with a form, by the API's field names.
pub(super) type Problems = BTreeMap<String, Vec<String>>;

/// The label of a field in error messages.
fn label(field: &str) -> &'static str {
    match field.split('[').next().unwrap_or(field) {
        "name" => "Name",
        "email" => "Email address",
        "school_id" => "School",
        "staff_group_id" => "Staff group",
        "roles" => "Roles",
        _ => "This person",
    }
}

/// The id of the element a field's error belongs to.
fn anchor(field: &str) -> String {
    match field.split('[').next().unwrap_or(field) {
        f @ ("name" | "email" | "school_id" | "staff_group_id" | "roles") => f.to_string(),
        // A refusal about the whole record: the page's main content.
        _ => "main".to_string(),
    }
}

/// The error summary's entries and each field's messages, by element id.
pub(super) fn error_views(
    problems: &Problems,
) -> (Vec<minijinja::Value>, BTreeMap<String, Vec<String>>) {
    let mut summary = Vec::new();
    let mut by_field: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (field, messages) in problems {
        let id = anchor(field);
        for m in messages {
            let text = format!("{}: {m}", label(field));
            summary.push(context! { href => format!("#{id}"), text => text.clone() });
            by_field.entry(id.clone()).or_default().push(text);
        }
    }
    (summary, by_field)
}

/// The problems a use case's refusal names, for the form: a 422's fields as the API names
/// them, or a 409 put on the field it is about. Anything else (403, 404...) passes through.
pub(super) fn refusal(e: AppError) -> Result<Problems, AppError> {
    match e {
        AppError::Validation(problems) => Ok(problems.into_iter().collect()),
        AppError::Conflict { code, detail } => {
            let field = match code {
                "duplicate_email" => "email",
                "last_admin" => "roles",
                _ => "form",
            };
            Ok(Problems::from([(field.to_string(), vec![detail])]))
        }
        other => Err(other),
    }
}

/// Registers the admin's people pages.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    // The list, then `/admin/people/new` before `/admin/people/{id}`, which would take it.
    list::configure(cfg);
    form::configure(cfg);
    person::configure(cfg);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_and_link_to_their_fields() {
        let problems = refusal(AppError::invalid("email", "must be an email address")).unwrap();
        let (summary, fields) = error_views(&problems);
        assert_eq!(summary.len(), 1);
        assert_eq!(
            fields["email"],
            vec!["Email address: must be an email address".to_string()]
        );
        let dup = refusal(AppError::conflict("duplicate_email", "Taken.")).unwrap();
        assert_eq!(dup["email"], vec!["Taken.".to_string()]);
        assert_eq!(anchor("roles[1]"), "roles");
        assert_eq!(anchor("form"), "main");
        assert!(refusal(AppError::NotFound).is_err());
        assert_eq!(roles_text(&[Role::Staff]), "Staff");
        assert_eq!(
            roles_text(&[Role::Admin, Role::Staff, Role::SchoolLead]),
            "Admin, School CPD lead"
        );
    }
}
