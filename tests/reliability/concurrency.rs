//! Money invariants under concurrency (SPEC §8): many tokio tasks commit and re-commit payouts of
//! one tenant over HTTP at once. Whatever the interleaving: no balance ever below zero, each
//! payout debited at most once, final balances exact to the smallest unit, and the sum of the
//! debits equals start − end.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::Value;

use crate::helpers::*;

#[derive(Clone, Debug)]
struct Planned {
    user: String,
    token: String,
    currency: &'static str,
    debit: Decimal,
}

/// A random amount in cents `lo..=hi` that is not magic (cents 51–54 force outcomes).
fn plain_cents(rng: &mut Rng, lo: u64, hi: u64) -> u64 {
    let mut c = rng.range(lo, hi);
    if (51..=54).contains(&(c % 100)) {
        c += 10;
    }
    c
}

fn cents_text(c: u64) -> String {
    format!("{}.{:02}", c / 100, c % 100)
}

fn sats_text(s: u64) -> String {
    format!("{}.{:08}", s / 100_000_000, s % 100_000_000)
}

/// What a round found.
#[derive(Default)]
struct RoundStats {
    requests: u64,
    commits: u64,
    first_successes: u64,
    duplicates: u64,
    nsf: u64,
    replays: u64,
    conflicts: u64,
    observations: u64,
    violations: Vec<String>,
}

