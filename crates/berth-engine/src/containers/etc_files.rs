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
    /// `--domainname`: the container's addresses carry `host.domain host` in hosts.
    pub domainname: &'a str,
    /// On a user-defined network: the embedded resolver at 127.0.0.11 answers.
    pub embedded_dns: bool,
}

/// Makes the three files in `dir` exist (as they are, when they do), for a container whose
/// addresses are not known yet: the runtime bind-mounts them, and [`write_all`] fills them in
/// place before the container's program runs.
pub fn ensure_exist(dir: &Path) -> Result<()> {
    for name in [HOSTNAME, HOSTS, RESOLV_CONF] {
        let path = dir.join(name);
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::internal(format!("create {}", path.display()), e))?;
    }
    Ok(())
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
            h += &format!("127.0.1.1\t{}\n", host_names(hostname, o.domainname));
        }
        h
    };
    for (name, ip) in &o.extra_hosts {
        hosts += &format!("{ip}\t{name}\n");
    }
    if !o.host_network {
        for ip in &o.addresses {
            hosts += &own_line(*ip, &host_names(hostname, o.domainname));
        }
    }
    write(&dir.join(HOSTS), hosts.as_bytes())?;
    write_resolv_conf(dir, o)
}

/// Writes resolv.conf into `dir` (in place when it exists: `std::fs::write` truncates the
/// same inode, which a running container has bind-mounted).
pub fn write_resolv_conf(dir: &Path, o: &EtcOptions) -> Result<()> {
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
        vec![crate::networks::RESOLVER.to_string()]
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

/// What the container's own addresses are called in its hosts file, as Docker writes it:
/// the hostname with the domain appended, and then the part before the first dot when
/// there is one (`web.example.com web`).
pub fn host_names(hostname: &str, domainname: &str) -> String {
    let mut names = hostname.to_string();
    if !domainname.is_empty() {
        names = format!("{names}.{domainname}");
    }
    if let Some((short, _)) = names.split_once('.') {
        names = format!("{names} {short}");
    }
    names
}

/// The hosts line that maps one of the container's addresses to its names.
fn own_line(ip: Ipv4Addr, names: &str) -> String {
    format!("{ip}\t{names}\n")
}

/// `network connect` of a running container: its new address and names ([`host_names`])
/// appended to its hosts file, as Docker does. In place: the file is bind-mounted over the
/// container's /etc/hosts, so only a write to the same inode shows inside.
pub fn add_own_address(dir: &Path, names: &str, ip: Ipv4Addr) -> Result<()> {
    edit_hosts(dir, |hosts| hosts + &own_line(ip, names))
}

/// `network disconnect` of a running container: the lines of the address it lost go from
/// its hosts file; every other line (`--add-host`, the other networks' addresses, what was
/// written inside) stays. In place, as [`add_own_address`].
pub fn remove_own_address(dir: &Path, names: &str, ip: Ipv4Addr) -> Result<()> {
    let gone = own_line(ip, names);
    edit_hosts(dir, |hosts| {
        hosts
            .split_inclusive('\n')
            .filter(|l| l.trim_end() != gone.trim_end())
            .collect()
    })
}

/// Rewrites the hosts file in `dir` through `f`, in place, under an flock (two connects of
/// one container at once must not lose a line).
fn edit_hosts(dir: &Path, f: impl FnOnce(String) -> String) -> Result<()> {
    use std::io::{Read, Seek, Write};
    let path = dir.join(HOSTS);
    let fail = |e: std::io::Error| Error::internal(format!("rewrite {}", path.display()), e);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(fail)?;
    let mut file = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| fail(e.into()))?;
    let mut hosts = String::new();
    file.read_to_string(&mut hosts).map_err(fail)?;
    let new = f(hosts);
    file.set_len(0).map_err(fail)?;
    file.rewind().map_err(fail)?;
    file.write_all(new.as_bytes()).map_err(fail)
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| Error::internal(format!("write {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    #[test]
    fn host_names_as_docker_writes_them() {
        assert_eq!(host_names("web", ""), "web");
        assert_eq!(host_names("web", "example.com"), "web.example.com web");
        assert_eq!(host_names("a.b", ""), "a.b a");
    }

    #[test]
    fn own_addresses_come_and_go_in_place() {
        let dir = tempfile::tempdir().unwrap();
        write_all(
            dir.path(),
            "h1",
            &EtcOptions {
                addresses: vec![Ipv4Addr::new(172, 17, 0, 2)],
                extra_hosts: vec![("gw".into(), "172.17.0.1".into())],
                ..Default::default()
            },
        )
        .unwrap();
        let path = dir.path().join(HOSTS);
        let inode = std::fs::metadata(&path).unwrap().ino();
        let before = std::fs::read_to_string(&path).unwrap();
        let new_ip = Ipv4Addr::new(10, 1, 0, 5);
        add_own_address(dir.path(), "h1", new_ip).unwrap();
        let added = std::fs::read_to_string(&path).unwrap();
        assert_eq!(added, format!("{before}10.1.0.5\th1\n"));
        remove_own_address(dir.path(), "h1", new_ip).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
        assert!(before.contains("172.17.0.1\tgw\n") && before.contains("172.17.0.2\th1\n"));
        assert_eq!(std::fs::metadata(&path).unwrap().ino(), inode);
    }

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
