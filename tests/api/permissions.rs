//! The permission matrix: every route in the OpenAPI document must have a rule here, and each
//! rule is checked with a caller of each kind (none, staff, another staff member, their
//! school's lead, another school's lead, a CPD group member, an admin).
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
    /// Anyone, signed in or not (the route never answers 401 or 403).
    Anyone,
    /// Anyone signed in; 401 without credentials.
    SignedIn,
    /// Admins; 403 for everyone else signed in.
    Admin,
    /// The person in the path, their school's lead, and admins; 404 for everyone else
    /// signed in (so ids cannot be probed).
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
    /// The approvals list: school leads (of any school: each sees their own) and admins; 403
    /// for everyone else.
    Approver,
    /// Rules that depend on records this matrix does not build (a booking's person, school
    /// and course leads): checked role by role in the named test module instead.
    #[allow(dead_code)] // For routes whose records the matrix cannot build yet.
    CheckedIn(&'static str),
}

/// A request body.
#[derive(Clone, Copy)]
enum Body {
    None,
    /// Made from the records of the test and a number unique to the request.
    Json(fn(&Records, usize) -> Value),
    Form(&'static [(&'static str, &'static str)]),
    Csv(&'static str),
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
    /// One of the subject's API tokens (not the one they call with).
    token: String,
    /// A published course with two sessions, and those sessions.
    course: String,
    session: String,
    spare_session: String,
    /// A draft course (to publish) and a published one (to cancel).
    draft: String,
    doomed: String,
    /// An email that failed for good, to retry.
    failed_message: String,
    /// The subject's confirmed booking on `course`.
    booking: String,
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

/// A valid session body on the given day of February 2027.
fn session_body(day: usize) -> Value {
    let day = 1 + day % 28;
    crate::calendar_support::cal_session(
        &format!("2027-02-{day:02}T09:00:00Z"),
        &format!("2027-02-{day:02}T12:00:00Z"),
    )
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
            .replace("{cluster}", &self.cluster)
            .replace("{school}", &self.school)
            .replace("{staff_group}", &self.staff_group)
            .replace("{priority}", &self.priority)
            .replace("{provider}", &self.provider)
            .replace("{person}", &self.subject)
            .replace("{victim}", &self.victim)
            .replace("{token}", &self.token)
            .replace("{course}", &self.course)
            .replace("{spare_session}", &self.spare_session)
            .replace("{session}", &self.session)
            .replace("{draft}", &self.draft)
            .replace("{doomed}", &self.doomed)
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
        row("GET", "/healthz", Anyone),
        row("GET", "/readyz", Anyone),
        row("GET", "/metrics", Admin),
        row("GET", "/api/docs", Anyone),
        row("GET", "/", Anyone),
        row("GET", "/static/app.css", Anyone),
        row("GET", "/auth/magic", Anyone),
        Row {
            body: Body::Form(&[("token", "not-a-real-token")]),
            ..row("POST", "/auth/magic", Anyone)
        },
        Row {
            body: Body::Form(&[("email", "matrix@nowhere.test")]),
            ..row("POST", "/auth/sign-in", Anyone)
        },
        row("POST", "/auth/sign-out", Anyone),
        Row {
            body: Body::Json(|_, _| json!({"email": "matrix@nowhere.test"})),
            ..row("POST", "/api/v1/auth/magic-link", Anyone)
        },
        row("POST", "/api/v1/auth/sign-out", Anyone),
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
        row("GET", "/api/v1/courses", Anyone),
        Row {
            body: Body::Json(|r, n| course_body(&r.provider, &format!("Course {n}"))),
            ..row("POST", "/api/v1/courses", Admin)
        },
        Row {
            request: "/api/v1/courses/{course}",
            ..row("GET", "/api/v1/courses/{id}", Anyone)
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
            ..row("GET", "/api/v1/courses/{id}/calendar.ics", Anyone)
        },
        row("GET", "/calendar.ics", Anyone),
        // The feed's own token is the credential; an unknown one is simply not found.
        Row {
            request: "/calendar/not-a-feed.ics",
            ..row("GET", "/calendar/{token}.ics", Anyone)
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
        row("GET", "/api/v1/reports/engagement", CheckedIn("reports")),
        row("GET", "/api/v1/reports/impact", CheckedIn("reports")),
        row("GET", "/reports", CheckedIn("reports_page")),
        row("GET", "/reports/school", CheckedIn("reports_page")),
        row(
            "GET",
            "/api/v1/sessions/{id}/register",
            CheckedIn("attendance"),
        ),
        row(
            "GET",
            "/api/v1/sessions/{id}/register.csv",
            CheckedIn("attendance"),
        ),
        row(
            "PUT",
            "/api/v1/sessions/{id}/attendance",
            CheckedIn("attendance"),
        ),
        row(
            "GET",
            "/api/v1/sessions/{id}/attendance-history",
            CheckedIn("attendance"),
        ),
        row(
            "POST",
            "/api/v1/sessions/{id}/walk-ins",
            CheckedIn("attendance"),
        ),
        row(
            "POST",
            "/api/v1/sessions/{id}/check-in",
            CheckedIn("attendance"),
        ),
        row("POST", "/api/v1/check-in", CheckedIn("attendance")),
        row(
            "GET",
            "/api/v1/people/{id}/cpd-record",
            CheckedIn("attendance"),
        ),
        row("GET", "/sessions/{id}/register", CheckedIn("register_page")),
        row(
            "POST",
            "/sessions/{id}/register",
            CheckedIn("register_page"),
        ),
        row(
            "POST",
            "/sessions/{id}/register/everyone-present",
            CheckedIn("register_page"),
        ),
        row(
            "POST",
            "/sessions/{id}/register/walk-ins",
            CheckedIn("register_page"),
        ),
        row(
            "GET",
            "/sessions/{id}/sign-in-sheet",
            CheckedIn("register_page"),
        ),
        row("GET", "/my/courses", CheckedIn("register_page")),
        row("GET", "/check-in", Anyone),
        row("POST", "/check-in", CheckedIn("register_page")),
        row(
            "GET",
            "/certificates/{booking_id}",
            CheckedIn("register_page"),
        ),
        row("GET", "/api/v1/evaluation-forms", CheckedIn("evaluation")),
        row("POST", "/api/v1/evaluation-forms", CheckedIn("evaluation")),
        row(
            "GET",
            "/api/v1/evaluation-forms/{id}",
            CheckedIn("evaluation"),
        ),
        row(
            "PUT",
            "/api/v1/evaluation-forms/{id}",
            CheckedIn("evaluation"),
        ),
        row(
            "PUT",
            "/api/v1/courses/{id}/evaluation-forms",
            CheckedIn("evaluation"),
        ),
        row(
            "GET",
            "/api/v1/courses/{id}/evaluation-summary",
            CheckedIn("evaluation"),
        ),
        // The token in the path is the credential; an unknown one is simply not found.
        Row {
            request: "/api/v1/evaluations/not-a-token",
            ..row("GET", "/api/v1/evaluations/{token}", Anyone)
        },
        Row {
            request: "/api/v1/evaluations/not-a-token",
            body: Body::Json(|_, _| json!({"answers": {}})),
            ..row("POST", "/api/v1/evaluations/{token}", Anyone)
        },
        Row {
            request: "/evaluate/not-a-token",
            ..row("GET", "/evaluate/{token}", Anyone)
        },
        Row {
            request: "/evaluate/not-a-token",
            body: Body::Form(&[("q-overall", "5")]),
            ..row("POST", "/evaluate/{token}", Anyone)
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
        (Rule::Anyone, _) => NotRefused,
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
        (Rule::Approver, Who::OwnLead | Who::OtherLead | Who::Admin) => Allowed,
        (Rule::Approver, _) => Status(403),
        (Rule::CheckedIn(module), _) => unreachable!("checked in tests/api/{module}.rs"),
    }
}

#[derive(Debug)]
enum Expect {
    /// Neither 401 nor 403.
    NotRefused,
    /// Success (the route's records and request bodies are real and valid).
    Allowed,
    /// Exactly this status.
    Status(u16),
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
        for (n, approval) in std::iter::repeat_n(false, 2 * callers)
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
        let fresh_courses = published.split_off(callers);
        let mut own_bookings = Vec::new();
        for c in published {
            own_bookings.push(book(c, subject_token.clone()).await);
        }
        // Requests waiting for approval from others of the subject's school: four rows use them.
        let mut pending = Vec::new();
        for n in 0..4 * callers {
            let id = app.create_person(&format!("asker{n}@matrix.test"), "Asker", Some(&school), &[]);
            let b = book(approval_course.clone(), app.token_for(&id)).await;
            pending.push(b);
        }
        let draft = app.admin_create("/api/v1/courses", course_body(&provider_id, "Draft")).await;
        let doomed = app.admin_create("/api/v1/courses", course_body(&provider_id, "Doomed")).await;
        for c in [&course, &doomed] {
            let path = format!("/api/v1/courses/{}/publish", course_id(c));
            crate::helpers::expect_json(app.post(&path, Some(&app.admin_token), &json!({})).await, 200).await;
        }
        let failed_message = app
            .with_db(|conn| cpd_hub::db::write_tx(conn, |conn| -> diesel::QueryResult<String> {
                use cpd_hub::db::schema::outbox;
                use diesel::prelude::*;
                let id = cpd_hub::store::outbox::enqueue(
                    conn,
                    cpd_hub::store::outbox::NewMessage {
                        kind: "sign_in_link",
                        recipient_email: "nobody@matrix.test",
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
            }).unwrap())
            .await;
        let booking = book(course_id(&course), subject_token.clone()).await;
        let records = Records {
            booking,
            pools: RefCell::new(HashMap::from([
                ("fresh_course", fresh_courses),
                ("own_booking", own_bookings),
                ("pending", pending),
            ])),
            failed_message,
            course: course_id(&course),
            session: course["sessions"][0]["id"].as_str().unwrap().to_string(),
            spare_session: course["sessions"][1]["id"].as_str().unwrap().to_string(),
            draft: course_id(&draft),
            doomed: course_id(&doomed),
            school,
            cluster: id(cluster),
            staff_group: id(app.admin_get("/api/v1/staff-groups").await["items"][0].clone()),
            priority: id(app.admin_get("/api/v1/priorities").await["items"][0].clone()),
            provider: id(provider),
            subject,
            victim,
            token,
        };

        let mut failures = Vec::new();
        // What each caller got, for the printed matrix (`CPD_MATRIX_OUT=file`).
        let mut seen: Vec<(String, Vec<u16>)> = Vec::new();
        let mut n = 0;
        for row in matrix() {
            if matches!(row.rule, Rule::CheckedIn(_)) {
                continue;
            }
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
                    Body::Form(fields) => req.form(fields),
                    Body::Csv(text) => req.header("content-type", "text/csv").body(text),
                };
                let response = req.send().await.unwrap();
                let status = response.status().as_u16();
                let text = response.text().await.unwrap_or_default();
                seen.last_mut().unwrap().1.push(status);
                let expect = expected(row.rule, *who);
                let ok = match expect {
                    Expect::NotRefused => !matches!(status, 401 | 403),
                    Expect::Allowed => status < 400,
                    Expect::Status(s) => status == s,
                };
                if !ok {
                    failures.push(format!("{} {} as {who:?}: got {status}, expected {expect:?}: {text:.200}", row.method, row.route));
                }
            }
        }
        if let Ok(path) = std::env::var("CPD_MATRIX_OUT") {
            write_matrix(&path, &tokens.iter().map(|(w, _)| *w).collect::<Vec<_>>(), &seen);
        }
        assert!(failures.is_empty(), "permission matrix failures:\n{}", failures.join("\n"));
    }
}

/// Writes the observed matrix as a Markdown table: "yes" where the caller got through, the
/// refusal's status otherwise.
fn write_matrix(path: &str, callers: &[Who], seen: &[(String, Vec<u16>)]) {
    let mut out = String::from("| route |");
    for who in callers {
        out.push_str(&format!(" {who:?} |"));
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(callers.len()));
    out.push('\n');
    for (route, statuses) in seen {
        out.push_str(&format!("| `{route}` |"));
        for s in statuses {
            let cell = match s {
                401 | 403 | 404 => s.to_string(),
                _ => "yes".to_string(),
            };
            out.push_str(&format!(" {cell} |"));
        }
        out.push('\n');
    }
    std::fs::write(path, out).expect("matrix written");
}
