//! Bookings through the API: places, waiting lists, refusals, approvals, per-school caps,
//! cancellations, promotion, history, overrides, idempotency and who sees what.

use std::time::Duration;

use cpd_hub::domain::roles::Role;
use serde_json::{json, Value};

use crate::booking_support::*;
use crate::both_backends;
use crate::calendar_support::{cal_course, cal_create, cal_db};
use crate::helpers::{expect_json, expect_problem, spawn_app_with, Backend, TestApp};

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

fn statuses(history: &Value) -> Vec<(Value, Value)> {
    history
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["from"].clone(), h["to"].clone()))
        .collect()
}

both_backends! {
    async fn places_then_waiting_list(app: TestApp) {
        let w = bk_world(&app).await;
        let course = bk_course(&app, &w, "Adaptive teaching", 2, |b| b["price_pence"] = json!(4500)).await;
        let people = bk_people(&app, 4, "Staff", &[&w.school_a, &w.school_b]).await;

        let b0 = bk_book_ok(&app, &course, &people[0]).await;
        assert_eq!(b0["status"], "confirmed");
        assert_eq!(b0["course_id"], course.as_str());
        assert_eq!(b0["person_id"], people[0].id.as_str());
        assert_eq!(b0["school_id"], w.school_a.as_str());
        assert_eq!(b0["staff_group_id"], Value::Null);
        assert_eq!(b0["waitlist_position"], Value::Null);
        assert_eq!(b0["price_pence"], 4500);
        let b1 = bk_book_ok(&app, &course, &people[1]).await;
        assert_eq!(b1["status"], "confirmed");
        assert_eq!(b1["school_id"], w.school_b.as_str());
        let b2 = bk_book_ok(&app, &course, &people[2]).await;
        assert_eq!((b2["status"].as_str(), b2["waitlist_position"].as_i64()), (Some("waitlisted"), Some(1)));
        let b3 = bk_book_ok(&app, &course, &people[3]).await;
        assert_eq!((b3["status"].as_str(), b3["waitlist_position"].as_i64()), (Some("waitlisted"), Some(2)));

        // The calendar shows real places and the waiting list.
        let c = bk_course_get(&app, &course).await;
        assert_eq!((c["places_left"].as_i64(), c["waitlist_length"].as_i64()), (Some(0), Some(2)));
        let list = app.get("/api/v1/courses", None).await;
        let list = expect_json(list, 200).await;
        let item = list["items"].as_array().unwrap().iter().find(|i| i["id"] == course.as_str()).unwrap().clone();
        assert_eq!((item["places_left"].as_i64(), item["waitlist_length"].as_i64()), (Some(0), Some(2)));

        // Each person is told where they stand, with what the email templates print.
        let outbox = bk_outbox(&app).await;
        let kinds: Vec<&str> = outbox.iter().map(|(k, _, _, _)| k.as_str()).collect();
        assert_eq!(kinds, vec!["booking_confirmed", "booking_confirmed", "booking_waitlisted", "booking_waitlisted"]);
        let (_, to, subject, payload) = &outbox[0];
        assert_eq!(to.as_deref(), Some(people[0].id.as_str()));
        assert_eq!(subject.as_deref(), Some(id(&b0).as_str()));
        assert_eq!(payload["person_name"], "Staff 0");
        assert_eq!(payload["course_title"], "Adaptive teaching");
        assert!(payload["course_url"].as_str().unwrap().ends_with(&format!("/courses/{course}")));
        assert_eq!(payload["sessions"][0]["venue"], "Barnsley Teaching Hub, Church Street, Barnsley S70 2HZ");
        assert_eq!(payload["ics"]["method"], "PUBLISH");
        assert_eq!(outbox[3].3["position"], 2);

        // The school is snapshotted: moving the person later does not rewrite the booking.
        let (pid, school_c) = (people[0].id.clone(), w.school_c.clone());
        cal_db(&app, move |conn| {
            use cpd_hub::db::schema::people;
            use diesel::prelude::*;
            diesel::update(people::table.find(pid)).set(people::school_id.eq(Some(school_c))).execute(conn).unwrap();
        }).await;
        let got = bk_get(&app, &id(&b0)).await;
        assert_eq!(got["school_id"], w.school_a.as_str());
        assert_eq!(statuses(&got["history"]), vec![(Value::Null, json!("confirmed"))]);
        assert_eq!(got["history"][0]["actor_id"], people[0].id.as_str());
        assert_eq!(bk_get(&app, &id(&b3)).await["waitlist_position"], 2);
        bk_check_invariants(&app, &[course]).await;
    }
}

both_backends! {
    async fn refusals_have_codes(app: TestApp) {
        let w = bk_world(&app).await;
        let senco = w.fx.group("senco");
        let teacher = w.fx.group("teacher");
        let me = bk_person(&app, "Tara Teacher", Some(&w.school_a), Some(&teacher), &[]).await;
        let admin = Who { id: String::new(), token: app.admin_token.clone() };

        let expect_code = |code: &'static str| move |v: Value| {
            assert_eq!(v["code"], code, "{v}");
            assert!(v["detail"].as_str().unwrap().ends_with('.'), "{v}");
        };
        // A draft: not published (even for an admin override).
        let draft = id(&cal_create(&app, cal_course(&w.fx, "Draft", vec![session_in(30)])).await);
        expect_code("course_not_published")(expect_problem(bk_book(&app, &draft, &me, json!({})).await, 409, None).await);
        expect_code("course_not_published")(expect_problem(bk_book(&app, &draft, &admin, json!({"person_id": me.id, "override": true})).await, 409, None).await);
        // Cancelled.
        let gone = bk_course(&app, &w, "Gone", 10, |_| {}).await;
        expect_json(app.post(&format!("/api/v1/courses/{gone}/cancel"), Some(&app.admin_token), &json!({"reason": "Trainer ill"})).await, 200).await;
        expect_code("course_cancelled")(expect_problem(bk_book(&app, &gone, &me, json!({})).await, 409, None).await);
        // Not open yet, closed.
        let later = bk_course(&app, &w, "Later", 10, |b| b["booking_opens"] = json!(days_from_now(5))).await;
        expect_code("booking_not_open")(expect_problem(bk_book(&app, &later, &me, json!({})).await, 409, None).await);
        let closed = bk_course(&app, &w, "Closed", 10, |b| b["booking_closes"] = json!(days_from_now(-1))).await;
        expect_code("booking_closed")(expect_problem(bk_book(&app, &closed, &me, json!({})).await, 409, None).await);
        let past = bk_course(&app, &w, "Past", 10, |b| b["sessions"] = json!([session_in(-3)])).await;
        expect_code("booking_closed")(expect_problem(bk_book(&app, &past, &me, json!({})).await, 409, None).await);
        // Targeted at other staff groups and phases.
        let sencos = bk_course(&app, &w, "For SENCOs", 10, |b| b["staff_group_ids"] = json!([senco])).await;
        expect_code("staff_group_not_targeted")(expect_problem(bk_book(&app, &sencos, &me, json!({})).await, 409, None).await);
        // Booking as another staff group the person holds works.
        let as_senco = expect_json(bk_book(&app, &sencos, &me, json!({"staff_group_id": senco})).await, 201).await;
        assert_eq!(as_senco["staff_group_id"], senco.as_str());
        let secondary = bk_course(&app, &w, "Secondary only", 10, |b| b["phases"] = json!(["secondary"])).await;
        expect_code("phase_not_targeted")(expect_problem(bk_book(&app, &secondary, &me, json!({})).await, 409, None).await);
        // Already booked.
        let open = bk_course(&app, &w, "Open", 10, |_| {}).await;
        bk_book_ok(&app, &open, &me).await;
        expect_code("already_booked")(expect_problem(bk_book(&app, &open, &me, json!({})).await, 409, None).await);
        // Bad input names the field; unknown course is 404; no token is 401.
        expect_problem(bk_book(&app, &open, &me, json!({"staff_group_id": "nope"})).await, 422, Some("staff_group_id")).await;
        expect_problem(bk_book(&app, &open, &me, json!({"colour": "red"})).await, 422, None).await;
        expect_problem(bk_book(&app, &open, &me, json!({"override": "yes"})).await, 422, Some("override")).await;
        expect_problem(bk_book(&app, "nope", &me, json!({})).await, 404, None).await;
        expect_problem(app.post(&format!("/api/v1/courses/{open}/bookings"), None, &json!({})).await, 401, None).await;
        let r = app.client.post(format!("{}/api/v1/courses/{open}/bookings", app.address))
            .bearer_auth(&me.token).header("content-type", "text/plain").body("x").send().await.unwrap();
        expect_problem(r, 415, None).await;
        // The refusals created nothing.
        assert_eq!(bk_count(&app, "SELECT COUNT(*) AS n FROM bookings").await, 2);
    }
}

