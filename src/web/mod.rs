//! Server-rendered HTML pages: sign-in, the CPD calendar, courses and one's bookings,
//! registers and check-in, evaluation forms, certificates and reports. One base layout
//! (`templates/base.html`), one stylesheet (`/static/app.css`) and the security headers, all
//! compiled into the binary. Page handlers call the same use cases (`app`) as the API.

pub mod admin_audit;
pub mod admin_courses;
pub mod admin_emails;
pub mod admin_people;
pub mod admin_schools;
pub mod approvals;
pub mod certificate;
pub mod charts;
pub mod check_in;
pub mod courses;
pub mod errors;
pub mod evaluate;
pub mod nav;
pub mod record;
pub mod register;
pub mod reports;
pub mod school;
pub mod security;
pub mod signin;
pub mod signin_oidc;

use std::sync::OnceLock;

use actix_web::http::{header, StatusCode};
use actix_web::{get, web, HttpResponse};
use minijinja::Environment;

use crate::error::{AppError, AppResult};

/// The page templates, compiled into the binary. Names ending `.html` are auto-escaped.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    (
        "admin_courses.html",
        include_str!("templates/admin_courses.html"),
    ),
    (
        "admin_emails.html",
        include_str!("templates/admin_emails.html"),
    ),
    (
        "admin_email.html",
        include_str!("templates/admin_email.html"),
    ),
    (
        "admin_audit.html",
        include_str!("templates/admin_audit.html"),
    ),
    (
        "admin_course.html",
        include_str!("templates/admin_course.html"),
    ),
    (
        "admin_course_form.html",
        include_str!("templates/admin_course_form.html"),
    ),
    (
        "admin_course_cancel.html",
        include_str!("templates/admin_course_cancel.html"),
    ),
    (
        "admin_course_bookings.html",
        include_str!("templates/admin_course_bookings.html"),
    ),
    (
        "admin_booking_cancel.html",
        include_str!("templates/admin_booking_cancel.html"),
    ),
    (
        "_sign_in_form.html",
        include_str!("templates/_sign_in_form.html"),
    ),
    ("home.html", include_str!("templates/home.html")),
    (
        "check_email.html",
        include_str!("templates/check_email.html"),
    ),
    (
        "magic_confirm.html",
        include_str!("templates/magic_confirm.html"),
    ),
    (
        "link_invalid.html",
        include_str!("templates/link_invalid.html"),
    ),
    (
        "rate_limited.html",
        include_str!("templates/rate_limited.html"),
    ),
    (
        "_report_macros.html",
        include_str!("templates/_report_macros.html"),
    ),
    (
        "_pagination.html",
        include_str!("templates/_pagination.html"),
    ),
    ("reports.html", include_str!("templates/reports.html")),
    (
        "reports_school.html",
        include_str!("templates/reports_school.html"),
    ),
    (
        "report_refused.html",
        include_str!("templates/report_refused.html"),
    ),
    ("register.html", include_str!("templates/register.html")),
    (
        "sign_in_sheet.html",
        include_str!("templates/sign_in_sheet.html"),
    ),
    ("check_in.html", include_str!("templates/check_in.html")),
    (
        "certificate.html",
        include_str!("templates/certificate.html"),
    ),
    ("my_courses.html", include_str!("templates/my_courses.html")),
    ("courses.html", include_str!("templates/courses.html")),
    ("approve.html", include_str!("templates/approve.html")),
    (
        "_record_body.html",
        include_str!("templates/_record_body.html"),
    ),
    ("record.html", include_str!("templates/record.html")),
    (
        "record_print.html",
        include_str!("templates/record_print.html"),
    ),
    ("school.html", include_str!("templates/school.html")),
    (
        "school_choose.html",
        include_str!("templates/school_choose.html"),
    ),
    ("course.html", include_str!("templates/course.html")),
    (
        "my_bookings.html",
        include_str!("templates/my_bookings.html"),
    ),
    ("not_found.html", include_str!("templates/not_found.html")),
    ("error.html", include_str!("templates/error.html")),
    (
        "evaluate_form.html",
        include_str!("templates/evaluate_form.html"),
    ),
    (
        "evaluate_done.html",
        include_str!("templates/evaluate_done.html"),
    ),
    (
        "evaluate_closed.html",
        include_str!("templates/evaluate_closed.html"),
    ),
    (
        "admin_people.html",
        include_str!("templates/admin_people.html"),
    ),
    (
        "admin_person.html",
        include_str!("templates/admin_person.html"),
    ),
    (
        "admin_person_form.html",
        include_str!("templates/admin_person_form.html"),
    ),
    (
        "admin_person_erase.html",
        include_str!("templates/admin_person_erase.html"),
    ),
    (
        "admin_schools.html",
        include_str!("templates/admin_schools.html"),
    ),
    (
        "admin_school_form.html",
        include_str!("templates/admin_school_form.html"),
    ),
    (
        "admin_schools_import.html",
        include_str!("templates/admin_schools_import.html"),
    ),
    ("admin_list.html", include_str!("templates/admin_list.html")),
    (
        "admin_list_item.html",
        include_str!("templates/admin_list_item.html"),
    ),
    (
        "_admin_list_fields.html",
        include_str!("templates/_admin_list_fields.html"),
    ),
    (
        "oidc_refused.html",
        include_str!("templates/oidc_refused.html"),
    ),
];

