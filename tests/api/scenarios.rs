//! Scenarios (SPEC §5, README "Scenarios"): every shipped scenario through every way of turning
//! it on — the builder's `.scenario(name)` (the `--scenario` flag), the `X-Sandbox-Scenario`
//! header (that request only), `PUT /_sandbox/scenario` (the caller's tenant, until `DELETE`) and
//! `client_transfer_id: "sandbox:NAME#suffix"` (every request about that payout) — showing what a
//! client sees and the state left behind; unknown names; and scenario files of one's own.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use masspay_sandbox::Sandbox;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

/// The added requirement of `additional_attributes` (fixtures/attributes.json `source_of_funds`).
const SOURCE_OF_FUNDS_ATTR: &str = "attr_5c0f3a8e-2d4b-4e1f-9a7c-6b8d0e2f4a61";

/// Every payout here: 100 USD → BTC on the seed's destination, fee 2.99.
const AMOUNT: &str = "100";
const START_USD: &str = "250000";
/// 250000 − (100 + 2.99).
const AFTER_ONE_DEBIT: &str = "249897.01";

/// What `slow` adds to every MassPay operation.
const SLOW: Duration = Duration::from_millis(250);

const MSG_503: &str = "The service is temporarily unavailable. Please try again later or contact support if the issue persists.";
const MSG_429: &str =
    "Too many requests were sent in a given amount of time. Please wait before retrying.";
const MSG_500: &str = "An unexpected error occurred on the server-side while processing the request. Please try again later or contact support if the issue persists.";

// ----- activation paths --------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Via {
    /// `Sandbox::builder().scenario(name)`, i.e. `--scenario NAME`: every request.
    Flag,
    /// `X-Sandbox-Scenario: NAME` on the requests that want it.
    Header,
    /// `PUT /_sandbox/scenario` for this tenant; `DELETE` turns it off.
    Tenant,
    /// `client_transfer_id: "sandbox:NAME#suffix"` on the payout.
    TransferId,
}

/// One test's sandbox with a scenario reachable through one activation path.
struct Run {
    app: TestApp,
    via: Via,
    name: &'static str,
}

impl Run {
    async fn start(via: Via, name: &'static str) -> Run {
        let mut builder = Sandbox::builder();
        if via == Via::Flag {
            builder = builder.scenario(name);
        }
        Run {
            app: TestApp::spawn_with(builder).await,
            via,
            name,
        }
    }

    /// Turns the scenario on for this tenant where that takes a call (`PUT /_sandbox/scenario`).
    async fn activate(&self) {
        if self.via == Via::Tenant {
            let a = self
                .app
                .put(
                    "/_sandbox/scenario",
                    Some(json!({ "scenarios": [self.name] })),
                )
                .await;
            assert_eq!(a.status, 200, "{}", a.text);
            assert_eq!(a.body["scenarios"], json!([self.name]), "{}", a.text);
        }
    }

    /// Turns it off where it can be: `DELETE /_sandbox/scenario` (204), or for the header simply
    /// the next request without it. Returns whether it is off now (a flag and a payout's
    /// `client_transfer_id` stay).
    async fn deactivate(&self) -> bool {
        match self.via {
            Via::Tenant => {
                let a = self.app.delete("/_sandbox/scenario").await;
                assert_eq!(a.status, 204, "{}", a.text);
                let s = self.app.get("/_sandbox/state").await;
                assert_eq!(s.status, 200, "{}", s.text);
                assert_eq!(s.body["scenarios"], json!([]), "{}", s.text);
                true
            }
            Via::Header => true,
            Via::Flag | Via::TransferId => false,
        }
    }

    /// A request with the scenario in effect: with the header when that is the path.
    async fn under(&self, method: Method, path: &str, body: Option<&str>) -> Answer {
        let mut req = self.app.request(method, path);
        if self.via == Via::Header {
            req = req.header("X-Sandbox-Scenario", self.name);
        }
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/json")
                .body(b.to_string());
        }
        answer(req).await
    }

    /// Initiates the 100 USD → BTC payout with the scenario in effect (for the transfer-id path
    /// with `client_transfer_id: "sandbox:NAME#…"`).
    async fn initiate_under(&self, user: &str) -> Answer {
        let ctid = match self.via {
            Via::TransferId => format!(r#""client_transfer_id":"{}","#, transfer_id(self.name)),
            _ => String::new(),
        };
        self.under(
            Method::POST,
            &format!("/payout/{user}"),
            Some(&format!(
                r#"{{{ctid}"source_currency_code":"USD","destination_currency_code":"BTC","source_token":"{USD_SOURCE}","destination_token":"{BTC_DESTINATION}","source_amount":{AMOUNT}}}"#
            )),
        )
        .await
    }

    /// A user with a wallet, the scenario switched on, and a PENDING payout made under it.
    async fn pending_payout(&self) -> (String, String) {
        let user = self.app.create_user().await;
        self.app.store_btc_wallet(&user).await;
        self.activate().await;
        let a = self.initiate_under(&user).await;
        assert_eq!(a.status, 200, "{}", a.text);
        assert_eq!(a.body["status"], "PENDING", "{}", a.text);
        let payout = a.body["payout_token"].as_str().unwrap().to_string();
        assert!(payout.starts_with("payout_"), "{}", a.text);
        (user, payout)
    }

    async fn commit_under(&self, user: &str, payout: &str) -> Answer {
        self.under(Method::PUT, &format!("/payout/{user}/{payout}"), None)
            .await
    }
}

