//! Linux bridges: made once per network with the gateway address on them, found again
//! after a daemon restart.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::error::{Error, Result};
use crate::netlink::Netlink;

/// Makes sure the bridge `name` exists, carries `gateway/prefix` and is up; returns its
/// index. An existing bridge with that address is reused as it is.
pub fn ensure(nl: &mut Netlink, name: &str, gateway: Ipv4Addr, prefix: u8) -> Result<u32> {
    let link = match nl.link_by_name(name)? {
        Some(l) => l,
        None => {
            nl.add_bridge(name)?;
            nl.link_by_name(name)?
                .ok_or_else(|| Error::Invalid(format!("bridge {name} vanished after creation")))?
        }
    };
    if !nl.addresses(link.index)?.contains(&(gateway, prefix)) {
        nl.add_address(link.index, gateway, prefix)?;
    }
    nl.set_up(link.index)?;
    enable_forwarding()?;
    // Published ports answer on 127.0.0.1: DNAT'ed loopback traffic may leave by the bridge.
    let localnet = format!("/proc/sys/net/ipv4/conf/{name}/route_localnet");
    std::fs::write(&localnet, "1").map_err(|e| Error::io(&localnet, e))?;
    Ok(link.index)
}

/// The IPv4 address and subnet an existing bridge carries (what a previous daemon chose).
pub fn current_address(nl: &mut Netlink, name: &str) -> Result<Option<(Ipv4Addr, Ipv4Net)>> {
    let Some(link) = nl.link_by_name(name)? else {
        return Ok(None);
    };
    Ok(nl
        .addresses(link.index)?
        .into_iter()
        .next()
        .and_then(|(ip, p)| Ipv4Net::new(ip, p).ok().map(|n| (ip, n.trunc()))))
}

/// Deletes the bridge; absent is fine.
pub fn remove(nl: &mut Netlink, name: &str) -> Result<()> {
    match nl.link_by_name(name)? {
        Some(l) => nl.delete_link(l.index),
        None => Ok(()),
    }
}

/// Routing between the bridges and the outside (as Docker, the host-wide switch is turned on).
fn enable_forwarding() -> Result<()> {
    const PATH: &str = "/proc/sys/net/ipv4/ip_forward";
    if std::fs::read_to_string(PATH).is_ok_and(|v| v.trim() == "1") {
        return Ok(());
    }
    std::fs::write(PATH, "1").map_err(|e| Error::io(PATH, e))
}
