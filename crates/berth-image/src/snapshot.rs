//! Unpacked layers and container roots for overlayfs. Each layer is unpacked once into
//! `<root>/snapshots/<chain id hex>/fs`; a `committed` marker, written (after a syncfs) only when
//! the unpack finished, is what makes a snapshot real. Anything without it is debris from an
//! interrupted unpack and is removed on open. Snapshots are named by ChainID, not DiffID,
//! because a layer's whiteouts only mean something on top of its parents.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::fsutil::{fsync_dir, mkdir_all, unique_name, write_atomic};

const COMMITTED: &str = "committed";
const PENDING_PREFIX: &str = "pending-";

/// ChainIDs per the OCI image spec: chain(L0) = diff(L0); chain(Ln) = sha256(chain(Ln-1) + " " +
/// diff(Ln)). Input and output are bottom layer first.
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => Digest::of(format!("{prev} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

/// The overlay mount a container's root needs; the engine performs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    /// Filesystem type: `overlay`.
    pub fstype: String,
    /// Mount source: `overlay`.
    pub source: String,
    /// Lower directories, topmost layer first.
    pub lowerdirs: Vec<PathBuf>,
    /// The container's writable layer.
    pub upperdir: PathBuf,
    /// overlayfs's scratch directory (same filesystem as `upperdir`).
    pub workdir: PathBuf,
    /// The `-o` data string: `lowerdir=top:…:bottom,upperdir=…,workdir=…`.
    pub data: String,
}

/// The snapshot and container-root directories.
#[derive(Debug, Clone)]
pub struct Snapshots {
    dir: PathBuf,
    containers: PathBuf,
}

/// A snapshot being unpacked. Dropped without [`PendingSnapshot::commit`], it is removed.
#[derive(Debug)]
pub struct PendingSnapshot {
    dir: PathBuf,
    snapshots: Snapshots,
    done: bool,
}

impl Snapshots {
    /// Opens `<root>/snapshots` and `<root>/containers`, removing uncommitted snapshots.
    pub fn open(root: impl AsRef<Path>) -> Result<Snapshots> {
        let dir = mkdir_all(&root.as_ref().join("snapshots"))?;
        let containers = mkdir_all(&root.as_ref().join("containers"))?;
        for e in fs::read_dir(&dir).map_err(Error::io("read dir", &dir))? {
            let e = e.map_err(Error::io("read dir", &dir))?;
            let p = e.path();
            if !p.join(COMMITTED).is_file() {
                tracing::info!(path = %p.display(), "removing uncommitted snapshot");
                fs::remove_dir_all(&p).map_err(Error::io("remove", &p))?;
            }
        }
        Ok(Snapshots { dir, containers })
    }

    /// The directory a committed snapshot's files are in.
    pub fn fs_path(&self, chain_id: &Digest) -> PathBuf {
        self.dir.join(chain_id.hex()).join("fs")
    }

    /// Whether the snapshot exists and was completely unpacked.
    pub fn is_committed(&self, chain_id: &Digest) -> bool {
        self.dir.join(chain_id.hex()).join(COMMITTED).is_file()
    }

    /// Starts a snapshot whose chain id is not known yet (it is computed while unpacking).
    pub fn begin(&self) -> Result<PendingSnapshot> {
        let dir = self.dir.join(unique_name(PENDING_PREFIX));
        fs::create_dir(&dir).map_err(Error::io("mkdir", &dir))?;
        let fs_dir = dir.join("fs");
        fs::create_dir(&fs_dir).map_err(Error::io("mkdir", &fs_dir))?;
        Ok(PendingSnapshot {
            dir,
            snapshots: self.clone(),
            done: false,
        })
    }

    /// Removes a snapshot (a no-op if absent). The caller makes sure no image uses it.
    pub fn remove(&self, chain_id: &Digest) -> Result<()> {
        let d = self.dir.join(chain_id.hex());
        // Uncommit first so a crash halfway leaves debris, not a broken "committed" snapshot.
        match fs::remove_file(d.join(COMMITTED)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::Io {
                    op: "remove",
                    path: d.join(COMMITTED),
                    source: e,
                });
            }
        }
        remove_dir_if_present(&d)
    }

    /// Committed snapshots (chain ids).
    pub fn list(&self) -> Result<Vec<Digest>> {
        let mut out = Vec::new();
        for e in fs::read_dir(&self.dir).map_err(Error::io("read dir", &self.dir))? {
            let e = e.map_err(Error::io("read dir", &self.dir))?;
            if let Ok(d) = Digest::from_hex(&e.file_name().to_string_lossy())
                && self.is_committed(&d)
            {
                out.push(d);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Removes every snapshot not in `keep` (the chain ids of all images' layers). Returns the
    /// removed ones. Containers' lower layers must be in `keep` too.
    pub fn retain(&self, keep: &std::collections::HashSet<Digest>) -> Result<Vec<Digest>> {
        let mut removed = Vec::new();
        for d in self.list()? {
            if !keep.contains(&d) {
                self.remove(&d)?;
                removed.push(d);
            }
        }
        Ok(removed)
    }

    fn container_dir(&self, id: &str) -> Result<PathBuf> {
        let ok = !id.is_empty()
            && id != "."
            && id != ".."
            && id.len() <= 128
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
        if !ok {
            return Err(Error::InvalidContainerId(id.to_string()));
        }
        Ok(self.containers.join(id))
    }

    /// Creates `<root>/containers/<id>/{upper,work}` and returns the overlay mount for a
    /// container on the image whose layers have `image_chain` (chain ids, bottom first).
    pub fn prepare_container(&self, id: &str, image_chain: &[Digest]) -> Result<MountSpec> {
        let cdir = self.container_dir(id)?;
        for c in image_chain {
            if !self.is_committed(c) {
                return Err(Error::SnapshotNotFound(c.clone()));
            }
        }
        let mut lowerdirs: Vec<PathBuf> =
            image_chain.iter().rev().map(|c| self.fs_path(c)).collect();
        let upperdir = cdir.join("upper");
        let workdir = cdir.join("work");
        mkdir_all(&upperdir)?;
        mkdir_all(&workdir)?;
        if lowerdirs.is_empty() {
            // overlayfs needs a lower layer; an image without layers gets an empty one.
            lowerdirs.push(mkdir_all(&cdir.join("empty"))?);
        }
        let all = lowerdirs.iter().chain([&upperdir, &workdir]);
        for p in all {
            let s = p.to_string_lossy();
            if s.contains([',', ':', '\\']) || p.to_str().is_none() {
                return Err(Error::Io {
                    op: "overlay path",
                    path: p.clone(),
                    source: io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "path unusable in overlay options",
                    ),
                });
            }
        }
        let lower: Vec<String> = lowerdirs
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        let data = format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.join(":"),
            upperdir.display(),
            workdir.display()
        );
        Ok(MountSpec {
            fstype: "overlay".into(),
            source: "overlay".into(),
            lowerdirs,
            upperdir,
            workdir,
            data,
        })
    }

    /// A container's writable layer (whether or not it exists yet).
    pub fn container_upper(&self, id: &str) -> Result<PathBuf> {
        Ok(self.container_dir(id)?.join("upper"))
    }

    /// Removes a container's writable layer (after the engine unmounted it).
    pub fn remove_container(&self, id: &str) -> Result<()> {
        remove_dir_if_present(&self.container_dir(id)?)
    }
}

fn remove_dir_if_present(d: &Path) -> Result<()> {
    match fs::remove_dir_all(d) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::Io {
            op: "remove",
            path: d.to_path_buf(),
            source: e,
        }),
    }
}

