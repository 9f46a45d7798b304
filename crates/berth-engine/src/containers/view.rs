//! Containers in Docker's JSON shapes (`inspect`, `ps`) and `ps --filter`.

use std::collections::{HashMap, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

use bollard_stubs::models::{
    ContainerInspectResponse, ContainerState, ContainerStateStatusEnum, ContainerSummary,
    ContainerSummaryHostConfig, ContainerSummaryNetworkSettings, ContainerSummaryStateEnum,
    EndpointSettings, HealthStatusEnum, NetworkSettings,
};

use crate::api::{ContainerListOptions, Filters};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::logs::parse_time;

use super::dns_names::dns_names;
use super::etc_files::{HOSTNAME, HOSTS, RESOLV_CONF};
use super::record::{Record, Status};

/// Docker's "never" time.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

impl Engine {
    pub fn inspect_container(&self, name: &str) -> Result<ContainerInspectResponse> {
        let user_networks = self.networks.user_defined_ids();
        let reg = self.registry.lock().expect("registry lock");
        let rec = &reg.get(name)?.record;
        let dir = self.layout.dir(&rec.id);
        let s = &rec.state;
        let status = match s.status {
            Status::Created => ContainerStateStatusEnum::CREATED,
            Status::Running if s.paused => ContainerStateStatusEnum::PAUSED,
            Status::Running => ContainerStateStatusEnum::RUNNING,
            Status::Exited if s.restarting => ContainerStateStatusEnum::RESTARTING,
            Status::Exited => ContainerStateStatusEnum::EXITED,
            Status::Dead => ContainerStateStatusEnum::DEAD,
        };
        let path = |f: &str| Some(dir.join(f).to_string_lossy().into_owned());
        Ok(ContainerInspectResponse {
            id: Some(rec.id.clone()),
            created: Some(rec.created.clone()),
            path: Some(rec.path.clone()),
            args: Some(rec.args.clone()),
            state: Some(ContainerState {
                status: Some(status),
                running: Some(s.status == Status::Running),
                paused: Some(s.paused),
                restarting: Some(s.restarting),
                oom_killed: Some(s.oom_killed),
                dead: Some(s.status == Status::Dead),
                pid: Some(s.pid as i64),
                exit_code: Some(s.exit_code as i64),
                error: Some(s.error.clone()),
                started_at: Some(s.started_at.clone().unwrap_or_else(|| ZERO_TIME.into())),
                finished_at: Some(s.finished_at.clone().unwrap_or_else(|| ZERO_TIME.into())),
                health: s.health.clone(),
            }),
            image: Some(rec.image_id.clone()),
            resolv_conf_path: path(RESOLV_CONF),
            hostname_path: path(HOSTNAME),
            hosts_path: path(HOSTS),
            log_path: Some(self.layout.log(&rec.id).to_string_lossy().into_owned()),
            name: Some(format!("/{}", rec.name)),
            restart_count: Some(rec.restart_count),
            driver: Some("overlayfs".into()),
            platform: Some("linux".into()),
            mount_label: Some(String::new()),
            process_label: Some(String::new()),
            app_armor_profile: Some(String::new()),
            host_config: Some(rec.host_config.clone()),
            mounts: Some(rec.mounts.iter().map(|m| m.model(&self.volumes)).collect()),
            exec_ids: self.exec_ids(&rec.id),
            config: Some(rec.config.clone()),
            network_settings: Some(NetworkSettings {
                sandbox_key: (rec.state.status == Status::Running)
                    .then(|| self.layout.netns(&rec.id).to_string_lossy().into_owned()),
                networks: Some(endpoints(rec, &user_networks)),
                ports: Some(super::ports::port_map(
                    rec.config.exposed_ports.as_deref().unwrap_or_default(),
                    &rec.host_config,
                    &rec.state.ports,
                )),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    pub fn list_containers(&self, opts: ContainerListOptions) -> Result<Vec<ContainerSummary>> {
        let user_networks = self.networks.user_defined_ids();
        let reg = self.registry.lock().expect("registry lock");
        let mut records: Vec<&Record> = reg.by_id.values().map(|e| &e.record).collect();
        records.sort_by(|a, b| b.created.cmp(&a.created));
        let mut out = Vec::new();
        for rec in records {
            let listed = opts.all
                || rec.state.status == Status::Running
                || opts.filters.contains_key("status");
            if listed && matches(rec, &opts.filters)? {
                out.push(summary(rec, &user_networks));
            }
            if opts.limit.is_some_and(|l| l > 0 && out.len() >= l) {
                break;
            }
        }
        Ok(out)
    }
}

fn summary(rec: &Record, user_networks: &HashSet<String>) -> ContainerSummary {
    let state = match rec.state.status {
        Status::Created => ContainerSummaryStateEnum::CREATED,
        Status::Running if rec.state.paused => ContainerSummaryStateEnum::PAUSED,
        Status::Running => ContainerSummaryStateEnum::RUNNING,
        Status::Exited if rec.state.restarting => ContainerSummaryStateEnum::RESTARTING,
        Status::Exited => ContainerSummaryStateEnum::EXITED,
        Status::Dead => ContainerSummaryStateEnum::DEAD,
    };
    let mut command = shell_quote(&rec.path);
    for a in &rec.args {
        command.push(' ');
        command.push_str(&shell_quote(a));
    }
    ContainerSummary {
        id: Some(rec.id.clone()),
        names: Some(vec![format!("/{}", rec.name)]),
        image: Some(rec.image.clone()),
        image_id: Some(rec.image_id.clone()),
        command: Some(command),
        created: Some(unix(&rec.created)),
        ports: Some(super::ports::summaries(&rec.state.ports)),
        labels: rec.config.labels.clone(),
        state: Some(state),
        status: Some(status_text(rec)),
        host_config: Some(ContainerSummaryHostConfig {
            network_mode: Some(super::spec::network_mode(&rec.host_config).to_string()),
            ..Default::default()
        }),
        network_settings: Some(ContainerSummaryNetworkSettings {
            networks: Some(endpoints(rec, user_networks)),
        }),
        mounts: Some(Vec::new()),
        ..Default::default()
    }
}

/// `NetworkSettings.Networks`: the wired endpoints of a running container; for others the
/// networks it asked for, with the addresses empty (as Docker shows a stopped container).
/// On user-defined networks, the names it answers to (`DNSNames`): Docker fills them when
/// it wires the container and keeps them once it stops; none on the default bridge.
fn endpoints(rec: &Record, user_networks: &HashSet<String>) -> HashMap<String, EndpointSettings> {
    let running = rec.state.status == Status::Running;
    let listed = if running {
        &rec.state.endpoints
    } else {
        &rec.networks
    };
    listed
        .iter()
        .map(|(name, ep)| {
            let mut ep = ep.clone();
            if !running {
                ep.endpoint_id = Some(String::new());
                ep.ip_address = Some(String::new());
                ep.ip_prefix_len = Some(0);
                ep.gateway = Some(String::new());
                ep.mac_address.get_or_insert_with(String::new);
            }
            let named = ep
                .network_id
                .as_ref()
                .is_some_and(|id| user_networks.contains(id));
            if named && rec.state.started_at.is_some() {
                ep.dns_names = Some(dns_names(rec, &ep));
            }
            (name.clone(), ep)
        })
        .collect()
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty() && !s.contains([' ', '"', '\'', '\t', '\n']) {
        s.to_string()
    } else {
        format!("{s:?}")
    }
}

fn unix(rfc3339: &str) -> i64 {
    parse_time(rfc3339)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs() as i64)
}

/// "Up 3 seconds", "Exited (0) 2 minutes ago", "Created".
fn status_text(rec: &Record) -> String {
    let s = &rec.state;
    let since = |t: &Option<String>| {
        let t = t
            .as_deref()
            .and_then(parse_time)
            .unwrap_or(SystemTime::now());
        human_duration(
            SystemTime::now()
                .duration_since(t)
                .unwrap_or_default()
                .as_secs(),
        )
    };
    match s.status {
        Status::Created => "Created".into(),
        Status::Running if s.paused => format!("Up {} (Paused)", since(&s.started_at)),
        Status::Running => match s.health.as_ref().and_then(|h| h.status) {
            Some(HealthStatusEnum::STARTING) => {
                format!("Up {} (health: starting)", since(&s.started_at))
            }
            Some(h) => format!("Up {} ({h})", since(&s.started_at)),
            None => format!("Up {}", since(&s.started_at)),
        },
        Status::Exited if s.restarting => {
            format!("Restarting ({}) {} ago", s.exit_code, since(&s.finished_at))
        }
        Status::Exited => format!("Exited ({}) {} ago", s.exit_code, since(&s.finished_at)),
        Status::Dead => "Dead".into(),
    }
}

/// Docker's `units.HumanDuration`.
pub fn human_duration(secs: u64) -> String {
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86400);
    match secs {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        s if s < 60 => format!("{s} seconds"),
        _ if m == 1 => "About a minute".into(),
        _ if m < 60 => format!("{m} minutes"),
        _ if h == 1 => "About an hour".into(),
        _ if h < 48 => format!("{h} hours"),
        _ if d < 14 => format!("{d} days"),
        _ if d < 60 => format!("{} weeks", d / 7),
        _ if d < 730 => format!("{} months", d / 30),
        _ => format!("{} years", d / 365),
    }
}

/// `id`, `name`, `status`, `label`, `exited`, `ancestor`, `health` as `docker ps --filter` has them.
fn matches(rec: &Record, filters: &Filters) -> Result<bool> {
    let labels = rec.config.labels.clone().unwrap_or_default();
    for (key, values) in filters {
        let ok = match key.as_str() {
            "id" => values.iter().any(|v| rec.id.starts_with(v.as_str())),
            "name" => values
                .iter()
                .any(|v| rec.name.contains(v.trim_start_matches('/'))),
            "status" => values.iter().any(|v| {
                if rec.state.paused {
                    v == "paused"
                } else {
                    v == rec.state.status.as_str()
                }
            }),
            "label" => values.iter().all(|v| match v.split_once('=') {
                Some((k, want)) => labels.get(k).is_some_and(|have| have == want),
                None => labels.contains_key(v),
            }),
            "exited" => values.iter().any(|v| {
                rec.state.status == Status::Exited
                    && v.parse::<i32>().ok() == Some(rec.state.exit_code)
            }),
            "ancestor" => values.iter().any(|v| {
                v == &rec.image
                    || rec
                        .image_id
                        .trim_start_matches("sha256:")
                        .starts_with(v.trim_start_matches("sha256:"))
            }),
            "health" => {
                let status = rec.state.health.as_ref().and_then(|h| h.status);
                let have = status.map_or("none".to_string(), |s| s.to_string());
                values.contains(&have)
            }
            other => return Err(Error::InvalidArgument(format!("invalid filter '{other}'"))),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    #[test]
    fn human_durations() {
        assert_eq!(super::human_duration(3), "3 seconds");
        assert_eq!(super::human_duration(61), "About a minute");
        assert_eq!(super::human_duration(7200), "2 hours");
    }
}
