//! The OCI runtime benchmark: `run` of `true` (create + start + wait + delete) through berth and
//! runc, and the floor: `unshare` of the same namespaces running `true` with no runtime at all.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Result, bail};
use clap::Args;

use crate::bundle;
use crate::stats::{check, report, time_runs};

#[derive(Args)]
pub struct OciBench {
    /// The berth binary to measure.
    #[arg(long, default_value = "target/release/berth")]
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

impl OciBench {
    pub fn run(&self) -> Result<()> {
        if !self.berth.exists() {
            bail!(
                "{} not found: build with cargo build --release",
                self.berth.display()
            );
        }
        let dir = tempfile::tempdir()?;
        let bundle_dir = dir.path().join("bundle");
        bundle::make(&bundle_dir, &["/bin/true"])?;
        let state = dir.path().join("state");
        let tag = std::process::id();
        println!("OCI runtime: run of `true` (create + start + wait + delete)");

        let berth = time_runs(self.warmup, self.runs, |i| {
            check(
                Command::new(&self.berth)
                    .arg("oci")
                    .arg("--root")
                    .arg(state.join("berth"))
                    .args(["run", "--bundle"])
                    .arg(&bundle_dir)
                    .arg(format!("bench-berth-{tag}-{i}")),
            )
        })?;
        let berth_ms = report("berth oci run", &berth);

        let runc_ms = match time_runs(self.warmup, self.runs, |i| {
            check(
                Command::new(&self.runc)
                    .arg("--root")
                    .arg(state.join("runc"))
                    .args(["run", "--bundle"])
                    .arg(&bundle_dir)
                    .arg(format!("bench-runc-{tag}-{i}")),
            )
        }) {
            Ok(times) => Some(report("runc run", &times)),
            Err(e) => {
                println!("runc run                     skipped: {e}");
                None
            }
        };

        let floor = time_runs(self.warmup, self.runs, |_| {
            check(Command::new("unshare").args(["-fmnpiu", "--mount-proc", "/bin/true"]))
        })?;
        let floor_ms = report("floor (unshare -fmnpiu)", &floor);

        println!();
        if let Some(runc_ms) = runc_ms {
            println!(
                "ratio runc / berth: {:.1}x (goal >= 4x)",
                runc_ms / berth_ms
            );
        }
        println!(
            "berth - floor: {:+.2} ms (goal <= 2 ms)",
            berth_ms - floor_ms
        );
        Ok(())
    }
}
