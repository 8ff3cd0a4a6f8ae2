//! The `masspay-sandbox` command line: flags (each with a `MASSPAY_SANDBOX_*` env twin) → config →
//! serve until SIGINT/SIGTERM. It lives in the library, so the binary (`src/main.rs`) is one call
//! and compiles in a moment: clap's derive and the log formatters are built once, in this crate's
//! parallel codegen, not again in a single-unit binary compile at the end of a cold build.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::{bind, build_state, clock, serve, Config};
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "masspay-sandbox",
    version,
    about = "A local, stateful simulator of MassPay's payout API"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Address to listen on.
    #[arg(long, env = "MASSPAY_SANDBOX_HOST", default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0 = pick a free one).
    #[arg(long, env = "MASSPAY_SANDBOX_PORT", default_value_t = 8080)]
    port: u16,
    /// Directory of fixture files replacing the embedded ones (file by file).
    #[arg(long, env = "MASSPAY_SANDBOX_FIXTURES")]
    fixtures: Option<PathBuf>,
    /// Accept only this API key (repeatable; default: any non-empty key).
    #[arg(
        long = "api-key",
        env = "MASSPAY_SANDBOX_API_KEY",
        value_delimiter = ','
    )]
    api_key: Vec<String>,
    /// Directory of scenario files (NAME.json) added to the shipped ones.
    #[arg(long, env = "MASSPAY_SANDBOX_SCENARIOS")]
    scenarios: Option<PathBuf>,
    /// Activate a scenario for every request (repeatable).
    #[arg(
        long = "scenario",
        env = "MASSPAY_SANDBOX_SCENARIO",
        value_delimiter = ','
    )]
    scenario: Vec<String>,
    /// Send every tenant's webhooks to this http:// URL (repeatable).
    #[arg(
        long = "webhook-url",
        env = "MASSPAY_SANDBOX_WEBHOOK_URL",
        value_delimiter = ','
    )]
    webhook_url: Vec<String>,
    /// Secret for webhook signatures (default: sandbox_webhook_secret).
    #[arg(long = "webhook-secret", env = "MASSPAY_SANDBOX_WEBHOOK_SECRET")]
    webhook_secret: Option<String>,
    /// Seed for deterministic tokens (per tenant, combined with its API key).
    #[arg(long, env = "MASSPAY_SANDBOX_SEED")]
    seed: Option<u64>,
    /// Initial test-clock time, RFC 3339 (default: now).
    #[arg(long = "start-time", env = "MASSPAY_SANDBOX_START_TIME", value_parser = clock::parse_rfc3339)]
    start_time: Option<chrono::DateTime<chrono::Utc>>,
    /// Send webhooks only to these hosts, any port, case-insensitive (repeatable; default: any host).
    #[arg(
        long = "webhook-allow",
        env = "MASSPAY_SANDBOX_WEBHOOK_ALLOW",
        value_delimiter = ','
    )]
    webhook_allow: Vec<String>,
    /// Seconds a graceful stop waits for requests in flight before exiting anyway.
    #[arg(long = "shutdown-timeout", env = "MASSPAY_SANDBOX_SHUTDOWN_TIMEOUT", default_value_t = crate::limits::SHUTDOWN_TIMEOUT.as_secs())]
    shutdown_timeout: u64,
    /// Distinct API keys (tenants) held at most; a new key beyond it gets a 503.
    #[arg(long = "max-tenants", env = "MASSPAY_SANDBOX_MAX_TENANTS", default_value_t = crate::limits::MAX_TENANTS)]
    max_tenants: usize,
    /// Connections open at once (default: half the open-file limit, at most 10000).
    #[arg(long = "max-connections", env = "MASSPAY_SANDBOX_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// Strict mode for every tenant: requests the client should not have sent (a 4xx no scenario
    /// forced; with expectations declared, a request none covers) are listed under
    /// GET /_sandbox/requests/unexpected and fail POST /_sandbox/expectations/verify.
    #[arg(long = "strict", env = "MASSPAY_SANDBOX_STRICT")]
    strict: bool,
    /// Read every tenant from this file at start; write them to it (atomically) on a graceful
    /// stop and on POST /_sandbox/save.
    #[arg(long = "state-file", env = "MASSPAY_SANDBOX_STATE_FILE")]
    state_file: Option<PathBuf>,
    /// Seed file: the users, attribute sets, balances and payouts every new tenant starts with
    /// (default: seed.json in --fixtures, if there; else none).
    #[arg(long = "seed-state", env = "MASSPAY_SANDBOX_SEED_STATE")]
    seed_state: Option<PathBuf>,
    /// Log format.
    #[arg(long = "log-format", env = "MASSPAY_SANDBOX_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Exit 0 if a sandbox answers GET /health with 200 within 3 s, else 1 (for a container's
    /// HEALTHCHECK, which has no shell or curl to run).
    Healthcheck {
        /// The URL to check (default: http://127.0.0.1:PORT/health, PORT from --port or its env).
        url: Option<String>,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// The `masspay-sandbox` command: parses the flags and runs (`src/main.rs` calls only this).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Healthcheck { url }) = &cli.command {
        let url = url
            .clone()
            .unwrap_or_else(|| format!("http://127.0.0.1:{}/health", cli.port));
        return match healthcheck(&url) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("masspay-sandbox healthcheck: {url}: {e}");
                ExitCode::FAILURE
            }
        };
    }
    init_logging(cli.log_format);
    let config = Config {
        host: cli.host,
        port: cli.port,
        fixtures: cli.fixtures,
        api_keys: cli.api_key,
        seed: cli.seed,
        start_time: cli.start_time,
        scenarios_dir: cli.scenarios,
        scenarios: cli.scenario,
        webhook_urls: cli.webhook_url,
        webhook_secret: cli.webhook_secret,
        webhook_allow: cli.webhook_allow,
        shutdown_timeout: Some(std::time::Duration::from_secs(cli.shutdown_timeout)),
        max_tenants: Some(cli.max_tenants),
        max_connections: cli.max_connections,
        strict: cli.strict,
        state_file: cli.state_file,
        seed_state: cli.seed_state,
    };
    // Everything that can be wrong with the configuration is found before a socket is opened.
    let state = match build_state(&config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("masspay-sandbox: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("masspay-sandbox: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let listener = match bind(&config).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("masspay-sandbox: {e}");
                return ExitCode::FAILURE;
            }
        };
        let addr = match listener.local_addr() {
            Ok(a) => a,
            Err(e) => {
                eprintln!("masspay-sandbox: {e}");
                return ExitCode::FAILURE;
            }
        };
        let shutdown = shutdown_signal();
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on http://{addr}");
        // A second line, so tools that read the first one see it unchanged.
        let _ = writeln!(out, "dashboard  http://{addr}{}", crate::ui::PATH);
        let _ = out.flush();
        drop(out);
        tracing::info!(%addr, "masspay-sandbox ready");
        match serve(listener, state, shutdown).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("masspay-sandbox: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// `GET` the URL over plain HTTP/1.1 and require a 200, within 3 s in all.
fn healthcheck(url: &str) -> Result<(), String> {
    use std::io::Read;
    use std::net::{TcpStream, ToSocketAddrs};
    use std::time::Duration;
    let rest = url
        .strip_prefix("http://")
        .ok_or("only http:// URLs can be checked")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/health"),
    };
    let with_port = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let addr = with_port
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .next()
        .ok_or("the host does not resolve")?;
    let timeout = Duration::from_secs(3);
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(timeout)).ok();
    stream.set_write_timeout(Some(timeout)).ok();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).map_err(|e| e.to_string())?;
    match &head {
        b"HTTP/1.1 200" | b"HTTP/1.0 200" => Ok(()),
        other => Err(format!(
            "answered {:?}",
            String::from_utf8_lossy(other).trim_end()
        )),
    }
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::{filter::Targets, layer::SubscriberExt, util::SubscriberInitExt};
    // `MASSPAY_SANDBOX_LOG` takes `level` or `target=level,…` directives (e.g. `info`,
    // `warn,masspay_sandbox=debug`); anything unreadable falls back to `warn`.
    let filter = std::env::var("MASSPAY_SANDBOX_LOG")
        .ok()
        .and_then(|text| text.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::WARN));
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Text => registry
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
            .init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            )
            .init(),
    }
}

/// Installs the SIGINT/SIGTERM handlers now (before the sandbox says it is listening, so a
/// signal sent right after start-up already stops it gracefully) and returns a future that
/// resolves on either.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let int = signal(SignalKind::interrupt());
        let term = signal(SignalKind::terminate());
        async move {
            match (int, term) {
                (Ok(mut int), Ok(mut term)) => {
                    tokio::select! {
                        _ = int.recv() => {},
                        _ = term.recv() => {},
                    }
                }
                _ => std::future::pending::<()>().await,
            }
            tracing::info!("shutting down");
        }
    }
    #[cfg(not(unix))]
    {
        async move {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutting down");
        }
    }
}
