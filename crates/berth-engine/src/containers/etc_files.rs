//! The files Docker bind-mounts over a container's /etc: hostname, hosts, resolv.conf.

use std::net::Ipv4Addr;
use std::path::Path;

use crate::error::{Error, Result};

pub const HOSTNAME: &str = "hostname";
pub const HOSTS: &str = "hosts";
pub const RESOLV_CONF: &str = "resolv.conf";

/// Docker's name servers when the host has none a container can reach.
const FALLBACK_NAMESERVERS: [&str; 2] = ["8.8.8.8", "8.8.4.4"];

/// What goes into the files besides the hostname.
#[derive(Debug, Default)]
pub struct EtcOptions<'a> {
    /// Shares the host's network: the host's hosts and resolv.conf as they are.
    pub host_network: bool,
    /// The container's own addresses (its name resolves to them, not to 127.0.1.1).
    pub addresses: Vec<Ipv4Addr>,
    /// `--add-host NAME:IP`, already resolved (`host-gateway` replaced).
    pub extra_hosts: Vec<(String, String)>,
    pub dns: &'a [String],
    pub dns_search: &'a [String],
    pub dns_options: &'a [String],
    /// On a user-defined network: the embedded resolver at 127.0.0.11 answers.
    pub embedded_dns: bool,
}

/// Writes the three files into `dir` (not durably: they are written again at every start).
pub fn write_all(dir: &Path, hostname: &str, o: &EtcOptions) -> Result<()> {
    write(&dir.join(HOSTNAME), format!("{hostname}\n").as_bytes())?;
    let mut hosts = if o.host_network {
        std::fs::read_to_string("/etc/hosts").unwrap_or_default()
    } else {
        let mut h = String::from(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
             fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n\
             ff02::2\tip6-allrouters\n",
        );
        if o.addresses.is_empty() {
            h += &format!("127.0.1.1\t{hostname}\n");
        }
        h
    };
    for (name, ip) in &o.extra_hosts {
        hosts += &format!("{ip}\t{name}\n");
    }
    if !o.host_network {
        for ip in &o.addresses {
            hosts += &format!("{ip}\t{hostname}\n");
        }
    }
    write(&dir.join(HOSTS), hosts.as_bytes())?;
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let resolv = if o.host_network
        && o.dns.is_empty()
        && o.dns_search.is_empty()
        && o.dns_options.is_empty()
    {
        host_resolv
    } else {
        resolv_conf(&host_resolv, o)
    };
    write(&dir.join(RESOLV_CONF), resolv.as_bytes())
}

/// Docker's resolv.conf: `--dns`/`--dns-search`/`--dns-option` replace the host's lines of
/// that kind; the host's loopback name servers are dropped (unreachable from another
/// network namespace), and with none left Docker's public fallbacks are used.
fn resolv_conf(host: &str, o: &EtcOptions) -> String {
    let lines_of = |key: &str| -> Vec<String> {
        host.lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                (w.next() == Some(key)).then(|| w.map(str::to_string).collect::<Vec<_>>())
            })
            .flatten()
            .collect()
    };
    let mut servers: Vec<String> = if o.embedded_dns {
        vec!["127.0.0.11".into()]
    } else if o.dns.is_empty() {
        lines_of("nameserver")
            .into_iter()
            .filter(|a| o.host_network || !(a.starts_with("127.") || a == "::1"))
            .collect()
    } else {
        o.dns.to_vec()
    };
    if servers.is_empty() {
        servers = FALLBACK_NAMESERVERS.iter().map(|s| s.to_string()).collect();
    }
    let search = if o.dns_search.is_empty() {
        lines_of("search")
    } else {
        o.dns_search
            .iter()
            .filter(|s| s.as_str() != ".")
            .cloned()
            .collect()
    };
    let mut options = if o.dns_options.is_empty() {
        lines_of("options")
    } else {
        o.dns_options.to_vec()
    };
    // As Docker: names without dots go to the embedded resolver first.
    if o.embedded_dns && !options.iter().any(|x| x.starts_with("ndots:")) {
        options.push("ndots:0".into());
    }
    let mut out = String::new();
    for s in servers {
        out += &format!("nameserver {s}\n");
    }
    if !search.is_empty() {
        out += &format!("search {}\n", search.join(" "));
    }
    if !options.is_empty() {
        out += &format!("options {}\n", options.join(" "));
    }
    out
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| Error::internal(format!("write {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_name_servers_dropped() {
        let out = resolv_conf(
            "nameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch x\n",
            &EtcOptions::default(),
        );
        assert_eq!(out, "nameserver 10.0.0.2\nsearch x\n");
    }

    #[test]
    fn fallback_when_only_loopback() {
        let out = resolv_conf(
            "nameserver 127.0.0.53\noptions edns0\n",
            &EtcOptions::default(),
        );
        assert_eq!(
            out,
            "nameserver 8.8.8.8\nnameserver 8.8.4.4\noptions edns0\n"
        );
    }

    #[test]
    fn embedded_resolver() {
        let dns = ["10.9.9.9".to_string()];
        let out = resolv_conf(
            "nameserver 10.0.0.2\nsearch x\n",
            &EtcOptions {
                dns: &dns,
                embedded_dns: true,
                ..Default::default()
            },
        );
        assert_eq!(out, "nameserver 127.0.0.11\nsearch x\noptions ndots:0\n");
    }

    #[test]
    fn flags_replace_the_hosts_lines() {
        let dns = ["10.9.9.9".to_string()];
        let search = ["a.example".to_string(), "b.example".to_string()];
        let opts = ["ndots:2".to_string()];
        let out = resolv_conf(
            "nameserver 10.0.0.2\nsearch x\noptions edns0\n",
            &EtcOptions {
                dns: &dns,
                dns_search: &search,
                dns_options: &opts,
                ..Default::default()
            },
        );
        assert_eq!(
            out,
            "nameserver 10.9.9.9\nsearch a.example b.example\noptions ndots:2\n"
        );
    }
}
