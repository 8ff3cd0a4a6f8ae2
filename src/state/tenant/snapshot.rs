//! A tenant's whole state as one value: what `POST /_sandbox/snapshots` keeps, what a restore
//! puts back, and what the state file holds for each tenant.
//!
//! Taking one copies every map of the tenant into a vector, in O(state). Payouts and users are
//! `Arc`s shared with the live tenant (a later change copies the one object it changes, see
//! `Arc::make_mut`), so a snapshot of 10 000 payouts costs 10 000 reference counts, not 10 000
//! payouts. Restoring builds a new [`Tenant`] from it the same way; the store swaps it in.
//!
//! Not in a snapshot: the request journal (a record of what the client did, not state: a restored
//! tenant keeps its journal) and the webhook subscription and delivery log (the restored tenant
//! keeps its event sink). A snapshot taken while requests of the same API key are running may
//! catch one half-way (each map is read under its own lock): take and restore them between calls.

use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

use dashmap::DashMap;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::caps::Counts;
use super::{AttrKey, Tenant, UserRecord};
use crate::clock::{ClockOrigin, Millis};
use crate::domain::attribute::AttrSet;
use crate::domain::catalog::Catalog;
use crate::domain::event::EventSink;
use crate::domain::payout::{Payout, Source};
use crate::domain::token::{PayoutId, TokenSource, TokenState, UserId};
use crate::domain::user::KycSession;
use crate::domain::wallet::{Load, SpendBack, Wallet};
use crate::idempotency::{IdempotencyStore, SavedKey};
use crate::state::sweep::DueQueue;

/// How a file's catalog indices map to this catalog's (see `state::persist`).
pub trait CatalogRemap {
    fn funding(&self, old: usize) -> Result<usize, String>;
    fn currency(&self, old: usize) -> Result<usize, String>;
    fn requirement(&self, old: usize) -> Result<usize, String>;
    /// A payer and the index of one of its destination currencies.
    fn payer_currency(&self, payer: usize, currency: u16) -> Result<(usize, u16), String>;
}

/// An index into a narrower integer (a catalog never has that many entries).
fn narrow<T: TryFrom<usize>>(i: usize) -> Result<T, String> {
    T::try_from(i).map_err(|_| format!("catalog index {i} is out of range"))
}

/// Everything a tenant holds, as of one moment. Cloning it is cheap where it matters (payouts and
/// users are shared); it is written to the state file as is (serde).
#[derive(Clone, Serialize, Deserialize)]
pub struct TenantSnapshot {
    /// The tenant's test clock when it was taken: a restored tenant's clock reads this, then
    /// runs on with the wall clock.
    pub clock: Millis,
    /// Where the token stream stood (`None`: random tokens).
    tokens: Option<TokenState>,
    seq: u64,
    /// One per funding account, in the catalog's order.
    balances: Vec<Decimal>,
    users: Vec<(UserId, Box<UserRecord>)>,
    emails: Vec<(crate::state::hash::Hashed<String>, UserId)>,
    payouts: Vec<(PayoutId, Arc<Payout>)>,
    transfer_ids: Vec<(crate::state::hash::Hashed<Box<str>>, PayoutId)>,
    attributes: Vec<(AttrKey, AttrSet)>,
    extra_requirements: Vec<(AttrKey, Vec<usize>)>,
    wallets: Vec<(Uuid, Wallet)>,
    loads: Vec<(Uuid, Load)>,
    spendbacks: Vec<(Uuid, SpendBack)>,
    load_ids: Vec<(Box<str>, Uuid)>,
    spendback_ids: Vec<(Box<str>, Uuid)>,
    kyc: Vec<(UserId, Vec<KycSession>)>,
    subaccounts: Vec<(Uuid, Vec<Uuid>)>,
    deadlines: Vec<(Millis, PayoutId)>,
    load_deadlines: Vec<(Millis, Uuid)>,
    /// The capped kinds' counts, in `caps::Kind`'s order.
    counts: Vec<usize>,
    idempotency: Vec<SavedKey>,
    scenario_calls: Vec<((String, usize), u64)>,
    scenarios: Vec<String>,
}

fn listed<T: Copy>(list: &std::sync::Mutex<std::collections::BTreeSet<T>>) -> Vec<T> {
    let list = list.lock().unwrap_or_else(|p| p.into_inner());
    list.iter().copied().collect()
}

/// A map's entries, cloned (values that are `Arc`s are shared).
fn entries<K, V, S>(map: &DashMap<K, V, S>) -> Vec<(K, V)>
where
    K: Eq + Hash + Clone,
    V: Clone,
    S: BuildHasher + Clone,
{
    map.iter()
        .map(|e| (e.key().clone(), e.value().clone()))
        .collect()
}

fn fill<K, V, S>(map: &DashMap<K, V, S>, entries: &[(K, V)])
where
    K: Eq + Hash + Clone,
    V: Clone,
    S: BuildHasher + Clone,
{
    for (k, v) in entries {
        map.insert(k.clone(), v.clone());
    }
}

