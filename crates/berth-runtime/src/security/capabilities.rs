//! Capability sets (`process.capabilities`): validated in the parent, applied in the init
//! after the uid switch.
//!
//! A missing capabilities object, or a missing set inside it, means an empty set: the process
//! gets no capability it was not explicitly given (least privilege; the spec names no default).

use caps::{CapSet, CapsHashSet};
use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities};

use crate::error::{Error, IoContext, Result};

/// The caps crate's twin of an OCI capability (same kernel number, same name).
fn to_caps(cap: Capability) -> caps::Capability {
    use caps::Capability as C;
    match cap {
        Capability::AuditControl => C::CAP_AUDIT_CONTROL,
        Capability::AuditRead => C::CAP_AUDIT_READ,
        Capability::AuditWrite => C::CAP_AUDIT_WRITE,
        Capability::BlockSuspend => C::CAP_BLOCK_SUSPEND,
        Capability::Bpf => C::CAP_BPF,
        Capability::CheckpointRestore => C::CAP_CHECKPOINT_RESTORE,
        Capability::Chown => C::CAP_CHOWN,
        Capability::DacOverride => C::CAP_DAC_OVERRIDE,
        Capability::DacReadSearch => C::CAP_DAC_READ_SEARCH,
        Capability::Fowner => C::CAP_FOWNER,
        Capability::Fsetid => C::CAP_FSETID,
        Capability::IpcLock => C::CAP_IPC_LOCK,
        Capability::IpcOwner => C::CAP_IPC_OWNER,
        Capability::Kill => C::CAP_KILL,
        Capability::Lease => C::CAP_LEASE,
        Capability::LinuxImmutable => C::CAP_LINUX_IMMUTABLE,
        Capability::MacAdmin => C::CAP_MAC_ADMIN,
        Capability::MacOverride => C::CAP_MAC_OVERRIDE,
        Capability::Mknod => C::CAP_MKNOD,
        Capability::NetAdmin => C::CAP_NET_ADMIN,
        Capability::NetBindService => C::CAP_NET_BIND_SERVICE,
        Capability::NetBroadcast => C::CAP_NET_BROADCAST,
        Capability::NetRaw => C::CAP_NET_RAW,
        Capability::Perfmon => C::CAP_PERFMON,
        Capability::Setgid => C::CAP_SETGID,
        Capability::Setfcap => C::CAP_SETFCAP,
        Capability::Setpcap => C::CAP_SETPCAP,
        Capability::Setuid => C::CAP_SETUID,
        Capability::SysAdmin => C::CAP_SYS_ADMIN,
        Capability::SysBoot => C::CAP_SYS_BOOT,
        Capability::SysChroot => C::CAP_SYS_CHROOT,
        Capability::SysModule => C::CAP_SYS_MODULE,
        Capability::SysNice => C::CAP_SYS_NICE,
        Capability::SysPacct => C::CAP_SYS_PACCT,
        Capability::SysPtrace => C::CAP_SYS_PTRACE,
        Capability::SysRawio => C::CAP_SYS_RAWIO,
        Capability::SysResource => C::CAP_SYS_RESOURCE,
        Capability::SysTime => C::CAP_SYS_TIME,
        Capability::SysTtyConfig => C::CAP_SYS_TTY_CONFIG,
        Capability::Syslog => C::CAP_SYSLOG,
        Capability::WakeAlarm => C::CAP_WAKE_ALARM,
    }
}

/// The five sets of the config as the caps crate's sets, each empty when absent.
struct Sets {
    bounding: CapsHashSet,
    effective: CapsHashSet,
    inheritable: CapsHashSet,
    permitted: CapsHashSet,
    ambient: CapsHashSet,
}

impl Sets {
    fn of(caps: Option<&LinuxCapabilities>) -> Self {
        let set = |get: fn(&LinuxCapabilities) -> &Option<Capabilities>| -> CapsHashSet {
            caps.and_then(|c| get(c).as_ref())
                .into_iter()
                .flatten()
                .map(|&cap| to_caps(cap))
                .collect()
        };
        Sets {
            bounding: set(LinuxCapabilities::bounding),
            effective: set(LinuxCapabilities::effective),
            inheritable: set(LinuxCapabilities::inheritable),
            permitted: set(LinuxCapabilities::permitted),
            ambient: set(LinuxCapabilities::ambient),
        }
    }

    fn all(&self) -> impl Iterator<Item = (&'static str, &CapsHashSet)> {
        [
            ("bounding", &self.bounding),
            ("effective", &self.effective),
            ("inheritable", &self.inheritable),
            ("permitted", &self.permitted),
            ("ambient", &self.ambient),
        ]
        .into_iter()
    }
}

/// Parent side: every capability must exist in this kernel, and the sets must be ones the
/// kernel accepts: effective within permitted, inheritable within bounding (capset refuses
/// to add an inheritable capability the bounding set lacks), ambient within permitted and
/// inheritable.
pub fn validate(caps: &LinuxCapabilities) -> Result<()> {
    check_sets(&Sets::of(Some(caps)), last_cap()?)
}

