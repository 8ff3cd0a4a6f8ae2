//! The one way tests start a sandbox and talk to it: over HTTP, as a client would.

use std::str::FromStr;
use std::sync::Arc;

use masspay_sandbox::{Sandbox, SandboxBuilder};
use reqwest::{Method, RequestBuilder, StatusCode};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;
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
/// A MEX bank-deposit destination paying MXN (settles later: PROCESSING first), and the two
/// attributes it requires: an 18-digit CLABE and the account holder's name.
pub const MXN_BANK_DESTINATION: &str = "dst_fe811d9b-119c-461c-a388-afc72a858132";
pub const CLABE_ATTR: &str = "attr_4eae3d12-2eda-4c8f-bf42-abdddb5f5285";
pub const HOLDER_NAME_ATTR: &str = "attr_22e4e4a1-174a-4488-bd11-5906d658e2e6";
/// A MEX crypto destination paying USDC and USDT (ERC-20), with its wallet attribute.
pub const STABLECOIN_DESTINATION: &str = "dst_839bb23a-b2e3-4179-bb55-a382e90f4afb";
pub const ERC20_WALLET_ATTR: &str = "attr_0b1c6a96-b1f5-4ab2-8f4a-a46764e29b77";
pub const ETH_ADDRESS: &str = "0x52908400098527886E0F7030069857D2E4169EE7";

/// The funding currencies of the fixtures, with their initial balances as the API writes them.
pub const INITIAL_BALANCES: &[(&str, &str)] = &[
    ("USD", "250000"),
    ("BTC", "1.938135"),
    ("ETH", "42.5"),
    ("USDC", "50000"),
    ("USDT", "50000"),
    ("LTC", "310.25"),
];

/// MassPay's fixed error wording (reference §0.5), and the sandbox's for 413 (SPEC §4b), 422 and
/// 429 (README "Errors").
pub fn error_wording(code: u16) -> (&'static str, Option<&'static str>) {
    match code {
        400 => ("Bad request.", Some("The request was invalid or malformed. Please ensure that the request body conforms to the required format and that all required parameters are included.")),
        401 => ("Unauthorized.", Some("Authentication failed or credentials were not provided. Please ensure that you have provided valid API credentials and that they are authorized to access the MassPay API.")),
        404 => ("Not found.", Some("The requested resource was not found. Please ensure that the URL for the request is correct and that the requested resource exists.")),
        405 => ("Method not allowed.", Some("The HTTP method used for the request is not supported by the MassPay API. Please ensure that you are using the correct HTTP method (e.g., POST) for the specific MassPay API endpoint.")),
        413 => ("Payload too large.", None),
        422 => ("Unprocessable entity.", Some("The request was well-formed but cannot be processed. Please see Errors for the reason (an Idempotency-Key reused for a different request, or a sandbox limit reached).")),
        429 => ("Too many requests.", Some("Too many requests were sent in a given amount of time. Please wait before retrying.")),
        other => panic!("no wording known for {other}"),
    }
}

