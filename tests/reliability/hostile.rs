//! Hostile input (SPEC §3, §4b, §8): malformed, truncated, deeply nested and wrong-typed JSON,
//! invalid UTF-8, huge and malformed numbers, bad path tokens, unknown and duplicate query
//! parameters, header abuse, oversized bodies and wrong Content-Types. Every answer is a clear
//! 4xx in MassPay's error shape (code/title/message/Exception/Errors) — never a 5xx, never a
//! panic, never a partial write — and the server stays healthy. Then 12 000 generated bad
//! requests across every served route and the admin routes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use reqwest::header::{HeaderName, HeaderValue};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

/// A tenant with a user (BTC wallet stored) and a PENDING payout: valid path parameters.
struct Fixture {
    server: Server,
    app: App,
    user: String,
    payout: String,
}

async fn fixture() -> Fixture {
    let server = Server::start().await;
    let app = server.tenant();
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    let payout = app
        .pending_payout(&user, USD_SOURCE, BTC_DESTINATION, "BTC", "10")
        .await;
    Fixture {
        server,
        app,
        user,
        payout,
    }
}

/// Every route that reads a JSON body, with a valid body for it.
fn body_routes(f: &Fixture) -> Vec<(Method, String, String)> {
    let mut update = user_body(&unique_email());
    update["status"] = json!("ACTIVE");
    vec![
        (
            Method::POST,
            "/user".into(),
            user_body(&unique_email()).to_string(),
        ),
        (Method::PUT, format!("/user/{}", f.user), update.to_string()),
        (
            Method::POST,
            format!("/attribute/{}/{BTC_DESTINATION}/BTC", f.user),
            json!({"values": [{"token": BTC_WALLET_ATTR, "value": BTC_ADDRESS}]}).to_string(),
        ),
        (
            Method::POST,
            format!("/payout/{}", f.user),
            payout_body(USD_SOURCE, BTC_DESTINATION, "BTC", "10"),
        ),
        (
            Method::PUT,
            "/_sandbox/balance".into(),
            r#"{"currency_code":"USD","balance":"250000"}"#.into(),
        ),
        (
            Method::POST,
            "/_sandbox/clock/advance".into(),
            r#"{"seconds":0}"#.into(),
        ),
        (
            Method::PUT,
            "/_sandbox/scenario".into(),
            r#"{"scenarios":[]}"#.into(),
        ),
        (
            Method::PUT,
            "/_sandbox/webhook".into(),
            r#"{"url":"http://127.0.0.1:9/hook"}"#.into(),
        ),
    ]
}

