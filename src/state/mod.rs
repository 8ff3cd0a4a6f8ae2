//! The store of tenants. Every distinct API key is its own sandbox, seeded from the fixtures on
//! first use. Tenants live in a sharded map, so requests of different keys never wait on one lock.

pub mod hash;
pub mod journal;
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
        }
    }

    /// Persists due expiries and settlements in every tenant (and emits their webhooks).
    pub fn sweep(&self) {
        let tenants: Vec<Arc<Tenant>> =
            self.tenants.iter().map(|t| Arc::clone(t.value())).collect();
        for t in tenants {
            t.sweep();
        }
    }

    /// The process-wide webhook hub (its pending count is logged at shutdown).
    pub fn webhooks(&self) -> &Arc<crate::webhook::Hub> {
        &self.webhooks
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
        )
    }
}
