//! Webhooks: MassPay's status notifications, delivered, signed and retried.
//!
//! On every status change of a payout the tenant emits an event; each subscribed URL (the
//! `--webhook-url`s and the tenant's own `PUT /_sandbox/webhook`) gets a JSON POST signed as
//! MassPay signs: `X-MassPay-Signature: t=<unix seconds>,s=<hex HMAC-SHA512 of "<t>|<raw body>">`.
//!
//! Delivery is off the request path: one worker per object (so one object's events arrive in
//! order while objects don't wait on each other), 5 s timeout per attempt, up to 5 attempts with
//! exponential backoff starting at 1 s (1, 2, 4, 8 s) on a non-2xx answer, a connection error or
//! a timeout. The API call that caused the event never waits for it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::body::Bytes;
use dashmap::DashMap;
use hmac::{Hmac, Mac};
use http_body_util::Full;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use sha2::Sha512;
use tokio::sync::mpsc;
use uuid::Uuid;

/// Attempts per delivery, the first backoff, the timeout per attempt.
pub const MAX_ATTEMPTS: u32 = 5;
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// Deliveries a tenant's log keeps (the oldest are forgotten first).
pub const LOG_CAP: usize = 1000;
/// The secret when neither `--webhook-secret` nor the subscription names one.
pub const DEFAULT_SECRET: &str = "sandbox_webhook_secret";
pub const SIGNATURE_HEADER: &str = "X-MassPay-Signature";

/// How a scenario bends the deliveries of the events a request causes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Directives {
    /// Never delivered (recorded as `dropped`): the client must poll.
    pub drop: bool,
    /// The first attempt waits this long: the notification arrives late.
    pub delay_ms: u64,
    /// Delivered twice (at-least-once delivery).
    pub duplicate: bool,
}

/// Process-wide webhook settings and the HTTP client.
pub struct Hub {
    urls: Vec<String>,
    secret: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// Checks a receiver URL: `http://host[:port][/path]` (no TLS client is built in).
pub fn check_url(url: &str) -> Result<(), String> {
    let uri: axum::http::Uri = url
        .parse()
        .map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http") if uri.host().is_some() => Ok(()),
        Some("https") => Err(format!(
            "{url:?}: https receivers are not supported (the sandbox has no TLS client); use an http:// URL"
        )),
        _ => Err(format!("{url:?} must be an http:// URL with a host")),
    }
}

