//! The request journal: what a tenant asked and what it got, newest last, in a bounded ring so
//! memory stays flat however long a sandbox runs; and what the tenant's tests check against it
//! (expectations, strict mode, the requests strict mode found unexpected).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Mutex, RwLock};

use crate::clock::Millis;

mod buffers;
pub mod matcher;

pub use buffers::{forget_answer, note_answer, take_answer};
use buffers::{recycle, spare_buffer};

pub use matcher::{Expectation, Matcher, Times};

/// How many requests a tenant's journal keeps (the oldest are dropped first).
pub const JOURNAL_CAP: usize = 1000;

/// A request or answer body is kept up to this many bytes (the rest is cut, and the entry says
/// how long the body was).
pub const JOURNAL_BODY_LIMIT: usize = 2048;

/// Bytes of bodies a tenant's journal keeps at most: past it, the oldest entries go first.
pub const JOURNAL_BODY_BUDGET: usize = 1024 * 1024;

/// How many unexpected requests (strict mode) a tenant keeps.
pub const UNEXPECTED_CAP: usize = 1000;

/// How many expectations a tenant may declare at once.
pub const EXPECTATIONS_CAP: usize = 200;

#[derive(Clone, Debug, Default)]
pub struct JournalEntry {
    /// Numbers entries in the order they were recorded, from 1, per tenant.
    pub seq: u64,
    /// The request's method (`GET`, `POST`, …; the edge names it).
    pub method: &'static str,
    /// The path, the query and the headers in one allocation (see [`RequestText`]).
    pub text: RequestText,
    /// The MassPay operation (SDK operation id) the path was routed to; none for a path that
    /// matched no route.
    pub operation: Option<&'static str>,
    pub status: u16,
    pub at: Millis,
    /// The request body as read by the operation (at most [`JOURNAL_BODY_LIMIT`] bytes); none
    /// when the operation read none.
    pub request_body: Option<Body>,
    pub response_body: Option<Body>,
    /// The answer was forced by a scenario (a fault), not earned by the request.
    pub injected: bool,
}

/// A request's path, query string and headers, kept in one string: `PATH[?QUERY]` then, one per
/// line, `name: value` (names in lower case, without `authorization`).
#[derive(Clone, Debug, Default)]
pub struct RequestText {
    /// In a recycled buffer (see [`spare_buffer`]).
    text: String,
    path_end: u32,
    query_end: u32,
}

impl RequestText {
    /// `headers` is called twice (to size the string, then to fill it).
    pub fn new<'a, I: Iterator<Item = (&'a str, &'a str)>>(
        path: &str,
        query: Option<&str>,
        headers: impl Fn() -> I,
    ) -> RequestText {
        let len = path.len()
            + query.map_or(0, |q| q.len() + 1)
            + headers().map(|(n, v)| n.len() + v.len() + 3).sum::<usize>();
        let mut s = String::from_utf8(spare_buffer()).unwrap_or_default();
        s.reserve(len);
        s.push_str(path);
        let path_end = s.len();
        if let Some(q) = query {
            s.push('?');
            s.push_str(q);
        }
        let query_end = s.len();
        for (name, value) in headers() {
            s.push('\n');
            s.push_str(name);
            s.push_str(": ");
            s.push_str(value);
        }
        RequestText {
            text: s,
            path_end: path_end as u32,
            query_end: query_end as u32,
        }
    }

    pub fn path(&self) -> &str {
        &self.text[..self.path_end as usize]
    }

    /// The query string as sent (without `?`), if any.
    pub fn query(&self) -> Option<&str> {
        let (p, q) = (self.path_end as usize, self.query_end as usize);
        (q > p).then(|| &self.text[p + 1..q])
    }

    /// `(name, value)` of each header, in the order sent.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.text[self.query_end as usize..]
            .split('\n')
            .filter_map(|l| l.split_once(": "))
    }
}

/// A body as the journal keeps it: its first bytes and its whole length.
#[derive(Clone, Debug)]
pub struct Body {
    /// In a recycled buffer (see [`spare_buffer`]).
    pub bytes: Vec<u8>,
    pub size: usize,
}

impl Body {
    /// A copy of the first bytes (a request body may share the connection's read buffer, an
    /// answer's is the answer's: keeping either would keep that buffer).
    pub fn keep(whole: &[u8]) -> Body {
        let mut bytes = spare_buffer();
        bytes.extend_from_slice(&whole[..whole.len().min(JOURNAL_BODY_LIMIT)]);
        Body {
            bytes,
            size: whole.len(),
        }
    }

    pub fn truncated(&self) -> bool {
        self.bytes.len() < self.size
    }
}

impl JournalEntry {
    fn body_bytes(&self) -> usize {
        self.request_body.as_ref().map_or(0, |b| b.bytes.len())
            + self.response_body.as_ref().map_or(0, |b| b.bytes.len())
    }

    pub fn path(&self) -> &str {
        self.text.path()
    }

