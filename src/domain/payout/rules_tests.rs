//! The pure payout rules, without HTTP: the commit decision (SPEC §4b "Commit decides in this
//! order…") and the quote arithmetic. Hooked in at the end of `payout.rs`.
//!
//! Longer than 500 lines: one short test per branch of the decision order and per quote case,
//! each self-contained so a failure reads on its own; splitting them would scatter one table.

use std::collections::HashMap;
use std::str::FromStr;

use rust_decimal::Decimal;
use uuid::Uuid;

use super::*;
use crate::domain::catalog::{DeliveryType, Pricing};

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

// ----- the commit decision ----------------------------------------------------------------------

/// A PENDING payout of 100 + 2.99 fee, its quote valid until t = 1000, available at t = 5000.
fn pending() -> Payout {
    Payout {
        id: crate::domain::token::PayoutId(Uuid::nil()),
        user: crate::domain::token::UserId(Uuid::nil()),
        payer: 0,
        source: Source::Account(0),
        destination_currency: 0,
        source_amount: d("100"),
        destination_amount: d("1705.2"),
        exchange_rate: d("17.052"),
        fee: d("2.99"),
        created: 0,
        seq: 0,
        expiration: 1000,
        estimated_availability: 5000,
        status: PayoutStatus::Pending,
        status_reason: None,
        client_transfer_id: None,
        metadata: None,
        attr_set: None,
        pickup_code: None,
        magic: None,
        requested_amount: d("100"),
        notify_user: false,
        committed_at: None,
    }
}

fn with_status(status: PayoutStatus) -> Payout {
    Payout {
        status,
        ..pending()
    }
}

/// What each step of the order looks at, all set so every check would pass.
struct Ctx {
    now: Millis,
    missing: Vec<String>,
    balance: Decimal,
    forced: Option<ForcedOutcome>,
}

impl Ctx {
    fn passing() -> Ctx {
        Ctx {
            now: 500,
            missing: Vec::new(),
            balance: d("1000"),
            forced: None,
        }
    }
    fn forced(mut self, f: ForcedOutcome) -> Ctx {
        self.forced = Some(f);
        self
    }
    fn expired(mut self) -> Ctx {
        self.now = 1001;
        self
    }
    fn missing(mut self, label: &str) -> Ctx {
        self.missing.push(label.into());
        self
    }
    fn short(mut self) -> Ctx {
        self.balance = d("1");
        self
    }
}

fn decide(payout: &Payout, delivery: DeliveryType, ctx: &Ctx) -> CommitOutcome {
    decide_commit(
        payout,
        delivery,
        CommitContext {
            now: ctx.now,
            missing_attributes: &ctx.missing,
            available_balance: ctx.balance,
            forced: ctx.forced.clone(),
        },
    )
}

fn decide_bank(payout: &Payout, ctx: &Ctx) -> CommitOutcome {
    decide(payout, DeliveryType::BankDeposit, ctx)
}

#[test]
fn each_step_alone_decides_what_the_spec_says() {
    let p = pending();
    assert_eq!(
        decide_bank(&p, &Ctx::passing()),
        CommitOutcome::Success {
            next: PayoutStatus::Processing
        }
    );
    assert_eq!(
        decide_bank(&p, &Ctx::passing().forced(ForcedOutcome::Nsf)),
        CommitOutcome::Nsf
    );
    assert_eq!(
        decide_bank(&p, &Ctx::passing().forced(ForcedOutcome::ExRateExpired)),
        CommitOutcome::ExRateExpired
    );
    assert_eq!(
        decide_bank(
            &p,
            &Ctx::passing().forced(ForcedOutcome::Failure("Bad IBAN".into()))
        ),
        CommitOutcome::Failure("Bad IBAN".into())
    );
    assert_eq!(
        decide_bank(&p, &Ctx::passing().expired()),
        CommitOutcome::ExRateExpired
    );
    assert_eq!(
        decide_bank(&p, &Ctx::passing().missing("CLABE").missing("Name")),
        CommitOutcome::AddtlAttrReq(vec!["CLABE".into(), "Name".into()])
    );
    assert_eq!(decide_bank(&p, &Ctx::passing().short()), CommitOutcome::Nsf);
}

