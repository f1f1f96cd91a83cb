//! Bookings: booking, cancelling, approving, declining and promoting from the waiting list.
//!
//! Every operation is ONE write transaction whose first statement takes the course row's write
//! lock (`UPDATE courses SET version = version + 1 WHERE id = ?`). With `BEGIN IMMEDIATE` on
//! SQLite and the row lock on PostgreSQL this serialises all booking decisions for a course on
//! both backends, so the facts read next (places left, the school's confirmed places, the
//! queue) cannot change before the decision is written: confirmed bookings never exceed the
//! capacity, however many requests arrive at once (invariant 1). A plain transaction
//! overbooks on PostgreSQL (two readers see the same free place) and fails with "database is
//! locked" on SQLite (a reader that later writes loses the lock race).
//!
//! Inside the lock the store reads the facts, lets `domain::booking` decide, writes the
//! booking, keeps the course's `confirmed_count` and `waitlist_count` exact, appends to the
//! booking history (invariant 9), and queues the notifications in the outbox, all in the same
//! transaction. A freed place is given to the first eligible waiting booking before the
//! transaction commits (invariant 3).

use std::collections::{BTreeSet, HashMap};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use serde_json::{json, Value};

use super::new_id;
use super::outbox::{self, NewMessage};
use crate::db::schema::{
    booking_history, bookings, course_leads, course_sessions, courses, people, person_roles,
    schools, staff_groups,
};
use crate::db::{write_tx, DbConn};
use crate::domain::booking::{
    self as rules, BookingScope as Scope, BookingStatus, CourseFacts, Refusal, Transition, Waiting,
};
use crate::domain::paging::{Page, Paging};
use crate::domain::roles::Role;
use crate::error::{AppError, AppResult};

// ---------------------------------------------------------------------------------------------
// Types

/// Who acts, when, and where links in notifications point.
#[derive(Clone, Copy, Debug)]
pub struct Ctx<'a> {
    /// The person making the change (None: the system, e.g. the background job).
    pub actor_id: Option<&'a str>,
    /// The time of the change (stored as naive UTC). Operations read the clock again once
    /// they hold the course lock ([`Ctx::stamped`]), so request times follow the order in
    /// which the lock was granted: that order is the waiting list's.
    pub now: NaiveDateTime,
    /// `PUBLIC_BASE_URL`, for the links in emails.
    pub base_url: &'a str,
}

impl Ctx<'_> {
    /// The same context at the current time (never earlier than the time it had). Call it
    /// right after taking the course lock: a time taken before the lock may be earlier than
    /// that of a request that got the lock first, which would put the queue out of order.
    pub fn stamped(self) -> Self {
        Ctx {
            now: crate::domain::time::now().max(self.now),
            ..self
        }
    }
}

/// A booking request, checked by the caller's permissions already.
#[derive(Clone, Debug)]
pub struct NewBooking<'a> {
    /// The course.
    pub course_id: &'a str,
    /// Who gets the place.
    pub person_id: &'a str,
    /// The staff group to book as (None: the person's own).
    pub staff_group_id: Option<&'a str>,
    /// An admin booking for the record, past the rules (invariant 11).
    pub override_rules: bool,
    /// Someone who turned up without a booking (implies `override_rules`).
    pub walk_in: bool,
}

/// A booking as the API shows it.
#[derive(Clone, Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Booking {
    /// Opaque id.
    pub id: String,
    /// The course.
    pub course_id: String,
    /// The course's title.
    pub course_title: String,
    /// The person booked.
    pub person_id: String,
    /// The person's name.
    pub person_name: String,
    /// The person's school when they booked.
    pub school_id: Option<String>,
    /// The staff group they booked as.
    pub staff_group_id: Option<String>,
    /// `pending_approval`, `confirmed`, `waitlisted`, `cancelled` or `declined`.
    pub status: BookingStatus,
    /// 1-based place in the waiting list; null unless waitlisted.
    pub waitlist_position: Option<i64>,
    /// When the booking was asked for (the waiting list's order).
    #[serde(with = "crate::domain::time::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub requested_at: NaiveDateTime,
    /// When it got its place.
    #[serde(with = "crate::domain::time::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub confirmed_at: Option<NaiveDateTime>,
    /// When it was cancelled.
    #[serde(with = "crate::domain::time::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub cancelled_at: Option<NaiveDateTime>,
    /// Cancelled after the course's cancellation deadline while holding a place.
    pub late_cancellation: bool,
    /// Why it was cancelled, if a reason was given.
    pub cancel_reason: Option<String>,
    /// Why it was declined.
    pub decline_reason: Option<String>,
    /// Booked by an admin past the rules (full, closed or past course).
    pub admin_override: bool,
    /// Recorded as a walk-in.
    pub walk_in: bool,
    /// The course's price per place when booked.
    pub price_pence: i32,
    /// Who made the booking.
    pub created_by: Option<String>,
    /// When it last changed.
    #[serde(with = "crate::domain::time::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: NaiveDateTime,
}

/// One entry of a booking's history.
#[derive(Clone, Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    /// When it happened.
    #[serde(with = "crate::domain::time::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: NaiveDateTime,
    /// Who did it (null: the system).
    pub actor_id: Option<String>,
    /// The status before (null: the booking was made).
    pub from: Option<BookingStatus>,
    /// The status after.
    pub to: BookingStatus,
    /// Why.
    pub reason: Option<String>,
    /// Anything else worth keeping (e.g. a capacity raised by an override).
    pub note: Option<String>,
}

/// What the permission rules need to know about a booking.
#[derive(Clone, Debug)]
pub struct Access {
    /// The person booked.
    pub person_id: String,
    /// Their school when they booked.
    pub school_id: Option<String>,
    /// The course.
    pub course_id: String,
    /// The course's leads.
    pub course_lead_ids: Vec<String>,
}

/// Filters of the booking list.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// On this course.
    pub course_id: Option<String>,
    /// Of this school (as snapshotted).
    pub school_id: Option<String>,
    /// Of this person.
    pub person_id: Option<String>,
    /// In this status.
    pub status: Option<BookingStatus>,
}

/// A person holding a booking, for notifications about the course.
#[derive(Clone, Debug)]
pub struct Holder {
    /// The booking.
    pub booking_id: String,
    /// The person.
    pub person_id: String,
    /// Their name.
    pub name: String,
    /// Where notifications go.
    pub email: String,
}

// ---------------------------------------------------------------------------------------------
// Rows

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = bookings)]
struct Row {
    id: String,
    course_id: String,
    person_id: String,
    school_id: Option<String>,
    staff_group_id: Option<String>,
    status: String,
    requested_at: NaiveDateTime,
    confirmed_at: Option<NaiveDateTime>,
    cancelled_at: Option<NaiveDateTime>,
    late_cancellation: bool,
    cancel_reason: Option<String>,
    decline_reason: Option<String>,
    admin_override: bool,
    walk_in: bool,
    price_pence: i32,
    created_by: Option<String>,
    updated_at: NaiveDateTime,
}

