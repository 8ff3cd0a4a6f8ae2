//! A tenant's loads (money put on a user's wallet, now or scheduled) and the autopay rules that
//! pay a share of each load out. Lock order, as everywhere: a client account's balance before a
//! wallet's entry; never the other way round.

use rust_decimal::Decimal;
use uuid::Uuid;

use super::caps::Kind;
use super::Tenant;
use crate::clock::Millis;
use crate::domain::error::{SimError, SimResult};
use crate::domain::event::{Directives, Event};
use crate::domain::payout::{AmountRequest, PayoutRequest, Source};
use crate::domain::token;
use crate::domain::token::UserId;
use crate::domain::wallet::{self, AutopayRule, AutopayRuleBody, Load, LoadRequest, LoadStatus};
use crate::domain::Problems;

impl Tenant {
    /// Credits a user's wallet from a client account: now (COMPLETED, or CANCELLED when the
    /// account is short) or at `time_to_process` (SCHEDULED until the test clock gets there).
    pub fn load(&self, user: UserId, req: LoadRequest, webhook: Directives) -> SimResult<Load> {
        let currency = self.catalog.funding_accounts[req.funding]
            .currency
            .to_string();
        let no_user = || SimError::not_found(format!("user {}", user.token()));
        if !self.user_exists(user) {
            return Err(no_user());
        }
        // Everything that could refuse the load is checked before anything changes (a wallet
        // opened included): the autopay shares it will pay out must be computable, the
        // client_load_id new, the tenant must have room.
        if let Some(w) = self.existing_funds_wallet(user, &currency) {
            self.autopay_shares(w, req.amount)?;
        }
        self.counts.take(Kind::Loads)?;
        let id = self.tokens.next();
        match self.load_ids.entry(req.client_load_id.as_str().into()) {
            dashmap::mapref::entry::Entry::Occupied(_) => {
                self.counts.give_back(Kind::Loads);
                return Err(SimError::invalid(format!(
                    "client_load_id {:?} was already used",
                    req.client_load_id
                )));
            }
            dashmap::mapref::entry::Entry::Vacant(v) => {
                v.insert(id);
            }
        }
        let Some(wallet) = self.funds_wallet(user, &currency) else {
            // Users are never removed: unreachable, but undone all the same.
            self.load_ids.remove(req.client_load_id.as_str());
            self.counts.give_back(Kind::Loads);
            return Err(no_user());
        };
        let now = self.now();
        let mut load = Load {
            id,
            user,
            client_load_id: req.client_load_id,
            funding: req.funding,
            wallet,
            amount: req.amount,
            notes: req.notes,
            status: LoadStatus::Scheduled,
            status_reason: None,
            time_of_load: req.time_to_process.unwrap_or(now),
            created: now,
            seq: self.next_seq(),
            metadata: req.metadata,
            notify_user: req.notify_user,
        };
        if req.time_to_process.is_none() {
            self.run_load(&mut load);
        }
        self.loads.insert(id, load.clone());
        if let Some(mut u) = self.users.get_mut(&user) {
            u.loads.push(id);
        }
        if load.status == LoadStatus::Scheduled {
            self.load_deadlines
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert((load.time_of_load, id));
            self.schedule(load.time_of_load);
        }
        self.emit_load(&load, webhook);
        if load.status == LoadStatus::Completed {
            self.run_autopay(&load);
        }
        Ok(load)
    }

    /// Moves a load's money: client account → wallet, atomically (account, then wallet).
    fn run_load(&self, load: &mut Load) {
        let mut accounts = self.balances.write();
        let account = &mut accounts[load.funding];
        if *account < load.amount {
            load.status = LoadStatus::Cancelled;
            load.status_reason = Some("Insufficient funds in the source account".into());
            return;
        }
        match self.wallets.get_mut(&load.wallet) {
            // checked: a wallet filled to rust_decimal's limit refuses more instead of panicking.
            Some(mut w) if w.active && w.balance.checked_add(load.amount).is_some() => {
                *account -= load.amount;
                w.balance += load.amount;
                load.status = LoadStatus::Completed;
            }
            _ => {
                load.status = LoadStatus::Cancelled;
                load.status_reason = Some("The wallet is not active".into());
            }
        }
    }

    /// Runs the scheduled loads whose time has come (from the sweep).
    pub(super) fn run_due_loads(&self, now: Millis) {
        while let Some(id) = super::deadlines::pop_due(&self.load_deadlines, now) {
            let ran = self.loads.get_mut(&id).and_then(|mut l| {
                (l.status == LoadStatus::Scheduled).then(|| {
                    self.run_load(&mut l);
                    l.clone()
                })
            });
            if let Some(l) = ran {
                self.emit_load(&l, Directives::default());
                if l.status == LoadStatus::Completed {
                    self.run_autopay(&l);
                }
            }
        }
    }

