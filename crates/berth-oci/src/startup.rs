//! What runs before a berth binary's command line is read. Both binaries start as C programs
//! do (`#![no_main]` and a C `main`): std's start-up (a read of /proc/self/maps for the main
//! thread's guard page, a signal stack, SIGSEGV/SIGBUS handlers) cost 0.1 ms of every process
//! here, and a container's life through the runtime's command line is four of them. [`c_main`]
//! does the parts of it that matter to berth.

use std::ffi::{CStr, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use crate::arena;

/// How long the process is expected to live, which decides how it allocates.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// A command that is done in milliseconds: allocate from the bump arena.
    Short,
    /// A process that runs until stopped (the daemon, the monitor zygote): the system allocator.
    Long,
}

/// The body of a binary's C `main`: sets the process up, runs `run` on the command line and exits
/// with its code.
///
/// # Safety
/// `argc` and `argv` must be what the C runtime passed to `main`.
pub unsafe fn c_main(
    argc: libc::c_int,
    argv: *const *const libc::c_char,
    lifetime: Lifetime,
    run: impl FnOnce(Vec<OsString>) -> i32 + std::panic::UnwindSafe,
) -> ! {
    if lifetime == Lifetime::Long {
        arena::disable();
    }
    open_standard_fds();
    // Die quietly on a closed pipe (`berth oci state ID | head`), as C tools do; Rust ignores
    // SIGPIPE by default and would panic on the failed print instead.
    // SAFETY: restoring the default disposition before any thread exists.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    // SAFETY: passed through from our caller's contract.
    let args = unsafe { c_args(argc, argv) };
    // A panic is reported by the hook and exits 101, as from a Rust main; unwinding out of
    // the extern "C" function would abort instead.
    let code = std::panic::catch_unwind(|| run(args)).unwrap_or(101);
    // Flushes stdout, as returning from a Rust main would.
    std::process::exit(code);
}

/// The command line from C's argv: std reads it itself only when its own start-up runs (or, on
/// glibc alone, from the loader), and a C `main` bypasses that start-up.
///
/// # Safety
/// `argc` and `argv` must be what the C runtime passed to `main`.
unsafe fn c_args(argc: libc::c_int, argv: *const *const libc::c_char) -> Vec<OsString> {
    (0..argc.max(0) as usize)
        // SAFETY: the C runtime passes argc valid, NUL-terminated strings.
        .map(|i| unsafe { CStr::from_ptr(*argv.add(i)) })
        .map(|arg| OsStr::from_bytes(arg.to_bytes()).to_owned())
        .collect()
}

/// Opens /dev/null on each of fds 0, 1 and 2 that is closed, as std's start-up does, so that no
/// file opened later (a daemon's database, a container's log) gets one of them and our prints.
fn open_standard_fds() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: poll on three pollfds we own; open returns the lowest free descriptor, which is
    // the closed one, as the lower ones are open by then.
    unsafe {
        if libc::poll(fds.as_mut_ptr(), 3, 0) < 0 {
            return;
        }
        for pollfd in fds {
            if pollfd.revents & libc::POLLNVAL != 0 {
                libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
            }
        }
    }
}
