//! The engagement and impact reports: what is asked (window, grouping, scope), the additive
//! counts the database returns, and the metrics computed from them exactly as the contract in
//! `DESIGN.md` ("Metrics") defines them.
//!
//! The store aggregates in SQL into [`EngagementCounts`] / [`ImpactCounts`] (plain sums, so
//! groups roll up by addition and totals never count a booking twice); everything here turns
//! those sums into rates and means, with no I/O.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate, NaiveDateTime, TimeZone};
use serde::Serialize;

use crate::domain::suppression::{suppress_group, Cell, Suppressed, Threshold};
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

// ---------------------------------------------------------------------------------------------
// Engagement

/// Additive sums over bookings, as the database returns them for one group. Adding two
/// groups' counts gives the counts of their union (when no booking is in both).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngagementCounts {
    /// Bookings in any status but `declined`.
    pub bookings: i64,
    /// Status `confirmed`.
    pub confirmed: i64,
    /// Status `waitlisted`.
    pub waitlisted: i64,
    /// Status `cancelled`.
    pub cancelled: i64,
    /// Cancelled after the course's cancellation deadline.
    pub late_cancellations: i64,
    /// Confirmed bookings x sessions already held (the attendance rate's denominator).
    pub expected_attendances: i64,
    /// Attendances of confirmed bookings at held sessions marked present, late or left early.
    pub attendances: i64,
    /// Confirmed bookings present, late or left early at every held session (at least one).
    pub completed: i64,
    /// Confirmed bookings marked absent at every held session (at least one).
    pub no_shows: i64,
    /// Evaluation invitations sent (both kinds).
    pub evaluations_sent: i64,
    /// Of those, answered.
    pub evaluations_completed: i64,
    /// Sum of the post-course overall ratings.
    pub satisfaction_sum: i64,
    /// How many post-course responses gave an overall rating.
    pub satisfaction_n: i64,
    /// Follow-up "used in practice" answers of 4 or 5.
    pub impact_positive: i64,
    /// Follow-up responses that answered "used in practice".
    pub impact_n: i64,
    /// Sum of the snapshotted price of the no-show bookings, in pence.
    pub no_show_cost_pence: i64,
    /// Sum of the snapshotted price of the late-cancelled bookings, in pence.
    pub late_cancellation_cost_pence: i64,
}

impl std::ops::AddAssign for EngagementCounts {
    fn add_assign(&mut self, o: Self) {
        self.bookings += o.bookings;
        self.confirmed += o.confirmed;
        self.waitlisted += o.waitlisted;
        self.cancelled += o.cancelled;
        self.late_cancellations += o.late_cancellations;
        self.expected_attendances += o.expected_attendances;
        self.attendances += o.attendances;
        self.completed += o.completed;
        self.no_shows += o.no_shows;
        self.evaluations_sent += o.evaluations_sent;
        self.evaluations_completed += o.evaluations_completed;
        self.satisfaction_sum += o.satisfaction_sum;
        self.satisfaction_n += o.satisfaction_n;
        self.impact_positive += o.impact_positive;
        self.impact_n += o.impact_n;
        self.no_show_cost_pence += o.no_show_cost_pence;
        self.late_cancellation_cost_pence += o.late_cancellation_cost_pence;
    }
}

/// `num / den`, or `None` when `den` is 0.
pub fn ratio(num: i64, den: i64) -> Option<f64> {
    if den == 0 {
        None
    } else {
        Some(num as f64 / den as f64)
    }
}

/// An amount of money: pence and the same amount written for people (`£1,234.50`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Money {
    /// The amount in pence.
    pub pence: i64,
    /// The amount in pounds, e.g. `£1,234.50`.
    pub formatted: String,
}

impl Money {
    /// Wraps an amount in pence.
    pub fn from_pence(pence: i64) -> Money {
        Money {
            pence,
            formatted: format_pence(pence),
        }
    }
}

/// `123450` -> `£1,234.50`; negative amounts get a leading minus.
pub fn format_pence(pence: i64) -> String {
    let sign = if pence < 0 { "-" } else { "" };
    let p = pence.unsigned_abs();
    let pounds = (p / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in pounds.chars().enumerate() {
        if i > 0 && (pounds.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}£{grouped}.{:02}", p % 100)
}

/// The cost of places booked and not used: the snapshotted price of each booking that was a
/// no-show or cancelled late.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Costs {
    /// Price x no-shows.
    pub no_shows: Money,
    /// Price x late cancellations.
    pub late_cancellations: Money,
    /// The two together.
    pub total: Money,
}

/// Whether a figure drawn from evaluation answers may be shown, and if not, why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shown {
    /// Enough respondents.
    Yes,
    /// Fewer respondents than the threshold.
    TooFew,
    /// Enough respondents, but hidden so that a smaller group beside it cannot be worked out
    /// from a total (complementary suppression).
    Complementary,
}

