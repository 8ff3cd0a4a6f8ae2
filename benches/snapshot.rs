//! Snapshot and restore of a tenant holding 10 000 payouts (issue 14: each < 50 ms), through the
//! admin API in-process (`api::app` as a `tower::Service`, no sockets), and the state file's
//! save and load of that sandbox. Prints the median and the worst of the repetitions.
//!
//! `cargo bench --bench snapshot [-- PAYOUTS]` (default 10,000 payouts, half of them committed).

use std::time::{Duration, Instant};

use masspay_sandbox::{api, build_state, Config};

#[path = "support/inproc.rs"]
mod inproc;
use inproc::{call, field, funded_payer, initiate_body};

const REPEAT: usize = 21;

/// Median and worst of the runs.
fn spread(mut all: Vec<Duration>) -> (Duration, Duration) {
    all.sort();
    (all[all.len() / 2], all[all.len() - 1])
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000);
    let dir = std::env::temp_dir().join(format!("masspay-snapshot-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("state.json");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let config = Config {
            state_file: Some(file.clone()),
            ..Config::default()
        };
        let state = build_state(&config).expect("state");
        let store = std::sync::Arc::clone(&state.store);
        let mut app = api::app(state);
        let user = funded_payer(&mut app).await;
        for i in 0..n {
            let body = initiate_body(&format!("c{i}"));
            let (status, answer) =
                call(&mut app, "POST", &format!("/v0.1.4/payout/{user}"), body).await;
            assert_eq!(status, 200, "{answer:?}");
            if i % 2 == 0 {
                let token = field(&answer, "payout_token");
                let path = format!("/v0.1.4/payout/{user}/{token}");
                assert_eq!(call(&mut app, "PUT", &path, String::new()).await.0, 200);
            }
        }
        let tenant = store.tenant("bench").expect("tenant");
        assert_eq!(tenant.all_payouts().len(), n);
        drop(tenant);

        let (mut snaps, mut restores) = (Vec::new(), Vec::new());
        for _ in 0..REPEAT {
            let t = Instant::now();
            let (status, answer) = call(
                &mut app,
                "POST",
                "/_sandbox/snapshots",
                r#"{"name":"cp"}"#.into(),
            )
            .await;
            snaps.push(t.elapsed());
            assert_eq!(status, 201, "{answer:?}");
            let t = Instant::now();
            let path = "/_sandbox/snapshots/cp/restore";
            let (status, answer) = call(&mut app, "POST", path, String::new()).await;
            restores.push(t.elapsed());
            assert_eq!(status, 200, "{answer:?}");
        }
        let ((snap_median, snap_worst), (restore_median, restore_worst)) =
            (spread(snaps), spread(restores));
        let restored = store.tenant("bench").expect("tenant");
        assert_eq!(restored.all_payouts().len(), n, "restored every payout");
        println!("{n} payouts, median (worst) of {REPEAT}:");
        println!(
            "  POST /_sandbox/snapshots              {} ({})",
            ms(snap_median),
            ms(snap_worst)
        );
        println!(
            "  POST /_sandbox/snapshots/cp/restore   {} ({})",
            ms(restore_median),
            ms(restore_worst)
        );

        let t = Instant::now();
        let saved = store.save_state_file().expect("saved");
        let save = t.elapsed();
        let t = Instant::now();
        let mut fresh = Config {
            state_file: Some(file.clone()),
            ..Config::default()
        };
        fresh.port = 0;
        let loaded = build_state(&fresh).expect("loads");
        let load = t.elapsed();
        assert_eq!(
            loaded
                .store
                .tenant("bench")
                .expect("tenant")
                .all_payouts()
                .len(),
            n
        );
        println!(
            "  state file: save {} ({} bytes, {} B per payout), start-up with it {}",
            ms(save),
            saved.bytes,
            saved.bytes / n.max(1) as u64,
            ms(load)
        );
    });
    let _ = std::fs::remove_dir_all(&dir);
}
