//! The health monitor of a running container: a task that sleeps an interval (the start
//! interval while the container is starting within its start period), runs the probe as an
//! exec under the timeout, and records the result as Docker does: the last five results,
//! the failing streak, `starting` until the first success or `retries` failures after the
//! start period, and a `health_status: <status>` event on each change. The exit aborts the
//! task; it also checks before each probe and each record that the run it was started for
//! (told by `StartedAt`) goes on, so a probe that ends late records nothing.

use std::sync::Arc;
use std::time::SystemTime;

use bollard_stubs::models::{ExecConfig, Health, HealthStatusEnum, HealthcheckResult};
use tokio::io::AsyncReadExt;

use crate::api::{ExecStartOptions, ExecStarted};
use crate::engine::Engine;
use crate::error::Result;
use crate::logs::{FrameDecoder, format_timestamp, parse_time};

use super::super::record::Status;
use super::config::Probe;
use super::output::{LimitedOutput, timeout_message};

/// Docker keeps this many results in `State.Health.Log`.
const MAX_LOG: usize = 5;
/// The exit code Docker records for a probe that overran or could not run.
const PROBE_FAILED: i64 = -1;

/// What the loop needs to know of the run it watches.
struct Run {
    /// No success yet, nor enough failures.
    starting: bool,
    paused: bool,
}

/// `State.Health` at a start: `starting` with the streak reset and the old log kept (as
/// Docker's); `None` for a container without a check.
pub(crate) fn initial_health(probe: Option<&Probe>, old: Option<Health>) -> Option<Health> {
    probe?;
    Some(Health {
        status: Some(HealthStatusEnum::STARTING),
        failing_streak: Some(0),
        log: Some(old.and_then(|h| h.log).unwrap_or_default()),
    })
}

impl Engine {
    /// Starts the health monitor of a running container (nothing without a check). Called
    /// after a start and, for running containers, when the daemon starts.
    pub(crate) fn watch_health(&self, id: &str) {
        let run = {
            let reg = self.registry.lock().expect("registry lock");
            reg.by_id.get(id).and_then(|e| {
                let probe = Probe::of(&e.record.config)?;
                let started = e.record.state.started_at.clone()?;
                Some((probe, started))
            })
        };
        let Some((probe, started_at)) = run else {
            return;
        };
        let (me, owned) = (self.arc(), id.to_string());
        let task = tokio::spawn(async move { me.health_loop(owned, probe, started_at).await });
        let mut reg = self.registry.lock().expect("registry lock");
        match reg.by_id.get_mut(id) {
            Some(e) => {
                if let Some(old) = e.health_task.replace(task.abort_handle()) {
                    old.abort();
                }
            }
            None => task.abort(),
        }
    }

    async fn health_loop(self: Arc<Engine>, id: String, probe: Probe, started_at: String) {
        let started = parse_time(&started_at).unwrap_or_else(SystemTime::now);
        loop {
            let Some(run) = self.health_run(&id, &started_at) else {
                return;
            };
            let in_start_period = started.elapsed().unwrap_or_default() < probe.start_period;
            tokio::time::sleep(if run.starting && in_start_period {
                probe.start_interval
            } else {
                probe.interval
            })
            .await;
            match self.health_run(&id, &started_at) {
                None => return,
                // A frozen container cannot run a probe: it waits for the thaw.
                Some(run) if run.paused => continue,
                Some(_) => {}
            }
            let result = self.run_probe(&id, &probe).await;
            self.record_probe(&id, &started_at, &probe, started, result);
        }
    }

    /// The run begun at `started_at` as it is now, or `None` once it is over.
    fn health_run(&self, id: &str, started_at: &str) -> Option<Run> {
        let reg = self.registry.lock().expect("registry lock");
        let s = &reg.by_id.get(id)?.record.state;
        (s.status == Status::Running && s.started_at.as_deref() == Some(started_at)).then(|| Run {
            starting: s
                .health
                .as_ref()
                .is_some_and(|h| h.status == Some(HealthStatusEnum::STARTING)),
            paused: s.paused,
        })
    }

