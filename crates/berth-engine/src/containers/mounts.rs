//! A container's mounts, decided once at create from every way Docker has of asking
//! (`Binds`, `Mounts`, `Tmpfs`, `Config.Volumes`, the image's `VOLUME`s, `VolumesFrom`) and
//! kept in its record: start mounts them, inspect shows them, volume removal checks them.

use std::collections::HashMap;
use std::path::Path;

use bollard_stubs::models::{
    ContainerConfig, HostConfig, Mount, MountBindOptionsPropagationEnum, MountPoint, MountType,
};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::volumes::{NewVolume, Volumes, copy_up, validate_name};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    Bind,
    Volume,
    Tmpfs,
}

/// One mount of a container, as planned at create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountPlan {
    pub kind: MountKind,
    /// The volume's name (volumes only).
    #[serde(default)]
    pub name: String,
    /// The host path of a bind (empty for volumes and tmpfs: resolved at start).
    #[serde(default)]
    pub source: String,
    pub destination: String,
    pub read_only: bool,
    /// The mode as the user wrote it (`ro,z`), for inspect.
    #[serde(default)]
    pub mode: String,
    /// Bind propagation (`rprivate` unless asked).
    #[serde(default)]
    pub propagation: String,
    /// Fill an empty volume from the image's content at the destination.
    #[serde(default)]
    pub copy_up: bool,
    /// Made for this container alone (`VOLUME`, `-v /path`): `rm -v` removes it.
    #[serde(default)]
    pub anonymous: bool,
    /// tmpfs options (`size=…`, `mode=…`).
    #[serde(default)]
    pub options: Vec<String>,
    /// A `-v` bind whose host directory is made at start when missing (Docker's legacy
    /// behaviour; `--mount` binds require it to exist).
    #[serde(default)]
    pub create_source: bool,
}

impl MountPlan {
    /// A read-only bind of a host file or directory the engine supplies (the init).
    pub fn read_only_bind(source: &str, destination: &str) -> MountPlan {
        MountPlan {
            kind: MountKind::Bind,
            name: String::new(),
            source: source.to_string(),
            destination: destination.to_string(),
            read_only: true,
            mode: "ro".into(),
            propagation: "rprivate".into(),
            copy_up: false,
            anonymous: false,
            options: Vec::new(),
            create_source: false,
        }
    }

    /// The mount as `inspect`'s `Mounts` shows it.
    pub fn model(&self, volumes: &Volumes) -> MountPoint {
        let (typ, source, driver) = match self.kind {
            MountKind::Bind => ("bind", self.source.clone(), None),
            MountKind::Volume => (
                "volume",
                volumes.data_dir(&self.name).to_string_lossy().into_owned(),
                Some("local".to_string()),
            ),
            MountKind::Tmpfs => ("tmpfs", String::new(), None),
        };
        MountPoint {
            typ: Some(typ.into()),
            name: (self.kind == MountKind::Volume).then(|| self.name.clone()),
            source: Some(source),
            destination: Some(self.destination.clone()),
            driver,
            mode: Some(self.mode.clone()),
            rw: Some(!self.read_only),
            propagation: Some(self.propagation.clone()),
        }
    }
}

/// The other containers' mounts `--volumes-from` may copy, looked up by name or id.
pub type LookupMounts<'a> = dyn Fn(&str) -> Result<Vec<MountPlan>> + 'a;

/// Plans every mount; volumes named or implied are created (anonymous ones are removed again
/// if planning fails). Later sources override earlier ones at the same destination, as in
/// Docker: volumes-from and image volumes first, then binds, `--mount`, `--tmpfs`.
pub fn plan(
    hc: &HostConfig,
    config: &ContainerConfig,
    volumes: &Volumes,
    lookup: &LookupMounts,
) -> Result<Vec<MountPlan>> {
    let mut made: Vec<String> = Vec::new();
    let result = plan_inner(hc, config, volumes, lookup, &mut made);
    if result.is_err() {
        for name in made {
            let _ = volumes.remove(&name);
        }
    }
    result
}

