//! `POST /containers/create`: the image's config merged under the request's, a name, and a
//! durable record. Nothing runs until start.

use bollard_stubs::models::{
    ContainerConfig, ContainerCreateBody, ContainerCreateResponse, HostConfig,
};

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::logs::format_timestamp;

use super::record::{Record, State};
use super::spec::check_supported;
use super::{mounts, names};

impl Engine {
    pub fn create_container(
        &self,
        name: Option<&str>,
        body: ContainerCreateBody,
    ) -> Result<ContainerCreateResponse> {
        let image_name = body
            .image
            .clone()
            .filter(|i| !i.is_empty())
            .ok_or_else(|| Error::InvalidArgument("config.Image must be set".into()))?;
        let image = self.images.resolve(&image_name)?;
        let mut host_config = body.host_config.clone().unwrap_or_default();
        check_supported(&host_config)?;
        super::restart::validate(&host_config)?;
        super::resources::validate(&host_config)?;
        super::security::resolve(&host_config)?;
        super::security::devices(&host_config)?;
        super::namespaces::validate(
            &host_config,
            body.hostname.as_deref().is_some_and(|h| !h.is_empty()),
        )?;
        if host_config.init == Some(true) {
            super::init::binary()?;
        }
        apply_host_defaults(&mut host_config);
        for h in host_config.extra_hosts.iter().flatten() {
            super::network::parse_extra_host(h)?;
        }
        let networks = self.plan_networks(&host_config, body.networking_config.as_ref())?;
        let id = random_id();
        let mut config = container_config(body);
        config.healthcheck =
            super::health::merge(config.healthcheck.take(), self.images.healthcheck(&image));
        super::health::validate(config.healthcheck.as_ref())?;
        let defaults = image.config.config().clone().unwrap_or_default();
        let entrypoint = match &config.entrypoint {
            // `--entrypoint ""` resets it, and with it the image's CMD.
            Some(e) if e.len() == 1 && e[0].is_empty() => Vec::new(),
            Some(e) => e.clone(),
            None => defaults.entrypoint().clone().unwrap_or_default(),
        };
        let cmd = match &config.cmd {
            Some(c) if !c.is_empty() => c.clone(),
            _ if config.entrypoint.is_some() => Vec::new(),
            _ => defaults.cmd().clone().unwrap_or_default(),
        };
        let mut argv: Vec<String> = entrypoint.iter().chain(cmd.iter()).cloned().collect();
        if argv.is_empty() {
            return Err(Error::InvalidArgument("no command specified".into()));
        }
        let path = argv.remove(0);
        config.entrypoint = (!entrypoint.is_empty()).then_some(entrypoint);
        config.cmd = (!cmd.is_empty()).then_some(cmd);
        let mut env = defaults.env().clone().unwrap_or_default();
        for kv in config.env.take().unwrap_or_default() {
            let key = kv.split('=').next().unwrap_or_default().to_string();
            env.retain(|e| e.split('=').next() != Some(key.as_str()));
            env.push(kv);
        }
        config.env = Some(env);
        if config.working_dir.as_deref().is_none_or(str::is_empty) {
            config.working_dir = defaults.working_dir().clone();
        }
        if config.user.as_deref().is_none_or(str::is_empty) {
            config.user = defaults.user().clone();
        }
        if config.stop_signal.is_none() {
            config.stop_signal = defaults.stop_signal().clone();
        }
        let mut labels = defaults.labels().clone().unwrap_or_default();
        labels.extend(config.labels.take().unwrap_or_default());
        config.labels = Some(labels);
        if config.hostname.as_deref().is_none_or(str::is_empty) {
            let host_uts = super::namespaces::uts_mode(&host_config) == "host";
            config.hostname = Some(if host_network(&host_config) || host_uts {
                nix::unistd::gethostname()
                    .map(|h| h.to_string_lossy().into_owned())
                    .unwrap_or_default()
            } else {
                id[..12].to_string()
            });
        }
        let mut exposed = defaults.exposed_ports().clone().unwrap_or_default();
        for p in config.exposed_ports.take().unwrap_or_default() {
            if !exposed.contains(&p) {
                exposed.push(p);
            }
        }
        let ports = super::ports::requests(&host_config, &exposed)?;
        let mode = super::spec::network_mode(&host_config);
        if !ports.is_empty() && (mode == "host" || mode == "none" || mode.starts_with("container:"))
        {
            return Err(Error::InvalidArgument(format!(
                "conflicting options: port publishing and the network mode {mode:?}"
            )));
        }
        config.exposed_ports = (!exposed.is_empty()).then_some(exposed);
        config.image = Some(image_name.clone());
        // The image's VOLUMEs join `-v /path`'s, as inspect shows them in Config.Volumes.
        for v in defaults.volumes().iter().flatten() {
            let vols = config.volumes.get_or_insert_with(Default::default);
            if !vols.contains(v) {
                vols.push(v.clone());
            }
        }
        let mounts = mounts::plan(&host_config, &config, &self.volumes, &|from| {
            let reg = self.registry.lock().expect("registry lock");
            Ok(reg.get(from)?.record.mounts.clone())
        })?;
        let mut registry = self.registry.lock().expect("registry lock");
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => match free_name(&registry, n) {
                Ok(n) => n,
                Err(e) => {
                    drop(registry);
                    self.remove_anonymous_volumes(&mounts);
                    return Err(e);
                }
            },
            None => (0..)
                .map(|attempt| names::generate(random_u64(), attempt))
                .find(|n| !registry.names.contains_key(n))
                .expect("a free name"),
        };
        let mut record = Record {
            id: id.clone(),
            name,
            created: format_timestamp(std::time::SystemTime::now()),
            image: image_name,
            image_id: image.id.to_string(),
            path,
            args: argv,
            config,
            host_config,
            networks,
            state: State::default(),
            restart_count: 0,
            mounts,
            seq: 0,
        };
        // The name is taken and the entry busy while its directory is written outside the
        // lock: concurrent creates must not queue behind each other's fsyncs.
        registry.insert(record.clone());
        registry.by_id.get_mut(&id).expect("inserted").busy = true;
        drop(registry);
        let made = record.create_dir(&self.layout.records);
        let mut registry = self.registry.lock().expect("registry lock");
        if let Err(e) = made {
            if let Some(entry) = registry.by_id.remove(&id) {
                registry.names.remove(&entry.record.name);
            }
            drop(registry);
            self.remove_anonymous_volumes(&record.mounts);
            return Err(e);
        }
        if let Some(entry) = registry.by_id.get_mut(&id) {
            entry.busy = false;
            entry.record.seq = record.seq;
        }
        drop(registry);
        self.container_event(&id, "create", &[]);
        Ok(ContainerCreateResponse {
            id,
            warnings: Vec::new(),
        })
    }
}

