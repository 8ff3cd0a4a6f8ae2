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
//!
//! Outbound traffic is bounded for the whole process, whatever receivers do: at most
//! [`MAX_WEBHOOK_DELIVERIES`] attempts (requests with their connections) at once, the others
//! waiting in order for a turn; a few idle keep-alive connections per receiver, closed after
//! [`WEBHOOK_IDLE_TIMEOUT`]. `--webhook-allow` restricts the hosts deliveries may go to.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::Uri;
use dashmap::DashMap;

use crate::state::hash::LazyMap;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::{
    capture_connection, CaptureConnection, Connected, Connection, HttpConnector,
};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use serde::Serialize;
use sha2::Sha512;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch, Semaphore};
use uuid::Uuid;

use crate::api::models::PayoutEvent;
use crate::domain::catalog::Catalog;
use crate::domain::event::{Event, EventSink, EventSinks};
use crate::domain::{token, wallet};
use crate::limits::{MAX_WEBHOOK_DELIVERIES, WEBHOOK_IDLE_PER_HOST, WEBHOOK_IDLE_TIMEOUT};

/// Attempts per delivery, the first backoff, the timeout per attempt.
pub const MAX_ATTEMPTS: u32 = 5;
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// Deliveries a tenant's log keeps (the oldest are forgotten first).
pub const LOG_CAP: usize = 1000;
/// The secret when neither `--webhook-secret` nor the subscription names one.
pub const DEFAULT_SECRET: &str = "sandbox_webhook_secret";
pub const SIGNATURE_HEADER: &str = "X-MassPay-Signature";
/// Bytes of a receiver's answer read (and thrown away) so its connection can be reused.
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// How long an attempt that gave up on its connection waits for the socket to be closed before
/// handing its turn on (it normally takes microseconds).
const CLOSE_WAIT: Duration = Duration::from_secs(1);

pub use crate::domain::event::Directives;

/// Process-wide webhook settings, the HTTP client and the turns it hands out.
pub struct Hub {
    urls: Vec<String>,
    secret: String,
    /// Hosts deliveries may go to, as [`host_key`] writes them; empty = any host.
    allow: Vec<String>,
    client: Client<Connector, Full<Bytes>>,
    /// One permit per attempt in flight; tokio's semaphore is fair, so waiters get theirs in the
    /// order they asked.
    turns: Semaphore,
    /// Deliveries handed to a worker and not finished yet (see [`Hub::pending`]).
    pending: AtomicUsize,
}

/// Parses a receiver URL: `http://host[:port][/path]` (no TLS client is built in).
fn parse_url(url: &str) -> Result<Uri, String> {
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http") if uri.host().is_some() => Ok(uri),
        Some("https") => Err(format!(
            "{url:?}: https receivers are not supported (the sandbox has no TLS client); use an http:// URL"
        )),
        _ => Err(format!("{url:?} must be an http:// URL with a host")),
    }
}

/// Checks a receiver URL: `http://host[:port][/path]` (no TLS client is built in).
pub fn check_url(url: &str) -> Result<(), String> {
    parse_url(url).map(|_| ())
}

/// A host as `--webhook-allow` compares it: lower case, an IPv6 literal without its brackets,
/// no trailing dot. Ports are not compared: an allowed host is allowed on any port.
fn host_key(host: &str) -> String {
    let host = host.trim();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase()
}

/// An entry of `--webhook-allow` as [`host_key`] writes it. A port (`host:8080`, `[::1]:8080`)
/// or a whole URL is taken for its host; a bare IPv6 literal (`::1`) is a host. Blank: `None`.
fn allow_entry(entry: &str) -> Option<String> {
    let entry = entry.trim();
    let host = if entry.contains("://") {
        entry.parse::<Uri>().ok()?.host()?.to_string()
    } else if let Some(rest) = entry.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest).to_string()
    } else if entry.matches(':').count() == 1 {
        entry.split(':').next().unwrap_or(entry).to_string()
    } else {
        entry.to_string()
    };
    let key = host_key(&host);
    (!key.is_empty()).then_some(key)
}

