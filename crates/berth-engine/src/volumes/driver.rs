//! The `local` driver's options (`-o type=…,device=…,o=…`): checked at create, mounted onto
//! the volume's `_data` when a container first needs it, unmounted when the volume goes.

use std::collections::HashMap;
use std::path::Path;

use nix::mount::{MntFlags, MsFlags};

use crate::error::{Error, Result};

/// Checks the options Docker's local driver knows.
pub fn validate(opts: &HashMap<String, String>) -> Result<()> {
    for key in opts.keys() {
        if !matches!(key.as_str(), "type" | "device" | "o" | "size") {
            return Err(Error::InvalidArgument(format!(
                "invalid option: {key:?}; the local driver takes type, device, o and size"
            )));
        }
    }
    let typ = opts.get("type").map(String::as_str).unwrap_or("");
    let device = opts.get("device").map(String::as_str).unwrap_or("");
    if typ.is_empty() && !device.is_empty() {
        return Err(Error::InvalidArgument(
            "missing required option: \"type\" (a device needs a filesystem type)".into(),
        ));
    }
    if !typ.is_empty() && typ != "tmpfs" && device.is_empty() {
        return Err(Error::InvalidArgument(
            "missing required option: \"device\"".into(),
        ));
    }
    let (flags, _) = split_options(opts.get("o").map(String::as_str).unwrap_or(""));
    if flags.contains(MsFlags::MS_BIND) && !Path::new(device).is_absolute() {
        return Err(Error::InvalidArgument(format!(
            "invalid bind device {device:?}: an absolute host path is required"
        )));
    }
    Ok(())
}

/// Whether the options ask for a mount at all (a plain volume is just a directory).
pub fn needs_mount(opts: &HashMap<String, String>) -> bool {
    opts.get("type").is_some_and(|t| !t.is_empty())
}

/// Mounts the options' filesystem onto `data` unless it is mounted already.
pub fn mount(opts: &HashMap<String, String>, data: &Path) -> Result<()> {
    if !needs_mount(opts) || is_mountpoint(data) {
        return Ok(());
    }
    let typ = opts["type"].as_str();
    let device = opts
        .get("device")
        .map(String::as_str)
        .filter(|d| !d.is_empty())
        .unwrap_or(typ);
    let (flags, mut data_opts) = split_options(opts.get("o").map(String::as_str).unwrap_or(""));
    if let Some(size) = opts.get("size") {
        data_opts.push(format!("size={size}"));
    }
    let data_opts = data_opts.join(",");
    let fstype = (!flags.contains(MsFlags::MS_BIND)).then_some(typ);
    nix::mount::mount(
        Some(device),
        data,
        fstype,
        flags,
        (!data_opts.is_empty()).then_some(data_opts.as_str()),
    )
    .map_err(|e| Error::internal(format!("mount {device} ({typ}) on {}", data.display()), e))?;
    if flags.contains(MsFlags::MS_BIND) && flags.contains(MsFlags::MS_RDONLY) {
        nix::mount::mount(
            None::<&str>,
            data,
            None::<&str>,
            flags | MsFlags::MS_REMOUNT,
            None::<&str>,
        )
        .map_err(|e| Error::internal(format!("remount {} read-only", data.display()), e))?;
    }
    Ok(())
}

/// Undoes [`mount`]; a directory that is not a mount point is left alone.
pub fn unmount(data: &Path) {
    while is_mountpoint(data) {
        if let Err(e) = nix::mount::umount2(data, MntFlags::MNT_DETACH) {
            tracing::warn!("unmount {}: {e}", data.display());
            return;
        }
    }
}

/// Whether something is mounted on `p`: from mountinfo, since a bind of a directory of the
/// same filesystem keeps its device number.
fn is_mountpoint(p: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = p.to_string_lossy();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|mp| unescape(mp) == want)
}

/// mountinfo's octal escapes (`\040` for a space).
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        match rest
            .get(i + 1..i + 4)
            .and_then(|o| u8::from_str_radix(o, 8).ok())
        {
            Some(b) => {
                out.push(b as char);
                rest = &rest[i + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// `o=` split into mount flags and the filesystem's own data options.
fn split_options(o: &str) -> (MsFlags, Vec<String>) {
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for opt in o.split(',').filter(|s| !s.is_empty()) {
        match opt {
            "bind" => flags |= MsFlags::MS_BIND,
            "rbind" => flags |= MsFlags::MS_BIND | MsFlags::MS_REC,
            "ro" => flags |= MsFlags::MS_RDONLY,
            "rw" => flags &= !MsFlags::MS_RDONLY,
            "nosuid" => flags |= MsFlags::MS_NOSUID,
            "nodev" => flags |= MsFlags::MS_NODEV,
            "noexec" => flags |= MsFlags::MS_NOEXEC,
            "noatime" => flags |= MsFlags::MS_NOATIME,
            other => data.push(other.to_string()),
        }
    }
    (flags, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(kv: &[(&str, &str)]) -> HashMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn options_checked() {
        assert!(validate(&opts(&[])).is_ok());
        assert!(validate(&opts(&[("type", "tmpfs"), ("o", "size=1m")])).is_ok());
        assert!(
            validate(&opts(&[
                ("type", "none"),
                ("device", "/srv"),
                ("o", "bind")
            ]))
            .is_ok()
        );
        assert!(validate(&opts(&[("type", "none"), ("device", "srv"), ("o", "bind")])).is_err());
        assert!(validate(&opts(&[("type", "ext4")])).is_err());
        assert!(validate(&opts(&[("colour", "blue")])).is_err());
    }

    #[test]
    fn flags_and_data() {
        let (f, d) = split_options("bind,ro,size=1m,uid=5");
        assert!(f.contains(MsFlags::MS_BIND | MsFlags::MS_RDONLY));
        assert_eq!(d, ["size=1m", "uid=5"]);
    }
}
