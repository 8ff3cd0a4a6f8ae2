//! The admin API under `/_sandbox`: reset, state dump, balances, the request journal, the clock.
//! Each call acts on the caller's tenant only.

use crate::helpers::*;
use chrono::{DateTime, FixedOffset};
use reqwest::Method;
use serde_json::{json, Value};

fn time(v: &Value) -> DateTime<FixedOffset> {
    let s = v.as_str().unwrap_or_else(|| panic!("not a string: {v}"));
    DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

async fn clock(app: &TestApp) -> DateTime<FixedOffset> {
    let a = app.get("/_sandbox/clock").await;
    assert_eq!(a.status, 200, "{}", a.text);
    time(&a.body["now"])
}

async fn journal(app: &TestApp, query: &str) -> Vec<Value> {
    let a = app.get(&format!("/_sandbox/requests{query}")).await;
    assert_eq!(a.status, 200, "{}", a.text);
    a.body.as_array().expect("a JSON array").clone()
}

#[tokio::test]
async fn reset_puts_the_tenant_back_to_the_fixtures() {
    let app = TestApp::spawn().await;
    let start = clock(&app).await;
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    let payout = app.pending_btc_payout(&user, "100").await;
    assert_eq!(app.commit(&user, &payout).await.body["status"], "success");
    assert_eq!(app.set_balance("BTC", "0.5").await.status, 200);
    app.advance_clock(86_400).await;

    let a = app.send(Method::POST, "/_sandbox/reset", None).await;
    assert_eq!(a.status, 204, "{}", a.text);
    assert!(a.text.is_empty(), "{}", a.text);

    assert_error(&app.get(&format!("/user/{user}")).await, 404);
    for (currency, initial) in INITIAL_BALANCES {
        assert_eq!(app.balance(currency).await, *initial, "{currency}");
    }
    let now = clock(&app).await;
    assert!(
        (now - start).num_seconds() < 60,
        "clock {now} not back near {start}"
    );
    let state = app.get("/_sandbox/state").await;
    for key in ["users", "attributes", "payouts"] {
        assert_eq!(state.body[key], json!([]), "{key}: {}", state.text);
    }
    // The same e-mail can be used again.
    let a = app.post("/user", seed_user("jdoe@gmail.com")).await;
    assert_eq!(a.status, 200, "{}", a.text);
}

#[tokio::test]
async fn reset_leaves_other_tenants_alone() {
    let app = TestApp::spawn().await;
    let other = app.other_tenant();
    let their_user = other.create_user().await;
    assert_eq!(other.set_balance("USD", "5").await.status, 200);

    let a = app.send(Method::POST, "/_sandbox/reset", None).await;
    assert_eq!(a.status, 204, "{}", a.text);
    assert_eq!(other.get(&format!("/user/{their_user}")).await.status, 200);
    assert_eq!(other.balance("USD").await, "5");
}

#[tokio::test]
async fn the_state_dump_shows_the_tenants_objects() {
    let app = TestApp::spawn().await;
    let a = app.get("/_sandbox/state").await;
    assert_eq!(a.status, 200, "{}", a.text);
    let keys: Vec<&String> = a.body.as_object().expect("an object").keys().collect();
    for key in [
        "users",
        "attributes",
        "payouts",
        "balances",
        "clock",
        "scenarios",
    ] {
        assert!(keys.iter().any(|k| *k == key), "{key} missing: {}", a.text);
    }
    for key in ["users", "attributes", "payouts", "scenarios"] {
        assert!(a.body[key].is_array(), "{key}: {}", a.text);
    }
    time(&a.body["clock"]);
    let balances = serde_json::to_string(&a.body["balances"]).unwrap();
    assert_eq!(
        a.body["balances"].as_array().map(Vec::len),
        Some(INITIAL_BALANCES.len())
    );
    for (currency, _) in INITIAL_BALANCES {
        assert!(balances.contains(currency), "{currency}: {balances}");
    }

    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    let payout = app.pending_btc_payout(&user, "100").await;
    let a = app.get("/_sandbox/state").await;
    assert_eq!(
        a.body["users"][0]["user_token"],
        user.as_str(),
        "{}",
        a.text
    );
    let set = &a.body["attributes"][0];
    assert_eq!(set["user_token"], user.as_str(), "{}", a.text);
    assert_eq!(set["destination_token"], BTC_DESTINATION);
    assert_eq!(set["currency"], "BTC");
    assert!(set["attr_set_token"]
        .as_str()
        .is_some_and(|t| t.starts_with("attr_set_")));
    assert!(set["values"].to_string().contains(BTC_ADDRESS), "{set}");
    assert_eq!(a.body["payouts"][0]["payout_token"], payout.as_str());
    assert_eq!(a.body["payouts"][0]["status"], "PENDING");
    // Balances in the dump are exact JSON numbers too.
    let raw_balances: Vec<String> = {
        let fields: std::collections::HashMap<String, Box<serde_json::value::RawValue>> =
            serde_json::from_str(&a.text).unwrap();
        raw_items(fields["balances"].get())
    };
    assert!(raw_balances
        .iter()
        .any(|b| b.contains("\"USD\"") && number_text(b, "balance") == "250000"));
}

#[tokio::test]
async fn put_balance_takes_a_string_or_a_number() {
    let app = TestApp::spawn().await;
    let a = app.set_balance("USD", "\"1000.00\"").await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["currency_code"], "USD");
    assert_eq!(a.body["token"], USD_SOURCE);
    assert_eq!(number_text(&a.text, "balance"), "1000");
    assert_eq!(app.balance("USD").await, "1000");

    let a = app.set_balance("USD", "1000.5").await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(app.balance("USD").await, "1000.5");

    let a = app.set_balance("BTC", "0.12345678").await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(app.balance("BTC").await, "0.12345678");

    let a = app.set_balance("USD", "0").await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(app.balance("USD").await, "0");
}

