//! Mount propagation: keeping the container's mounts from leaking to the host (and back), and
//! the conditions pivot_root(2) puts on the new root's parent mount.

use std::path::Path;

use nix::mount::{MsFlags, mount};

use super::options::propagation_word;
use crate::error::{IoContext, SysContext};
use crate::{Error, Result};

/// Parses `linux.rootfsPropagation` ("rslave", "private", ...).
pub fn parse_root_propagation(value: &str) -> Result<MsFlags> {
    propagation_word(value).ok_or_else(|| {
        Error::InvalidSpec(format!(
            "linux.rootfsPropagation \"{value}\": expected [r]shared, [r]slave, [r]private or [r]unbindable"
        ))
    })
}

/// Changes the propagation type of the mount at `target` (`name` names it in errors).
pub fn set_propagation(target: &Path, name: &Path, flags: MsFlags) -> Result<()> {
    mount::<str, Path, str, str>(None, target, None, flags, None)
        .sys(|| format!("set propagation {flags:?} on {}", name.display()))
}

/// pivot_root(2) refuses a new root whose parent mount is shared; when it is (e.g. the host's
/// "/" under a shared rootfsPropagation), make that one mount private.
pub fn make_parent_mount_private(rootfs: &Path) -> Result<()> {
    let parent = rootfs.parent().unwrap_or(Path::new("/"));
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
        .io(|| "read /proc/self/mountinfo".to_string())?;
    let Some((mount_point, shared)) = containing_mount(&mountinfo, parent) else {
        return Ok(());
    };
    if shared {
        let mount_point = Path::new(&mount_point);
        set_propagation(mount_point, mount_point, MsFlags::MS_PRIVATE)?;
    }
    Ok(())
}

/// The mount point containing `path` (the longest matching mount point, last mounted wins) and
/// whether it is shared.
fn containing_mount(mountinfo: &str, path: &Path) -> Option<(String, bool)> {
    let mut best: Option<(String, bool)> = None;
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(mount_point) = fields.get(4).map(|m| unescape(m)) else {
            continue;
        };
        if !path.starts_with(&mount_point) {
            continue;
        }
        if best
            .as_ref()
            .is_some_and(|(current, _)| current.len() > mount_point.len())
        {
            continue;
        }
        let optional = fields.iter().skip(6).take_while(|f| **f != "-");
        let shared = optional.clone().any(|f| f.starts_with("shared:"));
        best = Some((mount_point, shared));
    }
    best
}

/// mountinfo escapes space, tab, newline and backslash as octal "\ooo".
pub fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            std::str::from_utf8(d)
                .ok()
                .and_then(|d| u8::from_str_radix(d, 8).ok())
        });
        match (bytes[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
23 22 0:22 / /tmp rw shared:5 master:1 - tmpfs tmpfs rw
24 22 0:23 / /tmp/a\\040b rw - tmpfs tmpfs rw
";

    #[test]
    fn finds_longest_mount() {
        assert_eq!(
            containing_mount(MOUNTINFO, Path::new("/tmp/x")),
            Some(("/tmp".to_string(), true))
        );
        assert_eq!(
            containing_mount(MOUNTINFO, Path::new("/tmp/a b/c")),
            Some(("/tmp/a b".to_string(), false))
        );
        assert_eq!(
            containing_mount(MOUNTINFO, Path::new("/var")),
            Some(("/".to_string(), true))
        );
    }

    #[test]
    fn root_propagation_words() {
        assert_eq!(
            parse_root_propagation("rslave").unwrap(),
            MsFlags::MS_SLAVE | MsFlags::MS_REC
        );
        assert!(parse_root_propagation("sideways").is_err());
    }
}
