//! Courses as people see them: the CPD calendar with its filters, and one course with the
//! caller's own booking on it; and (`write`) creating and changing them. The JSON handlers
//! and the pages share these.

mod write;

pub use write::{
    add_session, admin_course, admin_courses, cancel_course, cancellation_preview, choices,
    create_course, delete_session, edit_course, find_people, people_named, publish_course,
    update_course, update_session, AdminListed, Candidate, Choices,
};

use std::sync::{Arc, OnceLock};

use serde::Deserialize;
use utoipa::IntoParams;
use validator::Validate;

use crate::app::cache::Caches;
use crate::app::policy::{course_scope, require_visible_to, Action};
use crate::app::state::AppState;
use crate::db::DbConn;
use crate::domain::booking::{call_to_action, CallToAction, CourseFacts};
use crate::domain::caller::Caller;
use crate::domain::course::{
    add_problem, parse_bound, CourseScope, CourseStatus, Format, Problems,
};
use crate::domain::paging::{Page, Paging};
use crate::domain::school::Phase;
use crate::error::{AppError, AppResult};
use crate::store::bookings::{Booking, Filter};
use crate::store::courses::{self as store, Course, CourseFilter, CourseSummary};
use crate::store::reference::{self, Cluster, Priority, StaffGroup};

/// Filters of the calendar list and of `/calendar.ics`. Lists of values are comma-separated
/// and match any of them.
#[derive(Debug, Default, Clone, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CourseQuery {
    /// Page size, 1 to 1000 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// Items to skip (default 0).
    #[param(value_type = Option<i64>, minimum = 0)]
    pub offset: Option<String>,
    /// First session starts at or after: a date (`2027-01-01`, the start of that day in
    /// Europe/London) or an RFC 3339 time with an offset.
    #[param(example = "2027-01-01")]
    pub from: Option<String>,
    /// First session starts at or before: a date (the end of that day in Europe/London) or an
    /// RFC 3339 time with an offset.
    #[param(example = "2027-04-30")]
    pub to: Option<String>,
    /// Strategy priorities, by id or key (`send,leadership`).
    #[param(example = "send")]
    pub priority: Option<String>,
    /// Staff groups, by id or key: courses for any of them and courses open to everyone.
    #[param(example = "teaching_assistant")]
    pub staff_group: Option<String>,
    /// Phases: courses for any of them and courses open to every phase.
    #[param(example = "primary")]
    pub phase: Option<String>,
    /// A cluster's id: courses run for that cluster.
    pub cluster: Option<String>,
    /// Formats: `in_person`, `online`, `hybrid`.
    #[param(example = "online")]
    pub format: Option<String>,
    /// Words that must all appear in the title or summary (case-insensitive).
    #[param(example = "phonics")]
    pub q: Option<String>,
    /// `published` (the default), `draft`, `cancelled` or `all`. Others than admins see
    /// drafts and cancelled courses only when they lead them.
    #[param(example = "published")]
    pub status: Option<String>,
    /// `true`: only courses with places left; `false`: only full ones.
    #[param(value_type = Option<bool>)]
    pub has_places: Option<String>,
}

