//! Shared plumbing for the reliability suite: in-process sandboxes, one pooled HTTP client, a raw
//! HTTP/1.1 client for bytes `reqwest` refuses to send, exact decimals, MassPay's error shape and a
//! small deterministic random generator. Nothing here is imported from `tests/api`.

#![allow(dead_code)]

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use masspay_sandbox::Sandbox;
use reqwest::{Method, RequestBuilder};
use rust_decimal::Decimal;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The seed guide's funding accounts (fixture constants, the same in every tenant).
pub const USD_SOURCE: &str = "clnt_wlt_ba4275f2-bae1-488d-9d6f-20af1cd83574";
pub const BTC_SOURCE: &str = "clnt_wlt_8bb3693f-2f98-43dd-a990-615b6a21596d";
/// The seed's crypto destination (MEX, BTC, CRYPTOCURRENCY: settles at once). USD pricing: fee
/// 2.99, limits 1..10000; BTC pricing: fee 0.00002, limits 0.0001..1. Rate USD→BTC 0.00001052.
pub const BTC_DESTINATION: &str = "dst_d2138fd0-00be-45a8-985f-4f5bde500962";
/// Its required wallet address (`^(?:[13][a-km-zA-HJ-NP-Z1-9]{25,34}|bc1[ac-hj-np-z02-9]{11,71})$`)
/// and the seed's optional `[0-9]{50}` Checking Account Number.
pub const BTC_WALLET_ATTR: &str = "attr_0b7e9c1a-3f2d-4e5b-8a6c-7d8e9f0a1b2c";
pub const CHECKING_ATTR: &str = "attr_e2ca24e9-c546-4c64-90d2-cb8e70e7c9ba";
pub const BTC_ADDRESS: &str = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq";
/// A MEX bank deposit paying MXN (settles 3600 s after initiate): fee 3.99, limits 1..15000, rate
/// 17.0520; it requires an 18-digit CLABE and the account holder's name.
pub const MXN_BANK_DESTINATION: &str = "dst_fe811d9b-119c-461c-a388-afc72a858132";
pub const CLABE_ATTR: &str = "attr_4eae3d12-2eda-4c8f-bf42-abdddb5f5285";
pub const HOLDER_NAME_ATTR: &str = "attr_22e4e4a1-174a-4488-bd11-5906d658e2e6";
/// The requirement the `additional_attributes` scenario (magic `.53`) adds.
pub const SOURCE_OF_FUNDS_ATTR: &str = "attr_5c0f3a8e-2d4b-4e1f-9a7c-6b8d0e2f4a61";
/// A MEX crypto destination paying USDC and USDT (ERC-20): fee 1.50 USD / 1 USDC, limits 10..25000.
pub const STABLECOIN_DESTINATION: &str = "dst_839bb23a-b2e3-4179-bb55-a382e90f4afb";
pub const ERC20_WALLET_ATTR: &str = "attr_0b1c6a96-b1f5-4ab2-8f4a-a46764e29b77";
pub const ETH_ADDRESS: &str = "0x52908400098527886E0F7030069857D2E4169EE7";
/// A MEX ETH destination: USD fee 2.49, limits 5..10000, rate USD→ETH 0.000285714285714286.
pub const ETH_DESTINATION: &str = "dst_a1e9d3ee-a174-47c2-94b1-afb8ac7fa956";

pub const USD_BTC_RATE: &str = "0.00001052";
pub const USD_MXN_RATE: &str = "17.0520";
pub const USD_ETH_RATE: &str = "0.000285714285714286";

/// One line per test with what it did, visible with `-- --nocapture`.
pub fn report(test: &str, counts: &[(&str, u64)]) {
    let parts: Vec<String> = counts.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("[reliability] {test}: {}", parts.join(", "));
}

/// A sandbox running in this process and the one pooled client every test request goes through.
#[derive(Clone)]
pub struct Server {
    pub sandbox: Arc<Sandbox>,
    pub client: reqwest::Client,
    /// Requests built through [`App::request`] (what the tests report as "requests").
    sent: Arc<std::sync::atomic::AtomicU64>,
}

impl Server {
    pub async fn start() -> Server {
        let sandbox = Sandbox::builder().start().await.expect("sandbox starts");
        Server::with(sandbox)
    }

    pub fn with(sandbox: Sandbox) -> Server {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client builds");
        Server {
            sandbox: Arc::new(sandbox),
            client,
            sent: Arc::default(),
        }
    }

