//! The rest of the MassPay surface, black-box: account statements and payout confirmations
//! (real PDFs), user history, service alternatives, user agreements, velocity, loads, wallets and
//! autopay, cards, spend-backs, payouts from a wallet, KYC, tax and (1.0.0) sub-accounts. Money
//! is compared as the exact decimal text the server wrote.

use crate::helpers::*;
use base64::Engine as _;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use masspay_sandbox::Sandbox;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::task::JoinSet;

/// A USA bank deposit paying USD (next-day ACH: PROCESSING after commit), its three required
/// attributes, and the other USA bank-deposit payer.
const CHASE: &str = "dst_75c6a555-f8b1-49ae-8c87-4154f78f685a";
const BANK_OF_AMERICA: &str = "dst_42a2c45a-b2c3-400e-bc95-05c09afdc7a6";
const ROUTING_ATTR: &str = "attr_0c4be1ae-8404-433c-a891-4221dd79d5a4";
const ACCOUNT_NUMBER_ATTR: &str = "attr_71b97e0f-7274-40ae-8fb7-dd6699dd8795";
const ACCOUNT_TYPE_ATTR: &str = "attr_d7347079-d532-48e0-8f71-99d6f6e5148b";
/// The seed BTC destination's alternatives: the other MEX crypto payers.
const BITSO_ETHEREUM: &str = "dst_a1e9d3ee-a174-47c2-94b1-afb8ac7fa956";
const BITSO_STABLECOINS: &str = "dst_839bb23a-b2e3-4179-bb55-a382e90f4afb";

// ----- helpers ---------------------------------------------------------------------------------

/// Decodes a `{content}` answer as base64 and checks it is a whole PDF.
fn pdf_of(a: &Answer) -> Vec<u8> {
    assert_eq!(a.status, 200, "{}", a.text);
    let content = a.body["content"]
        .as_str()
        .unwrap_or_else(|| panic!("no content string: {}", a.text));
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(content)
        .unwrap_or_else(|e| panic!("content is not base64 ({e})"));
    assert!(bytes.starts_with(b"%PDF-"), "not a PDF header");
    assert!(
        bytes.trim_ascii_end().ends_with(b"%%EOF"),
        "the PDF does not end with %%EOF"
    );
    bytes
}

fn pdf_has(pdf: &[u8], needle: &str) -> bool {
    pdf.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn assert_pdf_has(pdf: &[u8], needles: &[&str]) {
    for n in needles {
        assert!(
            pdf_has(pdf, n),
            "the PDF does not contain {n:?}:\n{}",
            String::from_utf8_lossy(pdf)
        );
    }
}

/// Today (UTC) on the tenant's test clock.
async fn today(app: &TestApp) -> NaiveDate {
    let a = app.get("/_sandbox/clock").await;
    assert_eq!(a.status, 200, "{}", a.text);
    let now = a.body["now"].as_str().expect("now");
    DateTime::parse_from_rfc3339(now)
        .unwrap_or_else(|e| panic!("{now:?}: {e}"))
        .with_timezone(&Utc)
        .date_naive()
}

/// The tenant clock's now.
async fn clock_now(app: &TestApp) -> DateTime<Utc> {
    let a = app.get("/_sandbox/clock").await;
    assert_eq!(a.status, 200, "{}", a.text);
    let now = a.body["now"].as_str().expect("now");
    DateTime::parse_from_rfc3339(now)
        .unwrap_or_else(|e| panic!("{now:?}: {e}"))
        .with_timezone(&Utc)
}

/// The raw text of the element of a JSON array whose `field` equals `value`.
fn item_with(raw: &str, field: &str, value: &str) -> String {
    raw_items(raw)
        .into_iter()
        .find(|i| serde_json::from_str::<Value>(i).expect("JSON")[field] == value)
        .unwrap_or_else(|| panic!("no element with {field} = {value:?} in {raw}"))
}

fn str_field(v: &Value, field: &str) -> String {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} is not a string: {v}"))
        .to_string()
}

/// The tokens of a user's two default wallets: USD funds and USD MassPay card.
struct Wallets {
    funds: String,
    card: String,
}

async fn wallets(app: &TestApp, user: &str) -> Wallets {
    let a = app.get(&format!("/wallet/{user}")).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let funds = item_with(&a.text, "type", "USER_FUNDS");
    let card = item_with(&a.text, "type", "MASSPAY_CARD");
    let token = |raw: &str| str_field(&serde_json::from_str(raw).unwrap(), "token");
    Wallets {
        funds: token(&funds),
        card: token(&card),
    }
}

/// A wallet's balance as the exact text `GET /wallet/{user}` wrote.
async fn wallet_balance(app: &TestApp, user: &str, wallet: &str) -> String {
    let a = app.get(&format!("/wallet/{user}")).await;
    assert_eq!(a.status, 200, "{}", a.text);
    number_text(&item_with(&a.text, "token", wallet), "balance")
}

/// `POST /load/{user}` from the USD account; `amount` as written, `extra` spliced in (e.g.
/// `,"time_to_process":"…"`).
async fn load(
    app: &TestApp,
    user: &str,
    client_load_id: &str,
    amount: &str,
    extra: &str,
) -> Answer {
    app.send_text(
        Method::POST,
        &format!("/load/{user}"),
        &format!(
            r#"{{"client_load_id":"{client_load_id}","source_token":"{USD_SOURCE}","amount":{amount}{extra}}}"#
        ),
    )
    .await
}

/// A completed USD load; returns its token.
async fn completed_load(app: &TestApp, user: &str, client_load_id: &str, amount: &str) -> String {
    let a = load(app, user, client_load_id, amount, "").await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["status"], "COMPLETED", "{}", a.text);
    str_field(&a.body, "load_token")
}

/// The raw text of one load as `GET /load/{user}` lists it.
async fn listed_load(app: &TestApp, user: &str, load_token: &str) -> String {
    let a = app.get(&format!("/load/{user}")).await;
    assert_eq!(a.status, 200, "{}", a.text);
    item_with(&a.text, "load_token", load_token)
}

async fn load_status(app: &TestApp, user: &str, load_token: &str) -> String {
    let raw = listed_load(app, user, load_token).await;
    str_field(&serde_json::from_str(&raw).unwrap(), "status")
}

/// `POST /spendback/{user}`.
async fn spendback(app: &TestApp, user: &str, id: &str, source: &str, amount: &str) -> Answer {
    app.send_text(
        Method::POST,
        &format!("/spendback/{user}"),
        &format!(
            r#"{{"client_spendback_id":"{id}","source_token":"{source}","source_currency_code":"USD","amount":{amount}}}"#
        ),
    )
    .await
}

/// Stores valid Chase (USD bank deposit) details with this routing number.
async fn store_chase(app: &TestApp, user: &str, routing: &str) {
    let a = app
        .store_attributes(
            user,
            CHASE,
            "USD",
            &[
                (ROUTING_ATTR, routing),
                (ACCOUNT_NUMBER_ATTR, "123456789"),
                (ACCOUNT_TYPE_ATTR, "CHECKING"),
            ],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
}

/// A user paid in BTC: a committed (COMPLETED) USD → BTC payout of `amount`; returns its token.
async fn completed_btc_payout(app: &TestApp, user: &str, amount: &str) -> String {
    let p = app.pending_btc_payout(user, amount).await;
    let c = app.commit(user, &p).await;
    assert_eq!(c.status, 200, "{}", c.text);
    assert_eq!(c.body["status"], "success", "{}", c.text);
    assert_eq!(app.payout_status(user, &p).await, "COMPLETED");
    p
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A real PNG: `width` × `height` RGB pixels, deflate-stored (uncompressed), so its size is
/// about 3 × width × height bytes.
fn png(width: u32, height: u32) -> Vec<u8> {
    fn crc32(parts: &[&[u8]]) -> u32 {
        let mut table = [0u32; 256];
        for (n, entry) in table.iter_mut().enumerate() {
            let mut c = n as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    (c >> 1) ^ 0xEDB8_8320
                } else {
                    c >> 1
                };
            }
            *entry = c;
        }
        let mut crc = 0xFFFF_FFFFu32;
        for part in parts {
            for &b in *part {
                crc = table[((crc ^ u32::from(b)) & 0xFF) as usize] ^ (crc >> 8);
            }
        }
        !crc
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&crc32(&[kind, data]).to_be_bytes());
    }
    let mut raw = Vec::with_capacity((height * (1 + 3 * width)) as usize);
    for y in 0..height {
        raw.push(0); // filter: none
        for x in 0..width {
            raw.extend_from_slice(&[(x * 7) as u8, (y * 13) as u8, ((x ^ y) * 3) as u8]);
        }
    }
    let mut zlib = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        zlib.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        zlib.extend_from_slice(&len.to_le_bytes());
        zlib.extend_from_slice(&(!len).to_le_bytes());
        zlib.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in &raw {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    zlib.extend_from_slice(&((b << 16) | a).to_be_bytes());

    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB, deflate, no filter/interlace
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &zlib);
    chunk(&mut out, b"IEND", &[]);
    out
}

fn tiny_png() -> String {
    b64(&png(1, 1))
}

/// A sub-account creation body with every field `CreateSubaccountTxn` requires.
fn subaccount_body() -> Value {
    json!({
        "company_name": "Acme Payouts LLC",
        "phone": "16502000226",
        "inc_date": "2015-04-01",
        "registration_number": "84-1234567",
        "website": "https://acme.example.com",
        "legal_structure": "LLC",
        "address1": "2000 main st",
        "state": "CA",
        "city": "Santa Monica",
        "zip": "90405",
        "country": "USA",
        "industry": "Software"
    })
}