/// `sandbox:NAME#suffix` — the suffix keeps ids unique (and the id within 50 characters).
fn transfer_id(name: &str) -> String {
    format!(
        "sandbox:{name}#{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

fn commit_status(a: &Answer) -> &str {
    assert_eq!(a.status, 200, "{}", a.text);
    a.body["status"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", a.text))
}

/// A fresh user with a wallet and a plain (scenario-free) pending 100 USD → BTC payout.
async fn plain_payout(app: &TestApp) -> (String, String) {
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    let payout = app.pending_btc_payout(&user, AMOUNT).await;
    (user, payout)
}

/// Another tenant of the same server pays out normally: its commit succeeds and debits it.
async fn other_tenant_is_unaffected(app: &TestApp) {
    let other = app.other_tenant();
    let (user, payout) = plain_payout(&other).await;
    assert_eq!(
        commit_status(&other.commit(&user, &payout).await),
        "success"
    );
    assert_eq!(other.balance("USD").await, AFTER_ONE_DEBIT);
}

/// The tenant's balance in `currency` as `GET /_sandbox/state` writes it (exact text); usable
/// while every MassPay route is failing.
async fn state_balance(app: &TestApp, currency: &str) -> String {
    let a = app.get("/_sandbox/state").await;
    assert_eq!(a.status, 200, "{}", a.text);
    let fields: std::collections::HashMap<String, Box<serde_json::value::RawValue>> =
        serde_json::from_str(&a.text).unwrap();
    balance_text(fields["balances"].get(), currency)
}

/// Asserts an injected fault in MassPay's error shape: `code`, the fixed `title` and `message`,
/// `Exception`, a non-empty `Errors` array of strings.
fn assert_fault(a: &Answer, code: u16, title: &str, message: &str) -> Vec<String> {
    assert_eq!(a.status.as_u16(), code, "{}", a.text);
    let content_type = a
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        content_type.starts_with("application/json"),
        "content-type {content_type:?}: {}",
        a.text
    );
    assert_eq!(a.body["code"], code, "{}", a.text);
    assert_eq!(a.body["title"], title, "{}", a.text);
    assert_eq!(a.body["message"], message, "{}", a.text);
    assert!(
        a.body["Exception"].as_str().is_some_and(|e| !e.is_empty()),
        "{}",
        a.text
    );
    let errors: Vec<String> = a.body["Errors"]
        .as_array()
        .unwrap_or_else(|| panic!("Errors is not an array: {}", a.text))
        .iter()
        .map(|e| e.as_str().expect("Errors holds strings").to_string())
        .collect();
    assert!(!errors.is_empty(), "{}", a.text);
    errors
}

/// The status a shipped fault scenario answers.
fn a_fault_status(name: &str) -> u16 {
    match name {
        "server_error" => 503,
        "rate_limited" => 429,
        other => panic!("{other} is not a fault scenario"),
    }
}

fn assert_503(a: &Answer) {
    assert_fault(a, 503, "Service unavailable.", MSG_503);
}

fn assert_429(a: &Answer) {
    assert_fault(a, 429, "Too many requests.", MSG_429);
    assert_eq!(
        a.headers.get("retry-after").and_then(|v| v.to_str().ok()),
        Some("1"),
        "Retry-After: {:?}",
        a.headers
    );
}

/// The attribute requirements GET lists for (user, BTC destination, BTC).
async fn btc_requirements(app: &TestApp, user: &str) -> Vec<Value> {
    let a = app
        .get(&format!("/attribute/{user}/{BTC_DESTINATION}/BTC"))
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    a.body.as_array().unwrap().clone()
}

fn source_of_funds(reqs: &[Value]) -> Option<&Value> {
    reqs.iter().find(|r| r["label"] == "Source of Funds")
}

// ----- insufficient_funds -------------------------------------------------------------------------

async fn insufficient_funds(via: Via) {
    let r = Run::start(via, "insufficient_funds").await;
    let (user, payout) = r.pending_payout().await;

    let a = r.commit_under(&user, &payout).await;
    assert_eq!(commit_status(&a), "nsf", "{}", a.text);
    assert_eq!(a.body["payout_token"], payout.as_str());
    assert_eq!(r.app.balance("USD").await, START_USD);
    assert_eq!(r.app.payout_status(&user, &payout).await, "PENDING");

    if via == Via::Tenant {
        other_tenant_is_unaffected(&r.app).await;
    }
    if r.deactivate().await {
        // Retryable: the same payout commits once the scenario is off.
        let a = r.app.commit(&user, &payout).await;
        assert_eq!(commit_status(&a), "success", "{}", a.text);
        assert_eq!(r.app.balance("USD").await, AFTER_ONE_DEBIT);
        assert_eq!(r.app.payout_status(&user, &payout).await, "COMPLETED");
    } else {
        // Still on: every commit answers nsf, the payout stays PENDING, nothing is debited.
        let a = r.commit_under(&user, &payout).await;
        assert_eq!(commit_status(&a), "nsf", "{}", a.text);
        assert_eq!(r.app.balance("USD").await, START_USD);
        assert_eq!(r.app.payout_status(&user, &payout).await, "PENDING");
    }
}

#[tokio::test]
async fn insufficient_funds_by_flag() {
    insufficient_funds(Via::Flag).await;
}

#[tokio::test]
async fn insufficient_funds_by_header() {
    insufficient_funds(Via::Header).await;
}

#[tokio::test]
async fn insufficient_funds_by_admin() {
    insufficient_funds(Via::Tenant).await;
}

#[tokio::test]
async fn insufficient_funds_by_client_transfer_id() {
    insufficient_funds(Via::TransferId).await;
}

// ----- expired_rate -------------------------------------------------------------------------------

async fn expired_rate(via: Via) {
    let r = Run::start(via, "expired_rate").await;
    let (user, payout) = r.pending_payout().await;

    let a = r.commit_under(&user, &payout).await;
    assert_eq!(commit_status(&a), "ex_rate_expired", "{}", a.text);
    assert_eq!(r.app.payout_status(&user, &payout).await, "CANCELLED");
    assert_eq!(r.app.balance("USD").await, START_USD);

    if via == Via::Tenant {
        other_tenant_is_unaffected(&r.app).await;
    }
    let off = r.deactivate().await;
    // A cancelled payout stays cancelled: a new one is needed.
    let a = r.app.commit(&user, &payout).await;
    assert_eq!(commit_status(&a), "ex_rate_expired", "{}", a.text);
    assert_eq!(r.app.payout_status(&user, &payout).await, "CANCELLED");
    assert_eq!(r.app.balance("USD").await, START_USD);

    // A new payout (a fresh quote, no scenario id on it) commits once the scenario is off; the
    // transfer-id scenario belongs to its own payout only.
    let fresh = r.app.pending_btc_payout(&user, AMOUNT).await;
    let a = r.app.commit(&user, &fresh).await;
    if off || via == Via::TransferId {
        assert_eq!(commit_status(&a), "success", "{}", a.text);
        assert_eq!(r.app.balance("USD").await, AFTER_ONE_DEBIT);
    } else {
        assert_eq!(commit_status(&a), "ex_rate_expired", "{}", a.text);
        assert_eq!(r.app.payout_status(&user, &fresh).await, "CANCELLED");
    }
}

#[tokio::test]
async fn expired_rate_by_flag() {
    expired_rate(Via::Flag).await;
}

#[tokio::test]
async fn expired_rate_by_header() {
    expired_rate(Via::Header).await;
}

#[tokio::test]
async fn expired_rate_by_admin() {
    expired_rate(Via::Tenant).await;
}

#[tokio::test]
async fn expired_rate_by_client_transfer_id() {
    expired_rate(Via::TransferId).await;
}

// ----- additional_attributes ------------------------------------------------------------------

async fn additional_attributes(via: Via) {
    let r = Run::start(via, "additional_attributes").await;
    let (user, payout) = r.pending_payout().await;
    // Before the commit the destination asks only for its own requirements.
    assert!(source_of_funds(&btc_requirements(&r.app, &user).await).is_none());

    let a = r.commit_under(&user, &payout).await;
    assert_eq!(commit_status(&a), "addtl_attr_req", "{}", a.text);
    assert_eq!(r.app.payout_status(&user, &payout).await, "PENDING");
    assert_eq!(r.app.balance("USD").await, START_USD);

    if via == Via::Tenant {
        other_tenant_is_unaffected(&r.app).await;
    }
    let off = r.deactivate().await;

    // The added requirement is real and stays, whether or not the scenario is still on.
    let reqs = btc_requirements(&r.app, &user).await;
    let sof = source_of_funds(&reqs).unwrap_or_else(|| panic!("no Source of Funds: {reqs:?}"));
    assert_eq!(sof["type"], "SourceOfFunds", "{sof}");
    assert_eq!(sof["token"], SOURCE_OF_FUNDS_ATTR, "{sof}");
    assert_eq!(sof["is_optional"], false, "{sof}");
    assert_eq!(sof["value"], "", "{sof}");
    if off {
        let a = r.app.commit(&user, &payout).await;
        assert_eq!(commit_status(&a), "addtl_attr_req", "{}", a.text);
        assert_eq!(r.app.payout_status(&user, &payout).await, "PENDING");
    }

    // An invalid value is refused naming the attribute, and nothing is stored.
    let a = r
        .app
        .store_attributes(
            &user,
            BTC_DESTINATION,
            "BTC",
            &[(SOURCE_OF_FUNDS_ATTR, "LOTTERY")],
        )
        .await;
    let errors = assert_error(&a, 400);
    assert_mentions(&errors, &["Source of Funds"]);
    let reqs = btc_requirements(&r.app, &user).await;
    assert_eq!(source_of_funds(&reqs).unwrap()["value"], "");

    // A valid value makes the next commit succeed.
    let a = r
        .app
        .store_attributes(
            &user,
            BTC_DESTINATION,
            "BTC",
            &[(SOURCE_OF_FUNDS_ATTR, "SALARY")],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let reqs = btc_requirements(&r.app, &user).await;
    assert_eq!(source_of_funds(&reqs).unwrap()["value"], "SALARY");
    let a = if off {
        r.app.commit(&user, &payout).await
    } else {
        r.commit_under(&user, &payout).await
    };
    assert_eq!(commit_status(&a), "success", "{}", a.text);
    assert_eq!(r.app.balance("USD").await, AFTER_ONE_DEBIT);
    assert_eq!(r.app.payout_status(&user, &payout).await, "COMPLETED");
}

#[tokio::test]
async fn additional_attributes_by_flag() {
    additional_attributes(Via::Flag).await;
}

#[tokio::test]
async fn additional_attributes_by_header() {
    additional_attributes(Via::Header).await;
}

#[tokio::test]
async fn additional_attributes_by_admin() {
    additional_attributes(Via::Tenant).await;
}

#[tokio::test]
async fn additional_attributes_by_client_transfer_id() {
    additional_attributes(Via::TransferId).await;
}

// ----- payout_failure ---------------------------------------------------------------------------

async fn payout_failure(via: Via) {
    let r = Run::start(via, "payout_failure").await;
    let (user, payout) = r.pending_payout().await;

    let a = r.commit_under(&user, &payout).await;
    assert_eq!(commit_status(&a), "failure", "{}", a.text);
    let p = r.app.payout(&user, &payout).await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert_eq!(p.body["status"], "ERROR", "{}", p.text);
    assert_eq!(
        p.body["status_reason"], "Beneficiary information is incorrect",
        "{}",
        p.text
    );
    assert_eq!(r.app.balance("USD").await, START_USD);

    if via == Via::Tenant {
        other_tenant_is_unaffected(&r.app).await;
    }
    let off = r.deactivate().await;
    // A failed payout stays failed, and is never debited.
    let a = r.app.commit(&user, &payout).await;
    assert_eq!(commit_status(&a), "failure", "{}", a.text);
    assert_eq!(r.app.payout_status(&user, &payout).await, "ERROR");
    assert_eq!(r.app.balance("USD").await, START_USD);

    let fresh = r.app.pending_btc_payout(&user, AMOUNT).await;
    let a = r.app.commit(&user, &fresh).await;
    if off || via == Via::TransferId {
        assert_eq!(commit_status(&a), "success", "{}", a.text);
        assert_eq!(r.app.balance("USD").await, AFTER_ONE_DEBIT);
    } else {
        assert_eq!(commit_status(&a), "failure", "{}", a.text);
        assert_eq!(r.app.balance("USD").await, START_USD);
    }
}

#[tokio::test]
async fn payout_failure_by_flag() {
    payout_failure(Via::Flag).await;
}

#[tokio::test]
async fn payout_failure_by_header() {
    payout_failure(Via::Header).await;
}

#[tokio::test]
async fn payout_failure_by_admin() {
    payout_failure(Via::Tenant).await;
}

#[tokio::test]
async fn payout_failure_by_client_transfer_id() {
    payout_failure(Via::TransferId).await;
}

// ----- slow -------------------------------------------------------------------------------------

/// Runs `f` and asserts it took at least the scenario's latency (a lower bound only).
async fn at_least_slow<F: std::future::Future<Output = Answer>>(what: &str, f: F) -> Answer {
    let started = Instant::now();
    let a = f.await;
    let took = started.elapsed();
    assert!(took >= SLOW, "{what} took {took:?}, expected ≥ {SLOW:?}");
    a
}

async fn slow(via: Via) {
    let r = Run::start(via, "slow").await;
    let user = r.app.create_user().await;
    r.app.store_btc_wallet(&user).await;
    r.activate().await;

    if via != Via::TransferId {
        let a = at_least_slow(
            "GET /account/balance",
            r.under(Method::GET, "/account/balance", None),
        )
        .await;
        assert_eq!(a.status, 200, "{}", a.text);
        assert_eq!(balance_text(&a.text, "USD"), START_USD);
    }
    // Slow, but the whole flow still works and moves money exactly once.
    let a = at_least_slow("initiate", r.initiate_under(&user)).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["status"], "PENDING", "{}", a.text);
    let payout = a.body["payout_token"].as_str().unwrap().to_string();
    let a = at_least_slow("commit", r.commit_under(&user, &payout)).await;
    assert_eq!(commit_status(&a), "success", "{}", a.text);
    let a = at_least_slow(
        "GET payout",
        r.under(Method::GET, &format!("/payout/{user}/{payout}"), None),
    )
    .await;
    assert_eq!(a.body["status"], "COMPLETED", "{}", a.text);
    assert_eq!(r.app.balance("USD").await, AFTER_ONE_DEBIT);

    if via == Via::Tenant {
        // The admin API is never slowed down, and DELETE turns it off.
        let a = r.app.get("/_sandbox/state").await;
        assert_eq!(a.status, 200, "{}", a.text);
        assert_eq!(a.body["scenarios"], json!(["slow"]), "{}", a.text);
        assert!(r.deactivate().await);
    }
}

#[tokio::test]
async fn slow_by_flag() {
    slow(Via::Flag).await;
}

#[tokio::test]
async fn slow_by_header() {
    slow(Via::Header).await;
}

#[tokio::test]
async fn slow_by_admin() {
    slow(Via::Tenant).await;
}

#[tokio::test]
async fn slow_by_client_transfer_id() {
    slow(Via::TransferId).await;
}

// ----- server_error and rate_limited -----------------------------------------------------------

/// With the flag every MassPay operation fails, so nothing can be created; the admin API and
/// `/health` still answer, and the state shows nothing happened.
async fn fault_by_flag(name: &'static str, check: fn(&Answer)) {
    let r = Run::start(Via::Flag, name).await;
    check(&r.app.get("/account/balance").await);
    check(&r.app.get("/country/list").await);
    check(&r.app.post("/user", seed_user("flag@example.com")).await);
    check(&r.app.get("/v0.1.0/account/balance").await);

    let h = r.app.get("/health").await;
    assert_eq!(h.status, 200, "{}", h.text);
    let s = r.app.get("/_sandbox/state").await;
    assert_eq!(s.status, 200, "{}", s.text);
    assert_eq!(s.body["users"], json!([]), "{}", s.text);
    assert_eq!(s.body["payouts"], json!([]), "{}", s.text);
    assert_eq!(state_balance(&r.app, "USD").await, START_USD);
    let c = r.app.get("/_sandbox/clock").await;
    assert_eq!(c.status, 200, "{}", c.text);
    let b = r.app.set_balance("USD", "\"1000.00\"").await;
    assert_eq!(b.status, 200, "{}", b.text);
    assert_eq!(state_balance(&r.app, "USD").await, "1000");
}

/// The header fails only the request carrying it; the payout it would have committed is left
/// PENDING and undebited, and the next plain commit succeeds.
async fn fault_by_header(name: &'static str, check: fn(&Answer)) {
    let r = Run::start(Via::Header, name).await;
    check(&r.under(Method::GET, "/account/balance", None).await);
    assert_eq!(r.app.balance("USD").await, START_USD);

    let (user, payout) = plain_payout(&r.app).await;
    check(&r.commit_under(&user, &payout).await);
    assert_eq!(r.app.payout_status(&user, &payout).await, "PENDING");
    assert_eq!(r.app.balance("USD").await, START_USD);
    let a = r.app.commit(&user, &payout).await;
    assert_eq!(commit_status(&a), "success", "{}", a.text);
    assert_eq!(r.app.balance("USD").await, AFTER_ONE_DEBIT);
    // The journal shows the injected answer, then the real one.
    let j = r.app.get("/_sandbox/requests?method=PUT").await;
    assert_eq!(j.status, 200, "{}", j.text);
    let statuses: Vec<&Value> = j
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["status"])
        .collect();
    let fault = a_fault_status(name);
    assert_eq!(statuses, [&json!(fault), &json!(200)], "{}", j.text);

    // Nothing is created by a refused initiate.
    let before = r.app.get(&format!("/payout/{user}")).await;
    assert_eq!(before.status, 200, "{}", before.text);
    check(&r.initiate_under(&user).await);
    let after = r.app.get(&format!("/payout/{user}")).await;
    assert_eq!(after.body, before.body, "{}", after.text);
}

/// Per tenant: every MassPay operation of this key fails until DELETE; the admin API, /health and
/// other keys are unaffected.
async fn fault_by_admin(name: &'static str, check: fn(&Answer)) {
    let r = Run::start(Via::Tenant, name).await;
    let (user, payout) = plain_payout(&r.app).await;
    r.activate().await;

    check(&r.app.get("/account/balance").await);
    check(&r.app.commit(&user, &payout).await);
    check(&r.app.payout(&user, &payout).await);

    let h = r.app.get("/health").await;
    assert_eq!(h.status, 200, "{}", h.text);
    let s = r.app.get("/_sandbox/state").await;
    assert_eq!(s.status, 200, "{}", s.text);
    assert_eq!(s.body["payouts"][0]["status"], "PENDING", "{}", s.text);
    assert_eq!(state_balance(&r.app, "USD").await, START_USD);
    let other = r.app.other_tenant();
    assert_eq!(other.balance("USD").await, START_USD);

    assert!(r.deactivate().await);
    assert_eq!(r.app.payout_status(&user, &payout).await, "PENDING");
    assert_eq!(r.app.balance("USD").await, START_USD);
    let a = r.app.commit(&user, &payout).await;
    assert_eq!(commit_status(&a), "success", "{}", a.text);
    assert_eq!(r.app.balance("USD").await, AFTER_ONE_DEBIT);
}

/// A payout whose client_transfer_id names the scenario: its initiate already fails, nothing is
/// stored (a retry fails the same way, not as DUPLICATE), and other payouts are unaffected.
async fn fault_by_transfer_id(name: &'static str, check: fn(&Answer)) {
    let r = Run::start(Via::TransferId, name).await;
    let user = r.app.create_user().await;
    r.app.store_btc_wallet(&user).await;
    let ctid = transfer_id(name);
    let body = btc_initiate_body(&ctid, AMOUNT);
    check(&r.app.initiate(&user, "", &body).await);
    check(&r.app.initiate(&user, "", &body).await);

    let list = r.app.get(&format!("/payout/{user}")).await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.body, json!([]), "{}", list.text);
    assert_eq!(r.app.balance("USD").await, START_USD);

    let (user, payout) = plain_payout(&r.app).await;
    let a = r.app.commit(&user, &payout).await;
    assert_eq!(commit_status(&a), "success", "{}", a.text);
    assert_eq!(r.app.balance("USD").await, AFTER_ONE_DEBIT);
}

