//! RFC 3339 UTC timestamps with nanosecond precision, without a date crate.
//!
//! Times are handled as `(seconds since the Unix epoch, nanoseconds)` with the nanoseconds in
//! `0..1_000_000_000` (so 1969-12-31T23:59:59.5Z is `(-1, 500_000_000)`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds and nanoseconds since the Unix epoch (floor seconds; nanos always non-negative).
pub type UnixTime = (i64, u32);

/// Converts a `SystemTime` to [`UnixTime`], also for times before the epoch.
pub fn to_unix(t: SystemTime) -> UnixTime {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        Err(e) => {
            let d = e.duration();
            if d.subsec_nanos() == 0 {
                (-(d.as_secs() as i64), 0)
            } else {
                (-(d.as_secs() as i64) - 1, 1_000_000_000 - d.subsec_nanos())
            }
        }
    }
}

/// Converts a [`UnixTime`] back to a `SystemTime`.
pub fn from_unix((secs, nanos): UnixTime) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs as u64, nanos)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()) + Duration::from_nanos(nanos as u64)
    }
}

pub use berth_runtime::state::civil_from_days;

/// (year, month, day) to days since 1970-01-01 (Hinnant's `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Writes `YYYY-MM-DDTHH:MM:SS` (19 bytes) for `secs` since the epoch. Years outside 0..=9999
/// are clamped to that range's ends (RFC 3339 cannot express them).
pub fn write_seconds(out: &mut [u8; 19], secs: i64) {
    let min = days_from_civil(0, 1, 1) * 86_400;
    let max = days_from_civil(9999, 12, 31) * 86_400 + 86_399;
    let secs = secs.clamp(min, max);
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400) as u32;
    let (h, mi, s) = (sod / 3600, sod / 60 % 60, sod % 60);
    let y = y as u32;
    let digits = |v: u32| b'0' + v as u8;
    *out = [
        digits(y / 1000),
        digits(y / 100 % 10),
        digits(y / 10 % 10),
        digits(y % 10),
        b'-',
        digits(mo / 10),
        digits(mo % 10),
        b'-',
        digits(d / 10),
        digits(d % 10),
        b'T',
        digits(h / 10),
        digits(h % 10),
        b':',
        digits(mi / 10),
        digits(mi % 10),
        b':',
        digits(s / 10),
        digits(s % 10),
    ];
}

/// Appends `.nnnnnnnnnZ` (11 bytes).
pub fn write_nanos(out: &mut Vec<u8>, nanos: u32) {
    let mut buf = [b'.', 0, 0, 0, 0, 0, 0, 0, 0, 0, b'Z'];
    let mut n = nanos;
    for i in (1..10).rev() {
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.extend_from_slice(&buf);
}

/// Appends the RFC 3339 UTC form with exactly nine fractional digits, e.g.
/// `2026-11-23T10:00:00.123456789Z` (30 bytes).
pub fn write_timestamp(out: &mut Vec<u8>, (secs, nanos): UnixTime) {
    let mut head = [0u8; 19];
    write_seconds(&mut head, secs);
    out.extend_from_slice(&head);
    write_nanos(out, nanos);
}

/// Formats a time as Docker's `--timestamps` prefix does (without the trailing space):
/// `2026-11-23T10:00:00.123456789Z`.
pub fn format_timestamp(t: SystemTime) -> String {
    let mut out = Vec::with_capacity(30);
    write_timestamp(&mut out, to_unix(t));
    String::from_utf8(out).expect("timestamps are ASCII")
}

/// Parses an RFC 3339 timestamp: `YYYY-MM-DDTHH:MM:SS`, an optional fraction of 1 to 9 (or more,
/// truncated) digits, and `Z` or a `±HH:MM` offset.
pub fn parse_timestamp(s: &[u8]) -> Option<UnixTime> {
    fn num(s: &[u8]) -> Option<u32> {
        s.iter().try_fold(0u32, |acc, &b| {
            b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
        })
    }
    if s.len() < 20
        || s[4] != b'-'
        || s[7] != b'-'
        || !matches!(s[10], b'T' | b't' | b' ')
        || s[13] != b':'
        || s[16] != b':'
    {
        return None;
    }
    let (y, mo, d) = (num(&s[0..4])?, num(&s[5..7])?, num(&s[8..10])?);
    let (h, mi, sec) = (num(&s[11..13])?, num(&s[14..16])?, num(&s[17..19])?);
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y as i64, mo) || h > 23 || mi > 59 {
        return None;
    }
    // A leap second (:60) is folded into the next second, as Go does.
    if sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut nanos = 0u32;
    if let Some((b'.', frac)) = rest.split_first() {
        let n = frac.iter().take_while(|b| b.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        for i in 0..9 {
            nanos = nanos * 10
                + frac
                    .get(i)
                    .filter(|_| i < n)
                    .map_or(0, |b| u32::from(b - b'0'));
        }
        rest = &frac[n..];
    }
    let offset = match rest {
        [b'Z' | b'z'] => 0i64,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let oh = num(&[*h1, *h2])?;
            let om = num(&[*m1, *m2])?;
            if oh > 23 || om > 59 {
                return None;
            }
            let off = i64::from(oh * 3600 + om * 60);
            if *sign == b'+' { off } else { -off }
        }
        _ => return None,
    };
    let days = days_from_civil(y as i64, mo, d);
    let secs = days * 86_400 + i64::from(h * 3600 + mi * 60 + sec) - offset;
    Some((secs, nanos))
}

