//! `GET /containers/{id}/top?ps_args=`: the host's `ps` (Docker's way), its rows kept for the
//! processes of the container's cgroup.

use std::collections::HashSet;

use berth_runtime::state::StateRoot;
use bollard_stubs::models::ContainerTopResponse;

use crate::engine::Engine;
use crate::error::{Error, Result};

impl Engine {
    pub async fn top_container(
        &self,
        name: &str,
        ps_args: Option<&str>,
    ) -> Result<ContainerTopResponse> {
        let id = self.running_id(name)?;
        let args: Vec<String> = ps_args
            .unwrap_or("-ef")
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let root = StateRoot::new(&self.layout.runtime_root);
        tokio::task::spawn_blocking(move || {
            let pids = berth_runtime::container::pids(&root, &id)
                .map_err(|e| Error::internal(format!("list the processes of {id}"), e))?;
            let out = std::process::Command::new("ps")
                .args(&args)
                .output()
                .map_err(|e| Error::internal("run ps", e))?;
            if !out.status.success() {
                return Err(Error::InvalidArgument(format!(
                    "ps: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
            parse_ps(&String::from_utf8_lossy(&out.stdout), &pids)
        })
        .await
        .map_err(|e| Error::internal("top", e))?
    }
}

/// Splits `ps` output into titles and rows (the last column, the command, keeps its spaces)
/// and keeps the rows whose PID is one of `pids`.
fn parse_ps(output: &str, pids: &[i32]) -> Result<ContainerTopResponse> {
    let mut lines = output.lines();
    let titles: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let pid_col = titles
        .iter()
        .position(|t| t == "PID")
        .ok_or_else(|| Error::InvalidArgument("Couldn't find PID field in ps output".into()))?;
    let wanted: HashSet<i32> = pids.iter().copied().collect();
    let mut processes = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let pid: i32 = fields
            .get(pid_col)
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| Error::Internal(format!("unexpected pid in ps output: {line:?}")))?;
        if !wanted.contains(&pid) {
            continue;
        }
        let split = titles.len().saturating_sub(1).min(fields.len());
        let mut row: Vec<String> = fields[..split].iter().map(|f| f.to_string()).collect();
        row.push(fields[split..].join(" "));
        processes.push(row);
    }
    Ok(ContainerTopResponse {
        titles: Some(titles),
        processes: Some(processes),
    })
}

#[cfg(test)]
mod tests {
    use super::parse_ps;

    #[test]
    fn rows_of_the_container_with_the_command_whole() {
        let out = "UID PID PPID C STIME TTY TIME CMD\n\
                   root 1 0 0 10:00 ? 00:00:01 /sbin/init\n\
                   root 42 7 0 10:01 ? 00:00:00 sleep 1000\n";
        let top = parse_ps(out, &[42]).unwrap();
        assert_eq!(top.titles.unwrap().len(), 8);
        assert_eq!(
            top.processes.unwrap(),
            vec![vec![
                "root",
                "42",
                "7",
                "0",
                "10:01",
                "?",
                "00:00:00",
                "sleep 1000"
            ]]
        );
        assert!(parse_ps("USER COMMAND\nroot x\n", &[1]).is_err());
    }
}
