//! The CPD calendar API: creating, validating, publishing, editing, cancelling, listing and
//! filtering courses, and who may see what.

use cpd_hub::domain::roles::Role;
use serde_json::{json, Value};

use crate::both_backends;
use crate::calendar_support::*;
use crate::helpers::TestApp;

both_backends! {
    async fn create_returns_a_draft_with_its_sessions(app: TestApp) {
        let fx = cal_fixture(&app).await;
        let (lead, _) = cal_person(&app, "Sam Lead", &[Role::CourseLead]).await;
        // The body exactly as the contract shows it.
        let body = json!({
            "title": "Adaptive teaching for pupils with SEND",
            "summary": "Practical strategies for **adaptive teaching**.\n\n<script>alert(1)</script>",
            "provider_id": fx.provider_id,
            "lead_ids": [lead],
            "priority_ids": [fx.priority("send")],
            "staff_group_ids": [],
            "phases": [],
            "format": "in_person",
            "capacity": 30,
            "per_school_cap": null,
            "price_pence": 0,
            "booking_opens": null,
            "booking_closes": null,
            "cancellation_deadline": null,
            "requires_approval": false,
            "sessions": [{"start": "2027-01-14T09:00:00Z", "end": "2027-01-14T15:30:00Z",
                          "venue": {"name": "Barnsley Teaching Hub", "address": "Church Street", "postcode": "S70 2HZ"},
                          "online_url": null}]
        });
        let r = app.post("/api/v1/courses", Some(&app.admin_token), &body).await;
        let location = r.headers().get("location").unwrap().to_str().unwrap().to_string();
        let c = expect_json(r, 201).await;
        assert_eq!(c["status"], "draft");
        assert_eq!(location, format!("/api/v1/courses/{}", c["id"].as_str().unwrap()));
        assert_eq!(c["title"], "Adaptive teaching for pupils with SEND");
        assert!(c["summary_html"].as_str().unwrap().contains("<strong>adaptive teaching</strong>"));
        assert!(!c["summary_html"].as_str().unwrap().contains("<script"));
        assert_eq!(c["provider"]["name"], "Barnsley Teaching Alliance");
        assert_eq!(c["leads"], json!([{"id": lead, "name": "Sam Lead"}]));
        assert_eq!(c["priorities"][0]["key"], "send");
        assert_eq!(c["capacity"], 30);
        assert_eq!(c["places_left"], 30);
        assert_eq!(c["waitlist_length"], 0);
        assert_eq!(c["revision"], 0);
        assert_eq!(c["sessions_count"], 1);
        assert_eq!(c["first_session_start"], "2027-01-14T09:00:00Z");
        assert_eq!(c["last_session_end"], "2027-01-14T15:30:00Z");
        let s = &c["sessions"][0];
        assert!(s["id"].is_string());
        assert_eq!(s["start"], "2027-01-14T09:00:00Z");
        assert_eq!(s["end"], "2027-01-14T15:30:00Z");
        assert_eq!(s["local_start"], "2027-01-14T09:00:00+00:00");
        assert_eq!(s["display"], "Thu 14 Jan 2027, 09:00-15:30");
        assert_eq!(s["venue"], json!({"name": "Barnsley Teaching Hub", "address": "Church Street", "postcode": "S70 2HZ"}));
        assert_eq!(s["online_url"], Value::Null);
        assert_eq!(s["note"], Value::Null);
        // Read back: the same.
        let got = app.admin_get(&format!("/api/v1/courses/{}", c["id"].as_str().unwrap())).await;
        assert_eq!(got, c);
    }
}

both_backends! {
    async fn local_times_are_right_across_both_clock_changes(app: TestApp) {
        let fx = cal_fixture(&app).await;
        let c = cal_create(&app, cal_course(&fx, "Clock changes", vec![
            // The clocks go forward at 01:00 UTC on 28 March 2027: 10:00 in London is 09:00 UTC.
            cal_session("2027-03-28T10:00:00+01:00", "2027-03-28T12:00:00+01:00"),
            // A session across the change itself: 00:30 GMT to 02:30 BST is one hour.
            cal_session("2027-03-28T00:30:00Z", "2027-03-28T01:30:00Z"),
            // The day before the clocks go back: still BST.
            cal_session("2027-10-30T09:00:00Z", "2027-10-30T11:00:00Z"),
            // The clocks go back at 01:00 UTC on 31 October 2027: 10:00 in London is 10:00 UTC.
            cal_session("2027-10-31T10:00:00+00:00", "2027-10-31T12:00:00+00:00"),
        ])).await;
        let s = c["sessions"].as_array().unwrap();
        assert_eq!(s.len(), 4);
        // Ordered by start, numbered from 1.
        assert_eq!(s[0]["start"], "2027-03-28T00:30:00Z");
        assert_eq!(s[0]["display"], "Sun 28 Mar 2027, 00:30-02:30");
        assert_eq!(s[0]["local_end"], "2027-03-28T02:30:00+01:00");
        assert_eq!(s[1]["position"], 2);
        assert_eq!(s[1]["start"], "2027-03-28T09:00:00Z");
        assert_eq!(s[1]["local_start"], "2027-03-28T10:00:00+01:00");
        assert_eq!(s[1]["display"], "Sun 28 Mar 2027, 10:00-12:00");
        assert_eq!(s[2]["local_start"], "2027-10-30T10:00:00+01:00");
        assert_eq!(s[2]["display"], "Sat 30 Oct 2027, 10:00-12:00");
        assert_eq!(s[3]["start"], "2027-10-31T10:00:00Z");
        assert_eq!(s[3]["local_start"], "2027-10-31T10:00:00+00:00");
        assert_eq!(s[3]["display"], "Sun 31 Oct 2027, 10:00-12:00");
        assert_eq!(c["first_session_start"], "2027-03-28T00:30:00Z");
        assert_eq!(c["last_session_end"], "2027-10-31T12:00:00Z");
    }
}

both_backends! {
    async fn a_time_without_an_offset_is_refused(app: TestApp) {
        let fx = cal_fixture(&app).await;
        let body = cal_course(&fx, "No offset", vec![cal_session("2027-01-14T09:00:00", "2027-01-14T15:00:00Z")]);
        let p = expect_problem(app.post("/api/v1/courses", Some(&app.admin_token), &body).await, 422, Some("sessions[0].start")).await;
        assert!(p["errors"]["sessions[0].start"][0].as_str().unwrap().contains("offset"), "{p}");
        let body = json!({"booking_closes": "2027-01-10 17:00"});
        let c = cal_create(&app, cal_course(&fx, "Has offset", vec![])).await;
        let p = expect_problem(
            app.patch(&format!("/api/v1/courses/{}", c["id"].as_str().unwrap()), Some(&app.admin_token), &body).await,
            422, Some("booking_closes"),
        ).await;
        assert!(p["errors"]["booking_closes"][0].as_str().unwrap().contains("offset"));
        assert_eq!(app.admin_get("/api/v1/courses?status=all").await["total"], 1);
    }
}