#[tokio::test]
async fn server_error_by_flag() {
    fault_by_flag("server_error", assert_503).await;
}

#[tokio::test]
async fn server_error_by_header() {
    fault_by_header("server_error", assert_503).await;
}

#[tokio::test]
async fn server_error_by_admin() {
    fault_by_admin("server_error", assert_503).await;
}

#[tokio::test]
async fn server_error_by_client_transfer_id() {
    fault_by_transfer_id("server_error", assert_503).await;
}

#[tokio::test]
async fn rate_limited_by_flag() {
    fault_by_flag("rate_limited", assert_429).await;
}

#[tokio::test]
async fn rate_limited_by_header() {
    fault_by_header("rate_limited", assert_429).await;
}

#[tokio::test]
async fn rate_limited_by_admin() {
    fault_by_admin("rate_limited", assert_429).await;
}

#[tokio::test]
async fn rate_limited_by_client_transfer_id() {
    fault_by_transfer_id("rate_limited", assert_429).await;
}

// ----- more than one, and how long they last ----------------------------------------------------

#[tokio::test]
async fn the_header_takes_several_names() {
    let app = TestApp::spawn().await;
    let (user, payout) = plain_payout(&app).await;
    let started = Instant::now();
    let a = answer(
        app.request(Method::PUT, &format!("/payout/{user}/{payout}"))
            .header("X-Sandbox-Scenario", "slow, payout_failure"),
    )
    .await;
    assert!(started.elapsed() >= SLOW, "{:?}", started.elapsed());
    assert_eq!(commit_status(&a), "failure", "{}", a.text);
    assert_eq!(app.payout_status(&user, &payout).await, "ERROR");
    assert_eq!(app.balance("USD").await, START_USD);
}

