//! Networks: the predefined `bridge`, `host` and `none`, and user-defined bridge networks;
//! wiring containers into them through berth-network. A bridge is brought up when its first
//! container needs it, under a host-wide lock (so that daemons side by side never pick the
//! same subnet), and its rules go into berth's nft table then, not at every container start.
//!
//! Locking: one mutex over the definitions, pools and the netlink socket, taken only on
//! blocking threads (it is held across netlink requests and `nft`).

mod dns;
mod events;
mod ops;
mod publish;
mod store;
mod view;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::Ipv4Addr;
use std::os::fd::BorrowedFd;
use std::path::Path;
use std::sync::Mutex;

use berth_network::endpoint::{self, Endpoint};
use berth_network::firewall::{self, BridgeRules, PortRule};
use berth_network::ipam::{Pool, PoolStore};
use berth_network::netlink::Netlink;
use berth_network::{Ipv4Net, bridge, subnet};

use crate::api::NetworkOptions;
use crate::error::{Error, Result};
use crate::logs::format_timestamp;

pub(crate) use dns::{DnsServers, RESOLVER, Scope};
pub(crate) use publish::{PortRequest, Published, again as republish};
use store::DefStore;
pub(crate) use store::{Driver, NetworkDef};

/// Where the host-wide lock is taken while a bridge's subnet is chosen and the bridge made.
const HOST_LOCK: &str = "/run/berth-network.lock";
/// Prefix of the host end of every container veth: `vb` + 10 hex of the container id + slot.
const VETH_PREFIX: &str = "vb";

impl From<berth_network::Error> for Error {
    fn from(e: berth_network::Error) -> Error {
        match e {
            berth_network::Error::Invalid(m) => Error::InvalidArgument(m),
            berth_network::Error::Conflict(m) => Error::Conflict(m),
            e => Error::Internal(e.to_string()),
        }
    }
}

/// A container's wired endpoint on one network.
#[derive(Debug, Clone)]
pub(crate) struct Attachment {
    pub network_id: String,
    pub address: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Option<Ipv4Addr>,
    pub mac: [u8; 6],
}

/// What a user asks of `network create`.
#[derive(Debug, Clone, Default)]
pub(crate) struct CreateRequest {
    pub name: String,
    pub subnet: Option<Ipv4Net>,
    pub gateway: Option<Ipv4Addr>,
    pub ip_range: Option<Ipv4Net>,
    pub internal: bool,
    pub labels: HashMap<String, String>,
    pub options: HashMap<String, String>,
}

pub(crate) struct Networks {
    bridge_name: String,
    table: String,
    bip: Option<(Ipv4Addr, Ipv4Net)>,
    candidates: Vec<Ipv4Net>,
    defs_store: DefStore,
    pool_store: PoolStore,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// By id.
    defs: BTreeMap<String, NetworkDef>,
    /// Bridge networks that are up: id → bridge index.
    up: HashMap<String, u32>,
    pools: HashMap<String, Pool>,
    nl: Option<Netlink>,
    /// Published ports by container: the host port held and its rule.
    published: HashMap<String, Vec<(berth_network::ports::Reservation, PortRule)>>,
}

impl Inner {
    fn netlink(&mut self) -> Result<&mut Netlink> {
        if self.nl.is_none() {
            self.nl = Some(Netlink::open()?);
        }
        Ok(self.nl.as_mut().expect("just opened"))
    }
}