both_backends! {
    async fn who_may_book_for_whom(app: TestApp) {
        let w = bk_world(&app).await;
        let course = bk_course(&app, &w, "Phonics", 10, |_| {}).await;
        let a1 = bk_person(&app, "Amy", Some(&w.school_a), None, &[]).await;
        let a2 = bk_person(&app, "Alf", Some(&w.school_a), None, &[]).await;
        let b1 = bk_person(&app, "Ben", Some(&w.school_b), None, &[]).await;
        // A school lead books for their own school's staff.
        let by_lead = expect_json(bk_book(&app, &course, &w.lead_a, json!({"person_id": a1.id})).await, 201).await;
        assert_eq!(by_lead["person_id"], a1.id.as_str());
        // ...but not for another school's, and staff not for colleagues: 404, they may not see them.
        expect_problem(bk_book(&app, &course, &w.lead_a, json!({"person_id": b1.id})).await, 404, None).await;
        expect_problem(bk_book(&app, &course, &a2, json!({"person_id": b1.id})).await, 404, None).await;
        expect_problem(bk_book(&app, &course, &a1, json!({"person_id": "nobody"})).await, 404, None).await;
        // Overrides are for admins.
        let p = expect_problem(bk_book(&app, &course, &w.lead_a, json!({"person_id": a2.id, "override": true})).await, 403, None).await;
        assert!(p["detail"].as_str().unwrap().contains("admin"));
        expect_problem(bk_book(&app, &course, &a2, json!({"walk_in": true})).await, 403, None).await;
        // An admin books anyone.
        let admin = Who { id: String::new(), token: app.admin_token.clone() };
        let by_admin = expect_json(bk_book(&app, &course, &admin, json!({"person_id": b1.id})).await, 201).await;
        assert_eq!(by_admin["status"], "confirmed");
        let got = bk_get(&app, &id(&by_lead)).await;
        assert_eq!(got["created_by"], w.lead_a.id.as_str());
        assert_eq!(bk_count(&app, "SELECT COUNT(*) AS n FROM bookings").await, 2);
    }
}

both_backends! {
    async fn approvals_place_by_original_request_time(app: TestApp) {
        let w = bk_world(&app).await;
        let course = bk_course(&app, &w, "Leadership", 1, |b| b["requires_approval"] = json!(true)).await;
        let a1 = bk_person(&app, "Ann", Some(&w.school_a), None, &[]).await;
        let b1 = bk_person(&app, "Bea", Some(&w.school_b), None, &[]).await;
        let b2 = bk_person(&app, "Bill", Some(&w.school_b), None, &[]).await;
        let r_a1 = bk_book_ok(&app, &course, &a1).await;
        let r_b1 = bk_book_ok(&app, &course, &b1).await;
        let r_b2 = bk_book_ok(&app, &course, &b2).await;
        for r in [&r_a1, &r_b1, &r_b2] {
            assert_eq!(r["status"], "pending_approval");
            assert_eq!(r["waitlist_position"], Value::Null);
        }
        // A request holds no place.
        assert_eq!(bk_course_get(&app, &course).await["places_left"], 1);
        // Each school's lead is asked.
        let asked: Vec<(String, Option<String>, Value)> = bk_outbox(&app).await.into_iter()
            .filter(|(k, _, _, _)| k == "approval_requested")
            .map(|(_, to, s, p)| (s.unwrap(), to, p)).collect();
        assert_eq!(asked.len(), 3);
        assert_eq!(asked[0].0, id(&r_a1));
        assert_eq!(asked[0].1.as_deref(), Some(w.lead_a.id.as_str()));
        assert_eq!(asked[0].2["requester_name"], "Ann");
        assert_eq!(asked[0].2["school_name"], "Hoyland Common Primary");
        assert_eq!(asked[1].1.as_deref(), Some(w.lead_b.id.as_str()));

        // Only the own school's lead (or an admin) decides: 404 for what one may not see,
        // 403 for one's own request.
        expect_problem(app.post(&format!("/api/v1/bookings/{}/approve", id(&r_b1)), w.lead_a.t(), &json!({})).await, 404, None).await;
        expect_problem(app.post(&format!("/api/v1/bookings/{}/approve", id(&r_a1)), a1.t(), &json!({})).await, 403, None).await;

        // Lead B approves Bill then Bea at once: Bea asked first, so she gets the place and
        // Bill waits.
        let both = expect_json(app.post("/api/v1/bookings/approve", w.lead_b.t(),
            &json!({"booking_ids": [id(&r_b2), id(&r_b1)]})).await, 200).await;
        assert_eq!(both["total"], 2);
        assert_eq!(both["items"][0]["id"], id(&r_b2).as_str());
        assert_eq!((both["items"][0]["status"].as_str(), both["items"][0]["waitlist_position"].as_i64()), (Some("waitlisted"), Some(1)));
        assert_eq!(both["items"][1]["status"], "confirmed");
        // Lead A approves Ann, who asked before Bill: she goes ahead of him in the queue.
        let ann = expect_json(app.post(&format!("/api/v1/bookings/{}/approve", id(&r_a1)), w.lead_a.t(), &json!({})).await, 200).await;
        assert_eq!((ann["status"].as_str(), ann["waitlist_position"].as_i64()), (Some("waitlisted"), Some(1)));
        assert_eq!(bk_get(&app, &id(&r_b2)).await["waitlist_position"], 2);
        // Approving again: not pending.
        let p = expect_problem(app.post(&format!("/api/v1/bookings/{}/approve", id(&r_a1)), w.lead_a.t(), &json!({})).await, 409, None).await;
        assert_eq!(p["code"], "not_pending");
        // Bea's place frees: Ann (earlier request) is promoted, not Bill.
        expect_json(app.post(&format!("/api/v1/bookings/{}/cancel", id(&r_b1)), b1.t(), &json!({})).await, 200).await;
        assert_eq!(bk_get(&app, &id(&r_a1)).await["status"], "confirmed");
        assert_eq!(bk_get(&app, &id(&r_b2)).await["waitlist_position"], 1);
        let about_ann = bk_messages_about(&app, &id(&r_a1)).await;
        assert_eq!(about_ann, vec!["approval_requested", "booking_waitlisted", "booking_promoted"]);
        let hist = bk_get(&app, &id(&r_a1)).await["history"].clone();
        assert_eq!(statuses(&hist), vec![
            (Value::Null, json!("pending_approval")),
            (json!("pending_approval"), json!("waitlisted")),
            (json!("waitlisted"), json!("confirmed")),
        ]);
        assert_eq!(hist[1]["actor_id"], w.lead_a.id.as_str());
        assert_eq!(hist[1]["reason"], "approved");
        assert_eq!(hist[2]["actor_id"], b1.id.as_str());
        bk_check_invariants(&app, &[]).await;
    }
}

both_backends! {
    async fn declines_and_bulk_is_all_or_none(app: TestApp) {
        let w = bk_world(&app).await;
        let course = bk_course(&app, &w, "Wellbeing", 5, |b| b["requires_approval"] = json!(true)).await;
        let people = bk_people(&app, 3, "Staff", &[&w.school_a]).await;
        let mut ids = Vec::new();
        for p in &people {
            ids.push(id(&bk_book_ok(&app, &course, p).await));
        }
        // One declined alone, with the reason the person is told.
        expect_problem(app.post(&format!("/api/v1/bookings/{}/decline", ids[0]), w.lead_a.t(), &json!({})).await, 422, Some("reason")).await;
        let d = expect_json(app.post(&format!("/api/v1/bookings/{}/decline", ids[0]), w.lead_a.t(),
            &json!({"reason": "Two colleagues already went this term."})).await, 200).await;
        assert_eq!(d["status"], "declined");
        assert_eq!(d["decline_reason"], "Two colleagues already went this term.");
        let declined: Vec<Value> = bk_outbox(&app).await.into_iter().filter(|(k, _, _, _)| k == "booking_declined").map(|(_, _, _, p)| p).collect();
        assert_eq!(declined.len(), 1);
        assert_eq!(declined[0]["reason"], "Two colleagues already went this term.");
        // A bulk decline including the declined one changes nothing.
        let p = expect_problem(app.post("/api/v1/bookings/decline", w.lead_a.t(),
            &json!({"booking_ids": [ids[1], ids[0]], "reason": "No cover"})).await, 409, None).await;
        assert_eq!(p["code"], "not_active");
        assert!(p["detail"].as_str().unwrap().contains(&ids[0]));
        assert_eq!(bk_get(&app, &ids[1]).await["status"], "pending_approval");
        // A bulk request with an unknown id is 404 and changes nothing.
        expect_problem(app.post("/api/v1/bookings/approve", w.lead_a.t(), &json!({"booking_ids": [ids[1], "nope"]})).await, 404, None).await;
        assert_eq!(bk_get(&app, &ids[1]).await["status"], "pending_approval");
        expect_problem(app.post("/api/v1/bookings/approve", w.lead_a.t(), &json!({"booking_ids": []})).await, 422, Some("booking_ids")).await;
        // Then both at once.
        let both = expect_json(app.post("/api/v1/bookings/decline", w.lead_a.t(),
            &json!({"booking_ids": [ids[1], ids[2]], "reason": "No cover"})).await, 200).await;
        assert_eq!(both["items"][0]["status"], "declined");
        assert_eq!(both["items"][1]["status"], "declined");
        // Declined people may book again.
        assert_eq!(bk_book_ok(&app, &course, &people[0]).await["status"], "pending_approval");
        bk_check_invariants(&app, &[]).await;
    }
}

