//! `exec`: a new process in a running container. The runtime points its pid_for_children at
//! the container's pid namespace, clones once, and the child joins the other namespaces through
//! the init's pidfd, joins the cgroup, takes the same credentials path as the init, and execs.

use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use nix::sched::{CloneFlags, setns};
use oci_spec::runtime::{LinuxNamespaceType, Process};

use super::kill::pidfd_open;
use super::status::{init_alive, load};
use crate::channel::{Channel, Failure, Message};
use crate::error::{Error, IoContext, Result, SysContext};
use crate::namespaces::{flag, proc_name};
use crate::process::clone::{Child, Forked, clone};
use crate::process::console::Console;
use crate::process::dmz::Dmz;
use crate::process::execute::{self, Program};
use crate::process::execute::{Seccomp, SeccompLoad, wait_ready};
use crate::process::stdio::Stdio;
use crate::process::tty_proxy::{self, TtyProxy};
use crate::process::{fds, signals};
use crate::security::{capabilities, rlimits};
use crate::spec::validate_process;
use crate::state::{StateRoot, Status, write_atomic};

/// The `exec` flags of the runc command line, with the process already assembled.
pub struct ExecOptions<'a> {
    pub id: &'a str,
    pub process: Process,
    pub detach: bool,
    pub pid_file: Option<&'a Path>,
    /// Connected console socket (see `process::console::connect`).
    pub console_socket: Option<OwnedFd>,
    pub preserve_fds: u32,
    /// Explicit stdin/stdout/stderr (an engine's exec monitor passes pipes); `None` inherits ours.
    pub stdio: Option<Stdio>,
}

/// Namespaces joined through the pidfd in the child (pid is set up by the parent).
const JOINED: [LinuxNamespaceType; 7] = [
    LinuxNamespaceType::User,
    LinuxNamespaceType::Mount,
    LinuxNamespaceType::Network,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::Uts,
    LinuxNamespaceType::Cgroup,
    LinuxNamespaceType::Time,
];

/// Runs the process; returns its exit code, or 0 at once with `detach`.
pub fn exec(root: &StateRoot, options: ExecOptions) -> Result<i32> {
    let detach = options.detach;
    let (child, proxy) = launch(root, options)?;
    if detach {
        return Ok(0);
    }
    match proxy {
        Some(proxy) => tty_proxy::pump_until_exit(proxy.receive_master()?, child.pid),
        None => signals::forward_until_exit(child.pid),
    }
}

/// Starts the process and hands it back, running, to the caller, who reaps it (an engine's
/// exec monitor). A terminal needs `console_socket`; `detach` is implied.
pub fn spawn(root: &StateRoot, mut options: ExecOptions) -> Result<Child> {
    options.detach = true;
    Ok(launch(root, options)?.0)
}

