//! `docker exec`: `POST /containers/{id}/exec` records the request, `POST /exec/{id}/start` has
//! the zygote fork an exec monitor that runs it in the container (see [`crate::monitor`]) and
//! hands back the monitor's connection as the attach stream, `GET /exec/{id}/json` reports it,
//! `POST /exec/{id}/resize` sizes its terminal. Exec records live in memory, as Docker's do.

use std::collections::HashMap;
use std::os::fd::OwnedFd;

use bollard_stubs::models::{ExecConfig, ExecInspectResponse, ProcessConfig};
use oci_spec::runtime::Process;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::api::{AttachStream, ExecStartOptions, ExecStarted};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::logs::{Stream, encode_frame};
use crate::monitor::{self, ExecRequest, ExitRecord, SpawnErrorKind};

use super::create::random_id;
use super::start::pidfd_open;
use super::user;

/// Exec records by id.
pub(crate) type Execs = HashMap<String, ExecEntry>;

/// One exec: what was asked, and how far it got.
pub(crate) struct ExecEntry {
    container_id: String,
    config: ExecConfig,
    started: bool,
    running: bool,
    pid: i32,
    exit_code: Option<i32>,
}

fn no_such_exec(id: &str) -> Error {
    Error::NotFound(format!("No such exec instance: {id}"))
}

fn not_running(id: &str) -> Error {
    Error::Conflict(format!("container {id} is not running"))
}

impl Engine {
    /// `POST /containers/{id}/exec`: checks and records the request; nothing runs yet.
    pub fn create_exec(&self, name: &str, config: ExecConfig) -> Result<String> {
        if config.cmd.as_ref().is_none_or(Vec::is_empty) {
            return Err(Error::InvalidArgument("No exec command specified".into()));
        }
        detach_keys(&config)?;
        let container_id = {
            let reg = self.registry.lock().expect("registry lock");
            let entry = reg.get(name)?;
            if !entry.running() {
                return Err(not_running(&entry.record.id));
            }
            if entry.record.state.paused {
                return Err(Error::Conflict(format!(
                    "Container {} is paused, unpause the container before exec",
                    entry.record.id
                )));
            }
            entry.record.id.clone()
        };
        let id = random_id();
        let live: std::collections::HashSet<String> = {
            let reg = self.registry.lock().expect("registry lock");
            reg.by_id
                .values()
                .filter(|e| e.running())
                .map(|e| e.record.id.clone())
                .collect()
        };
        let action = format!(
            "exec_create: {}",
            config.cmd.as_deref().unwrap_or_default().join(" ")
        );
        self.container_event(&container_id, &action, &[("execID", &id)]);
        let mut execs = self.execs.lock().expect("exec lock");
        // Execs of containers that stopped or are gone are of no more use (Docker drops them
        // when the container stops).
        execs.retain(|_, e| live.contains(&e.container_id));
        execs.insert(
            id.clone(),
            ExecEntry {
                container_id,
                config,
                started: false,
                running: false,
                pid: 0,
                exit_code: None,
            },
        );
        Ok(id)
    }

    /// The ids of a container's execs (`ExecIDs` in its inspect), or `None`.
    pub(crate) fn exec_ids(&self, container_id: &str) -> Option<Vec<String>> {
        let execs = self.execs.lock().expect("exec lock");
        let ids: Vec<String> = execs
            .iter()
            .filter(|(_, e)| e.container_id == container_id && e.running)
            .map(|(id, _)| id.clone())
            .collect();
        (!ids.is_empty()).then_some(ids)
    }