async fn send_raw_body(
    app: &App,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Answer {
    let mut req = app.request(method, path).body(body);
    if let Some(ct) = content_type {
        req = req.header("Content-Type", ct);
    }
    answer(req).await
}

/// Sends each `(method, path, body)` and requires a 400 in MassPay's shape; returns the count.
async fn expect_400s(
    app: &App,
    cases: &[(Method, String, Vec<u8>)],
    violations: &mut Vec<String>,
) -> u64 {
    for (method, path, body) in cases {
        let a = send_raw_body(
            app,
            method.clone(),
            path,
            Some("application/json"),
            body.clone(),
        )
        .await;
        if let Some(p) = shape_problem(a.status, a.header("content-type"), &a.bytes, 400) {
            violations.push(format!(
                "{method} {path} {:?}: {p}",
                String::from_utf8_lossy(&body[..body.len().min(120)])
            ));
        }
    }
    cases.len() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_truncated_and_wrong_typed_json_is_a_400_without_partial_writes() {
    let f = fixture().await;
    let before = f.app.state_without_clock().await;
    let mut cases: Vec<(Method, String, Vec<u8>)> = Vec::new();
    let malformed: &[&str] = &[
        "",
        " \n\t ",
        "{",
        "}",
        "{\"",
        "{\"a\":",
        "{\"a\":1,}",
        "{not json}",
        "[1,2",
        "\"str\"",
        "null",
        "true",
        "123",
        "[]",
        "{\"email\":\"a\"}{}",
        "{}garbage",
        "{'single':'quotes'}",
        "{\"a\":NaN}",
        "{\"a\":Infinity}",
        "{\"a\":0x10}",
        "{\"a\":01}",
        "{\"a\":.5}",
        "{\"a\":+5}",
        "{\"a\":\"\\x41\"}",
        "{\"a\":\"unterminated}",
        "\u{feff}{}",
        "{\"a\":1}\u{0}",
        "/* comment */ {}",
        "a=b&c=d",
        "<xml/>",
    ];
    for (method, path, valid) in body_routes(&f) {
        for m in malformed {
            cases.push((method.clone(), path.clone(), m.as_bytes().to_vec()));
        }
        // The valid body cut short at several points.
        for cut in [1, 2, valid.len() / 3, valid.len() / 2, valid.len() - 1] {
            cases.push((
                method.clone(),
                path.clone(),
                valid.as_bytes()[..cut].to_vec(),
            ));
        }
    }
    // Wrong types, route by route (each is one problem a client can make).
    let u = &f.user;
    let email = unique_email();
    let mut wrong: Vec<(Method, String, Value)> = Vec::new();
    for (field, v) in [
        ("email", json!(5)),
        ("first_name", json!(["John"])),
        ("country", json!({"code": "USA"})),
        ("date_of_birth", json!(19_750_324)),
        ("notify_user", json!("yes")),
        ("metadata", json!("not an object")),
        ("internal_user_id", json!(true)),
    ] {
        let mut b = user_body(&email);
        b[field] = v;
        wrong.push((Method::POST, "/user".into(), b));
    }
    for (field, v) in [
        ("source_amount", json!("10")),
        ("source_amount", json!(true)),
        ("source_amount", json!([10])),
        ("destination_token", json!(5)),
        ("metadata", json!(5)),
        ("notify_user", json!("yes")),
        ("client_transfer_id", json!({"id": 1})),
    ] {
        let mut b: Value =
            serde_json::from_str(&payout_body(USD_SOURCE, BTC_DESTINATION, "BTC", "10")).unwrap();
        b[field] = v;
        wrong.push((Method::POST, format!("/payout/{u}"), b));
    }
    let attr = format!("/attribute/{u}/{BTC_DESTINATION}/BTC");
    for b in [
        json!({"values": "x"}),
        json!({"values": [1]}),
        json!({"values": null}),
        json!({"values": [{"token": 5, "value": BTC_ADDRESS}]}),
        json!({"values": [{"token": BTC_WALLET_ATTR, "value": true}]}),
        json!({"values": [{"token": BTC_WALLET_ATTR, "value": {"v": 1}}]}),
        json!({"values": [{"token": BTC_WALLET_ATTR, "value": BTC_ADDRESS}], "attr_set_token": 7}),
    ] {
        wrong.push((Method::POST, attr.clone(), b));
    }
    for b in [
        json!({"currency_code": "USD", "balance": true}),
        json!({"currency_code": "USD", "balance": [1]}),
        json!({"currency_code": 5, "balance": "1"}),
        json!({"currency_code": "USD"}),
        json!({"balance": "1"}),
    ] {
        wrong.push((Method::PUT, "/_sandbox/balance".into(), b));
    }
    for b in [
        json!({"seconds": "abc"}),
        json!({"seconds": -1}),
        json!({"seconds": 1.5}),
        json!({}),
        json!({"seconds": null}),
    ] {
        wrong.push((Method::POST, "/_sandbox/clock/advance".into(), b));
    }
    for b in [
        json!({"scenarios": "slow"}),
        json!({"scenarios": [1]}),
        json!({}),
    ] {
        wrong.push((Method::PUT, "/_sandbox/scenario".into(), b));
    }
    for b in [json!({"url": 5}), json!({"url": ""}), json!({})] {
        wrong.push((Method::PUT, "/_sandbox/webhook".into(), b));
    }
    cases.extend(
        wrong
            .into_iter()
            .map(|(m, p, b)| (m, p, b.to_string().into_bytes())),
    );
    let mut violations = Vec::new();
    let sent = expect_400s(&f.app, &cases, &mut violations).await;
    if f.app.state_without_clock().await != before {
        violations.push("the refused requests changed the tenant's state".into());
    }
    report(
        "hostile::malformed_and_wrong_typed_json",
        &[
            ("requests", sent + 2),
            ("violations", violations.len() as u64),
        ],
    );
    assert!(violations.is_empty(), "{violations:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_negative_zero_and_too_precise_amounts_are_a_400() {
    let f = fixture().await;
    let before = f.app.state_without_clock().await;
    let u = &f.user;
    let forty = "1234567890123456789012345678901234567890";
    let mut cases: Vec<(Method, String, Vec<u8>)> = Vec::new();
    // Bad for every amount field (source in USD, destination in BTC), the balance and the clock.
    let everywhere = [
        "1e400",
        "-1e400",
        "1E+400",
        forty,
        "79228162514264337593543950336",
        "-5",
        "-0.01",
        "-1e2",
    ];
    // Bad as a payout amount only: zero, and more decimals than the currency (or 15
    // significant digits) allow; 1e-400 is a positive number no decimal type can hold.
    let amount_only = [
        "0",
        "-0",
        "0.0",
        "0e10",
        "1e-400",
        "12345678901234567890.12345678901234567890",
    ];
    let source_only = ["10.001", "10.0000001", "0.001", "1.5e-3"];
    let mut payout = |field: &str, amt: &str| {
        let body = format!(
            r#"{{"destination_currency_code":"BTC","source_token":"{USD_SOURCE}","destination_token":"{BTC_DESTINATION}","{field}":{amt}}}"#
        );
        cases.push((Method::POST, format!("/payout/{u}"), body.into_bytes()));
    };
    for amt in everywhere.iter().chain(&amount_only) {
        payout("source_amount", amt);
        payout("destination_amount", amt);
    }
    for amt in source_only {
        payout("source_amount", amt);
    }
    for amt in everywhere {
        cases.push((
            Method::PUT,
            "/_sandbox/balance".into(),
            format!(r#"{{"currency_code":"USD","balance":{amt}}}"#).into_bytes(),
        ));
        cases.push((
            Method::POST,
            "/_sandbox/clock/advance".into(),
            format!(r#"{{"seconds":{amt}}}"#).into_bytes(),
        ));
    }
    for secs in ["1.5", "1e3", "\"60\"", "316224001", "9223372036854775807"] {
        cases.push((
            Method::POST,
            "/_sandbox/clock/advance".into(),
            format!(r#"{{"seconds":{secs}}}"#).into_bytes(),
        ));
    }
    // Both amounts at once; and a destination amount finer than BTC's 8 decimals.
    for body in [
        format!(
            r#"{{"destination_currency_code":"BTC","source_token":"{USD_SOURCE}","destination_token":"{BTC_DESTINATION}","source_amount":10,"destination_amount":0.0001}}"#
        ),
        format!(
            r#"{{"destination_currency_code":"BTC","source_token":"{USD_SOURCE}","destination_token":"{BTC_DESTINATION}","destination_amount":0.000123456}}"#
        ),
        format!(
            r#"{{"destination_currency_code":"BTC","source_token":"{BTC_SOURCE}","destination_token":"{BTC_DESTINATION}","source_amount":0.000100001}}"#
        ),
    ] {
        cases.push((Method::POST, format!("/payout/{u}"), body.into_bytes()));
    }
    // Balances finer than the currency, or negative.
    for (c, v) in [
        ("USD", "1.001"),
        ("BTC", "0.000000001"),
        ("USDC", "1.0000001"),
        ("ETH", "1.0000000000000000001"),
        ("LTC", "-1"),
    ] {
        cases.push((
            Method::PUT,
            "/_sandbox/balance".into(),
            format!(r#"{{"currency_code":"{c}","balance":"{v}"}}"#).into_bytes(),
        ));
    }
    let mut violations = Vec::new();
    let mut sent = expect_400s(&f.app, &cases, &mut violations).await;
    // Query amounts: ?limit= on initiate, ?amount=/?limit= on the catalog.
    let body = format!(
        r#"{{"destination_currency_code":"BTC","source_token":"{USD_SOURCE}","destination_token":"{BTC_DESTINATION}"}}"#
    );
    for q in [
        "limit=1e400",
        "limit=-1",
        "limit=0",
        "limit=abc",
        &format!("limit={forty}"),
        "limit=5&limit=6",
        "limit=%ff",
        "limit=1.5.5",
    ] {
        let a = f
            .app
            .send_text(Method::POST, &format!("/payout/{u}?{q}"), &body)
            .await;
        sent += 1;
        if let Some(p) = shape_problem(a.status, a.header("content-type"), &a.bytes, 400) {
            violations.push(format!("initiate ?{q}: {p}"));
        }
    }
    for q in [
        "amount=1e400",
        "amount=-1",
        "amount=0",
        "amount=abc",
        &format!("amount={forty}"),
        "amount=1&amount=2",
        "limit=-5",
        "source_currency=ZZZ",
        "include_payer_logos=maybe",
    ] {
        let a = f.app.get(&format!("/country/MEX/best?{q}")).await;
        sent += 1;
        if let Some(p) = shape_problem(a.status, a.header("content-type"), &a.bytes, 400) {
            violations.push(format!("catalog ?{q}: {p}"));
        }
    }
    if f.app.state_without_clock().await != before {
        violations.push("the refused amounts changed the tenant's state".into());
    }
    report(
        "hostile::huge_and_bad_amounts",
        &[
            ("requests", sent + 2),
            ("violations", violations.len() as u64),
        ],
    );
    assert!(violations.is_empty(), "{violations:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_and_deeply_nested_json_are_a_clean_4xx() {
    let f = fixture().await;
    let before = f.app.state_without_clock().await;
    let mut violations = Vec::new();
    let mut sent = 0u64;
    let bad_utf8: Vec<Vec<u8>> = vec![
        b"{\"first_name\":\"\xff\xfe\"}".to_vec(),
        b"\xff\xfe\xfd".to_vec(),
        b"{\"a\":\"\xc0\xaf\"}".to_vec(),
        b"{\"a\":\"\xed\xa0\x80\"}".to_vec(),
        b"{\"a\":\"\x80\"}".to_vec(),
        b"{\"a\":\"\xf4\x90\x80\x80\"}".to_vec(),
        b"{\"a\":\"\\ud800\"}".to_vec(),
        b"{\"a\":\"\\udc00\\ud800\"}".to_vec(),
        b"{\"\xff\":1}".to_vec(),
    ];
    let mut cases = Vec::new();
    let mut lenient: Vec<(Method, String, Vec<u8>)> = Vec::new();
    for (method, path, valid) in body_routes(&f) {
        for b in &bad_utf8 {
            cases.push((method.clone(), path.clone(), b.clone()));
        }
        // A valid body with one string value's bytes corrupted.
        let mut corrupt = valid.clone().into_bytes();
        if let Some(i) = corrupt.iter().rposition(|&c| c == b'"') {
            corrupt.insert(i, 0xff);
        }
        cases.push((method.clone(), path.clone(), corrupt));
        // Deep nesting, at the top and inside a field, within the 64 KiB limit.
        for depth in [129usize, 1_000, 20_000] {
            let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            cases.push((method.clone(), path.clone(), arrays.clone().into_bytes()));
            let objects = format!(
                "{}1{}",
                "{\"a\":".repeat(depth.min(10_000)),
                "}".repeat(depth.min(10_000))
            );
            cases.push((method.clone(), path.clone(), objects.into_bytes()));
            // Inside `metadata`, a field users and payouts read: refused. Elsewhere it is an
            // unknown field, which is ignored (SPEC: unknown input is tolerated) — but never a 5xx.
            let inside = valid.replacen('{', &format!("{{\"metadata\":{arrays},"), 1);
            if path.starts_with("/user") || path.starts_with("/payout") {
                cases.push((method.clone(), path.clone(), inside.into_bytes()));
            } else {
                lenient.push((method.clone(), path.clone(), inside.into_bytes()));
            }
        }
    }
    sent += expect_400s(&f.app, &cases, &mut violations).await;
    let state_after_refusals = f.app.state_without_clock().await;
    for (method, path, body) in &lenient {
        let a = send_raw_body(
            &f.app,
            method.clone(),
            path,
            Some("application/json"),
            body.clone(),
        )
        .await;
        sent += 1;
        let bad = a.status >= 500
            || ((400..500).contains(&a.status)
                && shape_problem(a.status, a.header("content-type"), &a.bytes, a.status).is_some());
        if bad {
            violations.push(format!(
                "{method} {path} deep unknown field: {} {}",
                a.status, a.text
            ));
        }
    }
    // The same nesting under an Idempotency-Key (the key's fingerprint parses the body too).
    let deep = format!("{}{}", "[".repeat(20_000), "]".repeat(20_000));
    for (method, path, _) in body_routes(&f) {
        let a = answer(
            f.app
                .request(method.clone(), &path)
                .header("Idempotency-Key", "deep")
                .body(deep.clone()),
        )
        .await;
        sent += 1;
        if let Some(p) = shape_problem(a.status, a.header("content-type"), &a.bytes, 400) {
            violations.push(format!("{method} {path} deep + Idempotency-Key: {p}"));
        }
    }
    if state_after_refusals != before {
        violations.push("the refused bodies changed the tenant's state".into());
    }
    let h = f.app.get("/health").await;
    assert_eq!(h.status, 200, "unhealthy after deep nesting: {}", h.text);
    report(
        "hostile::invalid_utf8_and_deep_nesting",
        &[
            ("requests", sent + 3),
            ("violations", violations.len() as u64),
        ],
    );
    assert!(violations.is_empty(), "{violations:#?}");
}

/// A body of exactly `len` bytes: `valid` with whitespace before its closing brace.
fn padded(valid: &str, len: usize) -> Vec<u8> {
    let trimmed = valid.trim_end();
    let close = trimmed.rfind('}').expect("an object");
    let mut out = trimmed.as_bytes()[..close].to_vec();
    let pad = len - trimmed.len();
    out.extend(std::iter::repeat_n(b' ', pad));
    out.extend_from_slice(&trimmed.as_bytes()[close..]);
    assert_eq!(out.len(), len);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_64_kib_are_a_413_on_every_body_route_and_64_kib_is_not() {
    const LIMIT: usize = 64 * 1024;
    let f = fixture().await;
    let mut violations = Vec::new();
    let mut sent = 0u64;
    let addr = f.server.sandbox.addr();
    for (method, path, valid) in body_routes(&f) {
        // Exactly the limit: read and judged like any body (never 413).
        let at = send_raw_body(
            &f.app,
            method.clone(),
            &path,
            Some("application/json"),
            padded(&valid, LIMIT),
        )
        .await;
        if at.status == 413 || at.status >= 500 {
            violations.push(format!(
                "{method} {path}: a body of exactly 64 KiB answered {}: {}",
                at.status, at.text
            ));
        }
        // One byte over, with Content-Length, without and with an Idempotency-Key.
        for keyed in [false, true] {
            let mut req = f
                .app
                .request(method.clone(), &path)
                .header("Content-Type", "application/json")
                .body(padded(&valid, LIMIT + 1));
            if keyed {
                req = req.header("Idempotency-Key", format!("big-{path}"));
            }
            let a = answer(req).await;
            if let Some(p) = shape_problem(a.status, a.header("content-type"), &a.bytes, 413) {
                violations.push(format!("{method} {path} (keyed={keyed}) 64 KiB + 1: {p}"));
            }
        }
        // Far over, chunked (no Content-Length), over a raw connection.
        let big = padded(&valid, 3 * LIMIT);
        let mut raw = format!(
            "{method} {} HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
            f.app.url(&path).split_once(&f.server.base()).unwrap().1,
            f.app.auth()
        )
        .into_bytes();
        for chunk in big.chunks(8192) {
            raw.extend(format!("{:x}\r\n", chunk.len()).into_bytes());
            raw.extend_from_slice(chunk);
            raw.extend_from_slice(b"\r\n");
        }
        raw.extend_from_slice(b"0\r\n\r\n");
        match raw_request(addr, &raw).await {
            Some(r) => {
                if let Some(p) = r.shape_problem(413) {
                    violations.push(format!("{method} {path} chunked 192 KiB: {p}"));
                }
            }
            None => violations.push(format!("{method} {path} chunked 192 KiB: no answer")),
        }
        sent += 4;
    }
    let h = f.app.get("/health").await;
    assert_eq!(h.status, 200);
    report(
        "hostile::bodies_over_64_kib",
        &[
            ("requests", sent + 1),
            ("violations", violations.len() as u64),
        ],
    );
    assert!(violations.is_empty(), "{violations:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_body_is_read_whatever_the_content_type_and_anything_else_is_a_400() {
    let f = fixture().await;
    let mut violations = Vec::new();
    let mut sent = 0u64;
    let types: &[Option<&str>] = &[
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/xml"),
        Some("application/json; charset=latin1"),
        Some("image/png"),
        Some("%%%"),
    ];
    for ct in types {
        // Valid JSON under a wrong Content-Type is parsed (README "Served operations").
        let a = send_raw_body(
            &f.app,
            Method::POST,
            "/user",
            *ct,
            user_body(&unique_email()).to_string().into_bytes(),
        )
        .await;
        if a.status != 200 {
            violations.push(format!("valid JSON as {ct:?}: {} {}", a.status, a.text));
        }
        // A form, XML or a multipart body is not JSON: a 400 in MassPay's shape.
        for body in [
            "first_name=John&last_name=Doe",
            "<user><first_name>John</first_name></user>",
            "--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nb\r\n--x--",
        ] {
            let a =
                send_raw_body(&f.app, Method::POST, "/user", *ct, body.as_bytes().to_vec()).await;
            if let Some(p) = shape_problem(a.status, a.header("content-type"), &a.bytes, 400) {
                violations.push(format!("{body:?} as {ct:?}: {p}"));
            }
        }
        sent += 4;
    }
    report(
        "hostile::wrong_content_type",
        &[("requests", sent), ("violations", violations.len() as u64)],
    );
    assert!(violations.is_empty(), "{violations:#?}");
}

/// Path parameter values a client could send by mistake or malice (as they go on the wire).
fn junk_tokens() -> Vec<String> {
    vec![
        "%ff%fe".into(),
        "%00".into(),
        "%2F%2E%2E%2Fadmin".into(),
        "%2e%2e".into(),
        "%C3%BC".into(),
        "%F0%9F%98%80".into(),
        "%E2%80%AE".into(),
        "%zz".into(),
        "%".into(),
        "usr_".into(),
        "payout_".into(),
        "usr_zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz".into(),
        "usr_00000000-0000-0000-0000-000000000000".into(),
        "00000000-0000-0000-0000-000000000000".into(),
        "%27%20OR%201%3D1%20--".into(),
        "%3Cscript%3Ealert(1)%3C%2Fscript%3E".into(),
        "NaN".into(),
        "-1".into(),
        "null".into(),
        "%20".into(),
        ";".into(),
        "a".repeat(10_000),
        "%41".repeat(5_000),
        "%FF".repeat(3_000),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_in_paths_are_a_404_or_400_in_masspay_shape() {
    let f = fixture().await;
    let before = f.app.state_without_clock().await;
    let (u, p) = (f.user.clone(), f.payout.clone());
    let templates: Vec<(Method, String)> = vec![
        (Method::GET, "/user/{}".into()),
        (Method::PUT, "/user/{}".into()),
        (Method::GET, "/country/{}".into()),
        (Method::GET, "/country/{}/cheapest".into()),
        (Method::GET, "/country/{}/best".into()),
        (
            Method::GET,
            format!("/attribute/{{}}/{BTC_DESTINATION}/BTC"),
        ),
        (
            Method::POST,
            format!("/attribute/{{}}/{BTC_DESTINATION}/BTC"),
        ),
        (Method::GET, format!("/attribute/{u}/{{}}/BTC")),
        (Method::POST, format!("/attribute/{u}/{{}}/BTC")),
        (
            Method::GET,
            format!("/attribute/{u}/{BTC_DESTINATION}/{{}}"),
        ),
        (
            Method::POST,
            format!("/attribute/{u}/{BTC_DESTINATION}/{{}}"),
        ),
        (Method::POST, "/payout/{}".into()),
        (Method::GET, "/payout/{}".into()),
        (Method::PUT, format!("/payout/{{}}/{p}")),
        (Method::GET, format!("/payout/{{}}/{p}")),
        (Method::PUT, format!("/payout/{u}/{{}}")),
        (Method::GET, format!("/payout/{u}/{{}}")),
        (Method::POST, "/_sandbox/webhooks/{}/resend".into()),
    ];
    // Tokens of the wrong kind for the slot, too.
    let mut tokens = junk_tokens();
    tokens.push(u.replace("usr_", "payout_"));
    tokens.push(p.replace("payout_", "usr_"));
    let mut violations = Vec::new();
    let mut sent = 0u64;
    for (method, t) in &templates {
        for tok in &tokens {
            let path = t.replace("{}", tok);
            let mut req = f.app.request(method.clone(), &path);
            if *method != Method::GET {
                req = req.header("Content-Type", "application/json").body("{}");
            }
            let a = answer(req).await;
            sent += 1;
            // The catalog answers an unknown (well-formed) country with an empty list.
            if a.status == 200 && t.starts_with("/country/") {
                continue;
            }
            let code = if a.status == 400 { 400 } else { 404 };
            if let Some(pr) = shape_problem(a.status, a.header("content-type"), &a.bytes, code) {
                violations.push(format!("{method} {}: {pr}", &path[..path.len().min(160)]));
            }
        }
    }
    // Raw UTF-8 and a long segment as raw bytes on the wire (what reqwest would escape).
    let addr = f.server.sandbox.addr();
    for raw_path in [
        "/v0.1.4/user/\u{fc}ber".as_bytes().to_vec(),
        "/v0.1.4/payout/\u{1F600}".as_bytes().to_vec(),
        format!("/v0.1.4/user/{}", "b".repeat(30_000)).into_bytes(),
    ] {
        let mut req = b"GET ".to_vec();
        req.extend_from_slice(&raw_path);
        req.extend_from_slice(
            format!(
                " HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nConnection: close\r\n\r\n",
                f.app.auth()
            )
            .as_bytes(),
        );
        let r = raw_request(addr, &req).await;
        sent += 1;
        match r {
            Some(r) if r.shape_problem(404).is_none() => {}
            other => violations.push(format!(
                "raw path {:?}: {other:?}",
                String::from_utf8_lossy(&raw_path[..raw_path.len().min(60)])
            )),
        }
    }
    if f.app.state_without_clock().await != before {
        violations.push("bad path tokens changed the tenant's state".into());
    }
    report(
        "hostile::bad_path_tokens",
        &[
            ("requests", sent + 2),
            ("violations", violations.len() as u64),
        ],
    );
    assert!(violations.is_empty(), "{violations:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_query_parameters_are_ignored_and_duplicates_of_known_ones_are_a_400() {
    let f = fixture().await;
    let u = &f.user;
    let mut violations = Vec::new();
    let mut sent = 0u64;
    // Unknown parameters (also repeated, empty, junk-encoded, long): the same answer as without.
    for path in [
        "/account/balance".to_string(),
        "/country/list".into(),
        format!("/user/{u}"),
        format!("/payout/{u}/{}", f.payout),
        "/_sandbox/clock".into(),
    ] {
        let plain = f.app.get(&path).await;
        for q in [
            "foo=bar",
            "foo=1&foo=2",
            "=&&=",
            "x",
            "%ff=%fe",
            "a%00b=c",
            "a[]=1&a[b]=2",
            &format!("long={}", "z".repeat(20_000)),
        ] {
            let a = f.app.get(&format!("{path}?{q}")).await;
            sent += 1;
            let same = if path == "/_sandbox/clock" {
                a.status == 200
            } else {
                a.bytes == plain.bytes
            };
            if a.status != 200 || !same {
                violations.push(format!(
                    "GET {path}?{}: {} {}",
                    &q[..q.len().min(40)],
                    a.status,
                    &a.text[..a.text.len().min(200)]
                ));
            }
        }
    }
    // A known parameter given twice: a 400 naming it.
    for path in [
        "/country/MEX?amount=1&amount=2".to_string(),
        "/country/MEX/best?source_currency=USD&source_currency=BTC".into(),
        format!("/payout/{u}?include_payer_logos=true&include_payer_logos=false"),
        "/user/lookup?email=a@b.c&email=d@e.f&first_name=J".into(),
    ] {
        let a = f.app.get(&path).await;
        sent += 1;
        if let Some(p) = shape_problem(a.status, a.header("content-type"), &a.bytes, 400) {
            violations.push(format!("GET {path}: {p}"));
        }
    }
    let a = f
        .app
        .send_text(
            Method::POST,
            &format!("/payout/{u}?limit=50&limit=60"),
            &payout_body(USD_SOURCE, BTC_DESTINATION, "BTC", "10"),
        )
        .await;
    sent += 1;
    if let Some(p) = shape_problem(a.status, a.header("content-type"), &a.bytes, 400) {
        violations.push(format!("initiate ?limit twice: {p}"));
    }
    report(
        "hostile::query_parameters",
        &[
            ("requests", sent + 5),
            ("violations", violations.len() as u64),
        ],
    );
    assert!(violations.is_empty(), "{violations:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_abuse_is_answered_in_masspay_shape_never_a_5xx() {
    let f = fixture().await;
    let base = f.app.url("/account/balance");
    let client = &f.server.client;
    let mut violations = Vec::new();
    let mut sent = 0u64;
    let mut expect = |what: &str, a: &Answer, code: u16| {
        sent += 1;
        if code == 200 {
            if a.status != 200 {
                violations.push(format!("{what}: {} {}", a.status, a.text));
            }
        } else if let Some(p) = shape_problem(a.status, a.header("content-type"), &a.bytes, code) {
            violations.push(format!("{what}: {p}"));
        }
    };
    // Non-ASCII and blank Authorization values: 401.
    for v in [
        &b"Bearer \xff\xfe"[..],
        b"\xe9t\xe9",
        b"Bearer",
        b"Bearer    ",
        b"\t",
        b" ",
    ] {
        let a = answer(
            client
                .get(&base)
                .header("Authorization", HeaderValue::from_bytes(v).unwrap()),
        )
        .await;
        expect(
            &format!("Authorization {:?}", String::from_utf8_lossy(v)),
            &a,
            401,
        );
    }
    let a = answer(client.get(&base)).await;
    expect("no Authorization", &a, 401);
    let a = answer(
        client
            .get(&base)
            .header("Authorization", format!("Bearer {}", "k".repeat(16 * 1024))),
    )
    .await;
    // SPEC §9: API keys are at most 256 bytes; a longer one is refused before any tenant is made.
    expect("16 KiB key", &a, 401);
    // Idempotency-Key: too long, non-ASCII, blank → 400.
    for v in [
        "x".repeat(300).into_bytes(),
        b"\xff\xfe".to_vec(),
        b" ".to_vec(),
    ] {
        let a = answer(
            f.app
                .request(Method::POST, "/user")
                .header("Idempotency-Key", HeaderValue::from_bytes(&v).unwrap())
                .body(user_body(&unique_email()).to_string()),
        )
        .await;
        expect(&format!("Idempotency-Key of {} bytes", v.len()), &a, 400);
    }
    // X-Sandbox-Scenario: unknown (also huge) or non-ASCII → 400.
    for v in [
        b"no_such_scenario".to_vec(),
        "n".repeat(30_000).into_bytes(),
        b"\xff".to_vec(),
        b"slow,,nope".to_vec(),
    ] {
        let a = answer(
            f.app
                .request(Method::GET, "/account/balance")
                .header("X-Sandbox-Scenario", HeaderValue::from_bytes(&v).unwrap()),
        )
        .await;
        expect(&format!("X-Sandbox-Scenario of {} bytes", v.len()), &a, 400);
    }
    // 90 junk headers and a 32 KiB one: ignored.
    let mut req = f.app.request(Method::GET, "/account/balance");
    for i in 0..90 {
        req = req.header(
            HeaderName::from_bytes(format!("x-junk-{i}").as_bytes()).unwrap(),
            HeaderValue::from_bytes(b"\xfe junk \x80").unwrap(),
        );
    }
    let a = answer(req.header("X-Big", "v".repeat(32 * 1024))).await;
    expect("90 junk headers + a 32 KiB one", &a, 200);
    // Two Authorization headers, a junk Content-Length-free body on a GET, odd Accept.
    let a = answer(
        f.app
            .request(Method::GET, "/account/balance")
            .header("Authorization", "Bearer other")
            .header("Accept", "application/xml")
            .body("junk"),
    )
    .await;
    sent += 1;
    if a.status >= 500 {
        violations.push(format!("two Authorization headers: {}", a.status));
    }
    let h = f.app.get("/health").await;
    assert_eq!(h.status, 200);
    report(
        "hostile::header_abuse",
        &[
            ("requests", sent + 1),
            ("violations", violations.len() as u64),
        ],
    );
    assert!(violations.is_empty(), "{violations:#?}");
}

/// Header floods and over-long URIs beyond hyper's limits (100 headers, ~400 KiB of head, 64 KiB
/// URI) are refused before the app sees them: a 4xx, never a 5xx, and the server stays healthy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transport_limit_abuse_is_a_4xx_never_a_5xx() {
    let f = fixture().await;
    let addr = f.server.sandbox.addr();
    let auth = f.app.auth();
    let mut sent = 0u64;
    for req in transport_abuse(&auth) {
        let r = raw_request(addr, &req).await;
        sent += 1;
        let status = r.as_ref().map_or(0, |r| r.status);
        assert!((400..500).contains(&status), "answered {status}: {r:?}");
    }
    let h = f.app.get("/health").await;
    assert_eq!(h.status, 200);
    report(
        "hostile::transport_limits_4xx",
        &[("requests", sent + 1), ("violations", 0)],
    );
}

fn transport_abuse(auth: &str) -> Vec<Vec<u8>> {
    let head = |extra: String, path: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n{extra}Connection: close\r\n\r\n").into_bytes()
    };
    let many: String = (0..150).map(|i| format!("X-H{i}: v\r\n")).collect();
    let huge = format!("X-Huge: {}\r\n", "h".repeat(500 * 1024));
    let long_uri = format!("/v0.1.4/user/{}", "u".repeat(70_000));
    vec![
        head(many, "/v0.1.4/account/balance"),
        head(huge, "/v0.1.4/account/balance"),
        head(String::new(), &long_uri),
    ]
}

/// The issue asks for "a clear 4xx JSON in MassPay's shape" for header abuse and very long path
/// segments too; hyper answers these before the app with an empty body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "BUG: >100 headers or a ~400 KiB header (431) and a >64 KiB URI (414) get hyper's empty-bodied answer, not MassPay's JSON error shape"]
async fn transport_limit_abuse_is_answered_in_masspay_shape() {
    let f = fixture().await;
    let addr = f.server.sandbox.addr();
    let mut problems = Vec::new();
    for req in transport_abuse(&f.app.auth()) {
        match raw_request(addr, &req).await {
            Some(r) => {
                if let Some(p) = r.shape_problem(r.status) {
                    problems.push(format!("{}: {p}", r.status));
                }
            }
            None => problems.push("no answer".into()),
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

// ----- 12 000 generated bad requests -------------------------------------------------------------

/// What the generator knows: valid path values to corrupt, and the API keys to use.
struct FuzzCtx {
    base: String,
    key: String,
    /// API keys built to collide in the sandbox's unkeyed fast hasher (each its own tenant).
    colliding_keys: Vec<String>,
    scratch_key: String,
    user: String,
    payout: String,
}

/// One generated request, described well enough to reproduce it.
struct FuzzReq {
    method: Method,
    path: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Option<Vec<u8>>,
    mutations: Vec<&'static str>,
}

impl FuzzReq {
    fn describe(&self) -> String {
        let body = self
            .body
            .as_ref()
            .map(|b| String::from_utf8_lossy(&b[..b.len().min(160)]).into_owned());
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {}", String::from_utf8_lossy(&v[..v.len().min(60)])))
            .collect();
        format!(
            "{} {} [{}] headers={headers:?} body={body:?} mutations={:?}",
            self.method,
            &self.path[..self.path.len().min(200)],
            self.path.len(),
            self.mutations
        )
    }
}

/// (method, path template, valid body). `{u}` user, `{p}` payout, `{d}` destination, `{c}`
/// currency, `{k}` country, `{i}` webhook delivery id.
fn fuzz_routes() -> Vec<(Method, String, Option<String>)> {
    let user = user_body("fuzz@example.com").to_string();
    let mut update = user_body("fuzz@example.com");
    update["status"] = json!("ACTIVE");
    let attrs = json!({"values": [{"token": BTC_WALLET_ATTR, "value": BTC_ADDRESS}, {"token": CHECKING_ATTR, "value": "1".repeat(50)}]}).to_string();
    let payout = format!(
        r#"{{"client_transfer_id":"fz-1","source_currency_code":"USD","destination_currency_code":"BTC","source_token":"{USD_SOURCE}","destination_token":"{BTC_DESTINATION}","source_amount":100.5,"metadata":{{"group_id":541}}}}"#
    );
    let load = format!(
        r#"{{"client_load_id":"fz-load","source_token":"{USD_SOURCE}","amount":10,"metadata":{{"group_id":541}}}}"#
    );
    let v0: Vec<(Method, &'static str, Option<String>)> = vec![
        (Method::GET, "/v0.1.4/account/balance", None),
        (Method::POST, "/v0.1.4/user", Some(user)),
        (Method::GET, "/v0.1.4/user/{u}", None),
        (Method::PUT, "/v0.1.4/user/{u}", Some(update.to_string())),
        (
            Method::GET,
            "/v0.1.4/user/lookup?internal_user_id=4324-rOzk",
            None,
        ),
        (Method::GET, "/v0.1.4/country/list", None),
        (
            Method::GET,
            "/v0.1.4/country/{k}?amount=200&source_currency=USD",
            None,
        ),
        (Method::GET, "/v0.1.4/country/{k}/cheapest", None),
        (Method::GET, "/v0.1.4/country/{k}/best?amount=100", None),
        (Method::GET, "/v0.1.4/attribute/{u}/{d}/{c}", None),
        (Method::POST, "/v0.1.4/attribute/{u}/{d}/{c}", Some(attrs)),
        (Method::POST, "/v0.1.4/payout/{u}", Some(payout)),
        (Method::POST, "/v0.1.4/load/{u}", Some(load)),
        (Method::GET, "/v0.1.4/payout/{u}", None),
        (Method::PUT, "/v0.1.4/payout/{u}/{p}", None),
        (Method::GET, "/v0.1.4/payout/{u}/{p}", None),
        (Method::POST, "/_sandbox/reset", None),
        (Method::GET, "/_sandbox/state", None),
        (
            Method::PUT,
            "/_sandbox/balance",
            Some(r#"{"currency_code":"USD","balance":"250000.00"}"#.into()),
        ),
        (Method::GET, "/_sandbox/requests", None),
        (Method::DELETE, "/_sandbox/requests", None),
        (Method::GET, "/_sandbox/clock", None),
        (
            Method::POST,
            "/_sandbox/clock/advance",
            Some(r#"{"seconds":1}"#.into()),
        ),
        (
            Method::PUT,
            "/_sandbox/scenario",
            Some(r#"{"scenarios":["no_such_scenario"]}"#.into()),
        ),
        (Method::DELETE, "/_sandbox/scenario", None),
        (
            Method::PUT,
            "/_sandbox/webhook",
            Some(r#"{"url":"ftp://not-http","secret":"s"}"#.into()),
        ),
        (Method::DELETE, "/_sandbox/webhook", None),
        (Method::GET, "/_sandbox/webhooks", None),
        (Method::POST, "/_sandbox/webhooks/{i}/resend", None),
        (Method::GET, "/health", None),
    ];
    // The same operations under API 1.0.0's paths (README "Served operations"): resources move
    // under `/payout`, the payout transactions stay at `/payout/{user_token}…`.
    let mut all: Vec<(Method, String, Option<String>)> = Vec::new();
    for (m, t, b) in v0 {
        if let Some(rest) = t.strip_prefix("/v0.1.4") {
            let v1 = if rest.starts_with("/payout/") {
                format!("/v1.0.0{rest}")
            } else {
                format!("/v1.0.0/payout{rest}")
            };
            all.push((m.clone(), v1, b.clone()));
        }
        all.push((m, t.to_string(), b));
    }
    // 1.0.0's auto-committing initiate (same currency): its amount is read before the handler,
    // for the magic cents of the commit it is.
    all.push((
        Method::POST,
        "/v1.0.0/payout/{u}".into(),
        Some(format!(
            r#"{{"client_transfer_id":"fz-ac","destination_currency_code":"BTC","source_token":"{BTC_SOURCE}","destination_token":"{BTC_DESTINATION}","source_amount":0.001,"auto_commit":true}}"#
        )),
    ));
    all
}

/// Amounts past the sandbox's maximum (10^15) and past rust_decimal's range: each once
/// overflowed exact decimal arithmetic and answered 500.
const OVERFLOW_AMOUNTS: [&str; 6] = [
    "1e28",
    "7.9e28",
    "-1e28",
    "1e400",
    "79000000000000000000000000000",
    "1e27",
];

/// `metadata` values past its limits (32 levels, 16 KiB): nested objects, nested arrays inside
/// an object, and a wide one.
fn deep_metadata(rng: &mut Rng) -> String {
    match rng.below(3) {
        0 => {
            let n = rng.range(33, 400) as usize;
            format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n))
        }
        1 => {
            let n = rng.range(33, 20_000) as usize;
            format!("{{\"a\":{}{}}}", "[".repeat(n), "]".repeat(n))
        }
        _ => format!("{{\"a\":\"{}\"}}", "w".repeat(17 * 1024)),
    }
}

/// A JSON value of a type a field does not expect, or a hostile one.
fn junk_value(rng: &mut Rng) -> String {
    let deep = format!("{}{}", "[".repeat(300), "]".repeat(300));
    let long = format!("\"{}\"", "w".repeat(10_000));
    let mut choices: Vec<String> = vec![
        deep_metadata(rng),
        "-1".into(),
        "0".into(),
        "-0".into(),
        "1.234567890123456789".into(),
        "1234567890123456789012345678901234567890".into(),
        "true".into(),
        "null".into(),
        "[]".into(),
        "{}".into(),
        "\"\"".into(),
        "\"\\u0000\"".into(),
        "\"\\ud800\"".into(),
        "\"x\"".into(),
        deep,
        long,
        "\"sandbox:no_such_scenario\"".into(),
        "[1,{\"a\":[null]}]".into(),
        "0.000000000000000000000000001".into(),
    ];
    choices.extend(OVERFLOW_AMOUNTS.iter().map(|a| a.to_string()));
    rng.pick(&choices).clone()
}

/// A hostile whole body.
fn junk_body(rng: &mut Rng) -> Vec<u8> {
    match rng.below(16) {
        0 => Vec::new(),
        1 => b"null".to_vec(),
        2 => b"[]".to_vec(),
        3 => b"{".to_vec(),
        4 => format!("{}{}", "[".repeat(5_000), "]".repeat(5_000)).into_bytes(),
        5 => format!("{}1{}", "{\"a\":".repeat(3_000), "}".repeat(3_000)).into_bytes(),
        6 => {
            let mut b = b"{\"a\":\"".to_vec();
            b.extend(std::iter::repeat_n(b'x', 70 * 1024));
            b.extend_from_slice(b"\"}");
            b
        }
        7 => b"{\"a\":\"\xff\xfe\"}".to_vec(),
        8 => b"a=b&c=d".to_vec(),
        9 => b"<xml><a/></xml>".to_vec(),
        10 => "\u{feff}{}".as_bytes().to_vec(),
        11 => b"{\"a\":1}\x00\x00".to_vec(),
        12 => format!("{{\"a\":{}}}", "9".repeat(5_000)).into_bytes(),
        13 => b"{\"email\":\"a@b.c\",\"email\":\"d@e.f\"}".to_vec(),
        14 => (0..rng.range(1, 300))
            .map(|_| rng.below(256) as u8)
            .collect(),
        _ => b"{\"values\":[{\"token\":null,\"value\":null}],\"seconds\":\"x\",\"balance\":{}}"
            .to_vec(),
    }
}

/// Corrupts a valid JSON body.
fn mutate_body(rng: &mut Rng, valid: &str) -> Vec<u8> {
    let mut b = valid.as_bytes().to_vec();
    match rng.below(7) {
        5 => {
            // An amount past the maximum in whichever amount field the body has (or adds one).
            if let Ok(Value::Object(mut m)) = serde_json::from_str::<Value>(valid) {
                let fields = ["source_amount", "destination_amount", "amount", "balance"];
                let k = fields
                    .iter()
                    .find(|f| m.contains_key(**f))
                    .unwrap_or_else(|| rng.pick(&fields));
                m.insert(k.to_string(), json!("__JUNK__"));
                let amount = *rng.pick(&OVERFLOW_AMOUNTS);
                b = Value::Object(m)
                    .to_string()
                    .replace("\"__JUNK__\"", amount)
                    .into_bytes();
            }
        }
        6 => {
            // `metadata` past its limits.
            if let Ok(Value::Object(mut m)) = serde_json::from_str::<Value>(valid) {
                m.insert("metadata".into(), json!("__JUNK__"));
                b = Value::Object(m)
                    .to_string()
                    .replace("\"__JUNK__\"", &deep_metadata(rng))
                    .into_bytes();
            }
        }
        0 => {
            let at = rng.below(b.len() as u64) as usize;
            b.truncate(at);
        }
        1 => {
            for _ in 0..rng.range(1, 4) {
                let at = rng.below(b.len() as u64) as usize;
                b[at] = rng.below(256) as u8;
            }
        }
        2 => {
            let at = rng.below(b.len() as u64) as usize;
            let junk = junk_value(rng);
            b.splice(at..at, junk.into_bytes());
        }
        _ => {
            // Replace one field's value with a junk value.
            if let Ok(Value::Object(mut m)) = serde_json::from_str::<Value>(valid) {
                let keys: Vec<String> = m.keys().cloned().collect();
                let k = rng.pick(&keys).clone();
                m.insert(k.clone(), json!("__JUNK__"));
                let text = Value::Object(m)
                    .to_string()
                    .replace("\"__JUNK__\"", &junk_value(rng));
                b = text.into_bytes();
            }
        }
    }
    b
}

fn junk_segment(rng: &mut Rng) -> String {
    let mut tokens = junk_tokens();
    tokens.extend([
        "".into(),
        "MEX%00".into(),
        "mex".into(),
        "MEXX".into(),
        "btc".into(),
        "BTCXX".into(),
        "%FF".into(),
        "123".into(),
    ]);
    rng.pick(&tokens).clone()
}

/// The kinds of breakage a generated request carries; the first is chosen so that the request is
/// refused (a 4xx), the others are added on top and may be tolerated.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// A path parameter replaced by a junk token.
    PathToken,
    /// A path that routes nowhere (wrong version prefix, extra segment).
    PathShape,
    /// A known query parameter with a bad value, or given twice.
    KnownQuery,
    /// Unknown, repeated, junk-encoded or long query parameters (ignored by design).
    UnknownQuery,
    /// A corrupted or hostile body.
    Body,
    /// A missing, blank or non-ASCII API key.
    Auth,
    /// A bad Idempotency-Key or X-Sandbox-Scenario header.
    BadHeader,
    /// Junk headers, a big header, a junk Content-Type (ignored by design).
    JunkHeaders,
    /// A method the path does not serve.
    Method,
}

fn generate(rng: &mut Rng, ctx: &FuzzCtx, routes: &[(Method, String, Option<String>)]) -> FuzzReq {
    let (method, template, valid_body) = rng.pick(routes).clone();
    let has_params = template.contains('{');
    let has_known_query = ["/country/", "/payout/{u}", "/lookup", "/_sandbox/requests"]
        .iter()
        .any(|t| template.contains(t))
        && !template.contains("{p}");
    let is_masspay = template.starts_with("/v");
    let open = template == "/health";
    let template = template.as_str();
    // The breaking kinds that apply to this route (each makes the request a 4xx).
    let mut breaking = vec![Kind::PathShape, Kind::Method];
    if has_params {
        breaking.extend([Kind::PathToken, Kind::PathToken]);
    }
    if has_known_query {
        breaking.push(Kind::KnownQuery);
    }
    if valid_body.is_some() {
        breaking.extend([Kind::Body, Kind::Body, Kind::Body]);
    }
    if !open {
        breaking.push(Kind::Auth);
    }
    if is_masspay || (valid_body.is_some() && method != Method::GET) {
        breaking.push(Kind::BadHeader);
    }
    let mut kinds = vec![*rng.pick(&breaking)];
    let extra = [
        Kind::PathToken,
        Kind::UnknownQuery,
        Kind::Body,
        Kind::JunkHeaders,
        Kind::BadHeader,
        Kind::KnownQuery,
        Kind::Auth,
    ];
    for _ in 0..rng.below(3) {
        let k = *rng.pick(&extra);
        if !kinds.contains(&k) {
            kinds.push(k);
        }
    }
    let has = |k: Kind| kinds.contains(&k);
    let mut mutations: Vec<&'static str> = Vec::new();

    // Path: fill the parameters (one or more junk when PathToken), then maybe break the shape.
    let country = ["MEX", "USA", "BRA", "ZZZ"][rng.below(4) as usize].to_string();
    let slots: [(&str, String); 6] = [
        ("{u}", ctx.user.clone()),
        ("{p}", ctx.payout.clone()),
        ("{d}", BTC_DESTINATION.to_string()),
        ("{c}", "BTC".to_string()),
        ("{k}", country),
        ("{i}", "wh_00000000-0000-0000-0000-000000000000".to_string()),
    ];
    let present: Vec<usize> = (0..slots.len())
        .filter(|&i| template.contains(slots[i].0))
        .collect();
    let junk_slot = (has(Kind::PathToken) && !present.is_empty()).then(|| *rng.pick(&present));
    let mut path = template.to_string();
    for (i, (slot, valid)) in slots.iter().enumerate() {
        if path.contains(slot) {
            let v = if Some(i) == junk_slot || (junk_slot.is_some() && rng.chance(20)) {
                let mut t = junk_segment(rng);
                // A country is any 2–3 letters (unknown ones list nothing): keep it junk.
                if *slot == "{k}" && t.len() <= 3 && t.bytes().all(|b| b.is_ascii_alphabetic()) {
                    t = "%FF".into();
                }
                t
            } else {
                valid.clone()
            };
            path = path.replace(slot, &v);
        }
    }
    if junk_slot.is_some() {
        mutations.push("path token");
    }
    if has(Kind::PathShape) {
        mutations.push("path shape");
        match rng.below(4) {
            0 => path.push_str("/extra/segments"),
            1 => {
                let prefixes: [&str; 4] = ["/v0.1.5", "/V0.1.4", "/v0.1.4.1", "/v0.2.0"];
                let prefix = *rng.pick(&prefixes);
                if path.starts_with("/v0.1.4") {
                    path = path.replacen("/v0.1.4", prefix, 1);
                } else {
                    path = format!("{prefix}{path}");
                }
            }
            2 => path = path.to_uppercase(),
            _ => path = path.replacen('/', "/%2F", 1),
        }
        // Tolerated on top: `//` and a trailing `/` are collapsed.
        if rng.chance(30) {
            path = path.replacen('/', "//", 2);
            path.push('/');
        }
    }
    if has(Kind::KnownQuery) {
        mutations.push("known query");
        let queries = [
            "amount=1&amount=2",
            "amount=-1",
            "amount=1e400",
            "amount=abc",
            "amount=%ff",
            "amount=0",
            "amount=99999999999999999999999999999999",
            "amount=79000000000000000000000000000",
            "amount=1000000000000010",
            "limit=10000000000000000000000000000",
            "limit=-1",
            "limit=abc",
            "limit=1e400",
            "limit=5&limit=6",
            "limit=0.001",
            "source_currency=ZZZ",
            "source_currency=%00",
            "include_payer_logos=maybe",
            "include_payer_logos=1&include_payer_logos=0",
            "email=&first_name=",
            "internal_user_id=&email=x",
            "method=PUT&method=GET",
        ];
        let q = rng.pick(&queries);
        path = if path.contains('?') {
            format!("{path}&{q}")
        } else {
            format!("{path}?{q}")
        };
    }
    if has(Kind::UnknownQuery) {
        mutations.push("unknown query");
        let queries = [
            "foo=bar",
            "foo=1&foo=2",
            "%ff=%fe",
            "&&&==",
            "a[]=1&a[b]=2",
            "x=%00",
            "destination_currency=%F0%9F%98%80",
        ];
        let q = if rng.chance(5) {
            "x=1&".repeat(2_000)
        } else {
            rng.pick(&queries).to_string()
        };
        path = if path.contains('?') {
            format!("{path}&{q}")
        } else {
            format!("{path}?{q}")
        };
    }
    let mut body = valid_body.as_ref().map(|b| b.clone().into_bytes());
    if has(Kind::Body) {
        mutations.push("body");
        body = Some(match &valid_body {
            Some(v) if rng.chance(60) => mutate_body(rng, v),
            _ => junk_body(rng),
        });
    }
    let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
    // Resetting the main tenant would make every later path a 404: reset a scratch one.
    let key = if template.starts_with("/_sandbox/reset") {
        &ctx.scratch_key
    } else {
        &ctx.key
    };
    let mut auth = format!("Bearer {key}").into_bytes();
    if has(Kind::Auth) {
        mutations.push("auth");
        auth = match rng.below(8) {
            0 => Vec::new(),
            1 => b"Bearer".to_vec(),
            2 => b"Bearer    ".to_vec(),
            3 => b"Bearer \xff\xfe".to_vec(),
            4 => b"\xe9\x80".to_vec(),
            // Over the 256-byte limit: 401, no tenant made.
            5 => format!("Bearer {}", "k".repeat(257 + rng.below(16 * 1024) as usize)).into_bytes(),
            // A fresh tenant whose key collides with thousands of others in an unkeyed hash.
            _ => {
                let i = rng.below(ctx.colliding_keys.len() as u64) as usize;
                format!("Bearer {}", ctx.colliding_keys[i]).into_bytes()
            }
        };
    }
    if has(Kind::BadHeader) {
        mutations.push("bad header");
        match rng.below(4) {
            0 => headers.push((
                "Idempotency-Key".into(),
                rng.pick(&[&b"\xff\xfe"[..], b" "]).to_vec(),
            )),
            1 => headers.push(("Idempotency-Key".into(), "i".repeat(300).into_bytes())),
            _ => headers.push((
                "X-Sandbox-Scenario".into(),
                rng.pick(&[&b"nope"[..], b"slow,nope", b"\xff", b"sandbox:x"])
                    .to_vec(),
            )),
        }
    }
    if has(Kind::JunkHeaders) {
        mutations.push("junk headers");
        match rng.below(4) {
            0 => headers.push((
                "Content-Type".into(),
                rng.pick(&[
                    &b"text/plain"[..],
                    b"application/x-www-form-urlencoded",
                    b"multipart/form-data",
                    b"\xff",
                    b"application/json; charset=utf-16",
                ])
                .to_vec(),
            )),
            1 => {
                for i in 0..rng.range(10, 90) {
                    headers.push((format!("x-junk-{i}"), b"\x80junk".to_vec()));
                }
            }
            2 => headers.push(("X-Big".into(), "b".repeat(16 * 1024).into_bytes())),
            _ => headers.push((
                "Idempotency-Key".into(),
                format!("fz-{}", rng.below(50)).into_bytes(),
            )),
        }
    }
    if !auth.is_empty() {
        headers.push(("Authorization".into(), auth));
    }
    let mut method = method;
    if has(Kind::Method) {
        mutations.push("method");
        // A method the path does not serve.
        let served: Vec<Method> = routes
            .iter()
            .filter(|r| r.1 == template)
            .map(|r| r.0.clone())
            .collect();
        let others: Vec<Method> = [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
            Method::from_bytes(b"FOO").unwrap(),
        ]
        .into_iter()
        .filter(|m| !served.contains(m))
        .collect();
        method = rng.pick(&others).clone();
    }
    FuzzReq {
        method,
        path: format!("{}{}", ctx.base, path),
        headers,
        body,
        mutations,
    }
}

/// Sends a generated request through `client`.
async fn send_fuzz(client: &reqwest::Client, r: &FuzzReq) -> Result<Answer, reqwest::Error> {
    let mut req = client.request(r.method.clone(), &r.path);
    for (k, v) in &r.headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_bytes(v),
        ) {
            req = req.header(k, v);
        }
    }
    if let Some(b) = &r.body {
        req = req.body(b.clone());
    }
    Ok(read(req.send().await?).await)
}

/// Why an answer to a hostile request is wrong: a 5xx, a 4xx not in MassPay's shape, or
/// anything but 2xx/4xx.
fn fuzz_problem(method: &Method, a: &Answer) -> Option<String> {
    match a.status {
        500..=599 => Some(format!("{} {}", a.status, &a.text[..a.text.len().min(300)])),
        400..=499 if *method != Method::HEAD => {
            shape_problem(a.status, a.header("content-type"), &a.bytes, a.status)
        }
        200..=299 | 400..=499 => None,
        s => Some(format!("unexpected status {s}")),
    }
}

/// Generated bad requests — corrupted path tokens, junk and duplicate query parameters,
/// malformed/truncated/nested/oversized/invalid-UTF-8 bodies, wrong types, junk and oversized
/// headers, bad API keys, wrong methods — across every route of README's "Served operations"
/// and every admin route, 32 at a time through one pooled client, until 10 000 were refused
/// with a 4xx (at most 24 000 sent). Some hostile input is tolerated by design (unknown query
/// parameters, junk headers, a JSON body under any Content-Type): those answer 2xx.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_generated_bad_requests_never_get_a_5xx() {
    const REFUSED_WANTED: usize = 10_000;
    const MAX_SENT: usize = 24_000;
    const CONCURRENCY: usize = 32;
    const SEED: u64 = 0x5eed_f00d;
    let f = fixture().await;
    let ctx = Arc::new(FuzzCtx {
        base: f.server.base(),
        key: f.app.key.clone(),
        colliding_keys: masspay_sandbox::state::hash::fast_hasher_collisions(2048),
        scratch_key: format!("scratch-{}", uuid::Uuid::new_v4()),
        user: f.user.clone(),
        payout: f.payout.clone(),
    });
    // For the rare request that fails on a pooled connection the server closed (see
    // `an_unread_request_body_does_not_poison_the_keep_alive_connection`): retried once on a
    // fresh connection, where it must be answered properly.
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let routes = Arc::new(fuzz_routes());
    let next = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let connection_errors = Arc::new(AtomicUsize::new(0));
    let statuses: Arc<Mutex<BTreeMap<u16, u64>>> = Arc::default();
    let violations: Arc<Mutex<Vec<String>>> = Arc::default();
    let violation_count = Arc::new(AtomicUsize::new(0));
    let started = std::time::Instant::now();
    let mut workers = Vec::new();
    for _ in 0..CONCURRENCY {
        let (ctx, routes, next, refused, connection_errors, statuses, violations, violation_count) = (
            ctx.clone(),
            routes.clone(),
            next.clone(),
            refused.clone(),
            connection_errors.clone(),
            statuses.clone(),
            violations.clone(),
            violation_count.clone(),
        );
        let (client, fresh) = (f.server.client.clone(), fresh.clone());
        workers.push(tokio::spawn(async move {
            loop {
                if refused.load(Ordering::Relaxed) >= REFUSED_WANTED {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= MAX_SENT {
                    break;
                }
                // Request i depends only on (SEED, i): reproducible whatever the scheduling.
                let mut rng = Rng::new(SEED ^ (i as u64).wrapping_mul(0x9E37_79B9));
                let r = generate(&mut rng, &ctx, &routes);
                let answered = match send_fuzz(&client, &r).await {
                    Ok(a) => Ok(a),
                    Err(first) => {
                        connection_errors.fetch_add(1, Ordering::Relaxed);
                        send_fuzz(&fresh, &r).await.map_err(|e| {
                            format!("no answer ({first:?}), nor on a fresh connection ({e:?})")
                        })
                    }
                };
                let problem = match answered {
                    Err(e) => Some(e),
                    Ok(a) => {
                        *statuses.lock().unwrap().entry(a.status).or_default() += 1;
                        if (400..500).contains(&a.status) {
                            refused.fetch_add(1, Ordering::Relaxed);
                        }
                        fuzz_problem(&r.method, &a)
                    }
                };
                if let Some(p) = problem {
                    violation_count.fetch_add(1, Ordering::Relaxed);
                    let mut v = violations.lock().unwrap();
                    if v.len() < 20 {
                        v.push(format!("#{i} {}\n    → {p}", r.describe()));
                    }
                }
            }
        }));
    }
    for w in workers {
        w.await.expect("worker");
    }
    let elapsed = started.elapsed();
    let sent = next.load(Ordering::Relaxed).min(MAX_SENT) as u64;
    // Healthy afterwards: /health, and the whole flow on a fresh tenant, money exact.
    let h = f.app.get("/health").await;
    assert_eq!(
        (h.status, h.body.clone()),
        (200, json!({"status": "ok"})),
        "unhealthy: {}",
        h.text
    );
    let other = f.server.tenant();
    let user = other.create_user().await;
    other.store_btc_wallet(&user).await;
    let payout = other
        .pending_payout(&user, USD_SOURCE, BTC_DESTINATION, "BTC", "100.5")
        .await;
    let c = other.commit(&user, &payout).await;
    assert_eq!(c.body["status"], "success", "{}", c.text);
    assert_eq!(other.balance("USD").await, dec("249896.51"));

    let statuses = statuses.lock().unwrap().clone();
    let count = |r: std::ops::Range<u16>| {
        statuses
            .iter()
            .filter(|(s, _)| r.contains(s))
            .map(|(_, n)| n)
            .sum::<u64>()
    };
    println!(
        "[reliability] hostile::generated_bad_requests statuses {statuses:?} in {elapsed:.1?}"
    );
    report(
        "hostile::generated_bad_requests",
        &[
            ("requests", sent + 7),
            ("answered_4xx", count(400..500)),
            ("answered_2xx_tolerated", count(200..300)),
            ("answered_5xx", count(500..600)),
            (
                "pooled_connection_errors_retried",
                connection_errors.load(Ordering::Relaxed) as u64,
            ),
            ("violations", violation_count.load(Ordering::Relaxed) as u64),
        ],
    );
    let v = violations.lock().unwrap();
    assert!(
        v.is_empty(),
        "{} violations, first ones:\n{}",
        violation_count.load(Ordering::Relaxed),
        v.join("\n")
    );
    assert!(
        count(400..500) >= REFUSED_WANTED as u64,
        "only {} of {sent} requests were refused: {statuses:?}",
        count(400..500)
    );
}

/// A request whose body the server does not read (a body on a GET, a POST refused before its
/// body is read: 401, 404, 405) makes hyper close the connection after answering, without
/// `Connection: close`. A keep-alive client (reqwest, Node, Python requests…) then sends its next
/// request on a dead connection and gets a broken pipe or an incomplete message instead of an
/// answer. Either the answer says `Connection: close`, or the connection keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unread_request_body_does_not_poison_the_keep_alive_connection() {
    let f = fixture().await;
    let addr = f.server.sandbox.addr();
    let body = vec![b'x'; 100 * 1024];
    let mut problems = Vec::new();
    for (label, head) in [
        (
            "GET /v0.1.4/country/list with a body",
            format!(
                "GET /v0.1.4/country/list HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\n",
                f.app.auth()
            ),
        ),
        (
            "POST /v0.1.4/user without Authorization",
            "POST /v0.1.4/user HTTP/1.1\r\nHost: x\r\n".to_string(),
        ),
        (
            "POST /v0.1.4/no-such-route",
            format!(
                "POST /v0.1.4/no-such-route HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\n",
                f.app.auth()
            ),
        ),
    ] {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut req = format!("{head}Content-Length: {}\r\n\r\n", body.len()).into_bytes();
        req.extend_from_slice(&body);
        let _ = stream.write_all(&req).await;
        // Read the first answer (headers and its Content-Length body).
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        let first_complete = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        l.strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap_or(0))
                    })
                    .unwrap_or(0);
                if buf.len() >= end + 4 + len {
                    break Some((head, end + 4 + len));
                }
            }
            match tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut chunk))
                .await
            {
                Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                _ => break None,
            }
        };
        let Some((head, used)) = first_complete else {
            problems.push(format!("{label}: no complete first answer"));
            continue;
        };
        if head.contains("connection: close") {
            continue;
        }
        // Not announced as closing: a keep-alive client sends its next request here.
        let second = b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        let write = stream.write_all(second).await;
        let mut rest = buf[used..].to_vec();
        loop {
            match tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut chunk))
                .await
            {
                Ok(Ok(n)) if n > 0 => rest.extend_from_slice(&chunk[..n]),
                _ => break,
            }
        }
        if write.is_err() || !rest.starts_with(b"HTTP/1.1 200") {
            problems.push(format!(
                "{label}: answered {:?} without `Connection: close`, then the connection died (second request: write {:?}, read {:?})",
                head.lines().next().unwrap_or(""),
                write.err().map(|e| e.kind()),
                String::from_utf8_lossy(&rest[..rest.len().min(40)])
            ));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
