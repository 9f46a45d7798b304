//! A small synchronous rtnetlink client: exactly the link, address and route requests that
//! wiring a container needs, each one message and one acknowledgement (no process spawned,
//! no async runtime), so that a bridge adds little to a container start.

use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

use crate::error::{Error, Result};

/// A route socket bound to the network namespace it was opened in.
pub struct Netlink {
    socket: Socket,
    seq: u32,
}

/// A link as a dump shows it.
#[derive(Debug, Clone)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// The bridge it is a port of.
    pub master: Option<u32>,
}

impl Netlink {
    /// A socket in the calling thread's network namespace.
    pub fn open() -> Result<Netlink> {
        let mut socket =
            Socket::new(NETLINK_ROUTE).map_err(|e| Error::netlink("open a socket", e))?;
        socket
            .bind_auto()
            .map_err(|e| Error::netlink("bind the socket", e))?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .map_err(|e| Error::netlink("connect the socket", e))?;
        Ok(Netlink { socket, seq: 0 })
    }

    /// A socket in the network namespace `ns` (an open `/proc/PID/ns/net` or a pinned
    /// namespace file): opened by a short-lived thread that enters it, so the caller's
    /// threads never change namespace. The socket keeps talking to that namespace.
    pub fn open_in(ns: BorrowedFd<'_>) -> Result<Netlink> {
        let ns = ns
            .try_clone_to_owned()
            .map_err(|e| Error::io("duplicate the namespace fd", e))?;
        std::thread::spawn(move || {
            nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(|e| Error::netlink("enter the namespace", e.into()))?;
            Netlink::open()
        })
        .join()
        .map_err(|_| Error::Invalid("the namespace thread panicked".into()))?
    }