both_backends! {
    async fn every_validation_problem_is_named_at_once(app: TestApp) {
        let fx = cal_fixture(&app).await;
        let cluster = cal_cluster(&app, "Dearne").await;
        let mut body = cal_course(&fx, "", vec![
            cal_session("2027-01-14T09:00:00Z", "2027-01-14T08:00:00Z"),
            json!({"start": "2027-01-21T09:00:00Z", "end": "2027-01-21T12:00:00Z", "online_url": "ftp://x"}),
        ]);
        let b = body.as_object_mut().unwrap();
        b.insert("capacity".into(), json!(0));
        b.insert("per_school_cap".into(), json!(3));
        b.insert("price_pence".into(), json!(-5));
        b.insert("provider_id".into(), json!("no-such-provider"));
        b.insert("cluster_id".into(), json!("no-such-cluster"));
        b.insert("lead_ids".into(), json!(["no-such-person"]));
        b.insert("priority_ids".into(), json!([fx.priority("send"), "no-such-priority"]));
        b.insert("staff_group_ids".into(), json!(["no-such-group"]));
        b.insert("phases".into(), json!(["primary", "university"]));
        b.insert("booking_opens".into(), json!("2027-01-16T00:00:00Z"));
        b.insert("booking_closes".into(), json!("2027-01-15T00:00:00Z"));
        b.insert("cancellation_deadline".into(), json!("2027-01-14T10:00:00Z"));
        b.insert("completion_min_sessions".into(), json!(3));
        let p = expect_problem(app.post("/api/v1/courses", Some(&app.admin_token), &body).await, 422, None).await;
        let errors = p["errors"].as_object().unwrap();
        for field in [
            "title", "capacity", "per_school_cap", "price_pence", "provider_id", "cluster_id",
            "lead_ids[0]", "priority_ids[1]", "staff_group_ids[0]", "phases[1]", "booking_opens",
            "booking_closes", "cancellation_deadline", "completion_min_sessions",
            "sessions[0].end", "sessions[1].venue", "sessions[1].online_url",
        ] {
            assert!(errors.contains_key(field), "{field} not named: {p}");
        }
        assert!(!errors.contains_key("priority_ids[0]"));
        assert!(!errors.contains_key("phases[0]"));
        assert!(p["errors"]["booking_closes"].to_string().contains("first session"), "{p}");
        assert!(p["errors"]["cancellation_deadline"].to_string().contains("first session"), "{p}");
        assert!(p["errors"]["per_school_cap"].to_string().contains("capacity"), "{p}");
        assert!(p["errors"]["priority_ids[1]"].to_string().contains("no-such-priority"), "{p}");
        // The cluster is real, so only the unknown one was named; nothing was created.
        let _ = cluster;
        assert_eq!(app.admin_get("/api/v1/courses?status=all").await["total"], 0);
    }
}

both_backends! {
    async fn each_rule_on_its_own(app: TestApp) {
        let fx = cal_fixture(&app).await;
        let t = Some(app.admin_token.as_str());
        let session = || cal_session("2027-01-14T09:00:00Z", "2027-01-14T15:00:00Z");
        let cases: Vec<(&str, Value)> = vec![
            ("title", json!({"title": "x".repeat(201)})),
            ("summary", json!({"summary": "x".repeat(20_001)})),
            ("capacity", json!({"capacity": 0})),
            ("per_school_cap", json!({"per_school_cap": 31})),
            ("per_school_cap", json!({"per_school_cap": 0})),
            ("booking_closes", json!({"booking_closes": "2027-01-14T09:00:01Z"})),
            ("booking_opens", json!({"booking_opens": "2027-01-10T00:00:00Z", "booking_closes": "2027-01-09T00:00:00Z"})),
            ("cancellation_deadline", json!({"cancellation_deadline": "2027-01-15T00:00:00Z"})),
            ("provider_id", json!({"provider_id": "nope"})),
            ("priority_ids[0]", json!({"priority_ids": ["nope"]})),
            ("staff_group_ids[0]", json!({"staff_group_ids": ["nope"]})),
            ("lead_ids[0]", json!({"lead_ids": ["nope"]})),
            ("phases[0]", json!({"phases": ["college"]})),
            ("format", json!({"format": "webinar"})),
            ("sessions[0].venue", json!({"sessions": [{"start": "2027-01-14T09:00:00Z", "end": "2027-01-14T15:00:00Z"}]})),
            ("sessions[0].online_url", json!({"format": "online"})),
            ("sessions[0].venue.postcode", json!({"sessions": [{"start": "2027-01-14T09:00:00Z", "end": "2027-01-14T15:00:00Z", "venue": {"name": "Hub", "postcode": "nowhere"}}]})),
            ("sessions[0].note", json!({"sessions": [{"start": "2027-01-14T09:00:00Z", "end": "2027-01-14T15:00:00Z", "venue": {"name": "Hub"}, "note": "x".repeat(2001)}]})),
            ("sessions[0].end", json!({"sessions": [{"start": "2027-01-14T09:00:00Z", "end": "2027-01-14T09:00:00Z", "venue": {"name": "Hub"}}]})),
            ("capacity", json!({"capacity": "thirty"})),
        ];
        for (field, change) in cases {
            let mut body = cal_course(&fx, "Rule", vec![session()]);
            for (k, v) in change.as_object().unwrap() {
                body[k] = v.clone();
            }
            let p = expect_problem(app.post("/api/v1/courses", t, &body).await, 422, Some(field)).await;
            // A window that closes before it opens names both ends; anything else one field.
            let both = ["booking_opens", "booking_closes"];
            assert!(
                p["errors"].as_object().unwrap().keys().all(|k| k == field || (both.contains(&field) && both.contains(&k.as_str()))),
                "only {field} expected: {p}"
            );
        }
        // Missing required fields are each named.
        let p = expect_problem(app.post("/api/v1/courses", t, &json!({})).await, 422, None).await;
        for field in ["title", "provider_id", "format", "capacity"] {
            assert!(p["errors"][field].is_array(), "{field}: {p}");
        }
        // An unknown field is named too.
        let mut body = cal_course(&fx, "Rule", vec![session()]);
        body["colour"] = json!("red");
        expect_problem(app.post("/api/v1/courses", t, &body).await, 422, None).await;
        assert_eq!(app.admin_get("/api/v1/courses?status=all").await["total"], 0);
        // The same course with nothing wrong is accepted, postcode normalised.
        let c = cal_create(&app, cal_course(&fx, "Rule", vec![session()])).await;
        assert_eq!(c["sessions"][0]["venue"]["postcode"], "S70 2HZ");
    }
}

