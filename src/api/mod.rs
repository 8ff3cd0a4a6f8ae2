//! The HTTP surface. One module per MassPay resource, each with its handlers and its
//! `OPERATIONS` (the registry's entries, `registry.rs`); this module routes them all under every
//! API-version prefix and puts the shared layers around them.
//!
//! A request's way through: path normalisation → routing → auth (API key → tenant) → handler
//! (parse into domain types) → the tenant's simulation → a response model.

mod account;
pub use account::BalanceJson;
mod attribute;
pub mod body;
mod catalog;
pub mod extract;
mod history;
pub mod idempotency_layer;
mod load;
pub mod models;
pub mod openapi;
mod payout;
pub mod registry;
pub mod scenario_layer;
mod spendback;
mod subaccount;
mod tax;
mod user;
mod wallet;

use std::convert::Infallible;
use std::future::Future;
use std::ops::Deref;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Serialize;
use tokio::sync::Semaphore;
use tower::{Layer, Service, ServiceExt as _};

use crate::error::ApiError;
use crate::state::{Store, Tenant};

/// The 0.1.x version prefixes; all behave the same.
pub const V0_PREFIXES: &[&str] = &["/v0.1.0", "/v0.1.1", "/v0.1.2", "/v0.1.3", "/v0.1.4"];

pub use body::{BODY_LIMIT, UPLOAD_LIMIT};

/// What every handler can reach: the store of tenants (and through it the shared catalog). One
/// `Arc`, so handing it to a request costs a single reference count.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The contents of [`AppState`].
pub struct Shared {
    pub store: Arc<Store>,
    /// The process-wide webhook hub (its pending count is logged at shutdown).
    pub webhooks: Arc<crate::webhook::Hub>,
    pub scenarios: Arc<crate::scenario::Registry>,
    /// Scenarios active for every request (`--scenario`).
    pub global_scenarios: Arc<[Arc<crate::scenario::Scenario>]>,
    /// `GET /account/balance`'s answer, pre-rendered around the amounts.
    pub balance_json: BalanceJson,
    /// Connections open at once (`--max-connections`).
    pub max_connections: usize,
    /// How long a graceful stop waits (`--shutdown-timeout`).
    pub shutdown_timeout: std::time::Duration,
}

