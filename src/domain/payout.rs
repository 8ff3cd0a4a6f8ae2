//! Payouts: the quote (rate, fee, amounts, limits), the payout's life cycle, and the commit
//! decision — the one place that decides what a commit does.

use rust_decimal::Decimal;
use serde_json::value::RawValue;
use uuid::Uuid;

use super::catalog::{DeliveryType, Pricing};
use super::money::round_to_precision;
use crate::clock::Millis;
use crate::error::ApiError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayoutStatus {
    Pending,
    Processing,
    Completed,
    Cancelled,
    Scheduled,
    ReadyForPickup,
    Hold,
    Error,
}

impl PayoutStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PayoutStatus::Pending => "PENDING",
            PayoutStatus::Processing => "PROCESSING",
            PayoutStatus::Completed => "COMPLETED",
            PayoutStatus::Cancelled => "CANCELLED",
            PayoutStatus::Scheduled => "SCHEDULED",
            PayoutStatus::ReadyForPickup => "READY_FOR_PICKUP",
            PayoutStatus::Hold => "HOLD",
            PayoutStatus::Error => "ERROR",
        }
    }
}

/// What a commit answers (`PayoutTxnCommitResp.status`, lower-case on the wire).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitStatus {
    Success,
    Failure,
    AddtlAttrReq,
    ExRateExpired,
    Nsf,
}

impl CommitStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CommitStatus::Success => "success",
            CommitStatus::Failure => "failure",
            CommitStatus::AddtlAttrReq => "addtl_attr_req",
            CommitStatus::ExRateExpired => "ex_rate_expired",
            CommitStatus::Nsf => "nsf",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "success" => CommitStatus::Success,
            "failure" => CommitStatus::Failure,
            "addtl_attr_req" => CommitStatus::AddtlAttrReq,
            "ex_rate_expired" => CommitStatus::ExRateExpired,
            "nsf" => CommitStatus::Nsf,
            _ => return None,
        })
    }
}

pub const REASON_EXPIRED: &str = "Exchange rate expired";
pub const REASON_FAILURE: &str = "Beneficiary information is incorrect";
pub const ERRORS_DUPLICATE: &str = "Duplicate transfer";

/// A stored payout. Kept compact (indices into the shared catalog, UUIDs, millis): a tenant may
/// hold a million of them.
#[derive(Clone, Debug)]
pub struct Payout {
    pub id: Uuid,
    pub user: Uuid,
    /// Index into `Catalog::payers`.
    pub payer: u32,
    /// Where the money comes from.
    pub source: Source,
    /// Index into the payer's `currencies`.
    pub destination_currency: u16,
    pub source_amount: Decimal,
    pub destination_amount: Decimal,
    pub exchange_rate: Decimal,
    pub fee: Decimal,
    pub created: Millis,
    /// The tenant's creation order (ties within a millisecond).
    pub seq: u64,
    pub expiration: Millis,
    pub estimated_availability: Millis,
    pub status: PayoutStatus,
    pub status_reason: Option<Box<str>>,
    pub client_transfer_id: Option<Box<str>>,
    pub metadata: Option<Box<RawValue>>,
    pub attr_set: Option<Uuid>,
    pub pickup_code: Option<Box<str>>,
    pub magic: Option<Magic>,
    /// The amount as the client asked for it (`source_amount`, else `destination_amount`): what
    /// magic values and scenario amount conditions read, at initiate and later alike.
    pub requested_amount: Decimal,
    pub notify_user: bool,
    /// When the commit debited the balance; set once, the guarantee against a second debit.
    pub committed_at: Option<Millis>,
}

impl Payout {
    /// What the balance is debited on a successful commit. [`quote`] refuses amounts whose sum
    /// does not fit, so this never saturates for a stored payout.
    pub fn debit(&self) -> Decimal {
        self.source_amount
            .checked_add(self.fee)
            .unwrap_or(Decimal::MAX)
    }

    /// The status as of `now`: a pending quote past its expiration is cancelled, a processing
    /// payout past its estimated availability is completed. Applied on every access.
    pub fn refresh(&mut self, now: Millis) -> bool {
        match self.status {
            PayoutStatus::Pending if now > self.expiration => {
                self.status = PayoutStatus::Cancelled;
                self.status_reason = Some(REASON_EXPIRED.into());
                true
            }
            PayoutStatus::Processing if now >= self.estimated_availability => {
                self.status = PayoutStatus::Completed;
                true
            }
            _ => false,
        }
    }
}

