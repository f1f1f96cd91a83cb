//! The permission matrix: every route in the OpenAPI document must have a rule here, and each
//! rule is checked with a caller of each kind (none, staff, another staff member, their
//! school's lead, another school's lead, a CPD group member, the courses' lead, an admin).
//! Pages send someone not signed in to sign in where the API answers 401.
//!
//! A new route without a rule fails `every_route_has_a_rule`; a route that lets someone in
//! whom its rule keeps out (or the reverse) fails the matrix.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

use cpd_hub::domain::roles::Role;
use reqwest::Method;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::TestApp;

/// Who may use a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rule {
    /// Anyone, signed in or not: every caller gets this status (never 401 or 403). Routes
    /// whose credential is in the request (a sign-in link, a feed or evaluation token) are
    /// asked with one that does not exist: their answer is 404 for everyone.
    Anyone(u16),
    /// Anyone signed in; 401 without credentials.
    SignedIn,
    /// Admins; 403 for everyone else signed in.
    Admin,
    /// The person in the path (or whose booking it is), their school's lead, and admins; 404
    /// for everyone else signed in (so ids cannot be probed).
    SelfLeadAdmin,
    /// Reading a person: as [`Rule::SelfLeadAdmin`], and the CPD group too.
    ReadPerson,
    /// Changing a person: as [`Rule::SelfLeadAdmin`]; the CPD group sees them, so 403.
    EditPerson,
    /// Adding a person to a school: its lead and admins; 403 for everyone else.
    SchoolLeadAdmin,
    /// Erasing a person: admins; 403 for those who may see them, 404 for the rest.
    Erase,
    /// The caller's own record (a token of the subject's): 404 for everyone else.
    Own,
    /// Booking a place for the subject: themselves, their school's lead and admins; 404 for
    /// everyone else signed in (they may not learn the person exists).
    BookFor,
    /// Seeing the subject's booking: as [`Rule::BookFor`], plus the course's leads and the CPD
    /// group; 404 for everyone else.
    ReadBooking,
    /// Cancelling the subject's booking: themselves, their school's lead, admins; 403 for the
    /// course's leads and the CPD group (who see it), 404 for the rest.
    CancelBooking,
    /// Approving or declining a request from the subject's school: its lead and admins; 403
    /// for the course's leads and the CPD group (who see it), 404 for the rest.
    DecideBooking,
    /// The school view and its decisions, for the subject's school: its lead and admins; 404
    /// for another school's lead (who may not learn of it), 403 for everyone else.
    SchoolView,
    /// A record of the caller's own that does not exist: 404 for everyone signed in.
    NoSuch,
    /// The approvals list: school leads (of any school: each sees their own) and admins; 403
    /// for everyone else.
    Approver,
    /// A session's register (reading, taking it, its history, walk-ins): the course's leads
    /// and admins; 404 for everyone else signed in, school leads and the CPD group included.
    CourseLeadAdmin,
    /// Checking in with a session's code: anyone signed in may try; the subject, who holds a
    /// place on the session's course, is checked in; everyone else holds none: 409.
    CheckIn,
    /// The engagement report: the CPD group and admins (the whole alliance) and school leads
    /// (their own school's figures); 403 for everyone else.
    Reports,
    /// The alliance's reports (impact): the CPD group and admins; 403 for everyone else,
    /// school leads included.
    AllianceReports,
    /// The reports dashboard: the CPD group and admins; school leads are sent on to their
    /// school's view; 403 for everyone else.
    ReportsDashboard,
    /// One school's report (the subject's school, named in the request): its lead, the CPD
    /// group and admins; 404 for everyone else (another school's lead may not see it).
    SchoolReport,
    /// A course's evaluation summary: the course's leads, the CPD group and admins; 404 for
    /// everyone else.
    EvaluationSummary,
    /// An HTML page: someone not signed in is sent to sign in (303 to `/`); everyone else as
    /// the inner rule.
    Page(&'static Rule),
}