/// The shared stylesheet.
const APP_CSS: &str = include_str!("static/app.css");

pub(crate) fn templates() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Lenient);
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("template {name} does not compile: {e}"));
        }
        env
    })
}

/// Renders a page. Pages are never cached: they may carry a sign-in token or a name.
pub fn page(
    status: StatusCode,
    template: &str,
    context: minijinja::Value,
) -> AppResult<HttpResponse> {
    // Every page's menu follows the reader's roles (signed out: no menu but the calendar).
    let context = match crate::auth::seen_caller() {
        Some(caller) => minijinja::context! {
            nav => nav::menu(&caller),
            admin_nav => nav::admin_menu(&caller),
            ..context
        },
        None => context,
    };
    let html = templates()
        .get_template(template)
        .and_then(|t| t.render(context))
        .map_err(|e| AppError::Internal(anyhow::anyhow!("rendering {template}: {e}")))?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(html))
}

/// The header by which [`sign_in_first`] asks [`errors::return_to`] to add the page asked
/// for to the sign-in address (handlers do not all have the request at hand).
pub const SIGN_IN_FIRST: &str = "x-cpd-sign-in-first";

/// Where a page that needs a signed-in person sends someone who is not: the home page, which
/// offers the sign-in form, carrying the page asked for (`/?next=...`, added by
/// [`errors::return_to`]) so that signing in comes back to it.
pub fn sign_in_first() -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((SIGN_IN_FIRST, "1"))
        .finish()
}

/// The page a list's `page` parameter asks for, from 1: page 1 when absent or unreadable, and
/// never so far on that its offset could overflow.
pub fn page_number(raw: Option<&str>) -> i64 {
    raw.and_then(|n| n.trim().parse::<i64>().ok())
        .filter(|n| (1..=1_000_000).contains(n))
        .unwrap_or(1)
}

/// How many pages `total` items fill at `size` a page.
pub fn page_count(total: i64, size: i64) -> i64 {
    (total + size - 1) / size
}

/// A list form's filters that are set, as a query string, to keep them in the paging links.
pub fn filter_query(filters: &[(&str, &str)]) -> String {
    let set: Vec<_> = filters.iter().filter(|(_, v)| !v.is_empty()).collect();
    serde_urlencoded::to_string(set).unwrap_or_default()
}

/// A form field as the form shows it back: trimmed, empty when absent.
pub fn trimmed(v: &Option<String>) -> String {
    v.as_deref().unwrap_or("").trim().to_string()
}

