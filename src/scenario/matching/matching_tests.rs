//! Scenario matching without HTTP: which rules match a request (operation, `*`, conditions on
//! path params, body fields, user fields, the amount, the call count) and how the effects of the
//! matching rules add up. Hooked in at the end of `matching.rs`.
//!
//! Longer than 500 lines: one short self-contained test per matching rule and effect; they read
//! as one table of the matcher's behaviour.

use std::cell::RefCell;
use std::str::FromStr;
use std::sync::Arc;

use regex_lite::Regex;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use uuid::Uuid;

use super::*;
use crate::domain::payout::{CommitStatus, ForcedOutcome, REASON_FAILURE};
use crate::domain::user::{ProfileText, User, UserProfile, UserStatus};
use crate::scenario::{Rule, Scenario, Then, ValueMatch, When};
use crate::webhook::Directives;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// A rule for `operations` (empty = every operation, as `*` loads) with no condition.
fn when(operations: &[&str]) -> When {
    When {
        operations: operations.iter().map(|o| o.to_string()).collect(),
        path: Vec::new(),
        body: Vec::new(),
        user: Vec::new(),
        amount_min: None,
        amount_max: None,
        nth: None,
        first: None,
    }
}

fn latency(ms: u64) -> Then {
    Then {
        latency_ms: ms,
        ..Then::default()
    }
}

fn scenario(name: &str, rules: Vec<(When, Then)>) -> Arc<Scenario> {
    Arc::new(Scenario {
        name: name.into(),
        description: String::new(),
        rules: rules
            .into_iter()
            .map(|(when, then)| Rule { when, then })
            .collect(),
    })
}

fn equals(v: Value) -> ValueMatch {
    ValueMatch::Equals(v)
}

/// As a scenario file's `{"matches": …}` compiles: anchored to the whole string.
fn matching(re: &str) -> ValueMatch {
    ValueMatch::Matches(Regex::new(&format!("^(?:{re})$")).unwrap())
}

struct Request {
    operation: &'static str,
    path: Vec<(String, String)>,
    body: Option<Value>,
    user: Option<User>,
    amount: Option<Decimal>,
}

fn request(operation: &'static str) -> Request {
    Request {
        operation,
        path: Vec::new(),
        body: None,
        user: None,
        amount: None,
    }
}

impl Request {
    fn path(mut self, k: &str, v: &str) -> Self {
        self.path.push((k.into(), v.into()));
        self
    }
    fn body(mut self, v: Value) -> Self {
        self.body = Some(v);
        self
    }
    fn user(mut self, u: User) -> Self {
        self.user = Some(u);
        self
    }
    fn amount(mut self, a: &str) -> Self {
        self.amount = Some(d(a));
        self
    }
    fn facts(&self) -> RequestFacts<'_> {
        RequestFacts {
            operation: self.operation,
            path: &self.path,
            body: self.body.as_ref(),
            user: self.user.as_ref(),
            amount: self.amount,
        }
    }
}

/// The effects for a request, every counted call being the first.
fn effects(active: &[Arc<Scenario>], req: &Request) -> Effects {
    evaluate(active, &req.facts(), |_, _| 1)
}

/// Did the scenario's (only) rule match? Its effect is a latency of 1 ms.
fn matches_rule(w: When, req: &Request) -> bool {
    effects(&[scenario("s", vec![(w, latency(1))])], req).latency_ms == 1
}

fn mexican_user() -> User {
    User {
        id: crate::domain::token::UserId(Uuid::from_u128(7)),
        status: UserStatus::Active,
        created_on: 0,
        timezone: "America/Mexico_City".into(),
        profile: UserProfile::new(
            ProfileText {
                internal_user_id: "ext-1",
                city: Some("Guadalajara"),
                country: "MEX",
                first_name: "Ana",
                last_name: "Díaz",
                email: "ana@example.com",
                language: "es",
                date_of_birth: Some("1990-05-17"),
                ..ProfileText::default()
            },
            false,
            None,
            false,
        ),
    }
}

// ----- which rules match ------------------------------------------------------------------------

