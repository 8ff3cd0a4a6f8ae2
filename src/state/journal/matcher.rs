//! Request matchers (`POST /_sandbox/requests/count|find`, expectations): which journaled
//! requests a test means, how many there were, and — for an expectation not met — the requests
//! that came closest and how they differed.

use regex_lite::Regex;
use rust_decimal::Decimal;
use serde_json::{Map, Number, Value};

use super::JournalEntry;

/// A string condition: equal, or a regex matching the whole string.
#[derive(Clone, Debug)]
pub enum Text {
    Exact(String),
    Matches(Regex),
}

impl Text {
    fn parse(field: &str, v: &Value) -> Result<Text, String> {
        match v {
            Value::String(s) => Ok(Text::Exact(s.clone())),
            Value::Object(o) if o.len() == 1 && o.contains_key("matches") => {
                let Some(pattern) = o["matches"].as_str() else {
                    return Err(format!("{field}: matches must be a string (a regex)"));
                };
                Regex::new(&format!("^(?:{pattern})$"))
                    .map(Text::Matches)
                    .map_err(|e| format!("{field}: matches is not a valid regex: {e}"))
            }
            _ => Err(format!(
                "{field} must be a string or {{\"matches\": \"regex\"}}"
            )),
        }
    }

    pub fn is_match(&self, s: &str) -> bool {
        match self {
            Text::Exact(x) => x == s,
            Text::Matches(r) => r.is_match(s),
        }
    }

    fn describe(&self) -> String {
        match self {
            Text::Exact(x) => format!("{x:?}"),
            Text::Matches(r) => {
                let p = r.as_str();
                format!("/{}/", &p[4..p.len() - 2])
            }
        }
    }
}

/// A JSON body condition: objects need the listed keys (others may be there), arrays match
/// element by element, numbers compare as exact decimals (`100.5` equals `100.50`), a
/// `{"matches": "regex"}` object matches a string.
#[derive(Clone, Debug)]
enum BodyPattern {
    Object(Vec<(String, BodyPattern)>),
    Array(Vec<BodyPattern>),
    Number(Decimal),
    Text(Text),
    Other(Value),
}

impl BodyPattern {
    fn compile(path: &str, v: &Value) -> Result<BodyPattern, String> {
        Ok(match v {
            Value::Object(o) if o.len() == 1 && o.contains_key("matches") => {
                BodyPattern::Text(Text::parse(path, v)?)
            }
            Value::Object(o) => BodyPattern::Object(
                o.iter()
                    .map(|(k, v)| Ok((k.clone(), BodyPattern::compile(&format!("{path}.{k}"), v)?)))
                    .collect::<Result<_, String>>()?,
            ),
            Value::Array(a) => BodyPattern::Array(
                a.iter()
                    .enumerate()
                    .map(|(i, v)| BodyPattern::compile(&format!("{path}[{i}]"), v))
                    .collect::<Result<_, String>>()?,
            ),
            Value::Number(n) => match decimal(n) {
                Some(d) => BodyPattern::Number(d),
                None => BodyPattern::Other(v.clone()),
            },
            Value::String(s) => BodyPattern::Text(Text::Exact(s.clone())),
            other => BodyPattern::Other(other.clone()),
        })
    }

    /// Where `actual` first differs from the pattern (a JSON path), if anywhere.
    fn first_difference(&self, at: &str, actual: &Value) -> Option<String> {
        match (self, actual) {
            (BodyPattern::Object(fields), Value::Object(a)) => fields.iter().find_map(|(k, p)| {
                let at = format!("{at}.{k}");
                match a.get(k) {
                    Some(v) => p.first_difference(&at, v),
                    None => Some(format!("{at} is missing")),
                }
            }),
            (BodyPattern::Array(items), Value::Array(a)) => {
                if items.len() != a.len() {
                    return Some(format!("{at} has {} items, not {}", a.len(), items.len()));
                }
                items
                    .iter()
                    .zip(a)
                    .enumerate()
                    .find_map(|(i, (p, v))| p.first_difference(&format!("{at}[{i}]"), v))
            }
            (BodyPattern::Number(d), Value::Number(n)) if decimal(n) == Some(*d) => None,
            (BodyPattern::Text(t), Value::String(s)) if t.is_match(s) => None,
            (BodyPattern::Other(p), v) if p == v => None,
            (_, v) => Some(format!("{at} is {}", short(v))),
        }
    }
}

