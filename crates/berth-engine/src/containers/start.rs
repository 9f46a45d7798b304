//! `POST /containers/{id}/start`: mount the root, write the bundle, have the zygote fork a
//! monitor that creates the container, connect the attaches made beforehand, then start it.

use std::collections::BTreeMap;
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::Arc;
use std::thread::ScopedJoinHandle;

use berth_runtime::state::process_start_time;
use bollard_stubs::models::EndpointSettings;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::logs::{LogOptions, format_timestamp};
use crate::monitor::{self, SpawnErrorKind, SpawnRequest};

use super::network::NetnsPlan;
use super::record::{MonitorRef, Record, Status};
use super::spec::{SpecPaths, build};
use super::{Layout, PendingAttach, etc_files, mounts, namespaces, netns, user};

/// A namespace's wiring: the networks with their addresses, the interface number of each,
/// the ports published.
#[derive(Default)]
struct Wired {
    endpoints: BTreeMap<String, EndpointSettings>,
    slots: BTreeMap<String, usize>,
    published: Vec<crate::networks::Published>,
}

/// What a successful spawn hands back to the async half.
struct Started {
    monitor: MonitorRef,
    init_pid: i32,
    pidfd: OwnedFd,
    /// The networks wired, with their addresses.
    endpoints: BTreeMap<String, EndpointSettings>,
    slots: BTreeMap<String, usize>,
    published: Vec<crate::networks::Published>,
}

impl Engine {
    pub async fn start_container(&self, name: &str) -> Result<()> {
        let (record, resumed) = {
            let mut reg = self.registry.lock().expect("registry lock");
            let entry = reg.get_mut(name)?;
            if entry.running() {
                return Err(Error::NotModified("container already started".into()));
            }
            if entry.busy {
                return Err(Error::Conflict(format!(
                    "container {} is being started, stopped or removed",
                    entry.record.name
                )));
            }
            entry.busy = true;
            // An explicit start (or one by the policy) puts the restart policy back in force.
            let resumed = std::mem::take(&mut entry.record.state.manually_stopped);
            entry.record.state.restarting = false;
            entry.backoff.started();
            (entry.record.clone(), resumed)
        };
        let id = record.id.clone();
        let me = self.arc();
        let spawned = tokio::task::spawn_blocking({
            let me = me.clone();
            move || me.spawn_monitor(&record)
        })
        .await
        .unwrap_or_else(|e| Err(Error::internal("start", e).into()));
        let started = match spawned {
            Ok(s) => s,
            Err(failure) => {
                self.start_failed(&id, &failure).await;
                return Err(failure.error);
            }
        };
        let pending = {
            let mut reg = self.registry.lock().expect("registry lock");
            std::mem::take(&mut reg.get_mut(&id)?.pending)
        };
        let socket = self.layout.socket(&id);
        let go = tokio::task::spawn_blocking(move || {
            for p in pending {
                connect_pending(&socket, p);
            }
            monitor::start(&socket)
        })
        .await
        .map_err(|e| Error::internal("start", e))?;
        if let Err(e) = go {
            let _ = berth_runtime::container::delete(
                &berth_runtime::state::StateRoot::new(&self.layout.runtime_root),
                &id,
                true,
            );
            let e = Error::Internal(format!("starting the container: {e}"));
            self.watch_monitor(id, started.pidfd);
            return Err(e);
        }
        {
            let mut reg = self.registry.lock().expect("registry lock");
            let entry = reg.get_mut(&id)?;
            let s = &mut entry.record.state;
            s.status = Status::Running;
            s.pid = started.init_pid;
            s.started_at = Some(format_timestamp(std::time::SystemTime::now()));
            s.finished_at = None;
            s.exit_code = 0;
            s.oom_killed = false;
            s.error.clear();
            s.monitor = Some(started.monitor);
            s.endpoints = started.endpoints;
            s.slots = started.slots;
            s.ports = started.published;
            s.health = super::health::initial_health(
                super::health::Probe::of(&entry.record.config).as_ref(),
                s.health.take(),
            );
            entry.busy = false;
            // The user's decision to start again is durable; the rest is process state.
            let dir = self.layout.dir(&id);
            if resumed {
                entry.record.save(&dir)?;
            } else {
                entry.record.save_state(&dir)?;
            }
        }
        tracing::debug!(id, "start: running");
        self.announce_wiring(&id);
        self.container_event(&id, "start", &[]);
        self.watch_health(&id);
        self.watch_monitor(id, started.pidfd);
        Ok(())
    }

