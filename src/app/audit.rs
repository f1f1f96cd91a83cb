//! The audit log, for admins: its filters read from text (the API's query and the page's
//! form take the same values and get the same answers) and the listing.

use chrono::{NaiveDate, NaiveDateTime};

use crate::app::policy::{require, Action};
use crate::app::state::AppState;
use crate::domain::caller::Caller;
use crate::domain::paging::{Page, Paging};
use crate::error::{AppError, AppResult};
use crate::store::audit::{self as store, AuditEntry, AuditFilter};

/// The audit log's filters as given: each empty or missing matches anything.
#[derive(Debug, Default, Clone)]
pub struct AuditFilterText {
    /// Exactly this action, e.g. `role.grant`.
    pub action: Option<String>,
    /// Done by this person.
    pub actor_id: Option<String>,
    /// Done to this record.
    pub subject_id: Option<String>,
    /// From this time (RFC 3339) or date (from its start), inclusive.
    pub from: Option<String>,
    /// To this time (RFC 3339, exclusive) or date (to its end, inclusive).
    pub to: Option<String>,
}

/// Reads `from`/`to`: an RFC 3339 time, or a date meaning its start (`end_of_day` false) or
/// the start of the next day (true), in UTC.
fn parse_bound(field: &str, value: &str, end_of_day: bool) -> AppResult<NaiveDateTime> {
    let value = value.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(value) {
        return Ok(t.with_timezone(&chrono::Utc).naive_utc());
    }
    if let Ok(d) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        let day = if end_of_day { d.succ_opt() } else { Some(d) };
        if let Some(t) = day.and_then(|d| d.and_hms_opt(0, 0, 0)) {
            return Ok(t);
        }
    }
    Err(AppError::invalid(
        field,
        "must be a date such as 2026-11-01 or an RFC 3339 time such as 2026-11-01T09:00:00Z",
    ))
}

impl AuditFilterText {
    /// The filter, or a 422 naming each field that cannot be read.
    pub fn parse(self) -> AppResult<AuditFilter> {
        let nonempty =
            |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        let from = nonempty(self.from);
        let to = nonempty(self.to);
        let mut problems = Vec::new();
        let mut bound = |field: &str, v: Option<String>, end: bool| match v {
            None => None,
            Some(v) => match parse_bound(field, &v, end) {
                Ok(t) => Some(t),
                Err(AppError::Validation(p)) => {
                    problems.extend(p);
                    None
                }
                Err(_) => None,
            },
        };
        let from = bound("from", from, false);
        let until = bound("to", to, true);
        if let (Some(from), Some(until)) = (from, until) {
            if until <= from {
                problems.push(("to".to_string(), vec!["must be after from".to_string()]));
            }
        }
        if !problems.is_empty() {
            return Err(AppError::Validation(problems.into_iter().collect()));
        }
        Ok(AuditFilter {
            action: nonempty(self.action),
            actor_id: nonempty(self.actor_id),
            subject_id: nonempty(self.subject_id),
            from,
            until,
        })
    }
}

/// Audit entries, newest first, narrowed by `filter` (admins): the policy first, then a 422
/// naming each filter that cannot be read.
pub async fn list(
    state: &AppState,
    caller: &Caller,
    filter: AuditFilterText,
    paging: Paging,
) -> AppResult<Page<AuditEntry>> {
    require(caller, Action::ReadAudit)?;
    let filter = filter.parse()?;
    state
        .db(move |c| Ok(store::list(c, &filter, paging)?))
        .await
}
