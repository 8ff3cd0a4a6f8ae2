//! `--state-file` with the real binary (README "Persistence"): every tenant is written on SIGTERM
//! and on `POST /_sandbox/save` and read back at start; a corrupt, foreign or newer file refuses
//! to start (exit 2, naming the file and the problem) and is left byte for byte as it was; a file
//! of every older format is still read.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

#[path = "support/process.rs"]
mod process;
use process::Proc;

const WAIT: Duration = Duration::from_secs(20);
const KEY: &str = "state-file-key";
const OTHER_KEY: &str = "state-file-other-key";
const USD_SOURCE: &str = "clnt_wlt_ba4275f2-bae1-488d-9d6f-20af1cd83574";
const BTC_DESTINATION: &str = "dst_d2138fd0-00be-45a8-985f-4f5bde500962";
const BTC_WALLET_ATTR: &str = "attr_0b7e9c1a-3f2d-4e5b-8a6c-7d8e9f0a1b2c";

/// The binary on a free port (`--port 0`) with `args` and `env`.
fn start(args: &[&str], env: &[(&str, &str)]) -> Proc {
    Proc::start(&[&["--port", "0"], args].concat(), env)
}

/// One request with `KEY` (or `key`) and an optional JSON body: (status, body text).
fn call_as(
    addr: SocketAddr,
    key: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, String) {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connects");
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("a whole response");
    let raw = String::from_utf8_lossy(&raw).to_string();
    let (head, rest) = raw.split_once("\r\n\r\n").expect("an HTTP response");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    (status, rest.to_string())
}

fn call(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    call_as(addr, KEY, method, path, body)
}

/// A 200 (or `expected`) answer's JSON.
fn ok(answer: (u16, String), expected: u16) -> Value {
    assert_eq!(answer.0, expected, "{}", answer.1);
    serde_json::from_str(&answer.1).unwrap_or(Value::Null)
}

/// An exact decimal from a JSON number or string (no float in between).
fn dec(v: &Value) -> rust_decimal::Decimal {
    let text = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    text.parse().unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

/// A temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let dir = std::env::temp_dir().join(format!("masspay-state-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn file(&self, name: &str) -> String {
        self.0.join(name).to_str().unwrap().to_string()
    }

    fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        names.sort();
        names
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What a restart must bring back: the state dump without its clock, the user's wallets, the
/// snapshots, and both tenants' balances.
fn everything(addr: SocketAddr, user: &str) -> Value {
    let mut state = ok(call(addr, "GET", "/_sandbox/state", None), 200);
    state.as_object_mut().unwrap().remove("clock");
    json!({
        "state": state,
        "wallets": ok(call(addr, "GET", &format!("/v0.1.4/wallet/{user}"), None), 200),
        "loads": ok(call(addr, "GET", &format!("/v0.1.4/load/{user}"), None), 200),
        "snapshots": ok(call(addr, "GET", "/_sandbox/snapshots", None), 200)
            .as_array().unwrap().iter().map(|s| s["name"].clone()).collect::<Vec<_>>(),
        "other": ok(call_as(addr, OTHER_KEY, "GET", "/v0.1.4/account/balance", None), 200),
    })
}

