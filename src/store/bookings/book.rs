//! Booking a place, alone or in a batch: each request is decided by the booking rules under
//! the course lock, and one refused request does not undo the others of a batch.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::json;

use crate::db::prepared::{Bind, Prepared};
use crate::db::schema::{bookings, courses, schools, staff_groups};
use crate::db::{write_tx, DbConn};
use crate::domain::booking::{self as rules, BookingStatus, CourseFacts};
use crate::domain::notification::{ApprovalRequest, Notification, Waitlisted};
use crate::error::{AppError, AppResult};
use crate::store::idempotency::Answer;
use crate::store::new_id;
use crate::store::outbox::PreparedMessage;

use super::locking::{append_history, confirmed_by_school, load_people, load_person};
use super::notify::{approvers, Mailer, SessionsCache};
use super::rows::{refusal, CourseRow, PersonRow, Row};
use super::types::{Booking, Ctx, NewBooking};

// ---------------------------------------------------------------------------------------------
// Book

/// A person about to be booked: looked up before the course is locked (so the lock is held
/// for as short a time as possible) and used for the permission check; or, for someone
/// booking themselves, whom the check always lets book, looked up in the booking's own
/// transaction ([`Target::caller`]).
#[derive(Clone, Debug)]
pub struct Target {
    /// The person.
    pub person_id: String,
    /// Their school now (snapshotted on the booking); `None` too until a
    /// [`Target::caller`] is looked up.
    pub school_id: Option<String>,
    /// `None`: to be looked up in the booking's transaction.
    row: Option<PersonRow>,
}

impl Target {
    /// The signed-in person booking themselves, read in the booking's transaction rather than
    /// before it: one pooled connection and one hand-over to a blocking thread fewer per
    /// booking. Only for the caller's own booking, which the permission check always allows,
    /// so nothing is decided on the school before the person is read.
    pub fn caller(person_id: &str) -> Target {
        Target {
            person_id: person_id.to_string(),
            school_id: None,
            row: None,
        }
    }
}

/// Looks up the person to be booked; `NotFound` for an unknown or erased person.
pub fn target(conn: &mut DbConn, person_id: &str) -> AppResult<Target> {
    match bookable(conn, person_id)? {
        Some(p) => Ok(Target {
            person_id: p.id.clone(),
            school_id: p.school_id.clone(),
            row: Some(p),
        }),
        None => Err(AppError::NotFound),
    }
}

/// The person's row, if there is such a person and they have not been erased.
fn bookable(conn: &mut DbConn, person_id: &str) -> QueryResult<Option<PersonRow>> {
    Ok(load_person(conn, person_id)?.filter(|p| !p.erased))
}

/// One booking request, its person looked up and the caller's permission checked already.
#[derive(Clone, Debug)]
pub struct Request {
    /// Who gets the place.
    pub target: Target,
    /// Who asks (the person, their school lead or an admin).
    pub actor_id: Option<String>,
    /// The staff group to book as (None: the person's own).
    pub staff_group_id: Option<String>,
    /// An admin booking for the record, past the rules (invariant 11).
    pub override_rules: bool,
    /// Someone who turned up without a booking (implies `override_rules`).
    pub walk_in: bool,
    /// Under an `Idempotency-Key`: the answer to write with the booking, in its transaction.
    pub answer: Option<Answer<Booking>>,
}

/// Books a person onto a course: confirmed while places are left (and their school is under
/// its cap), waitlisted otherwise, or pending approval when the course needs it; an admin
/// override is always confirmed, raising the capacity by one on a full course. 409 with the
/// rule's code when the request is refused.
pub fn book(conn: &mut DbConn, ctx: Ctx<'_>, req: NewBooking<'_>) -> AppResult<Booking> {
    let request = Request {
        target: target(conn, req.person_id)?,
        actor_id: ctx.actor_id.map(str::to_string),
        staff_group_id: req.staff_group_id.map(str::to_string),
        override_rules: req.override_rules,
        walk_in: req.walk_in,
        answer: None,
    };
    book_batch(conn, ctx.base_url, None, req.course_id, vec![request])?
        .pop()
        .expect("one answer per request")
}

/// Why one request of a batch did not go through.
enum Failed {
    /// Refused by the rules before anything was written: the rest of the batch goes on.
    Refused(AppError),
    /// The database failed: the whole batch is rolled back.
    Broken(AppError),
}