fn ubo_body() -> Value {
    json!({
        "ownership_percentage": 60,
        "phone": "16502000226",
        "first_name": "Jane",
        "last_name": "Roe",
        "email": "jane.roe@example.com",
        "dob": "1980-02-29",
        "tax_id": "123-45-6789",
        "address1": "2000 main st",
        "city": "Santa Monica",
        "state": "CA",
        "zip": "90405",
        "country": "USA"
    })
}

/// The same server seen with `key` (e.g. a sub-account's API key).
fn as_key(app: &TestApp, key: &str) -> TestApp {
    TestApp {
        key: key.to_string(),
        ..app.clone()
    }
}

// ----- account statement -----------------------------------------------------------------------

#[tokio::test]
async fn the_account_statement_is_a_pdf_listing_the_periods_committed_payout_debits() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    let committed = completed_btc_payout(&app, &user, "100.5").await;
    // Initiated, never committed: nothing was debited, so it is not on the statement.
    let pending = app.pending_btc_payout(&user, "20").await;

    let day = today(&app).await;
    let from = day - Duration::days(1);
    for path in [
        format!("/account/statement?start_date={from}&ending_date={day}"),
        format!("/v1.0.0/payout/account/statement?start_date={from}&ending_date={day}"),
    ] {
        let pdf = pdf_of(&app.get(&path).await);
        // 100.5 + 2.99 fee, debited from the USD account.
        assert_pdf_has(&pdf, &[&committed, "103.49", USD_SOURCE]);
        assert!(!pdf_has(&pdf, &pending), "an uncommitted payout is listed");
    }

    // A period that ended before the payout does not list it.
    let pdf = pdf_of(
        &app.get(&format!(
            "/account/statement?start_date={}&ending_date={}",
            day - Duration::days(31),
            day - Duration::days(2)
        ))
        .await,
    );
    assert!(
        !pdf_has(&pdf, &committed),
        "a payout outside the period is listed"
    );
}

#[tokio::test]
async fn the_account_statement_needs_both_dates_at_most_31_days_apart_in_order() {
    let app = TestApp::spawn().await;
    for query in [
        "",
        "?start_date=2026-01-01",
        "?ending_date=2026-01-31",
        "?start_date=2026-01-01&ending_date=",
        // 32 days
        "?start_date=2026-01-01&ending_date=2026-02-02",
        // end before start
        "?start_date=2026-01-10&ending_date=2026-01-09",
        "?start_date=2026-1-1&ending_date=2026-01-20",
        "?start_date=2026-02-30&ending_date=2026-03-01",
    ] {
        let a = app.get(&format!("/account/statement{query}")).await;
        assert_error(&a, 400);
    }
    // Exactly 31 days, and a single day, are fine.
    pdf_of(
        &app.get("/account/statement?start_date=2026-01-01&ending_date=2026-02-01")
            .await,
    );
    pdf_of(
        &app.get("/account/statement?start_date=2026-01-01&ending_date=2026-01-01")
            .await,
    );
}

// ----- payout confirmation ---------------------------------------------------------------------

#[tokio::test]
async fn patch_payout_answers_its_confirmation_as_a_pdf() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    let p = completed_btc_payout(&app, &user, "100.5").await;
    let status = app.payout(&user, &p).await;
    let rate = number_text(&status.text, "exchange_rate");
    let destination_amount = number_text(&status.text, "destination_amount");

    for path in [
        format!("/payout/{user}/{p}"),
        format!("/v1.0.0/payout/{user}/{p}"),
    ] {
        let a = app.send(Method::PATCH, &path, None).await;
        let pdf = pdf_of(&a);
        assert_pdf_has(
            &pdf,
            &[
                &p,
                "100.5 USD",
                "2.99",
                &rate,
                &destination_amount,
                "COMPLETED",
                BTC_DESTINATION,
            ],
        );
    }
}

#[tokio::test]
async fn patch_of_an_unknown_payout_or_another_users_payout_is_404() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    let p = app.pending_btc_payout(&user, "10").await;
    let other = app.create_user().await;

    let unknown = format!("payout_{}", uuid::Uuid::new_v4());
    let a = app
        .send(Method::PATCH, &format!("/payout/{user}/{unknown}"), None)
        .await;
    assert_error(&a, 404);
    let a = app
        .send(Method::PATCH, &format!("/payout/{other}/{p}"), None)
        .await;
    assert_error(&a, 404);
    // The pending payout itself has a confirmation (status PENDING).
    let a = app
        .send(Method::PATCH, &format!("/payout/{user}/{p}"), None)
        .await;
    assert_pdf_has(&pdf_of(&a), &[&p, "PENDING"]);
}

// ----- user history ----------------------------------------------------------------------------

/// A user with, oldest first, a load of 100.5 (into the funds wallet), a committed BTC payout of
/// 100.5 from the USD account and a spend-back of 20.25 from the wallet, a minute apart.
struct HistoryFixture {
    user: String,
    funds: String,
    load: String,
    payout: String,
    spendback: String,
}

async fn history_fixture(app: &TestApp) -> HistoryFixture {
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    let funds = wallets(app, &user).await.funds;
    let load = completed_load(app, &user, "hist-load", "100.5").await;
    app.advance_clock(60).await;
    let payout = completed_btc_payout(app, &user, "100.5").await;
    app.advance_clock(60).await;
    let s = spendback(app, &user, "hist-spb", &funds, "20.25").await;
    assert_eq!(s.status, 200, "{}", s.text);
    assert_eq!(s.body["status"], "success", "{}", s.text);
    HistoryFixture {
        user,
        funds,
        load,
        payout,
        spendback: str_field(&s.body, "spendback_token"),
    }
}

/// `(token, type)` of each history item, in order.
async fn history(app: &TestApp, user: &str, query: &str) -> Vec<(String, String)> {
    let a = app.get(&format!("/user/{user}/history{query}")).await;
    assert_eq!(a.status, 200, "{query}: {}", a.text);
    a.body
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {}", a.text))
        .iter()
        .map(|i| (str_field(i, "token"), str_field(i, "type")))
        .collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(t, k)| (t.to_string(), k.to_string()))
        .collect()
}

#[tokio::test]
async fn user_history_lists_payouts_loads_and_spend_backs_newest_first() {
    let app = TestApp::spawn().await;
    let f = history_fixture(&app).await;
    let all = pairs(&[
        (&f.spendback, "spend back"),
        (&f.payout, "payout"),
        (&f.load, "load"),
    ]);
    assert_eq!(history(&app, &f.user, "").await, all);

    // The amounts, exactly.
    let a = app.get(&format!("/user/{}/history", f.user)).await;
    let load = item_with(&a.text, "token", &f.load);
    assert_eq!(number_text(&load, "source_amount"), "100.5");
    let payout = item_with(&a.text, "token", &f.payout);
    assert_eq!(number_text(&payout, "source_amount"), "100.5");
    assert_eq!(number_text(&payout, "fee"), "2.99");
    let p: Value = serde_json::from_str(&payout).unwrap();
    assert_eq!(p["status"], "COMPLETED");
    assert_eq!(p["destination_token"], BTC_DESTINATION);
    let spb = item_with(&a.text, "token", &f.spendback);
    assert_eq!(number_text(&spb, "source_amount"), "20.25");

    // 1.0.0 and the JS SDK's explicit defaults: the same list.
    let v1 = app
        .get(&format!(
            "/v1.0.0/payout/user/{}/history?number_of_records=10&page=1&show_all_clients=false",
            f.user
        ))
        .await;
    assert_eq!(v1.status, 200, "{}", v1.text);
    let v1: Vec<(String, String)> = v1
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (str_field(i, "token"), str_field(i, "type")))
        .collect();
    assert_eq!(v1, all);
}

#[tokio::test]
async fn user_history_filters_by_type_date_and_wallet() {
    let app = TestApp::spawn().await;
    let f = history_fixture(&app).await;
    let u = &f.user;
    assert_eq!(
        history(&app, u, "?type=payout").await,
        pairs(&[(&f.payout, "payout")])
    );
    assert_eq!(
        history(&app, u, "?type=load,spendback").await,
        pairs(&[(&f.spendback, "spend back"), (&f.load, "load")])
    );
    assert_eq!(
        history(&app, u, "?type=load").await,
        pairs(&[(&f.load, "load")])
    );

    let day = today(&app).await;
    assert_eq!(
        history(
            &app,
            u,
            &format!(
                "?start_date={}&end_date={}",
                day - Duration::days(1),
                day + Duration::days(1)
            )
        )
        .await
        .len(),
        3
    );
    assert!(
        history(&app, u, "?start_date=2000-01-01&end_date=2000-01-31")
            .await
            .is_empty()
    );
    assert!(
        history(&app, u, &format!("?start_date={}", day + Duration::days(2)))
            .await
            .is_empty()
    );
    assert!(
        history(&app, u, &format!("?end_date={}", day - Duration::days(2)))
            .await
            .is_empty()
    );

    // The funds wallet saw the load and the spend-back, not the payout from the USD account.
    assert_eq!(
        history(&app, u, &format!("?wallet_token={}", f.funds)).await,
        pairs(&[(&f.spendback, "spend back"), (&f.load, "load")])
    );
}

#[tokio::test]
async fn user_history_pages() {
    let app = TestApp::spawn().await;
    let f = history_fixture(&app).await;
    let u = &f.user;
    assert_eq!(
        history(&app, u, "?number_of_records=2&page=1").await,
        pairs(&[(&f.spendback, "spend back"), (&f.payout, "payout")])
    );
    assert_eq!(
        history(&app, u, "?number_of_records=2&page=2").await,
        pairs(&[(&f.load, "load")])
    );
    assert!(history(&app, u, "?number_of_records=2&page=3")
        .await
        .is_empty());
    assert_eq!(
        history(&app, u, "?number_of_records=1&page=2").await,
        pairs(&[(&f.payout, "payout")])
    );
}

