//! Exact decimal money: parsing amounts from JSON text, rounding per currency, and writing them
//! back as JSON numbers.
//!
//! Amounts never pass through `f64`. A request amount is read from the JSON number's own text,
//! rounded to 15 significant digits (what a JavaScript client's double can mean), and must then
//! fit the currency's precision. Responses write the normalised decimal text as a JSON number.

use std::fmt;
use std::ops::{Div, Rem};
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

/// Significant digits a JSON number from a double-based client can carry meaningfully.
const SIGNIFICANT_DIGITS: u32 = 15;

/// An exact amount, serialised as a JSON number (never a string, never through `f64`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(pub Decimal);

impl Amount {
    pub const ZERO: Amount = Amount(Decimal::ZERO);

    pub fn value(self) -> Decimal {
        self.0
    }
}

impl From<Decimal> for Amount {
    fn from(d: Decimal) -> Self {
        Amount(d)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(DecimalText::new(self.0).as_str())
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = DecimalText::new(self.0);
        RawNumber(text.as_str()).serialize(serializer)
    }
}

/// A JSON number's text written as is. This is how `serde_json::value::RawValue` serialises
/// itself (a one-field struct under serde_json's raw-value token, which serde_json's serializer
/// writes verbatim); going through `RawValue` would re-parse the text for every amount, a
/// measurable share of answering `GET /account/balance`. The text comes from [`DecimalText`],
/// always a valid JSON number; `tests::amounts_are_bare_json_numbers` pins the wire form.
struct RawNumber<'a>(&'a str);

const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

impl Serialize for RawNumber<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let mut s = serializer.serialize_struct(RAW_VALUE_TOKEN, 1)?;
        s.serialize_field(RAW_VALUE_TOKEN, self.0)?;
        s.end()
    }
}

/// A decimal's normalised text (what `d.normalize().to_string()` prints: no exponent, no
/// trailing zeros) in a stack buffer, written digit by digit from the right: amounts are in most
/// answers, and the formatter machinery behind `Display` cost several times more. Trailing zeros
/// are dropped in 64-bit arithmetic when the mantissa fits (every realistic amount), not by
/// `Decimal::normalize`'s 96-bit divisions.
pub struct DecimalText {
    bytes: [u8; 64],
    start: usize,
}

impl DecimalText {
    pub fn new(d: Decimal) -> Self {
        let mut out = DecimalText {
            bytes: [0; 64],
            start: 64,
        };
        let magnitude = d.mantissa().unsigned_abs();
        let scale = d.scale() as usize;
        match u64::try_from(magnitude) {
            Ok(small) => out.digits(small, scale),
            Err(_) => out.digits(magnitude, scale),
        }
        // `-0` (a zero mantissa) prints as `0`, as `normalize` makes it.
        if d.mantissa() < 0 {
            out.push(b'-');
        }
        out
    }

    /// Writes `v / 10^scale` without trailing zeros (at least one digit before the point).
    fn digits<T>(&mut self, mut v: T, mut scale: usize)
    where
        T: Copy + PartialEq + From<u8> + TryInto<u8> + Rem<Output = T> + Div<Output = T>,
    {
        let (zero, ten) = (T::from(0), T::from(10));
        if v == zero {
            self.push(b'0');
            return;
        }
        while scale > 0 && v % ten == zero {
            v = v / ten;
            scale -= 1;
        }
        let mut written = 0;
        loop {
            if written == scale && scale > 0 {
                self.push(b'.');
            }
            self.push(b'0' + (v % ten).try_into().unwrap_or(0));
            v = v / ten;
            written += 1;
            if v == zero && written > scale {
                break;
            }
        }
    }

    fn push(&mut self, b: u8) {
        // At most a sign, 29 digits, a point and 28 leading zeros: 59 < 64.
        if self.start > 0 {
            self.start -= 1;
            self.bytes[self.start] = b;
        }
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or("0")
    }

    /// The text's bytes (ASCII), for writers of bytes: no UTF-8 check.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[self.start..]
    }
}

