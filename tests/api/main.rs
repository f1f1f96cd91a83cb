//! Integration tests: the real service, a real database per test, real HTTP.

// The harness is a toolbox: not every helper or field is used by the tests of the moment.
#[allow(dead_code)]
mod helpers;

mod admin_audit;
mod admin_course_bookings;
mod admin_courses;
mod admin_emails;
mod admin_people;
mod admin_schools;
mod auth_cache;
mod booking_journey;
mod booking_load;
mod booking_pages;
mod booking_support;
mod bookings;
mod calendar_ics;
mod calendar_support;
mod courses;
mod csv_safety;
mod import;
mod ops;
mod permissions;
mod prepared;
mod reference;
mod signin;
mod tools;

mod attendance;
mod booking_mail;
mod cli;
mod email;
mod email_links;
mod people;
mod reports;
mod sign_in_mail;
mod smtp_sink;
// The WebDriver client is a toolbox too: each browser test uses part of it.
#[allow(dead_code)]
mod browser;
mod digest;
mod focus;
mod register_page;

mod crash;
mod erasure;
mod evaluate_page;
mod evaluation;
mod jobs;
mod national_seed;
mod oidc;
#[allow(dead_code)]
mod report_cells;
mod report_support;
mod reports_page;
mod school_pages;

mod bad_input;

// The national seed and the bulk courses of `cpd-hub-tools` (`tools/src`), compiled into the
// tests from that one source rather than depended on. cpd-hub-tools depends on the library,
// so as a dev-dependency it made the library's own unit tests wait for the library to be
// built before their compile could start, where the two compile side by side without it.
// The tests use part of each.
#[allow(dead_code)]
#[path = "../../tools/src/bulk_courses.rs"]
mod bulk_courses;
#[allow(dead_code)]
#[path = "../../tools/src/national/mod.rs"]
mod national;

mod register_window;
mod schemathesis;
