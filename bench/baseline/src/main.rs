//! masspay-baseline: the yardstick of bench/run.sh (SPEC §8). A bare axum server answering the
//! sandbox's benchmarked routes with fixed JSON and no state. Same CLI shape as the sandbox for
//! the parts the bench uses: `--host H --port N` (0 = a free port), prints
//! `listening on http://ADDR` on stdout once it accepts connections, multi-thread runtime,
//! graceful stop on SIGINT/SIGTERM.

use std::io::Write;

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};

const HEALTH: &str = r#"{"status":"ok"}"#;

const BALANCES: &str = r#"[{"token":"clnt_wlt_ba4275f2-bae1-488d-9d6f-20af1cd83574","balance":250000,"currency_code":"USD"},{"token":"clnt_wlt_8bb3693f-2f98-43dd-a990-615b6a21596d","balance":1.938135,"currency_code":"BTC"},{"token":"clnt_wlt_5f0c2d1e-7a3b-4c8d-9e6f-1a2b3c4d5e6f","balance":42.5,"currency_code":"ETH"},{"token":"clnt_wlt_6a1d3e2f-8b4c-4d9e-8f70-2b3c4d5e6f70","balance":50000,"currency_code":"USDC"},{"token":"clnt_wlt_7b2e4f30-9c5d-4eaf-9081-3c4d5e6f7081","balance":50000,"currency_code":"USDT"},{"token":"clnt_wlt_8c3f5041-ad6e-4fb0-a192-4d5e6f708192","balance":310.25,"currency_code":"LTC"}]"#;

const USER: &str = r#"{"user_token":"usr_7b8a8b14-dc73-4b21-a5c4-dff946b3890d","status":"ACTIVE","created_on":"2026-01-01T00:00:00Z","internal_user_id":"u1","country":"USA","first_name":"John","last_name":"Doe","email":"jdoe@example.com","language":"en","timezone":"America/New_York"}"#;

const PAYOUT: &str = r#"{"payout_token":"payout_01ccc81e-134b-49b1-9d3d-35f46d9fda44","client_transfer_id":"","source_currency_code":"USD","destination_currency_code":"BTC","source_token":"clnt_wlt_ba4275f2-bae1-488d-9d6f-20af1cd83574","destination_token":"dst_d2138fd0-00be-45a8-985f-4f5bde500962","destination_amount":0.0001052,"source_amount":10,"attr_set_token":"attr_set_bde6b89c-b104-4fd5-b4d2-2d9213d2d4a1","exchange_rate":0.00001052,"fee":2.99,"expiration":"2026-01-01T00:02:00Z","pickup_code":"","status":"PENDING","payer_name":"Bitso Bitcoin","delivery_type":"CRYPTOCURRENCY","country_code":"MEX","estimated_availability":"2026-01-01T00:15:00Z"}"#;

const COMMIT: &str = r#"{"payout_token":"payout_01ccc81e-134b-49b1-9d3d-35f46d9fda44","status":"success"}"#;

fn fixed(body: &'static str) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

async fn health() -> Response {
    fixed(HEALTH)
}

async fn balance() -> Response {
    fixed(BALANCES)
}

/// Reads and parses the JSON body (as the sandbox must), then answers the fixed user.
async fn create_user(Json(_body): Json<serde_json::Value>) -> Response {
    fixed(USER)
}

async fn initiate(Path(_user): Path<String>, Json(_body): Json<serde_json::Value>) -> Response {
    fixed(PAYOUT)
}

async fn commit(Path((_user, _payout)): Path<(String, String)>) -> Response {
    fixed(COMMIT)
}

fn app() -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/v0.1.4/account/balance", get(balance))
        .route("/v0.1.4/user", post(create_user))
        .route("/v0.1.4/payout/{user_token}", post(initiate))
        .route("/v0.1.4/payout/{user_token}/{payout_token}", put(commit))
}

fn usage() -> ! {
    eprintln!("usage: masspay-baseline [--host HOST] [--port PORT]");
    std::process::exit(2);
}

fn main() {
    let mut host = String::from("127.0.0.1");
    let mut port: u16 = 8080;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (a.clone(), None),
        };
        let mut value = || inline.clone().or_else(|| args.next()).unwrap_or_else(|| usage());
        match flag.as_str() {
            "--host" => host = value(),
            "--port" => port = value().parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async move {
        // Signal handlers are installed before the port opens: a `Signal` registers when it is
        // created, whereas a shutdown future only registers when first polled (axum polls it in a
        // task of its own), which can be after the first request was answered. A SIGTERM sent
        // right after readiness must still stop the server gracefully.
        let shutdown = match shutdown_signal() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("masspay-baseline: cannot install signal handlers: {e}");
                std::process::exit(1);
            }
        };
        let listener = match tokio::net::TcpListener::bind((host.as_str(), port)).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("masspay-baseline: cannot listen on {host}:{port}: {e}");
                std::process::exit(1);
            }
        };
        let addr = listener.local_addr().expect("local addr");
        {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "listening on http://{addr}");
            let _ = out.flush();
        }
        axum::serve(listener, app())
            .with_graceful_shutdown(shutdown)
            .await
            .expect("serve");
    });
}

/// SIGINT or SIGTERM, with both handlers installed now (see `main`).
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {},
            _ = term.recv() => {},
        }
    })
}
