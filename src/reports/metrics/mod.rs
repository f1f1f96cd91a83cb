//! The engagement and impact reports: what is asked (window, grouping, scope), the additive
//! counts the database returns, and the metrics computed from them exactly as the contract in
//! `DESIGN.md` ("Metrics") defines them.
//!
//! The store aggregates in SQL into [`EngagementCounts`] / [`ImpactCounts`] (plain sums, so
//! groups roll up by addition and totals never count a booking twice); everything here turns
//! those sums into rates and means, with no I/O.

mod csv;
mod engagement;
mod impact;
mod query;

pub use csv::{
    engagement_csv_header, impact_csv_header, CsvCursor, ENGAGEMENT_CSV_COLUMNS, IMPACT_CSV_COLUMNS,
};
pub use engagement::{
    figure, format_pence, ratio, visibility, visibility_alone, AllianceAverage, ColdSpot, Costs,
    EngagementCounts, EngagementGroup, EngagementMetrics, EngagementReport, EngagementShown,
    EngagementTrend, Money, NamedRef, Shown,
};
pub use impact::{
    GroupId, GroupPath, GuskeyCount, ImpactCounts, ImpactGroup, ImpactMetrics, ImpactReport,
    ImpactShown, ResponseCounts, Tally,
};
pub use query::{
    london_date, london_midnight_utc, year_before, GroupBy, ReportQuery, ReportScope,
    MAX_WINDOW_DAYS, NONE_KEY,
};
