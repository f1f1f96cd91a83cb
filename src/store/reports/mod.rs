//! The engagement and impact reports.
//!
//! The sums come from the report cells (`store::report_cells`), or straight from the bookings
//! for a school's own view: either way through the same per-booking sums
//! (`report_cells::facts_sql`), grouped in SQL by the grouping's keys. Groupings that belong to
//! the course (course, term, priority) are summed per course (or month) in SQL and rolled up
//! here, so a course under two priorities is added to both without counting a booking twice
//! in the totals. No booking is ever loaded one by one. The sums are additive
//! ([`EngagementCounts`], [`ImpactCounts`]); `reports::metrics` turns them into the contract's
//! rates.
//!
//! The sums evaluation figures are made of are the exception: each group's come from its
//! earliest responses in whole steps of the threshold, so that no figure moves by a single
//! response: the kept sums less each group's latest few responses (`tails`), or, where a
//! grouping has no tails to read and for a school's own view, a window query per group
//! (`released`).

mod cells;
mod engagement;
mod impact;
mod read;
mod reference;
mod released;
mod rollup;
mod tails;
mod window;

pub use cells::Method;
pub use engagement::{engagement, engagement_by, engagement_with_helper};
pub use impact::{impact, impact_by};
