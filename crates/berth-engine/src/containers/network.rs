//! A container's networks: which ones it asked for (planned at create from the network mode
//! and `NetworkingConfig.EndpointsConfig`), wiring them into its namespace at start, and
//! giving their addresses back when it ends.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use berth_network::endpoint::{format_mac, parse_mac};
use bollard_stubs::models::{EndpointSettings, HostConfig, NetworkingConfig};

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::networks::{Driver, NetworkDef, Published, Scope};

use super::etc_files::{self, EtcOptions};
use super::record::Record;

/// How a container gets its network namespace.
pub(crate) enum NetnsPlan {
    /// The host's own stack.
    Host,
    /// Another running container's namespace (and its /etc files).
    Joined { netns: PathBuf, etc_dir: PathBuf },
    /// A namespace of its own, wired into the recorded networks.
    Own,
}

impl Engine {
    /// The networks a new container will be on, keyed by network name; refuses unknown
    /// networks, addresses outside their subnet and fixed addresses on the default bridge.
    pub(crate) fn plan_networks(
        &self,
        hc: &HostConfig,
        nc: Option<&NetworkingConfig>,
    ) -> Result<BTreeMap<String, EndpointSettings>> {
        let mode = super::spec::network_mode(hc);
        let requested = nc
            .and_then(|n| n.endpoints_config.clone())
            .unwrap_or_default();
        // Unknown networks and containers are a 400 here, not Docker's 404: the docker CLI
        // takes a 404 from create for a missing image and would go and pull it.
        let as_bad_request = |e: Error| match e {
            Error::NotFound(m) => Error::InvalidArgument(m),
            e => e,
        };
        if let Some(target) = mode.strip_prefix("container:") {
            self.joined_container_id(target).map_err(as_bad_request)?;
            if !requested.is_empty() {
                return Err(Error::InvalidArgument(
                    "conflicting options: networks cannot be given with --network container:"
                        .into(),
                ));
            }
            return Ok(BTreeMap::new());
        }
        let main = match mode {
            "default" => "bridge",
            m => m,
        };
        let mut planned = BTreeMap::new();
        // The docker CLI names the default network "default".
        let mut wanted: Vec<(String, EndpointSettings)> = requested
            .into_iter()
            .map(|(k, v)| (if k == "default" { "bridge".into() } else { k }, v))
            .collect();
        if !wanted.iter().any(|(n, _)| self.same_network(n, main)) {
            wanted.insert(0, (main.to_string(), EndpointSettings::default()));
        }
        for (key, mut settings) in wanted {
            let def = self.networks.find(&key).map_err(as_bad_request)?;
            self.check_endpoint(&def, &settings)?;
            settings.network_id = Some(def.id.clone());
            planned.insert(def.name.clone(), settings);
        }
        if planned.len() > 1
            && planned
                .values()
                .filter_map(|s| s.network_id.as_deref())
                .any(|id| {
                    self.networks
                        .find(id)
                        .is_ok_and(|d| d.driver != Driver::Bridge)
                })
        {
            return Err(Error::InvalidArgument(
                "a container on the host or none network cannot join other networks".into(),
            ));
        }
        Ok(planned)
    }

    /// Whether two names or ids denote the same network.
    fn same_network(&self, a: &str, b: &str) -> bool {
        match (self.networks.find(a), self.networks.find(b)) {
            (Ok(x), Ok(y)) => x.id == y.id,
            _ => a == b,
        }
    }

