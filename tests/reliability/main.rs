//! Reliability suite (`cargo test --test reliability`): money invariants under concurrency,
//! idempotency, property tests against models, hostile input, clean shutdown, and webhooks to
//! receivers that never answer.
//!
//! Every test prints what it did (requests sent, cases generated, violations found); see them
//! with `cargo test --test reliability -- --nocapture`.

mod helpers;

mod concurrency;
mod hostile;
mod idempotency;
mod limits;
mod overflow;
mod properties;
mod shutdown;
mod webhooks;