fn check_sets(sets: &Sets, last_cap: u8) -> Result<()> {
    for (name, set) in sets.all() {
        if let Some(cap) = set.iter().find(|cap| cap.index() > last_cap) {
            return Err(Error::InvalidSpec(format!(
                "capabilities.{name}: {cap} is not known to this kernel (its last capability \
                 is number {last_cap})"
            )));
        }
    }
    let outside = |set: &CapsHashSet, of: &CapsHashSet| set.difference(of).next().copied();
    if let Some(cap) = outside(&sets.effective, &sets.permitted) {
        return Err(Error::InvalidSpec(format!(
            "capabilities: {cap} is effective but not permitted"
        )));
    }
    if let Some(cap) = outside(&sets.inheritable, &sets.bounding) {
        return Err(Error::InvalidSpec(format!(
            "capabilities: {cap} is inheritable but not in the bounding set"
        )));
    }
    let allowed_ambient: CapsHashSet = sets
        .permitted
        .intersection(&sets.inheritable)
        .copied()
        .collect();
    if let Some(cap) = outside(&sets.ambient, &allowed_ambient) {
        return Err(Error::InvalidSpec(format!(
            "capabilities: ambient {cap} must also be permitted and inheritable"
        )));
    }
    Ok(())
}

/// The highest capability number this kernel knows.
fn last_cap() -> Result<u8> {
    let path = "/proc/sys/kernel/cap_last_cap";
    let text = std::fs::read_to_string(path).io(|| format!("reading {path}"))?;
    text.trim().parse().map_err(|_| Error::Io {
        context: format!("reading {path}"),
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not a number: {text:?}"),
        ),
    })
}

/// Drops from the bounding set every capability not in `caps.bounding`. Needs CAP_SETPCAP in
/// the effective set. [`apply`] does this too; this is for callers that must shrink the
/// bounding set earlier, e.g. before running anything else in the container.
pub fn drop_bounding(caps: Option<&LinuxCapabilities>) -> Result<()> {
    drop_bounding_except(&Sets::of(caps).bounding)
}

/// Every capability this process holds (permitted) and could hand on, as OCI names them:
/// what a privileged process gets (a host or sandbox may withhold some from us).
pub fn all_held() -> Result<Capabilities> {
    let held = caps::read(None, CapSet::Permitted)
        .map_err(|e| caps_error("reading the permitted set".into(), e))?;
    Ok(held
        .into_iter()
        .filter_map(|cap| serde_json::from_value(serde_json::Value::String(cap.to_string())).ok())
        .collect())
}

fn drop_bounding_except(keep: &CapsHashSet) -> Result<()> {
    let last = last_cap()?;
    for cap in caps::all().into_iter().filter(|cap| cap.index() <= last) {
        if !keep.contains(&cap) {
            caps::drop(None, CapSet::Bounding, cap)
                .map_err(|e| caps_error(format!("dropping {cap} from the bounding set"), e))?;
        }
    }
    Ok(())
}

/// Gives the calling process exactly the configured capabilities: bounding, inheritable,
/// effective, permitted, then ambient. Meant to run after [`super::user::switch`] (which kept
/// the permitted set across setuid) and works before it too.
///
/// The order matters to the kernel: the bounding set needs CAP_SETPCAP effective, so the
/// permitted set is first made effective; inheritable may only grow within the old permitted
/// set, and effective only within permitted, so both are set before permitted shrinks.
pub fn apply(caps: Option<&LinuxCapabilities>) -> Result<()> {
    let sets = Sets::of(caps);
    let permitted_now = caps::read(None, CapSet::Permitted)
        .map_err(|e| caps_error("reading the permitted set".into(), e))?;
    set(CapSet::Effective, &permitted_now)?;
    drop_bounding_except(&sets.bounding)?;
    set(CapSet::Inheritable, &sets.inheritable)?;
    set(CapSet::Effective, &sets.effective)?;
    set(CapSet::Permitted, &sets.permitted)?;
    caps::clear(None, CapSet::Ambient)
        .map_err(|e| caps_error("clearing the ambient set".into(), e))?;
    for &cap in &sets.ambient {
        caps::raise(None, CapSet::Ambient, cap).map_err(|e| {
            caps_error(
                format!("raising ambient {cap} (it must be permitted and inheritable)"),
                e,
            )
        })?;
    }
    Ok(())
}

fn set(which: CapSet, value: &CapsHashSet) -> Result<()> {
    caps::set(None, which, value).map_err(|e| {
        let mut names: Vec<String> = value.iter().map(ToString::to_string).collect();
        names.sort();
        caps_error(
            format!("setting the {which:?} set to [{}]", names.join(" ")),
            e,
        )
    })
}