impl Hub {
    /// `urls` go to every tenant; `allow` (the `--webhook-allow` hosts; empty = any) restricts
    /// them and every tenant's own subscription. Any URL that is not a plain `http://` URL to an
    /// allowed host is refused.
    pub fn new(
        urls: Vec<String>,
        secret: Option<String>,
        allow: Vec<String>,
    ) -> Result<Hub, String> {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(ATTEMPT_TIMEOUT));
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(WEBHOOK_IDLE_TIMEOUT)
            .pool_max_idle_per_host(WEBHOOK_IDLE_PER_HOST)
            .build(Connector(connector));
        let hub = Hub {
            urls,
            secret: secret.unwrap_or_else(|| DEFAULT_SECRET.to_string()),
            allow: allow.iter().filter_map(|e| allow_entry(e)).collect(),
            client,
            turns: Semaphore::new(MAX_WEBHOOK_DELIVERIES),
            pending: AtomicUsize::new(0),
        };
        for u in &hub.urls {
            hub.check_url(u)?;
        }
        Ok(hub)
    }

    pub fn default_secret(&self) -> &str {
        &self.secret
    }

    /// Checks a receiver URL: a plain `http://` URL ([`check_url`]) whose host is allowed by
    /// `--webhook-allow` (any host when that is empty; any port of an allowed host).
    pub fn check_url(&self, url: &str) -> Result<(), String> {
        let uri = parse_url(url)?;
        if self.allow.is_empty() {
            return Ok(());
        }
        let host = uri.host().unwrap_or_default();
        if self.allow.contains(&host_key(host)) {
            return Ok(());
        }
        Err(format!(
            "webhook host {host:?} (of {url:?}) is not allowed: this sandbox sends webhooks only \
             to the hosts given with --webhook-allow ({}), on any port",
            self.allow.join(", ")
        ))
    }

    /// Deliveries not finished yet, across all tenants: queued behind earlier events about the
    /// same object, waiting for a turn, in flight, or waiting out a retry's backoff (or a
    /// scenario's delay). Delivered, failed and dropped ones are not counted.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    /// Says at shutdown how many deliveries are still pending (they are not sent: the process
    /// is stopping); returns that count.
    pub fn log_pending_at_shutdown(&self) -> usize {
        let n = self.pending();
        if n == 0 {
            tracing::info!("no webhook deliveries pending");
        } else {
            tracing::warn!(
                pending = n,
                "{n} webhook deliveries still pending at shutdown were not sent"
            );
        }
        n
    }
}

/// Counts one delivery as pending for as long as it lives: made when the delivery is handed to
/// its object's worker, dropped when the worker is done with it (or the worker itself is gone).
struct PendingDelivery(Arc<Hub>);

impl PendingDelivery {
    fn new(hub: &Arc<Hub>) -> Self {
        hub.pending.fetch_add(1, Ordering::Relaxed);
        PendingDelivery(Arc::clone(hub))
    }
}

impl Drop for PendingDelivery {
    fn drop(&mut self) {
        self.0.pending.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Opens plain TCP connections to receivers, each telling when it is closed ([`Closed`]), so an
/// attempt that gives up on its connection hands its turn on only once the socket is gone.
#[derive(Clone)]
struct Connector(HttpConnector);

type ConnectError = <HttpConnector as tower::Service<Uri>>::Error;

impl tower::Service<Uri> for Connector {
    type Response = Tracked;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<Tracked, ConnectError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.0.call(uri);
        Box::pin(async move {
            let io = connecting.await?;
            let (open, closed) = watch::channel(());
            Ok(Tracked {
                io,
                _open: open,
                closed: Closed(closed),
            })
        })
    }
}

/// A receiver connection; dropping it (closing the socket) resolves its [`Closed`].
struct Tracked {
    io: TokioIo<TcpStream>,
    _open: watch::Sender<()>,
    closed: Closed,
}

/// Resolves once its connection is closed (the connection's metadata carries one).
#[derive(Clone)]
struct Closed(watch::Receiver<()>);

impl Closed {
    async fn wait(mut self) {
        // Nothing is ever sent: `changed` ends with an error when the sender (the socket) is gone.
        while self.0.changed().await.is_ok() {}
    }

