//! HTTP/1.1 wire format, written by hand on purpose: the CLI must start in a few milliseconds,
//! so no async runtime and no HTTP library; this is the small subset the Engine API needs.
//! Parsing is generic over `BufRead` so it can be tested on byte slices.

use std::io::{self, BufRead, Read, Write};

/// A response's status line and headers.
#[derive(Debug, Default)]
pub struct Head {
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// How the body that follows this head is delimited.
    pub fn framing(&self, method: &str) -> Framing {
        if method == "HEAD" || self.status == 204 || self.status == 304 || self.status / 100 == 1 {
            return Framing::Length(0);
        }
        if self
            .header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
        {
            return Framing::Chunked;
        }
        match self
            .header("content-length")
            .and_then(|v| v.trim().parse().ok())
        {
            Some(n) => Framing::Length(n),
            None => Framing::Eof,
        }
    }
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

/// Reads a status line and headers, up to and including the blank line.
pub fn read_head<R: BufRead>(r: &mut R) -> io::Result<Head> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed before the response",
        ));
    }
    let mut parts = line.trim_end().splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(bad("malformed HTTP status line"));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("malformed HTTP status code"))?;
    let mut head = Head {
        status,
        headers: Vec::new(),
    };
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(bad("connection closed inside the headers"));
        }
        let l = line.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            return Ok(head);
        }
        if let Some((k, v)) = l.split_once(':') {
            head.headers
                .push((k.trim().to_string(), v.trim().to_string()));
        }
    }
}

/// How a response body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Length(u64),
    Chunked,
    Eof,
}

/// A reader over one response body, whatever its framing.
pub struct BodyReader<R> {
    inner: R,
    framing: Framing,
    /// Bytes left in the current chunk (chunked) or in the body (length).
    left: u64,
    done: bool,
}

impl<R: BufRead> BodyReader<R> {
    pub fn new(inner: R, framing: Framing) -> Self {
        let (left, done) = match framing {
            Framing::Length(n) => (n, n == 0),
            _ => (0, false),
        };
        BodyReader {
            inner,
            framing,
            left,
            done,
        }
    }

    pub fn into_inner(self) -> R {
        self.inner
    }

    fn next_chunk(&mut self) -> io::Result<()> {
        let mut line = String::new();
        if self.inner.read_line(&mut line)? == 0 {
            return Err(bad("connection closed inside a chunked body"));
        }
        let size = line.trim().split(';').next().unwrap_or("").trim();
        let size = u64::from_str_radix(size, 16).map_err(|_| bad("malformed chunk size"))?;
        if size == 0 {
            // Trailers, then the blank line.
            loop {
                line.clear();
                if self.inner.read_line(&mut line)? == 0 || line.trim().is_empty() {
                    break;
                }
            }
            self.done = true;
        }
        self.left = size;
        Ok(())
    }
}

impl<R: BufRead> Read for BodyReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        match self.framing {
            Framing::Eof => self.inner.read(buf),
            Framing::Length(_) => {
                let max = buf.len().min(self.left as usize);
                let n = self.inner.read(&mut buf[..max])?;
                if n == 0 {
                    return Err(bad("connection closed before the end of the body"));
                }
                self.left -= n as u64;
                self.done = self.left == 0;
                Ok(n)
            }
            Framing::Chunked => {
                if self.left == 0 {
                    self.next_chunk()?;
                    if self.done {
                        return Ok(0);
                    }
                }
                let max = buf.len().min(self.left as usize);
                let n = self.inner.read(&mut buf[..max])?;
                if n == 0 {
                    return Err(bad("connection closed inside a chunk"));
                }
                self.left -= n as u64;
                if self.left == 0 {
                    let mut crlf = [0u8; 2];
                    self.inner.read_exact(&mut crlf)?;
                }
                Ok(n)
            }
        }
    }
}

/// Writes a request head. `extra` headers come after Host and User-Agent.
pub fn write_head<W: Write>(
    w: &mut W,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
) -> io::Result<()> {
    let mut s = String::with_capacity(128 + path.len());
    s.push_str(method);
    s.push(' ');
    s.push_str(path);
    s.push_str(" HTTP/1.1\r\nHost: berth\r\nUser-Agent: berth-cli/");
    s.push_str(env!("CARGO_PKG_VERSION"));
    s.push_str("\r\n");
    for (k, v) in extra {
        s.push_str(k);
        s.push_str(": ");
        s.push_str(v);
        s.push_str("\r\n");
    }
    s.push_str("\r\n");
    w.write_all(s.as_bytes())
}

/// Copies `src` to `w` as a chunked body, terminating chunk included.
pub fn write_chunked<W: Write>(w: &mut W, src: &mut dyn Read) -> io::Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0;
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        write!(w, "{n:x}\r\n")?;
        w.write_all(&buf[..n])?;
        w.write_all(b"\r\n")?;
        total += n as u64;
    }
    w.write_all(b"0\r\n\r\n")?;
    w.flush()?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &[u8]) -> (Head, Vec<u8>) {
        let mut r = raw;
        let head = read_head(&mut r).unwrap();
        let mut body = Vec::new();
        BodyReader::new(&mut r, head.framing("GET"))
            .read_to_end(&mut body)
            .unwrap();
        (head, body)
    }

    #[test]
    fn content_length() {
        let (h, b) =
            parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nApi-Version: 1.50\r\n\r\nhelloEXTRA");
        assert_eq!(h.status, 200);
        assert_eq!(h.header("api-version"), Some("1.50"));
        assert_eq!(b, b"hello");
    }

    #[test]
    fn chunked() {
        let (h, b) = parse(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT",
        );
        assert_eq!(h.framing("GET"), Framing::Chunked);
        assert_eq!(b, b"hello, world");
    }

    #[test]
    fn until_eof() {
        let (h, b) = parse(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it");
        assert_eq!(h.framing("GET"), Framing::Eof);
        assert_eq!(b, b"all of it");
    }

    #[test]
    fn no_content_and_truncated() {
        let (h, b) = parse(b"HTTP/1.1 204 No Content\r\n\r\n");
        assert_eq!(h.status, 204);
        assert!(b.is_empty());
        let mut r: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
        let head = read_head(&mut r).unwrap();
        let mut body = Vec::new();
        assert!(
            BodyReader::new(&mut r, head.framing("GET"))
                .read_to_end(&mut body)
                .is_err()
        );
        assert!(read_head(&mut &b"garbage\r\n\r\n"[..]).is_err());
    }

    #[test]
    fn chunked_writer_roundtrip() {
        let mut out = Vec::new();
        write_chunked(&mut out, &mut &b"some tar bytes"[..]).unwrap();
        let mut r = &out[..];
        let mut body = Vec::new();
        BodyReader::new(&mut r, Framing::Chunked)
            .read_to_end(&mut body)
            .unwrap();
        assert_eq!(body, b"some tar bytes");
    }
}
