//! Snapshots (`/_sandbox/snapshots`): save the caller tenant's whole state under a name, restore
//! it (a checkpoint per test instead of replaying set-up), list and drop them.

use crate::helpers::*;
use masspay_sandbox::Sandbox;
use reqwest::Method;
use serde_json::{json, Value};

async fn save(app: &TestApp, name: &str) -> Answer {
    app.post("/_sandbox/snapshots", json!({ "name": name }))
        .await
}

async fn restore(app: &TestApp, name: &str) -> Answer {
    app.send(
        Method::POST,
        &format!("/_sandbox/snapshots/{name}/restore"),
        None,
    )
    .await
}

async fn names(app: &TestApp) -> Vec<String> {
    let a = app.get("/_sandbox/snapshots").await;
    assert_eq!(a.status, 200, "{}", a.text);
    a.body
        .as_array()
        .expect("a JSON array")
        .iter()
        .map(|s| s["name"].as_str().expect("name").to_string())
        .collect()
}

/// The user's USD funds wallet: (token, balance as the API wrote it).
async fn funds_wallet(app: &TestApp, user: &str) -> (String, String) {
    let a = app.get(&format!("/wallet/{user}")).await;
    assert_eq!(a.status, 200, "wallets: {}", a.text);
    let raw = raw_items(&a.text)
        .into_iter()
        .find(|w| serde_json::from_str::<Value>(w).unwrap()["type"] == "USER_FUNDS")
        .expect("a USER_FUNDS wallet");
    let token = serde_json::from_str::<Value>(&raw).unwrap()["token"]
        .as_str()
        .expect("token")
        .to_string();
    (token, number_text(&raw, "balance"))
}

async fn load(app: &TestApp, user: &str, id: &str, amount: &str) {
    let a = app
        .send_text(
            Method::POST,
            &format!("/load/{user}"),
            &format!(
                r#"{{"client_load_id":"{id}","source_token":"{USD_SOURCE}","amount":{amount}}}"#
            ),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["status"], "COMPLETED", "{}", a.text);
}

#[tokio::test]
async fn a_snapshot_taken_mid_flow_restores_and_the_flow_completes_with_exact_balances() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    load(&app, &user, "first", "10").await;
    let payout = app.pending_btc_payout(&user, "100.5").await;
    let fee = dec(&number_text(&app.payout(&user, &payout).await.text, "fee"));
    assert_eq!(app.balance("USD").await, "249990");

    let a = save(&app, "mid-flow").await;
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(a.body["name"], "mid-flow", "{}", a.text);
    assert_eq!(a.body["users"], 1, "{}", a.text);
    assert_eq!(a.body["payouts"], 1, "{}", a.text);

    // Everything after the snapshot: the commit, another load, another user, a balance change.
    assert_eq!(app.commit(&user, &payout).await.body["status"], "success");
    load(&app, &user, "second", "5").await;
    let later_user = app.create_user().await;
    assert_eq!(app.set_balance("BTC", "0.5").await.status, 200);
    assert_eq!(app.payout_status(&user, &payout).await, "COMPLETED");

    let a = restore(&app, "mid-flow").await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["name"], "mid-flow", "{}", a.text);
    // Back to the snapshot: the payout pending and not debited, the later objects gone.
    assert_eq!(app.payout_status(&user, &payout).await, "PENDING");
    assert_eq!(app.balance("USD").await, "249990");
    assert_eq!(app.balance("BTC").await, "1.938135");
    assert_eq!(funds_wallet(&app, &user).await.1, "10");
    assert_error(&app.get(&format!("/user/{later_user}")).await, 404);
    // The load id used after the snapshot is free again; the one before is not.
    load(&app, &user, "second", "5").await;
    assert_eq!(funds_wallet(&app, &user).await.1, "15");

    // The flow completes, debiting exactly once.
    let a = app.commit(&user, &payout).await;
    assert_eq!(a.body["status"], "success", "{}", a.text);
    assert!(
        a.body.get("errors").is_none_or(Value::is_null),
        "{}",
        a.text
    );
    let expected = dec("249985") - (dec("100.5") + fee);
    assert_eq!(dec(&app.balance("USD").await), expected);
    assert_eq!(app.balance("USD").await, "249881.51", "fee {fee}");
    let again = app.commit(&user, &payout).await;
    assert_eq!(again.body["errors"], "Duplicate transfer", "{}", again.text);
    assert_eq!(app.balance("USD").await, "249881.51");

    // A snapshot is kept after its restore: the same checkpoint serves the next test.
    let a = restore(&app, "mid-flow").await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(app.payout_status(&user, &payout).await, "PENDING");
    assert_eq!(app.balance("USD").await, "249990");
}

