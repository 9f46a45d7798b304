//! A container's network namespace, made by the engine (not the runtime) so that its loopback
//! is up, as Docker's is, and so that networks can be wired into it before the container
//! starts. Kept alive by a bind mount on a file under the exec root.

use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, unshare};

use crate::error::{Error, Result};

/// Creates the namespace and pins it at `path`.
pub fn create(path: &Path) -> Result<PathBuf> {
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        Error::internal(format!("network namespace {}: {what}", path.display()), e)
    };
    std::fs::File::create(path).map_err(|e| fail("create the pin file", &e))?;
    let pin = path.to_path_buf();
    // A thread of its own: unshare(CLONE_NEWNET) changes only the calling thread, which then
    // ends, leaving the daemon's threads in the host namespace.
    let made = std::thread::spawn(move || -> std::result::Result<(), String> {
        unshare(CloneFlags::CLONE_NEWNET).map_err(|e| format!("unshare: {e}"))?;
        loopback_up().map_err(|e| format!("bring up lo: {e}"))?;
        mount(
            Some("/proc/thread-self/ns/net"),
            &pin,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| format!("bind mount: {e}"))
    })
    .join()
    .map_err(|_| fail("thread", &"panicked"))?;
    if let Err(e) = made {
        let _ = std::fs::remove_file(path);
        return Err(fail("setup", &e));
    }
    Ok(path.to_path_buf())
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
        let mut rc = libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req);
        if rc == 0 {
            req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            rc = libc::ioctl(fd, libc::SIOCSIFFLAGS, &req);
        }
        let err = std::io::Error::last_os_error();
        libc::close(fd);
        if rc < 0 { Err(err) } else { Ok(()) }
    }
}
