//! Scenarios: named lists of rules that force the outcomes a client must handle. A rule says
//! *when* (operation, and optional conditions on path params, body fields, user fields, the
//! amount, the n-th call) and *then* (commit status, an HTTP error, latency, an extra required
//! attribute, a balance or a rate).
//!
//! Files (`scenarios/NAME.json`, one scenario each, named by the file) are embedded; more come
//! from `--scenarios DIR`. Everything is validated at load, against the catalog too, so a bad
//! file stops start-up naming file, rule and reason.

pub mod matching;

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use regex::Regex;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::Value;

use crate::domain::catalog::Catalog;
use crate::domain::money::{deserialize_fixture_decimal_opt, fits_precision};
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

// ----- the file format ------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    #[serde(default)]
    description: String,
    rules: Vec<RuleFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    when: WhenFile,
    then: ThenFile,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WhenFile {
    /// One operation id, a list of them, or `*`.
    operation: OneOrMany,
    #[serde(default)]
    path: HashMap<String, ValueMatchFile>,
    #[serde(default)]
    body: HashMap<String, ValueMatchFile>,
    #[serde(default)]
    user: HashMap<String, ValueMatchFile>,
    #[serde(default)]
    amount: Option<AmountRangeFile>,
    #[serde(default)]
    call: Option<CallFile>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// A condition on a value: equal to a JSON value, or `{"matches": "regex"}` (whole string).
#[derive(Deserialize)]
#[serde(untagged)]
enum ValueMatchFile {
    Matches { matches: String },
    Equals(Value),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AmountRangeFile {
    #[serde(default, deserialize_with = "deserialize_fixture_decimal_opt")]
    min: Option<Decimal>,
    #[serde(default, deserialize_with = "deserialize_fixture_decimal_opt")]
    max: Option<Decimal>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CallFile {
    /// Only the n-th matching call (1-based).
    nth: Option<u64>,
    /// Only the first n matching calls.
    first: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThenFile {
    commit_status: Option<String>,
    status_reason: Option<String>,
    http_status: Option<u16>,
    message: Option<String>,
    retry_after: Option<u32>,
    latency_ms: Option<u64>,
    require_attribute: Option<String>,
    balance: Option<BalanceFile>,
    #[serde(default, deserialize_with = "deserialize_fixture_decimal_opt")]
    exchange_rate: Option<Decimal>,
    webhook: Option<WebhookFile>,
}

/// How the webhooks caused by a matching request are delivered.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookFile {
    #[serde(default)]
    drop: bool,
    #[serde(default)]
    delay_ms: u64,
    #[serde(default)]
    duplicate: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BalanceFile {
    currency_code: String,
    #[serde(deserialize_with = "crate::domain::money::deserialize_fixture_decimal")]
    balance: Decimal,
}

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
                (Value::Number(a), Value::Number(b)) => {
                    a.to_string().parse::<Decimal>().ok() == b.to_string().parse::<Decimal>().ok()
                }
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
    pub webhook: Option<crate::webhook::Directives>,
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
        let s = parse(
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
            let s = parse(&name, &label, &text, catalog)?;
            registry.by_name.insert(s.name.clone(), Arc::new(s));
        }
    }
    Ok(registry)
}

fn parse(
    name: &str,
    label: &str,
    text: &str,
    catalog: &Catalog,
) -> Result<Scenario, ScenarioError> {
    let fail = |rule: String, reason: String| ScenarioError {
        file: label.to_string(),
        rule,
        reason,
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let file: ScenarioFile = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        fail(
            if path == "." { String::new() } else { path },
            e.into_inner().to_string(),
        )
    })?;
    if file.rules.is_empty() {
        return Err(fail(
            String::new(),
            "a scenario needs at least one rule".into(),
        ));
    }
    let mut rules = Vec::new();
    for (i, r) in file.rules.into_iter().enumerate() {
        let rule = format!("rules[{i}]");
        let operations = match r.when.operation {
            OneOrMany::One(o) => vec![o],
            OneOrMany::Many(v) => v,
        };
        // Names resolve to the registry's operation ids here, once: `*`, an id, an alias
        // (the 1.0.0 SDKs' renames) or `/openapi.json`'s `…V1` id.
        let mut ids: Vec<String> = Vec::new();
        for o in &operations {
            if o == "*" {
                continue;
            }
            let resolved = crate::api::registry::resolve_name(o);
            if resolved.is_empty() {
                return Err(fail(format!("{rule}.when.operation"), format!("unknown operation {o:?} (use a MassPay SDK operation id such as commitPayoutTxn, as /openapi.json lists them, or *)")));
            }
            ids.extend(resolved.into_iter().map(String::from));
        }
        let operations: Vec<String> = if operations.iter().any(|o| o == "*") {
            Vec::new()
        } else {
            ids
        };
        let conditions = |what: &str,
                          map: HashMap<String, ValueMatchFile>|
         -> Result<Vec<(String, ValueMatch)>, ScenarioError> {
            let mut out = Vec::new();
            let mut keys: Vec<_> = map.into_iter().collect();
            keys.sort_by(|a, b| a.0.cmp(&b.0));
            for (k, v) in keys {
                if what == "user" && !USER_FIELDS.contains(&k.as_str()) {
                    return Err(fail(
                        format!("{rule}.when.user.{k}"),
                        format!("unknown user field (one of {})", USER_FIELDS.join(", ")),
                    ));
                }
                let m = match v {
                    ValueMatchFile::Matches { matches } => ValueMatch::Matches(
                        Regex::new(&format!("^(?:{matches})$")).map_err(|e| {
                            fail(
                                format!("{rule}.when.{what}.{k}"),
                                format!("not a valid regex: {e}"),
                            )
                        })?,
                    ),
                    ValueMatchFile::Equals(v) => ValueMatch::Equals(v),
                };
                out.push((k, m));
            }
            Ok(out)
        };
        let path = conditions("path", r.when.path)?;
        let body = conditions("body", r.when.body)?;
        let user = conditions("user", r.when.user)?;
        let (amount_min, amount_max) = match r.when.amount {
            None => (None, None),
            Some(a) => {
                if let (Some(lo), Some(hi)) = (a.min, a.max) {
                    if lo > hi {
                        return Err(fail(
                            format!("{rule}.when.amount"),
                            "min is above max".into(),
                        ));
                    }
                }
                (a.min, a.max)
            }
        };
        let (nth, first) = match r.when.call {
            None => (None, None),
            Some(c) => {
                if c.nth == Some(0) || c.first == Some(0) {
                    return Err(fail(
                        format!("{rule}.when.call"),
                        "nth and first count from 1".into(),
                    ));
                }
                if c.nth.is_none() && c.first.is_none() {
                    return Err(fail(
                        format!("{rule}.when.call"),
                        "give nth or first".into(),
                    ));
                }
                (c.nth, c.first)
            }
        };
        let t = r.then;
        let commit_status = match t.commit_status.as_deref() {
            None => None,
            Some(s) => match CommitStatus::parse(s) {
                Some(CommitStatus::Success) | None => {
                    return Err(fail(
                        format!("{rule}.then.commit_status"),
                        format!(
                            "{s:?} is not one of nsf, ex_rate_expired, addtl_attr_req, failure"
                        ),
                    ))
                }
                Some(c) => Some(c),
            },
        };
        if let Some(code) = t.http_status {
            if !(400..=599).contains(&code) {
                return Err(fail(
                    format!("{rule}.then.http_status"),
                    format!("{code} is not an error status (400–599)"),
                ));
            }
        }
        let require_attribute = match t.require_attribute.as_deref() {
            None => None,
            Some(id) => Some(
                catalog
                    .requirements
                    .iter()
                    .position(|r| r.id == id)
                    .ok_or_else(|| {
                        fail(
                            format!("{rule}.then.require_attribute"),
                            format!(
                                "{id:?} is not a requirement id in the fixtures' attributes.json"
                            ),
                        )
                    })?,
            ),
        };
        if commit_status == Some(CommitStatus::AddtlAttrReq) && require_attribute.is_none() {
            return Err(fail(
                format!("{rule}.then"),
                "commit_status addtl_attr_req needs require_attribute (the requirement to add)"
                    .into(),
            ));
        }
        let balance = match t.balance {
            None => None,
            Some(b) => {
                let account = catalog
                    .funding_accounts
                    .iter()
                    .position(|a| *a.currency == *b.currency_code)
                    .ok_or_else(|| {
                        fail(
                            format!("{rule}.then.balance.currency_code"),
                            format!("no funding account in {:?}", b.currency_code),
                        )
                    })?;
                let p = catalog.precision(&b.currency_code).unwrap_or(2);
                if b.balance.is_sign_negative() || !fits_precision(b.balance, p) {
                    return Err(fail(
                        format!("{rule}.then.balance.balance"),
                        format!("must be ≥ 0 with at most {p} decimals"),
                    ));
                }
                if b.balance > crate::limits::MAX_AMOUNT {
                    return Err(fail(
                        format!("{rule}.then.balance.balance"),
                        format!(
                            "must be at most {} (the largest amount the sandbox handles)",
                            crate::limits::MAX_AMOUNT
                        ),
                    ));
                }
                Some((account, b.balance))
            }
        };
        if t.exchange_rate.is_some_and(|r| r <= Decimal::ZERO) {
            return Err(fail(
                format!("{rule}.then.exchange_rate"),
                "must be positive".into(),
            ));
        }
        if t.webhook.as_ref().is_some_and(|w| w.delay_ms > 300_000) {
            return Err(fail(
                format!("{rule}.then.webhook.delay_ms"),
                "at most 300000".into(),
            ));
        }
        if t.latency_ms.is_some_and(|l| l > 30_000) {
            return Err(fail(
                format!("{rule}.then.latency_ms"),
                "at most 30000".into(),
            ));
        }
        let then = Then {
            commit_status,
            status_reason: t.status_reason,
            http_status: t.http_status,
            message: t.message,
            retry_after: t.retry_after,
            latency_ms: t.latency_ms.unwrap_or(0),
            require_attribute,
            balance,
            exchange_rate: t.exchange_rate,
            webhook: t.webhook.map(|w| crate::webhook::Directives {
                drop: w.drop,
                delay_ms: w.delay_ms,
                duplicate: w.duplicate,
            }),
        };
        let is_empty = then.commit_status.is_none()
            && then.http_status.is_none()
            && then.latency_ms == 0
            && then.require_attribute.is_none()
            && then.balance.is_none()
            && then.exchange_rate.is_none()
            && then.webhook.is_none();
        if is_empty {
            return Err(fail(
                format!("{rule}.then"),
                "the rule has no effect".into(),
            ));
        }
        rules.push(Rule {
            when: When {
                operations,
                path,
                body,
                user,
                amount_min,
                amount_max,
                nth,
                first,
            },
            then,
        });
    }
    Ok(Scenario {
        name: name.to_string(),
        description: file.description,
        rules,
    })
}

#[cfg(test)]
mod tests {
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
        let e = parse(
            "x",
            "x.json",
            r#"{"rules":[{"when":{"operation":"nope"},"then":{"latency_ms":1}}]}"#,
            &catalog,
        )
        .unwrap_err();
        assert_eq!(e.rule, "rules[0].when.operation");
        let e = parse("x", "x.json", r#"{"rules":[{"when":{"operation":"*","body":{"a":{"matches":"("}}},"then":{"latency_ms":1}}]}"#, &catalog).unwrap_err();
        assert!(e.reason.contains("regex"), "{e}");
    }
}