impl From<diesel::result::Error> for Failed {
    fn from(e: diesel::result::Error) -> Self {
        Failed::Broken(e.into())
    }
}

/// What one batch's transaction knows about the course as it books.
struct Batch<'a> {
    course: CourseRow,
    facts: CourseFacts,
    held: Option<HashMap<String, i32>>,
    mailer: Mailer<'a>,
    base_url: &'a str,
    last_now: NaiveDateTime,
    single: bool,
}

/// A new booking whose rows (the booking, its first history row and its email) are written at
/// the end of its transaction, with the others of the transaction, in one statement.
struct Deferred {
    row: Row,
    reason: &'static str,
    mail: Option<PreparedMessage>,
}

/// What a booking transaction on PostgreSQL writes at its end, in one statement
/// ([`write_all`]): the common bookings (confirmed or waitlisted, not overrides) and the
/// courses' place counters. One statement for a whole batch rather than one per booking: a
/// round trip each saved while the batch holds its courses' locks.
#[derive(Default)]
struct Writes {
    bookings: Vec<Deferred>,
    /// (course, confirmed, waitlisted).
    counters: Vec<(String, i32, i32)>,
}

impl Writes {
    /// The bookings of `course_id` this transaction has made but not written yet: what a
    /// read of the bookings table cannot see, and the batch's rules must still count.
    fn unwritten<'w>(&'w self, course_id: &'w str) -> impl Iterator<Item = &'w Row> + 'w {
        self.bookings
            .iter()
            .map(|d| &d.row)
            .filter(move |r| r.course_id == course_id)
    }
}

/// Books several requests for ONE course in one transaction that takes the course lock once:
/// the decisions are made one after another, in the order given, exactly as if each were
/// its own transaction (each gets a later request time than the one before), but the lock,
/// the course's facts and sessions, the counter update and the commit (on PostgreSQL, its
/// flush to disk) are shared. A request refused by the rules gets its own 409/422/404
/// without affecting the others; a database failure fails the whole batch (`Err`), and no
/// booking of it exists. A request under an `Idempotency-Key` has its answer written with
/// its booking; one whose key was taken over meanwhile fails the batch too (the queue then
/// books each request alone, and that one gets 409 `idempotency_in_progress`). `NotFound` when there is no such course. `cache` (optional) keeps
/// the course's sessions between batches.
pub fn book_batch(
    conn: &mut DbConn,
    base_url: &str,
    cache: Option<&SessionsCache>,
    course_id: &str,
    requests: Vec<Request>,
) -> AppResult<Vec<AppResult<Booking>>> {
    write_tx(conn, |conn| {
        book_batch_in_tx(conn, base_url, cache, course_id, requests)
    })
}

/// Books the requests of several courses in ONE transaction: each course's requests as
/// [`book_batch`] decides them (the decisions in the order given), with the statements
/// shared by the whole batch: one that reads every person booking themselves, one that locks
/// and reads every course, in the order of their ids (so that two such transactions over
/// some of the same courses wait for each other rather than deadlock), on PostgreSQL one that
/// writes every common booking and the courses' counters ([`write_all`]), and the commit with
/// its flush to disk. Bookings for different courses arriving together then also share one
/// pooled connection and one hand-over to a blocking thread. The answers come back in the
/// order of `courses`. Any `Err` (a database failure, a course that is not there, a lone
/// request that met the unique index, an idempotency key taken over) rolls back every
/// course's bookings: the caller then books each course on its own, which gives every
/// request its own answer.
pub fn book_courses(
    conn: &mut DbConn,
    base_url: &str,
    cache: Option<&SessionsCache>,
    courses: Vec<(String, Vec<Request>)>,
) -> AppResult<Vec<Vec<AppResult<Booking>>>> {
    write_tx(conn, |conn| {
        book_courses_in_tx(conn, base_url, cache, courses)
    })
}

