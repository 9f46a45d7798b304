//! Becoming `process.user` in the container's init: umask, groups, gid, then uid with the
//! capabilities kept, so [`super::capabilities::apply`] can still choose what survives.

use nix::sys::prctl;
use nix::sys::stat::{Mode, umask};
use nix::unistd::{Gid, Uid, setgid, setgroups, setuid};
use oci_spec::runtime::User;

use crate::error::{IoContext, Result, SysContext};

/// Switches the calling process to `user`. Needs CAP_SETUID and CAP_SETGID (in the
/// container's user namespace, if any); ends with an empty effective set when the uid is not
/// 0, as the kernel clears it on setuid.
pub fn switch(user: &User) -> Result<()> {
    if let Some(mask) = user.umask() {
        umask(Mode::from_bits_truncate(mask));
    }
    // In a user namespace whose setgroups is "deny" (mapped without privilege) the call is
    // refused; the process keeps the groups it has, as runc does.
    if setgroups_allowed()? {
        let gids: Vec<Gid> = user
            .additional_gids()
            .iter()
            .flatten()
            .map(|&gid| Gid::from_raw(gid))
            .collect();
        setgroups(&gids).sys(|| format!("setgroups {:?}", user.additional_gids()))?;
    } else {
        tracing::debug!("/proc/self/setgroups is deny: not setting additional groups");
    }
    setgid(Gid::from_raw(user.gid())).sys(|| format!("setgid {}", user.gid()))?;
    prctl::set_keepcaps(true).sys(|| "prctl(PR_SET_KEEPCAPS, 1)".into())?;
    setuid(Uid::from_raw(user.uid())).sys(|| format!("setuid {}", user.uid()))?;
    prctl::set_keepcaps(false).sys(|| "prctl(PR_SET_KEEPCAPS, 0)".into())
}

fn setgroups_allowed() -> Result<bool> {
    match std::fs::read_to_string("/proc/self/setgroups") {
        Ok(state) => Ok(state.trim() != "deny"),
        // Kernels before 3.19 have no such file and always allow it.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(e).io(|| "reading /proc/self/setgroups".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::capabilities;
    use crate::security::test_child::run_in_child;
    use nix::unistd::{getegid, geteuid, getgid, getgroups, getuid};
    use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilitiesBuilder, UserBuilder};

    #[test]
    fn switches_uid_gid_groups_and_umask() {
        let user = UserBuilder::default()
            .uid(1000u32)
            .gid(1000u32)
            .additional_gids(vec![2000u32])
            .umask(0o027u32)
            .build()
            .unwrap();
        let code = run_in_child(|| {
            switch(&user).unwrap();
            let ids = [
                getuid().as_raw(),
                geteuid().as_raw(),
                getgid().as_raw(),
                getegid().as_raw(),
            ];
            if ids != [1000; 4] {
                return 1;
            }
            if getgroups().unwrap() != [Gid::from_raw(2000)] {
                return 2;
            }
            if umask(Mode::empty()) != Mode::from_bits_truncate(0o027) {
                return 3;
            }
            // KEEPCAPS kept the permitted set across setuid and was reset afterwards.
            let permitted = caps::read(None, caps::CapSet::Permitted).unwrap();
            if !permitted.contains(&caps::Capability::CAP_DAC_OVERRIDE) {
                return 4;
            }
            if prctl::get_keepcaps().unwrap() { 5 } else { 0 }
        });
        assert_eq!(code, 0);
    }

    /// Switches to uid 1000 keeping only `keep`, then reads a root-owned 0600 file. (The
    /// builder's defaults fill unset sets with oci-spec's defaults, so every set is given.)
    fn read_root_file_as_1000_with(keep: &[Capability]) -> i32 {
        let file = tempfile::NamedTempFile::new().unwrap();
        let set: Capabilities = keep.iter().copied().collect();
        let caps = LinuxCapabilitiesBuilder::default()
            .bounding(set.clone())
            .effective(set.clone())
            .permitted(set)
            .inheritable(Capabilities::new())
            .ambient(Capabilities::new())
            .build()
            .unwrap();
        let user = UserBuilder::default()
            .uid(1000u32)
            .gid(1000u32)
            .build()
            .unwrap();
        run_in_child(|| {
            switch(&user).unwrap();
            capabilities::apply(Some(&caps)).unwrap();
            match std::fs::read(file.path()) {
                Ok(_) => 0,
                Err(e) => e.raw_os_error().unwrap_or(-1),
            }
        })
    }

    #[test]
    fn capabilities_survive_the_switch() {
        assert_eq!(read_root_file_as_1000_with(&[Capability::DacOverride]), 0);
        assert_eq!(
            read_root_file_as_1000_with(&[Capability::Kill]),
            libc::EACCES
        );
    }
}
