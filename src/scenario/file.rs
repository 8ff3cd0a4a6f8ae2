//! The scenario file format and its parsing into [`Scenario`]s: every rule checked at load
//! (operation ids against the registry, regexes compiled, requirement ids and balances against
//! the fixtures), each refusal naming file, rule and reason.

use std::collections::HashMap;

use regex_lite::Regex;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::Value;

use super::*;
use crate::domain::catalog::Catalog;
use crate::domain::money::{deserialize_fixture_decimal_opt, fits_precision};
use crate::domain::payout::CommitStatus;

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

pub(super) fn parse(
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
    let file: ScenarioFile = crate::json_path::from_slice(text.as_bytes())
        .map_err(|e| fail(e.entry_text(), e.inner.to_string()))?;
    if file.rules.is_empty() {
        return Err(fail(
            String::new(),
            "a scenario needs at least one rule".into(),
        ));
    }
    let mut rules = Vec::new();
    for (i, r) in file.rules.into_iter().enumerate() {
        let rule = format!("rules[{i}]");
        let when = parse_when(r.when, &rule, &fail)?;
        let then = parse_then(r.then, &rule, catalog, &fail)?;
        rules.push(Rule { when, then });
    }
    Ok(Scenario {
        name: name.to_string(),
        description: file.description,
        rules,
    })
}

/// Makes a refusal naming the rule's part and the reason.
type Fail<'a> = dyn Fn(String, String) -> ScenarioError + 'a;

/// A rule's conditions: operation names resolved to registry ids, value conditions compiled.
fn parse_when(w: WhenFile, rule: &str, fail: &Fail<'_>) -> Result<When, ScenarioError> {
    let operations = match w.operation {
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
                ValueMatchFile::Matches { matches } => {
                    ValueMatch::Matches(Regex::new(&format!("^(?:{matches})$")).map_err(|e| {
                        fail(
                            format!("{rule}.when.{what}.{k}"),
                            format!("not a valid regex: {e}"),
                        )
                    })?)
                }
                ValueMatchFile::Equals(v) => ValueMatch::Equals(v),
            };
            out.push((k, m));
        }
        Ok(out)
    };
    let path = conditions("path", w.path)?;
    let body = conditions("body", w.body)?;
    let user = conditions("user", w.user)?;
    let (amount_min, amount_max) = match w.amount {
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
    let (nth, first) = match w.call {
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
    Ok(When {
        operations,
        path,
        body,
        user,
        amount_min,
        amount_max,
        nth,
        first,
    })
}

/// A rule's effects, checked against the fixtures; a rule without any is refused.
fn parse_then(
    t: ThenFile,
    rule: &str,
    catalog: &Catalog,
    fail: &Fail<'_>,
) -> Result<Then, ScenarioError> {
    let commit_status = match t.commit_status.as_deref() {
        None => None,
        Some(s) => match CommitStatus::parse(s) {
            Some(CommitStatus::Success) | None => {
                return Err(fail(
                    format!("{rule}.then.commit_status"),
                    format!("{s:?} is not one of nsf, ex_rate_expired, addtl_attr_req, failure"),
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
                        format!("{id:?} is not a requirement id in the fixtures' attributes.json"),
                    )
                })?,
        ),
    };
    if commit_status == Some(CommitStatus::AddtlAttrReq) && require_attribute.is_none() {
        return Err(fail(
            format!("{rule}.then"),
            "commit_status addtl_attr_req needs require_attribute (the requirement to add)".into(),
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
            let p = catalog.precision_of(&b.currency_code);
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
        webhook: t.webhook.map(|w| crate::domain::event::Directives {
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
    Ok(then)
}
