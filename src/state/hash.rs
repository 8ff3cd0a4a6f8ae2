//! The hasher of the state's maps. Keys are our own UUIDs and short client strings (API keys,
//! e-mails, ids) in a local test double, so a multiply-xorshift hash serves. std's SipHash, built
//! to resist hash flooding from the internet, was a visible cost of storing a user: hashbrown
//! re-hashes every key each time a growing map doubles.

use std::hash::{BuildHasherDefault, Hasher};

use dashmap::DashMap;

/// A concurrent map with [`FastHasher`], for keys the sandbox chooses (its own UUIDs, catalog
/// indices): a client cannot pick them, so it cannot make them collide.
pub type FastMap<K, V> = DashMap<K, V, BuildHasherDefault<FastHasher>>;

/// A concurrent map for keys a client chooses (API keys, e-mails, `client_transfer_id`s, …):
/// std's SipHash with random keys per map, so no set of keys collides on purpose (65,536 API
/// keys built to collide in [`FastHasher`] once cost 80 s of CPU).
pub type ClientKeyMap<K, V> = DashMap<K, V, std::hash::RandomState>;

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

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::hash::{BuildHasher, BuildHasherDefault};

    use super::FastHasher;

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