fn plan_inner(
    hc: &HostConfig,
    config: &ContainerConfig,
    volumes: &Volumes,
    lookup: &LookupMounts,
    made: &mut Vec<String>,
) -> Result<Vec<MountPlan>> {
    let mut implicit: Vec<MountPlan> = Vec::new();
    for from in hc.volumes_from.iter().flatten() {
        let (name, mode) = match from.split_once(':') {
            Some((n, m)) => (n, m),
            None => (from.as_str(), ""),
        };
        let force_ro = match mode {
            "" => None,
            "ro" => Some(true),
            "rw" => Some(false),
            m => {
                return Err(Error::InvalidArgument(format!(
                    "invalid mode for volumes-from: {m}"
                )));
            }
        };
        for mut m in lookup(name)? {
            if let Some(ro) = force_ro {
                m.read_only = ro;
            }
            m.anonymous = false;
            m.copy_up = false;
            implicit.retain(|x| x.destination != m.destination);
            implicit.push(m);
        }
    }
    let mut explicit: Vec<MountPlan> = Vec::new();
    for bind in hc.binds.iter().flatten() {
        add(parse_bind(bind)?, &mut explicit)?;
    }
    for m in hc.mounts.iter().flatten() {
        add(from_mount(m)?, &mut explicit)?;
    }
    for (dst, opts) in hc.tmpfs.iter().flatten() {
        check_destination(dst)?;
        let options: Vec<String> = opts
            .split(',')
            .filter(|o| !o.is_empty())
            .map(str::to_string)
            .collect();
        let read_only = options.iter().any(|o| o == "ro");
        add(
            MountPlan {
                kind: MountKind::Tmpfs,
                name: String::new(),
                source: String::new(),
                destination: dst.clone(),
                read_only,
                mode: String::new(),
                propagation: String::new(),
                copy_up: false,
                anonymous: false,
                options,
                create_source: false,
            },
            &mut explicit,
        )?;
    }
    let mut anonymous_paths: Vec<&String> = config.volumes.iter().flatten().collect();
    anonymous_paths.sort();
    anonymous_paths.dedup();
    for dst in anonymous_paths {
        check_destination(dst)?;
        if explicit.iter().any(|m| &m.destination == dst) {
            continue;
        }
        implicit.retain(|x| &x.destination != dst);
        implicit.push(MountPlan {
            kind: MountKind::Volume,
            name: String::new(),
            source: String::new(),
            destination: dst.clone(),
            read_only: false,
            mode: String::new(),
            propagation: String::new(),
            copy_up: true,
            anonymous: true,
            options: Vec::new(),
            create_source: false,
        });
    }
    implicit.retain(|m| !explicit.iter().any(|x| x.destination == m.destination));
    let mut all = implicit;
    all.extend(explicit);
    for m in all.iter_mut().filter(|m| m.kind == MountKind::Volume) {
        let labels = HashMap::new();
        let (name, options) = (m.name.clone(), m_options(m));
        let rec = volumes.create(NewVolume {
            name: (!name.is_empty()).then_some(name),
            driver: None,
            options,
            labels,
        })?;
        if m.name.is_empty() {
            made.push(rec.name.clone());
        }
        m.name = rec.name;
    }
    // Parents before children.
    all.sort_by(|a, b| {
        let depth = |m: &MountPlan| Path::new(&m.destination).components().count();
        (depth(a), &a.destination).cmp(&(depth(b), &b.destination))
    });
    Ok(all)
}

fn add(m: MountPlan, list: &mut Vec<MountPlan>) -> Result<()> {
    if list.iter().any(|x| x.destination == m.destination) {
        return Err(Error::InvalidArgument(format!(
            "Duplicate mount point: {}",
            m.destination
        )));
    }
    list.push(m);
    Ok(())
}

