//! One tenant's simulation: its users, attribute sets, payouts, balances and clock, and the
//! operations that change them atomically. Rules come from `domain`; this module owns the locks.
//!
//! Lock order, everywhere: a payout entry, then a balance. Nothing here awaits while holding one.

use std::collections::BTreeSet;
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex, RwLock};

use super::hash::{ClientKeyMap, FastMap, Growing, Hashed, HashedKeyMap, LazyMap};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::journal::Journal;
use crate::clock::{ClockOrigin, Millis, TenantClock};
use crate::domain::attribute::AttrSet;
use crate::domain::catalog::Catalog;
use crate::domain::event::EventSink;
use crate::domain::payout::Payout;
use crate::domain::token::{PayoutId, TokenSource, UserId};
use crate::domain::user::{KycSession, User};
use crate::domain::wallet::{Load, SpendBack, Wallet};

pub use crate::domain::payout::PayoutRequest;
pub use seed::{Seed, SeedAttributes, SeedBalance, SeedError, SeedPayout, SeedUser};
pub use snapshot::{CatalogRemap, TenantSnapshot};

mod accounts;
pub mod caps;
mod deadlines;
mod loads;
mod payouts;
mod seed;
mod snapshot;
mod users;
pub mod wallets;

/// (user, payer index, index of the destination currency in the payer's list).
pub type AttrKey = (UserId, u32, u16);

#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct UserRecord {
    /// Shared with the answers that return it: handing a user out costs a reference count.
    user: Arc<User>,
    payouts: Vec<PayoutId>,
    wallets: Vec<Uuid>,
    /// Whether the default wallets are open yet (see `open_default_wallets`).
    default_wallets_open: bool,
    loads: Vec<Uuid>,
    spendbacks: Vec<Uuid>,
}

pub struct Tenant {
    key: Arc<str>,
    pub catalog: Arc<Catalog>,
    pub clock: TenantClock,
    tokens: TokenSource,
    /// Boxed: a growing map moves its entries when it doubles, and a pointer moves fast.
    users: LazyMap<Growing<FastMap<UserId, Box<UserRecord>>>>,
    emails: LazyMap<Growing<HashedKeyMap<String, UserId>>>,
    payouts: LazyMap<Growing<FastMap<PayoutId, Arc<Payout>>>>,
    transfer_ids: LazyMap<Growing<HashedKeyMap<Box<str>, PayoutId>>>,
    /// One balance per funding account, in the catalog's order.
    balances: Balances,
    attributes: LazyMap<FastMap<AttrKey, AttrSet>>,
    /// Requirements added on top of the catalog's (by the `additional_attributes` scenario or
    /// its magic amount); they stay once added.
    extra_requirements: LazyMap<FastMap<AttrKey, Vec<usize>>>,
    pub journal: Journal,
    /// Creation order of payouts, loads and spend-backs.
    seq: std::sync::atomic::AtomicU64,
    wallets: LazyMap<FastMap<Uuid, Wallet>>,
    loads: LazyMap<FastMap<Uuid, Load>>,
    spendbacks: LazyMap<FastMap<Uuid, SpendBack>>,
    load_ids: LazyMap<ClientKeyMap<Box<str>, Uuid>>,
    spendback_ids: LazyMap<ClientKeyMap<Box<str>, Uuid>>,
    kyc: LazyMap<FastMap<UserId, Vec<KycSession>>>,
    /// Sub-accounts and their beneficial owners.
    subaccounts: LazyMap<FastMap<Uuid, Vec<Uuid>>>,
    /// Where this tenant's events go (the webhook side renders and delivers them).
    pub events: Arc<dyn EventSink>,
    /// When a stored payout changes status by itself (quote expiry, settlement), by time.
    deadlines: Mutex<BTreeSet<(Millis, PayoutId)>>,
    /// When scheduled loads run.
    load_deadlines: Mutex<BTreeSet<(Millis, Uuid)>>,
    /// The store's due queue, where this tenant registers its earliest deadline.
    due: Arc<super::sweep::DueQueue>,
    /// The deadline (on this clock) this tenant last registered in `due`; `Millis::MAX`: none.
    /// A later deadline needs no registration: the sweep of the earlier one registers the next.
    registered: AtomicI64,
    /// How many objects of each capped kind this tenant holds.
    counts: caps::Counts,
    /// Unit tests make a tenant's sweep panic with this, to show the sweeper survives it.
    #[cfg(test)]
    pub(crate) panic_in_sweep: std::sync::atomic::AtomicBool,
    pub idempotency: crate::idempotency::IdempotencyStore,
    /// How many calls matched each (scenario, rule) so far, for `nth`/`first` conditions.
    scenario_calls: LazyMap<FastMap<(String, usize), u64>>,
    /// Scenarios activated for this tenant (`PUT /_sandbox/scenario`), until reset or DELETE.
    scenarios: RwLock<Vec<String>>,
    /// Whether `scenarios` is non-empty: what every request asks, answered without touching
    /// the lock (a read lock still writes its word, which concurrent requests pass around).
    scenarios_armed: std::sync::atomic::AtomicBool,
}

