//! Networks in Docker's JSON shapes (`network ls`, `network inspect`) and their filters.

use std::collections::HashMap;

use bollard_stubs::models::{EndpointResource, Ipam, IpamConfig, NetworkInspect, NetworkSummary};

use crate::api::Filters;
use crate::error::{Error, Result};

use super::{Driver, NetworkDef};

/// `GET /networks` entry.
pub(crate) fn summary(def: &NetworkDef) -> NetworkSummary {
    NetworkSummary {
        name: Some(def.name.clone()),
        id: Some(def.id.clone()),
        created: Some(def.created.clone()),
        scope: Some("local".into()),
        driver: Some(def.driver.as_str().into()),
        enable_ipv4: Some(def.driver == Driver::Bridge),
        enable_ipv6: Some(false),
        ipam: Some(ipam(def)),
        internal: Some(def.internal),
        attachable: Some(false),
        ingress: Some(false),
        config_only: Some(false),
        options: Some(def.options.clone()),
        labels: Some(def.labels.clone()),
        ..Default::default()
    }
}

/// `GET /networks/{id}`: the summary and the running containers' endpoints.
pub(crate) fn inspect(
    def: &NetworkDef,
    containers: HashMap<String, EndpointResource>,
) -> NetworkInspect {
    let s = summary(def);
    NetworkInspect {
        name: s.name,
        id: s.id,
        created: s.created,
        scope: s.scope,
        driver: s.driver,
        enable_ipv4: s.enable_ipv4,
        enable_ipv6: s.enable_ipv6,
        ipam: s.ipam,
        internal: s.internal,
        attachable: s.attachable,
        ingress: s.ingress,
        config_only: s.config_only,
        options: s.options,
        labels: s.labels,
        containers: Some(containers),
        ..Default::default()
    }
}

fn ipam(def: &NetworkDef) -> Ipam {
    let config = match (def.subnet, def.gateway) {
        (Some(s), g) => vec![IpamConfig {
            subnet: Some(s.to_string()),
            gateway: g.map(|g| g.to_string()),
            ip_range: def.ip_range.map(|r| r.to_string()),
            ..Default::default()
        }],
        _ => Vec::new(),
    };
    Ipam {
        driver: Some("default".into()),
        config: Some(config),
        options: Some(HashMap::new()),
    }
}

/// Docker's network filters: `name` (substring), `id` (prefix), `driver`, `label`,
/// `type` (`custom` or `builtin`).
pub(crate) fn matches(def: &NetworkDef, filters: &Filters) -> Result<bool> {
    for (key, values) in filters {
        let ok = match key.as_str() {
            "name" => values.iter().any(|v| def.name.contains(v.as_str())),
            "id" => values.iter().any(|v| def.id.starts_with(v.as_str())),
            "driver" => values.iter().any(|v| v == def.driver.as_str()),
            "label" => values.iter().all(|v| match v.split_once('=') {
                Some((k, want)) => def.labels.get(k).is_some_and(|have| have == want),
                None => def.labels.contains_key(v),
            }),
            "type" => values.iter().any(|v| match v.as_str() {
                "custom" => def.user_defined,
                "builtin" => !def.user_defined,
                _ => false,
            }),
            "dangling" | "until" => {
                return Err(Error::InvalidArgument(format!(
                    "the network filter '{key}' is not supported by berth yet"
                )));
            }
            other => return Err(Error::InvalidArgument(format!("invalid filter '{other}'"))),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}
