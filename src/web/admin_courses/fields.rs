//! The course form as typed and as read: every field kept as text so it can be shown back
//! whatever it holds, read from the posted pairs (sessions repeat as `sessions[0].date`...),
//! and turned into what `app::courses` takes, with Europe/London dates and times as UTC.

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use serde::Serialize;

use crate::domain::course::{CoursePlan, SessionPlan, Venue};
use crate::domain::time;
use crate::store::courses::{Course, CourseLinks, CoursePatch, SessionEdit};

use super::{problem, Problems};

/// One session as the form holds it: Europe/London date and times.
#[derive(Clone, Debug, Default, Serialize)]
pub(super) struct SessionForm {
    pub(super) id: String,
    pub(super) date: String,
    pub(super) start: String,
    pub(super) end: String,
    /// The day it ends, when later than `date` (a session running past midnight); empty:
    /// the same day.
    pub(super) end_date: String,
    pub(super) venue_name: String,
    pub(super) venue_address: String,
    pub(super) venue_postcode: String,
    pub(super) online_url: String,
    pub(super) note: String,
}

/// The course form as typed. Field names are the API's (`sessions[0].venue.name`), so its
/// 422 problems name the form's fields.
#[derive(Clone, Debug, Default, Serialize)]
pub(super) struct CourseForm {
    pub(super) title: String,
    pub(super) summary: String,
    pub(super) provider_id: String,
    pub(super) cluster_id: String,
    pub(super) lead_ids: Vec<String>,
    pub(super) priority_ids: Vec<String>,
    pub(super) staff_group_ids: Vec<String>,
    pub(super) phases: Vec<String>,
    pub(super) format: String,
    pub(super) capacity: String,
    pub(super) per_school_cap: String,
    pub(super) per_school_cap_until: String,
    pub(super) price_pence: String,
    pub(super) booking_opens: String,
    pub(super) booking_closes: String,
    pub(super) cancellation_deadline: String,
    pub(super) requires_approval: bool,
    pub(super) completion_min_sessions: String,
    pub(super) sessions: Vec<SessionForm>,
    pub(super) lead_search: String,
}

/// What the button pressed asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Intent {
    Save,
    AddSession,
    RemoveSession(usize),
    FindLead,
}

pub(super) fn read_form(body: &[u8]) -> (CourseForm, Intent) {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let mut f = CourseForm::default();
    let mut sessions: BTreeMap<usize, SessionForm> = BTreeMap::new();
    let mut intent = Intent::Save;
    for (k, v) in pairs {
        // Browsers send a textarea's line breaks as CRLF; stored text has LF.
        let v = v.replace("\r\n", "\n");
        if let Some(rest) = k.strip_prefix("sessions[") {
            let Some((n, field)) = rest.split_once("].") else {
                continue;
            };
            let Ok(n) = n.parse::<usize>() else { continue };
            if n >= 200 {
                continue;
            }
            let s = sessions.entry(n).or_default();
            match field {
                "id" => s.id = v,
                "date" => s.date = v,
                "start" => s.start = v,
                "end" => s.end = v,
                "end_date" => s.end_date = v,
                "venue.name" => s.venue_name = v,
                "venue.address" => s.venue_address = v,
                "venue.postcode" => s.venue_postcode = v,
                "online_url" => s.online_url = v,
                "note" => s.note = v,
                _ => {}
            }
            continue;
        }
        match k.as_str() {
            "title" => f.title = v,
            "summary" => f.summary = v,
            "provider_id" => f.provider_id = v,
            "cluster_id" => f.cluster_id = v,
            "lead_ids" => f.lead_ids.push(v),
            "priority_ids" => f.priority_ids.push(v),
            "staff_group_ids" => f.staff_group_ids.push(v),
            "phases" => f.phases.push(v),
            "format" => f.format = v,
            "capacity" => f.capacity = v,
            "per_school_cap" => f.per_school_cap = v,
            "per_school_cap_until" => f.per_school_cap_until = v,
            "price_pence" => f.price_pence = v,
            "booking_opens" => f.booking_opens = v,
            "booking_closes" => f.booking_closes = v,
            "cancellation_deadline" => f.cancellation_deadline = v,
            "requires_approval" => f.requires_approval = v == "true",
            "completion_min_sessions" => f.completion_min_sessions = v,
            "lead_search" => f.lead_search = v,
            "action" => {
                intent = match v.as_str() {
                    "add_session" => Intent::AddSession,
                    "find_lead" => Intent::FindLead,
                    other => match other.strip_prefix("remove-").map(str::parse::<usize>) {
                        Some(Ok(n)) => Intent::RemoveSession(n),
                        _ => Intent::Save,
                    },
                }
            }
            _ => {}
        }
    }
    f.sessions = sessions.into_values().collect();
    for list in [
        &mut f.lead_ids,
        &mut f.priority_ids,
        &mut f.staff_group_ids,
        &mut f.phases,
    ] {
        let mut seen = Vec::new();
        for v in list.drain(..) {
            let v = v.trim().to_string();
            if !v.is_empty() && !seen.contains(&v) {
                seen.push(v);
            }
        }
        *list = seen;
    }
    (f, intent)
}

