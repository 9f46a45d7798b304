//! Resource limits (`process.rlimits`): checked in the parent, where a failure leaves nothing
//! behind, and set in the container's init, which hands them on across execve.

use nix::sys::resource::{Resource, getrlimit, setrlimit};
use oci_spec::runtime::{PosixRlimit, PosixRlimitType};

use super::capabilities::caps_error;
use crate::error::{Error, Result, SysContext};

/// Rejects limits the init could not set: a soft limit above its hard limit, or a hard limit
/// above ours when we may not raise it (no CAP_SYS_RESOURCE in our effective set).
pub fn check(rlimits: &[PosixRlimit]) -> Result<()> {
    let may_raise = caps::has_cap(
        None,
        caps::CapSet::Effective,
        caps::Capability::CAP_SYS_RESOURCE,
    )
    .map_err(|e| caps_error("reading our effective capabilities".into(), e))?;
    for rlimit in rlimits {
        let name = rlimit.typ();
        if rlimit.soft() > rlimit.hard() {
            return Err(Error::InvalidSpec(format!(
                "rlimit {name}: soft limit {} is above hard limit {}",
                rlimit.soft(),
                rlimit.hard()
            )));
        }
        let (_, host_hard) = getrlimit(resource(name)).sys(|| format!("getrlimit {name}"))?;
        if !may_raise && rlimit.hard() > host_hard {
            return Err(Error::InvalidSpec(format!(
                "rlimit {name}: hard limit {} is above this host's {host_hard} and raising it \
                 needs CAP_SYS_RESOURCE",
                rlimit.hard()
            )));
        }
    }
    Ok(())
}

/// Sets every limit on the calling process.
pub fn apply(rlimits: &[PosixRlimit]) -> Result<()> {
    for rlimit in rlimits {
        let name = rlimit.typ();
        setrlimit(resource(name), rlimit.soft(), rlimit.hard()).sys(|| {
            format!(
                "setrlimit {name} soft {} hard {}",
                rlimit.soft(),
                rlimit.hard()
            )
        })?;
    }
    Ok(())
}

fn resource(typ: PosixRlimitType) -> Resource {
    match typ {
        PosixRlimitType::RlimitCpu => Resource::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => Resource::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => Resource::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => Resource::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => Resource::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => Resource::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => Resource::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => Resource::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => Resource::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => Resource::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => Resource::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => Resource::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => Resource::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => Resource::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => Resource::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => Resource::RLIMIT_RTTIME,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::test_child::run_in_child;
    use oci_spec::runtime::PosixRlimitBuilder;

    fn nofile(soft: u64, hard: u64) -> PosixRlimit {
        PosixRlimitBuilder::default()
            .typ(PosixRlimitType::RlimitNofile)
            .soft(soft)
            .hard(hard)
            .build()
            .unwrap()
    }

    fn host_nofile() -> (u64, u64) {
        getrlimit(Resource::RLIMIT_NOFILE).unwrap()
    }

    #[test]
    fn soft_above_hard_is_rejected() {
        let err = check(&[nofile(200, 100)]).unwrap_err().to_string();
        assert!(
            err.contains("RLIMIT_NOFILE") && err.contains("soft limit 200"),
            "{err}"
        );
    }

    #[test]
    fn hard_at_host_limit_is_accepted() {
        let (_, hard) = host_nofile();
        check(&[nofile(hard, hard)]).unwrap();
    }

    #[test]
    fn hard_above_host_limit_needs_cap_sys_resource() {
        let has = caps::has_cap(
            None,
            caps::CapSet::Effective,
            caps::Capability::CAP_SYS_RESOURCE,
        )
        .unwrap();
        let (_, hard) = host_nofile();
        let result = check(&[nofile(hard, hard + 1)]);
        if has {
            result.unwrap();
            return;
        }
        let err = result.unwrap_err().to_string();
        assert!(
            err.contains("RLIMIT_NOFILE")
                && err.contains(&format!("is above this host's {hard}"))
                && err.contains("CAP_SYS_RESOURCE"),
            "{err}"
        );
    }

    #[test]
    fn apply_sets_the_limit() {
        let (_, hard) = host_nofile();
        let code = run_in_child(|| {
            apply(&[nofile(100, hard)]).unwrap();
            if host_nofile() == (100, hard) { 0 } else { 1 }
        });
        assert_eq!(code, 0);
    }
}
