//! The seed guide's six steps, with its own sample requests, in order.

use crate::helpers::*;
use serde_json::json;

#[tokio::test]
async fn the_seed_guides_flow_succeeds_and_debits_source_plus_fee_exactly() {
    let app = TestApp::spawn().await;

    // Step 1: balance.
    let start = app.balance("USD").await;
    assert_eq!(start, "250000");

    // Step 2: create the guide's user.
    let a = app.post("/user", seed_user("jdoe@gmail.com")).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["status"], "ACTIVE");
    assert_eq!(a.body["timezone"], "America/Los_Angeles");
    let user = a.body["user_token"].as_str().unwrap().to_string();
    assert!(user.starts_with("usr_"));

    // Step 3: the cheapest crypto destination in MEX, via the guide's `/best`.
    let a = app.get("/country/MEX/best").await;
    assert_eq!(a.status, 200, "{}", a.text);
    let crypto: Vec<String> = a.body["companies"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["services"].as_array().unwrap().iter())
        .filter(|s| s["delivery_type"] == "CRYPTOCURRENCY")
        .flat_map(|s| s["payers"].as_array().unwrap().iter())
        .filter(|p| {
            p["exchange_rate"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["currency_symbol"] == "BTC")
        })
        .map(|p| p["destination_token"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(crypto, vec![BTC_DESTINATION.to_string()]);

    // Step 4: attributes, then store them.
    let path = format!("/attribute/{user}/{BTC_DESTINATION}/BTC");
    let a = app.get(&path).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let labels: Vec<&str> = a
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["label"].as_str().unwrap())
        .collect();
    assert!(labels.contains(&"Checking Account Number"), "{labels:?}");
    let a = app
        .post(
            &path,
            json!({"values": [{"token": BTC_WALLET_ATTR, "value": BTC_ADDRESS}]}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert!(a.body["attr_set_token"]
        .as_str()
        .unwrap()
        .starts_with("attr_set_"));

    // Step 5: initiate with the guide's body (source_amount 100.5 USD → BTC).
    let a = app
        .post(
            &format!("/payout/{user}"),
            json!({
                "client_transfer_id": "aEjn345",
                "source_currency_code": "USD",
                "destination_currency_code": "BTC",
                "source_token": USD_SOURCE,
                "destination_token": BTC_DESTINATION,
                "source_amount": 100.5,
                "metadata": {"group_id": 541}
            }),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["status"], "PENDING");
    let payout = a.body["payout_token"].as_str().unwrap().to_string();
    assert!(payout.starts_with("payout_"));
    let fee = number_text(&a.text, "fee");
    assert_eq!(fee, "2.99");

    // Step 6: commit.
    let a = app.commit(&user, &payout).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["status"], "success");
    assert!(a.body.get("errors").is_none(), "{}", a.text);

    // Balance: exactly start − (source_amount + fee) = 250000 − 103.49.
    assert_eq!(app.balance("USD").await, "249896.51");

    // Check status: crypto settles at once.
    let a = app.get(&format!("/payout/{user}/{payout}")).await;
    assert_eq!(a.body["status"], "COMPLETED", "{}", a.text);
}
