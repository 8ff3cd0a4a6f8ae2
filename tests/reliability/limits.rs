//! SPEC §9: the limits that keep a hostile or careless client from hanging the sandbox or growing
//! it without bound. Each test is a row of issue 11's table: it failed on the code before the
//! limit existed.

use std::time::{Duration, Instant};

use masspay_sandbox::Sandbox;
use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

/// Reads one answer's head (and whatever body came with it) within `within`; `None` when the
/// connection stays silent or closes first.
async fn read_answer(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => {
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let head = text[..end].to_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        return Some(text);
                    }
                }
            }
            _ => return (!buf.is_empty()).then(|| String::from_utf8_lossy(&buf).to_string()),
        }
    }
}

/// Whether the peer closed the connection within `within` (EOF or reset).
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut chunk = [0u8; 256];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

/// 256 clients once held 14 MiB POSTs to `/health` open and took the sandbox from 9 MB to 3.6 GB:
/// every body was read into memory before routing and auth. Now an announced length over the
/// route's limit is refused before a byte of the body is sent, and a route that needs no body
/// (or a client without a key) never reads one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_are_refused_before_they_are_sent_unless_the_operation_reads_them() {
    let server = Server::start().await;
    let addr = server.sandbox.addr();
    let mut problems = Vec::new();
    let cases = [
        (
            "14 MiB to /health",
            "POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 14680064\r\n\r\n",
            "413",
        ),
        (
            "14 MiB to an unknown route",
            "POST /v0.1.4/nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 14680064\r\n\r\n",
            "413",
        ),
        (
            "60 KiB to POST /user without a key",
            "POST /v0.1.4/user HTTP/1.1\r\nHost: x\r\nContent-Length: 61440\r\n\r\n",
            "401",
        ),
        (
            "a chunked body to POST /user without a key",
            "POST /v0.1.4/user HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
            "401",
        ),
        (
            "60 KiB to an unknown route with a key",
            "POST /v0.1.4/nowhere HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\nContent-Length: 61440\r\n\r\n",
            "404",
        ),
        (
            "65 KiB announced to POST /user with a key",
            "POST /v0.1.4/user HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\nContent-Length: 66560\r\n\r\n",
            "413",
        ),
    ];
    for (label, head, want) in cases {
        let mut stream = TcpStream::connect(addr).await.expect("connects");
        // Only the head and a few bytes: the answer must come without the rest.
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(b"{\"a\":").await.unwrap();
        let Some(text) = read_answer(&mut stream, Duration::from_secs(5)).await else {
            problems.push(format!("{label}: no answer before the body was sent"));
            continue;
        };
        let status_line = text.lines().next().unwrap_or("");
        if !status_line.contains(want) {
            problems.push(format!("{label}: {status_line} (want {want})"));
        }
        if !text.to_lowercase().contains("connection: close") {
            problems.push(format!("{label}: answered without `Connection: close`"));
        }
        if !text.contains("\"code\":") {
            problems.push(format!("{label}: not in MassPay's error shape: {text}"));
        }
    }
    // A body sent more slowly than a byte at a time still gets a verdict: the operation reads it,
    // finds it over 64 KiB while streaming (no Content-Length announced it), and answers 413.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"POST /v0.1.4/user HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\nTransfer-Encoding: chunked\r\n\r\n")
        .await
        .unwrap();
    let chunk = vec![b' '; 16 * 1024];
    for _ in 0..5 {
        let _ = stream
            .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .await;
        let _ = stream.write_all(&chunk).await;
        let _ = stream.write_all(b"\r\n").await;
    }
    match read_answer(&mut stream, Duration::from_secs(5)).await {
        Some(t) if t.starts_with("HTTP/1.1 413") => {}
        other => problems.push(format!("80 KiB chunked to POST /user: {other:?}")),
    }
    report(
        "limits::bodies_before_auth",
        &[("cases", 7), ("violations", problems.len() as u64)],
    );
    assert!(problems.is_empty(), "{problems:#?}");
}