/// A 303 to another page of cpd-hub, after a form post (post/redirect/get: reloading the page
/// does not post again).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// Turns a "not found" into the HTML not-found page (pages answer people, not programs);
/// any other outcome passes through.
pub fn html_not_found(result: AppResult<HttpResponse>) -> AppResult<HttpResponse> {
    match result {
        Err(AppError::NotFound) => page(
            StatusCode::NOT_FOUND,
            "not_found.html",
            minijinja::context! { signed_in => true },
        ),
        other => other,
    }
}

/// The shared stylesheet.
#[utoipa::path(tag = "web", responses((status = 200, description = "CSS", content_type = "text/css", body = String)))]
#[get("/static/app.css")]
pub async fn app_css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(APP_CSS)
}

/// Registers the HTML pages and static files.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.app_data(web::FormConfig::default().error_handler(form_error))
        .service(app_css);
    signin::configure(cfg);
    reports::configure(cfg);
    register::configure(cfg);
    check_in::configure(cfg);
    certificate::configure(cfg);
    evaluate::configure(cfg);
    courses::configure(cfg);
    approvals::configure(cfg);
    record::configure(cfg);
    school::configure(cfg);
    admin_courses::configure(cfg);
    admin_emails::configure(cfg);
    admin_audit::configure(cfg);
    admin_people::configure(cfg);
    admin_schools::configure(cfg);
}

/// Answers unreadable form posts with a problem document instead of actix's plain text.
fn form_error(
    err: actix_web::error::UrlencodedError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    match err {
        actix_web::error::UrlencodedError::ContentType => {
            AppError::UnsupportedMedia("application/x-www-form-urlencoded").into()
        }
        actix_web::error::UrlencodedError::Overflow { limit, .. } => {
            AppError::PayloadTooLarge { limit }.into()
        }
        other => AppError::Malformed(format!("the form could not be read: {other}")).into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pager_keeps_the_filters_and_shows_only_when_there_are_pages() {
        let env = templates();
        let render = |page_no: i64, pages: i64, query: &str| {
            // Named .html, so it is escaped as the pages are.
            env.render_named_str(
                "pager.html",
                r#"{% import "_pagination.html" as p %}{{ p.pager("/courses", "Pages of courses", page_no, pages, query) }}"#,
                minijinja::context! { page_no, pages, query },
            )
            .unwrap()
        };
        let middle = render(2, 3, "q=a&b=c");
        assert!(
            middle.contains(r#"aria-label="Pages of courses""#),
            "{middle}"
        );
        assert!(
            middle.contains(r#"href="/courses?q=a&amp;b=c&amp;page=1""#),
            "{middle}"
        );
        assert!(
            middle.contains(r#"href="/courses?q=a&amp;b=c&amp;page=3""#),
            "{middle}"
        );
        assert!(middle.contains("Page 2 of 3"), "{middle}");
        let first = render(1, 2, "");
        assert!(
            first.contains(r#"href="/courses?page=2""#) && !first.contains("rel=\"prev\""),
            "{first}"
        );
        assert!(render(1, 1, "q=a").trim().is_empty());
        // The page numbers the list pages read: absent, unreadable or out of range is page 1.
        assert_eq!(page_number(Some(" 3 ")), 3);
        for raw in [
            None,
            Some(""),
            Some("0"),
            Some("-2"),
            Some("x"),
            Some("1000001"),
        ] {
            assert_eq!(page_number(raw), 1, "{raw:?}");
        }
        assert_eq!(
            (page_count(0, 20), page_count(20, 20), page_count(21, 20)),
            (0, 1, 2)
        );
        assert_eq!(
            filter_query(&[("q", "a b"), ("term", ""), ("status", "draft")]),
            "q=a+b&status=draft"
        );
    }

    #[test]
    fn every_template_compiles_and_escapes() {
        let env = templates();
        for (name, _) in TEMPLATES {
            env.get_template(name).expect("compiles");
        }
        let html = env
            .get_template("check_email.html")
            .unwrap()
            .render(minijinja::context! { email => "<script>x</script>@example.org", link_minutes => 15 })
            .unwrap();
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("<script>"));
    }
}