#[test]
fn a_rule_matches_its_operations_only() {
    let commit = || when(&["commitPayoutTxn"]);
    assert!(matches_rule(commit(), &request("commitPayoutTxn")));
    assert!(!matches_rule(commit(), &request("initiatePayout")));
    assert!(!matches_rule(commit(), &request("commitpayouttxn")));
    let either = || when(&["initiatePayout", "commitPayoutTxn"]);
    assert!(matches_rule(either(), &request("initiatePayout")));
    assert!(matches_rule(either(), &request("commitPayoutTxn")));
    assert!(!matches_rule(either(), &request("getPayoutStatus")));
    // No operation listed (`*`): every operation.
    for op in ["commitPayoutTxn", "getPayoutStatus", "anything"] {
        assert!(matches_rule(when(&[]), &request(op)), "{op}");
    }
}

/// `*` and lists as a scenario file writes them, loaded like `--scenarios DIR`.
#[test]
fn star_and_lists_in_a_scenario_file_load_into_matching_rules() {
    let dir = std::env::temp_dir().join(format!("masspay-matching-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("mixed.json"),
        r#"{"rules": [
            {"when": {"operation": "*"}, "then": {"latency_ms": 1}},
            {"when": {"operation": ["initiatePayout", "*"]}, "then": {"latency_ms": 10}},
            {"when": {"operation": ["commitPayoutTxn"], "path": {"payout_token": {"matches": "pyt_[0-9]+"}}},
             "then": {"latency_ms": 100}}
        ]}"#,
    )
    .unwrap();
    let catalog = crate::fixtures::load(crate::fixtures::Source::Embedded).unwrap();
    let loaded = crate::scenario::load(Some(&dir), &catalog);
    std::fs::remove_dir_all(&dir).unwrap();
    let registry = loaded.unwrap();
    let active = registry.resolve(["mixed"]).unwrap();
    let ms = |req: Request| effects(&active, &req).latency_ms;
    assert_eq!(ms(request("getUserPayoutsByToken")), 11);
    assert_eq!(ms(request("commitPayoutTxn")), 11);
    assert_eq!(
        ms(request("commitPayoutTxn").path("payout_token", "pyt_42")),
        111
    );
    // A file's regex must match the whole value, not a part of it.
    assert_eq!(
        ms(request("commitPayoutTxn").path("payout_token", "xpyt_42")),
        11
    );
    assert_eq!(
        ms(request("commitPayoutTxn").path("payout_token", "pyt_42x")),
        11
    );
}

#[test]
fn path_conditions_need_the_parameter_and_its_value() {
    let rule = || {
        let mut w = when(&[]);
        w.path.push(("country_code".into(), equals(json!("MEX"))));
        w
    };
    assert!(matches_rule(
        rule(),
        &request("x").path("country_code", "MEX")
    ));
    assert!(!matches_rule(
        rule(),
        &request("x").path("country_code", "COL")
    ));
    assert!(!matches_rule(rule(), &request("x").path("other", "MEX")));
    assert!(!matches_rule(rule(), &request("x")));
    let by_regex = || {
        let mut w = when(&[]);
        w.path.push(("user_token".into(), matching("usr_a.*")));
        w
    };
    assert!(matches_rule(
        by_regex(),
        &request("x").path("user_token", "usr_abc")
    ));
    assert!(!matches_rule(
        by_regex(),
        &request("x").path("user_token", "usr_b")
    ));
    // Every condition must hold.
    let both = || {
        let mut w = rule();
        w.path.push(("user_token".into(), matching("usr_a.*")));
        w
    };
    let req = request("x").path("country_code", "MEX");
    assert!(!matches_rule(both(), &req));
    assert!(matches_rule(both(), &req.path("user_token", "usr_a1")));
}

