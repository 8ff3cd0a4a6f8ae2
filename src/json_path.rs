//! JSON parsing whose errors name where they happened (`email`, `rules[2].when`, `.` for the
//! document itself). The type is parsed once, by serde_json; only a failure pays for a scan of
//! the text up to the error's line and column that finds the path of the value being read there.
//! (`serde_path_to_error` did the same by parsing every type a second time through a tracking
//! wrapper: each body type, the scenario files' and the state file's whole trees compiled twice.)

/// One step of a path: an object's key or an array's index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

impl std::fmt::Display for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Segment::Key(k) => f.write_str(k),
            Segment::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// A parse error and the path of the value it happened in.
#[derive(Debug)]
pub struct PathError {
    pub path: Vec<Segment>,
    pub inner: serde_json::Error,
}

impl PathError {
    /// The path as text: keys joined by `.`, indexes as `[i]`; `.` for the document itself.
    pub fn path_text(&self) -> String {
        if self.path.is_empty() {
            return ".".into();
        }
        let mut out = String::new();
        for (i, segment) in self.path.iter().enumerate() {
            if i > 0 && matches!(segment, Segment::Key(_)) {
                out.push('.');
            }
            out.push_str(&segment.to_string());
        }
        out
    }

    /// [`PathError::path_text`], but empty for the document itself (for messages that name an
    /// entry only when there is one).
    pub fn entry_text(&self) -> String {
        if self.path.is_empty() {
            String::new()
        } else {
            self.path_text()
        }
    }
}

/// Parses a whole JSON document (nothing but whitespace after it).
///
/// A body that is valid UTF-8 (every body a client sends on purpose) is checked once, whole, and
/// read as text: serde_json then takes each string as it is, where reading bytes validates every
/// string again on its own (~90 instructions a string; a user's body has thirty). A body that is
/// not UTF-8 is refused whatever `T` reads of it, with the error serde_json gives at the first bad
/// string when it reads the body as a `Value` (which checks every string, where a `T` skips the
/// fields it ignores unchecked). `T` is thus compiled once, for text, not a second time for bytes:
/// each body, scenario file and state file type's parser is a share of this crate's build time.
pub fn from_slice<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, PathError> {
    let parsed = match std::str::from_utf8(bytes) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => Err(not_utf8(bytes)),
    };
    parsed.map_err(|inner| PathError {
        path: path_at(bytes, inner.line(), inner.column()),
        inner,
    })
}

/// The error of a document that is not UTF-8: serde_json's at its first bad string (a byte that is
/// not ASCII outside a string is a syntax error there too).
fn not_utf8(bytes: &[u8]) -> serde_json::Error {
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        Err(e) => e,
        // Not reached: reading a `Value` checks every string.
        Ok(_) => serde::de::Error::custom("the document is not valid UTF-8"),
    }
}

