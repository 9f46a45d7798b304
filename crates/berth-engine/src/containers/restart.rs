//! Restart policies as Docker has them: `no`, `always`, `unless-stopped`, `on-failure[:N]`.
//! After an exit the policy decides; the restart comes after a back-off that starts at 100 ms
//! and doubles with each restart in a row (at most a minute), and starts again from 100 ms
//! once a run lasted ten seconds. A container the user stopped (or killed with a fatal
//! signal) is not brought back until it is started again; at daemon start `always` ones come
//! back even then, `unless-stopped` ones only if the user had not stopped them.

use std::time::{Duration, Instant};

use bollard_stubs::models::{HostConfig, RestartPolicyNameEnum};

use crate::engine::Engine;
use crate::error::{Error, Result};

use super::record::Status;

const FIRST_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_secs(60);
/// A run at least this long resets the back-off.
const STEADY_RUN: Duration = Duration::from_secs(10);

/// The policy of a host config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Policy {
    No,
    Always,
    UnlessStopped,
    /// At most this many restarts (0: no limit).
    OnFailure(i64),
}

impl Policy {
    pub fn of(hc: &HostConfig) -> Policy {
        let Some(p) = &hc.restart_policy else {
            return Policy::No;
        };
        match p.name {
            None | Some(RestartPolicyNameEnum::EMPTY | RestartPolicyNameEnum::NO) => Policy::No,
            Some(RestartPolicyNameEnum::ALWAYS) => Policy::Always,
            Some(RestartPolicyNameEnum::UNLESS_STOPPED) => Policy::UnlessStopped,
            Some(RestartPolicyNameEnum::ON_FAILURE) => {
                Policy::OnFailure(p.maximum_retry_count.unwrap_or(0))
            }
        }
    }

    /// Whether an exit with `exit_code`, after `restarts` policy restarts, brings the
    /// container back.
    pub fn restarts_after(self, exit_code: i32, restarts: i64, manually_stopped: bool) -> bool {
        match self {
            Policy::No => false,
            _ if manually_stopped => false,
            Policy::Always | Policy::UnlessStopped => true,
            Policy::OnFailure(max) => exit_code != 0 && (max == 0 || restarts < max),
        }
    }
}

/// Docker's checks of a restart policy, at create and update.
pub(crate) fn validate(hc: &HostConfig) -> Result<()> {
    let Some(p) = &hc.restart_policy else {
        return Ok(());
    };
    let retries = p.maximum_retry_count.unwrap_or(0);
    let policy = Policy::of(hc);
    if retries < 0 {
        return Err(Error::InvalidArgument(
            "invalid restart policy: maximum retry count cannot be negative".into(),
        ));
    }
    if retries > 0 && !matches!(policy, Policy::OnFailure(_)) {
        let name = p.name.map(|n| n.to_string()).unwrap_or_default();
        return Err(Error::InvalidArgument(format!(
            "invalid restart policy: maximum retry count can only be used with 'on-failure', not '{name}'"
        )));
    }
    if policy != Policy::No && hc.auto_remove == Some(true) {
        return Err(Error::InvalidArgument(
            "can't create 'AutoRemove' container with restart policy".into(),
        ));
    }
    Ok(())
}

/// Whether a signal sent by `kill` counts as the user stopping the container (Docker: every
/// signal but the non-fatal ones, and the container's stop signal always).
pub(crate) fn is_fatal(
    sig: nix::sys::signal::Signal,
    stop_signal: Option<nix::sys::signal::Signal>,
) -> bool {
    use nix::sys::signal::Signal::*;
    Some(sig) == stop_signal
        || !matches!(
            sig,
            SIGUSR1 | SIGUSR2 | SIGHUP | SIGWINCH | SIGCHLD | SIGCONT | SIGURG
        )
}

/// The back-off of one container between policy restarts (in memory, as Docker's).
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    delay: Option<Duration>,
    started: Option<Instant>,
}

impl Backoff {
    /// Marks a start, to tell a steady run from a crash loop.
    pub fn started(&mut self) {
        self.started = Some(Instant::now());
    }

    /// The wait before the next restart.
    fn next(&mut self) -> Duration {
        let steady = self.started.is_some_and(|t| t.elapsed() >= STEADY_RUN);
        let d = match self.delay {
            Some(d) if !steady => (d * 2).min(MAX_DELAY),
            _ => FIRST_DELAY,
        };
        self.delay = Some(d);
        d
    }
}