impl Row {
    fn status(&self) -> AppResult<BookingStatus> {
        BookingStatus::parse(&self.status).ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!(
                "booking {} has an unknown status {:?}",
                self.id,
                self.status
            ))
        })
    }

    fn into_booking(
        self,
        person_name: String,
        course_title: String,
        waitlist_position: Option<i64>,
    ) -> AppResult<Booking> {
        let status = self.status()?;
        Ok(Booking {
            id: self.id,
            course_id: self.course_id,
            course_title,
            person_id: self.person_id,
            person_name,
            school_id: self.school_id,
            staff_group_id: self.staff_group_id,
            status,
            waitlist_position: if status == BookingStatus::Waitlisted {
                waitlist_position
            } else {
                None
            },
            requested_at: self.requested_at,
            confirmed_at: self.confirmed_at,
            cancelled_at: self.cancelled_at,
            late_cancellation: self.late_cancellation,
            cancel_reason: self.cancel_reason,
            decline_reason: self.decline_reason,
            admin_override: self.admin_override,
            walk_in: self.walk_in,
            price_pence: self.price_pence,
            created_by: self.created_by,
            updated_at: self.updated_at,
        })
    }
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = courses)]
struct CourseRow {
    id: String,
    title: String,
    status: String,
    capacity: i32,
    confirmed_count: i32,
    waitlist_count: i32,
    per_school_cap: Option<i32>,
    per_school_cap_until: Option<NaiveDateTime>,
    booking_opens: Option<NaiveDateTime>,
    booking_closes: Option<NaiveDateTime>,
    cancellation_deadline: Option<NaiveDateTime>,
    requires_approval: bool,
    first_session_start: Option<NaiveDateTime>,
    price_pence: i32,
    revision: i32,
}

impl CourseRow {
    /// The facts the rules need; the targets are loaded only for new requests.
    fn facts(&self, staff_group_ids: Vec<String>, phases: Vec<String>) -> CourseFacts {
        CourseFacts {
            status: self.status.clone(),
            capacity: self.capacity,
            confirmed: self.confirmed_count,
            per_school_cap: self.per_school_cap,
            per_school_cap_until: self.per_school_cap_until,
            booking_opens: self.booking_opens,
            booking_closes: self.booking_closes,
            first_session_start: self.first_session_start,
            requires_approval: self.requires_approval,
            staff_group_ids,
            phases,
        }
    }
}

#[derive(Clone, Debug)]
struct PersonRow {
    id: String,
    name: String,
    email: String,
    school_id: Option<String>,
    staff_group_id: Option<String>,
    /// Their school's phase.
    phase: Option<String>,
    erased: bool,
}

fn refusal(r: Refusal) -> AppError {
    AppError::conflict(r.code, r.message)
}

// ---------------------------------------------------------------------------------------------
// Locking, facts and counters

/// Takes the course row's write lock by bumping its version: the first statement of every
/// booking transaction. `NotFound` when there is no such course.
pub fn lock_course(conn: &mut DbConn, course_id: &str) -> AppResult<()> {
    let n = diesel::update(courses::table.find(course_id))
        .set(courses::version.eq(courses::version + 1))
        .execute(conn)?;
    if n == 0 {
        return Err(AppError::NotFound);
    }
    Ok(())
}

fn load_course(conn: &mut DbConn, course_id: &str) -> AppResult<CourseRow> {
    Ok(courses::table
        .find(course_id)
        .select(CourseRow::as_select())
        .first(conn)?)
}

/// The staff groups and phases a course is for, in one query.
fn load_targets(conn: &mut DbConn, course_id: &str) -> QueryResult<(Vec<String>, Vec<String>)> {
    use diesel::sql_types::Text;
    #[derive(QueryableByName)]
    struct Target {
        #[diesel(sql_type = Text)]
        k: String,
        #[diesel(sql_type = Text)]
        v: String,
    }
    let sql = |a: &str, b: &str| {
        format!(
            "SELECT 'g' AS k, staff_group_id AS v FROM course_staff_groups WHERE course_id = {a} \
             UNION ALL SELECT 'p' AS k, phase AS v FROM course_phases WHERE course_id = {b}"
        )
    };
    let query = match conn {
        DbConn::Pg(_) => sql("$1", "$2"),
        DbConn::Sqlite(_) => sql("?", "?"),
    };
    let rows: Vec<Target> = diesel::sql_query(query)
        .bind::<Text, _>(course_id)
        .bind::<Text, _>(course_id)
        .load(conn)?;
    let mut groups = Vec::new();
    let mut phases = Vec::new();
    for r in rows {
        if r.k == "g" {
            groups.push(r.v);
        } else {
            phases.push(r.v);
        }
    }
    Ok((groups, phases))
}

/// Moves the course's counters (and capacity, for an override on a full course) by the
/// given amounts, in the transaction that holds the course lock.
fn adjust_counts(
    conn: &mut DbConn,
    course_id: &str,
    confirmed: i32,
    waitlisted: i32,
    capacity: i32,
) -> QueryResult<()> {
    if confirmed == 0 && waitlisted == 0 && capacity == 0 {
        return Ok(());
    }
    diesel::update(courses::table.find(course_id))
        .set((
            courses::confirmed_count.eq(courses::confirmed_count + confirmed),
            courses::waitlist_count.eq(courses::waitlist_count + waitlisted),
            courses::capacity.eq(courses::capacity + capacity),
        ))
        .execute(conn)?;
    Ok(())
}

/// The counter movement for a booking leaving `status`.
fn leaving(status: BookingStatus) -> (i32, i32) {
    match status {
        BookingStatus::Confirmed => (-1, 0),
        BookingStatus::Waitlisted => (0, -1),
        _ => (0, 0),
    }
}

/// The counter movement for a booking entering `status`.
fn entering(status: BookingStatus) -> (i32, i32) {
    let (c, w) = leaving(status);
    (-c, -w)
}

/// Confirmed places per school on a course, counted as for the cap.
fn confirmed_by_school(conn: &mut DbConn, course_id: &str) -> QueryResult<HashMap<String, i32>> {
    let rows: Vec<(Option<String>, i64)> = bookings::table
        .filter(bookings::course_id.eq(course_id))
        .filter(bookings::status.eq(BookingStatus::Confirmed.as_str()))
        .filter(bookings::admin_override.eq(false))
        .group_by(bookings::school_id)
        .select((bookings::school_id, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(s, n)| s.map(|s| (s, n as i32)))
        .collect())
}

/// The most confirmed places any one school holds on the course, counted as for the cap
/// (a per-school cap below it would be broken the moment it is set).
pub fn max_school_confirmed(conn: &mut DbConn, course_id: &str) -> QueryResult<i32> {
    Ok(confirmed_by_school(conn, course_id)?
        .values()
        .copied()
        .max()
        .unwrap_or(0))
}

/// 1-based place of a waitlisted booking in its course's queue.
fn waitlist_position(
    conn: &mut DbConn,
    course_id: &str,
    requested_at: NaiveDateTime,
    id: &str,
) -> QueryResult<i64> {
    let ahead: i64 = bookings::table
        .filter(bookings::course_id.eq(course_id))
        .filter(bookings::status.eq(BookingStatus::Waitlisted.as_str()))
        .filter(
            bookings::requested_at
                .lt(requested_at)
                .or(bookings::requested_at
                    .eq(requested_at)
                    .and(bookings::id.lt(id))),
        )
        .count()
        .get_result(conn)?;
    Ok(ahead + 1)
}

fn load_row(conn: &mut DbConn, id: &str) -> AppResult<Row> {
    Ok(bookings::table
        .find(id)
        .select(Row::as_select())
        .first(conn)?)
}

