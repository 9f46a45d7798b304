//! One json-file log line: `{"log":"…","stream":"stdout","time":"2026-11-23T10:00:00.123456789Z"}`.
//!
//! Encoding is hand-written (a lookup table for the bytes that need escaping, invalid UTF-8
//! replaced by U+FFFD per byte as Go's encoder does). Decoding has a fast path for objects whose
//! values are all strings (what berth and Docker write) and falls back to `serde_json` otherwise
//! (e.g. Docker's `attrs` object).

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::time::{UnixTime, from_unix, parse_timestamp, to_unix, write_nanos, write_seconds};

/// Which output stream of the container a log entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    /// The name used in the json-file format.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// One decoded log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub stream: Stream,
    pub time: SystemTime,
    /// The bytes as the container wrote them, including the trailing `\n` (absent for a partial
    /// line, i.e. a 16 KiB piece of a longer line or the unterminated end of the output).
    /// Invalid UTF-8 has been replaced by U+FFFD when the entry was written.
    pub line: Vec<u8>,
}

/// 0: copy as is; b'u': `\u00XX`; other: `\` followed by that byte.
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[b'\n' as usize] = b'n';
    t[b'\r' as usize] = b'r';
    t[b'\t' as usize] = b't';
    t[0x08] = b'b';
    t[0x0c] = b'f';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

/// Appends `s` JSON-escaped (without quotes); `s` must be valid UTF-8.
fn escape_valid(out: &mut Vec<u8>, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut start = 0;
    for (i, &b) in s.iter().enumerate() {
        let e = ESCAPE[b as usize];
        if e == 0 {
            continue;
        }
        out.extend_from_slice(&s[start..i]);
        if e == b'u' {
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(b >> 4) as usize],
                HEX[(b & 15) as usize],
            ]);
        } else {
            out.extend_from_slice(&[b'\\', e]);
        }
        start = i + 1;
    }
    out.extend_from_slice(&s[start..]);
}

/// Appends `bytes` JSON-escaped, replacing each byte of invalid UTF-8 with U+FFFD.
pub fn escape_json(out: &mut Vec<u8>, bytes: &[u8]) {
    if std::str::from_utf8(bytes).is_ok() {
        return escape_valid(out, bytes);
    }
    for chunk in bytes.utf8_chunks() {
        escape_valid(out, chunk.valid().as_bytes());
        for _ in chunk.invalid() {
            out.extend_from_slice("\u{FFFD}".as_bytes());
        }
    }
}

/// Appends one encoded entry, including the final `\n`. `second` is the pre-formatted
/// `YYYY-MM-DDTHH:MM:SS` of `time.0` (see [`SecondCache`]).
pub(crate) fn encode_with(
    out: &mut Vec<u8>,
    stream: Stream,
    line: &[u8],
    second: &[u8; 19],
    nanos: u32,
) {
    out.reserve(line.len() + 80);
    out.extend_from_slice(b"{\"log\":\"");
    escape_json(out, line);
    out.extend_from_slice(match stream {
        Stream::Stdout => b"\",\"stream\":\"stdout\",\"time\":\"",
        Stream::Stderr => b"\",\"stream\":\"stderr\",\"time\":\"",
    });
    out.extend_from_slice(second);
    write_nanos(out, nanos);
    out.extend_from_slice(b"\"}\n");
}

/// Caches the formatted seconds part of timestamps (consecutive lines mostly share it).
#[derive(Debug, Default)]
pub(crate) struct SecondCache {
    secs: Option<i64>,
    text: [u8; 19],
}

impl SecondCache {
    pub(crate) fn get(&mut self, secs: i64) -> &[u8; 19] {
        if self.secs != Some(secs) {
            write_seconds(&mut self.text, secs);
            self.secs = Some(secs);
        }
        &self.text
    }
}

/// Appends one encoded entry (JSON object and `\n`) for `line` to `out`.
pub fn encode_entry(out: &mut Vec<u8>, stream: Stream, line: &[u8], time: SystemTime) {
    let (secs, nanos) = to_unix(time);
    let mut second = [0u8; 19];
    write_seconds(&mut second, secs);
    encode_with(out, stream, line, &second, nanos);
}

