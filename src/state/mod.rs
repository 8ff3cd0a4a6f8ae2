//! The store of tenants. Every distinct API key is its own sandbox, seeded from the fixtures on
//! first use. Tenants live in a sharded map, so requests of different keys never wait on one lock.

pub mod hash;
pub mod headroom;
pub mod journal;
pub mod persist;
pub mod snapshots;
pub mod sweep;
mod tenant;

use std::cell::RefCell;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use hash::ClientKeyMap;

pub use snapshots::{SnapshotInfo, SnapshotName};
pub use tenant::wallets as tenant_wallets;
pub use tenant::{AttrKey, CatalogRemap, InitiateOutcome, PayoutRequest, Tenant, TenantSnapshot};
pub use tenant::{Seed, SeedAttributes, SeedBalance, SeedError, SeedPayout, SeedUser};

use crate::clock::ClockOrigin;
use crate::domain::catalog::Catalog;
use crate::domain::event::EventSinks;
use crate::limits;

pub struct Store {
    catalog: Arc<Catalog>,
    origin: ClockOrigin,
    seed: Option<u64>,
    /// `Some`: only these keys are accepted (`--api-key`); `None`: any non-empty key.
    allowed_keys: Option<HashSet<String>>,
    tenants: ClientKeyMap<Box<str>, Arc<Tenant>>,
    /// API keys handed out at run time (sub-accounts), accepted even with `--api-key`.
    issued_keys: ClientKeyMap<Box<str>, ()>,
    /// Makes each new tenant's event sink (the webhooks).
    sinks: Arc<dyn EventSinks>,
    /// Tenants held at most (`--max-tenants`).
    max_tenants: usize,
    /// The tenants with a deadline coming, by when (what the 1 s sweep looks at).
    due: Arc<sweep::DueQueue>,
    /// Each API key's named snapshots (`/_sandbox/snapshots`), kept across resets and restores.
    snapshots: ClientKeyMap<Box<str>, snapshots::Named>,
    /// What every new tenant starts with (`seed.json`, `--seed-state`); `None`: an empty tenant,
    /// and nothing per tenant to pay for it.
    seeded: Option<Arc<Seed>>,
    /// `--state-file`: where [`persist`] reads and writes every tenant.
    state_file: Option<std::path::PathBuf>,
    /// One save of the state file at a time.
    save_lock: std::sync::Mutex<()>,
    /// Counts the times a tenant was replaced (reset, restore): a thread's remembered tenant
    /// ([`LAST_TENANT`]) is trusted only while this has not moved.
    replaced: AtomicU64,
}

/// The tenant this thread looked up last: requests of one API key (a test suite's, wrk's) find
/// it without the map's shard lock, a word every request on that key would otherwise write and
/// pass between the runtime's threads. A weak handle: it keeps no dropped tenant alive.
struct LastTenant {
    store: usize,
    replaced: u64,
    key: Box<str>,
    tenant: Weak<Tenant>,
}

thread_local! {
    static LAST_TENANT: RefCell<Option<LastTenant>> = const { RefCell::new(None) };
}

/// Why an API key gets no tenant.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Empty, or not among `--api-key`.
    Key,
    /// Longer than [`limits::MAX_API_KEY_LEN`].
    TooLong,
    /// `--max-tenants` distinct keys already have a sandbox; nobody's is evicted to make room.
    Full(usize),
}

