//! Integration tests: the real service, a real database per test, real HTTP.

mod helpers;

mod ops;
mod reference;
mod signin;
mod permissions;