#[tokio::test]
async fn user_history_is_newest_first_even_for_back_to_back_transactions() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let w = wallets(&app, &user).await;
    // What a client sees when it loads and spends back in a tight loop (no clock moves).
    let mut made = Vec::new();
    for i in 0..20 {
        made.push(completed_load(&app, &user, &format!("tight-load-{i}"), "1").await);
        let s = spendback(&app, &user, &format!("tight-spb-{i}"), &w.funds, "1").await;
        assert_eq!(s.body["status"], "success", "{}", s.text);
        made.push(str_field(&s.body, "spendback_token"));
    }
    made.reverse();
    let listed: Vec<String> = history(&app, &user, "?number_of_records=100")
        .await
        .into_iter()
        .map(|(token, _)| token)
        .collect();
    let misplaced = listed.iter().zip(&made).filter(|(a, b)| a != b).count();
    assert_eq!(listed, made, "{misplaced} of 40 items out of order");
}

#[tokio::test]
async fn user_history_refuses_bad_parameters() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    for query in [
        "?type=refund",
        "?type=payout,bonus",
        "?page=0",
        "?page=abc",
        "?page=1.5",
        "?number_of_records=0",
        "?number_of_records=abc",
        "?start_date=2020-02-30",
        "?end_date=31-03-2020",
        "?start_date=2024-05-02&end_date=2024-05-01",
        "?show_all_clients=maybe",
    ] {
        let a = app.get(&format!("/user/{user}/history{query}")).await;
        assert_error(&a, 400);
    }
    let a = app
        .get(&format!("/user/usr_{}/history", uuid::Uuid::new_v4()))
        .await;
    assert_error(&a, 404);
}

// ----- service alternatives --------------------------------------------------------------------

async fn alternatives(app: &TestApp, path: &str) -> (Value, Vec<String>) {
    let a = app.get(path).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let mut tokens: Vec<String> = a.body["payers"]
        .as_array()
        .unwrap_or_else(|| panic!("no payers: {}", a.text))
        .iter()
        .map(|p| str_field(p, "destination_token"))
        .collect();
    tokens.sort();
    (a.body, tokens)
}

#[tokio::test]
async fn alternatives_are_the_other_payers_of_the_same_country_and_delivery_type() {
    let app = TestApp::spawn().await;
    let (service, tokens) =
        alternatives(&app, &format!("/service/{BTC_DESTINATION}/alternatives")).await;
    assert_eq!(service["country_code"], "MEX");
    assert_eq!(service["delivery_type"], "CRYPTOCURRENCY");
    let mut expected = vec![BITSO_ETHEREUM.to_string(), BITSO_STABLECOINS.to_string()];
    expected.sort();
    assert_eq!(tokens, expected);

    let (service, tokens) = alternatives(&app, &format!("/service/{CHASE}/alternatives")).await;
    assert_eq!(service["country_code"], "USA");
    assert_eq!(service["delivery_type"], "BANK_DEPOSIT");
    assert_eq!(tokens, vec![BANK_OF_AMERICA.to_string()]);

    let (_, v1) = alternatives(
        &app,
        &format!("/v1.0.0/payout/service/{CHASE}/alternatives"),
    )
    .await;
    assert_eq!(v1, vec![BANK_OF_AMERICA.to_string()]);

    let a = app
        .get(&format!(
            "/service/dst_{}/alternatives",
            uuid::Uuid::new_v4()
        ))
        .await;
    assert_error(&a, 404);
}

// ----- user agreements -------------------------------------------------------------------------

#[tokio::test]
async fn options_user_agreements_lists_the_four_agreements() {
    let app = TestApp::spawn().await;
    for path in ["/user-agreements", "/v1.0.0/payout/user-agreements"] {
        let a = app.send(Method::OPTIONS, path, None).await;
        assert_eq!(a.status, 200, "{path}: {}", a.text);
        let list = a.body.as_array().unwrap_or_else(|| panic!("{}", a.text));
        assert_eq!(list.len(), 4, "{}", a.text);
        let mut ids: Vec<i64> = list.iter().map(|i| i["id"].as_i64().unwrap()).collect();
        ids.sort();
        assert_eq!(ids, vec![1, 2, 3, 4]);
        for item in list {
            assert!(
                item["name"].as_str().is_some_and(|n| !n.is_empty()),
                "{item}"
            );
            let modified = item["last_modified"].as_str().unwrap();
            assert!(DateTime::parse_from_rfc3339(modified).is_ok(), "{modified}");
            assert_eq!(item["mime_type"], "application/pdf");
            assert!(item.get("content").is_none(), "the list carries no content");
        }
    }
}

#[tokio::test]
async fn get_user_agreement_answers_its_pdf() {
    let app = TestApp::spawn().await;
    let names = app.send(Method::OPTIONS, "/user-agreements", None).await;
    let listed = names
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == 2)
        .cloned()
        .unwrap();
    for path in [
        "/user-agreements?id=2",
        "/v1.0.0/payout/user-agreements?id=2",
    ] {
        let a = app.get(path).await;
        let pdf = pdf_of(&a);
        assert_eq!(a.body["id"], 2);
        assert_eq!(a.body["name"], listed["name"]);
        assert_eq!(a.body["last_modified"], listed["last_modified"]);
        assert_eq!(a.body["mime_type"], "application/pdf");
        assert_pdf_has(&pdf, &[listed["name"].as_str().unwrap()]);
    }
    assert_error(&app.get("/user-agreements").await, 400);
    assert_error(&app.get("/user-agreements?id=").await, 400);
    assert_error(&app.get("/user-agreements?id=two").await, 400);
    assert_error(&app.get("/user-agreements?id=99").await, 404);
    assert_error(&app.get("/user-agreements?id=0").await, 404);
}

#[tokio::test]
async fn a_cors_preflight_is_answered_204_not_as_the_options_operation() {
    let app = TestApp::spawn().await;
    // Browsers send preflights without credentials.
    let a = answer(
        app.client
            .request(Method::OPTIONS, app.url("/user-agreements"))
            .header("Origin", "https://app.example.com")
            .header("Access-Control-Request-Method", "GET")
            .header("Access-Control-Request-Headers", "authorization"),
    )
    .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.text);
    assert!(a.text.is_empty(), "{}", a.text);
    assert!(
        a.headers.contains_key("access-control-allow-origin"),
        "{:?}",
        a.headers
    );
    assert!(a.headers.contains_key("access-control-allow-methods"));

    // An OPTIONS from a browser page without Access-Control-Request-Method is the real operation.
    let a = answer(
        app.request(Method::OPTIONS, "/user-agreements")
            .header("Origin", "https://app.example.com"),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body.as_array().map(Vec::len), Some(4), "{}", a.text);
    assert!(a.headers.contains_key("access-control-allow-origin"));
}

// ----- velocity --------------------------------------------------------------------------------

#[tokio::test]
async fn velocity_finds_the_other_users_holding_a_value() {
    let app = TestApp::spawn().await;
    let (u1, u2, u3) = (
        app.create_user().await,
        app.create_user().await,
        app.create_user().await,
    );
    store_chase(&app, &u1, "021000021").await;
    store_chase(&app, &u2, "021000021").await;
    store_chase(&app, &u3, "026009593").await;
    let query = json!([{"type": "BankRoutingNumber", "value": "021000021"}]);

    let a = app
        .post(&format!("/attribute/{u1}/velocity"), query.clone())
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(
        a.body,
        json!([{"user_token": u2, "type": "BankRoutingNumber", "value": "021000021"}])
    );

    let a = app
        .post(
            &format!("/v1.0.0/payout/attribute/{u1}/velocity"),
            query.clone(),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body, json!([u2]));

    // Asked by u3 (who holds another number): u1 and u2.
    let a = app
        .post(&format!("/v1.0.0/payout/attribute/{u3}/velocity"), query)
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let mut got: Vec<String> = a
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().expect("a string").to_string())
        .collect();
    got.sort();
    let mut want = vec![u1.clone(), u2.clone()];
    want.sort();
    assert_eq!(got, want);

    // Another tenant's users holding the same number are not this tenant's business.
    let other = app.other_tenant();
    let stranger = other.create_user().await;
    store_chase(&other, &stranger, "021000021").await;
    let a = app
        .post(
            &format!("/attribute/{u1}/velocity"),
            json!([{"type": "BankRoutingNumber", "value": "021000021"}]),
        )
        .await;
    assert_eq!(a.body.as_array().map(Vec::len), Some(1), "{}", a.text);

    // The same value under another type matches nothing.
    let a = app
        .post(
            &format!("/attribute/{u1}/velocity"),
            json!([{"type": "BankAccountNumber", "value": "021000021"}]),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body, json!([]));
}

#[tokio::test]
async fn velocity_refuses_unknown_types_and_missing_values() {
    let app = TestApp::spawn().await;
    let u = app.create_user().await;
    for body in [
        json!([{"type": "RoutingNumber", "value": "021000021"}]),
        json!([{"value": "021000021"}]),
        json!([{"type": "BankRoutingNumber"}]),
        json!([{"type": "BankRoutingNumber", "value": ""}]),
    ] {
        let a = app.post(&format!("/attribute/{u}/velocity"), body).await;
        assert_error(&a, 400);
    }
    let a = app
        .post(
            &format!("/attribute/usr_{}/velocity", uuid::Uuid::new_v4()),
            json!([{"type": "BankRoutingNumber", "value": "021000021"}]),
        )
        .await;
    assert_error(&a, 404);
}

