//! Scenarios: named lists of rules that force the outcomes a client must handle. A rule says
//! *when* (operation, and optional conditions on path params, body fields, user fields, the
//! amount, the n-th call) and *then* (commit status, an HTTP error, latency, an extra required
//! attribute, a balance or a rate).
//!
//! Files (`scenarios/NAME.json`, one scenario each, named by the file) are embedded; more come
//! from `--scenarios DIR`. Everything is validated at load, against the catalog too, so a bad
//! file stops start-up naming file, rule and reason.

mod file;
pub mod matching;

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use regex_lite::Regex;
use rust_decimal::Decimal;
use serde_json::Value;

use crate::domain::catalog::Catalog;
use crate::domain::payout::CommitStatus;

pub use matching::{Effects, Fault, RequestFacts};

/// The shipped scenarios, embedded.
pub const EMBEDDED: &[(&str, &str)] = &[
    (
        "insufficient_funds",
        include_str!("../../scenarios/insufficient_funds.json"),
    ),
    (
        "expired_rate",
        include_str!("../../scenarios/expired_rate.json"),
    ),
    (
        "additional_attributes",
        include_str!("../../scenarios/additional_attributes.json"),
    ),
    (
        "payout_failure",
        include_str!("../../scenarios/payout_failure.json"),
    ),
    ("slow", include_str!("../../scenarios/slow.json")),
    (
        "server_error",
        include_str!("../../scenarios/server_error.json"),
    ),
    (
        "rate_limited",
        include_str!("../../scenarios/rate_limited.json"),
    ),
    (
        "webhook_dropped",
        include_str!("../../scenarios/webhook_dropped.json"),
    ),
    (
        "webhook_late",
        include_str!("../../scenarios/webhook_late.json"),
    ),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: String,
    pub rule: String,
    pub reason: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.rule.is_empty() {
            write!(f, "scenario file {}: {}", self.file, self.reason)
        } else {
            write!(
                f,
                "scenario file {}: {}: {}",
                self.file, self.rule, self.reason
            )
        }
    }
}

impl std::error::Error for ScenarioError {}

// ----- the model --------------------------------------------------------------------------------

#[derive(Debug)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub rules: Vec<Rule>,
}

#[derive(Debug)]
pub struct Rule {
    pub when: When,
    pub then: Then,
}

#[derive(Debug)]
pub struct When {
    /// Empty = every operation.
    pub operations: Vec<String>,
    pub path: Vec<(String, ValueMatch)>,
    pub body: Vec<(String, ValueMatch)>,
    pub user: Vec<(String, ValueMatch)>,
    pub amount_min: Option<Decimal>,
    pub amount_max: Option<Decimal>,
    pub nth: Option<u64>,
    pub first: Option<u64>,
}

impl When {
    /// Does this rule need the request body parsed?
    pub fn reads_body(&self) -> bool {
        !self.body.is_empty() || self.amount_min.is_some() || self.amount_max.is_some()
    }

    pub fn applies_to(&self, operation: &str) -> bool {
        self.operations.is_empty() || self.operations.iter().any(|o| o == operation)
    }
}

#[derive(Debug)]
pub enum ValueMatch {
    Equals(Value),
    Matches(Regex),
}

impl ValueMatch {
    pub fn test(&self, v: &Value) -> bool {
        match self {
            ValueMatch::Equals(expected) => match (expected, v) {
                (Value::String(a), Value::String(b)) => a == b,
                (Value::Number(a), Value::Number(b)) => numbers_equal(a, b),
                _ => expected == v,
            },
            ValueMatch::Matches(re) => match v {
                Value::String(s) => re.is_match(s),
                Value::Number(n) => re.is_match(&n.to_string()),
                Value::Bool(b) => re.is_match(if *b { "true" } else { "false" }),
                _ => false,
            },
        }
    }
}

/// Two JSON numbers are equal when they mean the same amount: read exactly from their text and
/// rounded to the 15 significant digits a client's double can mean (how request amounts are read
/// everywhere), so `100.5` equals `100.50`. Numbers no decimal can hold compare as doubles.
fn numbers_equal(a: &serde_json::Number, b: &serde_json::Number) -> bool {
    use crate::domain::money::{decimal_from_json_text, round_client_amount};
    let exact = |n: &serde_json::Number| {
        decimal_from_json_text(&n.to_string(), false)
            .ok()
            .map(round_client_amount)
    };
    match (exact(a), exact(b)) {
        (Some(x), Some(y)) => x == y,
        (None, None) => a.as_f64() == b.as_f64(),
        _ => false,
    }
}

#[derive(Debug, Default)]
pub struct Then {
    pub commit_status: Option<CommitStatus>,
    pub status_reason: Option<String>,
    pub http_status: Option<u16>,
    pub message: Option<String>,
    pub retry_after: Option<u32>,
    pub latency_ms: u64,
    /// Index into `Catalog::requirements`.
    pub require_attribute: Option<usize>,
    /// (funding account index, new balance)
    pub balance: Option<(usize, Decimal)>,
    pub exchange_rate: Option<Decimal>,
    pub webhook: Option<crate::domain::event::Directives>,
}

