//! The container's init: the cloned child of `create`. It builds the container's world (ids,
//! namespaces, terminal, mounts, hooks, pivot_root, credentials), reports ready, then blocks on
//! the exec fifo until `start`, and becomes the user's program.

use std::fs::File;
use std::os::fd::OwnedFd;

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::channel::{Channel, Failure, Message};
use crate::error::{Error, IoContext, Result, SysContext};
use crate::process::console::Console;
use crate::process::dmz::Dmz;
use crate::process::execute::{self, Program, Seccomp, SeccompLoad};
use crate::process::stdio::Stdio;
use crate::rootfs::{self, RootfsOptions};
use crate::spec::Bundle;
use crate::state::{OciState, Status};
use crate::{hooks, namespaces};

/// Everything the init needs, prepared by `create` before the clone.
pub struct InitConfig<'a> {
    pub id: &'a str,
    pub bundle: &'a Bundle,
    pub channel: Channel,
    /// The exec fifo, open, to wait on for `start`; `None` when the caller starts at once
    /// (`run`).
    pub fifo: Option<OwnedFd>,
    pub joins: &'a [(LinuxNamespaceType, File)],
    pub console_socket: Option<OwnedFd>,
    /// Streams to install as 0, 1, 2; `None` keeps the runtime's own.
    pub stdio: Option<Stdio>,
    pub preserve_fds: u32,
    pub seccomp: Option<&'a Seccomp>,
    pub no_pivot: bool,
    pub dmz: &'a Dmz,
}

/// The init's whole life; never returns.
pub fn run(config: InitConfig) -> ! {
    // Failures before "ready" go over the channel inside `init`; later ones can only be told
    // on the container's stderr.
    super::clone::child_main(|| init(config), |message| eprintln!("berth: {message}"))
}

fn init(config: InitConfig) -> Result<std::convert::Infallible> {
    let InitConfig {
        id,
        bundle,
        channel,
        fifo,
        joins,
        console_socket,
        stdio,
        preserve_fds,
        seccomp,
        no_pivot,
        dmz,
    } = config;
    let spec = &bundle.spec;
    let process = spec.process().as_ref().expect("validated");
    let mut host_pid = 0;
    tracing::debug!("init: cloned");
    let outcome = (|| {
        // Die with the runtime while it still waits for us.
        nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
            .sys(|| "set the parent-death signal".into())?;
        host_pid = own_host_pid()?;
        if namespaces::creates(spec, LinuxNamespaceType::User) {
            channel.expect(Message::Proceed, "waiting for the id maps")?;
        }
        namespaces::join(joins)?;
        if namespaces::has(spec, LinuxNamespaceType::User) {
            become_namespace_root()?;
        }
        namespaces::unshare_own(spec)?;
        nix::unistd::setsid().sys(|| "setsid".into())?;
        if let Some(stdio) = stdio {
            stdio.install()?;
        }
        if namespaces::has(spec, LinuxNamespaceType::Uts) {
            namespaces::set_uts_names(spec)?;
        }
        let options = RootfsOptions {
            rootfs: &bundle.rootfs,
            bundle: &bundle.dir,
            no_pivot,
            in_user_namespace: namespaces::has(spec, LinuxNamespaceType::User),
        };
        tracing::debug!("init: proceeding");
        // Meanwhile the runtime sets up the cgroup; its Continue says the init is in it. The
        // init waits for that as late as it can: before the first step that needs the cgroup.
        let mut joined = false;
        let mut join_cgroup = || -> Result<()> {
            if !joined {
                channel.expect(Message::Continue, "joining the cgroup")?;
                namespaces::enter_cgroup_namespace(spec)?;
                joined = true;
                tracing::debug!("init: cgroup joined");
            }
            Ok(())
        };
        if mounts_cgroupfs_in_new_namespace(spec) {
            join_cgroup()?;
        }
        rootfs::prepare(spec, &options)?;
        tracing::debug!("init: prepared");
        let hooks = spec.hooks().as_ref();
        if has_create_runtime_hooks(spec) || has_create_container_hooks(spec) {
            // Hooks from createRuntime on expect the cgroup made.
            join_cgroup()?;
        }
        let state = |status| hook_state(id, host_pid, bundle, status);
        if has_create_runtime_hooks(spec) {
            channel.send(&Message::RunCreateRuntimeHooks)?;
            channel.expect(Message::Continue, "running createRuntime hooks")?;
        }
        if let Some(list) = hooks.and_then(|h| h.create_container().as_deref()) {
            hooks::run(list, &state(Status::Creating))?;
        }
        rootfs::enter(&options)?;
        // The pty comes from the container's own devpts, so `tty` and ttyname() work inside.
        let console = match (process.terminal().unwrap_or(false), console_socket) {
            (true, Some(socket)) => {
                let console = Console::open(process)?;
                rootfs::bind_console(&console.slave_path)?;
                Some((console, socket))
            }
            _ => None,
        };
        tracing::debug!("init: entered");
        rootfs::finalize(spec)?;
        if let Some((console, socket)) = console {
            console.attach(socket)?;
        }
        tracing::debug!("init: finalized");
        super::fds::close_on_exec_from(preserve_fds)?;
        execute::enter_cwd(process)?;
        join_cgroup()?;
        let personality = spec.linux().as_ref().and_then(|l| l.personality().as_ref());
        let seccomp_load = seccomp.map(|seccomp| SeccompLoad {
            seccomp,
            channel: &channel,
        });
        let later = execute::apply_credentials(process, personality, seccomp_load)?;
        tracing::debug!("init: credentials");
        let program = Program::resolve(process)?;
        Ok((later, program))
    })();
    let (later, program) = match outcome {
        Ok(ready) => ready,
        Err(e) => {
            let _ = channel.send(&Message::Failed(Failure::from(&e)));
            // SAFETY: leaving the forked child; the parent reports the error.
            unsafe { libc::_exit(1) }
        }
    };
    // From here on the container lives on its own: the runtime may exit.
    nix::sys::prctl::set_pdeathsig(None).sys(|| "clear the parent-death signal".into())?;
    channel.send(&Message::Ready)?;
    // The channel and the fifo stay open until the exec closes them (both are close-on-exec):
    // their hangup tells whoever started us that the program now runs, so poststart hooks come
    // after it, as the spec orders.
    if let Some(fifo) = &fifo {
        wait_for_start(fifo)?;
    }
    if let Some(list) = spec
        .hooks()
        .as_ref()
        .and_then(|h| h.start_container().as_deref())
    {
        hooks::run(list, &hook_state(id, host_pid, bundle, Status::Created))?;
    }
    let seccomp_load = seccomp.map(|seccomp| SeccompLoad {
        seccomp,
        channel: &channel,
    });
    program.exec(dmz, seccomp_load, later)
}

