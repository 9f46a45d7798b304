//! The pull benchmark's test image, built once and cached: six layers shaped like the images
//! people pull — a Debian rootfs from debootstrap, 64 MiB of random data (incompressible: pure
//! transfer and write), a tree of 10 000 small files (metadata-heavy unpack), and three smaller
//! layers, the last of which deletes files of the tree with whiteouts.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::layout::{LayerTar, Layout, UNPACKED_SIZE};
use crate::rootfs::{self, Debootstrap, remove_if_present};
use crate::testdata::{bytes, text};

/// The tag the layout names its manifest with.
pub const TAG: &str = "1";

/// The cached image: its OCI layout and what it weighs.
pub struct TestImage {
    pub layout: PathBuf,
    pub layers: usize,
    pub compressed: u64,
    pub unpacked: u64,
}

/// Returns the cached image under `cache`, building what is missing: the rootfs first
/// (`cache/rootfs`), then the layout (`cache/oci`). Each is made under a `.partial` name and
/// renamed when complete, so an interrupted build is redone, never used.
pub fn ensure(cache: &Path, debootstrap: &Debootstrap) -> Result<TestImage> {
    std::fs::create_dir_all(cache).with_context(|| format!("create {}", cache.display()))?;
    let layout = cache.join("oci");
    if !layout.join("index.json").exists() {
        let rootfs = rootfs::ensure(cache, debootstrap)?;
        let partial = cache.join("oci.partial");
        remove_if_present(&partial)?;
        println!("building the test image in {} ...", layout.display());
        build(&rootfs, &partial)?;
        remove_if_present(&layout)?;
        std::fs::rename(&partial, &layout)?;
    }
    describe(&layout)
}

/// Small files in layer 3: this many, in 100 directories of 10 subdirectories.
const TREE_FILES: usize = 10_000;
const TREE_ROOT: &str = "usr/share/bench-tree";

fn build(rootfs: &Path, dir: &Path) -> Result<()> {
    let mut random = File::open("/dev/urandom")?;
    let mut layout = Layout::create(dir)?;
    layout.add_layer(|tar| Ok(tar.append_dir_all(".", rootfs)?))?;
    layout.add_layer(|tar| {
        dirs(tar, &["srv", "srv/data"])?;
        let blob = bytes(&mut random, 64 << 20)?;
        file(tar, "srv/data/random.bin", 0o644, &blob)
    })?;
    layout.add_layer(|tar| small_file_tree(tar, &mut random))?;
    layout.add_layer(|tar| {
        dirs(tar, &["etc/bench", "usr/local", "usr/local/bin"])?;
        for i in 0..32 {
            file(
                tar,
                &format!("etc/bench/conf-{i}.txt"),
                0o644,
                &text(i, 96 << 10),
            )?;
        }
        file(
            tar,
            "usr/local/bin/tool",
            0o755,
            &bytes(&mut random, 2 << 20)?,
        )
    })?;
    layout.add_layer(|tar| {
        dirs(tar, &["opt", "opt/app", "opt/app/lib"])?;
        for i in 0..8 {
            let lib = bytes(&mut random, 512 << 10)?;
            file(tar, &format!("opt/app/lib/libpart{i}.so"), 0o755, &lib)?;
        }
        Ok(())
    })?;
    layout.add_layer(|tar| {
        // Deletes one directory of the tree wholesale and single files of others.
        dirs(
            tar,
            &["usr", "usr/share", TREE_ROOT, &format!("{TREE_ROOT}/d00")],
        )?;
        file(tar, &format!("{TREE_ROOT}/d00/.wh.s0"), 0o644, b"")?;
        dirs(tar, &[&format!("{TREE_ROOT}/d01")])?;
        for s in 0..10 {
            let sub = format!("{TREE_ROOT}/d01/s{s}");
            dirs(tar, &[&sub])?;
            for f in (0..TREE_FILES).filter(|&f| tree_place(f) == (1, s)).take(5) {
                file(tar, &format!("{sub}/.wh.f{f:05}"), 0o644, b"")?;
            }
        }
        dirs(tar, &["var/log/bench"])?;
        for i in 0..4 {
            let log = text(100 + i, 768 << 10);
            file(tar, &format!("var/log/bench/run-{i}.log"), 0o644, &log)?;
        }
        Ok(())
    })?;
    layout.finish(TAG, &["/bin/bash"])
}

/// Where file `f` of the tree lives: directory `d` (0..100) and subdirectory `s` (0..10).
fn tree_place(f: usize) -> (usize, usize) {
    (f % 100, (f / 100) % 10)
}

/// 10 000 files of 1–16 KiB, half random (like compressed assets), half text (like sources).
fn small_file_tree(tar: &mut LayerTar, random: &mut File) -> Result<()> {
    dirs(tar, &["usr", "usr/share", TREE_ROOT])?;
    for d in 0..100 {
        dirs(tar, &[&format!("{TREE_ROOT}/d{d:02}")])?;
        for s in 0..10 {
            dirs(tar, &[&format!("{TREE_ROOT}/d{d:02}/s{s}")])?;
        }
    }
    let mut sizes = vec![0u8; TREE_FILES * 2];
    random.read_exact(&mut sizes)?;
    for f in 0..TREE_FILES {
        let len =
            1024 + usize::from(u16::from_le_bytes([sizes[2 * f], sizes[2 * f + 1]])) % (15 << 10);
        let body = if f % 2 == 0 {
            bytes(random, len)?
        } else {
            text(f, len)
        };
        let (d, s) = tree_place(f);
        file(
            tar,
            &format!("{TREE_ROOT}/d{d:02}/s{s}/f{f:05}"),
            0o644,
            &body,
        )?;
    }
    Ok(())
}

/// Fixed mtime: the layers are the same bytes whenever the same content is written.
const MTIME: u64 = 1_700_000_000;

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(MTIME);
    h
}

fn dirs(tar: &mut LayerTar, paths: &[&str]) -> Result<()> {
    for p in paths {
        tar.append_data(&mut header(tar::EntryType::Directory, 0o755, 0), p, &[][..])?;
    }
    Ok(())
}

fn file(tar: &mut LayerTar, path: &str, mode: u32, body: &[u8]) -> Result<()> {
    let mut h = header(tar::EntryType::Regular, mode, body.len() as u64);
    tar.append_data(&mut h, path, body)?;
    Ok(())
}

/// Layer count and sizes, read back from the layout's manifest.
fn describe(layout: &Path) -> Result<TestImage> {
    let read = |digest: &str| -> Result<Value> {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        let path = layout.join("blobs/sha256").join(hex);
        let bytes = std::fs::read(&path).with_context(|| format!("read {}", path.display()))?;
        Ok(serde_json::from_slice(&bytes)?)
    };
    let index: Value = serde_json::from_slice(&std::fs::read(layout.join("index.json"))?)?;
    let manifest = read(index["manifests"][0]["digest"].as_str().unwrap_or_default())?;
    let Some(layers) = manifest["layers"].as_array() else {
        bail!(
            "{}: the manifest has no layers; remove the cache dir to rebuild",
            layout.display()
        );
    };
    let size = |l: &Value| l["size"].as_u64().unwrap_or(0);
    let unpacked = |l: &Value| {
        l["annotations"][UNPACKED_SIZE]
            .as_str()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok(TestImage {
        layout: layout.to_path_buf(),
        layers: layers.len(),
        compressed: layers.iter().map(size).sum(),
        unpacked: layers.iter().map(unpacked).sum(),
    })
}