fn split_list(v: &Option<String>) -> Vec<String> {
    v.as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn parse_int(field: &str, v: &Option<String>, problems: &mut Problems) -> Option<i64> {
    let s = v.as_deref()?.trim();
    match s.parse::<i64>() {
        Ok(n) => Some(n),
        Err(_) => {
            add_problem(problems, field, format!("{s:?} is not a whole number"));
            None
        }
    }
}

impl CourseQuery {
    /// The checked filter, or a 422 naming every bad parameter. The paging parameters are
    /// checked too, though a whole feed is not paged: they are the same parameters as the
    /// list's, and a value out of range is refused alike.
    pub fn filter(&self) -> AppResult<CourseFilter> {
        self.filter_and_paging().map(|(filter, _)| filter)
    }

    /// The checked filter and paging.
    pub fn filter_and_paging(&self) -> AppResult<(CourseFilter, Paging)> {
        let mut problems = Problems::new();
        let filter = self.filter_into(&mut problems);
        let limit = parse_int("limit", &self.limit, &mut problems);
        let offset = parse_int("offset", &self.offset, &mut problems);
        let paging = match Paging::new(limit, offset) {
            Ok(p) => Some(p),
            Err((field, message)) => {
                add_problem(&mut problems, field, message);
                None
            }
        };
        match paging {
            Some(paging) if problems.is_empty() => Ok((filter, paging)),
            _ => Err(AppError::Validation(problems)),
        }
    }

    fn filter_into(&self, problems: &mut Problems) -> CourseFilter {
        let mut filter = CourseFilter::default();
        for (field, value, end) in [("from", &self.from, false), ("to", &self.to, true)] {
            if let Some(v) = value.as_deref().filter(|v| !v.trim().is_empty()) {
                match parse_bound(v, end) {
                    Ok(t) => {
                        if end {
                            filter.to = Some(t);
                        } else {
                            filter.from = Some(t);
                        }
                    }
                    Err(m) => add_problem(problems, field, m),
                }
            }
        }
        if let (Some(from), Some(to)) = (filter.from, filter.to) {
            if from > to {
                add_problem(problems, "to", "must not be before from");
            }
        }
        filter.priorities = split_list(&self.priority);
        filter.staff_groups = split_list(&self.staff_group);
        filter.phases = split_list(&self.phase);
        for p in &filter.phases {
            if Phase::parse(p).is_none() {
                let all: Vec<&str> = Phase::ALL.iter().map(|p| p.as_str()).collect();
                add_problem(
                    problems,
                    "phase",
                    format!("{p:?} is not a phase; use one of {}", all.join(", ")),
                );
            }
        }
        filter.cluster_id = self
            .cluster
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_string);
        filter.formats = split_list(&self.format);
        for f in &filter.formats {
            if Format::parse(f).is_none() {
                add_problem(
                    problems,
                    "format",
                    format!("{f:?} is not a format; use in_person, online or hybrid"),
                );
            }
        }
        filter.words = self
            .q
            .as_deref()
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_lowercase)
            .collect();
        let statuses = split_list(&self.status);
        if statuses.is_empty() {
            filter.statuses = vec![CourseStatus::Published];
        } else if statuses.iter().any(|s| s == "all") {
            filter.statuses = Vec::new();
        } else {
            for s in &statuses {
                match CourseStatus::parse(s) {
                    Some(st) => filter.statuses.push(st),
                    None => add_problem(
                        problems,
                        "status",
                        format!("{s:?} is not a status; use published, draft, cancelled or all"),
                    ),
                }
            }
        }
        filter.has_places = match self.has_places.as_deref().map(str::trim) {
            None | Some("") => None,
            Some("true" | "1" | "yes") => Some(true),
            Some("false" | "0" | "no") => Some(false),
            Some(other) => {
                add_problem(
                    problems,
                    "has_places",
                    format!("{other:?} is not true or false"),
                );
                None
            }
        };
        filter
    }
}

/// A calendar list as it is kept and shared: the page and, once a JSON caller has asked for
/// it, its JSON.
pub struct CalendarList {
    /// The courses on the page and how many match in all.
    pub page: Page<CourseSummary>,
    json: OnceLock<actix_web::web::Bytes>,
}

impl CalendarList {
    fn new(page: Page<CourseSummary>) -> Self {
        CalendarList {
            page,
            json: OnceLock::new(),
        }
    }

    /// The page as the JSON API answers it (made once per kept list).
    pub fn json(&self) -> AppResult<actix_web::web::Bytes> {
        if let Some(body) = self.json.get() {
            return Ok(body.clone());
        }
        let body = actix_web::web::Bytes::from(
            serde_json::to_vec(&self.page).map_err(|e| AppError::Internal(e.into()))?,
        );
        let _ = self.json.set(body.clone());
        Ok(body)
    }
}

/// Lists of more courses than this (pages of hundreds) are made afresh each time, not kept.
const KEEP_MAX_ITEMS: usize = 200;

