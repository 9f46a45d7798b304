//! The last steps shared by a container's init and an `exec`'d process: limits, credentials,
//! seccomp, the working directory, and the execve of the user's program.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::sys::signal::{SigHandler, Signal, signal};
use nix::unistd::AccessFlags;
use oci_spec::runtime::{LinuxPersonality, LinuxPersonalityDomain, Process};

use std::os::fd::AsFd;

use super::dmz::Dmz;
use crate::channel::{Channel, Message};
use crate::error::{Error, Result, SysContext};
use crate::security::{capabilities, rlimits, seccomp, user};
use crate::state::OciState;

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Enters the working directory and proves it lies inside the container's root: a cwd reached
/// through a leaked host descriptor (`/proc/self/fd/N`) has no path from our root, so getcwd
/// fails, and we refuse (CVE-2024-21626).
pub fn enter_cwd(process: &Process) -> Result<()> {
    let cwd = process.cwd();
    nix::unistd::chdir(cwd).sys(|| format!("chdir to cwd {}", cwd.display()))?;
    match nix::unistd::getcwd() {
        Ok(path) if path.is_absolute() => Ok(()),
        _ => Err(Error::InvalidSpec(format!(
            "cwd {} resolves outside the container's root",
            cwd.display()
        ))),
    }
}

/// A compiled seccomp filter and where the listener fd of its SCMP_ACT_NOTIFY rules goes.
pub struct Seccomp {
    filter: seccomp::SeccompFilter,
    listener: Option<PathBuf>,
    metadata: String,
}

impl Seccomp {
    /// Compiles `linux.seccomp` in the parent, where a bad profile fails before anything runs;
    /// `cache`: where compiled programs are kept (see [`seccomp::compile`]).
    pub fn compile(
        spec: &oci_spec::runtime::Spec,
        cache: Option<&std::path::Path>,
    ) -> Result<Option<Seccomp>> {
        let Some(config) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) else {
            return Ok(None);
        };
        Ok(Some(Seccomp {
            filter: seccomp::compile(config, cache)?,
            listener: config.listener_path().clone(),
            metadata: config.listener_metadata().clone().unwrap_or_default(),
        }))
    }
}

impl Seccomp {
    /// Whether loading may produce a notify fd that must reach a listener: then the filter is
    /// loaded while the runtime still listens on the channel, never after "ready".
    fn notifies(&self) -> bool {
        self.listener.is_some()
    }

    /// Runtime side: hands a notify fd the child sent to the listener at `listenerPath` (a
    /// host path, out of the container's reach after pivot_root) with runc's
    /// container-process-state JSON, so existing seccomp agents understand it.
    pub fn forward_notify_fd(&self, fd: std::os::fd::BorrowedFd, state: &OciState) -> Result<()> {
        let listener = self.listener.as_deref().ok_or_else(|| {
            Error::InvalidSpec("SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath".into())
        })?;
        let message = serde_json::json!({
            "ociVersion": state.oci_version,
            "fds": ["seccompFd"],
            "pid": state.pid,
            "metadata": self.metadata,
            "state": state,
        });
        let bytes = serde_json::to_vec(&message).expect("state serializes");
        seccomp::send_notify_fd(listener, fd, &bytes)
    }
}

/// Runtime side: waits for the child's Ready, serving what it asks for on the way: a seccomp
/// notify fd to forward, and (for a container's init) the createRuntime hooks to run.
pub fn wait_ready(
    channel: &Channel,
    seccomp: Option<&Seccomp>,
    state: &OciState,
    waiting_for: &str,
    run_hooks: Option<&dyn Fn() -> Result<()>>,
) -> Result<()> {
    loop {
        match channel.recv_with_fd()? {
            Some((Message::Ready, _)) => return Ok(()),
            Some((Message::RunCreateRuntimeHooks, _)) if run_hooks.is_some() => {
                run_hooks.expect("checked")()?;
                channel.send(&Message::Continue)?;
            }
            Some((Message::SeccompNotify, Some(fd))) if seccomp.is_some() => {
                seccomp
                    .expect("checked")
                    .forward_notify_fd(fd.as_fd(), state)?;
                channel.send(&Message::Continue)?;
            }
            Some((Message::Failed(failure), _)) => return Err(failure.into()),
            Some((other, _)) => {
                return Err(Error::Init(format!(
                    "unexpected {other:?} while {waiting_for}"
                )));
            }
            None => {
                return Err(Error::Init(format!(
                    "the process exited while {waiting_for}"
                )));
            }
        }
    }
}

/// A filter ready to load, with the channel a notify fd goes back to the runtime on.
#[derive(Clone, Copy)]
pub struct SeccompLoad<'a> {
    pub seccomp: &'a Seccomp,
    pub channel: &'a Channel,
}

impl SeccompLoad<'_> {
    /// Loads the filter; a notify fd goes to the runtime, which forwards it to the listener.
    fn load(self) -> Result<()> {
        let Some(fd) = seccomp::load(&self.seccomp.filter)? else {
            return Ok(());
        };
        self.channel
            .send_with_fd(&Message::SeccompNotify, Some(fd.as_fd()))?;
        self.channel.expect(
            Message::Continue,
            "handing the seccomp notify fd to its listener",
        )
    }
}

/// Whether seccomp must still be loaded right before execve.
#[must_use]
pub struct SeccompLater(bool);