    /// Everything blocking of a start, up to a created container under its monitor.
    fn spawn_monitor(&self, rec: &Record) -> std::result::Result<Started, StartFailure> {
        let id = &rec.id;
        let l = &self.layout;
        let t = std::time::Instant::now();
        let phase = |what: &str| tracing::debug!(id, "start: {what} at {:?}", t.elapsed());
        let image = self.images.resolve(&rec.image_id)?;
        phase("image resolved");
        let rootfs = l.rootfs(id);
        let mut wired = Wired::default();
        let result = std::thread::scope(|scope| {
            let plan = self.netns_plan(rec)?;
            let own = matches!(plan, NetnsPlan::Own);
            let dir = l.dir(id);
            let (ns, etc_dir) = match plan {
                NetnsPlan::Host => (None, dir.clone()),
                NetnsPlan::Joined { netns, etc_dir } => (Some(netns), etc_dir),
                NetnsPlan::Own => {
                    std::fs::create_dir_all(&l.netns)
                        .map_err(|e| Error::internal(l.netns.display(), e))?;
                    (Some(self.netns_spares.pin(&l.netns(id))?), dir.clone())
                }
            };
            // A namespace of its own is wired on a thread of its own: the root's mount, the
            // spec and the monitor's creation of the container (which needs the namespace
            // pinned, not wired) go on meanwhile; all meet before `start` runs the program.
            // The resolver it may start serves on the daemon's runtime, entered there.
            let runtime = tokio::runtime::Handle::current();
            let wiring = own.then(|| {
                let ns = ns.clone().expect("an own namespace is pinned");
                scope.spawn(move || {
                    let _in_runtime = runtime.enter();
                    self.wire_own_netns(rec, &ns)
                })
            });
            let mut join_wiring = |wiring: Option<ScopedJoinHandle<'_, (Wired, Result<()>)>>| {
                let Some(handle) = wiring else { return Ok(()) };
                let res;
                (wired, res) = handle.join().unwrap_or_else(|_| {
                    let e = Error::Internal("the network setup panicked".into());
                    (Wired::default(), Err(e))
                });
                res
            };
            let bundle = self
                .write_bundle(rec, &image, &rootfs, ns.as_deref(), &etc_dir)
                .and_then(|bundle| {
                    if etc_dir == dir {
                        match &wiring {
                            // Its addresses are not known yet: the files are written, in place,
                            // once it is wired; the runtime's bind mounts need them to exist.
                            Some(_) => etc_files::ensure_exist(&dir)?,
                            None => self.write_etc_files(rec, &dir, &BTreeMap::new())?,
                        }
                    }
                    Ok(bundle)
                });
            let bundle = match bundle {
                Ok(bundle) => bundle,
                Err(e) => {
                    // What the wiring made must come back to be undone.
                    let _ = join_wiring(wiring);
                    return Err(e.into());
                }
            };
            phase("bundle written");
            let _ = std::fs::remove_file(l.exit_file(id));
            let req = SpawnRequest {
                id: id.clone(),
                bundle,
                state_root: l.runtime_root.clone(),
                log: l.log(id),
                log_options: LogOptions::default(),
                exit_file: l.exit_file(id),
                socket: l.socket(id),
                tty: rec.tty(),
                open_stdin: rec.config.open_stdin.unwrap_or(false),
                stdin_once: rec.config.stdin_once.unwrap_or(false),
                // Docker's [height, width], so that the first output already has the size.
                console_size: match rec.host_config.console_size.as_deref() {
                    Some(&[h, w]) if h > 0 && w > 0 => Some((
                        h.min(u16::MAX as usize) as u16,
                        w.min(u16::MAX as usize) as u16,
                    )),
                    _ => None,
                },
            };
            let spawned = monitor::spawn(&l.zygote, &self.config.berth_binary, &req);
            phase("created under its monitor");
            let had_wiring = wiring.is_some();
            let networked = join_wiring(wiring);
            let spawned = spawned.map_err(spawn_error)?;
            // An own namespace's /etc files are the container's own (etc_dir is dir).
            let networked = networked.and_then(|()| match had_wiring {
                true => self.write_etc_files(rec, &dir, &wired.endpoints),
                false => Ok(()),
            });
            if let Err(e) = networked {
                abandon(l, id, spawned.monitor_pid);
                return Err(e.into());
            }
            phase("netns wired");
            let pidfd = pidfd_open(spawned.monitor_pid)?;
            let start_time = process_start_time(spawned.monitor_pid).unwrap_or(0);
            Ok(Started {
                monitor: MonitorRef {
                    pid: spawned.monitor_pid,
                    start_time,
                },
                init_pid: spawned.init_pid,
                pidfd,
                endpoints: std::mem::take(&mut wired.endpoints),
                slots: std::mem::take(&mut wired.slots),
                published: std::mem::take(&mut wired.published),
            })
        });
        if result.is_err() {
            self.networks
                .detach_veths(id, wired.slots.values().copied());
            release_resources(l, id, &rootfs);
            self.networks.release_owner(id);
            self.stop_dns(id);
        }
        result
    }

    /// Wires the container's own namespace at `ns` into its networks, publishes its ports and
    /// starts its resolver; what was made so far comes back even on failure, to be undone.
    fn wire_own_netns(&self, rec: &Record, ns: &std::path::Path) -> (Wired, Result<()>) {
        let mut wired = Wired::default();
        let res = (|| {
            (wired.endpoints, wired.slots) = self.wire_networks(rec, ns)?;
            wired.published = self.publish_ports(rec, &wired.endpoints, &wired.slots)?;
            self.start_dns_for(rec, ns, &wired.endpoints)
        })();
        (wired, res)
    }

    /// Mounts the container's root and writes its runtime bundle (the spec naming the
    /// namespace at `netns` and the /etc files in `etc_dir`); returns the bundle directory.
    fn write_bundle(
        &self,
        rec: &Record,
        image: &berth_image::Image,
        rootfs: &std::path::Path,
        netns: Option<&std::path::Path>,
        etc_dir: &std::path::Path,
    ) -> Result<std::path::PathBuf> {
        let id = &rec.id;
        let mount = self
            .images
            .snapshots()
            .prepare_container(id, &image.chain_ids()?)?;
        mount_overlay(rootfs, &mount)?;
        if let Some(dir) = rec.config.working_dir.as_deref() {
            make_workdir(rootfs, dir)?;
        }
        let mounts = mounts::prepare(&rec.mounts, &self.volumes, rootfs)?;
        let mut user = user::resolve(rootfs, rec.config.user.as_deref().unwrap_or(""))?;
        for gid in user::resolve_groups(
            rootfs,
            rec.host_config.group_add.as_deref().unwrap_or_default(),
        )? {
            if !user.additional_gids.contains(&gid) {
                user.additional_gids.push(gid);
            }
        }
        let namespaces = namespaces::parse(&rec.host_config, &|other| self.running_pid(other))?;
        let bundle = self.layout.bundle(id);
        std::fs::create_dir_all(&bundle).map_err(|e| Error::internal(bundle.display(), e))?;
        let spec = build(
            rec,
            &user,
            &SpecPaths {
                rootfs,
                etc_dir,
                netns,
                cgroup_v2: self.cgroup_v2,
                mounts: &mounts,
                namespaces: &namespaces,
            },
        )?;
        spec.save(bundle.join("config.json"))
            .map_err(|e| Error::internal("write the runtime spec", e))?;
        Ok(bundle)
    }

    /// A start that failed before the container ran: recorded like Docker (the error and
    /// an exit code of 127/126/128), attaches ended, waiters told, `--rm` honoured.
    async fn start_failed(&self, id: &str, failure: &StartFailure) {
        let (e, code) = (&failure.error, failure.exit_code);
        let auto_remove = {
            let mut reg = self.registry.lock().expect("registry lock");
            let Ok(entry) = reg.get_mut(id) else { return };
            entry.busy = false;
            entry.pending.clear();
            entry.record.state.error = e.to_string();
            entry.record.state.exit_code = code;
            let _ = entry.record.save_state(&self.layout.dir(id));
            super::notify(&mut entry.waiters, code, false);
            entry.record.auto_remove()
        };
        if auto_remove {
            let _ = self.remove_container(id, true, false).await;
        }
    }

    /// The init pid of a running container, for `container:NAME` namespace modes.
    fn running_pid(&self, name: &str) -> Result<i32> {
        let reg = self.registry.lock().expect("registry lock");
        let entry = reg.get(name)?;
        if !entry.running() {
            return Err(Error::Conflict(format!(
                "cannot join the namespaces of container {name}: it is not running"
            )));
        }
        Ok(entry.record.state.pid)
    }

    pub(crate) fn arc(&self) -> Arc<Engine> {
        self.me.upgrade().expect("the engine is alive while used")
    }
}

