//! Small-n suppression of evaluation figures (invariant 7): no figure is shown for fewer
//! respondents than the threshold, and no suppressed cell can be worked out by subtracting
//! the cells that are shown from a total that is shown.
//!
//! The course summary and every grouped report use this one module:
//!
//! - [`Threshold::new`] from `settings.evaluation.min_responses` (never below
//!   [`MIN_THRESHOLD`], whatever is passed);
//! - [`cell`] / [`Cell`]: a figure, or `{"suppressed": true, "reason": "fewer than 5
//!   responses"}` in its place;
//! - [`suppress_group`]: which children of a shown parent to suppress, primary cells (too few
//!   respondents) and complementary ones (so that parent minus the shown children never
//!   gives the figures of fewer than the threshold).
//!
//! Pure: no I/O.

use serde::{Serialize, Serializer};

/// The lowest threshold there can be: five respondents.
pub const MIN_THRESHOLD: u32 = 5;

/// The number of respondents below which figures are suppressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Threshold(u32);

impl Threshold {
    /// The threshold from the `EVALUATION_MIN_RESPONSES` setting, raised to
    /// [`MIN_THRESHOLD`] if lower.
    pub fn new(min_responses: u32) -> Threshold {
        Threshold(min_responses.max(MIN_THRESHOLD))
    }

    /// The number of respondents a figure needs.
    pub fn get(self) -> u32 {
        self.0
    }

    /// Whether figures from `n` respondents may be shown.
    pub fn allows(self, n: u64) -> bool {
        n >= u64::from(self.0)
    }

    /// How many of `n` answers, taken in the order they arrived, a figure that grows over
    /// time may use: the largest whole multiple of the threshold (0 below it). A course's
    /// figures then move only in steps of at least the threshold, so comparing the figures
    /// before and after one more answer never reveals that answer.
    pub fn released(self, n: u64) -> u64 {
        let k = u64::from(self.0);
        n / k * k
    }

    /// Why a figure is not shown: `fewer than 5 responses`.
    pub fn reason(self) -> String {
        format!("fewer than {} responses", self.0)
    }

    /// The marker that stands in for suppressed figures.
    pub fn suppressed(self) -> Suppressed {
        Suppressed {
            suppressed: true,
            reason: self.reason(),
        }
    }
}

impl Default for Threshold {
    fn default() -> Self {
        Threshold(MIN_THRESHOLD)
    }
}

/// What is shown instead of figures: `{"suppressed": true, "reason": "..."}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Suppressed {
    /// Always true.
    pub suppressed: bool,
    /// Why, e.g. `fewer than 5 responses`.
    pub reason: String,
}

/// A figure, or the marker that it is suppressed. Serialises as the figure itself or as
/// [`Suppressed`].
#[derive(Clone, Debug, PartialEq)]
pub enum Cell<T> {
    /// Enough respondents: the figure.
    Shown(T),
    /// Too few respondents (or suppressed so no other cell can be worked out).
    Suppressed(Suppressed),
}

impl<T> Cell<T> {
    /// Whether the figure is suppressed.
    pub fn is_suppressed(&self) -> bool {
        matches!(self, Cell::Suppressed(_))
    }

    /// The figure, if shown.
    pub fn shown(&self) -> Option<&T> {
        match self {
            Cell::Shown(t) => Some(t),
            Cell::Suppressed(_) => None,
        }
    }
}

impl<T: Serialize> Serialize for Cell<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Cell::Shown(t) => t.serialize(s),
            Cell::Suppressed(m) => m.serialize(s),
        }
    }
}

/// The figure from `n` respondents, built only when it may be shown.
pub fn cell<T>(threshold: Threshold, n: u64, figure: impl FnOnce() -> T) -> Cell<T> {
    if threshold.allows(n) {
        Cell::Shown(figure())
    } else {
        Cell::Suppressed(threshold.suppressed())
    }
}

