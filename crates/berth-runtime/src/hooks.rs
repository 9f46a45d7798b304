//! OCI hooks: each runs with the container state on stdin, in the listed order, bounded by its
//! timeout.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::Hook;

use crate::error::{Error, Result};
use crate::state::OciState;

/// Runs hooks in order; the first failure stops the rest and is returned.
pub fn run(hooks: &[Hook], state: &OciState) -> Result<()> {
    let input = serde_json::to_vec(state).expect("state serializes");
    hooks.iter().try_for_each(|hook| run_one(hook, &input))
}

/// Runs hooks whose failure must not stop the container's lifecycle (poststart, poststop),
/// logging each failure.
pub fn run_logged(hooks: &[Hook], state: &OciState, phase: &str) {
    let input = serde_json::to_vec(state).expect("state serializes");
    for hook in hooks {
        if let Err(e) = run_one(hook, &input) {
            tracing::warn!("{phase} hook failed: {e}");
        }
    }
}

fn run_one(hook: &Hook, input: &[u8]) -> Result<()> {
    let path = hook.path();
    let fail = |reason: String| Error::Hook {
        path: path.clone(),
        reason,
    };
    let mut cmd = Command::new(path);
    if let Some(args) = hook.args().as_deref() {
        if let Some(argv0) = args.first() {
            cmd.arg0(argv0);
        }
        cmd.args(args.iter().skip(1));
    }
    cmd.env_clear();
    for kv in hook.env().as_deref().unwrap_or(&[]) {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| fail(format!("cannot start: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that ignores its stdin and exits early closes the pipe: that's not an error.
        let _ = stdin.write_all(input);
    }
    let deadline = hook
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Instant::now() + Duration::from_secs(t as u64));
    let Some(deadline) = deadline else {
        let status = child.wait().map_err(|e| fail(format!("wait: {e}")))?;
        return check_status(status, fail);
    };
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => return Err(fail(format!("wait: {e}"))),
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(fail(format!(
                "timed out after {} s",
                hook.timeout().unwrap_or(0)
            )));
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    check_status(status, fail)
}

fn check_status(status: std::process::ExitStatus, fail: impl Fn(String) -> Error) -> Result<()> {
    if status.success() {
        Ok(())
    } else {
        Err(fail(format!("exited with {status}")))
    }
}
