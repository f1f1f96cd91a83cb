//! The admin's audit log page: its filters (action, who, the record, from, to) narrow the
//! list, and for each the page lists exactly the entries the API does, newest first; a date
//! that cannot be read is named on the form.

use chrono::NaiveDate;
use reqwest::Method;
use serde_json::json;

use crate::browser::web_session_cookie;
use crate::helpers::{as_browser, page_text, TestApp};

/// Entry ids in the page's table, top to bottom.
fn page_ids(html: &str) -> Vec<String> {
    html.split("<tr id=\"entry-")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_string())
        .collect()
}

crate::both_backends! {
    async fn audit_page_filters_match_the_api(app: TestApp) {
        use cpd_hub::db::schema::audit_log;
        use diesel::prelude::*;
        let admin_id = app.admin_id();
        let other = app.create_person("other.admin@alliance.test", "Ola Admin", None, &[]);
        let at = |d: u32, h: u32| {
            NaiveDate::from_ymd_opt(2026, 10, d).unwrap().and_hms_opt(h, 0, 0).unwrap()
        };
        // (action, actor, subject, when)
        let rows = vec![
            ("role.grant", Some(admin_id.clone()), Some("p-1"), at(1, 9)),
            ("role.grant", Some(other.clone()), Some("p-2"), at(3, 9)),
            ("person.erase", Some(admin_id.clone()), Some("p-1"), at(5, 23)),
            ("outbox.retry", Some(other.clone()), Some("m-1"), at(6, 0)),
            ("schools.import", None, None, at(9, 12)),
        ];
        app.with_db(move |conn| {
            for (n, (action, actor, subject, when)) in rows.into_iter().enumerate() {
                diesel::insert_into(audit_log::table)
                    .values((
                        audit_log::id.eq(format!("audit-{n}")),
                        audit_log::at.eq(when),
                        audit_log::actor_id.eq(actor),
                        audit_log::action.eq(action),
                        audit_log::subject_type.eq("person"),
                        audit_log::subject_id.eq(subject),
                        audit_log::detail.eq(json!({"n": n}).to_string()),
                    ))
                    .execute(conn)
                    .unwrap();
            }
        })
        .await;
        let cookie = web_session_cookie(&app, &admin_id).await;
        let from_to = "from=2026-10-01&to=2026-10-31";
        for (query, expected) in [
            (from_to.to_string(), 5),
            (format!("action=role.grant&{from_to}"), 2),
            (format!("actor_id={admin_id}&{from_to}"), 2),
            ("subject_id=p-1".to_string(), 2),
            ("from=2026-10-03&to=2026-10-05".to_string(), 2),
            ("from=2026-10-06&to=2026-10-06".to_string(), 1),
            (format!("action=role.grant&actor_id={other}"), 1),
            ("action=nothing.like.this".to_string(), 0),
        ] {
            let api = app.admin_get(&format!("/api/v1/admin/audit?{query}&limit=1000")).await;
            let want: Vec<String> = api["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_str().unwrap().to_string())
                .collect();
            assert_eq!(want.len(), expected, "API {query}: {api}");
            let html = page_text(&app, &format!("/admin/audit?{query}"), Some(&cookie)).await;
            assert_eq!(page_ids(&html), want, "page {query}");
            // The form shows the filters back.
            if let Some(action) = query.strip_prefix("action=") {
                let action = action.split('&').next().unwrap();
                assert!(html.contains(&format!("value=\"{action}\"")), "{query}");
            }
        }
        // Newest first.
        let html = page_text(&app, &format!("/admin/audit?{from_to}"), Some(&cookie)).await;
        assert_eq!(page_ids(&html), ["audit-4", "audit-3", "audit-2", "audit-1", "audit-0"]);

        // A date that cannot be read, or a range that ends before it starts, is named.
        for (query, says) in [
            ("from=yesterday", "From: must be a date"),
            ("from=2026-10-05&to=2026-10-01", "To: must be after from"),
        ] {
            let r = as_browser(&app, Method::GET, &format!("/admin/audit?{query}"), Some(&cookie))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 422, "{query}");
            let text = r.text().await.unwrap();
            assert!(text.contains(says), "{query}: {text}");
            assert!(page_ids(&text).is_empty());
        }
    }
}
