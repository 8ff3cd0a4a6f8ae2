//! Long polls (`?wait=` on `GET /_sandbox/requests` and `GET /_sandbox/webhooks`): how long one
//! may wait ([`MAX_LONG_POLL_WAIT`]) and how many may wait at once in a sandbox, across all
//! tenants ([`crate::limits::MAX_LONG_POLLS`]). A poll over the cap is answered 429 at once, never
//! queued; each waiting poll holds a [`PollSlot`] that its drop gives back, so a poll frees its
//! place however it ends: an answer, its deadline, or its client going away (the future dropped).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::error::{ApiError, ApiResult};
use crate::limits::MAX_LONG_POLL_WAIT;

/// How often a long poll looks again.
const POLL_EVERY: Duration = Duration::from_millis(20);

/// `wait=5s`, `wait=500ms`, `wait=2` (seconds), `wait=1.5s`; at most [`MAX_LONG_POLL_WAIT`].
pub fn parse_wait(text: &str) -> ApiResult<Duration> {
    let t = text.trim();
    let (number, unit_ms) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1000.0)
    } else {
        (t, 1000.0)
    };
    let ms = number
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n >= 0.0)
        .map(|n| n * unit_ms)
        .filter(|ms| *ms <= MAX_LONG_POLL_WAIT.as_millis() as f64)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "wait must be a duration such as 5s, 500ms or 2 (seconds), at most {} s",
                MAX_LONG_POLL_WAIT.as_secs()
            ))
        })?;
    Ok(Duration::from_millis(ms.round() as u64))
}

/// The long polls waiting at once in one sandbox, at most `cap`
/// ([`crate::limits::MAX_LONG_POLLS`]): each holds a [`PollSlot`] while it waits.
pub struct LongPolls {
    waiting: AtomicUsize,
    cap: usize,
}

/// One long poll's place among the [`LongPolls`], given back when it is dropped: when the poll
/// answers, reaches its deadline, or its future is dropped because the client went away.
pub struct PollSlot(Arc<LongPolls>);

impl LongPolls {
    pub fn new(cap: usize) -> Arc<Self> {
        Arc::new(LongPolls {
            waiting: AtomicUsize::new(0),
            cap,
        })
    }

    /// A place for one more long poll, or `None` when `cap` of them are waiting already.
    pub fn enter(self: &Arc<Self>) -> Option<PollSlot> {
        self.waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.cap).then_some(n + 1)
            })
            .ok()
            .map(|_| PollSlot(Arc::clone(self)))
    }

    /// How many wait now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }
}

impl Drop for PollSlot {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Takes a place among `polls` (a 429 at once when there is none), then calls `look` until it
/// finds something or `wait` passes; `Ok(None)` at the deadline. The place is held until the
/// returned future completes or is dropped.
pub async fn long_poll<T>(
    polls: &Arc<LongPolls>,
    wait: Duration,
    mut look: impl FnMut() -> Option<T>,
) -> ApiResult<Option<T>> {
    let _slot = polls.enter().ok_or_else(|| {
        ApiError::TooManyWaiting(format!(
            "too many long polls (?wait=) are waiting at once: {} across all API keys, the most \
             this sandbox holds; retry shortly, or poll without wait",
            polls.cap
        ))
    })?;
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        if let Some(found) = look() {
            return Ok(Some(found));
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(POLL_EVERY.min(deadline - now)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn waits_read_every_form() {
        assert_eq!(parse_wait("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_wait("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_wait("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_wait("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_wait("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_wait("30000ms").unwrap(), Duration::from_secs(30));
        assert!(parse_wait("31s").is_err());
        assert!(parse_wait("30001ms").is_err());
        assert!(parse_wait("61s").is_err());
        assert!(parse_wait("-1").is_err());
        assert!(parse_wait("soon").is_err());
    }

    #[test]
    fn long_polls_take_a_place_each_up_to_the_cap_and_give_it_back_on_drop() {
        let polls = LongPolls::new(2);
        let a = polls.enter().expect("first");
        let b = polls.enter().expect("second");
        assert_eq!(polls.waiting(), 2);
        assert!(polls.enter().is_none(), "a third is refused at the cap");
        assert_eq!(polls.waiting(), 2, "a refusal takes no place");
        drop(a);
        assert_eq!(polls.waiting(), 1);
        let c = polls.enter().expect("a freed place is taken again");
        assert!(polls.enter().is_none());
        drop(b);
        drop(c);
        assert_eq!(polls.waiting(), 0);
    }

    #[tokio::test]
    async fn a_long_poll_gives_its_place_back_however_it_ends() {
        let polls = LongPolls::new(1);
        // Found at once.
        let found = long_poll(&polls, Duration::from_secs(1), || Some(7)).await;
        assert_eq!(found.unwrap(), Some(7));
        assert_eq!(polls.waiting(), 0);
        // The deadline.
        let none = long_poll(&polls, Duration::from_millis(50), || None::<u8>).await;
        assert_eq!(none.unwrap(), None);
        assert_eq!(polls.waiting(), 0);
        // Dropped half-way (the client went away), and a second poll over the cap meanwhile.
        let mut waiting = Box::pin(long_poll(&polls, Duration::from_secs(30), || None::<u8>));
        assert!(futures_poll_once(waiting.as_mut()).await.is_none());
        assert_eq!(polls.waiting(), 1);
        let refused = long_poll(&polls, Duration::from_secs(1), || Some(1)).await;
        let err = refused.expect_err("over the cap");
        assert_eq!(err.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(err.to_string().contains("too many long polls"), "{err}");
        drop(waiting);
        assert_eq!(polls.waiting(), 0);
        assert!(long_poll(&polls, Duration::ZERO, || Some(1)).await.is_ok());
    }

    /// Polls `f` once; `Some` if it completed.
    async fn futures_poll_once<F: std::future::Future + ?Sized>(
        f: std::pin::Pin<&mut F>,
    ) -> Option<F::Output> {
        let mut f = Some(f);
        std::future::poll_fn(move |cx| {
            let f = f.take().expect("polled once");
            std::task::Poll::Ready(match f.poll(cx) {
                std::task::Poll::Ready(v) => Some(v),
                std::task::Poll::Pending => None,
            })
        })
        .await
    }
}