fn load_person(conn: &mut DbConn, id: &str) -> QueryResult<Option<PersonRow>> {
    #[allow(clippy::type_complexity)]
    let row: Option<(
        String,
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<NaiveDateTime>,
    )> = people::table
        .left_join(schools::table)
        .filter(people::id.eq(id))
        .select((
            people::id,
            people::name,
            people::email,
            people::school_id,
            people::staff_group_id,
            schools::phase.nullable(),
            people::erased_at,
        ))
        .first(conn)
        .optional()?;
    Ok(row.map(
        |(id, name, email, school_id, staff_group_id, phase, erased_at)| PersonRow {
            id,
            name,
            email,
            school_id,
            staff_group_id,
            phase,
            erased: erased_at.is_some(),
        },
    ))
}

/// Appends one history row (invariant 9). The only write this module makes to the table:
/// rows are never updated or deleted (the database refuses it too).
fn append_history(
    conn: &mut DbConn,
    ctx: &Ctx<'_>,
    booking_id: &str,
    from: Option<BookingStatus>,
    to: BookingStatus,
    reason: &str,
    note: Option<&str>,
) -> QueryResult<()> {
    diesel::insert_into(booking_history::table)
        .values((
            booking_history::id.eq(new_id()),
            booking_history::booking_id.eq(booking_id),
            booking_history::at.eq(ctx.now),
            booking_history::actor_id.eq(ctx.actor_id),
            booking_history::from_status.eq(from.map(BookingStatus::as_str)),
            booking_history::to_status.eq(to.as_str()),
            booking_history::reason.eq(reason),
            booking_history::note.eq(note),
        ))
        .execute(conn)?;
    Ok(())
}

/// Sets a booking's status (and the fields that go with it) and appends the history row.
struct Change<'r> {
    status: BookingStatus,
    reason: &'r str,
    note: Option<&'r str>,
    cancel_reason: Option<&'r str>,
    decline_reason: Option<&'r str>,
    late: bool,
}

