//! The reports as pages: the dashboard for the CPD Working Group, the Networking Group and
//! admins (`GET /reports`), and a school's own view next to the alliance average
//! (`GET /reports/school`) for its school lead.
//!
//! Every figure comes from `store::reports` (the same functions as the JSON API) and is
//! written by `reports::summary`, so the page, the CSV and the digest agree. Charts are
//! SVG drawn here on the server ([`super::charts`]); each has a table of the same figures next
//! to it. The pages print on A4 for a meeting (the print styles in `app.css` drop the header,
//! the filters and the links).

mod graphs;
mod handlers;
mod school;
mod tables;
mod view;

pub use handlers::{configure, dashboard};
pub use school::school_view;
pub use view::DashboardParams;