/// The body of [`book_courses`] (and of [`book_batch`], for one course), inside an open
/// write transaction.
fn book_courses_in_tx(
    conn: &mut DbConn,
    base_url: &str,
    cache: Option<&SessionsCache>,
    mut courses: Vec<(String, Vec<Request>)>,
) -> AppResult<Vec<Vec<AppResult<Booking>>>> {
    // The people booking themselves, read in one statement for the whole batch (one each
    // otherwise). One not found, or erased, is read again where its request is decided, and
    // refused there.
    let callers: Vec<&str> = courses
        .iter()
        .flat_map(|(_, requests)| requests)
        .filter(|r| r.target.row.is_none())
        .map(|r| r.target.person_id.as_str())
        .collect();
    if !callers.is_empty() {
        let people: HashMap<String, PersonRow> = load_people(conn, &callers)?
            .into_iter()
            .filter(|p| !p.erased)
            .map(|p| (p.id.clone(), p))
            .collect();
        for request in courses.iter_mut().flat_map(|(_, requests)| requests) {
            if request.target.row.is_none() {
                if let Some(p) = people.get(&request.target.person_id) {
                    request.target.school_id = p.school_id.clone();
                    request.target.row = Some(p.clone());
                }
            }
        }
    }
    // Every course locked and read in one statement, in the order of their ids.
    let ids: Vec<&str> = courses.iter().map(|(id, _)| id.as_str()).collect();
    let mut locked: HashMap<String, Locked> = lock_and_load_many(conn, &ids)?
        .into_iter()
        .map(|l| (l.course.id.clone(), l))
        .collect();
    let mut answers = Vec::with_capacity(courses.len());
    let mut writes = Writes::default();
    for (course_id, requests) in courses {
        let course = locked.remove(&course_id).ok_or(AppError::NotFound)?;
        answers.push(book_locked(
            conn,
            base_url,
            cache,
            course,
            requests,
            &mut writes,
        )?);
    }
    write_all(conn, writes)?;
    Ok(answers)
}

/// Books one request inside a write transaction the caller already holds (e.g. a walk-in
/// that is marked present at a session in the same transaction); otherwise as [`book`]. The
/// course lock is taken here if the caller has not taken it yet (taking it twice is
/// harmless). A refusal is an `Err`: the caller's transaction should then roll back.
pub fn book_in_tx(
    conn: &mut DbConn,
    base_url: &str,
    course_id: &str,
    request: Request,
) -> AppResult<Booking> {
    book_batch_in_tx(conn, base_url, None, course_id, vec![request])?
        .pop()
        .expect("one answer per request")
}

/// The body of [`book_batch`], inside an open write transaction.
fn book_batch_in_tx(
    conn: &mut DbConn,
    base_url: &str,
    cache: Option<&SessionsCache>,
    course_id: &str,
    requests: Vec<Request>,
) -> AppResult<Vec<AppResult<Booking>>> {
    Ok(book_courses_in_tx(
        conn,
        base_url,
        cache,
        vec![(course_id.to_string(), requests)],
    )?
    .pop()
    .expect("one course's answers"))
}

/// Decides a batch's requests for one course whose lock this transaction holds, `locked`
/// being the course as the lock read it. On PostgreSQL the common bookings and the counters
/// are left in `writes`, for the caller to write ([`write_all`]) before it commits.
fn book_locked(
    conn: &mut DbConn,
    base_url: &str,
    cache: Option<&SessionsCache>,
    locked: Locked,
    requests: Vec<Request>,
    writes: &mut Writes,
) -> AppResult<Vec<AppResult<Booking>>> {
    {
        let Locked {
            course,
            target_groups,
            target_phases,
        } = locked;
        let course_id = course.id.clone();
        let course_id = course_id.as_str();
        let facts = course.facts(split_targets(target_groups), split_targets(target_phases));
        let capacity_before = facts.capacity;
        let now = crate::domain::time::now();
        let mut mailer = Mailer::new(&course, base_url);
        mailer.cache = cache;
        let mut batch = Batch {
            mailer,
            facts,
            held: None,
            base_url,
            last_now: now - chrono::Duration::microseconds(1),
            single: requests.len() == 1,
            course,
        };
        let mut out = Vec::with_capacity(requests.len());
        for req in &requests {
            match book_in_batch(conn, &mut batch, req, writes) {
                Ok(b) => {
                    if let Some(answer) = &req.answer {
                        answer.record(conn, &b)?;
                    }
                    out.push(Ok(b))
                }
                Err(Failed::Refused(e)) => out.push(Err(e)),
                Err(Failed::Broken(e)) => return Err(e),
            }
        }
        // The counters move once for the whole batch. The capacity is written only when an
        // override raised it: naming it in the update raises the calendar's generation (a
        // trigger on the columns a list shows), which the place counters alone do not.
        let (confirmed, waitlisted) = (batch.facts.confirmed, batch.course.waitlist_count);
        let counters = (
            courses::confirmed_count.eq(confirmed),
            courses::waitlist_count.eq(waitlisted),
        );
        let target = diesel::update(courses::table.find(course_id));
        if batch.facts.capacity != capacity_before {
            target
                .set((counters, courses::capacity.eq(batch.facts.capacity)))
                .execute(conn)?;
        } else if matches!(conn, DbConn::Pg(_)) {
            writes
                .counters
                .push((course_id.to_string(), confirmed, waitlisted));
        } else {
            target.set(counters).execute(conn)?;
        }
        Ok(out)
    }
}