#[test]
fn body_conditions_compare_json_values() {
    let rule = |field: &str, m: ValueMatch| {
        let mut w = when(&[]);
        w.body.push((field.into(), m));
        w
    };
    let body = json!({
        "destination_currency_code": "MXN",
        "source_amount": 100.0,
        "notify_user": true,
        "metadata": {"a": 1}
    });
    let req = request("initiatePayout").body(body);
    assert!(matches_rule(
        rule("destination_currency_code", equals(json!("MXN"))),
        &req
    ));
    assert!(!matches_rule(
        rule("destination_currency_code", equals(json!("COP"))),
        &req
    ));
    // Numbers are equal as decimals: 100 = 100.0 = 1e2; a string "100" is not a number.
    assert!(matches_rule(
        rule("source_amount", equals(json!(100))),
        &req
    ));
    assert!(matches_rule(
        rule(
            "source_amount",
            equals(serde_json::from_str("1e2").unwrap())
        ),
        &req
    ));
    assert!(!matches_rule(
        rule("source_amount", equals(json!("100"))),
        &req
    ));
    assert!(!matches_rule(
        rule("source_amount", equals(json!(100.01))),
        &req
    ));
    assert!(matches_rule(rule("notify_user", equals(json!(true))), &req));
    assert!(matches_rule(rule("notify_user", matching("true")), &req));
    assert!(matches_rule(
        rule("source_amount", matching("100(\\.0)?")),
        &req
    ));
    assert!(matches_rule(
        rule("metadata", equals(json!({"a": 1}))),
        &req
    ));
    // A regex never matches an object, and a missing field or body never matches.
    assert!(!matches_rule(rule("metadata", matching(".*")), &req));
    assert!(!matches_rule(
        rule("client_transfer_id", matching(".*")),
        &req
    ));
    assert!(!matches_rule(
        rule("destination_currency_code", equals(json!("MXN"))),
        &request("initiatePayout")
    ));
}

#[test]
fn user_conditions_read_the_users_fields() {
    let rule = |field: &str, m: ValueMatch| {
        let mut w = when(&[]);
        w.user.push((field.into(), m));
        w
    };
    let req = request("commitPayoutTxn").user(mexican_user());
    assert!(matches_rule(rule("country", equals(json!("MEX"))), &req));
    assert!(!matches_rule(rule("country", equals(json!("COL"))), &req));
    assert!(matches_rule(
        rule("email", matching(".*@example\\.com")),
        &req
    ));
    assert!(matches_rule(
        rule("city", equals(json!("Guadalajara"))),
        &req
    ));
    assert!(matches_rule(rule("status", equals(json!("ACTIVE"))), &req));
    assert!(matches_rule(
        rule("date_of_birth", equals(json!("1990-05-17"))),
        &req
    ));
    let token = crate::domain::token::format(crate::domain::token::USER, Uuid::from_u128(7));
    assert!(matches_rule(rule("user_token", equals(json!(token))), &req));
    // A field the user has not set, or no user at all: no match.
    assert!(!matches_rule(rule("middle_name", matching(".*")), &req));
    assert!(!matches_rule(
        rule("country", equals(json!("MEX"))),
        &request("commitPayoutTxn")
    ));
}

#[test]
fn amount_ranges_are_inclusive_and_need_an_amount() {
    let range = |min: Option<&str>, max: Option<&str>| {
        let mut w = when(&[]);
        w.amount_min = min.map(d);
        w.amount_max = max.map(d);
        w
    };
    let at = |a: &str| request("commitPayoutTxn").amount(a);
    let r = || range(Some("100"), Some("200.50"));
    assert!(matches_rule(r(), &at("100")));
    assert!(matches_rule(r(), &at("200.50")));
    assert!(matches_rule(r(), &at("150")));
    assert!(!matches_rule(r(), &at("99.99")));
    assert!(!matches_rule(r(), &at("200.51")));
    assert!(!matches_rule(r(), &request("commitPayoutTxn")));
    assert!(matches_rule(range(Some("100"), None), &at("1000000")));
    assert!(!matches_rule(range(None, Some("5")), &at("5.01")));
    // Without a range, the amount does not matter (nor does its absence).
    assert!(matches_rule(when(&[]), &request("x")));
}

