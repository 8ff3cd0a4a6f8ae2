//! One tenant's simulation: its users, attribute sets, payouts, balances and clock, and the
//! operations that change them atomically. Rules come from `domain`; this module owns the locks.
//!
//! Lock order, everywhere: a payout entry, then a balance. Nothing here awaits while holding one.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use super::hash::{ClientKeyMap, FastMap, LazyMap};
use dashmap::mapref::entry::Entry;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::journal::Journal;
use crate::clock::{ClockOrigin, Millis, TenantClock};
use crate::domain::attribute::{self, AttrSet, AttrValueBody};
use crate::domain::catalog::Catalog;
use crate::domain::error::{SimError, SimResult};
use crate::domain::event::{Directives, Event, EventSink};
use crate::domain::payout::{
    self, CommitContext, CommitOutcome, ForcedOutcome, Magic, Payout, PayoutStatus, Quote, Source,
};
use crate::domain::token::{self, TokenSource};
use crate::domain::user::{KycSession, User, UserProfile, UserStatus};
use crate::domain::wallet::{Load, SpendBack, Wallet};

pub use crate::domain::payout::PayoutRequest;

pub mod caps;
pub mod wallets;

use caps::Kind;

/// (user, payer index, index of the destination currency in the payer's list).
pub type AttrKey = (Uuid, u32, u16);

struct UserRecord {
    /// Shared with the answers that return it: handing a user out costs a reference count.
    user: Arc<User>,
    payouts: Vec<Uuid>,
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
    users: LazyMap<FastMap<Uuid, UserRecord>>,
    emails: LazyMap<ClientKeyMap<String, Uuid>>,
    payouts: LazyMap<FastMap<Uuid, Payout>>,
    transfer_ids: LazyMap<ClientKeyMap<Box<str>, Uuid>>,
    /// One balance per funding account, in the catalog's order.
    balances: Vec<RwLock<Decimal>>,
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
    kyc: LazyMap<FastMap<Uuid, Vec<KycSession>>>,
    /// Sub-accounts and their beneficial owners.
    subaccounts: LazyMap<FastMap<Uuid, Vec<Uuid>>>,
    /// Where this tenant's events go (the webhook side renders and delivers them).
    pub events: Arc<dyn EventSink>,
    /// When a stored payout changes status by itself (quote expiry, settlement), by time.
    deadlines: Mutex<BTreeSet<(Millis, Uuid)>>,
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
    pub scenarios: RwLock<Vec<String>>,
}