    /// The link called `name`, if there is one.
    pub fn link_by_name(&mut self, name: &str) -> Result<Option<Link>> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.into()));
        match self.request(
            RouteNetlinkMessage::GetLink(msg),
            0,
            &format!("find {name}"),
        ) {
            Ok(replies) => Ok(replies.into_iter().find_map(link_of)),
            Err(Error::Netlink { source, .. }) if source.raw_os_error() == Some(libc::ENODEV) => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Every link of the namespace.
    pub fn links(&mut self) -> Result<Vec<Link>> {
        let replies = self.request(
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            NLM_F_DUMP,
            "list links",
        )?;
        Ok(replies.into_iter().filter_map(link_of).collect())
    }

    /// Creates a Linux bridge (down, no address).
    pub fn add_bridge(&mut self, name: &str) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.into()));
        msg.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        self.ack(
            RouteNetlinkMessage::NewLink(msg),
            NLM_F_CREATE | NLM_F_EXCL,
            &format!("create bridge {name}"),
        )
    }

    /// Creates a veth pair whose `host` end stays here as a port of `master` and whose peer
    /// is born inside the namespace `ns` as `peer` with the MAC `mac`: one request, no rename
    /// or move afterwards.
    pub fn add_veth(
        &mut self,
        host: &str,
        master: u32,
        peer: &str,
        ns: BorrowedFd<'_>,
        mac: [u8; 6],
    ) -> Result<()> {
        let mut inner = LinkMessage::default();
        inner.attributes.push(LinkAttribute::IfName(peer.into()));
        inner
            .attributes
            .push(LinkAttribute::NetNsFd(ns.as_raw_fd()));
        inner.attributes.push(LinkAttribute::Address(mac.to_vec()));
        let mut msg = LinkMessage::default();
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        msg.attributes.push(LinkAttribute::IfName(host.into()));
        msg.attributes.push(LinkAttribute::Controller(master));
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(inner))),
        ]));
        self.ack(
            RouteNetlinkMessage::NewLink(msg),
            NLM_F_CREATE | NLM_F_EXCL,
            &format!("create veth {host}"),
        )
    }

    /// Brings a link up.
    pub fn set_up(&mut self, index: u32) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        self.ack(
            RouteNetlinkMessage::SetLink(msg),
            0,
            &format!("bring link {index} up"),
        )
    }

    /// Deletes a link (a veth takes its peer with it); absent is fine.
    pub fn delete_link(&mut self, index: u32) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        match self.ack(
            RouteNetlinkMessage::DelLink(msg),
            0,
            &format!("delete link {index}"),
        ) {
            Err(Error::Netlink { source, .. }) if source.raw_os_error() == Some(libc::ENODEV) => {
                Ok(())
            }
            other => other,
        }
    }

    /// Adds `addr/prefix` to a link.
    pub fn add_address(&mut self, index: u32, addr: Ipv4Addr, prefix: u8) -> Result<()> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.prefix_len = prefix;
        msg.header.index = index;
        msg.attributes
            .push(AddressAttribute::Local(std::net::IpAddr::V4(addr)));
        msg.attributes
            .push(AddressAttribute::Address(std::net::IpAddr::V4(addr)));
        let bcast = u32::from(addr) | (u32::MAX.checked_shr(prefix as u32).unwrap_or(0));
        msg.attributes
            .push(AddressAttribute::Broadcast(Ipv4Addr::from(bcast)));
        self.ack(
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
            &format!("add {addr}/{prefix} to link {index}"),
        )
    }

    /// The IPv4 addresses (with prefix lengths) of a link.
    pub fn addresses(&mut self, index: u32) -> Result<Vec<(Ipv4Addr, u8)>> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        let replies = self.request(
            RouteNetlinkMessage::GetAddress(msg),
            NLM_F_DUMP,
            "list addresses",
        )?;
        Ok(replies
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) if a.header.index == index => {
                    a.attributes.iter().find_map(|at| match at {
                        AddressAttribute::Local(std::net::IpAddr::V4(ip)) => {
                            Some((*ip, a.header.prefix_len))
                        }
                        _ => None,
                    })
                }
                _ => None,
            })
            .collect())
    }

    /// The destinations (address, prefix) of the main table's IPv4 routes: what the host
    /// already reaches directly, so that a new bridge subnet does not shadow it.
    pub fn route_destinations(&mut self) -> Result<Vec<(Ipv4Addr, u8)>> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        let replies = self.request(
            RouteNetlinkMessage::GetRoute(msg),
            NLM_F_DUMP,
            "list routes",
        )?;
        Ok(replies
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewRoute(r)
                    if r.header.table == RouteHeader::RT_TABLE_MAIN
                        && r.header.destination_prefix_length > 0 =>
                {
                    r.attributes.iter().find_map(|a| match a {
                        RouteAttribute::Destination(RouteAddress::Inet(ip)) => {
                            Some((*ip, r.header.destination_prefix_length))
                        }
                        _ => None,
                    })
                }
                _ => None,
            })
            .collect())
    }

    /// Adds the default route via `gateway`.
    pub fn add_default_route(&mut self, gateway: Ipv4Addr) -> Result<()> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        msg.header.protocol = RouteProtocol::Boot;
        msg.header.scope = RouteScope::Universe;
        msg.header.kind = RouteType::Unicast;
        msg.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
        self.ack(
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_CREATE | NLM_F_EXCL,
            &format!("add the default route via {gateway}"),
        )
    }

    fn ack(&mut self, msg: RouteNetlinkMessage, flags: u16, op: &str) -> Result<()> {
        self.request(msg, flags | NLM_F_ACK, op).map(|_| ())
    }

    /// Sends one request and collects its answers up to the acknowledgement or the end of
    /// the dump; a kernel error becomes [`Error::Netlink`] naming `op`.
    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
        op: &str,
    ) -> Result<Vec<RouteNetlinkMessage>> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        packet.finalize();
        let mut buf = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.socket
            .send(&buf, 0)
            .map_err(|e| Error::netlink(op, e))?;
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let wants_ack = flags & NLM_F_ACK != 0;
        let mut out = Vec::new();
        loop {
            let (data, _) = self
                .socket
                .recv_from_full()
                .map_err(|e| Error::netlink(op, e))?;
            let mut offset = 0;
            while offset < data.len() {
                let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[offset..])
                    .map_err(|e| {
                        Error::netlink(op, std::io::Error::new(std::io::ErrorKind::InvalidData, e))
                    })?;
                let len = reply.header.length as usize;
                if len == 0 {
                    break;
                }
                offset += (len + 3) & !3;
                if reply.header.sequence_number != self.seq {
                    continue;
                }
                match reply.payload {
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(out),
                            Some(_) => Err(Error::netlink(op, e.to_io())),
                        };
                    }
                    NetlinkPayload::Done(_) => return Ok(out),
                    NetlinkPayload::InnerMessage(m) => {
                        out.push(m);
                        if !dump && !wants_ack {
                            return Ok(out);
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

fn link_of(m: RouteNetlinkMessage) -> Option<Link> {
    let RouteNetlinkMessage::NewLink(l) = m else {
        return None;
    };
    let mut name = None;
    let mut master = None;
    for a in &l.attributes {
        match a {
            LinkAttribute::IfName(n) => name = Some(n.clone()),
            LinkAttribute::Controller(m) => master = Some(*m),
            _ => {}
        }
    }
    Some(Link {
        index: l.header.index,
        name: name?,
        master,
    })
}