/// Decodes one line (without its trailing `\n`). The error is a short reason.
pub fn decode_entry(line: &[u8]) -> Result<LogEntry, String> {
    let mut log = Vec::new();
    match decode_fast(line, &mut log) {
        Some((stream, time)) => Ok(LogEntry {
            stream,
            time: from_unix(time),
            line: log,
        }),
        None => decode_slow(line),
    }
}

/// Fast path: a flat object of string values, keys and `stream`/`time` values without
/// escapes. None if anything is unusual (the caller then tries `serde_json`).
fn decode_fast(s: &[u8], log: &mut Vec<u8>) -> Option<(Stream, UnixTime)> {
    let mut p = Parser { s, i: 0 };
    let mut stream = None;
    let mut time = None;
    let mut have_log = false;
    p.ws();
    p.eat(b'{')?;
    p.ws();
    loop {
        let key = p.raw_string()?;
        p.ws();
        p.eat(b':')?;
        p.ws();
        match key {
            b"log" => {
                log.clear();
                p.string(log)?;
                have_log = true;
            }
            b"stream" => {
                stream = Some(match p.raw_string()? {
                    b"stdout" => Stream::Stdout,
                    b"stderr" => Stream::Stderr,
                    _ => return None,
                });
            }
            b"time" => time = Some(parse_timestamp(p.raw_string()?)?),
            _ => {
                p.raw_string()?;
            }
        }
        p.ws();
        match p.next()? {
            b',' => p.ws(),
            b'}' => break,
            _ => return None,
        }
    }
    p.ws();
    if p.i != s.len() || !have_log {
        return None;
    }
    Some((stream?, time?))
}

fn decode_slow(line: &[u8]) -> Result<LogEntry, String> {
    #[derive(Deserialize)]
    struct Raw {
        log: String,
        stream: Stream,
        time: String,
    }
    let raw: Raw = serde_json::from_slice(line).map_err(|e| e.to_string())?;
    let time = parse_timestamp(raw.time.as_bytes())
        .ok_or_else(|| format!("invalid time {:?}", raw.time))?;
    Ok(LogEntry {
        stream: raw.stream,
        time: from_unix(time),
        line: raw.log.into_bytes(),
    })
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.i += 1;
        Some(b)
    }
    fn eat(&mut self, b: u8) -> Option<()> {
        (self.next()? == b).then_some(())
    }
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.i += 1;
        }
    }
    fn hex4(&mut self) -> Option<u32> {
        let h = self.s.get(self.i..self.i + 4)?;
        self.i += 4;
        h.iter()
            .try_fold(0u32, |acc, &b| Some(acc * 16 + (b as char).to_digit(16)?))
    }
    /// A string without escapes, as a slice of the input; None if it has any.
    fn raw_string(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let s: &'a [u8] = self.s;
        let rest = &s[self.i..];
        let q = find_byte(b'"', rest)?;
        let body = &rest[..q];
        if body.contains(&b'\\') {
            return None;
        }
        self.i += q + 1;
        Some(body)
    }

    /// Parses a JSON string, appending its unescaped bytes. Raw control characters are
    /// accepted (leniently; berth never writes them).
    fn string(&mut self, out: &mut Vec<u8>) -> Option<()> {
        self.eat(b'"')?;
        out.reserve(self.s.len() - self.i);
        // Position of the next '"' at or after `i` (found once, reused across escapes).
        let mut quote = 0;
        loop {
            if quote < self.i {
                quote = self.i + find_byte(b'"', &self.s[self.i..])?;
            }
            let plain = &self.s[self.i..quote];
            let Some(k) = find_byte(b'\\', plain) else {
                out.extend_from_slice(plain);
                self.i = quote + 1;
                return Some(());
            };
            out.extend_from_slice(&plain[..k]);
            self.i += k + 1;
            let c = match self.next()? {
                b'"' => b'"',
                b'\\' => b'\\',
                b'/' => b'/',
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                b'b' => 0x08,
                b'f' => 0x0c,
                b'u' => {
                    let mut cp = self.hex4()?;
                    if (0xD800..0xDC00).contains(&cp) && self.s[self.i..].starts_with(b"\\u") {
                        let save = self.i;
                        self.i += 2;
                        let lo = self.hex4()?;
                        if (0xDC00..0xE000).contains(&lo) {
                            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        } else {
                            self.i = save;
                        }
                    }
                    let ch = char::from_u32(cp).unwrap_or('\u{FFFD}');
                    out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                    continue;
                }
                _ => return None,
            };
            out.push(c);
        }
    }
}

