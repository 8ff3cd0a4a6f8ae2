//! Amounts too large for exact decimal arithmetic (issue 11's first table row): each once
//! overflowed rust_decimal and answered 500 — once after the load had already completed and
//! debited, once inside the background sweep, which then stopped for every tenant. Now an amount
//! above the documented maximum (10^15 in any currency) is a 400 naming the field at parse time,
//! arithmetic on amounts is checked, and a refused request changes nothing: balances, users,
//! payouts, wallets, loads and spend-backs read back through HTTP exactly as before. And
//! `metadata` nests at most 32 levels in at most 16 KiB.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

/// Everything a refused request must leave as it was, read through HTTP: the state dump
/// (users, attribute sets, payouts, balances) plus each user's wallets, loads, spend-backs and
/// payouts.
async fn everything(app: &App, users: &[&str]) -> Value {
    let mut all = json!({ "state": app.state_without_clock().await });
    for u in users {
        for what in ["wallet", "load", "spendback", "payout"] {
            let a = app.get(&format!("/{what}/{u}")).await;
            assert_eq!(a.status, 200, "GET /{what}/{u}: {}", a.text);
            all[format!("{what}/{u}")] = a.body;
        }
    }
    all
}

/// The user's USD funds wallet token.
async fn funds_wallet(app: &App, user: &str) -> String {
    let a = app.get(&format!("/wallet/{user}")).await;
    assert_eq!(a.status, 200, "wallets: {}", a.text);
    a.body
        .as_array()
        .and_then(|ws| ws.iter().find(|w| w["type"] == "USER_FUNDS"))
        .and_then(|w| w["token"].as_str())
        .expect("a USER_FUNDS wallet")
        .to_string()
}

