//! Webhooks against receivers that misbehave (issue 11, SPEC §6b and §9): a receiver that
//! accepts connections and never answers gets at most `MAX_WEBHOOK_DELIVERIES` of them at once,
//! however many events pile up; the rest wait their turn, stay `pending`, and get their full 5 s
//! once they have one; other tenants' calls stay answered meanwhile. `--webhook-allow` (library:
//! `webhook_allow`) refuses subscriptions to other hosts.

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use masspay_sandbox::limits::MAX_WEBHOOK_DELIVERIES;
use masspay_sandbox::Sandbox;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::helpers::*;

/// What a [`Hanging`] receiver saw.
#[derive(Default)]
struct Seen {
    /// Connections accepted and not yet closed by the sandbox, with when each was accepted.
    open: Vec<(TcpStream, Instant)>,
    accepted: usize,
    /// The most connections open at once (counted at each accept, after noticing closes).
    max_open: usize,
    /// How long each connection the sandbox closed had been open.
    lifetimes: Vec<Duration>,
}

impl Seen {
    /// Notices connections the sandbox has closed: reads what is there; end of stream = closed.
    /// (Plain non-blocking reads, not tokio's `try_read`, which answers from the readiness the
    /// reactor last saw and would notice a close late.)
    fn sweep(&mut self) {
        let mut buf = [0u8; 16 * 1024];
        let mut still = Vec::with_capacity(self.open.len());
        for (stream, since) in self.open.drain(..) {
            let closed = loop {
                match (&stream).read(&mut buf) {
                    Ok(0) => break true,
                    Ok(_) => continue,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break false,
                    Err(_) => break true,
                }
            };
            if closed {
                self.lifetimes.push(since.elapsed());
            } else {
                still.push((stream, since));
            }
        }
        self.open = still;
    }
}

/// A webhook receiver that accepts every connection, reads what comes, and never answers.
struct Hanging {
    addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
}

impl Hanging {
    async fn start() -> Hanging {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let addr = listener.local_addr().expect("address");
        let seen = Arc::new(Mutex::new(Seen::default()));
        let s = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let stream = stream.into_std().expect("a std stream");
                stream.set_nonblocking(true).expect("non-blocking");
                let mut seen = s.lock().unwrap();
                // Closes the sandbox made before this connect count as closed: on loopback a
                // close is seen by the peer before the close call returns.
                seen.sweep();
                seen.open.push((stream, Instant::now()));
                seen.accepted += 1;
                seen.max_open = seen.max_open.max(seen.open.len());
            }
        });
        // Notices closes between accepts too (for the lifetimes).
        let s = Arc::clone(&seen);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                s.lock().unwrap().sweep();
            }
        });
        Hanging { addr, seen }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// (accepted, open now, most open at once, lifetimes of the closed ones)
    fn snapshot(&self) -> (usize, usize, usize, Vec<Duration>) {
        let mut seen = self.seen.lock().unwrap();
        seen.sweep();
        (
            seen.accepted,
            seen.open.len(),
            seen.max_open,
            seen.lifetimes.clone(),
        )
    }
}