#[tokio::test]
async fn put_balance_refuses_what_the_currency_cannot_hold() {
    let app = TestApp::spawn().await;
    for (currency, balance) in [
        ("USD", "\"10.001\""),
        ("USD", "10.001"),
        ("BTC", "0.123456789"),
        ("USD", "-1"),
        ("USD", "\"lots\""),
        ("USD", "true"),
        ("XYZ", "10"),
    ] {
        let a = app.set_balance(currency, balance).await;
        assert_eq!(a.status, 400, "{currency} {balance}: {}", a.text);
        assert_error(&a, 400);
    }
    let a = app
        .put("/_sandbox/balance", Some(json!({"currency_code": "USD"})))
        .await;
    assert_error(&a, 400);
    for (currency, initial) in INITIAL_BALANCES {
        assert_eq!(app.balance(currency).await, *initial, "{currency}");
    }
}

#[tokio::test]
async fn the_journal_lists_requests_filters_them_and_clears() {
    let app = TestApp::spawn().await;
    app.get("/account/balance").await;
    let user = app.create_user().await;
    app.get(&format!("/user/{user}")).await;
    let unknown = format!("usr_{}", uuid::Uuid::new_v4());
    assert_eq!(app.get(&format!("/user/{unknown}")).await.status, 404);
    let a = app
        .request(Method::GET, "/account/balance")
        .header("Idempotency-Key", "key-123")
        .send()
        .await
        .unwrap();
    assert_eq!(a.status(), 200);

    let all = journal(&app, "").await;
    assert_eq!(all.len(), 5, "{all:?}");
    for e in &all {
        for field in ["method", "path", "status", "at"] {
            assert!(!e[field].is_null(), "{field} missing in {e}");
        }
        assert!(e.get("idempotency_key").is_some(), "{e}");
        time(&e["at"]);
    }
    assert_eq!(all[0]["method"], "GET");
    assert!(all[0]["path"]
        .as_str()
        .unwrap()
        .ends_with("/account/balance"));
    assert_eq!(all[0]["status"], 200);
    assert_eq!(all[1]["method"], "POST");
    assert_eq!(all[3]["status"], 404);
    assert_eq!(all[4]["idempotency_key"], "key-123");

    let posts = journal(&app, "?method=POST").await;
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert!(posts[0]["path"].as_str().unwrap().ends_with("/user"));
    let posts_lower = journal(&app, "?method=post").await;
    assert_eq!(posts_lower, posts);

    let user_paths = journal(&app, "?path=/user/").await;
    assert_eq!(user_paths.len(), 2, "{user_paths:?}");
    let one = journal(&app, &format!("?path={user}")).await;
    assert_eq!(one.len(), 1, "{one:?}");
    let both = journal(&app, "?method=GET&path=/account/balance").await;
    assert_eq!(both.len(), 2, "{both:?}");

    // Another tenant's journal is its own.
    assert_eq!(journal(&app.other_tenant(), "").await.len(), 0);

    let a = app.delete("/_sandbox/requests").await;
    assert_eq!(a.status, 204, "{}", a.text);
    assert_eq!(journal(&app, "").await.len(), 0);
}

#[tokio::test]
async fn the_journal_records_the_path_as_requested() {
    let app = TestApp::spawn().await;
    app.get("/v0.1.0/account/balance").await;
    app.get("/v0.1.4/account/balance").await;
    let all = journal(&app, "").await;
    assert_eq!(all[0]["path"], "/v0.1.0/account/balance", "{all:?}");
    assert_eq!(all[1]["path"], "/v0.1.4/account/balance", "{all:?}");
    assert_eq!(journal(&app, "?path=/v0.1.0/").await.len(), 1);
}

#[tokio::test]
async fn the_clock_advances_per_tenant_and_only_forward() {
    let app = TestApp::spawn().await;
    let other = app.other_tenant();
    let before = clock(&app).await;
    let their_before = clock(&other).await;

    let a = app
        .post("/_sandbox/clock/advance", json!({"seconds": 3600}))
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let advanced = time(&a.body["now"]);
    let moved = (advanced - before).num_seconds();
    assert!((3600..3660).contains(&moved), "moved {moved} s");
    let now = clock(&app).await;
    assert!((now - advanced).num_seconds() < 60);
    assert!((clock(&other).await - their_before).num_seconds() < 60);

    for bad in [
        json!({"seconds": -1}),
        json!({"seconds": 1.5}),
        json!({"seconds": "60"}),
        json!({}),
    ] {
        let a = app.post("/_sandbox/clock/advance", bad.clone()).await;
        assert_eq!(a.status, 400, "{bad}: {}", a.text);
        assert_error(&a, 400);
    }
    assert!((clock(&app).await - now).num_seconds() < 60);
}
