//! Splitting a report's window into the parts kept sums are read by (whole academic years,
//! whole months, and the instants at its edges), with the tests that pin the split.

use chrono::NaiveDateTime;

use crate::reports::metrics::ReportQuery;

fn month_key(d: chrono::NaiveDate) -> i64 {
    use chrono::Datelike;
    i64::from(d.year()) * 100 + i64::from(d.month())
}

/// How a window is read from kept sums: whole academic years, whole months, and the instants
/// left at its edges.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Split {
    /// The first and last academic year (by the year of its September), if any.
    pub(super) years: Option<(i64, i64)>,
    /// Ranges of whole months (`yyyymm`, both included) outside those years.
    pub(super) months: Vec<(i64, i64)>,
    /// `[start, end)` instants in no whole month.
    pub(super) edges: Vec<(NaiveDateTime, NaiveDateTime)>,
}

/// Splits the window of `q` into whole academic years (when `years`), whole London months
/// and the part-months at its edges.
pub(super) fn split_window(q: &ReportQuery, years: bool) -> Split {
    use crate::reports::metrics::london_midnight_utc;
    use chrono::{Datelike, NaiveDate};
    let (lo, hi) = q.window_utc();
    let first_of = |d: NaiveDate| d.with_day(1).expect("every month has a first day");
    let next_month = |d: NaiveDate| {
        first_of(d)
            .checked_add_months(chrono::Months::new(1))
            .unwrap_or(d)
    };
    // The first day of the first whole month, and the first day after the last one.
    let start = if q.from.day() == 1 {
        q.from
    } else {
        next_month(q.from)
    };
    let after = q.to.succ_opt().unwrap_or(q.to);
    let end = if after.day() == 1 {
        after
    } else {
        first_of(q.to)
    };
    let mut split = Split::default();
    if start >= end {
        split.edges.push((lo, hi));
        return split;
    }
    let a = london_midnight_utc(start);
    if lo < a {
        split.edges.push((lo, a));
    }
    let b = london_midnight_utc(end);
    if b < hi {
        split.edges.push((b, hi));
    }
    let mut month_range = |from: NaiveDate, until: NaiveDate| {
        if from < until {
            let last = until.pred_opt().unwrap_or(until);
            split.months.push((month_key(from), month_key(last)));
        }
    };
    // The first 1 September on or after the start, and the last on or before the end.
    let september = |y: i32| NaiveDate::from_ymd_opt(y, 9, 1).expect("1 September");
    let year_start = if start.month() <= 9 {
        september(start.year())
    } else {
        september(start.year() + 1)
    };
    let year_end = if end.month() >= 9 {
        september(end.year())
    } else {
        september(end.year() - 1)
    };
    if years && year_start < year_end {
        month_range(start, year_start);
        month_range(year_end, end);
        split.years = Some((i64::from(year_start.year()), i64::from(year_end.year()) - 1));
    } else {
        month_range(start, end);
    }
    split
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::metrics::{london_midnight_utc, GroupBy};
    use chrono::NaiveDate;

    fn window(from: (i32, u32, u32), to: (i32, u32, u32)) -> ReportQuery {
        let d = |(y, m, day): (i32, u32, u32)| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        ReportQuery {
            from: d(from),
            to: d(to),
            group_by: GroupBy::School,
            then_by: None,
            now: d((2026, 11, 23)).and_hms_opt(0, 0, 0).unwrap(),
            min_responses: 5,
        }
    }

    fn midnight(y: i32, m: u32, d: u32) -> NaiveDateTime {
        london_midnight_utc(NaiveDate::from_ymd_opt(y, m, d).unwrap())
    }

    #[test]
    fn an_academic_year_is_read_as_one() {
        let q = window((2025, 9, 1), (2026, 8, 31));
        let split = split_window(&q, true);
        assert_eq!(split.years, Some((2025, 2025)));
        assert!(
            split.months.is_empty() && split.edges.is_empty(),
            "{split:?}"
        );
        // Without years (a term grouping): the twelve months.
        let split = split_window(&q, false);
        assert_eq!((split.years, split.months), (None, vec![(202509, 202608)]));
    }

    #[test]
    fn years_then_months_then_days() {
        let split = split_window(&window((2024, 8, 20), (2026, 11, 10)), true);
        assert_eq!(split.years, Some((2024, 2025)));
        assert_eq!(split.months, vec![(202609, 202610)]);
        assert_eq!(
            split.edges,
            vec![
                (midnight(2024, 8, 20), midnight(2024, 9, 1)),
                (midnight(2026, 11, 1), midnight(2026, 11, 11)),
            ]
        );
    }

    #[test]
    fn months_either_side_of_no_whole_year() {
        let split = split_window(&window((2025, 10, 15), (2026, 11, 30)), true);
        assert_eq!(split.years, None);
        assert_eq!(split.months, vec![(202511, 202611)]);
        assert_eq!(
            split.edges,
            vec![(midnight(2025, 10, 15), midnight(2025, 11, 1))]
        );
        // Inside one month: days only.
        let q = window((2026, 1, 7), (2026, 1, 27));
        let split = split_window(&q, true);
        assert_eq!(split.edges, vec![q.window_utc()]);
        assert!(split.years.is_none() && split.months.is_empty());
    }
}
