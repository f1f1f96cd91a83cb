//! The email outbox, for admins: listing what is queued, sent, skipped or failed, one
//! message, and queueing failed messages again (one, or every failed one). The JSON API
//! (`api::outbox`) and the admin's email pages (`web::admin_emails`) both call these.

use crate::app::policy::{require, Action};
use crate::app::state::AppState;
use crate::domain::caller::Caller;
use crate::domain::paging::{Page, Paging};
use crate::error::AppResult;
use crate::store::outbox::{self as store, OutboxEntry, OutboxFilter, RetriedAll};

/// Messages, newest first, narrowed by `filter` (admins).
pub async fn list(
    state: &AppState,
    caller: &Caller,
    filter: OutboxFilter,
    paging: Paging,
) -> AppResult<Page<OutboxEntry>> {
    require(caller, Action::ManageOutbox)?;
    state
        .db(move |c| Ok(store::list(c, &filter, paging)?))
        .await
}

/// One message, without its payload (admins).
pub async fn message(state: &AppState, caller: &Caller, id: &str) -> AppResult<OutboxEntry> {
    require(caller, Action::ManageOutbox)?;
    let id = id.to_string();
    state.db(move |c| store::get(c, &id)).await
}

/// Queues a failed message again for a fresh round of tries (admins), with an audit entry,
/// and wakes the email worker.
pub async fn retry(state: &AppState, caller: &Caller, id: &str) -> AppResult<OutboxEntry> {
    require(caller, Action::ManageOutbox)?;
    let id = id.to_string();
    let actor = caller.person_id.clone();
    let entry = state.db(move |c| store::retry(c, &id, &actor)).await?;
    state.outbox_wake.notify_one();
    Ok(entry)
}

/// Queues every failed message again in one transaction (admins), as [`retry`] does each,
/// leaving those whose link was removed; and wakes the email worker.
pub async fn retry_failed(state: &AppState, caller: &Caller) -> AppResult<RetriedAll> {
    require(caller, Action::ManageOutbox)?;
    let actor = caller.person_id.clone();
    let done = state.db(move |c| store::retry_failed(c, &actor)).await?;
    if done.queued > 0 {
        state.outbox_wake.notify_one();
    }
    Ok(done)
}