/// Counted calls: only rules whose other conditions hold are counted, with the scenario's name
/// and the rule's index; `nth` is that call alone, `first` the calls up to it.
#[test]
fn call_counts_select_the_nth_or_the_first_calls() {
    let mut nth2 = when(&["commitPayoutTxn"]);
    nth2.nth = Some(2);
    let mut first2 = when(&["commitPayoutTxn"]);
    first2.first = Some(2);
    let active = [
        scenario("plain", vec![(when(&[]), latency(1))]),
        scenario("counted", vec![(nth2, latency(10)), (first2, latency(100))]),
    ];
    let counted = RefCell::new(Vec::new());
    let calls = RefCell::new(std::collections::HashMap::<(String, usize), u64>::new());
    let run = |op: &'static str| {
        evaluate(&active, &request(op).facts(), |name, rule| {
            counted.borrow_mut().push((name.to_string(), rule));
            let mut c = calls.borrow_mut();
            let n = c.entry((name.to_string(), rule)).or_default();
            *n += 1;
            *n
        })
        .latency_ms
    };
    assert_eq!(run("commitPayoutTxn"), 101); // call 1: first ≤ 2, not the 2nd
    assert_eq!(run("getPayoutStatus"), 1); // not counted at all
    assert_eq!(run("commitPayoutTxn"), 111); // call 2: both
    assert_eq!(run("commitPayoutTxn"), 1); // call 3: neither
    assert_eq!(run("commitPayoutTxn"), 1);
    let counted = counted.into_inner();
    assert_eq!(counted.len(), 8, "{counted:?}");
    assert!(counted
        .iter()
        .all(|(name, rule)| name == "counted" && *rule < 2));
    // A rule without a call condition is never counted.
    let n = std::cell::Cell::new(0);
    evaluate(
        &[scenario("plain", vec![(when(&[]), latency(1))])],
        &request("x").facts(),
        |_, _| {
            n.set(n.get() + 1);
            1
        },
    );
    assert_eq!(n.get(), 0);
}

// ----- how effects add up -----------------------------------------------------------------------

fn fault(status: u16, message: &str) -> Then {
    Then {
        http_status: Some(status),
        message: Some(message.into()),
        retry_after: Some(3),
        ..Then::default()
    }
}

fn commit(status: CommitStatus, reason: Option<&str>) -> Then {
    Then {
        commit_status: Some(status),
        status_reason: reason.map(str::to_string),
        ..Then::default()
    }
}

#[test]
fn nothing_matching_is_no_effect() {
    let active = [scenario(
        "s",
        vec![(when(&["commitPayoutTxn"]), fault(500, "boom"))],
    )];
    let e = effects(&active, &request("getPayoutStatus"));
    assert!(e.is_empty());
    assert!(effects(&[], &request("commitPayoutTxn")).is_empty());
    assert!(!effects(&active, &request("commitPayoutTxn")).is_empty());
}

#[test]
fn the_first_fault_wins_and_latencies_add_up() {
    let active = [
        scenario(
            "a",
            vec![
                (when(&["getPayoutStatus"]), fault(404, "not this one")),
                (when(&[]), latency(5)),
                (when(&[]), fault(503, "first")),
            ],
        ),
        scenario(
            "b",
            vec![
                (when(&[]), fault(429, "second")),
                (when(&[]), latency(7)),
                (when(&[]), latency(u64::MAX)),
            ],
        ),
    ];
    let e = effects(&active, &request("commitPayoutTxn"));
    assert_eq!(
        e.fault,
        Some(Fault {
            status: 503,
            message: Some("first".into()),
            retry_after: Some(3),
        })
    );
    assert_eq!(e.latency_ms, u64::MAX, "adds up, saturating");
    let e = effects(&active[1..], &request("commitPayoutTxn"));
    assert_eq!(e.fault.map(|f| f.status), Some(429));
    let order_swapped = [Arc::clone(&active[1]), Arc::clone(&active[0])];
    let e = effects(&order_swapped, &request("commitPayoutTxn"));
    assert_eq!(
        e.fault.map(|f| f.status),
        Some(429),
        "scenario order counts"
    );
}

#[test]
fn the_first_commit_override_wins() {
    let active = [
        scenario("a", vec![(when(&[]), commit(CommitStatus::Nsf, None))]),
        scenario(
            "b",
            vec![(when(&[]), commit(CommitStatus::Failure, Some("Bad IBAN")))],
        ),
    ];
    let e = effects(&active, &request("commitPayoutTxn"));
    assert_eq!(e.commit, Some(ForcedOutcome::Nsf));
    let e = effects(&active[1..], &request("commitPayoutTxn"));
    assert_eq!(e.commit, Some(ForcedOutcome::Failure("Bad IBAN".into())));
    let e = effects(
        &[scenario(
            "c",
            vec![(when(&[]), commit(CommitStatus::ExRateExpired, None))],
        )],
        &request("commitPayoutTxn"),
    );
    assert_eq!(e.commit, Some(ForcedOutcome::ExRateExpired));
    // A failure without a status_reason gets the default one.
    let e = effects(
        &[scenario(
            "d",
            vec![(when(&[]), commit(CommitStatus::Failure, None))],
        )],
        &request("commitPayoutTxn"),
    );
    assert_eq!(
        e.commit,
        Some(ForcedOutcome::Failure(REASON_FAILURE.into()))
    );
}

