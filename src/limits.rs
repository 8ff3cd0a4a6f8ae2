//! Every limit the sandbox enforces against hostile or careless input, in one place (README
//! "Limits" lists them with their flags and defaults). Each exists because an input once
//! panicked, hung or grew the server without bound (issue 11 has the table).

use std::time::Duration;

/// A graceful stop waits this long for requests in flight, then exits 0 anyway
/// (`--shutdown-timeout`).
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// Distinct API keys (tenants) held at most (`--max-tenants`); a new key beyond it gets a 503
/// naming the limit. Nobody's data is ever evicted to make room.
pub const MAX_TENANTS: usize = 10_000;

/// An API key longer than this is refused (401) before any tenant is made for it.
pub const MAX_API_KEY_LEN: usize = 256;

/// A request's headers must arrive within this (a half-sent request is closed); the same timer
/// closes a keep-alive connection idle this long.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Webhook delivery attempts in flight at once, across all tenants: each is one HTTP request with
/// its connection, from the connect to the answer (or the 5 s timeout and the socket's close). The
/// rest wait for a turn in the order they asked (first come, first served), off the request path,
/// so no API call waits for them; an attempt's 5 s timeout starts when it gets its turn, and its
/// delivery stays `pending` meanwhile. A receiver that never accepts or never answers therefore
/// holds at most this many of the process's file descriptors, however many events pile up.
pub const MAX_WEBHOOK_DELIVERIES: usize = 64;

/// Idle keep-alive connections kept per webhook receiver (scheme, host and port) between
/// deliveries, so a steady stream of events reuses connections; more are closed after their answer.
pub const WEBHOOK_IDLE_PER_HOST: usize = 8;

/// An idle keep-alive connection to a webhook receiver is closed after this long unused.
pub const WEBHOOK_IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections open at once unless `--max-connections` says otherwise: half the process's
/// open-file limit (the other half stays for webhooks, files and the listener), at most 10,000.
pub fn default_max_connections() -> usize {
    (open_file_limit() / 2).clamp(16, 10_000)
}

/// The soft limit on open files (`ulimit -n`), or 1024 where it cannot be read.
fn open_file_limit() -> usize {
    #[cfg(target_os = "linux")]
    {
        // "Max open files  1024  1048576  files": the soft limit is the first number.
        if let Ok(text) = std::fs::read_to_string("/proc/self/limits") {
            if let Some(line) = text.lines().find(|l| l.starts_with("Max open files")) {
                if let Some(n) = line
                    .split_whitespace()
                    .nth(3)
                    .and_then(|v| v.parse::<usize>().ok())
                {
                    return n;
                }
            }
        }
    }
    1024
}

/// A request body must arrive within this after its headers (408 beyond it): a client that
/// trickles a body does not hold a request slot for long.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// Bytes of request bodies buffered at once across all connections (a body reserves its
/// announced length when an operation first reads it; one that cannot get its share within
/// [`BODY_TIMEOUT`] is a 503). 256 clients each holding a 14 MiB upload open once took 3.6 GB.
pub const BODY_BUFFER_BUDGET: usize = 64 * 1024 * 1024;

/// Injected latency (scenario rules, summed) per request at most.
pub const MAX_INJECTED_LATENCY: Duration = Duration::from_secs(30);

/// A 404 echoes at most this many bytes of the path it could not find.
pub const MAX_ECHOED_PATH: usize = 256;
