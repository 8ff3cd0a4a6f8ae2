//! Property tests (proptest, explicit case counts):
//! - money: rounding per currency precision (the library's helpers, then quotes over HTTP), and
//!   balances set and read back exactly;
//! - attributes: a value is accepted iff it matches the requirement's regex as a whole string
//!   (the seed's unanchored `[0-9]{50}` and the BTC address regex), through `POST /attribute`;
//! - a state machine: random sequences of initiate / commit / re-commit / set balance / advance
//!   clock / store an added attribute over HTTP on one tenant, against a model of the USD balance
//!   and every payout's status.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use masspay_sandbox::domain::money;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use reqwest::Method;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{json, Value};

use crate::helpers::*;

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 512,
        ..Config::default()
    }
}

/// A runtime for HTTP properties (proptest's closures are synchronous) and a sandbox on it.
fn runtime_and_server() -> (tokio::runtime::Runtime, Server) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = rt.block_on(Server::start());
    (rt, server)
}

fn check(cond: bool, msg: impl FnOnce() -> String) -> Result<(), TestCaseError> {
    if cond {
        Ok(())
    } else {
        Err(TestCaseError::fail(msg()))
    }
}

/// Runs `runner` over `strategy`; panics with proptest's (shrunk) failure.
fn run<S: Strategy>(
    name: &str,
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) -> u64
where
    S::Value: std::fmt::Debug,
{
    let generated = AtomicU64::new(0);
    let mut runner = TestRunner::new(config(cases));
    let result = runner.run(&strategy, |v| {
        generated.fetch_add(1, Ordering::Relaxed);
        test(v)
    });
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
    generated.load(Ordering::Relaxed)
}

// ----- money ----------------------------------------------------------------------------------

const PRECISIONS: &[u32] = &[2, 6, 8, 18];

fn decimal_strategy() -> impl Strategy<Value = Decimal> {
    (any::<i64>(), 0u32..=24).prop_map(|(m, s)| Decimal::new(m, s))
}

#[test]
fn money_rounding_follows_each_currencys_precision() {
    let cases = run(
        "money rounding",
        256,
        (decimal_strategy(), proptest::sample::select(PRECISIONS)),
        |(d, p)| {
            let r = money::round_to_precision(d, p);
            check(r.scale() <= p, || {
                format!("{d} → {r} has more than {p} decimals")
            })?;
            let ulp = Decimal::new(1, p);
            let err = (r - d).abs();
            check(err * Decimal::TWO <= ulp, || {
                format!("{d} → {r}: off by {err} > ulp/2")
            })?;
            // Half-up: a tie goes away from zero.
            if err * Decimal::TWO == ulp {
                check(r.abs() > d.abs(), || {
                    format!("tie {d} → {r} not rounded away from zero")
                })?;
            }
            let fits = d.round_dp_with_strategy(p, RoundingStrategy::ToZero) == d;
            check(money::fits_precision(d, p) == fits, || {
                format!("fits_precision({d}, {p}) ≠ {fits}")
            })?;
            if fits {
                check(r == d, || {
                    format!("{d} fits {p} decimals but rounded to {r}")
                })?;
            }
            // A client amount keeps at most 15 significant digits, and rounding is idempotent.
            let c = money::round_client_amount(d);
            let digits = c
                .mantissa()
                .unsigned_abs()
                .to_string()
                .trim_end_matches('0')
                .len();
            check(digits <= 15, || {
                format!("{d} → {c} has {digits} significant digits")
            })?;
            check(money::round_client_amount(c) == c, || {
                format!("{c} is not stable")
            })?;
            let sig = d.normalize().mantissa().unsigned_abs().to_string().len();
            if sig <= 15 {
                check(c == d, || {
                    format!("{d} has {sig} significant digits but became {c}")
                })?;
            }
            Ok(())
        },
    );
    report(
        "properties::money_rounding",
        &[("cases", cases), ("violations", 0)],
    );
}

