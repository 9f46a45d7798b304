//! File contents the benches fill their images and contexts with: random bytes (like
//! compressed assets: incompressible) and numbered text lines (like sources: compressible).

use std::fs::File;
use std::io::{Read, Write};

use anyhow::Result;

/// `len` bytes of `random` (an open /dev/urandom).
pub fn bytes(random: &mut File, len: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    random.read_exact(&mut buf)?;
    Ok(buf)
}

/// `len` bytes of numbered lines: compressible like text, different per `seed`.
pub fn text(seed: usize, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 64);
    let mut line = 0usize;
    while out.len() < len {
        let _ = writeln!(
            out,
            "{seed:06} {line:08} the quick brown fox jumps over the lazy dog {}",
            line.wrapping_mul(2_654_435_761) ^ seed
        );
        line += 1;
    }
    out.truncate(len);
    out
}
