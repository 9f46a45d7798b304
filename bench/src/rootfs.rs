//! The benches' Debian base: a `debootstrap --variant=minbase bookworm` rootfs, made once and
//! kept in a cache dir (the pull bench's first layer, the build bench's base image), and the
//! same rootfs as a plain tar for `import`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::daemon::unmount_under;

/// Where the debootstrap'ed rootfs comes from (the benches' shared options).
#[derive(clap::Args)]
pub struct Debootstrap {
    /// The debootstrap program (only when the cache has no rootfs yet).
    #[arg(
        long = "debootstrap",
        value_name = "PATH",
        default_value = "/usr/sbin/debootstrap"
    )]
    pub binary: PathBuf,
    /// The Debian mirror debootstrap installs from (only when the cache has no rootfs yet).
    #[arg(long, default_value = "http://deb.debian.org/debian")]
    pub mirror: String,
}

/// `cache/rootfs`, made with debootstrap when missing (under a `.partial` name, renamed when
/// complete, so an interrupted run is redone, never used).
pub fn ensure(cache: &Path, debootstrap: &Debootstrap) -> Result<PathBuf> {
    let rootfs = cache.join("rootfs");
    if rootfs.exists() {
        return Ok(rootfs);
    }
    if !debootstrap.binary.exists() {
        bail!(
            "{} not found: the benches' base is a Debian rootfs made with debootstrap \
             (apt-get install debootstrap, or pass --debootstrap)",
            debootstrap.binary.display()
        );
    }
    std::fs::create_dir_all(cache).with_context(|| format!("create {}", cache.display()))?;
    let partial = cache.join("rootfs.partial");
    remove_if_present(&partial)?;
    let log = cache.join("debootstrap.log");
    println!(
        "debootstrap --variant=minbase bookworm {} {} (log: {}) ...",
        partial.display(),
        debootstrap.mirror,
        log.display()
    );
    let status = Command::new(&debootstrap.binary)
        .args(["--variant=minbase", "bookworm"])
        .arg(&partial)
        .arg(&debootstrap.mirror)
        .stdin(Stdio::null())
        .stdout(File::create(&log)?)
        .stderr(File::create(&log)?.try_clone()?)
        .status()
        .context("run debootstrap")?;
    // debootstrap mounts /proc and /sys inside its target; a failed run can leave them behind.
    unmount_under(&partial);
    if !status.success() {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(5).collect();
        bail!(
            "debootstrap failed ({status}); the benches need its Debian rootfs. Last lines of {}:\n{}",
            log.display(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    // The downloaded packages stay in the target; Debian's own images drop them too.
    for deb in std::fs::read_dir(partial.join("var/cache/apt/archives"))? {
        let path = deb?.path();
        if path.extension().is_some_and(|e| e == "deb") {
            std::fs::remove_file(path)?;
        }
    }
    std::fs::rename(&partial, &rootfs)?;
    Ok(rootfs)
}

/// `cache/rootfs.tar`: the rootfs as an uncompressed tar (what `import` takes), made when
/// missing.
pub fn ensure_tar(cache: &Path, debootstrap: &Debootstrap) -> Result<PathBuf> {
    let tar = cache.join("rootfs.tar");
    if tar.exists() {
        return Ok(tar);
    }
    let rootfs = ensure(cache, debootstrap)?;
    let partial = cache.join("rootfs.tar.partial");
    let mut b = tar::Builder::new(BufWriter::new(File::create(&partial)?));
    b.mode(tar::HeaderMode::Complete);
    b.follow_symlinks(false);
    b.append_dir_all(".", &rootfs)
        .with_context(|| format!("tar {}", rootfs.display()))?;
    let mut out = b.into_inner()?;
    out.flush()?;
    out.into_inner()?.sync_all()?;
    std::fs::rename(&partial, &tar)?;
    Ok(tar)
}

/// Removes `path` (a directory) and whatever is mounted under it, if it exists.
pub fn remove_if_present(path: &Path) -> Result<()> {
    if path.exists() {
        unmount_under(path);
        std::fs::remove_dir_all(path).with_context(|| format!("remove {}", path.display()))?;
    }
    Ok(())
}