/// An initiate route: funding token and currency, destination, its currency, and the quote terms.
#[derive(Clone, Debug)]
struct Route {
    name: &'static str,
    source: &'static str,
    destination: &'static str,
    currency: &'static str,
    sp: u32,
    dp: u32,
    rate: &'static str,
    fee: &'static str,
    min: &'static str,
    max: &'static str,
}

const USDC_SOURCE: &str = "clnt_wlt_6a1d3e2f-8b4c-4d9e-8f70-2b3c4d5e6f70";

fn routes() -> Vec<Route> {
    vec![
        Route {
            name: "USD→BTC",
            source: USD_SOURCE,
            destination: BTC_DESTINATION,
            currency: "BTC",
            sp: 2,
            dp: 8,
            rate: USD_BTC_RATE,
            fee: "2.99",
            min: "1",
            max: "10000",
        },
        Route {
            name: "USD→MXN",
            source: USD_SOURCE,
            destination: MXN_BANK_DESTINATION,
            currency: "MXN",
            sp: 2,
            dp: 2,
            rate: USD_MXN_RATE,
            fee: "3.99",
            min: "1",
            max: "15000",
        },
        Route {
            name: "USD→ETH",
            source: USD_SOURCE,
            destination: ETH_DESTINATION,
            currency: "ETH",
            sp: 2,
            dp: 18,
            rate: USD_ETH_RATE,
            fee: "2.49",
            min: "5",
            max: "10000",
        },
        Route {
            name: "BTC→BTC",
            source: BTC_SOURCE,
            destination: BTC_DESTINATION,
            currency: "BTC",
            sp: 8,
            dp: 8,
            rate: "1",
            fee: "0.00002",
            min: "0.0001",
            max: "1",
        },
        Route {
            name: "USDC→USDT",
            source: USDC_SOURCE,
            destination: STABLECOIN_DESTINATION,
            currency: "USDT",
            sp: 6,
            dp: 6,
            rate: "1",
            fee: "1",
            min: "10",
            max: "25000",
        },
    ]
}

#[derive(Debug, Clone)]
struct QuoteCase {
    route: usize,
    destination_side: bool,
    fraction: u64,
    digits: u32,
    scientific: bool,
}

/// What the server must answer for an amount: Err(()) = 400, Ok((source, destination)).
fn expected_quote(
    r: &Route,
    destination_side: bool,
    amount: Decimal,
) -> Result<(Decimal, Decimal), ()> {
    let rate = dec(r.rate);
    let a = amount
        .round_sf_with_strategy(15, RoundingStrategy::MidpointAwayFromZero)
        .unwrap_or(amount)
        .normalize();
    let given_precision = if destination_side { r.dp } else { r.sp };
    if a <= Decimal::ZERO || a.scale() > given_precision {
        return Err(());
    }
    let (s, d) = if destination_side {
        (round_half_up(a / rate, r.sp), a)
    } else {
        (a, round_half_up(a * rate, r.dp))
    };
    if s <= Decimal::ZERO || d <= Decimal::ZERO || s < dec(r.min) || s > dec(r.max) {
        return Err(());
    }
    Ok((s, d))
}