impl Shown {
    /// Whether the figure shows.
    pub fn is_shown(self) -> bool {
        self == Shown::Yes
    }
}

/// Which of a set of sibling groups (with `counts` respondents each) show a figure, given
/// whether their parent shows it: `suppression::suppress_group`, with the reason for each.
pub fn visibility(t: Threshold, parent_shown: bool, counts: &[i64]) -> Vec<Shown> {
    let n: Vec<u64> = counts.iter().map(|&c| c.max(0) as u64).collect();
    suppress_group(t, parent_shown, &n)
        .into_iter()
        .zip(&n)
        .map(|(hidden, &n)| match (hidden, t.allows(n)) {
            (false, _) => Shown::Yes,
            (true, false) => Shown::TooFew,
            (true, true) => Shown::Complementary,
        })
        .collect()
}

/// Whether a figure of a group that has no parent (the totals) shows.
pub fn visibility_alone(t: Threshold, n: i64) -> Shown {
    if t.allows(n.max(0) as u64) {
        Shown::Yes
    } else {
        Shown::TooFew
    }
}

/// A figure from `n` respondents as shown: null when nobody answered, the figure, or the
/// suppression marker `{"suppressed": true, "reason": "..."}` in its place.
pub fn figure<T>(t: Threshold, n: i64, shown: Shown, value: Option<T>) -> Option<Cell<T>> {
    if n <= 0 {
        return None;
    }
    match shown {
        Shown::Yes => value.map(Cell::Shown),
        Shown::TooFew => Some(Cell::Suppressed(t.suppressed())),
        Shown::Complementary => Some(Cell::Suppressed(Suppressed {
            suppressed: true,
            reason: format!(
                "hidden so that a group of fewer than {} responses cannot be worked out",
                t.get()
            ),
        })),
    }
}

/// What the suppressible figures of one engagement group show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngagementShown {
    /// Satisfaction.
    pub satisfaction: Shown,
    /// Impact rate.
    pub impact_rate: Shown,
}

impl EngagementShown {
    /// Everything shown (before suppression is worked out).
    pub const ALL: EngagementShown = EngagementShown {
        satisfaction: Shown::Yes,
        impact_rate: Shown::Yes,
    };
}

/// Every engagement metric of one group (or of the totals), as the contract defines them.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EngagementMetrics {
    /// Sum of the capacity of the courses in the window; null for groupings by person
    /// (school, cluster, staff group) and for a school's own view.
    pub places: Option<i64>,
    /// Bookings made, any status but declined.
    pub bookings: i64,
    /// Bookings holding a place (status confirmed).
    pub confirmed: i64,
    /// Still waitlisted.
    pub waitlisted: i64,
    /// Cancelled.
    pub cancelled: i64,
    /// Of those, cancelled after the cancellation deadline.
    pub late_cancellations: i64,
    /// confirmed / places.
    pub fill_rate: Option<f64>,
    /// Attendances (present, late, left early) / (confirmed bookings x sessions already held).
    pub attendance_rate: Option<f64>,
    /// Confirmed bookings present, late or left early at every held session.
    pub completed: i64,
    /// Confirmed bookings absent at every held session (apologies are not no-shows).
    pub no_shows: i64,
    /// Evaluation invitations sent.
    pub evaluations_sent: i64,
    /// Of those, answered.
    pub evaluations_completed: i64,
    /// evaluations_completed / evaluations_sent.
    pub response_rate: Option<f64>,
    /// Mean post-course overall rating (1-5); null when nobody answered; the suppression
    /// marker `{"suppressed": true, "reason": "..."}` for too few respondents.
    #[schema(value_type = Option<Object>)]
    pub satisfaction: Option<Cell<f64>>,
    /// How many rated the course overall (the suppression test counts these).
    pub satisfaction_respondents: i64,
    /// Share of follow-up "used in practice" answers of 4 or 5; null when nobody answered;
    /// the suppression marker for too few respondents.
    #[schema(value_type = Option<Object>)]
    pub impact_rate: Option<Cell<f64>>,
    /// How many answered "used in practice".
    pub impact_respondents: i64,
    /// Cost of no-shows and late cancellations.
    pub cost: Costs,
}

