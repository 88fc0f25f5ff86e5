//! The Lexicon `datetime` format (lexicon.md, "datetime"): the intersection of RFC 3339,
//! ISO 8601 and WHATWG HTML.
//!
//! ```text
//! YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)
//! ```
//!
//! Tricky bits:
//! - Upper-case `T` and `Z` only; a timezone is required; `-00:00` is not allowed.
//! - Seconds are required; any number of fraction digits is allowed (the whole string is capped
//!   at 64 characters, as the Go reference does).
//! - The date and time must exist (no month 00, day 31 in April, hour 24 or second 60), and the
//!   instant, once moved to UTC, must not be before `0000-01-01T00:00:00Z`.
//! - The original string is kept, because re-formatting could change record bytes and CIDs.
//!   Equality is by string; ordering is by instant, then by string.

use std::cmp::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use super::{SyntaxError, SyntaxKind, string_type};

/// Most characters a datetime may have.
const MAX_LENGTH: usize = 64;
const SECONDS_PER_DAY: i64 = 86_400;
/// Unix seconds of `0000-01-01T00:00:00Z`, the earliest allowed instant.
const MIN_UNIX_SECONDS: i64 = -62_167_219_200;
/// Unix seconds of `10000-01-01T00:00:00Z`, just past the latest four-digit year.
const END_UNIX_SECONDS: i64 = 253_402_300_800;

/// A valid Lexicon datetime such as `1985-04-12T23:20:50.123Z`, kept as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Datetime(String, Instant);

/// A point in time: whole seconds since the Unix epoch (UTC) plus nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Instant {
    seconds: i64,
    nanos: u32,
}

string_type!(Datetime);

impl Datetime {
    /// Parse a datetime by the strict Lexicon rules (see the module documentation).
    pub fn parse(s: &str) -> Result<Datetime, SyntaxError> {
        let instant = parse_instant(s).map_err(|reason| SyntaxError::new(SyntaxKind::Datetime, s, reason))?;
        Ok(Datetime(s.to_owned(), instant))
    }

    /// The current time as `YYYY-MM-DDTHH:MM:SS.ffffffZ` (microsecond precision, UTC).
    pub fn now() -> Datetime {
        let micros = match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(after) => i64::try_from(after.as_micros()).unwrap_or(i64::MAX),
            Err(before) => i64::try_from(before.duration().as_micros()).map_or(i64::MIN, |m| -m),
        };
        // A system clock outside years 0..=9999 is clamped rather than failing.
        let micros = micros.clamp(MIN_UNIX_SECONDS * 1_000_000, END_UNIX_SECONDS * 1_000_000 - 1);
        format_micros(micros)
    }

    /// The datetime `micros` microseconds after the Unix epoch, formatted as
    /// `YYYY-MM-DDTHH:MM:SS.ffffffZ`. Fails outside years 0000 to 9999.
    pub fn from_unix_micros(micros: i64) -> Result<Datetime, SyntaxError> {
        let seconds = micros.div_euclid(1_000_000);
        if !(MIN_UNIX_SECONDS..END_UNIX_SECONDS).contains(&seconds) {
            let input = micros.to_string();
            return Err(SyntaxError::new(SyntaxKind::Datetime, &input, "outside years 0000 to 9999"));
        }
        Ok(format_micros(micros))
    }

    /// Whole seconds since the Unix epoch (negative before 1970).
    pub fn unix_seconds(&self) -> i64 {
        self.1.seconds
    }

    /// Nanoseconds past [`Datetime::unix_seconds`] (fraction digits past the ninth are dropped).
    pub fn subsec_nanos(&self) -> u32 {
        self.1.nanos
    }

    /// Microseconds since the Unix epoch (negative before 1970), rounded down.
    pub fn unix_micros(&self) -> i64 {
        self.1.seconds * 1_000_000 + i64::from(self.1.nanos / 1_000)
    }
}