#[test]
fn quotes_round_half_up_to_each_currencys_precision_over_http() {
    let (rt, server) = runtime_and_server();
    let app = server.tenant();
    let user = rt.block_on(async {
        let u = app.create_user().await;
        app.store_btc_wallet(&u).await;
        u
    });
    let routes = routes();
    let accepted = AtomicU64::new(0);
    let strategy = (
        0..routes.len(),
        any::<bool>(),
        0u64..=1_200_000_000_000,
        0u32..=1000,
        proptest::bool::weighted(0.15),
    )
        .prop_map(
            |(route, destination_side, fraction, digits, scientific)| QuoteCase {
                route,
                destination_side,
                fraction,
                digits,
                scientific,
            },
        );
    let cases = run("quotes", 192, strategy, |c| {
        let r = &routes[c.route];
        // A fraction (0 .. 1.2) of the route's maximum, in the given side's currency, cut to
        // `digits` decimals (sometimes more than the currency allows).
        let mut amount = Decimal::new(c.fraction as i64, 12) * dec(r.max);
        if c.destination_side {
            amount *= dec(r.rate);
        }
        let precision = if c.destination_side { r.dp } else { r.sp };
        let amount = amount
            .round_dp_with_strategy(c.digits % (precision + 3), RoundingStrategy::ToZero)
            .normalize();
        let text = if c.scientific {
            format!("{}e-{}", amount.mantissa(), amount.scale())
        } else {
            amount.to_string()
        };
        let field = if c.destination_side {
            "destination_amount"
        } else {
            "source_amount"
        };
        let body = format!(
            r#"{{"destination_currency_code":"{}","source_token":"{}","destination_token":"{}","{field}":{text}}}"#,
            r.currency, r.source, r.destination
        );
        let a = rt.block_on(app.send_text(Method::POST, &format!("/payout/{user}"), &body));
        match expected_quote(r, c.destination_side, amount) {
            Err(()) => {
                check(a.status == 400, || {
                    format!(
                        "{} {field}={text}: expected 400, got {} {}",
                        r.name, a.status, a.text
                    )
                })?;
                check(
                    shape_problem(a.status, a.header("content-type"), &a.bytes, 400).is_none(),
                    || a.text.clone(),
                )?;
            }
            Ok((s, d)) => {
                check(a.status == 200 && a.body["status"] == "PENDING", || {
                    format!(
                        "{} {field}={text}: expected PENDING, got {} {}",
                        r.name, a.status, a.text
                    )
                })?;
                accepted.fetch_add(1, Ordering::Relaxed);
                let got = |f: &str| number(&a.text, f);
                check(got("source_amount") == s, || {
                    format!(
                        "{} {field}={text}: source_amount {} ≠ {s}",
                        r.name,
                        got("source_amount")
                    )
                })?;
                check(got("destination_amount") == d, || {
                    format!(
                        "{} {field}={text}: destination_amount {} ≠ {d}",
                        r.name,
                        got("destination_amount")
                    )
                })?;
                check(got("fee") == dec(r.fee), || {
                    format!("{}: fee {}", r.name, got("fee"))
                })?;
                check(got("exchange_rate") == dec(r.rate), || {
                    format!("{}: rate {}", r.name, got("exchange_rate"))
                })?;
                // Exact to the smallest unit: never finer than the currency allows.
                check(
                    got("source_amount").scale() <= r.sp
                        && got("destination_amount").scale() <= r.dp,
                    || a.text.clone(),
                )?;
            }
        }
        Ok(())
    });
    report(
        "properties::quotes_over_http",
        &[
            ("cases", cases),
            ("requests", cases + 2),
            ("accepted", accepted.load(Ordering::Relaxed)),
            ("violations", 0),
        ],
    );
}

#[test]
fn balances_are_set_and_read_back_exactly_per_currency_precision() {
    let (rt, server) = runtime_and_server();
    let app = server.tenant();
    let currencies: &[(&str, u32)] = &[
        ("USD", 2),
        ("BTC", 8),
        ("ETH", 18),
        ("USDC", 6),
        ("USDT", 6),
        ("LTC", 8),
    ];
    let strategy = (
        proptest::sample::select(currencies),
        1u64..1_000_000_000_000_000,
        0u32..=20,
        proptest::bool::weighted(0.1),
        any::<bool>(),
    );
    let cases = run(
        "balances",
        160,
        strategy,
        |((currency, precision), mantissa, scale, negative, quoted)| {
            let v = Decimal::new(mantissa as i64, scale)
                * if negative {
                    Decimal::NEGATIVE_ONE
                } else {
                    Decimal::ONE
                };
            let text = if quoted {
                format!("\"{v}\"")
            } else {
                v.to_string()
            };
            let (a, now) = rt.block_on(async {
                let a = app.set_balance(currency, &text).await;
                (a, app.balance(currency).await)
            });
            let ok = !negative && v.normalize().scale() <= precision;
            if ok {
                check(a.status == 200, || {
                    format!("{currency} {text}: {} {}", a.status, a.text)
                })?;
                check(number(&a.text, "balance") == v && now == v, || {
                    format!("{currency} {text}: answered {} read back {now}", a.text)
                })?;
            } else {
                check(a.status == 400, || {
                    format!(
                        "{currency} {text}: expected 400, got {} {}",
                        a.status, a.text
                    )
                })?;
            }
            Ok(())
        },
    );
    report(
        "properties::balances_exact",
        &[("cases", cases), ("requests", cases * 2), ("violations", 0)],
    );
}