    pub fn user_loads(&self, user: UserId) -> Option<Vec<Load>> {
        let ids = self.users.get(&user)?.loads.clone();
        Some(
            ids.iter()
                .filter_map(|id| self.loads.get(id).map(|l| l.clone()))
                .collect(),
        )
    }

    pub fn user_load(&self, user: UserId, text: &str) -> Option<Load> {
        let id = token::parse(text, wallet::LOAD)?;
        self.loads
            .get(&id)
            .filter(|l| l.user == user)
            .map(|l| l.clone())
    }

    /// Reverses a load: a scheduled one is cancelled; a completed one takes its amount back from
    /// the wallet to the client account (refused if the wallet no longer holds it).
    pub fn cancel_load(&self, user: UserId, text: &str) -> SimResult<Load> {
        let not_found =
            || SimError::not_found(format!("load {text:?} was not found for this user"));
        let id = token::parse(text, wallet::LOAD).ok_or_else(not_found)?;
        let mut load = self
            .loads
            .get_mut(&id)
            .filter(|l| l.user == user)
            .ok_or_else(not_found)?;
        match load.status {
            LoadStatus::Scheduled => {
                load.status = LoadStatus::Cancelled;
                load.status_reason = Some("Cancelled by the client".into());
            }
            LoadStatus::Completed => {
                let mut accounts = self.balances.write();
                let account = &mut accounts[load.funding];
                let mut w = self
                    .wallets
                    .get_mut(&load.wallet)
                    .ok_or_else(|| SimError::invalid("the load's wallet no longer exists"))?;
                if account.checked_add(load.amount).is_none() {
                    return Err(SimError::invalid("the client account cannot hold more"));
                }
                if w.balance < load.amount {
                    return Err(SimError::invalid(format!(
                        "the wallet holds {} {}, less than the load's {}: it cannot be reversed",
                        w.balance.normalize(),
                        w.currency,
                        load.amount.normalize()
                    )));
                }
                w.balance -= load.amount;
                *account += load.amount;
                load.status = LoadStatus::Cancelled;
                load.status_reason = Some("Reversed by the client".into());
            }
            LoadStatus::Cancelled => {
                return Err(SimError::invalid("the load is already cancelled"));
            }
        }
        let l = load.clone();
        drop(load);
        self.emit_load(&l, Directives::default());
        Ok(l)
    }

    fn emit_load(&self, l: &Load, directives: Directives) {
        if self.events.listening() {
            self.events.publish(Event::Load(l), directives);
        }
    }

    /// Each autopay rule of a wallet with its share of a load of `amount` (amount × percentage
    /// ÷ 100, rounded down to the currency's precision); a 400 if a share is not computable.
    fn autopay_shares(
        &self,
        wallet: Uuid,
        amount: Decimal,
    ) -> SimResult<Vec<(AutopayRule, Decimal)>> {
        let Some(w) = self.wallets.get(&wallet).map(|w| w.clone()) else {
            return Ok(Vec::new());
        };
        let precision = self.catalog.precision_of(&w.currency);
        w.autopay
            .into_iter()
            .map(|rule| {
                let share = amount
                    .checked_mul(rule.percentage)
                    .and_then(|x| x.checked_div(Decimal::ONE_HUNDRED))
                    .ok_or_else(|| {
                        SimError::invalid(
                            "amount is too large to split among the wallet's autopay rules",
                        )
                    })?
                    .round_dp_with_strategy(precision, rust_decimal::RoundingStrategy::ToZero);
                Ok((rule, share))
            })
            .collect()
    }

    /// Pays out each autopay rule's share of a completed load from the wallet (share = amount +
    /// fee). A share that cannot go (too small, attributes missing, …) simply does not.
    fn run_autopay(&self, load: &Load) {
        let Some(currency) = self.wallets.get(&load.wallet).map(|w| w.currency.clone()) else {
            return;
        };
        let Some(ci) = self
            .catalog
            .currencies
            .iter()
            .position(|c| c.code == currency)
        else {
            return;
        };
        let Ok(shares) = self.autopay_shares(load.wallet, load.amount) else {
            return;
        };
        for (rule, share) in shares {
            if share <= Decimal::ZERO {
                continue;
            }
            let req = PayoutRequest {
                source: Source::Wallet(load.wallet, ci as u16),
                payer: rule.payer,
                destination_currency: rule.destination_currency,
                amounts: AmountRequest {
                    source_amount: None,
                    destination_amount: None,
                    limit: Some(share),
                },
                client_transfer_id: None,
                metadata: None,
                attr_set_token: None,
                notify_user: false,
                auto_commit: true,
            };
            if let Ok(super::InitiateOutcome::Created(p)) =
                self.initiate_payout(load.user, req, None, Directives::default())
            {
                let _ = self.commit_payout(load.user, p.id, None, &[], Directives::default());
            }
        }
    }