/// A requested name, valid and not taken.
fn free_name(registry: &super::Registry, n: &str) -> Result<String> {
    let n = names::validate(n)?;
    if let Some(other) = registry.names.get(&n) {
        return Err(Error::Conflict(format!(
            "Conflict. The container name \"/{n}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
        )));
    }
    Ok(n)
}

/// What Docker fills in and clients (docker-py) rely on: the log driver and the network mode.
fn apply_host_defaults(hc: &mut HostConfig) {
    let log = hc.log_config.get_or_insert_with(Default::default);
    if log.typ.as_deref().is_none_or(str::is_empty) {
        log.typ = Some("json-file".into());
    }
    log.config.get_or_insert_with(Default::default);
    if matches!(
        hc.network_mode.as_deref(),
        None | Some("") | Some("default")
    ) {
        hc.network_mode = Some("bridge".into());
    }
}

pub(crate) fn host_network(hc: &HostConfig) -> bool {
    super::spec::network_mode(hc) == "host"
}

/// The `Config` half of the create body.
fn container_config(b: ContainerCreateBody) -> ContainerConfig {
    ContainerConfig {
        hostname: b.hostname,
        domainname: b.domainname,
        user: b.user,
        attach_stdin: b.attach_stdin,
        attach_stdout: b.attach_stdout,
        attach_stderr: b.attach_stderr,
        exposed_ports: b.exposed_ports,
        tty: b.tty,
        open_stdin: b.open_stdin,
        stdin_once: b.stdin_once,
        env: b.env,
        cmd: b.cmd,
        healthcheck: b.healthcheck,
        args_escaped: b.args_escaped,
        image: b.image,
        volumes: b.volumes,
        working_dir: b.working_dir,
        entrypoint: b.entrypoint,
        network_disabled: b.network_disabled,
        on_build: b.on_build,
        labels: b.labels,
        stop_signal: b.stop_signal,
        stop_timeout: b.stop_timeout,
        shell: b.shell,
    }
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    let mut filled = 0;
    while filled < N {
        // SAFETY: writes at most the remaining length into our buffer.
        let n = unsafe { libc::getrandom(buf[filled..].as_mut_ptr().cast(), N - filled, 0) };
        if n > 0 {
            filled += n as usize;
        }
    }
    buf
}

pub(crate) fn random_id() -> String {
    hex::encode(random_bytes::<32>())
}

fn random_u64() -> u64 {
    u64::from_le_bytes(random_bytes::<8>())
}
