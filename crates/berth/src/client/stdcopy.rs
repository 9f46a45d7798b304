//! Docker's stdcopy framing: when a container has no TTY, attach and logs multiplex stdout and
//! stderr on one stream as frames of an 8-byte header (stream byte, three zeros, u32 BE length)
//! followed by the payload.

use std::io::{self, Read, Write};

/// Copies frames from `src` to `out` (stream 0 and 1) or `err` (stream 2) until EOF.
pub fn demux<R: Read, O: Write, E: Write>(src: &mut R, out: &mut O, err: &mut E) -> io::Result<()> {
    let mut header = [0u8; 8];
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        // A clean EOF is only allowed between frames.
        let mut got = 0;
        while got < 8 {
            match src.read(&mut header[got..]) {
                Ok(0) if got == 0 => return Ok(()),
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let mut len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let dst: &mut dyn Write = match header[0] {
            0 | 1 => out,
            2 => err,
            s => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("unrecognized stream in stdcopy frame: {s}"),
                ));
            }
        };
        while len > 0 {
            let want = len.min(buf.len());
            src.read_exact(&mut buf[..want])?;
            dst.write_all(&buf[..want])?;
            len -= want;
        }
        dst.flush()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(stream: u8, data: &[u8]) -> Vec<u8> {
        let mut v = vec![stream, 0, 0, 0];
        v.extend_from_slice(&(data.len() as u32).to_be_bytes());
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn splits_streams() {
        let mut raw = frame(1, b"out1 ");
        raw.extend(frame(2, b"err"));
        raw.extend(frame(1, b"out2"));
        raw.extend(frame(1, b""));
        let (mut o, mut e) = (Vec::new(), Vec::new());
        demux(&mut &raw[..], &mut o, &mut e).unwrap();
        assert_eq!(o, b"out1 out2");
        assert_eq!(e, b"err");
    }

    #[test]
    fn truncated_and_bad_stream() {
        let raw = frame(1, b"hello");
        let (mut o, mut e) = (Vec::new(), Vec::new());
        assert!(demux(&mut &raw[..7], &mut o, &mut e).is_err());
        assert!(demux(&mut &raw[..3], &mut o, &mut e).is_err());
        assert!(demux(&mut &frame(7, b"x")[..], &mut o, &mut e).is_err());
    }

    #[test]
    fn large_frame_one_byte_reads() {
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
                if self.0.is_empty() || b.is_empty() {
                    return Ok(0);
                }
                b[0] = self.0[0];
                self.0 = &self.0[1..];
                Ok(1)
            }
        }
        let data = vec![b'z'; 70_000];
        let raw = frame(2, &data);
        let (mut o, mut e) = (Vec::new(), Vec::new());
        demux(&mut Trickle(&raw), &mut o, &mut e).unwrap();
        assert_eq!(e.len(), 70_000);
    }
}
