//! The engine: one value the API layer holds, with a method per Docker operation.
//!
//! Methods that only read or write metadata are synchronous and quick; the ones that wait on a
//! container (start, stop, attach) are `async`. `import_image` reads its tarball synchronously:
//! call it from a blocking task.

use std::io::Read;
use std::sync::{Arc, Mutex, Weak};

use bollard_stubs::models::{
    ImageDeleteResponseItem, ImageInspect, ImageSummary, SystemInfo, SystemVersion,
    SystemVersionComponents, SystemVersionPlatform,
};

use crate::api::{
    EngineConfig, ImageListOptions, ImportRequest, LoginRequest, PullRequest, PushRequest,
};
use crate::containers::record::{PARTIAL_PREFIX, REMOVING_PREFIX, Record, Status};
use crate::containers::{Layout, Registry};
use crate::error::{Error, Result};
use crate::events::{EventType, Events, EventsOptions, Subscription};
use crate::images::Images;
use crate::networks::{DnsServers, Networks};
use crate::volumes::Volumes;

/// The Engine API version served.
pub const API_VERSION: &str = "1.50";
/// The oldest API version accepted.
pub const MIN_API_VERSION: &str = "1.24";

/// The container manager.
pub struct Engine {
    pub(crate) config: EngineConfig,
    pub(crate) images: Images,
    pub(crate) volumes: Volumes,
    pub(crate) registry: Mutex<Registry>,
    /// Exec records (never held with `registry`).
    pub(crate) execs: Mutex<crate::containers::exec::Execs>,
    /// The event log: `self.events.emit(EventType::CONTAINER, "start", &id, &attrs)`.
    pub(crate) events: Arc<Events>,
    pub(crate) layout: Layout,
    pub(crate) cgroup_v2: bool,
    pub(crate) networks: Networks,
    pub(crate) dns: DnsServers,
    /// Digests of local build contexts' files, kept between builds.
    pub(crate) build_digests: crate::build::digests::FileDigests,
    /// Network namespaces made ahead of container starts.
    pub(crate) netns_spares: Arc<crate::containers::netns::Spares>,
    pub(crate) me: Weak<Engine>,
}

impl Engine {
    /// Opens (creating) the data and exec roots and re-adopts the containers a previous daemon
    /// left running. Must be called inside a tokio runtime.
    pub fn open(config: EngineConfig) -> Result<Arc<Engine>> {
        let layout = Layout::new(&config.data_root, &config.exec_root);
        for dir in [
            &layout.records,
            &layout.bundles,
            &layout.netns,
            &layout.runtime_root,
        ] {
            std::fs::create_dir_all(dir).map_err(|e| Error::internal(dir.display(), e))?;
        }
        let images = Images::open(&config.data_root)?;
        let events = Arc::new(Events::default());
        let volumes = Volumes::open(&config.data_root, events.clone())?;
        let registry = load_records(&layout)?;
        let networks = Networks::open(&config.data_root, &config.network)?;
        // A host without nftables (or netlink trouble) must not keep the daemon from serving:
        // containers without networks still run, and wiring one reports the error itself.
        if let Err(e) = networks.reconcile(&running_ids(&registry)) {
            tracing::warn!("reconciling networks: {e}");
        }
        remove_leftover_layers(&layout);
        crate::containers::exec::remove_stale_exits(&layout);
        let cgroup_v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        let engine = Arc::new_cyclic(|me| Engine {
            config,
            images,
            volumes,
            registry: Mutex::new(registry),
            execs: Mutex::default(),
            events,
            layout,
            cgroup_v2,
            networks,
            dns: DnsServers::default(),
            netns_spares: Arc::default(),
            build_digests: Default::default(),
            me: me.clone(),
        });
        engine.republish();
        let exited = engine.readopt();
        engine.restart_at_boot(&exited);
        Ok(engine)
    }