/// A local date and time for a `datetime-local` field.
pub(super) fn local_input(t: Option<NaiveDateTime>) -> String {
    t.map(|t| time::london_local(t).format("%Y-%m-%dT%H:%M").to_string())
        .unwrap_or_default()
}

impl CourseForm {
    /// A new course's form: one empty session, in person.
    pub(super) fn blank() -> CourseForm {
        CourseForm {
            format: "in_person".into(),
            price_pence: "0".into(),
            sessions: vec![SessionForm::default()],
            ..CourseForm::default()
        }
    }

    /// The form filled in from a course.
    pub(super) fn of(course: &Course) -> CourseForm {
        let opt = |v: Option<i32>| v.map(|n| n.to_string()).unwrap_or_default();
        CourseForm {
            title: course.title.clone(),
            summary: course.summary.clone(),
            provider_id: course.provider_id.clone(),
            cluster_id: course
                .cluster
                .as_ref()
                .map(|c| c.id.clone())
                .unwrap_or_default(),
            lead_ids: course.leads.iter().map(|l| l.id.clone()).collect(),
            priority_ids: course.priorities.iter().map(|t| t.id.clone()).collect(),
            staff_group_ids: course.staff_groups.iter().map(|t| t.id.clone()).collect(),
            phases: course.phases.clone(),
            format: course.format.clone(),
            capacity: course.capacity.to_string(),
            per_school_cap: opt(course.per_school_cap),
            per_school_cap_until: local_input(course.per_school_cap_until),
            price_pence: course.price_pence.to_string(),
            booking_opens: local_input(course.booking_opens),
            booking_closes: local_input(course.booking_closes),
            cancellation_deadline: local_input(course.cancellation_deadline),
            requires_approval: course.requires_approval,
            completion_min_sessions: opt(course.completion_min_sessions),
            sessions: course
                .sessions
                .iter()
                .map(|s| {
                    let start = time::london_local(s.start);
                    let end = time::london_local(s.end);
                    SessionForm {
                        id: s.id.clone(),
                        date: start.format("%Y-%m-%d").to_string(),
                        start: start.format("%H:%M").to_string(),
                        end: end.format("%H:%M").to_string(),
                        end_date: if end.date() == start.date() {
                            String::new()
                        } else {
                            end.format("%Y-%m-%d").to_string()
                        },
                        venue_name: s.venue.as_ref().map(|v| v.name.clone()).unwrap_or_default(),
                        venue_address: s
                            .venue
                            .as_ref()
                            .map(|v| v.address.clone())
                            .unwrap_or_default(),
                        venue_postcode: s
                            .venue
                            .as_ref()
                            .map(|v| v.postcode.clone())
                            .unwrap_or_default(),
                        online_url: s.online_url.clone().unwrap_or_default(),
                        note: s.note.clone().unwrap_or_default(),
                    }
                })
                .collect(),
            lead_search: String::new(),
        }
    }
}

