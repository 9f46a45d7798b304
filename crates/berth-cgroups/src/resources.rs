//! OCI resource → cgroup file mappings that are identical on v1 and v2 (same file names and
//! formats), kept in one place so the two managers cannot drift.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxResources};

use crate::fs::Write;
use crate::{Error, Result};

/// pids.max: OCI uses 0 or negative for "no limit".
pub(crate) fn pids(r: &LinuxResources) -> Vec<Write> {
    r.pids()
        .map(|p| match p.limit() {
            l if l <= 0 => Write::file("pids.max", "max"),
            l => Write::file("pids.max", l),
        })
        .into_iter()
        .collect()
}

/// cpuset.cpus / cpuset.mems, verbatim.
pub(crate) fn cpuset(r: &LinuxResources) -> Vec<Write> {
    let Some(cpu) = r.cpu() else { return vec![] };
    [("cpuset.cpus", cpu.cpus()), ("cpuset.mems", cpu.mems())]
        .into_iter()
        .filter_map(|(f, v)| v.as_ref().map(|v| Write::file(f, v)))
        .collect()
}

/// hugetlb.<size>.<suffix>; a negative limit is written as `unlimited`.
pub(crate) fn hugetlb(r: &LinuxResources, suffix: &str, unlimited: &str) -> Vec<Write> {
    r.hugepage_limits()
        .iter()
        .flatten()
        .map(|h| {
            let file = format!("hugetlb.{}.{suffix}", h.page_size());
            match h.limit() {
                l if l < 0 => Write::file(file, unlimited),
                l => Write::file(file, l),
            }
        })
        .collect()
}

/// rdma.max lines "<device> hca_handle=N hca_object=M" (same format on v1 and v2).
pub(crate) fn rdma(r: &LinuxResources) -> Vec<Write> {
    let mut devices: Vec<_> = r.rdma().iter().flatten().collect();
    devices.sort_by(|a, b| a.0.cmp(b.0));
    devices
        .into_iter()
        .filter_map(|(dev, l)| {
            let limits: Vec<String> = [
                ("hca_handle", l.hca_handles()),
                ("hca_object", l.hca_objects()),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| format!("{k}={v}")))
            .collect();
            (!limits.is_empty())
                .then(|| Write::file("rdma.max", format!("{dev} {}", limits.join(" "))))
        })
        .collect()
}

/// Keys of `linux.resources.unified`, checked to be plain file names so a spec cannot write
/// outside the cgroup directory. Sorted for a deterministic write order.
pub(crate) fn unified(r: &LinuxResources) -> Result<Vec<Write>> {
    let mut map: Vec<_> = r.unified().iter().flatten().collect();
    map.sort();
    map.into_iter()
        .map(|(k, v)| {
            if k.is_empty() || k.contains('/') || k == "." || k == ".." {
                return Err(Error::Invalid {
                    what: format!("unified key {k:?}"),
                    reason: "must be a plain cgroup file name".into(),
                });
            }
            Ok(Write::file(k.as_str(), v))
        })
        .collect()
}

/// Access bits as the kernel's device cgroup uses them (BPF_DEVCG_ACC_*).
pub(crate) const ACC_MKNOD: u32 = 1;
pub(crate) const ACC_READ: u32 = 2;
pub(crate) const ACC_WRITE: u32 = 4;
pub(crate) const ACC_ALL: u32 = ACC_MKNOD | ACC_READ | ACC_WRITE;

/// A validated device rule, shared by the v1 devices.allow writer and the v2 eBPF emitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DeviceRule {
    pub allow: bool,
    /// 'a' (all), 'b' or 'c'.
    pub kind: char,
    /// `None` is the wildcard '*'; always `None` for kind 'a'.
    pub major: Option<u32>,
    pub minor: Option<u32>,
    /// ACC_* bits, never 0.
    pub access: u32,
}

impl DeviceRule {
    /// Validates an OCI rule: missing or negative major/minor is a wildcard, missing access is
    /// "rwm", 'u' (unbuffered char) is a char device, 'p' (fifo) has no device cgroup meaning.
    pub(crate) fn from_oci(d: &LinuxDeviceCgroup) -> Result<Self> {
        let invalid = |reason: &str| Error::Invalid {
            what: format!("device rule {d}"),
            reason: reason.to_string(),
        };
        let kind = match d.typ().unwrap_or_default() {
            LinuxDeviceType::A => 'a',
            LinuxDeviceType::B => 'b',
            LinuxDeviceType::C | LinuxDeviceType::U => 'c',
            LinuxDeviceType::P => return Err(invalid("fifo devices cannot be restricted")),
        };
        let num = |n: Option<i64>| -> Result<Option<u32>> {
            match n {
                Some(n) if n >= 0 => u32::try_from(n)
                    .map(Some)
                    .map_err(|_| invalid("device number too large")),
                _ => Ok(None),
            }
        };
        let mut access = 0;
        for c in d.access().as_deref().unwrap_or("rwm").chars() {
            access |= match c {
                'r' => ACC_READ,
                'w' => ACC_WRITE,
                'm' => ACC_MKNOD,
                _ => return Err(invalid("access must be made of r, w and m")),
            };
        }
        let (major, minor) = if kind == 'a' {
            (None, None)
        } else {
            (num(d.major())?, num(d.minor())?)
        };
        Ok(Self {
            allow: d.allow(),
            kind,
            major,
            minor,
            access: if access == 0 { ACC_ALL } else { access },
        })
    }
}