/// Records written before mounts were planned at create had host binds only (anything else
/// was refused then): their `Binds` as plans.
pub fn binds_of_older_record(hc: &HostConfig) -> Vec<MountPlan> {
    hc.binds
        .iter()
        .flatten()
        .filter(|b| b.starts_with('/'))
        .filter_map(|b| parse_bind(b).ok())
        .collect()
}

/// At start: volumes mounted (driver options), filled from the image if empty (copy-up),
/// their host directories filled in as sources.
pub fn prepare(plans: &[MountPlan], volumes: &Volumes, rootfs: &Path) -> Result<Vec<MountPlan>> {
    let mut out = plans.to_vec();
    for m in out.iter_mut() {
        match m.kind {
            MountKind::Volume => {
                let data = volumes.prepare(&m.name)?;
                if m.copy_up {
                    copy_up(rootfs, &m.destination, &data)?;
                }
                m.source = data.to_string_lossy().into_owned();
            }
            MountKind::Bind if m.create_source && !Path::new(&m.source).exists() => {
                std::fs::create_dir_all(&m.source).map_err(|e| {
                    Error::internal(format!("create the bind source {}", m.source), e)
                })?;
            }
            MountKind::Bind if !Path::new(&m.source).exists() => {
                return Err(Error::InvalidArgument(format!(
                    "invalid mount config for type \"bind\": bind source path does not exist: {}",
                    m.source
                )));
            }
            MountKind::Bind | MountKind::Tmpfs => {}
        }
        if m.kind == MountKind::Bind {
            check_propagation(&m.source, &m.propagation)?;
        }
    }
    Ok(out)
}

/// Docker's rule: a shared bind needs a shared source mount, a slave one a shared or slave
/// source, or the propagation asked for could never happen.
fn check_propagation(source: &str, propagation: &str) -> Result<()> {
    let wants_shared = matches!(propagation, "shared" | "rshared");
    let wants_slave = matches!(propagation, "slave" | "rslave");
    if !wants_shared && !wants_slave {
        return Ok(());
    }
    let info = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| Error::internal("read mountinfo", e))?;
    let src = Path::new(source);
    // The mount holding the source: the longest mount point that is a prefix of it.
    let holder = info
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let mp = *f.get(4)?;
            let optional = f.iter().skip(6).take_while(|x| **x != "-").copied();
            let shared = optional.clone().any(|o| o.starts_with("shared:"));
            let slave = optional.clone().any(|o| o.starts_with("master:"));
            src.starts_with(mp).then(|| (mp.to_string(), shared, slave))
        })
        .max_by_key(|(mp, _, _)| mp.len());
    let Some((mp, shared, slave)) = holder else {
        return Ok(());
    };
    if wants_shared && !shared {
        return Err(Error::InvalidArgument(format!(
            "path {source} is mounted on {mp} but it is not a shared mount"
        )));
    }
    if wants_slave && !shared && !slave {
        return Err(Error::InvalidArgument(format!(
            "path {source} is mounted on {mp} but it is not a shared or slave mount"
        )));
    }
    Ok(())
}