impl Networks {
    /// Loads the definitions (making the predefined three on first use) and the pools.
    pub fn open(data_root: &Path, opts: &NetworkOptions) -> Result<Networks> {
        let dir = data_root.join("networks");
        let defs_store = DefStore::open(&dir.join("defs"))?;
        let pool_store = PoolStore::open(&dir.join("ipam"))?;
        let bip = opts.bip.as_deref().map(parse_bip).transpose()?;
        let mut candidates = Vec::new();
        for (base, size) in &opts.default_address_pools {
            let base: Ipv4Net = base.parse().map_err(|_| {
                Error::InvalidArgument(format!("invalid default address pool base {base:?}"))
            })?;
            candidates.extend(subnet::split_pool(base, *size).map_err(Error::InvalidArgument)?);
        }
        if candidates.is_empty() {
            candidates = subnet::default_pools();
        }
        let mut inner = Inner::default();
        for def in defs_store.load_all()? {
            // Pools are written without fsync (their addresses belong to running containers,
            // which a reboot ends): one a power loss tore is started afresh, not fatal.
            match pool_store.load(&def.id) {
                Ok(Some(pool)) => {
                    inner.pools.insert(def.id.clone(), pool);
                }
                Ok(None) => {}
                Err(e) => tracing::warn!("starting the pool of network {} afresh: {e}", def.name),
            }
            inner.defs.insert(def.id.clone(), def);
        }
        let me = Networks {
            bridge_name: opts.bridge_name.clone(),
            table: opts.nft_table.clone(),
            bip,
            candidates,
            defs_store,
            pool_store,
            inner: Mutex::new(inner),
        };
        me.predefine()?;
        Ok(me)
    }

    /// `bridge`, `host` and `none`, as Docker always has them; the bridge follows `--bip`.
    fn predefine(&self) -> Result<()> {
        let mut inner = self.inner.lock().expect("networks lock");
        for (name, driver) in [
            ("bridge", Driver::Bridge),
            ("host", Driver::Host),
            ("none", Driver::Null),
        ] {
            let existing = inner.defs.values().find(|d| d.name == name).cloned();
            let mut def = existing.clone().unwrap_or_else(|| NetworkDef {
                id: crate::containers::random_id(),
                name: name.into(),
                driver,
                bridge: String::new(),
                subnet: None,
                gateway: None,
                ip_range: None,
                internal: false,
                labels: HashMap::new(),
                options: HashMap::new(),
                created: format_timestamp(std::time::SystemTime::now()),
                user_defined: false,
            });
            if driver == Driver::Bridge {
                def.bridge = self.bridge_name.clone();
                if let Some((gw, net)) = self.bip {
                    def.subnet = Some(net);
                    def.gateway = Some(gw);
                }
                def.options.insert(
                    "com.docker.network.bridge.name".into(),
                    self.bridge_name.clone(),
                );
                def.options.insert(
                    "com.docker.network.bridge.default_bridge".into(),
                    "true".into(),
                );
            }
            if existing.as_ref().is_none_or(|e| {
                e.bridge != def.bridge || e.subnet != def.subnet || e.gateway != def.gateway
            }) {
                self.defs_store.save(&def)?;
                inner.defs.insert(def.id.clone(), def);
            }
        }
        Ok(())
    }

    /// A network by exact name, full id or unique id prefix.
    pub fn find(&self, key: &str) -> Result<NetworkDef> {
        let inner = self.inner.lock().expect("networks lock");
        find_in(&inner.defs, key).cloned()
    }

    /// Every network.
    pub fn all(&self) -> Vec<NetworkDef> {
        let inner = self.inner.lock().expect("networks lock");
        inner.defs.values().cloned().collect()
    }

    /// The ids of the user-defined networks (the ones with name resolution).
    pub fn user_defined_ids(&self) -> HashSet<String> {
        let inner = self.inner.lock().expect("networks lock");
        inner
            .defs
            .values()
            .filter(|d| d.user_defined)
            .map(|d| d.id.clone())
            .collect()
    }

    /// The subnet and gateway a network has now (the default bridge's only once it is up).
    pub fn addressing(&self, id: &str) -> Option<(Ipv4Net, Ipv4Addr)> {
        let inner = self.inner.lock().expect("networks lock");
        let def = inner.defs.get(id)?;
        Some((def.subnet?, def.gateway?))
    }