    pub fn base(&self) -> String {
        self.sandbox.base_url()
    }

    /// How many requests the tests sent through [`App::request`] so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A fresh API key on this server: a fresh tenant, seeded from the fixtures.
    pub fn tenant(&self) -> App {
        App {
            server: self.clone(),
            key: format!("reliability-{}", uuid::Uuid::new_v4()),
        }
    }
}

/// One tenant (API key) of a server.
#[derive(Clone)]
pub struct App {
    pub server: Server,
    pub key: String,
}

/// A whole answer: status, headers, the exact body bytes, and the body parsed when it is JSON.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub bytes: Vec<u8>,
    pub text: String,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn replayed(&self) -> bool {
        self.header("idempotent-replayed") == Some("true")
    }
}

impl App {
    /// `/_sandbox…`, `/health` and `/v…` from the server's root; anything else under `/v0.1.4`.
    pub fn url(&self, path: &str) -> String {
        let base = self.server.base();
        if path.starts_with("/_sandbox") || path.starts_with("/health") || path.starts_with("/v") {
            format!("{base}{path}")
        } else {
            format!("{base}/v0.1.4{path}")
        }
    }

    pub fn auth(&self) -> String {
        format!("Bearer {}", self.key)
    }

    /// A request carrying this tenant's key.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.server
            .sent
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.server
            .client
            .request(method, self.url(path))
            .header("Authorization", self.auth())
    }

    pub async fn get(&self, path: &str) -> Answer {
        answer(self.request(Method::GET, path)).await
    }

    /// Sends `body` as JSON text exactly as written (numbers keep their decimal text).
    pub async fn send_text(&self, method: Method, path: &str, body: &str) -> Answer {
        answer(
            self.request(method, path)
                .header("Content-Type", "application/json")
                .body(body.to_string()),
        )
        .await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Answer {
        self.send_text(Method::POST, path, &body.to_string()).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Answer {
        self.send_text(Method::PUT, path, &body.to_string()).await
    }

    /// Creates a user with a unique e-mail; returns its token.
    pub async fn create_user(&self) -> String {
        let a = self.post("/user", &user_body(&unique_email())).await;
        assert_eq!(a.status, 200, "create user: {}", a.text);
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
            &json!({ "values": values }),
        )
        .await
    }

    pub async fn store_btc_wallet(&self, user: &str) {
        let a = self
            .store_attributes(
                user,
                BTC_DESTINATION,
                "BTC",
                &[(BTC_WALLET_ATTR, BTC_ADDRESS)],
            )
            .await;
        assert_eq!(a.status, 200, "store BTC wallet: {}", a.text);
    }

    pub async fn store_mxn_bank_account(&self, user: &str) {
        let a = self
            .store_attributes(
                user,
                MXN_BANK_DESTINATION,
                "MXN",
                &[
                    (CLABE_ATTR, "002010077777777771"),
                    (HOLDER_NAME_ATTR, "John Doe"),
                ],
            )
            .await;
        assert_eq!(a.status, 200, "store CLABE: {}", a.text);
    }

    /// Initiates a payout from `source` (a funding token) to `destination` in `currency` for
    /// `source_amount` written exactly as given.
    pub async fn initiate(
        &self,
        user: &str,
        source: &str,
        destination: &str,
        currency: &str,
        source_amount: &str,
    ) -> Answer {
        self.send_text(
            Method::POST,
            &format!("/payout/{user}"),
            &payout_body(source, destination, currency, source_amount),
        )
        .await
    }

    /// Initiates a payout that must be created PENDING; returns its token.
    pub async fn pending_payout(
        &self,
        user: &str,
        source: &str,
        destination: &str,
        currency: &str,
        source_amount: &str,
    ) -> String {
        let a = self
            .initiate(user, source, destination, currency, source_amount)
            .await;
        assert_eq!(a.status, 200, "initiate: {}", a.text);
        assert_eq!(a.body["status"], "PENDING", "initiate: {}", a.text);
        let t = a.body["payout_token"].as_str().expect("payout_token");
        assert!(t.starts_with("payout_"), "initiate: {}", a.text);
        t.to_string()
    }

    pub async fn commit(&self, user: &str, payout: &str) -> Answer {
        answer(self.request(Method::PUT, &format!("/payout/{user}/{payout}"))).await
    }

    /// The tenant's balance in `currency`, read exactly from the JSON text.
    pub async fn balance(&self, currency: &str) -> Decimal {
        let a = self.get("/account/balance").await;
        assert_eq!(a.status, 200, "balance: {}", a.text);
        balance_of(&a.text, currency)
    }

    /// `PUT /_sandbox/balance` with the balance written as given.
    pub async fn set_balance(&self, currency: &str, balance: &str) -> Answer {
        self.send_text(
            Method::PUT,
            "/_sandbox/balance",
            &format!(r#"{{"currency_code":"{currency}","balance":{balance}}}"#),
        )
        .await
    }

    pub async fn state(&self) -> Value {
        let a = self.get("/_sandbox/state").await;
        assert_eq!(a.status, 200, "state: {}", a.text);
        a.body
    }

    /// The tenant's state without its clock (which moves with wall time): what a rejected
    /// request must leave unchanged.
    pub async fn state_without_clock(&self) -> Value {
        let mut s = self.state().await;
        if let Some(o) = s.as_object_mut() {
            o.remove("clock");
        }
        s
    }

    pub async fn advance(&self, seconds: u64) {
        let a = self
            .post("/_sandbox/clock/advance", &json!({ "seconds": seconds }))
            .await;
        assert_eq!(a.status, 200, "advance: {}", a.text);
    }
}

/// Sends a prepared request and reads the whole answer.
pub async fn answer(req: RequestBuilder) -> Answer {
    let resp = req.send().await.expect("the request is answered");
    read(resp).await
}

pub async fn read(resp: reqwest::Response) -> Answer {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.expect("the body reads").to_vec();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        bytes,
        text,
        body,
    }
}

