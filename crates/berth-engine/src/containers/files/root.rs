//! Reaching a container's root filesystem from the engine: a running container's through
//! `/proc/<pid>/root` (its own mount namespace: volumes and binds included), a stopped one's
//! by mounting its overlay privately for the duration (the container is marked busy so it
//! cannot start meanwhile). Every path below is resolved with openat2(RESOLVE_IN_ROOT).

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_runtime::rootfs::open_in_root;
use nix::fcntl::OFlag;
use nix::mount::{MntFlags, MsFlags};
use nix::sys::stat::Mode;

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
}

impl Drop for TempMount {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.dir, MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir(&self.dir);
        let mut reg = self.engine.registry.lock().expect("registry lock");
        if let Ok(e) = reg.get_mut(&self.id) {
            e.busy = false;
        }
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

impl Engine {
    /// The container's root, running or not: as its processes see it (`live`: volumes and
    /// binds included), or the root filesystem alone (for `export`).
    pub(crate) fn open_root(&self, name: &str, live: bool) -> Result<(String, RootAccess)> {
        let (id, pid, read_only, image_id) = {
            let mut reg = self.registry.lock().expect("registry lock");
            let entry = reg.get_mut(name)?;
            let rec = &entry.record;
            let read_only = rec.host_config.readonly_rootfs == Some(true);
            let out = (
                rec.id.clone(),
                rec.state.pid,
                read_only,
                rec.image_id.clone(),
            );
            if entry.running() {
                (out.0, Some(out.1), out.2, out.3)
            } else {
                if entry.busy {
                    return Err(Error::Conflict(format!(
                        "container {} is being started, stopped or removed",
                        rec.name
                    )));
                }
                entry.busy = true;
                (out.0, None, out.2, out.3)
            }
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
