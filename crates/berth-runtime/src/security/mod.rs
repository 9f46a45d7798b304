//! What limits the container's process: user switch, rlimits, capabilities, seccomp.
//! (stub until the security branch lands)
pub mod rlimits {
    use crate::Result;
    use oci_spec::runtime::PosixRlimit;
    pub fn check(_r: &[PosixRlimit]) -> Result<()> {
        todo!()
    }
    pub fn apply(_r: &[PosixRlimit]) -> Result<()> {
        todo!()
    }
}
pub mod user {
    use crate::Result;
    use oci_spec::runtime::User;
    pub fn switch(_u: &User) -> Result<()> {
        todo!()
    }
}
pub mod capabilities {
    use crate::Result;
    use oci_spec::runtime::LinuxCapabilities;
    pub fn validate(_c: &LinuxCapabilities) -> Result<()> {
        todo!()
    }
    pub fn drop_bounding(_c: Option<&LinuxCapabilities>) -> Result<()> {
        todo!()
    }
    pub fn apply(_c: Option<&LinuxCapabilities>) -> Result<()> {
        todo!()
    }
}
pub mod seccomp {
    use crate::Result;
    use oci_spec::runtime::LinuxSeccomp;
    use std::os::fd::{BorrowedFd, OwnedFd};
    use std::path::Path;
    pub struct SeccompFilter;
    pub fn compile(_s: &LinuxSeccomp) -> Result<SeccompFilter> {
        todo!()
    }
    pub fn load(_f: &SeccompFilter) -> Result<Option<OwnedFd>> {
        todo!()
    }
    pub fn send_notify_fd(_p: &Path, _fd: BorrowedFd, _s: &[u8]) -> Result<()> {
        todo!()
    }
}