/// Every pair of adjacent steps, both failing: the earlier one must answer. A decision that ran
/// the checks in any other order fails one of these.
#[test]
fn the_order_is_override_then_expiry_then_attributes_then_balance() {
    let p = pending();
    let all = || Ctx::passing().expired().missing("CLABE").short();
    // The override beats everything after it, whichever override it is.
    assert_eq!(
        decide_bank(&p, &all().forced(ForcedOutcome::Nsf)),
        CommitOutcome::Nsf
    );
    assert_eq!(
        decide_bank(&p, &all().forced(ForcedOutcome::Failure("x".into()))),
        CommitOutcome::Failure("x".into())
    );
    let fresh_but_missing_and_short = Ctx::passing().missing("CLABE").short();
    assert_eq!(
        decide_bank(
            &p,
            &fresh_but_missing_and_short.forced(ForcedOutcome::ExRateExpired)
        ),
        CommitOutcome::ExRateExpired
    );
    // Expiry beats missing attributes and a short balance.
    assert_eq!(decide_bank(&p, &all()), CommitOutcome::ExRateExpired);
    // Missing attributes beat a short balance.
    assert_eq!(
        decide_bank(&p, &Ctx::passing().missing("CLABE").short()),
        CommitOutcome::AddtlAttrReq(vec!["CLABE".into()])
    );
    // A short balance alone.
    assert_eq!(decide_bank(&p, &Ctx::passing().short()), CommitOutcome::Nsf);
}

#[test]
fn the_quote_expires_strictly_after_its_expiration() {
    let p = pending();
    let at = |now| Ctx {
        now,
        ..Ctx::passing()
    };
    assert!(matches!(
        decide_bank(&p, &at(1000)),
        CommitOutcome::Success { .. }
    ));
    assert_eq!(decide_bank(&p, &at(1001)), CommitOutcome::ExRateExpired);
}

/// "Balance short now" means short of source + fee, not of the source amount alone.
#[test]
fn the_balance_must_cover_amount_plus_fee() {
    let p = pending();
    let with = |balance: &str| Ctx {
        balance: d(balance),
        ..Ctx::passing()
    };
    assert!(matches!(
        decide_bank(&p, &with("102.99")),
        CommitOutcome::Success { .. }
    ));
    assert_eq!(decide_bank(&p, &with("102.98")), CommitOutcome::Nsf);
    assert_eq!(decide_bank(&p, &with("100")), CommitOutcome::Nsf);
    assert_eq!(p.debit(), d("102.99"));
}

#[test]
fn a_success_completes_at_once_or_processes_by_delivery_type() {
    let p = pending();
    let ok = Ctx::passing();
    for instant in [
        DeliveryType::Cryptocurrency,
        DeliveryType::MobileWallet,
        DeliveryType::MasspayCard,
    ] {
        assert_eq!(
            decide(&p, instant, &ok),
            CommitOutcome::Success {
                next: PayoutStatus::Completed
            },
            "{instant:?}"
        );
    }
    for later in [
        DeliveryType::BankDeposit,
        DeliveryType::CashPickup,
        DeliveryType::HomeDelivery,
        DeliveryType::PaperCheck,
        DeliveryType::Bill,
    ] {
        assert_eq!(
            decide(&p, later, &ok),
            CommitOutcome::Success {
                next: PayoutStatus::Processing
            },
            "{later:?}"
        );
    }
    // Committed after its estimated availability (the quote still valid): completed at once.
    let slow_quote = Payout {
        expiration: 10_000,
        ..pending()
    };
    let late = Ctx {
        now: 5000,
        ..Ctx::passing()
    };
    assert_eq!(
        decide_bank(&slow_quote, &late),
        CommitOutcome::Success {
            next: PayoutStatus::Completed
        }
    );
}

