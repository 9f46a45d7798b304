//! `network create|ls|inspect|rm|prune|connect|disconnect`, as docker's.

use std::collections::BTreeMap;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::client::{Body, Client, enc};

use super::inspect::{InspectArgs, inspect};
use super::ps::{filters_json, trunc_id};
use super::template::Format;
use super::{Exit, Res, out};

const DEFAULT_TABLE: &str = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";

#[derive(Args, Debug)]
pub struct NetworkArgs {
    #[command(subcommand)]
    pub cmd: NetworkCommand,
}

#[derive(Subcommand, Debug)]
pub enum NetworkCommand {
    /// Create a network.
    Create(CreateArgs),
    /// List networks.
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more networks.
    Inspect(NetInspectArgs),
    /// Remove one or more networks.
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Remove all unused networks.
    Prune(PruneArgs),
    /// Connect a container to a network.
    Connect(ConnectArgs),
    /// Disconnect a container from a network.
    Disconnect(DisconnectArgs),
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Driver to manage the Network.
    #[arg(short, long, default_value = "bridge")]
    pub driver: String,
    /// Subnet in CIDR format that represents a network segment.
    #[arg(long)]
    pub subnet: Option<String>,
    /// IPv4 Gateway for the master subnet.
    #[arg(long)]
    pub gateway: Option<String>,
    /// Allocate container ip from a sub-range.
    #[arg(long = "ip-range")]
    pub ip_range: Option<String>,
    /// Restrict external access to the network.
    #[arg(long)]
    pub internal: bool,
    /// Set metadata on a network.
    #[arg(long)]
    pub label: Vec<String>,
    /// Set driver specific options.
    #[arg(short, long = "opt")]
    pub opt: Vec<String>,
    pub name: String,
}

#[derive(Args, Debug)]
pub struct LsArgs {
    /// Provide filter values (e.g. "driver=bridge").
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Format output using a custom template.
    #[arg(long)]
    pub format: Option<String>,
    /// Do not truncate the output.
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only display network IDs.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct NetInspectArgs {
    /// Format output using a custom template.
    #[arg(short, long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Do not error if the network does not exist.
    #[arg(short, long)]
    pub force: bool,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    pub force: bool,
    /// Provide filter values (e.g. "label=<key>=<value>").
    #[arg(long)]
    pub filter: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ConnectArgs {
    /// IPv4 address.
    #[arg(long)]
    pub ip: Option<String>,
    /// Add network-scoped alias for the container.
    #[arg(long)]
    pub alias: Vec<String>,
    pub network: String,
    pub container: String,
}

#[derive(Args, Debug)]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network.
    #[arg(short, long)]
    pub force: bool,
    pub network: String,
    pub container: String,
}

pub fn network(c: &Client, a: &NetworkArgs) -> Res {
    match &a.cmd {
        NetworkCommand::Create(a) => create(c, a),
        NetworkCommand::Ls(a) => ls(c, a),
        NetworkCommand::Inspect(a) => inspect(
            c,
            &InspectArgs {
                format: a.format.clone(),
                kind: Some("network".into()),
                size: false,
                names: a.names.clone(),
            },
        ),
        NetworkCommand::Rm(a) => rm(c, a),
        NetworkCommand::Prune(a) => prune(c, a),
        NetworkCommand::Connect(a) => connect(c, a),
        NetworkCommand::Disconnect(a) => disconnect(c, a),
    }
}

/// `KEY=VALUE` list to a map (a bare key has an empty value).
fn key_values(list: &[String]) -> BTreeMap<&str, &str> {
    list.iter()
        .map(|l| l.split_once('=').unwrap_or((l.as_str(), "")))
        .collect()
}

/// The body of `POST /networks/create`.
pub fn create_body(a: &CreateArgs) -> Value {
    let mut config = serde_json::Map::new();
    for (k, v) in [
        ("Subnet", &a.subnet),
        ("Gateway", &a.gateway),
        ("IPRange", &a.ip_range),
    ] {
        if let Some(v) = v {
            config.insert(k.into(), json!(v));
        }
    }
    let configs = if config.is_empty() {
        json!([])
    } else {
        json!([config])
    };
    json!({
        "Name": a.name,
        "Driver": a.driver,
        "Internal": a.internal,
        "Labels": key_values(&a.label),
        "Options": key_values(&a.opt),
        "IPAM": {"Driver": "default", "Config": configs},
    })
}

fn create(c: &Client, a: &CreateArgs) -> Res {
    let r = c
        .post_json("/networks/create", Some(&create_body(a)))
        .map_err(Exit::one)?;
    out(&format!(
        "{}\n",
        r.get("Id").and_then(Value::as_str).unwrap_or_default()
    ));
    Ok(0)
}

fn ls(c: &Client, a: &LsArgs) -> Res {
    let mut q = "/networks".to_string();
    if !a.filter.is_empty() {
        q.push_str(&format!(
            "?filters={}",
            enc(&filters_json(&a.filter).map_err(Exit::one)?)
        ));
    }
    let list = c.get_json(&q).map_err(Exit::one)?;
    let rows: Vec<Value> = list
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| {
            let s = |k: &str| n.get(k).and_then(Value::as_str).unwrap_or_default();
            json!({
                "ID": trunc_id(s("Id"), a.no_trunc), "Name": s("Name"), "Driver": s("Driver"),
                "Scope": s("Scope"), "Internal": n.get("Internal").and_then(Value::as_bool).unwrap_or(false),
                "CreatedAt": s("Created"),
                "Labels": n.get("Labels").and_then(Value::as_object).map(|m| {
                    m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect::<Vec<_>>().join(",")
                }).unwrap_or_default(),
            })
        })
        .collect();
    let header = json!({"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE",
        "Internal": "INTERNAL", "CreatedAt": "CREATED", "Labels": "LABELS"});
    let fmt = if a.quiet {
        "{{.ID}}".to_string()
    } else {
        a.format
            .clone()
            .unwrap_or_else(|| DEFAULT_TABLE.to_string())
    };
    let f = Format::new(&fmt, DEFAULT_TABLE);
    out(&f.render_list(&header, &rows).map_err(Exit::one)?);
    Ok(0)
}