impl Hub {
    pub fn new(urls: Vec<String>, secret: Option<String>) -> Result<Hub, String> {
        for u in &urls {
            check_url(u)?;
        }
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(ATTEMPT_TIMEOUT));
        Ok(Hub {
            urls,
            secret: secret.unwrap_or_else(|| DEFAULT_SECRET.to_string()),
            client: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    pub fn default_secret(&self) -> &str {
        &self.secret
    }
}

/// A tenant's own subscription.
#[derive(Clone, Debug, Serialize)]
pub struct Subscription {
    pub url: String,
    pub secret: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Attempt {
    pub at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One notification to one URL, with what happened to it.
#[derive(Clone, Debug, Serialize)]
pub struct Delivery {
    pub id: String,
    pub event_type: &'static str,
    pub object_token: String,
    pub url: String,
    /// `pending`, `delivered`, `failed` or `dropped`.
    pub state: &'static str,
    pub attempts: u32,
    pub last_status: Option<u16>,
    pub attempt_log: Vec<Attempt>,
    pub body: String,
    #[serde(skip)]
    secret: String,
    #[serde(skip)]
    directives: Directives,
}

struct Job {
    id: Uuid,
}

/// A tenant's webhook state: its subscription, the delivery log and the per-object workers.
pub struct TenantWebhooks {
    hub: Arc<Hub>,
    subscription: RwLock<Option<Subscription>>,
    log: DashMap<Uuid, Delivery>,
    order: Mutex<VecDeque<Uuid>>,
    workers: DashMap<String, mpsc::UnboundedSender<Job>>,
}

impl TenantWebhooks {
    pub fn new(hub: Arc<Hub>) -> Arc<Self> {
        Arc::new(TenantWebhooks {
            hub,
            subscription: RwLock::new(None),
            log: DashMap::new(),
            order: Mutex::new(VecDeque::new()),
            workers: DashMap::new(),
        })
    }

    /// Is anyone listening? (Events are not even built otherwise.)
    pub fn active(&self) -> bool {
        !self.hub.urls.is_empty()
            || self
                .subscription
                .read()
                .map(|s| s.is_some())
                .unwrap_or(false)
    }

    pub fn subscribe(&self, url: String, secret: Option<String>) -> Result<Subscription, String> {
        check_url(&url)?;
        let sub = Subscription {
            url,
            secret: secret.unwrap_or_else(|| self.hub.secret.clone()),
        };
        *self.subscription.write().unwrap_or_else(|p| p.into_inner()) = Some(sub.clone());
        Ok(sub)
    }

    pub fn unsubscribe(&self) {
        *self.subscription.write().unwrap_or_else(|p| p.into_inner()) = None;
    }

    pub fn subscription(&self) -> Option<Subscription> {
        self.subscription.read().ok().and_then(|s| s.clone())
    }

    /// Queues `body` (an event about `object_token`) to every subscribed URL.
    pub fn emit(
        self: &Arc<Self>,
        event_type: &'static str,
        object_token: &str,
        body: String,
        directives: Directives,
    ) {
        let mut targets: Vec<(String, String)> = self
            .hub
            .urls
            .iter()
            .map(|u| (u.clone(), self.hub.secret.clone()))
            .collect();
        if let Some(sub) = self.subscription() {
            targets.push((sub.url, sub.secret));
        }
        let copies = if directives.duplicate { 2 } else { 1 };
        for (url, secret) in targets {
            for _ in 0..copies {
                self.queue(Delivery {
                    id: String::new(),
                    event_type,
                    object_token: object_token.to_string(),
                    url: url.clone(),
                    state: if directives.drop {
                        "dropped"
                    } else {
                        "pending"
                    },
                    attempts: 0,
                    last_status: None,
                    attempt_log: Vec::new(),
                    body: body.clone(),
                    secret: secret.clone(),
                    directives,
                });
            }
        }
    }

    /// Sends a logged delivery again, as a new delivery with the same body.
    pub fn resend(self: &Arc<Self>, id: &str) -> Option<Delivery> {
        let uuid = crate::domain::token::parse(id, "whk_")?;
        let old = self.log.get(&uuid)?.clone();
        let new_id = self.queue(Delivery {
            id: String::new(),
            state: "pending",
            attempts: 0,
            last_status: None,
            attempt_log: Vec::new(),
            directives: Directives::default(),
            ..old
        });
        self.log.get(&new_id).map(|d| d.clone())
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        let order = self.order.lock().unwrap_or_else(|p| p.into_inner());
        order
            .iter()
            .filter_map(|id| self.log.get(id).map(|d| d.clone()))
            .collect()
    }

    fn queue(self: &Arc<Self>, mut delivery: Delivery) -> Uuid {
        let id = crate::domain::token::random_uuid();
        delivery.id = crate::domain::token::format("whk_", id);
        let dropped = delivery.directives.drop;
        let object = delivery.object_token.clone();
        self.log.insert(id, delivery);
        {
            let mut order = self.order.lock().unwrap_or_else(|p| p.into_inner());
            order.push_back(id);
            while order.len() > LOG_CAP {
                if let Some(old) = order.pop_front() {
                    self.log.remove(&old);
                }
            }
        }
        if !dropped {
            self.dispatch(object, Job { id });
        }
        id
    }

    /// Hands a job to the object's worker, starting one if there is none. Sending happens under
    /// the map entry's lock and a worker only retires under it with an empty queue, so no job is
    /// lost and one object's jobs never run concurrently.
    fn dispatch(self: &Arc<Self>, object: String, job: Job) {
        let mut job = Some(job);
        let entry = self.workers.entry(object.clone());
        let mut tx_slot = entry.or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            let me = Arc::clone(self);
            let key = object.clone();
            tokio::spawn(async move { me.work(key, rx).await });
            tx
        });
        if let Some(j) = job.take() {
            if let Err(mpsc::error::SendError(j)) = tx_slot.send(j) {
                // The worker is gone (its runtime stopped); start a fresh one.
                let (tx, rx) = mpsc::unbounded_channel();
                let me = Arc::clone(self);
                tokio::spawn(async move { me.work(object, rx).await });
                let _ = tx.send(j);
                *tx_slot = tx;
            }
        }
    }

    async fn work(self: Arc<Self>, key: String, mut rx: mpsc::UnboundedReceiver<Job>) {
        loop {
            match tokio::time::timeout(Duration::from_secs(30), rx.recv()).await {
                Ok(Some(job)) => self.deliver(job.id).await,
                Ok(None) => return,
                Err(_) => {
                    let retired = self.workers.remove_if(&key, |_, _| rx.is_empty()).is_some();
                    if retired {
                        return;
                    }
                }
            }
        }
    }

    async fn deliver(&self, id: Uuid) {
        let Some((url, secret, body, directives)) = self.log.get(&id).map(|d| {
            (
                d.url.clone(),
                d.secret.clone(),
                d.body.clone(),
                d.directives,
            )
        }) else {
            return;
        };
        if directives.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(directives.delay_ms)).await;
        }
        let mut backoff = FIRST_BACKOFF;
        for attempt in 1..=MAX_ATTEMPTS {
            if attempt > 1 {
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
            let (status, error) = self.attempt(&url, &secret, &body).await;
            let ok = status.is_some_and(|s| (200..300).contains(&s));
            if let Some(mut d) = self.log.get_mut(&id) {
                d.attempts = attempt;
                d.last_status = status;
                d.attempt_log.push(Attempt {
                    at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    status,
                    error,
                });
                d.state = if ok {
                    "delivered"
                } else if attempt == MAX_ATTEMPTS {
                    "failed"
                } else {
                    "pending"
                };
            }
            if ok {
                return;
            }
        }
    }

    async fn attempt(&self, url: &str, secret: &str, body: &str) -> (Option<u16>, Option<String>) {
        let t = chrono::Utc::now().timestamp();
        let request = axum::http::Request::post(url)
            .header("content-type", "application/json")
            .header("user-agent", "masspay-sandbox-webhooks")
            .header(
                SIGNATURE_HEADER,
                format!("t={t},s={}", sign(secret, t, body)),
            )
            .body(Full::new(Bytes::from(body.to_string())));
        let request = match request {
            Ok(r) => r,
            Err(e) => return (None, Some(format!("bad request: {e}"))),
        };
        match tokio::time::timeout(ATTEMPT_TIMEOUT, self.hub.client.request(request)).await {
            Ok(Ok(resp)) => (Some(resp.status().as_u16()), None),
            Ok(Err(e)) => (None, Some(format!("connection error: {e}"))),
            Err(_) => (
                None,
                Some(format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs())),
            ),
        }
    }
}

/// MassPay's signature: hex HMAC-SHA512 of `"<t>|<raw body>"` with the secret.
pub fn sign(secret: &str, t: i64, body: &str) -> String {
    let mut mac = <Hmac<Sha512> as Mac>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(t.to_string().as_bytes());
    mac.update(b"|");
    mac.update(body.as_bytes());
    let bytes = mac.finalize().into_bytes();
    let mut hex = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        hex.push_str(&format!("{b:02x}"));
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha512_hex_of_t_pipe_body() {
        // Known answer computed independently: python3 -c "import hmac,hashlib;print(hmac.new(b'k',b'1|{}',hashlib.sha512).hexdigest())"
        let s = sign("k", 1, "{}");
        assert_eq!(s.len(), 128);
        assert_eq!(&s[..16], "260afdfcab3c64dc");
    }

    #[test]
    fn only_plain_http_urls() {
        assert!(check_url("http://127.0.0.1:9000/hook").is_ok());
        assert!(check_url("https://example.com/hook").is_err());
        assert!(check_url("nope").is_err());
    }
}
