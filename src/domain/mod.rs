//! The simulation's vocabulary and rules, free of HTTP and of storage layout: money, tokens, the
//! catalog, users, attributes and payouts. Request bodies are parsed here into domain types
//! ("parse, don't validate"); each business rule lives in one function.

pub mod attribute;
pub mod catalog;
pub mod error;
pub mod event;
pub mod history;
pub mod metadata;
pub mod money;
pub mod offer;
pub mod payout;
pub mod token;
pub mod user;
pub mod wallet;

/// The one reading of a boolean query parameter everywhere (`include_payer_logos`,
/// `force_status_update`, `show_all_clients`, …): `true`/`false` in any case, or `1`/`0` (what
/// the PHP SDK sends); absent or blank is `false`. The error names the parameter.
pub fn parse_query_bool(name: &str, value: Option<&str>) -> Result<bool, String> {
    match value.map(str::trim) {
        None | Some("") => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") || v == "1" => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") || v == "0" => Ok(false),
        Some(v) => Err(format!(
            "query parameter {name} must be true, false, 1 or 0, not {v:?}"
        )),
    }
}

/// A date written exactly `YYYY-MM-DD` (a real calendar date; four-digit year) — the one date
/// reader of every body field and query parameter.
pub fn parse_date(text: &str) -> Option<chrono::NaiveDate> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let number = |from: usize, to: usize| {
        b[from..to].iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    chrono::NaiveDate::from_ymd_opt(
        i32::try_from(number(0, 4)?).ok()?,
        number(5, 7)?,
        number(8, 10)?,
    )
}

/// An optional string, borrowed from the body where it has no escapes. (Serde borrows a
/// `Cow<str>` field marked `borrow`, but not one inside an `Option`.)
pub fn borrowed<'de: 'a, 'a, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<std::borrow::Cow<'a, str>>, D::Error> {
    #[derive(serde::Deserialize)]
    struct Text<'a>(#[serde(borrow)] std::borrow::Cow<'a, str>);
    Ok(<Option<Text> as serde::Deserialize>::deserialize(d)?.map(|t| t.0))
}

/// Collects every problem of a request, so one 400 can list them all.
#[derive(Debug, Default)]
pub struct Problems(pub Vec<String>);

impl Problems {
    pub fn new() -> Self {
        Problems(Vec::new())
    }

    pub fn push(&mut self, problem: impl Into<String>) {
        self.0.push(problem.into());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A required, non-blank string field (a `String`, or a `Cow<str>` borrowed from a body).
    pub fn required<S: AsRef<str> + Default>(
        &mut self,
        name: &str,
        value: Option<S>,
        max_len: usize,
    ) -> S {
        match value {
            Some(v) if !v.as_ref().trim().is_empty() => {
                self.max_len(name, v.as_ref(), max_len);
                v
            }
            Some(_) => {
                self.push(format!("{name} must not be empty"));
                S::default()
            }
            None => {
                self.push(format!("{name} is required"));
                S::default()
            }
        }
    }

    /// An optional string field: blank counts as absent.
    pub fn optional<S: AsRef<str>>(
        &mut self,
        name: &str,
        value: Option<S>,
        max_len: usize,
    ) -> Option<S> {
        let v = value.filter(|v| !v.as_ref().trim().is_empty())?;
        self.max_len(name, v.as_ref(), max_len);
        Some(v)
    }

    /// An optional string field kept exactly as sent, blank included (only its length is
    /// checked): what the client sent comes back as sent.
    pub fn as_sent<S: AsRef<str>>(
        &mut self,
        name: &str,
        value: Option<S>,
        max_len: usize,
    ) -> Option<S> {
        let v = value?;
        self.max_len(name, v.as_ref(), max_len);
        Some(v)
    }

    fn max_len(&mut self, name: &str, value: &str, max_len: usize) {
        // A string has no more characters than bytes: most need no counting.
        if value.len() > max_len && value.chars().count() > max_len {
            self.push(format!("{name} must be at most {max_len} characters"));
        }
    }

    /// Ends parsing: `Ok(value)` if nothing was wrong, else a 400 listing every problem.
    pub fn finish<T>(self, what: &str, value: T) -> Result<T, crate::domain::error::SimError> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(crate::domain::error::SimError::invalid_many(
                format!("invalid {what}"),
                self.0,
            ))
        }
    }
}

#[cfg(test)]
mod date_tests {
    #[test]
    fn dates_are_exactly_yyyy_mm_dd_and_real() {
        let d = |t: &str| super::parse_date(t).map(|d| d.to_string());
        assert_eq!(d("2024-02-29").as_deref(), Some("2024-02-29"));
        assert_eq!(d("2023-02-29"), None, "not a leap year");
        assert_eq!(d("2024-2-01"), None);
        assert_eq!(d("12024-02-01"), None, "five-digit year");
        assert_eq!(d("+2024-02-01"), None);
        assert_eq!(d("2024/02/01"), None);
        assert_eq!(d(""), None);
    }
}