fn apply(conn: &mut DbConn, ctx: &Ctx<'_>, row: &Row, change: Change<'_>) -> AppResult<()> {
    let from = row.status()?;
    let to = change.status;
    let confirmed_at = if to == BookingStatus::Confirmed {
        Some(ctx.now)
    } else {
        row.confirmed_at
    };
    let cancelled_at = if to == BookingStatus::Cancelled {
        Some(ctx.now)
    } else {
        row.cancelled_at
    };
    diesel::update(bookings::table.find(&row.id))
        .set((
            bookings::status.eq(to.as_str()),
            bookings::confirmed_at.eq(confirmed_at),
            bookings::cancelled_at.eq(cancelled_at),
            bookings::late_cancellation.eq(row.late_cancellation || change.late),
            bookings::cancel_reason.eq(change.cancel_reason.or(row.cancel_reason.as_deref())),
            bookings::decline_reason.eq(change.decline_reason.or(row.decline_reason.as_deref())),
            bookings::updated_at.eq(ctx.now),
        ))
        .execute(conn)?;
    append_history(
        conn,
        ctx,
        &row.id,
        Some(from),
        to,
        change.reason,
        change.note,
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Notifications

/// Builds and queues the emails of one transaction on one course: the course's title, link
/// and sessions are read once and shared by every message.
struct Mailer<'a> {
    course_id: String,
    title: String,
    revision: i32,
    base_url: &'a str,
    sessions: Option<Value>,
    cache: Option<&'a SessionsCache>,
}

/// The sessions of recently booked courses as the emails show them, by course, valid for one
/// revision of the course (every change to its sessions raises the revision), so a busy
/// course's sessions are not read again for every booking.
#[derive(Default)]
pub struct SessionsCache(std::sync::Mutex<HashMap<String, (i32, Value)>>);

impl SessionsCache {
    /// At most this many courses are kept; past it the cache starts again.
    const MAX: usize = 1000;

    fn get(&self, course_id: &str, revision: i32) -> Option<Value> {
        let map = self.0.lock().ok()?;
        map.get(course_id)
            .filter(|(r, _)| *r == revision)
            .map(|(_, v)| v.clone())
    }

    fn put(&self, course_id: &str, revision: i32, value: &Value) {
        if let Ok(mut map) = self.0.lock() {
            if map.len() >= Self::MAX {
                map.clear();
            }
            map.insert(course_id.to_string(), (revision, value.clone()));
        }
    }
}

impl<'a> Mailer<'a> {
    fn new(course: &CourseRow, base_url: &'a str) -> Self {
        Mailer {
            course_id: course.id.clone(),
            title: course.title.clone(),
            revision: course.revision,
            base_url,
            sessions: None,
            cache: None,
        }
    }

    fn sessions(&mut self, conn: &mut DbConn) -> QueryResult<Value> {
        if let Some(s) = &self.sessions {
            return Ok(s.clone());
        }
        if let Some(v) = self
            .cache
            .and_then(|c| c.get(&self.course_id, self.revision))
        {
            self.sessions = Some(v.clone());
            return Ok(v);
        }
        let value = sessions_json(conn, &self.course_id, None)?;
        if let Some(c) = self.cache {
            c.put(&self.course_id, self.revision, &value);
        }
        self.sessions = Some(value.clone());
        Ok(value)
    }

    /// Queues one message of `kind` about `booking_id` to `to`, with the fields every booking
    /// template shares plus `extra` (and an `.ics` where the template attaches one).
    fn send(
        &mut self,
        conn: &mut DbConn,
        kind: &str,
        booking_id: &str,
        to: &PersonRow,
        extra: Value,
    ) -> QueryResult<()> {
        // An erased person keeps their booking for the counts but gets no more email.
        if to.erased {
            return Ok(());
        }
        let payload = self.payload(conn, kind, booking_id, to, extra)?;
        outbox::enqueue(
            conn,
            NewMessage {
                kind,
                recipient_email: &to.email,
                recipient_person_id: Some(&to.id),
                subject_id: Some(booking_id),
                payload,
            },
        )?;
        Ok(())
    }

    /// The payload of a message of `kind` about `booking_id` to `to`: the fields every
    /// booking template shares, plus `extra`, plus the `ics` block where the kind attaches
    /// one (see `email-templates/README.md`).
    fn payload(
        &mut self,
        conn: &mut DbConn,
        kind: &str,
        booking_id: &str,
        to: &PersonRow,
        extra: Value,
    ) -> QueryResult<Value> {
        let mut payload = json!({
            "person_name": to.name,
            "course_title": self.title,
            "course_url": format!("{}/courses/{}", self.base_url, self.course_id),
            "sessions": self.sessions(conn)?,
            "course_id": self.course_id,
            "booking_id": booking_id,
        });
        let ics_method = match kind {
            "booking_confirmed" | "booking_promoted" | "booking_approved" | "course_changed" => {
                Some("PUBLISH")
            }
            "course_cancelled" => Some("CANCEL"),
            _ => None,
        };
        if let Some(method) = ics_method {
            payload["ics"] = json!({
                "uid_base": format!("course-{}", self.course_id),
                "sequence": self.revision,
                "method": method,
            });
        }
        if let (Value::Object(p), Value::Object(e)) = (&mut payload, extra) {
            p.extend(e);
        }
        Ok(payload)
    }
}

/// A course's sessions (or just one of them) as the email templates read them: `id`,
/// `start`, `end`, `venue` (one line) and `online_url`.
pub fn sessions_json(conn: &mut DbConn, course_id: &str, only: Option<&str>) -> QueryResult<Value> {
    let mut q = course_sessions::table
        .filter(course_sessions::course_id.eq(course_id))
        .order((course_sessions::start_at.asc(), course_sessions::id.asc()))
        .select((
            course_sessions::id,
            course_sessions::start_at,
            course_sessions::end_at,
            course_sessions::venue_name,
            course_sessions::venue_address,
            course_sessions::venue_postcode,
            course_sessions::online_url,
        ))
        .into_boxed();
    if let Some(id) = only {
        q = q.filter(course_sessions::id.eq(id.to_string()));
    }
    #[allow(clippy::type_complexity)]
    let rows: Vec<(
        String,
        NaiveDateTime,
        NaiveDateTime,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    )> = q.load(conn)?;
    Ok(Value::Array(
        rows.into_iter()
            .map(|(id, start, end, name, address, postcode, online_url)| {
                json!({
                    "id": id,
                    "start": rfc3339(start),
                    "end": rfc3339(end),
                    "venue": venue_line(name, address, postcode),
                    "online_url": online_url,
                })
            })
            .collect(),
    ))
}

fn rfc3339(t: NaiveDateTime) -> String {
    crate::domain::time::to_utc(t).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// `Barnsley Civic, Hanson Street, Barnsley S70 2HZ`, or null for an online session.
fn venue_line(
    name: Option<String>,
    address: Option<String>,
    postcode: Option<String>,
) -> Option<String> {
    let name = name.filter(|n| !n.trim().is_empty())?;
    let mut line = name;
    if let Some(a) = address.filter(|a| !a.trim().is_empty()) {
        line.push_str(", ");
        line.push_str(a.trim());
    }
    if let Some(p) = postcode.filter(|p| !p.trim().is_empty()) {
        line.push(' ');
        line.push_str(p.trim());
    }
    Some(line)
}

/// The people who approve a school's requests: its school leads, or the admins when the
/// school has none (so a request never waits unseen).
fn approvers(conn: &mut DbConn, school_id: Option<&str>) -> QueryResult<Vec<PersonRow>> {
    let load = |conn: &mut DbConn, role: Role, school: Option<&str>| {
        let mut q = people::table
            .inner_join(person_roles::table)
            .filter(person_roles::role.eq(role.as_str()))
            .filter(people::erased_at.is_null())
            .select((people::id, people::name, people::email))
            .order(people::id)
            .into_boxed();
        if let Some(s) = school {
            q = q.filter(people::school_id.eq(s.to_string()));
        }
        q.load::<(String, String, String)>(conn)
    };
    let mut found = match school_id {
        Some(s) => load(conn, Role::SchoolLead, Some(s))?,
        None => Vec::new(),
    };
    if found.is_empty() {
        found = load(conn, Role::Admin, None)?;
    }
    Ok(found
        .into_iter()
        .map(|(id, name, email)| PersonRow {
            id,
            name,
            email,
            school_id: None,
            staff_group_id: None,
            phase: None,
            erased: false,
        })
        .collect())
}

/// Queues the message that tells the person where their booking now stands.
fn notify_status(
    conn: &mut DbConn,
    mailer: &mut Mailer<'_>,
    booking: &Row,
    person: &PersonRow,
    status: BookingStatus,
    kind_if_confirmed: &str,
) -> AppResult<()> {
    match status {
        BookingStatus::Confirmed => {
            mailer.send(conn, kind_if_confirmed, &booking.id, person, json!({}))?
        }
        BookingStatus::Waitlisted => {
            let position =
                waitlist_position(conn, &booking.course_id, booking.requested_at, &booking.id)?;
            mailer.send(
                conn,
                "booking_waitlisted",
                &booking.id,
                person,
                json!({ "position": position }),
            )?
        }
        _ => {}
    }
    Ok(())
}

fn person_of(conn: &mut DbConn, id: &str) -> AppResult<PersonRow> {
    load_person(conn, id)?.ok_or(AppError::NotFound)
}

// ---------------------------------------------------------------------------------------------
// Book

/// A person about to be booked, looked up before the course is locked (so the lock is held
/// for as short a time as possible) and used for the permission check.
#[derive(Clone, Debug)]
pub struct Target {
    /// The person.
    pub person_id: String,
    /// Their school now (snapshotted on the booking).
    pub school_id: Option<String>,
    row: PersonRow,
}

/// Looks up the person to be booked; `NotFound` for an unknown or erased person.
pub fn target(conn: &mut DbConn, person_id: &str) -> AppResult<Target> {
    match load_person(conn, person_id)? {
        Some(p) if !p.erased => Ok(Target {
            person_id: p.id.clone(),
            school_id: p.school_id.clone(),
            row: p,
        }),
        _ => Err(AppError::NotFound),
    }
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

/// Books several requests for ONE course in one transaction that takes the course lock once:
/// the decisions are made one after another, in the order given, exactly as if each were
/// its own transaction (each gets a later request time than the one before), but the lock,
/// the course's facts and sessions, the counter update and the commit (on PostgreSQL, its
/// flush to disk) are shared. A request refused by the rules gets its own 409/422/404
/// without affecting the others; a database failure fails the whole batch (`Err`), and no
/// booking of it exists. `NotFound` when there is no such course. `cache` (optional) keeps
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
    {
        let course = lock_and_load(conn, course_id)?;
        let (groups, phases) = load_targets(conn, course_id)?;
        let facts = course.facts(groups, phases);
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
            match book_in_batch(conn, &mut batch, req) {
                Ok(b) => out.push(Ok(b)),
                Err(Failed::Refused(e)) => out.push(Err(e)),
                Err(Failed::Broken(e)) => return Err(e),
            }
        }
        // The counters move once for the whole batch.
        diesel::update(courses::table.find(course_id))
            .set((
                courses::confirmed_count.eq(batch.facts.confirmed),
                courses::waitlist_count.eq(batch.course.waitlist_count),
                courses::capacity.eq(batch.facts.capacity),
            ))
            .execute(conn)?;
        Ok(out)
    }
}

/// Takes the course lock (the transaction's first statement) and reads the course in the
/// same statement where the backend allows (`UPDATE ... RETURNING`).
fn lock_and_load(conn: &mut DbConn, course_id: &str) -> AppResult<CourseRow> {
    let bump = diesel::update(courses::table.find(course_id))
        .set(courses::version.eq(courses::version + 1));
    let cols = (
        courses::id,
        courses::title,
        courses::status,
        courses::capacity,
        courses::confirmed_count,
        courses::waitlist_count,
        courses::per_school_cap,
        courses::per_school_cap_until,
        courses::booking_opens,
        courses::booking_closes,
        courses::cancellation_deadline,
        courses::requires_approval,
        courses::first_session_start,
        courses::price_pence,
        courses::revision,
    );
    let row = match conn {
        DbConn::Pg(c) => bump.returning(cols).get_result::<CourseRow>(c).optional()?,
        DbConn::Sqlite(c) => bump.returning(cols).get_result::<CourseRow>(c).optional()?,
    };
    row.ok_or(AppError::NotFound)
}

fn book_in_batch(
    conn: &mut DbConn,
    batch: &mut Batch<'_>,
    req: &Request,
) -> Result<Booking, Failed> {
    // Each decision gets its own, later time: the waiting list is served in this order.
    let now = crate::domain::time::now().max(batch.last_now + chrono::Duration::microseconds(1));
    batch.last_now = now;
    let ctx = Ctx {
        actor_id: req.actor_id.as_deref(),
        now,
        base_url: batch.base_url,
    };
    let person = &req.target.row;
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
    // a batch a failed insert would abort the others, so it is checked first.
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
                    batch.held = Some(confirmed_by_school(conn, &course_id)?);
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
    append_history(conn, &ctx, &id, None, status, reason, note.as_deref())?;
    if overriding {
        super::audit::record(
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
                batch.mailer.send(
                    conn,
                    "approval_requested",
                    &id,
                    &lead,
                    json!({
                        "requester_name": person.name,
                        "school_name": school_name,
                        "link": format!("{}/bookings/{}/approve", batch.base_url, id),
                    }),
                )?;
            }
        }
        BookingStatus::Waitlisted => batch.mailer.send(
            conn,
            "booking_waitlisted",
            &id,
            person,
            json!({ "position": position }),
        )?,
        _ => batch
            .mailer
            .send(conn, "booking_confirmed", &id, person, json!({}))?,
    }
    row.into_booking(person.name.clone(), batch.course.title.clone(), position)
        .map_err(Failed::Broken)
}

