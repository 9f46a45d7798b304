//! berth's nftables rules, in one table of its own (`table ip <name>`), rebuilt whole in one
//! `nft -f -` transaction whenever a network changes: rules berth did not make are never
//! touched, and a half-applied ruleset cannot exist. Not called on a plain container start.

use std::io::Write;
use std::process::{Command, Stdio};

use ipnet::Ipv4Net;

use crate::error::{Error, Result};

/// What the rules need to know about one bridge network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeRules {
    pub bridge: String,
    pub subnet: Ipv4Net,
    /// No traffic leaves or enters the bridge from elsewhere, and no masquerade.
    pub internal: bool,
}

/// The ruleset text for `table` (which replaces the table whole).
pub fn ruleset(table: &str, bridges: &[BridgeRules]) -> String {
    let mut post = String::new();
    let mut fwd = String::new();
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
         \x20 chain nat_post {{\n    type nat hook postrouting priority srcnat; policy accept;\n{post}  }}\n\
         \x20 chain filter_fwd {{\n    type filter hook forward priority filter; policy accept;\n{fwd}  }}\n}}\n"
    )
}

/// Replaces berth's table `table` with the rules for `bridges`.
pub fn apply(table: &str, bridges: &[BridgeRules]) -> Result<()> {
    nft(&ruleset(table, bridges))
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
        );
        assert!(rules.contains("ip saddr 10.1.0.0/16 oifname != \"b0\" masquerade"));
        assert!(!rules.contains("10.2.0.0/16 oifname != \"b1\" masquerade"));
        assert!(rules.contains("iifname \"b0\" oifname \"b1\" drop"));
        assert!(rules.contains("iifname \"b1\" oifname \"b0\" drop"));
        assert!(rules.contains("iifname \"b1\" oifname != \"b1\" drop"));
    }
}
