//! Evaluations from the person's side: the ones waiting for them, and a link to answer one
//! from their start page (the emailed link carries a token the service cannot show again).

use chrono::NaiveDateTime;

use crate::app::state::AppState;
use crate::domain::caller::Caller;
use crate::error::{AppError, AppResult};
use crate::store::evaluation::{self as store, WaitingEvaluation};

/// The evaluations waiting for the caller at `now`, the soonest to close first.
pub async fn waiting(
    state: &AppState,
    caller: &Caller,
    now: NaiveDateTime,
) -> AppResult<Vec<WaitingEvaluation>> {
    let person = caller.person_id.clone();
    state
        .db(move |c| Ok(store::waiting_for(c, &person, now)?))
        .await
}

/// The path of the evaluation form for one of the caller's waiting invitations, with a new
/// link token; 404 when it is not theirs or no longer open.
pub async fn answer_path(
    state: &AppState,
    caller: &Caller,
    invitation_id: &str,
    now: NaiveDateTime,
) -> AppResult<String> {
    let (person, id) = (caller.person_id.clone(), invitation_id.to_string());
    let token = state
        .db(move |c| Ok(store::reopen_link(c, &person, &id, now)?))
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(format!("/evaluate/{token}"))
}
