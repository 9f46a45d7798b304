//! `create`: check everything that can be checked, claim the id, clone the init into its
//! namespaces, put it in its cgroup, and return once it waits for `start`. Any failure undoes
//! what was done: no state entry, cgroup or process is left behind.

use std::os::fd::OwnedFd;
use std::path::Path;

use berth_cgroups::CgroupManager;
use nix::sys::stat::Mode;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use super::{abandoned, cgroup};
use crate::channel::{Channel, Message};
use crate::error::{Error, Result, SysContext};
use crate::process::clone::{Child, Forked, clone};
use crate::process::dmz::Dmz;
use crate::process::execute::{Seccomp, wait_ready};
use crate::process::init::{
    self, InitConfig, has_create_runtime_hooks, has_poststart_hooks, hook_state,
};
use crate::process::stdio::Stdio;
use crate::rootfs::{self, RootfsOptions};
use crate::security::{capabilities, rlimits};
use crate::spec::Bundle;
use crate::state::{
    ContainerDir, OciState, Record, StateRoot, Status, now_rfc3339, process_start_time,
};
use crate::{hooks, namespaces};

/// The `create` flags of the runc command line.
#[derive(Debug)]
pub struct CreateOptions<'a> {
    pub id: &'a str,
    pub bundle: &'a Path,
    pub pid_file: Option<&'a Path>,
    /// Connected console socket (see `process::console::connect`).
    pub console_socket: Option<OwnedFd>,
    /// The container's stdin/stdout/stderr; `None` means the caller's own.
    pub stdio: Option<Stdio>,
    pub no_pivot: bool,
    /// No exec fifo: the program runs as soon as setup is done (`run` starts at once).
    pub start_at_once: bool,
    pub preserve_fds: u32,
}

/// Creates the container; returns its init (our child) for callers that wait on it (`run`).
pub fn create(root: &StateRoot, options: CreateOptions) -> Result<Child> {
    let bundle = Bundle::load(options.bundle)?;
    create_from(root, options, &bundle)
}

/// `create` for a bundle already loaded.
pub fn create_from(root: &StateRoot, options: CreateOptions, bundle: &Bundle) -> Result<Child> {
    tracing::debug!("create: start");
    let spec = &bundle.spec;
    check_before_clone(spec, options.console_socket.is_some())?;
    let filter = Seccomp::compile(spec, Some(&root.seccomp_cache()))?;
    let rootfs_options = RootfsOptions {
        rootfs: &bundle.rootfs,
        bundle: &bundle.dir,
        no_pivot: options.no_pivot,
        in_user_namespace: namespaces::has(spec, LinuxNamespaceType::User),
    };
    rootfs::validate(spec, &rootfs_options)?;
    let joins = namespaces::open_joins(spec)?;
    let console_socket = options.console_socket;
    let stdio = options.stdio;

    tracing::debug!("create: checked");
    let dir = match root.claim(options.id) {
        Err(Error::Exists(_)) if let Some(stale) = root.abandoned(options.id) => {
            abandoned::clean(&stale, options.id)?;
            root.claim(options.id)?
        }
        claimed => claimed?,
    };
    let mut undo = Undo {
        dir: Some(dir.clone()),
        child: None,
        cgroup: None,
    };
    let fifo = (!options.start_at_once)
        .then(|| make_exec_fifo(&dir.fifo_path()))
        .transpose()?;
    let (parent, child_end) = Channel::pair()?;
    let dmz = Dmz::new()?;
    // The init must not be readable through /proc by the container's processes while it is
    // still the runtime's code (CVE-2019-5736).
    nix::sys::prctl::set_dumpable(false).sys(|| "make the runtime non-dumpable".into())?;

    tracing::debug!("create: cloning");
    let for_children = namespaces::ForChildren::enter(spec, &joins)?;
    let forked = clone(namespaces::clone_flags(spec));
    let forked = match forked {
        Ok(Forked::Child) => {
            drop(parent);
            init::run(InitConfig {
                id: options.id,
                bundle,
                channel: child_end,
                fifo,
                joins: &joins,
                console_socket,
                stdio,
                preserve_fds: options.preserve_fds,
                seccomp: filter.as_ref(),
                no_pivot: options.no_pivot,
                dmz: &dmz,
            })
        }
        other => other,
    };
    for_children.leave()?;
    let Forked::Parent(child) = forked? else {
        unreachable!("the child never returns from init::run")
    };
    drop(child_end);
    drop(fifo);
    drop(console_socket);
    drop(stdio);
    undo.child = Some(child.pid);
    // What the init does not need is done while it makes its namespaces.
    dir.write_config(spec)?;
    let cgroups_path = cgroup::path_for(spec, options.id);
    let placement = berth_cgroups::placement(&cgroups_path)?;
    let manager = undo.cgroup.insert(placement.manager());
    // Read now, while the init surely lives (it waits for us): with start_at_once it may have
    // run and exited by the time the record is written.
    let pid_start_time = process_start_time(child.pid)
        .ok_or_else(|| Error::Init("the container's init exited during create".into()))?;

    write_oom_score_adj(child.pid, spec)?;
    // The child mounts its root filesystem while we set up its cgroup: it waits for our
    // Continue before it forks a hook or gets near the user's program. In a user namespace of
    // its own it first waits for its id maps.
    if namespaces::creates(spec, LinuxNamespaceType::User) {
        namespaces::write_id_maps(child.pid, spec)?;
        tracing::debug!("create: proceed");
        parent.send(&Message::Proceed)?;
    }
    // Limits first, then the move: the child (which may be creating device nodes right now)
    // goes from the unrestricted parent cgroup to a fully configured one, never through a
    // half-written device list.
    let joined = (|| {
        if let Some(resources) = cgroup::resources_for(spec) {
            manager.apply(&resources)?;
        }
        tracing::debug!("create: cgroup applied");
        manager.add_task(child.pid)?;
        tracing::debug!("create: cgroup joined");
        parent.send(&Message::Continue)
    })();
    // The init builds its rootfs meanwhile; if that failed, its reason beats ours (a write of
    // its pid to a cgroup it has left, a Continue it can no longer read).
    joined.map_err(|e| parent.reported_failure().unwrap_or(e))?;
    let state = hook_state(options.id, child.pid, bundle, Status::Creating);
    wait_until_ready(&parent, spec, filter.as_ref(), &state)?;
    if options.start_at_once && has_poststart_hooks(spec) {
        // EOF: the init ran its startContainer hooks and exec'd (or died trying); poststart
        // hooks may run now.
        while parent.recv()?.is_some() {}
    }

    tracing::debug!("create: child ready");
    let record = Record {
        id: options.id.to_string(),
        pid: child.pid,
        pid_start_time,
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: now_rfc3339(),
        cgroups_path,
        cgroup: Some(placement),
        annotations: spec.annotations().clone().unwrap_or_default(),
        owner: String::new(),
    };
    dir.write_record(&record)?;
    if let Some(pid_file) = options.pid_file {
        crate::state::write_atomic(pid_file, child.pid.to_string().as_bytes())?;
    }
    undo.disarm();
    Ok(child)
}

