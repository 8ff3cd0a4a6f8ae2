//! The outermost service, once per connection and per request: the idle watchdog, path
//! normalisation, the CORS preflight, a slot among the requests in flight, CORS headers and the
//! last-resort panic catcher.

use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower::{Service, ServiceExt as _};

use crate::error::ApiError;

use super::*;

/// The outermost service, once per request and not per route: path normalisation, the CORS
/// preflight, a slot among [`MAX_IN_FLIGHT`], the body read in full (see [`read_body_first`]),
/// CORS headers for cross-origin callers, and the last-resort panic catcher. Written as a plain
/// service rather than axum middleware: each `from_fn` layer boxes and clones the route below it
/// on every request, which measurably cost throughput (bench/README.md).
#[derive(Clone)]
pub struct Edge {
    pub(super) router: Router,
    /// The direct way of the operations called most (`direct.rs`), and what it needs.
    pub(super) direct: Arc<super::direct::Table>,
    pub(super) state: AppState,
    /// The connection this edge serves (see [`Edge::for_connection`]); `None` in tests that
    /// call the service directly.
    pub(super) activity: Option<Arc<ConnActivity>>,
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
            direct: Arc::clone(&self.direct),
            state: self.state.clone(),
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
        let slot = IN_FLIGHT.try_take(1);
        let inner = match slot {
            // The common case: a free slot. Routing happens here and the route's own future is
            // polled directly (no extra boxed future to fill).
            Some(_) => {
                let routed = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    match self.direct.dispatch(&self.state, req) {
                        super::direct::Dispatch::Direct(f) => EdgeInner::Direct(f),
                        super::direct::Dispatch::Routed(req) => {
                            EdgeInner::Route(self.router.clone().call(req))
                        }
                    }
                }));
                routed.unwrap_or_else(|panic| {
                    EdgeInner::Ready(std::future::ready(panic_response(panic)))
                })
            }
            None => {
                let router = self.router.clone();
                EdgeInner::Boxed(Box::pin(async move {
                    let _slot = IN_FLIGHT.take(1).await;
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
    _slot: Option<super::gate::Pass>,
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
    Direct(PipelineFuture<super::direct::Answer>),
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
            EdgeInner::Direct(f) => Pin::new(f).poll(cx).map(|r| match r {
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
pub(super) async fn answer<S>(service: S, req: Request) -> Response
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

/// The slots of [`MAX_IN_FLIGHT`], shared by every sandbox in the process.
static IN_FLIGHT: super::gate::Gate = super::gate::Gate::new(MAX_IN_FLIGHT);

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
