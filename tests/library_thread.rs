//! Library mode runs the sandbox on its own thread and runtime (issue 13): a test that blocks its
//! own runtime thread (a blocking client, `std::thread::sleep`) still gets answers, the sandbox
//! outlives the runtime that started it, and dropping it closes its port without the caller's
//! runtime having to run.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use masspay_sandbox::{Sandbox, StartError};

/// A plain HTTP/1.1 GET over a std socket, as `Bearer k`: the status code and the whole answer.
fn blocking_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    blocking_get_as(addr, path, "k")
}

fn blocking_get_as(addr: SocketAddr, path: &str, key: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n"
    )?;
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {text:?}")))?;
    Ok((status, text))
}

/// Polls (blocking the calling thread) until nothing accepts connections on `addr`.
fn wait_until_refused(addr: SocketAddr, within: Duration) -> Result<(), String> {
    let deadline = Instant::now() + within;
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return Ok(()),
            other if Instant::now() >= deadline => {
                return Err(format!(
                    "{addr} still reachable after {within:?}: {other:?}"
                ))
            }
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// The default `#[tokio::test]` runtime has a single thread; blocking it must not starve the
/// sandbox (it used to run on that very thread).
#[tokio::test]
async fn a_blocked_test_runtime_does_not_starve_the_sandbox() {
    let sandbox = Sandbox::builder().start().await.expect("sandbox starts");
    let addr = sandbox.addr();
    let (tx, rx) = mpsc::channel();
    let client = std::thread::spawn(move || {
        let answer = blocking_get(addr, "/v0.1.4/account/balance");
        let _ = tx.send((answer, Instant::now()));
    });
    // Block this runtime's only thread, as a blocking client or a sleep in a test would.
    std::thread::sleep(Duration::from_secs(1));
    let woke = Instant::now();
    let (answer, answered_at) = rx
        .recv_timeout(Duration::from_millis(100))
        .expect("the sandbox answered while the test's runtime thread was blocked");
    let (status, text) = answer.expect("the request succeeds");
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("\"USD\""), "{text}");
    assert!(
        answered_at <= woke,
        "answered only after the test thread woke up"
    );
    client.join().unwrap();
}

/// A sandbox started inside a runtime keeps serving after that runtime is gone.
#[test]
fn the_sandbox_outlives_the_runtime_that_started_it() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sandbox = runtime
        .block_on(Sandbox::builder().seed(7).start())
        .expect("sandbox starts");
    drop(runtime);
    let (status, text) = blocking_get(sandbox.addr(), "/health").expect("request succeeds");
    assert_eq!(status, 200, "{text}");
}

/// Dropping the sandbox stops it: its port refuses connections within a bounded time, even
/// though the dropping thread is a runtime thread that never yields again.
#[tokio::test]
async fn dropping_the_sandbox_closes_its_port() {
    let sandbox = Sandbox::builder().start().await.expect("sandbox starts");
    let addr = sandbox.addr();
    let (status, text) = blocking_get(addr, "/health").expect("request succeeds");
    assert_eq!(status, 200, "{text}");
    // An idle keep-alive connection, open while the sandbox is dropped: it must be closed too.
    let mut idle = TcpStream::connect(addr).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        idle,
        "GET /health HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer k\r\n\r\n"
    )
    .unwrap();
    let mut head = [0u8; 12];
    idle.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");

    let dropped = Instant::now();
    drop(sandbox);
    assert!(
        dropped.elapsed() < Duration::from_millis(500),
        "drop blocked for {:?}",
        dropped.elapsed()
    );
    wait_until_refused(addr, Duration::from_secs(5)).unwrap();
    // The kept-alive connection reaches its end (EOF or reset), rather than hanging.
    let mut rest = Vec::new();
    let closed_at = Instant::now();
    let _ = idle.read_to_end(&mut rest);
    assert!(
        closed_at.elapsed() < Duration::from_secs(4),
        "the idle connection stayed open"
    );
}

/// A configuration error still comes back from `start()`, from the sandbox's own thread.
#[tokio::test]
async fn start_errors_come_back_to_the_caller() {
    let err = Sandbox::builder()
        .scenario("no_such_scenario")
        .start()
        .await
        .err()
        .expect("an unknown scenario is refused");
    assert!(matches!(err, StartError::UnknownScenario(_)), "{err}");
    assert!(err.to_string().contains("no_such_scenario"), "{err}");
}

/// Without any async runtime: `start_blocking`, with the builder's options in force.
#[test]
fn start_blocking_serves_a_plain_test_with_the_builders_options() {
    let sandbox = Sandbox::builder()
        .api_key("k")
        .start_blocking()
        .expect("sandbox starts");
    let (status, text) = blocking_get(sandbox.addr(), "/v0.1.4/account/balance").unwrap();
    assert_eq!(status, 200, "{text}");
    let (status, text) =
        blocking_get_as(sandbox.addr(), "/v0.1.4/account/balance", "other").unwrap();
    assert_eq!(status, 401, "{text}");
    drop(sandbox);
}
