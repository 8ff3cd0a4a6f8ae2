//! A counting limit for the request path (requests in flight, bytes of bodies buffered): taking
//! and giving back units costs one atomic operation each while the limit is not reached.
//! tokio's `Semaphore` locks its list of waiters on every release and its owned permits hold a
//! reference count: on a path every request takes, on two threads, those shared words were
//! passed between the cores on every request.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

pub struct Gate {
    cap: usize,
    used: AtomicUsize,
    /// Tasks waiting in [`Gate::take`]; a release wakes them only when there are some.
    waiting: AtomicUsize,
    notify: Notify,
}

/// Units taken from a [`Gate`], given back on drop.
pub struct Pass {
    gate: &'static Gate,
    n: usize,
}

impl Gate {
    pub const fn new(cap: usize) -> Gate {
        Gate {
            cap,
            used: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
            notify: Notify::const_new(),
        }
    }

    /// `n` units now, if they are free (never more than the cap in use).
    pub fn try_take(&'static self, n: usize) -> Option<Pass> {
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            if n > self.cap.saturating_sub(used) {
                return None;
            }
            match self.used.compare_exchange_weak(
                used,
                used + n,
                Ordering::SeqCst,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(Pass { gate: self, n }),
                Err(now) => used = now,
            }
        }
    }

    /// `n` units, waiting until they are free; `None` if `n` is over the cap (never free).
    pub async fn take(&'static self, n: usize) -> Option<Pass> {
        if n > self.cap {
            return None;
        }
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // Registered before looking, so a release between the look and the wait wakes it.
            notified.as_mut().enable();
            self.waiting.fetch_add(1, Ordering::SeqCst);
            if let Some(pass) = self.try_take(n) {
                self.waiting.fetch_sub(1, Ordering::SeqCst);
                return Some(pass);
            }
            notified.await;
            self.waiting.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Units in use now.
    #[cfg(test)]
    fn used(&self) -> usize {
        self.used.load(Ordering::SeqCst)
    }
}

impl Drop for Pass {
    fn drop(&mut self) {
        self.gate.used.fetch_sub(self.n, Ordering::SeqCst);
        if self.gate.waiting.load(Ordering::SeqCst) > 0 {
            self.gate.notify.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_never_over_the_cap_and_come_back_on_drop() {
        static GATE: Gate = Gate::new(3);
        let a = GATE.try_take(2).expect("free");
        assert!(GATE.try_take(2).is_none(), "2 + 2 > 3");
        let b = GATE.try_take(1).expect("2 + 1 = 3");
        assert_eq!(GATE.used(), 3);
        drop(a);
        assert_eq!(GATE.used(), 1);
        drop(b);
        assert_eq!(GATE.used(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_waiter_gets_its_units_when_they_are_given_back() {
        static GATE: Gate = Gate::new(4);
        assert!(GATE.take(5).await.is_none(), "over the cap: never");
        let held = GATE.try_take(4).expect("free");
        let waiter = tokio::spawn(async { GATE.take(3).await.map(|p| p.n) });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "nothing free yet");
        drop(held);
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .expect("no panic");
        assert_eq!(got, Some(3));
        assert_eq!(GATE.used(), 0, "the waiter's pass was dropped in its task");
    }
}
