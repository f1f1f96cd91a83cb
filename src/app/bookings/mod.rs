//! Bookings: book a place, cancel it, and a school lead's or admin's approve and decline.
//!
//! Every booking goes through the [`queue`], which batches requests that arrive while a
//! transaction for their course's lane is running; the rules themselves are
//! `store::bookings` (under the course's lock) and `domain::booking`.

pub mod course;
pub mod queue;

use std::collections::BTreeSet;

use crate::app::policy::{require, require_visible, Action};
use crate::app::state::AppState;
use crate::db::DbConn;
use crate::domain::caller::Caller;
use crate::error::{AppError, AppResult};
use crate::store::bookings::{self as store, Access, Booking, Ctx, HistoryEntry};
use crate::store::idempotency::Answer;

/// What a booking asks for.
#[derive(Clone, Debug, Default)]
pub struct BookInput {
    /// Who gets the place (`None`: the caller).
    pub person_id: Option<String>,
    /// The staff group to book as (`None`: the person's own).
    pub staff_group_id: Option<String>,
    /// Admins only: book past the rules onto a closed, full or past course.
    pub override_rules: bool,
    /// Admins only: record someone who came without a booking.
    pub walk_in: bool,
}

/// A school lead's or admin's decision on booking requests.
#[derive(Clone, Debug)]
pub enum Decision {
    /// Place the requests as of when they were made, with the reason kept in their history
    /// (`None`: "approved").
    Approve(Option<String>),
    /// Withdraw them, with the reason the people are told: required, one booking or many
    /// ([`decide`] answers 422 on `reason` without one).
    Decline(Option<String>),
}

impl Decision {
    /// The decision with its reason trimmed; 422 on `reason` when a decline has none (the
    /// people declined are told why, whether one booking is declined or many) or a reason
    /// is longer than 1000 characters.
    fn checked(self) -> AppResult<Decision> {
        fn tidy(reason: Option<String>) -> AppResult<Option<String>> {
            let reason = reason
                .map(|r| r.trim().to_string())
                .filter(|r| !r.is_empty());
            if reason.as_ref().is_some_and(|r| r.chars().count() > 1000) {
                return Err(AppError::invalid(
                    "reason",
                    "must be 1000 characters or fewer",
                ));
            }
            Ok(reason)
        }
        match self {
            Decision::Approve(reason) => Ok(Decision::Approve(tidy(reason)?)),
            Decision::Decline(reason) => match tidy(reason)? {
                Some(r) => Ok(Decision::Decline(Some(r))),
                None => Err(AppError::invalid(
                    "reason",
                    "is required to decline: the people declined are told why",
                )),
            },
        }
    }
}

fn ctx<'a>(state: &'a AppState, actor: &'a str, now: chrono::NaiveDateTime) -> Ctx<'a> {
    Ctx {
        actor_id: Some(actor),
        now,
        base_url: &state.settings.public_base_url,
    }
}

/// 404 when the caller may not see the booking, 403 when they may see it but not do this.
fn check(caller: &Caller, access: &Access, action: Action<'_>) -> AppResult<()> {
    require_visible(
        caller,
        Action::ReadBooking {
            person_id: &access.person_id,
            school_id: access.school_id.as_deref(),
            course_lead_ids: &access.course_lead_ids,
        },
    )?;
    require(caller, action)
}

/// Books a place on `course_id` for `input.person_id` (or the caller): the caller must be the
/// person, their school's lead or an admin (404 for a person they may not see), and only an
/// admin may override the rules. Confirmed, waitlisted or pending approval as the course's
/// rules decide, through the course's queue.
pub async fn book(
    state: &AppState,
    caller: &Caller,
    course_id: &str,
    input: BookInput,
) -> AppResult<Booking> {
    book_keyed(state, caller, course_id, input, None).await
}

/// As [`book`], under an `Idempotency-Key` when `answer` is given: the answer is written in
/// the booking's transaction, so a retry after a crash gets it even if the first response
/// never left.
pub async fn book_keyed(
    state: &AppState,
    caller: &Caller,
    course_id: &str,
    input: BookInput,
    answer: Option<Answer<Booking>>,
) -> AppResult<Booking> {
    let person_id = input
        .person_id
        .clone()
        .unwrap_or_else(|| caller.person_id.clone());
    if input.override_rules || input.walk_in {
        require(caller, Action::OverrideBooking)?;
    }
    // Someone booking themselves may always: they are read in the booking's transaction.
    // Anyone else is read first, for the check of who may book for them.
    let target = if person_id == caller.person_id {
        store::Target::caller(&person_id)
    } else {
        let target = state.db(move |c| store::target(c, &person_id)).await?;
        require_visible(
            caller,
            Action::Book {
                person_id: &target.person_id,
                school_id: target.school_id.as_deref(),
            },
        )?;
        target
    };
    let request = store::Request {
        target,
        actor_id: Some(caller.person_id.clone()),
        staff_group_id: input.staff_group_id,
        override_rules: input.override_rules,
        walk_in: input.walk_in,
        answer,
    };
    let booking = state.bookings.book(course_id, request).await?;
    state.outbox_wake.notify_one();
    Ok(booking)
}

