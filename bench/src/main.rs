//! berth's benchmark harness: runs berth and its peers in the same run on the same machine and
//! reports median times and the ratio peer/berth (absolute times drift between machines; the
//! ratio is the number to compare).

mod bundle;
mod engine;
mod oci;
mod stats;

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
}

fn main() -> Result<()> {
    match Cli::parse().bench {
        Bench::Oci(b) => b.run(),
        Bench::Engine(b) => b.run(),
    }
}