/// Hands a pending attach its monitor connection and splices the two.
fn connect_pending(socket: &std::path::Path, p: PendingAttach) {
    let o = p.opts;
    match monitor::attach(socket, o.stdin, o.stdout, o.stderr) {
        Ok(conn) => {
            let spliced = conn
                .set_nonblocking(true)
                .and_then(|()| tokio::net::UnixStream::from_std(conn));
            match spliced {
                Ok(mut conn) => {
                    let mut end = p.end;
                    tokio::spawn(async move {
                        let _ = tokio::io::copy_bidirectional(&mut end, &mut conn).await;
                    });
                }
                Err(e) => tracing::warn!("attach: {e}"),
            }
        }
        Err(e) => tracing::warn!("attach to the monitor: {e}"),
    }
}

/// A start that failed, with the exit code Docker records for it: 127/126 for a program that
/// is missing or not executable (as the monitor classified it), 128 for anything else.
struct StartFailure {
    error: Error,
    exit_code: i32,
}

impl<E: Into<Error>> From<E> for StartFailure {
    fn from(error: E) -> StartFailure {
        StartFailure {
            error: error.into(),
            exit_code: 128,
        }
    }
}

fn spawn_error(e: monitor::Error) -> StartFailure {
    match e {
        monitor::Error::Spawn { kind, message } => {
            let message = format!("failed to create task for container: {message}");
            let error = match kind {
                SpawnErrorKind::NotFound | SpawnErrorKind::Denied => {
                    Error::InvalidArgument(message)
                }
                SpawnErrorKind::Other => Error::Internal(message),
            };
            let exit_code = match kind {
                SpawnErrorKind::Other => 128,
                k => k.exit_code(),
            };
            StartFailure { error, exit_code }
        }
        e => Error::internal("monitor", e).into(),
    }
}

