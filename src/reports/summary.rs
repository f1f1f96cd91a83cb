//! The reports as people read them: headline figures, the best-rated courses, the largest
//! impact and the cold spots by cluster, picked from the engagement and impact reports and
//! written out (`75%`, `4.3 out of 5`, "fewer than 5 responses"). The dashboard and the termly
//! digest both show these, so the meeting and the email say the same thing.
//!
//! Nothing here computes a metric: every figure comes from [`crate::reports::metrics`] as the
//! store returned it; this module only chooses, orders and formats.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use serde::Serialize;

use crate::domain::suppression::Cell;
use crate::reports::metrics::{ColdSpot, EngagementGroup, EngagementMetrics, ImpactGroup};

/// A rate as a percentage to at most one decimal place: `0.75` -> `75%`, `2/3` -> `66.7%`.
/// Tables, charts and emails print rates with this one function, so they agree.
pub fn percent(v: f64) -> String {
    let tenths = (v * 1000.0).round() as i64;
    let (whole, frac) = (tenths / 10, (tenths % 10).abs());
    let sign = if tenths < 0 && whole == 0 { "-" } else { "" };
    if frac == 0 {
        format!("{sign}{whole}%")
    } else {
        format!("{sign}{whole}.{frac}%")
    }
}

/// A count with thousands separators: `12345` -> `12,345`.
pub fn count(v: f64) -> String {
    let n = v.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

/// A count with its noun: `1 no-show`, `2 no-shows`.
pub fn plural(n: i64, one: &str, many: &str) -> String {
    format!("{} {}", count(n as f64), if n == 1 { one } else { many })
}

/// A mean rating on the 1-5 scale: `4.25` -> `4.3 out of 5`.
pub fn rating(v: f64) -> String {
    format!("{:.1} out of 5", (v * 10.0).round() / 10.0)
}

/// A mean confidence shift with its sign, to one decimal place: `+1.2`, `-0.5`, `0.0`.
pub fn shift(v: f64) -> String {
    let r = (v * 10.0).round() / 10.0;
    if r > 0.0 {
        format!("+{r:.1}")
    } else if r < 0.0 {
        format!("{r:.1}")
    } else {
        "0.0".into()
    }
}

/// A calendar date as people write it: `14 March 2027`.
pub fn long_date(d: NaiveDate) -> String {
    format!("{} {} {}", d.day(), d.format("%B"), d.year())
}

/// The London date of a naive UTC moment, written as [`long_date`].
pub fn long_date_of(t: NaiveDateTime) -> String {
    long_date(crate::reports::metrics::london_date(t))
}

/// What a rate with nothing to divide by shows.
pub const NO_DATA: &str = "no data";

/// A figure drawn from evaluation answers as shown: the value written with `format`, the
/// suppression marker's reason ("fewer than 5 responses"), or "no data" when nobody answered.
/// The flag says whether there is no value to show.
pub fn cell_text(c: &Option<Cell<f64>>, format: fn(f64) -> String) -> (String, bool) {
    match c {
        None => (NO_DATA.into(), true),
        Some(Cell::Shown(v)) => (format(*v), false),
        Some(Cell::Suppressed(s)) => (s.reason.clone(), true),
    }
}

/// The value of a figure that may be shown, if there is one.
pub fn shown(c: &Option<Cell<f64>>) -> Option<f64> {
    c.as_ref().and_then(Cell::shown).copied()
}

/// One headline figure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Figure {
    /// The metric's name in the API (`bookings`, `fill_rate`, ...).
    pub key: &'static str,
    /// Its name for people.
    pub label: &'static str,
    /// The value as shown, or why there is none.
    pub value: String,
    /// A short qualifier (`of 40 confirmed`), if any.
    pub detail: Option<String>,
    /// Whether the value is missing (no data, or withheld for too few responses).
    pub missing: bool,
}

fn rate_figure(key: &'static str, label: &'static str, v: Option<f64>) -> Figure {
    Figure {
        key,
        label,
        value: v.map(percent).unwrap_or_else(|| NO_DATA.into()),
        detail: None,
        missing: v.is_none(),
    }
}