    /// `POST /exec/{id}/start`. Detached, it returns once the process runs. Attached, it
    /// returns the stream and the launch to run once the client's connection is upgraded:
    /// Docker starts the process after its `101` is out, and a client that reads the response
    /// head through a buffer (docker-py) would lose output that came with it. A program that
    /// is missing or cannot run is reported on the stream (exit code 127/126), as Docker does.
    pub async fn start_exec(&self, exec_id: &str, opts: ExecStartOptions) -> Result<ExecStarted> {
        let (container_id, mut config) = {
            let mut execs = self.execs.lock().expect("exec lock");
            let e = execs
                .get_mut(exec_id)
                .ok_or_else(|| no_such_exec(exec_id))?;
            if e.started {
                return Err(Error::Conflict(format!(
                    "Exec command {exec_id} has already run"
                )));
            }
            e.started = true;
            (e.container_id.clone(), e.config.clone())
        };
        if self.running_id(&container_id).is_err() {
            return Err(not_running(&container_id));
        }
        if opts.detach {
            config.attach_stdin = Some(false);
            config.attach_stdout = Some(false);
            config.attach_stderr = Some(false);
        }
        if opts.console_size.is_some() {
            config.console_size = opts.console_size.clone();
        }
        let tty = config.tty.unwrap_or(false);
        let req = self.exec_request(exec_id, &container_id, &config);
        if opts.detach {
            let req = req.inspect_err(|_| self.exec_ended(exec_id, 126))?;
            self.spawn_exec_monitor(exec_id, &config, req)
                .await
                .map_err(|(_, message)| Error::InvalidArgument(message))?;
            return Ok(ExecStarted::Detached);
        }
        let (ours, theirs) =
            tokio::net::UnixStream::pair().map_err(|e| Error::internal("exec stream", e))?;
        let me = self.arc();
        let exec_id = exec_id.to_string();
        let launch = async move {
            let conn = match req {
                Ok(req) => me.spawn_exec_monitor(&exec_id, &config, req).await,
                Err(e) => {
                    me.exec_ended(&exec_id, 126);
                    Err((126, e.to_string()))
                }
            };
            match conn {
                Ok(conn) => relay(ours, conn).await,
                Err((_, message)) => write_failure(ours, tty, &message).await,
            }
        };
        Ok(ExecStarted::Attached {
            stream: AttachStream {
                tty,
                stream: theirs,
            },
            launch: Box::pin(launch),
        })
    }

    /// Has the zygote fork the exec monitor; the connection carries the attach bytes. A
    /// failure is recorded as the exec's exit, with Docker's code and message.
    async fn spawn_exec_monitor(
        &self,
        exec_id: &str,
        config: &ExecConfig,
        req: ExecRequest,
    ) -> std::result::Result<std::os::unix::net::UnixStream, (i32, String)> {
        let container_id = req.container_id.clone();
        let zygote = self.layout.zygote.clone();
        let binary = self.config.berth_binary.clone();
        let spawned = tokio::task::spawn_blocking(move || monitor::exec(&zygote, &binary, &req))
            .await
            .unwrap_or_else(|e| Err(monitor::Error::Protocol(e.to_string())));
        let (spawned, conn) = match spawned {
            Ok(s) => s,
            Err(e) => {
                // Docker's classes: 127 for a missing program, 126 for anything else the
                // runtime refused (not executable, a bad working directory, ...).
                let code = match &e {
                    monitor::Error::Spawn {
                        kind: SpawnErrorKind::NotFound,
                        ..
                    } => 127,
                    _ => 126,
                };
                self.exec_ended(exec_id, code);
                return Err((code, format!("OCI runtime exec failed: {e}")));
            }
        };
        {
            let mut execs = self.execs.lock().expect("exec lock");
            if let Some(e) = execs.get_mut(exec_id) {
                e.running = true;
                e.pid = spawned.init_pid;
            }
        }
        let action = format!(
            "exec_start: {}",
            config.cmd.as_deref().unwrap_or_default().join(" ")
        );
        self.container_event(&container_id, &action, &[("execID", exec_id)]);
        self.watch_exec(exec_id.to_string(), pidfd_open(spawned.monitor_pid).ok());
        Ok(conn)
    }

    /// Drops the record of an exec that has ended (health probes leave none behind, as
    /// Docker's); false while it still runs.
    pub(crate) fn forget_exec(&self, exec_id: &str) -> bool {
        let mut execs = self.execs.lock().expect("exec lock");
        if execs.get(exec_id).is_some_and(|e| e.running) {
            return false;
        }
        execs.remove(exec_id);
        true
    }

