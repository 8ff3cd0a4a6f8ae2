//! A tenant's payouts: initiate (quote, NSF, duplicate), commit (the decision of
//! `domain::payout::decide_commit`, the debit exactly once), reads, and the `payout` event.
//! Lock order: a payout entry, then a balance.

use dashmap::mapref::entry::Entry;
use rust_decimal::Decimal;
use std::sync::Arc;

use crate::domain::error::{SimError, SimResult};
use crate::domain::event::{Directives, Event};
use crate::domain::payout::{
    self, CommitContext, CommitOutcome, ForcedOutcome, Magic, Payout, PayoutStatus, Quote, Source,
};
use crate::domain::token::{self};

use super::caps::Kind;
use super::*;
use crate::domain::token::{PayoutId, UserId};

impl Tenant {
    // ----- payouts --------------------------------------------------------------------------

    /// Quotes and stores a new PENDING payout — or answers NSF/DUPLICATE without storing one.
    /// `rate_override` (from a scenario) replaces the catalog's rate in the quote.
    pub fn initiate_payout(
        &self,
        user: UserId,
        req: PayoutRequest,
        rate_override: Option<Decimal>,
        webhook: Directives,
    ) -> SimResult<InitiateOutcome> {
        crate::state::headroom::keep();
        self.initiate_payout_as(user, None, req, rate_override, webhook)
    }

    /// [`Tenant::initiate_payout`], the payout's token given (a seeded payout's) or drawn.
    pub(super) fn initiate_payout_as(
        &self,
        user: UserId,
        given: Option<PayoutId>,
        req: PayoutRequest,
        rate_override: Option<Decimal>,
        webhook: Directives,
    ) -> SimResult<InitiateOutcome> {
        if !self.user_exists(user) {
            return Err(SimError::not_found(format!("user {}", user.token())));
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
        let sp = catalog.precision_of(source_currency);
        let dp = catalog.precision_of(&dest.code);
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
        let id = given.unwrap_or_else(|| PayoutId(self.tokens.next()));
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
            Some(ctid) => match self.transfer_ids.entry(Hashed::new(ctid.as_str().into())) {
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
        let p = Arc::new(p);
        self.payouts.insert(id, Arc::clone(&p));
        if let Some(mut u) = self.users.get_mut(&user) {
            u.payouts.push(id);
        }
        self.add_deadline(p.expiration, id);
        self.emit_payout(&p, webhook);
        Ok(InitiateOutcome::Created(p))
    }

    /// Reads a user's payout in place (no copy, no refresh): for facts that never change, such
    /// as its client_transfer_id or requested amount.
    pub fn read_payout<R>(
        &self,
        user: UserId,
        id: PayoutId,
        f: impl FnOnce(&Payout) -> R,
    ) -> Option<R> {
        self.payouts
            .get(&id)
            .filter(|p| p.user == user)
            .map(|p| f(&p))
    }

    /// One payout of a user, as of now.
    pub fn payout(&self, user: UserId, id: PayoutId) -> Option<Payout> {
        let mut p = self
            .payouts
            .get(&id)
            .filter(|p| p.user == user)
            .map(|p| Payout::clone(&p))?;
        p.refresh(self.now());
        Some(p)
    }

    /// A user's payouts, oldest first, as of now.
    pub fn user_payouts(&self, user: UserId) -> Option<Vec<Payout>> {
        let ids = self.users.get(&user)?.payouts.clone();
        let now = self.now();
        Some(
            ids.iter()
                .filter_map(|id| self.payouts.get(id).map(|p| Payout::clone(&p)))
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
                let mut p = Payout::clone(&p);
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
        user: UserId,
        id: PayoutId,
        forced: Option<ForcedOutcome>,
        extra_requirements: &[usize],
        webhook: Directives,
    ) -> SimResult<(Arc<Payout>, CommitOutcome)> {
        let not_found = || {
            SimError::not_found(format!(
                "payout {:?} was not found for this user",
                id.token()
            ))
        };
        let mut stored = self.payouts.get_mut(&id).ok_or_else(not_found)?;
        if stored.user != user {
            return Err(not_found());
        }
        // Copied only if an answer still holds the stored version.
        let entry = Arc::make_mut(&mut stored);
        let now = self.now();
        let status_before = entry.status;
        entry.refresh(now);
        let key: AttrKey = (user, entry.payer, entry.destination_currency);
        if entry.status == PayoutStatus::Pending {
            for &r in extra_requirements {
                self.add_requirement(key, r);
            }
        }
        let missing = self.missing_attributes(key);
        let payer = &self.catalog.payers[entry.payer as usize];
        let delivery = payer.delivery_type;
        let source = entry.source;
        let outcome = self
            .with_balance(source, |balance| {
                let outcome = payout::decide_commit(
                    entry,
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
                entry.attr_set = self.attributes.get(&key).map(|s| s.id);
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
        let after = Arc::clone(&stored);
        drop(stored);
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
                let mut accounts = self.balances.write();
                Some(f(&mut accounts[i as usize]))
            }
            Source::Wallet(w, _) => self.wallets.get_mut(&w).map(|mut w| f(&mut w.balance)),
        }
    }

    /// Publishes the `payout` event for a payout's current status (if anyone listens).
    pub(super) fn emit_payout(&self, p: &Payout, directives: Directives) {
        if self.events.listening() {
            self.events.publish(Event::Payout(p), directives);
        }
    }
}