/// rlimits, capabilities, user and no_new_privs, in the order the kernel needs: the bounding set
/// is dropped while we still hold CAP_SETPCAP, the other sets after the uid switch. Without
/// no_new_privs a seccomp filter needs CAP_SYS_ADMIN, so it is loaded before caps go.
pub fn apply_credentials(
    process: &Process,
    personality: Option<&LinuxPersonality>,
    filter: Option<SeccompLoad>,
) -> Result<SeccompLater> {
    rlimits::apply(process.rlimits().as_deref().unwrap_or(&[]))?;
    set_personality(personality)?;
    let no_new_privs = process.no_new_privileges().unwrap_or(false);
    if let (Some(filter), false) = (filter, no_new_privs) {
        filter.load()?;
    }
    let caps = process.capabilities().as_ref();
    capabilities::drop_bounding(caps)?;
    user::switch(process.user())?;
    capabilities::apply(caps)?;
    if no_new_privs {
        nix::sys::prctl::set_no_new_privs().sys(|| "set no_new_privs".into())?;
    }
    // A filter with a listener is loaded now, while the runtime is still there to take its fd.
    let notify_now = no_new_privs && filter.is_some_and(|f| f.seccomp.notifies());
    if let (Some(filter), true) = (filter, notify_now) {
        filter.load()?;
    }
    Ok(SeccompLater(
        no_new_privs && filter.is_some() && !notify_now,
    ))
}

/// `linux.personality`: LINUX32 makes `uname -m` report a 32-bit machine, as `setarch` does.
fn set_personality(personality: Option<&LinuxPersonality>) -> Result<()> {
    let Some(p) = personality else { return Ok(()) };
    let persona = match p.domain() {
        LinuxPersonalityDomain::PerLinux => nix::sys::personality::Persona::empty(),
        LinuxPersonalityDomain::PerLinux32 => {
            nix::sys::personality::Persona::from_bits_retain(0x0008)
        }
    };
    nix::sys::personality::set(persona)
        .map(drop)
        .sys(|| format!("set personality {:?}", p.domain()))
}

/// A program found and checked before we report ready, so "not found" fails `create` with
/// Docker's wording instead of a container that dies at `start`.
pub struct Program {
    path: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
}

impl Program {
    pub fn resolve(process: &Process) -> Result<Program> {
        let args = process.args().as_deref().unwrap_or(&[]);
        let env = process.env().as_deref().unwrap_or(&[]);
        let name = args
            .first()
            .ok_or_else(|| Error::InvalidSpec("process.args is empty".into()))?;
        let path = find_executable(name, env)?;
        Ok(Program {
            path: cstring(path.as_os_str().as_bytes())?,
            argv: args
                .iter()
                .map(|a| cstring(a.as_bytes()))
                .collect::<Result<_>>()?,
            envp: env
                .iter()
                .map(|e| cstring(e.as_bytes()))
                .collect::<Result<_>>()?,
        })
    }

    /// Loads seccomp if still due, restores default signal dispositions (ignored ones survive
    /// execve), and runs the program. Only returns by exiting.
    pub fn exec(self, dmz: &Dmz, filter: Option<SeccompLoad>, later: SeccompLater) -> ! {
        if let (Some(filter), SeccompLater(true)) = (filter, later)
            && let Err(e) = filter.load()
        {
            die(126, &format!("load seccomp filter: {e}"));
        }
        for sig in Signal::iterator() {
            if !matches!(sig, Signal::SIGKILL | Signal::SIGSTOP) {
                // SAFETY: restoring the default disposition installs no handler code.
                let _ = unsafe { signal(sig, SigHandler::SigDfl) };
            }
        }
        let errno = dmz.exec(&self.path, &self.argv, &self.envp);
        let code = if errno == nix::errno::Errno::ENOENT {
            127
        } else {
            126
        };
        die(
            code,
            &format!("exec {}: {}", self.path.to_string_lossy(), errno.desc()),
        )
    }
}

fn die(code: i32, message: &str) -> ! {
    eprintln!("berth: {message}");
    // SAFETY: leaving the forked child without running the parent's destructors.
    unsafe { libc::_exit(code) }
}

fn cstring(bytes: &[u8]) -> Result<CString> {
    CString::new(bytes).map_err(|_| {
        Error::InvalidSpec(format!(
            "{:?} contains a NUL byte",
            String::from_utf8_lossy(bytes)
        ))
    })
}

/// PATH lookup with the container's environment, as execvp would do it in the container.
fn find_executable(name: &str, env: &[String]) -> Result<PathBuf> {
    if name.contains('/') {
        let path = PathBuf::from(name);
        return check_executable(&path).map(|()| path);
    }
    let search = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    let mut denied = None;
    for dir in search.split(':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join(name);
        match check_executable(&candidate) {
            Ok(()) => return Ok(candidate),
            Err(e @ Error::ExecDenied(_)) => denied = denied.or(Some(e)),
            Err(_) => {}
        }
    }
    Err(denied.unwrap_or_else(|| {
        Error::ExecNotFound(format!(
            "exec: \"{name}\": executable file not found in $PATH"
        ))
    }))
}

fn check_executable(path: &Path) -> Result<()> {
    let meta = std::fs::metadata(path)
        .map_err(|e| Error::ExecNotFound(format!("exec: \"{}\": {e}", path.display())))?;
    if meta.is_dir() {
        return Err(Error::ExecDenied(format!(
            "exec: \"{}\": is a directory",
            path.display()
        )));
    }
    nix::unistd::access(path, AccessFlags::X_OK).map_err(|e| {
        Error::ExecDenied(format!(
            "exec: \"{}\": permission denied ({e})",
            path.display()
        ))
    })
}
