//! Payouts: initiate (validation and the quote), the refusals answered on 200 (NSF, DUPLICATE),
//! every commit outcome reached by state alone, settlement on the test clock, and the wire shape.

use crate::helpers::*;
use chrono::{DateTime, FixedOffset};
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::Value;
use tokio::task::JoinSet;

/// A `PayoutTxn` body as JSON text; `amounts` is spliced in as written (e.g.
/// `"source_amount":100.5`, or empty).
fn body(source: &str, destination: &str, currency: &str, amounts: &str) -> String {
    let mut text = format!(
        r#"{{"source_token":"{source}","destination_token":"{destination}","destination_currency_code":"{currency}""#
    );
    if !amounts.is_empty() {
        text.push(',');
        text.push_str(amounts);
    }
    text.push('}');
    text
}

/// USD → MXN by bank deposit (settles later).
fn mxn_bank(amounts: &str) -> String {
    body(USD_SOURCE, MXN_BANK_DESTINATION, "MXN", amounts)
}

/// USD → BTC on the seed's destination.
fn usd_btc(amounts: &str) -> String {
    body(USD_SOURCE, BTC_DESTINATION, "BTC", amounts)
}

/// BTC → BTC on the seed's destination (priced and debited in BTC).
fn btc_btc(amounts: &str) -> String {
    body(BTC_SOURCE, BTC_DESTINATION, "BTC", amounts)
}

async fn store_bank_details(app: &TestApp, user: &str) {
    let a = app
        .store_attributes(
            user,
            MXN_BANK_DESTINATION,
            "MXN",
            &[
                (CLABE_ATTR, "012180001234567891"),
                (HOLDER_NAME_ATTR, "Juan Perez"),
            ],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
}

/// A user with a stored BTC wallet, ready to be paid in BTC.
async fn btc_payee(app: &TestApp) -> String {
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    user
}

/// The number of payouts `GET /payout/{user}` lists.
async fn payout_count(app: &TestApp, user: &str) -> usize {
    let a = app.get(&format!("/payout/{user}")).await;
    assert_eq!(a.status, 200, "{}", a.text);
    a.body.as_array().expect("a bare JSON array").len()
}

fn token(a: &Answer) -> String {
    a.body["payout_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no payout_token: {}", a.text))
        .to_string()
}