/// 1,500 connections sending their headers a byte at a time for 75 s, and 1,000 idle keep-alive
/// connections, were never closed. Now a head must arrive within 10 s, and a keep-alive
/// connection idle for 10 s is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_and_idle_keep_alive_connections_are_closed() {
    let server = Server::start().await;
    let addr = server.sandbox.addr();
    let started = Instant::now();

    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let first = read_answer(&mut idle, Duration::from_secs(5)).await;
    assert!(
        first
            .as_deref()
            .is_some_and(|t| t.starts_with("HTTP/1.1 200")),
        "{first:?}"
    );

    let slow = tokio::spawn(async move {
        let mut s = TcpStream::connect(addr).await.unwrap();
        // A byte every 300 ms, forever (or until the sandbox hangs up).
        for b in b"GET /health HTTP/1.1\r\nX-Slow: "
            .iter()
            .chain([b'a'; 200].iter())
        {
            if s.write_all(&[*b]).await.is_err() {
                return (true, started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            let mut probe = [0u8; 64];
            match tokio::time::timeout(Duration::from_millis(1), s.read(&mut probe)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return (true, started.elapsed()),
                _ => {}
            }
        }
        (false, started.elapsed())
    });

    let idle_closed = closed_within(&mut idle, Duration::from_secs(20)).await;
    let idle_after = started.elapsed();
    let (slow_closed, slow_after) = slow.await.unwrap();
    report(
        "limits::slow_and_idle",
        &[
            ("idle_closed_ms", idle_after.as_millis() as u64),
            ("slow_closed_ms", slow_after.as_millis() as u64),
        ],
    );
    assert!(
        idle_closed,
        "an idle keep-alive connection stayed open 20 s"
    );
    assert!(
        idle_after >= Duration::from_secs(5),
        "an idle connection should get some seconds ({idle_after:?})"
    );
    assert!(
        slow_closed && slow_after < Duration::from_secs(20),
        "a head sent a byte at a time was not cut off ({slow_after:?})"
    );
}

/// Under `ulimit -n 1024`, 1,100 silent connections made `/health` time out: nothing bounded
/// them. Now connections over `--max-connections` get a 503 in MassPay's shape at once, and
/// `/health` answers again as soon as the silent ones go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_get_a_503_and_health_recovers() {
    let sandbox = Sandbox::builder()
        .max_connections(8)
        .start()
        .await
        .expect("starts");
    let addr = sandbox.addr();
    let mut silent = Vec::new();
    for _ in 0..8 {
        silent.push(TcpStream::connect(addr).await.unwrap());
    }
    // Let the server accept them all.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut over = TcpStream::connect(addr).await.unwrap();
    let _ = over
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let refused = read_answer(&mut over, Duration::from_secs(5))
        .await
        .unwrap_or_default();
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused:?}");
    assert!(refused.contains("--max-connections"), "{refused}");
    assert!(refused.contains("\"code\":503"), "{refused}");
    drop(silent);
    // The slots come back as the server sees the closes.
    let client = reqwest::Client::new();
    let mut healthy = false;
    for _ in 0..50 {
        if let Ok(r) = client
            .get(format!("{}/health", sandbox.base_url()))
            .send()
            .await
        {
            if r.status() == 200 {
                healthy = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        healthy,
        "/health did not come back after the silent connections closed"
    );
}

/// 110,000 distinct API keys made 110,000 tenants with no cap (≈ 21 GB at a million), and 300 KiB
/// keys were accepted as tenants. Now a key is at most 256 bytes (401 beyond), and past
/// `--max-tenants` a new key gets a 503 naming the limit while every existing tenant keeps
/// working with its data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_api_keys_are_401_and_new_keys_past_the_tenant_cap_are_503() {
    let server = Server::with(
        Sandbox::builder()
            .max_tenants(3)
            .start()
            .await
            .expect("starts"),
    );
    let base = server.base();
    let get = |key: String| {
        let client = server.client.clone();
        let url = format!("{base}/v0.1.4/account/balance");
        async move { answer(client.get(url).header("Authorization", key)).await }
    };
    let at_limit = "k".repeat(256);
    let a = get(format!("Bearer {at_limit}")).await;
    assert_eq!(a.status, 200, "a 256-byte key is a key: {}", a.text);
    let a = get(format!("Bearer {}", "k".repeat(257))).await;
    assert_eq!(a.status, 401, "{}", a.text);
    assert!(a.text.contains("256 bytes"), "{}", a.text);
    let a = get(format!("Bearer {}", "k".repeat(300 * 1024))).await;
    assert!(
        a.status == 401 || a.status == 431,
        "{} {}",
        a.status,
        a.text
    );

    // Two more tenants fill the cap; the first one holds a user.
    let first = App {
        server: server.clone(),
        key: "tenant-one".into(),
    };
    let user = first.create_user().await;
    assert_eq!(get("Bearer tenant-two".into()).await.status, 200);
    let full = get("Bearer tenant-four".into()).await;
    assert_eq!(full.status, 503, "{}", full.text);
    assert!(full.text.contains("--max-tenants"), "{}", full.text);
    assert!(full.text.contains('3'), "{}", full.text);
    // Nobody was evicted to make room.
    let again = first.get(&format!("/user/{user}")).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(get(format!("Bearer {at_limit}")).await.status, 200);
}

