//! What limits the container's process: user switch, rlimits, capabilities, seccomp.
