//! The process chain: the runtime clones once, straight into the container's namespaces; the
//! child becomes the container's init (`init`) or an `exec`'d process (`container::exec`); both
//! end in `execute`. No re-exec of the runtime and no intermediate process: each start costs one
//! clone.

pub mod clone;
pub mod console;
pub mod dmz;
pub mod execute;
pub mod fds;
pub mod init;
pub mod signals;
pub mod stdio;
pub mod tty_proxy;
