//! CRM timestamps → RFC 3339 UTC (`YYYY-MM-DDTHH:MM:SS[.mmm]Z`).
//!
//! Every change carries `source-updated-at` in UTC so the host can order changes
//! to one contact ("newest wins"). CRMs each write time their own way:
//! ServiceNow `2015-11-01 22:37:27` (UTC, no zone), Salesforce
//! `2026-10-09T12:34:56.000+0000` (no colon in the offset, which RFC 3339 parsers
//! reject), CDC `commitTimestamp` in epoch milliseconds.
//!
//! Hand-written rather than chrono: the inputs are a handful of fixed formats,
//! and keeping chrono out of every guest keeps plugins small. Calendar math uses
//! Howard Hinnant's `days_from_civil`/`civil_from_days`; all fields are range
//! checked (months, days per month with leap years, 24h clock, years 1..=9999).
//! Fractions are kept to milliseconds (further digits are truncated).

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

/// Why a timestamp could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeError {
    /// Human-readable reason quoting the input and the expected format.
    pub message: String,
}

impl fmt::Display for TimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TimeError {}

fn err(input: &str, expected: &str, why: &str) -> TimeError {
    TimeError {
        message: format!("{input:?} is not a valid {expected} timestamp: {why}"),
    }
}

/// A supported timestamp format, as named in plugin configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampFormat {
    /// `rfc3339`: `2026-10-09T12:34:56Z`, any offset (`+02:00`, also `+0200`), optional fraction.
    Rfc3339,
    /// `epoch_ms`: milliseconds since 1970-01-01T00:00:00Z (JSON number or digit string).
    EpochMs,
    /// `epoch_s`: seconds since 1970-01-01T00:00:00Z (JSON number or digit string).
    EpochS,
    /// `%Y-%m-%d %H:%M:%S`, UTC (ServiceNow's database format).
    SpaceSeparatedUtc,
    /// `%Y-%m-%dT%H:%M:%S`, UTC, no zone.
    TSeparatedUtc,
    /// `%Y-%m-%d`: a date, taken as midnight UTC.
    DateUtc,
}

impl TimestampFormat {
    /// Every accepted configuration spelling, for error messages and schemas.
    pub const NAMES: [&'static str; 6] = [
        "rfc3339",
        "epoch_ms",
        "epoch_s",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d",
    ];

    /// Read a JSON value in this format and return RFC 3339 UTC.
    pub fn parse_value(self, value: &Value) -> Result<String, TimeError> {
        match (self, value) {
            (Self::EpochMs | Self::EpochS, Value::Number(n)) => {
                let n = n
                    .as_i64()
                    .ok_or_else(|| err(&n.to_string(), self.name(), "expected a whole number"))?;
                self.parse_epoch(n, &n.to_string())
            }
            (Self::EpochMs | Self::EpochS, Value::String(s)) => {
                let n: i64 = s
                    .trim()
                    .parse()
                    .map_err(|_| err(s, self.name(), "expected a whole number"))?;
                self.parse_epoch(n, s)
            }
            (_, Value::String(s)) => match self {
                Self::Rfc3339 => rfc3339_to_utc(s),
                Self::SpaceSeparatedUtc => servicenow_datetime(s),
                Self::TSeparatedUtc => parse(s, self.name(), b"T", Fraction::Forbidden, Zone::None),
                Self::DateUtc => date_utc(s),
                Self::EpochMs | Self::EpochS => unreachable!("handled above"),
            },
            (_, other) => Err(err(
                &other.to_string(),
                self.name(),
                &format!("expected a string, got {}", crate::json::type_name(other)),
            )),
        }
    }

    fn parse_epoch(self, n: i64, input: &str) -> Result<String, TimeError> {
        let ms = match self {
            Self::EpochS => n.checked_mul(1000),
            _ => Some(n),
        };
        ms.and_then(|ms| format_unix_ms(ms).ok())
            .ok_or_else(|| err(input, self.name(), "outside years 1..=9999"))
    }

    /// The configuration spelling of this format.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rfc3339 => Self::NAMES[0],
            Self::EpochMs => Self::NAMES[1],
            Self::EpochS => Self::NAMES[2],
            Self::SpaceSeparatedUtc => Self::NAMES[3],
            Self::TSeparatedUtc => Self::NAMES[4],
            Self::DateUtc => Self::NAMES[5],
        }
    }
}