impl PartialOrd for Datetime {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Datetime {
    /// By instant; two spellings of one instant are then ordered by their strings, so the order
    /// agrees with equality.
    fn cmp(&self, other: &Self) -> Ordering {
        self.1.cmp(&other.1).then_with(|| self.0.cmp(&other.0))
    }
}

/// Formats a microsecond timestamp already known to be within years 0000 to 9999.
fn format_micros(micros: i64) -> Datetime {
    let seconds = micros.div_euclid(1_000_000);
    let sub_micros = micros.rem_euclid(1_000_000);
    let days = seconds.div_euclid(SECONDS_PER_DAY);
    let of_day = seconds.rem_euclid(SECONDS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let text = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{sub_micros:06}Z",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    );
    let nanos = u32::try_from(sub_micros * 1_000).unwrap_or_default();
    Datetime(text, Instant { seconds, nanos })
}

fn parse_instant(s: &str) -> Result<Instant, &'static str> {
    let b = s.as_bytes();
    if b.len() > MAX_LENGTH {
        return Err("longer than 64 characters");
    }
    // Fixed layout up to the seconds: YYYY-MM-DDTHH:MM:SS
    if b.len() < 20 {
        return Err("too short for YYYY-MM-DDTHH:MM:SS and a timezone");
    }
    if b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return Err("must look like YYYY-MM-DDTHH:MM:SS");
    }
    if b[10] != b'T' {
        return Err("date and time must be separated by an upper-case T");
    }
    let field = |range: std::ops::Range<usize>| digits(&b[range]).ok_or("expected zero-padded digits");
    let year = field(0..4)?;
    let month = field(5..7)?;
    let day = field(8..10)?;
    let hour = field(11..13)?;
    let minute = field(14..16)?;
    let second = field(17..19)?;
    let mut pos = 19;
    let mut nanos = 0u32;
    if b[pos] == b'.' {
        pos += 1;
        let start = pos;
        while pos < b.len() && b[pos].is_ascii_digit() {
            if pos - start < 9 {
                nanos = nanos * 10 + u32::from(b[pos] - b'0');
            }
            pos += 1;
        }
        let count = pos - start;
        if count == 0 {
            return Err("a fraction needs at least one digit");
        }
        if count < 9 {
            nanos *= 10u32.pow(9 - count as u32);
        }
    }
    let offset_seconds = match &b[pos..] {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let hours = digits(&[*h1, *h2]).ok_or("timezone offset must be +HH:MM or -HH:MM")?;
            let minutes = digits(&[*m1, *m2]).ok_or("timezone offset must be +HH:MM or -HH:MM")?;
            if hours > 23 || minutes > 59 {
                return Err("timezone offset out of range");
            }
            let magnitude = i64::from(hours * 3600 + minutes * 60);
            if *sign == b'-' {
                if magnitude == 0 {
                    return Err("-00:00 is not allowed");
                }
                -magnitude
            } else {
                magnitude
            }
        }
        _ => return Err("timezone must be Z or +HH:MM / -HH:MM"),
    };
    if !(1..=12).contains(&month) {
        return Err("month out of range");
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err("day out of range");
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err("time of day out of range");
    }
    let days = days_from_civil(i64::from(year), month, day);
    let seconds = days * SECONDS_PER_DAY + i64::from(hour * 3600 + minute * 60 + second) - offset_seconds;
    if seconds < MIN_UNIX_SECONDS {
        return Err("before year 0000 once moved to UTC");
    }
    Ok(Instant { seconds, nanos })
}

/// The value of a run of ASCII digits (at most 4 here, so no overflow).
fn digits(bytes: &[u8]) -> Option<u32> {
    bytes.iter().try_fold(0u32, |acc, b| b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0')))
}

fn is_leap_year(year: u32) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date.
///
/// Counts in 400-year eras of 146 097 days, with years starting on 1 March so that the leap
/// day falls at the end of a year.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_from_march = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    // 719 468 days separate 0000-03-01 (the start of era 0) from 1970-01-01.
    era * 146_097 + day_of_era - 719_468
}

