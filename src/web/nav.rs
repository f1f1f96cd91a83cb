//! The layout's menu: the links a reader has by role, on every page, and the admin's pages
//! grouped apart ([`admin_menu`]).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use serde::Serialize;

use crate::domain::caller::Caller;
use crate::domain::roles::Role;

/// One link of the menu.
#[derive(Serialize)]
pub struct Link {
    /// Where it goes.
    pub href: &'static str,
    /// Its words.
    pub label: &'static str,
}

/// The menu for `caller`: what everyone signed in has, then what their roles add (the admin's
/// own pages are [`admin_menu`]).
pub fn menu(caller: &Caller) -> Vec<Link> {
    let admin = caller.is_admin();
    let mut links = vec![
        Link {
            href: "/courses",
            label: "Courses",
        },
        Link {
            href: "/my/bookings",
            label: "Your bookings",
        },
        Link {
            href: "/my/record",
            label: "Your CPD record",
        },
    ];
    if admin || caller.has(Role::SchoolLead) {
        links.push(Link {
            href: "/school",
            label: "Your school",
        });
    }
    if admin || caller.has(Role::CourseLead) {
        links.push(Link {
            href: "/my/courses",
            label: "Courses you lead",
        });
    }
    if admin || caller.has(Role::CpdGroup) || caller.has(Role::SchoolLead) {
        links.push(Link {
            href: "/reports",
            label: "Reports",
        });
    }
    links
}

/// The admin's pages, for admins only (empty for everyone else). The layout groups them under
/// one "Admin" menu so the header stays one row of links at desktop width however many admin
/// pages there are: add a new admin page here.
pub fn admin_menu(caller: &Caller) -> Vec<Link> {
    if !caller.is_admin() {
        return Vec::new();
    }
    vec![
        Link {
            href: "/admin/courses",
            label: "Manage courses",
        },
        Link {
            href: "/admin/emails",
            label: "Emails",
        },
        Link {
            href: "/admin/audit",
            label: "Audit log",
        },
        Link {
            href: "/admin/people",
            label: "People",
        },
        Link {
            href: "/admin/schools",
            label: "Schools",
        },
    ]
}

/// Middleware: lets the page layout know the request's caller once an extractor has
/// identified them (see `auth::remembering_caller`).
pub async fn remember_caller(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    crate::auth::remembering_caller(next.call(req)).await
}
