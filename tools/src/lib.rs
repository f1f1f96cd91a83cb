//! cpd-hub-tools: benchmark data and load generators for cpd-hub, kept apart from the service.
//!
//! Nothing here is on the service's request path or in its binary. The `cpd-hub-bench`
//! binary seeds databases for the scripts in `bench/` ([`bulk_courses`] for the calendar,
//! [`national`] for the reports) and prints API tokens for them ([`token`]); the load
//! generators are this package's examples (`tools/examples/`) and the email delivery
//! benchmark its bench (`tools/benches/`). They use the `cpd-hub` library like any client,
//! through its public modules.
//!
//! The service's integration tests run the national seed at a tiny scale (`tests/api`, which
//! compiles [`national`] and [`bulk_courses`] from their source here), so the benchmark data
//! is checked against the reports on every test run.

pub mod bulk_courses;
pub mod national;
pub mod token;