    /// Runs the probe once as an exec; one that overruns its timeout is killed.
    async fn run_probe(&self, id: &str, probe: &Probe) -> HealthcheckResult {
        let start = format_timestamp(SystemTime::now());
        let config = ExecConfig {
            cmd: Some(probe.argv.clone()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            ..Default::default()
        };
        let outcome = match self.create_exec(id, config) {
            Ok(exec_id) => {
                let ran = tokio::time::timeout(probe.timeout, self.probe_exec(&exec_id)).await;
                if ran.is_err() {
                    self.kill_probe(&exec_id);
                }
                self.retire_probe(&exec_id).await;
                ran.unwrap_or_else(|_| Ok((PROBE_FAILED, timeout_message(probe.timeout))))
            }
            Err(e) => Err(e),
        };
        let (exit_code, output) = outcome.unwrap_or_else(|e| (PROBE_FAILED, e.to_string()));
        HealthcheckResult {
            start: Some(start),
            end: Some(format_timestamp(SystemTime::now())),
            exit_code: Some(exit_code),
            output: Some(output),
        }
    }

    /// Starts the exec attached, reads its output to the end, and returns its exit code.
    async fn probe_exec(&self, exec_id: &str) -> Result<(i64, String)> {
        let started = self
            .start_exec(exec_id, ExecStartOptions::default())
            .await?;
        let mut output = LimitedOutput::default();
        if let ExecStarted::Attached { mut stream, launch } = started {
            let relay = tokio::spawn(launch);
            let mut frames = FrameDecoder::new();
            let mut buf = vec![0u8; 8192];
            while let Ok(n) = stream.stream.read(&mut buf).await
                && n > 0
            {
                frames.push(&buf[..n]);
                while let Ok(Some((_, payload))) = frames.next_frame() {
                    output.push(&payload);
                }
            }
            // Our end closed is the probe's stdin closed: the relay can finish.
            drop(stream);
            let _ = relay.await;
        }
        // The monitor records the exit before it closes the stream.
        let code = self
            .inspect_exec(exec_id)?
            .exit_code
            .unwrap_or(PROBE_FAILED);
        Ok((code, output.into_string()))
    }

    /// Kills a probe that overran (its exec's process; what it started may linger, as with
    /// Docker).
    fn kill_probe(&self, exec_id: &str) {
        let pid = self
            .inspect_exec(exec_id)
            .ok()
            .filter(|e| e.running == Some(true))
            .and_then(|e| e.pid)
            .filter(|p| *p > 0);
        if let Some(pid) = pid {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }

    /// Forgets the probe's exec once it has ended (a killed one within a second or so; one
    /// that will not die is left to go with the container).
    async fn retire_probe(&self, exec_id: &str) {
        for _ in 0..50 {
            // Inspecting collects an exit the monitor has recorded.
            let _ = self.inspect_exec(exec_id);
            if self.forget_exec(exec_id) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Adds a result to `State.Health` (unless the run is over), moves the status as Docker
    /// does, and on a change makes it durable and emits `health_status: <status>`.
    fn record_probe(
        &self,
        id: &str,
        started_at: &str,
        probe: &Probe,
        started: SystemTime,
        result: HealthcheckResult,
    ) {
        let in_start_period = result
            .start
            .as_deref()
            .and_then(parse_time)
            .and_then(|t| t.duration_since(started).ok())
            .is_some_and(|d| d < probe.start_period);
        let changed = {
            let mut reg = self.registry.lock().expect("registry lock");
            let Some(entry) = reg.by_id.get_mut(id) else {
                return;
            };
            let s = &mut entry.record.state;
            if s.status != Status::Running || s.started_at.as_deref() != Some(started_at) {
                return;
            }
            let health = s.health.get_or_insert_with(Health::default);
            let old = health.status;
            let success = result.exit_code == Some(0);
            let log = health.log.get_or_insert_with(Vec::new);
            log.push(result);
            if log.len() > MAX_LOG {
                log.drain(..log.len() - MAX_LOG);
            }
            let streak = health.failing_streak.get_or_insert(0);
            if success {
                *streak = 0;
                health.status = Some(HealthStatusEnum::HEALTHY);
            } else if !(old == Some(HealthStatusEnum::STARTING) && in_start_period) {
                *streak += 1;
                if *streak >= probe.retries {
                    health.status = Some(HealthStatusEnum::UNHEALTHY);
                }
            }
            let new = health.status;
            if new != old
                && let Err(e) = entry.record.save_state(&self.layout.dir(id))
            {
                tracing::warn!(id, "saving the health status: {e}");
            }
            (new != old).then_some(new).flatten()
        };
        if let Some(status) = changed {
            tracing::debug!(id, %status, "health status changed");
            self.container_event(id, &format!("health_status: {status}"), &[]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_health_keeps_the_log() {
        let probe = Probe::of(&bollard_stubs::models::ContainerConfig {
            healthcheck: Some(bollard_stubs::models::HealthConfig {
                test: Some(vec!["CMD".into(), "true".into()]),
                ..Default::default()
            }),
            ..Default::default()
        });
        assert_eq!(initial_health(None, None), None);
        let old = Health {
            status: Some(HealthStatusEnum::UNHEALTHY),
            failing_streak: Some(4),
            log: Some(vec![HealthcheckResult::default()]),
        };
        let h = initial_health(probe.as_ref(), Some(old)).unwrap();
        assert_eq!(h.status, Some(HealthStatusEnum::STARTING));
        assert_eq!(h.failing_streak, Some(0));
        assert_eq!(h.log.unwrap().len(), 1);
    }
}
