//! cpd-hub: continuing professional development for a schools' alliance.
//!
//! A request flows one way: [`api`] or [`web`] (parse, validate) -> [`app`] (authorise,
//! orchestrate) -> [`store`] (one transaction) -> [`domain`] (decide) -> back up to
//! [`api`]/[`web`] (JSON or HTML).
//! [`startup::Application`] builds the whole service from [`config::Settings`].

// Large OpenAPI examples (`json!` inside utoipa derives) need deeper macro recursion.
#![recursion_limit = "256"]

pub mod api;
pub mod app;
pub mod auth;
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
pub mod store;
pub mod telemetry;
pub mod web;