both_backends! {
    async fn only_admins_write(app: TestApp) {
        let fx = cal_fixture(&app).await;
        let (_, staff) = cal_person(&app, "Sue Staff", &[Role::Staff, Role::CourseLead, Role::CpdGroup]).await;
        let body = cal_course(&fx, "Not mine", vec![cal_session("2027-01-14T09:00:00Z", "2027-01-14T15:00:00Z")]);
        expect_problem(app.post("/api/v1/courses", Some(&staff), &body).await, 403, None).await;
        expect_problem(app.post("/api/v1/courses", None, &body).await, 401, None).await;
        let c = cal_create(&app, body).await;
        let id = c["id"].as_str().unwrap();
        let sid = c["sessions"][0]["id"].as_str().unwrap();
        expect_problem(app.patch(&format!("/api/v1/courses/{id}"), Some(&staff), &json!({"capacity": 5})).await, 403, None).await;
        expect_problem(app.post(&format!("/api/v1/courses/{id}/publish"), Some(&staff), &json!({})).await, 403, None).await;
        expect_problem(app.post(&format!("/api/v1/courses/{id}/cancel"), Some(&staff), &json!({"reason": "x"})).await, 403, None).await;
        expect_problem(app.post(&format!("/api/v1/courses/{id}/sessions"), Some(&staff), &cal_session("2027-01-15T09:00:00Z", "2027-01-15T10:00:00Z")).await, 403, None).await;
        expect_problem(app.patch(&format!("/api/v1/sessions/{sid}"), Some(&staff), &json!({"note": "x"})).await, 403, None).await;
        expect_problem(app.delete(&format!("/api/v1/sessions/{sid}"), Some(&staff)).await, 403, None).await;
        let after = app.admin_get(&format!("/api/v1/courses/{id}")).await;
        assert_eq!(after["status"], "draft");
        assert_eq!(after["capacity"], 30);
        assert_eq!(after["sessions_count"], 1);
    }
}

both_backends! {
    async fn drafts_and_cancelled_courses_are_for_admins_and_leads(app: TestApp) {
        let fx = cal_fixture(&app).await;
        let (lead, lead_token) = cal_person(&app, "Lee Lead", &[Role::CourseLead]).await;
        let (_, staff_token) = cal_person(&app, "Sue Staff", &[Role::Staff]).await;
        let (_, other_lead) = cal_person(&app, "Olly Other", &[Role::CourseLead]).await;
        let mut body = cal_course(&fx, "Draft course", vec![cal_session("2027-01-14T09:00:00Z", "2027-01-14T15:00:00Z")]);
        body["lead_ids"] = json!([lead]);
        let c = cal_create(&app, body).await;
        let path = format!("/api/v1/courses/{}", c["id"].as_str().unwrap());
        expect_problem(app.get(&path, None).await, 404, None).await;
        expect_problem(app.get(&path, Some(&staff_token)).await, 404, None).await;
        expect_problem(app.get(&path, Some(&other_lead)).await, 404, None).await;
        assert_eq!(expect_json(app.get(&path, Some(&lead_token)).await, 200).await["status"], "draft");
        assert_eq!(app.admin_get(&path).await["status"], "draft");
        // Nor does it show in anyone else's list.
        assert_eq!(expect_json(app.get("/api/v1/courses", None).await, 200).await["total"], 0);
        assert_eq!(expect_json(app.get("/api/v1/courses?status=all", None).await, 200).await["total"], 0);
        assert_eq!(expect_json(app.get("/api/v1/courses?status=draft", Some(&staff_token)).await, 200).await["total"], 0);
        let mine = expect_json(app.get("/api/v1/courses?status=draft", Some(&lead_token)).await, 200).await;
        assert_eq!(cal_titles(&mine), vec!["Draft course"]);
        assert_eq!(app.admin_get("/api/v1/courses?status=draft").await["total"], 1);
        // A bad token is still refused, even where no sign-in is needed.
        expect_problem(app.get("/api/v1/courses", Some("cpd_wrong")).await, 401, None).await;

        // Published: anyone, signed in or not.
        cal_publish(&app, c["id"].as_str().unwrap()).await;
        assert_eq!(expect_json(app.get(&path, None).await, 200).await["status"], "published");
        assert_eq!(expect_json(app.get(&path, Some(&staff_token)).await, 200).await["status"], "published");
        assert_eq!(cal_titles(&expect_json(app.get("/api/v1/courses", None).await, 200).await), vec!["Draft course"]);

        // Cancelled: admins and leads again.
        expect_json(app.post(&format!("{path}/cancel"), Some(&app.admin_token), &json!({"reason": "Trainer ill"})).await, 200).await;
        expect_problem(app.get(&path, None).await, 404, None).await;
        expect_problem(app.get(&path, Some(&staff_token)).await, 404, None).await;
        assert_eq!(expect_json(app.get(&path, Some(&lead_token)).await, 200).await["status"], "cancelled");
        assert_eq!(expect_json(app.get("/api/v1/courses", None).await, 200).await["total"], 0);
        assert_eq!(app.admin_get("/api/v1/courses?status=cancelled").await["total"], 1);
        expect_problem(app.get("/api/v1/courses/no-such-course", None).await, 404, None).await;
    }
}

