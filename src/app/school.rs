//! A school lead's view of their school (an admin's of any school): the booking requests
//! waiting for approval, oldest first, and the school's staff with their bookings to come.
//! Deciding and booking a colleague go through `app::bookings`, like the API.

use chrono::{Duration, NaiveDateTime};

use crate::app::policy::{require, Action};
use crate::app::state::AppState;
use crate::domain::caller::Caller;
use crate::domain::paging::Paging;
use crate::error::{AppError, AppResult};
use crate::store::bookings::Booking;
use crate::store::people::{PeopleFilter, Person, Scope};
use crate::store::schools::{School, SchoolFilter};

/// How many staff, requests and bookings the school view lists at most; a school larger than
/// this is served by the paged API.
const MOST: i64 = 500;

/// A request waiting for the school lead's decision.
#[derive(Clone, Debug)]
pub struct Waiting {
    /// The booking, pending approval.
    pub booking: Booking,
    /// It has waited at least the approval reminder's days (`APPROVAL_REMINDER_DAYS`).
    pub overdue: bool,
}

/// A member of the school's staff with their active bookings on courses to come.
#[derive(Clone, Debug)]
pub struct StaffMember {
    /// The person.
    pub person: Person,
    /// Their pending, confirmed and waitlisted bookings on courses not over yet, soonest first,
    /// with each course's first session start.
    pub upcoming: Vec<(Booking, Option<NaiveDateTime>)>,
}

/// The school view.
#[derive(Clone, Debug)]
pub struct SchoolView {
    /// The school.
    pub school: School,
    /// Requests waiting for approval, oldest first.
    pub waiting: Vec<Waiting>,
    /// The school's staff by name.
    pub staff: Vec<StaffMember>,
}

/// The school the caller looks after: a school lead's own (404 for another one they ask for),
/// or, for an admin, the one they chose (None: they have not chosen yet). 403 for anyone else.
pub fn school_of_caller(caller: &Caller, chosen: Option<&str>) -> AppResult<Option<String>> {
    if caller.is_admin() {
        return Ok(chosen.map(str::to_string));
    }
    require(caller, Action::ListPendingApprovals)?;
    match (chosen, caller.school_id.as_deref()) {
        (Some(c), Some(own)) if c != own => Err(AppError::NotFound),
        (_, own) => Ok(own.map(str::to_string)),
    }
}

/// The school view of `school_id` at `now`, for its school lead or an admin.
pub async fn overview(
    state: &AppState,
    caller: &Caller,
    school_id: &str,
    now: NaiveDateTime,
) -> AppResult<SchoolView> {
    require(
        caller,
        Action::DecideBooking {
            school_id: Some(school_id),
        },
    )?;
    let overdue_before = now - Duration::days(i64::from(state.settings.approval_reminder_days));
    let school_id = school_id.to_string();
    state
        .db(move |c| {
            let school = crate::store::schools::get_school(c, &school_id)?;
            let most = Paging::new(Some(MOST), None).map_err(|(f, m)| AppError::invalid(f, m))?;
            let waiting = crate::store::bookings::pending(c, Some(&school_id), now, most)?
                .items
                .into_iter()
                .map(|b| Waiting {
                    overdue: b.requested_at <= overdue_before,
                    booking: b,
                })
                .collect();
            let people = crate::store::people::list(
                c,
                &Scope::School(school_id.clone()),
                &PeopleFilter::default(),
                most,
            )?
            .items;
            let mut upcoming =
                crate::store::bookings::upcoming_for_school(c, &school_id, now, MOST)?;
            let staff = people
                .into_iter()
                .map(|person| {
                    let (theirs, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut upcoming)
                        .into_iter()
                        .partition(|(b, _)| b.person_id == person.id);
                    upcoming = rest;
                    StaffMember {
                        person,
                        upcoming: theirs,
                    }
                })
                .collect();
            Ok(SchoolView {
                school,
                waiting,
                staff,
            })
        })
        .await
}

/// Schools whose name or URN matches `q`, for an admin choosing a school (at most 50).
pub async fn find_schools(state: &AppState, caller: &Caller, q: &str) -> AppResult<Vec<School>> {
    if !caller.is_admin() {
        return Err(AppError::Forbidden(
            "only admins choose a school".to_string(),
        ));
    }
    let filter = SchoolFilter {
        q: Some(q.to_string()).filter(|q| !q.trim().is_empty()),
        ..SchoolFilter::default()
    };
    let paging = Paging::new(Some(50), None).map_err(|(f, m)| AppError::invalid(f, m))?;
    state
        .db(move |c| Ok(crate::store::schools::list_schools(c, &filter, paging)?.items))
        .await
}

/// A person the caller may book onto courses (themself, one of their school's staff as its
/// lead, anyone as an admin); 404 for anyone else.
pub async fn colleague(state: &AppState, caller: &Caller, person_id: &str) -> AppResult<Person> {
    let id = person_id.to_string();
    let person = state.db(move |c| crate::store::people::get(c, &id)).await?;
    crate::app::policy::require_visible(
        caller,
        Action::Book {
            person_id: &person.id,
            school_id: person.school_id(),
        },
    )?;
    Ok(person)
}
