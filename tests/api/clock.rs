//! The per-tenant test clock (SPEC §4b, §6): reading it, `.start_time(…)`, advancing (this tenant
//! only), reset, and what follows it — quote expiry and bank-deposit settlement. Time is moved,
//! never waited for.

use chrono::{DateTime, Duration, Utc};
use masspay_sandbox::Sandbox;
use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

const START: &str = "2030-01-01T00:00:00Z";

fn t(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text:?} is not RFC 3339: {e}"))
        .with_timezone(&Utc)
}

/// A sandbox whose clocks start at [`START`].
async fn spawn_at_start() -> TestApp {
    TestApp::spawn_with(Sandbox::builder().start_time(t(START))).await
}

/// `GET /_sandbox/clock` → `{"now": RFC 3339}`.
async fn clock(app: &TestApp) -> DateTime<Utc> {
    let a = app.get("/_sandbox/clock").await;
    assert_eq!(a.status, 200, "{}", a.text);
    let now = a.body["now"]
        .as_str()
        .unwrap_or_else(|| panic!("no now: {}", a.text));
    t(now)
}

/// `now` lies in `[at, at + slack)`: the clock also runs with wall time, which a test only
/// bounds from above loosely.
fn assert_near(now: DateTime<Utc>, at: DateTime<Utc>) {
    assert!(
        now >= at - Duration::seconds(1) && now < at + Duration::seconds(60),
        "clock {now} is not near {at}"
    );
}

async fn advance(app: &TestApp, seconds: i64) -> DateTime<Utc> {
    let a = app
        .post("/_sandbox/clock/advance", json!({ "seconds": seconds }))
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    t(a.body["now"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", a.text)))
}

#[tokio::test]
async fn the_clock_starts_now_by_default() {
    let app = TestApp::spawn().await;
    let a = app.get("/_sandbox/clock").await;
    assert_eq!(a.status, 200, "{}", a.text);
    let now = a.body["now"].as_str().unwrap();
    assert!(now.ends_with('Z'), "{now}");
    assert_near(t(now), Utc::now() - Duration::seconds(5));
}

#[tokio::test]
async fn start_time_sets_the_clock() {
    let app = spawn_at_start().await;
    assert_near(clock(&app).await, t(START));
    // Every tenant starts there.
    assert_near(clock(&app.other_tenant()).await, t(START));
    // And a quote made now expires 120 s (quote_ttl_seconds) later on that clock.
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    let a = app.initiate_btc(&user, "100").await;
    assert_eq!(a.status, 200, "{}", a.text);
    let expiration = t(a.body["expiration"].as_str().unwrap());
    assert_near(expiration, t(START) + Duration::seconds(120));
}

#[tokio::test]
async fn advance_moves_only_this_tenant() {
    let app = spawn_at_start().await;
    let other = app.other_tenant();
    let now = advance(&app, 3600).await;
    assert_near(now, t(START) + Duration::hours(1));
    assert_near(clock(&app).await, t(START) + Duration::hours(1));
    assert_near(clock(&other).await, t(START));

    // Advances add up.
    let now = advance(&app, 86_400).await;
    assert_near(now, t(START) + Duration::hours(25));
    assert_near(clock(&other).await, t(START));
}

#[tokio::test]
async fn time_only_moves_forward() {
    let app = spawn_at_start().await;
    let a = app
        .post("/_sandbox/clock/advance", json!({ "seconds": -60 }))
        .await;
    assert_error(&a, 400);
    assert_near(clock(&app).await, t(START));
}

#[tokio::test]
async fn reset_restores_the_clock() {
    let app = spawn_at_start().await;
    advance(&app, 7 * 86_400).await;
    assert_near(clock(&app).await, t(START) + Duration::days(7));
    let a = app.send(Method::POST, "/_sandbox/reset", None).await;
    assert_eq!(a.status, 204, "{}", a.text);
    assert_near(clock(&app).await, t(START));
}

#[tokio::test]
async fn a_quote_expires_when_the_clock_passes_its_expiration() {
    let app = spawn_at_start().await;
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    let first = app.pending_btc_payout(&user, "100").await;
    let second = app.pending_btc_payout(&user, "100").await;

    // Another tenant's quote made at the same time is not moved by this tenant's clock.
    let other = app.other_tenant();
    let other_user = other.create_user().await;
    other.store_btc_wallet(&other_user).await;
    let other_payout = other.pending_btc_payout(&other_user, "100").await;

    // 100 s later both quotes are still good.
    advance(&app, 100).await;
    assert_eq!(app.payout_status(&user, &second).await, "PENDING");
    let a = app.commit(&user, &first).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["status"], "success", "{}", a.text);

    // 121 s after initiate the second has expired: CANCELLED, and its commit says so.
    advance(&app, 21).await;
    let p = app.payout(&user, &second).await;
    assert_eq!(p.body["status"], "CANCELLED", "{}", p.text);
    let a = app.commit(&user, &second).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["status"], "ex_rate_expired", "{}", a.text);
    assert_eq!(app.payout_status(&user, &second).await, "CANCELLED");
    assert_eq!(app.payout_status(&user, &first).await, "COMPLETED");
    // Only the first was debited: 250000 − 102.99.
    assert_eq!(app.balance("USD").await, "249897.01");

    assert_eq!(
        other.payout_status(&other_user, &other_payout).await,
        "PENDING"
    );
    let a = other.commit(&other_user, &other_payout).await;
    assert_eq!(a.body["status"], "success", "{}", a.text);
}