fn whole_number(p: &mut Problems, field: &str, v: &str) -> Option<i32> {
    let v = v.trim();
    if v.is_empty() {
        return None;
    }
    match v.parse::<i32>() {
        Ok(n) => Some(n),
        Err(_) => {
            problem(p, field, "must be a whole number");
            None
        }
    }
}

/// A `datetime-local` value in Europe/London as UTC.
fn date_time(p: &mut Problems, field: &str, v: &str) -> Option<NaiveDateTime> {
    let v = v.trim();
    if v.is_empty() {
        return None;
    }
    let local = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(v, f).ok());
    match local.map(time::london_to_utc) {
        Some(Ok(t)) => Some(t),
        Some(Err(m)) => {
            problem(p, field, m);
            None
        }
        None => {
            problem(p, field, "must be a date and time such as 2027-01-14T09:00");
            None
        }
    }
}

fn clock(p: &mut Problems, field: &str, v: &str) -> Option<NaiveTime> {
    let v = v.trim();
    if v.is_empty() {
        problem(p, field, "must not be empty: enter a time such as 09:30");
        return None;
    }
    match NaiveTime::parse_from_str(v, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(v, "%H:%M:%S"))
        .or_else(|_| NaiveTime::parse_from_str(v, "%H.%M"))
    {
        Ok(t) => Some(t),
        Err(_) => {
            problem(p, field, "must be a time such as 09:30 (24-hour clock)");
            None
        }
    }
}

/// The form read into what the use cases take, or the problems found reading it (dates and
/// numbers that cannot be read); the rules themselves are the use case's to check.
pub(super) fn parse(
    form: &CourseForm,
) -> Result<(CoursePlan, CourseLinks, Vec<SessionEdit>), Problems> {
    let mut p = Problems::new();
    let capacity = whole_number(&mut p, "capacity", &form.capacity).unwrap_or(0);
    let per_school_cap = whole_number(&mut p, "per_school_cap", &form.per_school_cap);
    let price_pence = whole_number(&mut p, "price_pence", &form.price_pence).unwrap_or(0);
    let completion_min_sessions = whole_number(
        &mut p,
        "completion_min_sessions",
        &form.completion_min_sessions,
    );
    let per_school_cap_until =
        date_time(&mut p, "per_school_cap_until", &form.per_school_cap_until);
    let booking_opens = date_time(&mut p, "booking_opens", &form.booking_opens);
    let booking_closes = date_time(&mut p, "booking_closes", &form.booking_closes);
    let cancellation_deadline =
        date_time(&mut p, "cancellation_deadline", &form.cancellation_deadline);
    let mut sessions = Vec::new();
    for (i, s) in form.sessions.iter().enumerate() {
        let field = |name: &str| format!("sessions[{i}].{name}");
        let day = match s.date.trim() {
            "" => {
                problem(
                    &mut p,
                    field("date"),
                    "must not be empty: enter a date such as 2027-01-14",
                );
                None
            }
            d => match NaiveDate::parse_from_str(d, "%Y-%m-%d") {
                Ok(d) => Some(d),
                Err(_) => {
                    problem(&mut p, field("date"), "must be a date such as 2027-01-14");
                    None
                }
            },
        };
        // A session that runs past midnight ends on a later day; empty is the same day.
        let end_day = match s.end_date.trim() {
            "" => day,
            d => match NaiveDate::parse_from_str(d, "%Y-%m-%d") {
                Ok(d) => Some(d),
                Err(_) => {
                    problem(
                        &mut p,
                        field("end_date"),
                        "must be a date such as 2027-01-15, or empty when it ends the same day",
                    );
                    None
                }
            },
        };
        let start = clock(&mut p, &field("start"), &s.start);
        let end = clock(&mut p, &field("end"), &s.end);
        let (Some(day), Some(end_day), Some(start), Some(end)) = (day, end_day, start, end) else {
            continue;
        };
        let at = |d: NaiveDate, t: NaiveTime, name: &str, p: &mut Problems| {
            time::london_to_utc(d.and_time(t)).map_err(|m| problem(p, field(name), m))
        };
        let (Ok(start), Ok(end)) = (
            at(day, start, "start", &mut p),
            at(end_day, end, "end", &mut p),
        ) else {
            continue;
        };
        let has_venue = [&s.venue_name, &s.venue_address, &s.venue_postcode]
            .iter()
            .any(|v| !v.trim().is_empty());
        sessions.push(SessionEdit {
            id: Some(s.id.trim().to_string()).filter(|id| !id.is_empty()),
            plan: SessionPlan {
                start,
                end,
                venue: has_venue.then(|| Venue {
                    name: s.venue_name.clone(),
                    address: s.venue_address.clone(),
                    postcode: s.venue_postcode.clone(),
                }),
                online_url: Some(s.online_url.clone()),
                note: Some(s.note.clone()),
            },
        });
    }
    if !p.is_empty() {
        return Err(p);
    }
    let plan = CoursePlan {
        title: form.title.trim().to_string(),
        summary: form.summary.clone(),
        format: form.format.clone(),
        capacity,
        per_school_cap,
        per_school_cap_until,
        price_pence,
        booking_opens,
        booking_closes,
        cancellation_deadline,
        requires_approval: form.requires_approval,
        completion_min_sessions,
        phases: form.phases.clone(),
        sessions: sessions.iter().map(|s| s.plan.clone()).collect(),
    };
    let links = CourseLinks {
        provider_id: form.provider_id.trim().to_string(),
        cluster_id: Some(form.cluster_id.trim().to_string()).filter(|c| !c.is_empty()),
        lead_ids: form.lead_ids.clone(),
        priority_ids: form.priority_ids.clone(),
        staff_group_ids: form.staff_group_ids.clone(),
    };
    Ok((plan, links, sessions))
}

