//! Erasure (UK GDPR) and the free text written about a person: booking reasons, register
//! notes, and the same text in the append-only histories, which allow exactly that change.

use cpd_hub::domain::roles::Role;
use serde_json::{json, Value};

use crate::booking_support::*;
use crate::both_backends;
use crate::calendar_support::cal_db;
use crate::helpers::{expect_json, TestApp};

/// The phrases typed about Erin in the test; none may be left anywhere after her erasure.
const ABOUT_ERIN: [&str; 4] = [
    "hospital appointment",
    "signed off sick",
    "on a support plan",
    "carer for her mother",
];

async fn session_of(app: &TestApp, course: &str) -> String {
    bk_course_get(app, course).await["sessions"][0]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn reasons(booking: &Value) -> Vec<Value> {
    booking["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["reason"].clone())
        .collect()
}

both_backends! {
    async fn erasure_clears_the_free_text_about_the_person(app: TestApp) {
        let w = bk_world(&app).await;
        let trainer = bk_person(&app, "Tess Trainer", None, None, &[Role::CourseLead]).await;
        let led = |b: &mut Value| b["lead_ids"] = json!([trainer.id]);
        let attended = bk_course(&app, &w, "Attended", 5, led).await;
        let cancelled = bk_course(&app, &w, "Cancelled", 5, |_| {}).await;
        let asked = bk_course(&app, &w, "Asked", 5, |b| b["requires_approval"] = json!(true)).await;
        let erin = bk_person(&app, "Erin Erased", Some(&w.school_a), None, &[]).await;
        let kept = bk_person(&app, "Kit Kept", Some(&w.school_a), None, &[]).await;

        // A register with notes about Erin (two changes) and about Kit.
        let e_att = bk_book_ok(&app, &attended, &erin).await["id"].as_str().unwrap().to_string();
        let k_att = bk_book_ok(&app, &attended, &kept).await["id"].as_str().unwrap().to_string();
        let session = session_of(&app, &attended).await;
        // The session is on now: a register opens with check-in.
        let start = chrono::Utc::now() - chrono::Duration::minutes(10);
        crate::attendance::att_move(&app, &session, start, 120).await;
        let put = |body: Value| {
            let (app, session, trainer) = (&app, session.clone(), &trainer);
            async move {
                let path = format!("/api/v1/sessions/{session}/attendance");
                expect_json(app.request(reqwest::Method::PUT, &path, trainer.t(), Some(&body)).await, 200).await
            }
        };
        put(json!([
            {"booking_id": e_att, "status": "left_early", "note": "Left for a hospital appointment"},
            {"booking_id": k_att, "status": "late", "note": "Train delayed"},
        ])).await;
        put(json!([{"booking_id": e_att, "status": "absent", "note": "Is a carer for her mother"}])).await;
        // Erin cancels one booking with a reason, Kit too; a lead declines Erin's request.
        let e_can = bk_book_ok(&app, &cancelled, &erin).await["id"].as_str().unwrap().to_string();
        let k_can = bk_book_ok(&app, &cancelled, &kept).await["id"].as_str().unwrap().to_string();
        for (id, who, reason) in [(&e_can, &erin, "I am signed off sick"), (&k_can, &kept, "Ofsted visit")] {
            expect_json(app.post(&format!("/api/v1/bookings/{id}/cancel"), who.t(), &json!({"reason": reason})).await, 200).await;
        }
        let e_ask = bk_book_ok(&app, &asked, &erin).await["id"].as_str().unwrap().to_string();
        expect_json(app.post(&format!("/api/v1/bookings/{e_ask}/decline"), w.lead_a.t(),
            &json!({"reason": "Erin is on a support plan this term"})).await, 200).await;
        // Before: the text is there.
        assert_eq!(bk_get(&app, &e_can).await["cancel_reason"], "I am signed off sick");

        let r = app.delete(&format!("/api/v1/people/{}", erin.id), Some(&app.admin_token)).await;
        assert_eq!(r.status(), 204);

        // Her bookings keep their facts and the service's own words; what was typed is gone.
        let can = bk_get(&app, &e_can).await;
        assert_eq!((can["status"].as_str(), can["cancel_reason"].clone()), (Some("cancelled"), Value::Null));
        assert_eq!(reasons(&can), vec![json!("booked"), json!("[erased]")]);
        let ask = bk_get(&app, &e_ask).await;
        assert_eq!((ask["status"].as_str(), ask["decline_reason"].clone()), (Some("declined"), Value::Null));
        assert_eq!(reasons(&ask), vec![json!("requested; waits for approval"), json!("[erased]")]);
        // Her marks stay (reports count them), without the notes.
        let reg = expect_json(app.get(&format!("/api/v1/sessions/{session}/register"), trainer.t()).await, 200).await;
        let item = |id: &str| reg["items"].as_array().unwrap().iter().find(|i| i["booking_id"] == id).unwrap().clone();
        assert_eq!((item(&e_att)["status"].as_str(), item(&e_att)["note"].clone()), (Some("absent"), Value::Null));
        assert_eq!(item(&k_att)["note"], "Train delayed");
        let hist = expect_json(app.get(&format!("/api/v1/sessions/{session}/attendance-history"), trainer.t()).await, 200).await;
        let notes: Vec<(Value, Value, Value)> = hist["items"].as_array().unwrap().iter()
            .map(|h| (h["booking_id"].clone(), h["to"].clone(), h["note"].clone())).collect();
        assert_eq!(notes.len(), 3, "{hist}");
        for (booking, to, note) in &notes {
            if booking == &json!(e_att) {
                assert_eq!(note, "[erased]", "{to}");
            } else {
                assert_eq!(note, "Train delayed");
            }
        }
        // Kit's reason is untouched.
        let k = bk_get(&app, &k_can).await;
        assert_eq!(k["cancel_reason"], "Ofsted visit");
        assert_eq!(reasons(&k), vec![json!("booked"), json!("Ofsted visit")]);
        // Nowhere in those tables is any of it left.
        for phrase in ABOUT_ERIN {
            for (table, column) in [("bookings", "cancel_reason"), ("bookings", "decline_reason"), ("booking_history", "reason"),
                                    ("attendance", "note"), ("attendance_history", "note")] {
                let sql = format!("SELECT COUNT(*) AS n FROM {table} WHERE LOWER({column}) LIKE '%{phrase}%'");
                assert_eq!(bk_count(&app, &sql).await, 0, "{phrase:?} left in {table}.{column}");
            }
        }

        // The histories stay append-only: only that one change is allowed, and only for an
        // erased person's bookings.
        let (e_can2, k_can2, e_att2, k_att2) = (e_can.clone(), k_can.clone(), e_att.clone(), k_att.clone());
        let refused = cal_db(&app, move |conn| {
            use diesel::RunQueryDsl;
            [
                format!("UPDATE booking_history SET reason = 'edited' WHERE booking_id = '{e_can2}'"),
                format!("UPDATE booking_history SET reason = '[erased]' WHERE booking_id = '{k_can2}'"),
                format!("UPDATE booking_history SET reason = '[erased]', to_status = 'confirmed' WHERE booking_id = '{e_can2}'"),
                format!("DELETE FROM booking_history WHERE booking_id = '{e_can2}'"),
                format!("UPDATE attendance_history SET note = 'edited' WHERE booking_id = '{e_att2}'"),
                format!("UPDATE attendance_history SET note = '[erased]' WHERE booking_id = '{k_att2}'"),
                format!("UPDATE attendance_history SET note = '[erased]', to_status = 'present' WHERE booking_id = '{e_att2}'"),
                format!("DELETE FROM attendance_history WHERE booking_id = '{e_att2}'"),
            ]
            .into_iter()
            .map(|sql| (sql.clone(), diesel::sql_query(sql).execute(conn).map_err(|e| e.to_string())))
            .collect::<Vec<_>>()
        })
        .await;
        for (sql, result) in refused {
            assert!(result.as_ref().is_err_and(|e| e.contains("append-only")), "{sql}: {result:?}");
        }
        assert_eq!(reasons(&bk_get(&app, &k_can).await), vec![json!("booked"), json!("Ofsted visit")]);
    }
}
