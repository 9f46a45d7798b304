//! Loading and checking a bundle's `config.json` before anything is created, so that a bad
//! config fails with a precise message and leaves nothing behind.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{Linux, LinuxNamespace, LinuxNamespaceType, Process, Spec};

use crate::error::{Error, IoContext, Result};

/// A loaded bundle: its directory, its config and the absolute path of its root filesystem.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub dir: PathBuf,
    pub spec: Spec,
    pub rootfs: PathBuf,
}

impl Bundle {
    /// Reads and validates `<dir>/config.json`.
    pub fn load(dir: &Path) -> Result<Bundle> {
        let dir = std::fs::canonicalize(dir).map_err(|e| Error::Bundle {
            path: dir.to_path_buf(),
            reason: format!("cannot open the bundle directory: {e}"),
        })?;
        let spec = parse_config(&dir.join("config.json"))?;
        let root = spec
            .root()
            .as_ref()
            .ok_or_else(|| Error::InvalidSpec("root is missing".into()))?;
        let rootfs_path = dir.join(root.path());
        let rootfs = std::fs::canonicalize(&rootfs_path).map_err(|e| Error::Bundle {
            path: dir.clone(),
            reason: format!("root.path {}: {e}", rootfs_path.display()),
        })?;
        if !rootfs.is_dir() {
            return Err(Error::Bundle {
                path: dir,
                reason: format!("root.path {} is not a directory", rootfs.display()),
            });
        }
        validate(&spec)?;
        Ok(Bundle { dir, spec, rootfs })
    }
}

/// Parses a config file, reporting the JSON error with its line and column.
pub fn parse_config(path: &Path) -> Result<Spec> {
    let bytes = std::fs::read(path).io(|| format!("read {}", path.display()))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::InvalidSpec(format!("{}: {e}", path.display())))
}

/// Parses a `process.json` as given to `exec --process`.
pub fn parse_process(path: &Path) -> Result<Process> {
    let bytes = std::fs::read(path).io(|| format!("read {}", path.display()))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::InvalidSpec(format!("{}: {e}", path.display())))
}

/// Mappings given with a user namespace joined by path are not written (a namespace's maps are
/// set once, by its creator) but must be its own, as runc checks: they are compared with those of
/// the process a `/proc/PID/ns/user` path names. Other paths (a bind-mounted namespace file) do
/// not say whose maps to read, and are taken as given.
fn check_joined_maps(path: &Path, linux: &Linux) -> Result<()> {
    let Some(pid) = path
        .to_str()
        .and_then(|p| p.strip_prefix("/proc/"))
        .and_then(|p| p.strip_suffix("/ns/user"))
        .filter(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
    else {
        return Ok(());
    };
    let files = [
        ("uidMappings", "uid_map", linux.uid_mappings()),
        ("gidMappings", "gid_map", linux.gid_mappings()),
    ];
    for (field, file, given) in files {
        let given: Vec<[u32; 3]> = given
            .iter()
            .flatten()
            .map(|m| [m.container_id(), m.host_id(), m.size()])
            .collect();
        let map_path = format!("/proc/{pid}/{file}");
        let text = std::fs::read_to_string(&map_path).io(|| format!("read {map_path}"))?;
        let actual: Vec<[u32; 3]> = text
            .lines()
            .filter_map(|line| {
                let mut n = line.split_whitespace().map(|v| v.parse().ok());
                Some([n.next()??, n.next()??, n.next()??])
            })
            .collect();
        if given != actual {
            return Err(Error::InvalidSpec(format!(
                "linux.{field} {given:?} are not those of the joined user namespace {} ({actual:?})",
                path.display()
            )));
        }
    }
    Ok(())
}

/// Checks what serde cannot: required fields, duplicates and combinations the kernel refuses.
pub fn validate(spec: &Spec) -> Result<()> {
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::InvalidSpec("process is missing".into()))?;
    validate_process(process)?;
    let namespaces = namespaces(spec);
    let mut seen = HashSet::new();
    for ns in namespaces {
        if !seen.insert(ns.typ()) {
            return Err(Error::InvalidSpec(format!(
                "namespace {} is listed twice",
                ns.typ()
            )));
        }
    }
    let linux = spec.linux().as_ref();
    let user_ns = namespaces
        .iter()
        .find(|ns| ns.typ() == LinuxNamespaceType::User);
    let has_maps = linux.is_some_and(|l| l.uid_mappings().is_some() || l.gid_mappings().is_some());
    match user_ns.map(|ns| ns.path().as_deref()) {
        None if has_maps => {
            return Err(Error::InvalidSpec(
                "linux.uidMappings/gidMappings given without a user namespace".into(),
            ));
        }
        Some(None) if !has_maps => {
            return Err(Error::InvalidSpec(
                "a new user namespace needs linux.uidMappings and linux.gidMappings".into(),
            ));
        }
        Some(Some(path)) if has_maps => check_joined_maps(path, linux.expect("has maps"))?,
        _ => {}
    }
    let creates_pid_ns = namespaces
        .iter()
        .any(|ns| ns.typ() == LinuxNamespaceType::Pid && ns.path().is_none());
    if user_ns.is_some_and(|ns| ns.path().is_some()) && creates_pid_ns {
        // The clone would make the pid namespace in the runtime's user namespace, where the
        // init, once in the joined one, may not mount its /proc.
        return Err(Error::InvalidSpec(
            "a user namespace joined by path with a new pid namespace is not supported: join the pid namespace too".into(),
        ));
    }
    let has_time_ns = namespaces
        .iter()
        .any(|ns| ns.typ() == LinuxNamespaceType::Time && ns.path().is_none());
    if linux.is_some_and(|l| l.time_offsets().is_some()) && !has_time_ns {
        return Err(Error::InvalidSpec(
            "linux.timeOffsets given without a new time namespace".into(),
        ));
    }
    if spec.hostname().as_deref().is_some_and(|h| !h.is_empty())
        && !namespaces
            .iter()
            .any(|ns| ns.typ() == LinuxNamespaceType::Uts)
    {
        return Err(Error::InvalidSpec(
            "hostname is set but there is no uts namespace".into(),
        ));
    }
    check_unsupported(spec)
}