/// The list for a checked filter: published-only lists, which look the same to everyone, are
/// kept under the calendar generation (read here unless the caller already has it) by the
/// normalised filter and paging, so every spelling of a query shares one entry.
fn calendar_list(
    conn: &mut DbConn,
    caches: &Caches,
    generation: Option<i64>,
    filter: &CourseFilter,
    scope: &CourseScope,
    paging: Paging,
) -> AppResult<Arc<CalendarList>> {
    let make = |conn: &mut DbConn| {
        store::list_courses(conn, filter, scope, paging).map(|p| Arc::new(CalendarList::new(p)))
    };
    let Some(key) = kept_key(filter, paging) else {
        return make(conn);
    };
    // The generation is read before the list, so a kept list is never older than the
    // generation it is kept under.
    let generation = match generation {
        Some(g) => g,
        None => store::calendar_generation(conn)?,
    };
    caches.calendar.get_or_make(
        &key,
        generation,
        std::time::Instant::now(),
        |l| l.page.items.len() <= KEEP_MAX_ITEMS,
        || make(conn),
    )
}

/// The key a list is kept under: published-only lists, which look the same to everyone, by
/// the normalised filter and paging (`None`: not kept).
fn kept_key(filter: &CourseFilter, paging: Paging) -> Option<String> {
    (filter.statuses == [CourseStatus::Published])
        .then(|| format!("{filter:?} {} {}", paging.limit, paging.offset))
}

/// The calendar's generation, read after this call began; the requests asking at about the
/// same time share one read (`app::cache::SharedRead`).
async fn calendar_generation(state: &AppState) -> AppResult<i64> {
    state
        .caches
        .generation
        .get(|| async {
            state
                .db(|c| Ok(store::calendar_generation(c)?))
                .await
                .map_err(|e| e.to_string())
        })
        .await
        .map_err(AppError::Unavailable)
}

/// The published courses (and, for admins and leads, the others the filter asks for)
/// matching `query`, ordered by first session; a 422 names every bad filter. Published lists
/// are shared between callers while the calendar is unchanged: a kept list costs one
/// single-row read shared with the other requests made at the same time, and no connection
/// of its own.
pub async fn calendar(
    state: &AppState,
    caller: Option<&Caller>,
    query: &CourseQuery,
) -> AppResult<Arc<CalendarList>> {
    let (filter, paging) = query.filter_and_paging()?;
    let scope = course_scope(caller);
    let caches = state.caches.clone();
    let generation = match kept_key(&filter, paging) {
        Some(key) => {
            let generation = calendar_generation(state).await?;
            if let Some(list) = caches
                .calendar
                .get(&key, generation, std::time::Instant::now())
            {
                return Ok(list);
            }
            Some(generation)
        }
        None => None,
    };
    state
        .db(move |c| calendar_list(c, &caches, generation, &filter, &scope, paging))
        .await
}

/// The choices of the calendar's filter form, in their lists' order (up to 200 of each).
pub struct FilterChoices {
    /// Strategy priorities.
    pub priorities: Vec<Priority>,
    /// Staff groups.
    pub staff_groups: Vec<StaffGroup>,
    /// Clusters, by name.
    pub clusters: Vec<Cluster>,
}

fn filter_choices(
    conn: &mut DbConn,
    caches: &Caches,
    generation: i64,
) -> AppResult<Arc<FilterChoices>> {
    caches.choices.get_or_make(
        "",
        generation,
        std::time::Instant::now(),
        |_| true,
        || {
            let all = Paging::new(Some(200), None).map_err(|(f, m)| AppError::invalid(f, m))?;
            Ok(Arc::new(FilterChoices {
                priorities: reference::list_priorities(conn, None, all)?.items,
                staff_groups: reference::list_staff_groups(conn, None, all)?.items,
                clusters: reference::list_clusters(conn, None, all)?.items,
            }))
        },
    )
}

