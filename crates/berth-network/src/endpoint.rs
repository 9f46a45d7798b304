//! A container's end of a bridge network: a veth pair whose host end is a bridge port and
//! whose other end is born inside the container's namespace, with its address and routes.

use std::net::Ipv4Addr;
use std::os::fd::BorrowedFd;

use crate::error::{Error, Result};
use crate::netlink::Netlink;

/// What is wired for one endpoint.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The host end's name (≤ 15 bytes).
    pub host_veth: String,
    /// The name inside the namespace (`eth0`, `eth1`, ...).
    pub ifname: String,
    pub address: Ipv4Addr,
    pub prefix: u8,
    /// The default route's gateway; `None` on internal networks.
    pub gateway: Option<Ipv4Addr>,
    pub mac: [u8; 6],
}

/// Docker's MAC for an address: 02:42 and then the four address bytes.
pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Parses `aa:bb:cc:dd:ee:ff`; a multicast address is refused (the kernel would too).
pub fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let bad = || Error::Invalid(format!("invalid MAC address {s:?}"));
    let parts: Vec<u8> = s
        .split(':')
        .map(|p| {
            (p.len() == 2)
                .then(|| u8::from_str_radix(p, 16).ok())
                .flatten()
        })
        .collect::<Option<_>>()
        .ok_or_else(bad)?;
    let mac: [u8; 6] = parts.try_into().map_err(|_| bad())?;
    if mac[0] & 1 == 1 {
        return Err(Error::Invalid(format!(
            "MAC address {s} is a multicast address"
        )));
    }
    Ok(mac)
}

/// Wires `ep` between the bridge `bridge` (an index in `host`'s namespace) and the
/// namespace `ns`. On failure nothing is left: the veth pair is deleted.
pub fn attach(host: &mut Netlink, bridge: u32, ns: BorrowedFd<'_>, ep: &Endpoint) -> Result<()> {
    match host.add_veth(&ep.host_veth, bridge, &ep.ifname, ns, ep.mac) {
        // The same container's previous veth, its namespace not torn down yet: replace it.
        Err(Error::Netlink { source, .. }) if source.raw_os_error() == Some(libc::EEXIST) => {
            detach(host, &ep.host_veth);
            host.add_veth(&ep.host_veth, bridge, &ep.ifname, ns, ep.mac)?;
        }
        other => other?,
    }
    let inside = (|| {
        let mut nl = Netlink::open_in(ns)?;
        let link = nl.link_by_name(&ep.ifname)?.ok_or_else(|| {
            Error::Invalid(format!("{} did not appear in the namespace", ep.ifname))
        })?;
        nl.add_address(link.index, ep.address, ep.prefix)?;
        nl.set_up(link.index)?;
        if let Some(gw) = ep.gateway {
            match nl.add_default_route(gw) {
                // Another network of the namespace already has the default route (as in
                // Docker, the first one keeps it).
                Err(Error::Netlink { source, .. })
                    if source.raw_os_error() == Some(libc::EEXIST) => {}
                other => other?,
            }
        }
        Ok(())
    })();
    if inside.is_err() {
        detach(host, &ep.host_veth);
    }
    inside
}

/// Removes an endpoint's veth pair by its host end; absent is fine.
pub fn detach(host: &mut Netlink, host_veth: &str) {
    if let Ok(Some(l)) = host.link_by_name(host_veth) {
        let _ = host.delete_link(l.index);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs() {
        let m = mac_for(Ipv4Addr::new(172, 17, 0, 2));
        assert_eq!(format_mac(&m), "02:42:ac:11:00:02");
        assert_eq!(parse_mac("02:42:ac:11:00:02").unwrap(), m);
        assert!(parse_mac("01:00:00:00:00:00").is_err());
        assert!(parse_mac("02:42:ac:11:00").is_err());
        assert!(parse_mac("zz:42:ac:11:00:02").is_err());
    }
}