/// Where a payout's money comes from: a client funding account (`/account/balance`) or one of
/// the user's own wallets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Index into `Catalog::funding_accounts`.
    Account(u16),
    /// A user wallet, with the index of its currency in `Catalog::currencies`.
    Wallet(Uuid, u16),
}

/// Magic amounts (SPEC §5): the requested amount's last two cents decide the commit outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Magic {
    /// `.51`: every commit answers `nsf`.
    Nsf,
    /// `.52`: the commit answers `ex_rate_expired` and cancels.
    ExpiredRate,
    /// `.53`: an extra attribute is required until stored.
    AdditionalAttributes,
    /// `.54`: the commit answers `failure`; the payout is left in ERROR.
    Failure,
}

impl Magic {
    /// The shipped scenario a magic amount activates for every request about its payout.
    pub fn scenario(self) -> &'static str {
        match self {
            Magic::Nsf => "insufficient_funds",
            Magic::ExpiredRate => "expired_rate",
            Magic::AdditionalAttributes => "additional_attributes",
            Magic::Failure => "payout_failure",
        }
    }

    /// An amount is magic when amount × 100 is an integer ending in 51–54.
    pub fn of(amount: Decimal) -> Option<Magic> {
        let cents = amount.checked_mul(Decimal::ONE_HUNDRED)?;
        if !cents.fract().is_zero() {
            return None;
        }
        let last_two = (cents.trunc() % Decimal::ONE_HUNDRED).abs();
        match last_two.to_string().as_str() {
            "51" => Some(Magic::Nsf),
            "52" => Some(Magic::ExpiredRate),
            "53" => Some(Magic::AdditionalAttributes),
            "54" => Some(Magic::Failure),
            _ => None,
        }
    }
}

/// The amounts a client asked for.
#[derive(Clone, Copy, Debug, Default)]
pub struct AmountRequest {
    pub source_amount: Option<Decimal>,
    pub destination_amount: Option<Decimal>,
    /// The `limit` query: a cap on `source_amount + fee`.
    pub limit: Option<Decimal>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quote {
    pub source_amount: Decimal,
    pub destination_amount: Decimal,
    pub exchange_rate: Decimal,
    pub fee: Decimal,
}

/// Prices a payout: destination = source × rate, the derived amount rounded half-up to its
/// currency's precision, the fee in the source currency, limits on the source amount, and the
/// `limit` cap on source + fee (the amount is lowered to fit it).
pub fn quote(
    pricing: &Pricing,
    rate: Decimal,
    source_precision: u32,
    destination_precision: u32,
    req: AmountRequest,
) -> Result<Quote, ApiError> {
    let fee = pricing.fee;
    let too_large = || ApiError::bad_request("the amount is too large to quote");
    let to_destination = |s: Decimal| {
        s.checked_mul(rate)
            .map(|d| round_to_precision(d, destination_precision))
            .ok_or_else(too_large)
    };
    // The `limit` cap on amount + fee: the largest source amount whose sum with the fee fits it.
    let below_limit = |limit: Decimal| {
        limit
            .checked_sub(fee)
            .map(|s| {
                s.round_dp_with_strategy(source_precision, rust_decimal::RoundingStrategy::ToZero)
            })
            .ok_or_else(too_large)
    };
    let (mut source, mut destination) = match (req.source_amount, req.destination_amount) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "give either source_amount or destination_amount, not both",
            ))
        }
        (Some(s), None) => (s, to_destination(s)?),
        (None, Some(d)) => {
            let s = d
                .checked_div(rate)
                .map(|s| round_to_precision(s, source_precision))
                .ok_or_else(|| ApiError::bad_request("destination_amount is too large"))?;
            if s <= Decimal::ZERO {
                return Err(ApiError::bad_request(
                    "destination_amount is too small: it is worth less than the smallest unit of the source currency",
                ));
            }
            (s, d)
        }
        (None, None) => match req.limit {
            Some(limit) => {
                let s = below_limit(limit)?;
                (s, to_destination(s)?)
            }
            None => {
                return Err(ApiError::bad_request(
                    "source_amount or destination_amount is required",
                ))
            }
        },
    };
    if let Some(limit) = req.limit {
        if source.checked_add(fee).ok_or_else(too_large)? > limit {
            source = below_limit(limit)?;
            destination = to_destination(source)?;
        }
    }
    // The commit debits source + fee: it must be a number too.
    source.checked_add(fee).ok_or_else(too_large)?;
    if source <= Decimal::ZERO {
        return Err(ApiError::bad_request(format!(
            "the amount left after the fee of {} is not positive",
            fee.normalize()
        )));
    }
    if destination <= Decimal::ZERO {
        return Err(ApiError::bad_request(
            "the amount is too small to deliver anything in the destination currency",
        ));
    }
    if !pricing.accepts(source) {
        let max = if pricing.max_limit.is_zero() {
            "no maximum".to_string()
        } else {
            pricing.max_limit.normalize().to_string()
        };
        return Err(ApiError::bad_request(format!(
            "source_amount {} is outside this destination's limits ({} to {max} {})",
            source.normalize(),
            pricing.min_limit.normalize(),
            pricing.source_currency
        )));
    }
    Ok(Quote {
        source_amount: source.normalize(),
        destination_amount: destination.normalize(),
        exchange_rate: rate.normalize(),
        fee: fee.normalize(),
    })
}

