//! File descriptors crossing into the container: only stdio and the `--preserve-fds` ones may,
//! so no host directory fd survives to be used as a way out (CVE-2024-21626).

use nix::errno::Errno;

use crate::error::{Result, SysContext};

/// Marks every descriptor from `3 + preserve` up as close-on-exec.
pub fn close_on_exec_from(preserve: u32) -> Result<()> {
    let first = 3 + preserve;
    // SAFETY: close_range only flips flags on our own descriptor table.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    Errno::result(rc)
        .map(drop)
        .sys(|| format!("mark descriptors from {first} close-on-exec"))
}
