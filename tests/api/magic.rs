//! Magic values (SPEC §5, README "Magic values"): an unmodified client — no header, no admin
//! call, only the amounts and `client_transfer_id` it already sends — reaches every commit
//! outcome. An amount is magic when amount × 100 is an integer ending in 51–54.

use serde_json::Value;

use crate::helpers::*;

const SOURCE_OF_FUNDS_ATTR: &str = "attr_5c0f3a8e-2d4b-4e1f-9a7c-6b8d0e2f4a61";
const START_USD: &str = "250000";

/// A user with a BTC wallet stored, and a PENDING USD → BTC payout of `amount` (the magic acts
/// at commit, not at initiate: the payout is created normally).
async fn btc_payout(app: &TestApp, amount: &str) -> (String, String) {
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    let a = app.initiate_btc(&user, amount).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["status"], "PENDING", "{amount}: {}", a.text);
    assert_eq!(number_text(&a.text, "source_amount"), amount);
    let payout = a.body["payout_token"].as_str().unwrap().to_string();
    assert!(payout.starts_with("payout_"), "{amount}: {}", a.text);
    (user, payout)
}

fn commit_status(a: &Answer) -> String {
    assert_eq!(a.status, 200, "{}", a.text);
    a.body["status"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", a.text))
        .to_string()
}

async fn btc_requirements(app: &TestApp, user: &str) -> Vec<Value> {
    let a = app
        .get(&format!("/attribute/{user}/{BTC_DESTINATION}/BTC"))
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    a.body.as_array().unwrap().clone()
}

#[tokio::test]
async fn an_amount_ending_in_51_answers_nsf_on_every_commit() {
    let app = TestApp::spawn().await;
    let (user, payout) = btc_payout(&app, "20.51").await;
    for _ in 0..3 {
        let a = app.commit(&user, &payout).await;
        assert_eq!(commit_status(&a), "nsf", "{}", a.text);
        assert_eq!(a.body["payout_token"], payout.as_str());
        assert_eq!(app.payout_status(&user, &payout).await, "PENDING");
        assert_eq!(app.balance("USD").await, START_USD);
    }
}

#[tokio::test]
async fn an_amount_ending_in_52_answers_ex_rate_expired_and_cancels() {
    let app = TestApp::spawn().await;
    let (user, payout) = btc_payout(&app, "20.52").await;
    let a = app.commit(&user, &payout).await;
    assert_eq!(commit_status(&a), "ex_rate_expired", "{}", a.text);
    assert_eq!(app.payout_status(&user, &payout).await, "CANCELLED");
    assert_eq!(app.balance("USD").await, START_USD);
    let a = app.commit(&user, &payout).await;
    assert_eq!(commit_status(&a), "ex_rate_expired", "{}", a.text);
    assert_eq!(app.balance("USD").await, START_USD);
}

#[tokio::test]
async fn an_amount_ending_in_53_asks_for_source_of_funds_until_it_is_stored() {
    let app = TestApp::spawn().await;
    let (user, payout) = btc_payout(&app, "20.53").await;
    for _ in 0..2 {
        let a = app.commit(&user, &payout).await;
        assert_eq!(commit_status(&a), "addtl_attr_req", "{}", a.text);
        assert_eq!(app.payout_status(&user, &payout).await, "PENDING");
        assert_eq!(app.balance("USD").await, START_USD);
    }
    let reqs = btc_requirements(&app, &user).await;
    let sof = reqs
        .iter()
        .find(|r| r["label"] == "Source of Funds")
        .unwrap_or_else(|| panic!("GET attributes lacks Source of Funds: {reqs:?}"));
    assert_eq!(sof["type"], "SourceOfFunds", "{sof}");
    assert_eq!(sof["token"], SOURCE_OF_FUNDS_ATTR, "{sof}");

    let a = app
        .store_attributes(
            &user,
            BTC_DESTINATION,
            "BTC",
            &[(SOURCE_OF_FUNDS_ATTR, "SAVINGS")],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let a = app.commit(&user, &payout).await;
    assert_eq!(commit_status(&a), "success", "{}", a.text);
    assert!(a.body.get("errors").is_none(), "{}", a.text);
    assert_eq!(app.payout_status(&user, &payout).await, "COMPLETED");
    // 250000 − (20.53 + 2.99)
    assert_eq!(app.balance("USD").await, "249976.48");
}

#[tokio::test]
async fn an_amount_ending_in_54_fails_into_error_and_stays_failed() {
    let app = TestApp::spawn().await;
    let (user, payout) = btc_payout(&app, "20.54").await;
    for _ in 0..2 {
        let a = app.commit(&user, &payout).await;
        assert_eq!(commit_status(&a), "failure", "{}", a.text);
        let p = app.payout(&user, &payout).await;
        assert_eq!(p.body["status"], "ERROR", "{}", p.text);
        assert!(
            p.body["status_reason"]
                .as_str()
                .is_some_and(|r| !r.is_empty()),
            "{}",
            p.text
        );
        assert_eq!(app.balance("USD").await, START_USD);
    }
}

/// The magic is read in the source currency's own units: 0.51 BTC × 100 = 51.
#[tokio::test]
async fn a_crypto_source_amount_can_be_magic() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    let a = app
        .initiate(
            &user,
            "",
            &format!(
                r#"{{"source_currency_code":"BTC","destination_currency_code":"BTC","source_token":"{BTC_SOURCE}","destination_token":"{BTC_DESTINATION}","source_amount":0.51}}"#
            ),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let payout = a.body["payout_token"].as_str().unwrap().to_string();
    assert_eq!(commit_status(&app.commit(&user, &payout).await), "nsf");
    assert_eq!(app.payout_status(&user, &payout).await, "PENDING");
    assert_eq!(app.balance("BTC").await, "1.938135");
}

/// A user with CLABE and holder name stored for the MXN bank destination, and a PENDING payout
/// given by its destination amount.
async fn mxn_payout_by_destination_amount(
    app: &TestApp,
    destination_amount: &str,
) -> (String, String) {
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
                r#"{{"source_currency_code":"USD","destination_currency_code":"MXN","source_token":"{USD_SOURCE}","destination_token":"{MXN_BANK_DESTINATION}","destination_amount":{destination_amount}}}"#
            ),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["status"], "PENDING", "{}", a.text);
    assert_eq!(
        number_text(&a.text, "destination_amount"),
        destination_amount
    );
    let payout = a.body["payout_token"].as_str().unwrap().to_string();
    (user, payout)
}