/// addtl_attr_req is not an override (it works through the added requirement), so it neither
/// forces an outcome nor keeps a later rule from forcing one.
#[test]
fn addtl_attr_req_forces_nothing_and_leaves_room_for_a_later_override() {
    let addtl = Then {
        commit_status: Some(CommitStatus::AddtlAttrReq),
        require_attribute: Some(3),
        ..Then::default()
    };
    let active = [
        scenario("a", vec![(when(&[]), addtl)]),
        scenario("b", vec![(when(&[]), commit(CommitStatus::Nsf, None))]),
    ];
    let e = effects(&active, &request("commitPayoutTxn"));
    assert_eq!(e.commit, Some(ForcedOutcome::Nsf));
    assert_eq!(e.require_attributes, vec![3]);
    assert_eq!(effects(&active[..1], &request("x")).commit, None);
}

#[test]
fn requirements_balances_rates_and_webhook_directives_merge() {
    let then = |f: fn(&mut Then)| {
        let mut t = Then::default();
        f(&mut t);
        t
    };
    let active = [
        scenario(
            "a",
            vec![
                (when(&[]), then(|t| t.require_attribute = Some(4))),
                (when(&[]), then(|t| t.require_attribute = Some(2))),
                (when(&[]), then(|t| t.balance = Some((0, d("10"))))),
                (when(&[]), then(|t| t.exchange_rate = Some(d("17.5")))),
                (
                    when(&[]),
                    then(|t| {
                        t.webhook = Some(Directives {
                            drop: true,
                            delay_ms: 1000,
                            duplicate: false,
                        })
                    }),
                ),
            ],
        ),
        scenario(
            "b",
            vec![
                (when(&[]), then(|t| t.require_attribute = Some(4))),
                (when(&[]), then(|t| t.balance = Some((1, d("0.5"))))),
                (when(&[]), then(|t| t.exchange_rate = Some(d("20")))),
                (
                    when(&[]),
                    then(|t| {
                        t.webhook = Some(Directives {
                            drop: false,
                            delay_ms: 500,
                            duplicate: true,
                        })
                    }),
                ),
                (
                    when(&[]),
                    then(|t| {
                        t.webhook = Some(Directives {
                            drop: false,
                            delay_ms: 25,
                            duplicate: false,
                        })
                    }),
                ),
            ],
        ),
    ];
    let e = effects(&active, &request("commitPayoutTxn"));
    assert_eq!(
        e.require_attributes,
        vec![4, 2],
        "in order, without repeats"
    );
    assert_eq!(
        e.balances,
        vec![(0, d("10")), (1, d("0.5"))],
        "all, in order"
    );
    assert_eq!(e.exchange_rate, Some(d("17.5")), "the first rate wins");
    assert_eq!(
        e.webhook,
        Directives {
            drop: true,
            delay_ms: 1525,
            duplicate: true,
        },
        "flags are or-ed, delays add up"
    );
}

/// The shipped scenarios, as a magic amount or `X-Sandbox-Scenario` activates them, act on
/// commits only (their rules name commitPayoutTxn).
#[test]
fn the_shipped_commit_scenarios_act_on_commits_only() {
    let catalog = crate::fixtures::load(crate::fixtures::Source::Embedded).unwrap();
    let registry = crate::scenario::load(None, &catalog).unwrap();
    for (name, expected) in [
        ("insufficient_funds", Some(ForcedOutcome::Nsf)),
        ("expired_rate", Some(ForcedOutcome::ExRateExpired)),
        (
            "payout_failure",
            Some(ForcedOutcome::Failure(REASON_FAILURE.into())),
        ),
        ("additional_attributes", None),
    ] {
        let active = registry.resolve([name]).unwrap();
        let on_commit = effects(&active, &request("commitPayoutTxn").amount("100"));
        assert_eq!(on_commit.commit, expected, "{name}");
        assert!(
            effects(&active, &request("getPayoutStatus")).is_empty(),
            "{name}"
        );
    }
    let active = registry.resolve(["additional_attributes"]).unwrap();
    let e = effects(&active, &request("commitPayoutTxn"));
    assert_eq!(e.require_attributes.len(), 1);
    assert_eq!(
        catalog.requirements[e.require_attributes[0]].id,
        "source_of_funds"
    );
}