fn decimal(n: &Number) -> Option<Decimal> {
    let text = n.to_string();
    text.parse::<Decimal>()
        .ok()
        .or_else(|| Decimal::from_scientific(&text).ok())
        .map(|d| d.normalize())
}

fn short(v: &Value) -> String {
    let mut s = v.to_string();
    if s.len() > 60 {
        let cut = (0..=57).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0);
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// Which requests a test means. Every condition given must hold; none given matches all.
#[derive(Clone, Debug, Default)]
pub struct Matcher {
    method: Option<String>,
    path: Option<Text>,
    /// Whether the path condition names a version prefix (else it is compared without one).
    path_versioned: bool,
    /// The operations the `operation` condition names (an id can name two: a path of each
    /// version); empty: no condition.
    operation: Vec<&'static str>,
    query: Vec<(String, Text)>,
    headers: Vec<(String, Text)>,
    body: Option<BodyPattern>,
    status: Option<u16>,
}

const FIELDS: &str = "method, path, operation, query, headers, body, status";

impl Matcher {
    /// Reads a matcher from its JSON object. `operation` resolves an operation id (any id
    /// `/openapi.json` shows, or an SDK's) to the journal's name for it.
    pub fn parse(
        v: &Value,
        operation: impl Fn(&str) -> Vec<&'static str>,
    ) -> Result<Matcher, String> {
        let Value::Object(o) = v else {
            return Err(format!("a matcher is a JSON object with any of: {FIELDS}"));
        };
        let mut m = Matcher::default();
        for (k, v) in o {
            match k.as_str() {
                "method" => {
                    let s = v.as_str().ok_or("method must be a string")?;
                    m.method = Some(s.to_ascii_uppercase());
                }
                "path" => {
                    let t = Text::parse("path", v)?;
                    m.path_versioned = match &t {
                        Text::Exact(s) => super::strip_version(s) != s,
                        Text::Matches(r) => r.as_str().starts_with("^(?:/v"),
                    };
                    m.path = Some(t);
                }
                "operation" => {
                    let s = v.as_str().ok_or("operation must be a string")?;
                    m.operation = operation(s);
                    if m.operation.is_empty() {
                        return Err(format!(
                            "operation {s:?} is not an operation of this API (see /openapi.json)"
                        ));
                    }
                }
                "query" => m.query = pairs("query", v, false)?,
                "headers" => m.headers = pairs("headers", v, true)?,
                "body" => m.body = Some(BodyPattern::compile("body", v)?),
                "status" => {
                    let s = v
                        .as_u64()
                        .filter(|s| (100..=599).contains(s))
                        .ok_or("status must be a whole number from 100 to 599")?;
                    m.status = Some(s as u16);
                }
                other => {
                    return Err(format!(
                        "unknown matcher field {other:?} (the fields are: {FIELDS})"
                    ))
                }
            }
        }
        Ok(m)
    }

    pub fn matches(&self, e: &JournalEntry) -> bool {
        self.differences(e, true).is_empty()
    }

    /// How many conditions this matcher has.
    fn conditions(&self) -> usize {
        [
            self.method.is_some(),
            self.path.is_some(),
            !self.operation.is_empty(),
            self.body.is_some(),
            self.status.is_some(),
        ]
        .iter()
        .filter(|x| **x)
        .count()
            + self.query.len()
            + self.headers.len()
    }

    /// The conditions `e` fails, worded for a person (all of them, or the first with `first`).
    pub fn differences(&self, e: &JournalEntry, first: bool) -> Vec<String> {
        let mut out = Vec::new();
        macro_rules! fail {
            ($($t:tt)*) => {{
                out.push(format!($($t)*));
                if first {
                    return out;
                }
            }};
        }
        if let Some(m) = &self.method {
            if m != e.method {
                fail!("method: expected {m}, got {}", e.method);
            }
        }
        if let Some(p) = &self.path {
            let path = if self.path_versioned {
                e.path()
            } else {
                e.unversioned_path()
            };
            if !p.is_match(path) {
                fail!("path: expected {}, got {:?}", p.describe(), e.path());
            }
        }
        if !self.operation.is_empty() && !e.operation.is_some_and(|o| self.operation.contains(&o)) {
            fail!(
                "operation: expected {}, got {}",
                self.operation.join(" or "),
                e.operation
                    .unwrap_or("(no operation: the path matched no route)")
            );
        }
        if !self.query.is_empty() {
            let q: Vec<(String, String)> =
                form_urlencoded::parse(e.text.query().unwrap_or("").as_bytes())
                    .into_owned()
                    .collect();
            for (name, t) in &self.query {
                let got: Vec<&str> = q
                    .iter()
                    .filter(|(k, _)| k == name)
                    .map(|(_, v)| v.as_str())
                    .collect();
                if !got.iter().any(|v| t.is_match(v)) {
                    match got.first() {
                        Some(v) => fail!("query {name}: expected {}, got {v:?}", t.describe()),
                        None => fail!("query {name}: expected {}, absent", t.describe()),
                    }
                }
            }
        }
        for (name, t) in &self.headers {
            match e.header(name) {
                Some(v) if t.is_match(v) => {}
                Some(v) => fail!("header {name}: expected {}, got {v:?}", t.describe()),
                None => fail!("header {name}: expected {}, absent", t.describe()),
            }
        }
        if let Some(b) = &self.body {
            match e.request_body.as_ref() {
                None => fail!("body: expected a JSON body, the request had none"),
                Some(body) => match serde_json::from_slice::<Value>(&body.bytes) {
                    Ok(v) => {
                        if let Some(d) = b.first_difference("body", &v) {
                            fail!("{d}");
                        }
                    }
                    Err(_) if body.truncated() => fail!(
                        "body: the request body ({} bytes) was longer than the journal keeps",
                        body.size
                    ),
                    Err(_) => fail!("body: the request body is not JSON"),
                },
            }
        }
        if let Some(s) = self.status {
            if s != e.status {
                fail!("status: expected {s}, got {}", e.status);
            }
        }
        out
    }
}

fn pairs(field: &str, v: &Value, lower: bool) -> Result<Vec<(String, Text)>, String> {
    let Value::Object(o) = v else {
        return Err(format!("{field} must be an object of name → value"));
    };
    o.iter()
        .map(|(k, v)| {
            let name = if lower {
                k.to_ascii_lowercase()
            } else {
                k.clone()
            };
            Ok((name, Text::parse(&format!("{field} {k}"), v)?))
        })
        .collect()
}

/// How many matching requests an expectation wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Times {
    pub min: u64,
    pub max: Option<u64>,
}