// ----- attributes -----------------------------------------------------------------------------

/// `[0-9]{50}` as a whole string, reasoned structurally.
fn checking_accepts(v: &str) -> bool {
    v.len() == 50 && v.bytes().all(|b| b.is_ascii_digit())
}

const BASE58: &str = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
const BECH32: &str = "023456789acdefghjklmnpqrstuvwxyz";

/// `^(?:[13][a-km-zA-HJ-NP-Z1-9]{25,34}|bc1[ac-hj-np-z02-9]{11,71})$`, reasoned structurally.
fn btc_accepts(v: &str) -> bool {
    let all_in = |s: &str, set: &str| s.chars().all(|c| set.contains(c));
    if let Some(rest) = v.strip_prefix("bc1") {
        if (11..=71).contains(&rest.chars().count()) && all_in(rest, BECH32) {
            return true;
        }
    }
    let mut chars = v.chars();
    match chars.next() {
        Some('1' | '3') => {
            let rest = chars.as_str();
            (25..=34).contains(&rest.chars().count()) && all_in(rest, BASE58)
        }
        _ => false,
    }
}

/// A string from `valid`, mutated by one of a few edits (which may or may not keep it valid:
/// the oracle decides).
fn mutated(valid: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    const POOL: &[char] = &[
        '0', '7', 'a', 'Z', 'l', 'O', 'I', ' ', '\n', '\t', '-', 'é', '٣', '０', '\u{0}',
        '\u{200b}', '😀', '"', '\\',
    ];
    (
        valid,
        0u8..8,
        any::<Index>(),
        proptest::sample::select(POOL),
    )
        .prop_map(|(s, op, at, c)| {
            let chars: Vec<char> = s.chars().collect();
            let i = if chars.is_empty() {
                0
            } else {
                at.index(chars.len())
            };
            let mut out = chars.clone();
            match op {
                0 => out.insert(i, c),
                1 if !out.is_empty() => {
                    out.remove(i);
                }
                2 if !out.is_empty() => out[i] = c,
                3 => out.insert(0, c),
                4 => out.push(c),
                5 => out.extend(chars.iter()),
                6 => out.truncate(i),
                _ => {
                    out = out
                        .iter()
                        .map(|c| {
                            if c.is_ascii_lowercase() {
                                c.to_ascii_uppercase()
                            } else {
                                c.to_ascii_lowercase()
                            }
                        })
                        .collect();
                }
            }
            out.into_iter().collect()
        })
}

/// The stored value of `token` that `GET /attribute/…` shows.
fn shown_value(list: &Value, token: &str) -> Option<String> {
    list.as_array()?
        .iter()
        .find(|r| r["token"] == token)
        .and_then(|r| r["value"].as_str().map(str::to_string))
}

