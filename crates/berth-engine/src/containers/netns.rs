//! A container's network namespace, made by the engine (not the runtime) so that its loopback
//! is up, as Docker's is, and so that networks can be wired into it before the container
//! starts. Kept alive by a bind mount on a file under the exec root; made ahead of need
//! ([`Spares`]).

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, unshare};

use crate::error::{Error, Result};

/// How many namespaces are kept made ahead of need.
const SPARES: usize = 2;

/// Network namespaces made ahead of need. Making one takes the kernel a millisecond or more
/// (more while it tears down the previous container's), on the critical path of every start;
/// a spare is pinned in a few microseconds and replaced in the background. Spares are open
/// descriptors only: they vanish with the daemon, leaving nothing to clean up.
#[derive(Default)]
pub struct Spares {
    ready: Mutex<Vec<OwnedFd>>,
    refilling: AtomicBool,
}

impl Spares {
    /// Pins a namespace at `path`: a spare when one is ready, else a new one; then has the
    /// spares made up again.
    pub fn pin(self: &Arc<Self>, path: &Path) -> Result<PathBuf> {
        let spare = self.ready.lock().expect("spares lock").pop();
        let made = match spare {
            Some(ns) => Ok(ns),
            None => std::thread::spawn(make_here)
                .join()
                .unwrap_or_else(|_| Err("the thread panicked".into())),
        };
        let pinned = made.and_then(|ns| pin_at(&ns, path));
        self.refill();
        pinned
            .map(|()| path.to_path_buf())
            .map_err(|e| Error::internal(format!("network namespace {}", path.display()), e))
    }

    /// Makes spares up to [`SPARES`] on a thread of its own (one at a time).
    fn refill(self: &Arc<Self>) {
        if self.refilling.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = self.clone();
        let spawned = std::thread::Builder::new()
            .name("netns-spares".into())
            .spawn(move || {
                while me.ready.lock().expect("spares lock").len() < SPARES {
                    match make_here() {
                        Ok(ns) => me.ready.lock().expect("spares lock").push(ns),
                        Err(e) => {
                            tracing::warn!("making a spare network namespace: {e}");
                            break;
                        }
                    }
                }
                me.refilling.store(false, Ordering::Release);
            });
        if spawned.is_err() {
            self.refilling.store(false, Ordering::Release);
        }
    }
}

/// A new network namespace with its loopback up, as an open descriptor. The calling thread
/// moves into it (unshare changes only the caller): call it on a thread that then ends, or
/// that makes only namespaces.
fn make_here() -> std::result::Result<OwnedFd, String> {
    unshare(CloneFlags::CLONE_NEWNET).map_err(|e| format!("unshare: {e}"))?;
    loopback_up().map_err(|e| format!("bring up lo: {e}"))?;
    std::fs::File::open("/proc/thread-self/ns/net")
        .map(OwnedFd::from)
        .map_err(|e| format!("open it: {e}"))
}

/// Pins the namespace `ns` at `path` (a bind mount on a new empty file there).
fn pin_at(ns: &OwnedFd, path: &Path) -> std::result::Result<(), String> {
    std::fs::File::create(path).map_err(|e| format!("create the pin file: {e}"))?;
    let source = format!("/proc/self/fd/{}", ns.as_raw_fd());
    mount(
        Some(source.as_str()),
        path,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| {
        let _ = std::fs::remove_file(path);
        format!("bind mount: {e}")
    })
}

/// Unpins and removes the namespace file; absent is fine.
pub fn remove(path: &Path) {
    let _ = umount2(path, MntFlags::MNT_DETACH);
    let _ = std::fs::remove_file(path);
}

fn loopback_up() -> std::io::Result<()> {
    // SAFETY: plain socket/ioctl calls on a zeroed ifreq naming "lo".
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        req.ifr_name[..2].copy_from_slice(&[b'l' as libc::c_char, b'o' as libc::c_char]);
        let mut rc = libc::ioctl(fd, libc::SIOCGIFFLAGS as libc::Ioctl, &mut req);
        if rc == 0 {
            req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            rc = libc::ioctl(fd, libc::SIOCSIFFLAGS as libc::Ioctl, &req);
        }
        let err = std::io::Error::last_os_error();
        libc::close(fd);
        if rc < 0 { Err(err) } else { Ok(()) }
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    use std::time::{Duration, Instant};

    use super::*;

    /// Whether `lo` is up in the namespace pinned at `path` (looked at from a thread that
    /// joins it and then ends).
    fn loopback_is_up(path: &Path) -> bool {
        let ns = std::fs::File::open(path).unwrap();
        std::thread::spawn(move || {
            nix::sched::setns(ns.as_fd(), CloneFlags::CLONE_NEWNET).unwrap();
            // SAFETY: plain socket/ioctl calls on a zeroed ifreq naming "lo".
            unsafe {
                let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
                let mut req: libc::ifreq = std::mem::zeroed();
                req.ifr_name[..2].copy_from_slice(&[b'l' as libc::c_char, b'o' as libc::c_char]);
                let rc = libc::ioctl(fd, libc::SIOCGIFFLAGS as libc::Ioctl, &mut req);
                libc::close(fd);
                rc == 0 && req.ifr_ifru.ifru_flags & libc::IFF_UP as libc::c_short != 0
            }
        })
        .join()
        .unwrap()
    }

    #[test]
    fn pins_are_new_namespaces_each_time_with_loopback_up() {
        let dir = tempfile::tempdir().unwrap();
        let spares = Arc::new(Spares::default());
        // The first is made on the spot; the next ones come from the spares made meanwhile.
        let first = spares.pin(&dir.path().join("first")).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while spares.ready.lock().unwrap().len() < SPARES && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(spares.ready.lock().unwrap().len(), SPARES, "no spares made");
        let mut pins = vec![first];
        for name in ["second", "third", "fourth"] {
            pins.push(spares.pin(&dir.path().join(name)).unwrap());
        }
        let host = std::fs::metadata("/proc/self/ns/net").unwrap().ino();
        let mut seen = vec![host];
        for pin in &pins {
            let ino = std::fs::metadata(pin).unwrap().ino();
            assert!(!seen.contains(&ino), "{} reuses a namespace", pin.display());
            seen.push(ino);
            assert!(loopback_is_up(pin), "lo is down in {}", pin.display());
        }
        for pin in &pins {
            remove(pin);
        }
    }
}
