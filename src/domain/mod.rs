//! Pure rules and value types: no I/O, no database, no HTTP. Everything here can be unit-tested
//! on its own, and `store/` and `api/` build on it.

pub mod attendance;
pub mod booking;
pub mod caller;
pub mod course;
pub mod evaluation;
pub mod gias;
pub mod ics;
pub mod markdown;
pub mod notification;
pub mod paging;
pub mod provider;
pub mod roles;
pub mod school;
pub mod signin;
pub mod suppression;
pub mod term;
pub mod text;
pub mod time;
pub mod tokens;
