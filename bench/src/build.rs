//! The build benchmark: the 8-step Dockerfile of `build/context.rs` (a debootstrap base, a
//! 64 MiB file, a tree of 10 000 small files, two RUN steps; about 120 MB of context), built
//! cold (`--no-cache`, after the previous build's images are removed) and fully cached (the
//! same build again, unchanged) by berth, Docker's classic builder and Podman in one run. The
//! builds are interleaved round by round, so a change in the machine's load touches every
//! builder alike. Every cached build must give the image the priming build gave; every cold one
//! a new image.
//!
//! Everything started — daemons, the data filesystem — lives in one scratch dir and is stopped
//! and removed at the end, also on failure; the base rootfs and the context are made once and
//! cached.

mod builders;
mod context;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use clap::Args;

use crate::daemon::{Daemon, Programs, Scratch};
use crate::datafs::DataFs;
use crate::podman::Podman;
use crate::rootfs::{self, Debootstrap};
use crate::stats::report;
use builders::Builder;

#[derive(Args)]
pub struct BuildBench {
    /// Where the base rootfs (debootstrap, shared with the pull bench) and the context are kept.
    #[arg(long, default_value = "/var/tmp/berth-bench")]
    cache: PathBuf,
    #[command(flatten)]
    programs: Programs,
    /// podman to compare with (skipped when absent: apt-get install podman).
    #[arg(long, default_value = "/usr/bin/podman")]
    podman: PathBuf,
    #[command(flatten)]
    debootstrap: Debootstrap,
    /// Timed builds per builder, cold and cached each.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Untimed cold rounds first (they also bring the context into the page cache).
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    #[command(flatten)]
    data_fs: DataFs,
}

/// Timed builds of one kind, per builder (empty once a builder failed).
type Times = Vec<Vec<Duration>>;

impl BuildBench {
    pub fn run(&self) -> Result<()> {
        if self.runs == 0 {
            bail!("--runs must be at least 1");
        }
        let base_tar = rootfs::ensure_tar(&self.cache, &self.debootstrap)?;
        let ctx = context::ensure(&self.cache)?;
        let scratch = Scratch::new("bd")?;
        let data = self.data_fs.prepare(scratch.path())?;
        let builders = self.builders(&data)?;
        let mut base_images = Vec::new();
        for b in &builders {
            b.load_base(&base_tar, context::BASE)?;
            base_images.push(b.image_count()?);
        }
        println!(
            "build of the 8-step Dockerfile: context {} files, {:.1} MB ({} runs each, interleaved, after {} warm-up)",
            ctx.files,
            ctx.bytes as f64 / 1e6,
            self.runs,
            self.warmup
        );
        let iid = scratch.path().join("iid");
        let mut failed = vec![false; builders.len()];
        let cold = self.measure_cold(&builders, &base_images, &ctx.dir, &iid, &mut failed);
        let cached = self.measure_cached(&builders, &ctx.dir, &iid, &mut failed);
        println!("cold (--no-cache):");
        summarize(&builders, &cold, &failed, 1.5);
        println!("fully cached (the same build again):");
        summarize(&builders, &cached, &failed, 0.1);
        Ok(())
    }

    /// The builders whose programs are here; each absent one is named and skipped.
    fn builders(&self, dir: &Path) -> Result<Vec<Builder>> {
        let mut all = Vec::new();
        let absent = |what: &Path, column: &str, install: &str| {
            println!(
                "{} not found: {column} column skipped ({install})",
                what.display()
            );
        };
        let p = &self.programs;
        if p.berth.exists() {
            all.push(Builder::Berth(Daemon::berth(
                &p.berth,
                dir.join("berth"),
                &p.berth,
            )?));
        } else {
            absent(
                &p.berth,
                "berth",
                "scripts/build-release.sh, or pass --berth",
            );
        }
        if !p.dockerd.exists() {
            absent(&p.dockerd, "Docker", "apt-get install docker.io");
        } else if !p.docker.exists() {
            absent(&p.docker, "Docker", "the docker CLI, or pass --docker");
        } else {
            all.push(Builder::Docker(Daemon::dockerd(
                &p.dockerd,
                dir.join("docker"),
                &p.docker,
            )?));
        }
        if self.podman.exists() {
            all.push(Builder::Podman(Podman {
                binary: self.podman.clone(),
                dir: dir.join("podman"),
            }));
        } else {
            absent(&self.podman, "Podman", "apt-get install podman");
        }
        Ok(all)
    }

