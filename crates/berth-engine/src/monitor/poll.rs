//! The monitors' poll set: descriptors to wait on, each with the slot (what it stands for) that
//! the loop dispatches on when it is ready.

use std::os::fd::RawFd;
use std::time::Duration;

use nix::errno::Errno;

pub(super) struct PollSet<S> {
    fds: Vec<libc::pollfd>,
    slots: Vec<S>,
}

impl<S: Copy> PollSet<S> {
    pub fn with_capacity(n: usize) -> PollSet<S> {
        PollSet {
            fds: Vec::with_capacity(n),
            slots: Vec::with_capacity(n),
        }
    }

    pub fn clear(&mut self) {
        self.fds.clear();
        self.slots.clear();
    }

    pub fn add(&mut self, fd: RawFd, events: libc::c_short, slot: S) {
        self.fds.push(libc::pollfd {
            fd,
            events,
            revents: 0,
        });
        self.slots.push(slot);
    }

    /// poll(2) until something is ready; false if interrupted or failed (after a short
    /// pause), for the caller to build its set again.
    pub fn wait(&mut self) -> bool {
        // SAFETY: `fds` is a valid array of `fds.len()` pollfd structs.
        let n = unsafe { libc::poll(self.fds.as_mut_ptr(), self.fds.len() as libc::nfds_t, -1) };
        if n < 0 && Errno::last() != Errno::EINTR {
            std::thread::sleep(Duration::from_millis(10));
        }
        n >= 0
    }

    pub fn len(&self) -> usize {
        self.fds.len()
    }

    /// The slot of entry `k` if the last wait found it ready.
    pub fn ready(&self, k: usize) -> Option<S> {
        (self.fds[k].revents != 0).then(|| self.slots[k])
    }
}
