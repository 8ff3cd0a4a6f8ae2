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
pub mod clock;
pub mod domain;
pub mod error;
pub mod fixtures;
pub mod idempotency;
pub mod limits;
pub mod pdf;
pub mod scenario;
pub mod state;
pub mod ui;
pub mod webhook;

use std::collections::HashSet;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::api::AppState;
use crate::clock::ClockOrigin;
use crate::state::Store;

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
    let catalog = match &config.fixtures {
        Some(dir) => fixtures::load(fixtures::Source::Dir(dir))?,
        None => fixtures::load(fixtures::Source::Embedded)?,
    };
    let catalog = Arc::new(catalog);
    {
        let catalog = Arc::clone(&catalog);
        std::thread::spawn(move || catalog.compile_regexes());
    }
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
    let store = Store::new(
        catalog,
        ClockOrigin::new(config.start_time),
        config.seed,
        allowed,
        Arc::new(sinks),
        config.max_tenants.unwrap_or(limits::MAX_TENANTS),
    );
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
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Settlement and expiry also happen with nobody asking: a sweep each second persists them
    // and emits their webhooks.
    let store = Arc::clone(&state.store);
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
    let mut shutdown = std::pin::pin!(shutdown);
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

/// A sandbox running in this process on its own port, its own thread and its own tokio runtime;
/// it stops when dropped.
///
/// Dropping it only signals the stop and returns at once, without joining the thread: drop may
/// happen on an async runtime's thread, where blocking would stall that runtime (and, if a client
/// of the sandbox runs on it — say, streaming a request body — hold up the very drain being
/// waited for). On the signal the sandbox's thread closes the listening socket at once (new
/// connections are refused), closes idle connections, lets requests in flight finish for at
/// most the shutdown timeout (10 s), then drops its runtime and ends. A sandbox that is never
/// dropped (kept in a `static`, say) serves until the process exits.
pub struct Sandbox {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl Sandbox {
    pub fn builder() -> SandboxBuilder {
        SandboxBuilder {
            config: Config {
                host: "127.0.0.1".into(),
                ..Config::default()
            },
        }
    }

    /// `http://127.0.0.1:PORT` — add `/v0.1.4` for the MassPay API.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Chooses what a [`Sandbox`] starts with.
pub struct SandboxBuilder {
    config: Config,
}

impl SandboxBuilder {
    /// Replaces the embedded fixtures with the files of `dir`.
    pub fn fixtures_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config.fixtures = Some(dir.into());
        self
    }

    /// Accept only this key (call again for more).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.config.api_keys.push(key.into());
        self
    }

    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = Some(seed);
        self
    }

    /// Adds the scenario files of `dir` to the shipped ones.
    pub fn scenarios_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config.scenarios_dir = Some(dir.into());
        self
    }

    /// Sends every tenant's webhooks to `url` (like `--webhook-url`).
    pub fn webhook_url(mut self, url: impl Into<String>) -> Self {
        self.config.webhook_urls.push(url.into());
        self
    }

    /// Sends webhooks only to this host, on any port (like `--webhook-allow`; call again for
    /// more). Without it any host is allowed.
    pub fn webhook_allow(mut self, host: impl Into<String>) -> Self {
        self.config.webhook_allow.push(host.into());
        self
    }

    pub fn webhook_secret(mut self, secret: impl Into<String>) -> Self {
        self.config.webhook_secret = Some(secret.into());
        self
    }

    /// Activates a scenario for every request (like `--scenario`).
    pub fn scenario(mut self, name: impl Into<String>) -> Self {
        self.config.scenarios.push(name.into());
        self
    }

    /// Holds at most this many tenants (like `--max-tenants`).
    pub fn max_tenants(mut self, max: usize) -> Self {
        self.config.max_tenants = Some(max);
        self
    }

    /// Keeps at most this many connections open (like `--max-connections`).
    pub fn max_connections(mut self, max: usize) -> Self {
        self.config.max_connections = Some(max);
        self
    }

    pub fn start_time(mut self, at: DateTime<Utc>) -> Self {
        self.config.start_time = Some(at);
        self
    }

    /// Loads the fixtures, binds a free port and serves in the background — on a thread and a
    /// runtime of its own, so a test that blocks its own runtime thread (a blocking client,
    /// `std::thread::sleep`) still gets answers, and the sandbox outlives the runtime that
    /// started it. Resolves once the port is bound: connections are accepted from then on.
    pub async fn start(self) -> Result<Sandbox, StartError> {
        let (stop, ready) = self.launch()?;
        let addr = ready.await.unwrap_or_else(|_| Err(thread_ended()))?;
        Ok(Sandbox {
            addr,
            stop: Some(stop),
        })
    }

    /// [`start`](Self::start) for code without an async runtime (a plain `#[test]`). Blocks until
    /// the port is bound; panics if called from inside an async runtime (use `start().await`).
    pub fn start_blocking(self) -> Result<Sandbox, StartError> {
        let (stop, ready) = self.launch()?;
        let addr = ready
            .blocking_recv()
            .unwrap_or_else(|_| Err(thread_ended()))?;
        Ok(Sandbox {
            addr,
            stop: Some(stop),
        })
    }

    /// Spawns the sandbox's thread, which builds its runtime and state, binds, reports the
    /// address (or why it could not start) through `ready`, then serves until `stop` fires or is
    /// dropped — a `start()` abandoned half-way therefore stops the thread too.
    fn launch(self) -> Result<(oneshot::Sender<()>, Ready), StartError> {
        let (stop, stopped) = oneshot::channel::<()>();
        let (report, ready) = oneshot::channel::<Result<SocketAddr, StartError>>();
        let config = self.config;
        std::thread::Builder::new()
            .name("masspay-sandbox".into())
            .spawn(move || {
                // A multi-thread runtime with two workers rather than a current-thread one: the
                // handlers do synchronous work (the sweep, PDF export, large JSON), and the
                // reliability tests race commits against each other, which only means something
                // if requests really run in parallel — as they did on the multi-thread test
                // runtimes the server used to share. Two workers (not one per core) keep the cost
                // of one sandbox per test small. This thread itself runs the accept loop
                // (`block_on`); the connections run on the workers.
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("masspay-sandbox-worker")
                    .enable_all()
                    .build()
                {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = report.send(Err(StartError::Runtime(e)));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let (state, listener) = match prepare(&config).await {
                        Ok((state, listener, addr)) => {
                            if report.send(Ok(addr)).is_err() {
                                return; // Nobody waits for this sandbox any more.
                            }
                            (state, listener)
                        }
                        Err(e) => {
                            let _ = report.send(Err(e));
                            return;
                        }
                    };
                    let _ = serve(listener, state, async move {
                        let _ = stopped.await;
                    })
                    .await;
                });
                // Dropping the runtime here cancels what is left (webhook retries, timers).
            })
            .map_err(StartError::Runtime)?;
        Ok((stop, ready))
    }
}

/// Where the sandbox's thread reports its address, or why it could not start.
type Ready = oneshot::Receiver<Result<SocketAddr, StartError>>;

/// Builds the state and binds: everything that can fail before serving.
async fn prepare(config: &Config) -> Result<(AppState, TcpListener, SocketAddr), StartError> {
    let state = build_state(config)?;
    let listener = bind(config).await?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: "local address".into(),
        source,
    })?;
    Ok((state, listener, addr))
}

/// The sandbox's thread ended (panicked) before saying whether it started.
fn thread_ended() -> StartError {
    StartError::Runtime(std::io::Error::other(
        "the sandbox's thread ended before it was ready",
    ))
}
