//! The per-container state directory: `state.json` (written atomically), the frozen config, and
//! the `exec.fifo` that holds a created container before its program runs.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};

/// Default state root, like runc's `/run/runc`.
pub const DEFAULT_ROOT: &str = "/run/berth/oci";
const STATE_FILE: &str = "state.json";
const CONFIG_FILE: &str = "config.json";
const FIFO_FILE: &str = "exec.fifo";
const CREATOR_FILE: &str = "creator";

/// The lifecycle states of the OCI runtime spec, plus `paused` as runc reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        };
        f.pad(s)
    }
}

/// What berth records about a container; `state` prints the OCI subset of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub id: String,
    pub pid: i32,
    /// Start time of `pid` in clock ticks since boot, so a recycled pid is never mistaken for it.
    pub pid_start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub cgroups_path: PathBuf,
    /// Where `cgroups_path` was found at create; absent in records of older versions, which
    /// are then placed again from `cgroups_path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<berth_cgroups::Placement>,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    #[serde(default)]
    pub owner: String,
}

/// The OCI state JSON, as `state` prints it and hooks read it on stdin.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciState {
    pub oci_version: String,
    pub id: String,
    pub status: Status,
    pub pid: i32,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    #[serde(skip_serializing_if = "HashMap::is_empty", default)]
    pub annotations: HashMap<String, String>,
}

/// The state root directory (`--root`).
#[derive(Debug, Clone)]
pub struct StateRoot {
    dir: PathBuf,
}

impl StateRoot {
    pub fn new(dir: impl Into<PathBuf>) -> StateRoot {
        StateRoot { dir: dir.into() }
    }

    /// Claims `id`: its directory appears at once, complete with a `creator` file naming this
    /// process (built under a temporary name, then renamed without replacing), so a directory
    /// without a state file can always be told apart: a create in progress, or one abandoned by
    /// a runtime that died.
    pub fn claim(&self, id: &str) -> Result<ContainerDir> {
        validate_id(id)?;
        fs::create_dir_all(&self.dir).io(|| format!("create state root {}", self.dir.display()))?;
        let dir = self.dir.join(id);
        let tmp = self.dir.join(format!(".{id}.claim-{}", std::process::id()));
        fs::create_dir(&tmp).io(|| format!("create {}", tmp.display()))?;
        let me = std::process::id() as i32;
        let creator = format!("{me} {}", process_start_time(me).unwrap_or(0));
        let claimed = fs::write(tmp.join(CREATOR_FILE), creator)
            .io(|| format!("write {}", tmp.join(CREATOR_FILE).display()))
            .and_then(|()| {
                rustix::fs::renameat_with(
                    rustix::fs::CWD,
                    &tmp,
                    rustix::fs::CWD,
                    &dir,
                    rustix::fs::RenameFlags::NOREPLACE,
                )
                .map_err(|errno| {
                    match nix::errno::Errno::from_raw(errno.raw_os_error()) {
                        nix::errno::Errno::EEXIST | nix::errno::Errno::ENOTEMPTY => {
                            Error::Exists(id.to_string())
                        }
                        errno => Error::Sys {
                            context: format!("rename {} to {}", tmp.display(), dir.display()),
                            errno,
                        },
                    }
                })
            });
        if claimed.is_err() {
            let _ = fs::remove_dir_all(&tmp);
        }
        claimed.map(|()| ContainerDir { dir })
    }

    /// The directory of `id` if a runtime that died while creating it left it behind: no state
    /// file, and its creator is gone.
    pub fn abandoned(&self, id: &str) -> Option<ContainerDir> {
        validate_id(id).ok()?;
        let dir = self.dir.join(id);
        if !dir.is_dir() || dir.join(STATE_FILE).exists() {
            return None;
        }
        let creator = fs::read_to_string(dir.join(CREATOR_FILE)).unwrap_or_default();
        let mut fields = creator.split_whitespace().map(str::parse::<u64>);
        let alive = match (fields.next(), fields.next()) {
            (Some(Ok(pid)), Some(Ok(start))) => process_start_time(pid as i32) == Some(start),
            _ => false,
        };
        (!alive).then_some(ContainerDir { dir })
    }

    /// Opens the directory of an existing container.
    pub fn open(&self, id: &str) -> Result<ContainerDir> {
        validate_id(id)?;
        let dir = self.dir.join(id);
        if !dir.join(STATE_FILE).exists() {
            return Err(Error::NotFound(id.to_string()));
        }
        Ok(ContainerDir { dir })
    }

