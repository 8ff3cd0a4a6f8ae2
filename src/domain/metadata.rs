//! `metadata`, the client's free-form JSON object on users, payouts, loads and spend-backs: kept
//! as the JSON text sent, within [`MAX_METADATA_DEPTH`] levels and [`MAX_METADATA_BYTES`] bytes.

use crate::limits::{MAX_METADATA_BYTES, MAX_METADATA_DEPTH};

/// What is wrong with a metadata value's JSON text, if anything: too long, or nested too deep
/// (the object itself is level 1). The text is valid JSON already; this only measures it.
pub fn problem(text: &str) -> Option<String> {
    if text.len() > MAX_METADATA_BYTES {
        return Some(format!(
            "metadata must be at most {MAX_METADATA_BYTES} bytes of JSON, not {}",
            text.len()
        ));
    }
    let depth = depth(text.as_bytes());
    (depth > MAX_METADATA_DEPTH).then(|| {
        format!("metadata must nest at most {MAX_METADATA_DEPTH} levels deep, not {depth}")
    })
}

/// The deepest nesting of objects and arrays in a JSON text (brackets inside strings do not
/// count).
fn depth(bytes: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &b in bytes {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(levels: usize) -> String {
        format!("{}1{}", "{\"a\":".repeat(levels), "}".repeat(levels))
    }

    #[test]
    fn counts_levels_outside_strings() {
        assert_eq!(depth(b"{}"), 1);
        assert_eq!(depth(br#"{"a":[1,{"b":[]}]}"#), 4);
        assert_eq!(depth(br#"{"a":"[[[{{{\"]]]"}"#), 1);
        assert_eq!(depth(br#"{"a\\":"{"}"#), 1);
    }

    #[test]
    fn thirty_two_levels_pass_and_thirty_three_do_not() {
        assert_eq!(problem(&nested(MAX_METADATA_DEPTH)), None);
        let p = problem(&nested(MAX_METADATA_DEPTH + 1)).unwrap();
        assert!(p.starts_with("metadata must nest at most 32 levels"), "{p}");
        assert!(problem(&nested(32_700)).is_some());
    }

    #[test]
    fn sixteen_kib_pass_and_more_does_not() {
        let at = |n: usize| format!("{{\"a\":\"{}\"}}", "x".repeat(n - 8));
        assert_eq!(at(MAX_METADATA_BYTES).len(), MAX_METADATA_BYTES);
        assert_eq!(problem(&at(MAX_METADATA_BYTES)), None);
        let p = problem(&at(MAX_METADATA_BYTES + 1)).unwrap();
        assert!(p.starts_with("metadata must be at most 16384 bytes"), "{p}");
    }
}