/// The payout's own state comes before everything: an override, an expired quote, missing
/// attributes or a short balance change nothing for a payout already decided.
#[test]
fn an_already_decided_payout_answers_from_its_state() {
    let everything_fails = || {
        Ctx::passing()
            .expired()
            .missing("CLABE")
            .short()
            .forced(ForcedOutcome::Nsf)
    };
    for done in [
        PayoutStatus::Processing,
        PayoutStatus::Completed,
        PayoutStatus::ReadyForPickup,
    ] {
        let p = with_status(done);
        assert_eq!(
            decide_bank(&p, &Ctx::passing()),
            CommitOutcome::Duplicate,
            "{done:?}"
        );
        assert_eq!(
            decide_bank(&p, &everything_fails()),
            CommitOutcome::Duplicate,
            "{done:?}"
        );
    }
    let cancelled = with_status(PayoutStatus::Cancelled);
    assert_eq!(
        decide_bank(&cancelled, &Ctx::passing()),
        CommitOutcome::ExRateExpired
    );
    assert_eq!(
        decide_bank(&cancelled, &everything_fails()),
        CommitOutcome::ExRateExpired
    );
    let failed = Payout {
        status_reason: Some("Account closed".into()),
        ..with_status(PayoutStatus::Error)
    };
    assert_eq!(
        decide_bank(&failed, &everything_fails()),
        CommitOutcome::Failure("Account closed".into())
    );
    assert_eq!(
        decide_bank(&with_status(PayoutStatus::Error), &Ctx::passing()),
        CommitOutcome::Failure(REASON_FAILURE.into())
    );
    // SCHEDULED and HOLD are not decided yet: they go through the checks like PENDING.
    for open in [PayoutStatus::Scheduled, PayoutStatus::Hold] {
        let p = with_status(open);
        assert_eq!(
            decide_bank(&p, &Ctx::passing().short()),
            CommitOutcome::Nsf,
            "{open:?}"
        );
    }
}

#[test]
fn what_each_outcome_answers_on_the_wire() {
    let first = CommitOutcome::Success {
        next: PayoutStatus::Completed,
    };
    assert_eq!(first.status().as_str(), "success");
    assert_eq!(first.errors(), None, "a first success carries no errors");
    assert_eq!(CommitOutcome::Duplicate.status().as_str(), "success");
    assert_eq!(
        CommitOutcome::Duplicate.errors().as_deref(),
        Some("Duplicate transfer")
    );
    assert_eq!(CommitOutcome::Nsf.status().as_str(), "nsf");
    assert_eq!(
        CommitOutcome::ExRateExpired.status().as_str(),
        "ex_rate_expired"
    );
    let missing = CommitOutcome::AddtlAttrReq(vec!["CLABE".into(), "Name".into()]);
    assert_eq!(missing.status().as_str(), "addtl_attr_req");
    let text = missing.errors().unwrap();
    assert!(
        text.contains("CLABE") && text.contains("Name"),
        "names every missing attribute: {text}"
    );
    let failure = CommitOutcome::Failure("Account closed".into());
    assert_eq!(failure.status().as_str(), "failure");
    assert_eq!(failure.errors().as_deref(), Some("Account closed"));
    for s in [
        "success",
        "failure",
        "addtl_attr_req",
        "ex_rate_expired",
        "nsf",
    ] {
        assert_eq!(CommitStatus::parse(s).map(CommitStatus::as_str), Some(s));
    }
    assert_eq!(CommitStatus::parse("SUCCESS"), None);
}

// ----- magic amounts, from the amount to the decision -----------------------------------------

/// The shipped scenario a magic amount activates, evaluated for a commit: the forced outcome and
/// the requirements it adds.
fn magic_effects(amount: &str) -> (Option<ForcedOutcome>, Vec<usize>) {
    let catalog = crate::fixtures::load(crate::fixtures::Source::Embedded).unwrap();
    let registry = crate::scenario::load(None, &catalog).unwrap();
    let magic = Magic::of(d(amount)).expect("a magic amount");
    let active = registry.resolve([magic.scenario()]).unwrap();
    let facts = crate::scenario::RequestFacts {
        operation: "commitPayoutTxn",
        path: &[],
        body: None,
        user: None,
        amount: Some(d(amount)),
    };
    let effects = crate::scenario::matching::evaluate(&active, &facts, |_, _| 1);
    (effects.commit, effects.require_attributes)
}