fn mount_overlay(target: &std::path::Path, spec: &berth_image::MountSpec) -> Result<()> {
    std::fs::create_dir_all(target).map_err(|e| Error::internal(target.display(), e))?;
    if is_mountpoint(target) {
        return Ok(());
    }
    super::overlay::mount(spec, target)
}

/// The working directory is made in the root when the image lacks it (root-owned, 0755), as
/// Docker does; resolved inside the root, so a symlink cannot lead it out.
fn make_workdir(rootfs: &std::path::Path, dir: &str) -> Result<()> {
    if dir.is_empty() || dir == "/" {
        return Ok(());
    }
    let root = std::fs::File::open(rootfs).map_err(|e| Error::internal(rootfs.display(), e))?;
    berth_runtime::rootfs::mkdir_all_in_root(
        std::os::fd::AsFd::as_fd(&root),
        std::path::Path::new(dir),
        nix::sys::stat::Mode::from_bits_truncate(0o755),
    )
    .map(drop)
    .map_err(|e| Error::InvalidArgument(format!("working directory {dir}: {e}")))
}

fn is_mountpoint(p: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(p), p.parent().map(std::fs::metadata)) {
        (Ok(a), Some(Ok(b))) => a.dev() != b.dev(),
        _ => false,
    }
}

/// Undoes what a start set up on the host: the root mount, the network namespace, the bundle.
/// Takes back a container whose monitor created it but which cannot start (its network
/// failed): the runtime kills its init, and the monitor, left without a container, is waited
/// for (briefly) so that nothing of it outlives the failed start.
fn abandon(l: &Layout, id: &str, monitor_pid: i32) {
    let root = berth_runtime::state::StateRoot::new(&l.runtime_root);
    let _ = berth_runtime::container::delete(&root, id, true);
    if let Ok(pidfd) = pidfd_open(monitor_pid) {
        let mut pfd = libc::pollfd {
            fd: std::os::fd::AsRawFd::as_raw_fd(&pidfd),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd on a descriptor we own.
        unsafe { libc::poll(&mut pfd, 1, 2000) };
    }
}

pub(crate) fn release_resources(l: &Layout, id: &str, rootfs: &std::path::Path) {
    let _ = nix::mount::umount2(rootfs, nix::mount::MntFlags::MNT_DETACH);
    netns::remove(&l.netns(id));
    let _ = std::fs::remove_dir_all(l.bundle(id));
}

pub(crate) fn pidfd_open(pid: i32) -> Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(Error::internal(
            format!("pidfd_open {pid}"),
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}