    /// The signal of the connection a request was sent on, if it got one.
    fn of(captured: &CaptureConnection) -> Option<Closed> {
        let connected = captured.connection_metadata();
        let mut extensions = axum::http::Extensions::new();
        connected.as_ref()?.get_extras(&mut extensions);
        extensions.get::<Closed>().cloned()
    }
}

impl Connection for Tracked {
    fn connected(&self) -> Connected {
        self.io.connected().extra(self.closed.clone())
    }
}

impl hyper::rt::Read for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
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
    _pending: PendingDelivery,
}

/// A tenant's webhook state: its subscription, the delivery log and the per-object workers.
pub struct TenantWebhooks {
    /// What the events' payloads are rendered against (shared by every tenant).
    catalog: Arc<Catalog>,
    /// Itself, for the workers `publish` starts (it is called through `&self`).
    me: std::sync::Weak<TenantWebhooks>,
    hub: Arc<Hub>,
    subscription: RwLock<Option<Subscription>>,
    /// Made on first use, like the tenant's other maps (most tenants never subscribe).
    log: LazyMap<DashMap<Uuid, Delivery>>,
    order: Mutex<VecDeque<Uuid>>,
    workers: LazyMap<DashMap<String, mpsc::UnboundedSender<Job>>>,
}

impl TenantWebhooks {
    pub fn new(hub: Arc<Hub>, catalog: Arc<Catalog>) -> Arc<Self> {
        Arc::new_cyclic(|me| TenantWebhooks {
            catalog,
            me: me.clone(),
            hub,
            subscription: RwLock::new(None),
            log: LazyMap::default(),
            order: Mutex::new(VecDeque::new()),
            workers: LazyMap::default(),
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
        self.hub.check_url(&url)?;
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
            let pending = PendingDelivery::new(&self.hub);
            self.dispatch(
                object,
                Job {
                    id,
                    _pending: pending,
                },
            );
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

    /// One attempt: waits for a turn (the 5 s start only then), sends, and reads the answer.
    async fn attempt(&self, url: &str, secret: &str, body: &str) -> (Option<u16>, Option<String>) {
        let hub = &self.hub;
        let Ok(_turn) = hub.turns.acquire().await else {
            return (None, Some("the sandbox is stopping".into()));
        };
        let t = chrono::Utc::now().timestamp();
        let request = axum::http::Request::post(url)
            .header("content-type", "application/json")
            .header("user-agent", "masspay-sandbox-webhooks")
            .header(
                SIGNATURE_HEADER,
                format!("t={t},s={}", sign(secret, t, body)),
            )
            .body(Full::new(Bytes::from(body.to_string())));
        let mut request = match request {
            Ok(r) => r,
            Err(e) => return (None, Some(format!("bad request: {e}"))),
        };
        let captured = capture_connection(&mut request);
        let mut status = None;
        let mut reusable = false;
        let outcome = tokio::time::timeout(ATTEMPT_TIMEOUT, async {
            let resp = hub.client.request(request).await?;
            status = Some(resp.status().as_u16());
            let closing = resp.version() < axum::http::Version::HTTP_11
                || resp
                    .headers()
                    .get(axum::http::header::CONNECTION)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.to_ascii_lowercase().contains("close"));
            // Read the answer (a bounded amount) so the connection can carry the next delivery.
            let read = Limited::new(resp.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await;
            reusable = read.is_ok() && !closing;
            Ok::<(), hyper_util::client::legacy::Error>(())
        })
        .await;
        // The turn covers the connection too: one given up on (timed out, broken, closing) is
        // closed before the next attempt may open one.
        if !reusable {
            if let Some(closed) = Closed::of(&captured) {
                let _ = tokio::time::timeout(CLOSE_WAIT, closed.wait()).await;
            }
        }
        match (status, outcome) {
            (Some(s), _) => (Some(s), None),
            (None, Ok(Err(e))) => (None, Some(format!("connection error: {e}"))),
            (None, _) => (
                None,
                Some(format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs())),
            ),
        }
    }
}

/// Every tenant's sink: its [`TenantWebhooks`], on the process-wide [`Hub`].
pub struct Sinks {
    pub hub: Arc<Hub>,
    pub catalog: Arc<Catalog>,
}

impl EventSinks for Sinks {
    fn for_tenant(&self) -> Arc<dyn EventSink> {
        TenantWebhooks::new(Arc::clone(&self.hub), Arc::clone(&self.catalog))
    }
}

impl TenantWebhooks {
    /// The webhooks behind a tenant's sink (the admin API's view of them).
    pub fn of(sink: &Arc<dyn EventSink>) -> Option<Arc<TenantWebhooks>> {
        let any = Arc::clone(sink) as Arc<dyn std::any::Any + Send + Sync>;
        any.downcast::<TenantWebhooks>().ok()
    }
}

impl EventSink for TenantWebhooks {
    fn listening(&self) -> bool {
        self.active()
    }

    /// Renders MassPay's payload for the event and queues it to every subscribed URL.
    fn publish(&self, event: Event<'_>, directives: Directives) {
        let Some(me) = self.me.upgrade() else {
            return;
        };
        let (event_type, object_token, body) = match event {
            Event::Payout(p) => (
                "payout",
                p.id.token(),
                serde_json::to_string(&PayoutEvent::from(&self.catalog, p)),
            ),
            Event::Load(l) => {
                let account = &self.catalog.funding_accounts[l.funding];
                let load_token = token::format(wallet::LOAD, l.id);
                let body = serde_json::to_string(&LoadEvent {
                    load_token: &load_token,
                    time_of_load: crate::clock::format(l.time_of_load),
                    client_load_id: &l.client_load_id,
                    source_token: &account.token,
                    wallet_token: token::format(wallet::WALLET, l.wallet),
                    amount: l.amount.into(),
                    source_currency_code: &account.currency,
                    notes: &l.notes,
                    status: l.status.as_str(),
                    event_type: "load",
                });
                ("load", load_token, body)
            }
            Event::SpendBack { spendback, success } => {
                let spendback_token = token::format(wallet::SPENDBACK, spendback.id);
                let body = serde_json::to_string(&SpendBackEvent {
                    spendback_token: &spendback_token,
                    client_spendback_id: &spendback.client_spendback_id,
                    status: if success { "success" } else { "failure" },
                    event_type: "spendback",
                });
                ("spendback", spendback_token, body)
            }
        };
        match body {
            Ok(body) => me.emit(event_type, &object_token, body, directives),
            // Plain structs of strings and decimals do not fail to serialise; if one ever did,
            // nothing is sent rather than an empty body.
            Err(e) => tracing::error!("webhook {event_type} {object_token} not rendered: {e}"),
        }
    }
}

/// The `load` event's payload.
#[derive(Serialize)]
struct LoadEvent<'a> {
    load_token: &'a str,
    time_of_load: String,
    client_load_id: &'a str,
    source_token: &'a str,
    wallet_token: String,
    amount: crate::domain::money::Amount,
    source_currency_code: &'a str,
    notes: &'a str,
    status: &'static str,
    event_type: &'static str,
}

/// The `spendback` event's payload.
#[derive(Serialize)]
struct SpendBackEvent<'a> {
    spendback_token: &'a str,
    client_spendback_id: &'a str,
    status: &'static str,
    event_type: &'static str,
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
    fn catalog() -> Arc<crate::domain::catalog::Catalog> {
        Arc::new(crate::fixtures::load(crate::fixtures::Source::Embedded).expect("fixtures"))
    }

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

