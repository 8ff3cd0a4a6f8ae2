//! The quote: rate, fee, both amounts and the limits, in exact decimals.

use rust_decimal::Decimal;

use crate::domain::catalog::Pricing;
use crate::domain::error::SimError;
use crate::domain::money::round_to_precision;

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
) -> Result<Quote, SimError> {
    let fee = pricing.fee;
    let too_large = || SimError::invalid("the amount is too large to quote");
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
            return Err(SimError::invalid(
                "give either source_amount or destination_amount, not both",
            ))
        }
        (Some(s), None) => (s, to_destination(s)?),
        (None, Some(d)) => {
            let s = d
                .checked_div(rate)
                .map(|s| round_to_precision(s, source_precision))
                .ok_or_else(|| SimError::invalid("destination_amount is too large"))?;
            if s <= Decimal::ZERO {
                return Err(SimError::invalid(
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
                return Err(SimError::invalid(
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
        return Err(SimError::invalid(format!(
            "the amount left after the fee of {} is not positive",
            fee.normalize()
        )));
    }
    if destination <= Decimal::ZERO {
        return Err(SimError::invalid(
            "the amount is too small to deliver anything in the destination currency",
        ));
    }
    if !pricing.accepts(source) {
        let max = if pricing.max_limit.is_zero() {
            "no maximum".to_string()
        } else {
            pricing.max_limit.normalize().to_string()
        };
        return Err(SimError::invalid(format!(
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
