//! Per-tenant caps on stored objects (`crate::limits`): one counter per kind, taken before an
//! object is stored — a request beyond the cap is a 422 that changes nothing.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::domain::error::{SimError, SimResult};
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
    pub fn take(&self, kind: Kind) -> SimResult<()> {
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

    /// Every kind's count, in [`Kind`]'s order (what a snapshot keeps).
    pub fn all(&self) -> Vec<usize> {
        self.0.iter().map(|n| n.load(Ordering::Relaxed)).collect()
    }

    /// Counts as [`all`](Self::all) wrote them (missing kinds count 0).
    pub fn from_all(values: &[usize]) -> Self {
        let counts = Counts::default();
        for (n, v) in counts.0.iter().zip(values) {
            n.store(*v, Ordering::Relaxed);
        }
        counts
    }

    #[cfg(test)]
    pub fn set(&self, kind: Kind, n: usize) {
        self.0[kind.index()].store(n, Ordering::Relaxed);
    }
}

/// The 422 for a full tenant: names the limit and says what to do.
pub fn refusal(kind: Kind) -> SimError {
    SimError::LimitReached(format!(
        "this sandbox tenant already holds {} {}, the most one API key may hold: reset it (POST /_sandbox/reset) or use another API key",
        kind.cap(),
        kind.plural()
    ))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn refuses_beyond_the_cap_and_counts_back() {
        let c = Counts::default();
        c.set(Kind::Payouts, MAX_PAYOUTS_PER_TENANT - 1);
        assert!(c.take(Kind::Payouts).is_ok());
        let e = c.take(Kind::Payouts).unwrap_err();
        assert!(matches!(e, SimError::LimitReached(_)), "{e:?}");
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
    fn a_full_tenant_refuses_with_a_422_and_stores_nothing() {
        use crate::state::sweep::test_support::{store, user};
        use crate::state::InitiateOutcome;
        let store = store();
        let t = store.tenant("full").unwrap();
        let u = user(&t);
        // Users: a 422, no user, and the e-mail stays free.
        t.counts.set(Kind::Users, MAX_USERS_PER_TENANT);
        let body: crate::domain::user::UserBody = serde_json::from_str(
            r#"{"internal_user_id": "u2", "country": "USA", "first_name": "A", "last_name": "B",
            "email": "full@example.com"}"#,
        )
        .unwrap();
        let today = crate::clock::date(t.now());
        let (profile, _) = crate::domain::user::parse_profile(
            body,
            crate::domain::user::UserBodyKind::Create,
            today,
        )
        .unwrap();
        let e = t.create_user(profile.clone()).unwrap_err();
        assert!(matches!(e, SimError::LimitReached(_)), "{e:?}");
        assert_eq!(t.users().len(), 1);
        t.counts.set(Kind::Users, 1);
        assert!(t.create_user(profile).is_ok());
        // Payouts: a 422, no payout, and the client_transfer_id stays free.
        let catalog = Arc::clone(&t.catalog);
        let request = || crate::state::sweep::test_support::usd_to_btc(&catalog, Some("once"));
        t.counts.set(Kind::Payouts, MAX_PAYOUTS_PER_TENANT);
        let e = t
            .initiate_payout(u, request(), None, Default::default())
            .err()
            .unwrap();
        assert!(matches!(e, SimError::LimitReached(_)), "{e:?}");
        assert!(t.all_payouts().is_empty());
        t.counts.set(Kind::Payouts, 0);
        let created = t.initiate_payout(u, request(), None, Default::default());
        assert!(matches!(created, Ok(InitiateOutcome::Created(_))));
        assert_eq!(t.count(Kind::Payouts), 1);
    }

    #[test]
    fn the_benchmark_fits() {
        assert!(Kind::Users.cap() >= 2_000_000 && Kind::Payouts.cap() >= 2_000_000);
    }
}