/// Everything up to the process running its program: the child, and the pty proxy a
/// foreground exec with a terminal and no console socket needs.
fn launch(root: &StateRoot, mut options: ExecOptions) -> Result<(Child, Option<TtyProxy>)> {
    let container = load(root, options.id)?;
    container.require(
        "exec",
        &[Status::Created, Status::Running],
        "created or running",
    )?;
    let spec = container.dir.read_config()?;
    let proxy = TtyProxy::if_needed(
        options.process.terminal().unwrap_or(false),
        options.detach,
        &mut options.console_socket,
    )?;
    let console_socket = options.console_socket.take();
    let stdio = options.stdio.take();
    let process = &options.process;
    validate_process(process)?;
    rlimits::check(process.rlimits().as_deref().unwrap_or(&[]))?;
    if let Some(caps) = process.capabilities() {
        capabilities::validate(caps)?;
    }
    let filter = Seccomp::compile(&spec, Some(&root.seccomp_cache()))?;
    let mut seccomp_state = container.oci_state();
    seccomp_state.status = Status::Running;
    let init_pid = container.record.pid;
    let pidfd = pidfd_open(init_pid)?;
    if !init_alive(&container.record) {
        return Err(Error::NotFound(options.id.to_string()));
    }
    let join_flags = JOINED
        .iter()
        .filter(|kind| differs(init_pid, proc_name(**kind)))
        .fold(CloneFlags::empty(), |acc, kind| acc | flag(*kind));
    let joins_user = join_flags.contains(CloneFlags::CLONE_NEWUSER);
    let cgroup = container.cgroup()?;
    let (parent, child_end) = Channel::pair()?;
    let dmz = Dmz::new()?;
    if !options.detach {
        signals::block()?;
    }
    nix::sys::prctl::set_dumpable(false).sys(|| "make the runtime non-dumpable".into())?;
    let own_pid_ns = differs(init_pid, "pid")
        .then(|| fs::File::open("/proc/self/ns/pid").io(|| "open /proc/self/ns/pid".into()))
        .transpose()?;
    if own_pid_ns.is_some() {
        setns(pidfd.as_fd(), CloneFlags::CLONE_NEWPID)
            .sys(|| "enter the container's pid namespace".into())?;
    }
    let seccomp_load = filter.as_ref().map(|seccomp| SeccompLoad {
        seccomp,
        channel: &child_end,
    });
    let forked = clone(CloneFlags::empty());
    if let Ok(Forked::Child) = forked {
        drop(parent);
        let program = (|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .sys(|| "set the parent-death signal".into())?;
            child_end.expect(Message::Continue, "joining the cgroup")?;
            enter(
                &pidfd,
                join_flags,
                joins_user,
                process,
                console_socket,
                stdio,
                options.preserve_fds,
            )?;
            let personality = spec.linux().as_ref().and_then(|l| l.personality().as_ref());
            let later = execute::apply_credentials(process, personality, seccomp_load)?;
            let program = Program::resolve(process)?;
            nix::sys::prctl::set_pdeathsig(None).sys(|| "clear the parent-death signal".into())?;
            Ok::<_, Error>((later, program))
        })();
        match program {
            Ok((later, program)) => {
                // The channel closes on exec: nothing more goes over it.
                let _ = child_end.send(&Message::Ready);
                program.exec(&dmz, seccomp_load, later)
            }
            Err(e) => {
                let _ = child_end.send(&Message::Failed(Failure::from(&e)));
                // SAFETY: leaving the forked child; the parent reports the error.
                unsafe { libc::_exit(1) }
            }
        }
    }
    if let Some(ns) = &own_pid_ns {
        setns(ns.as_fd(), CloneFlags::CLONE_NEWPID)
            .sys(|| "return to the runtime's pid namespace".into())?;
    }
    let Forked::Parent(child) = forked? else {
        unreachable!("the child never returns")
    };
    drop(child_end);
    let joined = cgroup.add_task(child.pid).map_err(Error::from);
    let ready = joined
        .and_then(|()| parent.send(&Message::Continue))
        .and_then(|()| {
            wait_ready(
                &parent,
                filter.as_ref(),
                &seccomp_state,
                "preparing the exec'd process",
                None,
            )
        });
    if let Err(e) = ready {
        let pid = nix::unistd::Pid::from_raw(child.pid);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(pid, None);
        return Err(e);
    }
    if let Some(pid_file) = options.pid_file {
        write_atomic(pid_file, child.pid.to_string().as_bytes())?;
    }
    Ok((child, proxy))
}

/// In the child: join the namespaces, get a terminal, reach the working directory.
fn enter(
    pidfd: &OwnedFd,
    join_flags: CloneFlags,
    joins_user: bool,
    process: &Process,
    console_socket: Option<OwnedFd>,
    stdio: Option<Stdio>,
    preserve_fds: u32,
) -> Result<()> {
    if !join_flags.is_empty() {
        setns(pidfd.as_fd(), join_flags).sys(|| "join the container's namespaces".into())?;
    }
    if joins_user {
        nix::unistd::setresgid(0.into(), 0.into(), 0.into())
            .and_then(|()| nix::unistd::setresuid(0.into(), 0.into(), 0.into()))
            .sys(|| "become root of the container's user namespace".into())?;
    }
    nix::unistd::setsid().sys(|| "setsid".into())?;
    if let Some(stdio) = stdio {
        stdio.install()?;
    }
    if let Some(socket) = console_socket {
        Console::open(process)?.attach(socket)?;
    }
    fds::close_on_exec_from(preserve_fds)?;
    execute::enter_cwd(process)
}

/// Whether the init's namespace of this kind is not ours.
fn differs(pid: i32, name: &str) -> bool {
    let ours = fs::metadata(format!("/proc/self/ns/{name}")).map(|m| m.ino());
    let theirs = fs::metadata(format!("/proc/{pid}/ns/{name}")).map(|m| m.ino());
    match (ours, theirs) {
        (Ok(a), Ok(b)) => a != b,
        _ => false,
    }
}