/// `POST /_sandbox/clock/advance`, each call in range, once took the clock past the year 9999:
/// `now` became `"+10000-…"`, then `""`, payouts carried `"expiration": ""` and a 1975 birth
/// date was "under 18". Now an advance past 9999-12-31T23:59:59Z is a 400 naming the limit and
/// moves nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_clock_stays_within_the_years_1970_to_9999() {
    let server = Server::start().await;
    let app = server.tenant();
    let mut refused = None;
    for _ in 0..1000 {
        let a = app
            .post(
                "/_sandbox/clock/advance",
                &json!({ "seconds": 316_224_000 }),
            )
            .await;
        if a.status != 200 {
            refused = Some(a);
            break;
        }
        let now = a.body["now"].as_str().unwrap_or("").to_string();
        assert!(
            now.len() == 20 && now.ends_with('Z') && !now.starts_with('+'),
            "now = {now:?}"
        );
    }
    let refused = refused.expect("some advance is refused before the year 10000");
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert!(
        refused.text.contains("9999-12-31T23:59:59Z"),
        "{}",
        refused.text
    );
    let clock = app.get("/_sandbox/clock").await;
    let now = clock.body["now"].as_str().unwrap_or("").to_string();
    assert!(
        now.starts_with("99"),
        "the refused advance moved nothing: {now}"
    );

    // Life goes on in the year 99xx: a user born in 1975 is an adult, a payout has an expiration.
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    let p = app
        .initiate(&user, USD_SOURCE, BTC_DESTINATION, "BTC", "10")
        .await;
    assert_eq!(p.status, 200, "{}", p.text);
    let expiration = p.body["expiration"].as_str().unwrap_or("");
    assert!(expiration.starts_with("99"), "expiration = {expiration:?}");
}

/// Two scenario rules of 20,000 ms on one operation once answered after 40 s (they stacked).
/// Injected latency is capped at 30 s per request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stacked_latency_is_capped_at_30_seconds() {
    let dir = std::env::temp_dir().join(format!("masspay-limits-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let rule =
        json!({ "when": { "operation": "getAccountBalance" }, "then": { "latency_ms": 20000 } });
    std::fs::write(
        dir.join("very_slow.json"),
        json!({ "rules": [rule, rule] }).to_string(),
    )
    .unwrap();
    let server = Server::with(
        Sandbox::builder()
            .scenarios_dir(&dir)
            .start()
            .await
            .expect("starts"),
    );
    let app = server.tenant();
    let started = Instant::now();
    let a = answer(
        app.request(Method::GET, "/account/balance")
            .header("X-Sandbox-Scenario", "very_slow")
            .timeout(Duration::from_secs(60)),
    )
    .await;
    let took = started.elapsed();
    let _ = std::fs::remove_dir_all(&dir);
    report(
        "limits::latency_cap",
        &[("answered_after_ms", took.as_millis() as u64)],
    );
    assert_eq!(a.status, 200, "{}", a.text);
    assert!(
        took >= Duration::from_secs(29) && took < Duration::from_secs(38),
        "two 20 s rules answered after {took:?} (want the 30 s cap)"
    );
}

/// The 404 of an unknown route echoed a 60 KiB path back in full.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_404_echoes_at_most_256_bytes_of_the_path() {
    let server = Server::start().await;
    let app = server.tenant();
    let long = format!("/nowhere/{}", "a".repeat(60 * 1024));
    let a = app.get(&long).await;
    assert_eq!(a.status, 404, "{}", &a.text[..a.text.len().min(300)]);
    assert!(a.text.len() < 2048, "a {}-byte 404", a.text.len());
    let errors: Vec<Value> = a.body["Errors"].as_array().cloned().unwrap_or_default();
    assert!(
        errors.iter().any(|e| e
            .as_str()
            .is_some_and(|s| s.contains("/nowhere/aaa") && s.ends_with('…'))),
        "{}",
        a.text
    );
}
