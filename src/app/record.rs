//! A person's own CPD: their record (hours, completion, term and year totals) and their
//! personal calendar feed. The JSON handlers and the pages share these.

use chrono::NaiveDateTime;

use crate::app::policy::{require, require_visible, Action};
use crate::app::state::AppState;
use crate::domain::caller::Caller;
use crate::error::AppResult;
use crate::store::attendance::CpdRecord;
use crate::store::calendar_feeds;

/// The CPD record of `person_id` at `now`: for the person, their school's lead and admins
/// (404 for anyone else).
pub async fn cpd_record(
    state: &AppState,
    caller: &Caller,
    person_id: &str,
    now: NaiveDateTime,
) -> AppResult<CpdRecord> {
    let (who, person_id) = (caller.clone(), person_id.to_string());
    state
        .db(move |c| {
            let school = crate::store::export::school_of(c, &person_id)?;
            require_visible(
                &who,
                Action::ReadCpdRecord {
                    person_id: &person_id,
                    school_id: school.as_deref(),
                },
            )?;
            crate::store::attendance::cpd_record(c, &person_id, now)
        })
        .await
}

/// A personal calendar feed's address, in the two forms calendar programs take.
#[derive(Clone, Debug)]
pub struct FeedAddress {
    /// The `https://` (or `http://`) address.
    pub url: String,
    /// The same as `webcal://`, which opens the calendar program directly.
    pub webcal_url: String,
}

/// The address of a feed token under the service's public address.
fn feed_address(base: &str, token: &str) -> FeedAddress {
    let url = format!("{}/calendar/{token}.ics", base.trim_end_matches('/'));
    let webcal_url = match url.split_once("://") {
        Some((_, rest)) => format!("webcal://{rest}"),
        None => url.clone(),
    };
    FeedAddress { url, webcal_url }
}

/// Creates the caller's personal calendar feed, or replaces it (the old address stops
/// working). The address carries a secret and is shown this once: only its hash is kept.
pub async fn create_calendar_feed(state: &AppState, caller: &Caller) -> AppResult<FeedAddress> {
    require(caller, Action::ManageOwnCalendarFeed)?;
    let person = caller.person_id.clone();
    let token = state
        .db(move |c| Ok(calendar_feeds::rotate(c, &person)?))
        .await?;
    Ok(feed_address(&state.settings.public_base_url, &token))
}

/// Stops the caller's personal calendar feed (nothing happens when there is none).
pub async fn revoke_calendar_feed(state: &AppState, caller: &Caller) -> AppResult<()> {
    require(caller, Action::ManageOwnCalendarFeed)?;
    let person = caller.person_id.clone();
    state
        .db(move |c| Ok(calendar_feeds::revoke(c, &person)?))
        .await?;
    Ok(())
}

/// When the caller's live calendar feed was made (None: they have none).
pub async fn calendar_feed_since(
    state: &AppState,
    caller: &Caller,
) -> AppResult<Option<NaiveDateTime>> {
    let person = caller.person_id.clone();
    state
        .db(move |c| Ok(calendar_feeds::live_since(c, &person)?))
        .await
}

#[cfg(test)]
mod tests {
    use super::feed_address;

    #[test]
    fn a_feed_address_has_a_webcal_twin() {
        let a = feed_address("https://cpd.example.org/", "cal_ab");
        assert_eq!(a.url, "https://cpd.example.org/calendar/cal_ab.ics");
        assert_eq!(a.webcal_url, "webcal://cpd.example.org/calendar/cal_ab.ics");
    }
}