impl PendingSnapshot {
    /// Where to unpack the layer.
    pub fn fs_dir(&self) -> PathBuf {
        self.dir.join("fs")
    }

    /// Makes the snapshot durable and visible as `chain_id`. If that snapshot already exists
    /// (same content), this one is discarded. Returns the committed fs path.
    pub fn commit(mut self, chain_id: &Digest) -> Result<PathBuf> {
        let snaps = self.snapshots.clone();
        if snaps.is_committed(chain_id) {
            return Ok(snaps.fs_path(chain_id));
        }
        let dest = snaps.dir.join(chain_id.hex());
        // Debris from an interrupted unpack under the final name.
        remove_dir_if_present(&dest)?;
        let f = fs::File::open(&self.dir).map_err(Error::io("open", &self.dir))?;
        nix::unistd::syncfs(&f).map_err(|e| Error::Io {
            op: "syncfs",
            path: self.dir.clone(),
            source: e.into(),
        })?;
        fs::rename(&self.dir, &dest).map_err(Error::io("rename", &dest))?;
        self.done = true;
        fsync_dir(&snaps.dir)?;
        write_atomic(&dest.join(COMMITTED), chain_id.to_string().as_bytes())?;
        Ok(snaps.fs_path(chain_id))
    }
}

impl Drop for PendingSnapshot {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{TarBuf, mount_overlay};
    use crate::unpack::unpack_layer;

    fn layer(snaps: &Snapshots, tar: &[u8], chain: &Digest) -> PathBuf {
        let p = snaps.begin().unwrap();
        unpack_layer(tar, &p.fs_dir()).unwrap();
        p.commit(chain).unwrap()
    }

    #[test]
    fn chain_ids_follow_the_spec() {
        let (a, b, c) = (Digest::of(b"a"), Digest::of(b"b"), Digest::of(b"c"));
        let ids = chain_ids(&[a.clone(), b.clone(), c.clone()]);
        assert_eq!(ids[0], a);
        assert_eq!(ids[1], Digest::of(format!("{a} {b}").as_bytes()));
        assert_eq!(ids[2], Digest::of(format!("{} {c}", ids[1]).as_bytes()));
        assert!(chain_ids(&[]).is_empty());
    }