/// POSTs each generated value for `token` on (user, BTC destination, BTC) and compares the
/// answer with `oracle` (also cross-checked against the `regex` crate, anchored `^(?:re)$`: another engine than
/// the sandbox's `regex-lite`);
/// a refused value must leave the stored value unchanged.
fn attribute_property(
    name: &str,
    token: &'static str,
    label: &'static str,
    regex_text: &str,
    oracle: fn(&str) -> bool,
    empty_is_accepted: bool,
    strategy: impl Strategy<Value = String>,
) {
    let (rt, server) = runtime_and_server();
    let app = server.tenant();
    let user = rt.block_on(async {
        let u = app.create_user().await;
        app.store_btc_wallet(&u).await;
        u
    });
    let anchored = regex::Regex::new(&format!("^(?:{regex_text})$")).expect("regex");
    let path = format!("/attribute/{user}/{BTC_DESTINATION}/BTC");
    let stored =
        std::sync::Mutex::new(rt.block_on(async {
            shown_value(&app.get(&path).await.body, token).unwrap_or_default()
        }));
    let (accepted, refused) = (AtomicU64::new(0), AtomicU64::new(0));
    let cases = run(name, 256, strategy, |value| {
        let expected = if value.is_empty() {
            empty_is_accepted
        } else {
            oracle(&value)
        };
        if !value.is_empty() {
            // The structural oracle and the regex crate agree (or the oracle is wrong).
            check(anchored.is_match(&value) == expected, || {
                format!("oracle disagrees with the regex on {value:?}")
            })?;
        }
        let (a, shown) = rt.block_on(async {
            let a = app
                .post(
                    &path,
                    &json!({"values": [{"token": token, "value": value}]}),
                )
                .await;
            let shown = shown_value(&app.get(&path).await.body, token).unwrap_or_default();
            (a, shown)
        });
        let mut stored = stored.lock().unwrap();
        if expected {
            check(
                a.status == 200
                    && a.body["attr_set_token"]
                        .as_str()
                        .is_some_and(|t| t.starts_with("attr_set_")),
                || {
                    format!(
                        "{value:?} ({} chars) should be accepted: {} {}",
                        value.chars().count(),
                        a.status,
                        a.text
                    )
                },
            )?;
            check(shown == value, || {
                format!("{value:?} accepted but GET shows {shown:?}")
            })?;
            *stored = value;
            accepted.fetch_add(1, Ordering::Relaxed);
        } else {
            check(a.status == 400, || {
                format!("{value:?} should be refused: {} {}", a.status, a.text)
            })?;
            if let Some(p) = shape_problem(a.status, a.header("content-type"), &a.bytes, 400) {
                return Err(TestCaseError::fail(p));
            }
            check(a.text.contains(label), || {
                format!("the 400 does not name {label}: {}", a.text)
            })?;
            check(shown == *stored, || {
                format!("refused {value:?} but the stored value changed to {shown:?}")
            })?;
            refused.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    });
    report(
        name,
        &[
            ("cases", cases),
            ("requests", cases * 2 + 3),
            ("accepted", accepted.load(Ordering::Relaxed)),
            ("refused", refused.load(Ordering::Relaxed)),
            ("violations", 0),
        ],
    );
}

#[test]
fn checking_account_number_is_accepted_iff_the_whole_string_is_fifty_digits() {
    let valid = "[0-9]{50}";
    attribute_property(
        "properties::attribute_checking_account_[0-9]{50}",
        CHECKING_ATTR,
        "Checking Account Number",
        valid,
        checking_accepts,
        // Optional: a blank value clears it.
        true,
        prop_oneof![
            3 => valid,
            4 => mutated(valid),
            2 => "[0-9]{45,55}",
            1 => "[a-z]{1,3}[0-9]{50}[a-z]{0,3}",
            2 => "\\PC{0,60}",
        ],
    );
}

#[test]
fn btc_wallet_address_is_accepted_iff_the_whole_string_matches() {
    // proptest's generator takes no anchors; the fixture's regex is anchored `^(?:…)$`.
    let body = "[13][a-km-zA-HJ-NP-Z1-9]{25,34}|bc1[ac-hj-np-z02-9]{11,71}";
    attribute_property(
        "properties::attribute_btc_wallet",
        BTC_WALLET_ATTR,
        "Wallet Address",
        body,
        btc_accepts,
        // Required: a blank value is "a value is required".
        false,
        prop_oneof![
            3 => body,
            5 => mutated(body),
            1 => "[13][a-zA-Z0-9]{20,40}",
            1 => "bc1[a-z0-9]{5,80}",
            1 => "\\PC{0,80}",
        ],
    );
}

// ----- state machine ------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dest {
    /// USD → BTC, crypto: settles at once (COMPLETED). Fee 2.99.
    Btc,
    /// USD → MXN bank deposit: PROCESSING until 3600 s after initiate. Fee 3.99.
    Bank,
}