/// User fields a rule's `user` conditions may name.
pub const USER_FIELDS: &[&str] = &[
    "user_token",
    "internal_user_id",
    "first_name",
    "middle_name",
    "last_name",
    "email",
    "country",
    "state_province",
    "city",
    "postal_code",
    "address1",
    "address2",
    "language",
    "mobile_number",
    "business_name",
    "date_of_birth",
    "status",
];

/// Every scenario by name.
#[derive(Debug, Default)]
pub struct Registry {
    by_name: HashMap<String, Arc<Scenario>>,
}

impl Registry {
    pub fn get(&self, name: &str) -> Option<&Arc<Scenario>> {
        self.by_name.get(name)
    }

    pub fn names(&self) -> Vec<&str> {
        let mut n: Vec<&str> = self.by_name.keys().map(String::as_str).collect();
        n.sort_unstable();
        n
    }

    /// Resolves names to scenarios, or a 400-worthy message naming every unknown one.
    pub fn resolve<'a, I: IntoIterator<Item = &'a str>>(
        &self,
        names: I,
    ) -> Result<Vec<Arc<Scenario>>, Vec<String>> {
        let mut found = Vec::new();
        let mut unknown = Vec::new();
        for name in names {
            let name = name.trim();
            if name.is_empty() {
                continue;
            }
            match self.by_name.get(name) {
                Some(s) => {
                    if !found.iter().any(|x: &Arc<Scenario>| x.name == s.name) {
                        found.push(Arc::clone(s));
                    }
                }
                None => unknown.push(name.to_string()),
            }
        }
        if unknown.is_empty() {
            Ok(found)
        } else {
            Err(unknown)
        }
    }

    /// The message for unknown scenario names.
    pub fn unknown_message(&self, unknown: &[String]) -> String {
        format!(
            "unknown scenario {} (known: {})",
            unknown
                .iter()
                .map(|u| format!("{u:?}"))
                .collect::<Vec<_>>()
                .join(", "),
            self.names().join(", ")
        )
    }
}

/// Loads the embedded scenarios, then those of `dir` (a file with a shipped name replaces it).
pub fn load(dir: Option<&Path>, catalog: &Catalog) -> Result<Registry, ScenarioError> {
    let mut registry = Registry::default();
    for (name, text) in EMBEDDED {
        let s = file::parse(
            name,
            &format!("scenarios/{name}.json (embedded)"),
            text,
            catalog,
        )?;
        registry.by_name.insert(s.name.clone(), Arc::new(s));
    }
    if let Some(dir) = dir {
        let entries = std::fs::read_dir(dir).map_err(|e| ScenarioError {
            file: dir.display().to_string(),
            rule: String::new(),
            reason: format!("cannot read the directory: {e}"),
        })?;
        let mut paths: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        paths.sort();
        for path in paths {
            let label = path.display().to_string();
            let name = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_string();
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(ScenarioError { file: label, rule: String::new(), reason: "a scenario file's name (its scenario name) may contain only letters, digits, _ and -".into() });
            }
            let text = std::fs::read_to_string(&path).map_err(|e| ScenarioError {
                file: label.clone(),
                rule: String::new(),
                reason: format!("cannot read: {e}"),
            })?;
            let s = file::parse(&name, &label, &text, catalog)?;
            registry.by_name.insert(s.name.clone(), Arc::new(s));
        }
    }
    Ok(registry)
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbers_compare_as_exact_amounts() {
        let n = |t: &str| serde_json::from_str::<serde_json::Number>(t).unwrap();
        assert!(numbers_equal(&n("100.5"), &n("100.50")));
        assert!(!numbers_equal(&n("100.51"), &n("100.5")));
        // Too large for a decimal: compared as doubles, not all equal to each other.
        assert!(!numbers_equal(&n("1e30"), &n("5e40")));
        assert!(numbers_equal(&n("5e40"), &n("5e40")));
        assert!(!numbers_equal(&n("1e30"), &n("1")));
    }

    use super::*;

    #[test]
    fn shipped_scenarios_load() {
        let catalog = crate::fixtures::load(crate::fixtures::Source::Embedded).unwrap();
        let r = load(None, &catalog).unwrap();
        for n in [
            "insufficient_funds",
            "expired_rate",
            "additional_attributes",
            "payout_failure",
            "slow",
            "server_error",
            "rate_limited",
            "webhook_dropped",
            "webhook_late",
        ] {
            assert!(r.get(n).is_some(), "{n}");
        }
    }

    #[test]
    fn bad_rules_are_refused_naming_the_rule() {
        let catalog = crate::fixtures::load(crate::fixtures::Source::Embedded).unwrap();
        let e = file::parse(
            "x",
            "x.json",
            r#"{"rules":[{"when":{"operation":"nope"},"then":{"latency_ms":1}}]}"#,
            &catalog,
        )
        .unwrap_err();
        assert_eq!(e.rule, "rules[0].when.operation");
        let e = file::parse("x", "x.json", r#"{"rules":[{"when":{"operation":"*","body":{"a":{"matches":"("}}},"then":{"latency_ms":1}}]}"#, &catalog).unwrap_err();
        assert!(e.reason.contains("regex"), "{e}");
    }
}