pub fn unique_email() -> String {
    format!("jdoe+{}@example.com", uuid::Uuid::new_v4())
}

/// The seed guide's create-user body with this e-mail.
pub fn user_body(email: &str) -> Value {
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

/// An initiate body with the amount written exactly as given.
pub fn payout_body(source: &str, destination: &str, currency: &str, source_amount: &str) -> String {
    format!(
        r#"{{"destination_currency_code":"{currency}","source_token":"{source}","destination_token":"{destination}","source_amount":{source_amount}}}"#
    )
}

/// An exact decimal from text.
pub fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap_or_else(|e| panic!("{text:?} is not a decimal: {e}"))
}

/// The raw text of a top-level numeric field of a JSON object, asserting it is a JSON number.
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

/// A numeric field of a JSON object, read exactly from its text.
pub fn number(raw: &str, field: &str) -> Decimal {
    dec(&number_text(raw, field))
}

/// The raw text of each element of a JSON array.
pub fn raw_items(raw: &str) -> Vec<String> {
    let items: Vec<Box<RawValue>> =
        serde_json::from_str(raw).unwrap_or_else(|e| panic!("not a JSON array ({e}): {raw}"));
    items.into_iter().map(|i| i.get().to_string()).collect()
}

/// The balance of `currency` in a `GET /account/balance` answer, exactly.
pub fn balance_of(raw: &str, currency: &str) -> Decimal {
    raw_items(raw)
        .into_iter()
        .find(|item| {
            serde_json::from_str::<Value>(item).expect("JSON")["currency_code"] == currency
        })
        .map(|item| number(&item, "balance"))
        .unwrap_or_else(|| panic!("no {currency} balance in {raw}"))
}

