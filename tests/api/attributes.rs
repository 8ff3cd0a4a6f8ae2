//! Attributes: what a destination requires of a user (GET) and storing values (POST), validated
//! as whole-string matches, merged, and all-or-nothing.

use crate::helpers::*;
use serde_json::{json, Value};

fn btc_path(user: &str) -> String {
    format!("/attribute/{user}/{BTC_DESTINATION}/BTC")
}

/// The requirement with this token in a GET answer.
fn requirement<'a>(a: &'a Answer, token: &str) -> &'a Value {
    a.body
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {}", a.text))
        .iter()
        .find(|r| r["token"] == token)
        .unwrap_or_else(|| panic!("no requirement {token} in {}", a.text))
}

/// The stored values of the BTC destination: (wallet address, checking account number).
async fn stored_btc_values(app: &TestApp, user: &str) -> (String, String) {
    let a = app.get(&btc_path(user)).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let value = |token| {
        requirement(&a, token)["value"]
            .as_str()
            .expect("value is a string")
            .to_string()
    };
    (value(BTC_WALLET_ATTR), value(CHECKING_ATTR))
}

fn digits(n: usize) -> String {
    "1234567890".chars().cycle().take(n).collect()
}

#[tokio::test]
async fn get_lists_the_requirements_with_empty_values_before_anything_is_stored() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let a = app.get(&btc_path(&user)).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body.as_array().map(Vec::len), Some(2), "{}", a.text);

    let wallet = requirement(&a, BTC_WALLET_ATTR);
    assert_eq!(wallet["label"], "Wallet Address");
    assert_eq!(wallet["is_optional"], false);
    assert_eq!(wallet["value"], "");

    let checking = requirement(&a, CHECKING_ATTR);
    assert_eq!(checking["label"], "Checking Account Number");
    assert_eq!(checking["type"], "BankAccountNumber");
    assert_eq!(checking["input_type"], "text");
    assert_eq!(checking["is_optional"], true);
    assert_eq!(checking["value"], "");
    // The seed's regex is served exactly as written, unanchored.
    assert_eq!(checking["validation"], "[0-9]{50}");
}

#[tokio::test]
async fn get_shows_the_stored_values_after_a_post() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let fifty = digits(50);
    let a = app
        .store_attributes(
            &user,
            BTC_DESTINATION,
            "BTC",
            &[(BTC_WALLET_ATTR, BTC_ADDRESS), (CHECKING_ATTR, &fifty)],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let set = a.body["attr_set_token"].as_str().unwrap().to_string();
    assert!(set.starts_with("attr_set_"), "{set}");

    let a = app.get(&btc_path(&user)).await;
    assert_eq!(requirement(&a, BTC_WALLET_ATTR)["value"], BTC_ADDRESS);
    assert_eq!(requirement(&a, CHECKING_ATTR)["value"], fifty.as_str());
    for r in a.body.as_array().unwrap() {
        assert_eq!(r["attr_set_token"], set.as_str(), "{r}");
    }
}

#[tokio::test]
async fn the_seed_regex_is_enforced_as_a_whole_string_match() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;

    // Exactly 50 digits: accepted.
    let a = app
        .store_attributes(
            &user,
            BTC_DESTINATION,
            "BTC",
            &[(BTC_WALLET_ATTR, BTC_ADDRESS), (CHECKING_ATTR, &digits(50))],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);

    // Would match `[0-9]{50}` somewhere inside, but not as a whole: refused, nothing stored.
    for bad in [
        digits(51),
        format!("abc{}", digits(50)),
        format!("{}x", digits(50)),
        format!("{}\n", digits(50)),
    ] {
        let a = app
            .store_attributes(&user, BTC_DESTINATION, "BTC", &[(CHECKING_ATTR, &bad)])
            .await;
        assert_eq!(a.status, 400, "{bad}: {}", a.text);
        assert_mentions(&assert_error(&a, 400), &["Checking Account Number"]);
        assert_eq!(
            stored_btc_values(&app, &user).await,
            (BTC_ADDRESS.to_string(), digits(50))
        );
    }
    // Too short is refused too.
    let a = app
        .store_attributes(
            &user,
            BTC_DESTINATION,
            "BTC",
            &[(CHECKING_ATTR, &digits(49))],
        )
        .await;
    assert_mentions(&assert_error(&a, 400), &["Checking Account Number"]);
}

