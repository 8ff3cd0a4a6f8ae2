//! The process-wide side: settings, the HTTP client with its bounded turns, receiver URLs.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Bytes;
use axum::http::Uri;

use http_body_util::Full;
use hyper_util::client::legacy::connect::{
    CaptureConnection, Connected, Connection, HttpConnector,
};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio::sync::{watch, Semaphore};

use super::*;
use crate::limits::{MAX_WEBHOOK_DELIVERIES, WEBHOOK_IDLE_PER_HOST, WEBHOOK_IDLE_TIMEOUT};

/// Process-wide webhook settings, the HTTP client and the turns it hands out.
pub struct Hub {
    pub(super) urls: Vec<String>,
    pub(super) secret: String,
    /// Hosts deliveries may go to, as [`host_key`] writes them; empty = any host.
    pub(super) allow: Vec<String>,
    pub(super) client: Client<Connector, Full<Bytes>>,
    /// One permit per attempt in flight; tokio's semaphore is fair, so waiters get theirs in the
    /// order they asked.
    pub(super) turns: Semaphore,
    /// Deliveries handed to a worker and not finished yet (see [`Hub::pending`]).
    pub(super) pending: AtomicUsize,
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

/// The receiver that keeps deliveries in the sandbox (`--webhook-url inbox`): signed as usual,
/// marked delivered at once, read back with `GET /_sandbox/webhooks`.
pub const INBOX: &str = "inbox";

/// Checks a receiver URL: `http://host[:port][/path]` (no TLS client is built in), or
/// [`INBOX`].
pub fn check_url(url: &str) -> Result<(), String> {
    if url == INBOX {
        return Ok(());
    }
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
        if url == INBOX {
            return Ok(());
        }
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
pub(super) struct PendingDelivery(Arc<Hub>);

impl PendingDelivery {
    pub(super) fn new(hub: &Arc<Hub>) -> Self {
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
pub(super) struct Connector(HttpConnector);

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
pub(super) struct Tracked {
    io: TokioIo<TcpStream>,
    _open: watch::Sender<()>,
    closed: Closed,
}

/// Resolves once its connection is closed (the connection's metadata carries one).
#[derive(Clone)]
pub(super) struct Closed(watch::Receiver<()>);

impl Closed {
    pub(super) async fn wait(mut self) {
        // Nothing is ever sent: `changed` ends with an error when the sender (the socket) is gone.
        while self.0.changed().await.is_ok() {}
    }

    /// The signal of the connection a request was sent on, if it got one.
    pub(super) fn of(captured: &CaptureConnection) -> Option<Closed> {
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
