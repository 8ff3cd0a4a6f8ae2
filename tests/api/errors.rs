//! Transport-level failures: unknown routes and methods, bad bodies, oversized bodies, path and
//! query tolerance. Every error is JSON in MassPay's one error shape, never an HTML/plain page.

use crate::helpers::*;
use reqwest::Method;

/// Sends raw bytes to `path` with this `Content-Type` (none if empty).
async fn send_bytes(
    app: &TestApp,
    method: Method,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> Answer {
    let mut req = app.request(method, path).body(body);
    if !content_type.is_empty() {
        req = req.header("Content-Type", content_type);
    }
    answer(req).await
}

/// The number of users the tenant holds, from the admin state dump.
async fn user_count(app: &TestApp) -> usize {
    let a = app.get("/_sandbox/state").await;
    assert_eq!(a.status, 200, "{}", a.text);
    a.body["users"].as_array().expect("users").len()
}

fn seed_user_text(email: &str) -> String {
    seed_user(email).to_string()
}

#[tokio::test]
async fn an_unknown_route_is_a_404_json_error() {
    let app = TestApp::spawn().await;
    for path in [
        "/v0.1.4/no/such/operation",
        "/v0.1.4/account",
        "/v9.9.9/account/balance",
        "/nothing-here",
    ] {
        let a = app.get(path).await;
        assert_eq!(a.status, 404, "{path}: {}", a.text);
        assert_error(&a, 404);
    }
    let a = app
        .post("/v0.1.4/user/a/b/c/d", serde_json::json!({}))
        .await;
    assert_error(&a, 404);
}

#[tokio::test]
async fn a_wrong_method_is_a_405_json_error() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    for (method, path) in [
        (Method::DELETE, "/account/balance".to_string()),
        (Method::POST, "/account/balance".to_string()),
        (Method::PUT, "/user".to_string()),
        (Method::DELETE, format!("/user/{user}")),
        (Method::POST, "/country/list".to_string()),
        (Method::DELETE, format!("/payout/{user}")),
        (Method::DELETE, "/_sandbox/clock".to_string()),
        (Method::GET, "/_sandbox/reset".to_string()),
    ] {
        let a = app.send(method.clone(), &path, None).await;
        assert_eq!(a.status, 405, "{method} {path}: {}", a.text);
        assert_error(&a, 405);
    }
}

#[tokio::test]
async fn malformed_json_is_a_400() {
    let app = TestApp::spawn().await;
    for body in [
        "{not json}",
        "{\"first_name\": \"John\",}",
        "[1, 2, 3]",
        "\"a string\"",
        "null",
    ] {
        let a = app.send_text(Method::POST, "/user", body).await;
        assert_eq!(a.status, 400, "{body}: {}", a.text);
        assert_error(&a, 400);
    }
    assert_eq!(user_count(&app).await, 0);
}

#[tokio::test]
async fn truncated_json_is_a_400() {
    let app = TestApp::spawn().await;
    let full = seed_user_text("cut@example.com");
    let a = app
        .send_text(Method::POST, "/user", &full[..full.len() / 2])
        .await;
    assert_error(&a, 400);
    assert_eq!(user_count(&app).await, 0);
}

/// A body's 400 names what is wrong: the field's path for a value of the wrong type (nested and
/// in arrays too), and trailing data after a whole JSON document.
#[tokio::test]
async fn a_bad_body_names_the_field_or_the_trailing_data() {
    let app = TestApp::spawn().await;
    let mut user = seed_user("path@example.com");
    user["email"] = serde_json::json!(5);
    let a = app.post("/user", user).await;
    assert_error(&a, 400);
    assert!(a.text.contains("email: invalid type"), "{}", a.text);
    let user = app.create_user().await;
    let a = app
        .send_text(
            Method::POST,
            &format!("/user/{user}/kyc/id"),
            r#"[{"type": "face", "content": "iVBORw0KGgo="}, {"type": 7}]"#,
        )
        .await;
    assert_error(&a, 400);
    assert!(a.text.contains("[1].type: invalid type"), "{}", a.text);
    let trailing = format!("{} {{}}", seed_user_text("trailing@example.com"));
    let a = app.send_text(Method::POST, "/user", &trailing).await;
    assert_error(&a, 400);
    assert!(a.text.contains("trailing data"), "{}", a.text);
    assert_eq!(user_count(&app).await, 1);
}

#[tokio::test]
async fn an_empty_body_is_a_400() {
    let app = TestApp::spawn().await;
    let a = send_bytes(&app, Method::POST, "/user", "application/json", Vec::new()).await;
    assert_error(&a, 400);
}