/// An outcome forced by a scenario or a magic value, applied before the natural checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ForcedOutcome {
    Nsf,
    ExRateExpired,
    Failure(String),
}

/// Everything the commit decision looks at besides the payout itself.
pub struct CommitContext<'a> {
    pub now: Millis,
    /// Labels of required attributes with no valid stored value.
    pub missing_attributes: &'a [String],
    pub available_balance: Decimal,
    pub forced: Option<ForcedOutcome>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommitOutcome {
    /// Debit now; the payout moves to `next`.
    Success {
        next: PayoutStatus,
    },
    /// Already committed: `success` with "Duplicate transfer", no debit.
    Duplicate,
    Nsf,
    ExRateExpired,
    AddtlAttrReq(Vec<String>),
    Failure(String),
}

impl CommitOutcome {
    pub fn status(&self) -> CommitStatus {
        match self {
            CommitOutcome::Success { .. } | CommitOutcome::Duplicate => CommitStatus::Success,
            CommitOutcome::Nsf => CommitStatus::Nsf,
            CommitOutcome::ExRateExpired => CommitStatus::ExRateExpired,
            CommitOutcome::AddtlAttrReq(_) => CommitStatus::AddtlAttrReq,
            CommitOutcome::Failure(_) => CommitStatus::Failure,
        }
    }

    /// The commit response's `errors` text (none on a first success).
    pub fn errors(&self) -> Option<String> {
        match self {
            CommitOutcome::Success { .. } => None,
            CommitOutcome::Duplicate => Some(ERRORS_DUPLICATE.into()),
            CommitOutcome::Nsf => Some("Insufficient funds in the source account".into()),
            CommitOutcome::ExRateExpired => {
                Some("The exchange rate of this payout has expired; create a new payout".into())
            }
            CommitOutcome::AddtlAttrReq(labels) => Some(format!(
                "Additional attributes required: {}",
                labels.join(", ")
            )),
            CommitOutcome::Failure(reason) => Some(reason.clone()),
        }
    }
}

/// Decides a commit. Order: the payout's own state (already committed, cancelled, failed) →
/// scenario/magic override → quote expired → required attributes missing → balance short now →
/// success. Pure: the caller applies the outcome under the payout's and balance's locks.
pub fn decide_commit(
    payout: &Payout,
    delivery: DeliveryType,
    ctx: CommitContext<'_>,
) -> CommitOutcome {
    match payout.status {
        PayoutStatus::Processing | PayoutStatus::Completed | PayoutStatus::ReadyForPickup => {
            return CommitOutcome::Duplicate
        }
        PayoutStatus::Cancelled => return CommitOutcome::ExRateExpired,
        PayoutStatus::Error => {
            return CommitOutcome::Failure(
                payout
                    .status_reason
                    .as_deref()
                    .unwrap_or(REASON_FAILURE)
                    .to_string(),
            )
        }
        PayoutStatus::Pending | PayoutStatus::Scheduled | PayoutStatus::Hold => {}
    }
    match ctx.forced {
        Some(ForcedOutcome::Nsf) => return CommitOutcome::Nsf,
        Some(ForcedOutcome::ExRateExpired) => return CommitOutcome::ExRateExpired,
        Some(ForcedOutcome::Failure(reason)) => return CommitOutcome::Failure(reason),
        None => {}
    }
    if ctx.now > payout.expiration {
        return CommitOutcome::ExRateExpired;
    }
    if !ctx.missing_attributes.is_empty() {
        return CommitOutcome::AddtlAttrReq(ctx.missing_attributes.to_vec());
    }
    if ctx.available_balance < payout.debit() {
        return CommitOutcome::Nsf;
    }
    let next = if delivery.settles_at_once() || ctx.now >= payout.estimated_availability {
        PayoutStatus::Completed
    } else {
        PayoutStatus::Processing
    };
    CommitOutcome::Success { next }
}

