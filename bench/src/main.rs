//! berth's benchmark harness: runs berth and its peers in the same run on the same machine and
//! reports median times and the ratio peer/berth (absolute times drift between machines; the
//! ratio is the number to compare).

mod build;
mod bundle;
mod daemon;
mod datafs;
mod engine;
mod oci;
mod podman;
mod pull;
mod rootfs;
mod stats;
mod testdata;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "berth benchmarks against runc, Docker and Podman")]
struct Cli {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// create + start + wait + delete of `true` through the OCI runtime: berth vs runc, with the
    /// floor (unshare of the same namespaces running `true`).
    Oci(oci::OciBench),
    /// `run --rm --network none busybox true` and daemon/container memory: berth vs Docker.
    Engine(engine::EngineBench),
    /// Cold pull of a six-layer image (about 185 MB gzip) from a registry on 127.0.0.1:
    /// berth vs Docker vs Podman, with skopeo's copy (no unpack) as the floor.
    Pull(pull::PullBench),
    /// The 8-step Dockerfile (debootstrap base, 64 MiB file, 10 000 small files, two RUNs;
    /// about 120 MB of context), cold and fully cached: berth vs Docker's classic builder
    /// vs Podman.
    Build(build::BuildBench),
}

fn main() -> Result<()> {
    match Cli::parse().bench {
        Bench::Oci(b) => b.run(),
        Bench::Engine(b) => b.run(),
        Bench::Pull(b) => b.run(),
        Bench::Build(b) => b.run(),
    }
}
