//! In-process cost of the payout path: initiate + commit pairs through the whole application
//! (`api::app`: pipeline, journal, idempotency, scenarios, handlers, state, JSON) as a
//! `tower::Service`, without sockets, on one thread. It prints the thread's CPU time per pair, so
//! it is usable on a busy machine where `bench/run.sh`'s throughput figures are not.
//!
//! `cargo bench --bench pairs [-- PAIRS]` (default 200,000 pairs after 20,000 warm-up pairs);
//! `cargo bench --bench pairs -- get [N]`: `GET /account/balance` instead, per request;
//! `cargo bench --bench pairs -- user [N]`: `POST /user` (the guide's user, distinct e-mails).
//! Add `allocs` to count heap allocations per operation too (the harness's own included): unlike
//! CPU time, the count does not move with the machine's load.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use masspay_sandbox::{api, build_state, Config};

#[path = "support/inproc.rs"]
mod inproc;
use inproc::{call, field, funded_payer, initiate_body};

/// The system allocator, counting allocations and reallocations while `COUNTING` is set.
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

fn count() {
    if COUNTING.load(Relaxed) {
        ALLOCATIONS.fetch_add(1, Relaxed);
    }
}

// SAFETY: every call is passed on to `System` unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// CPU time of this process (user + system, every thread), from /proc.
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: u64 =
        fields[11].parse::<u64>().unwrap_or(0) + fields[12].parse::<u64>().unwrap_or(0);
    Duration::from_millis(ticks * 10)
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

async fn users(app: &mut api::Edge, n: usize, tag: &str) {
    for i in 0..n {
        let body = format!(
            r#"{{"internal_user_id":"4324-rOzk","address1":"2000 main st","address2":"apt D","city":"Santa Monica","state_province":"CA","postal_code":"90405","country":"USA","first_name":"John","middle_name":"","last_name":"Doe","email":"b{tag}n{i}@example.com","language":"en","mobile_number":"16502000226","business_name":"ABC Company","date_of_birth":"1975-03-24","metadata":{{"group_id":541}}}}"#
        );
        let (status, answer) = call(app, "POST", "/v0.1.4/user", body).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    }
}

/// Prints the CPU and wall time per unit of work.
fn report(n: usize, what: &str, threads: usize, cpu: Duration, wall: Duration) {
    println!(
        "{n} {what} in-process on {threads} thread(s): {:.2} µs CPU each ({:.2} µs wall), {:.0}/s",
        cpu.as_secs_f64() * 1e6 / n as f64,
        wall.as_secs_f64() * 1e6 / n as f64,
        n as f64 / wall.as_secs_f64()
    );
}

#[derive(Clone, Copy)]
enum Work {
    Pairs,
    Gets,
    Users,
}

impl Work {
    async fn run(self, mut app: api::Edge, user: String, n: usize, tag: String) {
        match self {
            Work::Pairs => pairs(&mut app, &user, n, &tag).await,
            Work::Gets => gets(&mut app, n).await,
            Work::Users => users(&mut app, n, &tag).await,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Work::Pairs => "initiate + commit pairs",
            Work::Gets => "GET /account/balance",
            Work::Users => "POST /user",
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let has = |w: &str| args.iter().any(|a| a == w);
    let n: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(200_000);
    let work = if has("get") {
        Work::Gets
    } else if has("user") {
        Work::Users
    } else {
        Work::Pairs
    };
    // `2t`: two workers on a two-thread runtime, both on the same tenant, as wrk's connections
    // are: what contention between the server's threads costs shows up (process CPU).
    let threads = if has("2t") { 2 } else { 1 };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let state = build_state(&Config::default()).expect("state");
        let mut app = api::app(state);
        let user = funded_payer(&mut app).await;
        let round = |n: usize, tag: &'static str| {
            let tasks: Vec<_> = (0..threads)
                .map(|t| {
                    let (app, user) = (app.clone(), user.clone());
                    tokio::spawn(work.run(app, user, n / threads, format!("{tag}{t}x")))
                })
                .collect();
            async move {
                for t in tasks {
                    t.await.expect("worker");
                }
            }
        };
        round(n / 10, "w").await;
        COUNTING.store(has("allocs"), Relaxed);
        let (cpu0, wall0) = (process_cpu(), Instant::now());
        round(n, "m").await;
        let (cpu, wall) = (process_cpu() - cpu0, wall0.elapsed());
        COUNTING.store(false, Relaxed);
        report(n, work.name(), threads, cpu, wall);
        if has("allocs") {
            let per = ALLOCATIONS.load(Relaxed) as f64 / n as f64;
            println!("{per:.2} heap allocations per operation (the harness's included)");
        }
        // Tearing down a store of n payouts is not the request path: keep it out of profiles.
        std::mem::forget(app);
    });
}