/// `PayoutTxn` as sent.
#[derive(serde::Deserialize, Default, utoipa::ToSchema)]
pub struct PayoutTxnBody {
    pub client_transfer_id: Option<String>,
    pub source_currency_code: Option<String>,
    pub destination_currency_code: Option<String>,
    pub source_token: Option<String>,
    pub destination_token: Option<String>,
    #[schema(value_type = Option<f64>)]
    pub destination_amount: Option<Box<RawValue>>,
    #[schema(value_type = Option<f64>)]
    pub source_amount: Option<Box<RawValue>>,
    pub attr_set_token: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Box<RawValue>>,
    pub notify_user: Option<bool>,
    /// API 1.0.0: commit at once (same currency only).
    pub auto_commit: Option<bool>,
}

/// An initiate request, parsed against the catalog.
#[derive(Debug)]
pub struct PayoutRequest {
    pub source: Source,
    pub payer: usize,
    /// Index into the payer's `currencies`.
    pub destination_currency: usize,
    pub amounts: AmountRequest,
    pub client_transfer_id: Option<String>,
    pub metadata: Option<Box<RawValue>>,
    pub attr_set_token: Option<String>,
    pub notify_user: bool,
    pub auto_commit: bool,
}

impl PayoutRequest {
    /// The amount as requested, which magic values read: `source_amount`, else
    /// `destination_amount`.
    pub fn requested_amount(&self) -> Option<Decimal> {
        self.amounts
            .source_amount
            .or(self.amounts.destination_amount)
    }
}