impl Times {
    /// `N` (exactly), `{"min": …, "max": …}` (either may be left out), or absent: at least once.
    pub fn parse(v: Option<&Value>) -> Result<Times, String> {
        const WHAT: &str = "times must be a whole number or {\"min\": N, \"max\": N}";
        match v {
            None => Ok(Times { min: 1, max: None }),
            Some(Value::Number(n)) => {
                let n = n.as_u64().ok_or(WHAT)?;
                Ok(Times {
                    min: n,
                    max: Some(n),
                })
            }
            Some(Value::Object(o)) => {
                if let Some(k) = o.keys().find(|k| *k != "min" && *k != "max") {
                    return Err(format!("times: unknown field {k:?} ({WHAT})"));
                }
                let get = |k: &str| -> Result<Option<u64>, String> {
                    o.get(k)
                        .map(|v| v.as_u64().ok_or_else(|| WHAT.to_string()))
                        .transpose()
                };
                let (min, max) = (get("min")?.unwrap_or(0), get("max")?);
                if max.is_some_and(|m| m < min) {
                    return Err("times: max is below min".into());
                }
                Ok(Times { min, max })
            }
            Some(_) => Err(WHAT.into()),
        }
    }

    pub fn holds(&self, n: u64) -> bool {
        n >= self.min && self.max.is_none_or(|m| n <= m)
    }

