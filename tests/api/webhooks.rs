//! Webhooks (SPEC §6b, reference §0.6, README "Webhooks"): a real HTTP receiver in this process
//! gets the sandbox's notifications — one per status change of a payout, load or spend-back, with
//! the reference's fields, signed as MassPay signs, retried with backoff, never slowing the API
//! call that caused them — and `/_sandbox/webhook(s)` shows and replays them.
//!
//! Waiting here is for asynchronous deliveries only (polling the receiver or the delivery log
//! with a deadline); sandbox time is always moved with `POST /_sandbox/clock/advance`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use hmac::{Hmac, Mac};
use masspay_sandbox::Sandbox;
use reqwest::Method;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{json, Value};
use sha2::Sha512;

use crate::helpers::*;

const SECRET: &str = "s3cret";
const DEFAULT_SECRET: &str = "sandbox_webhook_secret";
/// The `payout` payload of reference §0.6, in its order.
const PAYOUT_FIELDS: [&str; 17] = [
    "payout_token",
    "client_transfer_id",
    "source_currency_code",
    "destination_currency_code",
    "country_code",
    "payer_name",
    "source_token",
    "destination_token",
    "destination_amount",
    "source_amount",
    "attr_set_token",
    "exchange_rate",
    "fee",
    "expiration",
    "status",
    "status_reason",
    "event_type",
];
const LOAD_FIELDS: [&str; 10] = [
    "load_token",
    "time_of_load",
    "client_load_id",
    "source_token",
    "wallet_token",
    "amount",
    "source_currency_code",
    "notes",
    "status",
    "event_type",
];
const SPENDBACK_FIELDS: [&str; 4] = [
    "spendback_token",
    "client_spendback_id",
    "status",
    "event_type",
];
/// How long an asynchronous delivery may take to show up (it normally takes milliseconds).
const ARRIVAL: Duration = Duration::from_secs(10);

// ----- the receiver -------------------------------------------------------------------------

/// One POST the receiver got.
#[derive(Clone, Debug)]
struct Hit {
    /// When the request reached the receiver (before any programmed delay).
    at: Instant,
    /// Wall-clock unix seconds at arrival.
    wall: u64,
    path: String,
    content_type: Option<String>,
    signature: Option<String>,
    /// The raw body, byte for byte.
    body: String,
    /// The status the receiver answered.
    answered: u16,
}

struct ReceiverState {
    hits: Mutex<Vec<Hit>>,
    /// The status of the n-th request (the last one repeats; empty = always 200).
    statuses: Vec<u16>,
    /// Waited before each answer.
    delay: Duration,
}

/// A local HTTP server recording every POST to `/hook`.
struct Receiver {
    url: String,
    state: Arc<ReceiverState>,
}

async fn record(
    State(state): State<Arc<ReceiverState>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .map(|v| v.to_str().expect("header is text").to_string())
    };
    let answered = {
        let mut hits = state.hits.lock().unwrap();
        let answered = state
            .statuses
            .get(hits.len())
            .or(state.statuses.last())
            .copied()
            .unwrap_or(200);
        hits.push(Hit {
            at: Instant::now(),
            wall: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs(),
            path: uri.path().to_string(),
            content_type: header("content-type"),
            signature: header("x-masspay-signature"),
            body: String::from_utf8(body.to_vec()).expect("the body is UTF-8"),
            answered,
        });
        answered
    };
    if !state.delay.is_zero() {
        tokio::time::sleep(state.delay).await;
    }
    StatusCode::from_u16(answered).unwrap()
}

