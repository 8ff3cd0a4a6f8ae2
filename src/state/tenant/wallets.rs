//! A tenant's wallets, spend-backs and cards (loads and autopay: `loads.rs`; KYC, velocity and
//! sub-accounts: `accounts.rs`). Lock order, as everywhere: a client account's balance before a
//! wallet's entry; never the other way round.

use rust_decimal::Decimal;
use uuid::Uuid;

use super::caps::Kind;
use super::{Tenant, UserRecord};
use crate::domain::error::{SimError, SimResult};
use crate::domain::event::{Directives, Event};
use crate::domain::token;
use crate::domain::token::UserId;
use crate::domain::wallet::{
    self, CardStatus, CardUpdate, SpendBack, SpendBackRequest, Wallet, WalletKind,
};

impl Tenant {
    /// Opens a user's default wallets (USD funds and a MassPay card wallet) the first time
    /// anything asks for the user's wallets, dated as the user. Creating a user stays cheap (no
    /// wallets, card or tokens for users who never touch one), and what a client sees is the same
    /// as if they had been opened with the user.
    fn open_default_wallets(&self, user: UserId, record: &mut UserRecord) {
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

    pub fn user_wallets(&self, user: UserId) -> Option<Vec<Wallet>> {
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
    pub fn wallet(&self, user: UserId, text: &str) -> Option<Wallet> {
        let id = token::parse(text, wallet::WALLET)?;
        self.wallets
            .get(&id)
            .filter(|w| w.user == user)
            .map(|w| w.clone())
    }

    /// A user's wallet as a payout source: (id, index of its currency in the catalog).
    pub fn wallet_source(&self, user: UserId, text: &str) -> Option<(Uuid, usize)> {
        let w = self.wallet(user, text)?;
        let ci = self
            .catalog
            .currencies
            .iter()
            .position(|c| c.code == w.currency)?;
        Some((w.id, ci))
    }

    /// The user's funds wallet in `currency` if it is open already (opens nothing).
    pub(super) fn existing_funds_wallet(&self, user: UserId, currency: &str) -> Option<Uuid> {
        let record = self.users.get(&user)?;
        record.wallets.iter().copied().find(|id| {
            self.wallets
                .get(id)
                .is_some_and(|w| w.kind == WalletKind::UserFunds && &*w.currency == currency)
        })
    }

    /// The user's funds wallet in `currency`, opened on first use.
    pub(super) fn funds_wallet(&self, user: UserId, currency: &str) -> Option<Uuid> {
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

    /// Moves money back from a user's wallet to a client account. `source_token` names either
    /// the user's wallet (credited to the client account in its currency) or the client account
    /// (debited from the user's funds wallet in that currency). A short wallet is a `failure`.
    pub fn spendback(
        &self,
        user: UserId,
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
            let mut accounts = self.balances.write();
            let account = &mut accounts[funding];
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

    pub fn user_spendbacks(&self, user: UserId) -> Option<Vec<SpendBack>> {
        let ids = self.users.get(&user)?.spendbacks.clone();
        Some(
            ids.iter()
                .filter_map(|id| self.spendbacks.get(id).map(|s| s.clone()))
                .collect(),
        )
    }

    // ----- autopay and cards ---------------------------------------------------------------------

    /// Applies a parsed card update (a new PIN and/or status; CLOSE is for good).
    pub fn update_card(
        &self,
        user: UserId,
        wallet_token: &str,
        update: CardUpdate,
    ) -> SimResult<Wallet> {
        let w = self.wallet(user, wallet_token).ok_or_else(|| {
            SimError::not_found(format!(
                "wallet {wallet_token:?} was not found for this user"
            ))
        })?;
        let CardUpdate {
            pin,
            status: new_status,
        } = update;
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
            card.pin = pin;
        }
        if let Some(s) = new_status {
            card.status = s;
        }
        if card.status == CardStatus::Closed {
            wallet.active = false;
        }
        Ok(wallet.clone())
    }
}
