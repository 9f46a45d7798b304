//! IP address management: one pool per network, which never hands out an address that is
//! still held, and is written back after every change (write + rename: a crash leaves the
//! old or the new file, never half of one) so that a restarted daemon knows what is taken.
//!
//! No fsync: the addresses belong to running containers, which a reboot ends anyway.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A network's addresses: the subnet, the gateway (never handed out) and who holds what.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pool {
    pub subnet: Ipv4Net,
    pub gateway: Ipv4Addr,
    /// Where dynamic addresses come from (`--ip-range`); the whole subnet when absent.
    #[serde(default)]
    pub range: Option<Ipv4Net>,
    /// Address → owner (an endpoint id).
    #[serde(default)]
    pub allocated: BTreeMap<Ipv4Addr, String>,
    /// The last address handed out: the next search starts after it, so a released
    /// address is not reused at once (as Docker does).
    #[serde(default)]
    pub last: Option<Ipv4Addr>,
}

impl Pool {
    /// A pool for `subnet`; the gateway defaults to its first host address.
    pub fn new(subnet: Ipv4Net, gateway: Option<Ipv4Addr>, range: Option<Ipv4Net>) -> Result<Pool> {
        let subnet = subnet.trunc();
        if subnet.prefix_len() > 30 {
            return Err(Error::Invalid(format!(
                "subnet {subnet} is too small: it must leave room for a gateway and a container"
            )));
        }
        let gateway = gateway.unwrap_or_else(|| Ipv4Addr::from(u32::from(subnet.network()) + 1));
        if !is_host(&subnet, gateway) {
            return Err(Error::Invalid(format!(
                "gateway {gateway} is not a host address of subnet {subnet}"
            )));
        }
        if let Some(r) = range
            && !subnet.contains(&r)
        {
            return Err(Error::Invalid(format!(
                "ip range {r} is not inside subnet {subnet}"
            )));
        }
        Ok(Pool {
            subnet,
            gateway,
            range: range.map(|r| r.trunc()),
            allocated: BTreeMap::new(),
            last: None,
        })
    }

    /// Hands `owner` the address `wanted`, or the next free one of the range.
    pub fn allocate(&mut self, owner: &str, wanted: Option<Ipv4Addr>) -> Result<Ipv4Addr> {
        let ip = match wanted {
            Some(ip) => {
                if !is_host(&self.subnet, ip) {
                    return Err(Error::Invalid(format!(
                        "address {ip} is not a host address of subnet {}",
                        self.subnet
                    )));
                }
                if ip == self.gateway || self.allocated.contains_key(&ip) {
                    return Err(Error::Conflict(format!(
                        "address {ip} is already in use on subnet {}",
                        self.subnet
                    )));
                }
                ip
            }
            None => self.next_free()?,
        };
        self.allocated.insert(ip, owner.to_string());
        if wanted.is_none() {
            self.last = Some(ip);
        }
        Ok(ip)
    }

    /// Gives back every address `owner` holds.
    pub fn release(&mut self, owner: &str) {
        self.allocated.retain(|_, o| o != owner);
    }

    fn next_free(&self) -> Result<Ipv4Addr> {
        let range = self.range.unwrap_or(self.subnet);
        let first = u32::from(range.network()).max(u32::from(self.subnet.network()) + 1);
        let end = u32::from(range.broadcast()).min(u32::from(self.subnet.broadcast()) - 1);
        let count = end.saturating_sub(first) + 1;
        let start = self
            .last
            .map(u32::from)
            .filter(|l| (first..=end).contains(l))
            .map_or(first, |l| if l == end { first } else { l + 1 });
        (0..count)
            .map(|i| Ipv4Addr::from(first + (start - first + i) % count))
            .find(|ip| *ip != self.gateway && !self.allocated.contains_key(ip))
            .ok_or_else(|| Error::Exhausted(range.to_string()))
    }
}

/// Whether `ip` is inside `subnet` and neither its network nor its broadcast address.
fn is_host(subnet: &Ipv4Net, ip: Ipv4Addr) -> bool {
    subnet.contains(&ip) && ip != subnet.network() && ip != subnet.broadcast()
}

