//! Container networking for berth, knowing nothing of containers or images: rtnetlink
//! (bridges, veth pairs, addresses, routes), IPAM pools, subnet choice and berth's own
//! nftables table.

pub mod bridge;
pub mod dns;
pub mod endpoint;
pub mod error;
pub mod firewall;
pub mod ipam;
pub mod netlink;
pub mod ports;
pub mod subnet;

pub use error::{Error, Result};
pub use ipnet::Ipv4Net;
