//! The engagement counts and the metrics made from them, with the rules for which figures a
//! small group may show.

use chrono::{NaiveDate, NaiveDateTime};
use serde::Serialize;

use crate::domain::suppression::{suppress_group, Cell, Suppressed, Threshold};

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
    /// Evaluation responses of each kind (post-course, follow-up): the `n` the released
    /// figures step by.
    pub responses: [i64; 2],
    /// How many of the group's overall ratings `satisfaction_sum` holds, when it holds only
    /// those released (the earliest, in whole steps of the threshold); `None` when it holds
    /// all `satisfaction_n`. Not added up: released sums belong to one group.
    pub satisfaction_counted: Option<i64>,
    /// Likewise for `impact_positive` out of `impact_n`.
    pub impact_counted: Option<i64>,
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
        self.responses[0] += o.responses[0];
        self.responses[1] += o.responses[1];
        // A sum of released figures is no group's released figure.
        self.satisfaction_counted = None;
        self.impact_counted = None;
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
    // Written digit by digit into one string: a report by school formats three amounts for
    // each of tens of thousands of groups, and the three strings of the obvious way were a
    // twentieth of its time.
    let p = pence.unsigned_abs();
    let mut digits = [0u8; 20];
    let mut n = p / 100;
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let mut out = String::with_capacity(len + len / 3 + 6);
    if pence < 0 {
        out.push('-');
    }
    out.push('£');
    for i in (0..len).rev() {
        out.push(char::from(digits[i]));
        if i > 0 && i % 3 == 0 {
            out.push(',');
        }
    }
    let rest = (p % 100) as u8;
    out.push('.');
    out.push(char::from(b'0' + rest / 10));
    out.push(char::from(b'0' + rest % 10));
    out
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
    #[schema(value_type = Option<serde_json::Value>)]
    pub satisfaction: Option<Cell<f64>>,
    /// How many rated the course overall (the suppression test counts these).
    pub satisfaction_respondents: i64,
    /// Share of follow-up "used in practice" answers of 4 or 5; null when nobody answered;
    /// the suppression marker for too few respondents.
    #[schema(value_type = Option<serde_json::Value>)]
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
                ratio(
                    self.satisfaction_sum,
                    self.satisfaction_counted.unwrap_or(self.satisfaction_n),
                ),
            ),
            satisfaction_respondents: self.satisfaction_n,
            impact_rate: figure(
                t,
                self.impact_n,
                shown.impact_rate,
                ratio(
                    self.impact_positive,
                    self.impact_counted.unwrap_or(self.impact_n),
                ),
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
    #[schema(value_type = Option<serde_json::Value>)]
    pub satisfaction: Option<Cell<f64>>,
    /// Alliance impact rate (suppressed like any other figure).
    #[schema(value_type = Option<serde_json::Value>)]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_written_in_pounds() {
        assert_eq!(format_pence(0), "£0.00");
        assert_eq!(format_pence(5), "£0.05");
        assert_eq!(format_pence(12_500), "£125.00");
        assert_eq!(format_pence(123_456_789), "£1,234,567.89");
        assert_eq!(format_pence(-150), "-£1.50");
        assert_eq!(format_pence(99_999), "£999.99");
        assert_eq!(format_pence(100_000), "£1,000.00");
        assert_eq!(format_pence(10_000_000), "£100,000.00");
        assert_eq!(format_pence(-123_456_700), "-£1,234,567.00");
        assert_eq!(format_pence(i64::MIN), "-£92,233,720,368,547,758.08");
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
}