/// The course as its lock reads it, with the staff groups and the phases it is for, each
/// list joined with the unit separator (U+001F), which no id or phase holds; `None` for none.
#[derive(QueryableByName)]
struct Locked {
    #[diesel(embed)]
    course: CourseRow,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    target_groups: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    target_phases: Option<String>,
}

/// The lock-and-read statement up to its `WHERE`, with `$agg` the backend's string
/// aggregate and `$sep` its spelling of the unit separator.
macro_rules! lock_and_read {
    ($agg:literal, $sep:literal) => {
        concat!(
            "SELECT id, title, status, capacity, confirmed_count, waitlist_count, \
             per_school_cap, per_school_cap_until, booking_opens, booking_closes, \
             cancellation_deadline, requires_approval, first_session_start, price_pence, \
             revision, \
             (SELECT ",
            $agg,
            "(staff_group_id, ",
            $sep,
            ") FROM course_staff_groups \
               WHERE course_id = courses.id) AS target_groups, \
             (SELECT ",
            $agg,
            "(phase, ",
            $sep,
            ") FROM course_phases \
               WHERE course_id = courses.id) AS target_phases \
             FROM courses "
        )
    };
}

/// PostgreSQL's lock-and-read up to its `WHERE`.
const PG_LOCK_AND_READ: &str = lock_and_read!("string_agg", "chr(31)");
/// SQLite's.
const SQLITE_LOCK_AND_READ: &str = lock_and_read!("group_concat", "char(31)");

/// Takes the locks of the courses of `ids` (the transaction's first write) and reads those
/// that exist, with the staff groups and phases each is for, in one statement: one round trip
/// however many courses. On PostgreSQL the rows are locked with `FOR UPDATE`, which waits for
/// and then blocks every other writer of a course (a booking here, or
/// [`lock_course`](super::locking::lock_course)'s update) until commit, without writing a new
/// version of the row: the counters' update at the end is then the transaction's only one.
/// They are locked in the byte order of their ids (PostgreSQL locks the rows as the sorted
/// scan returns them; `COLLATE "C"`, whatever the database's collation), the order in which
/// a bulk approval or decline takes its courses' locks too (`lifecycle::courses_of`), so that
/// two transactions locking some of the same courses take them in the same order. SQLite's
/// `BEGIN IMMEDIATE` already holds its one write lock. Kept prepared per number of courses:
/// it runs for every booking.
fn lock_and_load_many(conn: &mut DbConn, ids: &[&str]) -> AppResult<Vec<Locked>> {
    let placeholders = crate::db::placeholders(1, ids.len());
    let sql = match conn {
        DbConn::Pg(_) => format!(
            "{PG_LOCK_AND_READ}WHERE id IN ({placeholders}) ORDER BY id COLLATE \"C\" \
             FOR UPDATE OF courses"
        ),
        DbConn::Sqlite(_) => {
            format!("{SQLITE_LOCK_AND_READ}WHERE id IN ({placeholders}) ORDER BY id")
        }
    };
    let q = ids
        .iter()
        .fold(Prepared::new(&sql), |q, id| q.bind(Bind::Text(id)));
    Ok(q.load::<Locked>(conn)?)
}

/// The ids of a list [`lock_and_load_many`] joined.
fn split_targets(joined: Option<String>) -> Vec<String> {
    joined
        .map(|j| j.split('\u{1f}').map(str::to_string).collect())
        .unwrap_or_default()
}

