//! Small filesystem helpers shared by the stores: atomic metadata writes and unique temp names.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};

/// A name unique within this host for the life of the process: pid, time and a counter.
pub(crate) fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}{}-{t:x}-{n}", std::process::id())
}

/// Whether a file named by [`unique_name`] belongs to a process that no longer exists (so it
/// is debris from a crash, not another handle's work in progress).
pub(crate) fn is_stale(name: &str, prefix: &str) -> bool {
    let Some(pid) = name.strip_prefix(prefix).and_then(|r| r.split('-').next()) else {
        return false;
    };
    match pid.parse::<u32>() {
        Ok(pid) => pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists(),
        Err(_) => false,
    }
}

/// Removes the files in `dir` whose names (after `prefix`) [`is_stale`].
pub(crate) fn remove_stale(dir: &Path, prefix: &str) -> Result<()> {
    for e in fs::read_dir(dir).map_err(Error::io("read dir", dir))? {
        let e = e.map_err(Error::io("read dir", dir))?;
        if is_stale(&e.file_name().to_string_lossy(), prefix) {
            tracing::info!(path = %e.path().display(), "removing debris of an interrupted write");
            let _ = fs::remove_file(e.path());
        }
    }
    Ok(())
}

/// Fsyncs a directory so that a rename or create inside it is durable.
pub(crate) fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(Error::io("fsync", dir))
}

/// Writes `data` to `path` so that readers see either the old or the new content, never a
/// partial one: temp file in the same directory, fsync, rename, fsync the directory.
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(unique_name(".tmp-"));
    let res = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(Error::io("create", &tmp))?;
        f.write_all(data).map_err(Error::io("write", &tmp))?;
        f.sync_all().map_err(Error::io("fsync", &tmp))?;
        fs::rename(&tmp, path).map_err(Error::io("rename", path))
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res?;
    fsync_dir(dir)
}

/// Creates `path` and its parents.
pub(crate) fn mkdir_all(path: &Path) -> Result<PathBuf> {
    fs::create_dir_all(path).map_err(Error::io("mkdir", path))?;
    Ok(path.to_path_buf())
}

/// The current time as RFC 3339 UTC (`2024-01-02T03:04:05Z`), as image configs record it.
pub(crate) fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    rfc3339(secs as i64)
}

/// Formats Unix seconds as RFC 3339 UTC (civil-from-days, Howard Hinnant's algorithm).
pub(crate) fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn stale_names() {
        let mine = super::unique_name(".tmp-");
        assert!(!super::is_stale(&mine, ".tmp-"));
        assert!(super::is_stale(".tmp-999999999-1-0", ".tmp-"));
        assert!(!super::is_stale("index.json", ".tmp-"));
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
