//! # masspay-sandbox
//!
//! A local, stateful simulator of MassPay's payout REST API. Point a MassPay client at it instead
//! of `staging-api`: balances, users, the catalog, attributes and payouts behave like the real
//! API, money moves exactly, and every API key is its own isolated sandbox.
//!
//! It runs as a binary (`cargo run --release`) or, as here, inside a Rust test:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use masspay_sandbox::Sandbox;
//!
//! let sandbox = Sandbox::builder().seed(42).start().await?;
//! let base = format!("{}/v0.1.4", sandbox.base_url());
//! assert!(base.starts_with("http://127.0.0.1:"));
//! // Point your MassPay client at `base`, with any API key as `Authorization: Bearer KEY`.
//! // The sandbox stops when `sandbox` is dropped.
//! # Ok(())
//! # }
//! ```

pub mod admin;
pub mod api;
pub mod cli;
pub mod clock;
pub mod domain;
pub mod error;
pub mod fixtures;
pub mod idempotency;
pub mod json_path;
mod library;
pub mod limits;
pub mod pdf;
pub mod scenario;
pub mod state;
mod testkit;
pub mod ui;
pub mod webhook;

use std::collections::HashSet;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::net::TcpListener;

use crate::api::AppState;
use crate::clock::ClockOrigin;
use crate::state::Store;

pub use crate::state::journal::JournalEntry as ReceivedRequest;
pub use library::{Sandbox, SandboxBuilder};
pub use testkit::Verify;

/// Everything a sandbox is started with (the CLI flags, or the builder's choices).
#[derive(Clone, Debug, Default)]
pub struct Config {
    pub host: String,
    pub port: u16,
    /// A directory whose fixture files replace the embedded ones.
    pub fixtures: Option<PathBuf>,
    /// Only these API keys are accepted; empty = any non-empty key.
    pub api_keys: Vec<String>,
    /// Seeds each tenant's token generator (with its API key) for reproducible tokens.
    pub seed: Option<u64>,
    /// The test clock's starting time (default: now).
    pub start_time: Option<DateTime<Utc>>,
    /// A directory of scenario files added to (or replacing) the shipped ones.
    pub scenarios_dir: Option<PathBuf>,
    /// Scenarios active for every request (`--scenario`).
    pub scenarios: Vec<String>,
    /// Webhook receivers for every tenant (`--webhook-url`).
    pub webhook_urls: Vec<String>,
    /// The secret webhooks are signed with (`--webhook-secret`; default `sandbox_webhook_secret`).
    pub webhook_secret: Option<String>,
    /// Hosts webhooks may be sent to (`--webhook-allow`); empty = any host.
    pub webhook_allow: Vec<String>,
    /// How long a graceful stop waits for requests in flight (`--shutdown-timeout`; default
    /// [`limits::SHUTDOWN_TIMEOUT`]).
    pub shutdown_timeout: Option<std::time::Duration>,
    /// Tenants (distinct API keys) held at most (`--max-tenants`; default [`limits::MAX_TENANTS`]).
    pub max_tenants: Option<usize>,
    /// Connections open at once (`--max-connections`; default [`limits::default_max_connections`]).
    pub max_connections: Option<usize>,
    /// Strict mode for every tenant (`--strict`): requests the client should not have sent are
    /// listed under `GET /_sandbox/requests/unexpected` and fail `verify`.
    pub strict: bool,
    /// Every tenant is read from this file at start and written to it on a graceful stop.
    pub state_file: Option<PathBuf>,
    /// The seed file every new tenant starts from (`--seed-state`); without it, `seed.json` in
    /// [`Config::fixtures`] if there is one, else none (an empty tenant).
    pub seed_state: Option<PathBuf>,
}

/// Why a sandbox could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Fixtures(#[from] fixtures::FixtureError),
    #[error(transparent)]
    Scenario(#[from] scenario::ScenarioError),
    #[error("--scenario: {0}")]
    UnknownScenario(String),
    #[error("{0}")]
    StateFile(String),
    #[error("--webhook-url: {0}")]
    Webhook(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    /// Library mode: the sandbox's own thread or runtime could not be started.
    #[error("cannot start the sandbox's thread or runtime: {0}")]
    Runtime(std::io::Error),
}

/// Loads the fixtures and builds the shared state. Fails, naming file and entry, on any problem.
pub fn build_state(config: &Config) -> Result<AppState, StartError> {
    let source = match &config.fixtures {
        Some(dir) => fixtures::Source::Dir(dir),
        None => fixtures::Source::Embedded,
    };
    let catalog = Arc::new(fixtures::load(source)?);
    let origin = ClockOrigin::new(config.start_time);
    let seed = fixtures::seed::load(&source, config.seed_state.as_deref(), &catalog, origin)?;
    let registry = scenario::load(config.scenarios_dir.as_deref(), &catalog)?;
    let global = registry
        .resolve(config.scenarios.iter().flat_map(|s| s.split(',')))
        .map_err(|unknown| StartError::UnknownScenario(registry.unknown_message(&unknown)))?;
    let allowed: Option<HashSet<String>> = (!config.api_keys.is_empty()).then(|| {
        config
            .api_keys
            .iter()
            .map(|k| api::api_key(k).to_string())
            .collect()
    });
    let hub = webhook::Hub::new(
        config.webhook_urls.clone(),
        config.webhook_secret.clone(),
        config.webhook_allow.clone(),
    )
    .map_err(StartError::Webhook)?;
    let balance_json = api::BalanceJson::new(&catalog);
    let hub = Arc::new(hub);
    let sinks = webhook::Sinks {
        hub: Arc::clone(&hub),
        catalog: Arc::clone(&catalog),
    };
    let mut store = Store::new(
        catalog,
        origin,
        config.seed,
        allowed,
        Arc::new(sinks),
        config.max_tenants.unwrap_or(limits::MAX_TENANTS),
    );
    store.set_seed(seed);
    let known = |name: &str| registry.resolve([name]).is_ok();
    let loaded = store.open_state_file(config.state_file.clone(), known);
    loaded.map_err(StartError::StateFile)?;
    Ok(AppState::new(api::Shared {
        balance_json,
        store: Arc::new(store),
        webhooks: hub,
        scenarios: Arc::new(registry),
        global_scenarios: global.into(),
        max_connections: config
            .max_connections
            .unwrap_or_else(limits::default_max_connections)
            .max(1),
        shutdown_timeout: config.shutdown_timeout.unwrap_or(limits::SHUTDOWN_TIMEOUT),
        strict: config.strict,
    }))
}

/// Binds the configured address (port 0 = a free port).
pub async fn bind(config: &Config) -> Result<TcpListener, StartError> {
    let host = if config.host.is_empty() {
        "127.0.0.1"
    } else {
        config.host.as_str()
    };
    let addr = format!("{host}:{}", config.port);
    TcpListener::bind(&addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })
}

