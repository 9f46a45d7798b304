//! Reading a json-file log and its rotated predecessors: filters, `tail` from the end.

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::error::{Error, Result};
use super::format::{LogEntry, Stream, decode_entry};
use super::rotation::existing_files;
use super::writer::{find_newline, rfind_newline};

const READ_CHUNK: usize = 1 << 20;
const TAIL_CHUNK: usize = 256 * 1024;

/// Which entries to read (Docker's `logs` options).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOptions {
    /// Only entries at or after this time.
    pub since: Option<SystemTime>,
    /// Only entries before this time.
    pub until: Option<SystemTime>,
    /// Only the last N entries that pass the other filters.
    pub tail: Option<usize>,
    pub stdout: bool,
    pub stderr: bool,
}

impl Default for ReadOptions {
    /// Everything: both streams, no time limits, no tail.
    fn default() -> Self {
        ReadOptions {
            since: None,
            until: None,
            tail: None,
            stdout: true,
            stderr: true,
        }
    }
}

impl ReadOptions {
    /// Whether an entry passes the stream and time filters.
    pub fn matches(&self, e: &LogEntry) -> bool {
        (match e.stream {
            Stream::Stdout => self.stdout,
            Stream::Stderr => self.stderr,
        }) && self.since.is_none_or(|s| e.time >= s)
            && self.until.is_none_or(|u| e.time < u)
    }
}

/// An open log file.
#[derive(Debug)]
pub(crate) struct Source {
    pub(crate) path: PathBuf,
    pub(crate) file: File,
    pub(crate) id: (u64, u64),
}

impl Source {
    pub(crate) fn open(path: &Path) -> io::Result<Source> {
        let file = File::open(path)?;
        let m = file.metadata()?;
        Ok(Source {
            path: path.to_path_buf(),
            file,
            id: (m.dev(), m.ino()),
        })
    }
}

/// Splits one file into lines and decodes them, skipping corrupt ones.
#[derive(Debug)]
pub(crate) struct LineReader {
    pub(crate) src: Source,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// File offset just past `buf[..end]`.
    pub(crate) read_pos: u64,
    /// Number of the next line, if known.
    line_no: Option<u64>,
}

impl LineReader {
    pub(crate) fn new(src: Source, offset: u64) -> LineReader {
        LineReader {
            src,
            buf: Vec::new(),
            start: 0,
            end: 0,
            read_pos: offset,
            line_no: (offset == 0).then_some(1),
        }
    }

    /// Starts over from the beginning of the file (it was truncated).
    pub(crate) fn restart(&mut self) {
        self.start = 0;
        self.end = 0;
        self.read_pos = 0;
        self.line_no = Some(1);
    }

    /// Reads more of the file; false at its (current) end.
    fn fill(&mut self) -> Result<bool> {
        if self.buf.is_empty() {
            self.buf.resize(READ_CHUNK, 0);
        }
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            if self.start == 0 {
                let n = self.buf.len() * 2;
                self.buf.resize(n, 0);
            } else {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
        }
        let n = loop {
            match self
                .src
                .file
                .read_at(&mut self.buf[self.end..], self.read_pos)
            {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io("read", &self.src.path, e)),
            }
        };
        self.end += n;
        self.read_pos += n as u64;
        Ok(n > 0)
    }

    /// The next well-formed entry; None at the current end of the file (an unterminated last
    /// line stays buffered: it may be being written). Corrupt lines are skipped and counted.
    pub(crate) fn next_entry(&mut self, corrupt: &mut u64) -> Result<Option<LogEntry>> {
        loop {
            let Some(i) = find_newline(&self.buf[self.start..self.end]) else {
                if self.fill()? {
                    continue;
                }
                return Ok(None);
            };
            let line = &self.buf[self.start..self.start + i];
            let offset = self.read_pos - (self.end - self.start) as u64;
            let line_no = self.line_no;
            self.start += i + 1;
            self.line_no = self.line_no.map(|n| n + 1);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            match decode_entry(line) {
                Ok(e) => return Ok(Some(e)),
                Err(reason) => {
                    *corrupt += 1;
                    let err = Error::Corrupt {
                        path: self.src.path.clone(),
                        line: line_no,
                        offset,
                        reason,
                    };
                    tracing::warn!("skipping {err}");
                }
            }
        }
    }
}

/// Iterator over the entries of a log and its rotated files, oldest first; see [`read_logs`].
#[derive(Debug)]
pub struct LogReader {
    opts: ReadOptions,
    pending: VecDeque<Source>,
    pub(crate) cur: Option<LineReader>,
    corrupt: u64,
    done: bool,
}

/// Reads the log at `path` (and `path.1`, … before it), oldest entry first.
///
/// With `tail`, the files are scanned backwards from the end to find where the last N matching
/// entries start, so the history before them is not parsed. Corrupt lines are skipped with a
/// warning (see [`LogReader::corrupt_lines`]); an unterminated last line is ignored.
pub fn read_logs(path: impl AsRef<Path>, opts: ReadOptions) -> Result<LogReader> {
    LogReader::open(path.as_ref(), opts)
}