impl Receiver {
    /// Answers `statuses` in turn (the last repeats), each after `delay`.
    async fn start(statuses: &[u16], delay: Duration) -> Receiver {
        let state = Arc::new(ReceiverState {
            hits: Mutex::new(Vec::new()),
            statuses: statuses.to_vec(),
            delay,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("receiver binds");
        let addr = listener.local_addr().unwrap();
        let router = Router::new()
            .route("/hook", post(record))
            .with_state(Arc::clone(&state));
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Receiver {
            url: format!("http://{addr}/hook"),
            state,
        }
    }

    /// Always answers 200 at once.
    async fn ok() -> Receiver {
        Receiver::start(&[200], Duration::ZERO).await
    }

    fn hits(&self) -> Vec<Hit> {
        self.state.hits.lock().unwrap().clone()
    }

    /// Waits (polling every 20 ms) until at least `n` requests arrived; panics after `within`.
    async fn wait_for(&self, n: usize, within: Duration) -> Vec<Hit> {
        let start = Instant::now();
        loop {
            let hits = self.hits();
            if hits.len() >= n {
                return hits;
            }
            if start.elapsed() > within {
                let bodies: Vec<&str> = hits.iter().map(|h| h.body.as_str()).collect();
                panic!(
                    "expected {n} deliveries within {within:?}, got {}: {bodies:#?}",
                    hits.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

// ----- the payloads -------------------------------------------------------------------------

/// A JSON object's fields in the order written, each value as its raw text.
struct Fields(Vec<(String, String)>);

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Fields;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
                let mut all = Vec::new();
                while let Some(k) = map.next_key::<String>()? {
                    let v: Box<RawValue> = map.next_value()?;
                    all.push((k, v.get().to_string()));
                }
                Ok(Fields(all))
            }
        }
        d.deserialize_map(V)
    }
}

fn fields(raw: &str) -> Fields {
    serde_json::from_str(raw).unwrap_or_else(|e| panic!("not a JSON object ({e}): {raw}"))
}

impl Fields {
    fn names(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k.as_str()).collect()
    }

    /// A field's raw JSON text.
    fn raw(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A field of a JSON object text, as a `Value`.
fn field(raw: &str, name: &str) -> Value {
    let v: Value = serde_json::from_str(raw).unwrap_or_else(|e| panic!("not JSON ({e}): {raw}"));
    v[name].clone()
}

/// Asserts `body` is a `payout` event with exactly the §0.6 fields in their order, whose values
/// are — raw JSON text for raw JSON text — those of `get`, the text `GET /payout/{u}/{p}`
/// answered at that status (a `status_reason` the GET omits is `""` in the event).
fn assert_payout_event(body: &str, get: &str) {
    let event = fields(body);
    assert_eq!(event.names(), PAYOUT_FIELDS, "{body}");
    let payout = fields(get);
    for name in PAYOUT_FIELDS {
        let value = event.raw(name).unwrap();
        match name {
            "event_type" => assert_eq!(value, r#""payout""#, "{body}"),
            "status_reason" => assert_eq!(
                value,
                payout.raw("status_reason").unwrap_or(r#""""#),
                "status_reason: event {body} vs GET {get}"
            ),
            _ => assert_eq!(
                Some(value),
                payout.raw(name),
                "{name}: event {body} vs GET {get}"
            ),
        }
    }
}

// ----- signatures -----------------------------------------------------------------------------

/// `X-MassPay-Signature: t=<unix seconds>,s=<hex>` → (t as written, s).
fn signature_parts(hit: &Hit) -> (String, String) {
    let header = hit
        .signature
        .as_deref()
        .unwrap_or_else(|| panic!("no X-MassPay-Signature: {}", hit.body));
    let (t, s) = header
        .split_once(',')
        .unwrap_or_else(|| panic!("signature {header:?} is not t=…,s=…"));
    let t = t
        .strip_prefix("t=")
        .unwrap_or_else(|| panic!("signature {header:?} does not start with t="));
    let s = s
        .strip_prefix("s=")
        .unwrap_or_else(|| panic!("signature {header:?} has no s= after the comma"));
    assert!(
        !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()),
        "t is not unix seconds: {header:?}"
    );
    assert!(
        s.len() == 128 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
        "s is not the lower-case hex of a SHA-512 HMAC: {header:?}"
    );
    (t.to_string(), s.to_string())
}

/// Hex HMAC-SHA512 of `"<t>|<body>"`, computed here independently of the server.
fn hmac_hex(secret: &str, t: &str, body: &str) -> String {
    let mut mac = <Hmac<Sha512> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(t.as_bytes());
    mac.update(b"|");
    mac.update(body.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Does the hit's signature verify with `secret`?
fn verifies(hit: &Hit, secret: &str) -> bool {
    let (t, s) = signature_parts(hit);
    hmac_hex(secret, &t, &hit.body) == s
}

/// Asserts the hit is signed with `secret` (and with no other), with a current timestamp, and is
/// a JSON POST to the subscribed path.
fn assert_signed(hit: &Hit, secret: &str) {
    assert!(verifies(hit, secret), "not signed with {secret:?}: {hit:?}");
    assert!(!verifies(hit, "not-the-secret"), "{hit:?}");
    let (t, _) = signature_parts(hit);
    let t: u64 = t.parse().unwrap();
    assert!(
        t.abs_diff(hit.wall) <= 60,
        "t={t} is not within a minute of the wall clock ({})",
        hit.wall
    );
    assert_eq!(hit.path, "/hook");
    assert!(
        hit.content_type
            .as_deref()
            .is_some_and(|c| c.starts_with("application/json")),
        "{hit:?}"
    );
}

// ----- the sandbox side -----------------------------------------------------------------------

/// `PUT /_sandbox/webhook {"url","secret"}` → 200 with the subscription.
async fn subscribe(app: &TestApp, url: &str, secret: &str) {
    let a = app
        .put(
            "/_sandbox/webhook",
            Some(json!({ "url": url, "secret": secret })),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["url"], url, "{}", a.text);
    assert_eq!(a.body["secret"], secret, "{}", a.text);
}

/// `GET /_sandbox/webhooks`.
async fn deliveries(app: &TestApp) -> Vec<Value> {
    let a = app.get("/_sandbox/webhooks").await;
    assert_eq!(a.status, 200, "{}", a.text);
    a.body
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {}", a.text))
        .clone()
}

/// Polls the delivery log (every 20 ms) until `done` holds; panics after `within`.
async fn wait_log(
    app: &TestApp,
    what: &str,
    within: Duration,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let log = deliveries(app).await;
        if done(&log) {
            return log;
        }
        if start.elapsed() > within {
            panic!("{what}: not within {within:?}: {log:#?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until no delivery is pending any more.
async fn settled(app: &TestApp) -> Vec<Value> {
    wait_log(app, "every delivery settles", ARRIVAL, |log| {
        log.iter().all(|d| d["state"] != "pending")
    })
    .await
}

/// The logged deliveries whose body names `token` (as `payout_token`, `load_token`, …).
fn about<'a>(log: &'a [Value], key: &str, token: &str) -> Vec<&'a Value> {
    log.iter()
        .filter(|d| field(d["body"].as_str().unwrap(), key) == token)
        .collect()
}

fn statuses_of(hits: &[Hit]) -> Vec<String> {
    hits.iter()
        .map(|h| field(&h.body, "status").as_str().unwrap_or("?").to_string())
        .collect()
}

fn attempt_statuses(delivery: &Value) -> Vec<Value> {
    delivery["attempt_log"]
        .as_array()
        .unwrap_or_else(|| panic!("no attempt_log: {delivery}"))
        .iter()
        .map(|a| a["status"].clone())
        .collect()
}

/// A user with the seed's BTC wallet address stored.
async fn btc_user(app: &TestApp) -> String {
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    user
}

/// A user with CLABE and holder name stored for the MXN bank-deposit destination (its two
/// requirements in fixtures/attributes.json: `mx_clabe` `[0-9]{18}`, `account_holder_name`).
async fn bank_user(app: &TestApp) -> String {
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
    user
}

fn payout_token(a: &Answer) -> String {
    assert_eq!(a.status, 200, "{}", a.text);
    let token = a.body["payout_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", a.text));
    assert!(token.starts_with("payout_"), "{}", a.text);
    token.to_string()
}

/// `GET /payout/{user}/{payout}`'s raw text.
async fn payout_text(app: &TestApp, user: &str, payout: &str) -> String {
    let a = app.payout(user, payout).await;
    assert_eq!(a.status, 200, "{}", a.text);
    a.text
}

// ----- 1. one delivery per status change ----------------------------------------------------

#[tokio::test]
async fn the_seed_flow_sends_pending_then_completed_with_the_reference_payload() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::ok().await;
    subscribe(&app, &receiver.url, SECRET).await;

    let user = btc_user(&app).await;
    let a = app
        .initiate(
            &user,
            "",
            &format!(
                r#"{{"client_transfer_id":"aEjn345","source_currency_code":"USD","destination_currency_code":"BTC","source_token":"{USD_SOURCE}","destination_token":"{BTC_DESTINATION}","source_amount":100.5,"metadata":{{"group_id":541}}}}"#
            ),
        )
        .await;
    let payout = payout_token(&a);
    assert_eq!(a.body["status"], "PENDING", "{}", a.text);
    let pending = payout_text(&app, &user, &payout).await;

    let c = app.commit(&user, &payout).await;
    assert_eq!(c.status, 200, "{}", c.text);
    assert_eq!(c.body["status"], "success", "{}", c.text);
    let completed = payout_text(&app, &user, &payout).await;
    assert_eq!(field(&completed, "status"), "COMPLETED", "{completed}");

    let hits = receiver.wait_for(2, ARRIVAL).await;
    assert_eq!(statuses_of(&hits), ["PENDING", "COMPLETED"]);
    assert_payout_event(&hits[0].body, &pending);
    assert_payout_event(&hits[1].body, &completed);
    for hit in &hits {
        let event = fields(&hit.body);
        assert_eq!(
            event.raw("payout_token"),
            Some(format!("{payout:?}").as_str())
        );
        assert_eq!(event.raw("client_transfer_id"), Some(r#""aEjn345""#));
        assert_eq!(
            event.raw("source_token"),
            Some(format!("{USD_SOURCE:?}").as_str())
        );
        assert_eq!(
            event.raw("destination_token"),
            Some(format!("{BTC_DESTINATION:?}").as_str())
        );
        assert_eq!(event.raw("source_amount"), Some("100.5"), "{}", hit.body);
        assert_eq!(event.raw("fee"), Some("2.99"), "{}", hit.body);
        assert_signed(hit, SECRET);
    }

    // Committing again ("Duplicate transfer") changes nothing, so sends nothing.
    let c = app.commit(&user, &payout).await;
    assert_eq!(c.body["status"], "success", "{}", c.text);
    assert_eq!(c.body["errors"], "Duplicate transfer", "{}", c.text);
    let log = deliveries(&app).await;
    assert_eq!(about(&log, "payout_token", &payout).len(), 2, "{log:#?}");

    // An nsf commit (magic 20.51) leaves the payout PENDING: nothing beyond its PENDING event.
    let a = app.initiate_btc(&user, "20.51").await;
    let nsf = payout_token(&a);
    let c = app.commit(&user, &nsf).await;
    assert_eq!(c.body["status"], "nsf", "{}", c.text);
    assert_eq!(app.payout_status(&user, &nsf).await, "PENDING");
    let log = deliveries(&app).await;
    let nsf_log = about(&log, "payout_token", &nsf);
    assert_eq!(nsf_log.len(), 1, "{log:#?}");
    assert_eq!(
        field(nsf_log[0]["body"].as_str().unwrap(), "status"),
        "PENDING"
    );
    // Its next status change (the quote expiring) is the next event it sends: since one
    // payout's events arrive in order, nothing was sent in between.
    app.advance_clock(121).await;
    let cancelled = payout_text(&app, &user, &nsf).await;
    assert_eq!(field(&cancelled, "status"), "CANCELLED", "{cancelled}");
    let hits = receiver.wait_for(4, ARRIVAL).await;
    let nsf_hits: Vec<Hit> = hits
        .iter()
        .filter(|h| field(&h.body, "payout_token") == nsf.as_str())
        .cloned()
        .collect();
    assert_eq!(statuses_of(&nsf_hits), ["PENDING", "CANCELLED"]);
    assert_payout_event(&nsf_hits[1].body, &cancelled);

    // Everything logged was delivered, once, and nothing else arrived.
    let log = settled(&app).await;
    assert_eq!(log.len(), 4, "{log:#?}");
    assert!(log.iter().all(|d| d["state"] == "delivered"), "{log:#?}");
    assert_eq!(receiver.hits().len(), 4);
}

// ----- 2. signatures ----------------------------------------------------------------------------

#[tokio::test]
async fn deliveries_are_signed_with_hmac_sha512_of_t_pipe_body() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::ok().await;
    subscribe(&app, &receiver.url, SECRET).await;
    let user = btc_user(&app).await;
    let payout = payout_token(&app.initiate_btc(&user, "100").await);
    let c = app.commit(&user, &payout).await;
    assert_eq!(c.body["status"], "success", "{}", c.text);

    let hits = receiver.wait_for(2, ARRIVAL).await;
    for hit in &hits {
        let (t, s) = signature_parts(hit);
        assert_eq!(s, hmac_hex(SECRET, &t, &hit.body), "{hit:?}");
        assert_ne!(s, hmac_hex("another secret", &t, &hit.body));
        assert_ne!(s, hmac_hex(DEFAULT_SECRET, &t, &hit.body));
        // The timestamp is part of what is signed.
        let other_t = (t.parse::<u64>().unwrap() + 1).to_string();
        assert_ne!(s, hmac_hex(SECRET, &other_t, &hit.body));
        assert_signed(hit, SECRET);
    }
}

#[tokio::test]
async fn builder_receivers_are_signed_with_the_default_secret_or_the_configured_one() {
    // `.webhook_url(url)` alone: `sandbox_webhook_secret`.
    let receiver = Receiver::ok().await;
    let app = TestApp::spawn_with(Sandbox::builder().webhook_url(receiver.url.clone())).await;
    let user = btc_user(&app).await;
    payout_token(&app.initiate_btc(&user, "100").await);
    let hits = receiver.wait_for(1, ARRIVAL).await;
    assert_eq!(statuses_of(&hits), ["PENDING"]);
    assert_signed(&hits[0], DEFAULT_SECRET);
    let log = settled(&app).await;
    assert_eq!(log.len(), 1, "{log:#?}");
    assert_eq!(log[0]["url"], receiver.url.as_str());
    // Every tenant of that server notifies it.
    let other = app.other_tenant();
    let user = btc_user(&other).await;
    payout_token(&other.initiate_btc(&user, "100").await);
    let hits = receiver.wait_for(2, ARRIVAL).await;
    assert_signed(&hits[1], DEFAULT_SECRET);

    // `.webhook_secret("x")`: signed with "x" instead — also a tenant's own subscription that
    // names no secret.
    let hub = Receiver::ok().await;
    let own = Receiver::ok().await;
    let app = TestApp::spawn_with(
        Sandbox::builder()
            .webhook_url(hub.url.clone())
            .webhook_secret("x"),
    )
    .await;
    let a = app
        .put("/_sandbox/webhook", Some(json!({ "url": own.url })))
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["url"], own.url.as_str(), "{}", a.text);
    assert_eq!(a.body["secret"], "x", "{}", a.text);
    let user = btc_user(&app).await;
    payout_token(&app.initiate_btc(&user, "100").await);
    for r in [&hub, &own] {
        let hits = r.wait_for(1, ARRIVAL).await;
        assert_eq!(statuses_of(&hits), ["PENDING"]);
        assert_signed(&hits[0], "x");
        assert!(!verifies(&hits[0], DEFAULT_SECRET));
    }
    assert_eq!(hub.hits()[0].body, own.hits()[0].body);
}

// ----- 3. retries -----------------------------------------------------------------------------

#[tokio::test]
async fn a_failing_receiver_gets_the_same_delivery_again_until_it_answers_2xx() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(&[500, 500, 200], Duration::ZERO).await;
    subscribe(&app, &receiver.url, SECRET).await;
    let user = btc_user(&app).await;
    let payout = payout_token(&app.initiate_btc(&user, "100").await);

    let hits = receiver.wait_for(3, ARRIVAL).await;
    assert_eq!(
        hits.iter().map(|h| h.answered).collect::<Vec<_>>(),
        [500, 500, 200]
    );
    assert!(hits.iter().all(|h| h.body == hits[0].body), "{hits:#?}");
    assert_eq!(field(&hits[0].body, "payout_token"), payout.as_str());
    for h in &hits {
        assert_signed(h, SECRET);
    }
    // Exponential backoff from 1 s (lower bounds only, with a little slack).
    assert!(
        hits[1].at - hits[0].at >= Duration::from_millis(900),
        "{hits:#?}"
    );
    assert!(
        hits[2].at - hits[1].at >= Duration::from_millis(1900),
        "{hits:#?}"
    );

    let log = wait_log(&app, "the delivery is delivered", ARRIVAL, |log| {
        log.first().is_some_and(|d| d["state"] == "delivered")
    })
    .await;
    assert_eq!(log.len(), 1, "{log:#?}");
    let d = &log[0];
    assert!(d["id"].as_str().is_some_and(|id| !id.is_empty()), "{d}");
    assert_eq!(d["event_type"], "payout", "{d}");
    assert_eq!(d["url"], receiver.url.as_str(), "{d}");
    assert_eq!(d["attempts"], 3, "{d}");
    assert_eq!(d["last_status"], 200, "{d}");
    assert_eq!(attempt_statuses(d), [json!(500), json!(500), json!(200)]);
    assert_eq!(d["body"], hits[0].body.as_str(), "{d}");
    // No fourth attempt after the 200.
    assert_eq!(receiver.hits().len(), 3);
}

/// Takes ~15 s of real backoff (1 + 2 + 4 + 8 s); deliberately not `#[ignore]`d.
#[tokio::test]
async fn a_receiver_that_never_answers_2xx_ends_failed_after_five_attempts() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(&[503], Duration::ZERO).await;
    subscribe(&app, &receiver.url, SECRET).await;
    let user = btc_user(&app).await;
    payout_token(&app.initiate_btc(&user, "100").await);

    let log = wait_log(&app, "the delivery fails", Duration::from_secs(40), |log| {
        log.first().is_some_and(|d| d["state"] != "pending")
    })
    .await;
    assert_eq!(log.len(), 1, "{log:#?}");
    let d = &log[0];
    assert_eq!(d["state"], "failed", "{d}");
    assert_eq!(d["attempts"], 5, "{d}");
    assert_eq!(d["last_status"], 503, "{d}");
    assert_eq!(attempt_statuses(d), vec![json!(503); 5]);
    let hits = receiver.hits();
    assert_eq!(hits.len(), 5, "{hits:#?}");
    assert!(hits.iter().all(|h| h.body == hits[0].body), "{hits:#?}");
    assert_eq!(d["body"], hits[0].body.as_str(), "{d}");
    // 1 + 2 + 4 + 8 s between the first and the last attempt (a lower bound).
    assert!(
        hits[4].at - hits[0].at >= Duration::from_millis(14_500),
        "{hits:#?}"
    );
}

// ----- 4. a slow receiver ---------------------------------------------------------------------

#[tokio::test]
async fn a_slow_receiver_does_not_slow_the_api() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(&[200], Duration::from_secs(3)).await;
    subscribe(&app, &receiver.url, SECRET).await;
    let user = btc_user(&app).await;

    // A behaviour check against blocking on the receiver, not a timing goal.
    let started = Instant::now();
    let payout = payout_token(&app.initiate_btc(&user, "100").await);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "initiate took {:?}",
        started.elapsed()
    );
    let started = Instant::now();
    let c = app.commit(&user, &payout).await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "commit took {:?}",
        started.elapsed()
    );
    assert_eq!(c.body["status"], "success", "{}", c.text);
    let log = deliveries(&app).await;
    assert_eq!(log.len(), 2, "{log:#?}");

    // The deliveries arrive later, in order: the second only once the first was answered.
    let hits = receiver.wait_for(2, ARRIVAL).await;
    assert_eq!(statuses_of(&hits), ["PENDING", "COMPLETED"]);
    assert!(
        hits[1].at - hits[0].at >= Duration::from_millis(2900),
        "{hits:#?}"
    );
    let log = wait_log(&app, "both are delivered", ARRIVAL, |log| {
        log.len() == 2 && log.iter().all(|d| d["state"] == "delivered")
    })
    .await;
    assert!(log.iter().all(|d| d["attempts"] == 1), "{log:#?}");
}

// ----- 5. the clock -----------------------------------------------------------------------------

#[tokio::test]
async fn advancing_past_estimated_availability_sends_the_completed_event() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::ok().await;
    subscribe(&app, &receiver.url, SECRET).await;
    let user = bank_user(&app).await;
    let a = app
        .initiate(
            &user,
            "",
            &format!(
                r#"{{"source_currency_code":"USD","destination_currency_code":"MXN","source_token":"{USD_SOURCE}","destination_token":"{MXN_BANK_DESTINATION}","source_amount":100}}"#
            ),
        )
        .await;
    let payout = payout_token(&a);
    assert_eq!(a.body["delivery_type"], "BANK_DEPOSIT", "{}", a.text);
    let pending = payout_text(&app, &user, &payout).await;
    let c = app.commit(&user, &payout).await;
    assert_eq!(c.body["status"], "success", "{}", c.text);
    let processing = payout_text(&app, &user, &payout).await;
    assert_eq!(field(&processing, "status"), "PROCESSING", "{processing}");