impl EngagementCounts {
    /// The metrics, with satisfaction and impact rate shown or suppressed as `shown` says.
    /// `places` is `None` where places mean nothing.
    pub fn metrics(
        &self,
        places: Option<i64>,
        t: Threshold,
        shown: EngagementShown,
    ) -> EngagementMetrics {
        EngagementMetrics {
            places,
            bookings: self.bookings,
            confirmed: self.confirmed,
            waitlisted: self.waitlisted,
            cancelled: self.cancelled,
            late_cancellations: self.late_cancellations,
            fill_rate: places.and_then(|p| ratio(self.confirmed, p)),
            attendance_rate: ratio(self.attendances, self.expected_attendances),
            completed: self.completed,
            no_shows: self.no_shows,
            evaluations_sent: self.evaluations_sent,
            evaluations_completed: self.evaluations_completed,
            response_rate: ratio(self.evaluations_completed, self.evaluations_sent),
            satisfaction: figure(
                t,
                self.satisfaction_n,
                shown.satisfaction,
                ratio(self.satisfaction_sum, self.satisfaction_n),
            ),
            satisfaction_respondents: self.satisfaction_n,
            impact_rate: figure(
                t,
                self.impact_n,
                shown.impact_rate,
                ratio(self.impact_positive, self.impact_n),
            ),
            impact_respondents: self.impact_n,
            cost: Costs {
                no_shows: Money::from_pence(self.no_show_cost_pence),
                late_cancellations: Money::from_pence(self.late_cancellation_cost_pence),
                total: Money::from_pence(
                    self.no_show_cost_pence + self.late_cancellation_cost_pence,
                ),
            },
        }
    }
}

/// One group of an engagement report.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EngagementGroup {
    /// A stable key: the school, cluster, staff group, priority or course id, the term key
    /// (`2026-27-autumn`), or `none` for bookings without one.
    pub key: String,
    /// A name for people.
    pub label: String,
    /// The metrics.
    #[serde(flatten)]
    pub metrics: EngagementMetrics,
    /// The same metrics for the same group a year earlier (null when it had no figures then;
    /// for terms, the same term a year earlier).
    pub previous: Option<Box<EngagementMetrics>>,
    /// With two levels of grouping, this group broken down by the second.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(no_recursion)]
    pub subgroups: Option<Vec<EngagementGroup>>,
}

/// A reference to a school or cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct NamedRef {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
}

/// A school with no bookings in the window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ColdSpot {
    /// The school.
    pub school: NamedRef,
    /// Its cluster, if it has one.
    pub cluster: Option<NamedRef>,
    /// When anyone from the school last booked anything (any status but declined); null if
    /// never.
    #[serde(with = "crate::domain::time::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_booked_at: Option<NaiveDateTime>,
}

/// The same window a year earlier.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EngagementTrend {
    /// First day of the earlier window.
    #[schema(value_type = String, format = Date)]
    pub from: NaiveDate,
    /// Last day of the earlier window.
    #[schema(value_type = String, format = Date)]
    pub to: NaiveDate,
    /// Its totals.
    pub totals: EngagementMetrics,
}

/// The alliance average a school lead sees next to their own school's figures: counts are
/// per school (the alliance total divided by the number of open schools), rates and means are
/// the alliance-wide figures. Never another school's own figures.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AllianceAverage {
    /// How many open schools the counts are averaged over.
    pub schools: i64,
    /// Bookings per school.
    pub bookings: Option<f64>,
    /// Confirmed per school.
    pub confirmed: Option<f64>,
    /// Waitlisted per school.
    pub waitlisted: Option<f64>,
    /// Cancelled per school.
    pub cancelled: Option<f64>,
    /// Late cancellations per school.
    pub late_cancellations: Option<f64>,
    /// Alliance fill rate.
    pub fill_rate: Option<f64>,
    /// Alliance attendance rate.
    pub attendance_rate: Option<f64>,
    /// Completed per school.
    pub completed: Option<f64>,
    /// No-shows per school.
    pub no_shows: Option<f64>,
    /// Evaluations sent per school.
    pub evaluations_sent: Option<f64>,
    /// Evaluations completed per school.
    pub evaluations_completed: Option<f64>,
    /// Alliance response rate.
    pub response_rate: Option<f64>,
    /// Alliance satisfaction (suppressed like any other figure).
    #[schema(value_type = Option<Object>)]
    pub satisfaction: Option<Cell<f64>>,
    /// Alliance impact rate (suppressed like any other figure).
    #[schema(value_type = Option<Object>)]
    pub impact_rate: Option<Cell<f64>>,
    /// Cost of no-shows and late cancellations per school, in pence (rounded).
    pub cost_pence: Option<i64>,
}