    /// Docker's checks on an endpoint's static settings.
    pub(crate) fn check_endpoint(&self, def: &NetworkDef, s: &EndpointSettings) -> Result<()> {
        let ip = requested_ip(s)?;
        if let Some(ip) = ip {
            if !def.user_defined {
                return Err(Error::InvalidArgument(
                    "user specified IP address is supported on user defined networks only".into(),
                ));
            }
            if let Some((subnet, _)) = self.networks.addressing(&def.id)
                && !subnet.contains(&ip)
            {
                return Err(Error::InvalidArgument(format!(
                    "no configured subnet contains IP address {ip} (network {} is {subnet})",
                    def.name
                )));
            }
        }
        let refuse = |what: &str| {
            Err(Error::InvalidArgument(format!(
                "{what} is not supported by berth yet"
            )))
        };
        if s.driver_opts.as_ref().is_some_and(|o| !o.is_empty()) {
            return refuse("endpoint driver options (--driver-opt)");
        }
        if s.links.as_ref().is_some_and(|l| !l.is_empty()) {
            return refuse("--link");
        }
        if let Some(c) = &s.ipam_config
            && (c.ipv6_address.as_deref().is_some_and(|a| !a.is_empty())
                || c.link_local_ips.as_ref().is_some_and(|l| !l.is_empty()))
        {
            return refuse("IPv6 and link-local endpoint addresses");
        }
        if s.aliases.as_ref().is_some_and(|a| !a.is_empty()) && !def.user_defined {
            return Err(Error::InvalidArgument(
                "network-scoped alias is supported only for containers in user defined networks"
                    .into(),
            ));
        }
        if let Some(mac) = s.mac_address.as_deref().filter(|m| !m.is_empty()) {
            parse_mac(mac)?;
        }
        Ok(())
    }

    /// The id of the running container whose namespace `--network container:NAME` joins.
    pub(crate) fn joined_container_id(&self, target: &str) -> Result<String> {
        let reg = self.registry.lock().expect("registry lock");
        let entry = reg.get(target)?;
        Ok(entry.record.id.clone())
    }

    /// Decides where the container's namespace comes from; a joined container must run.
    pub(crate) fn netns_plan(&self, rec: &Record) -> Result<NetnsPlan> {
        let mode = super::spec::network_mode(&rec.host_config);
        if mode == "host" {
            return Ok(NetnsPlan::Host);
        }
        if let Some(target) = mode.strip_prefix("container:") {
            let reg = self.registry.lock().expect("registry lock");
            let other = reg.get(target)?;
            if !other.running() {
                return Err(Error::Conflict(format!(
                    "cannot join network namespace of a non running container: container {} is not running",
                    other.record.name
                )));
            }
            let id = &other.record.id;
            return Ok(NetnsPlan::Joined {
                netns: self.layout.netns(id),
                etc_dir: self.layout.dir(id),
            });
        }
        Ok(NetnsPlan::Own)
    }

    /// Wires every bridge network of the record into the namespace at `netns`; returns the
    /// endpoint settings with their addresses and the interface number of each. On failure
    /// what was wired is undone.
    pub(crate) fn wire_networks(
        &self,
        rec: &Record,
        netns: &Path,
    ) -> Result<(BTreeMap<String, EndpointSettings>, BTreeMap<String, usize>)> {
        let ns = std::fs::File::open(netns).map_err(|e| Error::internal(netns.display(), e))?;
        let (mut out, mut slots) = (BTreeMap::new(), BTreeMap::new());
        for (name, settings) in &rec.networks {
            let wired = self
                .networks
                .find(settings.network_id.as_deref().unwrap_or(name))
                .map_err(|e| {
                    Error::NotFound(format!("network {name} of the container is gone: {e}"))
                })
                .and_then(|def| {
                    if def.driver != Driver::Bridge {
                        return Ok(settings.clone());
                    }
                    let slot = slots.len();
                    let ep = self.wire_one(&rec.id, &def, settings, slot, ns.as_fd())?;
                    slots.insert(name.clone(), slot);
                    Ok(ep)
                });
            match wired {
                Ok(ep) => {
                    out.insert(name.clone(), ep);
                }
                Err(e) => {
                    self.networks.detach_veths(&rec.id, slots.values().copied());
                    self.networks.release_owner(&rec.id);
                    return Err(e);
                }
            }
        }
        Ok((out, slots))
    }

    /// Wires a running container into one more network, as the first free `eth<N>`.
    pub(crate) fn wire_running(
        &self,
        id: &str,
        def: &NetworkDef,
        settings: &EndpointSettings,
    ) -> Result<(usize, EndpointSettings)> {
        let used: Vec<usize> = {
            let reg = self.registry.lock().expect("registry lock");
            reg.get(id)?.record.state.slots.values().copied().collect()
        };
        let slot = (0..).find(|s| !used.contains(s)).expect("a free slot");
        let path = self.layout.netns(id);
        let ns = std::fs::File::open(&path).map_err(|e| Error::internal(path.display(), e))?;
        Ok((slot, self.wire_one(id, def, settings, slot, ns.as_fd())?))
    }

