//! The real binary, as CI runs it (SPEC §1, README "Flags"): `--port 0` and the one
//! `listening on` line, `/health`, graceful SIGTERM/SIGINT (exit 0), refusing bad fixture and
//! scenario files and unknown `--scenario` names (non-zero, naming file, entry and reason, nothing
//! listening), and the `MASSPAY_SANDBOX_*` environment twins.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[path = "support/process.rs"]
mod process;
use process::Proc;

struct Reply {
    status: u16,
    head: String,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// One HTTP/1.1 request over a fresh connection (`Connection: close`), read to the end.
fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n"
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("a whole response");
    let raw = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("not an HTTP response: {raw:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    Reply {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

const AUTH: (&str, &str) = ("Authorization", "Bearer cli-test-key");

fn assert_healthy(addr: SocketAddr) {
    let r = http(addr, "GET", "/health", &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains(r#""status":"ok""#), "{}", r.body);
}

/// A temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("masspay-sandbox-cli-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, name: &str, content: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, content).unwrap();
        p
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn shipped_fixture(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The process refused to start: non-zero exit (2, as the README says), nothing on stdout,
/// nothing listening on the port it was given. Returns stderr.
fn assert_refuses(args: &[&str]) -> String {
    let port = free_port();
    let port_arg = port.to_string();
    let mut all = vec!["--port", port_arg.as_str()];
    all.extend_from_slice(args);
    let mut p = Proc::start(&all, &[]);
    let status = p.wait_exit();
    let stderr = p.stderr();
    assert!(!status.success(), "{status}: {stderr}");
    assert_eq!(status.code(), Some(2), "{status}: {stderr}");
    assert_eq!(p.rest_of_stdout(), Vec::<String>::new(), "{stderr}");
    assert!(
        TcpStream::connect_timeout(
            &SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_millis(500)
        )
        .is_err(),
        "something listens on {port}"
    );
    stderr
}

fn assert_contains(haystack: &str, needles: &[&str]) {
    for n in needles {
        assert!(haystack.contains(n), "{n:?} not in {haystack:?}");
    }
}

// ----- start, serve, stop ------------------------------------------------------------------------

#[test]
fn port_0_prints_the_listening_line_then_the_dashboard_serves_and_exits_0_on_sigterm() {
    let mut p = Proc::start(&["--port", "0"], &[]);
    let addr = p.listening();
    assert_healthy(addr);
    let r = http(addr, "GET", "/v0.1.4/account/balance", &[AUTH]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains(r#""currency_code":"USD""#), "{}", r.body);

    p.signal("TERM");
    let status = p.wait_exit();
    let stderr = p.stderr();
    assert_eq!(status.code(), Some(0), "{status}: {stderr}");
    // The `listening on` line comes first, unchanged; the dashboard's URL is the only other line.
    assert_eq!(
        p.rest_of_stdout(),
        vec![format!("dashboard  http://{addr}/_sandbox/ui")],
        "two lines only"
    );
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err(),
        "still listening after exit"
    );
}

#[test]
fn sigint_also_exits_0() {
    let mut p = Proc::start(&["--port", "0"], &[]);
    let addr = p.listening();
    assert_healthy(addr);
    p.signal("INT");
    let status = p.wait_exit();
    assert_eq!(status.code(), Some(0), "{status}: {}", p.stderr());
}

#[test]
fn sigterm_lets_an_in_flight_request_finish() {
    let dir = TempDir::new();
    dir.write(
        "slow_balance.json",
        r#"{"rules":[{"when":{"operation":"getAccountBalance"},"then":{"latency_ms":3000}}]}"#,
    );
    let mut p = Proc::start(
        &[
            "--port",
            "0",
            "--scenarios",
            dir.path(),
            "--scenario",
            "slow_balance",
        ],
        &[],
    );
    let addr = p.listening();
    let request = std::thread::spawn(move || http(addr, "GET", "/v0.1.4/account/balance", &[AUTH]));
    // Let the request reach the server (it then waits 3 s inside), then ask it to stop.
    std::thread::sleep(Duration::from_millis(1000));
    p.signal("TERM");
    let r = request.join().expect("the request thread");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains(r#""currency_code":"USD""#), "{}", r.body);
    let status = p.wait_exit();
    assert_eq!(status.code(), Some(0), "{status}: {}", p.stderr());
}

#[test]
fn start_time_sets_the_test_clock() {
    let p = Proc::start(
        &["--port", "0", "--start-time", "2030-01-01T00:00:00Z"],
        &[],
    );
    let addr = p.listening();
    let r = http(addr, "GET", "/_sandbox/clock", &[AUTH]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains(r#""now":"2030-01-01T00:00:"#), "{}", r.body);
}

// ----- refusing to start -----------------------------------------------------------------------

#[test]
fn a_bad_regex_in_attributes_json_refuses_to_start_naming_file_entry_and_reason() {
    let dir = TempDir::new();
    let text = shipped_fixture("attributes.json");
    let broken = text.replacen(r#""validation": "[0-9]{18}""#, r#""validation": "[0-9""#, 1);
    assert_ne!(text, broken, "the fixture changed: fix this test");
    let file = dir.write("attributes.json", &broken);
    let stderr = assert_refuses(&["--fixtures", dir.path()]);
    assert_contains(&stderr, &[file.to_str().unwrap(), "mx_clabe", "regex"]);
}

#[test]
fn a_catalog_naming_an_unknown_requirement_refuses_to_start() {
    let dir = TempDir::new();
    let text = shipped_fixture("catalog.json");
    let broken = text.replacen(
        r#""MXN": ["mx_clabe", "account_holder_name"]"#,
        r#""MXN": ["mx_clabe_nope", "account_holder_name"]"#,
        1,
    );
    assert_ne!(text, broken, "the fixture changed: fix this test");
    let file = dir.write("catalog.json", &broken);
    let stderr = assert_refuses(&["--fixtures", dir.path()]);
    assert_contains(
        &stderr,
        &[file.to_str().unwrap(), "BBVA México", "mx_clabe_nope"],
    );
}

#[test]
fn an_unknown_scenario_flag_refuses_to_start_naming_it() {
    let stderr = assert_refuses(&["--scenario", "nope"]);
    assert_contains(&stderr, &["nope"]);
}

#[test]
fn a_scenario_file_with_an_unknown_operation_refuses_to_start_naming_file_and_rule() {
    let dir = TempDir::new();
    let file = dir.write(
        "broken.json",
        r#"{"rules":[
            {"when":{"operation":"commitPayoutTxn"},"then":{"commit_status":"nsf"}},
            {"when":{"operation":"launchRocket"},"then":{"latency_ms":10}}
        ]}"#,
    );
    let stderr = assert_refuses(&["--scenarios", dir.path()]);
    assert_contains(
        &stderr,
        &[file.to_str().unwrap(), "rules[1]", "launchRocket"],
    );
}

// ----- environment twins -----------------------------------------------------------------------

#[test]
fn env_twins_set_port_and_scenario() {
    let p = Proc::start(
        &[],
        &[
            ("MASSPAY_SANDBOX_PORT", "0"),
            ("MASSPAY_SANDBOX_SCENARIO", "rate_limited"),
        ],
    );
    let addr = p.listening();
    assert_healthy(addr);
    let r = http(addr, "GET", "/v0.1.4/account/balance", &[AUTH]);
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.header("retry-after"), Some("1"), "{}", r.head);
    assert!(r.body.contains(r#""code":429"#), "{}", r.body);
    // The admin API is not rate limited.
    let r = http(addr, "GET", "/_sandbox/clock", &[AUTH]);
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn env_twin_for_an_unknown_scenario_refuses_too() {
    let mut p = Proc::start(
        &[],
        &[
            ("MASSPAY_SANDBOX_PORT", "0"),
            ("MASSPAY_SANDBOX_SCENARIO", "slow,nope_from_env"),
        ],
    );
    let status = p.wait_exit();
    let stderr = p.stderr();
    assert!(!status.success(), "{status}");
    assert_contains(&stderr, &["nope_from_env"]);
    assert_eq!(p.rest_of_stdout(), Vec::<String>::new());
}

#[test]
fn a_fixtures_dir_that_does_not_exist_refuses_to_start() {
    let missing =
        std::env::temp_dir().join(format!("masspay-sandbox-missing-{}", uuid::Uuid::new_v4()));
    let missing = missing.to_str().unwrap();
    let stderr = assert_refuses(&["--fixtures", missing]);
    assert_contains(&stderr, &[missing]);
}

#[test]
fn a_scenarios_dir_that_does_not_exist_refuses_to_start() {
    let missing =
        std::env::temp_dir().join(format!("masspay-sandbox-missing-{}", uuid::Uuid::new_v4()));
    let missing = missing.to_str().unwrap();
    let stderr = assert_refuses(&["--scenarios", missing]);
    assert_contains(&stderr, &[missing]);
}

#[test]
fn a_webhook_url_outside_webhook_allow_refuses_to_start_naming_the_host() {
    let stderr = assert_refuses(&[
        "--webhook-allow",
        "other.example",
        "--webhook-url",
        "http://127.0.0.1:9/x",
    ]);
    assert_contains(
        &stderr,
        &["\"127.0.0.1\"", "--webhook-allow", "other.example"],
    );
}

#[test]
fn a_webhook_url_on_an_allowed_host_starts_whatever_its_port_and_case() {
    let mut p = Proc::start(
        &[
            "--port",
            "0",
            "--webhook-allow",
            "other.example,LOCALHOST",
            "--webhook-url",
            "http://localhost:9/x",
        ],
        &[],
    );
    let addr = p.listening();
    assert_healthy(addr);
    p.signal("TERM");
    assert!(p.wait_exit().success());
}

#[test]
fn a_seed_file_with_a_payout_short_of_funds_refuses_to_start_naming_file_entry_and_reason() {
    let dir = TempDir::new();
    let seed = r#"{
      "balances": [{"currency_code": "USD", "balance": "50"}],
      "users": [{"user_token": "usr_5eed0000-0000-4000-8000-000000000001", "internal_user_id": "s1",
        "country": "USA", "first_name": "Ada", "last_name": "Seed", "email": "ada@example.com"}],
      "payouts": [{"payout_token": "payout_5eed0000-0000-4000-8000-000000000003",
        "user_token": "usr_5eed0000-0000-4000-8000-000000000001",
        "source_token": "clnt_wlt_ba4275f2-bae1-488d-9d6f-20af1cd83574",
        "destination_token": "dst_d2138fd0-00be-45a8-985f-4f5bde500962",
        "destination_currency_code": "BTC", "source_amount": 100}]
    }"#;
    let file = dir.write("my-seed.json", seed);
    let stderr = assert_refuses(&["--seed-state", file.to_str().unwrap()]);
    assert_contains(
        &stderr,
        &[file.to_str().unwrap(), "payouts[0]", "insufficient funds"],
    );
    // seed.json in --fixtures is read the same way.
    dir.write("seed.json", &seed.replace("\"50\"", "\"-1\""));
    let stderr = assert_refuses(&["--fixtures", dir.path()]);
    assert_contains(
        &stderr,
        &["seed.json", "balances[0]", "balance must be ≥ 0"],
    );
}
