//! School terms and academic years, as schools in England count them: the academic year runs
//! from 1 September to 31 August; the autumn term is September to December, spring January to
//! March, summer April to August. Fixed month boundaries (rather than each school's own dates)
//! keep term totals comparable across schools and stable from year to year.

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use serde::Serialize;

/// One of the three school terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Season {
    /// September to December.
    Autumn,
    /// January to March.
    Spring,
    /// April to August.
    Summer,
}

/// A term of an academic year, e.g. autumn 2026/27.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Term {
    /// The calendar year the academic year starts in (2026 for 2026/27).
    pub year_start: i32,
    /// Which term.
    pub season: Season,
}

impl Term {
    /// The term a date falls in.
    pub fn of_date(d: NaiveDate) -> Term {
        let (year_start, season) = match d.month() {
            9..=12 => (d.year(), Season::Autumn),
            1..=3 => (d.year() - 1, Season::Spring),
            _ => (d.year() - 1, Season::Summer),
        };
        Term { year_start, season }
    }

    /// The term a moment (naive UTC) falls in, counted on the London calendar date.
    pub fn of(t: NaiveDateTime) -> Term {
        Term::of_date(
            crate::domain::time::to_utc(t)
                .with_timezone(&super::time::LONDON)
                .date_naive(),
        )
    }

    /// A stable, sortable key such as `2026-27-autumn`.
    pub fn key(&self) -> String {
        format!(
            "{}-{:02}-{}",
            self.year_start,
            (self.year_start + 1) % 100,
            self.season_key()
        )
    }

    /// A label for people, such as `Autumn 2026/27`.
    pub fn label(&self) -> String {
        let s = match self.season {
            Season::Autumn => "Autumn",
            Season::Spring => "Spring",
            Season::Summer => "Summer",
        };
        format!("{s} {}", academic_year_label(self.year_start))
    }

    fn season_key(&self) -> &'static str {
        match self.season {
            Season::Autumn => "autumn",
            Season::Spring => "spring",
            Season::Summer => "summer",
        }
    }

    /// The first day of the term.
    pub fn first_day(&self) -> NaiveDate {
        match self.season {
            Season::Autumn => NaiveDate::from_ymd_opt(self.year_start, 9, 1),
            Season::Spring => NaiveDate::from_ymd_opt(self.year_start + 1, 1, 1),
            Season::Summer => NaiveDate::from_ymd_opt(self.year_start + 1, 4, 1),
        }
        .expect("term start dates exist")
    }

    /// The last day of the term.
    pub fn last_day(&self) -> NaiveDate {
        match self.season {
            Season::Autumn => NaiveDate::from_ymd_opt(self.year_start, 12, 31),
            Season::Spring => NaiveDate::from_ymd_opt(self.year_start + 1, 3, 31),
            Season::Summer => NaiveDate::from_ymd_opt(self.year_start + 1, 8, 31),
        }
        .expect("term end dates exist")
    }

    /// The term before this one.
    pub fn previous(&self) -> Term {
        match self.season {
            Season::Autumn => Term {
                year_start: self.year_start - 1,
                season: Season::Summer,
            },
            Season::Spring => Term {
                year_start: self.year_start,
                season: Season::Autumn,
            },
            Season::Summer => Term {
                year_start: self.year_start,
                season: Season::Spring,
            },
        }
    }
}

/// The academic year a date falls in, by its starting calendar year.
pub fn academic_year_of(d: NaiveDate) -> i32 {
    Term::of_date(d).year_start
}

/// A label such as `2026/27`.
pub fn academic_year_label(year_start: i32) -> String {
    format!("{year_start}/{:02}", (year_start + 1) % 100)
}

impl std::str::FromStr for Term {
    type Err = String;

    /// Reads a key as [`Term::key`] writes it, such as `2026-27-autumn`.
    fn from_str(s: &str) -> Result<Term, String> {
        let bad = || format!("{s:?} is not a term such as 2026-27-autumn");
        let mut parts = s.trim().splitn(3, '-');
        let (Some(y), Some(next), Some(season)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        let year_start = y
            .parse::<i32>()
            .ok()
            .filter(|n| y.len() == 4 && (1900..=9998).contains(n))
            .ok_or_else(bad)?;
        if next != format!("{:02}", (year_start + 1) % 100) {
            return Err(bad());
        }
        let season = match season.to_ascii_lowercase().as_str() {
            "autumn" => Season::Autumn,
            "spring" => Season::Spring,
            "summer" => Season::Summer,
            _ => return Err(bad()),
        };
        Ok(Term { year_start, season })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn terms_follow_the_english_school_year() {
        assert_eq!(Term::of_date(d(2026, 9, 1)).key(), "2026-27-autumn");
        assert_eq!(Term::of_date(d(2026, 12, 31)).label(), "Autumn 2026/27");
        assert_eq!(Term::of_date(d(2027, 1, 1)).key(), "2026-27-spring");
        assert_eq!(Term::of_date(d(2027, 4, 1)).key(), "2026-27-summer");
        assert_eq!(Term::of_date(d(2027, 8, 31)).key(), "2026-27-summer");
        assert_eq!(Term::of_date(d(1999, 10, 1)).key(), "1999-00-autumn");
        assert_eq!(academic_year_of(d(2027, 7, 1)), 2026);
        assert_eq!(academic_year_label(2026), "2026/27");
    }

    #[test]
    fn terms_tile_the_year() {
        let t = Term::of_date(d(2026, 10, 1));
        assert_eq!(t.previous().last_day().succ_opt().unwrap(), t.first_day());
        let spring = Term::of_date(d(2027, 2, 1));
        assert_eq!(spring.previous(), t);
        assert_eq!(t.last_day().succ_opt().unwrap(), spring.first_day());
    }

    #[test]
    fn a_late_evening_in_summer_time_counts_on_the_london_date() {
        // 23:30 UTC on 31 August is 00:30 on 1 September in London.
        let t = d(2026, 8, 31).and_hms_opt(23, 30, 0).unwrap();
        assert_eq!(Term::of(t).key(), "2026-27-autumn");
    }

    #[test]
    fn keys_read_back() {
        for key in [
            "2026-27-autumn",
            "2026-27-spring",
            "2026-27-summer",
            "1999-00-autumn",
        ] {
            assert_eq!(key.parse::<Term>().unwrap().key(), key);
        }
        for bad in [
            "2026-28-autumn",
            "2026-27-winter",
            "26-27-autumn",
            "2026",
            "",
            "x-y-z",
        ] {
            assert!(bad.parse::<Term>().is_err(), "{bad}");
        }
    }
}