    fn hub(allow: &[&str]) -> Hub {
        Hub::new(
            Vec::new(),
            None,
            allow.iter().map(|s| s.to_string()).collect(),
        )
        .expect("hub")
    }

    #[test]
    fn without_an_allow_list_any_host_is_fine() {
        let h = hub(&[]);
        assert!(h.check_url("http://anything.example:1/x").is_ok());
        assert!(h.check_url("http://[::1]:9/x").is_ok());
        let h = hub(&["", " "]);
        assert!(h.check_url("http://anything.example/x").is_ok());
    }

    #[test]
    fn allowed_hosts_compare_case_insensitively_on_any_port() {
        let h = hub(&[
            "Receiver.Example",
            "127.0.0.1:8080",
            "::1",
            "[fe80::2]:9",
            "http://ci.local:3000/",
        ]);
        for ok in [
            "http://receiver.example/hook",
            "http://RECEIVER.example:9999/hook",
            "http://receiver.example./hook",
            "http://127.0.0.1:1/hook",
            "http://[::1]:9000/hook",
            "http://[FE80::2]/hook",
            "http://ci.local/hook",
        ] {
            assert!(h.check_url(ok).is_ok(), "{ok}: {:?}", h.check_url(ok));
        }
        for bad in [
            "http://evil.example/hook",
            "http://receiver.example.evil/hook",
            "http://127.0.0.2:8080/hook",
            "http://[::2]/hook",
        ] {
            let e = h.check_url(bad).expect_err(bad);
            assert!(e.contains("--webhook-allow"), "{e}");
        }
        let e = h.check_url("http://Evil.Example:81/x").unwrap_err();
        assert!(e.contains("\"Evil.Example\""), "{e}");
        // The scheme rules still come first.
        assert!(h.check_url("https://receiver.example/hook").is_err());
    }

