//! The OCI runtime benchmark, berth vs runc in one run, against the floor (`unshare` of the same
//! namespaces running `true`, no runtime at all). berth is measured as `berth-oci`, the runtime's
//! own binary (what takes runc's place), and as the `oci` verb of the whole `berth` binary. Two
//! shapes of the same work on `true`:
//! - `run`: one command that creates, starts, waits and deletes;
//! - lifecycle: the four separate commands an engine issues (`create --pid-file`, `start`, a wait
//!   on the init through a pidfd, `delete`), as the OCI lifecycle describes it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::bundle;
use crate::stats::{check, report, time_interleaved};

#[derive(Args)]
pub struct OciBench {
    /// The runtime's own binary: the static release build (scripts/build-release.sh).
    #[arg(long, default_value = "target/release-static/berth-oci")]
    berth_oci: PathBuf,
    /// The whole berth binary, measured through its `oci` verb.
    #[arg(long, default_value = "target/release-static/berth")]
    berth: PathBuf,
    /// The runc binary to compare with.
    #[arg(long, default_value = "runc")]
    runc: String,
    /// Timed runs per contender.
    #[arg(long, default_value_t = 50)]
    runs: usize,
    /// Untimed runs first.
    #[arg(long, default_value_t = 5)]
    warmup: usize,
}

/// One way of doing the work: `run`, or the four lifecycle commands.
type Shape = fn(&Contender, &Path, &str) -> Result<()>;

/// A runtime under test: its command line up to the verb.
struct Contender {
    name: &'static str,
    program: PathBuf,
    leading: Vec<String>,
    root: PathBuf,
}

impl Contender {
    fn cmd(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.leading).arg("--root").arg(&self.root);
        cmd
    }

    fn run(&self, bundle: &Path, id: &str) -> Result<()> {
        check(self.cmd().args(["run", "--bundle"]).arg(bundle).arg(id))
    }

    fn lifecycle(&self, bundle: &Path, id: &str) -> Result<()> {
        let pid_file = self.root.join(format!("{id}.pid"));
        // The created init keeps the stdio it was given: hand it nothing to hold open.
        let status = self
            .cmd()
            .args(["create", "--bundle"])
            .arg(bundle)
            .arg("--pid-file")
            .arg(&pid_file)
            .arg(id)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        if !status.success() {
            bail!("{} create {id} failed: {status}", self.name);
        }
        let pid: i32 = std::fs::read_to_string(&pid_file)?.trim().parse()?;
        let pidfd = pidfd_open(pid)?;
        check(self.cmd().args(["start", id]))?;
        wait_readable(pidfd)?;
        check(self.cmd().args(["delete", id]))?;
        std::fs::remove_file(&pid_file)?;
        Ok(())
    }
}

fn pidfd_open(pid: i32) -> Result<i32> {
    // SAFETY: pidfd_open returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        bail!("pidfd_open {pid}: {}", std::io::Error::last_os_error());
    }
    Ok(fd as i32)
}

/// Waits until the process behind `pidfd` exits, then closes it.
fn wait_readable(pidfd: i32) -> Result<()> {
    let mut pfd = libc::pollfd {
        fd: pidfd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one pollfd we own; close of our own descriptor afterwards.
    let ready = unsafe { libc::poll(&mut pfd, 1, 10_000) };
    unsafe { libc::close(pidfd) };
    if ready != 1 {
        bail!("the container's init did not exit within 10 s");
    }
    Ok(())
}

impl OciBench {
    pub fn run(&self) -> Result<()> {
        for binary in [&self.berth_oci, &self.berth] {
            if !binary.exists() {
                bail!(
                    "{} not found: build it with scripts/build-release.sh (or pass --berth-oci \
                     and --berth)",
                    binary.display()
                );
            }
        }
        let dir = tempfile::tempdir()?;
        let bundle_dir = dir.path().join("bundle");
        bundle::make(&bundle_dir, &["/bin/true"])?;
        let tag = std::process::id();
        let berth_oci = Contender {
            name: "berth-oci",
            program: self.berth_oci.clone(),
            leading: Vec::new(),
            root: dir.path().join("state-berth-oci"),
        };
        let berth = Contender {
            name: "berth oci",
            program: self.berth.clone(),
            leading: vec!["oci".into()],
            root: dir.path().join("state-berth"),
        };
        let runc = Contender {
            name: "runc",
            program: PathBuf::from(&self.runc),
            leading: Vec::new(),
            root: dir.path().join("state-runc"),
        };
        for contender in [&berth_oci, &berth, &runc] {
            std::fs::create_dir_all(&contender.root)?;
        }
        let runc_works = Command::new(&self.runc)
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());

        println!(
            "OCI runtime, `true` in a busybox bundle ({} runs each, interleaved)",
            self.runs
        );
        let mut contenders = vec![&berth_oci, &berth];
        if runc_works {
            contenders.push(&runc);
        } else {
            println!("runc skipped: {} --version failed", self.runc);
        }
        let shapes: [(&str, Shape); 2] = [
            ("run", Contender::run),
            ("create+start+wait+delete", Contender::lifecycle),
        ];
        for (shape, work) in shapes {
            println!();
            // Entry 0 is the floor; the others are the contenders in order.
            let times =
                time_interleaved(self.warmup, self.runs, 1 + contenders.len(), |which, i| {
                    match which {
                        0 => check(Command::new("unshare").args([
                            "-fmnpiu",
                            "--mount-proc",
                            "/bin/true",
                        ]))
                        .context("floor: unshare"),
                        _ => {
                            let c = contenders[which - 1];
                            let name = c.name.replace(' ', "-");
                            work(c, &bundle_dir, &format!("bench-{name}-{tag}-{i}"))
                        }
                    }
                })?;
            let floor_ms = report("floor (unshare -fmnpiu)", &times[0]);
            let medians: Vec<f64> = contenders
                .iter()
                .zip(&times[1..])
                .map(|(c, t)| report(&format!("{} {shape}", c.name), t))
                .collect();
            let (oci_ms, full_ms) = (medians[0], medians[1]);
            if let Some(runc_ms) = medians.get(2) {
                println!(
                    "  ratio runc / berth-oci: {:.1}x (goal >= 4x); runc / berth oci: {:.1}x",
                    runc_ms / oci_ms,
                    runc_ms / full_ms
                );
            }
            println!(
                "  berth-oci - floor: {:+.2} ms (goal <= 2 ms); berth oci - floor: {:+.2} ms",
                oci_ms - floor_ms,
                full_ms - floor_ms
            );
        }
        Ok(())
    }
}