impl Store {
    pub fn new(
        catalog: Arc<Catalog>,
        origin: ClockOrigin,
        seed: Option<u64>,
        allowed_keys: Option<HashSet<String>>,
        sinks: Arc<dyn EventSinks>,
        max_tenants: usize,
    ) -> Self {
        Store {
            catalog,
            origin,
            seed,
            allowed_keys,
            tenants: ClientKeyMap::default(),
            issued_keys: ClientKeyMap::default(),
            sinks,
            max_tenants,
            due: Arc::default(),
            snapshots: ClientKeyMap::default(),
            seeded: None,
            state_file: None,
            save_lock: std::sync::Mutex::new(()),
            replaced: AtomicU64::new(0),
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

    /// The tenant of an API key, created from the fixtures on first use.
    pub fn tenant(&self, key: &str) -> Result<Arc<Tenant>, Refused> {
        if key.is_empty() {
            return Err(Refused::Key);
        }
        if key.len() > limits::MAX_API_KEY_LEN {
            return Err(Refused::TooLong);
        }
        if let Some(allowed) = &self.allowed_keys {
            if !allowed.contains(key) && !self.issued_keys.contains_key(key) {
                return Err(Refused::Key);
            }
        }
        let replaced = self.replaced.load(Ordering::Acquire);
        let me = self as *const Store as usize;
        let remembered = LAST_TENANT.with(|l| {
            let l = l.borrow();
            let last = l.as_ref()?;
            (last.store == me && last.replaced == replaced && *last.key == *key)
                .then(|| last.tenant.upgrade())
                .flatten()
        });
        if let Some(t) = remembered {
            return Ok(t);
        }
        let remember = |t: &Arc<Tenant>| {
            LAST_TENANT.with(|l| {
                *l.borrow_mut() = Some(LastTenant {
                    store: me,
                    replaced,
                    key: key.into(),
                    tenant: Arc::downgrade(t),
                })
            })
        };
        if let Some(t) = self.tenants.get(key) {
            let t = Arc::clone(&t);
            remember(&t);
            return Ok(t);
        }
        // Counted before the insert: under a race of new keys the cap may be passed by a few
        // (one per concurrent creator), never by an unbounded number.
        if self.tenants.len() >= self.max_tenants {
            return Err(Refused::Full(self.max_tenants));
        }
        let t = Arc::clone(
            &self
                .tenants
                .entry(key.into())
                .or_insert_with(|| Arc::new(self.fresh_tenant(key))),
        );
        remember(&t);
        Ok(t)
    }

    /// Accepts a key the sandbox issued (a sub-account's), whatever `--api-key` says.
    pub fn allow_key(&self, key: &str) {
        self.issued_keys.insert(key.into(), ());
    }

    /// Puts a tenant back to the fixtures' initial state (clock too).
    /// Every tenant (in no particular order).
    pub fn all(&self) -> Vec<Arc<Tenant>> {
        self.tenants.iter().map(|t| Arc::clone(t.value())).collect()
    }

    /// The tenant of `key` if it exists (never creates one).
    pub fn existing(&self, key: &str) -> Option<Arc<Tenant>> {
        self.tenants.get(key).map(|t| Arc::clone(&t))
    }

    pub fn reset(&self, key: &str) {
        self.tenants
            .insert(key.into(), Arc::new(self.fresh_tenant(key)));
        self.replaced.fetch_add(1, Ordering::Release);
    }

    /// Every new tenant (and every reset) starts with `seed`, checked beforehand (see
    /// [`Tenant::apply_seed`]).
    pub fn set_seed(&mut self, seed: Option<Seed>) {
        self.seeded = seed.map(Arc::new);
    }

    fn fresh_tenant(&self, key: &str) -> Tenant {
        let Some(seed) = &self.seeded else {
            return Tenant::new(
                Arc::clone(&self.catalog),
                self.origin,
                self.seed,
                key,
                self.sinks.for_tenant(),
                Arc::clone(&self.due),
            );
        };
        // Seeded objects are made as the client would have made them, but announce nothing:
        // the tenant gets its event sink once they exist.
        let mut t = Tenant::new(
            Arc::clone(&self.catalog),
            self.origin,
            self.seed,
            key,
            Arc::new(crate::domain::event::NoEvents),
            Arc::clone(&self.due),
        );
        if let Err(e) = t.apply_seed(seed) {
            // Checked at start-up on the same catalog; only a cap could differ, and none does.
            tracing::error!(entry = %e.entry, reason = %e.reason, "the seed did not apply");
        }
        t.events = self.sinks.for_tenant();
        t
    }
}

#[cfg(test)]
mod tests {
    use super::sweep::test_support::store;
    use super::*;

    #[test]
    fn a_reset_or_restored_tenant_is_never_served_from_a_threads_memory() {
        let s = store();
        let first = s.tenant("k").expect("tenant");
        assert!(Arc::ptr_eq(&first, &s.tenant("k").expect("again")));
        s.reset("k");
        let reset = s.tenant("k").expect("after reset");
        assert!(!Arc::ptr_eq(&first, &reset), "the reset replaced it");
        s.restore("k", &first.snapshot());
        let restored = s.tenant("k").expect("after restore");
        assert!(!Arc::ptr_eq(&reset, &restored), "the restore replaced it");
        // Another store on this thread, same key: its own tenant.
        let other = store();
        assert!(!Arc::ptr_eq(&restored, &other.tenant("k").expect("other")));
        assert!(Arc::ptr_eq(&restored, &s.tenant("k").expect("back")));
    }
}
