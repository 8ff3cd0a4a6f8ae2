//! JSON objects written field by field, for the answers of the payout path (initiate, commit).
//!
//! serde_json escapes every key and every string value byte by byte through a table, and writes
//! each piece with its own capacity check: for the initiate answer (twenty fields, ~660 bytes)
//! that was ~9 % of an in-process pair. Here a key is written with its quotes and colon as one
//! static piece, and a value is checked for what JSON must escape in one pass without branches,
//! then copied whole; a value that needs escaping goes through serde_json. The models
//! keep their derived `Serialize` (lists, the state dump, the OpenAPI document), and their tests
//! hold the two writings equal byte for byte.

use crate::domain::money::DecimalText;

/// An answer that writes its own JSON: the same text its derived `Serialize` gives (each
/// model's test holds the two equal), sent with [`super::json_text_answer`].
pub trait JsonText {
    fn write_json(&self, out: &mut Vec<u8>);
}

/// An object being written into `out`; [`Object::end`] closes it.
pub struct Object<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

impl<'o> Object<'o> {
    pub fn new(out: &'o mut Vec<u8>) -> Self {
        out.push(b'{');
        Object { out, first: true }
    }

    /// `"key":` (after a comma unless it is the first member). Keys are the models' own field
    /// names: plain ASCII, never escaped.
    fn key(&mut self, key: &'static str) {
        debug_assert!(plain(key), "a key JSON must escape: {key:?}");
        if !std::mem::take(&mut self.first) {
            self.out.push(b',');
        }
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    /// A string member.
    pub fn str(&mut self, key: &'static str, value: &str) -> &mut Self {
        self.key(key);
        string(self.out, value);
        self
    }

    /// A string member, left out when `None` (`skip_serializing_if = "Option::is_none"`).
    pub fn opt_str(&mut self, key: &'static str, value: Option<&str>) -> &mut Self {
        if let Some(v) = value {
            self.str(key, v);
        }
        self
    }

    /// A member whose value is JSON text already (a number's digits, a stored raw value).
    pub fn raw(&mut self, key: &'static str, json: &str) -> &mut Self {
        self.key(key);
        self.out.extend_from_slice(json.as_bytes());
        self
    }

    /// A number member, written as its exact decimal text.
    pub fn number(&mut self, key: &'static str, value: &DecimalText) -> &mut Self {
        self.key(key);
        self.out.extend_from_slice(value.as_bytes());
        self
    }

    /// A member of JSON text, left out when `None`.
    pub fn opt_raw(&mut self, key: &'static str, json: Option<&str>) -> &mut Self {
        if let Some(v) = json {
            self.raw(key, v);
        }
        self
    }

    pub fn end(&mut self) {
        self.out.push(b'}');
    }
}

/// Whether JSON can carry `s` between quotes as it is: no control character, quote or
/// backslash (serde_json escapes exactly these, and writes everything else, UTF-8 included, as
/// is). Eight bytes at a time, without an early exit: the values are short (tokens, names), and
/// a branch per byte cost more than the whole check.
fn plain(s: &str) -> bool {
    let mut words = s.as_bytes().chunks_exact(8);
    let mut ok = true;
    for w in &mut words {
        ok &= plain_word(u64::from_le_bytes(w.try_into().unwrap_or([b' '; 8])));
    }
    // The tail, padded with spaces (which JSON carries as they are).
    let mut tail = [b' '; 8];
    tail[..words.remainder().len()].copy_from_slice(words.remainder());
    ok & plain_word(u64::from_le_bytes(tail))
}

/// Whether none of the eight bytes of `w` is below 0x20, a quote or a backslash. Each test is
/// the exact "has a byte below n" of bit-twiddling lore: `(w - n·ones) & !w & high` is non-zero
/// exactly when some byte of `w` is below `n` (n ≤ 0x80); a byte equal to `c` is a zero byte
/// of `w ^ c·ones`, that is a byte below 1.
fn plain_word(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below = |w: u64, n: u8| w.wrapping_sub(ONES * n as u64) & !w;
    let control = below(w, 0x20);
    let quote = below(w ^ (ONES * b'"' as u64), 1);
    let backslash = below(w ^ (ONES * b'\\' as u64), 1);
    (control | quote | backslash) & HIGH == 0
}

/// A JSON string: copied whole when nothing in it needs escaping, else escaped by serde_json.
fn string(out: &mut Vec<u8>, s: &str) {
    if plain(s) {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // Writing a `&str` into a `Vec` cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_written_as_serde_json_writes_them() {
        let cases = [
            "",
            "payout_01ccc81e-134b-49b1-9d3d-35f46d9fda44",
            "quote \" inside",
            "back\\slash",
            "new\nline and \t tab and \u{1} and \u{1f}",
            "del \u{7f} stays, é and 漢字 and 🎉 stay",
            "</script>",
        ];
        for s in cases {
            let mut ours = Vec::new();
            string(&mut ours, s);
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                serde_json::to_string(s).unwrap(),
                "{s:?}"
            );
        }
    }

    #[test]
    fn every_byte_that_needs_escaping_is_seen_wherever_it_sits() {
        // Each character JSON escapes, and some it does not, at every place of a string long
        // enough for whole words and a tail, between characters near the edges of the checks.
        let specials = (0u8..0x20)
            .map(char::from)
            .chain(['"', '\\', ' ', '!', '#', '[', ']', '\u{7f}', 'é', '漢']);
        for c in specials {
            for at in 0..19 {
                let mut s: String = "!# ~[]a!# ~[]a!# ~[".chars().collect();
                s.insert(at, c);
                let mut ours = Vec::new();
                string(&mut ours, &s);
                assert_eq!(
                    String::from_utf8(ours).unwrap(),
                    serde_json::to_string(&s).unwrap(),
                    "{s:?}"
                );
            }
        }
    }

    #[test]
    fn an_object_has_commas_between_members_and_skips_absent_ones() {
        let mut out = Vec::new();
        Object::new(&mut out)
            .str("a", "x")
            .opt_str("b", None)
            .raw("c", "1.5")
            .opt_str("d", Some("y\"z"))
            .end();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a":"x","c":1.5,"d":"y\"z"}"#
        );
        let mut out = Vec::new();
        Object::new(&mut out).opt_str("b", None).end();
        assert_eq!(out, b"{}");
    }
}