/// Driver options carried by a `--mount type=volume,volume-opt=…` (kept in `options`).
fn m_options(m: &mut MountPlan) -> HashMap<String, String> {
    std::mem::take(&mut m.options)
        .into_iter()
        .filter_map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

fn check_destination(dst: &str) -> Result<()> {
    if !dst.starts_with('/') {
        return Err(Error::InvalidArgument(format!(
            "invalid mount config: mount path must be absolute: {dst:?}"
        )));
    }
    if Path::new(dst).components().count() == 1 {
        return Err(Error::InvalidArgument(
            "invalid mount config: destination can't be '/'".into(),
        ));
    }
    Ok(())
}

/// `SRC:DST[:OPTS]`: SRC an absolute host path (a bind) or a volume name.
fn parse_bind(bind: &str) -> Result<MountPlan> {
    let invalid = || Error::InvalidArgument(format!("invalid volume specification: '{bind}'"));
    let parts: Vec<&str> = bind.split(':').collect();
    let (src, dst, mode) = match parts.as_slice() {
        [s, d] => (*s, *d, ""),
        [s, d, m] => (*s, *d, *m),
        _ => return Err(invalid()),
    };
    if src.is_empty() || dst.is_empty() {
        return Err(invalid());
    }
    check_destination(dst)?;
    let mut read_only = false;
    let mut propagation = String::new();
    let mut no_copy = false;
    for m in mode.split(',').filter(|m| !m.is_empty()) {
        match m {
            "ro" => read_only = true,
            "rw" => read_only = false,
            // SELinux relabelling: nothing to relabel without SELinux, as Docker does there.
            "z" | "Z" => {}
            "nocopy" => no_copy = true,
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" => {
                propagation = m.to_string();
            }
            _ => {
                return Err(Error::InvalidArgument(format!(
                    "invalid mode: {m} (in volume specification '{bind}')"
                )));
            }
        }
    }
    let plan = MountPlan {
        kind: MountKind::Bind,
        name: String::new(),
        source: String::new(),
        destination: dst.to_string(),
        read_only,
        mode: mode.to_string(),
        propagation: String::new(),
        copy_up: false,
        anonymous: false,
        options: Vec::new(),
        create_source: false,
    };
    if src.starts_with('/') {
        Ok(MountPlan {
            source: src.to_string(),
            create_source: true,
            propagation: if propagation.is_empty() {
                "rprivate".into()
            } else {
                propagation
            },
            ..plan
        })
    } else {
        if !propagation.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "invalid mode: {propagation}: propagation applies to bind mounts only"
            )));
        }
        validate_name(src)?;
        Ok(MountPlan {
            kind: MountKind::Volume,
            name: src.to_string(),
            copy_up: !no_copy,
            ..plan
        })
    }
}