fn already_booked() -> AppError {
    AppError::conflict(
        "already_booked",
        "This person already has a booking on this course.",
    )
}

const ACTIVE: [&str; 3] = ["pending_approval", "confirmed", "waitlisted"];

// ---------------------------------------------------------------------------------------------
// Promote

/// Gives free places to the earliest eligible waiting bookings of a course (FIFO, skipping
/// schools at their cap while it applies), each told by a `booking_promoted` email. Call it
/// inside a transaction that holds the course lock ([`lock_course`]) after anything that may
/// free a place: a cancellation, a decline, capacity raised, the per-school cap raised or
/// lifted. Returns the promoted booking ids.
pub fn promote(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    course_id: &str,
    reason: &str,
) -> AppResult<Vec<String>> {
    let course = load_course(conn, course_id)?;
    if course.status != "published"
        || course.waitlist_count <= 0
        || course.confirmed_count >= course.capacity
    {
        return Ok(Vec::new());
    }
    let facts = course.facts(Vec::new(), Vec::new());
    let queue: Vec<Row> = bookings::table
        .filter(bookings::course_id.eq(course_id))
        .filter(bookings::status.eq(BookingStatus::Waitlisted.as_str()))
        .order((bookings::requested_at.asc(), bookings::id.asc()))
        .select(Row::as_select())
        .load(conn)?;
    let waiting: Vec<Waiting> = queue
        .iter()
        .map(|r| Waiting {
            booking_id: r.id.clone(),
            school_id: r.school_id.clone(),
        })
        .collect();
    let mut held = if facts.cap_at(ctx.now).is_some() {
        confirmed_by_school(conn, course_id)?
    } else {
        HashMap::new()
    };
    let chosen = rules::promotions(&facts, &waiting, &mut held, ctx.now);
    if chosen.is_empty() {
        return Ok(chosen);
    }
    let mut mailer = Mailer::new(&course, ctx.base_url);
    for id in &chosen {
        let row = queue
            .iter()
            .find(|r| &r.id == id)
            .expect("promotions come from the queue");
        apply(
            conn,
            &ctx,
            row,
            Change {
                status: BookingStatus::Confirmed,
                reason,
                note: None,
                cancel_reason: None,
                decline_reason: None,
                late: false,
            },
        )?;
        let person = person_of(conn, &row.person_id)?;
        mailer.send(conn, "booking_promoted", id, &person, json!({}))?;
    }
    let n = chosen.len() as i32;
    adjust_counts(conn, course_id, n, -n, 0)?;
    Ok(chosen)
}

/// Promotes on every published course whose per-school cap has lifted by date and which has
/// both free places and people waiting: the background job's work. Each course is its own
/// locked transaction. Returns how many bookings were promoted.
pub fn promote_where_caps_lifted(
    conn: &mut DbConn,
    now: NaiveDateTime,
    base_url: &str,
) -> AppResult<usize> {
    let due: Vec<String> = courses::table
        .filter(courses::status.eq("published"))
        .filter(courses::waitlist_count.gt(0))
        .filter(courses::confirmed_count.lt(courses::capacity))
        .filter(courses::per_school_cap.is_not_null())
        .filter(courses::per_school_cap_until.le(now))
        .select(courses::id)
        .load(conn)?;
    let ctx = Ctx {
        actor_id: None,
        now,
        base_url,
    };
    let mut promoted = 0;
    for id in due {
        promoted += write_tx(conn, |conn| {
            lock_course(conn, &id)?;
            let ctx = ctx.stamped();
            promote(conn, ctx, &id, "per-school cap lifted").map(|v| v.len())
        })?;
    }
    Ok(promoted)
}

// ---------------------------------------------------------------------------------------------
// Cancel, approve, decline

/// The course of a booking (bookings never move between courses, so this may be read before
/// the course lock is taken).
fn course_of(conn: &mut DbConn, booking_id: &str) -> AppResult<String> {
    Ok(bookings::table
        .find(booking_id)
        .select(bookings::course_id)
        .first(conn)?)
}

/// Cancels a booking with an optional reason. Late (after the course's cancellation deadline)
/// when it held a place; the freed place goes to the first eligible waiting booking in the
/// same transaction. 409 `not_active` when it is already cancelled or declined.
pub fn cancel(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    booking_id: &str,
    reason: Option<&str>,
) -> AppResult<Booking> {
    let course_id = course_of(conn, booking_id)?;
    write_tx(conn, |conn| {
        lock_course(conn, &course_id)?;
        let ctx = ctx.stamped();
        let course = load_course(conn, &course_id)?;
        let row = load_row(conn, booking_id)?;
        let from = row.status()?;
        rules::check_transition(from, Transition::Cancel).map_err(refusal)?;
        let late = rules::is_late(from, course.cancellation_deadline, ctx.now);
        apply(
            conn,
            &ctx,
            &row,
            Change {
                status: BookingStatus::Cancelled,
                reason: reason.unwrap_or("cancelled"),
                note: late.then_some("after the cancellation deadline"),
                cancel_reason: reason,
                decline_reason: None,
                late,
            },
        )?;
        let (dc, dw) = leaving(from);
        adjust_counts(conn, &course_id, dc, dw, 0)?;
        let person = person_of(conn, &row.person_id)?;
        let by_name = match ctx.actor_id {
            Some(a) if a != row.person_id => load_person(conn, a)?.map(|p| p.name),
            _ => None,
        };
        let mut mailer = Mailer::new(&course, ctx.base_url);
        mailer.send(
            conn,
            "booking_cancelled",
            &row.id,
            &person,
            json!({ "by_name": by_name, "reason": reason }),
        )?;
        if from == BookingStatus::Confirmed {
            promote(conn, ctx, &course_id, "a place came free")?;
        }
        let row = load_row(conn, booking_id)?;
        view(conn, row, Some(person.name), Some(course.title))
    })
}