impl Tenant {
    /// The tenant's whole state now (see the module's notes on what is left out).
    pub fn snapshot(&self) -> TenantSnapshot {
        TenantSnapshot {
            clock: self.now(),
            tokens: self.tokens.state(),
            seq: self.seq.load(std::sync::atomic::Ordering::Relaxed),
            balances: self.balances().into_iter().map(|(_, b)| b).collect(),
            users: entries(&**self.users),
            emails: entries(&**self.emails),
            payouts: entries(&**self.payouts),
            transfer_ids: entries(&**self.transfer_ids),
            attributes: entries(&*self.attributes),
            extra_requirements: entries(&*self.extra_requirements),
            wallets: entries(&*self.wallets),
            loads: entries(&*self.loads),
            spendbacks: entries(&*self.spendbacks),
            load_ids: entries(&*self.load_ids),
            spendback_ids: entries(&*self.spendback_ids),
            kyc: entries(&*self.kyc),
            subaccounts: entries(&*self.subaccounts),
            deadlines: listed(&self.deadlines),
            load_deadlines: listed(&self.load_deadlines),
            counts: self.counts.all(),
            idempotency: self.idempotency.export(),
            scenario_calls: entries(&*self.scenario_calls),
            scenarios: self.active_scenarios(),
        }
    }

    /// A tenant holding `snap`'s state, its clock reading `snap.clock`, its events going to
    /// `events`. Its deadlines are registered with `due` (see [`Tenant::reschedule`]). `snap`
    /// must fit `catalog` ([`TenantSnapshot::check`]: a snapshot taken in this process does).
    pub fn from_snapshot(
        catalog: Arc<Catalog>,
        origin: ClockOrigin,
        key: &str,
        events: Arc<dyn EventSink>,
        due: Arc<DueQueue>,
        snap: &TenantSnapshot,
    ) -> Tenant {
        let mut t = Tenant::new(catalog, origin, None, key, events, due);
        t.clock.set_now(snap.clock);
        t.tokens = TokenSource::restore(snap.tokens.as_ref());
        t.seq = std::sync::atomic::AtomicU64::new(snap.seq);
        for (i, b) in snap.balances.iter().enumerate().take(t.balances.len()) {
            t.set_balance(i, *b);
        }
        fill(&**t.users, &snap.users);
        fill(&**t.emails, &snap.emails);
        fill(&**t.payouts, &snap.payouts);
        fill(&**t.transfer_ids, &snap.transfer_ids);
        fill(&*t.attributes, &snap.attributes);
        fill(&*t.extra_requirements, &snap.extra_requirements);
        fill(&*t.wallets, &snap.wallets);
        fill(&*t.loads, &snap.loads);
        fill(&*t.spendbacks, &snap.spendbacks);
        fill(&*t.load_ids, &snap.load_ids);
        fill(&*t.spendback_ids, &snap.spendback_ids);
        fill(&*t.kyc, &snap.kyc);
        fill(&*t.subaccounts, &snap.subaccounts);
        *t.deadlines.get_mut().unwrap_or_else(|p| p.into_inner()) =
            snap.deadlines.iter().copied().collect();
        *t.load_deadlines
            .get_mut()
            .unwrap_or_else(|p| p.into_inner()) = snap.load_deadlines.iter().copied().collect();
        t.counts = Counts::from_all(&snap.counts);
        t.idempotency = IdempotencyStore::import(&snap.idempotency);
        fill(&*t.scenario_calls, &snap.scenario_calls);
        t.set_scenarios(snap.scenarios.clone());
        t.reschedule();
        t
    }
}

impl TenantSnapshot {
    pub fn users(&self) -> usize {
        self.users.len()
    }

    pub fn payouts(&self) -> usize {
        self.payouts.len()
    }

    /// The scenarios the tenant had activated (`PUT /_sandbox/scenario`).
    pub fn scenarios(&self) -> &[String] {
        &self.scenarios
    }

    /// Moves the snapshot's catalog indices from the catalog a file was written with to this
    /// one (`to` maps each old index to the new one, or `Err` naming what this catalog lacks).
    /// Balances of funding accounts the file does not know start at their fixture value.
    pub fn remap(&mut self, to: &dyn CatalogRemap, catalog: &Catalog) -> Result<(), String> {
        let mut balances: Vec<Decimal> = catalog
            .funding_accounts
            .iter()
            .map(|a| a.initial_balance)
            .collect();
        for (i, b) in self.balances.iter().enumerate() {
            if let Some(slot) = balances.get_mut(to.funding(i)?) {
                *slot = *b;
            }
        }
        self.balances = balances;
        for (_, p) in &mut self.payouts {
            let p = Arc::make_mut(p);
            let (payer, currency) = to.payer_currency(p.payer as usize, p.destination_currency)?;
            (p.payer, p.destination_currency) = (narrow(payer)?, currency);
            p.source = match p.source {
                Source::Account(a) => Source::Account(narrow(to.funding(usize::from(a))?)?),
                Source::Wallet(w, c) => Source::Wallet(w, narrow(to.currency(usize::from(c))?)?),
            };
        }
        let key = |(user, payer, currency): AttrKey| -> Result<AttrKey, String> {
            let (payer, currency) = to.payer_currency(payer as usize, currency)?;
            Ok((user, narrow(payer)?, currency))
        };
        for (k, set) in &mut self.attributes {
            *k = key(*k)?;
            for (r, _) in &mut set.values {
                *r = to.requirement(*r)?;
            }
        }
        for (k, extra) in &mut self.extra_requirements {
            *k = key(*k)?;
            for r in extra {
                *r = to.requirement(*r)?;
            }
        }
        for (_, w) in &mut self.wallets {
            for rule in &mut w.autopay {
                let currency =
                    u16::try_from(rule.destination_currency).map_err(|e| e.to_string())?;
                let (payer, currency) = to.payer_currency(rule.payer, currency)?;
                (rule.payer, rule.destination_currency) = (payer, usize::from(currency));
            }
        }
        for (_, l) in &mut self.loads {
            l.funding = to.funding(l.funding)?;
        }
        for (_, s) in &mut self.spendbacks {
            s.funding = to.funding(s.funding)?;
        }
        Ok(())
    }

