//! The hashers of the state's maps. Keys the sandbox makes itself (its UUIDs, catalog indices)
//! go through a multiply-xorshift hash: std's SipHash was a visible cost of storing a user
//! (hashbrown re-hashes every key each time a growing map doubles). Keys a client chooses (API
//! keys, e-mails, client ids) go through SipHash with random keys ([`ClientKeyMap`]): an unkeyed
//! hash lets a client send keys built to collide, and 65,536 such API keys once cost 80 s of CPU.

use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Deref;
use std::sync::OnceLock;

use dashmap::DashMap;

/// A concurrent map with [`FastHasher`], for keys the sandbox chooses (its own UUIDs, catalog
/// indices): a client cannot pick them, so it cannot make them collide.
pub type FastMap<K, V> = DashMap<K, V, BuildHasherDefault<FastHasher>>;

/// A concurrent map for keys a client chooses (API keys, e-mails, `client_transfer_id`s, …):
/// std's SipHash with random keys per map, so no set of keys collides on purpose (65,536 API
/// keys built to collide in [`FastHasher`] once cost 80 s of CPU).
pub type ClientKeyMap<K, V> = DashMap<K, V, std::hash::RandomState>;

/// A map keyed by strings a client chooses that grows with what clients create (e-mails,
/// `client_transfer_id`s): each key's SipHash is computed once, with the process's random keys,
/// and kept beside it ([`Hashed`]), so a growing table re-hashes a word per entry, not the whole
/// string (SipHash over the keys was ~4 % of a payout pair, most of it in re-hashes on growth).
pub type HashedKeyMap<K, V> = DashMap<Hashed<K>, V, BuildHasherDefault<FastHasher>>;

/// A key with its keyed hash (SipHash with random keys drawn once per process, so no set of keys
/// collides on purpose). Equal keys have equal hashes; serialised as the key alone.
#[derive(Clone, Debug)]
pub struct Hashed<T> {
    hash: u64,
    key: T,
}

impl<T: std::hash::Hash> Hashed<T> {
    pub fn new(key: T) -> Self {
        static KEYS: std::sync::LazyLock<std::hash::RandomState> =
            std::sync::LazyLock::new(std::hash::RandomState::new);
        Hashed {
            hash: std::hash::BuildHasher::hash_one(&*KEYS, &key),
            key,
        }
    }
}

impl<T> std::hash::Hash for Hashed<T> {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl<T: PartialEq> PartialEq for Hashed<T> {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.key == other.key
    }
}

impl<T: Eq> Eq for Hashed<T> {}

impl<T: serde::Serialize> serde::Serialize for Hashed<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.key.serialize(s)
    }
}

impl<'de, T: serde::Deserialize<'de> + std::hash::Hash> serde::Deserialize<'de> for Hashed<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize(d).map(Hashed::new)
    }
}

/// A map made on first use. A `DashMap` allocates all its shards when it is made (8 × 128 B on
/// two cores, 64 × 128 B on sixteen), and a tenant has some twenty maps it mostly never touches:
/// made eagerly they were ~20 KB of every fresh tenant.
pub struct LazyMap<M>(OnceLock<M>);

impl<M> Default for LazyMap<M> {
    fn default() -> Self {
        LazyMap(OnceLock::new())
    }
}

impl<M: Default> Deref for LazyMap<M> {
    type Target = M;

    #[inline]
    fn deref(&self) -> &M {
        self.0.get_or_init(M::default)
    }
}

/// A map that grows without stalling: many shards, so the whole-table rehash a growing
/// hashbrown table does moves 1/[`GROWING_SHARDS`] of the entries under one shard's lock, not
/// 1/8. For the maps that grow with what clients create (users, payouts and their client keys):
/// at 10^6 users a doubling of one of 8 shards moved ~125 k entries with the shard locked
/// (measured stalls of 10–100 ms on POST /user); with 64 it moves ~16 k. The shards cost
/// 64 × 128 B = 8 KB per map, paid only by a tenant that uses the map (see [`LazyMap`]).
pub struct Growing<M>(M);

/// How many shards a [`Growing`] map has (a power of two, as dashmap requires).
pub const GROWING_SHARDS: usize = 64;

impl<K, V, S> Default for Growing<DashMap<K, V, S>>
where
    K: Eq + std::hash::Hash,
    S: std::hash::BuildHasher + Default + Clone,
{
    fn default() -> Self {
        Growing(DashMap::with_hasher_and_shard_amount(
            S::default(),
            GROWING_SHARDS,
        ))
    }
}

impl<M> Deref for Growing<M> {
    type Target = M;

    #[inline]
    fn deref(&self) -> &M {
        &self.0
    }
}

/// Multiply-xorshift hashing, a word at a time.
#[derive(Clone, Copy, Default)]
pub struct FastHasher(u64);