#[tokio::test]
async fn a_body_that_is_not_utf8_is_a_400() {
    let app = TestApp::spawn().await;
    let mut body = br#"{"first_name": ""#.to_vec();
    body.extend_from_slice(&[0xff, 0xfe, 0xfd]);
    body.extend_from_slice(br#""}"#);
    let a = send_bytes(&app, Method::POST, "/user", "application/json", body).await;
    assert_error(&a, 400);
}

#[tokio::test]
async fn a_string_field_sent_as_a_number_is_a_400_naming_it() {
    let app = TestApp::spawn().await;
    let mut body = seed_user("typed@example.com");
    body["first_name"] = serde_json::json!(5);
    let a = app.post("/user", body).await;
    let details = assert_error(&a, 400);
    assert_mentions(&details, &["first_name"]);
    assert_eq!(user_count(&app).await, 0);
}

#[tokio::test]
async fn an_amount_sent_as_a_string_is_a_400_naming_it() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    let a = app
        .initiate(
            &user,
            "",
            &format!(
                r#"{{"destination_currency_code":"BTC","source_token":"{USD_SOURCE}","destination_token":"{BTC_DESTINATION}","source_amount":"100"}}"#
            ),
        )
        .await;
    let details = assert_error(&a, 400);
    assert_mentions(&details, &["source_amount"]);
    let a = app.get(&format!("/payout/{user}")).await;
    assert_eq!(a.body.as_array().map(Vec::len), Some(0), "{}", a.text);
}

#[tokio::test]
async fn a_json_body_is_parsed_whatever_the_content_type_says() {
    let app = TestApp::spawn().await;
    for (i, content_type) in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/octet-stream",
        "",
    ]
    .into_iter()
    .enumerate()
    {
        let email = format!("ct{i}@example.com");
        let a = send_bytes(
            &app,
            Method::POST,
            "/user",
            content_type,
            seed_user_text(&email).into_bytes(),
        )
        .await;
        assert_eq!(a.status, 200, "{content_type:?}: {}", a.text);
        assert_eq!(a.body["email"], email.as_str());
    }
    assert_eq!(user_count(&app).await, 4);
}

#[tokio::test]
async fn a_body_over_64_kib_is_a_413_json_error_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let mut body = seed_user("big@example.com");
    body["metadata"] = serde_json::json!({ "padding": "x".repeat(65 * 1024) });
    let a = app.post("/user", body).await;
    assert_error(&a, 413);
    assert_eq!(user_count(&app).await, 0);

    // Just under the limit is fine (padded in a field the sandbox ignores: `metadata` itself
    // is limited to 16 KiB).
    let mut body = seed_user("almost@example.com");
    body["padding"] = serde_json::json!("x".repeat(60 * 1024));
    let a = app.post("/user", body).await;
    assert_eq!(a.status, 200, "{}", &a.text[..200.min(a.text.len())]);
}

#[tokio::test]
async fn double_and_trailing_slashes_are_collapsed() {
    let app = TestApp::spawn().await;
    let a = app.get("/v0.1.4//account//balance/").await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(balance_text(&a.text, "USD"), "250000");

    let a = app
        .send_text(
            Method::POST,
            "/v0.1.4//user/",
            &seed_user_text("slashes@example.com"),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let user = a.body["user_token"].as_str().unwrap();

    let a = app.get(&format!("/v0.1.4/user/{user}/")).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["user_token"], user);
    let a = app.get(&format!("/v0.1.4//user//{user}")).await;
    assert_eq!(a.status, 200, "{}", a.text);
}

#[tokio::test]
async fn unknown_query_parameters_are_ignored() {
    let app = TestApp::spawn().await;
    let a = app.get("/account/balance?foo=bar&utm_source=ci").await;
    assert_eq!(a.status, 200, "{}", a.text);

    let plain = app.get("/country/MEX").await;
    let extra = app.get("/country/MEX?colour=blue&page=3").await;
    assert_eq!(extra.status, 200, "{}", extra.text);
    assert_eq!(
        extra.body["companies"].as_array().map(Vec::len),
        plain.body["companies"].as_array().map(Vec::len)
    );

    let user = app.create_user().await;
    let a = app.get(&format!("/user/{user}?verbose=1")).await;
    assert_eq!(a.status, 200, "{}", a.text);
}

#[tokio::test]
async fn a_known_query_parameter_with_a_bad_value_is_a_400_naming_it() {
    let app = TestApp::spawn().await;
    let a = app.get("/country/MEX?include_payer_logos=perhaps").await;
    let details = assert_error(&a, 400);
    assert_mentions(&details, &["include_payer_logos"]);
    let a = app.get("/country/MEX?amount=lots").await;
    let details = assert_error(&a, 400);
    assert_mentions(&details, &["amount"]);
}

#[tokio::test]
async fn the_sdk_default_query_values_are_accepted() {
    // js 2.0.0 sends the defaults explicitly (reference §3.3).
    let app = TestApp::spawn().await;
    let a = app
        .get("/country/MEX/cheapest?amount=200&include_payer_logos=false")
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    let payout = app.pending_btc_payout(&user, "20").await;
    let a = app
        .get(&format!(
            "/payout/{user}/{payout}?force_status_update=false"
        ))
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
}