/// The satisfaction of a group as shown.
pub fn satisfaction_text(m: &EngagementMetrics) -> String {
    cell_text(&m.satisfaction, rating).0
}

/// The impact rate of a group as shown.
pub fn impact_text(m: &EngagementMetrics) -> String {
    cell_text(&m.impact_rate, percent).0
}

/// The headline figures of a report's totals, in the order the dashboard and the digest
/// show them.
pub fn headline(t: &EngagementMetrics) -> Vec<Figure> {
    let (satisfaction, s_missing) = cell_text(&t.satisfaction, rating);
    let (impact, i_missing) = cell_text(&t.impact_rate, percent);
    vec![
        Figure {
            key: "bookings",
            label: "Bookings",
            value: count(t.bookings as f64),
            detail: None,
            missing: false,
        },
        rate_figure("fill_rate", "Fill rate", t.fill_rate),
        rate_figure("attendance_rate", "Attendance rate", t.attendance_rate),
        Figure {
            key: "completed",
            label: "Completed",
            value: count(t.completed as f64),
            detail: Some(format!("of {} confirmed", count(t.confirmed as f64))),
            missing: false,
        },
        rate_figure("response_rate", "Evaluation response rate", t.response_rate),
        Figure {
            key: "satisfaction",
            label: "Satisfaction",
            value: satisfaction,
            detail: None,
            missing: s_missing,
        },
        Figure {
            key: "impact_rate",
            label: "Impact rate",
            value: impact,
            detail: (!i_missing).then(|| "used what they learned in their practice".into()),
            missing: i_missing,
        },
        Figure {
            key: "cost",
            label: "Cost of no-shows and late cancellations",
            value: t.cost.total.formatted.clone(),
            detail: Some(format!(
                "{}, {}",
                plural(t.no_shows, "no-show", "no-shows"),
                plural(
                    t.late_cancellations,
                    "late cancellation",
                    "late cancellations"
                )
            )),
            missing: false,
        },
    ]
}

/// A course among the best rated.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RatedCourse {
    /// The course id.
    pub key: String,
    /// Its title.
    pub title: String,
    /// Mean overall rating.
    pub satisfaction: f64,
    /// The same, written (`4.6 out of 5`).
    pub satisfaction_text: String,
    /// How many rated it.
    pub respondents: i64,
}

/// The best-rated courses of an impact report grouped by course: highest mean satisfaction
/// first (more respondents first on a tie, then by title), withheld figures left out.
pub fn best_rated(groups: &[ImpactGroup], n: usize) -> Vec<RatedCourse> {
    let mut v: Vec<RatedCourse> = groups
        .iter()
        .filter_map(|g| {
            let m = &g.metrics;
            let s = shown(&m.satisfaction)?;
            Some(RatedCourse {
                key: g.key.clone(),
                title: g.label.clone(),
                satisfaction: s,
                satisfaction_text: rating(s),
                respondents: m.satisfaction_respondents,
            })
        })
        .collect();
    v.sort_by(|a, b| {
        b.satisfaction
            .total_cmp(&a.satisfaction)
            .then(b.respondents.cmp(&a.respondents))
            .then(a.title.cmp(&b.title))
    });
    v.truncate(n);
    v
}

/// A course among those with the largest impact.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ImpactCourse {
    /// The course id.
    pub key: String,
    /// Its title.
    pub title: String,
    /// Share of follow-up answers of 4 or 5 to "I have used what I learned in my practice".
    pub impact_rate: Option<f64>,
    /// The same, written, or "no data".
    pub impact_rate_text: String,
    /// How many answered it.
    pub impact_respondents: i64,
    /// Mean retrospective confidence shift (after - before).
    pub confidence_shift: Option<f64>,
    /// The same, written (`+1.2`), or "no data".
    pub confidence_shift_text: String,
    /// How many gave a retrospective rating.
    pub confidence_respondents: i64,
}