/// A load body with the amount written exactly as given (`extra`: more JSON members).
fn load_body(id: &str, amount: &str, extra: &str) -> String {
    format!(r#"{{"client_load_id":"{id}","source_token":"{USD_SOURCE}","amount":{amount}{extra}}}"#)
}

/// The tenant clock plus `seconds`, as `time_to_process` wants it.
async fn clock_plus(app: &App, seconds: i64) -> String {
    let a = app.get("/_sandbox/clock").await;
    let now = chrono::DateTime::parse_from_rfc3339(a.body["now"].as_str().expect("now"))
        .expect("RFC 3339");
    (now + chrono::Duration::seconds(seconds))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Asserts a 400 in MassPay's shape whose details name `field`.
fn assert_400_naming(a: &Answer, field: &str, context: &str) {
    let details = assert_error(a, 400, context);
    assert!(
        details.iter().any(|d| d.contains(field)),
        "{context}: the details do not name {field}: {details:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initiating_with_an_amount_above_the_maximum_is_a_400_that_changes_nothing() {
    let server = Server::start().await;
    let app = server.tenant();
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    app.store_mxn_bank_account(&user).await;
    let before = everything(&app, &[&user]).await;
    let mut sent = 0u64;
    for amount in ["1e28", "7.9e28", "1e16", "1000000000000010"] {
        for (destination, currency) in [
            (BTC_DESTINATION, "BTC"),
            (MXN_BANK_DESTINATION, "MXN"),
            (ETH_DESTINATION, "ETH"),
        ] {
            for query in ["", "?limit=100"] {
                for field in ["source_amount", "destination_amount"] {
                    let body = format!(
                        r#"{{"destination_currency_code":"{currency}","source_token":"{USD_SOURCE}","destination_token":"{destination}","{field}":{amount}}}"#
                    );
                    let a = app
                        .send_text(Method::POST, &format!("/payout/{user}{query}"), &body)
                        .await;
                    sent += 1;
                    assert_400_naming(&a, field, &format!("{field} {amount} {currency}{query}"));
                }
            }
        }
    }
    // The `limit` query itself, and negative and unrepresentable amounts.
    for (query, amount, named) in [
        ("?limit=10000000000000000000000000000", "100", "limit"),
        ("?limit=79000000000000000000000000000", "100", "limit"),
        ("", "-1e28", "source_amount"),
        ("", "1e400", "source_amount"),
    ] {
        let a = app
            .send_text(
                Method::POST,
                &format!("/payout/{user}{query}"),
                &payout_body(USD_SOURCE, BTC_DESTINATION, "BTC", amount),
            )
            .await;
        sent += 1;
        assert_400_naming(&a, named, &format!("{amount}{query}"));
    }
    assert_eq!(everything(&app, &[&user]).await, before);
    // The largest amount itself is an amount like any other (here: above the payer's maximum).
    let a = app
        .initiate(&user, USD_SOURCE, BTC_DESTINATION, "BTC", "1e15")
        .await;
    let details = assert_error(&a, 400, "1e15");
    assert!(details.iter().any(|d| d.contains("limits")), "{details:?}");
    report(
        "overflow::initiate",
        &[("requests", sent + 1), ("answered_400", sent + 1)],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auto_commit_initiate_of_1e27_is_a_400_and_debits_nothing() {
    let server = Server::start().await;
    let app = server.tenant();
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    let before = everything(&app, &[&user]).await;
    for (amount, magic) in [("1e27", "plain"), ("1e27", "sandbox:payout_failure")] {
        let body = format!(
            r#"{{"client_transfer_id":"{magic}","destination_currency_code":"BTC","source_token":"{BTC_SOURCE}","destination_token":"{BTC_DESTINATION}","source_amount":{amount},"auto_commit":true}}"#
        );
        let a = app
            .send_text(Method::POST, &format!("/v1.0.0/payout/{user}"), &body)
            .await;
        assert_400_naming(&a, "source_amount", &format!("1.0.0 auto_commit {amount}"));
    }
    assert_eq!(everything(&app, &[&user]).await, before);
    assert_eq!(app.balance("BTC").await, dec("1.938135"));
    // A real auto-commit still goes through.
    let body = format!(
        r#"{{"destination_currency_code":"BTC","source_token":"{BTC_SOURCE}","destination_token":"{BTC_DESTINATION}","source_amount":0.5,"auto_commit":true}}"#
    );
    let a = app
        .send_text(Method::POST, &format!("/v1.0.0/payout/{user}"), &body)
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["status"], "success", "{}", a.text);
    assert_eq!(app.balance("BTC").await, dec("1.438115"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loads_of_5e28_are_a_400_and_the_statement_still_answers() {
    let server = Server::start().await;
    let app = server.tenant();
    let user = app.create_user().await;
    let before = everything(&app, &[&user]).await;
    // Room for two 5e28 loads used to be made by setting the balance near rust_decimal's limit.
    let a = app
        .set_balance("USD", "79000000000000000000000000000")
        .await;
    assert_400_naming(&a, "balance", "balance 7.9e28");
    for (i, amount) in ["5e28", "50000000000000000000000000000", "1e16"]
        .iter()
        .enumerate()
    {
        let a = app
            .send_text(
                Method::POST,
                &format!("/load/{user}"),
                &load_body(&format!("big-{i}"), amount, ""),
            )
            .await;
        assert_400_naming(&a, "amount", &format!("load {amount}"));
    }
    assert_eq!(everything(&app, &[&user]).await, before);
    // The ids of refused loads are still free: a retry with a sane amount works.
    let a = app
        .send_text(
            Method::POST,
            &format!("/load/{user}"),
            &load_body("big-0", "25", ""),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["status"], "COMPLETED", "{}", a.text);
    let today = chrono::Utc::now().format("%Y-%m-%d");
    let a = app
        .get(&format!(
            "/account/statement?start_date={today}&ending_date={today}"
        ))
        .await;
    assert_eq!(a.status, 200, "statement: {}", a.text);
    // A spend-back above the maximum is refused the same way.
    let wallet = funds_wallet(&app, &user).await;
    let before = everything(&app, &[&user]).await;
    let a = app
        .send_text(
            Method::POST,
            &format!("/spendback/{user}"),
            &format!(
                r#"{{"client_spendback_id":"sb-big","source_token":"{wallet}","source_currency_code":"USD","amount":5e28}}"#
            ),
        )
        .await;
    assert_400_naming(&a, "amount", "spend-back 5e28");
    assert_eq!(everything(&app, &[&user]).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autopay_with_a_huge_balance_and_load_is_refused_before_anything_moves() {
    let server = Server::start().await;
    let app = server.tenant();
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    let wallet = funds_wallet(&app, &user).await;
    let a = app
        .post(
            &format!("/wallet/{user}/{wallet}/autopay"),
            &json!({"destination_token": BTC_DESTINATION, "percentage": 100}),
        )
        .await;
    assert_eq!(a.status, 200, "autopay rule: {}", a.text);
    let before = everything(&app, &[&user]).await;
    let a = app.set_balance("USD", "1e28").await;
    assert_400_naming(&a, "balance", "balance 1e28");
    let a = app
        .send_text(
            Method::POST,
            &format!("/load/{user}"),
            &load_body("autopaid", "1e27", ""),
        )
        .await;
    assert_400_naming(&a, "amount", "load 1e27");
    // Nothing moved: no load, no payout, the same balances — and the id is still free.
    assert_eq!(everything(&app, &[&user]).await, before);
    let a = app
        .send_text(
            Method::POST,
            &format!("/load/{user}"),
            &load_body("autopaid", "100", ""),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["status"], "COMPLETED", "{}", a.text);
    // The whole load went out again through the autopay rule: 97.01 paid out + 2.99 fee.
    let payouts = app.get(&format!("/payout/{user}")).await;
    let items = raw_items(&payouts.text);
    assert_eq!(items.len(), 1, "{}", payouts.text);
    assert_eq!(number(&items[0], "source_amount"), dec("97.01"));
    assert_eq!(app.balance("USD").await, dec("249900"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_without_a_maximum_answers_best_for_7_9e28_with_a_400() {
    // The embedded fixtures with every payer's `max_limit` set to "0" (no maximum).
    let dir = std::env::temp_dir().join(format!("masspay-overflow-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    for entry in std::fs::read_dir(&fixtures).expect("fixtures") {
        let path = entry.expect("entry").path();
        let mut text = std::fs::read_to_string(&path).expect("fixture");
        if path.file_name().is_some_and(|n| n == "catalog.json") {
            let re_from = text.clone();
            text = String::new();
            let mut rest = re_from.as_str();
            while let Some(at) = rest.find("\"max_limit\": \"") {
                let (head, tail) = rest.split_at(at + "\"max_limit\": \"".len());
                text.push_str(head);
                text.push('0');
                rest = &tail[tail.find('"').expect("closing quote")..];
            }
            text.push_str(rest);
            assert!(text.contains("\"max_limit\": \"0\""), "catalog unchanged");
        }
        std::fs::write(dir.join(path.file_name().expect("name")), text).expect("write");
    }
    let sandbox = masspay_sandbox::Sandbox::builder()
        .fixtures_dir(&dir)
        .start()
        .await
        .expect("sandbox starts");
    let server = Server::with(sandbox);
    let app = server.tenant();
    for path in ["/country/MEX/best", "/country/MEX/cheapest", "/country/MEX"] {
        for query in [
            "amount=79000000000000000000000000000",
            "amount=10000000000000000000000000000",
            "amount=1000000000000010",
            "limit=79000000000000000000000000000",
        ] {
            let a = app.get(&format!("{path}?{query}")).await;
            let name = query.split('=').next().expect("name");
            assert_400_naming(&a, name, &format!("{path}?{query}"));
        }
    }
    // At the maximum the cheapest choice works, with no maximum in the way.
    let a = app.get("/country/MEX/best?amount=1000000000000000").await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert!(
        a.body["companies"]
            .as_array()
            .is_some_and(|c| !c.is_empty()),
        "no offer at 1e15: {}",
        a.text
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A load scheduled 1 s ahead whose run overflowed (autopay 100 % of 1e27) once panicked inside
/// the background sweep, which then stopped for every tenant: another tenant's load scheduled
/// for later never ran. Now the overflowing input is refused when sent, and the other tenant's
/// scheduled load runs by itself (nobody advances its clock or reads it in between).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_tenant_s_overflowing_scheduled_load_does_not_stop_another_tenant_s() {
    let server = Server::start().await;
    let hostile = server.tenant();
    let victim = server.tenant();
    let (h_user, v_user) = (hostile.create_user().await, victim.create_user().await);
    hostile.store_btc_wallet(&h_user).await;
    let wallet = funds_wallet(&hostile, &h_user).await;
    let a = hostile
        .post(
            &format!("/wallet/{h_user}/{wallet}/autopay"),
            &json!({"destination_token": BTC_DESTINATION, "percentage": 100}),
        )
        .await;
    assert_eq!(a.status, 200, "autopay rule: {}", a.text);
    let before = everything(&hostile, &[&h_user]).await;
    // The hostile tenant: a balance of 1e28, then a load of 1e27 due in 1 s (which, paid out
    // 100 % by autopay, overflowed when it ran).
    let balance = hostile.set_balance("USD", "1e28").await;
    let at = clock_plus(&hostile, 1).await;
    let overflowing = hostile
        .send_text(
            Method::POST,
            &format!("/load/{h_user}"),
            &load_body("overflow", "1e27", &format!(r#","time_to_process":"{at}""#)),
        )
        .await;
    // The victim: a load due in 3 s.
    let at = clock_plus(&victim, 3).await;
    let a = victim
        .send_text(
            Method::POST,
            &format!("/load/{v_user}"),
            &load_body("payday", "75.25", &format!(r#","time_to_process":"{at}""#)),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["status"], "SCHEDULED", "{}", a.text);
    let load = a.body["load_token"]
        .as_str()
        .expect("load_token")
        .to_string();
    // The sweep runs each second: within 7 s of wall time the load has run by itself (nobody
    // advances the victim's clock).
    let mut status = String::new();
    for _ in 0..70 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let loads = victim.get(&format!("/load/{v_user}")).await;
        assert_eq!(loads.body[0]["load_token"], load.as_str(), "{}", loads.text);
        status = loads.body[0]["status"].as_str().unwrap_or("").to_string();
        if status == "COMPLETED" {
            break;
        }
    }
    assert_eq!(status, "COMPLETED", "the victim's scheduled load never ran");
    assert_eq!(victim.balance("USD").await, dec("249924.75"));
    // And the hostile input was refused when sent, changing nothing.
    assert_400_naming(&balance, "balance", "balance 1e28");
    assert_400_naming(&overflowing, "amount", "scheduled load 1e27");
    assert_eq!(everything(&hostile, &[&h_user]).await, before);
    let h = hostile.get("/health").await;
    assert_eq!(h.status, 200, "{}", h.text);
}

/// `n` levels of objects: `{"a":{"a":…{"a":1}…}}`.
fn nested(n: usize) -> String {
    format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n))
}

/// An object holding arrays, `n` levels in all, in 2 bytes a level: `{"a":[[…[]…]]}`.
fn nested_arrays(n: usize) -> String {
    format!("{{\"a\":{}{}}}", "[".repeat(n - 1), "]".repeat(n - 1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_deeper_than_32_levels_or_larger_than_16_kib_is_a_400() {
    let server = Server::start().await;
    let app = server.tenant();
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    let big = format!("{{\"a\":\"{}\"}}", "x".repeat(16 * 1024));
    // 32,500 levels: as deep as fits in a 64 KiB body beside the rest of a user.
    let refused = [
        nested(33),
        nested(100),
        nested_arrays(33),
        nested_arrays(32_500),
        big,
    ];
    let with_metadata = |body: &Value, metadata: &str| {
        let text = body.to_string();
        format!("{},\"metadata\":{metadata}}}", &text[..text.len() - 1])
    };
    let mut update = user_body(&unique_email());
    update["status"] = json!("ACTIVE");
    update.as_object_mut().expect("object").remove("metadata");
    let mut create = user_body(&unique_email());
    create.as_object_mut().expect("object").remove("metadata");
    let payout = json!({"destination_currency_code": "BTC", "source_token": USD_SOURCE,
        "destination_token": BTC_DESTINATION, "source_amount": 10});
    let load = json!({"client_load_id": "meta", "source_token": USD_SOURCE, "amount": 10});
    let routes: Vec<(Method, String, Value)> = vec![
        (Method::POST, "/user".into(), create.clone()),
        (Method::PUT, format!("/user/{user}"), update.clone()),
        (Method::POST, format!("/payout/{user}"), payout.clone()),
        (
            Method::POST,
            format!("/v1.0.0/payout/{user}"),
            payout.clone(),
        ),
        (Method::POST, format!("/load/{user}"), load.clone()),
    ];
    let before = everything(&app, &[&user]).await;
    for (method, path, body) in &routes {
        for metadata in &refused {
            let a = app
                .send_text(method.clone(), path, &with_metadata(body, metadata))
                .await;
            assert_400_naming(
                &a,
                "metadata",
                &format!("{method} {path} ({} bytes)", metadata.len()),
            );
        }
        // 0.1.4 sends metadata as a string holding the object: the same limits.
        let as_string = serde_json::to_string(&nested(40)).expect("string");
        let a = app
            .send_text(method.clone(), path, &with_metadata(body, &as_string))
            .await;
        assert_400_naming(&a, "metadata", &format!("{method} {path} string"));
    }
    assert_eq!(everything(&app, &[&user]).await, before);
    // 32 levels are fine, and come back as sent.
    let a = app
        .send_text(Method::POST, "/user", &with_metadata(&create, &nested(32)))
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(
        a.body["metadata"],
        serde_json::from_str::<Value>(&nested(32)).expect("json")
    );
    let a = app
        .send_text(
            Method::POST,
            &format!("/payout/{user}"),
            &with_metadata(&payout, &nested(32)),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert!(a.text.contains(&nested(32)), "{}", a.text);
}

/// A refused load or spend-back opens no wallet either (a load in a currency the user has no
/// wallet in opens one, but only when it goes through).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_load_or_spend_back_opens_no_wallet() {
    let server = Server::start().await;
    let app = server.tenant();
    let user = app.create_user().await;
    let a = app
        .send_text(
            Method::POST,
            &format!("/load/{user}"),
            &load_body("dup", "10", ""),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let before = everything(&app, &[&user]).await;
    let btc_load = |id: &str, amount: &str| {
        format!(r#"{{"client_load_id":"{id}","source_token":"{BTC_SOURCE}","amount":{amount}}}"#)
    };
    for (body, named) in [
        (btc_load("dup", "0.1"), "client_load_id"),
        (btc_load("big", "1e28"), "amount"),
    ] {
        let a = app
            .send_text(Method::POST, &format!("/load/{user}"), &body)
            .await;
        assert_400_naming(&a, named, &body);
    }
    let spendback = format!(
        r#"{{"client_spendback_id":"sb","source_token":"{BTC_SOURCE}","source_currency_code":"USD","amount":1}}"#
    );
    let a = app
        .send_text(Method::POST, &format!("/spendback/{user}"), &spendback)
        .await;
    assert_400_naming(
        &a,
        "source_currency_code",
        "spend-back in the wrong currency",
    );
    assert_eq!(everything(&app, &[&user]).await, before);
    // Going through, the BTC load opens the user's BTC wallet.
    let a = app
        .send_text(
            Method::POST,
            &format!("/load/{user}"),
            &btc_load("btc", "0.1"),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let wallets = app.get(&format!("/wallet/{user}")).await;
    assert_eq!(
        wallets.body.as_array().map(Vec::len),
        Some(3),
        "{}",
        wallets.text
    );
}
