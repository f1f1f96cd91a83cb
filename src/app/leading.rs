//! What a course lead needs from their list of courses: today's sessions first, then the
//! courses to come by their next session, the courses held folded away; each session with how
//! many are booked and whether its register has been taken.

use chrono::NaiveDateTime;

use crate::app::state::AppState;
use crate::domain::caller::Caller;
use crate::domain::time;
use crate::error::AppResult;
use crate::store::courses::{CalendarCourse, Session};

/// One session of a led course, as the lead's list shows it.
#[derive(Clone, Debug)]
pub struct LedSession {
    /// The session.
    pub session: Session,
    /// The course's title.
    pub course_title: String,
    /// It falls on today's date in Europe/London.
    pub today: bool,
    /// It has ended.
    pub held: bool,
    /// Register entries made for it (0: the register has not been taken).
    pub marked: i64,
    /// Confirmed bookings on the course.
    pub booked: i64,
}

/// A course the caller leads, with its sessions.
#[derive(Clone, Debug)]
pub struct LedCourse {
    /// The course's id.
    pub id: String,
    /// Title.
    pub title: String,
    /// `draft`, `published` or `cancelled`.
    pub status: String,
    /// Confirmed bookings.
    pub booked: i64,
    /// Its sessions, in order.
    pub sessions: Vec<LedSession>,
}

/// The courses a person leads, as of `now`.
#[derive(Clone, Debug, Default)]
pub struct CoursesLed {
    /// Sessions on today's date (Europe/London), by start time, across courses.
    pub today: Vec<LedSession>,
    /// Courses with a session still to end, by their next session's start.
    pub coming: Vec<LedCourse>,
    /// Courses whose sessions have all ended, the most recent first.
    pub held: Vec<LedCourse>,
}

/// The courses the caller leads, as of `now` (any signed-in person may ask; someone who leads
/// nothing gets empty lists).
pub async fn courses_led(
    state: &AppState,
    caller: &Caller,
    now: NaiveDateTime,
) -> AppResult<CoursesLed> {
    let person_id = caller.person_id.clone();
    let (courses, booked, marked) = state
        .db(move |conn| {
            crate::db::read_tx(conn, |conn| {
                let ids = crate::store::led_courses::led_course_ids(conn, &person_id)?;
                let courses = crate::store::courses::calendar_courses(conn, &ids)?;
                let booked = crate::store::led_courses::confirmed_counts(conn, &ids)?;
                let marked = crate::store::led_courses::marked_counts(conn, &ids)?;
                Ok((courses, booked, marked))
            })
        })
        .await?;
    Ok(arrange(courses, &booked, &marked, now))
}

/// Sorts the courses into today's sessions, courses to come and courses held.
fn arrange(
    courses: Vec<CalendarCourse>,
    booked: &std::collections::HashMap<String, i64>,
    marked: &std::collections::HashMap<String, i64>,
    now: NaiveDateTime,
) -> CoursesLed {
    let today = time::london_local(now).date();
    let mut out = CoursesLed::default();
    for c in courses {
        let booked = booked.get(&c.id).copied().unwrap_or(0);
        let sessions: Vec<LedSession> = c
            .sessions
            .into_iter()
            .map(|s| LedSession {
                today: time::london_local(s.start).date() == today,
                held: s.end <= now,
                marked: marked.get(&s.id).copied().unwrap_or(0),
                booked,
                course_title: c.title.clone(),
                session: s,
            })
            .collect();
        out.today
            .extend(sessions.iter().filter(|s| s.today).cloned());
        let course = LedCourse {
            id: c.id,
            title: c.title,
            status: c.status,
            booked,
            sessions,
        };
        if course.sessions.iter().any(|s| !s.held) {
            out.coming.push(course);
        } else {
            out.held.push(course);
        }
    }
    out.today
        .sort_by_key(|s| (s.session.start, s.session.id.clone()));
    let next = |c: &LedCourse| {
        c.sessions
            .iter()
            .find(|s| !s.held)
            .map(|s| (s.session.start, s.session.id.clone()))
    };
    out.coming.sort_by_cached_key(|c| (next(c), c.id.clone()));
    let last = |c: &LedCourse| c.sessions.last().map(|s| s.session.start);
    // No sessions at all counts as held long ago: it sorts last.
    out.held
        .sort_by_cached_key(|c| (std::cmp::Reverse(last(c)), c.id.clone()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .and_then(|d| d.and_hms_opt(h, min, 0))
            .unwrap()
    }

    fn course(id: &str, starts: &[NaiveDateTime]) -> CalendarCourse {
        CalendarCourse {
            id: id.into(),
            title: format!("Course {id}"),
            summary: String::new(),
            status: "published".into(),
            format: "in_person".into(),
            revision: 1,
            cancel_reason: None,
            created_at: starts[0],
            updated_at: starts[0],
            sessions: starts
                .iter()
                .enumerate()
                .map(|(i, &start)| Session {
                    id: format!("{id}-{i}"),
                    course_id: id.into(),
                    position: i as i32 + 1,
                    start,
                    end: start + chrono::Duration::hours(2),
                    local_start: String::new(),
                    local_end: String::new(),
                    display: String::new(),
                    venue: None,
                    online_url: None,
                    note: None,
                })
                .collect(),
        }
    }

    fn ids(list: &[LedCourse]) -> Vec<&str> {
        list.iter().map(|c| c.id.as_str()).collect()
    }

    #[test]
    fn today_first_then_by_next_session_and_the_held_folded_away() {
        // 23:30 UTC on 31 March 2027 is 00:30 on 1 April in London (summer time): "today"
        // is London's date, so a session at 08:00 UTC on 1 April is today's, and one at
        // 22:00 UTC on 31 March (23:00 London, 31 March) is yesterday's, held.
        let now = at(2027, 3, 31, 23, 30);
        let courses = vec![
            course("later", &[at(2027, 5, 1, 9, 0)]),
            course("today", &[at(2027, 4, 1, 8, 0), at(2027, 4, 8, 8, 0)]),
            course("yesterday", &[at(2027, 3, 31, 20, 0)]),
            course("older", &[at(2027, 1, 4, 9, 0)]),
            course("soon", &[at(2027, 3, 1, 9, 0), at(2027, 4, 2, 9, 0)]),
        ];
        let booked = [("today".to_string(), 12)].into_iter().collect();
        let marked = [("today-0".to_string(), 3)].into_iter().collect();
        let led = arrange(courses, &booked, &marked, now);
        assert_eq!(
            led.today
                .iter()
                .map(|s| s.session.id.as_str())
                .collect::<Vec<_>>(),
            ["today-0"]
        );
        assert_eq!((led.today[0].booked, led.today[0].marked), (12, 3));
        assert_eq!(ids(&led.coming), ["today", "soon", "later"]);
        assert_eq!(ids(&led.held), ["yesterday", "older"]);
        assert!(led.coming[1].sessions[0].held && !led.coming[1].sessions[1].held);
    }

    #[test]
    fn a_session_running_now_is_not_held() {
        let now = at(2026, 12, 31, 23, 0);
        let led = arrange(
            vec![course("now", &[at(2026, 12, 31, 22, 0)])],
            &Default::default(),
            &Default::default(),
            now,
        );
        assert_eq!(ids(&led.coming), ["now"]);
        assert!(led.today[0].today && !led.today[0].held && led.today[0].marked == 0);
    }
}