/// What initiating a payout produced.
pub enum InitiateOutcome {
    Created(Payout),
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
        let balances = catalog
            .funding_accounts
            .iter()
            .map(|a| RwLock::new(a.initial_balance))
            .collect();
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
        *self.scenarios.write().unwrap_or_else(|p| p.into_inner()) = names;
    }

    pub fn has_active_scenarios(&self) -> bool {
        self.scenarios
            .read()
            .map(|s| !s.is_empty())
            .unwrap_or(false)
    }

    pub fn active_scenarios(&self) -> Vec<String> {
        self.scenarios.read().map(|s| s.clone()).unwrap_or_default()
    }

    // ----- balances -------------------------------------------------------------------------

    pub fn balance(&self, funding: usize) -> Decimal {
        match self.balances[funding].read() {
            Ok(b) => *b,
            Err(p) => **p.get_ref(),
        }
    }

    pub fn balances(&self) -> Vec<(usize, Decimal)> {
        (0..self.balances.len())
            .map(|i| (i, self.balance(i)))
            .collect()
    }

    pub fn set_balance(&self, funding: usize, value: Decimal) {
        let mut b = self.balances[funding]
            .write()
            .unwrap_or_else(|p| p.into_inner());
        *b = value;
    }

    // ----- users ----------------------------------------------------------------------------

    pub fn create_user(&self, profile: UserProfile) -> SimResult<Arc<User>> {
        self.counts.take(Kind::Users)?;
        let id = self.tokens.next();
        match self.emails.entry(profile.email_key()) {
            Entry::Occupied(_) => {
                self.counts.give_back(Kind::Users);
                return Err(SimError::invalid(format!(
                    "email {:?} is already used by another user",
                    profile.email
                )));
            }
            Entry::Vacant(v) => {
                v.insert(id);
            }
        }
        let timezone = crate::domain::user::derive_timezone(
            &self.catalog,
            &profile.country,
            profile.state_province.as_deref(),
        );
        let user = Arc::new(User {
            id,
            status: UserStatus::Active,
            created_on: self.now(),
            timezone,
            profile,
        });
        let record = UserRecord {
            user: Arc::clone(&user),
            payouts: Vec::new(),
            wallets: Vec::new(),
            default_wallets_open: false,
            loads: Vec::new(),
            spendbacks: Vec::new(),
        };
        self.users.insert(id, record);
        Ok(user)
    }

    pub fn user(&self, id: Uuid) -> Option<Arc<User>> {
        self.users.get(&id).map(|r| r.user.clone())
    }

    pub fn user_exists(&self, id: Uuid) -> bool {
        self.users.contains_key(&id)
    }

    pub fn users(&self) -> Vec<Arc<User>> {
        let mut all: Vec<Arc<User>> = self.users.iter().map(|r| Arc::clone(&r.user)).collect();
        all.sort_by_key(|u| (u.created_on, u.id));
        all
    }

    pub fn update_user(
        &self,
        id: Uuid,
        profile: UserProfile,
        status: UserStatus,
    ) -> SimResult<Arc<User>> {
        let mut record = self.users.get_mut(&id).ok_or_else(|| {
            SimError::not_found(format!("user {}", token::format(token::USER, id)))
        })?;
        let old_key = record.user.profile.email_key();
        let new_key = profile.email_key();
        if old_key != new_key {
            match self.emails.entry(new_key) {
                Entry::Occupied(_) => {
                    return Err(SimError::invalid(format!(
                        "email {:?} is already used by another user",
                        profile.email
                    )))
                }
                Entry::Vacant(v) => {
                    v.insert(id);
                }
            }
            self.emails.remove(&old_key);
        }
        let user = Arc::make_mut(&mut record.user);
        user.timezone = crate::domain::user::derive_timezone(
            &self.catalog,
            &profile.country,
            profile.state_province.as_deref(),
        );
        user.profile = profile;
        user.status = status;
        Ok(Arc::clone(&record.user))
    }

    /// Finds a user by internal id and/or e-mail and first name; every criterion given must match.
    pub fn lookup_user(
        &self,
        email: Option<&str>,
        first_name: Option<&str>,
        internal_user_id: Option<&str>,
    ) -> Option<Arc<User>> {
        let matches = |u: &User| {
            email.is_none_or(|e| u.profile.email.trim().eq_ignore_ascii_case(e.trim()))
                && first_name
                    .is_none_or(|f| u.profile.first_name.trim().eq_ignore_ascii_case(f.trim()))
                && internal_user_id.is_none_or(|i| u.profile.internal_user_id == i)
        };
        if let Some(e) = email {
            let id = *self.emails.get(&e.trim().to_lowercase())?;
            return self.user(id).filter(|u| matches(u));
        }
        let mut found: Vec<Arc<User>> = self
            .users
            .iter()
            .filter(|r| matches(&r.user))
            .map(|r| Arc::clone(&r.user))
            .collect();
        found.sort_by_key(|u| (u.created_on, u.id));
        found.into_iter().next()
    }

    // ----- attributes -----------------------------------------------------------------------

    /// The requirements of (user, destination, currency): the catalog's plus any added ones.
    pub fn requirements(&self, key: AttrKey) -> Vec<usize> {
        let payer = &self.catalog.payers[key.1 as usize];
        let mut reqs = payer.currencies[key.2 as usize].requirements.clone();
        if let Some(extra) = self.extra_requirements.get(&key) {
            for r in extra.iter() {
                if !reqs.contains(r) {
                    reqs.push(*r);
                }
            }
        }
        reqs
    }

    /// Adds a requirement to (user, destination, currency); it stays.
    pub fn add_requirement(&self, key: AttrKey, requirement: usize) {
        let mut extra = self.extra_requirements.entry(key).or_default();
        if !extra.contains(&requirement) {
            extra.push(requirement);
        }
    }

    pub fn attribute_set(&self, key: AttrKey) -> Option<AttrSet> {
        self.attributes.get(&key).map(|s| s.clone())
    }

    pub fn attribute_sets(&self) -> Vec<(AttrKey, AttrSet)> {
        self.attributes
            .iter()
            .map(|e| (*e.key(), e.value().clone()))
            .collect()
    }

    /// Merges and validates values into the set of `key`; nothing is stored if any value fails.
    pub fn store_attributes(
        &self,
        key: AttrKey,
        attr_set_token: Option<&str>,
        values: Vec<AttrValueBody>,
    ) -> SimResult<Uuid> {
        let requirements = self.requirements(key);
        let check_token = |existing: Option<Uuid>| -> SimResult<()> {
            match attr_set_token {
                None => Ok(()),
                Some(t) if token::parse(t, token::ATTR_SET).is_some() && token::parse(t, token::ATTR_SET) == existing => Ok(()),
                Some(t) => Err(SimError::invalid(format!(
                    "attr_set_token {t:?} is not the attribute set of this user, destination and currency"
                ))),
            }
        };
        match self.attributes.entry(key) {
            Entry::Occupied(mut o) => {
                check_token(Some(o.get().id))?;
                let merged = attribute::merge_and_validate(
                    &self.catalog,
                    &requirements,
                    Some(o.get()),
                    values,
                )?;
                o.get_mut().values = merged;
                Ok(o.get().id)
            }
            Entry::Vacant(v) => {
                check_token(None)?;
                let merged =
                    attribute::merge_and_validate(&self.catalog, &requirements, None, values)?;
                self.counts.take(Kind::AttributeSets)?;
                let id = self.tokens.next();
                v.insert(AttrSet { id, values: merged });
                Ok(id)
            }
        }
    }

    // ----- payouts --------------------------------------------------------------------------

    /// Quotes and stores a new PENDING payout — or answers NSF/DUPLICATE without storing one.
    /// `rate_override` (from a scenario) replaces the catalog's rate in the quote.
    pub fn initiate_payout(
        &self,
        user: Uuid,
        req: PayoutRequest,
        rate_override: Option<Decimal>,
        webhook: Directives,
    ) -> SimResult<InitiateOutcome> {
        if !self.user_exists(user) {
            return Err(SimError::not_found(format!(
                "user {}",
                token::format(token::USER, user)
            )));
        }
        let catalog = &self.catalog;
        let payer = &catalog.payers[req.payer];
        let source_currency = payout::source_currency_code(catalog, req.source);
        if let Source::Wallet(w, _) = req.source {
            if self.wallets.get(&w).is_none_or(|x| x.user != user) {
                return Err(SimError::invalid(
                    "source_token is not a wallet of this user",
                ));
            }
        }
        let dest = &payer.currencies[req.destination_currency];
        let pricing = payer.pricing_for(source_currency).ok_or_else(|| {
            SimError::invalid(format!(
                "this destination does not accept {source_currency} as source currency"
            ))
        })?;
        let rate = rate_override
            .or_else(|| catalog.rate(pricing, &dest.code))
            .ok_or_else(|| SimError::invalid("no exchange rate for this currency pair"))?;
        let sp = catalog.precision(source_currency).unwrap_or(2);
        let dp = catalog.precision(&dest.code).unwrap_or(2);
        let q: Quote = payout::quote(pricing, rate, sp, dp, req.amounts)?;
        let key: AttrKey = (user, req.payer as u32, req.destination_currency as u16);
        let existing_set = self.attributes.get(&key).map(|s| s.id);
        if let Some(t) = &req.attr_set_token {
            if token::parse(t, token::ATTR_SET).is_none()
                || token::parse(t, token::ATTR_SET) != existing_set
            {
                return Err(SimError::invalid(format!(
                    "attr_set_token {t:?} is not an attribute set of this user for this destination and currency"
                )));
            }
        }
        let now = self.now();
        let magic = req.requested_amount().and_then(Magic::of);
        let requested_amount = req.requested_amount().unwrap_or(q.source_amount);
        let id = self.tokens.next();
        let pickup_code = (payer.delivery_type == crate::domain::catalog::DeliveryType::CashPickup)
            .then(|| format!("{:08}", self.tokens.next_below(100_000_000)).into_boxed_str());
        let mut p = Payout {
            id,
            user,
            payer: req.payer as u32,
            source: req.source,
            destination_currency: req.destination_currency as u16,
            source_amount: q.source_amount,
            destination_amount: q.destination_amount,
            exchange_rate: q.exchange_rate,
            fee: q.fee,
            created: now,
            seq: self.next_seq(),
            expiration: now + self.catalog.quote_ttl_seconds * 1000,
            estimated_availability: now + payer.availability_seconds * 1000,
            status: PayoutStatus::Pending,
            status_reason: None,
            client_transfer_id: req.client_transfer_id.as_deref().map(Into::into),
            metadata: req.metadata,
            attr_set: existing_set,
            pickup_code,
            magic,
            requested_amount,
            notify_user: req.notify_user,
            committed_at: None,
        };
        let available = self.source_balance(req.source).unwrap_or_default();
        let short = |p: &Payout| available < p.debit();
        match &req.client_transfer_id {
            Some(ctid) => match self.transfer_ids.entry(ctid.as_str().into()) {
                Entry::Occupied(_) => {
                    p.status = PayoutStatus::Cancelled;
                    p.status_reason = Some("client_transfer_id was already used".into());
                    return Ok(InitiateOutcome::Duplicate(p));
                }
                Entry::Vacant(v) => {
                    if short(&p) {
                        p.status = PayoutStatus::Cancelled;
                        p.status_reason = Some("Insufficient funds".into());
                        return Ok(InitiateOutcome::InsufficientFunds(p));
                    }
                    self.counts.take(Kind::Payouts)?;
                    v.insert(id);
                }
            },
            None => {
                if short(&p) {
                    p.status = PayoutStatus::Cancelled;
                    p.status_reason = Some("Insufficient funds".into());
                    return Ok(InitiateOutcome::InsufficientFunds(p));
                }
                self.counts.take(Kind::Payouts)?;
            }
        }
        self.payouts.insert(id, p.clone());
        if let Some(mut u) = self.users.get_mut(&user) {
            u.payouts.push(id);
        }
        self.add_deadline(p.expiration, id);
        self.emit_payout(&p, webhook);
        Ok(InitiateOutcome::Created(p))
    }

    /// Reads a user's payout in place (no copy, no refresh): for facts that never change, such
    /// as its client_transfer_id or requested amount.
    pub fn read_payout<R>(&self, user: Uuid, id: Uuid, f: impl FnOnce(&Payout) -> R) -> Option<R> {
        self.payouts
            .get(&id)
            .filter(|p| p.user == user)
            .map(|p| f(&p))
    }

    /// One payout of a user, as of now.
    pub fn payout(&self, user: Uuid, id: Uuid) -> Option<Payout> {
        let mut p = self
            .payouts
            .get(&id)
            .filter(|p| p.user == user)
            .map(|p| p.clone())?;
        p.refresh(self.now());
        Some(p)
    }

    /// A user's payouts, oldest first, as of now.
    pub fn user_payouts(&self, user: Uuid) -> Option<Vec<Payout>> {
        let ids = self.users.get(&user)?.payouts.clone();
        let now = self.now();
        Some(
            ids.iter()
                .filter_map(|id| self.payouts.get(id).map(|p| p.clone()))
                .map(|mut p| {
                    p.refresh(now);
                    p
                })
                .collect(),
        )
    }

    pub fn all_payouts(&self) -> Vec<Payout> {
        let now = self.now();
        let mut all: Vec<Payout> = self
            .payouts
            .iter()
            .map(|p| {
                let mut p = p.clone();
                p.refresh(now);
                p
            })
            .collect();
        all.sort_by_key(|p| (p.created, p.id));
        all
    }

    /// Commits a payout: decides with [`payout::decide_commit`] and applies the outcome while
    /// holding the payout's entry and then its balance, so a payout is debited at most once
    /// whatever the interleaving. `forced` and `extra_requirements` come from active scenarios.
    pub fn commit_payout(
        &self,
        user: Uuid,
        id: Uuid,
        forced: Option<ForcedOutcome>,
        extra_requirements: &[usize],
        webhook: Directives,
    ) -> SimResult<(Payout, CommitOutcome)> {
        let not_found = || {
            SimError::not_found(format!(
                "payout {:?} was not found for this user",
                token::format(token::PAYOUT, id)
            ))
        };
        let mut entry = self.payouts.get_mut(&id).ok_or_else(not_found)?;
        if entry.user != user {
            return Err(not_found());
        }
        let now = self.now();
        let status_before = entry.status;
        entry.refresh(now);
        let key: AttrKey = (user, entry.payer, entry.destination_currency);
        if entry.status == PayoutStatus::Pending {
            for &r in extra_requirements {
                self.add_requirement(key, r);
            }
        }
        let requirements = self.requirements(key);
        let set = self.attribute_set(key);
        let missing = attribute::missing(&self.catalog, &requirements, set.as_ref());
        let payer = &self.catalog.payers[entry.payer as usize];
        let delivery = payer.delivery_type;
        let source = entry.source;
        let outcome = self
            .with_balance(source, |balance| {
                let outcome = payout::decide_commit(
                    &entry,
                    delivery,
                    CommitContext {
                        now,
                        missing_attributes: &missing,
                        available_balance: *balance,
                        forced: forced.clone(),
                    },
                );
                if let CommitOutcome::Success { .. } = outcome {
                    debug_assert!(entry.committed_at.is_none());
                    *balance -= entry.debit();
                }
                outcome
            })
            .unwrap_or_else(|| CommitOutcome::Failure("the source wallet no longer exists".into()));
        match &outcome {
            CommitOutcome::Success { next } => {
                entry.committed_at = Some(now);
                entry.status = *next;
                entry.status_reason = None;
                entry.attr_set = set.map(|s| s.id);
            }
            CommitOutcome::ExRateExpired => {
                entry.status = PayoutStatus::Cancelled;
                entry.status_reason = Some(payout::REASON_EXPIRED.into());
            }
            CommitOutcome::Failure(reason) => {
                entry.status = PayoutStatus::Error;
                entry.status_reason = Some(reason.as_str().into());
            }
            CommitOutcome::Duplicate | CommitOutcome::Nsf | CommitOutcome::AddtlAttrReq(_) => {}
        }
        let after = entry.clone();
        drop(entry);
        if after.status == PayoutStatus::Processing && status_before != PayoutStatus::Processing {
            self.add_deadline(after.estimated_availability, after.id);
        }
        if after.status != status_before {
            self.emit_payout(&after, webhook);
        }
        Ok((after, outcome))
    }

    /// The balance a payout source holds now.
    pub fn source_balance(&self, source: Source) -> Option<Decimal> {
        match source {
            Source::Account(i) => Some(self.balance(i as usize)),
            Source::Wallet(w, _) => self.wallets.get(&w).map(|w| w.balance),
        }
    }

    /// Runs `f` on a source's balance under its lock (an account's, or the wallet's entry).
    fn with_balance<R>(&self, source: Source, f: impl FnOnce(&mut Decimal) -> R) -> Option<R> {
        match source {
            Source::Account(i) => {
                let mut b = self.balances[i as usize]
                    .write()
                    .unwrap_or_else(|p| p.into_inner());
                Some(f(&mut b))
            }
            Source::Wallet(w, _) => self.wallets.get_mut(&w).map(|mut w| f(&mut w.balance)),
        }
    }

    fn add_deadline(&self, at: Millis, id: Uuid) {
        self.deadlines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((at, id));
        // After the insertion: a sweep that resets `registered` then sees it in the list.
        self.schedule(at);
    }

    /// Makes sure the store's sweep visits this tenant by `at` (on this tenant's clock).
    fn schedule(&self, at: Millis) {
        if self.registered.fetch_min(at, Ordering::SeqCst) <= at {
            return; // something at or before `at` is queued already
        }
        self.due
            .register(&self.key, super::sweep::wall_moment(at, self.now()));
    }

    /// Registers this tenant's earliest pending deadline (payout or scheduled load) afresh.
    pub fn reschedule(&self) {
        let first = |d: &Mutex<BTreeSet<(Millis, Uuid)>>| {
            d.lock()
                .unwrap_or_else(|p| p.into_inner())
                .first()
                .map(|(at, _)| *at)
        };
        let next = [first(&self.deadlines), first(&self.load_deadlines)]
            .into_iter()
            .flatten()
            .min();
        if let Some(at) = next {
            self.schedule(at);
        }
    }

    /// Persists the expiries, settlements and scheduled loads that are due on this tenant's
    /// clock, emitting a webhook for each (from the store's sweep, and after the clock is
    /// advanced), then registers the next deadline with the store. Each deadline is taken off
    /// its list before it is handled: if handling one panics, that one is not retried.
    pub fn sweep(&self) {
        // Whatever the queue held for this tenant is being handled now.
        self.registered.store(Millis::MAX, Ordering::SeqCst);
        #[cfg(test)]
        if self.panic_in_sweep.load(Ordering::SeqCst) {
            panic!("a test made this tenant's sweep panic");
        }
        let now = self.now();
        self.run_due_loads(now);
        while let Some(id) = pop_due(&self.deadlines, now) {
            let changed = self
                .payouts
                .get_mut(&id)
                .and_then(|mut p| p.refresh(now).then(|| p.clone()));
            if let Some(p) = changed {
                self.emit_payout(&p, Directives::default());
            }
        }
        self.reschedule();
    }

    /// How many objects of a capped kind this tenant holds.
    pub fn count(&self, kind: Kind) -> usize {
        self.counts.get(kind)
    }

    /// Publishes the `payout` event for a payout's current status (if anyone listens).
    fn emit_payout(&self, p: &Payout, directives: Directives) {
        if self.events.listening() {
            self.events.publish(Event::Payout(p), directives);
        }
    }
}

/// Takes the earliest entry due at `now` off a deadline list.
fn pop_due(list: &Mutex<BTreeSet<(Millis, Uuid)>>, now: Millis) -> Option<Uuid> {
    let mut d = list.lock().unwrap_or_else(|p| p.into_inner());
    if d.first().is_some_and(|(at, _)| *at <= now) {
        d.pop_first().map(|(_, id)| id)
    } else {
        None
    }
}
