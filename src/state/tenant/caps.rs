//! Per-tenant caps on stored objects (`crate::limits`): one counter per kind, taken before an
//! object is stored — a request beyond the cap is a 422 that changes nothing.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::{ApiError, ApiResult};
use crate::limits::{
    MAX_OTHER_OBJECTS_PER_TENANT, MAX_PAYOUTS_PER_TENANT, MAX_SUBACCOUNTS_PER_TENANT,
    MAX_USERS_PER_TENANT,
};

/// A kind of stored object with a cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Users,
    Payouts,
    Loads,
    SpendBacks,
    AttributeSets,
    KycSessions,
    AutopayRules,
    BeneficialOwners,
    SubAccounts,
}

const KINDS: usize = 9;

impl Kind {
    fn index(self) -> usize {
        self as usize
    }

    pub fn cap(self) -> usize {
        match self {
            Kind::Users => MAX_USERS_PER_TENANT,
            Kind::Payouts => MAX_PAYOUTS_PER_TENANT,
            Kind::SubAccounts => MAX_SUBACCOUNTS_PER_TENANT,
            Kind::Loads
            | Kind::SpendBacks
            | Kind::AttributeSets
            | Kind::KycSessions
            | Kind::AutopayRules
            | Kind::BeneficialOwners => MAX_OTHER_OBJECTS_PER_TENANT,
        }
    }

    fn plural(self) -> &'static str {
        match self {
            Kind::Users => "users",
            Kind::Payouts => "payouts",
            Kind::Loads => "loads",
            Kind::SpendBacks => "spend-backs",
            Kind::AttributeSets => "attribute sets",
            Kind::KycSessions => "KYC sessions",
            Kind::AutopayRules => "autopay rules",
            Kind::BeneficialOwners => "beneficial owners",
            Kind::SubAccounts => "sub-accounts",
        }
    }
}

/// How many objects of each kind a tenant holds.
#[derive(Default)]
pub struct Counts([AtomicUsize; KINDS]);

impl Counts {
    /// Counts one more object of `kind`, or refuses (422) when the tenant holds its cap already.
    /// Call it right before storing, after every check that could still refuse the request; a
    /// refusal after it must [`give_back`](Self::give_back).
    pub fn take(&self, kind: Kind) -> ApiResult<()> {
        let cap = kind.cap();
        self.0[kind.index()]
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < cap).then_some(n + 1)
            })
            .map(|_| ())
            .map_err(|_| refusal(kind))
    }

    /// Un-counts an object (taken for a request that was refused after all, or deleted).
    pub fn give_back(&self, kind: Kind) {
        let _ = self.0[kind.index()]
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    pub fn get(&self, kind: Kind) -> usize {
        self.0[kind.index()].load(Ordering::Relaxed)
    }

    #[cfg(test)]
    pub fn set(&self, kind: Kind, n: usize) {
        self.0[kind.index()].store(n, Ordering::Relaxed);
    }
}

/// The 422 for a full tenant: names the limit and says what to do.
pub fn refusal(kind: Kind) -> ApiError {
    ApiError::Unprocessable(format!(
        "this sandbox tenant already holds {} {}, the most one API key may hold: reset it (POST /_sandbox/reset) or use another API key",
        kind.cap(),
        kind.plural()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_beyond_the_cap_and_counts_back() {
        let c = Counts::default();
        c.set(Kind::Payouts, MAX_PAYOUTS_PER_TENANT - 1);
        assert!(c.take(Kind::Payouts).is_ok());
        let e = c.take(Kind::Payouts).unwrap_err();
        assert_eq!(e.status(), axum::http::StatusCode::UNPROCESSABLE_ENTITY);
        let text = e.to_string();
        assert!(text.contains("2000000 payouts"), "{text}");
        assert!(text.contains("POST /_sandbox/reset"), "{text}");
        c.give_back(Kind::Payouts);
        assert!(c.take(Kind::Payouts).is_ok());
        assert_eq!(c.get(Kind::Users), 0);
        c.give_back(Kind::Users);
        assert_eq!(c.get(Kind::Users), 0);
    }

    #[test]
    fn the_benchmark_fits() {
        assert!(Kind::Users.cap() >= 2_000_000 && Kind::Payouts.cap() >= 2_000_000);
    }
}
