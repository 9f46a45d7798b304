//! COPY and ADD from the context as a layer tar, made without a container: the destination's
//! parent directories as the image has them (created ones `0755` root), then the sources —
//! files owned by root unless `--chown`, `--chmod` applied, local archives extracted by ADD.

use std::io::{Read, Seek, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::sys::stat::FileStat;

use crate::error::{Error, Result};

use super::context::Context;

/// What a COPY/ADD writes.
pub struct CopySpec {
    /// Context paths (relative).
    pub sources: Vec<PathBuf>,
    /// Absolute destination in the image.
    pub dest: PathBuf,
    /// The destination names a directory (ends in `/`, or several sources).
    pub dest_is_dir: bool,
    /// `--chown` as numbers.
    pub owner: Option<(u64, u64)>,
    /// `--chmod`.
    pub mode: Option<u32>,
    /// ADD: local tar archives are extracted into the destination.
    pub extract_archives: bool,
}

fn io_err(what: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> Error {
    move |e| Error::internal(what, e)
}

/// Writes the layer tar of `spec` into a temporary file; `image_stat` says what the image
/// already has at an absolute path.
pub fn copy_layer(
    ctx: &Context,
    spec: &CopySpec,
    image_stat: &dyn Fn(&Path) -> Option<FileStat>,
) -> Result<std::fs::File> {
    let file = tempfile::tempfile().map_err(io_err("layer spool"))?;
    let mut b = tar::Builder::new(file);
    let dest_dir = if spec.dest_is_dir {
        spec.dest.clone()
    } else {
        spec.dest.parent().unwrap_or(Path::new("/")).to_path_buf()
    };
    let mut at = PathBuf::from("/");
    for c in dest_dir.components().skip(1) {
        at.push(c);
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_size(0);
        match image_stat(&at) {
            Some(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => {
                h.set_mode(st.st_mode & 0o7777);
                h.set_uid(st.st_uid as u64);
                h.set_gid(st.st_gid as u64);
                h.set_mtime(st.st_mtime.max(0) as u64);
            }
            Some(_) => {
                return Err(Error::InvalidArgument(format!(
                    "cannot copy to {}: {} is not a directory",
                    spec.dest.display(),
                    at.display()
                )));
            }
            None => {
                h.set_mode(0o755);
                let (uid, gid) = match (at == dest_dir, spec.owner) {
                    (true, Some(o)) => o,
                    _ => (0, 0),
                };
                h.set_uid(uid);
                h.set_gid(gid);
                h.set_mtime(now());
            }
        }
        b.append_data(&mut h, rel(&at), std::io::empty())
            .map_err(io_err("layer tar"))?;
    }
    for src in &spec.sources {
        let abs = ctx.root().join(src);
        let md = std::fs::metadata(&abs).map_err(io_err(src.display()))?;
        if md.is_dir() {
            let mut paths = Vec::new();
            ctx.walk(src, &mut |p| {
                if !ctx.is_excluded(p) {
                    paths.push(p.to_path_buf());
                }
            })?;
            for p in paths {
                let inner = p.strip_prefix(src).unwrap_or(&p);
                append(&mut b, &ctx.root().join(&p), &dest_dir.join(inner), spec)?;
            }
        } else if spec.extract_archives && is_archive(&abs) {
            extract_into(&mut b, &abs, &dest_dir)?;
        } else {
            let target = if spec.dest_is_dir {
                dest_dir.join(src.file_name().unwrap_or_default())
            } else {
                spec.dest.clone()
            };
            append(&mut b, &abs, &target, spec)?;
        }
    }
    let mut file = b.into_inner().map_err(io_err("layer tar"))?;
    file.flush().map_err(io_err("layer tar"))?;
    file.rewind().map_err(io_err("layer tar"))?;
    Ok(file)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// An absolute image path as a tar entry name.
fn rel(p: &Path) -> PathBuf {
    p.components().skip(1).collect()
}

/// One context entry (not following a symlink) at `target`.
fn append<W: Write>(
    b: &mut tar::Builder<W>,
    abs: &Path,
    target: &Path,
    spec: &CopySpec,
) -> Result<()> {
    let md = std::fs::symlink_metadata(abs).map_err(io_err(abs.display()))?;
    let mut h = tar::Header::new_gnu();
    let (uid, gid) = spec.owner.unwrap_or((0, 0));
    h.set_uid(uid);
    h.set_gid(gid);
    h.set_mtime(md.mtime().max(0) as u64);
    h.set_mode(spec.mode.unwrap_or(md.mode() & 0o7777));
    h.set_size(0);
    let name = rel(target);
    let ft = md.file_type();
    let res = if ft.is_dir() {
        h.set_entry_type(tar::EntryType::Directory);
        b.append_data(&mut h, &name, std::io::empty())
    } else if ft.is_symlink() {
        h.set_entry_type(tar::EntryType::Symlink);
        let link = std::fs::read_link(abs).map_err(io_err(abs.display()))?;
        b.append_link(&mut h, &name, link)
    } else if ft.is_file() {
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(md.len());
        let f = std::fs::File::open(abs).map_err(io_err(abs.display()))?;
        b.append_data(&mut h, &name, f.take(md.len()))
    } else {
        return Ok(()); // devices, fifos and sockets of the context are not copied
    };
    res.map_err(io_err("layer tar"))
}

/// A tar, plain or compressed, by its magic bytes.
fn is_archive(path: &Path) -> bool {
    let mut head = [0u8; 512];
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let n = f.read(&mut head).unwrap_or(0);
    let compressed = head.starts_with(&[0x1f, 0x8b]) || head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]);
    compressed || (n >= 262 && &head[257..262] == b"ustar")
}

/// ADD of a local archive: its entries under `dest`, kept as the archive has them.
fn extract_into<W: Write>(b: &mut tar::Builder<W>, archive: &Path, dest: &Path) -> Result<()> {
    let f = std::fs::File::open(archive).map_err(io_err(archive.display()))?;
    let bad = |e: std::io::Error| {
        Error::InvalidArgument(format!(
            "ADD {}: not a readable archive: {e}",
            archive.display()
        ))
    };
    let reader = berth_image::layer::decompressed(f, "")
        .map_err(|e| Error::InvalidArgument(format!("ADD {}: {e}", archive.display())))?;
    let mut a = tar::Archive::new(reader);
    for entry in a.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let path = entry.path().map_err(bad)?.into_owned();
        let mut inner = PathBuf::new();
        for c in path.components() {
            match c {
                std::path::Component::Normal(n) => inner.push(n),
                std::path::Component::ParentDir => {
                    return Err(Error::InvalidArgument(format!(
                        "ADD {}: entry {} leads out of the destination",
                        archive.display(),
                        path.display()
                    )));
                }
                _ => {}
            }
        }
        if inner.as_os_str().is_empty() {
            continue;
        }
        let mut h = entry.header().clone();
        let name = rel(&dest.join(&inner));
        if h.entry_type().is_symlink() || h.entry_type().is_hard_link() {
            let link = entry
                .link_name()
                .map_err(bad)?
                .unwrap_or_default()
                .into_owned();
            let link = if h.entry_type().is_hard_link() {
                rel(&dest.join(link))
            } else {
                link
            };
            b.append_link(&mut h, &name, link).map_err(bad)?;
        } else {
            b.append_data(&mut h, &name, &mut entry).map_err(bad)?;
        }
    }
    Ok(())
}

/// `--chown=UID[:GID]` with numbers (names would need the image's passwd: refused).
pub fn parse_chown(s: &str) -> Result<(u64, u64)> {
    let (u, g) = s.split_once(':').unwrap_or((s, s));
    match (u.parse(), g.parse()) {
        (Ok(u), Ok(g)) => Ok((u, g)),
        _ => Err(Error::InvalidArgument(format!(
            "--chown={s}: user and group names are not supported by berth yet; use numeric ids"
        ))),
    }
}

/// `--chmod=755`: octal.
pub fn parse_chmod(s: &str) -> Result<u32> {
    u32::from_str_radix(s, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| {
            Error::InvalidArgument(format!("invalid --chmod={s}: an octal mode is expected"))
        })
}
