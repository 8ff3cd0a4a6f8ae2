//! The in-process harness the benches share: the whole application (`api::app`) called as a
//! `tower::Service`, no sockets, and the payout flow's set-up.

use axum::body::{Body, Bytes};
use http_body_util::BodyExt;
use masspay_sandbox::api;
use tower::{Service, ServiceExt};

pub const AUTH: &str = "Bearer bench";
pub const DEST: &str = "dst_d2138fd0-00be-45a8-985f-4f5bde500962";

/// One request with the bench's key and a JSON body: (status, answer body).
pub async fn call(app: &mut api::Edge, method: &str, path: &str, body: String) -> (u16, Bytes) {
    let req = axum::http::Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", AUTH)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .expect("request");
    let res = app
        .ready()
        .await
        .expect("ready")
        .call(req)
        .await
        .expect("infallible");
    let status = res.status().as_u16();
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    (status, bytes)
}

/// A string field of a JSON answer, found without parsing (the harness should cost little).
pub fn field(body: &[u8], name: &str) -> String {
    let text = std::str::from_utf8(body).expect("UTF-8 answer");
    let key = format!("\"{name}\":\"");
    let start = text
        .find(&key)
        .map(|i| i + key.len())
        .expect("field present");
    let len = text[start..].find('"').expect("closing quote");
    text[start..start + len].to_owned()
}

/// A user who can be paid out in BTC (a stored wallet address) from a large USD balance; its
/// token.
pub async fn funded_payer(app: &mut api::Edge) -> String {
    let user = r#"{"internal_user_id":"bench-setup","country":"USA","first_name":"Bench","last_name":"Setup","email":"bench-setup@example.com"}"#;
    let (_, answer) = call(app, "POST", "/v0.1.4/user", user.into()).await;
    let user = field(&answer, "user_token");
    let balance = r#"{"currency_code":"USD","balance":"100000000000"}"#;
    call(app, "PUT", "/_sandbox/balance", balance.into()).await;
    let attr = r#"{"values":[{"token":"attr_0b7e9c1a-3f2d-4e5b-8a6c-7d8e9f0a1b2c","value":"bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"}]}"#;
    call(
        app,
        "POST",
        &format!("/v0.1.4/attribute/{user}/{DEST}/BTC"),
        attr.into(),
    )
    .await;
    user
}

/// The body of a 10 USD → BTC initiate with this client_transfer_id.
pub fn initiate_body(client_transfer_id: &str) -> String {
    format!(
        r#"{{"client_transfer_id":"{client_transfer_id}","source_currency_code":"USD","destination_currency_code":"BTC","source_token":"clnt_wlt_ba4275f2-bae1-488d-9d6f-20af1cd83574","destination_token":"{DEST}","source_amount":10,"metadata":{{"group_id":541}}}}"#
    )
}