/// The path of the value being read at `line`:`column` (1-based, in bytes, as serde_json counts)
/// of `text`: the keys and indexes of the containers open there.
pub fn path_at(text: &[u8], line: usize, column: usize) -> Vec<Segment> {
    let end = offset_of(text, line, column);
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    while i < end {
        match text[i] {
            b'{' => stack.push(Frame::Object { key: None }),
            b'[' => stack.push(Frame::Array { index: 0 }),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => match stack.last_mut() {
                Some(Frame::Array { index }) => *index += 1,
                Some(Frame::Object { key }) => *key = None,
                None => {}
            },
            b'"' => {
                let (s, next) = read_string(text, i + 1, end);
                if let Some(Frame::Object { key }) = stack.last_mut() {
                    // The first string after `{` or `,` is the key; a value string leaves it.
                    if key.is_none() {
                        *key = Some(s);
                    }
                }
                i = next;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    stack
        .into_iter()
        .filter_map(|f| match f {
            Frame::Object { key } => key.map(Segment::Key),
            Frame::Array { index } => Some(Segment::Index(index)),
        })
        .collect()
}

enum Frame {
    Object { key: Option<String> },
    Array { index: usize },
}

/// The byte offset of `line`:`column`; the whole text when the position is unknown (0:0).
fn offset_of(text: &[u8], line: usize, column: usize) -> usize {
    if line == 0 {
        return text.len();
    }
    let mut start = 0;
    for _ in 1..line {
        match text[start..].iter().position(|&b| b == b'\n') {
            Some(n) => start += n + 1,
            None => return text.len(),
        }
    }
    (start + column).min(text.len())
}

/// A JSON string's text from just after its opening quote (escapes decoded; a bad escape is kept
/// as written), and the offset after its closing quote (or `end`).
fn read_string(text: &[u8], mut i: usize, end: usize) -> (String, usize) {
    let mut out = Vec::new();
    while i < end {
        match text[i] {
            b'"' => return (String::from_utf8_lossy(&out).into_owned(), i + 1),
            b'\\' if i + 1 < end => {
                let unescaped = match text[i + 1] {
                    b'n' => Some(b'\n'),
                    b't' => Some(b'\t'),
                    b'r' => Some(b'\r'),
                    b'b' => Some(8),
                    b'f' => Some(12),
                    b'u' => None,
                    other => Some(other),
                };
                match unescaped {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => {
                        let hex = text
                            .get(i + 2..i + 6)
                            .and_then(|h| std::str::from_utf8(h).ok());
                        let c = hex
                            .and_then(|h| u32::from_str_radix(h, 16).ok())
                            .and_then(char::from_u32);
                        match c {
                            Some(c) => {
                                out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                                i += 6;
                            }
                            None => {
                                out.extend_from_slice(&text[i..i + 2]);
                                i += 2;
                            }
                        }
                    }
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    (String::from_utf8_lossy(&out).into_owned(), end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        name: String,
        items: Vec<Item>,
        #[serde(default)]
        meta: Option<Meta>,
    }

    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct Item {
        kind: String,
        amount: Option<u32>,
    }

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Meta {
        group: u32,
    }

    /// What serde_path_to_error (kept as a dev-dependency, the oracle) says for the same text.
    fn oracle(text: &str) -> String {
        let mut de = serde_json::Deserializer::from_str(text);
        let e = serde_path_to_error::deserialize::<_, Doc>(&mut de).unwrap_err();
        e.path().to_string()
    }

    fn ours(text: &str) -> String {
        from_slice::<Doc>(text.as_bytes()).unwrap_err().path_text()
    }

    #[test]
    fn names_the_path_serde_path_to_error_names() {
        let cases = [
            r#"{"name": 5, "items": []}"#,
            r#"{"name": "a", "items": [{"kind": "x"}, {"kind": 7}]}"#,
            r#"{"name": "a", "items": [{"kind": "x", "amount": "ten"}]}"#,
            "{\"name\": \"a\",\n \"items\": [{\"kind\": \"x\"},\n {\"kind\": \"y\", \"amount\": -1}]}",
            r#"{"name": "a", "items": [{"kind": "x"}], "meta": {"group": "g"}}"#,
            r#"{"name": "a", "items": [{"kind": "x"}], "meta": {"grp": 1}}"#,
            r#"{"name": "a", "items": [{"kind": "x"}], "meta": {}}"#,
            r#"{"name": "a", "items": [{"amount": 1}]}"#,
            r#"{"name": "a"}"#,
            r#"{"name": "a", "items": [], "extra": 1}"#,
            r#"{"name": "a\"b", "items": [{"kind": "\u00e9", "amount": true}]}"#,
            r#"{"n\u0061me": 1, "items": []}"#,
            r#"[1, 2]"#,
            r#"{"name": "a", "items": [{"kind": "x"}, ]}"#,
            r#"{"name": "a", "items": {"kind": "x"}}"#,
        ];
        for text in cases {
            assert_eq!(ours(text), oracle(text), "{text}");
        }
    }

    #[test]
    fn trailing_data_and_truncation_are_errors_of_the_document() {
        assert_eq!(ours(r#"{"name": "a", "items": []} x"#), ".");
        let cut = from_slice::<Doc>(br#"{"name": "a", "items": [{"kind""#).unwrap_err();
        assert!(cut.inner.is_eof(), "{}", cut.inner);
        assert_eq!(cut.path_text(), "items[0].kind");
    }

    #[test]
    fn a_document_that_is_not_utf8_is_refused_at_its_first_bad_string() {
        let read = from_slice::<Doc>(b"{\"name\": \"a\xff\", \"items\": []}").unwrap_err();
        assert!(
            read.inner
                .to_string()
                .contains("invalid unicode code point"),
            "{}",
            read.inner
        );
        assert_eq!(read.path_text(), "name");
        // A field `Item` ignores is refused too: the body is not text.
        let ignored = from_slice::<Doc>(
            b"{\"name\": \"a\", \"items\": [{\"kind\": \"x\", \"note\": \"\xc0\xaf\"}]}",
        )
        .unwrap_err();
        assert!(
            ignored
                .inner
                .to_string()
                .contains("invalid unicode code point"),
            "{}",
            ignored.inner
        );
        assert_eq!(ignored.path_text(), "items[0].note");
        // A byte that is not ASCII outside any string is a syntax error where it stands.
        let outside = from_slice::<Doc>(b"{\"name\": \"a\", \xff}").unwrap_err();
        assert!(outside.inner.is_syntax(), "{}", outside.inner);
        assert_eq!(outside.path_text(), ".");
    }
}
