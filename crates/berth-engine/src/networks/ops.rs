//! The Engine API's network operations: list, inspect, create, remove, prune, and connect /
//! disconnect of containers (running ones are wired or unwired at once). The ones that
//! change networks block (netlink, nft): call them from a blocking task.

use std::collections::HashMap;

use bollard_stubs::models::{
    EndpointResource, EndpointSettings, NetworkConnectRequest, NetworkCreateRequest,
    NetworkCreateResponse, NetworkDisconnectRequest, NetworkInspect, NetworkPruneResponse,
    NetworkSummary,
};

use crate::api::Filters;
use crate::engine::Engine;
use crate::error::{Error, Result};

use super::{CreateRequest, Driver, view};

impl Engine {
    /// `GET /networks`.
    pub fn list_networks(&self, filters: &Filters) -> Result<Vec<NetworkSummary>> {
        let mut out = Vec::new();
        for def in self.networks.all() {
            if view::matches(&def, filters)? {
                out.push(view::summary(&def));
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// `GET /networks/{id}`.
    pub fn inspect_network(&self, key: &str) -> Result<NetworkInspect> {
        let def = self.networks.find(key)?;
        Ok(view::inspect(&def, self.endpoints_on(&def.id)))
    }

    /// `POST /networks/create`: a user-defined bridge network. Blocking.
    pub fn create_network(&self, req: NetworkCreateRequest) -> Result<NetworkCreateResponse> {
        let refuse = |what: &str| {
            Err(Error::InvalidArgument(format!(
                "{what} is not supported by berth yet"
            )))
        };
        validate_name(&req.name)?;
        match req.driver.as_deref() {
            None | Some("") | Some("bridge") => {}
            Some(other) => {
                return Err(Error::NotFound(format!(
                    "plugin \"{other}\" not found: berth has the bridge driver only"
                )));
            }
        }
        if req.enable_ipv6 == Some(true) {
            return refuse("IPv6 networks");
        }
        if req.enable_ipv4 == Some(false) {
            return refuse("networks without IPv4");
        }
        if req.attachable == Some(true) || req.ingress == Some(true) {
            return refuse("swarm networks (attachable, ingress)");
        }
        if req.config_only == Some(true) || req.config_from.is_some() {
            return refuse("config-only networks");
        }
        let mut create = CreateRequest {
            name: req.name,
            internal: req.internal.unwrap_or(false),
            labels: req.labels.unwrap_or_default(),
            options: req.options.unwrap_or_default(),
            ..Default::default()
        };
        if let Some(ipam) = req.ipam {
            if ipam
                .driver
                .as_deref()
                .is_some_and(|d| !d.is_empty() && d != "default")
            {
                return refuse("IPAM drivers other than default");
            }
            if ipam.options.as_ref().is_some_and(|o| !o.is_empty()) {
                return refuse("IPAM options");
            }
            let configs = ipam.config.unwrap_or_default();
            if configs.len() > 1 {
                return refuse("more than one IPAM config");
            }
            if let Some(c) = configs.into_iter().next() {
                if c.auxiliary_addresses
                    .as_ref()
                    .is_some_and(|a| !a.is_empty())
                {
                    return refuse("auxiliary addresses");
                }
                create.subnet = parse_opt(c.subnet.as_deref(), "subnet")?;
                create.gateway = parse_opt(c.gateway.as_deref(), "gateway")?;
                create.ip_range = parse_opt(c.ip_range.as_deref(), "ip range")?;
            }
        }
        if create.ip_range.is_some() && create.subnet.is_none() {
            return Err(Error::InvalidArgument(
                "an ip range needs a subnet (--subnet)".into(),
            ));
        }
        let def = self.networks.create(create)?;
        self.network_event(&def, "create");
        Ok(NetworkCreateResponse {
            id: def.id,
            warning: String::new(),
        })
    }

    /// `DELETE /networks/{id}`: 409 while running containers are on it. Blocking.
    pub fn remove_network(&self, key: &str) -> Result<()> {
        let def = self.networks.find(key)?;
        let users = self.endpoints_on(&def.id);
        if !users.is_empty() {
            let names: Vec<String> = users.values().filter_map(|e| e.name.clone()).collect();
            return Err(Error::Conflict(format!(
                "error while removing network: network {} id {} has active endpoints ({})",
                def.name,
                def.id,
                names.join(", ")
            )));
        }
        self.networks.remove(&def.id)?;
        self.network_event(&def, "destroy");
        Ok(())
    }

    /// `POST /networks/prune`: user-defined networks no container refers to. Blocking.
    pub fn prune_networks(&self, filters: &Filters) -> Result<NetworkPruneResponse> {
        let referenced: std::collections::HashSet<String> = {
            let reg = self.registry.lock().expect("registry lock");
            reg.by_id
                .values()
                .flat_map(|e| e.record.networks.values())
                .filter_map(|s| s.network_id.clone())
                .collect()
        };
        let mut deleted = Vec::new();
        for def in self.networks.all() {
            if def.user_defined && !referenced.contains(&def.id) && view::matches(&def, filters)? {
                self.networks.remove(&def.id)?;
                self.network_event(&def, "destroy");
                deleted.push(def.name);
            }
        }
        Ok(NetworkPruneResponse {
            networks_deleted: Some(deleted),
        })
    }

    /// `POST /networks/{id}/connect`: recorded for the container's next start, and wired at
    /// once when it runs. Blocking.
    pub fn connect_network(&self, key: &str, req: NetworkConnectRequest) -> Result<()> {
        let def = self.networks.find(key)?;
        if def.driver != Driver::Bridge {
            return Err(Error::Forbidden(format!(
                "container cannot be disconnected from or connected to the {} network",
                def.name
            )));
        }
        let settings = req.endpoint_config.unwrap_or_default();
        self.check_endpoint(&def, &settings)?;
        let (id, running, mode, names) = {
            let reg = self.registry.lock().expect("registry lock");
            let e = reg.get(&req.container)?;
            if e.record
                .networks
                .values()
                .any(|s| s.network_id.as_deref() == Some(&def.id))
            {
                return Err(Error::Forbidden(format!(
                    "endpoint with name {} already exists in network {}",
                    e.record.name, def.name
                )));
            }
            (
                e.record.id.clone(),
                e.running(),
                crate::containers::network_mode_of(&e.record),
                own_names(&e.record),
            )
        };
        if mode == "host" || mode == "none" || mode.starts_with("container:") {
            return Err(Error::InvalidArgument(format!(
                "container sharing network namespace with another container or host cannot be connected to any other network (mode {mode})"
            )));
        }
        let mut settings = settings;
        settings.network_id = Some(def.id.clone());
        let wired = if running {
            Some(self.wire_running(&id, &def, &settings)?)
        } else {
            None
        };
        let late_resolver =
            wired.is_some() && def.user_defined && !self.dns_scope_changed(&id, &def.id, true);
        if let Some((_, ep)) = &wired {
            self.hosts_entry_changed(&id, &names, ep, true);
            self.endpoint_event(&id, &def, "connect");
        }
        self.update_record(&id, |rec| {
            rec.networks.insert(def.name.clone(), settings.clone());
            if let Some((slot, ep)) = &wired {
                rec.state.slots.insert(def.name.clone(), *slot);
                rec.state.endpoints.insert(def.name.clone(), ep.clone());
            }
        })?;
        // As in Docker, a resolver that cannot start is logged: the connection stands.
        if late_resolver && let Err(e) = self.start_late_resolver(&id) {
            tracing::warn!(id, "starting the embedded resolver: {e}");
        }
        Ok(())
    }

    /// `POST /networks/{id}/disconnect`. Blocking.
    pub fn disconnect_network(&self, key: &str, req: NetworkDisconnectRequest) -> Result<()> {
        let def = self.networks.find(key)?;
        let (id, name, slot, ep, names) = {
            let reg = self.registry.lock().expect("registry lock");
            let e = reg.get(&req.container)?;
            let Some(name) = e
                .record
                .networks
                .iter()
                .find(|(_, s)| s.network_id.as_deref() == Some(&def.id))
                .map(|(n, _)| n.clone())
            else {
                return Err(Error::Forbidden(format!(
                    "container {} is not connected to network {}",
                    e.record.name, def.name
                )));
            };
            let slot = e
                .running()
                .then(|| e.record.state.slots.get(&name).copied())
                .flatten();
            let ep = e.record.state.endpoints.get(&name).cloned();
            (e.record.id.clone(), name, slot, ep, own_names(&e.record))
        };
        if def.driver != Driver::Bridge {
            return Err(Error::Forbidden(format!(
                "container cannot be disconnected from the {} network",
                def.name
            )));
        }
        if let Some(slot) = slot {
            self.networks.disconnect(&def.id, &id, slot);
            self.dns_scope_changed(&id, &def.id, false);
            if let Some(ep) = &ep {
                self.hosts_entry_changed(&id, &names, ep, false);
            }
            self.endpoint_event(&id, &def, "disconnect");
        }
        self.update_record(&id, |rec| {
            rec.networks.remove(&name);
            rec.state.endpoints.remove(&name);
            rec.state.slots.remove(&name);
        })
    }

    /// A running container's /etc/hosts follows its addresses as Docker's does: the line
    /// of an endpoint wired by `connect` is added, that of one `disconnect` unwired goes.
    /// A failure is logged, not returned (the network change itself stands), as in Docker.
    fn hosts_entry_changed(&self, id: &str, names: &str, ep: &EndpointSettings, added: bool) {
        let Some(ip) = ep.ip_address.as_deref().and_then(|i| i.parse().ok()) else {
            return;
        };
        let dir = self.layout.dir(id);
        let done = if added {
            crate::containers::add_own_address(&dir, names, ip)
        } else {
            crate::containers::remove_own_address(&dir, names, ip)
        };
        if let Err(e) = done {
            tracing::warn!(id, "updating the container's /etc/hosts: {e}");
        }
    }

    /// The running containers' endpoints on a network, by container id.
    fn endpoints_on(&self, network_id: &str) -> HashMap<String, EndpointResource> {
        let reg = self.registry.lock().expect("registry lock");
        reg.by_id
            .values()
            .filter(|e| e.running())
            .flat_map(|e| {
                e.record
                    .state
                    .endpoints
                    .values()
                    .filter(|s| s.network_id.as_deref() == Some(network_id))
                    .map(move |s| {
                        (
                            e.record.id.clone(),
                            EndpointResource {
                                name: Some(e.record.name.clone()),
                                endpoint_id: s.endpoint_id.clone(),
                                mac_address: s.mac_address.clone(),
                                ipv4_address: s
                                    .ip_address
                                    .as_ref()
                                    .map(|ip| format!("{ip}/{}", s.ip_prefix_len.unwrap_or(0))),
                                ipv6_address: Some(String::new()),
                            },
                        )
                    })
            })
            .collect()
    }
}

/// What a container's own addresses are called in its hosts file.
fn own_names(rec: &crate::containers::Record) -> String {
    crate::containers::host_names(
        rec.config.hostname.as_deref().unwrap_or_default(),
        rec.config.domainname.as_deref().unwrap_or_default(),
    )
}

/// Docker's rule for network names.
fn validate_name(name: &str) -> Result<()> {
    let ok = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "invalid network name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )))
    }
}

fn parse_opt<T: std::str::FromStr>(v: Option<&str>, what: &str) -> Result<Option<T>> {
    match v.filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|_| Error::InvalidArgument(format!("invalid {what} {s:?}"))),
    }
}