#[tokio::test]
async fn velocity_in_1_0_0_lists_each_matching_user_once() {
    let app = TestApp::spawn().await;
    let (u1, u2, u3) = (
        app.create_user().await,
        app.create_user().await,
        app.create_user().await,
    );
    // u2 and u3 share u1's routing number and account number.
    for u in [&u1, &u2, &u3] {
        store_chase(&app, u, "021000021").await;
    }
    let a = app
        .post(
            &format!("/v1.0.0/payout/attribute/{u1}/velocity"),
            json!([
                {"type": "BankRoutingNumber", "value": "021000021"},
                {"type": "BankAccountNumber", "value": "123456789"}
            ]),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let mut got: Vec<String> = a
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    got.sort();
    let mut want = vec![u2.clone(), u3.clone()];
    want.sort();
    assert_eq!(got, want, "a user token listed twice: {}", a.text);
}

// ----- loads -----------------------------------------------------------------------------------

#[tokio::test]
async fn a_load_moves_money_exactly_from_the_account_to_the_users_funds_wallet() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let w = wallets(&app, &user).await;

    let a = load(
        &app,
        &user,
        "load-1",
        "100.5",
        r#","notes":"July commission""#,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["status"], "COMPLETED");
    let l = str_field(&a.body, "load_token");
    assert!(l.starts_with("ld_"), "{l}");
    assert_eq!(a.body["wallet_token"], w.funds.as_str());
    assert_eq!(app.balance("USD").await, "249899.5");
    assert_eq!(wallet_balance(&app, &user, &w.funds).await, "100.5");
    assert_eq!(wallet_balance(&app, &user, &w.card).await, "0");

    let raw = listed_load(&app, &user, &l).await;
    assert_eq!(number_text(&raw, "amount"), "100.5");
    let listed: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(listed["status"], "COMPLETED");
    assert_eq!(listed["client_load_id"], "load-1");
    assert_eq!(listed["source_token"], USD_SOURCE);
    assert_eq!(listed["wallet_token"], w.funds.as_str());
    assert_eq!(listed["source_currency_code"], "USD");
    assert_eq!(listed["notes"], "July commission");

    // A second, tiny load adds up exactly; 1.0.0 lists the same loads.
    completed_load(&app, &user, "load-2", "0.01").await;
    assert_eq!(app.balance("USD").await, "249899.49");
    assert_eq!(wallet_balance(&app, &user, &w.funds).await, "100.51");
    let v1 = app.get(&format!("/v1.0.0/payout/load/{user}")).await;
    assert_eq!(v1.status, 200, "{}", v1.text);
    assert_eq!(v1.body.as_array().map(Vec::len), Some(2), "{}", v1.text);
}

#[tokio::test]
async fn a_reused_client_load_id_is_400_and_moves_nothing() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let w = wallets(&app, &user).await;
    completed_load(&app, &user, "dup-load", "10").await;
    let a = load(&app, &user, "dup-load", "10", "").await;
    assert_mentions(&assert_error(&a, 400), &["client_load_id"]);
    assert_eq!(app.balance("USD").await, "249990");
    assert_eq!(wallet_balance(&app, &user, &w.funds).await, "10");
    let list = app.get(&format!("/load/{user}")).await;
    assert_eq!(list.body.as_array().map(Vec::len), Some(1), "{}", list.text);
}

#[tokio::test]
async fn a_load_refuses_bad_bodies() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    for body in [
        r#"{"source_token":"clnt_wlt_ba4275f2-bae1-488d-9d6f-20af1cd83574","amount":10}"#
            .to_string(),
        r#"{"client_load_id":"x","amount":10}"#.to_string(),
        format!(r#"{{"client_load_id":"x","source_token":"{USD_SOURCE}"}}"#),
        format!(r#"{{"client_load_id":"x","source_token":"{USD_SOURCE}","amount":10.001}}"#),
        format!(r#"{{"client_load_id":"x","source_token":"{USD_SOURCE}","amount":0}}"#),
        format!(r#"{{"client_load_id":"x","source_token":"{USD_SOURCE}","amount":-10}}"#),
        format!(r#"{{"client_load_id":"x","source_token":"{USD_SOURCE}","amount":"10"}}"#),
        format!(
            r#"{{"client_load_id":"x","source_token":"clnt_wlt_{}","amount":10}}"#,
            uuid::Uuid::new_v4()
        ),
        format!(
            r#"{{"client_load_id":"x","source_token":"{USD_SOURCE}","source_currency_code":"BTC","amount":10}}"#
        ),
        format!(
            r#"{{"client_load_id":"x","source_token":"{USD_SOURCE}","amount":10,"time_to_process":"next tuesday"}}"#
        ),
    ] {
        let a = app
            .send_text(Method::POST, &format!("/load/{user}"), &body)
            .await;
        assert_error(&a, 400);
    }
    assert_eq!(app.balance("USD").await, "250000");
    let a = load(
        &app,
        &format!("usr_{}", uuid::Uuid::new_v4()),
        "y",
        "10",
        "",
    )
    .await;
    assert_error(&a, 404);
}

#[tokio::test]
async fn a_load_above_the_account_balance_is_cancelled_and_moves_nothing() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let w = wallets(&app, &user).await;
    let s = app.set_balance("USD", "\"50\"").await;
    assert_eq!(s.status, 200, "{}", s.text);

    let a = load(&app, &user, "too-much", "50.01", "").await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["status"], "CANCELLED", "{}", a.text);
    let l = str_field(&a.body, "load_token");
    assert_eq!(app.balance("USD").await, "50");
    assert_eq!(wallet_balance(&app, &user, &w.funds).await, "0");
    assert_eq!(load_status(&app, &user, &l).await, "CANCELLED");

    // Exactly the balance goes.
    completed_load(&app, &user, "all-of-it", "50").await;
    assert_eq!(app.balance("USD").await, "0");
    assert_eq!(wallet_balance(&app, &user, &w.funds).await, "50");
}

#[tokio::test]
async fn a_scheduled_load_moves_money_only_when_the_test_clock_reaches_it() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let w = wallets(&app, &user).await;
    let at = clock_now(&app).await + Duration::hours(1);
    let a = load(
        &app,
        &user,
        "later",
        "75.25",
        &format!(
            r#","time_to_process":"{}""#,
            at.format("%Y-%m-%dT%H:%M:%SZ")
        ),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["status"], "SCHEDULED", "{}", a.text);
    let l = str_field(&a.body, "load_token");
    assert_eq!(a.body["wallet_token"], w.funds.as_str());
    assert_eq!(app.balance("USD").await, "250000");
    assert_eq!(wallet_balance(&app, &user, &w.funds).await, "0");
    assert_eq!(load_status(&app, &user, &l).await, "SCHEDULED");

    app.advance_clock(1800).await;
    assert_eq!(load_status(&app, &user, &l).await, "SCHEDULED");
    assert_eq!(app.balance("USD").await, "250000");

    app.advance_clock(1801).await;
    assert_eq!(load_status(&app, &user, &l).await, "COMPLETED");
    assert_eq!(app.balance("USD").await, "249924.75");
    assert_eq!(wallet_balance(&app, &user, &w.funds).await, "75.25");
}

#[tokio::test]
async fn resending_a_load_notification_needs_a_load_token_of_the_user() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let l = completed_load(&app, &user, "notify", "5").await;
    for path in [
        format!("/load/{user}?load_token={l}"),
        format!("/v1.0.0/payout/load/{user}?load_token={l}"),
    ] {
        let a = app.put(&path, None).await;
        assert_eq!(a.status, 200, "{}", a.text);
        assert_eq!(a.body, json!({"success": true}));
    }
    assert_error(&app.put(&format!("/load/{user}"), None).await, 400);
    assert_error(
        &app.put(&format!("/load/{user}?load_token="), None).await,
        400,
    );
    let a = app
        .put(
            &format!("/load/{user}?load_token=ld_{}", uuid::Uuid::new_v4()),
            None,
        )
        .await;
    assert_error(&a, 404);
    // Another user's load is not this user's.
    let other = app.create_user().await;
    assert_error(
        &app.put(&format!("/load/{other}?load_token={l}"), None)
            .await,
        404,
    );
}

#[tokio::test]
async fn deleting_a_completed_load_reverses_it_exactly_once() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let w = wallets(&app, &user).await;
    let l = completed_load(&app, &user, "reverse-me", "100.5").await;
    assert_eq!(app.balance("USD").await, "249899.5");

    let a = app.delete(&format!("/load/{user}?load_token={l}")).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(app.balance("USD").await, "250000");
    assert_eq!(wallet_balance(&app, &user, &w.funds).await, "0");
    assert_eq!(load_status(&app, &user, &l).await, "CANCELLED");

    // Already cancelled: refused, and no second reversal.
    let a = app.delete(&format!("/load/{user}?load_token={l}")).await;
    assert_error(&a, 400);
    assert_eq!(app.balance("USD").await, "250000");
    assert_eq!(wallet_balance(&app, &user, &w.funds).await, "0");

    assert_error(&app.delete(&format!("/load/{user}")).await, 400);
    assert_error(
        &app.delete(&format!(
            "/load/{user}?load_token=ld_{}",
            uuid::Uuid::new_v4()
        ))
        .await,
        404,
    );
}

#[tokio::test]
async fn a_completed_load_the_wallet_no_longer_holds_cannot_be_reversed() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let w = wallets(&app, &user).await;
    let l = completed_load(&app, &user, "spent", "100").await;
    let s = spendback(&app, &user, "spend-some", &w.funds, "0.01").await;
    assert_eq!(s.body["status"], "success", "{}", s.text);
    let a = app.delete(&format!("/load/{user}?load_token={l}")).await;
    assert_error(&a, 400);
    assert_eq!(wallet_balance(&app, &user, &w.funds).await, "99.99");
    assert_eq!(app.balance("USD").await, "249900.01");
    assert_eq!(load_status(&app, &user, &l).await, "COMPLETED");
}