/// The proleptic Gregorian date `days` days after 1970-01-01 (inverse of [`days_from_civil`]).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_instants() {
        let cases = [
            ("1970-01-01T00:00:00Z", 0, 0),
            ("1985-04-12T23:20:50.123Z", 482_196_050, 123_000_000),
            ("1985-04-12T23:20:50.123-07:00", 482_196_050 + 7 * 3600, 123_000_000),
            ("2000-02-29T12:00:00.000000001+01:00", 951_822_000, 1),
            ("0000-01-01T00:00:00.000Z", MIN_UNIX_SECONDS, 0),
            ("9999-12-31T23:59:59.9999999999Z", END_UNIX_SECONDS - 1, 999_999_999),
        ];
        for (s, seconds, nanos) in cases {
            let dt = Datetime::parse(s).expect(s);
            assert_eq!((dt.unix_seconds(), dt.subsec_nanos()), (seconds, nanos), "{s}");
            assert_eq!(dt.as_str(), s);
        }
    }

    #[test]
    fn calendar_checks() {
        assert!(Datetime::parse("2000-02-29T00:00:00Z").is_ok());
        assert!(Datetime::parse("2024-02-29T00:00:00Z").is_ok());
        assert!(Datetime::parse("1900-02-29T00:00:00Z").is_err());
        assert!(Datetime::parse("2023-02-29T00:00:00Z").is_err());
        assert!(Datetime::parse("2023-04-31T00:00:00Z").is_err());
        assert!(Datetime::parse("2023-04-30T24:00:00Z").is_err());
        assert!(Datetime::parse("2023-04-30T23:59:60Z").is_err());
        assert!(Datetime::parse("2023-04-30T23:59:59+24:00").is_err());
        assert!(Datetime::parse("0000-01-01T00:59:59+01:00").is_err());
        assert!(Datetime::parse("0000-01-01T01:00:00+01:00").is_ok());
        assert!(Datetime::parse("1985-04-12T23:20:50.123+00:00").is_ok());
        assert!(Datetime::parse("1985-04-12T23:20:50.123-00:00").is_err());
    }

    #[test]
    fn ordering_is_by_instant() {
        let utc = Datetime::parse("1985-04-12T23:20:50Z").expect("valid");
        let east = Datetime::parse("1985-04-13T00:20:50+01:00").expect("valid");
        let later = Datetime::parse("1985-04-12T23:20:50.5Z").expect("valid");
        assert_ne!(utc, east);
        assert_eq!(utc.unix_seconds(), east.unix_seconds());
        assert!(utc < later && east < later);
    }

    #[test]
    fn now_is_well_formed() {
        let now = Datetime::now();
        assert_eq!(now.as_str().len(), "2026-01-01T00:00:00.000000Z".len());
        assert_eq!(Datetime::parse(now.as_str()).as_ref(), Ok(&now));
        assert!(now.unix_seconds() > 1_700_000_000);
    }

    #[test]
    fn from_unix_micros_bounds() {
        assert_eq!(Datetime::from_unix_micros(-1).map(|d| d.to_string()), Ok("1969-12-31T23:59:59.999999Z".to_owned()));
        assert!(Datetime::from_unix_micros(MIN_UNIX_SECONDS * 1_000_000).is_ok());
        assert!(Datetime::from_unix_micros(MIN_UNIX_SECONDS * 1_000_000 - 1).is_err());
        assert!(Datetime::from_unix_micros(END_UNIX_SECONDS * 1_000_000).is_err());
        assert!(Datetime::from_unix_micros(i64::MIN).is_err());
        assert!(Datetime::from_unix_micros(i64::MAX).is_err());
    }

    proptest! {
        #[test]
        fn civil_round_trip(days in (MIN_UNIX_SECONDS / SECONDS_PER_DAY)..(END_UNIX_SECONDS / SECONDS_PER_DAY)) {
            let (year, month, day) = civil_from_days(days);
            prop_assert!((1..=12).contains(&month));
            prop_assert!(day >= 1 && day <= days_in_month(year as u32, month));
            prop_assert_eq!(days_from_civil(year, month, day), days);
        }

        #[test]
        fn formatted_micros_parse_back(micros in (MIN_UNIX_SECONDS * 1_000_000)..(END_UNIX_SECONDS * 1_000_000)) {
            let dt = Datetime::from_unix_micros(micros).expect("in range");
            let parsed = Datetime::parse(dt.as_str()).expect("formatted datetimes are valid");
            prop_assert_eq!(parsed.unix_micros(), micros);
            prop_assert_eq!(parsed, dt);
        }
    }
}
