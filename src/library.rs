//! Library mode: a sandbox in the caller's process, on its own port, thread and runtime
//! ([`Sandbox`], built with [`SandboxBuilder`]).

use std::net::SocketAddr;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::api::AppState;
use crate::{bind, build_state, serve, testkit, Config, StartError};

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
    /// The sandbox's state, for the test kit's in-process checks ([`Sandbox::verify`]).
    pub(crate) state: AppState,
    /// Expectations checked when the sandbox is dropped ([`Sandbox::expect`]).
    pub(crate) on_drop: std::sync::Mutex<Vec<crate::state::journal::Expectation>>,
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
        // Expectations declared with `expect` are checked last (not while already panicking).
        if !std::thread::panicking() {
            if let Some(report) = testkit::unmet_on_drop(self) {
                panic!("{report}");
            }
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

    /// Strict mode for every tenant (`--strict`).
    pub fn strict(mut self, strict: bool) -> Self {
        self.config.strict = strict;
        self
    }

    /// Reads every tenant from `path` at start, writes them there when stopped (`--state-file`).
    pub fn state_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.state_file = Some(path.into());
        self
    }

    /// Every new tenant (and every reset) starts from the seed file `path` (`--seed-state`).
    pub fn seed_state(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.seed_state = Some(path.into());
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
        let (addr, state) = ready.await.unwrap_or_else(|_| Err(thread_ended()))?;
        Ok(Sandbox {
            addr,
            stop: Some(stop),
            state,
            on_drop: Default::default(),
        })
    }

    /// [`start`](Self::start) for code without an async runtime (a plain `#[test]`). Blocks until
    /// the port is bound; panics if called from inside an async runtime (use `start().await`).
    pub fn start_blocking(self) -> Result<Sandbox, StartError> {
        let (stop, ready) = self.launch()?;
        let (addr, state) = ready
            .blocking_recv()
            .unwrap_or_else(|_| Err(thread_ended()))?;
        Ok(Sandbox {
            addr,
            stop: Some(stop),
            state,
            on_drop: Default::default(),
        })
    }

    /// Spawns the sandbox's thread, which builds its runtime and state, binds, reports the
    /// address (or why it could not start) through `ready`, then serves until `stop` fires or is
    /// dropped — a `start()` abandoned half-way therefore stops the thread too.
    fn launch(self) -> Result<(oneshot::Sender<()>, Ready), StartError> {
        let (stop, stopped) = oneshot::channel::<()>();
        let (report, ready) = oneshot::channel::<Result<(SocketAddr, AppState), StartError>>();
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
                            if report.send(Ok((addr, state.clone()))).is_err() {
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
type Ready = oneshot::Receiver<Result<(SocketAddr, AppState), StartError>>;

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