#[tokio::test]
async fn a_destination_amount_can_be_magic_too() {
    let app = TestApp::spawn().await;
    // 1000.51 MXN (source 1000.51 / 17.0520 = 58.67 USD, not itself magic): nsf.
    let (user, payout) = mxn_payout_by_destination_amount(&app, "1000.51").await;
    let a = app.commit(&user, &payout).await;
    assert_eq!(commit_status(&a), "nsf", "{}", a.text);
    assert_eq!(app.payout_status(&user, &payout).await, "PENDING");
    assert_eq!(app.balance("USD").await, START_USD);

    // 1000.54 MXN: failure, ERROR, nothing debited.
    let (user, payout) = mxn_payout_by_destination_amount(&app, "1000.54").await;
    let a = app.commit(&user, &payout).await;
    assert_eq!(commit_status(&a), "failure", "{}", a.text);
    assert_eq!(app.payout_status(&user, &payout).await, "ERROR");
    assert_eq!(app.balance("USD").await, START_USD);
}

#[tokio::test]
async fn a_sandbox_client_transfer_id_needs_no_header_or_admin_call() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    let a = app
        .initiate(
            &user,
            "",
            &format!(
                r#"{{"client_transfer_id":"sandbox:insufficient_funds#order-17","source_currency_code":"USD","destination_currency_code":"BTC","source_token":"{USD_SOURCE}","destination_token":"{BTC_DESTINATION}","source_amount":100}}"#
            ),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(
        a.body["client_transfer_id"], "sandbox:insufficient_funds#order-17",
        "{}",
        a.text
    );
    let payout = a.body["payout_token"].as_str().unwrap().to_string();
    assert_eq!(commit_status(&app.commit(&user, &payout).await), "nsf");
    assert_eq!(app.payout_status(&user, &payout).await, "PENDING");
    assert_eq!(app.balance("USD").await, START_USD);
}