    let hits = receiver.wait_for(2, ARRIVAL).await;
    assert_eq!(statuses_of(&hits), ["PENDING", "PROCESSING"]);
    assert_payout_event(&hits[0].body, &pending);
    assert_payout_event(&hits[1].body, &processing);

    app.advance_clock(200_000).await;
    // The advance itself emitted the event (it is logged when the call answers) …
    let log = deliveries(&app).await;
    let events: Vec<Value> = about(&log, "payout_token", &payout)
        .iter()
        .map(|d| field(d["body"].as_str().unwrap(), "status"))
        .collect();
    assert_eq!(events, ["PENDING", "PROCESSING", "COMPLETED"], "{log:#?}");
    // … and it arrives.
    let hits = receiver.wait_for(3, ARRIVAL).await;
    assert_eq!(statuses_of(&hits), ["PENDING", "PROCESSING", "COMPLETED"]);
    let completed = payout_text(&app, &user, &payout).await;
    assert_eq!(field(&completed, "status"), "COMPLETED", "{completed}");
    assert_payout_event(&hits[2].body, &completed);
    assert_signed(&hits[2], SECRET);
    let log = settled(&app).await;
    assert_eq!(log.len(), 3, "{log:#?}");
}

#[tokio::test]
async fn a_quote_left_uncommitted_sends_cancelled_once_it_expires() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::ok().await;
    subscribe(&app, &receiver.url, SECRET).await;
    let user = btc_user(&app).await;
    let payout = payout_token(&app.initiate_btc(&user, "100").await);
    receiver.wait_for(1, ARRIVAL).await;

    app.advance_clock(121).await;
    let log = deliveries(&app).await;
    assert_eq!(log.len(), 2, "the advance emitted the event: {log:#?}");
    let hits = receiver.wait_for(2, ARRIVAL).await;
    assert_eq!(statuses_of(&hits), ["PENDING", "CANCELLED"]);
    let cancelled = payout_text(&app, &user, &payout).await;
    assert_eq!(field(&cancelled, "status"), "CANCELLED", "{cancelled}");
    assert_payout_event(&hits[1].body, &cancelled);
    assert_signed(&hits[1], SECRET);
}

