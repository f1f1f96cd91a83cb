//! The register page a course lead uses on a phone in the room, its form posts (one tap per
//! person, everyone-present, walk-ins), the printable sign-in sheet, and the lead's list of
//! their courses with links to each register.
//!
//! Plain HTML forms and 303 redirects (post/redirect/get), no scripts: it works on a slow
//! connection and on any phone. Each redirect lands on the person's row (`#b-<booking id>`),
//! so the page reloads where the lead was. All reading and writing goes through
//! `store::attendance`, the same functions the JSON API uses.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use minijinja::context;
use serde::{Deserialize, Serialize};

use crate::app::policy::{self, Action};
use crate::app::state::AppState;
use crate::auth::{Caller, MaybeCaller};
use crate::domain::attendance::AttendanceStatus;
use crate::domain::course::london_start_display;
use crate::domain::paging::{Paging, MAX_LIMIT};
use crate::domain::text::is_email;
use crate::domain::time;
use crate::error::responses::{CrossSite, Problem, PROBLEM_JSON};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::store::attendance::{self as store, Actor, Mark, Register, WalkInPerson};

use super::{html_not_found, page, see_other, sign_in_first};

/// One tap on the register: a person's status at this session.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct MarkForm {
    /// The person's booking.
    #[serde(default)]
    pub booking_id: String,
    /// `present`, `late`, `left_early`, `absent` or `apologies`.
    #[serde(default)]
    pub status: String,
}

/// Someone who came without a place.
#[derive(Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
pub struct WalkInForm {
    /// Their full name.
    #[serde(default)]
    pub name: String,
    /// Their email address; someone already on record with it is used.
    #[serde(default)]
    pub email: String,
    /// Their school (empty: none).
    #[serde(default)]
    pub school_id: String,
    /// Their staff group (empty: not known).
    #[serde(default)]
    pub staff_group_id: String,
}

/// The longest name the walk-in form takes.
const NAME_MAX: usize = 200;

/// A problem to show at the top of the register page.
#[derive(Debug, Serialize)]
struct PageError {
    /// The id of the field (or section) it is about.
    field: String,
    message: String,
}

/// What the register page shows besides the register itself.
#[derive(Default)]
struct Extras {
    walk_in: WalkInForm,
    field_errors: FieldErrors,
    errors: Vec<PageError>,
}

/// The QR code of a text as an inline SVG (the XML declaration dropped), scaled by CSS, with
/// a text alternative. Error correction M, as `QrCode::new` chooses.
pub fn check_in_qr_svg(text: &str) -> AppResult<String> {
    let code = qrcode::QrCode::new(text.as_bytes())
        .map_err(|e| AppError::Internal(anyhow::anyhow!("QR code: {e}")))?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .module_dimensions(1, 1)
        .quiet_zone(true)
        .build();
    let start = svg.find("<svg").unwrap_or(0);
    Ok(svg[start..].replacen(
        "<svg ",
        "<svg role=\"img\" aria-label=\"QR code for checking in to this session\" ",
        1,
    ))
}

/// The address the check-in QR code opens.
pub fn check_in_url(public_base_url: &str, code: &str) -> String {
    format!(
        "{}/check-in?code={code}",
        public_base_url.trim_end_matches('/')
    )
}

fn register_path(session_id: &str) -> String {
    format!("/sessions/{session_id}/register")
}

/// The register with what the permission rules need: 404 when there is no such session or
/// the caller does not take its register.
fn load_register(
    conn: &mut crate::db::DbConn,
    state_settings: &crate::config::AttendanceSettings,
    caller: &Caller,
    session_id: &str,
) -> AppResult<Register> {
    let access = store::session_access(conn, session_id)?;
    policy::require_visible(
        caller,
        Action::TakeRegister {
            lead_ids: &access.lead_ids,
        },
    )?;
    store::register(conn, state_settings, session_id, time::now())
}