impl FromStr for TimestampFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "rfc3339" => Ok(Self::Rfc3339),
            "epoch_ms" => Ok(Self::EpochMs),
            "epoch_s" => Ok(Self::EpochS),
            "%Y-%m-%d %H:%M:%S" => Ok(Self::SpaceSeparatedUtc),
            "%Y-%m-%dT%H:%M:%S" => Ok(Self::TSeparatedUtc),
            "%Y-%m-%d" => Ok(Self::DateUtc),
            other => Err(format!(
                "unsupported timestamp format {other:?}; expected one of {}",
                Self::NAMES.join(", ")
            )),
        }
    }
}

/// ServiceNow `YYYY-MM-DD HH:MM:SS` (UTC database value) → RFC 3339 UTC.
pub fn servicenow_datetime(s: &str) -> Result<String, TimeError> {
    parse(
        s,
        "YYYY-MM-DD HH:MM:SS",
        b" ",
        Fraction::Forbidden,
        Zone::None,
    )
}

/// Salesforce `2026-10-09T12:34:56.000+0000` (also `Z` or `+HH:MM`) → RFC 3339 UTC.
pub fn salesforce_datetime(s: &str) -> Result<String, TimeError> {
    parse(
        s,
        "Salesforce datetime",
        b"T",
        Fraction::Optional,
        Zone::Required,
    )
}

/// Any RFC 3339 date-time (`T`, `t` or space separator, `Z` or an offset) → UTC `Z`.
pub fn rfc3339_to_utc(s: &str) -> Result<String, TimeError> {
    parse(s, "RFC 3339", b"Tt ", Fraction::Optional, Zone::Required)
}

/// Milliseconds since the Unix epoch (e.g. a CDC `commitTimestamp`) → RFC 3339 UTC.
pub fn epoch_ms(ms: i64) -> Result<String, TimeError> {
    format_unix_ms(ms).map_err(|why| err(&ms.to_string(), "epoch milliseconds", why))
}

fn date_utc(s: &str) -> Result<String, TimeError> {
    let b = s.as_bytes();
    let (y, mo, d) = parse_date(b).ok_or_else(|| err(s, "YYYY-MM-DD", "expected YYYY-MM-DD"))?;
    if b.len() != 10 {
        return Err(err(s, "YYYY-MM-DD", "unexpected text after the date"));
    }
    check_date(y, mo, d).map_err(|why| err(s, "YYYY-MM-DD", why))?;
    format_unix_ms(days_from_civil(y, mo, d) * 86_400_000).map_err(|why| err(s, "YYYY-MM-DD", why))
}

#[derive(Clone, Copy)]
enum Fraction {
    Forbidden,
    Optional,
}

#[derive(Clone, Copy)]
enum Zone {
    /// No zone allowed: the value is UTC.
    None,
    /// `Z`/`z`, `±HH:MM` or `±HHMM` required.
    Required,
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<i64> {
    let slice = b.get(at..at + n)?;
    slice.iter().try_fold(0i64, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
    })
}

fn parse_date(b: &[u8]) -> Option<(i64, i64, i64)> {
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    Some((digits(b, 0, 4)?, digits(b, 5, 2)?, digits(b, 8, 2)?))
}

fn check_date(y: i64, mo: i64, d: i64) -> Result<(), &'static str> {
    if y < 1 {
        return Err("year must be 1..=9999");
    }
    if !(1..=12).contains(&mo) {
        return Err("month must be 01..=12");
    }
    if d < 1 || d > days_in_month(y, mo) {
        return Err("day is outside the month");
    }
    Ok(())
}

