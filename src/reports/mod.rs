//! The engagement and impact reports, apart from the SQL (in `store::reports`) and the pages
//! (in `web::reports`): what a report asks and the metrics computed from the database's sums
//! exactly as `DESIGN.md` ("Metrics") defines them, the headline summary shared by the
//! dashboard, the CSV and the termly digest, and the digest's content. No I/O.

pub mod digest;
pub mod metrics;
pub mod summary;
