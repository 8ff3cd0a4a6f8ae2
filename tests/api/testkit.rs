//! The test kit (issue 14): verifying what a client sent (journal bodies, count/find,
//! expectations with near misses, strict mode) and waiting for requests and webhooks.

use std::time::{Duration, Instant};

use masspay_sandbox::Sandbox;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

/// A user with a BTC wallet and one committed 100 USD → BTC payout; (user, payout).
async fn paid_out(app: &TestApp) -> (String, String) {
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    let payout = app.pending_btc_payout(&user, "100").await;
    let c = app.commit(&user, &payout).await;
    assert_eq!(c.body["status"], "success", "{}", c.text);
    (user, payout)
}

#[tokio::test]
async fn the_journal_keeps_bodies_answers_operations_and_headers() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    let a = app
        .initiate(
            &user,
            "?limit=500",
            &format!(
                r#"{{"client_transfer_id":"order-1","source_currency_code":"USD","destination_currency_code":"BTC","source_token":"{USD_SOURCE}","destination_token":"{BTC_DESTINATION}","source_amount":100.50}}"#
            ),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let token = a.body["payout_token"].as_str().unwrap().to_string();

    let j = app.get("/_sandbox/requests?operation=initiatePayout").await;
    assert_eq!(j.status, 200, "{}", j.text);
    let entries = j.body.as_array().unwrap();
    assert_eq!(entries.len(), 1, "{}", j.text);
    let e = &entries[0];
    assert_eq!(e["method"], "POST");
    assert_eq!(e["path"], format!("/v0.1.4/payout/{user}"));
    assert_eq!(e["query"], "limit=500");
    assert_eq!(e["operation"], "initiatePayout");
    assert_eq!(e["status"], 200);
    assert_eq!(e["request_body"]["client_transfer_id"], "order-1");
    assert_eq!(e["request_body"]["source_amount"], json!(100.50));
    assert_eq!(e["response_body"]["payout_token"], token.as_str());
    assert_eq!(e["headers"]["content-type"], "application/json");
    assert!(
        e["headers"].get("authorization").is_none(),
        "the key is not journaled"
    );
    assert_eq!(e["injected"], false);
    assert!(e["seq"].as_u64().unwrap() >= 1);
}

#[tokio::test]
async fn a_body_over_2_kib_is_kept_cut_and_marked_with_its_whole_size() {
    let app = TestApp::spawn().await;
    // MassPay ignores fields it does not know: a 3,000-character one makes a body over 2 KiB.
    let mut user = seed_user("cut@example.com");
    user["note"] = json!("x".repeat(3000));
    let sent = serde_json::to_string(&user).unwrap();
    let created = app.post("/v0.1.4/user", user).await;
    assert_eq!(created.status, 200, "{}", created.text);

    let j = app.get("/_sandbox/requests?operation=createUser").await;
    let e = &j.body[0];
    assert_eq!(e["request_body_truncated"], true, "{}", j.text);
    assert_eq!(e["request_body_size"], sent.len());
    let kept = e["request_body"]
        .as_str()
        .expect("a cut JSON body is shown as text");
    assert_eq!(kept.len(), 2048);
    assert!(sent.starts_with(kept));
    // The answer is short: kept whole.
    assert_eq!(e["response_body"]["user_token"], created.body["user_token"]);
}

