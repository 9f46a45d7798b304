//! What limits the container's process: user switch, rlimits, capabilities, seccomp.
//!
//! Each module has a parent-side check (run before the fork, so a bad config leaves nothing
//! behind) and an init-side step. The init runs them in this order: [`rlimits::apply`],
//! [`user::switch`], [`capabilities::apply`], no_new_privs, [`seccomp::load`], execve.

pub mod capabilities;
pub mod rlimits;
pub mod seccomp;
pub mod user;

pub use seccomp::SeccompFilter;

#[cfg(test)]
mod test_child;