/// The courses of several bookings, sorted, so locks are always taken in the same order
/// (two bulk requests over the same courses cannot deadlock).
fn courses_of(conn: &mut DbConn, ids: &[String]) -> AppResult<Vec<(String, Vec<String>)>> {
    let found: Vec<(String, String)> = bookings::table
        .filter(bookings::id.eq_any(ids))
        .select((bookings::id, bookings::course_id))
        .load(conn)?;
    if found.len() != ids.iter().collect::<BTreeSet<_>>().len() {
        return Err(AppError::NotFound);
    }
    let mut by_course: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (id, course) in found {
        by_course.entry(course).or_default().push(id);
    }
    Ok(by_course.into_iter().collect())
}

/// Approves requests waiting for approval, all or none: each is placed as of its ORIGINAL
/// request time, earliest first: confirmed when a place is free and the school is under its
/// cap, otherwise waitlisted at its place in the queue by request time. 409 `not_pending`
/// (naming the booking) when one of them is not waiting for approval.
pub fn approve(conn: &mut DbConn, ctx: Ctx<'_>, ids: &[String]) -> AppResult<Vec<Booking>> {
    let groups = courses_of(conn, ids)?;
    write_tx(conn, |conn| {
        for (course_id, _) in &groups {
            lock_course(conn, course_id)?;
        }
        let ctx = ctx.stamped();
        for (course_id, booking_ids) in &groups {
            let course = load_course(conn, course_id)?;
            let mut facts = course.facts(Vec::new(), Vec::new());
            let mut rows: Vec<Row> = bookings::table
                .filter(bookings::id.eq_any(booking_ids))
                .select(Row::as_select())
                .load(conn)?;
            rows.sort_by(|a, b| (a.requested_at, &a.id).cmp(&(b.requested_at, &b.id)));
            let mut held = if facts.cap_at(ctx.now).is_some() {
                confirmed_by_school(conn, course_id)?
            } else {
                HashMap::new()
            };
            let mut placed = Vec::new();
            for row in &rows {
                rules::check_transition(row.status()?, Transition::Approve)
                    .map_err(|r| refusal(name_booking(r, &row.id)))?;
                let school_held = row
                    .school_id
                    .as_ref()
                    .and_then(|s| held.get(s).copied())
                    .unwrap_or(0);
                let status = rules::place_request(&facts, school_held, false, ctx.now);
                apply(
                    conn,
                    &ctx,
                    row,
                    Change {
                        status,
                        reason: "approved",
                        note: (status == BookingStatus::Waitlisted)
                            .then_some("no place free for the school, so waitlisted"),
                        cancel_reason: None,
                        decline_reason: None,
                        late: false,
                    },
                )?;
                if status == BookingStatus::Confirmed {
                    facts.confirmed += 1;
                    if let Some(s) = &row.school_id {
                        *held.entry(s.clone()).or_insert(0) += 1;
                    }
                }
                let (dc, dw) = entering(status);
                adjust_counts(conn, course_id, dc, dw, 0)?;
                placed.push((row.clone(), status));
            }
            // Tell each person once every position in the queue is final.
            let mut mailer = Mailer::new(&course, ctx.base_url);
            for (row, status) in placed {
                let person = person_of(conn, &row.person_id)?;
                let mut moved = row.clone();
                moved.status = status.as_str().to_string();
                notify_status(
                    conn,
                    &mut mailer,
                    &moved,
                    &person,
                    status,
                    "booking_approved",
                )?;
            }
        }
        load_many(conn, ids)
    })
}

/// Declines bookings, all or none, with an optional reason: requests waiting for approval, or a place
/// or wait the school lead withdraws. A declined place goes to the first eligible waiting
/// booking in the same transaction. 409 `not_active` (naming the booking) when one is
/// already cancelled or declined.
pub fn decline(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    ids: &[String],
    reason: Option<&str>,
) -> AppResult<Vec<Booking>> {
    let groups = courses_of(conn, ids)?;
    write_tx(conn, |conn| {
        for (course_id, _) in &groups {
            lock_course(conn, course_id)?;
        }
        let ctx = ctx.stamped();
        for (course_id, booking_ids) in &groups {
            let course = load_course(conn, course_id)?;
            let rows: Vec<Row> = bookings::table
                .filter(bookings::id.eq_any(booking_ids))
                .order((bookings::requested_at.asc(), bookings::id.asc()))
                .select(Row::as_select())
                .load(conn)?;
            let mut mailer = Mailer::new(&course, ctx.base_url);
            let mut freed = false;
            for row in &rows {
                let from = row.status()?;
                rules::check_transition(from, Transition::Decline)
                    .map_err(|r| refusal(name_booking(r, &row.id)))?;
                apply(
                    conn,
                    &ctx,
                    row,
                    Change {
                        status: BookingStatus::Declined,
                        reason: reason.unwrap_or("declined"),
                        note: None,
                        cancel_reason: None,
                        decline_reason: reason,
                        late: false,
                    },
                )?;
                let (dc, dw) = leaving(from);
                adjust_counts(conn, course_id, dc, dw, 0)?;
                freed |= from == BookingStatus::Confirmed;
                let person = person_of(conn, &row.person_id)?;
                mailer.send(
                    conn,
                    "booking_declined",
                    &row.id,
                    &person,
                    json!({ "reason": reason }),
                )?;
            }
            if freed {
                promote(conn, ctx, course_id, "a place came free")?;
            }
        }
        load_many(conn, ids)
    })
}

fn name_booking(r: Refusal, id: &str) -> Refusal {
    Refusal {
        code: r.code,
        message: format!("Booking {id}: {}", r.message),
    }
}

// ---------------------------------------------------------------------------------------------
// Hooks for the calendar (called inside its transactions, with the course lock held)

/// Cancels every active booking of a course that is being cancelled, with history, and
/// resets the course's counters. Never late: the person did not cancel. Returns whose
/// bookings were cancelled, for the caller's `course_cancelled` messages.
pub fn cancel_all_on_course(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    course_id: &str,
    reason: &str,
) -> AppResult<Vec<Holder>> {
    let rows: Vec<Row> = bookings::table
        .filter(bookings::course_id.eq(course_id))
        .filter(bookings::status.eq_any(ACTIVE))
        .order((bookings::requested_at.asc(), bookings::id.asc()))
        .select(Row::as_select())
        .load(conn)?;
    let history_reason = format!("course cancelled: {reason}");
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        apply(
            conn,
            &ctx,
            row,
            Change {
                status: BookingStatus::Cancelled,
                reason: &history_reason,
                note: None,
                cancel_reason: Some(reason),
                decline_reason: None,
                late: false,
            },
        )?;
        let person = person_of(conn, &row.person_id)?;
        if !person.erased {
            out.push(Holder {
                booking_id: row.id.clone(),
                person_id: person.id,
                name: person.name,
                email: person.email,
            });
        }
    }
    diesel::update(courses::table.find(course_id))
        .set((
            courses::confirmed_count.eq(0),
            courses::waitlist_count.eq(0),
        ))
        .execute(conn)?;
    Ok(out)
}