/// Half-up rounding to `dp` places, written independently of the server's helper.
pub fn round_half_up(d: Decimal, dp: u32) -> Decimal {
    d.round_dp_with_strategy(dp, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
        .normalize()
}

/// MassPay's fixed `title`/`message`, and the sandbox's wording for the codes MassPay does not
/// word (README "Errors").
pub fn wording(code: u16) -> Option<(&'static str, &'static str)> {
    Some(match code {
        400 => ("Bad request.", "The request was invalid or malformed. Please ensure that the request body conforms to the required format and that all required parameters are included."),
        401 => ("Unauthorized.", "Authentication failed or credentials were not provided. Please ensure that you have provided valid API credentials and that they are authorized to access the MassPay API."),
        403 => ("Forbidden.", "The requested action is not allowed or the API credentials do not have sufficient permissions. Please ensure that the API credentials used for the request have the necessary permissions to perform the requested action."),
        404 => ("Not found.", "The requested resource was not found. Please ensure that the URL for the request is correct and that the requested resource exists."),
        405 => ("Method not allowed.", "The HTTP method used for the request is not supported by the MassPay API. Please ensure that you are using the correct HTTP method (e.g., POST) for the specific MassPay API endpoint."),
        409 => ("Still in use.", "The request conflicts with another request that is still being processed. Please retry once it has completed."),
        413 => ("Payload too large.", "The request body is larger than the API accepts. Please reduce the size of the request body."),
        422 => ("Unprocessable entity.", "The request was well-formed but cannot be processed. Please see Errors for the reason (an Idempotency-Key reused for a different request, or a sandbox limit reached)."),
        429 => ("Too many requests.", "Too many requests were sent in a given amount of time. Please wait before retrying."),
        503 => ("Service unavailable.", "The service is temporarily unavailable. Please try again later or contact support if the issue persists."),
        _ => return None,
    })
}

/// Why an answer is not an error in MassPay's one shape with status `code` (None: it is):
/// JSON object, `code` = status, the fixed `title`/`message` (any non-empty text for codes without
/// a documented wording), a non-empty `Exception`, an `Errors` array of strings and, for 400,
/// `error.reason` and `error.details` = `Errors`.
pub fn shape_problem(
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
    code: u16,
) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    if status != code {
        return Some(format!("status {status}, expected {code}: {text}"));
    }
    if !content_type.is_some_and(|c| c.starts_with("application/json")) {
        return Some(format!("content-type {content_type:?}: {text}"));
    }
    let Ok(b) = serde_json::from_slice::<Value>(body) else {
        return Some(format!("not JSON: {text}"));
    };
    if !b.is_object() {
        return Some(format!("not a JSON object: {text}"));
    }
    if b["code"] != code {
        return Some(format!("code is not {code}: {text}"));
    }
    match wording(code) {
        Some((title, message)) => {
            if b["title"] != title || b["message"] != message {
                return Some(format!("wrong title/message for {code}: {text}"));
            }
        }
        None => {
            if blank(&b["title"]) || blank(&b["message"]) {
                return Some(format!("no title/message: {text}"));
            }
        }
    }
    if blank(&b["Exception"]) {
        return Some(format!("no Exception: {text}"));
    }
    let Some(errors) = b["Errors"].as_array() else {
        return Some(format!("Errors is not an array: {text}"));
    };
    if errors.is_empty() || !errors.iter().all(Value::is_string) {
        return Some(format!("Errors is empty or not strings: {text}"));
    }
    if code == 400 {
        if blank(&b["error"]["reason"]) {
            return Some(format!("no error.reason: {text}"));
        }
        if b["error"]["details"].as_array() != Some(errors) {
            return Some(format!("error.details differs from Errors: {text}"));
        }
    }
    None
}

/// Not a non-empty string.
fn blank(v: &Value) -> bool {
    v.as_str().is_none_or(str::is_empty)
}

/// Asserts `a` is an error with status `code` in MassPay's shape; returns `Errors`.
pub fn assert_error(a: &Answer, code: u16, context: &str) -> Vec<String> {
    if let Some(problem) = shape_problem(a.status, a.header("content-type"), &a.bytes, code) {
        panic!("{context}: {problem}");
    }
    a.body["Errors"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A raw HTTP/1.1 answer (for requests whose bytes `reqwest` will not send as written).
#[derive(Debug)]
pub struct RawAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawAnswer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn shape_problem(&self, code: u16) -> Option<String> {
        shape_problem(self.status, self.header("content-type"), &self.body, code)
    }
}

/// Sends `request` (a complete HTTP/1.1 request, `Connection: close` expected) over a fresh TCP
/// connection and reads the answer until the server closes. `None`: the server closed without
/// an answer.
pub async fn raw_request(addr: std::net::SocketAddr, request: &[u8]) -> Option<RawAnswer> {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    // The server may answer (and close) before it has read everything, e.g. 413 or 431.
    let _ = stream.write_all(request).await;
    let _ = stream.flush().await;
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), async {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "the server neither answered nor closed within 20 s"
    );
    parse_raw(&buf)
}

fn parse_raw(buf: &[u8]) -> Option<RawAnswer> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let status: u16 = status_line.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let rest = &buf[end + 4..];
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    Some(RawAnswer {
        status,
        headers,
        body,
    })
}

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&rest[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok())
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = eol + 2;
        let end = (start + size).min(rest.len());
        out.extend_from_slice(&rest[start..end]);
        rest = rest.get(end + 2..).unwrap_or(&[]);
    }
    out
}

/// A small deterministic generator (xorshift64*): reproducible request mixes without a crate.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn range(&mut self, lo: u64, hi_inclusive: u64) -> u64 {
        lo + self.below(hi_inclusive - lo + 1)
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}