impl AppState {
    pub fn new(shared: Shared) -> Self {
        AppState(Arc::new(shared))
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// Serialises a response model to a 200 JSON response.
pub fn json<T: Serialize + ?Sized>(body: &T) -> Response {
    // Most answers fit in 1 KiB: one allocation instead of a string of doublings.
    let mut bytes = Vec::with_capacity(1024);
    match serde_json::to_writer(&mut bytes, body) {
        Ok(()) => json_bytes(bytes),
        Err(e) => ApiError::Internal(format!("response serialisation failed: {e}")).into_response(),
    }
}

/// A 200 response with this JSON text.
pub fn json_bytes(bytes: Vec<u8>) -> Response {
    let mut r = (StatusCode::OK, bytes).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// Which API a request came through: 0.1.x (`/v0.1.0`…`/v0.1.4`) or 1.0.0 (`/v1.0.0`). One
/// simulation serves both; only paths and a few response models differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiVersion {
    V0,
    V1,
}

/// The version prefix of API 1.0.0.
pub const V1_PREFIX: &str = "/v1.0.0";

impl ApiVersion {
    /// The version a path was sent to (routes carry their full paths).
    pub fn of_path(path: &str) -> ApiVersion {
        if path.starts_with(V1_PREFIX) {
            ApiVersion::V1
        } else {
            ApiVersion::V0
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ApiVersion {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        Ok(ApiVersion::of_path(parts.uri.path()))
    }
}

/// The whole application, ready to serve: the [`Edge`] around the router. MassPay routes run
/// through the [`Pipeline`] (auth and journal, idempotency, scenarios, then the handler), admin
/// routes through its auth step. Both are attached per route (`route_layer`), so unknown paths
/// answer 404 without a key.
pub fn app(state: AppState) -> Edge {
    let masspay = registry::routes().route_layer(PipelineLayer {
        state: state.clone(),
        masspay: true,
    });
    let admin = crate::admin::router().route_layer(PipelineLayer {
        state: state.clone(),
        masspay: false,
    });
    let router = Router::new()
        .route("/health", get(health))
        .route("/openapi.json", get(openapi::serve))
        .merge(masspay)
        .merge(admin)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state);
    Edge {
        router,
        slots: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        activity: None,
    }
}

/// The outermost service, once per request and not per route: path normalisation, the CORS
/// preflight, a slot among [`MAX_IN_FLIGHT`], the body read in full (see [`read_body_first`]),
/// CORS headers for cross-origin callers, and the last-resort panic catcher. Written as a plain
/// service rather than axum middleware: each `from_fn` layer boxes and clones the route below it
/// on every request, which measurably cost throughput (bench/README.md).
#[derive(Clone)]
pub struct Edge {
    router: Router,
    slots: Arc<Semaphore>,
    /// The connection this edge serves (see [`Edge::for_connection`]); `None` in tests that
    /// call the service directly.
    activity: Option<Arc<ConnActivity>>,
}

/// What a connection's idle watchdog reads: requests in flight on it, and when the last one
/// ended (or the connection opened). One per connection, touched twice per request.
pub struct ConnActivity {
    in_flight: std::sync::atomic::AtomicUsize,
    /// Milliseconds since [`activity_epoch`].
    last: std::sync::atomic::AtomicU64,
}

fn activity_epoch() -> std::time::Instant {
    static EPOCH: std::sync::LazyLock<std::time::Instant> =
        std::sync::LazyLock::new(std::time::Instant::now);
    *EPOCH
}

fn millis_since_epoch() -> u64 {
    u64::try_from(activity_epoch().elapsed().as_millis()).unwrap_or(u64::MAX)
}

impl ConnActivity {
    fn new() -> Self {
        ConnActivity {
            in_flight: 0.into(),
            last: millis_since_epoch().into(),
        }
    }

    /// Resolves once the connection has had no request in flight for `timeout`: a client that
    /// never finishes a request head, or a keep-alive connection left idle. (One timer per
    /// connection, re-armed at most once per `timeout`, instead of one per request.)
    pub async fn idle_for(&self, timeout: std::time::Duration) {
        use std::sync::atomic::Ordering::Acquire;
        let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        loop {
            let last = self.last.load(Acquire);
            let due = activity_epoch()
                + std::time::Duration::from_millis(last.saturating_add(timeout_ms));
            tokio::time::sleep_until(due.into()).await;
            if self.in_flight.load(Acquire) == 0
                && millis_since_epoch() >= self.last.load(Acquire).saturating_add(timeout_ms)
            {
                return;
            }
            if self.in_flight.load(Acquire) > 0 {
                // A request is being answered (a scenario's latency, a slow body): its own
                // deadlines apply; look again one timeout later.
                self.last
                    .store(millis_since_epoch(), std::sync::atomic::Ordering::Release);
            }
        }
    }
}

impl Service<Request> for Edge {
    type Response = Response;
    type Error = Infallible;
    type Future = EdgeFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> EdgeFuture {
        self.answer(req)
    }
}

/// The server's connections speak to the edge directly (no tower adapter in between).
impl hyper::service::Service<hyper::Request<hyper::body::Incoming>> for Edge {
    type Response = Response;
    type Error = Infallible;
    type Future = EdgeFuture;

    fn call(&self, req: hyper::Request<hyper::body::Incoming>) -> EdgeFuture {
        let mut answer = self.answer(req.map(axum::body::Body::new));
        if let Some(a) = &self.activity {
            a.in_flight
                .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            answer.activity = Some(Arc::clone(a));
        }
        answer
    }
}

impl Edge {
    /// This edge for one connection, and what its idle watchdog reads.
    pub fn for_connection(&self) -> (Edge, Arc<ConnActivity>) {
        let activity = Arc::new(ConnActivity::new());
        let edge = Edge {
            router: self.router.clone(),
            slots: Arc::clone(&self.slots),
            activity: Some(Arc::clone(&activity)),
        };
        (edge, activity)
    }

    fn answer(&self, req: Request) -> EdgeFuture {
        let req = normalize_path(req);
        if let Some(preflight) = cors_preflight(&req) {
            return EdgeFuture::ready(preflight);
        }
        // Only browsers read CORS headers, and a browser's cross-origin request carries `Origin`.
        let cross_origin = req.headers().contains_key(header::ORIGIN);
        // The body is never read here: auth and routing come first, and only the operation
        // reads it, within its limit (see `body`). An announced length over the limit is a 413
        // at once.
        let (req, body) = if has_body(&req) {
            let limit = body::limit_for(req.uri().path());
            let announced = body::announced_length(req.headers());
            if announced.is_some_and(|n| n > limit as u64) {
                let mut r = ApiError::PayloadTooLarge.into_response();
                close_connection(&mut r);
                return EdgeFuture::ready(r);
            }
            let (parts, incoming) = req.into_parts();
            let (guarded, consumed) = body::guard(incoming, limit, announced);
            (Request::from_parts(parts, guarded), Some(consumed))
        } else {
            (req, None)
        };
        let slot = Arc::clone(&self.slots).try_acquire_owned().ok();
        let inner = match slot {
            // The common case: a free slot. Routing happens here and the route's own future is
            // polled directly (no extra boxed future to fill).
            Some(_) => {
                let mut router = self.router.clone();
                match std::panic::catch_unwind(AssertUnwindSafe(|| router.call(req))) {
                    Ok(route) => EdgeInner::Route(route),
                    Err(panic) => EdgeInner::Ready(std::future::ready(panic_response(panic))),
                }
            }
            None => {
                let (slots, router) = (Arc::clone(&self.slots), self.router.clone());
                EdgeInner::Boxed(Box::pin(async move {
                    let _slot = slots.acquire_owned().await;
                    answer(router, req).await
                }))
            }
        };
        EdgeFuture {
            inner,
            cross_origin,
            body,
            activity: None,
            _slot: slot,
        }
    }
}

/// Asks the client to close the connection after this answer.
fn close_connection(r: &mut Response) {
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
}

/// The answer of [`Edge`]: the route's future (or the body read and then the route), with a
/// panic while it runs turned into a logged 500 in MassPay's shape, and the CORS headers added.
/// Holds the request's slot until the answer is ready.
pub struct EdgeFuture {
    inner: EdgeInner,
    cross_origin: bool,
    /// Whether the request's body (if it had one) was read to its end.
    body: Option<body::Consumed>,
    /// The connection's activity: the request ends when this future is dropped.
    activity: Option<Arc<ConnActivity>>,
    _slot: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl Drop for EdgeFuture {
    fn drop(&mut self) {
        if let Some(a) = &self.activity {
            use std::sync::atomic::Ordering::Release;
            a.last.store(millis_since_epoch(), Release);
            a.in_flight.fetch_sub(1, Release);
        }
    }
}

enum EdgeInner {
    Ready(std::future::Ready<Response>),
    Route(axum::routing::future::RouteFuture<Infallible>),
    Boxed(Pin<Box<dyn Future<Output = Response> + Send>>),
}

impl EdgeFuture {
    fn ready(r: Response) -> Self {
        EdgeFuture {
            inner: EdgeInner::Ready(std::future::ready(r)),
            cross_origin: false,
            body: None,
            activity: None,
            _slot: None,
        }
    }
}

impl Future for EdgeFuture {
    type Output = Result<Response, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let polled = std::panic::catch_unwind(AssertUnwindSafe(|| match &mut this.inner {
            EdgeInner::Ready(r) => Pin::new(r).poll(cx),
            EdgeInner::Route(f) => Pin::new(f).poll(cx).map(|r| match r {
                Ok(r) => r,
                Err(never) => match never {},
            }),
            EdgeInner::Boxed(f) => f.as_mut().poll(cx),
        }));
        let mut r = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(r)) => r,
            Err(panic) => panic_response(panic),
        };
        if this.body.as_ref().is_some_and(|b| !b.get()) {
            // Answered without reading the body: the rest of it must not be taken for the
            // client's next request.
            close_connection(&mut r);
        }
        if this.cross_origin {
            let h = r.headers_mut();
            h.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
            h.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("*"),
            );
        }
        Poll::Ready(Ok(r))
    }
}