    // ----- spend-backs ---------------------------------------------------------------------------

    pub fn add_autopay(
        &self,
        user: UserId,
        wallet_token: &str,
        body: AutopayRuleBody,
    ) -> SimResult<AutopayRule> {
        let w = self.wallet(user, wallet_token).ok_or_else(|| {
            SimError::not_found(format!(
                "wallet {wallet_token:?} was not found for this user"
            ))
        })?;
        let mut p = Problems::new();
        let destination = p.required("destination_token", body.destination_token, 100);
        let payer = if destination.is_empty() {
            None
        } else {
            let d = self.catalog.payer(&destination);
            if d.is_none() {
                p.push(format!(
                    "destination_token {destination:?} is not a known destination"
                ));
            }
            d
        };
        let percentage = match body.percentage.filter(|r| r.get() != "null") {
            None => Decimal::ONE_HUNDRED,
            Some(raw) => match crate::domain::money::decimal_from_json_text(raw.get(), false) {
                Ok(v) if v > Decimal::ZERO && v <= Decimal::ONE_HUNDRED => v.normalize(),
                _ => {
                    p.push("percentage must be a number above 0 and at most 100");
                    Decimal::ONE_HUNDRED
                }
            },
        };
        let mut dest_ci = None;
        if let Some(pi) = payer {
            let payer = &self.catalog.payers[pi];
            if payer.pricing_for(&w.currency).is_none() {
                p.push(format!(
                    "this destination does not accept {} (the wallet's currency)",
                    w.currency
                ));
            }
            dest_ci = payer
                .currencies
                .iter()
                .position(|c| c.code == w.currency)
                .or(Some(0));
        }
        let attr_set_token = body.attr_set_token.filter(|t| !t.is_empty());
        let (Some(payer), Some(destination_currency)) = (payer, dest_ci) else {
            return Err(p
                .finish::<()>("autopay rule", ())
                .err()
                .unwrap_or_else(|| SimError::invalid("invalid autopay rule")));
        };
        p.finish("autopay rule", ())?;
        let mut wallet = self
            .wallets
            .get_mut(&w.id)
            .ok_or_else(|| SimError::not_found("wallet"))?;
        let total = wallet
            .autopay
            .iter()
            .try_fold(percentage, |sum, r| sum.checked_add(r.percentage))
            .unwrap_or(Decimal::MAX);
        if total > Decimal::ONE_HUNDRED {
            return Err(SimError::invalid(format!(
                "the wallet's autopay rules would pay out {}% of each load (at most 100%)",
                total.normalize()
            )));
        }
        self.counts.take(Kind::AutopayRules)?;
        let rule = AutopayRule {
            id: self.tokens.next(),
            payer,
            destination_currency,
            percentage,
            attr_set_token,
        };
        wallet.autopay.push(rule.clone());
        Ok(rule)
    }

    pub fn autopay_rules(&self, user: UserId, wallet_token: &str) -> SimResult<Vec<AutopayRule>> {
        self.wallet(user, wallet_token)
            .map(|w| w.autopay)
            .ok_or_else(|| {
                SimError::not_found(format!(
                    "wallet {wallet_token:?} was not found for this user"
                ))
            })
    }

    pub fn delete_autopay(
        &self,
        user: UserId,
        wallet_token: &str,
        rule_token: &str,
    ) -> SimResult<()> {
        let w = self.wallet(user, wallet_token).ok_or_else(|| {
            SimError::not_found(format!(
                "wallet {wallet_token:?} was not found for this user"
            ))
        })?;
        let id = token::parse(rule_token, wallet::AUTOPAY).ok_or_else(|| {
            SimError::not_found(format!("autopay rule {rule_token:?} was not found"))
        })?;
        let mut wallet = self
            .wallets
            .get_mut(&w.id)
            .ok_or_else(|| SimError::not_found("wallet"))?;
        let before = wallet.autopay.len();
        wallet.autopay.retain(|r| r.id != id);
        if wallet.autopay.len() == before {
            return Err(SimError::not_found(format!(
                "autopay rule {rule_token:?} was not found"
            )));
        }
        self.counts.give_back(Kind::AutopayRules);
        Ok(())
    }
}