both_backends! {
    async fn bulk_decisions_keep_their_reason(app: TestApp) {
        let w = bk_world(&app).await;
        let course = bk_course(&app, &w, "Phonics", 5, |b| b["requires_approval"] = json!(true)).await;
        let people = bk_people(&app, 4, "Staff", &[&w.school_a]).await;
        let mut ids = Vec::new();
        for p in &people {
            ids.push(id(&bk_book_ok(&app, &course, p).await));
        }
        // A bulk decline needs a reason, as a single one does (the people are told it); a
        // refused one declines nothing and tells no one.
        for body in [
            json!({"booking_ids": [ids[0], ids[1]]}),
            json!({"booking_ids": [ids[0], ids[1]], "reason": "   "}),
        ] {
            expect_problem(app.post("/api/v1/bookings/decline", w.lead_a.t(), &body).await, 422, Some("reason")).await;
        }
        expect_problem(app.post(&format!("/api/v1/bookings/{}/decline", ids[0]), w.lead_a.t(),
            &json!({"reason": "   "})).await, 422, Some("reason")).await;
        for i in &ids {
            assert_eq!(bk_get(&app, i).await["status"], "pending_approval");
        }
        let declined = bk_outbox(&app).await.into_iter().filter(|(k, _, _, _)| k == "booking_declined").count();
        assert_eq!(declined, 0);

        // A bulk approval keeps its reason in each booking's history, as one approval does.
        let both = expect_json(app.post("/api/v1/bookings/approve", w.lead_a.t(),
            &json!({"booking_ids": [ids[0], ids[1]], "reason": "Covered by the supply budget"})).await, 200).await;
        assert_eq!(both["total"], 2);
        for i in &ids[..2] {
            let hist = bk_get(&app, i).await["history"].clone();
            assert_eq!(statuses(&hist)[1], (json!("pending_approval"), json!("confirmed")));
            assert_eq!(hist[1]["reason"], "Covered by the supply budget");
            assert_eq!(hist[1]["actor_id"], w.lead_a.id.as_str());
        }
        expect_json(app.post(&format!("/api/v1/bookings/{}/approve", ids[2]), w.lead_a.t(),
            &json!({"reason": "Part of the SEND plan"})).await, 200).await;
        assert_eq!(bk_get(&app, &ids[2]).await["history"][1]["reason"], "Part of the SEND plan");

        // A bulk decline with its reason: in the history and in the email.
        expect_json(app.post("/api/v1/bookings/decline", w.lead_a.t(),
            &json!({"booking_ids": [ids[3]], "reason": "No cover that week"})).await, 200).await;
        let hist = bk_get(&app, &ids[3]).await["history"].clone();
        assert_eq!(statuses(&hist)[1], (json!("pending_approval"), json!("declined")));
        assert_eq!(hist[1]["reason"], "No cover that week");
        let told: Vec<Value> = bk_outbox(&app).await.into_iter().filter(|(k, _, _, _)| k == "booking_declined").map(|(_, _, _, p)| p).collect();
        assert_eq!(told.len(), 1);
        assert_eq!(told[0]["reason"], "No cover that week");
        bk_check_invariants(&app, &[]).await;
    }
}