/// In the container's user namespace (ours, its maps written, or joined): become its uid/gid 0,
/// for our ids outside are not mapped inside it.
fn become_namespace_root() -> Result<()> {
    nix::unistd::setresgid(0.into(), 0.into(), 0.into())
        .sys(|| "setgid 0 in the user namespace (is gid 0 mapped?)".into())?;
    nix::unistd::setresuid(0.into(), 0.into(), 0.into())
        .sys(|| "setuid 0 in the user namespace (is uid 0 mapped?)".into())
}

/// Blocks until `start` writes its byte into the exec fifo.
fn wait_for_start(fifo: &OwnedFd) -> Result<()> {
    let mut byte = [0u8; 1];
    loop {
        match nix::unistd::read(fifo, &mut byte) {
            Ok(1) => return Ok(()),
            Err(nix::errno::Errno::EINTR) => {}
            Ok(_) => return Err(Error::Init("the exec fifo closed before start".into())),
            Err(e) => return Err(e).sys(|| "read the exec fifo".into()),
        }
    }
}

/// Our pid as the runtime sees it: the /proc mounted now is still the runtime's, so its `self`
/// names us in the runtime's pid namespace (ours, new, would say 1).
fn own_host_pid() -> Result<i32> {
    let link = std::fs::read_link("/proc/self").io(|| "readlink /proc/self".into())?;
    link.to_str()
        .and_then(|pid| pid.parse().ok())
        .ok_or_else(|| Error::Init(format!("/proc/self reads {}", link.display())))
}

/// A cgroupfs mount in a new cgroup namespace must show the container's cgroup: the namespace
/// is made (in its cgroup) before the mounts.
fn mounts_cgroupfs_in_new_namespace(spec: &Spec) -> bool {
    namespaces::creates(spec, LinuxNamespaceType::Cgroup)
        && spec
            .mounts()
            .iter()
            .flatten()
            .any(|m| m.typ().as_deref() == Some("cgroup"))
}

fn has_create_container_hooks(spec: &Spec) -> bool {
    spec.hooks()
        .as_ref()
        .is_some_and(|h| h.create_container().as_ref().is_some_and(|l| !l.is_empty()))
}

pub(crate) fn has_create_runtime_hooks(spec: &Spec) -> bool {
    spec.hooks().as_ref().is_some_and(|h| {
        h.create_runtime().as_ref().is_some_and(|l| !l.is_empty())
            || h.prestart().as_ref().is_some_and(|l| !l.is_empty())
    })
}

pub(crate) fn has_poststart_hooks(spec: &Spec) -> bool {
    spec.hooks()
        .as_ref()
        .is_some_and(|h| h.poststart().as_ref().is_some_and(|l| !l.is_empty()))
}

/// The state given to hooks while the container is being made.
pub(crate) fn hook_state(id: &str, pid: i32, bundle: &Bundle, status: Status) -> OciState {
    OciState {
        oci_version: bundle.spec.version().clone(),
        id: id.to_string(),
        status,
        pid,
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: String::new(),
        owner: String::new(),
        annotations: bundle.spec.annotations().clone().unwrap_or_default(),
    }
}