#[tokio::test]
async fn restore_brings_back_the_clock_scenarios_attributes_and_idempotency_keys() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    app.advance_clock(3600).await;
    let a = app
        .put(
            "/_sandbox/scenario",
            Some(json!({"scenarios": ["insufficient_funds"]})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let body = seed_user("idem@example.com");
    let first = answer(
        app.request(Method::POST, "/user")
            .header("Idempotency-Key", "create-once")
            .json(&body),
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.text);
    let snapshot_clock = app.get("/_sandbox/clock").await.body["now"].clone();
    assert_eq!(save(&app, "set-up").await.status, 201);

    app.advance_clock(86_400).await;
    assert_eq!(app.delete("/_sandbox/scenario").await.status, 204);
    let a = app
        .store_attributes(
            &user,
            BTC_DESTINATION,
            "BTC",
            &[(CHECKING_ATTR, &"1".repeat(50))],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);

    assert_eq!(restore(&app, "set-up").await.status, 200);
    let now = app.get("/_sandbox/clock").await.body["now"].clone();
    let seconds = |v: &Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
            .unwrap()
            .timestamp()
    };
    let drift = seconds(&now) - seconds(&snapshot_clock);
    assert!((0..30).contains(&drift), "clock {now} vs {snapshot_clock}");
    let state = app.get("/_sandbox/state").await;
    assert_eq!(
        state.body["scenarios"],
        json!(["insufficient_funds"]),
        "{}",
        state.text
    );
    let sets = state.body["attributes"].as_array().expect("attributes");
    assert_eq!(sets.len(), 1, "{}", state.text);
    assert_eq!(
        sets[0]["values"].as_array().unwrap().len(),
        1,
        "{}",
        state.text
    );
    // The key still replays the first answer; the scenario is active again.
    let replay = answer(
        app.request(Method::POST, "/user")
            .header("Idempotency-Key", "create-once")
            .json(&body),
    )
    .await;
    assert_eq!(replay.status, 200, "{}", replay.text);
    assert_eq!(replay.text, first.text);
    assert_eq!(
        replay
            .headers
            .get("Idempotent-Replayed")
            .map(|v| v.as_bytes()),
        Some(&b"true"[..])
    );
    let payout = app.pending_btc_payout(&user, "10").await;
    assert_eq!(app.commit(&user, &payout).await.body["status"], "nsf");
}

#[tokio::test]
async fn with_a_seed_the_tokens_after_a_restore_are_the_ones_after_the_snapshot() {
    let app = TestApp::spawn_with(Sandbox::builder().seed(42)).await;
    app.create_user().await;
    assert_eq!(save(&app, "one-user").await.status, 201);
    let next = app.create_user().await;
    let payout_user = app.create_user().await;
    assert_eq!(restore(&app, "one-user").await.status, 200);
    assert_eq!(app.create_user().await, next);
    assert_eq!(app.create_user().await, payout_user);
}

