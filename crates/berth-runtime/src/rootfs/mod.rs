//! The container's filesystem view: mounts, devices, pivot_root, masked and read-only paths.
