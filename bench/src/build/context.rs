//! The build bench's context, made once and kept in the cache dir: a 64 MiB random file (COPY
//! of one big file: pure data), a tree of 10 000 small files in 1 100 directories (COPY of a
//! tree: metadata-heavy), a few small files, and the 8-step Dockerfile — about 120 MB.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use crate::rootfs::remove_if_present;
use crate::testdata::{bytes, text};

/// The base image's name in every engine (imported from the debootstrap rootfs).
pub const BASE: &str = "bench-build-base:1";

/// The Dockerfile: 8 steps — FROM, ENV, two COPYs, a RUN that writes a file and deletes one of
/// the tree (a whiteout), WORKDIR of a new directory, a second RUN, CMD.
const DOCKERFILE: &str = "FROM bench-build-base:1
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin APP=bench
COPY big.bin /data/
COPY tree/ /tree/
RUN echo built > /data/stamp && rm /tree/d00/s0/f00000
WORKDIR /app
RUN ls /tree/d01 > /app/listing && cat /etc/debian_version > /app/base
CMD [\"/bin/bash\"]
";

/// Files of the tree: this many, in 100 directories of 10 subdirectories.
const TREE_FILES: usize = 10_000;

/// What the context weighs.
pub struct BuildContext {
    pub dir: PathBuf,
    pub files: usize,
    pub bytes: u64,
}

/// Returns `cache/build-context`, making it (under a `.partial` name, renamed when complete)
/// when missing.
pub fn ensure(cache: &Path) -> Result<BuildContext> {
    let dir = cache.join("build-context");
    if !dir.exists() {
        let partial = cache.join("build-context.partial");
        remove_if_present(&partial)?;
        println!("making the build context in {} ...", dir.display());
        make(&partial)?;
        std::fs::rename(&partial, &dir)?;
    }
    let (files, bytes) = weigh(&dir)?;
    Ok(BuildContext { dir, files, bytes })
}

fn make(dir: &Path) -> Result<()> {
    let mut random = File::open("/dev/urandom")?;
    std::fs::create_dir_all(dir.join("conf"))?;
    std::fs::write(dir.join("Dockerfile"), DOCKERFILE)?;
    std::fs::write(dir.join("big.bin"), bytes(&mut random, 64 << 20)?)?;
    std::fs::write(dir.join("README.md"), text(1, 3 << 10))?;
    std::fs::write(dir.join("conf/app.conf"), text(2, 2 << 10))?;
    std::fs::write(dir.join("conf/extra.conf"), text(3, 1 << 10))?;
    let mut sizes = vec![0u8; TREE_FILES * 2];
    random.read_exact(&mut sizes)?;
    for f in 0..TREE_FILES {
        let sub = dir.join(format!("tree/d{:02}/s{}", f % 100, (f / 100) % 10));
        std::fs::create_dir_all(&sub).with_context(|| format!("create {}", sub.display()))?;
        let r = u16::from_le_bytes([sizes[2 * f], sizes[2 * f + 1]]);
        let len = small_file_len(r);
        let body = if f % 2 == 0 {
            bytes(&mut random, len)?
        } else {
            text(f, len)
        };
        std::fs::write(sub.join(format!("f{f:05}")), body)?;
    }
    Ok(())
}

/// 1–16 KiB, log-uniform (small files are the common ones): 5.4 KiB on average, so the tree
/// is about 55 MB.
fn small_file_len(r: u16) -> usize {
    (1024.0 * 16f64.powf(f64::from(r) / 65536.0)) as usize
}

/// Regular files under `dir` and their total size.
fn weigh(dir: &Path) -> Result<(usize, u64)> {
    let mut files = 0;
    let mut bytes = 0;
    for e in std::fs::read_dir(dir).with_context(|| format!("list {}", dir.display()))? {
        let e = e?;
        let md = e.metadata()?;
        if md.is_dir() {
            let (f, b) = weigh(&e.path())?;
            files += f;
            bytes += b;
        } else {
            files += 1;
            bytes += md.len();
        }
    }
    Ok((files, bytes))
}