/// Tells the people holding a confirmed place on a published course that its sessions
/// changed (times, venue, link, a session added or removed): one `course_changed` message
/// each, with the updated `.ics`, in the transaction of the change. `cancelled_sessions`
/// lists sessions that were removed (see [`sessions_json`]). Returns how many were told.
pub fn notify_course_changed(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    course_id: &str,
    cancelled_sessions: Value,
) -> AppResult<usize> {
    let confirmed = holders(conn, course_id, &[BookingStatus::Confirmed])?;
    if confirmed.is_empty() {
        return Ok(0);
    }
    let course = load_course(conn, course_id)?;
    let mut mailer = Mailer::new(&course, ctx.base_url);
    for h in &confirmed {
        mailer.send(
            conn,
            "course_changed",
            &h.booking_id,
            &h.as_person(),
            json!({ "changes": [], "cancelled_sessions": cancelled_sessions }),
        )?;
    }
    Ok(confirmed.len())
}

/// Tells each person whose booking was cancelled with the course: one `course_cancelled`
/// message each, with a cancelling `.ics`.
pub fn notify_course_cancelled(
    conn: &mut DbConn,
    ctx: Ctx<'_>,
    course_id: &str,
    reason: &str,
    cancelled: &[Holder],
) -> AppResult<()> {
    if cancelled.is_empty() {
        return Ok(());
    }
    let course = load_course(conn, course_id)?;
    let mut mailer = Mailer::new(&course, ctx.base_url);
    for h in cancelled {
        mailer.send(
            conn,
            "course_cancelled",
            &h.booking_id,
            &h.as_person(),
            json!({ "reason": reason }),
        )?;
    }
    Ok(())
}

impl Holder {
    fn as_person(&self) -> PersonRow {
        PersonRow {
            id: self.person_id.clone(),
            name: self.name.clone(),
            email: self.email.clone(),
            school_id: None,
            staff_group_id: None,
            phase: None,
            erased: false,
        }
    }
}

/// The people holding a booking in one of `statuses` on a course (erased people left out),
/// in queue order: e.g. the confirmed people to tell about changed times.
pub fn holders(
    conn: &mut DbConn,
    course_id: &str,
    statuses: &[BookingStatus],
) -> QueryResult<Vec<Holder>> {
    let names: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
    let rows: Vec<(String, String, String, String)> = bookings::table
        .inner_join(people::table)
        .filter(bookings::course_id.eq(course_id))
        .filter(bookings::status.eq_any(names))
        .filter(people::erased_at.is_null())
        .order((bookings::requested_at.asc(), bookings::id.asc()))
        .select((bookings::id, people::id, people::name, people::email))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(booking_id, person_id, name, email)| Holder {
            booking_id,
            person_id,
            name,
            email,
        })
        .collect())
}

/// The courses a person holds a confirmed place on (for their calendar feed).
pub fn confirmed_course_ids(conn: &mut DbConn, person_id: &str) -> QueryResult<Vec<String>> {
    bookings::table
        .filter(bookings::person_id.eq(person_id))
        .filter(bookings::status.eq(BookingStatus::Confirmed.as_str()))
        .select(bookings::course_id)
        .load(conn)
}

/// The confirmed bookings due a course reminder at `now`, each with its `course_reminder`
/// payload: on published courses whose first session starts after `now` and within `days`
/// days of it, for people not erased, and not reminded already (a reminder queued once is
/// never queued again, whatever became of it). `base_url` makes the course links.
pub fn due_reminders(
    conn: &mut DbConn,
    now: NaiveDateTime,
    days: u32,
    base_url: &str,
) -> QueryResult<Vec<outbox::ReminderDue>> {
    use crate::db::schema::outbox as queued;
    use crate::domain::notification::Kind;
    let until = now + chrono::Duration::days(i64::from(days));
    let reminded = queued::table
        .filter(queued::kind.eq(Kind::CourseReminder.as_str()))
        .filter(queued::subject_id.eq(bookings::id.nullable()));
    let rows: Vec<(String, String, String)> = bookings::table
        .inner_join(courses::table)
        .inner_join(people::table)
        .filter(bookings::status.eq(BookingStatus::Confirmed.as_str()))
        .filter(courses::status.eq("published"))
        .filter(courses::first_session_start.gt(now))
        .filter(courses::first_session_start.le(until))
        .filter(people::erased_at.is_null())
        .filter(diesel::dsl::not(diesel::dsl::exists(reminded)))
        .order((
            bookings::course_id.asc(),
            bookings::requested_at.asc(),
            bookings::id.asc(),
        ))
        .select((bookings::id, bookings::course_id, bookings::person_id))
        .load(conn)?;
    // One mailer per course, so each course's sessions are read once.
    let mut mailers: HashMap<String, Mailer<'_>> = HashMap::new();
    let mut due = Vec::with_capacity(rows.len());
    for (booking_id, course_id, person_id) in rows {
        let Some(person) = load_person(conn, &person_id)? else {
            continue;
        };
        if !mailers.contains_key(&course_id) {
            let course: CourseRow = courses::table
                .find(&course_id)
                .select(CourseRow::as_select())
                .first(conn)?;
            mailers.insert(course_id.clone(), Mailer::new(&course, base_url));
        }
        let mailer = mailers.get_mut(&course_id).expect("inserted above");
        let payload = mailer.payload(
            conn,
            Kind::CourseReminder.as_str(),
            &booking_id,
            &person,
            json!({ "days_before": days }),
        )?;
        due.push(outbox::ReminderDue {
            booking_id,
            person_id: person.id,
            email: person.email,
            payload,
        });
    }
    Ok(due)
}

/// Whether the course of a booking is cancelled (the email worker skips reminders then).
pub fn course_cancelled_for(conn: &mut DbConn, booking_id: &str) -> QueryResult<bool> {
    let status: Option<String> = bookings::table
        .inner_join(courses::table)
        .filter(bookings::id.eq(booking_id))
        .select(courses::status)
        .first(conn)
        .optional()?;
    Ok(status.as_deref() == Some("cancelled"))
}

/// A booking's current status, if it exists (the email worker re-checks it before sending).
pub fn status_of(conn: &mut DbConn, booking_id: &str) -> QueryResult<Option<String>> {
    bookings::table
        .find(booking_id)
        .select(bookings::status)
        .first(conn)
        .optional()
}

// ---------------------------------------------------------------------------------------------
// Reading

fn view(
    conn: &mut DbConn,
    row: Row,
    person_name: Option<String>,
    course_title: Option<String>,
) -> AppResult<Booking> {
    let person_name = match person_name {
        Some(n) => n,
        None => people::table
            .find(&row.person_id)
            .select(people::name)
            .first(conn)?,
    };
    let course_title = match course_title {
        Some(t) => t,
        None => courses::table
            .find(&row.course_id)
            .select(courses::title)
            .first(conn)?,
    };
    let position = if row.status == BookingStatus::Waitlisted.as_str() {
        Some(waitlist_position(
            conn,
            &row.course_id,
            row.requested_at,
            &row.id,
        )?)
    } else {
        None
    };
    row.into_booking(person_name, course_title, position)
}

/// Loads bookings by id with their names and waiting-list positions, in the given order.
fn load_many(conn: &mut DbConn, ids: &[String]) -> AppResult<Vec<Booking>> {
    let rows: Vec<(Row, String, String)> = bookings::table
        .inner_join(people::table)
        .inner_join(courses::table)
        .filter(bookings::id.eq_any(ids))
        .select((Row::as_select(), people::name, courses::title))
        .load(conn)?;
    let mut shaped = with_positions(conn, rows)?;
    let order: HashMap<&String, usize> = ids.iter().enumerate().map(|(i, id)| (id, i)).collect();
    shaped.sort_by_key(|b| order.get(&b.id).copied().unwrap_or(usize::MAX));
    shaped.dedup_by(|a, b| a.id == b.id);
    Ok(shaped)
}

