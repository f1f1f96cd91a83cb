//! Bookings: booking, cancelling, approving, declining and promoting from the waiting list.
//!
//! Every operation is ONE write transaction whose first statement takes the course row's write
//! lock (`UPDATE courses SET version = version + 1 WHERE id = ?`). With `BEGIN IMMEDIATE` on
//! SQLite and the row lock on PostgreSQL this serialises all booking decisions for a course on
//! both backends, so the facts read next (places left, the school's confirmed places, the
//! queue) cannot change before the decision is written: confirmed bookings never exceed the
//! capacity, however many requests arrive at once (invariant 1). A plain transaction
//! overbooks on PostgreSQL (two readers see the same free place) and fails with "database is
//! locked" on SQLite (a reader that later writes loses the lock race).
//!
//! Inside the lock the store reads the facts, lets `domain::booking` decide, writes the
//! booking, keeps the course's `confirmed_count` and `waitlist_count` exact, appends to the
//! booking history (invariant 9), and queues the notifications in the outbox, all in the same
//! transaction. A freed place is given to the first eligible waiting booking before the
//! transaction commits (invariant 3).

mod book;
mod course_list;
mod hooks;
mod lifecycle;
mod locking;
mod notify;
mod promote;
mod read;
mod rows;
mod types;

pub use book::{book, book_batch, book_courses, book_in_tx, target, Request, Target};
pub use course_list::{course_bookings, course_status_counts, CourseBooking};
pub use hooks::{
    cancel_all_on_course, confirmed_course_ids, course_cancelled_for, due_reminders, holders,
    notify_course_cancelled, notify_course_changed, queued_reminders, status_of, statuses_of,
};
pub use lifecycle::{approve, cancel, decline};
pub use locking::{lock_course, max_school_confirmed};
pub use notify::{session_lines, SessionsCache};
pub use promote::{promote, promote_where_caps_lifted};
pub use read::{
    access, access_many, count_by_course, get, history, list, pending, upcoming_for_school,
};
pub use types::{Access, Booking, Ctx, Filter, HistoryEntry, Holder, NewBooking};
