//! Named snapshots of tenants (`/_sandbox/snapshots`): a test suite saves a checkpoint once and
//! restores it before each test instead of replaying its set-up.
//!
//! They are kept per API key beside the tenants, not in them: a reset or a restore leaves a
//! tenant's snapshots alone. Restoring builds a new tenant from the snapshot and swaps it in
//! (as a reset does); the new tenant keeps the old one's event sink (its webhook subscription and
//! delivery log) and its request journal.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Store, Tenant, TenantSnapshot};
use crate::clock::Millis;
use crate::domain::error::{SimError, SimResult};
use crate::limits::{MAX_SNAPSHOTS_PER_TENANT, MAX_SNAPSHOT_NAME_LEN};

/// A tenant's snapshots by name.
pub type Named = BTreeMap<String, Arc<TenantSnapshot>>;

/// A snapshot's name, checked: 1–[`MAX_SNAPSHOT_NAME_LEN`] characters of `[A-Za-z0-9_.-]`
/// (SPEC §6c), one path segment of `/_sandbox/snapshots/{name}` with nothing to escape. Not
/// `.` or `..` (nor any name of dots only): clients and proxies rewrite those segments, so such
/// a snapshot could be saved but never restored or deleted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotName(String);

impl SnapshotName {
    pub fn parse(text: &str) -> SimResult<Self> {
        let ok = !text.is_empty()
            && text.len() <= MAX_SNAPSHOT_NAME_LEN
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
            && text.bytes().any(|b| b != b'.');
        if ok {
            Ok(SnapshotName(text.to_string()))
        } else {
            Err(SimError::invalid(format!(
                "name must be 1 to {MAX_SNAPSHOT_NAME_LEN} characters of [A-Za-z0-9_.-] (letters, digits, _ . -), not dots only"
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What the admin API shows of a snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotInfo {
    pub name: String,
    /// The tenant's test clock when it was taken.
    pub clock: Millis,
    pub users: usize,
    pub payouts: usize,
}

impl SnapshotInfo {
    fn of(name: &str, snap: &TenantSnapshot) -> Self {
        SnapshotInfo {
            name: name.to_string(),
            clock: snap.clock,
            users: snap.users(),
            payouts: snap.payouts(),
        }
    }
}

impl Store {
    /// Saves `tenant`'s whole state as `name` (replacing a snapshot of that name).
    pub fn save_snapshot(&self, tenant: &Tenant, name: &SnapshotName) -> SimResult<SnapshotInfo> {
        let mut named = self.snapshots.entry(tenant.key().into()).or_default();
        if named.len() >= MAX_SNAPSHOTS_PER_TENANT && !named.contains_key(name.as_str()) {
            return Err(SimError::LimitReached(format!(
                "this tenant already keeps {MAX_SNAPSHOTS_PER_TENANT} snapshots, the most one API key may keep: delete one (DELETE /_sandbox/snapshots/{{name}}) or save under an existing name"
            )));
        }
        // Taken under the entry's lock: two saves of one key cannot both pass the cap.
        let snap = tenant.snapshot();
        let info = SnapshotInfo::of(name.as_str(), &snap);
        named.insert(name.as_str().to_string(), Arc::new(snap));
        Ok(info)
    }

    /// Puts the tenant of `key` back to the snapshot `name`.
    pub fn restore_snapshot(&self, key: &str, name: &str) -> SimResult<SnapshotInfo> {
        let snap = self
            .snapshots
            .get(key)
            .and_then(|named| named.get(name).cloned())
            .ok_or_else(|| unknown(name))?;
        self.restore(key, &snap);
        Ok(SnapshotInfo::of(name, &snap))
    }

    /// The snapshots of `key`, by name.
    pub fn snapshots(&self, key: &str) -> Vec<SnapshotInfo> {
        self.snapshots
            .get(key)
            .map(|named| {
                named
                    .iter()
                    .map(|(name, snap)| SnapshotInfo::of(name, snap))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn drop_snapshot(&self, key: &str, name: &str) -> SimResult<()> {
        self.snapshots
            .get_mut(key)
            .and_then(|mut named| named.remove(name))
            .map(|_| ())
            .ok_or_else(|| unknown(name))
    }

    pub fn drop_snapshots(&self, key: &str) {
        self.snapshots.remove(key);
    }

    /// Replaces the tenant of `key` with one holding `snap` (its event sink and journal kept).
    pub fn restore(&self, key: &str, snap: &TenantSnapshot) {
        let old = self.tenants.get(key).map(|t| Arc::clone(t.value()));
        let events = match &old {
            Some(t) => Arc::clone(&t.events),
            None => self.sinks.for_tenant(),
        };
        let tenant = Tenant::from_snapshot(
            Arc::clone(&self.catalog),
            self.origin,
            key,
            events,
            Arc::clone(&self.due),
            snap,
        );
        if let Some(old) = old {
            tenant.journal.copy_from(&old.journal);
        }
        self.tenants.insert(key.into(), Arc::new(tenant));
        self.replaced
            .fetch_add(1, std::sync::atomic::Ordering::Release);
    }
}

fn unknown(name: &str) -> SimError {
    SimError::not_found(format!("snapshot {name:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_1_to_64_of_letters_digits_underscore_dot_dash() {
        let longest = "x".repeat(64);
        for good in [
            "after-onboarding",
            "a",
            longest.as_str(),
            "v1.2_3",
            "A-Z.a_z-0.9",
            ".hidden",
            "a..b",
        ] {
            assert!(SnapshotName::parse(good).is_ok(), "{good:?}");
        }
        let too_long = "x".repeat(65);
        for bad in [
            "",
            "a b",
            "a/b",
            "é",
            too_long.as_str(),
            "tab\t",
            "v1#3",
            "a%2Fb",
            "a+b",
            "~",
            ".",
            "..",
            "...",
        ] {
            assert!(SnapshotName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