/// The courses with the largest impact: highest impact rate first, then the largest confidence
/// shift (a course with only one of the two is ranked by it, after those with an impact
/// rate), withheld figures left out.
pub fn largest_impact(groups: &[ImpactGroup], n: usize) -> Vec<ImpactCourse> {
    let mut v: Vec<ImpactCourse> = groups
        .iter()
        .filter_map(|g| {
            let m = &g.metrics;
            let rate = shown(&m.impact_rate);
            let conf = shown(&m.confidence_shift);
            if rate.is_none() && conf.is_none() {
                return None;
            }
            Some(ImpactCourse {
                key: g.key.clone(),
                title: g.label.clone(),
                impact_rate: rate,
                impact_rate_text: rate.map(percent).unwrap_or_else(|| NO_DATA.into()),
                impact_respondents: m.impact_respondents,
                confidence_shift: conf,
                confidence_shift_text: conf.map(shift).unwrap_or_else(|| NO_DATA.into()),
                confidence_respondents: m.confidence_respondents,
            })
        })
        .collect();
    let key = |c: &ImpactCourse| {
        (
            c.impact_rate.unwrap_or(f64::NEG_INFINITY),
            c.confidence_shift.unwrap_or(f64::NEG_INFINITY),
        )
    };
    v.sort_by(|a, b| {
        let (ka, kb) = (key(a), key(b));
        kb.0.total_cmp(&ka.0)
            .then(kb.1.total_cmp(&ka.1))
            .then(a.title.cmp(&b.title))
    });
    v.truncate(n);
    v
}

/// A school with no bookings, as listed under its cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ColdSchool {
    /// The school id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// When it last booked anything, written (`14 March 2026`), or null if never.
    pub last_booked: Option<String>,
    /// The same as an ISO date, for machines and sorting.
    pub last_booked_on: Option<NaiveDate>,
}

/// The cold spots of one cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClusterColdSpots {
    /// The cluster's name ("No cluster" for schools outside any).
    pub cluster: String,
    /// Its schools with no bookings, by name.
    pub schools: Vec<ColdSchool>,
}

/// The cold spots grouped by cluster: clusters by name, schools outside any cluster last.
pub fn cold_spots_by_cluster(spots: &[ColdSpot]) -> Vec<ClusterColdSpots> {
    let mut by: BTreeMap<(bool, String), Vec<ColdSchool>> = BTreeMap::new();
    for s in spots {
        let key = match &s.cluster {
            Some(c) => (false, c.name.clone()),
            None => (true, "No cluster".to_string()),
        };
        by.entry(key).or_default().push(ColdSchool {
            id: s.school.id.clone(),
            name: s.school.name.clone(),
            last_booked: s.last_booked_at.map(long_date_of),
            last_booked_on: s.last_booked_at.map(crate::reports::metrics::london_date),
        });
    }
    by.into_iter()
        .map(|((_, cluster), mut schools)| {
            schools.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
            ClusterColdSpots { cluster, schools }
        })
        .collect()
}

/// A school's cost of no-shows and late cancellations.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SchoolCost {
    /// The school's name.
    pub school: String,
    /// No-shows.
    pub no_shows: i64,
    /// Their cost, written.
    pub no_show_cost: String,
    /// Late cancellations.
    pub late_cancellations: i64,
    /// Their cost, written.
    pub late_cancellation_cost: String,
    /// The two costs together, written.
    pub total: String,
    /// The two costs together, in pence (for ordering).
    pub total_pence: i64,
}