    /// Checks that every catalog index in the snapshot points into `catalog` (a snapshot read
    /// from a file may have been written with other fixtures, or edited): what would otherwise
    /// fail on first use fails here, naming what is wrong.
    pub fn check(&self, catalog: &Catalog) -> Result<(), String> {
        let accounts = catalog.funding_accounts.len();
        if self.balances.len() != accounts {
            return Err(format!(
                "{} balances, but the fixtures have {accounts} funding accounts",
                self.balances.len()
            ));
        }
        let payer_currency =
            |payer: usize, currency: usize, what: &str| match catalog.payers.get(payer) {
                Some(p) if currency < p.currencies.len() => Ok(()),
                Some(p) => Err(format!(
                    "{what}: currency #{currency} of destination {} does not exist",
                    p.token
                )),
                None => Err(format!("{what}: destination #{payer} does not exist")),
            };
        for (id, p) in &self.payouts {
            let what = format!("payout {}", id.token());
            payer_currency(p.payer as usize, p.destination_currency as usize, &what)?;
            match p.source {
                Source::Account(a) if usize::from(a) >= accounts => {
                    return Err(format!("{what}: funding account #{a} does not exist"))
                }
                Source::Wallet(_, c) if usize::from(c) >= catalog.currencies.len() => {
                    return Err(format!("{what}: currency #{c} does not exist"))
                }
                _ => {}
            }
        }
        let requirements = catalog.requirements.len();
        for ((user, payer, currency), set) in &self.attributes {
            let what = format!("attribute set of user {}", user.token());
            payer_currency(*payer as usize, usize::from(*currency), &what)?;
            if let Some((r, _)) = set.values.iter().find(|(r, _)| *r >= requirements) {
                return Err(format!("{what}: requirement #{r} does not exist"));
            }
        }
        for ((user, payer, currency), extra) in &self.extra_requirements {
            let what = format!("added requirements of user {}", user.token());
            payer_currency(*payer as usize, usize::from(*currency), &what)?;
            if let Some(r) = extra.iter().find(|r| **r >= requirements) {
                return Err(format!("{what}: requirement #{r} does not exist"));
            }
        }
        for (id, w) in &self.wallets {
            for rule in &w.autopay {
                payer_currency(
                    rule.payer,
                    rule.destination_currency,
                    &format!("wallet {id}"),
                )?;
            }
        }
        let funding = |f: usize, what: String| {
            (f < accounts)
                .then_some(())
                .ok_or_else(|| format!("{what}: funding account #{f} does not exist"))
        };
        for (id, l) in &self.loads {
            funding(l.funding, format!("load {id}"))?;
        }
        for (id, s) in &self.spendbacks {
            funding(s.funding, format!("spend-back {id}"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::state::sweep::test_support::{store, user};
    use crate::state::InitiateOutcome;

    #[test]
    fn a_restored_tenant_holds_what_the_snapshot_saw_and_shares_its_payouts() {
        let store = store();
        let t = store.tenant("snap").unwrap();
        let u = user(&t);
        let catalog = std::sync::Arc::clone(&t.catalog);
        let request = crate::state::sweep::test_support::usd_to_btc(&catalog, None);
        let Ok(InitiateOutcome::Created(p)) =
            t.initiate_payout(u, request, None, Default::default())
        else {
            panic!("not created");
        };
        let snap = t.snapshot();
        assert_eq!((snap.users(), snap.payouts()), (1, 1));
        assert!(
            std::sync::Arc::ptr_eq(&snap.payouts[0].1, &t.payouts.get(&p.id).unwrap()),
            "the snapshot shares the stored payout"
        );
        assert!(snap.check(&catalog).is_ok());
        let back = super::Tenant::from_snapshot(
            std::sync::Arc::clone(&catalog),
            crate::clock::ClockOrigin::new(None),
            "snap",
            std::sync::Arc::new(crate::domain::event::NoEvents),
            std::sync::Arc::default(),
            &snap,
        );
        assert_eq!(back.all_payouts().len(), 1);
        assert_eq!(back.users().len(), 1);
        assert_eq!(back.balances(), t.balances());
        assert!((back.now() - snap.clock).abs() < 1000);
    }
}