/// Shapes rows, working out the waiting-list positions of the waitlisted ones with one
/// query over their courses' queues.
fn with_positions(conn: &mut DbConn, rows: Vec<(Row, String, String)>) -> AppResult<Vec<Booking>> {
    let waiting_courses: BTreeSet<&String> = rows
        .iter()
        .filter(|(r, _, _)| r.status == BookingStatus::Waitlisted.as_str())
        .map(|(r, _, _)| &r.course_id)
        .collect();
    let mut positions: HashMap<String, i64> = HashMap::new();
    if !waiting_courses.is_empty() {
        let queue: Vec<(String, String)> = bookings::table
            .filter(bookings::course_id.eq_any(waiting_courses.into_iter().cloned()))
            .filter(bookings::status.eq(BookingStatus::Waitlisted.as_str()))
            .order((
                bookings::course_id.asc(),
                bookings::requested_at.asc(),
                bookings::id.asc(),
            ))
            .select((bookings::id, bookings::course_id))
            .load(conn)?;
        let mut last_course = String::new();
        let mut n = 0;
        for (id, course) in queue {
            if course != last_course {
                last_course = course;
                n = 0;
            }
            n += 1;
            positions.insert(id, n);
        }
    }
    rows.into_iter()
        .map(|(row, name, title)| {
            let pos = positions.get(&row.id).copied();
            row.into_booking(name, title, pos)
        })
        .collect()
}

/// One booking.
pub fn get(conn: &mut DbConn, id: &str) -> AppResult<Booking> {
    crate::db::read_tx(conn, |conn| {
        let row = load_row(conn, id)?;
        view(conn, row, None, None)
    })
}

/// A booking's history, oldest first.
pub fn history(conn: &mut DbConn, id: &str) -> AppResult<Vec<HistoryEntry>> {
    #[allow(clippy::type_complexity)]
    let rows: Vec<(
        NaiveDateTime,
        Option<String>,
        Option<String>,
        String,
        Option<String>,
        Option<String>,
    )> = booking_history::table
        .filter(booking_history::booking_id.eq(id))
        .order((booking_history::at.asc(), booking_history::id.asc()))
        .select((
            booking_history::at,
            booking_history::actor_id,
            booking_history::from_status,
            booking_history::to_status,
            booking_history::reason,
            booking_history::note,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(|(at, actor_id, from, to, reason, note)| {
            let parse = |s: &str| {
                BookingStatus::parse(s).ok_or_else(|| {
                    AppError::Internal(anyhow::anyhow!("unknown status {s:?} in history"))
                })
            };
            Ok(HistoryEntry {
                at,
                actor_id,
                from: from.as_deref().map(parse).transpose()?,
                to: parse(&to)?,
                reason,
                note,
            })
        })
        .collect()
}

/// What the permission rules need about one booking; `NotFound` when there is none.
pub fn access(conn: &mut DbConn, id: &str) -> AppResult<Access> {
    let (person_id, school_id, course_id): (String, Option<String>, String) = bookings::table
        .find(id)
        .select((
            bookings::person_id,
            bookings::school_id,
            bookings::course_id,
        ))
        .first(conn)?;
    let course_lead_ids = course_leads::table
        .filter(course_leads::course_id.eq(&course_id))
        .select(course_leads::person_id)
        .load(conn)?;
    Ok(Access {
        person_id,
        school_id,
        course_id,
        course_lead_ids,
    })
}

/// What the permission rules need about several bookings (for bulk approve and decline);
/// `NotFound` when one does not exist.
pub fn access_many(conn: &mut DbConn, ids: &[String]) -> AppResult<Vec<(String, Access)>> {
    ids.iter()
        .map(|id| access(conn, id).map(|a| (id.clone(), a)))
        .collect()
}

/// Bookings the caller may see, filtered, in queue order (request time, then id).
pub fn list(
    conn: &mut DbConn,
    scope: &Scope,
    filter: &Filter,
    paging: Paging,
) -> AppResult<Page<Booking>> {
    macro_rules! filtered {
        ($led:expr) => {{
            let mut q = bookings::table
                .inner_join(people::table)
                .inner_join(courses::table)
                .into_boxed();
            if let Scope::Limited {
                person_id,
                school_id,
                course_lead_id,
            } = scope
            {
                let _ = course_lead_id;
                let led: Vec<String> = $led.clone();
                let mine = bookings::person_id.eq(person_id.clone());
                q = match school_id {
                    Some(school) => q.filter(
                        mine.or(bookings::school_id.eq(school.clone()))
                            .or(bookings::course_id.eq_any(led)),
                    ),
                    None => q.filter(mine.or(bookings::course_id.eq_any(led))),
                };
            }
            if let Some(c) = &filter.course_id {
                q = q.filter(bookings::course_id.eq(c.clone()));
            }
            if let Some(s) = &filter.school_id {
                q = q.filter(bookings::school_id.eq(s.clone()));
            }
            if let Some(p) = &filter.person_id {
                q = q.filter(bookings::person_id.eq(p.clone()));
            }
            if let Some(s) = filter.status {
                q = q.filter(bookings::status.eq(s.as_str()));
            }
            q
        }};
    }
    crate::db::read_tx(conn, |conn| {
        let led: Vec<String> = match scope {
            Scope::Limited {
                course_lead_id: Some(p),
                ..
            } => course_leads::table
                .filter(course_leads::person_id.eq(p))
                .select(course_leads::course_id)
                .load(conn)?,
            _ => Vec::new(),
        };
        let total: i64 = filtered!(led).count().get_result(conn)?;
        let rows: Vec<(Row, String, String)> = filtered!(led)
            .order((bookings::requested_at.asc(), bookings::id.asc()))
            .limit(paging.limit)
            .offset(paging.offset)
            .select((Row::as_select(), people::name, courses::title))
            .load(conn)?;
        Ok(Page {
            items: with_positions(conn, rows)?,
            total,
        })
    })
}

/// Requests waiting for approval since before `older_than`, oldest first: of one school, or
/// of every school (`None`).
pub fn pending(
    conn: &mut DbConn,
    school_id: Option<&str>,
    older_than: NaiveDateTime,
    paging: Paging,
) -> AppResult<Page<Booking>> {
    macro_rules! filtered {
        () => {{
            let mut q = bookings::table
                .inner_join(people::table)
                .inner_join(courses::table)
                .filter(bookings::status.eq(BookingStatus::PendingApproval.as_str()))
                .filter(bookings::requested_at.le(older_than))
                .into_boxed();
            if let Some(s) = school_id {
                q = q.filter(bookings::school_id.eq(s.to_string()));
            }
            q
        }};
    }
    crate::db::read_tx(conn, |conn| {
        let total: i64 = filtered!().count().get_result(conn)?;
        let rows: Vec<(Row, String, String)> = filtered!()
            .order((bookings::requested_at.asc(), bookings::id.asc()))
            .limit(paging.limit)
            .offset(paging.offset)
            .select((Row::as_select(), people::name, courses::title))
            .load(conn)?;
        Ok(Page {
            items: with_positions(conn, rows)?,
            total,
        })
    })
}