    #[test]
    fn a_webhook_url_outside_the_allow_list_refuses_the_hub() {
        let e = Hub::new(
            vec!["http://127.0.0.1:9/x".into()],
            None,
            vec!["other.example".into()],
        )
        .err()
        .expect("refused");
        assert!(
            e.contains("\"127.0.0.1\"") && e.contains("--webhook-allow"),
            "{e}"
        );
        assert!(Hub::new(
            vec!["http://other.example:9/x".into()],
            None,
            vec!["other.example".into()],
        )
        .is_ok());
    }

    /// A receiver that accepts connections and never answers; returns its URL.
    async fn hanging_receiver() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                held.push(s);
            }
        });
        format!("http://{addr}/hook")
    }

    /// A receiver that answers every request 200 (one request per connection is enough here).
    async fn answering_receiver() -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    let mut seen = Vec::new();
                    loop {
                        let Ok(n) = s.read(&mut buf).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        seen.extend_from_slice(&buf[..n]);
                        // The bodies sent here are small: headers and body arrive together.
                        if seen.windows(4).any(|w| w == b"\r\n\r\n") && seen.ends_with(b"}") {
                            seen.clear();
                            let _ = s
                                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                                .await;
                        }
                    }
                });
            }
        });
        format!("http://{addr}/hook")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pending_counts_unfinished_deliveries_until_they_end() {
        let hung = Arc::new(Hub::new(vec![hanging_receiver().await], None, Vec::new()).unwrap());
        let tenant = TenantWebhooks::new(Arc::clone(&hung), catalog());
        assert_eq!(hung.pending(), 0);
        assert_eq!(hung.log_pending_at_shutdown(), 0);
        tenant.emit("payout", "payout_a", "{}".into(), Directives::default());
        tenant.emit("payout", "payout_a", "{}".into(), Directives::default());
        let twice = Directives {
            duplicate: true,
            ..Directives::default()
        };
        tenant.emit("payout", "payout_b", "{}".into(), twice);
        // Dropped deliveries are never sent, so never pending.
        tenant.emit(
            "payout",
            "payout_c",
            "{}".into(),
            Directives {
                drop: true,
                ..Directives::default()
            },
        );
        assert_eq!(hung.pending(), 4);
        tokio::time::sleep(Duration::from_millis(300)).await;
        // Queued behind payout_a's first, in flight, or waiting: all still pending.
        assert_eq!(hung.pending(), 4);
        assert_eq!(hung.log_pending_at_shutdown(), 4);

        let ok = Arc::new(Hub::new(vec![answering_receiver().await], None, Vec::new()).unwrap());
        let tenant = TenantWebhooks::new(Arc::clone(&ok), catalog());
        for object in ["payout_a", "payout_a", "payout_b"] {
            tenant.emit("payout", object, "{}".into(), Directives::default());
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while ok.pending() > 0 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(ok.pending(), 0);
        assert!(tenant.deliveries().iter().all(|d| d.state == "delivered"));
    }
}
