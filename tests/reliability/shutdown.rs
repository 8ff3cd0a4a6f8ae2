//! Graceful shutdown of the real binary (SPEC §1): SIGTERM while requests are in flight lets
//! them finish with their answers, then the process exits 0.

use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::Method;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::helpers::*;

/// The binary started with `--port 0`; killed on drop if a test fails before it exits.
struct Running {
    child: tokio::process::Child,
    base: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

async fn start_binary() -> Running {
    start_binary_with(&[]).await
}

async fn start_binary_with(extra: &[&str]) -> Running {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_masspay-sandbox"))
        .args(["--port", "0"])
        .args(extra)
        .env_remove("MASSPAY_SANDBOX_PORT")
        .env_remove("MASSPAY_SANDBOX_SCENARIO")
        .env_remove("MASSPAY_SANDBOX_API_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("a `listening on` line within 20 s")
        .expect("stdout reads")
        .expect("a line before EOF");
    let base = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .trim()
        .to_string();
    assert!(base.starts_with("http://127.0.0.1:"), "{line}");
    Running { child, base }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_in_flight_requests_finish_then_exits_0() {
    let mut running = start_binary().await;
    let client = reqwest::Client::new();
    let base = running.base.clone();
    let auth = "Bearer shutdown-test";
    // A user to pay, created before the signal.
    let created = answer(
        client
            .post(format!("{base}/v0.1.4/user"))
            .header("Authorization", auth)
            .body(user_body(&unique_email()).to_string()),
    )
    .await;
    assert_eq!(created.status, 200, "{}", created.text);
    let user = created.body["user_token"].as_str().unwrap().to_string();

    // Three slow requests (the `slow` scenario adds 250 ms): a read, a create, a store.
    let slow = |method: Method, path: String, body: Option<String>| {
        let (client, base) = (client.clone(), base.clone());
        tokio::spawn(async move {
            let mut req = client
                .request(method, format!("{base}{path}"))
                .header("Authorization", auth)
                .header("X-Sandbox-Scenario", "slow");
            if let Some(b) = body {
                req = req.body(b);
            }
            let sent = Instant::now();
            let a = answer(req).await;
            (a, sent.elapsed())
        })
    };
    let started = Instant::now();
    let in_flight = vec![
        slow(Method::GET, "/v0.1.4/account/balance".into(), None),
        slow(
            Method::POST,
            "/v0.1.4/user".into(),
            Some(user_body(&unique_email()).to_string()),
        ),
        slow(
            Method::POST,
            format!("/v0.1.4/attribute/{user}/{BTC_DESTINATION}/BTC"),
            Some(format!(
                r#"{{"values":[{{"token":"{BTC_WALLET_ATTR}","value":"{BTC_ADDRESS}"}}]}}"#
            )),
        ),
    ];
    // Well inside the 250 ms: the requests are in flight when the signal arrives.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let pid = running.child.id().expect("the process is running");
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(kill.success(), "kill -TERM {pid} failed");
    let signalled_after = started.elapsed();

    let mut finished = 0u64;
    for t in in_flight {
        let (a, took) = t.await.expect("request task");
        assert_eq!(
            a.status, 200,
            "an in-flight request was cut off: {}",
            a.text
        );
        assert!(
            took >= Duration::from_millis(250) && took > signalled_after,
            "the request ({took:?}) was not in flight at the signal ({signalled_after:?})"
        );
        finished += 1;
    }
    let status = tokio::time::timeout(Duration::from_secs(10), running.child.wait())
        .await
        .expect("the process exits within 10 s of SIGTERM")
        .expect("wait works");
    assert_eq!(status.code(), Some(0), "exit status {status:?}");
    // Gone: nothing listens any more.
    let after = client.get(format!("{base}/health")).send().await;
    assert!(after.is_err(), "still answering after exit: {after:?}");
    report(
        "shutdown::sigterm_in_flight",
        &[
            ("requests", 6),
            ("in_flight_finished", finished),
            ("violations", 0),
        ],
    );
}

/// A client that sent half a request head and went quiet once kept the sandbox from ever
/// exiting on SIGTERM (still running after 40 s). Now the stop waits at most
/// `--shutdown-timeout`, exits 0, and says what it cut off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_a_half_sent_request_exits_0_within_the_shutdown_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut running = start_binary_with(&["--shutdown-timeout", "2"]).await;
    let addr = running.base.trim_start_matches("http://").to_string();
    let mut half = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connects");
    half.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("half a head is sent");
    // The connection is accepted and hyper is reading its head when the signal comes.
    let client = reqwest::Client::new();
    let ok = client.get(format!("{}/health", running.base)).send().await;
    assert!(ok.is_ok_and(|r| r.status() == 200));
    let pid = running.child.id().expect("the process is running");
    let signalled = Instant::now();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(kill.success());
    let status = tokio::time::timeout(Duration::from_secs(8), running.child.wait())
        .await
        .expect(
            "the process exits within 8 s of SIGTERM with --shutdown-timeout 2 (it used to hang)",
        )
        .expect("wait works");
    let took = signalled.elapsed();
    assert_eq!(status.code(), Some(0), "exit status {status:?}");
    assert!(
        took >= Duration::from_millis(1500),
        "it should have waited for the open connection first ({took:?})"
    );
    let mut stderr = String::new();
    let mut err = running.child.stderr.take().expect("stderr");
    let _ = err.read_to_string(&mut stderr).await;
    assert!(
        stderr.contains("1 connection(s) still open were cut off"),
        "the log names what was cut off: {stderr}"
    );
    report(
        "shutdown::half_sent_head",
        &[("exit_ms", took.as_millis() as u64), ("violations", 0)],
    );
}
