//! Integration tests: the real service, a real database per test, real HTTP.

mod helpers;

mod ops;
mod permissions;
mod reference;
mod signin;

mod cli;
mod people;
