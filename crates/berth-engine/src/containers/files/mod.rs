//! A container's files from outside: `archive` (HEAD/GET/PUT: stat, copy out, copy in, what
//! `docker cp` uses), `export` (the root filesystem as a tar) and `changes` (the writable
//! layer against the image). Paths are resolved inside the container's root, never through
//! a host path.

pub(crate) mod changes;
mod commit;
mod extract;
mod root;
mod stat;
mod tar_out;

use std::ffi::OsStr;
use std::io::Read;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;

use crate::engine::Engine;
use crate::error::{Error, Result};

pub(crate) use changes::image_stat;
pub(crate) use commit::runtime_mount_points;
pub(crate) use root::RootAccess;
pub use stat::PathStat;

/// A tar stream being written by a thread of its own.
pub type TarStream = Box<dyn Read + Send>;

/// `path` split into the directory to open inside the root and the entry in it (`.` for the
/// directory itself, as `docker cp CTR:/dir/. …` asks).
fn split(path: &str) -> (PathBuf, String) {
    let p = Path::new(if path.is_empty() { "/" } else { path });
    if path.ends_with("/.") || path == "." {
        return (p.to_path_buf(), ".".into());
    }
    match (p.parent(), p.file_name()) {
        (Some(parent), Some(base)) => (parent.to_path_buf(), base.to_string_lossy().into_owned()),
        _ => (PathBuf::from("/"), ".".into()),
    }
}

impl Engine {
    /// `HEAD /containers/{id}/archive?path=`.
    pub fn container_path_stat(&self, name: &str, path: &str) -> Result<PathStat> {
        let (_, access) = self.open_root(name, true)?;
        let (dir, base) = split(path);
        let dir = access.open(&dir, OFlag::O_PATH | OFlag::O_DIRECTORY)?;
        stat::stat_at(dir.as_fd(), &base, &base).map_err(|e| not_found(path, e))
    }

    /// `GET /containers/{id}/archive?path=`: the stat, and the tar written on a thread.
    pub fn container_archive(&self, name: &str, path: &str) -> Result<(PathStat, TarStream)> {
        let (_, access) = self.open_root(name, true)?;
        let (dir, base) = split(path);
        let dir = access.open(&dir, OFlag::O_PATH | OFlag::O_DIRECTORY)?;
        let st = stat::stat_at(dir.as_fd(), &base, &base).map_err(|e| not_found(path, e))?;
        let stream = spawn_tar(move |b| {
            let _keep = &access;
            tar_out::append(
                b,
                dir.as_fd(),
                OsStr::new(&base),
                Path::new(&base),
                tar_out::Style::Plain,
            )
        })?;
        Ok((st, stream))
    }

    /// `PUT /containers/{id}/archive?path=`. Blocking.
    pub fn extract_to_container(
        &self,
        name: &str,
        path: &str,
        body: &mut dyn Read,
        no_overwrite_dir_non_dir: bool,
        copy_uid_gid: bool,
    ) -> Result<()> {
        if copy_uid_gid {
            return Err(Error::InvalidArgument(
                "copyUIDGID (docker cp -a) is not supported by berth yet".into(),
            ));
        }
        let (_, access) = self.open_root(name, true)?;
        extract::extract(&access, path, body, no_overwrite_dir_non_dir)
    }

    /// `GET /containers/{id}/export`: the root filesystem (volumes and binds excluded).
    pub fn export_container(&self, name: &str) -> Result<TarStream> {
        let (_, access) = self.open_root(name, false)?;
        let root = access.open(Path::new("/"), OFlag::O_RDONLY | OFlag::O_DIRECTORY)?;
        spawn_tar(move |b| {
            let _keep = &access;
            tar_out::append_children(b, root, Path::new(""), tar_out::Style::Plain)
        })
    }
}

fn not_found(path: &str, e: nix::errno::Errno) -> Error {
    match e {
        nix::errno::Errno::ENOENT | nix::errno::Errno::ENOTDIR => {
            Error::NotFound(format!("Could not find the file {path} in container"))
        }
        e => Error::internal(format!("stat {path}"), e),
    }
}

/// Runs `write` on a thread into a pipe and hands back the read end. A failure mid-way ends
/// the stream with that error (after what was written), so a reader never takes a truncated
/// tar for a whole one.
fn spawn_tar(
    write: impl FnOnce(&mut tar::Builder<std::io::PipeWriter>) -> std::io::Result<()> + Send + 'static,
) -> Result<TarStream> {
    let (reader, writer) = std::io::pipe().map_err(|e| Error::internal("pipe", e))?;
    let writer = std::thread::spawn(move || {
        let mut b = tar::Builder::new(writer);
        b.mode(tar::HeaderMode::Complete);
        let res = write(&mut b).and_then(|()| b.finish());
        if let Err(e) = &res {
            tracing::warn!("writing a container archive: {e}");
        }
        res
    });
    Ok(Box::new(CheckedPipe {
        reader,
        writer: Some(writer),
    }))
}

/// The read end of [`spawn_tar`]'s pipe: at its end, the writer's error if it failed.
struct CheckedPipe {
    reader: std::io::PipeReader,
    writer: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl Read for CheckedPipe {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.reader.read(buf)?;
        if n == 0
            && !buf.is_empty()
            && let Some(writer) = self.writer.take()
        {
            writer
                .join()
                .map_err(|_| std::io::Error::other("the archive writer panicked"))??;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn splits() {
        assert_eq!(split("/etc/passwd"), ("/etc".into(), "passwd".into()));
        assert_eq!(split("/etc/"), ("/".into(), "etc".into()));
        assert_eq!(split("/etc/."), ("/etc/.".into(), ".".into()));
        assert_eq!(split("/"), ("/".into(), ".".into()));
    }
}