/// Makes the exec fifo and opens it for the init, which blocks reading it until `start` writes
/// its byte. Read-write, so the open neither blocks nor leaves the init a reader without a writer
/// (whose reads would end at once); made here, by the runtime's user, so the init needs no
/// permission on it whatever user it becomes. Owner-only: only the runtime's user starts it.
fn make_exec_fifo(path: &Path) -> Result<OwnedFd> {
    let mode = Mode::from_bits_truncate(0o600);
    nix::unistd::mkfifo(path, mode).sys(|| format!("mkfifo {}", path.display()))?;
    nix::fcntl::open(
        path,
        nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .sys(|| format!("open {}", path.display()))
}

/// Checks that need the host (rlimits, capabilities known to this kernel) before anything exists.
fn check_before_clone(spec: &Spec, has_console_socket: bool) -> Result<()> {
    if !namespaces::has(spec, LinuxNamespaceType::Mount) {
        return Err(Error::InvalidSpec(
            "linux.namespaces must include a mount namespace".into(),
        ));
    }
    let process = spec.process().as_ref().expect("validated");
    if process.terminal().unwrap_or(false) && !has_console_socket {
        return Err(Error::InvalidSpec(
            "process.terminal is true: create needs --console-socket to hand the pty to (only a foreground run or exec keeps it itself)".into(),
        ));
    }
    rlimits::check(process.rlimits().as_deref().unwrap_or(&[]))?;
    if let Some(caps) = process.capabilities() {
        capabilities::validate(caps)?;
    }
    Ok(())
}

/// Serves the init's requests (createRuntime hooks, a seccomp notify fd) until it is ready.
fn wait_until_ready(
    channel: &Channel,
    spec: &Spec,
    filter: Option<&Seccomp>,
    state: &OciState,
) -> Result<()> {
    let run_hooks = || {
        let hooks = spec.hooks().as_ref().expect("checked");
        hooks::run(hooks.prestart().as_deref().unwrap_or(&[]), state)?;
        hooks::run(hooks.create_runtime().as_deref().unwrap_or(&[]), state)
    };
    let hooks: Option<&dyn Fn() -> Result<()>> =
        has_create_runtime_hooks(spec).then_some(&run_hooks);
    wait_ready(channel, filter, state, "setting up the container", hooks)
}

fn write_oom_score_adj(pid: i32, spec: &Spec) -> Result<()> {
    let Some(adj) = spec.process().as_ref().and_then(|p| p.oom_score_adj()) else {
        return Ok(());
    };
    let path = format!("/proc/{pid}/oom_score_adj");
    std::fs::write(&path, adj.to_string()).map_err(|e| {
        if matches!(e.raw_os_error(), Some(libc::EACCES | libc::EPERM)) {
            Error::InvalidSpec(format!(
                "process.oomScoreAdj {adj}: lowering the OOM score needs CAP_SYS_RESOURCE, which this runtime does not have"
            ))
        } else {
            Error::Io {
                context: format!("write {path}"),
                source: e,
            }
        }
    })
}

/// Undoes a half-made container when create fails.
struct Undo {
    dir: Option<ContainerDir>,
    child: Option<i32>,
    cgroup: Option<Box<dyn CgroupManager>>,
}

impl Undo {
    fn disarm(mut self) {
        self.dir = None;
        self.child = None;
        self.cgroup = None;
    }
}

impl Drop for Undo {
    fn drop(&mut self) {
        if let Some(pid) = self.child {
            let pid = nix::unistd::Pid::from_raw(pid);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
        }
        if let Some(cgroup) = &self.cgroup {
            let _ = cgroup.remove();
        }
        if let Some(dir) = &self.dir {
            let _ = dir.remove();
        }
    }
}
