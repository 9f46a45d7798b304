//! Test helpers: build layer tars entry by entry, including hostile ones that `tar::Builder`'s
//! path checks would refuse.

use tar::{EntryType, Header};

/// A tar being built in memory.
pub(crate) struct TarBuf {
    b: tar::Builder<Vec<u8>>,
}

/// One entry's attributes.
pub(crate) struct E<'a> {
    pub path: &'a str,
    pub kind: EntryType,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub data: &'a [u8],
    pub link: Option<&'a str>,
    pub dev: (u32, u32),
    pub xattrs: &'a [(&'a str, &'a [u8])],
}

impl Default for E<'_> {
    fn default() -> Self {
        E {
            path: "",
            kind: EntryType::Regular,
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 1_600_000_000,
            data: b"",
            link: None,
            dev: (0, 0),
            xattrs: &[],
        }
    }
}

fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let body = 1 + key.len() + 1 + value.len() + 1; // " key=value\n"
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    let mut r = format!("{len} {key}=").into_bytes();
    r.extend_from_slice(value);
    r.push(b'\n');
    r
}

impl TarBuf {
    pub(crate) fn new() -> Self {
        TarBuf {
            b: tar::Builder::new(Vec::new()),
        }
    }

    pub(crate) fn add(&mut self, e: E<'_>) -> &mut Self {
        if !e.xattrs.is_empty() {
            let mut data = Vec::new();
            for (k, v) in e.xattrs {
                data.extend(pax_record(&format!("SCHILY.xattr.{k}"), v));
            }
            let mut h = Header::new_ustar();
            raw_name(&mut h, "PaxHeaders/x");
            h.set_entry_type(EntryType::XHeader);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            self.b.append(&h, &data[..]).unwrap();
        }
        let mut h = Header::new_gnu();
        raw_name(&mut h, e.path);
        h.set_entry_type(e.kind);
        h.set_mode(e.mode);
        h.set_uid(e.uid);
        h.set_gid(e.gid);
        h.set_mtime(e.mtime);
        h.set_size(e.data.len() as u64);
        if let Some(l) = e.link {
            let ln = &mut h.as_old_mut().linkname;
            ln.fill(0);
            ln[..l.len()].copy_from_slice(l.as_bytes());
        }
        if matches!(e.kind, EntryType::Char | EntryType::Block) {
            h.set_device_major(e.dev.0).unwrap();
            h.set_device_minor(e.dev.1).unwrap();
        }
        h.set_cksum();
        self.b.append(&h, e.data).unwrap();
        self
    }

    pub(crate) fn dir(&mut self, path: &str, mode: u32) -> &mut Self {
        self.add(E {
            path,
            kind: EntryType::Directory,
            mode,
            ..E::default()
        })
    }

    pub(crate) fn file(&mut self, path: &str, data: &[u8]) -> &mut Self {
        self.add(E {
            path,
            data,
            ..E::default()
        })
    }

    pub(crate) fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.add(E {
            path,
            kind: EntryType::Symlink,
            mode: 0o777,
            link: Some(target),
            ..E::default()
        })
    }

    pub(crate) fn hardlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.add(E {
            path,
            kind: EntryType::Link,
            link: Some(target),
            ..E::default()
        })
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        self.b.into_inner().unwrap()
    }
}

fn raw_name(h: &mut Header, path: &str) {
    let n = &mut h.as_old_mut().name;
    n.fill(0);
    n[..path.len()].copy_from_slice(path.as_bytes());
}

impl TarBuf {
    /// Finishes a builder reached through `&mut` chaining.
    pub(crate) fn finish_clone(&mut self) -> Vec<u8> {
        let b = std::mem::replace(&mut self.b, tar::Builder::new(Vec::new()));
        b.into_inner().unwrap()
    }
}

/// Unmounts (lazily, so a failing test cannot wedge it) when dropped.
pub(crate) struct MountGuard(pub std::path::PathBuf);

impl Drop for MountGuard {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// Mounts the overlay `spec` describes at `target`; unmounted when the guard drops.
pub(crate) fn mount_overlay(
    spec: &crate::snapshot::MountSpec,
    target: &std::path::Path,
) -> MountGuard {
    nix::mount::mount(
        Some(spec.source.as_str()),
        target,
        Some(spec.fstype.as_str()),
        nix::mount::MsFlags::empty(),
        Some(spec.data.as_str()),
    )
    .expect("overlay mount");
    MountGuard(target.to_path_buf())
}
