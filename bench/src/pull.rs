//! The pull benchmark: a cold pull of a six-layer image (about 185 MB gzip) from a registry on
//! 127.0.0.1, by berth, Docker and Podman in one run, with `skopeo copy` to a directory as the
//! floor (the transfer alone). The pulls are interleaved round by round, so a change in the
//! machine's load touches every contender alike; each is returned to cold after every pull.
//!
//! Everything started — registry, daemons, the data filesystem — lives in one scratch dir and
//! is stopped and removed at the end, also on failure; the test image is built once and cached
//! (see `image`).

mod contenders;
mod image;
mod layout;
mod registry;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use clap::Args;

use crate::daemon::{Daemon, Programs, Scratch};
use crate::datafs::DataFs;
use crate::podman::Podman;
use crate::rootfs::Debootstrap;
use crate::stats::report;
use contenders::{Berth, Docker, Puller, Role, Skopeo};
use registry::Registry;

#[derive(Args)]
pub struct PullBench {
    /// Where the test image (a debootstrap'ed rootfs and the OCI layout) is built and kept.
    #[arg(long, default_value = "/var/tmp/berth-bench")]
    cache: PathBuf,
    #[command(flatten)]
    programs: Programs,
    /// podman to compare with (skipped when absent: apt-get install podman).
    #[arg(long, default_value = "/usr/bin/podman")]
    podman: PathBuf,
    /// skopeo: pushes the image, and its copy to a directory is the floor.
    #[arg(long, default_value = "/usr/bin/skopeo")]
    skopeo: PathBuf,
    /// Debian's registry, serving the image on 127.0.0.1.
    #[arg(long, default_value = "/usr/bin/docker-registry")]
    registry: PathBuf,
    #[command(flatten)]
    debootstrap: Debootstrap,
    /// Timed pulls per contender.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Untimed rounds first (they also bring the registry's blobs into the page cache).
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    #[command(flatten)]
    data_fs: DataFs,
}

impl PullBench {
    pub fn run(&self) -> Result<()> {
        if self.runs == 0 {
            bail!("--runs must be at least 1");
        }
        if !self.skopeo.exists() {
            bail!(
                "{} not found: the pull bench pushes its image with skopeo (apt-get install skopeo)",
                self.skopeo.display()
            );
        }
        let image = image::ensure(&self.cache, &self.debootstrap)?;
        let scratch = Scratch::new("bp")?;
        let registry = Registry::start(&self.registry, scratch.path())?;
        registry.push(&self.skopeo, &image.layout, image::TAG, "bench/big:1")?;
        let reference = registry.reference("bench/big:1");
        let data = self.data_fs.prepare(scratch.path())?;
        let contenders = self.contenders(&data)?;
        println!(
            "cold pull of {reference}: {} layers, {:.1} MB gzip, {:.1} MB unpacked ({} runs each, interleaved, after {} warm-up)",
            image.layers,
            mb(image.compressed),
            mb(image.unpacked),
            self.runs,
            self.warmup
        );
        let times = self.measure(&contenders, &reference);
        summarize(&contenders, &times);
        Ok(())
    }

    /// The contenders whose programs are here; each absent one is named and skipped.
    fn contenders(&self, dir: &Path) -> Result<Vec<Box<dyn Puller>>> {
        let mut all: Vec<Box<dyn Puller>> = Vec::new();
        let absent = |what: &Path, column: &str, install: &str| {
            println!(
                "{} not found: {column} column skipped ({install})",
                what.display()
            );
        };
        if self.programs.berth.exists() {
            // The berth CLI is the daemon's client: `berth pull`, `berth rmi`.
            let berth = &self.programs.berth;
            all.push(Box::new(Berth {
                daemon: Daemon::berth(berth, dir.join("berth"), berth)?,
            }));
        } else {
            absent(
                &self.programs.berth,
                "berth",
                "scripts/build-release.sh, or pass --berth",
            );
        }
        if !self.programs.dockerd.exists() {
            absent(
                &self.programs.dockerd,
                "Docker",
                "apt-get install docker.io",
            );
        } else if !self.programs.docker.exists() {
            absent(
                &self.programs.docker,
                "Docker",
                "the docker CLI, or pass --docker",
            );
        } else {
            all.push(Box::new(Docker {
                daemon: Daemon::dockerd(
                    &self.programs.dockerd,
                    dir.join("docker"),
                    &self.programs.docker,
                )?,
            }));
        }
        if self.podman.exists() {
            all.push(Box::new(Podman {
                binary: self.podman.clone(),
                dir: dir.join("podman"),
            }));
        } else {
            absent(&self.podman, "Podman", "apt-get install podman");
        }
        all.push(Box::new(Skopeo {
            binary: self.skopeo.clone(),
            dir: dir.join("skopeo-copy"),
        }));
        Ok(all)
    }

    /// Round by round, each contender pulls (timed) and is reset (untimed). One that fails is
    /// reported and dropped; the others go on.
    fn measure(&self, contenders: &[Box<dyn Puller>], reference: &str) -> Vec<Vec<Duration>> {
        let mut times = vec![Vec::new(); contenders.len()];
        let mut failed = vec![false; contenders.len()];
        for round in 0..self.warmup + self.runs {
            for (i, c) in contenders.iter().enumerate() {
                if failed[i] {
                    continue;
                }
                let start = Instant::now();
                let pulled = c.pull(reference);
                let took = start.elapsed();
                if let Err(e) = pulled.and_then(|()| c.reset(reference)) {
                    println!("{}: {e:#}; its column is dropped", c.name());
                    failed[i] = true;
                    times[i].clear();
                } else if round >= self.warmup {
                    times[i].push(took);
                }
                eprint!("{} {:.2} s   ", c.name(), took.as_secs_f64());
            }
            let kind = if round < self.warmup {
                "warm-up"
            } else {
                "round"
            };
            eprintln!("({kind} {} of {})", round + 1, self.warmup + self.runs);
        }
        times
    }
}

/// One row per contender that finished, then the ratios to berth.
fn summarize(contenders: &[Box<dyn Puller>], times: &[Vec<Duration>]) {
    let medians: Vec<(Role, f64)> = contenders
        .iter()
        .zip(times)
        .filter(|(_, t)| !t.is_empty())
        .map(|(c, t)| (c.role(), report(c.name(), t)))
        .collect();
    let Some(&(_, berth)) = medians.iter().find(|(r, _)| *r == Role::Berth) else {
        println!("no berth median: no ratios");
        return;
    };
    for &(role, median) in &medians {
        match role {
            Role::Peer(name) => println!("  ratio {name} / berth: {:.2}x", median / berth),
            Role::Floor => println!(
                "  berth / floor (transfer, no unpack): {:.2}x",
                berth / median
            ),
            Role::Berth => {}
        }
    }
    println!("  berth median {:.2} s (goal <= 1.0 s)", berth / 1000.0);
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}