/// A request body.
#[derive(Clone, Copy)]
enum Body {
    None,
    /// Made from the records of the test and a number unique to the request.
    Json(fn(&Records, usize) -> Value),
    /// A form post, made as [`Body::Json`] is.
    Form(fn(&Records, usize) -> Vec<(&'static str, String)>),
    Csv(&'static str),
    /// A CSV uploaded with the school import page's form (`multipart/form-data`).
    Upload(&'static str),
}

/// Real records the requests refer to.
struct Records {
    /// The school of the subject, their lead and the other staff member.
    school: String,
    /// A cluster, a staff group, a strategy priority and a provider.
    cluster: String,
    staff_group: String,
    priority: String,
    provider: String,
    /// The person most routes are about.
    subject: String,
    /// Another person of the subject's school, to be erased.
    victim: String,
    /// And another, for the admin's people pages to erase.
    page_victim: String,
    /// One of the subject's API tokens (not the one they call with).
    token: String,
    /// A published course with two sessions, and those sessions.
    course: String,
    session: String,
    spare_session: String,
    /// A draft course (to publish) and a published one (to cancel).
    draft: String,
    doomed: String,
    /// The same again, for the admin's course pages.
    page_draft: String,
    page_doomed: String,
    /// An email that failed for good, to retry.
    failed_message: String,
    /// Another, for the admin's email pages.
    page_failed_message: String,
    /// The subject's confirmed booking on `course`.
    booking: String,
    /// The subject's booking on a course whose one session is over and attended: complete.
    completed_booking: String,
    /// A session starting in a few minutes, so check-in is open, with the subject booked on
    /// its course; and its check-in code.
    check_in_session: String,
    check_in_code: String,
    /// An evaluation form of the test's own (edited, then chosen for `course`), and its family.
    form: String,
    form_family: String,
    /// Records a request uses up (a course to book, a booking to cancel, a request to decide),
    /// one per request, named as in `{next:name}`.
    pools: RefCell<HashMap<&'static str, Vec<String>>>,
}

/// A valid course body with this title and one session.
fn course_body(provider: &str, title: &str) -> Value {
    let mut body = crate::calendar_support::cal_course(
        &crate::calendar_support::CalFixture {
            provider_id: provider.to_string(),
            priorities: Default::default(),
            staff_groups: Default::default(),
        },
        title,
        vec![session_body(1)],
    );
    body["capacity"] = json!(20);
    body
}

/// A valid post-course evaluation form with this name.
fn evaluation_form(name: &str) -> Value {
    json!({
        "kind": "post_course",
        "name": name,
        "questions": [
            {"key": "overall", "kind": "rating", "prompt": "How useful was it?", "required": true,
             "guskey_level": 1, "low_label": "Poor", "high_label": "Excellent",
             "metric": "satisfaction"},
            {"key": "takeaway", "kind": "free_text", "prompt": "One thing you will try",
             "guskey_level": 2}
        ]
    })
}

/// A valid session body, 9:00 to 12:00 on one of the 28 days starting 60 days from now (so
/// the registers are never locked, whenever the test runs).
fn session_body(day: usize) -> Value {
    let date = chrono::Utc::now().date_naive() + chrono::Days::new(60 + (day % 28) as u64);
    crate::calendar_support::cal_session(&format!("{date}T09:00:00Z"), &format!("{date}T12:00:00Z"))
}

impl Records {
    /// Takes the next unused record of a pool.
    fn next(&self, pool: &str) -> String {
        self.pools
            .borrow_mut()
            .get_mut(pool)
            .and_then(Vec::pop)
            .unwrap_or_else(|| panic!("the {pool} pool ran dry: build more records"))
    }

    fn fill(&self, path: &str) -> String {
        let mut path = path.to_string();
        for pool in ["fresh_course", "own_booking", "pending"] {
            let placeholder = format!("{{next:{pool}}}");
            if path.contains(&placeholder) {
                path = path.replace(&placeholder, &self.next(pool));
            }
        }
        path.replace("{booking}", &self.booking)
            .replace("{completed_booking}", &self.completed_booking)
            .replace("{check_in_session}", &self.check_in_session)
            .replace("{form}", &self.form)
            .replace("{cluster}", &self.cluster)
            .replace("{school}", &self.school)
            .replace("{staff_group}", &self.staff_group)
            .replace("{priority}", &self.priority)
            .replace("{provider}", &self.provider)
            .replace("{person}", &self.subject)
            .replace("{page_victim}", &self.page_victim)
            .replace("{victim}", &self.victim)
            .replace("{token}", &self.token)
            .replace("{course}", &self.course)
            .replace("{spare_session}", &self.spare_session)
            .replace("{session}", &self.session)
            .replace("{draft}", &self.draft)
            .replace("{page_draft}", &self.page_draft)
            .replace("{page_doomed}", &self.page_doomed)
            .replace("{doomed}", &self.doomed)
            .replace("{page_failed_message}", &self.page_failed_message)
            .replace("{failed_message}", &self.failed_message)
    }
}

/// One row of the matrix: the route as documented, the request to send (with `{cluster}`,
/// `{school}`, `{person}` and the like standing for the [`Records`] of the test) and its rule.
struct Row {
    method: &'static str,
    route: &'static str,
    request: &'static str,
    body: Body,
    rule: Rule,
}

const fn row(method: &'static str, route: &'static str, rule: Rule) -> Row {
    Row {
        method,
        route,
        request: route,
        body: Body::None,
        rule,
    }
}

/// Every route and its rule. Add a row with each new route.
fn matrix() -> Vec<Row> {
    use Rule::*;
    vec![
        row("GET", "/healthz", Anyone(200)),
        row("GET", "/readyz", Anyone(200)),
        row("GET", "/metrics", Admin),
        row("GET", "/api/docs", Anyone(308)),
        row("GET", "/", Anyone(200)),
        row("GET", "/static/app.css", Anyone(200)),
        row("GET", "/auth/magic", Anyone(404)),
        Row {
            body: Body::Form(|_, _| vec![("token", "not-a-real-token".into())]),
            ..row("POST", "/auth/magic", Anyone(404))
        },
        Row {
            // A new address for each caller, so the per-address limit on sign-in links (5 in
            // 15 minutes) never answers 429 here; the two sign-in rows send 16 requests from
            // one client address, within its limit of 50.
            body: Body::Form(|_, n| vec![("email", format!("matrix{n}@nowhere.test"))]),
            ..row("POST", "/auth/sign-in", Anyone(200))
        },
        row("POST", "/auth/sign-out", Anyone(303)),
        Row {
            body: Body::Json(|_, n| json!({"email": format!("matrix{n}@nowhere.test")})),
            ..row("POST", "/api/v1/auth/magic-link", Anyone(202))
        },
        row("POST", "/api/v1/auth/sign-out", Anyone(204)),
        // Single sign-on: no provider is configured here, so every caller is told the way of
        // signing in is not available (the flow itself is in tests/api/oidc.rs).
        Row {
            request: "/sign-in/oidc/school",
            ..row("GET", "/sign-in/oidc/{provider}", Anyone(404))
        },
        Row {
            request: "/sign-in/oidc/school/callback?code=x&state=y",
            ..row("GET", "/sign-in/oidc/{provider}/callback", Anyone(404))
        },
        row("GET", "/api/v1/clusters", SignedIn),
        Row {
            body: Body::Json(|_, n| json!({"name": format!("Matrix cluster {n}")})),
            ..row("POST", "/api/v1/clusters", Admin)
        },
        Row {
            request: "/api/v1/clusters/{cluster}",
            ..row("GET", "/api/v1/clusters/{id}", SignedIn)
        },
        Row {
            request: "/api/v1/clusters/{cluster}",
            body: Body::Json(|_, n| json!({"description": format!("Changed {n}")})),
            ..row("PATCH", "/api/v1/clusters/{id}", Admin)
        },
        row("GET", "/api/v1/schools", SignedIn),
        Row {
            body: Body::Json(
                |_, n| json!({"urn": 300_000 + n, "name": format!("School {n}"), "phase": "primary"}),
            ),
            ..row("POST", "/api/v1/schools", Admin)
        },
        Row {
            request: "/api/v1/schools/{school}",
            ..row("GET", "/api/v1/schools/{id}", SignedIn)
        },
        Row {
            request: "/api/v1/schools/{school}",
            body: Body::Json(|_, _| json!({"name": "Matrix Primary"})),
            ..row("PATCH", "/api/v1/schools/{id}", Admin)
        },
        Row {
            body: Body::Csv(
                "URN,LA (name),EstablishmentName,TypeOfEstablishment (name),\
                 EstablishmentStatus (name),PhaseOfEducation (name),Postcode\r\n\
                 400001,Barnsley,Imported Primary,Community school,Open,Primary,S70 2HZ\r\n",
            ),
            ..row("POST", "/api/v1/schools/import", Admin)
        },
        row("GET", "/api/v1/staff-groups", SignedIn),
        Row {
            body: Body::Json(|_, n| json!({"name": format!("Staff group {n}")})),
            ..row("POST", "/api/v1/staff-groups", Admin)
        },
        Row {
            request: "/api/v1/staff-groups/{staff_group}",
            ..row("GET", "/api/v1/staff-groups/{id}", SignedIn)
        },
        Row {
            request: "/api/v1/staff-groups/{staff_group}",
            body: Body::Json(|_, _| json!({"position": 50})),
            ..row("PATCH", "/api/v1/staff-groups/{id}", Admin)
        },
        row("GET", "/api/v1/priorities", SignedIn),
        Row {
            body: Body::Json(|_, n| json!({"name": format!("Priority {n}")})),
            ..row("POST", "/api/v1/priorities", Admin)
        },
        Row {
            request: "/api/v1/priorities/{priority}",
            ..row("GET", "/api/v1/priorities/{id}", SignedIn)
        },
        Row {
            request: "/api/v1/priorities/{priority}",
            body: Body::Json(|_, n| json!({"description": format!("Changed {n}")})),
            ..row("PATCH", "/api/v1/priorities/{id}", Admin)
        },
        row("GET", "/api/v1/providers", SignedIn),
        Row {
            body: Body::Json(|_, n| json!({"name": format!("Provider {n}"), "kind": "external"})),
            ..row("POST", "/api/v1/providers", Admin)
        },
        Row {
            request: "/api/v1/providers/{provider}",
            ..row("GET", "/api/v1/providers/{id}", SignedIn)
        },
        Row {
            request: "/api/v1/providers/{provider}",
            body: Body::Json(|_, _| json!({"kind": "teaching_alliance"})),
            ..row("PATCH", "/api/v1/providers/{id}", Admin)
        },
        row("GET", "/api/v1/courses", Anyone(200)),
        Row {
            body: Body::Json(|r, n| course_body(&r.provider, &format!("Course {n}"))),
            ..row("POST", "/api/v1/courses", Admin)
        },
        Row {
            request: "/api/v1/courses/{course}",
            ..row("GET", "/api/v1/courses/{id}", Anyone(200))
        },
        Row {
            request: "/api/v1/courses/{course}",
            body: Body::Json(|_, n| json!({"capacity": 20 + n})),
            ..row("PATCH", "/api/v1/courses/{id}", Admin)
        },
        Row {
            request: "/api/v1/courses/{draft}/publish",
            ..row("POST", "/api/v1/courses/{id}/publish", Admin)
        },
        Row {
            request: "/api/v1/courses/{doomed}/cancel",
            body: Body::Json(|_, _| json!({"reason": "The trainer is unwell."})),
            ..row("POST", "/api/v1/courses/{id}/cancel", Admin)
        },
        Row {
            request: "/api/v1/courses/{course}/sessions",
            body: Body::Json(|_, n| session_body(n)),
            ..row("POST", "/api/v1/courses/{id}/sessions", Admin)
        },
        Row {
            request: "/api/v1/sessions/{session}",
            body: Body::Json(|_, n| json!({"note": format!("Bring a laptop ({n})")})),
            ..row("PATCH", "/api/v1/sessions/{id}", Admin)
        },
        Row {
            request: "/api/v1/sessions/{spare_session}",
            ..row("DELETE", "/api/v1/sessions/{id}", Admin)
        },
        Row {
            request: "/api/v1/courses/{course}/calendar.ics",
            ..row("GET", "/api/v1/courses/{id}/calendar.ics", Anyone(200))
        },
        row("GET", "/calendar.ics", Anyone(200)),
        // The feed's own token is the credential; an unknown one is simply not found.
        Row {
            request: "/calendar/not-a-feed.ics",
            ..row("GET", "/calendar/{token}.ics", Anyone(404))
        },
        row("POST", "/api/v1/me/calendar-feed", SignedIn),
        row("DELETE", "/api/v1/me/calendar-feed", SignedIn),
        row("GET", "/api/v1/admin/audit", Admin),
        row("GET", "/api/v1/admin/outbox", Admin),
        Row {
            request: "/api/v1/courses/{next:fresh_course}/bookings",
            body: Body::Json(|r, _| json!({"person_id": r.subject})),
            ..row("POST", "/api/v1/courses/{id}/bookings", BookFor)
        },
        row("GET", "/api/v1/bookings", SignedIn),
        row("GET", "/api/v1/bookings/pending", Approver),
        Row {
            request: "/api/v1/bookings/{booking}",
            ..row("GET", "/api/v1/bookings/{id}", ReadBooking)
        },
        Row {
            request: "/api/v1/bookings/{next:own_booking}/cancel",
            body: Body::Json(|_, _| json!({"reason": "Cannot make it."})),
            ..row("POST", "/api/v1/bookings/{id}/cancel", CancelBooking)
        },
        Row {
            request: "/api/v1/bookings/{next:pending}/approve",
            body: Body::Json(|_, _| json!({})),
            ..row("POST", "/api/v1/bookings/{id}/approve", DecideBooking)
        },
        Row {
            request: "/api/v1/bookings/{next:pending}/decline",
            body: Body::Json(|_, _| json!({"reason": "Not this term."})),
            ..row("POST", "/api/v1/bookings/{id}/decline", DecideBooking)
        },
        Row {
            body: Body::Json(|r, _| json!({"booking_ids": [r.next("pending")]})),
            ..row("POST", "/api/v1/bookings/approve", DecideBooking)
        },
        Row {
            body: Body::Json(
                |r, _| json!({"booking_ids": [r.next("pending")], "reason": "Not this term."}),
            ),
            ..row("POST", "/api/v1/bookings/decline", DecideBooking)
        },
        Row {
            request: "/api/v1/admin/outbox/{failed_message}/retry",
            ..row("POST", "/api/v1/admin/outbox/{id}/retry", Admin)
        },
        Row {
            request: "/api/v1/people/{person}/export",
            ..row("GET", "/api/v1/people/{id}/export", SelfLeadAdmin)
        },
        row("GET", "/api/v1/people", SignedIn),
        Row {
            body: Body::Json(
                |r, n| json!({"name": "New Person", "email": format!("new{n}@matrix.test"), "school_id": r.school}),
            ),
            ..row("POST", "/api/v1/people", SchoolLeadAdmin)
        },
        Row {
            request: "/api/v1/people/{person}",
            ..row("GET", "/api/v1/people/{id}", ReadPerson)
        },
        Row {
            request: "/api/v1/people/{person}",
            body: Body::Json(|_, _| json!({"name": "Sam Subject"})),
            ..row("PATCH", "/api/v1/people/{id}", EditPerson)
        },
        Row {
            request: "/api/v1/people/{victim}",
            ..row("DELETE", "/api/v1/people/{id}", Erase)
        },
        row("GET", "/api/v1/me", SignedIn),
        row("GET", "/api/v1/me/tokens", SignedIn),
        Row {
            body: Body::Json(|_, n| json!({"name": format!("matrix {n}")})),
            ..row("POST", "/api/v1/me/tokens", SignedIn)
        },
        Row {
            request: "/api/v1/me/tokens/{token}",
            ..row("DELETE", "/api/v1/me/tokens/{id}", Own)
        },
        row("GET", "/api/v1/reports/engagement", Reports),
        row("GET", "/api/v1/reports/impact", AllianceReports),
        row("GET", "/reports", Page(&ReportsDashboard)),
        Row {
            request: "/reports/school?school={school}",
            ..row("GET", "/reports/school", Page(&SchoolReport))
        },
        Row {
            request: "/api/v1/sessions/{session}/register",
            ..row("GET", "/api/v1/sessions/{id}/register", CourseLeadAdmin)
        },
        Row {
            request: "/api/v1/sessions/{session}/register.csv",
            ..row("GET", "/api/v1/sessions/{id}/register.csv", CourseLeadAdmin)
        },
        Row {
            request: "/api/v1/sessions/{session}/attendance",
            body: Body::Json(|r, _| json!([{"booking_id": r.booking, "status": "present"}])),
            ..row("PUT", "/api/v1/sessions/{id}/attendance", CourseLeadAdmin)
        },
        Row {
            request: "/api/v1/sessions/{session}/attendance-history",
            ..row(
                "GET",
                "/api/v1/sessions/{id}/attendance-history",
                CourseLeadAdmin,
            )
        },
        Row {
            request: "/api/v1/sessions/{session}/walk-ins",
            body: Body::Json(
                |_, n| json!({"name": format!("Walk In {n}"), "email": format!("walk.in{n}@matrix.test")}),
            ),
            ..row("POST", "/api/v1/sessions/{id}/walk-ins", CourseLeadAdmin)
        },
        Row {
            request: "/api/v1/sessions/{check_in_session}/check-in",
            body: Body::Json(|r, _| json!({"code": r.check_in_code})),
            ..row("POST", "/api/v1/sessions/{id}/check-in", CheckIn)
        },
        Row {
            body: Body::Json(|r, _| json!({"code": r.check_in_code})),
            ..row("POST", "/api/v1/check-in", CheckIn)
        },
        Row {
            request: "/api/v1/people/{person}/cpd-record",
            ..row("GET", "/api/v1/people/{id}/cpd-record", SelfLeadAdmin)
        },
        Row {
            request: "/sessions/{session}/register",
            ..row("GET", "/sessions/{id}/register", Page(&CourseLeadAdmin))
        },
        Row {
            request: "/sessions/{session}/register",
            body: Body::Form(|r, _| {
                vec![("booking_id", r.booking.clone()), ("status", "late".into())]
            }),
            ..row("POST", "/sessions/{id}/register", Page(&CourseLeadAdmin))
        },
        Row {
            request: "/sessions/{session}/register/everyone-present",
            ..row(
                "POST",
                "/sessions/{id}/register/everyone-present",
                Page(&CourseLeadAdmin),
            )
        },
        Row {
            request: "/sessions/{session}/register/walk-ins",
            body: Body::Form(|_, n| {
                vec![
                    ("name", format!("Page Walk In {n}")),
                    ("email", format!("page.walk.in{n}@matrix.test")),
                ]
            }),
            ..row(
                "POST",
                "/sessions/{id}/register/walk-ins",
                Page(&CourseLeadAdmin),
            )
        },
        Row {
            request: "/sessions/{session}/sign-in-sheet",
            ..row(
                "GET",
                "/sessions/{id}/sign-in-sheet",
                Page(&CourseLeadAdmin),
            )
        },
        row("GET", "/my/courses", Page(&SignedIn)),
        row("GET", "/courses", Anyone(200)),
        Row {
            request: "/courses/{course}",
            ..row("GET", "/courses/{id}", Anyone(200))
        },
        Row {
            request: "/courses/{next:fresh_course}/book",
            ..row("POST", "/courses/{id}/book", Page(&SignedIn))
        },
        row("GET", "/my/bookings", Page(&SignedIn)),
        Row {
            request: "/bookings/{booking}/approve",
            ..row("GET", "/bookings/{id}/approve", Page(&ReadBooking))
        },
        Row {
            request: "/bookings/{next:pending}/approve",
            ..row("POST", "/bookings/{id}/approve", Page(&DecideBooking))
        },
        Row {
            request: "/bookings/{next:pending}/decline",
            body: Body::Form(|_, _| vec![("reason", "Not this term.".into())]),
            ..row("POST", "/bookings/{id}/decline", Page(&DecideBooking))
        },
        Row {
            request: "/my/bookings/{next:own_booking}/cancel",
            body: Body::Form(|_, _| vec![("reason", "Cannot make it.".into())]),
            ..row("POST", "/my/bookings/{id}/cancel", Page(&CancelBooking))
        },
        row("GET", "/my/record", Page(&SignedIn)),
        // Only one's own waiting evaluations open: an unknown one is not found for anyone.
        Row {
            request: "/my/evaluations/not-an-invitation",
            ..row("POST", "/my/evaluations/{id}", Page(&NoSuch))
        },
        row("POST", "/my/calendar-feed", Page(&SignedIn)),
        row("POST", "/my/calendar-feed/stop", Page(&SignedIn)),
        Row {
            request: "/school?school={school}",
            ..row("GET", "/school", Page(&SchoolView))
        },
        Row {
            body: Body::Form(|r, _| {
                vec![
                    ("booking_id", r.next("pending")),
                    ("decision", "approve".into()),
                    ("school", r.school.clone()),
                ]
            }),
            ..row("POST", "/school/decisions", Page(&SchoolView))
        },
        row("GET", "/admin/courses", Page(&Admin)),
        row("GET", "/admin/courses/new", Page(&Admin)),
        Row {
            body: Body::Form(|r, n| {
                vec![
                    ("title", format!("Matrix page course {n}")),
                    ("provider_id", r.provider.clone()),
                    ("format", "online".into()),
                    ("capacity", "10".into()),
                    (
                        "sessions[0].date",
                        (chrono::Utc::now().date_naive() + chrono::Days::new(70)).to_string(),
                    ),
                    ("sessions[0].start", "09:00".into()),
                    ("sessions[0].end", "12:00".into()),
                    (
                        "sessions[0].online_url",
                        "https://meet.example.org/matrix".into(),
                    ),
                ]
            }),
            ..row("POST", "/admin/courses/new", Page(&Admin))
        },
        Row {
            request: "/admin/courses/{course}",
            ..row("GET", "/admin/courses/{id}", Page(&Admin))
        },
        Row {
            request: "/admin/courses/{course}/edit",
            ..row("GET", "/admin/courses/{id}/edit", Page(&Admin))
        },
        // "Add another session": the form again, nothing saved.
        Row {
            request: "/admin/courses/{course}/edit",
            body: Body::Form(|_, _| vec![("action", "add_session".into())]),
            ..row("POST", "/admin/courses/{id}/edit", Page(&Admin))
        },
        Row {
            request: "/admin/courses/{page_draft}/publish",
            ..row("POST", "/admin/courses/{id}/publish", Page(&Admin))
        },
        Row {
            request: "/admin/courses/{page_doomed}/cancel",
            ..row("GET", "/admin/courses/{id}/cancel", Page(&Admin))
        },
        Row {
            request: "/admin/courses/{page_doomed}/cancel",
            body: Body::Form(|_, _| vec![("reason", "The matrix cancelled it.".into())]),
            ..row("POST", "/admin/courses/{id}/cancel", Page(&Admin))
        },
        row("GET", "/admin/emails", Page(&Admin)),
        Row {
            request: "/admin/emails/{page_failed_message}",
            ..row("GET", "/admin/emails/{id}", Page(&Admin))
        },
        Row {
            request: "/admin/emails/{page_failed_message}/retry",
            ..row("POST", "/admin/emails/{id}/retry", Page(&Admin))
        },
        row("POST", "/admin/emails/retry-failed", Page(&Admin)),
        row("GET", "/admin/audit", Page(&Admin)),
        row("GET", "/admin/people", Page(&Admin)),
        row("GET", "/admin/people/new", Page(&Admin)),
        Row {
            body: Body::Form(|_, n| {
                vec![
                    ("name", format!("Matrix page person {n}")),
                    ("email", format!("page-person-{n}@matrix.test")),
                ]
            }),
            ..row("POST", "/admin/people/new", Page(&Admin))
        },
        Row {
            request: "/admin/people/{person}",
            ..row("GET", "/admin/people/{id}", Page(&Admin))
        },
        Row {
            request: "/admin/people/{person}/edit",
            ..row("GET", "/admin/people/{id}/edit", Page(&Admin))
        },
        // Saved as it is: the subject's record does not change.
        Row {
            request: "/admin/people/{person}/edit",
            body: Body::Form(|r, _| {
                vec![
                    ("name", "Sam Subject".into()),
                    ("email", "subject@matrix.test".into()),
                    ("school_id", r.school.clone()),
                ]
            }),
            ..row("POST", "/admin/people/{id}/edit", Page(&Admin))
        },
        Row {
            request: "/admin/people/{person}/export",
            ..row("GET", "/admin/people/{id}/export", Page(&Admin))
        },
        Row {
            request: "/admin/people/{page_victim}/erase",
            ..row("GET", "/admin/people/{id}/erase", Page(&Admin))
        },
        Row {
            request: "/admin/people/{page_victim}/erase",
            ..row("POST", "/admin/people/{id}/erase", Page(&Admin))
        },
        row("GET", "/admin/schools", Page(&Admin)),
        row("GET", "/admin/schools/new", Page(&Admin)),
        Row {
            body: Body::Form(|_, n| {
                vec![
                    ("urn", (300_000 + n).to_string()),
                    ("name", format!("Matrix page school {n}")),
                    ("phase", "primary".into()),
                ]
            }),
            ..row("POST", "/admin/schools/new", Page(&Admin))
        },
        Row {
            request: "/admin/schools/{school}/edit",
            ..row("GET", "/admin/schools/{id}/edit", Page(&Admin))
        },
        // Saved as it is: the school's own values.
        Row {
            request: "/admin/schools/{school}/edit",
            body: Body::Form(|_, _| {
                vec![
                    ("urn", "200001".into()),
                    ("name", "Matrix Primary".into()),
                    ("phase", "primary".into()),
                    ("school_type", "Community school".into()),
                    ("local_authority", "Barnsley".into()),
                    ("postcode", "S70 2HZ".into()),
                    ("is_open", "true".into()),
                ]
            }),
            ..row("POST", "/admin/schools/{id}/edit", Page(&Admin))
        },
        row("GET", "/admin/schools/import", Page(&Admin)),
        Row {
            body: Body::Upload(
                "URN,LA (name),EstablishmentName,TypeOfEstablishment (name),\
                 EstablishmentStatus (name),PhaseOfEducation (name),Postcode\r\n\
                 400002,Barnsley,Uploaded Primary,Community school,Open,Primary,S70 2HZ\r\n",
            ),
            ..row("POST", "/admin/schools/import", Page(&Admin))
        },
        row("GET", "/admin/clusters", Page(&Admin)),
        Row {
            body: Body::Form(|_, n| vec![("name", format!("Matrix page cluster {n}"))]),
            ..row("POST", "/admin/clusters", Page(&Admin))
        },
        Row {
            request: "/admin/clusters/{cluster}/edit",
            ..row("GET", "/admin/clusters/{id}/edit", Page(&Admin))
        },
        Row {
            request: "/admin/clusters/{cluster}/edit",
            body: Body::Form(|_, n| vec![("name", format!("Matrix renamed {n}"))]),
            ..row("POST", "/admin/clusters/{id}/edit", Page(&Admin))
        },
        row("GET", "/admin/providers", Page(&Admin)),
        Row {
            body: Body::Form(|_, n| {
                vec![
                    ("name", format!("Matrix page provider {n}")),
                    ("kind", "external".into()),
                ]
            }),
            ..row("POST", "/admin/providers", Page(&Admin))
        },
        Row {
            request: "/admin/providers/{provider}/edit",
            ..row("GET", "/admin/providers/{id}/edit", Page(&Admin))
        },
        Row {
            request: "/admin/providers/{provider}/edit",
            body: Body::Form(|_, n| {
                vec![
                    ("name", format!("Matrix provider {n}")),
                    ("kind", "school".into()),
                ]
            }),
            ..row("POST", "/admin/providers/{id}/edit", Page(&Admin))
        },
        row("GET", "/admin/priorities", Page(&Admin)),
        Row {
            body: Body::Form(|_, n| vec![("name", format!("Matrix page priority {n}"))]),
            ..row("POST", "/admin/priorities", Page(&Admin))
        },
        Row {
            request: "/admin/priorities/{priority}/edit",
            ..row("GET", "/admin/priorities/{id}/edit", Page(&Admin))
        },
        Row {
            request: "/admin/priorities/{priority}/edit",
            body: Body::Form(|_, n| vec![("name", format!("Matrix priority {n}"))]),
            ..row("POST", "/admin/priorities/{id}/edit", Page(&Admin))
        },
        row("GET", "/admin/staff-groups", Page(&Admin)),
        Row {
            body: Body::Form(|_, n| vec![("name", format!("Matrix page staff group {n}"))]),
            ..row("POST", "/admin/staff-groups", Page(&Admin))
        },
        Row {
            request: "/admin/staff-groups/{staff_group}/edit",
            ..row("GET", "/admin/staff-groups/{id}/edit", Page(&Admin))
        },
        Row {
            request: "/admin/staff-groups/{staff_group}/edit",
            body: Body::Form(|_, n| vec![("name", format!("Matrix staff group {n}"))]),
            ..row("POST", "/admin/staff-groups/{id}/edit", Page(&Admin))
        },
        row("GET", "/check-in", Anyone(200)),
        Row {
            body: Body::Form(|r, _| vec![("code", r.check_in_code.clone())]),
            ..row("POST", "/check-in", Page(&CheckIn))
        },
        Row {
            request: "/certificates/{completed_booking}",
            ..row("GET", "/certificates/{booking_id}", Page(&SelfLeadAdmin))
        },
        row("GET", "/api/v1/evaluation-forms", Admin),
        Row {
            body: Body::Json(|_, n| evaluation_form(&format!("Matrix form {n}"))),
            ..row("POST", "/api/v1/evaluation-forms", Admin)
        },
        Row {
            request: "/api/v1/evaluation-forms/{form}",
            ..row("GET", "/api/v1/evaluation-forms/{id}", Admin)
        },
        Row {
            request: "/api/v1/evaluation-forms/{form}",
            body: Body::Json(|_, n| evaluation_form(&format!("Matrix form, changed {n}"))),
            ..row("PUT", "/api/v1/evaluation-forms/{id}", Admin)
        },
        Row {
            request: "/api/v1/courses/{course}/evaluation-forms",
            body: Body::Json(|r, _| json!({"post_course": r.form_family})),
            ..row("PUT", "/api/v1/courses/{id}/evaluation-forms", Admin)
        },
        Row {
            request: "/api/v1/courses/{course}/evaluation-summary",
            ..row(
                "GET",
                "/api/v1/courses/{id}/evaluation-summary",
                EvaluationSummary,
            )
        },
        // The token in the path is the credential; an unknown one is simply not found.
        Row {
            request: "/api/v1/evaluations/not-a-token",
            ..row("GET", "/api/v1/evaluations/{token}", Anyone(404))
        },
        Row {
            request: "/api/v1/evaluations/not-a-token",
            body: Body::Json(|_, _| json!({"answers": {}})),
            ..row("POST", "/api/v1/evaluations/{token}", Anyone(404))
        },
        Row {
            request: "/evaluate/not-a-token",
            ..row("GET", "/evaluate/{token}", Anyone(404))
        },
        Row {
            request: "/evaluate/not-a-token",
            body: Body::Form(|_, _| vec![("q-overall", "5".into())]),
            ..row("POST", "/evaluate/{token}", Anyone(404))
        },
        // A course's bookings for the admin. Last, as cancelling uses up `{booking}`; then
        // booking its person again.
        Row {
            request: "/admin/courses/{course}/bookings",
            ..row("GET", "/admin/courses/{id}/bookings", Page(&Admin))
        },
        Row {
            request: "/admin/courses/{course}/bookings/{booking}/cancel",
            ..row(
                "GET",
                "/admin/courses/{id}/bookings/{booking_id}/cancel",
                Page(&Admin),
            )
        },
        Row {
            request: "/admin/courses/{course}/bookings/{booking}/cancel",
            body: Body::Form(|_, _| vec![("reason", "The matrix cancelled it.".into())]),
            ..row(
                "POST",
                "/admin/courses/{id}/bookings/{booking_id}/cancel",
                Page(&Admin),
            )
        },
        // The subject, whose booking was just cancelled, booked again.
        Row {
            request: "/admin/courses/{course}/bookings",
            body: Body::Form(|r, _| {
                vec![("person_id", r.subject.clone()), ("override", "yes".into())]
            }),
            ..row("POST", "/admin/courses/{id}/bookings", Page(&Admin))
        },
    ]
}

/// The kinds of caller, with how the rules see them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Nobody,
    Subject,
    OtherStaff,
    OwnLead,
    OtherLead,
    CpdGroup,
    /// Leads the test's courses; on another school's staff, with no other role.
    CourseLead,
    Admin,
}

fn expected(rule: Rule, who: Who) -> Expect {
    use Expect::*;
    match (rule, who) {
        (Rule::Anyone(status), _) => Status(status),
        (Rule::Page(_), Who::Nobody) => SignInRedirect,
        (Rule::Page(inner), _) => expected(*inner, who),
        (_, Who::Nobody) => Status(401),
        (Rule::SignedIn, _) => Allowed,
        (Rule::Admin, Who::Admin) => Allowed,
        (Rule::Admin, _) => Status(403),
        (Rule::SelfLeadAdmin | Rule::EditPerson, Who::Subject | Who::OwnLead | Who::Admin) => {
            Allowed
        }
        (Rule::SelfLeadAdmin, _) => Status(404),
        (Rule::ReadPerson, Who::Subject | Who::OwnLead | Who::CpdGroup | Who::Admin) => Allowed,
        (Rule::ReadPerson, _) => Status(404),
        (Rule::EditPerson, Who::CpdGroup) => Status(403),
        (Rule::EditPerson, _) => Status(404),
        (Rule::SchoolLeadAdmin, Who::OwnLead | Who::Admin) => Allowed,
        (Rule::SchoolLeadAdmin, _) => Status(403),
        (Rule::Erase, Who::Admin) => Allowed,
        (Rule::Erase, Who::OwnLead | Who::CpdGroup) => Status(403),
        (Rule::Erase, _) => Status(404),
        (Rule::Own, Who::Subject) => Allowed,
        (Rule::Own, _) => Status(404),
        (Rule::BookFor, Who::Subject | Who::OwnLead | Who::Admin) => Allowed,
        (Rule::BookFor, _) => Status(404),
        (
            Rule::ReadBooking,
            Who::Subject | Who::OwnLead | Who::CourseLead | Who::CpdGroup | Who::Admin,
        ) => Allowed,
        (Rule::ReadBooking, _) => Status(404),
        (Rule::CancelBooking, Who::Subject | Who::OwnLead | Who::Admin) => Allowed,
        (Rule::CancelBooking, Who::CourseLead | Who::CpdGroup) => Status(403),
        (Rule::CancelBooking, _) => Status(404),
        (Rule::DecideBooking, Who::OwnLead | Who::Admin) => Allowed,
        (Rule::DecideBooking, Who::CourseLead | Who::CpdGroup) => Status(403),
        (Rule::DecideBooking, _) => Status(404),
        (Rule::NoSuch, _) => Status(404),
        (Rule::SchoolView, Who::OwnLead | Who::Admin) => Allowed,
        (Rule::SchoolView, Who::OtherLead) => Status(404),
        (Rule::SchoolView, _) => Status(403),
        (Rule::Approver, Who::OwnLead | Who::OtherLead | Who::Admin) => Allowed,
        (Rule::Approver, _) => Status(403),
        (Rule::CourseLeadAdmin, Who::CourseLead | Who::Admin) => Allowed,
        (Rule::CourseLeadAdmin, _) => Status(404),
        (Rule::CheckIn, Who::Subject) => Allowed,
        (Rule::CheckIn, _) => Status(409),
        (Rule::Reports, Who::OwnLead | Who::OtherLead | Who::CpdGroup | Who::Admin) => Allowed,
        (Rule::Reports, _) => Status(403),
        (Rule::AllianceReports, Who::CpdGroup | Who::Admin) => Allowed,
        (Rule::AllianceReports, _) => Status(403),
        (Rule::ReportsDashboard, Who::CpdGroup | Who::Admin) => Allowed,
        (Rule::ReportsDashboard, Who::OwnLead | Who::OtherLead) => Redirect("/reports/school"),
        (Rule::ReportsDashboard, _) => Status(403),
        (Rule::SchoolReport, Who::OwnLead | Who::CpdGroup | Who::Admin) => Allowed,
        (Rule::SchoolReport, _) => Status(404),
        (Rule::EvaluationSummary, Who::CourseLead | Who::CpdGroup | Who::Admin) => Allowed,
        (Rule::EvaluationSummary, _) => Status(404),
    }
}

#[derive(Debug)]
enum Expect {
    /// Success (the route's records and request bodies are real and valid): below 400, and
    /// not sent to sign in.
    Allowed,
    /// Exactly this status.
    Status(u16),
    /// A 303 to the sign-in page (`/`): a page asked for by someone not signed in.
    SignInRedirect,
    /// A 303 to this address.
    Redirect(&'static str),
}

impl Expect {
    fn met(&self, status: u16, location: Option<&str>) -> bool {
        match self {
            Expect::Allowed => status < 400 && !is_sign_in_redirect(status, location),
            Expect::Status(s) => status == *s,
            Expect::SignInRedirect => is_sign_in_redirect(status, location),
            Expect::Redirect(to) => status == 303 && location == Some(to),
        }
    }
}

fn is_sign_in_redirect(status: u16, location: Option<&str>) -> bool {
    // To the home page's sign-in form, carrying the page asked for when it was a GET.
    status == 303 && location.is_some_and(|l| l == "/" || l.starts_with("/?next=%2F"))
}

/// A cell of the printed matrix: "yes" where the caller got through ("yes (303)" when sent on
/// to another page), "sign-in" where they were sent to sign in, the status otherwise.
fn cell(status: u16, location: Option<&str>) -> String {
    match status {
        _ if is_sign_in_redirect(status, location) => "sign-in".to_string(),
        300..=399 => format!("yes ({status})"),
        0..=299 => "yes".to_string(),
        _ => status.to_string(),
    }
}

async fn openapi_routes(app: &TestApp) -> BTreeSet<(String, String)> {
    let doc = crate::helpers::expect_json(app.get("/api/openapi.json", None).await, 200).await;
    let mut routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if matches!(method.as_str(), "get" | "post" | "put" | "patch" | "delete") {
                routes.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    routes
}

both_backends! {
    async fn every_route_has_a_rule(app: TestApp) {
        let documented = openapi_routes(&app).await;
        let ruled: BTreeSet<(String, String)> = matrix()
            .iter()
            .map(|r| (r.method.to_string(), r.route.to_string()))
            .collect();
        let missing: Vec<_> = documented.difference(&ruled).collect();
        assert!(missing.is_empty(), "routes without a rule in tests/api/permissions.rs: {missing:?}");
        let stale: Vec<_> = ruled.difference(&documented).collect();
        assert!(stale.is_empty(), "rules for routes that do not exist: {stale:?}");
    }
}

both_backends! {
    async fn every_route_keeps_to_its_rule(app: TestApp) {
        let school = crate::people::school(&app, 200001, "Matrix Primary").await;
        let other_school = crate::people::school(&app, 200002, "Elsewhere Primary").await;
        let subject = app.create_person("subject@matrix.test", "Sam Subject", Some(&school), &[]);
        let victim = app.create_person("victim@matrix.test", "Vic Tim", Some(&school), &[]);
        let page_victim =
            app.create_person("page.victim@matrix.test", "Page Victim", Some(&school), &[]);
        // Callers in this order: the subject comes after everyone else but the admin, so a
        // route that changes the subject's records is tried by the others first.
        let mut tokens = vec![(Who::Nobody, None)];
        let mut course_lead = String::new();
        for (who, email, school, roles) in [
            (Who::OtherStaff, "other@matrix.test", &school, vec![]),
            (Who::OwnLead, "lead@matrix.test", &school, vec![Role::SchoolLead]),
            (Who::OtherLead, "far.lead@matrix.test", &other_school, vec![Role::SchoolLead]),
            (Who::CpdGroup, "group@matrix.test", &other_school, vec![Role::CpdGroup]),
            (Who::CourseLead, "trainer@matrix.test", &other_school, vec![Role::CourseLead]),
        ] {
            let id = app.create_person(email, "Matrix Person", Some(school), &roles);
            if who == Who::CourseLead {
                course_lead = id.clone();
            }
            tokens.push((who, Some(app.token_for(&id))));
        }
        tokens.push((Who::Subject, Some(app.token_for(&subject))));
        tokens.push((Who::Admin, Some(app.admin_token.clone())));
        let (token, _) =
            cpd_hub::store::tokens::create(&mut app.db_conn(), &subject, "revoke me", None)
                .expect("token created");
        let id = |v: Value| v["id"].as_str().unwrap().to_string();
        let cluster = app.admin_create("/api/v1/clusters", json!({"name": "Matrix"})).await;
        let provider = app
            .admin_create("/api/v1/providers", json!({"name": "Matrix provider", "kind": "school"}))
            .await;
        let course_id = |c: &Value| c["id"].as_str().unwrap().to_string();
        let provider_id = id(provider.clone());
        let mut two = course_body(&provider_id, "Two sessions");
        two["sessions"] = json!([session_body(1), session_body(2)]);
        two["lead_ids"] = json!([course_lead]);
        let course = app.admin_create("/api/v1/courses", two).await;
        // Published courses led by the course lead, each used up by one request.
        let callers = tokens.len();
        let mut published = Vec::new();
        for (n, approval) in std::iter::repeat_n(false, 4 * callers)
            .chain(std::iter::once(true))
            .enumerate()
        {
            let mut body = course_body(&provider_id, &format!("Pool course {n}"));
            body["lead_ids"] = json!([course_lead]);
            body["requires_approval"] = json!(approval);
            let c = app.admin_create("/api/v1/courses", body).await;
            let path = format!("/api/v1/courses/{}/publish", course_id(&c));
            crate::helpers::expect_json(app.post(&path, Some(&app.admin_token), &json!({})).await, 200).await;
            published.push(course_id(&c));
        }
        let approval_course = published.pop().unwrap();
        let subject_token = app.token_for(&subject);
        let book = |course: String, token: String| {
            let app = &app;
            async move {
                let path = format!("/api/v1/courses/{course}/bookings");
                crate::helpers::expect_json(app.post(&path, Some(&token), &json!({})).await, 201)
                    .await["id"]
                    .as_str()
                    .unwrap()
                    .to_string()
            }
        };
        // Two rows book (the API and the course page), two cancel (the API and one's bookings).
        let fresh_courses = published.split_off(2 * callers);
        let mut own_bookings = Vec::new();
        for c in published {
            own_bookings.push(book(c, subject_token.clone()).await);
        }
        // Requests waiting for approval from others of the subject's school: six rows use them.
        let mut pending = Vec::new();
        for n in 0..8 * callers {
            let id = app.create_person(&format!("asker{n}@matrix.test"), "Asker", Some(&school), &[]);
            let b = book(approval_course.clone(), app.token_for(&id)).await;
            pending.push(b);
        }
        let draft = app.admin_create("/api/v1/courses", course_body(&provider_id, "Draft")).await;
        let doomed = app.admin_create("/api/v1/courses", course_body(&provider_id, "Doomed")).await;
        let page_draft =
            app.admin_create("/api/v1/courses", course_body(&provider_id, "Page draft")).await;
        let page_doomed =
            app.admin_create("/api/v1/courses", course_body(&provider_id, "Page doomed")).await;
        for c in [&course, &doomed, &page_doomed] {
            let path = format!("/api/v1/courses/{}/publish", course_id(c));
            crate::helpers::expect_json(app.post(&path, Some(&app.admin_token), &json!({})).await, 200).await;
        }
        let failed_message = |to: &'static str| app
            .with_db(move |conn| cpd_hub::db::write_tx(conn, move |conn| -> diesel::QueryResult<String> {
                use cpd_hub::db::schema::outbox;
                use diesel::prelude::*;
                let id = cpd_hub::store::outbox::enqueue_stored(
                    conn,
                    cpd_hub::store::outbox::StoredMessage {
                        kind: "sign_in_link",
                        recipient_email: to,
                        recipient_person_id: None,
                        subject_id: None,
                        payload: json!({"person_name": "N", "link": "http://x/", "expires_minutes": 15}),
                    },
                )?;
                // Failed for good, so the worker leaves it alone until someone retries it.
                diesel::update(outbox::table.find(&id))
                    .set((outbox::status.eq("failed"), outbox::attempts.eq(30)))
                    .execute(conn)?;
                Ok(id)
            }).unwrap());
        let page_failed_message = failed_message("page@matrix.test").await;
        let failed_message = failed_message("nobody@matrix.test").await;
        let booking = book(course_id(&course), subject_token.clone()).await;
        // Two more courses led by the course lead with one session each, the subject booked on
        // both: one whose session ended two days ago and was attended (so the booking is
        // complete), and one whose session starts in ten minutes (so check-in is open).
        let mut one_session = Vec::new();
        for (title, start_minutes) in [("Attended", -2 * 24 * 60), ("Today", 10)] {
            let mut body = course_body(&provider_id, title);
            body["lead_ids"] = json!([course_lead]);
            let c = app.admin_create("/api/v1/courses", body).await;
            let path = format!("/api/v1/courses/{}/publish", course_id(&c));
            crate::helpers::expect_json(app.post(&path, Some(&app.admin_token), &json!({})).await, 200).await;
            let booking = book(course_id(&c), subject_token.clone()).await;
            let session = c["sessions"][0]["id"].as_str().unwrap().to_string();
            move_session(&app, &session, start_minutes, 180).await;
            one_session.push((session, booking));
        }
        let (check_in_session, _) = one_session.pop().unwrap();
        let (attended_session, completed_booking) = one_session.pop().unwrap();
        let attended = app
            .request(
                Method::PUT,
                &format!("/api/v1/sessions/{attended_session}/attendance"),
                Some(&app.admin_token),
                Some(&json!([{"booking_id": completed_booking, "status": "present"}])),
            )
            .await;
        crate::helpers::expect_json(attended, 200).await;
        let check_in_code = app
            .admin_get(&format!("/api/v1/sessions/{check_in_session}/register"))
            .await["session"]["check_in_code"]
            .as_str()
            .unwrap()
            .to_string();
        // The course's first session starts in twenty minutes: its register is open (it
        // opens with check-in, half an hour before) and booking is still open until it starts.
        let first_session = course["sessions"][0]["id"].as_str().unwrap().to_string();
        app.with_db(move |conn| {
            use cpd_hub::db::schema::{course_sessions, courses};
            use diesel::prelude::*;
            let start = chrono::Utc::now().naive_utc() + chrono::Duration::minutes(20);
            let course_id: String = course_sessions::table
                .find(&first_session)
                .select(course_sessions::course_id)
                .first(conn)
                .unwrap();
            diesel::update(course_sessions::table.find(&first_session))
                .set((
                    course_sessions::start_at.eq(start),
                    course_sessions::end_at.eq(start + chrono::Duration::hours(3)),
                ))
                .execute(conn)
                .unwrap();
            diesel::update(courses::table.find(&course_id))
                .set(courses::first_session_start.eq(start))
                .execute(conn)
                .unwrap();
        })
        .await;
        let form = app.admin_create("/api/v1/evaluation-forms", evaluation_form("Matrix form")).await;
        let records = Records {
            booking,
            completed_booking,
            check_in_session,
            check_in_code,
            form: id(form.clone()),
            form_family: form["family_id"].as_str().unwrap().to_string(),
            pools: RefCell::new(HashMap::from([
                ("fresh_course", fresh_courses),
                ("own_booking", own_bookings),
                ("pending", pending),
            ])),
            failed_message,
            page_failed_message,
            course: course_id(&course),
            session: course["sessions"][0]["id"].as_str().unwrap().to_string(),
            spare_session: course["sessions"][1]["id"].as_str().unwrap().to_string(),
            draft: course_id(&draft),
            doomed: course_id(&doomed),
            page_draft: course_id(&page_draft),
            page_doomed: course_id(&page_doomed),
            school,
            cluster: id(cluster),
            staff_group: id(app.admin_get("/api/v1/staff-groups").await["items"][0].clone()),
            priority: id(app.admin_get("/api/v1/priorities").await["items"][0].clone()),
            provider: id(provider),
            subject,
            victim,
            page_victim,
            token,
        };

        let mut failures = Vec::new();
        // What each caller got, for the printed matrix (`CPD_MATRIX_OUT=file`).
        let mut seen: Vec<(String, Vec<String>)> = Vec::new();
        let mut n = 0;
        for row in matrix() {
            seen.push((format!("{} {}", row.method, row.route), Vec::new()));
            for (who, token) in &tokens {
                // Filled per caller: a `{next:..}` placeholder takes a fresh record each time.
                let path = records.fill(row.request);
                n += 1;
                let method = Method::from_bytes(row.method.as_bytes()).unwrap();
                // Sent as cpd-hub's own pages would, so only the permission rules decide.
                let mut req = app.client.request(method, format!("{}{}", app.address, path))
                    .header("origin", &app.address);
                if let Some(t) = token {
                    req = req.bearer_auth(t);
                }
                req = match row.body {
                    Body::None => req,
                    Body::Json(f) => req.json(&f(&records, n)),
                    Body::Form(f) => req.form(&f(&records, n)),
                    Body::Csv(text) => req.header("content-type", "text/csv").body(text),
                    Body::Upload(text) => {
                        let (content_type, body) =
                            crate::admin_schools::upload_body("matrix.csv", text.as_bytes(), true);
                        req.header("content-type", content_type).body(body)
                    }
                };
                let response = req.send().await.unwrap();
                let status = response.status().as_u16();
                let location = response
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let text = response.text().await.unwrap_or_default();
                seen.last_mut().unwrap().1.push(cell(status, location.as_deref()));
                let expect = expected(row.rule, *who);
                if !expect.met(status, location.as_deref()) {
                    let to = location.map(|l| format!(" (to {l})")).unwrap_or_default();
                    failures.push(format!("{} {} as {who:?}: got {status}{to}, expected {expect:?}: {text:.200}", row.method, row.route));
                }
            }
        }
        if let Ok(path) = std::env::var("CPD_MATRIX_OUT") {
            write_matrix(&path, &tokens.iter().map(|(w, _)| *w).collect::<Vec<_>>(), &seen);
        }
        assert!(failures.is_empty(), "permission matrix failures:\n{}", failures.join("\n"));
    }
}

/// Moves the only session of a course to start `start_minutes` from now and last `minutes`
/// (straight in the database, as time passing would), with the course's first start and last
/// end.
async fn move_session(app: &TestApp, session_id: &str, start_minutes: i64, minutes: i64) {
    use cpd_hub::db::schema::{course_sessions, courses};
    use diesel::prelude::*;
    let id = session_id.to_string();
    app.with_db(move |conn| {
        let start = chrono::Utc::now().naive_utc() + chrono::Duration::minutes(start_minutes);
        let end = start + chrono::Duration::minutes(minutes);
        let course: String = course_sessions::table
            .find(&id)
            .select(course_sessions::course_id)
            .first(conn)
            .expect("the session exists");
        diesel::update(course_sessions::table.find(&id))
            .set((
                course_sessions::start_at.eq(start),
                course_sessions::end_at.eq(end),
            ))
            .execute(conn)
            .expect("session moved");
        diesel::update(courses::table.find(&course))
            .set((
                courses::first_session_start.eq(start),
                courses::last_session_end.eq(end),
            ))
            .execute(conn)
            .expect("course times kept true");
    })
    .await
}

/// Writes the observed matrix as a Markdown table, a [`cell`] per route and caller.
fn write_matrix(path: &str, callers: &[Who], seen: &[(String, Vec<String>)]) {
    let mut out = String::from("| route |");
    for who in callers {
        out.push_str(&format!(" {who:?} |"));
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(callers.len()));
    out.push('\n');
    for (route, cells) in seen {
        out.push_str(&format!("| `{route}` |"));
        for cell in cells {
            out.push_str(&format!(" {cell} |"));
        }
        out.push('\n');
    }
    std::fs::write(path, out).expect("matrix written");
}