/// Which children of one parent to suppress, given each child's respondents, so that no
/// child with fewer respondents than the threshold is shown, and none can be worked out from
/// the parent's figures.
///
/// `counts` must cover every respondent of the parent (a group for "no school" and the like
/// included), so that the parent is exactly the sum of its children. Returns one flag per
/// child, `true` = suppress.
///
/// - When the parent is not shown (`parent_shown` false), its children are all suppressed:
///   a part of a group too small to show is smaller still.
/// - Otherwise each child under the threshold is suppressed (primary suppression). If the
///   suppressed children together hold at least one but fewer than the threshold of
///   respondents, subtracting the shown children from the parent would give their figures,
///   so the smallest shown child is suppressed too (complementary suppression), and so on
///   until the suppressed children hold none or at least the threshold together.
pub fn suppress_group(threshold: Threshold, parent_shown: bool, counts: &[u64]) -> Vec<bool> {
    if !parent_shown {
        return vec![true; counts.len()];
    }
    let mut hidden: Vec<bool> = counts.iter().map(|&n| !threshold.allows(n)).collect();
    loop {
        let hidden_total: u64 = counts
            .iter()
            .zip(&hidden)
            .filter(|(_, &h)| h)
            .map(|(&n, _)| n)
            .sum();
        if hidden_total == 0 || threshold.allows(hidden_total) {
            return hidden;
        }
        // The smallest shown sibling (the first of equals, for a stable answer).
        let next = counts
            .iter()
            .enumerate()
            .filter(|(i, _)| !hidden[*i])
            .min_by_key(|(i, &n)| (n, *i))
            .map(|(i, _)| i);
        match next {
            Some(i) => hidden[i] = true,
            // Every child is hidden already: only the parent's own total shows.
            None => return hidden,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_grow_in_whole_steps_of_the_threshold() {
        let five = Threshold::new(5);
        let released: Vec<u64> = (0..=12).map(|n| five.released(n)).collect();
        assert_eq!(released, [0, 0, 0, 0, 0, 5, 5, 5, 5, 5, 10, 10, 10]);
        assert_eq!(Threshold::new(8).released(17), 16);
    }

    #[test]
    fn the_threshold_is_never_below_five() {
        assert_eq!(Threshold::new(0).get(), 5);
        assert_eq!(Threshold::new(3).get(), 5);
        assert_eq!(Threshold::new(8).get(), 8);
        assert_eq!(Threshold::new(8).reason(), "fewer than 8 responses");
        assert_eq!(Threshold::default().reason(), "fewer than 5 responses");
    }

    #[test]
    fn four_is_suppressed_and_five_is_shown() {
        let t = Threshold::new(5);
        let four = cell(t, 4, || 4.5);
        assert!(four.is_suppressed());
        assert_eq!(
            serde_json::to_value(&four).unwrap(),
            serde_json::json!({"suppressed": true, "reason": "fewer than 5 responses"})
        );
        let five = cell(t, 5, || 4.5);
        assert_eq!(five.shown(), Some(&4.5));
        assert_eq!(serde_json::to_value(&five).unwrap(), serde_json::json!(4.5));
        assert!(cell(Threshold::new(7), 6, || 1).is_suppressed());
        assert!(!cell(Threshold::new(7), 7, || 1).is_suppressed());
    }

    #[test]
    fn the_figure_is_not_even_computed_when_suppressed() {
        let c: Cell<u8> = cell(Threshold::default(), 2, || panic!("computed"));
        assert!(c.is_suppressed());
    }

    #[test]
    fn five_minus_four_cannot_reveal_one_person() {
        // A group of 9: a subgroup of 5 shown and one of 4 suppressed would give the 4 away
        // as 9 - 5, so the 5 goes too.
        let t = Threshold::default();
        assert_eq!(suppress_group(t, true, &[5, 4]), [true, true]);
        // A group of 5 with subgroups of 4 and 1: both under the threshold already.
        assert_eq!(suppress_group(t, true, &[4, 1]), [true, true]);
        // 5 = 5 + 0: the empty subgroup reveals nobody.
        assert_eq!(suppress_group(t, true, &[5, 0]), [false, true]);
    }

    #[test]
    fn complementary_suppression_takes_the_next_smallest_sibling() {
        let t = Threshold::default();
        // One child of 2 suppressed; the next smallest (6) goes with it, the rest stay.
        assert_eq!(
            suppress_group(t, true, &[12, 2, 6, 9]),
            [false, true, true, false]
        );
        // Two small children that hold 5 together protect each other.
        assert_eq!(
            suppress_group(t, true, &[12, 2, 3, 9]),
            [false, true, true, false]
        );
        // Two small children holding 4 together need a third.
        assert_eq!(
            suppress_group(t, true, &[12, 1, 3, 9]),
            [false, true, true, true]
        );
        // Nothing small: nothing suppressed.
        assert_eq!(suppress_group(t, true, &[5, 6, 7]), [false, false, false]);
        // Ties go to the first.
        assert_eq!(suppress_group(t, true, &[7, 1, 7]), [true, true, false]);
    }

    #[test]
    fn a_hidden_parent_hides_every_child() {
        assert_eq!(
            suppress_group(Threshold::default(), false, &[3, 1]),
            [true, true]
        );
    }

    #[test]
    fn no_shown_child_can_be_subtracted_to_a_small_group() {
        // Exhaustive over small groups: whatever is shown, the parent minus the shown
        // children is either nobody or at least the threshold, and no shown child is small.
        let t = Threshold::new(5);
        for a in 0..12u64 {
            for b in 0..12u64 {
                for c in 0..12u64 {
                    let counts = [a, b, c];
                    let parent_shown = t.allows(a + b + c);
                    let hidden = suppress_group(t, parent_shown, &counts);
                    let rest: u64 = counts
                        .iter()
                        .zip(&hidden)
                        .filter(|(_, &h)| h)
                        .map(|(&n, _)| n)
                        .sum();
                    if parent_shown {
                        assert!(rest == 0 || rest >= 5, "{counts:?} -> {hidden:?}");
                    } else {
                        assert!(hidden.iter().all(|h| *h), "{counts:?} -> {hidden:?}");
                    }
                    for (n, h) in counts.iter().zip(&hidden) {
                        assert!(*h || *n >= 5, "{counts:?} -> {hidden:?}");
                    }
                }
            }
        }
    }
}
