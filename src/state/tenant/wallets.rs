//! A tenant's wallets and the money that moves through them: loads, spend-backs, autopay,
//! cards and KYC sessions. Lock order, as everywhere: a client account's balance before a
//! wallet's entry; never the other way round.

use rust_decimal::Decimal;
use serde_json::value::RawValue;
use uuid::Uuid;

use super::caps::Kind;
use super::{Tenant, UserRecord};
use crate::clock::Millis;
use crate::domain::catalog::Catalog;
use crate::domain::error::{SimError, SimResult};
use crate::domain::event::{Directives, Event};
use crate::domain::money::parse_request_amount;
use crate::domain::payout::{AmountRequest, PayoutRequest, Source};
use crate::domain::token;
use crate::domain::user::KycSession;
use crate::domain::wallet::{
    self, metadata_object, AutopayRule, AutopayRuleBody, CardStatus, Load, LoadStatus, LoadTxnBody,
    SpendBack, SpendBackTxnBody, Wallet, WalletKind,
};
use crate::domain::Problems;

/// A load request, parsed.
pub struct LoadRequest {
    pub client_load_id: String,
    pub funding: usize,
    pub amount: Decimal,
    pub notes: String,
    pub notify_user: bool,
    pub time_to_process: Option<Millis>,
    pub metadata: Option<Box<RawValue>>,
}

/// A spend-back request, parsed.
pub struct SpendBackRequest {
    pub client_spendback_id: String,
    pub source_token: String,
    pub currency: String,
    pub amount: Decimal,
    pub notes: String,
    pub metadata: Option<Box<RawValue>>,
}

pub fn parse_load(catalog: &Catalog, body: LoadTxnBody, now: Millis) -> SimResult<LoadRequest> {
    let mut p = Problems::new();
    let client_load_id = p.required("client_load_id", body.client_load_id, 50);
    let source_token = p.required("source_token", body.source_token, 100);
    let funding = if source_token.is_empty() {
        None
    } else {
        let f = catalog.funding_account(&source_token);
        if f.is_none() {
            p.push(format!("source_token {source_token:?} is not one of your funding accounts (see GET /account/balance)"));
        }
        f
    };
    let currency = funding.map(|f| catalog.funding_accounts[f].currency.to_string());
    if let (Some(given), Some(actual)) = (body.source_currency_code.as_deref(), currency.as_deref())
    {
        if !given.is_empty() && given != actual {
            p.push(format!("source_currency_code {given:?} does not match the currency of source_token ({actual})"));
        }
    }
    let precision = currency
        .as_deref()
        .and_then(|c| catalog.precision(c))
        .unwrap_or(2);
    let amount = match body.amount.filter(|r| r.get() != "null") {
        None => {
            p.push("amount is required");
            None
        }
        Some(raw) => match parse_request_amount("amount", &raw, precision) {
            Ok(a) => Some(a),
            Err(e) => {
                p.push(e);
                None
            }
        },
    };
    let notes = p.optional("notes", body.notes, 255).unwrap_or_default();
    let time_to_process = match body.time_to_process.filter(|t| !t.trim().is_empty()) {
        None => None,
        Some(t) => match chrono::DateTime::parse_from_rfc3339(t.trim()) {
            Ok(at) => Some(at.timestamp_millis()).filter(|at| *at > now),
            Err(_) => {
                p.push(format!("time_to_process must be an ISO 8601 UTC time such as 2026-12-01T10:00:00Z, not {t:?}"));
                None
            }
        },
    };
    let metadata = metadata_object(body.metadata, &mut p);
    let (Some(funding), Some(amount)) = (funding, amount) else {
        return Err(p
            .finish::<()>("load", ())
            .err()
            .unwrap_or_else(|| SimError::invalid("invalid load")));
    };
    p.finish(
        "load",
        LoadRequest {
            client_load_id,
            funding,
            amount,
            notes,
            notify_user: body.notify_user.unwrap_or(true),
            time_to_process,
            metadata,
        },
    )
}

pub fn parse_spendback(catalog: &Catalog, body: SpendBackTxnBody) -> SimResult<SpendBackRequest> {
    let mut p = Problems::new();
    let client_spendback_id = p.required("client_spendback_id", body.client_spendback_id, 50);
    let source_token = p.required("source_token", body.source_token, 100);
    let currency = p
        .optional("source_currency_code", body.source_currency_code, 4)
        .unwrap_or_else(|| "USD".into());
    let precision = catalog.precision(&currency);
    if precision.is_none() {
        p.push(format!(
            "source_currency_code {currency:?} is not a supported currency"
        ));
    }
    let amount = match body.amount.filter(|r| r.get() != "null") {
        None => {
            p.push("amount is required");
            None
        }
        Some(raw) => match parse_request_amount("amount", &raw, precision.unwrap_or(2)) {
            Ok(a) => Some(a),
            Err(e) => {
                p.push(e);
                None
            }
        },
    };
    let notes = p.optional("notes", body.notes, 255).unwrap_or_default();
    let metadata = metadata_object(body.metadata, &mut p);
    p.finish(
        "spend-back",
        SpendBackRequest {
            client_spendback_id,
            source_token,
            currency,
            amount: amount.unwrap_or_default(),
            notes,
            metadata,
        },
    )
}

