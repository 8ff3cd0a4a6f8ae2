//! The test clock. Each tenant's "now" is `--start-time` (default: the real time at start-up)
//! plus the wall time elapsed since start-up plus whatever the tenant advanced. Quote expiry and
//! settlement read this clock, so tests move time instead of sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

use chrono::{DateTime, TimeZone, Utc};

/// Milliseconds since the Unix epoch: how instants are stored (8 bytes, ordered, exact).
pub type Millis = i64;

/// The earliest instant a test clock shows: 1970-01-01T00:00:00Z.
pub const MIN_TIME: Millis = 0;
/// The latest instant a test clock shows: 9999-12-31T23:59:59Z. Past it, RFC 3339 needs a
/// five-digit year that no client parses (a clock once advanced there answered `"+10000-…"`,
/// then `""`).
pub const MAX_TIME: Millis = 253_402_300_799_000;

/// The process-wide origin of every tenant clock.
#[derive(Clone, Copy, Debug)]
pub struct ClockOrigin {
    start: Millis,
    started: Instant,
}

impl ClockOrigin {
    pub fn new(start_time: Option<DateTime<Utc>>) -> Self {
        let start = start_time.unwrap_or_else(Utc::now).timestamp_millis();
        ClockOrigin {
            start,
            started: Instant::now(),
        }
    }

    fn elapsed_now(&self) -> Millis {
        self.start + i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX / 2)
    }
}

/// One tenant's clock: the shared origin plus the tenant's own advances.
#[derive(Debug)]
pub struct TenantClock {
    origin: ClockOrigin,
    offset: AtomicI64,
}

impl TenantClock {
    pub fn new(origin: ClockOrigin) -> Self {
        TenantClock {
            origin,
            offset: AtomicI64::new(0),
        }
    }

    /// Now on this tenant's clock, always within [`MIN_TIME`]..=[`MAX_TIME`].
    pub fn now(&self) -> Millis {
        self.origin
            .elapsed_now()
            .saturating_add(self.offset.load(Ordering::Relaxed))
            .clamp(MIN_TIME, MAX_TIME)
    }

    /// Moves this tenant's time forward; returns the new now, or `Err(MAX_TIME)` (and moves
    /// nothing) when that would pass the year 9999.
    pub fn advance(&self, seconds: i64) -> Result<Millis, Millis> {
        let by = seconds.saturating_mul(1000);
        self.offset
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |offset| {
                let moved = offset.saturating_add(by);
                let now = self.origin.elapsed_now().saturating_add(moved);
                (now <= MAX_TIME).then_some(moved)
            })
            .map_err(|_| MAX_TIME)?;
        Ok(self.now())
    }

    /// Sets this clock to read `at` now (a restored snapshot's reading); it runs on from there
    /// with the wall clock.
    pub fn set_now(&self, at: Millis) {
        let at = at.clamp(MIN_TIME, MAX_TIME);
        self.offset.store(
            at.saturating_sub(self.origin.elapsed_now()),
            Ordering::Relaxed,
        );
    }

    /// Back to the shared origin (what `reset` does).
    pub fn reset(&self) {
        self.offset.store(0, Ordering::Relaxed);
    }
}

/// RFC 3339 in UTC with a `Z` and whole seconds, as MassPay's samples show instants.
pub fn format(ms: Millis) -> String {
    TimeText::new(ms).to_string()
}

/// An instant as [`format`] writes it, `YYYY-MM-DDTHH:MM:SSZ`, without allocating: the answers
/// of the payout path and of users carry two or three. An instant derived from the clock (now
/// plus a quote's TTL) may pass the year 9999 by a little: it shows as the last instant
/// (between [`MIN_TIME`] and [`MAX_TIME`] the year has four digits).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TimeText([u8; 20]);

impl TimeText {
    pub fn new(ms: Millis) -> Self {
        use chrono::{Datelike, Timelike};
        let t = Utc
            .timestamp_millis_opt(ms.clamp(MIN_TIME, MAX_TIME))
            .single()
            .unwrap_or_default();
        let mut text = *b"0000-00-00T00:00:00Z";
        let fields = [
            (0, 4, t.year().unsigned_abs()),
            (5, 2, t.month()),
            (8, 2, t.day()),
            (11, 2, t.hour()),
            (14, 2, t.minute()),
            (17, 2, t.second()),
        ];
        for (at, digits, mut value) in fields {
            for d in text[at..at + digits].iter_mut().rev() {
                *d = b'0' + (value % 10) as u8;
                value /= 10;
            }
        }
        TimeText(text)
    }

    pub fn as_str(&self) -> &str {
        // Digits and separators only: always UTF-8.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl std::ops::Deref for TimeText {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Display for TimeText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for TimeText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl serde::Serialize for TimeText {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The calendar date (`YYYY-MM-DD`) of an instant, UTC.
pub fn date(ms: Millis) -> chrono::NaiveDate {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.date_naive())
        .unwrap_or_default()
}

/// Parses `--start-time` (years 1970 to 9999).
pub fn parse_rfc3339(text: &str) -> Result<DateTime<Utc>, String> {
    let t = DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            format!("{text:?} is not an RFC 3339 time (e.g. 2026-01-01T00:00:00Z): {e}")
        })?;
    if !(MIN_TIME..=MAX_TIME).contains(&t.timestamp_millis()) {
        return Err(format!(
            "{text:?} is outside the test clock's range, 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z"
        ));
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_text_writes_what_chrono_writes() {
        use chrono::{SecondsFormat, TimeZone, Utc};
        let chrono = |ms: Millis| {
            Utc.timestamp_millis_opt(ms.clamp(MIN_TIME, MAX_TIME))
                .unwrap()
                .to_rfc3339_opts(SecondsFormat::Secs, true)
        };
        let mut cases = vec![
            MIN_TIME,
            MIN_TIME - 1,
            i64::MIN,
            MAX_TIME,
            MAX_TIME + 1,
            i64::MAX,
            951_782_400_999, // 2000-02-29T00:00:00.999Z
            1_764_633_599_000,
        ];
        // Every few hours and seconds over the years, both sides of leap days.
        let mut ms = 0i64;
        while ms < MAX_TIME {
            cases.push(ms);
            ms += 7_919_999_937;
        }
        for ms in cases {
            assert_eq!(format(ms), chrono(ms), "{ms}");
            assert_eq!(TimeText::new(ms).as_str(), chrono(ms), "{ms}");
        }
    }

    #[test]
    fn advance_moves_only_this_tenant() {
        let origin = ClockOrigin::new(Some(parse_rfc3339("2026-01-01T00:00:00Z").unwrap()));
        let a = TenantClock::new(origin);
        let b = TenantClock::new(origin);
        let before = b.now();
        a.advance(3600).unwrap();
        assert!(a.now() - b.now() >= 3_599_000);
        assert!(b.now() - before < 1000);
        a.reset();
        assert!((a.now() - b.now()).abs() < 1000);
        assert_eq!(a.advance(i64::MAX), Err(MAX_TIME), "past the year 9999");
        assert!(a.now() - b.now() < 1000, "a refused advance moves nothing");
        assert_eq!(
            format(
                parse_rfc3339("2026-01-01T00:00:00Z")
                    .unwrap()
                    .timestamp_millis()
            ),
            "2026-01-01T00:00:00Z"
        );
    }
}
