//! `--pid`, `--ipc`, `--uts` and `--userns`: a new namespace (Docker's default), the host's,
//! or another running container's (`container:NAME`).

use std::path::PathBuf;

use bollard_stubs::models::HostConfig;

use crate::error::{Error, Result};

/// How one namespace is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NsMode {
    New,
    Host,
    /// Join the namespace at this path (`/proc/<pid>/ns/<kind>`).
    Join(PathBuf),
}

/// The pid, ipc and uts namespaces of a container, and whether it gets a /dev/shm.
#[derive(Debug, Clone)]
pub struct Namespaces {
    pub pid: NsMode,
    pub ipc: NsMode,
    pub uts: NsMode,
    /// `--ipc none`: no /dev/shm mount at all.
    pub no_shm: bool,
}

/// Checks the modes at create (other containers are looked up at start).
pub fn validate(hc: &HostConfig, hostname_given: bool) -> Result<()> {
    parse(hc, &|_| Ok(0)).map(|_| ())?;
    if hostname_given && uts_mode(hc) == "host" {
        return Err(Error::InvalidArgument(
            "Conflicting options: hostname and the UTS mode".into(),
        ));
    }
    match hc.userns_mode.as_deref().unwrap_or("") {
        "" | "host" => Ok(()),
        other => Err(Error::InvalidArgument(format!(
            "--userns {other:?}: user namespace remapping is not supported by berth (only \"host\")"
        ))),
    }
}

pub fn uts_mode(hc: &HostConfig) -> &str {
    hc.uts_mode.as_deref().unwrap_or("")
}

/// The modes, with `container:` resolved through `pid_of` (a running container's init pid).
pub fn parse(hc: &HostConfig, pid_of: &dyn Fn(&str) -> Result<i32>) -> Result<Namespaces> {
    let join = |name: &str, kind: &str| -> Result<NsMode> {
        if name.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "invalid {kind} mode: container name is empty"
            )));
        }
        Ok(NsMode::Join(PathBuf::from(format!(
            "/proc/{}/ns/{kind}",
            pid_of(name)?
        ))))
    };
    let pid = match hc.pid_mode.as_deref().unwrap_or("") {
        "" | "private" => NsMode::New,
        "host" => NsMode::Host,
        m => match m.strip_prefix("container:") {
            Some(c) => join(c, "pid")?,
            None => return Err(Error::InvalidArgument(format!("invalid PID mode: {m}"))),
        },
    };
    let mut no_shm = false;
    let ipc = match hc.ipc_mode.as_deref().unwrap_or("") {
        "" | "private" | "shareable" => NsMode::New,
        "none" => {
            no_shm = true;
            NsMode::New
        }
        "host" => NsMode::Host,
        m => match m.strip_prefix("container:") {
            Some(c) => join(c, "ipc")?,
            None => return Err(Error::InvalidArgument(format!("invalid IPC mode: {m}"))),
        },
    };
    let uts = match uts_mode(hc) {
        "" | "private" => NsMode::New,
        "host" => NsMode::Host,
        m => return Err(Error::InvalidArgument(format!("invalid UTS mode: {m}"))),
    };
    Ok(Namespaces {
        pid,
        ipc,
        uts,
        no_shm,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        let hc = HostConfig {
            pid_mode: Some("host".into()),
            ipc_mode: Some("container:db".into()),
            ..Default::default()
        };
        let ns = parse(&hc, &|n| {
            if n == "db" {
                Ok(42)
            } else {
                Err(Error::NotFound(n.into()))
            }
        })
        .unwrap();
        assert_eq!(ns.pid, NsMode::Host);
        assert_eq!(ns.ipc, NsMode::Join("/proc/42/ns/ipc".into()));
        assert_eq!(ns.uts, NsMode::New);
        let bad = HostConfig {
            ipc_mode: Some("sideways".into()),
            ..Default::default()
        };
        assert!(validate(&bad, false).is_err());
        let userns = HostConfig {
            userns_mode: Some("remap".into()),
            ..Default::default()
        };
        assert!(validate(&userns, false).is_err());
        let uts = HostConfig {
            uts_mode: Some("host".into()),
            ..Default::default()
        };
        assert!(validate(&uts, true).is_err());
    }
}