async fn render(
    state: &AppState,
    caller: Caller,
    session_id: String,
    status: StatusCode,
    extras: Extras,
) -> AppResult<HttpResponse> {
    let settings = state.settings.attendance.clone();
    let is_admin = caller.is_admin();
    let (reg, schools, groups) = state
        .db(move |conn| {
            let reg = load_register(conn, &settings, &caller, &session_id)?;
            let schools = crate::store::schools::list_schools(
                conn,
                &crate::store::schools::SchoolFilter {
                    is_open: Some(true),
                    ..Default::default()
                },
                Paging {
                    limit: MAX_LIMIT,
                    offset: 0,
                },
            )?
            .items;
            let groups = crate::store::reference::list_staff_groups(
                conn,
                None,
                Paging {
                    limit: MAX_LIMIT,
                    offset: 0,
                },
            )?
            .items;
            Ok((reg, schools, groups))
        })
        .await?;

    let s = &reg.session;
    // A register opens with check-in (store::attendance refuses a save before then).
    let not_open = time::now() < s.check_in_opens_at;
    let can_edit = (!s.locked || is_admin) && !not_open;
    let rows: Vec<_> = reg
        .items
        .iter()
        .map(|i| {
            context! {
                booking_id => i.booking_id,
                name => i.person.name,
                school => i.school.as_ref().map(|n| n.name.clone()),
                staff_group => i.staff_group.as_ref().map(|n| n.name.clone()),
                status => i.status.map(AttendanceStatus::as_str),
                status_label => i.status.map(AttendanceStatus::label),
                source => i.source.map(|x| x.as_str()),
            }
        })
        .collect();
    let c = &reg.counts;
    let counts = vec![
        context! { key => "present", label => "Present", count => c.present },
        context! { key => "late", label => "Late", count => c.late },
        context! { key => "left_early", label => "Left early", count => c.left_early },
        context! { key => "absent", label => "Absent", count => c.absent },
        context! { key => "apologies", label => "Apologies", count => c.apologies },
        context! { key => "unmarked", label => "Not marked", count => c.unrecorded },
    ];
    let statuses: Vec<_> = AttendanceStatus::ALL
        .iter()
        .map(|s| context! { value => s.as_str(), label => s.label() })
        .collect();
    let base = &state.settings.public_base_url;
    let qr_svg = check_in_qr_svg(&check_in_url(base, &s.check_in_code))?;
    let schools: Vec<_> = schools
        .iter()
        .map(|s| context! { id => s.id, name => s.name })
        .collect();
    let groups: Vec<_> = groups
        .iter()
        .map(|g| context! { id => g.id, name => g.name })
        .collect();
    let field_errors: std::collections::BTreeMap<&str, &str> = extras
        .field_errors
        .iter()
        .filter_map(|(k, v)| v.first().map(|m| (k.as_str(), m.as_str())))
        .collect();
    let mut error_list = extras.errors;
    for (field, message) in &field_errors {
        error_list.push(PageError {
            field: (*field).to_string(),
            message: format!("{}: {message}", field_label(field)),
        });
    }
    let path = register_path(&s.id);
    page(
        status,
        "register.html",
        context! {
            signed_in => true,
            course => context! { id => s.course_id, title => s.course_title },
            session => context! {
                id => s.id,
                display => s.display,
                venue => s.venue_name,
                position => s.position,
                count => s.sessions_count,
            },
            locked => s.locked,
            locks_at => london_start_display(s.locks_at),
            not_open,
            opens_at => london_start_display(s.check_in_opens_at),
            can_edit,
            rows,
            counts,
            unmarked => c.unrecorded,
            statuses,
            check_in_code => s.check_in_code,
            check_in_page => format!("{}/check-in", base.trim_end_matches('/')),
            qr_svg,
            opens_minutes => state.settings.attendance.check_in_opens_minutes,
            late_minutes => state.settings.attendance.check_in_late_minutes,
            csv_url => format!("/api/v1/sessions/{}/register.csv", s.id),
            sheet_url => format!("/sessions/{}/sign-in-sheet", s.id),
            mark_url => path,
            everyone_url => format!("{path}/everyone-present"),
            walk_in_url => format!("{path}/walk-ins"),
            walk_in => extras.walk_in,
            schools,
            staff_groups => groups,
            errors => field_errors,
            error => !error_list.is_empty(),
            error_list,
        },
    )
}

fn field_label(field: &str) -> &'static str {
    match field {
        "name" => "Full name",
        "email" => "Email address",
        "school_id" => "School",
        "staff_group_id" => "Staff group",
        _ => "Walk-in",
    }
}

