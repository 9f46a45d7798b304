//! What a probe result holds: its output cut at Docker's 4 KiB, and Docker's wording of a
//! timeout (Go's duration format).

use std::time::Duration;

/// Docker keeps this much of a probe's output.
const MAX_OUTPUT: usize = 4096;

/// A probe's output, kept up to [`MAX_OUTPUT`] bytes; more is marked with `...`.
#[derive(Debug, Default)]
pub(super) struct LimitedOutput {
    bytes: Vec<u8>,
    truncated: bool,
}

impl LimitedOutput {
    pub fn push(&mut self, data: &[u8]) {
        let keep = (MAX_OUTPUT - self.bytes.len()).min(data.len());
        self.bytes.extend_from_slice(&data[..keep]);
        self.truncated |= keep < data.len();
    }

    pub fn into_string(self) -> String {
        let mut out = String::from_utf8_lossy(&self.bytes).into_owned();
        if self.truncated {
            out.push_str("...");
        }
        out
    }
}

/// Docker's message for a probe that overran its timeout.
pub(super) fn timeout_message(timeout: Duration) -> String {
    format!("Health check exceeded timeout ({})", go_duration(timeout))
}

/// A duration as Go's `time.Duration.String` writes it (`500ms`, `1.5s`, `1m30s`).
fn go_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    let with_fraction = |v: u128, unit: u128, digits: usize| {
        let (whole, rest) = (v / unit, v % unit);
        if rest == 0 {
            whole.to_string()
        } else {
            let frac = format!("{rest:0digits$}");
            format!("{whole}.{}", frac.trim_end_matches('0'))
        }
    };
    match ns {
        0 => "0s".into(),
        n if n < 1_000 => format!("{n}ns"),
        n if n < 1_000_000 => format!("{}µs", with_fraction(n, 1_000, 3)),
        n if n < 1_000_000_000 => format!("{}ms", with_fraction(n, 1_000_000, 6)),
        n => {
            let (h, m) = (n / 3_600_000_000_000, n / 60_000_000_000 % 60);
            let mut out = String::new();
            if h > 0 {
                out.push_str(&format!("{h}h"));
            }
            if h > 0 || m > 0 {
                out.push_str(&format!("{m}m"));
            }
            out.push_str(&with_fraction(n % 60_000_000_000, 1_000_000_000, 9));
            out.push('s');
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_go_writes_them() {
        let ms = Duration::from_millis;
        assert_eq!(go_duration(ms(500)), "500ms");
        assert_eq!(go_duration(ms(1)), "1ms");
        assert_eq!(go_duration(ms(1500)), "1.5s");
        assert_eq!(go_duration(ms(30_000)), "30s");
        assert_eq!(go_duration(ms(90_000)), "1m30s");
        assert_eq!(go_duration(ms(3_600_000)), "1h0m0s");
        assert_eq!(
            timeout_message(ms(300)),
            "Health check exceeded timeout (300ms)"
        );
    }

    #[test]
    fn output_is_cut_at_four_kib() {
        let mut out = LimitedOutput::default();
        out.push(&[b'a'; 3000]);
        out.push(&[b'b'; 3000]);
        let s = out.into_string();
        assert_eq!(s.len(), MAX_OUTPUT + 3);
        assert!(s.ends_with("bbb..."));
        let mut short = LimitedOutput::default();
        short.push(b"ok\n");
        assert_eq!(short.into_string(), "ok\n");
    }
}