both_backends! {
    async fn publish_and_cancel_lifecycle(app: TestApp) {
        let fx = cal_fixture(&app).await;
        let t = Some(app.admin_token.as_str());
        let c = cal_create(&app, cal_course(&fx, "Lifecycle", vec![])).await;
        let id = c["id"].as_str().unwrap().to_string();
        // No session yet: publishing says what is missing.
        let p = expect_problem(app.post(&format!("/api/v1/courses/{id}/publish"), t, &json!({})).await, 422, Some("sessions")).await;
        assert!(p["errors"]["sessions"][0].as_str().unwrap().contains("at least one session"));
        let s = expect_json(app.post(&format!("/api/v1/courses/{id}/sessions"), t,
            &cal_session("2027-02-01T09:00:00Z", "2027-02-01T12:00:00Z")).await, 201).await;
        assert_eq!(s["course_id"], id.as_str());
        assert_eq!(s["position"], 1);
        let published = cal_publish(&app, &id).await;
        assert_eq!(published["status"], "published");
        assert!(published["published_at"].is_string());
        assert_eq!(published["revision"], 1, "adding the session raised the revision");
        let p = expect_problem(app.post(&format!("/api/v1/courses/{id}/publish"), t, &json!({})).await, 409, None).await;
        assert_eq!(p["code"], "already_published");
        // The last session of a published course stays.
        let p = expect_problem(app.delete(&format!("/api/v1/sessions/{}", s["id"].as_str().unwrap()), t).await, 409, None).await;
        assert_eq!(p["code"], "last_session");
        // Cancelling needs a reason.
        expect_problem(app.post(&format!("/api/v1/courses/{id}/cancel"), t, &json!({})).await, 422, Some("reason")).await;
        expect_problem(app.post(&format!("/api/v1/courses/{id}/cancel"), t, &json!({"reason": "  "})).await, 422, Some("reason")).await;
        let cancelled = expect_json(app.post(&format!("/api/v1/courses/{id}/cancel"), t, &json!({"reason": "The trainer is ill"})).await, 200).await;
        assert_eq!(cancelled["status"], "cancelled");
        assert_eq!(cancelled["cancel_reason"], "The trainer is ill");
        assert!(cancelled["cancelled_at"].is_string());
        assert_eq!(cancelled["revision"], 2, "cancelling raised the revision");
        // Nothing more can change.
        for (r, code) in [
            (app.post(&format!("/api/v1/courses/{id}/cancel"), t, &json!({"reason": "again"})).await, "already_cancelled"),
            (app.post(&format!("/api/v1/courses/{id}/publish"), t, &json!({})).await, "course_cancelled"),
            (app.patch(&format!("/api/v1/courses/{id}"), t, &json!({"title": "New"})).await, "course_cancelled"),
            (app.post(&format!("/api/v1/courses/{id}/sessions"), t, &cal_session("2027-02-02T09:00:00Z", "2027-02-02T10:00:00Z")).await, "course_cancelled"),
            (app.patch(&format!("/api/v1/sessions/{}", s["id"].as_str().unwrap()), t, &json!({"note": "x"})).await, "course_cancelled"),
        ] {
            assert_eq!(expect_problem(r, 409, None).await["code"], code);
        }
        // The cancellation is in the audit log, with its reason.
        let cid = id.clone();
        let audit: Vec<(String, String)> = cal_db(&app, move |conn| {
            use cpd_hub::db::schema::audit_log;
            use diesel::prelude::*;
            audit_log::table
                .filter(audit_log::subject_id.eq(&cid))
                .order(audit_log::at.asc())
                .select((audit_log::action, audit_log::detail))
                .load(conn)
                .unwrap()
        }).await;
        let actions: Vec<&str> = audit.iter().map(|(a, _)| a.as_str()).collect();
        assert_eq!(actions, vec!["course.create", "session.create", "course.publish", "course.cancel"]);
        assert!(audit[3].1.contains("The trainer is ill"));
        // No one was booked, so no one is told.
        let cid = id.clone();
        let messages: i64 = cal_db(&app, move |conn| {
            use cpd_hub::db::schema::outbox;
            use diesel::prelude::*;
            outbox::table.filter(outbox::subject_id.eq(&cid)).count().get_result(conn).unwrap()
        }).await;
        assert_eq!(messages, 0);
        // A draft can be cancelled too.
        let d = cal_create(&app, cal_course(&fx, "Never ran", vec![])).await;
        let r = app.post(&format!("/api/v1/courses/{}/cancel", d["id"].as_str().unwrap()), t, &json!({"reason": "Not needed"})).await;
        assert_eq!(expect_json(r, 200).await["status"], "cancelled");
        expect_problem(app.post("/api/v1/courses/nope/cancel", t, &json!({"reason": "x"})).await, 404, None).await;
        expect_problem(app.post("/api/v1/courses/nope/publish", t, &json!({})).await, 404, None).await;
    }
}

both_backends! {
    async fn revision_rises_with_changes_calendars_show(app: TestApp) {
        let fx = cal_fixture(&app).await;
        let t = Some(app.admin_token.as_str());
        let c = cal_publish_new(&app, cal_course(&fx, "Revisions", vec![
            cal_session("2027-02-01T09:00:00Z", "2027-02-01T12:00:00Z"),
            cal_session("2027-02-08T09:00:00Z", "2027-02-08T12:00:00Z"),
        ])).await;
        let id = c["id"].as_str().unwrap();
        let path = format!("/api/v1/courses/{id}");
        assert_eq!(c["revision"], 0);
        // Capacity is not in a calendar: no change of revision.
        let r = expect_json(app.patch(&path, t, &json!({"capacity": 40})).await, 200).await;
        assert_eq!((r["capacity"].as_i64(), r["revision"].as_i64()), (Some(40), Some(0)));
        // The title is.
        let r = expect_json(app.patch(&path, t, &json!({"title": "Revisions, renamed"})).await, 200).await;
        assert_eq!(r["revision"], 1);
        // Moving a session: times, order and the course's first start follow.
        let second = c["sessions"][1]["id"].as_str().unwrap();
        let s = expect_json(app.patch(&format!("/api/v1/sessions/{second}"), t,
            &json!({"start": "2027-01-25T10:00:00+00:00", "end": "2027-01-25T12:00:00Z"})).await, 200).await;
        assert_eq!(s["start"], "2027-01-25T10:00:00Z");
        assert_eq!(s["position"], 1);
        let r = app.admin_get(&path).await;
        assert_eq!(r["revision"], 2);
        assert_eq!(r["first_session_start"], "2027-01-25T10:00:00Z");
        assert_eq!(r["sessions"][0]["id"], second);
        // The venue.
        let s = expect_json(app.patch(&format!("/api/v1/sessions/{second}"), t,
            &json!({"venue": {"name": "Dearne Playhouse", "postcode": "s63 7ny"}})).await, 200).await;
        assert_eq!(s["venue"]["postcode"], "S63 7NY");
        assert_eq!(app.admin_get(&path).await["revision"], 3);
        // The same values again change nothing.
        expect_json(app.patch(&format!("/api/v1/sessions/{second}"), t,
            &json!({"venue": {"name": "Dearne Playhouse", "postcode": "S63 7NY"}})).await, 200).await;
        assert_eq!(app.admin_get(&path).await["revision"], 3);
        // Adding and removing sessions.
        let added = expect_json(app.post(&format!("{path}/sessions"), t,
            &cal_session("2027-03-01T09:00:00Z", "2027-03-01T12:00:00Z")).await, 201).await;
        assert_eq!(added["position"], 3);
        assert_eq!(app.admin_get(&path).await["revision"], 4);
        let r = app.delete(&format!("/api/v1/sessions/{}", added["id"].as_str().unwrap()), t).await;
        assert_eq!(r.status(), 204);
        let r = app.admin_get(&path).await;
        assert_eq!(r["revision"], 5);
        assert_eq!(r["sessions_count"], 2);
        assert_eq!(r["last_session_end"], "2027-02-01T12:00:00Z");
        expect_problem(app.delete(&format!("/api/v1/sessions/{}", added["id"].as_str().unwrap()), t).await, 404, None).await;
    }
}

