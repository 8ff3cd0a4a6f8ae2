//! Payouts: the quote (rate, fee, amounts, limits), the payout's life cycle, and the commit
//! decision — the one place that decides what a commit does.

use rust_decimal::Decimal;
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::clock::Millis;
use crate::domain::token::{PayoutId, UserId};

mod commit;
mod quote;
mod request;

pub use commit::*;
pub use quote::*;
pub use request::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Payout {
    pub id: PayoutId,
    pub user: UserId,
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Source {
    /// Index into `Catalog::funding_accounts`.
    Account(u16),
    /// A user wallet, with the index of its currency in `Catalog::currencies`.
    Wallet(Uuid, u16),
}

/// Magic amounts (SPEC §5): the requested amount's last two cents decide the commit outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
        match rust_decimal::prelude::ToPrimitive::to_u8(&last_two)? {
            51 => Some(Magic::Nsf),
            52 => Some(Magic::ExpiredRate),
            53 => Some(Magic::AdditionalAttributes),
            54 => Some(Magic::Failure),
            _ => None,
        }
    }
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
    use crate::domain::catalog::Pricing;
    use crate::domain::error::SimError;
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
        assert_eq!(Magic::of(d("-100.5100")), Some(Magic::Nsf));
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
            assert!(matches!(e, SimError::Invalid { .. }), "{req:?}");
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
        assert!(matches!(e, SimError::Invalid { .. }), "{e:?}");
        let p = Payout {
            source_amount: huge,
            fee: d("2.99"),
            ..payout_for_tests()
        };
        assert_eq!(p.debit(), Decimal::MAX);
    }

    fn payout_for_tests() -> Payout {
        Payout {
            id: crate::domain::token::PayoutId(Uuid::nil()),
            user: crate::domain::token::UserId(Uuid::nil()),
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
mod rules_tests;