/// A user with CLABE and holder name stored, and a committed 100 USD → MXN bank deposit.
async fn committed_bank_deposit(app: &TestApp) -> (String, String, DateTime<Utc>) {
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
                r#"{{"source_currency_code":"USD","destination_currency_code":"MXN","source_token":"{USD_SOURCE}","destination_token":"{MXN_BANK_DESTINATION}","source_amount":100}}"#
            ),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["status"], "PENDING", "{}", a.text);
    assert_eq!(a.body["delivery_type"], "BANK_DEPOSIT", "{}", a.text);
    let payout = a.body["payout_token"].as_str().unwrap().to_string();
    let available = t(a.body["estimated_availability"].as_str().unwrap());

    let c = app.commit(&user, &payout).await;
    assert_eq!(c.status, 200, "{}", c.text);
    assert_eq!(c.body["status"], "success", "{}", c.text);
    (user, payout, available)
}

#[tokio::test]
async fn a_bank_deposit_settles_when_the_clock_passes_its_estimated_availability() {
    let app = spawn_at_start().await;
    let (user, payout, available) = committed_bank_deposit(&app).await;
    // The payer's availability_seconds (3600) after the quote.
    assert_near(available, t(START) + Duration::hours(1));

    assert_eq!(app.payout_status(&user, &payout).await, "PROCESSING");
    // 100 + 3.99 debited at commit, once.
    assert_eq!(app.balance("USD").await, "249896.01");

    // A minute before: still on its way.
    let to_go = (available - clock(&app).await).num_seconds();
    assert!(to_go > 60, "{to_go}");
    advance(&app, to_go - 60).await;
    assert_eq!(app.payout_status(&user, &payout).await, "PROCESSING");

    // Past it: delivered, wherever the payout is read.
    advance(&app, 120).await;
    let p = app.payout(&user, &payout).await;
    assert_eq!(p.body["status"], "COMPLETED", "{}", p.text);
    let list = app.get(&format!("/payout/{user}")).await;
    assert_eq!(list.body[0]["status"], "COMPLETED", "{}", list.text);
    let state = app.get("/_sandbox/state").await;
    assert_eq!(
        state.body["payouts"][0]["status"], "COMPLETED",
        "{}",
        state.text
    );
    assert_eq!(app.balance("USD").await, "249896.01");

    // Committing again never debits again.
    let a = app.commit(&user, &payout).await;
    assert_eq!(a.body["status"], "success", "{}", a.text);
    assert_eq!(a.body["errors"], "Duplicate transfer", "{}", a.text);
    assert_eq!(app.balance("USD").await, "249896.01");
}

#[tokio::test]
async fn settlement_follows_only_the_advancing_tenants_clock() {
    let app = spawn_at_start().await;
    let other = app.other_tenant();
    let (user, payout, _) = committed_bank_deposit(&app).await;
    let (other_user, other_payout, _) = committed_bank_deposit(&other).await;

    advance(&app, 2 * 3600).await;
    assert_eq!(app.payout_status(&user, &payout).await, "COMPLETED");
    assert_eq!(
        other.payout_status(&other_user, &other_payout).await,
        "PROCESSING"
    );
    assert_eq!(other.balance("USD").await, "249896.01");
    assert_eq!(
        app.balance("USD").await,
        "249896.01",
        "settling does not debit again"
    );
}