#[tokio::test]
async fn deleting_a_scheduled_load_cancels_it_for_good() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let w = wallets(&app, &user).await;
    let at = clock_now(&app).await + Duration::hours(2);
    let a = load(
        &app,
        &user,
        "cancel-me",
        "40",
        &format!(r#","time_to_process":"{}""#, at.to_rfc3339()),
    )
    .await;
    assert_eq!(a.body["status"], "SCHEDULED", "{}", a.text);
    let l = str_field(&a.body, "load_token");

    let a = app
        .delete(&format!("/v1.0.0/payout/load/{user}?load_token={l}"))
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(load_status(&app, &user, &l).await, "CANCELLED");

    app.advance_clock(3 * 3600).await;
    assert_eq!(load_status(&app, &user, &l).await, "CANCELLED");
    assert_eq!(app.balance("USD").await, "250000");
    assert_eq!(wallet_balance(&app, &user, &w.funds).await, "0");
    assert_error(
        &app.delete(&format!("/load/{user}?load_token={l}")).await,
        400,
    );
}

#[tokio::test]
async fn a_load_from_another_currency_opens_a_funds_wallet_in_it() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let a = app
        .send_text(
            Method::POST,
            &format!("/load/{user}"),
            &format!(r#"{{"client_load_id":"btc-load","source_token":"{BTC_SOURCE}","source_currency_code":"BTC","amount":0.00100001}}"#),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["status"], "COMPLETED", "{}", a.text);
    let wallet = str_field(&a.body, "wallet_token");
    assert_eq!(app.balance("BTC").await, "1.93713499");
    assert_eq!(app.balance("USD").await, "250000");
    let list = app.get(&format!("/wallet/{user}")).await;
    assert_eq!(list.body.as_array().map(Vec::len), Some(3), "{}", list.text);
    let raw = item_with(&list.text, "token", &wallet);
    assert_eq!(number_text(&raw, "balance"), "0.00100001");
    let v: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(v["currency_code"], "BTC");
    assert_eq!(v["type"], "USER_FUNDS");
    // The USD funds wallet is untouched.
    let usd = wallets(&app, &user).await.funds;
    assert_ne!(usd, wallet);
    assert_eq!(wallet_balance(&app, &user, &usd).await, "0");
}

#[tokio::test]
async fn a_scheduled_load_the_account_cannot_cover_when_it_falls_due_is_cancelled() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let w = wallets(&app, &user).await;
    let at = clock_now(&app).await + Duration::minutes(10);
    let a = load(
        &app,
        &user,
        "short-later",
        "60",
        &format!(
            r#","time_to_process":"{}""#,
            at.format("%Y-%m-%dT%H:%M:%SZ")
        ),
    )
    .await;
    assert_eq!(a.body["status"], "SCHEDULED", "{}", a.text);
    let l = str_field(&a.body, "load_token");
    let raw = listed_load(&app, &user, &l).await;
    let listed: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(
        listed["time_of_load"],
        at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    );
    assert_eq!(app.set_balance("USD", "50").await.status, 200);
    app.advance_clock(601).await;
    assert_eq!(load_status(&app, &user, &l).await, "CANCELLED");
    assert_eq!(app.balance("USD").await, "50");
    assert_eq!(wallet_balance(&app, &user, &w.funds).await, "0");
}

#[tokio::test]
async fn concurrent_loads_never_overdraw_the_account() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let w = wallets(&app, &user).await;
    assert_eq!(app.set_balance("USD", "10").await.status, 200);
    let mut tasks = JoinSet::new();
    for i in 0..25 {
        let (app, user) = (app.clone(), user.clone());
        tasks.spawn(async move {
            let a = load(&app, &user, &format!("race-{i}"), "1", "").await;
            assert_eq!(a.status, 200, "{}", a.text);
            a.body["status"].as_str().unwrap().to_string()
        });
    }
    let mut completed = 0;
    while let Some(status) = tasks.join_next().await {
        let status = status.unwrap();
        assert!(status == "COMPLETED" || status == "CANCELLED", "{status}");
        completed += usize::from(status == "COMPLETED");
    }
    assert_eq!(completed, 10);
    assert_eq!(app.balance("USD").await, "0");
    assert_eq!(wallet_balance(&app, &user, &w.funds).await, "10");
}

#[tokio::test]
async fn concurrent_reversals_of_one_load_give_the_money_back_once() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let w = wallets(&app, &user).await;
    let l = completed_load(&app, &user, "reverse-race", "100.5").await;
    let mut tasks = JoinSet::new();
    for _ in 0..10 {
        let (app, path) = (app.clone(), format!("/load/{user}?load_token={l}"));
        tasks.spawn(async move { app.delete(&path).await.status.as_u16() });
    }
    let mut ok = 0;
    while let Some(code) = tasks.join_next().await {
        let code = code.unwrap();
        assert!(code == 200 || code == 400, "{code}");
        ok += usize::from(code == 200);
    }
    assert_eq!(ok, 1);
    assert_eq!(app.balance("USD").await, "250000");
    assert_eq!(wallet_balance(&app, &user, &w.funds).await, "0");
}

// ----- wallets and autopay ---------------------------------------------------------------------

#[tokio::test]
async fn a_new_user_has_a_usd_funds_wallet_and_a_usd_card_wallet() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    for path in [
        format!("/wallet/{user}"),
        format!("/v1.0.0/payout/wallet/{user}"),
    ] {
        let a = app.get(&path).await;
        assert_eq!(a.status, 200, "{}", a.text);
        assert_eq!(a.body.as_array().map(Vec::len), Some(2), "{}", a.text);
        let funds = item_with(&a.text, "type", "USER_FUNDS");
        let card = item_with(&a.text, "type", "MASSPAY_CARD");
        for raw in [&funds, &card] {
            assert_eq!(number_text(raw, "balance"), "0");
            let v: Value = serde_json::from_str(raw).unwrap();
            assert_eq!(v["currency_code"], "USD");
            assert_eq!(v["user_token"], user.as_str());
            assert_eq!(v["active"], true);
            assert!(str_field(&v, "token").starts_with("usr_wlt_"), "{raw}");
        }
        let card: Value = serde_json::from_str(&card).unwrap();
        assert_eq!(card["card_type"], "VISA");
        let last_4 = str_field(&card, "last_4");
        assert!(
            last_4.len() == 4 && last_4.bytes().all(|b| b.is_ascii_digit()),
            "{last_4}"
        );
        let funds: Value = serde_json::from_str(&funds).unwrap();
        assert!(funds.get("card_type").is_none(), "{funds}");
        assert!(funds.get("last_4").is_none(), "{funds}");
    }
    let w = wallets(&app, &user).await;
    let a = app
        .put(&format!("/wallet/{user}?wallet_token={}", w.card), None)
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body, json!({"success": true}));
    assert_error(
        &app.get(&format!("/wallet/usr_{}", uuid::Uuid::new_v4()))
            .await,
        404,
    );
}