#[derive(Clone)]
pub struct TestApp {
    /// Shared by every tenant view of the same server (see [`TestApp::other_tenant`]).
    pub sandbox: Arc<Sandbox>,
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
        TestApp::spawn_with(Sandbox::builder()).await
    }

    /// A sandbox started from `builder` (fixed start time, allowed keys, …).
    pub async fn spawn_with(builder: SandboxBuilder) -> TestApp {
        let sandbox = builder.start().await.expect("sandbox starts");
        TestApp::with(sandbox)
    }

    pub fn with(sandbox: Sandbox) -> TestApp {
        TestApp {
            sandbox: Arc::new(sandbox),
            client: reqwest::Client::new(),
            key: format!("test-key-{}", uuid::Uuid::new_v4()),
        }
    }

    /// Another handle on this test's tenant (same server, same key), e.g. for a task.
    pub fn same_tenant(&self) -> TestApp {
        TestApp {
            sandbox: Arc::clone(&self.sandbox),
            client: self.client.clone(),
            key: self.key.clone(),
        }
    }

    /// The same server seen with another, fresh API key: another tenant.
    pub fn other_tenant(&self) -> TestApp {
        TestApp {
            sandbox: Arc::clone(&self.sandbox),
            client: self.client.clone(),
            key: format!("other-key-{}", uuid::Uuid::new_v4()),
        }
    }

    /// `http://HOST:PORT/v0.1.4` + path.
    pub fn url(&self, path: &str) -> String {
        format!("{}/v0.1.4{}", self.sandbox.base_url(), path)
    }

    /// Where `path` goes: `http…` as is; `/_sandbox…`, `/health` and any `/vX.Y.Z/…` path from
    /// the server's root; anything else under `/v0.1.4`.
    pub fn full_url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else if path.starts_with("/_sandbox") || path == "/health" || path.starts_with("/v") {
            format!("{}{}", self.sandbox.base_url(), path)
        } else {
            self.url(path)
        }
    }

    /// A request to `path` carrying this test's key as `Bearer`; finish it with [`answer`].
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.full_url(path))
            .header("Authorization", format!("Bearer {}", self.key))
    }

    /// Sends a request with this test's key (as `Bearer`). See [`TestApp::full_url`].
    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        self.send_as(&format!("Bearer {}", self.key), method, path, body)
            .await
    }

    /// Sends with this `Authorization` header value (none when empty).
    pub async fn send_as(
        &self,
        authorization: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        let mut req = self.client.request(method, self.full_url(path));
        if !authorization.is_empty() {
            req = req.header("Authorization", authorization);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        answer(req).await
    }

    /// Sends `body` as JSON text exactly as written (amounts keep their decimal text).
    pub async fn send_text(&self, method: Method, path: &str, body: &str) -> Answer {
        answer(
            self.request(method, path)
                .header("Content-Type", "application/json")
                .body(body.to_string()),
        )
        .await
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

    pub async fn delete(&self, path: &str) -> Answer {
        self.send(Method::DELETE, path, None).await
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

    /// POSTs attribute values `(token, value)` for (user, destination, currency).
    pub async fn store_attributes(
        &self,
        user: &str,
        destination: &str,
        currency: &str,
        values: &[(&str, &str)],
    ) -> Answer {
        let values: Vec<Value> = values
            .iter()
            .map(|(token, value)| json!({"token": token, "value": value}))
            .collect();
        self.post(
            &format!("/attribute/{user}/{destination}/{currency}"),
            json!({ "values": values }),
        )
        .await
    }

    /// Stores a valid BTC wallet address for the user on the seed's destination.
    pub async fn store_btc_wallet(&self, user: &str) {
        let a = self
            .store_attributes(
                user,
                BTC_DESTINATION,
                "BTC",
                &[(BTC_WALLET_ATTR, BTC_ADDRESS)],
            )
            .await;
        assert_eq!(a.status, 200, "{}", a.text);
    }

    /// Initiates a payout with a body given as JSON text (so amounts are sent exactly as
    /// written); `query` is appended to the path (e.g. `?limit=8.14`, or empty).
    pub async fn initiate(&self, user: &str, query: &str, body: &str) -> Answer {
        self.send_text(Method::POST, &format!("/payout/{user}{query}"), body)
            .await
    }

    /// Initiates a USD → BTC payout on the seed's destination; returns the answer.
    pub async fn initiate_btc(&self, user: &str, source_amount: &str) -> Answer {
        self.initiate(
            user,
            "",
            &format!(
                r#"{{"source_currency_code":"USD","destination_currency_code":"BTC","source_token":"{USD_SOURCE}","destination_token":"{BTC_DESTINATION}","source_amount":{source_amount}}}"#
            ),
        )
        .await
    }

    /// Initiates a USD → BTC payout and returns its token (asserting it was created PENDING).
    pub async fn pending_btc_payout(&self, user: &str, source_amount: &str) -> String {
        let a = self.initiate_btc(user, source_amount).await;
        assert_eq!(a.status, 200, "{}", a.text);
        assert_eq!(a.body["status"], "PENDING", "{}", a.text);
        let token = a.body["payout_token"].as_str().expect("payout_token");
        assert!(token.starts_with("payout_"), "{token}");
        token.to_string()
    }

    pub async fn commit(&self, user: &str, payout: &str) -> Answer {
        self.put(&format!("/payout/{user}/{payout}"), None).await
    }

    /// `GET /payout/{user}/{payout}`.
    pub async fn payout(&self, user: &str, payout: &str) -> Answer {
        self.get(&format!("/payout/{user}/{payout}")).await
    }

    /// The payout's `status` as `GET /payout/{user}/{payout}` reports it now.
    pub async fn payout_status(&self, user: &str, payout: &str) -> String {
        let a = self.payout(user, payout).await;
        assert_eq!(a.status, 200, "{}", a.text);
        a.body["status"].as_str().expect("status").to_string()
    }

    /// The tenant's balance in `currency` as the exact decimal text the API wrote.
    pub async fn balance(&self, currency: &str) -> String {
        let a = self.get("/account/balance").await;
        assert_eq!(a.status, 200, "{}", a.text);
        balance_text(&a.text, currency)
    }

    /// `PUT /_sandbox/balance` with `balance` as JSON text (a number, or a quoted string).
    pub async fn set_balance(&self, currency: &str, balance: &str) -> Answer {
        self.send_text(
            Method::PUT,
            "/_sandbox/balance",
            &format!(r#"{{"currency_code":"{currency}","balance":{balance}}}"#),
        )
        .await
    }

    /// `GET path` (a catalog query, 200) flattened into one offer per payer and currency.
    pub async fn offers(&self, path: &str) -> Vec<Offer> {
        let a = self.get(path).await;
        assert_eq!(a.status, 200, "{path}: {}", a.text);
        let mut all = Vec::new();
        for c in companies(&a.text).companies {
            for s in c.services {
                for p in s.payers {
                    for r in &p.exchange_rate {
                        all.push(Offer {
                            delivery_type: s.delivery_type.clone(),
                            currency: r.currency_symbol.clone(),
                            token: p.destination_token.clone(),
                            payer_name: p.payer_name.clone(),
                            rate: dec(r.exchange_rate.get()),
                            fee: dec(p.fee.get()),
                            min_limit: dec(p.min_limit.get()),
                            max_limit: dec(p.max_limit.get()),
                            source_amount: p.source_amount.as_deref().map(|s| dec(s.get())),
                        });
                    }
                }
            }
        }
        all
    }

    pub async fn advance_clock(&self, seconds: i64) {
        let a = self
            .post("/_sandbox/clock/advance", json!({ "seconds": seconds }))
            .await;
        assert_eq!(a.status, 200, "{}", a.text);
    }
}

/// Sends a prepared request and reads the whole answer.
pub async fn answer(req: RequestBuilder) -> Answer {
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

/// `CompaniesResp` as the catalog answers it, numbers kept as the text the server wrote.
#[derive(Deserialize)]
pub struct CompaniesResp {
    pub companies: Vec<Company>,
}

#[derive(Deserialize)]
pub struct Company {
    pub company_name: String,
    pub company_logo: String,
    pub services: Vec<Service>,
}

#[derive(Deserialize)]
pub struct Service {
    pub country_code: String,
    pub delivery_type: String,
    pub payers: Vec<Payer>,
}

#[derive(Deserialize)]
pub struct Payer {
    pub destination_token: String,
    pub payer_name: String,
    pub payer_logo: String,
    pub exchange_rate: Vec<Rate>,
    pub fee: Box<RawValue>,
    pub min_limit: Box<RawValue>,
    pub max_limit: Box<RawValue>,
    pub source_amount: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
pub struct Rate {
    pub currency_symbol: String,
    pub exchange_rate: Box<RawValue>,
}

/// Parses a catalog answer.
pub fn companies(raw: &str) -> CompaniesResp {
    serde_json::from_str(raw).unwrap_or_else(|e| panic!("not a CompaniesResp ({e}): {raw}"))
}

/// One payer paying one destination currency, as a catalog answer prices it. Numbers are exact
/// decimals read from the JSON text (a number sent as a string fails to parse).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    pub delivery_type: String,
    pub currency: String,
    pub token: String,
    pub payer_name: String,
    pub rate: Decimal,
    pub fee: Decimal,
    pub min_limit: Decimal,
    pub max_limit: Decimal,
    pub source_amount: Option<Decimal>,
}

impl Offer {
    /// Do the payer's limits (0 = none) include `amount`?
    pub fn accepts(&self, amount: Decimal) -> bool {
        amount >= self.min_limit && (self.max_limit.is_zero() || amount <= self.max_limit)
    }

    /// What the payee gets per unit the client pays when sending `amount`: what "cheapest"
    /// maximises.
    pub fn value_for(&self, amount: Decimal) -> Decimal {
        amount * self.rate / (amount + self.fee)
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

/// Asserts `a` is an error with status `code` in the one shape every client reads: `code`,
/// `title` and `message` with the fixed wording, `Exception`, an `Errors` array of strings and,
/// for 400, `error.reason` and `error.details` (the same list as `Errors`). Returns `Errors`.
pub fn assert_error(a: &Answer, code: u16) -> Vec<String> {
    assert_eq!(a.status.as_u16(), code, "{}", a.text);
    let content_type = a
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        content_type.starts_with("application/json"),
        "content-type {content_type:?}: {}",
        a.text
    );
    let b = &a.body;
    assert!(b.is_object(), "not a JSON object: {}", a.text);
    assert_eq!(b["code"], code, "{}", a.text);
    let (title, message) = error_wording(code);
    assert_eq!(b["title"], title, "{}", a.text);
    match message {
        Some(m) => assert_eq!(b["message"], m, "{}", a.text),
        None => assert!(
            b["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{}",
            a.text
        ),
    }
    assert!(
        b["Exception"].as_str().is_some_and(|e| !e.is_empty()),
        "{}",
        a.text
    );
    let errors: Vec<String> = b["Errors"]
        .as_array()
        .unwrap_or_else(|| panic!("Errors is not an array: {}", a.text))
        .iter()
        .map(|e| e.as_str().expect("Errors holds strings").to_string())
        .collect();
    assert!(!errors.is_empty(), "Errors is empty: {}", a.text);
    if code == 400 {
        assert!(
            b["error"]["reason"].as_str().is_some_and(|r| !r.is_empty()),
            "{}",
            a.text
        );
        let details: Vec<String> = b["error"]["details"]
            .as_array()
            .unwrap_or_else(|| panic!("error.details is not an array: {}", a.text))
            .iter()
            .map(|e| e.as_str().expect("details holds strings").to_string())
            .collect();
        assert_eq!(details, errors, "error.details and Errors differ");
    }
    errors
}

/// Asserts that some entry of `details` mentions each of `needles`.
pub fn assert_mentions(details: &[String], needles: &[&str]) {
    for n in needles {
        assert!(
            details.iter().any(|d| d.contains(n)),
            "no error mentions {n:?}: {details:?}"
        );
    }
}

/// Reads `"balance":<number>` of `currency` from the raw JSON text, so the exact decimal the
/// server wrote is compared (no float parsing).
pub fn balance_text(raw: &str, currency: &str) -> String {
    raw_items(raw)
        .into_iter()
        .find(|item| {
            serde_json::from_str::<Value>(item).expect("JSON")["currency_code"] == currency
        })
        .map(|item| number_text(&item, "balance"))
        .unwrap_or_else(|| panic!("no {currency} balance in {raw}"))
}

/// Reads a numeric field's raw text from a JSON object text (its top-level field), asserting it
/// is a JSON number, not a string.
pub fn number_text(raw: &str, field: &str) -> String {
    let fields: std::collections::HashMap<String, Box<RawValue>> =
        serde_json::from_str(raw).unwrap_or_else(|e| panic!("not a JSON object ({e}): {raw}"));
    let text = fields
        .get(field)
        .unwrap_or_else(|| panic!("{field} not in {raw}"))
        .get()
        .to_string();
    assert!(
        text.starts_with(|c: char| c == '-' || c.is_ascii_digit()),
        "{field} is not a JSON number: {text}"
    );
    text
}

/// The raw text of each element of a JSON array.
pub fn raw_items(raw: &str) -> Vec<String> {
    let items: Vec<Box<RawValue>> =
        serde_json::from_str(raw).unwrap_or_else(|e| panic!("not a JSON array ({e}): {raw}"));
    items.into_iter().map(|i| i.get().to_string()).collect()
}

/// An exact decimal from the text the server wrote (or a literal).
pub fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap_or_else(|e| panic!("{text:?} is not a decimal: {e}"))
}

/// The JSON text of a USD → BTC initiate on the seed's destination, with this
/// `client_transfer_id` and source amount (sent as written).
pub fn btc_initiate_body(client_transfer_id: &str, source_amount: &str) -> String {
    format!(
        r#"{{"client_transfer_id":"{client_transfer_id}","source_currency_code":"USD","destination_currency_code":"BTC","source_token":"{USD_SOURCE}","destination_token":"{BTC_DESTINATION}","source_amount":{source_amount}}}"#
    )
}
