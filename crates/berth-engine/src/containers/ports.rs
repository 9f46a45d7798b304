//! `-p`/`-P` on the container side: `HostConfig.PortBindings` and `PublishAllPorts` read
//! into port requests (checked at create, published at start), and the published ports in
//! Docker's shapes (`NetworkSettings.Ports`, `ps`'s `Ports`).

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;

use berth_network::ports::Proto;
use bollard_stubs::models::{HostConfig, PortBinding, PortSummary, PortSummaryTypeEnum};

use crate::error::{Error, Result};
use crate::networks::{PortRequest, Published};

/// The ports to publish: every binding of `PortBindings`, and with `PublishAllPorts` an
/// ephemeral host port for each exposed port that has none.
pub(crate) fn requests(hc: &HostConfig, exposed: &[String]) -> Result<Vec<PortRequest>> {
    let mut out = Vec::new();
    let bindings = hc.port_bindings.clone().unwrap_or_default();
    let mut keys: Vec<&String> = bindings.keys().collect();
    keys.sort();
    for key in keys {
        let (container_port, proto) = parse_key(key)?;
        let list = bindings[key].clone().unwrap_or_default();
        let list = if list.is_empty() {
            vec![PortBinding::default()]
        } else {
            list
        };
        for b in list {
            let host_ip = parse_host_ip(b.host_ip.as_deref().unwrap_or(""))?;
            let (first, last) = parse_host_port(b.host_port.as_deref().unwrap_or(""))?;
            out.push(PortRequest {
                proto,
                host_ip,
                first,
                last,
                container_port,
            });
        }
    }
    if hc.publish_all_ports == Some(true) {
        for key in exposed {
            if !bindings.contains_key(key) {
                let (container_port, proto) = parse_key(key)?;
                out.push(PortRequest {
                    proto,
                    host_ip: None,
                    first: 0,
                    last: 0,
                    container_port,
                });
            }
        }
    }
    Ok(out)
}

/// `80/tcp`, `53/udp`, `8080` (tcp).
pub(crate) fn parse_key(key: &str) -> Result<(u16, Proto)> {
    let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    let port =
        port.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
            Error::InvalidArgument(format!("invalid port specification: {key:?}"))
        })?;
    Ok((port, Proto::parse(proto)?))
}

fn parse_host_ip(ip: &str) -> Result<Option<Ipv4Addr>> {
    match ip {
        "" | "0.0.0.0" => Ok(None),
        ip => ip.parse().map(Some).map_err(|_| {
            Error::InvalidArgument(format!(
                "invalid host IP {ip:?} for a published port: berth publishes on IPv4 addresses"
            ))
        }),
    }
}

/// `""` (any free port), `8080`, or `8080-8090` (the first free one).
fn parse_host_port(p: &str) -> Result<(u16, u16)> {
    let bad = || Error::InvalidArgument(format!("invalid host port specification: {p:?}"));
    if p.is_empty() {
        return Ok((0, 0));
    }
    let (a, b) = p.split_once('-').unwrap_or((p, p));
    let (a, b): (u16, u16) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
    if a == 0 || b < a {
        return Err(bad());
    }
    Ok((a, b))
}

/// `NetworkSettings.Ports`: every exposed or bound port, with its host bindings while
/// published (`null` otherwise), as Docker shows it.
pub(crate) fn port_map(
    exposed: &[String],
    hc: &HostConfig,
    published: &[Published],
) -> HashMap<String, Option<Vec<PortBinding>>> {
    let mut keys: BTreeSet<String> = exposed.iter().cloned().collect();
    keys.extend(hc.port_bindings.iter().flatten().map(|(k, _)| k.clone()));
    keys.into_iter()
        .map(|k| {
            let (port, proto) = match parse_key(&k) {
                Ok(v) => v,
                Err(_) => return (k, None),
            };
            let bound: Vec<PortBinding> = published
                .iter()
                .filter(|p| p.container_port == port && p.proto == proto.as_str())
                .map(|p| PortBinding {
                    host_ip: Some(p.host_ip.to_string()),
                    host_port: Some(p.host_port.to_string()),
                })
                .collect();
            let key = format!("{port}/{}", proto.as_str());
            (key, (!bound.is_empty()).then_some(bound))
        })
        .collect()
}

/// `ps`'s `Ports`.
pub(crate) fn summaries(published: &[Published]) -> Vec<PortSummary> {
    published
        .iter()
        .map(|p| PortSummary {
            ip: Some(p.host_ip.to_string()),
            private_port: p.container_port,
            public_port: Some(p.host_port),
            typ: Some(if p.proto == "udp" {
                PortSummaryTypeEnum::UDP
            } else {
                PortSummaryTypeEnum::TCP
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_and_publish_all() {
        let hc: HostConfig = serde_json::from_str(
            r#"{"PortBindings":{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"8080"}],
                "53/udp":[{"HostIp":"","HostPort":"5300-5310"}]},"PublishAllPorts":true}"#,
        )
        .unwrap();
        let r = requests(&hc, &["80/tcp".into(), "9000/tcp".into()]).unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(
            (r[0].proto, r[0].first, r[0].last),
            (Proto::Udp, 5300, 5310)
        );
        assert_eq!(r[1].host_ip, Some(Ipv4Addr::LOCALHOST));
        assert_eq!((r[2].container_port, r[2].first), (9000, 0));
    }

    #[test]
    fn bad_specs_refused() {
        for bad in [
            r#"{"PortBindings":{"http/tcp":null}}"#,
            r#"{"PortBindings":{"80/sctp":null}}"#,
            r#"{"PortBindings":{"80/tcp":[{"HostPort":"99999"}]}}"#,
            r#"{"PortBindings":{"80/tcp":[{"HostPort":"90-80"}]}}"#,
            r#"{"PortBindings":{"80/tcp":[{"HostIp":"::1","HostPort":"80"}]}}"#,
        ] {
            let hc: HostConfig = serde_json::from_str(bad).unwrap();
            assert!(requests(&hc, &[]).is_err(), "{bad}");
        }
    }
}