#[tokio::test]
async fn autopay_pays_out_its_share_of_each_load_amount_plus_fee_from_the_wallet() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    store_chase(&app, &user, "021000021").await;
    let w = wallets(&app, &user).await;
    let a = app
        .post(
            &format!("/wallet/{user}/{}/autopay", w.funds),
            json!({"destination_token": CHASE, "percentage": 50}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let rule = str_field(&a.body, "token");
    assert!(rule.starts_with("autopay_"), "{rule}");
    assert_eq!(a.body["destination_token"], CHASE);
    assert_eq!(number_text(&a.text, "percentage"), "50");

    completed_load(&app, &user, "autopaid", "100.5").await;
    // Half of 100.5 = 50.25 left the wallet: 49.75 paid out + 0.50 fee. The client account
    // only paid the load.
    assert_eq!(wallet_balance(&app, &user, &w.funds).await, "50.25");
    assert_eq!(app.balance("USD").await, "249899.5");
    let a = app.get(&format!("/payout/{user}")).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let items = raw_items(&a.text);
    assert_eq!(items.len(), 1, "{}", a.text);
    assert_eq!(number_text(&items[0], "source_amount"), "49.75");
    assert_eq!(number_text(&items[0], "fee"), "0.5");
    let p: Value = serde_json::from_str(&items[0]).unwrap();
    assert_eq!(p["destination_token"], CHASE);
    assert_eq!(p["source_token"], w.funds.as_str());
    // Committed: a next-day bank deposit is PROCESSING, not PENDING.
    assert_eq!(p["status"], "PROCESSING", "{}", a.text);
}

#[tokio::test]
async fn autopay_also_runs_when_a_scheduled_load_completes() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    store_chase(&app, &user, "021000021").await;
    let w = wallets(&app, &user).await;
    let a = app
        .post(
            &format!("/v1.0.0/payout/wallet/{user}/{}/autopayout", w.funds),
            json!({"destination_token": CHASE, "percentage": 100}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let at = clock_now(&app).await + Duration::hours(1);
    let a = load(
        &app,
        &user,
        "payday",
        "20",
        &format!(
            r#","time_to_process":"{}""#,
            at.format("%Y-%m-%dT%H:%M:%SZ")
        ),
    )
    .await;
    assert_eq!(a.body["status"], "SCHEDULED", "{}", a.text);
    assert_eq!(app.get(&format!("/payout/{user}")).await.body, json!([]));

    app.advance_clock(3601).await;
    // All of it: 19.5 paid out + 0.5 fee.
    assert_eq!(wallet_balance(&app, &user, &w.funds).await, "0");
    assert_eq!(app.balance("USD").await, "249980");
    let a = app.get(&format!("/payout/{user}")).await;
    let items = raw_items(&a.text);
    assert_eq!(items.len(), 1, "{}", a.text);
    assert_eq!(number_text(&items[0], "source_amount"), "19.5");
    assert_eq!(number_text(&items[0], "fee"), "0.5");
}

#[tokio::test]
async fn autopay_without_the_destinations_attributes_pays_nothing_and_keeps_the_load() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let w = wallets(&app, &user).await;
    let a = app
        .post(
            &format!("/wallet/{user}/{}/autopay", w.funds),
            json!({"destination_token": CHASE, "percentage": 50}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    completed_load(&app, &user, "no-details", "100.5").await;
    assert_eq!(wallet_balance(&app, &user, &w.funds).await, "100.5");
    let a = app.get(&format!("/payout/{user}")).await;
    for raw in raw_items(&a.text) {
        let p: Value = serde_json::from_str(&raw).unwrap();
        assert_ne!(p["status"], "PROCESSING", "{raw}");
        assert_ne!(p["status"], "COMPLETED", "{raw}");
    }
}

#[tokio::test]
async fn autopay_rules_are_listed_capped_at_100_percent_and_deleted_by_token() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let w = wallets(&app, &user).await;
    let path = format!("/wallet/{user}/{}/autopay", w.funds);
    let v1_path = format!("/v1.0.0/payout/wallet/{user}/{}/autopayout", w.funds);

    let first = app
        .post(&path, json!({"destination_token": CHASE, "percentage": 60}))
        .await;
    assert_eq!(first.status, 200, "{}", first.text);
    let first = str_field(&first.body, "token");
    // 60 + 50 > 100.
    let a = app
        .post(
            &path,
            json!({"destination_token": BANK_OF_AMERICA, "percentage": 50}),
        )
        .await;
    assert_error(&a, 400);
    let second = app
        .post(
            &v1_path,
            json!({"destination_token": BANK_OF_AMERICA, "percentage": 40}),
        )
        .await;
    assert_eq!(second.status, 200, "{}", second.text);
    let second = str_field(&second.body, "token");
    // Full: even 0.01 more is refused.
    let a = app
        .post(
            &path,
            json!({"destination_token": CHASE, "percentage": 0.01}),
        )
        .await;
    assert_error(&a, 400);

    for p in [&path, &v1_path] {
        let a = app.get(p).await;
        assert_eq!(a.status, 200, "{}", a.text);
        let mut tokens: Vec<String> = a
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|r| str_field(r, "token"))
            .collect();
        tokens.sort();
        let mut want = vec![first.clone(), second.clone()];
        want.sort();
        assert_eq!(tokens, want, "{p}");
    }
    let raw = app.get(&path).await.text;
    assert_eq!(
        number_text(&item_with(&raw, "token", &first), "percentage"),
        "60"
    );

    let a = app.delete(&format!("{path}?token={first}")).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let a = app.get(&v1_path).await;
    assert_eq!(a.body.as_array().map(Vec::len), Some(1), "{}", a.text);
    assert_eq!(a.body[0]["token"], second.as_str());
    // Freed: 60 more fits again.
    let a = app
        .post(&path, json!({"destination_token": CHASE, "percentage": 60}))
        .await;
    assert_eq!(a.status, 200, "{}", a.text);

    assert_error(&app.delete(&format!("{path}?token={first}")).await, 404);
    assert_error(&app.delete(&path).await, 400);
}

#[tokio::test]
async fn autopay_refuses_bad_rules() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let w = wallets(&app, &user).await;
    let path = format!("/wallet/{user}/{}/autopay", w.funds);
    for body in [
        json!({"destination_token": CHASE, "percentage": 0}),
        json!({"destination_token": CHASE, "percentage": -5}),
        json!({"destination_token": CHASE, "percentage": 100.5}),
        json!({"percentage": 50}),
        json!({"destination_token": format!("dst_{}", uuid::Uuid::new_v4()), "percentage": 50}),
    ] {
        assert_error(&app.post(&path, body).await, 400);
    }
    let a = app.get(&path).await;
    assert_eq!(a.body, json!([]), "{}", a.text);
    let a = app
        .post(
            &format!("/wallet/{user}/usr_wlt_{}/autopay", uuid::Uuid::new_v4()),
            json!({"destination_token": CHASE, "percentage": 50}),
        )
        .await;
    assert_error(&a, 404);
}

// ----- cards -----------------------------------------------------------------------------------

#[tokio::test]
async fn the_card_wallets_card_number_is_an_integer_in_0_1_4_and_a_string_in_1_0_0() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let w = wallets(&app, &user).await;
    let a = app.get(&format!("/wallet/{user}/{}/card", w.card)).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let number = a.body["card_number"]
        .as_u64()
        .unwrap_or_else(|| panic!("card_number is not a JSON integer: {}", a.text));
    assert!(
        number < (1u64 << 53),
        "{number} does not survive a JS double"
    );
    assert_eq!(number.to_string().len(), 16, "{number}");
    let cvv = str_field(&a.body, "cvv");
    assert!(
        cvv.len() == 3 && cvv.bytes().all(|b| b.is_ascii_digit()),
        "{cvv}"
    );
    let pin = str_field(&a.body, "pin_number");
    assert!(
        pin.len() == 4 && pin.bytes().all(|b| b.is_ascii_digit()),
        "{pin}"
    );
    let expiry = str_field(&a.body, "expiration_date");
    let expiry = NaiveDate::parse_from_str(&expiry, "%Y-%m-%d")
        .unwrap_or_else(|e| panic!("{expiry:?}: {e}"));
    assert!(expiry > today(&app).await);
    assert_eq!(a.body["type"], "VISA");
    assert_eq!(a.body["status"], "ACTIVE");
    assert_eq!(number_text(&a.text, "balance"), "0");

    // The wallet list's last_4 is the card's.
    let list = app.get(&format!("/wallet/{user}")).await;
    let card: Value = serde_json::from_str(&item_with(&list.text, "token", &w.card)).unwrap();
    assert_eq!(card["last_4"], format!("{:04}", number % 10_000));

    let v1 = app
        .get(&format!("/v1.0.0/payout/wallet/{user}/{}/card", w.card))
        .await;
    assert_eq!(v1.status, 200, "{}", v1.text);
    assert_eq!(v1.body["card_number"], number.to_string(), "{}", v1.text);
    assert_eq!(v1.body["cvv"], cvv.as_str());
    assert_eq!(v1.body["pin_number"], pin.as_str());
}

#[tokio::test]
async fn put_card_changes_the_pin_and_status() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let w = wallets(&app, &user).await;
    let path = format!("/wallet/{user}/{}/card", w.card);
    let a = app
        .put(&format!("{path}?pin=0123&status=SUSPEND"), None)
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let a = app.get(&path).await;
    assert_eq!(a.body["status"], "INACTIVE", "{}", a.text);
    assert_eq!(a.body["pin_number"], "0123", "{}", a.text);

    let a = app
        .put(
            &format!(
                "/v1.0.0/payout/wallet/{user}/{}/card?status=UNSUSPEND",
                w.card
            ),
            None,
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let a = app.get(&path).await;
    assert_eq!(a.body["status"], "ACTIVE", "{}", a.text);
    assert_eq!(a.body["pin_number"], "0123", "{}", a.text);
}

#[tokio::test]
async fn put_card_refuses_bad_pins_and_statuses_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let w = wallets(&app, &user).await;
    let path = format!("/wallet/{user}/{}/card", w.card);
    let before = app.get(&path).await.body;
    for query in [
        "?pin=123",
        "?pin=12345",
        "?pin=12a4",
        "?status=FREEZE",
        "?status=suspend",
        "?pin=0123&status=FREEZE",
        "?pin=12a4&status=SUSPEND",
    ] {
        let a = app.put(&format!("{path}{query}"), None).await;
        assert_error(&a, 400);
    }
    assert_eq!(app.get(&path).await.body, before);

    // The funds wallet has no card.
    assert_error(
        &app.get(&format!("/wallet/{user}/{}/card", w.funds)).await,
        400,
    );
    assert_error(
        &app.put(&format!("/wallet/{user}/{}/card?pin=1111", w.funds), None)
            .await,
        400,
    );
    // Another user's card wallet is not this user's.
    let other = app.create_user().await;
    assert_error(
        &app.get(&format!("/wallet/{other}/{}/card", w.card)).await,
        404,
    );
}

#[tokio::test]
async fn a_closed_card_stays_closed() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let w = wallets(&app, &user).await;
    let path = format!("/wallet/{user}/{}/card", w.card);
    let a = app.put(&format!("{path}?status=CLOSE"), None).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(app.get(&path).await.body["status"], "CLOSED");
    assert_error(
        &app.put(&format!("{path}?status=UNSUSPEND"), None).await,
        400,
    );
    assert_eq!(app.get(&path).await.body["status"], "CLOSED");
}

// ----- spend-backs -----------------------------------------------------------------------------

#[tokio::test]
async fn a_spend_back_moves_money_from_the_wallet_back_exactly() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let w = wallets(&app, &user).await;
    completed_load(&app, &user, "fund", "100.5").await;

    let a = spendback(&app, &user, "back-1", &w.funds, "40.25").await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["status"], "success", "{}", a.text);
    assert_eq!(a.body["client_spendback_id"], "back-1");
    let first = str_field(&a.body, "spendback_token");
    assert_eq!(wallet_balance(&app, &user, &w.funds).await, "60.25");
    assert_eq!(app.balance("USD").await, "249939.75");

    // Naming the client account instead takes it from the user's USD funds wallet.
    let a = spendback(&app, &user, "back-2", USD_SOURCE, "0.25").await;
    assert_eq!(a.body["status"], "success", "{}", a.text);
    let second = str_field(&a.body, "spendback_token");
    assert_eq!(wallet_balance(&app, &user, &w.funds).await, "60");
    assert_eq!(app.balance("USD").await, "249940");

    for path in [
        format!("/spendback/{user}"),
        format!("/v1.0.0/payout/spendback/{user}"),
    ] {
        let a = app.get(&path).await;
        assert_eq!(a.status, 200, "{}", a.text);
        let one = item_with(&a.text, "spendback_token", &first);
        assert_eq!(number_text(&one, "amount"), "40.25");
        let one: Value = serde_json::from_str(&one).unwrap();
        assert_eq!(one["source_token"], w.funds.as_str());
        assert_eq!(one["wallet_token"], w.funds.as_str());
        assert_eq!(one["client_spendback_id"], "back-1");
        assert_eq!(one["source_currency_code"], "USD");
        let two = item_with(&a.text, "spendback_token", &second);
        assert_eq!(number_text(&two, "amount"), "0.25");
        let two: Value = serde_json::from_str(&two).unwrap();
        assert_eq!(two["source_token"], USD_SOURCE);
        assert_eq!(two["wallet_token"], w.funds.as_str());
    }
}