/// Parses the text of a JSON value holding a number (or, for fixtures, a numeric string) into an
/// exact decimal, without a floating-point round trip.
pub fn decimal_from_json_text(text: &str, allow_string: bool) -> Result<Decimal, String> {
    let text = text.trim();
    let numeric = if let Some(inner) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        if !allow_string {
            return Err("must be a JSON number, not a string".into());
        }
        inner.trim()
    } else {
        text
    };
    let first = numeric.chars().next();
    if !matches!(first, Some('-' | '0'..='9')) {
        return Err("must be a number".into());
    }
    let parsed = if numeric.contains(['e', 'E']) {
        Decimal::from_scientific(numeric)
    } else {
        Decimal::from_str(numeric)
    };
    parsed.map_err(|_| "is not a number this API can represent (too large or too precise)".into())
}

/// Rounds a request amount to the significant digits a double-based client can mean.
pub fn round_client_amount(d: Decimal) -> Decimal {
    d.round_sf_with_strategy(SIGNIFICANT_DIGITS, RoundingStrategy::MidpointAwayFromZero)
        .unwrap_or(d)
        .normalize()
}

/// Rounds a derived amount half-up to `precision` decimal places.
pub fn round_to_precision(d: Decimal, precision: u32) -> Decimal {
    d.round_dp_with_strategy(precision, RoundingStrategy::MidpointAwayFromZero)
        .normalize()
}

/// Does `d` need no more than `precision` decimal places?
pub fn fits_precision(d: Decimal, precision: u32) -> bool {
    d.normalize().scale() <= precision
}

/// Reads a request amount: a JSON number (not a string), rounded to 15 significant digits, then
/// positive and within `precision` decimals. The error names the field.
pub fn parse_request_amount(name: &str, raw: &RawValue, precision: u32) -> Result<Decimal, String> {
    let d = decimal_from_json_text(raw.get(), false).map_err(|e| format!("{name} {e}"))?;
    let d = round_client_amount(d);
    if d <= Decimal::ZERO {
        return Err(format!("{name} must be greater than zero"));
    }
    check_max_amount(name, d)?;
    if !fits_precision(d, precision) {
        return Err(format!("{name} has more than {precision} decimal places"));
    }
    Ok(d)
}

/// Refuses an amount above [`MAX_AMOUNT`](crate::limits::MAX_AMOUNT); the error names the field.
pub fn check_max_amount(name: &str, d: Decimal) -> Result<(), String> {
    if d > crate::limits::MAX_AMOUNT {
        return Err(format!(
            "{name} must be at most {} (the largest amount this API accepts)",
            crate::limits::MAX_AMOUNT
        ));
    }
    Ok(())
}

/// Reads an optional amount from a query parameter (`amount`, `limit`, …): plain decimal
/// digits, rounded like a body amount, positive and at most
/// [`MAX_AMOUNT`](crate::limits::MAX_AMOUNT). Blank counts as absent.
pub fn parse_query_amount(name: &str, value: Option<&str>) -> Result<Option<Decimal>, String> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let valid = v.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && v.bytes().filter(|b| *b == b'.').count() <= 1;
    let parsed = valid
        .then(|| v.parse::<Decimal>().ok())
        .flatten()
        .map(round_client_amount)
        .filter(|d| *d > Decimal::ZERO);
    let d = parsed
        .ok_or_else(|| format!("query parameter {name} must be a positive number, not {v:?}"))?;
    check_max_amount(&format!("query parameter {name}"), d)?;
    Ok(Some(d))
}

/// Serde helper for fixture files: accepts a JSON number or a numeric string, read exactly.
pub fn deserialize_fixture_decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    let raw = Box::<RawValue>::deserialize(d)?;
    decimal_from_json_text(raw.get(), true).map_err(serde::de::Error::custom)
}