/// The register for a session, for taking it on a phone: one row per confirmed booking with
/// a button per status, counts, everyone-present, walk-ins, the check-in code and its QR code.
#[utoipa::path(tag = "web",
    params(("id" = String, Path, description = "The session")),
    responses(
        (status = 200, description = "The register page", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to the sign-in page"),
        (status = 404, description = "No such session, or not one whose register the caller takes", content_type = "text/html", body = String),
))]
#[get("/sessions/{id}/register")]
pub async fn register_page(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    path: web::Path<String>,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    html_not_found(
        render(
            &state,
            caller,
            path.into_inner(),
            StatusCode::OK,
            Extras::default(),
        )
        .await,
    )
}

/// Saves marks as the caller; a locked register (for a non-admin) sends the lead back to the
/// page, which says it is locked.
async fn save(
    state: &AppState,
    caller: Caller,
    session_id: &str,
    marks: Option<Vec<Mark>>,
    anchor: &str,
) -> AppResult<HttpResponse> {
    let settings = state.settings.attendance.clone();
    let id = session_id.to_string();
    let saved = state
        .db(move |conn| {
            let access = store::session_access(conn, &id)?;
            policy::require_visible(
                &caller,
                Action::TakeRegister {
                    lead_ids: &access.lead_ids,
                },
            )?;
            let now = time::now();
            let actor = Actor {
                person_id: &caller.person_id,
                is_admin: caller.is_admin(),
            };
            match marks {
                Some(marks) => store::record(conn, &settings, &id, actor, &marks, now),
                // Everyone-present: who is unmarked is decided inside the save's transaction.
                None => store::record_everyone_present(conn, &settings, &id, actor, now),
            }
        })
        .await;
    let page = register_path(session_id);
    match saved {
        Ok(_) => Ok(see_other(&format!("{page}#{anchor}"))),
        Err(AppError::Conflict {
            code: "register_locked",
            ..
        }) => Ok(see_other(&format!("{page}#locked"))),
        // The page says when it opens.
        Err(AppError::Conflict {
            code: "register_not_open",
            ..
        }) => Ok(see_other(&format!("{page}#not-open"))),
        // The register names entries as `items[0].booking_id`; the form has one entry.
        Err(AppError::Validation(errors)) => Err(AppError::Validation(
            errors
                .into_iter()
                .map(|(k, v)| (k.rsplit('.').next().unwrap_or(&k).to_string(), v))
                .collect(),
        )),
        Err(e) => Err(e),
    }
}

/// One tap: records a person's status at this session, then back to their row.
#[utoipa::path(tag = "web",
    params(("id" = String, Path, description = "The session")),
    request_body(content = MarkForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Saved: back to the person's row on the register (or to the lock notice)"),
        CrossSite,
        (status = 404, description = "No such session, or not one whose register the caller takes", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "Not a status, or not a confirmed booking on this course", body = Problem, content_type = PROBLEM_JSON),
))]
#[post("/sessions/{id}/register")]
pub async fn mark(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    path: web::Path<String>,
    form: web::Form<MarkForm>,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    let form = form.into_inner();
    let Some(status) = AttendanceStatus::parse(form.status.trim()) else {
        return Err(AppError::invalid("status", AttendanceStatus::EXPECTED));
    };
    let booking_id = form.booking_id.trim().to_string();
    if booking_id.is_empty() {
        return Err(AppError::invalid("booking_id", "must name a booking"));
    }
    let marks = vec![Mark {
        booking_id: booking_id.clone(),
        status: status.as_str().to_string(),
        note: None,
    }];
    save(
        &state,
        caller,
        &path.into_inner(),
        Some(marks),
        &format!("b-{booking_id}"),
    )
    .await
}

/// Marks everyone not yet marked at this session as present (marks already made, by the
/// lead or by check-in, stay as they are).
#[utoipa::path(tag = "web",
    params(("id" = String, Path, description = "The session")),
    responses(
        (status = 303, description = "Saved: back to the register"),
        CrossSite,
        (status = 404, description = "No such session, or not one whose register the caller takes", body = Problem, content_type = PROBLEM_JSON),
))]
#[post("/sessions/{id}/register/everyone-present")]
pub async fn everyone_present(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    path: web::Path<String>,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    save(&state, caller, &path.into_inner(), None, "people").await
}