    /// On a graceful daemon stop: running containers stay up under their monitors; the
    /// zygote exits once its last monitor has (a new daemon starts a new one).
    pub fn shutdown(&self) {
        let running = running_ids(&self.registry.lock().expect("registry lock"));
        self.networks.shutdown(&running);
        if let Err(e) = crate::monitor::shutdown_zygote(&self.layout.zygote) {
            tracing::debug!("zygote shutdown: {e}");
        }
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// `GET /version`.
    pub fn version(&self) -> SystemVersion {
        let version = env!("CARGO_PKG_VERSION").to_string();
        let kernel = kernel_release();
        let arch = go_arch().to_string();
        SystemVersion {
            platform: Some(SystemVersionPlatform {
                name: "berth".into(),
            }),
            components: Some(vec![SystemVersionComponents {
                name: "Engine".into(),
                version: version.clone(),
                details: None,
            }]),
            version: Some(version),
            api_version: Some(API_VERSION.into()),
            min_api_version: Some(MIN_API_VERSION.into()),
            git_commit: Some(String::new()),
            go_version: Some("n/a (Rust)".into()),
            os: Some("linux".into()),
            arch: Some(arch),
            kernel_version: Some(kernel),
            experimental: Some(false),
            build_time: Some(String::new()),
        }
    }

    /// `GET /info`.
    pub fn info(&self) -> SystemInfo {
        let (total, running, paused) = {
            let reg = self.registry.lock().expect("registry lock");
            let running = reg.by_id.values().filter(|e| e.running()).count() as i64;
            let paused = reg
                .by_id
                .values()
                .filter(|e| e.running() && e.record.state.paused)
                .count() as i64;
            (reg.by_id.len() as i64, running - paused, paused)
        };
        let images = self
            .images
            .list(&ImageListOptions::default(), &|_| -1)
            .map_or(0, |l| l.len() as i64);
        let host = nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default();
        SystemInfo {
            id: Some(host.clone()),
            containers: Some(total),
            containers_running: Some(running),
            containers_paused: Some(paused),
            containers_stopped: Some(total - running - paused),
            images: Some(images),
            driver: Some("overlayfs".into()),
            docker_root_dir: Some(self.config.data_root.to_string_lossy().into_owned()),
            logging_driver: Some("json-file".into()),
            cgroup_driver: Some(bollard_stubs::models::SystemInfoCgroupDriverEnum::CGROUPFS),
            cgroup_version: Some(if self.cgroup_v2 {
                bollard_stubs::models::SystemInfoCgroupVersionEnum::_2
            } else {
                bollard_stubs::models::SystemInfoCgroupVersionEnum::_1
            }),
            kernel_version: Some(kernel_release()),
            operating_system: Some(os_name()),
            os_type: Some("linux".into()),
            architecture: Some(std::env::consts::ARCH.into()),
            ncpu: Some(std::thread::available_parallelism().map_or(1, |n| n.get() as i64)),
            mem_total: Some(mem_total()),
            name: Some(host),
            server_version: Some(env!("CARGO_PKG_VERSION").into()),
            warnings: Some(Vec::new()),
            ..Default::default()
        }
    }

    /// Imports a root filesystem tarball (plain, gzip or zstd) as a one-layer image; returns
    /// the image id (`sha256:...`). Blocking.
    pub fn import_image(&self, src: &mut dyn Read, req: ImportRequest) -> Result<String> {
        let id = self.images.import(src, req)?;
        self.events.emit(EventType::IMAGE, "import", &id, &[]);
        Ok(id)
    }

    /// Pulls an image from its registry, sending Docker's progress messages to `emit`.
    /// Blocking.
    pub fn pull_image(
        &self,
        req: &PullRequest,
        emit: &(dyn Fn(serde_json::Value) + Sync),
    ) -> Result<String> {
        let id = self
            .images
            .pull(req, &self.config.insecure_registries, emit)?;
        let name = req.image.as_str();
        self.events
            .emit(EventType::IMAGE, "pull", name, &[("name", name)]);
        Ok(id)
    }

    /// Pushes an image (one tag, or all of the repository's) to its registry, sending
    /// Docker's progress messages to `emit`. Blocking.
    pub fn push_image(
        &self,
        req: &PushRequest,
        emit: &(dyn Fn(serde_json::Value) + Sync),
    ) -> Result<()> {
        self.images
            .push(req, &self.config.insecure_registries, emit)
    }

    /// `POST /auth`: checks the credentials against the registry. Blocking.
    pub fn login(&self, req: &LoginRequest) -> Result<()> {
        crate::images::login(req, &self.config.insecure_registries)
    }

    pub fn list_images(&self, opts: ImageListOptions) -> Result<Vec<ImageSummary>> {
        let counts = self.image_users();
        self.images.list(&opts, &|id| {
            counts.iter().filter(|(i, _, _)| i == id).count() as i64
        })
    }

    pub fn inspect_image(&self, name: &str) -> Result<ImageInspect> {
        self.images.inspect(name)
    }

    /// `POST /images/{name}/tag?repo=&tag=`.
    pub fn tag_image(&self, name: &str, repo: &str, tag: Option<&str>) -> Result<()> {
        self.images.tag(name, repo, tag)?;
        let id = self
            .images
            .resolve(name)
            .map(|i| i.id.to_string())
            .unwrap_or_default();
        let full = format!(
            "{repo}:{}",
            tag.filter(|t| !t.is_empty()).unwrap_or("latest")
        );
        self.events
            .emit(EventType::IMAGE, "tag", &id, &[("name", full.as_str())]);
        Ok(())
    }

    pub fn remove_image(
        &self,
        name: &str,
        force: bool,
        _noprune: bool,
    ) -> Result<Vec<ImageDeleteResponseItem>> {
        let users = self.image_users();
        let items = self.images.remove(name, force, &|id| {
            let mut using = users.iter().filter(|(i, _, _)| i == id);
            let first = using.clone().next().map(|(_, c, _)| c.clone());
            first.map(|c| (c, using.any(|(_, _, running)| *running)))
        })?;
        for item in &items {
            if let Some(untagged) = &item.untagged {
                self.events
                    .emit(EventType::IMAGE, "untag", untagged, &[("name", untagged)]);
            }
            if let Some(deleted) = &item.deleted {
                self.events
                    .emit(EventType::IMAGE, "delete", deleted, &[("name", name)]);
            }
        }
        Ok(items)
    }

    /// `GET /events`: past events since `opts.since`, then live ones, filtered.
    pub fn subscribe_events(&self, opts: EventsOptions) -> Result<Subscription> {
        self.events.subscribe(opts)
    }

    /// (image id, container id, running) for every container.
    pub(crate) fn image_users(&self) -> Vec<(String, String, bool)> {
        let reg = self.registry.lock().expect("registry lock");
        reg.by_id
            .values()
            .map(|e| (e.record.image_id.clone(), e.record.id.clone(), e.running()))
            .collect()
    }
}

/// Reads every container record; drops directories a crash left half-written.
fn load_records(layout: &Layout) -> Result<Registry> {
    let mut registry = Registry::default();
    let dir = &layout.records;
    for e in std::fs::read_dir(dir).map_err(|e| Error::internal(dir.display(), e))? {
        let e = e.map_err(|e| Error::internal(dir.display(), e))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(PARTIAL_PREFIX) || name.starts_with(REMOVING_PREFIX) {
            let _ = std::fs::remove_dir_all(e.path());
            continue;
        }
        match Record::load(&e.path()) {
            Ok(mut rec) => {
                if rec.state.status != Status::Running {
                    rec.state.monitor = None;
                }
                registry.insert(rec);
            }
            Err(err) => tracing::warn!("skipping container {name}: {err}"),
        }
    }
    Ok(registry)
}

/// The ids of the containers recorded as running.
fn running_ids(reg: &Registry) -> std::collections::HashSet<String> {
    reg.by_id
        .values()
        .filter(|e| e.record.state.status == Status::Running)
        .map(|e| e.record.id.clone())
        .collect()
}

/// Writable layers of containers whose removal a crash interrupted.
fn remove_leftover_layers(layout: &Layout) {
    for e in std::fs::read_dir(&layout.layers)
        .into_iter()
        .flatten()
        .flatten()
    {
        if e.file_name().to_string_lossy().starts_with(REMOVING_PREFIX) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

fn kernel_release() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn os_name() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("PRETTY_NAME=")
                    .map(|v| v.trim_matches('"').to_string())
            })
        })
        .unwrap_or_else(|| "Linux".into())
}

pub(crate) fn mem_total() -> i64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<i64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}
