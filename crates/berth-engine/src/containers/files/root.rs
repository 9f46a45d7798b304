//! Reaching a container's root filesystem from the engine: a running container's through
//! `/proc/<pid>/root` (its own mount namespace: volumes and binds included), a stopped one's
//! by mounting its overlay for the duration, with its volumes and binds bound in place as at
//! start (the container is marked busy so it cannot start meanwhile). Every path below is
//! resolved with openat2(RESOLVE_IN_ROOT).

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_runtime::rootfs::open_in_root;
use nix::fcntl::OFlag;
use nix::mount::{MntFlags, MsFlags};
use nix::sys::stat::Mode;

use super::super::mounts::{MountKind, MountPlan};
use crate::engine::Engine;
use crate::error::{Error, Result};

/// An open container root; dropping it undoes a temporary mount.
pub struct RootAccess {
    root: OwnedFd,
    pub read_only: bool,
    _mount: Option<TempMount>,
}

struct TempMount {
    engine: Arc<Engine>,
    id: String,
    dir: PathBuf,
    /// Volumes with a filesystem of their own are released again when nothing runs on them.
    mounts: Vec<MountPlan>,
}

impl Drop for TempMount {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.dir, MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir(&self.dir);
        {
            let mut reg = self.engine.registry.lock().expect("registry lock");
            if let Ok(e) = reg.get_mut(&self.id) {
                e.busy = false;
            }
        }
        self.engine.release_volumes(&self.mounts);
    }
}

impl RootAccess {
    /// Opens `path` (taken inside the root) with `flags`.
    pub fn open(&self, path: &Path, flags: OFlag) -> Result<OwnedFd> {
        open_in_root(self.root.as_fd(), path, flags, Mode::empty()).map_err(|e| match &e {
            berth_runtime::Error::Sys { errno, .. }
                if matches!(
                    *errno,
                    nix::errno::Errno::ENOENT | nix::errno::Errno::ENOTDIR
                ) =>
            {
                Error::NotFound(format!(
                    "Could not find the file {} in container",
                    path.display()
                ))
            }
            _ => Error::internal(format!("open {} in the container", path.display()), e),
        })
    }
}

/// Binds a volume's or bind's source at its destination inside the mounted root (the
/// target made inside the root, the mount made onto its fd), read-only when asked.
fn bind_in_root(root: std::os::fd::BorrowedFd, m: &MountPlan) -> Result<()> {
    use std::os::fd::AsRawFd;
    let fail = |e: &dyn std::fmt::Display| {
        Error::internal(format!("mount {} for the copy", m.destination), e)
    };
    let dest = Path::new(&m.destination);
    let target = if Path::new(&m.source).is_dir() {
        berth_runtime::rootfs::mkdir_all_in_root(root, dest, Mode::from_bits_truncate(0o755))
    } else {
        berth_runtime::rootfs::ensure_file_in_root(root, dest)
    }
    .map_err(|e| fail(&e))?;
    let at = format!("/proc/self/fd/{}", target.as_raw_fd());
    let bind = MsFlags::MS_BIND | MsFlags::MS_REC;
    nix::mount::mount(
        Some(m.source.as_str()),
        at.as_str(),
        None::<&str>,
        bind,
        None::<&str>,
    )
    .map_err(|e| fail(&e))?;
    if m.read_only {
        // The fd still names the directory under the new mount: reopen to reach the mount.
        let mounted =
            open_in_root(root, dest, OFlag::O_PATH, Mode::empty()).map_err(|e| fail(&e))?;
        let at = format!("/proc/self/fd/{}", mounted.as_raw_fd());
        nix::mount::mount(
            None::<&str>,
            at.as_str(),
            None::<&str>,
            bind | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .map_err(|e| fail(&e))?;
    }
    Ok(())
}

impl Engine {
    /// The container's root, running or not: as its processes see it (`live`: volumes and
    /// binds included), or the root filesystem alone (for `export`).
    pub(crate) fn open_root(&self, name: &str, live: bool) -> Result<(String, RootAccess)> {
        let (id, pid, read_only, image_id, plans) = {
            let mut reg = self.registry.lock().expect("registry lock");
            let entry = reg.get_mut(name)?;
            let running = entry.running();
            if !running && entry.busy {
                return Err(Error::Conflict(format!(
                    "container {} is being started, stopped or removed",
                    entry.record.name
                )));
            }
            entry.busy |= !running;
            let rec = &entry.record;
            (
                rec.id.clone(),
                running.then_some(rec.state.pid),
                rec.host_config.readonly_rootfs == Some(true),
                rec.image_id.clone(),
                rec.mounts.clone(),
            )
        };
        if let Some(pid) = pid {
            let path = if live {
                PathBuf::from(format!("/proc/{pid}/root"))
            } else {
                self.layout.rootfs(&id)
            };
            let root = std::fs::File::open(path)
                .map_err(|e| Error::internal("open the container's root", e))?;
            return Ok((
                id,
                RootAccess {
                    root: root.into(),
                    read_only,
                    _mount: None,
                },
            ));
        }
        let dir = self
            .layout
            .layers
            .join(&id)
            .join(format!("files-{}", &super::super::random_id()[..12]));
        let guard = TempMount {
            engine: self.arc(),
            id: id.clone(),
            dir: dir.clone(),
            mounts: plans.clone(),
        };
        let image = self.images.resolve(&image_id)?;
        let spec = self
            .images
            .snapshots()
            .prepare_container(&id, &image.chain_ids()?)?;
        std::fs::create_dir_all(&dir).map_err(|e| Error::internal(dir.display(), e))?;
        nix::mount::mount(
            Some("overlay"),
            &dir,
            Some("overlay"),
            MsFlags::empty(),
            Some(spec.data.as_str()),
        )
        .map_err(|e| Error::internal("mount the container's root", e))?;
        let root = std::fs::File::open(&dir).map_err(|e| Error::internal(dir.display(), e))?;
        if live {
            let prepared = super::super::mounts::prepare(&plans, &self.volumes, &dir)?;
            for m in prepared.iter().filter(|m| m.kind != MountKind::Tmpfs) {
                bind_in_root(root.as_fd(), m)?;
            }
        }
        Ok((
            id,
            RootAccess {
                root: root.into(),
                read_only,
                _mount: Some(guard),
            },
        ))
    }
}