/// Whether a request announces a body (a length other than 0, or chunked).
fn has_body(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() != "0")
        || req.headers().contains_key(header::TRANSFER_ENCODING)
}

/// Runs `req` through `service` (the router, a route) to its response.
async fn answer<S>(service: S, req: Request) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    match service.oneshot(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    }
}

/// Permissive CORS for browser clients. Only a real preflight (`OPTIONS` with
/// `Access-Control-Request-Method`) is answered here: tower-http's CORS layer answers every
/// `OPTIONS` itself, which would hide MassPay's real `OPTIONS /user-agreements` operation.
fn cors_preflight(req: &Request) -> Option<Response> {
    use axum::http::Method;
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if !preflight {
        return None;
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    let h = r.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, PUT, PATCH, DELETE, OPTIONS"),
    );
    let allow_headers = req
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("*"));
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allow_headers);
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    Some(r)
}

/// Requests handled at once; more wait for a slot (bounded work under a flood of connections).
pub const MAX_IN_FLIGHT: usize = 4096;

/// The last resort: a panic in a handler becomes a logged 500 in MassPay's shape. Tests prove no
/// input reaches it.
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into());
    tracing::error!(%detail, "a handler panicked");
    ApiError::Internal("the sandbox hit an internal error (a bug: please report it)".into())
        .into_response()
}

