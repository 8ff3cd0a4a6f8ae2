//! A tenant's users (unique e-mails, lookups, updates) and their stored attribute sets, with
//! the requirements scenarios added.

use std::sync::Arc;

use dashmap::mapref::entry::Entry;
use uuid::Uuid;

use crate::domain::attribute::{self, AttrSet, AttrValueBody};
use crate::domain::error::{SimError, SimResult};
use crate::domain::token::{self};
use crate::domain::user::{User, UserProfile, UserStatus};

use super::caps::Kind;
use super::*;
use crate::domain::token::UserId;

impl Tenant {
    // ----- users ----------------------------------------------------------------------------

    pub fn create_user(&self, profile: UserProfile) -> SimResult<Arc<User>> {
        crate::state::headroom::keep();
        self.create_user_as(None, profile)
    }

    /// [`Tenant::create_user`], with the token given (a seeded user's) or drawn (`None`).
    pub(super) fn create_user_as(
        &self,
        given: Option<UserId>,
        profile: UserProfile,
    ) -> SimResult<Arc<User>> {
        self.counts.take(Kind::Users)?;
        let id = given.unwrap_or_else(|| UserId(self.tokens.next()));
        match self.emails.entry(Hashed::new(profile.email_key())) {
            Entry::Occupied(_) => {
                self.counts.give_back(Kind::Users);
                return Err(SimError::invalid(format!(
                    "email {:?} is already used by another user",
                    profile.email()
                )));
            }
            Entry::Vacant(v) => {
                v.insert(id);
            }
        }
        let timezone = crate::domain::user::derive_timezone(
            &self.catalog,
            profile.country(),
            profile.state_province(),
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
        self.users.insert(id, Box::new(record));
        Ok(user)
    }

    pub fn user(&self, id: UserId) -> Option<Arc<User>> {
        self.users.get(&id).map(|r| r.user.clone())
    }

    pub fn user_exists(&self, id: UserId) -> bool {
        self.users.contains_key(&id)
    }

    pub fn users(&self) -> Vec<Arc<User>> {
        let mut all: Vec<Arc<User>> = self.users.iter().map(|r| Arc::clone(&r.user)).collect();
        all.sort_by_key(|u| (u.created_on, u.id));
        all
    }

    pub fn update_user(
        &self,
        id: UserId,
        profile: UserProfile,
        status: UserStatus,
    ) -> SimResult<Arc<User>> {
        let mut record = self
            .users
            .get_mut(&id)
            .ok_or_else(|| SimError::not_found(format!("user {}", id.token())))?;
        let old_key = record.user.profile.email_key();
        let new_key = profile.email_key();
        if old_key != new_key {
            match self.emails.entry(Hashed::new(new_key)) {
                Entry::Occupied(_) => {
                    return Err(SimError::invalid(format!(
                        "email {:?} is already used by another user",
                        profile.email()
                    )))
                }
                Entry::Vacant(v) => {
                    v.insert(id);
                }
            }
            self.emails.remove(&Hashed::new(old_key));
        }
        let user = Arc::make_mut(&mut record.user);
        user.timezone = crate::domain::user::derive_timezone(
            &self.catalog,
            profile.country(),
            profile.state_province(),
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
            email.is_none_or(|e| u.profile.email().trim().eq_ignore_ascii_case(e.trim()))
                && first_name.is_none_or(|f| {
                    u.profile
                        .text()
                        .first_name
                        .trim()
                        .eq_ignore_ascii_case(f.trim())
                })
                && internal_user_id.is_none_or(|i| u.profile.internal_user_id() == i)
        };
        if let Some(e) = email {
            let id = *self.emails.get(&Hashed::new(e.trim().to_lowercase()))?;
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

    /// Labels of `key`'s required attributes (the catalog's and any added) without a stored
    /// value, read in place (no copy of the set or of the requirement list).
    pub fn missing_attributes(&self, key: AttrKey) -> Vec<String> {
        let base = &self.catalog.payers[key.1 as usize].currencies[key.2 as usize].requirements;
        let extra = self.extra_requirements.get(&key);
        let extra: &[usize] = extra.as_deref().map_or(&[], Vec::as_slice);
        let set = self.attributes.get(&key);
        let all = base
            .iter()
            .chain(extra.iter().filter(|r| !base.contains(r)))
            .copied();
        attribute::missing(&self.catalog, all, set.as_deref())
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
        self.store_attributes_as(key, attr_set_token, None, values)
    }

    /// [`Tenant::store_attributes`]; a new set gets the token `given` (a seeded set's) or a
    /// drawn one (`None`).
    pub(super) fn store_attributes_as(
        &self,
        key: AttrKey,
        attr_set_token: Option<&str>,
        given: Option<Uuid>,
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
                let id = given.unwrap_or_else(|| self.tokens.next());
                v.insert(AttrSet { id, values: merged });
                Ok(id)
            }
        }
    }
}
