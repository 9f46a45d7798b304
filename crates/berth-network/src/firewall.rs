//! berth's nftables rules, in one table of its own (`table ip <name>`), rebuilt whole in one
//! `nft -f -` transaction whenever a network changes: rules berth did not make are never
//! touched, and a half-applied ruleset cannot exist. Not called on a plain container start.

use std::io::Write;
use std::process::{Command, Stdio};

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::error::{Error, Result};
use crate::ports::Proto;

/// What the rules need to know about one bridge network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeRules {
    pub bridge: String,
    pub subnet: Ipv4Net,
    /// No traffic leaves or enters the bridge from elsewhere, and no masquerade.
    pub internal: bool,
}

/// One published port: traffic to the host's `host_ip:host_port` (any local address when
/// `None`) is sent to `dest:dest_port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRule {
    pub proto: Proto,
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub dest: Ipv4Addr,
    pub dest_port: u16,
}

/// The ruleset text for `table` (which replaces the table whole).
///
/// Published ports are DNAT in prerouting (from outside and other namespaces) and in output
/// (from the host itself, 127.0.0.1 included: the bridges have `route_localnet`), both only
/// for local destination addresses. Loopback sources leaving through a bridge, and traffic
/// that comes back out of the bridge it came from after a DNAT (hairpin), are masqueraded
/// so that replies find their way back.
pub fn ruleset(table: &str, bridges: &[BridgeRules], ports: &[PortRule]) -> String {
    let mut post = String::new();
    let mut fwd = String::new();
    let mut publish = String::new();
    for p in ports {
        let daddr = p
            .host_ip
            .map(|ip| format!("ip daddr {ip} "))
            .unwrap_or_default();
        publish += &format!(
            "    {daddr}{} dport {} dnat to {}:{}\n",
            p.proto.as_str(),
            p.host_port,
            p.dest,
            p.dest_port
        );
    }
    if !ports.is_empty() {
        for b in bridges {
            post += &format!(
                "    ip saddr 127.0.0.0/8 oifname \"{}\" masquerade\n",
                b.bridge
            );
            post += &format!(
                "    iifname \"{0}\" oifname \"{0}\" ct status dnat masquerade\n",
                b.bridge
            );
        }
    }
    for b in bridges {
        let (name, subnet) = (&b.bridge, b.subnet);
        if b.internal {
            fwd += &format!("    iifname \"{name}\" oifname != \"{name}\" drop\n");
            fwd += &format!("    oifname \"{name}\" iifname != \"{name}\" drop\n");
        } else {
            post += &format!("    ip saddr {subnet} oifname != \"{name}\" masquerade\n");
        }
        for other in bridges.iter().filter(|o| o.bridge != b.bridge) {
            fwd += &format!("    iifname \"{name}\" oifname \"{}\" drop\n", other.bridge);
        }
    }
    format!(
        "table ip {table} {{}}\ndelete table ip {table}\ntable ip {table} {{\n\
         \x20 chain publish {{\n{publish}  }}\n\
         \x20 chain nat_pre {{\n    type nat hook prerouting priority dstnat; policy accept;\n    fib daddr type local jump publish\n  }}\n\
         \x20 chain nat_out {{\n    type nat hook output priority -100; policy accept;\n    fib daddr type local jump publish\n  }}\n\
         \x20 chain nat_post {{\n    type nat hook postrouting priority srcnat; policy accept;\n{post}  }}\n\
         \x20 chain filter_fwd {{\n    type filter hook forward priority filter; policy accept;\n{fwd}  }}\n}}\n"
    )
}

/// Replaces berth's table `table` with the rules for `bridges` and `ports`.
pub fn apply(table: &str, bridges: &[BridgeRules], ports: &[PortRule]) -> Result<()> {
    nft(&ruleset(table, bridges, ports))
}

/// Deletes berth's table `table`; absent is fine.
pub fn delete_table(table: &str) -> Result<()> {
    nft(&format!("table ip {table} {{}}\ndelete table ip {table}\n"))
}

/// Runs `nft -f -` with `script` on stdin.
fn nft(script: &str) -> Result<()> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            Error::Nft(format!(
                "cannot run nft (is the nftables package installed?): {e}"
            ))
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(|e| Error::Nft(format!("writing the ruleset: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error::Nft(format!("waiting for nft: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Nft(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masquerade_isolation_and_internal() {
        let rules = ruleset(
            "t",
            &[
                BridgeRules {
                    bridge: "b0".into(),
                    subnet: "10.1.0.0/16".parse().unwrap(),
                    internal: false,
                },
                BridgeRules {
                    bridge: "b1".into(),
                    subnet: "10.2.0.0/16".parse().unwrap(),
                    internal: true,
                },
            ],
            &[PortRule {
                proto: Proto::Udp,
                host_ip: Some(Ipv4Addr::LOCALHOST),
                host_port: 5353,
                dest: Ipv4Addr::new(10, 1, 0, 2),
                dest_port: 53,
            }],
        );
        assert!(rules.contains("ip daddr 127.0.0.1 udp dport 5353 dnat to 10.1.0.2:53"));
        assert!(rules.contains("ip saddr 127.0.0.0/8 oifname \"b0\" masquerade"));
        assert!(rules.contains("ip saddr 10.1.0.0/16 oifname != \"b0\" masquerade"));
        assert!(!rules.contains("10.2.0.0/16 oifname != \"b1\" masquerade"));
        assert!(rules.contains("iifname \"b0\" oifname \"b1\" drop"));
        assert!(rules.contains("iifname \"b1\" oifname \"b0\" drop"));
        assert!(rules.contains("iifname \"b1\" oifname != \"b1\" drop"));
    }
}
