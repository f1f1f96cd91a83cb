//! Rolling sums up from the SQL groups to a report's levels and totals, and deciding which
//! figures small groups may show.

use std::collections::BTreeMap;

use crate::domain::suppression::Threshold;
use crate::domain::term::Term;
use crate::reports::metrics::{
    visibility, visibility_alone, EngagementCounts, EngagementShown, GroupBy, ImpactCounts,
    ImpactShown, Shown, NONE_KEY,
};

use super::reference::Courses;
use super::released::{FirstSums, Released, ReleasedSums};

// ---------------------------------------------------------------------------------------------
// Rolling up

/// The keys a row of sums (of a course, or of a month's cells) has at one level. A course
/// with several priorities has several keys; rows of the earlier window are keyed by the
/// matching term a year later, so the trend lines up with the current term.
pub(super) fn level_keys(
    level: GroupBy,
    period: usize,
    course_id: Option<&str>,
    month: Option<i32>,
    person: Option<&Option<String>>,
    courses: &Courses,
) -> Vec<String> {
    let course = course_id.and_then(|id| courses.info.get(id));
    match level {
        GroupBy::Course => vec![course_id.unwrap_or(NONE_KEY).to_string()],
        GroupBy::Term => {
            let term = match (course, month) {
                (Some(c), _) => Some(Term::of(c.first_start)),
                (None, Some(m)) => {
                    chrono::NaiveDate::from_ymd_opt(m / 100, (m % 100) as u32, 1).map(Term::of_date)
                }
                (None, None) => None,
            };
            match term {
                Some(mut t) => {
                    t.year_start += period as i32;
                    vec![t.key()]
                }
                None => vec![NONE_KEY.to_string()],
            }
        }
        GroupBy::Priority => match course {
            Some(c) if !c.priorities.is_empty() => c.priorities.clone(),
            _ => vec![NONE_KEY.to_string()],
        },
        GroupBy::School | GroupBy::Cluster | GroupBy::StaffGroup => {
            vec![person
                .and_then(|p| p.clone())
                .unwrap_or_else(|| NONE_KEY.to_string())]
        }
    }
}

/// Sums per period (0 now, 1 a year earlier): totals, first-level groups, second-level groups.
pub(super) struct Rollup<C> {
    pub(super) totals: [C; 2],
    pub(super) first: [BTreeMap<String, C>; 2],
    pub(super) second: [BTreeMap<(String, String), C>; 2],
}

impl<C: Default + Copy + std::ops::AddAssign> Rollup<C> {
    pub(super) fn new() -> Self {
        Rollup {
            totals: [C::default(), C::default()],
            first: [BTreeMap::new(), BTreeMap::new()],
            second: [BTreeMap::new(), BTreeMap::new()],
        }
    }

    /// Takes `period`'s sums from `other` (a rollup of that period alone, worked out apart),
    /// in place of this one's.
    pub(super) fn adopt(&mut self, period: usize, mut other: Rollup<C>) {
        self.totals[period] = other.totals[period];
        self.first[period] = std::mem::take(&mut other.first[period]);
        self.second[period] = std::mem::take(&mut other.second[period]);
    }

    /// Drops the groups whose sums `keep` refuses.
    pub(super) fn prune(&mut self, keep: impl Fn(&C) -> bool) {
        for period in 0..2 {
            self.first[period].retain(|_, c| keep(c));
            self.second[period].retain(|_, c| keep(c));
        }
    }

    /// Adds one aggregate row: once to the totals, once to each distinct first-level key and
    /// once to each distinct pair of keys.
    pub(super) fn add(
        &mut self,
        levels: &[GroupBy],
        courses: &Courses,
        period: usize,
        (course_id, month): (Option<&str>, Option<i32>),
        persons: [&Option<String>; 2],
        counts: C,
    ) {
        self.totals[period] += counts;
        let mut person = persons.into_iter();
        let mut keys: Vec<Vec<String>> = Vec::new();
        for level in levels {
            let p = if level.is_course_level() {
                None
            } else {
                person.next()
            };
            let mut k = level_keys(*level, period, course_id, month, p, courses);
            k.sort();
            k.dedup();
            keys.push(k);
        }
        for k1 in &keys[0] {
            *self.first[period].entry(k1.clone()).or_default() += counts;
            if let Some(k2s) = keys.get(1) {
                for k2 in k2s {
                    *self.second[period]
                        .entry((k1.clone(), k2.clone()))
                        .or_default() += counts;
                }
            }
        }
    }
}