/// What initiating a payout produced.
pub enum InitiateOutcome {
    /// Stored; the answer shares the stored copy (the next change copies it if still shared).
    Created(Arc<Payout>),
    /// Balance below `source_amount + fee`: nothing stored (`payout_token: "NSF"`).
    InsufficientFunds(Payout),
    /// `client_transfer_id` already used (`payout_token: "DUPLICATE"`).
    Duplicate(Payout),
}

impl Tenant {
    pub fn new(
        catalog: Arc<Catalog>,
        origin: ClockOrigin,
        seed: Option<u64>,
        key: &str,
        events: Arc<dyn EventSink>,
        due: Arc<super::sweep::DueQueue>,
    ) -> Self {
        let balances = Balances::new(
            catalog
                .funding_accounts
                .iter()
                .map(|a| a.initial_balance)
                .collect(),
        );
        Tenant {
            key: key.into(),
            clock: TenantClock::new(origin),
            tokens: TokenSource::new(seed, key),
            users: LazyMap::default(),
            emails: LazyMap::default(),
            payouts: LazyMap::default(),
            transfer_ids: LazyMap::default(),
            balances,
            attributes: LazyMap::default(),
            extra_requirements: LazyMap::default(),
            journal: Journal::default(),
            seq: std::sync::atomic::AtomicU64::new(0),
            wallets: LazyMap::default(),
            loads: LazyMap::default(),
            spendbacks: LazyMap::default(),
            load_ids: LazyMap::default(),
            spendback_ids: LazyMap::default(),
            kyc: LazyMap::default(),
            subaccounts: LazyMap::default(),
            events,
            deadlines: Mutex::new(BTreeSet::new()),
            load_deadlines: Mutex::new(BTreeSet::new()),
            due,
            registered: AtomicI64::new(Millis::MAX),
            counts: caps::Counts::default(),
            #[cfg(test)]
            panic_in_sweep: Default::default(),
            idempotency: Default::default(),
            scenario_calls: LazyMap::default(),
            scenarios: RwLock::new(Vec::new()),
            scenarios_armed: false.into(),
            catalog,
        }
    }

    pub fn now(&self) -> Millis {
        self.clock.now()
    }

    /// The next number in the tenant's creation order.
    pub fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// The API key this tenant belongs to.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The API key as logs show it: its first characters and its length, never all of it.
    pub fn key_hint(&self) -> String {
        let head: String = self.key.chars().take(4).collect();
        format!("{head}… ({} bytes)", self.key.len())
    }

    /// Counts one more call matching a scenario rule; returns its 1-based number.
    pub fn count_call(&self, scenario: &str, rule: usize) -> u64 {
        let mut n = self
            .scenario_calls
            .entry((scenario.to_string(), rule))
            .or_insert(0);
        *n += 1;
        *n
    }

