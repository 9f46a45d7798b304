//! The engine benchmark: berth's daemon against Docker's (Debian's docker.io) in one run.
//! - `run --rm --network none busybox true`, and `exec CID true` in a running container,
//!   through the berth CLI and through the docker CLI (both against berth), and through the
//!   docker CLI against dockerd: median ratios; `run --rm` on berth's default bridge too, and
//!   what the bridge adds;
//! - N `run -d` at once (default 50): wall time until every CLI returned, berth vs Docker;
//! - daemon memory when idle (berth daemon + monitor zygote vs dockerd + containerd);
//! - memory per running container (berth's monitors vs containerd's shims), as USS and Pss.
//!
//! Each daemon gets roots and a socket in a temp dir, on the same fresh journaled ext4 (see
//! `datafs`: every run creates and deletes files); everything is torn down at the end, also on
//! failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::daemon::{Daemon, Programs, Scratch, all_pids, cmdline, processes_mentioning};
use crate::datafs::DataFs;
use crate::stats::{check, report, time_runs};

#[derive(Args)]
pub struct EngineBench {
    #[command(flatten)]
    programs: Programs,
    #[arg(long, default_value_t = 30)]
    runs: usize,
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Running containers for the per-container memory figure.
    #[arg(long, default_value_t = 10)]
    containers: usize,
    /// `run -d` started at once for the concurrency figure.
    #[arg(long, default_value_t = 50)]
    concurrent: usize,
    #[command(flatten)]
    data_fs: DataFs,
}

impl EngineBench {
    pub fn run(&self) -> Result<()> {
        if !self.programs.berth.exists() {
            bail!(
                "{} not found: build it with scripts/build-release.sh (or pass --berth)",
                self.programs.berth.display()
            );
        }
        let dir = Scratch::new("bb")?;
        let tar = busybox_tar(dir.path())?;
        let data = self.data_fs.prepare(dir.path())?;
        let berth = Daemon::berth(
            &self.programs.berth,
            data.join("berth"),
            &self.programs.docker,
        )?;
        let docker = if self.programs.dockerd.exists() {
            Some(Daemon::dockerd(
                &self.programs.dockerd,
                data.join("docker"),
                &self.programs.docker,
            )?)
        } else {
            println!(
                "dockerd not found at {}: Docker columns skipped (apt-get install docker.io)",
                self.programs.dockerd.display()
            );
            None
        };
        self.measure(&berth, docker.as_ref(), &tar)
    }

