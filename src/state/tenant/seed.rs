//! Seeded state (`seed.json` in `--fixtures DIR`, or `--seed-state FILE`): the users, attribute
//! sets, balances and payouts every new tenant — and every reset — starts with.
//!
//! The fixture loader checks the file and turns it into a [`Seed`] of domain values; applying it
//! runs the tenant's own operations (`create_user`, `store_attributes`, `set_balance`,
//! `initiate_payout`, `commit_payout`) with the tokens the file gives, so a seeded object is what
//! the API would have made, and its token is the same in every tenant. The same [`Seed`] is
//! applied once at start-up to a throwaway tenant: whatever the API would refuse (a bad
//! attribute value, a payout short of funds) refuses to start, naming the entry.
//!
//! Each tenant gets its seed applied afresh on its own clock (not copied from a template): a
//! seeded user's `created_on` and a seeded PENDING payout's quote expiry count from the moment
//! the tenant was made, as if the client had made them then.

use rust_decimal::Decimal;
use serde_json::Value;
use uuid::Uuid;

use super::{InitiateOutcome, Tenant};
use crate::domain::attribute::AttrValueBody;
use crate::domain::error::SimError;
use crate::domain::event::Directives;
use crate::domain::payout::{self, CommitOutcome, PayoutRequest};
use crate::domain::token::{PayoutId, UserId};
use crate::domain::user::UserProfile;

/// What every new tenant starts with, in the order it is applied: balances, then users with
/// their attribute sets, then payouts.
#[derive(Clone, Debug, Default)]
pub struct Seed {
    pub balances: Vec<SeedBalance>,
    pub users: Vec<SeedUser>,
    pub payouts: Vec<SeedPayout>,
}

/// A funding account's starting balance, replacing `balances.json`'s.
#[derive(Clone, Debug)]
pub struct SeedBalance {
    /// How the file names this entry (for refusals).
    pub entry: String,
    pub funding: usize,
    pub balance: Decimal,
}

#[derive(Clone, Debug)]
pub struct SeedUser {
    pub entry: String,
    pub id: UserId,
    pub profile: UserProfile,
    pub attributes: Vec<SeedAttributes>,
}

/// The attribute values of (user, destination, currency), as `POST /attribute/…` takes them.
#[derive(Clone, Debug)]
pub struct SeedAttributes {
    pub entry: String,
    /// The attribute set's token (`attr_set_…`).
    pub id: Uuid,
    pub payer: usize,
    /// Index of the currency in the payer's list.
    pub currency: usize,
    /// (attribute token, value as sent).
    pub values: Vec<(String, Value)>,
}

#[derive(Clone, Debug)]
pub struct SeedPayout {
    pub entry: String,
    pub id: PayoutId,
    pub user: UserId,
    pub request: PayoutRequest,
    /// Committed at once (it must succeed), or left PENDING.
    pub commit: bool,
}

/// Why a seed could not be applied: the entry and the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedError {
    pub entry: String,
    pub reason: String,
}

fn refused(entry: &str, reason: impl Into<String>) -> SeedError {
    SeedError {
        entry: entry.to_string(),
        reason: reason.into(),
    }
}

/// A simulation error as a refusal: every problem it lists.
fn sim(entry: &str, e: SimError) -> SeedError {
    refused(
        entry,
        format!("the API would refuse it: {}", e.details().join("; ")),
    )
}

impl Tenant {
    /// Creates the seed's objects in this (new, empty) tenant. Events are published as the
    /// operations publish them: make the tenant with a sink that sends none, so seeded objects
    /// cause no webhooks.
    pub fn apply_seed(&self, seed: &Seed) -> Result<(), SeedError> {
        for b in &seed.balances {
            self.set_balance(b.funding, b.balance);
        }
        for u in &seed.users {
            self.create_user_as(Some(u.id), u.profile.clone())
                .map_err(|e| sim(&u.entry, e))?;
            for a in &u.attributes {
                let values = a
                    .values
                    .iter()
                    .map(|(token, value)| AttrValueBody {
                        token: Some(token.clone()),
                        value: Some(value.clone()),
                    })
                    .collect();
                let key = (u.id, a.payer as u32, a.currency as u16);
                self.store_attributes_as(key, None, Some(a.id), values)
                    .map_err(|e| sim(&a.entry, e))?;
            }
        }
        for p in &seed.payouts {
            let directives = Directives::default();
            let initiated = self
                .initiate_payout_as(p.user, Some(p.id), p.request.clone(), None, directives)
                .map_err(|e| sim(&p.entry, e))?;
            match initiated {
                InitiateOutcome::Created(_) => {}
                InitiateOutcome::InsufficientFunds(x) => {
                    let currency = payout::source_currency_code(&self.catalog, x.source);
                    let available = self.source_balance(x.source).unwrap_or_default();
                    return Err(refused(
                        &p.entry,
                        format!(
                            "insufficient funds (the API would answer payout_token \"NSF\"): source_amount + fee = {} {currency}, the balance then is {available} {currency}",
                            x.debit()
                        ),
                    ));
                }
                InitiateOutcome::Duplicate(_) => {
                    return Err(refused(
                        &p.entry,
                        "client_transfer_id is already used by an earlier payout (the API would answer payout_token \"DUPLICATE\")",
                    ))
                }
            }
            if p.commit {
                let (_, outcome) = self
                    .commit_payout(p.user, p.id, None, &[], directives)
                    .map_err(|e| sim(&p.entry, e))?;
                let why = match outcome {
                    CommitOutcome::Success { .. } => continue,
                    CommitOutcome::Nsf => "nsf: the balance is short of source_amount + fee".into(),
                    CommitOutcome::AddtlAttrReq(labels) => format!(
                        "addtl_attr_req: the user has no valid value for {} (give them in the user's attributes)",
                        labels.join(", ")
                    ),
                    CommitOutcome::ExRateExpired => "ex_rate_expired".into(),
                    CommitOutcome::Duplicate => "already committed".into(),
                    CommitOutcome::Failure(reason) => format!("failure: {reason}"),
                };
                return Err(refused(
                    &p.entry,
                    format!("\"commit\": true, but the commit would answer {why}"),
                ));
            }
        }
        Ok(())
    }
}