impl AllianceAverage {
    /// The average over `schools` open schools of the alliance totals `t`.
    pub fn of(t: &EngagementMetrics, schools: i64) -> AllianceAverage {
        let per = |n: i64| {
            if schools == 0 {
                None
            } else {
                Some(n as f64 / schools as f64)
            }
        };
        AllianceAverage {
            schools,
            bookings: per(t.bookings),
            confirmed: per(t.confirmed),
            waitlisted: per(t.waitlisted),
            cancelled: per(t.cancelled),
            late_cancellations: per(t.late_cancellations),
            fill_rate: t.fill_rate,
            attendance_rate: t.attendance_rate,
            completed: per(t.completed),
            no_shows: per(t.no_shows),
            evaluations_sent: per(t.evaluations_sent),
            evaluations_completed: per(t.evaluations_completed),
            response_rate: t.response_rate,
            satisfaction: t.satisfaction.clone(),
            impact_rate: t.impact_rate.clone(),
            cost_pence: per(t.cost.total.pence).map(|v| v.round() as i64),
        }
    }
}

/// `GET /api/v1/reports/engagement`.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EngagementReport {
    /// First day of the window.
    #[schema(value_type = String, format = Date)]
    pub from: NaiveDate,
    /// Last day of the window (included).
    #[schema(value_type = String, format = Date)]
    pub to: NaiveDate,
    /// The grouping, e.g. `school` or `cluster,staff_group`.
    pub group_by: String,
    /// `alliance`, or `school` for a school lead's own view.
    pub scope: String,
    /// The school, in a school's own view.
    pub school: Option<NamedRef>,
    /// Figures from fewer respondents than this are suppressed.
    pub min_responses: u32,
    /// The groups, in label order (terms in date order).
    pub groups: Vec<EngagementGroup>,
    /// The whole window (each booking once, whatever the grouping).
    pub totals: EngagementMetrics,
    /// The same window a year earlier.
    pub previous: EngagementTrend,
    /// Grouped by school, for the alliance: open schools with no bookings in the window.
    /// Null otherwise.
    pub cold_spots: Option<Vec<ColdSpot>>,
    /// In a school's own view: the alliance average per metric. Null otherwise.
    pub alliance_average: Option<AllianceAverage>,
}

// ---------------------------------------------------------------------------------------------
// Impact

/// Additive sums over evaluations for one group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImpactCounts {
    /// Bookings with any evaluation invitation or response: a group is listed only when it
    /// has one.
    pub evaluated: i64,
    /// Post-course invitations sent.
    pub post_sent: i64,
    /// Post-course invitations answered.
    pub post_completed: i64,
    /// Follow-up invitations sent.
    pub follow_sent: i64,
    /// Follow-up invitations answered.
    pub follow_completed: i64,
    /// Sum of post-course overall ratings.
    pub satisfaction_sum: i64,
    /// Post-course responses with an overall rating.
    pub satisfaction_n: i64,
    /// Sum over retrospective answers of (after - before).
    pub confidence_shift_sum: i64,
    /// Retrospective answers with both ratings.
    pub confidence_pairs: i64,
    /// Responses with at least one retrospective pair.
    pub confidence_n: i64,
    /// Follow-up "used in practice" answers of 4 or 5.
    pub impact_positive: i64,
    /// Follow-up responses that answered "used in practice".
    pub impact_n: i64,
    /// Answers per Guskey level (index 0 is level 1).
    pub guskey_answers: [i64; 5],
    /// Responses with at least one answer at each level.
    pub guskey_respondents: [i64; 5],
}

impl std::ops::AddAssign for ImpactCounts {
    fn add_assign(&mut self, o: Self) {
        self.evaluated += o.evaluated;
        self.post_sent += o.post_sent;
        self.post_completed += o.post_completed;
        self.follow_sent += o.follow_sent;
        self.follow_completed += o.follow_completed;
        self.satisfaction_sum += o.satisfaction_sum;
        self.satisfaction_n += o.satisfaction_n;
        self.confidence_shift_sum += o.confidence_shift_sum;
        self.confidence_pairs += o.confidence_pairs;
        self.confidence_n += o.confidence_n;
        self.impact_positive += o.impact_positive;
        self.impact_n += o.impact_n;
        for i in 0..5 {
            self.guskey_answers[i] += o.guskey_answers[i];
            self.guskey_respondents[i] += o.guskey_respondents[i];
        }
    }
}

/// Invitations of one kind.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ResponseCounts {
    /// Invitations sent.
    pub sent: i64,
    /// Of those, answered.
    pub completed: i64,
    /// completed / sent.
    pub response_rate: Option<f64>,
}