    /// `GET /exec/{id}/json`.
    pub fn inspect_exec(&self, exec_id: &str) -> Result<ExecInspectResponse> {
        self.collect_exec_exit(exec_id);
        let execs = self.execs.lock().expect("exec lock");
        let e = execs.get(exec_id).ok_or_else(|| no_such_exec(exec_id))?;
        let c = &e.config;
        let mut args = c.cmd.clone().unwrap_or_default();
        let entrypoint = if args.is_empty() {
            String::new()
        } else {
            args.remove(0)
        };
        Ok(ExecInspectResponse {
            can_remove: Some(false),
            detach_keys: Some(c.detach_keys.clone().unwrap_or_default()),
            id: Some(exec_id.to_string()),
            running: Some(e.running),
            exit_code: e.exit_code.map(i64::from),
            process_config: Some(ProcessConfig {
                privileged: Some(c.privileged.unwrap_or(false)),
                user: Some(c.user.clone().unwrap_or_default()),
                tty: Some(c.tty.unwrap_or(false)),
                entrypoint: Some(entrypoint),
                arguments: Some(args),
            }),
            open_stdin: Some(c.attach_stdin.unwrap_or(false)),
            open_stderr: Some(c.attach_stderr.unwrap_or(false)),
            open_stdout: Some(c.attach_stdout.unwrap_or(false)),
            container_id: Some(e.container_id.clone()),
            pid: Some(i64::from(e.pid)),
        })
    }

    /// `POST /exec/{id}/resize`.
    pub async fn resize_exec(&self, exec_id: &str, height: u16, width: u16) -> Result<()> {
        {
            let execs = self.execs.lock().expect("exec lock");
            let e = execs.get(exec_id).ok_or_else(|| no_such_exec(exec_id))?;
            if !e.running {
                return Err(Error::Conflict(format!("exec {exec_id} is not running")));
            }
            if e.config.tty != Some(true) {
                return Err(Error::Conflict(format!("exec {exec_id} has no terminal")));
            }
        }
        let socket = self.exec_socket(exec_id);
        tokio::task::spawn_blocking(move || monitor::resize(&socket, height, width))
            .await
            .map_err(|e| Error::internal("resize", e))?
            .map_err(|e| Error::internal("resize the exec's terminal", e))
    }