    fn measure(&self, berth: &Daemon, docker: Option<&Daemon>, tar: &Path) -> Result<()> {
        for d in std::iter::once(berth).chain(docker) {
            check(d.docker().arg("import").arg(tar).arg("busybox:latest"))
                .with_context(|| format!("import into {}", d.name))?;
        }
        self.idle_memory(berth, docker, "fresh, one image imported");
        println!();
        let berth_cli = self.compare(
            berth,
            docker,
            &["run", "--rm", "--network", "none", "busybox", "true"],
            8.0,
        )?;
        // The default bridge (berth only: dockerd runs with --bridge none here, to leave the
        // host's docker0 and firewall alone).
        let bridged = report(
            "berth CLI -> berth, bridge",
            &time_runs(self.warmup, self.runs, |_| {
                check(
                    Command::new(&self.programs.berth)
                        .arg("-H")
                        .arg(berth.host())
                        .args(["run", "--rm", "busybox", "true"]),
                )
            })?,
        );
        println!(
            "  the bridge adds {:.2} ms to `run --rm` (goal <= 3 ms; Docker adds ~80 ms)",
            bridged - berth_cli
        );
        println!();
        for d in std::iter::once(berth).chain(docker) {
            check(d.docker().args([
                "run",
                "-d",
                "--network",
                "none",
                "--name",
                "bench-exec",
                "busybox",
                "sleep",
                "1000",
            ]))
            .with_context(|| format!("start the exec target in {}", d.name))?;
        }
        let exec = self
            .compare(berth, docker, &["exec", "bench-exec", "true"], 5.0)
            .map(drop);
        for d in std::iter::once(berth).chain(docker) {
            let _ = check(d.docker().args(["rm", "-f", "bench-exec"]));
        }
        exec?;

        println!();
        println!(
            "{} x `run -d --network none busybox sleep 1000` at once (goal <= 0.5 s, Docker 6.7 s)",
            self.concurrent
        );
        let berth_own = self.burst(berth, || {
            let mut c = Command::new(&self.programs.berth);
            c.arg("-H").arg(berth.host());
            c
        })?;
        println!("{:<28} {berth_own:8.2} s", "berth CLI -> berth");
        let berth_burst = self.burst(berth, || berth.docker())?;
        println!("{:<28} {berth_burst:8.2} s", "docker CLI -> berth");
        if let Some(d) = docker {
            let docker_burst = self.burst(d, || d.docker())?;
            println!("{:<28} {docker_burst:8.2} s", "docker CLI -> dockerd");
            println!("  ratio Docker / berth: {:.1}x", docker_burst / berth_burst);
        }

        println!();
        // Long enough for the daemon's periodic heap trim after the work above.
        std::thread::sleep(Duration::from_secs(6));
        self.idle_memory(berth, docker, "after the runs above");

        println!();
        println!(
            "memory per running container ({} `sleep` containers; USS = its own pages, Pss = with a share of shared ones)",
            self.containers
        );
        let (uss_berth, pss_berth) = self.per_container(berth, |d| {
            let zygotes = processes_named(&d.dir, "monitor-zygote");
            children_of(&zygotes)
        })?;
        println!(
            "{:<28} USS {:6} KB   Pss {:6} KB   (goal <= 256 KB; conmon ~274 KB)",
            "berth monitor", uss_berth, pss_berth
        );
        if let Some(d) = docker {
            let (uss, pss) =
                self.per_container(d, |d| processes_named(&d.dir, "containerd-shim"))?;
            println!(
                "{:<28} USS {:6} KB   Pss {:6} KB",
                "containerd shim", uss, pss
            );
            println!(
                "  ratio Docker / berth: USS {:.1}x, Pss {:.1}x",
                uss as f64 / uss_berth.max(1) as f64,
                pss as f64 / pss_berth.max(1) as f64
            );
        }
        Ok(())
    }

    /// Times `args` through the berth CLI and the docker CLI against berth, and the docker CLI
    /// against dockerd; prints medians and ratios. Returns the berth CLI's median.
    fn compare(
        &self,
        berth: &Daemon,
        docker: Option<&Daemon>,
        args: &[&str],
        goal_ms: f64,
    ) -> Result<f64> {
        println!("`{}` ({} runs each)", args.join(" "), self.runs);
        let berth_cli = report(
            "berth CLI -> berth",
            &time_runs(self.warmup, self.runs, |_| {
                check(
                    Command::new(&self.programs.berth)
                        .arg("-H")
                        .arg(berth.host())
                        .args(args),
                )
            })?,
        );
        let docker_cli = report(
            "docker CLI -> berth",
            &time_runs(self.warmup, self.runs, |_| check(berth.docker().args(args)))?,
        );
        if let Some(d) = docker {
            let dockerd = report(
                "docker CLI -> dockerd",
                &time_runs(self.warmup, self.runs, |_| check(d.docker().args(args)))?,
            );
            println!(
                "  ratio Docker / berth (berth CLI): {:.1}x",
                dockerd / berth_cli
            );
            println!(
                "  ratio Docker / berth (docker CLI on both): {:.1}x",
                dockerd / docker_cli
            );
        }
        println!("  berth CLI median {berth_cli:.2} ms (goal <= {goal_ms} ms)");
        Ok(berth_cli)
    }

    /// Pss of the idle daemons: berth's daemon and zygote, dockerd and containerd.
    fn idle_memory(&self, berth: &Daemon, docker: Option<&Daemon>, when: &str) {
        let berth_idle = pss_kb(berth.pid())
            + processes_named(&berth.dir, "monitor-zygote")
                .iter()
                .map(|&p| pss_kb(p))
                .sum::<u64>();
        println!("idle daemon memory (Pss), {when}");
        println!(
            "{:<28} {:8} KB   (goal <= 15 MB)",
            "berth daemon + zygote", berth_idle
        );
        if let Some(d) = docker {
            let containerd: u64 = processes_named(&d.dir, "containerd")
                .iter()
                .map(|&p| pss_kb(p))
                .sum();
            let total = pss_kb(d.pid()) + containerd;
            println!("{:<28} {:8} KB", "dockerd + containerd", total);
            println!(
                "  ratio Docker / berth: {:.1}x",
                total as f64 / berth_idle as f64
            );
        }
    }