    /// One endpoint: the address (fixed or from the pool), MAC, veth; the filled settings.
    fn wire_one(
        &self,
        owner: &str,
        def: &NetworkDef,
        settings: &EndpointSettings,
        slot: usize,
        ns: std::os::fd::BorrowedFd<'_>,
    ) -> Result<EndpointSettings> {
        let ip = requested_ip(settings)?;
        let mac = settings
            .mac_address
            .as_deref()
            .filter(|m| !m.is_empty())
            .map(parse_mac)
            .transpose()?;
        let a = self.networks.connect(&def.id, owner, slot, ns, ip, mac)?;
        let mut filled = settings.clone();
        filled.network_id = Some(a.network_id);
        filled.endpoint_id = Some(super::create::random_id());
        filled.ip_address = Some(a.address.to_string());
        filled.ip_prefix_len = Some(a.prefix as i64);
        filled.gateway = Some(a.gateway.map(|g| g.to_string()).unwrap_or_default());
        filled.mac_address = Some(format_mac(&a.mac));
        Ok(filled)
    }

    /// Publishes the record's ports to its address on its first network (`eth0`).
    pub(crate) fn publish_ports(
        &self,
        rec: &Record,
        endpoints: &BTreeMap<String, EndpointSettings>,
        slots: &BTreeMap<String, usize>,
    ) -> Result<Vec<Published>> {
        let exposed = rec.config.exposed_ports.clone().unwrap_or_default();
        let requests = super::ports::requests(&rec.host_config, &exposed)?;
        if requests.is_empty() {
            return Ok(Vec::new());
        }
        let dest = slots
            .iter()
            .find(|(_, s)| **s == 0)
            .and_then(|(name, _)| endpoints.get(name)?.ip_address.as_deref()?.parse().ok())
            .ok_or_else(|| {
                Error::InvalidArgument(
                    "published ports need the container on a bridge network".into(),
                )
            })?;
        self.networks.publish(&rec.id, dest, &requests)
    }

    /// The user-defined networks among these endpoints' (Docker's default bridge has no
    /// name resolution): a container on one gets the embedded resolver.
    fn user_networks(&self, endpoints: &BTreeMap<String, EndpointSettings>) -> Vec<String> {
        endpoints
            .values()
            .filter_map(|e| e.network_id.clone())
            .filter(|id| self.networks.find(id).is_ok_and(|d| d.user_defined))
            .collect()
    }

    /// Starts the embedded resolver of a container on a user-defined network.
    pub(crate) fn start_dns_for(
        &self,
        rec: &Record,
        netns: &Path,
        endpoints: &BTreeMap<String, EndpointSettings>,
    ) -> Result<()> {
        let networks = self.user_networks(endpoints);
        if networks.is_empty() {
            return Ok(());
        }
        self.serve_dns(rec, netns, networks)
    }

    /// After a daemon restart: a running container's resolver is served again when its
    /// resolv.conf points at it — also for one that has left every user network since it
    /// got one (it keeps it, as in Docker; its other names still go out through it).
    pub(crate) fn resume_dns_for(&self, rec: &Record, netns: &Path) -> Result<()> {
        let resolv = std::fs::read_to_string(self.layout.dir(&rec.id).join(etc_files::RESOLV_CONF))
            .unwrap_or_default();
        let resolver = format!("nameserver {}", crate::networks::RESOLVER);
        if !resolv.lines().any(|l| l.trim() == resolver) {
            return Ok(());
        }
        self.serve_dns(rec, netns, self.user_networks(&rec.state.endpoints))
    }

    /// Serves a resolver for `networks` in the namespace at `netns`, forwarding to the
    /// container's `--dns` servers, else to the host's.
    fn serve_dns(&self, rec: &Record, netns: &Path, networks: Vec<String>) -> Result<()> {
        let own: Vec<Ipv4Addr> = rec
            .host_config
            .dns
            .iter()
            .flatten()
            .filter_map(|s| s.parse().ok())
            .collect();
        let upstreams = if own.is_empty() {
            berth_network::dns::nameservers(
                &std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
            )
        } else {
            own
        };
        self.start_dns(
            &rec.id,
            netns,
            Scope {
                networks: std::sync::Mutex::new(networks),
                upstreams,
            },
        )
    }