fn book_in_batch(
    conn: &mut DbConn,
    batch: &mut Batch<'_>,
    req: &Request,
    writes: &mut Writes,
) -> Result<Booking, Failed> {
    // Each decision gets its own, later time: the waiting list is served in this order.
    let now = crate::domain::time::now().max(batch.last_now + chrono::Duration::microseconds(1));
    batch.last_now = now;
    let ctx = Ctx {
        actor_id: req.actor_id.as_deref(),
        now,
        base_url: batch.base_url,
    };
    let read;
    let person = match &req.target.row {
        Some(row) => row,
        None => {
            read = bookable(conn, &req.target.person_id)?
                .ok_or(Failed::Refused(AppError::NotFound))?;
            &read
        }
    };
    let course_id = batch.course.id.clone();
    let staff_group_id = match &req.staff_group_id {
        Some(g) => {
            let known: i64 = staff_groups::table.find(g).count().get_result(conn)?;
            if known == 0 {
                return Err(Failed::Refused(AppError::invalid(
                    "staff_group_id",
                    "no such staff group",
                )));
            }
            Some(g.clone())
        }
        None => person.staff_group_id.clone(),
    };
    let overriding = req.override_rules || req.walk_in;
    rules::check_eligible(
        &batch.facts,
        staff_group_id.as_deref(),
        person.phase.as_deref(),
        now,
        overriding,
    )
    .map_err(|r| Failed::Refused(refusal(r)))?;
    // Invariant 2. A lone request leaves this to the unique index (one statement fewer); in
    // a batch a failed insert would abort the others, so it is checked first: against this
    // batch's bookings not written yet, then the table.
    if writes
        .unwritten(&course_id)
        .any(|r| r.person_id == person.id)
    {
        return Err(Failed::Refused(already_booked()));
    }
    if !batch.single {
        let held: i64 = bookings::table
            .filter(bookings::course_id.eq(&course_id))
            .filter(bookings::person_id.eq(&person.id))
            .filter(bookings::status.eq_any(ACTIVE))
            .count()
            .get_result(conn)?;
        if held > 0 {
            return Err(Failed::Refused(already_booked()));
        }
    }

    let (status, raise) = if overriding {
        (
            BookingStatus::Confirmed,
            rules::place_override(&batch.facts).raise_capacity,
        )
    } else {
        let school_held = match (&person.school_id, batch.facts.cap_at(now)) {
            (Some(s), Some(_)) => {
                if batch.held.is_none() {
                    let mut held = confirmed_by_school(conn, &course_id)?;
                    // This batch's confirmed bookings not written yet count too.
                    let confirmed = BookingStatus::Confirmed.as_str();
                    for r in writes
                        .unwritten(&course_id)
                        .filter(|r| r.status == confirmed)
                    {
                        if let Some(s) = &r.school_id {
                            *held.entry(s.clone()).or_insert(0) += 1;
                        }
                    }
                    batch.held = Some(held);
                }
                batch
                    .held
                    .as_ref()
                    .and_then(|h| h.get(s).copied())
                    .unwrap_or(0)
            }
            _ => 0,
        };
        (
            rules::place_request(
                &batch.facts,
                school_held,
                batch.facts.requires_approval,
                now,
            ),
            false,
        )
    };

    let row = Row {
        id: new_id(),
        course_id: course_id.clone(),
        person_id: person.id.clone(),
        school_id: person.school_id.clone(),
        staff_group_id,
        status: status.as_str().to_string(),
        requested_at: now,
        confirmed_at: (status == BookingStatus::Confirmed).then_some(now),
        cancelled_at: None,
        late_cancellation: false,
        cancel_reason: None,
        decline_reason: None,
        admin_override: overriding,
        walk_in: req.walk_in,
        price_pence: batch.course.price_pence,
        created_by: req.actor_id.clone(),
        updated_at: now,
    };
    let id = row.id.clone();

    // The course's facts move with the decision (the counters are written once per batch).
    let capacity_before = batch.facts.capacity;
    if raise {
        batch.facts.capacity += 1;
    }
    let mut position = None;
    match status {
        BookingStatus::Confirmed => {
            batch.facts.confirmed += 1;
            if let (Some(held), Some(s), false) = (&mut batch.held, &person.school_id, overriding) {
                *held.entry(s.clone()).or_insert(0) += 1;
            }
        }
        BookingStatus::Waitlisted => {
            // The newest request: the end of the queue.
            batch.course.waitlist_count += 1;
            position = Some(i64::from(batch.course.waitlist_count));
        }
        _ => {}
    }

    let raised_note = raise.then(|| {
        format!(
            "capacity raised from {capacity_before} to {} so the place could be confirmed",
            capacity_before + 1
        )
    });
    let note = match (req.walk_in, raised_note) {
        (true, Some(n)) => Some(format!("walk-in; {n}")),
        (true, None) => Some("walk-in".to_string()),
        (false, n) => n,
    };
    let reason = if req.walk_in {
        "walk-in"
    } else if overriding {
        "admin override"
    } else {
        match status {
            BookingStatus::PendingApproval => "requested; waits for approval",
            BookingStatus::Waitlisted => "booked; no place free, so waitlisted",
            _ => "booked",
        }
    };
    // On PostgreSQL the common case (a confirmed or waitlisted booking, not an override) is
    // written at the end of the transaction with the rest of the batch ([`write_all`]): the
    // booking, its history and its email in one statement for all of them, and PostgreSQL's
    // CPU per statement is what bounds booking throughput there.
    if matches!(conn, DbConn::Pg(_)) && !overriding && status != BookingStatus::PendingApproval {
        let mail = if status == BookingStatus::Waitlisted {
            let position = position.unwrap_or_default();
            batch.mailer.prepare(conn, &id, person, |course| {
                Notification::BookingWaitlisted(Waitlisted { course, position })
            })?
        } else {
            batch
                .mailer
                .prepare(conn, &id, person, Notification::BookingConfirmed)?
        };
        let booking = row
            .clone()
            .into_booking(person.name.clone(), batch.course.title.clone(), position)
            .map_err(Failed::Broken)?;
        writes.bookings.push(Deferred { row, reason, mail });
        return Ok(booking);
    }

    diesel::insert_into(bookings::table)
        .values((
            bookings::id.eq(&row.id),
            bookings::course_id.eq(&row.course_id),
            bookings::person_id.eq(&row.person_id),
            bookings::school_id.eq(&row.school_id),
            bookings::staff_group_id.eq(&row.staff_group_id),
            bookings::status.eq(&row.status),
            bookings::requested_at.eq(row.requested_at),
            bookings::confirmed_at.eq(row.confirmed_at),
            bookings::late_cancellation.eq(false),
            bookings::admin_override.eq(overriding),
            bookings::walk_in.eq(req.walk_in),
            bookings::price_pence.eq(row.price_pence),
            bookings::created_by.eq(&row.created_by),
            bookings::created_at.eq(now),
            bookings::updated_at.eq(now),
        ))
        .execute(conn)
        .map_err(|e| match e {
            // Only a lone request gets here (see above): its transaction is over anyway.
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            ) => Failed::Broken(already_booked()),
            other => Failed::from(other),
        })?;

    append_history(conn, &ctx, &id, None, status, reason, note.as_deref())?;
    if overriding {
        crate::store::audit::record(
            conn,
            ctx.actor_id,
            "booking.override",
            "booking",
            Some(&id),
            json!({
                "course_id": course_id,
                "person_id": person.id,
                "walk_in": req.walk_in,
                "capacity_raised": raise,
            }),
        )?;
    }

    match status {
        BookingStatus::PendingApproval => {
            let school_name: Option<String> = match &person.school_id {
                Some(s) => schools::table
                    .find(s)
                    .select(schools::name)
                    .first(conn)
                    .optional()?,
                None => None,
            };
            for lead in approvers(conn, person.school_id.as_deref())? {
                let base_url = batch.base_url;
                batch.mailer.send(conn, &id, &lead, |course| {
                    Notification::ApprovalRequested(ApprovalRequest::new(
                        course,
                        &person.name,
                        school_name.clone(),
                        base_url,
                    ))
                })?;
            }
        }
        BookingStatus::Waitlisted => {
            // Set above for every waitlisted booking.
            let position = position.unwrap_or_default();
            batch.mailer.send(conn, &id, person, |course| {
                Notification::BookingWaitlisted(Waitlisted { course, position })
            })?
        }
        _ => batch
            .mailer
            .send(conn, &id, person, Notification::BookingConfirmed)?,
    }
    row.into_booking(person.name.clone(), batch.course.title.clone(), position)
        .map_err(Failed::Broken)
}

