//! Appending container output to a json-file log, with Docker's line splitting and rotation.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::error::{Error, Result};
use super::format::{SecondCache, Stream, encode_with, find_byte};
use super::rotation::rotate;
use super::time::to_unix;

/// Default `max_size`: 10 MiB. Docker's json-file driver does not rotate unless told to, so
/// logs grow without bound; berth rotates by default.
pub const DEFAULT_MAX_SIZE: u64 = 10 << 20;
/// Default `max_file`: the current file and four rotated ones.
pub const DEFAULT_MAX_FILE: u32 = 5;
/// Lines longer than this (not counting the newline) are written as partial entries of this
/// size (without a newline) followed by the rest, like Docker; an unfinished line is held until
/// it exceeds this size.
pub const MAX_PARTIAL: usize = 16 * 1024;

/// Rotation options (Docker's `max-size` and `max-file` log options).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct LogOptions {
    /// Rotate before a file would exceed this many bytes; `None` never rotates.
    pub max_size: Option<u64>,
    /// How many files to keep, counting the current one; at least 1.
    pub max_file: u32,
}

impl Default for LogOptions {
    /// 10 MiB × 5 files (see [`DEFAULT_MAX_SIZE`]).
    fn default() -> Self {
        LogOptions {
            max_size: Some(DEFAULT_MAX_SIZE),
            max_file: DEFAULT_MAX_FILE,
        }
    }
}

/// Appends a container's output to its log file.
///
/// Each [`write`](LogWriter::write) call ends with one `write(2)` of everything it encoded, so
/// readers following the file see complete lines promptly; bytes after the last newline of a
/// stream are held until their line completes, grows beyond [`MAX_PARTIAL`], or the writer is
/// [closed](LogWriter::close).
#[derive(Debug)]
pub struct LogWriter {
    path: PathBuf,
    opts: LogOptions,
    file: File,
    /// Size of the current file including `buf`.
    size: u64,
    buf: Vec<u8>,
    /// Per stream (stdout, stderr): bytes of an unfinished line and the time of the last write.
    partial: [(Vec<u8>, SystemTime); 2],
    seconds: SecondCache,
}

fn open_append(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(path)
        .map_err(|e| Error::io("open", path, e))
}

impl LogWriter {
    /// Opens (creating it if needed) the log at `path` for appending.
    pub fn open(path: impl AsRef<Path>, opts: LogOptions) -> Result<LogWriter> {
        let path = path.as_ref().to_path_buf();
        if opts.max_file == 0 {
            return Err(Error::InvalidOptions("max_file must be at least 1".into()));
        }
        if opts.max_size == Some(0) {
            return Err(Error::InvalidOptions("max_size must be positive".into()));
        }
        let file = open_append(&path)?;
        let size = file
            .metadata()
            .map_err(|e| Error::io("stat", &path, e))?
            .len();
        let mut buf = Vec::with_capacity(128 * 1024);
        // A previous writer may have died mid-line: end that fragment so that it stays a
        // single (skipped) corrupt line instead of swallowing our first entry.
        if size > 0 {
            let mut last = [0u8];
            file.read_exact_at(&mut last, size - 1)
                .map_err(|e| Error::io("read", &path, e))?;
            if last[0] != b'\n' {
                buf.push(b'\n');
            }
        }
        let w = LogWriter {
            opts,
            file,
            size: size + buf.len() as u64,
            buf,
            partial: [
                (Vec::new(), SystemTime::UNIX_EPOCH),
                (Vec::new(), SystemTime::UNIX_EPOCH),
            ],
            seconds: SecondCache::default(),
            path,
        };
        Ok(w)
    }