/// Opens the existing files, oldest first.
pub(crate) fn open_all(path: &Path) -> Result<Vec<Source>> {
    let mut out = Vec::new();
    for p in existing_files(path) {
        match Source::open(&p) {
            Ok(s) => out.push(s),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("open", p, e)),
        }
    }
    Ok(out)
}

impl LogReader {
    pub(crate) fn open(path: &Path, opts: ReadOptions) -> Result<LogReader> {
        let mut sources = open_all(path)?;
        let (first, offset) = match opts.tail {
            Some(n) => tail_start(&sources, &opts, n)?,
            None => (0, 0),
        };
        let mut pending: VecDeque<Source> = sources.drain(first.min(sources.len())..).collect();
        let cur = pending.pop_front().map(|s| LineReader::new(s, offset));
        Ok(LogReader {
            opts,
            pending,
            cur,
            corrupt: 0,
            done: false,
        })
    }

    /// How many corrupt lines were skipped so far.
    pub fn corrupt_lines(&self) -> u64 {
        self.corrupt
    }

    /// The next matching entry; None at the end of the newest file (whose reader stays open
    /// for following).
    pub(crate) fn step(&mut self) -> Result<Option<LogEntry>> {
        loop {
            let Some(cur) = self.cur.as_mut() else {
                return Ok(None);
            };
            match cur.next_entry(&mut self.corrupt)? {
                Some(e) if self.opts.matches(&e) => return Ok(Some(e)),
                Some(_) => {}
                None => match self.pending.pop_front() {
                    Some(next) => self.cur = Some(LineReader::new(next, 0)),
                    None => return Ok(None),
                },
            }
        }
    }

    /// Continues with these (newer) files after the current one.
    pub(crate) fn replace_pending(&mut self, newer: Vec<Source>) {
        self.pending = newer.into();
    }
}

impl Iterator for LogReader {
    type Item = Result<LogEntry>;

    fn next(&mut self) -> Option<Result<LogEntry>> {
        if self.done {
            return None;
        }
        let r = self.step().transpose();
        if !matches!(r, Some(Ok(_))) {
            self.done = true;
        }
        r
    }
}

/// Where reading must start so that exactly the last `n` matching entries follow:
/// (index into `sources`, byte offset). Scans backwards in chunks.
fn tail_start(sources: &[Source], opts: &ReadOptions, n: usize) -> Result<(usize, u64)> {
    let mut found = 0usize;
    for (idx, src) in sources.iter().enumerate().rev() {
        let len = src
            .file
            .metadata()
            .map_err(|e| Error::io("stat", &src.path, e))?
            .len();
        let mut pos = len;
        // file[pos .. pos + pending.len()], ending with '\n' once the unterminated end is cut.
        let mut pending: Vec<u8> = Vec::new();
        let mut terminated = false;
        loop {
            if terminated {
                if n == 0 {
                    return Ok((idx, pos + pending.len() as u64));
                }
                // Take complete lines from the back of `pending`.
                while pending.len() > 1 || (pos == 0 && !pending.is_empty()) {
                    let body_end = pending.len() - 1;
                    let line_start = match rfind_newline(&pending[..body_end]) {
                        Some(j) => j + 1,
                        None if pos == 0 => 0,
                        None => break,
                    };
                    let line = &pending[line_start..body_end];
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    if let Ok(e) = decode_entry(line)
                        && opts.matches(&e)
                    {
                        found += 1;
                        if found == n {
                            return Ok((idx, pos + line_start as u64));
                        }
                    }
                    pending.truncate(line_start);
                }
                if pending.len() == 1 && pending[0] == b'\n' && pos == 0 {
                    break; // a leading empty line
                }
            }
            if pos == 0 {
                if !terminated && n == 0 {
                    return Ok((idx, 0));
                }
                break;
            }
            let c = TAIL_CHUNK.min(pos as usize);
            pos -= c as u64;
            let mut chunk = vec![0u8; c + pending.len()];
            src.file
                .read_exact_at(&mut chunk[..c], pos)
                .map_err(|e| Error::io("read", &src.path, e))?;
            chunk[c..].copy_from_slice(&pending);
            pending = chunk;
            if !terminated {
                match rfind_newline(&pending) {
                    Some(i) => {
                        pending.truncate(i + 1);
                        terminated = true;
                    }
                    None => continue,
                }
            }
        }
    }
    Ok((0, 0))
}

/// The identity (device, inode) of `path`, if it exists, and its size.
pub(crate) fn stat_id(path: &Path) -> Result<Option<((u64, u64), u64)>> {
    match fs::metadata(path) {
        Ok(m) => Ok(Some(((m.dev(), m.ino()), m.len()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("stat", path, e)),
    }
}
