//! Black-box tests: a real sandbox on a free port, spoken to over HTTP.

mod helpers;

mod account;
mod admin;
mod attributes;
mod auth;
mod catalog;
mod errors;
mod payouts;
mod seed_flow;
mod users;
