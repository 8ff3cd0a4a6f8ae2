//! Black-box tests: a real sandbox on a free port, spoken to over HTTP.

mod helpers;

mod account;
mod admin;
mod attributes;
mod auth;
mod catalog;
mod clock;
mod dashboard;
mod errors;
mod magic;
mod payouts;
mod registry;
mod scenario_list;
mod scenarios;
mod seed_flow;
mod seed_state;
mod snapshots;
mod surface;
mod testkit;
mod users;
mod webhooks;