#[test]
fn magic_amounts_are_the_last_two_cents() {
    assert_eq!(Magic::of(d("0.51")), Some(Magic::Nsf));
    assert_eq!(Magic::of(d("1000.52")), Some(Magic::ExpiredRate));
    assert_eq!(Magic::of(d("3.530")), Some(Magic::AdditionalAttributes));
    assert_eq!(Magic::of(d("99.54")), Some(Magic::Failure));
    assert_eq!(Magic::of(d("-12.51")), Some(Magic::Nsf));
    // × 100 not an integer, or other cents.
    for plain in ["0.515", "100.50", "100.55", "51", "5100", "0.0051"] {
        assert_eq!(Magic::of(d(plain)), None, "{plain}");
    }
}

#[test]
fn magic_51_answers_nsf_on_every_commit_and_leaves_the_payout_pending() {
    let (forced, required) = magic_effects("100.51");
    assert_eq!(forced, Some(ForcedOutcome::Nsf));
    assert!(required.is_empty());
    let p = pending(); // nsf moves nothing: the next commit sees the same PENDING payout
    let ctx = Ctx {
        forced,
        ..Ctx::passing()
    };
    for _ in 0..3 {
        assert_eq!(decide_bank(&p, &ctx), CommitOutcome::Nsf);
    }
}

#[test]
fn magic_52_answers_ex_rate_expired_then_stays_so_once_cancelled() {
    let (forced, _) = magic_effects("100.52");
    assert_eq!(forced, Some(ForcedOutcome::ExRateExpired));
    let ctx = Ctx {
        forced,
        ..Ctx::passing()
    };
    assert_eq!(decide_bank(&pending(), &ctx), CommitOutcome::ExRateExpired);
    assert_eq!(
        decide_bank(&with_status(PayoutStatus::Cancelled), &Ctx::passing()),
        CommitOutcome::ExRateExpired
    );
}

#[test]
fn magic_53_asks_for_an_attribute_only_until_it_is_stored() {
    let (forced, required) = magic_effects("100.53");
    assert_eq!(forced, None, ".53 forces no outcome: it adds a requirement");
    let catalog = crate::fixtures::load(crate::fixtures::Source::Embedded).unwrap();
    assert_eq!(required.len(), 1);
    let label = catalog.requirements[required[0]].label.clone();
    let p = pending();
    assert_eq!(
        decide_bank(&p, &Ctx::passing().missing(&label)),
        CommitOutcome::AddtlAttrReq(vec![label])
    );
    // Stored: nothing is missing any more, and the commit goes through.
    assert!(matches!(
        decide_bank(&p, &Ctx::passing()),
        CommitOutcome::Success { .. }
    ));
}

#[test]
fn magic_54_fails_and_every_later_commit_fails_the_same() {
    let (forced, _) = magic_effects("100.54");
    let Some(ForcedOutcome::Failure(reason)) = forced else {
        panic!("a failure is forced: {forced:?}");
    };
    assert_eq!(reason, REASON_FAILURE);
    let first = decide_bank(
        &pending(),
        &Ctx::passing().forced(ForcedOutcome::Failure(reason.clone())),
    );
    assert_eq!(first, CommitOutcome::Failure(reason.clone()));
    // The caller leaves the payout ERROR with that status_reason; a retry answers the same,
    // with or without the scenario.
    let failed = Payout {
        status: PayoutStatus::Error,
        status_reason: Some(reason.clone().into()),
        ..pending()
    };
    assert_eq!(decide_bank(&failed, &Ctx::passing()), first);
}

// ----- the quote --------------------------------------------------------------------------------

fn usd(fee: &str, min: &str, max: &str) -> Pricing {
    Pricing {
        source_currency: "USD".into(),
        fee: d(fee),
        min_limit: d(min),
        max_limit: d(max),
        rates: HashMap::new(),
    }
}

fn by_source(amount: &str) -> AmountRequest {
    AmountRequest {
        source_amount: Some(d(amount)),
        ..Default::default()
    }
}

fn by_destination(amount: &str) -> AmountRequest {
    AmountRequest {
        destination_amount: Some(d(amount)),
        ..Default::default()
    }
}