impl Engine {
    /// After an exit: if the policy says so, mark the container restarting and start it again
    /// after the back-off.
    pub(crate) fn restart_if_due(&self, id: &str) {
        let delay = {
            let mut reg = self.registry.lock().expect("registry lock");
            let Ok(entry) = reg.get_mut(id) else {
                return;
            };
            let rec = &entry.record;
            let s = &rec.state;
            let due = s.status == Status::Exited
                && Policy::of(&rec.host_config).restarts_after(
                    s.exit_code,
                    rec.restart_count,
                    s.manually_stopped,
                );
            if !due {
                return;
            }
            entry.record.state.restarting = true;
            entry.backoff.next()
        };
        tracing::info!(id, ?delay, "restarting by policy");
        let (me, id) = (self.arc(), id.to_string());
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            me.restart_now(&id).await;
        });
    }

    /// The end of a back-off: unless the user stopped or removed the container meanwhile,
    /// count the restart and start it.
    async fn restart_now(&self, id: &str) {
        {
            let mut reg = self.registry.lock().expect("registry lock");
            let Ok(entry) = reg.get_mut(id) else { return };
            if !entry.record.state.restarting {
                return;
            }
            entry.record.state.restarting = false;
            entry.record.restart_count += 1;
        }
        if let Err(e) = self.start_container(id).await {
            tracing::warn!(id, "restart by policy failed: {e}");
            // A start that failed is an exit like any other for the policy.
            self.restart_if_due(id);
        }
    }

    /// At daemon start: `always` containers that are not running come back, and
    /// `unless-stopped` ones the user had not stopped. `skip`: exits just recorded, which
    /// went through the policy already.
    pub(crate) fn restart_at_boot(&self, skip: &[String]) {
        let due: Vec<String> = {
            let reg = self.registry.lock().expect("registry lock");
            reg.by_id
                .values()
                .filter(|e| !skip.contains(&e.record.id))
                .filter(|e| e.record.state.status == Status::Exited)
                .filter(|e| match Policy::of(&e.record.host_config) {
                    Policy::Always => true,
                    Policy::UnlessStopped => !e.record.state.manually_stopped,
                    _ => false,
                })
                .map(|e| e.record.id.clone())
                .collect()
        };
        for id in due {
            let me = self.arc();
            tokio::spawn(async move {
                if let Err(e) = me.start_container(&id).await {
                    tracing::warn!(id, "starting at daemon start (restart policy): {e}");
                }
            });
        }
    }

    /// `stop`, or `kill` with a fatal signal: the policy rests until the next start; a
    /// pending restart is called off.
    pub(crate) fn mark_manually_stopped(&self, id: &str) {
        let mut reg = self.registry.lock().expect("registry lock");
        if let Ok(entry) = reg.get_mut(id) {
            entry.record.state.manually_stopped = true;
            entry.record.state.restarting = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard_stubs::models::RestartPolicy;

    fn hc(name: RestartPolicyNameEnum, max: i64) -> HostConfig {
        HostConfig {
            restart_policy: Some(RestartPolicy {
                name: Some(name),
                maximum_retry_count: Some(max),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn policies_decide_as_docker() {
        use RestartPolicyNameEnum::*;
        let p = |n, m| Policy::of(&hc(n, m));
        assert!(!p(NO, 0).restarts_after(1, 0, false));
        assert!(p(ALWAYS, 0).restarts_after(0, 5, false));
        assert!(!p(ALWAYS, 0).restarts_after(0, 5, true));
        assert!(p(UNLESS_STOPPED, 0).restarts_after(0, 0, false));
        assert!(
            !p(ON_FAILURE, 2).restarts_after(0, 0, false),
            "success ends it"
        );
        assert!(p(ON_FAILURE, 2).restarts_after(3, 1, false));
        assert!(
            !p(ON_FAILURE, 2).restarts_after(3, 2, false),
            "two retries at most"
        );
        assert!(
            p(ON_FAILURE, 0).restarts_after(3, 99, false),
            "0 is no limit"
        );
        assert_eq!(Policy::of(&HostConfig::default()), Policy::No);
    }

    #[test]
    fn bad_policies_are_refused() {
        use RestartPolicyNameEnum::*;
        let err = |h: HostConfig| validate(&h).unwrap_err().to_string();
        assert!(err(hc(ALWAYS, 3)).contains("only be used with 'on-failure', not 'always'"));
        assert!(err(hc(ON_FAILURE, -1)).contains("cannot be negative"));
        let mut rm = hc(ALWAYS, 0);
        rm.auto_remove = Some(true);
        assert!(err(rm).contains("AutoRemove"));
        assert!(validate(&hc(ON_FAILURE, 3)).is_ok());
    }

    #[test]
    fn backoff_doubles_and_resets_after_a_steady_run() {
        let mut b = Backoff::default();
        b.started();
        assert_eq!(b.next(), FIRST_DELAY);
        assert_eq!(b.next(), FIRST_DELAY * 2);
        assert_eq!(b.next(), FIRST_DELAY * 4);
        b.started = Some(Instant::now() - STEADY_RUN);
        assert_eq!(b.next(), FIRST_DELAY);
        b.delay = Some(MAX_DELAY);
        b.started();
        assert_eq!(b.next(), MAX_DELAY);
    }

    #[test]
    fn fatal_signals() {
        use nix::sys::signal::Signal::*;
        assert!(is_fatal(SIGKILL, None));
        assert!(is_fatal(SIGTERM, None));
        assert!(!is_fatal(SIGUSR1, None));
        assert!(
            is_fatal(SIGUSR1, Some(SIGUSR1)),
            "the stop signal always is"
        );
    }
}