    /// Changes a container's record and saves it.
    pub(crate) fn update_record(&self, id: &str, f: impl FnOnce(&mut Record)) -> Result<()> {
        let mut reg = self.registry.lock().expect("registry lock");
        let entry = reg.get_mut(id)?;
        f(&mut entry.record);
        entry.record.save(&self.layout.dir(id))
    }
}

impl Engine {
    /// hostname, hosts and resolv.conf for a container with its own namespace (or the
    /// host's): its addresses, `--add-host`, `--dns*`.
    pub(crate) fn write_etc_files(
        &self,
        rec: &Record,
        dir: &Path,
        endpoints: &BTreeMap<String, EndpointSettings>,
    ) -> Result<()> {
        let hostname = rec.config.hostname.as_deref().unwrap_or("");
        etc_files::write_all(dir, hostname, &self.etc_options(rec, endpoints)?)
    }

    /// A running container without the embedded resolver was connected to a user-defined
    /// network: as Docker does, it gets one, and its resolv.conf (rewritten in place, so
    /// that the change shows through the bind mount) points at it.
    pub(crate) fn start_late_resolver(&self, id: &str) -> Result<()> {
        let rec = {
            let reg = self.registry.lock().expect("registry lock");
            reg.get(id)?.record.clone()
        };
        let endpoints = &rec.state.endpoints;
        self.start_dns_for(&rec, &self.layout.netns(id), endpoints)?;
        etc_files::write_resolv_conf(&self.layout.dir(id), &self.etc_options(&rec, endpoints)?)
    }

    /// What the /etc files of `rec` say, given the endpoints it is wired to.
    fn etc_options<'a>(
        &self,
        rec: &'a Record,
        endpoints: &BTreeMap<String, EndpointSettings>,
    ) -> Result<EtcOptions<'a>> {
        let hc = &rec.host_config;
        let mut extra_hosts = Vec::new();
        for h in hc.extra_hosts.iter().flatten() {
            let (name, mut ip) = parse_extra_host(h)?;
            if ip == HOST_GATEWAY {
                let bridge = self.networks.find("bridge")?;
                let (_, gw) = self.networks.addressing(&bridge.id).ok_or_else(|| {
                    Error::InvalidArgument(
                        "host-gateway: the default bridge has no address yet".into(),
                    )
                })?;
                ip = gw.to_string();
            }
            extra_hosts.push((name, ip));
        }
        Ok(EtcOptions {
            host_network: super::create::host_network(hc),
            addresses: endpoints
                .values()
                .filter_map(|e| e.ip_address.as_deref()?.parse().ok())
                .collect(),
            extra_hosts,
            dns: hc.dns.as_deref().unwrap_or_default(),
            dns_search: hc.dns_search.as_deref().unwrap_or_default(),
            dns_options: hc.dns_options.as_deref().unwrap_or_default(),
            domainname: rec.config.domainname.as_deref().unwrap_or_default(),
            embedded_dns: !self.user_networks(endpoints).is_empty(),
        })
    }
}

/// An endpoint's fixed IPv4 address (`--ip`), if any.
fn requested_ip(s: &EndpointSettings) -> Result<Option<Ipv4Addr>> {
    match s
        .ipam_config
        .as_ref()
        .and_then(|c| c.ipv4_address.as_deref())
        .filter(|a| !a.is_empty())
    {
        Some(a) => a
            .parse()
            .map(Some)
            .map_err(|_| Error::InvalidArgument(format!("invalid IPv4 address {a:?}"))),
        None => Ok(None),
    }
}

/// `--add-host NAME:IP` (or `NAME=IP`); IP may be `host-gateway`.
pub(crate) fn parse_extra_host(s: &str) -> Result<(String, String)> {
    let bad = || Error::InvalidArgument(format!("invalid extra host {s:?}: want NAME:IP"));
    let (name, ip) = s
        .split_once('=')
        .or_else(|| s.split_once(':'))
        .ok_or_else(bad)?;
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    if name.is_empty() || (ip != HOST_GATEWAY && ip.parse::<std::net::IpAddr>().is_err()) {
        return Err(bad());
    }
    Ok((name.to_string(), ip.to_string()))
}

/// The `--add-host` address that stands for the default bridge's gateway.
pub(crate) const HOST_GATEWAY: &str = "host-gateway";