/// One `HostConfig.Mounts` entry (`--mount type=…`).
fn from_mount(m: &Mount) -> Result<MountPlan> {
    let typ = m.typ.unwrap_or(MountType::VOLUME);
    let invalid = |what: &str| {
        Error::InvalidArgument(format!("invalid mount config for type \"{typ}\": {what}"))
    };
    let dst = m
        .target
        .clone()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| invalid("field Target must not be empty"))?;
    check_destination(&dst)?;
    let src = m.source.clone().unwrap_or_default();
    let read_only = m.read_only.unwrap_or(false);
    let base = MountPlan {
        kind: MountKind::Bind,
        name: String::new(),
        source: String::new(),
        destination: dst,
        read_only,
        mode: String::new(),
        propagation: String::new(),
        copy_up: false,
        anonymous: false,
        options: Vec::new(),
        create_source: false,
    };
    if m.bind_options.is_some() && typ != MountType::BIND {
        return Err(invalid("field BindOptions must not be specified"));
    }
    if m.volume_options.is_some() && typ != MountType::VOLUME {
        return Err(invalid("field VolumeOptions must not be specified"));
    }
    if m.tmpfs_options.is_some() && typ != MountType::TMPFS {
        return Err(invalid("field TmpfsOptions must not be specified"));
    }
    match typ {
        MountType::BIND => {
            if src.is_empty() {
                return Err(invalid("field Source must not be empty"));
            }
            if !src.starts_with('/') {
                return Err(invalid(&format!(
                    "invalid mount path: '{src}' mount path must be absolute"
                )));
            }
            if !Path::new(&src).exists() {
                return Err(invalid(&format!("bind source path does not exist: {src}")));
            }
            let propagation = m
                .bind_options
                .as_ref()
                .and_then(|b| b.propagation)
                .filter(|p| *p != MountBindOptionsPropagationEnum::EMPTY)
                .map_or("rprivate".to_string(), |p| p.to_string());
            Ok(MountPlan {
                source: src,
                propagation,
                ..base
            })
        }
        MountType::VOLUME => {
            if !src.is_empty() {
                validate_name(&src)?;
            }
            let vo = m.volume_options.clone().unwrap_or_default();
            if vo.subpath.as_deref().is_some_and(|s| !s.is_empty()) {
                return Err(Error::InvalidArgument(
                    "volume subpath is not supported by berth yet".into(),
                ));
            }
            let driver = vo.driver_config.clone().unwrap_or_default();
            if let Some(d) = driver
                .name
                .as_deref()
                .filter(|d| !d.is_empty() && *d != "local")
            {
                return Err(Error::NotFound(format!(
                    "error looking up volume plugin {d}: plugin {d:?} not found (berth has the local driver only)"
                )));
            }
            let options = driver
                .options
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            Ok(MountPlan {
                kind: MountKind::Volume,
                anonymous: src.is_empty(),
                name: src,
                copy_up: !vo.no_copy.unwrap_or(false),
                options,
                ..base
            })
        }
        MountType::TMPFS => {
            if !src.is_empty() {
                return Err(invalid("field Source must not be specified"));
            }
            let t = m.tmpfs_options.clone().unwrap_or_default();
            let mut options = Vec::new();
            if let Some(size) = t.size_bytes.filter(|s| *s > 0) {
                options.push(format!("size={size}"));
            }
            if let Some(mode) = t.mode.filter(|m| *m > 0) {
                options.push(format!("mode={mode:o}"));
            }
            for opt in t.options.iter().flatten() {
                options.push(opt.join("="));
            }
            Ok(MountPlan {
                kind: MountKind::Tmpfs,
                options,
                ..base
            })
        }
        other => Err(Error::InvalidArgument(format!(
            "mount type \"{other}\" is not supported by berth"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_and_named_volumes() {
        let b = parse_bind("/tmp:/data:ro,z").unwrap();
        assert_eq!(
            (
                b.kind,
                b.source.as_str(),
                b.read_only,
                b.propagation.as_str()
            ),
            (MountKind::Bind, "/tmp", true, "rprivate")
        );
        let b = parse_bind("/tmp:/data:rshared").unwrap();
        assert_eq!(b.propagation, "rshared");
        let v = parse_bind("cache:/c:nocopy").unwrap();
        assert_eq!(
            (v.kind, v.name.as_str(), v.copy_up),
            (MountKind::Volume, "cache", false)
        );
        for bad in [
            "a/b:/x",
            "../x:/x",
            "/tmp:rel",
            "/tmp:/",
            "/tmp:/x:bogus",
            "x",
            "a:b:c:d",
        ] {
            assert!(parse_bind(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn older_records_keep_their_binds() {
        let hc = HostConfig {
            binds: Some(vec!["/tmp:/t:ro".into()]),
            ..Default::default()
        };
        let plans = binds_of_older_record(&hc);
        assert_eq!(plans.len(), 1);
        assert_eq!(
            (plans[0].source.as_str(), plans[0].read_only),
            ("/tmp", true)
        );
    }

    #[test]
    fn mount_entries() {
        let m = Mount {
            typ: Some(MountType::BIND),
            target: Some("/x".into()),
            ..Default::default()
        };
        let e = from_mount(&m).unwrap_err().to_string();
        assert!(e.contains("field Source must not be empty"), "{e}");
        let m = Mount {
            typ: Some(MountType::TMPFS),
            target: Some("/t".into()),
            tmpfs_options: Some(bollard_stubs::models::MountTmpfsOptions {
                size_bytes: Some(1 << 20),
                mode: Some(0o1777),
                options: None,
            }),
            ..Default::default()
        };
        assert_eq!(
            from_mount(&m).unwrap().options,
            ["size=1048576", "mode=1777"]
        );
    }
}
