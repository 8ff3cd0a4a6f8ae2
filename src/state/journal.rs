//! The request journal: what a tenant asked and what it got, newest last, in a bounded ring so
//! memory stays flat however long a sandbox runs.

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::clock::Millis;

/// How many requests a tenant's journal keeps (the oldest are dropped first).
pub const JOURNAL_CAP: usize = 1000;

#[derive(Clone, Debug)]
pub struct JournalEntry {
    /// The request's method (`GET`, `POST`, …; the edge names it).
    pub method: &'static str,
    pub path: Box<str>,
    pub status: u16,
    pub idempotency_key: Option<Box<str>>,
    pub at: Millis,
}

#[derive(Default)]
pub struct Journal {
    entries: Mutex<VecDeque<JournalEntry>>,
}

impl Journal {
    pub fn record(&self, entry: JournalEntry) {
        let mut e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if e.len() == JOURNAL_CAP {
            e.pop_front();
        }
        e.push_back(entry);
    }

    /// Entries, oldest first, filtered by method (any case) and path (substring).
    pub fn list(&self, method: Option<&str>, path: Option<&str>) -> Vec<JournalEntry> {
        let e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        e.iter()
            .filter(|x| method.is_none_or(|m| x.method.eq_ignore_ascii_case(m)))
            .filter(|x| path.is_none_or(|p| x.path.contains(p)))
            .cloned()
            .collect()
    }

    /// Puts `other`'s entries in this journal (a tenant restored from a snapshot keeps what the
    /// client did: the journal is a record of requests, not state).
    pub fn copy_from(&self, other: &Journal) {
        let entries = other.list(None, None);
        let mut e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        *e = entries.into();
    }

    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}