impl Dest {
    fn fee_cents(self) -> i64 {
        match self {
            Dest::Btc => 299,
            Dest::Bank => 399,
        }
    }
    fn idx(self) -> usize {
        self as usize
    }
}

#[derive(Clone, Debug)]
enum Op {
    Initiate {
        dest: Dest,
        cents: u64,
    },
    Commit(Index),
    Recommit(Index),
    SetBalance(u64),
    /// Seconds: multiples of 50, so the 120 s expiry and the 3600 s settlement are never within
    /// the wall time a case takes of a boundary.
    Advance(u64),
    StoreSourceOfFunds(Dest),
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let dest = prop_oneof![Just(Dest::Btc), Just(Dest::Bank)];
    let cents = prop_oneof![
        3 => 100u64..=900_000,
        // Magic amounts: .51 nsf, .52 ex_rate_expired, .53 addtl_attr_req, .54 failure.
        1 => (1u64..=9_000, 51u64..=54).prop_map(|(u, m)| u * 100 + m),
    ];
    prop_oneof![
        5 => (dest.clone(), cents).prop_map(|(dest, cents)| Op::Initiate { dest, cents }),
        5 => any::<Index>().prop_map(Op::Commit),
        2 => any::<Index>().prop_map(Op::Recommit),
        1 => (0u64..=3_000_000).prop_map(Op::SetBalance),
        2 => prop_oneof![Just(0u64), Just(50), Just(50), Just(100), Just(150), Just(3600)].prop_map(Op::Advance),
        1 => dest.prop_map(Op::StoreSourceOfFunds),
    ]
}

#[derive(Clone, Debug)]
struct ModelPayout {
    token: String,
    dest: Dest,
    cents: u64,
    created: u64,
    status: &'static str,
}

#[derive(Debug)]
struct Model {
    balance: i64,
    clock: u64,
    payouts: Vec<ModelPayout>,
    sof_required: [bool; 2],
    sof_stored: [bool; 2],
}

impl Model {
    fn refresh(&mut self) {
        for p in &mut self.payouts {
            let age = self.clock - p.created;
            if p.status == "PENDING" && age > 120 {
                p.status = "CANCELLED";
            }
            if p.status == "PROCESSING" && age >= 3600 {
                p.status = "COMPLETED";
            }
        }
    }

    /// The commit's answer (`status`, `errors` when the model knows it) and its effect.
    fn commit(&mut self, i: usize) -> (&'static str, Option<&'static str>) {
        self.refresh();
        let p = &mut self.payouts[i];
        match p.status {
            "COMPLETED" | "PROCESSING" => return ("success", Some("Duplicate transfer")),
            "CANCELLED" => return ("ex_rate_expired", None),
            "ERROR" => return ("failure", None),
            _ => {}
        }
        match p.cents % 100 {
            51 => return ("nsf", None),
            52 => {
                p.status = "CANCELLED";
                return ("ex_rate_expired", None);
            }
            53 => self.sof_required[p.dest.idx()] = true,
            54 => {
                p.status = "ERROR";
                return ("failure", None);
            }
            _ => {}
        }
        let d = p.dest.idx();
        if self.sof_required[d] && !self.sof_stored[d] {
            return ("addtl_attr_req", None);
        }
        let debit = p.cents as i64 + p.dest.fee_cents();
        if self.balance < debit {
            return ("nsf", None);
        }
        self.balance -= debit;
        p.status = match p.dest {
            Dest::Btc => "COMPLETED",
            Dest::Bank => "PROCESSING",
        };
        ("success", None)
    }
}

