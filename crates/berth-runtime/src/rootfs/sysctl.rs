//! `linux.sysctl`: kernel parameters written through the container's /proc/sys.

use std::path::PathBuf;

use crate::error::IoContext;
use crate::{Error, Result};

/// The /proc/sys file for `key` ("net.ipv4.ip_forward"); refuses keys that could name a file
/// outside /proc/sys or a directory ("/" inside, empty or ".." components).
pub fn sysctl_path(key: &str) -> Result<PathBuf> {
    let bad = key.is_empty()
        || key.contains('/')
        || key.split('.').any(|part| part.is_empty() || part == "..");
    if bad {
        return Err(Error::InvalidSpec(format!(
            "linux.sysctl key \"{key}\" is not a valid sysctl name"
        )));
    }
    Ok(PathBuf::from("/proc/sys").join(key.replace('.', "/")))
}

/// Writes one sysctl; call after entering the rootfs so /proc is the container's.
pub fn write_sysctl(key: &str, value: &str) -> Result<()> {
    let path = sysctl_path(key)?;
    std::fs::write(&path, value).io(|| format!("sysctl {key}={value} ({})", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert_eq!(
            sysctl_path("net.ipv4.ip_forward").unwrap(),
            PathBuf::from("/proc/sys/net/ipv4/ip_forward")
        );
        for bad in ["", "net/../x", "..kernel", "kernel..x", "a.", "/etc/passwd"] {
            let err = sysctl_path(bad).unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
    }
}