/// Features berth does not implement fail loudly instead of being silently skipped. Labels for
/// LSMs the host does not run are ignored, as runc ignores them.
fn check_unsupported(spec: &Spec) -> Result<()> {
    let linux = spec.linux().as_ref();
    if linux.is_some_and(|l| l.intel_rdt().is_some()) {
        return Err(Error::InvalidSpec(
            "linux.intelRdt is not supported by berth".into(),
        ));
    }
    if linux.is_some_and(|l| l.net_devices().as_ref().is_some_and(|d| !d.is_empty())) {
        return Err(Error::InvalidSpec(
            "linux.netDevices is not supported by berth".into(),
        ));
    }
    let process = spec.process().as_ref();
    let apparmor = process.and_then(|p| p.apparmor_profile().as_deref());
    if apparmor.is_some_and(|p| !p.is_empty() && p != "unconfined") && host_runs_apparmor() {
        return Err(Error::InvalidSpec(
            "process.apparmorProfile: AppArmor profiles are not supported by berth yet".into(),
        ));
    }
    let selinux = process
        .and_then(|p| p.selinux_label().as_deref())
        .is_some_and(|l| !l.is_empty())
        || linux
            .and_then(|l| l.mount_label().as_deref())
            .is_some_and(|l| !l.is_empty());
    if selinux && Path::new("/sys/fs/selinux/enforce").exists() {
        return Err(Error::InvalidSpec(
            "SELinux labels are not supported by berth yet".into(),
        ));
    }
    Ok(())
}

fn host_runs_apparmor() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y")
}

/// Checks a process definition (used by create and exec).
pub fn validate_process(process: &Process) -> Result<()> {
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(Error::InvalidSpec("process.args is empty".into()));
    }
    if !process.cwd().is_absolute() {
        return Err(Error::InvalidSpec(format!(
            "process.cwd {} is not absolute",
            process.cwd().display()
        )));
    }
    Ok(())
}

/// The spec's namespaces, or none when `linux` is absent.
pub fn namespaces(spec: &Spec) -> &[LinuxNamespace] {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_deref())
        .unwrap_or(&[])
}

