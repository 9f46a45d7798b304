//! Rotated file names: `path` (newest), `path.1`, …, `path.{max_file-1}` (oldest).

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::error::{Error, Result};

/// `path` for `n == 0`, otherwise `path.n`.
pub fn rotated_path(path: &Path, n: u32) -> PathBuf {
    if n == 0 {
        return path.to_path_buf();
    }
    let mut s = OsString::from(path.as_os_str());
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// The existing log files, oldest first (`path.k`, …, `path.1`, `path`). Rotated files are
/// looked up as long as they are contiguous; `path` itself is included only if it exists.
pub fn existing_files(path: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if path.exists() {
        files.push(path.to_path_buf());
    }
    // A rotation in progress renames `.n` to `.n+1` from the oldest down, leaving one gap at a
    // time: look one index past a gap before concluding the list has ended.
    let mut n = 1;
    let mut missed = 0;
    while missed < 2 {
        let p = rotated_path(path, n);
        if p.exists() {
            files.push(p);
            missed = 0;
        } else {
            missed += 1;
        }
        n += 1;
    }
    files.reverse();
    files
}

/// Shifts `path` → `path.1` → … → `path.{max_file-1}`, dropping the oldest. With `max_file`
/// 1 the current file is removed. Afterwards `path` does not exist.
pub fn rotate(path: &Path, max_file: u32) -> Result<()> {
    let remove = |p: PathBuf| match fs::remove_file(&p) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::io("remove", p, e)),
        _ => Ok(()),
    };
    if max_file <= 1 {
        return remove(path.to_path_buf());
    }
    remove(rotated_path(path, max_file - 1))?;
    for n in (0..max_file - 1).rev() {
        let from = rotated_path(path, n);
        match fs::rename(&from, rotated_path(path, n + 1)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(Error::io("rename", from, e));
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_and_lists() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.log");
        assert!(existing_files(&p).is_empty());
        for i in 0..5 {
            fs::write(&p, format!("{i}")).unwrap();
            rotate(&p, 3).unwrap();
            assert!(!p.exists());
        }
        fs::write(&p, "5").unwrap();
        let files = existing_files(&p);
        assert_eq!(
            files,
            vec![rotated_path(&p, 2), rotated_path(&p, 1), p.clone()]
        );
        let contents: Vec<String> = files
            .iter()
            .map(|f| fs::read_to_string(f).unwrap())
            .collect();
        assert_eq!(contents, ["3", "4", "5"]);
        rotate(&p, 1).unwrap();
        assert!(!p.exists());
    }
}
