//! Idempotency-Key (SPEC §4, §4b): same key + same request → the first answer replayed byte for
//! byte with `Idempotent-Replayed: true` and no second effect; same key + different request →
//! 422; a duplicate while the first is in flight → 409; never executed twice; scoped per tenant
//! (and method and path); refused and fault-injected answers are not stored.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

/// Sends `body` (JSON text) with an Idempotency-Key (and optional extra headers).
async fn keyed(
    app: &App,
    method: Method,
    path: &str,
    key: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> Answer {
    let mut req = app.request(method, path).header("Idempotency-Key", key);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req
            .header("Content-Type", "application/json")
            .body(b.to_string());
    }
    answer(req).await
}

fn count(state: &Value, what: &str) -> usize {
    state[what].as_array().map_or(0, Vec::len)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_key_and_request_replays_the_first_answer_byte_for_byte_without_a_second_effect() {
    let server = Server::start().await;
    let app = server.tenant();

    // createUser: the replay is the first answer's bytes, marked; one user exists.
    let email = unique_email();
    let body = user_body(&email).to_string();
    let first = keyed(&app, Method::POST, "/user", "create-1", Some(&body), &[]).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert!(!first.replayed(), "a first execution is not a replay");
    let again = keyed(&app, Method::POST, "/user", "create-1", Some(&body), &[]).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert!(
        again.replayed(),
        "no Idempotent-Replayed: true on the retry"
    );
    assert_eq!(
        again.bytes, first.bytes,
        "the replay differs from the first answer"
    );
    // JSON-equal (other key order, whitespace) is the same request.
    let mut reordered: Vec<(String, Value)> = user_body(&email)
        .as_object()
        .unwrap()
        .clone()
        .into_iter()
        .collect();
    reordered.reverse();
    let reordered = format!(
        "{{ {} }}",
        reordered
            .iter()
            .map(|(k, v)| format!("{k:?} : {v}"))
            .collect::<Vec<_>>()
            .join(" ,\n ")
    );
    let same = keyed(
        &app,
        Method::POST,
        "/user",
        "create-1",
        Some(&reordered),
        &[],
    )
    .await;
    assert!(
        same.replayed(),
        "a JSON-equal body is not replayed: {}",
        same.text
    );
    assert_eq!(same.bytes, first.bytes);
    let user = first.body["user_token"].as_str().unwrap().to_string();
    assert_eq!(
        count(&app.state().await, "users"),
        1,
        "the retry created a user"
    );
    app.store_btc_wallet(&user).await;

    // initiatePayout: one payout however often it is retried ("100.50" and "100.5" are equal).
    let path = format!("/payout/{user}");
    let b1 = payout_body(USD_SOURCE, BTC_DESTINATION, "BTC", "100.50");
    let b2 = payout_body(USD_SOURCE, BTC_DESTINATION, "BTC", "100.5");
    let p1 = keyed(&app, Method::POST, &path, "init-1", Some(&b1), &[]).await;
    assert_eq!(p1.status, 200, "{}", p1.text);
    let p2 = keyed(&app, Method::POST, &path, "init-1", Some(&b2), &[]).await;
    assert!(p2.replayed(), "{}", p2.text);
    assert_eq!(p2.bytes, p1.bytes);
    assert_eq!(
        count(&app.state().await, "payouts"),
        1,
        "the retry created a payout"
    );
    let payout = p1.body["payout_token"].as_str().unwrap().to_string();

    // commitPayoutTxn: the retry replays the first success (no "Duplicate transfer"), debits once.
    let before = app.balance("USD").await;
    let commit = format!("/payout/{user}/{payout}");
    let c1 = keyed(&app, Method::PUT, &commit, "commit-1", None, &[]).await;
    assert_eq!(c1.body["status"], "success", "{}", c1.text);
    assert!(
        c1.body.get("errors").is_none_or(Value::is_null),
        "{}",
        c1.text
    );
    for _ in 0..3 {
        let c = keyed(&app, Method::PUT, &commit, "commit-1", None, &[]).await;
        assert!(c.replayed(), "{}", c.text);
        assert_eq!(c.bytes, c1.bytes, "the commit replay differs");
    }
    // A retry without the key is a fresh call: answered "Duplicate transfer", still no debit.
    let plain = app.commit(&user, &payout).await;
    assert_eq!(plain.body["status"], "success", "{}", plain.text);
    assert_eq!(plain.body["errors"], "Duplicate transfer", "{}", plain.text);
    let after = app.balance("USD").await;
    assert_eq!(
        before - after,
        dec("103.49"),
        "debited {} instead of 103.49 once",
        before - after
    );
    report(
        "idempotency::replays_byte_for_byte",
        &[("requests", server.sent()), ("violations", 0)],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_key_with_a_different_request_is_a_422_in_masspay_shape_without_effect() {
    let server = Server::start().await;
    let app = server.tenant();
    let email = unique_email();
    let body = user_body(&email).to_string();
    let first = keyed(&app, Method::POST, "/user", "k-422", Some(&body), &[]).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let user = first.body["user_token"].as_str().unwrap().to_string();
    let before = app.state_without_clock().await;

    let other = user_body(&unique_email()).to_string();
    let a = keyed(&app, Method::POST, "/user", "k-422", Some(&other), &[]).await;
    assert_error(&a, 422, "different body");
    assert!(!a.replayed());
    let a = keyed(&app, Method::POST, "/user", "k-422", Some("{}"), &[]).await;
    assert_error(&a, 422, "empty object body");
    // A different query is a different request too.
    let a = keyed(&app, Method::POST, "/user?x=1", "k-422", Some(&body), &[]).await;
    assert_error(&a, 422, "different query");

    // Same for payouts: a different amount under the same key creates nothing.
    app.store_btc_wallet(&user).await;
    let path = format!("/payout/{user}");
    let p = keyed(
        &app,
        Method::POST,
        &path,
        "p-422",
        Some(&payout_body(USD_SOURCE, BTC_DESTINATION, "BTC", "10")),
        &[],
    )
    .await;
    assert_eq!(p.status, 200, "{}", p.text);
    let before_payouts = app.state_without_clock().await;
    let a = keyed(
        &app,
        Method::POST,
        &path,
        "p-422",
        Some(&payout_body(USD_SOURCE, BTC_DESTINATION, "BTC", "11")),
        &[],
    )
    .await;
    assert_error(&a, 422, "different amount");
    assert_eq!(
        app.state_without_clock().await,
        before_payouts,
        "a 422 changed state"
    );
    // The original request still replays.
    let r = keyed(&app, Method::POST, "/user", "k-422", Some(&body), &[]).await;
    assert!(r.replayed());
    assert_eq!(r.bytes, first.bytes);
    assert_eq!(count(&before, "users"), 1);
    report(
        "idempotency::mismatch_is_422",
        &[("requests", server.sent()), ("violations", 0)],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_scoped_per_tenant_method_and_path() {
    let server = Server::start().await;
    let a = server.tenant();
    let b = server.tenant();
    let body = user_body(&unique_email()).to_string();
    let ra = keyed(&a, Method::POST, "/user", "shared-key", Some(&body), &[]).await;
    let rb = keyed(&b, Method::POST, "/user", "shared-key", Some(&body), &[]).await;
    assert_eq!(ra.status, 200, "{}", ra.text);
    assert_eq!(rb.status, 200, "{}", rb.text);
    assert!(!rb.replayed(), "tenant B got tenant A's stored answer");
    assert_ne!(ra.body["user_token"], rb.body["user_token"]);
    assert_eq!(count(&a.state().await, "users"), 1);
    assert_eq!(count(&b.state().await, "users"), 1);
    // B's user is invisible to A (the replay did not leak across tenants either).
    let u_b = rb.body["user_token"].as_str().unwrap();
    assert_eq!(a.get(&format!("/user/{u_b}")).await.status, 404);

    // Same key on another path and another method: separate requests.
    let u_a = ra.body["user_token"].as_str().unwrap().to_string();
    a.store_btc_wallet(&u_a).await;
    let u2 = a.create_user().await;
    a.store_btc_wallet(&u2).await;
    let pb = payout_body(USD_SOURCE, BTC_DESTINATION, "BTC", "10");
    let p1 = keyed(
        &a,
        Method::POST,
        &format!("/payout/{u_a}"),
        "k",
        Some(&pb),
        &[],
    )
    .await;
    let p2 = keyed(
        &a,
        Method::POST,
        &format!("/payout/{u2}"),
        "k",
        Some(&pb),
        &[],
    )
    .await;
    assert_eq!(p1.status, 200, "{}", p1.text);
    assert_eq!(p2.status, 200, "{}", p2.text);
    assert!(!p2.replayed(), "another path shared the key");
    let update = user_body(&unique_email());
    let mut update = update.as_object().unwrap().clone();
    update.insert("status".into(), json!("ACTIVE"));
    let up = keyed(
        &a,
        Method::PUT,
        &format!("/user/{u_a}"),
        "shared-key",
        Some(&Value::Object(update).to_string()),
        &[],
    )
    .await;
    assert_eq!(up.status, 200, "{}", up.text);
    assert!(!up.replayed(), "another method/path shared the key");
    assert_eq!(count(&a.state().await, "payouts"), 2);
    report(
        "idempotency::scoped_per_tenant_method_path",
        &[("requests", server.sent()), ("violations", 0)],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_and_fault_injected_answers_are_not_stored() {
    let server = Server::start().await;
    let app = server.tenant();
    let email = unique_email();
    let good = user_body(&email).to_string();
    let mut bad = user_body(&email);
    bad["country"] = json!("us");
    let bad = bad.to_string();

    // A validation 400 is not stored: the same bad request runs again (400, not a replay), and
    // the corrected request under the same key runs (not 422).
    let r = keyed(&app, Method::POST, "/user", "k1", Some(&bad), &[]).await;
    assert_error(&r, 400, "bad country");
    let r = keyed(&app, Method::POST, "/user", "k1", Some(&bad), &[]).await;
    assert_error(&r, 400, "bad country again");
    assert!(!r.replayed());
    let r = keyed(&app, Method::POST, "/user", "k1", Some(&good), &[]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(!r.replayed());

    // Injected 503 and 429 are not stored: the retry executes.
    let mut executed = 0;
    for (scenario, code) in [("server_error", 503u16), ("rate_limited", 429)] {
        let key = format!("k-{scenario}");
        let body = user_body(&unique_email()).to_string();
        let r = keyed(
            &app,
            Method::POST,
            "/user",
            &key,
            Some(&body),
            &[("X-Sandbox-Scenario", scenario)],
        )
        .await;
        assert_error(&r, code, scenario);
        let r = keyed(&app, Method::POST, "/user", &key, Some(&body), &[]).await;
        assert_eq!(r.status, 200, "retry after {scenario}: {}", r.text);
        assert!(!r.replayed(), "the injected {code} was stored");
        executed += 1;
    }
    // Auth failures are not stored either (and do not reach any tenant).
    let body = user_body(&unique_email()).to_string();
    let r = answer(
        server
            .client
            .post(app.url("/user"))
            .header("Idempotency-Key", "k-auth")
            .body(body.clone()),
    )
    .await;
    assert_error(&r, 401, "no Authorization");
    let r = keyed(&app, Method::POST, "/user", "k-auth", Some(&body), &[]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(!r.replayed());
    assert_eq!(count(&app.state().await, "users"), 2 + executed);
    report(
        "idempotency::refusals_not_stored",
        &[("requests", server.sent() + 1), ("violations", 0)],
    );
}

/// SPEC §4b: "A duplicate arriving while the first is in flight → 409, not stored." The first
/// request is kept in flight by the `slow` scenario (+250 ms); the duplicate arrives 100 ms in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_arriving_while_the_first_is_in_flight_is_a_409() {
    let server = Server::start().await;
    let app = server.tenant();
    let body = user_body(&unique_email()).to_string();
    let first = {
        let app = app.clone();
        let body = body.clone();
        tokio::spawn(async move {
            keyed(
                &app,
                Method::POST,
                "/user",
                "in-flight",
                Some(&body),
                &[("X-Sandbox-Scenario", "slow")],
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let dup = keyed(&app, Method::POST, "/user", "in-flight", Some(&body), &[]).await;
    let first = first.await.unwrap();
    assert_eq!(first.status, 200, "{}", first.text);
    assert!(
        !first.replayed(),
        "the first request was answered with a replay of its own duplicate"
    );
    assert_error(&dup, 409, "duplicate while in flight");
    assert_eq!(count(&app.state().await, "users"), 1);
}

/// What N concurrent sends of one keyed request produced.
#[derive(Default, Debug)]
struct Tally {
    executed: usize,
    replayed: usize,
    conflicts: usize,
    mismatches: usize,
    other: Vec<String>,
    bodies: HashSet<Vec<u8>>,
}

fn tally(answers: &[Answer]) -> Tally {
    let mut t = Tally::default();
    for a in answers {
        match a.status {
            200 if a.replayed() => {
                t.replayed += 1;
                t.bodies.insert(a.bytes.clone());
            }
            200 => {
                t.executed += 1;
                t.bodies.insert(a.bytes.clone());
            }
            409 => {
                assert_error(a, 409, "concurrent duplicate");
                t.conflicts += 1;
            }
            422 => {
                assert_error(a, 422, "concurrent mismatch");
                t.mismatches += 1;
            }
            s => t.other.push(format!("{s}: {}", a.text)),
        }
    }
    t
}

async fn fire(
    app: &App,
    n: usize,
    method: Method,
    path: &str,
    key: &str,
    bodies: Vec<Option<String>>,
    headers: &[(&'static str, &'static str)],
) -> Vec<Answer> {
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(n));
    let mut tasks = Vec::new();
    for i in 0..n {
        let (app, method, path, key) = (
            app.clone(),
            method.clone(),
            path.to_string(),
            key.to_string(),
        );
        let body = bodies[i % bodies.len()].clone();
        let headers = headers.to_vec();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            keyed(&app, method, &path, &key, body.as_deref(), &headers).await
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("task"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_identical_requests_with_one_key_execute_exactly_once() {
    const N: usize = 32;
    let server = Server::start().await;
    let mut sent = 0u64;
    let (mut replays, mut conflicts) = (0usize, 0usize);
    let mut violations = Vec::new();
    for round in 0..6 {
        // Every other round all N sleep 250 ms in the `slow` scenario and then race together.
        let headers: &[(&str, &str)] = if round % 2 == 1 {
            &[("X-Sandbox-Scenario", "slow")]
        } else {
            &[]
        };
        let app = server.tenant();
        let key = format!("race-{round}");

        // createUser
        let body = user_body(&unique_email()).to_string();
        let answers = fire(
            &app,
            N,
            Method::POST,
            "/user",
            &key,
            vec![Some(body)],
            headers,
        )
        .await;
        let t = tally(&answers);
        sent += N as u64;
        let users = count(&app.state().await, "users");
        if t.executed != 1
            || users != 1
            || t.bodies.len() != 1
            || !t.other.is_empty()
            || t.mismatches > 0
        {
            violations.push(format!("round {round} createUser: {t:?}, users={users}"));
        }
        replays += t.replayed;
        conflicts += t.conflicts;
        let user = app.state().await["users"][0]["user_token"]
            .as_str()
            .unwrap()
            .to_string();
        app.store_btc_wallet(&user).await;

        // initiatePayout
        let body = payout_body(USD_SOURCE, BTC_DESTINATION, "BTC", "250.25");
        let answers = fire(
            &app,
            N,
            Method::POST,
            &format!("/payout/{user}"),
            &key,
            vec![Some(body)],
            headers,
        )
        .await;
        let t = tally(&answers);
        sent += N as u64;
        let payouts = count(&app.state().await, "payouts");
        if t.executed != 1 || payouts != 1 || t.bodies.len() != 1 || !t.other.is_empty() {
            violations.push(format!(
                "round {round} initiatePayout: {t:?}, payouts={payouts}"
            ));
        }
        replays += t.replayed;
        conflicts += t.conflicts;
        let payout = app.state().await["payouts"][0]["payout_token"]
            .as_str()
            .unwrap()
            .to_string();

        // commitPayoutTxn: debited exactly once.
        let before = app.balance("USD").await;
        let answers = fire(
            &app,
            N,
            Method::PUT,
            &format!("/payout/{user}/{payout}"),
            &key,
            vec![None],
            headers,
        )
        .await;
        let t = tally(&answers);
        sent += N as u64;
        let debited = before - app.balance("USD").await;
        if t.executed != 1 || t.bodies.len() != 1 || !t.other.is_empty() || debited != dec("253.24")
        {
            violations.push(format!("round {round} commit: {t:?}, debited={debited}"));
        }
        for a in answers.iter().filter(|a| a.status == 200) {
            if a.body["status"] != "success" || !a.body.get("errors").is_none_or(Value::is_null) {
                violations.push(format!("round {round} commit answer: {}", a.text));
            }
        }
        replays += t.replayed;
        conflicts += t.conflicts;
    }
    report(
        "idempotency::concurrent_identical_execute_once",
        &[
            ("requests", sent),
            ("replays", replays as u64),
            ("conflicts_409", conflicts as u64),
            ("violations", violations.len() as u64),
        ],
    );
    assert!(violations.is_empty(), "{violations:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_different_requests_with_one_key_execute_once_and_the_rest_are_422() {
    const N: usize = 24;
    let server = Server::start().await;
    let mut violations = Vec::new();
    let mut sent = 0u64;
    for round in 0..4 {
        let app = server.tenant();
        let bodies: Vec<Option<String>> = (0..N)
            .map(|_| Some(user_body(&unique_email()).to_string()))
            .collect();
        let answers = fire(&app, N, Method::POST, "/user", "one-key", bodies, &[]).await;
        sent += N as u64;
        let t = tally(&answers);
        let users = count(&app.state().await, "users");
        // Different bodies never replay each other: one runs, the others are 422 (or 409 if
        // they are judged while it runs — never a second execution).
        if t.executed != 1 || users != 1 || t.replayed != 0 || !t.other.is_empty() {
            violations.push(format!("round {round}: {t:?}, users={users}"));
        }
    }
    report(
        "idempotency::concurrent_different_bodies",
        &[("requests", sent), ("violations", violations.len() as u64)],
    );
    assert!(violations.is_empty(), "{violations:#?}");
}