/// What the calendar page shows: the list for `query` (or why the query cannot be read) and
/// the filter form's choices. Both are kept under the calendar generation, so a page whose
/// list and choices are kept costs one single-row read.
pub async fn calendar_page(
    state: &AppState,
    caller: Option<&Caller>,
    query: &CourseQuery,
) -> AppResult<(AppResult<Arc<CalendarList>>, Arc<FilterChoices>)> {
    let checked = query.filter_and_paging();
    let scope = course_scope(caller);
    let caches = state.caches.clone();
    state
        .db(move |c| {
            let generation = store::calendar_generation(c)?;
            let choices = filter_choices(c, &caches, generation)?;
            let list = match checked {
                Ok((filter, paging)) => {
                    calendar_list(c, &caches, Some(generation), &filter, &scope, paging)
                }
                Err(e) => Err(e),
            };
            Ok((list, choices))
        })
        .await
}

/// One course with its sessions: published courses for anyone, drafts and cancelled courses
/// for admins and the course's leads (404 for the others).
pub async fn course(state: &AppState, caller: Option<&Caller>, id: &str) -> AppResult<Course> {
    let id = id.to_string();
    let course = state.db(move |c| store::get_course(c, &id)).await?;
    let lead_ids: Vec<String> = course.leads.iter().map(|l| l.id.clone()).collect();
    require_visible_to(
        caller,
        Action::ReadCourse {
            status: &course.status,
            lead_ids: &lead_ids,
        },
    )?;
    Ok(course)
}

/// A course as its page shows it to the reader: the course, the reader's active booking on it
/// (if any) and the one next step the page offers.
pub struct CoursePage {
    /// The course and its sessions.
    pub course: Course,
    /// The reader's pending, confirmed or waitlisted booking on it.
    pub mine: Option<Booking>,
    /// What the page offers next.
    pub action: CallToAction,
}

/// The booking facts of a course as its page has them.
pub fn facts_of(course: &Course) -> CourseFacts {
    CourseFacts {
        status: course.status.clone(),
        capacity: course.capacity,
        confirmed: course.confirmed_count,
        per_school_cap: course.per_school_cap,
        per_school_cap_until: course.per_school_cap_until,
        booking_opens: course.booking_opens,
        booking_closes: course.booking_closes,
        first_session_start: course.first_session_start,
        requires_approval: course.requires_approval,
        staff_group_ids: course.staff_groups.iter().map(|g| g.id.clone()).collect(),
        phases: course.phases.clone(),
    }
}

/// The bookings of `person_id` the caller may see, every status (on one course, if given),
/// up to `limit`.
fn bookings_in(
    conn: &mut DbConn,
    caller: &Caller,
    person_id: &str,
    course_id: Option<&str>,
    limit: i64,
) -> AppResult<Vec<Booking>> {
    let scope = crate::app::policy::booking_scope(caller);
    let filter = Filter {
        course_id: course_id.map(str::to_string),
        person_id: Some(person_id.to_string()),
        ..Filter::default()
    };
    let paging = Paging::new(Some(limit), None).map_err(|(f, m)| AppError::invalid(f, m))?;
    Ok(crate::store::bookings::list(conn, &scope, &filter, paging)?.items)
}

/// [`bookings_in`], on a connection from the pool.
async fn bookings_of(
    state: &AppState,
    caller: &Caller,
    person_id: &str,
    course_id: Option<&str>,
    limit: i64,
) -> AppResult<Vec<Booking>> {
    let caller = caller.clone();
    let person_id = person_id.to_string();
    let course_id = course_id.map(str::to_string);
    state
        .db(move |c| bookings_in(c, &caller, &person_id, course_id.as_deref(), limit))
        .await
}

/// The active booking of `person_id` (as the caller may see it) on a course, if any.
pub async fn active_booking(
    state: &AppState,
    caller: &Caller,
    person_id: &str,
    course_id: &str,
) -> AppResult<Option<Booking>> {
    let mine = bookings_of(state, caller, person_id, Some(course_id), 20).await?;
    Ok(mine.into_iter().find(|b| b.status.is_active()))
}

