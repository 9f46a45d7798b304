//! The files Docker bind-mounts over a container's /etc: hostname, hosts, resolv.conf.

use std::path::Path;

use crate::error::{Error, Result};

pub const HOSTNAME: &str = "hostname";
pub const HOSTS: &str = "hosts";
pub const RESOLV_CONF: &str = "resolv.conf";

/// Writes the three files into `dir` (not durably: they are written again at every start). Without a network of its own the container only knows
/// localhost and itself; name servers are the host's, minus loopback ones (unreachable from
/// another network namespace).
pub fn write_all(dir: &Path, hostname: &str, host_network: bool) -> Result<()> {
    write(&dir.join(HOSTNAME), format!("{hostname}\n").as_bytes())?;
    let hosts = if host_network {
        std::fs::read_to_string("/etc/hosts").unwrap_or_default()
    } else {
        format!(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
             fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n\
             ff02::2\tip6-allrouters\n127.0.1.1\t{hostname}\n"
        )
    };
    write(&dir.join(HOSTS), hosts.as_bytes())?;
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let resolv = if host_network {
        host_resolv
    } else {
        without_loopback(&host_resolv)
    };
    write(&dir.join(RESOLV_CONF), resolv.as_bytes())
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| Error::internal(format!("write {}", path.display()), e))
}

fn without_loopback(conf: &str) -> String {
    conf.lines()
        .filter(|l| {
            let mut w = l.split_whitespace();
            !(w.next() == Some("nameserver")
                && w.next()
                    .is_some_and(|a| a.starts_with("127.") || a == "::1"))
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_name_servers_dropped() {
        let out = super::without_loopback("nameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch x\n");
        assert_eq!(out, "nameserver 10.0.0.2\nsearch x\n");
    }
}
