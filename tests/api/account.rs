//! `GET /account/balance`: the funding accounts, and the 0.1.x version prefixes.

use crate::helpers::*;

#[tokio::test]
async fn balances_list_every_funding_currency_with_token_number_and_code() {
    let app = TestApp::spawn().await;
    let a = app.get("/account/balance").await;
    assert_eq!(a.status, 200, "{}", a.text);
    let entries = a.body.as_array().expect("a bare JSON array");
    assert_eq!(entries.len(), INITIAL_BALANCES.len(), "{}", a.text);

    for (currency, initial) in INITIAL_BALANCES {
        let entry = entries
            .iter()
            .find(|e| e["currency_code"] == *currency)
            .unwrap_or_else(|| panic!("no {currency} entry in {}", a.text));
        let token = entry["token"].as_str().expect("token is a string");
        assert!(token.starts_with("clnt_wlt_"), "{token}");
        assert!(entry["balance"].is_number(), "{entry}");
        // The exact decimal text, as a JSON number (balance_text rejects a string).
        assert_eq!(balance_text(&a.text, currency), *initial, "{currency}");
    }
    // The seed guide's funding accounts keep their fixture tokens.
    assert!(entries.iter().any(|e| e["token"] == USD_SOURCE));
    assert!(entries
        .iter()
        .any(|e| e["token"] == BTC_SOURCE && e["currency_code"] == "BTC"));
}

#[tokio::test]
async fn balance_tokens_are_the_same_in_every_tenant() {
    let app = TestApp::spawn().await;
    let mine = app.get("/account/balance").await;
    let theirs = app.other_tenant().get("/account/balance").await;
    assert_eq!(theirs.status, 200, "{}", theirs.text);
    assert_eq!(mine.text, theirs.text);
}

#[tokio::test]
async fn every_0_1_x_prefix_serves_the_same_tenant() {
    let app = TestApp::spawn().await;
    // Change this tenant's balance so a fresh tenant could not look the same.
    let a = app.set_balance("BTC", "0.5").await;
    assert_eq!(a.status, 200, "{}", a.text);

    let reference = app.get("/v0.1.4/account/balance").await;
    assert_eq!(balance_text(&reference.text, "BTC"), "0.5");
    for version in ["v0.1.0", "v0.1.1", "v0.1.2", "v0.1.3", "v0.1.4"] {
        let a = app.get(&format!("/{version}/account/balance")).await;
        assert_eq!(a.status, 200, "{version}: {}", a.text);
        assert_eq!(a.text, reference.text, "{version}");
    }
}

#[tokio::test]
async fn a_user_made_under_one_prefix_is_seen_under_every_other() {
    let app = TestApp::spawn().await;
    let a = app
        .post("/v0.1.0/user", seed_user("versions@example.com"))
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let user = a.body["user_token"].as_str().unwrap().to_string();
    for version in ["v0.1.1", "v0.1.2", "v0.1.3", "v0.1.4"] {
        let a = app.get(&format!("/{version}/user/{user}")).await;
        assert_eq!(a.status, 200, "{version}: {}", a.text);
        assert_eq!(a.body["email"], "versions@example.com");
    }
}

#[tokio::test]
async fn a_payout_can_be_followed_across_prefixes() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    let a = app
        .send_text(
            reqwest::Method::POST,
            &format!("/v0.1.0/payout/{user}"),
            &format!(
                r#"{{"source_token":"{USD_SOURCE}","destination_token":"{BTC_DESTINATION}","destination_currency_code":"BTC","source_amount":100}}"#
            ),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let payout = a.body["payout_token"].as_str().unwrap().to_string();
    let c = app
        .send(
            reqwest::Method::PUT,
            &format!("/v0.1.2/payout/{user}/{payout}"),
            None,
        )
        .await;
    assert_eq!(c.body["status"], "success", "{}", c.text);
    let s = app.get(&format!("/v0.1.3/payout/{user}/{payout}")).await;
    assert_eq!(s.body["status"], "COMPLETED", "{}", s.text);
    let b = app.get("/v0.1.1/account/balance").await;
    assert_eq!(balance_text(&b.text, "USD"), "249897.01");
}

#[tokio::test]
async fn every_poll_shows_the_balance_as_it_is_now() {
    // The answer is kept between polls until a balance changes: each way of changing one must
    // show in the very next poll, and polls without a change must agree.
    let app = TestApp::spawn().await;
    assert_eq!(app.balance("USD").await, "250000");
    assert_eq!(app.balance("USD").await, "250000");

    let a = app.set_balance("USD", "\"1000.25\"").await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(app.balance("USD").await, "1000.25");

    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    let payout = app.pending_btc_payout(&user, "100").await;
    let polled = app.get("/account/balance").await.text;
    let a = app.commit(&user, &payout).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let after = app.balance("USD").await;
    assert_ne!(
        balance_text(&polled, "USD"),
        after,
        "the commit's debit is not shown"
    );
    assert_eq!(
        app.get("/account/balance").await.text,
        app.get("/account/balance").await.text
    );

    // Another tenant's polls neither see nor keep this one's answer.
    assert_eq!(app.other_tenant().balance("USD").await, "250000");
    assert_eq!(app.balance("USD").await, after);
}
