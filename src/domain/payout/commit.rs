//! The commit decision: the one place that decides what a commit does, in the order SPEC §4b
//! gives (forced outcome, quote expiry, missing attributes, balance, success).

use rust_decimal::Decimal;

use super::*;
use crate::clock::Millis;
use crate::domain::catalog::DeliveryType;

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
