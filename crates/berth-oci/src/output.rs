//! Human and JSON output of `list` and `ps`, in runc's layout.

use std::process::Command;

use anyhow::{Context, Result, bail};
use berth_runtime::state::OciState;

pub fn list(states: &[OciState], json: bool, quiet: bool) -> Result<()> {
    if quiet {
        for s in states {
            println!("{}", s.id);
        }
    } else if json {
        println!("{}", serde_json::to_string(states)?);
    } else {
        println!(
            "{:<12} {:<10} {:<10} {:<40} {:<31} OWNER",
            "ID", "PID", "STATUS", "BUNDLE", "CREATED"
        );
        for s in states {
            println!(
                "{:<12} {:<10} {:<10} {:<40} {:<31} {}",
                s.id,
                s.pid,
                s.status,
                s.bundle.display(),
                s.created,
                if s.owner.is_empty() { "root" } else { &s.owner }
            );
        }
    }
    Ok(())
}

/// Runs ps(1) and keeps the header and the lines of the container's pids.
pub fn ps_table(pids: &[i32], args: &[String]) -> Result<()> {
    let args: Vec<String> = if args.is_empty() {
        vec!["-ef".into()]
    } else {
        args.to_vec()
    };
    let output = Command::new("ps").args(&args).output().context("run ps")?;
    if !output.status.success() {
        bail!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let pid_column = header
        .split_whitespace()
        .position(|h| h == "PID")
        .context("ps output has no PID column")?;
    println!("{header}");
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(pid_column)
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            println!("{line}");
        }
    }
    Ok(())
}
