//! Runs a closure in a forked child, so tests can change credentials, limits and filters
//! without touching the test harness.

use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork};

/// Forks, runs `f` in the child and returns its exit code (a panic exits 101, a signal
/// 128 + signo). The child never returns into the harness: it always ends in `_exit`.
pub fn run_in_child(f: impl FnOnce() -> i32) -> i32 {
    // SAFETY: the child only runs `f` and then `_exit`s; glibc keeps malloc usable after fork.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(101);
            // SAFETY: ends the child without running the harness's destructors or atexit.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => match waitpid(child, None).expect("waitpid") {
            WaitStatus::Exited(_, code) => code,
            WaitStatus::Signaled(_, signal, _) => 128 + signal as i32,
            other => panic!("unexpected child status {other:?}"),
        },
    }
}

/// The errno of the last failed libc call.
pub fn errno() -> i32 {
    nix::errno::Errno::last_raw()
}