#[tokio::test]
async fn a_spend_back_of_more_than_the_wallet_holds_fails_and_moves_nothing() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let w = wallets(&app, &user).await;
    completed_load(&app, &user, "fund", "10").await;
    let a = spendback(&app, &user, "greedy", &w.funds, "10.01").await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["status"], "failure", "{}", a.text);
    assert_eq!(wallet_balance(&app, &user, &w.funds).await, "10");
    assert_eq!(app.balance("USD").await, "249990");
    // Exactly the wallet's balance goes.
    let a = spendback(&app, &user, "all", &w.funds, "10").await;
    assert_eq!(a.body["status"], "success", "{}", a.text);
    assert_eq!(wallet_balance(&app, &user, &w.funds).await, "0");
    assert_eq!(app.balance("USD").await, "250000");
}

#[tokio::test]
async fn a_spend_back_refuses_bad_bodies() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let w = wallets(&app, &user).await;
    completed_load(&app, &user, "fund", "10").await;
    let other = app.create_user().await;
    let other_funds = wallets(&app, &other).await.funds;
    assert_error(&spendback(&app, &user, "x1", &other_funds, "1").await, 400);
    assert_error(&spendback(&app, &user, "x2", &w.funds, "1.001").await, 400);
    assert_error(&spendback(&app, &user, "x3", &w.funds, "0").await, 400);
    assert_error(&spendback(&app, &user, "x4", &w.funds, "-5").await, 400);
    let a = app
        .send_text(
            Method::POST,
            &format!("/spendback/{user}"),
            &format!(r#"{{"source_token":"{}","amount":1}}"#, w.funds),
        )
        .await;
    assert_mentions(&assert_error(&a, 400), &["client_spendback_id"]);
    spendback(&app, &user, "once", &w.funds, "1").await;
    assert_error(&spendback(&app, &user, "once", &w.funds, "1").await, 400);
    assert_eq!(wallet_balance(&app, &user, &w.funds).await, "9");
    assert_eq!(app.balance("USD").await, "249991");
}

#[tokio::test]
async fn concurrent_spend_backs_never_overdraw_the_wallet() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let w = wallets(&app, &user).await;
    completed_load(&app, &user, "fund", "10").await;
    let mut tasks = JoinSet::new();
    for i in 0..25 {
        let (app, user, funds) = (app.clone(), user.clone(), w.funds.clone());
        tasks.spawn(async move {
            let a = spendback(&app, &user, &format!("race-{i}"), &funds, "1").await;
            assert_eq!(a.status, 200, "{}", a.text);
            a.body["status"].as_str().unwrap().to_string()
        });
    }
    let mut ok = 0;
    while let Some(status) = tasks.join_next().await {
        ok += usize::from(status.unwrap() == "success");
    }
    assert_eq!(ok, 10);
    assert_eq!(wallet_balance(&app, &user, &w.funds).await, "0");
    assert_eq!(app.balance("USD").await, "250000");
}

// ----- payouts from a wallet -------------------------------------------------------------------

#[tokio::test]
async fn a_payout_from_the_users_wallet_debits_the_wallet_not_the_account() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    let w = wallets(&app, &user).await;
    completed_load(&app, &user, "fund", "200").await;
    assert_eq!(app.balance("USD").await, "249800");

    let a = app
        .initiate(
            &user,
            "",
            &format!(
                r#"{{"source_currency_code":"USD","destination_currency_code":"BTC","source_token":"{}","destination_token":"{BTC_DESTINATION}","source_amount":100.5}}"#,
                w.funds
            ),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["status"], "PENDING", "{}", a.text);
    assert_eq!(a.body["source_token"], w.funds.as_str());
    assert_eq!(number_text(&a.text, "fee"), "2.99");
    let p = str_field(&a.body, "payout_token");
    let c = app.commit(&user, &p).await;
    assert_eq!(c.body["status"], "success", "{}", c.text);

    // 200 − (100.5 + 2.99) = 96.51 in the wallet; the account only paid the load.
    assert_eq!(wallet_balance(&app, &user, &w.funds).await, "96.51");
    assert_eq!(app.balance("USD").await, "249800");
    // Committing again debits nothing more.
    let c = app.commit(&user, &p).await;
    assert_eq!(c.body["status"], "success", "{}", c.text);
    assert_eq!(wallet_balance(&app, &user, &w.funds).await, "96.51");

    // The wallet is short for 100 + 2.99 now: NSF, nothing stored.
    let a = app
        .initiate(
            &user,
            "",
            &format!(
                r#"{{"destination_currency_code":"BTC","source_token":"{}","destination_token":"{BTC_DESTINATION}","source_amount":100}}"#,
                w.funds
            ),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["payout_token"], "NSF", "{}", a.text);
    assert_eq!(wallet_balance(&app, &user, &w.funds).await, "96.51");

    // The wallet's history shows the payout it paid and the load that funded it.
    let h = history(&app, &user, &format!("?wallet_token={}", w.funds)).await;
    assert_eq!(h.len(), 2, "{h:?}");
    assert_eq!(h[0], (p.clone(), "payout".to_string()));
    assert_eq!(h[1].1, "load");
}

#[tokio::test]
async fn another_users_wallet_is_not_a_payout_source() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    let other = app.create_user().await;
    let theirs = wallets(&app, &other).await.funds;
    completed_load(&app, &other, "theirs", "200").await;

    let a = app
        .initiate(
            &user,
            "",
            &format!(
                r#"{{"destination_currency_code":"BTC","source_token":"{theirs}","destination_token":"{BTC_DESTINATION}","source_amount":10}}"#
            ),
        )
        .await;
    assert_mentions(&assert_error(&a, 400), &["source_token"]);
    assert_eq!(wallet_balance(&app, &other, &theirs).await, "200");
    let list = app.get(&format!("/payout/{user}")).await;
    assert_eq!(list.body, json!([]), "{}", list.text);
}

// ----- KYC -------------------------------------------------------------------------------------

#[tokio::test]
async fn kyc_links_uploads_and_the_list_of_sessions() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    for provider in ["veriff", "au10tix"] {
        let a = app.get(&format!("/user/{user}/kyc/{provider}")).await;
        assert_eq!(a.status, 200, "{}", a.text);
        let url = str_field(&a.body, "session_url");
        assert!(url.starts_with("https://"), "{url}");
    }
    let a = app
        .post(
            &format!("/user/{user}/kyc/id"),
            json!([{"type": "face", "content": tiny_png()}]),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["status"], "Submitted", "{}", a.text);

    let a = app.get(&format!("/v1.0.0/payout/user/{user}/kyc/id")).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let sessions = a.body.as_array().unwrap_or_else(|| panic!("{}", a.text));
    assert_eq!(sessions.len(), 3, "{}", a.text);
    let mut seen: Vec<(String, String)> = sessions
        .iter()
        .map(|s| (str_field(s, "provider"), str_field(s, "status")))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("Au10tix".to_string(), "Started".to_string()),
            ("Au10tix".to_string(), "Submitted".to_string()),
            ("Veriff".to_string(), "Started".to_string()),
        ]
    );
    for s in sessions {
        assert!(
            s["session_id"].as_str().is_some_and(|i| !i.is_empty()),
            "{s}"
        );
        let t = str_field(s, "session_time");
        assert!(DateTime::parse_from_rfc3339(&t).is_ok(), "{t}");
    }

    let unknown = format!("usr_{}", uuid::Uuid::new_v4());
    assert_error(&app.get(&format!("/user/{unknown}/kyc/veriff")).await, 404);
    assert_error(
        &app.get(&format!("/v1.0.0/payout/user/{unknown}/kyc/id"))
            .await,
        404,
    );
}

#[tokio::test]
async fn id_uploads_must_be_typed_base64_images() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let path = format!("/user/{user}/kyc/id");
    for body in [
        json!([{"type": "face", "content": "!!! not base64 !!!"}]),
        json!([{"type": "face", "content": b64(b"just some text, not an image")}]),
        json!([{"type": "selfie", "content": tiny_png()}]),
        json!([{"content": tiny_png()}]),
        json!([{"type": "face"}]),
        json!([]),
        json!([{"type": "document-front", "content": tiny_png()},
               {"type": "document-back", "content": b64(b"GIF89a")}]),
    ] {
        assert_error(&app.post(&path, body).await, 400);
    }
    // Every image type MassPay names, JPEG too.
    let jpeg = b64(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F', 0]);
    let a = app
        .post(
            &path,
            json!([{"type": "document-front", "content": tiny_png()},
                   {"type": "document-back", "content": jpeg}]),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    // Nothing refused was recorded.
    let a = app.get(&format!("/v1.0.0/payout/user/{user}/kyc/id")).await;
    assert_eq!(a.body.as_array().map(Vec::len), Some(1), "{}", a.text);
}

#[tokio::test]
async fn an_id_upload_of_about_a_megabyte_is_accepted() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let image = png(512, 512);
    assert!(image.len() > 750_000, "{}", image.len());
    let body = json!([{"type": "document-front", "content": b64(&image)}]);
    assert!(body.to_string().len() > 1_000_000);
    for path in [
        format!("/user/{user}/kyc/id"),
        format!("/v1.0.0/payout/user/{user}/kyc/id"),
    ] {
        let a = app.post(&path, body.clone()).await;
        assert_eq!(a.status, 200, "{path}: {}", a.text);
        assert_eq!(a.body["status"], "Submitted");
    }
}