    /// The process with the container's own security settings (capabilities, seccomp,
    /// no_new_privs, rlimits) and the exec's command, environment, directory and user.
    fn exec_request(
        &self,
        exec_id: &str,
        container_id: &str,
        config: &ExecConfig,
    ) -> Result<ExecRequest> {
        let bundle = self.layout.bundle(container_id);
        let mut process =
            spec_process(&bundle.join("config.json")).ok_or_else(|| not_running(container_id))?;
        process.set_args(config.cmd.clone());
        process.set_env(Some(merge_env(
            process.env().as_deref().unwrap_or(&[]),
            config.env.as_deref().unwrap_or(&[]),
        )));
        if let Some(dir) = config.working_dir.as_deref().filter(|d| !d.is_empty()) {
            if !dir.starts_with('/') {
                return Err(Error::InvalidArgument(format!(
                    "the working directory '{dir}' is invalid, it needs to be an absolute path"
                )));
            }
            process.set_cwd(dir.into());
        }
        if let Some(spec_user) = config.user.as_deref().filter(|u| !u.is_empty()) {
            let resolved = user::resolve(&self.layout.rootfs(container_id), spec_user)?;
            let u = process.user_mut();
            u.set_uid(resolved.uid);
            u.set_gid(resolved.gid);
            u.set_additional_gids(
                (!resolved.additional_gids.is_empty()).then_some(resolved.additional_gids),
            );
        }
        if config.privileged == Some(true) {
            // Docker's privileged exec: every capability we hold (the container's seccomp stays).
            let all = berth_runtime::security::capabilities::all_held()
                .map_err(|e| Error::internal("list the kernel's capabilities", e))?;
            process.set_capabilities(Some(
                oci_spec::runtime::LinuxCapabilitiesBuilder::default()
                    .bounding(all.clone())
                    .effective(all.clone())
                    .permitted(all)
                    .build()
                    .map_err(|e| Error::internal("capabilities", e))?,
            ));
        }
        let tty = config.tty.unwrap_or(false);
        process.set_terminal(Some(tty));
        // The runtime sizes the pty before the program runs (a size set afterwards could come
        // too late for its first look).
        process.set_console_size(match config.console_size.as_deref() {
            Some(&[h, w]) if tty && h > 0 && w > 0 => Some(
                oci_spec::runtime::BoxBuilder::default()
                    .height(h.min(u16::MAX as usize) as u64)
                    .width(w.min(u16::MAX as usize) as u64)
                    .build()
                    .map_err(|e| Error::internal("console size", e))?,
            ),
            _ => None,
        });
        let attach = |f: Option<bool>| f.unwrap_or(false);
        std::fs::create_dir_all(&self.layout.execs)
            .map_err(|e| Error::internal(self.layout.execs.display(), e))?;
        Ok(ExecRequest {
            container_id: container_id.to_string(),
            state_root: self.layout.runtime_root.clone(),
            process,
            attach_stdin: attach(config.attach_stdin),
            attach_stdout: attach(config.attach_stdout),
            attach_stderr: attach(config.attach_stderr),
            exit_file: self.exec_exit_file(exec_id),
            socket: tty.then(|| self.exec_socket(exec_id)),
            detach_keys: detach_keys(config)?,
        })
    }

    fn exec_exit_file(&self, exec_id: &str) -> std::path::PathBuf {
        self.layout.execs.join(format!("{exec_id}.exit"))
    }

    fn exec_socket(&self, exec_id: &str) -> std::path::PathBuf {
        self.layout.execs.join(format!("{exec_id}.sock"))
    }

    /// Waits (in a task) for the exec monitor to exit, then records the exit code.
    fn watch_exec(&self, exec_id: String, pidfd: Option<OwnedFd>) {
        let me = self.arc();
        tokio::spawn(async move {
            if let Some(pidfd) = pidfd
                // SAFETY: the AsyncFd owns the pidfd, which lives until it is dropped.
                && let Ok(fd) = unsafe { AsyncFd::register_with_interest(pidfd, Interest::READABLE) }
            {
                let _ = fd.readable().await;
            }
            if !me.collect_exec_exit(&exec_id) {
                // The monitor died without a record.
                me.exec_ended(&exec_id, 255);
            }
        });
    }

    /// Reads the exit record of a running exec if the monitor has written it; true if the exec
    /// has ended (now or before). Under the lock, so that two readers cannot race on the file.
    fn collect_exec_exit(&self, exec_id: &str) -> bool {
        let path = self.exec_exit_file(exec_id);
        let died = {
            let mut execs = self.execs.lock().expect("exec lock");
            let Some(e) = execs.get_mut(exec_id).filter(|e| e.running) else {
                return true;
            };
            match ExitRecord::read(&path) {
                Ok(record) => {
                    let _ = std::fs::remove_file(&path);
                    e.running = false;
                    e.exit_code = Some(record.exit_code);
                    (e.container_id.clone(), record.exit_code)
                }
                Err(_) => return false,
            }
        };
        self.exec_die_event(exec_id, &died.0, died.1);
        true
    }

    fn exec_ended(&self, exec_id: &str, code: i32) {
        let container_id = {
            let mut execs = self.execs.lock().expect("exec lock");
            match execs.get_mut(exec_id) {
                Some(e) if e.exit_code.is_none() => {
                    e.running = false;
                    e.exit_code = Some(code);
                    e.container_id.clone()
                }
                _ => return,
            }
        };
        self.exec_die_event(exec_id, &container_id, code);
    }