both_backends! {
    async fn session_changes_are_checked_with_their_course(app: TestApp) {
        let fx = cal_fixture(&app).await;
        let t = Some(app.admin_token.as_str());
        let mut body = cal_course(&fx, "Checked", vec![cal_session("2027-02-01T09:00:00Z", "2027-02-01T12:00:00Z")]);
        body["booking_closes"] = json!("2027-01-25T17:00:00Z");
        body["completion_min_sessions"] = json!(1);
        let c = cal_create(&app, body).await;
        let id = c["id"].as_str().unwrap();
        let sid = c["sessions"][0]["id"].as_str().unwrap();
        // The session's own fields, unprefixed.
        expect_problem(app.patch(&format!("/api/v1/sessions/{sid}"), t, &json!({"end": "2027-02-01T08:00:00Z"})).await, 422, Some("end")).await;
        expect_problem(app.patch(&format!("/api/v1/sessions/{sid}"), t, &json!({"venue": null})).await, 422, Some("venue")).await;
        expect_problem(app.post(&format!("/api/v1/courses/{id}/sessions"), t,
            &json!({"start": "2027-02-08T09:00:00Z", "end": "2027-02-08T12:00:00Z"})).await, 422, Some("venue")).await;
        expect_problem(app.post(&format!("/api/v1/courses/{id}/sessions"), t,
            &json!({"start": "2027-02-08T09:00:00", "end": "2027-02-08T12:00:00Z", "venue": {"name": "Hub"}})).await, 422, Some("start")).await;
        // A session before booking closes breaks a rule of the course, named by its field.
        let p = expect_problem(app.post(&format!("/api/v1/courses/{id}/sessions"), t,
            &cal_session("2027-01-20T09:00:00Z", "2027-01-20T12:00:00Z")).await, 422, Some("booking_closes")).await;
        assert!(p["detail"].as_str().unwrap().contains("booking_closes"));
        expect_problem(app.patch(&format!("/api/v1/sessions/{sid}"), t,
            &json!({"start": "2027-01-20T09:00:00Z", "end": "2027-01-20T12:00:00Z"})).await, 422, Some("booking_closes")).await;
        expect_problem(app.patch("/api/v1/sessions/nope", t, &json!({"note": "x"})).await, 404, None).await;
        expect_problem(app.post("/api/v1/courses/nope/sessions", t, &cal_session("2027-02-08T09:00:00Z", "2027-02-08T12:00:00Z")).await, 404, None).await;
        // A session cannot go while the completion rule asks for more sessions than remain.
        let extra = expect_json(app.post(&format!("/api/v1/courses/{id}/sessions"), t,
            &cal_session("2027-02-08T09:00:00Z", "2027-02-08T12:00:00Z")).await, 201).await;
        expect_json(app.patch(&format!("/api/v1/courses/{id}"), t, &json!({"completion_min_sessions": 2})).await, 200).await;
        expect_problem(app.delete(&format!("/api/v1/sessions/{sid}"), t).await, 422, Some("completion_min_sessions")).await;
        expect_json(app.patch(&format!("/api/v1/courses/{id}"), t, &json!({"completion_min_sessions": null})).await, 200).await;
        // A draft may lose every session.
        assert_eq!(app.delete(&format!("/api/v1/sessions/{sid}"), t).await.status(), 204);
        assert_eq!(app.delete(&format!("/api/v1/sessions/{}", extra["id"].as_str().unwrap()), t).await.status(), 204);
        let after = app.admin_get(&format!("/api/v1/courses/{id}")).await;
        assert_eq!(after["sessions_count"], 0);
        assert_eq!(after["first_session_start"], Value::Null);
        // Notes are kept, and cleared with null.
        let s = expect_json(app.post(&format!("/api/v1/courses/{id}/sessions"), t,
            &json!({"start": "2027-02-08T09:00:00Z", "end": "2027-02-08T12:00:00Z", "venue": {"name": "Hub"}, "note": "Bring a laptop"})).await, 201).await;
        assert_eq!(s["note"], "Bring a laptop");
        let s = expect_json(app.patch(&format!("/api/v1/sessions/{}", s["id"].as_str().unwrap()), t, &json!({"note": null})).await, 200).await;
        assert_eq!(s["note"], Value::Null);
    }
}

both_backends! {
    async fn capacity_cannot_drop_below_confirmed_places(app: TestApp) {
        let fx = cal_fixture(&app).await;
        let t = Some(app.admin_token.as_str());
        let mut body = cal_course(&fx, "Popular", vec![cal_session("2027-02-01T09:00:00Z", "2027-02-01T12:00:00Z")]);
        body["per_school_cap"] = json!(2);
        body["per_school_cap_until"] = json!("2027-01-20T00:00:00Z");
        let c = cal_publish_new(&app, body).await;
        let id = c["id"].as_str().unwrap();
        let path = format!("/api/v1/courses/{id}");
        cal_set_counts(&app, id, 12, 3).await;
        let got = app.admin_get(&path).await;
        assert_eq!((got["places_left"].as_i64(), got["waitlist_length"].as_i64()), (Some(18), Some(3)));
        let p = expect_problem(app.patch(&path, t, &json!({"capacity": 11})).await, 409, None).await;
        assert_eq!(p["code"], "capacity_below_confirmed");
        assert!(p["detail"].as_str().unwrap().contains("12 places are already confirmed"), "{p}");
        assert_eq!(app.admin_get(&path).await["capacity"], 30);
        // Down to exactly the confirmed places is fine: the course is then full.
        let r = expect_json(app.patch(&path, t, &json!({"capacity": 12})).await, 200).await;
        assert_eq!(r["places_left"], 0);
        // The per-school cap is within the new capacity.
        let r = expect_json(app.patch(&path, t, &json!({"per_school_cap": 12})).await, 200).await;
        assert_eq!(r["per_school_cap"], 12);
        expect_problem(app.patch(&path, t, &json!({"per_school_cap": 13})).await, 422, Some("per_school_cap")).await;
        // Lifting the cap by hand.
        let r = expect_json(app.patch(&path, t, &json!({"per_school_cap": null, "per_school_cap_until": null})).await, 200).await;
        assert_eq!(r["per_school_cap"], Value::Null);
        assert_eq!(r["per_school_cap_until"], Value::Null);
        // Fields not sent stay as they were.
        assert_eq!(r["capacity"], 12);
        assert_eq!(r["title"], "Popular");
    }
}

