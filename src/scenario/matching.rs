//! Which rules of the active scenarios match a request, and the effects they add up to.

use std::sync::Arc;

use rust_decimal::Decimal;
use serde_json::Value;

use super::{Rule, Scenario};
use crate::domain::payout::{CommitStatus, ForcedOutcome, REASON_FAILURE};
use crate::domain::user::User;

/// What is known about a request when the scenarios are consulted.
pub struct RequestFacts<'a> {
    pub operation: &'a str,
    pub path: &'a [(String, String)],
    pub body: Option<&'a Value>,
    pub user: Option<&'a User>,
    /// The request's amount (`source_amount`, else `destination_amount`), or the amount of the
    /// payout the request is about.
    pub amount: Option<Decimal>,
}

/// An HTTP error a rule injects instead of running the operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    pub status: u16,
    pub message: Option<String>,
    pub retry_after: Option<u32>,
}

/// The sum of the matching rules' effects.
#[derive(Clone, Debug, Default)]
pub struct Effects {
    /// The first matching fault wins.
    pub fault: Option<Fault>,
    /// Latencies add up.
    pub latency_ms: u64,
    /// The first matching commit override wins.
    pub commit: Option<ForcedOutcome>,
    /// Requirements to add (on commit) to the payout's user, destination and currency.
    pub require_attributes: Vec<usize>,
    /// Balances to set before the operation runs.
    pub balances: Vec<(usize, Decimal)>,
    /// A rate to quote with instead of the catalog's.
    pub exchange_rate: Option<Decimal>,
    /// How the webhooks this request causes are delivered.
    pub webhook: crate::domain::event::Directives,
}

impl Effects {
    pub fn is_empty(&self) -> bool {
        self.fault.is_none()
            && self.latency_ms == 0
            && self.commit.is_none()
            && self.require_attributes.is_empty()
            && self.balances.is_empty()
            && self.exchange_rate.is_none()
            && self.webhook == crate::domain::event::Directives::default()
    }
}

/// Evaluates the active scenarios against a request. `count(scenario, rule)` counts a call that
/// matched every other condition of that rule and returns its 1-based number.
pub fn evaluate(
    active: &[Arc<Scenario>],
    facts: &RequestFacts<'_>,
    count: impl Fn(&str, usize) -> u64,
) -> Effects {
    let mut effects = Effects::default();
    for scenario in active {
        for (i, rule) in scenario.rules.iter().enumerate() {
            if !matches(rule, facts) {
                continue;
            }
            if rule.when.nth.is_some() || rule.when.first.is_some() {
                let n = count(&scenario.name, i);
                if rule.when.nth.is_some_and(|nth| n != nth)
                    || rule.when.first.is_some_and(|f| n > f)
                {
                    continue;
                }
            }
            apply(rule, &mut effects);
        }
    }
    effects
}

fn matches(rule: &Rule, facts: &RequestFacts<'_>) -> bool {
    let w = &rule.when;
    if !w.applies_to(facts.operation) {
        return false;
    }
    for (name, m) in &w.path {
        let Some((_, v)) = facts.path.iter().find(|(k, _)| k == name) else {
            return false;
        };
        if !m.test(&Value::String(v.clone())) {
            return false;
        }
    }
    for (name, m) in &w.body {
        match facts.body.and_then(|b| b.get(name)) {
            Some(v) if m.test(v) => {}
            _ => return false,
        }
    }
    for (name, m) in &w.user {
        match facts.user.and_then(|u| user_value(u, name)) {
            Some(v) if m.test(&v) => {}
            _ => return false,
        }
    }
    if w.amount_min.is_some() || w.amount_max.is_some() {
        let Some(a) = facts.amount else {
            return false;
        };
        if w.amount_min.is_some_and(|lo| a < lo) || w.amount_max.is_some_and(|hi| a > hi) {
            return false;
        }
    }
    true
}

fn apply(rule: &Rule, e: &mut Effects) {
    let t = &rule.then;
    if e.fault.is_none() {
        if let Some(status) = t.http_status {
            e.fault = Some(Fault {
                status,
                message: t.message.clone(),
                retry_after: t.retry_after,
            });
        }
    }
    e.latency_ms = e.latency_ms.saturating_add(t.latency_ms);
    if e.commit.is_none() {
        e.commit = match t.commit_status {
            Some(CommitStatus::Nsf) => Some(ForcedOutcome::Nsf),
            Some(CommitStatus::ExRateExpired) => Some(ForcedOutcome::ExRateExpired),
            Some(CommitStatus::Failure) => Some(ForcedOutcome::Failure(
                t.status_reason
                    .clone()
                    .unwrap_or_else(|| REASON_FAILURE.to_string()),
            )),
            Some(CommitStatus::AddtlAttrReq) | Some(CommitStatus::Success) | None => None,
        };
    }
    if let Some(r) = t.require_attribute {
        if !e.require_attributes.contains(&r) {
            e.require_attributes.push(r);
        }
    }
    if let Some(b) = t.balance {
        e.balances.push(b);
    }
    if e.exchange_rate.is_none() {
        e.exchange_rate = t.exchange_rate;
    }
    if let Some(w) = t.webhook {
        e.webhook.drop |= w.drop;
        e.webhook.duplicate |= w.duplicate;
        e.webhook.delay_ms = e.webhook.delay_ms.saturating_add(w.delay_ms);
    }
}

fn user_value(u: &User, field: &str) -> Option<Value> {
    let p = u.profile.text();
    let s = |v: Option<&str>| v.map(|v| Value::String(v.to_string()));
    let text = |v: &str| Some(Value::String(v.to_string()));
    match field {
        "user_token" => Some(Value::String(u.id.token())),
        "internal_user_id" => text(p.internal_user_id),
        "first_name" => text(p.first_name),
        "middle_name" => s(p.middle_name),
        "last_name" => text(p.last_name),
        "email" => text(p.email),
        "country" => text(p.country),
        "state_province" => s(p.state_province),
        "city" => s(p.city),
        "postal_code" => s(p.postal_code),
        "address1" => s(p.address1),
        "address2" => s(p.address2),
        "language" => text(p.language),
        "mobile_number" => s(p.mobile_number),
        "business_name" => s(p.business_name),
        "date_of_birth" => s(p.date_of_birth),
        "status" => Some(Value::String(u.status.as_str().to_string())),
        _ => None,
    }
}

#[cfg(test)]
mod matching_tests;