/// Collapses `//` and drops a trailing `/` before routing, so `/v0.1.4//user/` finds `/user`.
pub fn normalize_path(mut req: Request) -> Request {
    let path = req.uri().path();
    let needs = path.contains("//") || (path.len() > 1 && path.ends_with('/'));
    if !needs {
        return req;
    }
    let mut clean = String::with_capacity(path.len());
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        clean.push('/');
        clean.push_str(seg);
    }
    if clean.is_empty() {
        clean.push('/');
    }
    if let Some(q) = req.uri().query() {
        clean.push('?');
        clean.push_str(q);
    }
    let mut parts = req.uri().clone().into_parts();
    if let Ok(pq) = clean.parse() {
        parts.path_and_query = Some(pq);
        if let Ok(uri) = Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
    req
}

/// The per-route layer: auth (API key → tenant) for admin routes; for MassPay routes the whole
/// way of a request, each step in its own module: auth → journal → idempotency (replay or
/// reserve) → scenarios (faults, latency, effects) → handler. Idempotency reserves the key
/// before a scenario's latency or fault, so a retry arriving meanwhile gets a 409, and an
/// injected fault (never a 2xx) is never stored.
#[derive(Clone)]
struct PipelineLayer {
    state: AppState,
    masspay: bool,
}

impl<S> Layer<S> for PipelineLayer {
    type Service = Pipeline<S>;

    fn layer(&self, inner: S) -> Pipeline<S> {
        Pipeline {
            state: self.state.clone(),
            masspay: self.masspay,
            inner,
        }
    }
}

#[derive(Clone)]
struct Pipeline<S> {
    state: AppState,
    masspay: bool,
    inner: S,
}

type BoxResponse = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl<S> Service<Request> for Pipeline<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + Unpin + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = PipelineFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> PipelineFuture<S::Future> {
        let tenant = match resolve_tenant(&self.state, &req) {
            Ok(t) => t,
            Err(e) => return PipelineFuture::Ready(std::future::ready(e.into_response())),
        };
        if !self.masspay {
            req.extensions_mut().insert(tenant);
            return PipelineFuture::Direct {
                inner: self.inner.call(req),
                journal: None,
            };
        }
        let journal = JournalNote::of(&req, Arc::clone(&tenant));
        let full_way = idempotency_layer::applies(&req)
            || scenario_layer::may_apply(&self.state, &tenant, &req);
        req.extensions_mut().insert(tenant);
        if !full_way {
            // The common case: nothing to replay or inject, the handler runs directly.
            return PipelineFuture::Direct {
                inner: self.inner.call(req),
                journal: Some(journal),
            };
        }
        let state = self.state.clone();
        let inner = self.inner.clone();
        PipelineFuture::Boxed(Box::pin(async move {
            let response = idempotency_layer::run(req, |req| async {
                match scenario_layer::resolve(&state, req).await {
                    Ok(req) => answer(inner, req).await,
                    Err(answer) => answer,
                }
            })
            .await;
            journal.record(&response);
            Ok(response)
        }))
    }
}