both_backends! {
    async fn patch_changes_links_and_checks_them(app: TestApp) {
        let fx = cal_fixture(&app).await;
        let t = Some(app.admin_token.as_str());
        let (lead, _) = cal_person(&app, "Lou Lead", &[Role::CourseLead]).await;
        let cluster = cal_cluster(&app, "Penistone").await;
        let c = cal_create(&app, cal_course(&fx, "Links", vec![])).await;
        let path = format!("/api/v1/courses/{}", c["id"].as_str().unwrap());
        let r = expect_json(app.patch(&path, t, &json!({
            "lead_ids": [lead, lead],
            "priority_ids": [fx.priority("eal"), fx.priority("send")],
            "staff_group_ids": [fx.group("teaching_assistant")],
            "phases": ["secondary", "primary", "primary"],
            "cluster_id": cluster,
            "summary": "Now with *emphasis*",
        })).await, 200).await;
        assert_eq!(r["leads"].as_array().unwrap().len(), 1);
        let keys: Vec<&str> = r["priorities"].as_array().unwrap().iter().map(|p| p["key"].as_str().unwrap()).collect();
        assert_eq!(keys, vec!["send", "eal"], "ordered as the alliance orders its priorities");
        assert_eq!(r["staff_groups"][0]["key"], "teaching_assistant");
        assert_eq!(r["phases"], json!(["primary", "secondary"]));
        assert_eq!(r["cluster"]["name"], "Penistone");
        assert_eq!(r["summary_html"], "<p>Now with <em>emphasis</em></p>\n");
        let p = expect_problem(app.patch(&path, t, &json!({"priority_ids": ["x"], "cluster_id": "y", "capacity": 0})).await, 422, None).await;
        for f in ["priority_ids[0]", "cluster_id", "capacity"] {
            assert!(p["errors"][f].is_array(), "{f}: {p}");
        }
        let r = expect_json(app.patch(&path, t, &json!({"cluster_id": null, "phases": []})).await, 200).await;
        assert_eq!(r["cluster"], Value::Null);
        assert_eq!(r["phases"], json!([]));
        assert_eq!(r["priorities"].as_array().unwrap().len(), 2, "lists not sent stay");
        expect_problem(app.patch("/api/v1/courses/nope", t, &json!({"title": "x"})).await, 404, None).await;
    }
}

/// Creates the courses the filter test uses; returns (cluster id, ids by title).
async fn filter_fixture(
    app: &TestApp,
    fx: &CalFixture,
) -> (String, std::collections::HashMap<String, String>) {
    let cluster = cal_cluster(app, "Dearne").await;
    let mut ids = std::collections::HashMap::new();
    let make = |title: &str, start: &str| {
        let end = start.replace("T09:", "T12:");
        cal_course(fx, title, vec![cal_session(start, &end)])
    };
    // Spring: SEND for TAs in primary, in person, in the Dearne cluster.
    let mut a = make(
        "Autism awareness for teaching assistants",
        "2027-01-14T09:00:00Z",
    );
    a["priority_ids"] = json!([fx.priority("send")]);
    a["staff_group_ids"] = json!([fx.group("teaching_assistant")]);
    a["phases"] = json!(["primary"]);
    a["cluster_id"] = json!(cluster);
    a["summary"] = json!("Understanding **autistic** pupils. Café-style workshop.");
    // Online leadership for secondary senior leaders.
    let mut b = make("Leading curriculum change", "2027-02-10T09:00:00Z");
    b["priority_ids"] = json!([fx.priority("leadership"), fx.priority("curriculum")]);
    b["staff_group_ids"] = json!([fx.group("senior_leader")]);
    b["phases"] = json!(["secondary"]);
    b["format"] = json!("online");
    b["sessions"][0]["venue"] = Value::Null;
    b["sessions"][0]["online_url"] = json!("https://meet.example.org/leading");
    // Open to everyone: no staff groups, no phases.
    let mut c = make("Wellbeing for all staff", "2027-03-03T09:00:00Z");
    c["priority_ids"] = json!([fx.priority("wellbeing")]);
    c["summary"] = json!("Looking after yourself: CAFÉ conversations about workload.");
    // Summer, full.
    let mut d = make("Early reading and phonics", "2027-05-05T09:00:00Z");
    d["priority_ids"] = json!([fx.priority("reading"), fx.priority("early_years")]);
    d["phases"] = json!(["nursery", "primary"]);
    d["capacity"] = json!(10);
    for (title, body) in [
        ("Autism awareness for teaching assistants", a),
        ("Leading curriculum change", b),
        ("Wellbeing for all staff", c),
        ("Early reading and phonics", d),
    ] {
        let course = cal_publish_new(app, body).await;
        ids.insert(
            title.to_string(),
            course["id"].as_str().unwrap().to_string(),
        );
    }
    cal_set_counts(app, &ids["Early reading and phonics"], 10, 4).await;
    // A draft that matches everything but is not published.
    let mut e = make("Draft autism course", "2027-01-20T09:00:00Z");
    e["priority_ids"] = json!([fx.priority("send")]);
    let draft = cal_create(app, e).await;
    ids.insert(
        "Draft autism course".into(),
        draft["id"].as_str().unwrap().to_string(),
    );
    (cluster, ids)
}