const K: u64 = 0x9e37_79b9_7f4a_7c15;

impl FastHasher {
    /// Multiply, then fold the high half down: each word reaches every bit of the state.
    #[inline]
    fn add(&mut self, word: u64) {
        let h = (self.0 ^ word).wrapping_mul(K);
        self.0 = h ^ (h >> 29);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_u16(&mut self, n: u16) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// `n` printable 16-byte strings that all hash alike under [`FastHasher`] (what a client could
/// send to flood a map keyed by its strings with it). Deterministic; for tests.
pub fn fast_hasher_collisions(n: usize) -> Vec<String> {
    // Two 8-byte words: the state after them is g(g(w1) ^ w2), so every key with the same
    // g(w1) ^ w2 collides. Pick a target, then search first words whose g(w1) ^ target is a
    // printable word w2.
    fn g(x: u64) -> u64 {
        let h = x.wrapping_mul(K);
        h ^ (h >> 29)
    }
    let printable = |w: u64| w.to_le_bytes().iter().all(|b| (0x21..0x7f).contains(b));
    let target = u64::from_le_bytes(*b"CollideX") ^ g(u64::from_le_bytes(*b"sandbox!"));
    let mut keys = Vec::with_capacity(n);
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    while keys.len() < n {
        // xorshift over printable first words.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let w1 = u64::from_le_bytes(x.to_le_bytes().map(|b| 0x21 + b % 94));
        let w2 = g(w1) ^ target;
        if printable(w2) {
            let mut bytes = w1.to_le_bytes().to_vec();
            bytes.extend_from_slice(&w2.to_le_bytes());
            keys.push(String::from_utf8(bytes).unwrap_or_default());
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::hash::{BuildHasher, BuildHasherDefault};

    use super::{fast_hasher_collisions, ClientKeyMap, FastHasher, Hashed, HashedKeyMap};

    #[test]
    fn hashed_keys_find_their_equals_and_serialise_as_the_key_alone() {
        let map: HashedKeyMap<String, u32> = HashedKeyMap::default();
        for i in 0..10_000u32 {
            map.insert(Hashed::new(format!("client-{i}")), i);
        }
        assert_eq!(
            map.get(&Hashed::new("client-4242".to_string())).map(|v| *v),
            Some(4242)
        );
        assert!(map.get(&Hashed::new("client-10000".to_string())).is_none());
        let text = serde_json::to_string(&Hashed::new("a@b.c".to_string())).unwrap();
        assert_eq!(text, "\"a@b.c\"");
        let back: Hashed<String> = serde_json::from_str(&text).unwrap();
        assert!(back == Hashed::new("a@b.c".to_string()));
        // Keys built to collide under the unkeyed hasher are distinct keys here.
        for (i, k) in fast_hasher_collisions(2_000).into_iter().enumerate() {
            map.insert(Hashed::new(k), i as u32);
        }
        assert_eq!(map.len(), 12_000);
    }

    #[test]
    fn keys_built_to_collide_in_the_fast_hasher_do_not_collide_in_client_key_maps() {
        let keys = fast_hasher_collisions(64);
        let fast = BuildHasherDefault::<FastHasher>::default();
        let fast_hashes: HashSet<u64> = keys.iter().map(|k| fast.hash_one(k.as_str())).collect();
        assert_eq!(fast_hashes.len(), 1, "the keys do collide in FastHasher");
        let map: ClientKeyMap<Box<str>, ()> = ClientKeyMap::default();
        let keyed: HashSet<u64> = keys
            .iter()
            .map(|k| map.hasher().hash_one(k.as_str()))
            .collect();
        assert_eq!(keyed.len(), keys.len(), "no collisions in a ClientKeyMap");
        let other: ClientKeyMap<Box<str>, ()> = ClientKeyMap::default();
        assert_ne!(
            map.hasher().hash_one("same key"),
            other.hasher().hash_one("same key"),
            "each map has its own random keys"
        );
    }

    #[test]
    fn distinct_keys_spread_over_shards_and_buckets() {
        let build = BuildHasherDefault::<FastHasher>::default();
        let keys: Vec<String> = (0..4096).map(|i| format!("jdoe+{i}@example.com")).collect();
        let hashes: HashSet<u64> = keys.iter().map(|k| build.hash_one(k)).collect();
        assert_eq!(
            hashes.len(),
            keys.len(),
            "no collisions among 4096 similar keys"
        );
        // DashMap picks a shard from the high bits, hashbrown a bucket from the low ones.
        let high: HashSet<u64> = hashes.iter().map(|h| (h << 7) >> 61).collect();
        let low: HashSet<u64> = hashes.iter().map(|h| h & 0xff).collect();
        assert_eq!(high.len(), 8);
        assert!(low.len() > 200, "low bits use {} of 256 values", low.len());
    }
}
