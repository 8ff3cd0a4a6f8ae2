//! Idempotency-Key: a retried mutating request with the same key gets the first answer replayed
//! byte for byte, without a second effect.
//!
//! - A key is scoped to (tenant, method, path). "The same request" means the same query and a
//!   JSON-equal body (key order and number spelling do not matter).
//! - Same key, same request → the stored status and body, with `Idempotent-Replayed: true`.
//! - Same key, different request → 422. A duplicate arriving while the first is still running →
//!   409 (it is not executed; retry later).
//! - Only successful (2xx) answers are stored: a request refused by validation, auth or an
//!   injected fault (429/5xx) leaves nothing behind, so its retry runs.
//! - Retention: 24 h on the tenant's test clock, and at most [`CAP`] keys per tenant (the oldest
//!   are forgotten first).

use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use axum::body::Bytes;
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;

use crate::clock::Millis;

/// Keys a tenant remembers at most.
pub const CAP: usize = 10_000;
/// How long a stored answer is replayed.
pub const RETENTION_MS: Millis = 24 * 60 * 60 * 1000;

/// A stored answer.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Stored {
    pub status: u16,
    pub content_type: Option<String>,
    /// Written as text when it is UTF-8 (the API's answers are JSON), else as bytes.
    #[serde(with = "body_text")]
    pub body: Bytes,
}

/// A remembered key with its answer, as a tenant snapshot keeps it.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct SavedKey {
    pub scope: String,
    /// The request's fingerprint ([`fingerprint`]: std's `DefaultHasher`, stable within a build;
    /// a state file read by another build may answer a retried key with 422, never a wrong replay).
    pub fingerprint: u64,
    pub at: Millis,
    pub answer: Stored,
}

enum Slot {
    InFlight {
        fingerprint: u64,
    },
    Done {
        fingerprint: u64,
        at: Millis,
        answer: Stored,
    },
}

/// What to do with a request that carries a key.
pub enum Begin {
    /// First time (or expired): run it, then [`IdempotencyStore::finish`] or drop the guard.
    Proceed,
    Replay(Stored),
    /// The key was used for a different request.
    Mismatch,
    /// The first request with this key is still running.
    InFlight,
}

#[derive(Default)]
pub struct IdempotencyStore {
    /// Made on first use: most tenants never send an Idempotency-Key.
    slots: crate::state::hash::LazyMap<DashMap<String, Slot>>,
    order: Mutex<VecDeque<String>>,
}

/// A stable fingerprint of a request: its query and its body (JSON-canonical when it parses).
pub fn fingerprint(query: &str, body: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    query.hash(&mut h);
    match serde_json::from_slice::<serde_json::Value>(body) {
        // serde_json's map is ordered by key, so equal objects print equally.
        Ok(v) => canonical(&v).hash(&mut h),
        Err(_) => body.hash(&mut h),
    }
    h.finish()
}

fn canonical(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Number(n) => n
            .to_string()
            .parse::<rust_decimal::Decimal>()
            .map(|d| d.normalize().to_string())
            .unwrap_or_else(|_| n.to_string()),
        serde_json::Value::Array(a) => {
            format!(
                "[{}]",
                a.iter().map(canonical).collect::<Vec<_>>().join(",")
            )
        }
        serde_json::Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{k:?}:{}", canonical(v)))
                .collect::<Vec<_>>()
                .join(",")
        ),
        other => other.to_string(),
    }
}

impl IdempotencyStore {
    pub fn begin(&self, scope: &str, fingerprint: u64, now: Millis) -> Begin {
        match self.slots.entry(scope.to_string()) {
            Entry::Occupied(mut o) => match o.get() {
                Slot::InFlight { fingerprint: f } if *f == fingerprint => Begin::InFlight,
                Slot::InFlight { .. } => Begin::Mismatch,
                Slot::Done { at, .. } if now - *at > RETENTION_MS => {
                    o.insert(Slot::InFlight { fingerprint });
                    Begin::Proceed
                }
                Slot::Done {
                    fingerprint: f,
                    answer,
                    ..
                } if *f == fingerprint => Begin::Replay(answer.clone()),
                Slot::Done { .. } => Begin::Mismatch,
            },
            Entry::Vacant(v) => {
                v.insert(Slot::InFlight { fingerprint });
                self.remember(scope);
                Begin::Proceed
            }
        }
    }

    /// Stores the answer of a request that ran.
    pub fn finish(&self, scope: &str, fingerprint: u64, now: Millis, answer: Stored) {
        self.slots.insert(
            scope.to_string(),
            Slot::Done {
                fingerprint,
                at: now,
                answer,
            },
        );
    }

    /// Forgets a reservation (the request failed and must be retryable).
    pub fn abandon(&self, scope: &str) {
        self.slots
            .remove_if(scope, |_, s| matches!(s, Slot::InFlight { .. }));
    }

