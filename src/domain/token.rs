//! Tokens: `prefix_<uuid>` strings on the wire, stored as bare UUIDs.
//!
//! Every object kind has its prefix (`usr_`, `payout_`, `attr_set_`, …). A token is written the same
//! way everywhere it appears. On the way in, the prefix is optional (the seed guide's samples show
//! bare UUIDs), but a different kind's prefix never matches.

use std::cell::RefCell;
use std::sync::Mutex;

use rand::{rngs::SmallRng, RngCore, SeedableRng};
use uuid::Uuid;

pub const USER: &str = "usr_";
pub const PAYOUT: &str = "payout_";
pub const ATTR_SET: &str = "attr_set_";
pub const ATTR: &str = "attr_";
pub const DESTINATION: &str = "dst_";
pub const BALANCE: &str = "clnt_wlt_";

/// A typed identifier: a UUID that knows its kind, and so its token prefix. Two kinds cannot be
/// swapped by mistake (`tenant.payout(user, payout)` takes a `UserId` and a `PayoutId`).
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:expr) => {
        $(#[$doc])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize,
            serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// The token prefix of this kind.
            pub const PREFIX: &'static str = $prefix;

            /// Reads a token of this kind (or a bare UUID); anything else is `None`.
            pub fn parse(text: &str) -> Option<Self> {
                parse(text, Self::PREFIX).map(Self)
            }

            /// The token as the API shows it.
            pub fn token(self) -> String {
                format(Self::PREFIX, self.0)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(Self::PREFIX)?;
                f.write_str(self.0.hyphenated().encode_lower(&mut Uuid::encode_buffer()))
            }
        }
    };
}

id_type!(
    /// A user (`usr_…`).
    UserId,
    USER
);
id_type!(
    /// A payout (`payout_…`).
    PayoutId,
    PAYOUT
);

/// Formats a token with its kind's prefix.
pub fn format(prefix: &str, id: Uuid) -> String {
    let mut s = String::with_capacity(prefix.len() + 36);
    s.push_str(prefix);
    s.push_str(id.hyphenated().encode_lower(&mut Uuid::encode_buffer()));
    s
}

/// Reads a token of the kind `prefix` (or a bare UUID). Anything else is `None`: an unknown token.
pub fn parse(text: &str, prefix: &str) -> Option<Uuid> {
    let bare = text.strip_prefix(prefix).unwrap_or(text);
    if bare.len() != 36 {
        return None;
    }
    Uuid::try_parse(bare).ok()
}

/// Splits a fixture token `anyprefix_<uuid>` into its prefix and UUID.
pub fn split_fixture_token(text: &str) -> Option<(&str, Uuid)> {
    let at = text.rfind('_')?;
    let (prefix, rest) = text.split_at(at + 1);
    Uuid::try_parse(rest)
        .ok()
        .filter(|_| rest.len() == 36)
        .map(|u| (prefix, u))
}

/// Where a tenant's new tokens come from: random, or a deterministic stream seeded from
/// (`--seed`, API key) so that runs with the same seed hand out the same tokens.
pub enum TokenSource {
    Random,
    Seeded(Box<Mutex<Seeded>>),
}

/// A seeded stream: the generator, the seed it started from and how many tokens it gave, so a
/// snapshot (and the state file) can put the stream back where it was.
#[derive(Clone)]
pub struct Seeded {
    seed: u64,
    drawn: u64,
    rng: SmallRng,
}

/// Where a token stream stands: what a snapshot keeps of a [`TokenSource`]. Serialised as the
/// seed and the count of tokens drawn (the generator's own state is not portable), which
/// [`TokenSource::restore`] replays; in memory it also holds the generator itself, so an
/// in-memory restore costs no replay.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct TokenState {
    pub seed: u64,
    pub drawn: u64,
    #[serde(skip)]
    rng: Option<SmallRng>,
}

impl TokenSource {
    pub fn new(seed: Option<u64>, api_key: &str) -> Self {
        match seed {
            None => TokenSource::Random,
            Some(seed) => {
                let seed = fnv1a(seed, api_key);
                TokenSource::Seeded(Box::new(Mutex::new(Seeded {
                    seed,
                    drawn: 0,
                    rng: SmallRng::seed_from_u64(seed),
                })))
            }
        }
    }