/// Parses `PayoutTxn` (and the `limit` query) into a [`PayoutRequest`], listing every problem.
pub fn parse_payout_request(
    catalog: &super::catalog::Catalog,
    body: PayoutTxnBody,
    limit: Option<Decimal>,
    wallet: impl Fn(&str) -> Option<(Uuid, usize)>,
) -> Result<PayoutRequest, ApiError> {
    use super::money::parse_request_amount;
    let mut p = super::Problems::new();
    let source_token = p.required("source_token", body.source_token, 100);
    let destination_token = p.required("destination_token", body.destination_token, 100);
    let destination_currency = p.required(
        "destination_currency_code",
        body.destination_currency_code,
        4,
    );
    let source = if source_token.is_empty() {
        None
    } else if let Some(f) = catalog.funding_account(&source_token) {
        Some(Source::Account(f as u16))
    } else if let Some((id, ci)) = wallet(&source_token) {
        Some(Source::Wallet(id, ci as u16))
    } else {
        p.push(format!("source_token {source_token:?} is neither one of your funding accounts (see GET /account/balance) nor a wallet of this user"));
        None
    };
    let source_currency = source.map(|s| source_currency_code(catalog, s));
    if let (Some(given), Some(actual)) = (body.source_currency_code.as_deref(), source_currency) {
        if !given.is_empty() && given != actual {
            p.push(format!("source_currency_code {given:?} does not match the currency of source_token ({actual})"));
        }
    }
    let payer = if destination_token.is_empty() {
        None
    } else {
        let d = catalog.payer(&destination_token);
        if d.is_none() {
            p.push(format!("destination_token {destination_token:?} is not a known destination (see GET /country/{{country_code}})"));
        }
        d
    };
    let mut dest_idx = None;
    if let Some(payer) = payer.map(|i| &catalog.payers[i]) {
        if !destination_currency.is_empty() {
            dest_idx = payer
                .currencies
                .iter()
                .position(|c| *c.code == *destination_currency);
            if dest_idx.is_none() {
                let offered: Vec<&str> = payer.currencies.iter().map(|c| &*c.code).collect();
                p.push(format!("destination_currency_code {destination_currency:?} is not paid by this destination (it pays {})", offered.join(", ")));
            }
        }
        if let Some(sc) = source_currency {
            if payer.pricing_for(sc).is_none() {
                p.push(format!(
                    "this destination does not accept {sc} as source currency"
                ));
            }
        }
    }
    let sp = source_currency
        .and_then(|c| catalog.precision(c))
        .unwrap_or(18);
    let dp = catalog.precision(&destination_currency).unwrap_or(18);
    let mut amount = |name: &str, raw: Option<Box<RawValue>>, precision: u32| {
        let raw = raw.filter(|r| r.get() != "null")?;
        match parse_request_amount(name, &raw, precision) {
            Ok(d) => Some(d),
            Err(e) => {
                p.push(e);
                None
            }
        }
    };
    let source_amount = amount("source_amount", body.source_amount, sp);
    let destination_amount = amount("destination_amount", body.destination_amount, dp);
    if source_amount.is_some() && destination_amount.is_some() {
        p.push("give either source_amount or destination_amount, not both");
    }
    let client_transfer_id = p.optional("client_transfer_id", body.client_transfer_id, 50);
    let metadata = match body.metadata {
        None => None,
        Some(raw) => {
            normalise_metadata(raw, &mut p).filter(|m| match super::metadata::problem(m.get()) {
                None => true,
                Some(problem) => {
                    p.push(problem);
                    false
                }
            })
        }
    };
    let auto_commit = body.auto_commit.unwrap_or(false);
    if auto_commit {
        if let (Some(sc), Some(i), Some(payer)) = (source_currency, dest_idx, payer) {
            if *catalog.payers[payer].currencies[i].code != *sc {
                p.push(
                    "auto_commit is only allowed when source and destination currency are the same",
                );
            }
        }
    }
    let attr_set_token = p.optional("attr_set_token", body.attr_set_token, 100);
    let (Some(source), Some(payer), Some(destination_currency)) = (source, payer, dest_idx) else {
        return Err(p
            .finish::<()>("payout", ())
            .err()
            .unwrap_or_else(|| ApiError::bad_request("invalid payout")));
    };
    p.finish(
        "payout",
        PayoutRequest {
            source,
            payer,
            destination_currency,
            amounts: AmountRequest {
                source_amount,
                destination_amount,
                limit,
            },
            client_transfer_id,
            metadata,
            attr_set_token,
            notify_user: body.notify_user.unwrap_or(false),
            auto_commit,
        },
    )
}

/// `metadata` is an object (1.0.0) or a string (0.1.4); a string holding a JSON object is stored
/// as that object, any other string as `{"value": "<string>"}` (responses type it as an object).
fn normalise_metadata(raw: Box<RawValue>, p: &mut super::Problems) -> Option<Box<RawValue>> {
    let text = raw.get().trim_start();
    if text.starts_with('{') {
        return Some(raw);
    }
    if text == "null" {
        return None;
    }
    if let Ok(s) = serde_json::from_str::<String>(raw.get()) {
        if let Ok(obj) = serde_json::from_str::<Box<RawValue>>(&s) {
            if obj.get().trim_start().starts_with('{') {
                return Some(obj);
            }
        }
        // Responses type metadata as an object: keep a plain string under "value".
        return if s.is_empty() {
            None
        } else {
            serde_json::value::to_raw_value(&serde_json::json!({ "value": s })).ok()
        };
    }
    p.push("metadata must be a JSON object");
    None
}

/// The currency code of a payout source.
pub fn source_currency_code(catalog: &super::catalog::Catalog, source: Source) -> &str {
    match source {
        Source::Account(i) => &catalog.funding_accounts[i as usize].currency,
        Source::Wallet(_, ci) => &catalog.currencies[ci as usize].code,
    }
}