    fn remember(&self, scope: &str) {
        let mut order = self.order.lock().unwrap_or_else(|p| p.into_inner());
        order.push_back(scope.to_string());
        while order.len() > CAP {
            if let Some(old) = order.pop_front() {
                // Never evict a request that is still running.
                self.slots
                    .remove_if(&old, |_, s| matches!(s, Slot::Done { .. }));
            }
        }
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// The answers remembered, oldest first (a request still running is not: its answer does
    /// not exist yet).
    pub fn export(&self) -> Vec<SavedKey> {
        let order = self.order.lock().unwrap_or_else(|p| p.into_inner());
        order
            .iter()
            .filter_map(|scope| match self.slots.get(scope).as_deref() {
                Some(Slot::Done {
                    fingerprint,
                    at,
                    answer,
                }) => Some(SavedKey {
                    scope: scope.clone(),
                    fingerprint: *fingerprint,
                    at: *at,
                    answer: answer.clone(),
                }),
                _ => None,
            })
            .collect()
    }

    /// A store remembering `keys` (oldest first), within [`CAP`].
    pub fn import(keys: &[SavedKey]) -> Self {
        let store = IdempotencyStore::default();
        if keys.is_empty() {
            return store;
        }
        let skip = keys.len().saturating_sub(CAP);
        let mut order = store.order.lock().unwrap_or_else(|p| p.into_inner());
        for k in &keys[skip..] {
            let done = Slot::Done {
                fingerprint: k.fingerprint,
                at: k.at,
                answer: k.answer.clone(),
            };
            if store.slots.insert(k.scope.clone(), done).is_none() {
                order.push_back(k.scope.clone());
            }
        }
        drop(order);
        store
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

/// Serde for a stored body: a string when it is UTF-8, else an array of bytes.
mod body_text {
    use axum::body::Bytes;
    use serde::de::{Deserializer, Error, SeqAccess, Visitor};
    use serde::Serializer;

    pub fn serialize<S: Serializer>(body: &Bytes, s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(body) {
            Ok(text) => s.serialize_str(text),
            Err(_) => s.serialize_bytes(body),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        struct Body;
        impl<'de> Visitor<'de> for Body {
            type Value = Bytes;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or an array of bytes")
            }
            fn visit_str<E: Error>(self, v: &str) -> Result<Bytes, E> {
                Ok(Bytes::copy_from_slice(v.as_bytes()))
            }
            fn visit_bytes<E: Error>(self, v: &[u8]) -> Result<Bytes, E> {
                Ok(Bytes::copy_from_slice(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Bytes, A::Error> {
                let mut bytes = Vec::new();
                while let Some(b) = seq.next_element::<u8>()? {
                    bytes.push(b);
                }
                Ok(Bytes::from(bytes))
            }
        }
        d.deserialize_any(Body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_equal_bodies_have_one_fingerprint() {
        assert_eq!(
            fingerprint("", br#"{"a":1,"b":100.50}"#),
            fingerprint("", br#"{ "b": 100.5, "a": 1 }"#)
        );
        assert_ne!(
            fingerprint("", br#"{"a":1}"#),
            fingerprint("", br#"{"a":2}"#)
        );
        assert_ne!(fingerprint("limit=1", b""), fingerprint("limit=2", b""));
    }

    #[test]
    fn replays_mismatches_and_in_flight() {
        let s = IdempotencyStore::default();
        assert!(matches!(s.begin("k", 1, 0), Begin::Proceed));
        assert!(matches!(s.begin("k", 1, 0), Begin::InFlight));
        assert!(matches!(s.begin("k", 2, 0), Begin::Mismatch));
        s.finish(
            "k",
            1,
            0,
            Stored {
                status: 200,
                content_type: None,
                body: Bytes::from_static(b"{}"),
            },
        );
        assert!(matches!(s.begin("k", 1, 10), Begin::Replay(_)));
        assert!(matches!(s.begin("k", 2, 10), Begin::Mismatch));
        assert!(matches!(s.begin("k", 1, RETENTION_MS + 1), Begin::Proceed));
        s.abandon("k");
        assert!(matches!(s.begin("k", 3, RETENTION_MS + 2), Begin::Proceed));
    }

    #[test]
    fn export_and_import_keep_the_answers_not_the_requests_running() {
        let s = IdempotencyStore::default();
        assert!(matches!(s.begin("done", 1, 0), Begin::Proceed));
        let answer = |body: &'static [u8]| Stored {
            status: 200,
            content_type: Some("application/json".into()),
            body: Bytes::from_static(body),
        };
        s.finish("done", 1, 5, answer(b"{\"a\":1}"));
        assert!(matches!(s.begin("binary", 2, 0), Begin::Proceed));
        s.finish("binary", 2, 6, answer(&[0xff, 0x00]));
        assert!(matches!(s.begin("running", 3, 0), Begin::Proceed));
        let saved = s.export();
        assert_eq!(saved.len(), 2, "the running request is not kept");
        let text = serde_json::to_string(&saved).unwrap();
        assert!(text.contains(r#""body":"{\"a\":1}""#), "{text}");
        let read: Vec<SavedKey> = serde_json::from_str(&text).unwrap();
        let back = IdempotencyStore::import(&read);
        match back.begin("binary", 2, 10) {
            Begin::Replay(a) => assert_eq!(&a.body[..], &[0xff, 0x00]),
            _ => panic!("not replayed"),
        }
        assert!(matches!(back.begin("done", 9, 10), Begin::Mismatch));
        assert!(matches!(back.begin("running", 3, 10), Begin::Proceed));
    }
}