/// Cancels a booking, as the person, their school's lead or an admin, at `now`; the freed
/// place goes to the first eligible person waiting, in the same transaction.
pub async fn cancel(
    state: &AppState,
    caller: &Caller,
    booking_id: &str,
    reason: Option<String>,
    now: chrono::NaiveDateTime,
) -> AppResult<Booking> {
    cancel_keyed(state, caller, booking_id, reason, now, None).await
}

/// As [`cancel`], writing `answer` (under an `Idempotency-Key`) in the same transaction.
pub async fn cancel_keyed(
    state: &AppState,
    caller: &Caller,
    booking_id: &str,
    reason: Option<String>,
    now: chrono::NaiveDateTime,
    answer: Option<Answer<Booking>>,
) -> AppResult<Booking> {
    let (st, who, id) = (state.clone(), caller.clone(), booking_id.to_string());
    let booking = state
        .db(move |c| {
            let access = store::access(c, &id)?;
            check(
                &who,
                &access,
                Action::CancelBooking {
                    person_id: &access.person_id,
                    school_id: access.school_id.as_deref(),
                },
            )?;
            let ctx = ctx(&st, &who.person_id, now);
            store::cancel(c, ctx, &id, reason.as_deref(), answer.as_ref())
        })
        .await?;
    state.outbox_wake.notify_one();
    Ok(booking)
}

/// Checks that the caller may approve or decline every booking (404 for one they may not
/// see, 403 for one they may see but not decide).
fn check_decide(c: &mut DbConn, caller: &Caller, ids: &[String]) -> AppResult<()> {
    for (_, access) in store::access_many(c, ids)? {
        check(
            caller,
            &access,
            Action::DecideBooking {
                school_id: access.school_id.as_deref(),
            },
        )?;
    }
    Ok(())
}

/// Approves or declines the bookings `ids` (repeats dropped), all or none, at `now`. A
/// decline needs a reason (422 on `reason`, nothing changed); a reason is kept in each
/// booking's history.
pub async fn decide(
    state: &AppState,
    caller: &Caller,
    ids: Vec<String>,
    decision: Decision,
    now: chrono::NaiveDateTime,
) -> AppResult<Vec<Booking>> {
    decide_keyed(state, caller, ids, decision, now, None).await
}

/// As [`decide`], writing `answer` (under an `Idempotency-Key`) in the same transaction.
pub async fn decide_keyed(
    state: &AppState,
    caller: &Caller,
    ids: Vec<String>,
    decision: Decision,
    now: chrono::NaiveDateTime,
    answer: Option<Answer<Vec<Booking>>>,
) -> AppResult<Vec<Booking>> {
    let mut seen = BTreeSet::new();
    let ids: Vec<String> = ids.into_iter().filter(|i| seen.insert(i.clone())).collect();
    let decision = decision.checked()?;
    let (st, who) = (state.clone(), caller.clone());
    let done = state
        .db(move |c| {
            check_decide(c, &who, &ids)?;
            let ctx = ctx(&st, &who.person_id, now);
            match decision {
                Decision::Approve(reason) => {
                    store::approve(c, ctx, &ids, reason.as_deref(), answer.as_ref())
                }
                Decision::Decline(reason) => {
                    store::decline(c, ctx, &ids, reason.as_deref(), answer.as_ref())
                }
            }
        })
        .await?;
    state.outbox_wake.notify_one();
    Ok(done)
}

/// One booking and its history, if the caller may see it (404 otherwise).
pub async fn detail(
    state: &AppState,
    caller: &Caller,
    booking_id: &str,
) -> AppResult<(Booking, Vec<HistoryEntry>)> {
    let (who, id) = (caller.clone(), booking_id.to_string());
    state
        .db(move |c| {
            let access = store::access(c, &id)?;
            require_visible(
                &who,
                Action::ReadBooking {
                    person_id: &access.person_id,
                    school_id: access.school_id.as_deref(),
                    course_lead_ids: &access.course_lead_ids,
                },
            )?;
            Ok((store::get(c, &id)?, store::history(c, &id)?))
        })
        .await
}
