//! A fresh ext4 (with its journal, as on a usual Docker host) on a loop device, holding every
//! contender's data for the run. The pull bench deletes and recreates 17 000 files per pull, a
//! cold build 10 000 per build; on an ext4 without a journal (this machine's root) every new
//! inode then skips the inodes deleted in the last 30 s (`recently_deleted` in the kernel's
//! inode allocator), which made file creation the cost of the whole pull and its timing depend
//! on the order of the contenders. Unmounted by the scratch dir's drop; the loop device
//! detaches with the unmount.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use clap::Args;

use crate::stats::check;

/// Makes a sparse `size_gib` image under `scratch`, formats it and mounts it at `scratch/data`.
pub fn mount(scratch: &Path, size_gib: u64) -> Result<PathBuf> {
    let image = scratch.join("data.ext4");
    std::fs::File::create(&image)?.set_len(size_gib << 30)?;
    check(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&image)).context(
        "format the data filesystem (mkfs.ext4: apt-get install e2fsprogs), or pass --on-scratch",
    )?;
    let dir = scratch.join("data");
    std::fs::create_dir(&dir)?;
    check(
        Command::new("mount")
            .args(["-o", "loop"])
            .arg(&image)
            .arg(&dir),
    )
    .context("loop-mount the data filesystem, or pass --on-scratch")?;
    Ok(dir)
}

/// Where a bench keeps the contenders' data: a fresh ext4 (the default) or the scratch dir.
#[derive(Args)]
pub struct DataFs {
    /// Size of the fresh loop-mounted ext4 the contenders store their data on.
    #[arg(long, default_value_t = 8)]
    data_fs_gib: u64,
    /// Keep the contenders' data in the scratch dir on /tmp's filesystem instead of a fresh
    /// ext4 (results then depend on that filesystem; see `datafs`).
    #[arg(long)]
    on_scratch: bool,
}

impl DataFs {
    /// The directory the contenders' data goes under, inside `scratch`.
    pub fn prepare(&self, scratch: &Path) -> Result<PathBuf> {
        if self.on_scratch {
            Ok(scratch.to_path_buf())
        } else {
            mount(scratch, self.data_fs_gib)
        }
    }
}
