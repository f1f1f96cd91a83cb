//! What a report asks: its window, grouping and scope, and the London dates the window is
//! read in.

use chrono::{Datelike, NaiveDate, NaiveDateTime, TimeZone};
use serde::Serialize;

use crate::domain::term::Term;
use crate::error::FieldErrors;

/// The longest window a report may cover, in days (ten years), so a typo in a year cannot ask
/// the database for a century.
pub const MAX_WINDOW_DAYS: i64 = 3653;

/// The key of the group of bookings whose school, cluster, staff group or priority is not
/// known (a person without a school, a course without priorities).
pub const NONE_KEY: &str = "none";

/// What a report is grouped by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// The school the person belonged to when they booked (snapshotted on the booking).
    School,
    /// The cluster of that school.
    Cluster,
    /// The staff group the person booked as (snapshotted on the booking).
    StaffGroup,
    /// The course's strategic priorities: a course with two priorities counts in both.
    Priority,
    /// The course.
    Course,
    /// The school term of the course's first session (London date).
    Term,
}

impl GroupBy {
    /// Every grouping, in the order the API documents them.
    pub const ALL: [GroupBy; 6] = [
        GroupBy::School,
        GroupBy::Cluster,
        GroupBy::StaffGroup,
        GroupBy::Priority,
        GroupBy::Course,
        GroupBy::Term,
    ];

    /// Reads `school`, `cluster`, `staff_group`, `priority`, `course` or `term`.
    pub fn parse(s: &str) -> Option<GroupBy> {
        GroupBy::ALL.into_iter().find(|g| g.as_str() == s)
    }

    /// The name used in the query string and the report.
    pub fn as_str(&self) -> &'static str {
        match self {
            GroupBy::School => "school",
            GroupBy::Cluster => "cluster",
            GroupBy::StaffGroup => "staff_group",
            GroupBy::Priority => "priority",
            GroupBy::Course => "course",
            GroupBy::Term => "term",
        }
    }

    /// Whether the grouping is a property of the course (so `places` means something for it)
    /// rather than of the person who booked.
    pub fn is_course_level(&self) -> bool {
        matches!(self, GroupBy::Priority | GroupBy::Course | GroupBy::Term)
    }

    /// The label of the group of unknowns ([`NONE_KEY`]).
    pub fn none_label(&self) -> &'static str {
        match self {
            GroupBy::School => "No school",
            GroupBy::Cluster => "No cluster",
            GroupBy::StaffGroup => "No staff group",
            GroupBy::Priority => "No priority",
            GroupBy::Course => "No course",
            GroupBy::Term => "No term",
        }
    }
}

/// Whose figures a report shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReportScope {
    /// The whole alliance (cpd_group, admin).
    All,
    /// One school's bookings only, next to the alliance average (a school lead).
    School(String),
}

/// A checked report request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportQuery {
    /// First day of the window (London calendar date).
    pub from: NaiveDate,
    /// Last day of the window, included.
    pub to: NaiveDate,
    /// The grouping.
    pub group_by: GroupBy,
    /// An optional second level: each group is broken down by it into `subgroups`.
    pub then_by: Option<GroupBy>,
    /// "Sessions already held" are those that started before this moment (naive UTC).
    pub now: NaiveDateTime,
    /// Figures drawn from evaluation answers are suppressed for fewer respondents than this
    /// (the `EVALUATION_MIN_RESPONSES` setting).
    pub min_responses: u32,
}

impl ReportQuery {
    /// Checks the raw query values. Absent `from`/`to` mean the academic year containing
    /// `now`; an absent `group_by` means `school`. Errors name the field.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        group_by: Option<&str>,
        now: NaiveDateTime,
        min_responses: u32,
    ) -> Result<ReportQuery, FieldErrors> {
        let mut errors = FieldErrors::new();
        let mut error = |field: &str, message: &str| {
            errors
                .entry(field.to_string())
                .or_default()
                .push(message.to_string());
        };
        let today = london_date(now);
        let year = Term::of_date(today).year_start;
        let date = |s: Option<&str>, default: NaiveDate| match s.map(str::trim) {
            None | Some("") => Ok(default),
            Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| ()),
        };
        let from = date(from, ymd(year, 9, 1));
        let to = date(to, ymd(year + 1, 8, 31));
        if from.is_err() {
            error("from", "must be a date such as 2026-09-01");
        }
        if to.is_err() {
            error("to", "must be a date such as 2027-08-31");
        }
        let (from, to) = (from.unwrap_or(today), to.unwrap_or(today));
        if to < from {
            error("to", "must be on or after from");
        } else if (to - from).num_days() > MAX_WINDOW_DAYS {
            error("to", "must be at most ten years after from");
        }
        let raw = group_by.map(str::trim).filter(|s| !s.is_empty());
        let mut levels = Vec::new();
        for part in raw.unwrap_or("school").split(',').map(str::trim) {
            match GroupBy::parse(part) {
                Some(g) => levels.push(g),
                None => {
                    error(
                        "group_by",
                        "must be school, cluster, staff_group, priority, course or term, \
                         or two of them separated by a comma",
                    );
                    break;
                }
            }
        }
        if levels.len() > 2 {
            error("group_by", "must name at most two groupings");
        } else if levels.len() == 2 && levels[0] == levels[1] {
            error("group_by", "must name two different groupings");
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(ReportQuery {
            from,
            to,
            group_by: levels[0],
            then_by: levels.get(1).copied(),
            now,
            min_responses,
        })
    }

    /// The grouping as written in the query, e.g. `cluster,staff_group`.
    pub fn group_by_label(&self) -> String {
        match self.then_by {
            Some(t) => format!("{},{}", self.group_by.as_str(), t.as_str()),
            None => self.group_by.as_str().to_string(),
        }
    }

    /// The levels, outermost first.
    pub fn levels(&self) -> Vec<GroupBy> {
        let mut v = vec![self.group_by];
        v.extend(self.then_by);
        v
    }

    /// The window as naive UTC instants `[start, end)`: London midnight at the start of `from`
    /// to London midnight after `to`.
    pub fn window_utc(&self) -> (NaiveDateTime, NaiveDateTime) {
        (
            london_midnight_utc(self.from),
            london_midnight_utc(self.to.succ_opt().unwrap_or(self.to)),
        )
    }

    /// The same window a year earlier (29 February becomes 28 February), for the trend.
    pub fn year_earlier(&self) -> ReportQuery {
        ReportQuery {
            from: year_before(self.from),
            to: year_before(self.to),
            ..self.clone()
        }
    }
}

fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a valid date")
}

/// The same calendar date a year earlier; 29 February becomes 28 February.
pub fn year_before(d: NaiveDate) -> NaiveDate {
    d.with_year(d.year() - 1)
        .or_else(|| NaiveDate::from_ymd_opt(d.year() - 1, d.month(), 28))
        .expect("a date a year earlier exists")
}

/// The London calendar date of a naive UTC instant.
pub fn london_date(t: NaiveDateTime) -> NaiveDate {
    crate::domain::time::to_utc(t)
        .with_timezone(&crate::domain::time::LONDON)
        .date_naive()
}

/// London midnight at the start of `d`, as naive UTC. (The clocks change at 01:00 or 02:00,
/// never at midnight, so midnight always exists once.)
pub fn london_midnight_utc(d: NaiveDate) -> NaiveDateTime {
    let local = d.and_hms_opt(0, 0, 0).expect("midnight exists");
    crate::domain::time::LONDON
        .from_local_datetime(&local)
        .earliest()
        .map(|t| t.naive_utc())
        .unwrap_or(local)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn now() -> NaiveDateTime {
        d(2026, 11, 20).and_hms_opt(12, 0, 0).unwrap()
    }

    #[test]
    fn a_query_defaults_to_this_academic_year_by_school() {
        let q = ReportQuery::parse(None, None, None, now(), 5).unwrap();
        assert_eq!((q.from, q.to), (d(2026, 9, 1), d(2027, 8, 31)));
        assert_eq!(q.levels(), vec![GroupBy::School]);
        let q = ReportQuery::parse(
            Some("2026-01-01"),
            Some("2026-12-31"),
            Some("cluster, staff_group"),
            now(),
            5,
        )
        .unwrap();
        assert_eq!(q.group_by_label(), "cluster,staff_group");
        assert_eq!(q.then_by, Some(GroupBy::StaffGroup));
    }

    #[test]
    fn bad_queries_name_the_field() {
        let err = |f: Option<&str>, t: Option<&str>, g: Option<&str>| {
            ReportQuery::parse(f, t, g, now(), 5)
                .unwrap_err()
                .into_keys()
                .collect::<Vec<_>>()
        };
        assert_eq!(err(Some("2026-02-30"), None, None), ["from"]);
        assert_eq!(err(None, Some("soon"), None), ["to"]);
        assert_eq!(err(Some("2026-09-02"), Some("2026-09-01"), None), ["to"]);
        assert_eq!(err(Some("2010-01-01"), Some("2026-09-01"), None), ["to"]);
        assert_eq!(err(None, None, Some("region")), ["group_by"]);
        assert_eq!(err(None, None, Some("term,term")), ["group_by"]);
        assert_eq!(err(None, None, Some("term,course,school")), ["group_by"]);
    }

    #[test]
    fn the_window_runs_from_london_midnight_to_london_midnight() {
        let q = ReportQuery::parse(Some("2026-06-01"), Some("2026-12-31"), None, now(), 5).unwrap();
        let (lo, hi) = q.window_utc();
        // British Summer Time on 1 June: London midnight is 23:00 UTC the day before.
        assert_eq!(lo, d(2026, 5, 31).and_hms_opt(23, 0, 0).unwrap());
        assert_eq!(hi, d(2027, 1, 1).and_hms_opt(0, 0, 0).unwrap());
        let earlier = q.year_earlier();
        assert_eq!((earlier.from, earlier.to), (d(2025, 6, 1), d(2025, 12, 31)));
        assert_eq!(year_before(d(2028, 2, 29)), d(2027, 2, 28));
    }
}