/// The course's page for `caller` (or someone signed out) at `now`. With `person_id`, a
/// school lead sees the page as that colleague would (their booking, their next step); the
/// caller must be allowed to book for them (`app::school::colleague`). The course and the
/// booking are read in one transaction.
pub async fn course_page(
    state: &AppState,
    caller: Option<&Caller>,
    id: &str,
    person_id: Option<&str>,
    now: chrono::NaiveDateTime,
) -> AppResult<CoursePage> {
    let id = id.to_string();
    let reader = caller.cloned();
    let person = caller.map(|c| person_id.unwrap_or(&c.person_id).to_string());
    let (course, mine) = state
        .db(move |c| {
            crate::db::read_tx(c, |c| {
                course_and_booking(c, reader.as_ref(), &id, person.as_deref())
            })
        })
        .await?;
    let action = call_to_action(
        &facts_of(&course),
        i64::from(course.waitlist_length),
        caller.is_some(),
        mine.as_ref().map(|b| (b.status, b.waitlist_position)),
        now,
    );
    Ok(CoursePage {
        course,
        mine,
        action,
    })
}

/// The course as `caller` may see it and `person`'s active booking on it (as the caller may
/// see it), if any.
fn course_and_booking(
    conn: &mut DbConn,
    caller: Option<&Caller>,
    id: &str,
    person: Option<&str>,
) -> AppResult<(Course, Option<Booking>)> {
    let course = store::get_course(conn, id)?;
    let lead_ids: Vec<String> = course.leads.iter().map(|l| l.id.clone()).collect();
    let visible = require_visible_to(
        caller,
        Action::ReadCourse {
            status: &course.status,
            lead_ids: &lead_ids,
        },
    );
    match (visible, caller) {
        (Ok(()), _) => {}
        // A cancelled course stays readable to the people who were booked on it (and their
        // school leads): the emails about it link here, and the page says why.
        (Err(AppError::NotFound), Some(c)) => {
            if !holds_cancelled_course(conn, c, &course)? {
                return Err(AppError::NotFound);
            }
        }
        (Err(e), _) => return Err(e),
    }
    let mine = match (caller, person) {
        (Some(c), Some(person)) => bookings_in(conn, c, person, Some(&course.id), 20)?
            .into_iter()
            .find(|b| b.status.is_active()),
        _ => None,
    };
    Ok((course, mine))
}

/// Whether `course` is cancelled with a booking on it the caller may see (their own, any
/// status, or their staff's for a school lead).
fn holds_cancelled_course(conn: &mut DbConn, caller: &Caller, course: &Course) -> AppResult<bool> {
    if course.status != CourseStatus::Cancelled.as_str() {
        return Ok(false);
    }
    let scope = crate::app::policy::booking_scope(caller);
    let filter = Filter {
        course_id: Some(course.id.clone()),
        ..Filter::default()
    };
    let one = Paging::new(Some(1), None).map_err(|(f, m)| AppError::invalid(f, m))?;
    let seen = crate::store::bookings::list(conn, &scope, &filter, one)?;
    Ok(seen.total > 0)
}

/// The caller's own bookings, newest course first: every status, up to 200.
pub async fn my_bookings(state: &AppState, caller: &Caller) -> AppResult<Vec<Booking>> {
    bookings_of(state, caller, &caller.person_id, None, 200).await
}

/// One of the caller's bookings with what its line on their bookings page needs.
#[derive(Clone, Debug)]
pub struct MyBooking {
    /// The booking.
    pub booking: Booking,
    /// The course's cancellation deadline.
    pub cancellation_deadline: Option<chrono::NaiveDateTime>,
    /// Its first session's start.
    pub first_start: Option<chrono::NaiveDateTime>,
    /// Its last session's end (the course is over after it).
    pub last_end: Option<chrono::NaiveDateTime>,
}

/// The caller's bookings (as [`my_bookings`]) with their courses' times, in two queries.
pub async fn my_bookings_with_times(
    state: &AppState,
    caller: &Caller,
) -> AppResult<Vec<MyBooking>> {
    let mine = my_bookings(state, caller).await?;
    let ids: Vec<String> = mine.iter().map(|b| b.course_id.clone()).collect();
    let times = state
        .db(move |c| Ok(store::booking_times(c, &ids)?))
        .await?;
    Ok(mine
        .into_iter()
        .map(|booking| {
            let (cancellation_deadline, first_start, last_end) =
                times.get(&booking.course_id).copied().unwrap_or_default();
            MyBooking {
                booking,
                cancellation_deadline,
                first_start,
                last_end,
            }
        })
        .collect())
}
