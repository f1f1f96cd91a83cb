//! The admin's course pages (`/admin/courses`): every course whatever its status, filtered
//! and paged, with its places and bookings counted (`list`); one form to create or edit a
//! course with all its sessions, where adding and removing sessions re-renders the form so no
//! script is needed (`form`); a course's own page, publishing, and cancelling with a reason
//! after a page that says how many people will be emailed (`course`); the course's bookings,
//! booking someone past the rules and cancelling on someone's behalf (`bookings`). Every change goes
//! through the same use cases as the JSON API (`app::courses`), so the policy, the rules, the
//! transaction, the audit entries and the emails are the API's.

mod bookings;
mod course;
mod fields;
mod form;
mod list;

use std::collections::BTreeMap;

use minijinja::context;

use crate::domain::course::CourseStatus;
use crate::error::AppError;

pub use bookings::{BookFields, BookingsParams, CancelBookingFields};
pub use course::{cancel, cancel_form, publish, show, CancelFields, DoneParams};
pub use form::{create, edit_form, new_form, update, CourseFormFields};
pub use list::{index, AdminListParams};

use crate::web::courses::phase_label;

pub(super) fn status_label(status: &str) -> &'static str {
    match CourseStatus::parse(status) {
        Some(CourseStatus::Draft) => "Draft",
        Some(CourseStatus::Published) => "Published",
        Some(CourseStatus::Cancelled) => "Cancelled",
        None => "Unknown",
    }
}

/// Problems with the form, by the API's field names.
pub(super) type Problems = BTreeMap<String, Vec<String>>;

pub(super) fn problem(p: &mut Problems, field: impl Into<String>, message: impl Into<String>) {
    p.entry(field.into()).or_default().push(message.into());
}

/// The label of a field in error messages.
pub(super) fn label(field: &str) -> String {
    if let Some(rest) = field.strip_prefix("sessions[") {
        if let Some((n, name)) = rest.split_once("].") {
            let n = n.parse::<usize>().map(|n| n + 1).unwrap_or(0);
            let what = match name {
                "date" => "date",
                "start" => "start time",
                "end" => "end time",
                "end_date" => "end date",
                "venue" => "venue",
                "venue.name" => "venue name",
                "venue.address" => "address",
                "venue.postcode" => "postcode",
                "online_url" => "online link",
                "note" => "note",
                other => other,
            };
            return format!("Session {n}, {what}");
        }
    }
    let base = field.split('[').next().unwrap_or(field);
    match base {
        "title" => "Title",
        "summary" => "Summary",
        "provider_id" => "Provider",
        "cluster_id" => "Cluster",
        "lead_ids" | "lead_search" => "Course leads",
        "priority_ids" => "Priorities",
        "staff_group_ids" => "Staff groups",
        "phases" => "Phases",
        "format" => "Format",
        "capacity" => "Places",
        "per_school_cap" => "Most places for one school",
        "per_school_cap_until" => "School limit lifts",
        "price_pence" => "Price",
        "booking_opens" => "Booking opens",
        "booking_closes" => "Booking closes",
        "cancellation_deadline" => "Cancellation deadline",
        "completion_min_sessions" => "Sessions to attend",
        "sessions" => "Sessions",
        "requires_approval" => "Approval",
        "reason" => "Why it is cancelled",
        _ => "This course",
    }
    .to_string()
}

/// The id of the element a field's error belongs to: lists by the list, a venue by its name.
pub(super) fn anchor(field: &str) -> String {
    for list in ["lead_ids", "priority_ids", "staff_group_ids", "phases"] {
        if field.strip_prefix(list).is_some_and(|r| r.starts_with('[')) {
            return list.to_string();
        }
    }
    match field {
        "lead_search" => return "lead_search".to_string(),
        // A refusal about the whole course: the page's main content.
        "form" => return "main".to_string(),
        _ => {}
    }
    let field = if field.ends_with(".venue") {
        format!("{field}.name")
    } else {
        field.to_string()
    };
    field
        .replace("].", "-")
        .replace(['[', '.'], "-")
        .replace(']', "")
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

/// The problems a use case's refusal names, for the form: a 422's fields, or a 409 put on the
/// field it is about.
pub(super) fn refusal(e: AppError) -> Result<Problems, AppError> {
    let mut p = Problems::new();
    match e {
        AppError::Validation(problems) => return Ok(problems.into_iter().collect()),
        AppError::Conflict { code, detail } => {
            let field = match code {
                "capacity_below_confirmed" => "capacity",
                "cap_below_school_confirmed" => "per_school_cap",
                "session_has_attendance" | "session_gone" | "last_session" => "sessions",
                _ => "form",
            };
            problem(&mut p, field, detail);
        }
        other => return Err(other),
    }
    Ok(p)
}

/// Registers the admin's course pages.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    // The list, then `/admin/courses/new` before `/admin/courses/{id}`, which would take it.
    list::configure(cfg);
    form::configure(cfg);
    course::configure(cfg);
    bookings::configure(cfg);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_link_to_their_fields() {
        assert_eq!(anchor("title"), "title");
        assert_eq!(anchor("lead_ids[1]"), "lead_ids");
        assert_eq!(anchor("phases[0]"), "phases");
        assert_eq!(
            anchor("sessions[2].venue.postcode"),
            "sessions-2-venue-postcode"
        );
        assert_eq!(anchor("sessions[0].venue"), "sessions-0-venue-name");
        assert_eq!(label("sessions[2].end"), "Session 3, end time");
    }
}
