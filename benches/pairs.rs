//! In-process cost of the payout path: initiate + commit pairs through the whole application
//! (`api::app`: pipeline, journal, idempotency, scenarios, handlers, state, JSON) as a
//! `tower::Service`, without sockets, on one thread. It prints the thread's CPU time per pair, so
//! it is usable on a busy machine where `bench/run.sh`'s throughput figures are not.
//!
//! `cargo bench --bench pairs [-- PAIRS]` (default 200,000 pairs after 20,000 warm-up pairs);
//! `cargo bench --bench pairs -- get [N]`: `GET /account/balance` instead, per request.

use masspay_sandbox::{api, build_state, Config};

#[path = "support/inproc.rs"]
mod inproc;
use inproc::{call, field, funded_payer, initiate_body};

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
        let body = initiate_body(&format!("{tag}{i}"));
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
        let user = funded_payer(&mut app).await;
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
