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

/// Connections over the cap that are being answered 503 at once (each for at most 1 s); past
/// these, a connection over the cap is closed without an answer.
pub const MAX_REFUSALS_IN_FLIGHT: usize = 64;

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

// ----- amounts ------------------------------------------------------------------------------------

/// The largest amount a request may carry, in any currency: 10^15 (a thousand trillion).
/// `source_amount`, `destination_amount`, a load's or spend-back's `amount`, the `amount`,
/// `limit` and `amount_threshold` query parameters and a balance set through
/// `PUT /_sandbox/balance` (or a scenario file) above it are a 400 naming the field, at parse
/// time. No real payout comes near it, and sums and products of such amounts (× an exchange rate,
/// × 100 for the magic cents, summed over a statement) stay far inside the range of the exact
/// decimal type (about 7.9 × 10^28): `1e28` once overflowed it and answered 500.
pub const MAX_AMOUNT: rust_decimal::Decimal =
    rust_decimal::Decimal::from_parts(0xA4C6_8000, 0x0003_8D7E, 0, false, 0);

// ----- metadata -----------------------------------------------------------------------------------

/// `metadata` (users, payouts, loads, spend-backs) nests at most this deep, the object itself
/// being level 1: serde_json's default client fails from 128 levels, Python's `json` from ~1,000,
/// and a tenant whose stored metadata its own client cannot read back is stuck.
pub const MAX_METADATA_DEPTH: usize = 32;

/// `metadata` is at most this many bytes of JSON text as sent (16 KiB).
pub const MAX_METADATA_BYTES: usize = 16 * 1024;

// ----- stored objects per tenant ------------------------------------------------------------------

/// Users one tenant holds at most; creating one more is a 422 saying to reset the tenant
/// (`POST /_sandbox/reset`) or use another API key. Wallets are bounded through it: a user has
/// its two default wallets and at most one funds wallet per funding currency.
pub const MAX_USERS_PER_TENANT: usize = 2_000_000;

/// Payouts one tenant holds at most (NSF and DUPLICATE answers store nothing and do not count).
pub const MAX_PAYOUTS_PER_TENANT: usize = 2_000_000;

/// Of each other kind of stored object — loads, spend-backs, attribute sets, KYC sessions,
/// autopay rules, beneficial owners — one tenant holds at most this many.
pub const MAX_OTHER_OBJECTS_PER_TENANT: usize = 1_000_000;

/// Sub-accounts one tenant creates at most (each is also an API key, hence a tenant).
pub const MAX_SUBACCOUNTS_PER_TENANT: usize = 10_000;

/// Named snapshots a tenant keeps at most (`POST /_sandbox/snapshots`, SPEC §9); one more is a
/// 422 naming the limit (saving under an existing name replaces it and is always allowed). A
/// snapshot shares the tenant's payouts and users and copies the rest, so this bounds what they
/// hold to about 16 × the tenant's own size beyond them.
pub const MAX_SNAPSHOTS_PER_TENANT: usize = 16;

/// A snapshot's name: 1 to this many characters of `[A-Za-z0-9_.-]` (SPEC §6c), so it is one
/// path segment of `/_sandbox/snapshots/{name}` as it is, with nothing to escape.
pub const MAX_SNAPSHOT_NAME_LEN: usize = 64;

// ----- long polls ---------------------------------------------------------------------------------

/// The longest a long poll (`?wait=` on `GET /_sandbox/requests` and `GET /_sandbox/webhooks`)
/// waits; a longer `wait` is a 400 naming it.
pub const MAX_LONG_POLL_WAIT: Duration = Duration::from_secs(30);

/// Long polls waiting at once, across all tenants of a sandbox: each holds its request (and its
/// connection) and looks again every 20 ms until it answers. One more is answered at once with a
/// 429 saying so (`Retry-After: 1`), never queued; a poll frees its place however it ends (an
/// answer, its deadline, or its client going away).
pub const MAX_LONG_POLLS: usize = 256;

#[cfg(test)]
mod tests {
    #[test]
    fn max_amount_is_ten_to_the_fifteenth() {
        assert_eq!(
            super::MAX_AMOUNT,
            rust_decimal::Decimal::from(1_000_000_000_000_000u64)
        );
        assert_eq!(super::MAX_AMOUNT.to_string(), "1000000000000000");
    }
}
