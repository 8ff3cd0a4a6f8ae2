//! The store of tenants. Every distinct API key is its own sandbox, seeded from the fixtures on
//! first use. Tenants live in a sharded map, so requests of different keys never wait on one lock.

pub mod hash;
pub mod journal;
pub mod sweep;
mod tenant;

use std::collections::HashSet;
use std::sync::Arc;

use hash::ClientKeyMap;

pub use tenant::wallets as tenant_wallets;
pub use tenant::{AttrKey, InitiateOutcome, PayoutRequest, Tenant};

use crate::clock::ClockOrigin;
use crate::domain::catalog::Catalog;

pub struct Store {
    catalog: Arc<Catalog>,
    origin: ClockOrigin,
    seed: Option<u64>,
    /// `Some`: only these keys are accepted (`--api-key`); `None`: any non-empty key.
    allowed_keys: Option<HashSet<String>>,
    tenants: ClientKeyMap<Box<str>, Arc<Tenant>>,
    /// API keys handed out at run time (sub-accounts), accepted even with `--api-key`.
    issued_keys: ClientKeyMap<Box<str>, ()>,
    webhooks: Arc<crate::webhook::Hub>,
    /// The tenants with a deadline coming, by when (what the 1 s sweep looks at).
    due: Arc<sweep::DueQueue>,
}

impl Store {
    pub fn new(
        catalog: Arc<Catalog>,
        origin: ClockOrigin,
        seed: Option<u64>,
        allowed_keys: Option<HashSet<String>>,
        webhooks: Arc<crate::webhook::Hub>,
    ) -> Self {
        Store {
            catalog,
            origin,
            seed,
            allowed_keys,
            tenants: ClientKeyMap::default(),
            issued_keys: ClientKeyMap::default(),
            webhooks,
            due: Arc::default(),
        }
    }

    /// Persists due expiries, settlements and scheduled loads (and emits their webhooks) in the
    /// tenants that have one due — only those, each contained: see [`crate::state::sweep`].
    pub fn sweep(&self) {
        sweep::tick(&self.due, std::time::Instant::now(), |key| {
            self.tenants.get(key).map(|t| Arc::clone(t.value()))
        });
    }

    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// The tenant of an API key, created from the fixtures on first use; `None` for a key that
    /// is not accepted.
    pub fn tenant(&self, key: &str) -> Option<Arc<Tenant>> {
        if key.is_empty() {
            return None;
        }
        if let Some(allowed) = &self.allowed_keys {
            if !allowed.contains(key) && !self.issued_keys.contains_key(key) {
                return None;
            }
        }
        if let Some(t) = self.tenants.get(key) {
            return Some(Arc::clone(&t));
        }
        let entry = self
            .tenants
            .entry(key.into())
            .or_insert_with(|| Arc::new(self.fresh_tenant(key)));
        Some(Arc::clone(&entry))
    }

    /// Accepts a key the sandbox issued (a sub-account's), whatever `--api-key` says.
    pub fn allow_key(&self, key: &str) {
        self.issued_keys.insert(key.into(), ());
    }

    /// Puts a tenant back to the fixtures' initial state (clock too).
    pub fn reset(&self, key: &str) {
        self.tenants
            .insert(key.into(), Arc::new(self.fresh_tenant(key)));
    }

    fn fresh_tenant(&self, key: &str) -> Tenant {
        Tenant::new(
            Arc::clone(&self.catalog),
            self.origin,
            self.seed,
            key,
            crate::webhook::TenantWebhooks::new(Arc::clone(&self.webhooks)),
            Arc::clone(&self.due),
        )
    }
}
