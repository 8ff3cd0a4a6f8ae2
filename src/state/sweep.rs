//! The background sweep's due queue. Settlement, quote expiry and scheduled loads happen with
//! nobody asking: once a second the sweep runs the tenants that have something due — and only
//! those. Each tenant keeps its own deadlines (on its own test clock, which it may advance) and
//! registers here, translated to a moment on the monotonic wall clock, the earliest one it holds;
//! a tick pops the entries that are due and sweeps those tenants. A tick therefore costs
//! O(due tenants · log n), not O(tenants), and a tenant's sweep that panics is logged and
//! contained: the other tenants' sweeps, in this tick and later ones, still run.
//!
//! Translation: a deadline `at` on a tenant's clock is due in `at - now` milliseconds of wall
//! time, as long as that tenant's clock only moves with the wall clock. When it jumps (an admin
//! advance), the advance sweeps the tenant at once, which registers its next deadline afresh. An
//! entry that fires early (the clock was reset, say) costs one sweep that finds nothing due and
//! registers the right moment; one that would fire late never stays: registering an earlier
//! moment replaces it.

use std::collections::{BTreeSet, HashMap};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Tenant;
use crate::clock::Millis;

/// Tenants (by API key) and the moment their next deadline falls due: one entry per tenant at
/// most, the earliest registered.
#[derive(Default)]
pub struct DueQueue {
    inner: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    by_time: BTreeSet<(Instant, Arc<str>)>,
    /// API keys are chosen by clients: std's randomly keyed SipHash.
    by_key: HashMap<Arc<str>, Instant>,
}

impl DueQueue {
    /// The tenant of `key` has a deadline at `at` (wall clock); kept unless an earlier one is
    /// already queued for it.
    pub fn register(&self, key: &Arc<str>, at: Instant) {
        let mut e = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match e.by_key.get(key) {
            Some(&queued) if queued <= at => {}
            Some(&queued) => {
                e.by_time.remove(&(queued, Arc::clone(key)));
                e.by_time.insert((at, Arc::clone(key)));
                e.by_key.insert(Arc::clone(key), at);
            }
            None => {
                e.by_time.insert((at, Arc::clone(key)));
                e.by_key.insert(Arc::clone(key), at);
            }
        }
    }

    /// Removes and returns the tenants whose entry is due at `now`, earliest first.
    pub fn pop_due(&self, now: Instant) -> Vec<Arc<str>> {
        let mut e = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut due = Vec::new();
        while e.by_time.first().is_some_and(|(at, _)| *at <= now) {
            if let Some((_, key)) = e.by_time.pop_first() {
                e.by_key.remove(&key);
                due.push(key);
            }
        }
        due
    }

    /// How many tenants have a deadline queued.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .by_key
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The wall-clock moment a deadline on a tenant clock reading `now` falls due (1 ms late rather
/// than early; far-off deadlines are looked at again daily, which keeps `Instant` arithmetic in
/// range whatever the clock says).
pub fn wall_moment(at: Millis, now: Millis) -> Instant {
    const DAY_MS: u64 = 86_400_000;
    let wait_ms = u64::try_from(at.saturating_sub(now))
        .unwrap_or(0)
        .saturating_add(1)
        .min(DAY_MS);
    let start = Instant::now();
    start
        .checked_add(Duration::from_millis(wait_ms))
        .unwrap_or(start)
}

/// One tick: sweeps every tenant with an entry due at `now` (found through `lookup`; a key whose
/// tenant is gone is dropped), each under `catch_unwind`. Returns how many tenants it swept.
pub fn tick(queue: &DueQueue, now: Instant, lookup: impl Fn(&str) -> Option<Arc<Tenant>>) -> usize {
    let due = queue.pop_due(now);
    let mut swept = 0;
    for key in due {
        if let Some(tenant) = lookup(&key) {
            sweep_contained(&tenant);
            swept += 1;
        }
    }
    swept
}

/// Sweeps one tenant; a panic is logged and goes no further. The deadline that panicked was
/// already taken off the tenant's list (each is taken off before it is handled), so it is not
/// retried; the tenant's other deadlines are registered again.
fn sweep_contained(tenant: &Tenant) {
    let Err(panic) = catch_unwind(AssertUnwindSafe(|| tenant.sweep())) else {
        return;
    };
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into());
    tracing::error!(
        tenant = %tenant.key_hint(),
        panic = %what,
        "sweeping a tenant panicked: the deadline it was handling is dropped, its other deadlines and every other tenant's go on"
    );
    let _ = catch_unwind(AssertUnwindSafe(|| tenant.reschedule()));
}

/// A store on the embedded fixtures and users in it, for the state's unit tests.
#[cfg(test)]
pub(crate) mod test_support {
    use std::sync::Arc;