/// Checks the walk-in form; the person to add, or the field errors.
fn read_walk_in(form: &WalkInForm) -> Result<WalkInPerson, FieldErrors> {
    let mut errors = FieldErrors::new();
    let name = form.name.trim();
    let email = form.email.trim();
    if name.is_empty() {
        errors.insert("name".into(), vec!["Enter their full name".into()]);
    } else if name.chars().count() > NAME_MAX {
        errors.insert(
            "name".into(),
            vec![format!("Enter a name of at most {NAME_MAX} characters")],
        );
    }
    if email.is_empty() {
        errors.insert("email".into(), vec!["Enter their email address".into()]);
    } else if !is_email(email) {
        errors.insert(
            "email".into(),
            vec!["Enter an email address in the right form, like name@school.sch.uk".into()],
        );
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let optional = |v: &str| Some(v.trim().to_string()).filter(|v| !v.is_empty());
    Ok(WalkInPerson::New {
        name: name.to_string(),
        email: email.to_string(),
        school_id: optional(&form.school_id),
        staff_group_id: optional(&form.staff_group_id),
    })
}

/// Adds a walk-in: books them onto the course (an override, recorded as a walk-in) and marks
/// them present at this session, then back to their row. Mistakes in the form come back on
/// the page, with what was typed.
#[utoipa::path(tag = "web",
    params(("id" = String, Path, description = "The session")),
    request_body(content = WalkInForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Added: to their row on the register"),
        CrossSite,
        (status = 404, description = "No such session, or not one whose register the caller takes", content_type = "text/html", body = String),
        (status = 409, description = "They cannot be added (waiting for a place, register locked, course cancelled): the page says why", content_type = "text/html", body = String),
        (status = 422, description = "The form has mistakes: the page names them", content_type = "text/html", body = String),
))]
#[post("/sessions/{id}/register/walk-ins")]
pub async fn walk_in(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    path: web::Path<String>,
    form: web::Form<WalkInForm>,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    let session_id = path.into_inner();
    let form = form.into_inner();
    let who = match read_walk_in(&form) {
        Ok(who) => who,
        Err(field_errors) => {
            let extras = Extras {
                walk_in: form,
                field_errors,
                errors: Vec::new(),
            };
            return html_not_found(
                render(
                    &state,
                    caller,
                    session_id,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    extras,
                )
                .await,
            );
        }
    };
    let settings = state.settings.attendance.clone();
    let base = state.settings.public_base_url.clone();
    let (id, c) = (session_id.clone(), caller.clone());
    let added = state
        .db(move |conn| {
            let access = store::session_access(conn, &id)?;
            policy::require_visible(
                &c,
                Action::TakeRegister {
                    lead_ids: &access.lead_ids,
                },
            )?;
            let actor = Actor {
                person_id: &c.person_id,
                is_admin: c.is_admin(),
            };
            store::add_walk_in(conn, &settings, &base, &id, actor, who, time::now())
        })
        .await;
    match added {
        Ok(w) => {
            // The booking confirmation was queued with the booking.
            state.outbox_wake.notify_one();
            Ok(see_other(&format!(
                "{}#b-{}",
                register_path(&session_id),
                w.booking.id
            )))
        }
        Err(AppError::Validation(field_errors)) => {
            let extras = Extras {
                walk_in: form,
                field_errors,
                errors: Vec::new(),
            };
            html_not_found(
                render(
                    &state,
                    caller,
                    session_id,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    extras,
                )
                .await,
            )
        }
        Err(AppError::Conflict { detail, .. }) => {
            let extras = Extras {
                walk_in: form,
                field_errors: FieldErrors::new(),
                errors: vec![PageError {
                    field: "walk-in".into(),
                    message: detail,
                }],
            };
            html_not_found(render(&state, caller, session_id, StatusCode::CONFLICT, extras).await)
        }
        Err(e) => html_not_found(Err(e)),
    }
}