/// The config `berth oci spec` writes: runc's defaults, with our hostname.
pub fn default_spec() -> Spec {
    let mut spec = Spec::default();
    spec.set_hostname(Some("berth".into()));
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle_with(config: &str) -> (tempfile::TempDir, Result<Bundle>) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("rootfs")).unwrap();
        std::fs::write(dir.path().join("config.json"), config).unwrap();
        let loaded = Bundle::load(dir.path());
        (dir, loaded)
    }

    fn config_with_linux(linux: &str) -> String {
        format!(
            r#"{{"ociVersion":"1.0.2","root":{{"path":"rootfs"}},
                "process":{{"args":["true"],"cwd":"/","user":{{"uid":0,"gid":0}}}},
                "linux":{linux}}}"#
        )
    }

    #[test]
    fn invalid_json_names_line_and_column() {
        let (_d, r) = bundle_with("{\n  \"ociVersion\": \"1.0.2\",\n  oops\n}");
        let msg = r.unwrap_err().to_string();
        assert!(msg.contains("line 3"), "{msg}");
    }

    #[test]
    fn unknown_namespace_is_refused() {
        let (_d, r) = bundle_with(&config_with_linux(r#"{"namespaces":[{"type":"foo"}]}"#));
        let msg = r.unwrap_err().to_string();
        assert!(msg.contains("foo"), "{msg}");
    }

    #[test]
    fn duplicate_namespace_is_refused() {
        let (_d, r) = bundle_with(&config_with_linux(
            r#"{"namespaces":[{"type":"pid"},{"type":"pid"}]}"#,
        ));
        assert!(r.unwrap_err().to_string().contains("listed twice"));
    }

    #[test]
    fn id_maps_need_a_user_namespace_and_back() {
        let (_d, r) = bundle_with(&config_with_linux(r#"{"namespaces":[{"type":"user"}]}"#));
        assert!(r.unwrap_err().to_string().contains("uidMappings"));
        let (_d, r) = bundle_with(&config_with_linux(
            r#"{"namespaces":[{"type":"mount"}],
                "uidMappings":[{"containerID":0,"hostID":1000,"size":1}]}"#,
        ));
        assert!(
            r.unwrap_err()
                .to_string()
                .contains("without a user namespace")
        );
    }

    #[test]
    fn a_joined_user_namespace_with_a_new_pid_namespace_is_refused() {
        let (_d, r) = bundle_with(&config_with_linux(
            r#"{"namespaces":[{"type":"mount"},{"type":"pid"},
                {"type":"user","path":"/proc/1/ns/user"}]}"#,
        ));
        let msg = r.unwrap_err().to_string();
        assert!(msg.contains("join the pid namespace too"), "{msg}");
    }

    #[test]
    fn maps_with_a_joined_user_namespace_must_be_its_own() {
        let ours = std::process::id();
        let mine = std::fs::read_to_string("/proc/self/uid_map").unwrap();
        let [inside, outside, size] = [0, 1, 2].map(|i| {
            let field = mine.split_whitespace().nth(i).unwrap();
            field.parse::<u32>().unwrap()
        });
        let config = |host_id: u32| {
            config_with_linux(&format!(
                r#"{{"namespaces":[{{"type":"mount"}},
                    {{"type":"user","path":"/proc/{ours}/ns/user"}}],
                    "uidMappings":[{{"containerID":{inside},"hostID":{host_id},"size":{size}}}],
                    "gidMappings":[{{"containerID":{inside},"hostID":{host_id},"size":{size}}}]}}"#
            ))
        };
        let (_d, r) = bundle_with(&config(outside));
        assert!(r.is_ok(), "the namespace's own maps: {:?}", r.err());
        let (_d, r) = bundle_with(&config(outside + 100_000));
        let msg = r.unwrap_err().to_string();
        assert!(
            msg.contains("not those of the joined user namespace"),
            "{msg}"
        );
    }

    #[test]
    fn missing_rootfs_and_relative_cwd_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            config_with_linux(r#"{"namespaces":[{"type":"mount"}]}"#),
        )
        .unwrap();
        let msg = Bundle::load(dir.path()).unwrap_err().to_string();
        assert!(msg.contains("root.path"), "{msg}");
        let (_d, r) = bundle_with(
            &config_with_linux(r#"{"namespaces":[{"type":"mount"}]}"#)
                .replace(r#""cwd":"/""#, r#""cwd":"tmp""#),
        );
        assert!(r.unwrap_err().to_string().contains("not absolute"));
    }

    #[test]
    fn a_good_config_loads() {
        let (_d, r) = bundle_with(&config_with_linux(r#"{"namespaces":[{"type":"mount"}]}"#));
        let bundle = r.unwrap();
        assert!(bundle.rootfs.ends_with("rootfs"));
    }
}