    use uuid::Uuid;

    use crate::clock::ClockOrigin;
    use crate::domain::user::{parse_profile, UserBody, UserBodyKind};
    use crate::state::{Store, Tenant};

    pub fn store() -> Store {
        let catalog =
            Arc::new(crate::fixtures::load(crate::fixtures::Source::Embedded).expect("fixtures"));
        let sinks = Arc::new(crate::domain::event::NoEvents);
        Store::new(catalog, ClockOrigin::new(None), None, None, sinks, 1000)
    }

    /// Creates a user (a fresh e-mail) and returns its id.
    pub fn user(t: &Tenant) -> crate::domain::token::UserId {
        let body = UserBody {
            internal_user_id: Some("u1".into()),
            country: Some("USA".into()),
            first_name: Some("A".into()),
            last_name: Some("B".into()),
            email: Some(format!("{}@example.com", Uuid::new_v4()).into()),
            ..UserBody::default()
        };
        let today = crate::clock::date(t.now());
        let (profile, _) = parse_profile(body, UserBodyKind::Create, today).expect("profile");
        t.create_user(profile).expect("user").id
    }

    /// A parsed 10 USD → BTC initiate from the USD funding account, with this
    /// client_transfer_id if any.
    pub fn usd_to_btc(
        catalog: &crate::domain::catalog::Catalog,
        client_transfer_id: Option<&str>,
    ) -> crate::state::PayoutRequest {
        let usd = catalog
            .funding_accounts
            .iter()
            .find(|a| &*a.currency == "USD")
            .expect("a USD account");
        let payer = catalog
            .payers
            .iter()
            .find(|p| p.currency("BTC").is_some() && p.pricing_for("USD").is_some())
            .expect("a BTC payer priced in USD");
        let mut body = serde_json::json!({
            "source_token": usd.token, "destination_token": payer.token,
            "destination_currency_code": "BTC", "source_amount": 10,
        });
        if let Some(c) = client_transfer_id {
            body["client_transfer_id"] = c.into();
        }
        let text = body.to_string();
        let body: crate::domain::payout::PayoutTxnBody = serde_json::from_str(&text).expect("body");
        crate::domain::payout::parse_payout_request(catalog, body, None, |_| None).expect("request")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_earliest_moment_per_tenant_and_pops_only_what_is_due() {
        let q = DueQueue::default();
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        let t0 = Instant::now();
        q.register(&a, t0 + Duration::from_secs(10));
        q.register(&a, t0 + Duration::from_secs(5));
        q.register(&a, t0 + Duration::from_secs(20));
        q.register(&b, t0 + Duration::from_secs(7));
        assert_eq!(q.len(), 2);
        assert!(q.pop_due(t0 + Duration::from_secs(4)).is_empty());
        assert_eq!(q.pop_due(t0 + Duration::from_secs(6)), vec![a.clone()]);
        assert_eq!(q.pop_due(t0 + Duration::from_secs(60)), vec![b]);
        assert!(q.is_empty());
    }

    use super::test_support::{store, user};
    use crate::domain::wallet::LoadRequest;
    use crate::domain::wallet::LoadStatus;
    use uuid::Uuid;

    /// A USD load of 10 scheduled `in_ms` ahead on the tenant's clock.
    fn scheduled_load(t: &Tenant, user: crate::domain::token::UserId, in_ms: Millis) -> Uuid {
        let funding = t
            .catalog
            .funding_accounts
            .iter()
            .position(|a| &*a.currency == "USD")
            .expect("USD account");
        let req = LoadRequest {
            client_load_id: Uuid::new_v4().to_string(),
            funding,
            amount: rust_decimal::Decimal::TEN,
            notes: String::new(),
            notify_user: false,
            time_to_process: Some(t.now() + in_ms),
            metadata: None,
        };
        let l = t.load(user, req, Default::default()).expect("load");
        assert_eq!(l.status, LoadStatus::Scheduled);
        l.id
    }

    fn status(t: &Tenant, user: crate::domain::token::UserId, load: Uuid) -> LoadStatus {
        let text = crate::domain::token::format(crate::domain::wallet::LOAD, load);
        t.user_load(user, &text).expect("the load").status
    }

    #[test]
    fn a_tenant_whose_sweep_panics_stops_no_other_tenant() {
        let store = store();
        let (a, b) = (store.tenant("a").unwrap(), store.tenant("b").unwrap());
        let (ua, ub) = (user(&a), user(&b));
        let la = scheduled_load(&a, ua, 20);
        let lb = scheduled_load(&b, ub, 40);
        a.panic_in_sweep
            .store(true, std::sync::atomic::Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(80));
        // Tenant a's sweep panics inside this tick; tenant b's load still runs.
        store.sweep();
        assert_eq!(status(&b, ub, lb), LoadStatus::Completed);
        assert_eq!(status(&a, ua, la), LoadStatus::Scheduled);
        // Tenant a is not forgotten: once its sweep works again, its load runs.
        a.panic_in_sweep
            .store(false, std::sync::atomic::Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(5));
        store.sweep();
        assert_eq!(status(&a, ua, la), LoadStatus::Completed);
        assert!(store.due.is_empty());
    }

    #[test]
    fn a_tick_visits_only_tenants_with_something_due() {
        let store = store();
        for i in 0..500 {
            let t = store.tenant(&format!("idle-{i}")).unwrap();
            user(&t);
        }
        let busy = store.tenant("busy").unwrap();
        let u = user(&busy);
        let soon = scheduled_load(&busy, u, 10);
        let later = scheduled_load(&busy, u, 3_600_000);
        assert_eq!(store.due.len(), 1);
        std::thread::sleep(Duration::from_millis(30));
        let swept = tick(&store.due, Instant::now(), |k| {
            store.tenants.get(k).map(|t| Arc::clone(t.value()))
        });
        assert_eq!(swept, 1);
        assert_eq!(status(&busy, u, soon), LoadStatus::Completed);
        assert_eq!(status(&busy, u, later), LoadStatus::Scheduled);
        // The next deadline is queued again, an hour out: the next tick visits nobody.
        assert_eq!(store.due.len(), 1);
        let swept = tick(&store.due, Instant::now(), |k| {
            store.tenants.get(k).map(|t| Arc::clone(t.value()))
        });
        assert_eq!(swept, 0);
    }

    #[test]
    fn advancing_a_tenant_clock_brings_its_deadlines_forward() {
        let store = store();
        let t = store.tenant("advancer").unwrap();
        let u = user(&t);
        let load = scheduled_load(&t, u, 7_200_000);
        let other = scheduled_load(&t, u, 7_200_000 + 60_000);
        // What the admin advance does: move the clock, sweep the tenant.
        t.clock.advance(7_200).expect("in range");
        t.sweep();
        assert_eq!(status(&t, u, load), LoadStatus::Completed);
        assert_eq!(status(&t, u, other), LoadStatus::Scheduled);
        // The remaining deadline is a minute away now, not two hours: the queue says so.
        let due = store
            .due
            .inner
            .lock()
            .unwrap()
            .by_key
            .get("advancer")
            .copied()
            .unwrap();
        assert!(due <= Instant::now() + Duration::from_secs(61), "{due:?}");
    }

    #[test]
    fn wall_moments_never_overflow() {
        let before = Instant::now();
        let m = wall_moment(Millis::MAX, Millis::MIN);
        assert!(m >= before + Duration::from_secs(86_399));
        let m = wall_moment(Millis::MIN, Millis::MAX);
        assert!(m <= Instant::now() + Duration::from_millis(1));
    }
}
