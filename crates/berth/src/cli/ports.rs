//! `-p`/`--publish` specs as docker parses them, and the `port` verb.

use std::collections::BTreeMap;

use clap::Args;
use serde_json::{Value, json};

use crate::client::{Client, enc};

use super::{Exit, Res, out};

/// One parsed `-p`: (`80/tcp`, host ip, host port or range, empty for any).
pub type Binding = (String, String, String);

/// `[IP:][HOST:]CONTAINER[/PROTO]`, ranges allowed (`8080-8081:80-81`, `8000-8100:80`).
pub fn parse_publish(spec: &str) -> Result<Vec<Binding>, String> {
    let bad = |why: &str| format!("invalid port specification {spec:?}: {why}");
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, p),
        None => (spec, "tcp"),
    };
    if !matches!(proto, "tcp" | "udp" | "sctp") {
        return Err(bad("the protocol must be tcp, udp or sctp"));
    }
    let (ip, rest) = match rest.strip_prefix('[') {
        Some(r) => {
            let (ip, r) = r
                .split_once("]:")
                .ok_or_else(|| bad("unclosed IPv6 address"))?;
            (ip.to_string(), r)
        }
        None => match rest.matches(':').count() {
            2 => {
                let (ip, r) = rest.split_once(':').expect("two colons");
                (ip.to_string(), r)
            }
            0 | 1 => (String::new(), rest),
            _ => return Err(bad("too many colons")),
        },
    };
    let (host, container) = rest.rsplit_once(':').unwrap_or(("", rest));
    let range = |s: &str| -> Result<(u16, u16), String> {
        let (a, b) = s.split_once('-').unwrap_or((s, s));
        match (a.parse::<u16>(), b.parse::<u16>()) {
            (Ok(a), Ok(b)) if a > 0 && a <= b => Ok((a, b)),
            _ => Err(bad(&format!("{s:?} is not a port or a port range"))),
        }
    };
    let (c1, c2) = range(container)?;
    let host_range = if host.is_empty() {
        None
    } else {
        Some(range(host)?)
    };
    let mut out = Vec::new();
    match host_range {
        Some((h1, h2)) if c1 != c2 => {
            if h2 - h1 != c2 - c1 {
                return Err(bad("the host and container port ranges differ in length"));
            }
            for i in 0..=(c2 - c1) {
                out.push((
                    format!("{}/{proto}", c1 + i),
                    ip.clone(),
                    (h1 + i).to_string(),
                ));
            }
        }
        Some((h1, h2)) => {
            let host = if h1 == h2 {
                h1.to_string()
            } else {
                format!("{h1}-{h2}")
            };
            out.push((format!("{c1}/{proto}"), ip, host));
        }
        None => {
            for p in c1..=c2 {
                out.push((format!("{p}/{proto}"), ip.clone(), String::new()));
            }
        }
    }
    Ok(out)
}

/// `ExposedPorts` and `HostConfig.PortBindings` for the `-p` and `--expose` flags.
pub fn publish_fields(
    publish: &[String],
    expose: &[String],
    config: &mut Value,
) -> Result<(), String> {
    let mut exposed: BTreeMap<String, Value> = BTreeMap::new();
    let mut bindings: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for e in expose {
        let (port, proto) = e.split_once('/').unwrap_or((e, "tcp"));
        let (a, b) = port.split_once('-').unwrap_or((port, port));
        match (a.parse::<u16>(), b.parse::<u16>()) {
            (Ok(a), Ok(b)) if a > 0 && a <= b => {
                for p in a..=b {
                    exposed.insert(format!("{p}/{proto}"), json!({}));
                }
            }
            _ => return Err(format!("invalid range format for --expose: {e}")),
        }
    }
    for spec in publish {
        for (key, ip, host) in parse_publish(spec)? {
            exposed.insert(key.clone(), json!({}));
            bindings
                .entry(key)
                .or_default()
                .push(json!({"HostIp": ip, "HostPort": host}));
        }
    }
    if !exposed.is_empty() {
        config["ExposedPorts"] = json!(exposed);
    }
    if !bindings.is_empty() {
        config["HostConfig"]["PortBindings"] = json!(bindings);
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct PortArgs {
    pub container: String,
    /// PRIVATE_PORT[/PROTO]
    pub port: Option<String>,
}

/// `port CONTAINER [PRIVATE_PORT[/PROTO]]`.
pub fn port(c: &Client, a: &PortArgs) -> Res {
    let info = c
        .get_json(&format!("/containers/{}/json", enc(&a.container)))
        .map_err(Exit::one)?;
    let ports = info
        .pointer("/NetworkSettings/Ports")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let want = a.port.as_ref().map(|p| {
        if p.contains('/') {
            p.clone()
        } else {
            format!("{p}/tcp")
        }
    });
    let mut keys: Vec<&String> = ports.keys().collect();
    keys.sort_by_key(|k| {
        let (n, p) = k.split_once('/').unwrap_or((k, ""));
        (n.parse::<u32>().unwrap_or(0), p.to_string())
    });
    let mut text = String::new();
    for key in keys {
        if want.as_ref().is_some_and(|w| w != key) {
            continue;
        }
        for b in ports[key].as_array().into_iter().flatten() {
            let s = |k: &str| {
                b.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            let addr = format!("{}:{}", s("HostIp"), s("HostPort"));
            if want.is_some() {
                text.push_str(&format!("{addr}\n"));
            } else {
                text.push_str(&format!("{key} -> {addr}\n"));
            }
        }
    }
    if let Some(w) = &want
        && text.is_empty()
    {
        return Err(Exit::one(format!(
            "Error: No public port '{w}' published for {}",
            a.container
        )));
    }
    out(&text);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_port_specs() {
        let b = |s: &str| parse_publish(s).unwrap();
        assert_eq!(b("80"), vec![("80/tcp".into(), "".into(), "".into())]);
        assert_eq!(
            b("8080:80"),
            vec![("80/tcp".into(), "".into(), "8080".into())]
        );
        assert_eq!(
            b("127.0.0.1:8080:80/udp"),
            vec![("80/udp".into(), "127.0.0.1".into(), "8080".into())]
        );
        assert_eq!(
            b("127.0.0.1::80"),
            vec![("80/tcp".into(), "127.0.0.1".into(), "".into())]
        );
        assert_eq!(
            b("8080-8081:80-81"),
            vec![
                ("80/tcp".into(), "".into(), "8080".into()),
                ("81/tcp".into(), "".into(), "8081".into())
            ]
        );
        assert_eq!(
            b("8000-8100:80"),
            vec![("80/tcp".into(), "".into(), "8000-8100".into())]
        );
        for bad in [
            "",
            "x:80",
            "80/icmp",
            "8080-8082:80-81",
            "0:80",
            "1:2:3:4",
            "99999",
        ] {
            assert!(parse_publish(bad).is_err(), "{bad}");
        }
    }
}