/// A time typed to the minute stands for a stored time with seconds in the same minute, so
/// saving a form nobody changed changes nothing (and emails nobody).
pub(super) fn same_minute(typed: NaiveDateTime, stored: NaiveDateTime) -> bool {
    let minute = |t: NaiveDateTime| t.with_second(0).and_then(|t| t.with_nanosecond(0));
    minute(typed) == minute(stored)
}

fn keep_time(typed: Option<NaiveDateTime>, stored: Option<NaiveDateTime>) -> Option<NaiveDateTime> {
    match (typed, stored) {
        (Some(t), Some(s)) if same_minute(t, s) => Some(s),
        _ => typed,
    }
}

/// The changes the edit form makes to a course: only the fields that differ, so the audit
/// entry names what changed.
pub(super) fn changes(course: &Course, plan: &CoursePlan, links: &CourseLinks) -> CoursePatch {
    fn differs<T: PartialEq + Clone>(new: &T, old: &T) -> Option<T> {
        (new != old).then(|| new.clone())
    }
    let sorted = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort();
        v
    };
    let ids = |v: &[crate::store::courses::Tag]| v.iter().map(|t| t.id.clone()).collect::<Vec<_>>();
    let lead_ids: Vec<String> = course.leads.iter().map(|l| l.id.clone()).collect();
    let time = |typed, stored| differs(&keep_time(typed, stored), &stored);
    CoursePatch {
        title: differs(&plan.title, &course.title),
        summary: differs(&plan.summary, &course.summary),
        provider_id: differs(&links.provider_id, &course.provider_id),
        cluster_id: differs(
            &links.cluster_id,
            &course.cluster.as_ref().map(|c| c.id.clone()),
        ),
        lead_ids: (links.lead_ids != lead_ids).then(|| links.lead_ids.clone()),
        priority_ids: (sorted(&links.priority_ids) != sorted(&ids(&course.priorities)))
            .then(|| links.priority_ids.clone()),
        staff_group_ids: (sorted(&links.staff_group_ids) != sorted(&ids(&course.staff_groups)))
            .then(|| links.staff_group_ids.clone()),
        phases: (sorted(&plan.phases) != sorted(&course.phases)).then(|| plan.phases.clone()),
        format: differs(&plan.format, &course.format),
        capacity: differs(&plan.capacity, &course.capacity),
        per_school_cap: differs(&plan.per_school_cap, &course.per_school_cap),
        per_school_cap_until: time(plan.per_school_cap_until, course.per_school_cap_until),
        price_pence: differs(&plan.price_pence, &course.price_pence),
        booking_opens: time(plan.booking_opens, course.booking_opens),
        booking_closes: time(plan.booking_closes, course.booking_closes),
        cancellation_deadline: time(plan.cancellation_deadline, course.cancellation_deadline),
        requires_approval: differs(&plan.requires_approval, &course.requires_approval),
        completion_min_sessions: differs(
            &plan.completion_min_sessions,
            &course.completion_min_sessions,
        ),
    }
}