    /// Ids of every container with a state file, sorted.
    /// Compiled seccomp programs by profile hash (a name no container id can have).
    pub fn seccomp_cache(&self) -> PathBuf {
        self.dir.join(".seccomp-cache")
    }

    pub fn ids(&self) -> Result<Vec<String>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).io(|| format!("read {}", self.dir.display())),
        };
        let mut ids: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join(STATE_FILE).exists())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        ids.sort();
        Ok(ids)
    }
}

/// Container ids become directory names: refuse anything that could escape or confuse.
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '+'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidId(id.to_string()))
    }
}

/// One container's state directory.
#[derive(Debug, Clone)]
pub struct ContainerDir {
    dir: PathBuf,
}

impl ContainerDir {
    pub fn fifo_path(&self) -> PathBuf {
        self.dir.join(FIFO_FILE)
    }

    pub fn read_record(&self) -> Result<Record> {
        let path = self.dir.join(STATE_FILE);
        let bytes = fs::read(&path).io(|| format!("read {}", path.display()))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::InvalidSpec(format!("corrupt state {}: {e}", path.display())))
    }

    pub fn write_record(&self, record: &Record) -> Result<()> {
        let bytes = serde_json::to_vec(record).expect("state serializes");
        write_atomic(&self.dir.join(STATE_FILE), &bytes)
    }

    /// The config as it was at create time: later edits of the bundle do not change a container.
    pub fn read_config(&self) -> Result<Spec> {
        crate::spec::parse_config(&self.dir.join(CONFIG_FILE))
    }

    pub fn write_config(&self, spec: &Spec) -> Result<()> {
        let bytes = serde_json::to_vec(spec).expect("spec serializes");
        write_atomic(&self.dir.join(CONFIG_FILE), &bytes)
    }

    /// Removes the directory and everything in it.
    pub fn remove(&self) -> Result<()> {
        match fs::remove_dir_all(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).io(|| format!("remove {}", self.dir.display())),
        }
    }
}

/// Write to a temporary file and rename it over the target: readers and a crash of the runtime
/// see the old or the new file, never half of one. No fsync: runtime state describes processes,
/// which do not survive a reboot either (runc's state is just as volatile), and an fsync costs
/// milliseconds per container on a disk-backed state root.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = File::create(&tmp).io(|| format!("create {}", tmp.display()))?;
    file.write_all(bytes)
        .io(|| format!("write {}", tmp.display()))?;
    fs::rename(&tmp, path).io(|| format!("rename {} to {}", tmp.display(), path.display()))
}

/// Start time (field 22 of /proc/PID/stat) of a live process, `None` once it is gone or a zombie.
pub fn process_start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

/// Current time as RFC 3339 with nanoseconds, UTC, as runc writes `created`.
pub fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_nanos()
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm); the
/// engine and the CLI use it too.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_keep_their_cgroup_placement_and_older_ones_load_without_it() {
        let older = r#"{"id":"c","pid":1,"pidStartTime":2,"bundle":"/b","rootfs":"/b/r",
            "created":"2026-01-01T00:00:00Z","cgroupsPath":"/berth/c"}"#;
        let record: Record = serde_json::from_str(older).unwrap();
        assert_eq!(record.cgroup, None);
        let placement = berth_cgroups::Placement::Unified {
            root: "/sys/fs/cgroup".into(),
            dir: "/sys/fs/cgroup/berth/c".into(),
        };
        let placed = Record {
            cgroup: Some(placement.clone()),
            ..record
        };
        let again: Record = serde_json::from_str(&serde_json::to_string(&placed).unwrap()).unwrap();
        assert_eq!(again.cgroup, Some(placement));
    }

    #[test]
    fn ids_that_could_escape_are_refused() {
        for bad in ["", ".", "..", "../x", "a/b", ".hidden", "a b", "x\0"] {
            assert!(validate_id(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["a", "web-1", "x.y_z", "0123"] {
            validate_id(good).unwrap();
        }
    }

    #[test]
    fn dates_convert() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn own_start_time_is_read_and_claim_is_exclusive() {
        assert!(process_start_time(std::process::id() as i32).is_some());
        let tmp = tempfile::tempdir().unwrap();
        let root = StateRoot::new(tmp.path());
        root.claim("c1").unwrap();
        assert!(matches!(root.claim("c1"), Err(Error::Exists(_))));
        assert!(matches!(root.open("nope"), Err(Error::NotFound(_))));
    }
}