/// Parses an RFC 3339 timestamp into a `SystemTime`, e.g. for `logs --since
/// 2026-11-23T10:00:00Z`: `YYYY-MM-DDTHH:MM:SS`, an optional fraction (up to nanoseconds) and
/// `Z` or a `±HH:MM` offset.
pub fn parse_time(s: &str) -> Option<SystemTime> {
    parse_timestamp(s.as_bytes()).map(from_unix)
}

/// Parses a Go duration ("1h30m", "10s", "2.5m") to seconds.
pub fn parse_go_duration(s: &str) -> Option<f64> {
    let mut total = 0.0;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let v: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..u] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += v * mult;
        rest = &rest[u..];
    }
    Some(total)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_known_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_415), (2025, 11, 23));
        assert_eq!(civil_from_days(-719_528), (0, 1, 1));
        assert_eq!(civil_from_days(2_932_896), (9999, 12, 31));
        assert_eq!(civil_from_days(-135_081), (1600, 2, 29));
        for days in (-800_000..3_000_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn format_and_parse_round_trip() {
        let cases: &[(UnixTime, &str)] = &[
            ((0, 0), "1970-01-01T00:00:00.000000000Z"),
            ((-1, 999_999_999), "1969-12-31T23:59:59.999999999Z"),
            (
                (1_795_428_000, 123_456_789),
                "2026-11-23T10:00:00.123456789Z",
            ),
            ((951_782_400, 1), "2000-02-29T00:00:00.000000001Z"),
            ((-11_676_096_000, 5), "1600-01-01T00:00:00.000000005Z"),
            ((-62_167_219_200, 0), "0000-01-01T00:00:00.000000000Z"),
            (
                (253_402_300_799, 999_999_999),
                "9999-12-31T23:59:59.999999999Z",
            ),
        ];
        for &(t, s) in cases {
            let mut out = Vec::new();
            write_timestamp(&mut out, t);
            assert_eq!(std::str::from_utf8(&out).unwrap(), s);
            assert_eq!(parse_timestamp(s.as_bytes()), Some(t), "{s}");
            assert_eq!(to_unix(from_unix(t)), t);
            assert_eq!(format_timestamp(from_unix(t)), s);
        }
    }

    #[test]
    fn parse_variants() {
        let t = parse_timestamp(b"2026-11-23T10:00:00Z").unwrap();
        assert_eq!(t, (1_795_428_000, 0));
        assert_eq!(
            parse_timestamp(b"2026-11-23T10:00:00.5Z"),
            Some((t.0, 500_000_000))
        );
        assert_eq!(
            parse_timestamp(b"2026-11-23T11:30:00.25+01:30"),
            Some((t.0, 250_000_000))
        );
        assert_eq!(parse_timestamp(b"2026-11-23T08:00:00-02:00"), Some(t));
        assert_eq!(
            parse_time("1969-12-31T23:59:59.5Z"),
            Some(from_unix((-1, 500_000_000)))
        );
        for bad in [
            &b"2026-11-23T10:00:00"[..],
            b"2026-13-01T00:00:00Z",
            b"2026-02-29T00:00:00Z",
            b"2026-11-23T10:00:00.Z",
            b"2026-11-23X10:00:00Z",
            b"2026-11-23T10:00:00Zjunk",
        ] {
            assert_eq!(
                parse_timestamp(bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
