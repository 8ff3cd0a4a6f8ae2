//! Black-box tests: a real sandbox on a free port, spoken to over HTTP.

mod helpers;

mod seed_flow;
