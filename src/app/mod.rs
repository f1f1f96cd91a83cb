//! Use cases: one function per thing a person does (book, cancel, approve, decline...),
//! taking the caller and validated input. Each checks the permission, runs the transaction
//! through `store`, and sets off the side effects (the per-course booking queue, the email
//! worker). The JSON handlers in `api` and the pages in `web` both call these, so a booking
//! made on a page and one made through the API take exactly the same path.

pub mod audit;
pub mod bookings;
pub mod cache;
pub mod courses;
pub mod evaluation;
pub mod leading;
pub mod outbox;
pub mod people;
pub mod policy;
pub mod record;
pub mod reference;
pub mod school;
pub mod schools;
pub mod state;

pub use state::AppState;