    /// Starts `concurrent` detached containers at once through the CLI `cli` makes and returns
    /// the seconds until the last CLI returned; removes them afterwards.
    fn burst(&self, d: &Daemon, cli: impl Fn() -> Command) -> Result<f64> {
        let names: Vec<String> = (0..self.concurrent)
            .map(|i| format!("bench-burst-{i}"))
            .collect();
        let start = Instant::now();
        let children = names
            .iter()
            .map(|n| {
                cli()
                    .args(["run", "-d", "--network", "none", "--name", n])
                    .args(["busybox", "sleep", "1000"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        let mut failed = Vec::new();
        for c in children {
            let out = c.wait_with_output()?;
            if !out.status.success() {
                failed.push(String::from_utf8_lossy(&out.stderr).into_owned());
            }
        }
        let took = start.elapsed().as_secs_f64();
        let _ = check(d.docker().args(["rm", "-f"]).args(&names));
        if let Some(e) = failed.first() {
            bail!(
                "{} of {} `run -d` failed in {}: {e}",
                failed.len(),
                names.len(),
                d.name
            );
        }
        Ok(took)
    }

    /// Starts the containers, sums the USS and Pss of the processes `holders` finds, divides.
    fn per_container(
        &self,
        d: &Daemon,
        holders: impl Fn(&Daemon) -> Vec<i32>,
    ) -> Result<(u64, u64)> {
        let mut ids = Vec::new();
        for _ in 0..self.containers {
            let out = d
                .docker()
                .args(["run", "-d", "--network", "none", "busybox", "sleep", "1000"])
                .output()?;
            if !out.status.success() {
                bail!(
                    "{}: run -d failed: {}",
                    d.name,
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            ids.push(String::from_utf8_lossy(&out.stdout).trim().to_string());
        }
        std::thread::sleep(Duration::from_millis(500));
        let pids = holders(d);
        let n = self.containers as u64;
        let uss: u64 = pids.iter().map(|&p| uss_kb(p)).sum();
        let pss: u64 = pids.iter().map(|&p| pss_kb(p)).sum();
        check(d.docker().args(["rm", "-f"]).args(&ids))?;
        Ok((uss / n, pss / n))
    }
}

/// Pss in KB from smaps_rollup (0 if the process is gone).
fn pss_kb(pid: i32) -> u64 {
    rollup_kb(pid, &["Pss:"])
}

/// Unique set size: the pages only this process holds (what it costs to add one more).
fn uss_kb(pid: i32) -> u64 {
    rollup_kb(pid, &["Private_Clean:", "Private_Dirty:"])
}

fn rollup_kb(pid: i32, keys: &[&str]) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    text.lines()
        .filter(|l| keys.iter().any(|k| l.starts_with(k)))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum()
}

/// Processes whose command line names both `dir` and `what`.
fn processes_named(dir: &Path, what: &str) -> Vec<i32> {
    processes_mentioning(&dir.to_string_lossy())
        .into_iter()
        .filter(|&p| cmdline(p).contains(what))
        .collect()
}

fn children_of(parents: &[i32]) -> Vec<i32> {
    all_pids()
        .into_iter()
        .filter(|&p| {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
            let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
            let ppid: i32 = after
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            parents.contains(&ppid)
        })
        .collect()
}

fn busybox_tar(dir: &Path) -> Result<PathBuf> {
    let bundle = dir.join("image");
    crate::bundle::make(&bundle, &["/bin/true"])?;
    let tar = dir.join("busybox.tar");
    check(
        Command::new("tar")
            .arg("-C")
            .arg(bundle.join("rootfs"))
            .arg("-cf")
            .arg(&tar)
            .arg("."),
    )?;
    Ok(tar)
}
