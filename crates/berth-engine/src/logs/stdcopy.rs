//! Docker's multiplexed stream framing for non-TTY attach and logs: each frame is an 8-byte
//! header `[stream type, 0, 0, 0, size as u32 big-endian]` followed by `size` payload bytes.
//! Stream types: 0 stdin (shown as stdout), 1 stdout, 2 stderr, 3 an error message from the
//! daemon.

use super::error::{Error, Result};
use super::format::Stream;

/// Size of a frame header.
pub const HEADER_LEN: usize = 8;

/// Appends `payload` as one frame (several if it exceeds `u32::MAX` bytes; an empty payload
/// gives an empty frame).
pub fn encode_frame(stream: Stream, payload: &[u8], out: &mut Vec<u8>) {
    let kind = match stream {
        Stream::Stdout => 1,
        Stream::Stderr => 2,
    };
    if payload.is_empty() {
        out.extend_from_slice(&[kind, 0, 0, 0, 0, 0, 0, 0]);
    }
    for part in payload.chunks(u32::MAX as usize) {
        out.reserve(HEADER_LEN + part.len());
        out.extend_from_slice(&[kind, 0, 0, 0]);
        out.extend_from_slice(&(part.len() as u32).to_be_bytes());
        out.extend_from_slice(part);
    }
}

/// Reassembles frames from byte chunks of any size.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    /// Start of the undecoded bytes in `buf`.
    pos: usize,
}

impl FrameDecoder {
    pub fn new() -> FrameDecoder {
        FrameDecoder::default()
    }

    /// Adds received bytes.
    pub fn push(&mut self, chunk: &[u8]) {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > 64 * 1024 && self.pos * 2 > self.buf.len() {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete frame, if one has been received. A daemon error frame (type 3) is
    /// returned as [`Error::Daemon`]; an unknown type as [`Error::Frame`] (after which the
    /// stream cannot be resynchronised).
    pub fn next_frame(&mut self) -> Result<Option<(Stream, Vec<u8>)>> {
        let avail = &self.buf[self.pos..];
        let Some(header) = avail.get(..HEADER_LEN) else {
            return Ok(None);
        };
        let size = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let kind = header[0];
        let Some(payload) = avail.get(HEADER_LEN..HEADER_LEN + size) else {
            return Ok(None);
        };
        let stream = match kind {
            0 | 1 => Stream::Stdout,
            2 => Stream::Stderr,
            3 => {
                let msg = String::from_utf8_lossy(payload).into_owned();
                self.pos += HEADER_LEN + size;
                return Err(Error::Daemon(msg));
            }
            other => return Err(Error::Frame(format!("unknown stream type {other}"))),
        };
        let payload = payload.to_vec();
        self.pos += HEADER_LEN + size;
        Ok(Some((stream, payload)))
    }

    /// Bytes received but not yet returned as frames (non-zero at the end of a connection
    /// means the last frame was cut off).
    pub fn pending(&self) -> usize {
        self.buf.len() - self.pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames() -> Vec<(Stream, Vec<u8>)> {
        vec![
            (Stream::Stdout, b"hello\n".to_vec()),
            (Stream::Stderr, b"oops\n".to_vec()),
            (Stream::Stdout, Vec::new()),
            (Stream::Stdout, (0..70_000u32).map(|i| i as u8).collect()),
            (Stream::Stderr, vec![0, 1, 2, 3, 4, 5, 6, 7, 8]),
        ]
    }

    fn decode_in_chunks(bytes: &[u8], mut size: impl FnMut() -> usize) -> Vec<(Stream, Vec<u8>)> {
        let mut d = FrameDecoder::new();
        let mut out = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let (chunk, tail) = rest.split_at(size().clamp(1, rest.len()));
            d.push(chunk);
            while let Some(f) = d.next_frame().unwrap() {
                out.push(f);
            }
            rest = tail;
        }
        assert_eq!(d.pending(), 0);
        out
    }

    #[test]
    fn encode_layout() {
        let mut out = Vec::new();
        encode_frame(Stream::Stderr, b"abc", &mut out);
        assert_eq!(out, [2, 0, 0, 0, 0, 0, 0, 3, b'a', b'b', b'c']);
    }

    #[test]
    fn round_trip_any_chunking() {
        let mut bytes = Vec::new();
        for (s, p) in frames() {
            encode_frame(s, &p, &mut bytes);
        }
        assert_eq!(decode_in_chunks(&bytes, || 1), frames());
        assert_eq!(decode_in_chunks(&bytes, || bytes.len()), frames());
        // A small deterministic pseudo-random generator (xorshift) for chunk sizes.
        for seed in 1..20u64 {
            let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let sizes = || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % 20_000) as usize
            };
            assert_eq!(decode_in_chunks(&bytes, sizes), frames());
        }
    }

    #[test]
    fn daemon_errors_and_bad_types() {
        let mut d = FrameDecoder::new();
        d.push(&[3, 0, 0, 0, 0, 0, 0, 4]);
        d.push(b"boom");
        d.push(&[0, 0, 0, 0, 0, 0, 0, 1, b'x']);
        assert!(matches!(d.next_frame(), Err(Error::Daemon(m)) if m == "boom"));
        assert_eq!(
            d.next_frame().unwrap(),
            Some((Stream::Stdout, b"x".to_vec()))
        );
        d.push(&[9, 0, 0, 0, 0, 0, 0, 0]);
        assert!(matches!(d.next_frame(), Err(Error::Frame(_))));
    }
}