#[tokio::test]
async fn snapshots_are_listed_replaced_and_dropped() {
    let app = TestApp::spawn().await;
    assert_eq!(names(&app).await, Vec::<String>::new());
    assert_eq!(save(&app, "b").await.status, 201);
    app.create_user().await;
    let a = save(&app, "a").await;
    assert_eq!(a.status, 201, "{}", a.text);
    assert!(a.body["clock"].is_string(), "{}", a.text);
    assert_eq!(names(&app).await, ["a", "b"]);
    let list = app.get("/_sandbox/snapshots").await;
    assert_eq!(list.body[0]["users"], 1, "{}", list.text);
    assert_eq!(list.body[1]["users"], 0, "{}", list.text);

    // Saving under an existing name replaces it.
    let a = save(&app, "b").await;
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(a.body["users"], 1, "{}", a.text);
    assert_eq!(names(&app).await, ["a", "b"]);

    let a = app.delete("/_sandbox/snapshots/a").await;
    assert_eq!(a.status, 204, "{}", a.text);
    assert_eq!(names(&app).await, ["b"]);
    assert_error(&app.delete("/_sandbox/snapshots/a").await, 404);
    assert_error(&restore(&app, "a").await, 404);
    assert_eq!(app.delete("/_sandbox/snapshots").await.status, 204);
    assert_eq!(names(&app).await, Vec::<String>::new());
}

#[tokio::test]
async fn bad_names_and_bodies_are_400s() {
    let app = TestApp::spawn().await;
    for name in [
        json!(""),
        json!("has space"),
        json!("x".repeat(65)),
        json!("ü"),
    ] {
        let a = app
            .post("/_sandbox/snapshots", json!({ "name": name }))
            .await;
        let details = assert_error(&a, 400);
        assert_mentions(&details, &["name"]);
    }
    assert_mentions(
        &assert_error(&app.post("/_sandbox/snapshots", json!({})).await, 400),
        &["name is required"],
    );
    assert_error(
        &app.send_text(Method::POST, "/_sandbox/snapshots", "{not json")
            .await,
        400,
    );
    assert_error(
        &app.post("/_sandbox/snapshots", json!({"name": 7})).await,
        400,
    );
    assert_eq!(names(&app).await, Vec::<String>::new());
    // 64 characters is fine.
    assert_eq!(save(&app, &"x".repeat(64)).await.status, 201);
}

#[tokio::test]
async fn a_tenant_keeps_at_most_16_snapshots() {
    let app = TestApp::spawn().await;
    for i in 0..16 {
        assert_eq!(save(&app, &format!("s{i}")).await.status, 201, "s{i}");
    }
    let a = save(&app, "one-more").await;
    assert_eq!(a.status, 422, "{}", a.text);
    assert!(a.text.contains("16 snapshots"), "{}", a.text);
    // Replacing one is still allowed; after a delete there is room again.
    assert_eq!(save(&app, "s7").await.status, 201);
    assert_eq!(app.delete("/_sandbox/snapshots/s7").await.status, 204);
    assert_eq!(save(&app, "one-more").await.status, 201);
    assert_eq!(names(&app).await.len(), 16);
}

#[tokio::test]
async fn snapshots_belong_to_their_tenant_and_survive_a_reset() {
    let app = TestApp::spawn().await;
    let other = app.other_tenant();
    let user = app.create_user().await;
    assert_eq!(save(&app, "mine").await.status, 201);
    assert_eq!(names(&other).await, Vec::<String>::new());
    assert_error(&restore(&other, "mine").await, 404);
    assert_error(&other.delete("/_sandbox/snapshots/mine").await, 404);
    let their_user = other.create_user().await;

    assert_eq!(
        app.send(Method::POST, "/_sandbox/reset", None).await.status,
        204
    );
    assert_error(&app.get(&format!("/user/{user}")).await, 404);
    assert_eq!(names(&app).await, ["mine"]);
    assert_eq!(restore(&app, "mine").await.status, 200);
    assert_eq!(app.get(&format!("/user/{user}")).await.status, 200);
    // The other tenant is untouched by either.
    assert_eq!(other.get(&format!("/user/{their_user}")).await.status, 200);
    assert_error(&other.get(&format!("/user/{user}")).await, 404);
}