    /// The path of the current log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends a chunk of a stream's output, read at `at`. The chunk may hold many lines or end
    /// in the middle of one.
    pub fn write(&mut self, stream: Stream, bytes: &[u8], at: SystemTime) -> Result<()> {
        let idx = stream as usize;
        let mut partial = std::mem::take(&mut self.partial[idx].0);
        self.partial[idx].1 = at;
        let mut rest = bytes;
        let result = (|| {
            while let Some(i) = find_newline(rest) {
                let (line, tail) = rest.split_at(i + 1);
                if partial.is_empty() {
                    self.line(stream, line, at)?;
                } else {
                    partial.extend_from_slice(line);
                    self.line(stream, &partial, at)?;
                    partial.clear();
                }
                rest = tail;
            }
            // `rest` has no newline: keep it, minus whole 16 KiB pieces beyond the limit.
            let (src, from_partial): (&[u8], bool) = if partial.is_empty() {
                (rest, false)
            } else {
                partial.extend_from_slice(rest);
                (&partial, true)
            };
            let mut done = 0;
            while src.len() - done > MAX_PARTIAL {
                self.entry(stream, &src[done..done + MAX_PARTIAL], at)?;
                done += MAX_PARTIAL;
            }
            if from_partial {
                partial.drain(..done);
            } else {
                partial.extend_from_slice(&rest[done..]);
            }
            self.flush()
        })();
        self.partial[idx].0 = partial;
        result
    }

    /// Writes buffered entries to the file.
    pub fn flush(&mut self) -> Result<()> {
        if !self.buf.is_empty() {
            self.file
                .write_all(&self.buf)
                .map_err(|e| Error::io("write", &self.path, e))?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Writes the unfinished lines of both streams as partial entries (the container's streams
    /// have ended) and flushes.
    pub fn close(mut self) -> Result<()> {
        self.finish()
    }

    fn finish(&mut self) -> Result<()> {
        for stream in [Stream::Stdout, Stream::Stderr] {
            let (partial, at) = std::mem::replace(
                &mut self.partial[stream as usize],
                (Vec::new(), SystemTime::UNIX_EPOCH),
            );
            if !partial.is_empty() {
                self.entry(stream, &partial, at)?;
            }
        }
        self.flush()
    }

    /// Writes a complete line (ending in `\n`): as one entry if its content is at most
    /// [`MAX_PARTIAL`] bytes, else as 16 KiB partial entries and the rest, exactly as if it
    /// had arrived in small chunks.
    fn line(&mut self, stream: Stream, mut line: &[u8], at: SystemTime) -> Result<()> {
        while line.len() - 1 > MAX_PARTIAL {
            let (piece, tail) = line.split_at(MAX_PARTIAL);
            self.entry(stream, piece, at)?;
            line = tail;
        }
        self.entry(stream, line, at)
    }

    /// Encodes one entry into `buf`, rotating first if it would not fit in the current file.
    fn entry(&mut self, stream: Stream, line: &[u8], at: SystemTime) -> Result<()> {
        let start = self.buf.len();
        let (secs, nanos) = to_unix(at);
        encode_with(&mut self.buf, stream, line, self.seconds.get(secs), nanos);
        let len = (self.buf.len() - start) as u64;
        if let Some(max) = self.opts.max_size
            && self.size > 0
            && self.size + len > max
        {
            self.file
                .write_all(&self.buf[..start])
                .map_err(|e| Error::io("write", &self.path, e))?;
            self.buf.drain(..start);
            rotate(&self.path, self.opts.max_file)?;
            self.file = open_append(&self.path)?;
            self.size = 0;
        }
        self.size += len;
        Ok(())
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        if let Err(e) = self.finish() {
            tracing::warn!("closing log {}: {e}", self.path.display());
        }
    }
}

/// Position of the first `\n`.
pub(crate) fn find_newline(s: &[u8]) -> Option<usize> {
    find_byte(b'\n', s)
}

/// Position of the last `\n`.
pub(crate) fn rfind_newline(s: &[u8]) -> Option<usize> {
    // SAFETY: the pointer and length describe the slice `s`; the result is within it or null.
    let p = unsafe { libc::memrchr(s.as_ptr().cast(), b'\n' as libc::c_int, s.len()) };
    (!p.is_null()).then(|| p as usize - s.as_ptr() as usize)
}