/// The caps crate reports failures as text; keep it, with what was being done.
pub(crate) fn caps_error(context: String, e: caps::errors::CapsError) -> Error {
    Error::Io {
        context,
        source: std::io::Error::other(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::test_child::run_in_child;
    use oci_spec::runtime::LinuxCapabilitiesBuilder;
    use std::collections::HashSet;
    use std::str::FromStr;

    /// Parses a kernel capability name ("CAP_CHOWN") as oci-spec does.
    fn parse(name: &str) -> Option<Capability> {
        Capability::from_str(name.strip_prefix("CAP_")?).ok()
    }
    use std::os::unix::fs::chown;

    #[test]
    fn every_capability_maps_to_its_namesake() {
        let all = caps::all();
        for cap in &all {
            let oci = parse(&cap.to_string()).unwrap_or_else(|| panic!("oci-spec lacks {cap}"));
            assert_eq!(to_caps(oci), *cap);
            assert_eq!(format!("CAP_{oci}"), cap.to_string());
        }
        // `to_caps` is an exhaustive match, so every OCI variant maps; distinct ones map
        // to distinct capabilities exactly when the two enums have the same size.
        let mapped: HashSet<_> = all
            .iter()
            .map(|c| to_caps(parse(&c.to_string()).unwrap()))
            .collect();
        assert_eq!(mapped.len(), all.len());
    }

    fn sets(
        effective: &[Capability],
        permitted: &[Capability],
        ambient: &[Capability],
    ) -> LinuxCapabilities {
        let set = |caps: &[Capability]| caps.iter().copied().collect::<Capabilities>();
        LinuxCapabilitiesBuilder::default()
            .bounding(set(permitted))
            .effective(set(effective))
            .inheritable(set(permitted))
            .permitted(set(permitted))
            .ambient(set(ambient))
            .build()
            .unwrap()
    }

    #[test]
    fn validate_accepts_consistent_sets() {
        let all: Vec<Capability> = caps::all()
            .iter()
            .map(|c| parse(&c.to_string()).unwrap())
            .collect();
        validate(&sets(&all, &all, &all)).unwrap();
    }

    #[test]
    fn capability_beyond_the_kernel_is_rejected() {
        // This kernel knows them all, so pretend it stops before CAP_CHECKPOINT_RESTORE (40).
        let caps = sets(&[], &[Capability::CheckpointRestore], &[]);
        let err = check_sets(&Sets::of(Some(&caps)), 39)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("CAP_CHECKPOINT_RESTORE is not known to this kernel"),
            "{err}"
        );
    }

    #[test]
    fn inconsistent_sets_are_rejected() {
        let err = validate(&sets(&[Capability::Chown], &[], &[]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("CAP_CHOWN is effective but not permitted"),
            "{err}"
        );
        let mut caps = sets(&[], &[Capability::Kill], &[Capability::Kill]);
        caps.set_inheritable(None);
        let err = validate(&caps).unwrap_err().to_string();
        assert!(err.contains("ambient CAP_KILL must also be"), "{err}");
        let mut caps = sets(&[], &[Capability::Kill], &[]);
        caps.set_bounding(None);
        let err = validate(&caps).unwrap_err().to_string();
        assert!(
            err.contains("CAP_KILL is inheritable but not in the bounding set"),
            "{err}"
        );
    }

    /// Applies `caps` in a child, then tries to chown a root-owned file to uid 1000.
    fn chown_errno_with(caps: &LinuxCapabilities) -> i32 {
        let file = tempfile::NamedTempFile::new().unwrap();
        run_in_child(|| {
            apply(Some(caps)).unwrap();
            match chown(file.path(), Some(1000), None) {
                Ok(()) => 0,
                Err(e) => e.raw_os_error().unwrap_or(-1),
            }
        })
    }

    #[test]
    fn dropped_cap_chown_forbids_chown() {
        let without = sets(&[Capability::Kill], &[Capability::Kill], &[]);
        assert_eq!(chown_errno_with(&without), libc::EPERM);
        let with = sets(
            &[Capability::Chown],
            &[Capability::Chown],
            &[Capability::Chown],
        );
        assert_eq!(chown_errno_with(&with), 0);
    }

    #[test]
    fn apply_sets_exactly_the_configured_sets() {
        let caps = sets(
            &[Capability::Kill],
            &[Capability::Kill, Capability::Chown],
            &[Capability::Chown],
        );
        let code = run_in_child(|| {
            apply(Some(&caps)).unwrap();
            let read = |set| caps::read(None, set).unwrap();
            let kill = CapsHashSet::from([caps::Capability::CAP_KILL]);
            let both = CapsHashSet::from([caps::Capability::CAP_KILL, caps::Capability::CAP_CHOWN]);
            let chown = CapsHashSet::from([caps::Capability::CAP_CHOWN]);
            let expected = [
                (CapSet::Effective, kill),
                (CapSet::Permitted, both.clone()),
                (CapSet::Inheritable, both.clone()),
                (CapSet::Bounding, both),
                (CapSet::Ambient, chown),
            ];
            for (i, (set, want)) in expected.into_iter().enumerate() {
                if read(set) != want {
                    return 1 + i as i32;
                }
            }
            0
        });
        assert_eq!(code, 0);
    }

    #[test]
    fn no_capabilities_object_means_none() {
        let code = run_in_child(|| {
            apply(None).unwrap();
            let empty = [CapSet::Effective, CapSet::Permitted, CapSet::Bounding]
                .into_iter()
                .all(|set| caps::read(None, set).unwrap().is_empty());
            if empty { 0 } else { 1 }
        });
        assert_eq!(code, 0);
    }
}
