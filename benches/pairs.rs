//! In-process cost of the payout path: initiate + commit pairs through the whole application
//! (`api::app`: pipeline, journal, idempotency, scenarios, handlers, state, JSON) as a
//! `tower::Service`, without sockets, on one thread. It prints the thread's CPU time per pair, so
//! it is usable on a busy machine where `bench/run.sh`'s throughput figures are not.
//!
//! `cargo bench --bench pairs [-- PAIRS]` (default 200,000 pairs after 20,000 warm-up pairs);
//! `cargo bench --bench pairs -- get [N]`: `GET /account/balance` instead, per request.

use axum::body::Body;
use http_body_util::BodyExt;
use masspay_sandbox::{api, build_state, Config};
use tower::{Service, ServiceExt};

const AUTH: &str = "Bearer bench";
const DEST: &str = "dst_d2138fd0-00be-45a8-985f-4f5bde500962";

async fn call(app: &mut api::Edge, method: &str, path: &str, body: String) -> (u16, Vec<u8>) {
    let req = axum::http::Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", AUTH)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .expect("request");
    let res = app
        .ready()
        .await
        .expect("ready")
        .call(req)
        .await
        .expect("infallible");
    let status = res.status().as_u16();
    let bytes = res
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    (status, bytes)
}

/// A string field of a JSON answer, found without parsing (the harness should cost little).
fn field(body: &[u8], name: &str) -> String {
    let text = std::str::from_utf8(body).expect("UTF-8 answer");
    let key = format!("\"{name}\":\"");
    let start = text
        .find(&key)
        .map(|i| i + key.len())
        .expect("field present");
    let len = text[start..].find('"').expect("closing quote");
    text[start..start + len].to_owned()
}

/// CPU time of this thread (user + system), from /proc.
fn thread_cpu() -> std::time::Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("/proc/thread-self/stat");
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: u64 =
        fields[11].parse::<u64>().unwrap_or(0) + fields[12].parse::<u64>().unwrap_or(0);
    std::time::Duration::from_millis(ticks * 10)
}

async fn pairs(app: &mut api::Edge, user: &str, n: usize, tag: &str) {
    for i in 0..n {
        let body = format!(
            r#"{{"client_transfer_id":"{tag}{i}","source_currency_code":"USD","destination_currency_code":"BTC","source_token":"clnt_wlt_ba4275f2-bae1-488d-9d6f-20af1cd83574","destination_token":"{DEST}","source_amount":10,"metadata":{{"group_id":541}}}}"#
        );
        let (status, answer) = call(app, "POST", &format!("/v0.1.4/payout/{user}"), body).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
        let token = field(&answer, "payout_token");
        let (status, answer) = call(
            app,
            "PUT",
            &format!("/v0.1.4/payout/{user}/{token}"),
            String::new(),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(field(&answer, "status"), "success");
    }
}

async fn gets(app: &mut api::Edge, n: usize) {
    for _ in 0..n {
        let (status, _) = call(app, "GET", "/v0.1.4/account/balance", String::new()).await;
        assert_eq!(status, 200);
    }
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200_000);
    let get = std::env::args().any(|a| a == "get");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let state = build_state(&Config::default()).expect("state");
        let mut app = api::app(state);
        let user = r#"{"internal_user_id":"bench-setup","country":"USA","first_name":"Bench","last_name":"Setup","email":"bench-setup@example.com"}"#;
        let (_, answer) = call(&mut app, "POST", "/v0.1.4/user", user.into()).await;
        let user = field(&answer, "user_token");
        let balance = r#"{"currency_code":"USD","balance":"100000000000"}"#;
        call(&mut app, "PUT", "/_sandbox/balance", balance.into()).await;
        let attr = r#"{"values":[{"token":"attr_0b7e9c1a-3f2d-4e5b-8a6c-7d8e9f0a1b2c","value":"bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"}]}"#;
        call(&mut app, "POST", &format!("/v0.1.4/attribute/{user}/{DEST}/BTC"), attr.into()).await;
        if get {
            gets(&mut app, n / 10).await;
            let (cpu0, wall0) = (thread_cpu(), std::time::Instant::now());
            gets(&mut app, n).await;
            let (cpu, wall) = (thread_cpu() - cpu0, wall0.elapsed());
            println!(
                "{n} GET /account/balance in-process: {:.2} µs CPU per request ({:.2} µs wall)",
                cpu.as_secs_f64() * 1e6 / n as f64,
                wall.as_secs_f64() * 1e6 / n as f64,
            );
            return;
        }
        pairs(&mut app, &user, n / 10, "w").await;
        let (cpu0, wall0) = (thread_cpu(), std::time::Instant::now());
        pairs(&mut app, &user, n, "m").await;
        let (cpu, wall) = (thread_cpu() - cpu0, wall0.elapsed());
        println!(
            "{n} pairs in-process: {:.2} µs CPU per pair ({:.2} µs wall), {:.0} pairs/s on one thread",
            cpu.as_secs_f64() * 1e6 / n as f64,
            wall.as_secs_f64() * 1e6 / n as f64,
            n as f64 / wall.as_secs_f64()
        );
    });
}
