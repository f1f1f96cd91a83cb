//! The termly digest: what the CPD Working Group and the Networking Group are emailed after
//! each term (headline figures, cold spots by cluster, best-rated courses, largest impact and a
//! link to the dashboard), as the `termly_digest` email template's payload.

use serde_json::{json, Value};

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
) -> Value {
    let min = engagement.min_responses;
    let headline = summary::headline(&engagement.totals);
    let cold = summary::cold_spots_by_cluster(engagement.cold_spots.as_deref().unwrap_or(&[]));
    let cold_count: usize = cold.iter().map(|c| c.schools.len()).sum();
    let best = summary::best_rated(&impact.groups, TOP);
    let largest = summary::largest_impact(&impact.groups, TOP);
    json!({
        "person_name": null,
        "term_key": term.key(),
        "term_label": term.label(),
        "from": term.first_day().to_string(),
        "to": term.last_day().to_string(),
        "from_display": summary::long_date(term.first_day()),
        "to_display": summary::long_date(term.last_day()),
        "dashboard_url": dashboard_url(base_url, term),
        "min_responses": min,
        "headline": headline.iter().map(|f| json!({
            "key": f.key,
            "label": f.label,
            "value": f.value,
            "detail": f.detail,
        })).collect::<Vec<_>>(),
        "cold_spot_count": cold_count,
        "cold_spots": cold.iter().map(|c| json!({
            "cluster": c.cluster,
            "schools": c.schools.iter().map(|s| json!({
                "name": s.name,
                "last_booked": s.last_booked,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "best_rated": best.iter().map(|c| json!({
            "title": c.title,
            "satisfaction": c.satisfaction_text,
            "respondents": c.respondents,
        })).collect::<Vec<_>>(),
        "largest_impact": largest.iter().map(|c| json!({
            "title": c.title,
            "impact_rate": c.impact_rate_text,
            "impact_respondents": c.impact_respondents,
            "confidence_shift": c.confidence_shift_text,
            "confidence_respondents": c.confidence_respondents,
        })).collect::<Vec<_>>(),
    })
}

/// The payload addressed to one person (`person_name` filled in when known).
pub fn addressed(mut payload: Value, person_name: Option<&str>) -> Value {
    if let Some(o) = payload.as_object_mut() {
        o.insert("person_name".into(), json!(person_name));
    }
    payload
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
        let named = addressed(json!({"person_name": null, "x": 1}), Some("Jo"));
        assert_eq!(named["person_name"], "Jo");
        assert_eq!(named["x"], 1);
    }
}