    /// A header's value (name in any case), from the recorded headers.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.text
            .headers()
            .find_map(|(n, v)| n.eq_ignore_ascii_case(name).then_some(v))
    }

    pub fn idempotency_key(&self) -> Option<&str> {
        self.header("idempotency-key")
    }

    /// The path without its version prefix (`/v0.1.4`, `/v1.0.0`): what a matcher written
    /// without one compares with.
    pub fn unversioned_path(&self) -> &str {
        strip_version(self.path())
    }
}

/// `/v0.1.4/payout/x` → `/payout/x`; a path without a version prefix is returned as is.
pub fn strip_version(path: &str) -> &str {
    let Some(rest) = path.strip_prefix("/v") else {
        return path;
    };
    let end = rest.find('/').unwrap_or(rest.len());
    let version = &rest[..end];
    if !version.is_empty() && version.chars().all(|c| c.is_ascii_digit() || c == '.') {
        &rest[end..]
    } else {
        path
    }
}

#[derive(Default)]
struct Ring {
    entries: VecDeque<JournalEntry>,
    body_bytes: usize,
    /// The last number given to an entry (numbered under the ring's lock, so a request touches
    /// one shared word for the journal, not two).
    last_seq: u64,
}

const STRICT_DEFAULT: u8 = 0;
const STRICT_OFF: u8 = 1;
const STRICT_ON: u8 = 2;

#[derive(Default)]
pub struct Journal {
    ring: Mutex<Ring>,
    /// Requests strict mode found unexpected (a 4xx the client earned), kept apart from the ring
    /// so a long suite does not push them out.
    unexpected: Mutex<VecDeque<JournalEntry>>,
    expectations: RwLock<Vec<Expectation>>,
    /// Strict mode for this tenant: [`STRICT_DEFAULT`] follows `--strict`, else
    /// [`STRICT_OFF`] or [`STRICT_ON`]. Read by every request: an atomic, not a lock (a read
    /// lock writes its word too, which concurrent requests then pass between their threads).
    strict: AtomicU8,
}

impl Journal {
    /// Records an entry (numbering it); `strict` is whether strict mode is on for the tenant.
    pub fn record(&self, mut entry: JournalEntry, strict: bool) {
        // A copy for the unexpected list (rare) is made before the lock and numbered under it.
        let mut unexpected = (strict && (400..500).contains(&entry.status) && !entry.injected)
            .then(|| entry.clone());
        // What falls out of the ring is freed after the lock is let go (usually one entry: no
        // allocation for the list in the common case).
        let mut dropped: (Option<JournalEntry>, Vec<JournalEntry>) = (None, Vec::new());
        let mut r = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        r.last_seq += 1;
        entry.seq = r.last_seq;
        if let Some(u) = &mut unexpected {
            u.seq = entry.seq;
        }
        r.body_bytes += entry.body_bytes();
        r.entries.push_back(entry);
        while r.entries.len() > JOURNAL_CAP
            || (r.body_bytes > JOURNAL_BODY_BUDGET && r.entries.len() > 1)
        {
            if let Some(old) = r.entries.pop_front() {
                r.body_bytes -= old.body_bytes();
                match dropped.0 {
                    None => dropped.0 = Some(old),
                    Some(_) => dropped.1.push(old),
                }
            }
        }
        drop(r);
        if let Some(old) = dropped.0 {
            recycle(old);
        }
        drop(dropped.1);
        if let Some(entry) = unexpected {
            let mut u = self.unexpected.lock().unwrap_or_else(|p| p.into_inner());
            if u.len() == UNEXPECTED_CAP {
                u.pop_front();
            }
            // Numbered under the ring's lock, listed under this one: keep the list in order.
            let at = u.partition_point(|x| x.seq < entry.seq);
            u.insert(at, entry);
        }
    }

    /// Entries, oldest first, filtered by method (any case) and path (substring).
    pub fn list(&self, method: Option<&str>, path: Option<&str>) -> Vec<JournalEntry> {
        self.select(|x| {
            method.is_none_or(|m| x.method.eq_ignore_ascii_case(m))
                && path.is_none_or(|p| x.path().contains(p))
        })
    }

    /// Entries for which `keep` holds, oldest first.
    pub fn select(&self, keep: impl Fn(&JournalEntry) -> bool) -> Vec<JournalEntry> {
        let r = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        r.entries.iter().filter(|x| keep(x)).cloned().collect()
    }

    /// How many entries `matcher` matches.
    pub fn count(&self, matcher: &Matcher) -> usize {
        let r = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        r.entries.iter().filter(|x| matcher.matches(x)).count()
    }