/// A user with a BTC wallet address, a load, a committed payout, a pending one, a changed
/// balance, a snapshot; another tenant with a changed balance. Returns the user's token.
fn populate(addr: SocketAddr) -> String {
    let user = ok(
        call(addr, "POST", "/v0.1.4/user", Some(r#"{"internal_user_id":"u1","country":"USA","first_name":"Ann","last_name":"Lee","email":"ann@example.com","metadata":{"group":[1,2.50]}}"#)),
        200,
    )["user_token"]
        .as_str()
        .unwrap()
        .to_string();
    ok(
        call(
            addr,
            "POST",
            &format!("/v0.1.4/attribute/{user}/{BTC_DESTINATION}/BTC"),
            Some(&format!(
                r#"{{"values":[{{"token":"{BTC_WALLET_ATTR}","value":"bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"}}]}}"#
            )),
        ),
        200,
    );
    ok(
        call(
            addr,
            "POST",
            &format!("/v0.1.4/load/{user}"),
            Some(&format!(
                r#"{{"client_load_id":"l1","source_token":"{USD_SOURCE}","amount":12.34}}"#
            )),
        ),
        200,
    );
    let initiate = |amount: &str| {
        ok(call(addr, "POST", &format!("/v0.1.4/payout/{user}"),
            Some(&format!(r#"{{"client_transfer_id":"t{amount}","source_currency_code":"USD","destination_currency_code":"BTC","source_token":"{USD_SOURCE}","destination_token":"{BTC_DESTINATION}","source_amount":{amount}}}"#))), 200)
            ["payout_token"].as_str().unwrap().to_string()
    };
    let done = initiate("100.5");
    let commit = ok(
        call(addr, "PUT", &format!("/v0.1.4/payout/{user}/{done}"), None),
        200,
    );
    assert_eq!(commit["status"], "success", "{commit}");
    initiate("7");
    ok(
        call(
            addr,
            "PUT",
            "/_sandbox/balance",
            Some(r#"{"currency_code":"ETH","balance":"1.000000000000000001"}"#),
        ),
        200,
    );
    ok(
        call(
            addr,
            "POST",
            "/_sandbox/snapshots",
            Some(r#"{"name":"populated"}"#),
        ),
        201,
    );
    ok(
        call_as(
            addr,
            OTHER_KEY,
            "PUT",
            "/_sandbox/balance",
            Some(r#"{"currency_code":"USD","balance":"42.42"}"#),
        ),
        200,
    );
    user
}

#[test]
fn sigterm_writes_every_tenant_and_a_restart_brings_back_every_object_and_balance() {
    let dir = TempDir::new();
    let file = dir.file("state.json");
    let mut p = start(&["--state-file", &file, "--seed", "7"], &[]);
    let addr = p.listening();
    let user = populate(addr);
    let before = everything(addr, &user);
    assert_eq!(before["state"]["payouts"].as_array().unwrap().len(), 2);
    p.signal("TERM");
    let status = p.wait_exit();
    assert_eq!(status.code(), Some(0), "{status}: {}", p.stderr());
    assert_eq!(dir.entries(), ["state.json"], "no temporary file left");
    let written: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(written["format"], 1);
    assert_eq!(written["kind"], "masspay-sandbox-state");
    let balances = written["tenants"][KEY]["state"]["balances"].to_string();
    assert!(
        balances.contains(r#""1.000000000000000001""#),
        "exact decimals: {balances}"
    );

    let mut p = start(&["--state-file", &file, "--seed", "7"], &[]);
    let addr = p.listening();
    assert_eq!(everything(addr, &user), before);
    // The payouts still act: the pending one commits (debiting once), the other is a duplicate.
    let payouts = before["state"]["payouts"].as_array().unwrap();
    let usd = |addr| {
        let all = ok(call(addr, "GET", "/v0.1.4/account/balance", None), 200);
        all.as_array()
            .unwrap()
            .iter()
            .find(|b| b["currency_code"] == "USD")
            .unwrap()["balance"]
            .to_string()
    };
    // 250000 − 12.34 (the load) − (100.5 + 2.99) (the committed payout)
    assert_eq!(usd(addr), "249884.17");
    let pending = payouts.iter().find(|p| p["status"] == "PENDING").unwrap();
    let debit = dec(&pending["source_amount"]) + dec(&pending["fee"]);
    for p in payouts {
        let token = p["payout_token"].as_str().unwrap();
        let a = ok(
            call(addr, "PUT", &format!("/v0.1.4/payout/{user}/{token}"), None),
            200,
        );
        assert_eq!(a["status"], "success", "{a}");
    }
    assert_eq!(dec(&usd(addr).into()), dec(&json!(249884.17)) - debit);
    // New tokens go on from the saved stream: never one already handed out.
    let again = ok(
        call(
            addr,
            "POST",
            "/v0.1.4/user",
            Some(
                r#"{"internal_user_id":"u2","country":"USA","first_name":"Bo","last_name":"Lee","email":"bo@example.com"}"#,
            ),
        ),
        200,
    );
    assert_ne!(again["user_token"].as_str().unwrap(), user);
    // The snapshot came back too.
    ok(
        call(addr, "POST", "/_sandbox/snapshots/populated/restore", None),
        200,
    );
    assert_eq!(usd(addr), "249884.17");
    p.signal("TERM");
    assert_eq!(p.wait_exit().code(), Some(0), "{}", p.stderr());
}

#[test]
fn post_save_writes_the_file_while_running_so_a_kill_loses_nothing_saved() {
    let dir = TempDir::new();
    let file = dir.file("state.json");
    let env = [("MASSPAY_SANDBOX_STATE_FILE", file.as_str())];
    let p = start(&[], &env);
    let addr = p.listening();
    let user = populate(addr);
    let before = everything(addr, &user);
    let saved = ok(call(addr, "POST", "/_sandbox/save", None), 200);
    assert_eq!(saved["tenants"], 2, "{saved}");
    assert_eq!(saved["path"], file.as_str(), "{saved}");
    assert_eq!(
        saved["bytes"],
        std::fs::metadata(&file).unwrap().len(),
        "{saved}"
    );
    assert_eq!(dir.entries(), ["state.json"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o077,
            0,
            "API keys inside: not readable by others ({mode:o})"
        );
    }
    p.signal("KILL");
    drop(p);

    let p = start(&[], &env);
    let addr = p.listening();
    assert_eq!(everything(addr, &user), before);
}

#[test]
fn without_a_state_file_save_is_a_422() {
    let p = start(&[], &[]);
    let addr = p.listening();
    let a = ok(call(addr, "POST", "/_sandbox/save", None), 422);
    assert!(
        a["Errors"][0].as_str().unwrap().contains("--state-file"),
        "{a}"
    );
}

/// Starts with `content` as the state file: refuses (exit 2, stderr naming the file and each of
/// `needles`), nothing listening, the file byte for byte as it was.
fn assert_refused(content: &[u8], needles: &[&str]) {
    let dir = TempDir::new();
    let file = dir.file("state.json");
    std::fs::write(&file, content).unwrap();
    let mut p = start(&["--state-file", &file], &[]);
    let status = p.wait_exit();
    let stderr = p.stderr();
    assert_eq!(status.code(), Some(2), "{status}: {stderr}");
    assert!(
        p.lines.try_recv().is_err(),
        "printed a listening line: {stderr}"
    );
    for n in [file.as_str()].iter().chain(needles) {
        assert!(stderr.contains(n), "{n:?} not in {stderr:?}");
    }
    assert_eq!(
        std::fs::read(&file).unwrap(),
        content,
        "the file was changed"
    );
    assert_eq!(dir.entries(), ["state.json"]);
}

/// A state file as this build writes it, with one populated tenant.
fn a_written_file() -> Vec<u8> {
    let dir = TempDir::new();
    let file = dir.file("state.json");
    let mut p = start(&["--state-file", &file], &[]);
    populate(p.listening());
    p.signal("TERM");
    assert_eq!(p.wait_exit().code(), Some(0));
    std::fs::read(&file).unwrap()
}

#[test]
fn a_corrupt_foreign_or_newer_file_refuses_to_start_and_is_left_untouched() {
    let good = a_written_file();
    // Truncated half-way: not JSON any more.
    assert_refused(&good[..good.len() / 2], &["not valid JSON"]);
    // Somebody else's JSON.
    assert_refused(
        br#"{"name":"my-app","version":"1.0.0"}"#,
        &["not a masspay-sandbox state file"],
    );
    assert_refused(b"[1, 2, 3]", &["not a masspay-sandbox state file"]);
    // A newer format.
    let mut v: Value = serde_json::from_slice(&good).unwrap();
    v["format"] = json!(2);
    assert_refused(
        &serde_json::to_vec(&v).unwrap(),
        &["format 2", "reads format 1"],
    );
    // Well-formed JSON of the right kind, wrong inside: names where, hides the API key.
    let mut v: Value = serde_json::from_slice(&good).unwrap();
    v["tenants"][KEY]["state"]["payouts"] = json!("not a list");
    let bytes = serde_json::to_vec(&v).unwrap();
    assert_refused(
        &bytes,
        &["corrupt at tenants.stat… (14 bytes).state.payouts"],
    );
    // A snapshot under a name the API could never have given (nor reach), and more snapshots
    // than a tenant may keep.
    let mut v: Value = serde_json::from_slice(&good).unwrap();
    let state = v["tenants"][KEY]["state"].clone();
    v["tenants"][KEY]["snapshots"][".."] = state.clone();
    assert_refused(
        &serde_json::to_vec(&v).unwrap(),
        &["snapshot \"..\"", "name must be 1 to 64 characters"],
    );
    let mut v: Value = serde_json::from_slice(&good).unwrap();
    for i in 0..17 {
        v["tenants"][KEY]["snapshots"][format!("s{i}")] = state.clone();
    }
    assert_refused(
        &serde_json::to_vec(&v).unwrap(),
        &["snapshots, more than the 16 a tenant may keep"],
    );
    // Objects of a destination the fixtures do not have.
    let text = String::from_utf8(good.clone()).unwrap();
    let foreign = text.replace(BTC_DESTINATION, "dst_00000000-0000-4000-8000-000000000000");
    assert_refused(
        foreign.as_bytes(),
        &["no longer have the destination dst_00000000-0000-4000-8000-000000000000"],
    );
}

#[test]
fn a_missing_or_empty_file_starts_empty_and_is_written_on_stop() {
    let dir = TempDir::new();
    let file = dir.file("state.json");
    std::fs::write(&file, "").unwrap();
    let mut p = start(&["--state-file", &file], &[]);
    let addr = p.listening();
    let state = ok(call(addr, "GET", "/_sandbox/state", None), 200);
    assert_eq!(state["users"], json!([]));
    p.signal("TERM");
    assert_eq!(p.wait_exit().code(), Some(0), "{}", p.stderr());
    let written: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(written["format"], 1);
    // A directory that does not exist is refused at once, not at the first save.
    let missing = dir.file("no-such-dir/state.json");
    let mut p = start(&["--state-file", &missing], &[]);
    assert_eq!(p.wait_exit().code(), Some(2));
    assert!(p.stderr().contains("does not exist"));
}

/// Every older format stays readable: `tests/data/state-format-N.json` were written by the
/// build of format N (format 1: the first). This build reads each and finds what it held.
#[test]
fn files_of_every_format_so_far_are_read() {
    let dir = TempDir::new();
    let file = dir.file("state.json");
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/state-format-1.json");
    std::fs::copy(&golden, &file).unwrap();
    let p = start(&["--state-file", &file], &[]);
    let addr = p.listening();
    let state = ok(
        call_as(addr, "format-1-key", "GET", "/_sandbox/state", None),
        200,
    );
    assert_eq!(state["users"][0]["email"], "ann@example.com", "{state}");
    assert_eq!(
        state["users"][0]["metadata"],
        json!({"group": [1, 2.50]}),
        "{state}"
    );
    let statuses: Vec<&Value> = state["payouts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["status"])
        .collect();
    assert_eq!(
        statuses,
        [&json!("COMPLETED"), &json!("PENDING")],
        "{state}"
    );
    let usd = state["balances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["currency_code"] == "USD")
        .unwrap();
    assert_eq!(usd["balance"].to_string(), "249884.17");
    assert_eq!(state["attributes"].as_array().unwrap().len(), 1, "{state}");
    let snaps = ok(
        call_as(addr, "format-1-key", "GET", "/_sandbox/snapshots", None),
        200,
    );
    assert_eq!(snaps[0]["name"], "populated", "{snaps}");
}
