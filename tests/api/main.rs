//! Integration tests: the real service, a real database per test, real HTTP.

mod helpers;

mod booking_load;
mod booking_support;
mod bookings;
mod calendar_ics;
mod calendar_support;
mod courses;
mod ops;
mod reference;