    pub fn describe(&self) -> String {
        match self.max {
            Some(m) if m == self.min => format!("exactly {m}"),
            Some(m) => format!("from {} to {m}", self.min),
            None => format!("at least {}", self.min),
        }
    }
}

/// A declared expectation: a matcher and how many requests it should match.
#[derive(Clone, Debug)]
pub struct Expectation {
    pub matcher: Matcher,
    pub times: Times,
    /// The expectation as the test wrote it, for answers.
    pub source: Value,
}

impl Expectation {
    /// `{"matcher": {…}, "times": …}`, or a bare matcher object (then: at least once).
    pub fn parse(
        v: &Value,
        operation: impl Fn(&str) -> Vec<&'static str>,
    ) -> Result<Expectation, String> {
        let o = v.as_object().ok_or(
            "an expectation is {\"matcher\": {…}, \"times\": N | {\"min\": N, \"max\": N}}",
        )?;
        let (matcher, times) = if o.contains_key("matcher") {
            if let Some(k) = o.keys().find(|k| *k != "matcher" && *k != "times") {
                return Err(format!(
                    "unknown expectation field {k:?} (the fields are: matcher, times)"
                ));
            }
            (
                Matcher::parse(&o["matcher"], operation)?,
                Times::parse(o.get("times"))?,
            )
        } else {
            let mut bare: Map<String, Value> = o.clone();
            let times = Times::parse(bare.remove("times").as_ref())?;
            (Matcher::parse(&Value::Object(bare), operation)?, times)
        };
        Ok(Expectation {
            matcher,
            times,
            source: v.clone(),
        })
    }
}

/// A request that came close to an expectation, and how it differed.
#[derive(Clone, Debug)]
pub struct NearMiss {
    pub entry: JournalEntry,
    pub differences: Vec<String>,
}

/// How an expectation fared against the journal.
#[derive(Clone, Debug)]
pub struct Verdict {
    pub expectation: Expectation,
    pub count: u64,
    pub met: bool,
    /// The journal's numbers (`seq`) of the requests that matched (the first 50).
    pub matched: Vec<u64>,
    /// When too few matched: the closest other requests (at most 3), closest first.
    pub near_misses: Vec<NearMiss>,
}

/// How many near misses a verdict lists.
pub const NEAR_MISSES: usize = 3;

pub fn verdict<'a>(x: Expectation, entries: impl Iterator<Item = &'a JournalEntry>) -> Verdict {
    let mut matched = Vec::new();
    let mut count = 0u64;
    let mut misses: Vec<(usize, &JournalEntry)> = Vec::new();
    for e in entries {
        if x.matcher.matches(e) {
            count += 1;
            if matched.len() < 50 {
                matched.push(e.seq);
            }
        } else {
            misses.push((x.matcher.differences(e, false).len(), e));
        }
    }
    let met = x.times.holds(count);
    let near_misses = if count < x.times.min {
        // Fewest differences first; among equals, the newest first.
        misses.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.seq.cmp(&a.1.seq)));
        let conditions = x.matcher.conditions();
        misses
            .into_iter()
            .filter(|(n, _)| conditions <= 1 || *n < conditions)
            .take(NEAR_MISSES)
            .map(|(_, e)| NearMiss {
                differences: x.matcher.differences(e, false),
                entry: e.clone(),
            })
            .collect()
    } else {
        Vec::new()
    };
    Verdict {
        expectation: x,
        count,
        met,
        matched,
        near_misses,
    }
}

#[cfg(test)]
#[path = "matcher_tests.rs"]
mod tests;