/// Sessions typed to the minute keep their stored seconds (see [`same_minute`]).
pub(super) fn keep_session_times(course: &Course, sessions: &mut [SessionEdit]) {
    for s in sessions.iter_mut() {
        let Some(stored) =
            s.id.as_deref()
                .and_then(|id| course.sessions.iter().find(|c| c.id == id))
        else {
            continue;
        };
        if same_minute(s.plan.start, stored.start) {
            s.plan.start = stored.start;
        }
        if same_minute(s.plan.end, stored.end) {
            s.plan.end = stored.end;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_reads_repeated_fields_sessions_and_the_button() {
        let body = "title=Phonics&lead_ids=a&lead_ids=b&lead_ids=a&sessions%5B1%5D.date=2027-01-21\
                    &sessions%5B0%5D.date=2027-01-14&sessions%5B0%5D.venue.name=Hub\
                    &action=remove-1";
        let (form, intent) = read_form(body.as_bytes());
        assert_eq!(form.title, "Phonics");
        assert_eq!(form.lead_ids, ["a", "b"]);
        assert_eq!(form.sessions.len(), 2);
        assert_eq!(form.sessions[0].date, "2027-01-14");
        assert_eq!(form.sessions[0].venue_name, "Hub");
        assert_eq!(form.sessions[1].date, "2027-01-21");
        assert_eq!(intent, Intent::RemoveSession(1));
    }

    #[test]
    fn sessions_are_read_in_london_time() {
        let mut form = CourseForm::blank();
        form.capacity = "20".into();
        form.sessions[0] = SessionForm {
            date: "2027-06-14".into(),
            start: "09:00".into(),
            end: "12:30".into(),
            venue_name: "Hub".into(),
            ..SessionForm::default()
        };
        let (plan, _, sessions) = parse(&form).unwrap();
        assert_eq!(plan.capacity, 20);
        // British Summer Time: 09:00 in London is 08:00 UTC.
        assert_eq!(sessions[0].plan.start.to_string(), "2027-06-14 08:00:00");
        assert_eq!(sessions[0].plan.end.to_string(), "2027-06-14 11:30:00");
        assert_eq!(sessions[0].id, None);
    }

    #[test]
    fn a_session_may_end_after_midnight_on_the_day_given() {
        let mut form = CourseForm::blank();
        form.capacity = "20".into();
        form.sessions[0] = SessionForm {
            date: "2027-01-14".into(),
            start: "22:00".into(),
            end: "01:30".into(),
            end_date: "2027-01-15".into(),
            venue_name: "Observatory".into(),
            ..SessionForm::default()
        };
        let (_, _, sessions) = parse(&form).unwrap();
        // Greenwich Mean Time: London time is UTC.
        assert_eq!(sessions[0].plan.start.to_string(), "2027-01-14 22:00:00");
        assert_eq!(sessions[0].plan.end.to_string(), "2027-01-15 01:30:00");
        form.sessions[0].end_date = "tomorrow".into();
        let p = parse(&form).unwrap_err();
        assert!(p.contains_key("sessions[0].end_date"), "{p:?}");
    }

    #[test]
    fn unreadable_dates_and_numbers_are_named_by_field() {
        let mut form = CourseForm::blank();
        form.capacity = "twenty".into();
        form.booking_opens = "next week".into();
        form.sessions[0].date = "14/01/2027".into();
        form.sessions[0].start = "9am".into();
        let p = parse(&form).unwrap_err();
        let fields: Vec<&str> = p.keys().map(String::as_str).collect();
        assert_eq!(
            fields,
            [
                "booking_opens",
                "capacity",
                "sessions[0].date",
                "sessions[0].end",
                "sessions[0].start"
            ]
        );
    }
}