#[tokio::test]
async fn every_failing_attribute_is_listed_by_label_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;

    // One valid value beside one invalid: neither is stored.
    let a = app
        .store_attributes(
            &user,
            BTC_DESTINATION,
            "BTC",
            &[
                (BTC_WALLET_ATTR, "not-an-address"),
                (CHECKING_ATTR, &digits(50)),
            ],
        )
        .await;
    let details = assert_error(&a, 400);
    assert_mentions(&details, &["Wallet Address"]);
    assert_eq!(
        stored_btc_values(&app, &user).await,
        (String::new(), String::new())
    );

    // Two invalid values: both listed in one 400.
    let a = app
        .store_attributes(
            &user,
            BTC_DESTINATION,
            "BTC",
            &[
                (BTC_WALLET_ATTR, "0xdeadbeef"),
                (CHECKING_ATTR, &digits(51)),
            ],
        )
        .await;
    let details = assert_error(&a, 400);
    assert_mentions(&details, &["Wallet Address", "Checking Account Number"]);
    assert_eq!(
        stored_btc_values(&app, &user).await,
        (String::new(), String::new())
    );

    // Over a stored set, a failing POST leaves the earlier values alone.
    app.store_btc_wallet(&user).await;
    let a = app
        .store_attributes(
            &user,
            BTC_DESTINATION,
            "BTC",
            &[
                (BTC_WALLET_ATTR, "1BoatSLRHtKNngkdXEeobR76b53LETtpyT"),
                (CHECKING_ATTR, "abc"),
            ],
        )
        .await;
    assert_mentions(&assert_error(&a, 400), &["Checking Account Number"]);
    assert_eq!(
        stored_btc_values(&app, &user).await,
        (BTC_ADDRESS.to_string(), String::new())
    );
}

#[tokio::test]
async fn a_missing_required_attribute_is_a_400_naming_its_label() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let a = app
        .store_attributes(
            &user,
            BTC_DESTINATION,
            "BTC",
            &[(CHECKING_ATTR, &digits(50))],
        )
        .await;
    assert_mentions(&assert_error(&a, 400), &["Wallet Address"]);
    assert_eq!(
        stored_btc_values(&app, &user).await,
        (String::new(), String::new())
    );

    let a = app.post(&btc_path(&user), json!({ "values": [] })).await;
    assert_mentions(&assert_error(&a, 400), &["Wallet Address"]);
}

#[tokio::test]
async fn a_second_post_merges_with_the_stored_values() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    let a = app
        .store_attributes(
            &user,
            BTC_DESTINATION,
            "BTC",
            &[(CHECKING_ATTR, &digits(50))],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(
        stored_btc_values(&app, &user).await,
        (BTC_ADDRESS.to_string(), digits(50))
    );

    // Overwriting one value keeps the other.
    let other_address = "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy";
    let a = app
        .store_attributes(
            &user,
            BTC_DESTINATION,
            "BTC",
            &[(BTC_WALLET_ATTR, other_address)],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(
        stored_btc_values(&app, &user).await,
        (other_address.to_string(), digits(50))
    );
}

#[tokio::test]
async fn the_attr_set_token_is_stable_across_posts() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let first = app
        .store_attributes(
            &user,
            BTC_DESTINATION,
            "BTC",
            &[(BTC_WALLET_ATTR, BTC_ADDRESS)],
        )
        .await;
    assert_eq!(first.status, 200, "{}", first.text);
    let set = first.body["attr_set_token"].as_str().unwrap();
    let second = app
        .store_attributes(
            &user,
            BTC_DESTINATION,
            "BTC",
            &[(CHECKING_ATTR, &digits(50))],
        )
        .await;
    assert_eq!(second.body["attr_set_token"], set, "{}", second.text);

    // Naming the set explicitly updates it.
    let third = app
        .post(
            &btc_path(&user),
            json!({"attr_set_token": set,
                   "values": [{"token": CHECKING_ATTR, "value": digits(50)}]}),
        )
        .await;
    assert_eq!(third.status, 200, "{}", third.text);
    assert_eq!(third.body["attr_set_token"], set);

    // Another user gets another set.
    let other = app.create_user().await;
    let a = app
        .store_attributes(
            &other,
            BTC_DESTINATION,
            "BTC",
            &[(BTC_WALLET_ATTR, BTC_ADDRESS)],
        )
        .await;
    assert_ne!(a.body["attr_set_token"], set);
}

