//! Attendance: session registers, their history, walk-ins, self check-in, and each person's
//! CPD record (courses, sessions attended, hours, completion).
//!
//! Every write is ONE write transaction whose first statements find the session and take its
//! course row's lock (`store::bookings::lock_course`), the lock the bookings code takes too.
//! So two course leads saving the same register at once are served one after the other, and
//! each sees the other's marks before deciding what changed: one history row per real change,
//! whatever the concurrency, on both backends. A booking cannot be cancelled half-way through
//! a register either.
//!
//! The functions here are what the JSON API (`api::attendance`) and the register pages
//! (`web`) both call; the permission checks stay with the callers ([`session_access`] gives
//! them what `auth::policy` needs).
//!
//! When the register of a course's LAST session is first recorded, the moment is kept in
//! `courses.last_register_recorded_at` (see [`record`]): evaluation invitations go from it.

mod check_in;
mod cpd_record;
mod register;
mod types;
mod walk_ins;

pub use check_in::check_in;
pub use cpd_record::{cpd_record, person_marks};
pub use register::{
    ensure_check_in_code, history, record, record_everyone_present, register, seed_register,
    session_access, session_has_attendance,
};
pub use types::{
    Actor, AttendanceExport, CheckedIn, CourseRecord, CpdRecord, HistoryItem, Mark, Period,
    PeriodTotals, RecordTotals, Register, RegisterCounts, RegisterItem, RegisterSession,
    SessionAccess, SessionRecord, WalkIn, WalkInPerson, MARKS_MAX, NOTE_MAX,
};
pub use walk_ins::add_walk_in;