/// The schools whose no-shows and late cancellations cost anything, dearest first, from an
/// engagement report grouped by school.
pub fn costs_by_school(groups: &[EngagementGroup]) -> Vec<SchoolCost> {
    let mut v: Vec<SchoolCost> = groups
        .iter()
        .filter(|g| g.metrics.no_shows > 0 || g.metrics.late_cancellations > 0)
        .map(|g| {
            let m = &g.metrics;
            SchoolCost {
                school: g.label.clone(),
                no_shows: m.no_shows,
                no_show_cost: m.cost.no_shows.formatted.clone(),
                late_cancellations: m.late_cancellations,
                late_cancellation_cost: m.cost.late_cancellations.formatted.clone(),
                total: m.cost.total.formatted.clone(),
                total_pence: m.cost.total.pence,
            }
        })
        .collect();
    v.sort_by(|a, b| {
        b.total_pence
            .cmp(&a.total_pence)
            .then(a.school.cmp(&b.school))
    });
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::suppression::Threshold;
    use crate::reports::metrics::{
        visibility_alone, EngagementCounts, EngagementShown, ImpactCounts, ImpactShown, NamedRef,
    };

    #[test]
    fn figures_read_as_people_write_them() {
        assert_eq!(percent(0.75), "75%");
        assert_eq!(percent(2.0 / 3.0), "66.7%");
        assert_eq!(percent(1.0), "100%");
        assert_eq!(percent(0.0), "0%");
        assert_eq!(percent(0.99999), "100%");
        assert_eq!(percent(0.0005), "0.1%");
        assert_eq!(percent(-0.05), "-5%");
        assert_eq!(percent(-0.0004), "0%");
        assert_eq!(count(0.0), "0");
        assert_eq!(count(999.0), "999");
        assert_eq!(count(1234.0), "1,234");
        assert_eq!(count(1_234_567.0), "1,234,567");
        assert_eq!(count(-1234.0), "-1,234");
        assert_eq!(rating(4.25), "4.3 out of 5");
        assert_eq!(rating(5.0), "5.0 out of 5");
        assert_eq!(shift(1.24), "+1.2");
        assert_eq!(shift(-0.55), "-0.6");
        assert_eq!(shift(0.01), "0.0");
        assert_eq!(
            long_date(NaiveDate::from_ymd_opt(2027, 3, 4).unwrap()),
            "4 March 2027"
        );
    }

    fn metrics(sat: (i64, i64), imp: (i64, i64)) -> EngagementMetrics {
        let t = Threshold::new(5);
        EngagementCounts {
            bookings: 1234,
            confirmed: 40,
            completed: 30,
            attendances: 3,
            expected_attendances: 4,
            satisfaction_sum: sat.0,
            satisfaction_n: sat.1,
            impact_positive: imp.0,
            impact_n: imp.1,
            no_shows: 2,
            late_cancellations: 1,
            no_show_cost_pence: 5000,
            late_cancellation_cost_pence: 2550,
            ..Default::default()
        }
        .metrics(
            Some(50),
            t,
            EngagementShown {
                satisfaction: visibility_alone(t, sat.1),
                impact_rate: visibility_alone(t, imp.1),
            },
        )
    }

    #[test]
    fn the_headline_shows_every_figure_and_withholds_small_numbers() {
        let h = headline(&metrics((21, 5), (3, 4)));
        let get = |k: &str| h.iter().find(|f| f.key == k).unwrap().clone();
        assert_eq!(get("bookings").value, "1,234");
        assert_eq!(get("fill_rate").value, "80%");
        assert_eq!(get("attendance_rate").value, "75%");
        assert_eq!(get("completed").value, "30");
        assert_eq!(get("completed").detail.as_deref(), Some("of 40 confirmed"));
        assert_eq!(get("response_rate").value, "no data");
        assert!(get("response_rate").missing);
        assert_eq!(get("satisfaction").value, "4.2 out of 5");
        assert!(!get("satisfaction").missing);
        // Four respondents: the report withholds it, and the page says why.
        assert_eq!(get("impact_rate").value, "fewer than 5 responses");
        assert!(get("impact_rate").missing);
        assert_eq!(get("cost").value, "£75.50");
        assert_eq!(
            get("cost").detail.as_deref(),
            Some("2 no-shows, 1 late cancellation")
        );
        // Nobody answered: no data rather than a reason.
        let h = headline(&metrics((0, 0), (0, 0)));
        assert_eq!(h[5].value, "no data");
    }

    fn course(key: &str, sat: (i64, i64), imp: (i64, i64), conf: (i64, i64)) -> ImpactGroup {
        let t = Threshold::new(5);
        let counts = ImpactCounts {
            satisfaction_sum: sat.0,
            satisfaction_n: sat.1,
            impact_positive: imp.0,
            impact_n: imp.1,
            confidence_shift_sum: conf.0,
            confidence_pairs: conf.1,
            confidence_n: conf.1,
            ..Default::default()
        };
        let shown = ImpactShown::from(counts.respondents().map(|n| visibility_alone(t, n)));
        ImpactGroup {
            key: key.into(),
            label: format!("Course {key}"),
            metrics: counts.metrics(t, shown),
            subgroups: None,
        }
    }

    #[test]
    fn best_rated_leaves_out_withheld_ratings_and_breaks_ties() {
        let groups = vec![
            course("a", (40, 10), (0, 0), (0, 0)), // 4.0 from 10
            course("b", (45, 10), (0, 0), (0, 0)), // 4.5 from 10
            course("c", (20, 4), (0, 0), (0, 0)),  // 5.0 from 4: withheld
            course("d", (27, 6), (0, 0), (0, 0)),  // 4.5 from 6
            course("e", (0, 0), (0, 0), (0, 0)),   // unrated
        ];
        let best = best_rated(&groups, 3);
        let keys: Vec<&str> = best.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, ["b", "d", "a"]);
        assert_eq!(best[0].satisfaction_text, "4.5 out of 5");
        assert_eq!(best[0].title, "Course b");
    }

    #[test]
    fn largest_impact_ranks_by_impact_rate_then_confidence_shift() {
        let groups = vec![
            course("a", (0, 0), (4, 5), (5, 5)),  // 80%, +1.0
            course("b", (0, 0), (4, 5), (10, 5)), // 80%, +2.0
            course("c", (0, 0), (5, 5), (0, 5)),  // 100%, 0
            course("d", (0, 0), (0, 0), (15, 5)), // no rate, +3.0
            course("e", (0, 0), (3, 3), (9, 3)),  // withheld both
        ];
        let top = largest_impact(&groups, 3);
        let keys: Vec<&str> = top.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, ["c", "b", "a"]);
        assert_eq!(top[1].confidence_shift_text, "+2.0");
        assert_eq!(top[0].impact_rate_text, "100%");
        let all = largest_impact(&groups, 10);
        assert_eq!(all.len(), 4);
        assert_eq!(all[3].key, "d");
        assert_eq!(all[3].impact_rate_text, "no data");
    }

    #[test]
    fn cold_spots_group_by_cluster_with_the_unclustered_last() {
        let spot = |school: &str, cluster: Option<&str>, last: Option<&str>| ColdSpot {
            school: NamedRef {
                id: school.to_lowercase(),
                name: school.into(),
            },
            cluster: cluster.map(|c| NamedRef {
                id: c.to_lowercase(),
                name: c.into(),
            }),
            last_booked_at: last
                .map(|t| NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M").unwrap()),
        };
        let by = cold_spots_by_cluster(&[
            spot("Wombwell Park", Some("Dearne"), None),
            spot("Alpha Academy", None, None),
            spot("Carlton Green", Some("Central"), Some("2026-03-31 23:30")),
            spot("Ardsley Oaks", Some("Dearne"), Some("2025-11-02 10:00")),
        ]);
        let names: Vec<&str> = by.iter().map(|c| c.cluster.as_str()).collect();
        assert_eq!(names, ["Central", "Dearne", "No cluster"]);
        assert_eq!(by[1].schools[0].name, "Ardsley Oaks");
        assert_eq!(
            by[1].schools[0].last_booked.as_deref(),
            Some("2 November 2025")
        );
        assert_eq!(by[1].schools[1].last_booked, None);
        // 23:30 UTC on 31 March is 00:30 on 1 April in London (summer time).
        assert_eq!(
            by[0].schools[0].last_booked.as_deref(),
            Some("1 April 2026")
        );
    }
}