#[test]
fn destination_is_source_times_rate_exactly() {
    let p = usd("2.99", "1", "10000");
    let q = quote(&p, d("17.052"), 2, 2, by_source("100")).unwrap();
    assert_eq!(
        q,
        Quote {
            source_amount: d("100"),
            destination_amount: d("1705.2"),
            exchange_rate: d("17.052"),
            fee: d("2.99"),
        }
    );
    // Sums binary floating point gets wrong: 0.1 × 3 is 0.3, 1.1 × 1.1 is 1.21.
    let q = quote(&usd("0", "0", "0"), d("3"), 2, 2, by_source("0.1")).unwrap();
    assert_eq!(q.destination_amount.to_string(), "0.3");
    let q = quote(&usd("0", "0", "0"), d("1.1"), 2, 2, by_source("1.1")).unwrap();
    assert_eq!(q.destination_amount.to_string(), "1.21");
    // Eight decimals (BTC) are kept, not cut to two.
    let q = quote(&p, d("0.0000153846"), 2, 8, by_source("100")).unwrap();
    assert_eq!(q.destination_amount, d("0.00153846"));
}

/// Half-up (away from zero), not banker's rounding and not truncation.
#[test]
fn the_derived_amount_rounds_half_up_to_its_currencys_precision() {
    let free = usd("0", "0", "0");
    // Source given → destination rounded to the destination's precision.
    for (source, rate, precision, expected) in [
        ("1", "0.125", 2, "0.13"),  // banker's would give 0.12
        ("1", "0.135", 2, "0.14"),  // banker's 0.14 too
        ("1", "0.1249", 2, "0.12"), // below half: down
        ("3", "0.5", 0, "2"),       // 1.5 → 2 (JPY-like, no decimals)
        ("5", "0.5", 0, "3"),       // 2.5 → 3 (banker's: 2)
        ("1", "1.999", 2, "2"),     // carries into the units, normalised
        ("1", "0.000000015", 8, "0.00000002"),
    ] {
        let q = quote(&free, d(rate), 2, precision, by_source(source)).unwrap();
        assert_eq!(
            q.destination_amount,
            d(expected),
            "{source} × {rate} at {precision}"
        );
    }
    // Destination given → source = destination ÷ rate, rounded to the source's precision.
    for (destination, rate, precision, expected) in [
        ("0.25", "2", 2, "0.13"), // 0.125 → 0.13 (banker's: 0.12)
        ("1000", "17.052", 2, "58.64"),
        ("1000", "3", 2, "333.33"),
        ("2000", "3", 2, "666.67"),
        ("5", "2", 0, "3"), // 2.5 → 3
    ] {
        let q = quote(&free, d(rate), precision, 2, by_destination(destination)).unwrap();
        assert_eq!(q.source_amount, d(expected), "{destination} ÷ {rate}");
        assert_eq!(q.destination_amount, d(destination), "kept as asked");
    }
}

#[test]
fn the_fee_is_in_the_source_currency_and_not_converted_or_deducted() {
    let p = usd("2.99", "1", "10000");
    let q = quote(&p, d("2"), 2, 2, by_source("100")).unwrap();
    // 100 is converted whole (not 100 − 2.99), and the fee stays 2.99 (not 5.98).
    assert_eq!(q.destination_amount, d("200"));
    assert_eq!(q.fee, d("2.99"));
    let q = quote(&p, d("2"), 2, 2, by_destination("200")).unwrap();
    assert_eq!((q.source_amount, q.fee), (d("100"), d("2.99")));
}