    /// Wires the container `owner` into `network` inside the namespace `ns`, as interface
    /// `eth<slot>`: an address from the pool (or `wanted`), a veth pair, the default route.
    /// Nothing is left behind on failure.
    pub fn connect(
        &self,
        network_id: &str,
        owner: &str,
        slot: usize,
        ns: BorrowedFd<'_>,
        wanted: Option<Ipv4Addr>,
        mac: Option<[u8; 6]>,
    ) -> Result<Attachment> {
        let mut inner = self.inner.lock().expect("networks lock");
        let index = self.ensure_up(&mut inner, network_id)?;
        let def = inner.defs[network_id].clone();
        let pool = inner
            .pools
            .get_mut(network_id)
            .expect("an up network has a pool");
        let address = pool.allocate(owner, wanted)?;
        let (prefix, gateway) = (pool.subnet.prefix_len(), pool.gateway);
        let saved = self.pool_store.save(network_id, pool);
        let ep = Endpoint {
            host_veth: veth_name(owner, slot),
            ifname: format!("eth{slot}"),
            address,
            prefix,
            gateway: (!def.internal).then_some(gateway),
            mac: mac.unwrap_or_else(|| endpoint::mac_for(address)),
        };
        let wired = saved
            .map_err(Error::from)
            .and_then(|()| Ok(endpoint::attach(inner.netlink()?, index, ns, &ep)?));
        if let Err(e) = wired {
            let pool = inner.pools.get_mut(network_id).expect("still there");
            pool.allocated.remove(&address);
            let _ = self.pool_store.save(network_id, pool);
            return Err(e);
        }
        Ok(Attachment {
            network_id: network_id.to_string(),
            address,
            prefix,
            gateway: ep.gateway,
            mac: ep.mac,
        })
    }

    /// Unwires `owner` from one network: its veth pair and its address.
    pub fn disconnect(&self, network_id: &str, owner: &str, slot: usize) {
        let mut inner = self.inner.lock().expect("networks lock");
        if let Ok(nl) = inner.netlink() {
            endpoint::detach(nl, &veth_name(owner, slot));
        }
        if let Some(pool) = inner.pools.get_mut(network_id) {
            pool.release(owner);
            if let Err(e) = self.pool_store.save(network_id, pool) {
                tracing::warn!("saving the pool of {network_id}: {e}");
            }
        }
    }

    /// Deletes `owner`'s veth pairs now, rather than when the kernel gets round to tearing
    /// its namespace down: when a container is gone, so are its interfaces.
    pub fn detach_veths(&self, owner: &str, slots: impl IntoIterator<Item = usize>) {
        let mut inner = self.inner.lock().expect("networks lock");
        if let Ok(nl) = inner.netlink() {
            for slot in slots {
                endpoint::detach(nl, &veth_name(owner, slot));
            }
        }
    }

    /// Gives back every address and published port `owner` holds (its veths went with its
    /// namespace).
    pub fn release_owner(&self, owner: &str) {
        let mut inner = self.inner.lock().expect("networks lock");
        if self.unpublish(&mut inner, owner)
            && let Err(e) = self.apply_firewall(&inner)
        {
            tracing::warn!("removing the published ports of {owner}: {e}");
        }
        let inner = &mut *inner;
        for (id, pool) in inner.pools.iter_mut() {
            if pool.allocated.values().any(|o| o == owner) {
                pool.release(owner);
                if let Err(e) = self.pool_store.save(id, pool) {
                    tracing::warn!("saving the pool of {id}: {e}");
                }
            }
        }
    }

