//! `berth`: the command line. Today it carries `berth oci`, the runc-compatible runtime; the
//! engine client verbs join it later.

mod daemon;
mod monitor;
mod oci;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "berth",
    version,
    about = "A fast, Docker-compatible container engine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once; boxing would only add noise
enum Command {
    /// The low-level OCI runtime, with runc's command line.
    Oci(oci::OciArgs),
    /// Internal: the zygote that forks container monitors (the engine starts it).
    #[command(hide = true)]
    MonitorZygote(monitor::ZygoteArgs),
    /// The engine daemon, serving the Docker Engine API.
    Daemon(daemon::DaemonArgs),
}

fn main() {
    // Die quietly on a closed pipe (`berth oci state ID | head`), as C tools do; Rust ignores
    // SIGPIPE by default and would panic on the failed print instead.
    // SAFETY: restoring the default disposition before any thread exists.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Oci(args) => oci::main(args),
        Command::MonitorZygote(args) => monitor::main(args),
        Command::Daemon(args) => daemon::main(args),
    };
    std::process::exit(code);
}
