//! Unit tests of request matchers, expectations and near misses.

use super::super::Body;
use super::*;
use serde_json::json;

fn op(id: &str) -> Vec<&'static str> {
    match id {
        "commitPayoutTxn" => vec!["commitPayoutTxn"],
        "initiatePayout" => vec!["initiatePayout"],
        _ => vec![],
    }
}

fn entry(method: &'static str, path: &str, body: &str, status: u16, seq: u64) -> JournalEntry {
    JournalEntry {
        seq,
        method,
        text: super::super::RequestText::new(path, Some("limit=10&x=a%20b"), || {
            [
                ("content-type", "application/json"),
                ("idempotency-key", "k1"),
            ]
            .into_iter()
        }),
        operation: Some("initiatePayout"),
        status,
        request_body: (!body.is_empty()).then(|| Body::keep(body.as_bytes())),
        ..JournalEntry::default()
    }
}

fn m(v: Value) -> Matcher {
    Matcher::parse(&v, op).unwrap()
}

#[test]
fn every_condition_must_hold() {
    let e = entry(
        "POST",
        "/v0.1.4/payout/usr_1",
        r#"{"source_amount":100.50,"client_transfer_id":"a1","metadata":{"g":[1,2]}}"#,
        200,
        1,
    );
    assert!(m(json!({})).matches(&e));
    assert!(m(json!({"method": "post", "path": "/payout/usr_1"})).matches(&e));
    assert!(m(json!({"path": "/v0.1.4/payout/usr_1"})).matches(&e));
    assert!(!m(json!({"path": "/v1.0.0/payout/usr_1"})).matches(&e));
    assert!(m(json!({"path": {"matches": "/payout/usr_[0-9]+"}})).matches(&e));
    assert!(
        !m(json!({"path": {"matches": "/payout"}})).matches(&e),
        "whole string"
    );
    assert!(m(json!({"operation": "initiatePayout", "status": 200})).matches(&e));
    assert!(!m(json!({"operation": "commitPayoutTxn"})).matches(&e));
    assert!(m(json!({"query": {"x": "a b", "limit": {"matches": "[0-9]+"}}})).matches(&e));
    assert!(!m(json!({"query": {"y": "1"}})).matches(&e));
    assert!(m(json!({"headers": {"Idempotency-Key": "k1"}})).matches(&e));
    assert!(!m(json!({"headers": {"Idempotency-Key": "k2"}})).matches(&e));
    assert!(
        m(json!({"body": {"source_amount": 100.5}})).matches(&e),
        "exact decimals"
    );
    assert!(m(json!({"body": {"metadata": {"g": [1, 2]}}})).matches(&e));
    assert!(!m(json!({"body": {"metadata": {"g": [1]}}})).matches(&e));
    assert!(m(json!({"body": {"client_transfer_id": {"matches": "a[0-9]"}}})).matches(&e));
    assert!(!m(json!({"body": {"fee": 1}})).matches(&e));
    assert!(!m(json!({"status": 201})).matches(&e));
}

#[test]
fn bad_matchers_are_refused_with_the_reason() {
    let err = |v: Value| Matcher::parse(&v, op).unwrap_err();
    assert!(err(json!({"verb": "GET"})).contains("unknown matcher field \"verb\""));
    assert!(err(json!({"path": {"matches": "("}})).contains("not a valid regex"));
    assert!(err(json!({"operation": "nope"})).contains("\"nope\""));
    assert!(err(json!({"status": 42})).contains("100 to 599"));
    assert!(err(json!([1])).contains("JSON object"));
}

#[test]
fn times_read_every_form() {
    assert_eq!(Times::parse(None).unwrap(), Times { min: 1, max: None });
    assert_eq!(
        Times::parse(Some(&json!(2))).unwrap(),
        Times {
            min: 2,
            max: Some(2)
        }
    );
    assert_eq!(
        Times::parse(Some(&json!({"max": 3}))).unwrap(),
        Times {
            min: 0,
            max: Some(3)
        }
    );
    assert!(Times::parse(Some(&json!({"min": 3, "max": 1}))).is_err());
    assert!(Times::parse(Some(&json!(-1))).is_err());
}

#[test]
fn an_unmet_expectation_lists_the_closest_requests_first() {
    let x = Expectation::parse(
        &json!({"matcher": {"method": "PUT", "path": "/payout/usr_1/payout_1", "status": 200}, "times": 1}),
        op,
    )
    .unwrap();
    let entries = [
        entry("GET", "/v0.1.4/account/balance", "", 200, 1),
        entry("PUT", "/v0.1.4/payout/usr_1/payout_2", "", 404, 2),
        entry("PUT", "/v0.1.4/payout/usr_1/payout_1", "", 400, 3),
    ];
    let v = verdict(x, entries.iter());
    assert!(!v.met);
    assert_eq!(v.count, 0);
    let seqs: Vec<u64> = v.near_misses.iter().map(|n| n.entry.seq).collect();
    assert_eq!(seqs, vec![3, 2, 1]);
    assert_eq!(
        v.near_misses[0].differences,
        vec!["status: expected 200, got 400"]
    );
}