/// Pools kept as one JSON file each under a directory.
#[derive(Debug, Clone)]
pub struct PoolStore {
    dir: PathBuf,
}

impl PoolStore {
    pub fn open(dir: &Path) -> Result<PoolStore> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir.display(), e))?;
        Ok(PoolStore {
            dir: dir.to_path_buf(),
        })
    }

    fn path(&self, network: &str) -> PathBuf {
        self.dir.join(format!("{network}.json"))
    }

    /// The pool of `network`, if one was saved.
    pub fn load(&self, network: &str) -> Result<Option<Pool>> {
        let path = self.path(network);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| Error::io(path.display(), e.into())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(path.display(), e)),
        }
    }

    /// Writes the pool whole (write + rename).
    pub fn save(&self, network: &str, pool: &Pool) -> Result<()> {
        let path = self.path(network);
        let tmp = self.dir.join(format!(".{network}.json.tmp"));
        let bytes = serde_json::to_vec(pool).map_err(|e| Error::io("encode a pool", e.into()))?;
        std::fs::write(&tmp, bytes).map_err(|e| Error::io(tmp.display(), e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(path.display(), e))
    }

    /// Forgets a network's pool; absent is fine.
    pub fn remove(&self, network: &str) -> Result<()> {
        match std::fs::remove_file(self.path(network)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(Error::io(self.path(network).display(), e))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn never_the_same_address_twice() {
        let mut p = Pool::new(net("10.1.0.0/29"), None, None).unwrap();
        assert_eq!(p.gateway, Ipv4Addr::new(10, 1, 0, 1));
        let got: Vec<_> = (0..5)
            .map(|i| p.allocate(&i.to_string(), None).unwrap())
            .collect();
        assert_eq!(got[0], Ipv4Addr::new(10, 1, 0, 2));
        assert_eq!(got[4], Ipv4Addr::new(10, 1, 0, 6));
        assert!(matches!(p.allocate("x", None), Err(Error::Exhausted(_))));
        p.release("2");
        assert_eq!(p.allocate("y", None).unwrap(), Ipv4Addr::new(10, 1, 0, 4));
    }

    #[test]
    fn released_address_not_reused_at_once() {
        let mut p = Pool::new(net("10.1.0.0/24"), None, None).unwrap();
        let a = p.allocate("a", None).unwrap();
        p.release("a");
        assert_ne!(p.allocate("b", None).unwrap(), a);
    }

    #[test]
    fn wanted_addresses_checked() {
        let mut p = Pool::new(net("10.1.0.0/24"), None, Some(net("10.1.0.128/25"))).unwrap();
        assert_eq!(p.allocate("a", None).unwrap(), Ipv4Addr::new(10, 1, 0, 128));
        assert!(matches!(
            p.allocate("b", Some(Ipv4Addr::new(10, 2, 0, 5))),
            Err(Error::Invalid(_))
        ));
        assert!(matches!(
            p.allocate("b", Some(Ipv4Addr::new(10, 1, 0, 1))),
            Err(Error::Conflict(_))
        ));
        assert!(matches!(
            p.allocate("b", Some(Ipv4Addr::new(10, 1, 0, 128))),
            Err(Error::Conflict(_))
        ));
        assert_eq!(
            p.allocate("b", Some(Ipv4Addr::new(10, 1, 0, 7))).unwrap(),
            Ipv4Addr::new(10, 1, 0, 7)
        );
        assert!(Pool::new(net("10.1.0.0/24"), Some(Ipv4Addr::new(10, 9, 0, 1)), None).is_err());
        assert!(Pool::new(net("10.1.0.0/24"), None, Some(net("10.2.0.0/25"))).is_err());
    }

    #[test]
    fn survives_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let store = PoolStore::open(dir.path()).unwrap();
        let mut p = Pool::new(net("10.1.0.0/24"), None, None).unwrap();
        let a = p.allocate("a", None).unwrap();
        store.save("n", &p).unwrap();
        let mut again = store.load("n").unwrap().unwrap();
        assert_ne!(again.allocate("b", None).unwrap(), a);
        assert!(store.load("other").unwrap().is_none());
    }
}