/// Position of the first `b` in `s` (glibc's vectorised `memchr`).
pub(crate) fn find_byte(b: u8, s: &[u8]) -> Option<usize> {
    // SAFETY: the pointer and length describe the slice `s`; the result is within it or null.
    let p = unsafe { libc::memchr(s.as_ptr().cast(), libc::c_int::from(b), s.len()) };
    (!p.is_null()).then(|| p as usize - s.as_ptr() as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn round_trip(line: &[u8], stream: Stream) -> LogEntry {
        let t = UNIX_EPOCH + Duration::new(1_795_428_000, 123_456_789);
        let mut out = Vec::new();
        encode_entry(&mut out, stream, line, t);
        assert_eq!(out.last(), Some(&b'\n'));
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1, "one line");
        let body = &out[..out.len() - 1];
        // serde_json agrees with our encoding.
        let v: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(v["time"], "2026-11-23T10:00:00.123456789Z");
        assert_eq!(v["stream"], stream.as_str());
        let e = decode_entry(body).unwrap();
        assert_eq!(v["log"].as_str().unwrap().as_bytes(), e.line.as_slice());
        assert_eq!(e.time, t);
        assert_eq!(e.stream, stream);
        e
    }

    #[test]
    fn escaping_round_trips() {
        for line in [
            &b"hello world\n"[..],
            b"\n",
            b"",
            b"quote \" backslash \\ slash / tab\t\n",
            b"crlf\r\n",
            b"ctl \x00\x01\x07\x08\x0c\x1b\x1f\x7f end\n",
            "unicode \u{e9}\u{1F600} \u{2028}\n".as_bytes(),
        ] {
            let e = round_trip(line, Stream::Stdout);
            assert_eq!(e.line, line);
        }
        let e = round_trip(b"\xffbad\xc3(\xe2\x82\n", Stream::Stderr);
        assert_eq!(e.line, "\u{FFFD}bad\u{FFFD}(\u{FFFD}\u{FFFD}\n".as_bytes());
    }

    #[test]
    fn exact_encoding() {
        let mut out = Vec::new();
        encode_entry(&mut out, Stream::Stderr, b"a\"\\\x01\n", UNIX_EPOCH);
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            "{\"log\":\"a\\\"\\\\\\u0001\\n\",\"stream\":\"stderr\",\"time\":\"1970-01-01T00:00:00.000000000Z\"}\n"
        );
    }

    #[test]
    fn decodes_docker_variants() {
        // Docker's own output: trimmed fraction, \u escapes, key order, attrs object.
        let e = decode_entry(br#"{"log":"\u003chi\u003e \ud83d\ude00\n","stream":"stdout","time":"2026-11-23T10:00:00.1Z"}"#).unwrap();
        assert_eq!(e.line, "<hi> \u{1F600}\n".as_bytes());
        assert_eq!(
            e.time,
            UNIX_EPOCH + Duration::new(1_795_428_000, 100_000_000)
        );
        let e = decode_entry(
            br#" { "time" : "1970-01-01T00:00:01Z" , "stream":"stderr", "log":"x" } "#,
        )
        .unwrap();
        assert_eq!((e.stream, e.line.as_slice()), (Stream::Stderr, &b"x"[..]));
        let e = decode_entry(
            br#"{"log":"y\n","stream":"stdout","attrs":{"a":"b"},"time":"1970-01-01T00:00:01Z"}"#,
        )
        .unwrap();
        assert_eq!(e.line, b"y\n");
        // Escaped keys or values leave the fast path; serde_json still reads them.
        let e = decode_entry(
            br#"{"l\u006fg":"z","stream":"std\u006fut","time":"1970-01-01T00:00:01Z"}"#,
        )
        .unwrap();
        assert_eq!((e.stream, e.line.as_slice()), (Stream::Stdout, &b"z"[..]));
        for bad in [
            &br#"{"log":"x","stream":"stdout"}"#[..],
            b"{\"log\":\"x",
            b"",
            b"garbage",
            br#"{"log":"x","stream":"stdin","time":"1970-01-01T00:00:01Z"}"#,
        ] {
            assert!(
                decode_entry(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