/// Answers at one of Guskey's levels.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct GuskeyCount {
    /// 1 reactions, 2 learning, 3 organisational support, 4 use of new knowledge and skills,
    /// 5 pupil outcomes.
    pub level: u8,
    /// How many answers, or the suppression marker.
    #[schema(value_type = Object)]
    pub answers: Cell<i64>,
    /// How many responses gave them.
    pub respondents: i64,
}

/// Every impact metric of one group.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ImpactMetrics {
    /// Post-course evaluations.
    pub post_course: ResponseCounts,
    /// Impact follow-ups.
    pub follow_up: ResponseCounts,
    /// Mean post-course overall rating (1-5), or the suppression marker.
    #[schema(value_type = Option<Object>)]
    pub satisfaction: Option<Cell<f64>>,
    /// How many rated the course overall.
    pub satisfaction_respondents: i64,
    /// Mean of (after - before) over the retrospective confidence answers, or the
    /// suppression marker.
    #[schema(value_type = Option<Object>)]
    pub confidence_shift: Option<Cell<f64>>,
    /// How many responses gave a retrospective rating.
    pub confidence_respondents: i64,
    /// Share of "used in practice" answers of 4 or 5, or the suppression marker.
    #[schema(value_type = Option<Object>)]
    pub impact_rate: Option<Cell<f64>>,
    /// How many answered "used in practice".
    pub impact_respondents: i64,
    /// Answers per Guskey level, 1 to 5.
    pub guskey_levels: Vec<GuskeyCount>,
}

/// What the suppressible figures of one impact group show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImpactShown {
    /// Satisfaction.
    pub satisfaction: Shown,
    /// Confidence shift.
    pub confidence_shift: Shown,
    /// Impact rate.
    pub impact_rate: Shown,
    /// Answers at each Guskey level.
    pub guskey: [Shown; 5],
}

impl ImpactCounts {
    /// Respondents behind each suppressible figure, in the order of [`ImpactShown::from`]:
    /// satisfaction, confidence shift, impact rate, Guskey levels 1 to 5.
    pub fn respondents(&self) -> [i64; 8] {
        let g = self.guskey_respondents;
        [
            self.satisfaction_n,
            self.confidence_n,
            self.impact_n,
            g[0],
            g[1],
            g[2],
            g[3],
            g[4],
        ]
    }
}

impl ImpactShown {
    /// From one [`Shown`] per figure, in the order of [`ImpactCounts::respondents`].
    pub fn from(s: [Shown; 8]) -> ImpactShown {
        ImpactShown {
            satisfaction: s[0],
            confidence_shift: s[1],
            impact_rate: s[2],
            guskey: [s[3], s[4], s[5], s[6], s[7]],
        }
    }

    /// As a list, in the same order.
    pub fn to_array(self) -> [Shown; 8] {
        let g = self.guskey;
        [
            self.satisfaction,
            self.confidence_shift,
            self.impact_rate,
            g[0],
            g[1],
            g[2],
            g[3],
            g[4],
        ]
    }
}

impl ImpactCounts {
    /// The metrics, with each figure drawn from answers shown or suppressed as `shown` says.
    pub fn metrics(&self, t: Threshold, shown: ImpactShown) -> ImpactMetrics {
        ImpactMetrics {
            post_course: ResponseCounts {
                sent: self.post_sent,
                completed: self.post_completed,
                response_rate: ratio(self.post_completed, self.post_sent),
            },
            follow_up: ResponseCounts {
                sent: self.follow_sent,
                completed: self.follow_completed,
                response_rate: ratio(self.follow_completed, self.follow_sent),
            },
            satisfaction: figure(
                t,
                self.satisfaction_n,
                shown.satisfaction,
                ratio(self.satisfaction_sum, self.satisfaction_n),
            ),
            satisfaction_respondents: self.satisfaction_n,
            confidence_shift: figure(
                t,
                self.confidence_n,
                shown.confidence_shift,
                ratio(self.confidence_shift_sum, self.confidence_pairs),
            ),
            confidence_respondents: self.confidence_n,
            impact_rate: figure(
                t,
                self.impact_n,
                shown.impact_rate,
                ratio(self.impact_positive, self.impact_n),
            ),
            impact_respondents: self.impact_n,
            guskey_levels: (0..5)
                .map(|i| GuskeyCount {
                    level: i as u8 + 1,
                    // Nobody answering at a level gives nobody away.
                    answers: figure(
                        t,
                        self.guskey_respondents[i],
                        shown.guskey[i],
                        Some(self.guskey_answers[i]),
                    )
                    .unwrap_or(Cell::Shown(0)),
                    respondents: self.guskey_respondents[i],
                })
                .collect(),
        }
    }
}