/// Not magic: fewer than two decimals' worth (0.0051 BTC × 100 = 0.51), .55, .50, whole
/// amounts — these pay out normally.
#[tokio::test]
async fn other_amounts_are_not_magic() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;

    let a = app
        .initiate(
            &user,
            "",
            &format!(
                r#"{{"source_currency_code":"BTC","destination_currency_code":"BTC","source_token":"{BTC_SOURCE}","destination_token":"{BTC_DESTINATION}","source_amount":0.0051}}"#
            ),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let payout = a.body["payout_token"].as_str().unwrap().to_string();
    assert_eq!(commit_status(&app.commit(&user, &payout).await), "success");
    assert_eq!(app.payout_status(&user, &payout).await, "COMPLETED");
    // 1.938135 − (0.0051 + 0.00002)
    assert_eq!(app.balance("BTC").await, "1.933015");

    let mut usd = dec(START_USD);
    for amount in ["20.55", "20.5", "51", "53"] {
        let a = app.initiate_btc(&user, amount).await;
        assert_eq!(a.status, 200, "{amount}: {}", a.text);
        let payout = a.body["payout_token"].as_str().unwrap().to_string();
        let c = app.commit(&user, &payout).await;
        assert_eq!(commit_status(&c), "success", "{amount}: {}", c.text);
        assert_eq!(app.payout_status(&user, &payout).await, "COMPLETED");
        usd -= dec(amount) + dec("2.99");
        assert_eq!(dec(&app.balance("USD").await), usd, "{amount}");
    }
    // 250000 − (23.54 + 23.49 + 53.99 + 55.99)
    assert_eq!(app.balance("USD").await, "249842.99");
}

/// Magic acts at commit: the initiate's own checks still apply, so a balance too low for the
/// payout answers `payout_token: "NSF"` there and stores nothing.
#[tokio::test]
async fn magic_does_not_bypass_the_initiates_own_checks() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    let a = app.set_balance("USD", "\"10\"").await;
    assert_eq!(a.status, 200, "{}", a.text);
    for amount in ["20.51", "20.52", "20.53", "20.54"] {
        let a = app.initiate_btc(&user, amount).await;
        assert_eq!(a.status, 200, "{amount}: {}", a.text);
        assert_eq!(a.body["payout_token"], "NSF", "{amount}: {}", a.text);
        assert_eq!(a.body["status"], "CANCELLED", "{amount}: {}", a.text);
    }
    let list = app.get(&format!("/payout/{user}")).await;
    assert_eq!(list.body, serde_json::json!([]), "{}", list.text);
    assert_eq!(app.balance("USD").await, "10");
}

/// A 1.0.0 initiate with `auto_commit` commits at once, so its magic amount answers now — also
/// when the client's JSON writes the key with an escape (the sandbox used to look for the bytes
/// `auto_commit` before reading the body, and missed it).
#[tokio::test]
async fn an_escaped_auto_commit_key_still_meets_its_magic_amount() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    let before = app.balance("BTC").await;
    let body = format!(
        r#"{{"destination_currency_code":"BTC","source_token":"{BTC_SOURCE}","destination_token":"{BTC_DESTINATION}","source_amount":0.51,"auto\u005fcommit":true}}"#
    );
    let a = app
        .send_text(
            reqwest::Method::POST,
            &format!("/v1.0.0/payout/{user}"),
            &body,
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["status"], "nsf", "{}", a.text);
    assert_eq!(app.balance("BTC").await, before, "nothing is debited");
}

/// `client_transfer_id: "sandbox:NAME"` written with a JSON escape for the colon names the
/// scenario all the same.
#[tokio::test]
async fn an_escaped_sandbox_transfer_id_still_names_its_scenario() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    let body = format!(
        r#"{{"client_transfer_id":"sandbox\u003apayout_failure#1","source_currency_code":"USD","destination_currency_code":"BTC","source_token":"{USD_SOURCE}","destination_token":"{BTC_DESTINATION}","source_amount":20}}"#
    );
    let a = app.initiate(&user, "", &body).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let payout = a.body["payout_token"].as_str().unwrap().to_string();
    let c = app.commit(&user, &payout).await;
    assert_eq!(c.body["status"], "failure", "{}", c.text);
}

/// Digits past the 15th significant one do not hide a magic amount (read as the handler reads
/// amounts: exactly, then rounded to 15 significant digits — no f64 round trip).
#[tokio::test]
async fn a_magic_amount_with_digits_past_the_fifteenth_is_still_magic() {
    let app = TestApp::spawn().await;
    let (user, payout) = btc_payout_exact(&app, "100.5100000000000001").await;
    let c = app.commit(&user, &payout).await;
    assert_eq!(c.body["status"], "nsf", "{}", c.text);
}

async fn btc_payout_exact(app: &TestApp, amount: &str) -> (String, String) {
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    let a = app.initiate_btc(&user, amount).await;
    assert_eq!(a.status, 200, "{}", a.text);
    (user, a.body["payout_token"].as_str().unwrap().to_string())
}