#[tokio::test]
async fn an_unknown_attribute_token_is_a_400() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let unknown = format!("attr_{}", uuid::Uuid::new_v4());
    let a = app
        .store_attributes(
            &user,
            BTC_DESTINATION,
            "BTC",
            &[(BTC_WALLET_ATTR, BTC_ADDRESS), (&unknown, "x")],
        )
        .await;
    assert_mentions(&assert_error(&a, 400), &[&unknown]);
    // An attribute of another destination is unknown here too.
    let a = app
        .store_attributes(
            &user,
            BTC_DESTINATION,
            "BTC",
            &[(BTC_WALLET_ATTR, BTC_ADDRESS), (CLABE_ATTR, &digits(18))],
        )
        .await;
    assert_error(&a, 400);
    assert_eq!(
        stored_btc_values(&app, &user).await,
        (String::new(), String::new())
    );
}

#[tokio::test]
async fn four_letter_currencies_are_accepted() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let path = format!("/attribute/{user}/{STABLECOIN_DESTINATION}/USDT");
    let a = app.get(&path).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert!(a
        .body
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["token"] == ERC20_WALLET_ATTR));

    let a = app
        .store_attributes(
            &user,
            STABLECOIN_DESTINATION,
            "USDT",
            &[(ERC20_WALLET_ATTR, ETH_ADDRESS)],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let a = app.get(&path).await;
    assert_eq!(requirement(&a, ERC20_WALLET_ATTR)["value"], ETH_ADDRESS);

    // Stored per currency: the USDC side of the same destination is still empty.
    let a = app
        .get(&format!("/attribute/{user}/{STABLECOIN_DESTINATION}/USDC"))
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(requirement(&a, ERC20_WALLET_ATTR)["value"], "");
}

#[tokio::test]
async fn malformed_or_unpaid_currencies_are_400() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    for currency in ["btc", "Btc", "BT", "BTCXX", "B1C", "ETH"] {
        let a = app
            .get(&format!("/attribute/{user}/{BTC_DESTINATION}/{currency}"))
            .await;
        assert_eq!(a.status, 400, "{currency}: {}", a.text);
        assert_error(&a, 400);
    }
    let a = app
        .store_attributes(
            &user,
            BTC_DESTINATION,
            "btc",
            &[(BTC_WALLET_ATTR, BTC_ADDRESS)],
        )
        .await;
    assert_error(&a, 400);
}

#[tokio::test]
async fn an_unknown_destination_or_user_is_404() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let unknown_dst = format!("dst_{}", uuid::Uuid::new_v4());
    let a = app
        .get(&format!("/attribute/{user}/{unknown_dst}/BTC"))
        .await;
    assert_error(&a, 404);
    let a = app
        .store_attributes(
            &user,
            &unknown_dst,
            "BTC",
            &[(BTC_WALLET_ATTR, BTC_ADDRESS)],
        )
        .await;
    assert_error(&a, 404);

    let unknown_user = format!("usr_{}", uuid::Uuid::new_v4());
    let a = app.get(&btc_path(&unknown_user)).await;
    assert_error(&a, 404);
}