/// One group of an impact report.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ImpactGroup {
    /// A stable key, as in the engagement report.
    pub key: String,
    /// A name for people.
    pub label: String,
    /// The metrics.
    #[serde(flatten)]
    pub metrics: ImpactMetrics,
    /// With two levels of grouping, this group broken down by the second.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(no_recursion)]
    pub subgroups: Option<Vec<ImpactGroup>>,
}

/// `GET /api/v1/reports/impact`.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ImpactReport {
    /// First day of the window.
    #[schema(value_type = String, format = Date)]
    pub from: NaiveDate,
    /// Last day of the window (included).
    #[schema(value_type = String, format = Date)]
    pub to: NaiveDate,
    /// The grouping, e.g. `cluster` or `cluster,staff_group`.
    pub group_by: String,
    /// Figures from fewer respondents than this are suppressed.
    pub min_responses: u32,
    /// The groups.
    pub groups: Vec<ImpactGroup>,
    /// The whole window.
    pub totals: ImpactMetrics,
}

/// A group's key and label before its metrics are attached; the store builds these.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct GroupId {
    /// Sort position: terms sort by date, everything else by label, `none` last.
    pub order: (u8, String),
    /// The key.
    pub key: String,
    /// The label.
    pub label: String,
}

/// Keys of a group at each level, outermost first.
pub type GroupPath = Vec<String>;

/// Counts keyed by group path, in a stable order.
pub type Tally<C> = BTreeMap<GroupPath, C>;

// ---------------------------------------------------------------------------------------------
// CSV: one row per group (with two levels, each group's row is followed by its subgroups'),
// then a `total` row. Suppressed cells are empty and named in the `suppressed` column.

fn num(v: Option<f64>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

fn int(v: Option<i64>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

/// A suppressible figure's CSV cell: the figure, or empty.
fn cell_text<T: ToString>(c: &Option<Cell<T>>) -> String {
    c.as_ref()
        .and_then(Cell::shown)
        .map(ToString::to_string)
        .unwrap_or_default()
}

/// The `suppressed` column: the names of the suppressed figures, separated by spaces.
fn suppressed_names<'a>(cells: impl IntoIterator<Item = (&'a str, bool)>) -> String {
    cells
        .into_iter()
        .filter(|(_, hidden)| *hidden)
        .map(|(name, _)| name)
        .collect::<Vec<_>>()
        .join(" ")
}

fn is_hidden<T>(c: &Option<Cell<T>>) -> bool {
    c.as_ref().is_some_and(Cell::is_suppressed)
}

/// The leading columns of every report CSV.
const CSV_KEY_COLUMNS: [&str; 5] = ["level", "key", "label", "subgroup_key", "subgroup_label"];

/// The engagement CSV's header.
pub const ENGAGEMENT_CSV_COLUMNS: [&str; 22] = [
    "places",
    "bookings",
    "confirmed",
    "waitlisted",
    "cancelled",
    "late_cancellations",
    "fill_rate",
    "attendance_rate",
    "completed",
    "no_shows",
    "evaluations_sent",
    "evaluations_completed",
    "response_rate",
    "satisfaction",
    "satisfaction_respondents",
    "impact_rate",
    "impact_respondents",
    "no_show_cost_pence",
    "late_cancellation_cost_pence",
    "cost_pence",
    "previous_bookings",
    "suppressed",
];

/// The whole header row of the engagement CSV.
pub fn engagement_csv_header() -> Vec<&'static str> {
    CSV_KEY_COLUMNS
        .iter()
        .chain(ENGAGEMENT_CSV_COLUMNS.iter())
        .copied()
        .collect()
}

fn engagement_cells(m: &EngagementMetrics, previous: Option<&EngagementMetrics>) -> Vec<String> {
    vec![
        int(m.places),
        m.bookings.to_string(),
        m.confirmed.to_string(),
        m.waitlisted.to_string(),
        m.cancelled.to_string(),
        m.late_cancellations.to_string(),
        num(m.fill_rate),
        num(m.attendance_rate),
        m.completed.to_string(),
        m.no_shows.to_string(),
        m.evaluations_sent.to_string(),
        m.evaluations_completed.to_string(),
        num(m.response_rate),
        cell_text(&m.satisfaction),
        m.satisfaction_respondents.to_string(),
        cell_text(&m.impact_rate),
        m.impact_respondents.to_string(),
        m.cost.no_shows.pence.to_string(),
        m.cost.late_cancellations.pence.to_string(),
        m.cost.total.pence.to_string(),
        int(previous.map(|p| p.bookings)),
        suppressed_names([
            ("satisfaction", is_hidden(&m.satisfaction)),
            ("impact_rate", is_hidden(&m.impact_rate)),
        ]),
    ]
}