// ----- 6. resend ------------------------------------------------------------------------------

#[tokio::test]
async fn resend_delivers_the_same_body_again_as_a_new_delivery() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::ok().await;
    subscribe(&app, &receiver.url, SECRET).await;
    let user = btc_user(&app).await;
    payout_token(&app.initiate_btc(&user, "100").await);
    receiver.wait_for(1, ARRIVAL).await;
    let log = settled(&app).await;
    assert_eq!(log.len(), 1, "{log:#?}");
    let old = &log[0];
    let id = old["id"].as_str().unwrap();

    let a = app
        .send(
            Method::POST,
            &format!("/_sandbox/webhooks/{id}/resend"),
            None,
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let new_id = a.body["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", a.text));
    assert_ne!(new_id, id, "{}", a.text);
    assert_eq!(a.body["body"], old["body"], "{}", a.text);
    assert_eq!(a.body["url"], receiver.url.as_str(), "{}", a.text);
    assert_eq!(a.body["event_type"], "payout", "{}", a.text);

    let hits = receiver.wait_for(2, ARRIVAL).await;
    assert_eq!(hits[1].body, hits[0].body);
    assert_eq!(hits[1].body, old["body"].as_str().unwrap());
    assert_signed(&hits[1], SECRET);

    let log = settled(&app).await;
    assert_eq!(log.len(), 2, "{log:#?}");
    let new = log.iter().find(|d| d["id"] == new_id).expect("logged");
    assert_eq!(new["state"], "delivered", "{new}");
    assert_eq!(new["attempts"], 1, "{new}");
    assert_eq!(new["body"], old["body"]);

    for unknown in [format!("whk_{}", uuid::Uuid::new_v4()), "nope".to_string()] {
        let a = app
            .send(
                Method::POST,
                &format!("/_sandbox/webhooks/{unknown}/resend"),
                None,
            )
            .await;
        assert_error(&a, 404);
    }
    assert_eq!(deliveries(&app).await.len(), 2);
}