fn rm(c: &Client, a: &RmArgs) -> Res {
    let mut failed = false;
    for n in &a.names {
        match c.call("DELETE", &format!("/networks/{}", enc(n))) {
            Ok(()) => out(&format!("{n}\n")),
            Err(crate::client::Error::Api { status: 404, .. }) if a.force => {}
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

fn prune(c: &Client, a: &PruneArgs) -> Res {
    if !a.force {
        return Err(Exit::one(
            "berth network prune asks no questions: give -f to remove all unused networks",
        ));
    }
    let mut q = "/networks/prune".to_string();
    if !a.filter.is_empty() {
        q.push_str(&format!(
            "?filters={}",
            enc(&filters_json(&a.filter).map_err(Exit::one)?)
        ));
    }
    let r = c.post_json(&q, None).map_err(Exit::one)?;
    let deleted: Vec<&str> = r
        .get("NetworksDeleted")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !deleted.is_empty() {
        out(&format!("Deleted Networks:\n{}\n", deleted.join("\n")));
    }
    Ok(0)
}

fn connect(c: &Client, a: &ConnectArgs) -> Res {
    let mut endpoint = json!({"Aliases": a.alias});
    if let Some(ip) = &a.ip {
        endpoint["IPAMConfig"] = json!({"IPv4Address": ip});
    }
    let body = json!({"Container": a.container, "EndpointConfig": endpoint});
    c.request(
        "POST",
        &format!("/networks/{}/connect", enc(&a.network)),
        Body::Json(&body),
    )
    .and_then(|r| r.bytes())
    .map_err(Exit::one)?;
    Ok(0)
}

fn disconnect(c: &Client, a: &DisconnectArgs) -> Res {
    let body = json!({"Container": a.container, "Force": a.force});
    c.request(
        "POST",
        &format!("/networks/{}/disconnect", enc(&a.network)),
        Body::Json(&body),
    )
    .and_then(|r| r.bytes())
    .map_err(Exit::one)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_body_like_docker() {
        let a = CreateArgs {
            driver: "bridge".into(),
            subnet: Some("10.5.0.0/16".into()),
            gateway: None,
            ip_range: Some("10.5.1.0/24".into()),
            internal: true,
            label: vec!["a=b".into()],
            opt: vec![],
            name: "n".into(),
        };
        let b = create_body(&a);
        assert_eq!(b["IPAM"]["Config"][0]["Subnet"], "10.5.0.0/16");
        assert_eq!(b["IPAM"]["Config"][0]["IPRange"], "10.5.1.0/24");
        assert!(b["IPAM"]["Config"][0].get("Gateway").is_none());
        assert_eq!(b["Internal"], true);
        assert_eq!(b["Labels"]["a"], "b");
    }
}