/// Where a CSV writer is in a report: the group, the subgroup within it (after the group's own
/// row), and whether the totals row has been written.
#[derive(Clone, Copy, Debug, Default)]
pub struct CsvCursor {
    group: usize,
    sub: Option<usize>,
    finished: bool,
}

/// The next CSV record of `groups` (then the totals) after `cur`, moving `cur` on.
fn next_record<G>(
    cur: &mut CsvCursor,
    groups: &[G],
    parts: impl Fn(&G) -> (&str, &str, Option<&[G]>),
    cells: impl Fn(&G) -> Vec<String>,
    total: impl FnOnce() -> Vec<String>,
) -> Option<Vec<String>> {
    if cur.finished {
        return None;
    }
    let Some(g) = groups.get(cur.group) else {
        cur.finished = true;
        return Some(total_row(total()));
    };
    let (key, label, subs) = parts(g);
    let subs = subs.unwrap_or(&[]);
    let advance = |cur: &mut CsvCursor, next: usize| {
        if next < subs.len() {
            cur.sub = Some(next);
        } else {
            cur.group += 1;
            cur.sub = None;
        }
    };
    match cur.sub {
        None => {
            let mut row = vec![
                "1".to_string(),
                key.to_string(),
                label.to_string(),
                String::new(),
                String::new(),
            ];
            row.extend(cells(g));
            advance(cur, 0);
            Some(row)
        }
        Some(j) => {
            let s = &subs[j];
            let (sk, sl, _) = parts(s);
            let mut row = vec![
                "2".to_string(),
                key.to_string(),
                label.to_string(),
                sk.to_string(),
                sl.to_string(),
            ];
            row.extend(cells(s));
            advance(cur, j + 1);
            Some(row)
        }
    }
}

fn total_row(cells: Vec<String>) -> Vec<String> {
    let mut row = vec![
        "0".to_string(),
        "total".to_string(),
        "Total".to_string(),
        String::new(),
        String::new(),
    ];
    row.extend(cells);
    row
}

impl EngagementReport {
    /// The next CSV record (the header excluded) after `cur`: each group, followed by its
    /// subgroups, then the totals.
    pub fn csv_next(&self, cur: &mut CsvCursor) -> Option<Vec<String>> {
        next_record(
            cur,
            &self.groups,
            |g| (g.key.as_str(), g.label.as_str(), g.subgroups.as_deref()),
            |g| engagement_cells(&g.metrics, g.previous.as_deref()),
            || engagement_cells(&self.totals, Some(&self.previous.totals)),
        )
    }
}

/// The impact CSV's columns after the key columns.
pub const IMPACT_CSV_COLUMNS: [&str; 23] = [
    "post_course_sent",
    "post_course_completed",
    "post_course_response_rate",
    "follow_up_sent",
    "follow_up_completed",
    "follow_up_response_rate",
    "satisfaction",
    "satisfaction_respondents",
    "confidence_shift",
    "confidence_respondents",
    "impact_rate",
    "impact_respondents",
    "guskey_level_1_answers",
    "guskey_level_1_respondents",
    "guskey_level_2_answers",
    "guskey_level_2_respondents",
    "guskey_level_3_answers",
    "guskey_level_3_respondents",
    "guskey_level_4_answers",
    "guskey_level_4_respondents",
    "guskey_level_5_answers",
    "guskey_level_5_respondents",
    "suppressed",
];

/// The whole header row of the impact CSV.
pub fn impact_csv_header() -> Vec<&'static str> {
    CSV_KEY_COLUMNS
        .iter()
        .chain(IMPACT_CSV_COLUMNS.iter())
        .copied()
        .collect()
}

fn impact_cells(m: &ImpactMetrics) -> Vec<String> {
    let mut cells = vec![
        m.post_course.sent.to_string(),
        m.post_course.completed.to_string(),
        num(m.post_course.response_rate),
        m.follow_up.sent.to_string(),
        m.follow_up.completed.to_string(),
        num(m.follow_up.response_rate),
        cell_text(&m.satisfaction),
        m.satisfaction_respondents.to_string(),
        cell_text(&m.confidence_shift),
        m.confidence_respondents.to_string(),
        cell_text(&m.impact_rate),
        m.impact_respondents.to_string(),
    ];
    let names = [
        "guskey_level_1",
        "guskey_level_2",
        "guskey_level_3",
        "guskey_level_4",
        "guskey_level_5",
    ];
    let mut hidden = vec![
        ("satisfaction", is_hidden(&m.satisfaction)),
        ("confidence_shift", is_hidden(&m.confidence_shift)),
        ("impact_rate", is_hidden(&m.impact_rate)),
    ];
    for (level, name) in m.guskey_levels.iter().zip(names) {
        cells.push(cell_text(&Some(level.answers.clone())));
        cells.push(level.respondents.to_string());
        hidden.push((name, level.answers.is_suppressed()));
    }
    cells.push(suppressed_names(hidden));
    cells
}