    /// At start-up: addresses of containers that no longer run are released, veths left on
    /// berth's bridges by containers that are gone deleted, bridges still used brought up
    /// again (with their firewall rules), idle ones left by a crash removed.
    pub fn reconcile(&self, running: &HashSet<String>) -> Result<()> {
        let mut inner = self.inner.lock().expect("networks lock");
        let mut used = Vec::new();
        for (id, pool) in inner.pools.iter_mut() {
            let before = pool.allocated.len();
            pool.allocated.retain(|_, o| running.contains(o));
            if pool.allocated.len() != before {
                self.pool_store.save(id, pool)?;
            }
            if !pool.allocated.is_empty() {
                used.push(id.clone());
            }
        }
        for id in &used {
            if let Err(e) = self.ensure_up(&mut inner, id) {
                tracing::warn!("bringing network {id} up again: {e}");
            }
        }
        let bridges: Vec<(String, bool)> = inner
            .defs
            .values()
            .filter(|d| d.driver == Driver::Bridge)
            .map(|d| (d.bridge.clone(), inner.up.contains_key(&d.id)))
            .collect();
        let up_indexes: HashSet<u32> = inner.up.values().copied().collect();
        let nl = inner.netlink()?;
        for link in nl.links()? {
            let stray = link.name.starts_with(VETH_PREFIX)
                && link.master.is_some_and(|m| up_indexes.contains(&m))
                && !running
                    .iter()
                    .any(|id| link.name.get(2..12).is_some_and(|p| id.starts_with(p)));
            if stray {
                tracing::info!("removing leftover veth {}", link.name);
                let _ = nl.delete_link(link.index);
            }
        }
        for (name, up) in bridges {
            if !up {
                bridge::remove(nl, &name)?;
            }
        }
        if inner.up.is_empty() && inner.published.is_empty() {
            firewall::delete_table(&self.table)?;
        }
        Ok(())
    }

    /// On a graceful daemon stop: bridges no running container uses are removed, and with
    /// the last of them berth's table (a new daemon makes them again when needed).
    pub fn shutdown(&self, running: &HashSet<String>) {
        let mut inner = self.inner.lock().expect("networks lock");
        let idle: Vec<String> = inner
            .up
            .keys()
            .filter(|id| {
                inner
                    .pools
                    .get(*id)
                    .is_none_or(|p| !p.allocated.values().any(|o| running.contains(o)))
            })
            .cloned()
            .collect();
        for id in idle {
            inner.up.remove(&id);
            let name = inner.defs[&id].bridge.clone();
            if let Ok(nl) = inner.netlink()
                && let Err(e) = bridge::remove(nl, &name)
            {
                tracing::warn!("removing bridge {name}: {e}");
            }
        }
        if let Err(e) = self.apply_firewall(&inner) {
            tracing::warn!("firewall at shutdown: {e}");
        }
    }

    /// `POST /networks/create`: a user-defined bridge network, its bridge made at once (as
    /// Docker does), so that the host's routes show its subnet to the next daemon that picks.
    pub fn create(&self, req: CreateRequest) -> Result<NetworkDef> {
        let mut inner = self.inner.lock().expect("networks lock");
        let _lock = host_lock()?;
        if inner.defs.values().any(|d| d.name == req.name) {
            return Err(Error::Conflict(format!(
                "network with name {} already exists",
                req.name
            )));
        }
        let subnet = match req.subnet {
            Some(s) => {
                let s = s.trunc();
                if let Some(other) = inner
                    .defs
                    .values()
                    .find(|d| d.subnet.is_some_and(|o| subnet::overlaps(&o, &s)))
                {
                    return Err(Error::Conflict(format!(
                        "invalid pool request: Pool overlaps with other one on this address space ({s} overlaps network {:?})",
                        other.name
                    )));
                }
                s
            }
            None => {
                let mut in_use: Vec<Ipv4Net> =
                    inner.defs.values().filter_map(|d| d.subnet).collect();
                in_use.extend(host_routes(inner.netlink()?)?);
                // The default bridge, not up yet, keeps the subnet it will take (172.17/16
                // on a quiet host), as Docker's always has it.
                let default_unset = inner
                    .defs
                    .values()
                    .any(|d| d.driver == Driver::Bridge && !d.user_defined && d.subnet.is_none());
                if default_unset
                    && let Some(reserved) = subnet::first_free(&self.candidates, &in_use)
                {
                    in_use.push(reserved);
                }
                subnet::first_free(&self.candidates, &in_use).ok_or_else(|| {
                    Error::Internal(
                        "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network".into(),
                    )
                })?
            }
        };
        if req.gateway.is_some() && req.subnet.is_none() {
            return Err(Error::InvalidArgument(
                "a gateway needs a subnet (--subnet)".into(),
            ));
        }
        let pool = Pool::new(subnet, req.gateway, req.ip_range)?;
        let id = crate::containers::random_id();
        let bridge = req
            .options
            .get("com.docker.network.bridge.name")
            .cloned()
            .unwrap_or_else(|| format!("br-{}", &id[..12]));
        if bridge.is_empty() || bridge.len() > 15 {
            return Err(Error::InvalidArgument(format!(
                "bridge name {bridge:?} must be 1 to 15 characters"
            )));
        }
        let def = NetworkDef {
            id: id.clone(),
            name: req.name,
            driver: Driver::Bridge,
            bridge,
            subnet: Some(subnet),
            gateway: Some(pool.gateway),
            ip_range: req.ip_range,
            internal: req.internal,
            labels: req.labels,
            options: req.options,
            created: format_timestamp(std::time::SystemTime::now()),
            user_defined: true,
        };
        self.pool_store.save(&id, &pool)?;
        if let Err(e) = self.defs_store.save(&def) {
            let _ = self.pool_store.remove(&id);
            return Err(e);
        }
        inner.pools.insert(id.clone(), pool);
        inner.defs.insert(id.clone(), def.clone());
        if let Err(e) = self.bring_up(&mut inner, &id) {
            let _ = self.defs_store.remove(&id);
            let _ = self.pool_store.remove(&id);
            inner.defs.remove(&id);
            inner.pools.remove(&id);
            if let Ok(nl) = inner.netlink() {
                let _ = bridge::remove(nl, &def.bridge);
            }
            return Err(e);
        }
        Ok(def)
    }

