//! The termly digest: what the CPD Working Group and the Networking Group are emailed after
//! each term (headline figures, cold spots by cluster, best-rated courses, largest impact and a
//! link to the dashboard), as the `termly_digest` email template's payload.

use crate::domain::notification::{
    Digest, DigestCluster, DigestFigure, DigestImpact, DigestRated, DigestSchool,
};

use crate::domain::term::Term;
use crate::reports::metrics::{EngagementReport, ImpactReport};
use crate::reports::summary::{self as summary};

/// How many courses the best-rated and largest-impact lists name.
pub const TOP: usize = 3;

/// The dashboard's address for a term: `{base}/reports?from=..&to=..`.
pub fn dashboard_url(base_url: &str, term: &Term) -> String {
    format!(
        "{}/reports?from={}&to={}",
        base_url.trim_end_matches('/'),
        term.first_day(),
        term.last_day()
    )
}

/// The payload of the `termly_digest` email (see `email-templates/README.md`), without the
/// recipient's name: `engagement` is the term's engagement report grouped by school (for the
/// totals and the cold spots), `impact` its impact report grouped by course.
pub fn payload(
    term: &Term,
    engagement: &EngagementReport,
    impact: &ImpactReport,
    base_url: &str,
) -> Digest {
    let headline = summary::headline(&engagement.totals);
    let cold = summary::cold_spots_by_cluster(engagement.cold_spots.as_deref().unwrap_or(&[]));
    let cold_count: usize = cold.iter().map(|c| c.schools.len()).sum();
    let best = summary::best_rated(&impact.groups, TOP);
    let largest = summary::largest_impact(&impact.groups, TOP);
    Digest {
        person_name: None,
        term_key: term.key(),
        term_label: term.label(),
        from: term.first_day(),
        to: term.last_day(),
        from_display: summary::long_date(term.first_day()),
        to_display: summary::long_date(term.last_day()),
        dashboard_url: dashboard_url(base_url, term),
        min_responses: engagement.min_responses,
        headline: headline
            .iter()
            .map(|f| DigestFigure {
                key: f.key.to_string(),
                label: f.label.to_string(),
                value: f.value.clone(),
                detail: f.detail.clone(),
            })
            .collect(),
        cold_spot_count: cold_count,
        cold_spots: cold
            .iter()
            .map(|c| DigestCluster {
                cluster: c.cluster.clone(),
                schools: c
                    .schools
                    .iter()
                    .map(|s| DigestSchool {
                        name: s.name.clone(),
                        last_booked: s.last_booked.clone(),
                    })
                    .collect(),
            })
            .collect(),
        best_rated: best
            .iter()
            .map(|c| DigestRated {
                title: c.title.clone(),
                satisfaction: c.satisfaction_text.clone(),
                respondents: c.respondents,
            })
            .collect(),
        largest_impact: largest
            .iter()
            .map(|c| DigestImpact {
                title: c.title.clone(),
                impact_rate: c.impact_rate_text.clone(),
                impact_respondents: c.impact_respondents,
                confidence_shift: c.confidence_shift_text.clone(),
                confidence_respondents: c.confidence_respondents,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn the_link_opens_the_dashboard_on_the_term() {
        let t = Term::of_date(NaiveDate::from_ymd_opt(2026, 10, 1).unwrap());
        assert_eq!(
            dashboard_url("https://cpd.example.org/", &t),
            "https://cpd.example.org/reports?from=2026-09-01&to=2026-12-31"
        );
        let digest: Digest = serde_json::from_value(serde_json::json!({
            "person_name": null, "term_key": "2026-27-autumn", "term_label": "Autumn 2026/27",
            "from": "2026-09-01", "to": "2026-12-31", "from_display": "1 September 2026",
            "to_display": "31 December 2026", "dashboard_url": "x", "min_responses": 5,
            "headline": [], "cold_spot_count": 0, "cold_spots": [], "best_rated": [],
            "largest_impact": [],
        }))
        .unwrap();
        let named = digest.addressed(Some("Jo"));
        assert_eq!(named.person_name.as_deref(), Some("Jo"));
        assert_eq!(named.term_key, "2026-27-autumn");
    }
}