    pub fn next(&self) -> Uuid {
        match self {
            TokenSource::Random => random_uuid(),
            TokenSource::Seeded(s) => {
                let mut bytes = [0u8; 16];
                let mut s = s.lock().unwrap_or_else(|p| p.into_inner());
                s.rng.fill_bytes(&mut bytes);
                s.drawn += 1;
                uuid::Builder::from_random_bytes(bytes).into_uuid()
            }
        }
    }

    /// A number in `0..bound` from the same stream (pickup codes).
    pub fn next_below(&self, bound: u32) -> u32 {
        let id = self.next();
        (id.as_u128() % u128::from(bound.max(1))) as u32
    }

    /// Where the stream stands (`None`: random tokens, nothing to keep).
    pub fn state(&self) -> Option<TokenState> {
        match self {
            TokenSource::Random => None,
            TokenSource::Seeded(s) => {
                let s = s.lock().unwrap_or_else(|p| p.into_inner());
                Some(TokenState {
                    seed: s.seed,
                    drawn: s.drawn,
                    rng: Some(s.rng.clone()),
                })
            }
        }
    }

    /// The stream as `state` left it: the next token is the one that followed then. Read from a
    /// file, the generator is replayed `drawn` tokens from its seed (a few ms per million).
    pub fn restore(state: Option<&TokenState>) -> Self {
        let Some(state) = state else {
            return TokenSource::Random;
        };
        let rng = state.rng.clone().unwrap_or_else(|| {
            let mut rng = SmallRng::seed_from_u64(state.seed);
            let mut bytes = [0u8; 16];
            for _ in 0..state.drawn {
                rng.fill_bytes(&mut bytes);
            }
            rng
        });
        TokenSource::Seeded(Box::new(Mutex::new(Seeded {
            seed: state.seed,
            drawn: state.drawn,
            rng,
        })))
    }
}

thread_local! {
    /// A per-thread generator seeded once: no system call per token. Tokens need to be unique
    /// and unguessable enough for a test double, not cryptographic. The seed comes from std's
    /// randomly keyed hasher (the `getrandom` system call): rand's own OS source looks that call
    /// up dynamically, which a static binary cannot, and then needs `/dev/urandom`, which an
    /// empty container or chroot lacks (every token then panicked).
    static THREAD_RNG: RefCell<SmallRng> = RefCell::new(SmallRng::seed_from_u64(os_seed()));
}

/// 64 random bits from the OS, through std (see `THREAD_RNG`).
fn os_seed() -> u64 {
    use std::hash::BuildHasher;
    std::hash::RandomState::new().hash_one(std::thread::current().id())
}

/// A random (version 4) UUID from the thread's generator.
pub fn random_uuid() -> Uuid {
    let mut bytes = [0u8; 16];
    THREAD_RNG.with(|rng| rng.borrow_mut().fill_bytes(&mut bytes));
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// FNV-1a over the seed and key: a hash that stays the same across Rust releases, unlike
/// `DefaultHasher`, so seeded tokens are reproducible everywhere.
fn fnv1a(seed: u64, key: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in seed.to_le_bytes().iter().chain(key.as_bytes()) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_other_kinds() {
        let id = Uuid::new_v4();
        let t = format(USER, id);
        assert!(t.starts_with("usr_"));
        assert_eq!(parse(&t, USER), Some(id));
        assert_eq!(parse(&id.to_string(), USER), Some(id));
        assert_eq!(parse(&format(PAYOUT, id), USER), None);
        assert_eq!(parse("usr_nope", USER), None);
    }

    #[test]
    fn seeded_sources_repeat_per_key() {
        let a = TokenSource::new(Some(7), "key-a");
        let b = TokenSource::new(Some(7), "key-a");
        let c = TokenSource::new(Some(7), "key-b");
        let (a1, b1, c1) = (a.next(), b.next(), c.next());
        assert_eq!(a1, b1);
        assert_ne!(a1, c1);
    }

    #[test]
    fn a_restored_stream_goes_on_where_it_stood() {
        let a = TokenSource::new(Some(7), "key-a");
        a.next();
        let state = a.state().expect("seeded");
        assert_eq!(state.drawn, 1);
        let expected = [a.next(), a.next()];
        let in_memory = TokenSource::restore(Some(&state));
        assert_eq!([in_memory.next(), in_memory.next()], expected);
        // Through JSON the generator itself is not kept: it is replayed from the seed.
        let text = serde_json::to_string(&state).unwrap();
        let read: TokenState = serde_json::from_str(&text).unwrap();
        let replayed = TokenSource::restore(Some(&read));
        assert_eq!([replayed.next(), replayed.next()], expected);
        assert!(TokenSource::restore(None).state().is_none());
    }
}