    /// Round by round, each builder is reset (untimed) and builds with `--no-cache` (timed);
    /// each cold build must make a new image.
    fn measure_cold(
        &self,
        builders: &[Builder],
        base_images: &[usize],
        ctx: &Path,
        iid: &Path,
        failed: &mut [bool],
    ) -> Times {
        let mut times = vec![Vec::new(); builders.len()];
        let mut last: Vec<Option<String>> = vec![None; builders.len()];
        for round in 0..self.warmup + self.runs {
            for (i, b) in builders.iter().enumerate() {
                if failed[i] {
                    continue;
                }
                let res = b.reset(base_images[i]).and_then(|()| {
                    settle();
                    timed(|| b.build(ctx, true, iid))
                });
                match res {
                    Ok((id, _)) if last[i].as_ref() == Some(&id) => {
                        drop_column(
                            b,
                            &format!("a --no-cache build gave the same image {id} again"),
                            failed,
                            i,
                            &mut times,
                        );
                    }
                    Ok((id, took)) => {
                        if round >= self.warmup {
                            times[i].push(took);
                        }
                        eprint!("{} {:.2} s   ", b.name(), took.as_secs_f64());
                        last[i] = Some(id);
                    }
                    Err(e) => drop_column(b, &format!("{e:#}"), failed, i, &mut times),
                }
            }
            let kind = if round < self.warmup {
                "warm-up"
            } else {
                "round"
            };
            eprintln!("(cold {kind} {} of {})", round + 1, self.warmup + self.runs);
        }
        times
    }

    /// One untimed build primes each builder's cache; then round by round the same build
    /// (timed) must give the primed image.
    fn measure_cached(
        &self,
        builders: &[Builder],
        ctx: &Path,
        iid: &Path,
        failed: &mut [bool],
    ) -> Times {
        let mut times = vec![Vec::new(); builders.len()];
        let mut primed: Vec<Option<String>> = vec![None; builders.len()];
        for round in 0..=self.runs {
            for (i, b) in builders.iter().enumerate() {
                if failed[i] {
                    continue;
                }
                settle();
                match (timed(|| b.build(ctx, false, iid)), &primed[i]) {
                    (Ok((id, _)), None) => primed[i] = Some(id),
                    (Ok((id, took)), Some(want)) if &id == want => {
                        times[i].push(took);
                        eprint!("{} {:.3} s   ", b.name(), took.as_secs_f64());
                    }
                    (Ok((id, _)), Some(want)) => drop_column(
                        b,
                        &format!("the unchanged build gave {id}, not the cached {want}"),
                        failed,
                        i,
                        &mut times,
                    ),
                    (Err(e), _) => drop_column(b, &format!("{e:#}"), failed, i, &mut times),
                }
            }
            let kind = if round == 0 { "priming" } else { "round" };
            eprintln!("(cached {kind} {round} of {})", self.runs);
        }
        times
    }
}

/// A failed builder is reported and its column dropped; the others go on.
fn drop_column(b: &Builder, why: &str, failed: &mut [bool], i: usize, times: &mut Times) {
    println!("{}: {why}; its column is dropped", b.name());
    failed[i] = true;
    times[i].clear();
}

/// `f`'s result and how long it took.
fn timed<T>(f: impl FnOnce() -> Result<T>) -> Result<(T, Duration)> {
    let start = Instant::now();
    let v = f()?;
    Ok((v, start.elapsed()))
}

/// Writes back what the last build left dirty, so no build pays for its predecessor's.
fn settle() {
    let _ = Command::new("sync").status();
}

/// One row per builder that finished, the ratios peer/berth, and berth against its goal.
fn summarize(builders: &[Builder], times: &Times, failed: &[bool], goal_s: f64) {
    let medians: Vec<(Option<&str>, f64)> = builders
        .iter()
        .zip(times)
        .zip(failed)
        .filter(|((_, t), f)| !t.is_empty() && !**f)
        .map(|((b, t), _)| (b.peer(), report(b.name(), t)))
        .collect();
    let Some(&(_, berth)) = medians.iter().find(|(peer, _)| peer.is_none()) else {
        println!("  no berth median: no ratios");
        return;
    };
    for &(peer, median) in &medians {
        if let Some(name) = peer {
            println!("  ratio {name} / berth: {:.2}x", median / berth);
        }
    }
    println!(
        "  berth median {:.3} s (goal <= {goal_s} s)",
        berth / 1000.0
    );
}