#[tokio::test]
async fn count_and_find_match_every_field_with_the_version_prefix_optional() {
    let app = TestApp::spawn().await;
    let (user, payout) = paid_out(&app).await;
    let count = |m: serde_json::Value| {
        let app = &app;
        async move {
            let a = app.post("/_sandbox/requests/count", m).await;
            assert_eq!(a.status, 200, "{}", a.text);
            a.body["count"].as_u64().unwrap()
        }
    };
    assert_eq!(count(json!({"method": "PUT"})).await, 1);
    assert_eq!(
        count(json!({"path": format!("/payout/{user}/{payout}")})).await,
        1
    );
    assert_eq!(
        count(json!({"path": format!("/v0.1.4/payout/{user}/{payout}")})).await,
        1
    );
    assert_eq!(
        count(json!({"path": format!("/v1.0.0/payout/{user}/{payout}")})).await,
        0
    );
    assert_eq!(
        count(json!({"path": {"matches": "/payout/usr_[^/]+/payout_.+"}})).await,
        1
    );
    assert_eq!(
        count(json!({"operation": "commitPayoutTxn", "status": 200})).await,
        1
    );
    assert_eq!(
        count(json!({"operation": "commitPayoutTxnV1"})).await,
        1,
        "the …V1 id names it too"
    );
    assert_eq!(
        count(json!({"body": {"destination_currency_code": "BTC", "source_amount": 100.00}})).await,
        1,
        "a JSON subset, amounts as exact decimals"
    );
    assert_eq!(count(json!({"body": {"source_amount": 101}})).await, 0);
    assert_eq!(
        count(json!({"matcher": {"method": "POST", "operation": "createUser"}})).await,
        1
    );

    let f = app
        .post(
            "/_sandbox/requests/find",
            json!({"operation": "initiatePayout"}),
        )
        .await;
    assert_eq!(f.status, 200, "{}", f.text);
    let found = f.body.as_array().unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["response_body"]["payout_token"], payout.as_str());

    // A bad matcher is a 400 naming the problem, in MassPay's error shape.
    let bad = app
        .post("/_sandbox/requests/count", json!({"verb": "GET"}))
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert!(bad.text.contains("verb"), "{}", bad.text);
    let bad = app
        .post(
            "/_sandbox/requests/count",
            json!({"operation": "payEveryone"}),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    let bad = app
        .post(
            "/_sandbox/requests/find",
            json!({"path": {"matches": "(["}}),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
}

#[tokio::test]
async fn expectations_verify_and_unmet_ones_list_near_misses() {
    let app = TestApp::spawn().await;
    let (user, payout) = paid_out(&app).await;
    let put = app
        .put(
            "/_sandbox/expectations",
            Some(json!([
                {"matcher": {"operation": "commitPayoutTxn", "path": format!("/payout/{user}/{payout}")}, "times": 1},
                {"matcher": {"operation": "initiatePayout"}, "times": {"min": 1, "max": 2}}
            ])),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    let v = app.post("/_sandbox/expectations/verify", json!({})).await;
    assert_eq!(v.status, 200, "{}", v.text);
    assert_eq!(v.body["verified"], true);

    // A second commit makes the first expectation fail (exactly once), and a new expectation
    // for a commit with another status has near misses: the commits, closest first.
    app.commit(&user, &payout).await;
    app.put(
        "/_sandbox/expectations",
        Some(json!({"expectations": [
            {"matcher": {"operation": "commitPayoutTxn"}, "times": 1},
            {"matcher": {"method": "PUT", "path": format!("/payout/{user}/{payout}"), "status": 404}}
        ]})),
    )
    .await;
    let v = app.post("/_sandbox/expectations/verify", json!({})).await;
    assert_eq!(v.status, 409, "{}", v.text);
    assert_eq!(v.body["code"], 409, "MassPay's error shape: {}", v.text);
    assert_eq!(v.body["verified"], false);
    let xs = v.body["expectations"].as_array().unwrap();
    assert_eq!(xs[0]["met"], false);
    assert_eq!(xs[0]["count"], 2);
    assert_eq!(xs[0]["matched"].as_array().unwrap().len(), 2);
    assert_eq!(xs[1]["met"], false);
    assert_eq!(xs[1]["count"], 0);
    let near = xs[1]["near_misses"].as_array().unwrap();
    assert!(!near.is_empty(), "{}", v.text);
    assert_eq!(near[0]["request"]["method"], "PUT");
    assert_eq!(
        near[0]["differences"],
        json!(["status: expected 404, got 200"]),
        "{}",
        v.text
    );

    let listed = app.get("/_sandbox/expectations").await;
    assert_eq!(listed.body["expectations"].as_array().unwrap().len(), 2);
    assert_eq!(app.delete("/_sandbox/expectations").await.status, 204);
    let v = app.post("/_sandbox/expectations/verify", json!({})).await;
    assert_eq!(
        v.status, 200,
        "no expectations, nothing unexpected: {}",
        v.text
    );

    let bad = app
        .put(
            "/_sandbox/expectations",
            Some(json!([{"matcher": {}, "times": {"min": 2, "max": 1}}])),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert!(bad.text.contains("expectation 0"), "{}", bad.text);
}

#[tokio::test]
async fn strict_mode_lists_what_the_client_should_not_have_sent_and_fails_verify() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    // Not strict yet: a 404 is not listed.
    let a = app
        .get(&format!(
            "/payout/{user}/payout_00000000-0000-4000-8000-000000000000"
        ))
        .await;
    assert_eq!(a.status, 404);
    let s = app
        .put("/_sandbox/strict", Some(json!({"strict": true})))
        .await;
    assert_eq!(s.status, 200, "{}", s.text);
    assert_eq!(s.body["strict"], true);

    // An answer a scenario forces is not the client's fault; a validation failure and a wrong
    // route are.
    let forced = app
        .send_as(
            &format!("Bearer {}", app.key),
            Method::GET,
            "/account/balance",
            None,
        )
        .await;
    assert_eq!(forced.status, 200);
    let forced = app
        .request(Method::GET, "/account/balance")
        .header("X-Sandbox-Scenario", "rate_limited")
        .send()
        .await
        .unwrap();
    assert_eq!(forced.status(), StatusCode::TOO_MANY_REQUESTS);
    let invalid = app.post("/user", json!({"first_name": "x"})).await;
    assert_eq!(invalid.status, 400);
    let wrong = app.get("/payouts/of/everyone").await;
    assert_eq!(wrong.status, 404);

    let u = app.get("/_sandbox/requests/unexpected").await;
    assert_eq!(u.status, 200, "{}", u.text);
    let list = u.body.as_array().unwrap();
    let statuses: Vec<u64> = list.iter().map(|e| e["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, vec![400, 404], "{}", u.text);
    assert_eq!(list[1]["path"], "/v0.1.4/payouts/of/everyone");
    assert_eq!(list[1]["operation"], serde_json::Value::Null);

    let v = app.post("/_sandbox/expectations/verify", json!({})).await;
    assert_eq!(v.status, 409, "{}", v.text);
    assert_eq!(v.body["unexpected"].as_array().unwrap().len(), 2);

    // With expectations declared, a request none of them covers is unexpected too.
    app.delete("/_sandbox/requests").await;
    app.put(
        "/_sandbox/expectations",
        Some(json!([{"operation": "getAccountBalance", "times": {"min": 0}}])),
    )
    .await;
    app.get("/account/balance").await;
    app.get(&format!("/user/{user}")).await;
    let u = app.get("/_sandbox/requests/unexpected").await;
    let list = u.body.as_array().unwrap();
    assert_eq!(list.len(), 1, "{}", u.text);
    assert_eq!(list[0]["operation"], "getUserByToken", "{}", u.text);

    // Strict mode off again: verify passes.
    app.put("/_sandbox/strict", Some(json!({"strict": false})))
        .await;
    let v = app.post("/_sandbox/expectations/verify", json!({})).await;
    assert_eq!(v.status, 200, "{}", v.text);
}

#[tokio::test]
async fn the_strict_flag_applies_to_every_tenant() {
    let app = TestApp::spawn_with(Sandbox::builder().strict(true)).await;
    let s = app.get("/_sandbox/strict").await;
    assert_eq!(s.body["strict"], true);
    app.post("/user", json!({})).await;
    let u = app.get("/_sandbox/requests/unexpected").await;
    assert_eq!(u.body.as_array().unwrap().len(), 1, "{}", u.text);
    let v = app.post("/_sandbox/expectations/verify", json!({})).await;
    assert_eq!(v.status, 409, "{}", v.text);
}

#[tokio::test]
async fn a_long_poll_on_the_journal_answers_when_the_request_arrives() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let waiter = {
        let app = app.same_tenant();
        tokio::spawn(async move {
            let t = Instant::now();
            let a = app
                .get("/_sandbox/requests?wait=5s&operation=getUserByToken&status=200")
                .await;
            (a, t.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.get(&format!("/user/{user}")).await;
    let (a, took) = waiter.await.unwrap();
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body.as_array().unwrap().len(), 1);
    assert!(
        took < Duration::from_secs(4),
        "answered at once, not at the deadline: {took:?}"
    );

    // Nothing arrives: 408 at the deadline, with what was seen.
    let t = Instant::now();
    let a = app.get("/_sandbox/requests?wait=300ms&method=DELETE").await;
    assert_eq!(a.status, 408, "{}", a.text);
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert!(!a.body["seen"].as_array().unwrap().is_empty(), "{}", a.text);
    let bad = app.get("/_sandbox/requests?wait=forever").await;
    assert_eq!(bad.status, 400, "{}", bad.text);
}

#[tokio::test]
async fn the_inbox_keeps_signed_deliveries_and_the_long_poll_waits_for_one() {
    let app = TestApp::spawn().await;
    let s = app
        .put("/_sandbox/webhook", Some(json!({"url": "inbox"})))
        .await;
    assert_eq!(s.status, 200, "{}", s.text);
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    let payout = app.pending_btc_payout(&user, "100").await;
    let waiter = {
        let app = app.same_tenant();
        let payout = payout.clone();
        tokio::spawn(async move {
            app.get(&format!(
                "/_sandbox/webhooks?wait=5s&payout_token={payout}&status=COMPLETED"
            ))
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.commit(&user, &payout).await;
    let a = waiter.await.unwrap();
    assert_eq!(a.status, 200, "{}", a.text);
    let list = a.body.as_array().unwrap();
    assert_eq!(list.len(), 1, "{}", a.text);
    let d = &list[0];
    assert_eq!(d["url"], "inbox");
    assert_eq!(d["state"], "delivered");
    assert_eq!(d["object_token"], payout.as_str());
    let body: serde_json::Value = serde_json::from_str(d["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["status"], "COMPLETED");
    let sig = d["signature"].as_str().expect("signed");
    assert!(sig.starts_with("t=") && sig.contains(",s="), "{sig}");

    let none = app
        .get(&format!(
            "/_sandbox/webhooks?wait=200ms&payout_token={payout}&status=ERROR"
        ))
        .await;
    assert_eq!(none.status, 408, "{}", none.text);
    assert_eq!(
        none.body["seen"].as_array().unwrap().len(),
        2,
        "{}",
        none.text
    );
}

#[tokio::test]
async fn library_mode_sees_received_requests_and_verifies_them() {
    let app = TestApp::spawn().await;
    let (user, payout) = paid_out(&app).await;
    let sandbox = &app.sandbox;
    let received = sandbox.received_requests();
    assert!(received
        .iter()
        .any(|r| r.path() == format!("/v0.1.4/payout/{user}/{payout}")));
    assert_eq!(sandbox.received_requests_of(&app.key).len(), received.len());
    assert!(sandbox.received_requests_of("nobody").is_empty());

    sandbox
        .verify(json!({"operation": "commitPayoutTxn"}))
        .times(1);
    sandbox.verify(json!({"method": "POST"})).between(3, 3);
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        sandbox
            .verify(json!({"operation": "commitPayoutTxn", "status": 409}))
            .times(1)
    }));
    let message = *failed.unwrap_err().downcast::<String>().unwrap();
    assert!(
        message.contains("expected exactly 1, matched 0"),
        "{message}"
    );
    assert!(
        message.contains("status: expected 409, got 200"),
        "{message}"
    );
}

#[tokio::test]
async fn library_mode_expectations_are_checked_on_drop() {
    let met = Sandbox::builder().start().await.unwrap();
    met.expect(json!({"operation": "getAccountBalance"}), json!({"max": 0}));
    drop(met); // no request: met, no panic

    let sandbox = Sandbox::builder().start().await.unwrap();
    sandbox.expect(json!({"operation": "getAccountBalance"}), 2);
    let client = reqwest::Client::new();
    client
        .get(format!("{}/v0.1.4/account/balance", sandbox.base_url()))
        .header("Authorization", "Bearer k")
        .send()
        .await
        .unwrap();
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(sandbox)));
    let message = *dropped.unwrap_err().downcast::<String>().unwrap();
    assert!(
        message.contains("expected exactly 2, matched 1"),
        "{message}"
    );
}

/// SPEC §9: a long poll waits at most 30 s. `wait=31s` (or 30001ms) is a 400 naming the limit on
/// both long-poll calls; `wait=30s` is accepted (the filters match at once, so nothing waits).
#[tokio::test]
async fn a_long_poll_waits_at_most_30_s() {
    let app = TestApp::spawn().await;
    app.put("/_sandbox/webhook", Some(json!({"url": "inbox"})))
        .await;
    let (_, payout) = paid_out(&app).await;
    for path in ["/_sandbox/requests", "/_sandbox/webhooks"] {
        for wait in ["31s", "30001ms", "31", "60s"] {
            let a = app.get(&format!("{path}?wait={wait}")).await;
            assert_mentions(&assert_error(&a, 400), &["at most 30 s"]);
        }
    }
    let t = Instant::now();
    let a = app
        .get("/_sandbox/requests?wait=30s&operation=commitPayoutTxn&status=200")
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body.as_array().unwrap().len(), 1, "{}", a.text);
    let a = app
        .get(&format!(
            "/_sandbox/webhooks?wait=30s&payout_token={payout}&status=COMPLETED"
        ))
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body.as_array().unwrap().len(), 1, "{}", a.text);
    let a = app.get("/_sandbox/requests?wait=30000ms&method=PUT").await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
}

/// SPEC §9: a cap on how many long polls wait at once, across all tenants
/// (`limits::MAX_LONG_POLLS`). With the cap held by two tenants' polls, a third tenant's long
/// poll is answered at once with a 429 in MassPay's shape saying so (never queued), a call
/// without `wait` still answers, and once the polls answer their places are free again.
#[tokio::test]
async fn long_polls_beyond_the_cap_are_refused_at_once_with_429() {
    use masspay_sandbox::limits::MAX_LONG_POLLS;
    let app = TestApp::spawn().await;
    let tenants = [app.same_tenant(), app.other_tenant()];
    let third = app.other_tenant();
    let waiters: Vec<_> = (0..MAX_LONG_POLLS)
        .map(|i| {
            let t = tenants[i % 2].same_tenant();
            tokio::spawn(async move {
                // A place may be held by the prober below for a moment: try again then.
                for _ in 0..500 {
                    let a = t
                        .get("/_sandbox/requests?wait=25s&operation=getAccountBalance")
                        .await;
                    if a.status != StatusCode::TOO_MANY_REQUESTS {
                        return a;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                panic!("never got a place");
            })
        })
        .collect();

    // Probe from the third tenant until every place is taken.
    let started = Instant::now();
    let refused = loop {
        let t = Instant::now();
        let a = third.get("/_sandbox/requests?wait=0ms").await;
        if a.status == StatusCode::TOO_MANY_REQUESTS {
            assert!(t.elapsed() < Duration::from_secs(2), "answered at once");
            break a;
        }
        assert_eq!(a.status, 408, "{}", a.text);
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the cap was never reached"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let errors = assert_error(&refused, 429);
    assert_mentions(
        &errors,
        &["too many long polls", &MAX_LONG_POLLS.to_string(), "retry"],
    );
    assert_eq!(refused.headers["retry-after"], "1");
    // The webhook log's long poll shares the cap; a call without wait does not take a place.
    let hooks = third.get("/_sandbox/webhooks?wait=1s").await;
    assert_error(&hooks, 429);
    assert_eq!(third.get("/_sandbox/requests").await.status, 200);
    assert_eq!(third.get("/_sandbox/webhooks").await.status, 200);

    // What they wait for arrives: every poll answers 200 and gives its place back.
    for t in &tenants {
        assert_eq!(t.get("/account/balance").await.status, 200);
    }
    for w in waiters {
        let a = w.await.unwrap();
        assert_eq!(a.status, 200, "{}", a.text);
    }
    let a = third.get("/_sandbox/requests?wait=100ms").await;
    assert_eq!(
        a.status, 408,
        "a place again, waited to its deadline: {}",
        a.text
    );
    assert_eq!(third.get("/account/balance").await.status, 200);
    let a = third
        .get("/_sandbox/requests?wait=2s&operation=getAccountBalance")
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
}

/// SPEC §6c: expectations and strict mode are per tenant and cleared by `POST /_sandbox/reset`
/// (strict mode goes back to following `--strict`), and another tenant's are untouched.
#[tokio::test]
async fn reset_clears_the_tenants_expectations_and_strict_mode() {
    let app = TestApp::spawn().await;
    let other = app.other_tenant();
    let expected = json!([{"matcher": {"operation": "commitPayoutTxn"}, "times": 1}]);
    for t in [&app, &other] {
        let a = t
            .put("/_sandbox/expectations", Some(expected.clone()))
            .await;
        assert_eq!(a.status, 200, "{}", a.text);
        let s = t
            .put("/_sandbox/strict", Some(json!({"strict": true})))
            .await;
        assert_eq!(s.body["strict"], true, "{}", s.text);
    }
    assert_eq!(
        app.send(Method::POST, "/_sandbox/reset", None).await.status,
        204
    );

    let e = app.get("/_sandbox/expectations").await;
    assert_eq!(e.status, 200, "{}", e.text);
    assert_eq!(e.body, json!({"expectations": []}), "{}", e.text);
    let s = app.get("/_sandbox/strict").await;
    assert_eq!(s.body, json!({"strict": false}), "{}", s.text);
    // Nothing left to fail verify: no expectation, and a 4xx now is not unexpected.
    assert_eq!(app.post("/user", json!({})).await.status, 400);
    let v = app.post("/_sandbox/expectations/verify", json!({})).await;
    assert_eq!(v.status, 200, "{}", v.text);
    assert_eq!(
        app.get("/_sandbox/requests/unexpected").await.body,
        json!([])
    );

    // The other tenant keeps both.
    let e = other.get("/_sandbox/expectations").await;
    assert_eq!(e.body, json!({"expectations": expected}), "{}", e.text);
    assert_eq!(other.get("/_sandbox/strict").await.body["strict"], true);

    // With --strict, a reset drops a tenant's "off" and strict mode follows the flag again.
    let strict = TestApp::spawn_with(Sandbox::builder().strict(true)).await;
    let s = strict
        .put("/_sandbox/strict", Some(json!({"strict": false})))
        .await;
    assert_eq!(s.body["strict"], false, "{}", s.text);
    strict.send(Method::POST, "/_sandbox/reset", None).await;
    assert_eq!(strict.get("/_sandbox/strict").await.body["strict"], true);
}

/// A long poll whose client goes away (here: a client-side timeout closing the connection)
/// frees its place at once, not at its own deadline: the cap cannot be held by dead clients.
#[tokio::test]
async fn a_long_poll_whose_client_goes_away_frees_its_place() {
    use masspay_sandbox::limits::MAX_LONG_POLLS;
    let app = TestApp::spawn().await;
    let gives_up_after = Duration::from_secs(4);
    let started = Instant::now();
    let waiters: Vec<_> = (0..MAX_LONG_POLLS)
        .map(|_| {
            let t = app.same_tenant();
            tokio::spawn(async move {
                while started.elapsed() < gives_up_after {
                    let sent = t
                        .request(Method::GET, "/_sandbox/requests?wait=25s&method=PATCH")
                        .timeout(gives_up_after.saturating_sub(started.elapsed()))
                        .send()
                        .await;
                    match sent {
                        Ok(r) if r.status() == StatusCode::TOO_MANY_REQUESTS => {
                            tokio::time::sleep(Duration::from_millis(10)).await
                        }
                        Ok(r) => panic!("answered {} before its deadline", r.status()),
                        Err(e) => {
                            assert!(e.is_timeout(), "{e}");
                            return;
                        }
                    }
                }
            })
        })
        .collect();
    // Every place is taken...
    loop {
        let a = app.get("/_sandbox/requests?wait=0ms").await;
        if a.status == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
        assert!(
            started.elapsed() < gives_up_after,
            "the cap was never reached"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // ...until the clients give up, well before the polls' own 25 s.
    for w in waiters {
        w.await.unwrap();
    }
    let freed = loop {
        let a = app.get("/_sandbox/requests?wait=0ms").await;
        if a.status == 408 {
            break started.elapsed();
        }
        assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS, "{}", a.text);
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(freed < Duration::from_secs(10), "freed after {freed:?}");
}

/// The operations called most take a direct way when nothing but the handler applies (no
/// Idempotency-Key, no scenario, no query string): what a client sees, and what the journal
/// keeps, is the same whichever way a request went.
#[tokio::test]
async fn the_direct_and_the_routed_way_answer_and_journal_alike() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    let body = |id: &str| btc_initiate_body(id, "20");
    // Direct: no key, no query.
    let direct = app.initiate(&user, "", &body("plain")).await;
    // Routed: an Idempotency-Key takes the full way.
    let routed = answer(
        app.request(Method::POST, &format!("/v0.1.4/payout/{user}"))
            .header("Idempotency-Key", "k-1")
            .header("Content-Type", "application/json")
            .body(body("keyed")),
    )
    .await;
    for a in [&direct, &routed] {
        assert_eq!(a.status, 200, "{}", a.text);
        assert_eq!(a.body["status"], "PENDING", "{}", a.text);
    }
    let keys = |a: &Answer| {
        let mut k: Vec<String> = a.body.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&direct), keys(&routed));

    let j = app.get("/_sandbox/requests?operation=initiatePayout").await;
    let entries = j.body.as_array().unwrap();
    assert_eq!(entries.len(), 2, "{}", j.text);
    for (e, (id, a)) in entries.iter().zip([("plain", &direct), ("keyed", &routed)]) {
        assert_eq!(e["operation"], "initiatePayout");
        assert_eq!(e["status"], 200);
        assert_eq!(e["request_body"]["client_transfer_id"], id, "{e}");
        assert_eq!(e["response_body"], a.body, "{e}");
        assert_eq!(e["headers"]["content-type"], "application/json");
    }

    // Commit: the direct way answers and journals too, a second commit of the same payout
    // included (MassPay's 200 naming the duplicate).
    let token = direct.body["payout_token"].as_str().unwrap();
    let c = app.commit(&user, token).await;
    assert_eq!(c.body["status"], "success", "{}", c.text);
    let again = app.commit(&user, token).await;
    assert_eq!(again.body["errors"], "Duplicate transfer", "{}", again.text);
    let j = app
        .get("/_sandbox/requests?operation=commitPayoutTxn")
        .await;
    let entries = j.body.as_array().unwrap();
    assert_eq!(entries.len(), 2, "{}", j.text);
    assert_eq!(entries[0]["response_body"], c.body);
    assert_eq!(entries[1]["response_body"], again.body);

    // A user created the direct way is journaled with its body, and a bad body is the same 400.
    let u = app.get("/_sandbox/requests?operation=createUser").await;
    let entries = u.body.as_array().unwrap();
    assert_eq!(entries.len(), 1, "{}", u.text);
    assert!(
        entries[0]["request_body"]["email"].is_string(),
        "{}",
        u.text
    );
    let bad = app
        .send_text(Method::POST, "/v0.1.4/user", "{\"email\": 5")
        .await;
    let bad_routed = answer(
        app.request(Method::POST, "/v0.1.4/user")
            .header("Idempotency-Key", "k-2")
            .body("{\"email\": 5"),
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert_eq!(bad.text, bad_routed.text);

    // The balance, read the direct way, is journaled with its answer.
    let b = app.get("/account/balance").await;
    assert_eq!(b.status, 200, "{}", b.text);
    let j = app
        .get("/_sandbox/requests?operation=getAccountBalance")
        .await;
    assert_eq!(j.body[0]["response_body"], b.body, "{}", j.text);
}