fn cents_dec(c: i64) -> Decimal {
    Decimal::new(c, 2)
}

/// Runs one op sequence on a fresh tenant, comparing the server with the model after each step.
async fn run_sequence(
    server: &Server,
    start: u64,
    ops: &[Op],
    requests: &AtomicU64,
) -> Result<(), String> {
    let app = server.tenant();
    let user = app.create_user().await;
    app.store_btc_wallet(&user).await;
    app.store_mxn_bank_account(&user).await;
    let set = app
        .set_balance("USD", &cents_dec(start as i64).to_string())
        .await;
    requests.fetch_add(4, Ordering::Relaxed);
    if set.status != 200 {
        return Err(format!("set balance: {}", set.text));
    }
    let mut m = Model {
        balance: start as i64,
        clock: 0,
        payouts: Vec::new(),
        sof_required: [false; 2],
        sof_stored: [false; 2],
    };
    for (step, op) in ops.iter().enumerate() {
        let ctx = |what: String| format!("step {step} {op:?}: {what}");
        match op {
            Op::Initiate { dest, cents } => {
                let (destination, currency, rate, dp) = match dest {
                    Dest::Btc => (BTC_DESTINATION, "BTC", USD_BTC_RATE, 8),
                    Dest::Bank => (MXN_BANK_DESTINATION, "MXN", USD_MXN_RATE, 2),
                };
                let amount = cents_dec(*cents as i64);
                let a = app
                    .initiate(
                        &user,
                        USD_SOURCE,
                        destination,
                        currency,
                        &amount.to_string(),
                    )
                    .await;
                requests.fetch_add(1, Ordering::Relaxed);
                if a.status != 200 {
                    return Err(ctx(format!("initiate answered {} {}", a.status, a.text)));
                }
                let token = a.body["payout_token"].as_str().unwrap_or("").to_string();
                let short = m.balance < *cents as i64 + dest.fee_cents();
                if short {
                    if token != "NSF" || a.body["status"] != "CANCELLED" {
                        return Err(ctx(format!(
                            "balance {} is short: expected NSF, got {}",
                            cents_dec(m.balance),
                            a.text
                        )));
                    }
                } else {
                    if !token.starts_with("payout_") || a.body["status"] != "PENDING" {
                        return Err(ctx(format!("expected a PENDING payout, got {}", a.text)));
                    }
                    let (s, d, f) = (
                        number(&a.text, "source_amount"),
                        number(&a.text, "destination_amount"),
                        number(&a.text, "fee"),
                    );
                    let want_d = round_half_up(amount * dec(rate), dp);
                    if s != amount || d != want_d || f != cents_dec(dest.fee_cents()) {
                        return Err(ctx(format!(
                            "quote {s}/{d}/{f}, expected {amount}/{want_d}/{}: {}",
                            cents_dec(dest.fee_cents()),
                            a.text
                        )));
                    }
                    m.payouts.push(ModelPayout {
                        token,
                        dest: *dest,
                        cents: *cents,
                        created: m.clock,
                        status: "PENDING",
                    });
                }
            }
            Op::Commit(pick) | Op::Recommit(pick) => {
                if m.payouts.is_empty() {
                    continue;
                }
                m.refresh();
                let decided: Vec<usize> = (0..m.payouts.len())
                    .filter(|&i| m.payouts[i].status != "PENDING")
                    .collect();
                let i = match op {
                    Op::Recommit(_) if !decided.is_empty() => decided[pick.index(decided.len())],
                    _ => pick.index(m.payouts.len()),
                };
                let token = m.payouts[i].token.clone();
                let a = app.commit(&user, &token).await;
                requests.fetch_add(1, Ordering::Relaxed);
                let (status, errors) = m.commit(i);
                if a.status != 200 || a.body["status"] != status {
                    return Err(ctx(format!(
                        "commit of {:?}: model says {status}, server {} {}",
                        m.payouts[i], a.status, a.text
                    )));
                }
                match errors {
                    Some(e) if a.body["errors"] != e => {
                        return Err(ctx(format!("expected errors {e:?}: {}", a.text)))
                    }
                    None if status == "success"
                        && !a.body.get("errors").is_none_or(Value::is_null) =>
                    {
                        return Err(ctx(format!("a first success carries errors: {}", a.text)))
                    }
                    _ => {}
                }
            }
            Op::SetBalance(c) => {
                let a = app
                    .set_balance("USD", &cents_dec(*c as i64).to_string())
                    .await;
                requests.fetch_add(1, Ordering::Relaxed);
                if a.status != 200 {
                    return Err(ctx(format!("set balance: {} {}", a.status, a.text)));
                }
                m.balance = *c as i64;
            }
            Op::Advance(s) => {
                app.advance(*s).await;
                requests.fetch_add(1, Ordering::Relaxed);
                m.clock += s;
            }
            Op::StoreSourceOfFunds(dest) => {
                let (destination, currency) = match dest {
                    Dest::Btc => (BTC_DESTINATION, "BTC"),
                    Dest::Bank => (MXN_BANK_DESTINATION, "MXN"),
                };
                let a = app
                    .store_attributes(
                        &user,
                        destination,
                        currency,
                        &[(SOURCE_OF_FUNDS_ATTR, "SALARY")],
                    )
                    .await;
                requests.fetch_add(1, Ordering::Relaxed);
                let required = m.sof_required[dest.idx()];
                if required != (a.status == 200) {
                    return Err(ctx(format!(
                        "Source of Funds required={required}, server {} {}",
                        a.status, a.text
                    )));
                }
                if required {
                    m.sof_stored[dest.idx()] = true;
                }
            }
        }
        // After every step: the exact balance and every payout's status.
        m.refresh();
        let balance = app.balance("USD").await;
        let list = app.get(&format!("/payout/{user}")).await;
        requests.fetch_add(2, Ordering::Relaxed);
        if balance != cents_dec(m.balance) {
            return Err(ctx(format!(
                "USD balance {balance}, model {}",
                cents_dec(m.balance)
            )));
        }
        let got: Vec<(String, String)> = serde_json::from_str::<Vec<Value>>(&list.text)
            .map_err(|e| ctx(format!("payout list: {e}: {}", list.text)))?
            .iter()
            .map(|p| {
                (
                    p["payout_token"].as_str().unwrap_or("").to_string(),
                    p["status"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        let want: Vec<(String, String)> = m
            .payouts
            .iter()
            .map(|p| (p.token.clone(), p.status.to_string()))
            .collect();
        if got != want {
            return Err(ctx(format!("payouts {got:?}, model {want:?}")));
        }
    }
    Ok(())
}

#[test]
fn random_operation_sequences_match_a_model_of_balance_and_statuses() {
    let (rt, server) = runtime_and_server();
    let requests = Arc::new(AtomicU64::new(0));
    let ops_run = AtomicU64::new(0);
    let strategy = (
        0u64..=3_000_000,
        proptest::collection::vec(op_strategy(), 1..40),
    );
    let cases = run("state machine", 64, strategy, |(start, ops)| {
        ops_run.fetch_add(ops.len() as u64, Ordering::Relaxed);
        rt.block_on(run_sequence(&server, start, &ops, &requests))
            .map_err(TestCaseError::fail)
    });
    report(
        "properties::state_machine",
        &[
            ("cases", cases),
            ("operations", ops_run.load(Ordering::Relaxed)),
            ("requests", requests.load(Ordering::Relaxed)),
            ("violations", 0),
        ],
    );
}