// ----- 7. unsubscribing, bad URLs -------------------------------------------------------------

#[tokio::test]
async fn after_delete_status_changes_send_nothing() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::ok().await;
    subscribe(&app, &receiver.url, SECRET).await;
    let user = bank_user(&app).await;
    let a = app
        .initiate(
            &user,
            "",
            &format!(
                r#"{{"source_currency_code":"USD","destination_currency_code":"MXN","source_token":"{USD_SOURCE}","destination_token":"{MXN_BANK_DESTINATION}","source_amount":100}}"#
            ),
        )
        .await;
    let payout = payout_token(&a);
    receiver.wait_for(1, ARRIVAL).await;

    let a = app.delete("/_sandbox/webhook").await;
    assert_eq!(a.status, 204, "{}", a.text);
    let c = app.commit(&user, &payout).await;
    assert_eq!(c.body["status"], "success", "{}", c.text);
    assert_eq!(app.payout_status(&user, &payout).await, "PROCESSING");
    assert_eq!(deliveries(&app).await.len(), 1, "PROCESSING was logged");

    // Subscribed again, the payout's next change is the next thing the receiver gets: one
    // payout's events arrive in order, so the PROCESSING change was never sent.
    subscribe(&app, &receiver.url, SECRET).await;
    app.advance_clock(200_000).await;
    let hits = receiver.wait_for(2, ARRIVAL).await;
    assert_eq!(statuses_of(&hits), ["PENDING", "COMPLETED"]);
    let log = settled(&app).await;
    assert_eq!(log.len(), 2, "{log:#?}");
    assert_eq!(receiver.hits().len(), 2);
}