impl<C: Figures> Rollup<C> {
    /// Puts the released sums of `period`'s groups in place of the sums over all their
    /// answers, so every figure shown uses only a group's earliest answers in whole steps of
    /// the threshold. A group with nothing released gets zeros (its figures are suppressed).
    pub(super) fn release(&mut self, period: usize, released: &Released) {
        self.totals[period].release(&released.totals);
        match &released.first {
            FirstSums::Keyed(by_key) => {
                for (k, c) in self.first[period].iter_mut() {
                    c.release(&by_key.get(k).copied().unwrap_or_default());
                }
            }
            FirstSums::InOrder(sums) => {
                debug_assert_eq!(sums.len(), self.first[period].len());
                for (c, s) in self.first[period].values_mut().zip(sums) {
                    c.release(s);
                }
            }
        }
        for (k, c) in self.second[period].iter_mut() {
            c.release(&released.second.get(k).copied().unwrap_or_default());
        }
    }
}

/// Counts with figures drawn from evaluation answers, each from its own respondents.
pub(super) trait Figures: Copy {
    /// Respondents behind each suppressible figure, in a fixed order.
    fn respondents(&self) -> Vec<i64>;

    /// Takes the figures' sums from the group's released answers.
    fn release(&mut self, r: &ReleasedSums);

    /// The evaluation responses of each kind (post-course, follow-up).
    fn responses(&self) -> [i64; 2];

    /// The figures' sums over all the group's responses, in the form of released sums.
    fn all_sums(&self) -> ReleasedSums;
}

impl Figures for EngagementCounts {
    fn respondents(&self) -> Vec<i64> {
        vec![self.satisfaction_n, self.impact_n]
    }

    fn release(&mut self, r: &ReleasedSums) {
        self.satisfaction_sum = r.sum[0];
        self.satisfaction_counted = Some(r.counted[0]);
        self.impact_positive = r.sum[1];
        self.impact_counted = Some(r.counted[1]);
    }

    fn responses(&self) -> [i64; 2] {
        self.responses
    }

    fn all_sums(&self) -> ReleasedSums {
        let mut s = ReleasedSums::default();
        s.sum[0] = self.satisfaction_sum;
        s.counted[0] = self.satisfaction_n;
        s.sum[1] = self.impact_positive;
        s.counted[1] = self.impact_n;
        s
    }
}

impl Figures for ImpactCounts {
    fn respondents(&self) -> Vec<i64> {
        self.respondents().to_vec()
    }

    fn release(&mut self, r: &ReleasedSums) {
        self.satisfaction_sum = r.sum[0];
        self.satisfaction_counted = Some(r.counted[0]);
        self.impact_positive = r.sum[1];
        self.impact_counted = Some(r.counted[1]);
        self.confidence_shift_sum = r.sum[2];
        self.confidence_pairs = r.pairs[2];
        for i in 0..5 {
            self.guskey_answers[i] = r.sum[3 + i];
        }
    }

    fn responses(&self) -> [i64; 2] {
        self.responses
    }

    fn all_sums(&self) -> ReleasedSums {
        let mut s = ReleasedSums::default();
        s.sum[0] = self.satisfaction_sum;
        s.counted[0] = self.satisfaction_n;
        s.sum[1] = self.impact_positive;
        s.counted[1] = self.impact_n;
        s.sum[2] = self.confidence_shift_sum;
        s.counted[2] = self.confidence_n;
        s.pairs[2] = self.confidence_pairs;
        for i in 0..5 {
            s.sum[3 + i] = self.guskey_answers[i];
            s.counted[3 + i] = self.guskey_respondents[i];
        }
        s
    }
}

/// Which figures show, per period, for the totals, each first-level group and each
/// second-level group: small-n suppression with complementary cells among siblings
/// (`suppression::suppress_group`), each level under the one above it.
pub(super) struct Visibility {
    pub(super) totals: [Vec<Shown>; 2],
    first: [BTreeMap<String, Vec<Shown>>; 2],
    second: [BTreeMap<(String, String), Vec<Shown>>; 2],
}