    /// Removes a user-defined network (the caller checked that no container uses it).
    pub fn remove(&self, id: &str) -> Result<()> {
        let mut inner = self.inner.lock().expect("networks lock");
        let def = inner
            .defs
            .get(id)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("network {id} not found")))?;
        if !def.user_defined {
            return Err(Error::Forbidden(format!(
                "{} is a pre-defined network and cannot be removed",
                def.name
            )));
        }
        if inner.up.remove(id).is_some() {
            bridge::remove(inner.netlink()?, &def.bridge)?;
            self.apply_firewall(&inner)?;
        }
        self.defs_store.remove(id)?;
        let _ = self.pool_store.remove(id);
        inner.defs.remove(id);
        inner.pools.remove(id);
        Ok(())
    }

    /// Brings a bridge network up (idempotent), under the host-wide lock.
    fn ensure_up(&self, inner: &mut Inner, id: &str) -> Result<u32> {
        if let Some(index) = inner.up.get(id) {
            return Ok(*index);
        }
        let _lock = host_lock()?;
        self.bring_up(inner, id)
    }

    /// Brings a bridge network up, the host-wide lock held: subnet chosen if it has none
    /// yet, bridge made with the gateway address, pool loaded, firewall rules rewritten.
    fn bring_up(&self, inner: &mut Inner, id: &str) -> Result<u32> {
        let mut def = inner
            .defs
            .get(id)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("network {id} not found")))?;
        if def.driver != Driver::Bridge {
            return Err(Error::InvalidArgument(format!(
                "network {} has no bridge to connect to",
                def.name
            )));
        }
        let nl = inner.netlink()?;
        let (gateway, subnet) = match (def.gateway, def.subnet) {
            (Some(g), Some(s)) => (g, s),
            _ => match bridge::current_address(nl, &def.bridge)? {
                Some(found) => found,
                None => {
                    let mut in_use = host_routes(nl)?;
                    in_use.extend(
                        inner
                            .defs
                            .values()
                            .filter(|d| d.id != def.id)
                            .filter_map(|d| d.subnet),
                    );
                    let s = subnet::first_free(&self.candidates, &in_use).ok_or_else(|| {
                        Error::Internal(format!(
                            "no free subnet for bridge {} among the address pools",
                            def.bridge
                        ))
                    })?;
                    (Ipv4Addr::from(u32::from(s.network()) + 1), s)
                }
            },
        };
        let nl = inner.netlink()?;
        let index = bridge::ensure(nl, &def.bridge, gateway, subnet.prefix_len())?;
        if def.subnet != Some(subnet) || def.gateway != Some(gateway) {
            def.subnet = Some(subnet);
            def.gateway = Some(gateway);
            self.defs_store.save(&def)?;
            inner.defs.insert(def.id.clone(), def.clone());
        }
        let pool = match inner.pools.remove(id) {
            Some(p) if p.subnet == subnet && p.gateway == gateway => p,
            _ => {
                let p = Pool::new(subnet, Some(gateway), def.ip_range)?;
                self.pool_store.save(id, &p)?;
                p
            }
        };
        inner.pools.insert(id.to_string(), pool);
        inner.up.insert(id.to_string(), index);
        if let Err(e) = self.apply_firewall(inner) {
            inner.up.remove(id);
            return Err(e);
        }
        tracing::info!(bridge = def.bridge, %subnet, "network {} is up", def.name);
        Ok(index)
    }

    /// Rewrites berth's table for the networks that are up (deletes it when none is).
    fn apply_firewall(&self, inner: &Inner) -> Result<()> {
        let rules: Vec<BridgeRules> = inner
            .up
            .keys()
            .filter_map(|id| inner.defs.get(id))
            .filter_map(|d| {
                Some(BridgeRules {
                    bridge: d.bridge.clone(),
                    subnet: d.subnet?,
                    internal: d.internal,
                })
            })
            .collect();
        let ports: Vec<PortRule> = inner
            .published
            .values()
            .flatten()
            .map(|(_, rule)| rule.clone())
            .collect();
        if rules.is_empty() && ports.is_empty() {
            firewall::delete_table(&self.table)?;
        } else {
            firewall::apply(&self.table, &rules, &ports)?;
        }
        Ok(())
    }
}