#[tokio::test]
async fn a_subscription_needs_a_plain_http_url() {
    let app = TestApp::spawn().await;
    for body in [
        json!({"url": "https://example.com/hook", "secret": SECRET}),
        json!({"url": "ftp://example.com/hook"}),
        json!({"url": "not a url"}),
        json!({"url": ""}),
        json!({"secret": SECRET}),
    ] {
        let a = app.put("/_sandbox/webhook", Some(body.clone())).await;
        assert_error(&a, 400);
    }
    // None of them subscribed anything: a payout sends nothing, so logs nothing.
    let user = btc_user(&app).await;
    payout_token(&app.initiate_btc(&user, "100").await);
    assert_eq!(deliveries(&app).await.len(), 0);
}

// ----- 8. scenarios ---------------------------------------------------------------------------

#[tokio::test]
async fn webhook_dropped_logs_the_event_as_dropped_and_never_sends_it() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::ok().await;
    subscribe(&app, &receiver.url, SECRET).await;
    let user = btc_user(&app).await;
    let a = answer(
        app.request(Method::POST, &format!("/payout/{user}"))
            .header("X-Sandbox-Scenario", "webhook_dropped")
            .header("Content-Type", "application/json")
            .body(format!(
                r#"{{"source_currency_code":"USD","destination_currency_code":"BTC","source_token":"{USD_SOURCE}","destination_token":"{BTC_DESTINATION}","source_amount":100}}"#
            )),
    )
    .await;
    let payout = payout_token(&a);
    let log = deliveries(&app).await;
    assert_eq!(log.len(), 1, "{log:#?}");
    assert_eq!(log[0]["state"], "dropped", "{log:#?}");
    assert_eq!(field(log[0]["body"].as_str().unwrap(), "status"), "PENDING");

    // The commit (without the header) is delivered; as one payout's events arrive in order, the
    // dropped PENDING event would have come first.
    let c = app.commit(&user, &payout).await;
    assert_eq!(c.body["status"], "success", "{}", c.text);
    let hits = receiver.wait_for(1, ARRIVAL).await;
    assert_eq!(statuses_of(&hits), ["COMPLETED"]);
    let log = settled(&app).await;
    assert_eq!(log.len(), 2, "{log:#?}");
    assert_eq!(log[0]["state"], "dropped", "{log:#?}");
    assert_eq!(log[0]["attempts"], 0, "{log:#?}");
    assert_eq!(log[1]["state"], "delivered", "{log:#?}");
    assert_eq!(receiver.hits().len(), 1);
}

