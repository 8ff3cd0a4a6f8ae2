//! Auth and tenant isolation: which `Authorization` headers reach which sandbox.

use crate::helpers::*;
use masspay_sandbox::Sandbox;
use reqwest::Method;

/// Creates a user through `authorization` and returns its token.
async fn create_user_as(app: &TestApp, authorization: &str) -> String {
    let a = app
        .send_as(
            authorization,
            Method::POST,
            "/user",
            Some(seed_user(&format!("{}@example.com", uuid::Uuid::new_v4()))),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    a.body["user_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn bearer_in_any_case_and_the_raw_key_reach_the_same_tenant() {
    let app = TestApp::spawn().await;
    let key = &app.key;
    let user = create_user_as(&app, &format!("Bearer {key}")).await;

    for authorization in [
        format!("bearer {key}"),
        format!("BEARER {key}"),
        format!("BeArEr {key}"),
        key.clone(),
    ] {
        let a = app
            .send_as(&authorization, Method::GET, &format!("/user/{user}"), None)
            .await;
        assert_eq!(a.status, 200, "{authorization}: {}", a.text);
        assert_eq!(a.body["user_token"], user.as_str());
    }

    // And the other way round: a user made with the raw key is seen with `Bearer`.
    let other = create_user_as(&app, key).await;
    let a = app.get(&format!("/user/{other}")).await;
    assert_eq!(a.status, 200, "{}", a.text);
}

#[tokio::test]
async fn a_missing_authorization_header_is_401_in_masspays_error_shape() {
    let app = TestApp::spawn().await;
    let a = app.send_as("", Method::GET, "/account/balance", None).await;
    assert_error(&a, 401);
}

#[tokio::test]
async fn an_empty_authorization_header_is_401() {
    let app = TestApp::spawn().await;
    let a = answer(
        app.client
            .get(app.url("/account/balance"))
            .header("Authorization", ""),
    )
    .await;
    assert_error(&a, 401);
    let a = answer(
        app.client
            .get(app.url("/account/balance"))
            .header("Authorization", "   "),
    )
    .await;
    assert_error(&a, 401);
}

#[tokio::test]
async fn the_bearer_scheme_word_without_a_key_is_401() {
    let app = TestApp::spawn().await;
    for authorization in ["Bearer", "Bearer   ", "bearer"] {
        let a = answer(
            app.client
                .get(app.url("/account/balance"))
                .header("Authorization", authorization),
        )
        .await;
        assert_eq!(a.status, 401, "{authorization:?}: {}", a.text);
        assert_error(&a, 401);
    }
}

#[tokio::test]
async fn only_the_configured_keys_are_accepted() {
    let app = TestApp::spawn_with(Sandbox::builder().api_key("k1")).await;

    for authorization in ["Bearer k1", "bearer k1", "k1"] {
        let a = app
            .send_as(authorization, Method::GET, "/account/balance", None)
            .await;
        assert_eq!(a.status, 200, "{authorization}: {}", a.text);
    }
    for authorization in ["Bearer k2", "k2", "Bearer k1x", ""] {
        let a = app
            .send_as(authorization, Method::GET, "/account/balance", None)
            .await;
        assert_error(&a, 401);
    }
    // The admin API is behind the same keys.
    let a = app
        .send_as("Bearer k2", Method::GET, "/_sandbox/state", None)
        .await;
    assert_error(&a, 401);
}

#[tokio::test]
async fn a_401_changes_nothing() {
    let app = TestApp::spawn_with(Sandbox::builder().api_key("k1")).await;
    let a = app
        .send_as(
            "Bearer intruder",
            Method::POST,
            "/user",
            Some(seed_user("intruder@example.com")),
        )
        .await;
    assert_error(&a, 401);
    let a = app
        .send_as("k1", Method::GET, "/_sandbox/state", None)
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(
        a.body["users"].as_array().map(Vec::len),
        Some(0),
        "{}",
        a.text
    );
}

#[tokio::test]
async fn another_keys_user_and_payout_are_not_found() {
    let a_app = TestApp::spawn().await;
    let user = a_app.create_user().await;
    a_app.store_btc_wallet(&user).await;
    let payout = a_app.pending_btc_payout(&user, "100").await;

    let b_app = a_app.other_tenant();
    for (method, path) in [
        (Method::GET, format!("/user/{user}")),
        (Method::GET, format!("/payout/{user}")),
        (Method::GET, format!("/payout/{user}/{payout}")),
        (Method::PUT, format!("/payout/{user}/{payout}")),
        (
            Method::GET,
            format!("/attribute/{user}/{BTC_DESTINATION}/BTC"),
        ),
    ] {
        let a = b_app.send(method.clone(), &path, None).await;
        assert_eq!(a.status, 404, "{method} {path}: {}", a.text);
        assert_error(&a, 404);
    }

    // Key B's attempt to commit did nothing to key A's payout or balance.
    assert_eq!(a_app.payout_status(&user, &payout).await, "PENDING");
    assert_eq!(a_app.balance("USD").await, "250000");
}

#[tokio::test]
async fn balances_are_per_key() {
    let app = TestApp::spawn().await;
    let a = app.set_balance("USD", "\"10.00\"").await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(app.balance("USD").await, "10");

    assert_eq!(app.other_tenant().balance("USD").await, "250000");
}

#[tokio::test]
async fn health_answers_without_auth() {
    let app = TestApp::spawn().await;
    let a = app.send_as("", Method::GET, "/health", None).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let a = app
        .send_as("Bearer whatever", Method::GET, "/health", None)
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
}