/// Serde helper for optional fixture decimals.
pub fn deserialize_fixture_decimal_opt<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Decimal>, D::Error> {
    let raw = Option::<Box<RawValue>>::deserialize(d)?;
    match raw {
        None => Ok(None),
        Some(raw) if raw.get() == "null" => Ok(None),
        Some(raw) => decimal_from_json_text(raw.get(), true)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

/// In the OpenAPI document an amount is a JSON number (it is written exactly, never as a string).
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Amount {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::SchemaType::Type(
                utoipa::openapi::schema::Type::Number,
            ))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Amount {}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    proptest::proptest! {
        #[test]
        fn decimal_text_is_display_of_the_normalised_value(
            lo in proptest::num::u32::ANY,
            mid in proptest::num::u32::ANY,
            hi in proptest::num::u32::ANY,
            negative in proptest::bool::ANY,
            scale in 0u32..=28,
            small in proptest::bool::ANY,
        ) {
            let d = if small {
                Decimal::new(i64::from(lo) * if negative { -1 } else { 1 }, scale)
            } else {
                Decimal::from_parts(lo, mid, hi, negative, scale)
            };
            let text = DecimalText::new(d);
            proptest::prop_assert_eq!(text.as_str(), d.normalize().to_string());
        }
    }

    #[test]
    fn amounts_are_bare_json_numbers() {
        let amounts = [
            Amount(dec("250000.00")),
            Amount(dec("-0.000000000000000001")),
            Amount(dec("1.938135")),
            Amount(dec("79228162514264337593543950335")),
        ];
        assert_eq!(
            serde_json::to_string(&amounts).unwrap(),
            "[250000,-0.000000000000000001,1.938135,79228162514264337593543950335]"
        );
        let value: serde_json::Value = serde_json::to_value(Amount(dec("100.50"))).unwrap();
        assert_eq!(value, serde_json::json!(100.5));
    }

    #[test]
    fn reads_numbers_exactly_from_their_text() {
        assert_eq!(
            decimal_from_json_text("100.5", false).unwrap(),
            dec("100.5")
        );
        assert_eq!(decimal_from_json_text("1e2", false).unwrap(), dec("100"));
        assert_eq!(decimal_from_json_text("0.1", false).unwrap(), dec("0.1"));
        assert!(decimal_from_json_text("\"1.5\"", false).is_err());
        assert_eq!(decimal_from_json_text("\"1.5\"", true).unwrap(), dec("1.5"));
        assert!(decimal_from_json_text("1e400", false).is_err());
        assert!(decimal_from_json_text("true", false).is_err());
    }

    #[test]
    fn amounts_above_the_maximum_are_refused_naming_the_field() {
        let raw = |t: &str| RawValue::from_string(t.to_string()).unwrap();
        for text in ["1e28", "7.9e28", "1000000000000010", "1e16"] {
            let e = parse_request_amount("source_amount", &raw(text), 2).unwrap_err();
            assert!(
                e.starts_with("source_amount must be at most"),
                "{text}: {e}"
            );
        }
        assert!(parse_request_amount("amount", &raw("1e15"), 2).is_ok());
        assert!(parse_request_amount("amount", &raw("-1e28"), 2).is_err());
        assert!(parse_request_amount("amount", &raw("1e400"), 2).is_err());
        let e = parse_query_amount("amount", Some("79000000000000000000000000000")).unwrap_err();
        assert!(e.contains("query parameter amount must be at most"), "{e}");
        assert_eq!(
            parse_query_amount("limit", Some(" 100 ")).unwrap(),
            Some(dec("100"))
        );
        assert_eq!(parse_query_amount("limit", Some("")).unwrap(), None);
        assert!(parse_query_amount("limit", Some("7.9e28")).is_err());
    }

    #[test]
    fn client_amounts_round_to_fifteen_significant_digits() {
        // 0.1 + 0.2 as a JavaScript client prints it.
        assert_eq!(round_client_amount(dec("0.30000000000000004")), dec("0.3"));
        assert_eq!(round_client_amount(dec("100.50")), dec("100.5"));
    }

    #[test]
    fn precision_and_rounding() {
        assert!(fits_precision(dec("10.10"), 2));
        assert!(!fits_precision(dec("10.101"), 2));
        assert_eq!(round_to_precision(dec("0.125"), 2), dec("0.13"));
        assert_eq!(round_to_precision(dec("0.124"), 2), dec("0.12"));
    }

    #[test]
    fn serialises_as_a_plain_json_number() {
        let json = serde_json::to_string(&Amount(dec("0.00001050"))).unwrap();
        assert_eq!(json, "0.0000105");
        let json = serde_json::to_string(&Amount(dec("1234567890.123456789012345678"))).unwrap();
        assert_eq!(json, "1234567890.123456789012345678");
    }
}