/// Times one request of another tenant: it must be answered (200) within a few seconds.
async fn answered_soon(app: &App, path: &str) -> Duration {
    let started = Instant::now();
    let a = tokio::time::timeout(Duration::from_secs(5), app.get(path))
        .await
        .unwrap_or_else(|_| panic!("{path} was not answered within 5 s"));
    assert_eq!(a.status, 200, "{path}: {}", a.text);
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_never_answers_holds_at_most_the_cap_of_connections() {
    let receiver = Hanging::start().await;
    let sandbox = Sandbox::builder()
        .webhook_url(receiver.url())
        .start()
        .await
        .expect("sandbox starts");
    let server = Server::with(sandbox);
    let payer = server.tenant();
    let other = server.tenant();
    assert_eq!(payer.set_balance("USD", "1000000.00").await.status, 200);
    let user = payer.create_user().await;
    payer.store_btc_wallet(&user).await;

    // 300 initiate + commit pairs, 12 at a time: each pair emits PENDING then COMPLETED.
    const PAIRS: usize = 300;
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..12 {
        let payer = payer.clone();
        let user = user.clone();
        workers.push(tokio::spawn(async move {
            for _ in (w..PAIRS).step_by(12) {
                let payout = payer
                    .pending_payout(&user, USD_SOURCE, BTC_DESTINATION, "BTC", "10")
                    .await;
                let c = payer.commit(&user, &payout).await;
                assert_eq!(c.status, 200, "commit: {}", c.text);
            }
        }));
    }
    // Meanwhile another tenant's calls are answered.
    let mut slowest = Duration::ZERO;
    while !workers.iter().all(|w| w.is_finished()) {
        slowest = slowest.max(answered_soon(&other, "/health").await);
        slowest = slowest.max(answered_soon(&other, "/account/balance").await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for w in workers {
        w.await.expect("payout worker");
    }
    let sent_in = started.elapsed();

    // The first turns hang for their 5 s, then close; the next ones get theirs. Watch across
    // that handover, still asking as the other tenant.
    let until = Instant::now() + Duration::from_millis(7500);
    while Instant::now() < until {
        slowest = slowest.max(answered_soon(&other, "/health").await);
        slowest = slowest.max(answered_soon(&other, "/account/balance").await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (accepted, open, max_open, lifetimes) = receiver.snapshot();

    let log = payer.get("/_sandbox/webhooks").await;
    assert_eq!(log.status, 200, "{}", log.text);
    let log = log.body.as_array().expect("a list").clone();
    let states = |state: &str| log.iter().filter(|d| d["state"] == state).count();
    let tried = log
        .iter()
        .filter(|d| d["attempts"].as_u64().unwrap_or(0) > 0)
        .count();
    report(
        "webhooks_cap",
        &[
            ("pairs", PAIRS as u64),
            ("sent_ms", sent_in.as_millis() as u64),
            ("deliveries", log.len() as u64),
            ("pending", states("pending") as u64),
            ("tried", tried as u64),
            ("accepted", accepted as u64),
            ("open", open as u64),
            ("max_open", max_open as u64),
            ("closed", lifetimes.len() as u64),
            ("slowest_other_ms", slowest.as_millis() as u64),
        ],
    );

    assert_eq!(log.len(), 2 * PAIRS, "one delivery per event");
    assert!(
        max_open <= MAX_WEBHOOK_DELIVERIES,
        "the receiver saw {max_open} connections at once (cap {MAX_WEBHOOK_DELIVERIES})"
    );
    assert_eq!(
        max_open,
        MAX_WEBHOOK_DELIVERIES,
        "with {} deliveries waiting, every turn is used",
        log.len()
    );
    assert!(
        accepted > MAX_WEBHOOK_DELIVERIES,
        "after the first turns timed out the next deliveries got theirs ({accepted} accepted)"
    );
    // Each attempt got its whole 5 s once connected, however long it had waited for a turn.
    let shortest = lifetimes.iter().min().copied().unwrap_or_default();
    assert!(!lifetimes.is_empty(), "the first turns ended");
    assert!(
        shortest >= Duration::from_millis(4500),
        "a connection was given up after {shortest:?}, before its 5 s"
    );
    // Waiting for a turn is `pending`, as is waiting out a backoff: nothing failed, and only
    // deliveries that got a turn count an attempt.
    assert_eq!(states("pending"), log.len(), "all still pending");
    assert!(
        tried <= accepted,
        "{tried} deliveries counted an attempt, the receiver saw {accepted} connections"
    );
}

#[tokio::test]
async fn webhook_allow_refuses_subscriptions_to_other_hosts() {
    let sandbox = Sandbox::builder()
        .webhook_allow("Receiver.Example")
        .webhook_allow("127.0.0.1")
        .webhook_allow("::1")
        .start()
        .await
        .expect("sandbox starts");
    let server = Server::with(sandbox);
    let app = server.tenant();

    for (url, host) in [
        ("http://evil.example/hook", "evil.example"),
        (
            "http://receiver.example.evil:8080/hook",
            "receiver.example.evil",
        ),
        ("http://localhost:9000/hook", "localhost"),
        ("http://[::2]:9000/hook", "[::2]"),
    ] {
        let a = app.put("/_sandbox/webhook", &json!({ "url": url })).await;
        let errors = assert_error(&a, 400, url);
        let text = errors.join(" ");
        assert!(
            text.contains(&format!("\"{host}\"")) && text.contains("--webhook-allow"),
            "{url}: {text}"
        );
    }
    // Nothing was subscribed by the refusals.
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    app.pending_payout(&user, USD_SOURCE, BTC_DESTINATION, "BTC", "10")
        .await;
    let log = app.get("/_sandbox/webhooks").await;
    assert_eq!(log.body, json!([]), "{}", log.text);

    // Allowed hosts: any case, any port, IPv6 in brackets.
    for url in [
        "http://RECEIVER.example:8080/hook",
        "http://receiver.example/hook",
        "http://127.0.0.1:9/hook",
        "http://[::1]:9000/hook",
    ] {
        let a = app
            .put("/_sandbox/webhook", &json!({ "url": url, "secret": "s" }))
            .await;
        assert_eq!(a.status, 200, "{url}: {}", a.text);
        assert_eq!(a.body["url"], Value::from(url), "{}", a.text);
    }
}

#[tokio::test]
async fn without_webhook_allow_any_host_may_be_subscribed() {
    let server = Server::start().await;
    let app = server.tenant();
    for url in ["http://evil.example/hook", "http://localhost:9/hook"] {
        let a = app.put("/_sandbox/webhook", &json!({ "url": url })).await;
        assert_eq!(a.status, 200, "{url}: {}", a.text);
    }
}
