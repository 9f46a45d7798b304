//! Published ports on the networks side: host ports reserved (bound, never listening) and
//! DNAT rules in berth's table, per container; given back when the container ends.

use std::net::Ipv4Addr;

use berth_network::firewall::PortRule;
use berth_network::ports::{self, Proto, Reservation};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

use super::Networks;

/// One port to publish: the host side as asked (a range, or `0..=0` for any free port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PortRequest {
    pub proto: Proto,
    pub host_ip: Option<Ipv4Addr>,
    pub first: u16,
    pub last: u16,
    pub container_port: u16,
}

/// A port as published (recorded with the container, shown by inspect and `port`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Published {
    pub proto: String,
    pub container_port: u16,
    pub host_ip: Ipv4Addr,
    pub host_port: u16,
    /// The container address the port leads to.
    pub dest: Ipv4Addr,
}

impl Networks {
    /// Reserves every host port of `requests` and sends them to `dest`. All or nothing: a
    /// port already in use leaves no reservation and no rule behind.
    pub fn publish(
        &self,
        owner: &str,
        dest: Ipv4Addr,
        requests: &[PortRequest],
    ) -> Result<Vec<Published>> {
        if requests.is_empty() {
            return Ok(Vec::new());
        }
        let mut held: Vec<(Reservation, PortRule)> = Vec::new();
        for r in requests {
            let ip = r.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
            let res = ports::reserve(r.proto, ip, r.first, r.last)?;
            let rule = PortRule {
                proto: r.proto,
                host_ip: r.host_ip.filter(|ip| !ip.is_unspecified()),
                host_port: res.host_port,
                dest,
                dest_port: r.container_port,
            };
            held.push((res, rule));
        }
        let published = held
            .iter()
            .map(|(res, rule)| Published {
                proto: rule.proto.as_str().into(),
                container_port: rule.dest_port,
                host_ip: res.host_ip,
                host_port: res.host_port,
                dest,
            })
            .collect();
        let mut inner = self.inner.lock().expect("networks lock");
        inner.published.insert(owner.to_string(), held);
        if let Err(e) = self.apply_firewall(&inner) {
            inner.published.remove(owner);
            let _ = self.apply_firewall(&inner);
            return Err(e);
        }
        Ok(published)
    }

    /// Drops `owner`'s reservations and rules; true if it had any.
    pub(super) fn unpublish(&self, inner: &mut super::Inner, owner: &str) -> bool {
        inner.published.remove(owner).is_some()
    }
}

/// The `PortRequest`s that re-publish recorded ports exactly (after a daemon restart).
pub(crate) fn again(published: &[Published]) -> Result<Vec<PortRequest>> {
    published
        .iter()
        .map(|p| {
            Ok(PortRequest {
                proto: Proto::parse(&p.proto).map_err(Error::from)?,
                host_ip: Some(p.host_ip),
                first: p.host_port,
                last: p.host_port,
                container_port: p.container_port,
            })
        })
        .collect()
}