#[tokio::test]
async fn id_images_over_10_mb_together_are_a_400_not_a_413() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    // About 10.7 MB of image: over the 10 MB MassPay allows, under the 14 MiB body limit.
    let image = png(1890, 1890);
    assert!(image.len() > 10 * 1024 * 1024, "{}", image.len());
    let body = json!([{"type": "document-front", "content": b64(&image)}]);
    assert!(body.to_string().len() < 14 * 1024 * 1024);
    let a = app.post(&format!("/user/{user}/kyc/id"), body).await;
    assert_mentions(&assert_error(&a, 400), &["10 MB"]);
}

// ----- tax -------------------------------------------------------------------------------------

#[tokio::test]
async fn tax_lists_last_years_completed_usd_payout_totals_per_user() {
    let start: DateTime<Utc> = "2026-12-31T12:00:00Z".parse().unwrap();
    let app = TestApp::spawn_with(Sandbox::builder().start_time(start)).await;
    let payee = app.create_user().await;
    app.store_btc_wallet(&payee).await;
    completed_btc_payout(&app, &payee, "100.5").await;
    completed_btc_payout(&app, &payee, "20.25").await;
    // Initiated only: not paid, not counted.
    app.pending_btc_payout(&payee, "30").await;
    let idle = app.create_user().await;

    // Before the year is over, "last year" (2025) has nothing.
    let a = app.get("/tax").await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body, json!([]), "{}", a.text);

    app.advance_clock(86_400).await; // 2027-01-01T12:00Z
    for path in ["/tax", "/tax?tax_year=2026", "/v1.0.0/payout/tax"] {
        let a = app.get(path).await;
        assert_eq!(a.status, 200, "{path}: {}", a.text);
        let items = raw_items(&a.text);
        assert_eq!(items.len(), 1, "{path}: {}", a.text);
        assert_eq!(number_text(&items[0], "balance"), "120.75", "{path}");
        let v: Value = serde_json::from_str(&items[0]).unwrap();
        assert_eq!(v["user_token"], payee.as_str());
        assert_ne!(v["user_token"], idle.as_str());
        assert_eq!(v["first_name"], "John");
        assert_eq!(v["country"], "USA");
        assert_eq!(v["date_of_birth"], "1975-03-24");
    }
    // "More than the threshold".
    let a = app.get("/tax?amount_threshold=120.74").await;
    assert_eq!(raw_items(&a.text).len(), 1, "{}", a.text);
    let a = app.get("/tax?amount_threshold=120.75").await;
    assert_eq!(a.body, json!([]), "{}", a.text);
    let a = app.get("/tax?amount_threshold=1000").await;
    assert_eq!(a.body, json!([]), "{}", a.text);
    // This year so far: nothing.
    let a = app.get("/tax?tax_year=2027").await;
    assert_eq!(a.body, json!([]), "{}", a.text);
}

#[tokio::test]
async fn tax_refuses_future_years_and_bad_thresholds() {
    let app = TestApp::spawn().await;
    let next_year = today(&app)
        .await
        .format("%Y")
        .to_string()
        .parse::<i32>()
        .unwrap()
        + 1;
    for query in [
        format!("?tax_year={next_year}"),
        "?tax_year=twenty".to_string(),
        "?amount_threshold=lots".to_string(),
    ] {
        assert_error(&app.get(&format!("/tax{query}")).await, 400);
    }
}

#[tokio::test]
async fn the_tax_interview_link_carries_the_return_url() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let return_url = "https://app.example.com/tax/done?user=42&step=2";
    let a = answer(
        app.request(Method::GET, &format!("/v1.0.0/payout/{user}/tax"))
            .query(&[("return_url", return_url)]),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let url = str_field(&a.body, "interview_url");
    assert!(url.starts_with("https://"), "{url}");
    assert!(
        url.contains("https%3A%2F%2Fapp.example.com%2Ftax%2Fdone%3Fuser%3D42%26step%3D2"),
        "{url}"
    );
    let a = app.get(&format!("/v1.0.0/payout/{user}/tax")).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert!(str_field(&a.body, "interview_url").starts_with("https://"));
    assert_error(
        &app.get(&format!("/v1.0.0/payout/usr_{}/tax", uuid::Uuid::new_v4()))
            .await,
        404,
    );
}

// ----- sub-accounts (1.0.0) --------------------------------------------------------------------

#[tokio::test]
async fn a_sub_account_gets_an_api_key_that_is_its_own_isolated_tenant() {
    let app = TestApp::spawn().await;
    let a = app.post("/v1.0.0/subaccount", subaccount_body()).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let token = str_field(&a.body, "subaccount_token");
    assert!(!token.is_empty());
    let key = str_field(&a.body, "api_key");
    assert!(!key.is_empty() && key != app.key);

    // The parent spends; the sub-account still has the fixtures' balances.
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    completed_btc_payout(&app, &user, "100.5").await;
    assert_eq!(app.balance("USD").await, "249896.51");

    let sub = as_key(&app, &key);
    for path in ["/v1.0.0/payout/account/balance", "/account/balance"] {
        let a = sub.get(path).await;
        assert_eq!(a.status, 200, "{}", a.text);
        for (currency, balance) in INITIAL_BALANCES {
            assert_eq!(balance_text(&a.text, currency), *balance, "{currency}");
        }
    }
    // The parent's users are not the sub-account's, and the other way round.
    assert_error(&sub.get(&format!("/user/{user}")).await, 404);
    let theirs = sub.create_user().await;
    assert_error(&app.get(&format!("/user/{theirs}")).await, 404);
}

#[tokio::test]
async fn a_sub_account_key_works_even_when_the_sandbox_accepts_only_listed_keys() {
    let mut app = TestApp::spawn_with(Sandbox::builder().api_key("the-only-key")).await;
    app.key = "the-only-key".into();
    let a = app.post("/v1.0.0/subaccount", subaccount_body()).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let sub = as_key(&app, &str_field(&a.body, "api_key"));
    let a = sub.get("/v1.0.0/payout/account/balance").await;
    assert_eq!(a.status, 200, "{}", a.text);
    // Any other key is still refused.
    let stranger = as_key(&app, "not-listed");
    assert_error(&stranger.get("/v1.0.0/payout/account/balance").await, 401);
}

#[tokio::test]
async fn a_sub_account_needs_every_required_field() {
    let app = TestApp::spawn().await;
    let a = app
        .post("/v1.0.0/subaccount", json!({"company_name": "Acme"}))
        .await;
    let details = assert_error(&a, 400);
    assert_mentions(
        &details,
        &[
            "phone",
            "inc_date",
            "registration_number",
            "website",
            "legal_structure",
            "address1",
            "state",
            "city",
            "zip",
            "country",
            "industry",
        ],
    );
    assert!(
        !details.iter().any(|d| d.starts_with("company_name")),
        "{details:?}"
    );
    let mut body = subaccount_body();
    body["website"] = json!("  ");
    assert_mentions(
        &assert_error(&app.post("/v1.0.0/subaccount", body).await, 400),
        &["website"],
    );
    // 1.0.0 only.
    assert_error(&app.post("/subaccount", subaccount_body()).await, 404);
}

#[tokio::test]
async fn beneficial_owners_and_their_id_images() {
    let app = TestApp::spawn().await;
    let a = app.post("/v1.0.0/subaccount", subaccount_body()).await;
    let sub = str_field(&a.body, "subaccount_token");

    let a = app
        .post(&format!("/v1.0.0/subaccount/{sub}/ubo"), ubo_body())
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let ubo = str_field(&a.body, "subaccount_ubo_token");
    assert!(!ubo.is_empty());

    let a = app
        .post(
            &format!("/v1.0.0/subaccount/{sub}/ubo/{ubo}/id"),
            json!([{"type": "document-front", "content": tiny_png()}]),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);

    // Refusals: missing fields, a bad image, unknown sub-account or owner.
    let a = app
        .post(
            &format!("/v1.0.0/subaccount/{sub}/ubo"),
            json!({"first_name": "Jane"}),
        )
        .await;
    assert_mentions(
        &assert_error(&a, 400),
        &[
            "ownership_percentage",
            "last_name",
            "email",
            "dob",
            "tax_id",
        ],
    );
    let a = app
        .post(
            &format!("/v1.0.0/subaccount/{sub}/ubo/{ubo}/id"),
            json!([{"type": "face", "content": b64(b"not an image")}]),
        )
        .await;
    assert_error(&a, 400);
    let unknown_sub = format!("sub_{}", uuid::Uuid::new_v4());
    assert_error(
        &app.post(&format!("/v1.0.0/subaccount/{unknown_sub}/ubo"), ubo_body())
            .await,
        404,
    );
    assert_error(
        &app.post(
            &format!("/v1.0.0/subaccount/{unknown_sub}/ubo/{ubo}/id"),
            json!([{"type": "face", "content": tiny_png()}]),
        )
        .await,
        404,
    );
    let unknown_ubo = format!("ubo_{}", uuid::Uuid::new_v4());
    assert_error(
        &app.post(
            &format!("/v1.0.0/subaccount/{sub}/ubo/{unknown_ubo}/id"),
            json!([{"type": "face", "content": tiny_png()}]),
        )
        .await,
        404,
    );
    // Another tenant does not see this sub-account.
    let other = app.other_tenant();
    assert_error(
        &other
            .post(&format!("/v1.0.0/subaccount/{sub}/ubo"), ubo_body())
            .await,
        404,
    );
}