impl Tenant {
    /// Opens a user's default wallets (USD funds and a MassPay card wallet) the first time
    /// anything asks for the user's wallets, dated as the user. Creating a user stays cheap (no
    /// wallets, card or tokens for users who never touch one), and what a client sees is the same
    /// as if they had been opened with the user.
    fn open_default_wallets(&self, user: Uuid, record: &mut UserRecord) {
        if record.default_wallets_open {
            return;
        }
        record.default_wallets_open = true;
        let now = record.user.created_on;
        for kind in [WalletKind::UserFunds, WalletKind::MasspayCard] {
            let id = self.tokens.next();
            let card = (kind == WalletKind::MasspayCard)
                .then(|| wallet::new_card(self.tokens.next(), crate::clock::date(now)));
            self.wallets.insert(
                id,
                Wallet {
                    id,
                    user,
                    currency: "USD".into(),
                    kind,
                    balance: Decimal::ZERO,
                    active: true,
                    card,
                    autopay: Vec::new(),
                    created: now,
                },
            );
            record.wallets.push(id);
        }
    }

    pub fn user_wallets(&self, user: Uuid) -> Option<Vec<Wallet>> {
        let open = self.users.get(&user)?.default_wallets_open;
        if !open {
            let mut record = self.users.get_mut(&user)?;
            self.open_default_wallets(user, &mut record);
        }
        let ids = self.users.get(&user)?.wallets.clone();
        Some(
            ids.iter()
                .filter_map(|id| self.wallets.get(id).map(|w| w.clone()))
                .collect(),
        )
    }

    /// A wallet of this user by token; unknown or someone else's → `None`.
    pub fn wallet(&self, user: Uuid, text: &str) -> Option<Wallet> {
        let id = token::parse(text, wallet::WALLET)?;
        self.wallets
            .get(&id)
            .filter(|w| w.user == user)
            .map(|w| w.clone())
    }

    /// A user's wallet as a payout source: (id, index of its currency in the catalog).
    pub fn wallet_source(&self, user: Uuid, text: &str) -> Option<(Uuid, usize)> {
        let w = self.wallet(user, text)?;
        let ci = self
            .catalog
            .currencies
            .iter()
            .position(|c| c.code == w.currency)?;
        Some((w.id, ci))
    }

    /// The user's funds wallet in `currency` if it is open already (opens nothing).
    fn existing_funds_wallet(&self, user: Uuid, currency: &str) -> Option<Uuid> {
        let record = self.users.get(&user)?;
        record.wallets.iter().copied().find(|id| {
            self.wallets
                .get(id)
                .is_some_and(|w| w.kind == WalletKind::UserFunds && &*w.currency == currency)
        })
    }

    /// The user's funds wallet in `currency`, opened on first use.
    fn funds_wallet(&self, user: Uuid, currency: &str) -> Option<Uuid> {
        let mut record = self.users.get_mut(&user)?;
        self.open_default_wallets(user, &mut record);
        for id in &record.wallets {
            if let Some(w) = self.wallets.get(id) {
                if w.kind == WalletKind::UserFunds && &*w.currency == currency {
                    return Some(w.id);
                }
            }
        }
        let id = self.tokens.next();
        self.wallets.insert(
            id,
            Wallet {
                id,
                user,
                currency: currency.into(),
                kind: WalletKind::UserFunds,
                balance: Decimal::ZERO,
                active: true,
                card: None,
                autopay: Vec::new(),
                created: self.now(),
            },
        );
        record.wallets.push(id);
        Some(id)
    }

    // ----- loads -------------------------------------------------------------------------------

