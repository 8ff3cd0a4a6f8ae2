//! A tenant's deadlines: quote expiries, settlements and scheduled loads, registered with the
//! store's due queue and handled by the sweep (see `state::sweep`).

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Mutex;

use crate::clock::Millis;
use crate::domain::event::Directives;

use super::caps::Kind;
use super::*;
use crate::domain::token::PayoutId;

impl Tenant {
    pub(super) fn add_deadline(&self, at: Millis, id: PayoutId) {
        self.deadlines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((at, id));
        // After the insertion: a sweep that resets `registered` then sees it in the list.
        self.schedule(at);
    }

    /// Makes sure the store's sweep visits this tenant by `at` (on this tenant's clock).
    pub(super) fn schedule(&self, at: Millis) {
        if self.registered.fetch_min(at, Ordering::SeqCst) <= at {
            return; // something at or before `at` is queued already
        }
        self.due
            .register(&self.key, crate::state::sweep::wall_moment(at, self.now()));
    }

    /// Registers this tenant's earliest pending deadline (payout or scheduled load) afresh.
    pub fn reschedule(&self) {
        fn first<T: Ord>(d: &Mutex<BTreeSet<(Millis, T)>>) -> Option<Millis> {
            d.lock()
                .unwrap_or_else(|p| p.into_inner())
                .first()
                .map(|(at, _)| *at)
        }
        let next = [first(&self.deadlines), first(&self.load_deadlines)]
            .into_iter()
            .flatten()
            .min();
        if let Some(at) = next {
            self.schedule(at);
        }
    }

    /// Persists the expiries, settlements and scheduled loads that are due on this tenant's
    /// clock, emitting a webhook for each (from the store's sweep, and after the clock is
    /// advanced), then registers the next deadline with the store. Each deadline is taken off
    /// its list before it is handled: if handling one panics, that one is not retried.
    pub fn sweep(&self) {
        // Whatever the queue held for this tenant is being handled now.
        self.registered.store(Millis::MAX, Ordering::SeqCst);
        #[cfg(test)]
        if self.panic_in_sweep.load(Ordering::SeqCst) {
            panic!("a test made this tenant's sweep panic");
        }
        let now = self.now();
        self.run_due_loads(now);
        // A copy for the event only when someone listens (refresh happens either way).
        let listening = self.events.listening();
        while let Some(id) = pop_due(&self.deadlines, now) {
            let changed = self.payouts.get_mut(&id).and_then(|mut p| {
                let p = Arc::make_mut(&mut p);
                (p.refresh(now) && listening).then(|| Payout::clone(p))
            });
            if let Some(p) = changed {
                self.emit_payout(&p, Directives::default());
            }
        }
        self.reschedule();
    }

    /// How many objects of a capped kind this tenant holds.
    pub fn count(&self, kind: Kind) -> usize {
        self.counts.get(kind)
    }
}

/// Takes the earliest entry due at `now` off a deadline list.
pub(super) fn pop_due<T: Copy + Ord>(
    list: &Mutex<BTreeSet<(Millis, T)>>,
    now: Millis,
) -> Option<T> {
    let mut d = list.lock().unwrap_or_else(|p| p.into_inner());
    if d.first().is_some_and(|(at, _)| *at <= now) {
        d.pop_first().map(|(_, id)| id)
    } else {
        None
    }
}