both_backends! {
    async fn every_filter_of_the_calendar(app: TestApp) {
        let fx = cal_fixture(&app).await;
        let (cluster, ids) = filter_fixture(&app, &fx).await;
        let list = |q: String| {
            let app = &app;
            async move { expect_json(app.get(&format!("/api/v1/courses{q}"), None).await, 200).await }
        };
        let all = list(String::new()).await;
        assert_eq!(all["total"], 4);
        assert_eq!(cal_titles(&all), vec![
            "Autism awareness for teaching assistants",
            "Leading curriculum change",
            "Wellbeing for all staff",
            "Early reading and phonics",
        ], "ordered by first session");
        let first = &all["items"][0];
        assert_eq!(first["first_session_start"], "2027-01-14T09:00:00Z");
        assert_eq!(first["first_session_display"], "Thu 14 Jan 2027, 09:00");
        assert_eq!(first["sessions_count"], 1);
        assert_eq!(first["places_left"], 30);
        assert_eq!(first["waitlist_length"], 0);
        assert_eq!(first["priorities"][0]["key"], "send");
        assert_eq!(first["staff_groups"][0]["key"], "teaching_assistant");
        assert_eq!(first["phases"], json!(["primary"]));
        assert_eq!(first["provider"]["name"], "Barnsley Teaching Alliance");
        assert_eq!(first["cluster_id"], cluster.as_str());
        let full = &all["items"][3];
        assert_eq!((full["places_left"].as_i64(), full["waitlist_length"].as_i64()), (Some(0), Some(4)));

        let cases: Vec<(String, Vec<&str>)> = vec![
            ("?from=2027-02-10".into(), vec!["Leading curriculum change", "Wellbeing for all staff", "Early reading and phonics"]),
            ("?from=2027-02-10T09:00:01Z".into(), vec!["Wellbeing for all staff", "Early reading and phonics"]),
            ("?to=2027-02-10".into(), vec!["Autism awareness for teaching assistants", "Leading curriculum change"]),
            ("?from=2027-02-01&to=2027-03-31".into(), vec!["Leading curriculum change", "Wellbeing for all staff"]),
            (format!("?priority={}", fx.priority("send")), vec!["Autism awareness for teaching assistants"]),
            ("?priority=curriculum".into(), vec!["Leading curriculum change"]),
            ("?priority=wellbeing,early_years".into(), vec!["Wellbeing for all staff", "Early reading and phonics"]),
            // Staff groups and phases: courses for them, and courses open to everyone.
            ("?staff_group=teaching_assistant".into(), vec!["Autism awareness for teaching assistants", "Wellbeing for all staff", "Early reading and phonics"]),
            (format!("?staff_group={}", fx.group("senior_leader")), vec!["Leading curriculum change", "Wellbeing for all staff", "Early reading and phonics"]),
            ("?phase=secondary".into(), vec!["Leading curriculum change", "Wellbeing for all staff"]),
            ("?phase=nursery".into(), vec!["Wellbeing for all staff", "Early reading and phonics"]),
            (format!("?cluster={cluster}"), vec!["Autism awareness for teaching assistants"]),
            ("?format=online".into(), vec!["Leading curriculum change"]),
            ("?format=in_person,hybrid".into(), vec!["Autism awareness for teaching assistants", "Wellbeing for all staff", "Early reading and phonics"]),
            ("?q=AUTISM".into(), vec!["Autism awareness for teaching assistants"]),
            ("?q=autistic".into(), vec!["Autism awareness for teaching assistants"]),
            ("?q=curriculum%20leading".into(), vec!["Leading curriculum change"]),
            ("?q=curriculum%20phonics".into(), vec![]),
            // Non-ASCII letters match whatever their case, the same on both backends.
            ("?q=caf%C3%A9".into(), vec!["Autism awareness for teaching assistants", "Wellbeing for all staff"]),
            ("?q=CAF%C3%89".into(), vec!["Autism awareness for teaching assistants", "Wellbeing for all staff"]),
            // LIKE wildcards are literal.
            ("?q=%25".into(), vec![]),
            ("?q=_".into(), vec![]),
            ("?has_places=true".into(), vec!["Autism awareness for teaching assistants", "Leading curriculum change", "Wellbeing for all staff"]),
            ("?has_places=false".into(), vec!["Early reading and phonics"]),
            ("?status=published".into(), vec!["Autism awareness for teaching assistants", "Leading curriculum change", "Wellbeing for all staff", "Early reading and phonics"]),
            ("?priority=send&staff_group=teaching_assistant&phase=primary&format=in_person&q=awareness&has_places=true&from=2027-01-01&to=2027-01-31".into(),
             vec!["Autism awareness for teaching assistants"]),
        ];
        for (q, want) in cases {
            let got = list(q.clone()).await;
            assert_eq!(cal_titles(&got), want, "{q}");
            assert_eq!(got["total"], want.len(), "{q}");
        }
        // Admins choose statuses; every status together is still in date order.
        let drafts = app.admin_get("/api/v1/courses?status=draft").await;
        assert_eq!(cal_titles(&drafts), vec!["Draft autism course"]);
        let every = app.admin_get("/api/v1/courses?status=all&priority=send").await;
        assert_eq!(cal_titles(&every), vec!["Autism awareness for teaching assistants", "Draft autism course"]);
        let _ = ids;
        // Paging.
        let page = list("?limit=2&offset=1".into()).await;
        assert_eq!(page["total"], 4);
        assert_eq!(cal_titles(&page), vec!["Leading curriculum change", "Wellbeing for all staff"]);
        assert_eq!(list("?offset=10".into()).await["items"], json!([]));
        // Bad filters are each named.
        let p = expect_problem(app.get("/api/v1/courses?from=2027-13-01&to=2027-01-01T09:00:00&phase=college&format=webinar&status=open&has_places=maybe&limit=0&offset=x", None).await, 422, None).await;
        for f in ["from", "to", "phase", "format", "status", "has_places", "offset"] {
            assert!(p["errors"][f].is_array(), "{f}: {p}");
        }
        assert!(p["errors"]["to"][0].as_str().unwrap().contains("offset"));
        expect_problem(app.get("/api/v1/courses?limit=0", None).await, 422, Some("limit")).await;
        // Several values go in one parameter, comma-separated; a repeated one is named.
        expect_problem(app.get("/api/v1/courses?priority=send&priority=eal", None).await, 422, Some("priority")).await;
        expect_problem(app.get("/api/v1/courses?limit=1001", None).await, 422, Some("limit")).await;
        expect_problem(app.get("/api/v1/courses?from=2027-03-01&to=2027-02-01", None).await, 422, Some("to")).await;
    }
}

both_backends! {
    async fn a_term_of_demo_courses(app: TestApp) {
        let created = cal_db(&app, |conn| cpd_hub::commands::seed_courses::seed_term(conn, &[]).unwrap()).await;
        assert!((35..=50).contains(&created.created), "{created:?}");
        let again = cal_db(&app, |conn| cpd_hub::commands::seed_courses::seed_term(conn, &[]).unwrap()).await;
        assert_eq!(again.created, 0, "idempotent by title");
        assert_eq!(again.existing, created.created);
        let spring = expect_json(app.get("/api/v1/courses?from=2027-01-01&to=2027-04-30&limit=100", None).await, 200).await;
        assert!(spring["total"].as_i64().unwrap() >= 25, "{}", spring["total"]);
        for key in ["send", "leadership", "curriculum", "attendance_behaviour", "wellbeing", "eal", "early_years"] {
            let n = expect_json(app.get(&format!("/api/v1/courses?priority={key}&from=2027-01-01&to=2027-04-30"), None).await, 200).await["total"].as_i64().unwrap();
            assert!(n >= 2, "{key}: {n}");
        }
        let online = expect_json(app.get("/api/v1/courses?format=online&from=2027-01-01", None).await, 200).await["total"].as_i64().unwrap();
        assert!(online >= 3);
        let autumn = expect_json(app.get("/api/v1/courses?from=2026-09-01&to=2026-12-31", None).await, 200).await["total"].as_i64().unwrap();
        assert!(autumn >= 3);
        let items = spring["items"].as_array().unwrap();
        assert!(items.iter().any(|i| i["sessions_count"].as_i64().unwrap() >= 3), "a multi-session programme");
        assert!(items.iter().any(|i| i["requires_approval"] == true));
        assert!(items.iter().any(|i| i["per_school_cap"].is_number()));

        let n = cal_db(&app, |conn| {
            crate::bulk_courses::seed_bulk(conn, 30, 3).unwrap();
            use cpd_hub::db::schema::{course_sessions, courses};
            use diesel::prelude::*;
            let c: i64 = courses::table.count().get_result(conn).unwrap();
            let s: i64 = course_sessions::table.count().get_result(conn).unwrap();
            (c, s)
        }).await;
        assert_eq!(n.0, created.created as i64 + 30);
        let all = app.admin_get("/api/v1/courses?status=all&q=bulk&limit=100").await;
        assert_eq!(all["total"], 30);
        assert!(all["items"].as_array().unwrap().iter().all(|i| i["sessions_count"] == 3));
    }
}