fn time(text: &Value) -> DateTime<FixedOffset> {
    let s = text
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {text}"));
    DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

async fn clock_now(app: &TestApp) -> DateTime<FixedOffset> {
    let a = app.get("/_sandbox/clock").await;
    assert_eq!(a.status, 200, "{}", a.text);
    time(&a.body["now"])
}

fn half_up(d: Decimal, places: u32) -> Decimal {
    d.round_dp_with_strategy(places, RoundingStrategy::MidpointAwayFromZero)
        .normalize()
}

/// The fields `PayoutTxnResp` requires (reference §2.2), always present.
const REQUIRED_STRINGS: &[&str] = &[
    "payout_token",
    "client_transfer_id",
    "source_currency_code",
    "destination_currency_code",
    "source_token",
    "destination_token",
    "attr_set_token",
    "expiration",
    "pickup_code",
    "status",
    "payer_name",
    "delivery_type",
    "country_code",
    "estimated_availability",
];
const AMOUNTS: &[&str] = &[
    "destination_amount",
    "source_amount",
    "exchange_rate",
    "fee",
];
const PAYOUT_STATUSES: &[&str] = &[
    "PENDING",
    "PROCESSING",
    "COMPLETED",
    "CANCELLED",
    "SCHEDULED",
    "READY_FOR_PICKUP",
    "HOLD",
    "ERROR",
];

/// Asserts a `PayoutTxnResp` object text has every required field, amounts as plain JSON numbers.
fn assert_payout_shape(raw: &str) {
    let v: Value = serde_json::from_str(raw).expect("JSON");
    for f in REQUIRED_STRINGS {
        assert!(v[f].is_string(), "{f} missing or not a string: {raw}");
    }
    for f in AMOUNTS {
        let text = number_text(raw, f);
        assert!(
            !text.contains(['e', 'E']),
            "{f} written with an exponent: {text}"
        );
        dec(&text);
    }
    assert!(
        PAYOUT_STATUSES.contains(&v["status"].as_str().unwrap()),
        "{raw}"
    );
    assert_eq!(v["country_code"].as_str().map(str::len), Some(3), "{raw}");
}

// ----- initiate: validation -------------------------------------------------------------------

#[tokio::test]
async fn initiate_lists_every_missing_required_field() {
    let app = TestApp::spawn().await;
    let user = btc_payee(&app).await;
    let a = app.initiate(&user, "", r#"{"source_amount":100}"#).await;
    let details = assert_error(&a, 400);
    assert_mentions(
        &details,
        &[
            "source_token",
            "destination_token",
            "destination_currency_code",
        ],
    );
    assert_eq!(payout_count(&app, &user).await, 0);
}

#[tokio::test]
async fn initiate_needs_exactly_one_of_the_two_amounts() {
    let app = TestApp::spawn().await;
    let user = btc_payee(&app).await;
    let a = app
        .initiate(
            &user,
            "",
            &usd_btc(r#""source_amount":100,"destination_amount":0.001"#),
        )
        .await;
    assert_mentions(
        &assert_error(&a, 400),
        &["source_amount", "destination_amount"],
    );

    let a = app.initiate(&user, "", &usd_btc("")).await;
    assert_mentions(&assert_error(&a, 400), &["amount"]);

    let a = app
        .initiate(&user, "", &usd_btc(r#""source_amount":null"#))
        .await;
    assert_error(&a, 400);
    assert_eq!(payout_count(&app, &user).await, 0);
}

#[tokio::test]
async fn initiate_refuses_more_decimals_than_the_currency_has() {
    let app = TestApp::spawn().await;
    let user = btc_payee(&app).await;
    // USD has 2 decimals.
    let a = app
        .initiate(&user, "", &usd_btc(r#""source_amount":10.001"#))
        .await;
    assert_mentions(&assert_error(&a, 400), &["source_amount"]);
    // BTC has 8.
    let a = app
        .initiate(&user, "", &usd_btc(r#""destination_amount":0.000500001"#))
        .await;
    assert_mentions(&assert_error(&a, 400), &["destination_amount"]);
    let a = app
        .initiate(&user, "", &btc_btc(r#""source_amount":0.123456789"#))
        .await;
    assert_mentions(&assert_error(&a, 400), &["source_amount"]);
    assert_eq!(payout_count(&app, &user).await, 0);

    // Trailing zeros are not extra precision.
    let a = app
        .initiate(&user, "", &usd_btc(r#""source_amount":10.100"#))
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(number_text(&a.text, "source_amount"), "10.1");
}

#[tokio::test]
async fn initiate_refuses_zero_and_negative_amounts() {
    let app = TestApp::spawn().await;
    let user = btc_payee(&app).await;
    for amount in ["0", "0.00", "-0", "-5", "-0.01"] {
        let a = app
            .initiate(&user, "", &usd_btc(&format!(r#""source_amount":{amount}"#)))
            .await;
        assert_eq!(a.status, 400, "{amount}: {}", a.text);
        assert_mentions(&assert_error(&a, 400), &["source_amount"]);
        let a = app
            .initiate(
                &user,
                "",
                &usd_btc(&format!(r#""destination_amount":{amount}"#)),
            )
            .await;
        assert_eq!(a.status, 400, "{amount}: {}", a.text);
    }
    assert_eq!(payout_count(&app, &user).await, 0);
}

#[tokio::test]
async fn absurd_amounts_are_a_400_never_a_500() {
    let app = TestApp::spawn().await;
    let user = btc_payee(&app).await;
    for amount in [
        "1e400",
        "123456789012345678901234567890",
        "-1e400",
        "true",
        "[100]",
        "{\"value\":100}",
    ] {
        let a = app
            .initiate(&user, "", &usd_btc(&format!(r#""source_amount":{amount}"#)))
            .await;
        assert_eq!(a.status, 400, "{amount}: {}", a.text);
        assert_error(&a, 400);
    }
    assert_eq!(payout_count(&app, &user).await, 0);
}

#[tokio::test]
async fn amounts_are_read_as_a_javascript_client_means_them() {
    let app = TestApp::spawn().await;
    let user = btc_payee(&app).await;
    // 1.1 + 2.2 as a JavaScript client prints it: 15 significant digits make it 3.3.
    let a = app
        .initiate(&user, "", &usd_btc(r#""source_amount":3.3000000000000003"#))
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(number_text(&a.text, "source_amount"), "3.3");
    // Exponent notation is a JSON number like any other.
    let a = app
        .initiate(&user, "", &usd_btc(r#""source_amount":1.005e2"#))
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(number_text(&a.text, "source_amount"), "100.5");
}

#[tokio::test]
async fn a_client_transfer_id_over_50_characters_is_a_400() {
    let app = TestApp::spawn().await;
    let user = btc_payee(&app).await;
    let long = "x".repeat(51);
    let a = app
        .initiate(
            &user,
            "",
            &usd_btc(&format!(
                r#""source_amount":100,"client_transfer_id":"{long}""#
            )),
        )
        .await;
    assert_mentions(&assert_error(&a, 400), &["client_transfer_id"]);
    let ok = "y".repeat(50);
    let a = app
        .initiate(
            &user,
            "",
            &usd_btc(&format!(
                r#""source_amount":100,"client_transfer_id":"{ok}""#
            )),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["client_transfer_id"], ok.as_str());
}

#[tokio::test]
async fn initiate_enforces_the_destinations_min_and_max_limits_on_the_source_amount() {
    let app = TestApp::spawn().await;
    let user = btc_payee(&app).await;
    // The seed's destination takes 1 to 10000 USD.
    for outside in ["0.99", "10000.01", "20000"] {
        let a = app
            .initiate(
                &user,
                "",
                &usd_btc(&format!(r#""source_amount":{outside}"#)),
            )
            .await;
        assert_eq!(a.status, 400, "{outside}: {}", a.text);
        assert_error(&a, 400);
    }
    assert_eq!(payout_count(&app, &user).await, 0);
    for edge in ["1", "10000"] {
        let a = app
            .initiate(&user, "", &usd_btc(&format!(r#""source_amount":{edge}"#)))
            .await;
        assert_eq!(a.status, 200, "{edge}: {}", a.text);
        assert_eq!(a.body["status"], "PENDING");
    }
}

#[tokio::test]
async fn initiate_refuses_unknown_source_and_destination_tokens_in_one_400() {
    let app = TestApp::spawn().await;
    let user = btc_payee(&app).await;
    let unknown_source = format!("clnt_wlt_{}", uuid::Uuid::new_v4());
    let unknown_destination = format!("dst_{}", uuid::Uuid::new_v4());
    let a = app
        .initiate(
            &user,
            "",
            &body(
                &unknown_source,
                BTC_DESTINATION,
                "BTC",
                r#""source_amount":100"#,
            ),
        )
        .await;
    assert_mentions(&assert_error(&a, 400), &["source_token"]);
    let a = app
        .initiate(
            &user,
            "",
            &body(
                USD_SOURCE,
                &unknown_destination,
                "BTC",
                r#""source_amount":100"#,
            ),
        )
        .await;
    assert_mentions(&assert_error(&a, 400), &["destination_token"]);
    let a = app
        .initiate(
            &user,
            "",
            &body(
                &unknown_source,
                &unknown_destination,
                "BTC",
                r#""source_amount":100"#,
            ),
        )
        .await;
    assert_mentions(
        &assert_error(&a, 400),
        &["source_token", "destination_token"],
    );
    assert_eq!(payout_count(&app, &user).await, 0);
}

#[tokio::test]
async fn initiate_refuses_a_currency_the_destination_does_not_pay() {
    let app = TestApp::spawn().await;
    let user = btc_payee(&app).await;
    for (destination, currency) in [
        (BTC_DESTINATION, "ETH"),
        (BTC_DESTINATION, "MXN"),
        (MXN_BANK_DESTINATION, "USD"),
    ] {
        let a = app
            .initiate(
                &user,
                "",
                &body(USD_SOURCE, destination, currency, r#""source_amount":100"#),
            )
            .await;
        assert_eq!(a.status, 400, "{destination} {currency}: {}", a.text);
        assert_mentions(&assert_error(&a, 400), &["destination_currency_code"]);
    }
    assert_eq!(payout_count(&app, &user).await, 0);
}

#[tokio::test]
async fn initiate_for_an_unknown_user_is_404() {
    let app = TestApp::spawn().await;
    let unknown = format!("usr_{}", uuid::Uuid::new_v4());
    let a = app
        .initiate(&unknown, "", &usd_btc(r#""source_amount":100"#))
        .await;
    assert_error(&a, 404);
    let a = app.get(&format!("/payout/{unknown}")).await;
    assert_error(&a, 404);
}

// ----- the quote -------------------------------------------------------------------------------

#[tokio::test]
async fn destination_is_source_times_rate_rounded_half_up() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    // 3.75 × 17.052 = 63.945: half-up gives 63.95 where banker's rounding or truncation give 63.94.
    for source in ["3.75", "100.5", "1.01", "7.77", "9999.99", "1234.56"] {
        let a = app
            .initiate(
                &user,
                "",
                &mxn_bank(&format!(r#""source_amount":{source}"#)),
            )
            .await;
        assert_eq!(a.status, 200, "{source}: {}", a.text);
        let rate = dec(&number_text(&a.text, "exchange_rate"));
        let s = dec(&number_text(&a.text, "source_amount"));
        let d = dec(&number_text(&a.text, "destination_amount"));
        assert_eq!(s, dec(source));
        assert_eq!(d, half_up(s * rate, 2), "{source} × {rate}");
    }
    // And to BTC's 8 decimals.
    for source in ["100.5", "123.45", "9.99"] {
        let a = app
            .initiate(&user, "", &usd_btc(&format!(r#""source_amount":{source}"#)))
            .await;
        assert_eq!(a.status, 200, "{}", a.text);
        let rate = dec(&number_text(&a.text, "exchange_rate"));
        let d = dec(&number_text(&a.text, "destination_amount"));
        assert_eq!(d, half_up(dec(source) * rate, 8), "{source} × {rate}");
    }
}

#[tokio::test]
async fn the_quote_uses_the_rate_and_fee_the_catalog_shows() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let offer = app
        .offers("/country/MEX?amount=100")
        .await
        .into_iter()
        .find(|o| o.token == MXN_BANK_DESTINATION && o.currency == "MXN")
        .expect("the bank destination is listed");
    let a = app
        .initiate(&user, "", &mxn_bank(r#""source_amount":100"#))
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(dec(&number_text(&a.text, "fee")), offer.fee);
    assert_eq!(dec(&number_text(&a.text, "exchange_rate")), offer.rate);
}

#[tokio::test]
async fn a_destination_amount_derives_the_source_amount() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    for destination in ["1000", "63.95", "2500.5"] {
        let a = app
            .initiate(
                &user,
                "",
                &mxn_bank(&format!(r#""destination_amount":{destination}"#)),
            )
            .await;
        assert_eq!(a.status, 200, "{destination}: {}", a.text);
        let rate = dec(&number_text(&a.text, "exchange_rate"));
        assert_eq!(
            dec(&number_text(&a.text, "destination_amount")),
            dec(destination)
        );
        assert_eq!(
            dec(&number_text(&a.text, "source_amount")),
            half_up(dec(destination) / rate, 2),
            "{destination} ÷ {rate}"
        );
    }
}

#[tokio::test]
async fn the_fee_is_in_the_source_currency_and_debited_from_it() {
    let app = TestApp::spawn().await;
    let user = btc_payee(&app).await;

    let usd = app
        .initiate(&user, "", &usd_btc(r#""source_amount":100"#))
        .await;
    assert_eq!(usd.body["source_currency_code"], "USD", "{}", usd.text);
    assert_eq!(number_text(&usd.text, "fee"), "2.99");

    let btc = app
        .initiate(&user, "", &btc_btc(r#""source_amount":0.5"#))
        .await;
    assert_eq!(btc.status, 200, "{}", btc.text);
    assert_eq!(btc.body["source_currency_code"], "BTC");
    assert_eq!(btc.body["source_token"], BTC_SOURCE);
    assert_eq!(number_text(&btc.text, "fee"), "0.00002");

    let c = app.commit(&user, &token(&btc)).await;
    assert_eq!(c.body["status"], "success", "{}", c.text);
    // 1.938135 − (0.5 + 0.00002)
    assert_eq!(app.balance("BTC").await, "1.438115");
    assert_eq!(app.balance("USD").await, "250000");
}

#[tokio::test]
async fn limit_caps_source_amount_plus_fee() {
    let app = TestApp::spawn().await;
    let user = btc_payee(&app).await;

    // The SDK example: limit=8.14 and no amount → the most that fits with the fee.
    let a = app.initiate(&user, "?limit=8.14", &usd_btc("")).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(number_text(&a.text, "source_amount"), "5.15");
    assert_eq!(number_text(&a.text, "fee"), "2.99");

    // An amount over the cap is lowered to fit.
    let a = app
        .initiate(&user, "?limit=50", &usd_btc(r#""source_amount":100"#))
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let s = dec(&number_text(&a.text, "source_amount"));
    assert_eq!(s, dec("47.01"));
    let rate = dec(&number_text(&a.text, "exchange_rate"));
    assert_eq!(
        dec(&number_text(&a.text, "destination_amount")),
        half_up(s * rate, 8)
    );

    // An amount under the cap stays.
    let a = app
        .initiate(&user, "?limit=500", &usd_btc(r#""source_amount":100"#))
        .await;
    assert_eq!(number_text(&a.text, "source_amount"), "100");

    // A cap the fee alone exceeds leaves nothing to send.
    let a = app.initiate(&user, "?limit=2", &usd_btc("")).await;
    assert_error(&a, 400);
    let a = app.initiate(&user, "?limit=lots", &usd_btc("")).await;
    assert_mentions(&assert_error(&a, 400), &["limit"]);
}

#[tokio::test]
async fn the_quote_expires_after_the_fixture_ttl() {
    let app = TestApp::spawn().await;
    let user = btc_payee(&app).await;
    let before = clock_now(&app).await;
    let a = app.initiate_btc(&user, "100").await;
    let expiration = time(&a.body["expiration"]);
    let ttl = (expiration - before).num_seconds();
    assert!((119..=121).contains(&ttl), "expiration {ttl} s after now");
}

// ----- refusals answered on 200 ------------------------------------------------------------

#[tokio::test]
async fn a_reused_client_transfer_id_answers_duplicate() {
    let app = TestApp::spawn().await;
    let user = btc_payee(&app).await;
    let with_id = usd_btc(r#""source_amount":100,"client_transfer_id":"aEjn345""#);
    let first = app.initiate(&user, "", &with_id).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert!(token(&first).starts_with("payout_"));
    assert_eq!(first.body["client_transfer_id"], "aEjn345");

    let again = app.initiate(&user, "", &with_id).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(token(&again), "DUPLICATE");
    assert_payout_shape(&again.text);
    assert_eq!(payout_count(&app, &user).await, 1);

    // Scoped to the tenant, not the user.
    let other = btc_payee(&app).await;
    let a = app.initiate(&other, "", &with_id).await;
    assert_eq!(token(&a), "DUPLICATE", "{}", a.text);
    assert_eq!(payout_count(&app, &other).await, 0);

    // Payouts without an id are never duplicates of each other.
    let plain = usd_btc(r#""source_amount":100"#);
    assert!(token(&app.initiate(&user, "", &plain).await).starts_with("payout_"));
    assert!(token(&app.initiate(&user, "", &plain).await).starts_with("payout_"));

    // Another tenant may use the same id.
    let elsewhere = app.other_tenant();
    let their_user = btc_payee(&elsewhere).await;
    let a = elsewhere.initiate(&their_user, "", &with_id).await;
    assert!(token(&a).starts_with("payout_"), "{}", a.text);
}

#[tokio::test]
async fn a_short_balance_at_initiate_answers_nsf_cancelled_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let user = btc_payee(&app).await;
    assert_eq!(app.set_balance("USD", "102.98").await.status, 200);

    let with_id = usd_btc(r#""source_amount":100,"client_transfer_id":"short-1""#);
    let a = app.initiate(&user, "", &with_id).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(token(&a), "NSF");
    assert_eq!(a.body["status"], "CANCELLED");
    assert_payout_shape(&a.text);
    assert_eq!(payout_count(&app, &user).await, 0);
    assert_eq!(app.balance("USD").await, "102.98");

    // Exactly source + fee is enough — and the id was not used up by the refusal.
    assert_eq!(app.set_balance("USD", "102.99").await.status, 200);
    let a = app.initiate(&user, "", &with_id).await;
    assert!(token(&a).starts_with("payout_"), "{}", a.text);
    assert_eq!(a.body["status"], "PENDING");
    assert_eq!(payout_count(&app, &user).await, 1);
}

// ----- commit outcomes -----------------------------------------------------------------------

#[tokio::test]
async fn commit_success_debits_source_plus_fee_exactly_once() {
    let app = TestApp::spawn().await;
    let user = btc_payee(&app).await;
    let payout = app.pending_btc_payout(&user, "100.5").await;
    assert_eq!(
        app.balance("USD").await,
        "250000",
        "initiate debits nothing"
    );

    let c = app.commit(&user, &payout).await;
    assert_eq!(c.status, 200, "{}", c.text);
    assert_eq!(c.body["status"], "success");
    assert_eq!(c.body["payout_token"], payout.as_str());
    assert!(c.body.get("errors").is_none(), "{}", c.text);
    assert_eq!(app.balance("USD").await, "249896.51");
    assert_eq!(app.payout_status(&user, &payout).await, "COMPLETED");

    // Committing again: success with "Duplicate transfer", and no second debit.
    for _ in 0..2 {
        let c = app.commit(&user, &payout).await;
        assert_eq!(c.status, 200, "{}", c.text);
        assert_eq!(c.body["status"], "success");
        assert_eq!(c.body["errors"], "Duplicate transfer");
    }
    assert_eq!(app.balance("USD").await, "249896.51");
}

#[tokio::test]
async fn commit_nsf_keeps_the_payout_pending_until_the_balance_is_funded() {
    let app = TestApp::spawn().await;
    let user = btc_payee(&app).await;
    // Each fits the BTC balance (1.938135) alone; both do not.
    let first = app
        .initiate(&user, "", &btc_btc(r#""source_amount":0.99"#))
        .await;
    let second = app
        .initiate(&user, "", &btc_btc(r#""source_amount":0.99"#))
        .await;
    assert_eq!(first.body["status"], "PENDING", "{}", first.text);
    assert_eq!(second.body["status"], "PENDING", "{}", second.text);
    let (first, second) = (token(&first), token(&second));

    let c = app.commit(&user, &first).await;
    assert_eq!(c.body["status"], "success", "{}", c.text);
    assert_eq!(app.balance("BTC").await, "0.948115"); // 1.938135 − 0.99002

    let c = app.commit(&user, &second).await;
    assert_eq!(c.status, 200, "{}", c.text);
    assert_eq!(c.body["status"], "nsf", "{}", c.text);
    assert_eq!(app.payout_status(&user, &second).await, "PENDING");
    assert_eq!(app.balance("BTC").await, "0.948115");

    // Fund it; the same payout now goes through.
    assert_eq!(app.set_balance("BTC", "\"2\"").await.status, 200);
    let c = app.commit(&user, &second).await;
    assert_eq!(c.body["status"], "success", "{}", c.text);
    assert!(c.body.get("errors").is_none(), "{}", c.text);
    assert_eq!(app.balance("BTC").await, "1.00998");
    assert_eq!(app.payout_status(&user, &second).await, "COMPLETED");
}

#[tokio::test]
async fn commit_after_the_quote_expired_cancels_and_debits_nothing() {
    let app = TestApp::spawn().await;
    let user = btc_payee(&app).await;
    let payout = app.pending_btc_payout(&user, "100").await;

    app.advance_clock(121).await;
    assert_eq!(app.payout_status(&user, &payout).await, "CANCELLED");
    let c = app.commit(&user, &payout).await;
    assert_eq!(c.status, 200, "{}", c.text);
    assert_eq!(c.body["status"], "ex_rate_expired");
    assert_eq!(app.payout_status(&user, &payout).await, "CANCELLED");
    assert_eq!(app.balance("USD").await, "250000");

    // It stays expired, even with more money or more time.
    assert_eq!(app.set_balance("USD", "999999").await.status, 200);
    let c = app.commit(&user, &payout).await;
    assert_eq!(c.body["status"], "ex_rate_expired", "{}", c.text);
    assert_eq!(app.balance("USD").await, "999999");
}

#[tokio::test]
async fn a_quote_can_be_committed_until_it_expires() {
    let app = TestApp::spawn().await;
    let user = btc_payee(&app).await;
    let payout = app.pending_btc_payout(&user, "100").await;
    app.advance_clock(115).await;
    assert_eq!(app.payout_status(&user, &payout).await, "PENDING");
    let c = app.commit(&user, &payout).await;
    assert_eq!(c.body["status"], "success", "{}", c.text);
    assert_eq!(app.balance("USD").await, "249897.01");
}

#[tokio::test]
async fn commit_without_the_required_attributes_asks_for_them() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let payout = app.pending_btc_payout(&user, "100").await;

    let c = app.commit(&user, &payout).await;
    assert_eq!(c.status, 200, "{}", c.text);
    assert_eq!(c.body["status"], "addtl_attr_req");
    let errors = c.body["errors"].as_str().expect("errors is a string");
    assert!(errors.contains("Wallet Address"), "{errors}");
    assert_eq!(app.payout_status(&user, &payout).await, "PENDING");
    assert_eq!(app.balance("USD").await, "250000");

    app.store_btc_wallet(&user).await;
    let c = app.commit(&user, &payout).await;
    assert_eq!(c.body["status"], "success", "{}", c.text);
    assert_eq!(app.balance("USD").await, "249897.01");
    let s = app.payout(&user, &payout).await;
    assert_eq!(s.body["status"], "COMPLETED", "{}", s.text);
    // The payout now names the attribute set it went out with.
    let set = app
        .get(&format!("/attribute/{user}/{BTC_DESTINATION}/BTC"))
        .await;
    assert_eq!(
        s.body["attr_set_token"], set.body[0]["attr_set_token"],
        "{}",
        s.text
    );
}

#[tokio::test]
async fn initiate_takes_only_the_users_own_attr_set_token() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let set = app
        .store_attributes(
            &user,
            BTC_DESTINATION,
            "BTC",
            &[(BTC_WALLET_ATTR, BTC_ADDRESS)],
        )
        .await
        .body["attr_set_token"]
        .as_str()
        .unwrap()
        .to_string();
    let other = btc_payee(&app).await;

    let with_set = usd_btc(&format!(r#""source_amount":100,"attr_set_token":"{set}""#));
    let a = app.initiate(&user, "", &with_set).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["attr_set_token"], set.as_str());

    let a = app.initiate(&other, "", &with_set).await;
    assert_mentions(&assert_error(&a, 400), &["attr_set_token"]);
    let unknown = usd_btc(&format!(
        r#""source_amount":100,"attr_set_token":"attr_set_{}""#,
        uuid::Uuid::new_v4()
    ));
    let a = app.initiate(&user, "", &unknown).await;
    assert_mentions(&assert_error(&a, 400), &["attr_set_token"]);
    assert_eq!(payout_count(&app, &other).await, 0);
}

#[tokio::test]
async fn a_bank_deposit_is_processing_until_its_estimated_availability() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    store_bank_details(&app, &user).await;
    let a = app
        .initiate(&user, "", &mxn_bank(r#""source_amount":100"#))
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["delivery_type"], "BANK_DEPOSIT");
    let payout = token(&a);
    let available = time(&a.body["estimated_availability"]);

    let c = app.commit(&user, &payout).await;
    assert_eq!(c.body["status"], "success", "{}", c.text);
    assert_eq!(app.payout_status(&user, &payout).await, "PROCESSING");
    assert_eq!(app.balance("USD").await, "249896.01"); // 100 + 3.99

    let wait = (available - clock_now(&app).await).num_seconds();
    assert!(wait > 60, "settles {wait} s after commit");
    app.advance_clock(wait - 30).await;
    assert_eq!(app.payout_status(&user, &payout).await, "PROCESSING");
    app.advance_clock(31).await;
    assert_eq!(app.payout_status(&user, &payout).await, "COMPLETED");

    let a = app.get(&format!("/payout/{user}")).await;
    assert_eq!(a.body[0]["status"], "COMPLETED", "{}", a.text);
    let c = app.commit(&user, &payout).await;
    assert_eq!(c.body["errors"], "Duplicate transfer", "{}", c.text);
    assert_eq!(app.balance("USD").await, "249896.01");
}

#[tokio::test]
async fn mobile_wallets_settle_at_once_and_cash_pickups_at_their_availability() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;
    let mobile_wallet = "dst_8e422e70-b829-4245-8f87-6c50f2844aeb";
    let mobile_number = "attr_4c329163-69ad-49d8-bd2d-33abc3b2b34c";
    let cash_pickup = "dst_f74ea00d-7896-4288-9f4b-ade7562eeed9";
    let id_type = "attr_1a715734-6352-4ef7-bde3-f69506bf97c0";
    let id_number = "attr_2fbb1ed0-ed3c-41e9-81bf-3a517ef8389c";
    let stored = app
        .store_attributes(
            &user,
            mobile_wallet,
            "MXN",
            &[(mobile_number, "525512345678")],
        )
        .await;
    assert_eq!(stored.status, 200, "{}", stored.text);
    let stored = app
        .store_attributes(
            &user,
            cash_pickup,
            "MXN",
            &[(id_type, "PASSPORT"), (id_number, "G12345678")],
        )
        .await;
    assert_eq!(stored.status, 200, "{}", stored.text);

    let wallet = app
        .initiate(
            &user,
            "",
            &body(USD_SOURCE, mobile_wallet, "MXN", r#""source_amount":100"#),
        )
        .await;
    assert_eq!(
        wallet.body["delivery_type"], "MOBILE_WALLET",
        "{}",
        wallet.text
    );
    let pickup = app
        .initiate(
            &user,
            "",
            &body(USD_SOURCE, cash_pickup, "MXN", r#""source_amount":100"#),
        )
        .await;
    assert_eq!(
        pickup.body["delivery_type"], "CASH_PICKUP",
        "{}",
        pickup.text
    );

    let c = app.commit(&user, &token(&wallet)).await;
    assert_eq!(c.body["status"], "success", "{}", c.text);
    assert_eq!(app.payout_status(&user, &token(&wallet)).await, "COMPLETED");

    let c = app.commit(&user, &token(&pickup)).await;
    assert_eq!(c.body["status"], "success", "{}", c.text);
    assert_eq!(
        c.body["pickup_code"], pickup.body["pickup_code"],
        "the commit repeats the pickup code: {}",
        c.text
    );
    assert_eq!(
        app.payout_status(&user, &token(&pickup)).await,
        "PROCESSING"
    );
    let wait = (time(&pickup.body["estimated_availability"]) - clock_now(&app).await).num_seconds();
    app.advance_clock(wait + 1).await;
    assert_eq!(app.payout_status(&user, &token(&pickup)).await, "COMPLETED");
}

#[tokio::test]
async fn metadata_is_kept_with_the_payout() {
    let app = TestApp::spawn().await;
    let user = btc_payee(&app).await;
    let a = app
        .initiate(
            &user,
            "",
            &usd_btc(r#""source_amount":100,"metadata":{"group_id":541,"note":"July"}"#),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let expected = serde_json::json!({"group_id": 541, "note": "July"});
    assert_eq!(a.body["metadata"], expected, "{}", a.text);
    let s = app.payout(&user, &token(&a)).await;
    assert_eq!(s.body["metadata"], expected, "{}", s.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_commits_of_one_payout_debit_it_once() {
    let app = TestApp::spawn().await;
    let user = btc_payee(&app).await;
    let payout = app.pending_btc_payout(&user, "100").await;
    let mut commits = JoinSet::new();
    for _ in 0..16 {
        let (app, user, payout) = (app.clone(), user.clone(), payout.clone());
        commits.spawn(async move { app.commit(&user, &payout).await });
    }
    let answers = commits.join_all().await;
    let first_successes = answers
        .iter()
        .filter(|a| a.body["status"] == "success" && a.body.get("errors").is_none())
        .count();
    let duplicates = answers
        .iter()
        .filter(|a| a.body["status"] == "success" && a.body["errors"] == "Duplicate transfer")
        .count();
    assert_eq!((first_successes, duplicates), (1, 15));
    assert_eq!(app.balance("USD").await, "249897.01");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_commits_never_overdraw_the_balance() {
    let app = TestApp::spawn().await;
    let user = btc_payee(&app).await;
    let mut payouts = Vec::new();
    for _ in 0..10 {
        payouts.push(app.pending_btc_payout(&user, "100").await);
    }
    // Room for exactly three debits of 102.99.
    assert_eq!(app.set_balance("USD", "308.97").await.status, 200);
    let mut commits = JoinSet::new();
    for payout in payouts {
        let (app, user) = (app.clone(), user.clone());
        commits.spawn(async move { app.commit(&user, &payout).await });
    }
    let answers = commits.join_all().await;
    let statuses: Vec<&str> = answers
        .iter()
        .map(|a| a.body["status"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == "success").count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == "nsf").count(),
        7,
        "{statuses:?}"
    );
    assert_eq!(app.balance("USD").await, "0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_initiates_with_one_client_transfer_id_create_one_payout() {
    let app = TestApp::spawn().await;
    let user = btc_payee(&app).await;
    let with_id = usd_btc(r#""source_amount":100,"client_transfer_id":"race-1""#);
    let mut initiates = JoinSet::new();
    for _ in 0..12 {
        let (app, user, with_id) = (app.clone(), user.clone(), with_id.clone());
        initiates.spawn(async move { app.initiate(&user, "", &with_id).await });
    }
    let answers = initiates.join_all().await;
    let created = answers
        .iter()
        .filter(|a| token(a).starts_with("payout_"))
        .count();
    let duplicates = answers.iter().filter(|a| token(a) == "DUPLICATE").count();
    assert_eq!((created, duplicates), (1, 11));
    assert_eq!(payout_count(&app, &user).await, 1);
}

#[tokio::test]
async fn commit_of_an_unknown_or_someone_elses_payout_is_404() {
    let app = TestApp::spawn().await;
    let owner = btc_payee(&app).await;
    let stranger = btc_payee(&app).await;
    let payout = app.pending_btc_payout(&owner, "100").await;

    let a = app.commit(&stranger, &payout).await;
    assert_error(&a, 404);
    let a = app.payout(&stranger, &payout).await;
    assert_error(&a, 404);
    let unknown = format!("payout_{}", uuid::Uuid::new_v4());
    let a = app.commit(&owner, &unknown).await;
    assert_error(&a, 404);
    let a = app.payout(&owner, &unknown).await;
    assert_error(&a, 404);

    assert_eq!(app.payout_status(&owner, &payout).await, "PENDING");
    assert_eq!(app.balance("USD").await, "250000");
}

// ----- reading payouts -------------------------------------------------------------------------

#[tokio::test]
async fn get_payouts_lists_the_users_payouts_as_they_are_now() {
    let app = TestApp::spawn().await;
    let user = btc_payee(&app).await;
    let other = btc_payee(&app).await;
    let first = app.pending_btc_payout(&user, "10").await;
    let second = app.pending_btc_payout(&user, "20").await;
    let theirs = app.pending_btc_payout(&other, "30").await;
    let c = app.commit(&user, &first).await;
    assert_eq!(c.body["status"], "success", "{}", c.text);

    let a = app.get(&format!("/payout/{user}")).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let listed: Vec<(String, String)> = a
        .body
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
    assert_eq!(listed.len(), 2, "{}", a.text);
    assert!(
        listed.contains(&(first.clone(), "COMPLETED".into())),
        "{listed:?}"
    );
    assert!(
        listed.contains(&(second.clone(), "PENDING".into())),
        "{listed:?}"
    );
    for item in raw_items(&a.text) {
        assert_payout_shape(&item);
    }

    let a = app.get(&format!("/payout/{other}")).await;
    assert_eq!(a.body.as_array().map(Vec::len), Some(1), "{}", a.text);
    assert_eq!(a.body[0]["payout_token"], theirs.as_str());

    // The list follows the clock too.
    app.advance_clock(121).await;
    let a = app.get(&format!("/payout/{user}")).await;
    let second_now = a
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["payout_token"] == second.as_str())
        .unwrap();
    assert_eq!(second_now["status"], "CANCELLED");
}

#[tokio::test]
async fn amounts_are_plain_json_numbers_everywhere() {
    let app = TestApp::spawn().await;
    let user = btc_payee(&app).await;
    let a = app.initiate_btc(&user, "100.50").await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_payout_shape(&a.text);
    assert_eq!(number_text(&a.text, "source_amount"), "100.5");
    assert_eq!(number_text(&a.text, "destination_amount"), "0.00105726");
    assert_eq!(number_text(&a.text, "exchange_rate"), "0.00001052");
    assert_eq!(number_text(&a.text, "fee"), "2.99");
    let payout = token(&a);

    let s = app.payout(&user, &payout).await;
    assert_payout_shape(&s.text);
    for f in AMOUNTS {
        assert_eq!(number_text(&s.text, f), number_text(&a.text, f), "{f}");
    }
    let list = app.get(&format!("/payout/{user}")).await;
    let items = raw_items(&list.text);
    for f in AMOUNTS {
        assert_eq!(number_text(&items[0], f), number_text(&a.text, f), "{f}");
    }
}

#[tokio::test]
async fn required_payout_fields_are_always_present() {
    let app = TestApp::spawn().await;
    let user = app.create_user().await;

    // No attribute set, no client_transfer_id, no pickup code (crypto): "" but present.
    let a = app.initiate_btc(&user, "100").await;
    assert_payout_shape(&a.text);
    assert_eq!(a.body["client_transfer_id"], "");
    assert_eq!(a.body["attr_set_token"], "");
    assert_eq!(a.body["pickup_code"], "");
    assert_eq!(a.body["delivery_type"], "CRYPTOCURRENCY");
    assert_eq!(a.body["country_code"], "MEX");
    assert_eq!(a.body["destination_token"], BTC_DESTINATION);
    assert_eq!(a.body["source_token"], USD_SOURCE);
    assert_payout_shape(&app.payout(&user, &token(&a)).await.text);

    // With a stored set, the payout names it.
    let set = app
        .store_attributes(
            &user,
            BTC_DESTINATION,
            "BTC",
            &[(BTC_WALLET_ATTR, BTC_ADDRESS)],
        )
        .await
        .body["attr_set_token"]
        .clone();
    let a = app.initiate_btc(&user, "100").await;
    assert_eq!(a.body["attr_set_token"], set, "{}", a.text);

    // A cash pickup carries a pickup code.
    let a = app
        .initiate(
            &user,
            "",
            &body(
                USD_SOURCE,
                "dst_f74ea00d-7896-4288-9f4b-ade7562eeed9",
                "MXN",
                r#""source_amount":100"#,
            ),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_payout_shape(&a.text);
    assert_eq!(a.body["delivery_type"], "CASH_PICKUP");
    assert!(
        a.body["pickup_code"]
            .as_str()
            .is_some_and(|c| !c.is_empty()),
        "{}",
        a.text
    );
}
