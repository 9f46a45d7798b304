//! File primitives for cgroup trees: every error names the path, because "Invalid argument"
//! alone never tells an operator which of a dozen knobs the kernel refused.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::{Error, Result};

/// Wraps an I/O error with the path it happened on.
pub(crate) fn io_err(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One knob to set in a cgroup directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Write {
    /// Write `value` to `file`.
    File(String, String),
    /// Two knobs the kernel validates against each other (memory limit vs memory+swap, cfs
    /// period vs quota): the order that works depends on the current values, so try one order
    /// and on EINVAL the other.
    EitherOrder([(String, String); 2]),
}

impl Write {
    pub(crate) fn file(name: impl Into<String>, value: impl ToString) -> Self {
        Self::File(name.into(), value.to_string())
    }
}

/// Writes `value` to `path` in a single write, as cgroupfs parses each write separately.
/// Creates the file when missing so fake trees in tests behave like cgroupfs.
pub(crate) fn write(path: &Path, value: &str) -> Result<()> {
    std::fs::write(path, value).map_err(|e| io_err(path, e))
}

/// Performs `writes` in order inside `dir`.
pub(crate) fn apply(dir: &Path, writes: &[Write]) -> Result<()> {
    for w in writes {
        match w {
            Write::File(file, value) => write(&dir.join(file), value)?,
            Write::EitherOrder([a, b]) => {
                let pair = |x: &(String, String), y: &(String, String)| {
                    write(&dir.join(&x.0), &x.1)?;
                    write(&dir.join(&y.0), &y.1)
                };
                match pair(a, b) {
                    Err(Error::Io { source, .. })
                        if source.raw_os_error() == Some(libc::EINVAL) =>
                    {
                        pair(b, a)?
                    }
                    other => other?,
                }
            }
        }
    }
    Ok(())
}

/// Reads a file, trimmed.
pub(crate) fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| io_err(path, e))
}

/// Reads a file that may legitimately be absent (controller not mounted, kernel too old).
pub(crate) fn read_opt(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s.trim().to_string())),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path, e)),
    }
}

/// Reads a numeric file; absent or "max" reads as `None`.
pub(crate) fn read_u64(path: &Path) -> Result<Option<u64>> {
    Ok(read_opt(path)?.and_then(|s| s.parse().ok()))
}

/// Value of `key` in a flat-keyed file such as memory.events ("oom_kill 3").
pub(crate) fn keyed_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// Creates `dir` and its parents (idempotent).
pub(crate) fn mkdir_all(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))
}

/// `dir` and every cgroup below it, parents before children.
fn walk(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = vec![dir.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        let entries = match std::fs::read_dir(&out[i]) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                i += 1;
                continue;
            }
            Err(e) => return Err(io_err(&out[i], e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| io_err(&out[i], e))?;
            if entry
                .file_type()
                .map_err(|e| io_err(&entry.path(), e))?
                .is_dir()
            {
                out.push(entry.path());
            }
        }
        i += 1;
    }
    Ok(out)
}

/// Every pid in cgroup.procs of `dir` and its descendants; a missing `dir` has none.
pub(crate) fn all_pids(dir: &Path) -> Result<Vec<i32>> {
    let mut pids = Vec::new();
    for d in walk(dir)? {
        if let Some(text) = read_opt(&d.join("cgroup.procs"))? {
            pids.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
        }
    }
    Ok(pids)
}

/// Removes `dir` and any child cgroups, deepest first. Absent is fine; EBUSY is retried for
/// about two seconds because killed processes take a moment to leave.
pub(crate) fn remove_tree(dir: &Path) -> Result<()> {
    // A container's cgroup rarely has children: one rmdir then, and no walk of its files.
    match std::fs::remove_dir(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(_) => {}
    }
    let mut dirs = walk(dir)?;
    dirs.reverse();
    for d in dirs {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            match std::fs::remove_dir(&d) {
                Ok(()) => break,
                Err(e) if e.kind() == ErrorKind::NotFound => break,
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(io_err(&d, e)),
            }
        }
    }
    Ok(())
}

/// Polls `done` with short sleeps for up to five seconds: the kernel reaches freezer states
/// asynchronously. `what` names the state for the timeout error.
pub(crate) fn poll_until(what: &str, mut done: impl FnMut() -> Result<bool>) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut sleep = Duration::from_millis(1);
    loop {
        if done()? {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::Other(format!("timed out waiting for {what}")));
        }
        std::thread::sleep(sleep);
        sleep = (sleep * 2).min(Duration::from_millis(100));
    }
}

/// Every `key value` line of a flat-keyed file (memory.stat, cpu.stat).
pub(crate) fn keyed_values(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

/// `MAJ:MIN` of a device.
pub(crate) fn device(text: &str) -> Option<(u64, u64)> {
    let (major, minor) = text.split_once(':')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}
