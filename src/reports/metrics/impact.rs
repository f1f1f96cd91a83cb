//! The impact counts and metrics, following the same suppression rules as engagement.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;

use crate::domain::suppression::{Cell, Threshold};

use super::engagement::{figure, ratio, Shown};

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
    /// Evaluation responses of each kind (post-course, follow-up): the `n` the released
    /// figures step by.
    pub responses: [i64; 2],
    /// How many of the group's overall ratings `satisfaction_sum` holds, when it holds only
    /// those released (the earliest, in whole steps of the threshold); `None` when it holds
    /// all `satisfaction_n`. The confidence shift and the Guskey answers need no such count:
    /// their released sums come with their own `confidence_pairs`. Not added up.
    pub satisfaction_counted: Option<i64>,
    /// Likewise for `impact_positive` out of `impact_n`.
    pub impact_counted: Option<i64>,
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
        self.responses[0] += o.responses[0];
        self.responses[1] += o.responses[1];
        // A sum of released figures is no group's released figure.
        self.satisfaction_counted = None;
        self.impact_counted = None;
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
    #[schema(value_type = serde_json::Value)]
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
    #[schema(value_type = Option<serde_json::Value>)]
    pub satisfaction: Option<Cell<f64>>,
    /// How many rated the course overall.
    pub satisfaction_respondents: i64,
    /// Mean of (after - before) over the retrospective confidence answers, or the
    /// suppression marker.
    #[schema(value_type = Option<serde_json::Value>)]
    pub confidence_shift: Option<Cell<f64>>,
    /// How many responses gave a retrospective rating.
    pub confidence_respondents: i64,
    /// Share of "used in practice" answers of 4 or 5, or the suppression marker.
    #[schema(value_type = Option<serde_json::Value>)]
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
                ratio(
                    self.satisfaction_sum,
                    self.satisfaction_counted.unwrap_or(self.satisfaction_n),
                ),
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
                ratio(
                    self.impact_positive,
                    self.impact_counted.unwrap_or(self.impact_n),
                ),
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
