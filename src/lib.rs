//! cpd-hub: continuing professional development for a schools' alliance.
//!
//! A request flows one way: [`api`] (parse, validate, authorise) -> [`store`] (one
//! transaction) -> [`domain`] (decide) -> back to [`api`] (shape the response).
//! [`startup::Application`] builds the whole service from [`config::Settings`].

// Large OpenAPI examples (`json!` inside utoipa derives) need deeper macro recursion.
#![recursion_limit = "256"]

pub mod api;
pub mod auth;
pub mod booking_queue;
pub mod commands;
pub mod config;
pub mod db;
pub mod domain;
pub mod email;
pub mod error;
pub mod jobs;
pub mod metrics;
pub mod reports;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod web;
