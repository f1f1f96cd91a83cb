//! Integration tests: the real service, a real database per test, real HTTP.

mod helpers;

mod email;
mod ops;
mod reference;
mod smtp_sink;
