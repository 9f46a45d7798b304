//! Published ports: the host side. Each published port is reserved by a socket bound (never
//! listening) to the host address and port, so another program cannot take it, and a port
//! already in use is refused before any rule exists. The traffic itself is rewritten by the
//! kernel (nftables DNAT, see [`crate::firewall`]), so the client's address reaches the
//! container unchanged.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::OwnedFd;

use nix::sys::socket::{AddressFamily, SockFlag, SockType, SockaddrIn, bind, getsockname, socket};

use crate::error::{Error, Result};

/// The transport of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }

    pub fn parse(s: &str) -> Result<Proto> {
        match s {
            "" | "tcp" => Ok(Proto::Tcp),
            "udp" => Ok(Proto::Udp),
            other => Err(Error::Invalid(format!(
                "invalid protocol {other:?}: berth publishes tcp and udp ports"
            ))),
        }
    }
}

/// A host port held for a published container port.
#[derive(Debug)]
pub struct Reservation {
    pub proto: Proto,
    /// `0.0.0.0` for every address of the host.
    pub host_ip: Ipv4Addr,
    pub host_port: u16,
    _socket: OwnedFd,
}

/// Binds the first free port of `first..=last` on `host_ip` (`0..=0`: any free port the
/// kernel picks). A port in use is Docker's "port is already allocated" error.
pub fn reserve(proto: Proto, host_ip: Ipv4Addr, first: u16, last: u16) -> Result<Reservation> {
    let mut last_err = None;
    for port in first..=last {
        match bind_one(proto, host_ip, port) {
            Ok((fd, bound)) => {
                return Ok(Reservation {
                    proto,
                    host_ip,
                    host_port: bound,
                    _socket: fd,
                });
            }
            Err(e) => last_err = Some(e),
        }
    }
    let range = if first == last {
        first.to_string()
    } else {
        format!("{first}-{last}")
    };
    Err(match last_err {
        Some(nix::errno::Errno::EADDRINUSE) => Error::Conflict(format!(
            "Bind for {host_ip}:{range} failed: port is already allocated"
        )),
        Some(nix::errno::Errno::EADDRNOTAVAIL) => Error::Invalid(format!(
            "cannot publish on {host_ip}: not an address of this host"
        )),
        Some(e) => Error::io(
            format!(
                "reserve {}/{} port {host_ip}:{range}",
                proto.as_str(),
                range
            ),
            e.into(),
        ),
        None => Error::Invalid(format!("empty port range {first}-{last}")),
    })
}

fn bind_one(proto: Proto, ip: Ipv4Addr, port: u16) -> nix::Result<(OwnedFd, u16)> {
    let kind = match proto {
        Proto::Tcp => SockType::Stream,
        Proto::Udp => SockType::Datagram,
    };
    let fd = socket(AddressFamily::Inet, kind, SockFlag::SOCK_CLOEXEC, None)?;
    bind(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrIn::from(SocketAddrV4::new(ip, port)),
    )?;
    let bound: SockaddrIn = getsockname(std::os::fd::AsRawFd::as_raw_fd(&fd))?;
    Ok((fd, bound.port()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_port_is_refused_and_a_range_moves_on() {
        let a = reserve(Proto::Tcp, Ipv4Addr::LOCALHOST, 0, 0).unwrap();
        assert_ne!(a.host_port, 0);
        let err = reserve(Proto::Tcp, Ipv4Addr::LOCALHOST, a.host_port, a.host_port).unwrap_err();
        assert!(
            err.to_string().contains("port is already allocated"),
            "{err}"
        );
        // A listener elsewhere cannot take it either.
        assert!(std::net::TcpListener::bind(("127.0.0.1", a.host_port)).is_err());
        // UDP on the same number is another port.
        reserve(Proto::Udp, Ipv4Addr::LOCALHOST, a.host_port, a.host_port).unwrap();
        let port = a.host_port;
        drop(a);
        assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_ok());
        assert!(Proto::parse("sctp").is_err());
    }
}