#[tokio::test]
async fn a_restore_keeps_the_webhook_subscription_and_the_request_journal() {
    let app = TestApp::spawn().await;
    assert_eq!(save(&app, "empty").await.status, 201);
    let a = app
        .put(
            "/_sandbox/webhook",
            Some(json!({"url": "http://127.0.0.1:9/hook", "secret": "s3cret"})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    app.get("/account/balance").await;
    let journal_before = app.get("/_sandbox/requests").await.body;
    assert_eq!(journal_before.as_array().map(Vec::len), Some(1));

    assert_eq!(restore(&app, "empty").await.status, 200);
    assert_eq!(app.get("/_sandbox/requests").await.body, journal_before);
    // Still subscribed: an initiate after the restore is delivered to the same URL.
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    app.pending_btc_payout(&user, "10").await;
    let log = app.get("/_sandbox/webhooks").await;
    let urls: Vec<&Value> = log
        .body
        .as_array()
        .expect("deliveries")
        .iter()
        .map(|d| &d["url"])
        .collect();
    assert!(
        urls.contains(&&json!("http://127.0.0.1:9/hook")),
        "{}",
        log.text
    );
}

#[tokio::test]
async fn snapshots_need_an_api_key() {
    let app = TestApp::spawn().await;
    let a = app
        .send_as("", Method::GET, "/_sandbox/snapshots", None)
        .await;
    assert_error(&a, 401);
}

/// SPEC §9: at most 16 snapshots per tenant. The 17th distinct name is a 422 in MassPay's shape
/// naming the limit and storing nothing; saving again under any of the 16 names still works.
#[tokio::test]
async fn the_17th_distinct_name_is_refused_while_replacing_one_still_works() {
    let app = TestApp::spawn().await;
    let other = app.other_tenant();
    for i in 1..=16 {
        assert_eq!(save(&app, &format!("n{i:02}")).await.status, 201, "n{i:02}");
    }
    let refused = save(&app, "n17").await;
    assert_mentions(&assert_error(&refused, 422), &["16 snapshots"]);
    assert_eq!(names(&app).await.len(), 16);
    assert!(!names(&app).await.contains(&"n17".to_string()));
    assert_error(&restore(&app, "n17").await, 404);

    // Replacing an existing name is not a 17th snapshot: it takes the tenant's state now.
    app.create_user().await;
    for name in ["n01", "n16"] {
        let a = save(&app, name).await;
        assert_eq!(a.status, 201, "{}", a.text);
        assert_eq!(a.body["users"], 1, "{}", a.text);
    }
    assert_eq!(names(&app).await.len(), 16);
    // The cap is per API key: another tenant starts with room for 16.
    assert_eq!(save(&other, "n17").await.status, 201);
}

/// SPEC §6c: names are 1–64 characters of `[A-Za-z0-9_.-]`; anything else is a 400 in MassPay's
/// shape naming the rule, and stores nothing.
#[tokio::test]
async fn names_are_1_to_64_characters_of_letters_digits_underscore_dot_dash() {
    let app = TestApp::spawn().await;
    let longest = format!("{}-_.x", "aZ9".repeat(20));
    assert_eq!(longest.len(), 64);
    for good in [
        longest.as_str(),
        "a",
        "Z",
        "0",
        "_",
        "-",
        "v1.2_rc-3",
        "AFTER.onboarding",
    ] {
        let a = save(&app, good).await;
        assert_eq!(a.status, 201, "{good:?}: {}", a.text);
        assert_eq!(a.body["name"], good, "{}", a.text);
    }
    // The longest one restores and drops by its path segment as it is.
    assert_eq!(restore(&app, &longest).await.status, 200);
    assert_eq!(
        app.delete(&format!("/_sandbox/snapshots/{longest}"))
            .await
            .status,
        204
    );
    let before = names(&app).await;

    let too_long = "x".repeat(65);
    for bad in [
        too_long.as_str(),
        "",
        "has space",
        " lead",
        "a/b",
        "é",
        "caf\u{e9}",
        "v1#3",
        "a+b",
        "a%2Fb",
        "tab\t",
        "~home",
        "a:b",
    ] {
        let a = save(&app, bad).await;
        assert_mentions(
            &assert_error(&a, 400),
            &["name must be 1 to 64 characters of [A-Za-z0-9_.-]"],
        );
    }
    assert_eq!(names(&app).await, before, "a refused name stores nothing");
}