both_backends! {
    async fn overdue_approvals_for_the_lead(app: TestApp) {
        let w = bk_world(&app).await;
        let course = bk_course(&app, &w, "Curriculum", 5, |b| b["requires_approval"] = json!(true)).await;
        let a = bk_people(&app, 2, "Staff A", &[&w.school_a]).await;
        let b = bk_people(&app, 1, "Staff B", &[&w.school_b]).await;
        let old = id(&bk_book_ok(&app, &course, &a[0]).await);
        let new = id(&bk_book_ok(&app, &course, &a[1]).await);
        bk_book_ok(&app, &course, &b[0]).await;
        // Make one request six days old.
        let o = old.clone();
        cal_db(&app, move |conn| {
            use cpd_hub::db::schema::bookings;
            use diesel::prelude::*;
            let six_days_ago = chrono::Utc::now().naive_utc() - chrono::Duration::days(6);
            diesel::update(bookings::table.find(o)).set(bookings::requested_at.eq(six_days_ago)).execute(conn).unwrap();
        }).await;
        // Default: older than APPROVAL_REMINDER_DAYS (5).
        let overdue = expect_json(app.get("/api/v1/bookings/pending", w.lead_a.t()).await, 200).await;
        assert_eq!(overdue["total"], 1);
        assert_eq!(overdue["items"][0]["id"], old.as_str());
        let all = expect_json(app.get("/api/v1/bookings/pending?older_than_days=0", w.lead_a.t()).await, 200).await;
        let got: Vec<&str> = all["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap()).collect();
        assert_eq!(got, vec![old.as_str(), new.as_str()]);
        // The admin sees every school's; staff have none to approve.
        assert_eq!(app.admin_get("/api/v1/bookings/pending?older_than_days=0").await["total"], 3);
        expect_problem(app.get("/api/v1/bookings/pending", a[0].t()).await, 403, None).await;
        expect_problem(app.get("/api/v1/bookings/pending?older_than_days=-1", w.lead_a.t()).await, 422, Some("older_than_days")).await;
    }
}

both_backends! {
    async fn per_school_cap_and_lifting_it(app: TestApp) {
        let w = bk_world(&app).await;
        let course = bk_course(&app, &w, "Fair share", 4, |b| b["per_school_cap"] = json!(1)).await;
        let a = bk_people(&app, 3, "Staff A", &[&w.school_a]).await;
        let b = bk_people(&app, 1, "Staff B", &[&w.school_b]).await;
        let c = bk_people(&app, 1, "Staff C", &[&w.school_c]).await;
        let a0 = bk_book_ok(&app, &course, &a[0]).await;
        assert_eq!(a0["status"], "confirmed");
        // School A holds its cap: waitlisted although places are left.
        let a1 = bk_book_ok(&app, &course, &a[1]).await;
        assert_eq!((a1["status"].as_str(), a1["waitlist_position"].as_i64()), (Some("waitlisted"), Some(1)));
        let b0 = bk_book_ok(&app, &course, &b[0]).await;
        assert_eq!(b0["status"], "confirmed");
        let a2 = bk_book_ok(&app, &course, &a[2]).await;
        assert_eq!(a2["waitlist_position"], 2);
        assert_eq!(bk_book_ok(&app, &course, &c[0]).await["status"], "confirmed");
        assert_eq!(bk_course_get(&app, &course).await["places_left"], 1);
        // A freed place skips school A while the cap applies.
        expect_json(app.post(&format!("/api/v1/bookings/{}/cancel", id(&b0)), b[0].t(), &json!({})).await, 200).await;
        assert_eq!(bk_get(&app, &id(&a1)).await["status"], "waitlisted");
        assert_eq!(bk_course_get(&app, &course).await["places_left"], 2);
        bk_check_invariants(&app, &[]).await;
        // A cap below what a school already holds is refused.
        let path = format!("/api/v1/courses/{course}");
        let t = Some(app.admin_token.as_str());
        // Raising the cap to 2 promotes the first of school A's waiting bookings.
        let r = expect_json(app.patch(&path, t, &json!({"per_school_cap": 2})).await, 200).await;
        assert_eq!(r["places_left"], 1);
        assert_eq!(bk_get(&app, &id(&a1)).await["status"], "confirmed");
        assert_eq!(bk_get(&app, &id(&a2)).await["status"], "waitlisted");
        let p = expect_problem(app.patch(&path, t, &json!({"per_school_cap": 1})).await, 409, None).await;
        assert_eq!(p["code"], "cap_below_school_confirmed");
        // Lifting it by hand promotes the rest in order.
        expect_json(app.patch(&path, t, &json!({"per_school_cap": null})).await, 200).await;
        let promoted = bk_get(&app, &id(&a2)).await;
        assert_eq!(promoted["status"], "confirmed");
        assert_eq!(promoted["history"][1]["reason"], "places freed on the course");
        assert_eq!(bk_messages_about(&app, &id(&a2)).await, vec!["booking_waitlisted", "booking_promoted"]);
        bk_check_invariants(&app, &[]).await;
    }
}

/// The per-school cap lifts by its date: the background job promotes without a request.
mod cap_lifts_by_date {
    use super::*;

    async fn run(app: TestApp) {
        let w = bk_world(&app).await;
        let course = bk_course(&app, &w, "Cap until soon", 3, |b| {
            b["per_school_cap"] = json!(1);
            b["per_school_cap_until"] = json!(days_from_now(10));
        })
        .await;
        let a = bk_people(&app, 3, "Staff A", &[&w.school_a]).await;
        bk_book_ok(&app, &course, &a[0]).await;
        let a1 = id(&bk_book_ok(&app, &course, &a[1]).await);
        let a2 = id(&bk_book_ok(&app, &course, &a[2]).await);
        assert_eq!(bk_get(&app, &a1).await["status"], "waitlisted");
        // The date passes.
        let c = course.clone();
        cal_db(&app, move |conn| {
            use cpd_hub::db::schema::courses;
            use diesel::prelude::*;
            let past = chrono::Utc::now().naive_utc() - chrono::Duration::seconds(1);
            diesel::update(courses::table.find(c))
                .set(courses::per_school_cap_until.eq(Some(past)))
                .execute(conn)
                .unwrap();
        })
        .await;
        let mut waited = 0;
        while bk_get(&app, &a2).await["status"] != "confirmed" {
            waited += 1;
            assert!(waited < 100, "the job did not promote");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let a1 = bk_get(&app, &a1).await;
        assert_eq!(a1["status"], "confirmed");
        assert_eq!(a1["history"][1]["reason"], "per-school cap lifted");
        assert_eq!(a1["history"][1]["actor_id"], Value::Null);
        bk_check_invariants(&app, &[]).await;
    }

    async fn app(backend: Backend) -> Option<TestApp> {
        spawn_app_with(backend, |s| {
            s.booking_jobs_interval = Duration::from_secs(1)
        })
        .await
    }

    crate::both_backends!(app, run);
}

both_backends! {
    async fn cancellation_late_flag_and_permissions(app: TestApp) {
        let w = bk_world(&app).await;
        let course_lead = bk_person(&app, "Cora Courselead", None, None, &[Role::CourseLead]).await;
        let late = bk_course(&app, &w, "Deadline passed", 1, |b| {
            b["cancellation_deadline"] = json!(days_from_now(-1));
            b["lead_ids"] = json!([course_lead.id]);
        }).await;
        let early = bk_course(&app, &w, "Deadline ahead", 5, |b| b["cancellation_deadline"] = json!(days_from_now(10))).await;
        let a = bk_people(&app, 3, "Staff A", &[&w.school_a]).await;
        let b = bk_people(&app, 1, "Staff B", &[&w.school_b]).await;
        let placed = id(&bk_book_ok(&app, &late, &a[0]).await);
        let waiting = id(&bk_book_ok(&app, &late, &a[1]).await);
        let in_time = id(&bk_book_ok(&app, &early, &a[2]).await);
        let other = id(&bk_book_ok(&app, &early, &b[0]).await);

        // Who may cancel: not another school's lead or a colleague (404), not the course lead (403).
        expect_problem(app.post(&format!("/api/v1/bookings/{placed}/cancel"), w.lead_b.t(), &json!({})).await, 404, None).await;
        expect_problem(app.post(&format!("/api/v1/bookings/{placed}/cancel"), a[2].t(), &json!({})).await, 404, None).await;
        expect_problem(app.post(&format!("/api/v1/bookings/{placed}/cancel"), course_lead.t(), &json!({})).await, 403, None).await;
        expect_problem(app.post(&format!("/api/v1/bookings/{placed}/cancel"), a[0].t(), &json!({"reason": ""})).await, 422, Some("reason")).await;

        // Giving up a place after the deadline is late; leaving the waiting list is not.
        let c = expect_json(app.post(&format!("/api/v1/bookings/{placed}/cancel"), a[0].t(), &json!({"reason": "Ofsted visit"})).await, 200).await;
        assert_eq!(c["status"], "cancelled");
        assert_eq!(c["late_cancellation"], true);
        assert_eq!(c["cancel_reason"], "Ofsted visit");
        assert!(c["cancelled_at"].is_string());
        let h = bk_get(&app, &placed).await["history"].clone();
        assert_eq!(h[1]["reason"], "Ofsted visit");
        assert_eq!(h[1]["note"], "after the cancellation deadline");
        // ...and the freed place went to the waiting booking in the same request.
        let promoted = expect_json(app.post(&format!("/api/v1/bookings/{waiting}/cancel"), w.lead_a.t(), &json!({})).await, 200).await;
        assert_eq!(promoted["late_cancellation"], true, "it held the place by then");
        // Before the deadline: not late. The school lead and the admin may cancel too.
        let c = expect_json(app.post(&format!("/api/v1/bookings/{in_time}/cancel"), w.lead_a.t(), &json!({})).await, 200).await;
        assert_eq!(c["late_cancellation"], false);
        let c = expect_json(app.post(&format!("/api/v1/bookings/{other}/cancel"), Some(&app.admin_token), &json!({})).await, 200).await;
        assert_eq!(c["status"], "cancelled");
        // Cancelled by the lead: the person is told who did it.
        let told: Vec<Value> = bk_outbox(&app).await.into_iter()
            .filter(|(k, _, s, _)| k == "booking_cancelled" && s.as_deref() == Some(in_time.as_str()))
            .map(|(_, _, _, p)| p).collect();
        assert_eq!(told[0]["by_name"], "Lena Lead");
        // Twice: not active.
        let p = expect_problem(app.post(&format!("/api/v1/bookings/{in_time}/cancel"), a[2].t(), &json!({})).await, 409, None).await;
        assert_eq!(p["code"], "not_active");
        expect_problem(app.post("/api/v1/bookings/nope/cancel", a[2].t(), &json!({})).await, 404, None).await;
        bk_check_invariants(&app, &[]).await;
    }
}

both_backends! {
    async fn promotion_on_cancel_decline_and_capacity(app: TestApp) {
        let w = bk_world(&app).await;
        let course = bk_course(&app, &w, "One place", 1, |_| {}).await;
        let p = bk_people(&app, 4, "Staff", &[&w.school_a]).await;
        let ids: Vec<String> = {
            let mut v = Vec::new();
            for who in &p {
                v.push(id(&bk_book_ok(&app, &course, who).await));
            }
            v
        };
        // Cancel: the first waiting is promoted and told.
        expect_json(app.post(&format!("/api/v1/bookings/{}/cancel", ids[0]), p[0].t(), &json!({})).await, 200).await;
        assert_eq!(bk_get(&app, &ids[1]).await["status"], "confirmed");
        assert_eq!(bk_get(&app, &ids[2]).await["waitlist_position"], 1);
        let promoted: Vec<(Option<String>, Option<String>)> = bk_outbox(&app).await.into_iter()
            .filter(|(k, _, _, _)| k == "booking_promoted").map(|(_, to, s, _)| (to, s)).collect();
        assert_eq!(promoted, vec![(Some(p[1].id.clone()), Some(ids[1].clone()))]);
        // The lead declines a confirmed place: the next is promoted.
        expect_json(app.post(&format!("/api/v1/bookings/{}/decline", ids[1]), w.lead_a.t(), &json!({"reason": "Needed in school"})).await, 200).await;
        assert_eq!(bk_get(&app, &ids[2]).await["status"], "confirmed");
        // Capacity raised: the last is promoted.
        let t = Some(app.admin_token.as_str());
        let c = expect_json(app.patch(&format!("/api/v1/courses/{course}"), t, &json!({"capacity": 3})).await, 200).await;
        assert_eq!((c["places_left"].as_i64(), c["waitlist_length"].as_i64()), (Some(1), Some(0)));
        let last = bk_get(&app, &ids[3]).await;
        assert_eq!(last["status"], "confirmed");
        assert_eq!(statuses(&last["history"]), vec![(Value::Null, json!("waitlisted")), (json!("waitlisted"), json!("confirmed"))]);
        assert_eq!(last["history"][1]["actor_id"], cpd_hub_admin_id(&app).await.as_str());
        assert_eq!(bk_messages_about(&app, &ids[3]).await, vec!["booking_waitlisted", "booking_promoted"]);
        // Below the real confirmed count: 409 saying how many.
        let pr = expect_problem(app.patch(&format!("/api/v1/courses/{course}"), t, &json!({"capacity": 1})).await, 409, None).await;
        assert_eq!(pr["code"], "capacity_below_confirmed");
        assert!(pr["detail"].as_str().unwrap().contains("2 places are already confirmed"), "{pr}");
        bk_check_invariants(&app, std::slice::from_ref(&course)).await;
    }
}

async fn cpd_hub_admin_id(app: &TestApp) -> String {
    bk_text(
        app,
        "SELECT id AS t FROM people WHERE email = 'admin@alliance.test'",
    )
    .await
}

both_backends! {
    async fn admin_override_and_walk_in(app: TestApp) {
        let w = bk_world(&app).await;
        let admin = Who { id: cpd_hub_admin_id(&app).await, token: app.admin_token.clone() };
        let p = bk_people(&app, 4, "Staff", &[&w.school_a]).await;
        // A full course: the override confirms and raises the capacity by one.
        let full = bk_course(&app, &w, "Full", 1, |b| b["requires_approval"] = json!(true)).await;
        let first = bk_book_ok(&app, &full, &p[0]).await;
        expect_json(app.post(&format!("/api/v1/bookings/{}/approve", id(&first)), w.lead_a.t(), &json!({})).await, 200).await;
        let o = expect_json(bk_book(&app, &full, &admin, json!({"person_id": p[1].id, "override": true})).await, 201).await;
        assert_eq!((o["status"].as_str(), o["admin_override"].as_bool(), o["walk_in"].as_bool()), (Some("confirmed"), Some(true), Some(false)));
        let c = bk_course_get(&app, &full).await;
        assert_eq!((c["capacity"].as_i64(), c["places_left"].as_i64()), (Some(2), Some(0)));
        let h = bk_get(&app, &id(&o)).await["history"].clone();
        assert_eq!(h[0]["reason"], "admin override");
        assert_eq!(h[0]["actor_id"], admin.id.as_str());
        assert!(h[0]["note"].as_str().unwrap().contains("capacity raised from 1 to 2"), "{h}");
        // A closed course, and a walk-in on a course that already ran.
        let closed = bk_course(&app, &w, "Closed", 5, |b| b["booking_closes"] = json!(days_from_now(-1))).await;
        let o2 = expect_json(bk_book(&app, &closed, &admin, json!({"person_id": p[2].id, "override": true})).await, 201).await;
        assert_eq!(o2["status"], "confirmed");
        assert_eq!(bk_course_get(&app, &closed).await["capacity"], 5);
        let ran = bk_course(&app, &w, "Ran last week", 5, |b| b["sessions"] = json!([session_in(-7)])).await;
        let walk = expect_json(bk_book(&app, &ran, &admin, json!({"person_id": p[3].id, "walk_in": true})).await, 201).await;
        assert_eq!((walk["walk_in"].as_bool(), walk["admin_override"].as_bool()), (Some(true), Some(true)));
        assert_eq!(bk_get(&app, &id(&walk)).await["history"][0]["note"], "walk-in");
        // Both recorded in the audit log.
        assert_eq!(bk_count(&app, "SELECT COUNT(*) AS n FROM audit_log WHERE action = 'booking.override'").await, 3);
        // Still refused: an already booked person.
        let p2 = expect_problem(bk_book(&app, &closed, &admin, json!({"person_id": p[2].id, "override": true})).await, 409, None).await;
        assert_eq!(p2["code"], "already_booked");
        bk_check_invariants(&app, &[]).await;
    }
}

fn with_key(
    app: &TestApp,
    path: &str,
    token: &str,
    key: &str,
    body: &Value,
) -> reqwest::RequestBuilder {
    app.client
        .post(format!("{}{}", app.address, path))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(body)
}

both_backends! {
    async fn idempotency_keys(app: TestApp) {
        let w = bk_world(&app).await;
        let course = bk_course(&app, &w, "Retries", 1, |_| {}).await;
        let p = bk_people(&app, 3, "Staff", &[&w.school_a]).await;
        let path = format!("/api/v1/courses/{course}/bookings");

        // A retry returns the first answer again and creates nothing.
        let r1 = with_key(&app, &path, &p[0].token, "k-1", &json!({})).send().await.unwrap();
        assert_eq!(r1.status(), 201);
        assert!(r1.headers().get("Idempotency-Replayed").is_none());
        let body1 = r1.text().await.unwrap();
        let r2 = with_key(&app, &path, &p[0].token, "k-1", &json!({})).send().await.unwrap();
        assert_eq!(r2.status(), 201);
        assert_eq!(r2.headers().get("Idempotency-Replayed").unwrap(), "true");
        assert_eq!(r2.headers().get("content-type").unwrap(), "application/json");
        assert_eq!(r2.text().await.unwrap(), body1);
        assert_eq!(bk_count(&app, "SELECT COUNT(*) AS n FROM bookings").await, 1);
        assert_eq!(bk_count(&app, "SELECT COUNT(*) AS n FROM outbox").await, 1);
        // The same key with another body: 422 naming the header.
        let r = with_key(&app, &path, &p[0].token, "k-1", &json!({"staff_group_id": w.fx.group("teacher")})).send().await.unwrap();
        expect_problem(r, 422, Some("Idempotency-Key")).await;
        // Keys are the caller's own: another person's same key is a new request.
        let other = with_key(&app, &path, &p[1].token, "k-1", &json!({})).send().await.unwrap();
        assert_eq!(expect_json(other, 201).await["status"], "waitlisted");
        // Errors are replayed too, even once the request would now succeed.
        let e1 = with_key(&app, &path, &p[0].token, "k-2", &json!({})).send().await.unwrap();
        let e1 = expect_problem(e1, 409, None).await;
        assert_eq!(e1["code"], "already_booked");
        let booking = serde_json::from_str::<Value>(&body1).unwrap();
        expect_json(app.post(&format!("/api/v1/bookings/{}/cancel", id(&booking)), p[0].t(), &json!({})).await, 200).await;
        let e2 = with_key(&app, &path, &p[0].token, "k-2", &json!({})).send().await.unwrap();
        assert_eq!(e2.headers().get("Idempotency-Replayed").unwrap(), "true");
        assert_eq!(expect_problem(e2, 409, None).await, e1);
        // Cancel with a key: the retry replays the 200 instead of saying "not active".
        let cancel = format!("/api/v1/bookings/{}/cancel", id(&booking));
        let c1 = expect_json(with_key(&app, &cancel, &p[0].token, "c-1", &json!({})).send().await.unwrap(), 409).await;
        assert_eq!(c1["code"], "not_active");
        let waiting = bk_get(&app, &id(&booking)).await;
        assert_eq!(waiting["status"], "cancelled");
        let mine = app.admin_get(&format!("/api/v1/bookings?person_id={}&status=confirmed", p[1].id)).await;
        let theirs = id(&mine["items"][0]);
        let k1 = with_key(&app, &format!("/api/v1/bookings/{theirs}/cancel"), &p[1].token, "c-2", &json!({"reason": "ill"})).send().await.unwrap();
        let k1 = expect_json(k1, 200).await;
        let k2 = with_key(&app, &format!("/api/v1/bookings/{theirs}/cancel"), &p[1].token, "c-2", &json!({"reason": "ill"})).send().await.unwrap();
        assert_eq!(expect_json(k2, 200).await, k1);
        // Bad keys.
        for bad in ["", &"x".repeat(201)] {
            let r = with_key(&app, &path, &p[2].token, bad, &json!({})).send().await.unwrap();
            expect_problem(r, 422, Some("Idempotency-Key")).await;
        }
        let r = app.client.post(format!("{}{}", app.address, path)).bearer_auth(&p[2].token)
            .header("Idempotency-Key", reqwest::header::HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap())
            .json(&json!({})).send().await.unwrap();
        expect_problem(r, 422, Some("Idempotency-Key")).await;
        assert_eq!(bk_count(&app, &format!("SELECT COUNT(*) AS n FROM bookings WHERE person_id = '{}'", p[2].id)).await, 0);
        bk_check_invariants(&app, &[]).await;
    }
}

/// Idempotency keys are kept 24 hours (invariant 10), then the booking jobs purge them: a
/// retry with a key past its 24 hours runs again, one within them is still replayed.
mod keys_are_purged_after_24_hours {
    use super::*;

    async fn run(app: TestApp) {
        let w = bk_world(&app).await;
        let first = bk_course(&app, &w, "Kept a day", 5, |_| {}).await;
        let second = bk_course(&app, &w, "Kept a day too", 5, |_| {}).await;
        let p = bk_people(&app, 1, "Staff", &[&w.school_a]).await;
        let (old_path, young_path) = (
            format!("/api/v1/courses/{first}/bookings"),
            format!("/api/v1/courses/{second}/bookings"),
        );
        let old = with_key(&app, &old_path, &p[0].token, "old", &json!({}))
            .send()
            .await
            .unwrap();
        let old = expect_json(old, 201).await;
        let young = with_key(&app, &young_path, &p[0].token, "young", &json!({}))
            .send()
            .await
            .unwrap();
        let young = expect_json(young, 201).await;
        // One key was used 25 hours ago, the other 23 (as time passing would leave them).
        cal_db(&app, |conn| {
            use cpd_hub::db::schema::idempotency_keys as k;
            use diesel::prelude::*;
            let now = chrono::Utc::now().naive_utc();
            for (key, hours) in [("old", 25), ("young", 23)] {
                let n = diesel::update(k::table.filter(k::key.eq(key)))
                    .set(k::created_at.eq(now - chrono::Duration::hours(hours)))
                    .execute(conn)
                    .unwrap();
                assert_eq!(n, 1, "key {key}");
            }
        })
        .await;
        // The jobs run every second: until then a retry is replayed; once the old key is
        // purged, the retry runs again, and the person is already booked.
        let mut waited = 0;
        let rerun = loop {
            let r = with_key(&app, &old_path, &p[0].token, "old", &json!({}))
                .send()
                .await
                .unwrap();
            if r.headers().get("Idempotency-Replayed").is_none() {
                break r;
            }
            assert_eq!(
                expect_json(r, 201).await,
                old,
                "a replay is the first answer"
            );
            waited += 1;
            assert!(waited < 100, "the key past its 24 hours was never purged");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(
            expect_problem(rerun, 409, None).await["code"],
            "already_booked"
        );
        // The key within its 24 hours is still replayed: the same answer, nothing new.
        let again = with_key(&app, &young_path, &p[0].token, "young", &json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(again.headers().get("Idempotency-Replayed").unwrap(), "true");
        assert_eq!(expect_json(again, 201).await, young);
        assert_eq!(
            bk_count(&app, "SELECT COUNT(*) AS n FROM bookings").await,
            2
        );
        bk_check_invariants(&app, &[]).await;
    }

    async fn app(backend: Backend) -> Option<TestApp> {
        spawn_app_with(backend, |s| {
            s.booking_jobs_interval = Duration::from_secs(1)
        })
        .await
    }

    crate::both_backends!(app, run);
}

both_backends! {
    async fn a_running_request_is_not_run_twice(app: TestApp) {
        let w = bk_world(&app).await;
        let course = bk_course(&app, &w, "In flight", 5, |_| {}).await;
        let p = bk_people(&app, 1, "Staff", &[&w.school_a]).await;
        let path = format!("/api/v1/courses/{course}/bookings");
        // A first attempt that is still running (claimed, no answer yet).
        let who = p[0].id.clone();
        cal_db(&app, move |conn| {
            let now = chrono::Utc::now().naive_utc();
            cpd_hub::store::idempotency::begin(conn, &who, "busy", "not-this-hash", now, now).unwrap()
        }).await;
        let r = with_key(&app, &path, &p[0].token, "busy", &json!({})).send().await.unwrap();
        // A different request under the key is 422 even while it runs.
        expect_problem(r, 422, Some("Idempotency-Key")).await;
        let who = p[0].id.clone();
        let hash = {
            use sha2::Digest;
            let mut h = sha2::Sha256::new();
            h.update(format!("POST\n{path}\n{{}}").as_bytes());
            hex::encode(h.finalize())
        };
        let started = chrono::Utc::now().naive_utc();
        let h2 = hash.clone();
        cal_db(&app, move |conn| {
            cpd_hub::store::idempotency::begin(conn, &who, "running", &h2, started, started).unwrap()
        }).await;
        let r = with_key(&app, &path, &p[0].token, "running", &json!({})).send().await.unwrap();
        let pr = expect_problem(r, 409, None).await;
        assert_eq!(pr["code"], "idempotency_in_progress");
        // Once it has been running for over a minute, a retry takes it over.
        cal_db(&app, move |conn| {
            use cpd_hub::db::schema::idempotency_keys as k;
            use diesel::prelude::*;
            diesel::update(k::table.filter(k::key.eq("running")))
                .set(k::created_at.eq(started - chrono::Duration::seconds(61))).execute(conn).unwrap();
        }).await;
        let r = with_key(&app, &path, &p[0].token, "running", &json!({})).send().await.unwrap();
        assert_eq!(expect_json(r, 201).await["status"], "confirmed");
        assert_eq!(bk_count(&app, "SELECT COUNT(*) AS n FROM bookings").await, 1);
    }
}

both_backends! {
    async fn who_sees_which_bookings(app: TestApp) {
        let w = bk_world(&app).await;
        let course_lead = bk_person(&app, "Cora Courselead", None, None, &[Role::CourseLead]).await;
        let cpd = bk_person(&app, "Gita Group", None, None, &[Role::CpdGroup]).await;
        let led = bk_course(&app, &w, "Led by Cora", 10, |b| b["lead_ids"] = json!([course_lead.id])).await;
        let other = bk_course(&app, &w, "Someone else's", 10, |_| {}).await;
        let a = bk_people(&app, 2, "Staff A", &[&w.school_a]).await;
        let b = bk_people(&app, 1, "Staff B", &[&w.school_b]).await;
        let a0_led = id(&bk_book_ok(&app, &led, &a[0]).await);
        let a1_other = id(&bk_book_ok(&app, &other, &a[1]).await);
        let b0_other = id(&bk_book_ok(&app, &other, &b[0]).await);
        let b0_led = id(&bk_book_ok(&app, &led, &b[0]).await);

        let ids_for = |v: Value| -> Vec<String> {
            let mut ids: Vec<String> = v["items"].as_array().unwrap().iter().map(id).collect();
            ids.sort();
            ids
        };
        let sorted = |mut v: Vec<&String>| { v.sort(); v.into_iter().cloned().collect::<Vec<_>>() };
        let list = |t: &Who, q: &str| {
            let path = format!("/api/v1/bookings{q}");
            let t = t.token.clone();
            let app = &app;
            async move { expect_json(app.get(&path, Some(&t)).await, 200).await }
        };
        // Staff: their own.
        assert_eq!(ids_for(list(&a[0], "").await), vec![a0_led.clone()]);
        // School lead: their school's.
        assert_eq!(ids_for(list(&w.lead_a, "").await), sorted(vec![&a0_led, &a1_other]));
        // Course lead: the bookings on their course.
        assert_eq!(ids_for(list(&course_lead, "").await), sorted(vec![&a0_led, &b0_led]));
        // cpd_group and admin: all.
        assert_eq!(list(&cpd, "").await["total"], 4);
        assert_eq!(app.admin_get("/api/v1/bookings").await["total"], 4);
        // Filters, within what one may see.
        assert_eq!(ids_for(list(&cpd, &format!("?course_id={other}&school_id={}", w.school_b)).await), vec![b0_other.clone()]);
        assert_eq!(ids_for(list(&w.lead_a, &format!("?person_id={}", b[0].id)).await), Vec::<String>::new());
        assert_eq!(list(&cpd, "?status=confirmed&limit=1").await["items"].as_array().unwrap().len(), 1);
        assert_eq!(list(&cpd, "?status=waitlisted").await["total"], 0);
        expect_problem(app.get("/api/v1/bookings?status=maybe", cpd.t()).await, 422, Some("status")).await;
        expect_problem(app.get("/api/v1/bookings?limit=0", cpd.t()).await, 422, Some("limit")).await;
        expect_problem(app.get("/api/v1/bookings", None).await, 401, None).await;
        // One booking: 404 for records the caller may not see.
        let get = |t: &Who, id: &str| {
            let path = format!("/api/v1/bookings/{id}");
            let t = t.token.clone();
            let app = &app;
            async move { app.get(&path, Some(&t)).await.status().as_u16() }
        };
        assert_eq!(get(&a[0], &a0_led).await, 200);
        assert_eq!(get(&a[0], &a1_other).await, 404);
        assert_eq!(get(&w.lead_a, &a1_other).await, 200);
        assert_eq!(get(&w.lead_a, &b0_other).await, 404);
        assert_eq!(get(&course_lead, &b0_led).await, 200);
        assert_eq!(get(&course_lead, &b0_other).await, 404);
        assert_eq!(get(&cpd, &b0_other).await, 200);
        assert_eq!(get(&a[0], "nope").await, 404);
        let one = expect_json(app.get(&format!("/api/v1/bookings/{a0_led}"), a[0].t()).await, 200).await;
        assert_eq!(one["course_title"], "Led by Cora");
        assert_eq!(one["person_name"], "Staff A 0");
        assert_eq!(one["history"][0]["to"], "confirmed");
    }
}

both_backends! {
    async fn course_cancelled_or_changed_tells_the_booked(app: TestApp) {
        let w = bk_world(&app).await;
        let course = bk_course(&app, &w, "Will change", 1, |_| {}).await;
        let p = bk_people(&app, 2, "Staff", &[&w.school_a]).await;
        let placed = id(&bk_book_ok(&app, &course, &p[0]).await);
        let waiting = id(&bk_book_ok(&app, &course, &p[1]).await);
        let t = Some(app.admin_token.as_str());
        // New times: only the confirmed person is told (with the updated .ics).
        let c = bk_course_get(&app, &course).await;
        let session = c["sessions"][0]["id"].as_str().unwrap().to_string();
        let moved = session_in(31);
        expect_json(app.patch(&format!("/api/v1/sessions/{session}"), t, &json!({"start": moved["start"], "end": moved["end"]})).await, 200).await;
        let changed: Vec<(Option<String>, Value)> = bk_outbox(&app).await.into_iter()
            .filter(|(k, _, _, _)| k == "course_changed").map(|(_, _, s, p)| (s, p)).collect();
        assert_eq!(changed.len(), 1);
        assert_eq!(changed[0].0.as_deref(), Some(placed.as_str()));
        assert_eq!(changed[0].1["person_name"], "Staff 0");
        assert_eq!(changed[0].1["ics"]["sequence"], 1);
        // Later emails show the new times too.
        let late = bk_people(&app, 1, "Late", &[&w.school_a]).await;
        let third = id(&bk_book_ok(&app, &course, &late[0]).await);
        let told: Vec<Value> = bk_outbox(&app).await.into_iter()
            .filter(|(_, _, s, _)| s.as_deref() == Some(third.as_str())).map(|(_, _, _, p)| p).collect();
        assert_eq!(told[0]["sessions"][0]["start"], moved["start"]);
        // Cancelled: every active booking is cancelled, with history, and each person told.
        expect_json(app.post(&format!("/api/v1/courses/{course}/cancel"), t, &json!({"reason": "The trainer is unwell."})).await, 200).await;
        for b in [&placed, &waiting, &third] {
            let got = bk_get(&app, b).await;
            assert_eq!(got["status"], "cancelled");
            assert_eq!(got["late_cancellation"], false);
            assert_eq!(got["cancel_reason"], "The trainer is unwell.");
            let last = got["history"].as_array().unwrap().last().unwrap().clone();
            assert_eq!(last["reason"], "course cancelled: The trainer is unwell.");
        }
        let cancelled: Vec<(Option<String>, Value)> = bk_outbox(&app).await.into_iter()
            .filter(|(k, _, _, _)| k == "course_cancelled").map(|(_, to, _, p)| (to, p)).collect();
        assert_eq!(cancelled.len(), 3);
        assert_eq!(cancelled[0].1["reason"], "The trainer is unwell.");
        assert_eq!(cancelled[0].1["ics"]["method"], "CANCEL");
        let c = bk_course_get(&app, &course).await;
        assert_eq!((c["waitlist_length"].as_i64(), c["places_left"].as_i64()), (Some(0), Some(1)));
        bk_check_invariants(&app, &[]).await;
    }
}

both_backends! {
    async fn history_cannot_be_rewritten(app: TestApp) {
        let w = bk_world(&app).await;
        let course = bk_course(&app, &w, "History", 5, |_| {}).await;
        let p = bk_people(&app, 1, "Staff", &[&w.school_a]).await;
        bk_book_ok(&app, &course, &p[0]).await;
        let (update, delete) = cal_db(&app, |conn| {
            use diesel::RunQueryDsl;
            let u = diesel::sql_query("UPDATE booking_history SET reason = 'edited'").execute(conn);
            let d = diesel::sql_query("DELETE FROM booking_history").execute(conn);
            (u.map_err(|e| e.to_string()), d.map_err(|e| e.to_string()))
        }).await;
        assert!(update.unwrap_err().contains("append-only"));
        assert!(delete.unwrap_err().contains("append-only"));
        assert_eq!(bk_count(&app, "SELECT COUNT(*) AS n FROM booking_history").await, 1);
    }
}

both_backends! {
    async fn demo_bookings_keep_the_rules(app: TestApp) {
        let w = bk_world(&app).await;
        let schools = bk_schools(&app, 46).await;
        let refs: Vec<&String> = schools.iter().collect();
        bk_people(&app, 46 * 5, "Demo staff", &refs).await;
        let mut fifo = Vec::new();
        for (i, days) in [-40i64, -20, -10, 3, 12, 25].into_iter().enumerate() {
            let id = bk_course(&app, &w, &format!("Demo {i}"), 30, |b| {
                b["sessions"] = json!([session_in(days)]);
                b["cancellation_deadline"] = json!(days_from_now(days - 7));
            }).await;
            fifo.push(id);
        }
        bk_course(&app, &w, "Demo capped", 20, |b| b["per_school_cap"] = json!(1)).await;
        bk_course(&app, &w, "Demo approval", 12, |b| b["requires_approval"] = json!(true)).await;
        bk_course(&app, &w, "Demo large", 200, |_| {}).await;

        let now = chrono::Utc::now().naive_utc();
        let report = cal_db(&app, move |conn| cpd_hub::commands::seed_bookings::seed_bookings(conn, now, 7).unwrap()).await;
        assert_eq!(report.courses, 9);
        assert_eq!(report.schools_without_bookings, 2, "{report:?}");
        assert!(report.full_with_waiting_list >= 3, "{report:?}");
        assert!(report.late_cancellations > 0, "{report:?}");
        assert!(report.promoted > 0, "{report:?}");
        assert!(report.declined + report.pending > 0, "{report:?}");
        assert_eq!(
            report.bookings,
            report.confirmed + report.waitlisted + report.pending + report.cancelled + report.declined
        );
        assert_eq!(bk_count(&app, "SELECT COUNT(*) AS n FROM bookings").await, report.bookings as i64);
        assert_eq!(bk_count(&app, "SELECT COUNT(*) AS n FROM bookings WHERE late_cancellation = TRUE").await, report.late_cancellations as i64);
        // The left-out schools (every 23rd by URN) have none: cold spots.
        let by_urn: Vec<String> = cal_db(&app, |conn| {
            use cpd_hub::db::schema::schools;
            use diesel::prelude::*;
            schools::table.order(schools::urn.asc()).select(schools::id).load(conn).unwrap()
        }).await;
        assert_eq!(by_urn.len(), 49);
        let cold = format!("SELECT COUNT(*) AS n FROM bookings WHERE school_id IN ('{}', '{}')", by_urn[22], by_urn[45]);
        assert_eq!(bk_count(&app, &cold).await, 0);
        // No emails for made-up history.
        assert_eq!(bk_count(&app, "SELECT COUNT(*) AS n FROM outbox").await, 0);
        bk_check_invariants(&app, &fifo).await;
        // The calendar shows the seeded places.
        let c = bk_course_get(&app, &fifo[5]).await;
        assert_eq!(c["places_left"].as_i64().unwrap(), 30 - bk_count(&app, &format!("SELECT COUNT(*) AS n FROM bookings WHERE course_id = '{}' AND status = 'confirmed'", fifo[5])).await);
        // A second run adds nothing.
        let again = cal_db(&app, move |conn| cpd_hub::commands::seed_bookings::seed_bookings(conn, now, 7).unwrap()).await;
        assert_eq!((again.courses, again.existing, again.bookings), (0, 9, 0));
        assert_eq!(bk_count(&app, "SELECT COUNT(*) AS n FROM bookings").await, report.bookings as i64);
    }
}

both_backends! {
    /// Someone booking themselves is read in the booking's own transaction, not before it: in
    /// requests that arrive at once for one course (and are decided in batches), one for a
    /// person who is not there answers 404 and books nothing, and every other is booked with
    /// the school its person has.
    async fn a_self_booking_reads_its_person_in_the_booking(app: TestApp) {
        let w = bk_world(&app).await;
        let course = bk_course(&app, &w, "Metacognition in practice", 20, |_| {}).await;
        let people = bk_people(&app, 8, "Staff", &[&w.school_a, &w.school_b]).await;
        let mut asks: Vec<String> = people.iter().map(|p| p.id.clone()).collect();
        asks.insert(4, "no-such-person".into());
        let handles: Vec<_> = asks
            .iter()
            .map(|person| {
                let (state, course, person) = (app.state.clone(), course.clone(), person.clone());
                tokio::spawn(async move { state.bookings.book(&course, self_request(&person)).await })
            })
            .collect();
        let mut answers = Vec::new();
        for h in handles {
            answers.push(h.await.unwrap());
        }
        for (i, (person, answer)) in asks.iter().zip(&answers).enumerate() {
            if i == 4 {
                assert!(matches!(answer, Err(cpd_hub::error::AppError::NotFound)), "{answer:?}");
                continue;
            }
            let booking = answer.as_ref().unwrap_or_else(|e| panic!("{person}: {e:?}"));
            let got = bk_get(&app, &booking.id).await;
            let school = if i < 4 { i % 2 } else { (i - 1) % 2 };
            let school = [&w.school_a, &w.school_b][school];
            assert_eq!((got["person_id"].as_str(), got["school_id"].as_str(), got["status"].as_str()),
                (Some(person.as_str()), Some(school.as_str()), Some("confirmed")));
        }
        let c = bk_course_get(&app, &course).await;
        assert_eq!(c["places_left"], 12, "eight booked: {c}");
        bk_check_invariants(&app, &[]).await;
    }
}

/// A self-booking request for `person`, as the queue and the store take it.
fn self_request(person: &str) -> cpd_hub::store::bookings::Request {
    cpd_hub::store::bookings::Request {
        target: cpd_hub::store::bookings::Target::caller(person),
        actor_id: Some(person.to_string()),
        staff_group_id: None,
        override_rules: false,
        walk_in: false,
        answer: None,
    }
}

both_backends! {
    /// Bookings for several courses in one transaction: each course's requests are decided
    /// by the same rules as alone (places, then the waiting list), the answers come back in
    /// the order asked, on PostgreSQL every booking carries the one transaction's id, and one
    /// failure (a course that is not there, a lone request for a place already held) books
    /// nothing of any course.
    async fn bookings_for_several_courses_share_one_transaction(app: TestApp) {
        use cpd_hub::store::bookings::book_courses;
        let w = bk_world(&app).await;
        let a = bk_course(&app, &w, "Adaptive teaching", 10, |_| {}).await;
        let b = bk_course(&app, &w, "Behaviour for learning", 2, |_| {}).await;
        let c = bk_course(&app, &w, "Curriculum sequencing", 10, |_| {}).await;
        let d = bk_course(&app, &w, "Disciplinary literacy", 10, |_| {}).await;
        let p = bk_people(&app, 4, "Staff", &[&w.school_a, &w.school_b]).await;
        let ids: Vec<String> = p.iter().map(|w| w.id.clone()).collect();
        let base = app.state.settings.public_base_url.clone();

        let (ask, url) = (ids.clone(), base.clone());
        let (a2, b2, c2) = (a.clone(), b.clone(), c.clone());
        let answers = app
            .with_db(move |conn| {
                book_courses(conn, &url, None, vec![
                    (c2, vec![self_request(&ask[0])]),
                    (a2, vec![self_request(&ask[1]), self_request(&ask[2])]),
                    (b2, vec![self_request(&ask[0]), self_request(&ask[1]), self_request(&ask[2])]),
                ])
            })
            .await
            .expect("one transaction for three courses");
        let got: Vec<Vec<(String, String, String)>> = answers
            .iter()
            .map(|course| {
                course
                    .iter()
                    .map(|b| {
                        let b = b.as_ref().expect("booked");
                        (b.course_id.clone(), b.person_id.clone(), b.status.as_str().to_string())
                    })
                    .collect()
            })
            .collect();
        let row = |course: &str, person: &str, status: &str| {
            (course.to_string(), person.to_string(), status.to_string())
        };
        assert_eq!(got, vec![
            vec![row(&c, &ids[0], "confirmed")],
            vec![row(&a, &ids[1], "confirmed"), row(&a, &ids[2], "confirmed")],
            vec![row(&b, &ids[0], "confirmed"), row(&b, &ids[1], "confirmed"),
                 row(&b, &ids[2], "waitlisted")],
        ]);
        assert_eq!(bk_course_get(&app, &b).await["places_left"], 0);
        assert_eq!(bk_course_get(&app, &a).await["places_left"], 8);
        if app.backend == crate::helpers::Backend::Postgres {
            let transactions =
                bk_count(&app, "SELECT COUNT(DISTINCT xmin::text) AS n FROM bookings").await;
            assert_eq!(transactions, 1, "six bookings, one transaction");
        }

        // A lone request for a place already held fails the transaction: the other course's
        // booking is not made either.
        let (ask, url, a2, d2) = (ids.clone(), base.clone(), a.clone(), d.clone());
        let failed = app
            .with_db(move |conn| {
                book_courses(conn, &url, None, vec![
                    (d2, vec![self_request(&ask[3])]),
                    (a2, vec![self_request(&ask[1])]),
                ])
            })
            .await;
        assert!(failed.is_err(), "{failed:?}");
        let (ask, url, d2) = (ids.clone(), base.clone(), d.clone());
        let failed = app
            .with_db(move |conn| {
                book_courses(conn, &url, None, vec![
                    (d2, vec![self_request(&ask[3])]),
                    ("no-such-course".into(), vec![self_request(&ask[3])]),
                ])
            })
            .await;
        assert!(matches!(failed, Err(cpd_hub::error::AppError::NotFound)), "{failed:?}");
        assert_eq!(bk_course_get(&app, &d).await["places_left"], 10, "nothing booked on D");
        assert_eq!(bk_count(&app, "SELECT COUNT(*) AS n FROM bookings").await, 6);
        bk_check_invariants(&app, &[]).await;
    }
}

both_backends! {
    /// Requests for many courses arriving at once go through the queue's shared transactions
    /// and each still gets its own answer: a place, a place on the waiting list, 409 for a
    /// second booking of the same course (whether it meets the first in one transaction or
    /// after it) and 404 for a course that is not there, without failing any other request.
    async fn requests_for_many_courses_at_once_each_get_their_answer(app: TestApp) {
        let w = bk_world(&app).await;
        let mut courses = Vec::new();
        for i in 0..6 {
            courses.push(bk_course(&app, &w, &format!("Course {i}"), 3, |_| {}).await);
        }
        let people = bk_people(&app, 5, "Staff", &[&w.school_a, &w.school_b]).await;
        // Everyone asks for every course, the first person twice, and once for a course that
        // is not there.
        let mut asks: Vec<(String, String)> = Vec::new();
        for course in &courses {
            for who in &people {
                asks.push((course.clone(), who.id.clone()));
            }
            asks.push((course.clone(), people[0].id.clone()));
        }
        asks.push(("no-such-course".into(), people[1].id.clone()));
        let handles: Vec<_> = asks
            .iter()
            .map(|(course, person)| {
                let (state, course, person) = (app.state.clone(), course.clone(), person.clone());
                tokio::spawn(async move { state.bookings.book(&course, self_request(&person)).await })
            })
            .collect();
        let mut answers = Vec::new();
        for h in handles {
            answers.push(h.await.unwrap());
        }
        let unknown = answers.pop().expect("the unknown course's answer");
        assert!(matches!(unknown, Err(cpd_hub::error::AppError::NotFound)), "{unknown:?}");
        for (course, chunk) in courses.iter().zip(answers.chunks(people.len() + 1)) {
            let mut confirmed = 0;
            let mut waitlisted = 0;
            let mut refused = 0;
            for answer in chunk {
                match answer {
                    Ok(b) if b.status.as_str() == "confirmed" => confirmed += 1,
                    Ok(b) if b.status.as_str() == "waitlisted" => waitlisted += 1,
                    Err(e) => {
                        let problem = format!("{e:?}");
                        assert!(problem.contains("already_booked"), "{problem}");
                        refused += 1;
                    }
                    Ok(b) => panic!("unexpected {b:?}"),
                }
            }
            assert_eq!((confirmed, waitlisted, refused), (3, 2, 1), "{course}");
            assert_eq!(bk_course_get(&app, course).await["places_left"], 0);
        }
        assert_eq!(bk_count(&app, "SELECT COUNT(*) AS n FROM bookings").await, 30);
        bk_check_invariants(&app, &courses).await;
    }
}

both_backends! {
    /// In one transaction a batch's bookings may not be written until its end (PostgreSQL):
    /// its own decisions still count. On a course capped at one place per school, the second
    /// person of a school in the batch is waitlisted although places are left, and a person
    /// asking twice in the batch is refused the second time, while the rest is booked.
    async fn a_batch_counts_its_own_bookings_before_they_are_written(app: TestApp) {
        use cpd_hub::store::bookings::book_courses;
        let w = bk_world(&app).await;
        let capped = bk_course(&app, &w, "Fair share", 4, |b| b["per_school_cap"] = json!(1)).await;
        let other = bk_course(&app, &w, "Reading fluency", 4, |_| {}).await;
        let a = bk_people(&app, 2, "Staff A", &[&w.school_a]).await;
        let b = bk_people(&app, 1, "Staff B", &[&w.school_b]).await;
        let (a0, a1, b0) = (a[0].id.clone(), a[1].id.clone(), b[0].id.clone());
        let url = app.state.settings.public_base_url.clone();
        let (c2, o2) = (capped.clone(), other.clone());
        let answers = app
            .with_db(move |conn| {
                book_courses(conn, &url, None, vec![
                    (o2, vec![self_request(&a1)]),
                    (c2, vec![self_request(&a0), self_request(&a1), self_request(&b0),
                              self_request(&a0)]),
                ])
            })
            .await
            .expect("one transaction");
        let status = |r: &cpd_hub::error::AppResult<cpd_hub::store::bookings::Booking>| match r {
            Ok(b) => b.status.as_str().to_string(),
            Err(e) => format!("{e:?}"),
        };
        assert_eq!(status(&answers[0][0]), "confirmed");
        let capped_answers: Vec<String> = answers[1].iter().map(status).collect();
        assert_eq!(&capped_answers[..3], &["confirmed", "waitlisted", "confirmed"]);
        assert!(capped_answers[3].contains("already_booked"), "{capped_answers:?}");
        let c = bk_course_get(&app, &capped).await;
        assert_eq!((c["places_left"].as_i64(), c["waitlist_length"].as_i64()), (Some(2), Some(1)), "{c}");
        assert_eq!(bk_course_get(&app, &other).await["places_left"], 3);
        assert_eq!(bk_count(&app, "SELECT COUNT(*) AS n FROM bookings").await, 4);
        assert_eq!(bk_count(&app, "SELECT COUNT(*) AS n FROM booking_history").await, 4);
        // Not first come, first served: the cap passes over school A.
        bk_check_invariants(&app, &[]).await;
    }
}
