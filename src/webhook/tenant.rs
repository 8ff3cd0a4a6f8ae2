//! A tenant's subscription, delivery log and per-object delivery workers.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::body::Bytes;
use dashmap::DashMap;

use crate::state::hash::LazyMap;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::capture_connection;
use serde::Serialize;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::hub::{Closed, PendingDelivery};
use super::*;
use crate::domain::catalog::Catalog;
use crate::domain::event::EventSink;

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
    /// The signature header's value (`t=…,s=…`), for deliveries kept in the inbox.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
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
    pub(super) catalog: Arc<Catalog>,
    /// Itself, for the workers `publish` starts (it is called through `&self`).
    pub(super) me: std::sync::Weak<TenantWebhooks>,
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
                    signature: None,
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
            signature: None,
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
        if url == super::hub::INBOX {
            // Kept here, signed as a receiver would see it: delivered in one attempt.
            let t = chrono::Utc::now().timestamp();
            if let Some(mut d) = self.log.get_mut(&id) {
                d.signature = Some(format!("t={t},s={}", sign(&secret, t, &body)));
                d.attempts = 1;
                d.last_status = Some(200);
                d.attempt_log.push(Attempt {
                    at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    status: Some(200),
                    error: None,
                });
                d.state = "delivered";
            }
            return;
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

impl TenantWebhooks {
    /// The webhooks behind a tenant's sink (the admin API's view of them).
    pub fn of(sink: &Arc<dyn EventSink>) -> Option<Arc<TenantWebhooks>> {
        let any = Arc::clone(sink) as Arc<dyn std::any::Any + Send + Sync>;
        any.downcast::<TenantWebhooks>().ok()
    }
}
