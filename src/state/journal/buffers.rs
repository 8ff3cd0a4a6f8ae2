//! The journal's buffers, recycled per thread, and the answer body a thread noted for the entry
//! of the request it answers.
//!
//! Every MassPay request leaves an entry (its text, its body, its answer: three buffers) and, once
//! the ring is full, pushes the oldest out. Allocating three buffers per request and freeing three
//! others — often on the other runtime thread, which glibc's malloc makes dear — showed in the
//! request path's profile. Instead the buffers of the entries that leave go to a small pool of the
//! thread that pushed them out, and the next entries are written into them.

use super::{Body, JournalEntry, JOURNAL_BODY_LIMIT};

/// Buffers one thread keeps for the next entries, at most.
const SPARE_BUFFERS: usize = 64;

/// A buffer larger than this is freed rather than kept (a body is cut at
/// [`JOURNAL_BODY_LIMIT`]; only an entry's request text, with many headers, can be longer).
const SPARE_CAPACITY: usize = 2 * JOURNAL_BODY_LIMIT;

thread_local! {
    static SPARE: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
    /// The answer this thread wrote last for the journal ([`note_answer`]).
    static ANSWER: std::cell::RefCell<Option<Body>> = const { std::cell::RefCell::new(None) };
}

/// An empty buffer: a recycled one if this thread has one.
pub(super) fn spare_buffer() -> Vec<u8> {
    SPARE.with(|s| s.borrow_mut().pop()).unwrap_or_default()
}

/// Keeps `entry`'s buffers for this thread's next entries.
pub(super) fn recycle(entry: JournalEntry) {
    let buffers = [
        Some(entry.text.text.into_bytes()),
        entry.request_body.map(|b| b.bytes),
        entry.response_body.map(|b| b.bytes),
    ];
    for b in buffers.into_iter().flatten() {
        keep_spare(b);
    }
}

/// Keeps one buffer for this thread's next entries, if the pool has room and it is not too large.
fn keep_spare(mut b: Vec<u8>) {
    if (1..=SPARE_CAPACITY).contains(&b.capacity()) {
        SPARE.with(|s| {
            let mut spare = s.borrow_mut();
            if spare.len() < SPARE_BUFFERS {
                b.clear();
                spare.push(b);
            }
        });
    }
}

/// Notes the body of the answer this thread is writing, for the journal entry of the request
/// it answers ([`take_answer`]): how answers reach the journal without a per-answer extension
/// (a map and two boxes) on every response. Whoever writes an answer body calls it; the request
/// path takes it in the same poll that produced the answer.
pub fn note_answer(body: &[u8]) {
    let kept = Body::keep(body);
    if let Some(old) = ANSWER.with(|a| a.borrow_mut().replace(kept)) {
        keep_spare(old.bytes);
    }
}

/// The answer body noted last on this thread, if any (and forgets it).
pub fn take_answer() -> Option<Body> {
    ANSWER.with(|a| a.borrow_mut().take())
}

/// Forgets an answer noted on this thread and not taken (before polling a request's handler,
/// so an answer written for another request is never taken for this one).
pub fn forget_answer() {
    if let Some(old) = take_answer() {
        keep_spare(old.bytes);
    }
}