impl ImpactReport {
    /// The next CSV record (the header excluded) after `cur`, as for the engagement report.
    pub fn csv_next(&self, cur: &mut CsvCursor) -> Option<Vec<String>> {
        next_record(
            cur,
            &self.groups,
            |g| (g.key.as_str(), g.label.as_str(), g.subgroups.as_deref()),
            |g| impact_cells(&g.metrics),
            || impact_cells(&self.totals),
        )
    }
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

    #[test]
    fn money_is_written_in_pounds() {
        assert_eq!(format_pence(0), "£0.00");
        assert_eq!(format_pence(5), "£0.05");
        assert_eq!(format_pence(12_500), "£125.00");
        assert_eq!(format_pence(123_456_789), "£1,234,567.89");
        assert_eq!(format_pence(-150), "-£1.50");
    }

    #[test]
    fn rates_are_null_on_an_empty_denominator() {
        let c = EngagementCounts {
            bookings: 3,
            confirmed: 2,
            expected_attendances: 4,
            attendances: 3,
            satisfaction_sum: 24,
            satisfaction_n: 6,
            ..Default::default()
        };
        let m = c.metrics(Some(4), Threshold::new(5), EngagementShown::ALL);
        assert_eq!(m.fill_rate, Some(0.5));
        assert_eq!(m.attendance_rate, Some(0.75));
        assert_eq!(m.response_rate, None);
        assert_eq!(m.satisfaction, Some(Cell::Shown(4.0)));
        assert_eq!(m.impact_rate, None);
        let m = c.metrics(None, Threshold::new(5), EngagementShown::ALL);
        assert_eq!(m.fill_rate, None);
    }

    #[test]
    fn small_groups_are_suppressed_with_their_reason() {
        let t = Threshold::new(5);
        assert_eq!(
            visibility(t, true, &[5, 1]),
            [Shown::Complementary, Shown::TooFew]
        );
        assert_eq!(visibility(t, true, &[5, 0]), [Shown::Yes, Shown::TooFew]);
        assert_eq!(figure(t, 0, Shown::TooFew, Some(1.0)), None);
        let hidden = figure(t, 5, Shown::Complementary, Some(1.0)).unwrap();
        assert!(hidden.is_suppressed());
        assert_eq!(
            serde_json::to_value(&hidden).unwrap()["reason"],
            "hidden so that a group of fewer than 5 responses cannot be worked out"
        );
    }

    #[test]
    fn csv_rows_follow_groups_subgroups_and_totals() {
        let t = Threshold::new(5);
        let metrics = |n: i64| {
            EngagementCounts {
                bookings: n,
                ..Default::default()
            }
            .metrics(None, t, EngagementShown::ALL)
        };
        let g = |key: &str, n: i64, subs: Option<Vec<EngagementGroup>>| EngagementGroup {
            key: key.into(),
            label: key.to_uppercase(),
            metrics: metrics(n),
            previous: None,
            subgroups: subs,
        };
        let report = EngagementReport {
            from: d(2026, 9, 1),
            to: d(2027, 8, 31),
            group_by: "cluster,school".into(),
            scope: "alliance".into(),
            school: None,
            min_responses: 5,
            groups: vec![
                g("n", 3, Some(vec![g("a", 1, None), g("b", 2, None)])),
                g("s", 0, Some(vec![])),
            ],
            totals: metrics(3),
            previous: EngagementTrend {
                from: d(2025, 9, 1),
                to: d(2026, 8, 31),
                totals: metrics(7),
            },
            cold_spots: None,
            alliance_average: None,
        };
        let mut cur = CsvCursor::default();
        let mut rows = Vec::new();
        while let Some(r) = report.csv_next(&mut cur) {
            assert_eq!(r.len(), engagement_csv_header().len());
            rows.push((r[0].clone(), r[1].clone(), r[3].clone(), r[6].clone()));
        }
        let s = |a: &str, b: &str, c: &str, n: &str| {
            (a.to_string(), b.to_string(), c.to_string(), n.to_string())
        };
        assert_eq!(
            rows,
            [
                s("1", "n", "", "3"),
                s("2", "n", "a", "1"),
                s("2", "n", "b", "2"),
                s("1", "s", "", "0"),
                s("0", "total", "", "3"),
            ]
        );
        assert_eq!(report.csv_next(&mut cur), None);
    }
}