    /// Credits a user's wallet from a client account: now (COMPLETED, or CANCELLED when the
    /// account is short) or at `time_to_process` (SCHEDULED until the test clock gets there).
    pub fn load(&self, user: Uuid, req: LoadRequest, webhook: Directives) -> SimResult<Load> {
        let currency = self.catalog.funding_accounts[req.funding]
            .currency
            .to_string();
        let no_user = || SimError::not_found(format!("user {}", token::format(token::USER, user)));
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
        let mut account = self.balances[load.funding]
            .write()
            .unwrap_or_else(|p| p.into_inner());
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
        while let Some(id) = super::pop_due(&self.load_deadlines, now) {
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

    pub fn user_loads(&self, user: Uuid) -> Option<Vec<Load>> {
        let ids = self.users.get(&user)?.loads.clone();
        Some(
            ids.iter()
                .filter_map(|id| self.loads.get(id).map(|l| l.clone()))
                .collect(),
        )
    }

    pub fn user_load(&self, user: Uuid, text: &str) -> Option<Load> {
        let id = token::parse(text, wallet::LOAD)?;
        self.loads
            .get(&id)
            .filter(|l| l.user == user)
            .map(|l| l.clone())
    }

    /// Reverses a load: a scheduled one is cancelled; a completed one takes its amount back from
    /// the wallet to the client account (refused if the wallet no longer holds it).
    pub fn cancel_load(&self, user: Uuid, text: &str) -> SimResult<Load> {
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
                let mut account = self.balances[load.funding]
                    .write()
                    .unwrap_or_else(|p| p.into_inner());
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
        let precision = self.catalog.precision(&w.currency).unwrap_or(2);
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

    /// Moves money back from a user's wallet to a client account. `source_token` names either
    /// the user's wallet (credited to the client account in its currency) or the client account
    /// (debited from the user's funds wallet in that currency). A short wallet is a `failure`.
    pub fn spendback(
        &self,
        user: Uuid,
        req: SpendBackRequest,
        webhook: Directives,
    ) -> SimResult<SpendBack> {
        let catalog = &self.catalog;
        // The wallet named, or (for a funding account's token) the user's funds wallet in its
        // currency, opened only once nothing can refuse the spend-back any more.
        let (named_wallet, funding) = if let Some(w) = self.wallet(user, &req.source_token) {
            let f = catalog
                .funding_accounts
                .iter()
                .position(|a| a.currency == w.currency)
                .ok_or_else(|| {
                    SimError::invalid(format!("you have no funding account in {}", w.currency))
                })?;
            (Some(w.id), f)
        } else if let Some(f) = catalog.funding_account(&req.source_token) {
            if !self.user_exists(user) {
                return Err(SimError::not_found("user"));
            }
            (None, f)
        } else {
            return Err(SimError::invalid(format!(
                "source_token {:?} is neither a wallet of this user nor one of your funding accounts",
                req.source_token
            )));
        };
        let currency = &catalog.funding_accounts[funding].currency;
        if **currency != *req.currency {
            return Err(SimError::invalid(format!(
                "source_currency_code {:?} does not match the wallet's currency ({currency})",
                req.currency
            )));
        }
        self.counts.take(Kind::SpendBacks)?;
        let id = self.tokens.next();
        match self
            .spendback_ids
            .entry(req.client_spendback_id.as_str().into())
        {
            dashmap::mapref::entry::Entry::Occupied(_) => {
                self.counts.give_back(Kind::SpendBacks);
                return Err(SimError::invalid(format!(
                    "client_spendback_id {:?} was already used",
                    req.client_spendback_id
                )));
            }
            dashmap::mapref::entry::Entry::Vacant(v) => {
                v.insert(id);
            }
        }
        let wallet_id = match named_wallet {
            Some(w) => w,
            None => match self.funds_wallet(user, currency) {
                Some(w) => w,
                None => {
                    // Users are never removed: unreachable, but undone all the same.
                    self.spendback_ids.remove(req.client_spendback_id.as_str());
                    self.counts.give_back(Kind::SpendBacks);
                    return Err(SimError::not_found("user"));
                }
            },
        };
        let success = {
            let mut account = self.balances[funding]
                .write()
                .unwrap_or_else(|p| p.into_inner());
            match self.wallets.get_mut(&wallet_id) {
                Some(mut w)
                    if w.balance >= req.amount && account.checked_add(req.amount).is_some() =>
                {
                    w.balance -= req.amount;
                    *account += req.amount;
                    true
                }
                _ => false,
            }
        };
        let sb = SpendBack {
            id,
            user,
            client_spendback_id: req.client_spendback_id,
            source_token: req.source_token,
            funding,
            wallet: wallet_id,
            amount: req.amount,
            notes: req.notes,
            success,
            created: self.now(),
            seq: self.next_seq(),
            metadata: req.metadata,
        };
        self.spendbacks.insert(id, sb.clone());
        if let Some(mut u) = self.users.get_mut(&user) {
            u.spendbacks.push(id);
        }
        if self.events.listening() {
            self.events.publish(
                Event::SpendBack {
                    spendback: &sb,
                    success,
                },
                webhook,
            );
        }
        Ok(sb)
    }

    pub fn user_spendbacks(&self, user: Uuid) -> Option<Vec<SpendBack>> {
        let ids = self.users.get(&user)?.spendbacks.clone();
        Some(
            ids.iter()
                .filter_map(|id| self.spendbacks.get(id).map(|s| s.clone()))
                .collect(),
        )
    }

    // ----- autopay and cards ---------------------------------------------------------------------

    pub fn add_autopay(
        &self,
        user: Uuid,
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

    pub fn autopay_rules(&self, user: Uuid, wallet_token: &str) -> SimResult<Vec<AutopayRule>> {
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
        user: Uuid,
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

    /// Changes a card's PIN and/or status (`SUSPEND` → INACTIVE, `UNSUSPEND` → ACTIVE, `CLOSE`
    /// → CLOSED, for good).
    pub fn update_card(
        &self,
        user: Uuid,
        wallet_token: &str,
        pin: Option<&str>,
        status: Option<&str>,
    ) -> SimResult<Wallet> {
        let w = self.wallet(user, wallet_token).ok_or_else(|| {
            SimError::not_found(format!(
                "wallet {wallet_token:?} was not found for this user"
            ))
        })?;
        let mut p = Problems::new();
        if let Some(pin) = pin {
            if pin.len() != 4 || !pin.bytes().all(|b| b.is_ascii_digit()) {
                p.push("query parameter pin must be 4 digits");
            }
        }
        let new_status = match status {
            None => None,
            Some("SUSPEND") => Some(CardStatus::Inactive),
            Some("UNSUSPEND") => Some(CardStatus::Active),
            Some("CLOSE") => Some(CardStatus::Closed),
            Some(other) => {
                p.push(format!(
                    "query parameter status must be SUSPEND, UNSUSPEND or CLOSE, not {other:?}"
                ));
                None
            }
        };
        p.finish("card update", ())?;
        let mut wallet = self
            .wallets
            .get_mut(&w.id)
            .ok_or_else(|| SimError::not_found("wallet"))?;
        let Some(card) = wallet.card.as_mut() else {
            return Err(SimError::invalid("this wallet has no MassPay card"));
        };
        if card.status == CardStatus::Closed && (new_status.is_some() || pin.is_some()) {
            return Err(SimError::invalid("the card is closed"));
        }
        if let Some(pin) = pin {
            card.pin = pin.to_string();
        }
        if let Some(s) = new_status {
            card.status = s;
        }
        if card.status == CardStatus::Closed {
            wallet.active = false;
        }
        Ok(wallet.clone())
    }

    // ----- KYC -----------------------------------------------------------------------------------

    pub fn start_kyc(
        &self,
        user: Uuid,
        provider: &'static str,
        status: &'static str,
    ) -> SimResult<KycSession> {
        self.counts.take(Kind::KycSessions)?;
        let session = KycSession {
            provider,
            session_id: self.tokens.next(),
            session_time: self.now(),
            status,
        };
        self.kyc.entry(user).or_default().push(session.clone());
        Ok(session)
    }

    pub fn kyc_sessions(&self, user: Uuid) -> Vec<KycSession> {
        self.kyc.get(&user).map(|s| s.clone()).unwrap_or_default()
    }

    /// Every stored attribute value equal to `value` whose requirement has type `attr_type`:
    /// (user, type, value) — the velocity check.
    pub fn attribute_velocity(&self, attr_type: &str, value: &str) -> Vec<Uuid> {
        let mut users: Vec<Uuid> = self
            .attributes
            .iter()
            .filter(|e| {
                e.value().values.iter().any(|(r, v)| {
                    self.catalog.requirements[*r].attr_type == attr_type && &**v == value
                })
            })
            .map(|e| e.key().0)
            .collect();
        users.sort();
        users.dedup();
        users
    }

    pub fn new_subaccount(&self) -> SimResult<Uuid> {
        self.counts.take(Kind::SubAccounts)?;
        let id = self.tokens.next();
        self.subaccounts.insert(id, Vec::new());
        Ok(id)
    }

    pub fn subaccount_exists(&self, id: Uuid) -> bool {
        self.subaccounts.contains_key(&id)
    }

    /// Adds a beneficial owner to a sub-account; `Ok(None)`: no such sub-account.
    pub fn add_ubo(&self, sub: Uuid) -> SimResult<Option<Uuid>> {
        let Some(mut owners) = self.subaccounts.get_mut(&sub) else {
            return Ok(None);
        };
        self.counts.take(Kind::BeneficialOwners)?;
        let id = self.tokens.next();
        owners.push(id);
        Ok(Some(id))
    }

    pub fn ubo_exists(&self, sub: Uuid, ubo: Uuid) -> bool {
        self.subaccounts.get(&sub).is_some_and(|u| u.contains(&ubo))
    }
}