#[tokio::test]
async fn webhook_late_delivers_twice_and_at_least_five_seconds_late() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::ok().await;
    subscribe(&app, &receiver.url, SECRET).await;
    let user = btc_user(&app).await;
    let called = Instant::now();
    let a = answer(
        app.request(Method::POST, &format!("/payout/{user}"))
            .header("X-Sandbox-Scenario", "webhook_late")
            .header("Content-Type", "application/json")
            .body(format!(
                r#"{{"source_currency_code":"USD","destination_currency_code":"BTC","source_token":"{USD_SOURCE}","destination_token":"{BTC_DESTINATION}","source_amount":100}}"#
            )),
    )
    .await;
    let payout = payout_token(&a);
    assert!(
        called.elapsed() < Duration::from_secs(1),
        "the API call waited"
    );

    let hits = receiver.wait_for(2, Duration::from_secs(25)).await;
    assert_eq!(hits.len(), 2, "{hits:#?}");
    assert_eq!(hits[0].body, hits[1].body, "a duplicate");
    assert_eq!(statuses_of(&hits), ["PENDING", "PENDING"]);
    assert_eq!(field(&hits[0].body, "payout_token"), payout.as_str());
    for h in &hits {
        assert!(
            h.at - called >= Duration::from_secs(5),
            "arrived {:?} after the call",
            h.at - called
        );
        assert_signed(h, SECRET);
    }
    let log = settled(&app).await;
    assert_eq!(log.len(), 2, "{log:#?}");
    assert!(log.iter().all(|d| d["state"] == "delivered"), "{log:#?}");
    assert_ne!(log[0]["id"], log[1]["id"]);
}