    #[test]
    fn uncommitted_snapshots_are_removed_on_open() {
        let tmp = tempfile::tempdir().unwrap();
        let snaps = Snapshots::open(tmp.path()).unwrap();
        let chain = Digest::of(b"x");
        layer(
            &snaps,
            &TarBuf::new().file("f", b"1").finish_clone(),
            &chain,
        );
        // An unpack interrupted by a crash: a dir without the marker (leaked, not dropped).
        let p = snaps.begin().unwrap();
        let debris = p.fs_dir();
        std::mem::forget(p);
        let half = tmp.path().join("snapshots").join(Digest::of(b"y").hex());
        fs::create_dir_all(half.join("fs")).unwrap();
        let snaps = Snapshots::open(tmp.path()).unwrap();
        assert!(snaps.is_committed(&chain));
        assert!(!debris.exists() && !half.exists());
        assert!(!snaps.is_committed(&Digest::of(b"y")));
        // A dropped pending snapshot removes itself.
        let p = snaps.begin().unwrap();
        let d = p.fs_dir();
        drop(p);
        assert!(!d.exists());
        assert_eq!(snaps.list().unwrap(), vec![chain.clone()]);
        assert!(snaps.retain(&[chain.clone()].into()).unwrap().is_empty());
        assert_eq!(
            snaps.retain(&Default::default()).unwrap(),
            vec![chain.clone()]
        );
        assert!(!snaps.is_committed(&chain));
        snaps.remove(&chain).unwrap();
    }

    #[test]
    fn container_ids_and_missing_snapshots() {
        let tmp = tempfile::tempdir().unwrap();
        let snaps = Snapshots::open(tmp.path()).unwrap();
        for bad in ["", ".", "..", "a/b", "a:b", "a,b"] {
            assert!(
                matches!(
                    snaps.prepare_container(bad, &[]),
                    Err(Error::InvalidContainerId(_))
                ),
                "{bad:?}"
            );
        }
        let missing = Digest::of(b"nope");
        assert!(
            matches!(snaps.prepare_container("c1", std::slice::from_ref(&missing)), Err(Error::SnapshotNotFound(d)) if d == missing)
        );
        let spec = snaps.prepare_container("c1", &[]).unwrap();
        assert_eq!(spec.lowerdirs, vec![tmp.path().join("containers/c1/empty")]);
        snaps.remove_container("c1").unwrap();
        assert!(!tmp.path().join("containers/c1").exists());
        snaps.remove_container("c1").unwrap();
    }

    #[test]
    fn overlay_of_two_layers_with_whiteouts() {
        let tmp = tempfile::tempdir().unwrap();
        let snaps = Snapshots::open(tmp.path()).unwrap();
        let l1 = TarBuf::new()
            .file("etc/gone", b"old")
            .file("etc/keep", b"keep")
            .file("opq/old1", b"1")
            .file("opq/sub/old2", b"2")
            .finish_clone();
        let l2 = TarBuf::new()
            .file("etc/.wh.gone", b"")
            .file("opq/.wh..wh..opq", b"")
            .file("opq/new", b"new")
            .finish_clone();
        let chain = chain_ids(&[Digest::of(&l1), Digest::of(&l2)]);
        layer(&snaps, &l1, &chain[0]);
        layer(&snaps, &l2, &chain[1]);
        let id = crate::fsutil::unique_name("ovl-");
        let spec = snaps.prepare_container(&id, &chain).unwrap();
        assert_eq!(
            spec.lowerdirs,
            vec![snaps.fs_path(&chain[1]), snaps.fs_path(&chain[0])]
        );
        assert_eq!(
            spec.data,
            format!(
                "lowerdir={}:{},upperdir={},workdir={}",
                snaps.fs_path(&chain[1]).display(),
                snaps.fs_path(&chain[0]).display(),
                tmp.path()
                    .join("containers")
                    .join(&id)
                    .join("upper")
                    .display(),
                tmp.path()
                    .join("containers")
                    .join(&id)
                    .join("work")
                    .display()
            )
        );
        let merged = tmp.path().join("merged");
        fs::create_dir(&merged).unwrap();
        let guard = mount_overlay(&spec, &merged);
        assert!(!merged.join("etc/gone").exists());
        assert_eq!(fs::read(merged.join("etc/keep")).unwrap(), b"keep");
        let mut names: Vec<String> = fs::read_dir(merged.join("opq"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, vec!["new"]);
        // Writes land in the upper dir.
        fs::write(merged.join("etc/written"), b"w").unwrap();
        assert!(spec.upperdir.join("etc/written").is_file());
        drop(guard);
        snaps.remove_container(&id).unwrap();
        assert!(!spec.upperdir.exists());
    }
}