    /// Called without the exec lock (the event reads the registry).
    fn exec_die_event(&self, exec_id: &str, container_id: &str, code: i32) {
        let code = code.to_string();
        self.container_event(
            container_id,
            "exec_die",
            &[("execID", exec_id), ("exitCode", &code)],
        );
    }
}

/// Exit records of execs a previous daemon started: their records died with it (as Docker's).
pub(crate) fn remove_stale_exits(layout: &super::Layout) {
    for e in std::fs::read_dir(&layout.execs)
        .into_iter()
        .flatten()
        .flatten()
    {
        if e.path().extension().is_some_and(|x| x == "exit") {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// The sequence that detaches an interactive terminal exec: its `DetachKeys`, or Docker's
/// ctrl-p,ctrl-q; none without a terminal and stdin (the bytes are the program's input).
/// The `process` of a container's runtime spec: the base of an exec. Only that member is
/// decoded; the rest (the seccomp profile is most of the file) is skipped, not built.
fn spec_process(config: &std::path::Path) -> Option<Process> {
    #[derive(serde::Deserialize)]
    struct ProcessOnly {
        process: Option<Process>,
    }
    let bytes = std::fs::read(config).ok()?;
    let spec: ProcessOnly = serde_json::from_slice(&bytes).ok()?;
    Some(spec.process.unwrap_or_default())
}

fn detach_keys(config: &ExecConfig) -> Result<Vec<u8>> {
    if !(config.tty.unwrap_or(false) && config.attach_stdin.unwrap_or(false)) {
        return Ok(Vec::new());
    }
    let keys = config
        .detach_keys
        .as_deref()
        .filter(|k| !k.is_empty())
        .unwrap_or("ctrl-p,ctrl-q");
    crate::detach::parse_detach_keys(keys)
        .map_err(|e| Error::InvalidArgument(format!("invalid detach keys ({keys}): {e}")))
}

/// The container's environment with the exec's entries added, replacing those of the same key.
fn merge_env(base: &[String], extra: &[String]) -> Vec<String> {
    let key = |kv: &str| kv.split_once('=').map_or(kv, |(k, _)| k).to_string();
    let mut out: Vec<String> = base
        .iter()
        .filter(|kv| !extra.iter().any(|e| key(e) == key(kv)))
        .cloned()
        .collect();
    out.extend(extra.iter().cloned());
    out
}

/// Says on the stream why the exec could not run, then ends it (Docker writes the error on
/// the hijacked connection and reports the exit code through inspect).
async fn write_failure(mut stream: tokio::net::UnixStream, tty: bool, message: &str) {
    let line = format!("{message}\r\n");
    let mut bytes = Vec::new();
    if tty {
        bytes.extend_from_slice(line.as_bytes());
    } else {
        encode_frame(Stream::Stdout, line.as_bytes(), &mut bytes);
    }
    let _ = stream.write_all(&bytes).await;
    let _ = stream.shutdown().await;
    // Hold our end until the client has read: dropping it early could reset the stream.
    let mut sink = [0u8; 64];
    while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
}

/// Carries the client's side of the stream to the exec monitor's connection and back; each
/// side's EOF is passed on as a half-close (stdin's EOF, the end of the output).
async fn relay(mut client: tokio::net::UnixStream, conn: std::os::unix::net::UnixStream) {
    let conn = conn
        .set_nonblocking(true)
        .and_then(|()| tokio::net::UnixStream::from_std(conn));
    match conn {
        Ok(mut conn) => {
            let _ = tokio::io::copy_bidirectional(&mut client, &mut conn).await;
        }
        Err(e) => tracing::warn!("exec: the monitor's connection: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::merge_env;

    #[test]
    fn exec_env_replaces_by_key() {
        let base = vec!["PATH=/bin".to_string(), "A=1".to_string()];
        let extra = vec!["A=2".to_string(), "B=3".to_string()];
        assert_eq!(merge_env(&base, &extra), vec!["PATH=/bin", "A=2", "B=3"]);
    }
}