fn find_in<'a>(defs: &'a BTreeMap<String, NetworkDef>, key: &str) -> Result<&'a NetworkDef> {
    let not_found = || Error::NotFound(format!("network {key} not found"));
    if key.is_empty() {
        return Err(not_found());
    }
    if let Some(d) = defs.values().find(|d| d.name == key) {
        return Ok(d);
    }
    let mut hits = defs.values().filter(|d| d.id.starts_with(key));
    match (hits.next(), hits.next()) {
        (Some(d), None) => Ok(d),
        (Some(_), Some(_)) => Err(Error::InvalidArgument(format!(
            "network {key} is ambiguous ({} matches found based on ID prefix)",
            defs.values().filter(|d| d.id.starts_with(key)).count()
        ))),
        _ => Err(not_found()),
    }
}

/// The host end of container `owner`'s veth for interface `eth<slot>`.
fn veth_name(owner: &str, slot: usize) -> String {
    format!("{VETH_PREFIX}{}{slot:x}", &owner[..10.min(owner.len())])
}

/// `--bip 172.30.0.1/16`: the gateway address and its subnet.
fn parse_bip(s: &str) -> Result<(Ipv4Addr, Ipv4Net)> {
    let net: Ipv4Net = s
        .parse()
        .map_err(|_| Error::InvalidArgument(format!("invalid --bip {s:?}: want ADDRESS/PREFIX")))?;
    if net.addr() == net.network() || net.prefix_len() > 30 {
        return Err(Error::InvalidArgument(format!(
            "invalid --bip {s:?}: the address must be a host address of a subnet of at least 4 addresses"
        )));
    }
    Ok((net.addr(), net.trunc()))
}

/// What the host already routes directly (so that a new subnet does not shadow it).
fn host_routes(nl: &mut Netlink) -> Result<Vec<Ipv4Net>> {
    Ok(nl
        .route_destinations()?
        .into_iter()
        .filter_map(|(ip, p)| Ipv4Net::new(ip, p).ok())
        .collect())
}

/// An flock held while a bridge is chosen and made, so daemons side by side never pick the
/// same subnet.
fn host_lock() -> Result<nix::fcntl::Flock<std::fs::File>> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(HOST_LOCK)
        .map_err(|e| Error::internal(HOST_LOCK, e))?;
    nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| Error::internal(format!("lock {HOST_LOCK}"), e))
}
