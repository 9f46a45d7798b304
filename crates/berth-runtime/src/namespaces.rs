//! Which namespaces a container gets and how: new ones through the clone flags, existing ones
//! joined by path (user first, so the rest are joined with its privileges), the pid and time
//! namespaces prepared in the parent because they only apply to children.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use nix::sched::{CloneFlags, setns, unshare};
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Spec};

use crate::error::{Error, IoContext, Result, SysContext};
use crate::spec::namespaces;

/// The clone flag of a namespace kind.
pub fn flag(kind: LinuxNamespaceType) -> CloneFlags {
    match kind {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

/// The /proc/PID/ns entry name of a namespace kind.
pub fn proc_name(kind: LinuxNamespaceType) -> &'static str {
    match kind {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

/// Namespaces the clone creates: a new user namespace, and pid, which only a clone can give its
/// first process. The init unshares the others itself ([`unshare_own`]), time is the parent's
/// (clone cannot set a time namespace's offsets before its first process runs), and cgroup
/// comes once the init is in its cgroup ([`enter_cgroup_namespace`]).
pub fn clone_flags(spec: &Spec) -> CloneFlags {
    created_of(spec, &[LinuxNamespaceType::User, LinuxNamespaceType::Pid])
}

/// Creates the container's own mount, uts, ipc and network namespaces, in the init after it
/// joined any namespace by path: a joined user namespace then owns them (as with runc), so the
/// init may set their hostname and mount sysfs. (The runtime's clone returns sooner, but a
/// create is no shorter: the kernel serializes making a network namespace with the runtime's
/// cgroup writes.)
pub fn unshare_own(spec: &Spec) -> Result<()> {
    let flags = created_of(
        spec,
        &[
            LinuxNamespaceType::Mount,
            LinuxNamespaceType::Uts,
            LinuxNamespaceType::Ipc,
            LinuxNamespaceType::Network,
        ],
    );
    if !flags.is_empty() {
        unshare(flags).sys(|| format!("create the container's namespaces ({flags:?})"))?;
    }
    Ok(())
}

/// The flags of the namespaces among `kinds` that the container gets of its own.
fn created_of(spec: &Spec, kinds: &[LinuxNamespaceType]) -> CloneFlags {
    namespaces(spec)
        .iter()
        .filter(|ns| ns.path().is_none() && kinds.contains(&ns.typ()))
        .fold(CloneFlags::empty(), |acc, ns| acc | flag(ns.typ()))
}

/// Creates the container's cgroup namespace when it gets one of its own. A cgroup namespace is
/// rooted where its creator sits, so this runs in the init after the runtime moved it into the
/// container's cgroup: inside, /proc/self/cgroup then reads "/" and a cgroupfs mount shows the
/// container's own cgroup, as with runc.
pub fn enter_cgroup_namespace(spec: &Spec) -> Result<()> {
    if creates(spec, LinuxNamespaceType::Cgroup) {
        unshare(CloneFlags::CLONE_NEWCGROUP).sys(|| "create the cgroup namespace".into())?;
    }
    Ok(())
}

/// Whether the container gets a namespace of `kind` of its own (new, not joined).
pub fn creates(spec: &Spec, kind: LinuxNamespaceType) -> bool {
    namespaces(spec)
        .iter()
        .any(|ns| ns.typ() == kind && ns.path().is_none())
}

/// Whether the container has a namespace of `kind` at all (new or joined).
pub fn has(spec: &Spec, kind: LinuxNamespaceType) -> bool {
    namespaces(spec).iter().any(|ns| ns.typ() == kind)
}

/// Existing namespaces to join, opened up front (so a bad path fails before anything starts),
/// user namespace first.
pub fn open_joins(spec: &Spec) -> Result<Vec<(LinuxNamespaceType, File)>> {
    let mut joins: Vec<(LinuxNamespaceType, PathBuf)> = namespaces(spec)
        .iter()
        .filter_map(|ns| ns.path().as_ref().map(|p| (ns.typ(), p.clone())))
        .collect();
    joins.sort_by_key(|(kind, _)| *kind != LinuxNamespaceType::User);
    joins
        .into_iter()
        .map(|(kind, path)| {
            let file = File::open(&path)
                .io(|| format!("open {} namespace path {}", proc_name(kind), path.display()))?;
            Ok((kind, file))
        })
        .collect()
}

/// Joins the opened namespaces, except pid and time, which the parent handles.
pub fn join(joins: &[(LinuxNamespaceType, File)]) -> Result<()> {
    for (kind, file) in joins {
        if matches!(kind, LinuxNamespaceType::Pid | LinuxNamespaceType::Time) {
            continue;
        }
        setns(file.as_fd(), flag(*kind))
            .sys(|| format!("join the {} namespace", proc_name(*kind)))?;
    }
    Ok(())
}

/// Namespace settings of the parent that apply to its next child only, undone after the clone.
pub struct ForChildren {
    saved: Vec<(CloneFlags, File)>,
}

impl ForChildren {
    /// Points the parent's pid_for_children/time_for_children at the container's: a joined pid
    /// namespace by path, or a new time namespace with its offsets written.
    pub fn enter(spec: &Spec, joins: &[(LinuxNamespaceType, File)]) -> Result<ForChildren> {
        let mut saved = Vec::new();
        if let Some((_, file)) = joins.iter().find(|(k, _)| *k == LinuxNamespaceType::Pid) {
            saved.push(save("pid_for_children", CloneFlags::CLONE_NEWPID)?);
            setns(file.as_fd(), CloneFlags::CLONE_NEWPID)
                .sys(|| "join the pid namespace".into())?;
        }
        let time = flag(LinuxNamespaceType::Time);
        if let Some((_, file)) = joins.iter().find(|(k, _)| *k == LinuxNamespaceType::Time) {
            saved.push(save("time_for_children", time)?);
            setns(file.as_fd(), time).sys(|| "join the time namespace".into())?;
        } else if creates(spec, LinuxNamespaceType::Time) {
            saved.push(save("time_for_children", time)?);
            unshare(time).sys(|| "create a time namespace".into())?;
            write_time_offsets(spec)?;
        }
        Ok(ForChildren { saved })
    }

    /// Restores the parent's own namespaces for its later children (hooks, for instance).
    pub fn leave(self) -> Result<()> {
        for (flag, file) in &self.saved {
            setns(file.as_fd(), *flag).sys(|| "restore the runtime's namespace".into())?;
        }
        Ok(())
    }
}

fn save(name: &str, flag: CloneFlags) -> Result<(CloneFlags, File)> {
    let path = format!("/proc/self/ns/{name}");
    Ok((flag, File::open(&path).io(|| format!("open {path}"))?))
}

fn write_time_offsets(spec: &Spec) -> Result<()> {
    let Some(offsets) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.time_offsets().as_ref())
    else {
        return Ok(());
    };
    let mut text = String::new();
    for (clock, offset) in offsets {
        if clock != "monotonic" && clock != "boottime" {
            return Err(Error::InvalidSpec(format!(
                "linux.timeOffsets: unknown clock {clock:?} (monotonic or boottime)"
            )));
        }
        text.push_str(&format!(
            "{clock} {} {}\n",
            offset.secs().unwrap_or(0),
            offset.nanosecs().unwrap_or(0)
        ));
    }
    std::fs::write("/proc/self/timens_offsets", text)
        .io(|| "write /proc/self/timens_offsets".into())
}

/// Writes a new user namespace's uid and gid maps from the parent.
pub fn write_id_maps(pid: i32, spec: &Spec) -> Result<()> {
    let linux = spec.linux().as_ref();
    let uid = linux
        .and_then(|l| l.uid_mappings().as_deref())
        .unwrap_or(&[]);
    let gid = linux
        .and_then(|l| l.gid_mappings().as_deref())
        .unwrap_or(&[]);
    write_map(
        &Path::new("/proc").join(pid.to_string()).join("uid_map"),
        uid,
    )?;
    write_map(
        &Path::new("/proc").join(pid.to_string()).join("gid_map"),
        gid,
    )
}

fn write_map(path: &Path, mappings: &[LinuxIdMapping]) -> Result<()> {
    let text: String = mappings
        .iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect();
    std::fs::write(path, text).io(|| format!("write {}", path.display()))
}

/// Sets hostname and domainname inside the container's uts namespace.
pub fn set_uts_names(spec: &Spec) -> Result<()> {
    if let Some(host) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(host).sys(|| format!("set hostname {host:?}"))?;
    }
    if let Some(domain) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
        let rc = unsafe { libc::setdomainname(domain.as_ptr().cast(), domain.len()) };
        nix::errno::Errno::result(rc).sys(|| format!("set domainname {domain:?}"))?;
    }
    Ok(())
}