/// A printable sign-in sheet for rooms without Wi-Fi: one row per confirmed booking with a
/// box to sign, and spare rows for walk-ins.
#[utoipa::path(tag = "web",
    params(("id" = String, Path, description = "The session")),
    responses(
        (status = 200, description = "The sheet, with print styles", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to the sign-in page"),
        (status = 404, description = "No such session, or not one whose register the caller takes", content_type = "text/html", body = String),
))]
#[get("/sessions/{id}/sign-in-sheet")]
pub async fn sign_in_sheet(
    state: web::Data<AppState>,
    caller: MaybeCaller,
    path: web::Path<String>,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    let settings = state.settings.attendance.clone();
    let id = path.into_inner();
    let reg = state
        .db(move |conn| load_register(conn, &settings, &caller, &id))
        .await;
    let reg = match reg {
        Ok(r) => r,
        Err(e) => return html_not_found(Err(e)),
    };
    let s = &reg.session;
    let rows: Vec<_> = reg
        .items
        .iter()
        .map(|i| {
            context! {
                name => i.person.name,
                school => i.school.as_ref().map(|n| n.name.clone()),
                staff_group => i.staff_group.as_ref().map(|n| n.name.clone()),
            }
        })
        .collect();
    page(
        StatusCode::OK,
        "sign_in_sheet.html",
        context! {
            signed_in => true,
            course_title => s.course_title,
            session => context! {
                id => s.id,
                display => s.display,
                venue => s.venue_name,
                online_url => s.online_url,
                position => s.position,
                count => s.sessions_count,
            },
            check_in_code => s.check_in_code,
            rows,
            printed => london_start_display(time::now()),
            register_url => register_path(&s.id),
        },
    )
}

/// The courses the caller leads: today's sessions first, then the courses to come by their
/// next session, the courses held folded away; each session with its register, how many are
/// booked and whether the register has been taken.
#[utoipa::path(tag = "web", responses(
    (status = 200, description = "The caller's courses", content_type = "text/html", body = String),
    (status = 303, description = "Not signed in: to the sign-in page"),
))]
#[get("/my/courses")]
pub async fn my_courses(
    state: web::Data<AppState>,
    caller: MaybeCaller,
) -> AppResult<HttpResponse> {
    let Some(caller) = caller.0 else {
        return Ok(sign_in_first());
    };
    let led = crate::app::leading::courses_led(&state, &caller, time::now()).await?;
    let session = |s: &crate::app::leading::LedSession| {
        context! {
            course_title => s.course_title,
            display => s.session.display,
            position => s.session.position,
            register_url => register_path(&s.session.id),
            sheet_url => format!("/sessions/{}/sign-in-sheet", s.session.id),
            held => s.held,
            today => s.today,
            marked => s.marked,
            booked => s.booked,
        }
    };
    let course = |c: &crate::app::leading::LedCourse| {
        context! {
            title => c.title,
            url => format!("/courses/{}", c.id),
            status => c.status,
            booked => c.booked,
            sessions => c.sessions.iter().map(session).collect::<Vec<_>>(),
        }
    };
    page(
        StatusCode::OK,
        "my_courses.html",
        context! {
            signed_in => true,
            today => led.today.iter().map(session).collect::<Vec<_>>(),
            coming => led.coming.iter().map(course).collect::<Vec<_>>(),
            held => led.held.iter().map(course).collect::<Vec<_>>(),
        },
    )
}

/// Registers the register pages.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(register_page)
        .service(mark)
        .service(everyone_present)
        .service(walk_in)
        .service(sign_in_sheet)
        .service(my_courses);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_qr_code_is_an_inline_svg_with_a_text_alternative() {
        let svg = check_in_qr_svg("https://cpd.example.org/check-in?code=ABC234").unwrap();
        assert!(svg.starts_with("<svg role=\"img\" aria-label="), "{svg}");
        assert!(svg.contains("<path fill=\"#000\" d=\"M"));
        assert!(!svg.contains("<?xml"));
        assert_eq!(
            check_in_url("https://cpd.example.org/", "ABC234"),
            "https://cpd.example.org/check-in?code=ABC234"
        );
    }

    #[test]
    fn the_walk_in_form_names_each_mistake() {
        let errors = read_walk_in(&WalkInForm {
            email: "not-an-address".into(),
            ..WalkInForm::default()
        })
        .unwrap_err();
        assert_eq!(
            errors.keys().collect::<Vec<_>>(),
            ["email", "name"],
            "{errors:?}"
        );
        let who = read_walk_in(&WalkInForm {
            name: " Sam Walker ".into(),
            email: "sam@school.test".into(),
            school_id: String::new(),
            staff_group_id: "g1".into(),
        })
        .unwrap();
        match who {
            WalkInPerson::New {
                name,
                email,
                school_id,
                staff_group_id,
            } => {
                assert_eq!(name, "Sam Walker");
                assert_eq!(email, "sam@school.test");
                assert_eq!(school_id, None);
                assert_eq!(staff_group_id.as_deref(), Some("g1"));
            }
            other => panic!("{other:?}"),
        }
    }
}
