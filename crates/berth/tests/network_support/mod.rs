//! Helpers the network tests share: subnets that parallel tests do not share, inspect by
//! template, the host's links and a daemon's nft table, and an upstream name server that
//! keeps names the embedded resolver does not know on this host.
#![allow(dead_code)]

use std::process::Command;

use crate::daemon_support::{Daemon, text};

/// An upstream name server nobody answers on (a loopback address): names the embedded
/// resolver does not know go nowhere beyond this host.
pub const NO_UPSTREAM: &str = "127.1.2.3";

/// A random 10.2xx.y.0/24 for a test's user network (parallel tests must not share one),
/// and its first three octets.
pub fn random_subnet() -> (String, String) {
    let mut b = [0u8; 2];
    // SAFETY: fills our buffer.
    unsafe { libc::getrandom(b.as_mut_ptr().cast(), 2, 0) };
    let prefix = format!("10.{}.{}", 200 + b[0] % 50, b[1]);
    (format!("{prefix}.0/24"), prefix)
}

/// `docker inspect -f FORMAT NAME`, trimmed.
pub fn inspect(d: &Daemon, name: &str, format: &str) -> String {
    d.docker_ok(&["inspect", "-f", format, name])
        .trim()
        .to_string()
}

/// The host's links, one a line (`ip -o link`).
pub fn links() -> String {
    text(
        &Command::new("ip")
            .args(["-o", "link"])
            .output()
            .unwrap()
            .stdout,
    )
}

/// berth's nft table of that name, if there is one.
pub fn nft_table(table: &str) -> Option<String> {
    let out = Command::new("nft")
        .args(["list", "table", "ip", table])
        .output()
        .unwrap();
    out.status.success().then(|| text(&out.stdout))
}
