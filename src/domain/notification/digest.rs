//! The `termly_digest` payload: the reports' figures for a term, written out already (`75%`,
//! `4.3 out of 5`, `£1,234.50`) exactly as the dashboard shows them, so the template only lays
//! them out. `reports::digest` fills it in.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// `termly_digest` (see `email-templates/README.md`, "The termly digest").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Digest {
    /// The recipient's name when they are on record; `None` for an address that is not a
    /// person, and in the payload before it is addressed.
    pub person_name: Option<String>,
    /// `2026-27-autumn`.
    pub term_key: String,
    /// `Autumn 2026/27`.
    pub term_label: String,
    /// The term's first day (written `2026-09-01`).
    pub from: NaiveDate,
    /// The term's last day.
    pub to: NaiveDate,
    /// The first day, written: `1 September 2026`.
    pub from_display: String,
    /// The last day, written.
    pub to_display: String,
    /// The dashboard on that term.
    pub dashboard_url: String,
    /// Figures from fewer responses are withheld.
    pub min_responses: u32,
    /// The headline figures, in order.
    pub headline: Vec<DigestFigure>,
    /// Schools with no bookings in the term.
    pub cold_spot_count: usize,
    /// Those schools, by cluster.
    pub cold_spots: Vec<DigestCluster>,
    /// The best-rated courses, highest first.
    pub best_rated: Vec<DigestRated>,
    /// The courses with the largest impact, highest first.
    pub largest_impact: Vec<DigestImpact>,
}

impl Digest {
    /// The same digest addressed to one recipient (`person_name` filled in when known).
    pub fn addressed(&self, person_name: Option<&str>) -> Digest {
        Digest {
            person_name: person_name.map(str::to_string),
            ..self.clone()
        }
    }
}

/// One headline figure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DigestFigure {
    /// The metric's API name: `bookings`, `fill_rate`, ...
    pub key: String,
    /// How it is labelled.
    pub label: String,
    /// The figure, written, or `no data`, or `fewer than 5 responses`.
    pub value: String,
    /// E.g. `of 944 confirmed`.
    pub detail: Option<String>,
}

/// The cold spots of one cluster.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DigestCluster {
    /// The cluster's name (`No cluster` for schools in none).
    pub cluster: String,
    /// Its schools with no bookings, by name.
    pub schools: Vec<DigestSchool>,
}

/// A school with no bookings in the term.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DigestSchool {
    /// The school's name.
    pub name: String,
    /// When it last booked, written, or `None` if it never has.
    pub last_booked: Option<String>,
}

/// A best-rated course.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DigestRated {
    /// The course's title.
    pub title: String,
    /// `4.6 out of 5`.
    pub satisfaction: String,
    /// How many answered.
    pub respondents: i64,
}

/// A course with a large impact.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DigestImpact {
    /// The course's title.
    pub title: String,
    /// `80%` or `no data`.
    pub impact_rate: String,
    /// How many answered the impact question.
    pub impact_respondents: i64,
    /// `+1.2` or `no data`.
    pub confidence_shift: String,
    /// How many gave both confidence ratings.
    pub confidence_respondents: i64,
}