    pub fn set_scenarios(&self, names: Vec<String>) {
        let mut armed = self.scenarios.write().unwrap_or_else(|p| p.into_inner());
        self.scenarios_armed
            .store(!names.is_empty(), std::sync::atomic::Ordering::Release);
        *armed = names;
    }

    pub fn has_active_scenarios(&self) -> bool {
        self.scenarios_armed
            .load(std::sync::atomic::Ordering::Acquire)
    }

    pub fn active_scenarios(&self) -> Vec<String> {
        self.scenarios.read().map(|s| s.clone()).unwrap_or_default()
    }

    // ----- balances -------------------------------------------------------------------------

    pub fn balance(&self, funding: usize) -> Decimal {
        self.balances.read().values[funding]
    }

    pub fn balances(&self) -> Vec<(usize, Decimal)> {
        self.balances.read().listed()
    }

    /// The answer `write` gives for the current balances (by funding-account index): kept
    /// until a balance changes, so polls that see no change share one. `write` runs without the
    /// lock; an answer is kept only if no balance changed meanwhile.
    pub fn balance_answer(
        &self,
        write: impl FnOnce(&[(usize, Decimal)]) -> Vec<u8>,
    ) -> bytes::Bytes {
        let (balances, generation) = {
            let state = self.balances.read();
            if let Some(answer) = &state.answer {
                return answer.clone();
            }
            (state.listed(), state.generation)
        };
        let answer = bytes::Bytes::from(write(&balances));
        self.balances.keep_answer(generation, &answer);
        answer
    }

    pub fn set_balance(&self, funding: usize, value: Decimal) {
        self.balances.write()[funding] = value;
    }
}

/// The balances of a tenant's funding accounts, in the catalog's order, under one lock: a read
/// of all of them (`GET /account/balance`) takes it once, and concurrent requests on one tenant
/// share one lock word instead of passing several between their threads. Writers hold it for a
/// few additions.
///
/// It also keeps the answer of `GET /account/balance` written for the balances it holds, the
/// request integrations poll most: the next poll sends the same bytes instead of writing six
/// amounts again. Every write forgets it.
struct Balances(RwLock<BalanceState>);

struct BalanceState {
    values: Box<[Decimal]>,
    /// Counts writes: an answer written from older values is not kept.
    generation: u64,
    answer: Option<bytes::Bytes>,
}

impl BalanceState {
    /// The balances by funding-account index.
    fn listed(&self) -> Vec<(usize, Decimal)> {
        self.values.iter().copied().enumerate().collect()
    }
}

/// A write to the balances: it forgets the answer written for them.
struct BalancesWrite<'a>(std::sync::RwLockWriteGuard<'a, BalanceState>);

impl std::ops::Deref for BalancesWrite<'_> {
    type Target = [Decimal];
    fn deref(&self) -> &[Decimal] {
        &self.0.values
    }
}

impl std::ops::DerefMut for BalancesWrite<'_> {
    fn deref_mut(&mut self) -> &mut [Decimal] {
        &mut self.0.values
    }
}

impl Balances {
    fn new(values: Box<[Decimal]>) -> Self {
        Balances(RwLock::new(BalanceState {
            values,
            generation: 0,
            answer: None,
        }))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BalanceState> {
        self.0.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps `answer`, written from the balances of `generation`, unless a write came since.
    fn keep_answer(&self, generation: u64, answer: &bytes::Bytes) {
        let mut state = self.0.write().unwrap_or_else(|p| p.into_inner());
        if state.generation == generation {
            state.answer = Some(answer.clone());
        }
    }

    fn write(&self) -> BalancesWrite<'_> {
        let mut state = self.0.write().unwrap_or_else(|p| p.into_inner());
        state.generation += 1;
        // Freed under the lock, rarely: only the first write after a poll has one to free.
        state.answer = None;
        BalancesWrite(state)
    }

    fn len(&self) -> usize {
        self.read().values.len()
    }
}