/// The token of a payout source as the API shows it.
pub fn source_token(
    catalog: &super::catalog::Catalog,
    source: Source,
) -> std::borrow::Cow<'_, str> {
    match source {
        Source::Account(i) => {
            std::borrow::Cow::Borrowed(&catalog.funding_accounts[i as usize].token)
        }
        Source::Wallet(id, _) => {
            std::borrow::Cow::Owned(super::token::format(super::wallet::WALLET, id))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn pricing() -> Pricing {
        Pricing {
            source_currency: "USD".into(),
            fee: d("2.99"),
            min_limit: d("1"),
            max_limit: d("10000"),
            rates: HashMap::new(),
        }
    }

    #[test]
    fn magic_amounts() {
        assert_eq!(Magic::of(d("100.51")), Some(Magic::Nsf));
        assert_eq!(Magic::of(d("0.52")), Some(Magic::ExpiredRate));
        assert_eq!(Magic::of(d("7.53")), Some(Magic::AdditionalAttributes));
        assert_eq!(Magic::of(d("12.54")), Some(Magic::Failure));
        assert_eq!(Magic::of(d("12.55")), None);
        assert_eq!(Magic::of(d("0.00010051")), None);
        assert_eq!(Magic::of(d("100.5")), None);
    }

    #[test]
    fn quotes_from_either_side_and_rounds_half_up() {
        let q = quote(
            &pricing(),
            d("17.0520"),
            2,
            2,
            AmountRequest {
                source_amount: Some(d("100.5")),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(q.destination_amount, d("1713.73")); // 1713.726 → 1713.73
        let q = quote(
            &pricing(),
            d("17.0520"),
            2,
            2,
            AmountRequest {
                destination_amount: Some(d("1000")),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(q.source_amount, d("58.64")); // 58.6441…
        assert!(quote(
            &pricing(),
            d("1"),
            2,
            2,
            AmountRequest {
                source_amount: Some(d("20000")),
                ..Default::default()
            }
        )
        .is_err());
    }

    #[test]
    fn amounts_that_would_overflow_are_a_400_not_a_panic() {
        let huge = Decimal::MAX;
        assert_eq!(Magic::of(huge), None);
        let no_max = Pricing {
            max_limit: Decimal::ZERO,
            ..pricing()
        };
        for (rate, req) in [
            (
                "17.052",
                AmountRequest {
                    source_amount: Some(huge),
                    limit: Some(d("100")),
                    ..Default::default()
                },
            ),
            (
                "17.052",
                AmountRequest {
                    source_amount: Some(huge),
                    ..Default::default()
                },
            ),
            (
                "0.00001052",
                AmountRequest {
                    destination_amount: Some(huge),
                    ..Default::default()
                },
            ),
        ] {
            let e = quote(&no_max, d(rate), 2, 2, req).unwrap_err();
            assert_eq!(e.status(), axum::http::StatusCode::BAD_REQUEST, "{req:?}");
        }
        // Rate 1 (same currency): Decimal::MAX + fee does not fit either.
        let e = quote(
            &no_max,
            Decimal::ONE,
            2,
            2,
            AmountRequest {
                source_amount: Some(huge),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert_eq!(e.status(), axum::http::StatusCode::BAD_REQUEST);
        let p = Payout {
            source_amount: huge,
            fee: d("2.99"),
            ..payout_for_tests()
        };
        assert_eq!(p.debit(), Decimal::MAX);
    }

    fn payout_for_tests() -> Payout {
        Payout {
            id: Uuid::nil(),
            user: Uuid::nil(),
            payer: 0,
            source: Source::Account(0),
            destination_currency: 0,
            source_amount: d("1"),
            destination_amount: d("1"),
            exchange_rate: d("1"),
            fee: d("0"),
            created: 0,
            seq: 0,
            expiration: 0,
            estimated_availability: 0,
            status: PayoutStatus::Pending,
            status_reason: None,
            client_transfer_id: None,
            metadata: None,
            attr_set: None,
            pickup_code: None,
            magic: None,
            requested_amount: d("1"),
            notify_user: false,
            committed_at: None,
        }
    }

    #[test]
    fn limit_caps_amount_plus_fee() {
        let q = quote(
            &pricing(),
            d("1"),
            2,
            2,
            AmountRequest {
                limit: Some(d("8.14")),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(q.source_amount, d("5.15"));
    }
}
#[cfg(test)]
#[path = "payout_rules_tests.rs"]
mod rules_tests;