/// Writes what a booking transaction left in `writes` (PostgreSQL), in one statement of
/// data-modifying CTEs over two JSON parameters: every new booking, its first history row
/// (its reason, no note), its email if it has one, and the courses' place counters. The
/// bookings' own triggers (report cells, reminders) run as for plain inserts, and the history
/// and outbox rows' foreign keys are checked at the end of the statement, when the bookings
/// are there. A booking that meets the unique index (a second active booking of a person on a
/// course) fails it as a whole, with `already_booked`.
fn write_all(conn: &mut DbConn, writes: Writes) -> AppResult<()> {
    if writes.bookings.is_empty() && writes.counters.is_empty() {
        return Ok(());
    }
    let DbConn::Pg(pg) = conn else {
        unreachable!("only PostgreSQL's bookings are written at the end");
    };
    let ts = |t: NaiveDateTime| t.format("%Y-%m-%d %H:%M:%S%.6f").to_string();
    let bookings: Vec<serde_json::Value> = writes
        .bookings
        .iter()
        .map(|d| {
            let r = &d.row;
            let m = d.mail.as_ref();
            json!({
                "id": r.id,
                "course_id": r.course_id,
                "person_id": r.person_id,
                "school_id": r.school_id,
                "staff_group_id": r.staff_group_id,
                "status": r.status,
                "at": ts(r.requested_at),
                "confirmed_at": r.confirmed_at.map(ts),
                "price_pence": r.price_pence,
                "created_by": r.created_by,
                "history_id": new_id(),
                "reason": d.reason,
                "mail_id": m.map(|m| &m.id),
                "kind": m.map(|m| &m.kind),
                "email": m.map(|m| &m.recipient_email),
                "recipient": m.and_then(|m| m.recipient_person_id.as_ref()),
                "payload": m.map(|m| &m.payload),
                "mail_at": m.map(|m| ts(m.now)),
                "message_id": m.map(|m| &m.message_id),
            })
        })
        .collect();
    let counters: Vec<serde_json::Value> = writes
        .counters
        .iter()
        .map(|(id, confirmed, waitlisted)| {
            json!({"id": id, "confirmed": confirmed, "waitlisted": waitlisted})
        })
        .collect();
    let bookings = serde_json::Value::Array(bookings).to_string();
    let counters = serde_json::Value::Array(counters).to_string();
    Prepared::new(WRITE_ALL)
        .bind(Bind::Text(&bookings))
        .bind(Bind::Text(&counters))
        .execute(pg)
        .map_err(|e| match e {
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            ) => already_booked(),
            other => other.into(),
        })?;
    Ok(())
}