    /// Takes over `other`'s journal: entries, numbering, unexpected list, expectations and strict
    /// mode (a tenant restored from a snapshot keeps what the client did and what the test
    /// declared: the journal is a record of requests, not state).
    pub fn copy_from(&self, other: &Journal) {
        let (entries, body_bytes, last_seq) = {
            let r = other.ring.lock().unwrap_or_else(|p| p.into_inner());
            (r.entries.clone(), r.body_bytes, r.last_seq)
        };
        {
            let mut r = self.ring.lock().unwrap_or_else(|p| p.into_inner());
            r.entries = entries;
            r.body_bytes = body_bytes;
            r.last_seq = last_seq;
        }
        *self.unexpected.lock().unwrap_or_else(|p| p.into_inner()) = other
            .unexpected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        self.set_expectations(other.expectations());
        self.strict
            .store(other.strict.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    /// Clears the journal and the unexpected list (not the expectations).
    pub fn clear(&self) {
        let mut r = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        r.entries.clear();
        r.body_bytes = 0;
        drop(r);
        self.unexpected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    pub fn set_expectations(&self, list: Vec<Expectation>) {
        *self.expectations.write().unwrap_or_else(|p| p.into_inner()) = list;
    }

    pub fn expectations(&self) -> Vec<Expectation> {
        self.expectations
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn set_strict(&self, strict: Option<bool>) {
        let v = match strict {
            None => STRICT_DEFAULT,
            Some(false) => STRICT_OFF,
            Some(true) => STRICT_ON,
        };
        self.strict.store(v, Ordering::Relaxed);
    }

    /// This tenant's strict mode, given the sandbox-wide default.
    pub fn strict(&self, default: bool) -> bool {
        match self.strict.load(Ordering::Relaxed) {
            STRICT_OFF => false,
            STRICT_ON => true,
            _ => default,
        }
    }

    /// Requests the client should not have sent: every 4xx it earned while strict mode was on,
    /// and — with expectations declared and strict mode on — every journaled request none of
    /// them covers. Oldest first, each once.
    pub fn unexpected(&self, strict: bool) -> Vec<JournalEntry> {
        let mut out: Vec<JournalEntry> = self
            .unexpected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect();
        if strict {
            let expectations = self.expectations.read().unwrap_or_else(|p| p.into_inner());
            if !expectations.is_empty() {
                let uncovered = self.select(|e| {
                    !expectations.iter().any(|x| x.matcher.matches(e))
                        && !out.iter().any(|u| u.seq == e.seq)
                });
                out.extend(uncovered);
                out.sort_by_key(|e| e.seq);
            }
        }
        out
    }

    /// Checks every expectation against the journal: for each, how many requests matched and,
    /// when it is not met, the closest requests and how they differed.
    pub fn verify(&self) -> Vec<matcher::Verdict> {
        let expectations = self.expectations();
        let r = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        expectations
            .into_iter()
            .map(|x| matcher::verdict(x, r.entries.iter()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(status: u16, body: usize) -> JournalEntry {
        JournalEntry {
            method: "POST",
            text: RequestText::new("/v0.1.4/user", None, std::iter::empty),
            status,
            request_body: Some(Body::keep(&vec![b'x'; body])),
            ..JournalEntry::default()
        }
    }

    #[test]
    fn bodies_are_cut_at_the_limit_and_keep_their_size() {
        let b = Body::keep(&vec![b'a'; JOURNAL_BODY_LIMIT + 10]);
        assert_eq!(b.bytes.len(), JOURNAL_BODY_LIMIT);
        assert_eq!(b.size, JOURNAL_BODY_LIMIT + 10);
        assert!(b.truncated());
    }

    #[test]
    fn the_body_budget_drops_the_oldest_entries() {
        let j = Journal::default();
        for _ in 0..(JOURNAL_BODY_BUDGET / JOURNAL_BODY_LIMIT + 10) {
            j.record(entry(200, JOURNAL_BODY_LIMIT), false);
        }
        let kept = j.list(None, None);
        assert!(kept.len() <= JOURNAL_BODY_BUDGET / JOURNAL_BODY_LIMIT);
        assert_eq!(
            kept.last().map(|e| e.seq),
            Some((JOURNAL_BODY_BUDGET / JOURNAL_BODY_LIMIT + 10) as u64)
        );
    }

    #[test]
    fn strict_mode_keeps_earned_4xx_only() {
        let j = Journal::default();
        j.record(entry(404, 0), true);
        j.record(entry(200, 0), true);
        j.record(entry(400, 0), false);
        let mut forced = entry(400, 0);
        forced.injected = true;
        j.record(forced, true);
        let u = j.unexpected(true);
        assert_eq!(u.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1]);
    }

    #[test]
    fn request_text_keeps_path_query_and_headers_apart() {
        let t = RequestText::new("/v0.1.4/payout/u", Some("limit=5&a=b"), || {
            [
                ("content-type", "application/json"),
                ("idempotency-key", "k: 1"),
            ]
            .into_iter()
        });
        assert_eq!(t.path(), "/v0.1.4/payout/u");
        assert_eq!(t.query(), Some("limit=5&a=b"));
        let h: Vec<_> = t.headers().collect();
        assert_eq!(
            h,
            vec![
                ("content-type", "application/json"),
                ("idempotency-key", "k: 1")
            ]
        );
        let bare = RequestText::new("/x", None, std::iter::empty);
        assert_eq!(
            (bare.path(), bare.query(), bare.headers().count()),
            ("/x", None, 0)
        );
    }

    #[test]
    fn version_prefixes_are_stripped() {
        assert_eq!(strip_version("/v0.1.4/payout/x"), "/payout/x");
        assert_eq!(strip_version("/v1.0.0/user"), "/user");
        assert_eq!(strip_version("/validate"), "/validate");
        assert_eq!(strip_version("/user"), "/user");
    }
}