// ----- 9. loads and spend-backs ---------------------------------------------------------------

#[tokio::test]
async fn loads_and_spendbacks_send_their_own_events() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::ok().await;
    subscribe(&app, &receiver.url, SECRET).await;
    let user = app.create_user().await;

    let a = app
        .send_text(
            Method::POST,
            &format!("/load/{user}"),
            &format!(r#"{{"client_load_id":"L1","source_token":"{USD_SOURCE}","amount":50}}"#),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["status"], "COMPLETED", "{}", a.text);
    let load_token = a.body["load_token"].as_str().unwrap().to_string();
    let hits = receiver.wait_for(1, ARRIVAL).await;
    let load = &hits[0];
    let event = fields(&load.body);
    assert_eq!(event.names(), LOAD_FIELDS, "{}", load.body);
    let listed = app.get(&format!("/load/{user}")).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let stored = raw_items(&listed.text)
        .into_iter()
        .find(|l| field(l, "load_token") == load_token.as_str())
        .unwrap_or_else(|| panic!("{load_token} not listed: {}", listed.text));
    let stored = fields(&stored);
    for name in LOAD_FIELDS {
        let value = event.raw(name).unwrap();
        match name {
            "event_type" => assert_eq!(value, r#""load""#),
            _ => assert_eq!(Some(value), stored.raw(name), "{name}: {}", load.body),
        }
    }
    assert_eq!(
        event.raw("load_token"),
        Some(format!("{load_token:?}").as_str())
    );
    assert_eq!(field(&load.body, "wallet_token"), a.body["wallet_token"]);
    assert_eq!(event.raw("client_load_id"), Some(r#""L1""#));
    assert_eq!(
        event.raw("source_token"),
        Some(format!("{USD_SOURCE:?}").as_str())
    );
    assert_eq!(event.raw("amount"), Some("50"));
    assert_eq!(event.raw("source_currency_code"), Some(r#""USD""#));
    assert_eq!(event.raw("status"), Some(r#""COMPLETED""#));
    assert_signed(load, SECRET);

    // A spend-back from the user's funds wallet.
    let wallets = app.get(&format!("/wallet/{user}")).await;
    assert_eq!(wallets.status, 200, "{}", wallets.text);
    let funds = wallets
        .body
        .as_array()
        .unwrap_or_else(|| panic!("{}", wallets.text))
        .iter()
        .find(|w| w["type"] == "USER_FUNDS" && w["currency_code"] == "USD")
        .unwrap_or_else(|| panic!("no USD USER_FUNDS wallet: {}", wallets.text))["token"]
        .as_str()
        .unwrap()
        .to_string();
    let a = app
        .send_text(
            Method::POST,
            &format!("/spendback/{user}"),
            &format!(
                r#"{{"client_spendback_id":"S1","source_token":"{funds}","source_currency_code":"USD","amount":10}}"#
            ),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["status"], "success", "{}", a.text);
    let spendback_token = a.body["spendback_token"].as_str().unwrap().to_string();
    let hits = receiver.wait_for(2, ARRIVAL).await;
    let spendback = &hits[1];
    let event = fields(&spendback.body);
    assert_eq!(event.names(), SPENDBACK_FIELDS, "{}", spendback.body);
    assert_eq!(
        event.raw("spendback_token"),
        Some(format!("{spendback_token:?}").as_str())
    );
    assert_eq!(event.raw("client_spendback_id"), Some(r#""S1""#));
    assert_eq!(event.raw("status"), Some(r#""success""#));
    assert_eq!(event.raw("event_type"), Some(r#""spendback""#));
    assert_signed(spendback, SECRET);

    let log = settled(&app).await;
    let kinds: Vec<&Value> = log.iter().map(|d| &d["event_type"]).collect();
    assert_eq!(kinds, [&json!("load"), &json!("spendback")], "{log:#?}");
    assert!(log.iter().all(|d| d["state"] == "delivered"), "{log:#?}");
    assert_eq!(receiver.hits().len(), 2);
}
