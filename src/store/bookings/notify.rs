//! The messages a booking change queues in the outbox, written in the same transaction as
//! the change so a notification is never sent for a change that rolled back.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{course_sessions, people, person_roles};
use crate::db::DbConn;
use crate::domain::booking::BookingStatus;
use crate::domain::notification::{CourseMail, Notification, SessionLine, Waitlisted};
use crate::domain::roles::Role;
use crate::error::{AppError, AppResult};
use crate::store::outbox::{self, NewMessage};

use super::locking::{load_person, waitlist_position};
use super::rows::{CourseRow, PersonRow, Row};

// ---------------------------------------------------------------------------------------------
// Notifications

/// Builds and queues the emails of one transaction on one course: the course's title, link
/// and sessions are read once and shared by every message.
pub(super) struct Mailer<'a> {
    course_id: String,
    title: String,
    revision: i32,
    base_url: &'a str,
    sessions: Option<Vec<SessionLine>>,
    pub(super) cache: Option<&'a SessionsCache>,
}

/// The sessions of recently booked courses as the emails show them, by course, valid for one
/// revision of the course (every change to its sessions raises the revision), so a busy
/// course's sessions are not read again for every booking.
#[derive(Default)]
pub struct SessionsCache(std::sync::Mutex<HashMap<String, (i32, Vec<SessionLine>)>>);

impl SessionsCache {
    /// At most this many courses are kept; past it the cache starts again.
    const MAX: usize = 1000;

    fn get(&self, course_id: &str, revision: i32) -> Option<Vec<SessionLine>> {
        let map = self.0.lock().ok()?;
        map.get(course_id)
            .filter(|(r, _)| *r == revision)
            .map(|(_, v)| v.clone())
    }

    fn put(&self, course_id: &str, revision: i32, value: &[SessionLine]) {
        if let Ok(mut map) = self.0.lock() {
            if map.len() >= Self::MAX {
                map.clear();
            }
            map.insert(course_id.to_string(), (revision, value.to_vec()));
        }
    }
}

impl<'a> Mailer<'a> {
    pub(super) fn new(course: &CourseRow, base_url: &'a str) -> Self {
        Mailer {
            course_id: course.id.clone(),
            title: course.title.clone(),
            revision: course.revision,
            base_url,
            sessions: None,
            cache: None,
        }
    }

    fn sessions(&mut self, conn: &mut DbConn) -> QueryResult<Vec<SessionLine>> {
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
        let value = session_lines(conn, &self.course_id, None)?;
        if let Some(c) = self.cache {
            c.put(&self.course_id, self.revision, &value);
        }
        self.sessions = Some(value.clone());
        Ok(value)
    }

    /// Queues one message about `booking_id` to `to`: `what` makes the notification from the
    /// fields every booking email shares, and the `.ics` block is added where the kind
    /// attaches one (see `Kind::calendar_method`).
    pub(super) fn send(
        &mut self,
        conn: &mut DbConn,
        booking_id: &str,
        to: &PersonRow,
        what: impl FnOnce(CourseMail) -> Notification,
    ) -> QueryResult<()> {
        // An erased person keeps their booking for the counts but gets no more email.
        if to.erased {
            return Ok(());
        }
        let notification =
            what(self.course_mail(conn, booking_id, to)?).with_calendar(self.revision);
        outbox::enqueue(
            conn,
            NewMessage {
                recipient_email: &to.email,
                recipient_person_id: Some(&to.id),
                subject_id: Some(booking_id),
                notification,
            },
        )?;
        Ok(())
    }

    /// The outbox row [`Mailer::send`] would write, made ready for the caller to write in
    /// its own statement; `None` for an erased person (who gets no more email).
    pub(super) fn prepare(
        &mut self,
        conn: &mut DbConn,
        booking_id: &str,
        to: &PersonRow,
        what: impl FnOnce(CourseMail) -> Notification,
    ) -> QueryResult<Option<outbox::PreparedMessage>> {
        if to.erased {
            return Ok(None);
        }
        let notification =
            what(self.course_mail(conn, booking_id, to)?).with_calendar(self.revision);
        Ok(Some(outbox::prepare(NewMessage {
            recipient_email: &to.email,
            recipient_person_id: Some(&to.id),
            subject_id: Some(booking_id),
            notification,
        })))
    }

    /// The fields every booking email about `booking_id` to `to` shares (see
    /// `email-templates/README.md`), without an `.ics` block.
    pub(super) fn course_mail(
        &mut self,
        conn: &mut DbConn,
        booking_id: &str,
        to: &PersonRow,
    ) -> QueryResult<CourseMail> {
        let sessions = self.sessions(conn)?;
        Ok(CourseMail::new(
            self.base_url,
            &self.course_id,
            &self.title,
            sessions,
            booking_id,
            &to.name,
        ))
    }
}

/// A course's sessions (or just one of them) as the email templates read them, in order.
pub fn session_lines(
    conn: &mut DbConn,
    course_id: &str,
    only: Option<&str>,
) -> QueryResult<Vec<SessionLine>> {
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
    Ok(rows
        .into_iter()
        .map(|(id, start, end, name, address, postcode, online_url)| {
            SessionLine::new(id, start, end, name, address, postcode, online_url)
        })
        .collect())
}

/// The people who approve a school's requests: its school leads, or the admins when the
/// school has none (so a request never waits unseen).
pub(super) fn approvers(conn: &mut DbConn, school_id: Option<&str>) -> QueryResult<Vec<PersonRow>> {
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
pub(super) fn notify_status(
    conn: &mut DbConn,
    mailer: &mut Mailer<'_>,
    booking: &Row,
    person: &PersonRow,
    status: BookingStatus,
    if_confirmed: fn(CourseMail) -> Notification,
) -> AppResult<()> {
    match status {
        BookingStatus::Confirmed => mailer.send(conn, &booking.id, person, if_confirmed)?,
        BookingStatus::Waitlisted => {
            let position =
                waitlist_position(conn, &booking.course_id, booking.requested_at, &booking.id)?;
            mailer.send(conn, &booking.id, person, |course| {
                Notification::BookingWaitlisted(Waitlisted { course, position })
            })?
        }
        _ => {}
    }
    Ok(())
}

pub(super) fn person_of(conn: &mut DbConn, id: &str) -> AppResult<PersonRow> {
    load_person(conn, id)?.ok_or(AppError::NotFound)
}