/// Limits apply to the source amount, whichever side was given, and both bounds are inclusive;
/// a max of 0 is no maximum.
#[test]
fn min_and_max_limits_apply_to_the_source_amount() {
    let p = usd("2.99", "10", "500");
    let ok = |req| quote(&p, d("100"), 2, 2, req).is_ok();
    assert!(ok(by_source("10")));
    assert!(ok(by_source("500")));
    assert!(!ok(by_source("9.99")));
    assert!(!ok(by_source("500.01")));
    // 50000 MXN at 100 is 500 USD: within limits, though the destination amount is far above.
    assert!(ok(by_destination("50000")));
    assert!(!ok(by_destination("50001"))); // 500.01 USD
    assert!(!ok(by_destination("999"))); // 9.99 USD
    let e = quote(&p, d("100"), 2, 2, by_source("600")).unwrap_err();
    assert!(
        matches!(e, crate::domain::error::SimError::Invalid { .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("limits"), "{e}");
    // No maximum.
    let open = usd("2.99", "10", "0");
    assert!(quote(&open, d("1"), 2, 2, by_source("123456789")).is_ok());
    assert!(quote(&open, d("1"), 2, 2, by_source("9")).is_err());
}

#[test]
fn both_amounts_or_neither_is_refused() {
    let p = usd("2.99", "1", "10000");
    let both = AmountRequest {
        source_amount: Some(d("100")),
        destination_amount: Some(d("1705.2")),
        limit: None,
    };
    let e = quote(&p, d("17.052"), 2, 2, both).unwrap_err();
    assert!(
        matches!(e, crate::domain::error::SimError::Invalid { .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("not both"), "{e}");
    let e = quote(&p, d("17.052"), 2, 2, AmountRequest::default()).unwrap_err();
    assert!(
        matches!(e, crate::domain::error::SimError::Invalid { .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("required"), "{e}");
}

#[test]
fn amounts_too_small_to_pay_anything_are_refused() {
    let free = usd("0", "0", "0");
    // 0.001 × 1 rounds to 0.00 in a two-decimal destination.
    assert!(quote(&free, d("1"), 2, 2, by_source("0.001")).is_err());
    assert!(quote(&free, d("1"), 2, 2, by_source("0")).is_err());
    // 0.004 ÷ 1 rounds to a zero source.
    assert!(quote(&free, d("1"), 2, 2, by_destination("0.004")).is_err());
    assert!(quote(&free, d("1"), 2, 2, by_destination("0.005")).is_ok());
}

/// The `limit` query caps source + fee: an amount over it is lowered (rounded towards zero, so
/// the cap holds), and the destination is derived from the lowered amount.
#[test]
fn the_limit_query_lowers_the_amount_so_amount_plus_fee_fits() {
    let p = usd("2.99", "1", "10000");
    let capped = AmountRequest {
        source_amount: Some(d("100")),
        limit: Some(d("50")),
        ..Default::default()
    };
    let q = quote(&p, d("2"), 2, 2, capped).unwrap();
    assert_eq!(q.source_amount, d("47.01"));
    assert_eq!(q.destination_amount, d("94.02"));
    // Under the cap: untouched.
    let under = AmountRequest {
        source_amount: Some(d("10")),
        limit: Some(d("50")),
        ..Default::default()
    };
    assert_eq!(
        quote(&p, d("2"), 2, 2, under).unwrap().source_amount,
        d("10")
    );
    // Rounded towards zero: 10.999 − 2.99 = 8.009 → 8.00, never 8.01 (which would exceed 10.999).
    let only_limit = AmountRequest {
        limit: Some(d("10.999")),
        ..Default::default()
    };
    let q = quote(&p, d("1"), 2, 2, only_limit).unwrap();
    assert_eq!(q.source_amount, d("8"));
    assert!(q.source_amount + q.fee <= d("10.999"));
    // A cap below the fee leaves nothing to send.
    let below_fee = AmountRequest {
        source_amount: Some(d("10")),
        limit: Some(d("2")),
        ..Default::default()
    };
    assert!(quote(&p, d("1"), 2, 2, below_fee).is_err());
}

#[test]
fn the_quote_is_normalised_without_trailing_zeros() {
    let p = usd("2.990", "1", "10000");
    let q = quote(&p, d("17.0500"), 2, 2, by_source("100.50")).unwrap();
    assert_eq!(q.source_amount.to_string(), "100.5");
    assert_eq!(q.exchange_rate.to_string(), "17.05");
    assert_eq!(q.fee.to_string(), "2.99");
    assert_eq!(q.destination_amount.to_string(), "1713.53"); // 1713.525 → 1713.53
}