/// Initiates payouts in USD (→ BTC) and BTC (→ BTC) for a few users, lowers the balances below
/// the total demand, then commits every payout four times at once (two plain, two under one
/// Idempotency-Key) while two observers poll the balances. Checks every invariant at the end.
async fn hammer_one_tenant(app: App, seed: u64) -> RoundStats {
    let mut rng = Rng::new(seed);
    let mut st = RoundStats::default();
    let mut users = Vec::new();
    for _ in 0..3 {
        let u = app.create_user().await;
        app.store_btc_wallet(&u).await;
        users.push(u);
        st.requests += 2;
    }
    let mut plans: Vec<Planned> = Vec::new();
    for i in 0..70 {
        let user = users[i % users.len()].clone();
        let (source, currency, amount) = if i % 3 == 2 {
            // BTC → BTC: 0.0001 .. 0.02 BTC with all 8 decimals.
            (BTC_SOURCE, "BTC", sats_text(rng.range(10_000, 2_000_000)))
        } else {
            (
                USD_SOURCE,
                "USD",
                cents_text(plain_cents(&mut rng, 2_000, 60_000)),
            )
        };
        let a = app
            .initiate(&user, source, BTC_DESTINATION, "BTC", &amount)
            .await;
        st.requests += 1;
        assert_eq!(a.status, 200, "{}", a.text);
        assert_eq!(a.body["status"], "PENDING", "{}", a.text);
        let debit = number(&a.text, "source_amount") + number(&a.text, "fee");
        plans.push(Planned {
            user,
            token: a.body["payout_token"].as_str().unwrap().to_string(),
            currency,
            debit,
        });
    }
    // Fund only part of the demand, so that commits race for the last funds.
    let demand = |c: &str| {
        plans
            .iter()
            .filter(|p| p.currency == c)
            .map(|p| p.debit)
            .sum::<Decimal>()
    };
    let start_usd = round_half_up(demand("USD") * dec("0.45"), 2);
    let start_btc = round_half_up(demand("BTC") * dec("0.55"), 8);
    assert_eq!(
        app.set_balance("USD", &start_usd.to_string()).await.status,
        200
    );
    assert_eq!(
        app.set_balance("BTC", &start_btc.to_string()).await.status,
        200
    );
    st.requests += 2;

    // Observers: balances never negative and never rising (nothing credits during the hammer).
    let done = Arc::new(AtomicBool::new(false));
    let mut observers = Vec::new();
    for _ in 0..2 {
        let (app, done) = (app.clone(), done.clone());
        observers.push(tokio::spawn(async move {
            let mut seen = 0u64;
            let mut problems = Vec::new();
            let mut last: Option<(Decimal, Decimal)> = None;
            while !done.load(Ordering::Relaxed) {
                let a = app.get("/account/balance").await;
                seen += 1;
                let (usd, btc) = (balance_of(&a.text, "USD"), balance_of(&a.text, "BTC"));
                if usd < Decimal::ZERO || btc < Decimal::ZERO {
                    problems.push(format!("negative balance observed: USD {usd}, BTC {btc}"));
                }
                if let Some((lu, lb)) = last {
                    if usd > lu || btc > lb {
                        problems.push(format!(
                            "balance rose during commits: USD {lu}→{usd}, BTC {lb}→{btc}"
                        ));
                    }
                }
                last = Some((usd, btc));
            }
            (seen, problems)
        }));
    }

    // Four commit attempts per payout, shuffled, all in flight together.
    let mut attempts: Vec<(usize, bool)> = (0..plans.len())
        .flat_map(|i| [(i, false), (i, false), (i, true), (i, true)])
        .collect();
    rng.shuffle(&mut attempts);
    let barrier = Arc::new(tokio::sync::Barrier::new(attempts.len()));
    let mut tasks = Vec::new();
    for (i, keyed) in attempts {
        let (app, p, barrier) = (app.clone(), plans[i].clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut req = app.request(Method::PUT, &format!("/payout/{}/{}", p.user, p.token));
            if keyed {
                req = req.header("Idempotency-Key", format!("commit-{}", p.token));
            }
            (i, answer(req).await)
        }));
    }
    let mut by_payout: HashMap<usize, Vec<Answer>> = HashMap::new();
    for t in tasks {
        let (i, a) = t.await.expect("commit task");
        by_payout.entry(i).or_default().push(a);
        st.commits += 1;
    }
    st.requests += st.commits;
    done.store(true, Ordering::Relaxed);
    for o in observers {
        let (seen, problems) = o.await.expect("observer");
        st.observations += seen;
        st.violations.extend(problems);
    }
    st.requests += st.observations;

    // Per payout: at most one executed first success; the final status agrees.
    let state = app.state().await;
    st.requests += 1;
    let statuses: HashMap<String, String> = state["payouts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["payout_token"].as_str().unwrap().to_string(),
                p["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let end_usd = app.balance("USD").await;
    let end_btc = app.balance("BTC").await;
    st.requests += 2;
    let mut debited: HashMap<&str, Decimal> =
        HashMap::from([("USD", Decimal::ZERO), ("BTC", Decimal::ZERO)]);
    for (i, p) in plans.iter().enumerate() {
        let mut executed_successes = 0;
        for a in &by_payout[&i] {
            if a.status == 409 {
                assert_error(a, 409, "commit conflict");
                st.conflicts += 1;
                continue;
            }
            if a.status != 200 {
                st.violations.push(format!(
                    "{}: commit answered {}: {}",
                    p.token, a.status, a.text
                ));
                continue;
            }
            if a.replayed() {
                st.replays += 1;
                continue;
            }
            match (a.body["status"].as_str(), a.body["errors"].as_str()) {
                (Some("success"), None) => {
                    executed_successes += 1;
                    st.first_successes += 1;
                }
                (Some("success"), Some("Duplicate transfer")) => st.duplicates += 1,
                (Some("nsf"), _) => st.nsf += 1,
                _ => st
                    .violations
                    .push(format!("{}: unexpected commit answer {}", p.token, a.text)),
            }
        }
        let status = statuses
            .get(&p.token)
            .map(String::as_str)
            .unwrap_or("missing");
        match (executed_successes, status) {
            (1, "COMPLETED") => *debited.get_mut(p.currency).unwrap() += p.debit,
            (0, "PENDING") => {
                // It was refused for funds at some point; balances only fell since.
                let end = if p.currency == "USD" {
                    end_usd
                } else {
                    end_btc
                };
                if p.debit <= end {
                    st.violations.push(format!(
                        "{} left PENDING (nsf) although its debit {} fits the final {} balance {end}",
                        p.token, p.debit, p.currency
                    ));
                }
            }
            (n, s) => st.violations.push(format!(
                "{}: {n} executed first successes, status {s}",
                p.token
            )),
        }
    }
    for (currency, start, end, precision) in [
        ("USD", start_usd, end_usd, 2u32),
        ("BTC", start_btc, end_btc, 8),
    ] {
        if end < Decimal::ZERO {
            st.violations
                .push(format!("final {currency} balance {end} is negative"));
        }
        if end.normalize().scale() > precision {
            st.violations.push(format!(
                "final {currency} balance {end} is finer than {precision} decimals"
            ));
        }
        if start - end != debited[currency] {
            st.violations.push(format!(
                "{currency}: start {start} − end {end} = {} but the completed payouts debit {}",
                start - end,
                debited[currency]
            ));
        }
    }
    st
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hammered_commits_debit_each_payout_at_most_once_and_balances_stay_exact() {
    let server = Server::start().await;
    let bystander = server.tenant();
    let mut total = RoundStats::default();
    let mut rounds = 0u64;
    for round in 0..3u64 {
        // Two tenants hammered at the same time: each must come out exact on its own.
        let (a, b) = tokio::join!(
            hammer_one_tenant(server.tenant(), 1000 + round),
            hammer_one_tenant(server.tenant(), 2000 + round)
        );
        rounds += 2;
        for s in [a, b] {
            total.requests += s.requests;
            total.commits += s.commits;
            total.first_successes += s.first_successes;
            total.duplicates += s.duplicates;
            total.nsf += s.nsf;
            total.replays += s.replays;
            total.conflicts += s.conflicts;
            total.observations += s.observations;
            total.violations.extend(s.violations);
        }
    }
    // A tenant nobody touched still has the fixtures' balances.
    let a = bystander.get("/account/balance").await;
    for (c, v) in [("USD", "250000"), ("BTC", "1.938135")] {
        if balance_of(&a.text, c) != dec(v) {
            total
                .violations
                .push(format!("bystander {c} balance changed: {}", a.text));
        }
    }
    report(
        "concurrency::hammered_commits",
        &[
            ("tenants", rounds),
            ("requests", total.requests),
            ("commits", total.commits),
            ("first_successes", total.first_successes),
            ("duplicates", total.duplicates),
            ("nsf", total.nsf),
            ("replays", total.replays),
            ("conflicts_409", total.conflicts),
            ("balance_observations", total.observations),
            ("violations", total.violations.len() as u64),
        ],
    );
    assert!(total.violations.is_empty(), "{:#?}", total.violations);
}

/// Initiates and commits racing each other: 64 tasks each initiate a payout and commit it twice
/// (once under an Idempotency-Key, once plain) while the balance runs out. The sum of the debits
/// of the COMPLETED payouts is exactly start − end, and nothing is ever overdrawn.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_initiates_and_commits_never_overdraw() {
    let server = Server::start().await;
    let mut violations = Vec::new();
    let mut requests = 0u64;
    let mut completed_total = 0u64;
    for round in 0..3u64 {
        let app = server.tenant();
        let user = app.create_user().await;
        app.store_btc_wallet(&user).await;
        let start = dec("12000.00");
        assert_eq!(app.set_balance("USD", "12000.00").await.status, 200);
        requests += 3;
        let mut tasks = Vec::new();
        for t in 0..64u64 {
            let (app, user) = (app.clone(), user.clone());
            let mut rng = Rng::new(round * 1000 + t + 7);
            tasks.push(tokio::spawn(async move {
                let mut sent = 0u64;
                let amount = cents_text(plain_cents(&mut rng, 10_000, 80_000));
                let a = app
                    .initiate(&user, USD_SOURCE, BTC_DESTINATION, "BTC", &amount)
                    .await;
                sent += 1;
                let mut problems = Vec::new();
                if a.status != 200 {
                    problems.push(format!("initiate {amount}: {} {}", a.status, a.text));
                    return (sent, problems);
                }
                let token = a.body["payout_token"].as_str().unwrap_or("").to_string();
                if token == "NSF" {
                    return (sent, problems);
                }
                let path = format!("/payout/{user}/{token}");
                let keyed = answer(
                    app.request(Method::PUT, &path)
                        .header("Idempotency-Key", format!("k-{token}")),
                );
                let plain = app.commit(&user, &token);
                let (k, p) = tokio::join!(keyed, plain);
                sent += 2;
                for a in [k, p] {
                    if a.status != 200 && a.status != 409 {
                        problems.push(format!("commit: {} {}", a.status, a.text));
                    }
                }
                let b = app.balance("USD").await;
                sent += 1;
                if b < Decimal::ZERO {
                    problems.push(format!("balance {b} below zero"));
                }
                (sent, problems)
            }));
        }
        for t in tasks {
            let (sent, problems) = t.await.expect("task");
            requests += sent;
            violations.extend(problems);
        }
        let state = app.state().await;
        let end = app.balance("USD").await;
        requests += 2;
        let mut debited = Decimal::ZERO;
        for p in state["payouts"].as_array().unwrap() {
            let raw = p.to_string();
            match p["status"].as_str() {
                Some("COMPLETED") => {
                    debited += number(&raw, "source_amount") + number(&raw, "fee");
                    completed_total += 1;
                }
                Some("PENDING") => {}
                other => violations.push(format!("unexpected status {other:?}: {raw}")),
            }
        }
        if end < Decimal::ZERO || start - end != debited {
            violations.push(format!(
                "round {round}: start {start} − end {end} = {} ≠ debits {debited}",
                start - end
            ));
        }
        // Every stored payout appears once per user list too (no phantom or lost payouts).
        let list = app.get(&format!("/payout/{user}")).await;
        requests += 1;
        let listed: Vec<Value> = serde_json::from_str(&list.text).unwrap_or_default();
        if listed.len() != state["payouts"].as_array().unwrap().len() {
            violations.push(format!(
                "round {round}: user list has {} payouts, state {}",
                listed.len(),
                state["payouts"].as_array().unwrap().len()
            ));
        }
    }
    report(
        "concurrency::racing_initiates_and_commits",
        &[
            ("requests", requests),
            ("completed_payouts", completed_total),
            ("violations", violations.len() as u64),
        ],
    );
    assert!(violations.is_empty(), "{violations:#?}");
}

/// Uniqueness under races: N concurrent creates with one e-mail make one user (the rest 400),
/// and N concurrent initiates with one `client_transfer_id` make one payout (the rest answer
/// `DUPLICATE`) — nothing stored twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_duplicates_of_unique_fields_store_exactly_one() {
    const N: usize = 32;
    let server = Server::start().await;
    let mut violations = Vec::new();
    let mut sent = 0u64;
    for round in 0..4 {
        let app = server.tenant();
        let email = unique_email();
        let barrier = Arc::new(tokio::sync::Barrier::new(N));
        let tasks: Vec<_> = (0..N)
            .map(|i| {
                let (app, email, barrier) = (app.clone(), email.clone(), barrier.clone());
                tokio::spawn(async move {
                    let mut body = user_body(&email);
                    body["internal_user_id"] = serde_json::json!(format!("race-{i}"));
                    barrier.wait().await;
                    app.post("/user", &body).await
                })
            })
            .collect();
        let mut created = 0;
        for t in tasks {
            let a = t.await.expect("task");
            match a.status {
                200 => created += 1,
                400 => {
                    assert_error(&a, 400, "duplicate e-mail");
                }
                s => violations.push(format!("round {round} create: {s} {}", a.text)),
            }
        }
        sent += N as u64;
        let users = app.state().await["users"].as_array().unwrap().len();
        if created != 1 || users != 1 {
            violations.push(format!(
                "round {round}: {created} creates answered 200, {users} users stored"
            ));
        }
        let user = app.state().await["users"][0]["user_token"]
            .as_str()
            .unwrap()
            .to_string();
        app.store_btc_wallet(&user).await;

        let body = format!(
            r#"{{"client_transfer_id":"race-{round}","destination_currency_code":"BTC","source_token":"{USD_SOURCE}","destination_token":"{BTC_DESTINATION}","source_amount":42}}"#
        );
        let barrier = Arc::new(tokio::sync::Barrier::new(N));
        let tasks: Vec<_> = (0..N)
            .map(|_| {
                let (app, body, user, barrier) =
                    (app.clone(), body.clone(), user.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    app.send_text(Method::POST, &format!("/payout/{user}"), &body)
                        .await
                })
            })
            .collect();
        let (mut fresh, mut duplicates) = (0, 0);
        for t in tasks {
            let a = t.await.expect("task");
            match (a.status, a.body["payout_token"].as_str()) {
                (200, Some("DUPLICATE")) => duplicates += 1,
                (200, Some(t)) if t.starts_with("payout_") => fresh += 1,
                _ => violations.push(format!("round {round} initiate: {} {}", a.status, a.text)),
            }
        }
        sent += N as u64 + 4;
        let payouts = app.state().await["payouts"].as_array().unwrap().len();
        if fresh != 1 || duplicates != N - 1 || payouts != 1 {
            violations.push(format!(
                "round {round}: {fresh} payouts created, {duplicates} DUPLICATE, {payouts} stored"
            ));
        }
    }
    report(
        "concurrency::racing_unique_fields",
        &[("requests", sent), ("violations", violations.len() as u64)],
    );
    assert!(violations.is_empty(), "{violations:#?}");
}