fn parse(
    s: &str,
    expected: &str,
    separators: &[u8],
    fraction: Fraction,
    zone: Zone,
) -> Result<String, TimeError> {
    let b = s.as_bytes();
    let shape = || err(s, expected, "wrong shape");
    let (y, mo, d) = parse_date(b).ok_or_else(shape)?;
    if !b.get(10).is_some_and(|c| separators.contains(c))
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
    {
        return Err(shape());
    }
    let (h, mi, sec) = (
        digits(b, 11, 2).ok_or_else(shape)?,
        digits(b, 14, 2).ok_or_else(shape)?,
        digits(b, 17, 2).ok_or_else(shape)?,
    );
    check_date(y, mo, d).map_err(|why| err(s, expected, why))?;
    if h > 23 || mi > 59 || sec > 59 {
        return Err(err(s, expected, "time of day out of range"));
    }
    let mut at = 19;
    let mut millis = 0;
    if b.get(at) == Some(&b'.') {
        if matches!(fraction, Fraction::Forbidden) {
            return Err(err(s, expected, "fractional seconds are not expected"));
        }
        let start = at + 1;
        at = start;
        while b.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
        if at == start {
            return Err(err(s, expected, "no digits after '.'"));
        }
        let kept = (at - start).min(3);
        millis = digits(b, start, kept).ok_or_else(shape)? * 10i64.pow(3 - kept as u32);
    }
    let offset_min = match zone {
        Zone::None => 0,
        Zone::Required => match b.get(at) {
            Some(b'Z' | b'z') => {
                at += 1;
                0
            }
            Some(&sign @ (b'+' | b'-')) => {
                let oh = digits(b, at + 1, 2).ok_or_else(shape)?;
                let colon = usize::from(b.get(at + 3) == Some(&b':'));
                let om = digits(b, at + 3 + colon, 2).ok_or_else(shape)?;
                if oh > 23 || om > 59 {
                    return Err(err(s, expected, "zone offset out of range"));
                }
                at += 5 + colon;
                let total = oh * 60 + om;
                if sign == b'-' { -total } else { total }
            }
            _ => return Err(err(s, expected, "missing zone (Z or +HH:MM)")),
        },
    };
    if at != b.len() {
        return Err(err(s, expected, "unexpected text at the end"));
    }
    let unix_s = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset_min * 60;
    format_unix_ms(unix_s * 1000 + millis).map_err(|why| err(s, expected, why))
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01 (Hinnant).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn format_unix_ms(ms: i64) -> Result<String, &'static str> {
    let days = ms.div_euclid(86_400_000);
    let rest = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    if !(1..=9999).contains(&y) {
        return Err("outside years 1..=9999");
    }
    let (secs, millis) = (rest / 1000, rest % 1000);
    let (h, mi, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    // Written digit by digit: every mapped record formats its time, and
    // `format!`'s padding machinery was a measurable share of a guest's time.
    let mut out = String::with_capacity(24);
    let digits = |out: &mut String, value: i64, width: u32| {
        for place in (0..width).rev() {
            let digit = (value / 10_i64.pow(place) % 10) as u8;
            out.push(char::from(b'0' + digit));
        }
    };
    for (value, width, after) in [
        (y, 4, '-'),
        (m, 2, '-'),
        (d, 2, 'T'),
        (h, 2, ':'),
        (mi, 2, ':'),
    ] {
        digits(&mut out, value, width);
        out.push(after);
    }
    digits(&mut out, s, 2);
    if millis != 0 {
        out.push('.');
        digits(&mut out, millis, 3);
    }
    out.push('Z');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_as_format_writes_them() {
        let mut ms: i64 = -62_135_596_800_000; // 0001-01-01T00:00:00Z
        while ms < 253_402_300_800_000 {
            let days = ms.div_euclid(86_400_000);
            let rest = ms.rem_euclid(86_400_000);
            let (y, m, d) = civil_from_days(days);
            let (secs, millis) = (rest / 1000, rest % 1000);
            let (h, mi, s) = (secs / 3600, secs / 60 % 60, secs % 60);
            let want = if millis == 0 {
                format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
            } else {
                format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{millis:03}Z")
            };
            assert_eq!(format_unix_ms(ms).unwrap(), want);
            ms += 7_777_777_777_777 / 997 + 1; // a stride that visits every field's digits
        }
        assert!(format_unix_ms(253_402_300_800_000).is_err());
        assert!(format_unix_ms(-62_135_596_800_001).is_err());
    }
    use serde_json::json;

    #[test]
    fn servicenow() {
        assert_eq!(
            servicenow_datetime("2015-11-01 22:37:27").unwrap(),
            "2015-11-01T22:37:27Z"
        );
        assert_eq!(
            servicenow_datetime("2024-02-29 00:00:00").unwrap(),
            "2024-02-29T00:00:00Z"
        );
        for bad in [
            "2023-02-29 00:00:00",
            "2015-13-01 22:37:27",
            "2015-11-01 24:00:00",
            "2015-11-01T22:37:27",
            "16/04/2025 17:52:19",
            "2015-11-01 22:37:27.5",
            "",
            "2015-11-01 22:37:27 ",
        ] {
            let e = servicenow_datetime(bad).expect_err(bad);
            assert!(e.message.contains(&format!("{bad:?}")), "{}", e.message);
        }
    }

    #[test]
    fn salesforce() {
        assert_eq!(
            salesforce_datetime("2026-10-09T12:34:56.000+0000").unwrap(),
            "2026-10-09T12:34:56Z"
        );
        assert_eq!(
            salesforce_datetime("2026-10-09T12:34:56.120+0000").unwrap(),
            "2026-10-09T12:34:56.120Z"
        );
        assert_eq!(
            salesforce_datetime("2026-10-09T00:30:00.000+0100").unwrap(),
            "2026-10-08T23:30:00Z"
        );
        assert_eq!(
            salesforce_datetime("2026-10-09T12:34:56Z").unwrap(),
            "2026-10-09T12:34:56Z"
        );
        assert!(salesforce_datetime("2026-10-09T12:34:56.000").is_err());
        assert!(salesforce_datetime("2026-10-09 12:34:56.000+0000").is_err());
    }

    #[test]
    fn rfc3339_offsets_cross_days_and_years() {
        assert_eq!(
            rfc3339_to_utc("2025-12-31T23:30:00-01:00").unwrap(),
            "2026-01-01T00:30:00Z"
        );
        assert_eq!(
            rfc3339_to_utc("2026-03-01t01:00:00.123456+02:00").unwrap(),
            "2026-02-28T23:00:00.123Z"
        );
        assert_eq!(
            rfc3339_to_utc("2024-03-01 00:00:00z").unwrap(),
            "2024-03-01T00:00:00Z"
        );
        assert!(rfc3339_to_utc("2026-03-01T01:00:00+24:00").is_err());
        assert!(rfc3339_to_utc("2026-03-01T01:00:00").is_err());
    }

    #[test]
    fn epochs() {
        assert_eq!(epoch_ms(0).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(
            epoch_ms(1_760_013_296_789).unwrap(),
            "2025-10-09T12:34:56.789Z"
        );
        assert_eq!(epoch_ms(-1).unwrap(), "1969-12-31T23:59:59.999Z");
        assert!(epoch_ms(i64::MAX).is_err());
        assert_eq!(
            TimestampFormat::EpochS
                .parse_value(&json!(1_760_013_296))
                .unwrap(),
            "2025-10-09T12:34:56Z"
        );
        assert_eq!(
            TimestampFormat::EpochMs
                .parse_value(&json!("1760013296789"))
                .unwrap(),
            "2025-10-09T12:34:56.789Z"
        );
        assert!(TimestampFormat::EpochS.parse_value(&json!(1.5)).is_err());
        assert!(
            TimestampFormat::EpochS
                .parse_value(&json!(i64::MAX))
                .is_err()
        );
    }

    #[test]
    fn round_trips_every_day_of_a_leap_cycle() {
        for day in -800..(366 * 4 + 800) {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
            assert!(check_date(y, m, d).is_ok());
        }
    }

    #[test]
    fn configured_formats() {
        let f: TimestampFormat = "%Y-%m-%d".parse().unwrap();
        assert_eq!(
            f.parse_value(&json!("2026-01-02")).unwrap(),
            "2026-01-02T00:00:00Z"
        );
        let f: TimestampFormat = "%Y-%m-%dT%H:%M:%S".parse().unwrap();
        assert_eq!(
            f.parse_value(&json!("2026-01-02T03:04:05")).unwrap(),
            "2026-01-02T03:04:05Z"
        );
        assert!(
            f.parse_value(&json!(5))
                .unwrap_err()
                .message
                .contains("expected a string")
        );
        assert!(
            "%d/%m/%Y"
                .parse::<TimestampFormat>()
                .unwrap_err()
                .contains("rfc3339")
        );
        for name in TimestampFormat::NAMES {
            assert_eq!(name.parse::<TimestampFormat>().unwrap().name(), name);
        }
    }
}
