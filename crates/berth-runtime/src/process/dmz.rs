//! The sealed last hop (CVE-2019-5736): the container's program is exec'd through berth-dmz, a
//! tiny static program (dmz/dmz.c) held in a sealed memfd. During that final execve,
//! `/proc/self/exe` names the sealed copy, never the runtime's binary on disk, so a container
//! that makes the runtime run `#!/proc/self/exe` only ever reaches an unwritable 8 KiB stub.
//! It replaces runc's re-exec from a memfd copy of the whole runtime (milliseconds per start).

use std::ffi::{CStr, CString};
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};

use nix::fcntl::{AtFlags, FcntlArg, SealFlag, fcntl};
use nix::sys::memfd::{MFdFlags, memfd_create};

use crate::error::{IoContext, Result, SysContext};

static DMZ: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/berth-dmz"));

/// The sealed stub, created by the runtime before it clones (so a seccomp profile that forbids
/// memfd_create cannot get in the way) and inherited by the child.
#[derive(Debug)]
pub struct Dmz {
    fd: OwnedFd,
}

impl Dmz {
    pub fn new() -> Result<Dmz> {
        let fd = memfd_create(
            "berth-dmz",
            MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING,
        )
        .sys(|| "memfd_create for berth-dmz".into())?;
        let mut file = File::from(fd);
        file.write_all(DMZ).io(|| "write berth-dmz".into())?;
        let seals = SealFlag::F_SEAL_SEAL
            | SealFlag::F_SEAL_SHRINK
            | SealFlag::F_SEAL_GROW
            | SealFlag::F_SEAL_WRITE;
        fcntl(&file, FcntlArg::F_ADD_SEALS(seals)).sys(|| "seal berth-dmz".into())?;
        Ok(Dmz { fd: file.into() })
    }

    /// Execs `path` with `argv` and `envp` through the stub; returns only on failure.
    pub fn exec(&self, path: &CStr, argv: &[CString], envp: &[CString]) -> nix::errno::Errno {
        let mut args = Vec::with_capacity(argv.len() + 2);
        args.push(c"berth-dmz".to_owned());
        args.push(path.to_owned());
        args.extend(argv.iter().cloned());
        nix::unistd::execveat(self.fd.as_fd(), c"", &args, envp, AtFlags::AT_EMPTY_PATH)
            .unwrap_err()
    }
}