both_backends! {
    async fn the_openapi_document_describes_the_calendar(app: TestApp) {
        let doc = expect_json(app.get("/api/openapi.json", None).await, 200).await;
        let paths = doc["paths"].as_object().unwrap();
        for (p, methods) in [
            ("/api/v1/courses", vec!["get", "post"]),
            ("/api/v1/courses/{id}", vec!["get", "patch"]),
            ("/api/v1/courses/{id}/publish", vec!["post"]),
            ("/api/v1/courses/{id}/cancel", vec!["post"]),
            ("/api/v1/courses/{id}/sessions", vec!["post"]),
            ("/api/v1/sessions/{id}", vec!["patch", "delete"]),
            ("/api/v1/courses/{id}/calendar.ics", vec!["get"]),
            ("/calendar.ics", vec!["get"]),
            ("/calendar/{token}.ics", vec!["get"]),
            ("/api/v1/me/calendar-feed", vec!["post", "delete"]),
        ] {
            for m in methods {
                assert!(paths.get(p).and_then(|x| x.get(m)).is_some(), "{m} {p} missing from OpenAPI");
            }
        }
        let schemas = &doc["components"]["schemas"];
        for s in ["NewCourse", "Course", "CourseSummary", "Session", "NewSession", "CourseChanges", "SessionChanges", "CancelCourse", "CalendarFeed"] {
            assert!(schemas[s].is_object(), "{s} missing");
            assert!(schemas[s]["example"].is_object() || schemas[s]["examples"].is_array(), "{s} has no example");
        }
        let params: Vec<&str> = paths["/api/v1/courses"]["get"]["parameters"].as_array().unwrap()
            .iter().map(|p| p["name"].as_str().unwrap()).collect();
        for q in ["from", "to", "priority", "staff_group", "phase", "cluster", "format", "q", "status", "has_places", "limit", "offset"] {
            assert!(params.contains(&q), "{q} not documented");
        }
    }
}

both_backends! {
    async fn a_kept_list_follows_every_change(app: TestApp) {
        let fx = cal_fixture(&app).await;
        let t = Some(app.admin_token.as_str());
        let mut body = cal_course(&fx, "Kept", vec![cal_session("2027-02-01T09:00:00Z", "2027-02-01T12:00:00Z")]);
        body["priority_ids"] = json!([fx.priority("send")]);
        let c = cal_publish_new(&app, body).await;
        let id = c["id"].as_str().unwrap().to_string();
        let list = || async { expect_json(app.get("/api/v1/courses?priority=send", None).await, 200).await };
        assert_eq!(list().await["items"][0]["places_left"], 30);
        assert_eq!(list().await["items"][0]["places_left"], 30);
        // Place counters written straight to the database, as the bookings code does. They do
        // not raise the calendar's generation (every booking would otherwise queue on its one
        // row): the course page is exact at once, and a kept list catches up within
        // PLACES_MAX_AGE.
        let generation = || async { cal_db(&app, |conn| cpd_hub::store::courses::calendar_generation(conn).unwrap()).await };
        let before = generation().await;
        cal_set_counts(&app, &id, 30, 2).await;
        assert_eq!(generation().await, before, "place counters do not raise the generation");
        let page = expect_json(app.get(&format!("/api/v1/courses/{id}"), None).await, 200).await;
        assert_eq!((page["places_left"].as_i64(), page["waitlist_length"].as_i64()), (Some(0), Some(2)));
        tokio::time::sleep(cpd_hub::app::cache::PLACES_MAX_AGE).await;
        let got = list().await;
        assert_eq!((got["items"][0]["places_left"].as_i64(), got["items"][0]["waitlist_length"].as_i64()), (Some(0), Some(2)));
        // Anything else a list shows still raises it.
        // A renamed priority.
        let pid = fx.priority("send");
        cal_db(&app, move |conn| {
            use cpd_hub::db::schema::priorities;
            use diesel::prelude::*;
            diesel::update(priorities::table.find(&pid)).set(priorities::name.eq("Inclusion and SEND")).execute(conn).unwrap();
        }).await;
        assert!(generation().await > before, "a renamed priority raises the generation");
        assert_eq!(list().await["items"][0]["priorities"][0]["name"], "Inclusion and SEND");
        // Changes through the API: a new title, a new course, a cancellation.
        expect_json(app.patch(&format!("/api/v1/courses/{id}"), t, &json!({"title": "Kept, renamed"})).await, 200).await;
        assert_eq!(cal_titles(&list().await), vec!["Kept, renamed"]);
        let mut other = cal_course(&fx, "Another", vec![cal_session("2027-01-01T09:00:00Z", "2027-01-01T12:00:00Z")]);
        other["priority_ids"] = json!([fx.priority("send")]);
        cal_publish_new(&app, other).await;
        assert_eq!(cal_titles(&list().await), vec!["Another", "Kept, renamed"]);
        expect_json(app.post(&format!("/api/v1/courses/{id}/cancel"), t, &json!({"reason": "No"})).await, 200).await;
        assert_eq!(cal_titles(&list().await), vec!["Another"]);
        // A session moved.
        let another = list().await["items"][0]["id"].as_str().unwrap().to_string();
        let course = app.admin_get(&format!("/api/v1/courses/{another}")).await;
        expect_json(app.patch(&format!("/api/v1/sessions/{}", course["sessions"][0]["id"].as_str().unwrap()), t,
            &json!({"start": "2027-01-02T09:00:00Z", "end": "2027-01-02T12:00:00Z"})).await, 200).await;
        assert_eq!(list().await["items"][0]["first_session_start"], "2027-01-02T09:00:00Z");
    }
}