impl Visibility {
    /// `totals_shown` says what the totals show (they have no siblings, except in a
    /// school's own view, where the rest of the alliance is their sibling).
    pub(super) fn of<C: Figures + Default + std::ops::AddAssign>(
        t: Threshold,
        rollup: &Rollup<C>,
        totals_shown: [Vec<Shown>; 2],
    ) -> Visibility {
        let mut first: [BTreeMap<String, Vec<Shown>>; 2] = Default::default();
        let mut second: [BTreeMap<(String, String), Vec<Shown>>; 2] = Default::default();
        for period in 0..2 {
            first[period] = siblings(t, &totals_shown[period], rollup.first[period].iter());
            for (k1, shown) in &first[period] {
                let children = rollup.second[period]
                    .range((k1.clone(), String::new())..)
                    .take_while(|((a, _), _)| a == k1);
                second[period].extend(siblings(t, shown, children));
            }
        }
        Visibility {
            totals: totals_shown,
            first,
            second,
        }
    }

    pub(super) fn first(&self, period: usize, k: &str) -> Option<&Vec<Shown>> {
        self.first[period].get(k)
    }

    pub(super) fn second(&self, period: usize, k1: &str, k2: &str) -> Option<&Vec<Shown>> {
        self.second[period].get(&(k1.to_string(), k2.to_string()))
    }
}

/// What each of a set of siblings shows, given what their parent shows.
fn siblings<'a, K: Ord + Clone + 'a, C: Figures + 'a>(
    t: Threshold,
    parent: &[Shown],
    entries: impl Iterator<Item = (&'a K, &'a C)>,
) -> BTreeMap<K, Vec<Shown>> {
    let entries: Vec<(&K, &C)> = entries.collect();
    // Each entry's respondents once, and what it shows in the entries' order: tens of
    // thousands of schools in a report by school, so no lookup by key per figure.
    let respondents: Vec<Vec<i64>> = entries.iter().map(|(_, c)| c.respondents()).collect();
    let mut shown: Vec<Vec<Shown>> = vec![Vec::with_capacity(parent.len()); entries.len()];
    for (j, parent_shown) in parent.iter().enumerate() {
        let counts: Vec<i64> = respondents.iter().map(|r| r[j]).collect();
        for (s, v) in shown
            .iter_mut()
            .zip(visibility(t, parent_shown.is_shown(), &counts))
        {
            s.push(v);
        }
    }
    entries
        .into_iter()
        .map(|(k, _)| k.clone())
        .zip(shown)
        .collect()
}

/// What the totals of `c` show on their own.
pub(super) fn alone<C: Figures>(t: Threshold, c: &C) -> Vec<Shown> {
    c.respondents()
        .into_iter()
        .map(|n| visibility_alone(t, n))
        .collect()
}

pub(super) fn engagement_shown(v: Option<&Vec<Shown>>) -> EngagementShown {
    match v {
        Some(v) => EngagementShown {
            satisfaction: v[0],
            impact_rate: v[1],
        },
        None => EngagementShown::ALL,
    }
}

pub(super) fn impact_shown(v: Option<&Vec<Shown>>) -> ImpactShown {
    let mut a = [Shown::Yes; 8];
    if let Some(v) = v {
        a.copy_from_slice(&v[..8]);
    }
    ImpactShown::from(a)
}

/// Capacity of the courses per period, for the totals and for each group whose levels all
/// belong to the course.
pub(super) struct Places {
    pub(super) totals: [i64; 2],
    pub(super) first: [BTreeMap<String, i64>; 2],
    pub(super) second: [BTreeMap<(String, String), i64>; 2],
}

pub(super) fn places(levels: &[GroupBy], courses: &Courses) -> Places {
    let mut p = Places {
        totals: [0, 0],
        first: [BTreeMap::new(), BTreeMap::new()],
        second: [BTreeMap::new(), BTreeMap::new()],
    };
    for period in 0..2 {
        for id in &courses.by_period[period] {
            let c = &courses.info[id];
            p.totals[period] += c.capacity;
            if !levels[0].is_course_level() {
                continue;
            }
            let k1s = level_keys(levels[0], period, Some(id), None, None, courses);
            for k1 in &k1s {
                *p.first[period].entry(k1.clone()).or_default() += c.capacity;
                if let Some(l2) = levels.get(1).filter(|l| l.is_course_level()) {
                    for k2 in level_keys(*l2, period, Some(id), None, None, courses) {
                        *p.second[period].entry((k1.clone(), k2)).or_default() += c.capacity;
                    }
                }
            }
        }
    }
    p
}
