//! The one way tests start a sandbox and talk to it: over HTTP, as a client would.

use masspay_sandbox::Sandbox;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// The seed guide's funding account (USD) and crypto destination (MEX, BTC, CRYPTOCURRENCY).
pub const USD_SOURCE: &str = "clnt_wlt_ba4275f2-bae1-488d-9d6f-20af1cd83574";
pub const BTC_SOURCE: &str = "clnt_wlt_8bb3693f-2f98-43dd-a990-615b6a21596d";
pub const BTC_DESTINATION: &str = "dst_d2138fd0-00be-45a8-985f-4f5bde500962";
/// The required wallet-address attribute of the BTC destination, and the seed's optional
/// `[0-9]{50}` "Checking Account Number".
pub const BTC_WALLET_ATTR: &str = "attr_0b7e9c1a-3f2d-4e5b-8a6c-7d8e9f0a1b2c";
pub const CHECKING_ATTR: &str = "attr_e2ca24e9-c546-4c64-90d2-cb8e70e7c9ba";
pub const BTC_ADDRESS: &str = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq";
/// A MEX bank-deposit destination paying MXN (settles later: PROCESSING first).
pub const MXN_BANK_DESTINATION: &str = "dst_fe811d9b-119c-461c-a388-afc72a858132";

pub struct TestApp {
    pub sandbox: Sandbox,
    pub client: reqwest::Client,
    /// The API key of this test's tenant.
    pub key: String,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        let sandbox = Sandbox::builder().start().await.expect("sandbox starts");
        TestApp::with(sandbox)
    }

    pub fn with(sandbox: Sandbox) -> TestApp {
        TestApp {
            sandbox,
            client: reqwest::Client::new(),
            key: format!("test-key-{}", uuid::Uuid::new_v4()),
        }
    }

    /// `http://HOST:PORT/v0.1.4` + path.
    pub fn url(&self, path: &str) -> String {
        format!("{}/v0.1.4{}", self.sandbox.base_url(), path)
    }

    /// Sends a request with this test's key (as `Bearer`). `path` starting with `/_sandbox` or
    /// `http` is used as is; anything else goes under `/v0.1.4`.
    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        self.send_as(&format!("Bearer {}", self.key), method, path, body)
            .await
    }

    pub async fn send_as(
        &self,
        authorization: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        let url = if path.starts_with("http") {
            path.to_string()
        } else if path.starts_with("/_sandbox") || path == "/health" {
            format!("{}{}", self.sandbox.base_url(), path)
        } else {
            self.url(path)
        };
        let mut req = self.client.request(method, url);
        if !authorization.is_empty() {
            req = req.header("Authorization", authorization);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request is answered");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body reads");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Option<Value>) -> Answer {
        self.send(Method::PUT, path, body).await
    }

    /// Creates the seed guide's user (with a unique e-mail) and returns its token.
    pub async fn create_user(&self) -> String {
        let a = self
            .post(
                "/user",
                seed_user(&format!("jdoe+{}@example.com", uuid::Uuid::new_v4())),
            )
            .await;
        assert_eq!(a.status, 200, "{}", a.text);
        a.body["user_token"]
            .as_str()
            .expect("user_token")
            .to_string()
    }

    /// Stores a valid BTC wallet address for the user on the seed's destination.
    pub async fn store_btc_wallet(&self, user: &str) {
        let a = self
            .post(
                &format!("/attribute/{user}/{BTC_DESTINATION}/BTC"),
                json!({"values": [{"token": BTC_WALLET_ATTR, "value": BTC_ADDRESS}]}),
            )
            .await;
        assert_eq!(a.status, 200, "{}", a.text);
    }

    /// Initiates a USD → BTC payout on the seed's destination; returns the answer.
    pub async fn initiate_btc(&self, user: &str, source_amount: &str) -> Answer {
        let body: Value = serde_json::from_str(&format!(
            r#"{{"source_currency_code":"USD","destination_currency_code":"BTC","source_token":"{USD_SOURCE}","destination_token":"{BTC_DESTINATION}","source_amount":{source_amount}}}"#
        ))
        .expect("valid JSON");
        self.post(&format!("/payout/{user}"), body).await
    }

    pub async fn commit(&self, user: &str, payout: &str) -> Answer {
        self.put(&format!("/payout/{user}/{payout}"), None).await
    }

    /// The tenant's balance in `currency` as the exact decimal text the API wrote.
    pub async fn balance(&self, currency: &str) -> String {
        let a = self.get("/account/balance").await;
        assert_eq!(a.status, 200, "{}", a.text);
        balance_text(&a.text, currency)
    }

    pub async fn advance_clock(&self, seconds: i64) {
        let a = self
            .post("/_sandbox/clock/advance", json!({ "seconds": seconds }))
            .await;
        assert_eq!(a.status, 200, "{}", a.text);
    }
}

/// The seed guide's create-user body.
pub fn seed_user(email: &str) -> Value {
    json!({
        "internal_user_id": "4324-rOzk",
        "address1": "2000 main st",
        "address2": "apt D",
        "city": "Santa Monica",
        "state_province": "CA",
        "postal_code": "90405",
        "country": "USA",
        "first_name": "John",
        "middle_name": "",
        "last_name": "Doe",
        "email": email,
        "language": "en",
        "mobile_number": "16502000226",
        "business_name": "ABC Company",
        "date_of_birth": "1975-03-24",
        "metadata": {"group_id": 541}
    })
}

/// Reads `"balance":<number>` of `currency` from the raw JSON text, so the exact decimal the
/// server wrote is compared (no float parsing).
pub fn balance_text(raw: &str, currency: &str) -> String {
    let v: Value = serde_json::from_str(raw).expect("JSON");
    let entries = v.as_array().expect("array");
    let idx = entries
        .iter()
        .position(|e| e["currency_code"] == currency)
        .unwrap_or_else(|| panic!("no {currency} balance in {raw}"));
    // Find the idx-th "balance": in the text.
    let mut rest = raw;
    let mut found = "";
    for _ in 0..=idx {
        let at = rest.find("\"balance\":").expect("balance field") + "\"balance\":".len();
        rest = &rest[at..];
        let end = rest.find([',', '}']).expect("end of number");
        found = &rest[..end];
    }
    found.trim().to_string()
}

/// Reads a numeric field's raw text from a JSON object text (first occurrence).
pub fn number_text(raw: &str, field: &str) -> String {
    let key = format!("\"{field}\":");
    let at = raw
        .find(&key)
        .unwrap_or_else(|| panic!("{field} not in {raw}"))
        + key.len();
    let rest = &raw[at..];
    let end = rest.find([',', '}']).expect("end of number");
    rest[..end].trim().to_string()
}
