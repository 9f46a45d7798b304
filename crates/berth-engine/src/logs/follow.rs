//! Following a log as it grows (`docker logs --follow`), across rotations.

use std::os::fd::AsFd;
use std::path::Path;
use std::time::{Duration, SystemTime};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

use super::error::Result;
use super::format::LogEntry;
use super::reader::{LineReader, LogReader, ReadOptions, Source, open_all, stat_id};

/// How often `stop` is checked (and the file looked at) when no change notification arrives.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Emits the existing entries of the log at `path` (respecting `tail`, `since`, `until` and the
/// stream filters), then new ones as they are appended, following rotations (the current file
/// renamed away, detected by its inode changing) and truncation. Returns when `stop()` is true
/// and no more data is available, when `until` has passed, or on the first error (including
/// one returned by `emit`). The log need not exist yet.
///
/// Changes are waited for with inotify on the log's directory, with a [`POLL_INTERVAL`] timeout
/// so that `stop` is checked at least that often (and plain polling if inotify is unavailable).
pub fn follow(
    path: impl AsRef<Path>,
    opts: ReadOptions,
    stop: impl Fn() -> bool,
    mut emit: impl FnMut(LogEntry) -> Result<()>,
) -> Result<()> {
    let path = path.as_ref();
    let watcher = watch(path);
    let mut reader = LogReader::open(path, opts)?;
    loop {
        while let Some(e) = reader.step()? {
            emit(e)?;
        }
        // At the end of the current file: has it been replaced or truncated?
        if let Some((id, len)) = stat_id(path)? {
            match reader.cur.as_mut() {
                Some(cur) if cur.src.id == id => {
                    if len < cur.read_pos {
                        tracing::debug!("log {} truncated, reading from the start", path.display());
                        cur.restart();
                        continue;
                    }
                }
                _ => {
                    // Rotated (or created). The old file is complete now; finish it, then
                    // continue with the files newer than it.
                    while let Some(e) = reader.step()? {
                        emit(e)?;
                    }
                    switch_files(&mut reader, path)?;
                    continue;
                }
            }
        }
        if stop() || opts.until.is_some_and(|u| SystemTime::now() >= u) {
            return Ok(());
        }
        wait(watcher.as_ref());
    }
}

/// The log's files, listed until two listings agree: a listing taken while the writer is
/// renaming files along could name a file under the index it is just leaving.
fn stable_listing(path: &Path) -> Result<Vec<Source>> {
    let ids = |s: &[Source]| s.iter().map(|x| x.id).collect::<Vec<_>>();
    let mut sources = open_all(path)?;
    for _ in 0..100 {
        let again = open_all(path)?;
        if ids(&again) == ids(&sources) {
            break;
        }
        sources = again;
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(sources)
}

/// After a rotation: queue the files newer than the one being read (all of them if it has
/// been dropped or there was none).
fn switch_files(reader: &mut LogReader, path: &Path) -> Result<()> {
    let mut sources = stable_listing(path)?;
    if let Some(cur) = &reader.cur
        && let Some(i) = sources.iter().position(|s| s.id == cur.src.id)
    {
        sources.drain(..=i);
    }
    let mut sources = sources.into_iter();
    if reader.cur.is_none() {
        reader.cur = sources.next().map(|s: Source| LineReader::new(s, 0));
    }
    reader.replace_pending(sources.collect());
    Ok(())
}

fn watch(path: &Path) -> Option<Inotify> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
        .inspect_err(|e| tracing::debug!("inotify unavailable, polling: {e}"))
        .ok()?;
    let mask = AddWatchFlags::IN_MODIFY
        | AddWatchFlags::IN_CREATE
        | AddWatchFlags::IN_MOVED_TO
        | AddWatchFlags::IN_MOVED_FROM
        | AddWatchFlags::IN_DELETE
        | AddWatchFlags::IN_CLOSE_WRITE;
    match inotify.add_watch(dir, mask) {
        Ok(_) => Some(inotify),
        Err(e) => {
            tracing::debug!("cannot watch {}, polling: {e}", dir.display());
            None
        }
    }
}

/// Waits for a change in the log's directory or [`POLL_INTERVAL`], whichever comes first.
fn wait(watcher: Option<&Inotify>) {
    let Some(inotify) = watcher else {
        std::thread::sleep(POLL_INTERVAL);
        return;
    };
    let timeout = PollTimeout::try_from(POLL_INTERVAL).unwrap_or(PollTimeout::NONE);
    let mut fds = [PollFd::new(inotify.as_fd(), PollFlags::POLLIN)];
    if let Ok(n) = poll(&mut fds, timeout)
        && n > 0
    {
        // Drain the queued events; which file changed does not matter.
        while matches!(inotify.read_events(), Ok(ev) if !ev.is_empty()) {}
    }
}