/// [`write_all`]'s statement: `$1` the bookings, `$2` the counters, each a JSON array.
const WRITE_ALL: &str = "WITH r AS (SELECT * FROM json_to_recordset($1::json) AS r(\
     id text, course_id text, person_id text, school_id text, staff_group_id text, \
     status text, at timestamp, confirmed_at timestamp, price_pence integer, created_by text, \
     history_id text, reason text, mail_id text, kind text, email text, recipient text, \
     payload text, mail_at timestamp, message_id text)), \
     b AS (INSERT INTO bookings (id, course_id, person_id, school_id, staff_group_id, \
     status, requested_at, confirmed_at, late_cancellation, admin_override, walk_in, \
     price_pence, created_by, created_at, updated_at) \
     SELECT id, course_id, person_id, school_id, staff_group_id, status, at, confirmed_at, \
     FALSE, FALSE, FALSE, price_pence, created_by, at, at FROM r RETURNING id), \
     h AS (INSERT INTO booking_history (id, booking_id, at, actor_id, from_status, \
     to_status, reason, note) \
     SELECT history_id, id, at, created_by, NULL, status, reason, NULL FROM r), \
     o AS (INSERT INTO outbox (id, kind, recipient_email, recipient_person_id, subject_id, \
     payload, status, attempts, next_attempt_at, message_id, created_at) \
     SELECT mail_id, kind, email, recipient, id, payload, 'pending', 0, mail_at, message_id, \
     mail_at FROM r WHERE mail_id IS NOT NULL), \
     c AS (UPDATE courses SET confirmed_count = x.confirmed, waitlist_count = x.waitlisted \
     FROM json_to_recordset($2::json) AS x(id text, confirmed integer, waitlisted integer) \
     WHERE courses.id = x.id) \
     SELECT count(*) FROM b";

fn already_booked() -> AppError {
    AppError::conflict(
        "already_booked",
        "This person already has a booking on this course.",
    )
}

pub(super) const ACTIVE: [&str; 3] = ["pending_approval", "confirmed", "waitlisted"];