/// Serves until `shutdown` resolves, then lets in-flight requests finish — for at most the
/// shutdown timeout, after which what is still open is cut off (and named in the log).
pub fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> impl Future<Output = std::io::Result<()>> + Send {
    serve_boxed(listener, state, Box::pin(shutdown))
}

/// [`serve`] behind a box, with the shutdown future boxed: nothing generic is left, so the server
/// (hyper's connection state machine, the router, every handler) is compiled once, rather than
/// once per shutdown future (the command line's signals, library mode's channel) and again in
/// every crate outside this one that calls `serve`.
fn serve_boxed(
    listener: TcpListener,
    state: AppState,
    shutdown: std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
) -> std::pin::Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>> {
    Box::pin(serve_until(listener, state, shutdown))
}

async fn serve_until(
    listener: TcpListener,
    state: AppState,
    mut shutdown: std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
) -> std::io::Result<()> {
    // Settlement and expiry also happen with nobody asking: a sweep each second persists them
    // and emits their webhooks.
    let (store, persist) = (Arc::clone(&state.store), Arc::clone(&state.store));
    let sweeper = tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            store.sweep();
        }
    });
    let (max_connections, shutdown_timeout) = (state.max_connections, state.shutdown_timeout);
    let open = Arc::new(tokio::sync::Semaphore::new(max_connections));
    let refusing = Arc::new(tokio::sync::Semaphore::new(limits::MAX_REFUSALS_IN_FLIGHT));
    let webhooks = Arc::clone(&state.webhooks);
    let edge = api::app(state);
    let http = hyper::server::conn::http1::Builder::new();
    let connections = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = Arc::clone(&open).try_acquire_owned() else {
            // Over the cap: say so and close, rather than let silent connections pile up
            // until nothing (not even /health) can connect. Under a flood of connections the
            // answers themselves are bounded: past a few dozen being written, close at once.
            match Arc::clone(&refusing).try_acquire_owned() {
                Ok(slot) => {
                    tokio::spawn(async move {
                        refuse_connection(stream, max_connections).await;
                        drop(slot);
                    });
                }
                Err(_) => drop(stream),
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (conn_edge, activity) = edge.for_connection();
        let connection = http.serve_connection(hyper_util::rt::TokioIo::new(stream), conn_edge);
        let connection = connections.watch(connection);
        tokio::spawn(async move {
            let _permit = permit;
            // A request head must arrive within the timeout of the connection opening or of the
            // last answer, and a keep-alive connection idle that long is closed: one watchdog
            // per connection (hyper's own header timer costs a timer per request).
            tokio::select! {
                ended = connection => if let Err(e) = ended {
                    tracing::debug!(error = %e, "connection ended with an error");
                },
                () = activity.idle_for(limits::HEADER_READ_TIMEOUT) => {
                    tracing::debug!("closed a connection idle or silent for too long");
                }
            }
        });
    }
    // Graceful stop: no new connections; requests in flight finish, idle connections close.
    drop(listener);
    sweeper.abort();
    if tokio::time::timeout(shutdown_timeout, connections.shutdown())
        .await
        .is_err()
    {
        let still_open = max_connections - open.available_permits();
        tracing::warn!(
            connections = still_open,
            timeout_s = shutdown_timeout.as_secs_f64(),
            "shutdown timeout passed: {still_open} connection(s) still open were cut off"
        );
    }
    // Deliveries still queued or retrying are not sent; say how many.
    webhooks.log_pending_at_shutdown();
    // No request runs any more: every tenant goes to the state file (--state-file), if any.
    persist
        .save_state_file_if_any()
        .map_err(std::io::Error::other)?;
    Ok(())
}

/// Answers a connection over the cap with a 503 in MassPay's shape and closes it.
async fn refuse_connection(mut stream: tokio::net::TcpStream, max: usize) {
    use axum::response::IntoResponse;
    use tokio::io::AsyncWriteExt;
    let detail = format!(
        "the sandbox already has {max} connections open, its limit (--max-connections); close idle connections or retry"
    );
    let response = error::ApiError::Unavailable(detail).into_response();
    let body = match axum::body::to_bytes(response.into_body(), usize::MAX).await {
        Ok(b) => b,
        Err(_) => return,
    };
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\nretry-after: 1\r\n\r\n",
        body.len()
    );
    let write = async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(&body).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), write).await;
}