/// The answer of [`Pipeline`]: at once (auth refused), the handler's own future (with the
/// journal entry written when it is ready), or the full way through idempotency and scenarios.
pub enum PipelineFuture<F> {
    Ready(std::future::Ready<Response>),
    Direct {
        inner: F,
        journal: Option<JournalNote>,
    },
    Boxed(BoxResponse),
}

impl<F> Future for PipelineFuture<F>
where
    F: Future<Output = Result<Response, Infallible>> + Unpin,
{
    type Output = Result<Response, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut *self {
            PipelineFuture::Ready(r) => Pin::new(r).poll(cx).map(Ok),
            PipelineFuture::Direct { inner, journal } => {
                let Poll::Ready(Ok(response)) = Pin::new(inner).poll(cx) else {
                    return Poll::Pending;
                };
                if let Some(j) = journal.take() {
                    j.record(&response);
                }
                Poll::Ready(Ok(response))
            }
            PipelineFuture::Boxed(f) => f.as_mut().poll(cx),
        }
    }
}

/// What the request journal keeps of a MassPay request, taken before the handler runs.
pub struct JournalNote {
    tenant: Arc<Tenant>,
    method: &'static str,
    path: Box<str>,
    idempotency_key: Option<Box<str>>,
}

/// A method's name for the journal, without an allocation: routes answer only the standard
/// methods, so anything else was never routed (and is not journaled).
fn method_name(m: &axum::http::Method) -> &'static str {
    use axum::http::Method as M;
    match *m {
        M::GET => "GET",
        M::POST => "POST",
        M::PUT => "PUT",
        M::PATCH => "PATCH",
        M::DELETE => "DELETE",
        M::OPTIONS => "OPTIONS",
        M::HEAD => "HEAD",
        _ => "OTHER",
    }
}

impl JournalNote {
    fn of(req: &Request, tenant: Arc<Tenant>) -> Self {
        JournalNote {
            tenant,
            method: method_name(req.method()),
            // Routes carry their full paths (no nesting), so this is the path as sent.
            path: req.uri().path().into(),
            idempotency_key: req
                .headers()
                .get(idempotency_layer::HEADER)
                .and_then(|v| v.to_str().ok())
                .map(Box::<str>::from),
        }
    }

    fn record(self, response: &Response) {
        let at = self.tenant.now();
        self.tenant
            .journal
            .record(crate::state::journal::JournalEntry {
                method: self.method,
                path: self.path,
                status: response.status().as_u16(),
                idempotency_key: self.idempotency_key,
                at,
            });
    }
}

fn resolve_tenant(state: &AppState, req: &Request) -> Result<Arc<Tenant>, ApiError> {
    let key = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(api_key)
        .unwrap_or("");
    if key.is_empty() {
        return Err(ApiError::Unauthorized(
            "the Authorization header with your API key is missing".into(),
        ));
    }
    state.store.tenant(key).map_err(|refused| match refused {
        crate::state::Refused::TooLong => {
            ApiError::Unauthorized(format!(
                "the API key is longer than {} bytes",
                crate::limits::MAX_API_KEY_LEN
            ))
        }
        crate::state::Refused::Key => {
            ApiError::Unauthorized("the API key is not valid for this sandbox".into())
        }
        crate::state::Refused::Full(max) => ApiError::Unavailable(format!(
            "this sandbox already holds {max} tenants (distinct API keys), its limit (--max-tenants); \
             reuse an API key, or restart the sandbox with a higher --max-tenants"
        )),
    })
}

/// `Bearer K` (scheme word in any case) and `K` name the same key.
pub fn api_key(header: &str) -> &str {
    let h = header.trim();
    match h.split_once(char::is_whitespace) {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        // The scheme word alone carries no key.
        _ if h.eq_ignore_ascii_case("bearer") => "",
        _ => h,
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    status: &'static str,
}

async fn health() -> Response {
    json(&Health { status: "ok" })
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(format!("no operation at {}", echoed_path(uri.path())))
}

/// A path as an error may echo it: at most [`limits::MAX_ECHOED_PATH`] bytes (a 60 KiB path
/// was once echoed whole), cut at a character boundary and marked `…`.
fn echoed_path(path: &str) -> std::borrow::Cow<'_, str> {
    let max = crate::limits::MAX_ECHOED_PATH;
    if path.len() <= max {
        return path.into();
    }
    let mut end = max;
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &path[..end]).into()
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