#[tokio::test]
async fn admin_scenarios_last_until_reset() {
    let app = TestApp::spawn().await;
    let a = app
        .put(
            "/_sandbox/scenario",
            Some(json!({"scenarios": ["rate_limited", "slow"]})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let s = app.get("/_sandbox/state").await;
    let mut active: Vec<String> = serde_json::from_value(s.body["scenarios"].clone()).unwrap();
    active.sort();
    assert_eq!(active, ["rate_limited", "slow"], "{}", s.text);
    assert_429(&app.get("/account/balance").await);
    assert_429(&app.get("/account/balance").await);

    let a = app.send(Method::POST, "/_sandbox/reset", None).await;
    assert_eq!(a.status, 204, "{}", a.text);
    assert_eq!(app.balance("USD").await, START_USD);
    let s = app.get("/_sandbox/state").await;
    assert_eq!(s.body["scenarios"], json!([]), "{}", s.text);
}

// ----- unknown names ------------------------------------------------------------------------------

const UNKNOWN: &str = "no_such_scenario";

#[tokio::test]
async fn an_unknown_name_in_the_header_is_a_400_naming_it() {
    let app = TestApp::spawn().await;
    for header in [UNKNOWN.to_string(), format!("slow,{UNKNOWN}")] {
        let a = answer(
            app.request(Method::GET, "/account/balance")
                .header("X-Sandbox-Scenario", header.as_str()),
        )
        .await;
        let errors = assert_error(&a, 400);
        assert_mentions(&errors, &[UNKNOWN]);
    }
    // Nothing sticks: the next request is normal.
    assert_eq!(app.balance("USD").await, START_USD);
}

#[tokio::test]
async fn an_unknown_name_in_put_scenario_is_a_400_naming_it_and_activates_nothing() {
    let app = TestApp::spawn().await;
    for names in [json!([UNKNOWN]), json!(["rate_limited", UNKNOWN])] {
        let a = app
            .put("/_sandbox/scenario", Some(json!({ "scenarios": names })))
            .await;
        let errors = assert_error(&a, 400);
        assert_mentions(&errors, &[UNKNOWN]);
    }
    let s = app.get("/_sandbox/state").await;
    assert_eq!(s.body["scenarios"], json!([]), "{}", s.text);
    assert_eq!(app.balance("USD").await, START_USD);
}

#[tokio::test]
async fn an_unknown_name_in_client_transfer_id_is_a_400_naming_it_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    let a = app
        .initiate(
            &user,
            "",
            &format!(
                r#"{{"client_transfer_id":"sandbox:{UNKNOWN}#1","source_currency_code":"USD","destination_currency_code":"BTC","source_token":"{USD_SOURCE}","destination_token":"{BTC_DESTINATION}","source_amount":{AMOUNT}}}"#
            ),
        )
        .await;
    let errors = assert_error(&a, 400);
    assert_mentions(&errors, &[UNKNOWN]);
    let list = app.get(&format!("/payout/{user}")).await;
    assert_eq!(list.body, json!([]), "{}", list.text);
    assert_eq!(app.balance("USD").await, START_USD);
}

#[tokio::test]
async fn an_unknown_name_in_the_builder_refuses_to_start_naming_it() {
    let err = Sandbox::builder()
        .scenario(UNKNOWN)
        .start()
        .await
        .err()
        .expect("an unknown scenario must not start");
    assert!(err.to_string().contains(UNKNOWN), "{err}");
}

// ----- scenario files of one's own ----------------------------------------------------------------

/// A temporary directory of scenario files, removed when dropped.
struct ScenarioDir(PathBuf);

impl ScenarioDir {
    fn new(files: &[(&str, Value)]) -> ScenarioDir {
        let dir = std::env::temp_dir().join(format!(
            "masspay-sandbox-scenarios-{}",
            uuid::Uuid::new_v4()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, content) in files {
            std::fs::write(
                dir.join(format!("{name}.json")),
                serde_json::to_vec_pretty(content).unwrap(),
            )
            .unwrap();
        }
        ScenarioDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScenarioDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A sandbox with one custom scenario file `NAME.json`, turned on for this tenant by PUT.
async fn with_custom(name: &str, scenario: Value) -> TestApp {
    let dir = ScenarioDir::new(&[(name, scenario)]);
    let app = TestApp::spawn_with(Sandbox::builder().scenarios_dir(dir.path())).await;
    let a = app
        .put("/_sandbox/scenario", Some(json!({ "scenarios": [name] })))
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    app
}

#[tokio::test]
async fn call_nth_fires_only_on_the_nth_matching_call() {
    let app = with_custom(
        "second_commit_fails",
        json!({"rules": [{
            "when": {"operation": "commitPayoutTxn", "call": {"nth": 2}},
            "then": {"commit_status": "failure", "status_reason": "Payer is offline"}
        }]}),
    )
    .await;
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    // Calls of other operations do not count.
    for _ in 0..3 {
        assert_eq!(app.balance("USD").await, START_USD);
    }
    let mut statuses = Vec::new();
    let mut payouts = Vec::new();
    for _ in 0..3 {
        let p = app.pending_btc_payout(&user, AMOUNT).await;
        statuses.push(commit_status(&app.commit(&user, &p).await).to_string());
        payouts.push(p);
    }
    assert_eq!(statuses, ["success", "failure", "success"]);
    let p = app.payout(&user, &payouts[1]).await;
    assert_eq!(p.body["status"], "ERROR", "{}", p.text);
    assert_eq!(p.body["status_reason"], "Payer is offline", "{}", p.text);
    // Two debits of 102.99.
    assert_eq!(app.balance("USD").await, "249794.02");
}

#[tokio::test]
async fn a_user_condition_picks_users_by_country() {
    let app = with_custom(
        "mexicans_fail",
        json!({"rules": [{
            "when": {"operation": "commitPayoutTxn", "user": {"country": "MEX"}},
            "then": {"commit_status": "failure", "status_reason": "Payer is offline"}
        }]}),
    )
    .await;
    let usa = app.create_user().await;
    let mut body = seed_user("mx@example.com");
    body["country"] = json!("MEX");
    let a = app.post("/user", body).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let mex = a.body["user_token"].as_str().unwrap().to_string();

    for user in [&usa, &mex] {
        app.store_btc_wallet(user).await;
    }
    let p_mex = app.pending_btc_payout(&mex, AMOUNT).await;
    assert_eq!(commit_status(&app.commit(&mex, &p_mex).await), "failure");
    assert_eq!(app.payout_status(&mex, &p_mex).await, "ERROR");
    assert_eq!(app.balance("USD").await, START_USD);

    let p_usa = app.pending_btc_payout(&usa, AMOUNT).await;
    assert_eq!(commit_status(&app.commit(&usa, &p_usa).await), "success");
    assert_eq!(app.balance("USD").await, AFTER_ONE_DEBIT);
}

#[tokio::test]
async fn a_body_condition_with_matches_is_a_whole_string_regex() {
    let app = with_custom(
        "reject_batch",
        json!({"rules": [{
            "when": {"operation": "initiatePayout", "body": {"client_transfer_id": {"matches": "batch-[0-9]+"}}},
            "then": {"http_status": 503, "message": "batch payouts are paused"}
        }]}),
    )
    .await;
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    let initiate = |ctid: &str| btc_initiate_body(ctid, AMOUNT);
    let a = app.initiate(&user, "", &initiate("batch-42")).await;
    let errors = assert_fault(&a, 503, "Service unavailable.", MSG_503);
    assert_mentions(&errors, &["batch payouts are paused"]);
    let list = app.get(&format!("/payout/{user}")).await;
    assert_eq!(list.body, json!([]), "{}", list.text);

    // Whole string: a longer id, or one only containing the pattern, is not matched.
    for ctid in ["batch-42x", "xbatch-42", "single-1"] {
        let a = app.initiate(&user, "", &initiate(ctid)).await;
        assert_eq!(a.status, 200, "{ctid}: {}", a.text);
        assert_eq!(a.body["status"], "PENDING", "{ctid}: {}", a.text);
    }
}

#[tokio::test]
async fn an_amount_condition_takes_a_range_of_the_payouts_amount() {
    let app = with_custom(
        "mid_size_nsf",
        json!({"rules": [{
            "when": {"operation": "commitPayoutTxn", "amount": {"min": 100, "max": "200"}},
            "then": {"commit_status": "nsf"}
        }]}),
    )
    .await;
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    for (amount, expected) in [
        ("99.99", "success"),
        ("100", "nsf"),
        ("150.25", "nsf"),
        ("200", "nsf"),
        ("200.01", "success"),
    ] {
        let p = app.pending_btc_payout(&user, amount).await;
        let a = app.commit(&user, &p).await;
        assert_eq!(commit_status(&a), expected, "{amount}: {}", a.text);
        let state = if expected == "nsf" {
            "PENDING"
        } else {
            "COMPLETED"
        };
        assert_eq!(app.payout_status(&user, &p).await, state, "{amount}");
    }
    // Only 99.99 + 2.99 and 200.01 + 2.99 were debited.
    assert_eq!(app.balance("USD").await, "249694.02");
}

#[tokio::test]
async fn then_balance_sets_the_balance() {
    let dir = ScenarioDir::new(&[(
        "drained",
        json!({"rules": [{
            "when": {"operation": "getAccountBalance"},
            "then": {"balance": {"currency_code": "USD", "balance": "12.34"}}
        }]}),
    )]);
    let app = TestApp::spawn_with(Sandbox::builder().scenarios_dir(dir.path())).await;
    let a = answer(
        app.request(Method::GET, "/account/balance")
            .header("X-Sandbox-Scenario", "drained"),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(balance_text(&a.text, "USD"), "12.34");
    // It set the balance: it stays after the request, and payouts see it.
    assert_eq!(app.balance("USD").await, "12.34");
    assert_eq!(app.balance("BTC").await, "1.938135");
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    let a = app.initiate_btc(&user, AMOUNT).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["payout_token"], "NSF", "{}", a.text);
    assert_eq!(app.balance("USD").await, "12.34");
}

#[tokio::test]
async fn then_exchange_rate_changes_the_quote() {
    let app = with_custom(
        "cheap_btc",
        json!({"rules": [{
            "when": {"operation": "initiatePayout"},
            "then": {"exchange_rate": "0.00002"}
        }]}),
    )
    .await;
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    let a = app.initiate_btc(&user, AMOUNT).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(number_text(&a.text, "exchange_rate"), "0.00002");
    assert_eq!(number_text(&a.text, "destination_amount"), "0.002");
    let payout = a.body["payout_token"].as_str().unwrap().to_string();
    let p = app.payout(&user, &payout).await;
    assert_eq!(number_text(&p.text, "exchange_rate"), "0.00002");
    assert_eq!(number_text(&p.text, "destination_amount"), "0.002");

    // Off again: the catalog's rate (0.00001052).
    let a = app.delete("/_sandbox/scenario").await;
    assert_eq!(a.status, 204, "{}", a.text);
    let a = app.initiate_btc(&user, AMOUNT).await;
    assert_eq!(number_text(&a.text, "exchange_rate"), "0.00001052");
    assert_eq!(number_text(&a.text, "destination_amount"), "0.001052");
}

#[tokio::test]
async fn http_status_500_on_one_operation_only() {
    let app = with_custom(
        "balance_down",
        json!({"rules": [{
            "when": {"operation": "getAccountBalance"},
            "then": {"http_status": 500, "message": "ledger unreachable"}
        }]}),
    )
    .await;
    let a = app.get("/account/balance").await;
    let errors = assert_fault(&a, 500, "Internal server error.", MSG_500);
    assert_mentions(&errors, &["ledger unreachable"]);

    // Every other operation works, money included.
    let a = app.get("/country/list").await;
    assert_eq!(a.status, 200, "{}", a.text);
    let (user, payout) = plain_payout(&app).await;
    assert_eq!(commit_status(&app.commit(&user, &payout).await), "success");
    assert_eq!(state_balance(&app, "USD").await, AFTER_ONE_DEBIT);
}

#[tokio::test]
async fn a_custom_file_is_reachable_by_every_activation_path() {
    let rule = json!({"rules": [{
        "when": {"operation": "commitPayoutTxn"},
        "then": {"commit_status": "failure", "status_reason": "Payer is offline"}
    }]});
    for via in [Via::Flag, Via::Header, Via::Tenant, Via::TransferId] {
        let dir = ScenarioDir::new(&[("payer_offline", rule.clone())]);
        let mut builder = Sandbox::builder().scenarios_dir(dir.path());
        if via == Via::Flag {
            builder = builder.scenario("payer_offline");
        }
        let r = Run {
            app: TestApp::spawn_with(builder).await,
            via,
            name: "payer_offline",
        };
        let (user, payout) = r.pending_payout().await;
        let a = r.commit_under(&user, &payout).await;
        assert_eq!(commit_status(&a), "failure", "{via:?}: {}", a.text);
        let p = r.app.payout(&user, &payout).await;
        assert_eq!(p.body["status_reason"], "Payer is offline", "{via:?}");
        assert_eq!(r.app.balance("USD").await, START_USD, "{via:?}");
    }
}

#[tokio::test]
async fn call_counts_are_kept_per_tenant() {
    let dir = ScenarioDir::new(&[(
        "second_commit_fails",
        json!({"rules": [{
            "when": {"operation": "commitPayoutTxn", "call": {"nth": 2}},
            "then": {"commit_status": "failure"}
        }]}),
    )]);
    let app = TestApp::spawn_with(
        Sandbox::builder()
            .scenarios_dir(dir.path())
            .scenario("second_commit_fails"),
    )
    .await;
    let other = app.other_tenant();
    let (user, p1) = plain_payout(&app).await;
    let p2 = app.pending_btc_payout(&user, AMOUNT).await;
    let (other_user, other_p1) = plain_payout(&other).await;

    assert_eq!(commit_status(&app.commit(&user, &p1).await), "success");
    // The other tenant's first commit is its first, not the sandbox's second.
    assert_eq!(
        commit_status(&other.commit(&other_user, &other_p1).await),
        "success"
    );
    assert_eq!(commit_status(&app.commit(&user, &p2).await), "failure");
    assert_eq!(app.payout_status(&user, &p2).await, "ERROR");
    assert_eq!(app.balance("USD").await, AFTER_ONE_DEBIT);
    assert_eq!(other.balance("USD").await, AFTER_ONE_DEBIT);
}

#[tokio::test]
async fn call_first_limits_a_fault_to_the_first_calls_and_retry_after_is_as_written() {
    let app = with_custom(
        "flaky_balance",
        json!({"rules": [{
            "when": {"operation": "getAccountBalance", "call": {"first": 2}},
            "then": {"http_status": 429, "retry_after": 7}
        }]}),
    )
    .await;
    for _ in 0..2 {
        let a = app.get("/account/balance").await;
        assert_fault(&a, 429, "Too many requests.", MSG_429);
        assert_eq!(
            a.headers.get("retry-after").and_then(|v| v.to_str().ok()),
            Some("7"),
            "{:?}",
            a.headers
        );
    }
    for _ in 0..2 {
        assert_eq!(app.balance("USD").await, START_USD);
    }
}

#[tokio::test]
async fn path_conditions_and_operation_lists_pick_the_requests() {
    let app = with_custom(
        "mexico_down",
        json!({"rules": [{
            "when": {
                "operation": ["getCountryServices", "getCheapestCountryServices"],
                "path": {"country_code": "MEX"}
            },
            "then": {"http_status": 503}
        }]}),
    )
    .await;
    for path in ["/country/MEX", "/country/MEX/best", "/country/MEX/cheapest"] {
        assert_503(&app.get(path).await);
    }
    for path in ["/country/USA", "/country/USA/best", "/country/list"] {
        let a = app.get(path).await;
        assert_eq!(a.status, 200, "{path}: {}", a.text);
    }
}

const MSG_504: &str = "The request timed out while waiting for a response from the server. Please try again later or contact support if the issue persists.";

#[tokio::test]
async fn a_504_on_commit_leaves_the_payout_to_be_committed_by_a_retry() {
    let app = with_custom(
        "commit_times_out",
        json!({"rules": [{
            "when": {"operation": "commitPayoutTxn", "call": {"first": 1}},
            "then": {"http_status": 504}
        }]}),
    )
    .await;
    let (user, payout) = plain_payout(&app).await;
    let a = app.commit(&user, &payout).await;
    assert_fault(&a, 504, "Gateway Time-out.", MSG_504);
    assert_eq!(app.payout_status(&user, &payout).await, "PENDING");
    assert_eq!(app.balance("USD").await, START_USD);
    assert_eq!(commit_status(&app.commit(&user, &payout).await), "success");
    assert_eq!(app.balance("USD").await, AFTER_ONE_DEBIT);
}

#[tokio::test]
async fn an_injected_fault_is_not_stored_under_an_idempotency_key() {
    let app = TestApp::spawn().await;
    let (user, payout) = plain_payout(&app).await;
    let path = format!("/payout/{user}/{payout}");
    let key = format!("idem-{}", uuid::Uuid::new_v4());
    for scenario in ["server_error", "rate_limited"] {
        let a = answer(
            app.request(Method::PUT, &path)
                .header("Idempotency-Key", key.as_str())
                .header("X-Sandbox-Scenario", scenario),
        )
        .await;
        assert!(a.status == 503 || a.status == 429, "{}", a.text);
        assert_eq!(app.balance("USD").await, START_USD);
    }
    // The retry runs (it is not a replay of the fault) …
    let a = answer(
        app.request(Method::PUT, &path)
            .header("Idempotency-Key", key.as_str()),
    )
    .await;
    assert_eq!(commit_status(&a), "success", "{}", a.text);
    assert!(
        a.headers.get("idempotent-replayed").is_none(),
        "{:?}",
        a.headers
    );
    assert_eq!(app.balance("USD").await, AFTER_ONE_DEBIT);
    // … and from then on that success is what the key replays, with no second debit.
    let a = answer(
        app.request(Method::PUT, &path)
            .header("Idempotency-Key", key.as_str()),
    )
    .await;
    assert_eq!(commit_status(&a), "success", "{}", a.text);
    assert_eq!(
        a.headers
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true"),
        "{:?}",
        a.headers
    );
    assert_eq!(app.balance("USD").await, AFTER_ONE_DEBIT);
}

#[tokio::test]
async fn a_client_transfer_id_can_name_several_scenarios() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    let started = Instant::now();
    let a = app
        .initiate(
            &user,
            "",
            &format!(
                r#"{{"client_transfer_id":"sandbox:slow,payout_failure#7","source_currency_code":"USD","destination_currency_code":"BTC","source_token":"{USD_SOURCE}","destination_token":"{BTC_DESTINATION}","source_amount":{AMOUNT}}}"#
            ),
        )
        .await;
    assert!(started.elapsed() >= SLOW, "{:?}", started.elapsed());
    assert_eq!(a.status, 200, "{}", a.text);
    let payout = a.body["payout_token"].as_str().unwrap().to_string();
    let started = Instant::now();
    let a = app.commit(&user, &payout).await;
    assert!(started.elapsed() >= SLOW, "{:?}", started.elapsed());
    assert_eq!(commit_status(&a), "failure", "{}", a.text);
    assert_eq!(app.payout_status(&user, &payout).await, "ERROR");
    assert_eq!(app.balance("USD").await, START_USD);
}

#[tokio::test]
async fn the_header_does_not_touch_the_admin_api_or_health() {
    let app = TestApp::spawn().await;
    for path in ["/_sandbox/state", "/_sandbox/clock", "/health"] {
        for scenario in ["server_error", "rate_limited"] {
            let a = answer(
                app.request(Method::GET, path)
                    .header("X-Sandbox-Scenario", scenario),
            )
            .await;
            assert_eq!(a.status, 200, "{path} with {scenario}: {}", a.text);
        }
    }
}

/// Loads one scenario file with the builder and returns why it refused to start.
async fn refusal(name: &str, content: &str) -> String {
    let dir = ScenarioDir::new(&[]);
    std::fs::write(dir.path().join(format!("{name}.json")), content).unwrap();
    let err = Sandbox::builder()
        .scenarios_dir(dir.path())
        .start()
        .await
        .err()
        .unwrap_or_else(|| panic!("{name}.json was accepted: {content}"));
    err.to_string()
}

#[tokio::test]
async fn bad_scenario_files_refuse_to_start_naming_file_rule_and_reason() {
    for (content, needles) in [
        (
            r#"{"rules":[{"when":{"operation":"commitPayoutTxn"},"then":{"latency_ms":1}},{"when":{"operation":"launchRocket"},"then":{"latency_ms":1}}]}"#,
            vec!["rules[1]", "launchRocket"],
        ),
        (
            r#"{"rules":[{"when":{"operation":"*","body":{"client_transfer_id":{"matches":"(unclosed"}}},"then":{"latency_ms":1}}]}"#,
            vec!["rules[0]", "client_transfer_id", "regex"],
        ),
        (
            r#"{"rules":[{"when":{"operation":"commitPayoutTxn","user":{"shoe_size":"42"}},"then":{"commit_status":"nsf"}}]}"#,
            vec!["rules[0]", "shoe_size"],
        ),
        (
            r#"{"rules":[{"when":{"operation":"commitPayoutTxn"},"then":{"require_attribute":"favourite_colour"}}]}"#,
            vec!["rules[0]", "favourite_colour"],
        ),
        (
            r#"{"rules":[{"when":{"operation":"commitPayoutTxn"},"then":{"commit_status":"maybe"}}]}"#,
            vec!["rules[0]", "maybe"],
        ),
    ] {
        let message = refusal("broken_file", content).await;
        assert!(message.contains("broken_file.json"), "{message}");
        for n in needles {
            assert!(message.contains(n), "{n:?} not in {message:?}");
        }
    }
}

#[tokio::test]
async fn reset_restarts_the_call_counts() {
    let dir = ScenarioDir::new(&[(
        "first_balance_fails",
        json!({"rules": [{
            "when": {"operation": "getAccountBalance", "call": {"first": 1}},
            "then": {"http_status": 503}
        }]}),
    )]);
    let app = TestApp::spawn_with(
        Sandbox::builder()
            .scenarios_dir(dir.path())
            .scenario("first_balance_fails"),
    )
    .await;
    assert_503(&app.get("/account/balance").await);
    assert_eq!(app.balance("USD").await, START_USD);
    let a = app.send(Method::POST, "/_sandbox/reset", None).await;
    assert_eq!(a.status, 204, "{}", a.text);
    assert_503(&app.get("/account/balance").await);
    assert_eq!(app.balance("USD").await, START_USD);
}

/// A payout asked for by `destination_amount`: its amount as requested is that amount (the one
/// magic values read, and the one an initiate rule's `amount` sees), so a rule's `amount` must
/// match its commit the same way it matched its initiate.
#[tokio::test]
async fn an_amount_condition_reads_a_payout_the_same_way_at_initiate_and_commit() {
    let app = with_custom(
        "large_mxn",
        json!({"rules": [
            {"when": {"operation": "initiatePayout", "amount": {"min": 500, "max": 2000}},
             "then": {"exchange_rate": "20"}},
            {"when": {"operation": "commitPayoutTxn", "amount": {"min": 500, "max": 2000}},
             "then": {"commit_status": "nsf"}}
        ]}),
    )
    .await;
    let user = app.create_user().await;
    let a = app
        .store_attributes(
            &user,
            MXN_BANK_DESTINATION,
            "MXN",
            &[
                (CLABE_ATTR, "012180001234567897"),
                (HOLDER_NAME_ATTR, "Juan Pérez"),
            ],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let a = app
        .initiate(
            &user,
            "",
            &format!(
                r#"{{"source_currency_code":"USD","destination_currency_code":"MXN","source_token":"{USD_SOURCE}","destination_token":"{MXN_BANK_DESTINATION}","destination_amount":1000}}"#
            ),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    // The initiate rule matched: 1000 MXN at the scenario's rate of 20 is 50 USD.
    assert_eq!(number_text(&a.text, "exchange_rate"), "20");
    assert_eq!(number_text(&a.text, "source_amount"), "50");
    let payout = a.body["payout_token"].as_str().unwrap().to_string();
    // The same payout, the same amount: the commit rule matches too.
    let a = app.commit(&user, &payout).await;
    assert_eq!(commit_status(&a), "nsf", "{}", a.text);
    assert_eq!(app.payout_status(&user, &payout).await, "PENDING");
    assert_eq!(app.balance("USD").await, START_USD);
}

/// One simulation whichever API version a client speaks: the header, the tenant's scenarios and
/// a payout's magic amount act on the 1.0.0 routes too.
#[tokio::test]
async fn scenarios_and_magic_act_on_api_1_0_0_routes_too() {
    let app = TestApp::spawn().await;
    let a = answer(
        app.request(Method::GET, "/v1.0.0/payout/account/balance")
            .header("X-Sandbox-Scenario", "rate_limited"),
    )
    .await;
    assert_429(&a);
    let a = app.get("/v1.0.0/payout/account/balance").await;
    assert_eq!(a.status, 200, "{}", a.text);

    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    let payout = app.pending_btc_payout(&user, "20.51").await;
    let a = app
        .put(&format!("/v1.0.0/payout/{user}/{payout}"), None)
        .await;
    assert_eq!(commit_status(&a), "nsf", "{}", a.text);
    assert_eq!(app.payout_status(&user, &payout).await, "PENDING");

    let a = app
        .put(
            "/_sandbox/scenario",
            Some(json!({"scenarios": ["server_error"]})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_503(&app.get("/v1.0.0/payout/account/balance").await);
    assert_503(&app.get(&format!("/v1.0.0/payout/{user}/{payout}")).await);
    assert_eq!(state_balance(&app, "USD").await, START_USD);
}
