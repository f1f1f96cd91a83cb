//! The messages a booking change queues in the outbox, written in the same transaction as
//! the change so a notification is never sent for a change that rolled back.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::{json, Value};

use crate::db::schema::{course_sessions, people, person_roles};
use crate::db::DbConn;
use crate::domain::booking::BookingStatus;
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
    sessions: Option<Value>,
    pub(super) cache: Option<&'a SessionsCache>,
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
    pub(super) fn send(
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
    pub(super) fn payload(
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

pub(super) fn rfc3339(t: NaiveDateTime) -> String {
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

pub(super) fn person_of(conn: &mut DbConn, id: &str) -> AppResult<PersonRow> {
    load_person(conn, id)?.ok_or(AppError::NotFound)
}
