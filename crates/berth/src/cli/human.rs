//! Docker's human formats (go-units): durations ("3 seconds", "About an hour"), decimal sizes
//! ("1.23MB"), Go's time layout, `--since`/`--until` timestamps.

use berth_engine::logs::{civil_from_days, days_from_civil, parse_go_duration};
use std::time::{SystemTime, UNIX_EPOCH};

pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// go-units' `HumanDuration`.
pub fn duration(secs: i64) -> String {
    let s = secs.max(0);
    let minutes = s / 60;
    let hours = ((s as f64) / 3600.0 + 0.5) as i64;
    if s < 1 {
        "Less than a second".into()
    } else if s == 1 {
        "1 second".into()
    } else if s < 60 {
        format!("{s} seconds")
    } else if minutes == 1 {
        "About a minute".into()
    } else if minutes < 60 {
        format!("{minutes} minutes")
    } else if hours == 1 {
        "About an hour".into()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", s / 3600 / 24 / 365)
    }
}

/// Go's `%.{prec}g`.
fn fmt_g(v: f64, prec: usize) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let sci = format!("{:.*e}", prec - 1, v);
    let (mant, exp) = sci.split_once('e').expect("exponent");
    let exp: i32 = exp.parse().expect("exponent");
    let trim = |s: &str| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if exp < -4 || exp >= prec as i32 {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mant), exp.abs())
    } else {
        let decimals = (prec as i32 - 1 - exp).max(0) as usize;
        trim(&format!("{v:.decimals$}"))
    }
}

/// go-units' `HumanSizeWithPrecision(size, 3)`: decimal units.
pub fn size(bytes: f64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut v = bytes;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    format!("{}{}", fmt_g(v, 3), UNITS[i])
}

/// go-units' `BytesSize`: binary units, as `docker info` prints memory.
pub fn bytes_size(bytes: f64) -> String {
    const UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let mut v = bytes;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    format!("{}{}", fmt_g(v, 4), UNITS[i])
}

/// Go's `time.Time.String()` layout in the local time zone: "2006-01-02 15:04:05 -0700 MST".
pub fn go_time_local(unix: i64) -> String {
    // SAFETY: localtime_r fills tm; tm_zone points into libc's static zone names.
    unsafe {
        let t = unix as libc::time_t;
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() || tm.tm_zone.is_null() {
            return go_time(unix);
        }
        let zone = std::ffi::CStr::from_ptr(tm.tm_zone).to_string_lossy();
        let off = tm.tm_gmtoff / 60;
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} {}{:02}{:02} {zone}",
            tm.tm_year + 1900,
            tm.tm_mon + 1,
            tm.tm_mday,
            tm.tm_hour,
            tm.tm_min,
            tm.tm_sec,
            if off < 0 { '-' } else { '+' },
            off.abs() / 60,
            off.abs() % 60
        )
    }
}

/// Go's `time.Time.String()` layout in UTC: "2006-01-02 15:04:05 +0000 UTC".
pub fn go_time(unix: i64) -> String {
    let (y, m, d) = civil_from_days(unix.div_euclid(86_400));
    let s = unix.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} +0000 UTC",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Parses RFC 3339 (`2024-01-02T03:04:05.123Z`, `...+02:00`, or a bare date) to unix seconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let num = |a: usize, b: usize| s.get(a..b)?.parse::<i64>().ok();
    let (y, m, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    if s.len() == 10 {
        return Some(days_from_civil(y, m as u32, d as u32) * 86_400);
    }
    let (hh, mm, ss) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let mut rest = &s[19..];
    if let Some(r) = rest.strip_prefix('.') {
        rest = r.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let off = match rest {
        "" | "Z" | "z" => 0,
        r if r.len() == 6 => {
            let sign = if r.starts_with('-') { -1 } else { 1 };
            sign * (r[1..3].parse::<i64>().ok()? * 3600 + r[4..6].parse::<i64>().ok()? * 60)
        }
        _ => return None,
    };
    Some(days_from_civil(y, m as u32, d as u32) * 86_400 + hh * 3600 + mm * 60 + ss - off)
}

/// docker's `--since`/`--until` value: a duration before now, a unix timestamp or RFC 3339.
pub fn timestamp(s: &str) -> Result<String, String> {
    if let Some(d) = parse_go_duration(s) {
        return Ok(format!("{}", now_secs() - d as i64));
    }
    if s.parse::<f64>().is_ok() {
        return Ok(s.to_string());
    }
    parse_rfc3339(s)
        .map(|t| t.to_string())
        .ok_or_else(|| format!("invalid value for timestamp: {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration(0), "Less than a second");
        assert_eq!(duration(1), "1 second");
        assert_eq!(duration(3), "3 seconds");
        assert_eq!(duration(90), "About a minute");
        assert_eq!(duration(300), "5 minutes");
        assert_eq!(duration(3600), "About an hour");
        assert_eq!(duration(5 * 3600), "5 hours");
        assert_eq!(duration(3 * 86400), "3 days");
        assert_eq!(duration(20 * 86400), "2 weeks");
        assert_eq!(duration(100 * 86400), "3 months");
        assert_eq!(duration(800 * 86400), "2 years");
    }

    #[test]
    fn sizes() {
        assert_eq!(size(0.0), "0B");
        assert_eq!(size(856.0), "856B");
        assert_eq!(size(1000.0), "1kB");
        assert_eq!(size(1_234_567.0), "1.23MB");
        assert_eq!(size(4_300_000.0), "4.3MB");
        assert_eq!(size(123_400_000.0), "123MB");
        assert_eq!(bytes_size(16_000_000_000.0), "14.9GiB");
    }

    #[test]
    fn times() {
        assert_eq!(go_time(0), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(
            go_time_local(0).len(),
            go_time(0).len() - 3 + go_time_local(0).rsplit(' ').next().unwrap().len()
        );
        assert_eq!(go_time(1_700_000_000), "2023-11-14 22:13:20 +0000 UTC");
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20Z"), Some(1_700_000_000));
        assert_eq!(
            parse_rfc3339("2023-11-15T00:13:20.5+02:00"),
            Some(1_700_000_000)
        );
        assert_eq!(parse_go_duration("1h30m"), Some(5400.0));
        assert_eq!(timestamp("1700000000").unwrap(), "1700000000");
        assert!(timestamp("yesterday").is_err());
    }
}
